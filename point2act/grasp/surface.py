"""Section 2: scene geometry for grasping (surface points with normals).

Surface points are opacity-filtered Gaussian centres, optionally merged with
caller-supplied points (e.g. depth renders fused into a cloud), voxel
downsampled (a centroid per voxel), with normals from the covariance of each
point's nearest neighbours (scipy's ``cKDTree`` and the C++ kernel
``csrc/surface_normals.cpp``; the voxel grid, neighbourhoods and normals are open3d's
``voxel_down_sample`` and ``estimate_normals``, checked against it in
``tests/grasp/test_open3d_free.py``). The support plane's RANSAC scores its draws with the
C++ kernel ``csrc/ransac_plane.cpp``. Each kernel has a numpy reference (``*_reference``) that
runs where the kernels cannot be built."""

from __future__ import annotations

from typing import NamedTuple, Tuple

import numpy as np

from point2act.grasp import _kernel
from point2act.grasp.config import (
    MAX_SCALE,
    NORMAL_MAX_NN,
    NORMAL_RADIUS,
    PLANE_DISTANCE,
    PLANE_MIN_FRACTION,
    SURFACE_MIN_OPACITY,
    VOXEL_SIZE,
    GraspConfig,
)

__all__ = ["FusedSurface", "scene_points", "ransac_plane", "ransac_plane_reference", "fit_support_plane",
           "surface_relevancy", "voxel_downsample"]


def _metres_per_unit(cfg) -> float:
    """``cfg``'s gripper's metres per scene unit (a :class:`GraspConfig`); 1.0 otherwise (a metric scene)."""
    cfg = cfg or GraspConfig()
    return cfg.gripper.metres_per_unit if isinstance(cfg, GraspConfig) else 1.0


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """The centroid [K, 3] of the finite points of ``points`` [N, 3] in each cube of side ``voxel``, the
    voxels in lexicographic order of their integer index (x, then y, then z).

    open3d's ``voxel_down_sample`` grid and arithmetic: a point's voxel index is ``floor((p - lo) / voxel)``
    with ``lo`` the points' minimum corner less ``voxel / 2``, and a centroid is the float64 sum of its
    points in input order divided by their number; the same centroids to the bit (open3d gives them in a
    hash map's order). ``voxel <= 0`` or no points: the points as given. Check:
    ``tests/grasp/test_open3d_free.py``."""
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(P) == 0 or voxel <= 0:
        return P
    P = P[np.isfinite(P).all(1)]
    if len(P) == 0:
        return P
    lo = P.min(0) - voxel * 0.5  # [3]
    ijk = np.floor((P - lo) / voxel).astype(np.int64)  # [N, 3], >= 0
    span = ijk.max(0) + 1  # [3]
    if float(span[0]) * float(span[1]) * float(span[2]) < 2.0**62:
        key = (ijk[:, 0] * span[1] + ijk[:, 1]) * span[2] + ijk[:, 2]  # [N], ordered as (x, y, z)
        _, inv = np.unique(key, return_inverse=True)
    else:
        _, inv = np.unique(ijk, axis=0, return_inverse=True)
    inv = inv.reshape(-1)  # [N] voxel of each point
    count = np.bincount(inv).astype(np.float64)  # [K]
    # bincount adds in input order, as open3d's accumulation does
    total = np.stack([np.bincount(inv, weights=P[:, c], minlength=len(count)) for c in range(3)], 1)  # [K, 3]
    return total / count[:, None]


def _neighbours(points: np.ndarray, radius: float, max_nn: int) -> np.ndarray | None:
    """The up to ``max_nn`` nearest points [M, k] of each of ``points`` [M, 3] within ``radius`` (scipy's
    ``cKDTree``, nearest first, the point itself included; ``M`` where there is none; the radius widened by
    1e-6 so that the exact test ``< radius**2`` of :func:`_normals` decides). None where there is nothing to
    look for (no points, ``max_nn < 1`` or ``radius <= 0``)."""
    from point2act._scipy import cKDTree

    m = len(points)
    k = min(int(max_nn), m)
    if m == 0 or k < 1 or not radius > 0:
        return None
    _, idx = cKDTree(points).query(points, k=k, distance_upper_bound=radius * (1 + 1e-6), workers=-1)
    return idx.reshape(m, k)


