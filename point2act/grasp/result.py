"""Result containers and the ``point2act.grasps/1`` JSON schema.

grasps.json, field by field (capture frame, capture units unless noted)::

    schema            "point2act.grasps/1"
    prompt            the task text, or null
    frame             "capture"
    metres_per_unit   metres per capture unit (1.0 for metric captures)
    action_point      [x, y, z] where to act: the region's relevancy density peak (RegionConfig.action_point)
    region            {"center": [3], "extent": [3] (box size), "num_gaussians": int}: the answer's region
    grasp_target      optional, what the grasps were planned on where it is not ``region``: the target's fused
                      surface, {"center", "extent", "num_gaussians", "surface_points": int}
    gripper           the GripperConfig used (lengths in metres)
    grasps            list, best first: the grasps that close on the target (on_target) first; in each group
                      those whose pads touch both contacts (both_pads_touch) first, then those whose
                      contacts the views saw (contacts_seen); then by score; each:
      position            [3] TCP, midway between the fingertips
      rotation            3x3 row-major; columns = gripper x (closing, finger to
                          finger), y (= z cross x), z (approach, gripper -> object)
      quaternion_wxyz     [4] same rotation, w >= 0
      approach            [3] unit approach direction (= rotation column z, gripper -> object)
      pregrasp_position   [3] position - gripper.pregrasp_distance (as capture units) * approach:
                          the TCP of the pre-grasp pose (same rotation), backed off along -approach
      base                only after point2act.robot.frame.add_base_frame: the grasp in the
                          robot base frame, metres: {position, rotation, quaternion_wxyz,
                          pregrasp_position, approach}
      width               pre-grasp opening between the fingers, METRES (<= max_opening)
      width_capture_units the same opening in capture units
      contact_width       distance between the two contact points, metres
      score               SEMANTIC_WEIGHT*semantic + GEOMETRIC_WEIGHT*geometric + CLEARANCE_WEIGHT*clearance
                          (weights normalised), [0,1]
      semantic_score      target share: the fraction of the occupied cells between the fingers (surface
                          points without an occupancy grid) that are the target's: their nearest fused point
                          within TARGET_RADIUS is on the target's surface (grasp_target); without fused depth,
                          most opaque Gaussians within TARGET_RADIUS of them are the region's
      geometric_score     antipodal quality where the pads meet the part: 1 - max contact angle / atan(mu),
                          [0,1] (0 where a pad meets it on a slant, outside the friction cone)
      clearance_score     the fingers' clearance to occupied or unknown space at the grasp pose, [0,1]
      on_target           true when semantic_score >= ON_TARGET_SHARE (the grasp closes on the target)
      closing_cells       occupied cells (surface points) between the fingers: what semantic_score is
                          the share of
      both_pads_touch     where the fingers close, the pads touch the part at both contacts of the grasp's pair
      contacts_seen       the contacts are surface points whose normals the views saw (an antipodal pair);
                          false: a closing line parallel to the support plane, the contacts the part's ends
                          across it (a flat part on the table, whose sides the views did not see)
      clears_margin       the fingers and palm keep GraspConfig.collision_margin from occupied and unknown space
                          (false: an on-target grasp that clears it by less, listed, with a warning, because
                          no on-target grasp keeps it)
      avoid_score         only with an avoid channel: max normalised avoid relevancy in the
                          closing region and the fingers' path, [0,1] (score is already penalised)
      handover_rotation   only with an avoid channel and a handover direction: 3x3 gripper
                          rotation at handover (avoid region turned away from the recipient)
      handover_quaternion_wxyz  the same, [4]
    keypoints         optional (schema extension, named relevancy channels of `point2act query`):
                      {name: {"action_point": [3], "region": {center, extent, num_gaussians},
                              "prompt": str or null, "role": "grasp"|"place"|"avoid"}}
    base_from_capture optional (point2act.robot.frame.add_base_frame): 4x4 mapping capture points to
                      robot-base metres; then also "frame_file" (str or null) and "base":
                      {"units": "metres", "metres_per_unit", "action_point": [3], "region_center": [3]}
                      (keypoints then have "base": {"action_point", "region_center"})
    timings_ms        per stage: region, surface, candidates, collision, scoring, total
    num_candidates    poses evaluated (contact pairs x approach dirs x depths)
    num_on_target_candidates  of those, the poses whose closing region holds mostly target, before the
                      collision checks (0: no pose of this hand holds the part on its own)
    warning           only when there is something to say, always when grasps is empty or when no
                      grasp is on_target

Example (one grasp, abridged)::

    {"schema": "point2act.grasps/1", "prompt": "pick up the mug", "frame": "capture",
     "metres_per_unit": 1.0, "action_point": [0.058, 0.0, 0.044],
     "region": {"center": [0.057, 0.0, 0.045], "extent": [0.034, 0.013, 0.066], "num_gaussians": 825},
     "gripper": {"max_opening": 0.08, "finger_length": 0.0462, ...},
     "grasps": [{"position": [0.065, -0.01, 0.043],
                 "rotation": [[0.96, -0.0, -0.25], [-0.25, 0.0, -0.97], [-0.09, 1.0, 0.0]],
                 "quaternion_wxyz": [0.5, 0.6, -0.1, -0.1], "width": 0.022, "width_capture_units": 0.022,
                 "contact_width": 0.012, "score": 0.91, "semantic_score": 0.92, "geometric_score": 0.88}],
     "timings_ms": {"region": 5, "surface": 120, "candidates": 48, "collision": 160, "scoring": 7, "total": 340},
     "num_candidates": 6144}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, NoReturn

import numpy as np

from point2act.points import write_json_atomic  # noqa: F401  (re-exported: one atomic writer)

from point2act.grasp.config import GripperConfig
from point2act.grasp.geometry import rotation_to_quaternion_wxyz

CANDIDATES_COLLIDE = "grasp candidates collide with the scene"
"""The no-grasp reason's words where candidates exist and every one collides
(:func:`point2act.grasp.scoring.why_none`): the reason then names what blocks them, and the export's advice adds
no tip about the scale or the training length. Here, beside the result, so that the export's document reads it
without importing the planner."""

__all__ = ["Region", "Grasp", "GraspResult", "SCHEMA", "validate_grasps_dict", "write_json_atomic"]

SCHEMA = "point2act.grasps/1"


def _vec(a) -> List[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


@dataclass
class Region:
    """The highest-relevancy region of the field (capture frame, capture units)."""

    action_point: np.ndarray
    """Where to act [3]: the chosen cluster's relevancy density peak (a Gaussian centre), or its
    weighted centroid (``RegionConfig.action_point``)."""
    center: np.ndarray
    """Centre of the cluster's (percentile) bounding box [3]."""
    extent: np.ndarray
    """Size of that box along x, y, z [3]."""
    num_gaussians: int
    """Number of Gaussians in the chosen cluster."""
    indices: np.ndarray
    """Indices of those Gaussians into the input arrays."""
    relevancy_mass: float = 0.0
    """Sum of relevancy*opacity over the cluster."""
    threshold: float = 0.0
    """Absolute relevancy threshold that was applied."""
    max_relevancy: float = 0.0
    """Maximum relevancy among opaque Gaussians."""
    num_clusters: int = 1
    """Number of DBSCAN clusters found among the relevant Gaussians."""
    action_index: int | None = None
    """Index (into the input arrays) of the Gaussian the action point sits on; None for the centroid."""
    support_level: str | None = None
    """"consensus" when the views' consensus chose it; None without support."""

    def to_dict(self) -> Dict[str, Any]:
        return {"center": _vec(self.center), "extent": _vec(self.extent), "num_gaussians": int(self.num_gaussians)}


