"""How wide a kept grasp opens: the widest of :data:`OPEN_LEVELS` at which its fingers still clear the scene
(:func:`widest_free_opening`). Plain numpy; the checks are :func:`~point2act.grasp.box_hits.gripper_cloud_hits`."""

from __future__ import annotations

import math
from typing import Dict, NamedTuple

import numpy as np

from point2act.grasp.clouds import Obstacles
from point2act.grasp.box_hits import L2, LINF, PairReach, box, gripper_cloud_hits
from point2act.grasp.frames import CandidateIds, CandidatePoses, LiveCandidates, PairFrames
from point2act.grasp.support import plane_min

__all__ = ["OPEN_LEVELS", "OpeningChecks", "OpeningScene", "SupportClearance", "widest_free_opening"]

OPEN_LEVELS = (1.0, 0.5)
"""Openings tried for a kept grasp, as the fraction of the way from the part's opening to the gripper's
widest: fully open first, then halfway."""


class OpeningChecks(NamedTuple):
    """What a wider opening is checked with: the gripper's boxes and the lengths of the checks (capture units)."""

    near: float
    """The first stretch of the approach, checked against the fine cloud with the fingers at the grasp pose."""
    pregrasp: float
    """The pre-grasp distance: the rest of the approach, up to it, is checked against the coarse cloud."""
    clearance_margin: float
    """How far the fine search band reaches beyond the collision margin."""
    min_points: int
    """A box collides when it holds at least this many points."""
    dims: Dict[str, float]
    """The gripper's box dimensions (:meth:`~point2act.grasp.config.GripperConfig.scaled`)."""


class SupportClearance(NamedTuple):
    """The support plane a wider opening's fingers and palm keep clear of."""

    rotations: np.ndarray  # [K, T, 3, 3]
    """The gripper's rotation per candidate."""
    plane: np.ndarray  # [4]
    """The support plane (unit normal, offset)."""
    clearance: float
    """How far above it the fingers and the palm stay."""


class OpeningScene(NamedTuple):
    """What a wider opening's fingers keep clear of: the clouds, with their margins, and the support plane."""

    obstacles: Obstacles
    """The fine and the coarse cloud and their collision margins."""
    support: SupportClearance | None = None
    """The support plane and the clearance above it (None: no plane)."""


def widest_free_opening(
    frames: PairFrames,  # [K]
    theta: np.ndarray,  # [T] approach angles
    scene: OpeningScene,
    poses: CandidatePoses,  # [K, T] the part's opening (half_opening) and depth
    kept: CandidateIds,  # [G] the grasps' pair indices and their approach indices
    checks: OpeningChecks,
) -> np.ndarray:  # [G] half-opening of each grasp
    """The widest half-opening at which each grasp's fingers still clear the scene, from
    :data:`OPEN_LEVELS`, or its part's half-opening when none does.

    The part's opening is its measured extent plus ``CLEARANCE``; a reconstruction that measures a part
    thinner than it is (a thin bar from few views or no point cloud: fuzzy, thin, its silhouette eaten)
    puts a finger inside the true part. A parallel-jaw gripper closes until it meets the part, so any
    opening from which the fingers' way in is free holds the same part, and the widest one tolerates
    the most error. Checked per level: the fingers at the wider opening together with the space they
    sweep while closing to the part's opening (one box from the part's opening to the outer face of the
    finger, at the grasp pose and on the first ``checks.near`` of the approach, against the fine cloud, with
    the collision margin), and the fingers on the rest of the approach from ``checks.pregrasp`` against the
    coarse cloud (the coarse margin). With the ``scene``'s support plane, the fingers and the palm at the wider
    opening also keep its clearance above it at the grasp and the pre-grasp pose (the clouds leave the table out;
    :func:`~point2act.grasp.support.plane_min`)."""
    c, x = frames.centres, frames.x
    offset, half_opening, depth = poses
    kk, tt = kept
    (fine, coarse, margin, coarse_margin), support = scene
    near, pre, clearance_margin, min_points, dims = checks
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    half_open = 0.5 * dims["max_opening"]
    K, T = half_opening.shape
    out = half_opening[kk, tt].copy()
    todo = np.zeros((K, T), bool)
    todo[kk, tt] = half_opening[kk, tt] < half_open - 1e-9
    uk = np.unique(kk)
    lo = np.full(K, np.inf)
    lo[uk] = np.min(np.where(todo, half_opening - np.abs(offset), np.inf), axis=1)[uk] - margin - clearance_margin
    hi = np.zeros(K)
    hi[uk] = half_open + np.max(np.abs(offset), axis=1)[uk] + t + margin + clearance_margin
    rf = math.sqrt((float(hi.max()) if len(uk) else 0.0) ** 2 + (fw / 2 + margin + clearance_margin) ** 2
                   + (L + near + margin + clearance_margin) ** 2)
    rp = math.sqrt((half_open + t + coarse_margin) ** 2 + (fw / 2 + coarse_margin) ** 2
                   + (L + pre + coarse_margin + float(depth.max())) ** 2)
    for lam in OPEN_LEVELS:
        if not todo.any():
            break
        ok = todo.copy()
        if support is not None:
            R, plane, table_clearance = support
            z_ax = R[..., 2]
            tcp = c[:, None, :] + offset[..., None] * x[:, None, :] + depth[..., None] * z_ax
            wide_h = lam * half_open + (1.0 - lam) * half_opening
            ok &= plane_min(plane, tcp, R, wide_h, dims) >= table_clearance
            if pre > 0:
                ok &= plane_min(plane, tcp - pre * z_ax, R, wide_h, dims) >= table_clearance
        # x from the part's opening (hh = half_opening) to the wider opening's outer face:
        # lam * half_open + (1 - lam) * half_opening + t
        sweep = [box((0.0, 1.0, lam * half_open + t, 1.0 - lam), fw / 2, (-L - near, 0.0), margin, L2)]
        way_in = [box((lam * half_open, 1.0 - lam, lam * half_open + t, 1.0 - lam), fw / 2, (-L - pre, -L - near),
                      coarse_margin, LINF)]
        checks_of_level = ((fine, rf, sweep, lo, hi), (coarse, rp, way_in, 0.0, hi + coarse_margin))
        for cloud, radius, boxes, blo, bhi in checks_of_level:
            alive = np.flatnonzero(ok.any(1))
            if len(alive) and len(cloud):
                reach = PairReach(radius, blo if np.isscalar(blo) else blo[alive], bhi[alive])
                poses_alive = CandidatePoses(offset[alive], half_opening[alive], depth[alive])
                hits, _ = gripper_cloud_hits(PairFrames(*(a[alive] for a in frames)), cloud, reach,
                                             LiveCandidates(theta, poses_alive, ok[alive]), boxes, min_points)
                ok[alive] &= hits < min_points
        wide = ok[kk, tt]
        out[wide] = lam * half_open + (1.0 - lam) * half_opening[kk, tt][wide]
        todo &= ~ok
    return out
