"""A trained run as plain data, and ``RUN/run_info.pt``, which gives it without nerfstudio's pipeline.

``point2act export`` and ``point2act query`` need three things from a run: its Gaussians (the
checkpoint), its training cameras, and how a points file maps into the training images. Getting them
through nerfstudio costs seconds: ``eval_setup`` imports every registered method and builds the
pipeline, and the supervision needs a second datamanager (``test_mode="val"``) that decodes and
undistorts every training image, only to learn the undistorted intrinsics.

``RUN/run_info.pt`` holds what those datamanagers give (plain tensors, read with ``weights_only``):

- ``inference``: the cameras of the datamanager ``eval_setup`` builds (``test_mode="inference"``):
  the parser's cameras (full resolution) and the training dataset's, the dataparser transform;
- ``train``: the cameras of the training datamanager after undistortion, its parser's (distorted)
  cameras, the image keys and stored sizes of the train and eval splits, the downscale factor and
  the heatmap sigma: what :meth:`Point2ActDataManager._match_points` and ``train_points_final`` use.

It is written at the end of training (:class:`~point2act.method.trainer.Point2ActTrainer`, from the
trainer's own datamanager), and for a run without it on first use (from the datamanagers themselves, so
at their cost once). It is keyed by the bytes of ``config.yml``, the capture's camera file(s) (size,
mtime) and, for a caller's in-memory config, the datamanager's settings: any change and the run is
loaded the nerfstudio way again.

The run layer (:mod:`point2act.method.run`) reads a run as a :class:`LoadedRun` (its :class:`RunGaussians`,
its cameras, its task and files) and its answers as a :class:`Supervision` (points, heatmaps, undistorted
cameras), whichever way they were loaded: :func:`run_from_info` and :meth:`Supervision.from_info` from
``run_info.pt`` (:class:`ViewCameras` does nerfstudio's camera arithmetic without importing nerfstudio),
:meth:`LoadedRun.of_pipeline` and :meth:`Supervision.of_datamanager` from nerfstudio's objects. The mapping
of points into training images is one function (:func:`match_points_to_views`,
:func:`points_in_training_images`) that the datamanager calls too.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from point2act.heatmap import HEATMAP_SIGMA_FRAC, map_points_to_training_image, points_to_heatmap, sigma_px
from point2act.losses import RELEVANCY_INIT_LOGIT, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT
from point2act.points import PointsFile, PointsFileError, load_points_file

INFO_NAME = "run_info.pt"
INFO_VERSION = 1

_CAMERA_FIELDS = ("camera_to_worlds", "fx", "fy", "cx", "cy", "width", "height", "distortion_params", "camera_type",
                  "times")


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
    (:func:`point2act.method.run.eval_views`). Views answering ``[]`` are kept (they see and do not agree)."""
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
# cameras as plain tensors
# ----------------------------------------------------------------------------------------------
def camera_fields(cams) -> Dict[str, Any]:
    """The tensors of a nerfstudio ``Cameras`` (CPU copies, contiguous: nerfstudio broadcasts its fields)."""
    out: Dict[str, Any] = {}
    for f in _CAMERA_FIELDS:
        v = getattr(cams, f, None)
        out[f] = v.detach().cpu().contiguous().clone() if isinstance(v, torch.Tensor) else None
    return out


def cameras_from_fields(d: Dict[str, Any]) -> "ViewCameras":
    """:class:`ViewCameras` from :func:`camera_fields`."""
    return ViewCameras(**{f: d.get(f) for f in _CAMERA_FIELDS})


_FISHEYE = 2
"""``nerfstudio.cameras.cameras.CameraType.FISHEYE.value`` (tests/method/test_runinfo.py checks it)."""


