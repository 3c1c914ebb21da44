"""Fast unit tests of the accuracy benchmark (benchmarks/accuracy): error models (incl. same-spot
confusion, twins, multi-point answers, resolution-scaled noise, region targets), baselines in closed
form (exact rays -> exact point, RANSAC with outliers, lifts with true and rendered depth, best view),
the bootstrap, the summary schema and the grasp judgement. The slow end-to-end run is
tests/e2e/test_accuracy.py."""

from __future__ import annotations

import json
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
from benchmarks.accuracy.metrics import (  # noqa: E402
    TargetSurface,
    bootstrap_ci,
    bootstrap_ci_clustered,
    grasp_collides,
    grasp_penetration,
    unit_values,
    weighted_median,
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


# ------------------------------------------------------------------------------------- metrics
def test_weighted_median_and_target_distance() -> None:
    assert weighted_median([3.0, 1.0, 2.0], [1, 1, 1]) == 2.0
    assert weighted_median([1.0, 10.0], [0.2, 0.8]) == 10.0
    assert weighted_median([1.0, float("inf"), float("inf")], [1, 1, 1]) == float("inf")
    t = TargetSurface(np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]))
    assert t.distance([0.05, 0.0, 0.0]) == pytest.approx(0.05)
    assert t.distance(None) == float("inf")
    np.testing.assert_allclose(t.centroid, [0.05, 0.0, 0.0])


def test_target_distance_is_zero_inside_a_closed_target() -> None:
    o3d = pytest.importorskip("open3d")
    box = o3d.geometry.TriangleMesh.create_box(0.04, 0.1, 0.035)
    v, f = np.asarray(box.vertices), np.asarray(box.triangles)
    from point2act.synth.meshes import sample_mesh_points

    pts = sample_mesh_points(v, f, 3000, np.random.default_rng(0))
    t = TargetSurface(pts, (v, f))
    assert t.closed and t.inside([0.02, 0.05, 0.0175]) and t.distance([0.02, 0.05, 0.0175]) == 0.0
    # outside: the distance to the nearest surface sample (about 1.5 cm above the top face)
    assert t.distance([0.02, 0.05, 0.05]) == pytest.approx(0.015, abs=2e-3)
    assert not TargetSurface(pts).closed and TargetSurface(pts).distance([0.02, 0.05, 0.0175]) > 0.015


def test_grasp_collides_with_true_surface_points() -> None:
    from point2act.grasp import GripperConfig

    g = GripperConfig()
    # a top-down grasp 10 cm above the table, closing along x
    grasp = {"position": [0.0, 0.0, 0.10], "rotation": [[1, 0, 0], [0, -1, 0], [0, 0, -1]], "width": 0.04}
    free = np.array([[0.0, 0.0, 0.09], [0.2, 0.2, 0.0]])  # between the fingers, far away
    assert not grasp_collides(grasp, free, g)
    finger = np.array([[0.02 + g.finger_thickness / 2, 0.0, 0.10 + g.finger_length / 2]])  # inside the +x finger
    assert grasp_collides(grasp, np.concatenate([free, finger]), g)
    low = dict(grasp, position=[0.0, 0.0, 0.005])  # top-down, fingertips 5 mm above the table: free
    assert not grasp_collides(low, free[:0], g)
    upwards = dict(grasp, rotation=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], position=[0.0, 0.0, 0.01])  # fingers below z=0
    assert grasp_collides(upwards, free[:0], g)
    # penetration depth: 0 when free; 3 mm inside the +x finger's inner face; the palm's reach below z=0
    assert grasp_penetration(grasp, free, g) == 0.0
    inner = np.array([[0.02 + 0.003, 0.0, 0.10 + g.finger_length / 2]])
    assert grasp_penetration(grasp, inner, g) == pytest.approx(0.003, abs=1e-9)
    assert grasp_penetration(upwards, free[:0], g) == pytest.approx(g.finger_length + g.palm_depth - 0.01, abs=1e-9)


