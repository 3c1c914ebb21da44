"""Export where to act, as ``grasps.json`` (schema ``point2act.grasps/1``), in the capture frame.

The capture frame is the world frame of the input ``transforms.json`` (or COLMAP model), i.e.
nerfstudio's data-parser normalisation (``dataparser_transforms.json``: an orientation/centring
transform and a scale) undone.

Plain numpy: :func:`answer_where` answers "where" for one relevancy field (the action point, the region, the
confidence and the candidates), and :func:`build_export` turns that answer into the document, grasps included.
The run layer (:func:`point2act.method.run.where`, :func:`point2act.method.run.export_run`) loads a trained run
(``--load-config``), finds the answers it keeps and calls them; ``point2act query``, ``point2act grasp`` and the
viewer go through the same run-layer functions.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from point2act.errors import Point2ActError
from point2act.fusion import DepthViews, pixel_footprint, tsdf_fuse, view_points, view_relevancy, views_in_frame
from point2act.geometry import FrameTransform
from point2act.grasp import GraspConfig, relevant_region
from point2act.grasp.config import (
    COLLISION_VOXEL_SIZE,
    EXTENT_PERCENTILE,
    FUSION_MAX_VOXELS,
    FUSION_MIN_ALPHA,
    FUSION_SIDE_FACTOR,
    FUSION_TRUNC_VOXELS,
    FUSION_VOXEL_PIXELS,
    OCCUPANCY_EMPTY_ALPHA,
    OCCUPANCY_HIT_BACK,
    OCCUPANCY_HIT_FRONT,
    OCCUPANCY_MAX_CELLS,
    OCCUPANCY_MIN_HITS,
    OCCUPANCY_P_HIT,
    OCCUPANCY_P_MISS,
    OCCUPANCY_REACH,
    REGION_MIN_OPACITY,
)
from point2act.grasp.occupancy import FREE, OccupancyGrid, occupancy_cube
from point2act.grasp.result import SCHEMA, Region
from point2act.grasp.consensus import Consensus
from point2act.io import write_json_atomic


def timings_path(path: Path) -> Path:
    """Where :func:`write_grasps` puts the stage timings of the grasps.json at ``path``: ``NAME.timings.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.timings.json")


def write_grasps(path: Path, doc: Dict[str, Any]) -> Path:
    """Write a grasps.json document atomically: the answer alone, the same bytes for the same run and options
    whatever the thread count or the machine's load. Its stage timings (``timings_ms``, wall time, never the
    same twice) go beside it, in :func:`timings_path`; a timings file left by an earlier export is removed
    when this one has none."""
    path = Path(path)
    doc = dict(doc)
    timings = doc.pop("timings_ms", None)
    write_json_atomic(path, doc)
    side = timings_path(path)
    if timings is not None:
        write_json_atomic(side, {"grasps": path.name, "timings_ms": timings})
    elif side.is_file():
        side.unlink()
    return path


def fusion_geometry(views: DepthViews, frame: FrameTransform, center: np.ndarray, cfg,
                    region_extent: np.ndarray | None = None) -> Dict[str, float]:
    """Side and voxel (capture units) of the fused cube around ``center`` (capture frame), sized from the
    capture, not from metres: side = ``FUSION_SIDE_FACTOR`` x the region's largest extent, at least the
    gripper's opening plus two finger thicknesses (``metres_per_unit``) when that is smaller than the
    median camera distance, and at most that distance; voxel = ``FUSION_VOXEL_PIXELS`` x one rendered
    pixel's footprint at the median camera distance, so that the cube's detail follows what the views
    resolve; at most ``FUSION_MAX_VOXELS`` per side (constants of :mod:`point2act.grasp.config`)."""
    g = cfg.gripper
    s = frame.scale  # nerfstudio units per capture unit
    c_ns = frame.to_nerfstudio(np.asarray(center, dtype=np.float64)[None])[0]
    dist_ns, foot_ns = pixel_footprint(views, c_ns)
    dist, foot = dist_ns / s, foot_ns / s
    ext = float(np.max(region_extent)) if region_extent is not None and len(region_extent) else 0.0
    hand = g.units(g.max_opening + 2 * g.finger_thickness + 2 * g.finger_length)
    side = FUSION_SIDE_FACTOR * ext
    if hand < dist:
        side = max(side, hand)
    side = min(max(side, 20 * foot), dist) if dist > 0 else max(side, 20 * foot)
    voxel = max(FUSION_VOXEL_PIXELS * foot, side / max(int(FUSION_MAX_VOXELS), 8))
    return {"side": float(side), "voxel": float(voxel), "camera_distance": float(dist), "pixel_footprint": float(foot)}


