"""A trained run as plain data: its Gaussians (:class:`RunGaussians`), the run as the run layer reads it
(:class:`LoadedRun`) and the answers that supervise its relevancy (:class:`Supervision`).

Each is made either from nerfstudio's objects (:meth:`LoadedRun.of_pipeline`,
:meth:`Supervision.of_datamanager`) or from the run's cached info without them
(:func:`point2act.method.datamanager_info.run_from_info`, :meth:`Supervision.from_info`); the same run gives the same
values both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict

import torch

from point2act.heatmap import HEATMAP_SIGMA_FRAC
from point2act.method.answers import (
    HeatmapStore,
    eval_points,
    match_points_to_views,
    points_in_training_images,
)
from point2act.method.viewcameras import cameras_from_fields
from point2act.points import PointsFile, load_points_file

_SH_C0 = 0.28209479177387814
"""The zeroth spherical-harmonics basis function's constant: nerfstudio's ``SH2RGB`` is ``sh * C0 + 0.5``."""


@dataclass
class RunGaussians:
    """A run's Gaussians as the run layer renders and fits them.

    ``params`` holds the parameters as training keeps them (splatfacto's ``gauss_params``): ``means`` [N, 3],
    ``quats`` [N, 4], ``scales`` [N, 3] (log), ``opacities`` [N, 1] (logit), ``features_dc`` [N, 3],
    ``features_rest`` [N, K, 3] and ``relevancy`` [N, 1] (logit). They are the checkpoint's tensors
    (:func:`~point2act.method.datamanager_info.run_from_info`) or a model's own (:meth:`of_model`: a model still training
    is read as it is)."""

    params: Mapping[str, torch.Tensor]
    """The parameters by name, as training keeps them (see above)."""
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

    Read from the run's cached info and the checkpoint (:func:`~point2act.method.datamanager_info.run_from_info`: no
    nerfstudio import, no image decoded), or from nerfstudio's ``(TrainerConfig, Pipeline)``
    (:meth:`of_pipeline`: a run loaded by ``eval_setup``, trained in this process, or shown in the viewer). The
    same run gives the same values both ways."""

    gaussians: RunGaussians
    """The run's Gaussians."""
    cameras: Any
    """The training views' cameras as the dataparser gives them (full resolution, before undistortion):
    nerfstudio's ``Cameras`` or :class:`~point2act.method.viewcameras.ViewCameras`."""
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
    the cached info (:func:`point2act.checks.trained_run.check_run_config` reads it from ``config.yml``)."""
    info: Dict[str, Any] | None = None
    """The cached info when the run was read from it."""

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
        # the parser's cameras at the stored resolution, as an inference load of the run gives them (a training
        # datamanager's are at the parser's downscale factor where the capture has images_N/)
        cameras = getattr(dm, "parser_cameras", None)
        if cameras is None:
            cameras = dm.train_dataparser_outputs.cameras
        return cls(RunGaussians.of_model(pipeline.model), cameras,
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
    """Every training view's camera (nerfstudio's ``Cameras`` or
    :class:`~point2act.method.viewcameras.ViewCameras`)."""
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
