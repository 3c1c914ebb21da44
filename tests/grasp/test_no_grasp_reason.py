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
from point2act.grasp.scoring import what_blocks, why_none  # noqa: E402


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
