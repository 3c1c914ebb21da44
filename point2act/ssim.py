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


class _FusedSSIM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: Tensor, Y: Tensor, window: Tensor, C1: float, C2: float, size_average: bool,
                need_x: bool, need_y: bool):  # X, Y [N, C, H, W]; window [K] -> [] or [N]
        N, C, H, W = X.shape
        K = window.shape[0]
        # channels-last when the predicted image is laid out so (splatfacto's permuted [H, W, 3] images)
        cl = C > 1 and Y.is_contiguous(memory_format=torch.channels_last) and not Y.is_contiguous()
        xp, yp = _as_planes(X, cl), _as_planes(Y, cl)
        tap_stride = C if cl else 1
        per_image = 1 if cl else C
        win = window.to(X.dtype).contiguous()
        sums, dmu1, dmu2, dsig, dcov = load_extension().ssim_fwd(
            xp, yp, win, tap_stride, per_image, float(C1), float(C2), bool(need_x), bool(need_y),
            torch.get_num_threads())
        count_per_image = C * (H - K + 1) * (W - K + 1)
        ctx.meta = (tuple(X.shape), cl, tap_stride, per_image, count_per_image, size_average)
        if need_x or need_y:
            ctx.save_for_backward(xp, yp, win, dmu1, dmu2, dsig, dcov)
        if size_average:
            return (sums.sum() / (N * count_per_image)).to(X.dtype)
        return (sums / count_per_image).to(X.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):  # grad [] or [N]
        shape, cl, tap_stride, per_image, count_per_image, size_average = ctx.meta
        xp, yp, win, dmu1, dmu2, dsig, dcov = ctx.saved_tensors
        N = shape[0]
        g = grad.to(xp.dtype).reshape(-1)
        scale = (g.expand(N) / (N * count_per_image)) if size_average else (g / count_per_image)
        scale = scale.repeat_interleave(per_image).contiguous()
        v_x, v_y = load_extension().ssim_bwd(xp, yp, win, tap_stride, dmu1, dmu2, dsig, dcov, scale,
                                             torch.get_num_threads())
        v_x = _from_planes(v_x, shape, cl) if v_x.numel() else None
        v_y = _from_planes(v_y, shape, cl) if v_y.numel() else None
        return v_x, v_y, None, None, None, None, None, None


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
    data_range: float = 1.0,
    size_average: bool = True,
    win_size: int = 11,
    win_sigma: float = 1.5,
    K: Union[Tuple[float, float], List[float]] = (0.01, 0.03),
    window: Tensor | None = None,  # [win_size]
) -> Tensor:  # [] if size_average else [N]
    """``pytorch_msssim.ssim(X, Y, ...)`` on CPU images, with the fused kernels (see :func:`fused_supported`)."""
    if window is None:
        window = gaussian_window(win_size, win_sigma)
    if not fused_supported(X, Y, window.shape[0]):
        raise ValueError(f"fused_ssim takes CPU float [N, C, H, W] images of one shape and dtype, at least "
                         f"{window.shape[0]} pixels a side; got {tuple(X.shape)} {X.dtype} {X.device} and "
                         f"{tuple(Y.shape)} {Y.dtype} {Y.device}")
    if window.shape[0] % 2 != 1:
        raise ValueError("Window size should be odd.")
    K1, K2 = K
    C1, C2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    grad = torch.is_grad_enabled()
    return _FusedSSIM.apply(X, Y, window, C1, C2, size_average, grad and X.requires_grad, grad and Y.requires_grad)


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
            return fused_ssim(X, Y, data_range=self.data_range, size_average=self.size_average, K=self.K,
                              window=self.window)
        from pytorch_msssim import ssim

        return ssim(X, Y, data_range=self.data_range, size_average=self.size_average, win=self.win, K=self.K,
                    nonnegative_ssim=self.nonnegative_ssim)
