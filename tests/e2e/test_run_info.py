"""RUN/run_info.pt on the shared trained run (tests/conftest.py ``trained_synth``): written at the end
of ``ns-train``; ``point2act export`` and ``query`` read the run from it (no nerfstudio pipeline, no
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
    """export/query as before run_info.pt: nerfstudio's eval_setup and the supervision datamanager."""
    from point2act.method import run as mrun

    monkeypatch.setattr(mrun, "open_run", mrun.load_run)
    monkeypatch.setattr(mrun, "supervision_of", lambda _cp, config, pf=None, prompt="", pointer=None:
                        mrun.supervision_datamanager(config, pf, prompt, pointer))


def test_written_by_training_and_read_without_nerfstudio(trained_synth):
    import subprocess
    import sys

    from point2act.method import runinfo

    _root, _scene, config, p = trained_synth
    assert (config.parent / runinfo.INFO_NAME).is_file(), p.stdout[-2000:]
    info = runinfo.read_info(config)
    assert info is not None and {"inference", "train"} <= set(info)
    code = ("import sys; from point2act.method.run import open_run; from point2act.method.runinfo import LightPipeline; "
            f"c, p = open_run({str(config)!r}); assert isinstance(p, LightPipeline); "
            "bad = [m for m in sys.modules if m.startswith('nerfstudio')]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_light_run_equals_the_loaded_one(trained_synth):
    from point2act.method import run as mrun
    from point2act.method.runinfo import LightPipeline, LightSupervision

    _root, scene, config, _ = trained_synth
    oc, op = mrun.load_run(config)
    nc, np_ = mrun.open_run(config)
    assert isinstance(np_, LightPipeline)
    go, gn = mrun.gaussian_tensors(op.model), mrun.gaussian_tensors(np_.model)
    assert all(torch.equal(go[k], gn[k]) for k in go)
    assert torch.equal(op.model.colors, np_.model.colors)
    for a, b in ((op.datamanager.train_dataparser_outputs.cameras, np_.datamanager.train_dataparser_outputs.cameras),
                 (op.datamanager.train_dataset.cameras, np_.datamanager.train_dataset.cameras)):
        x, y = mrun.camera_views(a), mrun.camera_views(b)
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2]
    assert mrun.run_prompt(op.datamanager) == mrun.run_prompt(np_.datamanager)
    assert mrun.latest_checkpoint(oc) == mrun.latest_checkpoint(nc)
    pf = scene / "points" / "oracle.json"
    old = mrun.supervision_datamanager(oc, pf)
    new = mrun.supervision_of(config, nc, pf)
    assert isinstance(new, LightSupervision)
    ho, hn = old.train_heatmaps, new.train_heatmaps
    assert sorted(ho) == sorted(hn) and ho.sizes == hn.sizes and ho.sigma_frac == hn.sigma_frac
    assert all(np.array_equal(ho.points[k], hn.points[k]) and torch.equal(ho[k], hn[k]) for k in ho)
    for ds in (1, 2):
        x = mrun.camera_views(old.train_dataset.cameras, ds, op.model)
        y = mrun.camera_views(new.train_dataset.cameras, ds, np_.model)
        assert torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2]
    assert old.prompt == new.prompt and old.points.to_dict() == new.points.to_dict()
    # the nerfstudio config as a caller holds it (after load_run) matches the info too
    assert isinstance(mrun.supervision_of(config, oc, pf), LightSupervision)


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


def test_stale_or_missing_info_goes_the_nerfstudio_way_and_is_rebuilt(trained_synth, tmp_path, monkeypatch):
    """A copy of the run without run_info.pt: open_run loads it the nerfstudio way and writes the file,
    then reads it; an edited config.yml makes it stale; POINT2ACT_NO_RUN_INFO=1 ignores it."""
    import yaml

    from point2act.method import run as mrun
    from point2act.method import runinfo

    _root, _scene, config, _ = trained_synth
    cfg = yaml.load(config.read_text(), Loader=yaml.Loader)
    cfg.output_dir = tmp_path / "copy"
    base = Path(cfg.get_base_dir())
    shutil.copytree(config.parent, base, ignore=shutil.ignore_patterns("relevancy*", runinfo.INFO_NAME, "grasps*"))
    cp = base / "config.yml"
    cp.write_text(yaml.dump(cfg))
    assert runinfo.read_info(cp) is None
    _c, p = mrun.open_run(cp)
    assert not isinstance(p, runinfo.LightPipeline)  # loaded the nerfstudio way ...
    assert runinfo.read_info(cp) is not None  # ... and the file written
    _c, p = mrun.open_run(cp)
    assert isinstance(p, runinfo.LightPipeline)
    monkeypatch.setenv("POINT2ACT_NO_RUN_INFO", "1")
    assert runinfo.read_info(cp) is None
    monkeypatch.delenv("POINT2ACT_NO_RUN_INFO")
    cp.write_text(cp.read_text() + "\n")
    assert runinfo.read_info(cp) is None
