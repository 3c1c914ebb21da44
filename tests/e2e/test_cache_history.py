"""One export answer whatever the run cache's history (issue 84): a capture whose stored images are twice the
size nerfstudio trains at (``images_2/`` beside them, ``nerfstudio-data --downscale-factor 2``), where
nerfstudio's inference load (``eval_setup``) parses its cameras at the stored size and the training datamanager
at half of it. The export written at the end of training, after a ``touch`` of the run's files (nothing rebuilt),
after the cache is deleted, after a newer checkpoint makes it stale and after an export killed (SIGKILL) while it
writes the cache are the same bytes; the fusion views are rendered at one size."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ns_train

BIN = Path(sys.executable).parent
ITERS = 150
SIZE = (336, 252)
"""The training images' size: over the fusion views' pixel budget (320 x 240), so that the stored size (672 x 504)
renders the fusion views at another size than it (168 x 126 against 224 x 168) unless both see the same cameras."""

_KILLED = """
import os, signal, sys
import numpy as np
real, calls = np.lib.format.write_array, []
def dying(fh, arr, **kw):
    calls.append(1)
    if len(calls) == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)  # in the middle of a cache section's members
    return real(fh, arr, **kw)
np.lib.format.write_array = dying
from point2act.cli import entrypoint
entrypoint(sys.argv[1:])
"""


def _halved_capture(scene: Path, out: Path) -> Path:
    """``scene`` (a ``point2act synth`` capture) as a capture stored at twice its size, its own images as
    ``images_2/`` (what ``--downscale-factor 2`` reads), the points file in stored pixels."""
    from PIL import Image

    out.mkdir(parents=True)
    t = json.loads((scene / "transforms.json").read_text())
    for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
        t[k] = t[k] * 2
    (out / "images").mkdir()
    (out / "images_2").mkdir()
    for f in t["frames"]:
        src = scene / f["file_path"]
        shutil.copy(src, out / "images_2" / src.name)
        with Image.open(src) as im:
            im.resize((im.width * 2, im.height * 2), Image.Resampling.BICUBIC).save(out / "images" / src.name)
        for k in ("true_depth_path", "part_mask_path"):
            f.pop(k, None)
    shutil.copy(scene / t["ply_file_path"], out / t["ply_file_path"])
    (out / "transforms.json").write_text(json.dumps(t, indent=1))
    pf = json.loads((scene / "points" / "oracle.json").read_text())
    pf["points"] = {k: [[2 * x, 2 * y] for x, y in v] for k, v in pf["points"].items()}
    (out / "points").mkdir()
    (out / "points" / "oracle.json").write_text(json.dumps(pf))
    return out


@pytest.fixture(scope="module")
def halved(tmp_path_factory) -> Path:
    from point2act.synth import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp("halved")
    generate_scene(root / "scene", SynthConfig(seed=0, num_views=12, width=SIZE[0], height=SIZE[1]))
    return _halved_capture(root / "scene", root / "capture")


def _datamanager(data: Path, test_mode: str):
    import copy

    from nerfstudio.configs.method_configs import all_methods

    cfg = copy.deepcopy(all_methods["point2act"].pipeline.datamanager)
    cfg.data = data
    cfg.dataparser.downscale_factor = 2
    return cfg.setup(device="cpu", test_mode=test_mode)


def test_a_training_datamanager_gives_the_inference_loads_cameras(halved):
    """The run layer's cameras of a training datamanager (``parser_cameras``, what ``LoadedRun.of_pipeline``
    reads) are those of the inference datamanager ``eval_setup`` builds (the run's info), at the stored size."""
    from point2act.method.run_layer import camera_views

    train, inference = _datamanager(halved, "val"), _datamanager(halved, "inference")
    assert int(train.train_dataparser_outputs.cameras.width[0]) == SIZE[0]  # nerfstudio's own: at 1/2
    a, b = camera_views(train.parser_cameras), camera_views(inference.train_dataparser_outputs.cameras)
    assert torch_equal(a[0], b[0]) and torch_equal(a[1], b[1]) and a[2] == b[2]
    assert a[2][0] == (2 * SIZE[1], 2 * SIZE[0])


def torch_equal(x, y) -> bool:
    import torch

    return bool(torch.equal(x, y))


@pytest.fixture(scope="module")
def halved_run(halved, tmp_path_factory):
    root = tmp_path_factory.mktemp("halved_run")
    ns_train(["point2act", "--data", halved, "--pipeline.datamanager.points-file", halved / "points" / "oracle.json",
              "--max-num-iterations", ITERS, "--steps-per-save", ITERS, "--vis", "tensorboard",
              "--output-dir", root / "outputs", "--experiment-name", "halved", "--timestamp", "run",
              "--pipeline.model.num-downscales", "0", "--pipeline.model.warmup-length", "100",
              "nerfstudio-data", "--downscale-factor", "2"], cwd=root)
    config = root / "outputs/halved/point2act/run/config.yml"
    assert config.is_file()
    return root, config


def _export(config: Path, out: Path, cwd: Path, script: str | None = None, **env) -> subprocess.CompletedProcess:
    cmd = ([sys.executable, "-c", script] if script else [str(BIN / "point2act")]) + [
        "export", "--load-config", str(config), "--output", str(out)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **env))


