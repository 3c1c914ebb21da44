"""What an export of a run's own field reads, as plain arrays: ``RUN/export_inputs.npz``.

``point2act export`` without ``--channels``, ``--grasp-channel`` or ``--ply`` reads from the trained run only:

* the Gaussians' ``means``, ``opacities``, ``scales`` and ``relevancy`` (nerfstudio frame, float64, as
  :func:`point2act.method.run.gaussian_arrays` gives them) and the training cameras' centres (capture frame);
* the run's task, its start note (:func:`point2act.method.run.start_note`) and its capture folder (where the
  frame file is looked up);
* the supervised views of the run's own answers, each with its camera, answers, blob sigma and median-depth
  surface (:class:`point2act.grasp.consensus.ViewAnswers`), from which the views' consensus is formed;
* the median-depth renders of the training views the grasp head fuses (:class:`point2act.fusion.DepthViews`).

:func:`point2act.method.run.export_doc` computes these from the checkpoint and writes them here (:func:`save`);
the next ``point2act export`` reads them (:func:`load`, :func:`is_current`) and builds the document from them
(:func:`export_doc`) without importing torch or nerfstudio, which take about 1.4 s of a 4 s export. The file
is used only while every file it was computed from is as it was (:func:`input_files`: config.yml, the latest
checkpoint, the run's answers, the capture's camera file, ...; name, size and modification time) and the
grasp config asks for the views and renders it holds; otherwise the export goes the torch way and writes it
again. Both ways give the same document, byte for byte (``tests/e2e/test_export_inputs.py``).

Imports numpy and point2act's plain modules only.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from point2act.export import answer_of_field, build_export, finish_doc, support_of_views
from point2act.fusion import DepthViews
from point2act.geometry import FrameTransform
from point2act.grasp.consensus import ViewAnswers
from point2act.io import atomic_write
from point2act.run_check import latest_checkpoint_path

INPUTS_NAME = "export_inputs.npz"
INPUTS_VERSION = 1
"""Bumped whenever what the file holds, or how an export reads it, changes: other versions are not read."""

_ARRAYS = ("means", "opacities", "scales", "relevancy")
_DEPTH = ("depths", "alphas", "Ks", "viewmats", "relevancy", "spreads")


def inputs_path(config_path: Path) -> Path:
    return Path(config_path).resolve().parent / INPUTS_NAME


def file_stamp(path: Path | str | None) -> List[Any]:
    """``[path, size, mtime_ns]`` of a file, ``[path, "missing"]`` when there is none (``[]`` for None)."""
    if path is None:
        return []
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return [str(p), "missing"]
    return [str(p), int(st.st_size), int(st.st_mtime_ns)]


CHECKPOINT_AT = 2
"""The checkpoint's place in :func:`input_files` (a later checkpoint in its folder makes the inputs stale)."""


def input_files(config_path: Path, checkpoint: Path, points_file: Path | None, data: str | None) -> List[Path]:
    """The files an export of the run's own field depends on: config.yml, dataparser_transforms.json, the
    checkpoint (at :data:`CHECKPOINT_AT`), the run's stored answers (``RUN/points.json``) and the points file
    its config names, ``RUN/triangulated.ply`` (the start note), and the capture's ``transforms.json`` (the
    cameras, the start note)."""
    run = Path(config_path).resolve().parent
    files = [run / "config.yml", run / "dataparser_transforms.json", Path(checkpoint), run / "points.json",
             run / "triangulated.ply"]
    if points_file is not None:
        files.append(Path(points_file))
    if data:
        d = Path(data)
        files.append(d if d.suffix == ".json" else d / "transforms.json")
    return files


@dataclass
class ExportInputs:
    """The contents of ``RUN/export_inputs.npz`` (see the module's docstring)."""

    arrays: Dict[str, np.ndarray]
    """``means`` [N, 3], ``opacities`` [N], ``scales`` [N, 3], ``relevancy`` [N]: nerfstudio frame, float64."""
    centers: np.ndarray  # [C, 3]
    """The training cameras' centres, capture frame."""
    prompt: str
    """The run's task."""
    start_note: str
    """What grasps.json's ``warning`` adds about the run's start when no grasp lands on the target."""
    data: str | None
    """The run's capture folder (the frame file is looked up there)."""
    views: List[ViewAnswers] | None
    """The supervised views of the run's answers (nerfstudio frame); None when there is no consensus to form."""
    reason: str
    """Why ``views`` is None ("" otherwise)."""
    support_downscale: int
    """The resolution divisor of ``views``' surfaces (``RegionConfig.support_downscale`` when they were made)."""
    depth_views: DepthViews | None
    """The median-depth renders the grasp head fuses (None: the export that wrote the file rendered none)."""
    key: List[List[Any]]
    """:func:`file_stamp` of each of :func:`input_files`, when the arrays were computed."""


