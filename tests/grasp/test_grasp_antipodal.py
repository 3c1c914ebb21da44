"""Antipodal contacts of the grasp head (point2act.grasp) in closed form: the friction cone's quality,
parallel plates grasped across, a wedge beyond the friction cone (an empty result with a reason), and
the support pairs that let a flat part lying on the table be grasped across it. numpy/scipy/open3d only."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("open3d")

from point2act.grasp import GraspConfig, PlanningScene, plan_grasps, validate_grasps_dict, write_json_atomic  # noqa: E402
from point2act.grasp.geometry import antipodal_quality  # noqa: E402


def test_friction_cone_closed_form():
    mu = 0.4
    half = math.atan(mu)
    p1, p2 = np.array([0.0, 0, 0]), np.array([0.03, 0, 0])
    n1 = np.array([-1.0, 0, 0])
    # parallel planes: perfectly antipodal
    ok, q = antipodal_quality(p1, n1, p2, np.array([1.0, 0, 0]), mu)
    assert ok and q == pytest.approx(1.0)
    # unsigned normals: flipping doesn't matter
    ok, q = antipodal_quality(p1, -n1, p2, np.array([-1.0, 0, 0]), mu)
    assert ok and q == pytest.approx(1.0)
    for beta in np.radians([5, 15, 21, 21.9, 25, 40, 80]):
        n2 = np.array([math.cos(beta), math.sin(beta), 0])
        ok, q = antipodal_quality(p1, n1, p2, n2, mu)
        if beta <= half:
            assert ok and q == pytest.approx(1 - beta / half)
        else:
            assert not ok and q == 0


def _plates_scene(gap, tilt_deg, rng, with_table=True):
    """Table + a 'wedge': two 6x6 cm plates, each tilted by tilt_deg from
    vertical, bottom edges gap apart (tilt 0 = parallel plates)."""
    nt = 12000 if with_table else 0
    table = np.c_[rng.uniform(-0.2, 0.2, (nt, 2)), np.zeros(nt)]
    s = rng.uniform(0, 1, (3000, 2))
    tb = math.tan(math.radians(tilt_deg))
    h = 0.06
    zz = 0.005 + s[:, 1] * h
    left = np.c_[-gap / 2 + zz * tb, (s[:, 0] - 0.5) * 0.06, zz]
    right = np.c_[gap / 2 - zz * tb, (s[:, 0] - 0.5) * 0.06, zz]
    means = np.concatenate([table, left, right])
    rel = np.r_[np.zeros(len(table)), np.ones(len(left) + len(right))]
    return means, np.ones(len(means)), rel


def test_planner_on_parallel_plates_is_antipodal():
    means, op, rel = _plates_scene(0.03, 0.0, np.random.default_rng(0))
    r = plan_grasps(PlanningScene(means, op, rel), GraspConfig())
    assert r.grasps, r.warning
    g = r.grasps[0]
    assert g.geometric_score > 0.9
    assert abs(g.rotation[0, 0]) > 0.99  # closes along x, across the plates
    assert g.contact_width == pytest.approx(0.03, abs=0.003)


def test_wedge_beyond_friction_cone_gives_empty_result(tmp_path):
    # each face tilted 30 deg > atan(0.4) = 21.8 deg: no antipodal pair exists
    # (top edges 2 cm apart, bottom edges 9.5 cm apart)
    gap = 2 * 0.065 * math.tan(math.radians(30)) + 0.02
    means, op, rel = _plates_scene(gap, 30.0, np.random.default_rng(0), with_table=False)
    r = plan_grasps(PlanningScene(means, op, rel), GraspConfig())
    assert r.grasps == [] and "antipodal" in r.warning
    assert r.counts["contact_pairs"] == 0
    d = r.to_dict()
    assert d["grasps"] == [] and d["warning"]
    validate_grasps_dict(d)
    write_json_atomic(tmp_path / "g.json", d)
    # with enough friction (atan(0.8) = 38.7 deg > 30 deg) antipodal pairs exist
    # (every pose still collides: the wedge flares out below the contacts and
    # the palm hits the plates from below), again an empty result with a reason
    r2 = plan_grasps(PlanningScene(means, op, rel), GraspConfig(friction_coef=0.8))
    assert r2.counts["contact_pairs"] > 0
    assert r2.grasps or "collide" in r2.warning
    # on a table, the pairs near the bottom edges (normals blurred by the table)
    # are not graspable: still an empty result with a reason, not a crash
    r3 = plan_grasps(PlanningScene(*_plates_scene(gap, 30.0, np.random.default_rng(0))), GraspConfig())
    assert r3.grasps == [] and r3.warning


def test_flat_part_lying_on_the_table_gets_support_pairs():
    """A part lying on the table seen only from above (a 2.5 x 6 cm plate 8 mm tall: its top face, no side
    points, as the fused surface of a scissors loop): no two surface points are antipodal, but a closing line
    parallel to the table crosses it (candidates.support_pairs). The top grasp closes across the plate, parallel
    to the table, on the target, its contacts the plate's two ends across the line (contacts_seen false)."""
    rng = np.random.default_rng(0)
    table = np.c_[rng.uniform(-0.2, 0.2, (12000, 2)), np.zeros(12000)]
    top = np.c_[rng.uniform(-0.0125, 0.0125, 3000), rng.uniform(-0.03, 0.03, 3000), np.full(3000, 0.008)]
    means = np.concatenate([table, top])
    rel = np.r_[np.zeros(len(table)), np.ones(len(top))]
    r = plan_grasps(PlanningScene(means, np.ones(len(means)), rel), GraspConfig())
    assert r.counts["contact_pairs"] == 0 and r.counts["support_pairs"] > 0
    assert r.grasps and r.grasps[0].on_target, r.warning
    g = r.grasps[0]
    assert g.contacts_seen is False and g.to_dict(1.0)["contacts_seen"] is False
    x = g.rotation[:, 0]
    assert abs(x[2]) < 1e-6  # parallel to the table
    assert abs(x[0]) > 0.8  # across the plate's 2.5 cm, not along its 6 cm
    assert g.contact_width == pytest.approx(0.025, abs=0.006)
    assert np.ptp(g.contacts[:, 0]) == pytest.approx(g.contact_width, rel=0.3)


def test_support_pairs_lie_parallel_to_the_plane_through_their_seeds():
    from point2act.grasp.candidates import support_pairs

    n = np.array([0.2, -0.3, 0.9])
    plane = np.r_[n / np.linalg.norm(n), 0.1]
    seeds = np.random.default_rng(1).normal(size=(5, 3))
    pa, pb = support_pairs(seeds, plane, 0.002)
    assert pa.shape == pb.shape == (5 * 6, 3)
    d = pb - pa
    assert np.allclose(np.linalg.norm(d, axis=1), 0.004)
    assert np.allclose(d @ plane[:3], 0.0, atol=1e-12)
    assert np.allclose(0.5 * (pa + pb), np.repeat(seeds, 6, 0))
    ax = d[:6] / 0.004  # one seed's six axes, 30 degrees apart
    ang = np.degrees(np.arccos(np.clip(np.abs(ax @ ax[0]), 0, 1)))
    assert np.allclose(np.sort(ang), [0, 30, 30, 60, 60, 90], atol=1e-6)
