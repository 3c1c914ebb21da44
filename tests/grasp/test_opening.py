"""The opening is measured over what the fingers must not enter (planner, occupancy grid): a thin bar whose
sides the views never saw into (unknown cells beside its occupied ones, as under a real grip) is grasped
with the fingers clear of those cells, not one cell inside them."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("open3d")

from point2act.grasp import GraspConfig, PlanningScene, plan_grasps  # noqa: E402
from point2act.grasp.occupancy import FREE, OCCUPIED, UNKNOWN, OccupancyGrid  # noqa: E402

VOXEL = 0.006
HALF_W = 0.011  # the bar: 2.2 cm across x, 2 cm tall, 12 cm along y, 3-5 cm above z = 0
SHADOW = 1  # unknown cells beside it on each side across x


def bar_points(step=0.0015):
    ys = np.arange(-0.06, 0.06 + 1e-9, step)
    zs = np.arange(0.03, 0.05 + 1e-9, step)
    xs = np.arange(-HALF_W, HALF_W + 1e-9, step)
    Y, Z = np.meshgrid(ys, zs, indexing="ij")
    sides = [np.c_[np.full(Y.size, s * HALF_W), Y.ravel(), Z.ravel()] for s in (-1, 1)]
    Y, X = np.meshgrid(ys, xs, indexing="ij")
    caps = [np.c_[X.ravel(), Y.ravel(), np.full(Y.size, z)] for z in (0.03, 0.05)]
    return np.concatenate(sides + caps)


def table_points(step=0.005):
    g = np.arange(-0.15, 0.15 + 1e-9, step)
    X, Y = np.meshgrid(g, g, indexing="ij")
    return np.c_[X.ravel(), Y.ravel(), np.zeros(X.size)]


def grid(shadow: int) -> OccupancyGrid:
    n = 40
    origin = np.array([-0.12, -0.12, -0.04])
    state = np.full((n, n, n), FREE, np.uint8)
    c = origin + (np.indices((n, n, n)).reshape(3, -1).T + 0.5) * VOXEL
    inside = (np.abs(c[:, 0]) <= HALF_W) & (np.abs(c[:, 1]) <= 0.06) & (c[:, 2] >= 0.03) & (c[:, 2] <= 0.05)
    beside = ((np.abs(c[:, 0]) > HALF_W) & (np.abs(c[:, 0]) <= HALF_W + shadow * VOXEL)
              & (np.abs(c[:, 1]) <= 0.06) & (c[:, 2] >= 0.03) & (c[:, 2] <= 0.05))
    flat = state.reshape(-1)
    flat[c[:, 2] < 0.0] = UNKNOWN  # under the table top
    flat[(c[:, 2] < 0.0) & (c[:, 2] > -VOXEL)] = OCCUPIED  # the table top
    flat[inside] = OCCUPIED
    flat[beside] = UNKNOWN
    z = np.zeros_like(state, dtype=np.int16)
    return OccupancyGrid(origin, VOXEL, z, z, state)


@pytest.mark.parametrize("shadow", [0, SHADOW])
def test_bar_with_unknown_sides_gets_a_grasp_clear_of_them(shadow):
    bar, table = bar_points(), table_points()
    P = np.concatenate([bar, table])
    rel = np.r_[np.ones(len(bar)), np.zeros(len(table))]
    cams = np.array([[0.0, 0.0, 0.5], [0.4, 0.0, 0.4], [-0.4, 0.0, 0.4], [0.0, 0.4, 0.4], [0.0, -0.4, 0.4]])
    cfg = GraspConfig()
    res = plan_grasps(PlanningScene(P, np.full(len(P), 0.9), rel, surface_points=P, camera_centers=cams,
                                    scales=np.full((len(P), 3), 0.001), occupancy=grid(shadow)), cfg)
    assert res.grasps, res.warning
    assert all(g.on_target for g in res.grasps)
    across = [g for g in res.grasps if abs(g.rotation[0, 0]) > 0.9]  # closing along x, across the shadow
    assert across, [g.rotation[:, 0].round(2).tolist() for g in res.grasps]
    for g in across:
        # the fingers' inner faces lie beyond every blocked cell (the shadow's outer faces) by the margin
        assert g.opening / 2 >= HALF_W + shadow * VOXEL + cfg.collision_margin - 1e-9, (g.opening, shadow)
