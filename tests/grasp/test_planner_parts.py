"""The planner's array helpers against their plain numpy definitions (point2act.grasp.planner and its stages)."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp.part_scans import angles as _angles
from point2act.grasp.clouds import unique_rows


@pytest.mark.parametrize("n,lo,hi", [(1, 0, 1), (50, -3, 3), (200_000, -60, 60), (1000, -(2**40), 2**40)])
def test_unique_rows_is_numpys_unique_on_rows(n, lo, hi):
    a = np.random.default_rng(n).integers(lo, hi, (n, 3))
    assert np.array_equal(unique_rows(a), np.unique(a, axis=0))


@pytest.mark.parametrize("T", [1, 6, 12])
def test_angles_z_window_keeps_exactly_the_entries_inside_it(T):
    """The window on z drops only what the unwindowed call would give outside it, in the same order."""
    rng = np.random.default_rng(T)
    su, sv = rng.normal(0, 0.03, 5000).astype(np.float32), rng.normal(0, 0.03, 5000).astype(np.float32)
    e0, t0, y0, z0 = _angles(su, sv, 0.01, T)
    e1, t1, y1, z1 = _angles(su, sv, 0.01, T, -0.02, 0.035)
    keep = (z0 >= -0.02) & (z0 <= 0.035)
    assert 0 < keep.sum() < len(keep)
    for a, b in ((e0, e1), (t0, t1), (y0, y1), (z0, z1)):
        assert np.array_equal(a[keep], b)
    # the definition: z = su cos t + sv sin t, y = su sin t - sv cos t, |y| <= half width
    th = 2 * np.pi * t1 / T
    assert np.allclose(z1, su[e1] * np.cos(th) + sv[e1] * np.sin(th), atol=1e-6)
    assert np.all(np.abs(su[e1] * np.sin(th) - sv[e1] * np.cos(th)) <= 0.01 + 1e-6)


def test_support_plane_is_fitted_to_what_the_views_see_within_reach():
    """A bar 3 cm above a plain table whose Gaussians are nearly all on the bar (a plain table has few
    centres): fitted to the surface points, the table is not the plane found; fitted to what the views see
    (``plane_points``: the table by image area), the table z = 0 is found, and a larger wall 1 m away,
    beyond the gripper's reach, does not take its place."""
    from point2act.grasp import GraspConfig, PlanningScene
    from point2act.grasp.planner import plan_grasps

    rng = np.random.default_rng(0)
    bar = np.c_[rng.uniform(-0.06, 0.06, 4000), rng.uniform(-0.01, 0.01, 4000), rng.uniform(0.03, 0.05, 4000)]
    table = np.c_[rng.uniform(-0.3, 0.3, 200), rng.uniform(-0.3, 0.3, 200), np.zeros(200)]
    means = np.concatenate([bar, table])
    opac = np.ones(len(means))
    rel = np.r_[np.ones(len(bar)), np.zeros(len(table))]
    seen_table = np.c_[rng.uniform(-0.3, 0.3, 20000), rng.uniform(-0.3, 0.3, 20000), np.zeros(20000)]
    wall = np.c_[np.full(60000, 1.0), rng.uniform(-1, 1, 60000), rng.uniform(-0.5, 1.0, 60000)]
    cfg = GraspConfig(num_candidates=64, top_k=1)
    without = plan_grasps(PlanningScene(means, opac, rel), cfg)
    p0 = without.support_plane
    assert p0 is None or abs(p0[2]) < 0.99 or abs(p0[3]) > 0.01  # not the table
    seen = np.concatenate([seen_table, bar, wall])
    with_views = plan_grasps(PlanningScene(means, opac, rel, plane_points=seen), cfg)
    plane = with_views.support_plane
    assert plane is not None
    assert abs(abs(plane[2]) - 1.0) < 1e-3 and abs(plane[3]) < 2e-3 and plane[2] > 0  # z = 0, up towards the bar


