"""``point2act calibrate`` and ``point2act capture-from-robot``: the robot's commands, as dataclasses whose fields
are their options (:mod:`point2act.cli` lists them with the others)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple


@dataclass
class Calibrate:
    """Metric scale and the robot's frame of a capture, written to CAPTURE/point2act_frame.json (read by
    `point2act export`): from an ArUco/AprilTag marker seen in the views (--marker-size), or from the
    robot's flange pose for each view (--robot-poses: hand-eye and base_from_capture solved together)."""

    data: Path
    """Capture folder (with transforms.json, or a COLMAP model for --robot-poses), or its transforms.json."""
    marker_size: float | None = None
    """Side of the printed marker's black square, metres."""
    marker_pose_in_base: Path | None = None
    """JSON with the marker's pose in the robot base frame (metres): {"base_from_marker": 4x4} or
    {"position": [x, y, z], "quaternion_wxyz": [w, x, y, z]} (see docs/robot.md)."""
    marker_dictionary: str = "DICT_4X4_50"
    """OpenCV ArUco dictionary of the marker (DICT_4X4_50, DICT_APRILTAG_36h11, ...)."""
    marker_id: int | None = None
    """The marker's id (default: the id seen in the most views)."""
    ignore_view: Tuple[str, ...] = ()
    """Views (file_path as in transforms.json, images/NAME for COLMAP) to leave out, e.g. one with a bad pose."""
    robot_poses: Path | None = None
    """Folder of the robot's flange poses in its base frame, one 4x4 per view named after the view's image
    (images/9.png <-> 9.npy, 9.json or 9.csv; metres), or one JSON file {name: 4x4}."""
    camera_in_flange: Path | None = None
    """With --robot-poses: a known hand-eye transform (camera in flange, metres, OpenCV camera axes; JSON 4x4,
    .npy, or a frame file): then only the scale and base frame are fitted."""
    robot_poses_are: str = "flange"
    """flange (default) or camera: the poses in --robot-poses are the camera's own (camera in base)."""
    colmap_path: str | None = None
    """With --robot-poses: the COLMAP model folder in the capture (default: transforms.json when present, else
    colmap/sparse/0, sparse/0)."""
    output: Path | None = None
    """Where to write the frame file (default: CAPTURE/point2act_frame.json)."""

    def main(self) -> None:
        from point2act.errors import Point2ActError
        from point2act.robot.calibrate import (
            FRAME_FILE,
            ArucoMarker,
            CalibrateOptions,
            calibrate_capture,
            read_marker_pose,
        )

        if (self.robot_poses is None) == (self.marker_size is None):
            raise Point2ActError("give --marker-size (a marker in the views) or --robot-poses (the robot's flange poses), "
                                 "one of the two")
        t0 = time.perf_counter()
        if self.robot_poses is not None:
            from point2act.robot.handeye import (
                HandEyeOptions,
                calibrate_from_robot_poses,
                read_camera_in_flange,
            )
            from point2act.robot.poses import RobotPoses

            X = read_camera_in_flange(self.camera_in_flange) if self.camera_in_flange is not None else None
            options = HandEyeOptions(colmap_path=self.colmap_path, ignore_views=tuple(self.ignore_view))
            d = calibrate_from_robot_poses(self.data, RobotPoses(self.robot_poses, X), pose_kind=self.robot_poses_are,
                                           options=options, out=self.output)
            h = d["hand_eye"]
            print(f"{h['num_views']} views with poses: residuals {h['residual_mm_rms']:.2f} mm, {h['residual_deg_rms']:.2f} "
                  f"deg RMS (worst {h['residual_mm_max']:.2f} mm, {h['residual_deg_max']:.2f} deg; "
                  f"{time.perf_counter() - t0:.1f} s)")
            for k, r in h["residuals_per_view"].items():
                print(f"  {k}: {r['mm']:.2f} mm, {r['deg']:.2f} deg")
            t = [round(v, 4) for v in (row[3] for row in h["camera_in_flange"][:3])]
            print(f"camera in flange: {'given' if h['camera_in_flange_given'] else 'solved'}, translation {t} m")
            print(f"metres per capture unit: {d['metres_per_unit']:.6g}")
            print(f"wrote {self.output or Path(d['capture']) / FRAME_FILE}")
            return
        pose = read_marker_pose(self.marker_pose_in_base) if self.marker_pose_in_base is not None else None
        marker = ArucoMarker(self.marker_size, self.marker_dictionary, self.marker_id, pose)
        d = calibrate_capture(self.data, marker, options=CalibrateOptions(ignore_views=tuple(self.ignore_view)),
                              out=self.output)
        m = d["marker"]
        print(f"marker {m['id']} in {m['num_views']} views, reprojection {m['reprojection_px']:.2f} px "
              f"({time.perf_counter() - t0:.1f} s)")
        print(f"metres per capture unit: {d['metres_per_unit']:.6g}")
        if "base_from_capture" in d:
            print("base_from_capture: written (export adds base-frame poses)")
        print(f"wrote {self.output or Path(d['capture']) / FRAME_FILE}")


@dataclass
class CaptureFromRobot:
    """A nerfstudio capture from the robot's own poses, no COLMAP: transforms.json in the robot's base frame
    (metres; camera-to-world = flange pose @ camera-in-flange, OpenGL axes), with depth paths where depth
    images exist, and a point2act_frame.json that makes `point2act export` write base-frame poses."""

    images: Path
    """Folder of the images."""
    robot_poses: Path
    """Folder of the flange poses in the base frame, one 4x4 per image named after it (9.png <-> 9.npy,
    9.json or 9.csv; metres), or one JSON file {name: 4x4}."""
    camera_in_flange: Path
    """The camera's pose in the flange frame (metres, OpenCV camera axes): JSON 4x4, .npy, or the frame file
    `point2act calibrate --robot-poses` wrote."""
    intrinsics: Path
    """JSON: fl_x, fl_y, cx, cy, w, h (+ k1, k2, p1, p2, camera_model), or K (3x3), width, height, dist."""
    output: Path | None = None
    """Capture folder to write transforms.json in (default: the images folder's parent)."""
    depths: Path | None = None
    """Folder of depth images named like the images (default: depth/ or depths/ beside the images)."""
    ignore_view: Tuple[str, ...] = ()
    """Image file names to leave out."""

    def main(self) -> None:
        from point2act.robot.handeye import read_camera_in_flange
        from point2act.robot.poses import RobotPoses
        from point2act.robot.robot_capture import read_intrinsics, write_robot_capture

        robot = RobotPoses(self.robot_poses, read_camera_in_flange(self.camera_in_flange))
        doc = write_robot_capture(self.images, robot, read_intrinsics(self.intrinsics), self.output, self.depths,
                                  self.ignore_view)
        out = self.output or self.images.parent
        n_depth = sum(1 for f in doc["frames"] if "depth_file_path" in f)
        print(f"{len(doc['frames'])} views ({n_depth} with depth) in the robot base frame, metres")
        print(f"wrote {out / 'transforms.json'} and {out / 'point2act_frame.json'}")
        print(f"train: ns-train point2act --data {out} --pipeline.datamanager.points-file POINTS nerfstudio-data")
