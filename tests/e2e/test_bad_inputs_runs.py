"""The bad-input corpus, saved runs and the terminal: a run config of another method, a truncated
checkpoint, a run without a checkpoint and a truncated run config fail with one paragraph naming the
file, a non-zero exit and no traceback; real subprocesses of ``ns-train`` and ``point2act`` prove what the
terminal shows (with ``POINT2ACT_DEBUG=1`` or ``--debug``: the traceback), and the ns-* exception hook
hands other errors on.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

import badinputs as bi
from badinputs_cli import cli
from point2act.errors import Point2ActError

BIN = Path(sys.executable).parent


def _saved_run(root: Path, scene: Path, method: str) -> Path:
    from nerfstudio.configs.method_configs import all_methods

    cfg = copy.deepcopy(all_methods[method])
    cfg.output_dir = root / "outputs"
    cfg.pipeline.datamanager.data = scene
    cfg.set_timestamp()
    cfg.save_config()
    return Path(cfg.get_base_dir()) / "config.yml"


@pytest.mark.parametrize("cmd", ["export", "query"])
def test_load_config_of_another_method(cmd, fresh, capsys):
    root, scene = fresh
    config = _saved_run(root, scene, "splatfacto")
    extra = ["--points-file", scene / "points/oracle.json"] if cmd == "query" else []
    msg = cli([cmd, "--load-config", config, *extra], capsys)
    assert str(config) in msg and "trained with method 'splatfacto', not point2act" in msg and "ns-train point2act" in msg


def test_truncated_checkpoint(fresh, capsys):
    import torch

    root, scene = fresh
    config = _saved_run(root, scene, "point2act")
    ckpt_dir = config.parent / "nerfstudio_models"
    ckpt_dir.mkdir()
    good = ckpt_dir / "step-000000099.ckpt"
    torch.save({"step": 99, "pipeline": {"w": torch.zeros(1000)}}, good)
    bad = ckpt_dir / "step-000000100.ckpt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # killed while saving
    msg = cli(["export", "--load-config", config], capsys)
    assert str(bad) in msg and "not a readable checkpoint" in msg and "Delete it" in msg


def test_run_without_checkpoint(fresh, capsys):
    root, scene = fresh
    config = _saved_run(root, scene, "point2act")
    msg = cli(["export", "--load-config", config], capsys)
    assert str(config) in msg and "has no checkpoint" in msg


def test_truncated_run_config(fresh, capsys):
    root, scene = fresh
    config = _saved_run(root, scene, "point2act")
    text = config.read_text()
    config.write_text(text[: len(text) // 3] + "\n  - [unclosed")
    msg = cli(["export", "--load-config", config], capsys)
    assert str(config) in msg and "not a valid run config" in msg


# -- what the terminal shows: real subprocesses ---------------------------------------------------
def _run(cmd, cwd, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("POINT2ACT_DEBUG", None)
    env.update(env_extra or {})
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_ns_train_bad_points_file_prints_one_paragraph(fresh):
    root, scene = fresh
    info = bi.p_unknown_key(root, scene)
    p = _run([BIN / "ns-train", "point2act", "--data", scene, "--pipeline.datamanager.points-file", info["points"],
              "--vis", "tensorboard", "--output-dir", root / "outputs"], cwd=root)
    assert p.returncode != 0
    assert "Traceback" not in p.stdout + p.stderr, p.stderr[-3000:]
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("point2act: error: ")]
    assert len(lines) == 1, p.stderr[-3000:]
    assert str(info["points"]) in lines[0] and info["entry"] in lines[0] and "not in the capture" in lines[0]
    assert "POINT2ACT_DEBUG=1" in p.stderr


@pytest.mark.slow
def test_ns_train_debug_flag_shows_the_traceback(fresh):
    root, scene = fresh
    bi.c_nan_pose(root, scene)
    p = _run([BIN / "ns-train", "point2act", "--data", scene, "--vis", "tensorboard", "--output-dir",
              root / "outputs"], cwd=root, env_extra={"POINT2ACT_DEBUG": "1"})
    assert p.returncode != 0
    assert "Traceback" in p.stderr and "CaptureError" in p.stderr and "non-finite entry" in p.stderr


def test_point2act_cli_subprocess_no_traceback_unless_debug(fresh):
    root, scene = fresh
    bi.c_singular_pose(root, scene)
    p = _run([BIN / "point2act", "check", "--data", scene], cwd=root)
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr
    assert p.stderr.startswith("point2act: error: ") and "not invertible" in p.stderr
    p = _run([BIN / "point2act", "check", "--data", scene, "--debug"], cwd=root)
    assert p.returncode != 0 and "Traceback" in p.stderr and "CaptureError" in p.stderr


def test_excepthook_delegates_other_errors(capsys, monkeypatch):
    """The ns-* hook prints Point2ActError as one line; anything else (or POINT2ACT_DEBUG=1) goes
    to the previous hook."""
    from point2act.method import excepthook

    seen = []
    monkeypatch.setattr(excepthook, "_PREVIOUS", lambda t, e, tb: seen.append(t))
    monkeypatch.delenv("POINT2ACT_DEBUG", raising=False)
    excepthook.point2act_excepthook(Point2ActError, Point2ActError("f.json: entry 'x': bad."), None)
    assert capsys.readouterr().err.startswith("point2act: error: f.json: entry 'x': bad.\n") and seen == []
    excepthook.point2act_excepthook(KeyError, KeyError("k"), None)
    assert seen == [KeyError]
    monkeypatch.setenv("POINT2ACT_DEBUG", "1")
    excepthook.point2act_excepthook(Point2ActError, Point2ActError("m"), None)
    assert seen == [KeyError, Point2ActError] and capsys.readouterr().err == ""
