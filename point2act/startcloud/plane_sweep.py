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
  height explains the texture better. Its depth is the plane's along its ray. The parallel planes are compared
  only at the pixels that matched every neighbour at the plane (the kernel's ``plane_zncc_best``: the same ZNCC
  bits at those pixels; 5 % of ``real/tools``' pixels), or over the whole image where more than a fifth did,
  which is then the cheaper way.
  Windows across an object's silhouette match at no single plane and get no depth; flat-coloured pixels get
  none. A view of more than :data:`point2act.startcloud.stereo.MAX_PIXELS` pixels is compared at the stereo's
  whole divisor (its neighbours too), and each of its pixels takes the answer of the compared pixel it lies in,
  the depth its own: the comparison's cost follows the compared pixels.

numpy, OpenCV and one C++ kernel (``csrc/plane_zncc.cpp``: the warps and ZNCC of every plane a view pair is
compared at, in one call, the planes spread over the threads, at every pixel or at a mask's; reference:
:mod:`point2act.startcloud._plane_zncc_impl`);
nothing here imports torch or nerfstudio. Cameras follow gsplat: ``viewmats``
world-to-camera with OpenCV axes (x right, y down, z forward), ``Ks`` pinhole intrinsics, images RGB uint8 or
float in [0, 1]. Planes are ``[a, b, c, d]`` with ``a x + b y + c z + d = 0`` and a unit normal on the cameras'
side.

Check: ``tests/startcloud/test_plane_zncc.py`` holds the kernel to its OpenCV reference;
``tests/startcloud/test_plane_sweep.py`` renders a faintly textured plane with a box on it from a ring of cameras:
the plane is found to a fraction of a pixel's footprint, the plane's pixels get its depth and the box's pixels
none.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from point2act import _cpp
from point2act.splatting import pixel_divisor
from point2act.startcloud.stereo import MAX_PIXELS, _centres_axes, image_uint8, scene_depths, view_at_divisor

__all__ = ["cache_tag", "SupportPlane", "neighbours", "plane_homography", "pixel_homographies", "Compared",
           "plane_scores", "plane_score", "support_plane", "plane_depths"]

EXTENSION = _cpp.PybindExtension("plane_sweep", Path(__file__).resolve().parent / "csrc", "the plane sweep's kernel")
"""``csrc/plane_zncc.cpp``: every plane's warp and ZNCC of a view pair in one call (reference:
:mod:`point2act.startcloud._plane_zncc_impl`)."""

CACHE_VERSION = 3
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
            SEARCH_OFFSETS, MIN_SCORE, MIN_PATCH_STD, MIN_ZNCC, MIN_PARALLAX_PX, MAX_PARALLAX_PX, MAX_PIXELS)
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


_CENTRE = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
"""Pixel index to image coordinate: pixel (0, 0)'s centre is at (0.5, 0.5), as nerfstudio's rays and gsplat's
rasteriser place it (``Ks`` are in these coordinates)."""


def pixel_homographies(K_r: np.ndarray, V_r: np.ndarray, K_s: np.ndarray, V_s: np.ndarray,
                       planes: np.ndarray) -> np.ndarray:  # [P, 3, 3]
    """:func:`plane_homography` of each of ``planes`` [P, 4] (world), taking a reference pixel's index to the
    source pixel's index (pixel (0, 0)'s centre at (0.5, 0.5) in image coordinates): what the kernel samples the
    source at."""
    in_ref = _planes_in(V_r, np.asarray(planes, dtype=np.float64).reshape(-1, 4))
    n_r, d_r = in_ref[:, :3], in_ref[:, 3]  # each plane in the reference camera: n_r . X + d_r = 0
    R_r, t_r = V_r[:3, :3], V_r[:3, 3]
    R = V_s[:3, :3] @ R_r.T
    t = V_s[:3, 3] - R @ t_r
    M = R[None] - t[None, :, None] * n_r[:, None, :] / d_r[:, None, None]
    return np.ascontiguousarray(_inverse(_CENTRE) @ K_s @ M @ _inverse(K_r) @ _CENTRE)


def _planes_in(V: np.ndarray, planes: np.ndarray) -> np.ndarray:  # [P, 4]
    """``planes`` [P, 4] (world) in the camera of world-to-camera ``V``."""
    n = planes[:, :3] @ V[:3, :3].T
    return np.ascontiguousarray(np.c_[n, planes[:, 3] - n @ V[:3, 3]])


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


