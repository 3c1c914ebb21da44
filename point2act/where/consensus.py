"""Where the views' answers agree in 3D: the action point, ranked candidate places and a confidence.

Every quantity here is in the pixels of the view it comes from, or follows from the cameras and the
field's own surface; nothing is in metres and nothing was fitted to a scene generator.

1. **Surface.** Per supervised view, the field's *median depth* (where the composited opacity along
   the pixel's ray reaches 0.5; no surface where it never does), from the compositing weights
   (:func:`~point2act.where.view_agreement.median_depth_map`).
2. **Candidates.** Every answer point is lifted to the surface it marks: its pixel's ray at the
   median depth there (:func:`~point2act.where.view_agreement.lift`). And every answer is also placed at
   the point of its ray the other views agree with most, among the points where it meets another view's
   answer ray (their closest approach's midpoint, reprojecting within both views' sigma, in front of both
   cameras): a depth from the views, not the field, which is least reliable on small and thin parts (the
   real bottle cap: the field's median depth there lies 20-60 % behind the cap in every view). Two rays
   always nearly meet, so a crossing that no third answer ray meets must lie on the surface both views
   see (:func:`~point2act.where.view_agreement.on_surface`: within the field's depths over the answer's
   blob, widened by the blob's radius); off it, it is no place at all (two right answers from nearby
   directions cross 6.5 cm from the real mug handle they both mark). Three or more meeting rays
   over-determine the point: the field may miss the part there (the meeting lies in front of its surface:
   the bottle cap) or hide it (behind floaters: the kitchen can's tab), but not both at once. A meeting in
   front of the surface in some of the views whose rays meet there and behind it in others
   (:func:`~point2act.where.view_agreement.mixed`) lies in the air inside an object (a rim's rays crossing
   on its axis) and is no place; nor is it the action point (step 6).
3. **Agreement.** A candidate ``X`` is *seen* by view ``u`` when it lies in ``u``'s frame and not
   behind ``u``'s surface by more than the blob's radius there (``sigma_u z / f_u``: the
   supervision's own precision, brought to that depth); a view that sees it *agrees* by
   ``exp(-d^2 / (2 sigma_u^2))``, ``d`` the pixel distance from ``X``'s projection to ``u``'s nearest
   answer and ``sigma_u`` the heatmap's blob sigma in ``u``. A view answering ``[]`` sees and does not
   agree. Where three or more views' answer rays meet at ``X`` (each within its sigma), the views
   over-determine the point, as in step 6: they agree with it, and see it, whatever the field's surface
   says in front of it (the kitchen can's tab: floaters over the lid hid it from all but two views,
   and its eight exact answers lost to ten scattered over an apple).
4. **Places.** Candidates closer than the sum of their blob radii are one place (single linkage): a
   rim's answers, each at a different spot of the ring, chain into one place; a wrong object's do not
   join the target's. No evidence counts twice: each answer supports at most one place
   (:func:`_explain`). In turn, the place with the most **votes** from the answers not yet taken (the
   views pointing at it, each view once: its best agreement with any of the place's candidates) comes
   next, and takes those of its answers that point at it (agreement >= 0.5). A place made only of
   answers a better place already took (two right answers that also form a second crossing) gets no
   votes and is no place; a wrong answer forms its own place with its own vote.
5. **Choice and confidence.** The place with the most votes is chosen. Its confidence is the
   probability that it, rather than the runner-up, is what the views mean, for views that are each
   right more often than wrong with an unknown rate (uniform on [1/2, 1]): ``P(p > 1/2)`` for ``p ~
   Beta(v1 + 1, v2 + 1)``, ``v1, v2`` the votes that tell the two apart (per view, how much more its
   answers taken by one place agree than those taken by the other: a view with answers at both is
   evidence for neither).
6. **Action point.** An answer marks what its view sees. Within the chosen place, the answer surface
   points (lifted candidates) that the views confirm (three or more agreeing views whose rays meet
   on the point, within the blob radius, from directions that fix it: the field's depth and the
   views' agree) are preferred; among them, or among all candidates where none is confirmed (a part
   the field misses, or hides behind floaters), the one the most views agree with. A rim's answers
   each mark a different spot of the ring, and those of views at like elevations cross on the
   mug's axis, inside the mug, where more views meet than at any spot of the ring: that crossing is
   the best-agreed candidate, but no view sees it (the test split's rims were 4 cm off). When the
   views agreeing with it mark one spot (their answers' rays, triangulated, reproject within each
   view's sigma: a part, not a region such as a rim) from directions far enough apart that the
   intersection is at least as precise as one lifted answer, the triangulated point replaces it; that
   point does not depend on the field's depth, which is least reliable on thin parts. Two views always
   nearly meet, so a two-view triangulation must also be seen by both in the field; three or more
   over-determine it and their residual is the test, unless the meeting lies in front of the surface in
   some of the views and behind it in others (step 2). From a narrower arc of views the
   intersection is fixed across the rays but not along them: the action point is then the least
   squares of the rays and the lifted answer together, each with the answer's precision (the views
   fix what they can, the field the rest).

Plain numpy/scipy. Points are in the frame of the view matrices (world -> camera, OpenCV axes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from point2act.where.view_agreement import (
    ViewAnswers,
    agreement,
    confirmed,
    lift,
    median_depth_map,
    meet,
    meets,
    mixed,
    swept_candidates,
    triangulate,
)

__all__ = ["ViewAnswers", "Place", "Consensus", "median_depth_map", "lift", "triangulate", "consensus",
           "beta_confidence"]


@dataclass
class Place:
    """One candidate place where views point."""

    point: np.ndarray  # [3]
    """Its action point (the frame of the views)."""
    votes: float
    """Views pointing at it, each at most once (soft: agreements in [0, 1])."""
    views: List[int]
    """Training-view indices of the views that point at it (agreement >= 0.5)."""
    seen: float
    """Views that see some part of it (one of its candidates): the count that ``views`` is out of (a view
    that points at it sees it)."""
    num_candidates: int
    """Answers lifted into it."""
    triangulated: bool = False
    """The action point is the triangulation of the agreeing views' answers (else a lifted answer)."""
    eval_views: List[int] = field(default_factory=list)
    """Eval-split indices of the held-out views that point at it (their answers count as any other's)."""
    footprint: Optional[np.ndarray] = field(default=None, repr=False)  # [M, 4]
    """The answers lifted into it, each with its blob's radius there (x, y, z, r): the part the views
    marked, at the views' own resolution (:func:`point2act.grasp.region.relevant_region`)."""
    answers: Dict[str, Dict[int, List[int]]] = field(default_factory=dict, repr=False)
    """The answers it took (step 4): split -> view index -> positions in that view's answers. What the field
    is fitted to (:meth:`point2act.method.answers.HeatmapStore.keeping`)."""

    def covers(self, X: np.ndarray) -> np.ndarray:  # [N, 3] -> [N] bool
        """Which points lie within the blob radius of one of the place's lifted answers (none without
        a footprint)."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, 3)
        if self.footprint is None or not len(self.footprint):
            return np.zeros(len(X), bool)
        from point2act._scipy import cKDTree

        fp = np.asarray(self.footprint, dtype=np.float64)
        near = cKDTree(X).query_ball_point(fp[:, :3], fp[:, 3])
        out = np.zeros(len(X), bool)
        for ids in near:
            out[ids] = True
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {"point": [float(v) for v in self.point], "votes": round(float(self.votes), 3),
                "views": [int(v) for v in self.views], "eval_views": [int(v) for v in self.eval_views],
                "views_seeing": round(float(self.seen), 3),
                "answers": int(self.num_candidates), "triangulated": bool(self.triangulated)}


@dataclass
class Consensus:
    """The outcome: places ranked by votes (the chosen one first) and the confidence in the first."""

    places: List[Place]
    confidence: float
    answered_views: int
    """Views that gave at least one point (eval split included: ``info["answered_by_split"]``)."""
    supervised_views: int
    """Views with an answer entry, ``[]`` included."""
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> Place:
        return self.places[0]

    def choose(self, k: int) -> "Consensus":
        """The same consensus with place ``k`` first (``point2act export --candidate K``); ``info["chosen"]``
        records ``k``, and the confidence stays that of the views' first choice."""
        if not 0 <= int(k) < len(self.places):
            raise ValueError(f"candidate {k} does not exist: the views point at {len(self.places)} place(s) (0-{len(self.places) - 1})")
        k = int(k)
        places = [self.places[k]] + [p for i, p in enumerate(self.places) if i != k]
        return Consensus(places, self.confidence, self.answered_views, self.supervised_views, {**self.info, "chosen": k})

    def share(self, k: int) -> float:
        """Place ``k``'s share of all places' votes."""
        tot = sum(p.votes for p in self.places)
        return float(self.places[k].votes / tot) if tot > 0 else 0.0