def _exported(config: Path, out: Path, cwd: Path) -> bytes:
    p = _export(config, out, cwd)
    assert p.returncode == 0, f"export failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return out.read_bytes()


def _fusion_sizes(config: Path):
    from point2act.export import cached_inputs as ec

    cached = ec.load(config)
    assert cached is not None and cached.inputs.depth_views is not None
    return cached.inputs.depth_views.depths.shape


def _stat(path: Path):
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


@pytest.mark.slow
def test_the_same_export_whatever_the_caches_history(halved, halved_run, tmp_path):
    from point2act import cache_file
    from point2act.io import TMP_SUFFIX
    from point2act.checks.trained_run import latest_checkpoint_path

    root, config = halved_run
    cache = cache_file.cache_path(config)
    assert cache_file.is_current(config)  # written by training
    shape = _fusion_sizes(config)
    assert shape[1:] == (168, 224), shape  # the stored 672 x 504, by 3: the inference load's cameras
    first = _exported(config, tmp_path / "trained.json", root)
    doc = json.loads(first)
    assert doc["action_point"] and doc["grasps"]

    # touched, the same bytes: nothing rebuilt
    before = _stat(cache)
    ckpt = latest_checkpoint_path(config.parent / "nerfstudio_models")
    for f in (halved / "points" / "oracle.json", halved / "transforms.json", config, ckpt):
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns + 10**9, st.st_mtime_ns + 10**9))
    assert _exported(config, tmp_path / "touched.json", root) == first
    assert _stat(cache) == before

    # deleted: rebuilt from the checkpoint (nerfstudio's inference load)
    cache.unlink()
    assert _exported(config, tmp_path / "deleted.json", root) == first
    assert _fusion_sizes(config) == shape

    # stale: a newer checkpoint (the same weights) is another key
    newer = ckpt.with_name(f"step-{int(ckpt.stem.split('-')[-1]) + 1:09d}.ckpt")
    shutil.copy2(ckpt, newer)
    assert not cache_file.is_current(config)
    assert _exported(config, tmp_path / "rebuilt.json", root) == first
    newer.unlink()

    # killed in the middle of its first cache write: the (stale) file as it was, then the next export as the others
    assert not cache_file.is_current(config)
    before = _stat(cache)
    p = _export(config, tmp_path / "killed.json", root, script=_KILLED, KILL_AT="2")
    assert p.returncode == -signal.SIGKILL, p.stdout[-2000:] + p.stderr[-2000:]
    assert list(cache.parent.glob(f".{cache.name}.*{TMP_SUFFIX}"))  # it died before its rename
    assert _stat(cache) == before and not (tmp_path / "killed.json").exists()
    assert _exported(config, tmp_path / "after_kill.json", root) == first
    assert not list(cache.parent.glob(f"*{TMP_SUFFIX}"))  # the killed writer's file removed
    assert cache_file.is_current(config) and _fusion_sizes(config) == shape
