"""Point2ActTrainer: nerfstudio's ``Trainer`` with crash-safe checkpoints and tensorboard scalars at the logging
steps only (:class:`LoggedStepsTensorboard`).

nerfstudio 1.1.5 writes ``step-*.ckpt`` with ``torch.save`` straight into ``nerfstudio_models/``,
so a kill during the save leaves a truncated file there, and ``--load-dir`` picks the highest
step it finds by parsing *every* file name of that folder. Here:

- a checkpoint is written to a temporary file in the run folder (``RUN/.step-*.ckpt.*.tmp``,
  outside ``nerfstudio_models/`` so nerfstudio's own loaders, which parse every name there, never
  see it), fsynced, then renamed into place: a kill leaves the previous checkpoints only;
- ``--load-dir`` without ``--load-step`` takes the highest *readable* ``step-*.ckpt`` (a truncated
  or foreign one, e.g. left by a kill under plain nerfstudio, is skipped with a warning naming
  it); no readable one, or an unreadable ``--load-step``/``--load-checkpoint``, is a
  :class:`~point2act.errors.Point2ActError` naming the file. Other files in the folder are ignored;
- after loading, the optimizers are re-pointed at the model's resized Gaussian parameters (see
  :meth:`Point2ActTrainer._rebind_optimizers`): without that a resumed splatfacto run optimizes
  nothing and crashes at its first densification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

from nerfstudio.engine.trainer import Trainer
from nerfstudio.utils import writer as ns_writer
from nerfstudio.utils.decorators import check_main_thread
from nerfstudio.utils.misc import step_check
from nerfstudio.utils.rich_utils import CONSOLE
from rich.markup import escape
import torch

from point2act._nerfstudio import int_broadcast_shapes
from point2act.checkpoints import checkpoint_steps, load_checkpoint
from point2act.method.resume import KEY as RESUME_KEY, restore_training_state, training_state
from point2act.errors import Point2ActError
from point2act.io import save_torch_atomic

__all__ = ["LoggedStepsTensorboard", "Point2ActTrainer", "checkpoint_steps", "latest_readable_checkpoint"]

def latest_readable_checkpoint(load_dir: Path) -> Tuple[Path, Dict[str, Any]]:
    """The highest-step checkpoint of ``load_dir`` that loads, and its state; unreadable ones are skipped."""
    load_dir = Path(load_dir)
    if not load_dir.is_dir():
        raise Point2ActError(f"{load_dir}: --load-dir is not a folder (give the run's nerfstudio_models/).")
    found = checkpoint_steps(load_dir)
    if not found:
        raise Point2ActError(f"{load_dir}: no step-*.ckpt checkpoint to resume from.")
    skipped = []
    for _step, path in found:
        try:
            return path, load_checkpoint(path)
        except Point2ActError as e:
            skipped.append(path.name)
            CONSOLE.print(f"[bold yellow]\\[point2act] skipping unreadable checkpoint: {escape(str(e))}",
                          soft_wrap=True, highlight=False)
    raise Point2ActError(
        f"{load_dir}: none of its checkpoints is readable ({', '.join(skipped)}); they are truncated or "
        "not nerfstudio checkpoints. Train from scratch (leave out --load-dir)."
    )


class LoggedStepsTensorboard(ns_writer.TensorboardWriter):
    """nerfstudio's tensorboard writer that writes scalars at the logging steps only (every ``every`` steps).

    nerfstudio puts three timing scalars (iteration time, rays per second, ETA) into its event storage at every
    step; its loss and metric scalars come at the logging steps. protobuf, which nerfstudio 1.1.5 pins to
    3.20.3, serialises each tensorboard scalar in pure Python: 0.25 ms, 1 ms of every training step on a CPU.
    The timing scalars are running averages, so one every ``every`` steps draws the same curve."""

    def __init__(self, inner: ns_writer.TensorboardWriter, every: int):  # noqa: D107  (no second SummaryWriter)
        self.tb_writer = inner.tb_writer
        self.every = max(1, int(every))

    def write_scalar(self, name: str, scalar, step: int) -> None:
        if step % self.every == 0:
            super().write_scalar(name, scalar, step)


def _build_cpu_kernels():
    """On a GPU run, point2act's CPU kernels that the end of training and the export use (the relevancy refit,
    the export's views, the grasp kernels), built in background threads while the GPU trains
    (:class:`point2act._cpp.BackgroundBuild`) on a machine where ``point2act build`` has not built them: its
    first run otherwise stalls where it first needs them. A CPU run builds them before its first step anyway."""
    from point2act import _cpp
    from point2act.kernels import extensions

    return _cpp.BackgroundBuild(extensions()).start()


def _flush_and_freeze() -> None:
    import gc

    from point2act._nerfstudio import flush_tensorboard

    flush_tensorboard()
    gc.freeze()


def freeze_at_exit() -> None:
    """At this process's exit (an ``atexit`` handler, registered once), nerfstudio's TensorBoard writers are flushed
    and the garbage collector is frozen (``gc.freeze``): the interpreter's last collection then skips every object
    the process holds. With torch and nerfstudio's trainer loaded that collection takes 1.4 s after training has
    written everything (``python -c "import nerfstudio.scripts.train"`` against the same ending in
    ``gc.freeze()``). Exit handlers registered before this one still run after it, and modules are still cleared;
    only objects in reference cycles are left to the operating system."""
    import atexit

    atexit.unregister(_flush_and_freeze)  # once, however often training finishes in this process
    atexit.register(_flush_and_freeze)


class Point2ActTrainer(Trainer):
    """nerfstudio's trainer with atomic checkpoint writes and a loader that skips broken files."""

    def mark_metrics_due(self, step: int) -> None:
        """Tell the model whether ``step``'s metrics are logged (``Point2ActModel.metrics_due``): nerfstudio's
        trainer writes them every ``logging.steps_per_log`` steps, from step 0."""
        model = self.pipeline.model
        if hasattr(model, "metrics_due"):
            model.metrics_due = step_check(step, self.config.logging.steps_per_log, run_at_zero=True)

    def train_iteration(self, step: int):
        """nerfstudio's iteration; the model computes the step's metrics only where the trainer logs them
        (:meth:`mark_metrics_due`), on as many threads as other programs leave cores free
        (:class:`point2act.threads.ThreadBudget`, CPU runs); then, where due, the convergence check
        (:meth:`check_convergence`)."""
        self.mark_metrics_due(step)
        if getattr(self, "_threads", None) is not None:
            self._threads.update()
        out = super().train_iteration(step)
        self.check_convergence(step)
        return out

    def check_convergence(self, step: int) -> None:
        """Render the probes of :mod:`point2act.convergence` where ``step`` checks, and end training after this
        step once the target's depth has converged (nerfstudio's loop stops at ``stop_training``)."""
        conv = getattr(self, "_convergence", None)
        if conv is None or not conv.due(step) or self.stop_training:
            return
        from point2act.convergence import render_probes
        from point2act.method.run_layer import camera_views, gaussian_tensors
        from point2act.render import Splats

        model = self.pipeline.model
        with torch.no_grad():
            g = gaussian_tensors(model)
            vms, Ks, _sizes = camera_views(self.pipeline.datamanager.train_dataset.cameras, 1, model)
            depths = render_probes(Splats(g["means"], g["quats"], g["scales"], g["opacities"]), vms, Ks,
                                   conv.probes)
        worst = conv.update(depths)
        if worst is None:
            return
        end = self._end_step()
        stop = conv.converged and step < end - 1
        if stop:
            self._stopped_at = step
            self.stop_training = True
        CONSOLE.log(f"\\[point2act] step {step}: the target's depth moved at most {worst:.2f} pixel footprints "
                    f"over {conv.every} steps in {len(conv.probes)} views"
                    + (f"; converged, training stops ({step + 1} of {end} steps)" if stop else ""))

    def _end_step(self) -> int:
        """The step training ends before: ``max_num_iterations``, for a resumed run too (see :meth:`train`)."""
        return int(getattr(self, "_end", self.config.max_num_iterations))

    def _target_convergence(self):
        """The stopping rule (:class:`point2act.convergence.TargetConvergence`) of this run: probes at the
        training views' answers, checked every densification period from the first step after the first
        densification at full resolution (the fine stage). None: the trainer config turns it off, or the run has
        no answers."""
        from point2act.convergence import TargetConvergence, probes_of
        from point2act.method.fineviews import full_resolution_step

        dm, model = self.pipeline.datamanager, self.pipeline.model
        if not getattr(self.config, "stop_at_convergence", False) or getattr(dm, "points", None) is None:
            return None
        c = model.config
        every = int(getattr(c, "refine_every", 0) or 0)
        if every < 1:
            return None
        first = -(-max(full_resolution_step(c), int(c.warmup_length)) // every) * every  # its first densification
        heat = dm.train_heatmaps
        probes = probes_of(heat.points, heat.sizes, heat.sigma_frac)
        if not probes:
            return None
        fx = dm.train_dataset.cameras.fx.reshape(-1)
        return TargetConvergence(probes, [float(fx[p.view]) for p in probes],
                                 first + 1, every)

    def _after_train(self) -> None:
        """nerfstudio's end of training; a run stopped by the convergence check saves the step it last trained
        (nerfstudio's loop has moved its step one past it)."""
        stopped = getattr(self, "_stopped_at", None)
        if stopped is not None:
            self.step = stopped
        super()._after_train()

    def setup(self, test_mode: str = "val") -> None:
        """nerfstudio's setup, with tensorboard scalars at the logging steps only (:class:`LoggedStepsTensorboard`);
        then the answers that supervise the relevancy (a points file's, or the pointer's)
        are stored in the run as ``points.json`` (:func:`point2act.method.answers.store_answers`), and the
        triangulated start cloud, when one was made for a capture without a cloud, is copied into the run as
        ``triangulated.ply`` (the run keeps what it started from). Setup and training run inside
        :func:`point2act._nerfstudio.int_broadcast_shapes` (nerfstudio's cameras without sympy's import)."""
        with int_broadcast_shapes():
            self._setup(test_mode)

    def train(self) -> None:
        """nerfstudio's training, inside :func:`point2act._nerfstudio.int_broadcast_shapes`; once it has finished,
        the process's exit skips the last garbage collection (:func:`freeze_at_exit`).

        ``max_num_iterations`` is the run's length, for a resumed run too: one resumed from step ``s`` trains
        steps ``s + 1`` to ``max_num_iterations - 1``, the steps the undisturbed run trained after it, under the
        schedule that run derived from the same length (nerfstudio's loop would train ``max_num_iterations`` more).
        A larger ``--max-num-iterations`` trains a run further."""
        end = int(self.config.max_num_iterations)
        if self._start_step >= end:
            raise Point2ActError(f"the checkpoint is at step {self._start_step - 1} and --max-num-iterations is {end}: "
                                 "nothing is left to train; give a larger --max-num-iterations to train it further.")
        self._end = end
        self.config.max_num_iterations = end - self._start_step  # nerfstudio's loop counts from the loaded step
        try:
            with int_broadcast_shapes():
                super().train()
        finally:
            self.config.max_num_iterations = end
        freeze_at_exit()

    def _setup(self, test_mode: str) -> None:
        if self.config.machine.device_type != "cuda" or not torch.cuda.is_available():
            from point2act.threads import follow_free_cores

            self._threads = follow_free_cores()  # before the data's setup: the start cloud's stereo follows it
        super().setup(test_mode=test_mode)
        self._convergence = self._target_convergence()
        if getattr(self, "_resume_state", None) is not None:
            restore_training_state(self, self._resume_state)
        if torch.device(self.pipeline.device).type == "cuda":
            self._cpu_kernels = _build_cpu_kernels()
        every = self.config.logging.steps_per_log
        ns_writer.EVENT_WRITERS[:] = [LoggedStepsTensorboard(w, every) if type(w) is ns_writer.TensorboardWriter else w
                                      for w in ns_writer.EVENT_WRITERS]
        points = getattr(self.pipeline.datamanager, "points", None)
        if points is not None:
            from point2act.method.answers import store_answers

            CONSOLE.log(f"\\[point2act] the run's answers: {store_answers(self.base_dir, points)}")
        src = getattr(self.pipeline.datamanager, "triangulated_path", None)
        if src is not None and Path(src).is_file():
            from point2act.io import atomic_write
            from point2act.method.answers import TRIANGULATED_NAME

            self.base_dir.mkdir(parents=True, exist_ok=True)
            # a full disk: the one-paragraph error naming the file and the bytes it needs, nothing torn
            atomic_write(self.base_dir / TRIANGULATED_NAME, lambda f: f.write(Path(src).read_bytes()), binary=True)

    @check_main_thread
    def save_checkpoint(self, step: int) -> None:
        """Save the model and optimizers to ``step-{step:09d}.ckpt``, atomically."""
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        ckpt_path: Path = self.checkpoint_dir / f"step-{step:09d}.ckpt"
        pipeline = self.pipeline.module if hasattr(self.pipeline, "module") else self.pipeline
        last = getattr(self, "training_state", None) == "completed"  # the save of _after_train
        if last:
            self._fit_to_consensus(pipeline)
        state = {
            "step": step,
            "pipeline": pipeline.state_dict(),
            "optimizers": {k: v.state_dict() for (k, v) in self.optimizers.optimizers.items()},
            "schedulers": {k: v.state_dict() for (k, v) in self.optimizers.schedulers.items()},
            "scalers": self.grad_scaler.state_dict(),
            RESUME_KEY: training_state(self, finished=last),
        }
        save_torch_atomic(state, ckpt_path, tmp_dir=self.checkpoint_dir.parent)
        if self.config.save_only_latest_checkpoint:
            for f in self.checkpoint_dir.glob("step-*.ckpt"):
                if f != ckpt_path:
                    f.unlink()
        if last:
            self._write_run_info()
            self._write_export_inputs()

    def _fit_to_consensus(self, pipeline) -> None:
        """At the end of training, the relevancy is fitted once more, on the frozen Gaussians, to the answers the
        views' consensus keeps (:func:`point2act.method.run_layer.fit_to_consensus`, as ``point2act query`` fits a
        channel): the field's most relevant region is then the place the consensus chose, where the export puts
        the action point, and not a place that wrong answers trained. Nothing to do without answers."""
        import time

        from point2act.grasp import GraspConfig
        from point2act.method.supervision import SUPPORT_MIN_WEIGHT, weights_cache_of
        from point2act.method.requery_run import fit_to_consensus
        from point2act.method.run_data import Supervision

        dm, model = pipeline.datamanager, pipeline.model
        if getattr(dm, "points", None) is None or not len(dm.train_heatmaps):
            return
        t0 = time.perf_counter()
        ds = max(1, int(GraspConfig().region.support_downscale))
        cache, _built, _dt = weights_cache_of(model, dm.train_dataset.cameras, ds, min_weight=SUPPORT_MIN_WEIGHT)
        self._final_weights = cache  # the same weights the export inputs' views read (_write_export_inputs)
        fit, _sub, kept = fit_to_consensus(model, Supervision.of_datamanager(dm), cache, ds)
        with torch.no_grad():
            model.relevancy_logits.copy_(fit.logits.reshape(model.relevancy_logits.shape).to(model.relevancy_logits))
        CONSOLE.log(f"\\[point2act] relevancy fitted to the answers the views' consensus keeps ({kept['rule']}: "
                    f"{kept['answers_kept']} of {kept['answers']} answers, {kept['views']} views; "
                    f"{time.perf_counter() - t0:.1f} s)")

    def _write_run_info(self) -> None:
        """The run's info in its cache (:mod:`point2act.method.datamanager_info`): what export and query read instead of
        building nerfstudio's pipeline and decoding the images again. Optional: on any error they build
        it on first use."""
        import time

        t0 = time.perf_counter()
        try:
            from point2act.method.datamanager_info import write_after_training

            pipeline = self.pipeline.module if hasattr(self.pipeline, "module") else self.pipeline
            path = write_after_training(self.config, pipeline)
        except Exception as e:  # noqa: BLE001  (an optimisation: never fails a finished training)
            CONSOLE.print(f"[yellow]\\[point2act] the run's info was not cached ({type(e).__name__}: {escape(str(e))}); "
                          "export builds it on first use", soft_wrap=True, highlight=False)
            return
        if path is not None:
            CONSOLE.log(f"\\[point2act] cached the run's info in {path.name} ({time.perf_counter() - t0:.1f} s)")

    def _write_export_inputs(self) -> None:
        """The export section of the run's cache (:mod:`point2act.export.cached_inputs`): what an export of the run's
        own field reads (the Gaussian arrays, the supervised views of its answers, the depth renders of its views),
        so that ``point2act export`` runs without torch from the first call, and the sections ``point2act query``
        reads (the fusion views' and the training views' compositing weights, the query views), so that the first
        query with a points file runs without torch too. Optional: on any error the first
        export computes and writes it."""
        import time

        t0 = time.perf_counter()
        try:
            from point2act.method.export_run import cache_own_inputs
            from point2act.method.run_layer import run_of

            pipeline = self.pipeline.module if hasattr(self.pipeline, "module") else self.pipeline
            config_path = Path(self.config.get_base_dir()) / "config.yml"
            weights, self._final_weights = getattr(self, "_final_weights", None), None
            inputs = cache_own_inputs(config_path, run_of(self.config, pipeline), weights=weights, fusion=True)
        except Exception as e:  # noqa: BLE001  (an optimisation: never fails a finished training)
            CONSOLE.print(f"[yellow]\\[point2act] the export inputs were not cached ({type(e).__name__}: "
                          f"{escape(str(e))}); the first export writes it", soft_wrap=True, highlight=False)
            return
        if inputs is not None:
            CONSOLE.log(f"\\[point2act] cached the export inputs ({time.perf_counter() - t0:.1f} s)")

    def _rebind_optimizers(self) -> None:
        """Point every optimizer at the model's current parameters.

        Splatfacto's ``load_state_dict`` replaces each Gaussian parameter by a new tensor of the
        checkpoint's size, but the optimizers were built before, on the initial ones. Left so
        (nerfstudio 1.1.5), a resumed run steps stale tensors the model no longer uses and crashes
        at the first densification (gsplat indexes the stale tensor with the new size).
        """
        for name, params in self.pipeline.get_param_groups().items():
            opt = self.optimizers.optimizers.get(name)
            if opt is None:
                continue
            params = list(params)
            if len(opt.param_groups) != 1:
                raise Point2ActError(f"optimizer {name!r} has {len(opt.param_groups)} parameter groups; expected 1")
            old = opt.param_groups[0]["params"]
            if len(old) == len(params) and all(a is b for a, b in zip(old, params)):
                continue
            for p in old:
                opt.state.pop(p, None)
            opt.param_groups[0]["params"] = params
            self.optimizers.parameters[name] = params

    def _load_checkpoint(self) -> None:
        """Load pipeline, optimizers, schedulers and scaler from --load-dir / --load-checkpoint."""
        cfg = self.config
        if cfg.load_dir is not None:
            if cfg.load_step is None:
                load_path, state = latest_readable_checkpoint(cfg.load_dir)
            else:
                load_path = Path(cfg.load_dir) / f"step-{cfg.load_step:09d}.ckpt"
                if not load_path.is_file():
                    have = ", ".join(p.name for _, p in checkpoint_steps(cfg.load_dir)) or "none"
                    raise Point2ActError(f"{load_path}: no such checkpoint (--load-step {cfg.load_step}; have: {have}).")
                state = load_checkpoint(load_path)
        elif cfg.load_checkpoint is not None:
            load_path = Path(cfg.load_checkpoint)
            if not load_path.is_file():
                raise Point2ActError(f"{load_path}: no such checkpoint (--load-checkpoint).")
            state = load_checkpoint(load_path)
        else:
            CONSOLE.print("No Nerfstudio checkpoint to load, so training from scratch.")
            return
        self._start_step = int(state["step"]) + 1
        self.pipeline.load_pipeline(state["pipeline"], state["step"])
        self._rebind_optimizers()
        self.optimizers.load_optimizers(state["optimizers"])
        if "schedulers" in state and cfg.load_scheduler:
            self.optimizers.load_schedulers(state["schedulers"])
        self.grad_scaler.load_state_dict(state["scalers"])
        extra = state.get(RESUME_KEY)
        if extra is not None and extra.get("finished"):
            raise Point2ActError(f"{load_path}: the last checkpoint of a finished training (step {state['step']}); "
                                 "nothing is left to resume. Export it with `point2act export --load-config "
                                 "RUN/config.yml`.")
        self._resume_state = extra  # restored once the setup has made the convergence check (:meth:`_setup`)
        if extra is None:
            CONSOLE.print(f"[yellow]\\[point2act] {load_path} holds no random-generator or view-order state: the "
                          "resumed run continues, but not on the bits an undisturbed run would have trained.",
                          soft_wrap=True)
        CONSOLE.print(f"Done loading Nerfstudio checkpoint from {load_path}", soft_wrap=True)
        CONSOLE.print(f"\\[point2act] resuming at step {self._start_step}", soft_wrap=True)
