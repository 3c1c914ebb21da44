"""`point2act capture-from-robot`: transforms.json in the robot base frame, loaded by nerfstudio's own dataparser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from point2act.errors import Point2ActError
from point2act.robot.calibrate import load_frame_file
from point2act.robot.poses import RobotPoses
from point2act.robot.robot_capture import read_intrinsics, write_robot_capture

from .test_handeye import TOOLS, make_rig, write_poses

K = {"fl_x": 60.0, "fl_y": 61.0, "cx": 32.0, "cy": 24.0, "w": 64, "h": 48}


def _images(folder: Path, n: int, size=(64, 48)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def robot(tmp_path):
    _S, X, F, _C = make_rig(n=8, seed=4)
    cap = tmp_path / "cap"
    _images(cap / "images", len(F))
    write_poses(cap / "poses", F)
    (cap / "depth").mkdir()
    for i in range(len(F)):
        Image.fromarray(np.full((48, 64), 500, dtype=np.uint16)).save(cap / "depth" / f"{i}.png")
    (tmp_path / "K.json").write_text(json.dumps(K))
    return cap, X, F


def test_transforms_json_loads_in_nerfstudio_in_the_base_frame(robot):
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from point2act.geometry import FrameTransform

    cap, X, F = robot
    doc = write_robot_capture(cap / "images", RobotPoses(cap / "poses", X), read_intrinsics(cap.parent / "K.json"))
    assert [f["file_path"] for f in doc["frames"]] == [f"images/{i}.png" for i in range(len(F))]
    assert all(f["depth_file_path"] == f"depth/{i}.png" for i, f in enumerate(doc["frames"]))
    out = NerfstudioDataParserConfig(data=cap, train_split_fraction=1.0).setup().get_dataparser_outputs("train")
    assert len(out.image_filenames) == len(F) and out.cameras.fx[0].item() == pytest.approx(K["fl_x"])
    assert [p.name for p in out.metadata["depth_filenames"]] == [p.name for p in out.image_filenames]
    ft = FrameTransform(out.dataparser_transform.numpy(), float(out.dataparser_scale))
    c2w = out.cameras.camera_to_worlds.numpy().astype(np.float64)
    order = [int(p.stem) for p in out.image_filenames]
    cam_base = (F @ X)[order]  # the camera in the base frame, OpenCV axes
    np.testing.assert_allclose(ft.to_capture(c2w[:, :3, 3]), cam_base[:, :3, 3], atol=1e-5)
    # nerfstudio's OpenGL camera looks along -z: the OpenCV camera's +z
    look = ft.rotation_to_capture(c2w[:, :3, :3]) @ np.array([0.0, 0.0, -1.0])
    np.testing.assert_allclose(look, cam_base[:, :3, 2], atol=1e-5)
    frame = load_frame_file(cap / "point2act_frame.json")
    assert frame["metres_per_unit"] == 1.0 and np.allclose(frame["base_from_capture"], np.eye(4))


def test_refusals(robot, tmp_path):
    cap, X, F = robot
    intr = read_intrinsics(cap.parent / "K.json")
    (cap / "poses" / "5.npy").unlink()
    with pytest.raises(Point2ActError, match=r"5\.png \(expected .*5\.npy"):
        write_robot_capture(cap / "images", RobotPoses(cap / "poses", X), intr)
    write_poses(cap / "poses", F)
    with pytest.raises(Point2ActError, match=r"0\.png: the image is 64x48 but the intrinsics are for 128x96"):
        write_robot_capture(cap / "images", RobotPoses(cap / "poses", X), dict(intr, w=128, h=96))
    for i in (2, 6):
        (cap / "depth" / f"{i}.png").unlink()
    with pytest.raises(Point2ActError, match=r"depth images for 6 of the 8 views.*No depth for: 2\.png, 6\.png"):
        write_robot_capture(cap / "images", RobotPoses(cap / "poses", X), intr)
    empty = tmp_path / "nodepth"
    empty.mkdir()
    doc = write_robot_capture(cap / "images", RobotPoses(cap / "poses", X), intr, depths=empty)
    assert not any("depth_file_path" in f for f in doc["frames"])
    bad = X.copy()
    bad[:3, :3] *= 2.0
    with pytest.raises(Point2ActError, match="camera-in-flange transform is not rigid"):
        write_robot_capture(cap / "images", RobotPoses(cap / "poses", bad), intr)
    (tmp_path / "Kbad.json").write_text(json.dumps({"fl_x": 60.0, "cx": 32, "cy": 24, "w": 64, "h": 48}))
    with pytest.raises(Point2ActError, match="'fl_y' must be a finite number"):
        read_intrinsics(tmp_path / "Kbad.json")


def test_opencv_intrinsics_layout(tmp_path):
    p = tmp_path / "K.json"
    p.write_text(json.dumps({"K": [[500, 0, 320], [0, 501, 240], [0, 0, 1]], "width": 640, "height": 480,
                             "dist": [0.1, -0.01, 0.001, 0.002, 0.0005]}))
    k = read_intrinsics(p)
    assert (k["fl_x"], k["fl_y"], k["cx"], k["cy"], k["w"], k["h"]) == (500, 501, 320, 240, 640, 480)
    assert (k["k1"], k["k2"], k["p1"], k["p2"], k["k3"]) == (0.1, -0.01, 0.001, 0.002, 0.0005)
    assert k["camera_model"] == "OPENCV"


def test_cli_capture_from_robot(robot, tmp_path, capsys):
    from point2act.cli import entrypoint

    cap, X, F = robot
    (tmp_path / "X.json").write_text(json.dumps(X.tolist()))
    out = tmp_path / "out"
    entrypoint(["capture-from-robot", "--images", str(cap / "images"), "--robot-poses", str(cap / "poses"),
                "--camera-in-flange", str(tmp_path / "X.json"), "--intrinsics", str(cap.parent / "K.json"),
                "--output", str(out)])
    assert "8 views (8 with depth)" in capsys.readouterr().out
    doc = json.loads((out / "transforms.json").read_text())
    assert doc["frames"][0]["file_path"] == "../cap/images/0.png"
    T = np.array(doc["frames"][2]["transform_matrix"])
    np.testing.assert_allclose(T, F[2] @ X @ np.diag([1.0, -1.0, -1.0, 1.0]), atol=1e-12)


@pytest.mark.skipif(not (TOOLS / "poses").is_dir(), reason=f"{TOOLS} (shared test data) not found")
def test_tools_robot_capture_matches_colmap_cameras(tmp_path):
    """tools with the recovered hand-eye and COLMAP's intrinsics, no COLMAP poses: each camera lands within
    a few mm of where COLMAP's camera lands once mapped to the base frame by the calibration."""
    from point2act.robot.capture_views import capture_cameras
    from point2act.robot.handeye import calibrate_from_robot_poses

    frame = calibrate_from_robot_poses(TOOLS, RobotPoses(TOOLS / "poses"), write=False)
    X = np.array(frame["hand_eye"]["camera_in_flange"])
    cam = (TOOLS / "sparse" / "0" / "cameras.txt").read_text().splitlines()[-1].split()
    intr = {"fl_x": float(cam[4]), "fl_y": float(cam[5]), "cx": float(cam[6]), "cy": float(cam[7]),
            "w": int(cam[2]), "h": int(cam[3]), "camera_model": "PINHOLE"}
    doc = write_robot_capture(TOOLS / "images", RobotPoses(TOOLS / "poses", X), intr, output=tmp_path)
    _, _, cams = capture_cameras(TOOLS)
    B = np.array(frame["base_from_capture"])
    d = [np.linalg.norm(np.array(f["transform_matrix"])[:3, 3] - (B @ cams["images/" + Path(f["file_path"]).name])[:3, 3])
         for f in doc["frames"]]
    assert len(d) == 23 and np.sqrt(np.mean(np.square(d))) < 0.005


