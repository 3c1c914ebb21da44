"""Real captures as users have them (../shared/data/real, skipped when absent): what nerfstudio 1.1.5
tripped on is fixed on load by point2act's datamanager (docs/captures.md).

- ``fruit``: ``images_N/`` made by rounding (806 / 4 -> 202) where nerfstudio's camera is rounded
  down (201) -- nerfstudio crashed with "The size of image (151, 202) loaded does not match the
  camera parameters ((151, 201))" while ``point2act check`` said ok. No points file.
- ``mouse``: COLMAP only (``colmap/sparse/0`` + ``images/``, 1920x1440 and 1440x1920 views, no
  ``images_2/``): nerfstudio's colmap parser asked on the terminal whether to downscale.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

from conftest import ns_train


def _datamanager(data: Path, downscale=None, dataparser=None):
    """point2act's datamanager as ``ns-train point2act`` builds it (no model, CPU)."""
    from nerfstudio.configs.method_configs import all_methods

    cfg = copy.deepcopy(all_methods["point2act"].pipeline.datamanager)
    if dataparser is not None:
        cfg.dataparser = dataparser
    cfg.data = data
    cfg.dataparser.downscale_factor = downscale
    return cfg.setup(device="cpu", test_mode="val")


@pytest.mark.parametrize("factor, warned", [(2, False), (4, True), (8, True)])
def test_fruit_images_load_at_the_camera_size(shared_data, factor, warned, capsys):
    dm = _datamanager(shared_data / "real" / "fruit", downscale=factor)
    out = capsys.readouterr().out
    camera, data = dm.next_train(0)
    for cams, cache in ((dm.train_dataset.cameras, dm.cached_train), (dm.eval_dataset.cameras, dm.cached_eval)):
        for i, d in enumerate(cache):
            assert tuple(d["image"].shape[:2]) == (int(cams.height[i]), int(cams.width[i])), i
    out += capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("point2act: warning: ")]
    if warned:  # once, not per image
        assert len(lines) == 1 and f"images_{factor}/" in lines[0] and "1 pixel off" in lines[0], lines
    else:
        assert not lines, lines
    assert "no points file: training RGB only" in out


def test_fruit_check_notes_the_rounding(shared_data, capsys):
    from point2act.cli import entrypoint

    entrypoint(["check", "--data", str(shared_data / "real" / "fruit"), "--downscale-factor", "4"])
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(": ok")
    assert "point2act: note: " in err and "151x202, camera 151x201" in err and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("factor", [2, 8])
def test_fruit_trains(shared_data, factor, tmp_path):
    """``ns-train`` (its command line, in this process: ``conftest.ns_train``) for 5 iterations: with the
    capture's own images_2/, and with images_8/ whose sizes round differently from the cameras' (one
    warning; factor 4 rounds the same way: ``test_fruit_check_notes_the_rounding``)."""
    p = ns_train(["point2act", "--data", shared_data / "real" / "fruit",
                  "--max-num-iterations", "5", "--vis", "tensorboard", "--output-dir", tmp_path / "out",
                  "--experiment-name", "fruit", "--timestamp", "run",
                  "nerfstudio-data", "--downscale-factor", factor], cwd=tmp_path)
    assert list((tmp_path / "out/fruit/point2act/run/nerfstudio_models").glob("step-*.ckpt"))
    assert (p.stdout + p.stderr).count("point2act: warning: ") == (0 if factor == 2 else 1)


@pytest.mark.slow
def test_mouse_colmap_trains_without_a_terminal(shared_data, tmp_path, monkeypatch):
    """``ns-train point2act --data mouse colmap`` (in this process) with stdin at /dev/null: no prompt, the
    images are downscaled by 2 (nerfstudio's automatic factor for 1920 pixels) on load; nothing is written
    into the (read-only) capture."""
    mouse = shared_data / "real" / "mouse"
    with open(os.devnull) as devnull:
        monkeypatch.setattr(sys, "stdin", devnull)
        p = ns_train(["point2act", "--data", mouse, "--max-num-iterations", "3",
                      "--vis", "tensorboard", "--output-dir", tmp_path / "out", "--experiment-name", "mouse",
                      "--timestamp", "run", "colmap"], cwd=tmp_path)
    text = p.stdout + p.stderr
    assert "images_2/ not found" in text and text.count("point2act: warning: ") == 1
    assert list((tmp_path / "out/mouse/point2act/run/nerfstudio_models").glob("step-*.ckpt"))
    assert not (mouse / "images_2").exists()
