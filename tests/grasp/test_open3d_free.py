"""DBSCAN, voxel downsampling and normals (numpy + scipy) against open3d, the reference they follow:
``point2act.grasp.region.dbscan`` gives open3d's ``cluster_dbscan`` labels, numbers included;
``point2act.grasp.surface.voxel_downsample`` open3d's ``voxel_down_sample`` centroids (in lexicographic
voxel order); ``point2act.grasp.surface.scene_points`` the points and normals of open3d's
``voxel_down_sample`` + ``estimate_normals(KDTreeSearchParamHybrid)`` (its normals from the C++ kernel
``csrc/surface_normals.cpp``; the numpy reference ``_normals_reference`` against open3d too). < 10 s."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow plain `pytest` without an installed package
    sys.path.insert(0, str(ROOT))

pytest.importorskip("scipy")
pytest.importorskip("open3d")

from point2act._open3d import load  # noqa: E402
from point2act.grasp.config import NORMAL_MAX_NN, NORMAL_RADIUS, VOXEL_SIZE  # noqa: E402
from point2act.grasp.region import dbscan  # noqa: E402
from point2act.grasp.surface import scene_points, voxel_downsample  # noqa: E402

o3d = load()


def _cloud(pts):
    return o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(pts, dtype=np.float64)))


def _o3d_dbscan(pts, eps, min_points):
    return np.asarray(_cloud(pts).cluster_dbscan(float(eps), int(min_points), print_progress=False), np.int64)


def _rows(a):  # [K, 3] rows in lexicographic order of their coordinates
    return a[np.lexsort(a.T[::-1])]


# ---------------------------------------------------------------- DBSCAN


def _blobs(seed, n_blobs=4, noise=200):
    rng = np.random.default_rng(seed)
    blobs = [rng.normal(rng.uniform(-0.3, 0.3, 3), rng.uniform(0.01, 0.03), (rng.integers(50, 300), 3))
             for _ in range(n_blobs)]
    pts = np.concatenate(blobs + [rng.uniform(-0.5, 0.5, (noise, 3))])
    return pts[rng.permutation(len(pts))]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eps,min_points", [(0.01, 3), (0.02, 5), (0.03, 10), (0.05, 20), (0.08, 1),
                                             (0.015, 0)])
def test_dbscan_labels_equal_open3d(seed, eps, min_points):
    pts = _blobs(seed)
    ours = dbscan(pts, eps, min_points)
    assert ours.dtype == np.int64
    assert np.array_equal(ours, _o3d_dbscan(pts, eps, min_points))


@pytest.mark.parametrize("eps,min_points", [(0.25, 1), (0.25, 2), (0.25, 5), (0.5, 9), (0.5, 14), (0.5, 20),
                                             (0.75, 27), (0.75, 40)])
def test_dbscan_distance_ties_at_eps(eps, min_points):
    """A lattice of spacing 1/4 (exact in binary): many pairs lie exactly ``eps`` apart, and are no
    neighbours (open3d's radius search is strict)."""
    rng = np.random.default_rng(int(eps * 100) + min_points)
    g = np.stack(np.meshgrid(*[np.arange(9) * 0.25] * 3, indexing="ij"), -1).reshape(-1, 3)
    pts = g[rng.random(len(g)) < 0.45]
    pts = pts[rng.permutation(len(pts))] + 1.0  # an exact shift: the ties stay
    d2 = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    assert (d2 == eps * eps).sum() > 0
    ours = dbscan(pts, eps, min_points)
    assert np.array_equal(ours, _o3d_dbscan(pts, eps, min_points))
    if (eps, min_points) in ((0.25, 2), (0.5, 14)):  # here the ties change the labels
        assert not np.array_equal(ours, _o3d_dbscan(pts, eps * (1 + 1e-12), min_points))


def test_dbscan_border_point_takes_first_cluster():
    """A non-core point within eps of two clusters' core points gets the lower label."""
    line = np.c_[np.arange(6) * 0.05, np.zeros(6), np.zeros(6)]
    a, b = line + [0.0, 0.0, 0.0], line + [0.0, 0.35, 0.0]
    border = np.array([[0.0, 0.175, 0.0]])  # 0.175 from both clusters' first points
    for pts in (np.concatenate([border, b, a]), np.concatenate([b, border, a]),
                np.concatenate([a, b, border])):
        ours = dbscan(pts, 0.18, 4)  # the border point has 3 neighbours, itself included
        assert np.array_equal(ours, _o3d_dbscan(pts, 0.18, 4))
        i = int(np.flatnonzero((pts == border).all(1))[0])
        assert ours[i] == 0 and set(ours.tolist()) == {0, 1}


def test_dbscan_small_and_empty():
    assert dbscan(np.zeros((0, 3)), 0.1, 3).shape == (0,)
    assert np.array_equal(dbscan(np.zeros((0, 3)), 0.1, 3), _o3d_dbscan(np.zeros((0, 3)), 0.1, 3))
    one = np.array([[0.1, 0.2, 0.3]])
    for mp in (0, 1, 2):
        assert np.array_equal(dbscan(one, 0.1, mp), _o3d_dbscan(one, 0.1, mp))
    dup = np.array([[0.0, 0, 0], [0.0, 0, 0], [1.0, 0, 0]])
    for eps, mp in ((0.5, 2), (1.0, 2), (1.0, 3), (1.5, 3)):
        assert np.array_equal(dbscan(dup, eps, mp), _o3d_dbscan(dup, eps, mp))


# ---------------------------------------------------------------- voxel downsampling


@pytest.mark.parametrize("seed,voxel", [(0, 0.1), (1, 0.003), (2, 0.0371), (3, 0.01)])
def test_voxel_downsample_equals_open3d(seed, voxel):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1, 1, (20000, 3)) * rng.uniform(0.01, 2.0) + rng.uniform(-5, 5, 3)
    pts[:200] = pts[200:400]  # repeated points
    ours = voxel_downsample(pts, voxel)
    theirs = np.asarray(_cloud(pts).voxel_down_sample(voxel).points)
    assert ours.shape == theirs.shape
    assert np.allclose(_rows(ours), _rows(theirs), rtol=0, atol=1e-12)
    # one centroid per voxel, the voxels in lexicographic order of their integer index (x, then y, then z)
    ijk = np.floor((pts - (pts.min(0) - voxel * 0.5)) / voxel).astype(np.int64)  # [N, 3]
    vox, inv = np.unique(ijk, axis=0, return_inverse=True)  # lexicographic rows
    inv = inv.reshape(-1)
    assert len(vox) == len(ours)
    mean = np.stack([np.bincount(inv, weights=pts[:, c]) for c in range(3)], 1) / np.bincount(inv)[:, None]
    assert np.allclose(ours, mean, rtol=0, atol=1e-12)


