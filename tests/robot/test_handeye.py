"""`point2act calibrate --robot-poses`: hand-eye + the capture's similarity to the robot base from flange poses.

Synthetic captures with a known similarity and hand-eye transform (recovered), every refusal (missing view,
count, non-rigid, millimetres, wrong pairing, inverted poses, camera poses given as flange poses), and the
real tools capture (COLMAP + poses/N.npy) against the benchmark's own fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from point2act.errors import Point2ActError
from point2act.robot.calibrate import load_frame_file
from point2act.robot.capture_views import capture_cameras
from point2act.robot.frame import add_base_frame
from point2act.robot.handeye import (OPENGL_FROM_OPENCV, HandEyeOptions, calibrate_from_robot_poses,
                                     read_camera_in_flange, solve_hand_eye)
from point2act.robot.poses import RobotPoses

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT.parent / "shared" / "data" / "real" / "tools"


def _look_at(eye: np.ndarray, target: np.ndarray, rng) -> np.ndarray:
    """Camera-to-world, OpenCV axes, looking from eye at target with a random roll."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, rng.normal(size=3))
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    T[:3, 3] = eye
    return T


def make_rig(n=14, seed=0, units_per_metre=4.0, noise_mm=0.0, noise_deg=0.0):
    """(S base_from_capture, X camera_in_flange, flange poses (n,4,4), cameras c2w OpenCV capture units)."""
    rng = np.random.default_rng(seed)
    X = np.eye(4)
    X[:3, :3] = Rotation.from_euler("xyz", [2, -3, 90], degrees=True).as_matrix()
    X[:3, 3] = [0.06, -0.03, -0.08]
    S = np.eye(4)
    S[:3, :3] = Rotation.random(random_state=seed + 1).as_matrix() / units_per_metre
    S[:3, 3] = [0.4, -0.1, 0.05]
    target = np.array([0.5, 0.0, 0.0])
    F, C = [], []
    for _ in range(n):
        d = rng.normal(size=3)
        d[2] = abs(d[2]) + 0.6
        eye = target + 0.45 * d / np.linalg.norm(d)
        cam_base = _look_at(eye, target + rng.normal(scale=0.03, size=3), rng)  # the camera in the base frame
        f = cam_base @ np.linalg.inv(X)
        F.append(f)
        noisy = cam_base.copy()
        noisy[:3, 3] += rng.normal(scale=noise_mm / 1000 / math.sqrt(3), size=3)
        noisy[:3, :3] = Rotation.from_rotvec(rng.normal(scale=math.radians(noise_deg) / math.sqrt(3), size=3)
                                             ).as_matrix() @ noisy[:3, :3]
        c = np.linalg.inv(S) @ noisy  # capture units; rotation block: rotation / (1/upm) scaling below
        c[:3, :3] = S[:3, :3].T * units_per_metre @ noisy[:3, :3]  # pure rotation
        C.append(c)
    return S, X, np.array(F), np.array(C)


