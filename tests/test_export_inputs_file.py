"""``RUN/export_inputs.npz`` (:mod:`point2act.export_inputs`): what it holds reads back equal, and it is
current only while every file it was computed from is unchanged. The export that reads it:
tests/e2e/test_export_inputs.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from point2act import export_inputs as ei
from point2act.fusion import DepthViews
from point2act.grasp import GraspConfig
from point2act.grasp.consensus import ViewAnswers


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "nerfstudio_models").mkdir(parents=True)
    for name in ("config.yml", "dataparser_transforms.json", "points.json", "nerfstudio_models/step-000000099.ckpt"):
        (run / name).write_text(name)
    return run / "config.yml"


def _inputs(config: Path, rng, views: bool = True, depth: bool = True, rel: bool = True) -> ei.ExportInputs:
    n = 50
    arrays = {"means": rng.normal(size=(n, 3)), "opacities": rng.random(n), "scales": rng.random((n, 3)),
              "relevancy": rng.random(n)}
    va = None
    if views:
        va = [ViewAnswers(rng.normal(size=(4, 4)), rng.normal(size=(3, 3)), rng.random((k, 2)) * 10, 2.5 + k,
                          rng.random((6 + k, 8)).astype(np.float32), view_id=k, split="eval" if k == 2 else "train")
              for k in range(3)]
        va[1].depth[0, 0] = np.nan
    dv = None
    if depth:
        d = rng.random((2, 5, 7)).astype(np.float32)
        dv = DepthViews(d, d * 0.5, rng.random((2, 3, 3)), rng.random((2, 4, 4)), 12.5,
                        d * 0.25 if rel else None, np.full_like(d, np.inf))
    ckpt = config.parent / "nerfstudio_models/step-000000099.ckpt"
    key = [ei.file_stamp(f) for f in ei.input_files(config, ckpt, None, None)]
    return ei.ExportInputs(arrays, rng.normal(size=(4, 3)), "the handle", "a note", None, va,
                           "" if views else "no answers", 2, dv, key)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (ViewAnswers, DepthViews)):
        return all(_same(getattr(a, f), getattr(b, f)) for f in vars(a) if f != "K_inv")
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and a and not isinstance(a[0], (str, int)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("views,depth,rel", [(True, True, True), (False, True, False), (True, False, True)])
def test_inputs_read_back_equal(tmp_path, views, depth, rel):
    config = _run(tmp_path)
    inputs = _inputs(config, np.random.default_rng(0), views, depth, rel)
    ei.save(config, inputs)
    back = ei.load(config)
    for field in vars(inputs):
        assert _same(getattr(inputs, field), getattr(back, field)), field


def test_inputs_are_current_until_an_input_changes(tmp_path):
    config = _run(tmp_path)
    ei.save(config, _inputs(config, np.random.default_rng(1)))
    cfg = GraspConfig()
    cfg.region.support_downscale = 2
    inputs = ei.load(config)
    assert ei.is_current(config, inputs, cfg)
    other = GraspConfig()
    other.region.support_downscale = 1  # views at another resolution than the config asks for
    assert not ei.is_current(config, inputs, other)
    (config.parent / "nerfstudio_models/step-000000199.ckpt").write_text("newer")  # a resumed training's save
    assert not ei.is_current(config, inputs, cfg)
    os.remove(config.parent / "nerfstudio_models/step-000000199.ckpt")
    assert ei.is_current(config, inputs, cfg)
    (config.parent / "points.json").write_text("other answers")
    assert not ei.is_current(config, inputs, cfg)


def test_inputs_without_depth_renders_serve_no_fused_export(tmp_path):
    config = _run(tmp_path)
    ei.save(config, _inputs(config, np.random.default_rng(2), depth=False))
    inputs = ei.load(config)
    cfg = GraspConfig()
    cfg.region.support_downscale = 2
    assert not ei.is_current(config, inputs, cfg)
    assert ei.is_current(config, inputs, cfg, grasps=False)
    cfg.surface.fuse_depth = False
    assert ei.is_current(config, inputs, cfg)


def test_unreadable_or_other_version_is_not_read(tmp_path, monkeypatch):
    config = _run(tmp_path)
    ei.inputs_path(config).write_bytes(b"not a zip")
    assert ei.load(config) is None
    ei.save(config, _inputs(config, np.random.default_rng(3)))
    whole = ei.inputs_path(config).read_bytes()
    for n in (10, len(whole) // 2, len(whole) - 10):  # a copy cut short
        ei.inputs_path(config).write_bytes(whole[:n])
        assert ei.load(config) is None
    ei.inputs_path(config).write_bytes(whole)
    assert ei.load(config) is not None
    monkeypatch.setattr(ei, "INPUTS_VERSION", ei.INPUTS_VERSION + 1)
    assert ei.load(config) is None


@pytest.mark.parametrize("option", [{"channels": "grasp"}, {"grasp_channel": "grasp"}, {"ply": Path("x.ply")},
                                    {"handover_direction": (1.0, 0.0, 0.0)}])
def test_options_that_need_the_run_skip_the_inputs(tmp_path, option):
    from point2act.cli import Export

    config = _run(tmp_path)
    ei.save(config, _inputs(config, np.random.default_rng(4)))
    assert Export(load_config=config, **option)._from_inputs() is None