def _places(X: np.ndarray, radius: np.ndarray) -> np.ndarray:  # -> [M] label
    """Single-linkage groups: ``X_i`` and ``X_j`` join when closer than ``radius_i + radius_j``."""
    from point2act._scipy import cKDTree
    from point2act.pair_graph import components

    M = len(X)
    if M == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(X).query_pairs(2.0 * float(radius.max()), output_type="ndarray")
    if len(pairs):
        keep = np.linalg.norm(X[pairs[:, 0]] - X[pairs[:, 1]], axis=1) <= radius[pairs[:, 0]] + radius[pairs[:, 1]]
        pairs = pairs[keep]
    return components(M, pairs)


def beta_confidence(v1: float, v2: float) -> float:
    """``P(p > 1/2)`` for ``p ~ Beta(v1 + 1, v2 + 1)`` (module docstring, step 5): the regularized
    incomplete beta ``I_{1/2}(v2 + 1, v1 + 1)`` (``1 - I_x(a, b) = I_{1-x}(b, a)``), by
    :func:`incomplete_beta_half` (scipy.special's ``betainc`` to 1e-13; importing scipy.special rewrites its
    functions' docstrings, 0.05 s of a query)."""
    return incomplete_beta_half(float(v2) + 1.0, float(v1) + 1.0)


