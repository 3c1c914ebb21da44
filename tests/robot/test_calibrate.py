"""point2act.robot.calibrate: metric scale and robot base frame from an ArUco marker.

The captures are synthetic (point2act.synth with a rendered ArUco marker on the table) and
NOT metric: 4 capture units per metre, so the scale has to be recovered.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open3d")
pytest.importorskip("cv2")
from scipy.spatial.transform import Rotation  # noqa: E402

from point2act.errors import Point2ActError  # noqa: E402
from point2act.robot.calibrate import (  # noqa: E402
    ArucoMarker,
    FRAME_FILE,
    FRAME_SCHEMA,
    CalibrateOptions,
    calibrate_capture,
    detect_markers,
    load_frame_file,
    read_marker_pose,
    resolve_frame_file,
)
from point2act.synth import SynthConfig, generate_scene  # noqa: E402

UNITS_PER_METRE = 4.0
MARKER = 0.08
CFG = SynthConfig(num_views=12, width=256, height=192, num_seed_points=500, num_gt_points=200,
                  marker_size=MARKER, marker_id=7, marker_y=-0.19, capture_units_per_metre=UNITS_PER_METRE)

# a made-up robot base frame: the marker lies 55 cm in front of the robot, rotated and tilted a little
BASE_FROM_MARKER = np.eye(4)
BASE_FROM_MARKER[:3, :3] = Rotation.from_euler("zyx", [80.0, 3.0, -2.0], degrees=True).as_matrix()
BASE_FROM_MARKER[:3, 3] = [0.55, -0.12, 0.015]


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("marker_scene")
    generate_scene(out, CFG)
    return out


def _truth(capture: Path) -> dict:
    return json.loads((capture / "ground_truth.json").read_text())


def _copy(capture: Path, dst: Path, edit=None) -> Path:
    """A copy of the capture (images shared); ``edit(meta)`` rewrites its transforms.json."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(capture / "images", dst / "images", dirs_exist_ok=True)
    meta = json.loads((capture / "transforms.json").read_text())
    if edit is not None:
        edit(meta)
    (dst / "transforms.json").write_text(json.dumps(meta))
    shutil.copy(capture / "ground_truth.json", dst / "ground_truth.json")
    return dst


def _base_errors(doc: dict, truth_bfc: np.ndarray, pts: np.ndarray) -> tuple[float, float]:
    """(max position error in metres over ``pts`` (capture), rotation error in degrees)."""
    bfc = np.asarray(doc["base_from_capture"])
    ph = np.c_[pts, np.ones(len(pts))]
    pos = float(np.max(np.linalg.norm((ph @ bfc.T - ph @ truth_bfc.T)[:, :3], axis=1)))
    r = bfc[:3, :3] / doc["metres_per_unit"]
    rt = truth_bfc[:3, :3] / np.cbrt(np.linalg.det(truth_bfc[:3, :3]))
    return pos, float(np.degrees(Rotation.from_matrix(r @ rt.T).magnitude()))


def _workspace_points(truth: dict) -> np.ndarray:
    """Capture points where the accuracy matters: the target, every object, the marker."""
    return np.array([truth["centroid"], *[o["centroid"] for o in truth["objects"]],
                     np.asarray(truth["marker"]["capture_from_marker"])[:3, 3]])


