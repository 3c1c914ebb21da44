"""Time the grasp head on a synthetic tabletop (``python -m benchmarks.bench_grasp``).

Scene: table + mug with handle + box distractor, ~30k Gaussian centres, 24
camera centres (point2act.grasp.synthetic). Prints the median over repeated
runs of each stage (region, surface, candidates, collision, scoring, total) in
ms, plus the first (cold) call, which includes importing scipy/open3d.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = ("region", "surface", "candidates", "collision", "scoring", "total")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = ap.parse_args(argv)

    from point2act.grasp import GraspConfig, plan_grasps
    from point2act.grasp.synthetic import tabletop_scene

    s = tabletop_scene(seed=args.seed)
    cfg = GraspConfig()

    def run():
        t = time.perf_counter()
        r = plan_grasps(s["means"], s["opacities"], s["relevancy"], cfg,
                        camera_centers=s["camera_centers"], scales=s["scales"])
        return r, (time.perf_counter() - t) * 1e3

    r, cold_ms = run()
    runs = [run() for _ in range(args.repeats)]
    med = {k: statistics.median(rr.timings_ms.get(k, 0.0) for rr, _ in runs) for k in STAGES}
    wall = statistics.median(w for _, w in runs)
    out = {
        "num_gaussians": int(len(s["means"])),
        "repeats": args.repeats,
        "median_ms": med,
        "median_wall_ms": wall,
        "cold_first_call_ms": cold_ms,
        "counts": r.counts,
        "num_grasps": len(r.grasps),
        "top_score": r.grasps[0].score if r.grasps else None,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"plan_grasps on a synthetic tabletop: {out['num_gaussians']} Gaussians, "
          f"median of {args.repeats} runs")
    for k in STAGES:
        print(f"  {k:<11s} {med[k]:8.1f} ms")
    print(f"  {'wall':<11s} {wall:8.1f} ms   (first call incl. imports: {cold_ms:.0f} ms)")
    print("  counts: " + ", ".join(f"{k}={v}" for k, v in r.counts.items()))
    print(f"  grasps: {len(r.grasps)}, top score {out['top_score']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
