"""Time `point2act query`'s fast path on a trained run: weights-cache build and relevancy refit.

    python -m benchmarks.bench_query --config RUN/config.yml --points POINTS.json [--steps 16] [--downscale 2]

Prints a table: Gaussians, views, resolution, cached weights, cache build (s), refit (s), action point.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--points", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--downscale", type=int, default=2)
    ap.add_argument("--min-weight", type=float, default=1e-3)
    a = ap.parse_args()

    from point2act.export import load_run
    from point2act.query import query_run

    loaded = load_run(a.config)
    rows = []
    for rebuild in (True, False):
        t0 = time.perf_counter()
        r = query_run(a.config, "bench", points_file=a.points, steps=a.steps, downscale=a.downscale,
                      min_weight=a.min_weight, rebuild_cache=rebuild, loaded=loaded)
        rows.append((rebuild, r, time.perf_counter() - t0))
    print(f"{'cache':>8} {'gaussians':>9} {'views':>5} {'weights':>9} {'cache s':>8} {'fit s':>6} {'total s':>7}")
    for rebuild, r, tot in rows:
        t = r.timings_s
        c = t.get("weights_cache_build", t.get("weights_cache_load", 0.0))
        print(f"{'build' if rebuild else 'load':>8} {r.num_gaussians:>9} {r.num_views:>5} {r.nnz:>9} {c:>8.2f} "
              f"{t['fit']:>6.2f} {tot:>7.2f}")


if __name__ == "__main__":
    main()
