"""The accuracy benchmark (benchmarks/accuracy): error models, baselines, metrics, and a short
end-to-end run of the CI subset (slow)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy.baselines import (  # noqa: E402
    lift_single_view,
    pixel_ray,
    ransac_triangulate,
    triangulate,
)
from benchmarks.accuracy.metrics import (  # noqa: E402
    TargetSurface,
    grasp_collides,
    grasp_penetration,
    weighted_median,
)
from benchmarks.accuracy.pointer import ErrorModel, ViewInfo, answer, simulate  # noqa: E402
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
    from point2act.synth.scene import sample_mesh_points

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
    from point2act.synth.scene import load_mug_mesh

    m = load_mug_mesh(str(ACRONYM_MUG), ACRONYM_SCALE)
    hv, bv = m["handle"][0], m["body"][0]
    assert 0.035 < m["body_radius"] < 0.041 and 0.09 < m["height"] < 0.11  # an 8 cm mug, 10 cm tall
    assert hv[:, 0].min() > 0.03 and np.abs(hv[:, 1]).max() < 0.01  # the handle points along +x, thin in y
    assert 50 < len(m["handle"][1]) < len(m["body"][1])


# ------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_quick_subset_point2act_no_worse_than_single_view(tmp_path: Path) -> None:
    """The CI subset: 2 scenes, 20 % outliers, short geometry runs. Loose sanity only."""
    pytest.importorskip("open3d")
    from benchmarks.accuracy.__main__ import run
    from benchmarks.accuracy.pointer import LEVELS
    from benchmarks.accuracy.report import summarise
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import QUICK, SUITE

    bc = BenchConfig(width=128, height=96, num_views=10, num_seed_points=3000, iterations=200, seeds=(0,),
                     grasps=False, cache_root=tmp_path / "cache")
    scenes = [s for s in SUITE if s.name in QUICK]
    out = run(scenes, [LEVELS["out20"]], bc, tmp_path / "out", log=lambda *a: None)
    recs = out["records"]
    p2a, single = summarise(recs, "out20", "point2act"), summarise(recs, "out20", "single_view")
    assert p2a["n"] == 2 and single["n"] == 2
    assert p2a["hit"] >= single["hit"] - 1e-9, (p2a, single)
    assert (tmp_path / "out" / "accuracy.md").is_file() and (tmp_path / "out" / "results.json").is_file()
