"""Fast unit tests of the accuracy benchmark's reports and result tools (benchmarks/accuracy): the
summary.json schema and its tables, the README blocks replaced in place, the runs split by the answers'
majority, the grasp rows (all runs and the targets the hand can hold), the listed grasps' verdicts
(``benchmarks.accuracy.listed``), the per-seed table (``benchmarks.accuracy.seeds``) and the records
comparison (``benchmarks.accuracy.same_records``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def test_summary_schema() -> None:
    from benchmarks.accuracy.report import check_summary, headline_table, summary_json

    recs = []
    for sc in ("s1", "s2", "s3"):
        for seed in (0, 1, 2):
            for m in ("point2act", "ransac", "best_view"):
                hit = (m != "ransac") or seed == 0
                recs.append({"scene": sc, "seed": seed, "level": "out40", "method": m, "weight": 1.0, "hit": hit,
                             "error_m": 0.002 if hit else float("inf")})
            for k in range(4):  # one-view lifts: 4 answered views, 1 wrong
                for m in ("lift_true_depth", "lift_recon_depth"):
                    recs.append({"scene": sc, "seed": seed, "level": "out40", "method": m, "weight": 0.25,
                                 "hit": k > 0, "error_m": 0.001 if k > 0 else 0.2})
    s = summary_json(recs, ["out40"], "test", [0, 1, 2], ["s1", "s2", "s3"])
    check_summary(s)
    import json

    assert json.loads(json.dumps(s)) == s  # plain JSON (no inf)
    row = s["levels"]["out40"]
    assert set(row) == {"point2act", "lift_recon_depth", "lift_true_depth", "ransac", "best_view"}
    assert row["point2act"] == {"hit": 1.0, "lo": 1.0, "hi": 1.0, "median_cm": 0.2}
    assert row["lift_true_depth"]["hit"] == 0.75 and row["lift_true_depth"]["median_cm"] == 0.1
    assert row["ransac"]["hit"] == pytest.approx(1 / 3, abs=1e-4) and row["ransac"]["median_cm"] is None
    assert row["ransac"]["lo"] <= row["ransac"]["hit"] <= row["ransac"]["hi"]
    assert "| out40 |" in headline_table(s)
    for bad in ({**s, "extra": 1}, {**s, "split": "train"},
                {**s, "levels": {"out40": {"point2act": {"hit": 0.5, "lo": 0.6, "hi": 0.7, "median_cm": 1.0}}}},
                {**s, "levels": {"out40": {"magic": row["point2act"]}}}):
        with pytest.raises(ValueError):
            check_summary(bad)


def test_readme_blocks_are_replaced_in_place(tmp_path) -> None:
    from benchmarks.accuracy.__main__ import _replace_block
    from benchmarks.accuracy.report import compact_table

    p = tmp_path / "README.md"
    p.write_text("# title\n\n<!-- b -->\nold\n<!-- e -->\n\n## next\ntext\n")
    assert _replace_block(p, "<!-- b -->", "<!-- e -->", "new table", print)
    assert p.read_text() == "# title\n\n<!-- b -->\nnew table\n<!-- e -->\n\n## next\ntext\n"
    assert not _replace_block(tmp_path / "none.md", "<!-- b -->", "<!-- e -->", "x", print)
    q = tmp_path / "other.md"
    q.write_text("no block\n")
    assert not _replace_block(q, "<!-- b -->", "<!-- e -->", "x", print) and q.read_text() == "no block\n"
    summary = {"levels": {"out40": {"point2act": {"hit": 0.9}, "ransac": {"hit": 0.8},
                                    "lift_recon_depth": {"hit": 0.5}, "lift_true_depth": {"hit": 0.95}}}}
    t = compact_table(summary, {"out40": {"success": 0.75}})
    row = t.splitlines()[2]
    assert row.startswith("| out40 | **90 %** | 50 % | 80 % | 95 % | 75 % |")


def test_majority_rows_split_runs_by_the_answers_majority() -> None:
    from benchmarks.accuracy.report import majority_rows, majority_table

    def rec(level, t, w, hit, kind="outlier"):
        return {"level": level, "method": "point2act", "kinds": {"target": t, kind: w, "hidden": 2}, "hit": hit}

    recs = [rec("same40", 10, 9, True), rec("same40", 9, 9, True), rec("same40", 5, 12, False),
            rec("twin50", 6, 8, False, "twin"), rec("twin50", 9, 4, False, "twin"),
            {"level": "same40", "method": "ransac", "hit": True},
            {"level": "clean", "method": "point2act", "kinds": {"target": 19}, "hit": True}]
    rows = majority_rows(recs, ["clean", "same40", "twin50"])
    assert set(rows) == {"same40", "twin50"}  # no wrong answers at clean
    assert rows["same40"] == {"runs": 3, "majority": 1, "majority_hit": 1, "other": 2, "other_hit": 1}
    assert rows["twin50"] == {"runs": 2, "majority": 1, "majority_hit": 0, "other": 1, "other_hit": 0}
    assert "| same40 | 3 | 1, 1 | 2, 1 |" in majority_table(recs, ["same40"])


def test_grasp_rows_set_aside_only_targets_beyond_the_hand() -> None:
    """The grasp rate over all runs and over the runs whose target the hand can hold (benchmarks.accuracy.oracle),
    each beside the action point's hit rate over the same runs."""
    from benchmarks.accuracy.report import grasp_rows

    def rec(scene, seed, hit, ok, beyond):
        return {"scene": scene, "seed": seed, "level": "clean", "method": "point2act", "weight": 1.0, "hit": hit,
                "num_grasps": int(ok), "grasp_on_target": ok, "grasp_collision_free": ok, "grasp_success": ok,
                "target_beyond_hand": beyond}

    rs = [rec("handle", 0, True, True, False), rec("handle", 1, True, True, False), rec("rim", 0, True, False, False),
          rec("tab", 0, True, False, True), rec("tab", 1, False, False, True)]
    g = grasp_rows(rs, ["clean"])["clean"]
    assert g["success"] == pytest.approx(2 / 5) and g["hit"] == pytest.approx(4 / 5)
    assert g["holdable"] == {"runs": 3, "success": pytest.approx(2 / 3), "hit": 1.0,
                            "success_when_hit": pytest.approx(2 / 3)}
    assert "holdable" not in grasp_rows([dict(r, target_beyond_hand=None) for r in rs], ["clean"])["clean"]
    # into summary.json, which its schema check takes (and a holdable row that is not a rate it refuses)
    from benchmarks.accuracy.report import check_summary, summary_json

    s = summary_json([dict(r, error_m=0.002 if r["hit"] else float("inf")) for r in rs], ["clean"], "test", [0, 1],
                     ["handle", "rim", "tab"])
    check_summary(s)
    assert s["levels"]["clean"]["point2act_grasp"]["holdable"] == {"runs": 3, "success": 0.6667, "hit": 1.0,
                                                                  "success_when_hit": 0.6667}
    bad = json.loads(json.dumps(s))
    bad["levels"]["clean"]["point2act_grasp"]["holdable"]["success"] = 2.0
    with pytest.raises(ValueError):
        check_summary(bad)


