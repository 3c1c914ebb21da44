"""The support plane (the table) from posed photos by a plane sweep, and the pixels where the photos show it.

Why: a capture whose table has too little texture for SIFT and block matching trains from random Gaussians,
and photometric training does not decide where a faintly textured surface lies: a layer of opaque Gaussians in
the air takes the table's colour in every view as well as the table does. The grasp head then finds the table
beside the target raised by centimetres and every candidate colliding with it. One plane, though, is fixed by
every pixel of the table at once: a faint grain that one matching window cannot place is placed by thousands.

How:
- :func:`support_plane`: each view is compared with its :data:`NEIGHBOURS` widest-baseline neighbours (optical
  axes within :data:`MAX_AXIS_ANGLE_DEG`) through the homography a plane induces between them. The plane's score
  is the mean zero-normalised cross-correlation (ZNCC, :data:`WINDOW` square windows) of the reference images
  with the warped neighbours over the pixels both see. Normals within :data:`SEARCH_CONE_DEG` of the cameras'
  mean up direction and offsets through the cameras' common look-at point are swept on images of
  :data:`SEARCH_SIDE` pixels; the best plane is refined by Nelder-Mead on images of twice that side.
- :func:`plane_depths`: a pixel shows the plane when its window is textured (:data:`MIN_PATCH_STD`), matches
  every neighbour at the plane (ZNCC at least :data:`MIN_ZNCC`), and matches them no better at the parallel
  planes :data:`MIN_PARALLAX_PX` to :data:`MAX_PARALLAX_PX` pixels of parallax above or below it: no other
  height explains the texture better. Its depth is the plane's along its ray.
  Windows across an object's silhouette match at no single plane and get no depth; flat-coloured pixels get
  none.

Plain numpy + OpenCV; nothing here imports torch or nerfstudio. Cameras follow gsplat: ``viewmats``
world-to-camera with OpenCV axes (x right, y down, z forward), ``Ks`` pinhole intrinsics, images RGB uint8 or
float in [0, 1]. Planes are ``[a, b, c, d]`` with ``a x + b y + c z + d = 0`` and a unit normal on the cameras'
side.

Check: ``tests/startcloud/test_plane_sweep.py`` renders a faintly textured plane with a box on it from a ring of cameras:
the plane is found to a fraction of a pixel's footprint, the plane's pixels get its depth and the box's pixels
none.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from point2act.startcloud.stereo import _centres_axes, image_uint8, scene_depths

__all__ = ["cache_tag", "SupportPlane", "neighbours", "plane_homography", "zncc", "plane_score", "support_plane",
           "plane_depths"]

CACHE_VERSION = 2
"""Raised when the depths this module computes change other than through the settings below."""
NEIGHBOURS = 2
"""Neighbours each view is compared with."""
MAX_AXIS_ANGLE_DEG = 40.0
"""Largest angle between the optical axes of a view and a neighbour: the plane's homography undoes the
perspective change of the plane itself, so the bound is set by what both views see of it."""
WINDOW = 7
"""ZNCC window side (pixels, odd)."""
SEARCH_SIDE = 128
"""Longest image side (pixels) of the coarse sweep; the refinement runs at twice it (at most the image's)."""
SEARCH_CONE_DEG = 45.0
"""The swept normals lie within this angle of the cameras' mean up direction."""
SEARCH_NORMALS = 80
"""Normals swept in that cone (a Fibonacci lattice)."""
SEARCH_VIEWS = 12
"""Views (spread over the capture) whose matches score a plane."""
SEARCH_OFFSETS = 24
"""Offsets swept per normal: planes through the look-at point moved along the normal from -40 % to +20 % of
the scene depth."""
MIN_SCORE = 0.15
"""Smallest mean ZNCC of the found plane: below it the photos do not show a plane (None)."""
MIN_PATCH_STD = 2.0
"""Smallest grey-level standard deviation (0..255) of a pixel's window for it to get a plane depth."""
MIN_ZNCC = 0.8
"""Smallest ZNCC at the plane, with every neighbour that sees the pixel, for the plane to explain a pixel."""
MIN_PARALLAX_PX = 2.0
"""Parallax (pixels, in the neighbour) of the nearest parallel plane a pixel's match must beat."""
MAX_PARALLAX_PX = 12.0
"""Parallax of the farthest parallel plane compared."""


def cache_tag() -> str:
    """A short hash of this module's settings and :data:`CACHE_VERSION`, for the names of cached plane depths."""
    import hashlib

    keys = (CACHE_VERSION, NEIGHBOURS, MAX_AXIS_ANGLE_DEG, WINDOW, SEARCH_SIDE, SEARCH_CONE_DEG, SEARCH_NORMALS, SEARCH_VIEWS,
            SEARCH_OFFSETS, MIN_SCORE, MIN_PATCH_STD, MIN_ZNCC, MIN_PARALLAX_PX, MAX_PARALLAX_PX)
    return hashlib.sha256(repr(keys).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class SupportPlane:
    """The dominant plane of a capture, found by :func:`support_plane`."""

    plane: np.ndarray  # [4]
    """``[a, b, c, d]``: unit normal on the cameras' side, ``a x + b y + c z + d = 0``, the cameras' frame."""
    score: float
    """Mean ZNCC of the views with their neighbours through the plane's homographies."""
    seconds: float
    """Wall time of the sweep and the refinement."""


def _grey(image) -> np.ndarray:  # [H, W] float32, 0..255
    import cv2

    a = image_uint8(image)
    if a.ndim == 3:
        a = cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)
    return a.astype(np.float32)


def neighbours(viewmats: np.ndarray, count: int = NEIGHBOURS) -> list[list[int]]:
    """Per view, the ``count`` views with the widest baselines among those whose optical axes lie within
    :data:`MAX_AXIS_ANGLE_DEG` of its own: the most parallax the plane test can get."""
    centres, axes = _centres_axes(np.asarray(viewmats, dtype=np.float64))
    cos_max = np.cos(np.radians(MAX_AXIS_ANGLE_DEG))
    out = []
    for i in range(len(centres)):
        ok = axes @ axes[i] >= cos_max
        ok[i] = False
        idx = np.flatnonzero(ok)
        base = np.linalg.norm(centres[idx] - centres[i], axis=1)
        out.append([int(j) for j in idx[np.argsort(-base)][:count]])
    return out


def plane_homography(K_r: np.ndarray, V_r: np.ndarray, K_s: np.ndarray, V_s: np.ndarray,
                     plane: np.ndarray) -> np.ndarray:  # [3, 3]
    """The homography taking a reference pixel (``K_r``, world-to-camera ``V_r``) to the source pixel
    (``K_s``, ``V_s``) of the same point of ``plane`` [4] (world)."""
    n, d = np.asarray(plane[:3], dtype=np.float64), float(plane[3])
    R_r, t_r = V_r[:3, :3], V_r[:3, 3]
    n_r = R_r @ n
    d_r = d - n_r @ t_r  # the plane in the reference camera: n_r . X + d_r = 0
    R = V_s[:3, :3] @ R_r.T
    t = V_s[:3, 3] - R @ t_r
    return K_s @ (R - np.outer(t, n_r) / d_r) @ _inverse(K_r)


def _inverse(M: np.ndarray) -> np.ndarray:
    """``np.linalg.inv(M)`` of a small matrix, computed once per matrix: a sweep scores thousands of planes with the
    same few intrinsics, and each ``np.linalg.inv`` call costs about 0.1 ms of overhead (the same bits)."""
    M = np.ascontiguousarray(M, dtype=np.float64)
    return _inverse_of(M.tobytes(), M.shape)


@functools.lru_cache(maxsize=256)
def _inverse_of(data: bytes, shape: tuple) -> np.ndarray:
    out = np.linalg.inv(np.frombuffer(data, dtype=np.float64).reshape(shape))
    out.setflags(write=False)
    return out


def zncc(a: np.ndarray, b: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Zero-normalised cross-correlation of the ``window`` square windows of grey images ``a`` and ``b``
    [H, W] at each pixel, and the standard deviation of ``a``'s window: ([H, W], [H, W]). Flat windows get
    ZNCC 0."""
    import cv2

    k = (window, window)
    ma, mb = cv2.blur(a, k), cv2.blur(b, k)
    va = np.maximum(cv2.blur(a * a, k) - ma * ma, 0.0)
    vb = np.maximum(cv2.blur(b * b, k) - mb * mb, 0.0)
    cov = cv2.blur(a * b, k) - ma * mb
    den = np.sqrt(va * vb)
    return np.where(den > 1e-3, cov / np.maximum(den, 1e-3), 0.0).astype(np.float32), np.sqrt(va)


_CENTRE = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
"""Pixel index to image coordinate: pixel (0, 0)'s centre is at (0.5, 0.5), as nerfstudio's rays and gsplat's
rasteriser place it (``Ks`` are in these coordinates)."""


def _warp(image: np.ndarray, H: np.ndarray, size: tuple) -> tuple[np.ndarray, np.ndarray]:
    """``image`` sampled at ``H`` (image coordinates) applied to each pixel of a ``size`` (w, h) canvas, and
    where the samples lie inside it (the window around a pixel included)."""
    import cv2

    H = _inverse(_CENTRE) @ H @ _CENTRE  # pixel indices to pixel indices
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(image, H, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = cv2.warpPerspective(np.ones_like(image), H, size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=0)
    inside = cv2.erode((inside > 0.999).astype(np.uint8), np.ones((WINDOW, WINDOW), np.uint8)) > 0
    return warped, inside


@functools.lru_cache(maxsize=64)
def _rays(K_bytes: bytes, size: tuple) -> np.ndarray:  # [h, w, 3]
    """Each pixel's ray (z = 1) of the camera with intrinsics ``K_bytes`` ([3, 3] float64) on a ``size`` (w, h)
    canvas: the same for every plane a sweep scores, so computed once."""
    w, h = size
    u, v = np.meshgrid(np.arange(w, dtype=np.float64) + 0.5, np.arange(h, dtype=np.float64) + 0.5)
    rays = np.stack([u, v, np.ones_like(u)], -1) @ _inverse(np.frombuffer(K_bytes, np.float64).reshape(3, 3)).T
    rays.setflags(write=False)
    return rays


def _front(K: np.ndarray, V: np.ndarray, plane: np.ndarray, size: tuple) -> np.ndarray:  # [h, w] float
    """z-depth along each pixel's ray to ``plane`` in the camera (``K``, ``V``), 0 where the plane is not in
    front of it."""
    n_r = V[:3, :3] @ plane[:3]
    d_r = float(plane[3] - n_r @ V[:3, 3])
    K = np.ascontiguousarray(K, dtype=np.float64)
    den = _rays(K.tobytes(), tuple(size)) @ n_r
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -d_r / den
    return np.where(np.isfinite(z) & (z > 0), z, 0.0)


def _scaled(images: Sequence, Ks: np.ndarray, side: int):
    """Grey images with their longest side at most ``side``, and the intrinsics of that size (pixel centres
    at half-integers scale with the image)."""
    import cv2

    out, Ko = [], []
    for img, K in zip(images, Ks):
        g = _grey(img)
        h, w = g.shape
        s = min(1.0, side / max(h, w))
        if s < 1.0:
            g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        K2 = np.array(K, dtype=np.float64).copy()
        K2[0] *= g.shape[1] / w
        K2[1] *= g.shape[0] / h
        out.append(g)
        Ko.append(K2)
    return out, np.stack(Ko)


def plane_score(greys: Sequence[np.ndarray], Ks: np.ndarray, viewmats: np.ndarray, nbrs: Sequence[Sequence[int]],
                plane: np.ndarray) -> float:
    """Mean ZNCC over every view's pixels that a neighbour sees through ``plane``'s homography (pixels of
    flat windows count 0): how well ``plane`` explains the photos. -1 when fewer than a tenth of the pixels
    are seen."""
    total, count, pixels = 0.0, 0, 0
    for i, js in enumerate(nbrs):
        if not js:
            continue
        h, w = greys[i].shape
        front = _front(Ks[i], viewmats[i], plane, (w, h)) > 0
        pixels += h * w * len(js)
        for j in js:
            H = plane_homography(Ks[i], viewmats[i], Ks[j], viewmats[j], plane)
            warped, inside = _warp(greys[j], H, (w, h))
            c, _ = zncc(greys[i], warped)
            ok = inside & front
            total += float(c[ok].sum())
            count += int(ok.sum())
    if count < 0.1 * max(pixels, 1):
        return -1.0
    return total / count


def _oriented(plane: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``plane`` scaled to a unit normal on the side of most camera centres."""
    p = np.asarray(plane, dtype=np.float64) / np.linalg.norm(plane[:3])
    return p if np.sum(centres @ p[:3] + p[3] > 0) * 2 >= len(centres) else -p


def _perpendicular(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to the unit vector ``a`` [3] and to each other, (e1, e2, a) right-handed.
    (:func:`point2act.grasp.geometry.orthonormal_basis` starts from another world axis: the swept lattice would
    turn about ``a``.)"""
    e1 = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(a, e1)


def _cone(axis: np.ndarray, angle_deg: float, count: int) -> np.ndarray:  # [count, 3]
    """``count`` unit vectors spread evenly (a Fibonacci lattice) over the cap of ``angle_deg`` around ``axis``."""
    k = np.arange(count) + 0.5
    cos_t = 1.0 - (1.0 - np.cos(np.radians(angle_deg))) * k / count
    sin_t = np.sqrt(np.maximum(1.0 - cos_t**2, 0.0))
    phi = np.pi * (1.0 + 5**0.5) * k
    local = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], -1)
    a = axis / np.linalg.norm(axis)
    e1, e2 = _perpendicular(a)
    return local @ np.stack([e1, e2, a])


def support_plane(images: Sequence, Ks: np.ndarray, viewmats: np.ndarray,
                  progress=None) -> SupportPlane | None:
    """The plane that best explains the posed photos (see the module doc): None when the cameras have no
    common look-at point, no view has a neighbour, or the best plane's score is below :data:`MIN_SCORE`.

    Args:
        images: C images [H, W, 3] (sizes may differ).
        Ks: [C, 3, 3] intrinsics of the images as given.
        viewmats: [C, 4, 4] world-to-camera, OpenCV axes.
        progress: called with a line of text per stage.
    """
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    viewmats = np.asarray(viewmats, dtype=np.float64)
    depth = scene_depths(viewmats)
    if not np.isfinite(depth).any():
        return None
    centres, axes = _centres_axes(viewmats)
    i0 = int(np.flatnonzero(np.isfinite(depth))[0])
    look = centres[i0] + axes[i0] * depth[i0]
    D = float(np.nanmedian(depth))
    up = -viewmats[:, 1, :3].mean(0)  # OpenCV y points down the image
    if np.linalg.norm(up) < 1e-6:
        up = (centres - look).mean(0)
    up /= np.linalg.norm(up)
    # the sweep compares a spread subset of the views with their widest neighbour, the refinement with two
    refs = np.unique(np.linspace(0, len(viewmats) - 1, min(len(viewmats), SEARCH_VIEWS)).round().astype(int))
    nbrs_all = neighbours(viewmats)
    if not any(nbrs_all[i] for i in refs):
        return None

    def scorer(side, count):
        greys, Kc = _scaled(images, Ks, side)
        nb = [nbrs_all[i][:count] if i in refs else [] for i in range(len(viewmats))]
        return lambda plane: plane_score(greys, Kc, viewmats, nb, plane)

    best = (-np.inf, None)
    coarse = scorer(SEARCH_SIDE // 2, 1)
    for n in _cone(up, SEARCH_CONE_DEG, SEARCH_NORMALS):
        for h in np.linspace(-0.4 * D, 0.2 * D, SEARCH_OFFSETS):
            plane = np.r_[n, -n @ look - h]
            s = coarse(plane)
            if s > best[0]:
                best = (s, plane)
    if best[1] is None:
        return None
    n0, d0 = best[1][:3], best[1][3]
    step_deg = SEARCH_CONE_DEG / np.sqrt(SEARCH_NORMALS)  # the lattice's spacing, about
    middle = scorer(SEARCH_SIDE, 1)
    for n in _cone(n0, 1.5 * step_deg, SEARCH_NORMALS // 4):
        for h in np.linspace(-0.04 * D, 0.04 * D, SEARCH_OFFSETS // 2):
            plane = np.r_[n, d0 - h]
            s = middle(plane)
            if s > best[0]:
                best = (s, plane)
    if progress is not None:
        progress(f"plane sweep: best coarse plane scores {best[0]:.3f} ({time.perf_counter() - t0:.1f} s)")
    fine = scorer(2 * SEARCH_SIDE, NEIGHBOURS)
    n0, d0 = best[1][:3], best[1][3]
    e1, e2 = _perpendicular(n0)

    def plane_of(x):
        n = n0 + x[0] * e1 + x[1] * e2
        n /= np.linalg.norm(n)
        return np.r_[n, d0 + x[2] * D]

    simplex = np.array([[0, 0, 0], [0.02, 0, 0], [0, 0.02, 0], [0, 0, 0.005]], dtype=np.float64)
    res = minimize(lambda x: -fine(plane_of(x)), np.zeros(3), method="Nelder-Mead",
                   options=dict(initial_simplex=simplex, xatol=1e-4, fatol=1e-4, maxiter=150))
    plane = _oriented(plane_of(res.x), centres)
    score = -float(res.fun)
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(f"plane sweep: refined plane scores {score:.3f} ({seconds:.1f} s)")
    if score < MIN_SCORE:
        return None
    return SupportPlane(plane, score, seconds)


def plane_depths(images: Sequence, Ks: np.ndarray, viewmats: np.ndarray, plane: np.ndarray) -> list[np.ndarray]:
    """Per view, the z-depth [H, W] float32 of the pixels that show ``plane`` [4] (see the module doc), 0
    elsewhere.

    Args:
        images: C images [H, W, 3].
        Ks: [C, 3, 3] intrinsics.
        viewmats: [C, 4, 4] world-to-camera, OpenCV axes.
        plane: the support plane (:attr:`SupportPlane.plane`).
    """
    viewmats = np.asarray(viewmats, dtype=np.float64)
    plane = _oriented(plane, _centres_axes(viewmats)[0])
    greys = [_grey(img) for img in images]
    nbrs = neighbours(viewmats)
    out = []
    for i, js in enumerate(nbrs):
        h, w = greys[i].shape
        z0 = _front(Ks[i], viewmats[i], plane, (w, h))
        if not js or not (z0 > 0).any():
            out.append(np.zeros((h, w), np.float32))
            continue
        ok = z0 > 0
        at, best_off = [], []
        for j in js:
            steps = _parallel_steps(Ks[i], viewmats[i], Ks[j], viewmats[j], plane, z0)
            H0 = plane_homography(Ks[i], viewmats[i], Ks[j], viewmats[j], plane)
            warped, inside = _warp(greys[j], H0, (w, h))
            c0, std = zncc(greys[i], warped)
            ok &= inside & (c0 >= MIN_ZNCC) & (std >= MIN_PATCH_STD)
            off = np.full((h, w), -1.0, np.float32)
            for k in steps:
                Hk = plane_homography(Ks[i], viewmats[i], Ks[j], viewmats[j], plane + np.r_[0, 0, 0, -k])
                wk, ink = _warp(greys[j], Hk, (w, h))
                ck, _ = zncc(greys[i], wk)
                off = np.maximum(off, np.where(ink, ck, -1.0))
            at.append(c0)
            best_off.append(off)
        ok &= np.mean(at, 0) >= np.mean(best_off, 0)
        out.append(np.where(ok, z0, 0.0).astype(np.float32))
    return out


def _parallel_steps(K_r, V_r, K_s, V_s, plane, z0) -> np.ndarray:
    """Offsets of the parallel planes compared (along the normal, world units): those whose parallax in the
    source view, at the reference view's median plane point, lies from :data:`MIN_PARALLAX_PX` to
    :data:`MAX_PARALLAX_PX` pixels on either side of the plane."""
    on = np.argwhere(z0 > 0)
    v, u = on[len(on) // 2]
    probe = 1e-3 * float(np.median(z0[z0 > 0]))

    def at(offset):
        Hm = plane_homography(K_r, V_r, K_s, V_s, plane + np.r_[0, 0, 0, -offset])
        p = Hm @ np.array([u + 0.5, v + 0.5, 1.0])
        return p[:2] / p[2]

    per = np.linalg.norm(at(probe) - at(0.0)) / probe  # pixels per unit of offset
    if not np.isfinite(per) or per <= 0:
        return np.zeros(0)
    ks = np.arange(MIN_PARALLAX_PX, MAX_PARALLAX_PX + 1e-9, 1.0) / per
    return np.r_[ks, -ks]