@dataclass
class Grasp:
    """One parallel-jaw grasp. ``rotation`` columns are the gripper x (closing),
    y (= z cross x) and z (approach) axes in capture coordinates; ``position``
    is the TCP (midway between the fingertips), capture units."""

    position: np.ndarray
    rotation: np.ndarray
    opening: float
    """Pre-grasp opening between the fingers' inner faces, capture units."""
    contact_width: float
    """Distance between the two contact points, capture units."""
    score: float
    semantic_score: float
    geometric_score: float
    contacts: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))
    """The two contact points [2, 3] (capture units)."""
    on_target: bool | None = None
    """Whether the grasp closes on the target: at least ``point2act.grasp.config.ON_TARGET_SHARE`` of what lies
    between the fingers is the relevant region's (None: not judged, e.g. a grasp built by hand)."""
    clearance_score: float | None = None
    """The fingers' clearance at the grasp pose, [0, 1] (``point2act.grasp.config.CLEARANCE_WEIGHT``)."""
    closing_cells: int | None = None
    """How many occupied cells (surface points without an occupancy grid) lie between the fingers:
    what ``semantic_score`` is the share of."""
    both_pads_touch: bool | None = None
    """Whether, where the fingers close, the pads touch the part at both contacts of the pair the grasp was made
    from (:func:`point2act.grasp.part_scans.pads_touch_contacts`); among the on-target grasps (and among the
    others) those that do rank first. False: held where the target was pointed at, one contact lies beyond
    the fingertips and the part sits off centre between the pads."""
    contacts_seen: bool | None = None
    """Whether the contacts are surface points whose normals the views saw (an antipodal pair); False: a closing
    line parallel to the support plane through the target, its contacts the part's ends across it
    (:func:`point2act.grasp.candidates.support_pairs`). Within the same ``on_target`` and ``both_pads_touch``
    group, seen contacts rank first."""
    backed_off: float | None = None
    """How far (capture units) the grasp backed off along its approach from the depth its part asked for
    (0: the part's far side sits just inside the fingertips; more: it is held nearer the tips)."""
    clears_margin: bool | None = None
    """Whether the fingers and the palm keep ``GraspConfig.collision_margin`` from occupied and unknown space
    (False: an on-target grasp that clears it by less, listed because no on-target grasp keeps the margin;
    :func:`point2act.grasp.plan_grasps`)."""
    avoid_score: float | None = None
    """Only with an "avoid" channel: max normalised avoid relevancy in the closing region and finger path."""
    handover_rotation: np.ndarray | None = None
    """Only with an avoid channel and a handover direction: gripper rotation at handover."""

    @property
    def quaternion_wxyz(self) -> np.ndarray:
        return rotation_to_quaternion_wxyz(self.rotation)

    @property
    def approach(self) -> np.ndarray:
        """Unit approach direction [3] (rotation column z, from the gripper towards the object)."""
        z = np.asarray(self.rotation, dtype=np.float64)[:, 2]
        return z / np.linalg.norm(z)

    def pregrasp_position(self, pregrasp_distance: float, metres_per_unit: float) -> np.ndarray:
        """TCP of the pre-grasp pose [3], capture units: ``pregrasp_distance`` metres back along
        the approach axis from :attr:`position`."""
        return np.asarray(self.position, dtype=np.float64) - (pregrasp_distance / metres_per_unit) * self.approach

    def to_dict(self, metres_per_unit: float, pregrasp_distance: float = GripperConfig.pregrasp_distance) -> Dict[str, Any]:
        """The grasp's grasps.json entry; ``pregrasp_distance`` in metres (the gripper's)."""
        d = {
            "position": _vec(self.position),
            "rotation": [[float(v) for v in row] for row in np.asarray(self.rotation)],
            "quaternion_wxyz": _vec(self.quaternion_wxyz),
            "approach": _vec(self.approach),
            "pregrasp_position": _vec(self.pregrasp_position(pregrasp_distance, metres_per_unit)),
            "width": float(self.opening * metres_per_unit),
            "width_capture_units": float(self.opening),
            "contact_width": float(self.contact_width * metres_per_unit),
            "score": float(self.score),
            "semantic_score": float(self.semantic_score),
            "geometric_score": float(self.geometric_score),
        }
        if self.on_target is not None:
            d["on_target"] = bool(self.on_target)
        if self.clearance_score is not None:
            d["clearance_score"] = float(self.clearance_score)
        if self.closing_cells is not None:
            d["closing_cells"] = int(self.closing_cells)
        if self.both_pads_touch is not None:
            d["both_pads_touch"] = bool(self.both_pads_touch)
        if self.contacts_seen is not None:
            d["contacts_seen"] = bool(self.contacts_seen)
        if self.backed_off is not None:
            d["backed_off"] = float(self.backed_off * metres_per_unit)
        if self.clears_margin is not None:
            d["clears_margin"] = bool(self.clears_margin)
        if self.avoid_score is not None:
            d["avoid_score"] = float(self.avoid_score)
        if self.handover_rotation is not None:
            d["handover_rotation"] = [[float(v) for v in row] for row in np.asarray(self.handover_rotation)]
            d["handover_quaternion_wxyz"] = _vec(rotation_to_quaternion_wxyz(self.handover_rotation))
        return d


