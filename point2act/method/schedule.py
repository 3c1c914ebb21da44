"""Training schedules of the ``point2act`` method.

The ``point2act`` method (its registered config, :mod:`point2act.method.config`) leaves splatfacto's
schedule fields, tuned for 30,000 steps, at ``None`` ("auto"); :func:`auto_schedule` derives them from the run's ``max_num_iterations``
(the trainer passes it to the model config: :class:`point2act.method.config.Point2ActTrainerConfig`),
and :func:`resolve_schedule` fills them in when the model is built. A field given on the command line
(``--pipeline.model.refine-every 50``) is kept as given. ``point2act-big`` keeps splatfacto's own
30k-step values (no auto fields).

:func:`short_schedule` (the demo, the benchmarks) only sets where a run goes and what it logs; the
schedule is the method's default for its iteration count.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Type

import torch
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from torch.optim import optimizer as _torch_optimizer

from point2act.method.trainer import Point2ActTrainer

DEFAULT_ITERATIONS = 2000
"""``ns-train point2act`` without ``--max-num-iterations`` (a few minutes on a CPU for the demo scene)."""

AUTO_FIELDS = (
    "warmup_length",
    "refine_every",
    "stop_split_at",
    "stop_screen_size_at",
    "reset_alpha_every",
    "densify_grad_thresh",
    "num_downscales",
    "resolution_schedule",
    "sh_degree",
    "sh_degree_interval",
)
"""Model-config fields that are ``None`` (auto) by default and derived from the iteration count."""


def auto_schedule(iterations: int) -> Dict[str, Any]:
    """Splatfacto's schedule fields for a run of ``iterations`` steps.

    At 30,000 steps these are splatfacto's defaults except ``resolution_schedule`` (3750, not 3000) and
    ``sh_degree_interval`` (2500, not 1000). Shorter runs keep the same *shape*, compressed:

    - densify from ``warmup_length`` = min(500, max(N/10, 2 refine periods)) to ``stop_split_at`` = N/2,
      every ``refine_every`` = min(100, max(10, N/10)) steps;
    - opacity resets (every 30 refine periods, i.e. 3000 steps) only when N >= 10,000: a short run
      has no time to recover from one;
    - ``densify_grad_thresh`` 0.002 up to N = 3000, falling log-linearly to splatfacto's 0.0008 at
      30,000 (fewer densification rounds must not grow a CPU-sized run to 100k+ Gaussians);
    - two resolution halvings, splatfacto's shape: a quarter of the resolution for N/8 steps, half for N/8,
      full from N/4. The first steps rasterize the start's random Gaussians most (82 % of ``real/tools``' tile
      intersections at the start) and fit coarse geometry, which a quarter of the pixels resolves; the gate
      (``benchmarks/results/gate``) holds the geometry at the target;
    - SH degree 1 (3 at N >= 10,000), raised in three even steps over the first N/3 (degree 1)
      or N/4 (degree 3).
    """
    n = int(iterations)
    if n < 1:
        raise ValueError(f"max_num_iterations must be >= 1, got {iterations}")
    refine_every = int(min(100, max(10, n // 10)))
    warmup = int(min(500, max(n // 10, 2 * refine_every)))
    long_run = n >= 10000
    lo, hi = 3000.0, 30000.0
    t = min(max((math.log(n) - math.log(lo)) / (math.log(hi) - math.log(lo)), 0.0), 1.0)
    grad = float(math.exp((1 - t) * math.log(0.002) + t * math.log(0.0008)))
    sh_degree = 3 if long_run else 1
    return {
        "warmup_length": warmup,
        "refine_every": refine_every,
        "stop_split_at": max(warmup + refine_every, n // 2),
        "stop_screen_size_at": max(warmup + refine_every, min(4000, n // 2)),
        "reset_alpha_every": 30 if long_run else 10**6,
        "densify_grad_thresh": round(grad, 6),
        "num_downscales": 2,
        "resolution_schedule": max(1, n // 8),
        "sh_degree": sh_degree,
        "sh_degree_interval": max(1, (n // 3) if sh_degree == 1 else n // 12),
    }


def resolve_schedule(model_config, iterations: int | None = None):
    """A copy of ``model_config`` with its ``None`` (auto) schedule fields filled from
    :func:`auto_schedule` (``iterations``, else ``model_config.max_num_iterations``, else
    :data:`DEFAULT_ITERATIONS`). Fields already set are kept; a config without auto fields is returned as is."""
    auto = [f for f in AUTO_FIELDS if getattr(model_config, f, 0) is None]
    if not auto:
        return model_config
    n = iterations or getattr(model_config, "max_num_iterations", None) or DEFAULT_ITERATIONS
    values = auto_schedule(int(n))
    cfg = copy.copy(model_config)
    for f in auto:
        setattr(cfg, f, values[f])
    return cfg


def schedule_table(model_config, iterations: int | None = None) -> Dict[str, Any]:
    """The resolved schedule fields of a model config (what the run will use), for logs and tests."""
    cfg = resolve_schedule(model_config, iterations)
    return {f: getattr(cfg, f) for f in AUTO_FIELDS if hasattr(cfg, f)}


def _undecorated(fn):
    """The function under torch's decorators (``functools.wraps`` chains: ``__wrapped__``)."""
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