# ------------------------------------------------------------------------------------- synthetic scenes
def test_suite_scenes_and_new_targets(tmp_path: Path) -> None:
    pytest.importorskip("open3d")
    import json

    from benchmarks.accuracy.suite import SUITE, ensure_scene

    assert len(SUITE) >= 10 and len({s.name for s in SUITE}) == len(SUITE)
    common = {"num_views": 4, "width": 64, "height": 48, "num_seed_points": 300, "num_gt_points": 300}
    by = {s.name: s for s in SUITE}
    for name in ("rim_s3", "tool_head_s9_occluded"):
        d, dt = ensure_scene(by[name], common, tmp_path)
        assert dt > 0 and (d / ".complete").is_file()
        gt = json.loads((d / "ground_truth.json").read_text())
        roles = {p["name"]: p["role"] for p in gt["parts"]}
        assert roles[gt["target"]] == "target" and list(roles.values()).count("target") == 1
        alone = np.load(d / "target_alone.npz")["alone"]
        assert alone.shape == (4, 48, 64) and alone.any()
        assert ensure_scene(by[name], common, tmp_path) == (d, 0.0)  # cached
    assert roles["occluder"] == "distractor" and roles["tool_handle"] == "context" and roles["mug_handle"] == "distractor"


def test_new_synth_options_leave_the_default_config_record_unchanged() -> None:
    """transforms.json records SynthConfig.to_dict(): the options added for the benchmark appear only
    when set, so the default scene's files stay byte-identical."""
    from point2act.synth import SynthConfig

    d = SynthConfig().to_dict()
    assert not {"target", "mug_mesh", "mug_mesh_scale", "occluder"} & set(d)
    e = SynthConfig(target="tool_head", occluder=True).to_dict()
    assert e["target"] == "tool_head" and e["occluder"] is True and "mug_mesh" not in e


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "meshes" / "acronym_mug" / "mug.obj").exists(),
                    reason="../shared/data/meshes/acronym_mug not present")
def test_acronym_mug_handle_is_split_from_the_body() -> None:
    pytest.importorskip("open3d")
    from benchmarks.accuracy.suite import ACRONYM_MUG, ACRONYM_SCALE
    from point2act.synth.meshes import load_mug_mesh

    m = load_mug_mesh(str(ACRONYM_MUG), ACRONYM_SCALE)
    hv, bv = m["handle"][0], m["body"][0]
    assert 0.035 < m["body_radius"] < 0.041 and 0.09 < m["height"] < 0.11  # an 8 cm mug, 10 cm tall
    assert hv[:, 0].min() > 0.03 and np.abs(hv[:, 1]).max() < 0.01  # the handle points along +x, thin in y
    assert 50 < len(m["handle"][1]) < len(m["body"][1])


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


# ------------------------------------------------------------------------------------- statistics
def test_bootstrap_interval() -> None:
    m, lo, hi = bootstrap_ci([1.0] * 10)
    assert m == lo == hi == 1.0
    v = np.r_[np.ones(30), np.zeros(30)]
    m, lo, hi = bootstrap_ci(v, n_boot=4000)
    se = math.sqrt(0.25 / 60)
    assert m == 0.5 and lo == pytest.approx(0.5 - 1.96 * se, abs=0.03) and hi == pytest.approx(0.5 + 1.96 * se, abs=0.03)
    assert bootstrap_ci(v, seed=1) == bootstrap_ci(v, seed=1)  # deterministic
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_clustered_bootstrap_is_wider_when_seeds_are_correlated() -> None:
    # 10 scenes x 3 seeds; the outcome depends on the scene only: 30 units, but 10 independent ones
    units = {(f"s{i}", k): float(i % 2) for i in range(10) for k in range(3)}
    m, lo, hi = bootstrap_ci_clustered(units, n_boot=3000)
    _, lo1, hi1 = bootstrap_ci(list(units.values()), n_boot=3000)
    assert m == 0.5 and (hi - lo) > 1.4 * (hi1 - lo1)


def test_unit_values_weigh_single_view_records() -> None:
    recs = [{"scene": "a", "seed": 0, "weight": 0.25, "hit": h} for h in (1, 1, 1, 0)]
    recs += [{"scene": "b", "seed": 0, "weight": 1.0, "hit": False}]
    assert unit_values(recs) == {("a", 0): 0.75, ("b", 0): 0.0}