def test_listed_grasps_are_judged_in_order_with_the_parts_they_hit() -> None:
    """``python -m benchmarks.accuracy.listed``: each listed grasp's own labels beside the true-mesh verdict, and
    the parts inside a colliding grasp's boxes. A grasp pointing down at a bar (the target, between the pads) is
    ``Pm:TF1.00``; the same grasp with a wall through its +x finger is ``Pm:Tx1.00`` and names the wall there."""
    from benchmarks.accuracy.listed import code, judge_listed
    from point2act.grasp import GripperConfig
    from point2act.grasp.geometry import grasp_to_gripper_boxes

    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])  # approach straight down, closing along x
    g = {"position": [0.0, 0.0, 0.02], "rotation": R.tolist(), "width": 0.04, "on_target": True,
         "clears_margin": True}
    xs, ys, zs = np.meshgrid(np.linspace(-0.008, 0.008, 5), np.linspace(-0.008, 0.008, 5), np.linspace(0.025, 0.05, 6))
    bar = np.c_[xs.ravel(), ys.ravel(), zs.ravel()]
    finger = grasp_to_gripper_boxes(g, GripperConfig())["finger_pos_x"].center
    wall = finger + np.array([[0.0, 0.0, 0.0], [0.0, 0.002, 0.0], [0.0, -0.002, 0.004]])
    names = {1: "bar", 2: "wall"}
    clear = judge_listed([g], bar, np.ones(len(bar), int), 1, names, why=True)
    assert [code(r) for r in clear] == ["Pm:TF1.00"] and "hits" not in clear[0]
    pts = np.concatenate([bar, wall])
    labels = np.r_[np.ones(len(bar), int), np.full(len(wall), 2)]
    hit = judge_listed([g, dict(g, on_target=False, clears_margin=False)], pts, labels, 1, names, why=True)
    assert [code(r) for r in hit] == ["Pm:Tx1.00", "pt:Tx1.00"]
    assert hit[0]["hits"] == {"finger_pos_x": {"wall": 3}}