def _normals(points: np.ndarray, radius: float, max_nn: int) -> np.ndarray:
    """Unit normals [M, 3] of ``points`` [M, 3]: the eigenvector of the smallest eigenvalue of the covariance
    of each point's neighbours, the up to ``max_nn`` nearest points at squared distance ``< radius**2`` (the
    point itself included): the direction the neighbourhood is flattest in. As open3d's
    ``estimate_normals(KDTreeSearchParamHybrid(radius, max_nn))``, a point with fewer than 3 neighbours (or
    with coinciding ones) gets ``(0, 0, 1)``.

    Sign: the component of largest magnitude is positive (the first of equal ones), so that a cloud always
    gets the same normals (open3d's sign is whatever its solver gives). The neighbours come from scipy's
    ``cKDTree`` (:func:`_neighbours`); the rest is the C++ kernel ``csrc/surface_normals.cpp``: the moments
    about the point itself (small numbers, no cancellation against ``|p|**2``) added in neighbour order,
    nearest first, and the closed-form symmetric 3x3 eigensolver open3d's ``FastEigen3x3`` uses, so the
    normals are the same bits under any thread count. :func:`_normals_reference` (numpy's batched ``eigh``)
    where the kernel cannot be built. Check: ``tests/grasp/test_open3d_free.py`` (the same directions as
    open3d's, to ``|cos| > 1 - 1e-9``, on planes, spheres and a noisy box) and
    ``tests/grasp/test_planner_parts.py`` (the reference's, to ``|cos| > 1 - 1e-9`` wherever the smallest
    eigenvalue is separated from the next; where the two nearly coincide the direction is ill-defined and
    solvers may differ)."""
    points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    kernel = _kernel.kernel("surface_normals")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same directions, slower
        return _normals_reference(points, radius, max_nn)
    idx = _neighbours(points, radius, max_nn)
    if idx is None:
        normals = np.zeros((len(points), 3))
        normals[:, 2] = 1.0
        return normals
    return kernel(points, _kernel.array(idx, np.int64), float(radius), -1)


def _normals_reference(points: np.ndarray, radius: float, max_nn: int) -> np.ndarray:
    """:func:`_normals` in numpy: the covariances of all points at once ([M, k] arrays, numpy's sums over a
    point's neighbours) and a batched ``np.linalg.eigh``. The same neighbours, sign rule and ``(0, 0, 1)``
    points as the kernel; the directions agree to rounding where the smallest eigenvalue is well separated."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    m = len(points)
    normals = np.zeros((m, 3))
    normals[:, 2] = 1.0
    idx = _neighbours(points, radius, max_nn)
    if idx is None:
        return normals
    P = np.concatenate([points, np.full((1, 3), np.inf)]).T.copy()  # [3, M + 1]; index m: no neighbour
    dx, dy, dz = (P[c][idx] - points[:, c, None] for c in range(3))  # [M, k] each, neighbour - point
    valid = (dx * dx + dy * dy) + dz * dz < radius * radius  # [M, k]
    cnt = valid.sum(1)  # [M]
    c = np.maximum(cnt, 1)  # [M]
    dx, dy, dz = (np.where(valid, v, 0.0) for v in (dx, dy, dz))
    mx, my, mz = dx.sum(1) / c, dy.sum(1) / c, dz.sum(1) / c  # [M] each
    # moments about the point itself: small numbers, no cancellation against |p|^2
    cov = np.empty((m, 3, 3))
    cov[:, 0, 0] = (dx * dx).sum(1) / c - mx * mx
    cov[:, 1, 1] = (dy * dy).sum(1) / c - my * my
    cov[:, 2, 2] = (dz * dz).sum(1) / c - mz * mz
    cov[:, 0, 1] = cov[:, 1, 0] = (dx * dy).sum(1) / c - mx * my
    cov[:, 0, 2] = cov[:, 2, 0] = (dx * dz).sum(1) / c - mx * mz
    cov[:, 1, 2] = cov[:, 2, 1] = (dy * dz).sum(1) / c - my * mz
    _, vec = np.linalg.eigh(cov)  # ascending eigenvalues
    n = vec[:, :, 0].copy()  # [M, 3]
    big = np.argmax(np.abs(n), axis=1)
    n *= np.where(n[np.arange(m), big] < 0, -1.0, 1.0)[:, None]
    none = (cnt < 3) | ~(cov.reshape(m, 9) != 0).any(1)  # too few neighbours, or coinciding ones
    n[none] = (0.0, 0.0, 1.0)
    return n


class FusedSurface(NamedTuple):
    """Surface points from another source than the Gaussians (the fused depth), and the ball where they are that
    surface: the Gaussian centres inside it are dropped (scene units)."""

    points: np.ndarray | None  # [K, 3]
    """The points, merged with the Gaussian centres before downsampling (None: none)."""
    center: np.ndarray | None = None  # [3]
    """The ball's centre (None: no ball; the Gaussian centres are kept everywhere)."""
    radius: float = 0.0
    """The ball's radius (0: no ball)."""


