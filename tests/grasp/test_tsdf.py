"""The TSDF cube's surface points (point2act.grasp.tsdf): the C++ kernel against its numpy reference (equal
arrays), and both against open3d's UniformTSDFVolume, the scheme they follow (the same points in the same
order)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from point2act.grasp.tsdf import TsdfCube, tsdf_points, tsdf_points_reference


def _look_at(eye, target):
    f = target - eye
    f = f / np.linalg.norm(f)
    r = np.cross(f, np.array([0.0, 0.0, 1.0]))
    r = r / np.linalg.norm(r)
    d = np.cross(f, r)
    R = np.stack([r, d, f])
    V = np.eye(4)
    V[:3, :3], V[:3, 3] = R, -R @ eye
    return V


def _scene(seed: int, num_views: int, W: int = 96, H: int = 72):
    """Depth maps of a sphere on a plane (0 where a ray meets neither), a few pixels dropped at random."""
    rng = np.random.default_rng(seed)
    c = np.array([0.0, 0.0, 0.03]) + rng.normal(0, 0.003, 3)
    r = 0.03
    K = np.array([[90.0, 0, W / 2 + 0.3], [0, 92.0, H / 2 - 0.2], [0, 0, 1]])
    views, depths = [], []
    for k in range(num_views):
        az = 2 * math.pi * k / num_views + rng.uniform(0, 0.3)
        el = math.radians(rng.uniform(25, 60))
        eye = 0.35 * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        V = _look_at(eye, c)
        j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        dirs_c = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1)
        R, t = V[:3, :3], V[:3, 3]
        o = -R.T @ t
        dw = dirs_c @ R  # world directions with z-component 1 in the camera
        with np.errstate(divide="ignore", invalid="ignore"):
            tp = np.where(dw[..., 2] < 0, -o[2] / dw[..., 2], np.inf)
            oc = o - c
            a = (dw * dw).sum(-1)
            b = 2 * (dw * oc).sum(-1)
            disc = b * b - 4 * a * ((oc * oc).sum() - r * r)
            ts = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
        ts = np.where(ts > 0, ts, np.inf)
        z = np.minimum(tp, ts) + rng.normal(0, 2e-4, (H, W))
        z = np.where(np.isfinite(z), z, 0.0)
        z[rng.random((H, W)) < 0.02] = 0.0
        views.append(V)
        depths.append(z.astype(np.float32))
    intr = np.tile([K[0, 0], K[1, 1], K[0, 2] - 0.5, K[1, 2] - 0.5], (num_views, 1))
    return np.stack(depths), np.stack(views), intr, c


@pytest.mark.parametrize("seed,num_views,res", [(0, 6, 40), (1, 10, 57), (2, 3, 24)])
def test_kernel_equals_reference(seed, num_views, res):
    depths, E, intr, c = _scene(seed, num_views)
    side = 0.12
    cube = TsdfCube(c - side / 2, side / res, res, 4 * side / res)
    got = tsdf_points(depths, E, intr, cube)
    ref = tsdf_points_reference(depths, E, intr, cube)
    assert len(got) > 100
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("seed", [0, 3])
def test_points_are_open3d_uniform_tsdf_volume_points(seed):
    from point2act._open3d import load

    o3d = load()
    depths, E, intr, c = _scene(seed, 8)
    side, res = 0.12, 48
    cube = TsdfCube(c - side / 2, side / res, res, 4 * side / res)
    ours = tsdf_points(depths, E, intr, cube)
    vol = o3d.pipelines.integration.UniformTSDFVolume(
        length=side, resolution=res, sdf_trunc=4 * side / res,
        color_type=o3d.pipelines.integration.TSDFVolumeColorType.NoColor, origin=(c - side / 2).reshape(3, 1))
    H, W = depths.shape[1:]
    gray = o3d.geometry.Image(np.zeros((H, W), dtype=np.float32))
    for d, V, k in zip(depths, E, intr):
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            gray, o3d.geometry.Image(np.ascontiguousarray(d)), depth_scale=1.0, depth_trunc=float(d.max()) + 1.0,
            convert_rgb_to_intensity=False)
        vol.integrate(rgbd, o3d.camera.PinholeCameraIntrinsic(W, H, *k), V)
    theirs = np.asarray(vol.extract_point_cloud().points)
    assert len(ours) > 1000
    np.testing.assert_array_equal(ours, theirs)  # the same float32 expressions in the same order: the same bits


def test_order_is_voxel_then_axis_and_empty_views_give_nothing():
    depths, E, intr, c = _scene(4, 4)
    side, res = 0.12, 32
    cube = TsdfCube(c - side / 2, side / res, res, 4 * side / res)
    pts = tsdf_points(depths, E, intr, cube)
    # each point moves off its first voxel's centre along one axis only, by less than a voxel
    g = (pts - cube.origin) / cube.voxel - 0.5
    idx = np.floor(g + 1e-9).astype(np.int64)
    off = g - idx
    moved = np.abs(off) > 1e-9
    assert np.all(moved.sum(1) <= 1)
    axis = np.where(moved.any(1), moved.argmax(1), 0)
    key = ((idx[:, 0] * res + idx[:, 1]) * res + idx[:, 2]) * 3 + axis
    assert np.all(np.diff(key) >= 0)
    assert len(tsdf_points(np.zeros_like(depths), E, intr, cube)) == 0
    assert tsdf_points(depths[:0], E[:0], intr[:0], cube).shape == (0, 3)
