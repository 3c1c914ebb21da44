"""Torch references of the fused SSIM kernels (``point2act/losses_csrc/ssim.cpp``), for tests.

:func:`ssim_maps` is pytorch_msssim's SSIM written out (separable Gaussian window, vertical pass then
horizontal, valid filtering) returning the SSIM map and the kernel's derivative maps; :func:`ssim_grads`
is the kernel's backward (the window's adjoint, ``conv_transpose2d``, of those maps), so the derivation
can be checked against autograd independently of the C++ code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Tuple

import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from point2act.ssim import SSIMSettings


def _filter(img: Tensor, window: Tensor) -> Tensor:  # [N, C, H, W] -> [N, C, H - K + 1, W - K + 1]
    C, K = img.shape[1], window.shape[0]
    out = F.conv2d(img, window.view(1, 1, K, 1).expand(C, 1, K, 1), groups=C)
    return F.conv2d(out, window.view(1, 1, 1, K).expand(C, 1, 1, K), groups=C)


def _adjoint(m: Tensor, window: Tensor) -> Tensor:  # [N, C, Hout, Wout] -> [N, C, Hout + K - 1, Wout + K - 1]
    C, K = m.shape[1], window.shape[0]
    out = F.conv_transpose2d(m, window.view(1, 1, 1, K).expand(C, 1, 1, K), groups=C)
    return F.conv_transpose2d(out, window.view(1, 1, K, 1).expand(C, 1, K, 1), groups=C)


def ssim_maps(
    X: Tensor,  # [N, C, H, W]
    Y: Tensor,  # [N, C, H, W]
    settings: SSIMSettings,
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """SSIM map and its derivative maps, each [N, C, Hout, Wout]: (S, dmu1, dmu2, dsig, dcov).

    dmu1, dmu2: dS/d(G*X), dS/d(G*Y) total through the variances and covariance; dsig: dS/d(G*X^2)
    (= dS/d(G*Y^2)); dcov: dS/d(G*XY). ``settings``: the window and constants the kernel takes.
    """
    window, C1, C2 = settings.window.to(X.dtype), settings.C1, settings.C2
    mu1, mu2 = _filter(X, window), _filter(Y, window)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11 = _filter(X * X, window) - mu1_sq
    s22 = _filter(Y * Y, window) - mu2_sq
    s12 = _filter(X * Y, window) - mu1_mu2
    A, B = 2 * mu1_mu2 + C1, mu1_sq + mu2_sq + C1
    Cn, D = 2 * s12 + C2, s11 + s22 + C2
    cs, lum = Cn / D, A / B
    S = lum * cs
    dsig = -S / D
    dcov = 2 * lum / D
    dmu1 = cs * 2 * (mu2 - mu1 * lum) / B - 2 * mu1 * dsig - mu2 * dcov
    dmu2 = cs * 2 * (mu1 - mu2 * lum) / B - 2 * mu2 * dsig - mu1 * dcov
    return S, dmu1, dmu2, dsig, dcov


def ssim_grads(
    X: Tensor,  # [N, C, H, W]
    Y: Tensor,  # [N, C, H, W]
    settings: SSIMSettings,
    scale: Tensor,  # [N]: d(loss)/d(sum of image n's SSIM map)
) -> Tuple[Tensor, Tensor]:
    """Gradients (v_X, v_Y), each [N, C, H, W], of ``sum_n scale[n] * sum(SSIM map of image n)``."""
    window = settings.window.to(X.dtype)
    _, dmu1, dmu2, dsig, dcov = ssim_maps(X, Y, settings)
    a1, a2, asig, acov = (_adjoint(m, window) for m in (dmu1, dmu2, dsig, dcov))
    s = scale.to(X.dtype).view(-1, 1, 1, 1)
    v_x = s * (a1 + 2 * X * asig + Y * acov)
    v_y = s * (a2 + 2 * Y * asig + X * acov)
    return v_x, v_y
