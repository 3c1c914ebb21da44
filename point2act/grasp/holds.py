"""What each candidate holds (the planner's candidates stage, after the pairs): the grasp depth, the opening
centred on the part, what lies between the pads and the target's share of it, and, with an avoid channel, how
much of the avoid region the fingers close on or pass through. The scans are :mod:`point2act.grasp.part_scans`'s.
Plain numpy.
"""

from __future__ import annotations

import math
from typing import Dict, NamedTuple

import numpy as np

from point2act.grasp.candidates import Pairs
from point2act.grasp.clouds import CollisionClouds, SceneClouds
from point2act.grasp.config import (
    CLEARANCE,
    LONG_PART_DEPTH,
    MAX_GRASP_DEPTH,
    MIN_CLOSING_POINTS,
    MIN_GRASP_DEPTH,
    ON_TARGET_SHARE,
    PART_GAP,
    REGION_MIN_OPACITY,
    RELEVANCY_NEIGHBOURS,
    TIP_MARGIN,
    VOXEL_SIZE,
    GraspConfig,
)
from point2act.grasp.frames import DepthLimits, PairScan, PartCloud, PathWeights
from point2act.grasp.part_scans import grasp_part, hold_depth
from point2act.grasp.result import Region
from point2act.grasp.support import support_room
from point2act.grasp.surface import surface_relevancy

__all__ = ["AvoidGaussians", "Candidates", "Holds", "avoid_relevancy", "avoid_scores", "grasp_parts", "part_lengths"]


class Holds(NamedTuple):
    """What each candidate (pair k, approach t) holds (:func:`grasp_parts`)."""

    depth: np.ndarray  # [K, T]
    """The TCP depth past the pair's centre the part asks for."""
    offset: np.ndarray  # [K, T]
    """The grasp centre's offset along the closing axis."""
    half_opening: np.ndarray  # [K, T]
    """Half the opening (the pads' inner faces)."""
    n_close: np.ndarray  # [K, T] int
    """The cells (points) between the pads."""
    share: np.ndarray  # [K, T]
    """The target's share of them."""
    holds: np.ndarray  # [K, T] bool
    """At least ``MIN_CLOSING_POINTS`` between the pads."""
    on: np.ndarray  # [K, T] bool
    """On target: the share is at least ``ON_TARGET_SHARE``."""
    avoid_score: np.ndarray | None  # [K, T]
    """The avoid channel's score (:func:`avoid_scores`); None without a channel."""


class Candidates(NamedTuple):
    """The grasp candidates the later stages check and rank: the contact pairs, each turned through the approach
    angles, and what each candidate (pair k, approach t) holds."""

    pairs: Pairs
    """The contact pairs and their grasp frames."""
    part: Holds
    """What each candidate holds (:func:`grasp_parts`)."""


class AvoidGaussians(NamedTuple):
    """An avoid channel on the Gaussians."""

    relevancy: np.ndarray  # [N] float64
    """The avoid channel's relevancy per Gaussian."""
    means: np.ndarray  # [N, 3]
    """The Gaussians' centres."""
    opacities: np.ndarray  # [N]
    """The Gaussians' opacities."""


def part_lengths(clouds: CollisionClouds, dims: Dict[str, float], cfg: GraspConfig,
                 with_avoid: bool) -> Dict[str, float]:
    """The lengths of :mod:`point2act.grasp.part_scans` (its ``lengths``), in capture units: the pads' window, the
    part's gap, the depths and the margins. With an avoid channel the window reaches the fingers' outer faces
    (their path)."""
    U = cfg.gripper.units
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    half_open, mg = 0.5 * dims["max_opening"], clouds.obstacles.margin
    reach = half_open + (t if with_avoid else 0.0)
    return {"half_y": fw / 2, "L": L, "reach": reach, "radius": math.sqrt(reach**2 + (fw / 2) ** 2 + L**2) + mg,
            "gap": max(1.5 * clouds.cell, U(PART_GAP)), "tip": U(TIP_MARGIN),
            "min_depth": U(MIN_GRASP_DEPTH), "max_depth": U(MAX_GRASP_DEPTH),
            "long_depth": U(LONG_PART_DEPTH), "pad_x": clouds.pad_x, "clr": U(CLEARANCE),
            "half_open": half_open, "mg": mg}


