"""The datamanager keeps points, not full-resolution heatmaps: each target heatmap is rendered from
its view's points on access and equals ``points_to_heatmap`` (and the closed-form blob)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from point2act.method.datamanager import HeatmapStore
from point2act.heatmap import points_to_heatmap, sigma_px


def test_store_renders_the_same_heatmaps_from_points_only():
    rng = np.random.default_rng(0)
    sizes = {0: (1080, 1920), 3: (48, 64), 7: (30, 40)}
    points = {0: rng.uniform([0, 0], [1920, 1080], (2, 2)), 3: np.zeros((0, 2)), 7: np.array([[10.5, 4.5]])}
    store = HeatmapStore(points, sizes, 0.02)
    assert len(store) == 3 and sorted(store) == [0, 3, 7] and store.get(1) is None
    # compact: a few floats per view, not H*W*4 bytes (8.3 MB for the 1080p view)
    assert store.nbytes == sum(np.asarray(p, np.float32).nbytes for p in points.values()) < 64
    for idx, (h, w) in sizes.items():
        ref = points_to_heatmap(torch.as_tensor(points[idx], dtype=torch.float32), h, w, sigma_px(h, w, 0.02))
        got = store[idx]
        assert got.shape == (h, w, 1) and got.dtype == torch.float32
        assert torch.equal(got, ref)
    assert float(store[3].abs().max()) == 0.0  # [] = "not in this view": all zeros
    # closed form at one pixel of the single-point view
    h, w = sizes[7]
    s = sigma_px(h, w, 0.02)
    i, j = 6, 13  # pixel centre (13.5, 6.5)
    expect = math.exp(-((13.5 - 10.5) ** 2 + (6.5 - 4.5) ** 2) / (2 * s * s))
    assert float(store[7][i, j, 0]) == pytest.approx(expect, rel=1e-5)
    assert float(store[7][4, 10, 0]) == pytest.approx(1.0)


def test_datamanager_serves_targets_from_the_store(tmp_path):
    import copy

    from nerfstudio.configs.method_configs import all_methods

    from point2act.method.keys import SUPERVISED_KEY, TARGET_KEY
    from point2act.synth import SynthConfig, generate_scene

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=0, num_views=5, width=64, height=48, num_seed_points=300))
    cfg = copy.deepcopy(all_methods["point2act"].pipeline.datamanager)
    cfg.data = cfg.dataparser.data = scene
    cfg.points_file = scene / "points/oracle.json"
    dm = cfg.setup(device="cpu", test_mode="val")
    store = dm.train_heatmaps
    assert isinstance(store, HeatmapStore) and len(store) == len(dm.train_dataset)
    assert store.nbytes < 64 * len(store)
    seen = 0
    for step in range(len(dm.train_dataset)):
        cam, data = dm.next_train(step)
        idx = int(cam.metadata["cam_idx"])
        assert cam.metadata[SUPERVISED_KEY]
        h, w = int(cam.height), int(cam.width)
        assert data[TARGET_KEY].shape == (h, w, 1) == tuple(data["image"].shape[:2]) + (1,)
        assert torch.equal(data[TARGET_KEY], store[idx])
        pts = store.points[idx]
        if len(pts):  # the blob peaks (about 1) at the mapped point
            x, y = pts[0]
            assert float(data[TARGET_KEY][int(y), int(x), 0]) > 0.9
            seen += 1
    assert seen >= 1