def test_recovers_scale_and_base_frame(capture: Path) -> None:
    truth = _truth(capture)
    gm = truth["marker"]
    assert gm["id"] == 7 and gm["size_m"] == MARKER and gm["metres_per_unit"] == 1 / UNITS_PER_METRE
    doc = calibrate_capture(capture, ArucoMarker(MARKER, pose_in_base=BASE_FROM_MARKER))
    mpu_true = 1.0 / UNITS_PER_METRE
    assert abs(doc["metres_per_unit"] / mpu_true - 1) < 0.02
    assert doc["schema"] == FRAME_SCHEMA and doc["marker"]["id"] == 7
    assert doc["marker"]["num_views"] >= 4 and len(doc["marker"]["views"]) == doc["marker"]["num_views"]
    assert doc["marker"]["reprojection_px"] < 1.0
    np.testing.assert_allclose(doc["marker"]["corners_capture"], gm["corners_capture"], atol=0.005 * UNITS_PER_METRE)
    cfm_true = np.asarray(gm["capture_from_marker"])
    truth_bfc = BASE_FROM_MARKER @ np.diag([mpu_true] * 3 + [1.0]) @ np.linalg.inv(cfm_true)
    pos_err, rot_err = _base_errors(doc, truth_bfc, _workspace_points(truth))
    assert pos_err < 0.005 and rot_err < 1.0, (pos_err, rot_err)
    # the convention, spelled out: base_from_capture = base_from_marker @ S(m) @ inv(capture_from_marker)
    expect = BASE_FROM_MARKER @ np.diag([doc["metres_per_unit"]] * 3 + [1.0]) @ np.linalg.inv(
        np.asarray(doc["capture_from_marker"]))
    np.testing.assert_allclose(doc["base_from_capture"], expect, atol=1e-12)
    # the marker frame: z up (out of the printed face), x along the first edge
    cfm = np.asarray(doc["capture_from_marker"])
    assert cfm[:3, 2] @ [0, 0, 1] > 0.999 and cfm[:3, 0] @ cfm_true[:3, 0] > 0.999
    # written to CAPTURE/point2act_frame.json, and it loads back
    written = json.loads((capture / FRAME_FILE).read_text())
    assert written == json.loads(json.dumps(doc))
    loaded = load_frame_file(capture / FRAME_FILE)
    np.testing.assert_allclose(loaded["base_from_capture"], doc["base_from_capture"])
    assert loaded["metres_per_unit"] == doc["metres_per_unit"] and loaded["path"] == str(capture / FRAME_FILE)
    assert resolve_frame_file(capture)["metres_per_unit"] == doc["metres_per_unit"]
    print(f"calibration: metres_per_unit error {100 * (doc['metres_per_unit'] / mpu_true - 1):+.3f}%, "
          f"base position error {1000 * pos_err:.2f} mm, rotation {rot_err:.3f} deg, "
          f"{doc['marker']['num_views']} views, {doc['marker']['reprojection_px']:.2f} px RMS")


def test_any_capture_frame(capture: Path, tmp_path: Path) -> None:
    """A capture in an arbitrary frame (rotated, moved and scaled again) gives the same base poses."""
    s, rot = 2.5, Rotation.from_euler("xyz", [30.0, -50.0, 110.0], degrees=True).as_matrix()
    t = np.array([3.0, -1.0, 0.5])

    def edit(meta):
        for f in meta["frames"]:
            c2w = np.asarray(f["transform_matrix"])
            c2w[:3, :3] = rot @ c2w[:3, :3]
            c2w[:3, 3] = s * rot @ c2w[:3, 3] + t
            f["transform_matrix"] = c2w.tolist()

    moved = _copy(capture, tmp_path / "moved", edit)
    doc = calibrate_capture(moved, ArucoMarker(MARKER, pose_in_base=BASE_FROM_MARKER), write=False)
    assert not (moved / FRAME_FILE).exists()
    mpu_true = 1.0 / (UNITS_PER_METRE * s)
    assert abs(doc["metres_per_unit"] / mpu_true - 1) < 0.02
    sim = np.eye(4)
    sim[:3, :3], sim[:3, 3] = s * rot, t  # new capture <- old capture
    truth = _truth(capture)
    truth_bfc = BASE_FROM_MARKER @ np.diag([1 / UNITS_PER_METRE] * 3 + [1.0]) @ np.linalg.inv(
        np.asarray(truth["marker"]["capture_from_marker"])) @ np.linalg.inv(sim)
    pts = _workspace_points(truth) @ (s * rot).T + t
    pos_err, rot_err = _base_errors(doc, truth_bfc, pts)
    assert pos_err < 0.005 and rot_err < 1.0, (pos_err, rot_err)


def test_without_base_pose(capture: Path, tmp_path: Path) -> None:
    doc = calibrate_capture(capture, ArucoMarker(MARKER, "DICT_4X4_50", 7), out=tmp_path / "frame.json")
    assert "base_from_capture" not in doc and "base_from_marker" not in doc
    loaded = load_frame_file(tmp_path / "frame.json")
    assert "base_from_capture" not in loaded and loaded["capture_from_marker"].shape == (4, 4)


