"""``point2act demo``: the whole loop on the embedded synthetic scene, offline.

synthetic scene (with oracle points) -> ``ns-train point2act`` (in-process, the method's default
schedule for ``iterations`` steps, as ``--max-num-iterations`` gives it on the CLI) -> ``grasps.json``
(with multi-view support) -> distance of the action point to the ground truth.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from point2act._open3d import load as load_open3d


def true_surface_parts(scene_dir: Path, density: float = 2e6, seed: int = 0):
    """Ground-truth surface samples of a ``point2act synth`` scene: ``(points [M, 3], part [M] int32 index into
    names, names)``, capture frame, about ``density`` points per square metre of each part's mesh; ``names`` sorted."""
    o3d = load_open3d()

    from point2act.synth import SynthConfig
    from point2act.synth.scene import build_scene

    meta = json.loads((Path(scene_dir) / "transforms.json").read_text())["point2act"]["config"]
    fields = set(SynthConfig.__dataclass_fields__)
    cfg = SynthConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in meta.items() if k in fields})
    pts, owners = [], []
    for part in build_scene(cfg).parts:
        mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(part.vertices),
                                         o3d.utility.Vector3iVector(part.triangles))
        n = int(min(2_000_000, max(1000, mesh.get_surface_area() * density)))
        o3d.utility.random.seed(seed)
        pts.append(np.asarray(mesh.sample_points_uniformly(n).points))
        owners.append(part.name)
    names = sorted(set(owners))
    rank = {name: k for k, name in enumerate(names)}
    part = np.concatenate([np.full(len(p), rank[o], dtype=np.int32) for p, o in zip(pts, owners)])
    return np.concatenate(pts), part, names


def true_surface(scene_dir: Path, density: float = 2e6, seed: int = 0):
    """Ground-truth surface samples of a ``point2act synth`` scene: ``(points [M, 3], part names [M])``,
    capture frame, about ``density`` points per square metre of each part's mesh (:func:`true_surface_parts`)."""
    pts, part, names = true_surface_parts(scene_dir, density, seed)
    return pts, np.asarray(names, dtype=object)[part]


def _scene(scene: Path, seed: int) -> float:
    """The demo's first stage, in a process of its own: the synthetic scene written to ``scene``; its seconds."""
    from point2act.synth import SynthConfig, generate_scene

    t0 = time.perf_counter()
    generate_scene(scene, SynthConfig(seed=seed))
    return time.perf_counter() - t0


def export_demo(config_path: Path, output: Path, loaded=None) -> Tuple[Path, Dict]:
    """The demo's export: ``point2act export``'s document with its default options (the capture's frame file
    included) for the run at ``config_path``, written to ``output``; ``loaded``: the run just trained."""
    from point2act.method.export_run import export_run, request_for_run

    return export_run(config_path, request_for_run(config_path), output, loaded=loaded)


