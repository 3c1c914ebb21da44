"""Where the views' answers put points, and how much the views agree with a point: the geometry of
:mod:`point2act.where.consensus` (its module docstring's steps 1 to 3 and 6).

The field's median depth per view (:func:`median_depth_map`), an answer lifted to it (:func:`lift`), the views'
agreement with points (:func:`agreement`), where a point lies against a view's surface (:func:`surface_side`,
:func:`on_surface`, :func:`mixed`), the least-squares meeting of answer rays (:func:`triangulate`, :func:`meet`,
:func:`confirmed`) and the crossings of answer rays (:func:`swept_candidates`). Plain numpy/scipy. Points are in
the frame of the view matrices (world -> camera, OpenCV axes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

__all__ = ["ViewAnswers", "agreement", "answer_distances", "confirmed", "lift", "median_depth_map", "meet", "meets", "mixed", "on_surface", "ray_terms", "surface_side",
           "swept_candidates", "triangulate"]


@dataclass
class ViewAnswers:
    """One supervised view: camera, answers and surface, at one resolution."""

    viewmat: np.ndarray  # [4, 4] world -> camera (OpenCV)
    K: np.ndarray  # [3, 3]
    points: np.ndarray  # [P, 2] answers, pixels (x, y), origin top-left; [0, 2]: "not in view"
    sigma_px: float
    """The heatmap blob's sigma, pixels."""
    depth: np.ndarray  # [H, W] median depth (z), NaN where no surface
    view_id: int = -1
    """The view's index in its split (reported with the places)."""
    split: str = "train"
    """The split of the capture the view belongs to: "train", or "eval" (nerfstudio's held-out views: their
    cameras are known, and their answers count as any other's)."""

    @property
    def size(self):
        return self.depth.shape

    def blob_radius(self, z: np.ndarray) -> np.ndarray:
        """The blob's sigma as a length at camera depth ``z`` (the answer's own precision there)."""
        return float(self.sigma_px) * np.asarray(z, dtype=np.float64) / float(self.K[0, 0])

    def project(self, X: np.ndarray):  # [M, 3] -> ([M, 2] pixels, [M] z)
        Xc = X @ self.viewmat[:3, :3].T + self.viewmat[:3, 3]
        z = Xc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (Xc[:, :2] / z[:, None]) @ self.K[:2, :2].T + self.K[:2, 2]
        return uv, z

    @cached_property
    def K_inv(self) -> np.ndarray:  # [3, 3]
        """``K``'s inverse, computed once: the consensus casts hundreds of single rays per view, and a 3 x 3
        LAPACK inverse costs milliseconds where BLAS threads wait on busy cores."""
        return np.linalg.inv(self.K)

    def ray(self, uv: np.ndarray):  # [M, 2] -> (origin [3], directions [M, 3] with z = 1 in camera)
        d_cam = np.concatenate([uv, np.ones((len(uv), 1))], 1) @ self.K_inv.T
        R, t = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -R.T @ t, d_cam @ R  # camera centre, directions (world)



