"""Side by side runs, kills and full disks (issue 84; the benchmark with timings: ``python -m benchmarks.faults``).
Outcomes only, never times:

- two runs started in the same second get run folders of their own (nerfstudio names them by the second);
- two first-time builds of the small pybind11 extension at once: both load, one compiled;
- a SIGKILL while an export writes the run's cache, then the next export writes the same grasps.json;
- a full disk (``RLIMIT_FSIZE``) during an export: exit 2, one paragraph naming grasps.json and the bytes it needs,
  no traceback, the earlier grasps.json unchanged;
- two ``ns-train point2act`` at once on one capture: both finish in folders of their own, with the same grasps.json.

The export tests work on a copy of the shared trained run (``trained_synth``), so that the run the other tests
read is never killed in a write.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.faults.common import comparable, config_of, export_cmd, train_cmd, wait_for
from benchmarks.faults.kills import fsize_limit

BIN = Path(sys.executable).parent


def _env(**over):
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **over}


def test_two_runs_started_in_one_second_get_their_own_folders(tmp_path, monkeypatch):
    from datetime import datetime

    from nerfstudio.configs import experiment_config

    from point2act.method.train import registered_config

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(experiment_config, "datetime", Frozen)
    dirs = []
    for _ in range(3):
        config = registered_config("point2act")
        config.output_dir = tmp_path
        config.experiment_name = "scene"
        config.set_timestamp()
        dirs.append(config.get_base_dir())
    assert [d.name for d in dirs] == ["2026-01-02_030405", "2026-01-02_030405-1", "2026-01-02_030405-2"]
    assert all(d.is_dir() for d in dirs)
    config = registered_config("point2act")
    config.output_dir, config.experiment_name, config.timestamp = tmp_path, "scene", "mine"
    config.set_timestamp()  # a timestamp given on the command line is kept
    assert config.timestamp == "mine"


@pytest.mark.slow
def test_two_first_time_builds_at_once_both_load(tmp_path):
    env = _env(TORCH_EXTENSIONS_DIR=str(tmp_path / "ext"))
    code = "from point2act.grasp import _kernel; assert _kernel.load_extension() is not None; print('loaded')"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all("loaded" in o[0] for o in outs)
    assert sum("building" in o[1] for o in outs) == 1  # one compiled, the other waited for its build
    assert not list((tmp_path / "ext").rglob(".build-*"))  # no half-built folder left


def _copy_run(config: Path, root: Path) -> Path:
    """A copy of a trained run under ``root`` (its config.yml's output_dir pointed at the copy): its config.yml."""
    import yaml

    run = config.parent
    dest = root / "outputs" / run.parent.parent.name / run.parent.name / run.name
    shutil.copytree(run, dest)
    cfg = yaml.load(config.read_text(), Loader=yaml.Loader)
    cfg.output_dir = root / "outputs"
    (dest / "config.yml").write_text(yaml.dump(cfg))
    return dest / "config.yml"


@pytest.fixture
def run_copy(trained_synth, synth_export, tmp_path):
    """A copy of the shared run without its run cache (so that an export writes it), and the shared export."""
    config = _copy_run(trained_synth[2], tmp_path)
    for f in config.parent.glob("point2act_cache.npz"):
        f.unlink()
    return config, synth_export[0]


@pytest.mark.slow
def test_kill_while_an_export_writes_the_cache_then_the_same_grasps(run_copy, tmp_path):
    config, expected = run_copy
    out = tmp_path / "grasps.json"
    p = subprocess.Popen(export_cmd(config, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        hit = wait_for(lambda: any(config.parent.glob(".point2act_cache.npz.*.tmp")), 300, p, every=0.002)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
    assert hit, "the export never wrote the run cache"
    assert not out.exists()
    p = subprocess.run(export_cmd(config, out), env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert comparable(json.loads(out.read_text())) == comparable(json.loads(expected.read_text()))
    assert not list(config.parent.glob(".*.tmp"))  # the killed write's temporary file is gone


@pytest.mark.slow
def test_full_disk_during_an_export_is_one_paragraph_and_keeps_the_earlier_file(trained_synth, synth_export, tmp_path):
    config, expected = _copy_run(trained_synth[2], tmp_path), synth_export[0]
    caches = {f: f.read_bytes() for f in config.parent.glob("point2act_cache.npz")}
    out = tmp_path / "grasps.json"
    out.write_text("{\"earlier\": true}\n")
    limit = len(expected.read_bytes()) // 2
    p = subprocess.run(export_cmd(config, out), env=_env(), capture_output=True, text=True, timeout=600,
                       preexec_fn=fsize_limit(limit))
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("point2act: error:")]
    assert len(lines) == 1, p.stderr[-3000:]
    # grasps.json, or the run's cache where the export writes it first (the copy's may be rewritten)
    named = lines[0].split(": could not write the file")[0].removeprefix("point2act: error: ")
    assert named in (str(out), str(config.parent / "point2act_cache.npz")), lines[0]
    assert "it needs" in lines[0] and "bytes" in lines[0] and "free" in lines[0]
    assert out.read_text() == "{\"earlier\": true}\n"
    assert all(f.read_bytes() == b for f, b in caches.items())
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.slow
def test_two_trainings_on_one_capture_at_once_get_their_own_folders_and_the_same_grasps(tmp_path):
    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=0, num_views=8, width=96, height=72, num_seed_points=1500))
    out = tmp_path / "outputs"
    env = _env(POINT2ACT_CACHE=str(tmp_path / "cache" / "answers"))
    cmd = train_cmd(scene, out, 60, timestamp=None)  # nerfstudio's timestamp: the same second, most likely
    procs = [subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [log[-2000:] for log in logs]
    configs = config_of(out)
    assert len(configs) == 2, [str(c) for c in configs]
    docs = []
    for i, c in enumerate(configs):
        g = tmp_path / f"grasps-{i}.json"
        p = subprocess.run(export_cmd(c, g), env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        docs.append(comparable(json.loads(g.read_text())))
    assert docs[0] == docs[1]
