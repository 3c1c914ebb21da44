"""``point2act`` command line: ``synth``, ``point``, ``check``, ``demo``, ``export``, ``query``, ``calibrate``,
``capture-from-robot``, ``grasp``.

Each subcommand is a dataclass whose fields are its options (tyro shows their docstrings as
help). Known input errors print one paragraph naming the file and the problem and exit with
status 2; set ``POINT2ACT_DEBUG=1`` (or ``--debug``) for the traceback.

Optional options are annotated ``Optional[X]``, not ``X | None``: tyro checks each default against its
annotation, and for ``X | None`` it imports typeguard to do so (0.08 s of every command's start;
``tests/test_cli_imports.py``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Tuple, Union

import tyro

from point2act.pointing.config import PointerConfig
from point2act.robot.commands import Calibrate, CaptureFromRobot


@dataclass
class Synth:
    """Write the procedural tabletop scene (the embedded default) as a nerfstudio capture."""

    out: Path = Path("outputs/synth")
    """Folder to write the scene to (transforms.json, images, depths, masks, ground truth, oracle points)."""
    seed: int = 0
    """Seed of the layout, cameras and oracle noise."""
    num_views: int = 24
    """Number of views on the hemisphere."""
    noise_px: float = 0.0
    """Oracle pointer: Gaussian pixel noise added to each point."""
    outlier_rate: float = 0.0
    """Oracle pointer: probability that a view's point lands on a distractor instead."""
    marker_size: float = 0.0
    """Side (metres) of an ArUco marker printed on the table, for `point2act calibrate`; 0: none."""
    capture_units_per_metre: float = 1.0
    """Write the capture in these units (e.g. 4: not metric, as a COLMAP scan), to try calibration."""

    def main(self) -> None:
        from point2act.synth import SynthConfig, generate_scene

        cfg = SynthConfig(seed=self.seed, num_views=self.num_views, noise_px=self.noise_px, outlier_rate=self.outlier_rate,
                          marker_size=self.marker_size, capture_units_per_metre=self.capture_units_per_metre)
        t0 = time.perf_counter()
        summary = generate_scene(self.out, cfg)
        print(f"wrote a {summary.num_views}-view synthetic scene to {self.out} in {time.perf_counter() - t0:.1f} s")
        c = ", ".join(f"{v:.4f}" for v in summary.target_centroid)
        print(f"target: {summary.target}, centroid [{c}] m; {len(summary.empty_views)} views where it is hidden")
        print(f"oracle points: {summary.points}")
        print(f"train: ns-train point2act --data {self.out} --pipeline.datamanager.points-file {summary.points}")


def export_options(command):
    """The :class:`point2act.export.ExportOptions` of a command (``export``, ``query``, ``grasp``): each of its
    fields the command has as an option, by name; the others keep their defaults. The one way every command
    builds them."""
    from point2act.export import ExportOptions

    return ExportOptions(**{f.name: getattr(command, f.name) for f in dataclasses.fields(ExportOptions)
                            if hasattr(command, f.name)})