def median_depth_map(
    crow: np.ndarray,  # [H*W + 1]
    col: np.ndarray,  # [nnz]
    val: np.ndarray,  # [nnz] compositing weights alpha * T, front to back
    z: np.ndarray,  # [N] camera depth of every Gaussian
    height: int,
    width: int,
) -> np.ndarray:  # [H, W] float, NaN where the opacity never reaches 0.5
    """Per pixel, the depth at which the composited opacity (the running sum of the weights in depth
    order) first reaches 0.5: the field's median depth (the surface a ray meets)."""
    crow = np.asarray(crow, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    val = np.asarray(val, dtype=np.float64)
    n_pix = int(height) * int(width)
    out = np.full(n_pix, np.nan)
    if len(col) == 0:
        return out.reshape(height, width)
    rows = np.repeat(np.arange(n_pix), np.diff(crow)[:n_pix])
    zz = np.asarray(z, dtype=np.float64)[col]
    # each row is already in compositing (depth) order but for a few ties the rasterizer broke otherwise:
    # sort only the rows that are out of order (the same as np.lexsort((zz, rows)), whose sort is stable)
    order = np.arange(len(col))
    out_of_order = (rows[1:] == rows[:-1]) & (zz[1:] < zz[:-1])
    if out_of_order.any():
        idx = np.flatnonzero(np.isin(rows, rows[1:][out_of_order]))
        order[idx] = idx[np.lexsort((zz[idx], rows[idx]))]
    r, w, zs = rows[order], val[order], zz[order]
    cs = np.cumsum(w)
    within = cs - np.concatenate([[0.0], cs])[crow[:-1][r] - crow[0]]
    hit = np.flatnonzero(within >= 0.5)
    if len(hit):
        pix, first = np.unique(r[hit], return_index=True)
        out[pix] = zs[hit[first]]
    return out.reshape(height, width)


def lift(view: ViewAnswers, uv: np.ndarray) -> np.ndarray:  # [M, 2] -> [M, 3], NaN rows: no surface
    """The surface points the pixels ``uv`` mark: their rays at the view's median depth there."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    H, W = view.size
    j = np.clip(np.floor(uv[:, 0]).astype(np.int64), 0, W - 1)
    i = np.clip(np.floor(uv[:, 1]).astype(np.int64), 0, H - 1)
    d = view.depth[i, j]
    c, dirs = view.ray(uv)
    return c + dirs * d[:, None]


def answer_distances(view: ViewAnswers, uv: np.ndarray) -> np.ndarray:  # [M, 2] -> [P, M]
    """Pixel distance from each of ``uv`` [M, 2] to each of the view's answers [P]: ``sqrt(dx^2 + dy^2)``, the
    bits of a k-d tree's nearest distance (``.min(0)``) without building one per view and call (a view holds a
    few answers; the consensus asks for hundreds of thousands of points at 160 views)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    P = len(view.points)
    out = np.empty((P, len(uv)))
    for p in range(P):  # one answer at a time: [M] temporaries, whatever the answers' count
        dx = uv[:, 0] - view.points[p, 0]
        dy = uv[:, 1] - view.points[p, 1]
        np.sqrt(dx * dx + dy * dy, out=out[p])
    return out


def agreement(views: Sequence[ViewAnswers], X: np.ndarray, per_answer: bool = False):
    """(seen [V, M], agree [V, M]) of points ``X`` [M, 3] (module docstring, step 3); ``per_answer``: also
    (agree of each answer [A, M], the view of each answer [A], how many views' answer rays meet at each
    point [M]), the answers in view order. Where three or more rays meet (``rays >= 3``), exactly the points
    ``(agree >= 0.5).sum(0) >= 3``: there ``agree`` is the rays' meeting itself, elsewhere at most it."""
    V, M = len(views), len(X)
    seen = np.zeros((V, M))
    meet = np.zeros((V, M))  # how well X's projection meets the view's nearest answer, visible or not
    meet_a, owner = [], []
    for u, view in enumerate(views):
        uv, z = view.project(X)
        H, W = view.size
        ok = np.isfinite(uv).all(1) & (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        ma = np.zeros((len(view.points), M)) if per_answer else None
        if ok.any():
            j = np.floor(uv[ok, 0]).astype(np.int64)
            i = np.floor(uv[ok, 1]).astype(np.int64)
            D = view.depth[i, j]
            # not behind the view's surface by more than the answer's precision there (no surface: open space)
            vis = ~(np.isfinite(D) & (z[ok] > D + view.blob_radius(D)))
            s = np.zeros(M)
            s[np.flatnonzero(ok)[vis]] = 1.0
            seen[u] = s
            if len(view.points):
                da = answer_distances(view, uv[ok])  # [P, ok]
                meet[u, ok] = np.exp(-0.5 * (da.min(0) / float(view.sigma_px)) ** 2)
                if per_answer:
                    ma[:, ok] = np.exp(-0.5 * (da / float(view.sigma_px)) ** 2)
        if per_answer:
            meet_a.append(ma)
            owner.append(np.full(len(view.points), u, dtype=np.int64))
    # where three or more answer rays meet, the views over-determine the point: they agree with it
    # whatever the field's surface says in front of it (floaters over a small part); elsewhere a view
    # agrees only with what it sees
    rays = (meet >= 0.5).sum(0)
    over = rays >= 3
    agree = np.where(over, meet, seen * meet)
    if not per_answer:
        return seen, agree
    own = np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64)
    ma = np.concatenate(meet_a) if meet_a else np.zeros((0, M))
    agree_a = np.where(over[None], ma, seen[own] * ma)
    return seen, agree, agree_a, own, rays