def run_demo(out: Path, seed: int = 0, iterations: int = 1000, viewer: bool = False) -> Dict:
    """Run the demo and print where everything is; returns the summary dict.

    The scene (numpy and open3d, no torch) is made in a second process while this one imports torch and
    nerfstudio's trainer, which takes as long: on two cores the two overlap instead of adding up. The same process
    then samples the true surface the grasp is judged against (:func:`true_surface_parts`), while this one is still
    importing."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from rich.console import Console

    console = Console()
    t_start = time.perf_counter()
    out = Path(out)
    scene = out / "scene"
    console.rule("[bold]point2act demo")
    console.print(f"1/3 synthetic scene -> {scene}, while loading nerfstudio")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        made = pool.submit(_scene, scene, seed)
        # for the judging, after the scene in the same worker: it samples the true meshes while this process
        # still imports nerfstudio, not while training runs
        surface = pool.submit(true_surface_parts, scene)
        from point2act._nerfstudio import light_import

        with light_import():  # nerfstudio's trainer without torch.compile's and torchvision's imports
            from point2act.method.schedule import short_schedule
            from point2act.method.train import registered_config, train
            from point2act.method.trainer import Point2ActTrainer  # noqa: F401  (nerfstudio's trainer: the long import)

        t_scene = made.result()
        t_ready = time.perf_counter() - t_start

        console.print(f"2/3 ns-train point2act (scene {t_scene:.1f} s; scene and nerfstudio ready after {t_ready:.1f} s)")
        config = short_schedule(
            registered_config("point2act"), scene, scene / "points" / "oracle.json", out / "runs", iterations, viewer
        )
        t0 = time.perf_counter()
        trainer = train(config)
        t_train = time.perf_counter() - t0
        true_pts, true_part, true_names = surface.result()

    console.print("3/3 export")
    t0 = time.perf_counter()
    from point2act.method.run_layer import trained_run

    config_path = Path(config.get_base_dir()) / "config.yml"
    grasps_path, exported = export_demo(config_path, out / "grasps.json", trained_run(config, trainer))
    t_export = time.perf_counter() - t0
    gt = json.loads((scene / "ground_truth.json").read_text())
    ap = np.asarray(exported["action_point"])
    lo, hi = np.asarray(gt["bbox_min"]), np.asarray(gt["bbox_max"])
    dist = float(np.linalg.norm(ap - np.asarray(gt["centroid"])))
    surface_pts = np.load(scene / gt["points_file"]) if gt.get("points_file") else None
    dist_surface = float(np.min(np.linalg.norm(surface_pts - ap, axis=1))) if surface_pts is not None else None
    inside = bool(np.all(ap >= lo - 0.01) and np.all(ap <= hi + 0.01))
    best = exported["grasps"][0] if exported.get("grasps") else None
    verdict = None
    if best is not None:  # judged against the true meshes, not the reconstruction the planner saw
        from point2act.grasp import GripperConfig
        from point2act.grasp.evaluate import GroundTruth, judge_grasp

        names = np.asarray(true_names, dtype=object)[true_part]
        gripper = GripperConfig(**{k: v for k, v in exported["gripper"].items()})
        verdict = judge_grasp(best, gripper, GroundTruth(true_pts, names, table_z=0.0), gt["target"])
    wall = time.perf_counter() - t_start
    summary = {
        "scene": str(scene),
        "run_config": str(config_path),
        "grasps_json": str(grasps_path),
        "action_point": exported["action_point"],
        "target_centroid": gt["centroid"],
        "distance_m": dist,
        "distance_to_surface_m": dist_surface,
        "inside_target_bbox_1cm": inside,
        "num_grasps": len(exported.get("grasps", [])),
        "support": exported.get("support"),
        "best_grasp": best,
        "best_grasp_verdict": verdict.to_dict() if verdict is not None else None,
        "seconds": {"scene": round(t_scene, 1), "scene_and_imports": round(t_ready, 1), "train": round(t_train, 1),
                    "export": round(t_export, 1), "total": round(wall, 1)},
        "steps": trainer.step + 1,
        "iterations_per_minute": round((trainer.step + 1) / t_train * 60.0, 1),
    }
    console.rule("[bold]result")
    console.print(f"prompt:          {exported['prompt']!r}")
    console.print(f"action point:    [{', '.join(f'{v:.4f}' for v in ap)}] m (capture frame)")
    console.print(f"target centroid: [{', '.join(f'{v:.4f}' for v in gt['centroid'])}] m (mug handle)")
    console.print(f"distance:        {dist * 100:.2f} cm to the centroid; inside the handle's box grown by 1 cm: {inside}")
    if dist_surface is not None:
        console.print(f"                 {dist_surface * 100:.2f} cm to the handle's surface")
    if best is not None:
        console.print(
            f"best grasp:      TCP [{', '.join(f'{v:.4f}' for v in best['position'])}], width {best['width'] * 100:.1f} cm, "
            f"score {best['score']:.3f} ({len(exported['grasps'])} grasps)"
        )
        console.print(
            f"  vs true mesh:  closes on the handle: {verdict.on_target} ({verdict.target_fraction:.0%} of "
            f"{verdict.closing_points} points between the fingers); collision-free: {verdict.collision_free}"
        )
    else:
        console.print(f"grasps:          none ({exported.get('warning', '')})")
    sup = exported.get("support")
    if sup:
        console.print(f"support:         {sup['views_agree']} of {sup['views_seen']} views that see the chosen place point at it "
                      f"({sup['supervised_views']} supervised){'; WEAK: ' + sup.get('reason', '') if sup.get('weak') else ''}")
    console.print(f"outputs:         {grasps_path}, run {config_path}")
    console.print(
        f"wall time:       {wall:.1f} s (scene and imports {t_ready:.1f} s, training {t_train:.1f} s for "
        f"{summary['steps']} of {iterations} steps, {summary['iterations_per_minute']:.0f} it/min, export {t_export:.1f} s, the rest judging against the true meshes)"
    )
    console.print(f"look at it:      ns-viewer --load-config {config_path}")
    from point2act.io import write_json_atomic

    write_json_atomic(out / "demo_summary.json", summary)
    return summary