def fuse_around(views: DepthViews, frame: FrameTransform, center: np.ndarray, cfg,
                region_extent: np.ndarray | None = None) -> Tuple[np.ndarray, float]:
    """TSDF-fused surface points (capture frame) in a cube around ``center`` (capture frame) and the
    radius (capture units) of the ball inside that cube (:func:`fusion_geometry` sizes the cube)."""
    pts, radius, _geo = fuse_around_geometry(views, frame, center, cfg, region_extent)
    return pts, radius


def fuse_around_geometry(views: DepthViews, frame: FrameTransform, center: np.ndarray, cfg,
                         region_extent: np.ndarray | None = None) -> Tuple[np.ndarray, float, Dict[str, float]]:
    """:func:`fuse_around`, and the cube's geometry (:func:`fusion_geometry`)."""
    s = frame.scale  # nerfstudio units per capture unit
    geo = fusion_geometry(views, frame, center, cfg, region_extent)
    c_ns = frame.to_nerfstudio(np.asarray(center, dtype=np.float64)[None])[0]
    pts_ns, _ = tsdf_fuse(
        views.depths, views.Ks, views.viewmats, c_ns, geo["side"] * s, geo["voxel"] * s,
        FUSION_TRUNC_VOXELS, views.alphas, FUSION_MIN_ALPHA,
    )
    return frame.to_capture(pts_ns), 0.5 * geo["side"], geo


def views_in_capture(views: DepthViews, frame: FrameTransform, cfg) -> DepthViews:
    """The depth views in the capture frame as the grasp head reads them: pixels below ``FUSION_MIN_ALPHA``
    opacity no measurement (depth 0), those below ``OCCUPANCY_EMPTY_ALPHA`` free along their whole ray
    (depth ``inf``)."""
    return views_in_frame(views, frame.transform, frame.scale, FUSION_MIN_ALPHA, OCCUPANCY_EMPTY_ALPHA)


def target_surface(fused: np.ndarray, views: DepthViews, region, support, means: np.ndarray, cfg,
                   geo: Dict[str, float]) -> np.ndarray:  # [F] bool
    """Which fused surface points (capture frame, ``fused`` [F, 3]) are the target: the surface where the field
    is relevant (:func:`point2act.grasp.target.surface_region`), its relevancy as the ``views`` render it
    (capture frame, with relevancy; a view sees a point whose rendered depth lies within the fusion's truncation
    distance of it), within the place the views' consensus chose (``support``: the blobs of its answers) or,
    without one, within half the gripper's opening of the region's Gaussians (``means`` [N, 3]). Connected at
    two fusion voxels, thresholded as the region is (``RegionConfig.threshold`` of the largest there)."""
    from scipy.spatial import cKDTree

    from point2act.grasp.target import surface_region  # loaded where grasps are planned, not in training

    tol = FUSION_TRUNC_VOXELS * float(geo["voxel"])
    rel = view_relevancy(views, fused, tol)
    if support is not None:
        scope = support.best.covers(fused)
    else:
        reach = cfg.gripper.units(0.5 * cfg.gripper.max_opening)
        scope = np.isfinite(cKDTree(means[region.indices]).query(fused, distance_upper_bound=reach)[0])
    return surface_region(fused, rel, region.action_point, scope, cfg.region.threshold, 2.0 * float(geo["voxel"]))


def region_on_surface(region, target: np.ndarray, means: np.ndarray, opacities: np.ndarray, near: float):
    """The region as the target's surface: the box of the fused surface points the field marks as the target
    (``target`` [T, 3], :func:`target_surface`) and the opaque Gaussians within ``near`` of them (the fusion's
    truncation distance: what renders that surface), the action point kept. The field says where, the fused
    surface what is there: a handful of relevant Gaussians, or a cluster that chains across the scene, does not
    size the grids the gripper is checked in. ``region`` unchanged where no opaque Gaussian lies that near."""
    from scipy.spatial import cKDTree

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
    in the capture frame (:func:`views_in_capture`). See :mod:`point2act.grasp.occupancy`."""
    g = cfg.gripper
    side = min(float(geo["side"]), float(np.max(region.extent)) + 2.0 * g.units(OCCUPANCY_REACH))
    return occupancy_cube(v.depths, v.Ks, v.viewmats, np.asarray(region.center, dtype=np.float64), side, geo["voxel"],
                          max_cells=OCCUPANCY_MAX_CELLS, hit_front=OCCUPANCY_HIT_FRONT,
                          hit_back=OCCUPANCY_HIT_BACK, min_hits=OCCUPANCY_MIN_HITS,
                          p_hit=OCCUPANCY_P_HIT, p_miss=OCCUPANCY_P_MISS)


def nearest_distance(points: np.ndarray, point: np.ndarray) -> float:
    """Distance from ``point`` [3] to the nearest of ``points`` [M, 3] (``inf`` when there are none)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not len(pts):
        return float("inf")
    return float(np.sqrt(((pts - np.asarray(point, dtype=np.float64).reshape(1, 3)) ** 2).sum(1).min()))


