"""One training iteration of ``ns-train point2act``, broken into stages, in milliseconds.

Builds the real nerfstudio trainer in-process (the method's default config, CPU unless CUDA is there)
on a scene, runs ``--warmup`` iterations, then times ``--steps`` iterations stage by stage, with the
same calls, in the same order, as nerfstudio's ``Trainer.train`` / ``train_iteration``:

- data loading (``datamanager.next_train``), forward (RGB pass: projection, tile intersection,
  rasterize; relevancy pass; SSIM; the rest of the losses), backward (rasterize, projection and SSIM
  backward, the rest of autograd), optimizer and scheduler steps, and the after-iteration callbacks
  (densification).

Stages are timed by wrapping the functions that run them (``point2act.render`` stages, the model's
relevancy pass, its SSIM module or its fused L1 + SSIM loss (``SSIM fwd``), the autograd Functions'
``backward``); nested stages are subtracted from their parent, so the rows add up to the iteration.

``--variants`` compares configurations in one run: one trainer each, built from the same seed, their
iterations interleaved step by step (the order rotating), so a machine's changing load falls on all
of them alike. ``default`` is the method as configured; ``pytorch_msssim`` swaps the model's SSIM
for splatfacto's pytorch_msssim module; ``adam-loop``, ``adam-foreach`` and ``adam-fused`` step every
Adam with torch's per-tensor loop, its foreach or its fused implementation; ``sh-torch`` evaluates the SH
colours with torch ops (the fused op's reference); ``metrics-every-step`` computes splatfacto's PSNR at every
step (the method computes it where the trainer logs it, every ``logging.steps_per_log`` steps);
``torch-ops-outputs`` runs splatfacto's compositing and clamps and its L1 + SSIM loss as torch ops (the fused
node's and op's reference).

    python -m benchmarks.bench_train_step [--scene synth|coke] [--steps 40] [--warmup 600]
        [--variants default,pytorch_msssim,adam-loop,adam-fused] [--label LABEL]

Writes ``benchmarks/results/train_step.json`` (under ``label``, one entry per variant; ``--keep``
keeps the other labels' entries) and rewrites ``benchmarks/results/train_step.md`` from it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = Path(os.environ.get("POINT2ACT_SHARED_DATA", ROOT.parent / "shared" / "data"))
VARIANTS = {
    "default": "the method's defaults",
    "pytorch_msssim": "SSIM by pytorch_msssim (splatfacto's module)",
    "adam-loop": "Adam: torch's per-tensor loop (foreach=False, fused=False)",
    "adam-foreach": "Adam: foreach=True",
    "adam-fused": "Adam: fused=True",
    "sh-torch": "SH colours by torch ops (point2act.render._torch_impl._sh_colors, the fused op's reference)",
    "metrics-every-step": "splatfacto's PSNR computed at every step (the trainer computes it where it logs only)",
    "torch-ops-outputs": "splatfacto's compositing, clamps and L1 + SSIM loss as torch ops and their autograd nodes "
                         "(Point2ActModel.fused_composite and fused_photometric_loss off)",
    "relevancy-second-pass": "on CUDA, the relevancy pass as a second gsplat.rasterization of the detached geometry "
                             "(Point2ActModel.relevancy_reuses_rgb_pass off)",
    "splatfacto": "splatfacto's own step on the same trainer: every view unsupervised (no relevancy pass, no "
                  "relevancy loss)",
}


class Timer:
    """Per-iteration stage totals (seconds); nested stages are subtracted from their parent.

    On a CUDA machine every stage boundary waits for the GPU (``torch.cuda.synchronize``), so a stage is charged
    with the kernels it launched rather than with whichever later call happened to wait for them."""

    def __init__(self) -> None:
        self.now: dict = defaultdict(float)
        self.stack: list = []
        self.rows: list = []
        import torch

        self.sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    @contextlib.contextmanager
    def stage(self, name: str):
        self.sync()
        t0 = time.perf_counter()
        self.stack.append([name, 0.0])
        try:
            yield
        finally:
            self.sync()
            _, child = self.stack.pop()
            dt = time.perf_counter() - t0
            self.now[name] += dt - child
            if self.stack:
                self.stack[-1][1] += dt

    def end_iteration(self) -> None:
        self.rows.append(dict(self.now))
        self.now.clear()


ACTIVE: dict = {"timer": None, "relevancy": False}
"""The timer of the trainer whose iteration runs (module-level wrappers are shared by all trainers)."""


def wrap(obj, attr: str, name) -> None:
    """Replace ``obj.attr`` with a version timed on the active timer; ``name`` may be a callable."""
    fn = getattr(obj, attr)

    def timed(*a, **k):
        with ACTIVE["timer"].stage(name() if callable(name) else name):
            return fn(*a, **k)

    setattr(obj, attr, timed)


def _scene(kind: str, tmp: Path):
    """(data dir, points file, dataparser args) of the benchmark scene."""
    if kind == "synth":
        from point2act.synth import SynthConfig, generate_scene

        if not (tmp / "scene").is_dir():
            generate_scene(tmp / "scene", SynthConfig(seed=0))
        return tmp / "scene", tmp / "scene" / "points" / "oracle.json", 1
    coke = SHARED / "real" / "coke"
    points = sorted((coke / "points").glob("*.json"))[0]
    return coke, points, 4


def build_trainer(kind: str, tmp: Path, max_iters: int, name: str = "run", seed: int = 0):
    import numpy as np
    import torch

    from point2act.method.train import registered_config

    data, points, downscale = _scene(kind, tmp)
    config = registered_config("point2act")
    config.output_dir = tmp / "outputs" / name
    config.vis = "tensorboard"
    config.max_num_iterations = max_iters
    config.steps_per_save = 10**9
    config.steps_per_eval_image = config.steps_per_eval_batch = config.steps_per_eval_all_images = 10**9
    dm = config.pipeline.datamanager
    dm.data = data
    dm.dataparser.data = data
    dm.points_file = points
    if downscale > 1:
        dm.dataparser.downscale_factor = downscale
    config.set_timestamp()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    return trainer


def apply_variant(trainer, variant: str) -> None:
    """Make ``trainer`` run ``variant`` (see VARIANTS)."""
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    trainer.bench_variant = variant  # read by iteration(): the SH function and the metrics are set per step
    if variant == "pytorch_msssim":
        from pytorch_msssim import SSIM

        trainer.pipeline.model.ssim = SSIM(data_range=1.0, size_average=True, channel=3)
    elif variant == "torch-ops-outputs":
        trainer.pipeline.model.fused_composite = trainer.pipeline.model.fused_photometric_loss = False
    elif variant == "relevancy-second-pass":
        trainer.pipeline.model.relevancy_reuses_rgb_pass = False
    elif variant == "splatfacto":
        from point2act.method.keys import SUPERVISED_KEY

        dm = trainer.pipeline.datamanager
        next_train = dm.next_train

        def unsupervised(step):  # the model then renders and trains splatfacto's outputs alone
            camera, batch = next_train(step)
            camera.metadata = {**(camera.metadata or {}), SUPERVISED_KEY: False}
            return camera, batch

        dm.next_train = unsupervised
    elif variant.startswith("adam-"):
        flags = {"adam-loop": (False, False), "adam-foreach": (True, False), "adam-fused": (False, True)}[variant]
        for opt in trainer.optimizers.optimizers.values():
            for group in opt.param_groups:  # read by Adam.step; no state exists yet
                group["foreach"], group["fused"] = flags


def instrument_modules() -> None:
    """Time the rasterizer's stages and the autograd Functions' backward on the active timer (once)."""
    import importlib

    # modules, not the functions of the same name that point2act.render exports
    backend = importlib.import_module("point2act.render._backend")
    projection = importlib.import_module("point2act.render.projection")
    rasterization = importlib.import_module("point2act.render.rasterization")
    ssim = importlib.import_module("point2act.ssim")

    which = lambda base: (lambda: f"{base} ({'relevancy' if ACTIVE['relevancy'] else 'RGB'})")  # noqa: E731
    wrap(rasterization, "fully_fused_projection", which("projection fwd"))
    wrap(backend, "isect_tiles", which("tile intersection"))
    wrap(backend, "rasterize_to_pixels", which("rasterize fwd"))
    wrap(ssim, "fused_l1_ssim_loss", "SSIM fwd")  # the model's L1 + SSIM loss (its SSIM module otherwise)
    for mod, kind in ((backend, "rasterize bwd"), (projection, "projection bwd"), (ssim, "SSIM bwd")):
        for cls in vars(mod).values():
            if isinstance(cls, type) and hasattr(cls, "backward") and hasattr(cls, "apply"):
                orig = cls.backward
                cls.backward = staticmethod(
                    (lambda o, k: lambda ctx, *g: _timed(k, o, ctx, *g))(orig, f"{kind} ({cls.__name__})"))


def instrument(trainer) -> None:
    """Time ``trainer``'s relevancy pass, SSIM module and data loading on the active timer."""
    model = trainer.pipeline.model
    render_relevancy = model.render_relevancy

    def timed_relevancy(*a, **k):
        ACTIVE["relevancy"] = True
        try:
            with ACTIVE["timer"].stage("relevancy pass (other)"):
                return render_relevancy(*a, **k)
        finally:
            ACTIVE["relevancy"] = False

    model.render_relevancy = timed_relevancy
    if hasattr(model, "ssim"):
        wrap(model.ssim, "forward", "SSIM fwd")
    wrap(trainer.pipeline.datamanager, "next_train", "data loading")


