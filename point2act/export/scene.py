"""The export's second stage: the scene the planner plans on, around the answer (:func:`planning_scene`).

The depth renders of the training views are fused (TSDF) in a cube around the action point; the field's rendered
relevancy marks which of that surface is the target (:func:`target_surface`), and the region becomes that surface
(:func:`region_on_surface`); the views' free, occupied and unknown space around it is the occupancy the gripper is
checked against (:func:`occupancy_around`); beyond the cube, what the views see and place. Without depth renders
the planner takes the Gaussian centres alone. Plain numpy.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Tuple

import numpy as np

from point2act.export.inputs import AnswerViews, SceneRenders
from point2act.fusion import DepthViews, view_points, view_relevancy
from point2act.grasp.config import (
    COLLISION_VOXEL_SIZE,
    EXTENT_PERCENTILE,
    FUSION_MAX_VOXELS,
    FUSION_MIN_ALPHA,
    FUSION_SIDE_FACTOR,
    FUSION_TRUNC_VOXELS,
    FUSION_VOXEL_PIXELS,
    OCCUPANCY_HIT_BACK,
    OCCUPANCY_HIT_FRONT,
    OCCUPANCY_MAX_CELLS,
    OCCUPANCY_MIN_HITS,
    OCCUPANCY_P_HIT,
    OCCUPANCY_P_MISS,
    OCCUPANCY_REACH,
    REGION_MIN_OPACITY,
)
from point2act.where.consensus import Consensus
from point2act.grasp.occupancy import FREE, DepthMaps, OccupancyGrid, occupancy_cube
from point2act.grasp.result import Region
from point2act.grasp.scene import PlanningScene

if TYPE_CHECKING:
    from point2act.export.inputs import ExportInputs
    from point2act.export.request import ExportRequest
    from point2act.export.where import Answer


def fusion_geometry(renders: SceneRenders, center: np.ndarray, cfg,
                    region_extent: np.ndarray | None = None) -> Dict[str, float]:
    """Side and voxel (capture units) of the fused cube around ``center`` (capture frame), sized from the
    capture, not from metres: side = ``FUSION_SIDE_FACTOR`` x the region's largest extent, at least the
    gripper's opening plus two finger thicknesses (``metres_per_unit``) when that is smaller than the
    median camera distance, and at most that distance; voxel = ``FUSION_VOXEL_PIXELS`` x one rendered
    pixel's footprint at the median camera distance (:meth:`~point2act.export.inputs.SceneRenders.footprint`), so
    that the cube's detail follows what the views resolve; at most ``FUSION_MAX_VOXELS`` per side (constants of
    :mod:`point2act.grasp.config`)."""
    g = cfg.gripper
    dist, foot = renders.footprint(center)
    ext = float(np.max(region_extent)) if region_extent is not None and len(region_extent) else 0.0
    hand = g.units(g.max_opening + 2 * g.finger_thickness + 2 * g.finger_length)
    side = FUSION_SIDE_FACTOR * ext
    if hand < dist:
        side = max(side, hand)
    side = min(max(side, 20 * foot), dist) if dist > 0 else max(side, 20 * foot)
    voxel = max(FUSION_VOXEL_PIXELS * foot, side / max(int(FUSION_MAX_VOXELS), 8))
    return {"side": float(side), "voxel": float(voxel), "camera_distance": float(dist), "pixel_footprint": float(foot)}


def fuse_around(renders: SceneRenders, center: np.ndarray, cfg,
                region_extent: np.ndarray | None = None) -> Tuple[np.ndarray, float]:
    """TSDF-fused surface points (capture frame) in a cube around ``center`` (capture frame) and the
    radius (capture units) of the ball inside that cube (:func:`fusion_geometry` sizes the cube)."""
    pts, radius, _geo = fuse_around_geometry(renders, center, cfg, region_extent)
    return pts, radius


def fuse_around_geometry(renders: SceneRenders, center: np.ndarray, cfg,
                         region_extent: np.ndarray | None = None) -> Tuple[np.ndarray, float, Dict[str, float]]:
    """:func:`fuse_around`, and the cube's geometry (:func:`fusion_geometry`)."""
    geo = fusion_geometry(renders, center, cfg, region_extent)
    return renders.fuse(center, geo["side"], geo["voxel"]), 0.5 * geo["side"], geo