@dataclass
class GraspResult:
    """What :func:`point2act.grasp.plan_grasps` (and :func:`point2act.grasp.plan_at_target`) returns."""

    region: Region
    grasps: List[Grasp]
    gripper: GripperConfig
    warning: str | None = None
    """Why ``grasps`` is empty (or anything else worth knowing); None if fine."""
    timings_ms: Dict[str, float] = field(default_factory=dict)
    """Wall time per stage: region, surface, candidates, collision, scoring, total
    (and "imports", the one-off scipy import on a process's first call,
    not included in total)."""
    counts: Dict[str, int] = field(default_factory=dict)
    """Sizes along the pipeline: surface_points, seeds, contact_pairs, candidates,
    collision_free, after_nms."""
    support_plane: np.ndarray | None = None
    """Detected table plane ``[a, b, c, d]`` (unit normal pointing up, a*x+b*y+c*z+d=0), or None."""
    fallback: Dict[str, Any] | None = None
    """Where nothing collision-free landed on the target and the grasps come from the wider plan of
    :func:`point2act.grasp.planner.plan_at_target`: ``{"seed_radius_m": its seed ball, "reason": the first plan's
    warning}``; None otherwise. Not part of :meth:`to_dict` (the export document adds it as ``grasp_fallback``)."""

    @property
    def metres_per_unit(self) -> float:
        return self.gripper.metres_per_unit

    def to_dict(self, prompt: str | None = None) -> Dict[str, Any]:
        """The ``point2act.grasps/1`` document (json-able)."""
        d: Dict[str, Any] = {
            "schema": SCHEMA,
            "prompt": prompt,
            "frame": "capture",
            "metres_per_unit": float(self.metres_per_unit),
            "action_point": _vec(self.region.action_point),
            "region": self.region.to_dict(),
            "gripper": self.gripper.to_dict(),
            "grasps": [g.to_dict(self.metres_per_unit, self.gripper.pregrasp_distance) for g in self.grasps],
            "timings_ms": {k: float(v) for k, v in self.timings_ms.items()},
            "num_candidates": int(self.counts.get("candidates", 0)),
            "num_on_target_candidates": int(self.counts.get("on_target_candidates", 0)),
        }
        if self.counts.get("target_surface_points"):  # the target as fused surface points (target.surface_region)
            d["region"]["surface_points"] = int(self.counts["target_surface_points"])
        if self.warning:
            d["warning"] = self.warning
        return d


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_vec(x, n) -> bool:
    return isinstance(x, list) and len(x) == n and all(_is_num(v) for v in x)


