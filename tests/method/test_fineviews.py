"""The fine stage's views (:mod:`point2act.method.fineviews`): a crop renders the window of its whole view, and the
schedule trains crops on three steps of four from the full-resolution step; views without answers take their crop
where they see the place the answers meet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nerfstudio.cameras.cameras import Cameras, CameraType

from point2act.method.fineviews import FineViews, crop_window
from point2act.method.keys import FULL_SIZE_KEY, TARGET_KEY


def _camera(H=48, W=64):
    c2w = torch.eye(4)[None, :3, :4]
    c2w[0, :3, 3] = torch.tensor([0.0, 0.0, 3.0])  # looking down -z (OpenGL) at the origin
    return Cameras(camera_to_worlds=c2w, fx=60.0, fy=60.0, cx=W / 2.0 - 1.5, cy=H / 2.0 + 0.5, width=W, height=H,
                   camera_type=CameraType.PERSPECTIVE)


@pytest.mark.parametrize("core,size", [((10, 10, 20, 18), (48, 64)), ((0, 0, 4, 4), (48, 64)),
                                       ((50, 30, 64, 48), (48, 64)), ((2, 2, 60, 46), (48, 64))])
def test_the_crop_holds_its_core_inside_the_image(core, size):
    x0, y0, x1, y1 = crop_window(core, size)
    H, W = size
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    assert x0 % 2 == 0 and y0 % 2 == 0 and (x1 - x0) % 2 == 0 and (y1 - y0) % 2 == 0
    assert x1 - x0 >= min(W - W % 2, round(0.5 * W)) - 1 and y1 - y0 >= min(H, round(0.5 * H)) - 1
    c = core
    assert x0 <= max(c[0], 0) + 1 and x1 >= min(c[2], W) - 1 and y0 <= c[1] + 1 and y1 >= c[3] - 1


def test_a_crop_renders_the_window_of_its_whole_view():
    """The crop's camera (principal point moved, size cut) rasterizes exactly the whole view's pixels in its window;
    its batch holds the same window of the photo and heatmap, and its metadata the whole view's size."""
    from point2act.render import rasterization

    cam = _camera()
    g = torch.Generator().manual_seed(0)
    n = 200
    means = torch.randn(n, 3, generator=g) * 0.4
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    scales = torch.rand(n, 3, generator=g) * 0.1 + 0.02
    opac = torch.rand(n, generator=g)
    colors = torch.rand(n, 3, generator=g)
    photo = torch.rand(48, 64, 3, generator=g)
    heat = torch.rand(48, 64, 1, generator=g)
    fv = FineViews(10, {3: (20, 10, 30, 20)})
    assert [fv.crop_due(s, 3) for s in (8, 9, 10, 11, 12, 13)] == [False, False, True, True, False, True]
    assert not fv.crop_due(11, 4)  # no answers: never a crop
    crop_cam, batch = fv.crop(3, cam, {"image": photo, TARGET_KEY: heat})
    x0, y0, x1, y1 = crop_window((20, 10, 30, 20), (48, 64))
    assert crop_cam.metadata[FULL_SIZE_KEY] == (48, 64)
    assert torch.equal(batch["image"], photo[y0:y1, x0:x1]) and torch.equal(batch[TARGET_KEY], heat[y0:y1, x0:x1])

    def render(c):
        from point2act.geometry import viewmat_from_c2w

        K = c.get_intrinsics_matrices()
        vm = viewmat_from_c2w(c.camera_to_worlds)
        out, _, _ = rasterization(means, quats, scales, opac, colors, vm, K, int(c.width.item()),
                                  int(c.height.item()), packed=False)
        return out[0]

    whole, part = render(cam), render(crop_cam)
    assert part.shape[:2] == (y1 - y0, x1 - x0)
    # equal up to float rounding of the shifted pixel coordinates
    np.testing.assert_allclose(part.numpy(), whole[y0:y1, x0:x1].numpy(), atol=1e-3)


def _look_at(eye, target=(0.0, 0.0, 0.0)):
    """World-to-camera [4, 4] (OpenCV axes: x right, y down, z forward) of a camera at ``eye`` facing ``target``."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    vm = np.eye(4)
    vm[:3, :3], vm[:3, 3] = R, -R @ eye
    return vm


def _ring(n=10, H=120, W=160, f=150.0):
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    vms = np.stack([_look_at((2.0 * np.cos(a), 2.0 * np.sin(a), 1.0), (0.0, 0.0, 0.1)) for a in angles])
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    return vms, np.repeat(K[None], n, axis=0), [(H, W)] * n


def _ring_cameras(n):
    """:func:`_ring`'s views as nerfstudio cameras (OpenGL axes), beside their OpenCV world-to-camera matrices."""
    vms, Ks, sizes = _ring(n)
    H, W = sizes[0]
    c2w = np.linalg.inv(vms)[:, :3, :4] * np.array([1.0, -1.0, -1.0, 1.0])  # OpenCV -> OpenGL camera axes
    cams = Cameras(camera_to_worlds=torch.tensor(c2w, dtype=torch.float32), fx=float(Ks[0, 0, 0]),
                   fy=float(Ks[0, 1, 1]), cx=float(Ks[0, 0, 2]), cy=float(Ks[0, 1, 2]), width=W, height=H,
                   camera_type=CameraType.PERSPECTIVE)
    return vms, Ks, sizes, cams


def _pixel(X, vm, K):
    c = vm[:3, :3] @ X + vm[:3, 3]
    return (K @ c)[:2] / c[2]


