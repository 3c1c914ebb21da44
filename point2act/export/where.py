"""The export's first stage: the answer to "where" for one relevancy field (:func:`answer`, :func:`answer_where`).

The views' consensus over the answers the field was fitted to chooses the place (:mod:`point2act.where.consensus`):
its action point, the relevant region around it, how sure the views are (``confidence``, ``support``) and the
other places they point at (``candidates``). Without answers, or where none lands on the field's surface, the
relevancy peak of the cluster with the most relevancy mass is the answer, and :attr:`Answer.note` says why.

Plain numpy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List

import numpy as np

from point2act.errors import Point2ActError
from point2act.export.inputs import ExportField, ExportInputs, FieldLabel, SceneGaussians
from point2act.grasp import GraspConfig, relevant_region
from point2act.where.consensus import Consensus
from point2act.grasp.result import Region

NO_CONSENSUS = "the region with the most relevancy was taken"
"""The end of the ``warning`` of an answer that no views' consensus chose (:attr:`Answer.note`)."""

CONFIDENCE_THRESHOLD = 0.95
"""grasps.json's ``support.weak`` is ``confidence < CONFIDENCE_THRESHOLD``: below it, odds of less than 19 to 1
that the chosen place, rather than the runner-up, is what the views mean (docs/grasps-json.md)."""


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
    label: FieldLabel = FieldLabel()
    """The field's channel, prompt and role."""
    candidates: List[Dict[str, Any]] | None = None
    """grasps.json's ``candidates`` (with a consensus)."""
    support_fields: Dict[str, Any] | None = None
    """grasps.json's ``support`` (with a consensus)."""

    @property
    def channel(self) -> str | None:
        return self.label.channel

    @property
    def prompt(self) -> str:
        return self.label.prompt

    @property
    def role(self) -> str:
        return self.label.role

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


def answer_where(gaussians: SceneGaussians, field: ExportField, grasp_config: GraspConfig | None = None) -> Answer:
    """The answer to "where" for one relevancy field.

    Args:
        gaussians: the Gaussians' centres and opacities (capture frame).
        field: the field's relevancy, the views' consensus on the answers it was fitted to (capture frame) or why
            there is none, and its channel, prompt and role (``answers`` is not read).
        grasp_config: its ``region`` settings find the relevant region.

    Returns:
        The :class:`Answer`; a :class:`Point2ActError` when the field has no relevant region.
    """
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    means = np.asarray(gaussians.means, dtype=np.float64).reshape(-1, 3)
    relevancy = np.asarray(field.relevancy, dtype=np.float64).reshape(-1)
    support, label = field.support, field.label
    try:
        region = relevant_region(means, gaussians.opacities, relevancy, cfg, support=support)
    except ValueError as e:
        what = f"channel {label.channel!r}" if label.channel else "this field"
        raise Point2ActError(f"no relevant region in {what}: {e}") from None
    if support is None:
        return Answer(region, relevancy, None, field.note or "no answers", label)
    return Answer(region, relevancy, support, "", label,
                  candidates=_candidates(support, means, relevancy, cfg),
                  support_fields=_consensus_support(support, region, cfg))


def answer(inputs: ExportInputs, field: ExportField, grasp_config: GraspConfig, candidate: int = 0) -> Answer:
    """The answer to "where" for one field of an export's inputs (:class:`~point2act.export.inputs.ExportInputs`):
    :func:`answer_where` on the run's Gaussians with the views' consensus over the field's answers, on the views'
    ``candidate``-th place when asked (a :class:`Point2ActError` naming the run when there is no consensus to rank
    places, or no such place)."""
    if candidate:
        source = inputs.run if inputs.run is not None else "this field"
        if field.support is None:
            raise Point2ActError(f"{source}: --candidate {candidate} needs the run's answers (RUN/points.json) to "
                                 "rank the places the views point at; this export has none")
        try:
            field = dataclasses.replace(field, support=field.support.choose(candidate))
        except ValueError as e:
            raise Point2ActError(f"{source}: {e}") from None
    return answer_where(inputs.gaussians, field, grasp_config)


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
    from point2act._scipy import cKDTree

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
