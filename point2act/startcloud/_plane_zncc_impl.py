"""OpenCV and numpy references of the plane sweep's kernel (``csrc/plane_zncc.cpp``; tests).

The plane sweep compares a reference image with a source image warped into its view through a plane's
homography: OpenCV's ``warpPerspective`` (bilinear, zero border) samples the source and a channel of ones (where a
sample lies inside it), ``erode`` spreads the outside over each window, and box filters give the windows'
zero-normalised cross-correlation. The kernel makes the same comparison for many planes in one call.
"""

from __future__ import annotations

import numpy as np

WINDOW = 7
"""ZNCC window side (pixels, odd): :data:`point2act.startcloud.plane_sweep.WINDOW`."""


def zncc(a: np.ndarray, b: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Zero-normalised cross-correlation of the ``window`` square windows of grey images ``a`` and ``b``
    [H, W] float32 at each pixel, and the standard deviation of ``a``'s window: ([H, W], [H, W]). Flat windows
    (``sqrt(var_a var_b) <= 1e-3``) get ZNCC 0."""
    import cv2

    k = (window, window)
    ma, mb = cv2.blur(a, k), cv2.blur(b, k)
    va = np.maximum(cv2.blur(a * a, k) - ma * ma, 0.0)
    vb = np.maximum(cv2.blur(b * b, k) - mb * mb, 0.0)
    cov = cv2.blur(a * b, k) - ma * mb
    den = np.sqrt(va * vb)
    return np.where(den > 1e-3, cov / np.maximum(den, 1e-3), 0.0).astype(np.float32), np.sqrt(va)


def warp(image: np.ndarray, H: np.ndarray, size: tuple, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """``image`` [hs, ws] float32 sampled at ``H`` (pixel index to pixel index) applied to each pixel of a ``size``
    (w, h) canvas, and where the samples lie inside it, the ``window`` around a pixel included."""
    import cv2

    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(image, H, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpPerspective(np.ones_like(image), H, size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=0)
    inside = cv2.erode((inside > 0.999).astype(np.uint8), np.ones((window, window), np.uint8)) > 0
    return warped, inside


def plane_zncc(ref: np.ndarray, src: np.ndarray, homographies: np.ndarray,
               window: int = WINDOW) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's ``plane_zncc``: per homography [P, 3, 3], the ZNCC [P, h, w] of ``ref`` [h, w] with ``src``
    warped into it and where the warp is inside [P, h, w]; and ``ref``'s window standard deviation [h, w]."""
    h, w = ref.shape
    out, ins, std = [], [], None
    for H in homographies:
        warped, inside = warp(src, H, (w, h), window)
        c, std = zncc(ref, warped, window)
        out.append(c)
        ins.append(inside)
    if std is None:
        std = zncc(ref, ref, window)[1]
    return np.stack(out) if out else np.zeros((0, h, w), np.float32), \
        np.stack(ins) if ins else np.zeros((0, h, w), bool), std


def plane_zncc_sums(refs, srcs, homographies, planes, kinvs, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's ``plane_zncc_sums``: per view pair (lists of one entry per pair) and per homography of the pair,
    the ZNCC summed over the pixels inside the warp where the plane (the pair's ``planes`` [P, 4], in the reference
    camera) lies in front of the reference camera (``kinvs``: its inverse intrinsics), and their count:
    ([pairs, P], [pairs, P])."""
    sums, counts = [], []
    for ref, src, Hs, cam, kinv in zip(refs, srcs, homographies, planes, kinvs):
        h, w = ref.shape
        u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
        rays = np.stack([u, v, np.ones_like(u)], -1) @ np.asarray(kinv, dtype=np.float64).T
        c, inside, _ = plane_zncc(ref, src, Hs, window)
        s, n = np.zeros(len(cam)), np.zeros(len(cam), np.int64)
        for p, q in enumerate(np.asarray(cam, dtype=np.float64)):
            with np.errstate(divide="ignore", invalid="ignore"):
                z = -q[3] / (rays @ q[:3])
            ok = inside[p] & np.isfinite(z) & (z > 0)
            s[p] = float(c[p][ok].astype(np.float64).sum())
            n[p] = int(ok.sum())
        sums.append(s)
        counts.append(n)
    return np.array(sums).reshape(len(sums), -1), np.array(counts, np.int64).reshape(len(counts), -1)
