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


@pytest.fixture(scope="session")
def trained_synth(tmp_path_factory):
    """``ns-train point2act`` (subprocess, CPU, 200 iterations) on the seed-0 synthetic scene with
    the oracle's points on the mug handle: (root, scene, config.yml, completed process). Trained once
    once per pytest run, for every test file that asks for it."""
    import sys

    from point2act.synth import SynthConfig, generate_scene

    bin_dir = Path(sys.executable).parent
    root = tmp_path_factory.mktemp("e2e")
    scene = root / "scene"
    generate_scene(scene, SynthConfig(seed=0))
    cmd = [
        str(bin_dir / "ns-train"), "point2act",
        "--data", str(scene),
        "--pipeline.datamanager.points-file", str(scene / "points/oracle.json"),
        "--max-num-iterations", str(SYNTH_ITERS),
        "--steps-per-save", str(SYNTH_ITERS),
        "--vis", "tensorboard",
        "--output-dir", str(root / "outputs"),
        "--experiment-name", "synth",
        "--timestamp", "run",
        "--pipeline.model.num-downscales", "0",
        "--pipeline.model.warmup-length", "100",
    ]
    p = run_tool(cmd, cwd=root)
    config = root / "outputs/synth/point2act/run/config.yml"
    assert config.is_file(), p.stdout[-2000:]
    return root, scene, config, p
