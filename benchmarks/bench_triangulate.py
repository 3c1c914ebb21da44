"""What the triangulated start cloud costs and gives on real captures loaded without their cloud
(``python -m benchmarks.bench_triangulate [--captures coke tools] [--repeats 1]``).

For each capture, nerfstudio's parser and point2act's datamanager load it exactly as
``ns-train point2act`` does (the real benchmark's dataparser flags, ``--load-3D-points False``); the
training views (undistorted, at the training resolution) are triangulated with
:func:`point2act.startcloud.triangulate.triangulate_posed_images`, no cache, on the threads the process's
budget gives (:func:`point2act.threads.follow_free_cores`, started as training starts it). (That the points lie on the true
surfaces is tested in ``tests/startcloud/test_triangulate.py`` against closed-form geometry.) Writes ``benchmarks/results/triangulate.json``
and ``triangulate.md`` with the command and the commit.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _datamanager(capture: str):
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from benchmarks.real.targets import CAPTURES
    from point2act.method.datamanager import Point2ActDataManagerConfig

    spec = CAPTURES[capture]
    args = list(spec.parser_args)
    factor = int(args[args.index("--downscale-factor") + 1]) if "--downscale-factor" in args else None
    if args[0] == "colmap":
        path = args[args.index("--colmap-path") + 1] if "--colmap-path" in args else "colmap/sparse/0"
        dp = ColmapDataParserConfig(colmap_path=Path(path), downscale_factor=factor, load_3D_points=False,
                                    eval_mode=spec.eval_mode)
    else:
        dp = NerfstudioDataParserConfig(downscale_factor=factor, load_3D_points=False, eval_mode=spec.eval_mode)
    cfg = Point2ActDataManagerConfig(dataparser=dp, triangulate=False)
    cfg.data = spec.path
    return cfg.setup(device="cpu", test_mode="val"), spec


def measure(capture: str, repeats: int) -> dict:
    from point2act.startcloud.triangulate import triangulate_posed_images

    from point2act.threads import process_threads

    dm, _ = _datamanager(capture)
    arrays, Ks, viewmats = dm.training_views()
    runs, threads = [], []
    for _ in range(repeats):
        threads.append(process_threads())  # what the triangulation takes by default: the free cores, as in training
        runs.append(triangulate_posed_images(arrays, Ks, viewmats))
    cloud = runs[-1]
    rec = {"capture": capture, "views": len(arrays), "size": [int(arrays[0].shape[1]), int(arrays[0].shape[0])],
           "points": len(cloud), "seconds": [round(r.seconds, 2) for r in runs], "threads": threads,
           "median_reprojection_px": round(float(np.median(cloud.errors)), 3) if len(cloud) else None,
           "median_track": int(np.median(cloud.track_lengths)) if len(cloud) else None}
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_triangulate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", nargs="+", default=["coke", "tools"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = ap.parse_args(argv)
    command = "python -m benchmarks.bench_triangulate " + " ".join(argv if argv is not None else sys.argv[1:])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    from point2act.threads import follow_free_cores

    follow_free_cores()  # the thread budget training runs (point2act.threads): the cores other programs leave free
    rows = []
    for c in a.captures:
        t0 = time.perf_counter()
        rows.append(measure(c, a.repeats))
        print(json.dumps(rows[-1]), f"({time.perf_counter() - t0:.0f} s with loading)", flush=True)
    doc = {"command": command, "commit": commit, "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
           "rows": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "triangulate.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = ["# The triangulated start cloud on real captures loaded without their cloud", "", "```", command, "```", "",
             f"Commit {commit}. Seconds: SIFT extraction, matching (each view with its 50 nearest), each pair's matches "
             "kept by the poses' epipolar lines, and triangulation (pycolmap, CPU), per repeat, on the threads the "
             "process's budget gives (the cores other programs leave free, as in training).", "",
             "| capture | views | size | points | seconds | threads | median reprojection (px) | median track |",
             "|---|---:|---|---:|---|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['capture']} | {r['views']} | {r['size'][0]}x{r['size'][1]} | {r['points']} | "
                     f"{', '.join(str(s) for s in r['seconds'])} | {', '.join(str(t) for t in r['threads'])} | "
                     f"{r['median_reprojection_px']} | {r['median_track']} |")
    (a.out / "triangulate.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
