"""2D points -> heatmaps that supervise the relevancy channel.

A heatmap is the maximum over the view's points of isotropic Gaussian blobs,
``exp(-|p - c|^2 / (2 sigma^2))``, evaluated at pixel centres (j + 0.5, i + 0.5), with
``sigma = sigma_frac * sqrt(H^2 + W^2)`` — a fraction of the image diagonal, so the blob covers
the same part of the scene whatever the resolution. A view with no points (``[]``) gets an
all-zero heatmap: negative evidence.

Also here: mapping points from the stored image to the image nerfstudio trains on
(downscaled and undistorted), so the heatmap follows the image exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
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


def resize_heatmap(heatmap: Tensor, height: int, width: int) -> Tensor:  # [H, W, 1] -> [h, w, 1]
    """Resize a heatmap to a render's size (area averaging when shrinking)."""
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
