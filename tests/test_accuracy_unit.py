"""Fast unit tests of the accuracy benchmark (benchmarks/accuracy): baselines in closed form (exact rays ->
exact point, RANSAC with outliers, lifts with true and rendered depth, best view) and the simulated
pointer's error models (incl. same-spot confusion, twins, multi-point answers, resolution-scaled noise,
region targets). Metrics and statistics are tests/test_accuracy_metrics_unit.py, the suite's scenes and
caches tests/test_accuracy_suite_unit.py, the reports tests/test_accuracy_report_unit.py; the slow
end-to-end run is tests/e2e/test_accuracy.py."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy.baselines import (  # noqa: E402
    best_view,
    lift_single_view,
    lift_with_rendered_depth,
    pixel_ray,
    ransac_triangulate,
    triangulate,
)
from benchmarks.accuracy.pointer import LEVELS, ErrorModel, ViewInfo, answer, same_spot_pixel, simulate  # noqa: E402
from point2act.synth.camera import Intrinsics, look_at_c2w, project  # noqa: E402

K = Intrinsics(200.0, 200.0, 96.0, 72.0, 192, 144)


def _cams(n: int, centre=(0.0, 0.0, 0.05), radius=0.5, seed=0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        az = 2 * np.pi * i / n + rng.uniform(-0.1, 0.1)
        el = rng.uniform(0.4, 1.0)
        eye = np.asarray(centre) + radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        out.append(look_at_c2w(eye, np.asarray(centre) + rng.uniform(-0.02, 0.02, 3)))
    return out


# ------------------------------------------------------------------------------------- baselines
def test_triangulate_exact_rays_give_the_exact_point() -> None:
    p = np.array([0.03, -0.02, 0.07])
    cams = _cams(5)
    xys = [project(p[None], K, c)[0][0] for c in cams]
    rays = [pixel_ray(xy, K, c) for xy, c in zip(xys, cams)]
    q = triangulate(np.stack([r[0] for r in rays]), np.stack([r[1] for r in rays]))
    np.testing.assert_allclose(q, p, atol=1e-9)
    # two rays suffice
    q2 = triangulate(np.stack([r[0] for r in rays[:2]]), np.stack([r[1] for r in rays[:2]]))
    np.testing.assert_allclose(q2, p, atol=1e-9)


def test_triangulate_is_the_least_squares_point_to_lines() -> None:
    rng = np.random.default_rng(1)
    o = rng.normal(size=(6, 3))
    d = rng.normal(size=(6, 3))
    w = rng.uniform(0.5, 2.0, 6)
    q = triangulate(o, d, w)
    dn = d / np.linalg.norm(d, axis=1, keepdims=True)

    def cost(p):
        r = (p - o) - np.sum((p - o) * dn, axis=1, keepdims=True) * dn
        return float(np.sum(w * np.sum(r * r, axis=1)))

    from scipy.optimize import minimize

    ref = minimize(cost, np.zeros(3), method="BFGS", options={"gtol": 1e-12}).x
    np.testing.assert_allclose(q, ref, atol=1e-5)
    for e in np.eye(3):  # a minimum: every step away costs more
        assert cost(q + 1e-4 * e) > cost(q) and cost(q - 1e-4 * e) > cost(q)


def test_ransac_recovers_the_point_with_outliers() -> None:
    p = np.array([0.01, 0.02, 0.06])
    cams = _cams(12, seed=3)
    rng = np.random.default_rng(2)
    xys, bad = [], {1, 4, 6, 9, 11}  # 5 of 12 views point elsewhere (42 %)
    for i, c in enumerate(cams):
        xy = project(p[None], K, c)[0][0] + rng.normal(0, 0.5, 2)
        if i in bad:
            xy = xy + rng.uniform(30, 60, 2) * rng.choice([-1, 1], 2)
        xys.append(xy)
    res = ransac_triangulate(xys, [K] * 12, cams, threshold_px=6.0)
    assert set(res.inliers) == set(range(12)) - bad
    assert np.linalg.norm(res.point - p) < 2e-3
    # plain least squares over all rays is pulled away by the outliers
    rays = [pixel_ray(xy, K, c) for xy, c in zip(xys, cams)]
    naive = triangulate(np.stack([r[0] for r in rays]), np.stack([r[1] for r in rays]))
    assert np.linalg.norm(naive - p) > 5 * np.linalg.norm(res.point - p)


def test_ransac_needs_two_consistent_views() -> None:
    cams = _cams(3)
    assert ransac_triangulate([[10.0, 10.0]], [K], cams[:1], 6.0).point is None
    # three mutually inconsistent rays: no pair has a third inlier, but a pair is still 2 inliers
    res = ransac_triangulate([[5.0, 5.0], [180.0, 10.0], [96.0, 140.0]], [K] * 3, cams, 1.0)
    assert res.point is None or len(res.inliers) == 2


def test_lift_single_view_inverts_projection_with_z_depth() -> None:
    p = np.array([0.02, -0.01, 0.04])
    c2w = _cams(1)[0]
    xy, z = project(p[None], K, c2w)
    depth = np.zeros((K.height, K.width))
    depth[int(xy[0, 1]), int(xy[0, 0])] = z[0]
    np.testing.assert_allclose(lift_single_view(xy[0], depth, K, c2w), p, atol=1e-9)
    depth[:] = 0.0  # no surface (sky): no lift
    assert lift_single_view(xy[0], depth, K, c2w) is None


# ------------------------------------------------------------------------------------- error models
def _view(target_px=60, distractor=True, hide=False) -> tuple[ViewInfo, np.ndarray]:
    """A view with a target blob (id 3) around the projection of ``centroid``, a distractor (id 5)."""
    c2w = _cams(1, seed=5)[0]
    centroid = np.array([0.0, 0.0, 0.05])
    (cx, cy), = project(centroid[None], K, c2w)[0]
    mask = np.zeros((K.height, K.width), np.uint8)
    r = int(np.sqrt(target_px) / 2)
    alone = np.zeros_like(mask, bool)
    alone[int(cy) - r : int(cy) + r, int(cx) - r : int(cx) + r] = True
    if not hide:
        mask[alone] = 3
    else:
        mask[alone] = 7  # an occluder in front of it
    if distractor:
        mask[5:25, 5:30] = 5
    return ViewInfo(mask, alone, K, c2w), centroid


def test_clean_pointer_hits_the_target_and_outliers_land_on_the_confuser() -> None:
    v, c = _view()
    for seed in range(20):
        pts, kind = answer(v, ErrorModel("clean"), np.random.default_rng(seed), 3, c, 5, [5])
        (x, y), = pts
        assert kind == "target" and v.mask[int(y), int(x)] == 3
        pts, kind = answer(v, ErrorModel("all", outlier_rate=1.0), np.random.default_rng(seed), 3, c, 5, [5])
        (x, y), = pts
        assert kind == "outlier" and v.mask[int(y), int(x)] == 5


def test_outlier_views_are_nested_and_close_to_the_rate() -> None:
    views = [_view()[0] for _ in range(400)]
    c = _view()[1]
    fps = [f"images/{i}.png" for i in range(400)]
    kinds = {}
    for rate in (0.2, 0.4):
        _, kinds[rate] = simulate(views, fps, ErrorModel("o", outlier_rate=rate), 7, 3, c, {"ball": [5]}, "p")
    o20 = {i for i, k in enumerate(kinds[0.2]) if k == "outlier"}
    o40 = {i for i, k in enumerate(kinds[0.4]) if k == "outlier"}
    assert o20 <= o40
    # binomial(400, p): 4 sigma bounds
    assert abs(len(o20) - 80) < 4 * math.sqrt(400 * 0.2 * 0.8)
    assert abs(len(o40) - 160) < 4 * math.sqrt(400 * 0.4 * 0.6)


def test_scene_streams_make_two_scenes_err_in_independent_views() -> None:
    """With ``scene_seed`` the outlier views of two scenes at one pointer seed are independent draws
    (about rate^2 of the views shared); without it (the first versions' streams) they are the same views."""
    views = [_view()[0] for _ in range(400)]
    c = _view()[1]
    fps = [f"images/{i}.png" for i in range(400)]
    lvl = ErrorModel("o", outlier_rate=0.4)

    def outliers(scene_seed):
        _, kinds = simulate(views, fps, lvl, 1, 3, c, {"ball": [5]}, "p", scene_seed=scene_seed)
        return {i for i, k in enumerate(kinds) if k == "outlier"}

    assert outliers(None) == outliers(None)
    a, b = outliers(11), outliers(12)
    assert a == outliers(11) and a != b
    for o in (a, b):
        assert abs(len(o) - 160) < 4 * math.sqrt(400 * 0.4 * 0.6)
    # independent: the overlap is binomial(400, 0.16), not the 160 shared views of one stream
    assert abs(len(a & b) - 64) < 4 * math.sqrt(400 * 0.16 * 0.84)
    # the scene's confuser is drawn with its layout seed too
    from benchmarks.accuracy.pointer import pick_confuser

    objs = {f"obj{i}": [i] for i in range(8)}
    assert len({pick_confuser(objs, 0, scene_seed=s) for s in range(40)}) > 1
    assert pick_confuser(objs, 0) == pick_confuser(objs, 0, scene_seed=None)


def test_twin_levels_run_more_pointer_seeds() -> None:
    from benchmarks.accuracy.pointer import LEVELS
    from benchmarks.accuracy.run import BenchConfig

    bc = BenchConfig(seeds=(0, 1, 2))
    assert bc.level_seeds(LEVELS["clean"]) == (0,)
    assert bc.level_seeds(LEVELS["same40"]) == (0, 1, 2)
    assert bc.level_seeds(LEVELS["twin50"]) == tuple(range(18))
    assert BenchConfig(seeds=(3,), twin_seed_factor=1).level_seeds(LEVELS["twin30"]) == (3,)


def test_pixel_noise_has_the_requested_spread() -> None:
    v, c = _view()
    clean = np.asarray(answer(v, ErrorModel("c"), np.random.default_rng(0), 3, c, 5, [5])[0][0])
    d = np.array([np.asarray(answer(v, ErrorModel("n", noise_px=5.0), np.random.default_rng(s), 3, c, 5, [5])[0][0])
                  - clean for s in range(2000)])
    np.testing.assert_allclose(d.std(axis=0), [5.0, 5.0], rtol=0.08)
    np.testing.assert_allclose(d.mean(axis=0), [0.0, 0.0], atol=0.4)


def test_no_point_answers_and_hidden_targets() -> None:
    v, c = _view()
    kinds = [answer(v, ErrorModel("none", none_rate=0.3), np.random.default_rng(s), 3, c, 5, [5])[1]
             for s in range(1000)]
    assert abs(kinds.count("none") - 300) < 4 * math.sqrt(1000 * 0.21)
    assert set(kinds) == {"none", "target"}
    hidden, c = _view(hide=True)
    pts, kind = answer(hidden, ErrorModel("clean"), np.random.default_rng(0), 3, c, 5, [5])
    assert pts == [] and kind == "hidden"


def test_occlusion_model_points_at_the_occluder() -> None:
    hidden, c = _view(hide=True)
    pts, kind = answer(hidden, ErrorModel("occ", occlusion=True), np.random.default_rng(0), 3, c, 5, [5])
    (x, y), = pts
    (px, py), = project(c[None], K, hidden.c2w)[0]
    assert kind == "occluder" and hidden.mask[int(y), int(x)] == 7
    np.testing.assert_allclose([x, y], [px, py], atol=1e-3)
    # a fully visible target is answered normally
    v, c = _view()
    assert answer(v, ErrorModel("occ", occlusion=True), np.random.default_rng(0), 3, c, 5, [5])[1] == "target"


# ------------------------------------------------------------------------------------- new baselines
def _opencv_viewmat(c2w_gl: np.ndarray) -> np.ndarray:
    """World-to-camera in OpenCV axes from an OpenGL camera-to-world."""
    c2w = c2w_gl.copy()
    c2w[:3, 1:3] *= -1
    return np.linalg.inv(c2w)


def test_lift_with_rendered_depth_is_exact_and_scales_to_the_render() -> None:
    p = np.array([0.02, -0.01, 0.04])
    c2w = _cams(1, seed=4)[0]
    xy, z = project(p[None], K, c2w)
    vm = _opencv_viewmat(c2w)
    Km = np.array([[K.fx, 0, K.cx], [0, K.fy, K.cy], [0, 0, 1.0]])
    depth = np.zeros((K.height, K.width))
    depth[int(xy[0, 1]), int(xy[0, 0])] = z[0]
    q = lift_with_rendered_depth(xy[0], (K.height, K.width), depth, None, Km, vm)
    np.testing.assert_allclose(q, p, atol=1e-9)
    # the depth rendered at half resolution: the point is scaled to it, the ray is the same
    Kh = Km.copy()
    Kh[:2] /= 2
    dh = np.zeros((K.height // 2, K.width // 2))
    dh[int(xy[0, 1] / 2), int(xy[0, 0] / 2)] = z[0]
    np.testing.assert_allclose(lift_with_rendered_depth(xy[0], (K.height, K.width), dh, None, Kh, vm), p, atol=1e-9)
    # transparent render or no depth: no lift
    alpha = np.zeros_like(depth)
    assert lift_with_rendered_depth(xy[0], (K.height, K.width), depth, alpha, Km, vm) is None
    assert lift_with_rendered_depth(xy[0], (K.height, K.width), 0 * depth, None, Km, vm) is None


def test_best_view_first_or_most_confident() -> None:
    a, b, c = np.zeros(3), np.ones(3), 2 * np.ones(3)
    assert best_view([(2, 0.9, c), (0, None, None), (1, 0.5, a)]) is a  # first view with a point
    assert best_view([(2, 0.9, c), (1, 0.5, a)], rule="confident") is c
    assert best_view([(3, None, b), (1, None, a)], rule="confident") is a  # no confidences: the first
    assert best_view([(0, 1.0, None)]) is None


def test_ransac_with_consistent_outliers_keeps_the_majority() -> None:
    """Outliers that agree with each other (the same wrong spot) form their own consensus; RANSAC keeps
    the larger one (7 target views against 5 same-spot views), and loses it when they are the majority."""
    p, q = np.array([0.0, 0.0, 0.05]), np.array([0.15, 0.05, 0.06])
    cams = _cams(12, seed=8)
    xy = lambda x, c: project(x[None], K, c)[0][0]  # noqa: E731
    bad = {0, 3, 5, 8, 10}
    xys = [xy(q if i in bad else p, c) for i, c in enumerate(cams)]
    res = ransac_triangulate(xys, [K] * 12, cams, threshold_px=4.0)
    assert np.linalg.norm(res.point - p) < 1e-6 and set(res.inliers) == set(range(12)) - bad
    bad = {0, 1, 3, 5, 7, 8, 10}
    xys = [xy(q if i in bad else p, c) for i, c in enumerate(cams)]
    res = ransac_triangulate(xys, [K] * 12, cams, threshold_px=4.0)
    assert np.linalg.norm(res.point - q) < 1e-6


# ------------------------------------------------------------------------------------- new error models
def _blob(mask: np.ndarray, xy, r: int, pid: int) -> None:
    x, y = int(xy[0]), int(xy[1])
    mask[max(0, y - r) : y + r, max(0, x - r) : x + r] = pid


def _scene_views(n=8, seed=11):
    """Views of a target (id 3) at the origin, a confuser ball (id 5) around ``spot`` and a twin (id 7)."""
    target, spot, twin = np.array([0.0, 0.0, 0.05]), np.array([0.12, -0.04, 0.06]), np.array([-0.12, 0.05, 0.05])
    views = []
    for c2w in _cams(n, seed=seed):
        m = np.zeros((K.height, K.width), np.uint8)
        alone = np.zeros_like(m, bool)
        (tx, ty), = project(target[None], K, c2w)[0]
        _blob(m, (tx, ty), 5, 3)
        alone[m == 3] = True
        _blob(m, project(spot[None], K, c2w)[0][0], 9, 5)
        _blob(m, project(twin[None], K, c2w)[0][0], 5, 7)
        views.append(ViewInfo(m, alone, K, c2w))
    return views, target, spot


def test_same_spot_outliers_point_at_one_3d_spot() -> None:
    views, target, spot = _scene_views()
    fps = [f"images/{i}.png" for i in range(len(views))]
    lvl = ErrorModel("same", outlier_rate=1.0, outlier_mode="same_spot")
    pts, kinds = simulate(views, fps, lvl, 0, 3, target, {"ball": [5]}, "p", {"ball": spot})
    assert kinds == ["outlier"] * len(views)
    for v, fp in zip(views, fps):
        np.testing.assert_allclose(pts["points"][fp][0], project(spot[None], K, v.c2w)[0][0], atol=1e-3)
    # so their rays meet at the spot: triangulation of the outliers is the spot itself
    res = ransac_triangulate([pts["points"][f][0] for f in fps], [K] * len(fps), [v.c2w for v in views], 2.0)
    np.testing.assert_allclose(res.point, spot, atol=1e-4)
    # the random-pixel outliers of the first version do not agree
    pts_r, _ = simulate(views, fps, ErrorModel("rand", outlier_rate=1.0), 0, 3, target, {"ball": [5]}, "p")
    assert any(np.linalg.norm(np.subtract(pts_r["points"][f][0], pts["points"][f][0])) > 2 for f in fps)


def test_same_spot_pixel_falls_back_to_the_nearest_visible_pixel() -> None:
    v, _c = _view()
    spot_far = np.array([0.0, 0.0, 0.05])  # projects onto the target blob, not onto the distractor (id 5)
    q = same_spot_pixel(v, spot_far, [5])
    assert v.mask[int(q[1]), int(q[0])] == 5
    assert same_spot_pixel(v, spot_far, [9]) is None  # not visible


def test_twin_views_point_at_the_twin_and_are_nested() -> None:
    views, target, spot = _scene_views(n=200, seed=2)
    fps = [f"images/{i}.png" for i in range(len(views))]
    kinds = {}
    for rate in (0.3, 0.5):
        pts, kinds[rate] = simulate(views, fps, ErrorModel("t", twin_rate=rate), 4, 3, target,
                                    {"ball": [5], "mug_twin": [7]}, "p", {"ball": spot}, ("mug_twin", 7))
        for v, f, k in zip(views, fps, kinds[rate]):
            (x, y), = pts["points"][f]
            assert v.mask[int(y), int(x)] == (7 if k == "twin" else 3)
    t30 = {i for i, k in enumerate(kinds[0.3]) if k == "twin"}
    t50 = {i for i, k in enumerate(kinds[0.5]) if k == "twin"}
    assert t30 <= t50 and abs(len(t50) - 100) < 4 * math.sqrt(200 * 0.25)
    # the twin is never the outliers' confuser (it has its own error model)
    pts, _ = simulate(views[:20], fps[:20], ErrorModel("o", outlier_rate=1.0), 4, 3, target,
                      {"mug_twin": [7], "ball": [5]}, "p", None, ("mug_twin", 7))
    assert all(v.mask[int(p[0][1]), int(p[0][0])] == 5 for v, p in zip(views, pts["points"].values()))


def test_multi_point_answers_with_some_points_wrong() -> None:
    v, c = _view()
    lvl = ErrorModel("m", num_points=3, point_wrong_rate=0.3)
    wrong = total = 0
    for s in range(600):
        pts, _k = answer(v, lvl, np.random.default_rng(s), 3, c, 5, [5])
        assert len(pts) == 3
        ids = [v.mask[int(y), int(x)] for x, y in pts]
        assert set(ids) <= {3, 5}
        wrong += ids.count(5)
        total += 3
    assert abs(wrong / total - 0.3) < 0.04


def test_noise_scales_with_the_image_diagonal() -> None:
    v, c = _view()
    lvl = ErrorModel("n", noise_frac=0.02)
    assert lvl.noise_std(K.width, K.height) == pytest.approx(0.02 * math.hypot(K.width, K.height))
    clean = np.asarray(answer(v, ErrorModel("c"), np.random.default_rng(0), 3, c, 5, [5])[0][0])
    d = np.array([np.asarray(answer(v, lvl, np.random.default_rng(s), 3, c, 5, [5])[0][0]) - clean
                  for s in range(2000)])
    np.testing.assert_allclose(d.std(axis=0), [lvl.noise_std(K.width, K.height)] * 2, rtol=0.08)


def test_region_spread_picks_varied_target_pixels() -> None:
    v, c = _view(target_px=200)
    pts = [answer(v, LEVELS["spread"], np.random.default_rng(s), 3, c, 5, [5])[0][0] for s in range(200)]
    assert all(v.mask[int(y), int(x)] == 3 for x, y in pts)
    assert len({tuple(p) for p in pts}) > 50


def test_first_version_levels_are_unchanged_by_the_new_draws() -> None:
    """The new models draw after the first version's draws: its levels give the same points."""
    v, c = _view()
    rng = np.random.default_rng(3)
    rng.random(3)  # u_none, u_out, u_which
    noise = rng.normal(0.0, 1.0, 2)
    clean = np.asarray(answer(v, ErrorModel("c"), np.random.default_rng(3), 3, c, 5, [5])[0][0])
    got = answer(v, LEVELS["noise5"], np.random.default_rng(3), 3, c, 5, [5])[0][0]
    np.testing.assert_allclose(got, np.clip(clean + 5.0 * noise, 0, [K.width, K.height]), atol=2e-3)
