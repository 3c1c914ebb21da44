"""A run's answers: the points that supervise its relevancy, stored in the run, mapped into its training images
and drawn as target heatmaps.

The datamanager, the run's cached info's supervision (:meth:`point2act.method.loadedrun.Supervision.from_info`)
and the run layer share these: the heatmaps of each view's points (:class:`HeatmapStore`), the mapping of a
points file into the training images (:func:`match_points_to_views`, :func:`eval_points`,
:func:`points_in_training_images`) and the run's own copy of its answers, ``RUN/points.json``
(:func:`store_answers`, :func:`run_answers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
import torch

from point2act.heatmap import map_points_to_training_image, points_to_heatmap, sigma_px
from point2act.method.viewcameras import _FISHEYE
from point2act.points import PointsFile, PointsFileError, load_points_file


class HeatmapStore(Mapping):
    """View index -> target heatmap [H, W, 1] float32, rendered from the view's points when asked.

    Only the points (a few floats per view) are kept: 200 full-resolution float32 heatmaps of a
    1920x1080 capture would hold 1.6 GiB for what a handful of points describe exactly. A
    heatmap costs one separable Gaussian per point to render (milliseconds at 1080p), once per
    training step, and is the same tensor :func:`point2act.heatmap.points_to_heatmap` gives.
    """

    def __init__(self, points: Dict[int, np.ndarray], sizes: Dict[int, Tuple[int, int]], sigma_frac: float):
        self.points = {int(k): np.asarray(v, dtype=np.float32).reshape(-1, 2) for k, v in points.items()}
        """Points [P, 2] in pixels of each training image (P = 0: "not in this view")."""
        self.sizes = {int(k): (int(h), int(w)) for k, (h, w) in sizes.items()}
        """(height, width) of each training image."""
        self.sigma_frac = float(sigma_frac)
        """Blob sigma as a fraction of the image diagonal."""

    def __getitem__(self, idx: int) -> torch.Tensor:  # [H, W, 1] in [0, 1]
        pts = self.points[int(idx)]
        h, w = self.sizes[int(idx)]
        return points_to_heatmap(torch.from_numpy(pts), h, w, sigma_px(h, w, self.sigma_frac))

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def keeping(self, answers: Dict[int, Sequence[int]]) -> "HeatmapStore":
        """The store with each view's answers cut to ``answers`` (view index -> positions in its answers: a
        consensus place's training-split answers, :attr:`point2act.grasp.consensus.Place.answers`). A view
        that answered "not in view" keeps its empty answer (where the target is not); a view none of whose
        answers is kept is left out (it pointed elsewhere)."""
        pts = {v: (p if not len(p) else p[sorted(int(i) for i in answers[v])])
               for v, p in self.points.items() if not len(p) or v in answers}
        return HeatmapStore(pts, {v: self.sizes[v] for v in pts}, self.sigma_frac)

    @property
    def nbytes(self) -> int:
        """Bytes held (the points), not counting the heatmaps handed out."""
        return sum(p.nbytes for p in self.points.values())


# ----------------------------------------------------------------------------------------------
# points -> training images (the datamanager calls these too)
# ----------------------------------------------------------------------------------------------
def match_points_to_views(pf: PointsFile, train_keys: Sequence[str], train_sizes: Sequence[Tuple[int, int]],
                          eval_keys: Sequence[str], eval_sizes: Sequence[Tuple[int, int]],
                          factor: int) -> Dict[int, np.ndarray]:
    """Validate the points against the capture (stored sizes ``(w, h)`` of every train and eval image)
    and return each training view's points in pixels of its stored image."""
    sizes = dict(zip(train_keys, train_sizes))
    sizes.update(dict(zip(eval_keys, eval_sizes)))
    pf.validate_against(sizes, tolerance_px=float(factor))
    pixels = pf.in_pixels(sizes)
    index = {k: i for i, k in enumerate(train_keys)}
    out: Dict[int, np.ndarray] = {}
    for key, pts in pixels.items():
        if key in index:
            out[index[key]] = np.asarray(pts, dtype=np.float32).reshape(-1, 2)
    if not out:
        raise PointsFileError(
            f"{pf.source}: none of its {len(pf.points)} views is a training view "
            f"(they are all in the eval split). Nothing to supervise."
        )
    return out


def eval_points(pf: PointsFile, eval_keys: Sequence[str], eval_sizes: Sequence[Tuple[int, int]]) -> Dict[int, np.ndarray]:
    """Each answered eval view's points (nerfstudio's held-out split) in pixels of its stored image, by eval
    index: their cameras are known, so the views' consensus reads them as any other answer
    (:func:`point2act.method.supervision.eval_views`). Views answering ``[]`` are kept (they see and do not agree)."""
    out: Dict[int, np.ndarray] = {}
    for i, (key, (w, h)) in enumerate(zip(eval_keys, eval_sizes)):
        if key in pf.points:
            pts = np.asarray(pf.points[key], dtype=np.float64).reshape(-1, 2)
            out[i] = (pts if pf.coordinates == "pixels" else pts * [w, h]).astype(np.float32)
    return out


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