def _check_box(box: Any, name: str) -> None:
    """``box`` (named ``name`` in the message) is an object with ``center`` and ``extent``, 3 numbers each."""
    if not isinstance(box, dict) or not _is_vec(box.get("center"), 3) or not _is_vec(box.get("extent"), 3):
        _fail(f"{name} needs center and extent (3 numbers each)")


def _fail(msg: str) -> NoReturn:
    """Raise the ``ValueError`` of :func:`validate_grasps_dict` for ``msg``."""
    raise ValueError(f"invalid {SCHEMA} document: {msg}")


def _check_rotation(v, what: str, atol: float) -> np.ndarray:  # [3, 3]
    """``v`` as a 3x3 array if it is 3x3 numbers and a proper rotation (orthonormal within ``atol``,
    determinant 1), else fail."""
    if not (isinstance(v, list) and len(v) == 3 and all(_is_vec(r, 3) for r in v)):
        _fail(f"{what} must be 3x3 numbers")
    R = np.asarray(v)
    if not np.allclose(R.T @ R, np.eye(3), atol=atol) or abs(np.linalg.det(R) - 1) > atol:
        _fail(f"{what} is not a proper rotation")
    return R


def _check_quaternion(q, R: np.ndarray, what: str) -> None:
    """Fail unless ``q`` is 4 numbers equal (up to sign, within 1e-4) to the quaternion of ``R``."""
    if not _is_vec(q, 4):
        _fail(f"{what}.quaternion_wxyz")
    qq = rotation_to_quaternion_wxyz(R)
    if min(np.abs(qq - q).max(), np.abs(qq + q).max()) > 1e-4:
        _fail(f"{what}.quaternion_wxyz does not match rotation")


