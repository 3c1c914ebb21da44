"""The torch side of an export: a trained run's :class:`~point2act.export.inputs.RunInputs`
(:func:`run_inputs_of`), of which :func:`point2act.export.export_inputs` makes the inputs
:func:`point2act.export.export` builds the document from (:func:`export_doc`, :func:`export_run`), and the answer
to "where" for one of its fields (:func:`where`).

The run's own field alone is read from the run's cache while it is current (:mod:`point2act.export.cached_inputs`), and
written there when computed; named channels (``point2act query``'s) are read from the run each time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, NamedTuple, Tuple

from point2act import export as stages
from point2act.channels import channel_relevancy_of, load_channel
from point2act.export import (
    Answer,
    Channels,
    ExportInputs,
    ExportOptions,
    ExportRequest,
    Field,
    FieldLabel,
    RunInputs,
    SceneGaussians,
    export_inputs,
    grasps_path,
    resolve,
    write_grasps,
)
from point2act.export import cached_inputs as export_cache
from point2act.grasp import GraspConfig
from point2act.grasp.config import FUSION_MAX_PIXELS, FUSION_MAX_VIEWS
from point2act.method.run_data import LoadedRun
from point2act.fusion import DeferredRelevancy, DepthViews
from point2act.method.run_layer import (camera_centres, depth_views_of, frame_of_run, fusion_views_of, gaussian_arrays,
                                  open_run)
from point2act.method.supervision import SUPPORT_MIN_WEIGHT, ChannelSupport, own_views, supervised_views

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
    """The run's ``triangulated.ply`` (:data:`point2act.method.answers.TRIANGULATED_NAME`), None when it started
    from no triangulated cloud."""
    from point2act.method.answers import TRIANGULATED_NAME

    path = Path(config_path).parent / TRIANGULATED_NAME
    return path if path.is_file() else None


def random_start(config_path: Path, data: Path | None) -> bool:
    """Whether the run's capture is a nerfstudio transforms.json without a point cloud and the run did not start
    from a triangulated one (splatfacto then starts from random points): the capture of the run's info, else
    ``data`` (the one the run's config names). False when that cannot be told (another dataparser, a moved
    capture)."""
    from point2act.method.datamanager_info import run_data_dir

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
    :func:`point2act.method.answers.run_answers`), else its datamanager's."""
    from point2act.points import load_points_file

    prompt = run.prompt
    if not prompt:
        if answers is False:
            from point2act.method.answers import run_answers

            answers = run_answers(config_path, run.points_file)
        prompt = load_points_file(answers).prompt if answers else ""
    return prompt or run.task


def run_data(config_path: Path, run: LoadedRun | None = None) -> str | None:
    """The run's capture folder: its info's (:func:`point2act.method.datamanager_info.run_data_dir`), else ``run``'s or
    its config's datamanager's (None: none, or the run has moved away from it)."""
    from point2act.method.datamanager_info import run_data_dir

    data = run_data_dir(config_path)  # a current cached info: config.yml need not be loaded
    if data is False:
        if run is not None:
            data = str(run.data) if run.data is not None else None
        else:
            from point2act.checks.trained_run import check_run_config

            dm = check_run_config(config_path).pipeline.datamanager
            data = getattr(dm, "data", None) or getattr(getattr(dm, "dataparser", None), "data", None)
    return None if data is None else str(data)


def request_for_run(config_path: Path, options: ExportOptions = ExportOptions(),
                    channels: Channels = Channels()) -> ExportRequest:
    """``options`` resolved for the run at ``config_path`` (:func:`point2act.export.resolve`: its capture folder is
    where the frame file is looked up). ``point2act query``, ``point2act grasp`` and the viewer take the defaults."""
    return resolve(options, lambda: run_data(config_path), channels)


def _channel_field(config_path: Path, run: LoadedRun, name: str, cfg: GraspConfig, ctx: "_Context") -> Field:
    """A ``point2act query`` channel as an export reads it: its relevancy, and the supervised views of the points it
    was fitted to (or the consensus the refit formed on them, ``ctx.known``, where it is the one these views
    give: :meth:`ChannelSupport.fits`)."""
    rec = load_channel(config_path, name, ctx.num_gaussians)
    label = FieldLabel(name, rec.get("prompt", "") or "", rec.get("role", "grasp"))
    relevancy = channel_relevancy_of(rec)
    if not rec.get("points"):
        return Field(relevancy, None, f"channel {name!r} keeps no points", label=label)
    if ctx.known is not None and ctx.known.fits(name, cfg.region, ctx.live):
        return Field(relevancy, ctx.known.views, consensus=ctx.known.consensus, label=label)
    views, info = _channel_views(config_path, run, cfg.region, rec["points"])
    return Field(relevancy, views, info.get("reason", "") if views is None else "", label=label)


