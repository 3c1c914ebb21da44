"""Time `point2act query`'s torch path on a trained run: the compositing weights and the relevancy refit.

    python -m benchmarks.bench_query --config RUN/config.yml --points POINTS.json [--steps 16] [--downscale 2 1]

For each downscale: a query (the first one in the process also pays the extension load) and a second one
(warm). Prints a table and writes
``benchmarks/results/query_fast.json`` (with the load average, since the machine may be shared).
E.g. on the demo's run: ``--config outputs/demo/runs/demo/point2act/run/config.yml --points
outputs/demo/scene/points/oracle.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--points", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--downscale", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--min-weight", type=float, default=1e-3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "query_fast.json")
    a = ap.parse_args()

    from point2act.method.run_layer import load_run, run_of

    from point2act.method.requery_run import AnswerSource, RefitOptions, Requery, query_run

    loaded = run_of(*load_run(a.config))
    rows = []
    for i, ds in enumerate(a.downscale):
        for label in (["first in process", "warm"] if i == 0 else ["warm"]):
            t0 = time.perf_counter()
            r = query_run(a.config, Requery("bench", AnswerSource(points_file=a.points),
                                            refit=RefitOptions(steps=a.steps, downscale=ds, min_weight=a.min_weight)),
                          loaded=loaded)
            tot = time.perf_counter() - t0
            t = r.timings_s
            rows.append({"downscale": ds, "label": label, "wall_s": round(tot, 3), "gaussians": r.num_gaussians,
                         "views": r.num_views, "weights": r.nnz,
                         "cache_s": round(t["weights_cache_build"], 3),
                         "fit_s": round(t["fit"], 3), "timings_s": {k: round(v, 4) for k, v in t.items()}})
    print(f"{'ds':>2} {'query':>26} {'gaussians':>9} {'views':>5} {'weights':>9} {'cache s':>8} {'fit s':>6} {'total s':>7}")
    for w in rows:
        print(f"{w['downscale']:>2} {w['label']:>26} {w['gaussians']:>9} {w['views']:>5} {w['weights']:>9} "
              f"{w['cache_s']:>8.2f} {w['fit_s']:>6.2f} {w['wall_s']:>7.2f}")
    res = {"run": str(a.config), "points": str(a.points), "steps": a.steps, "queries": rows,
           "load_average": os.getloadavg(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
