"""Real-data check: the coke pull tab.

Runs the real tools on ``../shared/data/real/coke`` (111 phone views, 19 of them with a pull-tab
point in ``points/pull_tab.json``)::

    ns-train point2act --data ../shared/data/real/coke \\
        --pipeline.datamanager.points-file ../shared/data/real/coke/points/pull_tab.json \\
        <short CPU schedule> nerfstudio-data --downscale-factor 4
    point2act export --load-config .../config.yml --no-grasps

and reports the distance of the exported action point to the triangulated pull tab in
``reference.json`` (target: < 0.1 units; the can is about 1 unit tall).

    python -m benchmarks.coke [--iterations 3000] [--out outputs/coke]
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
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "coke")
    ap.add_argument("--skip-train", action="store_true", help="re-export an existing run in --out")
    args = ap.parse_args()
    if not (args.data / "transforms.json").is_file():
        sys.exit(f"coke capture not found at {args.data}")
    it = args.iterations
    cmd = [
        str(BIN / "ns-train"), "point2act",
        "--data", str(args.data),
        "--pipeline.datamanager.points-file", str(args.data / "points" / "pull_tab.json"),
        "--output-dir", str(args.out), "--experiment-name", "coke", "--timestamp", "run",
        "--vis", "tensorboard",
        "--max-num-iterations", str(it), "--steps-per-save", str(it),
        "--steps-per-eval-image", str(10**9), "--steps-per-eval-all-images", str(10**9),
        "--logging.steps-per-log", "100",
        # a CPU-sized schedule: fewer random seeds near the scene, splatfacto's refinement compressed
        "--pipeline.model.num-random", "20000",
        "--pipeline.model.random-scale", "4.0",
        "--pipeline.model.num-downscales", "1",
        "--pipeline.model.resolution-schedule", str(it // 4),
        "--pipeline.model.warmup-length", "300",
        "--pipeline.model.stop-split-at", str(int(it * 0.6)),
        "--pipeline.model.sh-degree", "1",
        "--pipeline.model.sh-degree-interval", str(it // 3),
        "--pipeline.model.reset-alpha-every", "1000000",
        "--pipeline.model.densify-grad-thresh", "0.0015",
        "nerfstudio-data", "--downscale-factor", "4",
    ]
    print(" ".join(cmd), flush=True)
    t0 = time.perf_counter()
    if not args.skip_train:
        subprocess.run(cmd, check=True)
    t_train = time.perf_counter() - t0
    config = args.out / "coke" / "point2act" / "run" / "config.yml"
    out_json = args.out / "grasps.json"
    subprocess.run([str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(out_json),
                    "--no-grasps"], check=True)
    exported = json.loads(out_json.read_text())
    ref = json.loads((args.data / "reference.json").read_text())["pull_tab"]["position"]
    dist = float(np.linalg.norm(np.asarray(exported["action_point"]) - np.asarray(ref)))
    result = {
        "action_point": exported["action_point"],
        "reference": ref,
        "distance_units": dist,
        "iterations": it,
    }
    if not args.skip_train:
        result.update(train_seconds=round(t_train, 1), iterations_per_minute=round(it / t_train * 60, 1))
    else:
        prev = res_file = ROOT / "benchmarks" / "results" / "coke.json"
        if res_file.is_file():  # keep the timing of the run that trained it
            prev = json.loads(res_file.read_text())
            result.update({k: prev[k] for k in ("train_seconds", "iterations_per_minute") if k in prev})
    print(json.dumps(result, indent=1))
    res_dir = ROOT / "benchmarks" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "coke.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
