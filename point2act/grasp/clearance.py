"""The planner's collision stage: which candidates clear the scene, at what depth, where their pads close and how
far their fingers keep from everything else.

The gripper's boxes (:func:`~point2act.grasp.box_hits.box`) are checked against the clouds of
:func:`~point2act.grasp.clouds.collision_clouds` by :func:`~point2act.grasp.box_hits.gripper_cloud_hits`: the
fingers and the palm at the grasp pose and on the first ``SWEEP_FINE_LENGTH`` of the approach against the fine
cloud, the rest of the approach against the coarse one, both poses against the support plane. Plain numpy.
"""

from __future__ import annotations

import math
from typing import Dict, NamedTuple, Tuple

import numpy as np

from point2act.grasp.clouds import CollisionClouds, SceneClouds
from point2act.grasp.box_hits import DISTANCE, L2, LINF, PairReach, box, gripper_cloud_hits
from point2act.grasp.config import (
    CLEARANCE_MARGIN,
    MAX_GRASP_DEPTH,
    MIN_GRASP_DEPTH,
    SWEEP_FINE_LENGTH,
    TIP_MARGIN,
    VOXEL_SIZE,
    GraspConfig,
)
from point2act.grasp.frames import CandidateIds, CandidatePoses, LiveCandidates, OrientedPoints, PadContact, PairFrames, PairScan
from point2act.grasp.holds import Candidates, Holds
from point2act.grasp.part_scans import pad_quality, pads_touch_contacts
from point2act.grasp.support import plane_min

__all__ = ["ClearPoses", "Clearance", "clear_poses", "clearance", "collision", "finger_band", "pads"]


class ClearPoses(NamedTuple):
    """The candidates that clear the scene, and at what depth (:func:`clear_poses`)."""

    free: np.ndarray  # [K, T] bool
    """Clears the scene at ``depth``."""
    depth: np.ndarray  # [K, T]
    """The TCP depth, backed offset where the part's depth collides."""
    tcp: np.ndarray  # [K, T, 3]
    """The TCP positions."""
    passed: Dict[str, np.ndarray]  # name -> [K, T] bool
    """Per check (``table_free``, ``fingers_free``), the candidates that passed it at some depth."""


class Clearance(NamedTuple):
    """The collision-free poses and what their pads hold (:func:`collision`)."""

    free: np.ndarray  # [K, T] bool
    """Clears the scene at ``depth`` (and does not slip)."""
    depth: np.ndarray  # [K, T]
    """The TCP depth, backed offset where the part's depth collides."""
    tcp: np.ndarray  # [K, T, 3]
    """The TCP positions."""
    touch: np.ndarray  # [K, T] bool
    """The pads touch both contacts."""
    geometric: np.ndarray  # [K, T]
    """The antipodal quality where the pads hold."""
    distance: np.ndarray  # [K, T]
    """The distance from the fingers to the nearest point (free poses; ``inf`` for the rest)."""


def finger_band(
    base: np.ndarray,  # [K, T] bool: the candidates that may be tried
    part: Holds,
    dims: Dict[str, float],
    margin: float,
    clearance_margin: float,
    near: float,
) -> PairReach | None:  # radius, band_lo [K] float32, band_hi [K] float32
    """The fingers' search band per pair (``|x|`` from ``band_lo`` to ``band_hi``) over every approach that may be
    tried, at any depth, and the radius that holds the fingers and the first ``near`` of their approach, both
    grown by the margins (the collision ``margin`` and the ``clearance_margin`` the clearance score reaches);
    ``None`` where no candidate is tried."""
    if not base.any():
        return None
    offset, half_opening = part.offset, part.half_opening
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    lo_k = np.where(base, half_opening - np.abs(offset), np.inf).min(1)
    hi_k = np.where(base, half_opening + np.abs(offset), 0.0).max(1)
    rf = math.sqrt((float(hi_k.max()) + t + margin + clearance_margin) ** 2
                   + (fw / 2 + margin + clearance_margin) ** 2
                   + (L + near + margin + clearance_margin) ** 2)
    return PairReach(rf, (lo_k - margin - clearance_margin).astype(np.float32),
                     (hi_k + t + margin + clearance_margin).astype(np.float32))