def _frames_with_marker(capture: Path) -> list[str]:
    import cv2

    meta = json.loads((capture / "transforms.json").read_text())
    return [f["file_path"] for f in meta["frames"]
            if 7 in detect_markers(cv2.imread(str(capture / f["file_path"]), cv2.IMREAD_GRAYSCALE))]


def test_no_marker_in_any_view(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    generate_scene(plain, SynthConfig(num_views=4, width=128, height=96, num_seed_points=100, num_gt_points=50))
    with pytest.raises(Point2ActError) as e:
        calibrate_capture(plain, ArucoMarker(MARKER))
    msg = str(e.value)
    assert "no ArUco marker" in msg and str(plain) in msg and "images/frame_0000.png" in msg and "4 views" in msg
    assert not (plain / FRAME_FILE).exists()


def test_marker_in_one_view(capture: Path, tmp_path: Path) -> None:
    seen = _frames_with_marker(capture)
    assert len(seen) >= 4
    keep = seen[:1]

    def edit(meta):  # the one view with the marker, and three without
        without = [f for f in meta["frames"] if f["file_path"] not in seen][:3]
        meta["frames"] = [f for f in meta["frames"] if f["file_path"] in keep] + without

    one = _copy(capture, tmp_path / "one", edit)
    with pytest.raises(Point2ActError) as e:
        calibrate_capture(one, ArucoMarker(MARKER))
    msg = str(e.value)
    assert f"only in {keep[0]}" in msg and "at least 2 views" in msg and "4 views tried" in msg
    # the wrong id: found in none, and the message says which ids are there
    with pytest.raises(Point2ActError, match=r"in none of the 12 views tried \(images/.*; ids found: \[7\]\)"):
        calibrate_capture(capture, ArucoMarker(MARKER, id=3), write=False)


def test_inconsistent_pose_names_the_view(capture: Path, tmp_path: Path) -> None:
    bad = _frames_with_marker(capture)[1]

    def edit(meta):  # move one camera by 4 cm (sideways and up)
        for f in meta["frames"]:
            if f["file_path"] == bad:
                c2w = np.asarray(f["transform_matrix"])
                c2w[:3, 3] += (0.04 * UNITS_PER_METRE) * (c2w[:3, 0] + c2w[:3, 1]) / np.sqrt(2)
                f["transform_matrix"] = c2w.tolist()

    broken = _copy(capture, tmp_path / "broken", edit)
    with pytest.raises(Point2ActError) as e:
        calibrate_capture(broken, ArucoMarker(MARKER), write=False)
    msg = str(e.value)
    assert "worst views" in msg and msg.index(bad) < msg.index("px")  # named first, with its error
    # leaving it out works
    doc = calibrate_capture(broken, ArucoMarker(MARKER), write=False, options=CalibrateOptions(ignore_views=(bad,)))
    assert bad not in doc["marker"]["views"] and abs(doc["metres_per_unit"] * UNITS_PER_METRE - 1) < 0.02


def test_inconsistent_size(capture: Path, tmp_path: Path) -> None:
    """Corners that do not form a square (a tight side-spread limit) are refused, naming views."""
    with pytest.raises(Point2ActError, match=r"not a square.*reprojecting worst: images/frame_"):
        calibrate_capture(capture, ArucoMarker(MARKER), write=False, options=CalibrateOptions(max_side_spread=1e-6))


def test_bad_arguments(capture: Path, tmp_path: Path) -> None:
    with pytest.raises(Point2ActError, match="marker-size"):
        calibrate_capture(capture, ArucoMarker(0.0))
    with pytest.raises(Point2ActError, match="unknown ArUco dictionary 'DICT_NOPE'"):
        calibrate_capture(capture, ArucoMarker(MARKER, "DICT_NOPE"))
    bent = BASE_FROM_MARKER.copy()
    bent[:3, :3] *= 1.1
    with pytest.raises(Point2ActError, match="not a rotation"):
        calibrate_capture(capture, ArucoMarker(MARKER, pose_in_base=bent))
    with pytest.raises(Point2ActError, match="ignore_views names images/nope.png, not frames"):
        calibrate_capture(capture, ArucoMarker(MARKER), options=CalibrateOptions(ignore_views=("images/nope.png",)),
                          write=False)
    with pytest.raises(Point2ActError, match="no transforms.json"):
        calibrate_capture(tmp_path, ArucoMarker(MARKER))


# --------------------------------------------------------------------------- frame files


def _write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


GOOD = {"schema": FRAME_SCHEMA, "metres_per_unit": 0.25, "capture_from_marker": np.eye(4).tolist()}


@pytest.mark.parametrize("content, match", [
    ("{not json", r"not valid JSON \(line 1"),
    ([1, 2], "must be a JSON object"),
    ({"schema": "other/1", "metres_per_unit": 1.0}, "'schema' is 'other/1'"),
    ({"schema": FRAME_SCHEMA}, "no 'metres_per_unit' and no 'base_from_capture'"),
    ({**GOOD, "metres_per_unit": 0.0}, "'metres_per_unit' must be a positive number"),
    ({**GOOD, "metres_per_unit": -2}, "'metres_per_unit' must be a positive number"),
    ({**GOOD, "metres_per_unit": "1"}, "'metres_per_unit' must be a positive number"),
    ({**GOOD, "capture_from_marker": [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
     "'capture_from_marker'.*not a rotation"),
    ({**GOOD, "capture_from_marker": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "'capture_from_marker' must be a 4x4"),
    ({**GOOD, "base_from_marker": np.diag([1, 1, -1, 1]).tolist()}, "'base_from_marker'.*not a rotation"),
    ({**GOOD, "base_from_capture": np.diag([0.25, 0.25, 0.3, 1]).tolist()}, "'base_from_capture'.*scale times a rotation"),
    ({**GOOD, "base_from_capture": np.diag([0.5, 0.5, 0.5, 1]).tolist()}, "scales by 0.5 but 'metres_per_unit' is 0.25"),
    ({**GOOD, "base_from_capture": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]}, "last row"),
    ({**GOOD, "base_from_capture": [[float("nan")] * 4] * 4}, "finite"),
])
def test_bad_frame_files(tmp_path: Path, content, match: str) -> None:
    p = _write(tmp_path / "my_frame.json", content)
    with pytest.raises(Point2ActError, match=match) as e:
        load_frame_file(p)
    assert "my_frame.json" in str(e.value)


def test_frame_file_forms(tmp_path: Path) -> None:
    with pytest.raises(Point2ActError, match="nope.json: frame file not found"):
        load_frame_file(tmp_path / "nope.json")
    # a hand-written file with only base_from_capture: metres_per_unit is its scale
    m = np.eye(4)
    m[:3, :3] = 0.1 * Rotation.from_euler("z", 30, degrees=True).as_matrix()
    m[:3, 3] = [1, 2, 3]
    d = load_frame_file(_write(tmp_path / "hand.json", {"base_from_capture": m.tolist()}))
    assert d["metres_per_unit"] == pytest.approx(0.1) and np.allclose(d["base_from_capture"], m)
    assert resolve_frame_file(tmp_path) is None  # no point2act_frame.json there
    assert resolve_frame_file(tmp_path, tmp_path / "hand.json")["metres_per_unit"] == pytest.approx(0.1)


def test_read_marker_pose(tmp_path: Path) -> None:
    q = Rotation.from_matrix(BASE_FROM_MARKER[:3, :3]).as_quat()  # x y z w
    a = read_marker_pose(_write(tmp_path / "q.json", {"position": BASE_FROM_MARKER[:3, 3].tolist(),
                                                     "quaternion_wxyz": [2 * q[3], *(2 * q[:3])]}))  # unnormalised
    b = read_marker_pose(_write(tmp_path / "m.json", {"base_from_marker": BASE_FROM_MARKER.tolist()}))
    c = read_marker_pose(_write(tmp_path / "bare.json", BASE_FROM_MARKER.tolist()))
    np.testing.assert_allclose(a, BASE_FROM_MARKER, atol=1e-12)
    np.testing.assert_allclose(b, BASE_FROM_MARKER)
    np.testing.assert_allclose(c, BASE_FROM_MARKER)
    for content, match in [
        ({"position": [0, 0], "quaternion_wxyz": [1, 0, 0, 0]}, "'position' must be 3 finite numbers"),
        ({"position": [0, 0, 0], "quaternion_wxyz": [0, 0, 0, 0]}, "'quaternion_wxyz' is zero"),
        ({"position": [0, 0, 0]}, "'quaternion_wxyz' must be 4 finite numbers"),
        ({"pose": 1}, "no marker pose"),
        ({"base_from_marker": (2 * np.eye(4)).tolist()}, "last row"),
        ("[", "not valid JSON"),
    ]:
        with pytest.raises(Point2ActError, match=match) as e:
            read_marker_pose(_write(tmp_path / "pose_bad.json", content))
        assert "pose_bad.json" in str(e.value)


def test_robot_package_never_imports_nerfstudio() -> None:
    code = ("import sys, point2act.robot as r, point2act.robot.calibrate, point2act.robot.frame, point2act.robot.ply\n"
            "r.calibrate_capture, r.add_base_frame, r.write_relevancy_ply\n"
            "bad = [m for m in ('nerfstudio', 'torch', 'open3d') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_undistortion_inverts_the_camera_models() -> None:
    """Pixels distorted with nerfstudio's OPENCV (k1..k4, p1, p2) and OPENCV_FISHEYE models come back."""
    import cv2

    from point2act.robot.capture_views import _undistort_normalised, _View

    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (50, 2))
    k1, k2, k3, k4, p1, p2 = -0.12, 0.03, -0.004, 0.001, 0.0015, -0.0008
    r2 = np.sum(x * x, axis=1)
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
    xd = np.stack([x[:, 0] * radial + 2 * p1 * x[:, 0] * x[:, 1] + p2 * (r2 + 2 * x[:, 0] ** 2),
                   x[:, 1] * radial + p1 * (r2 + 2 * x[:, 1] ** 2) + 2 * p2 * x[:, 0] * x[:, 1]], axis=1)
    view = _View("a.png", Path("a.png"), 500.0, 480.0, 320.0, 240.0, 640.0, 480.0, "OPENCV",
                 (k1, k2, k3, k4, p1, p2), np.eye(3, 4))
    px = xd * [500.0, 480.0] + [320.0, 240.0]
    np.testing.assert_allclose(_undistort_normalised(view, px), x, atol=1e-9)
    fk = np.array([0.05, -0.01, 0.002, -0.0005])
    xf = cv2.fisheye.distortPoints(x.reshape(-1, 1, 2), np.eye(3), fk).reshape(-1, 2)
    view.model, view.dist = "OPENCV_FISHEYE", (*fk, 0.0, 0.0)
    np.testing.assert_allclose(_undistort_normalised(view, xf * [500.0, 480.0] + [320.0, 240.0]), x, atol=1e-6)


def test_linear_only(capture: Path) -> None:
    """Without the refinements (DLT corners + Kabsch) the scale is still within 2%."""
    doc = calibrate_capture(capture, ArucoMarker(MARKER), write=False, options=CalibrateOptions(refine=False))
    assert abs(doc["metres_per_unit"] * UNITS_PER_METRE - 1) < 0.02


def test_cli_calibrate_writes_the_frame_file_and_bad_input_is_one_paragraph(capture, tmp_path, capsys):
    """`point2act calibrate` end to end (in-process CLI): the frame file export reads, with the
    recovered scale and base frame; no marker -> exit 2 with a message naming the capture."""
    from point2act.cli import entrypoint

    cap = _copy(capture, tmp_path / "cap")
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"base_from_marker": BASE_FROM_MARKER.tolist()}))
    entrypoint(["calibrate", "--data", str(cap), "--marker-size", str(MARKER), "--marker-pose-in-base", str(pose)])
    out = capsys.readouterr().out
    assert "metres per capture unit" in out and str(cap / FRAME_FILE) in out
    frame = resolve_frame_file(cap)
    assert frame is not None and abs(frame["metres_per_unit"] * UNITS_PER_METRE - 1.0) < 0.02
    assert frame["base_from_capture"].shape == (4, 4)
    with pytest.raises(SystemExit) as ei:
        entrypoint(["calibrate", "--data", str(cap), "--marker-size", str(MARKER), "--marker-dictionary",
                    "DICT_6X6_250"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("point2act: error: ") and "Traceback" not in err and str(cap) in err
