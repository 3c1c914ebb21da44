"""A run's answers: the points that supervise its relevancy, stored in the run, mapped into its training images
and drawn as target heatmaps.

The datamanager, the run's cached info's supervision (:meth:`point2act.method.run_data.Supervision.from_info`)
and the run layer share these: the heatmaps of each view's points (:class:`HeatmapStore`), the mapping of a
points file into the training images (:func:`match_points_to_views`, :func:`eval_points`,
:func:`points_in_training_images`) and the run's own copy of its answers, ``RUN/points.json``
(:func:`store_answers`, :func:`run_answers`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import torch

from point2act.answer_points import PointHeatmaps, eval_points, match_points_to_views  # noqa: F401  (re-exported)
from point2act.heatmap import map_points_to_training_image, points_to_heatmap, sigma_px
from point2act.method.viewcameras import _FISHEYE
from point2act.points import PointsFile, PointsFileError, load_points_file  # noqa: F401


class HeatmapStore(PointHeatmaps):
    """View index -> target heatmap [H, W, 1] float32 tensor, rendered from the view's points when asked
    (:class:`point2act.answer_points.PointHeatmaps` in torch: training's targets).

    Only the points (a few floats per view) are kept: 200 full-resolution float32 heatmaps of a
    1920x1080 capture would hold 1.6 GiB for what a handful of points describe exactly. A
    heatmap costs one separable Gaussian per point to render (milliseconds at 1080p), once per
    training step, and is the same tensor :func:`point2act.heatmap.points_to_heatmap` gives;
    :meth:`array` is its numpy twin (``point2act query``'s targets).
    """

    def __getitem__(self, idx: int) -> torch.Tensor:  # [H, W, 1] in [0, 1]
        pts = self.points[int(idx)]
        h, w = self.sizes[int(idx)]
        return points_to_heatmap(torch.from_numpy(pts), h, w, sigma_px(h, w, self.sigma_frac))


# ----------------------------------------------------------------------------------------------
# points -> training images (the datamanager calls these too)
# ----------------------------------------------------------------------------------------------
def points_in_training_images(train_points: Dict[int, np.ndarray], raw, final, factor: int) -> Dict[int, np.ndarray]:
    """Points of each view in pixels of the image nerfstudio trains on (downscaled by ``factor``, then
    undistorted): ``raw`` the parser's cameras, ``final`` the training dataset's after undistortion."""
    out = {}
    for idx, pts in train_points.items():
        cam_raw = raw[idx]
        dist = cam_raw.distortion_params.numpy() if cam_raw.distortion_params is not None else None
        out[idx] = map_points_to_training_image(
            pts,
            scale=1.0 / factor,
            K_raw=cam_raw.get_intrinsics_matrices().numpy(),
            distortion=dist,
            K_final=final[idx].get_intrinsics_matrices().numpy(),
            fisheye=int(cam_raw.camera_type.item()) == _FISHEYE,
        )
    return out


# ----------------------------------------------------------------------------------------------
# the run's answers
# ----------------------------------------------------------------------------------------------
ANSWERS_NAME = "points.json"
"""``RUN/points.json``: the answers that supervised the run's relevancy, as a points file."""
TRIANGULATED_NAME = "triangulated.ply"
"""``RUN/triangulated.ply``: the start cloud training triangulated for a capture without one (only when it started
from it)."""


class AnswersDifferWarning(UserWarning):
    """The points file config.yml names holds other answers than the run's own (``RUN/points.json``)."""


def answers_path(run_dir: Path) -> Path:
    return Path(run_dir) / ANSWERS_NAME


def store_answers(run_dir: Path, points: PointsFile) -> Path:
    """Write ``RUN/points.json``: the answers that supervise the run (its points file's, or what the pointer
    answered during training), so that export, query and the viewer read them from the run, not from a file
    outside it that may be edited, moved or deleted. ``trained_from`` names the file they were read from."""
    from point2act.io import write_json_atomic

    path = answers_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = Path(points.path).resolve() if points.path is not None else None
    write_json_atomic(path, {**points.to_dict(), "trained_from": str(source) if source is not None else None})
    return path


def _answers(pf: PointsFile):
    return pf.prompt, pf.coordinates, pf.points


def run_answers(config_path: Path, points_file: Path | None) -> Path | None:
    """The points file of the answers that supervised a run: ``RUN/points.json`` when training stored it, with
    an :class:`AnswersDifferWarning` when ``points_file`` (the one the run's config names) was the run's and now
    holds other answers (the run's own are used; a deleted one changes nothing). A ``points_file`` the run was
    not trained from (a caller's config in memory: the consensus on other answers) gives that file. A run
    without ``RUN/points.json``: ``points_file``, when it exists. None: the run has no answers (trained without
    points)."""
    import json
    import warnings

    stored = answers_path(Path(config_path).resolve().parent)
    external = Path(points_file).resolve() if points_file is not None else None
    if not stored.is_file():
        return external if external is not None and external.is_file() else None
    try:
        trained_from = json.loads(stored.read_text(encoding="utf-8")).get("trained_from")
    except (OSError, ValueError, AttributeError):
        trained_from = None
    if external is None or external == stored.resolve():
        return stored
    if trained_from is None or external != Path(trained_from):
        return external if external.is_file() else stored  # another file, named on purpose
    if external.is_file():
        try:
            same = _answers(load_points_file(external)) == _answers(load_points_file(stored))
        except PointsFileError:
            same = False
        if not same:
            warnings.warn(f"{external}: its answers are not those this run was trained on; the run's own "
                          f"({stored}) are used", AnswersDifferWarning, stacklevel=2)
    return stored


def stored_prompt(run_dir: Path | None) -> str:
    """The prompt of a run's stored answers (``RUN/points.json``); "" when it has none."""
    if run_dir is None or not answers_path(run_dir).is_file():
        return ""
    try:
        return load_points_file(answers_path(run_dir)).prompt
    except PointsFileError:
        return ""
