"""benchmarks.start_tile_load's count on a hand-built start: the groups split at the model's ``random_points``,
every training view counted, a Gaussian no view sees counting nothing, a larger footprint touching more tiles."""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from benchmarks.start_tile_load import tile_load


def _trainer(n_views: int, means: torch.Tensor, scales: torch.Tensor, n_random: int, downscale: int = 1):
    from nerfstudio.cameras.cameras import Cameras

    c2w = torch.eye(4)[:3].expand(n_views, 3, 4).clone()  # OpenGL axes: looking down -z
    cams = Cameras(camera_to_worlds=c2w, fx=40.0, fy=40.0, cx=32.0, cy=24.0, width=64, height=48)
    n = means.shape[0]
    gp = {"means": means, "scales": torch.log(scales), "quats": torch.tensor([[1.0, 0, 0, 0]]).expand(n, 4).clone()}
    model = SimpleNamespace(gauss_params=gp, random_points=n_random, _get_downscale_factor=lambda: downscale)
    data = SimpleNamespace(train_dataset=SimpleNamespace(cameras=cams))
    return SimpleNamespace(pipeline=SimpleNamespace(model=model, datamanager=data))


def test_groups_views_and_footprints():
    means = torch.tensor([[0.0, 0.0, -2.0], [0.3, 0.1, -2.0], [0.0, 0.0, -2.0], [0.0, 0.0, 5.0]])
    scales = torch.tensor([[0.01] * 3, [0.01] * 3, [0.2] * 3, [0.2] * 3])  # the last: behind every view
    one = tile_load(_trainer(1, means, scales, n_random=2))
    two = tile_load(_trainer(2, means, scales, n_random=2))
    assert one["cloud"]["gaussians"] == 2 and one["random"]["gaussians"] == 2
    assert math.isclose(one["cloud"]["median_scale"], 0.01, rel_tol=1e-5)
    assert math.isclose(one["random"]["median_scale"], 0.2, rel_tol=1e-5)
    assert two["_views"]["views"] == 2
    for g in ("cloud", "random"):
        assert two[g]["tile_intersections"] == 2 * one[g]["tile_intersections"] > 0
    # the large one (sigma 40 px * 0.2 / 2 = 4 px, three sigmas 12 px) touches more tiles than both small ones
    assert one["random"]["tile_intersections"] > one["cloud"]["tile_intersections"]
    behind = tile_load(_trainer(1, means[3:], scales[3:], n_random=1))
    assert behind["random"]["tile_intersections"] == 0


def test_coarser_views_touch_fewer_tiles():
    means = torch.tensor([[0.0, 0.0, -2.0]])
    scales = torch.tensor([[0.2] * 3])
    full = tile_load(_trainer(1, means, scales, n_random=1))
    half = tile_load(_trainer(1, means, scales, n_random=1, downscale=2))
    assert half["_views"]["downscale"] == 2
    assert 0 < half["random"]["tile_intersections"] < full["random"]["tile_intersections"]
