"""Export: the capture <-> nerfstudio frame (round trip, against nerfstudio's own parser) and grasps.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exporting import export_arrays
from point2act.geometry import FrameTransform
from point2act.grasp import GraspConfig, GripperConfig, validate_grasps_dict


def random_frame(seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    T = np.concatenate([q, rng.normal(size=(3, 1))], axis=1)
    return FrameTransform(T, float(rng.uniform(0.2, 3.0)))


def test_capture_nerfstudio_round_trip():
    f = random_frame()
    p = np.random.default_rng(1).normal(size=(50, 3))
    np.testing.assert_allclose(f.to_capture(f.to_nerfstudio(p)), p, atol=1e-10)
    # lengths scale by 1 / scale
    a, b = f.to_nerfstudio(p[:2])
    assert np.linalg.norm(a - b) == pytest.approx(np.linalg.norm(p[0] - p[1]) * f.scale)
    assert f.units_per_ns_unit == pytest.approx(1.0 / f.scale)
    R = f.rotation_to_capture(np.eye(3))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-10)


def test_frame_matches_nerfstudio_parser(tmp_path):
    """Camera centres parsed (and normalised) by nerfstudio map back to transforms.json's positions."""
    pytest.importorskip("nerfstudio")
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=1, num_views=6, width=64, height=48))
    outputs = NerfstudioDataParserConfig(data=scene, eval_mode="all").setup().get_dataparser_outputs("train")
    frame = FrameTransform(outputs.dataparser_transform.numpy(), float(outputs.dataparser_scale))
    centres_ns = outputs.cameras.camera_to_worlds[:, :3, 3].numpy()
    meta = json.loads((scene / "transforms.json").read_text())
    centres = np.array([np.asarray(fr["transform_matrix"])[:3, 3] for fr in meta["frames"]])
    np.testing.assert_allclose(frame.to_capture(centres_ns), centres, atol=1e-5)


def test_build_export_grasps_on_the_handle_in_capture_frame():
    """A field whose relevancy lights the handle, seen through a nerfstudio normalisation, exports
    grasps on the handle in the capture frame that satisfy the documented schema."""
    from point2act.grasp.synthetic import LABELS, tabletop_scene

    scene = tabletop_scene(seed=0)
    f = random_frame(3)
    arrays = {
        "means": f.to_nerfstudio(scene["means"]),
        "opacities": scene["opacities"],
        "scales": np.full_like(scene["means"], 0.003) * f.scale,
        "relevancy": scene["relevancy"],
    }
    out = export_arrays(arrays, f, "the mug handle", GraspConfig(top_k=5))
    validate_grasps_dict(out)
    handle = scene["means"][scene["labels"] == LABELS["handle"]]
    assert np.min(np.linalg.norm(handle - np.asarray(out["action_point"]), axis=1)) < 0.003  # on the handle
    assert out["grasps"], out.get("warning")
    best = np.asarray(out["grasps"][0]["position"])
    assert np.min(np.linalg.norm(handle - best, axis=1)) < 0.015


def test_metres_per_unit_scales_gripper():
    g = GripperConfig(metres_per_unit=0.1)
    assert g.units(0.08) == pytest.approx(0.8)
    only_region = export_arrays(
        {"means": np.random.default_rng(0).normal(size=(200, 3)) * 0.1, "opacities": np.ones(200),
         "scales": np.full((200, 3), 0.01), "relevancy": np.r_[np.ones(20), np.zeros(180)]},
        FrameTransform(np.eye(4)[:3], 1.0), "x", GraspConfig(gripper=g), grasps=False,
    )
    assert only_region["metres_per_unit"] == 0.1 and "grasps" not in only_region


def test_closing_on_keeps_grasps_that_close_on_the_region():
    """A fallback grasp must close on the relevant region: a point between the fingers is inside the
    closing box, one beside the fingers or behind the palm is not."""
    from point2act.grasp.planner import closing_on
    from point2act.grasp.result import Grasp

    cfg = GraspConfig()
    g = cfg.gripper
    # approach along -z (rotation columns: closing x, y, approach z), TCP at the origin
    R = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    grasp = Grasp(position=np.zeros(3), rotation=R, opening=0.06, contact_width=0.05, score=1.0,
                  semantic_score=1.0, geometric_score=1.0, contacts=np.zeros((2, 3)))
    between = np.array([[0.01, 0.0, 0.5 * g.finger_length]])  # behind the TCP along -approach = +z
    beside = np.array([[0.06, 0.0, 0.5 * g.finger_length]])  # outside the opening
    above = np.array([[0.0, 0.0, 3.0 * g.finger_length]])  # behind the palm
    assert closing_on([grasp], between, cfg) == [grasp]
    assert closing_on([grasp], np.concatenate([beside, above]), cfg) == []
    assert closing_on([grasp, grasp], np.concatenate([beside, between]), cfg) == [grasp, grasp]


@pytest.mark.parametrize("flagged", [False, True], ids=["on_target", "flagged"])
def test_export_summary_says_what_the_best_grasp_is_and_the_warning(flagged, capsys, tmp_path):
    """`point2act export`'s printed summary: a best grasp off the target or inside the collision margin is
    said so on its line, and the document's warning is printed; a plain on-target one prints neither."""
    from point2act.cli import print_export_summary

    best = {"position": [0.1, 0.2, 0.3], "width": 0.03, "score": 0.5, "on_target": not flagged,
            "clears_margin": not flagged}
    out = {"action_point": [0.1, 0.2, 0.3], "grasps": [best]}
    if flagged:
        out["warning"] = "no grasp closes on the relevant region"
    print_export_summary(out, tmp_path / "grasps.json")
    text = capsys.readouterr().out
    assert ("off the target" in text and "inside the collision margin" in text) == flagged
    assert ("warning: no grasp closes on the relevant region" in text) == flagged
    assert "1 grasps; best:" in text and f"wrote {tmp_path / 'grasps.json'}" in text
