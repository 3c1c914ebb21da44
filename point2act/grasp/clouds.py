"""The planner's surface stage: what the gripper can hold and what it must not enter.

:func:`held_surface` gives the scene's surface points off the support plane (what can be held) and the plane;
:func:`collision_clouds` the clouds the gripper is checked against (the occupancy grid's occupied and unknown
cells, else the surface points) and the cloud a part's extent is measured on; :func:`target_labels` which of
those are the target's; :func:`avoid_channel` an avoid channel's relevancy and region. Plain numpy (scipy for the
k-d trees).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict, NamedTuple, Tuple

import numpy as np

from point2act.grasp.config import (
    COLLISION_VOXEL_SIZE,
    PLANE_DISTANCE,
    REGION_MIN_OPACITY,
    RELEVANCY_NEIGHBOURS,
    TARGET_RADIUS,
    VOXEL_SIZE,
    GraspConfig,
)
from point2act.grasp.occupancy import FREE, OCCUPIED, OccupancyGrid
from point2act.grasp.region import relevant_region
from point2act.grasp.result import Region
from point2act.grasp.surface import FusedSurface, fit_support_plane, scene_points, surface_relevancy

if TYPE_CHECKING:
    from point2act.grasp.scene import PlanningScene

__all__ = ["CollisionClouds", "HeldSurface", "Obstacles", "SceneClouds", "avoid_channel", "collision_clouds",
           "held_surface", "target_labels", "unique_rows", "with_margin"]


class HeldSurface(NamedTuple):
    """What the gripper can hold, off the table (:func:`held_surface`)."""

    points: np.ndarray  # [S, 3]
    """Surface points off the support plane."""
    normals: np.ndarray  # [S, 3]
    """Their normals."""
    relevancy: np.ndarray  # [S]
    """Their relevancy, from the opaque Gaussians around them."""
    plane: np.ndarray | None  # [4]
    """The support plane (unit normal, offset), or None."""
    opaque: np.ndarray  # [N] bool
    """The Gaussians that count (finite, opaque enough)."""


class Obstacles(NamedTuple):
    """What the gripper must not enter, and how far it keeps from it (:func:`with_margin`)."""

    fine: np.ndarray  # [M, 3]
    """What the fingers must not enter (cells next to free space, surface points)."""
    coarse: np.ndarray  # [Mc, 3]
    """The centres of the coarse cells (``COLLISION_VOXEL_SIZE``) holding anything the gripper must not enter."""
    margin: float
    """The collision margin against ``fine`` (capture units)."""
    coarse_margin: float
    """The collision margin against ``coarse``: ``margin`` and half a coarse cell's diagonal."""


class CollisionClouds(NamedTuple):
    """What the gripper must not enter and what it can hold (:func:`collision_clouds`)."""

    obstacles: Obstacles
    """What the gripper must not enter, with the margins."""
    holdable: np.ndarray  # [Mq, 3]
    """What the gripper can hold: occupied cells, surface points outside the grid."""
    extent: np.ndarray  # [Mb, 3]
    """``holdable``, then the unknown cells next to free space: a part's extent is measured on them."""
    extent_occupied: np.ndarray  # [Mb] bool
    """The entries of ``extent`` that are ``holdable``'s."""
    cell: float
    """The cell size of ``extent`` (the grid's voxel, else the surface voxel)."""
    pad_x: float
    """How far a part reaches past the outermost centre of ``extent`` (half a cell on a grid)."""


class SceneClouds(NamedTuple):
    """The scene as the planner's stages read it after :func:`held_surface` and :func:`collision_clouds`: the
    surface the gripper can hold, with the support plane, and what it must not enter."""

    surf: HeldSurface
    """The surface points off the support plane, their normals and relevancy, the plane, the opaque Gaussians."""
    clouds: CollisionClouds
    """What the gripper must not enter (with the margins) and what it can hold."""


