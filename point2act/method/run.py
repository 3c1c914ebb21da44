"""A trained point2act run on disk: load it, and the two things users do with it (export, re-query).

This is the run layer. It reads a run as a :class:`~point2act.method.runinfo.LoadedRun` (:func:`open_run`:
from ``RUN/run_info.pt`` and the checkpoint, else through nerfstudio's ``config.yml`` and latest checkpoint,
:func:`load_run`), its capture frame (:func:`run_frame`), and the Gaussians and the training views as plain
tensors (:func:`gaussian_tensors`, :func:`camera_views`).

:func:`where` answers "where" for a loaded run and a channel (the run's trained relevancy or a ``point2act
query`` channel): the views' consensus over the answers the run keeps. Every path calls it:
:func:`export_run` (``point2act export``, the exports of ``point2act query`` and ``point2act grasp``, keypoints
included) and the viewer panel (:func:`export_doc`). :func:`query_run` refits a channel
(:mod:`point2act.query`).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch

from point2act.channels import channel_relevancy_of, channel_role, check_name, load_channel, run_dir, save_channel
from point2act.errors import Point2ActError
from point2act.export import (
    Answer,
    answer_of_field,
    build_export,
    consensus_in_capture,
    finish_doc,
    grasp_options,
    gripper_from_options,
    places_in_capture,
    support_of_views,
    write_grasps,
)
from point2act.fusion import DepthViews, render_depth_views
from point2act.geometry import FrameTransform, viewmat_from_c2w
from point2act.grasp import GraspConfig
from point2act.grasp.config import FUSION_MAX_PIXELS, FUSION_MAX_VIEWS
from point2act.losses import RELEVANCY_INIT_LOGIT, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT
from point2act.method.runinfo import LoadedRun, Supervision, as_gaussians
from point2act.query import (
    CACHE_NAME,
    CACHE_VERSION,
    QueryResult,
    build_weights_cache,
    camera_fingerprint,
    checkpoint_key,
    load_or_build_cache,
    subset,
)
from point2act.relevancy_fit import fit_relevancy

def load_run(config_path: Path) -> Tuple[Any, Any]:
    """Load a trained point2act run (config.yml) through nerfstudio for inference: ``(TrainerConfig, Pipeline)``
    (:meth:`LoadedRun.of_pipeline` reads them as the run layer does)."""
    from point2act._nerfstudio import light_import
    from point2act.run_check import check_run_config

    with light_import():
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
    """A trained run for export and query. From the run's ``run_info.pt`` when it is current
    (:func:`point2act.method.runinfo.run_from_info`: the checkpoint's Gaussians and the stored cameras, no
    nerfstudio pipeline built, no image decoded); else through :func:`load_run`, and that file is written for
    the next time."""
    from point2act.method.runinfo import ensure_info, run_from_info

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
    """The Gaussians (a :class:`~point2act.method.runinfo.RunGaussians` or a model), detached, in the form the
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


def camera_views(cameras, downscale: int = 1, gaussians=None) -> Tuple[torch.Tensor, torch.Tensor, List[Tuple[int, int]]]:
    """World-to-camera ``viewmats`` [C, 4, 4], ``Ks`` [C, 3, 3] and sizes ``(H, W)`` of nerfstudio cameras,
    at ``1 / downscale`` of their resolution; with ``gaussians`` (a
    :class:`~point2act.method.runinfo.RunGaussians` or a model), on their device and through the run's camera
    optimizer (as training)."""
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
            if downscale > 1:
                cam.rescale_output_resolution(1.0 / downscale)
            c2w = g.camera_to_world(cam) if g is not None and g.camera_to_world is not None else cam.camera_to_worlds
            vms.append(viewmat_from_c2w(c2w.float())[0])
            Ks.append(cam.get_intrinsics_matrices()[0].to(dev, torch.float32))  # nerfstudio builds K on the CPU
            sizes.append((int(cam.height.item()), int(cam.width.item())))
    return torch.stack(vms), torch.stack(Ks), sizes


def depth_views_of(gaussians, cameras, max_views: int = FUSION_MAX_VIEWS, max_pixels: int | None = FUSION_MAX_PIXELS,
                   relevancy: np.ndarray | None = None) -> DepthViews:
    """Median depth of up to ``max_views`` evenly spaced training views (the grasp head's fused surface),
    each rendered at most ``max_pixels`` pixels (whole-factor downscale; ``None``: full resolution); with
    ``relevancy`` [N] (a channel's, in [0, 1]), the field's relevancy per pixel too (the target's surface)."""
    g = gaussian_tensors(gaussians)
    vms, Ks, sizes = camera_views(cameras)
    rel = None if relevancy is None else torch.as_tensor(np.asarray(relevancy), dtype=torch.float32,
                                                         device=g["means"].device)
    return render_depth_views(g["means"], g["quats"], g["scales"], g["opacities"],
                              vms.cpu().numpy(), Ks.cpu().numpy(), sizes, max_views, max_pixels, rel)