@dataclass
class Export:
    """Export the action point, region and ranked grasps of a trained run as grasps.json (capture frame)."""

    load_config: Path
    """config.yml of a point2act run (written by ns-train)."""
    output: Optional[Path] = None
    """Where to write grasps.json (default: beside the run's config)."""
    num_grasps: int = 10
    """How many ranked grasps to keep (top-k after non-maximum suppression)."""
    gripper: Optional[Path] = None
    """Gripper description (JSON, see configs/franka_panda.json); default: a Franka Panda hand."""
    metres_per_unit: Optional[float] = None
    """Metres per capture unit (e.g. 0.12 for a COLMAP phone scan); overrides the gripper file's value."""
    grasps: bool = True
    """Plan grasps; --no-grasps writes only the action point and region."""
    fuse_depth: bool = True
    """Grasp on the surface fused (TSDF) from depth renders of the training views around the action
    point; --no-fuse-depth uses the Gaussian centres alone (faster, much noisier on short runs)."""
    channels: str = ""
    """Named relevancy channels (from `point2act query`) to export as keypoints, comma-separated
    (e.g. grasp,place,avoid; 'all': every channel of the run). A channel named avoid penalises grasps."""
    grasp_channel: Optional[str] = None
    """Named channel that drives the action point and grasps (default: the checkpoint's own)."""
    handover_direction: Union[None, Tuple[float, float, float]] = None  # None first: checked without typeguard
    """Direction towards the handover recipient (capture frame): with an avoid channel, each grasp
    gets the gripper rotation that turns the avoid region away from it."""
    base_from_capture: Optional[Path] = None
    """Frame file (`point2act calibrate` writes CAPTURE/point2act_frame.json, read by default): its
    metres_per_unit sets the gripper's scale, and with a base_from_capture each grasp also gets its
    pose in the robot's base frame (metres)."""
    pregrasp_distance: Optional[float] = None
    """Back-off of the pre-grasp pose along the approach axis, metres (default: the gripper file's, 0.10)."""
    candidate: int = 0
    """Plan on another of the places the views point at (grasps.json's ``candidates``, ranked by the views'
    votes; 0: their first choice)."""
    ply: Optional[Path] = None
    """Also write the Gaussians' centres as a PLY point cloud with relevancy, opacity and colour
    (capture frame; base frame in metres when a base_from_capture is known)."""
    format: Literal["json", "graspnet", "isaac", "ros2"] = "json"
    """json (grasps.json only), or also graspnet (GRASPS_graspnet.npy, a GraspGroup array), isaac
    (GRASPS_isaac.yaml, isaac_grasp) or ros2 (GRASPS_ros2/: PoseStamped YAML and rosbag2, moveit_msgs/Grasp
    YAML) beside grasps.json; in the base frame when a frame file has base_from_capture (docs/grasps-json.md)."""
    frame_id: Optional[str] = None
    """ROS frame_id of --format ros2 (default: base_link in the base frame, point2act_capture otherwise)."""

    def channels_of(self):
        """The channels these options read (:class:`point2act.export.Channels`)."""
        from point2act.export import Channels

        return Channels(tuple(_parse_channels(self.load_config, self.channels)), self.grasp_channel,
                        handover_direction=self.handover_direction)

    def main(self) -> None:
        from point2act.threads import follow_free_cores

        follow_free_cores()  # its kernels on the cores other programs leave free, sampled from here on
        from point2act.export import export_from_cache
        from point2act.robot.formats import check_format, write_format

        check_format(self.format, self.grasps)
        options, channels = export_options(self), self.channels_of()
        # the run's own field from the run's cache: no torch, no nerfstudio
        done = export_from_cache(self.load_config, options, self.output) \
            if channels.own_field_only and self.ply is None else None
        loaded = request = None
        if done is None:
            from point2act.method.export_run import export_run, request_for_run
            from point2act.method.run_layer import open_run

            request = request_for_run(self.load_config, options, channels)  # bad options: an error before work
            loaded = open_run(self.load_config)
            done = export_run(self.load_config, request, self.output, loaded)
        path, out = done
        print_export_summary(out, path)
        for p in write_format(out, self.format, path, frame_id=self.frame_id):
            print(f"wrote {p}")
        if self.ply is not None:
            print(f"wrote {_write_ply(self.ply, loaded, request.frame, self.grasp_channel, self.load_config)}")


def _write_ply(path: Path, loaded, frame: dict | None, channel: str | None, load_config: Path) -> Path:
    """The run's Gaussians as a relevancy point cloud (capture frame, or base frame when known)."""
    import torch

    from point2act.channels import channel_relevancy
    from point2act.export import Field, RunInputs, SceneGaussians, export_inputs
    from point2act.method.run_layer import gaussian_arrays, run_frame
    from point2act.robot.ply import write_relevancy_ply

    arrays = SceneGaussians.of(gaussian_arrays(loaded.gaussians))
    relevancy = arrays.relevancy
    if channel:
        relevancy = channel_relevancy(load_config, channel, len(relevancy))
    with torch.no_grad():
        colours = loaded.gaussians.colors().detach().clamp(0.0, 1.0).cpu().numpy()
    scene = export_inputs(RunInputs(arrays, Field(relevancy)), run_frame(loaded)).gaussians  # capture frame
    bfc = frame.get("base_from_capture") if frame is not None else None
    return write_relevancy_ply(path, scene.means, relevancy, scene.opacities, colours, base_from_capture=bfc)




def _parse_channels(load_config: Path, text: str) -> list:
    names = [c.strip() for c in (text or "").split(",") if c.strip()]
    if names == ["all"]:
        from point2act.channels import list_channels

        names = sorted(list_channels(load_config))
    return names


