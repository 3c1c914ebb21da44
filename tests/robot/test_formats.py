"""grasps.json -> GraspNet / isaac_grasp / ROS 2: each format written, read back by its reader (rosbags for the
bag, PyYAML, the documented GraspGroup layout) and compared with grasps.json's poses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from point2act.robot.formats import (GRASPNET_ARRAY_LEN, graspnet_to_tcp, isaac_to_tcp, read_pose_bag, to_graspnet,
                                     to_isaac_grasp, to_moveit_grasps, to_pose_stamped, write_format)
from point2act.robot.frame import add_base_frame

GRIPPER = {"name": "franka_panda", "max_opening": 0.08, "finger_length": 0.0462, "finger_width": 0.02,
           "palm_depth": 0.066, "pregrasp_distance": 0.1, "metres_per_unit": 0.25}


def _gripper_rotation(rng) -> np.ndarray:
    """A point2act grasp rotation: columns x (closing), y = z x x, z (approach)."""
    z = rng.normal(size=3)
    z /= np.linalg.norm(z)
    x = np.cross(z, rng.normal(size=3))
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _doc(n=5, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    grasps = []
    for i in range(n):
        r = _gripper_rotation(rng)
        p = rng.normal(size=3)
        x, y, z, w = Rotation.from_matrix(r).as_quat()
        grasps.append({"position": p.tolist(), "rotation": r.tolist(), "quaternion_wxyz": [w, x, y, z],
                       "approach": r[:, 2].tolist(), "pregrasp_position": (p - 0.4 * r[:, 2]).tolist(),
                       "width": float(rng.uniform(0.01, 0.08)), "score": float(rng.uniform(0, 1)), "on_target": True})
    return {"schema": "point2act.grasps/1", "prompt": "the handle", "frame": "capture", "metres_per_unit": 0.25,
            "action_point": [0.0, 0.0, 0.0], "region": {"center": [0.0, 0.0, 0.0], "extent": [0.1] * 3},
            "gripper": dict(GRIPPER), "grasps": grasps}


@pytest.fixture
def based():
    """A document with base-frame poses (a random similarity, 0.25 m per unit)."""
    rng = np.random.default_rng(7)
    S = np.eye(4)
    S[:3, :3] = 0.25 * Rotation.random(random_state=3).as_matrix()
    S[:3, 3] = rng.normal(size=3)
    return add_base_frame(_doc(), S)


def _base(doc):
    return (np.array([g["base"]["position"] for g in doc["grasps"]]),
            np.array([g["base"]["rotation"] for g in doc["grasps"]]))


def test_graspnet_layout_and_round_trip(based, tmp_path):
    pos, rot = _base(based)
    (path,) = write_format(based, "graspnet", tmp_path / "grasps.json")
    arr = np.load(path)
    assert path.name == "grasps_graspnet.npy" and arr.shape == (len(pos), GRASPNET_ARRAY_LEN)
    scores = [g["score"] for g in based["grasps"]]
    widths = [g["width"] for g in based["grasps"]]
    np.testing.assert_allclose(arr[:, 0], scores)
    np.testing.assert_allclose(arr[:, 1], widths)
    assert np.all(arr[:, 2] == GRIPPER["finger_width"]) and np.all(arr[:, 16] == -1)
    # the documented layout read by hand: R row-major at 4:13, t at 13:16; x = approach, y = closing
    R = arr[:, 4:13].reshape(-1, 3, 3)
    assert np.allclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(R[:, :, 0], rot[:, :, 2], atol=1e-12)  # approach
    np.testing.assert_allclose(R[:, :, 1], rot[:, :, 0], atol=1e-12)  # closing
    np.testing.assert_allclose(np.cross(R[:, :, 0], R[:, :, 1]), R[:, :, 2], atol=1e-12)
    # graspnetAPI's fingertips (depth ahead of t along x) are point2act's TCP
    np.testing.assert_allclose(arr[:, 13:16] + arr[:, 3:4] * R[:, :, 0], pos, atol=1e-6)
    tcp, rr = graspnet_to_tcp(arr)
    np.testing.assert_allclose(tcp, pos, atol=1e-6)
    np.testing.assert_allclose(rr, rot, atol=1e-6)


def test_isaac_grasp_round_trip(based, tmp_path):
    pos, rot = _base(based)
    (path,) = write_format(based, "isaac", tmp_path / "grasps.json")
    doc = yaml.safe_load(path.read_text())
    assert doc["format"] == "isaac_grasp" and doc["format_version"] == 1.0
    assert list(doc["grasps"]) == [f"grasp_{i}" for i in range(len(pos))]
    d = GRIPPER["finger_length"] + GRIPPER["palm_depth"]
    for i, g in enumerate(doc["grasps"].values()):
        assert g["confidence"] == pytest.approx(based["grasps"][i]["score"])
        q = [g["orientation"]["w"], *g["orientation"]["xyz"]]
        assert q[0] >= 0 and np.linalg.norm(q) == pytest.approx(1.0)
        assert g["cspace_position"]["panda_finger_joint1"] == pytest.approx(based["grasps"][i]["width"] / 2)
    tcp, rr = isaac_to_tcp(doc, d)
    np.testing.assert_allclose(tcp, pos, atol=1e-6)
    np.testing.assert_allclose(rr, rot, atol=1e-6)
    # the base link sits d behind the TCP along the approach
    base_link = np.array([g["position"] for g in doc["grasps"].values()])
    np.testing.assert_allclose(np.linalg.norm(tcp - base_link, axis=1), d, atol=1e-9)


def test_ros2_poses_yaml_and_bag_round_trip(based, tmp_path):
    pos, rot = _base(based)
    paths = write_format(based, "ros2", tmp_path / "grasps.json", stamp_ns=1_700_000_000_123_456_789)
    poses_yaml, moveit_yaml, bag = paths
    msgs = yaml.safe_load(poses_yaml.read_text())
    assert len(msgs) == len(pos)
    for m, p, r in zip(msgs, pos, rot):
        assert m["header"]["frame_id"] == "base_link"
        assert m["header"]["stamp"] == {"sec": 1_700_000_000, "nanosec": 123_456_789}
        o = m["pose"]["orientation"]
        np.testing.assert_allclose([m["pose"]["position"][k] for k in "xyz"], p, atol=1e-6)
        np.testing.assert_allclose(Rotation.from_quat([o["x"], o["y"], o["z"], o["w"]]).as_matrix(), r, atol=1e-6)
    back = read_pose_bag(bag)
    assert len(back) == len(pos) and (bag / "metadata.yaml").is_file()
    for (fid, p, q), pp, r in zip(back, pos, rot):
        assert fid == "base_link"
        np.testing.assert_allclose(p, pp, atol=1e-6)
        np.testing.assert_allclose(Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix(), r, atol=1e-6)
    # written again: the bag is replaced, not appended to
    write_format(based, "ros2", tmp_path / "grasps.json")
    assert len(read_pose_bag(bag)) == len(pos)


def test_moveit_grasp_is_the_parent_link_pose(based, tmp_path):
    pos, rot = _base(based)
    tip = np.eye(4)
    tip[:3, :3] = Rotation.from_euler("z", -45, degrees=True).as_matrix()  # a Panda-like link8 -> TCP
    tip[:3, 3] = [0.0, 0.0, 0.2104]
    grasps = to_moveit_grasps(based, tcp_in_parent=tip)
    for g, p, r in zip(grasps, pos, rot):
        gp = g["grasp_pose"]["pose"]
        o = gp["orientation"]
        P = np.eye(4)
        P[:3, :3] = Rotation.from_quat([o["x"], o["y"], o["z"], o["w"]]).as_matrix()
        P[:3, 3] = [gp["position"][k] for k in "xyz"]
        T = P @ tip  # back to the TCP
        np.testing.assert_allclose(T[:3, 3], p, atol=1e-6)
        np.testing.assert_allclose(T[:3, :3], r, atol=1e-6)
        v = g["pre_grasp_approach"]["direction"]["vector"]
        # the approach, expressed in the parent link's frame, is the base approach once rotated by P
        np.testing.assert_allclose(P[:3, :3] @ [v["x"], v["y"], v["z"]], r[:, 2], atol=1e-6)
        assert g["pre_grasp_approach"]["desired_distance"] == GRIPPER["pregrasp_distance"]
        assert g["grasp_quality"] >= 0 and g["id"].startswith("grasp_")
    saved = yaml.safe_load(yaml.safe_dump(grasps))
    assert saved == grasps


def test_capture_frame_without_base_is_metric(tmp_path):
    doc = _doc()
    msgs = to_pose_stamped(doc)
    assert msgs[0]["header"]["frame_id"] == "point2act_capture"
    p = np.array([[m["pose"]["position"][k] for k in "xyz"] for m in msgs])
    np.testing.assert_allclose(p, 0.25 * np.array([g["position"] for g in doc["grasps"]]), atol=1e-12)
    tcp, _ = graspnet_to_tcp(to_graspnet(doc))
    np.testing.assert_allclose(tcp, p, atol=1e-12)
    assert to_isaac_grasp(doc)["object_frame"].startswith("capture")


def test_unknown_format_and_no_grasps_are_refused(tmp_path):
    from point2act.errors import Point2ActError

    with pytest.raises(Point2ActError, match="--format"):
        write_format(_doc(), "urdf", tmp_path / "g.json")
    with pytest.raises(Point2ActError, match="grasps"):
        to_graspnet({"schema": "point2act.grasps/1"})
    assert write_format(_doc(), "json", tmp_path / "g.json") == []
    empty = dict(_doc(), grasps=[])
    assert to_graspnet(empty).shape == (0, GRASPNET_ARRAY_LEN)
    json.dumps(to_isaac_grasp(empty))