def _check_approach(g: Dict[str, Any], R: np.ndarray, what: str, distance: float | None,
                    required: bool = False) -> None:
    """``approach`` (= rotation column z) and ``pregrasp_position`` (= position - distance *
    approach) when present (always when ``required``); ``distance`` None: any d >= 0."""
    for k in ("approach", "pregrasp_position"):
        if (required or k in g) and not _is_vec(g.get(k), 3):
            _fail(f"{what}.{k} must be 3 finite numbers")
    if "approach" in g and not np.allclose(g["approach"], R[:, 2], atol=1e-4):
        _fail(f"{what}.approach is not the rotation's z column (the approach axis)")
    if "pregrasp_position" in g:
        back = np.asarray(g["position"], dtype=np.float64) - np.asarray(g["pregrasp_position"], dtype=np.float64)
        dist = float(back @ R[:, 2])
        tol = 1e-4 * max(1.0, abs(dist))
        if dist < -tol or np.linalg.norm(back - dist * R[:, 2]) > tol:
            _fail(f"{what}.pregrasp_position is not behind position along the approach axis")
        if distance is not None and abs(dist - distance) > tol:
            _fail(f"{what}.pregrasp_position is {dist:.6g} behind position, expected the gripper's "
                  f"pregrasp_distance ({distance:.6g})")


def _check_header(d: Dict[str, Any]) -> None:
    """The document's top-level entries before the grasps: schema, frame, action point, prompt,
    ``metres_per_unit``, region, gripper, the grasps list and the warning that an empty list or a
    first grasp off the target needs."""
    if not isinstance(d, dict):
        _fail("not an object")
    if d.get("schema") != SCHEMA:
        _fail(f"schema is {d.get('schema')!r}")
    if d.get("frame") != "capture":
        _fail("frame must be 'capture'")
    if not _is_vec(d.get("action_point"), 3):
        _fail("action_point must be 3 finite numbers")
    if "prompt" in d and d["prompt"] is not None and not isinstance(d["prompt"], str):
        _fail("prompt must be a string or null")
    mpu = d.get("metres_per_unit", 1.0)
    if not _is_num(mpu) or mpu <= 0:
        _fail("metres_per_unit must be a positive number")
    reg = d.get("region")
    _check_box(reg, "region")
    if not isinstance(reg.get("num_gaussians"), int) or reg["num_gaussians"] < 0:
        _fail("region.num_gaussians must be a non-negative int")
    if d.get("grasp_target") is not None:
        _check_box(d["grasp_target"], "grasp_target")
    grip = d.get("gripper")
    if not isinstance(grip, dict) or not _is_num(grip.get("max_opening")):
        _fail("gripper must be an object with max_opening")
    grasps = d.get("grasps")
    if not isinstance(grasps, list):
        _fail("grasps must be a list")
    if not grasps and not d.get("warning"):
        _fail("an empty grasps list needs a warning")
    if grasps and isinstance(grasps[0], dict) and grasps[0].get("on_target") is False and not d.get("warning"):
        _fail("no grasp closes on the target (the first is on_target false): that needs a warning")


