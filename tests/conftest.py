"""Shared fixtures: the ../shared/data folder (skips when absent) and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POINT2ACT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set POINT2ACT_SHARED_DATA)")
    return SHARED_DATA


# ----------------------------------------------------------------------------------------------
# pytest-xdist (make test: -n 2 --dist loadgroup): what shares an expensive fixture runs in one worker
# ----------------------------------------------------------------------------------------------
SHARED_RUN = "trained_synth"
"""The xdist group of every test that reads the shared trained run (:func:`trained_synth`)."""
CHEAP_FIXTURES = {"base_scene", "ext"}
"""Module/session fixtures cheap enough to build once per worker (a 10-view 64x48 scene, the loaded
extension): their tests are spread one by one."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Give each test an ``xdist_group`` (unless it has one): ``trained_synth`` for the tests that read
    the shared trained run, so it is trained once; the test's module for a test that uses a
    module- or session-scoped fixture defined in its own module (a scene, a training, a killed run),
    so that fixture is built once. Other tests are spread one by one. Without xdist: no effect."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) if info is not None else {}
        if SHARED_RUN in defs:
            item.add_marker(pytest.mark.xdist_group(name=SHARED_RUN))
            continue
        module = item.nodeid.split("::", 1)[0]
        for name, fdefs in defs.items():
            fd = fdefs[-1]
            if name in CHEAP_FIXTURES:
                continue
            if fd.scope in ("module", "session") and str(getattr(fd, "baseid", "")).split("::", 1)[0] == module:
                item.add_marker(pytest.mark.xdist_group(name=module))
                break


# ----------------------------------------------------------------------------------------------
# one short CPU training on the synthetic scene, shared by the slow end-to-end tests
# ----------------------------------------------------------------------------------------------
SYNTH_ITERS = 200


def target_box(scene: Path, grow: float = 0.01):
    """(lo, hi) of a synthetic scene's target part's box (ground_truth.json), grown by ``grow`` metres."""
    import json

    import numpy as np

    gt = json.loads((Path(scene) / "ground_truth.json").read_text())
    return np.asarray(gt["bbox_min"], float) - grow, np.asarray(gt["bbox_max"], float) + grow


def inside(point, box) -> bool:
    """Is ``point`` inside the box ``(lo, hi)``?"""
    import numpy as np

    return bool(np.all(np.asarray(point) >= box[0]) and np.all(np.asarray(point) <= box[1]))


def run_tool(cmd, cwd, timeout=600, **kw):
    """Run a command line tool; fail the test with its output tail when it exits non-zero."""
    import subprocess

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    assert p.returncode == 0, f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def ns_train(args, cwd, env=None):
    """``ns-train ARGS`` in this process: what nerfstudio's console script runs (tyro's parse of the method
    registry, point2act's entry point included, then ``nerfstudio.scripts.train.main``), without a Python start
    and nerfstudio's import (about 8 s a process on the 2-core machine). ``env``: variables set for the call.
    Returns a ``CompletedProcess`` with what it printed (nerfstudio's and point2act's console write to
    ``sys.stdout``); an error propagates as the exception. The subprocess tests of the terminal (the
    excepthook's one paragraph, a SIGKILL) start the real console script instead."""
    import contextlib
    import io
    import subprocess
    import warnings

    import tyro

    from point2act._nerfstudio import light_import

    with light_import():
        from nerfstudio.configs.method_configs import AnnotatedBaseConfigUnion
        from nerfstudio.scripts import train

    args = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with warnings.catch_warnings():  # tyro on nerfstudio's annotations, as a process prints it to stderr
                warnings.filterwarnings("ignore", category=UserWarning, module="tyro")
                config = tyro.cli(AnnotatedBaseConfigUnion, args=args)
            train.main(config)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["ns-train", *args], 0, out.getvalue(), err.getvalue())


def point2act_cli(args, cwd):
    """``point2act ARGS`` through the CLI's entry point (``point2act.cli.entrypoint``, what the console script
    runs) in this process, in ``cwd``: for tests of what a command writes, not of the process (the subprocess
    tests start the console script). Returns a ``CompletedProcess`` with what it printed; an exit with an error
    fails the test with that output."""
    import contextlib
    import io
    import subprocess

    from point2act.cli import entrypoint

    args = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            entrypoint(args)
        except SystemExit as e:
            code = e.code
    assert code in (0, None), f"point2act {args[0]} exited {code}:\n{out.getvalue()[-3000:]}\n{err.getvalue()[-3000:]}"
    return subprocess.CompletedProcess(["point2act", *args], 0, out.getvalue(), err.getvalue())