def test_seed_table_counts_holdable_hits_per_seed_with_the_worst(tmp_path):
    """``python -m benchmarks.accuracy.seeds``: per generator, level and training seed, the top grasps that are
    OK over point2act's runs that hit a holdable target (misses of the action point, targets beyond the hand and
    other methods do not count), pooled, median and worst seed, the missed scenes named; a file that is no
    results.json is an error naming it."""
    import json

    import pytest

    from benchmarks.accuracy import seeds

    def rec(scene, seed, ok, **kw):
        return {"method": "point2act", "generator": "synth", "level": "clean", "train_seed": seed, "scene": scene,
                "hit": True, "grasp_success": ok, "target_beyond_hand": False, **kw}

    s0 = [rec("a", 0, True), rec("b", 0, True), rec("c", 0, False), rec("d", 0, False, hit=False),
          rec("e", 0, False, target_beyond_hand=True), {**rec("a", 0, False), "method": "ransac"}]
    s1 = [rec("a", 1, True), rec("b", 1, False), rec("c", 1, False)]
    f0, f1 = tmp_path / "s0.json", tmp_path / "s1.json"
    f0.write_text(json.dumps({"records": s0}))
    f1.write_text(json.dumps({"records": s1}))
    counts = seeds.grasp_counts(s0 + s1)
    assert counts[("synth", "clean", 0)] == {"ok": 2, "runs": 3, "missed": ["c"]}
    assert counts[("synth", "clean", 1)] == {"ok": 1, "runs": 3, "missed": ["b", "c"]}
    out = tmp_path / "t.md"
    assert seeds.main([str(f0), str(f1), "--out", str(out)]) == 0
    row = out.read_text().splitlines()[2]
    assert row == "| synth | clean | 2 / 3 | 1 / 3 | 3 / 6 | 50 % | 33 % | c (s0), b (s1), c (s1) |"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit, match="bad.json: not a benchmark results.json"):
        seeds.main([str(bad)])


def test_same_records_ignores_timings_and_finds_a_changed_field(tmp_path, capsys):
    import json

    from benchmarks.accuracy.same_records import main

    rec = {"scene": "s", "level": "clean", "seed": 0, "method": "point2act", "hit": True, "export_s": 1.0}
    old, same, other = tmp_path / "old.json", tmp_path / "same.json", tmp_path / "other.json"
    old.write_text(json.dumps({"runs": [rec]}))
    same.write_text(json.dumps({"runs": [dict(rec, export_s=2.5)]}))
    other.write_text(json.dumps({"runs": [dict(rec, hit=False)]}))
    assert main([str(old), str(same)]) == 0
    assert main([str(old), str(other)]) == 1
    assert "['hit']" in capsys.readouterr().out
