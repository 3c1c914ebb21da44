"""Where `point2act demo`'s wall time goes. First the command itself in a new process, timed from outside
(``demo_wall_s``: what a user waits, with its own scene / train / export split). Then its stages, timed in one
process by wrapping the functions that run them (nerfstudio's imports and config, trainer setup, the training
loop, judging against the true meshes). In that second run nerfstudio's trainer is imported before the demo
starts, so its import is a stage of its own; the command itself imports it while its second process makes the
scene. Writes ``results/demo_stages.json``.

    python -m benchmarks.bench_demo [--out outputs/bench_demo] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from benchmarks.bench_command import _commit, time_calls


def _command_wall(out: Path, seed: int) -> dict:
    """``point2act demo`` in a new process: its wall time and its own split of it."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "point2act"
    t = time.perf_counter()
    subprocess.run([str(exe), "demo", "--out", str(out), "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    seconds = json.loads((out / "demo_summary.json").read_text())["seconds"]
    return {"wall": round(wall, 2), **seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("outputs/bench_demo"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    wall = _command_wall(args.out / "command", args.seed)
    t_in = time.perf_counter()
    import nerfstudio  # noqa: F401  (only the package: its trainer's import is timed below)

    import point2act.demo as demo
    import point2act.grasp.evaluate as evaluate
    import point2act.method.train as train

    stages = {"point2act_imports": time.perf_counter() - t_in}

    def timed(owner, name, key):
        time_calls(owner, name, key, stages)

    t = time.perf_counter()
    from point2act._nerfstudio import light_import

    with light_import():  # as the demo imports it
        import nerfstudio.engine.trainer as trainer  # what registered_config and ns-train import first

    stages["nerfstudio_trainer_import"] = time.perf_counter() - t
    timed(train, "registered_config", "method_config")
    timed(trainer.Trainer, "setup", "trainer_setup")
    timed(trainer.Trainer, "train", "training_steps")
    timed(evaluate, "judge_grasp", "judging")
    t = time.perf_counter()
    summary = demo.run_demo(args.out, seed=args.seed)
    stages["run_demo"] = time.perf_counter() - t
    stages["wall_in_process"] = time.perf_counter() - t_in
    out = {"demo_wall_s": wall, "stages_s": {k: round(v, 2) for k, v in stages.items()},
           "demo_seconds": summary["seconds"],
           "iterations_per_minute": summary["iterations_per_minute"],
           "checks": {"inside_target_bbox_1cm": summary["inside_target_bbox_1cm"],
                      "best_grasp_verdict": summary["best_grasp_verdict"]},
           "commit": _commit(),
           "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "machine": platform.machine()}}
    path = Path(__file__).parent / "results" / "demo_stages.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["stages_s"]), f"-> {path}")


if __name__ == "__main__":
    main()
