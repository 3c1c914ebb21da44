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