def _frames_of(frames: PairFrames, alive: np.ndarray) -> PairFrames:
    """``frames`` of the pairs ``alive`` only."""
    return PairFrames(*(a[alive] for a in frames))


def _of_pairs(reach: PairReach, alive: np.ndarray) -> PairReach:
    """``reach`` for the pairs ``alive`` only (a band that is one number for all stays one)."""
    lo, hi = reach.band_lo, reach.band_hi
    return PairReach(reach.radius, lo if np.isscalar(lo) else lo[alive], hi if np.isscalar(hi) else hi[alive])


def clear_poses(
    cands: Candidates,
    scene: SceneClouds,
    base: np.ndarray,  # [K, T] bool: the candidates to check
    band: PairReach | None,  # :func:`finger_band` over every candidate that may be tried
    dims: Dict[str, float],
    cfg: GraspConfig,
) -> ClearPoses:
    """Which candidates clear the scene, and at what depth. Checked are both poses against the support plane
    (``table_clearance``), the fingers and the palm at the grasp pose and on the first ``SWEEP_FINE_LENGTH`` of
    the approach against the fine cloud (the fingers' points found within ``band``), and the rest of the
    straight approach from the pre-grasp pose against the coarse one. An on-target pose that collides at the
    depth its part asks for (the body behind a mug handle's loop, a rim above the handle) backs offset along the
    approach, one ``TIP_MARGIN`` at a time, while the contacts stay ``MIN_GRASP_DEPTH`` inside the pads: the pads
    still close on what the contacts touch. Only what closes on the target backs offset (the rest would cost more
    rounds of checks where nothing is on target). Each candidate's answer is its own: the kernel counts its hits
    alone, and ``band`` (fixed by the caller) decides which points it meets."""
    (pairs, part), clouds, plane = cands, scene.clouds, scene.surf.plane
    U, pre = cfg.gripper.units, cfg.gripper.units(cfg.gripper.pregrasp_distance)
    frames, theta, R = pairs.frames, pairs.theta, pairs.rotations
    c, x = frames.centres, frames.x
    fine, coarse, margin, coarse_margin = clouds.obstacles
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    Dp, pw, pt = dims["palm_depth"], dims["palm_width"], dims["palm_thickness"]
    offset, half_opening, depth, half_open = part.offset, part.half_opening, part.depth, 0.5 * dims["max_opening"]
    z_ax = R[..., 2]  # [K, T, 3]
    ctr = c[:, None, :] + offset[..., None] * x[:, None, :]  # [K, T, 3] the grasp's centre on the closing line
    near = min(pre, U(SWEEP_FINE_LENGTH))
    boxes_fine = [box((0.0, 1.0, t, 1.0), fw / 2, (-L - near, 0.0), margin, L2)]  # the fingers
    step, min_d, clear = U(TIP_MARGIN), U(MIN_GRASP_DEPTH), U(cfg.table_clearance)
    hx = pw / 2 + half_open + margin
    rpn = math.sqrt(hx**2 + (pt / 2 + margin) ** 2 + (L + Dp + near + margin + U(MAX_GRASP_DEPTH)) ** 2)
    palm = [box((0.0, 0.0, pw / 2, 0.0), pt / 2, (-L - Dp - near, -L), margin, LINF)]
    rp = math.sqrt((pw / 2 + coarse_margin) ** 2 + (pt / 2 + coarse_margin) ** 2
                   + (L + Dp + pre + coarse_margin + U(MAX_GRASP_DEPTH)) ** 2)
    swept = [box((0.0, 0.0, pw / 2, 0.0), pt / 2, (-L - Dp - pre, -L - near), coarse_margin, LINF),
             box((0.0, 1.0, t, 1.0), fw / 2, (-L - pre, -L - near), coarse_margin, LINF)]
    passed = {k_: np.zeros_like(base) for k_ in ("table_free", "fingers_free")}
    free = np.zeros_like(base)
    pending = base.copy()

    def check(ok, cloud, reach, boxes):
        alive = np.flatnonzero(ok.any(1))
        if len(alive) and len(cloud):
            poses = CandidatePoses(offset[alive], half_opening[alive], depth[alive])
            hits, _ = gripper_cloud_hits(_frames_of(frames, alive), cloud, _of_pairs(reach, alive),
                                         LiveCandidates(theta, poses, ok[alive]), boxes, cfg.collision_min_points)
            ok[alive] &= hits < cfg.collision_min_points

    while pending.any():
        tcp = ctr + depth[..., None] * z_ax
        ok = pending.copy()
        if plane is not None:
            ok &= plane_min(plane, tcp, R, half_opening, dims) >= clear
            if pre > 0:
                ok &= plane_min(plane, tcp - pre * z_ax, R, half_opening, dims) >= clear
        passed["table_free"] |= ok
        if band is not None and len(fine):
            check(ok, fine, band, boxes_fine)
            check(ok, fine, PairReach(rpn, 0.0, hx), palm)
        passed["fingers_free"] |= ok
        check(ok, coarse, PairReach(rp, 0.0, pw / 2 + coarse_margin + half_open), swept)
        free |= ok
        pending &= ~ok & (depth > min_d + 1e-12) & part.on
        depth = np.where(pending, np.maximum(depth - step, min_d), depth)
    return ClearPoses(free, depth, ctr + depth[..., None] * z_ax, passed)


