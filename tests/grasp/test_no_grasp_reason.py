"""A "no grasp" says what blocks it: the planner's reason breaks the colliding candidates down by the check that
stopped them, and the export's advice names the scale or the training length only where they can be the cause."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

pytest.importorskip("scipy")

from point2act.export.grasps_json import TABLETOP_CAMERA_RANGE_M, _no_grasp_advice  # noqa: E402
from point2act.grasp import GraspConfig, PlanningScene, plan_grasps  # noqa: E402
from point2act.grasp.result import CANDIDATES_COLLIDE  # noqa: E402
from point2act.grasp.scoring import target_patch, what_blocks, why_none  # noqa: E402


def test_what_blocks_counts_each_candidate_at_its_first_failed_check():
    counts = {"closing_on_something": 10, "table_free": 8, "fingers_free": 3, "collision_free": 0, "support_slips": 1,
              "on_target_candidates": 4}
    text = what_blocks(counts)
    assert text.startswith("of the 10 that close on something, ")
    assert "2 reach into the support plane" in text
    assert "5 put a finger or the palm into occupied or unknown space beside the part" in text
    assert "2 hit the scene on their approach" in text
    assert "1 clear the scene but would slip" in text
    assert why_none(counts, 12).startswith(f"all 12 {CANDIDATES_COLLIDE}: of the 10")


def _wedge_on_table():
    """Two plates tilted 30 degrees outward on a table (tests/grasp/test_grasp.py's wedge): their faces lie beyond
    the friction cone's pairs near the top, and every pair lower down brings the gripper into the table."""
    rng = np.random.default_rng(0)
    n = 3000
    gap = 2 * 0.065 * math.tan(math.radians(30)) + 0.02
    table = np.c_[rng.uniform(-0.15, 0.15, (n, 2)), np.zeros(n)]
    s = rng.random((n, 2))
    zz = 0.005 + s[:, 1] * 0.06
    tb = math.tan(math.radians(30))
    left = np.c_[-gap / 2 + zz * tb, (s[:, 0] - 0.5) * 0.06, zz]
    right = np.c_[gap / 2 - zz * tb, (s[:, 0] - 0.5) * 0.06, zz]
    means = np.concatenate([table, left, right])
    rel = np.r_[np.zeros(n), np.ones(2 * n)]
    return PlanningScene(means, np.ones(len(means)), rel)


def test_the_planners_reason_adds_up_to_the_candidates_that_close():
    r = plan_grasps(_wedge_on_table(), GraspConfig())
    assert r.grasps == [] and CANDIDATES_COLLIDE in r.warning, r.warning
    k = r.counts["closing_on_something"]
    assert f"of the {k} that close on something" in r.warning
    numbers = [int(m) for m in re.findall(r"(?:; |something, )(\d+) ", r.warning)]
    assert sum(numbers) == k and len(numbers) >= 2, r.warning
    assert "support plane" in r.warning


class _Cfg:
    class gripper:  # noqa: N801  (a stand-in with the fields the advice reads)
        metres_per_unit = 1.0


def test_the_advice_names_the_scale_and_the_training_only_where_they_can_be_the_cause():
    collide = f"all 100 {CANDIDATES_COLLIDE}: of the 80 that close on something, 80 reach into the support plane"
    lo, hi = TABLETOP_CAMERA_RANGE_M
    inside = {"camera_distance": (lo + hi) / 2}
    assert _no_grasp_advice(collide, _Cfg, inside) == f"no grasps: {collide}"
    far = _no_grasp_advice(collide, _Cfg, {"camera_distance": 2 * hi})
    assert "--metres-per-unit" in far and "--max-num-iterations" not in far
    missing = "no contact pairs near the relevant region"
    assert "--max-num-iterations" in _no_grasp_advice(missing, _Cfg, inside)
    assert "--metres-per-unit" not in _no_grasp_advice(missing, _Cfg, inside)
    assert "check --metres-per-unit" in _no_grasp_advice(collide, _Cfg, {})
    # candidates that close on the parts around a marked patch: the surface is there, training longer is no cure
    held = why_none({"closing_on_something": 30, "on_target_candidates": 0}, 40,
                    target=target_patch(np.zeros((5, 3)), [0.0, 0.0, 1.0, 0.0], 1.0))
    assert "--max-num-iterations" not in _no_grasp_advice(held, _Cfg, inside)
    assert "--max-num-iterations" in _no_grasp_advice(why_none({}, 40), _Cfg, inside)  # nothing seen as a surface


def test_the_marked_patch_is_measured_along_the_support_plane():
    """A 6 x 2 cm rectangle of points on a tilted plane, turned 30 degrees in it: its narrowest and widest
    extent across the plane, whatever the tilt and the turn (the diagonal is the widest: 6.3 cm)."""
    rng = np.random.default_rng(0)
    uv = np.c_[rng.uniform(-3, 3, 2000), rng.uniform(-1, 1, 2000)] / 100.0
    uv[:4] = [[-0.03, -0.01], [0.03, 0.01], [-0.03, 0.01], [0.03, -0.01]]  # the corners
    t = np.radians(30)
    uv = uv @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    n = np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0])
    a = np.cross(n, [1.0, 0.0, 0.0]); a /= np.linalg.norm(a)
    pts = uv[:, :1] * a + uv[:, 1:] * np.cross(n, a) + 0.05 * n  # 5 cm above the plane
    text = target_patch(pts, [*n, 0.0], 1.0)
    lo, hi = (float(x) for x in re.search(r"([\d.]+) x ([\d.]+) cm", text).groups())
    assert text.startswith("the fused surface marked as the target is 2000 points")
    assert abs(lo - 2.0) <= 0.1 and abs(hi - 100 * math.hypot(0.06, 0.02)) <= 0.1, text
    assert target_patch(pts * 10, [*n, 0.0], 0.1) == text  # capture units at 10 cm each
    assert target_patch(None, [*n, 0.0], 1.0) is None and target_patch(pts, None, 1.0) is None