def print_export_summary(out: dict, path: Path) -> None:
    """A few lines on what an export found."""
    ap = ", ".join(f"{v:.4f}" for v in out["action_point"])
    print(f"action point (capture frame): [{ap}]")
    if "confidence" in out:
        cands = out.get("candidates") or []
        others = "; ".join(f"#{k} {100 * c['share']:.0f} %" for k, c in enumerate(cands[1:], start=1))
        print(f"confidence {out['confidence']:.2f}; {len(cands)} place(s) the views point at"
              + (f" (the chosen {100 * cands[0]['share']:.0f} %; {others}; --candidate K plans on another)" if others else ""))
    for name, kp in (out.get("keypoints") or {}).items():
        kap = ", ".join(f"{v:.4f}" for v in kp["action_point"])
        print(f"keypoint {name!r} ({kp.get('role')}): [{kap}]")
    if "grasps" in out:
        g = out["grasps"]
        if g:
            best = g[0]
            pos = ", ".join(f"{v:.4f}" for v in best["position"])
            flags = [w for k, w in (("on_target", "off the target"), ("clears_margin", "inside the collision margin"))
                     if best.get(k) is False]
            print(f"{len(g)} grasps; best: position [{pos}], width {best['width'] * 100:.1f} cm, score {best['score']:.3f}"
                  + (f" ({', '.join(flags)})" if flags else ""))
            if out.get("warning"):
                print(f"warning: {out['warning']}")
        else:
            print(out.get("warning") or "no grasps")  # the export's warning says "no grasps: why; try: ..."
    print(f"wrote {path}")


@dataclass
class Demo:
    """Synthetic scene -> ns-train point2act (short schedule) -> grasps.json, scored against ground truth."""

    out: Path = Path("outputs/demo")
    """Folder for the scene, the run and the export."""
    seed: int = 0
    """Seed of the synthetic scene."""
    iterations: int = 1000
    """Training iterations (the default finishes in a few minutes on a 2-core CPU)."""
    viewer: bool = False
    """Keep nerfstudio's viewer open during and after training."""

    def main(self) -> None:
        from point2act.demo import run_demo

        run_demo(self.out, seed=self.seed, iterations=self.iterations, viewer=self.viewer)


@dataclass
class Point:
    """Put task points on every view of a capture with an MLLM (Molmo, Molmo2, Qwen-VL, an
    OpenAI-compatible server) or the synthetic oracle, and write a points file for
    --pipeline.datamanager.points-file. Answers are cached: a rerun does not query again."""

    data: Path
    """Capture folder (with transforms.json, or an images/ folder), or its transforms.json."""
    prompt: str
    """The task, passed to the model unchanged: 'where to grasp to pour', 'I'm thirsty', ..."""
    output: Path = Path("points.json")
    """Points file to write (atomically); keys are the image paths of transforms.json, points are
    in pixels of the stored images."""
    quiet: bool = False
    """No progress bar and no per-view log lines."""
    pointer: tyro.conf.OmitArgPrefixes[PointerConfig] = field(default_factory=PointerConfig)
    """Pointer options."""

    def main(self) -> None:
        import logging

        from point2act.pointing.run import CaptureViews, capture_images, point_capture

        if not self.quiet:
            try:
                from rich.logging import RichHandler

                handler: logging.Handler = RichHandler(show_path=False, log_time_format="[%X]")
            except ImportError:  # pragma: no cover
                handler = logging.StreamHandler()
            log = logging.getLogger("point2act.pointing")
            log.setLevel(logging.INFO)
            log.addHandler(handler)
        data_dir, images = capture_images(self.data)
        t0 = time.perf_counter()
        if self.pointer.backend == "click":
            from point2act.pointing.click_server import ClickServer

            server = ClickServer(images, self.prompt, self.output)
            print(f"click on the target in each view at {server.url} (this machine only), then press Save")
            out = server.wait()
            n_pos = sum(1 for v in out["points"].values() if v)
            print(f"{len(out['points'])} views answered: {n_pos} with points ({time.perf_counter() - t0:.0f} s)")
            print(f"wrote {self.output}")
            return
        out = point_capture(
            self.pointer, CaptureViews(data_dir, images), self.prompt, output=self.output, progress=not self.quiet
        )
        pts = out["points"]
        md = out["metadata"]
        n_pos = sum(1 for v in pts.values() if v)
        print(
            f"{len(images)} views: {n_pos} with points, {len(pts) - n_pos} with none"
            + (f", {len(md['parse_errors'])} unparseable" if md["parse_errors"] else "")
            + f" ({time.perf_counter() - t0:.2f} s)"
        )
        if "cache" in md:
            c = md["cache"]
            print(f"answer cache {c['dir']}: {c['hits']} hits, {c['misses']} misses, {c['corrupt']} corrupt")
        if pts and not n_pos:
            print("warning: no view has a point; check the prompt and the model's answers", file=sys.stderr)
        print(f"wrote {self.output}")