class ViewCameras:
    """What :func:`point2act.method.run.camera_views` and the points mapping use of nerfstudio's
    ``Cameras`` (a batch of cameras: indexing, ``deepcopy``, ``to``, ``rescale_output_resolution``,
    ``get_intrinsics_matrices``), with nerfstudio's arithmetic, without importing nerfstudio (whose
    ``Cameras`` costs a second of imports). Fields as nerfstudio keeps them: ``camera_to_worlds``
    [*B, 3, 4]; ``fx``, ``fy``, ``cx``, ``cy``, ``width``, ``height``, ``camera_type`` [*B, 1];
    ``distortion_params`` [*B, 6] or None."""

    def __init__(self, camera_to_worlds, fx, fy, cx, cy, width, height, distortion_params=None, camera_type=None,
                 times=None, metadata=None):
        self.camera_to_worlds = camera_to_worlds
        self.fx, self.fy, self.cx, self.cy = fx, fy, cx, cy
        self.width, self.height = width, height
        self.distortion_params = distortion_params
        self.camera_type = camera_type
        self.times = times
        self.metadata = metadata

    def _fields(self) -> Dict[str, Any]:
        return {f: getattr(self, f) for f in _CAMERA_FIELDS}

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.camera_to_worlds.shape[:-2])

    @property
    def device(self) -> torch.device:
        return self.camera_to_worlds.device

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __getitem__(self, indices) -> "ViewCameras":
        if not isinstance(indices, tuple):
            indices = (indices,)
        out = {}
        for f, v in self._fields().items():
            if v is None:
                out[f] = None
            else:
                out[f] = v[indices + (slice(None),) * (2 if f == "camera_to_worlds" else 1)]
        return ViewCameras(**out, metadata=self.metadata)

    def to(self, device) -> "ViewCameras":
        return ViewCameras(**{f: (v.to(device) if v is not None else None) for f, v in self._fields().items()},
                           metadata=self.metadata)

    def get_intrinsics_matrices(self) -> torch.Tensor:  # [*B, 3, 3], as nerfstudio's
        K = torch.zeros((*self.shape, 3, 3), dtype=torch.float32)
        K[..., 0, 0] = self.fx.squeeze(-1)
        K[..., 1, 1] = self.fy.squeeze(-1)
        K[..., 0, 2] = self.cx.squeeze(-1)
        K[..., 1, 2] = self.cy.squeeze(-1)
        K[..., 2, 2] = 1.0
        return K

    def rescale_output_resolution(self, scaling_factor: float | int, scale_rounding_mode: str = "floor") -> None:
        """nerfstudio's ``Cameras.rescale_output_resolution`` for a scalar factor."""
        if not isinstance(scaling_factor, (float, int)):
            raise ValueError("ViewCameras rescale by a float or an int")
        scaling_factor = torch.tensor([scaling_factor]).to(self.device).broadcast_to((self.cx.shape))
        self.fx = self.fx * scaling_factor
        self.fy = self.fy * scaling_factor
        self.cx = self.cx * scaling_factor
        self.cy = self.cy * scaling_factor
        if scale_rounding_mode == "floor":
            self.height = (self.height * scaling_factor).to(torch.int64)
            self.width = (self.width * scaling_factor).to(torch.int64)
        elif scale_rounding_mode == "round":
            self.height = torch.floor(0.5 + (self.height * scaling_factor)).to(torch.int64)
            self.width = torch.floor(0.5 + (self.width * scaling_factor)).to(torch.int64)
        elif scale_rounding_mode == "ceil":
            self.height = torch.ceil(self.height * scaling_factor).to(torch.int64)
            self.width = torch.ceil(self.width * scaling_factor).to(torch.int64)
        else:
            raise ValueError("Scale rounding mode must be 'floor', 'round' or 'ceil'.")


# ----------------------------------------------------------------------------------------------
# keys
# ----------------------------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def capture_fingerprint(data: str | None, colmap_path: str | None = None) -> List[Any]:
    """(name, size, mtime) of the capture's camera file(s): transforms.json, or the COLMAP model's files."""
    if not data:
        return ["none"]
    p = Path(data)
    files: List[Path] = []
    if p.is_file():
        files = [p]
    elif (p / "transforms.json").is_file():
        files = [p / "transforms.json"]
    elif colmap_path and (p / colmap_path).is_dir():
        files = sorted(q for q in (p / colmap_path).iterdir() if q.is_file())
    if not files:
        return ["missing", str(p)]
    out: List[Any] = []
    for f in files:
        st = f.stat()
        out.append([str(f), int(st.st_size), int(st.st_mtime_ns)])
    return out


