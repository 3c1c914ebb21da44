"""The opening of a kept grasp: as wide as the free room around the part allows (planner,
``widest_free_opening``). A bar alone on a table is held from the gripper's widest opening; beside a
wall that leaves less room, the opening stops short of the wall by the collision margin; where no wider
opening is free, the part's own opening stays."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("open3d")

from point2act.grasp import GraspConfig, PlanningScene, plan_grasps  # noqa: E402
from point2act.grasp.config import CLEARANCE_MARGIN, SWEEP_FINE_LENGTH  # noqa: E402
from point2act.grasp.occupancy import FREE, OCCUPIED, UNKNOWN, OccupancyGrid  # noqa: E402
from point2act.grasp.opening import OPEN_LEVELS  # noqa: E402

from test_opening import HALF_W, VOXEL, bar_points, table_points  # noqa: E402  (this folder is on sys.path)


def wall_points(x0: float, step=0.0015):
    """A wall: the plane x = x0, as tall as the bar and beyond, along the bar's length."""
    ys = np.arange(-0.08, 0.08 + 1e-9, step)
    zs = np.arange(0.0, 0.09 + 1e-9, step)
    Y, Z = np.meshgrid(ys, zs, indexing="ij")
    return np.c_[np.full(Y.size, x0), Y.ravel(), Z.ravel()]


def grid(walls=()) -> OccupancyGrid:
    n = 44
    origin = np.array([-0.132, -0.132, -0.04])
    state = np.full((n, n, n), FREE, np.uint8)
    c = origin + (np.indices((n, n, n)).reshape(3, -1).T + 0.5) * VOXEL
    flat = state.reshape(-1)
    flat[c[:, 2] < 0.0] = UNKNOWN
    flat[(c[:, 2] < 0.0) & (c[:, 2] > -VOXEL)] = OCCUPIED
    flat[(np.abs(c[:, 0]) <= HALF_W) & (np.abs(c[:, 1]) <= 0.06) & (c[:, 2] >= 0.03) & (c[:, 2] <= 0.05)] = OCCUPIED
    for x0 in walls:
        flat[(np.abs(c[:, 0] - x0) <= VOXEL / 2) & (np.abs(c[:, 1]) <= 0.08) & (c[:, 2] >= 0.0) & (c[:, 2] <= 0.09)] = OCCUPIED
    z = np.zeros_like(state, dtype=np.int16)
    return OccupancyGrid(origin, VOXEL, z, z, state)


def plan(walls=()):
    bar, table = bar_points(), table_points()
    extra = [wall_points(x0) for x0 in walls]
    P = np.concatenate([bar, table, *extra])
    rel = np.r_[np.ones(len(bar)), np.zeros(len(P) - len(bar))]
    cams = np.array([[0.0, 0.0, 0.5], [0.4, 0.0, 0.4], [-0.4, 0.0, 0.4], [0.0, 0.4, 0.4], [0.0, -0.4, 0.4]])
    cfg = GraspConfig()
    res = plan_grasps(PlanningScene(P, np.full(len(P), 0.9), rel, surface_points=P, camera_centers=cams,
                                    scales=np.full((len(P), 3), 0.001), occupancy=grid(walls)), cfg)
    assert res.grasps, res.warning
    return res, cfg


def across_x(res):
    return [g for g in res.grasps if abs(g.rotation[0, 0]) > 0.9 and g.on_target]


def test_a_bar_alone_is_held_from_the_widest_opening():
    res, cfg = plan()
    g = across_x(res)
    assert g, [gr.rotation[:, 0].round(2).tolist() for gr in res.grasps]
    top_down = [gr for gr in g if gr.rotation[2, 2] < -0.9]  # approaching from above: free room both sides
    assert top_down
    for gr in top_down:
        assert gr.opening == pytest.approx(cfg.gripper.max_opening, abs=1e-9)


def _swept_hits(gr, h_tight, pts, cfg):
    """Points of ``pts`` [M, 3] inside the space a finger sweeps from the grasp's opening in to ``h_tight``
    (both fingers, grown by the collision margin), in the grasp's frame: x the closing axis, z the
    approach (the fingers span z in [-finger_length, 0] behind the TCP)."""
    g = cfg.gripper
    q = (pts - gr.position) @ gr.rotation
    mg = cfg.collision_margin
    return int(((np.abs(q[:, 0]) >= h_tight - mg) & (np.abs(q[:, 0]) <= gr.opening / 2 + g.finger_thickness + mg)
                & (np.abs(q[:, 1]) <= g.finger_width / 2 + mg) & (q[:, 2] >= -g.finger_length - mg)
                & (q[:, 2] <= mg)).sum())


