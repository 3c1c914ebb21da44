"""From a trained run to ``grasps.json`` (schema ``point2act.grasps/1``, capture frame), in typed stages.

1. :class:`~point2act.export.request.ExportRequest`: every option resolved once (:func:`resolve`: the gripper at
   the capture's scale, the frame file, the channels).
2. :class:`~point2act.export.inputs.ExportInputs`, capture frame: made by one producer
   (:func:`~point2act.export.inputs.export_inputs`) of the :class:`~point2act.export.inputs.RunInputs` the torch
   side computes (:func:`point2act.method.export_run.run_inputs_of`) or the run's cache keeps for its own field
   (:mod:`point2act.export.cached_inputs`, whose :func:`~point2act.export.cached_inputs.serving` alone decides when it serves).
3. :func:`answer` -> :class:`Answer`: where to act, for the grasp field and for each keypoint channel.
4. :func:`planning_scene` -> :class:`~point2act.grasp.scene.PlanningScene`: the fused surface, the occupancy and
   the target around the answer.
5. :func:`plan` -> :class:`~point2act.grasp.result.GraspResult`: ranked, collision-checked grasps, with the
   planner's retries inside.
6. :func:`document`: the one place where the document and its warnings are assembled; :func:`write_grasps`.

:func:`export` composes them. ``point2act export``, ``query``, ``grasp``, the viewer's panel and Export, and
``demo`` all call it. The capture frame is the world frame of the input ``transforms.json`` (or COLMAP model):
nerfstudio's data-parser normalisation (``dataparser_transforms.json``) undone. This package imports numpy and
point2act's plain modules only, never torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Tuple

from point2act.errors import Point2ActError
from point2act.export.grasps_json import Planned, document, timings_path, with_base_frame, write_grasps
from point2act.export.inputs import (
    AnswerViews,
    ExportField,
    ExportInputs,
    Field,
    FieldLabel,
    RunInputs,
    SceneGaussians,
    SceneRenders,
    consensus_in_capture,
    export_inputs,
    of_arrays,
    places_in_capture,
    support_of_views,
)
from point2act.export.request import Channels, ExportOptions, ExportRequest, resolve
from point2act.export.scene import Fusion, fuse_around, fuse_around_geometry, fusion_geometry, planning_scene
from point2act.export.where import CONFIDENCE_THRESHOLD, NO_CONSENSUS, Answer, answer, answer_where


def plan(scene, grasp_config):
    """Ranked, collision-checked grasps on ``scene`` (:func:`point2act.grasp.planner.plan_at_target`: the margin
    retry and the fallback to the object around the target inside); a field with no relevant region is a
    :class:`Point2ActError`."""
    from point2act.grasp.planner import plan_at_target

    try:
        return plan_at_target(scene, grasp_config)
    except ValueError as e:
        raise Point2ActError(f"no relevant region in this field: {e}") from None


def export(request: ExportRequest, inputs: ExportInputs) -> Dict[str, Any]:
    """The grasps.json document of ``inputs`` for ``request`` (with ``timings_ms``, which :func:`write_grasps`
    writes beside the file): the answer for the grasp field, grasps planned there (none for a place or an avoid
    channel, or when not asked), and the answers of the keypoint channels (a channel that is also the grasp
    channel has the document's own action point)."""
    cfg = request.grasp_config
    main = answer(inputs, inputs.field, cfg, request.candidate)
    keypoints = {}
    for name, field in inputs.keypoints:
        grasp_one = name == request.channels.grasp and not request.candidate
        keypoints[name] = main if grasp_one else answer(inputs, field, cfg)
    planned = None
    if request.grasps and main.role == "grasp":
        scene, fusion = planning_scene(inputs, main, request)
        planned = Planned(plan(scene, cfg), fusion, scene.occupancy)
    return document(request, inputs, main, planned, keypoints or None)


def grasps_path(config_path: Path, output: Path | None = None) -> Path:
    """Where an export writes grasps.json: ``output``, default beside the run's config."""
    return Path(output) if output is not None else Path(config_path).resolve().parent / "grasps.json"


def export_from_cache(config_path: Path, options: ExportOptions,
                      output: Path | None = None) -> Tuple[Path, Dict[str, Any]] | None:
    """``(path, document)`` of an export of the run's own field from the run's cache, written to ``output``
    (:func:`grasps_path`); None when the cache is missing or stale or holds other views or renders (the caller
    then computes the inputs from the run: :func:`point2act.method.export_run.export_run`)."""
    from point2act.export import cached_inputs

    served = cached_inputs.serving(config_path, lambda cached: resolve(options, lambda: cached.data))
    if served is None:
        return None
    request, cached = served
    from point2act import threads

    threads.update()  # a process that follows the free cores (point2act export) samples them before planning
    doc = export(request, export_inputs(cached.inputs))
    path = grasps_path(config_path, output)
    write_grasps(path, doc)
    return path, doc


__all__ = [
    "CONFIDENCE_THRESHOLD", "NO_CONSENSUS", "Answer", "AnswerViews", "Channels", "ExportField", "ExportInputs",
    "ExportOptions", "ExportRequest", "Field", "FieldLabel", "Fusion", "Planned", "RunInputs", "SceneGaussians",
    "SceneRenders", "answer", "answer_where", "consensus_in_capture", "document", "export", "export_from_cache",
    "export_inputs", "fuse_around", "fuse_around_geometry", "fusion_geometry", "grasps_path", "of_arrays",
    "places_in_capture", "plan", "planning_scene", "resolve", "support_of_views", "timings_path", "with_base_frame",
    "write_grasps",
]