def test_voxel_downsample_empty_and_small():
    assert voxel_downsample(np.zeros((0, 3)), 0.01).shape == (0, 3)
    p = np.array([[0.0, 0, 0], [0.001, 0, 0], [0.5, 0.5, 0.5]])
    assert np.allclose(_rows(voxel_downsample(p, 0.01)),
                       _rows(np.asarray(_cloud(p).voxel_down_sample(0.01).points)), rtol=0, atol=1e-12)
    assert np.array_equal(voxel_downsample(p, 0.0), p)


# ---------------------------------------------------------------- normals


def _o3d_scene_points(pts, camera_centers=None):
    """open3d's surface cloud for a metric scene: ``voxel_down_sample`` and ``estimate_normals`` (hybrid
    search), normals of norm <= 0.5 dropped, flipped towards the nearest camera."""
    pc = _cloud(pts).voxel_down_sample(VOXEL_SIZE)
    if len(pc.points) >= 3:
        pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=NORMAL_RADIUS, max_nn=NORMAL_MAX_NN))
    p = np.asarray(pc.points).copy()
    n = np.asarray(pc.normals).copy() if pc.has_normals() else np.zeros_like(p)
    norm = np.linalg.norm(n, axis=1)
    good = np.isfinite(n).all(1) & (norm > 0.5)
    p, n = p[good], n[good] / norm[good, None]
    if camera_centers is not None and len(p):
        ci = np.argmin(((p[:, None] - camera_centers[None]) ** 2).sum(-1), axis=1)
        n[np.sum(n * (camera_centers[ci] - p), axis=1) < 0] *= -1
    return p, n


def _sphere(rng, n, c, r):
    v = rng.normal(size=(n, 3))
    return c + r * v / np.linalg.norm(v, axis=1, keepdims=True)


