"""The datamanager's per-view cache (:class:`point2act.method.datamanager.TrainViewCache`): its training batches are
nerfstudio's, and training with it gives the same bits as training with nerfstudio's ``next_train``. The trainers
here train whole views only (``fine_stage=False``): the fine stage's crops are ``tests/method/test_fineviews.py``'s."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

from nerfstudio.data.datamanagers.full_images_datamanager import FullImageDatamanager

from point2act.method.datamanager import Point2ActDataManager, TrainViewCache
from point2act.method.keys import SUPERVISED_KEY, TARGET_KEY

from conftest import build_trainer

CAMERA_FIELDS = ("camera_to_worlds", "fx", "fy", "cx", "cy", "width", "height", "distortion_params", "camera_type")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    from point2act.synth import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp("view_cache") / "scene"
    generate_scene(root, SynthConfig(seed=0, num_views=8, width=64, height=48, num_seed_points=600,
                                     num_gt_points=200))
    return root


def nerfstudio_next_train(dm: Point2ActDataManager, step: int):
    """The batch without the cache: nerfstudio's next_train and the heatmap store's heatmap."""
    camera, data = FullImageDatamanager.next_train(dm, step)
    heat = dm.train_heatmaps.get(int(camera.metadata["cam_idx"]))
    camera.metadata[SUPERVISED_KEY] = heat is not None
    if heat is not None:
        data[TARGET_KEY] = heat
    return camera, data


def train(trainer, steps: int) -> dict:
    from nerfstudio.engine.callbacks import TrainingCallbackLocation

    for step in range(steps):
        trainer.mark_metrics_due(step)
        trainer.pipeline.train()
        for cb in trainer.callbacks:
            cb.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        trainer.optimizers.zero_grad_all()
        _, loss_dict, _ = trainer.pipeline.get_train_loss_dict(step=step)
        functools.reduce(torch.add, loss_dict.values()).backward()
        trainer.optimizers.optimizer_step_all()
        trainer.optimizers.scheduler_step_all(step)
        for cb in trainer.callbacks:
            cb.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
    return {k: v.detach().clone() for k, v in trainer.pipeline.model.gauss_params.items()}


@pytest.mark.parametrize("max_bytes", [None, 0, 48 * 64 * 3 * 4 * 3])  # all kept, none, three photos
def test_batches_are_nerfstudios(scene, tmp_path, max_bytes):
    trainer = build_trainer(scene, tmp_path / "out", 40, fine_stage=False)
    dm, model = trainer.pipeline.datamanager, trainer.pipeline.model
    if max_bytes is not None:
        dm.train_view_cache = TrainViewCache(dm, max_bytes)
    n = 3 * len(dm.train_dataset) + 1  # every view several times, through two reshuffles
    unseen, gen = list(dm.train_unseen_cameras), getattr(dm, "random_generator", None)
    gen_state = gen.getstate() if gen is not None else None
    mine = [dm.next_train(s) for s in range(n)]
    dm.train_unseen_cameras = unseen
    if gen is not None:
        gen.setstate(gen_state)
    ref = [nerfstudio_next_train(dm, s) for s in range(n)]
    supervised = 0
    for (cam, data), (rcam, rdata) in zip(mine, ref):
        assert cam.metadata == rcam.metadata
        supervised += bool(cam.metadata[SUPERVISED_KEY])
        for f in CAMERA_FIELDS:
            assert torch.equal(getattr(cam, f), getattr(rcam, f)), f
        assert set(data) == set(rdata)
        assert data["image_idx"] == rdata["image_idx"] == cam.metadata["cam_idx"]
        assert torch.equal(model.get_gt_img(data["image"]), model.get_gt_img(rdata["image"]))
        if TARGET_KEY in rdata:
            assert torch.equal(data[TARGET_KEY], rdata[TARGET_KEY])
    assert supervised > 0
    cache = dm.train_view_cache
    assert cache.nbytes <= cache.max_bytes
    if max_bytes == 0:
        assert not cache._images and all(h is None for h in cache._heatmaps.values())
    elif max_bytes is None:
        assert len(cache._images) == len(dm.train_dataset)


def test_a_step_rescaling_its_camera_leaves_the_kept_one(scene, tmp_path):
    trainer = build_trainer(scene, tmp_path / "out", 40, fine_stage=False)
    dm = trainer.pipeline.datamanager
    cams = [dm.next_train(s)[0] for s in range(len(dm.train_dataset))]
    idx = int(cams[0].metadata["cam_idx"])
    ref = dm.train_cameras[idx: idx + 1]
    cams[0].rescale_output_resolution(0.5)  # what splatfacto does to it at a downscaled step
    cams[0].metadata["extra"] = 1
    again = dm.train_view_cache.camera(idx)
    for f in CAMERA_FIELDS:
        assert torch.equal(getattr(again, f), getattr(ref, f)), f
    assert "extra" not in again.metadata


def test_training_with_the_cache_gives_the_same_bits(scene, tmp_path, monkeypatch):
    steps = 60
    with_cache = train(build_trainer(scene, tmp_path / "a", steps, fine_stage=False), steps)
    monkeypatch.setattr(Point2ActDataManager, "next_train", nerfstudio_next_train)
    without = train(build_trainer(scene, tmp_path / "b", steps, fine_stage=False), steps)
    assert with_cache.keys() == without.keys()
    for k in with_cache:
        assert torch.equal(with_cache[k], without[k]), k
