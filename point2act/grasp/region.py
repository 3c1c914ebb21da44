"""Section 1: the relevant region of the field."""

from __future__ import annotations


import numpy as np

from point2act.grasp.config import (
    ABSOLUTE_THRESHOLD,
    DBSCAN_MIN_POINTS,
    EPS_SPACINGS,
    EXTENT_PERCENTILE,
    PEAK_MIN_OWN,
    PEAK_RADIUS_FACTOR,
    PEAK_SPACING_FACTOR,
    REGION_MIN_OPACITY,
    GraspConfig,
    RegionConfig,
)
from point2act.grasp.result import Region

__all__ = ["relevant_region", "dbscan", "density_peak", "median_spacing", "peak_radius"]


def dbscan(points: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """DBSCAN labels [M] (``-1`` = noise) of ``points`` [M, 3]: the labels open3d's ``cluster_dbscan(eps,
    min_points)`` gives, numbers included.

    Neighbours of a point: the points at squared distance ``(dx*dx + dy*dy) + dz*dz < eps*eps`` (strictly, in
    float64, the point itself included: open3d's KD-tree radius search). A core point has at least
    ``min_points`` neighbours. A cluster is a connected component of the core points (two are linked when
    neighbours); clusters are numbered 0, 1, ... in the order of their lowest-index core point (the order
    open3d's scan over the points meets them). A non-core point with a core neighbour takes the lowest label
    among its core neighbours' clusters (the first cluster whose expansion reaches it); the others are
    noise. Neighbour pairs come from a ``cKDTree`` with a slightly larger radius, then the exact test above.
    Check: ``tests/grasp/test_open3d_free.py`` compares the labels with open3d's."""
    from point2act._scipy import cKDTree
    from point2act.pair_graph import components

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    r2 = float(eps) * float(eps)
    if r2 > 0:
        pairs = cKDTree(pts).query_pairs(float(eps) * (1 + 1e-6), output_type="ndarray")  # [P, 2], i < j
        i, j = pairs[:, 0], pairs[:, 1]
        x, y, z = pts.T.copy()
        dx, dy, dz = x[i] - x[j], y[i] - y[j], z[i] - z[j]  # [P] each
        near = (dx * dx + dy * dy) + dz * dz < r2
        i, j = i[near], j[near]
    else:
        i = j = np.zeros(0, np.int64)
    count = int(r2 > 0) + np.bincount(i, minlength=n) + np.bincount(j, minlength=n)  # [M], self included
    core = count >= int(min_points)
    labels = np.full(n, -1, dtype=np.int64)
    cores = np.flatnonzero(core)  # ascending
    if len(cores) == 0:
        return labels
    both = core[i] & core[j]
    comp = components(n, np.stack([i[both], j[both]], 1))  # [M]; non-core points are their own
    cc = comp[cores]
    _, first = np.unique(cc, return_index=True)  # each component's lowest core point (among ``cores``)
    rank = np.empty(int(comp.max()) + 1, dtype=np.int64)
    rank[cc[np.sort(first)]] = np.arange(len(first))
    labels[cores] = rank[cc]
    one = core[i] != core[j]  # a core point and a non-core one
    if one.any():
        border = np.where(core[i[one]], j[one], i[one])
        by = np.where(core[i[one]], i[one], j[one])
        best = np.full(n, len(first), dtype=np.int64)
        np.minimum.at(best, border, labels[by])
        hit = best < len(first)
        labels[hit] = best[hit]
    return labels


def median_spacing(pts: np.ndarray, tree=None) -> float:
    """Median nearest-neighbour distance of ``pts`` [M, 3] (0 for fewer than 2 points); ``tree``: a
    ``cKDTree`` of ``pts`` already built."""
    if len(pts) < 2:
        return 0.0
    from point2act._scipy import cKDTree

    d, _ = (tree if tree is not None else cKDTree(pts)).query(pts, k=2)
    return float(np.median(d[:, 1]))


def region_eps(pts: np.ndarray) -> float:
    """DBSCAN radius in scene units: ``EPS_SPACINGS`` median nearest-neighbour spacings of the relevant
    Gaussians ``pts`` [M, 3] (from the field alone: a wrong or unknown ``metres_per_unit`` changes
    nothing)."""
    spacing = median_spacing(pts) if len(pts) >= 3 else 0.0
    return EPS_SPACINGS * spacing if spacing > 0 else 1e-9


def density_peak(points: np.ndarray, weights: np.ndarray, radius: float, return_index: bool = False,
                 min_own: float = 0.0):
    """The point of ``points`` [M, 3] with the largest sum of ``weights`` [M] within ``radius`` (scene
    units; floored at the median nearest-neighbour spacing, so that a sparse region's points see
    their neighbours). Ties go to the first. ``min_own``: only points whose own weight is at least
    this fraction of the largest weight are candidates. ``return_index``: (point, its index)."""
    from point2act._scipy import cKDTree

    tree = cKDTree(points)
    if len(points) >= 3:
        radius = max(radius, median_spacing(points, tree))
    pairs = tree.query_pairs(radius, output_type="ndarray")
    weights = np.asarray(weights, dtype=np.float64)
    dens = weights.copy()
    if len(pairs):
        np.add.at(dens, pairs[:, 0], weights[pairs[:, 1]])
        np.add.at(dens, pairs[:, 1], weights[pairs[:, 0]])
    if min_own > 0 and len(weights):
        dens = np.where(weights >= min_own * weights.max(), dens, -np.inf)
    i = int(np.argmax(dens))
    return (points[i].copy(), i) if return_index else points[i].copy()


def peak_radius(points: np.ndarray, weights: np.ndarray) -> float:
    """Neighbourhood radius of the "peak" action point, scene units: ``PEAK_RADIUS_FACTOR`` times the
    region's weighted RMS radius about its weighted centroid (a fraction of the region's own size), at
    least ``PEAK_SPACING_FACTOR`` median spacings of its Gaussians. :func:`density_peak` floors it at
    the median spacing."""
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones(len(points))
    c = (points * w[:, None]).sum(0) / w.sum()
    rms = float(np.sqrt((w * ((points - c) ** 2).sum(1)).sum() / w.sum()))
    return max(PEAK_RADIUS_FACTOR * rms, PEAK_SPACING_FACTOR * median_spacing(points))


def relevant_region(
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    cfg: GraspConfig | RegionConfig | None = None,
    support=None,
) -> Region:
    """Find where to act: threshold, cluster, choose a cluster, take its action point.

    ``support``: the views' :class:`~point2act.where.consensus.Consensus` (capture frame), from the run's
    own points (``point2act export``). Its chosen place gives the action point, and the region is the
    part of the relevant cluster holding the Gaussian nearest to it that the views marked (within a blob's
    radius of the place's lifted answers: what the grasp head seeds from and holds), or, where that
    Gaussian is no cluster's or the cluster lies outside the mark, the relevant Gaussians the views marked. Without it,
    the region is the cluster with the most relevancy mass (sum of relevancy * opacity), and the action
    point its weighted density peak (a Gaussian centre whose own weight is at least ``PEAK_MIN_OWN`` of
    the region's largest, radius from the region's own size: :func:`peak_radius`) or its weighted
    centroid (``RegionConfig.action_point``).

    ``means`` [N,3] Gaussian centres (capture frame), ``opacities`` [N] in [0,1] (activated, not
    logits), ``relevancy`` [N] in [0,1]. Raises ``ValueError`` if no opaque Gaussian reaches the
    threshold. The returned region carries ``action_index`` (the Gaussian nearest the action point, or
    None for the centroid)."""
    cfg = cfg or GraspConfig()
    rc: RegionConfig = cfg.region if isinstance(cfg, GraspConfig) else cfg
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    rel = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    if not (len(means) == len(opac) == len(rel)):
        raise ValueError(f"means ({len(means)}), opacities ({len(opac)}) and relevancy ({len(rel)}) differ in length")
    if rc.action_point not in ("peak", "centroid"):
        raise ValueError(f"RegionConfig.action_point must be 'peak' or 'centroid', got {rc.action_point!r}")
    ok = np.isfinite(means).all(1) & np.isfinite(opac) & np.isfinite(rel) & (opac >= REGION_MIN_OPACITY)
    if not ok.any():
        raise ValueError(f"no Gaussian has opacity >= {REGION_MIN_OPACITY} (and finite values); no relevant region")
    rel_c = np.clip(rel, 0.0, 1.0)
    # with the views' consensus, the part they marked: the Gaussians within a blob's radius of its
    # place's answers. The bar is relative to the most relevant of them (answers elsewhere, which the
    # field also learned, do not raise it)
    cover = support.best.covers(means) & ok if support is not None else None
    fp = cover & (rel_c > 0) if cover is not None else None
    scope = fp if fp is not None and fp.any() else ok
    max_rel = float(rel_c[scope].max())
    thr = max(rc.threshold * max_rel, ABSOLUTE_THRESHOLD)
    sel = ok & (rel_c >= thr)
    if max_rel < ABSOLUTE_THRESHOLD and cover is not None and cover.any():
        # the views agree on a place whose Gaussians the field's relevancy did not learn (a short run, a
        # part few views supervise): the part they marked is the region, whatever its relevancy
        sel, thr = cover, 0.0
    elif max_rel < ABSOLUTE_THRESHOLD or not sel.any():
        raise ValueError(
            f"no relevancy above threshold: max relevancy of opaque Gaussians is {max_rel:.4g}, "
            f"threshold is {thr:.4g} (relative {rc.threshold} x max, absolute floor {ABSOLUTE_THRESHOLD})"
        )
    idx = np.flatnonzero(sel)
    pts = means[idx]
    w = rel_c[idx] * opac[idx]
    labels = dbscan(pts, region_eps(pts), DBSCAN_MIN_POINTS)
    nclus = int(labels.max() + 1) if len(labels) else 0
    target = None
    if support is not None:
        target = np.asarray(support.best.point, dtype=np.float64).reshape(3)
        near = int(np.argmin(np.linalg.norm(pts - target, axis=1)))
        members = np.flatnonzero(labels == labels[near]) if labels[near] >= 0 else np.array([near])
        # what the views marked: the cluster's Gaussians within a blob's radius of the place's answers (a
        # cluster can chain across the scene; a lone Gaussian is no part), else the relevant ones there
        marked = cover[idx] if cover is not None else np.zeros(len(idx), bool)
        if marked[members].any() and labels[near] >= 0:
            members = members[marked[members]]
        elif marked.any():
            members = np.flatnonzero(marked)
    elif nclus == 0:  # too sparse to cluster: all relevant Gaussians are one region
        members = np.arange(len(idx))
    else:
        lab = labels >= 0
        members = np.flatnonzero(labels == int(np.argmax(np.bincount(labels[lab], weights=w[lab], minlength=nclus))))
    mp, mw = pts[members], w[members]
    action_index = None
    if target is not None:
        action = target.copy()
        action_index = int(idx[members[int(np.argmin(np.linalg.norm(mp - target, axis=1)))]])
    elif rc.action_point == "peak":
        if len(mp) > 1:
            action, j = density_peak(mp, mw, peak_radius(mp, mw), return_index=True, min_own=PEAK_MIN_OWN)
        else:
            action, j = mp[0].copy(), 0
        action_index = int(idx[members[j]])
    else:
        action = (mp * mw[:, None]).sum(0) / mw.sum() if mw.sum() > 0 else mp.mean(0)
    lo, hi = np.percentile(mp, EXTENT_PERCENTILE, axis=0), np.percentile(mp, 100 - EXTENT_PERCENTILE, axis=0)
    return Region(
        action_point=action,
        center=0.5 * (lo + hi),
        extent=hi - lo,
        num_gaussians=int(len(members)),
        indices=idx[members],
        relevancy_mass=float(mw.sum()),
        threshold=float(thr),
        max_relevancy=max_rel,
        num_clusters=max(nclus, 1),
        action_index=action_index,
        support_level="consensus" if target is not None else None,
    )