def test_summary_schema() -> None:
    from benchmarks.accuracy.report import check_summary, headline_table, summary_json

    recs = []
    for sc in ("s1", "s2", "s3"):
        for seed in (0, 1, 2):
            for m in ("point2act", "ransac", "best_view"):
                hit = (m != "ransac") or seed == 0
                recs.append({"scene": sc, "seed": seed, "level": "out40", "method": m, "weight": 1.0, "hit": hit,
                             "error_m": 0.002 if hit else float("inf")})
            for k in range(4):  # one-view lifts: 4 answered views, 1 wrong
                for m in ("lift_true_depth", "lift_recon_depth"):
                    recs.append({"scene": sc, "seed": seed, "level": "out40", "method": m, "weight": 0.25,
                                 "hit": k > 0, "error_m": 0.001 if k > 0 else 0.2})
    s = summary_json(recs, ["out40"], "test", [0, 1, 2], ["s1", "s2", "s3"])
    check_summary(s)
    import json

    assert json.loads(json.dumps(s)) == s  # plain JSON (no inf)
    row = s["levels"]["out40"]
    assert set(row) == {"point2act", "lift_recon_depth", "lift_true_depth", "ransac", "best_view"}
    assert row["point2act"] == {"hit": 1.0, "lo": 1.0, "hi": 1.0, "median_cm": 0.2}
    assert row["lift_true_depth"]["hit"] == 0.75 and row["lift_true_depth"]["median_cm"] == 0.1
    assert row["ransac"]["hit"] == pytest.approx(1 / 3, abs=1e-4) and row["ransac"]["median_cm"] is None
    assert row["ransac"]["lo"] <= row["ransac"]["hit"] <= row["ransac"]["hi"]
    assert "| out40 |" in headline_table(s)
    for bad in ({**s, "extra": 1}, {**s, "split": "train"},
                {**s, "levels": {"out40": {"point2act": {"hit": 0.5, "lo": 0.6, "hi": 0.7, "median_cm": 1.0}}}},
                {**s, "levels": {"out40": {"magic": row["point2act"]}}}):
        with pytest.raises(ValueError):
            check_summary(bad)


# ------------------------------------------------------------------------------------- grasps, twins, splits
def test_judge_top_grasp_against_labelled_points() -> None:
    from benchmarks.accuracy.metrics import judge_top_grasp
    from point2act.grasp import GripperConfig

    g = GripperConfig()
    grasp = {"position": [0.0, 0.0, 0.10], "rotation": [[1, 0, 0], [0, -1, 0], [0, 0, -1]], "width": 0.04}
    # target points between the fingers, a distractor far away
    rng = np.random.default_rng(0)
    tgt = np.c_[rng.uniform(-0.005, 0.005, 40), rng.uniform(-0.005, 0.005, 40), 0.10 + rng.uniform(0.0, 0.01, 40)]
    far = np.array([[0.3, 0.3, 0.0]])
    pts, labels = np.r_[tgt, far], np.r_[np.full(40, 3), [5]]
    v = judge_top_grasp(grasp, pts, labels, 3, g)
    assert v["on_target"] and v["collision_free"] and v["success"]
    v = judge_top_grasp(grasp, pts, labels, 5, g)  # the wrong part between the fingers
    assert not v["on_target"] and not v["success"]
    finger = np.array([[0.02 + g.finger_thickness / 2, 0.0, 0.10 + g.finger_length / 2]])
    v = judge_top_grasp(grasp, np.r_[pts, finger], np.r_[labels, [5]], 3, g)
    assert v["on_target"] and not v["collision_free"] and not v["success"]