def datamanager_fingerprint(dm_cfg) -> str:
    """A hash of a datamanager config, leaving out what the supervision sets (points file, prompt,
    pointer) and image caching; ``data`` as the datamanager resolves it."""
    import yaml

    c = copy.copy(dm_cfg)
    for name, value in (("points_file", None), ("prompt", ""), ("pointer", None), ("pointer_output", None),
                        ("cache_images", None), ("max_thread_workers", None)):
        if hasattr(c, name):
            setattr(c, name, value)
    dp = copy.copy(c.dataparser)
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
def info_path(config_path: Path) -> Path:
    return Path(config_path).resolve().parent / INFO_NAME


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
        "capture": capture_fingerprint(data, colmap),
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
    from point2act.run_check import check_run_config

    return check_run_config(config_path)


def write_info(config_path: Path, info: Dict[str, Any]) -> Path:
    from point2act.io import save_torch_atomic

    path = info_path(config_path)
    save_torch_atomic(info, path)
    _CACHE.pop(str(path), None)
    return path


def build_info(config_path: Path, inference_dm=None, train_dm=None, disk_config=None) -> Dict[str, Any]:
    """``run_info.pt``'s content: from the given datamanagers, or ones built from config.yml (the
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
    dm_cfg = copy.deepcopy(disk_config.pipeline.datamanager)
    dm_cfg.points_file = None
    dm_cfg.prompt = ""
    dm_cfg.pointer_output = None
    return dm_cfg.setup(device="cpu", test_mode="val")


def write_after_training(config, pipeline) -> Path | None:
    """Write ``run_info.pt`` of a run that just finished training, from its own datamanager when that
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
    from point2act.capture import quiet_load_warnings

    with quiet_load_warnings():  # training said it already
        return write_info(config_path, build_info(config_path, train_dm=train_dm, disk_config=disk))


_CACHE: Dict[str, Tuple[Tuple[int, int], Dict[str, Any]]] = {}


def disabled() -> bool:
    """``POINT2ACT_NO_RUN_INFO=1``: load runs the nerfstudio way only (no run_info.pt read or written)."""
    return os.environ.get("POINT2ACT_NO_RUN_INFO", "") not in ("", "0")


def read_info(config_path: Path) -> Dict[str, Any] | None:
    """The run's ``run_info.pt`` when it is current (config.yml and the capture unchanged), else None."""
    if disabled():
        return None
    config_path = Path(config_path)
    path = info_path(config_path)
    try:
        st = path.stat()
        raw = config_path.read_bytes()
    except OSError:
        return None
    stamp = (int(st.st_size), int(st.st_mtime_ns))
    hit = _CACHE.get(str(path))
    if hit is not None and hit[0] == stamp:
        info = hit[1]
    else:
        try:
            info = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001  (unreadable: loaded the nerfstudio way, and rewritten)
            return None
        if not isinstance(info, dict):
            return None
        _CACHE[str(path)] = (stamp, info)
    if info.get("version") != INFO_VERSION or info.get("config_sha") != _sha(raw):
        return None
    if info.get("capture") != capture_fingerprint(info.get("data"), info.get("colmap_path")):
        return None
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
# a loaded run as plain data
# ----------------------------------------------------------------------------------------------
_SH_C0 = 0.28209479177387814
"""The zeroth spherical-harmonics basis function's constant: nerfstudio's ``SH2RGB`` is ``sh * C0 + 0.5``."""


@dataclass
class RunGaussians:
    """A run's Gaussians as the run layer renders and fits them.

    ``params`` holds the parameters as training keeps them (splatfacto's ``gauss_params``): ``means`` [N, 3],
    ``quats`` [N, 4], ``scales`` [N, 3] (log), ``opacities`` [N, 1] (logit), ``features_dc`` [N, 3],
    ``features_rest`` [N, K, 3] and ``relevancy`` [N, 1] (logit). They are the checkpoint's tensors
    (:func:`run_from_info`) or a model's own (:meth:`of_model`: a model still training is read as it is)."""

    params: Mapping[str, torch.Tensor]
    device: torch.device
    """Where ``params`` live (renders of the run layer run there)."""
    rasterize_mode: str
    """The run's splatfacto ``rasterize_mode`` ("classic" or "antialiased")."""
    camera_to_world: Callable[[Any], torch.Tensor] | None = None
    """The camera-to-world pose [1, 3, 4] of a one-camera batch through the run's camera optimizer
    (``metadata["cam_idx"]`` names the training view); None: the poses as stored."""

    @classmethod
    def of_model(cls, model) -> "RunGaussians":
        """The Gaussians of a :class:`~point2act.method.model.Point2ActModel`: its parameters (not copies), its
        rasterize mode and its camera optimizer."""
        return cls(model.gauss_params, model.device, str(model.config.rasterize_mode),
                   model.camera_optimizer.apply_to_camera)

    @property
    def num_points(self) -> int:
        return int(self.params["means"].shape[0])

    def colors(self) -> torch.Tensor:
        """Each Gaussian's RGB [N, 3] as splatfacto's ``colors``: the DC term through the SH basis when the run
        has higher SH bands, else its sigmoid."""
        dc, rest = self.params["features_dc"], self.params.get("features_rest")
        if rest is not None and rest.dim() >= 2 and rest.shape[1] > 0:
            return dc * _SH_C0 + 0.5
        return torch.sigmoid(dc)


