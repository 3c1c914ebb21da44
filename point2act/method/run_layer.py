"""A trained point2act run on disk: load it, and the two things users do with it (export, re-query).

This is the run layer. It reads a run as a :class:`~point2act.method.run_data.LoadedRun` (:func:`open_run`:
from the run's cached info and the checkpoint, else through nerfstudio's ``config.yml`` and latest checkpoint,
:func:`load_run`), its capture frame (:func:`run_frame`), and the Gaussians and the training views as plain
tensors (:func:`gaussian_tensors`, :func:`camera_views`).

:func:`where` answers "where" for a loaded run and a channel (the run's trained relevancy or a ``point2act
query`` channel): the views' consensus over the answers the run keeps. Every path calls it:
:func:`export_run` (``point2act export``, the exports of ``point2act query`` and ``point2act grasp``, keypoints
included) and the viewer panel (:func:`export_doc`). :func:`query_run` refits a channel
(:mod:`point2act.requery.weights_torch`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from point2act.channels import (
    run_dir,
)
from point2act.errors import Point2ActError
from point2act.fusion import DepthViews, FusionViews, fusion_views, render_depth_views, unit_splats
from point2act.geometry import FrameTransform, viewmat_from_c2w
from point2act.grasp.config import FUSION_MAX_PIXELS, FUSION_MAX_VIEWS
from point2act.method.run_data import LoadedRun, as_gaussians
from point2act.render import Splats
from point2act.splatting import Views


def load_run(config_path: Path) -> Tuple[Any, Any]:
    """Load a trained point2act run (config.yml) through nerfstudio for inference: ``(TrainerConfig, Pipeline)``
    (:meth:`LoadedRun.of_pipeline` reads them as the run layer does)."""
    from point2act._nerfstudio import light_import
    from point2act.checks.trained_run import check_run_config

    from point2act.method.hooks import light_external_methods

    with light_import():
        light_external_methods()  # eval_utils loads nerfstudio's registry of methods
        from nerfstudio.utils.eval_utils import eval_setup

    config_path = Path(config_path)
    check_run_config(config_path)  # another method's run, a truncated checkpoint: a clear error first
    config, pipeline, _ckpt, _step = eval_setup(config_path, test_mode="inference")
    if not hasattr(pipeline.model, "relevancy_logits"):
        raise Point2ActError(
            f"{config_path}: this run was trained with method '{config.method_name}', not point2act; "
            "it has no relevancy channel to export."
        )
    return config, pipeline


def run_of(config, pipeline) -> LoadedRun:
    """The run of nerfstudio's ``(TrainerConfig, Pipeline)`` (:func:`load_run`, a trainer's, the viewer's)."""
    return LoadedRun.of_pipeline(config, pipeline)


def open_run(config_path: Path) -> LoadedRun:
    """A trained run for export and query. From the run's cached info when it is current
    (:func:`point2act.method.datamanager_info.run_from_info`: the checkpoint's Gaussians and the stored cameras, no
    nerfstudio pipeline built, no image decoded); else through :func:`load_run`, and that file is written for
    the next time."""
    from point2act.method.datamanager_info import ensure_info, run_from_info

    run = run_from_info(Path(config_path))
    if run is not None:
        return run
    loaded = load_run(config_path)
    ensure_info(config_path, loaded, train=False)
    return run_of(*loaded)


def trained_run(config, trainer) -> LoadedRun:
    """The run just trained in this process (the trainer :func:`point2act.method.train.train` returns), its
    pipeline in eval mode, as :func:`open_run` would give it without reading the checkpoint back; ``trainer``
    None (a distributed run): through :func:`load_run`."""
    if trainer is None:
        return run_of(*load_run(Path(config.get_base_dir()) / "config.yml"))
    trainer.pipeline.eval()
    return run_of(config, trainer.pipeline)


