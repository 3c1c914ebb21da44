"""``point2act point`` on the synthetic scene with the oracle pointer: a valid points file, and a
second run answered from the cache. Errors print one paragraph and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from point2act.pointing import image_size
from point2act.points import load_points_file

BIN = Path(sys.executable).parent
PROMPT = "Point to the handle of the mug"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from point2act.synth import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp("cli")
    generate_scene(root / "scene", SynthConfig(seed=0, num_views=6))
    return root


def point2act(args, root, cache, check=True):
    env = dict(os.environ, POINT2ACT_CACHE=str(cache), PYTHONUNBUFFERED="1")
    p = subprocess.run([str(BIN / "point2act"), *args], cwd=root, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert p.returncode == 0, f"{p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def test_point_oracle_writes_a_valid_points_file_and_reruns_from_the_cache(scene, tmp_path):
    cache = tmp_path / "cache"
    out = scene / "points_cli.json"
    args = ["point", "--data", "scene", "--prompt", PROMPT, "--backend", "oracle", "--output", str(out)]
    first = point2act(args, scene, cache)
    assert "0 hits, 6 misses" in first.stdout, first.stdout
    assert "view images/frame_0001.png:" in first.stdout + first.stderr  # per-view log lines
    pf = load_points_file(out)
    sizes = {k: image_size(scene / "scene" / k) for k in pf.points}
    pf.validate_against(sizes)
    assert pf.prompt == PROMPT and len(pf.points) == 6 and sum(1 for v in pf.points.values() if v) >= 3
    # the oracle pointer gives the scene's own ground-truth points file
    truth = json.loads((scene / "scene" / "points" / "oracle.json").read_text())["points"]
    assert {k: [list(p) for p in v] for k, v in pf.points.items()} == truth
    md = pf.extra["metadata"]
    assert md["backend"] == "oracle" and md["cache"]["misses"] == 6
    assert len(list(cache.rglob("*.json"))) == 6

    mtime = {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")}
    second = point2act(args, scene, cache)
    assert "6 hits, 0 misses" in second.stdout, second.stdout
    assert load_points_file(out).points == pf.points
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")} == mtime  # nothing rewritten


def test_point_options_via_cli(scene, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "p.json"
    p = point2act(["point", "--data", "scene/transforms.json", "--prompt", "I'm thirsty", "--backend", "oracle",
                   "--output", str(out), "--quiet", "--no-cache", "--noise-px", "2", "--seed", "3"], scene, cache)
    assert "answer cache" not in p.stdout and not cache.exists()
    md = load_points_file(out).extra["metadata"]
    assert md["pointer"]["noise_px"] == 2.0 and md["pointer"]["seed"] == 3 and md["pointer"]["cache"] is False
    assert load_points_file(out).prompt == "I'm thirsty"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--backend", "oracle", "--coarse-to-fine"], "coarse-to-fine pointing needs an image model"),
        (["--backend", "oracle", "--template", "{task}", "--template-file", "molmo"], "not both"),
        (["--backend", "oracle", "--template-file", "nope"], "template file nope not found"),
        (["--backend", "openai"], "needs base_url"),
    ],
)
def test_point_errors_are_one_paragraph(scene, tmp_path, monkeypatch, capsys, extra, message):
    from point2act.cli import entrypoint

    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "cache"))
    args = ["point", "--data", str(scene / "scene"), "--prompt", "x", "--output", str(tmp_path / "o.json"), *extra]
    with pytest.raises(SystemExit) as exc:
        entrypoint(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("point2act: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o.json").exists()


def test_point_error_message(scene, tmp_path):
    p = point2act(["point", "--data", "scene", "--prompt", "x", "--backend", "oracle", "--coarse-to-fine"],
                  scene, tmp_path, check=False)
    assert p.returncode == 2
    assert p.stderr.startswith("point2act: error: coarse-to-fine pointing needs an image model") and "Traceback" not in p.stderr
    p = point2act(["point", "--data", str(tmp_path / "nowhere"), "--prompt", "x"], scene, tmp_path, check=False)
    assert p.returncode == 2 and "capture folder not found" in p.stderr


def test_point_oracle_on_a_real_capture_is_refused(tmp_path, capsys):
    from PIL import Image

    from point2act.cli import entrypoint

    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.png")
    with pytest.raises(SystemExit) as exc:
        entrypoint(["point", "--data", str(tmp_path), "--prompt", "x", "--no-cache", "--output", str(tmp_path / "o.json")])
    assert exc.value.code == 2 and "only works on a synthetic scene" in capsys.readouterr().err


def test_point_help_is_readable(tmp_path):
    p = point2act(["point", "--help"], tmp_path, tmp_path)
    text = p.stdout
    for opt in ("--data", "--prompt", "--output", "--backend", "--model", "--family", "--base-url",
                "--coarse-to-fine", "--object-prompt", "--crop-frac", "--template", "--template-file",
                "--cache-dir", "--refresh-cache", "--trust-remote-code"):
        assert opt in text, opt
    assert "--pointer." not in text  # flat flags
