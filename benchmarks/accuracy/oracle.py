"""What the hand can do with perfect perception: the export path on a scene's true geometry.

The grasp bar of the accuracy benchmark asks the top grasp to close on the target and touch nothing.
Some targets no parallel-jaw grasp of the configured hand can hold (a pull tab lying 2 mm proud of a can's
lid: the finger pads cannot get ``min_grasp_depth`` of it between them). For those the right answer is a
warning, not a grasp, and counting them against the grasp head mixes what perception loses with what the
hand cannot do. This module asks the grasp head itself, given the truth:

* Gaussians: area-uniform samples of the scene's true surfaces (opacity 1, 2 mm), relevancy 1 on the
  target part and 0 elsewhere;
* depth views: the scene's own true z-depth images (``depths/*.png``, millimetres) at 12 evenly spaced
  views, as ``point2act export`` fuses 12 rendered ones;
* :func:`point2act.export.build_export` with the default :class:`~point2act.grasp.GraspConfig`, then the
  top grasp judged on the true meshes (:func:`.metrics.judge_top_grasp`, the benchmark's own judge).

Two verdicts. **Beyond the hand**: no grasp candidate at the target holds mostly target between its
fingers (``num_on_target_candidates`` 0), before any collision check: a statement about the part's
size and shape against the gripper's, which no perception can change. **Graspable**: that top grasp
succeeds. The second is not a bound: the planner on perfect input is still the planner (an occluded
handle whose every candidate collides here is held in trained runs), so the benchmark sets aside only the
targets beyond the hand and reports the grasp rate over all runs and over the others (docs/accuracy.md).
Nothing here is tuned: the same planner, configuration and judge as the runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np

__all__ = ["perfect_views", "oracle_grasp"]


def perfect_views(scene_dir: Path, max_views: int = 12):
    """The scene's true depth at up to ``max_views`` evenly spaced views, as :class:`point2act.fusion.DepthViews`
    in the capture frame, and the camera centres [C, 3] of all views."""
    from PIL import Image

    from point2act.fusion import DepthViews

    sd = Path(scene_dir)
    meta = json.loads((sd / "transforms.json").read_text())
    frames = meta["frames"]
    c2ws = []
    for f in frames:
        c2w = np.asarray(f["transform_matrix"], dtype=np.float64).reshape(4, 4).copy()
        c2w[:3, 1:3] *= -1.0  # OpenGL -> OpenCV axes
        c2ws.append(c2w)
    centres = np.stack([c[:3, 3] for c in c2ws])
    pick = np.unique(np.linspace(0, len(frames) - 1, min(max_views, len(frames))).round().astype(int))
    D, Ks, Vs = [], [], []
    for i in pick:
        f = frames[i]
        get = lambda k: float(f.get(k, meta.get(k)))  # noqa: E731 - per-frame intrinsics override the shared ones
        Ks.append(np.array([[get("fl_x"), 0.0, get("cx")], [0.0, get("fl_y"), get("cy")], [0.0, 0.0, 1.0]]))
        Vs.append(np.linalg.inv(c2ws[i]))
        D.append(np.asarray(Image.open(sd / f["depth_file_path"]), dtype=np.float32) / 1000.0)
    shape = max(d.shape for d in D)
    D = [np.pad(d, ((0, shape[0] - d.shape[0]), (0, shape[1] - d.shape[1]))) for d in D]
    d = np.stack(D)
    return DepthViews(d, (d > 0).astype(np.float32), np.stack(Ks), np.stack(Vs)), centres


def oracle_grasp(scene_dir: Path, surface: tuple, target_id: int, prompt: str = "", max_views: int = 12) -> Dict[str, Any]:
    """The export path on the truth of one scene (module docstring). ``surface``: the judge's ``(points [M, 3],
    part ids [M])`` (:func:`.metrics.scene_surface_labelled` / :func:`.metrics.mesh_surface_labelled`);
    returns ``{"graspable", "num_grasps", "top": judge verdict or None, "warning"}``."""
    from point2act.export import build_export
    from point2act.geometry import FrameTransform
    from point2act.grasp import GraspConfig

    from .metrics import judge_top_grasp

    P, lab = surface
    P = np.asarray(P, dtype=np.float64)
    lab = np.asarray(lab)
    views, centres = perfect_views(scene_dir, max_views)
    arrays = {"means": P, "opacities": np.ones(len(P)), "scales": np.full((len(P), 3), 0.002),
              "relevancy": (lab == int(target_id)).astype(np.float64)}
    out = build_export(arrays, FrameTransform.identity(), prompt, GraspConfig(), True, centres, depth_views=views)
    grasps = out.get("grasps") or []
    top = judge_top_grasp(grasps[0], P, lab, int(target_id)) if grasps else None
    return {"graspable": bool(top is not None and top["success"]),
            "beyond_hand": int(out.get("num_on_target_candidates", 0)) == 0, "num_grasps": len(grasps), "top": top,
            "top_on_target_flag": grasps[0].get("on_target") if grasps else None,
            "warning": out.get("warning") or ""}
