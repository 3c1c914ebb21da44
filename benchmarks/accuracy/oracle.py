"""What the hand can do with perfect perception: the export path on a scene's true geometry.

The grasp bar of the accuracy benchmark asks the top grasp to close on the target and touch nothing.
Some targets no parallel-jaw grasp of the configured hand can hold (a pull tab lying 2 mm proud of a can's
lid: the finger pads cannot get ``MIN_GRASP_DEPTH`` of it between them). For those the right answer is a
warning, not a grasp, and counting them against the grasp head mixes what perception loses with what the
hand cannot do. This module asks the grasp head itself, given the truth:

* Gaussians: area-uniform samples of the scene's true surfaces (opacity 1, 2 mm), relevancy 1 on the
  target part and 0 elsewhere;
* depth views: the scene's own true z-depth images (``depths/*.png``, millimetres) at 12 evenly spaced
  views (``point2act export`` fuses up to ``FUSION_MAX_VIEWS``, 48, rendered ones);
* :func:`point2act.export.export` with the default :class:`~point2act.grasp.GraspConfig`, then the
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

from typing import Any, Dict

import numpy as np

__all__ = ["perfect_views", "oracle_grasp", "truth_export"]


def perfect_views(scene, max_views: int = 12):
    """The true depth of a loaded scene (:class:`.run.SceneData`: its depth images, intrinsics and cameras) at
    up to ``max_views`` evenly spaced views, as :class:`point2act.fusion.DepthViews` in the capture frame, and
    the camera centres [C, 3] of all views."""
    from point2act.fusion import DepthViews

    c2ws = []
    for v in scene.views:
        c2w = np.asarray(v.c2w, dtype=np.float64).reshape(4, 4).copy()
        c2w[:3, 1:3] *= -1.0  # OpenGL -> OpenCV axes
        c2ws.append(c2w)
    centres = np.stack([c[:3, 3] for c in c2ws])
    n = len(c2ws)
    pick = np.unique(np.linspace(0, n - 1, min(max_views, n)).round().astype(int))
    Ks = np.stack([np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
                   for k in (scene.views[i].intrinsics for i in pick)])
    d = np.stack([np.asarray(scene.depths[i], dtype=np.float32) for i in pick])
    return DepthViews(d, (d > 0).astype(np.float32), Ks, np.stack([np.linalg.inv(c2ws[i]) for i in pick])), centres


def truth_export(scene, surface: tuple, grasp_config=None, max_views: int = 12) -> Dict[str, Any]:
    """:func:`point2act.export.export` on the truth of one loaded scene (module docstring: the judge's
    samples as opaque Gaussians, relevancy 1 on the target, the scene's true depth views), with
    ``grasp_config`` (None: the default :class:`~point2act.grasp.GraspConfig`); the export dict."""
    from point2act.export import ExportRequest, export, of_arrays
    from point2act.geometry import FrameTransform
    from point2act.grasp import GraspConfig

    P = np.asarray(surface[0], dtype=np.float64)
    lab = np.asarray(surface[1])
    views, centres = perfect_views(scene, max_views)
    arrays = {"means": P, "opacities": np.ones(len(P)), "scales": np.full((len(P), 3), 0.002),
              "relevancy": (lab == int(scene.target_id)).astype(np.float64)}
    inputs = of_arrays(arrays, FrameTransform.identity(), centers=centres, depth_views=views, prompt=scene.prompt)
    return export(ExportRequest(grasp_config or GraspConfig()), inputs)


def oracle_grasp(scene, surface: tuple, max_views: int = 12) -> Dict[str, Any]:
    """The export path on the truth of one loaded scene (:class:`.run.SceneData`; module docstring).
    ``surface``: the judge's ``(points [M, 3], part ids [M])`` (:func:`.metrics.scene_surface_labelled` /
    :func:`.metrics.mesh_surface_labelled`); returns ``{"graspable", "beyond_hand", "num_grasps", "top": judge
    verdict or None, "top_on_target_flag", "warning"}``."""
    from .metrics import judge_top_grasp

    P, lab = np.asarray(surface[0], dtype=np.float64), np.asarray(surface[1])
    out = truth_export(scene, surface, max_views=max_views)
    grasps = out.get("grasps") or []
    top = judge_top_grasp(grasps[0], P, lab, int(scene.target_id)) if grasps else None
    return {"graspable": bool(top is not None and top["success"]),
            "beyond_hand": int(out.get("num_on_target_candidates", 0)) == 0, "num_grasps": len(grasps), "top": top,
            "top_on_target_flag": grasps[0].get("on_target") if grasps else None,
            "warning": out.get("warning") or ""}
