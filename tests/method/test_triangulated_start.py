"""The pipeline on a capture without a point cloud (the real tools capture loaded without COLMAP's points, as a
robot capture has it): the datamanager triangulates a start cloud (SIFT and dense stereo points) and the pipeline
fills the start up to ``num_random`` Gaussians with random ones beside it (:meth:`point2act.method.model.Point2ActModel.add_random_points`)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("pycolmap")


def _tools_without_cloud(shared_data):
    """The point2act pipeline on real/tools at a quarter resolution, loaded without COLMAP's points."""
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    cfg = copy.deepcopy(all_methods["point2act"].pipeline)
    cfg.datamanager.data = shared_data / "real" / "tools"
    cfg.datamanager.dataparser = ColmapDataParserConfig(colmap_path="sparse/0", downscale_factor=4,
                                                        load_3D_points=False, eval_mode="interval")
    return cfg.setup(device="cpu", test_mode="val", world_size=1, local_rank=0)


def test_the_pipeline_starts_from_the_triangulated_cloud_and_random_gaussians_beside_it(shared_data):
    from point2act.startcloud.triangulate import read_ply

    pipeline = _tools_without_cloud(shared_data)
    dm, model = pipeline.datamanager, pipeline.model
    assert dm.triangulated_path is not None and dm.triangulated_path.is_file()
    tri, _colors = read_ply(dm.triangulated_path)
    assert len(tri) >= 100  # a textured capture: SIFT finds the table and the tools
    n = max(0, int(model.config.num_random) - len(tri))  # the photos' points take the place of random ones
    assert model.random_points == n and model.num_points == max(len(tri), int(model.config.num_random))
    # the start cloud's Gaussians come first, at the triangulated points (nerfstudio's frame, same order)
    seed = dm.train_dataparser_outputs.metadata["points3D_xyz"].cpu().numpy()
    np.testing.assert_allclose(model.means.detach().cpu().numpy()[: len(tri)], seed, atol=1e-6)


def test_stereo_depth_supervises_the_training_views(shared_data):
    """Without a point cloud and without sensor depth, each training view carries its stereo depth map
    (the cached file's) where stereo confirmed a point, the model's depth loss is on, and a training step has a
    depth loss."""
    from point2act.method.keys import DEPTH_KEY
    from point2act.startcloud.triangulate import depth_maps_path, read_depth_maps

    pipeline = _tools_without_cloud(shared_data)
    dm, model = pipeline.datamanager, pipeline.model
    assert dm.train_dataparser_outputs.metadata.get("stereo_depth") is True and model.depth_supervised
    maps = read_depth_maps(depth_maps_path(dm.triangulated_path))
    assert len(maps) == len(dm.cached_train)
    covered = []
    for data, depth in zip(dm.cached_train, maps):
        d = data[DEPTH_KEY]
        assert tuple(d.shape) == tuple(data["image"].shape[:2]) + (1,)
        # the stereo depth where stereo has one; elsewhere the support plane's (tests/method/test_plane_depth.py) or none
        np.testing.assert_array_equal(d[..., 0].numpy()[depth > 0], depth[depth > 0])
        covered.append(float((depth > 0).mean()))
    assert np.median(covered) > 0.05, covered  # a textured table: stereo depth on a good share of each view
    pipeline.train()
    model.step = 0
    model.optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in model.gauss_params.items()}  # as the trainer's
    _outputs, losses, _metrics = pipeline.get_train_loss_dict(step=0)
    assert "depth_loss" in losses and bool(losses["depth_loss"].isfinite()) and float(losses["depth_loss"]) > 0


@pytest.mark.parametrize("case", ["empty", "sensor", "mismatched", "some"])
def test_stereo_depth_only_where_there_is_some_and_no_sensor(case):
    """Stereo depth supervises only a capture without sensor depth whose maps have a confirmed point and fit the
    images: no pair at all (a few-view capture) leaves the depth loss, and its depth render, off."""
    from types import SimpleNamespace

    from point2act.method.datamanager import Point2ActDataManager
    from point2act.method.keys import DEPTH_KEY

    images = [{"image": torch.zeros(4, 6, 3)} for _ in range(2)]
    maps = [np.zeros((4, 6), np.float32) for _ in range(2)]
    meta = {"depth_filenames": ["a.png", "b.png"] if case == "sensor" else None}
    if case in ("some", "sensor"):
        maps[1][2, 3] = 1.5
    if case == "mismatched":
        maps = [np.ones((3, 6), np.float32), np.ones((3, 6), np.float32)]
    dm = SimpleNamespace(train_dataparser_outputs=SimpleNamespace(metadata=meta), cached_train=images,
                         train_dataset=SimpleNamespace(metadata={}))
    Point2ActDataManager._supervise_stereo_depth(dm, maps)
    on = case == "some"
    assert bool(meta.get("stereo_depth")) is on and bool(dm.train_dataset.metadata.get("stereo_depth")) is on
    assert all((DEPTH_KEY in d) is on for d in images)
    if on:
        assert float(images[1][DEPTH_KEY][2, 3, 0]) == 1.5 and images[1][DEPTH_KEY].shape == (4, 6, 1)
