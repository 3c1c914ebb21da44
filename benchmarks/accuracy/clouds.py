"""``python -m benchmarks.accuracy.clouds``: the accuracy benchmark per start-cloud condition, in one place.

Each condition is run on its own (``python -m benchmarks.accuracy --split SPLIT --cloud COND --train-seeds 0 1
2 --seed-levels clean,out40 --out benchmarks/results/accuracy/clouds/COND/GENERATOR``); this gathers their
``summary.json`` files into ``benchmarks/results/accuracy/summary.json``'s ``"clouds"`` block and a table,
``benchmarks/results/accuracy/clouds/clouds.md``:

    "clouds": {"none" | "triangulated" | "sensor" | "exact": {GENERATOR: {LEVEL: {
        "point2act": {"hit", "lo", "hi", "median_cm"},         # the first training seed's action point
        "point2act_grasp": {"hit", "lo", "hi", "holdable"},    # its top grasp, judged on the true meshes
        "train_seeds": {"seeds", "hit": {"median", "worst"}, "holdable_hit_grasp_ok": {"median", "worst"}}},
        "geometry": {"runs", "completeness": {"median", "worst"[, "worst_seed"]}, "behind": {...}, "depth_mm": {...}}},
        "field": {"runs", "region_cm_median", "region_cm_worst", "peak_cm_median", "peak_cm_worst"}}}}

``geometry`` is the reconstruction at the target (:mod:`.target_geometry`), over every scene and training seed of
the generator (it does not depend on the level): completeness of the target's fused surface, the share of its
pixels painted more than 1 cm behind, the median depth error at its pixels (training views); the median and the
worst run (the lowest completeness, the highest share behind and error).

``exact`` is the generators' own cloud, sampled from the true surfaces (``--cloud scene``): the upper bound;
``triangulated`` is what a capture without a cloud gets by default (:mod:`point2act.startcloud.triangulate`); ``sensor`` is
that with the RGB-D depth the kitchen and studio generators write (``--depth sensor``); ``none`` is a random start
without stereo (``--pipeline.datamanager.triangulate False``). ``holdable_hit_grasp_ok``: over the runs whose
target the hand can hold and whose action point hit, the share whose top grasp is on target and
collision-free by the true meshes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

from .report import primary_records, success_when_hit

ROOT = Path(__file__).resolve().parents[2]
CLOUDS = ROOT / "benchmarks" / "results" / "accuracy" / "clouds"
SUMMARY = ROOT / "benchmarks" / "results" / "accuracy" / "summary.json"
CONDITIONS = ("none", "triangulated", "sensor", "exact")
"""The start-cloud conditions, from what a user without a cloud has to the upper bound. Each is the folder
``COND/GENERATOR/`` with that run's ``summary.json`` and ``results.json``; deeper folders (experiments kept beside a
condition's run) are not read."""