def held_surface(scene: "PlanningScene", region: Region, cfg: GraspConfig, counts: Dict[str, int]) -> HeldSurface:
    """The scene's surface points and normals (:func:`~point2act.grasp.surface.scene_points`), sorted so that
    the seeds drawn from them do not depend on the order a hash map gives them in; the support plane, fitted to
    ``scene.plane_points`` within the gripper's reach of the action point where given (the palm's far corner at
    the pre-grasp pose: pixels sample the table around the target densely, the Gaussian centres and a fused
    surface near the target may not reach it), else to the surface points; each point's relevancy from the
    opaque Gaussians around it; and the points more than ``PLANE_DISTANCE`` above the plane: what can be held.
    ``scene``'s Gaussian arrays are float64 (:func:`point2act.grasp.planner.plan_grasps` makes them so)."""
    g, U = cfg.gripper, cfg.gripper.units
    means, opac, rel = scene.means, scene.opacities, scene.relevancy
    fused = FusedSurface(scene.surface_points, scene.fused_center, scene.fused_radius)
    pts, nrm = scene_points(means, opac, scene.scales, fused, cfg, scene.camera_centers)
    order = np.lexsort(pts.T[::-1]) if len(pts) else np.zeros(0, np.int64)
    pts, nrm = pts[order], nrm[order]
    counts["surface_points"] = len(pts)
    fit_on = pts
    if scene.plane_points is not None:
        reach = U(g.reach)
        seen = np.asarray(scene.plane_points, dtype=np.float64).reshape(-1, 3)
        fit_on = seen[np.linalg.norm(seen - region.action_point, axis=1) <= reach]
    plane = fit_support_plane(fit_on, cfg, up_hint=region.action_point, seed=cfg.seed,
                              region_points=means[region.indices], camera_centers=scene.camera_centers)
    ok = np.isfinite(means).all(1) & np.isfinite(opac) & np.isfinite(rel) & (opac >= REGION_MIN_OPACITY)
    srel_all = surface_relevancy(
        pts, means[ok], opac[ok], np.clip(rel[ok], 0, 1), RELEVANCY_NEIGHBOURS,
        3 * U(VOXEL_SIZE),
    )
    if plane is not None:
        above = pts @ plane[:3] + plane[3] > U(PLANE_DISTANCE)
        P, N, S = pts[above], nrm[above], srel_all[above]
    else:
        P, N, S = pts, nrm, srel_all
    counts["object_points"] = len(P)
    return HeldSurface(P, N, S, plane, ok)


def avoid_channel(
    avoid: np.ndarray | None,  # [N]
    means: np.ndarray,  # [N, 3]
    opac: np.ndarray,  # [N]
    cfg: GraspConfig,
) -> Tuple[np.ndarray | None, Region | None]:  # [N] avoid relevancy, its region
    """The avoid channel's relevancy ``avoid`` [N] in [0, 1] (e.g. a blade, a hot rim) as float64, and its
    region (``None`` where no relevancy passes the region threshold), whose action point a handover turns
    away from the recipient (:func:`~point2act.grasp.scoring.grasps_of`); ``(None, None)`` without a channel.
    Raises ``ValueError`` when it does not give one value per Gaussian."""
    if avoid is None:
        return None, None
    av = np.asarray(avoid, dtype=np.float64).reshape(-1)
    if av.shape[0] != means.shape[0]:
        raise ValueError(f"avoid has {av.shape[0]} values for {means.shape[0]} Gaussians")
    try:
        avoid_region = relevant_region(means, opac, np.clip(np.nan_to_num(av), 0, 1), cfg)
    except ValueError:
        avoid_region = None
    return av, avoid_region


def unique_rows(a: np.ndarray) -> np.ndarray:  # [N, 3] int64 -> [M, 3], as np.unique(a, axis=0)
    """The distinct rows of integer cells ``a``, sorted as ``np.unique(a, axis=0)`` sorts them, through one
    scalar key per row (``np.unique(axis=0)`` sorts structured rows, ten times slower on 500k cells)."""
    lo = a.min(0)
    span = a.max(0) - lo + 1
    if float(span[0]) * float(span[1]) * float(span[2]) >= 2.0**62:  # no room for one key
        return np.unique(a, axis=0)
    key = ((a[:, 0] - lo[0]) * span[1] + (a[:, 1] - lo[1])) * span[2] + (a[:, 2] - lo[2])
    u = np.unique(key)
    out = np.empty((len(u), 3), np.int64)
    out[:, 2] = u % span[2] + lo[2]
    u = u // span[2]
    out[:, 1] = u % span[1] + lo[1]
    out[:, 0] = u // span[1] + lo[0]
    return out


def _next_to_free(blocked: np.ndarray) -> np.ndarray:  # [X, Y, Z] bool -> [X, Y, Z] bool
    """The cells with a free face neighbour or on the grid's border: a box that comes from free space into
    ``blocked`` cells crosses those first, so they are enough for the fine checks."""
    pad = np.pad(~blocked, 1, constant_values=False)
    nx, ny, nz = blocked.shape
    touches = np.zeros_like(blocked)
    for dx, dy, dz in ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)):
        touches |= pad[1 + dx : 1 + dx + nx, 1 + dy : 1 + dy + ny, 1 + dz : 1 + dz + nz]
    touches[[0, -1], :, :] = touches[:, [0, -1], :] = touches[:, :, [0, -1]] = True
    return touches


