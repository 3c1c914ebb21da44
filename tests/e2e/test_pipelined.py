"""`point2act grasp`: capture -> grasps.json in one command, pointing in the background while training
runs, relevancy refitted on the frozen field afterwards (the oracle pointer on the synthetic scene)."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest

from conftest import inside, target_box

pytestmark = pytest.mark.slow


def test_grasp_command_points_while_training_and_lands_on_the_handle(tmp_path, monkeypatch):
    from point2act.cli import entrypoint
    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=0))
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "grasps.json"
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the CLI's entry point, in this process
        entrypoint(["grasp", "--data", str(scene), "--prompt", "Point to the handle of the mug", "--backend", "oracle",
                    "--max-num-iterations", "200", "--output", str(out), "--output-dir", str(tmp_path / "outputs")])
    assert "in the background" in printed.getvalue() and "one after the other" in printed.getvalue()
    data = json.loads(out.read_text())
    assert inside(data["action_point"], target_box(scene)), data["action_point"]
    assert data["prompt"] == "Point to the handle of the mug" and data["grasps"], data.get("warning")
    runs = list((tmp_path / "outputs").rglob("points/task.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["points"]
    assert os.path.isfile(runs[0].parent.parent / "relevancy" / "task.npz")
