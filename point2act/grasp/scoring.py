"""The planner's scoring stage: each free pose's score, the ranking, non-maximum suppression, the grasps listed
and why none (or none on the target) is left.

**The ranking.** The free poses are listed best first by ``rank = score + 8 on_target + 4 both_pads_touch + 2
contacts_seen`` (:data:`RANK_ON_TARGET`, :data:`RANK_TOUCH`, :data:`RANK_SEEN`): every grasp that closes on the
target before every other (a grasp on another part fails the task for certain), then those whose pads touch
both contacts (the part sits centred between the fingers), then those whose contacts the views saw (antipodal
pairs before support pairs, whose side faces are assumed), then by score. The score lies in [0, 1] (a weighted
mean of shares in [0, 1], times factors in [0, 1]) and each flag's weight exceeds the sum of the weights below it
plus the score's range (8 > 4 + 2 + 1, 4 > 2 + 1, 2 > 1), so in exact arithmetic the rank is the lexicographic
order on (on target, touch, seen, score). In floating point it is that order with the score rounded: adding the
flags' weights keeps about 15 significant digits of the score (its unit in the last place becomes that of a
number up to 15), so two poses with the same flags whose scores differ by less than about 2e-15 tie, and the
stable sort of :func:`nms` keeps them in candidate order. An explicit lexicographic sort key would order such
near-ties by score instead, which can change the grasps listed; the weighted rank is kept, and it is the rule.
Plain numpy.
"""

from __future__ import annotations

import math
from typing import Dict, List, NamedTuple

import numpy as np

from point2act.grasp.clouds import CollisionClouds, SceneClouds
from point2act.grasp.clearance import Clearance
from point2act.grasp.config import (
    CLEARANCE_MARGIN,
    CLEARANCE_WEIGHT,
    GEOMETRIC_WEIGHT,
    NMS_ANGLE_DEG,
    ON_TARGET_SHARE,
    SEMANTIC_WEIGHT,
    SWEEP_FINE_LENGTH,
    GraspConfig,
)
from point2act.grasp.frames import CandidateIds, CandidatePoses
from point2act.grasp.geometry import orthonormalize
from point2act.grasp.holds import Candidates, Holds
from point2act.grasp.opening import OpeningChecks, OpeningScene, SupportClearance, widest_free_opening
from point2act.grasp.result import CANDIDATES_COLLIDE, Grasp, Region

__all__ = ["AVOID_WEIGHT", "NO_TARGET_SURFACE_NOTE", "RANK_ON_TARGET", "RANK_SEEN", "RANK_TOUCH", "Kept", "Scores",
           "grasps_of", "handover_rotation", "kept", "nms", "score", "warning", "what_blocks", "why_none"]

AVOID_WEIGHT = 1.0
"""How strongly an avoid channel lowers a score: ``score * (1 - min(1, AVOID_WEIGHT * avoid_score))``. At 1 a grasp
whose closing region or finger path holds the avoid region's most relevant point scores 0."""
RANK_ON_TARGET = 8.0
"""The rank's weight of closing on the target (module docstring)."""
RANK_TOUCH = 4.0
"""The rank's weight of pads that touch both contacts (module docstring)."""
RANK_SEEN = 2.0
"""The rank's weight of contacts the views saw (module docstring)."""
NO_TARGET_SURFACE_NOTE = ("none of the fused surface around the action point is the target's (the field's rendered "
                          "relevancy marks nothing the views see there), so no grasp is labelled on target")
"""The warning's first words where the fused surface holds no target point
(:func:`point2act.grasp.planner.plan_grasps`)."""


class Scores(NamedTuple):
    """Each candidate's score and its clearance score (:func:`score`)."""

    score: np.ndarray  # [K, T]
    """The score, in [0, 1]."""
    clearance: np.ndarray  # [K, T]
    """The clearance score, in [0, 1]."""


