"""Grasp head: ranked, collision-checked 6-DoF parallel-jaw grasps at the
highest-relevancy region of a trained point2act field.

Pipeline (:func:`plan_grasps`, alias :func:`plan`)
    1. region    -- Gaussians with relevancy >= threshold * max (and opacity >=
       REGION_MIN_OPACITY) are clustered (DBSCAN); the cluster with the largest
       sum(relevancy * opacity) is the region. Its relevancy density peak (a
       Gaussian centre) is the action point.
    2. surface   -- opacity-filtered Gaussian centres (+ optional extra points,
       e.g. fused depth) are voxel-downsampled and given normals (open3d). A
       support plane (table) is found with RANSAC; its lower half-space is solid.
    3. candidates -- surface points near the region are paired with points
       along the closing line inside both friction cones (mu); each pair gives
       ``NUM_APPROACH_DIRS`` approach directions around the closing axis and
       ``len(grasp_depths)`` depths.
    4. collision -- finger and palm boxes must contain no surface point (palm:
       a coarser cloud) and stay above the support plane.
    5. scoring   -- semantic = quantile (median) of surface relevancy inside the
       closing region / max relevancy; geometric = antipodal quality; score =
       weighted mean (``SEMANTIC_WEIGHT``, ``GEOMETRIC_WEIGHT``); NMS; top-k.

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

This package imports only numpy (and, lazily, scipy, open3d and the C++ kernels, a pybind11 extension of
numpy arrays: :mod:`point2act.grasp._kernel`); planning grasps never imports torch.
"""

from __future__ import annotations

from .config import GraspConfig, GripperConfig, RegionConfig, SurfaceConfig

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
    "plan_grasps",
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
    "plan_grasps": "planner",
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
