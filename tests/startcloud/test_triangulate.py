"""point2act.startcloud.triangulate against closed forms: a textured plane and a textured box seen by posed
pinhole cameras (ray cast here, numpy only); every triangulated point must lie on the true surfaces."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp.evaluate import look_at_viewmat
from point2act.startcloud.triangulate import (MIN_TRACK_LENGTH, STEREO_POINTS, cloud_cache_path, start_cloud, view_depths, read_ply, triangulate_posed_images,
                                   view_pairs, write_ply)

W, H = 320, 240


def _texture(seed: int, n: int = 64) -> np.ndarray:
    """A blobby random RGB texture [n*8, n*8, 3] in [0, 1] (corners for SIFT at several scales)."""
    rng = np.random.default_rng(seed)
    small = rng.random((n, n, 3))
    big = np.kron(small, np.ones((8, 8, 1)))
    return 0.15 + 0.7 * big


def _render(vm: np.ndarray, K: np.ndarray, tex_floor: np.ndarray, tex_box: list, box: tuple) -> np.ndarray:
    """Ray cast the floor z = 0 (texture over [-1, 1]^2) and an axis-aligned box (lo, hi) whose six faces
    carry the textures ``tex_box``; returns the [H, W, 3] uint8 image."""
    R, t = vm[:3, :3], vm[:3, 3]
    eye = -R.T @ t
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d_cam = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1)
    d = d_cam @ R  # world directions (R^T d_cam, row vectors)
    img = np.full((H, W, 3), 0.5)
    best = np.full((H, W), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = -eye[2] / d[..., 2]
    pf = eye + tf[..., None] * d
    ok = (tf > 0) & (np.abs(pf[..., 0]) < 1) & (np.abs(pf[..., 1]) < 1)
    n = tex_floor.shape[0]
    u = np.clip(((pf[..., 0] + 1) / 2 * n).astype(int), 0, n - 1)
    v = np.clip(((pf[..., 1] + 1) / 2 * n).astype(int), 0, n - 1)
    img[ok] = tex_floor[v[ok], u[ok]]
    best[ok] = tf[ok]
    lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
    faces = [(axis, plane) for axis in range(3) for plane in (lo[axis], hi[axis])]
    for tex, (axis, plane) in zip(tex_box, faces):
        m = tex.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (plane - eye[axis]) / d[..., axis]
        p = eye + tb[..., None] * d
        o1, o2 = [a for a in range(3) if a != axis]
        inside = ((tb > 0) & (tb < best) & (p[..., o1] >= lo[o1]) & (p[..., o1] <= hi[o1])
                  & (p[..., o2] >= lo[o2]) & (p[..., o2] <= hi[o2]))
        ta = np.clip(((p[..., o1] - lo[o1]) / (hi[o1] - lo[o1]) * m).astype(int), 0, m - 1)
        tb_ = np.clip(((p[..., o2] - lo[o2]) / (hi[o2] - lo[o2]) * m).astype(int), 0, m - 1)
        img[inside] = tex[ta[inside], tb_[inside]]
        best[inside] = tb[inside]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def _distance_to_scene(p: np.ndarray, box: tuple) -> np.ndarray:
    """Distance of points [M, 3] to the floor (z = 0) or the box's surface, whichever is nearer."""
    lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
    d_floor = np.abs(p[:, 2])
    q = np.maximum(lo - p, 0) + np.maximum(p - hi, 0)
    outside = np.linalg.norm(q, axis=1)
    inside = np.min(np.minimum(p - lo, hi - p), axis=1)
    d_box = np.where((q > 0).any(1), outside, np.maximum(inside, 0))
    return np.minimum(d_floor, d_box)


@pytest.fixture(scope="module")
def scene():
    K = np.array([[260.0, 0, W / 2], [0, 260.0, H / 2], [0, 0, 1]])
    box = ((-0.2, -0.15, 0.0), (0.2, 0.15, 0.25))
    tex_f, tex_b = _texture(1), [_texture(10 + f, 8) for f in range(6)]
    vms = []
    for k in range(16):
        az = 2 * np.pi * k / 16
        eye = np.array([1.3 * np.cos(az), 1.3 * np.sin(az), 0.9 + 0.2 * (k % 2)])
        vms.append(look_at_viewmat(eye, np.array([0.0, 0.0, 0.1])))
    vms = np.stack(vms)
    images = [_render(vm, K, tex_f, tex_b, box) for vm in vms]
    return images, np.repeat(K[None], len(vms), 0), vms, box


