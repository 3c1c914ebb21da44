"""The target as a surface: which points of the fused surface are the target part (:func:`surface_region`).

Only a process that plans grasps loads this module (``point2act.export`` imports it where it labels the fused
surface); training does not, so a change here leaves trained runs as they are (``benchmarks.gate`` re-exports).
Plain numpy and scipy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["SeenSurface", "surface_region"]


class SeenSurface(NamedTuple):
    """The fused surface as the views see it: its points, the views' relevancy there, and which of them the chosen
    place can hold."""

    points: np.ndarray  # [M, 3]
    """The fused surface points."""
    relevancy: np.ndarray  # [M]
    """The views' relevancy there (NaN: no view sees the point)."""
    scope: np.ndarray  # [M] bool
    """The points the chosen place can hold."""


def surface_region(
    surface: SeenSurface,  # [M]
    action_point: np.ndarray,  # [3]
    threshold: float,
    link: float,
    marks: np.ndarray | None = None,  # [K, 3] where the place's answers land on the field's surface
) -> np.ndarray:  # [M] bool
    """The target as a surface: the points of ``surface.scope`` whose relevancy is at least ``threshold`` times the
    largest there, and of those the connected piece (points within ``link`` of each other) nearest the action
    point among the pieces the answers land on.

    * **Marked.** Each of ``marks`` (:func:`point2act.grasp.answered.answer_marks`: every answer the chosen place
      took, on the field's surface in its own view) marks the piece of the relevant point nearest to it. A piece
      no answer lands on is relevant only by the field's spread: the action point of a whole object lies inside
      it (the views' rays to the middle of what each sees meet there), where a fragment of fused surface (an
      underside, a ledge the threshold cuts off) can lie nearer than the surface the views point at.
    * **Nearest.** Among the marked pieces (all pieces when there are no marks), the one nearest the action
      point: the answers of a region target (a rim) land on all of it, and its arcs are pieces; the
      grasp goes where the views' consensus put the action point, not to the arc most answers happen to hit.

    A lone point is no piece: the fused surface is sampled at its voxel, so a point of any surface has a
    neighbour within ``link`` (two voxels), and one without is the fusion's noise (a stray point beside the
    action point would otherwise be the whole target); it is taken only where no piece has two points. The field
    says where, the fused surface what is there: a handle drawn by a handful of relevant Gaussians is still the
    whole handle surface the views render as relevant, and a second relevant place (answers the views' consensus
    rejected) lies outside ``scope``. All False when no point of ``scope`` is seen with relevancy."""
    from point2act._scipy import cKDTree
    from point2act.pair_graph import components

    points, relevancy, scope = surface
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    r = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    out = np.zeros(len(P), bool)
    seen = np.asarray(scope, bool) & np.isfinite(r)
    if not seen.any() or not (r[seen].max() > 0):
        return out
    idx = np.flatnonzero(seen & (np.where(np.isfinite(r), r, 0.0) >= threshold * r[seen].max()))
    pairs = cKDTree(P[idx]).query_pairs(link, output_type="ndarray")
    comp = components(len(idx), pairs)
    n = int(comp.max()) + 1 if len(comp) else 0  # pieces
    dist = np.linalg.norm(P[idx] - np.asarray(action_point, dtype=np.float64).reshape(3), axis=1)
    pieces = np.bincount(comp)[comp] >= 2
    eligible = pieces if pieces.any() else np.ones(len(idx), bool)
    M = np.zeros((0, 3)) if marks is None else np.asarray(marks, dtype=np.float64).reshape(-1, 3)
    M = M[np.isfinite(M).all(1)]
    if len(M):
        on = np.flatnonzero(eligible)
        _d, nearest = cKDTree(P[idx[on]]).query(M)
        marked = np.zeros(n, bool)
        marked[comp[on[nearest]]] = True
        eligible = eligible & marked[comp]
    near = int(np.argmin(np.where(eligible, dist, np.inf)))
    out[idx[comp == comp[near]]] = True
    return out
