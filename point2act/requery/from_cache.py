"""``point2act query`` without torch: the refit of a named channel and its export from the run's cache alone.

What the query's supervision reads of a run is kept in the run's cache (:mod:`point2act.cache_file`) as a
``query-dD`` section (:class:`QueryViews`, one per fit resolution ``1/D``): each split's cameras as the points
mapping reads them (intrinsics before and after undistortion, distortion, sizes), the image keys and stored
sizes, the downscale factor and the blob sigma, the training views' view matrices and intrinsics at the fit's
resolution, the eval views' too with their median-depth maps, and the Gaussians (centres, unit rotations,
linear scales, opacities: what the training views' compositing weights are computed from). The torch side writes
it where it writes the run's export inputs (:func:`point2act.method.requery_views.write_query_views`) and on every
query that goes through torch.

:func:`query_from_cache` runs the query on it: the points file mapped into the training images
(:mod:`point2act.answer_points`), the views' consensus on the answered training views' compositing weights,
computed from the section's Gaussians and cameras (:func:`training_weights`; a view without answers is read by
neither the consensus nor the refit; 20-60 MB a run, so not kept) (:func:`answered_views`, :func:`point2act.where.consensus.consensus`), the answers it keeps drawn as heatmaps
(:func:`point2act.heatmap.heatmap_array`), the refit (:func:`point2act.requery.fit_numpy.fit_logits`), the channel saved
(:func:`point2act.channels.save_channel`), and its export on the cached export inputs and the fusion views'
weights (:mod:`point2act.export.cached_inputs`). It gives up (None) when a section it reads is missing or stale; the
caller then takes the torch path (:func:`point2act.method.requery_run.query_run`), which writes them. Both paths
run the same functions on the same arrays: the same channel and the same document. Plain numpy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from point2act import cache_file
from point2act.answer_points import ImageCameras, PointHeatmaps, eval_points, heatmaps_of, match_points_to_views, \
    points_in_images
from point2act.heatmap import sigma_px
from point2act.requery.fit_numpy import SUPPORT_MIN_WEIGHT, RefitOptions

VERSION = 3
"""Bumped whenever what a ``query-dD`` section holds, or how it is read, changes."""


def section_name(downscale: int) -> str:
    """The run-cache section of the query's views at 1/``downscale`` resolution."""
    return f"query-d{int(downscale)}"


def checkpoint_key(path: Path) -> Dict[str, Any]:
    """What identifies a checkpoint file (a channel records the one it was fitted on): name, size and the sha256 of
    its bytes (:func:`point2act.cache_file.file_stamp`, hashed once per process: a ``touch`` changes nothing)."""
    _path, size, sha = cache_file.file_stamp(Path(path))
    return {"file": Path(path).name, "size": int(size), "sha256": sha}