def test_the_place_is_where_the_answers_meet_despite_a_wrong_one():
    """Answers 1 px off the true projections of a point in 5 views, a wrong answer in a sixth, a second (wrong)
    answer beside a right one in a seventh: the place lands within a centimetre of the point, where the right
    answers alone put it. Two views whose answers disagree give no place."""
    from point2act.method.fineviews import answers_place

    vms, Ks, sizes = _ring()
    X = np.array([0.05, -0.03, 0.12])
    g = np.random.default_rng(0)
    points = {v: (_pixel(X, vms[v], Ks[v]) + g.normal(0, 1.0, 2))[None] for v in range(5)}
    points[5] = np.array([[10.0, 10.0]])  # wrong
    points[6] = np.stack([_pixel(X, vms[6], Ks[6]), [150.0, 100.0]])
    points[7] = np.zeros((0, 2))  # "not in view"
    place = answers_place(points, vms, Ks, np.full(len(vms), 12.0))
    assert place is not None and np.linalg.norm(place - X) < 0.01  # 1 px is 1.5 cm across at 2.2 m here
    right = {**{v: points[v] for v in range(5)}, 6: points[6][:1]}
    np.testing.assert_allclose(answers_place(right, vms, Ks, np.full(len(vms), 12.0)), place, atol=1e-9)
    assert answers_place({0: points[0], 5: points[5]}, vms, Ks, np.full(len(vms), 12.0)) is None


def test_views_without_answers_get_a_core_where_they_see_the_place():
    """The fine stage's cores: a view with answers keeps its answers' core; every other view gets a core centred on
    the place's projection, unless the place lies behind it or outside its image."""
    from point2act.convergence import core_radius
    from point2act.method.fineviews import place_cores

    vms, Ks, sizes = _ring()
    X = np.array([0.05, -0.03, 0.12])
    sigma = 0.02
    r = core_radius(*sizes[0], sigma)  # 4.7 px
    cores = place_cores(X, vms, Ks, sizes, sigma)
    assert sorted(cores) == list(range(len(vms)))
    for v, (x0, y0, x1, y1) in cores.items():
        u, w = _pixel(X, vms[v], Ks[v])
        assert abs((x0 + x1) / 2 - u) <= 1.0 and abs((y0 + y1) / 2 - w) <= 1.0 and x1 - x0 <= 2 * r + 2
    behind = _look_at((0.5, 0.0, 0.12), (2.0, 0.0, 0.12))  # faces away from X
    aside = _look_at((2.0, 0.0, 1.0), (2.0, 3.0, 1.0))  # X far outside its image
    assert place_cores(X, np.stack([behind, aside]), Ks[:2], sizes[:2], sigma) == {}


def test_fine_cores_keep_the_answers_and_add_the_views_that_see_the_place():
    """Through nerfstudio's cameras (OpenGL axes): the answered views keep their answers' cores, the others get a
    core around the place's projection, of the answers' core radius."""
    from point2act.convergence import core_radius
    from point2act.method.fineviews import cores_of, fine_cores

    vms, Ks, sizes, cams = _ring_cameras(6)
    H, W = sizes[0]
    X = np.array([0.05, -0.03, 0.12])
    points = {v: _pixel(X, vms[v], Ks[v])[None] for v in (0, 2, 3)}
    points[1] = np.zeros((0, 2))
    sigma = 0.02
    cores = fine_cores(points, cams, sigma)
    own = cores_of(points, dict(enumerate(sizes)), sigma)
    assert sorted(cores) == list(range(6)) and all(cores[v] == own[v] for v in (0, 2, 3))
    r = core_radius(H, W, sigma)
    for v in (1, 4, 5):
        x0, y0, x1, y1 = cores[v]
        u, w = _pixel(X, vms[v], Ks[v])
        assert abs((x0 + x1) / 2 - u) <= 1.0 and abs((y0 + y1) / 2 - w) <= 1.0 and abs((x1 - x0) - 2 * r) <= 2
    assert fine_cores({0: points[0]}, cams, sigma) == {0: own[0]}  # one view: no place


def test_many_answers_are_sampled_not_paired_all():
    """200 views with 5 answers each (half a million pairs): the place still lands at the point the right answers
    meet (one of five answers per view is right), from a fixed sample of pairs."""
    from point2act.method.fineviews import MAX_PROPOSALS, answers_place

    vms, Ks, sizes = _ring(200)
    X = np.array([0.05, -0.03, 0.12])
    g = np.random.default_rng(1)
    points = {v: np.concatenate([_pixel(X, vms[v], Ks[v])[None], g.uniform(0, 120, (4, 2))]) for v in range(200)}
    assert 1000 * 999 // 2 > MAX_PROPOSALS
    place = answers_place(points, vms, Ks, np.full(200, 6.0))
    assert place is not None and np.linalg.norm(place - X) < 1e-6


def test_the_answers_ball_is_their_core_at_the_place_s_depth():
    """answers_ball: the place where the answers meet, and the radius their heatmap cores cover there: the core's
    pixel radius times the place's depth over the focal length, the median over the answered views; None
    without a place."""
    from point2act.convergence import core_radius
    from point2act.method.fineviews import answers_ball

    vms, Ks, sizes, cams = _ring_cameras(6)
    H, W = sizes[0]
    X = np.array([0.05, -0.03, 0.12])
    points = {v: _pixel(X, vms[v], Ks[v])[None] for v in (0, 2, 3)}
    center, r_world, r_px = answers_ball(points, cams, 0.02)
    assert np.linalg.norm(center - X) < 1e-4
    r = core_radius(H, W, 0.02)
    depths = [float((vms[v, :3, :3] @ X + vms[v, :3, 3])[2]) for v in (0, 2, 3)]
    assert r_px == pytest.approx(r) and r_world == pytest.approx(r * np.median(depths) / Ks[0, 0, 0], rel=1e-4)
    assert answers_ball({0: points[0]}, cams, 0.02) is None