_ADAM_STEP = _undecorated(torch.optim.Adam.__dict__["step"])
_ZERO_GRAD = _undecorated(torch.optim.Optimizer.zero_grad)
_ADD_PARAM_GROUP = _undecorated(torch.optim.Optimizer.add_param_group)
_STATE_DICT = _undecorated(torch.optim.Optimizer.state_dict)
_LOAD_STATE_DICT = _undecorated(torch.optim.Optimizer.load_state_dict)


class FusedAdam(torch.optim.Adam):
    """torch's Adam, whose gradients are laid out as their parameters before each step, run without
    torch's compiler, and whose fused step calls torch's fused kernel directly.

    torch's fused kernel reads a parameter and its gradient element for element as dense arrays: on CUDA it
    refuses a gradient whose strides differ from its parameter's, on the CPU it would pair the wrong elements.
    gsplat's backward hands splatfacto's SH coefficients slices of the concatenated colours' gradient, so
    those are copied into their parameter's layout; a gradient already laid out so (every one on the CPU
    path) is left as it is.

    torch.optim marks ``step``, ``zero_grad``, ``add_param_group``, ``state_dict`` and ``load_state_dict`` not to
    be traced by torch.compile; the first call of each imports ``torch._dynamo`` to say so (1.1 s, in every
    process that trains). Nothing here is compiled, so this class calls the functions under those marks: the
    same code, with ``step``'s own setting (no autograd unless ``differentiable``) and without the compiler's
    graph breaks, which do nothing outside compilation.

    A step of the plain fused case (:meth:`_plain`: fused, no amsgrad, closure, hooks, tensor learning rate,
    gradient scale or complex parameters, one device and dtype per group) makes the calls torch's ``_fused_adam``
    makes, ``torch._foreach_add_`` on the step counts and ``torch._fused_adam_`` on the group's tensors, with the
    state created as ``Adam._init_group`` creates it, without torch.optim's Python around them (its profiler
    label, hooks, per-device grouping and option dispatch: about 0.08 ms of each of the method's seven
    optimizers' steps). Every other case goes through torch's ``Adam.step``.
    Check: ``tests/method/test_optimizer_config.py``."""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is not None and not g.is_sparse and g.stride() != p.stride():
                    p.grad = torch.empty_like(p).copy_(g)
        if closure is None and self._plain():
            with torch.no_grad():
                for group in self.param_groups:
                    self._fused_group(group)
            return None
        return self._torch_step(closure)

    step.hooked = True  # torch.optim wraps an unmarked step in its profiler label and hooks: _torch_step has them

    @torch.optim.Optimizer.profile_hook_step
    def _torch_step(self, closure=None):
        """torch's ``Adam.step`` in its profiler label with the optimizer's hooks (every case but the plain one)."""
        with torch.set_grad_enabled(bool(self.defaults["differentiable"])):
            return _ADAM_STEP(self, closure)

    def _plain(self) -> bool:
        """Whether a step is the plain fused case that :meth:`_fused_group` makes as torch would."""
        hooks = (self._optimizer_step_pre_hooks, self._optimizer_step_post_hooks,
                 _torch_optimizer._global_optimizer_pre_hooks, _torch_optimizer._global_optimizer_post_hooks)
        if (any(hooks) or getattr(self, "grad_scale", None) is not None
                or getattr(self, "found_inf", None) is not None):
            return False
        for group in self.param_groups:
            if (not group["fused"] or group["amsgrad"] or group["differentiable"] or group["capturable"]
                    or torch.is_tensor(group["lr"]) or torch.is_tensor(group["betas"][0])
                    or torch.is_tensor(group["betas"][1])):
                return False
            kinds = {(p.device, p.dtype) for p in group["params"] if p.grad is not None}
            if len(kinds) > 1 or any(p.is_complex() or p.grad.is_sparse
                                     for p in group["params"] if p.grad is not None):
                return False
        return True

    def _fused_group(self, group) -> None:
        """One group's fused step: what ``Adam._init_group`` and ``torch.optim.adam._fused_adam`` do for it."""
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                _torch_optimizer._device_dtype_check_for_fused(p)
                state["step"] = torch.zeros((), dtype=_torch_optimizer._get_scalar_dtype(is_fused=True),
                                            device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        if not params:
            return
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        fused = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
        fused(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
              beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
              grad_scale=None, found_inf=None)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's ``zero_grad``; ``set_to_none`` (the default) drops every gradient without its profiler label."""
        if not set_to_none:
            return _ZERO_GRAD(self, set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def add_param_group(self, param_group) -> None:
        _ADD_PARAM_GROUP(self, param_group)

    def state_dict(self):
        return _STATE_DICT(self)

    def load_state_dict(self, state_dict) -> None:
        _LOAD_STATE_DICT(self, state_dict)


# FusedAdamOptimizerConfig and FusedAdam stay in this module: every run's config.yml names them by their path
# here (!!python/object:point2act.method.schedule.FusedAdamOptimizerConfig). Its docstring is each optimizer
# group's text in `ns-train point2act --help`.
@dataclass
class FusedAdamOptimizerConfig(AdamOptimizerConfig):
    """nerfstudio's Adam with torch's fused implementation: one kernel per parameter tensor instead of about ten
    tensor ops, on the CPU and on CUDA (a shorter optimizer stage of a CPU step: benchmarks/results/train_step.md).
    --optimizers.NAME.optimizer.fused None gives torch's default implementation."""

    _target: Type = FusedAdam
    fused: Optional[bool] = True
    """``torch.optim.Adam(fused=...)``; None: torch's default (a per-tensor loop on the CPU)."""


@dataclass
class RunLengthDecaySchedulerConfig(ExponentialDecaySchedulerConfig):
    """Exponential decay whose ``max_steps`` follows the run's ``--max-num-iterations`` (the means' lr
    reaches ``lr_final`` at the end of the run, whatever its length). ``follow_run_length False``
    keeps ``max_steps`` as given."""

    follow_run_length: bool = True
    """Set ``max_steps`` to the trainer's ``max_num_iterations``."""


@dataclass
class Point2ActTrainerConfig(TrainerConfig):
    """nerfstudio's ``TrainerConfig`` that hands its ``max_num_iterations`` to the model config (whose auto
    schedule fields derive from it, :mod:`point2act.method.schedule`) and to run-length schedulers.
    It does so when built (the CLI), when the config is saved (``config.yml``) and when the trainer is
    set up, so a config edited in between (the demo) is still consistent."""

    _target: Type = field(default_factory=lambda: Point2ActTrainer)
    stop_at_convergence: bool = True
    """Stop once the field's depth where the answers point has converged (:mod:`point2act.convergence`:
    every answered view's target depth moved by at most one pixel footprint over a densification period);
    ``max_num_iterations`` bounds the run. False: train every step of ``max_num_iterations``."""

    def __post_init__(self) -> None:
        self.sync_schedule()

    def sync_schedule(self) -> None:
        """Copy ``max_num_iterations`` into the model config and into every run-length scheduler."""
        model = self.pipeline.model
        if hasattr(model, "max_num_iterations"):
            model.max_num_iterations = int(self.max_num_iterations)
        for opt in (self.optimizers or {}).values():
            sch = opt.get("scheduler") if isinstance(opt, dict) else None
            if isinstance(sch, RunLengthDecaySchedulerConfig) and sch.follow_run_length:
                sch.max_steps = int(self.max_num_iterations)

    def set_timestamp(self) -> None:
        """nerfstudio's timestamp (``%Y-%m-%d_%H%M%S``, to the second), made this run's own: the run folder
        ``OUTPUT/EXPERIMENT/point2act/TIMESTAMP`` is created here with ``mkdir`` (which one process wins), and
        where another run took it (two ``ns-train`` on one capture started in the same second) the next free
        ``TIMESTAMP-1``, ``TIMESTAMP-2``, ... is taken, so that two runs never share a folder (their checkpoints,
        ``config.yml`` and caches). A timestamp given on the command line (``--timestamp NAME``) is kept as it
        is, as nerfstudio keeps it."""
        if self.timestamp != "{timestamp}":
            return
        super().set_timestamp()
        if self.experiment_name is None and self.pipeline.datamanager.data is None:
            return  # no run folder to claim yet (nerfstudio would name it "None")
        stamp = self.timestamp
        for k in range(1000):
            self.timestamp = stamp if k == 0 else f"{stamp}-{k}"
            try:
                self.get_base_dir().mkdir(parents=True, exist_ok=False)
                return
            except FileExistsError:
                continue

    def save_config(self) -> None:
        """nerfstudio's ``save_config`` (``BASE/config.yml``), written atomically (:mod:`point2act.io`): a full disk
        is the one-paragraph error, and a run folder never holds a truncated ``config.yml``."""
        import yaml
        from nerfstudio.utils.rich_utils import CONSOLE

        from point2act.io import atomic_write

        self.sync_schedule()
        base_dir = self.get_base_dir()
        base_dir.mkdir(parents=True, exist_ok=True)
        path = base_dir / "config.yml"
        CONSOLE.log(f"Saving config to: {path}")
        text = yaml.dump(self)
        atomic_write(path, lambda f: f.write(text))

    def setup(self, **kwargs):
        self.sync_schedule()
        return super().setup(**kwargs)


def short_schedule(config, data: Path, points_file: Path, out: Path, iterations: int, viewer: bool = False):
    """A ``point2act`` TrainerConfig for an in-process run (the demo, the benchmarks): where the run goes,
    what it logs and how long it trains. The schedule is the method's default for ``iterations``
    (:func:`auto_schedule`), as ``ns-train point2act --max-num-iterations N`` gives it."""
    config = copy.deepcopy(config)
    config.experiment_name = "demo"
    config.timestamp = "run"
    config.output_dir = out
    config.vis = "viewer" if viewer else "tensorboard"
    config.viewer.quit_on_train_completion = not viewer
    config.max_num_iterations = iterations
    config.steps_per_save = iterations
    config.save_only_latest_checkpoint = True
    config.steps_per_eval_image = 10**9
    config.steps_per_eval_batch = 10**9
    config.steps_per_eval_all_images = 10**9
    config.logging.steps_per_log = 100  # nerfstudio's progress table (step, ETA) every 100 steps
    dm = config.pipeline.datamanager
    dm.data = data
    dm.dataparser.data = data
    dm.points_file = points_file
    if hasattr(config, "sync_schedule"):
        config.sync_schedule()
    return config


__all__ = ["AUTO_FIELDS", "DEFAULT_ITERATIONS", "Point2ActTrainerConfig", "RunLengthDecaySchedulerConfig", "auto_schedule", "resolve_schedule", "schedule_table", "short_schedule"]