def on_surface(view: ViewAnswers, X: np.ndarray) -> np.ndarray:  # [M, 3] -> [M] bool
    """Whether points ``X`` lie on the surface ``view`` sees where they project: their depth within the
    field's depths over the answer's blob there (the pixels within ``sigma_px`` of the projection: at a
    silhouette that spans the part and what lies behind it), widened by the blob's radius. No surface in
    the blob: not on it."""
    return surface_side(view, X) == 0


def surface_side(view: ViewAnswers, X: np.ndarray) -> np.ndarray:  # [M, 3] -> [M] int
    """Where points ``X`` lie against the surface ``view`` sees (:func:`on_surface`): 0 on it, -1 in front
    of it, +1 behind it, 2 where the view has no surface in the blob (or the point is behind the camera)."""
    uv, z = view.project(X)
    H, W = view.size
    out = np.full(len(X), 2, dtype=np.int64)
    r = int(np.ceil(float(view.sigma_px)))
    dj, di = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    disc = dj ** 2 + di ** 2 <= float(view.sigma_px) ** 2 + 0.5
    dj, di = dj[disc], di[disc]
    for m in np.flatnonzero(np.isfinite(uv).all(1) & (z > 0)):
        j = np.floor(uv[m, 0]).astype(np.int64) + dj
        i = np.floor(uv[m, 1]).astype(np.int64) + di
        inside = (j >= 0) & (j < W) & (i >= 0) & (i < H)
        D = view.depth[i[inside], j[inside]]
        D = D[np.isfinite(D)]
        if not len(D):
            continue
        rad = float(view.blob_radius(z[m]))
        out[m] = -1 if z[m] < D.min() - rad else 1 if z[m] > D.max() + rad else 0
    return out


def _length(x: np.ndarray) -> float:
    """``np.linalg.norm`` of the vector ``x`` as it forms it for an array of its own: BLAS's dot product of a row
    inside a larger array can round otherwise (its address is aligned otherwise)."""
    x = np.array(x, dtype=np.float64)
    return float(np.sqrt(x.dot(x)))


def ray_terms(view: ViewAnswers, uvs: np.ndarray):  # [M, 2] -> ([M, 3, 3], [M, 3])
    """Each answer ray's terms in the least squares of :func:`triangulate`: ``P = I - d d^T`` (``d`` the ray's unit
    direction) and ``P c`` (``c`` the camera centre). Each length and matrix product is formed on an array of its
    own (:func:`_length`), so the terms of many rays at once are the bits of each ray's alone."""
    c, d = view.ray(uvs)
    d = d / np.array([_length(x) for x in d])[:, None]
    P = np.eye(3) - d[:, :, None] * d[:, None, :]
    return P, np.stack([p.copy() @ c for p in P]).reshape(-1, 3)


def triangulate(views: Sequence[ViewAnswers], uvs: Sequence[np.ndarray], return_conditioning: bool = False,
                prior: np.ndarray | None = None):
    """Least-squares intersection [3] of the rays of pixels ``uvs[k]`` [2] of ``views[k]`` (the point
    nearest to all rays). ``return_conditioning``: also the smallest eigenvalue of the normal matrix
    ``sum_k (I - d_k d_k^T)``: with each ray's lateral error ``r``, the point's error along its worst
    direction is about ``r / sqrt(that)`` (1 or more: no worse than one lifted answer's lateral error).
    ``prior`` [3]: a point (a lifted answer) with that same precision ``r`` in every direction, added to the
    least squares (``+ |X - prior|^2``): where the rays leave a direction unfixed (a narrow arc of
    views), the prior fixes it; where they fix it, they win."""
    A = np.zeros((3, 3))
    b = np.zeros(3)
    if prior is not None:
        A += np.eye(3)
        b += np.asarray(prior, dtype=np.float64).reshape(3)
    for view, uv in zip(views, uvs):
        P, Pc = ray_terms(view, np.asarray(uv, dtype=np.float64).reshape(1, 2))
        A += P[0]
        b += Pc[0]
    T = np.linalg.lstsq(A, b, rcond=None)[0]
    return (T, float(np.linalg.eigvalsh(A)[0])) if return_conditioning else T