def test_splits_are_disjoint_and_recorded() -> None:
    from benchmarks.accuracy.suite import (DEV_SEEDS, GENERATOR_SEEDS, SEEN_SPLITS, SPLITS, SUITE, TEST_SEEDS,
                                           TEST_SPLITS, VAL2_SEEDS, VAL3_SEEDS, VAL4_SEEDS, VAL_SEEDS, all_specs)

    by_split = {"dev": DEV_SEEDS, "val": VAL_SEEDS, "val2": VAL2_SEEDS, "val3": VAL3_SEEDS, "val4": VAL4_SEEDS,
                "test": TEST_SEEDS, **GENERATOR_SEEDS}
    assert set(by_split) == set(SPLITS) and SPLITS["dev"] is SUITE
    assert not set(TEST_SPLITS) & set(SEEN_SPLITS) and "test" in TEST_SPLITS
    seeds = [set(v) for v in by_split.values()]
    assert all(not a & b for i, a in enumerate(seeds) for b in seeds[i + 1 :])
    for split, suite in SPLITS.items():
        assert all(s.overrides["seed"] in by_split[split] and s.split == split for s in suite)
        assert any(s.twin for s in suite) or split.startswith("objects_")  # external objects have no twins
    names = [s.name for suite in SPLITS.values() for s in suite]
    assert len(names) == len(set(names)) == len(all_specs())
    from benchmarks.accuracy.__main__ import SPLIT_NOTES

    assert set(SPLIT_NOTES) == set(SPLITS)  # every split's tables have a header note


def test_benchmark_reconstructs_as_users_do() -> None:
    """The benchmark reconstructs what users get: the demo's scenes (resolution, views, seed points) and
    ``ns-train point2act``'s default iteration count."""
    from benchmarks.accuracy.run import BenchConfig
    from point2act.method.schedule import DEFAULT_ITERATIONS
    from point2act.synth import SynthConfig

    bc, sc = BenchConfig(), SynthConfig()
    assert (bc.width, bc.height, bc.num_views, bc.num_seed_points) == (sc.width, sc.height, sc.num_views,
                                                                       sc.num_seed_points)
    assert bc.iterations == DEFAULT_ITERATIONS


def test_twin_is_a_translated_copy_of_the_mug() -> None:
    pytest.importorskip("open3d")
    from benchmarks.accuracy.suite import TWIN_OBJECT, build_bench_scene, twin_scenes
    from point2act.synth import SynthConfig
    from point2act.synth import scene as scene_mod

    cfg = SynthConfig(seed=1003, distractors=("ball", "can"), num_gt_points=200)
    plain = scene_mod.build_scene(cfg)
    sc = build_bench_scene(cfg, twin=True)
    mug = [p for p in sc.parts if p.object_name == "mug"]
    tw = [p for p in sc.parts if p.object_name == TWIN_OBJECT]
    assert len(tw) == len(mug) == 2 and {p.role for p in tw} == {"distractor"}
    assert len({p.part_id for p in sc.parts}) == len(sc.parts) and sc.target_part_id == plain.target_part_id
    for a, b in zip(sorted(mug, key=lambda p: p.part_id), sorted(tw, key=lambda p: p.part_id)):
        d = b.vertices - a.vertices
        np.testing.assert_allclose(d, np.broadcast_to(d[0], d.shape), atol=1e-12)
        assert abs(d[0, 2]) < 1e-12 and np.linalg.norm(d[0]) > 0.1
        q = a.vertices[:5]
        np.testing.assert_allclose(b.albedo(q + d[0]), a.albedo(q))  # same texture
    # the generator's build_scene is patched only inside the context
    with twin_scenes(True):
        assert any(p.object_name == TWIN_OBJECT for p in scene_mod.build_scene(cfg).parts)
    assert not any(p.object_name == TWIN_OBJECT for p in scene_mod.build_scene(cfg).parts)


def test_readme_blocks_are_replaced_in_place(tmp_path) -> None:
    from benchmarks.accuracy.__main__ import _replace_block
    from benchmarks.accuracy.report import compact_table

    p = tmp_path / "README.md"
    p.write_text("# title\n\n<!-- b -->\nold\n<!-- e -->\n\n## next\ntext\n")
    assert _replace_block(p, "<!-- b -->", "<!-- e -->", "new table", print)
    assert p.read_text() == "# title\n\n<!-- b -->\nnew table\n<!-- e -->\n\n## next\ntext\n"
    assert not _replace_block(tmp_path / "none.md", "<!-- b -->", "<!-- e -->", "x", print)
    q = tmp_path / "other.md"
    q.write_text("no block\n")
    assert not _replace_block(q, "<!-- b -->", "<!-- e -->", "x", print) and q.read_text() == "no block\n"
    summary = {"levels": {"out40": {"point2act": {"hit": 0.9}, "ransac": {"hit": 0.8},
                                    "lift_recon_depth": {"hit": 0.5}, "lift_true_depth": {"hit": 0.95}}}}
    t = compact_table(summary, {"out40": {"success": 0.75}})
    row = t.splitlines()[2]
    assert row.startswith("| out40 | **90 %** | 50 % | 80 % | 95 % | 75 % |")


