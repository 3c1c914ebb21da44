"""The run's info: what a trained run's datamanagers give, so that the run is read without nerfstudio's
pipeline. It is the ``info`` section of the run's cache (:mod:`point2act.cache_file`).

``point2act export`` and ``point2act query`` need three things from a run: its Gaussians (the
checkpoint), its training cameras, and how a points file maps into the training images. Getting them
through nerfstudio costs seconds: ``eval_setup`` imports every registered method and builds the
pipeline, and the supervision needs a second datamanager (``test_mode="val"``) that decodes and
undistorts every training image, only to learn the undistorted intrinsics.

The info holds what those datamanagers give (plain tensors, read with ``weights_only``):

- ``inference``: the cameras of the datamanager ``eval_setup`` builds (``test_mode="inference"``):
  the parser's cameras (full resolution) and the training dataset's, the dataparser transform;
- ``train``: the cameras of the training datamanager after undistortion, its parser's (distorted)
  cameras, the image keys and stored sizes of the train and eval splits, the downscale factor and
  the heatmap sigma: what :meth:`Point2ActDataManager._match_points` and ``train_points_final`` use.

It is written at the end of training (:class:`~point2act.method.trainer.Point2ActTrainer`, from the
trainer's own datamanager), and for a run without it on first use (from the datamanagers themselves, so
at their cost once). It is current while the run's cache is (config.yml, the checkpoint, the answers and the
capture's camera files unchanged: :func:`point2act.cache_file.current_key`); then the run is loaded the nerfstudio
way again and the info written anew.

The run layer (:mod:`point2act.method.run_layer`) reads a run as a :class:`~point2act.method.run_data.LoadedRun`
and its answers as a :class:`~point2act.method.run_data.Supervision`, whichever way they were loaded:
:func:`run_from_info` and :func:`supervision_from_info` from the info (whose cameras
:class:`~point2act.method.viewcameras.ViewCameras` reads back), or from nerfstudio's objects
(:mod:`point2act.method.run_data`). The mapping of points into training images and the run's stored answers
are :mod:`point2act.method.answers`.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from point2act.heatmap import HEATMAP_SIGMA_FRAC
from point2act.losses import RELEVANCY_INIT_LOGIT, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT
from point2act.method.run_data import LoadedRun, RunGaussians, Supervision
from point2act.method.viewcameras import camera_fields, cameras_from_fields
from point2act.points import load_points_file

INFO_VERSION = 1


# ----------------------------------------------------------------------------------------------
# keys
# ----------------------------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def datamanager_fingerprint(dm_cfg) -> str:
    """A hash of a datamanager config, leaving out what the supervision sets (points file, prompt,
    pointer) and image caching; ``data`` as the datamanager resolves it, and a downscale as the resolution it
    gives: the parser's ``downscale_factor`` k > 1 counts as ``camera_res_scale_factor`` / k, which is what the
    datamanager makes of it when the capture has no ``images_k/`` folder (its setup rewrites its own config so),
    so a training datamanager and a fresh load of its ``config.yml`` hash alike."""
    import yaml

    c = copy.copy(dm_cfg)
    for name, value in (("points_file", None), ("prompt", ""), ("pointer", None), ("pointer_output", None),
                        ("cache_images", None), ("max_thread_workers", None)):
        if hasattr(c, name):
            setattr(c, name, value)
    dp = copy.copy(c.dataparser)
    factor = getattr(dp, "downscale_factor", None)
    if factor is not None and int(factor) > 1 and hasattr(c, "camera_res_scale_factor"):
        c.camera_res_scale_factor = c.camera_res_scale_factor / int(factor)
        dp.downscale_factor = 1
    data = c.data if getattr(c, "data", None) is not None else getattr(dp, "data", None)
    data = Path(data) if data is not None else None
    c.data = data
    dp.data = data
    c.dataparser = dp
    return _sha(yaml.dump(c).encode())


def _data_of(dm_cfg) -> Tuple[str | None, str | None]:
    data = getattr(dm_cfg, "data", None) or getattr(getattr(dm_cfg, "dataparser", None), "data", None)
    colmap = getattr(getattr(dm_cfg, "dataparser", None), "colmap_path", None)
    return (str(data) if data is not None else None), (str(colmap) if colmap is not None else None)


# ----------------------------------------------------------------------------------------------
# build / read
# ----------------------------------------------------------------------------------------------
SECTION = "info"
"""The section of the run's cache (:mod:`point2act.cache_file`) that holds the run's info."""


def run_cache_key(config_path: Path, checkpoint_dir: Path | None, points_file: Path | str | None,
                  capture: Tuple[str | None, str | None]) -> List[List[Any]] | None:
    """The key of the run's cache (:func:`point2act.cache_file.run_key`) for a run whose checkpoints are in
    ``checkpoint_dir``, trained on ``points_file``, from the capture ``(data, colmap_path)``; None without a
    checkpoint."""
    from point2act import cache_file
    from point2act.checks.trained_run import latest_checkpoint_path

    ckpt = latest_checkpoint_path(Path(checkpoint_dir)) if checkpoint_dir is not None else None
    if ckpt is None:
        return None
    return cache_file.run_key(config_path, ckpt, Path(points_file) if points_file else None,
                            cache_file.capture_files(*capture))


def key_of_run(config_path: Path, run: LoadedRun) -> List[List[Any]] | None:
    """:func:`run_cache_key` of a loaded run (its info's capture, else its config's)."""
    if run.info is not None:
        capture = (run.info.get("data"), run.info.get("colmap_path"))
    elif run.config is not None:
        capture = _data_of(run.config.pipeline.datamanager)
    else:
        capture = (str(run.data) if run.data is not None else None, None)
    return run_cache_key(config_path, run.checkpoint_dir, run.points_file, capture)


def _inference_part(dm) -> Dict[str, Any]:
    dpo = dm.train_dataparser_outputs
    return {
        "dpo_cameras": camera_fields(dpo.cameras),
        "dataset_cameras": camera_fields(dm.train_dataset.cameras),
        "dataparser_transform": dpo.dataparser_transform.detach().cpu().clone(),
        "dataparser_scale": float(dpo.dataparser_scale),
    }


def _train_part(dm) -> Dict[str, Any]:
    """From a training-mode Point2ActDataManager whose images are cached (so undistorted)."""
    _ = dm.cached_train
    _ = dm.cached_eval  # the eval split's cameras undistorted too: the consensus reads its answers
    return {
        "eval_cameras": camera_fields(dm.eval_dataset.cameras),
        "eval_raw_cameras": camera_fields(dm.eval_dataset._dataparser_outputs.cameras),
        "cameras": camera_fields(dm.train_dataset.cameras),
        "raw_cameras": camera_fields(dm.train_dataparser_outputs.cameras),
        "keys": list(dm._image_keys(dm.train_dataset)),
        "sizes": [tuple(int(v) for v in s) for s in dm._stored_sizes(dm.train_dataset)],
        "eval_keys": list(dm._image_keys(dm.eval_dataset)),
        "eval_sizes": [tuple(int(v) for v in s) for s in dm._stored_sizes(dm.eval_dataset)],
        "factor": int(dm._downscale_factor),
        "sigma_frac": float(HEATMAP_SIGMA_FRAC),
    }


def _header(config_path: Path, disk_config) -> Dict[str, Any]:
    """What keys the info and what a run read from it needs, from the config as read from disk."""
    dm = disk_config.pipeline.datamanager
    mc = disk_config.pipeline.model
    data, colmap = _data_of(dm)
    pf = getattr(dm, "points_file", None)
    co = getattr(mc, "camera_optimizer", None)
    return {
        "version": INFO_VERSION,
        "config_sha": _sha(Path(config_path).read_bytes()),
        "datamanager": datamanager_fingerprint(dm),
        "method_name": str(disk_config.method_name),
        "base_dir": str(disk_config.get_base_dir()),
        "checkpoint_dir": str(disk_config.get_checkpoint_dir()),
        "data": data,
        "colmap_path": colmap,
        "points_file": str(pf) if pf is not None else None,
        "prompt": str(getattr(dm, "prompt", "") or ""),
        "model": {
            "rasterize_mode": str(mc.rasterize_mode),
            "relevancy_loss": RELEVANCY_LOSS_FORM,  # the loss of every run (point2act.losses)
            "relevancy_pos_weight": RELEVANCY_POS_WEIGHT,
            "relevancy_init_logit": RELEVANCY_INIT_LOGIT,
            "camera_optimizer_mode": str(getattr(co, "mode", "off")),
        },
    }


def _disk_config(config_path: Path):
    from point2act.checks.trained_run import check_run_config

    return check_run_config(config_path)


def write_info(config_path: Path, info: Dict[str, Any]) -> Path | None:
    """Write ``info`` to the run's cache (section :data:`SECTION`, the dict as ``torch.save`` writes it); None
    when the run has no checkpoint to key it to."""
    import io

    from point2act import cache_file

    key = run_cache_key(config_path, info.get("checkpoint_dir"), info.get("points_file"),
                        (info.get("data"), info.get("colmap_path")))
    if key is None:
        return None
    buf = io.BytesIO()
    torch.save(info, buf)
    path = cache_file.write_section(config_path, key, SECTION, {"version": INFO_VERSION},
                                  {"blob": np.frombuffer(buf.getbuffer(), dtype=np.uint8)})
    _CACHE.clear()
    return path


def build_info(config_path: Path, inference_dm=None, train_dm=None, disk_config=None) -> Dict[str, Any]:
    """The run's info: from the given datamanagers, or ones built from config.yml (the
    training one decodes every image: at its cost, once). ``train_dm`` False: no training part."""
    config_path = Path(config_path)
    disk = disk_config if disk_config is not None else _disk_config(config_path)
    info = _header(config_path, disk)
    if inference_dm is None:
        inference_dm = copy.deepcopy(disk.pipeline.datamanager).setup(device="cpu", test_mode="inference")
    info["inference"] = _inference_part(inference_dm)
    if train_dm is not False:
        if train_dm is None:
            train_dm = _training_datamanager(disk)
        info["train"] = _train_part(train_dm)
    return info


def _training_datamanager(disk_config):
    """The run's training datamanager, for its cameras, image keys and sizes (:func:`_train_part`): no answers asked
    for, and no start cloud or table plane computed (a capture without a cloud would triangulate and sweep its
    photos: minutes for a large one, for nothing the info holds)."""
    dm_cfg = copy.deepcopy(disk_config.pipeline.datamanager)
    dm_cfg.points_file = None
    dm_cfg.prompt = ""
    dm_cfg.pointer_output = None
    if hasattr(dm_cfg, "triangulate"):
        dm_cfg.triangulate = False
    if hasattr(dm_cfg, "plane_depth"):
        dm_cfg.plane_depth = False
    return dm_cfg.setup(device="cpu", test_mode="val")


def write_after_training(config, pipeline) -> Path | None:
    """Write the info of a run that just finished training, from its own datamanager when that
    is the one a fresh load of config.yml builds (else from fresh ones). None: no config.yml."""
    import yaml

    config_path = Path(config.get_base_dir()) / "config.yml"
    if disabled() or not config_path.is_file():
        return None
    disk = yaml.load(config_path.read_text(encoding="utf-8"), Loader=yaml.Loader)
    dm = getattr(pipeline, "datamanager", None)
    train_dm = None
    if (dm is not None and getattr(dm, "test_mode", None) == "val" and hasattr(dm, "_stored_sizes")
            and "cached_train" in vars(dm)
            and datamanager_fingerprint(dm.config) == datamanager_fingerprint(disk.pipeline.datamanager)):
        train_dm = dm
    from point2act.checks.capture import quiet_load_warnings

    with quiet_load_warnings():  # training said it already
        return write_info(config_path, build_info(config_path, train_dm=train_dm, disk_config=disk))


_CACHE: Dict[str, Tuple[Tuple[int, int], Dict[str, Any]]] = {}


def disabled() -> bool:
    """``POINT2ACT_NO_RUN_INFO=1``: load runs the nerfstudio way only (no info read or written)."""
    return os.environ.get("POINT2ACT_NO_RUN_INFO", "") not in ("", "0")


def read_info(config_path: Path) -> Dict[str, Any] | None:
    """The run's info from its cache while the cache is current (:mod:`point2act.cache_file`: config.yml, the
    checkpoint, the answers and the capture's camera files unchanged), else None."""
    import io

    from point2act import cache_file

    if disabled():
        return None
    path = cache_file.cache_path(config_path)
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (int(st.st_size), int(st.st_mtime_ns))
    hit = _CACHE.get(str(path))
    if hit is not None and hit[0] == stamp:  # this process read the same file: only its currency to check
        return hit[1] if cache_file.is_current(config_path) else None
    got = cache_file.read_section(config_path, SECTION)
    if got is None or got[0].get("version") != INFO_VERSION:
        return None
    try:
        info = torch.load(io.BytesIO(got[1]["blob"].tobytes()), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (unreadable: loaded the nerfstudio way, and rewritten)
        return None
    if not isinstance(info, dict) or info.get("version") != INFO_VERSION:
        return None
    _CACHE[str(path)] = (stamp, info)
    return info


def matches(info: Dict[str, Any], run: "LoadedRun") -> bool:
    """Whether ``run`` was read from this info, or was loaded through nerfstudio with the config the info was
    made from (a caller's config in memory included), as far as the datamanager goes (points file and prompt
    aside)."""
    if run.info is not None:
        return run.info is info or run.info.get("config_sha") == info.get("config_sha")
    try:
        return datamanager_fingerprint(run.config.pipeline.datamanager) == info.get("datamanager")
    except Exception:  # noqa: BLE001
        return False


# ----------------------------------------------------------------------------------------------
# entry points for point2act.method.run_layer
# ----------------------------------------------------------------------------------------------
def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as eval_setup


def run_from_info(config_path: Path) -> LoadedRun | None:
    """The run from its current info and its checkpoint, or None (then the run is loaded the
    nerfstudio way). Errors about the checkpoint are those of :func:`check_run_config`."""
    from point2act.checks.trained_run import check_checkpoint

    info = read_info(config_path)
    if info is None or "inference" not in info or info["model"].get("camera_optimizer_mode", "off") != "off":
        return None
    ckpt = check_checkpoint(Path(config_path), Path(info["checkpoint_dir"]))
    from point2act.checkpoints import load_checkpoint

    state = load_checkpoint(ckpt)["pipeline"]
    gp: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.replace("module.", "")
        if key.startswith("_model.camera_optimizer."):
            return None  # a camera optimizer with state: nerfstudio's own
        if key.startswith("_model.gauss_params."):
            gp[key[len("_model.gauss_params."):]] = value
    if not {"means", "quats", "scales", "opacities", "relevancy", "features_dc"} <= set(gp):
        return None  # not point2act's Gaussians: nerfstudio's load gives the clear error
    device = _device()
    gaussians = RunGaussians({k: v.to(device) for k, v in gp.items()}, device, info["model"]["rasterize_mode"])
    pf = info.get("points_file")
    points_file = Path(pf) if pf else None
    points = load_points_file(points_file) if points_file is not None and points_file.is_file() else None
    prompt = info.get("prompt", "") or ""
    return LoadedRun(gaussians, cameras_from_fields(info["inference"]["dpo_cameras"]), Path(info["base_dir"]),
                     Path(info["checkpoint_dir"]), points_file, prompt,
                     prompt or (points.prompt if points is not None else ""),
                     Path(info["data"]) if info.get("data") else None, info=info)


def ensure_info(config_path: Path, loaded=None, train: bool = True) -> Dict[str, Any] | None:
    """The run's current info, written first when missing or stale (``loaded``: a nerfstudio
    ``(config, pipeline)`` whose inference datamanager is reused); ``train``: with the training part.
    None when the run cannot be read that way (the caller then goes the nerfstudio way)."""
    if disabled():
        return None
    info = read_info(config_path)
    if info is not None and (not train or "train" in info):
        return info
    try:
        disk = _disk_config(config_path)
        inference_dm = None
        if loaded is not None and getattr(loaded[1].datamanager, "test_mode", None) == "inference" \
                and datamanager_fingerprint(loaded[0].pipeline.datamanager) == datamanager_fingerprint(disk.pipeline.datamanager):
            inference_dm = loaded[1].datamanager
        if info is not None and "inference" in info:
            new = dict(info)
            new["train"] = _train_part(_training_datamanager(disk))
        else:
            new = build_info(config_path, inference_dm=inference_dm, train_dm=None if train else False, disk_config=disk)
        write_info(config_path, new)
    except Exception:  # noqa: BLE001  (an optimisation only: the nerfstudio way still works)
        return None
    return read_info(config_path)


def supervision_from_info(config_path: Path, run: LoadedRun, points_file: Path, prompt: str = "") -> Supervision | None:
    """:class:`Supervision` of ``points_file`` from the run's info (built now if missing) when it matches
    ``run``; None otherwise."""
    info = run.info
    if info is None or "train" not in info:
        info = ensure_info(config_path, train=True)
    if info is None or "train" not in info or not matches(info, run):
        return None
    return Supervision.from_info(info, Path(points_file), prompt)


def run_data_dir(config_path: Path) -> str | None | bool:
    """The capture folder of a run with a current info (its ``data``), or False (no info: ask config.yml)."""
    info = read_info(config_path)
    if info is None:
        return False
    return info.get("data")
