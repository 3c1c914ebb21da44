"""What an export reads, and the one producer of it (:func:`export_inputs`). Plain numpy.

The torch side computes a run's :class:`RunInputs` (:func:`point2act.method.export_run.run_inputs_of`) in
nerfstudio's frame, as the run renders; the run's cache (:mod:`point2act.export.cached_inputs`) keeps those of the run's
own field, so that the next ``point2act export`` builds its document without importing torch or nerfstudio.
:func:`export_inputs` carries them into the capture frame once: the Gaussians, the views' consensus on each
field's answers, the depth renders as the grasp head reads them. Every stage after it (:mod:`point2act.export.where`,
:mod:`point2act.export.scene`) works in the capture frame; where the depth renders are fused and the answers'
views tested, which stays in the frame they were made in (so that their bits are the renders' own), the bundles
below (:class:`SceneRenders`, :class:`AnswerViews`) take and return capture-frame points.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from point2act.fusion import DepthViews, pixel_footprint, tsdf_fuse, views_in_frame
from point2act.geometry import FrameTransform
from point2act.grasp.config import FUSION_MIN_ALPHA, FUSION_TRUNC_VOXELS, OCCUPANCY_EMPTY_ALPHA
from point2act.where.consensus import Consensus, ViewAnswers


@dataclass(frozen=True)
class SceneGaussians:
    """The run's Gaussians as an export reads them (float64 from a run), one ``N``: where the answer is found and
    what the planner plans around. In :class:`RunInputs` nerfstudio's frame and units (as the run renders them); in
    :class:`ExportInputs` the capture frame's (:func:`export_inputs`)."""

    means: np.ndarray  # [N, 3]
    """Centres."""
    opacities: np.ndarray  # [N]
    """Opacities in [0, 1]."""
    scales: np.ndarray  # [N, 3]
    """Linear scales."""
    relevancy: np.ndarray  # [N]
    """The run's own trained relevancy, in [0, 1]."""

    @classmethod
    def of(cls, arrays) -> "SceneGaussians":
        """Of a mapping with ``means``, ``opacities``, ``scales``, ``relevancy`` (a :class:`SceneGaussians` as is)."""
        if isinstance(arrays, SceneGaussians):
            return arrays
        return cls(*(np.asarray(arrays[k]) for k in ("means", "opacities", "scales", "relevancy")))


@dataclass(frozen=True)
class FieldLabel:
    """What a relevancy field is called and what it is for."""

    channel: str | None = None
    """None for the run's trained relevancy, else a ``point2act query`` channel's name."""
    prompt: str = ""
    """The field's own task text ("" when it has none)."""
    role: str = "grasp"
    """grasp, place or avoid."""


@dataclass(frozen=True)
class Field:
    """One relevancy field to answer "where" for, as the torch side computes it (nerfstudio frame): the run's
    trained relevancy or a ``point2act query`` channel, with the answers it was fitted to."""

    relevancy: np.ndarray  # [N]
    """The field's relevancy per Gaussian, in [0, 1]."""
    views: List[ViewAnswers] | None = None
    """The supervised views of the field's answers (nerfstudio frame), from which the views' consensus is formed;
    None when there is none to form."""
    reason: str = ""
    """Why ``views`` is None ("" otherwise)."""
    consensus: Consensus | None = None
    """A consensus already formed on these answers (nerfstudio frame: the refit's, taken instead of ``views``)."""
    label: FieldLabel = FieldLabel()
    """The field's channel, prompt and role."""


@dataclass(frozen=True)
class RunInputs:
    """What the torch side computes for an export of one run (:func:`point2act.method.export_run.run_inputs_of`),
    and what the run's cache keeps of its own field: nerfstudio's frame, as the run renders, but for the
    cameras' centres. :func:`export_inputs` makes the :class:`ExportInputs` of them."""

    gaussians: SceneGaussians
    """The run's Gaussians, nerfstudio frame."""
    field: Field
    """The field the action point and the grasps are for (the run's own, or ``--grasp-channel``'s)."""
    centers: np.ndarray | None = None  # [C, 3]
    """The training cameras' centres, capture frame (surface normals are turned towards them)."""
    depth_views: DepthViews | None = None
    """Median-depth renders of the training views (nerfstudio frame), with ``field``'s relevancy: fused into the
    grasp surface (None: the grasps are planned on the Gaussian centres)."""
    prompt: str = ""
    """The run's task."""
    start_note: str = ""
    """What grasps.json's ``warning`` adds about the run's start when no grasp lands on the target."""
    keypoints: Tuple[Tuple[str, Field], ...] = ()
    """Named channels exported as grasps.json's ``keypoints``, in order."""
    avoid: np.ndarray | None = None  # [N]
    """An avoid channel's relevancy: grasps through it are penalised."""
    run: Path | None = None
    """The run's config.yml (grasps.json's ``run``; None: arrays that are no run's)."""


