"""benchmarks.accuracy.regrasp's table: grasp OK over the holdable hits, per generator, level and training seed, as
the protocol counts them (a miss and a target beyond the hand are not counted)."""

from __future__ import annotations

import json

from benchmarks.accuracy import regrasp


def _protocol(tmp_path, cloud, records):
    d = tmp_path / cloud / "synth"
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"records": records}))


def _row(scene, seed, level, hit, success):
    return {"scene": scene, "generator": "synth", "seed": seed, "level": f"{level}_s0", "hit": hit,
            "num_grasps": 1, "success": success}


def test_table_counts_holdable_hits_per_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(regrasp, "CLOUDS", tmp_path)
    rec = lambda scene, seed, level, beyond: {"method": "point2act", "scene": scene, "train_seed": seed,  # noqa: E731
                                              "level": level, "target_beyond_hand": beyond}
    _protocol(tmp_path, "none", [rec("a", s, "clean", False) for s in (0, 1)] + [rec("b", s, "clean", True) for s in (0, 1)]
              + [rec("c", s, "clean", False) for s in (0, 1)] + [rec("a", 0, "out40", False)])
    old = [_row("a", 0, "clean", True, True), _row("a", 1, "clean", True, False),
           _row("b", 0, "clean", True, False), _row("b", 1, "clean", True, False),  # beyond the hand: not counted
           _row("c", 0, "clean", False, False), _row("c", 1, "clean", True, True),  # seed 0 missed: not counted
           _row("a", 0, "out40", True, False)]
    new = [dict(r, success=True) for r in old]
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    lines = regrasp.table("none", [tmp_path / "old.json", tmp_path / "new.json"]).splitlines()
    clean = next(line for line in lines if line.startswith("| synth | clean |"))
    assert "| 2/3 (1/1, 1/2; 75%, 50%) | 3/3 (1/1, 2/2; 100%, 100%) |" in clean
    out40 = next(line for line in lines if line.startswith("| synth | out40 |"))
    assert "0/1 (0/1, 0/0; 0%, 0%)" in out40 and "1/1 (1/1, 0/0; 100%, 100%)" in out40
    assert any(line.startswith("| kitchen | clean | - | - |") for line in lines)  # no runs of that generator