def as_gaussians(gaussians) -> RunGaussians:
    """``gaussians`` as :class:`RunGaussians`: itself, or a model's (:meth:`RunGaussians.of_model`)."""
    return gaussians if isinstance(gaussians, RunGaussians) else RunGaussians.of_model(gaussians)


@dataclass
class LoadedRun:
    """A trained run as ``point2act export``, ``point2act query`` and the viewer's panel read it.

    Read from ``RUN/run_info.pt`` and the checkpoint (:func:`run_from_info`: no nerfstudio import, no image
    decoded), or from nerfstudio's ``(TrainerConfig, Pipeline)`` (:meth:`of_pipeline`: a run loaded by
    ``eval_setup``, trained in this process, or shown in the viewer). The same run gives the same values
    both ways."""

    gaussians: RunGaussians
    cameras: Any
    """The training views' cameras as the dataparser gives them (full resolution, before undistortion):
    nerfstudio's ``Cameras`` or :class:`ViewCameras`."""
    base_dir: Path
    """The run folder as its config names it."""
    checkpoint_dir: Path
    """Where the run's ``step-*.ckpt`` are."""
    points_file: Path | None
    """The points file the run's config names."""
    prompt: str
    """The prompt the run's config names ("" when the task is its points file's)."""
    task: str
    """The task of the run's datamanager: its prompt, else that of the points it holds."""
    data: Path | None
    """The capture the run's config names."""
    config: Any = None
    """nerfstudio's ``TrainerConfig`` when the run was loaded through nerfstudio; None when read from
    ``run_info.pt`` (:func:`point2act.run_check.check_run_config` reads it from ``config.yml``)."""
    info: Dict[str, Any] | None = None
    """``run_info.pt``'s content when the run was read from it."""

    @classmethod
    def of_pipeline(cls, config, pipeline) -> "LoadedRun":
        """The run of nerfstudio's ``config`` (a ``TrainerConfig``) and ``pipeline`` (point2act's): the model's
        Gaussians themselves, the datamanager's parser cameras."""
        dm_cfg, dm = config.pipeline.datamanager, pipeline.datamanager
        data = getattr(dm_cfg, "data", None) or getattr(getattr(dm_cfg, "dataparser", None), "data", None)
        load_dir = getattr(config, "load_dir", None)
        pf = getattr(dm_cfg, "points_file", None)
        task = getattr(getattr(dm, "config", None), "prompt", "") or ""
        if not task and getattr(dm, "points", None) is not None:
            task = getattr(dm.points, "prompt", "") or ""
        return cls(RunGaussians.of_model(pipeline.model), dm.train_dataparser_outputs.cameras,
                   Path(config.get_base_dir()), Path(load_dir) if load_dir else Path(config.get_checkpoint_dir()),
                   Path(pf) if pf is not None else None, getattr(dm_cfg, "prompt", "") or "", task,
                   Path(data) if data else None, config=config)