def test_majority_rows_split_runs_by_the_answers_majority() -> None:
    from benchmarks.accuracy.report import majority_rows, majority_table

    def rec(level, t, w, hit, kind="outlier"):
        return {"level": level, "method": "point2act", "kinds": {"target": t, kind: w, "hidden": 2}, "hit": hit}

    recs = [rec("same40", 10, 9, True), rec("same40", 9, 9, True), rec("same40", 5, 12, False),
            rec("twin50", 6, 8, False, "twin"), rec("twin50", 9, 4, False, "twin"),
            {"level": "same40", "method": "ransac", "hit": True},
            {"level": "clean", "method": "point2act", "kinds": {"target": 19}, "hit": True}]
    rows = majority_rows(recs, ["clean", "same40", "twin50"])
    assert set(rows) == {"same40", "twin50"}  # no wrong answers at clean
    assert rows["same40"] == {"runs": 3, "majority": 1, "majority_hit": 1, "other": 2, "other_hit": 1}
    assert rows["twin50"] == {"runs": 2, "majority": 1, "majority_hit": 0, "other": 1, "other_hit": 0}
    assert "| same40 | 3 | 1, 1 | 2, 1 |" in majority_table(recs, ["same40"])


def test_grasp_rows_set_aside_only_targets_beyond_the_hand() -> None:
    """The grasp rate over all runs and over the runs whose target the hand can hold (benchmarks.accuracy.oracle),
    each beside the action point's hit rate over the same runs."""
    from benchmarks.accuracy.report import grasp_rows

    def rec(scene, seed, hit, ok, beyond):
        return {"scene": scene, "seed": seed, "level": "clean", "method": "point2act", "weight": 1.0, "hit": hit,
                "num_grasps": int(ok), "grasp_on_target": ok, "grasp_collision_free": ok, "grasp_success": ok,
                "target_beyond_hand": beyond}

    rs = [rec("handle", 0, True, True, False), rec("handle", 1, True, True, False), rec("rim", 0, True, False, False),
          rec("tab", 0, True, False, True), rec("tab", 1, False, False, True)]
    g = grasp_rows(rs, ["clean"])["clean"]
    assert g["success"] == pytest.approx(2 / 5) and g["hit"] == pytest.approx(4 / 5)
    assert g["holdable"] == {"runs": 3, "success": pytest.approx(2 / 3), "hit": 1.0,
                            "success_when_hit": pytest.approx(2 / 3)}
    assert "holdable" not in grasp_rows([dict(r, target_beyond_hand=None) for r in rs], ["clean"])["clean"]
    # into summary.json, which its schema check takes (and a holdable row that is not a rate it refuses)
    from benchmarks.accuracy.report import check_summary, summary_json

    s = summary_json([dict(r, error_m=0.002 if r["hit"] else float("inf")) for r in rs], ["clean"], "test", [0, 1],
                     ["handle", "rim", "tab"])
    check_summary(s)
    assert s["levels"]["clean"]["point2act_grasp"]["holdable"] == {"runs": 3, "success": 0.6667, "hit": 1.0,
                                                                  "success_when_hit": 0.6667}
    bad = json.loads(json.dumps(s))
    bad["levels"]["clean"]["point2act_grasp"]["holdable"]["success"] = 2.0
    with pytest.raises(ValueError):
        check_summary(bad)