def test_points_lie_on_the_true_surfaces(scene):
    images, Ks, vms, box = scene
    lines = []
    cloud = triangulate_posed_images(images, Ks, vms, num_threads=1, progress=lines.append)
    assert len(cloud) >= 200, cloud.summary()
    d = _distance_to_scene(cloud.points, box)
    # 1 px at 1.3 m with f = 260 is 5 mm: points within a few pixels' worth of the surfaces
    assert np.median(d) < 0.005, np.median(d)
    assert np.percentile(d, 95) < 0.02, np.percentile(d, 95)
    assert (cloud.track_lengths >= MIN_TRACK_LENGTH).all()
    assert cloud.colors.shape == (len(cloud), 3) and cloud.colors.dtype == np.uint8
    assert any("matching" in line for line in lines)
    # the box's sides are reconstructed too, not only the floor
    assert ((cloud.points[:, 2] > 0.05) & (d < 0.01)).sum() >= 20


def _ring(n: int) -> np.ndarray:
    """``n`` cameras on a circle of radius 1 around the origin, looking at it, in order of azimuth."""
    return np.stack([look_at_viewmat(np.array([np.cos(a), np.sin(a), 0.5]), np.zeros(3))
                     for a in 2 * np.pi * np.arange(n) / n])


def test_a_small_capture_matches_every_pair():
    pairs = view_pairs(_ring(6), neighbours=5)
    assert len(pairs) == 15 and (pairs[:, 0] < pairs[:, 1]).all()
    assert len(view_pairs(_ring(1), neighbours=5)) == 0


def test_a_large_capture_matches_each_view_with_its_nearest_views():
    """On a ring, a view's 4 nearest are the two on each side: each view has 4 pairs, all of them with a
    view at most 2 steps away, and the pairs grow linearly with the views."""
    for n in (12, 40):
        pairs = view_pairs(_ring(n), neighbours=4)
        steps = np.minimum((pairs[:, 1] - pairs[:, 0]) % n, (pairs[:, 0] - pairs[:, 1]) % n)
        assert len(pairs) == 2 * n and set(steps.tolist()) == {1, 2}
        assert len(np.unique(pairs, axis=0)) == len(pairs) and (pairs[:, 0] < pairs[:, 1]).all()
        assert (np.bincount(pairs.reshape(-1), minlength=n) == 4).all()


def test_neighbour_pairs_still_place_points_on_the_true_surfaces(scene):
    """Matched only with its 5 nearest views (COLMAP's matcher on the listed pairs), each view still gives a cloud
    on the true surfaces."""
    images, Ks, vms, box = scene
    lines = []
    cloud = triangulate_posed_images(images, Ks, vms, num_threads=1, progress=lines.append, neighbours=5)
    assert any("each view with its 5 nearest" in line for line in lines)
    assert len(cloud) >= 200, cloud.summary()
    d = _distance_to_scene(cloud.points, box)
    assert np.median(d) < 0.005 and np.percentile(d, 95) < 0.02
    assert (cloud.track_lengths >= MIN_TRACK_LENGTH).all()


def test_the_known_poses_fix_the_frame(scene):
    """The cloud is in the cameras' frame: moving every camera by a rigid motion moves the cloud with it."""
    images, Ks, vms, box = scene
    from scipy.spatial.transform import Rotation

    M = np.eye(4)
    M[:3, :3] = Rotation.from_euler("zyx", [30, 10, -5], degrees=True).as_matrix()
    M[:3, 3] = [0.5, -1.0, 2.0]
    moved = np.stack([vm @ np.linalg.inv(M) for vm in vms])
    cloud = triangulate_posed_images(images, Ks, moved, num_threads=1)
    back = (cloud.points - M[:3, 3]) @ M[:3, :3]
    assert len(cloud) >= 200
    assert np.median(_distance_to_scene(back, box)) < 0.005


@pytest.mark.parametrize("num_threads", [1, 2])
def test_a_textureless_capture_gives_an_empty_cloud(num_threads):
    """No features: the extractions' databases (one per thread) merge empty, and nothing is matched."""
    K = np.array([[200.0, 0, W / 2], [0, 200.0, H / 2], [0, 0, 1]])
    vms = np.stack([look_at_viewmat(np.array([np.cos(a), np.sin(a), 1.0]), np.zeros(3)) for a in (0.0, 0.5, 1.0)])
    images = [np.full((H, W, 3), 128, np.uint8) for _ in vms]
    cloud = triangulate_posed_images(images, np.repeat(K[None], 3, 0), vms, num_threads=num_threads)
    assert len(cloud) == 0
    assert "0 points" in cloud.summary()


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="differ in number"):
        triangulate_posed_images([np.zeros((8, 8, 3), np.uint8)] * 2, np.eye(3)[None], np.eye(4)[None].repeat(2, 0))