@dataclass
class Query:
    """Re-query a trained run: points for a new prompt (points file or pointer) refit the relevancy
    channel alone on the frozen Gaussians, in about a second; saved as a named channel beside the run
    (RUN/relevancy/NAME.npz, the checkpoint untouched) and exported as RUN/grasps_NAME.json. With a points
    file and the run's cache current (written by training, and again by a query that finds it stale) it runs
    without torch."""

    load_config: Path
    """config.yml of a point2act run (written by ns-train)."""
    prompt: str = ""
    """The new task. With no points file the pointer (--backend ...) points on the capture for it."""
    points_file: Optional[Path] = None
    """Points file for the new prompt (same format as for training)."""
    name: str = "query"
    """Channel name; 'grasp', 'place' and 'avoid' also set the role (see --role)."""
    role: Optional[str] = None
    """grasp | place | avoid (default: the name if it is one of these, else grasp). A place channel
    exports a place point and region, no grasps; an avoid channel is exported as a region."""
    steps: int = 16
    """Optimizer steps of the refit (Adam, full batch)."""
    lr: float = 1.0
    """Learning rate of the refit's first step."""
    lr_final: float = 0.1
    """Learning rate of its last step (cosine decay from --lr)."""
    downscale: int = 2
    """Fit at 1/downscale of the training resolution (targets area-averaged as in the training loss;
    4x fewer pixels at 2), each view at most 320x240 (a larger divisor where it would hold more)."""
    min_weight: float = 1e-3
    """Compositing weights at or below this are left out of the fit (0: exact renders)."""
    rebuild_cache: bool = False
    """Take the torch path (the run's nerfstudio pipeline) even where the run's cache serves the query, and
    write what the cache lacks."""
    export: bool = True
    """Also write grasps.json for the new channel (RUN/grasps_NAME.json, or --output)."""
    output: Optional[Path] = None
    """Where to write that grasps.json."""
    num_grasps: int = 10
    """How many ranked grasps to keep."""
    gripper: Optional[Path] = None
    """Gripper description (JSON); default: a Franka Panda hand."""
    metres_per_unit: Optional[float] = None
    """Metres per capture unit; overrides the gripper file's value."""
    pointer: tyro.conf.OmitArgPrefixes[PointerConfig] = field(default_factory=PointerConfig)
    """Pointer options (used when no points file is given)."""

    def main(self) -> None:
        from point2act.threads import follow_free_cores

        follow_free_cores()  # its kernels on the cores other programs leave free, sampled from here on
        from point2act.errors import Point2ActError
        from point2act.export import Channels

        if self.points_file is None and not self.prompt:
            raise Point2ActError("give --points-file, or --prompt and a pointer (--backend ...)")
        # bad gripper input: an error before any work
        options = export_options(self)
        if self.points_file is not None and not self.rebuild_cache and self._from_cache(options):
            return
        from point2act.method.export_run import export_run, request_for_run
        from point2act.method.requery_run import AnswerSource, RefitOptions, Requery, query_run
        from point2act.method.run_layer import open_run

        request = request_for_run(self.load_config, options) if self.export else None
        loaded = open_run(self.load_config)
        res = query_run(
            self.load_config,
            Requery(self.name,
                    AnswerSource(self.prompt, self.points_file, self.pointer if self.points_file is None else None),
                    role=self.role,
                    refit=RefitOptions(self.steps, self.lr, self.lr_final, self.downscale, self.min_weight)),
            loaded=loaded, progress=True,
        )
        t = res.timings_s
        cache = "weights computed in %.2f s" % t["weights_cache_build"]
        print(f"channel {res.name!r} ({res.role}), prompt {res.prompt!r}: {res.num_views} views, "
              f"{res.num_gaussians} Gaussians, {res.nnz} weights; {cache}; fit {t['fit']:.2f} s "
              f"({len(res.losses)} steps, loss {res.losses[0]:.4f} -> {res.losses[-1]:.4f})")
        print(f"wrote {res.channel_path}")
        if request is None:
            return
        output = self.output or (res.channel_path.parent.parent / f"grasps_{res.name}.json")
        # the channel's answer takes the consensus the refit formed on its answers (run.ChannelSupport)
        request = dataclasses.replace(request, grasps=res.role == "grasp",
                                      channels=Channels(keypoints=(res.name,), grasp=res.name))
        path, out = export_run(self.load_config, request, output, loaded, known=res.support)
        print_export_summary(out, path)

    def _from_cache(self, options) -> bool:
        """The query on the run's cache alone, without torch (:func:`point2act.requery.from_cache.query_from_cache`); False
        when the cache does not hold what it reads (then the torch path runs, and writes it)."""
        from point2act.requery.from_cache import CachedRequest, query_from_cache
        from point2act.requery.fit_numpy import RefitOptions

        fit = RefitOptions(self.steps, self.lr, self.lr_final, self.downscale, self.min_weight)
        res = query_from_cache(self.load_config, CachedRequest(self.name, self.points_file, self.prompt, self.role,
                                                               fit, options if self.export else None, self.output))
        if res is None:
            return False
        t, fit_res = res.timings_s, res.fit
        print(f"channel {res.name!r} ({res.role}), prompt {res.prompt!r}: {res.num_views} views, "
              f"{fit_res.logits.size} Gaussians, {res.nnz} weights computed in {t['weights_cache_build']:.2f} s (no torch); fit {t['fit']:.2f} s "
              f"({len(fit_res.losses)} steps, loss {fit_res.losses[0]:.4f} -> {fit_res.losses[-1]:.4f})")
        print(f"wrote {res.channel_path}")
        if res.export is not None:
            print_export_summary(res.export[1], res.export[0])
        return True


