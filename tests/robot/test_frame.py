"""grasps.json's approach / pre-grasp keys, and point2act.robot.frame.add_base_frame against a closed form."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from point2act.errors import Point2ActError
from point2act.grasp.config import GripperConfig
from point2act.grasp.result import Grasp, GraspResult, Region, validate_grasps_dict
from point2act.robot.frame import add_base_frame, split_similarity

MPU = 0.25  # metres per capture unit: the capture is NOT metric
ROT = Rotation.from_euler("zyx", [35.0, -10.0, 170.0], degrees=True).as_matrix()
TRANS = np.array([0.4, -0.2, 0.9])


def _bfc(scale: float = MPU) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = scale * ROT, TRANS
    return m


def _doc(pregrasp: float = 0.12) -> dict:
    rng = np.random.default_rng(3)
    gripper = GripperConfig(metres_per_unit=MPU, pregrasp_distance=pregrasp)
    grasps = []
    for k in range(3):
        r = Rotation.random(random_state=k).as_matrix()
        grasps.append(Grasp(position=rng.normal(size=3), rotation=r, opening=0.1, contact_width=0.05,
                            score=0.9 - 0.1 * k, semantic_score=0.8, geometric_score=0.7,
                            handover_rotation=Rotation.random(random_state=10 + k).as_matrix() if k == 0 else None))
    region = Region(action_point=np.array([0.1, 0.2, 0.3]), center=np.array([0.1, 0.25, 0.3]),
                    extent=np.array([0.1, 0.1, 0.2]), num_gaussians=50, indices=np.arange(50))
    d = GraspResult(region=region, grasps=grasps, gripper=gripper).to_dict(prompt="pick up the mug")
    d["keypoints"] = {"spout": {"action_point": [1.0, 2.0, 3.0], "region": {"center": [1.0, 2.0, 3.5],
                                "extent": [0.1, 0.1, 0.1], "num_gaussians": 3}, "prompt": None, "role": "place"}}
    return d


def test_approach_and_pregrasp_keys() -> None:
    d = _doc(pregrasp=0.12)
    validate_grasps_dict(d)
    assert d["gripper"]["pregrasp_distance"] == 0.12
    for g in d["grasps"]:
        r = np.asarray(g["rotation"])
        np.testing.assert_allclose(g["approach"], r[:, 2], atol=1e-12)
        # 12 cm back along the approach axis = 0.48 capture units at 0.25 m per unit
        np.testing.assert_allclose(np.asarray(g["position"]) - g["pregrasp_position"], (0.12 / MPU) * r[:, 2],
                                   atol=1e-12)
    # a file from before these keys existed is still valid
    old = copy.deepcopy(d)
    del old["gripper"]["pregrasp_distance"]
    for g in old["grasps"]:
        del g["approach"], g["pregrasp_position"]
    validate_grasps_dict(old)


@pytest.mark.parametrize("edit, match", [
    (lambda g, d: g.__setitem__("approach", [1.0, 0.0, 0.0]), "approach is not the rotation's z column"),
    (lambda g, d: g.__setitem__("approach", [1.0, 0.0]), "approach must be 3 finite numbers"),
    (lambda g, d: g.__setitem__("pregrasp_position", g["position"][:2]), "pregrasp_position must be 3"),
    (lambda g, d: g.__setitem__("pregrasp_position", (np.asarray(g["position"]) + np.asarray(g["approach"])).tolist()),
     "not behind position"),
    (lambda g, d: g.__setitem__("pregrasp_position", (np.asarray(g["position"]) - np.asarray(g["approach"])).tolist()),
     "expected the gripper's pregrasp_distance"),
    (lambda g, d: d["gripper"].__setitem__("pregrasp_distance", -1.0), "pregrasp_distance"),
])
def test_validate_rejects_bad_new_keys(edit, match) -> None:
    d = _doc()
    edit(d["grasps"][1], d)
    with pytest.raises(ValueError, match=match):
        validate_grasps_dict(d)


def test_gripper_config_pregrasp() -> None:
    assert GripperConfig().pregrasp_distance == 0.10
    assert GripperConfig(pregrasp_distance=0).pregrasp_distance == 0.0
    with pytest.raises(ValueError, match="pregrasp_distance must be a non-negative"):
        GripperConfig(pregrasp_distance=-0.01)
    full = GripperConfig().to_dict()
    del full["pregrasp_distance"]
    assert GripperConfig.from_dict(full) == GripperConfig()  # optional in gripper files
    assert GripperConfig.from_json(Path(__file__).resolve().parents[2] / "configs" / "franka_panda.json") == GripperConfig()


def test_add_base_frame_closed_form() -> None:
    d = _doc(pregrasp=0.12)
    before = json.dumps(d, sort_keys=True)
    out = add_base_frame(d, _bfc(), frame_file="CAPTURE/point2act_frame.json")
    assert json.dumps(d, sort_keys=True) == before  # the input is not modified
    validate_grasps_dict(out)
    assert out["frame"] == "capture" and out["frame_file"] == "CAPTURE/point2act_frame.json"
    np.testing.assert_allclose(out["base_from_capture"], _bfc())
    assert out["base"]["units"] == "metres" and out["base"]["metres_per_unit"] == pytest.approx(MPU)

    def point(p):
        return MPU * ROT @ np.asarray(p) + TRANS

    np.testing.assert_allclose(out["base"]["action_point"], point(d["action_point"]), atol=1e-12)
    np.testing.assert_allclose(out["base"]["region_center"], point(d["region"]["center"]), atol=1e-12)
    for g in out["grasps"]:
        b = g["base"]
        r = ROT @ np.asarray(g["rotation"])
        np.testing.assert_allclose(b["position"], point(g["position"]), atol=1e-12)
        np.testing.assert_allclose(b["rotation"], r, atol=1e-9)
        q = b["quaternion_wxyz"]
        assert q[0] >= 0
        np.testing.assert_allclose(Rotation.from_quat([*q[1:], q[0]]).as_matrix(), r, atol=1e-9)
        np.testing.assert_allclose(b["approach"], r[:, 2], atol=1e-9)
        # the pre-grasp is 12 cm behind, in metres, and the capture pre-grasp maps onto it
        np.testing.assert_allclose(np.asarray(b["position"]) - b["pregrasp_position"], 0.12 * r[:, 2], atol=1e-9)
        np.testing.assert_allclose(b["pregrasp_position"], point(g["pregrasp_position"]), atol=1e-9)
    h = out["grasps"][0]["base"]
    np.testing.assert_allclose(h["handover_rotation"], ROT @ np.asarray(d["grasps"][0]["handover_rotation"]), atol=1e-9)
    kp = out["keypoints"]["spout"]["base"]
    np.testing.assert_allclose(kp["action_point"], point([1.0, 2.0, 3.0]), atol=1e-12)
    np.testing.assert_allclose(kp["region_center"], point([1.0, 2.0, 3.5]), atol=1e-12)
    json.dumps(out, allow_nan=False)  # json-able


def test_add_base_frame_scale_conventions() -> None:
    d = _doc()
    # a rigid matrix (metres -> metres) with metres_per_unit: applied after scaling the capture to metres
    rigid = _bfc(1.0)
    out = add_base_frame(d, rigid, metres_per_unit=MPU)
    np.testing.assert_allclose(out["base_from_capture"], _bfc(MPU), atol=1e-12)
    # the matrix's own scale given again is fine; another one is not
    add_base_frame(d, _bfc(), metres_per_unit=MPU)
    with pytest.raises(Point2ActError, match="scales by 0.25 .* metres_per_unit is 0.5"):
        add_base_frame(d, _bfc(), metres_per_unit=0.5)
    # grasps planned at another scale than the frame's: the gripper was sized wrongly
    with pytest.raises(Point2ActError, match="planned with metres_per_unit 0.25 .* --metres-per-unit 0.5"):
        add_base_frame(d, _bfc(0.5))
    add_base_frame(d, _bfc(0.5), check_scale=False)
    # a file without pregrasp_distance backs off the default 10 cm
    old = copy.deepcopy(d)
    del old["gripper"]["pregrasp_distance"]
    b = add_base_frame(old, _bfc())["grasps"][0]["base"]
    np.testing.assert_allclose(np.asarray(b["position"]) - b["pregrasp_position"], 0.10 * np.asarray(b["approach"]),
                               atol=1e-9)


@pytest.mark.parametrize("m, match", [
    (np.eye(3), "4x4"),
    (np.diag([1.0, 1.0, -1.0, 1.0]), "determinant"),
    (np.diag([1.0, 2.0, 1.0, 1.0]), "not a scale times a rotation"),
    (np.vstack([np.eye(4)[:3], [0, 0, 1, 1]]), "last row"),
    (np.full((4, 4), np.nan), "finite"),
])
def test_bad_base_from_capture(m, match) -> None:
    with pytest.raises(Point2ActError, match=match):
        add_base_frame(_doc(), m)


def test_split_similarity() -> None:
    s, r, t = split_similarity(_bfc())
    assert s == pytest.approx(MPU)
    np.testing.assert_allclose(r, ROT, atol=1e-12)
    np.testing.assert_allclose(t, TRANS)