def _timed(name, fn, *a):
    with ACTIVE["timer"].stage(name):
        return fn(*a)


def iteration(trainer, step: int, timer: Timer) -> None:
    """nerfstudio's Trainer.train loop body and train_iteration, with stage timers."""
    import functools

    import importlib

    import torch
    from nerfstudio.engine.callbacks import TrainingCallbackLocation

    from point2act.render import _torch_impl
    from point2act.render.projection import sh_colors

    variant = getattr(trainer, "bench_variant", "default")
    importlib.import_module("point2act.render.rasterization").sh_colors = (
        _torch_impl._sh_colors if variant == "sh-torch" else sh_colors)
    trainer.mark_metrics_due(step)  # as Point2ActTrainer.train_iteration does
    if variant == "metrics-every-step":
        trainer.pipeline.model.metrics_due = True
    ACTIVE["timer"] = timer
    with timer.stage("iteration (other)"):
        trainer.pipeline.train()
        with timer.stage("callbacks before"):
            for cb in trainer.callbacks:
                cb.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        with timer.stage("optimizer (zero_grad, step, scheduler)"):
            trainer.optimizers.zero_grad_all()
        with timer.stage("forward + losses (other)"):
            _, loss_dict, _ = trainer.pipeline.get_train_loss_dict(step=step)
            loss = functools.reduce(torch.add, loss_dict.values())
        with timer.stage("backward (other autograd)"):
            loss.backward()
        with timer.stage("optimizer (zero_grad, step, scheduler)"):
            trainer.optimizers.optimizer_step_all()
            trainer.optimizers.scheduler_step_all(step)
        with timer.stage("callbacks after (densification)"):
            for cb in trainer.callbacks:
                cb.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
    timer.end_iteration()


