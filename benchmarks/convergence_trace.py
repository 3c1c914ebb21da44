"""What the convergence checks see over a whole run: train a scene to its last step with the stopping rule's
checks logged but never stopping (:mod:`point2act.convergence`), and print, at each check, the probes' move in
pixel footprints: the rule's statistic (each probe's median over its pixels; the worst probe decides), and
beside it the worst probe's 90th percentile and share of pixels that moved by more than one footprint.

    python -m benchmarks.convergence_trace SCENE [--iterations 1000] [--out /tmp/convergence_trace]

``SCENE``: a ``point2act synth`` scene (its ``points/oracle.json`` answers), e.g. ``outputs/demo/scene`` after
``point2act demo``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scene", type=Path)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/convergence_trace"))
    args = ap.parse_args()

    import point2act.convergence as cv
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train
    from point2act.method.trainer import Point2ActTrainer

    cv.STABLE_FOOTPRINTS = -1.0  # every check logs, none stops
    rows = []

    def change(before, now, mask, focal):
        moved = cv.pixel_moves(before, now, mask, focal)
        rows.append((np.median(moved), np.quantile(moved, 0.9), np.mean(moved > 1.0)))
        return float(np.median(moved))

    cv.depth_change = change
    check = Point2ActTrainer.check_convergence

    def traced(self, step):
        rows.clear()
        check(self, step)
        if rows:
            r = np.asarray(rows)
            print(f"check at step {step}: {len(r)} probes; worst median {r[:, 0].max():.3f}, median of medians "
                  f"{np.median(r[:, 0]):.3f}, worst p90 {r[:, 1].max():.3f}, worst share over 1 footprint "
                  f"{r[:, 2].max():.3f}", flush=True)

    Point2ActTrainer.check_convergence = traced
    scene = args.scene
    train(short_schedule(registered_config("point2act"), scene, scene / "points" / "oracle.json", args.out,
                         args.iterations))


if __name__ == "__main__":
    main()