@dataclass(frozen=True)
class AnswerViews:
    """A field's supervised views (:class:`~point2act.where.consensus.ViewAnswers`) with the frame they were made in,
    for the planning scene: where the answers a place took land (:meth:`marks`) and which cells they cover
    (:meth:`cells`), capture frame in and out; the views' own frame inside, so that the bits are theirs."""

    views: List[ViewAnswers]
    """The views, nerfstudio frame (at least one)."""
    frame: FrameTransform
    """Nerfstudio's normalisation of the capture, which only these methods cross."""

    def marks(self, taken: Dict[str, Dict[int, List[int]]]) -> np.ndarray:  # [K, 3]
        """:func:`point2act.grasp.answered.answer_marks` of the answers ``taken``, capture frame."""
        from point2act.grasp.answered import answer_marks

        return self.frame.to_capture(answer_marks(self.views, taken))

    def cells(self, centers: np.ndarray, taken: Dict[str, Dict[int, List[int]]]) -> np.ndarray:  # [M] bool
        """:func:`point2act.grasp.answered.answered_cells` of the cell centres ``centers`` [M, 3] (capture frame)."""
        from point2act.grasp.answered import answered_cells

        return answered_cells(self.frame.to_nerfstudio(centers), self.views, taken)


@dataclass(frozen=True)
class SceneRenders:
    """The median-depth renders of the training views (:class:`~point2act.fusion.DepthViews`) as the grasp head
    reads them: in the capture frame (:attr:`capture`), and fused in the frame they were rendered in
    (:meth:`fuse`, :meth:`footprint`: capture-frame points and lengths in and out), so that the fused surface's
    bits are the renders' own."""

    rendered: DepthViews
    """The renders, nerfstudio frame and units."""
    frame: FrameTransform
    """Nerfstudio's normalisation of the capture, which only this bundle crosses."""

    @property
    def render_ms(self) -> float:
        """Wall time of the renders."""
        return self.rendered.render_ms

    @cached_property
    def capture(self) -> DepthViews:
        """The renders in the capture frame: pixels below ``FUSION_MIN_ALPHA`` opacity no measurement (depth 0),
        those below ``OCCUPANCY_EMPTY_ALPHA`` free along their whole ray (depth ``inf``)."""
        return views_in_frame(self.rendered, self.frame.transform, self.frame.scale, FUSION_MIN_ALPHA,
                              OCCUPANCY_EMPTY_ALPHA)

    def footprint(self, center: np.ndarray) -> Tuple[float, float]:
        """:func:`point2act.fusion.pixel_footprint` at ``center`` [3] (capture frame), capture units."""
        c_ns = self.frame.to_nerfstudio(np.asarray(center, dtype=np.float64)[None])[0]
        dist_ns, foot_ns = pixel_footprint(self.rendered, c_ns)
        s = self.frame.scale  # nerfstudio units per capture unit
        return dist_ns / s, foot_ns / s

    def fuse(self, center: np.ndarray, side: float, voxel: float) -> np.ndarray:  # [M, 3]
        """The TSDF-fused surface points (:func:`point2act.fusion.tsdf_fuse`, ``FUSION_TRUNC_VOXELS`` and
        ``FUSION_MIN_ALPHA``), capture frame, of the cube of ``side`` and ``voxel`` (capture units) around ``center``
        (capture frame)."""
        s = self.frame.scale
        c_ns = self.frame.to_nerfstudio(np.asarray(center, dtype=np.float64)[None])[0]
        pts_ns = tsdf_fuse(self.rendered, c_ns, side * s, voxel * s, FUSION_TRUNC_VOXELS, FUSION_MIN_ALPHA)
        return self.frame.to_capture(pts_ns)


@dataclass(frozen=True)
class ExportField:
    """One relevancy field as the export's stages read it (capture frame): its relevancy, the views' consensus on
    its answers, and the views themselves for the planning scene."""

    relevancy: np.ndarray  # [N]
    """The field's relevancy per Gaussian, in [0, 1]."""
    support: Consensus | None = None
    """The views' consensus on the field's answers (capture frame), None when there is none."""
    note: str = ""
    """Why ``support`` is None ("" otherwise)."""
    label: FieldLabel = FieldLabel()
    """The field's channel, prompt and role."""
    answers: AnswerViews | None = None
    """The supervised views of the field's answers (None: none)."""