@dataclass
class Supervision:
    """The answers that supervise a run's relevancy, in its training images: the points and their task, each
    training view's camera as nerfstudio trains on it (downscaled, undistorted) and each supervised view's
    target heatmap; the same for the answered views of the eval split (their cameras are known too)."""

    points: PointsFile | None
    """The answers (None: no supervision)."""
    prompt: str
    """The task: the prompt asked for, else the answers'."""
    cameras: Any
    """Every training view's camera (nerfstudio's ``Cameras`` or :class:`ViewCameras`)."""
    heatmaps: HeatmapStore
    """Training view index -> target heatmap."""
    eval_cameras: Any = None
    """The eval split's cameras when some of its views answered, else None."""
    eval_heatmaps: HeatmapStore | None = None
    """Eval view index -> target heatmap of its answers, else None."""

    @classmethod
    def of_datamanager(cls, dm) -> "Supervision":
        """What point2act's training-mode datamanager supervises with. Its training images are decoded and
        undistorted here when they are not yet (to learn the final cameras), and its eval images when the eval
        split holds answers. Without points: no heatmaps, and the cameras as parsed."""
        if dm.points is None:
            return cls(None, dm.prompt, dm.train_dataset.cameras, HeatmapStore({}, {}, HEATMAP_SIGMA_FRAC))
        heat = dm.train_heatmaps
        eval_cameras, eval_heatmaps = _eval_of_datamanager(dm)
        return cls(dm.points, dm.prompt, dm.train_dataset.cameras, heat, eval_cameras, eval_heatmaps)

    @classmethod
    def from_info(cls, info: Dict[str, Any], points_file: Path, prompt: str = "") -> "Supervision":
        """The supervision of ``points_file`` from a run's info (its training part): the datamanager's points,
        heatmaps and undistorted cameras without decoding an image."""
        train = info["train"]
        points = load_points_file(points_file)
        cams = cameras_from_fields(train["cameras"])
        raw = cameras_from_fields(train["raw_cameras"])
        pts = match_points_to_views(points, train["keys"], train["sizes"], train["eval_keys"], train["eval_sizes"],
                                    train["factor"])
        final = points_in_training_images(pts, raw, cams, train["factor"])
        sizes = {idx: (int(cams.height[idx]), int(cams.width[idx])) for idx in final}
        heat = HeatmapStore(final, sizes, train["sigma_frac"])
        # the answered eval views (an info without the eval cameras: none)
        eval_cameras, eval_heatmaps = None, None
        if train.get("eval_cameras") is not None and train.get("eval_keys"):
            eval_cameras = cameras_from_fields(train["eval_cameras"])
            epts = points_in_training_images(eval_points(points, train["eval_keys"], train["eval_sizes"]),
                                             cameras_from_fields(train["eval_raw_cameras"]), eval_cameras,
                                             train["factor"])
            eval_heatmaps = HeatmapStore(
                epts, {i: (int(eval_cameras.height[i]), int(eval_cameras.width[i])) for i in epts}, train["sigma_frac"])
        return cls(points, prompt or points.prompt, cams, heat, eval_cameras, eval_heatmaps)


# ----------------------------------------------------------------------------------------------
# entry points for point2act.method.run
# ----------------------------------------------------------------------------------------------
def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")  # as eval_setup


def run_from_info(config_path: Path) -> LoadedRun | None:
    """The run from a current ``run_info.pt`` and its checkpoint, or None (then the run is loaded the
    nerfstudio way). Errors about the checkpoint are those of :func:`check_run_config`."""
    from point2act.run_check import check_checkpoint

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


def run_data_dir(config_path: Path) -> str | None | bool:
    """The capture folder of a run with a current info (its ``data``), or False (no info: ask config.yml)."""
    info = read_info(config_path)
    if info is None:
        return False
    return info.get("data")


# ----------------------------------------------------------------------------------------------
# the eval split's answers
# ----------------------------------------------------------------------------------------------
def _eval_of_datamanager(dm):
    """(eval cameras, :class:`HeatmapStore` of the answered eval views) of point2act's training-mode datamanager,
    whose eval images are then decoded and undistorted, as nerfstudio does, to learn their cameras; (None, None)
    without eval answers."""
    ds = getattr(dm, "eval_dataset", None)
    if ds is None or getattr(dm, "points", None) is None or not hasattr(dm, "_image_keys"):
        return None, None
    keys, sizes = list(dm._image_keys(ds)), [tuple(int(v) for v in s) for s in dm._stored_sizes(ds)]
    pts = eval_points(dm.points, keys, sizes)
    if not pts:
        return None, None
    _ = dm.cached_eval  # undistorts the eval cameras in place
    factor = int(dm._downscale_factor)
    final = points_in_training_images(pts, ds._dataparser_outputs.cameras, ds.cameras, factor)
    return ds.cameras, HeatmapStore(final, {i: (int(ds.cameras.height[i]), int(ds.cameras.width[i])) for i in final},
                                    float(HEATMAP_SIGMA_FRAC))
