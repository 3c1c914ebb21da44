"""The photo-consistency cost of a rendered depth map (point2act.photo_consistency) against a ray-cast textured plane,
and the choice of neighbouring views (point2act.stereo.neighbour_views)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from point2act.photo_consistency import photo_consistency_cost, photo_consistency_loss, window_zncc
from point2act.stereo import neighbour_views

H, W, F = 96, 128, 160.0
K = torch.tensor([[F, 0.0, W / 2], [0.0, F, H / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)


def look_down(centre) -> torch.Tensor:  # [4, 4] world-to-camera, OpenCV axes, optical axis along world -z
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
    vm = torch.eye(4, dtype=torch.float64)
    vm[:3, :3] = R
    vm[:3, 3] = -R @ torch.as_tensor(centre, dtype=torch.float64)
    return vm


def texture(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.2 * torch.sin(60 * x) * torch.sin(53 * y) + 0.1 * torch.sin(130 * x + 17 * y)


def ray_cast(viewmat: torch.Tensor):
    """The grey image and z-depth of the plane z = 0 (texture above) seen by ``viewmat``."""
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5, torch.arange(W, dtype=torch.float64) + 0.5,
                          indexing="ij")
    d_cam = torch.stack([(u - K[0, 2]) / F, (v - K[1, 2]) / F, torch.ones_like(u)], -1)
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    c = -R.T @ t
    d_world = d_cam @ R  # R^T d
    s = -c[2] / d_world[..., 2]
    p = c + s[..., None] * d_world
    return texture(p[..., 0], p[..., 1]), s  # depth = s * d_cam_z = s


A, B, C = look_down([0.0, 0.0, 0.5]), look_down([0.07, 0.0, 0.5]), look_down([-0.05, 0.04, 0.5])
GREY_A, DEPTH_A = ray_cast(A)
NEIGHBOURS = [(ray_cast(B)[0], K, B), (ray_cast(C)[0], K, C)]


def test_the_cost_is_lowest_at_the_true_depth():
    medians, losses = {}, {}
    for s in (0.94, 0.97, 1.0, 1.03, 1.06):
        cost, textured = photo_consistency_cost(DEPTH_A * s, GREY_A, K, A, NEIGHBOURS)
        medians[s] = float(cost[textured].median())
        losses[s] = float(photo_consistency_loss(DEPTH_A * s, GREY_A, K, A, NEIGHBOURS))
    assert medians[1.0] < 1e-4  # the warped patches match
    assert medians[0.97] > 1e-3 and medians[1.03] > 1e-3
    assert medians[0.94] > 2 * medians[0.97] and medians[1.06] > 2 * medians[1.03]
    assert losses[1.0] < min(losses[0.97], losses[1.03])  # the mean too (a few border pixels leave both views)


@pytest.mark.parametrize("s", [0.985, 1.015])
def test_its_gradient_moves_the_depth_towards_the_truth(s):
    scale = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    photo_consistency_loss(DEPTH_A * scale, GREY_A, K, A, NEIGHBOURS).backward()
    assert float(scale.grad) * (s - 1.0) > 0  # descent moves the scale towards 1


def test_a_point_that_leaves_every_neighbour_costs_one_and_a_flat_patch_does_not_count():
    far = DEPTH_A.clone()
    far[:, :8] = 1e-3  # just in front of the camera: projects far outside both neighbours
    cost, textured = photo_consistency_cost(far, GREY_A, K, A, NEIGHBOURS)
    assert torch.all(cost[:, :5] == 1.0)
    assert textured[H // 2, W // 2]
    flat = torch.full_like(GREY_A, 0.4)
    assert photo_consistency_loss(DEPTH_A, flat, K, A, NEIGHBOURS) is None
    assert photo_consistency_loss(DEPTH_A, GREY_A, K, A, []) is None


def test_window_zncc_matches_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand((9, 11), generator=g, dtype=torch.float64), torch.rand((9, 11), generator=g, dtype=torch.float64)
    zncc, std = window_zncc(a, b, 3)
    i, j = 4, 5
    pa, pb = a[i - 1:i + 2, j - 1:j + 2].flatten(), b[i - 1:i + 2, j - 1:j + 2].flatten()
    pa0, pb0 = pa - pa.mean(), pb - pb.mean()
    want = (pa0 * pb0).mean() / torch.sqrt((pa0 ** 2).mean() * (pb0 ** 2).mean())
    assert float(zncc[i, j]) == pytest.approx(float(want), abs=1e-6)
    assert float(std[i, j]) == pytest.approx(float(pa.std(unbiased=False)), abs=1e-9)
    # a corner's patch is clipped at the border: 2 x 2 pixels
    pa, pb = a[:2, :2].flatten(), b[:2, :2].flatten()
    pa0, pb0 = pa - pa.mean(), pb - pb.mean()
    want = (pa0 * pb0).mean() / torch.sqrt((pa0 ** 2).mean() * (pb0 ** 2).mean())
    assert float(zncc[0, 0]) == pytest.approx(float(want), abs=1e-6)


def test_neighbour_views_of_a_ring():
    # 12 cameras on a ring of radius 0.5 at height 0.3, each looking at the origin
    vms = []
    for k in range(12):
        a = 2 * np.pi * k / 12
        c = np.array([0.5 * np.cos(a), 0.5 * np.sin(a), 0.3])
        z = -c / np.linalg.norm(c)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        vm = np.eye(4)
        vm[:3, :3], vm[:3, 3] = R, -R @ c
        vms.append(vm)
    nb = neighbour_views(np.stack(vms), 2)
    for i, n in enumerate(nb):
        assert sorted(n) == sorted([(i - 1) % 12, (i + 1) % 12])  # 30 degrees apart; the next ones are 60
    assert neighbour_views(np.stack(vms), 1) == [[n[0]] for n in nb]