class Handover(NamedTuple):
    """What turns a grasp for a handover (:func:`handover_rotation`): the avoid channel's region and the direction
    towards the recipient; either None: no handover rotation."""

    avoid_region: Region | None
    """The avoid channel's region (its action point is turned away from the recipient)."""
    direction: np.ndarray | None  # [3]
    """Towards the handover recipient."""


class Kept(NamedTuple):
    """The grasps listed, best first (:func:`kept`)."""

    pair: np.ndarray  # [G]
    """Their pair indices."""
    approach: np.ndarray  # [G]
    """Their approach indices."""
    half_opening: np.ndarray  # [K, T]
    """Every candidate's half-opening, the listed ones' widened
    (:func:`~point2act.grasp.opening.widest_free_opening`)."""


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
    kept_: List[int] = []
    if top_k <= 0:
        return np.zeros(0, np.int64)
    cos_thr = math.cos(angle_rad)
    kp = np.zeros((0, 3))
    kr = np.zeros((0, 3, 3))
    for idx in order:
        if len(kept_):
            near = np.linalg.norm(kp - positions[idx], axis=1) < distance
            if near.any():
                M = np.einsum("kji,jl->kil", kr[near], rotations[idx])  # R_k^T R
                tr = np.trace(M, axis1=1, axis2=2)
                tr_sym = -M[:, 0, 0] - M[:, 1, 1] + M[:, 2, 2]
                c = (np.maximum(tr, tr_sym) - 1.0) / 2.0
                if (c > cos_thr).any():
                    continue
        kept_.append(int(idx))
        kp = np.vstack([kp, positions[idx]])
        kr = np.concatenate([kr, rotations[idx][None]], 0)
        if len(kept_) >= top_k:
            break
    return np.asarray(kept_, dtype=np.int64)


def score(part: Holds, clear: Clearance, clouds: CollisionClouds, cfg: GraspConfig) -> Scores:
    """Each candidate's score: the weighted mean of the target's share between the pads, the antipodal quality
    where they hold and the clearance beyond the collision margin (full at ``CLEARANCE_MARGIN``); times ``1 -
    min(1, AVOID_WEIGHT * avoid score)`` with an avoid channel, so grasps through the avoid region rank low;
    times the share of the depth the part asked for that a grasp backed offset along its approach reaches (only
    one that backed offset: a long part held at its action point may lie nearer the palm than the contacts)."""
    cm = cfg.gripper.units(CLEARANCE_MARGIN)
    clear_score = np.clip((clear.distance - clouds.obstacles.margin) / max(cm, 1e-12), 0.0, 1.0)
    ws, wg, wc = SEMANTIC_WEIGHT, GEOMETRIC_WEIGHT, CLEARANCE_WEIGHT
    s = (ws * part.share + wg * clear.geometric + wc * clear_score) / (ws + wg + wc)
    if part.avoid_score is not None:
        s = s * (1.0 - np.minimum(1.0, max(float(AVOID_WEIGHT), 0.0) * part.avoid_score))
    depth, depth_part = clear.depth, part.depth
    s = s * np.where(depth < depth_part, np.clip(depth / np.maximum(depth_part, 1e-12), 0.0, 1.0), 1.0)
    return Scores(s, clear_score)