@dataclass
class Grasp:
    """Capture -> grasps.json in one command: the pointer points on every view in the background while
    ns-train point2act reconstructs the scene (RGB), then relevancy is fitted on the frozen field from
    the points (about a second) and the grasps are exported. Pointing time hides behind training."""

    data: Path
    """Capture folder (with transforms.json)."""
    prompt: str
    """The task, e.g. 'where to grasp to pour'."""
    output: Optional[Path] = None
    """Where to write grasps.json (default: beside the run's config)."""
    max_num_iterations: Optional[int] = None
    """Training iterations (default: the method's default schedule)."""
    downscale_factor: Optional[int] = None
    """nerfstudio-data --downscale-factor (images_N/)."""
    output_dir: Path = Path("outputs")
    """Where ns-train writes the run."""
    num_grasps: int = 10
    """How many ranked grasps to keep."""
    gripper: Optional[Path] = None
    """Gripper description (JSON); default: a Franka Panda hand."""
    metres_per_unit: Optional[float] = None
    """Metres per capture unit (default: CAPTURE/point2act_frame.json's, else the gripper file's)."""
    pointer: tyro.conf.OmitArgPrefixes[PointerConfig] = field(default_factory=PointerConfig)
    """Pointer options."""

    def main(self) -> None:
        from point2act._nerfstudio import light_import
        from point2act.export.request import resolve

        with light_import():  # nerfstudio's trainer without torch.compile's and torchvision's imports
            from point2act.method.pipelined import capture_to_grasps
            from point2act.method.train import registered_config
            from point2act.method.trainer import Point2ActTrainer  # noqa: F401

        grasp_config = resolve(export_options(self), lambda: self.data).grasp_config  # bad options: before work
        config = registered_config("point2act")
        config.output_dir = self.output_dir
        config.vis = "tensorboard"
        if self.max_num_iterations is not None:
            config.max_num_iterations = self.max_num_iterations
        config.steps_per_save = config.max_num_iterations
        config.pipeline.datamanager.data = self.data
        config.pipeline.datamanager.dataparser.data = self.data
        if self.downscale_factor is not None:
            config.pipeline.datamanager.dataparser.downscale_factor = self.downscale_factor
        config.set_timestamp()
        r = capture_to_grasps(config, self.pointer, self.prompt, self.output, grasp_config)
        t = r.timings_s
        print(f"pointing {t['pointing']:.1f} s (in the background), training {t['training']:.1f} s, waited "
              f"{t['pointing_wait']:.1f} s for the pointer, refit {t['refit']:.1f} s, export {t['export']:.1f} s: "
              f"{t['total']:.1f} s in all ({t['sequential_s']:.1f} s one after the other)")
        print_export_summary(r.grasps, r.grasps_path)


