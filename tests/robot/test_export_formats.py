"""`point2act export --format ...` on a trained run (the test run's shared synthetic training): each format lands in the
base frame of the frame file, and matches grasps.json's base poses and the hand-mapped capture poses."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from point2act.robot.formats import graspnet_to_tcp, isaac_to_tcp, read_pose_bag

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="trained_synth")]


@pytest.fixture(scope="module")
def exported(trained_synth, tmp_path_factory):
    """The run exported with a frame file (a rigid base_from_capture: the synthetic capture is metric) in every
    format, each by its own ``point2act export --format`` (the CLI's entry point, in this process) into a folder
    of its own: {format: (folder, its grasps.json)}."""
    from point2act.cli import entrypoint

    _root, _scene, config, _p = trained_synth
    out = tmp_path_factory.mktemp("formats")
    B = np.eye(4)
    B[:3, :3] = Rotation.from_euler("xyz", [10, -20, 135], degrees=True).as_matrix()
    B[:3, 3] = [0.45, -0.2, 0.02]
    frame = out / "frame.json"
    frame.write_text(json.dumps({"schema": "point2act.frame/1", "metres_per_unit": 1.0, "base_from_capture": B.tolist()}))
    docs = {}
    for fmt in ("graspnet", "isaac", "ros2"):
        (out / fmt).mkdir()
        grasps = out / fmt / "grasps.json"
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            entrypoint(["export", "--load-config", str(config), "--output", str(grasps),
                        "--base-from-capture", str(frame), "--format", fmt])
        assert "wrote" in printed.getvalue()
        docs[fmt] = (out / fmt, json.loads(grasps.read_text()))
    if not docs["graspnet"][1]["grasps"]:
        pytest.skip("the short synthetic run found no grasp to convert")
    return docs, B


def _base(doc):
    return (np.array([g["base"]["position"] for g in doc["grasps"]]),
            np.array([g["base"]["rotation"] for g in doc["grasps"]]))


def test_every_format_is_in_the_base_frame(exported):
    docs, B = exported
    out, doc = docs["graspnet"]
    pos, rot = _base(doc)
    cap = np.array([g["position"] for g in doc["grasps"]])
    np.testing.assert_allclose(cap @ B[:3, :3].T + B[:3, 3], pos, atol=1e-9)  # the frame file, applied by hand
    tcp, r = graspnet_to_tcp(np.load(out / "grasps_graspnet.npy"))
    np.testing.assert_allclose(tcp, pos, atol=1e-6)
    np.testing.assert_allclose(r, rot, atol=1e-6)
    out, doc = docs["isaac"]
    pos, rot = _base(doc)
    g = doc["gripper"]
    tcp, r = isaac_to_tcp(yaml.safe_load((out / "grasps_isaac.yaml").read_text()), g["finger_length"] + g["palm_depth"])
    np.testing.assert_allclose(tcp, pos, atol=1e-6)
    np.testing.assert_allclose(r, rot, atol=1e-6)
    out, doc = docs["ros2"]
    pos, rot = _base(doc)
    bag = read_pose_bag(out / "grasps_ros2" / "bag")
    assert [b[0] for b in bag] == ["base_link"] * len(pos)
    np.testing.assert_allclose(np.array([b[1] for b in bag]), pos, atol=1e-6)
    for (_f, _p, q), rr in zip(bag, rot):
        np.testing.assert_allclose(Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix(), rr, atol=1e-6)
    moveit = yaml.safe_load((out / "grasps_ros2" / "moveit_grasps.yaml").read_text())
    assert len(moveit) == len(pos) and moveit[0]["grasp_quality"] == pytest.approx(doc["grasps"][0]["score"])