def _commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "point2act"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return sha + ("+modified" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _summary(trainer, rows, kind, variant, label, steps, warmup, wall, start: dict) -> dict:
    import torch

    names = sorted({k for r in rows for k in r})
    table = {k: 1e3 * statistics.mean(r.get(k, 0.0) for r in rows) for k in names}
    per_step = sorted(1e3 * sum(r.values()) for r in rows)
    q = statistics.quantiles(per_step, n=4) if len(per_step) > 1 else per_step * 3
    cams = trainer.pipeline.datamanager.train_dataset.cameras
    return {
        "scene": kind, "label": label, "variant": variant, "variant_doc": VARIANTS[variant],
        "steps": steps, "warmup": warmup,
        "iteration_ms": sum(table.values()), "iteration_median_ms": statistics.median(per_step),
        "iteration_quartiles_ms": [q[0], q[2]],
        "stages_ms": dict(sorted(table.items(), key=lambda kv: -kv[1])),
        "num_gaussians": int(trainer.pipeline.model.means.shape[0]),
        "image": [int(cams.width[0]), int(cams.height[0])], "num_views": len(cams),
        "device": str(trainer.pipeline.device), "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "loadavg_start": start["loadavg"],
        "loadavg": list(os.getloadavg()), "commit": start["commit"], "wall_s": wall,
    }


def run(kind: str, steps: int, warmup: int, label: str, variants=("default",)) -> list:
    """Train one trainer per variant, interleaved; the stage table of each (see :func:`_summary`)."""
    start = {"commit": _commit(), "loadavg": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        trainers, timers, walls = [], [], []
        for v in variants:
            t = build_trainer(kind, tmp, warmup + steps, name=v)
            apply_variant(t, v)
            instrument(t)
            trainers.append(t)
            timers.append(Timer())
            walls.append(0.0)
        instrument_modules()
        n = len(variants)
        for step in range(warmup + steps):
            for j in range(n):
                i = (step + j) % n
                t0 = time.perf_counter()
                iteration(trainers[i], step, timers[i])
                walls[i] += time.perf_counter() - t0
        return [_summary(trainers[i], timers[i].rows[warmup:], kind, v, label, steps, warmup, walls[i], start)
                for i, v in enumerate(variants)]


def write(results: list, keep: bool = False) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "train_step.json"
    data = json.loads(path.read_text()) if (keep and path.is_file()) else {}
    for result in results:
        data.setdefault(result["scene"], {})[f"{result['label']}, {result['variant']}"] = result
    path.write_text(json.dumps(data, indent=1) + "\n")
    lines = ["# One training iteration, by stage (ms, mean over the timed steps)", "",
             "`python -m benchmarks.bench_train_step --scene SCENE --steps STEPS --warmup WARMUP "
             "--variants VARIANTS --label LABEL`: variants in one run, one trainer each, their steps "
             "interleaved. The iteration's median and quartiles are over the timed steps. On a shared machine the "
             "means carry every preemption: compare variants within one run (the same load fell on each), "
             "by their medians.", ""]
    for scene, by_label in data.items():
        for key, r in by_label.items():
            med, q = r.get("iteration_median_ms"), r.get("iteration_quartiles_ms")
            load = (f"load average {r['loadavg_start'][0]:.1f} at the start, {r['loadavg'][0]:.1f} at the end"
                    if "loadavg_start" in r else f"load average {r['loadavg'][0]:.1f}")
            spread = f"; iteration median {med:.1f} ms, quartiles {q[0]:.1f}-{q[1]:.1f}" if med else ""
            lines += [f"## {scene}, {key}", "",
                      (f"{r['variant_doc']}. " if r.get("variant_doc") else "")
                      + f"{r['num_views']} views at {r['image'][0]}×{r['image'][1]}, {r['num_gaussians']} Gaussians "
                      f"after {r['warmup'] + r['steps']} steps, {r['device']}, {r['machine']}, {load}; "
                      f"{r['steps']} steps timed after {r['warmup']} warm-up{spread}; "
                      f"commit {r.get('commit', 'unknown')}", "",
                      "| stage | ms |", "|---|---:|"]
            lines += [f"| {k} | {v:.1f} |" for k, v in r["stages_ms"].items()]
            lines += [f"| **iteration** | **{r['iteration_ms']:.1f}** |", ""]
    (RESULTS / "train_step.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scene", choices=["synth", "coke"], default="synth")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=600)
    ap.add_argument("--variants", default="default", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    ap.add_argument("--label", default=None, help="default: steps WARMUP-WARMUP+STEPS")
    ap.add_argument("--keep", action="store_true", help="keep the other labels' entries in train_step.json")
    args = ap.parse_args()
    label = args.label or f"steps {args.warmup}-{args.warmup + args.steps}"
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    results = run(args.scene, args.steps, args.warmup, label, variants)
    write(results, keep=args.keep)
    for r in results:
        q = r["iteration_quartiles_ms"]
        print(f"{r['scene']} ({r['label']}, {r['variant']}): {r['iteration_ms']:.1f} ms per iteration (median "
              f"{r['iteration_median_ms']:.1f}, quartiles {q[0]:.1f}-{q[1]:.1f}), {r['num_gaussians']} Gaussians")
        for k, v in r["stages_ms"].items():
            print(f"  {k:45s} {v:8.1f}")


if __name__ == "__main__":
    main()
