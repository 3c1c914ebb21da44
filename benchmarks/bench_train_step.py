"""One training iteration of ``ns-train point2act``, broken into stages, in milliseconds.

Builds the real nerfstudio trainer in-process (the method's default config, CPU unless CUDA is there)
on a scene, runs ``--warmup`` iterations, then times ``--steps`` iterations stage by stage, with the
same calls, in the same order, as nerfstudio's ``Trainer.train`` / ``train_iteration``:

- data loading (``datamanager.next_train``), forward (RGB pass: projection, tile intersection,
  rasterize; relevancy pass; SSIM; the rest of the losses), backward (rasterize and projection
  backward of both passes, the rest of autograd), optimizer and scheduler steps, and the
  after-iteration callbacks (densification).

Stages are timed by wrapping the functions that run them (``point2act.render`` stages, the model's
relevancy pass, its SSIM module, the autograd Functions' ``backward``); nested stages are
subtracted from their parent, so the rows add up to the iteration.

    python -m benchmarks.bench_train_step [--scene synth|coke] [--steps 40] [--warmup 20] [--label after]

Appends the table to ``benchmarks/results/train_step.json`` under ``label`` and rewrites
``benchmarks/results/train_step.md`` (one table per scene and label).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED = Path(os.environ.get("POINT2ACT_SHARED_DATA", ROOT.parent / "shared" / "data"))


class Timer:
    """Per-iteration stage totals (seconds); nested stages are subtracted from their parent."""

    def __init__(self) -> None:
        self.now: dict = defaultdict(float)
        self.stack: list = []
        self.rows: list = []

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.perf_counter()
        self.stack.append([name, 0.0])
        try:
            yield
        finally:
            _, child = self.stack.pop()
            dt = time.perf_counter() - t0
            self.now[name] += dt - child
            if self.stack:
                self.stack[-1][1] += dt

    def wrap(self, obj, attr: str, name):
        """Replace ``obj.attr`` with a timed version; ``name`` may be a callable giving the stage name."""
        fn = getattr(obj, attr)
        timer = self

        def timed(*a, **k):
            with timer.stage(name() if callable(name) else name):
                return fn(*a, **k)

        setattr(obj, attr, timed)

    def end_iteration(self) -> None:
        self.rows.append(dict(self.now))
        self.now.clear()


def _scene(kind: str, tmp: Path):
    """(data dir, points file, dataparser args) of the benchmark scene."""
    if kind == "synth":
        from point2act.synth import SynthConfig, generate_scene

        generate_scene(tmp / "scene", SynthConfig(seed=0))
        return tmp / "scene", tmp / "scene" / "points" / "oracle.json", 1
    coke = SHARED / "real" / "coke"
    points = sorted((coke / "points").glob("*.json"))[0]
    return coke, points, 4


def build_trainer(kind: str, tmp: Path, max_iters: int):
    from point2act.method.train import registered_config

    data, points, downscale = _scene(kind, tmp)
    config = registered_config("point2act")
    config.output_dir = tmp / "outputs"
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
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    return trainer


def instrument(trainer, timer: Timer) -> None:
    import importlib

    # modules, not the functions of the same name that point2act.render exports
    backend = importlib.import_module("point2act.render._backend")
    projection = importlib.import_module("point2act.render.projection")
    rasterization = importlib.import_module("point2act.render.rasterization")

    model = trainer.pipeline.model
    in_rel = {"on": False}
    which = lambda base: (lambda: f"{base} ({'relevancy' if in_rel['on'] else 'RGB'})")  # noqa: E731
    timer.wrap(rasterization, "fully_fused_projection", which("projection fwd"))
    timer.wrap(backend, "isect_tiles", which("tile intersection"))
    timer.wrap(backend, "rasterize_to_pixels", which("rasterize fwd"))
    for mod, kind in ((backend, "rasterize bwd"), (projection, "projection bwd")):
        for cls in vars(mod).values():
            if isinstance(cls, type) and hasattr(cls, "backward") and hasattr(cls, "apply"):
                orig = cls.backward
                cls.backward = staticmethod(
                    (lambda o, k: lambda ctx, *g: _timed(timer, k, o, ctx, *g))(orig, f"{kind} ({cls.__name__})"))
    render_relevancy = model.render_relevancy

    def timed_relevancy(*a, **k):
        in_rel["on"] = True
        try:
            with timer.stage("relevancy pass (other)"):
                return render_relevancy(*a, **k)
        finally:
            in_rel["on"] = False

    model.render_relevancy = timed_relevancy
    if hasattr(model, "ssim"):
        timer.wrap(model.ssim, "forward", "SSIM fwd")
    timer.wrap(trainer.pipeline.datamanager, "next_train", "data loading")


def _timed(timer, name, fn, *a):
    with timer.stage(name):
        return fn(*a)


def iteration(trainer, step: int, timer: Timer) -> None:
    """nerfstudio's Trainer.train loop body and train_iteration, with stage timers."""
    import functools

    import torch
    from nerfstudio.engine.callbacks import TrainingCallbackLocation

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