def views_of(gaussians, sup: Supervision, cache, downscale: int) -> list:
    """The supervised views as :func:`point2act.grasp.consensus.consensus` takes them (nerfstudio frame):
    each view of ``cache`` (compositing weights at 1/``downscale`` of the training images) with its
    answers (``sup``'s), blob sigma and median-depth surface at that resolution."""
    vms, Ks, _sizes = camera_views(sup.cameras, downscale, gaussians)
    means = gaussian_tensors(gaussians)["means"].cpu().double().numpy()
    return _answered_views(cache, vms, Ks, means, sup.heatmaps, "train")


def _answered_views(cache, vms, Ks, means: np.ndarray, store, split: str) -> list:
    """Each view of the weights ``cache`` as a :class:`~point2act.grasp.consensus.ViewAnswers`: its camera
    (``vms`` / ``Ks`` [C, 4, 4] / [C, 3, 3] at the cache's resolution), the answers and blob sigma of
    ``store`` (a heatmap store: ``sizes``, ``points``, ``sigma_frac``) scaled to that resolution, and the
    median-depth surface of the Gaussians ``means`` [N, 3] from the cache's compositing weights."""
    from point2act.grasp.consensus import ViewAnswers
    from point2act.heatmap import sigma_px
    from point2act.relevancy_fit import median_depth_csr

    offs = cache.row_offsets()
    crow, col, val = (np.asarray(t.numpy() if hasattr(t, "numpy") else t) for t in (cache.crow, cache.col, cache.val))
    crow = crow.astype(np.int64)  # col / val stay int32 / float32: the C++ op reads them as they are
    views = []
    for k, (vid, (h, w)) in enumerate(zip(cache.view_ids, cache.sizes)):
        vid = int(vid)
        H, W = store.sizes[vid]
        s = w / W
        vm = vms[vid].cpu().double().numpy()
        a, b = offs[k], offs[k + 1]
        e0, e1 = int(crow[a]), int(crow[b])
        # consensus.median_depth_map's bits in C++ (its crow may start past 0)
        depth = median_depth_csr(crow[a : b + 1], col[e0:e1], val[e0:e1], means @ vm[2, :3] + vm[2, 3], h, w)
        views.append(ViewAnswers(vm, Ks[vid].cpu().double().numpy(),
                                 np.asarray(store.points[vid], dtype=np.float64).reshape(-1, 2) * s,
                                 sigma_px(H, W, store.sigma_frac) * s, depth, view_id=vid, split=split))
    return views


SUPPORT_MIN_WEIGHT = 1e-3
"""The compositing weights the views' consensus reads: those above it (:func:`supervised_views`)."""


@dataclass
class ChannelSupport:
    """The views' consensus that ``point2act query``'s refit formed on a channel's answers from a points file
    (:func:`query_run`): the supervised views of the run's cached weights at 1/``downscale`` resolution above
    ``min_weight``, the same views :func:`supervised_views` reads for the channel's points when ``downscale`` is
    the region's ``support_downscale`` and ``min_weight`` is :data:`SUPPORT_MIN_WEIGHT`. Then :func:`where` takes
    it for that channel rather than forming it again (``tests/e2e/test_one_answer.py``). A pointer's answers are
    formed again: the refit read them from the datamanager, the export reads them from the channel's record."""

    name: str
    """The channel."""
    consensus: Any
    """The :class:`~point2act.grasp.consensus.Consensus`, nerfstudio frame."""
    downscale: int
    min_weight: float

    def fits(self, channel: str | None, region_config, live: bool) -> bool:
        """Whether this is the consensus :func:`support_of` forms for ``channel``'s points (``live``: never)."""
        return (not live and channel == self.name and self.min_weight == SUPPORT_MIN_WEIGHT
                and self.downscale == max(1, int(region_config.support_downscale)))

    def in_capture(self, frame: FrameTransform):
        """``(Consensus in the capture frame, info)``, as :func:`support_of` returns them."""
        return places_in_capture(copy.deepcopy(self.consensus), frame), {}


