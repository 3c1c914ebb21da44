"""End to end on a capture point2act did not make: tests/independent_scene.py (its own numpy ray
caster, objects, two-ring camera path, plain background, no point cloud, 160x120) through
``ns-train point2act``'s command line (in this process: ``conftest.ns_train``) with the method's
DEFAULT settings -- only the number of iterations is cut (and where the run is written) -- then
``point2act export --no-grasps``: the action point must be on the target part (the cabinet's knob,
its bbox grown by 1.5 cm).

This is the test of the defaults a user gets: nothing here is tuned to the scene.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import independent_scene as ind
from conftest import inside, ns_train, point2act_cli, target_box  # tests/conftest.py

pytestmark = pytest.mark.slow

ITERATIONS = 300
MARGIN = 0.015
"""Metres the knob's bbox (3.6 cm across) is grown by."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("independent")
    scene = root / "scene"
    gt = ind.generate_independent_scene(scene)
    cmd = [
        "point2act",
        "--data", str(scene),
        "--pipeline.datamanager.points-file", str(scene / "points.json"),
        "--max-num-iterations", str(ITERATIONS),
        "--steps-per-save", str(ITERATIONS),
        "--vis", "tensorboard",
        "--output-dir", str(root / "outputs"),
        "--experiment-name", "independent",
        "--timestamp", "run",
    ]
    p = ns_train(cmd, cwd=root)  # ns-train's command line, in this process
    config = root / "outputs/independent/point2act/run/config.yml"
    assert config.is_file(), p.stdout[-2000:]
    return root, scene, gt, config, p


def test_action_point_on_the_knob_with_default_settings(trained):
    root, scene, gt, config, p = trained
    assert "relevancy supervision on" in p.stdout
    out = root / "grasps.json"
    e = point2act_cli(["export", "--load-config", config, "--output", out, "--no-grasps"], cwd=root)
    data = json.loads(out.read_text())
    assert data["frame"] == "capture" and data["prompt"] == ind.PROMPT
    ap = np.asarray(data["action_point"], dtype=np.float64)
    lo, hi = box = target_box(scene, MARGIN)  # ground_truth.json's bbox_min / bbox_max, grown
    dist = float(np.linalg.norm(ap - np.asarray(gt["centre"])))
    assert inside(ap, box), (
        f"action point {ap.round(4).tolist()} is {dist * 100:.1f} cm from the knob's centre "
        f"{gt['centre']}; bbox grown by {MARGIN * 100:.1f} cm: {lo.round(4).tolist()} .. {hi.round(4).tolist()}\n"
        + e.stdout[-1500:]
    )