def meet(views: Sequence[ViewAnswers], agree: np.ndarray, X: np.ndarray, k: int):
    """The rays of the answers that agree with candidate ``X[k]`` (each agreeing view's answer nearest to
    its projection), triangulated: (T [3], conditioning, median residual in sigmas, agreeing view
    indices, their views, their answers), or None with fewer than two agreeing views. :func:`meets` for one."""
    return meets(views, agree, X, [k])[int(k)]


def meets(views: Sequence[ViewAnswers], agree: np.ndarray, X: np.ndarray, ks: Sequence[int]) -> dict:
    """:func:`meet` of each candidate ``X[k]``, ``k`` in ``ks``: ``{k: meet or None}``. Each view projects the
    candidates it agrees with, casts their rays and projects their meetings at once, and each candidate's rays
    are summed in view order, as :func:`triangulate` sums them (:func:`ray_terms`): the same bits, for one pass over the views instead of one per candidate (a
    place that 160 views mark holds about as many candidates, each agreed with by most views)."""
    ks = [int(k) for k in ks]
    n = len(ks)
    A, b = np.zeros((n, 3, 3)), np.zeros((n, 3))
    picked = []  # per view: (view index, positions in ks, their answers [m, 2])
    for u, view in enumerate(views):
        at = np.flatnonzero(agree[u, ks] >= 0.5)
        if not len(at):
            continue
        uv_k, _z = view.project(X[np.asarray(ks)[at]])
        uvs = view.points[answer_distances(view, uv_k).argmin(0)]
        P, Pc = ray_terms(view, uvs)
        A[at] += P
        b[at] += Pc
        picked.append((u, at, uvs))
    agreeing = [[] for _ in range(n)]
    chosen = [[] for _ in range(n)]
    for u, at, uvs in picked:
        for r, a in enumerate(at):
            agreeing[a].append(u)
            chosen[a].append(uvs[r])
    T = np.full((n, 3), np.nan)
    cond = np.full(n, np.nan)
    formed = np.array([len(g) >= 2 for g in agreeing], dtype=bool)
    for a in np.flatnonzero(formed):
        T[a] = np.linalg.lstsq(A[a], b[a], rcond=None)[0]
        cond[a] = np.linalg.eigvalsh(A[a])[0]
    res = [[] for _ in range(n)]
    for u, at, uvs in picked:
        keep = formed[at]
        if keep.any():
            uv_T, _z = views[u].project(T[at[keep]])
            for a, e in zip(at[keep], uv_T - uvs[keep]):
                res[a].append(_length(e) / views[u].sigma_px)
    out = {}
    for a, k in enumerate(ks):
        if not formed[a]:
            out[k] = None
            continue
        median = float(np.median(res[a])) if np.all(np.isfinite(res[a])) else np.inf
        out[k] = (T[a], float(cond[a]), median, agreeing[a], [views[u] for u in agreeing[a]], chosen[a])
    return out


def confirmed(meet, x: np.ndarray, radius: float) -> bool:
    """Is the lifted answer ``x`` [3] a surface point the views confirm: three or more agreeing views whose
    rays meet (``meet``: :func:`meet` of it; residual within their sigma, conditioning >= 1: not a narrow
    arc) within the answer's blob ``radius`` of it (the field's depth and the views' agree)?"""
    if meet is None:
        return False
    T, cond, res, agreeing, _vs, _uvs = meet
    return len(agreeing) >= 3 and cond >= 1.0 and res <= 1.0 and float(np.linalg.norm(T - x)) <= float(radius)


def mixed(views: Sequence[ViewAnswers], X: np.ndarray) -> np.ndarray:  # [M, 3] -> [M] bool
    """Points that lie in front of the surface in some of the views whose answer rays meet there (the
    projection within 1.18 sigma of the view's nearest answer) and behind it in others, by more than the
    blob's radius at the field's median depth where they project."""
    front, behind = np.zeros(len(X), np.int64), np.zeros(len(X), np.int64)
    for view in views:
        if not len(view.points):
            continue
        uv, z = view.project(X)
        ok = np.isfinite(uv).all(1) & (z > 0)
        d = np.full(len(X), np.inf)
        if ok.any():
            d[ok] = answer_distances(view, uv[ok]).min(0)
        H, W = view.size
        m = np.flatnonzero((np.exp(-0.5 * (d / float(view.sigma_px)) ** 2) >= 0.5) & (uv[:, 0] >= 0) & (uv[:, 0] < W)
                           & (uv[:, 1] >= 0) & (uv[:, 1] < H))
        if len(m):
            D = view.depth[np.floor(uv[m, 1]).astype(np.int64), np.floor(uv[m, 0]).astype(np.int64)]
            r = view.blob_radius(D)
            front[m] += np.isfinite(D) & (z[m] < D - r)
            behind[m] += np.isfinite(D) & (z[m] > D + r)
    return (front >= 1) & (behind >= 1)