def pads(
    scene: SceneClouds,
    cands: Candidates,
    cleared: ClearPoses,
    lengths: Dict[str, float],
    cfg: GraspConfig,
    counts: Dict[str, int],
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:  # touch [K, T] bool, geometric [K, T], slip [K, T] bool
    """Where the free poses' pads close: whether they touch both contacts
    (:func:`~point2act.grasp.part_scans.pads_touch_contacts`; a grasp held where the target was pointed at may have
    left one contact beyond its fingertips, its opening then reaching to an empty contact and the part offset
    centre between the fingers: such grasps rank after those that touch both), and the antipodal quality where
    the pads meet the surface (:func:`~point2act.grasp.part_scans.pad_quality`), which is where they hold: the pair's
    contacts may lie inside the part's extent (the inner faces of a loop) or offset its end. Elsewhere the pads
    count as touching and the quality is the pair's. A support pair
    (:func:`~point2act.grasp.candidates.support_pairs`) whose pads both meet side faces the views saw, outside
    the friction cone, slips (``slip``); where a pad meets only the edge of a top face, the side below it was
    not seen and its quality stays the pair's, 0."""
    (surf, clouds), (pairs, part) = scene, cands
    free, depth = cleared.free, cleared.depth
    K, T = free.shape
    touch = np.ones((K, T), bool)
    slip = np.zeros((K, T), bool)
    geo = np.repeat(pairs.quality[:, None], T, 1)
    if free.any():
        kf, tf = np.nonzero(free)
        scan, which = PairScan(T, lengths), CandidateIds(kf, tf)
        tk = pads_touch_contacts(pairs.frames, clouds.extent, pairs.span, depth, which, scan)
        touch[kf, tf] = tk
        counts["pads_miss_a_contact"] = int((~tk).sum())
        up = None if surf.plane is None else surf.plane[:3]
        contact = PadContact(cfg.gripper.units(VOXEL_SIZE), cfg.friction_coef, up, pairs.support)
        qp, fnd = pad_quality(pairs.frames, OrientedPoints(surf.points, surf.normals),
                              CandidatePoses(part.offset, part.half_opening, depth), which, scan, contact)
        geo[kf, tf] = np.where(fnd, qp, geo[kf, tf])
        counts["pads_meet_no_surface"] = int((~fnd).sum())
        slips = pairs.support[kf] & fnd & (qp <= 0.0)
        slip[kf[slips], tf[slips]] = True
        counts["support_slips"] = int(slips.sum())
    return touch, geo, slip


def clearance(
    cands: Candidates,
    clouds: CollisionClouds,
    free: np.ndarray,  # [K, T] bool
    depth: np.ndarray,  # [K, T]
    band: PairReach | None,  # :func:`finger_band`
    dims: Dict[str, float],
) -> np.ndarray:  # [K, T]
    """The free poses' clearance at the grasp pose: the distance from the fingers to the nearest point of the
    fine cloud (``inf`` for the rest), which the clearance score rewards (:func:`~point2act.grasp.scoring.score`)."""
    pairs, part = cands
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    clear_d = np.full(free.shape, np.inf)
    alive = np.flatnonzero(free.any(1))
    if len(alive) and len(clouds.obstacles.fine):
        poses = CandidatePoses(part.offset[alive], part.half_opening[alive], depth[alive])
        _, cd = gripper_cloud_hits(_frames_of(pairs.frames, alive), clouds.obstacles.fine, _of_pairs(band, alive),
                                   LiveCandidates(pairs.theta, poses, free[alive]),
                                   [box((0.0, 1.0, t, 1.0), fw / 2, (-L, 0.0), role=DISTANCE)], 1)
        clear_d[alive] = np.minimum(clear_d[alive], cd)
    return clear_d


def collision(
    scene: SceneClouds,
    cands: Candidates,
    lengths: Dict[str, float],
    cfg: GraspConfig,
    counts: Dict[str, int],
    on_target_only: bool = False,
) -> Clearance:
    """The candidates that clear the scene (:func:`clear_poses`) among those whose part fits and that close on
    something, where their pads close (:func:`pads`) and their clearance (:func:`clearance`). The gripper is
    checked against the clouds of :func:`~point2act.grasp.clouds.collision_clouds`: with an occupancy grid its
    occupied and unknown cells, outside it the surface points; without, the surface points.

    With ``on_target_only`` only the candidates that close on the target are checked, the others are left not
    free: for a caller that keeps only the on-target grasps (the tight pass of
    :func:`~point2act.grasp.planner.plan_grasps`). The ranking of :func:`~point2act.grasp.scoring.kept` puts
    every on-target pose above every other, and its non-maximum suppression walks in rank order, so the others
    never suppress nor displace an on-target grasp. The fingers' search band still spans every candidate whose
    part fits and holds, so each checked candidate meets the same points, hits and clearance as without; the
    pads' window (:func:`pads`) is scanned in float32 about the centres of the pairs with a free pose, fewer
    here, which moves its rounding only. The counts then tell of the on-target candidates only."""
    U, dims = cfg.gripper.units, cfg.gripper.scaled()
    (pairs, part), clouds = cands, scene.clouds
    base = part.holds & pairs.span.fits[:, None]
    near = min(U(cfg.gripper.pregrasp_distance), U(SWEEP_FINE_LENGTH))
    band = finger_band(base, part, dims, clouds.obstacles.margin, U(CLEARANCE_MARGIN), near)
    checked = base & part.on if on_target_only else base
    cleared = clear_poses(cands, scene, checked, band, dims, cfg)
    touch, geo, slip = pads(scene, cands, cleared, lengths, cfg, counts)
    free, depth = cleared.free & ~slip, cleared.depth
    counts.update({k_: int(v_.sum()) for k_, v_ in cleared.passed.items()})
    counts["backed_off"] = int((free & (depth < part.depth - 1e-12)).sum())
    counts["collision_free"] = int(free.sum())
    clear_d = clearance(cands, clouds, free, depth, band, dims)
    counts["on_target_candidates"] = int((part.on & part.holds).sum())
    counts["on_target_free"] = int((part.on & free).sum())
    return Clearance(free, depth, cleared.tcp, touch, geo, clear_d)