def judge_grasps(grasps, gripper, points, labels, target, table_z=None):
    """:func:`point2act.grasp.evaluate.judge_grasp` of each grasp."""
    from point2act.grasp.evaluate import GroundTruth, judge_grasp

    return [judge_grasp(g, gripper, GroundTruth(points, labels, table_z=table_z), target) for g in grasps]


def synth_train_args(scene: Path, output_dir: Path, name: str, *supervision) -> list:
    """The options of the shared run's ``ns-train point2act`` (:func:`trained_synth`) on ``scene`` with the
    ``supervision`` options (a points file, or a prompt and a pointer), into OUTPUT_DIR/NAME/point2act/run."""
    return [
        "point2act",
        "--data", str(scene),
        *[str(a) for a in supervision],
        "--max-num-iterations", str(SYNTH_ITERS),
        "--steps-per-save", str(SYNTH_ITERS),
        "--vis", "tensorboard",
        "--output-dir", str(output_dir),
        "--experiment-name", name,
        "--timestamp", "run",
        "--pipeline.model.num-downscales", "0",
        "--pipeline.model.warmup-length", "100",
    ]


@pytest.fixture(scope="session")
def trained_synth(tmp_path_factory):
    """``ns-train point2act`` (in-process: :func:`ns_train`, CPU, 200 iterations) on the seed-0 synthetic scene
    with the oracle's points on the mug handle: (root, scene, config.yml, completed process). Trained once per
    pytest run (per xdist worker: its tests share the ``trained_synth`` group), for every test file that asks
    for it."""
    from point2act.synth import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp("e2e")
    scene = root / "scene"
    generate_scene(scene, SynthConfig(seed=0))
    p = ns_train(synth_train_args(scene, root / "outputs", "synth",
                                  "--pipeline.datamanager.points-file", scene / "points/oracle.json"), cwd=root)
    config = root / "outputs/synth/point2act/run/config.yml"
    assert config.is_file(), p.stdout[-2000:]
    return root, scene, config, p


@pytest.fixture(scope="session")
def synth_export(trained_synth):
    """``point2act export`` of the shared run with its defaults (a subprocess, OMP_NUM_THREADS=1), into
    ROOT/grasps.json: (grasps.json, completed process). The end-to-end export test judges it, the
    thread-count test compares other exports with it and the viewer's Export must write the same bytes."""
    import subprocess
    import sys

    root, _scene, config, _p = trained_synth
    out = root / "grasps.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [str(Path(sys.executable).parent / "point2act"), "export", "--load-config", str(config), "--output", str(out)]
    p = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, f"point2act export failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return out, p


def build_trainer(scene: Path, out: Path, steps: int, stop_at_convergence: bool = True, fine_stage: bool = True):
    """A point2act trainer set up in this process on a ``point2act synth`` scene and its oracle answers: ``steps``
    steps, no mid-run checkpoint or evaluation, the seeds fixed (``stop_at_convergence``: the trainer config's;
    ``fine_stage``: the model config's)."""
    import random

    import numpy as np
    import torch

    from point2act.method.train import registered_config

    config = registered_config("point2act")
    config.output_dir = out
    config.vis = "tensorboard"
    config.max_num_iterations = steps
    config.stop_at_convergence = stop_at_convergence
    config.pipeline.model.fine_stage = fine_stage
    config.steps_per_save = 10**9
    config.steps_per_eval_image = config.steps_per_eval_batch = config.steps_per_eval_all_images = 10**9
    dm = config.pipeline.datamanager
    dm.data = dm.dataparser.data = scene
    dm.points_file = scene / "points" / "oracle.json"
    config.set_timestamp()
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    return trainer


# -- the bad-input corpus (tests/e2e/test_bad_inputs*.py) ------------------------------------------
@pytest.fixture(scope="session")
def base_scene(tmp_path_factory) -> Path:
    """The bad-input corpus's tiny synthetic capture (tests/badinputs.py), made once per session."""
    import badinputs as bi

    return bi.make_base_scene(tmp_path_factory.mktemp("badinputs") / "scene")


@pytest.fixture
def fresh(tmp_path, base_scene):
    """(tmp_path, a copy of :func:`base_scene` in it) per test: a case may damage its capture."""
    import badinputs as bi

    return tmp_path, bi.copy_scene(base_scene, tmp_path)
