"""2D points -> heatmaps that supervise the relevancy channel.

A heatmap is the maximum over the view's points of isotropic Gaussian blobs,
``exp(-|p - c|^2 / (2 sigma^2))``, evaluated at pixel centres (j + 0.5, i + 0.5), with
``sigma = sigma_frac * sqrt(H^2 + W^2)`` — a fraction of the image diagonal, so the blob covers
the same part of the scene whatever the resolution. A view with no points (``[]``) gets an
all-zero heatmap: negative evidence.

Also here: mapping points from the stored image to the image nerfstudio trains on
(downscaled and undistorted), so the heatmap follows the image exactly.

Two twins draw the same heatmap: :func:`points_to_heatmap` (torch: training's targets) and
:func:`heatmap_array` (numpy: ``point2act query``'s targets, whichever path runs the query). They evaluate the
same float32 expressions; their ``exp`` implementations differ in the last bit on some pixels. Resizing a
heatmap to a fit's resolution likewise: :func:`resize_heatmap` (torch) and :func:`shrink_heatmap` (numpy, the same
bits as torch's area mode). Torch is imported by the torch twins only.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

HEATMAP_SIGMA_FRAC = 0.02
"""Blob sigma of every answer's heatmap as a fraction of the image diagonal (6.4 px at 256x192, 22 px at 960x540),
the value every run, test and benchmark trained with."""


def sigma_px(height: int, width: int, sigma_frac: float = HEATMAP_SIGMA_FRAC) -> float:
    """Blob sigma in pixels for an image of this size."""
    return float(sigma_frac) * math.hypot(height, width)


def points_to_heatmap(
    points: Tensor,  # [P, 2] (x, y) pixels, origin top-left
    height: int,
    width: int,
    sigma: float,
) -> Tensor:  # [H, W, 1] in [0, 1]
    """Render the max-over-points Gaussian heatmap of a view; all zeros when ``P == 0``."""
    import torch

    points = torch.as_tensor(points, dtype=torch.float32).reshape(-1, 2)
    out = torch.zeros(height, width, 1, dtype=torch.float32)
    if points.shape[0] == 0:
        return out
    ys = torch.arange(height, dtype=torch.float32) + 0.5
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    inv = 1.0 / (2.0 * sigma * sigma)
    for x, y in points.tolist():
        # separable: exp(-(dx^2 + dy^2) inv) = exp(-dx^2 inv) * exp(-dy^2 inv)
        gx = torch.exp(-((xs - x) ** 2) * inv)  # [W]
        gy = torch.exp(-((ys - y) ** 2) * inv)  # [H]
        torch.maximum(out[..., 0], gy[:, None] * gx[None, :], out=out[..., 0])
    return out


def heatmap_array(points: np.ndarray, height: int, width: int, sigma: float) -> np.ndarray:  # [H, W] float32
    """:func:`points_to_heatmap` in numpy (``points`` [P, 2] (x, y) pixels): the same float32 expressions, one
    separable blob per point, the maximum over points; all zeros when ``P == 0``."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    out = np.zeros((height, width), dtype=np.float32)
    if not len(pts):
        return out
    ys = np.arange(height, dtype=np.float32) + np.float32(0.5)
    xs = np.arange(width, dtype=np.float32) + np.float32(0.5)
    inv = np.float32(1.0 / (2.0 * sigma * sigma))
    for x, y in pts:
        gx = np.exp(-((xs - x) ** 2) * inv)
        gy = np.exp(-((ys - y) ** 2) * inv)
        np.maximum(out, gy[:, None] * gx[None, :], out=out)
    return out