def scene_points(
    means: np.ndarray,
    opacities: np.ndarray,
    scales: np.ndarray | None = None,
    fused: FusedSurface | None = None,
    cfg=None,
    camera_centers: np.ndarray | None = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Surface cloud ``(points [M,3], normals [M,3])`` in capture units.

    ``means`` [N,3] and ``opacities`` [N] (activated) of the Gaussians;
    ``scales`` [N,3] optional *linear* (not log) axis lengths; ``fused`` optional points from another
    source (fused depth), merged before downsampling, and the ball where they replace the Gaussian
    centres; ``camera_centers`` [C,3] optional: normals are flipped towards the nearest one.
    ``cfg`` is a :class:`GraspConfig` (units from its gripper) or anything else (a metric scene);
    filters and sizes are :mod:`point2act.grasp.config`'s constants.

    The points are the centroids of the ``VOXEL_SIZE`` voxels (:func:`voxel_downsample`, lexicographic voxel
    order), the normals those of :func:`_normals` (``NORMAL_RADIUS``, ``NORMAL_MAX_NN``): unit length, with
    the largest component positive where no cameras are given, ``(0, 0, 1)`` at a point with fewer than 3
    neighbours. Fewer than 3 points after downsampling: none."""
    extra_points, fused_center, fused_radius = fused if fused is not None else FusedSurface(None)
    mpu = _metres_per_unit(cfg)
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    keep = np.isfinite(means).all(1) & np.isfinite(opac) & (opac >= SURFACE_MIN_OPACITY)
    if scales is not None:
        s = np.asarray(scales, dtype=np.float64).reshape(len(means), -1)
        keep &= np.isfinite(s).all(1) & (s.max(1) <= MAX_SCALE / mpu)
    if fused_center is not None and fused_radius > 0:
        keep &= np.linalg.norm(means - np.asarray(fused_center, dtype=np.float64).reshape(1, 3), axis=1) > fused_radius
    pts = means[keep]
    if extra_points is not None:
        e = np.asarray(extra_points, dtype=np.float64).reshape(-1, 3)
        pts = np.concatenate([pts, e[np.isfinite(e).all(1)]], 0)
    if len(pts) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    p = voxel_downsample(pts, VOXEL_SIZE / mpu)
    n = _normals(p, NORMAL_RADIUS / mpu, NORMAL_MAX_NN) if len(p) >= 3 else np.zeros_like(p)
    norm = np.linalg.norm(n, axis=1)
    good = np.isfinite(n).all(1) & (norm > 0.5)
    p, n = p[good], n[good] / norm[good, None]
    if camera_centers is not None and len(camera_centers) and len(p):  # flip towards the nearest camera
        from point2act._scipy import cKDTree

        cams = np.asarray(camera_centers, dtype=np.float64).reshape(-1, 3)
        _, ci = cKDTree(cams).query(p)
        flip = np.sum(n * (cams[ci] - p), axis=1) < 0
        n[flip] *= -1
    return p, n


def _ransac_draws(P: np.ndarray, iterations: int, seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planes of :func:`ransac_plane`'s draws from ``P`` [N, 3] (N >= 3): unit normals [I, 3], offsets [I]
    (``n . p + off = 0`` on the plane) and whether the draw gives a plane [I] (a draw with a repeated or
    collinear point has none: normal 0)."""
    rng = np.random.default_rng(int(seed))
    idx = rng.integers(0, len(P), size=(int(iterations), 3))  # [I, 3]
    a, b, c = P[idx[:, 0]], P[idx[:, 1]], P[idx[:, 2]]
    nrm = np.cross(b - a, c - a)
    length = np.sqrt((nrm * nrm).sum(1))
    ok = length > 1e-300
    nrm = np.where(ok[:, None], nrm / np.where(ok, length, 1.0)[:, None], 0.0)
    off = -(nrm * a).sum(1)
    return nrm, off, ok


def _ransac_best(P: np.ndarray, threshold: float, nrm: np.ndarray, off: np.ndarray, count: np.ndarray,
                 err: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`ransac_plane`'s answer from its draws' planes (``nrm`` [I, 3], ``off`` [I]), inlier counts
    ``count`` [I] (0 for a draw without a plane) and summed inlier distances ``err`` [I]: the best draw (the
    most inliers, then the smaller mean distance, then the earlier draw), its inliers, the plane refitted to
    them by PCA."""
    mean_err = np.where(count > 0, err / np.maximum(count, 1), np.inf)
    best = int(np.lexsort((np.arange(len(count)), mean_err, -count))[0])
    nb = nrm[best]
    dist = np.abs(P[:, 0] * nb[0] + P[:, 1] * nb[1] + P[:, 2] * nb[2] + off[best])
    inl = np.flatnonzero(dist < threshold)
    if len(inl) < 3:
        return np.r_[nb, off[best]], inl
    centre = P[inl].mean(0)
    X = P[inl] - centre
    _, V = np.linalg.eigh((X[:, :, None] * X[:, None, :]).sum(0))
    normal = V[:, 0]
    return np.r_[normal, -float((normal * centre).sum())], inl


def ransac_plane(points: np.ndarray, threshold: float, iterations: int = 300,
                 seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:  # model [4], inlier indices [I]
    """The plane ``a x + b y + c z + d = 0`` (unit normal) that the most of ``points`` [N, 3] lie within
    ``threshold`` of, by RANSAC: ``iterations`` planes through 3 points drawn with numpy's seeded generator
    (all of them tried, none stopped early; ties: the smaller mean distance, then the earlier draw),
    refitted by least squares (PCA) to the best one's inliers, as open3d's ``segment_plane`` does. Returns
    the model and the best draw's inliers. Reproducible to the bit on any machine and load: open3d's draws
    come from one locked generator shared by OpenMP threads, so which iteration gets which sample (and
    where its early stop falls) depends on thread timing, and the same seed gave 4 planes in 30 calls on a
    loaded machine.

    The draws and the refit are numpy (elementwise float64, no BLAS, whose blocking depends on the thread
    count); each draw's inlier count and summed distance come from the C++ kernel
    ``csrc/ransac_plane.cpp`` (its sums in point order, the same bits under any thread count), the same bits
    as :func:`ransac_plane_reference`, which runs where the kernel cannot be built. Check:
    ``tests/grasp/test_planner_parts.py``."""
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(P) < 3:
        return np.array([0.0, 0.0, 1.0, 0.0]), np.zeros(0, np.int64)
    kernel = _kernel.kernel("ransac_plane_scores")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same answer, slower
        return ransac_plane_reference(P, threshold, iterations, seed)
    P = _kernel.array(P)
    nrm, off, ok = _ransac_draws(P, iterations, seed)
    count, err = kernel(P, _kernel.array(nrm), _kernel.array(off), _kernel.array(ok, bool), float(threshold), -1)
    return _ransac_best(P, threshold, nrm, off, count, err)


def ransac_plane_reference(points: np.ndarray, threshold: float, iterations: int = 300,
                           seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:  # model [4], inlier indices [I]
    """:func:`ransac_plane` in numpy: the distances of all points to 32 draws' planes at a time ([N, 32]
    arrays), ``dist = |((p0 n0 + p1 n1) + p2 n2) + off|``, left to right as the expression reads; a draw's
    summed inlier distance adds the points in order (numpy's sum over axis 0 of an [N, w] array, w > 1, adds
    its rows in order; a cumulative sum where a chunk holds a single draw, whose column numpy would sum
    pairwise)."""
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(P) < 3:
        return np.array([0.0, 0.0, 1.0, 0.0]), np.zeros(0, np.int64)
    nrm, off, ok = _ransac_draws(P, iterations, seed)
    count = np.zeros(len(nrm), np.int64)
    err = np.zeros(len(nrm))
    for i0 in range(0, len(nrm), 32):
        sl = slice(i0, i0 + 32)
        dist = np.abs(P[:, 0:1] * nrm[None, sl, 0] + P[:, 1:2] * nrm[None, sl, 1]
                      + P[:, 2:3] * nrm[None, sl, 2] + off[None, sl])
        inside = dist < threshold
        count[sl] = inside.sum(0)
        kept = np.where(inside, dist, 0.0)  # [N, w]
        err[sl] = kept.sum(0) if kept.shape[1] > 1 else np.cumsum(kept[:, 0])[-1:]
    count[~ok] = 0
    return _ransac_best(P, threshold, nrm, off, count, err)


def fit_support_plane(
    points: np.ndarray,
    cfg=None,
    up_hint: np.ndarray | None = None,
    seed: int = 0,
    region_points: np.ndarray | None = None,
    camera_centers: np.ndarray | None = None,
) -> np.ndarray | None:
    """RANSAC the dominant plane; return ``[a, b, c, d]`` with unit normal and
    ``a*x + b*y + c*z + d = 0``, oriented "up"; None if the plane holds fewer than
    ``PLANE_MIN_FRACTION`` of the points, if most of ``region_points`` (the
    relevant Gaussians) and ``up_hint`` lie on it (then the "plane" is the target itself), or if ``up_hint``
    lies more than the inlier distance under it (then the "plane" is a layer of fog over a plain table: a support holds the
    target up, and the action point lies on the surface the views see, so no support lies above it).

    Up is the side most of the cameras ``camera_centers`` [C, 3] are on: a surface is seen from
    its front, and the views saw the table. Without cameras, the side of ``up_hint`` (a point, e.g.
    the action point) when it lies off the plane, else the side with more off-plane points. (The
    action point alone misleads where a thin part's reconstruction sinks into the table: a tool
    handle lying on it.)

    The relevant Gaussians alone do not make the plane the target: around a part a centimetre tall the field's
    relevancy bleeds onto the table, and half of the region can lie on it while the part stands above. The
    action point (where the views' answers agree, on the surface they see) decides: above the plane by more
    than the inlier distance, the target stands on the plane, and the plane is its support."""
    mpu = _metres_per_unit(cfg)
    if len(points) < 50:
        return None
    model, inl = ransac_plane(points, PLANE_DISTANCE / mpu, 300, seed)
    if len(inl) < PLANE_MIN_FRACTION * len(points):
        return None
    m = np.asarray(model, dtype=np.float64)
    nn = np.linalg.norm(m[:3])
    if not np.isfinite(m).all() or nn == 0:
        return None
    m = m / nn
    tol = PLANE_DISTANCE / mpu
    s = float(np.dot(m[:3], up_hint) + m[3]) if up_hint is not None else 0.0
    if region_points is not None and len(region_points) and abs(s) <= tol:
        if np.mean(np.abs(region_points @ m[:3] + m[3]) <= tol) > 0.5:
            return None
    cams = np.zeros((0, 3)) if camera_centers is None else np.asarray(camera_centers, dtype=np.float64).reshape(-1, 3)
    side = float(np.sign(cams[np.isfinite(cams).all(1)] @ m[:3] + m[3]).sum())
    if side != 0:
        if side < 0:
            m = -m
        if up_hint is not None and float(np.dot(m[:3], up_hint) + m[3]) < -tol:
            return None
    elif abs(s) > tol:
        if s < 0:
            m = -m
    else:
        dist = points @ m[:3] + m[3]
        off = np.abs(dist) > tol
        if (dist[off] > 0).sum() < (dist[off] < 0).sum():
            m = -m
    return m


def surface_relevancy(
    points: np.ndarray,
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    k: int,
    radius: float,
) -> np.ndarray:
    """Relevancy of each surface point: opacity-weighted mean relevancy of its
    ``k`` nearest Gaussians within ``radius`` (0 where none)."""
    from point2act._scipy import cKDTree

    if len(points) == 0 or len(means) == 0:
        return np.zeros(len(points))
    k = max(1, min(int(k), len(means)))
    d, i = cKDTree(means).query(points, k=k, distance_upper_bound=radius, workers=-1)
    d, i = d.reshape(len(points), k), i.reshape(len(points), k)
    valid = np.isfinite(d)
    ii = np.where(valid, i, 0)
    w = np.where(valid, opacities[ii], 0.0)
    num = (w * relevancy[ii]).sum(1)
    den = w.sum(1)
    return np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