def _plane(rng, n, c, u, w, half):
    a = rng.uniform(-half, half, (n, 2))
    return c + a[:, :1] * u + a[:, 1:] * w


def _noisy_box(rng, n, c, half, noise):
    face = rng.integers(0, 6, n)
    q = rng.uniform(-1, 1, (n, 3))
    q[np.arange(n), face // 2] = np.where(face % 2, 1.0, -1.0)
    return c + q * half + rng.normal(0, noise, (n, 3))


def _surfaces(seed):
    rng = np.random.default_rng(seed)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    return {
        "plane": _plane(rng, 15000, np.array([0.3, -0.2, 0.5]), R[0], R[1], 0.12),
        "table": _plane(rng, 15000, np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 0.1),
        "sphere": _sphere(rng, 15000, np.array([0.1, 0.2, 0.6]), 0.05),
        "box": _noisy_box(rng, 15000, np.array([-0.1, 0.3, 0.4]), np.array([0.05, 0.03, 0.08]), 0.0005),
        # sparse points: fewer than 3 neighbours within NORMAL_RADIUS for some
        "sparse": rng.uniform(-0.1, 0.1, (400, 3)) + [0.0, 0.0, 1.0],
    }


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["plane", "table", "sphere", "box", "sparse", "all"])
def test_scene_points_normals_equal_open3d(seed, kind):
    clouds = _surfaces(seed)
    pts = np.concatenate(list(clouds.values())) if kind == "all" else clouds[kind]
    cams = np.array([[0.5, 0.5, 1.5], [-0.6, 0.1, 1.2]])
    for cameras in (None, cams):
        p, n = scene_points(pts, np.ones(len(pts)), cfg=None, camera_centers=cameras)
        rp, rn = _o3d_scene_points(pts, cameras)
        # the same points (none dropped where open3d drops none), in lexicographic voxel order
        assert p.shape == rp.shape and len(p) > 50
        a, b = np.lexsort(p.T[::-1]), np.lexsort(rp.T[::-1])
        assert np.allclose(p[a], rp[b], rtol=0, atol=1e-12)
        assert np.allclose(np.linalg.norm(n, axis=1), 1.0, rtol=0, atol=1e-12)
        cos = np.sum(n[a] * rn[b], axis=1)
        if cameras is None:
            assert (np.abs(cos) > 1 - 1e-9).all()
            big = np.argmax(np.abs(n), axis=1)  # the documented sign: largest component positive
            assert (n[np.arange(len(n)), big] > 0).all()
        else:
            assert (cos > 1 - 1e-9).all()


@pytest.mark.parametrize("kind", ["plane", "sphere", "box", "sparse"])
def test_normals_reference_equals_open3d(kind):
    """The numpy reference of the normals (``_normals_reference``, numpy's ``eigh``; what runs where the C++
    kernel cannot be built) gives open3d's directions too, and the kernel's to ``|cos| > 1 - 1e-9``."""
    from point2act.grasp.surface import _normals, _normals_reference

    pts = _surfaces(0)[kind]
    p = voxel_downsample(pts, VOXEL_SIZE)
    pc = _cloud(p)
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=NORMAL_RADIUS, max_nn=NORMAL_MAX_NN))
    theirs = np.asarray(pc.normals)
    ref = _normals_reference(p, NORMAL_RADIUS, NORMAL_MAX_NN)
    assert (np.abs(np.sum(ref * theirs, axis=1)) > 1 - 1e-9).all()
    assert (np.sum(ref * _normals(p, NORMAL_RADIUS, NORMAL_MAX_NN), axis=1) > 1 - 1e-9).all()


def test_scene_points_few_neighbours_and_few_points():
    """Fewer than 3 neighbours: open3d's normal (0, 0, 1); fewer than 3 points in all: no points."""
    far = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0], [0.0, 0, 1], [0.005, 0, 1]])
    p, n = scene_points(far, np.ones(len(far)))
    rp, rn = _o3d_scene_points(far)
    assert len(p) == len(rp) == 5
    a, b = np.lexsort(p.T[::-1]), np.lexsort(rp.T[::-1])
    assert np.array_equal(n[a], rn[b]) and (n == [0.0, 0.0, 1.0]).all()
    for k in (1, 2):
        p, n = scene_points(far[:k], np.ones(k))
        assert p.shape == n.shape == (0, 3) and len(_o3d_scene_points(far[:k])[0]) == 0