@pytest.mark.parametrize("walls", [(0.032, -0.032), (0.045,)])
def test_widening_never_sweeps_through_a_wall(walls, monkeypatch):
    """Walls beside the bar: the same grasps as without widening (ranking does not change), each at least
    as wide as the part's opening, and a grasp opened wider sweeps no wall point while it closes."""
    import point2act.grasp.opening as opening

    res, cfg = plan(walls)
    monkeypatch.setattr(opening, "OPEN_LEVELS", ())
    tight, _ = plan(walls)
    assert len(res.grasps) == len(tight.grasps)
    wall = np.concatenate([wall_points(x0) for x0 in walls])
    widened = 0
    for gr, gt in zip(res.grasps, tight.grasps):
        np.testing.assert_allclose(gr.position, gt.position)
        np.testing.assert_allclose(gr.rotation, gt.rotation)
        assert gr.opening >= gt.opening - 1e-12
        if gr.opening > gt.opening + 1e-9:
            widened += 1
            assert _swept_hits(gr, gt.opening / 2, wall, cfg) == 0, (gr.opening, gt.opening)
    if walls == (0.045,):  # one wall 4.5 cm away: fully open, a finger would reach it; halfway has room
        assert widened >= 1


def test_levels_are_the_widest_first():
    assert OPEN_LEVELS[0] == 1.0 and list(OPEN_LEVELS) == sorted(OPEN_LEVELS, reverse=True)


def test_a_wider_opening_keeps_the_fingers_above_the_support_plane():
    """The clouds the widening checks leave the table out (the plane test covers it), so the widening checks
    the plane itself: a grasp whose closing axis tilts 20 degrees off the table, its TCP 1.5 cm above it,
    widened fully with the plane far below; with the table 3 cm down, the lower finger at the gripper's full
    opening would reach under it (its fingertip drops by the opening times sin 20 degrees), and the grasp keeps
    an opening whose fingertips stay ``table_clearance`` above the plane."""
    from point2act.grasp.clouds import Obstacles
    from point2act.grasp.frames import CandidateIds, CandidatePoses, PairFrames
    from point2act.grasp.geometry import grasp_rotations, orthonormal_basis
    from point2act.grasp.opening import OpeningChecks, OpeningScene, SupportClearance, widest_free_opening
    from point2act.grasp.support import plane_min

    cfg = GraspConfig()
    dims, U = cfg.gripper.scaled(), cfg.gripper.units
    a = np.radians(20.0)
    x = np.array([[np.cos(a), 0.0, np.sin(a)]])
    u, v = orthonormal_basis(x)
    theta = 2 * np.pi * np.arange(24) / 24
    R = grasp_rotations(x, u, v, theta)  # [1, 24, 3, 3]
    t = int(np.argmin(R[0, :, 2, 2]))  # the approach pointing down the most
    c = np.array([[0.0, 0.0, 0.015]])
    off, depth = np.zeros((1, 24)), np.zeros((1, 24))
    hkt = np.full((1, 24), 0.01)
    empty = np.zeros((0, 3))
    obstacles = Obstacles(empty, empty, 0.002, 0.004)
    rest = (CandidatePoses(off, hkt, depth), CandidateIds(np.array([0]), np.array([t])),
            OpeningChecks(U(SWEEP_FINE_LENGTH), 0.0, U(CLEARANCE_MARGIN), cfg.collision_min_points, dims))
    clear = U(cfg.table_clearance)
    far_table = SupportClearance(R, np.array([0.0, 0.0, 1.0, 1.0]), clear)
    far = widest_free_opening(PairFrames(c, x, u, v), theta, OpeningScene(obstacles, far_table), *rest)
    assert far[0] == pytest.approx(0.5 * dims["max_opening"])
    table = np.array([0.0, 0.0, 1.0, 0.0])
    assert plane_min(table, c[:, None, :][:, [t]], R[:, [t]], np.full((1, 1), 0.5 * dims["max_opening"]), dims)[0, 0] < clear
    near_table = SupportClearance(R, table, clear)
    near = widest_free_opening(PairFrames(c, x, u, v), theta, OpeningScene(obstacles, near_table), *rest)
    assert 0.01 <= near[0] < 0.5 * dims["max_opening"]
    assert plane_min(table, c[:, None, :][:, [t]], R[:, [t]], np.full((1, 1), near[0]), dims)[0, 0] >= clear - 1e-12