def _channel_views(config_path: Path, run: LoadedRun, region_config, points: Dict):
    """The supervised views of a channel's own points (``point2act query``'s record), as
    :func:`~point2act.method.supervision.supervised_views` gives them."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pf = Path(tmp) / "points.json"
        pf.write_text(json.dumps(points))
        return supervised_views(config_path, run, region_config, points_file=pf)


class _Context(NamedTuple):
    num_gaussians: int
    live: bool
    known: ChannelSupport | None


def own_field(config_path: Path, run: LoadedRun, cfg: GraspConfig, relevancy, weights=None) -> Field:
    """The run's trained relevancy (``relevancy`` [N], :func:`gaussian_arrays`') as an export reads it: with the
    supervised views of the answers the run keeps (:func:`~point2act.method.supervision.own_views`; ``weights``:
    compositing weights the caller has)."""
    answers, views, reason = own_views(config_path, run, cfg.region, weights=weights)
    return Field(relevancy, views, reason, label=FieldLabel(prompt=run_task(config_path, run, answers)))


def run_inputs_of(config_path: Path, run: LoadedRun, request: ExportRequest, live: bool = False,
                  known: ChannelSupport | None = None, weights=None) -> RunInputs:
    """The export inputs of the run at ``config_path`` for ``request``, as the run renders them: the run's
    Gaussians, the grasp field (the run's own, or ``request.channels.grasp``), the keypoint channels and the avoid
    channel, and the median-depth renders of the training views with the grasp field's relevancy when grasps are
    planned on them. ``live``: the run is still training (the viewer during ``ns-train``): the views' weights are
    computed, not cached. ``known``: the consensus ``point2act query``'s refit formed on a channel's answers;
    ``weights``: compositing weights of the run's Gaussians the caller has (the end-of-training fit's)."""
    cfg, ch = request.grasp_config, request.channels
    gaussians = SceneGaussians.of(gaussian_arrays(run.gaussians))
    ctx = _Context(gaussians.means.shape[0], live, known)
    fields: Dict[str, Field] = {}

    def field_of(name: str) -> Field:
        if name not in fields:
            fields[name] = _channel_field(config_path, run, name, cfg, ctx)
        return fields[name]

    field = field_of(ch.grasp) if ch.grasp else own_field(config_path, run, cfg, gaussians.relevancy, weights)
    keypoints = tuple((name, field if name == ch.grasp else field_of(name)) for name in dict.fromkeys(ch.keypoints))
    avoid = None
    if ch.avoid_channel:
        avoid = (field_of(ch.avoid_channel) if ch.avoid_channel in ch.keypoints else
                 Field(channel_relevancy_of(load_channel(config_path, ch.avoid_channel, ctx.num_gaussians)))).relevancy
    depth = None
    if request.grasps and cfg.surface.fuse_depth and field.label.role == "grasp":
        depth = (channel_depth_views(config_path, run, field.relevancy, live) if ch.grasp else
                 depth_views_of(run.gaussians, run.cameras, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, field.relevancy))
    prompt = run_task(config_path, run) if ch.grasp else field.label.prompt
    return RunInputs(gaussians, field, camera_centres(config_path, run), depth, prompt,
                     start_note(config_path, run.data), keypoints, avoid, Path(config_path))


def export_inputs_of(config_path: Path, run: LoadedRun, request: ExportRequest, live: bool = False,
                     known: ChannelSupport | None = None, weights=None) -> ExportInputs:
    """:func:`point2act.export.export_inputs` of :func:`run_inputs_of` (the same arguments), in the run's capture
    frame (:func:`~point2act.method.run_layer.frame_of_run`)."""
    return export_inputs(run_inputs_of(config_path, run, request, live, known, weights), frame_of_run(config_path, run))


def channel_depth_views(config_path: Path, run: LoadedRun, relevancy, live: bool = False) -> DepthViews:
    """The depth renders of the run's fusion views with a named channel's ``relevancy`` [N] drawn into them through
    the views' compositing weights where the grasp head reads it (:class:`point2act.fusion.DeferredRelevancy`),
    the one way every path does it: the renders' geometry and the views' Gaussians and cameras from the run's
    cache while it holds them (``live``: neither read), else computed here."""
    cached = None if live else export_cache.load(config_path)
    geometry = cached.inputs.depth_views if cached is not None else None
    if geometry is None:
        geometry = depth_views_of(run.gaussians, run.cameras, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, relevancy)
    views = None if live else export_cache.load_fusion_views(config_path)
    if views is None:
        views = fusion_views_of(run.gaussians, run.cameras, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, SUPPORT_MIN_WEIGHT)
    return dataclasses.replace(geometry, relevancy=DeferredRelevancy(views, geometry.alphas, relevancy))


def save_fusion_views(config_path: Path, key, run: LoadedRun) -> None:
    """Write what the fusion views' compositing weights above :data:`SUPPORT_MIN_WEIGHT` are computed from
    (:func:`~point2act.method.run_layer.fusion_views_of`) to the run's cache under ``key``."""
    export_cache.save_fusion_views(config_path, key, fusion_views_of(
        run.gaussians, run.cameras, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, SUPPORT_MIN_WEIGHT))


