"""The planner's candidates stage: contact pairs at the region and their grasp frames.

:func:`candidate_pairs` draws seeds from the surface points near the region and pairs them: antipodal pairs
inside both friction cones (:func:`sample_contact_pairs`) and, on a support plane, closing lines parallel to it
(:func:`support_pairs`); :func:`pair_frames` gives each pair its closing axis, the ``NUM_APPROACH_DIRS``
gripper rotations about it and the part across its closing line. Plain numpy (scipy for the k-d tree; the
C++ kernel ``csrc/contact_pairs.cpp`` for the prefilter).
"""

from __future__ import annotations

import math
from typing import Dict, NamedTuple, Tuple

import numpy as np

from point2act.grasp import _kernel
from point2act.grasp.clouds import CollisionClouds, SceneClouds
from point2act.grasp.config import (
    CLEARANCE,
    MAX_GRASP_DEPTH,
    MIN_WIDTH,
    NUM_APPROACH_DIRS,
    PAIR_BIN,
    PART_GAP,
    PARTNERS_PER_SEED,
    SUPPORT_AXES,
    GraspConfig,
)
from point2act.grasp.frames import ClosingLine, PairFrames, PairSpan
from point2act.grasp.geometry import antipodal_quality, grasp_rotations, orthonormal_basis
from point2act.grasp.part_scans import closing_extent
from point2act.grasp.result import Region

__all__ = ["ContactPairs", "Pairs", "candidate_pairs", "contact_candidates", "contact_candidates_reference",
           "pair_frames", "sample_contact_pairs", "support_pairs"]


class ContactPairs(NamedTuple):
    """Contact pairs at the region (:func:`candidate_pairs`)."""

    first: np.ndarray  # [K, 3]
    """The first contacts."""
    second: np.ndarray  # [K, 3]
    """The second contacts."""
    quality: np.ndarray  # [K]
    """Their antipodal quality (0 for support pairs, until the pads measure it)."""
    support: np.ndarray  # [K] bool
    """The closing lines parallel to the support plane (:func:`support_pairs`)."""


class Pairs(NamedTuple):
    """The contact pairs and their grasp frames, centred on the part (:func:`pair_frames`)."""

    first: np.ndarray  # [K, 3]
    """The first contacts (a support pair's: the part's end on its line)."""
    second: np.ndarray  # [K, 3]
    """The second contacts."""
    quality: np.ndarray  # [K]
    """Their antipodal quality."""
    width: np.ndarray  # [K]
    """The contacts' distance."""
    frames: PairFrames
    """The frames: centred on the part's centre on the closing line, ``x`` from the first contact towards the
    second."""
    theta: np.ndarray  # [T]
    """The approach angles about ``x``."""
    rotations: np.ndarray  # [K, T, 3, 3]
    """The gripper's rotation per candidate (:func:`~point2act.grasp.geometry.grasp_rotations`)."""
    span: PairSpan
    """The part across the closing line: whether it fits between the fingers with the margin, the half-opening
    it asks for and the contacts' distances from the centre."""
    support: np.ndarray  # [K] bool
    """The closing lines parallel to the support plane (:func:`support_pairs`)."""


