"""CPU compatibility: splatfacto hard-codes ``.cuda()`` and gsplat's CUDA rasterizer.

:func:`cpu_compat` routes both, for the duration of a ``with`` block, to a no-op and to
:func:`point2act.render.rasterization` (point2act's CPU rasterizer). :func:`light_metrics` gives
splatfacto's metrics without importing torchmetrics (and no LPIPS network, whose constructor downloads
AlexNet weights). Nothing is patched at import time.
"""

from __future__ import annotations

import contextlib
import threading

import torch

from nerfstudio.models import splatfacto as _splatfacto

from point2act.geometry import viewmat_from_c2w
from point2act.render import rasterization as p2a_rasterization

_patch_lock = threading.Lock()
_patch_depth = 0  # entries on a CPU device (rasterization, .cuda())
_viewmat_depth = 0  # entries on any device (get_viewmat)
_orig_cuda = torch.Tensor.cuda
_orig_rasterization = _splatfacto.rasterization if hasattr(_splatfacto, "rasterization") else None
_orig_get_viewmat = _splatfacto.get_viewmat


_extra = threading.local()  # this thread's extra-channel request (the viewer renders from its own thread)


def _splatfacto_rasterization(*args, **kwargs):
    """point2act's rasterization as splatfacto calls it; inside :func:`extra_channel`, the next call
    also renders the requested channel in the same pass (its gradient skips the geometry).

    With ``composite=True`` and an ``"RGB"`` float32 render, splatfacto gets the render and alpha
    without gradient (its compositing records no autograd graph) and the request keeps the ones with
    gradient (``"render_all"``, every channel, and ``"alpha"``) for
    :func:`point2act.render.composite.training_composite`."""
    req = getattr(_extra, "request", None)
    means = kwargs.get("means", args[0] if args else None)
    if req is None or req["render"] is not None or means is None or req["colors"].shape[0] != means.shape[0]:
        return p2a_rasterization(*args, **kwargs)
    render, alpha, meta = p2a_rasterization(*args, extra_colors=req["colors"], **kwargs)
    req["render"] = meta.pop("extra_render")
    render_all = meta.pop("render_all")
    if req.get("composite") and kwargs.get("render_mode", "RGB") == "RGB" and render_all.dtype == torch.float32:
        req["render_all"], req["alpha"] = render_all, alpha
        return render.detach(), alpha.detach(), meta
    return render, alpha, meta


@contextlib.contextmanager
def extra_channel(colors: torch.Tensor, composite: bool = False):  # [N, E]
    """Inside :func:`cpu_compat`, splatfacto's next rasterization also renders ``colors`` as extra
    channels (no background) whose gradient reaches ``colors`` only. Yields a dict whose ``"render"``
    is then that render [C, H, W, E] (``None`` if no pass took it: a crop box changed N, or CUDA).

    ``composite``: an ``"RGB"`` render reaches splatfacto without gradient, and the dict's ``"render_all"``
    [C, H, W, 3 + E] and ``"alpha"`` [C, H, W, 1] are the render with gradient (absent where the pass did not
    take the request), for the caller to give splatfacto's outputs their gradient
    (:func:`point2act.render.composite.training_composite`)."""
    req = {"colors": colors, "render": None, "composite": bool(composite)}
    prev = getattr(_extra, "request", None)
    _extra.request = req
    try:
        yield req
    finally:
        _extra.request = prev


def _cpu_cuda(self: torch.Tensor, *args, **kwargs) -> torch.Tensor:  # noqa: ARG001
    """`.cuda()` on a machine without CUDA: keep the tensor where it is (the CPU)."""
    return self


@contextlib.contextmanager
def cpu_compat(device: torch.device | str):
    """Inside, splatfacto runs on a CPU device: `.cuda()` is a no-op and rasterization is ours.

    On every device splatfacto's ``get_viewmat`` is :func:`point2act.geometry.viewmat_from_c2w`, the same
    arithmetic without ``torch.compile``: the compiled one costs seconds at its first call in each process
    (2.5-5.8 s of the first step on an H200, ``benchmarks/results/gpu_demo_breakdown.md``) and about 0.4 ms of
    CPU a call after, for a 4x4 matrix; and the viewer's interrupt can surface mid-compile as a dynamo error
    that kills the render thread (:mod:`point2act.method.viewer`). On a CUDA device nothing else is patched.

    Reentrant and thread-safe (the viewer renders from its own thread while training runs).
    """
    cpu = torch.device(device).type != "cuda"
    global _patch_depth, _viewmat_depth
    with _patch_lock:
        if _viewmat_depth == 0:
            _splatfacto.get_viewmat = viewmat_from_c2w
        _viewmat_depth += 1
        if cpu:
            if _patch_depth == 0:
                if not torch.cuda.is_available():
                    torch.Tensor.cuda = _cpu_cuda  # type: ignore[method-assign]
                _splatfacto.rasterization = _splatfacto_rasterization
            _patch_depth += 1
    try:
        yield
    finally:
        with _patch_lock:
            _viewmat_depth -= 1
            if _viewmat_depth == 0:
                _splatfacto.get_viewmat = _orig_get_viewmat
            if cpu:
                _patch_depth -= 1
                if _patch_depth == 0:
                    torch.Tensor.cuda = _orig_cuda  # type: ignore[method-assign]
                    if _orig_rasterization is not None:
                        _splatfacto.rasterization = _orig_rasterization


class _NoLPIPS(torch.nn.Module):
    """Stands in for torchmetrics' LPIPS, whose constructor downloads AlexNet weights."""

    def forward(self, *args, **kwargs) -> torch.Tensor:  # noqa: ARG002
        return torch.tensor(float("nan"))


class PSNR(torch.nn.Module):
    """Peak signal-to-noise ratio of a batch, ``10 log10(data_range^2 / MSE)``: the value torchmetrics'
    ``PeakSignalNoiseRatio(data_range=...)`` returns from its forward, without importing torchmetrics."""

    def __init__(self, data_range: float = 1.0, **kwargs):  # noqa: ARG002  (torchmetrics' other options)
        super().__init__()
        self.data_range = float(data_range)

    def forward(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # [...], [...] -> []
        mse = torch.mean((preds.float() - target.float()) ** 2)
        return 10.0 * torch.log10(self.data_range**2 / mse)


_metrics_lock = threading.Lock()


@contextlib.contextmanager
def light_metrics():
    """While splatfacto's ``populate_modules`` runs, its ``torchmetrics.image`` imports give :class:`PSNR`
    and an LPIPS stand-in (:class:`_NoLPIPS`; the real one downloads AlexNet weights).

    Importing torchmetrics imports transformers and scipy.signal: 1.7 s of every ``ns-train`` on a 2-core
    CPU, for a PSNR. The two module names resolve to a small module for the ``with`` block only; whatever
    ``sys.modules`` held under them before is put back afterwards, so a later ``import torchmetrics`` is the
    real one. Check: ``python -X importtime`` of a training run lists no torchmetrics.
    """
    import sys
    import types

    names = ("torchmetrics.image", "torchmetrics.image.lpip")
    stand_in = types.ModuleType("point2act_light_metrics")
    stand_in.PeakSignalNoiseRatio = PSNR
    stand_in.LearnedPerceptualImagePatchSimilarity = lambda *a, **k: _NoLPIPS()
    with _metrics_lock:
        before = {n: sys.modules.get(n) for n in names}
        sys.modules.update({n: stand_in for n in names})
        try:
            yield
        finally:
            for n, module in before.items():
                if module is None:
                    sys.modules.pop(n, None)
                else:
                    sys.modules[n] = module
