"""Kill and resume: a real ``ns-train point2act`` process is SIGKILLed mid-training once a checkpoint exists,
then resumed with nerfstudio's ``--load-dir`` (ns-train's command line, in this process: ``conftest.ns_train``).
The resumed run starts at the checkpoint's step + 1, loads the relevancy channel intact, skips a truncated
checkpoint with a warning, finishes and exports. A run resumed from an intermediate checkpoint ends on the
undisturbed run's bits; a finished run's last checkpoint is not resumed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ns_train, point2act_cli

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
SAVE_EVERY = 20
RESUME_ITERS = 20  # resumed steps 21..40: densification at 30 and 40 (it crashed there before the fix)


def _train_cmd(scene: Path, out: Path, timestamp: str, iters: int, *extra: str):
    return [
        str(BIN / "ns-train"), "point2act",
        "--data", str(scene),
        "--pipeline.datamanager.points-file", str(scene / "points/oracle.json"),
        "--max-num-iterations", str(iters),
        "--steps-per-save", str(SAVE_EVERY),
        "--steps-per-eval-image", "1000000", "--steps-per-eval-all-images", "1000000",
        "--vis", "tensorboard",
        "--output-dir", str(out), "--experiment-name", "synth", "--timestamp", timestamp,
        "--pipeline.model.num-downscales", "0",
        "--pipeline.model.warmup-length", "10",
        "--pipeline.model.refine-every", "10",
        *extra,
    ]


def _steps(d: Path):
    return sorted(int(m.group(1)) for p in d.glob("step-*.ckpt") if (m := re.fullmatch(r"step-(\d+)\.ckpt", p.name)))


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A training run killed with SIGKILL after its first checkpoints were written."""
    from point2act.synth import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp("resume")
    scene = root / "scene"
    generate_scene(scene, SynthConfig(seed=0, num_views=8, width=96, height=72, num_seed_points=1500))
    out = root / "outputs"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = open(root / "first.log", "w")
    p = subprocess.Popen(_train_cmd(scene, out, "first", 100000), cwd=root, stdout=log, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    ckdir = out / "synth/point2act/first/nerfstudio_models"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and p.poll() is None:
            if ckdir.is_dir() and _steps(ckdir):
                break
            time.sleep(0.05)
        assert p.poll() is None, (root / "first.log").read_text()[-3000:]
        assert ckdir.is_dir() and _steps(ckdir), "no checkpoint within the deadline"
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)  # a real kill: no handler runs, no cleanup
        p.wait(timeout=30)
        log.close()
    assert p.returncode == -signal.SIGKILL
    return root, scene, out, ckdir


def test_killed_run_leaves_only_complete_checkpoints(killed):
    from point2act.checkpoints import load_checkpoint

    _root, _scene, _out, ckdir = killed
    names = sorted(p.name for p in ckdir.iterdir())
    assert names and all(re.fullmatch(r"step-\d+\.ckpt", n) for n in names), names  # no temp files in there
    for s in _steps(ckdir):
        state = load_checkpoint(ckdir / f"step-{s:09d}.ckpt")  # every one is readable
        assert state["step"] == s and s % SAVE_EVERY == 0


def test_resume_loads_relevancy_intact(killed):
    """The resumed trainer's model holds exactly the checkpoint's Gaussians and relevancy logits."""
    import yaml

    from point2act.checkpoints import load_checkpoint

    _root, _scene, out, ckdir = killed
    last = _steps(ckdir)[-1]
    state = load_checkpoint(ckdir / f"step-{last:09d}.ckpt")
    rel = state["pipeline"]["_model.gauss_params.relevancy"]
    config = yaml.load((out / "synth/point2act/first/config.yml").read_text(), Loader=yaml.Loader)
    config.load_dir = ckdir
    trainer = config.setup(local_rank=0, world_size=1)
    # Trainer.setup without the viewer and event writers: pipeline, optimizers, then the checkpoint
    trainer.pipeline = config.pipeline.setup(device="cpu", test_mode="val", world_size=1, local_rank=0)
    trainer.optimizers = trainer.setup_optimizers()
    trainer._load_checkpoint()
    model = trainer.pipeline.model
    assert trainer._start_step == last + 1
    assert rel.shape == model.relevancy_logits.shape and rel.shape[0] > 100
    assert torch.equal(model.relevancy_logits.detach().cpu(), rel)
    assert torch.equal(model.means.detach().cpu(), state["pipeline"]["_model.gauss_params.means"])
    # trained, not the initial constant: relevancy moved during the first run's steps
    assert float(rel.std()) > 0
    # the optimizer state of the relevancy group came back too (Adam moments, one per Gaussian)
    # ... on the model's own parameters (not the pre-load ones splatfacto's load_state_dict replaced)
    for name, params in trainer.pipeline.get_param_groups().items():
        group = trainer.optimizers.optimizers[name].param_groups[0]["params"]
        assert all(a is b for a, b in zip(group, params)), name
    opt = trainer.optimizers.optimizers["relevancy"]
    assert opt.param_groups[0]["params"][0] is model.gauss_params["relevancy"]
    st = opt.state[model.gauss_params["relevancy"]]
    assert st["exp_avg"].shape == rel.shape and float(st["exp_avg_sq"].abs().sum()) > 0


