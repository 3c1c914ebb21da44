"""benchmarks/accuracy/target_geometry.py's numeric core against closed forms: analytic cameras, planes."""

import math

import numpy as np
import pytest

from benchmarks.accuracy.target_geometry import (
    capture_cameras,
    completeness,
    depth_at_target,
    fused_surface_at,
    reduce_depth,
    room_depth,
    room_mask,
    visible_counts,
)

W = H = 100
K = np.array([[200.0, 0.0, 50.0], [0.0, 200.0, 50.0], [0.0, 0.0, 1.0]])


def viewmat(yaw_deg: float, centre) -> np.ndarray:  # [4, 4] world-to-camera, OpenCV axes
    """A camera at ``centre`` whose optical axis is world +z turned by ``yaw_deg`` about world y."""
    a = math.radians(yaw_deg)
    R_c2w = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    vm = np.eye(4)
    vm[:3, :3] = R_c2w.T
    vm[:3, 3] = -R_c2w.T @ np.asarray(centre, dtype=float)
    return vm


def plane_depth(vm: np.ndarray, z_plane: float) -> np.ndarray:  # [H, W] z-depth of the plane z = z_plane
    """The ray through each pixel centre (j + 0.5, i + 0.5) meets the plane at camera z s: c + s R^T r."""
    R, t = vm[:3, :3], vm[:3, 3]
    c = -R.T @ t
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    r = np.stack([(jj - K[0, 2]) / K[0, 0], (ii - K[1, 2]) / K[1, 1], np.ones_like(jj)], -1) @ R  # world dirs
    s = (z_plane - c[2]) / r[..., 2]
    return np.where(s > 0, s, 0.0)


# three cameras looking at the plane z = 1 from around the origin
VMS = np.stack([viewmat(0.0, [0, 0, 0]), viewmat(10.0, [-0.15, 0, 0]), viewmat(-10.0, [0.15, 0.02, 0])])
KS = np.stack([K] * 3)


def test_visible_counts_closed_form():
    depths = [plane_depth(vm, 1.0) for vm in VMS]
    pts = np.array([
        [0.0, 0.0, 1.0],  # the middle of every view
        [0.01, -0.02, 1.0],  # also every view
        [0.24, 0.0, 1.0],  # in views 0 (u = 98) and 1 (it looks to +x), outside view 2 (it looks to -x)
        [0.0, 0.0, 1.02],  # 2 cm behind the plane: hidden in every view
        [0.0, 0.0, -1.0],  # behind the cameras
        [5.0, 0.0, 1.0],  # outside every image
    ])
    c = pts[2] @ VMS[:, :3, :3].transpose(0, 2, 1) + VMS[:, :3, 3]  # [3, 3] point 2 in each camera
    u = K[0, 0] * c[:, 0] / c[:, 2] + K[0, 2]
    assert (u[:2] < W).all() and u[2] >= W  # the closed form's premise: point 2 is off view 2's image only
    assert visible_counts(pts, depths, KS, VMS).tolist() == [3, 3, 2, 0, 0, 0]
    # an occluder 10 cm in front of the plane over point 0's pixel in view 0 only
    occluded = [d.copy() for d in depths]
    occluded[0][48:52, 48:52] = 0.9
    assert visible_counts(pts, occluded, KS, VMS).tolist() == [2, 3, 2, 0, 0, 0]
    # an empty pixel (no true surface) hides nothing but sees nothing either
    occluded[1][:] = 0.0
    assert visible_counts(pts, occluded, KS, VMS).tolist() == [1, 2, 1, 0, 0, 0]
    # the tolerance: 4 mm off the plane is seen by the fronto-parallel view, 6 mm is not
    off = np.array([[0.0025, 0.0025, 1.004], [0.0025, 0.0025, 1.006]])  # view 0's pixel (50, 50) centre ray
    assert visible_counts(off, depths[:1], KS[:1], VMS[:1]).tolist() == [1, 0]


