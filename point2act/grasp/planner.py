"""Section 3: antipodal candidates, collision checks, scoring, NMS, top-k."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

import numpy as np

from point2act._open3d import load as load_open3d

from . import _kernel
from .collide import DISTANCE, L2, LINF, box, gripper_cloud_hits
from .config import (
    CLEARANCE,
    CLEARANCE_MARGIN,
    CLEARANCE_WEIGHT,
    COLLISION_VOXEL_SIZE,
    GEOMETRIC_WEIGHT,
    LONG_PART_DEPTH,
    MAX_GRASP_DEPTH,
    MIN_CLOSING_POINTS,
    MIN_GRASP_DEPTH,
    MIN_WIDTH,
    NMS_ANGLE_DEG,
    NUM_APPROACH_DIRS,
    ON_TARGET_SHARE,
    PAIR_BIN,
    PARTNERS_PER_SEED,
    PART_GAP,
    PLANE_DISTANCE,
    REGION_MIN_OPACITY,
    RELEVANCY_NEIGHBOURS,
    SEMANTIC_WEIGHT,
    SUPPORT_AXES,
    SWEEP_FINE_LENGTH,
    TARGET_RADIUS,
    TIP_MARGIN,
    VOXEL_SIZE,
    GraspConfig,
)
from .geometry import antipodal_quality, grasp_rotations, orthonormal_basis, orthonormalize
from .region import relevant_region
from .occupancy import FREE, OCCUPIED, OccupancyGrid
from .part import closing_extent, grasp_part, hold_depth, pad_quality, pads_touch_contacts
from .result import Grasp, GraspResult, Region
from .surface import fit_support_plane, scene_points, surface_relevancy

__all__ = ["plan_grasps", "plan", "sample_contact_pairs", "contact_candidates", "contact_candidates_reference", "nms",
           "handover_rotation"]


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


def nms(
    positions: np.ndarray,
    rotations: np.ndarray,
    scores: np.ndarray,
    distance: float,
    angle_rad: float,
    top_k: int,
) -> np.ndarray:
    """Greedy non-maximum suppression. A grasp is dropped if a better kept one
    is closer than ``distance`` *and* its rotation differs by less than
    ``angle_rad`` (a rotation by pi about the approach axis, i.e. fingers
    swapped, is the same grasp). Returns kept indices, best first, at most
    ``top_k``."""
    order = np.argsort(-scores, kind="stable")
    kept: List[int] = []
    if top_k <= 0:
        return np.zeros(0, np.int64)
    cos_thr = math.cos(angle_rad)
    kp = np.zeros((0, 3))
    kr = np.zeros((0, 3, 3))
    for idx in order:
        if len(kept):
            near = np.linalg.norm(kp - positions[idx], axis=1) < distance
            if near.any():
                M = np.einsum("kji,jl->kil", kr[near], rotations[idx])  # R_k^T R
                tr = np.trace(M, axis1=1, axis2=2)
                tr_sym = -M[:, 0, 0] - M[:, 1, 1] + M[:, 2, 2]
                c = (np.maximum(tr, tr_sym) - 1.0) / 2.0
                if (c > cos_thr).any():
                    continue
        kept.append(int(idx))
        kp = np.vstack([kp, positions[idx]])
        kr = np.concatenate([kr, rotations[idx][None]], 0)
        if len(kept) >= top_k:
            break
    return np.asarray(kept, dtype=np.int64)


def _unique_rows(a: np.ndarray) -> np.ndarray:  # [N, 3] int64 -> [M, 3], as np.unique(a, axis=0)
    """The distinct rows of integer cells ``a``, sorted as ``np.unique(a, axis=0)`` sorts them, through one
    scalar key per row (``np.unique(axis=0)`` sorts structured rows, ten times slower on 500k cells)."""
    lo = a.min(0)
    span = a.max(0) - lo + 1
    if float(span[0]) * float(span[1]) * float(span[2]) >= 2.0**62:  # no room for one key
        return np.unique(a, axis=0)
    key = ((a[:, 0] - lo[0]) * span[1] + (a[:, 1] - lo[1])) * span[2] + (a[:, 2] - lo[2])
    u = np.unique(key)
    out = np.empty((len(u), 3), np.int64)
    out[:, 2] = u % span[2] + lo[2]
    u = u // span[2]
    out[:, 1] = u % span[1] + lo[1]
    out[:, 0] = u // span[1] + lo[0]
    return out


def _empty(region, cfg, reason, timings, counts, plane) -> GraspResult:
    return GraspResult(region=region, grasps=[], gripper=cfg.gripper, warning=reason, timings_ms=timings,
                       counts=counts, support_plane=plane)


def _plane_min(plane, tcp: np.ndarray, R: np.ndarray, h: np.ndarray, dims: Dict[str, float]) -> np.ndarray:
    """Lowest signed distance to the plane of the fingers and the palm, for TCPs ``tcp`` [K, T, 3],
    rotations ``R`` [K, T, 3, 3] and half-openings ``h`` [K, T]: ``[K, T]``."""
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    Dp, pw, pt = dims["palm_depth"], dims["palm_width"], dims["palm_thickness"]
    n, off = plane[:3], plane[3]
    nR = np.einsum("i,ktij->ktj", n, R)  # n . (x, y, z)
    s0 = tcp @ n + off
    ax, ay, az = np.abs(nR[..., 0]), np.abs(nR[..., 1]), nR[..., 2]
    finger = s0 - ax * (h + t / 2) - az * L / 2 - (ax * t / 2 + ay * fw / 2 + np.abs(az) * L / 2)
    palm = s0 - az * (L + Dp / 2) - (ax * pw / 2 + ay * pt / 2 + np.abs(az) * Dp / 2)
    return np.minimum(finger, palm)


def _support_room(plane, c: np.ndarray, R: np.ndarray, half_open: float, dims: Dict[str, float],
                  clearance: float) -> np.ndarray:
    """The deepest TCP [K, T] (along the approach from the contacts' centres ``c`` [K, 3], rotations ``R``
    [K, T, 3, 3]) with the fingertips ``clearance`` above the support ``plane`` (``inf``: an approach that
    does not go down): a part that rests on it (a tool handle, a bar lying on the table) is held as deep
    as the table allows instead of past its underside, where the pads still reach the contacts and hold
    ``MIN_GRASP_DEPTH`` of the part from its top (:mod:`point2act.grasp.part`; else the plane test rejects
    the grasp). The fingers are taken at the widest opening (their lowest point, for any opening up to
    ``2 half_open``)."""
    K, T = R.shape[:2]
    nz = np.einsum("i,kti->kt", plane[:3], R[..., 2])  # the approach's component along the plane's normal
    s0 = _plane_min(plane, np.broadcast_to(c[:, None, :], (K, T, 3)), R, np.full((K, T), half_open), dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nz < -1e-12, (s0 - clearance) / -nz, np.inf)


class _Laps:
    """Stage timings in ms into ``timings``: ``lap(name)`` records the time since the previous lap,
    ``total()`` the time since the clock started (and returns ``timings``)."""

    def __init__(self, timings: Dict[str, float]):
        self.timings = timings
        self.start = self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.timings[name] = (t - self.last) * 1e3
        self.last = t

    def total(self) -> Dict[str, float]:
        self.timings["total"] = (time.perf_counter() - self.start) * 1e3
        return self.timings


class _Surface(NamedTuple):
    """What the gripper can hold, off the table (:func:`_surface`)."""

    P: np.ndarray  # [S, 3] surface points off the support plane
    N: np.ndarray  # [S, 3] their normals
    S: np.ndarray  # [S] their relevancy
    plane: np.ndarray | None  # [4] the support plane (unit normal, offset), or None
    opaque: np.ndarray  # [N] bool: the Gaussians that count (finite, opaque enough)


class _Clouds(NamedTuple):
    """What the gripper must not enter and what it can hold (:func:`_collision_clouds`)."""

    F: np.ndarray  # [M, 3] what the fingers must not enter (fine)
    coarse: np.ndarray  # [Mc, 3] the centres of the coarse cells holding anything the gripper must not enter
    Q: np.ndarray  # [Mq, 3] what the gripper can hold: occupied cells, surface points outside the grid
    QB: np.ndarray  # [Mb, 3] Q, then the unknown cells next to free space: the part's extent is measured on them
    q_occ: np.ndarray  # [Mb] bool: the entries of QB that are Q
    cell: float  # the cell size of QB (the grid's voxel, else the surface voxel)
    pad_x: float  # how far a part reaches past the outermost centre of QB
    mg: float  # collision margin against F
    mgc: float  # collision margin against coarse


class _Pairs(NamedTuple):
    """The contact pairs and their grasp frames, centred on the part (:func:`_pair_frames`)."""

    pa: np.ndarray  # [K, 3] first contacts
    pb: np.ndarray  # [K, 3] second contacts
    q: np.ndarray  # [K] antipodal quality
    width: np.ndarray  # [K] contact distance
    c: np.ndarray  # [K, 3] the part's centre on the closing line
    x: np.ndarray  # [K, 3] closing axes (pa towards pb)
    u: np.ndarray  # [K, 3]
    v: np.ndarray  # [K, 3]
    theta: np.ndarray  # [T] approach angles about x
    R: np.ndarray  # [K, T, 3, 3] gripper rotations
    sp: np.ndarray  # [K] pb's offset from c along x
    sn: np.ndarray  # [K] pa's offset from c along -x
    h: np.ndarray  # [K] the half-opening the part asks for
    fits: np.ndarray  # [K] bool: the part fits between the fingers with the margin
    support: np.ndarray  # [K] bool: a closing line parallel to the support plane (:func:`_support_pairs`)


class _Part(NamedTuple):
    """What each candidate (pair k, approach t) holds (:func:`_grasp_parts`)."""

    depth: np.ndarray  # [K, T] TCP depth past the pair's centre the part asks for
    off: np.ndarray  # [K, T] the grasp centre's offset along x
    hkt: np.ndarray  # [K, T] half-opening (pads' inner faces)
    n_close: np.ndarray  # [K, T] int: cells (points) between the pads
    share: np.ndarray  # [K, T] the target's share of them
    holds: np.ndarray  # [K, T] bool: at least MIN_CLOSING_POINTS between the pads
    on: np.ndarray  # [K, T] bool: on target (share at least ON_TARGET_SHARE)
    avoid_score: np.ndarray | None  # [K, T] the avoid channel's score, without one None


class _Clear(NamedTuple):
    """The collision-free poses and what their pads hold (:func:`_collision`)."""

    free: np.ndarray  # [K, T] bool: clears the scene at depth
    depth: np.ndarray  # [K, T] TCP depth, backed off where the part's depth collides
    tcp: np.ndarray  # [K, T, 3] TCP positions
    touch: np.ndarray  # [K, T] bool: the pads touch both contacts
    geo: np.ndarray  # [K, T] antipodal quality where the pads hold
    clear_d: np.ndarray  # [K, T] distance from the fingers to the nearest point (free poses)


def _surface(
    means: np.ndarray,  # [N, 3]
    opac: np.ndarray,  # [N]
    rel: np.ndarray,  # [N]
    region: Region,
    cfg: GraspConfig,
    counts: Dict[str, int],
    scales: np.ndarray | None,  # [N, 3]
    extra_points: np.ndarray | None,  # [E, 3]
    camera_centers: np.ndarray | None,  # [C, 3]
    fused_center: np.ndarray | None,  # [3]
    fused_radius: float,
    plane_points: np.ndarray | None,  # [V, 3]
) -> _Surface:
    """The scene's surface points and normals (:func:`~point2act.grasp.surface.scene_points`), sorted so that
    the seeds drawn from them do not depend on the order a hash map gives them in; the support plane, fitted to
    ``plane_points`` within the gripper's reach of the action point where given (the palm's far corner at the
    pre-grasp pose: pixels sample the table around the target densely, the Gaussian centres and a fused surface
    near the target may not reach it), else to the surface points; each point's relevancy from the opaque
    Gaussians around it; and the points more than ``PLANE_DISTANCE`` above the plane: what can be held."""
    g, U = cfg.gripper, cfg.gripper.units
    pts, nrm = scene_points(means, opac, scales, extra_points, cfg, camera_centers, fused_center, fused_radius)
    order = np.lexsort(pts.T[::-1]) if len(pts) else np.zeros(0, np.int64)
    pts, nrm = pts[order], nrm[order]
    counts["surface_points"] = len(pts)
    fit_on = pts
    if plane_points is not None:
        reach = U(g.reach)
        pp = np.asarray(plane_points, dtype=np.float64).reshape(-1, 3)
        fit_on = pp[np.linalg.norm(pp - region.action_point, axis=1) <= reach]
    plane = fit_support_plane(fit_on, cfg, up_hint=region.action_point, seed=cfg.seed,
                              region_points=means[region.indices], camera_centers=camera_centers)
    ok = np.isfinite(means).all(1) & np.isfinite(opac) & np.isfinite(rel) & (opac >= REGION_MIN_OPACITY)
    srel_all = surface_relevancy(
        pts, means[ok], opac[ok], np.clip(rel[ok], 0, 1), RELEVANCY_NEIGHBOURS,
        3 * U(VOXEL_SIZE),
    )
    if plane is not None:
        above = pts @ plane[:3] + plane[3] > U(PLANE_DISTANCE)
        P, N, S = pts[above], nrm[above], srel_all[above]
    else:
        P, N, S = pts, nrm, srel_all
    counts["object_points"] = len(P)
    return _Surface(P, N, S, plane, ok)


def _avoid_channel(
    avoid: np.ndarray | None,  # [N]
    means: np.ndarray,  # [N, 3]
    opac: np.ndarray,  # [N]
    cfg: GraspConfig,
) -> Tuple[np.ndarray | None, Region | None]:  # [N] avoid relevancy, its region
    """The avoid channel's relevancy ``avoid`` [N] in [0, 1] (e.g. a blade, a hot rim) as float64, and its
    region (``None`` where no relevancy passes the region threshold), whose action point a handover turns
    away from the recipient (:func:`_grasps_of`); ``(None, None)`` without a channel. Raises ``ValueError``
    when it does not give one value per Gaussian."""
    if avoid is None:
        return None, None
    av = np.asarray(avoid, dtype=np.float64).reshape(-1)
    if av.shape[0] != means.shape[0]:
        raise ValueError(f"avoid has {av.shape[0]} values for {means.shape[0]} Gaussians")
    try:
        avoid_region = relevant_region(means, opac, np.clip(np.nan_to_num(av), 0, 1), cfg)
    except ValueError:
        avoid_region = None
    return av, avoid_region


def _next_to_free(blocked: np.ndarray) -> np.ndarray:  # [X, Y, Z] bool -> [X, Y, Z] bool
    """The cells with a free face neighbour or on the grid's border: a box that comes from free space into
    ``blocked`` cells crosses those first, so they are enough for the fine checks."""
    pad = np.pad(~blocked, 1, constant_values=False)
    nx, ny, nz = blocked.shape
    touches = np.zeros_like(blocked)
    for dx, dy, dz in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
        touches |= pad[1 + dx : 1 + dx + nx, 1 + dy : 1 + dy + ny, 1 + dz : 1 + dz + nz]
    touches[[0, -1], :, :] = touches[:, [0, -1], :] = touches[:, :, [0, -1]] = True
    return touches


def _collision_clouds(
    P: np.ndarray,  # [S, 3] surface points off the support plane
    plane: np.ndarray | None,  # [4]
    occupancy: OccupancyGrid | None,
    cfg: GraspConfig,
    counts: Dict[str, int],
) -> _Clouds:
    """What the gripper must not enter and what it can hold. With ``occupancy``: inside the grid the occupied
    and the unknown cells (unknown is not free: :mod:`point2act.grasp.occupancy`) above the plane's band (the
    plane test covers the table and what lies under it), outside it the surface points; without, the surface
    points. The part's extent across the closing axis is measured over everything the fingers must not enter:
    an unknown cell just beside the occupied ones (a thin bar's shadow) would otherwise sit inside a finger. A
    cell's centre stands for its whole cube, so the margin grows by half a cell. The coarse cloud (the centres
    of the ``COLLISION_VOXEL_SIZE`` cells holding anything the gripper must not enter) is checked with boxes
    grown by half such a cell's diagonal (conservative)."""
    U = cfg.gripper.units
    if occupancy is not None:
        cell = float(occupancy.voxel)
        blocked = occupancy.state != FREE
        occupied = occupancy.state == OCCUPIED
        Pout = P[~occupancy.contains(P)]
        touches = _next_to_free(blocked)
        cb, cs, co = occupancy.centers(blocked), occupancy.centers(blocked & touches), occupancy.centers(occupied)
        if plane is not None:
            band = max(U(PLANE_DISTANCE), cell)
            cb, cs, co = (a_[a_ @ plane[:3] + plane[3] > band] for a_ in (cb, cs, co))
        F = np.concatenate([cs, Pout])
        F_all = np.concatenate([cb, Pout])
        Q = np.concatenate([co, Pout])
        cu = occupancy.centers(blocked & touches & ~occupied)
        if plane is not None:
            cu = cu[cu @ plane[:3] + plane[3] > band]
        QB, q_occ = np.concatenate([Q, cu]), np.r_[np.ones(len(Q), bool), np.zeros(len(cu), bool)]
        pad_x = 0.5 * cell  # the extent is measured on cell centres; a cell reaches half a cell past its centre
        counts.update(occupied_cells=len(co), blocked_cells=len(cb), points_outside_grid=len(Pout))
    else:
        cell = U(VOXEL_SIZE)
        F = F_all = Q = QB = P
        q_occ = np.ones(len(P), bool)
        pad_x = 0.0
    sc_ = U(COLLISION_VOXEL_SIZE)
    coarse = (_unique_rows(np.floor(F_all / sc_).astype(np.int64)) + 0.5) * sc_ if len(F_all) else F_all
    return _with_margin(_Clouds(F, coarse, Q, QB, q_occ, cell, pad_x, 0.0, 0.0), cfg)


