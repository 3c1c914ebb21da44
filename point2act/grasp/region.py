"""Section 1: the relevant region of the field."""

from __future__ import annotations


import numpy as np

from .config import GraspConfig, RegionConfig
from .result import Region
from .support import region_consensus, region_seen, region_votes

__all__ = ["relevant_region", "dbscan", "density_peak", "median_spacing", "peak_radius"]


def dbscan(points: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """DBSCAN labels (``-1`` = noise) of ``points`` [M, 3]: open3d's ``cluster_dbscan`` (a core point has
    at least ``min_points`` points, itself included, within ``eps``)."""
    import open3d as o3d

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return np.zeros(0, dtype=np.int64)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    return np.asarray(cloud.cluster_dbscan(float(eps), int(min_points), print_progress=False), dtype=np.int64)


def median_spacing(pts: np.ndarray, tree=None) -> float:
    """Median nearest-neighbour distance of ``pts`` [M, 3] (0 for fewer than 2 points); ``tree``: a
    ``cKDTree`` of ``pts`` already built."""
    if len(pts) < 2:
        return 0.0
    from scipy.spatial import cKDTree

    d, _ = (tree if tree is not None else cKDTree(pts)).query(pts, k=2)
    return float(np.median(d[:, 1]))


def region_eps(pts: np.ndarray, rc: RegionConfig, metres_per_unit: float) -> float:
    """DBSCAN radius in scene units. ``RegionConfig.scale_free`` (default): ``eps_scale_free_spacings``
    times the median nearest-neighbour spacing of the relevant Gaussians, from the field alone (a wrong
    or unknown ``metres_per_unit`` changes nothing). Otherwise ``dbscan_eps`` metres, never below
    ``eps_spacing_factor`` times that spacing (keeps a dense region whole when ``metres_per_unit``
    makes the metric radius tiny)."""
    spacing = median_spacing(pts) if len(pts) >= 3 else 0.0
    floor = rc.eps_spacing_factor * spacing if rc.eps_spacing_factor > 0 else 0.0
    if rc.scale_free and spacing > 0:
        return max(rc.eps_scale_free_spacings * spacing, floor)
    return max(rc.dbscan_eps / metres_per_unit, floor)


def density_peak(points: np.ndarray, weights: np.ndarray, radius: float, return_index: bool = False,
                 min_own: float = 0.0):
    """The point of ``points`` [M, 3] with the largest sum of ``weights`` [M] within ``radius`` (scene
    units; floored at the median nearest-neighbour spacing, so that a sparse region's points see
    their neighbours). Ties go to the first. ``min_own``: only points whose own weight is at least
    this fraction of the largest weight are candidates. ``return_index``: (point, its index)."""
    from scipy.spatial import cKDTree

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


def peak_radius(points: np.ndarray, weights: np.ndarray, rc: RegionConfig, metres_per_unit: float) -> float:
    """Neighbourhood radius of the "peak" action point, scene units. Scale-free (default):
    ``peak_radius_factor`` times the region's weighted RMS radius about its weighted centroid (a
    fraction of the region's own size), at least ``peak_spacing_factor`` median spacings of its
    Gaussians (a dense region's peak averages over its neighbours); else ``peak_radius`` metres. :func:`density_peak` floors
    it at the median spacing either way."""
    if not rc.scale_free:
        return rc.peak_radius / metres_per_unit
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        w = np.ones(len(points))
    c = (points * w[:, None]).sum(0) / w.sum()
    rms = float(np.sqrt((w * ((points - c) ** 2).sum(1)).sum() / w.sum()))
    return max(rc.peak_radius_factor * rms, rc.peak_spacing_factor * median_spacing(points))


def _link_groups(means: np.ndarray, low: np.ndarray, idx: np.ndarray, labels: np.ndarray, nclus: int,
                 eps: float, min_points: int) -> np.ndarray:  # -> [nclus] group of each cluster
    """Group the clusters (``labels`` [M] of the Gaussians ``idx`` [M]) that one cluster of the Gaussians
    ``low`` [N] (a lower relevancy threshold, same DBSCAN radius) joins; a cluster none joins is its own
    group."""
    lidx = np.flatnonzero(low)
    llab = dbscan(means[lidx], eps, min_points)
    pos = np.full(len(means), -1, dtype=np.int64)
    pos[lidx] = np.arange(len(lidx))
    group = np.full(nclus, -1, dtype=np.int64)
    for c in range(nclus):
        p = pos[idx[labels == c]]
        ll = llab[p[p >= 0]]
        ll = ll[ll >= 0]
        if len(ll):
            group[c] = int(np.bincount(ll).argmax())
    lone = group < 0
    group[lone] = group.max(initial=-1) + 1 + np.arange(int(lone.sum()))
    _, group = np.unique(group, return_inverse=True)
    return group.reshape(-1)


def relevant_region(
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    cfg: GraspConfig | None = None,
    support=None,
) -> Region:
    """Find where to act: threshold, cluster, choose a cluster, take its action point.

    Without ``support``: the cluster with the most relevancy mass (sum of relevancy * opacity).
    With ``support`` (a :class:`point2act.grasp.support.Support`: per-Gaussian supervised views that
    see it and mark it, and the views' votes), only *supported* Gaussians count: seen by
    ``RegionConfig.support_min_views`` supervised views (capped at the number of supervised views, never
    below 2 when there are 2), marked by one at least (and ``support_min_agreement`` of them). The
    cluster is chosen by the views' votes (``choose_region="votes"``: the cluster and the Gaussians
    within ``votes_radius_factor`` DBSCAN radii of it that carry the most of the views' target mass;
    "consensus": the most views marking one Gaussian); clusters within 10 % of the best tie and mass
    breaks the tie. Weights are relevancy * opacity * votes (``peak_weight``). A Gaussian seen by a
    single view therefore never becomes the action point when two or more views are supervised.

    The action point is the weighted density peak (a Gaussian centre whose own weight is at least
    ``peak_min_own`` of the region's largest, radius from the region's own scale: :func:`peak_radius`)
    or the weighted centroid (``RegionConfig.action_point``).

    ``means`` [N,3] Gaussian centres (capture frame), ``opacities`` [N] in [0,1]
    (activated, not logits), ``relevancy`` [N] in [0,1]. Raises ``ValueError``
    if no (supported) opaque Gaussian reaches the threshold. The returned region carries
    ``action_index`` (the action point's Gaussian, or None for the centroid) and ``support_level``
    ("supported", "seen", or None without support)."""
    cfg = cfg or GraspConfig()
    rc: RegionConfig = cfg.region if isinstance(cfg, GraspConfig) else cfg
    mpu = cfg.gripper.metres_per_unit if isinstance(cfg, GraspConfig) else 1.0
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    rel = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    if not (len(means) == len(opac) == len(rel)):
        raise ValueError(f"means ({len(means)}), opacities ({len(opac)}) and relevancy ({len(rel)}) differ in length")
    ok = np.isfinite(means).all(1) & np.isfinite(opac) & np.isfinite(rel) & (opac >= rc.min_opacity)
    if not ok.any():
        raise ValueError(f"no Gaussian has opacity >= {rc.min_opacity} (and finite values); no relevant region")
    rel_c = np.clip(rel, 0.0, 1.0)
    evidence = np.ones(len(rel))  # per Gaussian: the support's factor of the weights (peak_weight)
    voters = ok.copy()  # opaque, finite: whose votes count for a region near them
    level = None
    if support is not None:
        if rc.choose_region not in ("votes", "rate", "consensus"):
            raise ValueError(f"RegionConfig.choose_region must be 'votes', 'rate' or 'consensus', got {rc.choose_region!r}")
        if len(support) != len(rel):
            raise ValueError(f"support has {len(support)} Gaussians, relevancy {len(rel)}")
        k = support.min_views(rc.support_min_views)
        strong = ok & support.supported(rc.support_min_views, rc.support_min_agreement)
        seen = ok & (support.views_seen >= k) & (support.views_agree >= 1)
        if (strong & (rel_c >= rc.absolute_threshold)).any():
            ok, level = strong, "supported"
        elif (seen & (rel_c >= rc.absolute_threshold)).any():
            ok, level = seen, "seen"
        else:
            raise ValueError(
                f"no opaque Gaussian with relevancy >= {rc.absolute_threshold} is seen by {k} of the "
                f"{support.supervised_views} supervised views with at least one of them marking it "
                "(points on too few views, or views that disagree)"
            )
        if rc.peak_weight == "votes" and support.votes is not None:
            evidence = support.votes.astype(np.float64)
        elif rc.peak_weight in ("agreement", "votes"):
            evidence = support.agreement.astype(np.float64)
        else:
            raise ValueError(f"RegionConfig.peak_weight must be 'agreement' or 'votes', got {rc.peak_weight!r}")
    max_rel = float(rel_c[ok].max())
    thr = max(rc.threshold * max_rel, rc.absolute_threshold)
    sel = ok & (rel_c >= thr)
    if max_rel < rc.absolute_threshold or not sel.any():
        raise ValueError(
            f"no relevancy above threshold: max relevancy of opaque Gaussians is {max_rel:.4g}, "
            f"threshold is {thr:.4g} (relative {rc.threshold} x max, absolute floor {rc.absolute_threshold})"
        )
    idx = np.flatnonzero(sel)
    pts = means[idx]
    w = rel_c[idx] * opac[idx] * evidence[idx]
    eps = region_eps(pts, rc, mpu)
    labels = dbscan(pts, eps, rc.dbscan_min_points)
    nclus = int(labels.max() + 1) if len(labels) else 0
    if nclus == 0:
        # too sparse to cluster: treat all relevant Gaussians as one region
        members = np.arange(len(idx))
    else:
        lab = labels >= 0
        mass = np.bincount(labels[lab], weights=w[lab], minlength=nclus)
        if support is not None:
            if rc.choose_region in ("votes", "rate"):  # (region_votes falls back to the consensus without votes)
                score = region_votes(support, labels, idx, nclus, means, eps * rc.votes_radius_factor, voters)
                if rc.choose_region == "rate" and support.votes is not None and support.view_weight is not None:
                    seen_by = region_seen(support, labels, idx, nclus, rc.rate_min_weight)
                    cand = score >= rc.rate_min_votes * score.max()
                    score = np.where(cand, score / np.maximum(seen_by, 1.0), 0.0)
            else:
                score = region_consensus(support, labels, idx, nclus)
            group = None
            if rc.link_threshold > 0 and rc.choose_region == "votes" and nclus > 1:
                group = _link_groups(means, ok & (rel_c >= max(rc.link_threshold * thr, rc.absolute_threshold)),
                                     idx, labels, nclus, eps, rc.dbscan_min_points)
            if group is not None:  # the group with the most votes, then its cluster with the most
                gscore = np.bincount(group, weights=score)
                gtied = gscore >= 0.9 * gscore.max()
                gmass = np.bincount(group, weights=mass)
                g = int(np.argmax(np.where(gtied, gmass, -np.inf)))
                score = np.where(group == g, score, -np.inf)
            tied = score >= 0.9 * score.max()
            best = int(np.argmax(np.where(tied, mass, -np.inf)))
        else:
            best = int(np.argmax(mass))
        members = np.flatnonzero(labels == best)
    cons = getattr(support, "consensus", None) if support is not None else None
    if cons is not None:
        # the views' consensus chose the place and its action point (:mod:`point2act.grasp.consensus`); the
        # region is the relevant cluster that holds it (the Gaussians nearest to it), for the grasps
        target = np.asarray(cons.best.point, dtype=np.float64)
        near = int(np.argmin(np.linalg.norm(pts - target, axis=1)))
        members = np.flatnonzero(labels == labels[near]) if nclus > 0 and labels[near] >= 0 else np.array([near])
    mp, mw = pts[members], w[members]
    action = (mp * mw[:, None]).sum(0) / max(mw.sum(), 1e-300) if mw.sum() > 0 else mp.mean(0)
    action_index = None
    if cons is not None:
        action = target.copy()
        action_index = int(idx[members[int(np.argmin(np.linalg.norm(mp - target, axis=1)))]])
    elif rc.action_point == "peak":
        if len(mp) > 1:
            action, j = density_peak(mp, mw, peak_radius(mp, mw, rc, mpu), return_index=True,
                                     min_own=rc.peak_min_own)
        else:
            action, j = mp[0].copy(), 0
        action_index = int(idx[members[j]])
    elif rc.action_point != "centroid":
        raise ValueError(f"RegionConfig.action_point must be 'peak' or 'centroid', got {rc.action_point!r}")
    p = float(np.clip(rc.extent_percentile, 0.0, 49.0))
    lo, hi = (np.percentile(mp, p, axis=0), np.percentile(mp, 100 - p, axis=0)) if p > 0 else (mp.min(0), mp.max(0))
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
        support_level=level,
    )
