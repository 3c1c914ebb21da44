"""The free space beside the target: what the export's occupancy grid blocks that true depth in the same views
would carve (``python -m benchmarks.accuracy.carving``).

The grasp head lets a finger enter only the grid's free cells (:mod:`point2act.grasp.occupancy`: unknown is not
free). Where every candidate collides, two causes look alike in the warning: the views never see into the space
beside the part (a slot against a box), or the field puts matter where there is none (fog a random start leaves in
front of a far background). This tool separates them. It integrates the scene's **true** depth, in the same views,
grid and sensor model as the export, and over the cells within ``--radius`` of the target's true surface that the
true depth carves free (cells farther than one voxel from every true surface and above the table), counts what the
export's grid calls them:

* ``true_free``: those cells; ``field_free``, ``field_unknown``, ``field_occupied``: the export's grid there;
* ``true_unknown_near``: the cells near the target that even true depth leaves unknown (what no view sees into).

``field_unknown + field_occupied`` large against ``true_unknown_near``: the reconstruction blocks the space; the
reverse: the views do. Plain numpy in :func:`carving_counts`; :func:`main` reads a run the accuracy benchmark
cached, exported as it exports (:func:`benchmarks.accuracy.run.export_inputs`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict

import numpy as np

__all__ = ["carving_counts", "main"]


def carving_counts(
    occ,  # point2act.grasp.occupancy.OccupancyGrid: the export's grid
    true_depths: np.ndarray,  # [C, H, W] true z-depth in the grid's views (inf: no surface)
    Ks: np.ndarray,  # [C, 3, 3]
    viewmats: np.ndarray,  # [C, 4, 4] world-to-camera, OpenCV axes (the grid's frame)
    surfaces: np.ndarray,  # [M, 3] samples of every true surface but the table
    target: np.ndarray,  # [T, 3] samples of the target's true surface
    radius: float,
    table_z: float = 0.0,
) -> Dict[str, int]:
    """The counts of the module docstring: ``true_depths`` integrated into ``occ``'s grid with the export's sensor
    model (:mod:`point2act.grasp.config`'s ``OCCUPANCY_*``), then the cells within ``radius`` of ``target``."""
    from scipy.spatial import cKDTree

    from point2act.grasp.config import (OCCUPANCY_HIT_BACK, OCCUPANCY_HIT_FRONT, OCCUPANCY_MIN_HITS,
                                        OCCUPANCY_P_HIT, OCCUPANCY_P_MISS)
    from point2act.grasp.occupancy import FREE, OCCUPIED, UNKNOWN, CellGrid, DepthMaps, DepthSensor, integrate_depth

    sensor = DepthSensor(hit_front=OCCUPANCY_HIT_FRONT, hit_back=OCCUPANCY_HIT_BACK, min_hits=OCCUPANCY_MIN_HITS,
                         p_hit=OCCUPANCY_P_HIT, p_miss=OCCUPANCY_P_MISS)
    truth = integrate_depth(DepthMaps(true_depths, Ks, viewmats), CellGrid(occ.origin, occ.voxel, occ.shape),
                            sensor)
    c = occ.centers()
    d_target = cKDTree(target).query(c)[0]
    d_any = np.minimum(cKDTree(surfaces).query(c)[0], d_target) if len(surfaces) else d_target
    near = d_target <= radius
    clear = near & (d_any > occ.voxel) & (c[:, 2] > table_z + occ.voxel)
    t, f = truth.state.reshape(-1), occ.state.reshape(-1)
    sel = clear & (t == FREE)
    return {"true_free": int(sel.sum()), "field_free": int((f[sel] == FREE).sum()),
            "field_unknown": int((f[sel] == UNKNOWN).sum()), "field_occupied": int((f[sel] == OCCUPIED).sum()),
            "true_unknown_near": int((clear & (t == UNKNOWN)).sum())}


def _true_depths(scene, views) -> np.ndarray:  # [C, H, W]
    """The scene's true depth (:class:`.run.SceneData`, every frame as :func:`.oracle.perfect_views` gives it) in
    each of ``views`` (capture frame), matched by pose; 0 (no surface) becomes ``inf``."""
    from benchmarks.accuracy.oracle import perfect_views

    truth, _ = perfect_views(scene, len(scene.views))
    out = np.zeros(views.depths.shape, np.float32)
    for c, vm in enumerate(views.viewmats):
        err = np.abs(truth.viewmats - vm).reshape(len(truth.viewmats), -1).max(1)
        k = int(np.argmin(err))
        if err[k] > 1e-4:
            raise ValueError(f"render view {c} matches no frame of the scene (nearest pose differs by {err[k]:.2g})")
        d = truth.depths[k]
        h, w = min(d.shape[0], out.shape[1]), min(d.shape[1], out.shape[2])
        out[c, :h, :w] = np.where(d[:h, :w] > 0, d[:h, :w], np.inf)
    return out


def main(argv=None) -> int:
    from benchmarks.accuracy.run import BenchConfig, bench_grasp_config, export_inputs, load_scene, true_surfaces
    from benchmarks.accuracy.suite import SPLITS, scene_config, scene_dir
    from point2act.export import ExportRequest, answer, planning_scene
    from point2act.method.run_layer import load_run, run_of

    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.carving", description=__doc__.split("\n")[0])
    ap.add_argument("--split", required=True)
    ap.add_argument("--scene", required=True, help="a scene name of the split (seen splits only)")
    ap.add_argument("--cloud", default="none", choices=("none", "triangulated", "scene"))
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--level", default="clean_s0", help="the points file (bench_points_seedK/LEVEL.json)")
    ap.add_argument("--cache", type=Path, default=None, help="the benchmark's cache (default: its own)")
    ap.add_argument("--radius", type=float, default=0.03, help="metres from the target's true surface")
    a = ap.parse_args(argv)
    spec = next((s for s in SPLITS[a.split] if s.name == a.scene), None)
    if spec is None:
        raise SystemExit(f"{a.scene}: no such scene in split {a.split}")
    bc = BenchConfig(cloud=a.cloud, depth="none", **({"cache_root": a.cache} if a.cache else {}))
    sd = scene_dir(spec, bc.common(), bc.cache_root)
    suffix = "" if a.cloud == "scene" else f"_cloud{a.cloud}"
    cfg = next(iter(sorted(sd.glob(f"recon_it*_seed{a.seed}{suffix}/demo/point2act/run/config.yml"))), None)
    if cfg is None:
        raise SystemExit(f"{sd}: no cached run of training seed {a.seed} ({a.cloud}); run the accuracy benchmark first")
    config = scene_config(spec, bc.common())
    scene = load_scene(sd, config)
    pts, lab = true_surfaces(spec, config, sd)
    table = {int(p["id"]) for p in json.loads((sd / "ground_truth.json").read_text())["parts"]
             if p["name"] in ("table", "background")}
    gcfg = bench_grasp_config(bc)
    inputs, _ = export_inputs(cfg, run_of(*load_run(cfg)), a.level,
                              sd / f"bench_points_seed{a.seed}" / f"{a.level}.json", gcfg)
    main_answer = answer(inputs, inputs.field, gcfg)
    planned, _ = planning_scene(inputs, main_answer, ExportRequest(gcfg, True))
    views = inputs.renders.capture
    counts = carving_counts(planned.occupancy, _true_depths(scene, views), views.Ks, views.viewmats,
                            pts[~np.isin(lab, list(table))], pts[lab == scene.target_id], a.radius)
    print(json.dumps({"scene": a.scene, "cloud": a.cloud, "seed": a.seed, "level": a.level,
                      "voxel_mm": round(planned.occupancy.voxel * 1e3, 2), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