def _with_margin(clouds: _Clouds, cfg: GraspConfig) -> _Clouds:
    """``clouds`` with the margins of ``cfg.collision_margin``: against the fine cloud the margin and half a cell
    (``pad_x``: a cell's centre stands for its whole cube), against the coarse cells half such a cell's diagonal
    more. The rest of the clouds does not depend on the margin: passes that differ only in it share them."""
    mg = cfg.gripper.units(cfg.collision_margin) + clouds.pad_x
    return clouds._replace(mg=mg, mgc=mg + 0.5 * math.sqrt(3.0) * cfg.gripper.units(COLLISION_VOXEL_SIZE))


def _support_pairs(
    seeds: np.ndarray,  # [S, 3]
    plane: np.ndarray,  # [4]
    half: float,
) -> Tuple[np.ndarray, np.ndarray]:  # [S * SUPPORT_AXES, 3] pa, pb
    """Closing lines parallel to the support ``plane`` through each seed, ``SUPPORT_AXES`` of them evenly
    spaced: contacts ``half`` either side of the seed, which :func:`_pair_frames` moves to the part's ends."""
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


def _candidate_pairs(
    surf: _Surface,
    means: np.ndarray,  # [N, 3]
    region: Region,
    cell: float,
    cfg: GraspConfig,
    counts: Dict[str, int],
    target: np.ndarray | None = None,  # [T, 3] the target's surface points
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # [K, 3] pa, [K, 3] pb, [K] quality, [K] support
    """Contact pairs at the region: seeds drawn (weighted by relevancy, at most ``num_candidates``) from the
    surface points within ``seed_radius`` of the region's Gaussians or of the ``target`` surface; their
    antipodal pairs (:func:`sample_contact_pairs`) and, on a support plane, their closing lines parallel to
    it (:func:`_support_pairs`, quality 0 until :func:`_pads` measures it where the pads hold; ``support``
    marks them). Each kind keeps one pair per (centre, closing axis) bin, since neighbouring seeds on a face
    give the same grasp, and its best ``num_candidates``."""
    from scipy.spatial import cKDTree

    P, U = surf.P, cfg.gripper.units
    anchors = means[region.indices] if target is None else np.concatenate([means[region.indices], target])
    dseed, _ = cKDTree(anchors).query(P, distance_upper_bound=U(cfg.seed_radius), workers=-1)
    pool = np.flatnonzero(np.isfinite(dseed))
    rng = np.random.default_rng(cfg.seed)
    if len(pool) > cfg.num_candidates:
        w = surf.S[pool] + 0.05 * max(region.max_relevancy, 1e-6)
        seeds = np.sort(rng.choice(pool, size=cfg.num_candidates, replace=False, p=w / w.sum()))
    else:
        seeds = pool
    counts["seeds"] = len(seeds)
    size = max(cell, U(PAIR_BIN))
    a, b, q = sample_contact_pairs(P, surf.N, seeds, cfg)
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
        sa, sb = _support_pairs(P[low], surf.plane, 0.5 * U(MIN_WIDTH))
        keep = _one_per_bin(sa, sb, np.zeros(len(sa)), size, cfg.num_candidates)
        pa, pb = np.concatenate([pa, sa[keep]]), np.concatenate([pb, sb[keep]])
        q = np.r_[q, np.zeros(len(keep))]
    support = np.arange(len(pa)) >= counts["contact_pairs"]
    counts["support_pairs"] = int(support.sum())
    counts["candidates"] = len(pa) * NUM_APPROACH_DIRS
    return pa, pb, q, support


def _pair_frames(
    pa: np.ndarray,  # [K, 3]
    pb: np.ndarray,  # [K, 3]
    q: np.ndarray,  # [K]
    support: np.ndarray,  # [K] bool
    clouds: _Clouds,
    dims: Dict[str, float],
    cfg: GraspConfig,
    counts: Dict[str, int],
) -> _Pairs:
    """Each pair's closing axis ``x`` (from ``pa`` to ``pb``), the ``NUM_APPROACH_DIRS`` gripper rotations
    about it, and the part across the closing line: what lies, connected, within ``PART_GAP`` along it
    (:func:`~point2act.grasp.part.closing_extent`) gives the centre the grasp is centred on and the
    half-opening, the part's half-extent plus ``CLEARANCE`` (the cells' half size on a grid); a part wider
    than the opening less the margin does not fit. A ``support`` pair's contacts become the part's two ends
    on its line (:func:`_support_pairs` placed them at its seed)."""
    U, T = cfg.gripper.units, NUM_APPROACH_DIRS
    c = 0.5 * (pa + pb)
    width = np.linalg.norm(pb - pa, axis=1)
    x = (pb - pa) / width[:, None]
    u, v = orthonormal_basis(x)
    theta = 2 * np.pi * np.arange(T) / T
    R = grasp_rotations(x, u, v, theta)
    fw, half_open, mg = dims["finger_width"], 0.5 * dims["max_opening"], clouds.mg
    gap = max(1.5 * clouds.cell, U(PART_GAP))
    w2 = 0.5 * width
    ext_p, ext_n = closing_extent(c, x, u, v, clouds.QB, w2, fw / 2, half_open, gap,
                                  math.hypot(half_open, fw / 2) + mg)
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
    return _Pairs(pa, pb, q, width, c, x, u, v, theta, R, sp, sn, h, fits, support)


def _part_params(clouds: _Clouds, dims: Dict[str, float], cfg: GraspConfig, with_avoid: bool) -> Dict[str, float]:
    """The scalars of :mod:`point2act.grasp.part` (``p``): the pads' window, the part's gap, the depths and the
    margins. With an avoid channel the window reaches the fingers' outer faces (their path)."""
    U = cfg.gripper.units
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    half_open, mg = 0.5 * dims["max_opening"], clouds.mg
    reach = half_open + (t if with_avoid else 0.0)
    return {"half_y": fw / 2, "L": L, "reach": reach, "radius": math.sqrt(reach**2 + (fw / 2) ** 2 + L**2) + mg,
            "gap": max(1.5 * clouds.cell, U(PART_GAP)), "tip": U(TIP_MARGIN),
            "min_depth": U(MIN_GRASP_DEPTH), "max_depth": U(MAX_GRASP_DEPTH),
            "long_depth": U(LONG_PART_DEPTH), "pad_x": clouds.pad_x, "clr": U(CLEARANCE),
            "half_open": half_open, "mg": mg}


def _target_labels(
    clouds: _Clouds,
    means: np.ndarray,  # [N, 3]
    opac: np.ndarray,  # [N]
    opaque: np.ndarray,  # [N] bool
    region: Region,
    cfg: GraspConfig,
    target_surface: Tuple[np.ndarray, np.ndarray] | None = None,  # fused points [F, 3], target [F] bool
) -> np.ndarray:  # [Mb] bool: the entries of clouds.QB that are the target's
    """Which of what the gripper can hold is the target. With ``target_surface`` (the fused surface and which
    of its points are the target, :func:`~point2act.grasp.target.surface_region`): the points whose nearest
    fused point within ``TARGET_RADIUS`` is a target point; a cell of a mug's body next to its handle's root is
    nearer the body's surface. Without: where the opaque Gaussians around a point (the 8 nearest within
    ``TARGET_RADIUS``, weighted by opacity) are mostly the region's; a stray floater does not relabel a
    surface. The unknown cells of ``QB`` are never the target's."""
    from scipy.spatial import cKDTree

    Q = clouds.Q
    r_t = cfg.gripper.units(TARGET_RADIUS) + 0.5 * clouds.cell
    q_rel = np.zeros(len(clouds.QB), bool)
    if target_surface is not None and len(Q):
        fp, ft = target_surface
        d, i = cKDTree(fp).query(Q, distance_upper_bound=r_t, workers=-1)
        hit = np.isfinite(d)
        q_rel[: len(Q)][hit] = ft[i[hit]]
        return q_rel
    idx = np.flatnonzero(opaque)
    if len(Q) and len(idx):
        in_region = np.zeros(len(means), bool)
        in_region[region.indices] = True
        kn = min(8, len(idx))
        dq, iq = cKDTree(means[idx]).query(Q, k=kn, distance_upper_bound=r_t, workers=-1)
        dq, iq = dq.reshape(len(Q), kn), iq.reshape(len(Q), kn)
        hit = np.isfinite(dq)
        j = idx[np.where(hit, iq, 0)]
        wgt = np.where(hit, opac[j], 0.0)
        q_rel[: len(Q)] = (wgt * in_region[j]).sum(1) > 0.5 * wgt.sum(1)
    return q_rel


def _grasp_parts(
    pairs: _Pairs,
    clouds: _Clouds,
    q_rel: np.ndarray,  # [Mb] bool
    plane: np.ndarray | None,  # [4]
    region: Region,
    pp: Dict[str, float],
    dims: Dict[str, float],
    cfg: GraspConfig,
    avoid_of: Tuple[np.ndarray, np.ndarray, np.ndarray] | None,  # avoid [N], means [N, 3], opac [N]
) -> _Part:
    """What each candidate holds (:mod:`point2act.grasp.part`): the part's far side along the approach gives
    the depth (the fingertips just past it; a part that goes on beyond the fingers' reach, a wall under a rim
    or a rod along the approach, is held at the action point, within ``LONG_PART_DEPTH`` of the contacts; no
    deeper than the support plane allows, :func:`_support_room`), its extent across the closing axis where the
    pads will be gives the opening, centred on it; then what lies between the pads and the target's share of
    it. With an avoid channel the same scan takes its largest relevancy in the closing region and the fingers'
    path (:func:`_avoid_scores`)."""
    U, fits, Q = cfg.gripper.units, pairs.fits, clouds.Q
    K, T = len(pairs.c), len(pairs.theta)
    depth = np.full((K, T), U(MIN_GRASP_DEPTH))
    n_close = np.zeros((K, T), np.int64)
    share = np.zeros((K, T))
    off = np.zeros((K, T))
    hkt = np.repeat(pairs.h[:, None], T, 1)
    avoid_score = np.zeros((K, T)) if avoid_of is not None else None
    if fits.any() and len(Q):
        c, x, u, v = pairs.c, pairs.x, pairs.u, pairs.v
        room = _support_room(plane, c, pairs.R, 0.5 * dims["max_opening"], dims, U(cfg.table_clearance)) \
            if plane is not None else np.full((K, T), np.inf)
        args = (c, x, u, v, fits, clouds.QB, clouds.q_occ, q_rel, pairs.h, pairs.sp, pairs.sn, room, T, pp)
        hold = hold_depth(c, u, v, region.action_point, T)
        A = _avoid_relevancy(*avoid_of, clouds, cfg) if avoid_of is not None else None
        part = grasp_part(*args, hold=hold, w=A, extra=dims["finger_thickness"])
        depth, off, hkt, n_close, n_rel = (part[k] for k in ("depth", "off", "hkt", "n_close", "n_rel"))
        share = np.where(n_close > 0, n_rel / np.maximum(n_close, 1), 0.0)
        if A is not None:
            avoid_score = _avoid_scores(part["w_max"], A)
    return _Part(depth, off, hkt, n_close, share, n_close >= MIN_CLOSING_POINTS,
                 share >= ON_TARGET_SHARE, avoid_score)


def _avoid_relevancy(
    av: np.ndarray,  # [N]
    means: np.ndarray,  # [N, 3]
    opac: np.ndarray,  # [N]
    clouds: _Clouds,
    cfg: GraspConfig,
) -> np.ndarray:  # [Mb]
    """The avoid channel's surface relevancy ``A`` on ``clouds.QB`` (taken as for the target's, from the finite
    Gaussians at least ``REGION_MIN_OPACITY`` opaque): the weights whose maxima :func:`_avoid_scores` takes."""
    U = cfg.gripper.units
    okA = np.isfinite(av) & np.isfinite(means).all(1) & np.isfinite(opac) & (opac >= REGION_MIN_OPACITY)
    return surface_relevancy(clouds.QB, means[okA], opac[okA], np.clip(av[okA], 0, 1), RELEVANCY_NEIGHBOURS,
                             3 * U(VOXEL_SIZE) + clouds.cell)


def _avoid_scores(
    w_max: np.ndarray,  # [K, T] grasp_part's largest A
    A: np.ndarray,  # [Mb] the weights it took the maxima of (:func:`_avoid_relevancy`)
) -> np.ndarray:  # [K, T] in [0, 1]
    """Each candidate's avoid score, in [0, 1] (grasps.json's ``avoid_score``): the largest avoid relevancy
    ``A`` among the entries of ``QB`` in the closing region and the fingers' path (``|x - off| <= hkt +
    finger_thickness``: the finger boxes widened to the whole gap between them, what the fingers sweep through on
    approach), normalised by ``A``'s maximum, so that grasps through the avoid region rank low (:func:`_score`).
    The maximum is :func:`~point2act.grasp.part.grasp_part`'s ``w_max`` with ``w = A`` and ``extra =
    finger_thickness``, taken in the same scan of ``QB`` that gives the depth and the opening."""
    return w_max / max(float(A.max()) if len(A) else 0.0, 1e-12)


def _finger_band(
    base: np.ndarray,  # [K, T] bool: the candidates that may be tried
    off: np.ndarray,  # [K, T]
    hkt: np.ndarray,  # [K, T]
    dims: Dict[str, float],
    mg: float,
    cm: float,
    near: float,
) -> Tuple[float, np.ndarray, np.ndarray] | None:  # radius, lo [K] float32, hi [K] float32
    """The fingers' search band per pair (``|x|`` from ``lo`` to ``hi``) over every approach that may be tried,
    at any depth, and the radius that holds the fingers and the first ``near`` of their approach, both grown by
    the margins; ``None`` where no candidate is tried."""
    if not base.any():
        return None
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    lo_k = np.where(base, hkt - np.abs(off), np.inf).min(1)
    hi_k = np.where(base, hkt + np.abs(off), 0.0).max(1)
    rf = math.sqrt((float(hi_k.max()) + t + mg + cm) ** 2 + (fw / 2 + mg + cm) ** 2 + (L + near + mg + cm) ** 2)
    return rf, (lo_k - mg - cm).astype(np.float32), (hi_k + t + mg + cm).astype(np.float32)


def _clear_poses(
    pairs: _Pairs,
    clouds: _Clouds,
    part: _Part,
    base: np.ndarray,  # [K, T] bool: the candidates to check
    band: Tuple[float, np.ndarray, np.ndarray] | None,  # :func:`_finger_band` over every candidate that may be tried
    plane: np.ndarray | None,  # [4]
    dims: Dict[str, float],
    cfg: GraspConfig,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, Dict[str, np.ndarray]]:  # free, depth [K, T]; tcp [K, T, 3]
    """Which candidates clear the scene, and at what depth. Checked are both poses against the support plane
    (``table_clearance``), the fingers and the palm at the grasp pose and on the first ``SWEEP_FINE_LENGTH`` of
    the approach against the fine cloud (the fingers' points found within ``band``), and the rest of the
    straight approach from the pre-grasp pose against the coarse one. An on-target pose that collides at the
    depth its part asks for (the body behind a mug handle's loop, a rim above the handle) backs off along the
    approach, one ``TIP_MARGIN`` at a time, while the contacts stay ``MIN_GRASP_DEPTH`` inside the pads: the pads
    still close on what the contacts touch. Only what closes on the target backs off (the rest would cost more
    rounds of checks where nothing is on target). Each candidate's answer is its own: the kernel counts its hits
    alone, and ``band`` (fixed by the caller) decides which points it meets.
    Also returns, per check (``table_free``, ``fingers_free``), the candidates that passed it at some depth."""
    U, pre = cfg.gripper.units, cfg.gripper.units(cfg.gripper.pregrasp_distance)
    c, x, u, v, theta, R = pairs.c, pairs.x, pairs.u, pairs.v, pairs.theta, pairs.R
    F, coarse, mg, mgc = clouds.F, clouds.coarse, clouds.mg, clouds.mgc
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    Dp, pw, pt = dims["palm_depth"], dims["palm_width"], dims["palm_thickness"]
    off, hkt, depth, half_open = part.off, part.hkt, part.depth, 0.5 * dims["max_opening"]
    z_ax = R[..., 2]  # [K, T, 3]
    ctr = c[:, None, :] + off[..., None] * x[:, None, :]  # [K, T, 3] the grasp's centre on the closing line
    near = min(pre, U(SWEEP_FINE_LENGTH))
    boxes_fine = [box((0.0, 1.0, t, 1.0), fw / 2, (-L - near, 0.0), mg, L2)]  # the fingers
    step, min_d, clear = U(TIP_MARGIN), U(MIN_GRASP_DEPTH), U(cfg.table_clearance)
    hx = pw / 2 + half_open + mg
    rpn = math.sqrt(hx**2 + (pt / 2 + mg) ** 2 + (L + Dp + near + mg + U(MAX_GRASP_DEPTH)) ** 2)
    palm = [box((0.0, 0.0, pw / 2, 0.0), pt / 2, (-L - Dp - near, -L), mg, LINF)]
    rp = math.sqrt((pw / 2 + mgc) ** 2 + (pt / 2 + mgc) ** 2 + (L + Dp + pre + mgc + U(MAX_GRASP_DEPTH)) ** 2)
    swept = [box((0.0, 0.0, pw / 2, 0.0), pt / 2, (-L - Dp - pre, -L - near), mgc, LINF),
             box((0.0, 1.0, t, 1.0), fw / 2, (-L - pre, -L - near), mgc, LINF)]
    stage = {k_: np.zeros_like(base) for k_ in ("table_free", "fingers_free")}
    free = np.zeros_like(base)
    pending = base.copy()

    def check(ok, cloud, radius, lo, hi, boxes):
        alive = np.flatnonzero(ok.any(1))
        if len(alive) and len(cloud):
            hits, _ = gripper_cloud_hits(c[alive], x[alive], u[alive], v[alive], cloud, radius,
                                         lo if np.isscalar(lo) else lo[alive], hi if np.isscalar(hi) else hi[alive],
                                         theta, ok[alive], off[alive], hkt[alive], depth[alive], boxes,
                                         cfg.collision_min_points)
            ok[alive] &= hits < cfg.collision_min_points

    while pending.any():
        tcp = ctr + depth[..., None] * z_ax
        ok = pending.copy()
        if plane is not None:
            ok &= _plane_min(plane, tcp, R, hkt, dims) >= clear
            if pre > 0:
                ok &= _plane_min(plane, tcp - pre * z_ax, R, hkt, dims) >= clear
        stage["table_free"] |= ok
        if band is not None and len(F):
            rf, lo_all, hi_all = band
            check(ok, F, rf, lo_all, hi_all, boxes_fine)
            check(ok, F, rpn, 0.0, hx, palm)
        stage["fingers_free"] |= ok
        check(ok, coarse, rp, 0.0, pw / 2 + mgc + half_open, swept)
        free |= ok
        pending &= ~ok & (depth > min_d + 1e-12) & part.on
        depth = np.where(pending, np.maximum(depth - step, min_d), depth)
    return free, depth, ctr + depth[..., None] * z_ax, stage


def _pads(
    surf: _Surface,
    clouds: _Clouds,
    pairs: _Pairs,
    part: _Part,
    free: np.ndarray,  # [K, T] bool
    depth: np.ndarray,  # [K, T]
    pp: Dict[str, float],
    cfg: GraspConfig,
    counts: Dict[str, int],
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:  # touch [K, T] bool, geo [K, T], slip [K, T] bool
    """Where the free poses' pads close: whether they touch both contacts
    (:func:`~point2act.grasp.part.pads_touch_contacts`; a grasp held where the target was pointed at may have
    left one contact beyond its fingertips, its opening then reaching to an empty contact and the part off
    centre between the fingers: such grasps rank after those that touch both), and the antipodal quality where
    the pads meet the surface (:func:`~point2act.grasp.part.pad_quality`), which is where they hold: the pair's
    contacts may lie inside the part's extent (the inner faces of a loop) or off its end. Elsewhere the pads
    count as touching and the quality is the pair's. A support pair (:func:`_support_pairs`) whose pads both
    meet side faces the views saw, outside the friction cone, slips (``slip``); where a pad meets only the
    edge of a top face, the side below it was not seen and its quality stays the pair's, 0."""
    K, T = free.shape
    c, x, u, v = pairs.c, pairs.x, pairs.u, pairs.v
    touch = np.ones((K, T), bool)
    slip = np.zeros((K, T), bool)
    geo = np.repeat(pairs.q[:, None], T, 1)
    if free.any():
        kf, tf = np.nonzero(free)
        tk = pads_touch_contacts(c, x, u, v, clouds.QB, pairs.sp, pairs.sn, depth, kf, tf, T, pp)
        touch[kf, tf] = tk
        counts["pads_miss_a_contact"] = int((~tk).sum())
        up = None if surf.plane is None else surf.plane[:3]
        qp, fnd = pad_quality(c, x, u, v, surf.P, surf.N, part.off, part.hkt, depth, kf, tf, T, pp,
                              cfg.gripper.units(VOXEL_SIZE), cfg.friction_coef, up, pairs.support)
        geo[kf, tf] = np.where(fnd, qp, geo[kf, tf])
        counts["pads_meet_no_surface"] = int((~fnd).sum())
        slips = pairs.support[kf] & fnd & (qp <= 0.0)
        slip[kf[slips], tf[slips]] = True
        counts["support_slips"] = int(slips.sum())
    return touch, geo, slip


def _clearance(
    pairs: _Pairs,
    clouds: _Clouds,
    part: _Part,
    free: np.ndarray,  # [K, T] bool
    depth: np.ndarray,  # [K, T]
    band: Tuple[float, np.ndarray, np.ndarray] | None,  # :func:`_finger_band`
    dims: Dict[str, float],
) -> np.ndarray:  # [K, T]
    """The free poses' clearance at the grasp pose: the distance from the fingers to the nearest point of the
    fine cloud (``inf`` for the rest), which the clearance score rewards (:func:`_score`)."""
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    c, x, u, v = pairs.c, pairs.x, pairs.u, pairs.v
    clear_d = np.full(free.shape, np.inf)
    alive = np.flatnonzero(free.any(1))
    if len(alive) and len(clouds.F):
        rf, lo_a, hi_a = band
        _, cd = gripper_cloud_hits(c[alive], x[alive], u[alive], v[alive], clouds.F, rf, lo_a[alive], hi_a[alive],
                                   pairs.theta, free[alive], part.off[alive], part.hkt[alive], depth[alive],
                                   [box((0.0, 1.0, t, 1.0), fw / 2, (-L, 0.0), role=DISTANCE)], 1)
        clear_d[alive] = np.minimum(clear_d[alive], cd)
    return clear_d


def _collision(
    surf: _Surface,
    clouds: _Clouds,
    pairs: _Pairs,
    part: _Part,
    pp: Dict[str, float],
    dims: Dict[str, float],
    cfg: GraspConfig,
    counts: Dict[str, int],
    on_target_only: bool = False,
) -> _Clear:
    """The candidates that clear the scene (:func:`_clear_poses`) among those whose part fits and that close on
    something, where their pads close (:func:`_pads`) and their clearance (:func:`_clearance`). The gripper is
    checked against the clouds of :func:`_collision_clouds`: with an occupancy grid its occupied and unknown
    cells, outside it the surface points; without, the surface points.

    With ``on_target_only`` only the candidates that close on the target are checked, the others are left not
    free: for a caller that keeps only the on-target grasps (the tight pass of :func:`plan_grasps`). The rank of
    :func:`_kept` puts every on-target pose above every other (a score in [0, 1] plus 8), and its non-maximum
    suppression walks in rank order, so the others never suppress nor displace an on-target grasp. The fingers'
    search band still spans every candidate whose part fits and holds, so each checked candidate meets the same
    points, hits and clearance as without; the pads' window (:func:`_pads`) is scanned in float32 about the
    centres of the pairs with a free pose, fewer here, which moves its rounding only. The counts then tell of
    the on-target candidates only."""
    U = cfg.gripper.units
    base = part.holds & pairs.fits[:, None]
    near = min(U(cfg.gripper.pregrasp_distance), U(SWEEP_FINE_LENGTH))
    band = _finger_band(base, part.off, part.hkt, dims, clouds.mg, U(CLEARANCE_MARGIN), near)
    checked = base & part.on if on_target_only else base
    free, depth, tcp, stage = _clear_poses(pairs, clouds, part, checked, band, surf.plane, dims, cfg)
    touch, geo, slip = _pads(surf, clouds, pairs, part, free, depth, pp, cfg, counts)
    free = free & ~slip
    counts.update({k_: int(v_.sum()) for k_, v_ in stage.items()})
    counts["backed_off"] = int((free & (depth < part.depth - 1e-12)).sum())
    counts["collision_free"] = int(free.sum())
    clear_d = _clearance(pairs, clouds, part, free, depth, band, dims)
    counts["on_target_candidates"] = int((part.on & part.holds).sum())
    counts["on_target_free"] = int((part.on & free).sum())
    return _Clear(free, depth, tcp, touch, geo, clear_d)


def _score(part: _Part, clear: _Clear, clouds: _Clouds, avoid_weight: float, cfg: GraspConfig
           ) -> Tuple[np.ndarray, np.ndarray]:  # score [K, T], clearance score [K, T]
    """Each candidate's score: the weighted mean of the target's share between the pads, the antipodal quality
    where they hold and the clearance beyond the collision margin (full at ``CLEARANCE_MARGIN``); times ``1 -
    min(1, avoid_weight * avoid score)`` with an avoid channel, so grasps through the avoid region rank low;
    times the share of the depth the part asked for that a grasp backed off along its approach reaches (only
    one that backed off: a long part held at its action point may lie nearer the palm than the contacts)."""
    cm = cfg.gripper.units(CLEARANCE_MARGIN)
    clear_score = np.clip((clear.clear_d - clouds.mg) / max(cm, 1e-12), 0.0, 1.0)
    ws, wg, wc = SEMANTIC_WEIGHT, GEOMETRIC_WEIGHT, CLEARANCE_WEIGHT
    score = (ws * part.share + wg * clear.geo + wc * clear_score) / (ws + wg + wc)
    if part.avoid_score is not None:
        score = score * (1.0 - np.minimum(1.0, max(float(avoid_weight), 0.0) * part.avoid_score))
    depth, depth_part = clear.depth, part.depth
    score = score * np.where(depth < depth_part, np.clip(depth / np.maximum(depth_part, 1e-12), 0.0, 1.0), 1.0)
    return score, clear_score


def _kept(
    pairs: _Pairs,
    clouds: _Clouds,
    part: _Part,
    clear: _Clear,
    score: np.ndarray,  # [K, T]
    dims: Dict[str, float],
    cfg: GraspConfig,
    plane: np.ndarray | None = None,  # [4] the support plane
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:  # k [G], t [G], hkt [K, T]
    """The grasps listed, best first: non-maximum suppression (:func:`nms`) over the free poses ranked with
    those that close on the target first, then those whose pads touch both contacts, then those whose contacts
    the views saw (antipodal pairs before support pairs, whose side faces are assumed), then by score; each kept
    grasp opened as wide as the free room allows (:func:`widest_free_opening`). Returns their pair and approach
    indices and the half-openings with theirs widened."""
    U, g, free = cfg.gripper.units, cfg.gripper, clear.free
    k_of, t_of = np.nonzero(free)
    seen = ~pairs.support[k_of]
    rank = score[k_of, t_of] + 8.0 * part.on[k_of, t_of] + 4.0 * clear.touch[k_of, t_of] + 2.0 * seen
    kept = nms(clear.tcp[k_of, t_of], pairs.R[k_of, t_of], rank, U(cfg.nms_distance), math.radians(NMS_ANGLE_DEG),
               cfg.top_k)
    hkt = part.hkt
    if len(kept) and len(clouds.F):
        hkt = hkt.copy()
        kk, tk_ = k_of[np.asarray(kept)], t_of[np.asarray(kept)]
        hkt[kk, tk_] = widest_free_opening(pairs.c, pairs.x, pairs.u, pairs.v, clouds.F, clouds.coarse, pairs.theta,
                                           part.off, hkt, clear.depth, kk, tk_, dims, clouds.mg, clouds.mgc,
                                           U(SWEEP_FINE_LENGTH), U(g.pregrasp_distance),
                                           U(CLEARANCE_MARGIN), cfg.collision_min_points, pairs.R,
                                           plane, U(cfg.table_clearance))
    return k_of[kept], t_of[kept], hkt


def _grasps_of(
    ks: np.ndarray,  # [G]
    ts: np.ndarray,  # [G]
    hkt: np.ndarray,  # [K, T]
    pairs: _Pairs,
    part: _Part,
    clear: _Clear,
    score: np.ndarray,  # [K, T]
    clear_score: np.ndarray,  # [K, T]
    dims: Dict[str, float],
    avoid_region: Region | None,
    handover_direction: np.ndarray | None,  # [3]
) -> List[Grasp]:
    """The :class:`Grasp` of each kept candidate ``(ks, ts)``, those with a non-finite pose or score left out.
    With an avoid channel each carries its avoid score, and with ``handover_direction`` (towards the handover
    recipient) its :func:`handover_rotation`: the smallest rotation of the grasp, about the TCP, that turns
    the direction from the TCP to the avoid region's action point into ``-handover_direction``."""
    grasps: List[Grasp] = []
    Rs = pairs.R[ks, ts]  # [G, 3, 3]
    for i, (k, tt) in enumerate(zip(ks, ts)):
        gr = Grasp(
            position=clear.tcp[k, tt].copy(),
            rotation=orthonormalize(Rs[i]),
            opening=float(min(2 * hkt[k, tt], dims["max_opening"])),
            contact_width=float(pairs.width[k]),
            score=float(score[k, tt]),
            semantic_score=float(part.share[k, tt]),
            geometric_score=float(clear.geo[k, tt]),
            contacts=np.stack([pairs.pa[k], pairs.pb[k]]),
            on_target=bool(part.on[k, tt]),
            clearance_score=float(clear_score[k, tt]),
            closing_cells=int(part.n_close[k, tt]),
            both_pads_touch=bool(clear.touch[k, tt]),
            contacts_seen=not bool(pairs.support[k]),
            backed_off=float(max(part.depth[k, tt] - clear.depth[k, tt], 0.0)),
            clears_margin=True,
        )
        if part.avoid_score is not None:
            gr.avoid_score = float(part.avoid_score[k, tt])
            if handover_direction is not None and avoid_region is not None:
                gr.handover_rotation = handover_rotation(gr.rotation, gr.position, avoid_region.action_point,
                                                         handover_direction)
        if np.isfinite(gr.position).all() and np.isfinite(gr.rotation).all() and math.isfinite(gr.score):
            grasps.append(gr)
    return grasps


NO_TARGET_SURFACE_NOTE = ("none of the fused surface around the action point is the target's (the field's rendered "
                          "relevancy marks nothing the views see there), so no grasp is labelled on target")
"""The warning's first words where the fused surface holds no target point (:func:`_plan_once`)."""


def _warning(grasps: List[Grasp], part: _Part, clear: _Clear, counts: Dict[str, int], cfg: GraspConfig) -> str | None:
    """Why the result is short of an on-target grasp listed first: none survived scoring, or the first closes
    mostly on another part (with the best target share among the free poses and :func:`_why_none`)."""
    if not grasps:
        return "no grasp survived scoring"
    if grasps[0].on_target:
        return None
    best = float(part.share[clear.free].max())
    return (f"no grasp closes on the relevant region: every grasp listed closes mostly on other parts "
            f"(on_target false; the best holds {best:.0%} target, {ON_TARGET_SHARE:.0%} needed); "
            + _why_none(counts, counts["candidates"], on_target=True))


def _stage_key(cfg: GraspConfig) -> str:
    """What the surface and the contact pairs depend on in ``cfg``: all of it but the collision margin, the seed
    ball and the candidate count (the pairs' own key adds those two)."""
    return repr(dataclasses.replace(cfg, collision_margin=0.0, seed_radius=0.0, num_candidates=1))


def _reused(reuse: Dict[str, Any] | None, key: tuple, counts: Dict[str, int], make: Callable):
    """``make(counts)`` once per ``key`` in ``reuse``: a later pass over the same inputs (the tight retry of
    :func:`plan_grasps`, the wider plan of ``point2act export``) takes the stage's result and the counts it
    wrote instead of computing them again. The stages are deterministic and nothing downstream writes into
    their arrays, so the plan is the same either way (``tests/grasp/test_on_target.py``)."""
    if reuse is None:
        return make(counts)
    if key not in reuse:
        mine: Dict[str, int] = {}
        reuse[key] = (make(mine), mine)
    value, wrote = reuse[key]
    counts.update(wrote)
    return value


def _plan_once(
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    cfg: GraspConfig | None = None,
    extra_points: np.ndarray | None = None,
    camera_centers: np.ndarray | None = None,
    scales: np.ndarray | None = None,
    region: Region | None = None,
    avoid: np.ndarray | None = None,
    avoid_weight: float = 1.0,
    handover_direction: np.ndarray | None = None,
    fused_center: np.ndarray | None = None,
    fused_radius: float = 0.0,
    occupancy: OccupancyGrid | None = None,
    plane_points: np.ndarray | None = None,
    target_surface: Tuple[np.ndarray, np.ndarray] | None = None,
    reuse: Dict[str, Any] | None = None,
    on_target_only: bool = False,
) -> GraspResult:
    """One pass of :func:`plan_grasps`, at ``cfg.collision_margin``: ranked, collision-checked parallel-jaw
    grasps at the most relevant region, the composition of its stages: region (:func:`relevant_region`, unless
    ``region`` is given), surface (:func:`_surface`, :func:`_avoid_channel`, :func:`_collision_clouds`),
    candidates (:func:`_candidate_pairs`, :func:`_pair_frames`, :func:`_grasp_parts`), collision
    (:func:`_collision`) and scoring (:func:`_score`, :func:`_kept`, :func:`_grasps_of`, :func:`_warning`).

    Inputs are per-Gaussian arrays in the capture frame: ``means`` [N,3], ``opacities`` [N] (activated),
    ``relevancy`` [N] in [0,1]; optional ``extra_points`` [K,3] (e.g. fused depth points), ``camera_centers``
    [C,3], ``scales`` [N,3] (linear); ``fused_center`` [3], ``fused_radius``: the ball where ``extra_points`` is a
    fused depth surface that replaces the Gaussian centres; ``occupancy``: the scene's
    :class:`~point2act.grasp.occupancy.OccupancyGrid` (capture frame and units); ``plane_points`` [P, 3]: what
    the views see, for the support plane (:func:`_surface`); ``target_surface``: fused surface points [F, 3] and
    which of them are the target [F] (:func:`~point2act.grasp.target.surface_region`; the seeds and the target's
    labels come from it, :func:`_target_labels`); ``avoid`` [N] in [0,1], ``avoid_weight``: an avoid
    channel (:func:`_avoid_scores`); ``handover_direction`` [3]: towards a recipient (:func:`_grasps_of`);
    ``reuse``: a dict shared by passes over the same inputs (:func:`_reused`), None: nothing shared;
    ``on_target_only``: check only the candidates that close on the target for collisions (:func:`_collision`),
    for a caller that keeps only the on-target grasps: those are the same, the counts of the collision stage
    then tell of the on-target candidates only.
    Raises ``ValueError`` if no relevancy passes the region threshold; any other failure to find grasps gives
    an empty list and ``GraspResult.warning``."""
    ti = time.perf_counter()
    load_open3d()  # (imported here so stage timings exclude the one-off import)
    from scipy.spatial import cKDTree  # noqa: F401

    import_ms = (time.perf_counter() - ti) * 1e3
    cfg = cfg or GraspConfig()
    dims = cfg.gripper.scaled()
    timings: Dict[str, float] = {}
    if import_ms > 1.0:
        timings["imports"] = import_ms  # first call in a process only; not part of "total"
    counts: Dict[str, int] = {}
    clock = _Laps(timings)
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    rel = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    if region is None:
        region = relevant_region(means, opac, rel, cfg)
    clock.lap("region")
    surf = _reused(reuse, ("surface", id(region), _stage_key(cfg)), counts, lambda c: _surface(
        means, opac, rel, region, cfg, c, scales, extra_points, camera_centers, fused_center, fused_radius,
        plane_points))
    av, avoid_region = _avoid_channel(avoid, means, opac, cfg)
    clouds = _with_margin(_reused(reuse, ("clouds", id(region), id(occupancy), _stage_key(cfg)), counts,
                                  lambda c: _collision_clouds(surf.P, surf.plane, occupancy, cfg, c)), cfg)
    clock.lap("surface")
    if len(surf.P) < 2:
        return _empty(region, cfg, "no surface points off the support plane", clock.total(), counts, surf.plane)
    # the fused surface decides what is the target; where none of it is (the field's rendered relevancy marks
    # nothing the views see around the action point: a cap on a transparent bottle), nothing is labelled on
    # target, rather than whatever the region's relevant Gaussians span
    no_target = target_surface is not None and not np.any(target_surface[1])
    tpts = target_surface[0][target_surface[1]] if target_surface is not None else None
    counts["target_surface_points"] = 0 if tpts is None else len(tpts)
    pa, pb, q, support = _reused(reuse, ("pairs", id(region), _stage_key(cfg), cfg.seed_radius, cfg.num_candidates),
                                 counts, lambda c: _candidate_pairs(surf, means, region, clouds.cell, cfg, c, tpts))
    if len(pa) == 0:
        clock.lap("candidates")
        why = ("no surface points near the relevant region" if counts["seeds"] == 0 else
               "no contact pairs near the relevant region (antipodal within max_opening and the friction cone, "
               "or across the part parallel to a support plane)")
        return _empty(region, cfg, why, clock.total(), counts, surf.plane)
    pairs = _pair_frames(pa, pb, q, support, clouds, dims, cfg, counts)
    pp = _part_params(clouds, dims, cfg, av is not None)
    q_rel = _reused(reuse, ("labels", id(region), _stage_key(cfg)), counts,
                    lambda c: _target_labels(clouds, means, opac, surf.opaque, region, cfg, target_surface))
    part = _grasp_parts(pairs, clouds, q_rel, surf.plane, region, pp, dims, cfg,
                        None if av is None else (av, means, opac))
    counts["closing_on_something"] = int((part.holds & pairs.fits[:, None]).sum())
    clock.lap("candidates")
    clear = _collision(surf, clouds, pairs, part, pp, dims, cfg, counts, on_target_only)
    clock.lap("collision")
    if not clear.free.any():
        timings["scoring"] = 0.0
        return _empty(region, cfg, _why_none(counts, counts["candidates"]), clock.total(), counts, surf.plane)
    score, clear_score = _score(part, clear, clouds, avoid_weight, cfg)
    ks, ts, hkt = _kept(pairs, clouds, part, clear, score, dims, cfg, surf.plane)
    grasps = _grasps_of(ks, ts, hkt, pairs, part, clear, score, clear_score, dims, avoid_region, handover_direction)
    counts["after_nms"] = len(grasps)
    counts["on_target"] = int(sum(gr.on_target for gr in grasps))
    clock.lap("scoring")
    warning = _warning(grasps, part, clear, counts, cfg)
    if no_target and warning:
        warning = NO_TARGET_SURFACE_NOTE + "; " + warning
    return GraspResult(region=region, grasps=grasps, gripper=cfg.gripper, warning=warning, timings_ms=clock.total(),
                       counts=counts, support_plane=surf.plane)


def plan_grasps(
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    cfg: GraspConfig | None = None,
    **kw,
) -> GraspResult:
    """Ranked, collision-checked parallel-jaw grasps at the most relevant region (arguments: :func:`_plan_once`).

    The fingers and the palm keep ``GraspConfig.collision_margin`` from occupied and unknown space (the
    robot's calibration error). Where no grasp that closes on the target keeps it, but some on-target
    poses exist, the candidates are checked once more with no margin (the boxes must still not reach
    into occupied or unknown cells, nor the table): the on-target grasps that clear that way rank first,
    ``clears_margin`` false, and the result's ``warning`` says so. An on-target grasp the width of a
    calibration error from the scene beats a grasp on another part, which fails the task for certain;
    the robot's user decides with the flag. Between a tall box and a mug's handle 1.6 cm from it, and on
    a handle trained from few views whose floaters narrow the gap, only such grasps reach the handle
    (docs/robustness.md). The second pass takes the first's surface, collision clouds, contact pairs and target
    labels (``reuse``, which a caller planning again on the same inputs may pass in to share them too) and, since
    only its on-target grasps are listed, checks only the on-target candidates for collisions (``on_target_only``: the
    same on-target grasps, :func:`_collision`); the result's counts are the first pass's, with the tight pass's
    on-target grasps (``on_target_tight``)."""
    cfg = cfg or GraspConfig()
    kw["reuse"] = {} if kw.get("reuse") is None else kw["reuse"]
    result = _plan_once(means, opacities, relevancy, cfg, **kw)
    if (cfg.collision_margin <= 0 or cfg.top_k <= 0 or (result.grasps and result.grasps[0].on_target)
            or result.counts.get("on_target_candidates", 0) == 0):
        return result
    kw["region"] = result.region
    tight = _plan_once(means, opacities, relevancy, dataclasses.replace(cfg, collision_margin=0.0),
                       **{**kw, "on_target_only": True})
    on = [gr for gr in tight.grasps if gr.on_target]
    timings = {**result.timings_ms, "tight": tight.timings_ms.get("total", 0.0)}
    timings["total"] = result.timings_ms.get("total", 0.0) + timings["tight"]
    counts = {**result.counts, "on_target_tight": len(on)}
    if not on:
        return dataclasses.replace(result, timings_ms=timings, counts=counts)
    for gr in on:
        gr.clears_margin = False
    grasps = (on + list(result.grasps))[: cfg.top_k]
    n = len(on[: cfg.top_k])
    first = "the first grasp listed closes" if n == 1 else f"the first {n} grasps listed close"
    warning = (f"no grasp that closes on the target keeps the {cfg.collision_margin * 1e3:g} mm collision margin "
               f"from occupied or unknown space: {first} on the target and clear it by less (clears_margin "
               "false; safe only where the robot's calibration error is smaller)")
    return dataclasses.replace(result, grasps=grasps, warning=warning, timings_ms=timings, counts=counts)


OPEN_LEVELS = (1.0, 0.5)
"""Openings tried for a kept grasp, as the fraction of the way from the part's opening to the gripper's
widest: fully open first, then halfway."""


def widest_free_opening(
    c: np.ndarray,  # [K, 3] pair centres
    x: np.ndarray,  # [K, 3] closing axes
    u: np.ndarray,  # [K, 3]
    v: np.ndarray,  # [K, 3]
    F: np.ndarray,  # [M, 3] what the fingers must not enter (fine)
    coarse: np.ndarray,  # [Mc, 3] its coarse cells' centres
    theta: np.ndarray,  # [T] approach angles
    off: np.ndarray,  # [K, T] the grasp centre's offset along x
    hkt: np.ndarray,  # [K, T] the part's half-opening (pads' inner faces)
    depth: np.ndarray,  # [K, T] TCP depth
    kk: np.ndarray,  # [G] the grasps' pair indices
    tt: np.ndarray,  # [G] their approach indices
    dims: Dict[str, float],
    mg: float,
    mgc: float,
    near: float,
    pre: float,
    cm: float,
    min_points: int,
    R: np.ndarray | None = None,  # [K, T, 3, 3] gripper rotations, with ``plane``
    plane: np.ndarray | None = None,  # [4] the support plane
    table_clearance: float = 0.0,
) -> np.ndarray:  # [G] half-opening of each grasp
    """The widest half-opening at which each grasp's fingers still clear the scene, from
    :data:`OPEN_LEVELS`, or its part's half-opening ``hkt`` when none does.

    The part's opening is its measured extent plus ``CLEARANCE``; a reconstruction that measures a part
    thinner than it is (a thin bar from few views or no point cloud: fuzzy, thin, its silhouette eaten)
    puts a finger inside the true part. A parallel-jaw gripper closes until it meets the part, so any
    opening from which the fingers' way in is free holds the same part, and the widest one tolerates
    the most error. Checked per level: the fingers at the wider opening together with the space they
    sweep while closing to the part's opening (one box from the part's opening to the outer face of the
    finger, at the grasp pose and on the first ``near`` of the approach, against the fine cloud, with
    the collision margin ``mg``), and the fingers on the rest of the approach from ``pre`` against the
    coarse cloud (margin ``mgc``). With the support ``plane`` (and the rotations ``R``), the fingers and the
    palm at the wider opening also keep ``table_clearance`` above it at the grasp and the pre-grasp pose (the
    clouds leave the table out; :func:`_plane_min`)."""
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    half_open = 0.5 * dims["max_opening"]
    K, T = hkt.shape
    out = hkt[kk, tt].copy()
    todo = np.zeros((K, T), bool)
    todo[kk, tt] = hkt[kk, tt] < half_open - 1e-9
    uk = np.unique(kk)
    lo = np.full(K, np.inf)
    lo[uk] = np.min(np.where(todo, hkt - np.abs(off), np.inf), axis=1)[uk] - mg - cm
    hi = np.zeros(K)
    hi[uk] = half_open + np.max(np.abs(off), axis=1)[uk] + t + mg + cm
    rf = math.sqrt((float(hi.max()) if len(uk) else 0.0) ** 2 + (fw / 2 + mg + cm) ** 2 + (L + near + mg + cm) ** 2)
    rp = math.sqrt((half_open + t + mgc) ** 2 + (fw / 2 + mgc) ** 2 + (L + pre + mgc + float(depth.max())) ** 2)
    for lam in OPEN_LEVELS:
        if not todo.any():
            break
        ok = todo.copy()
        if plane is not None and R is not None:
            z_ax = R[..., 2]
            tcp = c[:, None, :] + off[..., None] * x[:, None, :] + depth[..., None] * z_ax
            wide_h = lam * half_open + (1.0 - lam) * hkt
            ok &= _plane_min(plane, tcp, R, wide_h, dims) >= table_clearance
            if pre > 0:
                ok &= _plane_min(plane, tcp - pre * z_ax, R, wide_h, dims) >= table_clearance
        # x from the part's opening (hh = hkt) to the wider opening's outer face: lam*half_open + (1-lam)*hkt + t
        sweep = [box((0.0, 1.0, lam * half_open + t, 1.0 - lam), fw / 2, (-L - near, 0.0), mg, L2)]
        way_in = [box((lam * half_open, 1.0 - lam, lam * half_open + t, 1.0 - lam), fw / 2, (-L - pre, -L - near),
                      mgc, LINF)]
        for cloud, radius, boxes, blo, bhi in ((F, rf, sweep, lo, hi), (coarse, rp, way_in, 0.0, hi + mgc)):
            alive = np.flatnonzero(ok.any(1))
            if len(alive) and len(cloud):
                hits, _ = gripper_cloud_hits(c[alive], x[alive], u[alive], v[alive], cloud, radius,
                                             blo if np.isscalar(blo) else blo[alive], bhi[alive], theta, ok[alive],
                                             off[alive], hkt[alive], depth[alive], boxes, min_points)
                ok[alive] &= hits < min_points
        wide = ok[kk, tt]
        out[wide] = lam * half_open + (1.0 - lam) * hkt[kk, tt][wide]
        todo &= ~ok
    return out


def _why_none(counts: Dict[str, int], n: int, on_target: bool = False) -> str:
    """Why no (on-target) grasp is left, from the planner's counts."""
    if on_target:
        k = counts.get("on_target_candidates", 0)
        if k == 0:
            return (f"none of the {n} candidates at the target holds mostly target between its fingers "
                    "(the target is wider than the gripper's opening, too small or too flat to be held on its own, "
                    "e.g. a tab lying on a lid, enclosed, or not seen as a surface)")
        return (f"{k} of the {n} candidates close on the target, all collide with occupied or unknown space, the "
                "support plane, or the scene points on their approach")
    k = counts.get("closing_on_something", 0)
    if k and counts.get("on_target_candidates", 0) == 0:
        return (f"none of the {n} grasp candidates holds mostly target between its fingers (the relevant part is "
                "too small or too flat to be held on its own, e.g. a tab lying on a lid, which the fingertips "
                f"cannot get under), and the {k} that close on the parts around it collide with the scene")
    if k == 0:
        return (f"none of the {n} grasp candidates closes on anything that fits between the fingers "
                "(the part is wider than the gripper's opening, or not seen as a surface)")
    return (f"all {n} grasp candidates collide with the scene ({k} close on something; fingers, palm or "
            "their approach hit occupied or unknown space, the support plane or scene points)")


def handover_rotation(rotation: np.ndarray, position: np.ndarray, avoid_point: np.ndarray,
                      direction: np.ndarray) -> np.ndarray:
    """Gripper rotation at handover: ``Q @ rotation`` with ``Q`` the smallest rotation taking the
    direction TCP -> ``avoid_point`` to ``-direction`` (the avoid part faces away from the recipient).

    The object moves rigidly with the gripper about the TCP, so after turning the gripper by ``Q``
    the avoid region lies on the far side of the TCP from the recipient."""
    a = np.asarray(avoid_point, dtype=np.float64) - np.asarray(position, dtype=np.float64)
    na = np.linalg.norm(a)
    b = -np.asarray(direction, dtype=np.float64)
    nb = np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return np.asarray(rotation, dtype=np.float64).copy()
    a, b = a / na, b / nb
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: rotate by pi about any axis orthogonal to a
        axis = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(a, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        Q = 2.0 * np.outer(axis, axis) - np.eye(3)
    else:
        vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        Q = np.eye(3) + vx + vx @ vx / (1.0 + c)
    return orthonormalize(Q @ np.asarray(rotation, dtype=np.float64))


plan = plan_grasps