def write_capture(folder: Path, C: np.ndarray, F: np.ndarray | None, fmt: str = "npy") -> Path:
    """transforms.json (OpenGL c2w) and poses/ (one file per view) in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = [{"file_path": f"images/{i}.png", "transform_matrix": (c @ OPENGL_FROM_OPENCV).tolist()}
              for i, c in enumerate(C)]
    (folder / "transforms.json").write_text(json.dumps({"fl_x": 200.0, "fl_y": 200.0, "cx": 128.0, "cy": 96.0,
                                                        "w": 256, "h": 192, "frames": frames}))
    if F is not None:
        write_poses(folder / "poses", F, fmt)
    return folder


def write_poses(d: Path, F: np.ndarray, fmt: str = "npy") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(F):
        kind = fmt if fmt != "mixed" else ("npy", "json", "csv")[i % 3]
        if kind == "npy":
            np.save(d / f"{i}.npy", f)
        elif kind == "json":
            (d / f"{i}.json").write_text(json.dumps({"pose": f.tolist()}))
        else:
            (d / f"{i}.csv").write_text("\n".join(",".join(repr(float(v)) for v in row) for row in f))
    return d


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.linalg.norm(Rotation.from_matrix(a.T @ b).as_rotvec())))


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("fmt", ["npy", "mixed"])
def test_recovers_scale_frame_and_hand_eye(tmp_path, fmt):
    S, X, F, C = make_rig(noise_mm=0.5, noise_deg=0.05)
    cap = write_capture(tmp_path / "cap", C, F, fmt)
    doc = calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))
    h = doc["hand_eye"]
    assert doc["metres_per_unit"] == pytest.approx(0.25, rel=2e-3)
    Xh = np.array(h["camera_in_flange"])
    assert np.linalg.norm(Xh[:3, 3] - X[:3, 3]) < 1.5e-3 and _angle_deg(Xh[:3, :3], X[:3, :3]) < 0.2
    B = np.array(doc["base_from_capture"])
    pts = np.random.default_rng(1).normal(size=(20, 3))
    np.testing.assert_allclose(pts @ B[:3, :3].T + B[:3, 3], pts @ S[:3, :3].T + S[:3, 3], atol=3e-3)
    assert h["residual_mm_rms"] < 1.5 and h["residual_deg_rms"] < 0.2 and h["num_views"] == len(F)
    assert set(h["residuals_per_view"]) == {f"images/{i}.png" for i in range(len(F))}
    # written where the marker path writes, and readable by export's loader
    frame = load_frame_file(cap / "point2act_frame.json")
    assert frame["metres_per_unit"] == pytest.approx(doc["metres_per_unit"])
    g = {"metres_per_unit": doc["metres_per_unit"], "action_point": [0.1, 0.2, 0.3],
         "region": {"center": [0.1, 0.2, 0.3]}, "grasps": []}
    based = add_base_frame(g, frame["base_from_capture"])
    np.testing.assert_allclose(based["base"]["action_point"], S[:3, :3] @ [0.1, 0.2, 0.3] + S[:3, 3], atol=3e-3)


def test_known_camera_in_flange_fits_the_similarity_only(tmp_path):
    S, X, F, C = make_rig(seed=3, units_per_metre=10.0, noise_mm=0.3)
    cap = write_capture(tmp_path / "cap", C, F)
    (tmp_path / "X.json").write_text(json.dumps({"camera_in_flange": X.tolist()}))
    Xr = read_camera_in_flange(tmp_path / "X.json")
    doc = calibrate_from_robot_poses(cap, RobotPoses(cap / "poses", Xr), write=False)
    assert doc["hand_eye"]["camera_in_flange_given"] is True
    np.testing.assert_allclose(doc["hand_eye"]["camera_in_flange"], X, atol=1e-9)
    assert doc["metres_per_unit"] == pytest.approx(0.1, rel=2e-3)
    # a wrong hand-eye (1 cm off) shows in the residuals
    Xw = X.copy()
    Xw[:3, 3] += [0.0, 0.01, 0.0]
    res = solve_hand_eye(C, F, Xw)
    assert res.rms_mm > 3.0


def test_camera_poses_are_refused_as_flange_poses_and_fit_as_camera_poses(tmp_path):
    S, X, F, C = make_rig(seed=5)
    cams_in_base = F @ X @ OPENGL_FROM_OPENCV  # a user's camera poses, OpenGL axes
    cap = write_capture(tmp_path / "cap", C, cams_in_base)
    with pytest.raises(Point2ActError, match="camera's own poses.*--robot-poses-are camera"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"), write=False)
    doc = calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"), pose_kind="camera", write=False)
    assert "OpenGL" in doc["hand_eye"]["method"] and doc["metres_per_unit"] == pytest.approx(0.25, rel=1e-6)
    # flange poses given as camera poses do not fit, and the message says what they are
    write_poses(tmp_path / "flange", F)
    with pytest.raises(Point2ActError, match="as flange poses they fit"):
        calibrate_from_robot_poses(cap, RobotPoses(tmp_path / "flange"), pose_kind="camera", write=False)


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def rig(tmp_path):
    S, X, F, C = make_rig(seed=2)
    return write_capture(tmp_path / "cap", C, F), F


def test_missing_view_names_the_view_and_file(rig):
    cap, _ = rig
    (cap / "poses" / "4.npy").unlink()
    with pytest.raises(Point2ActError, match=r"images/4\.png \(expected .*poses/4\.npy"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))
    # leaving the view out is the fix the message offers
    doc = calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"),
                                     options=HandEyeOptions(ignore_views=("images/4.png",)),
                                     write=False)
    assert doc["hand_eye"]["num_views"] == 13


def test_mismatched_count_names_the_extra_pose(rig):
    cap, F = rig
    np.save(cap / "poses" / "99.npy", F[0])
    with pytest.raises(Point2ActError, match=r"15 poses for 14 views.*99\.npy"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))


def test_non_rigid_matrix_is_refused_naming_the_file(rig):
    cap, F = rig
    bad = F[3].copy()
    bad[:3, :3] *= 1.05
    np.save(cap / "poses" / "3.npy", bad)
    with pytest.raises(Point2ActError, match=r"poses/3\.npy: the flange pose is not rigid"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))
    bad = F[3].copy()
    bad[:3, 0] *= -1  # mirrored
    np.save(cap / "poses" / "3.npy", bad)
    with pytest.raises(Point2ActError, match=r"3\.npy.*mirrored"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))
    bad = F[3].copy()
    bad[3] = [0, 0, 1, 1]
    np.save(cap / "poses" / "3.npy", bad)
    with pytest.raises(Point2ActError, match=r"3\.npy.*last row"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))


def test_millimetres_are_refused_naming_the_file(rig):
    cap, F = rig
    mm = F[7].copy()
    mm[:3, 3] *= 1000.0
    np.save(cap / "poses" / "7.npy", mm)
    with pytest.raises(Point2ActError, match=r"7\.npy.*millimetres"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))


def test_wrong_pairing_is_refused_naming_views(rig, tmp_path):
    cap, F = rig
    perm = np.random.default_rng(0).permutation(len(F))
    shuffled = write_poses(tmp_path / "shuffled", F[perm])
    with pytest.raises(Point2ActError, match=r"do not fit.*worst views: images/\d+\.png <-> \d+\.npy.*pairing"):
        calibrate_from_robot_poses(cap, RobotPoses(shuffled))
    assert not (cap / "point2act_frame.json").exists()


def test_inverted_poses_are_named(rig, tmp_path):
    cap, F = rig
    inv = write_poses(tmp_path / "inv", np.linalg.inv(F))
    with pytest.raises(Point2ActError, match="inverted, the poses fit.*base2gripper"):
        calibrate_from_robot_poses(cap, RobotPoses(inv))


def test_bad_files_and_folders(tmp_path, rig):
    cap, F = rig
    with pytest.raises(Point2ActError, match="no such folder"):
        calibrate_from_robot_poses(cap, RobotPoses(tmp_path / "nope"))
    (cap / "poses" / "0.csv").write_text("1, 2, 3")
    with pytest.raises(Point2ActError, match="two pose files for view '0'"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))
    (cap / "poses" / "0.npy").unlink()
    with pytest.raises(Point2ActError, match=r"0\.csv.*16 numbers.*found 3"):
        calibrate_from_robot_poses(cap, RobotPoses(cap / "poses"))


def test_cli_calibrate_robot_poses(rig, tmp_path, capsys):
    from point2act.cli import entrypoint

    cap, _ = rig
    out = tmp_path / "frame.json"
    entrypoint(["calibrate", "--data", str(cap), "--robot-poses", str(cap / "poses"), "--output", str(out)])
    text = capsys.readouterr().out
    assert "metres per capture unit: 0.25" in text and "images/13.png:" in text and str(out) in text
    assert load_frame_file(out)["metres_per_unit"] == pytest.approx(0.25, rel=1e-4)
    with pytest.raises(SystemExit) as e:
        entrypoint(["calibrate", "--data", str(cap)])
    assert e.value.code == 2 and "--marker-size" in capsys.readouterr().err


# --------------------------------------------------------------------------- the real tools capture


needs_tools = pytest.mark.skipif(not (TOOLS / "poses").is_dir(), reason=f"{TOOLS} (shared test data) not found")


@needs_tools
def test_tools_flange_poses_scale_and_residuals():
    """poses/N.npy are flange poses: a similarity of the centres alone leaves tens of mm, the hand-eye fit a few."""
    from point2act.robot.handeye import umeyama
    from point2act.robot.poses import load_robot_poses, match_poses

    _, _, cams = capture_cameras(TOOLS)
    poses, where = load_robot_poses(TOOLS / "poses")
    pairs = match_poses(list(cams), poses, where, TOOLS / "poses")
    C = np.stack([cams[k] for k, _, _ in pairs])
    F = np.stack([p for _, p, _ in pairs])
    s, R, t = umeyama(C[:, :3, 3], F[:, :3, 3])
    centres_only = np.sqrt(np.mean(np.sum((s * C[:, :3, 3] @ R.T + t - F[:, :3, 3]) ** 2, axis=1))) * 1000
    doc = calibrate_from_robot_poses(TOOLS, RobotPoses(TOOLS / "poses"), write=False)
    h = doc["hand_eye"]
    assert doc["metres_per_unit"] == pytest.approx(0.991, rel=0.01)  # benchmarks/real/scale.py's fit
    assert h["residual_mm_rms"] <= 5.0 and h["residual_deg_rms"] <= 1.0
    assert centres_only > 5 * h["residual_mm_rms"]
    assert 0.03 < np.linalg.norm(np.array(h["camera_in_flange"])[:3, 3]) < 0.3  # a camera a few cm off the flange


@needs_tools
def test_tools_mug_handle_lands_where_the_robot_sees_it():
    """The mug handle (triangulated, COLMAP frame) mapped by the frame file lands within 1 cm of where each
    camera, placed by the robot (flange pose @ camera_in_flange), puts it."""
    target = json.loads((ROOT / "benchmarks" / "real" / "targets" / "tools-mug_handle.json").read_text())
    p = np.asarray(target["position"], dtype=np.float64)
    doc = calibrate_from_robot_poses(TOOLS, RobotPoses(TOOLS / "poses"), write=False)
    B = np.array(doc["base_from_capture"])
    X = np.array(doc["hand_eye"]["camera_in_flange"])
    s = doc["metres_per_unit"]
    grasps = {"metres_per_unit": s, "action_point": p.tolist(), "region": {"center": p.tolist()}, "grasps": []}
    exported = np.array(add_base_frame(grasps, B)["base"]["action_point"])
    _, _, cams = capture_cameras(TOOLS)
    by_robot = []
    for key, c2w in cams.items():
        f = np.load(TOOLS / "poses" / (Path(key).stem + ".npy"))
        in_cam = np.linalg.inv(c2w) @ np.r_[p, 1.0]  # the handle in this camera's frame, capture units
        by_robot.append((f @ X @ np.r_[s * in_cam[:3], 1.0])[:3])
    d = np.linalg.norm(np.array(by_robot) - exported, axis=1)
    assert np.median(d) < 0.01 and d.max() < 0.02, d
    print(f"handle: median {np.median(d) * 1000:.1f} mm, max {d.max() * 1000:.1f} mm over {len(d)} views")
