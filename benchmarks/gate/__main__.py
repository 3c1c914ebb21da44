"""``python -m benchmarks.gate`` (``make gate``): the check of a change to training that fits between two changes.

    python -m benchmarks.gate                    # training seed 0 -> benchmarks/results/gate/CLASS.json, .md
    python -m benchmarks.gate --seed 1           # -> CLASS-seed1.json: with seed 0, the gate's noise
    python -m benchmarks.gate --compare BASE.json   # and the verdicts that differ from another gate's
    python -m benchmarks.gate --compare HEAD     # ... from the result committed at a git revision (same CLASS, seed)

CLASS is the CPU's vendor and widest vector ISA (``intel-avx512``, ``amd-avx512``:
:func:`benchmarks.gate.cache.cpu_class`), the machines whose runs have the same bits. Each class and training seed has one current result, which names its
commit (and, after ``--compare``, its base's commit); earlier results are in git's history.

Twelve generated scenes (four per generator, :mod:`benchmarks.gate.scenes`) and two real targets on
``real/tools``, all through the default path without a point cloud, at most 2000 steps, each job in its own process
(:mod:`benchmarks.gate.worker`), ``--workers`` at a time with the machine's cores shared among them. Trained runs
are cached by what trained them (:mod:`benchmarks.gate.cache`): after a change that training does not load, a
gate only re-exports. The rule that reads the result is in docs/accuracy.md ("The gate").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List

from .cache import ROOT, cache_root, cpu_class
from .report import compare, markdown
from .scenes import Job, jobs

RESULTS = ROOT / "benchmarks" / "results" / "gate"


def commit() -> str:
    """HEAD's short hash, with ``+dirty`` when the sources differ from it."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "point2act", "benchmarks", ":!benchmarks/results")
    return head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(job: Job, threads: int, tmp: Path, log) -> Dict[str, Any]:
    out = tmp / f"{job.kind}-{job.name}-{job.seed}.json"
    logfile = cache_root() / "logs" / f"{job.kind}-{job.name}-{job.seed}.log"  # kept beside the cached runs
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    log(f"start  {job.label}")
    with open(logfile, "w") as f:
        p = subprocess.run([sys.executable, "-m", "benchmarks.gate.worker", job.kind, job.name, str(job.seed), str(out)],
                           cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    if p.returncode != 0 or not out.is_file():
        tail = "\n    ".join(logfile.read_text().splitlines()[-12:])
        log(f"FAILED {job.label} after {dt:.0f} s (exit {p.returncode}); log {logfile}:\n    {tail}")
        return {"kind": job.kind, "name": job.name, "seed": job.seed, "error": f"exit {p.returncode}", "log": str(logfile)}
    doc = json.loads(out.read_text())
    verdicts = ", ".join(f"{lv} {'hit' if v['hit'] else 'miss'}/{'grasp' if v['grasp_ok'] else 'no grasp'}"
                         for lv, v in doc["levels"].items())
    log(f"done   {job.label} in {dt:.0f} s ({'trained' if doc['trained_now'] else 'cached run'}): {verdicts}")
    return doc


def result_name(cpu_label: str, seed: int) -> str:
    """The results file's name (without suffix) for a CPU class (:func:`~benchmarks.gate.cache.cpu_class`) and
    training seed: one current result per pair."""
    return cpu_label + (f"-seed{seed}" if seed else "")


def load_base(spec: str, name: str) -> Dict[str, Any]:
    """The gate document to compare with: the JSON file ``spec``, or else the result ``name`` committed at the
    git revision ``spec`` (``benchmarks/results/gate/NAME.json`` there)."""
    if Path(spec).is_file():
        return json.loads(Path(spec).read_text())
    rel = RESULTS.relative_to(ROOT).as_posix() + f"/{name}.json"
    p = subprocess.run(["git", "show", f"{spec}:{rel}"], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"--compare {spec}: neither a file nor a git revision with {rel} "
                         f"({p.stderr.strip() or 'git show failed'})")
    return json.loads(p.stdout)


def run_gate(seed: int, workers: int, log=print) -> Dict[str, Any]:
    """Every job of the gate at training seed ``seed``; the results document."""
    head = commit()  # the code the jobs run, before any edit made while they do
    todo = jobs(seed)
    threads = max(1, (os.cpu_count() or 1) // workers)
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M:%S")

    def stamp(msg: str) -> None:
        log(f"[{time.perf_counter() - t0:6.0f} s] {msg}")

    (cache_root() / "logs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="p2a-gate-") as tmp, ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda j: _run(j, threads, Path(tmp), stamp), todo))
    return {"command": "python -m benchmarks.gate " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "commit": head, "cpu_class": cpu_class(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "workers": workers, "threads_per_worker": threads, "seed": seed, "started": started,
            "wall_s": round(time.perf_counter() - t0, 1), "jobs": results}


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="the training seed (ns-train --machine.seed)")
    ap.add_argument("--workers", type=int, default=2, help="jobs run at once; the cores are shared among them")
    ap.add_argument("--compare", default=None, metavar="BASE",
                    help="another gate's JSON, or a git revision whose committed result of this CPU class and seed is "
                         "the base: list the verdicts that differ")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    a = ap.parse_args(argv)
    name = result_name(cpu_class(), a.seed)
    base = load_base(a.compare, name) if a.compare else None  # read first: the run overwrites NAME.json
    doc = run_gate(a.seed, a.workers)
    if base is not None:
        doc["base"] = {"commit": base["commit"], "seed": base["seed"], **compare(base, doc)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = markdown(doc, base)
    (a.out / f"{name}.md").write_text(md)
    print(md)
    print(f"wrote {a.out / name}.json and .md")
    if base is not None:
        diff = compare(base, doc)
        print(f"{len(diff['lost'])} verdicts lost, {len(diff['gained'])} gained against {a.compare}")
    return 1 if any("error" in j for j in doc["jobs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