def swept_candidates(views: Sequence[ViewAnswers]):
    """Per answer, the point of its ray the other views agree with most, among the points where it
    meets another view's answer ray (the midpoint of their closest approach, reprojecting within each
    view's sigma, in front of both cameras): the answer's depth from the views rather than from the
    field (module docstring, step 2). Returns (X [M, 3], radius [M]), at most one per answer."""
    origins, dirs, owner, uvs = [], [], [], []
    for v, view in enumerate(views):
        if len(view.points):
            c, d = view.ray(view.points)
            origins.append(np.repeat(c[None], len(d), 0))
            dirs.append(d / np.linalg.norm(d, axis=1, keepdims=True))
            owner.append(np.full(len(d), v))
            uvs.append(view.points)
    if len(owner) < 2:
        return np.zeros((0, 3)), np.zeros(0)
    O, D, own, UV = (np.concatenate(a) for a in (origins, dirs, owner, uvs))
    i, j = np.triu_indices(len(own), 1)
    keep = own[i] != own[j]
    i, j = i[keep], j[keep]
    b = np.sum(D[i] * D[j], 1)
    w0 = O[i] - O[j]
    dd, ee = np.sum(D[i] * w0, 1), np.sum(D[j] * w0, 1)
    den = 1.0 - b * b
    ok = den > 1e-9  # not parallel
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (b * ee - dd) / den
        t2 = (ee - b * dd) / den
    X = 0.5 * (O[i] + t1[:, None] * D[i] + O[j] + t2[:, None] * D[j])
    ok &= (t1 > 0) & (t2 > 0) & np.isfinite(X).all(1)
    rad = np.zeros(len(X))
    for idx in (i, j):
        for v in np.unique(own[idx][ok]):
            m = np.flatnonzero(ok & (own[idx] == v))
            uv, z = views[v].project(X[m])
            ok[m[~(np.linalg.norm(uv - UV[idx[m]], axis=1) <= float(views[v].sigma_px))]] = False
            rad[m] += 0.5 * views[v].blob_radius(np.abs(z))
    i, j, X, rad = i[ok], j[ok], X[ok], rad[ok]
    if not len(X):
        return X, rad
    _seen, agree = agreement(views, X)
    rays = (agree >= 0.5).sum(0)  # >= 3 exactly where three or more answer rays meet (agreement's docstring)
    # two rays always nearly meet: where no third answer ray meets them, the crossing must lie on the surface
    # both views see (off it, it is a crossing in the air or inside a part, no place at all); three or more
    # over-determine it whatever the field's surface says (a part the field misses)
    keep = rays >= 3
    # three or more: the field may miss the part (the meeting lies in front of its surface) or hide it
    # (behind floaters), but not both at once: a meeting in front of the surface in some of the views whose
    # rays meet there and behind it in others is in the air inside an object (a rim's rays, crossing on
    # its axis), no place
    over = np.flatnonzero(keep)
    if len(over):
        keep[over[mixed(views, X[over])]] = False
    two = np.flatnonzero(rays < 3)
    if len(two):
        on = np.ones(len(two), bool)
        for idx in (i, j):
            for v in np.unique(own[idx][two]):
                m = np.flatnonzero(own[idx][two] == v)
                on[m] &= on_surface(views[v], X[two[m]])
        keep[two[on]] = True
    i, j, X, rad, agree = i[keep], j[keep], X[keep], rad[keep], agree[:, keep]
    if not len(X):
        return X, rad
    total = agree.sum(0)
    ans, pair = np.r_[i, j], np.r_[np.arange(len(X)), np.arange(len(X))]
    order = np.argsort(total[pair], kind="stable")  # assigned in increasing total: the highest stays
    best = np.full(len(own), -1)
    best[ans[order]] = pair[order]
    pick = np.unique(best[best >= 0])
    return X[pick], rad[pick]
