"""``python -m benchmarks.protocol``: the full protocol in one command, run once at the end of an issue that changed
training (docs/accuracy.md, "The gate").

What it runs, each through the default path (``ns-train point2act`` defaults, then ``point2act export``):

- the accuracy benchmark on the test split of every generator (synth, kitchen, studio and the held-out external
  objects) at levels clean and out40, training seeds 0-2, per start cloud: ``none`` (random start), ``triangulated``
  (what a capture without a cloud gets), ``sensor`` (triangulated, with the kitchen and studio generators' RGB-D
  depth) and ``exact`` (the generators' own cloud, seed 0 only: the upper bound), each into
  ``benchmarks/results/accuracy/clouds/COND/GENERATOR/``;
- the real captures' benchmark (``python -m benchmarks.real``), and ``real/tools`` without its cloud;
- then ``python -m benchmarks.accuracy.clouds``, which gathers the conditions into ``clouds.md`` and
  ``summary.json``.

Every trained run is trained again (``--retrain``). The commands of one split run one after another (they share
its scene cache); the splits and the real benchmark are spread over ``--workers`` processes, each with
``OMP_NUM_THREADS = cores / workers``. Each command's output goes to ``--logs/NAME.log``; a failed command is
reported at the end and the others still run.

    python -m benchmarks.protocol --dry-run      # the commands, by lane
    python -m benchmarks.protocol                # about 1.5 h on 2 cores
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
CLOUDS = "benchmarks/results/accuracy/clouds"
SPLITS = (("test", "synth"), ("kitchen_test", "kitchen"), ("studio_test", "studio"), ("objects_test", "objects"))
"""The test split of each generator and its folder name under :data:`CLOUDS`."""
SENSOR_DEPTH = ("kitchen_test", "studio_test")
"""The splits whose generator writes RGB-D sensor depth."""
REAL_TOOLS = ("tools-mug_handle", "tools-screwdriver_handle", "tools-scissors_handles", "tools-bottle_cap")
"""The ``real/tools`` targets also run without the capture's cloud."""


@dataclass(frozen=True)
class Job:
    """One command of the protocol."""

    name: str
    """Its log's name."""
    argv: Tuple[str, ...]
    """The command, run from the repository root."""
    cost: int
    """Trainings it runs (a real capture counts two): what lanes are balanced by."""


def accuracy_job(split: str, gen: str, cond: str, seeds: Sequence[int]) -> Job:
    """The accuracy benchmark on ``split`` under start-cloud condition ``cond`` (:data:`CLOUDS`' folders)."""
    cloud = {"none": "none", "triangulated": "triangulated", "sensor": "triangulated", "exact": "scene"}[cond]
    seeds = list(seeds)[:1] if cond == "exact" else list(seeds)
    argv = [sys.executable, "-m", "benchmarks.accuracy", "--split", split, "--cloud", cloud, "--levels",
            "clean,out40", "--seeds", "0", "--train-seeds", *map(str, seeds), "--seed-levels", "clean,out40",
            "--no-readme", "--retrain", "--out", f"{CLOUDS}/{cond}/{gen}"]
    if cond == "sensor":
        argv += ["--depth", "sensor"]
    scenes = {"test": 12, "objects_test": 6}.get(split, 5)
    return Job(f"{cond}-{gen}", tuple(argv), scenes * len(seeds))


def groups(seeds: Sequence[int] = (0, 1, 2)) -> List[List[Job]]:
    """The protocol's commands, grouped so that a group's commands run one after another: one group per split
    (its conditions share the split's scene cache), and the real benchmark."""
    out = []
    for split, gen in SPLITS:
        conds = ["triangulated", "none"] + (["sensor"] if split in SENSOR_DEPTH else []) + \
            ([] if split == "objects_test" else ["exact"])
        out.append([accuracy_job(split, gen, c, seeds) for c in conds])
    real = [sys.executable, "-m", "benchmarks.real", "--seeds", *map(str, seeds)]
    out.append([Job("real", tuple(real + ["--out", "outputs/protocol/real"]), 2 * 9 * len(seeds)),
                Job("real-tools-triangulated", tuple(real + ["--targets", *REAL_TOOLS, "--cloud", "triangulated",
                                                            "--out", "outputs/protocol/real_tri", "--results",
                                                            "benchmarks/results/real/cloud-triangulated"]),
                    2 * len(REAL_TOOLS) * len(seeds))])
    return out


def lanes(jobs: List[List[Job]], workers: int) -> List[List[Job]]:
    """The groups spread over ``workers`` lanes, the costliest first onto the least loaded lane."""
    load = [0] * max(1, int(workers))
    out: List[List[Job]] = [[] for _ in load]
    for g in sorted(jobs, key=lambda g: -sum(j.cost for j in g)):
        i = load.index(min(load))
        out[i] += g
        load[i] += sum(j.cost for j in g)
    return [lane for lane in out if lane]


def run_lane(lane: List[Job], env: dict, logs: Path, failed: List[str]) -> None:
    """Run a lane's commands in turn; a failure is recorded and the lane goes on."""
    for job in lane:
        t0 = time.perf_counter()
        with open(logs / f"{job.name}.log", "w") as log:
            rc = subprocess.run(job.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        print(f"[protocol] {job.name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in "
              f"{(time.perf_counter() - t0) / 60:.1f} min", flush=True)
        if rc != 0:
            failed.append(f"{job.name} (log {logs / (job.name + '.log')})")


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="processes at a time (default 2)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    ap.add_argument("--logs", type=Path, default=ROOT / "outputs" / "protocol" / "logs")
    ap.add_argument("--dry-run", action="store_true", help="print the commands by lane, run nothing")
    a = ap.parse_args(argv)
    plan = lanes(groups(a.seeds), a.workers)
    if a.dry_run:
        for i, lane in enumerate(plan):
            print(f"lane {i} ({sum(j.cost for j in lane)} trainings):")
            for j in lane:
                print("  " + " ".join(j.argv[1:]))
        return 0
    a.logs.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // len(plan))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    failed: List[str] = []
    t0 = time.perf_counter()
    workers = [threading.Thread(target=run_lane, args=(lane, env, a.logs, failed)) for lane in plan]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    subprocess.run([sys.executable, "-m", "benchmarks.accuracy.clouds"], cwd=ROOT, env=env, check=False,
                   stdout=subprocess.DEVNULL)
    print(f"[protocol] {len(plan)} lanes, {threads} threads each: {(time.perf_counter() - t0) / 60:.1f} min; "
          f"{CLOUDS}/clouds.md, benchmarks/results/real/real.md")
    for f in failed:
        print(f"[protocol] failed: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