def closing_on(grasps, region_points: np.ndarray, cfg: GraspConfig) -> list:
    """The ``grasps`` whose closing region (between the fingers) holds at least one of
    ``region_points`` [M, 3] (capture frame): grasps that close on the relevant region."""
    from point2act.grasp.evaluate import closing_box
    from point2act.grasp.geometry import points_in_box

    pts = np.asarray(region_points, dtype=np.float64).reshape(-1, 3)
    return [g for g in grasps if points_in_box(pts, closing_box(g, cfg.gripper)).any()]


NO_CONSENSUS = "the region with the most relevancy was taken"
"""The end of the ``warning`` of an answer that no views' consensus chose (:attr:`Answer.note`)."""


@dataclass
class Answer:
    """The answer to "where" for one relevancy field (capture frame): what :func:`answer_where` returns.

    With the views' consensus (``support``): its chosen place is the action point, the region is the relevant
    Gaussians the views marked around it, and ``confidence``, ``candidates`` and ``support_fields`` say how sure
    the views are. Without it (the run keeps no answers, or none lands on the field's surface): the relevancy
    peak of the cluster with the most relevancy mass, and ``note`` says why."""

    region: Region
    """The relevant region (:func:`point2act.grasp.region.relevant_region`); its ``action_point`` is the answer's."""
    relevancy: np.ndarray
    """[N] the field's relevancy, per Gaussian."""
    support: Consensus | None = None
    """The views' consensus on the answers the field was fitted to (capture frame), or None."""
    note: str = ""
    """Why there is no consensus ("" when there is one)."""
    channel: str | None = None
    """The channel answered: None for the run's trained relevancy, else a ``point2act query`` channel's name."""
    prompt: str = ""
    """The channel's own task text ("" when it has none)."""
    role: str = "grasp"
    """The channel's role: grasp, place or avoid."""
    candidates: List[Dict[str, Any]] | None = None
    """grasps.json's ``candidates`` (with a consensus)."""
    support_fields: Dict[str, Any] | None = None
    """grasps.json's ``support`` (with a consensus)."""

    @property
    def action_point(self) -> np.ndarray:
        return self.region.action_point

    @property
    def confidence(self) -> float | None:
        return float(self.support.confidence) if self.support is not None else None

    @property
    def rule(self) -> str:
        """"consensus" (the views chose the place) or "relevancy peak" (no answers to ask)."""
        return "consensus" if self.support is not None else "relevancy peak"

    @property
    def warning(self) -> str:
        """What grasps.json's ``warning`` says about this answer: that the consensus is weak, or that there is
        none and why; "" for a consensus that is sure."""
        if self.support_fields is not None:
            sf = self.support_fields
            return f"not sure: {sf['reason']}" if sf.get("weak") and sf.get("reason") else ""
        return f"not sure: no consensus of the views ({self.note}); {NO_CONSENSUS}"

    def keypoint(self) -> Dict[str, Any]:
        """grasps.json's ``keypoints[NAME]`` entry: this answer's action point and region, prompt and role."""
        return {"action_point": [float(v) for v in self.action_point], "region": self.region.to_dict(),
                "prompt": self.prompt or None, "role": self.role}


def answer_where(
    means: np.ndarray,
    opacities: np.ndarray,
    relevancy: np.ndarray,
    grasp_config: Any = None,
    support: Consensus | None = None,
    note: str = "",
    channel: str | None = None,
    prompt: str = "",
    role: str = "grasp",
) -> Answer:
    """The answer to "where" for one relevancy field: ``means`` [N, 3] (capture frame), ``opacities`` [N],
    ``relevancy`` [N]; ``support``: the views' consensus on the answers the field was fitted to (capture frame),
    or None with ``note`` saying why there is none. A :class:`Point2ActError` when the field has no relevant
    region."""
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    means = np.asarray(means, dtype=np.float64).reshape(-1, 3)
    relevancy = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    try:
        region = relevant_region(means, opacities, relevancy, cfg, support=support)
    except ValueError as e:
        what = f"channel {channel!r}" if channel else "this field"
        raise Point2ActError(f"no relevant region in {what}: {e}") from None
    if support is None:
        return Answer(region, relevancy, None, note or "no answers", channel, prompt, role)
    return Answer(region, relevancy, support, "", channel, prompt, role,
                  candidates=_candidates(support, means, relevancy, cfg),
                  support_fields=_consensus_support(support, region, cfg))


