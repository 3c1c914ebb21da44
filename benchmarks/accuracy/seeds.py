"""``python -m benchmarks.accuracy.seeds``: the top grasp over training seeds, from several benchmark runs.

Each ``python -m benchmarks.accuracy ... --train-seeds S --out DIR`` run writes ``DIR/results.json``; this reads
any number of them (one training seed each, or several) and prints, per generator and level, each training
seed's count of runs whose top grasp is on the target and collision-free by the true meshes, over the runs
whose action point hit a target the hand can hold (the accuracy protocol's grasp metric), their pooled count,
the median and the worst seed's rate, and the scenes each seed missed:

    python -m benchmarks.accuracy.seeds DIR_S0/results.json DIR_S1/results.json ... [--title T] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple


def grasp_counts(records: Iterable[Dict[str, Any]]) -> Dict[Tuple[str, str, Any], Dict[str, Any]]:
    """(generator, level, training seed) -> ``{"ok", "runs", "missed"}``: point2act's runs whose action point hit
    a target the hand can hold, how many of them have a top grasp on target and collision-free
    (``grasp_success``), and the scenes of the others."""
    from .report import generator_of

    out: Dict[Tuple[str, str, Any], Dict[str, Any]] = {}
    for r in records:
        # the holdable runs as report.grasp_rows and train_seed_rows count them: target_beyond_hand False
        if r.get("method") != "point2act" or not r.get("hit") or r.get("target_beyond_hand") is not False:
            continue
        key = (generator_of(r), str(r["level"]), r.get("train_seed"))
        c = out.setdefault(key, {"ok": 0, "runs": 0, "missed": []})
        c["runs"] += 1
        if r.get("grasp_success"):
            c["ok"] += 1
        else:
            c["missed"].append(str(r["scene"]))
    return out


def table(counts: Dict[Tuple[str, str, Any], Dict[str, Any]]) -> List[str]:
    """Markdown rows: one per (generator, level), the seeds in order, pooled, median and worst seed's rate."""
    import numpy as np

    seeds = sorted({k[2] for k in counts}, key=lambda s: (s is None, s))
    head = ["generator", "level"] + [f"seed {s}" for s in seeds] + ["pooled", "median seed", "worst seed", "missed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for gen, lvl in sorted({(k[0], k[1]) for k in counts}):
        cells, rates, ok, runs, missed = [], [], 0, 0, []
        for s in seeds:
            c = counts.get((gen, lvl, s))
            if c is None:
                cells.append("-")
                continue
            cells.append(f"{c['ok']} / {c['runs']}")
            rates.append(c["ok"] / c["runs"] if c["runs"] else float("nan"))
            ok, runs = ok + c["ok"], runs + c["runs"]
            missed += [f"{m} (s{s})" for m in c["missed"]]
        med = f"{100 * float(np.median(rates)):.0f} %" if rates else "-"
        worst = f"{100 * min(rates):.0f} %" if rates else "-"
        lines.append(f"| {gen} | {lvl} | " + " | ".join(cells) + f" | {ok} / {runs} | {med} | {worst} | "
                     + (", ".join(missed) or "-") + " |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.seeds", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, nargs="+", help="results.json files of benchmark runs")
    ap.add_argument("--title", default="", help="a heading line for the table")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here")
    a = ap.parse_args(argv)
    records: List[Dict[str, Any]] = []
    for f in a.results:
        try:
            records += json.loads(f.read_text())["records"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"{f}: not a benchmark results.json ({type(e).__name__}: {e})")
    lines = ([a.title, ""] if a.title else []) + table(grasp_counts(records))
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if a.out is not None:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