def cache_own_inputs(config_path: Path, run: LoadedRun, grasp_config: GraspConfig | None = None,
                     weights=None, fusion: bool = False) -> RunInputs | None:
    """The export inputs of the run's own field (all views and depth renders an export of it reads), written to
    the run's cache (:mod:`point2act.export.cached_inputs`; skipped quietly where the run is read-only) with the query's
    views at the support resolution (:func:`point2act.method.requery_views.write_query_views`: the torch-free
    ``point2act query``'s), and with ``fusion`` what the fusion views' compositing weights are computed from
    (:func:`save_fusion_views`, which a query's export reads). ``weights``:
    compositing weights of the run's Gaussians the caller has (the end-of-training fit's), which the views are
    formed from. None when the run has no checkpoint on disk to key them to."""
    from point2act.method.datamanager_info import key_of_run

    key = key_of_run(config_path, run)
    if key is None:
        return None
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    data = run_data(config_path, run)
    # the run's own field, its views at the config's resolution, and the depth renders whatever the config asks
    known = weights is not None and weights.meta.get("views") is not None
    inputs = run_inputs_of(config_path, run, ExportRequest(GraspConfig(region=cfg.region)), live=known,
                           weights=weights)
    from point2act import cache_file
    from point2act.method.requery_views import write_query_views

    try:
        with cache_file.one_write(config_path):  # the three sections in one write of the file, not three
            export_cache.save(config_path, key, export_cache.CachedInputs(inputs, data,
                                                                         max(1, int(cfg.region.support_downscale))))
            if fusion:
                save_fusion_views(config_path, key, run)
            write_query_views(config_path, run, key, downscale=max(1, int(cfg.region.support_downscale)))
    except OSError:
        return inputs
    return inputs


def where(config_path: Path, run: LoadedRun, request: ExportRequest | None = None, live: bool = False,
          known: ChannelSupport | None = None) -> Answer:
    """The answer to "where" for a loaded run (:func:`open_run`) and one of its relevancy fields: the action
    point, the region, the confidence and the candidates (:class:`point2act.export.Answer`, capture frame), as
    :func:`export_doc` answers it (:func:`point2act.export.answer` on :func:`export_inputs_of`), for ``request``
    (default :class:`~point2act.export.ExportRequest`'s; no grasps are planned).

    ``request.channels.grasp`` None: the run's trained relevancy, and the answers the run keeps
    (``RUN/points.json``); a name: that ``point2act query`` channel (``RUN/relevancy/NAME.pt``) and the points it
    was fitted to. Where there are no answers, or none lands on the field's surface, the relevancy peak of the
    cluster with the most relevancy mass is taken, and the answer's ``note`` says why. ``request.candidate``: the
    views' ``candidate``-th place."""
    request = dataclasses.replace(request if request is not None else ExportRequest(), grasps=False)
    inputs = export_inputs_of(config_path, run, request, live, known)
    return stages.answer(inputs, inputs.field, request.grasp_config, request.candidate)


def export_doc(config_path: Path, request: ExportRequest, loaded: LoadedRun | None = None, live: bool = False,
               known: ChannelSupport | None = None) -> Dict:
    """The grasps.json document of the run at ``config_path`` for ``request`` (:func:`point2act.export.export`, with
    ``timings_ms``): on the run's cache for its own field alone while it serves the request (the document
    ``point2act export`` builds from it without torch), else on :func:`export_inputs_of`, the own field's written
    to the cache. ``loaded``: the run when the caller has it; ``live``, ``known``: :func:`export_inputs_of`."""
    own_only = request.channels.own_field_only and not live
    if own_only:
        served = export_cache.serving(config_path, lambda _cached: request)
        if served is not None:
            return stages.export(request, export_inputs(served[1].inputs))
    run = loaded if loaded is not None else open_run(config_path)
    if own_only:
        inputs = cache_own_inputs(config_path, run, request.grasp_config, fusion=True)
        if inputs is not None:
            return stages.export(request, export_inputs(inputs, frame_of_run(config_path, run)))
    return stages.export(request, export_inputs_of(config_path, run, request, live, known))


def export_run(config_path: Path, request: ExportRequest, output: Path | None = None,
               loaded: LoadedRun | None = None, known: ChannelSupport | None = None) -> Tuple[Path, Dict]:
    """:func:`export_doc`, written to ``output`` (default: beside the run's config) with its stage timings beside it
    (:func:`point2act.export.write_grasps`). Returns the path and the document (with ``timings_ms``)."""
    out = export_doc(config_path, request, loaded, known=known)
    path = grasps_path(config_path, output)
    write_grasps(path, out)  # the stage timings beside it: the file is the same bytes on every export
    return path, out
