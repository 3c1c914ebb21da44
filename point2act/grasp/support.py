"""Multi-view support of the relevancy field: how many supervised views see each Gaussian, and agree.

A Gaussian's relevancy is fitted to the heatmaps of the views it is composited into. One that only a
view or two see (hidden under the table, behind the target from the pointing views) is pushed by
Adam towards whatever those views say, with nothing to contradict it: it can end up with relevancy
1 although no view *shows* it as the target. Support counts the evidence:

- ``views_seen[i]``: supervised views in which Gaussian ``i``'s total compositing weight
  (sum over pixels of alpha * T) exceeds ``tau``;
- ``views_agree[i]``: those of them where the weighted mean of the target heatmap over its pixels
  is above ``positive`` (default 0.5), or where the Gaussian carries at least ``share`` (default 0.25)
  of the view's target mass, ``sum_p w_ip t_p / sum_p t_p``: a coarse Gaussian, larger than the
  heatmap's blob, averages the blob with its surroundings but still holds the point. Views answering
  ``[]`` (all-zero target) see it and disagree;
- ``agreement = views_agree / views_seen``;
- ``votes[i]``: the sum over supervised views of the *share* of the view's target mass that Gaussian
  ``i`` carries, ``sum_p w_ip t_p / sum_p t_p``. A view's shares sum to at most 1 over all Gaussians,
  so the votes of a set of Gaussians (a candidate region) count the views that point at it, each view
  splitting one vote between the places its points land on: :func:`region_votes`.

**Depth gate** (``gates``, :class:`ViewGate`): a point marks the surface at the picked pixel, but its
2D blob also covers whatever lies behind or in front of that surface within the blob (the inside of a
mug around a rim point, the mug body behind a thin handle). With a gate, each compositing weight
``w_ip`` counts ``t_p * exp(-(z_i - z_k)^2 / (2 ((f sigma_z)^2 + s_i^2)))``, with

- ``z_i`` the Gaussian's camera depth and ``s_i`` its standard deviation along the ray
  (``ViewGate.depth_std``; 0 when not given);
- ``z_k`` the depth of the surface at the point ``k`` whose blob covers pixel ``p`` (the nearest point:
  blobs share one sigma), the weighted median depth of the Gaussians composited at the picked pixel;
- ``sigma_z = sigma_px * z_k / focal`` the blob's own radius at that depth and ``f`` the gate factor.

The 2D blob becomes a 3D one around the picked surface point; ``s_i`` widens it, so that on a coarse
field large Gaussians whose centres lie off the surface are not gated away. A view's shares are then
taken of its gated target mass (they still sum to one).

:func:`relevant_region <point2act.grasp.region.relevant_region>` takes a :class:`Support` and keeps
only Gaussians with ``views_seen >= k`` and enough agreement.

Plain numpy/torch; the compositing weights come as a CSR matrix (the layout of
:class:`point2act.relevancy_fit.WeightsCache`: rows = pixels of the stacked views, columns = Gaussians).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Sequence

import numpy as np

__all__ = ["Support", "ViewGate", "Evidence", "answer_evidence", "depth_gate", "view_support", "support_from_dense", "support_from_cache", "region_support", "region_votes", "region_seen", "region_consensus"]


@dataclass
class Support:
    """Per-Gaussian multi-view evidence (see the module docstring)."""

    views_seen: np.ndarray  # [N] int
    """Supervised views in which the Gaussian is visible (total weight > tau)."""
    views_agree: np.ndarray  # [N] int
    """Of those, views whose target is positive (> ``positive``) where it is drawn."""
    supervised_views: int
    """Views with a target (points or ``[]``)."""
    weight: np.ndarray | None = None  # [N] float
    """Total compositing weight over the supervised views (pixels)."""
    votes: np.ndarray | None = None  # [N] float
    """Sum over supervised views of the share of the view's target mass the Gaussian carries (None:
    not computed; see the module docstring)."""
    view_weight: Any = None  # [V, N] scipy.sparse CSR
    """Per supervised view, the total compositing weight of each Gaussian it sees (weight > tau; None:
    not kept): which views see a candidate region, for :func:`region_seen`."""
    evidence: "Evidence | None" = None
    """Per supervised view and Gaussian, how visible it is and how close its projection lies to the
    view's answer (:func:`answer_evidence`); None: not computed."""
    consensus: Any = None
    """The views' :class:`~point2act.grasp.consensus.Consensus` (capture frame); None: not computed."""

    def __post_init__(self) -> None:
        self.views_seen = np.asarray(self.views_seen, dtype=np.int64).reshape(-1)
        self.views_agree = np.asarray(self.views_agree, dtype=np.int64).reshape(-1)
        if self.views_seen.shape != self.views_agree.shape:
            raise ValueError("views_seen and views_agree differ in length")
        if np.any(self.views_agree > self.views_seen) or np.any(self.views_seen < 0):
            raise ValueError("views_agree must be <= views_seen, both >= 0")
        self.supervised_views = int(self.supervised_views)
        if self.votes is not None:
            self.votes = np.asarray(self.votes, dtype=np.float64).reshape(-1)
            if self.votes.shape != self.views_seen.shape:
                raise ValueError("votes and views_seen differ in length")

    def __len__(self) -> int:
        return int(self.views_seen.shape[0])

    @property
    def agreement(self) -> np.ndarray:  # [N] in [0, 1]
        return self.views_agree / np.maximum(self.views_seen, 1)

    def min_views(self, k: int) -> int:
        """The views a Gaussian must be seen by: ``k``, but never more than there are supervised views,
        and at least 2 whenever there are 2 (one view is never support)."""
        return int(max(min(int(k), self.supervised_views), min(2, self.supervised_views), 1))

    def supported(self, k: int, min_agreement: float) -> np.ndarray:  # [N] bool
        """Seen by :meth:`min_views` views, with ``agreement >= min_agreement`` and at least one agreeing view."""
        return (self.views_seen >= self.min_views(k)) & (self.agreement >= min_agreement) & (self.views_agree >= 1)

    def subset(self, idx) -> "Support":
        w = self.weight[idx] if self.weight is not None else None
        v = self.votes[idx] if self.votes is not None else None
        vw = self.view_weight[:, idx] if self.view_weight is not None else None
        ev = self.evidence.subset(idx) if self.evidence is not None else None
        return Support(self.views_seen[idx], self.views_agree[idx], self.supervised_views, w, v, vw, ev)


