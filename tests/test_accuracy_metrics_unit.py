"""Fast unit tests of the accuracy benchmark's metrics (benchmarks/accuracy/metrics.py): the weighted
median, the distance to a target's surface (zero inside a closed target), grasp collisions and
penetration against true surface points, the top grasp's verdict against labelled points, and the
bootstrap intervals (plain and clustered by scene) over the per-unit values."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy.metrics import (  # noqa: E402
    TargetSurface, bootstrap_ci, bootstrap_ci_clustered, grasp_collides, grasp_penetration, unit_values,
    weighted_median)


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


def test_a_target_of_intersecting_closed_pieces_is_solid_inside_each() -> None:
    # PyBullet's random_urdfs objects are unions of closed convex pieces that intersect: the union is no
    # watertight surface, and one ray-parity test over both pieces calls their overlap outside
    o3d = pytest.importorskip("open3d")
    a = o3d.geometry.TriangleMesh.create_box(0.04, 0.04, 0.04)
    b = o3d.geometry.TriangleMesh.create_box(0.04, 0.04, 0.04).translate((0.02, 0.02, 0.0))
    tri = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector([[0.2, 0, 0], [0.3, 0, 0], [0.2, 0.1, 0]]),
                                    o3d.utility.Vector3iVector([[0, 1, 2]]))  # an open piece far away
    u = a + b + tri
    v, f = np.asarray(u.vertices), np.asarray(u.triangles)
    m = o3d.geometry.TriangleMesh(u)
    assert not m.is_watertight()
    from point2act.synth.meshes import sample_mesh_points

    t = TargetSurface(sample_mesh_points(v, f, 3000, np.random.default_rng(0)), (v, f))
    assert t.closed
    for p in ([0.01, 0.01, 0.02], [0.05, 0.05, 0.02], [0.03, 0.03, 0.02]):  # in a, in b, in their overlap
        assert t.inside(p) and t.distance(p) == 0.0
    for p in ([0.01, 0.05, 0.02], [0.25, 0.02, 0.0005]):  # in neither box's corner gap; over the open triangle
        assert not t.inside(p)
    assert t.distance([0.01, 0.05, 0.02]) == pytest.approx(0.01, abs=2e-3)  # 1 cm from either box


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