def contact_candidates_reference(Ps: np.ndarray, Ns: np.ndarray, Q: np.ndarray, max_width: float, min_width: float,
                                 cos_angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """Seeds ``Ps`` [S, 3] (normals ``Ns`` [S, 3]) x points ``Q`` [M, 3]: the (seed ``i`` [E], point ``j`` [E])
    pairs whose distance lies in ``[min_width, max_width]`` and whose line lies in the seed's friction cone
    (``|d . n| >= cos_angle |d|``), loosely: a prefilter for the exact tests of
    :func:`sample_contact_pairs`, which keeps every pair they accept. Seed by seed, points ascending.
    Dense, with BLAS; :func:`contact_candidates` is the C++ kernel (``csrc/contact_pairs.cpp``)."""
    sq = (Q * Q).sum(1)[:, None] + (Ps * Ps).sum(1)[None, :] - 2.0 * (Q @ Ps.T)
    dn = Q @ Ns.T - (Ps * Ns).sum(1)[None, :]
    # loose by far more than a GEMM's rounding (whose last bits follow the arrays' alignment)
    tol = 1e-6 * max(max_width * max_width, float(np.max(sq)) if sq.size else 0.0)
    mask = ((sq <= max_width * max_width + tol) & (sq >= min_width * min_width - tol)
            & (dn * dn >= (cos_angle * cos_angle) * (1 - 1e-6) * sq - tol))
    i, j = np.nonzero(mask.T)
    return i, j


def contact_candidates(Ps: np.ndarray, Ns: np.ndarray, Q: np.ndarray, max_width: float, min_width: float,
                       cos_angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`contact_candidates_reference` with the C++ kernel: elementwise, no [points x seeds] arrays."""
    if not len(Ps) or not len(Q):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    kernel = _kernel.kernel("contact_candidates")
    if kernel is None:  # pragma: no cover - no compiler: the dense reference
        return contact_candidates_reference(Ps, Ns, Q, max_width, min_width, cos_angle)
    t_ = _kernel.array
    return kernel(t_(Ps), t_(Ns), t_(Q), float(max_width), float(min_width), float(cos_angle), -1)


def sample_contact_pairs(
    points: np.ndarray,
    normals: np.ndarray,
    seeds: np.ndarray,
    cfg: GraspConfig,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Antipodal contact pairs for seed indices into ``points``.

    For each seed every surface point within ``max_opening`` is tested with
    :func:`antipodal_quality`; per seed, the best partner in each 1 cm width
    bin is kept, then the best ``PARTNERS_PER_SEED`` bins. Returns
    ``(a, b, quality)``: index arrays into ``points`` (unordered pairs,
    ``a < b``, deduplicated) and the antipodal quality of each pair."""
    g = cfg.gripper
    if len(seeds) == 0 or len(points) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    maxw, minw = g.units(g.max_opening), g.units(MIN_WIDTH)
    cos_a = math.cos(math.atan(cfg.friction_coef))
    # coordinates relative to the seeds' centroid to limit cancellation
    o = points[seeds].mean(0)
    Ps, Ns = points[seeds] - o, normals[seeds]
    lo, hi = Ps.min(0) - maxw, Ps.max(0) + maxw
    cand = np.flatnonzero(np.all((points >= lo + o) & (points <= hi + o), axis=1))
    Q = points[cand] - o
    # a prefilter only, looser than the exact, elementwise distance and friction tests below, which decide
    i, jj = contact_candidates(Ps, Ns, Q, maxw, minw, cos_a)
    j = cand[jj]
    si = seeds[i]
    dist = np.linalg.norm(points[j] - points[si], axis=1)
    m = (dist <= maxw) & (dist >= minw)
    i, j, dist, si = i[m], j[m], dist[m], si[m]
    valid, q = antipodal_quality(points[si], normals[si], points[j], normals[j], cfg.friction_coef)
    i, j, dist, q = i[valid], j[valid], dist[valid], q[valid]
    if len(i) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    wbin = np.floor(dist / g.units(0.01)).astype(np.int64)
    order = np.lexsort((-q, wbin, i))
    i, j, q, wbin = i[order], j[order], q[order], wbin[order]
    first = np.ones(len(i), bool)
    first[1:] = (i[1:] != i[:-1]) | (wbin[1:] != wbin[:-1])
    i, j, q = i[first], j[first], q[first]
    order = np.lexsort((-q, i))
    i, j, q = i[order], j[order], q[order]
    start = np.r_[0, np.flatnonzero(i[1:] != i[:-1]) + 1]
    rank = np.arange(len(i)) - np.repeat(start, np.diff(np.r_[start, len(i)]))
    keep = rank < PARTNERS_PER_SEED
    a, b, q = seeds[i[keep]], j[keep], q[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * (len(points) + 1) + hi
    _, u = np.unique(key, return_index=True)
    return lo[u], hi[u], q[u]


def support_pairs(
    seeds: np.ndarray,  # [S, 3]
    plane: np.ndarray,  # [4]
    half: float,
) -> Tuple[np.ndarray, np.ndarray]:  # [S * SUPPORT_AXES, 3] first, second contacts
    """Closing lines parallel to the support ``plane`` through each seed, ``SUPPORT_AXES`` of them evenly
    spaced: contacts ``half`` either side of the seed, which :func:`pair_frames` moves to the part's ends."""
    e1, e2 = orthonormal_basis(np.asarray(plane[:3], dtype=np.float64)[None])
    th = np.pi * np.arange(SUPPORT_AXES) / SUPPORT_AXES
    X = np.cos(th)[:, None] * e1 + np.sin(th)[:, None] * e2  # [D, 3]
    pa = (seeds[:, None, :] - half * X[None]).reshape(-1, 3)
    pb = (seeds[:, None, :] + half * X[None]).reshape(-1, 3)
    return pa, pb


def _one_per_bin(pa: np.ndarray, pb: np.ndarray, q: np.ndarray, size: float, limit: int) -> np.ndarray:
    """The pairs to keep [K'] (indices, ascending): one per (centre cell of ``size``, closing axis within about
    10 degrees), the best ``q``; of those, the best ``limit``."""
    if not len(pa):
        return np.zeros(0, np.int64)
    ctr = 0.5 * (pa + pb)
    ax = pb - pa
    ax /= np.maximum(np.linalg.norm(ax, axis=1, keepdims=True), 1e-300)
    ax *= np.where(np.sum(ax * np.array([0.5773, 0.5774, 0.5775]), 1) < 0, -1.0, 1.0)[:, None]
    key = np.c_[np.floor(ctr / size), np.round(ax * 6.0)].astype(np.int64)
    order = np.argsort(-q, kind="stable")
    _, first = np.unique(key[order], axis=0, return_index=True)
    keep = order[first]
    if len(keep) > limit:
        keep = keep[np.argsort(-q[keep], kind="stable")[:limit]]
    return np.sort(keep)


def candidate_pairs(
    scene: SceneClouds,
    means: np.ndarray,  # [N, 3]
    region: Region,
    cfg: GraspConfig,
    counts: Dict[str, int],
    target: np.ndarray | None = None,  # [T, 3] the target's surface points
) -> ContactPairs:
    """Contact pairs at the region: seeds drawn (weighted by relevancy, at most ``num_candidates``) from the
    surface points within ``seed_radius`` of the region's Gaussians or of the ``target`` surface; their
    antipodal pairs (:func:`sample_contact_pairs`) and, on a support plane, their closing lines parallel to
    it (:func:`support_pairs`, quality 0 until :func:`~point2act.grasp.clearance.pads` measures it where the
    pads hold; ``support`` marks them). Each kind keeps one pair per (centre, closing axis) bin, since
    neighbouring seeds on a face give the same grasp, and its best ``num_candidates``; a bin is at least one cell
    of the collision clouds."""
    from point2act._scipy import cKDTree

    surf, cell = scene.surf, scene.clouds.cell
    P, U = surf.points, cfg.gripper.units
    anchors = means[region.indices] if target is None else np.concatenate([means[region.indices], target])
    dseed, _ = cKDTree(anchors).query(P, distance_upper_bound=U(cfg.seed_radius), workers=-1)
    pool = np.flatnonzero(np.isfinite(dseed))
    rng = np.random.default_rng(cfg.seed)
    if len(pool) > cfg.num_candidates:
        w = surf.relevancy[pool] + 0.05 * max(region.max_relevancy, 1e-6)
        seeds = np.sort(rng.choice(pool, size=cfg.num_candidates, replace=False, p=w / w.sum()))
    else:
        seeds = pool
    counts["seeds"] = len(seeds)
    size = max(cell, U(PAIR_BIN))
    a, b, q = sample_contact_pairs(P, surf.normals, seeds, cfg)
    counts["contact_pairs_sampled"] = len(a)
    keep = _one_per_bin(P[a], P[b], q, size, cfg.num_candidates)
    pa, pb, q = P[a[keep]], P[b[keep]], q[keep]
    counts["contact_pairs"] = len(pa)
    # support pairs through the seeds the pads reach down to the plane from (a part lying on it)
    if surf.plane is None:
        low = seeds[:0]
    else:
        low = seeds[P[seeds] @ surf.plane[:3] + surf.plane[3] <= U(MAX_GRASP_DEPTH)]
    if len(low):
        sa, sb = support_pairs(P[low], surf.plane, 0.5 * U(MIN_WIDTH))
        keep = _one_per_bin(sa, sb, np.zeros(len(sa)), size, cfg.num_candidates)
        pa, pb = np.concatenate([pa, sa[keep]]), np.concatenate([pb, sb[keep]])
        q = np.r_[q, np.zeros(len(keep))]
    support = np.arange(len(pa)) >= counts["contact_pairs"]
    counts["support_pairs"] = int(support.sum())
    counts["candidates"] = len(pa) * NUM_APPROACH_DIRS
    return ContactPairs(pa, pb, q, support)


def pair_frames(
    contacts: ContactPairs,
    clouds: CollisionClouds,
    dims: Dict[str, float],
    cfg: GraspConfig,
    counts: Dict[str, int],
) -> Pairs:
    """Each pair's closing axis ``x`` (from the first contact to the second), the ``NUM_APPROACH_DIRS`` gripper
    rotations about it, and the part across the closing line: what lies, connected, within ``PART_GAP`` along it
    (:func:`~point2act.grasp.part_scans.closing_extent`) gives the centre the grasp is centred on and the
    half-opening, the part's half-extent plus ``CLEARANCE`` (the cells' half size on a grid); a part wider
    than the opening less the margin does not fit. A ``support`` pair's contacts become the part's two ends
    on its line (:func:`support_pairs` placed them at its seed)."""
    pa, pb, q, support = contacts
    U, T = cfg.gripper.units, NUM_APPROACH_DIRS
    c = 0.5 * (pa + pb)
    width = np.linalg.norm(pb - pa, axis=1)
    x = (pb - pa) / width[:, None]
    u, v = orthonormal_basis(x)
    theta = 2 * np.pi * np.arange(T) / T
    R = grasp_rotations(x, u, v, theta)
    fw, half_open, mg = dims["finger_width"], 0.5 * dims["max_opening"], clouds.obstacles.margin
    gap = max(1.5 * clouds.cell, U(PART_GAP))
    w2 = 0.5 * width
    ext_p, ext_n = closing_extent(PairFrames(c, x, u, v), clouds.extent, w2,
                                  ClosingLine(fw / 2, half_open, gap, math.hypot(half_open, fw / 2) + mg))
    shift = 0.5 * (ext_p - ext_n)
    half_part = 0.5 * (ext_p + ext_n)
    c = c + shift[:, None] * x
    h = np.minimum(half_part + clouds.pad_x + U(CLEARANCE), half_open)
    fits = half_part + mg <= half_open
    counts["fit_pairs"] = int(fits.sum())
    sp, sn = w2 - shift, w2 + shift
    if support.any():
        sp, sn = np.where(support, half_part, sp), np.where(support, half_part, sn)
        pa = np.where(support[:, None], c - half_part[:, None] * x, pa)
        pb = np.where(support[:, None], c + half_part[:, None] * x, pb)
        width = np.where(support, 2.0 * half_part, width)
    return Pairs(pa, pb, q, width, PairFrames(c, x, u, v), theta, R, PairSpan(fits, h, sp, sn), support)