@dataclass(frozen=True)
class ExportInputs:
    """Everything an export of one run reads (:func:`point2act.export.export`), capture frame: what
    :func:`export_inputs` makes of :class:`RunInputs`."""

    gaussians: SceneGaussians
    """The run's Gaussians, capture frame and units."""
    field: ExportField
    """The field the action point and the grasps are for (the run's own, or ``--grasp-channel``'s)."""
    centers: np.ndarray | None = None  # [C, 3]
    """The training cameras' centres (surface normals are turned towards them)."""
    renders: SceneRenders | None = None
    """The depth renders with ``field``'s relevancy, fused into the grasp surface (None: the grasps are planned on
    the Gaussian centres)."""
    prompt: str = ""
    """The run's task."""
    start_note: str = ""
    """What grasps.json's ``warning`` adds about the run's start when no grasp lands on the target."""
    keypoints: Tuple[Tuple[str, ExportField], ...] = ()
    """Named channels exported as grasps.json's ``keypoints``, in order."""
    avoid: np.ndarray | None = None  # [N]
    """An avoid channel's relevancy: grasps through it are penalised."""
    run: Path | None = None
    """The run's config.yml (grasps.json's ``run``; None: arrays that are no run's)."""


def places_in_capture(cons: Consensus, frame: FrameTransform) -> Consensus:
    """``cons`` (nerfstudio frame) with its places moved to the capture frame, in place."""
    for p in cons.places:
        p.point = frame.to_capture(p.point[None])[0]
        if p.footprint is not None:
            p.footprint = np.c_[frame.to_capture(p.footprint[:, :3]), p.footprint[:, 3] * frame.units_per_ns_unit]
    return cons


def consensus_in_capture(views: list, frame: FrameTransform) -> Consensus:
    """The views' :class:`~point2act.where.consensus.Consensus` (``views``: ``ViewAnswers``, nerfstudio frame),
    its places in the capture frame."""
    from point2act.where.consensus import consensus

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


def export_field(field: Field, frame: FrameTransform) -> ExportField:
    """``field`` as the export's stages read it: the views' consensus on its answers in the capture frame (the one
    it holds, :attr:`Field.consensus`, copied; else formed from its views) and why there is none."""
    if field.consensus is not None:
        support, note = places_in_capture(copy.deepcopy(field.consensus), frame), ""
    else:
        support, note = support_of_views(field.views, frame, field.reason)
    answers = AnswerViews(field.views, frame) if field.views else None
    return ExportField(field.relevancy, support, note, field.label, answers)


def run_frame_of(config_path: Path) -> FrameTransform:
    """Nerfstudio's normalisation of the run at ``config_path`` (the ``dataparser_transforms.json`` beside it)."""
    return FrameTransform.from_json(Path(config_path).resolve().parent / "dataparser_transforms.json")


def export_inputs(run: RunInputs, frame: FrameTransform | None = None) -> ExportInputs:
    """The :class:`ExportInputs` of ``run``: the one place that carries a run's export inputs into the capture
    frame. ``frame``: nerfstudio's normalisation of the run's capture; default that of ``run.run``
    (:func:`run_frame_of`), the identity for arrays that are no run's."""
    if frame is None:
        frame = run_frame_of(run.run) if run.run is not None else FrameTransform.identity()
    g = run.gaussians
    gaussians = SceneGaussians(frame.to_capture(g.means), g.opacities, g.scales * frame.units_per_ns_unit,
                               g.relevancy)
    fields: Dict[int, ExportField] = {}

    def of(field: Field) -> ExportField:
        if id(field) not in fields:
            fields[id(field)] = export_field(field, frame)
        return fields[id(field)]

    renders = None if run.depth_views is None else SceneRenders(run.depth_views, frame)
    return ExportInputs(gaussians, of(run.field), run.centers, renders, run.prompt, run.start_note,
                        tuple((name, of(f)) for name, f in run.keypoints), run.avoid, run.run)


def of_arrays(gaussians, frame: FrameTransform | None = None, field: Field | None = None,
              centers: np.ndarray | None = None, depth_views: DepthViews | None = None,
              prompt: str = "") -> ExportInputs:
    """Export inputs of per-Gaussian arrays that are no run's (tests, benchmarks, generators; nerfstudio frame, a
    mapping or :class:`SceneGaussians`): ``field`` default the arrays' own ``relevancy`` with no answers; ``frame``
    default the identity."""
    g = SceneGaussians.of(gaussians)
    field = field if field is not None else Field(np.asarray(g.relevancy, dtype=np.float64))
    return export_inputs(RunInputs(g, field, centers, depth_views, prompt), frame)