def test_visible_counts_nearest_pixel():
    """Pixel j spans [j, j + 1): a point projecting at u = 10.99 reads pixel 10, one at 11.0 pixel 11."""
    D = np.full((H, W), 1.0)
    D[:, 11] = 0.5
    x = lambda u: (u - K[0, 2]) / K[0, 0]  # noqa: E731  at z = 1
    pts = np.array([[x(10.99), 0.0, 1.0], [x(11.0), 0.0, 1.0], [x(-0.01), 0.0, 1.0], [x(99.99), 0.0, 1.0]])
    assert visible_counts(pts, [D], K[None], np.eye(4)[None]).tolist() == [1, 0, 0, 1]


def test_depth_at_target_closed_form():
    truth = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    mask = np.array([[True, True, True, True], [True, True, True, False]])
    rendered = np.array([[1.002, 0.996, 1.02, 0.0], [np.nan, 1.008, 1.5, 3.0]])
    err, pixels, behind = depth_at_target(rendered, truth, mask)
    # target pixels: mask & truth > 0 -> 6; rendered among them: 1.002, 0.996, 1.02, 1.008
    assert pixels == 6
    np.testing.assert_allclose(np.sort(err), [-0.004, 0.002, 0.008, 0.02], atol=1e-12)
    assert behind == 3  # 1.02 (2 cm behind), the 0 and the NaN (nothing renders)
    r = reduce_depth([(err, pixels, behind)])
    assert r["pixels"] == 6 and r["behind"] == pytest.approx(0.5)
    assert r["depth_mm"] == pytest.approx(6.0)  # median of |e| = 2, 4, 8, 20 mm
    # pooled over views: a second view with one pixel 1 mm in front and one rendering nothing
    err2, p2, b2 = depth_at_target(np.array([0.999, np.inf]), np.array([1.0, 1.0]), np.array([True, True]))
    assert (p2, b2) == (2, 1)
    r = reduce_depth([(err, pixels, behind), (err2, p2, b2)])
    assert r["pixels"] == 8 and r["behind"] == pytest.approx(4 / 8)
    assert r["depth_mm"] == pytest.approx(4.0)  # median of 1, 2, 4, 8, 20 mm
    # another behind threshold; and no target pixels at all
    assert depth_at_target(rendered, truth, mask, behind_m=0.1)[2] == 2
    r = reduce_depth([depth_at_target(rendered, truth, np.zeros_like(mask))])
    assert r["pixels"] == 0 and math.isnan(r["depth_mm"]) and math.isnan(r["behind"])
    assert math.isnan(reduce_depth([])["depth_mm"])


def test_room_is_the_other_surfaces_within_reach_of_the_target():
    # camera 0 looks along +z at the plane z = 1; the target is the point (0, 0, 1) on it, masked at its pixel
    vm = VMS[0]
    truth = plane_depth(vm, 1.0)
    target = np.array([[0.0, 0.0, 1.0]])
    mask = np.zeros((H, W), bool)
    mask[50, 50] = True  # pixel (50, 50): centre (50.5, 50.5) -> x = y = 0.5 / 200 m
    room = room_mask(truth, mask, K, vm, target, room_m=0.02)
    # pixel (i, j)'s point on the plane: ((j + 0.5 - 50) / 200, (i + 0.5 - 50) / 200, 1); within 2 cm of the target
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    want = np.hypot((jj - 50) / 200, (ii - 50) / 200) <= 0.02
    want[50, 50] = False
    np.testing.assert_array_equal(room, want)
    assert room.sum() > 40  # a disc of 4 pixels radius
    # nothing is room where the truth has no surface
    assert not room_mask(np.zeros((H, W)), mask, K, vm, target).any()