@dataclass(frozen=True)
class AnswerPlace:
    """Where the answer put the target, as the fused surface is searched for it: the relevant region (its action
    point and Gaussians), the views' consensus that chose it (the blobs of its answers bound the search) and where
    those answers land on the field's surface."""

    region: Region
    """The answer's relevant region."""
    support: Consensus | None = None
    """The views' consensus (capture frame), None without one."""
    marks: np.ndarray | None = None  # [K, 3]
    """Where the place's answers land (capture frame: :meth:`~point2act.export.inputs.AnswerViews.marks`); None:
    not known."""


def target_surface(fused: np.ndarray, views: DepthViews, place: AnswerPlace, means: np.ndarray, cfg,
                   geo: Dict[str, float]) -> np.ndarray:  # [F] bool
    """Which fused surface points (capture frame, ``fused`` [F, 3]) are the target: the surface where the field
    is relevant (:func:`point2act.grasp.target.surface_region`), its relevancy as the ``views`` render it
    (capture frame, with relevancy; a view sees a point whose rendered depth lies within the fusion's truncation
    distance of it), within the place the views' consensus chose (``place.support``: the blobs of its answers) or,
    without one, within half the gripper's opening of the region's Gaussians (``means`` [N, 3]). Connected at
    two fusion voxels, thresholded as the region is (``RegionConfig.threshold`` of the largest there); of its
    pieces, the one nearest the action point among those the place's answers land on (``place.marks``; every
    piece without marks)."""
    from point2act._scipy import cKDTree

    from point2act.grasp.target import SeenSurface, surface_region  # loaded where grasps are planned, not in training

    region, support, marks = place.region, place.support, place.marks
    tol = FUSION_TRUNC_VOXELS * float(geo["voxel"])
    rel = view_relevancy(views, fused, tol)
    if support is not None:
        scope = support.best.covers(fused)
    else:
        reach = cfg.gripper.units(0.5 * cfg.gripper.max_opening)
        scope = np.isfinite(cKDTree(means[region.indices]).query(fused, distance_upper_bound=reach)[0])
    return surface_region(SeenSurface(fused, rel, scope), region.action_point, cfg.region.threshold,
                          2.0 * float(geo["voxel"]), marks)


def region_on_surface(region, target: np.ndarray, means: np.ndarray, opacities: np.ndarray, near: float):
    """The region as the target's surface: the box of the fused surface points the field marks as the target
    (``target`` [T, 3], :func:`target_surface`) and the opaque Gaussians within ``near`` of them (the fusion's
    truncation distance: what renders that surface), the action point kept. The field says where, the fused
    surface what is there: a handful of relevant Gaussians, or a cluster that chains across the scene, does not
    size the grids the gripper is checked in. ``region`` unchanged where no opaque Gaussian lies that near."""
    from point2act._scipy import cKDTree

    ok = np.flatnonzero(np.asarray(opacities, dtype=np.float64) >= REGION_MIN_OPACITY)
    d, _ = cKDTree(target).query(means[ok], distance_upper_bound=near, workers=-1)
    idx = ok[np.isfinite(d)]
    if not len(idx):
        return region
    lo, hi = np.percentile(target, EXTENT_PERCENTILE, axis=0), np.percentile(target, 100 - EXTENT_PERCENTILE, axis=0)
    return dataclasses.replace(region, center=0.5 * (lo + hi), extent=hi - lo, num_gaussians=int(len(idx)),
                               indices=idx)


def occupancy_around(v: DepthViews, region, cfg, geo: Dict[str, float]) -> OccupancyGrid:
    """Occupancy grid (capture frame and units) around the relevant ``region``: a cube centred on its
    box, as wide as the box's largest side plus ``OCCUPANCY_REACH`` on each side (the fingers and the
    first part of their approach), at most the fused cube's side (``geo``: :func:`fusion_geometry`);
    cells of the TSDF's voxel or larger (at most ``OCCUPANCY_MAX_CELLS`` per side); ``v``: the depth views
    in the capture frame (:attr:`~point2act.export.inputs.SceneRenders.capture`). See
    :mod:`point2act.grasp.occupancy`."""
    g = cfg.gripper
    side = min(float(geo["side"]), float(np.max(region.extent)) + 2.0 * g.units(OCCUPANCY_REACH))
    return occupancy_cube(DepthMaps(v.depths, v.Ks, v.viewmats), np.asarray(region.center, dtype=np.float64), side,
                          geo["voxel"],
                          max_cells=OCCUPANCY_MAX_CELLS, hit_front=OCCUPANCY_HIT_FRONT,
                          hit_back=OCCUPANCY_HIT_BACK, min_hits=OCCUPANCY_MIN_HITS,
                          p_hit=OCCUPANCY_P_HIT, p_miss=OCCUPANCY_P_MISS)


