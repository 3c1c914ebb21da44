"""point2act.triangulate against closed forms: a textured plane and a textured box seen by posed
pinhole cameras (ray cast in tests/raycast_scene.py); every triangulated point must lie on the true surfaces."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.triangulate import (MIN_TRACK_LENGTH, cloud_cache_path, read_ply, triangulate_posed_images,
                                   write_ply)

from raycast_scene import H, W, distance_to_scene, look_at, ring_scene  # noqa: E402  (tests/raycast_scene.py)


@pytest.fixture(scope="module")
def scene():
    return ring_scene()


def test_points_lie_on_the_true_surfaces(scene):
    images, Ks, vms, box = scene
    lines = []
    cloud = triangulate_posed_images(images, Ks, vms, num_threads=1, progress=lines.append)
    assert len(cloud) >= 200, cloud.summary()
    d = distance_to_scene(cloud.points, box)
    # 1 px at 1.3 m with f = 260 is 5 mm: points within a few pixels' worth of the surfaces
    assert np.median(d) < 0.005, np.median(d)
    assert np.percentile(d, 95) < 0.02, np.percentile(d, 95)
    assert (cloud.track_lengths >= MIN_TRACK_LENGTH).all()
    assert cloud.colors.shape == (len(cloud), 3) and cloud.colors.dtype == np.uint8
    assert any("matching" in line for line in lines)
    # the box's sides are reconstructed too, not only the floor
    assert ((cloud.points[:, 2] > 0.05) & (d < 0.01)).sum() >= 20


def test_the_known_poses_fix_the_frame(scene):
    """The cloud is in the cameras' frame: moving every camera by a rigid motion moves the cloud with it."""
    images, Ks, vms, box = scene
    from scipy.spatial.transform import Rotation

    M = np.eye(4)
    M[:3, :3] = Rotation.from_euler("zyx", [30, 10, -5], degrees=True).as_matrix()
    M[:3, 3] = [0.5, -1.0, 2.0]
    moved = np.stack([vm @ np.linalg.inv(M) for vm in vms])
    cloud = triangulate_posed_images(images, Ks, moved, num_threads=1)
    back = (cloud.points - M[:3, 3]) @ M[:3, :3]
    assert len(cloud) >= 200
    assert np.median(distance_to_scene(back, box)) < 0.005


def test_a_textureless_capture_gives_an_empty_cloud():
    K = np.array([[200.0, 0, W / 2], [0, 200.0, H / 2], [0, 0, 1]])
    vms = np.stack([look_at(np.array([np.cos(a), np.sin(a), 1.0]), np.zeros(3)) for a in (0.0, 0.5, 1.0)])
    images = [np.full((H, W, 3), 128, np.uint8) for _ in vms]
    cloud = triangulate_posed_images(images, np.repeat(K[None], 3, 0), vms, num_threads=1)
    assert len(cloud) == 0
    assert "0 points" in cloud.summary()


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="differ in number"):
        triangulate_posed_images([np.zeros((8, 8, 3), np.uint8)] * 2, np.eye(3)[None], np.eye(4)[None].repeat(2, 0))


def test_ply_round_trip_and_cache_key(tmp_path):
    rng = np.random.default_rng(0)
    pts, rgb = rng.normal(size=(50, 3)), rng.integers(0, 256, (50, 3)).astype(np.uint8)
    write_ply(tmp_path / "c.ply", pts, rgb)
    p2, c2 = read_ply(tmp_path / "c.ply")
    np.testing.assert_allclose(p2, pts.astype(np.float32), atol=1e-6)
    np.testing.assert_array_equal(c2, rgb)
    ims = [np.zeros((4, 4, 3), np.uint8)]
    K, vm = np.eye(3)[None], np.eye(4)[None]
    a = cloud_cache_path(ims, K, vm)
    assert a == cloud_cache_path([im.copy() for im in ims], K.copy(), vm.copy())
    ims2 = [ims[0].copy()]
    ims2[0][0, 0, 0] = 1
    assert cloud_cache_path(ims2, K, vm) != a
    vm2 = vm.copy()
    vm2[0, 0, 3] = 0.01
    assert cloud_cache_path(ims, K, vm2) != a
