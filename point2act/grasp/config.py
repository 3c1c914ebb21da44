"""Configuration dataclasses for the grasp head.

Every length in these configs is in **metres**. The planner converts them to
scene (capture) units with ``GripperConfig.metres_per_unit``: a length of
``L`` metres is ``L / metres_per_unit`` scene units. Only the standard library
is imported here so that ``import point2act.grasp`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

__all__ = ["GripperConfig", "RegionConfig", "SurfaceConfig", "GraspConfig"]

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


@dataclass
class RegionConfig:
    """How the relevant region (where to act) is extracted from the field.

    With the run's points (``point2act export``), the action point is where the views' answers agree
    (:mod:`point2act.grasp.consensus`, no settings) and the region is the relevant cluster that holds
    it. Without them (named channels, plain arrays), the region is the cluster with the most relevancy
    mass and the action point its density peak. Every length here comes from the field itself (median
    spacings of the Gaussians, the region's own size), never from metres."""

    threshold: float = 0.5
    """Relative threshold: a Gaussian is relevant when its relevancy is at least
    ``threshold * max(relevancy)`` (over Gaussians passing ``min_opacity``)."""
    absolute_threshold: float = 0.05
    """Absolute floor on relevancy. If no Gaussian reaches it the field has no
    relevant region and ``relevant_region`` raises ``ValueError``."""
    min_opacity: float = 0.1
    """Gaussians with a lower opacity are ignored (floaters, transparent fuzz)."""
    dbscan_min_points: int = 5
    """DBSCAN: neighbours (self included) within the radius for a core point."""
    eps_spacings: float = 8.0
    """The DBSCAN radius: this many median nearest-neighbour spacings of the relevant Gaussians."""
    extent_percentile: float = 1.0
    """Region centre/extent come from the [p, 100-p] percentile box of the cluster
    (robust to a few stray members); 0 gives the exact bounding box."""
    action_point: str = "peak"
    """Without the views' consensus: "peak", the region Gaussian with the most relevancy*opacity
    around it, a point on the surface where relevancy concentrates; "centroid": the region's
    relevancy*opacity weighted centroid (leaves the surface of a ring or a loop)."""
    peak_radius_factor: float = 0.25
    """"peak" radius: this fraction of the region's relevancy-weighted RMS radius ..."""
    peak_spacing_factor: float = 4.0
    """... and at least this many median spacings of the region's Gaussians."""
    peak_min_own: float = 0.5
    """The "peak" action point is a Gaussian whose own weight is at least this fraction of the region's
    largest (a Gaussian between two strong arms of a loop, e.g. the mug body inside a handle, can
    otherwise collect the most weight around it)."""
    support_downscale: int = 2
    """Resolution of the views' consensus pass (compositing weights and median depth of the supervised
    views, shared with ``point2act query``'s weights cache): 1/this of training."""


@dataclass
class SurfaceConfig:
    """How the surface point cloud (with normals) is built from the field."""

    min_opacity: float = 0.3
    """Gaussian centres with lower opacity are not surface points."""
    use_gaussians: bool = True
    """Use the (opacity-filtered) Gaussian centres as surface points. Where fused depth points are
    given (``extra_points`` with a fused ball), centres inside the ball are replaced by them either
    way; ``False`` drops the centres everywhere else too."""
    fuse_depth: bool = True
    """(export) Render the field's median depth from the training views and fuse it in a TSDF cube around the
    action point (:mod:`point2act.fusion`); the fused surface replaces the Gaussian centres there.
    On the demo's CPU-trained field the centres lie a median 5 mm off the surface and cover 10% of
    the mug handle within 3 mm: every candidate collided. The fused surface (1.9 mm, 84%) gives
    collision-free grasps on the handle."""
    fusion_side: float = 0.32
    """Side of the fused cube around the action point (m); covers the Panda hand's reach."""
    fusion_voxel_size: float = 0.0025
    """TSDF voxel size (m)."""
    fusion_trunc_voxels: float = 4.0
    """TSDF truncation distance in voxels."""
    fusion_min_alpha: float = 0.5
    """Pixels with a lower rendered opacity are not depth measurements."""
    fusion_max_views: int = 12
    """Fuse at most this many training views (evenly spaced). On the demo's field 6, 8, 12, 16 and 22
    views gave the same surface error (1.9-2.0 mm median) and handle coverage (82-84%); rendering is
    the cost, linear in views."""
    occupancy: bool = True
    """(export) Build an occupancy grid (free / occupied / unknown cells, :mod:`point2act.grasp.occupancy`)
    of the fused cube from the same depth views; the planner checks the gripper against it (occupied
    and unknown cells block) instead of the fused surface points there."""
    occupancy_reach: float = 0.08
    """The occupancy grid covers the relevant region's box grown by this much (m) on every side (within
    the fused cube): the fingers and the first part of their approach. Outside it the gripper is
    checked against the surface points."""
    occupancy_max_cells: int = 128
    """The occupancy grid has the TSDF's voxel, or larger so that its cube has at most this many cells per side."""
    occupancy_hit_front: float = 0.5
    """A view sees a surface in a cell when the cell's depth is within this many cells in front of the
    measured depth ..."""
    occupancy_hit_back: float = 1.5
    """... or this many cells behind it; farther in front its ray passed through the cell (free-space
    evidence), farther behind it is occluded (no evidence)."""
    occupancy_empty_alpha: float = 0.05
    """Pixels whose rendered opacity is below this saw nothing: their ray is free-space evidence along
    its whole length (pixels between this and ``fusion_min_alpha`` are no evidence at all)."""
    occupancy_min_hits: int = 2
    """A cell is occupied only when at least this many views saw a surface in it (and the log-odds of
    hits and misses is positive)."""
    occupancy_p_hit: float = 0.7
    """Sensor model: probability of occupancy given one view's hit ..."""
    occupancy_p_miss: float = 0.3
    """... and given one view's miss. Symmetric (default): a cell is occupied when more views see a
    surface in it than see through it; OctoMap's 0.4 lets two hits in the air beside a thin part (the
    blend of foreground and background depth at a silhouette) outweigh four views that see through."""
    fusion_scale_free: bool = True
    """Size the fused cube and its voxels from the capture, not from metres: the cube side is
    ``fusion_side_factor`` x the region's extent (at least the gripper's reach when ``metres_per_unit``
    gives one that fits the views), the voxel is ``fusion_voxel_pixels`` x the footprint of one pixel of
    the rendered depth at the median camera distance, and the cube holds at most
    ``fusion_max_voxels`` voxels per side. False: ``fusion_side`` and ``fusion_voxel_size`` metres."""
    fusion_side_factor: float = 4.0
    """Scale-free cube side: this many times the region's largest extent."""
    fusion_voxel_pixels: float = 1.5
    """Scale-free voxel: this many pixel footprints (rendered depth, median camera distance)."""
    fusion_max_voxels: int = 160
    """At most this many voxels per side of the fused cube (time and memory)."""
    fusion_max_pixels: int = 320 * 240
    """Depth renders are downscaled (by whole factors) to at most this many pixels per view."""
    max_scale: float = 0.05
    """If scales are given, Gaussians whose largest axis exceeds this (m) are
    dropped (large, blurry splats are rarely on a surface)."""
    voxel_size: float = 0.003
    """Voxel size of the downsampled surface cloud (m)."""
    normal_radius: float = 0.009
    """Neighbourhood radius for normal estimation (m)."""
    normal_max_nn: int = 24
    """Maximum neighbours for normal estimation."""
    collision_voxel_size: float = 0.01
    """Voxel size of the coarse cloud the palm is checked against (m)."""
    plane_distance: float = 0.004
    """RANSAC inlier distance of the support (table) plane (m)."""
    plane_min_fraction: float = 0.15
    """The support plane is used only if at least this fraction of surface
    points are inliers. Below it no table half-space is assumed."""
    detect_plane: bool = True
    """Detect a support plane; its lower half-space counts as solid for collisions."""
    orient_normals: str = "auto"
    """"camera": flip normals towards the nearest camera centre; "tangent_plane":
    open3d's consistent tangent-plane propagation (slower); "none"; "auto" =
    "camera" when camera centres are given, else "none". The planner's friction
    test uses unsigned normals, so orientation only matters to callers."""
    outlier_std_ratio: float = 0.0
    """Statistical outlier removal on the surface cloud (open3d): drop points whose mean distance
    to their 16 neighbours is above mean + ratio * std. 0 disables (exact clouds)."""
    relevancy_neighbours: int = 4
    """A surface point's relevancy is the opacity-weighted mean relevancy of this
    many nearest Gaussians (within ``3 * voxel_size``)."""


@dataclass
class GraspConfig:
    """Everything the planner needs. Score = ``semantic_weight * target share + geometric_weight *
    antipodal quality + clearance_weight * clearance`` (weights are normalised to sum to 1); grasps
    that close on the target (``on_target``) rank before the others."""

    gripper: GripperConfig = field(default_factory=GripperConfig)
    region: RegionConfig = field(default_factory=RegionConfig)
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    num_candidates: int = 1024
    """Antipodal contact pairs sampled around the region (and seed points drawn). Each pair is expanded
    into ``num_approach_dirs`` poses. 1024: on a short (200-step) field of the demo scene, whose
    relevant region also covers the mug body next to the handle, 256 seeds missed the few
    collision-free handle grasps."""
    partners_per_seed: int = 2
    """A sampled surface point keeps at most this many partners (different widths)."""
    pair_bin: float = 0.004
    """Contact pairs whose centres share a cell of this size (m; at least one occupancy cell) and whose
    closing axes agree within about 10 degrees are one candidate (the best antipodal quality is kept)."""
    num_approach_dirs: int = 24
    """Approach directions, evenly spaced around the closing axis (24: 15 degrees apart). Beside other
    geometry a thin part leaves a narrow window of approaches that clear it (on the true geometry of the
    kitchen ACRONYM handle a handful of on-target poses clear the planner's margin:
    ``python -m benchmarks.accuracy.margins``), and 30-degree steps (12) can step over it; 36 gives the
    same ACRONYM verdicts as 24 (docs/accuracy.md). The planner's time grows by tens of milliseconds."""
    tip_margin: float = 0.005
    """Grasp depth: the fingertips reach this far (m) past the far side of the part between them (the
    part's extent along the approach, connected to the contacts), so that the part sits between the
    finger pads; clipped to [``min_grasp_depth``, ``max_grasp_depth``]."""
    min_grasp_depth: float = 0.005
    """The finger pads hold at least this much (m) of the part along the approach: the TCP (fingertip
    midpoint) lies this far past the contacts; where the support plane stops the fingers sooner (a part
    lying on the table), this far past the part's near side (its top), the contacts still between the
    pads."""
    max_grasp_depth: float = 0.035
    """... and at most this far: the contacts stay ``finger_length - max_grasp_depth`` (1.1 cm on the
    Panda) in front of the fingers' base."""
    long_part_depth: float = 0.015
    """Where the part goes on along the approach beyond ``max_grasp_depth`` (a wall, a rim, a rod or a
    curved handle approached along itself), the pads hold it where it was pointed at: the TCP lies
    ``tip_margin`` past the action point, but at most this far (m) past the contacts (the fingertips do not
    follow the part where it curves into them) and at most this far back from them (the pads slide along
    the part, its near end at least ``min_grasp_depth`` inside them). A rim's contacts lie where the wall's
    faces are antipodal, below its rounded top: held this far past them, the pads held 2-2.5 cm of wall,
    mostly the mug's body."""
    part_gap: float = 0.004
    """Two scene points (occupied cells) closer than this (m; at least 1.5 cells) belong to the same
    part when the planner measures the part's extent across the closing axis (the opening) and along
    the approach (the depth)."""
    friction_coef: float = 0.4
    """Coulomb friction coefficient mu; the friction cone half-angle is atan(mu)."""
    min_width: float = 0.004
    """Smallest contact distance (m) considered (thinner than this is noise)."""
    clearance: float = 0.005
    """Each finger opens this far (m) beyond the part's extent across the closing axis before closing (with
    an occupancy grid, the extent of the part's cells, occupied or unknown: their centres' extent plus
    half a cell, so that the fingers clear every cell by more than ``collision_margin``);
    candidates are planned and checked at that extent + 2*clearance (capped at ``max_opening``); a
    listed grasp's pre-grasp opening (``width`` in grasps.json) is then the widest that the free room
    allows (:func:`point2act.grasp.planner.widest_free_opening`), at least that."""
    collision_margin: float = 0.002
    """Finger and palm boxes are inflated by this much (m) on every side when checked against the
    scene (plus half a cell against an occupancy grid: a cell's centre stands for its cube): the robot's
    calibration error. Where no on-target grasp keeps it, the on-target grasps that clear the scene with no
    margin are listed first, ``clears_margin`` false, with a warning (:func:`point2act.grasp.plan_grasps`)."""
    sweep_fine_length: float = 0.03
    """The first this-many metres of the fingers' approach (back from the grasp pose) are checked
    against the fine scene (cells); the rest of the approach and the palm against the coarse one
    (``SurfaceConfig.collision_voxel_size``)."""
    table_clearance: float = 0.002
    """Fingers and palm must stay at least this far (m) above the support plane, at the grasp and the
    pre-grasp pose."""
    seed_radius: float = 0.01
    """Seeds are surface points within this distance (m) of a region Gaussian."""
    collision_min_points: int = 1
    """A finger or palm box collides when it holds at least this many scene points (cells)."""
    target_radius: float = 0.006
    """A scene point (occupied cell) between the fingers is the target's when most of the opaque Gaussians
    around it (its 8 nearest within this distance, m, plus half a cell; weighted by opacity) are the
    relevant region's."""
    on_target_share: float = 0.5
    """A grasp is ``on_target`` when at least this share of what lies between its fingers (occupied
    cells; surface points without an occupancy grid) is the target's."""
    min_closing_points: int = 2
    """A candidate whose closing region holds fewer occupied cells (surface points) than this closes on
    nothing and is dropped."""
    semantic_weight: float = 0.6
    """Weight of the target share (``semantic_score``) in the score."""
    geometric_weight: float = 0.3
    """Weight of the antipodal quality ``1 - max(angle(n1, axis), angle(n2, axis)) / atan(mu)``, in [0, 1], with
    ``n1``, ``n2`` the surface normals where the pads meet the part (:func:`point2act.grasp.part.pad_quality`;
    the sampled contact pair's own where the pads meet no surface point)."""
    clearance_weight: float = 0.1
    """Weight of the clearance score: the fingers' distance at the grasp pose to the nearest occupied
    or unknown cell (scene point) beyond ``collision_margin``, over ``clearance_margin``, in [0, 1]."""
    clearance_margin: float = 0.005
    """Distance (m) beyond the collision margin at which the clearance score is 1."""
    nms_distance: float = 0.01
    """Non-maximum suppression: a grasp is suppressed by a better one closer than
    this (m) whose rotation differs by less than ``nms_angle_deg``."""
    nms_angle_deg: float = 35.0
    """NMS angle threshold in degrees (fingers swapped counts as the same grasp). Above twice the 15 deg
    spacing of the default 24 approach directions, so approaches up to two steps apart at the same spot
    count as duplicates."""
    top_k: int = 10
    """Number of grasps returned."""
    seed: int = 0
    """Random seed (sampling, RANSAC). Same inputs and seed give the same grasps."""

    def __post_init__(self) -> None:
        if self.friction_coef <= 0:
            raise ValueError("friction_coef must be > 0")
        ws, wg, wc = self.semantic_weight, self.geometric_weight, self.clearance_weight
        if min(ws, wg, wc) < 0 or ws + wg + wc <= 0:
            raise ValueError("semantic_weight, geometric_weight and clearance_weight must be >= 0, not all 0")
        if self.num_approach_dirs < 1 or self.num_candidates < 1 or self.top_k < 0:
            raise ValueError("num_approach_dirs and num_candidates must be >= 1, top_k >= 0")
        if not 0.0 <= self.min_grasp_depth <= self.max_grasp_depth < self.gripper.finger_length:
            raise ValueError("need 0 <= min_grasp_depth <= max_grasp_depth < gripper.finger_length")
        if not self.min_grasp_depth <= self.long_part_depth <= self.max_grasp_depth:
            raise ValueError("long_part_depth must lie in [min_grasp_depth, max_grasp_depth]")
        if not 0.0 <= self.on_target_share <= 1.0:
            raise ValueError("on_target_share must be in [0, 1]")
