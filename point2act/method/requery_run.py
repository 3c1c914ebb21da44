"""``point2act query``: refit a named relevancy channel of a trained run for new points, on frozen geometry
(:func:`query_run`), fitted to the answers the views' consensus keeps (:func:`fit_to_consensus`, which the
end of training runs too)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

from point2act.channels import (
    ChannelInfo,
    channel_role,
    check_name,
    save_channel,
)
from point2act.errors import Point2ActError
from point2act.losses import RELEVANCY_INIT_LOGIT, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT
from point2act.method.run_data import LoadedRun, Supervision, as_gaussians
from point2act.method.run_layer import latest_checkpoint, open_run
from point2act.method.supervision import (
    ChannelSupport,
    eval_views,
    supervision_of,
    views_of,
    weights_cache_of,
)
from point2act.requery.weights_torch import (
    QueryResult,
    checkpoint_key,
    subset,
)
from point2act.requery.fit_numpy import RefitOptions
from point2act.requery.fit_torch import FitSchedule, Objective, fit_relevancy


CONSENSUS_FIT = FitSchedule(steps=16, lr=1.0, lr_final=0.1)
"""The schedule of :func:`fit_to_consensus` at the end of training."""


def fit_to_consensus(gaussians, sup: Supervision, cache, downscale: int, schedule: FitSchedule = CONSENSUS_FIT):
    """Fit the relevancy to the answers the views' consensus keeps (:mod:`point2act.where.consensus`), on the
    frozen ``gaussians`` (the run's, or a model's): each training view's answers are cut to those its chosen
    place took (:meth:`point2act.method.answers.HeatmapStore.keeping`), so the field's most relevant region is
    the place the consensus chose and a wrong answer's place is not learned. A view that answered "not in view"
    keeps that; a view whose answers all went elsewhere supervises nothing. Where the consensus cannot be formed
    (no answer lands on the field's surface), every answer is fitted.

    ``sup``: what :func:`supervision_of` gives, or the training datamanager's
    (:meth:`~point2act.method.run_data.Supervision.of_datamanager`); ``cache``: the compositing weights of every
    training view at 1/``downscale`` resolution (:func:`weights_cache_of`); ``schedule``: the fit's Adam steps and
    step sizes. The loss is training's
    (:data:`~point2act.losses.RELEVANCY_LOSS_FORM`, :data:`~point2act.losses.RELEVANCY_POS_WEIGHT`, from
    :data:`~point2act.losses.RELEVANCY_INIT_LOGIT`). Returns the fit (:class:`point2act.requery.fit_torch.FitResult`), the
    weights of the fitted views and a summary of what was fitted (``answers_kept`` of ``answers``, ``views``)."""
    fit, sub, kept, _formed = _fit_kept(gaussians, sup, cache, downscale, schedule)
    return fit, sub, kept


def _fit_kept(gaussians, sup: Supervision, cache, downscale: int, schedule: FitSchedule,
              numpy_targets: bool = False):
    """:func:`fit_to_consensus`, and the consensus it kept the answers by with the views it was formed from
    (nerfstudio frame; ``(None, None)``: none formed). ``numpy_targets``: the heatmaps drawn by the numpy twins
    (``point2act query``'s targets on either path)."""
    from point2act.requery.from_cache import answer_count, kept_by_consensus

    g = as_gaussians(gaussians)
    heat = sup.heatmaps
    n_all = answer_count(heat)
    try:
        views = views_of(g, sup, subset(cache, sorted(heat)), downscale) + eval_views(g, sup, downscale)
    except ValueError:  # no answer lands on the field's surface: no views to form a consensus from
        views = None
    heat, rule, cons = kept_by_consensus(heat, views)
    fit, sub, kept = _fit_heatmaps(cache, heat, schedule, numpy_targets)
    return fit, sub, {"rule": rule, "answers": n_all, **kept}, (cons, views if cons is not None else None)


def _fit_heatmaps(cache, heat, schedule: FitSchedule, numpy_targets: bool):
    """The relevancy fitted to the answers ``heat`` on the views of ``cache`` that hold one: the fit, those views'
    weights, and how many answers and views it took."""
    from point2act.heatmap import resize_heatmap, shrink_heatmap

    sub = subset(cache, sorted(heat))
    if numpy_targets:
        targets = [shrink_heatmap(heat.array(int(v)), h, w) for v, (h, w) in zip(sub.view_ids, sub.sizes)]
    else:
        targets = [resize_heatmap(heat[int(v)].float(), h, w) for v, (h, w) in zip(sub.view_ids, sub.sizes)]
    fit = fit_relevancy(sub, targets, Objective(RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT, RELEVANCY_INIT_LOGIT),
                        schedule)
    from point2act.requery.from_cache import answer_count

    return fit, sub, {"answers_kept": answer_count(heat), "views": len(sub.view_ids)}


@dataclass(frozen=True)
class AnswerSource:
    """Where a re-query's answers come from: a points file, else a pointer asked the prompt on the capture."""

    prompt: str = ""
    """The new task ("" with a points file: the file's)."""
    points_file: Path | None = None
    """The answers as a points file (the training format)."""
    pointer: Any = None
    """The pointer (:class:`~point2act.pointing.config.PointerConfig`) that answers ``prompt`` when there is no
    points file; None: the run's datamanager's."""


@dataclass(frozen=True)
class Requery:
    """A re-query of a trained run: the channel it writes (its name and role), where its answers come from and how
    the relevancy is refitted to them (what ``point2act query`` and the viewer's panel ask for)."""

    name: str
    """The channel's name (:func:`point2act.channels.check_name`)."""
    source: AnswerSource
    """The answers: a points file, or a pointer asked the prompt."""
    role: str | None = None
    """The channel's role (None: from its name, :func:`point2act.channels.channel_role`)."""
    refit: RefitOptions = RefitOptions()
    """The refit's steps, step sizes, resolution and weight floor."""


def query_run(
    config_path: Path,
    query: Requery,
    loaded: LoadedRun | None = None,
    progress: bool = False,
) -> QueryResult:
    """Refit a named relevancy channel of a trained run for new points, on frozen geometry (``query``: the
    channel, its answers and the refit's options).

    1. The run is loaded (:func:`open_run`; ``loaded``: the caller's); its Gaussians are not changed.
    2. Points for the new prompt come from ``query.source`` (a points file or a pointer), through the training
       datamanager itself (same view matching, downscaling, undistortion and heatmaps as ``ns-train``).
    3. Each view's compositing weights are computed (:func:`weights_cache_of`).
    4. The logits are fitted with training's loss (:mod:`point2act.losses`) to the answers
       the views' consensus keeps (:func:`fit_to_consensus`), as ``query.refit`` says.
    5. The channel is saved as ``RUN/relevancy/NAME.npz`` (:mod:`point2act.channels`); the checkpoint is
       never written.
    6. With a points file, what the next query reads without torch is written to the run's cache where it is
       missing (:func:`ensure_query_caches`).
    """
    name, source, refit = query.name, query.source, query.refit
    prompt, points_file = source.prompt, source.points_file
    check_name(name)
    role = channel_role(name, query.role)
    if points_file is None and not prompt:
        raise Point2ActError("give --points-file, or --prompt with a pointer (--backend ...)")
    timings: Dict[str, float] = {}
    t0 = time.perf_counter()
    run = loaded if loaded is not None else open_run(config_path)
    timings["load_run"] = time.perf_counter() - t0
    t = time.perf_counter()
    sup = supervision_of(config_path, run, points_file, prompt, source.pointer)  # points in the training images
    if sup.points is None:
        raise Point2ActError("no points for the new prompt")
    prompt = prompt or sup.prompt
    timings["points_and_heatmaps"] = time.perf_counter() - t
    cache, _built, dt = weights_cache_of(run.gaussians, sup.cameras, refit.downscale, refit.min_weight,
                                         progress=progress)
    timings["weights_cache_build"] = dt
    t = time.perf_counter()
    fit, sub, kept, (cons, views) = _fit_kept(run.gaussians, sup, cache, refit.downscale,
                                              FitSchedule(refit.steps, refit.lr, refit.lr_final), numpy_targets=True)
    timings["fit"] = fit.seconds
    timings["consensus"] = time.perf_counter() - t - fit.seconds
    ckpt = checkpoint_key(latest_checkpoint(run))
    points = sup.points.to_dict() if sup.points is not None else None
    path = save_channel(config_path, ChannelInfo(name, prompt, role, points), fit.logits, ckpt,
                        extra={"steps": fit.steps, "final_loss": fit.losses[-1] if fit.losses else float("nan"),
                               "downscale": int(refit.downscale), "num_views": len(sub.view_ids),
                               "fitted_to": kept})
    if points_file is not None:  # what the next query of this run reads without torch
        t = time.perf_counter()
        ensure_query_caches(config_path, run, int(refit.downscale))
        timings["query_caches"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    # a points file's answers: the channel keeps them, and the export reads the same views of them
    known = ChannelSupport(name, cons, int(refit.downscale), float(refit.min_weight), views) \
        if cons is not None and points_file is not None else None
    return QueryResult(name, prompt, role, fit.logits, path, timings, len(sub.view_ids), int(fit.logits.numel()),
                       sub.nnz, fit.losses, known)


def ensure_query_caches(config_path: Path, run: LoadedRun, downscale: int) -> None:
    """Write what the torch-free query reads and the run's cache lacks: the ``query-dD`` section, and the export
    inputs with what the fusion views' weights are computed from (:func:`point2act.method.export_run.cache_own_inputs`). Quietly nothing
    where the run has no checkpoint or info to key them to, or is read-only."""
    from point2act.requery import from_cache
    from point2act.export import cached_inputs as export_cache
    from point2act.method.export_run import cache_own_inputs, save_fusion_views
    from point2act.method.requery_views import write_query_views
    from point2act.method.datamanager_info import key_of_run

    key = key_of_run(config_path, run)
    if key is None:
        return
    try:
        if export_cache.load(config_path) is None:
            cache_own_inputs(config_path, run, fusion=True)
        elif export_cache.load_fusion_views(config_path) is None:
            save_fusion_views(config_path, key, run)
    except OSError:
        return
    if from_cache.load(config_path, downscale) is None:
        write_query_views(config_path, run, key, downscale=downscale)