def places_in_capture(cons: Consensus, frame: FrameTransform) -> Consensus:
    """``cons`` (nerfstudio frame) with its places moved to the capture frame, in place."""
    for p in cons.places:
        p.point = frame.to_capture(p.point[None])[0]
        if p.footprint is not None:
            p.footprint = np.c_[frame.to_capture(p.footprint[:, :3]), p.footprint[:, 3] * frame.units_per_ns_unit]
    return cons


def consensus_in_capture(views: list, frame: FrameTransform) -> Consensus:
    """The views' :class:`~point2act.grasp.consensus.Consensus` (``views``: ``ViewAnswers``, nerfstudio frame),
    its places in the capture frame."""
    from point2act.grasp.consensus import consensus

    return places_in_capture(consensus(views), frame)


def support_of_views(views: list | None, frame: FrameTransform, reason: str = "") -> Tuple[Consensus | None, str]:
    """The views' consensus in the capture frame (:func:`consensus_in_capture`) and why there is none: ``(None,
    reason)`` without views, ``(None, why)`` where no answer lands on the field's surface, else ``(consensus,
    "")``."""
    if views is None:
        return None, reason
    try:
        return consensus_in_capture(views, frame), ""
    except ValueError as e:
        return None, str(e)


def answer_of_field(
    source: Path | str,
    frame: FrameTransform,
    arrays: Dict[str, np.ndarray],
    relevancy: np.ndarray,
    cfg,
    support: Consensus | None,
    note: str = "",
    candidate: int = 0,
    channel: str | None = None,
    prompt: str = "",
    role: str = "grasp",
) -> Answer:
    """:func:`answer_where` for a run's field (``arrays``: nerfstudio frame, ``relevancy`` [N] the field's),
    on the views' ``candidate``-th place when asked (a :class:`Point2ActError` naming ``source``, the run's
    config, when there is no consensus to rank places, or no such place)."""
    if candidate:
        if support is None:
            raise Point2ActError(f"{source}: --candidate {candidate} needs the run's answers (RUN/points.json) to "
                                 "rank the places the views point at; this export has none")
        try:
            support = support.choose(candidate)
        except ValueError as e:
            raise Point2ActError(f"{source}: {e}") from None
    means_c = frame.to_capture(arrays["means"])
    return answer_where(means_c, arrays["opacities"], relevancy, cfg, support, note,
                        channel=channel, prompt=prompt, role=role)


def finish_doc(out: Dict[str, Any], source: Path | str, answer: Answer, grasps: bool, start_note: str = "",
               finish=None) -> Dict[str, Any]:
    """The last steps of every export document: ``run`` (``source``, the run's config), the run's
    ``start_note`` added to ``warning`` when grasps were asked for and none lands on the target, the answer's
    own warning when the relevancy peak chose the place, then ``finish`` (e.g. base-frame poses)."""
    out["run"] = str(Path(source).resolve())
    missed = grasps and not (out.get("grasps") and out["grasps"][0].get("on_target"))
    if missed and start_note:
        out["warning"] = "; ".join(w for w in (out.get("warning"), start_note) if w)
    if answer.support is None:  # the relevancy peak chose the place: nothing says how sure it is
        out["warning"] = "; ".join(w for w in (out.get("warning"), answer.warning) if w)
    return finish(out) if finish is not None else out


def gripper_from_options(path: Path | None, metres_per_unit: float | None, pregrasp_distance: float | None = None):
    """The gripper of ``--gripper`` (default: a Franka Panda hand) with ``--metres-per-unit`` and
    ``--pregrasp-distance`` applied; bad input is a :class:`Point2ActError` naming the file or the option."""
    from point2act.grasp import GripperConfig

    try:
        gripper = GripperConfig.from_json(path) if path is not None else GripperConfig()
    except ValueError as e:
        raise Point2ActError(str(e)) from None
    if metres_per_unit is not None:
        if not metres_per_unit > 0:
            raise Point2ActError(f"--metres-per-unit must be > 0, got {metres_per_unit}")
        gripper.metres_per_unit = metres_per_unit
    if pregrasp_distance is not None:
        if not pregrasp_distance >= 0:
            raise Point2ActError(f"--pregrasp-distance must be >= 0 metres, got {pregrasp_distance}")
        gripper.pregrasp_distance = float(pregrasp_distance)
    return gripper


def apply_frame(gripper, frame: Dict[str, Any] | None, metres_per_unit: float | None) -> None:
    """The frame file's scale on the gripper, unless ``--metres-per-unit`` was given (then they must agree)."""
    if frame is None:
        return
    if metres_per_unit is None:
        gripper.metres_per_unit = float(frame["metres_per_unit"])
    elif abs(metres_per_unit / frame["metres_per_unit"] - 1.0) > 0.02:
        raise Point2ActError(
            f"--metres-per-unit {metres_per_unit:g} disagrees with {frame['path']} ({frame['metres_per_unit']:.6g} "
            "from the marker): drop the option, or pass --base-from-capture with another frame file")


