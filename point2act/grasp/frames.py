"""What the per-pair scans take: the contact pairs' frames and the candidates' poses in them, and the groups of
arrays that :mod:`point2act.grasp.part_scans` and :mod:`point2act.grasp.box_hits` read together.

A candidate is (pair ``k``, approach angle ``t``). Pair ``k``'s frame has its origin at ``centres[k]``, ``x[k]``
along the closing axis and ``u[k]``, ``v[k]`` across it; approach ``t`` (angle ``theta[t] = 2 pi t / T``) points
the gripper's z along ``u cos(theta) + v sin(theta)``. Plain numpy, no behaviour.
"""

from __future__ import annotations

from typing import Dict, NamedTuple

import numpy as np

__all__ = ["CandidateIds", "CandidatePoses", "ClosingLine", "DepthLimits", "LiveCandidates", "OrientedPoints",
           "PadContact", "PairFrames", "PairScan", "PairSpan", "PartCloud", "PathWeights"]


class PairFrames(NamedTuple):
    """Each contact pair's frame (capture frame and units)."""

    centres: np.ndarray  # [K, 3]
    """The pairs' centres: the frames' origins."""
    x: np.ndarray  # [K, 3]
    """The closing axes (unit vectors)."""
    u: np.ndarray  # [K, 3]
    """A unit axis across each closing axis: approach angle 0 points along it."""
    v: np.ndarray  # [K, 3]
    """The unit axis across each closing axis orthogonal to ``u``: approach angle pi / 2 points along it."""


class CandidatePoses(NamedTuple):
    """Where each candidate's gripper sits in its pair's frame."""

    offset: np.ndarray  # [K, T]
    """The grasp centre's offset from the pair's centre along the closing axis."""
    half_opening: np.ndarray  # [K, T]
    """Half the opening: the pads' inner faces lie this far either side of the grasp centre."""
    depth: np.ndarray  # [K, T]
    """The TCP's depth along the approach, past the pair's centre."""


class LiveCandidates(NamedTuple):
    """The candidates a collision check tests: the approach angles, the gripper's pose at each candidate and
    which candidates are still in play (:func:`point2act.grasp.box_hits.gripper_cloud_hits`)."""

    theta: np.ndarray  # [T]
    """The approach angles."""
    poses: CandidatePoses  # [K, T]
    """Where each candidate's gripper sits in its pair's frame."""
    alive: np.ndarray  # [K, T] bool
    """The candidates tested; the rest get no hits and no clearance (``inf``)."""


class PairSpan(NamedTuple):
    """The part across each pair's closing line (:func:`point2act.grasp.part_scans.closing_extent`)."""

    fits: np.ndarray  # [K] bool
    """The pairs whose part fits between the fingers: the pairs a scan looks at."""
    half_opening: np.ndarray  # [K]
    """The half-opening the part asks for (its half-extent, plus pad and clearance)."""
    contact_pos: np.ndarray  # [K]
    """The second contact's distance from the pair's centre along ``+x``."""
    contact_neg: np.ndarray  # [K]
    """The first contact's distance from the pair's centre along ``-x``."""


class PartCloud(NamedTuple):
    """The cloud a part is measured on: what the fingers must not enter."""

    points: np.ndarray  # [M, 3]
    """The points (cell centres, surface points)."""
    occupied: np.ndarray  # [M] bool
    """Which of them the grasp can hold (the rest: unknown cells beside free space)."""
    target: np.ndarray  # [M] bool
    """Which of them are the target's."""


class DepthLimits(NamedTuple):
    """How deep each candidate's TCP may go and where a long part is held."""

    room: np.ndarray  # [K, T]
    """The deepest TCP the support plane allows (``inf``: no plane)."""
    hold: np.ndarray | None = None  # [K, T]
    """Where a part longer than the fingers reach is held: the action point's depth along the approach
    (:func:`point2act.grasp.part_scans.hold_depth`); None: ``long_depth`` past the contacts."""


class PathWeights(NamedTuple):
    """Per-point weights whose largest value in each candidate's closing region, widened by ``extra`` across the
    closing axis, a scan takes (``w_max``: the planner's avoid relevancy on the fingers' path)."""

    weights: np.ndarray  # [M] float64
    """One weight per cloud point."""
    extra: float = 0.0
    """How far past the pads' inner faces the region reaches (the fingers' thickness: their path)."""


class OrientedPoints(NamedTuple):
    """Surface points and their normals."""

    points: np.ndarray  # [N, 3]
    """The points."""
    normals: np.ndarray  # [N, 3]
    """Their unit normals (unoriented)."""


class PadContact(NamedTuple):
    """How a pad's contact with the surface is judged (:func:`point2act.grasp.part_scans.pad_quality`)."""

    band: float
    """The surface samples' spacing: points this close to a pad's extreme may stand for its contact."""
    mu: float
    """The friction coefficient: a contact holds within ``atan(mu)`` of the closing axis."""
    up: np.ndarray | None = None  # [3]
    """The support plane's normal, with ``sides``."""
    sides: np.ndarray | None = None  # [K] bool
    """The pairs whose pads meet the part at its sides: a point whose normal lies nearer ``up`` than the plane
    (a top face's edge) does not stand for their contacts."""


class PairScan(NamedTuple):
    """What every scan of the pairs' neighbourhoods (:mod:`point2act.grasp.part_scans`) reads besides the pairs and the
    cloud: the approaches each pair is turned through and the gripper's lengths; one scan's candidates are
    ``[K, T]`` over both."""

    T: int
    """The approach angles per pair: ``theta[t] = 2 pi t / T``."""
    lengths: Dict[str, float]
    """The lengths in capture units (:func:`point2act.grasp.holds.part_lengths`;
    :func:`point2act.grasp.part_scans.grasp_part` names them)."""


class CandidateIds(NamedTuple):
    """Some candidates, by index: pair ``k[i]`` at approach ``t[i]``."""

    k: np.ndarray  # [M] int
    """The pairs."""
    t: np.ndarray | None  # [M] int
    """Their approaches (None, where a scan allows it: every approach of the pairs ``k``)."""


class ClosingLine(NamedTuple):
    """The cylinder around each pair's closing line in which a part's extent across it is measured
    (:func:`point2act.grasp.part_scans.closing_extent`), and how near its points lie to be one part (capture units)."""

    half_y: float
    """The cylinder's radius about the line (a finger's half width)."""
    half_open: float
    """How far along the line from the pair's centre a point may lie (half the gripper's widest opening)."""
    gap: float
    """Points closer than this along the line are one part (:func:`point2act.grasp.part_scans.run_end`)."""
    radius: float
    """How far from the pair's centre a point may lie."""