@dataclass
class ViewGate:
    """What the depth gate of one view needs (see the module docstring), at the weights' resolution."""

    depth: np.ndarray  # [N]
    """Camera-space depth (z) of every Gaussian's centre in this view."""
    points: np.ndarray  # [P, 2]
    """The view's points, (x, y) pixels with the origin at the top-left corner."""
    sigma_px: float
    """The heatmap blob's sigma, pixels."""
    focal: float
    """Focal length, pixels."""
    width: int
    """Image width, pixels (rows of the weights are pixels in row-major order)."""
    depth_std: np.ndarray | None = None  # [N]
    """Standard deviation of every Gaussian along the view's depth axis (None: points): a large Gaussian
    (a coarse field) whose centre lies off the picked depth still spans it, and is gated by
    ``sqrt((factor sigma_z)^2 + depth_std^2)``."""


@dataclass
class Evidence:
    """What each supervised view says about each Gaussian, in that view's own pixels.

    ``visible[v, i]`` in [0, 1]: the fraction of Gaussian ``i``'s unoccluded footprint that view ``v``
    composites (its total compositing weight over ``alpha_i * 2 pi sqrt(det Sigma2d)``, the integral of
    the Gaussian's alpha over an unbounded image): the mean transmittance over its footprint, 0 behind
    an opaque surface, 1 in the open. ``agree[v, i] = visible[v, i] * exp(-d^2 / (2 sigma_v^2))``, ``d``
    the pixel distance from the Gaussian's projected centre to the view's nearest answer point and
    ``sigma_v`` the heatmap's blob radius in that view (the precision the supervision claims). A view
    answering ``[]`` sees and does not agree. Both are scipy CSR ``[V, N]`` over the Gaussians the view
    composites at all."""

    visible: Any  # [V, N] scipy.sparse CSR
    agree: Any  # [V, N] scipy.sparse CSR
    answered: np.ndarray  # [V] bool: the view gave at least one point

    @property
    def views(self) -> int:
        return int(self.visible.shape[0])

    def seen(self) -> np.ndarray:  # [N]
        """Soft count of the views that see each Gaussian."""
        return np.asarray(self.visible.sum(0)).reshape(-1)

    def agreeing(self) -> np.ndarray:  # [N]
        """Soft count of the views that see each Gaussian and point at it."""
        return np.asarray(self.agree.sum(0)).reshape(-1)

    def subset(self, idx) -> "Evidence":
        return Evidence(self.visible[:, idx], self.agree[:, idx], self.answered)


