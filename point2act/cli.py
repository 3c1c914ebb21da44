"""``point2act`` command line: ``synth``, ``export``, ``demo`` (and more as they land).

Each subcommand is a dataclass whose fields are its options (tyro shows their docstrings as
help). Known input errors print one paragraph naming the file and the problem and exit with
status 2; set ``POINT2ACT_DEBUG=1`` (or ``--debug``) for the traceback.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import tyro

from point2act.pointing.config import PointerConfig


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

    def main(self) -> None:
        from point2act.synth import SynthConfig, generate_scene

        cfg = SynthConfig(seed=self.seed, num_views=self.num_views, noise_px=self.noise_px, outlier_rate=self.outlier_rate)
        t0 = time.perf_counter()
        summary = generate_scene(self.out, cfg)
        print(f"wrote a {summary.num_views}-view synthetic scene to {self.out} in {time.perf_counter() - t0:.1f} s")
        c = ", ".join(f"{v:.4f}" for v in summary.target_centroid)
        print(f"target: {summary.target}, centroid [{c}] m; {len(summary.empty_views)} views where it is hidden")
        print(f"oracle points: {summary.points}")
        print(f"train: ns-train point2act --data {self.out} --pipeline.datamanager.points-file {summary.points}")


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
    fuse_depth: bool = False
    """Add surface points fused from depth renders of the training views to the Gaussian centres."""

    def main(self) -> None:
        from point2act.export import export_run
        from point2act.grasp import GraspConfig, GripperConfig

        from point2act.errors import Point2ActError

        try:
            gripper = GripperConfig.from_json(self.gripper) if self.gripper is not None else GripperConfig()
        except ValueError as e:
            raise Point2ActError(str(e)) from None
        if self.metres_per_unit is not None:
            if not self.metres_per_unit > 0:
                raise Point2ActError(f"--metres-per-unit must be > 0, got {self.metres_per_unit}")
            gripper.metres_per_unit = self.metres_per_unit
        cfg = GraspConfig(gripper=gripper, top_k=self.num_grasps)
        cfg.surface.fuse_depth = self.fuse_depth
        path, out = export_run(self.load_config, self.output, cfg, self.grasps)
        print_export_summary(out, path)


def print_export_summary(out: dict, path: Path) -> None:
    """A few lines on what an export found."""
    ap = ", ".join(f"{v:.4f}" for v in out["action_point"])
    print(f"action point (capture frame): [{ap}]")
    if "grasps" in out:
        g = out["grasps"]
        if g:
            best = g[0]
            pos = ", ".join(f"{v:.4f}" for v in best["position"])
            print(f"{len(g)} grasps; best: position [{pos}], width {best['width'] * 100:.1f} cm, score {best['score']:.3f}")
        else:
            print(f"no grasps: {out.get('warning', '')}")
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

        from point2act.pointing.run import capture_images, point_capture

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
        out = point_capture(
            self.pointer, images, self.prompt, output=self.output, data_dir=data_dir, progress=not self.quiet
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


Commands = tyro.conf.OmitSubcommandPrefixes[
    tyro.extras.subcommand_type_from_defaults(
        {
            "synth": Synth(),
            "export": Export(load_config=Path("config.yml")),
            "demo": Demo(),
            "point": Point(data=tyro.MISSING, prompt=tyro.MISSING),  # type: ignore[arg-type]
        },
        descriptions={name: " ".join((cls.__doc__ or "").split()) for name, cls in
                      (("synth", Synth), ("export", Export), ("demo", Demo), ("point", Point))},
    )
]


def _known_errors() -> tuple:
    from point2act.errors import Point2ActError

    return (Point2ActError, FileNotFoundError)


def entrypoint(argv: Optional[list] = None) -> None:
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


if __name__ == "__main__":
    entrypoint()