def run(kind: str, steps: int, warmup: int, label: str) -> dict:
    import torch

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        trainer = build_trainer(kind, tmp, warmup + steps)
        timer = Timer()
        instrument(trainer, timer)
        t0 = time.perf_counter()
        for step in range(warmup + steps):
            iteration(trainer, step, timer)
        wall = time.perf_counter() - t0
        rows = timer.rows[warmup:]
        names = sorted({k for r in rows for k in r})
        table = {k: 1e3 * statistics.mean(r.get(k, 0.0) for r in rows) for k in names}
        total = sum(table.values())
        cams = trainer.pipeline.datamanager.train_dataset.cameras
        return {
            "scene": kind, "label": label, "steps": steps, "warmup": warmup,
            "iteration_ms": total, "stages_ms": dict(sorted(table.items(), key=lambda kv: -kv[1])),
            "num_gaussians": int(trainer.pipeline.model.means.shape[0]),
            "image": [int(cams.width[0]), int(cams.height[0])], "num_views": len(cams),
            "device": str(trainer.pipeline.device), "torch_threads": torch.get_num_threads(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "loadavg": list(os.getloadavg()),
            "wall_s": wall,
        }


def write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "train_step.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault(result["scene"], {})[result["label"]] = result
    path.write_text(json.dumps(data, indent=1) + "\n")
    lines = ["# One training iteration, by stage (ms, mean over the timed steps)", "",
             "`python -m benchmarks.bench_train_step --scene SCENE --label LABEL`", ""]
    for scene, by_label in data.items():
        for label, r in by_label.items():
            lines += [f"## {scene}, {label}", "",
                      f"{r['num_views']} views at {r['image'][0]}×{r['image'][1]}, {r['num_gaussians']} Gaussians "
                      f"after {r['warmup'] + r['steps']} steps, {r['device']}, {r['machine']}, load average "
                      f"{r['loadavg'][0]:.1f}; {r['steps']} steps timed after {r['warmup']} warm-up", "",
                      "| stage | ms |", "|---|---:|"]
            lines += [f"| {k} | {v:.1f} |" for k, v in r["stages_ms"].items()]
            lines += [f"| **iteration** | **{r['iteration_ms']:.1f}** |", ""]
    (RESULTS / "train_step.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scene", choices=["synth", "coke"], default="synth")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--label", default="current")
    args = ap.parse_args()
    r = run(args.scene, args.steps, args.warmup, args.label)
    write(r)
    print(f"{r['scene']} ({r['label']}): {r['iteration_ms']:.1f} ms per iteration, {r['num_gaussians']} Gaussians")
    for k, v in r["stages_ms"].items():
        print(f"  {k:45s} {v:8.1f}")


if __name__ == "__main__":
    main()
