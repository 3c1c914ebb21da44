"""benchmarks.accuracy.replay: the consensus replayed on stored inputs, and the comparison of two rules."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.accuracy.metrics import TargetSurface
from benchmarks.accuracy.replay import diff, evaluate
from point2act.geometry import FrameTransform
from point2act.where.consensus import ViewAnswers

sys.path.insert(0, str(Path(__file__).resolve().parent / "where"))
from test_consensus import SIGMA, K, look_at, plane_depth, proj  # noqa: E402  (the plane seen from a ring)


def _record(answer, target, scale=1.0):
    views = []
    for k, a in enumerate(np.linspace(0, 2 * np.pi, 8, endpoint=False)):
        vm = look_at((np.cos(a), np.sin(a), 0.8))
        views.append(ViewAnswers(vm, K, proj(vm, answer)[None], SIGMA, plane_depth(vm), view_id=k))
    pts = np.asarray(target, dtype=np.float64) + 0.002 * np.random.default_rng(0).normal(size=(50, 3))
    frame = FrameTransform(np.eye(4)[:3], scale)
    return {"scene": "s", "generator": "g", "split": "test", "train_seed": 0, "level": "clean_s0",
            "views": views, "frame": frame, "target": TargetSurface(pts)}


def test_evaluate_scores_the_consensus_with_the_benchmarks_metric():
    """Answers at the target: a hit; the same answers judged against a target 10 cm away: a miss of 10 cm.
    The frame's scale is undone (nerfstudio units -> capture units)."""
    X = np.array([0.05, -0.02, 0.0])
    hit, miss = evaluate([_record(X, X[None]), _record(X, (X + [0.1, 0, 0])[None])])
    assert hit["hit"] and hit["top2_hit"] and hit["error_m"] < 0.005
    assert not miss["hit"] and abs(miss["error_m"] - 0.1) < 0.01
    half = evaluate([_record(X, (2 * X)[None], scale=0.5)])[0]  # capture = ns / 0.5
    assert half["hit"], half


def test_diff_counts_hits_and_lists_moved_runs():
    row = {"generator": "g", "split": "test", "level": "clean", "confidence": 1.0, "top2_hit": True}
    a = [dict(row, run="r1", hit=True, error_m=0.001, point=[0, 0, 0]),
         dict(row, run="r2", hit=False, error_m=0.04, point=[0, 0, 0.04]),
         dict(row, run="only_a", hit=True, error_m=0.0, point=[0, 0, 0])]
    b = [dict(row, run="r1", hit=True, error_m=0.001, point=[0, 0, 0.0005]),
         dict(row, run="r2", hit=True, error_m=0.005, point=[0.01, 0, 0.0])]
    md = diff(a, b)
    assert "2 runs in both" in md
    assert "| test | clean | 2 | 1 | 2 |" in md
    assert "1 runs whose action point moved" in md and "| r2 | 4.00 | 0.50 |" in md and "| r1 |" not in md
