"""``point2act export`` of a run's own field reads the export section of the run's cache
(:mod:`point2act.export.cached_inputs`) that the export before it wrote: no torch, no nerfstudio, the same bytes. A
changed input file (a newer checkpoint) makes it stale: that export goes the torch way and writes it again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_NO_TORCH = """
import sys
from point2act.cli import entrypoint
entrypoint(sys.argv[1:])
heavy = sorted(m for m in ("torch", "nerfstudio", "gsplat") if m in sys.modules)
assert not heavy, f"imported {heavy}"
"""


def _export_in_subprocess(config: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    p = subprocess.run([sys.executable, "-c", _NO_TORCH, "export", "--load-config", str(config), "--output", str(out)],
                       cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, f"export failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def test_export_from_inputs_is_the_same_document_without_torch(trained_synth, synth_export, tmp_path):
    from point2act.export import cached_inputs as ec
    from point2act.grasp import GraspConfig

    root, _scene, config, _ = trained_synth
    from point2act.export.request import ExportRequest

    served = ec.serving(config, lambda c: ExportRequest(GraspConfig()))  # the shared export (or one before) wrote them
    assert served is not None
    cached = served[1]
    assert cached.inputs.field.views and cached.inputs.depth_views is not None
    out = tmp_path / "grasps.json"
    _export_in_subprocess(config, out, root)
    assert out.read_bytes() == synth_export[0].read_bytes()


def test_a_newer_checkpoint_makes_the_inputs_stale(trained_synth, synth_export, tmp_path):
    """A touch of the checkpoint (its bytes unchanged) keeps the inputs; a newer checkpoint (a resumed training's
    save) makes them stale: that export goes the torch way, gives the same bytes and writes them again. The shared
    run is left as it was (the copy removed, its cache put back)."""
    import shutil

    from conftest import point2act_cli

    from point2act import cache_file
    from point2act.export import cached_inputs as ec
    from point2act.checks.trained_run import latest_checkpoint_path

    root, _scene, config, _ = trained_synth
    before = cache_file.stored_key(config)
    assert ec.load(config) is not None
    ckpt = latest_checkpoint_path(config.parent / "nerfstudio_models")
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: the same bytes
    assert ec.load(config) is not None and cache_file.stored_key(config) == before
    cache = cache_file.cache_path(config)
    saved = tmp_path / "saved.npz"
    shutil.copy2(cache, saved)
    step = int(ckpt.stem.split("-")[-1])
    newer = ckpt.with_name(f"step-{step + 1:09d}.ckpt")
    try:
        shutil.copy2(ckpt, newer)  # as a resumed training's save would
        assert ec.load(config) is None  # stale
        out = tmp_path / "grasps.json"
        point2act_cli(["export", "--load-config", config, "--output", out], cwd=root)  # the torch way
        assert out.read_bytes() == synth_export[0].read_bytes()
        assert ec.load(config) is not None and cache_file.stored_key(config) != before
    finally:
        newer.unlink(missing_ok=True)
        os.replace(saved, cache)
    assert ec.load(config) is not None and cache_file.stored_key(config) == before


def test_weights_the_caller_has_are_taken_for_the_same_views_only(trained_synth, monkeypatch):
    """The end-of-training fit's compositing weights serve the export inputs' views (the same Gaussians, views,
    resolution and weight floor); weights of other views or another resolution are built anew."""
    from point2act.method import supervision as sup_mod
    from point2act.method.run_layer import open_run

    _root, _scene, config, _ = trained_synth
    loaded = open_run(config)
    cams = loaded.cameras
    mine, _, _ = sup_mod.weights_cache_of(loaded.gaussians, cams, 2, min_weight=1e-3)
    calls = []
    real = sup_mod.build_weights_cache
    monkeypatch.setattr(sup_mod, "build_weights_cache", lambda *a, **k: calls.append(1) or real(*a, **k))
    same, _, _ = sup_mod.weights_cache_of(loaded.gaussians, cams, 2, min_weight=1e-3, built=mine)
    assert same is mine and not calls
    for ds, floor in ((4, 1e-3), (2, 1e-2)):
        other, _, _ = sup_mod.weights_cache_of(loaded.gaussians, cams, ds, min_weight=floor, built=mine)
        assert other is not mine
    assert len(calls) == 2
    sub = sup_mod.weights_cache_of(loaded.gaussians, cams[:3], 2, min_weight=1e-3, built=mine)[0]  # three views
    assert sub is not mine and len(sub.view_ids) == 3
