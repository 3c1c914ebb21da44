"""The answers a run was trained on, seen by the run's frozen Gaussians: the supervised views the views'
consensus reads (:func:`supervised_views`, :func:`support_of`, :func:`own_views`), the supervision of new
points (:func:`supervision_of`) and the compositing weights of every training view (:func:`weights_cache_of`,
kept in the run's cache, :mod:`point2act.cache_file`)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np

from point2act.export import (
    consensus_in_capture,
    places_in_capture,
)
from point2act.geometry import FrameTransform
from point2act.method.run_data import LoadedRun, Supervision, as_gaussians
from point2act.method.run_layer import frame_of_run, gaussian_tensors, support_views
from point2act.requery.weights_torch import build_weights_cache, camera_fingerprint, subset
from point2act.requery.fit_numpy import SUPPORT_MIN_WEIGHT  # noqa: F401  (the consensus's weights floor, imported from here too)
from point2act.render.splats import Splats
from point2act.splatting import Views


def views_of(gaussians, sup: Supervision, cache, downscale: int) -> list:
    """The supervised views as :func:`point2act.where.consensus.consensus` takes them (nerfstudio frame):
    each view of ``cache`` (compositing weights at 1/``downscale`` of the training images) with its
    answers (``sup``'s), blob sigma and median-depth surface at that resolution."""
    vms, Ks, _sizes = support_views(sup.cameras, downscale, gaussians)
    means = gaussian_tensors(gaussians)["means"].cpu().double().numpy()
    return _answered_views(cache, vms, Ks, means, sup.heatmaps, "train")


def _answered_views(cache, vms, Ks, means: np.ndarray, store, split: str) -> list:
    """Each view of the weights ``cache`` as a :class:`~point2act.where.consensus.ViewAnswers`: its camera
    (``vms`` / ``Ks`` [C, 4, 4] / [C, 3, 3] at the cache's resolution), the answers and blob sigma of ``store``
    (a heatmap store: ``sizes``, ``points``, ``sigma_frac``) scaled to that resolution, and the median-depth
    surface of the Gaussians ``means`` [N, 3] from the cache's compositing weights
    (:func:`point2act.requery.from_cache.answered_views`, which the torch-free query calls on the cached arrays)."""
    from point2act.requery.from_cache import answered_views, depth_maps

    vms_np, Ks_np = vms.cpu().double().numpy(), Ks.cpu().double().numpy()
    return answered_views(cache.view_ids, cache.sizes, (vms_np, Ks_np), depth_maps(cache, means, vms_np), store,
                          split)


@dataclass
class ChannelSupport:
    """The views' consensus that ``point2act query``'s refit formed on a channel's answers from a points file
    (:func:`point2act.method.requery_run.query_run`): the supervised views of the run's cached weights at
    1/``downscale`` resolution above ``min_weight``, the same views :func:`supervised_views` reads for the
    channel's points when ``downscale`` is the region's ``support_downscale`` and ``min_weight`` is
    :data:`SUPPORT_MIN_WEIGHT`. Then :func:`where` takes it for that channel rather than forming it again
    (``tests/e2e/test_one_answer.py``). A pointer's answers are formed again: the refit read them from the
    datamanager, the export reads them from the channel's record."""

    name: str
    """The channel."""
    consensus: Any
    """The :class:`~point2act.where.consensus.Consensus`, nerfstudio frame."""
    downscale: int
    """The resolution of the views' weights: 1/``downscale`` of the training images."""
    min_weight: float
    """The weights the views read: those above it."""
    views: list | None = None
    """The supervised views the consensus was formed from (nerfstudio frame): what the export's planning scene
    reads the answers from (:func:`point2act.export.scene.answered_matter`)."""

    def fits(self, channel: str | None, region_config, live: bool) -> bool:
        """Whether this is the consensus :func:`support_of` forms for ``channel``'s points (``live``: never)."""
        return (not live and channel == self.name and self.min_weight == SUPPORT_MIN_WEIGHT
                and self.downscale == max(1, int(region_config.support_downscale)))

    def in_capture(self, frame: FrameTransform):
        """``(Consensus in the capture frame, info)``, as :func:`support_of` returns them."""
        return places_in_capture(copy.deepcopy(self.consensus), frame), {}


def _channel_support(config_path: Path, run: LoadedRun, region_config, points: Dict[str, Any]):
    """The views' consensus on a named channel's own points (``point2act query``'s record): ``(Consensus | None,
    info)`` as :func:`support_of`."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pf = Path(tmp) / "points.json"
        pf.write_text(json.dumps(points))
        return support_of(config_path, run, region_config, points_file=pf)


def supervised_views(config_path: Path, run: LoadedRun, region_config, progress: bool = False,
                     points_file: Path | None = None, weights=None):
    """The supervised views of the run's own answers (:func:`views_of`): the points of ``points_file``
    (default: the run's, :func:`point2act.method.answers.run_answers`), and each supervised view's
    compositing weights of the run's frozen Gaussians at 1/``region_config.support_downscale`` resolution
    (:func:`weights_cache_of`: computed, or ``weights`` when the caller has them), which give the views'
    median-depth surfaces. Returns ``(views | None, info dict)``;
    ``None`` (with the reason in ``info``) when the run has no answers (trained without points), no
    supervised view, or a view that cannot be read."""
    from point2act.method.answers import ANSWERS_NAME, run_answers

    pf = Path(points_file) if points_file is not None else run_answers(config_path, run.points_file)
    if pf is None:
        return None, {"reason": f"the run has no answers to read the supervision from (no RUN/{ANSWERS_NAME}, "
                                "and no points file)"}
    sup = supervision_of(config_path, run, pf)
    if sup.points is None or not len(sup.heatmaps):
        return None, {"reason": "no supervised training views"}
    heat = sup.heatmaps
    ds = max(1, int(region_config.support_downscale))
    cache, built, dt = weights_cache_of(run.gaussians, sup.cameras, ds, SUPPORT_MIN_WEIGHT, built=weights,
                                        progress=progress)
    info = {"weights_cache_built": bool(built), "weights_seconds": round(dt, 2)}
    try:
        views = views_of(run.gaussians, sup, subset(cache, sorted(heat)), ds)

        views += eval_views(run.gaussians, sup, ds)  # the eval split's answers count too (their cameras are known)
    except ValueError as e:
        views, info = None, {**info, "reason": str(e)}
    return views, info


def support_of(config_path: Path, run: LoadedRun, region_config, progress: bool = False,
               points_file: Path | None = None):
    """The views' consensus on the run's own answers (or ``points_file``'s; :mod:`point2act.where.consensus`)
    in the capture frame, from :func:`supervised_views`.

    Returns ``(Consensus | None, info dict)``; ``None`` when there is nothing to read (see
    :func:`supervised_views`) or no answer lands on the field's surface, with the reason in ``info``."""
    t0 = time.perf_counter()
    views, info = supervised_views(config_path, run, region_config, progress, points_file)
    if views is None:
        return None, info
    try:
        cons = consensus_in_capture(views, frame_of_run(config_path, run))
    except ValueError as e:
        cons, info = None, {**info, "reason": str(e)}
    return cons, {**info, "seconds": round(time.perf_counter() - t0, 2)}


def own_views(config_path: Path, run: LoadedRun, region_config,
              weights=None) -> Tuple[Path | None, list | None, str]:
    """The run's own answers (:func:`point2act.method.answers.run_answers`: their points file, None when the run
    was trained without points) and their supervised views (:func:`supervised_views`; ``weights``: compositing
    weights the caller has, :func:`weights_cache_of`), or None with the reason there are none:
    ``(answers, views, reason)``."""
    from point2act.method.answers import run_answers

    answers = run_answers(config_path, run.points_file)
    if answers is None:
        return None, None, "the run has no answers to read the supervision from (trained without points)"
    views, info = supervised_views(config_path, run, region_config, points_file=answers, weights=weights)
    return answers, views, (info.get("reason", "") if views is None else "")


def supervision_datamanager(config, points_file: Path | None = None, prompt: str = "", pointer=None):
    """The run's datamanager (val mode: training images and cameras) with new points or a new prompt.

    With ``points_file`` the points come from it; else with ``prompt`` (and ``pointer``) the
    datamanager points on the capture exactly as before training. Neither: no supervision (only
    cameras, e.g. to compute the views' weights).
    """
    dm_cfg = copy.deepcopy(config.pipeline.datamanager)
    dm_cfg.points_file = Path(points_file) if points_file is not None else None
    dm_cfg.prompt = prompt or ""
    if pointer is not None:
        dm_cfg.pointer = pointer
    dm_cfg.pointer_output = None
    return dm_cfg.setup(device="cpu", test_mode="val")


def supervision_of(config_path: Path, run: LoadedRun, points_file: Path | None = None, prompt: str = "",
                   pointer=None) -> Supervision:
    """The :class:`~point2act.method.run_data.Supervision` of new points or a new prompt on the run: what
    :func:`supervision_datamanager` supervises with. For a points file, from the run's cached info when it
    matches ``run`` (the same points, heatmaps and cameras, no image decoded); else from the datamanager
    (with the run's ``config.yml`` when the run was read from its info)."""
    from point2act.method.datamanager_info import supervision_from_info

    if points_file is not None:
        sup = supervision_from_info(config_path, run, Path(points_file), prompt)
        if sup is not None:
            return sup
    config = run.config
    if config is None:  # read from the cached info (a pointer: the datamanager points on the capture)
        from point2act.checks.trained_run import check_run_config

        config = check_run_config(config_path)
    return Supervision.of_datamanager(supervision_datamanager(config, points_file, prompt, pointer))


def weights_cache_of(gaussians, cameras, downscale: int = 1, min_weight: float = 0.0, built=None,
                     progress: bool = False):
    """The compositing weights of ``gaussians`` (the run's, or a model) in every view of ``cameras`` at
    1/``downscale`` resolution, weights ``<= min_weight`` left out; (cache, built?, seconds). ``built``: such
    weights the caller has (the end-of-training fit's), taken instead of building them when they are of the same
    views, resolution, weight floor and Gaussians (their ``meta["views"]``). Not kept on disk: the run's cache
    keeps what they are computed from (:mod:`point2act.requery.from_cache`)."""
    t0 = time.perf_counter()
    g_run = as_gaussians(gaussians)
    vms, Ks, sizes = support_views(cameras, downscale, g_run)
    views = {
        "num_gaussians": g_run.num_points,
        "cameras": camera_fingerprint(vms, Ks, sizes),
        "downscale": int(downscale),
        "rasterize_mode": str(g_run.rasterize_mode),
        "min_weight": float(min_weight),
    }
    if built is not None and built.meta.get("views") == views:
        return built, False, time.perf_counter() - t0
    g = gaussian_tensors(g_run)
    splats = Splats(g["means"], g["quats"], g["scales"], g["opacities"])
    out = build_weights_cache(splats, Views(vms, Ks, sizes), list(range(len(sizes))), g_run.rasterize_mode,
                              min_weight, progress)
    out.meta["views"] = views
    return out, True, time.perf_counter() - t0


def eval_views(gaussians, sup: Supervision, downscale: int, min_weight: float = SUPPORT_MIN_WEIGHT) -> list:
    """The answered views of nerfstudio's eval split as :func:`point2act.where.consensus.consensus` takes them
    (split ``"eval"``, ``view_id`` the eval index): camera (as stored, no camera optimizer: nerfstudio does not
    optimise eval cameras), answers, blob sigma and the field's median-depth surface at 1/``downscale``
    resolution, from the compositing weights of the frozen ``gaussians`` (the run's, or a model's; computed here:
    a few views, not cached). ``sup``: what :func:`supervision_of` gives; [] when the eval split holds no
    answer (or the run's info holds no eval cameras)."""
    from point2act.requery.weights_torch import build_weights_cache

    cams, store = sup.eval_cameras, sup.eval_heatmaps
    if not store:
        return []

    run_g = as_gaussians(gaussians)
    vms, Ks, sizes = support_views(cams, downscale)
    ids = sorted(store)
    dev = run_g.device
    g = {k: v.to(dev) for k, v in gaussian_tensors(run_g).items()}
    splats = Splats(g["means"], g["quats"], g["scales"], g["opacities"])
    cache = build_weights_cache(splats, Views(vms[ids].to(dev), Ks[ids].to(dev), [sizes[i] for i in ids]), ids,
                                run_g.rasterize_mode, min_weight)
    return _answered_views(cache, vms, Ks, g["means"].cpu().double().numpy(), store, "eval")