def test_cached_geometry_runs_are_keyed_by_the_method_defaults(tmp_path) -> None:
    """A cached reconstruction stands for this code's only if it was trained with the same method defaults,
    iterations and seed (the paths do not matter); one trained with another default is stale, one cached
    before fingerprints were kept is unknown."""
    import dataclasses

    from benchmarks.accuracy.run import cached_run_is_current, training_fingerprint
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config

    def cfg(scene: str, out: str, seed: int = 0):
        c = short_schedule(registered_config("point2act"), tmp_path / scene, tmp_path / scene / "points.json",
                           tmp_path / out, 2000)
        c.machine.seed = seed
        return c

    a = training_fingerprint(cfg("a", "out_a"))
    assert training_fingerprint(cfg("b", "out_b")) == a  # another scene folder and output: the same training
    assert training_fingerprint(cfg("a", "out_a", seed=1)) != a
    other = cfg("a", "out_a")
    other.pipeline.model = dataclasses.replace(other.pipeline.model, opacity_reg=0.05)
    assert training_fingerprint(other) != a
    assert cached_run_is_current({"seconds": 1.0, "fingerprint": a}, a) is True
    assert cached_run_is_current({"seconds": 1.0, "fingerprint": training_fingerprint(other)}, a) is False
    assert cached_run_is_current({"seconds": 1.0, "iterations": 2000}, a) is None


def test_cached_scene_results_are_keyed_on_the_code(tmp_path, monkeypatch) -> None:
    """A scene's cached result is reused only under the same code: the fingerprint changes with a source file
    of the package or the benchmark (not with a README beside them), and the result key follows it. Before,
    a rerun without --rerun reported the verdicts of whatever code had run the scene last."""
    from benchmarks.accuracy import __main__ as acc_main

    (tmp_path / "point2act" / "grasp").mkdir(parents=True)
    (tmp_path / "benchmarks" / "accuracy").mkdir(parents=True)
    src = tmp_path / "point2act" / "grasp" / "planner.py"
    src.write_text("MARGIN = 0.002\n")
    (tmp_path / "benchmarks" / "accuracy" / "run.py").write_text("pass\n")
    a = acc_main.code_fingerprint(tmp_path)
    (tmp_path / "point2act" / "README.md").write_text("notes\n")
    assert acc_main.code_fingerprint(tmp_path) == a
    src.write_text("MARGIN = 0.001\n")
    b = acc_main.code_fingerprint(tmp_path)
    assert b != a
    assert acc_main.code_fingerprint() == acc_main.code_fingerprint()  # the repository's own: stable

    from benchmarks.accuracy.pointer import LEVELS
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import SPLITS

    spec, lv, bc = SPLITS["dev"][0], [LEVELS["clean"]], BenchConfig()
    monkeypatch.setattr(acc_main, "code_fingerprint", lambda root=None: a)
    ka = acc_main._result_key(spec, lv, bc)
    monkeypatch.setattr(acc_main, "code_fingerprint", lambda root=None: b)
    assert acc_main._result_key(spec, lv, bc) != ka


def test_runs_sharing_the_scene_cache_never_read_a_scene_being_written(tmp_path, monkeypatch) -> None:
    """Two runs generating the same scene at once (``--train-seeds 0`` and ``--train-seeds 1`` side by side):
    each gets the folder complete, with every file whole, and no temporary folder is left beside it."""
    import threading
    import time

    from benchmarks.accuracy import suite

    spec = suite.SUITE[0]
    started = threading.Barrier(2)

    def slow_generate(spec_, common_, out):
        out.mkdir(parents=True)
        started.wait(timeout=10)
        for i in range(5):
            (out / f"view_{i}.bin").write_bytes(b"\x01" * 1000)
            time.sleep(0.02)

    monkeypatch.setattr(suite, "_generate_scene", slow_generate)
    seen, errors = [], []

    def run():
        try:
            d, _ = suite.ensure_scene(spec, {}, tmp_path)
            seen.append(sorted((p.name, p.stat().st_size) for p in d.iterdir()))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    whole = sorted([(".complete", 3)] + [(f"view_{i}.bin", 1000) for i in range(5)])
    assert seen == [whole, whole]
    assert [p.name for p in tmp_path.rglob("*") if p.is_dir() and p.name.startswith(".")] == []
    assert suite.ensure_scene(spec, {}, tmp_path)[1] == 0.0  # cached


