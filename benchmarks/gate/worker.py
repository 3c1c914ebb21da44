"""One job of the gate, in its own process: train (unless the cached run is current), then evaluate.

    python -m benchmarks.gate.worker scene|real NAME SEED OUT.json

Training runs first in a process that has imported nothing of the evaluation, and the manifest
(:mod:`benchmarks.gate.cache`) is written as soon as training returns: it lists what training loaded, so an
export-only change leaves the run current. Then the same process evaluates the run and writes ``OUT.json``:

* a generated scene: per pointer level, the action point's hit and the top grasp's verdicts by the true meshes,
  and the geometry at the target (:func:`benchmarks.accuracy.run.run_scene`, which measures it with
  :func:`benchmarks.accuracy.target_geometry.target_geometry`);
* a real target: ``point2act export`` and the hand annotations (:func:`benchmarks.real.run.run_one`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict

from .cache import cache_root, is_current, write_manifest
from .scenes import LEVELS, Job

ITERATIONS = 2000
"""``ns-train point2act``'s default, which the gate does not change."""
GRASP_NEAR_HAND_M = 0.03
"""A real target's top grasp counts as on it when point2act calls it on target and its centre lies within this
distance of the hand-annotated point (a mug handle is about 3 cm across)."""
HIT_RADIUS_M = 0.01
"""A real action point hits within this distance of the hand-annotated point (the generated scenes' radius)."""


# ------------------------------------------------------------------------------------------ generated scenes
def _bench_config(job: Job):
    from benchmarks.accuracy.run import BenchConfig

    return BenchConfig(iterations=ITERATIONS, seeds=(0,), train_seed=job.seed, cloud="triangulated",
                       cache_root=cache_root() / "scenes")


def scene_run_dir(job: Job) -> Path:
    """Where :func:`benchmarks.accuracy.train.train_geometry` keeps the job's run (without generating the scene)."""
    from benchmarks.accuracy.suite import all_specs, scene_dir

    bc = _bench_config(job)
    sd = scene_dir(all_specs()[job.name], bc.common(), bc.cache_root)
    return sd / f"recon_it{bc.iterations}_seed{job.seed}_cloud{bc.cloud}"


def identity(job: Job) -> Dict[str, Any]:
    """What the job's run is, beside the code: its manifest's ``run``."""
    return {"kind": job.kind, "name": job.name, "seed": job.seed, "iterations": ITERATIONS,
            "cloud": "triangulated"}


def run_dir(job: Job) -> Path:
    """The folder of the job's trained run and its manifest."""
    if job.kind == "scene":
        return scene_run_dir(job)
    return cache_root() / "real" / job.name / "point2act" / f"seed{job.seed}"


def _train_scene(job: Job) -> float:
    from benchmarks.accuracy.suite import all_specs, ensure_scene
    from benchmarks.accuracy.train import train_geometry

    bc = _bench_config(job)
    sd, _ = ensure_scene(all_specs()[job.name], bc.common(), bc.cache_root)
    _, seconds = train_geometry(sd, bc)
    return seconds


def _real_command(job: Job):
    from benchmarks.real import run as real_run
    from benchmarks.real.targets import load_target

    real_run.PARSER_EXTRA[:] = ["--load-3D-points", "False"]  # the capture without its cloud
    t = load_target(real_run.select_targets([job.name])[0].path)
    out = cache_root() / "real"
    return t, out, real_run.train_command(t, real_run.write_points(t, out), out, job.seed, ITERATIONS)


def _train_real(job: Job) -> float:
    """``ns-train point2act`` in this process (nerfstudio's own entry point, the command a user types)."""
    _, _, cmd = _real_command(job)
    from nerfstudio.scripts.train import entrypoint

    argv = sys.argv
    sys.argv = ["ns-train", *cmd[1:]]
    t0 = time.perf_counter()
    try:
        entrypoint()
    finally:
        sys.argv = argv
    seconds = time.perf_counter() - t0
    (run_dir(job) / "train.json").write_text(json.dumps({"seconds": seconds, "iterations": ITERATIONS}) + "\n")
    return seconds


