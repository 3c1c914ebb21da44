"""SSIM in one CPU kernel, forward and backward: the value and gradient of ``pytorch_msssim.SSIM``.

Splatfacto's photometric loss is ``(1 - ssim_lambda) * L1 + ssim_lambda * (1 - SSIM(gt, pred))`` with
pytorch_msssim's SSIM (11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03), valid filtering, averaged).
:class:`SSIM` is a drop-in for ``pytorch_msssim.SSIM`` (same constructor and call) that computes it with
point2act's fused C++/OpenMP kernels (``point2act/losses_csrc``, built by :mod:`point2act._cpp` on first
use) when the images are on the CPU, and calls pytorch_msssim otherwise (CUDA, windows larger than the
image, ``nonnegative_ssim``).

The kernel makes one pass over the image for the forward (separable window: a vertical pass over the
window's rows, then a horizontal one, per output row; the SSIM map and its partial derivatives pointwise)
and one for the backward (the window's adjoint of the derivative maps). It reads channels-last images
(``img.permute(2, 0, 1)[None]`` of an ``[H, W, 3]`` image, as splatfacto passes them) without a copy,
and returns their gradients in the same layout. Its output does not depend on the thread count. The
torch reference is :mod:`point2act._ssim_torch_impl`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from point2act import _cpp

CSRC = Path(__file__).resolve().parent / "losses_csrc"
EXTENSION = _cpp.Extension("losses", CSRC, "point2act fused loss kernels (SSIM, relevancy BCE)")


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the loss extension (``point2act/losses_csrc``: the fused
    SSIM, and the relevancy BCE of :func:`point2act.losses.relevancy_loss`)."""
    return EXTENSION.load(verbose)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:  # [size] float32
    """pytorch_msssim's 1-D Gaussian window (computed in float32 as it does, so the values are identical)."""
    coords = torch.arange(size, dtype=torch.float)
    coords -= size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g /= g.sum()
    return g


def _as_planes(img: Tensor, channels_last: bool) -> Tensor:  # [N, C, H, W] -> [P, H, L]
    N, C, H, W = img.shape
    if channels_last:
        return img.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(N, H, W * C)
    return img.contiguous().reshape(N * C, H, W)


def _from_planes(v: Tensor, shape: Sequence[int], channels_last: bool) -> Tensor:  # [P, H, L] -> [N, C, H, W]
    N, C, H, W = shape
    if channels_last:
        return v.view(N, H, W, C).permute(0, 3, 1, 2)
    return v.view(N, C, H, W)


@dataclass(frozen=True)
class SSIMSettings:
    """What one SSIM computes with besides the images: the Gaussian window and the two stabilising constants
    that pytorch_msssim's ``K`` and ``data_range`` give. They travel together from the caller to the fused
    kernels and to their torch reference (:mod:`point2act._ssim_torch_impl`)."""

    window: Tensor  # [K]
    """The 1-D Gaussian window (odd length K), applied vertically then horizontally."""
    C1: float
    """The means' stabilising constant ``(K1 * data_range)^2``."""
    C2: float
    """The variances' stabilising constant ``(K2 * data_range)^2``."""

    @classmethod
    def of(
        cls,
        data_range: float = 1.0,
        K: Union[Tuple[float, float], List[float]] = (0.01, 0.03),
        window: Tensor | None = None,  # [K], default pytorch_msssim's 11-tap window (sigma 1.5)
    ) -> "SSIMSettings":
        """The settings of pytorch_msssim's ``ssim(..., data_range, K, win)``."""
        K1, K2 = K
        return cls(gaussian_window() if window is None else window, (K1 * data_range) ** 2, (K2 * data_range) ** 2)


@dataclass(frozen=True)
class _SSIMCall:
    """The non-differentiable inputs of one fused SSIM forward."""

    settings: SSIMSettings
    """The window and the constants."""
    need_x: bool
    """Whether the backward pass computes the gradient of the first image."""
    need_y: bool
    """Whether the backward pass computes the gradient of the second image."""


def _ssim_forward(X: Tensor, Y: Tensor, call: _SSIMCall):
    """The fused SSIM forward of ``X``, ``Y`` [N, C, H, W]: (per-image sums of the SSIM map [N] float64, the
    count of map values per image, the state :func:`_ssim_backward` takes)."""
    N, C, H, W = X.shape
    K = call.settings.window.shape[0]
    # channels-last when the predicted image is laid out so (splatfacto's permuted [H, W, 3] images)
    cl = C > 1 and Y.is_contiguous(memory_format=torch.channels_last) and not Y.is_contiguous()
    xp, yp = _as_planes(X, cl), _as_planes(Y, cl)
    tap_stride = C if cl else 1
    per_image = 1 if cl else C
    win = call.settings.window.to(X.dtype).contiguous()
    sums, dmu1, dmu2, dsig, dcov = load_extension().ssim_fwd(
        xp, yp, win, tap_stride, per_image, float(call.settings.C1), float(call.settings.C2), bool(call.need_x), bool(call.need_y),
        torch.get_num_threads())
    count_per_image = C * (H - K + 1) * (W - K + 1)
    meta = (tuple(X.shape), cl, tap_stride, per_image)
    return sums, count_per_image, (meta, (xp, yp, win, dmu1, dmu2, dsig, dcov))