def _channel_support(config_path: Path, run: LoadedRun, region_config, points: Dict[str, Any], live: bool = False):
    """The views' consensus on a named channel's own points (``point2act query``'s record): ``(Consensus | None,
    info)`` as :func:`support_of`."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pf = Path(tmp) / "points.json"
        pf.write_text(json.dumps(points))
        return support_of(config_path, run, region_config, points_file=pf, live=live)


def supervised_views(config_path: Path, run: LoadedRun, region_config, progress: bool = False,
                     points_file: Path | None = None, live: bool = False, weights=None):
    """The supervised views of the run's own answers (:func:`views_of`): the points of ``points_file``
    (default: the run's, :func:`point2act.method.runinfo.run_answers`), and each supervised view's
    compositing weights of the run's frozen Gaussians at 1/``region_config.support_downscale`` resolution (the
    re-query weights cache, ``RUN/relevancy_cache.pt``, shared with ``point2act query`` at the same
    resolution; ``live``: a model still training, whose weights are computed and not cached), which give the
    views' median-depth surfaces. Returns ``(views | None, info dict)``;
    ``None`` (with the reason in ``info``) when the run has no answers (trained without points), no
    supervised view, or a view that cannot be read."""
    from point2act.method.runinfo import ANSWERS_NAME, run_answers

    pf = Path(points_file) if points_file is not None else run_answers(config_path, run.points_file)
    if pf is None:
        return None, {"reason": f"the run has no answers to read the supervision from (no RUN/{ANSWERS_NAME}, "
                                "and no points file)"}
    sup = supervision_of(config_path, run, pf)
    if sup.points is None or not len(sup.heatmaps):
        return None, {"reason": "no supervised training views"}
    heat = sup.heatmaps
    ds = max(1, int(region_config.support_downscale))
    cache, built, dt = weights_cache_of(config_path, run, run.gaussians, sup.cameras, ds, progress=progress,
                                        min_weight=SUPPORT_MIN_WEIGHT, background_save=True, cache=not live,
                                        built=weights)
    info = {"weights_cache_built": bool(built), "weights_seconds": round(dt, 2)}
    try:
        views = views_of(run.gaussians, sup, subset(cache, sorted(heat)), ds)

        views += eval_views(run.gaussians, sup, ds)  # the eval split's answers count too (their cameras are known)
    except ValueError as e:
        views, info = None, {**info, "reason": str(e)}
    finally:
        if getattr(cache, "saving", None) is not None:
            cache.saving.join()
    return views, info


def support_of(config_path: Path, run: LoadedRun, region_config, progress: bool = False,
               points_file: Path | None = None, live: bool = False):
    """The views' consensus on the run's own answers (or ``points_file``'s; :mod:`point2act.grasp.consensus`)
    in the capture frame, from :func:`supervised_views`.

    Returns ``(Consensus | None, info dict)``; ``None`` when there is nothing to read (see
    :func:`supervised_views`) or no answer lands on the field's surface, with the reason in ``info``."""
    t0 = time.perf_counter()
    views, info = supervised_views(config_path, run, region_config, progress, points_file, live)
    if views is None:
        return None, info
    try:
        cons = consensus_in_capture(views, frame_of_run(config_path, run))
    except ValueError as e:
        cons, info = None, {**info, "reason": str(e)}
    return cons, {**info, "seconds": round(time.perf_counter() - t0, 2)}


def own_views(config_path: Path, run: LoadedRun, region_config, live: bool = False,
              weights=None) -> Tuple[Path | None, list | None, str]:
    """The run's own answers (:func:`point2act.method.runinfo.run_answers`: their points file, None when the run
    was trained without points) and their supervised views (:func:`supervised_views`; ``weights``: compositing
    weights the caller has, :func:`weights_cache_of`), or None with the reason there are none:
    ``(answers, views, reason)``."""
    from point2act.method.runinfo import run_answers

    answers = run_answers(config_path, run.points_file)
    if answers is None:
        return None, None, "the run has no answers to read the supervision from (trained without points)"
    views, info = supervised_views(config_path, run, region_config, points_file=answers, live=live, weights=weights)
    return answers, views, (info.get("reason", "") if views is None else "")


# ----------------------------------------------------------------------------------------------
# export
# ----------------------------------------------------------------------------------------------
RANDOM_START_NOTE = ("this run started from random points (the capture has no point cloud, transforms.json has no "
                     "'ply_file_path'): some Gaussians stay in the air above plain surfaces, where no view tells them "
                     "from the table, and the grasp head sees them as obstacles; a capture with a point cloud "
                     "(COLMAP's sparse points, ns-process-data) reconstructs cleaner")
"""Added to grasps.json's ``warning`` when a run that started from random points gets no grasp on the target.
The benchmark's studio pan: 57-61 % of the opaque Gaussians within 25 cm of the target floated 1-10 cm above the
table; 15-22 % since random starts train under an opacity prior (``Point2ActModelConfig.opacity_reg``), 1 % where
a capture has a point cloud (docs/robustness.md §1)."""

TRIANGULATED_START_NOTE = ("this run started from the {n} points triangulated from the photos (the capture has no "
                           "point cloud; the run's triangulated.ply) and random Gaussians where the photos have no "
                           "texture to triangulate: some of those stay in the air above plain surfaces, and the "
                           "grasp head sees them as obstacles; a capture with a denser point cloud (COLMAP's sparse "
                           "points, a depth camera's frames) reconstructs cleaner")
"""The same note for a run that started from the cloud training triangulated (``triangulated.ply`` in the run)."""


def _ply_vertex_count(path: Path) -> int:
    """The vertex count in a PLY's header (-1 when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            for _ in range(64):
                line = fh.readline()
                if line.startswith(b"element vertex"):
                    return int(line.split()[2])
                if not line or line.strip() == b"end_header":
                    break
    except (OSError, ValueError, IndexError):
        pass
    return -1


def start_note(config_path: Path, data: Path | None) -> str:
    """What grasps.json's ``warning`` adds about the run's start when no grasp lands on the target: the
    triangulated start (:data:`TRIANGULATED_START_NOTE`, the run holds ``triangulated.ply``), the random start
    (:data:`RANDOM_START_NOTE`, :func:`random_start`), or nothing (the capture has a point cloud, or the start
    cannot be told)."""
    tri = _triangulated_start(config_path)
    if tri is not None:
        return TRIANGULATED_START_NOTE.format(n=max(_ply_vertex_count(tri), 0))
    return RANDOM_START_NOTE if random_start(config_path, data) else ""


def _triangulated_start(config_path: Path) -> Path | None:
    """The run's ``triangulated.ply`` (:data:`point2act.method.runinfo.TRIANGULATED_NAME`), None when it started
    from no triangulated cloud."""
    from point2act.method.runinfo import TRIANGULATED_NAME

    path = Path(config_path).parent / TRIANGULATED_NAME
    return path if path.is_file() else None


def random_start(config_path: Path, data: Path | None) -> bool:
    """Whether the run's capture is a nerfstudio transforms.json without a point cloud and the run did not start
    from a triangulated one (splatfacto then starts from random points): the capture of the run's info, else
    ``data`` (the one the run's config names). False when that cannot be told (another dataparser, a moved
    capture)."""
    from point2act.method.runinfo import run_data_dir

    if _triangulated_start(config_path) is not None:
        return False
    info_data = run_data_dir(config_path)
    if info_data is not False and info_data is not None:
        data = info_data
    if not data:
        return False
    path = Path(data)
    path = path if path.suffix == ".json" else path / "transforms.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "frames" in meta and "ply_file_path" not in meta


def run_task(config_path: Path, run: LoadedRun, answers: Path | None | bool = False) -> str:
    """The task a run was trained for: its prompt, else that of the answers it keeps (the run's own, not a
    points file edited since; ``answers``: their file when the caller has it,
    :func:`point2act.method.runinfo.run_answers`), else its datamanager's."""
    from point2act.points import load_points_file

    prompt = run.prompt
    if not prompt:
        if answers is False:
            from point2act.method.runinfo import run_answers

            answers = run_answers(config_path, run.points_file)
        prompt = load_points_file(answers).prompt if answers else ""
    return prompt or run.task


def where(
    config_path: Path,
    run: LoadedRun,
    channel: str | None = None,
    grasp_config: GraspConfig | None = None,
    candidate: int = 0,
    live: bool = False,
    arrays: Dict[str, np.ndarray] | None = None,
    known: ChannelSupport | None = None,
) -> Answer:
    """The answer to "where" for a loaded run (:func:`open_run`) and one of its relevancy channels: the action
    point, the region, the confidence and the candidates (:class:`point2act.export.Answer`, capture frame).

    ``channel`` None: the run's trained relevancy, and the answers the run keeps (``RUN/points.json``,
    :func:`point2act.method.runinfo.run_answers`); a name: that ``point2act query`` channel
    (``RUN/relevancy/NAME.pt``) and the points it was fitted to. The views' consensus over those answers
    (:func:`support_of`) chooses the place (:func:`point2act.export.answer_where`). Where there are no answers
    (a run trained without points, a channel that keeps none) or none lands on the field's surface, the
    relevancy peak of the cluster with the most relevancy mass is taken, and the answer's ``note`` says why.

    ``candidate``: the views' ``candidate``-th place instead of their first choice (needs a consensus).
    ``live``: the run is still training (the viewer during ``ns-train``): the views' weights are computed for the
    Gaussians as they are, not cached. ``arrays``: the run's :func:`gaussian_arrays` when the caller has them.
    ``known``: the consensus ``point2act query``'s refit formed on a channel's answers, taken for that channel
    where it is the one :func:`support_of` would form (:meth:`ChannelSupport.fits`).

    ``point2act query`` (its keypoints too), ``point2act grasp`` and the viewer's panel get their answer here;
    an export of the run's own field gets it from the same :func:`point2act.export.answer_of_field`, on the views
    its export inputs keep (:func:`export_doc`)."""
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    arrays = arrays if arrays is not None else gaussian_arrays(run.gaussians)
    n = arrays["means"].shape[0]
    if channel is None:
        answers, views, reason = own_views(config_path, run, cfg.region, live)
        relevancy, prompt, role = arrays["relevancy"], run_task(config_path, run, answers), "grasp"
        support, reason = support_of_views(views, frame_of_run(config_path, run), reason)
        info = {"reason": reason}
    else:
        rec = load_channel(config_path, channel, n)
        relevancy, prompt, role = channel_relevancy_of(rec), rec.get("prompt", "") or "", rec.get("role", "grasp")
        if rec.get("points") and known is not None and known.fits(channel, cfg.region, live):
            support, info = known.in_capture(frame_of_run(config_path, run))
        elif rec.get("points"):
            support, info = _channel_support(config_path, run, cfg.region, rec["points"], live)
        else:
            support, info = None, {"reason": f"channel {channel!r} keeps no points"}
    return answer_of_field(config_path, frame_of_run(config_path, run), arrays, relevancy, cfg, support,
                           info.get("reason", ""), candidate, channel, prompt, role)


def frame_file(load_config: Path, override: Path | None):
    """The frame file export uses: ``override``, else CAPTURE/point2act_frame.json of the run's capture."""
    from point2act.robot.calibrate import resolve_frame_file
    from point2act.run_check import check_run_config

    data = None
    if override is None:
        from point2act.method.runinfo import run_data_dir

        data = run_data_dir(load_config)  # a current RUN/run_info.pt: config.yml need not be loaded
        if data is False:
            config = check_run_config(load_config)
            dm = config.pipeline.datamanager
            data = getattr(dm, "data", None) or getattr(getattr(dm, "dataparser", None), "data", None)
        if data is not None and not Path(data).exists():
            data = None  # a run moved away from its capture: no frame file to find
    return resolve_frame_file(data, override)

def export_options(config_path: Path, gripper: Path | None = None, metres_per_unit: float | None = None,
                   pregrasp_distance: float | None = None, base_from_capture: Path | None = None,
                   num_grasps: int = 10, fuse_depth: bool = True) -> Tuple[GraspConfig, Callable[[Dict], Dict]]:
    """The grasp config and the finishing step of an export of the run at ``config_path``, as ``point2act
    export`` takes them from its options: the gripper (``gripper`` file or a Franka Panda hand) with the
    capture's frame file's scale (``base_from_capture``, else ``CAPTURE/point2act_frame.json``) unless
    ``metres_per_unit`` is given, and base-frame poses added when the frame file has ``base_from_capture``.
    ``point2act query`` and the viewer's Export take the defaults."""
    grip = gripper_from_options(gripper, metres_per_unit, pregrasp_distance)
    return grasp_options(grip, frame_file(config_path, base_from_capture), metres_per_unit, num_grasps, fuse_depth)


def export_doc(
    config_path: Path,
    grasp_config: GraspConfig | None = None,
    grasps: bool = True,
    channels: Sequence[str] = (),
    grasp_channel: str | None = None,
    avoid_channel: str | None = None,
    handover_direction: Sequence[float] | None = None,
    loaded: LoadedRun | None = None,
    finish: Callable[[Dict], Dict] | None = None,
    candidate: int = 0,
    live: bool = False,
    known: ChannelSupport | None = None,
) -> Dict:
    """The grasps.json document of a run (with ``timings_ms``, which :func:`point2act.export.write_grasps`
    writes beside the file): the answer of :func:`where` for ``grasp_channel`` (default: the run's trained
    relevancy; a "place" or "avoid" channel gives no grasps), grasps planned there, and ``keypoints``: the answer of
    :func:`where` for each of ``channels`` (``point2act query`` channels), so a channel that is also the grasp
    channel has the document's own action point.

    ``finish``: applied to the document last (e.g. base-frame poses). ``candidate``: plan on the views'
    ``candidate``-th place (grasps.json's ``candidates``, :mod:`point2act.grasp.consensus`). ``avoid_channel``:
    penalise grasps through it (default: the channel named "avoid" when it is among ``channels``). ``live``: the
    run is still training, ``known``: a refit's consensus on a channel's answers (:func:`where`).

    An export of the run's own field alone (no channels, no avoid channel or handover direction, not live) is
    built from the run's export inputs (:func:`export_inputs_of`, ``RUN/export_inputs.npz`` while current):
    the document ``point2act export`` builds from that file without torch."""
    grasp_config = grasp_config if grasp_config is not None else GraspConfig()
    if not channels and grasp_channel is None and avoid_channel is None and handover_direction is None and not live:
        # the run's own field: from its export inputs, the document point2act export builds without torch
        from point2act import export_inputs as ei

        doc = ei.current_doc(config_path, grasp_config, grasps, finish, candidate)
        if doc is not None:
            return doc
        loaded = loaded if loaded is not None else open_run(config_path)
        inputs = export_inputs_of(config_path, loaded, grasp_config, save=True)
        if inputs is not None:
            return ei.export_doc(config_path, inputs, grasp_config, grasps, finish, candidate)
    run = loaded if loaded is not None else open_run(config_path)
    frame = frame_of_run(config_path, run)
    cams = run.cameras
    centers = frame.to_capture(cams.camera_to_worlds[:, :3, 3].cpu().numpy())
    arrays = gaussian_arrays(run.gaussians)
    answer = where(config_path, run, grasp_channel, grasp_config, candidate, live, arrays, known)
    prompt = answer.prompt or (run_task(config_path, run) if grasp_channel else "")
    if grasp_channel:
        arrays = dict(arrays, relevancy=answer.relevancy)
        if answer.role != "grasp":  # a place or an avoid channel: no grasps
            grasps = False
    keypoints: Dict[str, Answer] = {}
    for name in dict.fromkeys(channels):
        keypoints[name] = answer if name == grasp_channel and not candidate else \
            where(config_path, run, name, grasp_config, live=live, arrays=arrays, known=known)
    if avoid_channel is None and "avoid" in channels:
        avoid_channel = "avoid"
    avoid = None
    if avoid_channel:
        avoid = keypoints[avoid_channel].relevancy if avoid_channel in keypoints else \
            channel_relevancy_of(load_channel(config_path, avoid_channel, arrays["means"].shape[0]))
    hand = np.asarray(handover_direction, dtype=np.float64) if handover_direction is not None else None
    views = None
    if grasps and grasp_config.surface.fuse_depth:
        views = depth_views_of(run.gaussians, cams, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, arrays["relevancy"])
    out = build_export(arrays, frame, prompt, grasp_config, grasps, centers, None,
                       keypoints=keypoints or None, avoid_relevancy=avoid, handover_direction=hand,
                       depth_views=views, answer=answer)
    return finish_doc(out, config_path, answer, grasps, start_note(config_path, run.data), finish)


def export_inputs_of(config_path: Path, run: LoadedRun, grasp_config: GraspConfig | None = None,
                     save: bool = False, weights=None):
    """What an export of the run's own field reads (:class:`point2act.export_inputs.ExportInputs`), computed from
    the run: the Gaussian arrays, the cameras' centres, the task and start note, the supervised views of the
    run's answers (:func:`own_views`) and the depth renders of the training views (:func:`depth_views_of`).
    ``save``: also written to ``RUN/export_inputs.npz`` (skipped quietly where the run is read-only);
    ``weights``: compositing weights of the run's Gaussians the caller has (:func:`weights_cache_of`). None when
    the run has no checkpoint on disk to key them to."""
    from point2act import export_inputs as ei
    from point2act.method.runinfo import run_data_dir
    from point2act.run_check import latest_checkpoint_path

    ckpt = latest_checkpoint_path(Path(run.checkpoint_dir)) if run.checkpoint_dir is not None else None
    if ckpt is None:
        return None
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    data = run_data_dir(config_path)
    data = (str(run.data) if run.data is not None else None) if data is False else data
    key = [ei.file_stamp(f) for f in ei.input_files(config_path, ckpt, run.points_file, data)]
    frame = frame_of_run(config_path, run)
    centers = frame.to_capture(run.cameras.camera_to_worlds[:, :3, 3].cpu().numpy())
    arrays = gaussian_arrays(run.gaussians)
    answers, views, reason = own_views(config_path, run, cfg.region, weights=weights)
    depth = depth_views_of(run.gaussians, run.cameras, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, arrays["relevancy"])
    inputs = ei.ExportInputs(arrays, centers, run_task(config_path, run, answers), start_note(config_path, run.data),
                             data, views, reason, max(1, int(cfg.region.support_downscale)), depth, key)
    if save:
        try:
            ei.save(config_path, inputs)
        except OSError:
            pass
    return inputs


def export_run(
    config_path: Path,
    output: Path | None = None,
    grasp_config: GraspConfig | None = None,
    grasps: bool = True,
    channels: Sequence[str] = (),
    grasp_channel: str | None = None,
    avoid_channel: str | None = None,
    handover_direction: Sequence[float] | None = None,
    loaded: LoadedRun | None = None,
    finish: Callable[[Dict], Dict] | None = None,
    candidate: int = 0,
    known: ChannelSupport | None = None,
) -> Tuple[Path, Dict]:
    """Load a run (or take ``loaded``), answer where (:func:`where`), plan grasps there and write ``grasps.json``
    atomically (default: beside the run's config), its stage timings beside it
    (:func:`point2act.export.write_grasps`): the document of :func:`export_doc`, whose arguments these are.
    Returns the path and the document (with ``timings_ms``)."""
    loaded = loaded if loaded is not None else open_run(config_path)
    out = export_doc(config_path, grasp_config, grasps, channels, grasp_channel, avoid_channel, handover_direction,
                     loaded, finish, candidate, known=known)
    if output is None:
        output = run_dir(config_path) / "grasps.json"
    write_grasps(output, out)  # the stage timings beside it: the file is the same bytes on every export
    return Path(output), out


# ----------------------------------------------------------------------------------------------
# re-query
# ----------------------------------------------------------------------------------------------
def supervision_datamanager(config, points_file: Path | None = None, prompt: str = "", pointer=None):
    """The run's datamanager (val mode: training images and cameras) with new points or a new prompt.

    With ``points_file`` the points come from it; else with ``prompt`` (and ``pointer``) the
    datamanager points on the capture exactly as before training. Neither: no supervision (only
    cameras, e.g. to build the weights cache).
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
    """The :class:`~point2act.method.runinfo.Supervision` of new points or a new prompt on the run: what
    :func:`supervision_datamanager` supervises with. For a points file, from the run's ``run_info.pt`` when it
    matches ``run`` (the same points, heatmaps and cameras, no image decoded); else from the datamanager
    (with the run's ``config.yml`` when the run was read from its info)."""
    from point2act.method.runinfo import supervision_from_info

    if points_file is not None:
        sup = supervision_from_info(config_path, run, Path(points_file), prompt)
        if sup is not None:
            return sup
    config = run.config
    if config is None:  # read from run_info.pt (a pointer: the datamanager points on the capture)
        from point2act.run_check import check_run_config

        config = check_run_config(config_path)
    return Supervision.of_datamanager(supervision_datamanager(config, points_file, prompt, pointer))


def weights_cache_of(config_path: Path | None, run: LoadedRun | None, gaussians, cameras, downscale: int = 1,
                     rebuild: bool = False, progress: bool = False, min_weight: float = 0.0,
                     background_save: bool = False, cache: bool = True, built=None):
    """The run's weights cache for all training views (``RUN/relevancy_cache.pt``) of ``gaussians`` (the run's,
    or a model); (cache, built?, seconds). ``cache`` False: the weights of ``gaussians`` as they are (a model
    still training; ``config_path`` and ``run`` may be None), built and neither read from nor written to the run.
    ``built``: such weights the caller has (the end-of-training fit's), taken instead of building them when they
    are of the same views, resolution, weight floor and Gaussians (their ``meta["views"]``)."""
    g_run = as_gaussians(gaussians)
    vms, Ks, sizes = camera_views(cameras, downscale, g_run)
    views = {
        "num_gaussians": g_run.num_points,
        "cameras": camera_fingerprint(vms, Ks, sizes),
        "downscale": int(downscale),
        "rasterize_mode": str(g_run.rasterize_mode),
        "min_weight": float(min_weight),
    }
    g = gaussian_tensors(g_run)

    def build():
        if built is not None and built.meta.get("views") == views:
            return built
        out = build_weights_cache(g["means"], g["quats"], g["scales"], g["opacities"], vms, Ks, sizes,
                                  list(range(len(sizes))), g_run.rasterize_mode, min_weight, progress)
        out.meta["views"] = views
        return out

    if not cache:
        t0 = time.perf_counter()
        return build(), True, time.perf_counter() - t0
    key = {"version": CACHE_VERSION, "checkpoint": checkpoint_key(latest_checkpoint(run)), **views}
    return load_or_build_cache(run_dir(config_path) / CACHE_NAME, key, build, rebuild, background_save)


def fit_to_consensus(gaussians, sup: Supervision, cache, downscale: int, steps: int = 16, lr: float = 1.0,
                     lr_final: float | None = 0.1):
    """Fit the relevancy to the answers the views' consensus keeps (:mod:`point2act.grasp.consensus`), on the
    frozen ``gaussians`` (the run's, or a model's): each training view's answers are cut to those its chosen
    place took (:meth:`point2act.method.runinfo.HeatmapStore.keeping`), so the field's most relevant region is
    the place the consensus chose and a wrong answer's place is not learned. A view that answered "not in view"
    keeps that; a view whose answers all went elsewhere supervises nothing. Where the consensus cannot be formed
    (no answer lands on the field's surface), every answer is fitted.

    ``sup``: what :func:`supervision_of` gives, or the training datamanager's
    (:meth:`~point2act.method.runinfo.Supervision.of_datamanager`); ``cache``: the compositing weights of every
    training view at 1/``downscale`` resolution (:func:`weights_cache_of`). The loss is training's
    (:data:`~point2act.losses.RELEVANCY_LOSS_FORM`, :data:`~point2act.losses.RELEVANCY_POS_WEIGHT`, from
    :data:`~point2act.losses.RELEVANCY_INIT_LOGIT`). Returns the fit (:class:`point2act.relevancy_fit.FitResult`), the
    weights of the fitted views and a summary of what was fitted (``answers_kept`` of ``answers``, ``views``)."""
    fit, sub, kept, _cons = _fit_kept(gaussians, sup, cache, downscale, steps, lr, lr_final)
    return fit, sub, kept


def _fit_kept(gaussians, sup: Supervision, cache, downscale: int, steps: int, lr: float, lr_final: float | None):
    """:func:`fit_to_consensus`, and the consensus it kept the answers by (nerfstudio frame; None: none formed)."""
    from point2act.grasp.consensus import consensus

    g = as_gaussians(gaussians)
    heat = sup.heatmaps
    n_all = int(sum(len(p) for p in heat.points.values()))
    cons = None
    try:
        views = views_of(g, sup, subset(cache, sorted(heat)), downscale) + eval_views(g, sup, downscale)
        cons = consensus(views)
        heat = heat.keeping(cons.best.answers.get("train", {}))
        rule = "consensus"
    except ValueError:  # no answer lands on the field's surface: no consensus to keep answers by
        rule = "all answers"
    fit, sub, kept = _fit_heatmaps(cache, heat, steps, lr, lr_final)
    return fit, sub, {"rule": rule, "answers": n_all, **kept}, cons


def _fit_heatmaps(cache, heat, steps: int, lr: float, lr_final: float | None):
    """The relevancy fitted to the answers ``heat`` on the views of ``cache`` that hold one: the fit, those views'
    weights, and how many answers and views it took."""
    from point2act.heatmap import resize_heatmap

    sub = subset(cache, sorted(heat))
    targets = [resize_heatmap(heat[int(v)].float(), h, w) for v, (h, w) in zip(sub.view_ids, sub.sizes)]
    fit = fit_relevancy(sub, targets, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT, RELEVANCY_INIT_LOGIT,
                        steps=steps, lr=lr, lr_final=lr_final)
    return fit, sub, {"answers_kept": int(sum(len(p) for p in heat.points.values())), "views": len(sub.view_ids)}


def query_run(
    config_path: Path,
    name: str,
    prompt: str = "",
    points_file: Path | None = None,
    pointer=None,
    role: str | None = None,
    steps: int = 16,
    lr: float = 1.0,
    lr_final: float | None = 0.1,
    downscale: int = 2,
    min_weight: float = SUPPORT_MIN_WEIGHT,
    rebuild_cache: bool = False,
    loaded: LoadedRun | None = None,
    progress: bool = False,
) -> QueryResult:
    """Refit a named relevancy channel of a trained run for new points, on frozen geometry.

    1. The run is loaded (:func:`open_run`); its Gaussians are not changed.
    2. Points for the new prompt come from a points file or a pointer, through the training
       datamanager itself (same view matching, downscaling, undistortion and heatmaps as ``ns-train``).
    3. Each view's compositing weights are computed once and cached beside the run (:func:`weights_cache_of`).
    4. The logits are fitted with training's loss (:mod:`point2act.losses`) to the answers
       the views' consensus keeps (:func:`fit_to_consensus`).
    5. The channel is saved as ``RUN/relevancy/NAME.pt`` (:mod:`point2act.channels`); the checkpoint is
       never written.
    """

    check_name(name)
    role = channel_role(name, role)
    if points_file is None and not prompt:
        raise Point2ActError("give --points-file, or --prompt with a pointer (--backend ...)")
    timings: Dict[str, float] = {}
    t0 = time.perf_counter()
    run = loaded if loaded is not None else open_run(config_path)
    timings["load_run"] = time.perf_counter() - t0
    t = time.perf_counter()
    sup = supervision_of(config_path, run, points_file, prompt, pointer)  # points mapped into the training images
    if sup.points is None:
        raise Point2ActError("no points for the new prompt")
    prompt = prompt or sup.prompt
    timings["points_and_heatmaps"] = time.perf_counter() - t
    cache, built, dt = weights_cache_of(config_path, run, run.gaussians, sup.cameras, downscale,
                                        rebuild_cache, progress, min_weight, background_save=True)
    timings["weights_cache_build" if built else "weights_cache_load"] = dt
    t = time.perf_counter()
    fit, sub, kept, cons = _fit_kept(run.gaussians, sup, cache, downscale, steps, lr, lr_final)
    timings["fit"] = fit.seconds
    timings["consensus"] = time.perf_counter() - t - fit.seconds
    ckpt = checkpoint_key(latest_checkpoint(run))
    points = sup.points.to_dict() if sup.points is not None else None
    path = save_channel(config_path, name, fit.logits, prompt, points, role, ckpt,
                        extra={"steps": fit.steps, "final_loss": fit.losses[-1] if fit.losses else float("nan"),
                               "downscale": int(downscale), "num_views": len(sub.view_ids), "fitted_to": kept})
    if getattr(cache, "saving", None) is not None:
        t = time.perf_counter()
        cache.saving.join()
        timings["weights_cache_write_wait"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    # a points file's answers: the channel keeps them, and the export reads the same views of them
    known = ChannelSupport(name, cons, int(downscale), float(min_weight)) \
        if cons is not None and points_file is not None else None
    return QueryResult(name, prompt, role, fit.logits, path, timings, len(sub.view_ids), int(fit.logits.numel()),
                       sub.nnz, fit.losses, known)


def eval_views(gaussians, sup: Supervision, downscale: int, min_weight: float = SUPPORT_MIN_WEIGHT) -> list:
    """The answered views of nerfstudio's eval split as :func:`point2act.grasp.consensus.consensus` takes them
    (split ``"eval"``, ``view_id`` the eval index): camera (as stored, no camera optimizer: nerfstudio does not
    optimise eval cameras), answers, blob sigma and the field's median-depth surface at 1/``downscale``
    resolution, from the compositing weights of the frozen ``gaussians`` (the run's, or a model's; computed here:
    a few views, not cached). ``sup``: what :func:`supervision_of` gives; [] when the eval split holds no
    answer (or the run's info holds no eval cameras)."""
    from point2act.query import build_weights_cache

    cams, store = sup.eval_cameras, sup.eval_heatmaps
    if not store:
        return []

    run_g = as_gaussians(gaussians)
    vms, Ks, sizes = camera_views(cams, downscale)
    ids = sorted(store)
    dev = run_g.device
    g = {k: v.to(dev) for k, v in gaussian_tensors(run_g).items()}
    cache = build_weights_cache(g["means"], g["quats"], g["scales"], g["opacities"], vms[ids].to(dev),
                                Ks[ids].to(dev), [sizes[i] for i in ids], ids, run_g.rasterize_mode,
                                min_weight)
    return _answered_views(cache, vms, Ks, g["means"].cpu().double().numpy(), store, "eval")