@pytest.mark.skipif(not (TOOLS / "poses").is_dir(), reason=f"{TOOLS} (shared test data) not found")
def test_tools_robot_cameras_triangulate_the_mug_handle(tmp_path):
    """The hand-annotated mug-handle points, triangulated with the robot capture's cameras (no COLMAP pose),
    land within 1 cm of the COLMAP triangulation (benchmarks/real/targets) mapped to the base frame."""
    from scipy.optimize import least_squares

    from point2act.robot.handeye import calibrate_from_robot_poses

    root = Path(__file__).resolve().parents[2]
    target = json.loads((root / "benchmarks" / "real" / "targets" / "tools-mug_handle.json").read_text())
    frame = calibrate_from_robot_poses(TOOLS, RobotPoses(TOOLS / "poses"), write=False)
    cam = (TOOLS / "sparse" / "0" / "cameras.txt").read_text().splitlines()[-1].split()
    intr = {"fl_x": float(cam[4]), "fl_y": float(cam[5]), "cx": float(cam[6]), "cy": float(cam[7]),
            "w": int(cam[2]), "h": int(cam[3])}
    (tmp_path / "images").symlink_to(TOOLS / "images")
    robot = RobotPoses(TOOLS / "poses", np.array(frame["hand_eye"]["camera_in_flange"]))
    doc = write_robot_capture(tmp_path / "images", robot, intr, output=tmp_path)
    Kmat = np.array([[intr["fl_x"], 0, intr["cx"]], [0, intr["fl_y"], intr["cy"]], [0, 0, 1.0]])
    w2c = {f["file_path"]: np.linalg.inv(np.array(f["transform_matrix"]) @ np.diag([1.0, -1.0, -1.0, 1.0]))
           for f in doc["frames"]}
    obs = [(Kmat @ w2c[k][:3], np.asarray(v[0], dtype=np.float64)) for k, v in target["supervised"].items()
           if v and k not in target.get("errors", {})]
    assert len(obs) >= 4

    def resid(X):
        return np.concatenate([(P @ np.r_[X, 1.0])[:2] / (P @ np.r_[X, 1.0])[2] - uv for P, uv in obs])

    X = least_squares(resid, np.array(frame["base_from_capture"])[:3, 3]).x
    B = np.array(frame["base_from_capture"])
    ref = B[:3, :3] @ np.asarray(target["position"]) + B[:3, 3]
    assert np.linalg.norm(X - ref) < 0.01