def with_base_frame(out: Dict[str, Any], frame: Dict[str, Any] | None) -> Dict[str, Any]:
    """The grasps.json document with base-frame poses added when the frame file has a base_from_capture."""
    if frame is None or frame.get("base_from_capture") is None:
        return out
    from point2act.robot.frame import add_base_frame

    return add_base_frame(out, frame["base_from_capture"], frame_file=str(frame["path"]))


def grasp_options(grip, frame: Dict[str, Any] | None, metres_per_unit: float | None = None, num_grasps: int = 10,
                  fuse_depth: bool = True):
    """``(GraspConfig, finish)`` of an export's options: the gripper ``grip`` (:func:`gripper_from_options`) with
    the frame file's scale (``frame``, :func:`point2act.robot.calibrate.resolve_frame_file`) unless
    ``metres_per_unit`` is given, and ``finish`` adding base-frame poses when the frame has base_from_capture."""
    apply_frame(grip, frame, metres_per_unit)
    cfg = GraspConfig(gripper=grip, top_k=num_grasps)
    cfg.surface.fuse_depth = fuse_depth
    return cfg, (lambda doc: with_base_frame(doc, frame))


def _fused_target(depth_views: DepthViews, views_c: DepthViews, frame: FrameTransform, region, support,
                  means_c: np.ndarray, opacities: np.ndarray, cfg, kw: Dict[str, Any]):
    """The fused surface around the action point, the target on it (``kw["target_surface"]``) and the region as
    that surface (:func:`region_on_surface`, also ``kw["region"]``). With rendered relevancy the cube is the
    gripper's size (:func:`fusion_geometry` without an extent): what the fingers can reach around the action
    point, whatever the relevant Gaussians span; without, the relevant Gaussians' box sizes it. Returns (fused
    points [F, 3], the cube's inner radius, its geometry, the region)."""
    if views_c.relevancy is None:  # no target surface to plan on: the relevant Gaussians' box
        return (*fuse_around_geometry(depth_views, frame, region.action_point, cfg, region.extent), region)
    fused, radius, geo = fuse_around_geometry(depth_views, frame, region.action_point, cfg)
    if len(fused):
        on_target = target_surface(fused, views_c, region, support, means_c, cfg, geo)
        kw["target_surface"] = (fused, on_target)
        if on_target.any():
            near = FUSION_TRUNC_VOXELS * float(geo["voxel"])
            region = kw["region"] = region_on_surface(region, fused[on_target], means_c, opacities, near)
    return fused, radius, geo, region


def _fusion_inputs(depth_views: DepthViews, frame: FrameTransform, region, support, means_c: np.ndarray,
                   opacities: np.ndarray, cfg, kw: Dict[str, Any]) -> Tuple[np.ndarray, Dict[str, float], Dict[str, float], float]:
    """What the depth views give the planner (added to its keywords ``kw``): the TSDF surface around the action
    point (returned: fused points [F, 3], capture frame), the support plane's points, the surface beyond the fused
    cube (``views_surface``, with the ball of ``fused_radius`` where it and the fused surface replace the Gaussian
    centres), the occupancy grid and, when the views carry the field's relevancy, the target's surface
    (:func:`target_surface`). Also returns the
    fusion's stage timings, its geometry and the action point's distance to the fused surface."""
    t0 = time.perf_counter()
    views_c = views_in_capture(depth_views, frame, cfg)
    fused, radius, fusion_geo, region = _fused_target(depth_views, views_c, frame, region, support, means_c,
                                                      opacities, cfg, kw)
    surface_gap = nearest_distance(fused, region.action_point)
    if np.isfinite(surface_gap):
        fusion_geo["nearest_surface"] = surface_gap
    fusion_ms = {"depth_render": depth_views.render_ms, "tsdf_fusion": (time.perf_counter() - t0) * 1e3}
    # what the views see: the support plane is fitted to it, by image area. Beyond the fused cube, within the
    # hand's reach, the gripper is checked against the part of it the views place to within a coarse collision
    # cell (the median depth's spread), not against the Gaussian centres: a reconstruction from few or no points
    # spreads them centimetres in front of and behind the surface, and leaves fog over plain surfaces that the
    # views render as a surface but cannot place (docs/robustness.md, "The surface beyond the fused cube")
    kw["plane_points"] = view_points(views_c, min_alpha=FUSION_MIN_ALPHA)
    seen = view_points(views_c, min_alpha=FUSION_MIN_ALPHA, max_spread=cfg.gripper.units(COLLISION_VOXEL_SIZE))
    ap = np.asarray(region.action_point, dtype=np.float64)
    reach = cfg.gripper.units(cfg.gripper.reach + 0.5 * cfg.gripper.max_opening)
    far = np.linalg.norm(seen - ap, axis=1)
    seen = seen[(far > radius) & (far <= reach)]
    if cfg.surface.occupancy:  # what the gripper is checked against: free, occupied, unknown cells
        t0 = time.perf_counter()
        kw["occupancy"] = occupancy_around(views_c, region, cfg, fusion_geo)
        # a point one view renders where the others see through is a floater, not a surface
        carve = occupancy_cube(views_c.depths, views_c.Ks, views_c.viewmats, ap, 2.0 * reach,
                               cfg.gripper.units(COLLISION_VOXEL_SIZE), max_cells=OCCUPANCY_MAX_CELLS,
                               hit_front=OCCUPANCY_HIT_FRONT, hit_back=OCCUPANCY_HIT_BACK,
                               min_hits=OCCUPANCY_MIN_HITS, p_hit=OCCUPANCY_P_HIT, p_miss=OCCUPANCY_P_MISS)
        seen = seen[carve.state_at(seen) != FREE]
        fusion_ms["occupancy"] = (time.perf_counter() - t0) * 1e3
    kw.update(fused_center=ap, fused_radius=reach, views_surface=seen)
    return fused, fusion_ms, fusion_geo, surface_gap