def answer_evidence(
    means: np.ndarray,  # [N, 3] (the frame of the viewmats)
    quats: np.ndarray,  # [N, 4] wxyz
    scales: np.ndarray,  # [N, 3] linear
    opacities: np.ndarray,  # [N] in [0, 1]
    view_weight,  # [V, N] scipy.sparse CSR: total compositing weight per view and Gaussian
    viewmats: np.ndarray,  # [V, 4, 4] world -> camera (OpenCV)
    Ks: np.ndarray,  # [V, 3, 3] at the weights' resolution
    sizes: Sequence,  # V x (H, W) at the weights' resolution
    points: Sequence[np.ndarray],  # V x [P_v, 2] answers, pixels at the weights' resolution
    sigma_px: Sequence[float],  # [V] heatmap blob sigma, pixels at the weights' resolution
) -> Evidence:
    """:class:`Evidence` of every supervised view (see there)."""
    import torch
    from scipy.sparse import csr_matrix

    from point2act.render.projection import fully_fused_projection

    vw = view_weight.tocsr()
    V, N = vw.shape
    means_t = torch.as_tensor(np.asarray(means, dtype=np.float32))
    quats_t = torch.as_tensor(np.asarray(quats, dtype=np.float32))
    scales_t = torch.as_tensor(np.asarray(scales, dtype=np.float32))
    opac = np.asarray(opacities, dtype=np.float64).reshape(-1)
    vis_rows, agr_rows = [], []
    answered = np.zeros(V, dtype=bool)
    for v in range(V):
        a, b = vw.indptr[v], vw.indptr[v + 1]
        cols = vw.indices[a:b]
        w = vw.data[a:b].astype(np.float64)
        H, W = int(sizes[v][0]), int(sizes[v][1])
        with torch.no_grad():
            _r, m2d, _z, conics, _c = fully_fused_projection(
                means_t[cols], None, quats_t[cols], scales_t[cols],
                torch.as_tensor(np.asarray(viewmats[v], dtype=np.float32))[None],
                torch.as_tensor(np.asarray(Ks[v], dtype=np.float32))[None], W, H)
        m2d = m2d[0].double().numpy()
        con = conics[0].double().numpy()
        det = np.clip(con[:, 0] * con[:, 2] - con[:, 1] ** 2, 1e-30, None)
        full = opac[cols] * 2.0 * np.pi / np.sqrt(det)
        vis = np.clip(w / np.maximum(full, 1e-30), 0.0, 1.0)
        pts = np.asarray(points[v], dtype=np.float64).reshape(-1, 2)
        if len(pts):
            answered[v] = True
            from scipy.spatial import cKDTree

            d, _ = cKDTree(pts).query(m2d)
            near = np.exp(-0.5 * (d / float(sigma_px[v])) ** 2)
        else:
            near = np.zeros(len(cols))
        vis_rows.append((np.full(len(cols), v), cols, vis))
        agr_rows.append((np.full(len(cols), v), cols, vis * near))

    def mat(rows):
        r = np.concatenate([x[0] for x in rows]) if rows else np.zeros(0, np.int64)
        c = np.concatenate([x[1] for x in rows]) if rows else np.zeros(0, np.int64)
        d = np.concatenate([x[2] for x in rows]) if rows else np.zeros(0)
        return csr_matrix((d, (r, c)), shape=(V, N))

    return Evidence(mat(vis_rows), mat(agr_rows), answered)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    o = np.argsort(values, kind="stable")
    c = np.cumsum(weights[o])
    return float(values[o][np.searchsorted(c, 0.5 * c[-1])])