def kept(
    cands: Candidates,
    scene: SceneClouds,
    clear: Clearance,
    scores: Scores,
    dims: Dict[str, float],
    cfg: GraspConfig,
) -> Kept:
    """The grasps listed, best first: non-maximum suppression (:func:`nms`) over the free poses in rank order
    (module docstring), each kept grasp opened as wide as the free room allows
    (:func:`~point2act.grasp.opening.widest_free_opening`; above the support plane, where there is one)."""
    (pairs, part), clouds, plane = cands, scene.clouds, scene.surf.plane
    U, g, free = cfg.gripper.units, cfg.gripper, clear.free
    k_of, t_of = np.nonzero(free)
    seen = ~pairs.support[k_of]
    rank = (scores.score[k_of, t_of] + RANK_ON_TARGET * part.on[k_of, t_of] + RANK_TOUCH * clear.touch[k_of, t_of]
            + RANK_SEEN * seen)
    listed = nms(clear.tcp[k_of, t_of], pairs.rotations[k_of, t_of], rank, U(cfg.nms_distance),
                 math.radians(NMS_ANGLE_DEG), cfg.top_k)
    half_opening = part.half_opening
    if len(listed) and len(clouds.obstacles.fine):
        half_opening = half_opening.copy()
        kk, tk_ = k_of[np.asarray(listed)], t_of[np.asarray(listed)]
        checks = OpeningChecks(U(SWEEP_FINE_LENGTH), U(g.pregrasp_distance), U(CLEARANCE_MARGIN),
                               cfg.collision_min_points, dims)
        support = None if plane is None else SupportClearance(pairs.rotations, plane, U(cfg.table_clearance))
        poses = CandidatePoses(part.offset, half_opening, clear.depth)
        half_opening[kk, tk_] = widest_free_opening(pairs.frames, pairs.theta, OpeningScene(clouds.obstacles, support),
                                                    poses, CandidateIds(kk, tk_), checks)
    return Kept(k_of[listed], t_of[listed], half_opening)


def grasps_of(
    listed: Kept,
    cands: Candidates,
    clear: Clearance,
    scores: Scores,
    max_opening: float,
    handover: Handover,
) -> List[Grasp]:
    """The :class:`Grasp` of each kept candidate, those with a non-finite pose or score left out; openings at most
    ``max_opening`` (capture units). With an avoid channel each carries its avoid score, and with the
    ``handover``'s direction (towards the handover recipient) its :func:`handover_rotation`: the smallest
    rotation of the grasp, about the TCP, that turns the direction from the TCP to the avoid region's action point
    into ``-direction``."""
    pairs, part = cands
    avoid_region, handover_direction = handover
    grasps: List[Grasp] = []
    ks, ts, half_opening = listed
    Rs = pairs.rotations[ks, ts]  # [G, 3, 3]
    for i, (k, tt) in enumerate(zip(ks, ts)):
        gr = Grasp(
            position=clear.tcp[k, tt].copy(),
            rotation=orthonormalize(Rs[i]),
            opening=float(min(2 * half_opening[k, tt], max_opening)),
            contact_width=float(pairs.width[k]),
            score=float(scores.score[k, tt]),
            semantic_score=float(part.share[k, tt]),
            geometric_score=float(clear.geometric[k, tt]),
            contacts=np.stack([pairs.first[k], pairs.second[k]]),
            on_target=bool(part.on[k, tt]),
            clearance_score=float(scores.clearance[k, tt]),
            closing_cells=int(part.n_close[k, tt]),
            both_pads_touch=bool(clear.touch[k, tt]),
            contacts_seen=not bool(pairs.support[k]),
            backed_off=float(max(part.depth[k, tt] - clear.depth[k, tt], 0.0)),
            clears_margin=True,
        )
        if part.avoid_score is not None:
            gr.avoid_score = float(part.avoid_score[k, tt])
            if handover_direction is not None and avoid_region is not None:
                gr.handover_rotation = handover_rotation(gr.rotation, gr.position, avoid_region.action_point,
                                                         handover_direction)
        if np.isfinite(gr.position).all() and np.isfinite(gr.rotation).all() and math.isfinite(gr.score):
            grasps.append(gr)
    return grasps


def warning(grasps: List[Grasp], part: Holds, clear: Clearance, counts: Dict[str, int],
            target: str | None = None) -> str | None:
    """Why the result is short of an on-target grasp listed first: none survived scoring, or the first closes
    mostly on another part (with the best target share among the free poses and :func:`why_none`)."""
    if not grasps:
        return "no grasp survived scoring"
    if grasps[0].on_target:
        return None
    best = float(part.share[clear.free].max())
    return (f"no grasp closes on the relevant region: every grasp listed closes mostly on other parts "
            f"(on_target false; the best holds {best:.0%} target, {ON_TARGET_SHARE:.0%} needed); "
            + why_none(counts, counts["candidates"], on_target=True, target=target))