def _on_target(result) -> bool:
    """Whether a plan's first grasp is not known to miss the target."""
    return bool(result.grasps) and result.grasps[0].on_target is not False


def _plan_with_fallback(means_c: np.ndarray, arrays: Dict[str, np.ndarray], cfg, region,
                        kw: Dict[str, Any]):
    """:func:`~point2act.grasp.plan_grasps` at the region, the target labelled by its fused surface where ``kw``
    holds one (``target_surface``, :func:`_fused_target`), else by the region's Gaussians; where nothing
    collision-free lands on the target itself (a pull tab flat on a lid, a thin edge), one wider plan whose seeds
    reach half the gripper's opening from the region (it holds every narrower ball's seeds), kept when it closes
    on the region. Returns the result and the fallback's record (None when not taken)."""
    from point2act.grasp.planner import plan_grasps  # the planner is loaded by processes that plan, not by training

    kw = {**kw, "reuse": {}}  # the wider plan takes the first one's surface (same inputs)
    result = plan_grasps(means_c, arrays["opacities"], arrays["relevancy"], cfg, **kw)
    fallback = None
    widest = 0.5 * cfg.gripper.max_opening
    if not _on_target(result) and widest > cfg.seed_radius * (1 + 1e-9):
        wider = dataclasses.replace(cfg, seed_radius=widest)
        again = plan_grasps(means_c, arrays["opacities"], arrays["relevancy"], wider, **kw)
        # the gripper must still close on the region: a wider seed ball also reaches other
        # objects (an occluder beside a handle), which are no fallback for the target
        again = dataclasses.replace(again, grasps=closing_on(again.grasps, means_c[region.indices], cfg))
        if _on_target(again) or (again.grasps and not result.grasps):
            fallback = {"seed_radius_m": wider.seed_radius, "reason": result.warning or ""}
            result = again
    if result.grasps and result.grasps[0].on_target is False and not result.warning:
        result = dataclasses.replace(result, warning="no grasp closes on the relevant region (on_target false)")
    return result, fallback


def _no_surface_note(surface_gap: float, cfg) -> str:
    """The warning for an action point farther than half the opening from the fused surface: no grasp centred
    there touches any surface (the fallback's reach)."""
    where = (f"the nearest fused surface point is {surface_gap * cfg.gripper.metres_per_unit * 100:.1f} "
             f"cm ({surface_gap:.3g} capture units) from it" if np.isfinite(surface_gap)
             else "no fused surface lies around it")
    return (f"the reconstruction has no surface at the action point: {where}, beyond the reach of a grasp "
            f"centred there (half the opening, {cfg.gripper.max_opening * 50:g} cm); the views agree on a place "
            "that the Gaussians do not model as a surface (a transparent or shiny object, too few views of it): "
            "no grasp there can be checked")


