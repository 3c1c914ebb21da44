"""The export section of the run's cache (:mod:`point2act.cache_file`): the :class:`~point2act.export.inputs.RunInputs`
of the run's own field, so that ``point2act export`` without channels builds its document without importing torch
or nerfstudio (:func:`export_from_cache`).

It holds the Gaussians' arrays and the training cameras' centres, the run's task, start note and capture folder,
the supervised views of the run's own answers (:class:`point2act.where.consensus.ViewAnswers`) and the
median-depth renders the grasp head fuses (:class:`point2act.fusion.DepthViews`). It serves a request while the
cache is current and the request asks for the views and renders it holds (:func:`serving`, the one place that
decides it). Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from point2act import cache_file
from point2act.export.inputs import Field, FieldLabel, RunInputs, SceneGaussians
from point2act.fusion import DepthViews, FusionViews
from point2act.requery.fit_numpy import SUPPORT_MAX_PIXELS
from point2act.where.consensus import ViewAnswers

SECTION = "export"
FUSION_SECTION = "fusion-views"
"""The section of what the fusion views' compositing weights are computed from (:class:`~point2act.fusion.FusionViews`:
the activated Gaussians and the views' cameras, 1-2 MB; the weights themselves would take 100 MB)."""
FUSION_VERSION = 2
"""Bumped whenever what the fusion section holds, or how it is read, changes."""
_ARRAYS = ("means", "opacities", "scales", "relevancy")
_DEPTH = ("depths", "alphas", "Ks", "viewmats", "relevancy", "spreads")


@dataclass(frozen=True)
class CachedInputs:
    """The export section as read: the inputs, and what they were computed for."""

    inputs: RunInputs
    """The run's own field's export inputs (:func:`point2act.export.inputs.export_inputs` makes the export's of
    them)."""
    data: str | None
    """The run's capture folder (where the frame file is looked up)."""
    support_downscale: int
    """The resolution divisor of the views' surfaces (``RegionConfig.support_downscale`` when they were made)."""


def save(config_path: Path, key: List[List[Any]], cached: CachedInputs) -> Path:
    """Write the export section under the run's ``key`` (:func:`point2act.cache_file.run_key`)."""
    inputs, field = cached.inputs, cached.inputs.field
    meta: Dict[str, Any] = {"prompt": inputs.prompt, "start_note": inputs.start_note, "data": cached.data,
                            "reason": field.reason, "support_downscale": int(cached.support_downscale),
                            "support_max_pixels": SUPPORT_MAX_PIXELS, "views": None, "depth_views": None}
    arrs: Dict[str, np.ndarray] = {f"g_{k}": np.asarray(getattr(inputs.gaussians, k), dtype=np.float64)
                                   for k in _ARRAYS}
    arrs["centers"] = np.asarray(inputs.centers, dtype=np.float64)
    if field.views is not None:
        meta["views"] = [{"sigma_px": float(v.sigma_px), "view_id": int(v.view_id), "split": v.split}
                         for v in field.views]
        for k, v in enumerate(field.views):
            arrs[f"v{k}_viewmat"], arrs[f"v{k}_K"] = np.asarray(v.viewmat), np.asarray(v.K)
            arrs[f"v{k}_points"], arrs[f"v{k}_depth"] = np.asarray(v.points), np.asarray(v.depth)
    dv = inputs.depth_views
    if dv is not None:
        meta["depth_views"] = {"render_ms": float(dv.render_ms),
                               "fields": [f for f in _DEPTH if getattr(dv, f) is not None]}
        for f in meta["depth_views"]["fields"]:
            arrs[f"d_{f}"] = np.asarray(getattr(dv, f))
    return cache_file.write_section(config_path, key, SECTION, meta, arrs)


def load(config_path: Path) -> CachedInputs | None:
    """The export section of the run at ``config_path``, None when the cache is missing, stale or has none, or its
    views' surfaces were read at another most pixels per view than :data:`SUPPORT_MAX_PIXELS`."""
    got = cache_file.read_section(config_path, SECTION)
    if got is None or got[0].get("support_max_pixels") != SUPPORT_MAX_PIXELS:
        return None  # views' surfaces read at another cap of pixels per view: made again, the rest of the cache kept
    meta, arrs = got
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
    gaussians = SceneGaussians(*(arrs[f"g_{k}"] for k in _ARRAYS))
    field = Field(gaussians.relevancy, views, meta["reason"], label=FieldLabel(prompt=meta["prompt"]))
    inputs = RunInputs(gaussians, field, arrs["centers"], depth, meta["prompt"], meta["start_note"],
                       run=Path(config_path))
    return CachedInputs(inputs, meta["data"], int(meta["support_downscale"]))


def serving(config_path: Path, request_of: Callable[[CachedInputs], Any],
            channel_relevancy: bool = False) -> Tuple[Any, CachedInputs] | None:
    """Whether the run's cache serves an export, decided here alone: ``(request, cached inputs)`` when the cache is
    current and holds what the request reads, else None (the caller then computes the inputs from the run).

    ``request_of`` makes the :class:`~point2act.export.request.ExportRequest` from the cached inputs (an
    ``ExportOptions`` is resolved against the capture they record). The cache serves it when it holds the views at
    the request's support resolution and, where grasps are planned on the fused surface, the depth renders; with
    ``channel_relevancy`` (a named channel's grasps), also what that channel's relevancy in the renders is
    computed from (:data:`FUSION_SECTION`)."""
    cached = load(config_path)
    if cached is None:
        return None
    request = request_of(cached)
    cfg = request.grasp_config
    if cached.inputs.field.views is not None and cached.support_downscale != max(1, int(cfg.region.support_downscale)):
        return None
    on_surface = request.grasps and cfg.surface.fuse_depth
    if on_surface and cached.inputs.depth_views is None:
        return None
    if on_surface and channel_relevancy and load_fusion_views(config_path) is None:
        return None
    return request, cached


def save_fusion_views(config_path: Path, key: List[List[Any]], views: FusionViews) -> Path:
    """Write :class:`~point2act.fusion.FusionViews` (:data:`FUSION_SECTION`) under the run's ``key``: what a named
    channel's relevancy in the views of the cached depth renders is drawn through
    (:class:`point2act.fusion.DeferredRelevancy`)."""
    meta = {"version": FUSION_VERSION, "sizes": [[int(h), int(w)] for h, w in views.sizes],
            "min_weight": float(views.min_weight)}
    arrs = {k: np.ascontiguousarray(getattr(views, k), dtype=np.float32)
            for k in ("means", "quats", "scales", "opacities", "viewmats", "Ks")}
    return cache_file.write_section(config_path, key, FUSION_SECTION, meta, arrs)


def load_fusion_views(config_path: Path) -> FusionViews | None:
    """The run's current cache's :class:`~point2act.fusion.FusionViews`, None when it holds none."""
    got = cache_file.read_section(config_path, FUSION_SECTION)
    if got is None or got[0].get("version") != FUSION_VERSION:
        return None
    meta, arrs = got
    return FusionViews(arrs["means"], arrs["quats"], arrs["scales"], arrs["opacities"], arrs["viewmats"], arrs["Ks"],
                       [list(s) for s in meta["sizes"]], float(meta["min_weight"]))