def _check_grasp_pose(g, i: int, grip: Dict[str, Any], atol: float) -> tuple[np.ndarray, tuple[bool, bool, bool]]:
    """``grasps[i]``'s position, rotation, quaternion, scores, width (within the gripper's opening)
    and the types of ``on_target``, ``both_pads_touch`` and ``contacts_seen``. Returns (rotation [3, 3],
    (on_target, both_pads_touch, contacts_seen)), the flags true when absent."""
    if not isinstance(g, dict):
        _fail(f"grasps[{i}] is not an object")
    if not _is_vec(g.get("position"), 3):
        _fail(f"grasps[{i}].position")
    R = _check_rotation(g.get("rotation"), f"grasps[{i}].rotation", atol)
    _check_quaternion(g.get("quaternion_wxyz"), R, f"grasps[{i}]")
    for k in ("width", "score", "semantic_score", "geometric_score"):
        if not _is_num(g.get(k)):
            _fail(f"grasps[{i}].{k} must be a finite number")
    if g["width"] < 0 or g["width"] > grip["max_opening"] * (1 + 1e-9):
        _fail(f"grasps[{i}].width {g['width']} outside [0, max_opening]")
    if "on_target" in g and not isinstance(g["on_target"], bool):
        _fail(f"grasps[{i}].on_target must be true or false")
    on = g.get("on_target", True)
    for k in ("both_pads_touch", "contacts_seen"):
        if k in g and not isinstance(g[k], bool):
            _fail(f"grasps[{i}].{k} must be true or false")
    return R, (on, g.get("both_pads_touch", True), g.get("contacts_seen", True))


def _check_grasp_extras(g: Dict[str, Any], i: int, R: np.ndarray, grip: Dict[str, Any], mpu: float,
                        atol: float) -> None:
    """``grasps[i]``'s optional entries: clearance and avoid scores, flags, ``backed_off``, the
    handover rotation, approach and pre-grasp position (``pregrasp_distance`` in capture units) and
    the robot-frame ``base`` pose (metres)."""
    if "clearance_score" in g and not (_is_num(g["clearance_score"]) and -atol <= g["clearance_score"] <= 1 + atol):
        _fail(f"grasps[{i}].clearance_score must be a number in [0, 1]")
    if "clears_margin" in g and not isinstance(g["clears_margin"], bool):
        _fail(f"grasps[{i}].clears_margin must be true or false")
    if "backed_off" in g and not (_is_num(g["backed_off"]) and g["backed_off"] >= 0):
        _fail(f"grasps[{i}].backed_off must be a number >= 0")
    if "avoid_score" in g and not (_is_num(g["avoid_score"]) and -atol <= g["avoid_score"] <= 1 + atol):
        _fail(f"grasps[{i}].avoid_score must be a number in [0, 1]")
    if "handover_rotation" in g:
        _check_rotation(g["handover_rotation"], f"grasps[{i}].handover_rotation", atol)
    pre_m = grip.get("pregrasp_distance")  # metres; None in files written before it existed
    _check_approach(g, R, f"grasps[{i}]", None if pre_m is None else pre_m / mpu)
    if "base" in g:
        b = g["base"]
        if not isinstance(b, dict) or not _is_vec(b.get("position"), 3):
            _fail(f"grasps[{i}].base must be an object with position (3 numbers)")
        Rb = _check_rotation(b.get("rotation"), f"grasps[{i}].base.rotation", atol)
        _check_quaternion(b.get("quaternion_wxyz"), Rb, f"grasps[{i}].base")
        _check_approach(b, Rb, f"grasps[{i}].base", pre_m, required=True)


def _check_grasps(grasps: List[Any], grip: Dict[str, Any], mpu: float, atol: float) -> None:
    """Each grasp (:func:`_check_grasp_pose`, :func:`_check_grasp_extras`) and their order: those
    on the target first; in each group those whose pads touch both contacts first, then those whose
    contacts the views saw; then by score, descending."""
    names = ("a grasp that closes on the target (on_target)", "a grasp whose pads touch both contacts (both_pads_touch)",
             "a grasp whose contacts the views saw (contacts_seen)")
    prev, prev_flags = math.inf, (True, True, True)
    for i, g in enumerate(grasps):
        R, flags = _check_grasp_pose(g, i, grip, atol)
        for level in range(3):
            if flags[:level] == prev_flags[:level] and flags[level] and not prev_flags[level]:
                _fail(f"grasps are not sorted: {names[level]} after one that does not"
                      + (" in the same group" if level else ""))
        if flags == prev_flags and g["score"] > prev + 1e-12:
            _fail("grasps are not sorted by score (descending)")
        prev, prev_flags = g["score"], flags
        _check_grasp_extras(g, i, R, grip, mpu, atol)