@pytest.mark.parametrize("sunk", [0.0, -0.003, -0.01])
def test_support_plane_faces_the_cameras(sunk):
    """Up is the cameras' side, wherever the action point lies: a handle whose reconstruction sinks
    into the table puts the action point on or just under it, and orienting by that point alone turns
    the table upside down (every grasp from above then meets the "table" first). Without cameras the
    action point still decides when it lies off the plane. With cameras, an action point more than the
    inlier distance (4 mm) under the plane means no support plane: a support holds the target up."""
    from point2act.grasp import GraspConfig
    from point2act.grasp.surface import fit_support_plane

    rng = np.random.default_rng(1)
    table = np.c_[rng.uniform(-0.2, 0.2, (3000, 2)), rng.normal(0, 0.0005, 3000)]
    bump = np.c_[rng.uniform(-0.05, 0.05, (300, 2)), rng.uniform(-0.02, 0.0, 300)]  # the sunk, fuzzy part
    pts = np.concatenate([table, bump])
    cams = np.c_[rng.uniform(-0.4, 0.4, (10, 2)), rng.uniform(0.3, 0.6, 10)]
    ap = np.array([0.0, 0.0, sunk])
    cfg = GraspConfig()
    plane = fit_support_plane(pts, cfg, up_hint=ap, camera_centers=cams)
    if sunk < -0.005:
        assert plane is None
        assert fit_support_plane(pts, cfg, camera_centers=cams)[2] > 0.999  # no action point: the plane
    else:
        assert plane is not None and plane[2] > 0.999 and abs(plane[3]) < 2e-3
        assert np.all(cams @ plane[:3] + plane[3] > 0)
    if sunk < -0.005:  # off the plane, below: the action point alone flips it
        assert fit_support_plane(pts, cfg, up_hint=ap)[2] < -0.999
    assert fit_support_plane(pts, cfg, up_hint=-ap + np.array([0, 0, 0.01]))[2] > 0.999


@pytest.mark.parametrize("ap_z,found", [(0.012, False), (0.03, True)])
def test_a_layer_of_fog_over_the_target_is_no_support(ap_z, found):
    """A reconstruction from random points over a plain table keeps an opaque layer of fog 2 cm above it; the
    target (a part 1.5 cm tall, its action point 1.2 cm up) pierces it. The layer is the dominant plane within
    reach, but a support holds the target up: with the action point under it there is no support plane; with
    the action point above it (a taller part) the layer is taken as the support."""
    from point2act.grasp import GraspConfig
    from point2act.grasp.surface import fit_support_plane

    rng = np.random.default_rng(2)
    fog = np.c_[rng.uniform(-0.2, 0.2, (3000, 2)), rng.normal(0.02, 0.001, 3000)]
    part = np.c_[rng.uniform(-0.03, 0.03, (300, 2)), rng.uniform(0.0, 0.015, 300)]
    cams = np.c_[rng.uniform(-0.4, 0.4, (10, 2)), rng.uniform(0.3, 0.6, 10)]
    plane = fit_support_plane(np.concatenate([fog, part]), GraspConfig(), up_hint=np.array([0.0, 0.0, ap_z]),
                              camera_centers=cams)
    if found:
        assert plane is not None and plane[2] > 0.999 and abs(plane[3] + 0.02) < 2e-3
    else:
        assert plane is None


@pytest.mark.parametrize("ap_z,found", [(0.006, True), (0.002, False)])
def test_relevancy_bleeding_onto_the_table_leaves_it_the_support(ap_z, found):
    """A flat part 1.4 cm tall on a table; its relevant Gaussians are the part and, as much again, the table
    around it (a field's relevancy bleeds onto the table around a low part). With the action point on the
    part, 6 mm up, the table is still its support; with the action point on the table and most of the region
    there too, the plane is taken for the target itself and there is no support plane."""
    from point2act.grasp import GraspConfig
    from point2act.grasp.surface import fit_support_plane

    rng = np.random.default_rng(3)
    table = np.c_[rng.uniform(-0.2, 0.2, (3000, 2)), rng.normal(0, 0.001, 3000)]
    part = np.c_[rng.uniform(-0.02, 0.02, (300, 2)), rng.uniform(0.005, 0.014, 300)]
    bleed = np.c_[rng.uniform(-0.03, 0.03, (320, 2)), rng.normal(0, 0.001, 320)]
    cams = np.c_[rng.uniform(-0.4, 0.4, (10, 2)), rng.uniform(0.3, 0.6, 10)]
    region = np.concatenate([part, bleed])
    plane = fit_support_plane(np.concatenate([table, part]), GraspConfig(), up_hint=np.array([0.0, 0.0, ap_z]),
                              region_points=region, camera_centers=cams)
    if found:
        assert plane is not None and plane[2] > 0.999 and abs(plane[3]) < 2e-3
    else:
        assert plane is None


