"""The grasp planner: ranked, collision-checked parallel-jaw grasps at the most relevant region of a
:class:`~point2act.grasp.scene.PlanningScene` (the pipeline, the pose convention and the units:
:mod:`point2act.grasp`).

Two entry points, one plan each:

* :func:`plan_grasps` -- one plan at ``GraspConfig.collision_margin``, with its tight retry (where no on-target
  grasp keeps the margin, the on-target grasps that clear the scene with none are listed first). For callers
  that plan on arrays (tests, benchmarks): no wider fallback.
* :func:`plan_at_target` -- :func:`plan_grasps`, and where nothing collision-free lands on the target itself,
  one wider plan whose seeds reach half the gripper's opening from the region, kept when it closes on the region
  (``GraspResult.fallback`` says so). ``point2act export`` calls it.

Each pass composes the stages, one module each: region (:func:`~point2act.grasp.region.relevant_region`),
surface (:mod:`~point2act.grasp.clouds`), candidates (:mod:`~point2act.grasp.candidates`,
:mod:`~point2act.grasp.holds`), collision (:mod:`~point2act.grasp.clearance`) and scoring
(:mod:`~point2act.grasp.scoring`, :mod:`~point2act.grasp.opening`). A call's passes plan on the same scene and
region and share the stages that do not depend on what they change (:class:`_StageCache`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np


from point2act.grasp.candidates import candidate_pairs, pair_frames
from point2act.grasp.clouds import SceneClouds, avoid_channel, collision_clouds, held_surface, target_labels, with_margin
from point2act.grasp.clearance import collision
from point2act.grasp.config import GraspConfig
from point2act.grasp.evaluate import closing_box
from point2act.grasp.geometry import points_in_box
from point2act.grasp.holds import AvoidGaussians, Candidates, grasp_parts, part_lengths
from point2act.grasp.region import relevant_region
from point2act.grasp.result import Grasp, GraspResult, Region
from point2act.grasp.scene import PlanningScene
from point2act.grasp.scoring import NO_TARGET_SURFACE_NOTE, Handover, grasps_of, kept, score, target_patch, warning, why_none

__all__ = ["closing_on", "plan", "plan_at_target", "plan_grasps"]


class _Laps:
    """Stage timings in ms into ``timings``: ``lap(name)`` records the time since the previous lap,
    ``total()`` the time since the clock started (and returns ``timings``)."""

    def __init__(self, timings: Dict[str, float]):
        self.timings = timings
        self.start = self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.timings[name] = (t - self.last) * 1e3
        self.last = t

    def total(self) -> Dict[str, float]:
        self.timings["total"] = (time.perf_counter() - self.start) * 1e3
        return self.timings


class _StageCache:
    """The stages one call's passes share (the tight retry of :func:`plan_grasps`, the wider plan of
    :func:`plan_at_target`): each stage's result and the counts it wrote, by the stage's name and the settings it
    reads. One per call: its passes plan on the same scene and region, so a stage's inputs are its settings. The
    stages are deterministic and nothing downstream writes into their arrays, so the plan is the same either way
    (``tests/grasp/test_on_target.py``)."""

    def __init__(self) -> None:
        self._done: Dict[Tuple[str, tuple], Tuple[Any, Dict[str, int]]] = {}

    def get(self, stage: str, settings: tuple, counts: Dict[str, int], make: Callable[[Dict[str, int]], Any]):
        """``make(counts)`` once per ``(stage, settings)``; later, its result, and its counts added to ``counts``."""
        key = (stage, settings)
        if key not in self._done:
            mine: Dict[str, int] = {}
            self._done[key] = (make(mine), mine)
        value, wrote = self._done[key]
        counts.update(wrote)
        return value


def _surface_settings(cfg: GraspConfig) -> tuple:
    """What the surface, the collision clouds (but their margins, :func:`~point2act.grasp.clouds.with_margin`) and
    the target labels read of ``cfg``: the gripper (its scale and reach) and the seed (the support plane's RANSAC)."""
    return dataclasses.astuple(cfg.gripper), cfg.seed


def _pair_settings(cfg: GraspConfig) -> tuple:
    """What the contact pairs read of ``cfg``: the surface's settings, the friction cone, the seed ball and the
    candidate count."""
    return _surface_settings(cfg) + (cfg.friction_coef, cfg.seed_radius, cfg.num_candidates)


def _empty(region: Region, cfg: GraspConfig, reason: str, timings: Dict[str, float], counts: Dict[str, int],
           plane: np.ndarray | None) -> GraspResult:
    """A result without grasps, ``reason`` its warning."""
    return GraspResult(region=region, grasps=[], gripper=cfg.gripper, warning=reason, timings_ms=timings,
                       counts=counts, support_plane=plane)


def _plan_once(scene: PlanningScene, cfg: GraspConfig, stages: _StageCache, on_target_only: bool = False
               ) -> GraspResult:
    """One pass of :func:`plan_grasps`, at ``cfg.collision_margin``: the composition of the stages (module
    docstring). ``on_target_only``: check only the candidates that close on the target for collisions
    (:func:`~point2act.grasp.clearance.collision`), for a caller that keeps only the on-target grasps: those are
    the same, the counts of the collision stage then tell of the on-target candidates only. Raises
    ``ValueError`` if no relevancy passes the region threshold (or the avoid channel has not one value per
    Gaussian); any other failure to find grasps gives an empty list and ``GraspResult.warning``."""
    ti = time.perf_counter()
    from point2act._scipy import kdtree_class

    kdtree_class()  # imported here, so that stage timings exclude the one-off import

    import_ms = (time.perf_counter() - ti) * 1e3
    dims = cfg.gripper.scaled()
    timings: Dict[str, float] = {}
    if import_ms > 1.0:
        timings["imports"] = import_ms  # first call in a process only; not part of "total"
    counts: Dict[str, int] = {}
    clock = _Laps(timings)
    means = np.asarray(scene.means, dtype=np.float64).reshape(-1, 3)
    opac = np.asarray(scene.opacities, dtype=np.float64).reshape(-1)
    rel = np.asarray(scene.relevancy, dtype=np.float64).reshape(-1)
    region = scene.region if scene.region is not None else relevant_region(means, opac, rel, cfg)
    clock.lap("region")
    scene = dataclasses.replace(scene, means=means, opacities=opac, relevancy=rel, region=region)
    surf = stages.get("surface", _surface_settings(cfg), counts, lambda c: held_surface(scene, region, cfg, c))
    av, avoid_region = avoid_channel(scene.avoid, means, opac, cfg)
    clouds = with_margin(stages.get("clouds", _surface_settings(cfg), counts, lambda c: collision_clouds(
        surf.points, surf.plane, scene.occupancy, cfg, c)), cfg)
    geometry = SceneClouds(surf, clouds)
    clock.lap("surface")
    if len(surf.points) < 2:
        return _empty(region, cfg, "no surface points off the support plane", clock.total(), counts, surf.plane)
    # the fused surface decides what is the target; where none of it is (the field's rendered relevancy marks
    # nothing the views see around the action point: a cap on a transparent bottle), nothing is labelled on
    # target, rather than whatever the region's relevant Gaussians span
    target_surface = scene.target_surface
    no_target = target_surface is not None and not np.any(target_surface[1])
    tpts = target_surface[0][target_surface[1]] if target_surface is not None else None
    counts["target_surface_points"] = 0 if tpts is None else len(tpts)
    contacts = stages.get("pairs", _pair_settings(cfg), counts,
                          lambda c: candidate_pairs(geometry, means, region, cfg, c, tpts))
    if len(contacts.first) == 0:
        clock.lap("candidates")
        why = ("no surface points near the relevant region" if counts["seeds"] == 0 else
               "no contact pairs near the relevant region (antipodal within max_opening and the friction cone, "
               "or across the part parallel to a support plane)")
        return _empty(region, cfg, why, clock.total(), counts, surf.plane)
    pairs = pair_frames(contacts, clouds, dims, cfg, counts)
    lengths = part_lengths(clouds, dims, cfg, av is not None)
    labels = stages.get("labels", _surface_settings(cfg), counts,
                        lambda c: target_labels(geometry, means, opac, region, cfg, target_surface))
    part = grasp_parts(pairs, geometry, labels, region, cfg, None if av is None else AvoidGaussians(av, means, opac))
    cands = Candidates(pairs, part)
    counts["closing_on_something"] = int((part.holds & pairs.span.fits[:, None]).sum())
    clock.lap("candidates")
    clear = collision(geometry, cands, lengths, cfg, counts, on_target_only)
    clock.lap("collision")
    # the fused surface the answers mark, in words: said only where no candidate holds mostly target (why_none)
    marked = (target_patch(tpts, surf.plane, cfg.gripper.metres_per_unit)
              if counts.get("on_target_candidates", 0) == 0 else None)
    if not clear.free.any():
        timings["scoring"] = 0.0
        return _empty(region, cfg, why_none(counts, counts["candidates"], target=marked), clock.total(), counts,
                      surf.plane)
    scores = score(part, clear, clouds, cfg)
    listed = kept(cands, geometry, clear, scores, dims, cfg)
    grasps = grasps_of(listed, cands, clear, scores, dims["max_opening"],
                       Handover(avoid_region, scene.handover_direction))
    counts["after_nms"] = len(grasps)
    counts["on_target"] = int(sum(gr.on_target for gr in grasps))
    clock.lap("scoring")
    why = warning(grasps, part, clear, counts, marked)
    if no_target and why:
        why = NO_TARGET_SURFACE_NOTE + "; " + why
    return GraspResult(region=region, grasps=grasps, gripper=cfg.gripper, warning=why, timings_ms=clock.total(),
                       counts=counts, support_plane=surf.plane)


def _plan(scene: PlanningScene, cfg: GraspConfig, stages: _StageCache) -> GraspResult:
    """:func:`plan_grasps` with the stages ``stages`` shares."""
    result = _plan_once(scene, cfg, stages)
    if (cfg.collision_margin <= 0 or cfg.top_k <= 0 or (result.grasps and result.grasps[0].on_target)
            or result.counts.get("on_target_candidates", 0) == 0):
        return result
    tight = _plan_once(dataclasses.replace(scene, region=result.region),
                       dataclasses.replace(cfg, collision_margin=0.0), stages, on_target_only=True)
    on = [gr for gr in tight.grasps if gr.on_target]
    timings = {**result.timings_ms, "tight": tight.timings_ms.get("total", 0.0)}
    timings["total"] = result.timings_ms.get("total", 0.0) + timings["tight"]
    counts = {**result.counts, "on_target_tight": len(on)}
    if not on:
        return dataclasses.replace(result, timings_ms=timings, counts=counts)
    for gr in on:
        gr.clears_margin = False
    grasps = (on + list(result.grasps))[: cfg.top_k]
    n = len(on[: cfg.top_k])
    first = "the first grasp listed closes" if n == 1 else f"the first {n} grasps listed close"
    why = (f"no grasp that closes on the target keeps the {cfg.collision_margin * 1e3:g} mm collision margin "
           f"from occupied or unknown space: {first} on the target and clear it by less (clears_margin "
           "false; safe only where the robot's calibration error is smaller)")
    return dataclasses.replace(result, grasps=grasps, warning=why, timings_ms=timings, counts=counts)


def plan_grasps(scene: PlanningScene, cfg: GraspConfig | None = None) -> GraspResult:
    """Ranked, collision-checked parallel-jaw grasps at the most relevant region of ``scene`` (its
    ``region``, else :func:`~point2act.grasp.region.relevant_region` of its relevancy).

    The fingers and the palm keep ``GraspConfig.collision_margin`` from occupied and unknown space (the
    robot's calibration error). Where no grasp that closes on the target keeps it, but some on-target
    poses exist, the candidates are checked once more with no margin (the boxes must still not reach
    into occupied or unknown cells, nor the table): the on-target grasps that clear that way rank first,
    ``clears_margin`` false, and the result's ``warning`` says so. An on-target grasp the width of a
    calibration error from the scene beats a grasp on another part, which fails the task for certain;
    the robot's user decides with the flag. Between a tall box and a mug's handle 1.6 cm from it, and on
    a handle trained from few views whose floaters narrow the gap, only such grasps reach the handle
    (docs/robustness.md). The second pass takes the first's surface, collision clouds, contact pairs and target
    labels (:class:`_StageCache`) and, since only its on-target grasps are listed, checks only the on-target
    candidates for collisions (the same on-target grasps, :func:`~point2act.grasp.clearance.collision`); the
    result's counts are the first pass's, with the tight pass's on-target grasps (``on_target_tight``).

    No wider fallback: :func:`plan_at_target` adds it. Raises ``ValueError`` if no relevancy passes the region
    threshold; any other failure to find grasps gives an empty list and ``GraspResult.warning``."""
    return _plan(scene, cfg or GraspConfig(), _StageCache())


def _on_target(result: GraspResult) -> bool:
    """Whether a plan's first grasp is not known to miss the target."""
    return bool(result.grasps) and result.grasps[0].on_target is not False


def closing_on(grasps: List[Grasp], region_points: np.ndarray, cfg: GraspConfig) -> List[Grasp]:
    """The ``grasps`` whose closing region (between the fingers, :func:`~point2act.grasp.evaluate.closing_box`)
    holds at least one of ``region_points`` [M, 3] (capture frame): grasps that close on the relevant region."""
    pts = np.asarray(region_points, dtype=np.float64).reshape(-1, 3)
    return [g for g in grasps if points_in_box(pts, closing_box(g, cfg.gripper)).any()]


def plan_at_target(scene: PlanningScene, cfg: GraspConfig | None = None) -> GraspResult:
    """:func:`plan_grasps` at the region, the target labelled by its fused surface where ``scene`` holds one
    (``target_surface``), else by the region's Gaussians; where nothing collision-free lands on the target itself
    (a pull tab flat on a lid, a thin edge), one wider plan whose seeds reach half the gripper's opening from the
    region (it holds every narrower ball's seeds, ``seed_radius = 0.5 * max_opening``), kept when it closes on the
    region (:func:`closing_on`: a wider seed ball also reaches other objects, an occluder beside a handle, which
    are no fallback for the target) and then lands on the target, or gives grasps where the first plan gave none.
    The result's ``fallback`` records the wider plan when it is taken (``seed_radius_m``, and the first plan's
    warning as ``reason``); a result whose first grasp closes off the target says so in its ``warning``. The
    wider plan shares the first one's stages (:class:`_StageCache`)."""
    cfg = cfg or GraspConfig()
    stages = _StageCache()
    result = _plan(scene, cfg, stages)
    fallback = None
    widest = 0.5 * cfg.gripper.max_opening
    if not _on_target(result) and widest > cfg.seed_radius * (1 + 1e-9):
        wider = dataclasses.replace(cfg, seed_radius=widest)
        again = _plan(dataclasses.replace(scene, region=result.region), wider, stages)
        means = np.asarray(scene.means, dtype=np.float64).reshape(-1, 3)
        again = dataclasses.replace(again, grasps=closing_on(again.grasps, means[result.region.indices], cfg))
        if _on_target(again) or (again.grasps and not result.grasps):
            fallback = {"seed_radius_m": wider.seed_radius, "reason": result.warning or ""}
            result = again
    if result.grasps and result.grasps[0].on_target is False and not result.warning:
        result = dataclasses.replace(result, warning="no grasp closes on the relevant region (on_target false)")
    return dataclasses.replace(result, fallback=fallback)


plan = plan_grasps
