"""``benchmarks.accuracy.carving``: the free space beside the target that the export's grid blocks and true depth in
the same views carves. A box on a table seen by a ring of views, depth ray-cast in closed form."""

import numpy as np
import pytest

from benchmarks.accuracy.carving import carving_counts
from point2act.grasp.config import (OCCUPANCY_HIT_BACK, OCCUPANCY_HIT_FRONT, OCCUPANCY_MIN_HITS, OCCUPANCY_P_HIT,
                                    OCCUPANCY_P_MISS)
from point2act.grasp.occupancy import CellGrid, DepthMaps, DepthSensor, integrate_depth

BOX_LO, BOX_HI = np.array([-0.02, -0.02, 0.0]), np.array([0.02, 0.02, 0.04])


def _ring(n=12, radius=0.4, height=0.3, size=(64, 48), f=60.0):
    """World-to-camera matrices (OpenCV axes) of ``n`` views on a ring looking at the origin, and their Ks."""
    vms, Ks = [], []
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        c = np.array([radius * np.cos(a), radius * np.sin(a), height])
        z = -c / np.linalg.norm(c)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])  # rows: camera axes in the world
        vm = np.eye(4)
        vm[:3, :3], vm[:3, 3] = R, -R @ c
        vms.append(vm)
        Ks.append(np.array([[f, 0, size[0] / 2], [0, f, size[1] / 2], [0, 0, 1.0]]))
    return np.stack(vms), np.stack(Ks), size


def _depth(vm, K, size, slab=None):
    """z-depth of the table (z = 0) and the box (and an opaque horizontal ``slab`` (z, x lo, x hi, y lo, y hi)
    when given) in one view; inf where the ray meets nothing."""
    W, H = size
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d_cam = np.stack([(jj - K[0, 2]) / K[0, 0], (ii - K[1, 2]) / K[1, 1], np.ones_like(jj)], -1).reshape(-1, 3)
    R, t = vm[:3, :3], vm[:3, 3]
    o, d = -R.T @ t, d_cam @ R  # world origin and directions (z_cam = 1: the ray parameter is z-depth)
    best = np.full(len(d), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_table = -o[2] / d[:, 2]
        best = np.where((t_table > 0), t_table, best)
        t0, t1 = (BOX_LO - o) / d, (BOX_HI - o) / d
        tn, tf = np.minimum(t0, t1).max(1), np.maximum(t0, t1).min(1)
        best = np.where((tn <= tf) & (tn > 0), np.minimum(best, tn), best)
        if slab is not None:
            z, x0, x1, y0, y1 = slab
            ts = (z - o[2]) / d[:, 2]
            p = o + ts[:, None] * d
            on = (ts > 0) & (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
            best = np.where(on, np.minimum(best, ts), best)
    return best.reshape(H, W).astype(np.float32)


def _surface_samples(step=0.002):
    g = np.arange(BOX_LO[0], BOX_HI[0] + 1e-9, step)
    h = np.arange(0.0, BOX_HI[2] + 1e-9, step)
    top = np.array([[x, y, BOX_HI[2]] for x in g for y in g])
    sides = np.array([p for x in g for z in h for p in ([x, BOX_LO[1], z], [x, BOX_HI[1], z],
                                                          [BOX_LO[0], x, z], [BOX_HI[0], x, z])])
    return np.concatenate([top, sides])


@pytest.mark.parametrize("fog", [False, True])
def test_the_grid_blocks_only_what_its_depth_puts_in_the_air(fog):
    """With the field's depth equal to the truth the export's grid blocks none of the space true depth carves
    beside the box; an opaque slab 2 cm above the box (fog a random start leaves) makes the grid block cells there
    that true depth carves, and the counts say so, while the space no view sees stays the truth's own."""
    vms, Ks, size = _ring()
    true_d = np.stack([_depth(vm, K, size) for vm, K in zip(vms, Ks)])
    slab = (0.06, -0.03, 0.03, -0.03, 0.03)
    field_d = np.stack([_depth(vm, K, size, slab if fog else None) for vm, K in zip(vms, Ks)])
    voxel, n = 0.004, 30
    origin = np.array([-0.06, -0.06, -0.01])
    sensor = DepthSensor(OCCUPANCY_HIT_FRONT, OCCUPANCY_HIT_BACK, OCCUPANCY_MIN_HITS, p_hit=OCCUPANCY_P_HIT,
                         p_miss=OCCUPANCY_P_MISS)
    occ = integrate_depth(DepthMaps(field_d, Ks, vms), CellGrid(origin, voxel, (n, n, n)), sensor)
    box = _surface_samples()
    c = carving_counts(occ, true_d, Ks, vms, np.zeros((0, 3)), box, radius=0.04)
    assert c["true_free"] > 500
    assert c["field_free"] + c["field_unknown"] + c["field_occupied"] == c["true_free"]
    if fog:  # the slab covers 15 x 15 cells of a layer: at least that layer is matter, and the shadow under it unknown
        assert c["field_occupied"] >= 225 and c["field_unknown"] >= 225
    else:
        assert c["field_free"] == c["true_free"] and c["field_unknown"] == c["field_occupied"] == 0
