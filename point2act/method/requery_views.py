"""The torch side of the torch-free ``point2act query``: the run cache's ``query-dD`` section
(:class:`point2act.requery.from_cache.QueryViews`) from a run and its info, written with the run's export inputs
(:func:`point2act.method.export_run.cache_own_inputs`) and by every query that goes through torch
(:func:`point2act.method.requery_run.ensure_query_caches`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import numpy as np

from point2act.requery import from_cache
from point2act.answer_points import ImageCameras
from point2act.method.run_data import LoadedRun, as_gaussians
from point2act.method.run_layer import gaussian_tensors, support_views
from point2act.method.viewcameras import _FISHEYE, cameras_from_fields


def _image_cameras(raw, final) -> ImageCameras:
    """What :func:`point2act.method.answers.points_in_training_images` reads of ``raw`` and ``final``, as arrays."""
    n = len(raw)
    K_raw = np.stack([raw[i].get_intrinsics_matrices().numpy() for i in range(n)]) if n else np.zeros((0, 3, 3))
    K_final = np.stack([final[i].get_intrinsics_matrices().numpy() for i in range(n)]) if n else np.zeros((0, 3, 3))
    dist = raw.distortion_params.numpy() if raw.distortion_params is not None else None
    fisheye = np.array([int(raw[i].camera_type.item()) == _FISHEYE for i in range(n)], dtype=bool)
    sizes = np.array([[int(final.height[i]), int(final.width[i])] for i in range(n)], dtype=np.int64).reshape(-1, 2)
    return ImageCameras(K_raw.astype(np.float32), dist, fisheye, K_final.astype(np.float32), sizes)


def _split(train: Dict[str, Any], prefix: str, views) -> from_cache.SplitViews:
    cams = cameras_from_fields(train[f"{prefix}cameras"])
    raw = cameras_from_fields(train[f"{prefix}raw_cameras"])
    vms, Ks, sizes = views(cams)
    keys, stored = train["keys" if not prefix else "eval_keys"], train["sizes" if not prefix else "eval_sizes"]
    return from_cache.SplitViews(_image_cameras(raw, cams), list(keys), [tuple(int(v) for v in s) for s in stored],
                                  vms.cpu().numpy().astype(np.float32), Ks.cpu().numpy().astype(np.float32),
                                  [tuple(s) for s in sizes])


def query_views_of(run: LoadedRun, info: Dict[str, Any], downscale: int) -> from_cache.QueryViews | None:
    """The ``query-dD`` section of ``run`` (its Gaussians) and ``info`` (:mod:`point2act.method.datamanager_info`, with its
    training part): the training views through the run's camera optimizer, the eval views as stored with their
    median-depth maps (weights above :data:`~point2act.requery.from_cache.SUPPORT_MIN_WEIGHT`, as
    :func:`point2act.method.supervision.eval_views` computes them). None without the training part."""
    from point2act.requery.weights_torch import build_weights_cache
    from point2act.render.splats import Splats
    from point2act.splatting import Views

    train = info.get("train") if info is not None else None
    if train is None:
        return None
    g_run = as_gaussians(run.gaussians)
    g = gaussian_tensors(g_run)
    t = _split(train, "", lambda cams: support_views(cams, downscale, g_run))
    ev = None
    if train.get("eval_cameras") is not None and train.get("eval_keys"):
        ev = _split(train, "eval_", lambda cams: support_views(cams, downscale))
        ids = list(range(len(ev.sizes)))
        means = g["means"].cpu().double().numpy()
        splats = Splats(g["means"], g["quats"], g["scales"], g["opacities"])
        dev = g["means"].device
        import torch

        vms, Ks = torch.from_numpy(ev.viewmats).to(dev), torch.from_numpy(ev.Ks).to(dev)
        cache = build_weights_cache(splats, Views(vms, Ks, list(ev.sizes)), ids, g_run.rasterize_mode,
                                    from_cache.SUPPORT_MIN_WEIGHT)
        ev.depths = from_cache.depth_maps(cache, means, ev.viewmats.astype(np.float64))
    f32 = lambda k: g[k].cpu().numpy().astype(np.float32)  # noqa: E731
    return from_cache.QueryViews(int(downscale), int(train["factor"]), float(train["sigma_frac"]), t, ev,
                                  f32("means"), str(g_run.rasterize_mode), f32("quats"), f32("scales"),
                                  f32("opacities"))


def write_query_views(config_path: Path, run: LoadedRun, key, info: Dict[str, Any] | None = None,
                      downscale: int = 2) -> Path | None:
    """Write the run's ``query-dD`` section under ``key`` (``info``: the run's, default its cached one); None when
    there is no info with a training part to write it from, or the run is read-only."""
    from point2act.method.datamanager_info import read_info

    info = info if info is not None else (run.info if run.info is not None else read_info(config_path))
    qv = query_views_of(run, info, downscale)
    if qv is None or key is None:
        return None
    try:
        return from_cache.save(config_path, key, qv)
    except OSError:
        return None