@dataclass(frozen=True)
class Compared:
    """Grey views, their cameras and the neighbours each is compared with: what :func:`plane_scores` reads,
    prepared once for every plane a sweep scores (each reference view's windows: the kernel's
    ``PlaneReference``)."""

    greys: Sequence[np.ndarray]
    """Per view, its grey image [H, W] float32."""
    Ks: np.ndarray  # [C, 3, 3]
    """The views' intrinsics at those images' size."""
    viewmats: np.ndarray  # [C, 4, 4]
    """World-to-camera, OpenCV axes."""
    neighbours: Sequence[Sequence[int]]
    """Per view, the views compared with it (none: not a reference)."""
    references: dict
    """Reference view -> its ``PlaneReference``."""

    @classmethod
    def of(cls, greys: Sequence[np.ndarray], Ks: np.ndarray, viewmats: np.ndarray,
           nbrs: Sequence[Sequence[int]]) -> "Compared":
        greys = [np.ascontiguousarray(g, dtype=np.float32) for g in greys]
        kernel = EXTENSION.load()
        refs = {i: kernel.PlaneReference(greys[i], WINDOW) for i, js in enumerate(nbrs) if js}
        return cls(greys, np.asarray(Ks, dtype=np.float64), np.asarray(viewmats, dtype=np.float64), nbrs, refs)


def plane_scores(views: Compared, planes: np.ndarray) -> np.ndarray:  # [P]
    """Per plane of ``planes`` [P, 4] (world): the mean ZNCC over every reference view's pixels that a neighbour
    sees through the plane's homography and that lie in front of the plane (pixels of flat windows count 0): how
    well the plane explains the photos; -1 where fewer than a tenth of the pixels are seen. One kernel call scores
    every plane on every view pair, the pairs' and planes' comparisons spread over the threads."""
    planes = np.asarray(planes, dtype=np.float64).reshape(-1, 4)
    Ks, V = views.Ks, views.viewmats
    refs, srcs, hs, cams, kinvs, pixels = [], [], [], [], [], 0
    for i, ref in views.references.items():
        in_cam = _planes_in(V[i], planes)
        kinv = np.ascontiguousarray(_inverse(Ks[i]))
        for j in views.neighbours[i]:
            refs.append(ref)
            srcs.append(views.greys[j])
            hs.append(pixel_homographies(Ks[i], V[i], Ks[j], V[j], planes))
            cams.append(in_cam)
            kinvs.append(kinv)
            pixels += views.greys[i].size
    if not refs:
        return np.full(len(planes), -1.0)
    sums, counts = EXTENSION.load().plane_zncc_sums(refs, srcs, hs, cams, kinvs)
    total, count = sums.sum(0), counts.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count >= 0.1 * max(pixels, 1), total / np.maximum(count, 1), -1.0)