def condition_rows(summary: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """One condition's ``summary.json`` -> GENERATOR -> LEVEL -> the ``"clouds"`` entry (see the module)."""
    out: Dict[str, Dict[str, Any]] = {}
    seeds = (summary.get("train_seeds") or {}).get("seeds")
    per_seed = (summary.get("train_seeds") or {}).get("generators", {})
    for gen, levels in summary.get("generators", {}).items():
        for lvl, row in levels.items():
            entry = {k: row[k] for k in ("point2act", "point2act_grasp") if k in row}
            ts = per_seed.get(gen, {}).get(lvl, {}).get("point2act")
            if ts is not None:
                entry["train_seeds"] = {"seeds": seeds, "hit": {"median": ts["median"], "worst": ts["worst"]}}
                if "holdable_hit_grasp_ok_median" in ts:
                    entry["train_seeds"]["holdable_hit_grasp_ok"] = {"median": ts["holdable_hit_grasp_ok_median"],
                                                                     "worst": ts["holdable_hit_grasp_ok_worst"]}
            out.setdefault(gen, {})[lvl] = entry
    return out


def field_distances(records: List[Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    """GENERATOR -> the exported action point against the relevancy field alone, over every point2act run
    (all levels and training seeds): its distance to the nearest Gaussian of the field's most relevant region
    (``region_cm``: 0 inside it) and to that region's peak (``peak_cm``), median and worst, and the runs."""
    import numpy as np

    out: Dict[str, Dict[str, float]] = {}
    gens = sorted({r.get("generator", "synth") for r in records})
    for g in gens:
        rs = [r for r in records if r.get("generator", "synth") == g and r.get("method") == "point2act"
              and r.get("field_region_m") is not None]
        if rs:
            reg = np.array([r["field_region_m"] for r in rs]) * 100
            peak = np.array([r["field_peak_m"] for r in rs]) * 100
            out[g] = {"runs": len(rs), "region_cm_median": round(float(np.median(reg)), 3),
                      "region_cm_worst": round(float(reg.max()), 3), "peak_cm_median": round(float(np.median(peak)), 3),
                      "peak_cm_worst": round(float(peak.max()), 3)}
    return out


GEOMETRY = {"completeness": ("completeness", min), "behind": ("behind_train", max), "depth_mm": ("depth_mm_train", max),
            "room_raised": ("room_raised_train", max), "room_depth_mm": ("room_depth_mm_train", max)}
"""The ``geometry`` entry's figures: (the scene result's key, which run is the worst)."""


def geometry_figures(scenes: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """GENERATOR -> the target geometry over its runs (``results.json``'s ``scenes``, every training seed): per
    figure the median and the worst run, and with more than one training seed ``worst_seed``, the worst of the
    seeds' medians (each seed's median over the generator's scenes)."""
    import numpy as np

    out: Dict[str, Dict[str, Any]] = {}
    for gen in sorted({s.get("generator", "synth") for s in scenes}):
        ss = [s for s in scenes if s.get("generator", "synth") == gen and "completeness" in (s.get("geometry") or {})]
        if not ss:
            continue
        seeds = sorted({s.get("train_seed") for s in ss}, key=str)
        entry: Dict[str, Any] = {"runs": len(ss)}
        for name, (key, worst) in GEOMETRY.items():
            def values(runs):
                return [float(s["geometry"][key]) for s in runs
                        if s["geometry"].get(key) is not None and np.isfinite(s["geometry"][key])]

            v = values(ss)
            if v:
                entry[name] = {"median": round(float(np.median(v)), 4), "worst": round(float(worst(v)), 4)}
                per_seed = [values([s for s in ss if s.get("train_seed") == t]) for t in seeds]
                if len(seeds) > 1 and all(per_seed):
                    entry[name]["worst_seed"] = round(float(worst(float(np.median(x)) for x in per_seed)), 4)
        out[gen] = entry
    return out


def collect(root: Path = CLOUDS) -> Dict[str, Any]:
    """The ``"clouds"`` block from every ``root/COND/GENERATOR/summary.json`` (COND in :data:`CONDITIONS`), each
    generator's entry with ``"field"`` (:func:`field_distances`) from the ``results.json`` beside it."""
    block: Dict[str, Any] = {}
    for cond in CONDITIONS:
        for f in sorted((root / cond).glob("*/summary.json")):
            rows = condition_rows(json.loads(f.read_text()))
            res = f.with_name("results.json")
            doc = json.loads(res.read_text()) if res.is_file() else {}
            recs = doc.get("records", [])
            field = field_distances(recs)
            geometry = geometry_figures(doc.get("scenes", []))
            for gen, levels in rows.items():
                for lvl, e in levels.items():  # summaries written before the holdable row had it
                    held = (e.get("point2act_grasp") or {}).get("holdable")
                    if held is not None and "success_when_hit" not in held:
                        first = primary_records(recs, (e.get("train_seeds") or {}).get("seeds"))
                        held["success_when_hit"] = success_when_hit(
                            [r for r in first if r.get("generator", "synth") == gen and r.get("level") == lvl
                             and r.get("method") == "point2act" and r.get("target_beyond_hand") is False])
                    if gen in geometry:
                        e["geometry"] = geometry[gen]
                block.setdefault(cond, {}).setdefault(gen, {}).update(levels)
                if gen in field:
                    block[cond][gen]["field"] = field[gen]
    return block


def pooled(root: Path = CLOUDS) -> List[Dict[str, Any]]:
    """Per condition, every run of every generator, level and training seed together: action-point hits, and
    over the runs whose target the hand can hold and whose action point hit, those whose top grasp is on the
    target and collision-free by the true meshes."""
    out = []
    for cond in CONDITIONS:
        recs = []
        for f in sorted((root / cond).glob("*/results.json")):
            recs += [r for r in json.loads(f.read_text()).get("records", []) if r.get("method") == "point2act"]
        if recs:
            held = [r for r in recs if r.get("hit") and r.get("target_beyond_hand") is False]
            out.append({"cloud": cond, "runs": len(recs), "hits": sum(bool(r.get("hit")) for r in recs),
                        "holdable_hits": len(held), "grasp_ok": sum(bool(r.get("grasp_success")) for r in held)})
    return out


def pooled_table(rows: List[Dict[str, Any]]) -> str:
    lines = ["| cloud | runs | action point hit | grasp OK where the action point hit, holdable |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['cloud']} | {r['runs']} | {r['hits']} ({100 * r['hits'] / r['runs']:.0f} %) | "
                     f"{r['grasp_ok']} of {r['holdable_hits']} ({100 * r['grasp_ok'] / max(r['holdable_hits'], 1):.0f} %) |")
    return "\n".join(lines)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * float(x):.0f} %"


def table(block: Dict[str, Any]) -> str:
    """Markdown: per condition, generator and level, the action point's hit rate and the top grasp's rate on
    the holdable targets it hit: the first seed's, then the median and the worst over the training seeds."""
    lines = ["| cloud | generator | level | action point hit (seed 0) | median / worst over seeds | "
             "grasp OK where the action point hit, holdable (seed 0) | median / worst over seeds | seeds |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for cond in CONDITIONS:
        for gen, levels in sorted(block.get(cond, {}).items()):
            for lvl, e in levels.items():
                if lvl == "field":
                    continue
                held = (e.get("point2act_grasp") or {}).get("holdable") or {}
                ts = e.get("train_seeds") or {}
                th, tg = ts.get("hit") or {}, ts.get("holdable_hit_grasp_ok") or {}
                lines.append(f"| {cond} | {gen} | {lvl} | {_pct((e.get('point2act') or {}).get('hit'))} | "
                             f"{_pct(th.get('median'))} / {_pct(th.get('worst'))} | "
                             f"{_pct(held.get('success_when_hit'))} | {_pct(tg.get('median'))} / {_pct(tg.get('worst'))}"
                             f" | {ts.get('seeds') or '0'} |")
    return "\n".join(lines)


def geometry_table(block: Dict[str, Any]) -> str:
    """Markdown: per condition and generator, the geometry at the target over every scene and training seed
    (:func:`geometry_figures`): the median, the worst seed's median and the worst run."""
    def cell(g, name, scale, fmt):
        f = g.get(name) or {}
        if "median" not in f:
            return "–"
        ws = f.get("worst_seed")
        return " / ".join(fmt.format(scale * x) if x is not None else "–" for x in (f["median"], ws, f["worst"]))

    lines = ["| cloud | generator | runs | completeness %, median / worst seed / worst run | painted behind %, median / "
             "worst seed / worst run | depth at the target mm, median / worst seed / worst run | room raised %, median / "
             "worst seed / worst run |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for cond in CONDITIONS:
        for gen, levels in sorted(block.get(cond, {}).items()):
            g = next((e["geometry"] for lvl, e in levels.items() if lvl != "field" and "geometry" in e), None)
            if g:
                lines.append(f"| {cond} | {gen} | {g['runs']} | {cell(g, 'completeness', 100, '{:.1f}')} | "
                             f"{cell(g, 'behind', 100, '{:.1f}')} | {cell(g, 'depth_mm', 1, '{:.2f}')} | "
                             f"{cell(g, 'room_raised', 100, '{:.1f}')} |")
    return "\n".join(lines)


def field_table(block: Dict[str, Any]) -> str:
    """Markdown: the exported action point against the field's most relevant region (:func:`field_distances`)."""
    lines = ["| cloud | generator | runs | to the region, median / worst (cm) | to its peak, median / worst (cm) |",
             "|---|---|---:|---:|---:|"]
    for cond in CONDITIONS:
        for gen, levels in sorted(block.get(cond, {}).items()):
            f = levels.get("field")
            if f:
                lines.append(f"| {cond} | {gen} | {f['runs']} | {f['region_cm_median']:.2f} / {f['region_cm_worst']:.2f} "
                             f"| {f['peak_cm_median']:.2f} / {f['peak_cm_worst']:.2f} |")
    return "\n".join(lines)


def _commit() -> str:
    """The repository's commit (short hash), or "unknown" outside a git checkout."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write(root: Path = CLOUDS, summary: Path = SUMMARY) -> Dict[str, Any]:
    """Write the ``"clouds"`` block into ``summary`` (other keys kept) and ``root/clouds.md``."""
    block = collect(root)
    d = json.loads(summary.read_text()) if summary.is_file() else {}
    d["clouds"] = block
    summary.write_text(json.dumps(d, indent=1) + "\n")
    md = ["# Accuracy per start cloud (`python -m benchmarks.accuracy.clouds`)", "",
          "Commands: `python -m benchmarks.accuracy --split test|kitchen_test|studio_test|objects_test --cloud "
          "none|triangulated --levels clean,out40 --seeds 0 --train-seeds 0 1 2 --seed-levels clean,out40 --no-readme "
          "--retrain --out benchmarks/results/accuracy/clouds/COND/synth|kitchen|studio|objects` (`sensor`: "
          "`--cloud triangulated --depth sensor` on kitchen_test and studio_test; `exact`: `--cloud scene "
          "--train-seeds 0`); then `python -m benchmarks.accuracy.clouds`; gathered at commit "
          f"{_commit()}.", "",
          "The test splits of every generator, through the default path, loaded with no cloud (`none`: random start, "
          "no stereo), with the cloud training triangulates (`triangulated`, the default for a capture without one), "
          "with that and the RGB-D sensor depth the kitchen and studio generators write (`sensor`), and with the "
          "generator's exact cloud (`exact`, the upper bound). Hit: the action point within 1 cm of the target part. "
          "Grasp OK: the top grasp on the target and collision-free by the true meshes, over the runs whose target "
          "the hand can hold and whose action point hit. Per-condition results: the folders beside this file.", "",
          table(block), "", "Every generator, level and training seed together:", "", pooled_table(pooled(root)), "",
          "The geometry at the target (`benchmarks.accuracy.target_geometry`, training views), over every scene and "
          "training seed; the worst seed is the worst of the seeds' medians.", "", geometry_table(block), "",
          "The exported action point (the views' consensus) against the relevancy field alone: its distance to the "
          "nearest Gaussian of the field's most relevant region (0: inside it) and to that region's peak, over every "
          "run (all levels and training seeds).", "", field_table(block), ""]
    (root / "clouds.md").write_text("\n".join(md))
    return block


def main(argv: List[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=CLOUDS)
    ap.add_argument("--summary", type=Path, default=SUMMARY)
    a = ap.parse_args(argv)
    block = write(a.root, a.summary)
    print(table(block))


if __name__ == "__main__":
    main()
