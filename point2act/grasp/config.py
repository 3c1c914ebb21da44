"""Configuration dataclasses for the grasp head.

Every length in these configs is in **metres**. The planner converts them to
scene (capture) units with ``GripperConfig.metres_per_unit``: a length of
``L`` metres is ``L / metres_per_unit`` scene units. Only the standard library
is imported here so that ``import point2act.grasp`` stays cheap.

The dataclasses hold what a user varies (the gripper, the relevancy threshold, the number of
candidates and grasps, the margins the robot needs). What no user varies is a module constant below,
each with its reason; lengths in metres here too, unless it says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

__all__ = ["GripperConfig", "RegionConfig", "SurfaceConfig", "GraspConfig"]  # and the constants below

_NON_NEGATIVE = frozenset({"pregrasp_distance"})
"""GripperConfig fields that may be 0 (every other length must be > 0)."""


@dataclass
class GripperConfig:
    """A parallel-jaw gripper as three boxes (two fingers and a palm).

    Defaults describe a Franka Emika Panda hand, with the finger/palm split of
    the ACRONYM Panda model (fingertips 0.1122 m in front of the hand base).
    See ``point2act.grasp`` for the gripper frame these boxes live in.

    TCP convention (grasps.json): a grasp's ``position`` is the TCP, the point
    midway between the two fingertips; its ``rotation`` columns are x = the
    closing axis (finger to finger), y = z cross x and z = the approach
    direction, from the gripper towards the object (grasps.json's ``approach``).
    The hand base (flange side) is :attr:`tcp_from_base` behind the TCP along
    -z; a robot whose TCP is set at the flange must add that offset. The
    pre-grasp pose has the same rotation, ``pregrasp_distance`` back along -z.
    """

    max_opening: float = 0.08
    """Largest distance between the inner faces of the two fingers (m)."""
    finger_length: float = 0.0462
    """Length of a finger along the approach axis z, fingertip to palm (m)."""
    finger_thickness: float = 0.010
    """Size of a finger along the closing axis x (m)."""
    finger_width: float = 0.020
    """Size of a finger along the gripper's y axis (m); also the depth of the
    closing region used for the semantic score."""
    palm_depth: float = 0.066
    """Size of the palm (hand body) along the approach axis z (m). The hand base
    (flange side) is ``finger_length + palm_depth`` behind the fingertips."""
    palm_width: float = 0.204
    """Size of the palm along the closing axis x (m)."""
    palm_thickness: float = 0.063
    """Size of the palm along the gripper's y axis (m)."""
    metres_per_unit: float = 1.0
    """Metres per scene (capture) unit: 1.0 for metric captures; e.g. 0.1 when
    one unit of a COLMAP reconstruction is 10 cm."""
    name: str = "franka_panda"
    """Free-form name, copied into grasps.json."""
    pregrasp_distance: float = 0.10
    """How far (m) the pre-grasp pose backs off from the grasp along the approach axis:
    grasps.json's ``pregrasp_position = position - pregrasp_distance * approach`` (converted to
    capture units), with the same rotation. The robot moves there first (fingers open to
    ``width``), then straight along ``approach`` to ``position``, then closes. 0 is allowed (no
    back-off); it must not be negative."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name == "name":
                continue
            v = getattr(self, f.name)
            is_num = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if not is_num or not ((v >= 0) if f.name in _NON_NEGATIVE else (v > 0)):
                what = "a non-negative" if f.name in _NON_NEGATIVE else "a positive"
                raise ValueError(f"GripperConfig.{f.name} must be {what} finite number, got {v!r}")
            setattr(self, f.name, float(v))

    @property
    def tcp_from_base(self) -> float:
        """Distance from the hand base to the TCP (fingertip centre) along z, metres."""
        return self.finger_length + self.palm_depth

    @property
    def reach(self) -> float:
        """How far from the TCP any part of the hand gets on its way in, metres: the palm's far corner at the
        pre-grasp pose. Nothing farther from the grasp can collide with it."""
        return math.hypot(self.finger_length + self.palm_depth + self.pregrasp_distance, 0.5 * self.palm_width)

    def units(self, metres: float) -> float:
        """Convert a length in metres to scene units."""
        return float(metres) / self.metres_per_unit

    def scaled(self) -> Dict[str, float]:
        """All box dimensions in scene units."""
        return {
            k: self.units(getattr(self, k))
            for k in (
                "max_opening",
                "finger_length",
                "finger_thickness",
                "finger_width",
                "palm_depth",
                "palm_width",
                "palm_thickness",
            )
        }

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = "<dict>") -> "GripperConfig":
        """Build from a dict. Every box dimension must be given; ``metres_per_unit``,
        ``name`` and ``pregrasp_distance`` are optional. Unknown keys are an error (typos are common)."""
        if not isinstance(data, dict):
            raise ValueError(f"gripper description {source} must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        optional = {"metres_per_unit", "name", "pregrasp_distance"}
        missing = sorted(names - optional - set(data))
        if missing:
            raise ValueError(
                f"gripper description {source} is missing field(s) {', '.join(missing)} "
                f"(required: {', '.join(sorted(names - optional))}; lengths in metres)"
            )
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"gripper description {source} has unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise ValueError(f"gripper description {source}: {e}") from None

    @classmethod
    def from_json(cls, path: str | Path) -> "GripperConfig":
        """Read a gripper from a JSON file (an object with this class's fields)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"gripper description {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"gripper description {path} is not valid JSON: {e}") from None
        return cls.from_dict(data, source=str(path))


# --- region (where to act): lengths here come from the field itself, never from metres ---

ABSOLUTE_THRESHOLD = 0.05
"""Absolute floor on relevancy: if no Gaussian reaches it the field has no relevant region (``ValueError``)."""
REGION_MIN_OPACITY = 0.1
"""Gaussians with a lower opacity are ignored by the region and the target test (floaters, transparent fuzz)."""
DBSCAN_MIN_POINTS = 5
"""DBSCAN: neighbours (self included) within the radius for a core point."""
EPS_SPACINGS = 8.0
"""The DBSCAN radius: this many median nearest-neighbour spacings of the relevant Gaussians."""
EXTENT_PERCENTILE = 1.0
"""Region centre/extent come from the [p, 100-p] percentile box of the cluster (robust to a few stray members)."""
PEAK_RADIUS_FACTOR = 0.25
""""peak" action point radius: this fraction of the region's relevancy-weighted RMS radius ..."""
PEAK_SPACING_FACTOR = 4.0
"""... and at least this many median spacings of the region's Gaussians."""
PEAK_MIN_OWN = 0.5
"""The "peak" is a Gaussian whose own weight is at least this fraction of the region's largest (a Gaussian
between two strong arms of a loop, e.g. the mug body inside a handle, can otherwise collect the most weight)."""

# --- surface / fusion: the surface cloud and the TSDF-fused depth around the action point ---

SURFACE_MIN_OPACITY = 0.3
"""Gaussian centres with lower opacity are not surface points."""
FUSION_TRUNC_VOXELS = 4.0
"""TSDF truncation distance in voxels."""
FUSION_MIN_ALPHA = 0.5
"""Pixels with a lower rendered opacity are not depth measurements."""
FUSION_MAX_VIEWS = 48
"""Fuse at most this many training views (evenly spaced; every view of a capture that has no more). The fused
surface needs few views, but the occupancy's free space is carved by the views that look into a slot (between a
mug's handle and a box beside it, inside the handle's loop), and evenly spaced subsampling drops those views at
random, leaving the slot unknown and every finger that would enter it blocked. The cap bounds the cost, which is
linear in views: the depth renders cached at the end of training, the compositing weights a query draws a
channel's relevancy through, and the export's fusion and carving (``benchmarks/results/fusion_views.md``)."""
FUSION_SIDE_FACTOR = 4.0
"""The fused cube's side: this many times the region's largest extent (at least the gripper's reach when
``metres_per_unit`` gives one that fits the views); sized from the capture, not from metres."""
FUSION_VOXEL_PIXELS = 1.5
"""The fused cube's voxel: this many footprints of one rendered depth pixel at the median camera distance."""
FUSION_MAX_VOXELS = 160
"""At most this many voxels per side of the fused cube (time and memory)."""
FUSION_MAX_PIXELS = 320 * 240
"""Depth renders are downscaled (by whole factors) to at most this many pixels per view."""
MAX_SCALE = 0.05
"""Where scales are given, Gaussians whose largest axis exceeds this (m) are not surface points (large,
blurry splats are rarely on a surface)."""
VOXEL_SIZE = 0.003
"""Voxel size of the downsampled surface cloud (m)."""
NORMAL_RADIUS = 0.009
"""Neighbourhood radius for normal estimation (m)."""
NORMAL_MAX_NN = 24
"""Maximum neighbours for normal estimation."""
COLLISION_VOXEL_SIZE = 0.01
"""Voxel size of the coarse cloud the palm and the far approach are checked against (m)."""
PLANE_DISTANCE = 0.004
"""RANSAC inlier distance of the support (table) plane (m); points closer to it are the table's."""
PLANE_MIN_FRACTION = 0.15
"""The support plane is used only if at least this fraction of the points are inliers; below it no
table half-space is assumed."""
RELEVANCY_NEIGHBOURS = 4
"""A surface point's relevancy is the opacity-weighted mean relevancy of this many nearest Gaussians
(within ``3 * VOXEL_SIZE``)."""

# --- occupancy: free / occupied / unknown cells of the fused cube (point2act.grasp.occupancy) ---

OCCUPANCY_REACH = 0.08
"""The grid covers the region's box grown by this much (m) on every side: the fingers and the first part
of their approach. Outside it the gripper is checked against the surface points."""
OCCUPANCY_MAX_CELLS = 128
"""Grid cells are the TSDF's voxel, or larger so that the cube has at most this many cells per side."""
OCCUPANCY_HIT_FRONT = 0.5
"""A view sees a surface in a cell when the cell's depth is within this many cells in front of the
measured depth ..."""
OCCUPANCY_HIT_BACK = 1.5
"""... or this many cells behind it; farther in front its ray passed through (free), farther behind it
is occluded (no evidence)."""
OCCUPANCY_EMPTY_ALPHA = 0.05
"""Pixels with a rendered opacity below this saw nothing: their whole ray is free-space evidence (those
between this and ``FUSION_MIN_ALPHA`` are no evidence)."""
OCCUPANCY_MIN_HITS = 2
"""A cell is occupied only when at least this many views saw a surface in it (and its log-odds is positive)."""
OCCUPANCY_P_HIT = 0.7
"""Sensor model: probability of occupancy given one view's hit ..."""
OCCUPANCY_P_MISS = 0.3
"""... and given one view's miss. Symmetric: occupied when more views see a surface in a cell than see
through it (OctoMap's 0.4 lets two hits in a silhouette's blended depth outweigh four views that see through)."""

# --- candidates: contact pairs, approach directions, grasp depth and opening ---

PARTNERS_PER_SEED = 2
"""A sampled surface point keeps at most this many partners (different widths)."""
PAIR_BIN = 0.004
"""Contact pairs whose centres share a cell of this size (m; at least one occupancy cell) and whose closing
axes agree within about 10 degrees are one candidate (the best antipodal quality is kept)."""
SUPPORT_AXES = 6
"""Closing axes parallel to the support plane, evenly spaced (30 degrees apart), tried through each seed
within ``MAX_GRASP_DEPTH`` of the plane (as far down a part's side as the pads hold) besides its antipodal
pairs: the views look down on a part that lies on the table (a loop of scissors), so its fused normals point
up and give few antipodal pairs, but a parallel jaw can close across it along any line parallel to the
table; the part across that line sets the opening and where the pads hold (:func:`point2act.grasp.candidates.support_pairs`)."""
NUM_APPROACH_DIRS = 24
"""Approach directions, evenly spaced around the closing axis (15 degrees apart): beside other geometry a
thin part leaves a narrow window of approaches, which 30-degree steps can step over; 36 gives the same
ACRONYM verdicts (docs/accuracy.md)."""
TIP_MARGIN = 0.005
"""The fingertips reach this far (m) past the far side of the part between them, so that the part sits
between the pads; also the back-off step along the approach."""
MIN_GRASP_DEPTH = 0.005
"""The pads hold at least this much (m) of the part along the approach (past the contacts, or past the
part's top where the support plane stops the fingers sooner)."""
MAX_GRASP_DEPTH = 0.035
"""... and at most this far: the contacts stay ``finger_length - MAX_GRASP_DEPTH`` in front of the
fingers' base (1.1 cm on the Panda)."""
LONG_PART_DEPTH = 0.015
"""A part that goes on past ``MAX_GRASP_DEPTH`` along the approach (a wall, a rim, a rod) is held at the
action point, at most this far (m) past or back from the contacts."""
PART_GAP = 0.004
"""Two scene points (cells) closer than this (m; at least 1.5 cells) belong to the same part when the
part's extent across the closing axis (opening) and along the approach (depth) is measured."""
MIN_WIDTH = 0.004
"""Smallest contact distance (m) considered (thinner than this is noise)."""
CLEARANCE = 0.005
"""Each finger opens this far (m) beyond the part's extent across the closing axis before closing;
candidates are planned at that extent + 2 * CLEARANCE (capped at ``max_opening``)."""
SWEEP_FINE_LENGTH = 0.03
"""The first this-many metres of the fingers' approach are checked against the fine scene (cells), the
rest and the palm against the coarse one (``COLLISION_VOXEL_SIZE``)."""
TARGET_RADIUS = 0.006
"""A scene point (cell) between the fingers is the target's when most of the opaque Gaussians around it
(its 8 nearest within this distance, m, plus half a cell; opacity-weighted) are the region's."""
ON_TARGET_SHARE = 0.5
"""A grasp is ``on_target`` when at least this share of what lies between its fingers is the target's."""
MIN_CLOSING_POINTS = 2
"""A candidate whose closing region holds fewer cells (surface points) than this closes on nothing."""

# --- scoring: score = SEMANTIC_WEIGHT * target share + GEOMETRIC_WEIGHT * antipodal quality
#     + CLEARANCE_WEIGHT * clearance (normalised to sum to 1); on-target grasps rank first ---

SEMANTIC_WEIGHT = 0.6
"""Weight of the target share (``semantic_score``)."""
GEOMETRIC_WEIGHT = 0.3
"""Weight of the antipodal quality ``1 - max(angle(n1, axis), angle(n2, axis)) / atan(mu)`` in [0, 1], with
the normals where the pads meet the part (:func:`point2act.grasp.part_scans.pad_quality`)."""
CLEARANCE_WEIGHT = 0.1
"""Weight of the clearance score: the fingers' distance to the nearest occupied or unknown cell beyond
``collision_margin``, over ``CLEARANCE_MARGIN``, in [0, 1]."""
CLEARANCE_MARGIN = 0.005
"""Distance (m) beyond the collision margin at which the clearance score is 1."""
NMS_ANGLE_DEG = 35.0
"""NMS angle threshold (degrees; fingers swapped count as the same grasp): above twice the 15-degree
approach spacing, so approaches up to two steps apart at the same spot are duplicates."""

assert 0.0 <= MIN_GRASP_DEPTH <= LONG_PART_DEPTH <= MAX_GRASP_DEPTH, "grasp depths out of order"
assert 0.0 <= ON_TARGET_SHARE <= 1.0, "ON_TARGET_SHARE must be in [0, 1]"
assert min(SEMANTIC_WEIGHT, GEOMETRIC_WEIGHT, CLEARANCE_WEIGHT) >= 0, "score weights must be >= 0"
assert SEMANTIC_WEIGHT + GEOMETRIC_WEIGHT + CLEARANCE_WEIGHT > 0, "score weights must not all be 0"
assert NUM_APPROACH_DIRS >= 1, "NUM_APPROACH_DIRS must be >= 1"
assert 0.0 < EXTENT_PERCENTILE < 50.0, "EXTENT_PERCENTILE must be in (0, 50)"


@dataclass
class RegionConfig:
    """How the relevant region (where to act) is extracted from the field.

    With the run's points (``point2act export``), the action point is where the views' answers agree
    (:mod:`point2act.where.consensus`, no settings) and the region is the relevant cluster that holds
    it. Without them (named channels, plain arrays), the region is the cluster with the most relevancy
    mass and the action point its density peak. Every length here comes from the field itself (median
    spacings of the Gaussians, the region's own size), never from metres."""

    threshold: float = 0.5
    """Relative threshold: a Gaussian is relevant when its relevancy is at least
    ``threshold * max(relevancy)`` (over Gaussians passing ``REGION_MIN_OPACITY``)."""
    action_point: str = "peak"
    """Without the views' consensus: "peak", the region Gaussian with the most relevancy*opacity
    around it, a point on the surface where relevancy concentrates; "centroid": the region's
    relevancy*opacity weighted centroid (leaves the surface of a ring or a loop)."""
    support_downscale: int = 2
    """Resolution of the views' consensus pass (compositing weights and median depth of the supervised
    views, the same views ``point2act query`` fits on): 1/this of training, each view at most
    :data:`~point2act.requery.fit_numpy.SUPPORT_MAX_PIXELS` (a larger divisor where it would hold more)."""


@dataclass
class SurfaceConfig:
    """How the scene geometry is built from the field (the constants above size it)."""

    fuse_depth: bool = True
    """(export) Render the field's median depth from the training views and fuse it in a TSDF cube around the
    action point (:mod:`point2act.fusion`); the fused surface replaces the Gaussian centres there.
    On the demo's CPU-trained field the centres lie a median 5 mm off the surface and cover 10% of
    the mug handle within 3 mm: every candidate collided. The fused surface (1.9 mm, 84%) gives
    collision-free grasps on the handle."""
    occupancy: bool = True
    """(export) Build an occupancy grid (free / occupied / unknown cells, :mod:`point2act.grasp.occupancy`)
    of the fused cube from the same depth views; the planner checks the gripper against it (occupied
    and unknown cells block) instead of the fused surface points there."""


@dataclass
class GraspConfig:
    """Everything the planner needs that a user varies; the rest are this module's constants. Score =
    ``SEMANTIC_WEIGHT * target share + GEOMETRIC_WEIGHT * antipodal quality + CLEARANCE_WEIGHT * clearance``;
    grasps that close on the target (``on_target``) rank before the others."""

    gripper: GripperConfig = field(default_factory=GripperConfig)
    region: RegionConfig = field(default_factory=RegionConfig)
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    num_candidates: int = 1024
    """Antipodal contact pairs sampled around the region (and seed points drawn). Each pair is expanded
    into ``NUM_APPROACH_DIRS`` poses. 1024: on a short (200-step) field of the demo scene, whose
    relevant region also covers the mug body next to the handle, 256 seeds missed the few
    collision-free handle grasps."""
    friction_coef: float = 0.4
    """Coulomb friction coefficient mu; the friction cone half-angle is atan(mu)."""
    collision_margin: float = 0.002
    """Finger and palm boxes are inflated by this much (m) on every side when checked against the
    scene (plus half a cell against an occupancy grid: a cell's centre stands for its cube): the robot's
    calibration error. Where no on-target grasp keeps it, the on-target grasps that clear the scene with no
    margin are listed first, ``clears_margin`` false, with a warning (:func:`point2act.grasp.plan_grasps`)."""
    table_clearance: float = 0.002
    """Fingers and palm must stay at least this far (m) above the support plane, at the grasp and the
    pre-grasp pose."""
    seed_radius: float = 0.01
    """Seeds are surface points within this distance (m) of a region Gaussian."""
    collision_min_points: int = 1
    """A finger or palm box collides when it holds at least this many scene points (cells)."""
    nms_distance: float = 0.01
    """Non-maximum suppression: a grasp is suppressed by a better one closer than
    this (m) whose rotation differs by less than ``NMS_ANGLE_DEG``."""
    top_k: int = 10
    """Number of grasps returned."""
    seed: int = 0
    """Random seed (sampling, RANSAC). Same inputs and seed give the same grasps."""

    def __post_init__(self) -> None:
        if self.friction_coef <= 0:
            raise ValueError("friction_coef must be > 0")
        if self.num_candidates < 1 or self.top_k < 0:
            raise ValueError("num_candidates must be >= 1, top_k >= 0")
        if not MAX_GRASP_DEPTH < self.gripper.finger_length:
            raise ValueError(f"gripper.finger_length ({self.gripper.finger_length} m) must exceed the largest grasp "
                             f"depth, point2act.grasp.config.MAX_GRASP_DEPTH = {MAX_GRASP_DEPTH} m")
