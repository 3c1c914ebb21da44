"""Section 3: antipodal candidates, collision checks, scoring, NMS, top-k."""

from __future__ import annotations

import math
import time
from typing import Dict, List, Tuple

import numpy as np

from .config import GraspConfig
from .geometry import antipodal_quality, grasp_rotations, orthonormal_basis, orthonormalize
from .region import relevant_region
from .result import Grasp, GraspResult, Region
from .surface import fit_support_plane, scene_points, surface_relevancy, voxel_downsample

__all__ = ["plan_grasps", "plan", "sample_contact_pairs", "nms", "handover_rotation"]


def _ball_entries(tree_a, tree_b, r: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (i in a, j in b, distance) with distance <= r."""
    sdm = tree_a.sparse_distance_matrix(tree_b, r, output_type="ndarray")
    return sdm["i"].astype(np.int64), sdm["j"].astype(np.int64), sdm["v"]


def sample_contact_pairs(
    points: np.ndarray,
    normals: np.ndarray,
    seeds: np.ndarray,
    cfg: GraspConfig,
    tree=None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Antipodal contact pairs for seed indices into ``points``.

    For each seed every surface point within ``max_opening`` is tested with
    :func:`antipodal_quality`; per seed, the best partner in each 1 cm width
    bin is kept, then the best ``partners_per_seed`` bins. Returns
    ``(a, b, quality)``: index arrays into ``points`` (unordered pairs,
    ``a < b``, deduplicated) and the antipodal quality of each pair."""
    from scipy.spatial import cKDTree

    g = cfg.gripper
    if len(seeds) == 0 or len(points) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    maxw, minw = g.units(g.max_opening), g.units(cfg.min_width)
    cos_a = math.cos(math.atan(cfg.friction_coef))
    # dense seed x point tests with BLAS (faster than a ball query + gathers);
    # coordinates relative to the seeds' centroid to limit cancellation.
    o = points[seeds].mean(0)
    Ps, Ns = points[seeds] - o, normals[seeds]
    lo, hi = Ps.min(0) - maxw, Ps.max(0) + maxw
    cand = np.flatnonzero(np.all((points >= lo + o) & (points <= hi + o), axis=1))
    Q = points[cand] - o
    sq = (Q * Q).sum(1)[:, None] + (Ps * Ps).sum(1)[None, :] - 2.0 * (Q @ Ps.T)
    dn = Q @ Ns.T - (Ps * Ns).sum(1)[None, :]
    mask = (sq <= maxw * maxw) & (sq >= minw * minw) & (dn * dn >= (cos_a * cos_a) * (1 - 1e-9) * sq)
    jj, i = np.nonzero(mask)
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


def _local_coords(cloud, j, c, x, u, v, k):
    """Coordinates of ``cloud[j]`` relative to pair ``k``: (k, j, |px|, pu, pv)."""
    d = cloud[j] - c[k]
    px = np.abs(np.einsum("ij,ij->i", d, x[k]))
    pu = np.einsum("ij,ij->i", d, u[k])
    pv = np.einsum("ij,ij->i", d, v[k])
    return k, j, px, pu, pv


def _mark_collisions(free: np.ndarray, hits: Tuple[np.ndarray, ...], min_points: int) -> None:
    """Clear ``free`` where a box holds at least ``min_points`` scene points (hits are index tuples)."""
    if min_points <= 1:
        free[hits] = False
        return
    count = np.zeros(free.shape, dtype=np.int32)
    np.add.at(count, hits, 1)
    free &= count < min_points


def _box_hits(
    pu: np.ndarray,
    pv: np.ndarray,
    cos_t: np.ndarray,
    sin_t: np.ndarray,
    half_y: float,
    zlo: float,
    zhi: float,
    depths: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries with in-plane coordinates (pu, pv) relative to a contact centre
    (the x slab is tested by the caller). For approach angle t the gripper
    axes give ``z = pu cos t + pv sin t`` and ``y = pu sin t - pv cos t``;
    with depth d the TCP is at ``d`` along z, so the box test is
    ``|y| <= half_y`` and ``zlo + d <= z <= zhi + d``. Returns the index
    triples (entry, t, d) of hits."""
    if len(pu) == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    pu32, pv32 = pu.astype(np.float32), pv.astype(np.float32)
    c32, s32 = cos_t.astype(np.float32), sin_t.astype(np.float32)
    py = np.multiply.outer(pu32, s32)
    py -= np.multiply.outer(pv32, c32)
    e_i, t_i = np.nonzero(np.abs(py) <= half_y)
    pz = pu[e_i] * cos_t[t_i] + pv[e_i] * sin_t[t_i]
    out_e, out_t, out_d = [], [], []
    for di, d in enumerate(depths):
        m = (pz >= zlo + d) & (pz <= zhi + d)
        out_e.append(e_i[m])
        out_t.append(t_i[m])
        out_d.append(np.full(int(m.sum()), di, dtype=np.int64))
    return np.concatenate(out_e), np.concatenate(out_t), np.concatenate(out_d)


def _empty(region, cfg, reason, timings, counts, plane) -> GraspResult:
    return GraspResult(region=region, grasps=[], gripper=cfg.gripper, warning=reason, timings_ms=timings,
                       counts=counts, support_plane=plane)


def plan_grasps(
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
) -> GraspResult:
    """Ranked, collision-checked parallel-jaw grasps at the most relevant region.

    Inputs are per-Gaussian arrays in the capture frame: ``means`` [N,3],
    ``opacities`` [N] (activated), ``relevancy`` [N] in [0,1]; optional
    ``extra_points`` [K,3] (e.g. fused depth points), ``camera_centers`` [C,3],
    ``scales`` [N,3] (linear); ``fused_center`` [3] and ``fused_radius``: the ball where
    ``extra_points`` is a fused depth surface that replaces the Gaussian centres. Raises ``ValueError`` if no relevancy passes the
    region threshold; any other failure to find grasps gives an empty list and
    ``GraspResult.warning``.

    Roles (optional, the defaults keep the plain behaviour):

    * ``avoid`` [N] in [0,1]: relevancy of an "avoid" channel (e.g. a blade, a hot rim). Its
      surface relevancy is taken as for ``relevancy``; each grasp's *avoid score* is the maximum,
      normalised by the channel's maximum, over the surface points in its closing region and in
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
    counts["surface_points"] = len(pts)
    plane = fit_support_plane(pts, cfg, up_hint=region.action_point, seed=cfg.seed,
                              region_points=means[region.indices])
    ok = np.isfinite(means).all(1) & np.isfinite(opac) & np.isfinite(rel) & (opac >= cfg.region.min_opacity)
    srel_all = surface_relevancy(
        pts, means[ok], opac[ok], np.clip(rel[ok], 0, 1), cfg.surface.relevancy_neighbours,
        3 * U(cfg.surface.voxel_size),
    )
    A = None
    avoid_region = None
    if avoid is not None:
        av = np.asarray(avoid, dtype=np.float64).reshape(-1)
        if av.shape[0] != means.shape[0]:
            raise ValueError(f"avoid has {av.shape[0]} values for {means.shape[0]} Gaussians")
        okA = np.isfinite(av) & np.isfinite(means).all(1) & np.isfinite(opac) & (opac >= cfg.region.min_opacity)
        A = surface_relevancy(pts, means[okA], opac[okA], np.clip(av[okA], 0, 1), cfg.surface.relevancy_neighbours,
                              3 * U(cfg.surface.voxel_size))
        A = A / max(float(A.max()) if len(A) else 0.0, 1e-12)
        try:
            avoid_region = relevant_region(means, opac, np.clip(np.nan_to_num(av), 0, 1), cfg)
        except ValueError:
            avoid_region = None
    if plane is not None:
        above = pts @ plane[:3] + plane[3] > U(cfg.surface.plane_distance)
        P, N, S = pts[above], nrm[above], srel_all[above]
        if A is not None:
            A = A[above]
    else:
        P, N, S = pts, nrm, srel_all
    counts["object_points"] = len(P)
    coarse = voxel_downsample(P, U(cfg.surface.collision_voxel_size))
    lap("surface")
    if len(P) < 2:
        timings["total"] = (time.perf_counter() - T0) * 1e3
        return _empty(region, cfg, "no surface points off the support plane", timings, counts, plane)

    # ---- candidates ------------------------------------------------------
    treeP = cKDTree(P)
    dseed, _ = cKDTree(means[region.indices]).query(P, distance_upper_bound=U(cfg.seed_radius), workers=-1)
    pool = np.flatnonzero(np.isfinite(dseed))
    rng = np.random.default_rng(cfg.seed)
    if len(pool) > cfg.num_candidates:
        w = S[pool] + 0.05 * max(region.max_relevancy, 1e-6)
        seeds = np.sort(rng.choice(pool, size=cfg.num_candidates, replace=False, p=w / w.sum()))
    else:
        seeds = pool
    counts["seeds"] = len(seeds)
    a, b, q = sample_contact_pairs(P, N, seeds, cfg, tree=treeP)
    if len(a) > cfg.num_candidates:
        keep = np.argsort(-q, kind="stable")[: cfg.num_candidates]
        a, b, q = a[keep], b[keep], q[keep]
    K = len(a)
    counts["contact_pairs"] = K
    T, D = cfg.num_approach_dirs, len(cfg.grasp_depths)
    counts["candidates"] = K * T * D
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
    h = np.minimum(0.5 * width + U(cfg.clearance), 0.5 * dims["max_opening"])
    theta = 2 * np.pi * np.arange(T) / T
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    R = grasp_rotations(x, u, v, theta)  # [K,T,3,3]
    depths = np.array([U(d) for d in cfg.grasp_depths])
    lap("candidates")

    # ---- collision -------------------------------------------------------
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    Dp, pw, pt = dims["palm_depth"], dims["palm_width"], dims["palm_thickness"]
    free = np.ones((K, T, D), dtype=bool)
    if plane is not None:
        n, off = plane[:3], plane[3]
        nR = np.einsum("i,ktij->ktj", n, R)  # n . (x, y, z)
        s0 = (c @ n + off)[:, None, None] + depths[None, None, :] * nR[:, :, 2:3]
        ax, ay, az = np.abs(nR[..., 0])[..., None], np.abs(nR[..., 1])[..., None], nR[..., 2][..., None]
        finger_min = s0 - ax * (h[:, None, None] + t / 2) - az * L / 2 - (ax * t / 2 + ay * fw / 2 + np.abs(az) * L / 2)
        palm_min = s0 - az * (L + Dp / 2) - (ax * pw / 2 + ay * pt / 2 + np.abs(az) * Dp / 2)
        clear = U(cfg.table_clearance)
        free &= (finger_min >= clear) & (palm_min >= clear)
    counts["table_free"] = int(free.sum())
    mg = U(cfg.collision_margin)
    alive = np.flatnonzero(free.any(axis=(1, 2)))
    ek = ej = np.zeros(0, np.int64)
    px = pu = pv = hk = np.zeros(0)
    if len(alive):
        ctree = cKDTree(c[alive])
        # fingers (and the closing region, reused for scoring): fine cloud
        zmax = max(abs(depths.max()), abs(depths.min() - L)) + mg
        ymax = fw / 2 + mg
        rf = math.sqrt((0.5 * dims["max_opening"] + t + mg) ** 2 + ymax**2 + zmax**2)
        ek, ej, _ = _ball_entries(ctree, treeP, rf)
        ek, ej, px, pu, pv = _local_coords(P, ej, c, x, u, v, alive[ek])
        hk = h[ek]
        near = (px <= hk + t + mg) & (pu * pu + pv * pv <= ymax**2 + zmax**2)
        ek, ej, px, pu, pv, hk = ek[near], ej[near], px[near], pu[near], pv[near], hk[near]
        fe = np.flatnonzero(px >= hk - mg)
        e_i, t_i, d_i = _box_hits(pu[fe], pv[fe], cos_t, sin_t, ymax, -L - mg, mg, depths)
        _mark_collisions(free, (ek[fe[e_i]], t_i, d_i), cfg.collision_min_points)
        # palm: first the coarse cloud (cheap), then the fine cloud for what is left
        zp = max(abs(depths.min() - L - Dp), abs(depths.max() - L)) + mg
        yp = pt / 2 + mg
        rp = math.sqrt((pw / 2 + mg) ** 2 + yp**2 + zp**2)
        for cloud, ctree_cloud in ((coarse, None), (P, treeP)):
            alive = np.flatnonzero(free.any(axis=(1, 2)))
            if not len(cloud) or not len(alive):
                continue
            ctree_cloud = ctree_cloud if ctree_cloud is not None else cKDTree(cloud)
            qk, qj, _ = _ball_entries(cKDTree(c[alive]), ctree_cloud, rp)
            qk, qj, qx, qu, qv = _local_coords(cloud, qj, c, x, u, v, alive[qk])
            r2 = qu * qu + qv * qv
            m = (qx <= pw / 2 + mg) & (r2 <= yp**2 + zp**2) & (r2 >= (L - depths.max() - mg) ** 2)
            e_i, t_i, d_i = _box_hits(qu[m], qv[m], cos_t, sin_t, yp, -L - Dp - mg, -L + mg, depths)
            _mark_collisions(free, (qk[m][e_i], t_i, d_i), cfg.collision_min_points)
    counts["collision_free"] = int(free.sum())
    lap("collision")
    if not free.any():
        timings["scoring"] = 0.0
        timings["total"] = (time.perf_counter() - T0) * 1e3
        return _empty(region, cfg, f"all {K * T * D} grasp candidates collide with the scene", timings, counts, plane)

    # ---- scoring ---------------------------------------------------------
    ce = np.flatnonzero(px < hk)  # closing region: between the fingers' inner faces
    ce = ce[free.any(axis=(1, 2))[ek[ce]]]
    e_i, t_idx, d_idx = _box_hits(pu[ce], pv[ce], cos_t, sin_t, fw / 2, -L, 0.0, depths)
    kk = ek[ce[e_i]]
    ok_g = free[kk, t_idx, d_idx]
    gid = ((kk * T + t_idx) * D + d_idx)[ok_g]
    vals = S[ej[ce[e_i]]][ok_g]
    G = K * T * D
    sem = np.zeros(G)
    cnt = np.bincount(gid, minlength=G)
    if len(gid):
        order = np.lexsort((vals, gid))
        sv = vals[order]
        start = np.r_[0, np.cumsum(cnt)[:-1]]
        has = cnt > 0
        pos = cfg.semantic_quantile * (cnt[has] - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, cnt[has] - 1)
        frac = pos - lo
        sem[has] = sv[start[has] + lo] * (1 - frac) + sv[start[has] + hi] * frac
    fallback = np.repeat(0.5 * (S[a] + S[b]), T * D)
    sem = np.where(cnt > 0, sem, fallback)
    sem = np.clip(sem / max(region.max_relevancy, 1e-12), 0.0, 1.0)
    geo = np.repeat(q, T * D)
    ws, wg = cfg.semantic_weight, cfg.geometric_weight
    score = (ws * sem + wg * geo) / (ws + wg)
    avoid_score = None
    if A is not None:
        # closing region + finger path: |x| <= h + t (the gap and the fingers), |y| <= fw/2, z in [-L, 0]
        pe = np.flatnonzero(px <= hk + t)
        pe = pe[free.any(axis=(1, 2))[ek[pe]]]
        e_i, t_idx, d_idx = _box_hits(pu[pe], pv[pe], cos_t, sin_t, fw / 2, -L, 0.0, depths)
        kk = ek[pe[e_i]]
        gid_a = (kk * T + t_idx) * D + d_idx
        avoid_score = np.zeros(G)
        np.maximum.at(avoid_score, gid_a, A[ej[pe[e_i]]])
        score = score * (1.0 - np.minimum(1.0, max(float(avoid_weight), 0.0) * avoid_score))
    fidx = np.flatnonzero(free.reshape(-1))
    k_of, t_of, d_of = fidx // (T * D), (fidx // D) % T, fidx % D
    Rf = R[k_of, t_of]
    posf = c[k_of] + depths[d_of][:, None] * Rf[:, :, 2]
    kept = nms(posf, Rf, score[fidx], U(cfg.nms_distance), math.radians(cfg.nms_angle_deg), cfg.top_k)
    grasps: List[Grasp] = []
    for i in kept:
        gi, k = fidx[i], k_of[i]
        Rk = orthonormalize(Rf[i])
        gr = Grasp(
            position=posf[i].copy(),
            rotation=Rk,
            opening=float(min(2 * h[k], dims["max_opening"])),
            contact_width=float(width[k]),
            score=float(score[gi]),
            semantic_score=float(sem[gi]),
            geometric_score=float(geo[gi]),
            contacts=np.stack([pa[k], pb[k]]),
        )
        if avoid_score is not None:
            gr.avoid_score = float(avoid_score[gi])
            if handover_direction is not None and avoid_region is not None:
                gr.handover_rotation = handover_rotation(gr.rotation, gr.position, avoid_region.action_point,
                                                         handover_direction)
        if np.isfinite(gr.position).all() and np.isfinite(gr.rotation).all() and math.isfinite(gr.score):
            grasps.append(gr)
    counts["after_nms"] = len(grasps)
    lap("scoring")
    timings["total"] = (time.perf_counter() - T0) * 1e3
    warning = None if grasps else "no grasp survived scoring"
    return GraspResult(region=region, grasps=grasps, gripper=g, warning=warning, timings_ms=timings,
                       counts=counts, support_plane=plane)


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