def test_resume_skips_truncated_checkpoint_continues_finishes_and_exports(killed):
    root, scene, out, ckdir = killed
    last = _steps(ckdir)[-1]
    # what a kill during a plain torch.save leaves behind: a later-step, truncated file (plus a stray file)
    good = (ckdir / f"step-{last:09d}.ckpt").read_bytes()
    bad = ckdir / f"step-{last + 5:09d}.ckpt"
    bad.write_bytes(good[: len(good) // 3])
    (ckdir / "notes.txt").write_text("not a checkpoint")
    cmd = _train_cmd(scene, out, "resumed", last + 1 + RESUME_ITERS, "--load-dir", str(ckdir))
    try:
        p = ns_train(cmd[1:], cwd=root)  # the resumed run: ns-train's command line, in this process
    finally:
        bad.unlink()
        (ckdir / "notes.txt").unlink()
    text = p.stdout + p.stderr
    assert "skipping unreadable checkpoint" in text and bad.name in text
    assert f"resuming at step {last + 1}" in text
    run = out / "synth/point2act/resumed"
    # --max-num-iterations is the run's length: steps last + 1 ... last + RESUME_ITERS
    assert _steps(run / "nerfstudio_models") == [last + RESUME_ITERS]
    grasps = root / "grasps.json"
    point2act_cli(["export", "--load-config", run / "config.yml", "--output", grasps, "--no-grasps"], cwd=root)
    data = json.loads(grasps.read_text())
    assert data["schema"] == "point2act.grasps/1" and data["run"] == str((run / "config.yml").resolve())
    assert np.all(np.isfinite(data["action_point"])) and data["region"]["num_gaussians"] > 0


def test_load_dir_with_only_broken_checkpoints_is_a_clear_error(tmp_path):
    from point2act.errors import Point2ActError
    from point2act.method.trainer import latest_readable_checkpoint

    (tmp_path / "step-000000010.ckpt").write_bytes(b"PK\x03\x04truncated")
    with pytest.raises(Point2ActError, match="none of its checkpoints is readable") as ei:
        latest_readable_checkpoint(tmp_path)
    assert str(tmp_path) in str(ei.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(Point2ActError, match="no step-"):
        latest_readable_checkpoint(tmp_path / "empty")
    with pytest.raises(Point2ActError, match="not a folder"):
        latest_readable_checkpoint(tmp_path / "missing")


def _final_state(run: Path):
    from point2act.checkpoints import load_checkpoint

    steps = _steps(run / "nerfstudio_models")
    return steps, load_checkpoint(run / "nerfstudio_models" / f"step-{steps[-1]:09d}.ckpt")


def _flat(tree, prefix=""):
    """A checkpoint's nested dicts and lists as ``{path: leaf}``."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, sub in enumerate(tree) for k, v in _flat(sub, f"{prefix}/{i}").items()}
    return {prefix: tree}


def test_resumed_run_ends_on_the_undisturbed_runs_bits(tmp_path):
    """Resumed from a checkpoint in the middle of a densification period (its gradient statistics half
    accumulated, the view order half through a pass), a run trains the same steps and ends on the same bits as
    the run that was never stopped: every tensor of the last checkpoint (Gaussians, relevancy, optimizer moments,
    schedulers, random generators) is equal, and the convergence check ends both at the same step."""
    from point2act.errors import Point2ActError
    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=0, num_views=8, width=96, height=72, num_seed_points=1500))
    out, iters, save = tmp_path / "outputs", 40, "25"
    keep = ("--steps-per-save", save, "--save-only-latest-checkpoint", "False")
    ns_train(_train_cmd(scene, out, "whole", iters, *keep)[1:], cwd=tmp_path)
    whole = out / "synth/point2act/whole"
    ends = _steps(whole / "nerfstudio_models")  # the convergence check may end it before its last step
    assert ends[0] == 25 and len(ends) == 2
    p = ns_train(_train_cmd(scene, out, "resumed", iters, *keep, "--load-dir", str(whole / "nerfstudio_models"),
                            "--load-step", save)[1:], cwd=tmp_path)
    assert "resuming at step 26" in p.stdout + p.stderr
    steps, resumed = _final_state(out / "synth/point2act/resumed")
    assert steps == ends[1:]
    _, ref = _final_state(whole)
    a, b = _flat(ref), _flat(resumed)
    assert a.keys() == b.keys()
    differ = [k for k in a if not (torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k])]
    assert not differ, differ[:10]
    # the finished run's last checkpoint: nothing to resume, said before any training
    with pytest.raises(Point2ActError, match="finished training"):
        ns_train(_train_cmd(scene, out, "again", iters + 10, "--load-dir", str(whole / "nerfstudio_models"))[1:],
                 cwd=tmp_path)
