"""The export's last stage: the ``point2act.grasps/1`` document (:func:`document`), the one place where it and its
``warning`` are assembled, and its file (:func:`write_grasps`).

The ``warning`` joins, in order: the planner's own (why a grasp is short of the margin, or there is none), a weak
consensus, the action point off the fused surface, the fallback to the object around the target, what to try
when there is no grasp and, for a run's export, the run's start when no grasp lands on the target and the
relevancy peak's note when no consensus chose the place. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict

import numpy as np

from point2act.grasp.result import SCHEMA
from point2act.io import write_json_atomic

if TYPE_CHECKING:
    from point2act.export.inputs import ExportInputs
    from point2act.export.request import ExportRequest
    from point2act.export.scene import Fusion
    from point2act.export.where import Answer
    from point2act.grasp.occupancy import OccupancyGrid
    from point2act.grasp.result import GraspResult


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


def with_base_frame(out: Dict[str, Any], frame: Dict[str, Any] | None) -> Dict[str, Any]:
    """The grasps.json document with base-frame poses added when the frame file has a base_from_capture."""
    if frame is None or frame.get("base_from_capture") is None:
        return out
    from point2act.robot.frame import add_base_frame

    return add_base_frame(out, frame["base_from_capture"], frame_file=str(frame["path"]))


def _on_target(result: "GraspResult") -> bool:
    """Whether a plan's first grasp is not known to miss the target."""
    return bool(result.grasps) and result.grasps[0].on_target is not False


def document(request: "ExportRequest", inputs: "ExportInputs", answer: "Answer", planned: "Planned | None" = None,
             keypoints: Dict[str, "Answer"] | None = None) -> Dict[str, Any]:
    """The ``point2act.grasps/1`` document of one export (capture frame; ``timings_ms`` included, which
    :func:`write_grasps` writes beside the file).

    Args:
        request: the export's resolved options (its grasp config, its frame file's base-frame poses).
        inputs: what the export read (the run, its prompt and start note).
        answer: the answer to "where" of the field the grasps are for (:func:`point2act.export.where.answer`).
        planned: the grasps planned at it and the fusion they were planned on; None: no grasps asked.
        keypoints: the answers of named channels, grasps.json's ``keypoints``.
    """
    cfg = request.grasp_config
    prompt = answer.prompt or inputs.prompt
    notes = []
    if answer.support is not None and answer.warning:
        notes.append(answer.warning)
    if planned is not None:
        out = _grasps_part(planned, answer, prompt, cfg, notes)
    else:
        out = {"schema": SCHEMA, "prompt": prompt, "frame": "capture",
               "metres_per_unit": float(cfg.gripper.metres_per_unit),
               "action_point": [float(v) for v in answer.region.action_point], "region": answer.region.to_dict()}
    if answer.support_fields is not None:
        out["support"] = answer.support_fields
    if answer.support is not None:
        out["confidence"] = round(float(answer.support.confidence), 4)
        out["candidates"] = answer.candidates
    if out.get("warning"):
        notes.insert(0, out["warning"])
    if notes:
        out["warning"] = "; ".join(n for n in notes if n)
    if keypoints:
        out["keypoints"] = {name: a.keypoint() for name, a in keypoints.items()}
    if inputs.run is None:  # arrays that are no run's (tests, a benchmark's truth): no run to speak of
        return with_base_frame(out, request.frame)
    out["run"] = str(Path(inputs.run).resolve())
    missed = planned is not None and not (out.get("grasps") and out["grasps"][0].get("on_target"))
    if missed and inputs.start_note:
        out["warning"] = "; ".join(w for w in (out.get("warning"), inputs.start_note) if w)
    if answer.support is None:  # the relevancy peak chose the place: nothing says how sure it is
        out["warning"] = "; ".join(w for w in (out.get("warning"), answer.warning) if w)
    return with_base_frame(out, request.frame)


@dataclass(frozen=True)
class Planned:
    """The grasps planned at an answer and what they were planned on."""

    result: "GraspResult"
    """The planner's result (:func:`point2act.grasp.plan_grasps`)."""
    fusion: "Fusion"
    """The fused surface around the action point (:class:`point2act.export.scene.Fusion`)."""
    occupancy: "OccupancyGrid | None" = None
    """The planning scene's occupancy grid, or None."""