def grasp_parts(
    pairs: Pairs,
    scene: SceneClouds,
    labels: np.ndarray,  # [Mb] bool: the entries of scene.clouds.extent that are the target's
    region: Region,
    cfg: GraspConfig,
    avoid: AvoidGaussians | None,
) -> Holds:
    """What each candidate holds (:mod:`point2act.grasp.part_scans`): the part's far side along the approach gives
    the depth (the fingertips just past it; a part that goes on beyond the fingers' reach, a wall under a rim
    or a rod along the approach, is held at the action point, within ``LONG_PART_DEPTH`` of the contacts; no
    deeper than the support plane allows, :func:`~point2act.grasp.support.support_room`), its extent across the
    closing axis where the pads will be gives the opening, centred on it; then what lies between the pads and
    the target's share of it. With an ``avoid`` channel the same scan takes its largest relevancy in the closing
    region and the fingers' path (:func:`avoid_scores`); the scan's lengths come from
    :func:`part_lengths`."""
    U, dims, fits = cfg.gripper.units, cfg.gripper.scaled(), pairs.span.fits
    clouds, plane = scene.clouds, scene.surf.plane
    lengths = part_lengths(clouds, dims, cfg, avoid is not None)
    K, T = len(pairs.frames.centres), len(pairs.theta)
    depth = np.full((K, T), U(MIN_GRASP_DEPTH))
    n_close = np.zeros((K, T), np.int64)
    share = np.zeros((K, T))
    offset = np.zeros((K, T))
    half_opening = np.repeat(pairs.span.half_opening[:, None], T, 1)
    avoid_score = np.zeros((K, T)) if avoid is not None else None
    if fits.any() and len(clouds.holdable):
        c, u, v = pairs.frames.centres, pairs.frames.u, pairs.frames.v
        room = support_room(plane, c, pairs.rotations, 0.5 * dims["max_opening"], dims, U(cfg.table_clearance)) \
            if plane is not None else np.full((K, T), np.inf)
        hold = hold_depth(c, u, v, region.action_point, T)
        A = avoid_relevancy(avoid, clouds, cfg) if avoid is not None else None
        part = grasp_part(pairs.frames, pairs.span, PartCloud(clouds.extent, clouds.extent_occupied, labels),
                          DepthLimits(room, hold), PairScan(T, lengths),
                          weights=None if A is None else PathWeights(A, dims["finger_thickness"]))
        depth, offset, half_opening, n_close, n_rel = (part[k] for k in ("depth", "offset", "half_opening",
                                                                          "n_close", "n_rel"))
        share = np.where(n_close > 0, n_rel / np.maximum(n_close, 1), 0.0)
        if A is not None:
            avoid_score = avoid_scores(part["w_max"], A)
    return Holds(depth, offset, half_opening, n_close, share, n_close >= MIN_CLOSING_POINTS,
                 share >= ON_TARGET_SHARE, avoid_score)


def avoid_relevancy(avoid: AvoidGaussians, clouds: CollisionClouds, cfg: GraspConfig) -> np.ndarray:  # [Mb]
    """The avoid channel's surface relevancy ``A`` on ``clouds.extent`` (taken as for the target's, from the finite
    Gaussians at least ``REGION_MIN_OPACITY`` opaque): the weights whose maxima :func:`avoid_scores` takes."""
    U = cfg.gripper.units
    av, means, opac = avoid
    okA = np.isfinite(av) & np.isfinite(means).all(1) & np.isfinite(opac) & (opac >= REGION_MIN_OPACITY)
    return surface_relevancy(clouds.extent, means[okA], opac[okA], np.clip(av[okA], 0, 1), RELEVANCY_NEIGHBOURS,
                             3 * U(VOXEL_SIZE) + clouds.cell)


def avoid_scores(
    w_max: np.ndarray,  # [K, T] grasp_part's largest A
    A: np.ndarray,  # [Mb] the weights it took the maxima of (:func:`avoid_relevancy`)
) -> np.ndarray:  # [K, T] in [0, 1]
    """Each candidate's avoid score, in [0, 1] (grasps.json's ``avoid_score``): the largest avoid relevancy
    ``A`` among the entries of ``extent`` in the closing region and the fingers' path (``|x - offset| <=
    half_opening + finger_thickness``: the finger boxes widened to the whole gap between them, what the fingers
    sweep through on approach), normalised by ``A``'s maximum, so that grasps through the avoid region rank low
    (:func:`~point2act.grasp.scoring.score`). The maximum is :func:`~point2act.grasp.part_scans.grasp_part`'s ``w_max``
    with ``PathWeights(A, finger_thickness)``, taken in the same scan of ``extent`` that gives the depth and
    the opening."""
    return w_max / max(float(A.max()) if len(A) else 0.0, 1e-12)