def save(config_path: Path, inputs: ExportInputs) -> Path:
    """Write ``inputs`` to ``RUN/export_inputs.npz`` atomically."""
    meta = {"version": INPUTS_VERSION, "prompt": inputs.prompt, "start_note": inputs.start_note,
            "data": inputs.data, "reason": inputs.reason, "support_downscale": int(inputs.support_downscale),
            "key": inputs.key, "views": None, "depth_views": None}
    arrs: Dict[str, np.ndarray] = {f"g_{k}": np.asarray(inputs.arrays[k], dtype=np.float64) for k in _ARRAYS}
    arrs["centers"] = np.asarray(inputs.centers, dtype=np.float64)
    if inputs.views is not None:
        meta["views"] = [{"sigma_px": float(v.sigma_px), "view_id": int(v.view_id), "split": v.split}
                         for v in inputs.views]
        for k, v in enumerate(inputs.views):
            arrs[f"v{k}_viewmat"], arrs[f"v{k}_K"] = np.asarray(v.viewmat), np.asarray(v.K)
            arrs[f"v{k}_points"], arrs[f"v{k}_depth"] = np.asarray(v.points), np.asarray(v.depth)
    dv = inputs.depth_views
    if dv is not None:
        meta["depth_views"] = {"render_ms": float(dv.render_ms),
                               "fields": [f for f in _DEPTH if getattr(dv, f) is not None]}
        for f in meta["depth_views"]["fields"]:
            arrs[f"d_{f}"] = np.asarray(getattr(dv, f))
    arrs["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return atomic_write(inputs_path(config_path), lambda fh: np.savez(fh, **arrs), binary=True)


def load(config_path: Path) -> ExportInputs | None:
    """``RUN/export_inputs.npz`` as written, None when it is missing, unreadable or of another version."""
    try:
        with np.load(inputs_path(config_path), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("version") != INPUTS_VERSION:
                return None
            arrs = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # missing, truncated, foreign
        return None
    views = None
    if meta["views"] is not None:
        views = [ViewAnswers(arrs[f"v{k}_viewmat"], arrs[f"v{k}_K"], arrs[f"v{k}_points"], v["sigma_px"],
                             arrs[f"v{k}_depth"], view_id=v["view_id"], split=v["split"])
                 for k, v in enumerate(meta["views"])]
    depth = None
    if meta["depth_views"] is not None:
        f = {n: arrs[f"d_{n}"] for n in meta["depth_views"]["fields"]}
        depth = DepthViews(f["depths"], f["alphas"], f["Ks"], f["viewmats"], meta["depth_views"]["render_ms"],
                           f.get("relevancy"), f.get("spreads"))
    return ExportInputs({k: arrs[f"g_{k}"] for k in _ARRAYS}, arrs["centers"], meta["prompt"], meta["start_note"],
                        meta["data"], views, meta["reason"], int(meta["support_downscale"]), depth,
                        meta["key"])


def current_key(config_path: Path, key: Sequence[Sequence[Any]]) -> List[List[Any]] | None:
    """The stamps of the files ``key`` names as they are now (the latest checkpoint of the folder of the one
    it names), or None when the checkpoint folder has none."""
    ckpt_dir = Path(key[CHECKPOINT_AT][0]).parent if len(key) > CHECKPOINT_AT and key[CHECKPOINT_AT] else None
    latest = latest_checkpoint_path(ckpt_dir) if ckpt_dir is not None else None
    if latest is None:
        return None
    return [file_stamp(latest) if i == CHECKPOINT_AT else file_stamp(k[0]) if k else [] for i, k in enumerate(key)]


def is_current(config_path: Path, inputs: ExportInputs, grasp_config, grasps: bool = True) -> bool:
    """Whether ``inputs`` (:func:`load`) hold what an export with ``grasp_config`` (``grasps``: planning grasps)
    reads now: every input file unchanged, the views at the config's support resolution, depth renders when the
    grasps are planned on the fused surface."""
    if current_key(config_path, inputs.key) != inputs.key:
        return False
    if inputs.views is not None and inputs.support_downscale != max(1, int(grasp_config.region.support_downscale)):
        return False
    return not (grasps and grasp_config.surface.fuse_depth and inputs.depth_views is None)


def export_doc(config_path: Path, inputs: ExportInputs, grasp_config, grasps: bool = True, finish=None,
               candidate: int = 0) -> Dict[str, Any]:
    """The grasps.json document of the run's own field from its export inputs: what
    :func:`point2act.method.run.export_doc` gives for the same options (no channels)."""
    frame = FrameTransform.from_json(Path(config_path).resolve().parent / "dataparser_transforms.json")
    support, reason = support_of_views(inputs.views, frame, inputs.reason)
    arrays = inputs.arrays
    answer = answer_of_field(config_path, frame, arrays, arrays["relevancy"], grasp_config, support, reason,
                             candidate, prompt=inputs.prompt)
    views = inputs.depth_views if grasps and grasp_config.surface.fuse_depth else None
    out = build_export(arrays, frame, inputs.prompt, grasp_config, grasps, inputs.centers, None,
                       depth_views=views, answer=answer)
    return finish_doc(out, config_path, answer, grasps, inputs.start_note, finish)


def current_doc(config_path: Path, grasp_config, grasps: bool = True, finish=None,
                candidate: int = 0) -> Dict[str, Any] | None:
    """:func:`export_doc` from the run's export inputs when they are current for ``grasp_config``
    (:func:`is_current`), else None (missing, unreadable or stale: the caller computes them from the run)."""
    inputs = load(config_path)
    if inputs is None or not is_current(config_path, inputs, grasp_config, grasps):
        return None
    return export_doc(config_path, inputs, grasp_config, grasps, finish, candidate)