def build_export(
    arrays: Dict[str, np.ndarray],
    frame: FrameTransform,
    prompt: str,
    grasp_config: Any = None,
    grasps: bool = True,
    camera_centers: np.ndarray | None = None,
    extra_points: np.ndarray | None = None,
    keypoints: Dict[str, Answer] | None = None,
    avoid_relevancy: np.ndarray | None = None,
    handover_direction: np.ndarray | None = None,
    depth_views: DepthViews | None = None,
    support: Consensus | None = None,
    answer: Answer | None = None,
) -> Dict[str, Any]:
    """The ``point2act.grasps/1`` dict for one relevancy field, in the capture frame.

    Args:
        arrays: per-Gaussian ``means`` [N, 3], ``opacities`` [N], ``scales`` [N, 3], ``relevancy`` [N]
            in the nerfstudio frame (see :func:`gaussian_arrays`).
        frame: nerfstudio's normalisation of the capture.
        grasp_config: a :class:`point2act.grasp.GraspConfig` (gripper, region, top-k, ...).
        grasps: plan grasps (else only the action point and region).
        camera_centers: [C, 3] camera centres in the capture frame (orients surface normals).
        extra_points: [M, 3] more surface points in the nerfstudio frame (fused depth).
        keypoints: the answers of named relevancy channels (:func:`answer_where`), added as ``keypoints``
            (schema extension): name -> its action point, region, prompt and role.
        avoid_relevancy: [N] relevancy of an "avoid" channel: grasps whose closing region or
            finger path passes through it are penalised (see :func:`point2act.grasp.plan_grasps`).
        depth_views: rendered depth of training views (:func:`render_depth_views`): fused in a TSDF
            cube around the action point, it replaces the Gaussian centres as the grasp surface there.
        handover_direction: [3] capture-frame direction towards the handover recipient: each grasp
            also gets the gripper rotation that turns the avoid region away from it.
        support: the views' consensus on their answers (:func:`point2act.grasp.consensus.consensus`, capture
            frame), when no ``answer`` is given: the answer is :func:`answer_where` on ``arrays`` with it.
        answer: the answer to "where" for this field (:func:`answer_where`; its relevancy is ``arrays``'):
            its action point and region are grasps.json's; with a consensus grasps.json gets ``confidence``,
            ``candidates`` and ``support`` (a ``warning`` when the confidence is below
            :data:`CONFIDENCE_THRESHOLD`).
    """
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    means_c = frame.to_capture(arrays["means"])
    scales_c = arrays["scales"] * frame.units_per_ns_unit
    if answer is None:
        answer = answer_where(means_c, arrays["opacities"], arrays["relevancy"], cfg, support=support)
    region = answer.region
    notes = []
    cons = answer.support
    sup = answer.support_fields
    if cons is not None and answer.warning:
        notes.append(answer.warning)
    if grasps:
        extra = frame.to_capture(extra_points) if extra_points is not None else None
        kw: Dict[str, Any] = {"region": region, "camera_centers": camera_centers, "scales": scales_c}
        if avoid_relevancy is not None:
            kw["avoid"] = np.asarray(avoid_relevancy, dtype=np.float64)
        if handover_direction is not None:
            kw["handover_direction"] = np.asarray(handover_direction, dtype=np.float64)
        fusion_ms: Dict[str, float] = {}
        fusion_geo: Dict[str, float] = {}
        surface_gap = 0.0  # the action point's distance to the fused surface (0: not measured)
        if depth_views is not None:
            fused, fusion_ms, fusion_geo, surface_gap = _fusion_inputs(depth_views, frame, region, cons, means_c,
                                                                       arrays["opacities"], cfg, kw)
            region = kw["region"]
            fused_all = np.concatenate([fused, kw.pop("views_surface")], 0)
            extra = fused_all if extra is None else np.concatenate([extra, fused_all], 0)
        kw["extra_points"] = extra
        try:
            result, fallback = _plan_with_fallback(means_c, arrays, cfg, region, kw)
        except ValueError as e:
            raise Point2ActError(f"no relevant region in this field: {e}") from None
        out = result.to_dict(prompt)
        # grasps.json's region is the answer's (every path gives the same); what the grasps were planned on, the
        # target's fused surface, is grasp_target
        planned, out["region"] = out["region"], answer.region.to_dict()
        if planned != out["region"]:
            out["grasp_target"] = planned
        if surface_gap > cfg.gripper.units(0.5 * cfg.gripper.max_opening) and not _on_target(result):
            notes.append(_no_surface_note(surface_gap, cfg))
        if fallback is not None:
            out["grasp_fallback"] = fallback
            notes.append(
                f"no collision-free grasp on the target itself ({fallback['reason']}); these grasps take the object "
                f"around it (contacts up to {fallback['seed_radius_m'] * 100:.1f} cm, "
                f"{cfg.gripper.units(fallback['seed_radius_m']):.3g} capture units, from the relevant region)"
            )
        if fusion_ms:  # stages before the planner; the planner's own "total" is unchanged
            out["timings_ms"] = {**fusion_ms, **out.get("timings_ms", {})}
        if fusion_geo:
            out["fusion"] = {k: round(float(v), 6) for k, v in fusion_geo.items()}
        if kw.get("occupancy") is not None:
            occ = kw["occupancy"]
            out["occupancy"] = {"voxel": round(float(occ.voxel), 6), "shape": list(occ.shape), **occ.counts()}
        if not out.get("grasps"):
            notes.append(_no_grasp_advice(out.get("warning", ""), cfg, fusion_geo))
            out.pop("warning", None)
    else:
        out = {
            "schema": SCHEMA,
            "prompt": prompt,
            "frame": "capture",
            "metres_per_unit": float(cfg.gripper.metres_per_unit),
            "action_point": [float(v) for v in region.action_point],
            "region": region.to_dict(),
        }
    if sup is not None:
        out["support"] = sup
    if cons is not None:
        out["confidence"] = round(float(cons.confidence), 4)
        out["candidates"] = answer.candidates
    if out.get("warning"):
        notes.insert(0, out["warning"])
    if notes:
        out["warning"] = "; ".join(n for n in notes if n)
    if keypoints:
        out["keypoints"] = {name: a.keypoint() for name, a in keypoints.items()}
    return out


