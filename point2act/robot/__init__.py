"""Robot-ready outputs: metric scale and robot base frame from a fiducial marker, grasps in the
robot's base frame, and the relevancy field as a point cloud.

* :mod:`point2act.robot.calibrate` -- ``calibrate_capture``: an ArUco marker of known size seen
  in the capture's images gives metres per capture unit and (with the marker's pose in the robot
  base frame) ``base_from_capture``; written to ``CAPTURE/point2act_frame.json``.
  :mod:`point2act.robot.marker` detects and fits the marker, :mod:`point2act.robot.capture_views`
  reads the capture's cameras, :mod:`point2act.robot.frame_file` reads and checks the frame file.
* :mod:`point2act.robot.handeye` -- ``calibrate_from_robot_poses``: the robot's flange pose for each
  view gives the hand-eye transform, metres per capture unit and ``base_from_capture`` (the same
  frame file); :mod:`point2act.robot.poses` reads and checks the pose files.
* :mod:`point2act.robot.robot_capture` -- ``write_robot_capture``: a nerfstudio capture in the
  robot's base frame from flange poses, hand-eye and intrinsics, without COLMAP.
* :mod:`point2act.robot.formats` -- grasps as GraspNet arrays, ``isaac_grasp`` YAML, ROS 2
  PoseStamped (YAML, rosbag2) and ``moveit_msgs/Grasp`` YAML.
* :mod:`point2act.robot.frame` -- ``add_base_frame``: a grasps.json document with every pose
  also in the robot base frame, in metres.
* :mod:`point2act.robot.ply` -- ``write_relevancy_ply``: Gaussian centres with relevancy,
  opacity and colour as a binary PLY.

Plain numpy / OpenCV / scipy: this package never imports nerfstudio or torch. See docs/robot.md.
"""

from __future__ import annotations

__all__ = [
    "FRAME_FILE",
    "FRAME_SCHEMA",
    "add_base_frame",
    "calibrate_capture",
    "calibrate_from_robot_poses",
    "write_robot_capture",
    "load_frame_file",
    "read_marker_pose",
    "resolve_frame_file",
    "write_relevancy_ply",
]

_LAZY = {
    "FRAME_FILE": "frame_file",
    "FRAME_SCHEMA": "frame_file",
    "calibrate_capture": "calibrate",
    "load_frame_file": "frame_file",
    "read_marker_pose": "frame_file",
    "resolve_frame_file": "frame_file",
    "add_base_frame": "frame",
    "calibrate_from_robot_poses": "handeye",
    "write_robot_capture": "robot_capture",
    "write_relevancy_ply": "ply",
}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'point2act.robot' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
