"""Grasp head: ranked, collision-checked 6-DoF parallel-jaw grasps at the
highest-relevancy region of a trained point2act field.

Pipeline (:func:`plan_grasps`, alias :func:`plan`, on a :class:`~point2act.grasp.scene.PlanningScene`;
:func:`plan_at_target` adds the wider fallback that ``point2act export`` takes; one module per stage,
composed by :mod:`point2act.grasp.planner`)
    1. region    -- Gaussians with relevancy >= threshold * max (and opacity >=
       REGION_MIN_OPACITY) are clustered (DBSCAN); the cluster with the largest
       sum(relevancy * opacity) is the region. Its relevancy density peak (a
       Gaussian centre) is the action point.
    2. surface   -- opacity-filtered Gaussian centres (+ optional surface points,
       e.g. fused depth) are voxel-downsampled and given normals (PCA of their
       neighbours). A support plane (table) is found with RANSAC; its lower
       half-space is solid.
       The gripper is checked against the occupancy grid's occupied and unknown
       cells, else the surface points (:mod:`~point2act.grasp.clouds`).
    3. candidates -- surface points near the region are paired with points
       along the closing line inside both friction cones (mu); each pair gives
       ``NUM_APPROACH_DIRS`` approach directions around the closing axis; the
       part between the pads gives each its depth and opening
       (:mod:`~point2act.grasp.candidates`, :mod:`~point2act.grasp.holds`).
    4. collision -- finger and palm boxes must contain no surface point (palm:
       a coarser cloud) and stay above the support plane
       (:mod:`~point2act.grasp.clearance`).
    5. scoring   -- semantic = the target's share between the pads; geometric =
       antipodal quality where the pads hold; clearance; score = weighted mean
       (``SEMANTIC_WEIGHT``, ``GEOMETRIC_WEIGHT``, ``CLEARANCE_WEIGHT``); ranked
       on target first; NMS; top-k, each opened as wide as the room allows
       (:mod:`~point2act.grasp.scoring`, :mod:`~point2act.grasp.opening`).

Pose convention (``point2act.grasps/1``)
    The gripper frame has its origin at the TCP, the point midway between the
    two fingertips (the point that ends up between the fingers).

    * x -- the closing axis, from one finger to the other;
    * z -- the approach direction, from the palm towards the object;
    * y -- z cross x (so x, y, z is right-handed).

    ``rotation`` maps gripper coordinates to capture coordinates: its columns
    are x, y, z expressed in the capture frame (``p_capture = R @ p_gripper +
    position``). ``quaternion_wxyz`` is the same rotation (w >= 0). In the
    gripper frame the fingers are boxes spanning ``z in [-finger_length, 0]``
    at ``|x| in [width/2, width/2 + finger_thickness]``, the palm spans
    ``z in [-finger_length - palm_depth, -finger_length]``. This matches
    ACRONYM's Panda frame (x closing, z approach) except for the origin:
    ACRONYM's is at the hand base, ``finger_length + palm_depth`` (0.1122 m)
    behind our TCP along z.

Units
    Positions are in capture units. Gripper and config lengths are in metres and
    converted with ``GripperConfig.metres_per_unit``. In grasps.json ``width``
    (the pre-grasp opening) is in metres, ``width_capture_units`` in capture
    units.

This package imports only numpy (and, lazily, scipy and the C++ kernels, a pybind11 extension of numpy
arrays: :mod:`point2act.grasp._kernel`); planning grasps never imports torch or open3d (only
:mod:`~point2act.grasp.evaluate`, the benchmarks' ray caster, does).
"""

from __future__ import annotations

from point2act.grasp.config import GraspConfig, GripperConfig, RegionConfig, SurfaceConfig

__all__ = [
    "GripperConfig",
    "RegionConfig",
    "SurfaceConfig",
    "GraspConfig",
    "Region",
    "Grasp",
    "GraspResult",
    "relevant_region",
    "scene_points",
    "FusedSurface",
    "PlanningScene",
    "plan_grasps",
    "plan_at_target",
    "plan",
    "grasp_to_gripper_boxes",
    "validate_grasps_dict",
    "write_json_atomic",
    "SCHEMA",
]

_LAZY = {
    "Region": "result",
    "Grasp": "result",
    "GraspResult": "result",
    "SCHEMA": "result",
    "validate_grasps_dict": "result",
    "write_json_atomic": "result",
    "relevant_region": "region",
    "scene_points": "surface",
    "FusedSurface": "surface",
    "PlanningScene": "scene",
    "plan_grasps": "planner",
    "plan_at_target": "planner",
    "plan": "planner",
    "grasp_to_gripper_boxes": "geometry",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'point2act.grasp' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