def latest_checkpoint(run: LoadedRun) -> Path:
    """The checkpoint eval_setup loads: the highest step-*.ckpt of the run."""
    d = Path(run.checkpoint_dir)
    ckpts = sorted(d.glob("step-*.ckpt"))
    if not ckpts:
        raise Point2ActError(f"{d}: no checkpoint")
    return ckpts[-1]


def run_frame(run: LoadedRun) -> FrameTransform:
    """The run's capture frame (``dataparser_transforms.json`` in the run folder its config names)."""
    return FrameTransform.from_json(Path(run.base_dir) / "dataparser_transforms.json")


def frame_of_run(config_path: Path, run: LoadedRun) -> FrameTransform:
    """The capture frame of the run at ``config_path``: the ``dataparser_transforms.json`` beside it (wherever
    the process runs from), else :func:`run_frame`."""
    path = run_dir(config_path) / "dataparser_transforms.json"
    return FrameTransform.from_json(path) if path.is_file() else run_frame(run)


def camera_centres(config_path: Path, run: LoadedRun) -> np.ndarray:  # [C, 3]
    """The training cameras' centres in the capture frame (:func:`frame_of_run`)."""
    return frame_of_run(config_path, run).to_capture(run.cameras.camera_to_worlds[:, :3, 3].cpu().numpy())


def frame_of_datamanager(dm) -> FrameTransform:
    """The capture frame from a live datamanager (the viewer during training); identity without one."""
    dpo = getattr(dm, "train_dataparser_outputs", None)
    if dpo is None:
        return FrameTransform.identity()
    return FrameTransform(
        np.asarray(dpo.dataparser_transform.detach().cpu().numpy(), dtype=np.float64).reshape(3, 4),
        float(dpo.dataparser_scale),
    )


def run_prompt(dm, model=None) -> str:
    """The task a run was trained for: the datamanager's prompt, its points file's, or the model's."""
    prompt = getattr(getattr(dm, "config", None), "prompt", "") or ""
    if not prompt and getattr(dm, "points", None) is not None:
        prompt = getattr(dm.points, "prompt", "") or ""
    return prompt or getattr(model, "prompt", "") or ""


def gaussian_tensors(gaussians) -> Dict[str, torch.Tensor]:
    """The Gaussians (a :class:`~point2act.method.run_data.RunGaussians` or a model), detached, in the form the
    renderers take (nerfstudio frame): ``means`` [N, 3], ``quats`` [N, 4] (unit), ``scales`` [N, 3] (linear),
    ``opacities`` [N], ``relevancy`` [N]."""
    p = as_gaussians(gaussians).params
    with torch.no_grad():
        quats = p["quats"].detach().float()
        return {
            "means": p["means"].detach().float(),
            "quats": quats / quats.norm(dim=-1, keepdim=True),
            "scales": torch.exp(p["scales"].detach()).float(),
            "opacities": torch.sigmoid(p["opacities"].detach()).squeeze(-1).float(),
            "relevancy": torch.sigmoid(p["relevancy"].detach()).squeeze(-1).float(),
        }


def gaussian_arrays(gaussians) -> Dict[str, np.ndarray]:
    """:func:`gaussian_tensors` as float64 numpy arrays (means, opacities, scales, relevancy), for export."""
    t = gaussian_tensors(gaussians)
    return {k: t[k].cpu().numpy().astype(np.float64) for k in ("means", "opacities", "scales", "relevancy")}