def collision_clouds(
    P: np.ndarray,  # [S, 3] surface points off the support plane
    plane: np.ndarray | None,  # [4]
    occupancy: OccupancyGrid | None,
    cfg: GraspConfig,
    counts: Dict[str, int],
) -> CollisionClouds:
    """What the gripper must not enter and what it can hold. With ``occupancy``: inside the grid the occupied
    and the unknown cells (unknown is not free: :mod:`point2act.grasp.occupancy`) above the plane's band (the
    plane test covers the table and what lies under it), outside it the surface points; without, the surface
    points. The part's extent across the closing axis is measured over everything the fingers must not enter:
    an unknown cell just beside the occupied ones (a thin bar's shadow) would otherwise sit inside a finger. A
    cell's centre stands for its whole cube, so the margin grows by half a cell. The coarse cloud (the centres
    of the ``COLLISION_VOXEL_SIZE`` cells holding anything the gripper must not enter) is checked with boxes
    grown by half such a cell's diagonal (conservative). The margins are ``cfg``'s (:func:`with_margin`)."""
    U = cfg.gripper.units
    if occupancy is not None:
        cell = float(occupancy.voxel)
        blocked = occupancy.state != FREE
        occupied = occupancy.state == OCCUPIED
        Pout = P[~occupancy.contains(P)]
        touches = _next_to_free(blocked)
        cb, cs, co = occupancy.centers(blocked), occupancy.centers(blocked & touches), occupancy.centers(occupied)
        if plane is not None:
            band = max(U(PLANE_DISTANCE), cell)
            cb, cs, co = (a_[a_ @ plane[:3] + plane[3] > band] for a_ in (cb, cs, co))
        fine = np.concatenate([cs, Pout])
        blocked_all = np.concatenate([cb, Pout])
        holdable = np.concatenate([co, Pout])
        cu = occupancy.centers(blocked & touches & ~occupied)
        if plane is not None:
            cu = cu[cu @ plane[:3] + plane[3] > band]
        extent = np.concatenate([holdable, cu])
        extent_occupied = np.r_[np.ones(len(holdable), bool), np.zeros(len(cu), bool)]
        pad_x = 0.5 * cell  # the extent is measured on cell centres; a cell reaches half a cell past its centre
        counts.update(occupied_cells=len(co), blocked_cells=len(cb), points_outside_grid=len(Pout))
    else:
        cell = U(VOXEL_SIZE)
        fine = blocked_all = holdable = extent = P
        extent_occupied = np.ones(len(P), bool)
        pad_x = 0.0
    sc_ = U(COLLISION_VOXEL_SIZE)
    coarse = (unique_rows(np.floor(blocked_all / sc_).astype(np.int64)) + 0.5) * sc_ if len(blocked_all) \
        else blocked_all
    return with_margin(CollisionClouds(Obstacles(fine, coarse, 0.0, 0.0), holdable, extent, extent_occupied, cell,
                                       pad_x), cfg)


def with_margin(clouds: CollisionClouds, cfg: GraspConfig) -> CollisionClouds:
    """``clouds`` with the margins of ``cfg.collision_margin``: against the fine cloud the margin and half a cell
    (``pad_x``: a cell's centre stands for its whole cube), against the coarse cells half such a cell's diagonal
    more. The rest of the clouds does not depend on the margin: passes that differ only in it share them."""
    margin = cfg.gripper.units(cfg.collision_margin) + clouds.pad_x
    coarse_margin = margin + 0.5 * math.sqrt(3.0) * cfg.gripper.units(COLLISION_VOXEL_SIZE)
    return clouds._replace(obstacles=clouds.obstacles._replace(margin=margin, coarse_margin=coarse_margin))


def target_labels(
    scene: SceneClouds,
    means: np.ndarray,  # [N, 3]
    opac: np.ndarray,  # [N]
    region: Region,
    cfg: GraspConfig,
    target_surface: Tuple[np.ndarray, np.ndarray] | None = None,  # fused points [F, 3], target [F] bool
) -> np.ndarray:  # [Mb] bool: the entries of clouds.extent that are the target's
    """Which of what the gripper can hold is the target. With ``target_surface`` (the fused surface and which
    of its points are the target, :func:`~point2act.grasp.target.surface_region`): the points whose nearest
    fused point within ``TARGET_RADIUS`` is a target point; a cell of a mug's body next to its handle's root is
    nearer the body's surface. Without: where the opaque Gaussians around a point (the 8 nearest within
    ``TARGET_RADIUS``, weighted by opacity) are mostly the region's; a stray floater does not relabel a
    surface. The opaque Gaussians are ``scene.surf.opaque``; the unknown cells of ``extent`` are never the target's."""
    from point2act._scipy import cKDTree

    clouds, opaque = scene.clouds, scene.surf.opaque
    Q = clouds.holdable
    r_t = cfg.gripper.units(TARGET_RADIUS) + 0.5 * clouds.cell
    q_rel = np.zeros(len(clouds.extent), bool)
    if target_surface is not None and len(Q):
        fp, ft = target_surface
        d, i = cKDTree(fp).query(Q, distance_upper_bound=r_t, workers=-1)
        hit = np.isfinite(d)
        q_rel[: len(Q)][hit] = ft[i[hit]]
        return q_rel
    idx = np.flatnonzero(opaque)
    if len(Q) and len(idx):
        in_region = np.zeros(len(means), bool)
        in_region[region.indices] = True
        kn = min(8, len(idx))
        dq, iq = cKDTree(means[idx]).query(Q, k=kn, distance_upper_bound=r_t, workers=-1)
        dq, iq = dq.reshape(len(Q), kn), iq.reshape(len(Q), kn)
        hit = np.isfinite(dq)
        j = idx[np.where(hit, iq, 0)]
        wgt = np.where(hit, opac[j], 0.0)
        q_rel[: len(Q)] = (wgt * in_region[j]).sum(1) > 0.5 * wgt.sum(1)
    return q_rel