def incomplete_beta_half(a: float, b: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` at ``x = 1/2``, ``a, b > 0``: its continued
    fraction (modified Lentz; Numerical Recipes' ``betacf``) on the side where it converges quickly
    (``I_x(a, b) = 1 - I_{1-x}(b, a)``), times ``x^a (1 - x)^b / (a B(a, b))``. Check:
    ``tests/where/test_consensus.py`` against ``scipy.special.betainc``."""
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"incomplete_beta_half: a, b > 0 expected, got {a}, {b}")
    if b >= a:  # x = 1/2 >= (a + 1) / (a + b + 2): the fraction of the other side
        return 1.0 - incomplete_beta_half(b, a) if b > a else 0.5
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + (a + b) * math.log(0.5)
    tiny, x = 1e-300, 0.5
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        for num in (m * (b - m) * x / ((a - 1.0 + 2 * m) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1.0 + 2 * m))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h / a


def _explain(agree_a: np.ndarray, owner: np.ndarray, labels: np.ndarray, num_views: int):
    """Each answer supports at most one place (module docstring, step 4). In turn, the place with the most
    votes from the answers not yet taken (each view once: its best agreement with any of the place's
    candidates) comes next and takes every one of those answers that points at it (agreement >= 0.5). A
    place that no free answer points at (its answers all taken by a better place) gets no votes and is no
    place. Returns (place labels in that order, their votes, per place [V] each view's agreement through
    the answers free when it came, per place [A] bool the answers it took)."""
    nl = int(labels.max()) + 1 if len(labels) else 0
    A = np.stack([agree_a[:, labels == c].max(1) for c in range(nl)], 1) if len(agree_a) and nl else np.zeros((len(agree_a), nl))
    free = np.ones(len(A), bool)
    todo = list(range(nl))
    order, votes, assigned, taken = [], {}, {}, {}

    def per_view(c):
        g = np.zeros(num_views)
        np.maximum.at(g, owner[free], A[free, c])
        return g

    while todo:
        points_at = [bool(np.any(free & (A[:, c] >= 0.5))) for c in todo]
        gs = [per_view(c) if p else np.zeros(num_views) for c, p in zip(todo, points_at)]
        tot = [float(g.sum()) for g in gs]
        k = int(np.argmax(tot))
        if not points_at[k]:
            break
        c = todo.pop(k)
        order.append(c)
        votes[c], assigned[c] = tot[k], gs[k]
        taken[c] = free & (A[:, c] >= 0.5)
        free &= ~taken[c]
    return order, votes, assigned, taken


def _answers_of(views: Sequence[ViewAnswers], owner: np.ndarray, took: Optional[np.ndarray]) -> Dict[str, Dict[int, List[int]]]:
    """The answers ``took`` [A] (in view order, ``owner`` [A] their view) as split -> view index -> positions."""
    out: Dict[str, Dict[int, List[int]]] = {}
    if took is None:
        return out
    first = np.r_[0, np.cumsum([len(v.points) for v in views])]
    for a in np.flatnonzero(took):
        u = int(owner[a])
        out.setdefault(views[u].split, {}).setdefault(int(views[u].view_id), []).append(int(a - first[u]))
    return out


def consensus(views: Sequence[ViewAnswers], max_places: int = 4) -> Consensus:
    """The views' consensus (module docstring). Raises ``ValueError`` when no answer lands on the
    field's surface."""
    views = list(views)
    cand, rad = [], []
    for v, view in enumerate(views):
        if not len(view.points):
            continue
        X = lift(view, view.points)
        ok = np.isfinite(X).all(1)
        if not ok.any():
            continue
        _uv, z = view.project(X[ok])
        cand.append(X[ok])
        rad.append(view.blob_radius(z))
    answered = sum(1 for v in views if len(v.points))
    if not cand:
        raise ValueError(f"none of the {answered} answered views' points lands on the field's surface")
    Xp, rp = swept_candidates(views)
    n_lifted = int(sum(len(c) for c in cand))
    X, radius = np.concatenate(cand + [Xp]), np.concatenate(rad + [rp])
    seen, agree, agree_a, owner, _rays = agreement(views, X, per_answer=True)
    seen = np.maximum(seen, agree >= 0.5)  # a view whose ray meets an over-determined point sees it
    labels = _places(X, radius)
    nl = int(labels.max()) + 1
    order, votes, assigned, taken = _explain(agree_a, owner, labels, len(views))
    if not order:  # no answer agrees with any place (none is seen where it lands): the soft votes rank them
        soft = np.array([agree[:, labels == c].max(1).sum() for c in range(nl)])
        order = [int(c) for c in np.argsort(-soft, kind="stable")]
        votes = {c: float(soft[c]) for c in order}
        assigned = {c: agree[:, labels == c].max(1) for c in order}
    places: List[Place] = []
    for c in order[:max_places]:
        m = np.flatnonzero(labels == c)
        # an answer marks what its view sees: where the views confirm the field's surface under an answer
        # (three or more views meet at the lifted answer, from directions that fix it), the place's point
        # is chosen among those surface points; where no surface is confirmed, the best of all candidates
        # (rays meeting off the field's surface: a part the field misses or hides behind floaters)
        meets_at = meets(views, agree, X, m[m < n_lifted])
        surf = [k for k in m[m < n_lifted] if confirmed(meets_at[int(k)], X[k], radius[k])]
        pool = np.asarray(surf, dtype=np.int64) if len(surf) else m
        score = agree[:, pool].sum(0)
        k = pool[int(np.argmax(score))]
        supporters = [int(u) for u in np.flatnonzero(assigned[c] >= 0.5)]
        point, tri = X[k], False
        rays = meets_at[int(k)] if int(k) in meets_at else meet(views, agree, X, k)
        if rays is not None:
            T, cond, res, agreeing, vs, uvs = rays
            # two rays always nearly meet: with two views the field must also let both see the meeting;
            # three or more over-determine it, and their residual is the test (the field's surface can
            # lie in front of a small part the views all marked: the real coke tab, seed 2)
            s_T, _a = agreement(views, T[None])
            # and, as for the crossings (step 2), the meeting must not lie in front of the surface in some of
            # the views and behind it in others (a rim's rays cross on its axis, inside the object)
            if res <= 1.0 and (len(agreeing) >= 3 or s_T[agreeing, 0].mean() >= 0.5) and not mixed(views, T[None])[0]:
                if cond >= 1.0:
                    point, tri = T, True
                else:  # rays from a narrow arc: the views fix the point across them, the field along them
                    point = triangulate(vs, uvs, prior=X[k])
        places.append(Place(point=np.asarray(point, dtype=np.float64), votes=float(votes[c]),
                            views=[int(views[u].view_id) for u in supporters if views[u].split != "eval"],
                            eval_views=[int(views[u].view_id) for u in supporters if views[u].split == "eval"],
                            seen=float(seen[:, m].max(1).sum()),
                            num_candidates=int(len(m)), triangulated=tri,
                            footprint=np.c_[X[m], radius[m]], answers=_answers_of(views, owner, taken.get(c))))
    # confidence from the votes that tell the two apart: a view with answers at both places (noisy answers
    # scattered over one part, which split into two places) is evidence for neither
    g1 = assigned[order[0]]
    g2 = assigned[order[1]] if len(order) > 1 else np.zeros(len(views))
    conf = beta_confidence(float(np.clip(g1 - g2, 0, None).sum()), float(np.clip(g2 - g1, 0, None).sum()))
    by_split: Dict[str, int] = {}
    for v in views:
        if len(v.points):
            by_split[v.split] = by_split.get(v.split, 0) + 1
    return Consensus(places, conf, answered, len(views),
                     info={"candidates": int(len(X)), "places": len(order), "answered_by_split": by_split})
