"""benchmarks.accuracy.calibrate: the reliability table's bins and thresholds, by hand."""

from __future__ import annotations

import pytest

from benchmarks.accuracy.calibrate import reliability, tables


def row(conf, hit, level="clean", views=8):
    return {"source": "true_surface", "generator": "synth", "level": level, "views": views, "confidence": conf,
            "hit": hit, "run": "r"}


def test_reliability_bins_and_what_acting_at_a_threshold_gives():
    rows = [row(0.999, True), row(0.97, True), row(0.96, False), row(0.92, True), row(0.6, False), row(0.3, True)]
    r = reliability(rows)
    by = {(b["lo"], b["hi"]): b for b in r["bins"]}
    assert by[(0.95, 0.99)]["n"] == 2 and by[(0.95, 0.99)]["hit"] == pytest.approx(0.5)
    assert by[(0.99, 1.0)]["n"] == 1 and by[(0.0, 0.5)]["n"] == 1 and by[(0.8, 0.9)]["n"] == 0
    t95 = r["thresholds"]["0.95"]
    assert t95["acted"] == 3 and t95["confident_misses"] == 1
    assert t95["coverage"] == pytest.approx(2 / 4) and t95["risk"] == pytest.approx(1 / 3)
    assert r["thresholds"]["0.9"]["coverage"] == pytest.approx(3 / 4)


def test_tables_keep_conditions_apart_and_pool_generators():
    rows = [row(0.99, True), row(0.99, False, level="out40"), dict(row(0.5, True), generator="kitchen")]
    t = tables(rows)
    assert t["true_surface / all / clean / 8"]["n"] == 2 and t["true_surface / synth / clean / 8"]["n"] == 1
    assert t["true_surface / all / out40 / 8"]["hit"] == 0.0