def nearest_distance(points: np.ndarray, point: np.ndarray) -> float:
    """Distance from ``point`` [3] to the nearest of ``points`` [M, 3] (``inf`` when there are none)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not len(pts):
        return float("inf")
    return float(np.sqrt(((pts - np.asarray(point, dtype=np.float64).reshape(1, 3)) ** 2).sum(1).min()))




@dataclass(frozen=True)
class Fusion:
    """What the fused surface around the action point was, for grasps.json (``fusion``, ``occupancy``,
    ``timings_ms``) and its warnings."""

    geometry: Dict[str, float] = field(default_factory=dict)
    """The fused cube (:func:`fusion_geometry`) and ``nearest_surface``, the action point's distance to the fused
    surface when there is one; empty without depth renders."""
    timings_ms: Dict[str, float] = field(default_factory=dict)
    """Wall time of the stages before the planner: depth_render, tsdf_fusion, occupancy, answered_matter."""
    surface_gap: float = 0.0
    """The action point's distance to the fused surface, capture units (0: not measured)."""


def planning_scene(inputs: "ExportInputs", answer: "Answer", request: "ExportRequest") -> Tuple[PlanningScene, Fusion]:
    """The scene the planner plans on for ``answer`` (:class:`~point2act.grasp.scene.PlanningScene`, capture frame),
    and what its fusion was. With depth renders (``inputs.renders``, when ``grasp_config.surface.fuse_depth``):
    the TSDF surface around the action point, the target on it and the region as that surface, the support
    plane's points, the surface beyond the fused cube (with the ball of ``fused_radius`` where it and the fused
    surface replace the Gaussian centres) and the occupancy grid. ``request``: the grasp config, and the
    handover direction of its channels."""
    cfg = request.grasp_config
    g = inputs.gaussians
    avoid = None if inputs.avoid is None else np.asarray(inputs.avoid, dtype=np.float64)
    direction = request.channels.handover_direction
    hand = None if direction is None else np.asarray(direction, dtype=np.float64)
    base = PlanningScene(g.means, g.opacities, answer.relevancy, region=answer.region, scales=g.scales,
                         camera_centers=inputs.centers, avoid=avoid, handover_direction=hand)
    renders = inputs.renders if cfg.surface.fuse_depth else None
    if renders is None:
        return base, Fusion()
    return _fused_scene(base, renders, answer.support, inputs.field.answers, cfg)


