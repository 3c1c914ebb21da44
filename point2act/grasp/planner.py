"""Section 3: antipodal candidates, collision checks, scoring, NMS, top-k."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Dict, List, Tuple

import numpy as np

from . import _kernel
from .collide import DISTANCE, L2, LINF, box, gripper_cloud_hits
from .config import GraspConfig
from .geometry import antipodal_quality, grasp_rotations, orthonormal_basis, orthonormalize
from .region import relevant_region
from .occupancy import FREE, OCCUPIED, OccupancyGrid
from .part import closing_extent, grasp_part, grasp_part_reference, hold_depth, pad_quality, pads_touch_contacts
from .part import scatter as _scatter
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
    t_ = _kernel.tensor
    i, j = kernel(t_(Ps), t_(Ns), t_(Q), float(max_width), float(min_width), float(cos_angle), -1)
    return i.numpy(), j.numpy()


def sample_contact_pairs(
    points: np.ndarray,
    normals: np.ndarray,
    seeds: np.ndarray,
    cfg: GraspConfig,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Antipodal contact pairs for seed indices into ``points``.

    For each seed every surface point within ``max_opening`` is tested with
    :func:`antipodal_quality`; per seed, the best partner in each 1 cm width
    bin is kept, then the best ``partners_per_seed`` bins. Returns
    ``(a, b, quality)``: index arrays into ``points`` (unordered pairs,
    ``a < b``, deduplicated) and the antipodal quality of each pair."""
    g = cfg.gripper
    if len(seeds) == 0 or len(points) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    maxw, minw = g.units(g.max_opening), g.units(cfg.min_width)
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
    keep = rank < cfg.partners_per_seed
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
    ``min_grasp_depth`` of the part from its top (:mod:`point2act.grasp.part`; else the plane test rejects
    the grasp). The fingers are taken at the widest opening (their lowest point, for any opening up to
    ``2 half_open``)."""
    K, T = R.shape[:2]
    nz = np.einsum("i,kti->kt", plane[:3], R[..., 2])  # the approach's component along the plane's normal
    s0 = _plane_min(plane, np.broadcast_to(c[:, None, :], (K, T, 3)), R, np.full((K, T), half_open), dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nz < -1e-12, (s0 - clearance) / -nz, np.inf)


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
) -> GraspResult:
    """One pass of :func:`plan_grasps`, at ``cfg.collision_margin``: ranked, collision-checked parallel-jaw grasps
    at the most relevant region.

    Inputs are per-Gaussian arrays in the capture frame: ``means`` [N,3],
    ``opacities`` [N] (activated), ``relevancy`` [N] in [0,1]; optional
    ``extra_points`` [K,3] (e.g. fused depth points), ``camera_centers`` [C,3],
    ``scales`` [N,3] (linear); ``fused_center`` [3] and ``fused_radius``: the ball where
    ``extra_points`` is a fused depth surface that replaces the Gaussian centres; ``occupancy``: an
    :class:`~point2act.grasp.occupancy.OccupancyGrid` of the scene (capture frame and units) from
    the depth views; ``plane_points`` [P, 3]: what the views see (capture frame,
    :func:`point2act.fusion.view_points`): the support plane is fitted to those within the gripper's reach
    of the action point (the palm's far corner at the pre-grasp pose) instead of to the surface points.
    Pixels sample the scene by image area, so the table around the target holds many of them, where the
    Gaussian centres follow texture and objects (a plain table has few) and the fused surface near the
    target may not reach the table (a knob on a pot lid). Raises ``ValueError`` if no relevancy passes the
    region threshold; any other failure to find grasps gives an empty list and ``GraspResult.warning``.

    What the gripper is checked against: with ``occupancy``, inside the grid the occupied and the
    unknown cells (unknown is not free: :mod:`point2act.grasp.occupancy`), outside it the surface
    points; without, the surface points. Checked are the fingers and the palm at the grasp pose and
    along the straight approach from the pre-grasp pose (``GripperConfig.pregrasp_distance``), and
    both poses against the support plane. An on-target pose that collides at the depth its part asks
    for (the fingertips just past the part's far side: a mug's body behind its handle's loop) backs off
    along the approach, one ``tip_margin`` at a time, while the contacts stay ``min_grasp_depth`` inside
    the pads; its score is scaled by the share of that depth it reaches. A part that goes on beyond the
    fingers' reach (a wall under a rim) is held at the action point (:mod:`point2act.grasp.part`). What is
    between the fingers (the closing region) is what the grasp holds: the occupied cells (surface points
    without occupancy) there give the target share, the fraction within ``GraspConfig.target_radius`` of
    the region's Gaussians. A grasp is ``on_target`` when that share is at least ``on_target_share``;
    on-target grasps rank first, and the result has a ``warning`` when none is.

    Roles (optional, the defaults keep the plain behaviour):

    * ``avoid`` [N] in [0,1]: relevancy of an "avoid" channel (e.g. a blade, a hot rim). Its
      surface relevancy is taken as for ``relevancy``; each grasp's *avoid score* is the maximum,
      normalised by the channel's maximum, over the scene points in its closing region and in
      the fingers' path (the finger boxes widened to the whole gap between them, i.e. what the
      fingers sweep through on approach). The score becomes ``score * (1 - min(1, avoid_weight *
      avoid_score))`` before non-maximum suppression, so grasps through the avoid region rank low.
    * ``handover_direction`` [3]: direction from the object towards the handover recipient. With
      ``avoid``, each grasp also gets ``handover_rotation``: the gripper rotation, about the TCP,
      that turns the direction from the TCP to the avoid region's action point into
      ``-handover_direction`` (the avoid part faces away from the recipient), the smallest such
      rotation of the grasp's own ``rotation``."""
    ti = time.perf_counter()
    import open3d  # noqa: F401  (imported here so stage timings exclude the one-off import)
    from scipy.spatial import cKDTree

    import_ms = (time.perf_counter() - ti) * 1e3
    cfg = cfg or GraspConfig()
    g = cfg.gripper
    U = g.units
    dims = g.scaled()
    timings: Dict[str, float] = {}
    if import_ms > 1.0:
        timings["imports"] = import_ms  # first call in a process only; not part of "total"
    counts: Dict[str, int] = {}
    T0 = t0 = time.perf_counter()

    def lap(name):
        nonlocal t0
        t = time.perf_counter()
        timings[name] = (t - t0) * 1e3
        t0 = t

    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    rel = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    if region is None:
        region = relevant_region(means, opac, rel, cfg)
    lap("region")

    # ---- surface ---------------------------------------------------------
    pts, nrm = scene_points(means, opac, scales, extra_points, cfg, camera_centers, fused_center, fused_radius)
    # in a fixed order (the fused surface comes out of a hash map): the seeds drawn below do not depend on it
    order = np.lexsort(pts.T[::-1]) if len(pts) else np.zeros(0, np.int64)
    pts, nrm = pts[order], nrm[order]
    counts["surface_points"] = len(pts)
    fit_on = pts
    if plane_points is not None:  # what the gripper can reach: the palm's far corner on the pre-grasp pose
        reach = U(math.hypot(g.finger_length + g.palm_depth + g.pregrasp_distance, 0.5 * g.palm_width))
        pp = np.asarray(plane_points, dtype=np.float64).reshape(-1, 3)
        fit_on = pp[np.linalg.norm(pp - region.action_point, axis=1) <= reach]
    plane = fit_support_plane(fit_on, cfg, up_hint=region.action_point, seed=cfg.seed,
                              region_points=means[region.indices], camera_centers=camera_centers)
    ok = np.isfinite(means).all(1) & np.isfinite(opac) & np.isfinite(rel) & (opac >= cfg.region.min_opacity)
    srel_all = surface_relevancy(
        pts, means[ok], opac[ok], np.clip(rel[ok], 0, 1), cfg.surface.relevancy_neighbours,
        3 * U(cfg.surface.voxel_size),
    )
    av = None
    avoid_region = None
    if avoid is not None:
        av = np.asarray(avoid, dtype=np.float64).reshape(-1)
        if av.shape[0] != means.shape[0]:
            raise ValueError(f"avoid has {av.shape[0]} values for {means.shape[0]} Gaussians")
        try:
            avoid_region = relevant_region(means, opac, np.clip(np.nan_to_num(av), 0, 1), cfg)
        except ValueError:
            avoid_region = None
    if plane is not None:
        above = pts @ plane[:3] + plane[3] > U(cfg.surface.plane_distance)
        P, N, S = pts[above], nrm[above], srel_all[above]
    else:
        P, N, S = pts, nrm, srel_all
    counts["object_points"] = len(P)
    # what the gripper must not enter (F: fine; coarse for the palm) and what it can hold (Q)
    if occupancy is not None:
        cell = float(occupancy.voxel)
        blocked = occupancy.state != FREE
        occupied = occupancy.state == OCCUPIED
        Pout = P[~occupancy.contains(P)]
        # a box that comes from free space into blocked cells crosses the blocked cells next to free ones
        # (or on the grid's border): those are enough for the fine checks; the coarse one takes them all
        pad = np.pad(~blocked, 1, constant_values=False)
        nx, ny, nz = blocked.shape
        touches = np.zeros_like(blocked)
        for dx, dy, dz in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
            touches |= pad[1 + dx : 1 + dx + nx, 1 + dy : 1 + dy + ny, 1 + dz : 1 + dz + nz]
        touches[[0, -1], :, :] = touches[:, [0, -1], :] = touches[:, :, [0, -1]] = True
        cb, cs, co = occupancy.centers(blocked), occupancy.centers(blocked & touches), occupancy.centers(occupied)
        if plane is not None:  # the plane test covers the table and what lies under it
            band = max(U(cfg.surface.plane_distance), cell)
            cb, cs, co = (a_[a_ @ plane[:3] + plane[3] > band] for a_ in (cb, cs, co))
        F = np.concatenate([cs, Pout])
        F_all = np.concatenate([cb, Pout])
        Q = np.concatenate([co, Pout])
        # the part's extent across the closing axis (the opening) is measured over everything the fingers
        # must not enter, occupied or unknown: an unknown cell just beside the occupied ones (a thin bar's
        # shadow) would otherwise sit inside the finger, a cell from where its face was put
        cu = occupancy.centers(blocked & touches & ~occupied)
        if plane is not None:
            cu = cu[cu @ plane[:3] + plane[3] > band]
        QB, q_occ = np.concatenate([Q, cu]), np.r_[np.ones(len(Q), bool), np.zeros(len(cu), bool)]
        pad_x = 0.5 * cell  # the extent is measured on cell centres; a cell reaches half a cell past its centre
        mg = U(cfg.collision_margin) + 0.5 * cell  # a cell's centre stands for its whole cube
        counts.update(occupied_cells=len(co), blocked_cells=len(cb), points_outside_grid=len(Pout))
    else:
        cell = U(cfg.surface.voxel_size)
        F = F_all = Q = QB = P
        q_occ = np.ones(len(P), bool)
        pad_x = 0.0
        mg = U(cfg.collision_margin)
    # coarse: the centres of the collision_voxel_size cells holding anything the gripper must not enter;
    # a box is grown by half such a cell's diagonal when checked against them (conservative)
    sc_ = U(cfg.surface.collision_voxel_size)
    coarse = (_unique_rows(np.floor(F_all / sc_).astype(np.int64)) + 0.5) * sc_ if len(F_all) else F_all
    mgc = mg + 0.5 * math.sqrt(3.0) * sc_
    lap("surface")
    if len(P) < 2:
        timings["total"] = (time.perf_counter() - T0) * 1e3
        return _empty(region, cfg, "no surface points off the support plane", timings, counts, plane)

    # ---- candidates ------------------------------------------------------
    dseed, _ = cKDTree(means[region.indices]).query(P, distance_upper_bound=U(cfg.seed_radius), workers=-1)
    pool = np.flatnonzero(np.isfinite(dseed))
    rng = np.random.default_rng(cfg.seed)
    if len(pool) > cfg.num_candidates:
        w = S[pool] + 0.05 * max(region.max_relevancy, 1e-6)
        seeds = np.sort(rng.choice(pool, size=cfg.num_candidates, replace=False, p=w / w.sum()))
    else:
        seeds = pool
    counts["seeds"] = len(seeds)
    a, b, q = sample_contact_pairs(P, N, seeds, cfg)
    if len(a):  # one pair per (centre, closing axis) bin: neighbouring seeds on a face give the same grasp
        ctr = 0.5 * (P[a] + P[b])
        ax = P[b] - P[a]
        ax /= np.maximum(np.linalg.norm(ax, axis=1, keepdims=True), 1e-300)
        ax *= np.where(np.sum(ax * np.array([0.5773, 0.5774, 0.5775]), 1) < 0, -1.0, 1.0)[:, None]
        key = np.c_[np.floor(ctr / max(cell, U(cfg.pair_bin))), np.round(ax * 6.0)].astype(np.int64)
        order = np.argsort(-q, kind="stable")
        _, first = np.unique(key[order], axis=0, return_index=True)
        keep = np.sort(order[first])
        counts["contact_pairs_sampled"] = len(a)
        a, b, q = a[keep], b[keep], q[keep]
    if len(a) > cfg.num_candidates:
        keep = np.argsort(-q, kind="stable")[: cfg.num_candidates]
        a, b, q = a[keep], b[keep], q[keep]
    K = len(a)
    counts["contact_pairs"] = K
    T = cfg.num_approach_dirs
    counts["candidates"] = K * T
    if K == 0:
        lap("candidates")
        timings["total"] = (time.perf_counter() - T0) * 1e3
        reason = ("no surface points near the relevant region" if len(seeds) == 0 else
                  "no antipodal contact pairs (within max_opening and the friction cone) near the relevant region")
        return _empty(region, cfg, reason, timings, counts, plane)
    pa, pb = P[a], P[b]
    c = 0.5 * (pa + pb)
    width = np.linalg.norm(pb - pa, axis=1)
    x = (pb - pa) / width[:, None]
    u, v = orthonormal_basis(x)
    theta = 2 * np.pi * np.arange(T) / T
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    R = grasp_rotations(x, u, v, theta)  # [K,T,3,3]
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    Dp, pw, pt = dims["palm_depth"], dims["palm_width"], dims["palm_thickness"]
    half_open = 0.5 * dims["max_opening"]
    clr = U(cfg.clearance)
    gap = max(1.5 * cell, U(cfg.part_gap))
    # the part: what lies, connected, across the closing line (its extent gives the opening, centred)
    # and along the approach (its far side gives the depth: the fingertips just past it)
    w2 = 0.5 * width
    ext_p, ext_n = closing_extent(c, x, u, v, QB, w2, fw / 2, half_open, gap, math.hypot(half_open, fw / 2) + mg)
    shift = 0.5 * (ext_p - ext_n)
    half_part = 0.5 * (ext_p + ext_n)
    c = c + shift[:, None] * x
    h = np.minimum(half_part + pad_x + clr, half_open)
    fits = half_part + mg <= half_open
    counts["fit_pairs"] = int(fits.sum())
    # what the gripper holds is the target's where the opaque Gaussians around it (the 8 nearest within
    # target_radius, weighted by opacity) are mostly the region's: a point of the body next to a handle's
    # root is nearer the body's Gaussians, and a stray floater does not relabel a surface
    r_t = U(cfg.target_radius) + 0.5 * cell
    q_rel = np.zeros(len(QB), bool)
    opaque = np.flatnonzero(ok)
    if len(Q) and len(opaque):
        in_region = np.zeros(len(means), bool)
        in_region[region.indices] = True
        kn = min(8, len(opaque))
        dq, iq = cKDTree(means[opaque]).query(Q, k=kn, distance_upper_bound=r_t, workers=-1)
        dq, iq = dq.reshape(len(Q), kn), iq.reshape(len(Q), kn)
        hit = np.isfinite(dq)
        j = opaque[np.where(hit, iq, 0)]
        wgt = np.where(hit, opac[j], 0.0)
        q_rel[: len(Q)] = (wgt * in_region[j]).sum(1) > 0.5 * wgt.sum(1)
    depth = np.full((K, T), U(cfg.min_grasp_depth))
    n_close = np.zeros((K, T), np.int64)
    share = np.zeros((K, T))
    off = np.zeros((K, T))  # the grasp's centre along x from c, per approach
    hkt = np.repeat(h[:, None], T, 1)  # half-opening per approach
    avoid_score = np.zeros((K, T)) if av is not None else None
    fk_ = np.flatnonzero(fits)
    if len(fk_) and len(Q):
        # what each candidate holds (point2act.grasp.part): the part's far side along the approach gives the
        # depth (the fingertips just past it; a part that goes on beyond the fingers' reach, a wall or a rod
        # along the approach, is held at the action point, within long_part_depth of the contacts; no deeper
        # than the support plane allows), its extent across the closing axis where the pads will be the
        # opening, centred on it; then what lies between the pads. With an avoid channel, the entries
        # themselves are needed: the numpy reference.
        reach = half_open + (t if av is not None else 0.0)
        room = _support_room(plane, c, R, half_open, dims, U(cfg.table_clearance)) if plane is not None \
            else np.full((K, T), np.inf)
        pp = {"half_y": fw / 2, "L": L, "reach": reach, "radius": math.sqrt(reach**2 + (fw / 2) ** 2 + L**2) + mg,
              "gap": gap, "tip": U(cfg.tip_margin), "min_depth": U(cfg.min_grasp_depth),
              "max_depth": U(cfg.max_grasp_depth), "long_depth": U(cfg.long_part_depth), "pad_x": pad_x, "clr": clr,
              "half_open": half_open, "mg": mg}
        args = (c, x, u, v, fits, QB, q_occ, q_rel, h, w2 - shift, w2 + shift, room, T, pp)
        # a part longer than the fingers reach (a wall under a rim, a rod) is held where it was pointed at
        hold = hold_depth(c, u, v, region.action_point, T)
        if av is None:
            part = grasp_part(*args, hold=hold)
        else:
            part, (gid, qje, xe, inz) = grasp_part_reference(*args, return_entries=True, hold=hold)
        depth, off, hkt, n_close, n_rel = (part[k] for k in ("depth", "off", "hkt", "n_close", "n_rel"))
        share = np.where(n_close > 0, n_rel / np.maximum(n_close, 1), 0.0)
        if av is not None:
            okA = np.isfinite(av) & np.isfinite(means).all(1) & np.isfinite(opac) & (opac >= cfg.region.min_opacity)
            A = surface_relevancy(QB, means[okA], opac[okA], np.clip(av[okA], 0, 1), cfg.surface.relevancy_neighbours,
                                  3 * U(cfg.surface.voxel_size) + cell)
            A = A / max(float(A.max()) if len(A) else 0.0, 1e-12)
            # closing region + finger path: |x| <= h + t, |y| <= fw/2, z in [depth - L, depth]
            path = inz & (np.abs(xe - off.reshape(-1)[gid]) <= hkt.reshape(-1)[gid] + t)
            flat = np.zeros(K * T)
            _scatter(flat, gid[path], A[qje[path]])
            avoid_score = flat.reshape(K, T)
    holds = n_close >= cfg.min_closing_points
    counts["closing_on_something"] = int((holds & fits[:, None]).sum())
    lap("candidates")

    # ---- collision -------------------------------------------------------
    pre = U(g.pregrasp_distance)
    z_ax = R[..., 2]  # [K, T, 3]
    ctr = c[:, None, :] + off[..., None] * x[:, None, :]  # [K, T, 3] the grasp's centre on the closing line
    depth_part = depth.copy()
    clear_d = np.full((K, T), np.inf)
    near = min(pre, U(cfg.sweep_fine_length))
    cm = U(cfg.clearance_margin)
    boxes_fine = [box((0.0, 1.0, t, 1.0), fw / 2, (-L - near, 0.0), mg, L2)]  # the fingers
    base = holds & fits[:, None]
    finger_reach = None
    if base.any() and len(F):
        # the fingers' search band per pair, over every approach that may be tried (any depth)
        lo_k = np.where(base, hkt - np.abs(off), np.inf).min(1)  # [K]
        hi_k = np.where(base, hkt + np.abs(off), 0.0).max(1)
        rf = math.sqrt((float(hi_k.max()) + t + mg + cm) ** 2 + (fw / 2 + mg + cm) ** 2 + (L + near + mg + cm) ** 2)
        finger_reach = (rf, (lo_k - mg - cm).astype(np.float32), (hi_k + t + mg + cm).astype(np.float32))
    # the grasp pose: the depth the part asks for (its far side just inside the fingertips); where the
    # support plane, the fingers, the palm or the approach collide there (the body behind a handle's loop,
    # a mug's rim above its handle), a grasp that closes on the target backs off along the approach, one
    # tip_margin at a time, as long as the contacts stay min_grasp_depth inside the pads: the pads still
    # close on what the contacts touch
    step, min_d = U(cfg.tip_margin), U(cfg.min_grasp_depth)
    hx = pw / 2 + half_open + mg
    rpn = math.sqrt(hx**2 + (pt / 2 + mg) ** 2 + (L + Dp + near + mg + U(cfg.max_grasp_depth)) ** 2)
    palm = [box((0.0, 0.0, pw / 2, 0.0), pt / 2, (-L - Dp - near, -L), mg, LINF)]
    rp = math.sqrt((pw / 2 + mgc) ** 2 + (pt / 2 + mgc) ** 2 + (L + Dp + pre + mgc + U(cfg.max_grasp_depth)) ** 2)
    swept = [box((0.0, 0.0, pw / 2, 0.0), pt / 2, (-L - Dp - pre, -L - near), mgc, LINF),
             box((0.0, 1.0, t, 1.0), fw / 2, (-L - pre, -L - near), mgc, LINF)]
    stage = {k_: np.zeros_like(base) for k_ in ("table_free", "fingers_free")}
    free = np.zeros_like(base)
    pending = base.copy()
    on = share >= cfg.on_target_share
    clear = U(cfg.table_clearance)

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
        if finger_reach is not None:
            # the fingers (|x - off| in [hkt, hkt + t]) and the palm at the grasp pose and on the first `near`
            # of the approach, against the fine cloud; the rest of the approach against the coarse cloud
            rf, lo_all, hi_all = finger_reach
            check(ok, F, rf, lo_all, hi_all, boxes_fine)
            check(ok, F, rpn, 0.0, hx, palm)
        stage["fingers_free"] |= ok
        check(ok, coarse, rp, 0.0, pw / 2 + mgc + half_open, swept)
        free |= ok
        # only what closes on the target backs off: that is what it is for (and the rest would cost a
        # plan with no on-target candidate, a tab under a lid, six more rounds of collision checks)
        pending &= ~ok & (depth > min_d + 1e-12) & on
        depth = np.where(pending, np.maximum(depth - step, min_d), depth)
    # whether the pads touch both contacts where they close (pads_touch_contacts): a grasp held where the target
    # was pointed at may have left one contact beyond its fingertips, its opening then reaching to an empty
    # contact and the part off centre between the fingers; such grasps rank after those that touch both
    touch = np.ones((K, T), bool)
    geo = np.repeat(q[:, None], T, 1)
    if free.any():
        kf, tf = np.nonzero(free)
        tk = pads_touch_contacts(c, x, u, v, QB, w2 - shift, w2 + shift, depth, kf, tf, T, pp)
        touch[kf, tf] = tk
        counts["pads_miss_a_contact"] = int((~tk).sum())
        # the antipodal quality where the pads meet the surface (pad_quality), which is where they hold: the
        # pair's contacts may lie inside the part's extent (the inner faces of a loop) or off its end
        qp, fnd = pad_quality(c, x, u, v, P, N, off, hkt, depth, kf, tf, T, pp, U(cfg.surface.voxel_size),
                              cfg.friction_coef)
        geo[kf, tf] = np.where(fnd, qp, geo[kf, tf])
        counts["pads_meet_no_surface"] = int((~fnd).sum())
    tcp = ctr + depth[..., None] * z_ax
    counts.update({k_: int(v_.sum()) for k_, v_ in stage.items()})
    counts["backed_off"] = int((free & (depth < depth_part - 1e-12)).sum())
    counts["collision_free"] = int(free.sum())
    alive = np.flatnonzero(free.any(1))
    if len(alive) and len(F):  # the survivors' clearance at the grasp pose: the nearest point's distance to a finger
        rf, lo_a, hi_a = finger_reach
        _, cd = gripper_cloud_hits(c[alive], x[alive], u[alive], v[alive], F, rf, lo_a[alive], hi_a[alive], theta,
                                   free[alive], off[alive], hkt[alive], depth[alive],
                                   [box((0.0, 1.0, t, 1.0), fw / 2, (-L, 0.0), role=DISTANCE)], 1)
        clear_d[alive] = np.minimum(clear_d[alive], cd)
    counts["on_target_candidates"] = int((on & holds).sum())
    counts["on_target_free"] = int((on & free).sum())
    lap("collision")
    if not free.any():
        timings["scoring"] = 0.0
        timings["total"] = (time.perf_counter() - T0) * 1e3
        return _empty(region, cfg, _why_none(counts, K * T), timings, counts, plane)

    # ---- scoring ---------------------------------------------------------
    clear_score = np.clip((clear_d - mg) / max(cm, 1e-12), 0.0, 1.0)
    ws, wg, wc = cfg.semantic_weight, cfg.geometric_weight, cfg.clearance_weight
    score = (ws * share + wg * geo + wc * clear_score) / (ws + wg + wc)
    if avoid_score is not None:
        score = score * (1.0 - np.minimum(1.0, max(float(avoid_weight), 0.0) * avoid_score))
    # a grasp backed off along its approach holds the part nearer the fingertips: its score is scaled by the
    # share of the depth the part asked for that it reaches
    # (only a grasp that backed off: it started deeper than min_grasp_depth; a long part held at its action
    # point may lie nearer the palm than the contacts)
    score = score * np.where(depth < depth_part, np.clip(depth / np.maximum(depth_part, 1e-12), 0.0, 1.0), 1.0)
    k_of, t_of = np.nonzero(free)
    Rf = R[k_of, t_of]
    posf = tcp[k_of, t_of]
    # grasps that close on the target first; then those whose pads touch both contacts
    rank = score[k_of, t_of] + 2.0 * on[k_of, t_of] + 1.0 * touch[k_of, t_of]
    kept = nms(posf, Rf, rank, U(cfg.nms_distance), math.radians(cfg.nms_angle_deg), cfg.top_k)
    if len(kept) and len(F):
        hkt = hkt.copy()
        kk, tk_ = k_of[np.asarray(kept)], t_of[np.asarray(kept)]
        hkt[kk, tk_] = widest_free_opening(c, x, u, v, F, coarse, theta, off, hkt, depth, kk, tk_, dims,
                                           mg, mgc, U(cfg.sweep_fine_length), U(g.pregrasp_distance),
                                           U(cfg.clearance_margin), cfg.collision_min_points)
    grasps: List[Grasp] = []
    for i in kept:
        k, tt = k_of[i], t_of[i]
        Rk = orthonormalize(Rf[i])
        gr = Grasp(
            position=posf[i].copy(),
            rotation=Rk,
            opening=float(min(2 * hkt[k, tt], dims["max_opening"])),
            contact_width=float(width[k]),
            score=float(score[k, tt]),
            semantic_score=float(share[k, tt]),
            geometric_score=float(geo[k, tt]),
            contacts=np.stack([pa[k], pb[k]]),
            on_target=bool(on[k, tt]),
            clearance_score=float(clear_score[k, tt]),
            closing_cells=int(n_close[k, tt]),
            both_pads_touch=bool(touch[k, tt]),
            backed_off=float(max(depth_part[k, tt] - depth[k, tt], 0.0)),
            clears_margin=True,
        )
        if avoid_score is not None:
            gr.avoid_score = float(avoid_score[k, tt])
            if handover_direction is not None and avoid_region is not None:
                gr.handover_rotation = handover_rotation(gr.rotation, gr.position, avoid_region.action_point,
                                                         handover_direction)
        if np.isfinite(gr.position).all() and np.isfinite(gr.rotation).all() and math.isfinite(gr.score):
            grasps.append(gr)
    counts["after_nms"] = len(grasps)
    counts["on_target"] = int(sum(gr.on_target for gr in grasps))
    lap("scoring")
    timings["total"] = (time.perf_counter() - T0) * 1e3
    warning = None if grasps else "no grasp survived scoring"
    if grasps and not grasps[0].on_target:
        best = float(share[free].max())
        warning = (f"no grasp closes on the relevant region: every grasp listed closes mostly on other parts "
                   f"(on_target false; the best holds {best:.0%} target, {cfg.on_target_share:.0%} needed); "
                   + _why_none(counts, K * T, on_target=True))
    return GraspResult(region=region, grasps=grasps, gripper=g, warning=warning, timings_ms=timings,
                       counts=counts, support_plane=plane)


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
    (docs/robustness.md)."""
    cfg = cfg or GraspConfig()
    result = _plan_once(means, opacities, relevancy, cfg, **kw)
    if (cfg.collision_margin <= 0 or cfg.top_k <= 0 or (result.grasps and result.grasps[0].on_target)
            or result.counts.get("on_target_candidates", 0) == 0):
        return result
    kw["region"] = result.region
    tight = _plan_once(means, opacities, relevancy, dataclasses.replace(cfg, collision_margin=0.0), **kw)
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
) -> np.ndarray:  # [G] half-opening of each grasp
    """The widest half-opening at which each grasp's fingers still clear the scene, from
    :data:`OPEN_LEVELS`, or its part's half-opening ``hkt`` when none does.

    The part's opening is its measured extent plus ``clearance``; a reconstruction that measures a part
    thinner than it is (a thin bar from few views or no point cloud: fuzzy, thin, its silhouette eaten)
    puts a finger inside the true part. A parallel-jaw gripper closes until it meets the part, so any
    opening from which the fingers' way in is free holds the same part, and the widest one tolerates
    the most error. Checked per level: the fingers at the wider opening together with the space they
    sweep while closing to the part's opening (one box from the part's opening to the outer face of the
    finger, at the grasp pose and on the first ``near`` of the approach, against the fine cloud, with
    the collision margin ``mg``), and the fingers on the rest of the approach from ``pre`` against the
    coarse cloud (margin ``mgc``)."""
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
