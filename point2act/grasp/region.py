"""Section 1: the relevant region of the field."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .config import GraspConfig, RegionConfig
from .result import Region

__all__ = ["relevant_region", "dbscan"]


def dbscan(points: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """DBSCAN labels (``-1`` = noise) with a KD-tree; same definition as
    open3d's ``cluster_dbscan`` (a core point has at least ``min_points``
    points, itself included, within ``eps``). Border points join the cluster
    of their first core neighbour."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    tree = cKDTree(points)
    pairs = tree.query_pairs(eps, output_type="ndarray")  # i < j
    counts = np.ones(n, dtype=np.int64)
    if len(pairs):
        counts += np.bincount(pairs[:, 0], minlength=n) + np.bincount(pairs[:, 1], minlength=n)
    core = counts >= min_points
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels
    cc = pairs[core[pairs[:, 0]] & core[pairs[:, 1]]] if len(pairs) else pairs
    g = coo_matrix((np.ones(len(cc)), (cc[:, 0], cc[:, 1])), shape=(n, n)) if len(cc) else coo_matrix((n, n))
    _, comp = connected_components(g, directed=False)
    # relabel core components 0..k-1
    core_idx = np.flatnonzero(core)
    _, lab = np.unique(comp[core_idx], return_inverse=True)
    labels[core_idx] = lab
    # border points: attach to a core neighbour
    if len(pairs):
        for a, b in ((0, 1), (1, 0)):
            m = core[pairs[:, a]] & ~core[pairs[:, b]]
            border = pairs[m, b]
            labels[border] = labels[pairs[m, a]]
    return labels


def region_eps(pts: np.ndarray, rc: RegionConfig, metres_per_unit: float) -> float:
    """DBSCAN radius in scene units: ``dbscan_eps`` metres, but never below ``eps_spacing_factor``
    times the median nearest-neighbour spacing of the relevant Gaussians. The floor keeps a dense
    region in one piece when ``metres_per_unit`` is unknown (a COLMAP scan left at 1.0), where a
    fixed metric radius would shatter it into specks."""
    eps = rc.dbscan_eps / metres_per_unit
    if rc.eps_spacing_factor > 0 and len(pts) >= 3:
        from scipy.spatial import cKDTree

        d, _ = cKDTree(pts).query(pts, k=2)
        eps = max(eps, rc.eps_spacing_factor * float(np.median(d[:, 1])))
    return eps


def density_peak(points: np.ndarray, weights: np.ndarray, radius: float) -> np.ndarray:  # [3]
    """The point of ``points`` [M, 3] with the largest sum of ``weights`` [M] within ``radius`` (scene
    units; floored at the median nearest-neighbour spacing, so that a sparse region's points see
    their neighbours). Ties go to the first."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points)
    if len(points) >= 3:
        d, _ = tree.query(points, k=2)
        radius = max(radius, float(np.median(d[:, 1])))
    pairs = tree.query_pairs(radius, output_type="ndarray")
    dens = np.asarray(weights, dtype=np.float64).copy()
    if len(pairs):
        np.add.at(dens, pairs[:, 0], weights[pairs[:, 1]])
        np.add.at(dens, pairs[:, 1], weights[pairs[:, 0]])
    return points[int(np.argmax(dens))].copy()


def relevant_region(
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    cfg: Optional[GraspConfig] = None,
) -> Region:
    """Find where to act: threshold, cluster, keep the cluster with the most
    relevancy mass (sum of relevancy * opacity); its action point is the relevancy density peak
    (or the weighted centroid, ``RegionConfig.action_point``).

    ``means`` [N,3] Gaussian centres (capture frame), ``opacities`` [N] in [0,1]
    (activated, not logits), ``relevancy`` [N] in [0,1]. Raises ``ValueError``
    if no opaque Gaussian reaches the threshold."""
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
    w = rel_c[idx] * opac[idx]
    labels = dbscan(pts, region_eps(pts, rc, mpu), rc.dbscan_min_points)
    nclus = int(labels.max() + 1) if len(labels) else 0
    if nclus == 0:
        # too sparse to cluster: treat all relevant Gaussians as one region
        members = np.arange(len(idx))
    else:
        mass = np.bincount(labels[labels >= 0], weights=w[labels >= 0], minlength=nclus)
        best = int(np.argmax(mass))
        members = np.flatnonzero(labels == best)
    mp, mw = pts[members], w[members]
    action = (mp * mw[:, None]).sum(0) / max(mw.sum(), 1e-300) if mw.sum() > 0 else mp.mean(0)
    if rc.action_point == "peak" and len(mp) > 1:
        action = density_peak(mp, mw, rc.peak_radius / mpu)
    elif rc.action_point not in ("peak", "centroid"):
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
    )