def camera_fingerprint(viewmats, Ks, sizes: Sequence[Tuple[int, int]]) -> str:
    """A short hash of the views' matrices and sizes (tensors or arrays; part of what a set of weights was computed for)."""
    h = hashlib.sha256()
    for t in (viewmats, Ks):
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        h.update(a.astype(np.float64).tobytes())
    h.update(np.asarray(sizes, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def answered_views(view_ids: Sequence[int], sizes: Sequence[Sequence[int]], cams: Tuple[np.ndarray, np.ndarray],
                   depths: Sequence[np.ndarray], store: PointHeatmaps, split: str) -> list:
    """Views as :func:`point2act.where.consensus.consensus` takes them: view ``view_ids[k]`` at size ``sizes[k]``
    (the fit's resolution) with its camera (``cams``: view matrices [C, 4, 4] and intrinsics [C, 3, 3] at that
    resolution, indexed by view id), median-depth map ``depths[k]``, and the answers and blob sigma of ``store``
    scaled from the training image to that resolution."""
    from point2act.where.consensus import ViewAnswers

    vms, Ks = cams
    views = []
    for vid, (h, w), depth in zip(view_ids, sizes, depths):
        vid = int(vid)
        H, W = store.sizes[vid]
        s = w / W
        views.append(ViewAnswers(np.asarray(vms[vid], dtype=np.float64), np.asarray(Ks[vid], dtype=np.float64),
                                 np.asarray(store.points[vid], dtype=np.float64).reshape(-1, 2) * s,
                                 sigma_px(H, W, store.sigma_frac) * s, depth, view_id=vid, split=split))
    return views


def depth_maps(weights, means: np.ndarray, vms: np.ndarray) -> List[np.ndarray]:
    """Each view's median-depth map (:func:`point2act.requery.fit_numpy.median_depth_csr`) from its stacked compositing weights
    (``weights``: :class:`~point2act.requery.fit_numpy.StackedWeights` or the torch cache, ``view_ids`` indexing ``vms``) and the
    Gaussians' centres ``means`` [N, 3] float64."""
    from point2act.requery.fit_numpy import median_depth_csr

    offs = weights.row_offsets()
    crow, col, val = (np.asarray(t.numpy() if hasattr(t, "numpy") else t)
                      for t in (weights.crow, weights.col, weights.val))
    crow = crow.astype(np.int64)  # col / val stay int32 / float32: the C++ op reads them as they are
    out = []
    for k, (vid, (h, w)) in enumerate(zip(weights.view_ids, weights.sizes)):
        vm = np.asarray(vms[int(vid)], dtype=np.float64)
        a, b = offs[k], offs[k + 1]
        e0, e1 = int(crow[a]), int(crow[b])
        # consensus.median_depth_map's bits in C++ (its crow may start past 0)
        out.append(median_depth_csr(crow[a : b + 1], col[e0:e1], val[e0:e1], means @ vm[2, :3] + vm[2, 3], h, w))
    return out


# ----------------------------------------------------------------------------------------------
# the section
# ----------------------------------------------------------------------------------------------
@dataclass
class SplitViews:
    """One split's cameras as the query reads them."""

    images: ImageCameras
    """The cameras as the points mapping reads them."""
    keys: List[str]
    """Image keys, in view order."""
    stored_sizes: List[Tuple[int, int]]
    """Stored image sizes ``(w, h)``."""
    viewmats: np.ndarray  # [C, 4, 4] float32
    """World-to-camera at the fit's resolution (through the run's camera optimizer for the training split)."""
    Ks: np.ndarray  # [C, 3, 3] float32
    """Intrinsics at the fit's resolution."""
    sizes: List[Tuple[int, int]]
    """``(H, W)`` at the fit's resolution."""
    depths: List[np.ndarray] | None = None
    """Median-depth maps at the fit's resolution (eval split only, weights above :data:`SUPPORT_MIN_WEIGHT`)."""


@dataclass
class QueryViews:
    """A ``query-dD`` section: what the query's supervision reads of a run at 1/``downscale`` resolution."""

    downscale: int
    """The fit's resolution divisor."""
    factor: int
    """The datamanager's downscale factor (stored images -> loaded images)."""
    sigma_frac: float
    """Blob sigma of the heatmaps (fraction of the image diagonal)."""
    train: SplitViews
    """The training split."""
    eval: SplitViews | None
    """The eval split (None: the run's info holds no eval cameras or keys)."""
    means: np.ndarray  # [N, 3] float32
    """The Gaussians' centres (nerfstudio frame)."""
    rasterize_mode: str
    """The run's rasterize mode (part of the weights' key)."""
    quats: np.ndarray  # [N, 4] float32
    """Their unit rotations (wxyz), as the renderers take them (:func:`point2act.method.run_layer.gaussian_tensors`)."""
    scales: np.ndarray  # [N, 3] float32
    """Their linear scales."""
    opacities: np.ndarray  # [N] float32
    """Their opacities in [0, 1]."""

    def weights_views(self, min_weight: float) -> Dict[str, Any]:
        """What the training views' weights at the weight floor ``min_weight`` are computed for (their ``meta["views"]``)."""
        return {"num_gaussians": int(self.means.shape[0]),
                "cameras": camera_fingerprint(self.train.viewmats, self.train.Ks, self.train.sizes),
                "downscale": int(self.downscale), "rasterize_mode": str(self.rasterize_mode),
                "min_weight": float(min_weight)}


def _split_arrays(prefix: str, split: SplitViews) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    im = split.images
    meta = {"keys": list(split.keys), "stored_sizes": [list(map(int, s)) for s in split.stored_sizes],
            "sizes": [list(map(int, s)) for s in split.sizes], "distortion": im.distortion is not None,
            "depths": split.depths is not None}
    arrs = {f"{prefix}K_raw": im.K_raw, f"{prefix}fisheye": im.fisheye, f"{prefix}K_final": im.K_final,
            f"{prefix}image_sizes": im.sizes, f"{prefix}viewmats": split.viewmats, f"{prefix}Ks": split.Ks}
    if im.distortion is not None:
        arrs[f"{prefix}distortion"] = im.distortion
    for k, d in enumerate(split.depths or ()):
        arrs[f"{prefix}depth{k}"] = np.asarray(d)
    return meta, arrs


def _split_of(prefix: str, meta: Dict[str, Any], arrs: Dict[str, np.ndarray]) -> SplitViews:
    images = ImageCameras(arrs[f"{prefix}K_raw"], arrs[f"{prefix}distortion"] if meta["distortion"] else None,
                          arrs[f"{prefix}fisheye"], arrs[f"{prefix}K_final"], arrs[f"{prefix}image_sizes"])
    depths = [arrs[f"{prefix}depth{k}"] for k in range(len(meta["sizes"]))] if meta["depths"] else None
    return SplitViews(images, list(meta["keys"]), [tuple(s) for s in meta["stored_sizes"]], arrs[f"{prefix}viewmats"],
                      arrs[f"{prefix}Ks"], [tuple(s) for s in meta["sizes"]], depths)


def save(config_path: Path, key: List[List[Any]], qv: QueryViews) -> Path:
    """Write ``qv`` as the run cache's ``query-dD`` section under the run's ``key``."""
    tmeta, arrs = _split_arrays("t_", qv.train)
    meta = {"version": VERSION, "downscale": int(qv.downscale), "factor": int(qv.factor),
            "sigma_frac": float(qv.sigma_frac), "rasterize_mode": str(qv.rasterize_mode), "train": tmeta,
            "eval": None}
    if qv.eval is not None:
        meta["eval"], earrs = _split_arrays("e_", qv.eval)
        arrs.update(earrs)
    for k in ("means", "quats", "scales", "opacities"):
        arrs[k] = np.asarray(getattr(qv, k), dtype=np.float32)
    return cache_file.write_section(config_path, key, section_name(qv.downscale), meta, arrs)


def load(config_path: Path, downscale: int) -> QueryViews | None:
    """The ``query-dD`` section of the run's current cache, None when it holds none."""
    got = cache_file.read_section(config_path, section_name(downscale))
    if got is None or got[0].get("version") != VERSION:
        return None
    meta, arrs = got
    ev = _split_of("e_", meta["eval"], arrs) if meta["eval"] is not None else None
    return QueryViews(int(meta["downscale"]), int(meta["factor"]), float(meta["sigma_frac"]),
                      _split_of("t_", meta["train"], arrs), ev, arrs["means"], str(meta["rasterize_mode"]),
                      arrs["quats"], arrs["scales"], arrs["opacities"])


def size_groups(sizes: Sequence[Tuple[int, int]]) -> List[Tuple[Tuple[int, int], List[int]]]:
    """Runs of consecutive views of one size ``(H, W)``, with their indices: the views one weights-kernel call
    takes together (:func:`training_weights`, and the torch path's :func:`point2act.requery.weights_torch.build_weights_cache`)."""
    groups: List[Tuple[Tuple[int, int], List[int]]] = []
    for k, hw in enumerate(sizes):
        if not groups or groups[-1][0] != tuple(hw):
            groups.append((tuple(hw), []))
        groups[-1][1].append(k)
    return groups


def training_weights(qv: QueryViews, min_weight: float, view_ids: Sequence[int] | None = None):
    """The compositing weights of the training views ``view_ids`` of ``qv`` (default: every one), in that order, at
    its resolution, above ``min_weight`` (:class:`~point2act.requery.fit_numpy.StackedWeights`), computed without
    torch (:func:`point2act.requery.fit_numpy.compositing_weights_views`, consecutive views of one size in one call):
    the bits of the torch path's :func:`point2act.requery.weights_torch.build_weights_cache` on the same Gaussians
    and cameras, each view's its own whichever views are computed with it."""
    from point2act.requery.fit_numpy import SplatArrays, StackedWeights, Views, compositing_weights_views

    t = qv.train
    ids = list(range(len(t.sizes))) if view_ids is None else [int(v) for v in view_ids]
    crows, cols, vals, off = [np.zeros(1, np.int64)], [], [], 0
    for (H, W), ks in size_groups([t.sizes[v] for v in ids]):
        vs = [ids[k] for k in ks]
        crow, col, val = compositing_weights_views(SplatArrays(qv.means, qv.quats, qv.scales, qv.opacities),
                                                   Views.one_size(t.viewmats[vs], t.Ks[vs], W, H), qv.rasterize_mode,
                                                   min_weight)
        crows.append(crow[1:] + off)
        off += int(crow[-1])
        cols.append(col)
        vals.append(val)
    sizes = [[int(t.sizes[v][0]), int(t.sizes[v][1])] for v in ids]

    def joined(parts: list, dtype) -> np.ndarray:  # one size (the usual capture): the kernel's array, not copied
        return parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else np.zeros(0, dtype))

    return StackedWeights(np.concatenate(crows), joined(cols, np.int32), joined(vals, np.float32),
                          int(qv.means.shape[0]), sizes, ids, {"views": qv.weights_views(min_weight)})


# ----------------------------------------------------------------------------------------------
# the query
# ----------------------------------------------------------------------------------------------
@dataclass
class Answers:
    """A points file's answers in a run's images: the training views' and the eval views' heatmaps."""

    prompt: str
    """The task: the prompt asked for, else the file's."""
    points: Dict[str, Any]
    """The points file as its record (:meth:`point2act.points.PointsFile.to_dict`)."""
    train: PointHeatmaps
    """Training view -> its answers."""
    eval: PointHeatmaps | None
    """Answered eval view -> its answers (None: none)."""


def answers_of(qv: QueryViews, points_file: Path, prompt: str = "") -> Answers:
    """The answers of ``points_file`` in the run's training and eval images, as
    :meth:`point2act.method.run_data.Supervision.from_info` maps them."""
    from point2act.points import load_points_file

    pf = load_points_file(points_file)
    t, e = qv.train, qv.eval
    ekeys, esizes = (e.keys, e.stored_sizes) if e is not None else ([], [])
    pts = match_points_to_views(pf, t.keys, t.stored_sizes, ekeys, esizes, qv.factor)
    train = heatmaps_of(points_in_images(pts, t.images, qv.factor), t.images, qv.sigma_frac)
    evals = None
    if e is not None and e.keys:
        evals = heatmaps_of(points_in_images(eval_points(pf, e.keys, e.stored_sizes), e.images, qv.factor),
                            e.images, qv.sigma_frac)
    return Answers(prompt or pf.prompt, pf.to_dict(), train, evals)


def supervised(qv: QueryViews, weights, answers: Answers) -> list:
    """The answered views (training views on ``weights``, then the answered eval views) the views' consensus is
    formed from, as :func:`point2act.method.supervision.views_of` and ``eval_views`` give them."""
    means = np.asarray(qv.means, dtype=np.float64)
    t = qv.train
    sub = weights.of_views(sorted(answers.train))
    views = answered_views(sub.view_ids, sub.sizes, (t.viewmats, t.Ks), depth_maps(sub, means, t.viewmats),
                           answers.train, "train")
    if answers.eval:
        e = qv.eval
        ids = sorted(answers.eval)
        views += answered_views(ids, [e.sizes[i] for i in ids], (e.viewmats, e.Ks), [e.depths[i] for i in ids],
                                answers.eval, "eval")
    return views


def answer_count(heat) -> int:
    """How many answers a store of them (``points``: view -> [P, 2]) holds."""
    return int(sum(len(p) for p in heat.points.values()))


def kept_by_consensus(heat, views: list | None):
    """The answers of ``heat`` (a :class:`~point2act.answer_points.PointHeatmaps` or
    :class:`~point2act.method.answers.HeatmapStore`) that the views' consensus over ``views`` keeps:
    ``(kept answers, rule, consensus)``; where no consensus can be formed (no views, or no answer lands on the
    field's surface), every answer, the rule ``"all answers"`` and None."""
    from point2act.where.consensus import consensus

    if views is None:
        return heat, "all answers", None
    try:
        cons = consensus(views)
    except ValueError:  # no answer lands on the field's surface: no consensus to keep answers by
        return heat, "all answers", None
    return heat.keeping(cons.best.answers.get("train", {})), "consensus", cons


def fit_kept(weights, heat, views: list | None, fit: RefitOptions):
    """The refit to the answers the views' consensus over ``views`` keeps (all of them where it cannot be formed):
    ``(LogitFit, fitted weights, kept summary, consensus | None)``, as
    :func:`point2act.method.requery_run.fit_to_consensus` fits them."""
    from point2act.heatmap import shrink_heatmap
    from point2act.requery.fit_numpy import RELEVANCY_INIT_LOGIT, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT, FitSchedule, \
        Objective, fit_logits

    n_all = answer_count(heat)
    heat, rule, cons = kept_by_consensus(heat, views)
    sub = weights.of_views(sorted(heat))
    targets = [shrink_heatmap(heat.array(int(v)), h, w) for v, (h, w) in zip(sub.view_ids, sub.sizes)]
    out = fit_logits(sub, targets, Objective(RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT, RELEVANCY_INIT_LOGIT),
                     FitSchedule(steps=fit.steps, lr=fit.lr, lr_final=fit.lr_final))
    kept = {"rule": rule, "answers": n_all, "answers_kept": answer_count(heat), "views": len(sub.view_ids)}
    return out, sub, kept, cons


@dataclass
class CachedQuery:
    """What :func:`query_from_cache` did."""

    name: str
    """The channel."""
    prompt: str
    """Its task."""
    role: str
    """grasp, place or avoid."""
    channel_path: Path
    """Where the channel was saved."""
    fit: Any
    """The :class:`~point2act.requery.fit_numpy.LogitFit`."""
    num_views: int
    """Views fitted."""
    nnz: int
    """Their weights."""
    timings_s: Dict[str, float]
    """Seconds per stage."""
    export: Tuple[Path, Dict[str, Any]] | None = None
    """``(path, document)`` of the channel's export, None when not asked."""


@dataclass(frozen=True)
class CachedRequest:
    """A torch-free query: the channel, its answers and what to export (the CLI's ``Query`` options)."""

    name: str
    """Channel name."""
    points_file: Path
    """The answers."""
    prompt: str = ""
    """The task ("" : the file's)."""
    role: str | None = None
    """The channel's role (None: from its name)."""
    fit: RefitOptions = RefitOptions()
    """The refit's options."""
    export: Any = None
    """:class:`~point2act.export.ExportOptions` of the channel's export; None: no export."""
    output: Path | None = None
    """Where that grasps.json goes (default: RUN/grasps_NAME.json)."""


def query_from_cache(config_path: Path, req: CachedRequest) -> CachedQuery | None:
    """``point2act query`` for a points file on the run's cache alone (see the module's docstring); None when a
    section it reads is missing or stale, or the export would read views the refit did not form (a fit resolution
    or weight floor other than the views' consensus's), and nothing was written."""
    from point2act.channels import channel_role, check_name
    from point2act.threads import follow_free_cores

    check_name(req.name)
    role = channel_role(req.name, req.role)
    t0 = time.perf_counter()
    if not cache_file.is_current(config_path):
        return None
    qv = load(config_path, req.fit.downscale)
    if qv is None:
        return None
    planned = None
    if req.export is not None:
        planned = _export_plan(config_path, req, role)
        if planned is None:
            return None
    t_load = time.perf_counter() - t0
    t = time.perf_counter()
    answers = answers_of(qv, req.points_file, req.prompt)
    t_points = time.perf_counter() - t
    follow_free_cores().update()  # the kernels below on the cores other programs leave free (point2act.threads)
    t = time.perf_counter()
    # the answered views' weights: the only ones the views' consensus and the refit read
    weights = training_weights(qv, req.fit.min_weight, sorted(answers.train))
    t_weights = time.perf_counter() - t
    t = time.perf_counter()
    views, reason = None, ""
    try:
        views = supervised(qv, weights, answers)
    except ValueError as e:
        reason = str(e)
    fit, sub, kept, cons = fit_kept(weights, answers.train, views, req.fit)
    timings = {"load_run": t_load, "points_and_heatmaps": t_points, "weights_cache_build": t_weights, "fit": fit.seconds,
               "consensus": time.perf_counter() - t - fit.seconds}
    path = _save(config_path, req, role, answers, (fit, sub, kept))
    timings["total"] = time.perf_counter() - t0
    out = CachedQuery(req.name, answers.prompt, role, path, fit, len(sub.view_ids), sub.nnz, timings)
    if planned is not None:
        follow_free_cores().update()
        out.export = _export(config_path, req, planned, (answers, views, reason, cons))
    return out


def _save(config_path: Path, req: CachedRequest, role: str, answers: Answers, fitted) -> Path:
    from point2act.channels import ChannelInfo, save_channel
    from point2act.checks.trained_run import latest_checkpoint_path

    fit, sub, kept = fitted
    key = cache_file.stored_key(config_path)
    ckpt = latest_checkpoint_path(Path(key[cache_file.CHECKPOINT_AT][0]).parent)
    return save_channel(config_path, ChannelInfo(req.name, answers.prompt, role, answers.points), fit.logits,
                        checkpoint_key(ckpt),
                        extra={"steps": fit.steps, "final_loss": fit.losses[-1] if fit.losses else float("nan"),
                               "downscale": int(req.fit.downscale), "num_views": len(sub.view_ids),
                               "fitted_to": kept})


def _export_plan(config_path: Path, req: CachedRequest, role: str):
    """``(request, cached inputs, fusion views)`` of the channel's export from the run's cache (the fusion views'
    Gaussians and cameras where its grasps are planned on the fused surface), None when the cache does not serve
    it."""
    from point2act.export import Channels, resolve
    from point2act.export import cached_inputs

    served = cached_inputs.serving(
        config_path, lambda cached: dataclasses.replace(
            resolve(req.export, lambda: cached.data), grasps=role == "grasp",
            channels=Channels(keypoints=(req.name,), grasp=req.name)),
        channel_relevancy=True)
    if served is None:
        return None
    request, cached = served
    region = request.grasp_config.region
    if req.fit.min_weight != SUPPORT_MIN_WEIGHT or req.fit.downscale != max(1, int(region.support_downscale)):
        return None  # the export's views are not the refit's: formed again, by the torch path
    fusion = cached_inputs.load_fusion_views(config_path) if request.grasps and request.grasp_config.surface.fuse_depth \
        else None
    return request, cached, fusion


def _export(config_path: Path, req: CachedRequest, planned, formed) -> Tuple[Path, Dict[str, Any]]:
    """The channel's export (:func:`point2act.method.export_run.run_inputs_of`'s inputs for it, from the cache, made
    the export's by :func:`point2act.export.export_inputs`)."""
    from point2act import export as stages
    from point2act.channels import channel_relevancy_of, load_channel
    from point2act.export import Field, FieldLabel, export_inputs, grasps_path, write_grasps
    from point2act.fusion import DeferredRelevancy

    request, cached, fusion = planned
    answers, views, reason, cons = formed
    own = cached.inputs
    rec = load_channel(config_path, req.name, own.gaussians.means.shape[0])
    relevancy = channel_relevancy_of(rec)
    label = FieldLabel(req.name, rec.get("prompt", "") or "", rec.get("role", "grasp"))
    if cons is not None:
        field = Field(relevancy, views, consensus=cons, label=label)
    else:
        field = Field(relevancy, views, reason if views is None else "", label=label)
    depth = own.depth_views
    if request.grasps and request.grasp_config.surface.fuse_depth and label.role == "grasp":
        depth = dataclasses.replace(depth, relevancy=DeferredRelevancy(fusion, depth.alphas, relevancy))
    else:
        depth = None
    inputs = dataclasses.replace(own, field=field, depth_views=depth, keypoints=((req.name, field),))
    doc = stages.export(request, export_inputs(inputs))
    output = req.output or (Path(config_path).resolve().parent / f"grasps_{req.name}.json")
    path = grasps_path(config_path, output)
    write_grasps(path, doc)
    return path, doc
