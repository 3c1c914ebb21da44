"""`point2act grasp`: capture -> grasps.json in one command, pointing in the background while training
runs, relevancy refitted on the frozen field afterwards (the oracle pointer on the synthetic scene)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import inside, run_tool, target_box

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def test_grasp_command_points_while_training_and_lands_on_the_handle(tmp_path, monkeypatch):
    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=0))
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "grasps.json"
    p = run_tool([str(BIN / "point2act"), "grasp", "--data", str(scene), "--prompt", "Point to the handle of the mug",
                  "--backend", "oracle", "--max-num-iterations", "200", "--output", str(out),
                  "--output-dir", str(tmp_path / "outputs")], cwd=tmp_path, timeout=900)
    assert "in the background" in p.stdout and "one after the other" in p.stdout
    data = json.loads(out.read_text())
    assert inside(data["action_point"], target_box(scene)), data["action_point"]
    assert data["prompt"] == "Point to the handle of the mug" and data["grasps"], data.get("warning")
    runs = list((tmp_path / "outputs").rglob("points/task.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["points"]
    assert os.path.isfile(runs[0].parent.parent / "relevancy" / "task.pt")