def test_ply_round_trip_and_cache_key(tmp_path):
    rng = np.random.default_rng(0)
    pts, rgb = rng.normal(size=(50, 3)), rng.integers(0, 256, (50, 3)).astype(np.uint8)
    write_ply(tmp_path / "c.ply", pts, rgb)
    p2, c2 = read_ply(tmp_path / "c.ply")
    np.testing.assert_allclose(p2, pts.astype(np.float32), atol=1e-6)
    np.testing.assert_array_equal(c2, rgb)
    ims = [np.zeros((4, 4, 3), np.uint8)]
    K, vm = np.eye(3)[None], np.eye(4)[None]
    a = cloud_cache_path(ims, K, vm)
    assert a == cloud_cache_path([im.copy() for im in ims], K.copy(), vm.copy())
    ims2 = [ims[0].copy()]
    ims2[0][0, 0, 0] = 1
    assert cloud_cache_path(ims2, K, vm) != a
    vm2 = vm.copy()
    vm2[0, 0, 3] = 0.01
    assert cloud_cache_path(ims, K, vm2) != a


def test_the_start_cloud_adds_dense_stereo_points_on_the_surfaces(scene):
    """start_cloud: the SIFT points first, then at most STEREO_POINTS stereo points, which cover the box's sides
    far more densely than SIFT does, on the true surfaces."""
    images, Ks, vms, box = scene
    c = start_cloud(images, Ks, vms)
    n = len(c.sparse)
    assert np.array_equal(c.points[:n], c.sparse.points) and np.array_equal(c.colors[n:], c.dense.colors)
    assert 0 < len(c.dense) <= STEREO_POINTS and len(c) == n + len(c.dense)
    d = _distance_to_scene(c.dense.points, box)
    assert np.median(d) < 0.005 and np.percentile(d, 90) < 0.02, (np.median(d), np.percentile(d, 90))
    side = lambda pts, dd: int(((pts[:, 2] > 0.05) & (dd < 0.01)).sum())  # noqa: E731
    assert side(c.dense.points, d) > 5 * side(c.sparse.points, _distance_to_scene(c.sparse.points, box))
    assert "stereo points" in c.summary()


def test_view_depths_are_the_median_depth_of_the_points_each_view_sees():
    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    vm = np.eye(4)  # camera at the origin looking along +z
    pts = np.array([[0, 0, 1.0], [0.1, 0, 2.0], [0, 0.1, 3.0], [10.0, 0, 1.0], [0, 0, -1.0]])  # 2 outside / behind
    d = view_depths(pts, K[None], vm[None], [(100, 100)], min_points=3)
    assert d[0] == 2.0
    assert np.isnan(view_depths(pts, K[None], vm[None], [(100, 100)], min_points=4)[0])


def test_depth_maps_round_trip(tmp_path):
    """The stereo depth maps' file gives back the maps bit for bit, empty views and all."""
    from point2act.startcloud.triangulate import depth_maps_path, read_depth_maps, write_depth_maps

    rng = np.random.default_rng(0)
    maps = [np.where(rng.random((12, 16)) < 0.3, rng.random((12, 16)) * 2 + 0.1, 0).astype(np.float32),
            np.zeros((12, 16), np.float32), np.full((5, 7), 0.5, np.float32)]
    path = depth_maps_path(tmp_path / "abc.ply")
    assert path.name == "abc.depths.npz"
    write_depth_maps(path, maps)
    back = read_depth_maps(path)
    assert len(back) == 3 and [m.shape for m in back] == [m.shape for m in maps]
    for a, b in zip(maps, back):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc.depths.npz"]  # no temporary file left


