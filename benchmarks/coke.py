"""Real-data check: the coke pull tab.

Runs the user path with the method's defaults on ``../shared/data/real/coke`` (111 phone views, 19
of them with a pull-tab point in ``points/pull_tab.json``; no point cloud, so random init)::

    ns-train point2act --data ../shared/data/real/coke \\
        --pipeline.datamanager.points-file ../shared/data/real/coke/points/pull_tab.json \\
        --max-num-iterations 2000 nerfstudio-data --downscale-factor 4
    point2act export --load-config .../config.yml --metres-per-unit 0.1

(no schedule flags: the schedule derives from ``--max-num-iterations``) and reports the distance of
the exported action point and of each grasp's TCP to the triangulated pull tab in ``reference.json``
(targets: action point <= 0.06 units, a grasp within 0.15 units; the can is about 1 unit tall).

    python -m benchmarks.coke [--iterations 2000] [--out outputs/coke] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real" / "coke"
BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "coke")
    ap.add_argument("--metres-per-unit", type=float, default=0.1)
    ap.add_argument("--skip-train", action="store_true", help="re-export an existing run in --out")
    ap.add_argument("--ns-flag", action="append", default=[], metavar="FLAG=VALUE",
                    help="an extra ns-train flag for an ablation, e.g. --ns-flag=--pipeline.model.visibility-prune=False")
    args = ap.parse_args()
    if not (args.data / "transforms.json").is_file():
        sys.exit(f"coke capture not found at {args.data}")
    it = args.iterations
    cmd = [
        str(BIN / "ns-train"), "point2act",
        "--data", str(args.data),
        "--pipeline.datamanager.points-file", str(args.data / "points" / "pull_tab.json"),
        "--output-dir", str(args.out), "--experiment-name", "coke", "--timestamp", "run",
        "--vis", "tensorboard",  # no viewer: the run ends when training does (same model, same schedule)
        "--max-num-iterations", str(it),
        *[part for f in args.ns_flag for part in f.split("=", 1)],
        "nerfstudio-data", "--downscale-factor", "4",
    ]
    print(" ".join(cmd), flush=True)
    t0 = time.perf_counter()
    if not args.skip_train:
        subprocess.run(cmd, check=True)
    t_train = time.perf_counter() - t0
    config = args.out / "coke" / "point2act" / "run" / "config.yml"
    out_json = args.out / "grasps.json"
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(out_json),
                    "--metres-per-unit", str(args.metres_per_unit)], check=True)
    t_export = time.perf_counter() - t0
    exported = json.loads(out_json.read_text())
    ref = np.asarray(json.loads((args.data / "reference.json").read_text())["pull_tab"]["position"])
    dist = float(np.linalg.norm(np.asarray(exported["action_point"]) - ref))
    gd = [float(np.linalg.norm(np.asarray(g["position"]) - ref)) for g in exported.get("grasps", [])]
    result = {
        "action_point": exported["action_point"],
        "reference": ref.tolist(),
        "distance_units": dist,
        "iterations": it,
        "schedule": "default (derived from --max-num-iterations)" + (f" + {args.ns_flag}" if args.ns_flag else ""),
        "metres_per_unit": args.metres_per_unit,
        "num_grasps": len(gd),
        "grasp_distances_units": [round(d, 4) for d in gd],
        "nearest_grasp_units": min(gd) if gd else None,
        "support": exported.get("support"),
        "warning": exported.get("warning"),
        "export_seconds": round(t_export, 1),
        "timings_ms": {k: round(v) for k, v in exported.get("timings_ms", {}).items()},
        "loadavg": open("/proc/loadavg").read().split()[:3] if Path("/proc/loadavg").is_file() else None,
    }
    if not args.skip_train:
        result.update(train_seconds=round(t_train, 1), iterations_per_minute=round(it / t_train * 60, 1))
    else:
        res_file = ROOT / "benchmarks" / "results" / "coke.json"
        if res_file.is_file():  # keep the timing of the run that trained it
            prev = json.loads(res_file.read_text())
            result.update({k: prev[k] for k in ("train_seconds", "iterations_per_minute", "train_note") if k in prev})
    print(json.dumps(result, indent=1))
    res_dir = ROOT / "benchmarks" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "coke.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