def shrink_heatmap(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:  # [H, W] -> [h, w] float32
    """:func:`resize_heatmap` when shrinking, in numpy: torch's area mode (adaptive average pooling), each output
    pixel the float32 sum of its window, row by row, divided by the window's rows and then its columns. A size
    larger than the heatmap's is a ValueError."""
    src = np.asarray(heatmap, dtype=np.float32).reshape(heatmap.shape[0], heatmap.shape[1])
    H, W = src.shape
    if (H, W) == (height, width):
        return src
    if height > H or width > W:
        raise ValueError(f"shrink_heatmap: {H}x{W} -> {height}x{width} is no shrink")
    i0 = (np.arange(height) * H) // height
    i1 = -((-(np.arange(height) + 1) * H) // height)
    j0 = (np.arange(width) * W) // width
    j1 = -((-(np.arange(width) + 1) * W) // width)
    kh, kw = i1 - i0, j1 - j0
    acc = np.zeros((height, width), dtype=np.float32)
    for di in range(int(kh.max())):
        rows = np.minimum(i0 + di, H - 1)
        in_h = di < kh
        for dj in range(int(kw.max())):
            cols = np.minimum(j0 + dj, W - 1)
            inside = in_h[:, None] & (dj < kw)[None, :]
            acc = np.where(inside, acc + src[rows][:, cols], acc)
    return (acc / kh[:, None].astype(np.float32)) / kw[None, :].astype(np.float32)


def resize_heatmap(heatmap: Tensor, height: int, width: int) -> Tensor:  # [H, W, 1] -> [h, w, 1]
    """Resize a heatmap to a render's size (area averaging when shrinking)."""
    import torch

    if heatmap.shape[0] == height and heatmap.shape[1] == width:
        return heatmap
    x = heatmap.permute(2, 0, 1)[None]
    mode = "area" if height <= heatmap.shape[0] and width <= heatmap.shape[1] else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return torch.nn.functional.interpolate(x, size=(height, width), mode=mode, **kw)[0].permute(1, 2, 0)


def map_points_to_training_image(
    points: np.ndarray,  # [P, 2] pixels of the stored image
    scale: float,
    K_raw: np.ndarray,  # [3, 3] intrinsics of the (downscaled) distorted image, pixel centres at +0.5
    distortion: np.ndarray | None,  # nerfstudio order [k1, k2, k3, k4, p1, p2] or None
    K_final: np.ndarray,  # [3, 3] intrinsics of the image nerfstudio trains on
    fisheye: bool = False,
) -> np.ndarray:  # [P, 2] pixels of the training image
    """Follow nerfstudio's downscaling and undistortion (``full_images_datamanager._undistort_image``).

    ``scale`` maps the stored image to the loaded one (``1 / downscale_factor``); both use
    corner-origin continuous coordinates, so it is a pure scaling. Undistortion is the same
    OpenCV model nerfstudio undistorts images with, re-projected with the final intrinsics (which
    already include nerfstudio's crop to the valid region).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) * float(scale)
    if pts.shape[0] == 0:
        return pts.astype(np.float32)
    if distortion is None or not np.any(distortion):
        # no undistortion: only a change of intrinsics (normally identity)
        if np.allclose(K_raw, K_final):
            return pts.astype(np.float32)
    import cv2

    Kr = np.asarray(K_raw, dtype=np.float64).copy()
    Kf = np.asarray(K_final, dtype=np.float64).copy()
    # OpenCV puts pixel centres at integers: shift by 0.5 as nerfstudio does.
    Kr[0, 2] -= 0.5
    Kr[1, 2] -= 0.5
    Kf[0, 2] -= 0.5
    Kf[1, 2] -= 0.5
    src = (pts - 0.5).reshape(-1, 1, 2)
    d = np.zeros(6) if distortion is None else np.asarray(distortion, dtype=np.float64)
    if fisheye:
        out = cv2.fisheye.undistortPoints(src, Kr, d[:4].reshape(4, 1), P=Kf)
    else:
        # nerfstudio order [k1, k2, k3, k4, p1, p2] -> OpenCV (k1, k2, p1, p2, k3)
        dist_cv = np.array([d[0], d[1], d[4], d[5], d[2]], dtype=np.float64)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
        out = cv2.undistortPointsIter(src, Kr, dist_cv, None, Kf, crit)
    return (out.reshape(-1, 2) + 0.5).astype(np.float32)