def _check_base_frame(d: Dict[str, Any]) -> None:
    """With ``base_from_capture``: that it is a similarity (scale times a proper rotation, last row
    0 0 0 1), the robot-frame ``base`` entries and ``frame_file``."""
    if "base_from_capture" not in d:
        return
    m = d["base_from_capture"]
    if not (isinstance(m, list) and len(m) == 4 and all(_is_vec(r, 4) for r in m)):
        _fail("base_from_capture must be 4x4 numbers")
    m = np.asarray(m, dtype=np.float64)
    sv = np.linalg.svd(m[:3, :3], compute_uv=False)
    if not np.allclose(m[3], [0, 0, 0, 1], atol=1e-9) or sv[-1] <= 0 or sv[0] - sv[-1] > 1e-4 * sv[0] \
            or np.linalg.det(m[:3, :3]) <= 0:
        _fail("base_from_capture must be a similarity (scale times a proper rotation, last row 0 0 0 1)")
    b = d.get("base")
    if not isinstance(b, dict) or not _is_vec(b.get("action_point"), 3) or not _is_vec(b.get("region_center"), 3):
        _fail("base must be an object with action_point and region_center (3 numbers each, metres)")
    if "frame_file" in d and d["frame_file"] is not None and not isinstance(d["frame_file"], str):
        _fail("frame_file must be a string or null")


def _check_keypoints(kps: Any) -> None:
    """The optional ``keypoints`` object: each named keypoint's action point, region, prompt, role
    and robot-frame ``base`` entries."""
    if kps is None:
        return
    if not isinstance(kps, dict):
        _fail("keypoints must be an object (name -> {action_point, region})")
    for name, kp in kps.items():
        if not isinstance(kp, dict) or not _is_vec(kp.get("action_point"), 3):
            _fail(f"keypoints[{name!r}].action_point must be 3 finite numbers")
        _check_box(kp.get("region"), f"keypoints[{name!r}].region")
        if kp.get("prompt") is not None and not isinstance(kp["prompt"], str):
            _fail(f"keypoints[{name!r}].prompt must be a string or null")
        if "role" in kp and kp["role"] not in ("grasp", "place", "avoid"):
            _fail(f"keypoints[{name!r}].role must be grasp, place or avoid")
        if "base" in kp and not (isinstance(kp["base"], dict) and _is_vec(kp["base"].get("action_point"), 3)
                                 and _is_vec(kp["base"].get("region_center"), 3)):
            _fail(f"keypoints[{name!r}].base needs action_point and region_center (3 numbers each, metres)")


def validate_grasps_dict(d: Dict[str, Any], atol: float = 1e-5) -> None:
    """Raise ``ValueError`` describing the first violation of ``point2act.grasps/1``.

    Checks types and finiteness, that rotations are proper and orthonormal, that
    quaternions match them, that widths are within the gripper's opening and
    that grasps are sorted (those that close on the target first, ``on_target``; in each group those whose
    pads touch both contacts, ``both_pads_touch``; then by score, descending). Optional keys are checked when
    present (files written before they existed stay valid): ``approach`` (the
    rotation's z column), ``pregrasp_position`` (``pregrasp_distance`` behind
    ``position`` along the approach axis), the robot-frame ``base`` entries and
    ``base_from_capture`` (a similarity)."""
    _check_header(d)
    grip = d["gripper"]
    _check_grasps(d["grasps"], grip, d.get("metres_per_unit", 1.0), atol)
    if "pregrasp_distance" in grip and not (_is_num(grip["pregrasp_distance"]) and grip["pregrasp_distance"] >= 0):
        _fail("gripper.pregrasp_distance must be a non-negative number")
    _check_base_frame(d)
    _check_keypoints(d.get("keypoints"))
