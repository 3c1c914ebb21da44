"""The views' answers as evidence of matter: where the blobs of the agreeing views' answers meet, the target is.

A view that points at the target says that the target lies along the rays through its answer, to within the
heatmap blob's sigma (the precision the relevancy was supervised with). Where several views that agree on a
place (:attr:`point2act.where.consensus.Place.answers`) all point, in every one of them that sees the spot,
there is the target's matter: the intersection of their blobs' cones. The field can lack it (a thin grip
rendered onto the table behind it, a handle the views see through): the occupancy then calls that place free,
and the planner would plan on a world without the target. :func:`answered_cells` gives the cells of that
intersection; :func:`point2act.export.scene.planning_scene` makes those the field carved free occupied, and
adds their outer shell to the target's surface.

The rule has no setting of its own: the blob's sigma is the answers' (``ViewAnswers.sigma_px``), and a place two
views agree on is what the consensus calls a place. It cannot invent a part larger than the blobs mark: every
added cell lies inside every agreeing view's blob. Plain numpy.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from point2act.where.view_agreement import ViewAnswers, lift

__all__ = ["MIN_VIEWS", "answer_marks", "answered_cells", "shell"]

MIN_VIEWS = 2
"""Agreeing views a cell must lie in the blob of: two rays fix a point, one only a line."""


def answered_cells(centers: np.ndarray, views: Sequence[ViewAnswers],
                   taken: Dict[str, Dict[int, List[int]]]) -> np.ndarray:  # [M] bool
    """Which of the cell centres ``centers`` [M, 3] (the views' frame) lie inside the blob of an answer the place
    took (``taken``: split -> view index -> positions in that view's answers, the place's ``answers``) in every
    agreeing view that sees them, and in at least :data:`MIN_VIEWS` of them. A view sees a centre that projects
    into its image in front of it; a view the place took no answer from says nothing here."""
    X = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
    alive = np.arange(len(X))  # the cells no agreeing view has ruled out yet: each view tests only those
    count = np.zeros(len(X), dtype=np.int64)
    for v in views:
        pos = taken.get(v.split, {}).get(int(v.view_id))
        if not pos or not len(alive):
            continue
        answers = np.asarray(v.points, dtype=np.float64).reshape(-1, 2)[list(pos)]
        uv, z = v.project(X[alive])
        H, W = v.depth.shape
        with np.errstate(invalid="ignore"):
            seen = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        d2 = ((uv[:, None, :] - answers[None, :, :]) ** 2).sum(-1).min(1)
        within = seen & (d2 <= float(v.sigma_px) ** 2)
        count[alive[within]] += 1
        alive = alive[~seen | within]
    out = np.zeros(len(X), dtype=bool)
    out[alive] = count[alive] >= MIN_VIEWS
    return out


def answer_marks(views: Sequence[ViewAnswers], taken: Dict[str, Dict[int, List[int]]]) -> np.ndarray:  # [K, 3]
    """Where the answers a place took (``taken``, as :func:`answered_cells`) land on the field's surface: each
    answer's pixel lifted to its own view's median depth (:func:`~point2act.where.view_agreement.lift`), the
    views' frame. What each agreeing view says the target's visible surface is; answers over no surface give
    no mark."""
    out = [np.zeros((0, 3))]
    for v in views:
        pos = taken.get(v.split, {}).get(int(v.view_id))
        if pos:
            X = lift(v, np.asarray(v.points, dtype=np.float64).reshape(-1, 2)[list(pos)])
            out.append(X[np.isfinite(X).all(1)])
    return np.concatenate(out)


def shell(mask: np.ndarray) -> np.ndarray:  # [nx, ny, nz] bool -> same
    """The cells of ``mask`` with a face-neighbour outside it (or on the grid's border): its outer surface.
    ``scipy.ndimage.binary_erosion(mask, border_value=0)``'s complement within ``mask``, in numpy (booleans:
    the same cells, ``tests/grasp/test_answered.py``), which spares the export the import of scipy.ndimage."""
    m = np.asarray(mask, dtype=bool)
    p = np.pad(m, 1, constant_values=False)
    inner = m.copy()
    for axis in range(m.ndim):
        for lo in (0, 2):  # the neighbour before and after along the axis
            inner &= p[tuple(slice(lo, lo + n) if a == axis else slice(1, 1 + n) for a, n in enumerate(m.shape))]
    return m & ~inner
