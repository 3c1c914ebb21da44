"""The run's info (its cache's info section) on the shared trained run (tests/conftest.py ``trained_synth``):
written at the end of ``ns-train``; ``point2act export`` and ``query`` read the run from it (no nerfstudio pipeline, no
image decoded) and give what the nerfstudio way gives: the same Gaussians, cameras, heatmaps and the
same grasps.json (timings aside)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow


def _the_nerfstudio_way(monkeypatch):
    """export/query without run_info.pt: nerfstudio's eval_setup and the supervision datamanager."""
    from point2act.method import run_layer as mrun
    from point2act.method import supervision as msup
    from point2act.method.run_data import Supervision

    monkeypatch.setattr(mrun, "open_run", lambda cp: mrun.run_of(*mrun.load_run(cp)))
    monkeypatch.setattr(msup, "supervision_of", lambda _cp, run, pf=None, prompt="", pointer=None:
                        Supervision.of_datamanager(msup.supervision_datamanager(run.config, pf, prompt, pointer)))


def test_written_by_training_and_read_without_nerfstudio(trained_synth):
    import subprocess
    import sys

    from point2act import cache_file
    from point2act.method import datamanager_info

    _root, _scene, config, p = trained_synth
    assert datamanager_info.SECTION in cache_file.sections(config), p.stdout[-2000:]
    info = datamanager_info.read_info(config)
    assert info is not None and {"inference", "train"} <= set(info)
    code = ("import sys; from point2act.method.run_layer import open_run; "
            f"r = open_run({str(config)!r}); assert r.info is not None and r.config is None; "
            "bad = [m for m in sys.modules if m.startswith('nerfstudio')]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_run_from_info_equals_the_loaded_one(trained_synth):
    from point2act.method import run_layer as mrun
    from point2act.method import supervision as msup
    from point2act.method.run_data import Supervision
    from point2act.method.datamanager_info import read_info
    from point2act.method.viewcameras import cameras_from_fields

    _root, scene, config, _ = trained_synth
    oc, op = mrun.load_run(config)
    old_run, new_run = mrun.run_of(oc, op), mrun.open_run(config)
    assert new_run.info is not None and new_run.config is None and old_run.config is oc
    go, gn = mrun.gaussian_tensors(op.model), mrun.gaussian_tensors(new_run.gaussians)
    assert all(torch.equal(go[k], gn[k]) for k in go)
    assert torch.equal(op.model.colors, new_run.gaussians.colors())
    assert torch.equal(op.model.colors, old_run.gaussians.colors())
    assert old_run.gaussians.rasterize_mode == new_run.gaussians.rasterize_mode
    for f in ("base_dir", "checkpoint_dir", "points_file", "prompt", "task", "data"):
        assert getattr(old_run, f) == getattr(new_run, f), f
    info = read_info(config)
    for a, b in ((op.datamanager.train_dataparser_outputs.cameras, new_run.cameras),
                 (op.datamanager.train_dataset.cameras, cameras_from_fields(info["inference"]["dataset_cameras"]))):
        x, y = mrun.camera_views(a), mrun.camera_views(b)
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2]
    assert mrun.run_prompt(op.datamanager) == new_run.task
    assert mrun.latest_checkpoint(old_run) == mrun.latest_checkpoint(new_run)
    pf = scene / "points" / "oracle.json"
    old = Supervision.of_datamanager(msup.supervision_datamanager(oc, pf))
    new = msup.supervision_of(config, new_run, pf)
    ho, hn = old.heatmaps, new.heatmaps
    assert sorted(ho) == sorted(hn) and ho.sizes == hn.sizes and ho.sigma_frac == hn.sigma_frac
    assert all(np.array_equal(ho.points[k], hn.points[k]) and torch.equal(ho[k], hn[k]) for k in ho)
    for ds in (1, 2):
        x = mrun.camera_views(old.cameras, ds, op.model)
        y = mrun.camera_views(new.cameras, ds, new_run.gaussians)
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2]
    assert old.prompt == new.prompt and old.points.to_dict() == new.points.to_dict()
    assert (old.eval_heatmaps is None) == (new.eval_heatmaps is None)
    if old.eval_heatmaps is not None:
        eo, en = old.eval_heatmaps, new.eval_heatmaps
        assert sorted(eo) == sorted(en) and eo.sizes == en.sizes
        assert all(np.array_equal(eo.points[k], en.points[k]) for k in eo)
    # the nerfstudio config as a caller holds it (after load_run) matches the info too: no image decoded
    from point2act.method import datamanager_info

    assert datamanager_info.supervision_from_info(config, old_run, pf) is not None


def test_export_is_the_same_document(trained_synth, tmp_path, monkeypatch):
    from point2act.cli import entrypoint

    _root, _scene, config, _ = trained_synth
    new = tmp_path / "new.json"
    entrypoint(["export", "--load-config", str(config), "--output", str(new)])
    with monkeypatch.context() as m:
        _the_nerfstudio_way(m)
        m.setenv("POINT2ACT_NO_RUN_INFO", "1")
        old = tmp_path / "old.json"
        entrypoint(["export", "--load-config", str(config), "--output", str(old)])
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    assert a["grasps"] and "action_point" in a
    # the grasp head's candidate set can differ at float level between two exports in one process (the fused
    # surface's order, BLAS on unaligned arrays): what the run's loading decides must be the same to the bit
    head = ("timings_ms", "grasps", "warning", "num_candidates", "num_on_target_candidates", "grasp_fallback")
    assert {k: v for k, v in a.items() if k not in head} == {k: v for k, v in b.items() if k not in head}
    assert bool(a["grasps"]) == bool(b["grasps"])


