"""What an export reads: :class:`ExportInputs`, plain arrays, the only thing the torch side produces for it.

:func:`point2act.method.export_run.export_inputs_of` computes them from a trained run; the run's cache
(:mod:`point2act.export.cache`) keeps those of the run's own field, so that the next ``point2act export`` builds
its document without importing torch or nerfstudio. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from point2act.fusion import DepthViews
from point2act.geometry import FrameTransform
from point2act.grasp.consensus import Consensus, ViewAnswers


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
    """One relevancy field to answer "where" for: the run's trained relevancy or a ``point2act query`` channel,
    with the answers it was fitted to."""

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
class ExportInputs:
    """Everything an export of one run reads (:func:`point2act.export.export`)."""

    gaussians: Dict[str, np.ndarray]
    """``means`` [N, 3], ``opacities`` [N], ``scales`` [N, 3], ``relevancy`` [N] (the run's own), nerfstudio
    frame, float64."""
    frame: FrameTransform
    """nerfstudio's normalisation of the capture (the run's ``dataparser_transforms.json``)."""
    field: Field
    """The field the action point and the grasps are for (the run's own, or ``--grasp-channel``'s)."""
    centers: np.ndarray | None = None  # [C, 3]
    """The training cameras' centres, capture frame (surface normals are turned towards them)."""
    depth_views: DepthViews | None = None
    """Median-depth renders of the training views, with ``field``'s relevancy: fused into the grasp surface
    (None: the grasps are planned on the Gaussian centres)."""
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


def of_arrays(gaussians: Dict[str, np.ndarray], frame: FrameTransform | None = None, field: Field | None = None,
              centers: np.ndarray | None = None, depth_views: DepthViews | None = None,
              prompt: str = "") -> ExportInputs:
    """Export inputs of per-Gaussian arrays that are no run's (tests, benchmarks, generators): ``field`` default
    the arrays' own ``relevancy`` with no answers; ``frame`` default the identity."""
    frame = frame if frame is not None else FrameTransform.identity()
    field = field if field is not None else Field(np.asarray(gaussians["relevancy"], dtype=np.float64))
    return ExportInputs(gaussians, frame, field, centers, depth_views, prompt)