def _grasps_part(planned: Planned, answer: "Answer", prompt: str, cfg, notes: list) -> Dict[str, Any]:
    """The document of a plan (``grasps``, the planner's counts, ``fusion``, ``occupancy``), its notes added to
    ``notes``."""
    result, fusion = planned.result, planned.fusion
    out = result.to_dict(prompt)
    # grasps.json's region is the answer's (every path gives the same); what the grasps were planned on, the
    # target's fused surface, is grasp_target
    target, out["region"] = out["region"], answer.region.to_dict()
    if target != out["region"]:
        out["grasp_target"] = target
    if fusion.surface_gap > cfg.gripper.units(0.5 * cfg.gripper.max_opening) and not _on_target(result):
        notes.append(_no_surface_note(fusion.surface_gap, cfg))
    if result.fallback is not None:
        out["grasp_fallback"] = result.fallback
        notes.append(
            f"no collision-free grasp on the target itself ({result.fallback['reason']}); these grasps take the "
            f"object around it (contacts up to {result.fallback['seed_radius_m'] * 100:.1f} cm, "
            f"{cfg.gripper.units(result.fallback['seed_radius_m']):.3g} capture units, from the relevant region)"
        )
    if fusion.timings_ms:  # stages before the planner; the planner's own "total" is unchanged
        out["timings_ms"] = {**fusion.timings_ms, **out.get("timings_ms", {})}
    if fusion.geometry:
        out["fusion"] = {k: round(float(v), 6) for k, v in fusion.geometry.items()}
    if planned.occupancy is not None:
        occ = planned.occupancy
        out["occupancy"] = {"voxel": round(float(occ.voxel), 6), "shape": list(occ.shape), **occ.counts()}
    if not out.get("grasps"):
        notes.append(_no_grasp_advice(out.get("warning", ""), cfg, fusion.geometry))
        out.pop("warning", None)
    return out


TABLETOP_CAMERA_RANGE_M = (0.15, 3.0)
"""Camera-to-target distances (metres) of a tabletop capture, by phone or robot arm: a capture whose cameras
stand outside it at the given ``--metres-per-unit`` has, most likely, the wrong scale."""


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


MISSING_SURFACE = ("no surface points", "no contact pairs", "not seen as a surface")
"""Phrases of the planner's reasons that say the fused surface lacks the part at the target: the reasons where a
longer reconstruction is advised."""


def _no_grasp_advice(reason: str, cfg, fusion_geo: Dict[str, float]) -> str:
    """The planner's reason for returning no grasps (it names what blocks them), and what to try where the capture's
    scale or the reconstruction is the likely cause: the scale when the cameras stand outside
    :data:`TABLETOP_CAMERA_RANGE_M` of the action point at ``--metres-per-unit`` (or their distance is unknown);
    a longer reconstruction only when the reason says no surface was found there (:data:`MISSING_SURFACE`). Where
    the candidates exist (they collide, or none holds mostly the marked target), neither is named: the reason says
    what blocks them."""
    g = cfg.gripper
    tips = []
    dist = fusion_geo.get("camera_distance")
    lo, hi = TABLETOP_CAMERA_RANGE_M
    if dist and not lo <= dist * g.metres_per_unit <= hi:
        tips.append(f"the cameras are a median {dist:.3g} capture units from the action point, i.e. "
                    f"{dist * g.metres_per_unit:.3g} m at --metres-per-unit {g.metres_per_unit:g}, outside a "
                    f"tabletop capture's {lo:g}-{hi:g} m; if that is not the real distance, set --metres-per-unit "
                    "(the gripper's size in capture units depends on it)")
    elif not dist:
        tips.append(f"check --metres-per-unit ({g.metres_per_unit:g}): the gripper's size in capture units depends on it")
    if any(m in (reason or "") for m in MISSING_SURFACE):
        tips.append("a longer reconstruction (--max-num-iterations, with --stop-at-convergence False) may give "
                    "a surface there")
    if not tips:
        return f"no grasps: {reason}"
    return f"no grasps: {reason or 'none survived'}; try: " + "; ".join(tips)