def _ssim_backward(meta, saved, scale: Tensor, l1_scale: Tensor | None = None):  # scale [N] -> v_X, v_Y
    """Gradients of ``sum_n scale[n] * sum(SSIM map of image n)`` (plus, with ``l1_scale``, of
    ``l1_scale * sum|X - Y|``) w.r.t. X and Y [N, C, H, W] (None where not asked in the forward)."""
    shape, cl, tap_stride, per_image = meta
    xp, yp, win, dmu1, dmu2, dsig, dcov = saved
    scale = scale.repeat_interleave(per_image).contiguous()
    with_l1 = l1_scale is not None
    v_x, v_y = load_extension().ssim_bwd(xp, yp, win, tap_stride, dmu1, dmu2, dsig, dcov, scale, with_l1,
                                         float(l1_scale) if with_l1 else 0.0, torch.get_num_threads())
    v_x = _from_planes(v_x, shape, cl) if v_x.numel() else None
    v_y = _from_planes(v_y, shape, cl) if v_y.numel() else None
    return v_x, v_y


class _FusedSSIM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: Tensor, Y: Tensor, call: _SSIMCall, size_average: bool):
        # X, Y [N, C, H, W] -> [] if size_average else [N]
        N = X.shape[0]
        sums, count_per_image, (meta, saved) = _ssim_forward(X, Y, call)
        ctx.meta, ctx.n, ctx.count_per_image, ctx.size_average = meta, N, count_per_image, size_average
        if call.need_x or call.need_y:
            ctx.save_for_backward(*saved)
        if size_average:
            return (sums.sum() / (N * count_per_image)).to(X.dtype)
        return (sums / count_per_image).to(X.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # grad [] or [N]
        saved, N, count_per_image = ctx.saved_tensors, ctx.n, ctx.count_per_image
        g = grad.to(saved[0].dtype).reshape(-1)
        scale = (g.expand(N) / (N * count_per_image)) if ctx.size_average else (g / count_per_image)
        v_x, v_y = _ssim_backward(ctx.meta, saved, scale)
        return v_x, v_y, None, None


class _FusedL1SSIMLoss(torch.autograd.Function):
    """``(1 - lam) * mean|gt - pred| + lam * (1 - SSIM(gt, pred))`` of [H, W, C] images: the SSIM kernels, with
    the L1 term's gradient added in the SSIM backward's pass. The value and gradients are those of the torch ops
    (``torch.abs(gt - pred).mean()``, :class:`_FusedSSIM` of the images permuted to [1, C, H, W], the scalar
    arithmetic), bit for bit."""

    @staticmethod
    def forward(ctx, gt: Tensor, pred: Tensor, call: _SSIMCall, lam: float):  # gt, pred [H, W, C] -> []
        X, Y = gt.permute(2, 0, 1)[None], pred.permute(2, 0, 1)[None]
        sums, count_per_image, (meta, saved) = _ssim_forward(X, Y, call)
        ssim = (sums.sum() / count_per_image).to(X.dtype)
        l1 = torch.abs(gt - pred).mean()
        ctx.meta, ctx.count_per_image, ctx.lam, ctx.numel = meta, count_per_image, lam, gt.numel()
        if call.need_x or call.need_y:
            ctx.save_for_backward(*saved)
        return (1 - lam) * l1 + lam * (1 - ssim)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # grad []
        saved, lam, count_per_image = ctx.saved_tensors, ctx.lam, ctx.count_per_image
        # autograd's steps through the scalar arithmetic, in its order: mul, mean; mul, rsub, the SSIM's scale
        l1_scale = grad * (1 - lam) / ctx.numel
        g = (-(grad * lam)).to(saved[0].dtype).reshape(-1)
        scale = g.expand(1) / (1 * count_per_image)
        v_x, v_y = _ssim_backward(ctx.meta, saved, scale, l1_scale)
        v_gt = v_x.permute(0, 2, 3, 1)[0] if v_x is not None else None
        v_pred = v_y.permute(0, 2, 3, 1)[0] if v_y is not None else None
        return v_gt, v_pred, None, None


def fused_supported(X: Tensor, Y: Tensor, win_size: int = 11) -> bool:
    """Whether :func:`fused_ssim` takes these images: CPU float32/float64 ``[N, C, H, W]`` of one shape and
    dtype, at least ``win_size`` pixels in each direction."""
    return (
        X.device.type == "cpu" and Y.device.type == "cpu" and X.dim() == 4 and X.shape == Y.shape
        and X.dtype == Y.dtype and X.dtype in (torch.float32, torch.float64)
        and X.shape[2] >= win_size and X.shape[3] >= win_size and X.numel() > 0
    )


def fused_ssim(
    X: Tensor,  # [N, C, H, W]
    Y: Tensor,  # [N, C, H, W]
    settings: SSIMSettings | None = None,
    size_average: bool = True,
) -> Tensor:  # [] if size_average else [N]
    """``pytorch_msssim.ssim(X, Y, ...)`` on CPU images, with the fused kernels (see :func:`fused_supported`);
    ``settings``: the window and constants, default ``SSIMSettings.of()`` (pytorch_msssim's with
    ``data_range=1``)."""
    if settings is None:
        settings = SSIMSettings.of()
    window = settings.window
    if not fused_supported(X, Y, window.shape[0]):
        raise ValueError(f"fused_ssim takes CPU float [N, C, H, W] images of one shape and dtype, at least "
                         f"{window.shape[0]} pixels a side; got {tuple(X.shape)} {X.dtype} {X.device} and "
                         f"{tuple(Y.shape)} {Y.dtype} {Y.device}")
    if window.shape[0] % 2 != 1:
        raise ValueError("Window size should be odd.")
    grad = torch.is_grad_enabled()
    call = _SSIMCall(settings, grad and X.requires_grad, grad and Y.requires_grad)
    return _FusedSSIM.apply(X, Y, call, size_average)


def fused_l1_ssim_loss(
    gt: Tensor,  # [H, W, C]
    pred: Tensor,  # [H, W, C]
    ssim_lambda: float,
    data_range: float = 1.0,
    K: Union[Tuple[float, float], List[float]] = (0.01, 0.03),
    window: Tensor | None = None,  # [win_size], default pytorch_msssim's 11-tap window (sigma 1.5)
) -> Tensor:  # []
    """Splatfacto's photometric loss ``(1 - ssim_lambda) * L1 + ssim_lambda * (1 - SSIM)`` of two [H, W, C] CPU
    images (``torch.abs(gt - pred).mean()`` and pytorch_msssim's SSIM of the images as [1, C, H, W], size
    averaged), with the fused kernels: the same value and gradients as :func:`fused_ssim` and the torch ops, bit
    for bit, and one backward pass for both terms. Takes the images :func:`fused_supported` takes (as
    [1, C, H, W])."""
    if window is None:
        window = gaussian_window()
    X, Y = gt.permute(2, 0, 1)[None], pred.permute(2, 0, 1)[None]
    if gt.dim() != 3 or not fused_supported(X, Y, window.shape[0]) or window.shape[0] % 2 != 1:
        raise ValueError(f"fused_l1_ssim_loss takes CPU float [H, W, C] images of one shape and dtype, at least "
                         f"{window.shape[0]} pixels a side (an odd window); got {tuple(gt.shape)} {gt.dtype} "
                         f"{gt.device} and {tuple(pred.shape)} {pred.dtype} {pred.device}")
    grad = torch.is_grad_enabled()
    call = _SSIMCall(SSIMSettings.of(data_range, K, window), grad and gt.requires_grad, grad and pred.requires_grad)
    return _FusedL1SSIMLoss.apply(gt, pred, call, float(ssim_lambda))


class SSIM(torch.nn.Module):
    """``pytorch_msssim.SSIM`` with the fused kernels on CPU images (same arguments, same call, same value).

    Falls back to ``pytorch_msssim.ssim`` for images the kernels do not take (CUDA, smaller than the
    window, other dtypes) and for ``nonnegative_ssim`` or ``spatial_dims != 2``.
    """

    def __init__(
        self,
        data_range: float = 255,
        size_average: bool = True,
        win_size: int = 11,
        win_sigma: float = 1.5,
        channel: int = 3,
        spatial_dims: int = 2,
        K: Union[Tuple[float, float], List[float]] = (0.01, 0.03),
        nonnegative_ssim: bool = False,
    ) -> None:
        super().__init__()
        self.win_size = win_size
        self.window = gaussian_window(win_size, win_sigma)  # [win_size]
        # pytorch_msssim's form of the window, for the fallback: [channel, 1, 1, ..., win_size]
        self.win = self.window.view(1, 1, *([1] * (spatial_dims - 1)), win_size).repeat(
            [channel, 1] + [1] * spatial_dims)
        self.spatial_dims = spatial_dims
        self.size_average = size_average
        self.data_range = data_range
        self.K = K
        self.nonnegative_ssim = nonnegative_ssim

    def forward(self, X: Tensor, Y: Tensor) -> Tensor:  # X, Y [N, C, H, W] -> [] or [N]
        if (self.spatial_dims == 2 and not self.nonnegative_ssim and self.win_size % 2 == 1
                and fused_supported(X, Y, self.win_size)):
            return fused_ssim(X, Y, SSIMSettings.of(self.data_range, self.K, self.window), self.size_average)
        from pytorch_msssim import ssim

        return ssim(X, Y, data_range=self.data_range, size_average=self.size_average, win=self.win, K=self.K,
                    nonnegative_ssim=self.nonnegative_ssim)
