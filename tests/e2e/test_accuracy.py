"""The accuracy benchmark end to end (slow): a short run of the CI subset. The fast unit tests of the
error models, baselines, bootstrap and summary schema are in tests/test_accuracy_unit.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.mark.slow
def test_quick_subset_runs_every_method_and_writes_the_summary(tmp_path: Path) -> None:
    """The CI subset: 2 dev scenes, 8 views at 96×72, 100 iterations, 20 % outliers and same-spot
    outliers, one pointer seed. Loose sanity only: every method is scored, summary.json has its schema,
    point2act hits at least as often as the one-view lift with the reconstruction's depth."""
    pytest.importorskip("open3d")
    from benchmarks.accuracy.__main__ import run
    from benchmarks.accuracy.pointer import LEVELS
    from benchmarks.accuracy.report import METHODS, check_summary, summarise
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import QUICK, SUITE

    bc = BenchConfig(width=96, height=72, num_views=8, num_seed_points=2000, iterations=100, seeds=(0,),
                     grasps=False, cache_root=tmp_path / "cache")
    scenes = [s for s in SUITE if s.name in QUICK]
    out = run(scenes, [LEVELS["out20"], LEVELS["same20"]], bc, tmp_path / "out", log=lambda *a: None)
    recs = out["records"]
    for m in METHODS:
        assert summarise(recs, "out20", m)["n"] == 2, m
    p2a, lift = summarise(recs, "out20", "point2act"), summarise(recs, "out20", "lift_recon_depth")
    assert p2a["hit"] >= lift["hit"] - 1e-9, (p2a, lift)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    check_summary(s)
    assert s["split"] == "dev" and s["scenes"] == QUICK and set(s["levels"]) == {"out20", "same20"}
    assert (tmp_path / "out" / "accuracy.md").is_file() and (tmp_path / "out" / "results.json").is_file()
