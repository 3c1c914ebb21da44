"""``python -m benchmarks.faults [--cases load side faults] [--repeats N] [--train-capture PATH]``: see
:mod:`benchmarks.faults`. Writes ``benchmarks/results/faults.md`` and ``.json`` (``--name`` changes the name) with the
command, the commit and the machine; one table: case, outcome, seconds."""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List

from benchmarks.faults.common import RESULTS, Row, commit, machine
from benchmarks.faults.load import LOADS, load_cases
from benchmarks.faults.kills import fault_cases
from benchmarks.faults.side import side_cases


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", choices=("load", "side", "faults"), default=["load", "side", "faults"])
    ap.add_argument("--repeats", type=int, default=1, help="rounds of the load cases (idle, load, idle, ...)")
    ap.add_argument("--loads", nargs="+", choices=tuple(LOADS), default=list(LOADS))
    ap.add_argument("--no-viewer", action="store_true", help="leave out the viewer + headless Chromium case")
    ap.add_argument("--train-capture", type=Path, default=None,
                    help="time ns-train point2act on this capture under the loads instead of the demo "
                         "(e.g. ../shared/data/real/tools)")
    ap.add_argument("--train-points", type=Path, default=None, help="its points file (default: benchmarks/real's)")
    ap.add_argument("--downscale-factor", type=int, default=2, help="the capture's dataparser downscale factor")
    ap.add_argument("--steps", type=int, default=200, help="steps of the side-by-side and fault cases' trainings")
    ap.add_argument("--no-builds", action="store_true", help="leave out the two first-time extension builds")
    ap.add_argument("--out", type=Path, default=Path("outputs/faults"), help="working folder (emptied first)")
    ap.add_argument("--name", default="faults", help="results/NAME.md and .json")
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    meta = {"command": "python -m benchmarks.faults " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
            "commit": commit(), **machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"{meta['command']}\n{meta['cpu']} ({meta['isa']}), {meta['cores']} cores, commit {meta['commit']}, "
          f"load {meta['loadavg_1min']:.2f}")
    rows: List[Row] = []
    t0 = time.perf_counter()
    if "load" in args.cases:
        print("load cases")
        rows += load_cases(args.out / "load", args.repeats, args.loads, not args.no_viewer, args.train_capture,
                           args.train_points, args.downscale_factor)
    if "side" in args.cases:
        print("side-by-side cases")
        rows += side_cases(args.out / "side", args.steps, builds=not args.no_builds)
    if "faults" in args.cases:
        print("fault cases")
        rows += fault_cases(args.out / "faults", args.steps)
    meta["wall_s"] = round(time.perf_counter() - t0, 1)
    doc = {"_meta": meta, "rows": [r.to_dict() for r in rows]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(doc))
    print(markdown(doc))
    print(f"wrote {RESULTS / args.name}.md and .json")
    return 0 if all(r.ok for r in rows) else 1


def markdown(doc: Dict) -> str:
    meta = doc["_meta"]
    lines = ["# Beside other programs, side by side, killed, on a full disk", "", "```", meta["command"], "```", "",
             f"Commit {meta['commit']}, {meta['cpu']} ({meta['isa']}), {meta['cores']} cores, load "
             f"{meta['loadavg_1min']:.2f} at the start ({meta['started']}), {meta['wall_s']} s in all. Load cases: "
             "each time a new process timed from outside (the demo's own `wall time`), the ratio against the idle "
             "runs of this run. Other cases: what was checked, and their seconds.", "",
             "| case | outcome | seconds |", "|---|---|---|"]
    for r in doc["rows"]:
        secs = ", ".join(f"{s:.1f}" for s in r["seconds"])
        mark = "" if r["ok"] else "**FAILED**: "
        lines.append(f"| {r['case']} | {mark}{r['outcome']} | {secs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
