"""The accuracy report's risk-coverage figures (benchmarks.accuracy.report.selective / reliability)."""

from __future__ import annotations

import math

import pytest

from benchmarks.accuracy.report import check_summary, reliability, risk_coverage_md, selective


def rec(level, hit, conf, top2=None, weak=None):
    return {"method": "point2act", "level": level, "hit": hit, "confidence": conf,
            "weak": conf < 0.95 if weak is None else weak, "top2_hit": hit if top2 is None else top2}


def test_selective_counts_flagged_runs_out_of_the_hit_rate():
    rs = [rec("out40", True, 0.99), rec("out40", True, 0.97), rec("out40", False, 0.8, top2=True),
          rec("out40", False, 0.6, top2=False), rec("clean", True, 1.0)]
    s = selective(rs, "out40")
    assert s["coverage"] == pytest.approx(0.5) and s["hit"] == pytest.approx(1.0)
    assert s["top2_hit"] == pytest.approx(0.75) and s["n"] == 4
    assert selective([{"method": "ransac", "level": "x", "hit": True}], "x") is None
    allflag = selective([rec("same60", False, 0.7)], "same60")
    assert allflag["coverage"] == 0 and math.isnan(allflag["hit"])


def test_reliability_bins_hold_their_runs():
    rs = [rec("a", True, 0.999), rec("a", False, 0.999), rec("a", True, 0.6)]
    bins = reliability(rs)
    assert [b["n"] for b in bins] == [1, 2]
    assert bins[-1]["hit"] == pytest.approx(0.5) and bins[-1]["mean_confidence"] == pytest.approx(0.999)
    md = risk_coverage_md(rs, ["a"])
    assert "| a | 3 | 67 % | 50 % | 67 % | 67 % |" in md


def test_summary_accepts_the_selective_keys_and_rejects_bad_ones():
    good = {"levels": {"clean": {"point2act": {"hit": 1.0, "lo": 1.0, "hi": 1.0, "median_cm": 0.1},
                                 "point2act_confident": {"coverage": 0.9, "hit": 1.0}, "point2act_top2": {"hit": 1.0}}},
            "split": "test", "seeds": [0], "scenes": ["s"]}
    check_summary(good)
    good["levels"]["clean"]["point2act_confident"]["coverage"] = 1.5
    with pytest.raises(ValueError):
        check_summary(good)