def target_patch(points: np.ndarray | None, plane, metres_per_unit: float) -> str | None:  # points [M, 3]
    """The fused surface the answers mark as the target, in words: its points and its narrowest and widest extent
    seen along the support plane's normal (180 directions), e.g. "the fused surface marked as the target is 5
    points, 0.3 x 0.9 cm across". A grasp must hold mostly this between its fingers, so a patch much smaller than
    the body it lies on cannot be held on its own. None without points or a plane."""
    if points is None or len(points) == 0 or plane is None:
        return None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    nrm = np.asarray(plane, dtype=np.float64)[:3]
    a = np.cross(nrm, [1.0, 0.0, 0.0] if abs(nrm[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    uv = np.stack([pts @ a, pts @ np.cross(nrm, a)], 1)  # [M, 2] along the plane
    ang = np.linspace(0.0, np.pi, 180, endpoint=False)
    proj = uv @ np.stack([np.cos(ang), np.sin(ang)])  # [M, 180]
    ext = (proj.max(0) - proj.min(0)) * float(metres_per_unit) * 100.0
    return (f"the fused surface marked as the target is {len(pts)} points, {ext.min():.1f} x {ext.max():.1f} cm "
            "across")


def why_none(counts: Dict[str, int], n: int, on_target: bool = False, target: str | None = None) -> str:
    """Why no (on-target) grasp is left, from the planner's counts; ``target``: :func:`target_patch`'s words,
    named where no candidate holds mostly target."""
    said = f"; {target}" if target else ""
    if on_target:
        k = counts.get("on_target_candidates", 0)
        if k == 0:
            return (f"none of the {n} candidates at the target holds mostly target between its fingers "
                    "(the target is wider than the gripper's opening, too small or too flat to be held on its own, "
                    f"e.g. a tab lying on a lid, enclosed, or not seen as a surface){said}")
        return (f"{k} of the {n} candidates close on the target, all collide with occupied or unknown space, the "
                "support plane, or the scene points on their approach")
    k = counts.get("closing_on_something", 0)
    if k and counts.get("on_target_candidates", 0) == 0:
        return (f"none of the {n} grasp candidates holds mostly target between its fingers (the relevant part is "
                "too small or too flat to be held on its own, e.g. a tab lying on a lid, which the fingertips "
                f"cannot get under), and the {k} that close on the parts around it collide with the scene{said}")
    if k == 0:
        return (f"none of the {n} grasp candidates closes on anything that fits between the fingers "
                "(the part is wider than the gripper's opening, or not seen as a surface)")
    return f"all {n} {CANDIDATES_COLLIDE}: " + what_blocks(counts)


def what_blocks(counts: Dict[str, int]) -> str:
    """Which check stopped the candidates that close on something, from the collision stage's counts: the
    support plane (``table_free``), the fingers and palm at the grasp (``fingers_free``: the part's neighbours
    leave no room for a finger beside it), their approach (the swept boxes), or a slip of a pair across the support
    (``support_slips``). Each candidate counts at the first check it failed at every depth it was tried."""
    k = counts.get("closing_on_something", 0)
    table = counts.get("table_free", k)
    fingers = counts.get("fingers_free", table)
    slips = counts.get("support_slips", 0)
    approach = max(fingers - counts.get("collision_free", 0) - slips, 0)
    parts = [(k - table, "reach into the support plane"),
             (table - fingers, "put a finger or the palm into occupied or unknown space beside the part (its "
                               "neighbours leave no room for a finger)"),
             (approach, "hit the scene on their approach"),
             (min(slips, fingers), "clear the scene but would slip (a closing along the support plane with no "
                                   "friction to hold)")]
    said = [f"{c} {what}" for c, what in parts if c > 0]
    return f"of the {k} that close on something, " + ("; ".join(said) if said else "none clears the scene")


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
