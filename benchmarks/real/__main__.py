"""Real-capture benchmark with hand annotations (docs/real-benchmark.md).

    python -m benchmarks.real [--targets coke-pull_tab tools-mug_handle ...] [--seeds 0 1 2] [--cloud triangulated|none]
                              [--iterations 2000] [--export-only] [--out outputs/real]

Trains every target of ``benchmarks/real/targets/`` with ``ns-train point2act``'s defaults on the
capture in ``../shared/data/real`` (read-only), exports with ``point2act export``, and writes
``benchmarks/results/real/real.json`` and ``real.md``. ``--export-only`` re-exports the runs already
in ``--out`` (the region rule is applied at export, so rules compare without retraining).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks.real.run import DEFAULT_ITERATIONS, BenchmarkError, log, run_benchmark, select_targets
from benchmarks.real.targets import DATA, ROOT, TargetError


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.real", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", nargs="*", help="target names (file stems in benchmarks/real/targets) or files; "
                    "default: all")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                    help="--max-num-iterations (only passed when it differs from the method's default 2000)")
    ap.add_argument("--export-only", action="store_true", help="re-export the runs in --out, no training")
    ap.add_argument("--no-grasps", action="store_true", help="export with --no-grasps (action point only; faster)")
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "real")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "real")
    ap.add_argument("--no-frame-check", action="store_true",
                    help="skip comparing the run's cameras (via dataparser_transforms.json) with the capture's")
    ap.add_argument("--ns-flag", action="append", default=[], metavar="FLAG=VALUE",
                    help="an extra ns-train flag for an ablation (not the default benchmark)")
    ap.add_argument("--cloud", choices=("capture", "triangulated", "none"), default="capture",
                    help="triangulated: load the capture without its point cloud (--load-3D-points False), as a "
                    "robot capture without one; training then triangulates its own (the default path). none: "
                    "also without triangulation (a random start)")
    args = ap.parse_args(argv)
    if args.cloud != "capture":
        from benchmarks.real import run as _run

        _run.PARSER_EXTRA[:] = ["--load-3D-points", "False"]
        if args.cloud == "none":
            args.ns_flag.append("--pipeline.datamanager.triangulate=False")
    command = "python -m benchmarks.real " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if not DATA.is_dir():
        log(f"shared data not found at {DATA} (set POINT2ACT_SHARED_DATA)")
        return 2
    try:
        targets = select_targets(args.targets)
        extra = [part for f in args.ns_flag for part in f.split("=", 1)]
        results = run_benchmark(targets, args.seeds, args.out, args.results, args.iterations, args.export_only,
                                not args.no_grasps, command, extra, check_frame=not args.no_frame_check)
    except (BenchmarkError, TargetError) as e:
        log(f"ERROR {e}")
        return 2
    failed = [n for n, e in results.items() if "median_px" not in e]
    for name, e in results.items():
        if "median_px" in e:
            log(f"{name}: median {e['median_px']:.1f} px, worst seed {e['worst_seed_px']:.1f} px, "
                f"3D {e['dist3d_units']:.4f} units")
        else:
            log(f"{name}: every seed failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