def plane_score(views: Compared, plane: np.ndarray) -> float:
    """:func:`plane_scores` of one plane [4]."""
    return float(plane_scores(views, np.asarray(plane)[None])[0])


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
        views = Compared.of(greys, Kc, viewmats, [nbrs_all[i][:count] if i in refs else [] for i in range(len(viewmats))])
        return lambda planes: plane_scores(views, planes)

    def grid(normals, offsets):  # [len(normals) x len(offsets), 4]: for each normal, its offsets
        return np.c_[np.repeat(normals, len(offsets), 0), np.tile(offsets, len(normals))]

    def better(best, planes, scores):  # the first best-scoring plane, where it beats ``best``
        k = int(np.argmax(scores))
        return (float(scores[k]), planes[k]) if scores[k] > best[0] else best

    normals = _cone(up, SEARCH_CONE_DEG, SEARCH_NORMALS)
    planes = grid(normals, np.zeros(SEARCH_OFFSETS))
    planes[:, 3] = -np.repeat(normals @ look, SEARCH_OFFSETS) - np.tile(np.linspace(-0.4 * D, 0.2 * D, SEARCH_OFFSETS),
                                                                       SEARCH_NORMALS)
    best = better((-np.inf, None), planes, scorer(SEARCH_SIDE // 2, 1)(planes))
    n0, d0 = best[1][:3], best[1][3]
    step_deg = SEARCH_CONE_DEG / np.sqrt(SEARCH_NORMALS)  # the lattice's spacing, about
    planes = grid(_cone(n0, 1.5 * step_deg, SEARCH_NORMALS // 4), d0 - np.linspace(-0.04 * D, 0.04 * D, SEARCH_OFFSETS // 2))
    best = better(best, planes, scorer(SEARCH_SIDE, 1)(planes))
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
    res = minimize(lambda x: -float(fine(plane_of(x)[None])[0]), np.zeros(3), method="Nelder-Mead",
                   options=dict(initial_simplex=simplex, xatol=1e-4, fatol=1e-4, maxiter=150))
    plane = _oriented(plane_of(res.x), centres)
    score = -float(res.fun)
    seconds = time.perf_counter() - t0
    if progress is not None:
        progress(f"plane sweep: refined plane scores {score:.3f} ({seconds:.1f} s)")
    if score < MIN_SCORE:
        return None
    return SupportPlane(plane, score, seconds)


def plane_depths(images: Sequence, Ks: np.ndarray, viewmats: np.ndarray, plane: np.ndarray,
                 max_pixels: int | None = MAX_PIXELS) -> list[np.ndarray]:
    """Per view, the z-depth [H, W] float32 of the pixels that show ``plane`` [4] (see the module doc), 0
    elsewhere.

    Args:
        images: C images [H, W, 3].
        Ks: [C, 3, 3] intrinsics.
        viewmats: [C, 4, 4] world-to-camera, OpenCV axes.
        plane: the support plane (:attr:`SupportPlane.plane`).
        max_pixels: the most pixels of a view the comparison reads (:data:`~point2act.startcloud.stereo.MAX_PIXELS`;
            a larger view at the smallest whole divisor within, :func:`point2act.splatting.pixel_divisor`; None:
            each at its own size).
    """
    kernel = EXTENSION.load()
    viewmats = np.asarray(viewmats, dtype=np.float64)
    plane = _oriented(plane, _centres_axes(viewmats)[0])
    full, K_full = [_grey(img) for img in images], Ks
    divs = [pixel_divisor(g.shape[0], g.shape[1], max_pixels) for g in full]
    compared = [view_at_divisor(g, K, d) for g, K, d in zip(full, K_full, divs)]
    greys, Ks = [c[0] for c in compared], [c[1] for c in compared]
    nbrs = neighbours(viewmats)
    out = []
    for i, js in enumerate(nbrs):
        H, W = full[i].shape
        h, w = greys[i].shape
        z0 = _front(Ks[i], viewmats[i], plane, (w, h))
        if not js or not (z0 > 0).any():
            out.append(np.zeros((H, W), np.float32))
            continue
        ok = z0 > 0
        at, parallels = [], []
        ref = kernel.PlaneReference(greys[i], WINDOW)
        std = ref.std
        for j in js:
            steps = _parallel_steps(Ks[i], viewmats[i], Ks[j], viewmats[j], plane, z0)
            planes = plane[None] + np.c_[np.zeros((1 + len(steps), 3)), -np.r_[0.0, steps]]  # the plane, its parallels
            hom = pixel_homographies(Ks[i], viewmats[i], Ks[j], viewmats[j], planes)
            c, inside = kernel.plane_zncc(ref, greys[j], hom[:1])
            ok &= inside[0] & (c[0] >= MIN_ZNCC) & (std >= MIN_PATCH_STD)
            at.append(c[0])
            parallels.append((j, np.ascontiguousarray(hom[1:])))
        # the parallel planes only where the plane itself matched every neighbour (5 % of real/tools' pixels):
        # their best ZNCC, -1 elsewhere, where ``ok`` is already false
        best_off = [kernel.plane_zncc_best(ref, greys[j], hom, ok) for j, hom in parallels]
        ok &= np.mean(at, 0) >= np.mean(best_off, 0)
        d = divs[i]
        if d > 1:  # each pixel takes its compared pixel's answer, the plane's depth along its own ray
            ok = np.pad(np.repeat(np.repeat(ok, d, axis=0), d, axis=1), ((0, H - h * d), (0, W - w * d)))
            z0 = _front(K_full[i], viewmats[i], plane, (W, H))
        out.append(np.where(ok & (z0 > 0), z0, 0.0).astype(np.float32))
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
