"""The same run and options give a byte-identical grasps.json whatever the thread count and the machine's
load: ``point2act export`` (and ``point2act query``'s channel export) of the shared trained run (``trained_synth``) in
subprocesses under OMP_NUM_THREADS=1 (the shared ``synth_export``), 2 and 4, and under 2 threads beside busy
processes. The kernels' own thread-count tests: tests/test_reproducible.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _run(cmd, threads: int, cwd: Path):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, f"{cmd[1]} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


class _Hog:
    """Busy processes (one per core) for the length of a ``with`` block."""

    def __enter__(self):
        n = max(2, os.cpu_count() or 2)
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def test_export_same_bytes_under_any_thread_count_and_load(trained_synth, synth_export, tmp_path):
    root, _scene, config, _ = trained_synth
    cmd = [str(BIN / "point2act"), "export", "--load-config", str(config), "--output"]
    outs = {"1 threads": synth_export[0]}  # the shared export (tests/conftest.py): OMP_NUM_THREADS=1
    for threads in (2, 4):
        out = tmp_path / f"t{threads}" / "grasps.json"
        out.parent.mkdir()
        _run(cmd + [str(out)], threads, root)
        outs[f"{threads} threads"] = out
    out = tmp_path / "load" / "grasps.json"
    out.parent.mkdir()
    with _Hog():
        _run(cmd + [str(out)], 2, root)
    outs["2 threads under load"] = out
    first = outs["1 threads"].read_bytes()
    doc = json.loads(first)
    assert doc["grasps"] and "confidence" in doc and "timings_ms" not in doc  # a full export, timings beside it
    for what, path in outs.items():
        assert path.read_bytes() == first, what
        assert (path.parent / "grasps.timings.json").is_file()


def test_query_channel_same_bytes_under_any_thread_count(trained_synth, tmp_path):
    """The refit (a fused kernel over the compositing weights, torch sums of long views) and its export."""
    import numpy as np

    from point2act.channels import channels_dir, load_channel

    root, scene, config, _ = trained_synth
    name = "reproducible"
    cmd = [str(BIN / "point2act"), "query", "--load-config", str(config), "--points-file",
           str(scene / "points" / "oracle.json"), "--name", name, "--output"]
    try:
        outs, logits = [], []
        for threads in (1, 2):
            out = tmp_path / f"grasps_{name}_{threads}.json"
            _run(cmd + [str(out)], threads, root)
            outs.append(out.read_bytes())
            logits.append(load_channel(config, name)["logits"])
        assert json.loads(outs[0])["keypoints"][name]["action_point"]
        assert np.array_equal(logits[1], logits[0])
        assert outs[1] == outs[0]
    finally:
        (channels_dir(config) / f"{name}.npz").unlink(missing_ok=True)