def test_images_reach_colmap_losslessly_after_pycolmap_is_loaded(tmp_path):
    """The views are written for COLMAP's extractor with their exact pixels, in a process that loaded pycolmap
    before anything else: pycolmap's own zlib then serves the process, and PNG encoding through it aborted the
    process ("corrupted size vs. prev_size"); the images are written uncompressed."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import pycolmap  # first: before numpy, PIL or point2act
        from pathlib import Path
        import numpy as np
        from PIL import Image
        from point2act.startcloud.triangulate import _write_images
        imgs = [(np.random.default_rng(k).random((360, 640, 3)) * 255).astype(np.uint8) for k in range(20)]
        names = _write_images(imgs, Path({str(tmp_path)!r}))
        back = [np.asarray(Image.open(Path({str(tmp_path)!r}) / n)) for n in names]
        assert len(names) == 20 and all(np.array_equal(a, b) for a, b in zip(imgs, back))
        print("lossless")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "lossless"


@pytest.mark.parametrize("neighbours", [50, 4])
def test_the_cloud_is_the_same_bits_for_any_thread_count(scene, neighbours):
    """The features extracted side by side keep the images' numbers (one extraction per run of images, merged in
    order), and each pair's inliers come from the poses, not from RANSAC's random samples: 1, 2 and 3 threads give
    one cloud, whether every pair is matched or each view with its nearest."""
    images, Ks, vms, _box = scene
    clouds = [triangulate_posed_images(images[:9], Ks[:9], vms[:9], num_threads=n, neighbours=neighbours)
              for n in (1, 2, 3)]
    assert len(clouds[0]) >= 50
    for c in clouds[1:]:
        assert np.array_equal(c.points, clouds[0].points) and np.array_equal(c.track_lengths, clouds[0].track_lengths)


def test_pairs_keep_the_matches_on_their_epipolar_lines(tmp_path):
    """_verify_by_poses against the closed form: features of true 3D points projected into two views pass, matches
    moved 10 px across their epipolar line fail, and a pair left with fewer than MIN_PAIR_INLIERS is not written."""
    import pycolmap

    from point2act.startcloud.triangulate import EPIPOLAR_MAX_ERROR_PX, MIN_PAIR_INLIERS, _verify_by_poses

    K = np.array([[200.0, 0, 64], [0, 200.0, 48], [0, 0, 1]])
    vms = np.stack([look_at_viewmat(np.array([1.0, 0.2, 0.6]), np.zeros(3)),
                    look_at_viewmat(np.array([0.3, 1.0, 0.6]), np.zeros(3)),
                    look_at_viewmat(np.array([-0.8, 0.6, 0.6]), np.zeros(3))])
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.2, 0.2, (40, 3))

    def project(vm):
        Xc = X @ vm[:3, :3].T + vm[:3, 3]
        return (Xc[:, :2] / Xc[:, 2:]) @ K[:2, :2].T + K[:2, 2]

    db_path = tmp_path / "db.db"
    db = pycolmap.Database.open(db_path)
    ids = []
    for k, vm in enumerate(vms):
        cam = pycolmap.Camera(model="PINHOLE", width=128, height=96, params=[200.0, 200.0, 64, 48])
        cam_id = db.write_camera(cam)
        rig = pycolmap.Rig()
        rig.add_ref_sensor(pycolmap.sensor_t(pycolmap.SensorType.CAMERA, cam_id))
        rig_id = db.write_rig(rig)
        image_id = db.write_image(pycolmap.Image(name=f"{k}.bmp", camera_id=cam_id))
        frame = pycolmap.Frame()
        frame.rig_id = rig_id
        frame.add_data_id(pycolmap.data_t(pycolmap.sensor_t(pycolmap.SensorType.CAMERA, cam_id), image_id))
        db.write_frame(frame)
        uv = project(vm)
        if k == 1:  # every other feature moved 10 px across the epipolar line of view 0's
            uv[1::2] += 10.0
        db.write_keypoints(image_id, uv.astype(np.float32))
        ids.append(image_id)
    both = np.c_[np.arange(40), np.arange(40)].astype(np.uint32)
    db.write_matches(ids[0], ids[1], both)
    db.write_matches(ids[0], ids[2], both)
    db.write_matches(ids[1], ids[2], both[: MIN_PAIR_INLIERS - 1])
    db.close()
    assert _verify_by_poses(db_path, ids, np.repeat(K[None], 3, 0), vms) == 2
    db = pycolmap.Database.open(db_path)
    try:
        kept01 = np.asarray(db.read_two_view_geometry(ids[0], ids[1]).inlier_matches)
        kept02 = np.asarray(db.read_two_view_geometry(ids[0], ids[2]).inlier_matches)
        assert not db.exists_two_view_geometry(ids[1], ids[2])
    finally:
        db.close()
    assert np.array_equal(kept02[:, 0], np.arange(40))
    # a 10 px move leaves a feature on its epipolar line only where the line runs along the move: most fail
    moved = set(range(1, 40, 2))
    assert set(range(0, 40, 2)) <= set(kept01[:, 0].tolist())
    assert len(moved & set(kept01[:, 0].tolist())) <= 4
    assert EPIPOLAR_MAX_ERROR_PX < 10.0