def _copy_without_cache(config: Path, tmp_path: Path) -> Path:
    """A copy of the run at ``config`` under ``tmp_path``, without its cache, channels and exports: its config.yml."""
    import yaml

    from point2act import cache_file

    cfg = yaml.load(config.read_text(), Loader=yaml.Loader)
    cfg.output_dir = tmp_path / "copy"
    base = Path(cfg.get_base_dir())
    shutil.copytree(config.parent, base, ignore=shutil.ignore_patterns("relevancy*", cache_file.CACHE_NAME, "grasps*"))
    cp = base / "config.yml"
    cp.write_text(yaml.dump(cfg))
    return cp


def test_stale_or_missing_info_goes_the_nerfstudio_way_and_is_rebuilt(trained_synth, tmp_path, monkeypatch):
    """A copy of the run without its cache: open_run loads it the nerfstudio way and writes the info, then reads
    it; an edited config.yml makes it stale; POINT2ACT_NO_RUN_INFO=1 ignores it."""

    from point2act.method import run_layer as mrun
    from point2act.method import datamanager_info

    _root, _scene, config, _ = trained_synth
    cp = _copy_without_cache(config, tmp_path)
    assert datamanager_info.read_info(cp) is None
    r = mrun.open_run(cp)
    assert r.info is None and r.config is not None  # loaded the nerfstudio way ...
    assert datamanager_info.read_info(cp) is not None  # ... and the info written
    r = mrun.open_run(cp)
    assert r.info is not None and r.config is None
    monkeypatch.setenv("POINT2ACT_NO_RUN_INFO", "1")
    assert datamanager_info.read_info(cp) is None
    monkeypatch.delenv("POINT2ACT_NO_RUN_INFO")
    cp.write_text(cp.read_text() + "\n")
    assert datamanager_info.read_info(cp) is None


def test_the_end_of_training_writes_what_the_first_query_reads(trained_synth, tmp_path):
    """The end of training hands the export inputs its fit's compositing weights and asks for the fusion views'
    (``cache_own_inputs(..., weights=, fusion=True)``, as ``Point2ActTrainer`` calls it): the run's cache then holds
    the export, fusion-views and query sections and not those weights, which the torch-free query computes from
    the query section to the same bits, and the run's first ``point2act query`` with a points file imports no
    torch."""
    import os
    import subprocess
    import sys

    from point2act import cache_file
    from point2act.grasp import GraspConfig
    from point2act.method import run_layer as mrun
    from point2act.method.export_run import cache_own_inputs
    from point2act.requery import from_cache
    from point2act.method.supervision import SUPPORT_MIN_WEIGHT, supervision_of, weights_cache_of

    _root, _scene, config, _ = trained_synth
    cp = _copy_without_cache(config, tmp_path)
    run = mrun.open_run(cp)
    ds = max(1, int(GraspConfig().region.support_downscale))
    cams = supervision_of(cp, run, cp.parent / "points.json").cameras
    weights, built, _ = weights_cache_of(run.gaussians, cams, ds, SUPPORT_MIN_WEIGHT)
    assert built and not any(s.startswith("weights-") for s in cache_file.sections(cp))
    assert cache_own_inputs(cp, run, weights=weights, fusion=True) is not None
    sections = cache_file.sections(cp)
    assert {"export", "fusion-views"} <= set(sections) and any(s.startswith("query-d") for s in sections), sections
    assert not any(s.startswith("weights-") for s in sections)  # computed where needed, not kept
    # the torch-free query computes the training views' weights from the query section: the torch path's bits
    qv = from_cache.load(cp, ds)
    again = from_cache.training_weights(qv, SUPPORT_MIN_WEIGHT)
    assert again.meta["views"] == weights.meta["views"] and again.sizes == weights.sizes
    assert all(np.array_equal(getattr(again, k), getattr(weights, k).numpy()) for k in ("crow", "col", "val"))
    # a query computes its answered views' weights alone: each view's rows are the same bits
    some = [len(again.sizes) - 1, 0, 2]
    part, rows = from_cache.training_weights(qv, SUPPORT_MIN_WEIGHT, sorted(some)), again.of_views(sorted(some))
    assert part.view_ids == sorted(some) and part.sizes == rows.sizes and part.nnz < again.nnz
    assert all(np.array_equal(getattr(part, k), getattr(rows, k)) for k in ("crow", "col", "val"))
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print('MODULES:' + ','.join(m for m in ('torch', 'nerfstudio', 'gsplat') "
             "if m in sys.modules), flush=True))\n"
             "from point2act.cli import main\nsys.argv = ['point2act'] + sys.argv[1:]\nmain()\n")
    q = subprocess.run([sys.executable, "-c", probe, "query", "--load-config", str(cp), "--points-file",
                        str(cp.parent / "points.json"), "--name", "first", "--output", str(tmp_path / "g.json")],
                       capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert q.returncode == 0 and "no torch" in q.stdout, q.stdout[-3000:] + q.stderr[-3000:]
    assert q.stdout.splitlines()[-1] == "MODULES:", q.stdout[-500:]
