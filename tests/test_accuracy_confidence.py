"""The accuracy report's risk-coverage figures (benchmarks.accuracy.report.selective / reliability)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.accuracy.report import (check_summary, reliability, risk_coverage_curve, risk_coverage_md,
                                        risk_coverage_plot, selective)


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


def test_risk_coverage_curve_by_hand(tmp_path):
    """Acting on the runs at or above each confidence: 0.99 (hit) -> 1/4 covered, no miss; 0.9 (miss, with
    a hit at 0.9 too) -> 3/4, 1 miss in 3; 0.5 (miss) -> all, 2 in 4."""
    rs = [rec("a", True, 0.99), rec("a", False, 0.9), rec("b", True, 0.9), rec("b", False, 0.5),
          {"method": "ransac", "level": "a", "hit": False}]
    c = risk_coverage_curve(rs)
    assert c["threshold"].tolist() == [0.99, 0.9, 0.5]
    assert c["coverage"].tolist() == pytest.approx([0.25, 0.75, 1.0])
    assert c["risk"].tolist() == pytest.approx([0.0, 1 / 3, 0.5])
    assert risk_coverage_curve([])["coverage"].size == 0
    (p,) = risk_coverage_plot([{**r, "generator": "synth"} for r in rs], tmp_path)
    assert p.name == "risk_coverage.png" and p.stat().st_size > 1000


def test_summary_accepts_the_selective_keys_and_rejects_bad_ones():
    good = {"levels": {"clean": {"point2act": {"hit": 1.0, "lo": 1.0, "hi": 1.0, "median_cm": 0.1},
                                 "point2act_confident": {"coverage": 0.9, "hit": 1.0}, "point2act_top2": {"hit": 1.0}}},
            "split": "test", "seeds": [0], "scenes": ["s"]}
    check_summary(good)
    good["levels"]["clean"]["point2act_confident"]["coverage"] = 1.5
    with pytest.raises(ValueError):
        check_summary(good)


def test_summary_levels_carry_the_top_grasp_rate():
    """summary.json's per-level "point2act_grasp": the top grasp on target and collision-free, from the
    records' judge fields, beside the action point's hit rate."""
    from benchmarks.accuracy.report import summary_json

    def r(scene, seed, hit, on, free, n=1):
        return {"method": "point2act", "level": "clean", "scene": scene, "seed": seed, "weight": 1.0,
                "hit": hit, "error_m": 0.0 if hit else 0.3, "num_grasps": n, "grasp_on_target": on,
                "grasp_collision_free": free, "generator": "kitchen", "split": "kitchen_test"}

    rs = [r("a", 0, True, True, True), r("b", 0, True, True, False), r("c", 0, True, False, False, n=0),
          r("d", 0, True, True, True)]
    d = summary_json(rs, ["clean"], "kitchen_test", [0], ["a", "b", "c", "d"], methods=("point2act",))
    g = d["levels"]["clean"]["point2act_grasp"]
    assert g["hit"] == pytest.approx(0.5) and g["lo"] <= 0.5 <= g["hi"]
    assert d["generators"]["kitchen"]["clean"]["point2act_grasp"]["hit"] == pytest.approx(0.5)
    check_summary(d)


def test_summary_keeps_real_and_gathers_generators(tmp_path):
    """summary.json: "real" (python -m benchmarks.real) survives a rewrite by the accuracy benchmark, and a
    generator's test split adds its rows under "generators" without dropping the others."""
    from benchmarks.accuracy.report import merge_summary
    from benchmarks.real.run import summary_real

    row = {"clean": {"point2act": {"hit": 1.0, "lo": 1.0, "hi": 1.0, "median_cm": 0.1}}}
    base = {"levels": row, "split": "test", "seeds": [0], "scenes": ["s"], "generators": {"synth": row}}
    path = tmp_path / "summary.json"
    merge_summary(path, base)
    doc = {"real": {"coke-pull_tab": {"median_px": 6.5, "worst_seed_px": 7.3, "dist_reference_units": 0.016,
                                      "per_seed": {"seed0": {"px": 5.6}, "seed1": {"px": 7.3}, "seed2": {"error": "x"}}},
                    "gum-lid_button": {"per_seed": {"seed0": {"error": "failed"}}}}}
    real = summary_real(doc)
    assert real == {"coke-pull_tab": {"median_px": 6.5, "worst_seed_px": 7.3, "seeds": [0, 1],
                                      "dist_reference_units": 0.016}}
    merge_summary(path, real=real)
    merge_summary(path, generators={"kitchen": row})
    merge_summary(path, dict(base, generators={"synth": row}))  # the test split rewritten
    out = json.loads(path.read_text())
    assert out["real"] == real
    assert set(out["generators"]) == {"synth", "kitchen"}
    with pytest.raises(ValueError):
        merge_summary(path, real={"t": {"median_px": 9.0, "worst_seed_px": 3.0, "seeds": [0]}})
    assert json.loads(path.read_text())["real"] == real  # a bad value is not written