def depth_gate(
    crow: np.ndarray,  # [H*W + 1]
    col: np.ndarray,  # [nnz]
    val: np.ndarray,  # [nnz]
    gate: ViewGate,
    factor: float = 1.0,
) -> np.ndarray:  # [nnz] in [0, 1]
    """Per compositing weight of one view, the depth gate
    ``exp(-(z_i - z_k)^2 / (2 ((factor sigma_z)^2 + depth_std_i^2)))`` (module docstring). Pixels whose point has no Gaussian at its pixel (off the image, background) are
    not gated (1)."""
    crow = np.asarray(crow, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    val = np.asarray(val, dtype=np.float64)
    z = np.asarray(gate.depth, dtype=np.float64).reshape(-1)
    pts = np.asarray(gate.points, dtype=np.float64).reshape(-1, 2)
    n_pix = crow.shape[0] - 1
    out = np.ones(len(col))
    if len(pts) == 0 or len(col) == 0 or factor <= 0:
        return out
    W = int(gate.width)
    H = n_pix // W
    ref = np.full(len(pts), np.nan)
    for k, (x, y) in enumerate(pts):
        j, i = int(np.floor(x)), int(np.floor(y))
        if not (0 <= i < H and 0 <= j < W):
            continue
        a, b = crow[i * W + j], crow[i * W + j + 1]
        if b > a and val[a:b].sum() > 0:
            ref[k] = _weighted_median(z[col[a:b]], val[a:b])
    rows = np.repeat(np.arange(n_pix), np.diff(crow))
    yy, xx = np.divmod(np.arange(n_pix), W)
    centres = np.stack([xx + 0.5, yy + 0.5], 1)
    from scipy.spatial import cKDTree

    owner = cKDTree(pts).query(centres)[1]  # the point whose blob is largest at each pixel
    zr = ref[owner][rows]
    sz = factor * float(gate.sigma_px) * zr / float(gate.focal)
    ok = np.isfinite(zr) & (sz > 0)
    var = sz[ok] ** 2
    if gate.depth_std is not None:
        var = var + np.asarray(gate.depth_std, dtype=np.float64).reshape(-1)[col[ok]] ** 2
    out[ok] = np.exp(-0.5 * (z[col[ok]] - zr[ok]) ** 2 / var)
    return out


def view_support(
    crow: np.ndarray,  # [H*W + 1]
    col: np.ndarray,  # [nnz]
    val: np.ndarray,  # [nnz]
    target: np.ndarray,  # [H*W] in [0, 1]
    num_gaussians: int,
    tau: float,
    positive: float = 0.5,
    share: float = 0.25,
    gate: np.ndarray | None = None,  # [nnz]
):
    """One view: (seen [N] bool, agree [N] bool, weight [N], share [N]) from its CSR compositing weights
    and target (share: the fraction of the view's target mass each Gaussian carries). ``gate``: the
    per-weight depth gate (:func:`depth_gate`); the shares are then of the gated target mass."""
    crow = np.asarray(crow, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    val = np.asarray(val, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    if t.shape[0] != crow.shape[0] - 1:
        raise ValueError(f"target has {t.shape[0]} pixels, the weights {crow.shape[0] - 1} rows")
    rows = np.repeat(np.arange(t.shape[0]), np.diff(crow))
    w = np.bincount(col, weights=val, minlength=num_gaussians)
    te = t[rows] if gate is None else t[rows] * np.asarray(gate, dtype=np.float64)
    wt = np.bincount(col, weights=val * te, minlength=num_gaussians)
    mass = float(t.sum()) if gate is None else float((val * te).sum())
    return _seen_agree(w, wt, mass, tau, positive, share)


def _seen_agree(w: np.ndarray, wt: np.ndarray, mass: float, tau: float, positive: float, share: float):
    """(seen, agree, w, share of the target mass) from a view's per-Gaussian total weight ``w`` and
    target-weighted weight ``wt``."""
    seen = w > tau
    mean_t = wt / np.maximum(w, 1e-30)
    frac = wt / mass if mass > 0 else np.zeros_like(w)
    holds = (frac >= share) if mass > 0 else np.zeros_like(seen)
    return seen, seen & ((mean_t > positive) | holds), w, frac


def _accumulate(per_view, n: int, views: int) -> Support:
    from scipy.sparse import csr_matrix

    seen_n = np.zeros(n, dtype=np.int64)
    agree_n = np.zeros(n, dtype=np.int64)
    total = np.zeros(n, dtype=np.float64)
    votes = np.zeros(n, dtype=np.float64)
    rows, cols, vals = [], [], []
    for v, (seen, agree, w, frac) in enumerate(per_view):
        seen_n += seen
        agree_n += agree
        total += w
        votes += frac
        j = np.flatnonzero(seen)
        rows.append(np.full(len(j), v, dtype=np.int64))
        cols.append(j)
        vals.append(w[j].astype(np.float32))
    vw = csr_matrix((np.concatenate(vals) if vals else np.zeros(0, np.float32),
                     (np.concatenate(rows) if rows else np.zeros(0, np.int64),
                      np.concatenate(cols) if cols else np.zeros(0, np.int64))), shape=(len(per_view), n))
    return Support(seen_n, agree_n, views, total, votes, vw)


def support_from_dense(weights: Sequence[np.ndarray], targets: Sequence[np.ndarray], tau: float,
                       positive: float = 0.5, share: float = 0.25) -> Support:
    """From dense per-view weights ``[P_v, N]`` and targets ``[P_v]`` (tests, small problems)."""
    if len(weights) != len(targets):
        raise ValueError("one target per view")
    n = int(weights[0].shape[1]) if len(weights) else 0
    per_view = []
    for W, t in zip(weights, targets):
        W = np.asarray(W, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        per_view.append(_seen_agree(W.sum(0), (W * t[:, None]).sum(0), float(t.sum()), tau, positive, share))
    return _accumulate(per_view, n, len(weights))


def support_from_cache(cache, targets: Dict[int, Any], tau: float = 0.05, positive: float = 0.5,
                       share: float = 0.25, gates: Dict[int, ViewGate] | None = None,
                       gate_factor: float = 1.0) -> Support:
    """From a :class:`~point2act.relevancy_fit.WeightsCache` and ``{view id: target [H, W(, 1)]}`` at the
    cache's resolution (views of the cache without a target are not supervised and are skipped).
    ``gates``: ``{view id: ViewGate}`` depth-gates those views' targets (:func:`depth_gate`, with
    ``gate_factor``).

    ``tau`` is in pixels of the cache's resolution (a fully opaque, unoccluded Gaussian covering
    one pixel weighs about 1 there)."""
    offs = cache.row_offsets()
    crow = np.asarray(cache.crow.numpy() if hasattr(cache.crow, "numpy") else cache.crow, dtype=np.int64)
    col = np.asarray(cache.col.numpy() if hasattr(cache.col, "numpy") else cache.col, dtype=np.int64)
    val = np.asarray(cache.val.numpy() if hasattr(cache.val, "numpy") else cache.val, dtype=np.float64)
    n = int(cache.num_gaussians)
    per_view = []
    for k, vid in enumerate(cache.view_ids):
        if int(vid) not in targets:
            continue
        a, b = offs[k], offs[k + 1]
        s, e = int(crow[a]), int(crow[b])
        t = np.asarray(targets[int(vid)].numpy() if hasattr(targets[int(vid)], "numpy") else targets[int(vid)],
                       dtype=np.float64).reshape(-1)
        cr = crow[a : b + 1] - s
        g = None
        if gates is not None and int(vid) in gates:
            g = depth_gate(cr, col[s:e], val[s:e], gates[int(vid)], gate_factor)
        per_view.append(view_support(cr, col[s:e], val[s:e], t, n, tau, positive, share, g))
    return _accumulate(per_view, n, len(per_view))


def region_consensus(support: Support, labels: np.ndarray, indices: np.ndarray, num_regions: int) -> np.ndarray:
    """Consensus of candidate regions [num_regions]: per region, the most supervised views that mark
    one of its Gaussians (``indices`` [M] labelled ``labels`` [M], ``-1``: no region)."""
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    lab = labels >= 0
    out = np.zeros(num_regions)
    np.maximum.at(out, labels[lab], support.views_agree[idx][lab].astype(np.float64))
    return out


def region_votes(support: Support, labels: np.ndarray, indices: np.ndarray, num_regions: int,
                 means: np.ndarray | None = None, radius: float = 0.0,
                 eligible: np.ndarray | None = None) -> np.ndarray:
    """Votes of candidate regions [num_regions]: per region, the number of supervised views pointing
    at it, each view's vote split by the share of its target mass there (:attr:`Support.votes`).

    ``indices`` [M] are the regions' Gaussians, labelled ``labels`` [M] (``-1``: no region). Without
    ``means``, a region's votes are its Gaussians' own. With ``means`` [N, 3] and ``radius`` > 0, every
    ``eligible`` [N] Gaussian (default: all) within ``radius`` of a region Gaussian gives its votes to
    the region of the nearest one: a view's point blob spreads its mass over the part and its
    surroundings, of which a relevancy threshold keeps only a varying fraction (a thin handle's blob
    mostly lands on the mug body behind it; a box corner's stays on the box).
    Falls back to the region's best :attr:`Support.views_agree` when the support has no votes."""
    if support.votes is None:
        return region_consensus(support, labels, indices, num_regions)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    lab = labels >= 0
    if means is None or radius <= 0 or not lab.any():
        return np.bincount(labels[lab], weights=support.votes[idx][lab], minlength=num_regions).astype(np.float64)
    from scipy.spatial import cKDTree

    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    voters = support.votes > 0
    if eligible is not None:
        voters &= np.asarray(eligible, dtype=bool).reshape(-1)
    vi = np.flatnonzero(voters)
    d, j = cKDTree(means[idx[lab]]).query(means[vi], distance_upper_bound=float(radius))
    near = np.isfinite(d)
    return np.bincount(labels[lab][j[near]], weights=support.votes[vi[near]], minlength=num_regions).astype(np.float64)


def region_seen(support: Support, labels: np.ndarray, indices: np.ndarray, num_regions: int,
                min_weight: float = 1.0) -> np.ndarray:
    """Per candidate region [num_regions], the supervised views that see it: whose compositing weight
    summed over the region's Gaussians (``indices`` [M] labelled ``labels`` [M], ``-1``: none) is at
    least ``min_weight`` (pixels of the support's resolution). Needs :attr:`Support.view_weight`."""
    if support.view_weight is None:
        raise ValueError("the support has no per-view weights (view_weight)")
    from scipy.sparse import csr_matrix

    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    lab = labels >= 0
    onehot = csr_matrix((np.ones(int(lab.sum())), (np.flatnonzero(lab), labels[lab])), shape=(len(idx), num_regions))
    per_view = (support.view_weight[:, idx] @ onehot).toarray()  # [V, num_regions]
    return (per_view >= min_weight).sum(0).astype(np.float64)


def region_support(support: Support | None, indices: np.ndarray, action_index: int | None = None,
                   weak_views: int = 3, weak_agreement: float = 0.5) -> Dict[str, Any] | None:
    """grasps.json's ``support`` of a region (its Gaussians ``indices``; the action point's Gaussian
    ``action_index`` when known): ``views_seen``/``views_agree``/``agreement`` of the action point's
    Gaussian (else the region's best-agreeing one), ``supervised_views``, the region's median agreement,
    and ``weak`` (+ ``reason``) when fewer than ``weak_views`` views agree or agreement < ``weak_agreement``."""
    if support is None:
        return None
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if action_index is None:
        if len(idx) == 0:
            return {"views_seen": 0, "views_agree": 0, "agreement": 0.0,
                    "supervised_views": support.supervised_views, "weak": True,
                    "reason": "the region has no Gaussians"}
        action_index = int(idx[np.lexsort((support.agreement[idx], support.views_agree[idx]))[-1]])
    seen = int(support.views_seen[action_index])
    agree = int(support.views_agree[action_index])
    agreement = agree / max(seen, 1)
    out: Dict[str, Any] = {
        "views_seen": seen,
        "views_agree": agree,
        "agreement": round(float(agreement), 4),
        "supervised_views": support.supervised_views,
        "region_median_agreement": round(float(np.median(support.agreement[idx])) if len(idx) else 0.0, 4),
    }
    reasons = []
    if agree < min(weak_views, max(support.supervised_views, 1)) or support.supervised_views < weak_views:
        reasons.append(f"only {agree} of {support.supervised_views} supervised views agree on the action point "
                       f"(it is seen by {seen}); point on more views (>= {weak_views}) from different sides")
    if agreement < weak_agreement:
        reasons.append(f"only {agreement:.0%} of the views that see the action point mark it as the target; "
                       "the points disagree between views (check them, or re-point)")
    out["weak"] = bool(reasons)
    if reasons:
        out["reason"] = "; ".join(reasons)
    return out