def train(job: Job) -> Dict[str, Any]:
    """Train the job's run unless its cached run is current; {"trained": bool, "why": reason, "seconds": s}."""
    rd = run_dir(job)
    current, why = is_current(rd, identity(job))
    if current:
        return {"trained": False, "why": "", "seconds": json.loads((rd / "train.json").read_text())["seconds"]}
    if rd.exists():
        shutil.rmtree(rd)
    seconds = _train_real(job) if job.kind == "real" else _train_scene(job)
    write_manifest(rd, identity(job))
    return {"trained": True, "why": why, "seconds": seconds}


# ------------------------------------------------------------------------------------------ evaluation
def gaussian_count(config_path: Path) -> int:
    """The trained run's Gaussian count, from its latest checkpoint."""
    import torch

    from point2act.checkpoints import checkpoint_steps

    ckpt = checkpoint_steps(Path(config_path).parent / "nerfstudio_models")[0][1]
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["pipeline"]
    return int(next(v.shape[0] for k, v in state.items() if k.endswith("gauss_params.means")))


def trained_steps(job: Job) -> int:
    """The steps the job's run trained: its latest checkpoint's step plus one (training may stop before
    ``ITERATIONS`` once the target's depth has converged, :mod:`point2act.convergence`)."""
    from point2act.checkpoints import checkpoint_steps

    found = [s for d in run_dir(job).rglob("nerfstudio_models") for s, _ in checkpoint_steps(d)]
    return max(found) + 1 if found else 0


def evaluate_scene(job: Job) -> Dict[str, Any]:
    from benchmarks.accuracy.pointer import LEVELS as ALL_LEVELS
    from benchmarks.accuracy.run import run_scene
    from benchmarks.accuracy.suite import all_specs

    spec = all_specs()[job.name]
    res = run_scene(spec, _bench_config(job), [ALL_LEVELS[n] for n in LEVELS], log=lambda m: None)
    levels = {}
    for r in res["records"]:
        if r["method"] != "point2act":
            continue
        levels[r["level"]] = {
            "hit": bool(r["hit"]), "error_cm": None if r["error_m"] == float("inf") else round(100 * r["error_m"], 2),
            "grasp_ok": bool(r.get("grasp_success", False)), "on_target": bool(r.get("grasp_on_target", False)),
            "collision_free": bool(r.get("grasp_collision_free", False)),
            "beyond_hand": r.get("target_beyond_hand"), "num_grasps": r.get("num_grasps"),
            "confidence": r.get("confidence"), "weak": r.get("weak"), "warning": r.get("grasp_warning")}
    return {"generator": spec.generator, "levels": levels, "geometry": res["geometry"],
            "gaussians": gaussian_count(Path(res["run"])), "train_views": res["train_views"]}


def evaluate_real(job: Job) -> Dict[str, Any]:
    from benchmarks.real import run as real_run
    from benchmarks.real.targets import CAPTURES

    t, out, _ = _real_command(job)
    rec = real_run.run_one(t, job.seed, out, ITERATIONS, export_only=True, grasps=True)
    mpu = CAPTURES[t.capture].metres_per_unit
    dist_m = rec["dist3d_units"] * mpu
    grasp_m = rec.get("grasp_dist_units", float("inf")) * mpu
    on = bool(rec.get("grasp_on_target", False))
    return {"generator": "real", "gaussians": gaussian_count(run_dir(job) / "config.yml"), "levels": {"clean": {
        "hit": bool(dist_m <= HIT_RADIUS_M), "error_cm": round(100 * dist_m, 2), "held_out_px": round(rec["px"], 2),
        "grasp_ok": bool(on and grasp_m <= GRASP_NEAR_HAND_M), "on_target": on,
        "grasp_cm": None if grasp_m == float("inf") else round(100 * grasp_m, 2),
        "num_grasps": rec.get("num_grasps"), "confidence": (rec.get("support") or {}).get("confidence"),
        "warning": rec.get("warning")}}}


def run_job(job: Job) -> Dict[str, Any]:
    t0 = time.perf_counter()
    tr = train(job)
    out = evaluate_real(job) if job.kind == "real" else evaluate_scene(job)
    return {"kind": job.kind, "name": job.name, "seed": job.seed, "steps": trained_steps(job),
            "train_seconds": round(tr["seconds"], 1), "trained_now": tr["trained"], "retrain_reason": tr["why"],
            "wall_s": round(time.perf_counter() - t0, 1), **out}


def main(argv=None) -> int:
    kind, name, seed, out = (argv if argv is not None else sys.argv[1:])
    doc = run_job(Job(kind, name, int(seed)))
    Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