def camera_views(cameras, downscale: int = 1, gaussians=None,
                 max_pixels: int | None = None) -> Tuple[torch.Tensor, torch.Tensor, List[Tuple[int, int]]]:
    """World-to-camera ``viewmats`` [C, 4, 4], ``Ks`` [C, 3, 3] and sizes ``(H, W)`` of nerfstudio cameras,
    at ``1 / downscale`` of their resolution (with ``max_pixels``, each view at
    :func:`~point2act.requery.fit_numpy.support_divisor`'s larger divisor where it would hold more pixels); with
    ``gaussians`` (a :class:`~point2act.method.run_data.RunGaussians` or a model), on their device and through
    the run's camera optimizer (as training)."""
    from point2act.requery.fit_numpy import support_divisor

    g = as_gaussians(gaussians) if gaussians is not None else None
    vms, Ks, sizes = [], [], []
    dev = g.device if g is not None else torch.device("cpu")
    with torch.no_grad():
        for i in range(len(cameras)):
            # a slice is a new camera object whose fields the rescale below replaces (never writes into); only
            # its metadata dict may be the cameras' own, so that is copied before cam_idx is set
            cam = cameras[i : i + 1].to(dev)
            cam.metadata = dict(cam.metadata) if cam.metadata is not None else {}
            cam.metadata["cam_idx"] = i
            d = support_divisor(int(cam.height.item()), int(cam.width.item()), downscale, max_pixels)
            if d > 1:
                cam.rescale_output_resolution(1.0 / d)
            c2w = g.camera_to_world(cam) if g is not None and g.camera_to_world is not None else cam.camera_to_worlds
            vms.append(viewmat_from_c2w(c2w.float())[0])
            Ks.append(cam.get_intrinsics_matrices()[0].to(dev, torch.float32))  # nerfstudio builds K on the CPU
            sizes.append((int(cam.height.item()), int(cam.width.item())))
    return torch.stack(vms), torch.stack(Ks), sizes


def support_views(cameras, downscale: int, gaussians=None) -> Tuple[torch.Tensor, torch.Tensor, List[Tuple[int, int]]]:
    """:func:`camera_views` as the views' consensus, the refit and the query section read them: at
    ``1 / downscale``, each view at most :data:`~point2act.requery.fit_numpy.SUPPORT_MAX_PIXELS` pixels."""
    from point2act.requery.fit_numpy import SUPPORT_MAX_PIXELS

    return camera_views(cameras, downscale, gaussians, SUPPORT_MAX_PIXELS)


def depth_views_of(gaussians, cameras, max_views: int = FUSION_MAX_VIEWS, max_pixels: int | None = FUSION_MAX_PIXELS,
                   relevancy: np.ndarray | None = None) -> DepthViews:
    """Median depth of up to ``max_views`` evenly spaced training views (the grasp head's fused surface),
    each rendered at most ``max_pixels`` pixels (whole-factor downscale; ``None``: full resolution); with
    ``relevancy`` [N] (a channel's, in [0, 1]), the field's relevancy per pixel too (the target's surface)."""
    g = gaussian_tensors(gaussians)
    vms, Ks, sizes = camera_views(cameras)
    rel = None if relevancy is None else torch.as_tensor(np.asarray(relevancy), dtype=torch.float32,
                                                         device=g["means"].device)
    splats = Splats(g["means"], g["quats"], g["scales"], g["opacities"])
    return render_depth_views(splats, Views(vms.cpu().numpy(), Ks.cpu().numpy(), sizes), max_views, max_pixels, rel)


def fusion_views_of(gaussians, cameras, max_views: int = FUSION_MAX_VIEWS,
                    max_pixels: int | None = FUSION_MAX_PIXELS, min_weight: float = 1e-3) -> FusionViews:
    """What the compositing weights above ``min_weight`` of the views :func:`depth_views_of` renders are computed
    from (:class:`~point2act.fusion.FusionViews`): the activated Gaussians and those views' cameras."""
    g = gaussian_tensors(gaussians)
    vms, Ks, sizes = camera_views(cameras)
    views, K_out, out_sizes = fusion_views(Ks.cpu().numpy(), sizes, max_views, max_pixels)
    unit = unit_splats(Splats(g["means"], g["quats"], g["scales"], g["opacities"]))
    f32 = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
    pick = torch.as_tensor(np.asarray(views, dtype=np.int64), device=vms.device)
    return FusionViews(f32(unit.means), f32(unit.quats), f32(unit.scales), f32(unit.opacities).reshape(-1),
                       f32(vms[pick]).reshape(-1, 4, 4), np.asarray(K_out, dtype=np.float32).reshape(-1, 3, 3),
                       [[int(h), int(w)] for h, w in out_sizes], float(min_weight))