def test_listed_grasps_are_judged_in_order_with_the_parts_they_hit() -> None:
    """``python -m benchmarks.accuracy.listed``: each listed grasp's own labels beside the true-mesh verdict, and
    the parts inside a colliding grasp's boxes. A grasp pointing down at a bar (the target, between the pads) is
    ``Pm:TF1.00``; the same grasp with a wall through its +x finger is ``Pm:Tx1.00`` and names the wall there."""
    from benchmarks.accuracy.listed import code, judge_listed
    from point2act.grasp import GripperConfig
    from point2act.grasp.geometry import grasp_to_gripper_boxes

    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # approach straight down, closing along x
    g = {"position": [0.0, 0.0, 0.02], "rotation": R.tolist(), "width": 0.04, "on_target": True,
         "clears_margin": True}
    xs, ys, zs = np.meshgrid(np.linspace(-0.008, 0.008, 5), np.linspace(-0.008, 0.008, 5), np.linspace(0.025, 0.05, 6))
    bar = np.c_[xs.ravel(), ys.ravel(), zs.ravel()]
    finger = grasp_to_gripper_boxes(g, GripperConfig())["finger_pos_x"].center
    wall = finger + np.array([[0.0, 0.0, 0.0], [0.0, 0.002, 0.0], [0.0, -0.002, 0.004]])
    names = {1: "bar", 2: "wall"}
    clear = judge_listed([g], bar, np.ones(len(bar), int), 1, names, why=True)
    assert [code(r) for r in clear] == ["Pm:TF1.00"] and "hits" not in clear[0]
    pts = np.concatenate([bar, wall])
    labels = np.r_[np.ones(len(bar), int), np.full(len(wall), 2)]
    hit = judge_listed([g, dict(g, on_target=False, clears_margin=False)], pts, labels, 1, names, why=True)
    assert [code(r) for r in hit] == ["Pm:Tx1.00", "pt:Tx1.00"]
    assert hit[0]["hits"] == {"finger_pos_x": {"wall": 3}}


def test_seed_table_counts_holdable_hits_per_seed_with_the_worst(tmp_path):
    """``python -m benchmarks.accuracy.seeds``: per generator, level and training seed, the top grasps that are
    OK over point2act's runs that hit a holdable target (misses of the action point, targets beyond the hand and
    other methods do not count), pooled, median and worst seed, the missed scenes named; a file that is no
    results.json is an error naming it."""
    import json

    import pytest

    from benchmarks.accuracy import seeds

    def rec(scene, seed, ok, **kw):
        return {"method": "point2act", "generator": "synth", "level": "clean", "train_seed": seed, "scene": scene,
                "hit": True, "grasp_success": ok, "target_beyond_hand": False, **kw}

    s0 = [rec("a", 0, True), rec("b", 0, True), rec("c", 0, False), rec("d", 0, False, hit=False),
          rec("e", 0, False, target_beyond_hand=True), {**rec("a", 0, False), "method": "ransac"}]
    s1 = [rec("a", 1, True), rec("b", 1, False), rec("c", 1, False)]
    f0, f1 = tmp_path / "s0.json", tmp_path / "s1.json"
    f0.write_text(json.dumps({"records": s0}))
    f1.write_text(json.dumps({"records": s1}))
    counts = seeds.grasp_counts(s0 + s1)
    assert counts[("synth", "clean", 0)] == {"ok": 2, "runs": 3, "missed": ["c"]}
    assert counts[("synth", "clean", 1)] == {"ok": 1, "runs": 3, "missed": ["b", "c"]}
    out = tmp_path / "t.md"
    assert seeds.main([str(f0), str(f1), "--out", str(out)]) == 0
    row = out.read_text().splitlines()[2]
    assert row == "| synth | clean | 2 / 3 | 1 / 3 | 3 / 6 | 50 % | 33 % | c (s0), b (s1), c (s1) |"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit, match="bad.json: not a benchmark results.json"):
        seeds.main([str(bad)])


def test_same_records_ignores_timings_and_finds_a_changed_field(tmp_path, capsys):
    import json

    from benchmarks.accuracy.same_records import main

    rec = {"scene": "s", "level": "clean", "seed": 0, "method": "point2act", "hit": True, "export_s": 1.0}
    old, same, other = tmp_path / "old.json", tmp_path / "same.json", tmp_path / "other.json"
    old.write_text(json.dumps({"runs": [rec]}))
    same.write_text(json.dumps({"runs": [dict(rec, export_s=2.5)]}))
    other.write_text(json.dumps({"runs": [dict(rec, hit=False)]}))
    assert main([str(old), str(same)]) == 0
    assert main([str(old), str(other)]) == 1
    assert "['hit']" in capsys.readouterr().out
