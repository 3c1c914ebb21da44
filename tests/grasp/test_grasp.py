"""Tests for point2act.grasp (the grasp head): the region, the surface, the planner and the judge on a
tabletop scene, the gripper config and units, quaternions, a light import, random scenes. The antipodal
closed forms are tests/grasp/test_grasp_antipodal.py. numpy/scipy/open3d only; < 30 s."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow plain `pytest` without an installed package
    sys.path.insert(0, str(ROOT))

pytest.importorskip("scipy")
pytest.importorskip("open3d")

from point2act.grasp import (  # noqa: E402
    SCHEMA,
    FusedSurface,
    GraspConfig,
    GripperConfig,
    PlanningScene,
    grasp_to_gripper_boxes,
    plan_grasps,
    relevant_region,
    scene_points,
    validate_grasps_dict,
    write_json_atomic,
)
from point2act.grasp.config import NMS_ANGLE_DEG  # noqa: E402
from point2act.grasp.geometry import (  # noqa: E402
    points_in_box,
    quaternion_wxyz_to_rotation,
    rotation_to_quaternion_wxyz,
)
from point2act.grasp.scoring import nms  # noqa: E402
from point2act.grasp.region import dbscan  # noqa: E402
from point2act.grasp.synthetic import LABELS, tabletop_scene  # noqa: E402
from closed_forms import quat_to_matrix_closed_form  # noqa: E402  (tests/closed_forms.py)




def check_grasp_dict_invariants(d, max_opening):
    validate_grasps_dict(d)
    # best first as documented (docs/grasps-json.md): the on-target grasps, then the others; in each, those whose
    # pads touch both contacts first, then those whose contacts the views saw; then by score
    keys = [(bool(g.get("on_target", True)), bool(g.get("both_pads_touch", True)), bool(g.get("contacts_seen", True)),
             g["score"]) for g in d["grasps"]]
    assert keys == sorted(keys, reverse=True)
    for g in d["grasps"]:
        R = np.asarray(g["rotation"])
        assert np.all(np.isfinite(R)) and np.all(np.isfinite(g["position"]))
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-6)
        assert abs(np.linalg.det(R) - 1) < 1e-6
        assert np.allclose(quat_to_matrix_closed_form(g["quaternion_wxyz"]), R, atol=1e-6)
        assert 0 < g["width"] <= max_opening + 1e-12
        for k in ("score", "semantic_score", "geometric_score"):
            assert 0.0 <= g[k] <= 1.0


@pytest.fixture(scope="module")
def scene():
    return tabletop_scene(seed=0)


@pytest.fixture(scope="module")
def result(scene):
    return plan_grasps(
        PlanningScene(scene["means"], scene["opacities"], scene["relevancy"],
                      camera_centers=scene["camera_centers"], scales=scene["scales"]),
        GraspConfig(),
    )


def solid_points(scene):
    """Ground-truth opaque surface points (no floaters)."""
    return scene["means"][scene["labels"] != LABELS["floater"]], scene["labels"][scene["labels"] != LABELS["floater"]]


# ---------------------------------------------------------------- region


def test_region_is_the_handle(scene):
    reg = relevant_region(scene["means"], scene["opacities"], scene["relevancy"], GraspConfig())
    # the action point (density peak) is on the handle's tube, not in the loop's empty middle
    q = reg.action_point - scene["handle_center"]
    assert math.hypot(math.hypot(q[0], q[2]) - scene["handle_R"], q[1]) < scene["handle_r"] + 0.003
    from point2act.grasp.config import RegionConfig

    cen = relevant_region(scene["means"], scene["opacities"], scene["relevancy"],
                          GraspConfig(region=RegionConfig(action_point="centroid")))
    assert np.linalg.norm(cen.action_point - scene["handle_centroid"]) < 0.01
    labels = scene["labels"][reg.indices]
    assert np.mean(labels == LABELS["handle"]) > 0.95
    assert reg.num_gaussians == len(reg.indices)
    assert reg.num_gaussians >= 0.9 * np.sum(scene["labels"] == LABELS["handle"])
    assert np.all(reg.extent > 0) and np.all(reg.extent < 0.1)


def test_region_keeps_the_cluster_with_most_mass():
    rng = np.random.default_rng(1)
    a = rng.normal([0, 0, 0], 0.003, (400, 3))  # big, relevant
    b = rng.normal([0.2, 0, 0], 0.003, (50, 3))  # small, a bit more relevant each
    means = np.concatenate([a, b])
    rel = np.r_[np.full(400, 0.8), np.full(50, 1.0)]
    reg = relevant_region(means, np.ones(450), rel, GraspConfig())
    assert reg.num_clusters == 2
    assert set(reg.indices) == set(range(400))
    assert np.linalg.norm(reg.action_point) < 0.002


def test_no_relevancy_raises(scene):
    with pytest.raises(ValueError, match="no relevancy above threshold"):
        relevant_region(scene["means"], scene["opacities"], np.zeros(len(scene["means"])), GraspConfig())
    with pytest.raises(ValueError, match="no relevancy above threshold"):
        plan_grasps(PlanningScene(scene["means"], scene["opacities"], np.full(len(scene["means"]), 0.01)))


@pytest.mark.parametrize("seed,eps,k", [(3, 0.02, 5), (4, 0.015, 8), (5, 0.03, 3)])
def test_dbscan_matches_sklearn_partition(seed, eps, k):
    from sklearn.cluster import DBSCAN

    rng = np.random.default_rng(seed)
    pts = np.concatenate([rng.normal(c, 0.01, (120, 3)) for c in ([0, 0, 0], [0.2, 0, 0], [0, 0.3, 0])]
                         + [rng.uniform(-0.5, 0.5, (30, 3))])
    ours = dbscan(pts, eps, k)
    theirs = DBSCAN(eps=eps, min_samples=k).fit(pts).labels_
    # core/noise decisions agree; clusters are the same partition of non-noise points
    assert np.array_equal(ours == -1, theirs == -1)
    m = ours >= 0
    pairs = {(a, b) for a, b in zip(ours[m], theirs[m])}
    assert len(pairs) == len(set(ours[m])) == len(set(theirs[m]))


# ---------------------------------------------------------------- surface


def test_scene_points_normals_and_extra_points(scene):
    pts, nrm = scene_points(scene["means"], scene["opacities"], cfg=GraspConfig(),
                            camera_centers=scene["camera_centers"])
    assert pts.shape == nrm.shape and len(pts) > 1000
    assert np.allclose(np.linalg.norm(nrm, axis=1), 1, atol=1e-6)
    # table normals point up (towards the cameras)
    table = np.abs(pts[:, 2]) < 0.001
    table &= np.hypot(pts[:, 0], pts[:, 1]) > 0.1
    assert np.mean(nrm[table, 2] > 0.95) > 0.95
    # floaters (low opacity) are not surface points
    fl = scene["labels"] == LABELS["floater"]
    p_fl, _ = scene_points(scene["means"][fl], scene["opacities"][fl], cfg=GraspConfig())
    assert len(p_fl) == 0
    # huge splats are dropped when scales are given
    big = np.full((len(scene["means"]), 3), 0.2)
    p_big, _ = scene_points(scene["means"], scene["opacities"], scales=big, cfg=GraspConfig())
    assert len(p_big) == 0
    extra = np.c_[np.zeros(50), np.zeros(50), np.linspace(0.3, 0.35, 50)]
    pts2, _ = scene_points(scene["means"], scene["opacities"], fused=FusedSurface(extra), cfg=GraspConfig())
    assert np.sum(pts2[:, 2] > 0.29) > 10 and np.sum(pts[:, 2] > 0.29) == 0


# ---------------------------------------------------------------- planner


def test_top_grasp_closes_on_handle_and_is_collision_free(scene, result):
    assert result.warning is None and len(result.grasps) >= 5  # every approach from the pre-grasp pose is checked
    pts, labels = solid_points(scene)
    gcfg = GripperConfig()
    for rank, g in enumerate(result.grasps[:3]):
        boxes = grasp_to_gripper_boxes(g, gcfg)
        # independent collision check against every ground-truth surface point
        for name, box in boxes.items():
            assert not np.any(points_in_box(pts, box, tol=0.001)), f"grasp {rank}: {name} collides"
            assert box.corners()[:, 2].min() >= -0.001, f"grasp {rank}: {name} below the table"
        # closing region = the box between the fingers
        z = g.rotation[:, 2]
        from point2act.grasp.geometry import Box

        closing = Box(center=g.position - z * gcfg.finger_length / 2,
                      half_extents=np.array([g.opening / 2, gcfg.finger_width / 2, gcfg.finger_length / 2]),
                      rotation=g.rotation)
        inside = points_in_box(pts, closing)
        assert inside.sum() >= 10
        assert np.mean(labels[inside] == LABELS["handle"]) > 0.8
        # centred on the handle: the contact midpoint is on the handle's tube
        mid = g.contacts.mean(0)
        hc, R, r = scene["handle_center"], scene["handle_R"], scene["handle_r"]
        q = mid - hc
        ring = math.hypot(q[0], q[2])
        tube_dist = math.hypot(ring - R, q[1])
        assert tube_dist < r + 0.003
        assert g.opening <= gcfg.max_opening


def test_grasp_invariants_and_schema(result, tmp_path):
    d = result.to_dict(prompt="pick up the mug by its handle")
    assert d["schema"] == SCHEMA and d["frame"] == "capture" and d["prompt"].startswith("pick")
    check_grasp_dict_invariants(d, GripperConfig().max_opening)
    assert set(d["region"]) == {"center", "extent", "num_gaussians"}
    assert d["metres_per_unit"] == 1.0 and d["gripper"]["max_opening"] == 0.08
    assert set(d["timings_ms"]) >= {"region", "surface", "candidates", "collision", "scoring", "total"}
    p = write_json_atomic(tmp_path / "out" / "grasps.json", d)
    back = json.loads(p.read_text())
    assert back == json.loads(json.dumps(d))
    assert not [f for f in os.listdir(p.parent) if f.endswith(".tmp")]
    # json boxes equal object boxes
    b1 = grasp_to_gripper_boxes(result.grasps[0], GripperConfig())
    b2 = grasp_to_gripper_boxes(d["grasps"][0], GripperConfig())
    for k in b1:
        assert np.allclose(b1[k].center, b2[k].center) and np.allclose(b1[k].half_extents, b2[k].half_extents)
    # the fingers are opening + thickness apart along x
    g = result.grasps[0]
    sep = b1["finger_pos_x"].center - b1["finger_neg_x"].center
    assert np.allclose(sep, g.rotation[:, 0] * (g.opening + GripperConfig().finger_thickness))


def test_validator_rejects_bad_documents(result):
    d = result.to_dict()
    bad = json.loads(json.dumps(d))
    bad["grasps"][0]["rotation"][0][0] += 0.1
    with pytest.raises(ValueError, match="rotation"):
        validate_grasps_dict(bad)
    bad = json.loads(json.dumps(d))
    bad["grasps"][0]["width"] = 0.2
    with pytest.raises(ValueError, match="width"):
        validate_grasps_dict(bad)
    bad = json.loads(json.dumps(d))
    bad["grasps"] = bad["grasps"][::-1]
    with pytest.raises(ValueError, match="sorted"):
        validate_grasps_dict(bad)
    bad = json.loads(json.dumps(d))
    bad["grasps"] = []
    with pytest.raises(ValueError, match="warning"):
        validate_grasps_dict(bad)
    bad = json.loads(json.dumps(d))
    assert bad["grasps"][0]["clears_margin"] is True
    bad["grasps"][0]["clears_margin"] = "yes"
    with pytest.raises(ValueError, match="clears_margin"):
        validate_grasps_dict(bad)
    # within one on_target group, a grasp whose pads touch both contacts comes before one whose pads do not,
    # whatever their scores
    two = json.loads(json.dumps(d))
    two["grasps"] = two["grasps"][:2]
    for g in two["grasps"]:
        g["on_target"] = True
    two["grasps"][0]["both_pads_touch"], two["grasps"][1]["both_pads_touch"] = True, False
    two["grasps"][1]["score"] = two["grasps"][0]["score"] + 0.1
    validate_grasps_dict(two)
    two["grasps"] = two["grasps"][::-1]
    with pytest.raises(ValueError, match="both_pads_touch"):
        validate_grasps_dict(two)
    # and within one on_target and both_pads_touch group, a grasp whose contacts the views saw comes first
    for g in two["grasps"]:
        g["both_pads_touch"] = True
    two["grasps"][0]["contacts_seen"], two["grasps"][1]["contacts_seen"] = True, False
    two["grasps"][1]["score"] = two["grasps"][0]["score"] + 0.1
    validate_grasps_dict(two)
    two["grasps"] = two["grasps"][::-1]
    with pytest.raises(ValueError, match="contacts_seen"):
        validate_grasps_dict(two)
    two["grasps"][0]["contacts_seen"] = "no"
    with pytest.raises(ValueError, match="contacts_seen must be true or false"):
        validate_grasps_dict(two)


def test_non_finite_inputs_are_ignored(scene, result):
    means, rel, op = scene["means"].copy(), scene["relevancy"].copy(), scene["opacities"].copy()
    means[::97] = np.nan
    rel[5::101] = np.nan
    op[7::89] = np.inf
    r = plan_grasps(PlanningScene(means, op, rel, camera_centers=scene["camera_centers"]), GraspConfig())
    assert r.grasps
    check_grasp_dict_invariants(r.to_dict(), GripperConfig().max_opening)
    assert np.all(np.isfinite(r.region.action_point))
    assert np.linalg.norm(r.region.action_point - result.region.action_point) < 0.005


def test_results_are_deterministic(scene, result):
    again = plan_grasps(PlanningScene(scene["means"], scene["opacities"], scene["relevancy"],
                                      camera_centers=scene["camera_centers"], scales=scene["scales"]), GraspConfig())
    assert [g.score for g in again.grasps] == [g.score for g in result.grasps]
    assert np.array_equal(again.grasps[0].position, result.grasps[0].position)


def test_nms_removes_near_duplicates(result):
    R0 = np.eye(3)
    flip = np.diag([-1.0, -1.0, 1.0])  # fingers swapped: same grasp
    small = np.array([[1, 0, 0], [0, math.cos(0.1), -math.sin(0.1)], [0, math.sin(0.1), math.cos(0.1)]])
    big = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])  # 90 deg about x
    pos = np.array([[0, 0, 0], [0.002, 0, 0], [0, 0.003, 0], [0.001, 0, 0], [0.5, 0, 0]], float)
    rots = np.stack([R0, R0 @ flip, R0 @ small, big, R0])
    scores = np.array([0.9, 0.95, 0.8, 0.7, 0.1])
    kept = nms(pos, rots, scores, distance=0.01, angle_rad=math.radians(30), top_k=10)
    assert list(kept) == [1, 3, 4]
    assert list(nms(pos, rots, scores, 0.01, math.radians(30), top_k=2)) == [1, 3]
    # and the planner's output has no near duplicates
    cfg = GraspConfig()
    gs = result.grasps
    for i in range(len(gs)):
        for j in range(i):
            close = np.linalg.norm(gs[i].position - gs[j].position) < cfg.nms_distance
            M = gs[j].rotation.T @ gs[i].rotation
            c = max(np.trace(M), np.trace(M @ flip))
            assert not (close and (c - 1) / 2 > math.cos(math.radians(NMS_ANGLE_DEG)))


# ---------------------------------------------------------------- gripper config & units


def test_gripper_from_json(tmp_path):
    full = GripperConfig().to_dict()
    p = tmp_path / "panda.json"
    p.write_text(json.dumps(full))
    assert GripperConfig.from_json(p) == GripperConfig()
    partial = dict(full)
    del partial["finger_length"], partial["metres_per_unit"]
    p2 = tmp_path / "broken_gripper.json"
    p2.write_text(json.dumps(partial))
    with pytest.raises(ValueError) as e:
        GripperConfig.from_json(p2)
    assert "broken_gripper.json" in str(e.value) and "finger_length" in str(e.value)
    assert "metres_per_unit" not in str(e.value).split("missing")[1].split("(")[0]
    p3 = tmp_path / "typo.json"
    p3.write_text(json.dumps({**full, "max_openning": 0.1}))
    with pytest.raises(ValueError, match="max_openning"):
        GripperConfig.from_json(p3)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        GripperConfig.from_json(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="max_opening"):
        GripperConfig(max_opening=-1)


def test_metres_per_unit_scaling(scene, result):
    s = 10.0
    cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=1 / s))
    r = plan_grasps(PlanningScene(scene["means"] * s, scene["opacities"], scene["relevancy"],
                                  camera_centers=scene["camera_centers"] * s, scales=scene["scales"] * s), cfg)
    assert len(r.grasps) == len(result.grasps)
    np.testing.assert_allclose(r.region.action_point, result.region.action_point * s, rtol=1e-9, atol=1e-9)
    for a, b in zip(r.grasps, result.grasps):
        np.testing.assert_allclose(a.position, b.position * s, atol=1e-6)
        np.testing.assert_allclose(a.rotation, b.rotation, atol=1e-6)
        assert a.opening == pytest.approx(b.opening * s)
        assert a.score == pytest.approx(b.score)
    da, db = r.to_dict(), result.to_dict()
    assert da["metres_per_unit"] == pytest.approx(0.1)
    for ga, gb in zip(da["grasps"], db["grasps"]):
        assert ga["width"] == pytest.approx(gb["width"])  # metres, unchanged
        assert ga["width_capture_units"] == pytest.approx(10 * gb["width_capture_units"])
    # boxes scale with the scene
    ba = grasp_to_gripper_boxes(r.grasps[0], cfg.gripper)["palm"]
    bb = grasp_to_gripper_boxes(result.grasps[0], GripperConfig())["palm"]
    np.testing.assert_allclose(ba.half_extents, bb.half_extents * s)


# ---------------------------------------------------------------- quaternions & import


def test_quaternion_closed_form_random_rotations():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    R = np.stack([quat_to_matrix_closed_form(qq) for qq in q])
    q2 = rotation_to_quaternion_wxyz(R)
    assert np.all(q2[:, 0] >= 0)
    assert np.allclose(np.abs(np.sum(q2 * q, axis=1)), 1, atol=1e-9)
    assert np.allclose(quaternion_wxyz_to_rotation(q2), R, atol=1e-9)
    # 180 degree rotations (w = 0) are handled
    for Rm in (np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])):
        assert np.allclose(quat_to_matrix_closed_form(rotation_to_quaternion_wxyz(Rm)), Rm)


def test_import_is_light():
    code = ("import sys, point2act.grasp as g; "
            "bad=[m for m in ('open3d','torch','nerfstudio','scipy') if m in sys.modules]; "
            "assert not bad, bad; g.GraspConfig(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------- property-based


def test_property_random_scenes():
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 2**31 - 1), n=st.integers(20, 3000), spread=st.floats(0.005, 0.5),
           mpu=st.sampled_from([1.0, 0.1, 2.0]), hot=st.floats(0.0, 1.0))
    def run(seed, n, spread, mpu, hot):
        rng = np.random.default_rng(seed)
        kind = seed % 3
        if kind == 0:
            means = rng.normal(0, spread, (n, 3))
        elif kind == 1:  # points on a sphere
            v = rng.normal(size=(n, 3))
            means = spread * v / np.linalg.norm(v, axis=1, keepdims=True)
        else:  # a table and a cube
            means = np.c_[rng.uniform(-spread, spread, (n, 2)), np.zeros(n)]
            means[: n // 3] = rng.uniform(0, min(spread, 0.05), (n // 3, 3))
        means /= mpu
        op = rng.uniform(0, 1, n)
        rel = rng.uniform(0, 1, n) * hot
        cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=mpu), num_candidates=64, seed=seed % 1000)
        try:
            r = plan_grasps(PlanningScene(means, op, rel), cfg)
        except ValueError as e:
            assert "relevancy" in str(e) or "opacity" in str(e)
            return
        d = r.to_dict()
        check_grasp_dict_invariants(d, cfg.gripper.max_opening)
        assert np.all(np.isfinite(r.region.action_point))
        if not d["grasps"]:
            assert d["warning"]

    run()


def test_judge_grasp_matches_independent_checks(scene, result):
    """point2act.grasp.evaluate.judge_grasp: the top grasps (checked by hand above) pass; the same
    grasp pushed 3 cm along its approach axis drives the palm into the handle/mug and fails; a grasp
    lowered under the table fails the table check; a target the closing region misses is off-target."""
    from point2act.grasp.evaluate import GroundTruth, judge_grasp

    pts, labels = solid_points(scene)
    gcfg = GripperConfig()
    g = result.grasps[0].to_dict(1.0)
    v = judge_grasp(g, gcfg, GroundTruth(pts, labels, table_z=0.0), LABELS["handle"])
    assert v.on_target and v.collision_free and v.target_fraction > 0.8 and v.closing_points >= 10
    z = np.asarray(g["rotation"])[:, 2]
    pushed = dict(g, position=(np.asarray(g["position"]) + 0.03 * z).tolist())
    vp = judge_grasp(pushed, gcfg, GroundTruth(pts, labels, table_z=0.0), LABELS["handle"])
    assert not vp.collision_free and sum(vp.colliding_points.values()) > 0
    low = dict(g, position=(np.asarray(g["position"]) - np.array([0, 0, 1.0])).tolist())
    vl = judge_grasp(low, gcfg, GroundTruth(pts, labels, table_z=0.0), LABELS["handle"])
    assert not vl.collision_free and vl.closing_points == 0 and not vl.on_target
    assert not judge_grasp(g, gcfg, GroundTruth(pts, labels, table_z=0.0), LABELS["box"]).on_target


def test_action_point_peak_stays_on_a_ring():
    """A relevant ring (a mug rim): the weighted centroid is the empty centre, 4 cm from any point;
    the density peak is a point of the ring. A denser arc on the ring pulls the peak onto it."""
    from point2act.grasp.config import RegionConfig
    from point2act.grasp.region import density_peak, relevant_region

    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    ring = np.stack([0.04 * np.cos(t), 0.04 * np.sin(t), np.full_like(t, 0.1)], 1)
    rel = np.full(len(t), 0.9)
    rel[(t > 1.0) & (t < 1.3)] = 1.0  # the most relevant arc
    opac = np.ones(len(t))
    cfg_c = GraspConfig(region=RegionConfig(action_point="centroid"))
    r_c = relevant_region(ring, opac, rel, cfg_c)
    assert np.min(np.linalg.norm(ring - r_c.action_point, axis=1)) > 0.035
    r_p = relevant_region(ring, opac, rel, GraspConfig())
    assert np.min(np.linalg.norm(ring - r_p.action_point, axis=1)) < 1e-12  # a Gaussian centre
    ang = np.arctan2(r_p.action_point[1], r_p.action_point[0])
    assert 1.0 < ang < 1.3
    # closed form: uniform weights on a line, radius 5.5 spacings -> only the middle point reaches all 10 others
    line = np.stack([np.arange(11) * 0.001, np.zeros(11), np.zeros(11)], 1)
    np.testing.assert_allclose(density_peak(line, np.ones(11), 0.0055), [0.005, 0, 0])
    with pytest.raises(ValueError, match="action_point"):
        relevant_region(ring, opac, rel, GraspConfig(region=RegionConfig(action_point="mean")))


@pytest.mark.parametrize("tol", [0.0, 0.004, -0.003])
def test_points_in_box_is_the_convex_hull_of_its_corners(tol: float) -> None:
    """points_in_box (the judge's membership test) against an independent definition: inside the convex hull
    of the box's 8 corners (scipy's Delaunay), the box shrunk by ``tol`` (grown where negative)."""
    from scipy.spatial import Delaunay
    from scipy.spatial.transform import Rotation

    from point2act.grasp.geometry import Box

    rng = np.random.default_rng(3)
    R = Rotation.random(random_state=4).as_matrix()
    box = Box(center=np.array([0.02, -0.01, 0.05]), half_extents=np.array([0.01, 0.02, 0.03]), rotation=R)
    pts = box.center + rng.uniform(-0.05, 0.05, (20000, 3))
    got = points_in_box(pts, box, tol=tol)
    hull = Box(center=box.center, half_extents=box.half_extents - tol, rotation=R)
    want = Delaunay(hull.corners()).find_simplex(pts) >= 0
    # away from the faces (where the two definitions' last bits may differ)
    face = np.min(np.abs(np.abs((pts - box.center) @ R) - (box.half_extents - tol)), axis=1) > 1e-9
    assert 50 < got.sum() < len(pts) and np.array_equal(got[face], want[face])
    assert points_in_box(pts.reshape(100, 200, 3), box, tol=tol).reshape(-1).tolist() == got.tolist()


def test_judge_grasp_crop_changes_no_verdict(scene, result, monkeypatch):
    """judge_grasp counts points only near the grasp (``_near``): every count and verdict is the one over all
    the points, for the top grasps and for each moved and turned far enough that points sit at the crop's edge."""
    import point2act.grasp.evaluate as ev

    pts, labels = solid_points(scene)
    gcfg = GripperConfig()
    rng = np.random.default_rng(0)
    grasps = []
    for gr in result.grasps[:4]:
        g = gr.to_dict(1.0)
        for _ in range(6):
            R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
            R *= np.sign(np.linalg.det(R))
            grasps.append(dict(g, position=(np.asarray(g["position"]) + rng.normal(0, 0.03, 3)).tolist(),
                               rotation=R.tolist()))
        grasps.append(g)
    truth = ev.GroundTruth(pts, labels, table_z=0.0)
    cropped = [ev.judge_grasp(g, gcfg, truth, LABELS["handle"]) for g in grasps]
    assert any(not ev._near(g, gcfg, pts, 0.001).all() for g in grasps)
    monkeypatch.setattr(ev, "_near", lambda g, gripper, points, tol: np.ones(len(points), dtype=bool))
    truth = ev.GroundTruth(pts, labels, table_z=0.0)
    whole = [ev.judge_grasp(g, gcfg, truth, LABELS["handle"]) for g in grasps]
    assert [v.to_dict() for v in cropped] == [v.to_dict() for v in whole]
    assert sum(sum(v.colliding_points.values()) > 0 for v in whole) >= 3  # the check reaches contacts
