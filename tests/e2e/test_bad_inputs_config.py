"""The bad-input corpus, options and files besides the capture: a broken gripper file or a metres-per-unit
that is not positive, a broken robot frame file, ``point2act calibrate``'s marker and its pose file, and
the click pointer asked of ``ns-train``. Each fails with one paragraph naming the file, the entry and
the fix, a non-zero exit and no traceback (the capture itself is tests/e2e/test_bad_inputs.py).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import badinputs as bi
from badinputs_cli import cli
from point2act.errors import Point2ActError


# -- configuration --------------------------------------------------------------------------------
def _gripper(root: Path, **over) -> Path:
    from point2act.grasp import GripperConfig

    d = GripperConfig().to_dict()
    d.update(over)
    d = {k: v for k, v in d.items() if v is not None}
    p = root / "gripper.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize(
    "over, fragments",
    [
        ({"finger_length": None}, ["is missing field(s) finger_length", "lengths in metres"]),
        ({"metres_per_unit": -0.5}, ["metres_per_unit must be a positive finite number, got -0.5"]),
        ({"palm_widht": 0.2}, ["unknown field(s) palm_widht"]),
    ],
    ids=["missing_field", "metres_per_unit_negative", "typo_field"],
)
def test_gripper_file(over, fragments, tmp_path, capsys):
    g = _gripper(tmp_path, **over)
    msg = cli(["export", "--load-config", tmp_path / "config.yml", "--gripper", g], capsys)
    assert str(g) in msg and all(f in msg for f in fragments), msg


def test_gripper_file_invalid_json(tmp_path, capsys):
    g = tmp_path / "gripper.json"
    g.write_text('{"max_opening": 0.08,}')
    msg = cli(["export", "--load-config", tmp_path / "config.yml", "--gripper", g], capsys)
    assert str(g) in msg and "is not valid JSON" in msg and "line 1" in msg


@pytest.mark.parametrize("cmd", ["export", "query"])
@pytest.mark.parametrize("value", ["0", "-0.12"])
def test_metres_per_unit_not_positive(cmd, value, tmp_path, capsys):
    """Refused before the run is loaded (query: before any fitting)."""
    extra = ["--points-file", tmp_path / "p.json"] if cmd == "query" else []
    msg = cli([cmd, "--load-config", tmp_path / "config.yml", "--metres-per-unit", value, *extra], capsys)
    assert f"--metres-per-unit must be > 0, got {float(value)}" in msg


# -- robot frame: point2act calibrate and export's frame file ---------------------------------
FRAME_CASES = {
    "invalid_json": ('{"metres_per_unit": 0.1,', ["frame file is not valid JSON", "line 1"]),
    "nothing_to_use": ('{"schema": "point2act.frame/1"}', ["no 'metres_per_unit' and no 'base_from_capture'",
                                                         "point2act calibrate"]),
    "scale_not_positive": ('{"metres_per_unit": -1}', ["'metres_per_unit' must be a positive number, got -1"]),
    "shear": ('{"base_from_capture": [[2,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}',
              ["'base_from_capture'", "not a positive scale times a rotation"]),
    "scale_disagrees": ('{"metres_per_unit": 0.5, "base_from_capture": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}',
                        ["scales by 1", "'metres_per_unit' is 0.5"]),
}


@pytest.mark.parametrize("name", list(FRAME_CASES))
def test_export_frame_file(name, tmp_path, capsys):
    """`point2act export --base-from-capture FILE`: a broken frame file is refused before the run is read."""
    text, fragments = FRAME_CASES[name]
    f = tmp_path / "frame.json"
    f.write_text(text)
    msg = cli(["export", "--load-config", tmp_path / "config.yml", "--base-from-capture", f], capsys)
    assert str(f) in msg and all(x in msg for x in fragments), msg


def test_export_pregrasp_distance_negative(tmp_path, capsys):
    msg = cli(["export", "--load-config", tmp_path / "config.yml", "--pregrasp-distance", "-0.1"], capsys)
    assert "--pregrasp-distance must be >= 0 metres, got -0.1" in msg


def test_calibrate_without_a_marker_names_the_views(fresh, capsys):
    root, scene = fresh
    msg = cli(["calibrate", "--data", scene, "--marker-size", "0.05"], capsys)
    assert str(scene) in msg and bi.key(0) in msg, msg


@pytest.mark.parametrize("text, fragments", [
    ('{"base_from_marker": [[1,0,0],[0,1,0]]}', ["'base_from_marker' must be a 4x4 matrix"]),
    ('{"position": [0, 0], "quaternion_wxyz": [1, 0, 0, 0]}', ["'position' must be 3 finite numbers"]),
    ('[1, 2', ["not valid JSON"]),
], ids=["not_4x4", "short_position", "invalid_json"])
def test_calibrate_marker_pose_file(text, fragments, fresh, capsys):
    root, scene = fresh
    pose = root / "pose.json"
    pose.write_text(text)
    msg = cli(["calibrate", "--data", scene, "--marker-size", "0.05", "--marker-pose-in-base", pose], capsys)
    assert str(pose) in msg and all(x in msg for x in fragments), msg


def test_calibrate_marker_size_not_positive(fresh, capsys):
    root, scene = fresh
    msg = cli(["calibrate", "--data", scene, "--marker-size", "0"], capsys)
    assert "--marker-size" in msg and "> 0" in msg


def test_click_backend_in_ns_train_points_to_the_browser_command(fresh):
    """The click pointer is a person in a browser: ns-train cannot run it; the error says what to run."""
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.scripts import train

    root, scene = fresh
    cfg = copy.deepcopy(all_methods["point2act"])
    cfg.data, cfg.output_dir, cfg.vis, cfg.max_num_iterations = scene, root / "outputs", "tensorboard", 1
    cfg.pipeline.datamanager.prompt = "the mug"
    cfg.pipeline.datamanager.pointer.backend = "click"
    with pytest.raises(Point2ActError) as ei:
        train.main(cfg)
    assert "point2act point --backend click" in str(ei.value)