@dataclass
class Check:
    """Check a capture (transforms.json, poses, intrinsics, every image) and optionally a points
    file against it, as `ns-train point2act` will read them; prints the first problem (file, entry,
    fix) and exits 2, or a summary."""

    data: Path
    """Capture folder (with transforms.json), or its transforms.json."""
    points_file: Optional[Path] = None
    """Points file to check against the capture's image list and image sizes."""
    downscale_factor: Optional[int] = None
    """The --downscale-factor you train with: images are then read from images_N/ as nerfstudio does."""

    def main(self) -> None:
        from point2act.checks.capture import validate_capture
        from point2act.points import load_points_file

        s = validate_capture(self.data, downscale_factor=self.downscale_factor)
        print(f"{s.transforms}: {len(s.keys)} frames, {s.images_checked} images decoded ({s.seconds:.2f} s): ok")
        if self.points_file is not None:
            pf = load_points_file(self.points_file)
            pf.validate_against(s.sizes, tolerance_px=float(self.downscale_factor or 1))
            n_pos = sum(1 for v in pf.points.values() if v)
            print(f"{self.points_file}: {len(pf.points)} views ({n_pos} with points, {len(pf.points) - n_pos} "
                  f"'not in view'), prompt {pf.prompt!r}: ok")


@dataclass
class Build:
    """Build point2act's C++ CPU kernels for this machine (make's setup runs it after installing); a run on a
    machine without them builds them on first use instead."""

    def main(self) -> None:
        from point2act.kernels import build_all

        for line in build_all():
            print(line)


Commands = tyro.conf.OmitSubcommandPrefixes[
    tyro.extras.subcommand_type_from_defaults(
        {
            "synth": Synth(),
            "export": Export(load_config=Path("config.yml")),
            "demo": Demo(),
            "point": Point(data=tyro.MISSING, prompt=tyro.MISSING),  # type: ignore[arg-type]
            "query": Query(load_config=tyro.MISSING),  # type: ignore[arg-type]
            "check": Check(data=tyro.MISSING),  # type: ignore[arg-type]
            "calibrate": Calibrate(data=tyro.MISSING),  # type: ignore[arg-type]
            "capture-from-robot": CaptureFromRobot(images=tyro.MISSING, robot_poses=tyro.MISSING,  # type: ignore[arg-type]
                                                   camera_in_flange=tyro.MISSING, intrinsics=tyro.MISSING),
            "grasp": Grasp(data=tyro.MISSING, prompt=tyro.MISSING),  # type: ignore[arg-type]
            "build": Build(),
        },
        descriptions={name: " ".join((cls.__doc__ or "").split()) for name, cls in
                      (("synth", Synth), ("export", Export), ("demo", Demo), ("point", Point), ("query", Query), ("check", Check),
                       ("calibrate", Calibrate), ("capture-from-robot", CaptureFromRobot), ("grasp", Grasp),
                       ("build", Build))},
    )
]


def _known_errors() -> tuple:
    from point2act.errors import Point2ActError

    return (Point2ActError, FileNotFoundError)


def entrypoint(argv: list | None = None) -> None:
    """Console script ``point2act``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("POINT2ACT_DEBUG", "") not in ("", "0")
    if "--debug" in argv:
        argv.remove("--debug")
        debug = True
    cmd = tyro.cli(Commands, args=argv, description="point2act: where to act in 3D, from posed photos and a task.")
    try:
        cmd.main()
    except _known_errors() as e:
        if debug:
            raise
        print(f"point2act: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    """Console script ``point2act``: :func:`entrypoint`, then :func:`end_process` once the command has returned."""
    entrypoint()
    end_process()


def end_process() -> None:
    """End the process after a command that returned, without Python's module teardown.

    Finalisation frees every imported module's objects one by one: with torch and nerfstudio's trainer loaded
    that is about 1.3 s after ``point2act demo`` has written everything, 0.5 s after ``point2act export``
    (``python -c "import torch, point2act.method.trainer"`` against the same with ``os._exit(0)``). What an
    ordinary exit does for the results still happens first: nerfstudio's TensorBoard writers are flushed, the
    exit handlers run (``atexit``: temporary directories, logging) and stdout and stderr are flushed. Where a
    non-daemon thread still runs (a viewer kept open), the process exits the ordinary way, which waits for it."""
    import atexit
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate()):
        return
    from point2act._nerfstudio import flush_tensorboard

    flush_tensorboard()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`point2act ... | head`): nothing left to write to
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