def _fused_scene(base: PlanningScene, renders: SceneRenders, support, answers: AnswerViews | None,
                 cfg) -> Tuple[PlanningScene, Fusion]:
    """:func:`planning_scene` with depth renders: the fused target, the surface the views see, the occupancy, and
    the matter the agreeing views' answers mark where the field carved it free (:func:`answered_matter`;
    ``answers``: the field's supervised views)."""
    t0 = time.perf_counter()
    region = base.region
    views_c = renders.capture
    target = None
    if views_c.relevancy is None:  # no target surface to plan on: the relevant Gaussians' box sizes the cube
        fused, radius, geo = fuse_around_geometry(renders, region.action_point, cfg, region.extent)
    else:
        fused, radius, geo = fuse_around_geometry(renders, region.action_point, cfg)
        if len(fused):
            marks = None
            if support is not None and answers is not None:
                marks = answers.marks(support.best.answers)
            on_target = target_surface(fused, views_c, AnswerPlace(region, support, marks), base.means, cfg, geo)
            target = (fused, on_target)
            if on_target.any():
                near = FUSION_TRUNC_VOXELS * float(geo["voxel"])
                region = region_on_surface(region, fused[on_target], base.means, base.opacities, near)
    surface_gap = nearest_distance(fused, region.action_point)
    if np.isfinite(surface_gap):
        geo["nearest_surface"] = surface_gap
    timings = {"depth_render": renders.render_ms, "tsdf_fusion": (time.perf_counter() - t0) * 1e3}
    # what the views see: the support plane is fitted to it, by image area. Beyond the fused cube, within the
    # hand's reach, the gripper is checked against the part of it the views place to within a coarse collision
    # cell (the median depth's spread), not against the Gaussian centres: a reconstruction from few or no points
    # spreads them centimetres in front of and behind the surface, and leaves fog over plain surfaces that the
    # views render as a surface but cannot place (docs/robustness.md, "The surface beyond the fused cube")
    plane_points = view_points(views_c, min_alpha=FUSION_MIN_ALPHA)
    seen = view_points(views_c, min_alpha=FUSION_MIN_ALPHA, max_spread=cfg.gripper.units(COLLISION_VOXEL_SIZE))
    ap = np.asarray(region.action_point, dtype=np.float64)
    reach = cfg.gripper.units(cfg.gripper.reach + 0.5 * cfg.gripper.max_opening)
    far = np.linalg.norm(seen - ap, axis=1)
    seen = seen[(far > radius) & (far <= reach)]
    occupancy = None
    if cfg.surface.occupancy:  # what the gripper is checked against: free, occupied, unknown cells
        t1 = time.perf_counter()
        occupancy = occupancy_around(views_c, region, cfg, geo)
        # a point one view renders where the others see through is a floater, not a surface
        carve = occupancy_cube(DepthMaps(views_c.depths, views_c.Ks, views_c.viewmats), ap, 2.0 * reach,
                               cfg.gripper.units(COLLISION_VOXEL_SIZE), max_cells=OCCUPANCY_MAX_CELLS,
                               hit_front=OCCUPANCY_HIT_FRONT, hit_back=OCCUPANCY_HIT_BACK,
                               min_hits=OCCUPANCY_MIN_HITS, p_hit=OCCUPANCY_P_HIT, p_miss=OCCUPANCY_P_MISS)
        seen = seen[carve.state_at(seen) != FREE]
        timings["occupancy"] = (time.perf_counter() - t1) * 1e3
    surface = np.concatenate([fused, seen], 0)
    if occupancy is not None and target is not None and support is not None and answers is not None:
        t2 = time.perf_counter()
        occupancy, added = answered_matter(occupancy, answers, support.best.answers)
        timings["answered_matter"] = (time.perf_counter() - t2) * 1e3
        if len(added):
            geo["answered_cells"] = float(len(added))
            target = (np.concatenate([target[0], added]), np.r_[target[1], np.ones(len(added), bool)])
            surface = np.concatenate([surface, added], 0)
    scene = dataclasses.replace(base, region=region, surface_points=surface,
                                fused_center=ap, fused_radius=reach, occupancy=occupancy, plane_points=plane_points,
                                target_surface=target)
    return scene, Fusion(geo, timings, surface_gap)


def answered_matter(occupancy: OccupancyGrid, answers: AnswerViews, taken) -> Tuple[OccupancyGrid, np.ndarray]:
    """The agreeing views' answers as the target's matter where the field carved it free: the free cells of
    ``occupancy`` inside the blob of an answer the place took (``taken``) in every agreeing view of ``answers``
    that sees them (:meth:`~point2act.export.inputs.AnswerViews.cells`) become occupied. Returns the
    grid and the centres of the added region's outer cells [A, 3] (capture frame): the target's surface there."""
    from point2act.grasp.answered import shell
    from point2act.grasp.occupancy import OCCUPIED

    free = occupancy.state == FREE
    if not free.any():
        return occupancy, np.zeros((0, 3))
    cells = np.argwhere(free)
    hit = answers.cells(occupancy.centers(free), taken)
    if not hit.any():
        return occupancy, np.zeros((0, 3))
    matter = np.zeros(free.shape, dtype=bool)
    matter[tuple(cells[hit].T)] = True
    state = occupancy.state.copy()
    state[matter] = OCCUPIED
    return dataclasses.replace(occupancy, state=state), occupancy.centers(shell(matter))