@pytest.mark.parametrize("outliers", [0.2, 0.5])
def test_ransac_plane_finds_a_tilted_plane_among_outliers(outliers):
    """Closed form: points on a known plane (noise well inside the threshold) among uniform outliers; the
    refitted plane is the true one and its inliers hold every plane point. open3d's ``segment_plane`` on the
    same points (the reference) finds the same plane."""
    import open3d as o3d

    from point2act.grasp.surface import ransac_plane

    rng = np.random.default_rng(3)
    n_true = np.array([0.2, -0.3, 1.0]) / np.linalg.norm([0.2, -0.3, 1.0])
    u = np.cross(n_true, [1.0, 0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(n_true, u)
    m = 4000
    k = int(outliers * m)
    on = rng.uniform(-0.2, 0.2, (m - k, 1)) * u + rng.uniform(-0.2, 0.2, (m - k, 1)) * v + 0.05 * n_true
    on += rng.normal(0, 0.0005, (m - k, 1)) * n_true
    P = np.concatenate([on, rng.uniform(-0.2, 0.25, (k, 3))])
    model, inl = ransac_plane(P, 0.004, 300, seed=0)
    assert abs(np.linalg.norm(model[:3]) - 1) < 1e-12
    s = np.sign(model[:3] @ n_true)
    assert np.degrees(np.arccos(min(1.0, abs(model[:3] @ n_true)))) < 0.2
    assert abs(s * model[3] + 0.05) < 5e-4  # n . x = 0.05 on the plane
    assert np.isin(np.arange(m - k), inl).mean() > 0.999
    ref, ref_inl = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(P)).segment_plane(0.004, 3, 300)
    ref = np.asarray(ref) / np.linalg.norm(np.asarray(ref)[:3])
    assert np.degrees(np.arccos(min(1.0, abs(ref[:3] @ model[:3])))) < 0.2
    assert abs(len(inl) - len(ref_inl)) <= 0.01 * len(ref_inl)


def test_ransac_plane_is_the_same_for_a_seed_and_under_any_thread_count(tmp_path):
    """The same points and seed give the same bits, in this process and in one with another thread count
    (open3d's OpenMP RANSAC did not: its draws depend on thread timing); another seed draws other samples."""
    import os
    import subprocess
    import sys

    from point2act.grasp.surface import ransac_plane

    rng = np.random.default_rng(0)
    P = np.concatenate([np.c_[rng.uniform(-0.2, 0.2, (3000, 2)), rng.normal(0, 0.001, 3000)],
                        rng.uniform(-0.2, 0.2, (1500, 3))])
    np.save(tmp_path / "p.npy", P)
    a = ransac_plane(P, 0.004, 300, seed=7)
    b = ransac_plane(P, 0.004, 300, seed=7)
    assert a[0].tobytes() == b[0].tobytes() and np.array_equal(a[1], b[1])
    code = ("import sys, numpy as np; from point2act.grasp.surface import ransac_plane; "
            f"m, i = ransac_plane(np.load(r'{tmp_path / 'p.npy'}'), 0.004, 300, seed=7); "
            "sys.stdout.write(m.tobytes().hex() + ' ' + str(len(i)))")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.split() == [a[0].tobytes().hex(), str(len(a[1]))]
    c = ransac_plane(P, 0.004, 3, seed=8)
    d = ransac_plane(P, 0.004, 3, seed=7)
    assert c[0].tobytes() != d[0].tobytes()


def _plane_with_outliers(rng, n, outliers, noise):
    """``n`` points: a random plane's (Gaussian noise ``noise`` along its normal) among a fraction ``outliers``
    of uniform ones, shuffled."""
    nt = rng.normal(size=3)
    nt /= np.linalg.norm(nt)
    u = np.cross(nt, [1.0, 0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(nt, u)
    k = int(outliers * n)
    on = (rng.uniform(-0.2, 0.2, (n - k, 1)) * u + rng.uniform(-0.2, 0.2, (n - k, 1)) * v
          + rng.normal(0, 0.1) * nt + rng.normal(0, noise, (n - k, 1)) * nt)
    return np.concatenate([on, rng.uniform(-0.2, 0.25, (k, 3))])[rng.permutation(n)]


@pytest.mark.parametrize("n,iterations,outliers,noise", [
    (3, 1, 0.0, 0.0), (3, 300, 0.0, 0.0), (4, 300, 0.5, 0.001), (50, 33, 0.3, 0.002), (1000, 1, 0.5, 0.001),
    (1000, 65, 0.2, 0.003), (5000, 32, 0.6, 0.0005), (20000, 300, 0.4, 0.001), (50000, 97, 0.5, 0.002)])
def test_ransac_plane_kernel_equals_its_numpy_reference(n, iterations, outliers, noise):
    """``ransac_plane`` (the C++ kernel ``csrc/ransac_plane.cpp`` scores the draws) gives the bits of
    ``ransac_plane_reference`` (numpy): the same model and inliers, on planes with noise and outliers; tiny
    clouds have draws without a plane (repeated points), 1 and 33 iterations a chunk with a single draw. The
    kernel's counts and sums are the same under 1 and 2 threads, and equal the reference's expressions."""
    from point2act.grasp import _kernel
    from point2act.grasp.surface import _ransac_draws, ransac_plane, ransac_plane_reference

    kernel = _kernel.kernel("ransac_plane_scores")
    if kernel is None:
        pytest.skip("no C++ compiler: ransac_plane runs its reference")
    rng = np.random.default_rng(n + iterations)
    P = _plane_with_outliers(rng, n, outliers, noise)
    for seed in (0, 5):
        a, ai = ransac_plane(P, 0.004, iterations, seed=seed)
        b, bi = ransac_plane_reference(P, 0.004, iterations, seed=seed)
        np.testing.assert_array_equal(a, b)
        assert a.tobytes() == b.tobytes()
        np.testing.assert_array_equal(ai, bi)
    nrm, off, ok = _ransac_draws(P, iterations, 0)
    count, err = kernel(P, nrm, off, ok, 0.004, 1)
    count2, err2 = kernel(P, nrm, off, ok, 0.004, 2)
    assert count.tobytes() == count2.tobytes() and err.tobytes() == err2.tobytes()
    for i in range(min(iterations, 40)):  # the definition, plane by plane: a sequential sum in point order
        dist = np.abs(((P[:, 0] * nrm[i, 0] + P[:, 1] * nrm[i, 1]) + P[:, 2] * nrm[i, 2]) + off[i])
        inside = dist < 0.004
        assert count[i] == (inside.sum() if ok[i] else 0)
        assert err[i] == (np.cumsum(np.where(inside, dist, 0.0))[-1] if ok[i] else 0.0)


def test_ransac_plane_kernel_on_collinear_points_equals_its_reference():
    """Collinear points: no draw gives a plane; kernel and reference agree on the fallback (the first draw)."""
    from point2act.grasp.surface import ransac_plane, ransac_plane_reference

    P = np.c_[np.linspace(0, 1, 100), 2 * np.linspace(0, 1, 100), np.zeros(100)]
    a, ai = ransac_plane(P, 0.004, 50, seed=1)
    b, bi = ransac_plane_reference(P, 0.004, 50, seed=1)
    assert a.tobytes() == b.tobytes() and np.array_equal(ai, bi)


def _neighbour_covariances(points, radius, max_nn):
    """The covariance [M, 3, 3] of each point's neighbours (numpy, as ``_normals_reference``) and their count
    [M]."""
    from point2act.grasp.surface import _neighbours

    idx = _neighbours(points, radius, max_nn)
    P = np.concatenate([points, np.full((1, 3), np.inf)])
    d = P[idx] - points[:, None]  # [M, k, 3]
    valid = (d * d).sum(-1) < radius * radius
    d = np.where(valid[..., None], d, 0.0)
    c = np.maximum(valid.sum(1), 1)[:, None, None]
    mean = d.sum(1)[:, :, None] / c
    cov = (d[:, :, :, None] * d[:, :, None, :]).sum(1) / c - mean * mean.transpose(0, 2, 1)
    return cov, valid.sum(1)


def _normal_clouds(seed):
    rng = np.random.default_rng(seed)
    R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    a = rng.uniform(-0.1, 0.1, (8000, 2))
    v = rng.normal(size=(6000, 3))
    face = rng.integers(0, 6, 8000)
    q = rng.uniform(-1, 1, (8000, 3))
    q[np.arange(8000), face // 2] = np.where(face % 2, 1.0, -1.0)
    t = rng.uniform(0, 2 * np.pi, 4000)
    return {
        "tilted plane": a[:, :1] * R[0] + a[:, 1:] * R[1] + [0.3, -0.2, 0.5],
        "table": np.c_[a, np.zeros(len(a))],
        "sphere": 0.05 * v / np.linalg.norm(v, axis=1, keepdims=True) + [0.1, 0.2, 0.6],
        "noisy box": q * [0.05, 0.03, 0.08] + rng.normal(0, 0.0005, (8000, 3)),
        "thin cylinder": np.c_[0.004 * np.cos(t), 0.004 * np.sin(t), rng.uniform(0, 0.1, 4000)],
        "sparse": rng.uniform(-0.1, 0.1, (400, 3)),
        # coinciding points: 3 or more neighbours, a zero covariance
        "repeated": np.repeat(rng.uniform(-0.5, 0.5, (50, 3)), rng.integers(1, 6, 50), axis=0),
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_normals_kernel_agrees_with_its_numpy_reference(seed):
    """``_normals`` (scipy's cKDTree, then the C++ kernel ``csrc/surface_normals.cpp``, a closed-form 3x3
    eigensolver) against ``_normals_reference`` (numpy's ``eigh``): the same direction to ``|cos| > 1 - 1e-9``
    wherever the smallest eigenvalue is separated from the next by more than 1e-6 of the largest (nearly all
    points), the same sign rule (the largest component positive, so the same sign there), ``(0, 0, 1)`` exactly
    at the same points (fewer than 3 neighbours or a zero covariance), unit length, and the same bits under 1
    and 2 threads."""
    from point2act.grasp import _kernel
    from point2act.grasp.config import NORMAL_MAX_NN, NORMAL_RADIUS
    from point2act.grasp.surface import _neighbours, _normals, _normals_reference

    kernel = _kernel.kernel("surface_normals")
    if kernel is None:
        pytest.skip("no C++ compiler: _normals runs its reference")
    for name, pts in _normal_clouds(seed).items():
        ours = _normals(pts, NORMAL_RADIUS, NORMAL_MAX_NN)
        ref = _normals_reference(pts, NORMAL_RADIUS, NORMAL_MAX_NN)
        assert ours.shape == ref.shape == pts.shape
        cov, cnt = _neighbour_covariances(pts, NORMAL_RADIUS, NORMAL_MAX_NN)
        none = (cnt < 3) | ~(cov.reshape(-1, 9) != 0).any(1)
        assert np.array_equal(ours[none], np.tile([0.0, 0.0, 1.0], (int(none.sum()), 1))), name
        assert np.array_equal(ref[none], ours[none]), name
        ev = np.linalg.eigvalsh(np.where(none[:, None, None], np.eye(3), cov))  # [M, 3] ascending
        sep = ~none & (ev[:, 1] - ev[:, 0] > 1e-6 * np.abs(ev[:, 2]))
        assert sep.sum() >= 0.99 * (~none).sum(), name
        if name == "sparse":
            assert none.sum() > 0.5 * len(pts)
        elif name == "repeated":
            assert none.all() and (cnt >= 3).any()
        else:
            assert sep.all(), name
        cos = (ours * ref).sum(1)
        assert (cos[sep] > 1 - 1e-9).all(), (name, cos[sep].min())
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=0, atol=1e-12), name
        big = np.argmax(np.abs(ours), axis=1)
        assert (ours[np.arange(len(ours)), big] > 0).all(), name
        idx = _neighbours(pts, NORMAL_RADIUS, NORMAL_MAX_NN)
        one, two = kernel(pts, idx, NORMAL_RADIUS, 1), kernel(pts, idx, NORMAL_RADIUS, 2)
        assert one.tobytes() == two.tobytes() == ours.tobytes(), name


def test_normals_of_too_few_points_or_no_radius():
    from point2act.grasp.surface import _normals, _normals_reference

    for pts, radius, nn in ((np.zeros((0, 3)), 0.01, 24), (np.eye(3), 0.01, 24), (np.eye(3), 0.0, 24),
                            (np.eye(3) * 1e-3, 0.01, 0), (np.eye(3) * 1e-3, 0.01, 2)):
        ours, ref = _normals(pts, radius, nn), _normals_reference(pts, radius, nn)
        assert ours.shape == (len(pts), 3) and np.array_equal(ours, ref)
        assert (ours == [0.0, 0.0, 1.0]).all()