CONFIDENCE_THRESHOLD = 0.95
"""grasps.json's ``support.weak`` is ``confidence < CONFIDENCE_THRESHOLD``: below it, odds of less than 19 to 1
that the chosen place, rather than the runner-up, is what the views mean (docs/grasps-json.md)."""


def _consensus_support(cons, region, cfg) -> Dict[str, Any]:
    """``support`` fields from the views' consensus: ``weak`` when the confidence is below
    :data:`CONFIDENCE_THRESHOLD`, with a ``reason`` that names the competing place."""
    best = cons.best
    out: Dict[str, Any] = {"views_agree": len(best.views) + len(best.eval_views), "views_seen": int(round(best.seen)),
                           "answered_views": cons.answered_views, "supervised_views": cons.supervised_views,
                           "answered_by_split": dict(cons.info.get("answered_by_split", {})),
                           "confidence": round(float(cons.confidence), 4)}
    chosen = int(cons.info.get("chosen", 0))
    weak = cons.confidence < CONFIDENCE_THRESHOLD or chosen != 0
    out["weak"] = bool(weak)
    if weak:
        mpu = cfg.gripper.metres_per_unit
        if len(cons.places) > 1:
            k = 1 if chosen == 0 else 0
            other = cons.places[k]
            d = float(np.linalg.norm(other.point - best.point))
            out["reason"] = (f"{'the views chose' if chosen else 'a second'} region, {cons.share(k):.0%} of the evidence "
                             f"({other.votes:.1f} of {cons.answered_views} answered views), {d * mpu * 100:.1f} cm "
                             f"({d:.3g} capture units) away; confidence {cons.confidence:.2f}")
        else:
            out["reason"] = (f"only {best.votes:.1f} of {cons.answered_views} answered views point at it; "
                             f"confidence {cons.confidence:.2f}")
    return out


def _candidates(cons, means_c: np.ndarray, relevancy: np.ndarray, cfg) -> list:
    """grasps.json's ``candidates``: the places the views point at, the chosen one first, each with its
    action point, the views that support it, its share of the evidence and the relevancy there (the
    mean of the Gaussians within its blob of the action point)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(means_c)
    rel = np.asarray(relevancy, dtype=np.float64).reshape(-1)
    out = []
    for k, p in enumerate(cons.places):
        _d, j = tree.query(p.point, k=8)
        out.append({"action_point": [float(v) for v in p.point], "share": round(cons.share(k), 4),
                    "votes": round(float(p.votes), 3), "views": [int(v) for v in p.views],
                    "eval_views": [int(v) for v in p.eval_views],
                    "relevancy": round(float(np.clip(rel[np.atleast_1d(j)], 0, 1).mean()), 4),
                    "triangulated": bool(p.triangulated)})
    return out


def _no_grasp_advice(reason: str, cfg, fusion_geo: Dict[str, float]) -> str:
    """The planner's reason for returning no grasps, and what to try."""
    g = cfg.gripper
    tips = []
    dist = fusion_geo.get("camera_distance")
    if dist:
        tips.append(f"the cameras are a median {dist:.3g} capture units from the action point, i.e. "
                    f"{dist * g.metres_per_unit:.3g} m at --metres-per-unit {g.metres_per_unit:g}; if that is not "
                    "the real distance, set --metres-per-unit (the gripper's size in capture units depends on it)")
    else:
        tips.append(f"check --metres-per-unit ({g.metres_per_unit:g}): the gripper's size in capture units depends on it")
    tips.append("a longer reconstruction (--max-num-iterations) gives a cleaner surface")
    return f"no grasps: {reason or 'none survived'}; try: " + "; ".join(tips)

