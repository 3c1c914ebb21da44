"""On-the-fly training: ``ns-train point2act`` with a prompt and the oracle pointer, without a
points file, points on every view before training, writes the points file and the answer cache,
and trains end to end on CPU. The answers are then reused by ``point2act point``."""

from __future__ import annotations

import json

import pytest
from conftest import ns_train

from point2act.points import load_points_file

pytestmark = pytest.mark.slow

PROMPT = "Point to the handle of the mug"
NUM_VIEWS = 8


def test_ns_train_points_on_the_fly_with_the_oracle(tmp_path, monkeypatch, capsys):
    from point2act.cli import entrypoint
    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=0, num_views=NUM_VIEWS))
    (scene / "points" / "oracle.json").unlink()  # nothing to fall back on: the pointer must run
    cache = tmp_path / "cache"
    cmd = [
        "point2act",
        "--data", str(scene),
        "--pipeline.datamanager.prompt", PROMPT,
        "--pipeline.datamanager.pointer.backend", "oracle",
        "--max-num-iterations", "10",
        "--steps-per-save", "10",
        "--vis", "tensorboard",
        "--output-dir", str(tmp_path / "outputs"),
        "--experiment-name", "fly",
        "--timestamp", "run",
        "--pipeline.model.num-downscales", "0",
    ]  # fmt: skip
    p = ns_train(cmd, cwd=tmp_path, env={"POINT2ACT_CACHE": cache})  # ns-train's command line, in this process
    log = p.stdout + p.stderr

    # it pointed on every view (train + eval) before training, and trained with that supervision
    assert f"pointing on {NUM_VIEWS} views with the oracle pointer" in log
    assert "relevancy supervision on" in log
    run_dir = tmp_path / "outputs" / "fly" / "point2act" / "run"
    assert list((run_dir / "nerfstudio_models").glob("step-*.ckpt"))
    config = (run_dir / "config.yml").read_text()
    assert "points_file: null" in config and PROMPT in config and "backend: oracle" in config

    # the points file was written (atomically, in the cache folder) and has points
    files = list((cache / "files").glob("*.json"))
    assert len(files) == 1 and "wrote points file" in log
    pf = load_points_file(files[0])
    assert pf.prompt == PROMPT and len(pf.points) == NUM_VIEWS
    assert sum(1 for v in pf.points.values() if v) >= NUM_VIEWS // 2
    assert all(k.startswith("images/frame_") for k in pf.points)  # transforms.json keys
    assert pf.extra["metadata"]["cache"]["misses"] == NUM_VIEWS
    assert not list(cache.rglob(".*.tmp"))
    answers = [p for p in cache.rglob("*.json") if p.parent.name != "files"]
    assert len(answers) == NUM_VIEWS

    # a second pointing run on the same capture does not query again
    out = tmp_path / "again.json"
    monkeypatch.setenv("POINT2ACT_CACHE", str(cache))
    entrypoint(["point", "--data", str(scene), "--prompt", PROMPT, "--backend", "oracle", "--output", str(out),
                "--quiet"])
    assert f"{NUM_VIEWS} hits, 0 misses" in capsys.readouterr().out
    assert json.loads(out.read_text())["points"] == json.loads(files[0].read_text())["points"]