def test_room_depth_counts_what_renders_in_front_of_the_truth():
    truth = np.ones((2, 3))
    room = np.array([[True, True, True], [True, True, False]])
    rendered = np.array([[0.98, 1.005, 0.0], [0.995, 1.03, 0.5]])
    err, pixels, raised = room_depth(rendered, truth, room)
    assert pixels == 5
    np.testing.assert_allclose(np.sort(err), [-0.02, -0.005, 0.005, 0.03], atol=1e-12)
    assert raised == 1  # 2 cm in front; nothing rendered and 3 cm behind are no obstacle; 0.5 is not room
    r = reduce_depth([(err, pixels, raised)])
    assert r["behind"] == pytest.approx(1 / 5) and r["depth_mm"] == pytest.approx(12.5)


def test_completeness_closed_form():
    g = np.linspace(-0.05, 0.05, 11)
    pts = np.stack(np.meshgrid(g, g, [1.0]), -1).reshape(-1, 3)  # a 1 cm grid on z = 1
    surface = np.stack(np.meshgrid(np.linspace(-0.06, 0.06, 121), np.linspace(-0.06, 0.06, 121), [1.0]), -1)
    surface = surface.reshape(-1, 3)  # a 1 mm grid: its nearest point to a sample lies straight above / below
    seen = np.full(len(pts), 2)
    assert completeness(pts, seen, surface + [0, 0, 0.003]) == 1.0
    assert completeness(pts, seen, surface + [0, 0, 0.007]) == 0.0
    # only the samples seen at least twice count: the others may lie anywhere
    far = pts.copy()
    far[::2, 2] += 0.5
    seen = np.where(np.arange(len(pts)) % 2 == 0, 1, 3)
    assert completeness(far, seen, surface) == 1.0
    cut = surface[surface[:, 0] < 0.0]  # half the surface gone: x < 0 only
    near = (pts[:, 0] < 0.005) & (seen >= 2)  # samples within 5 mm of x < 0
    assert completeness(pts, seen, cut) == pytest.approx(near.sum() / (seen >= 2).sum())
    assert math.isnan(completeness(pts, np.ones(len(pts)), surface))
    assert completeness(pts, np.full(len(pts), 2), np.zeros((0, 3))) == 0.0


def test_fused_surface_of_a_plane():
    from point2act.fusion import DepthViews

    D = np.stack([plane_depth(vm, 1.0) for vm in VMS]).astype(np.float32)
    views = DepthViews(D, (D > 0).astype(np.float32), KS, VMS)
    pts = fused_surface_at(views, np.array([0.0, 0.0, 1.0]), 0.08, voxel=0.002)
    assert len(pts) > 500
    assert np.abs(pts[:, 2] - 1.0).max() < 0.002  # within a voxel of the plane
    g = np.linspace(-0.03, 0.03, 13)
    samples = np.stack(np.meshgrid(g, g, [1.0]), -1).reshape(-1, 3)
    assert completeness(samples, np.full(len(samples), 3), pts) == 1.0


def test_capture_cameras_opengl_to_opencv():
    """A camera at (0, 0, 2) with OpenGL axes = world's (looking down -z) sees the origin 2 in front of it,
    and world +y (OpenGL up) as image up (OpenCV -y); per-frame intrinsics override the top level's."""
    c2w = np.eye(4)
    c2w[2, 3] = 2.0
    tf = {"fl_x": 100.0, "fl_y": 100.0, "cx": 32.0, "cy": 24.0,
          "frames": [{"file_path": "images/a.png", "transform_matrix": c2w.tolist()},
                     {"file_path": "images/b.png", "transform_matrix": c2w.tolist(), "fl_x": 50.0}]}
    cams = capture_cameras(tf)
    Ka, vm = cams["a.png"]
    np.testing.assert_allclose(vm @ [0, 0, 0, 1], [0, 0, 2, 1], atol=1e-12)
    np.testing.assert_allclose(vm @ [0, 1, 0, 1], [0, -1, 2, 1], atol=1e-12)
    np.testing.assert_allclose(Ka, [[100, 0, 32], [0, 100, 24], [0, 0, 1]])
    assert cams["b.png"][0][0, 0] == 50.0 and cams["b.png"][0][1, 1] == 100.0
