"""SSIM (11-tap Gaussian window, sigma 1.5), the value splatfacto's ``pytorch_msssim.SSIM`` computes, faster.

``pytorch_msssim`` filters five maps (X, Y, X², Y², XY) one after another, with two grouped
convolutions each, and autograd goes back through all ten. Here:

- the three maps that depend on the prediction (X, X², XY) are filtered in one batched pair of
  1-D convolutions, and the two that only depend on the target (Y, Y²) in another, with no autograd
  graph when the target needs no gradient;
- each 1-D pass is one grouped convolution over the maps stacked along the channel axis.

The value equals ``pytorch_msssim.ssim(X, Y, data_range, size_average=True)`` to float rounding
(``tests/test_ssim.py`` compares values and gradients). Plain torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["gaussian_window", "ssim", "SSIM"]


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:  # [size]
    """The normalised 1-D Gaussian window pytorch_msssim uses."""
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(maps: Tensor, win: Tensor) -> Tensor:  # [M, H, W] -> [M, H - k + 1, W - k + 1]
    """Separable 'valid' Gaussian filter of M single-channel maps (a dimension shorter than the window
    is left unfiltered, as pytorch_msssim does)."""
    k, m = win.shape[0], maps.shape[0]
    out = maps[None]
    if out.shape[2] >= k:
        out = F.conv2d(out, win.view(1, 1, k, 1).expand(m, 1, k, 1), groups=m)
    if out.shape[3] >= k:
        out = F.conv2d(out, win.view(1, 1, 1, k).expand(m, 1, 1, k), groups=m)
    return out[0]


def ssim(X: Tensor, Y: Tensor, data_range: float = 1.0, win: Tensor | None = None,
         K: tuple = (0.01, 0.03)) -> Tensor:
    """Mean SSIM of images ``X`` and ``Y`` [B, C, H, W]. SSIM is symmetric: whichever of the two needs
    a gradient is treated as the prediction (splatfacto passes the target first); when both do, both get one."""
    if X.shape != Y.shape or X.dim() != 4:
        raise ValueError(f"ssim wants two [B, C, H, W] images of one shape, got {tuple(X.shape)} and {tuple(Y.shape)}")
    if Y.requires_grad and not X.requires_grad:
        X, Y = Y, X
    win = (gaussian_window() if win is None else win.reshape(-1)).to(X.device, X.dtype)
    c1 = (K[0] * data_range) ** 2
    c2 = (K[1] * data_range) ** 2
    B, C, H, W = X.shape
    x = X.reshape(B * C, H, W)
    y = Y.reshape(B * C, H, W).to(X.dtype)
    with torch.set_grad_enabled(torch.is_grad_enabled() and y.requires_grad):
        fy = _filter(torch.cat([y, y * y]), win)
    mu2, e_yy = fy[: B * C], fy[B * C :]
    fx = _filter(torch.cat([x, x * x, x * y]), win)
    mu1, e_xx, e_xy = fx[: B * C], fx[B * C : 2 * B * C], fx[2 * B * C :]
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = e_xx - mu1_sq
    s2 = e_yy - mu2_sq
    s12 = e_xy - mu12
    cs = (2 * s12 + c2) / (s1 + s2 + c2)
    ssim_map = ((2 * mu12 + c1) / (mu1_sq + mu2_sq + c1)) * cs
    return ssim_map.mean()


class SSIM(torch.nn.Module):
    """Drop-in for ``pytorch_msssim.SSIM(data_range, size_average=True, channel=C)`` as splatfacto calls it."""

    def __init__(self, data_range: float = 1.0, win_size: int = 11, win_sigma: float = 1.5):
        super().__init__()
        self.data_range = float(data_range)
        self.register_buffer("win", gaussian_window(win_size, win_sigma), persistent=False)

    def forward(self, X: Tensor, Y: Tensor) -> Tensor:
        return ssim(X, Y, self.data_range, self.win)
