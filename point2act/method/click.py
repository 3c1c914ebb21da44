"""Click-to-point on a loaded run: a click's ray in nerfstudio's frame -> a points file for the run's
training views (:mod:`point2act.pointing.click` does the geometry)."""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from point2act.errors import Point2ActError
from point2act.fusion import render_depth_views
from point2act.method.run_layer import camera_views, frame_of_datamanager, gaussian_tensors
from point2act.pointing.click import click_points, project_to_views, ray_surface_point
from point2act.render import Splats
from point2act.splatting import Views

CLICK_PROMPT = "the clicked point"
"""The prompt recorded with a click's points file and channel."""


def click_points_for_run(pipeline, origin_ns: np.ndarray, direction_ns: np.ndarray,
                         prompt: str = CLICK_PROMPT) -> Tuple[Dict, np.ndarray]:
    """The points file (dict) that a click along the ray ``origin_ns + t * direction_ns`` (nerfstudio
    frame) makes for the run's training views, and the clicked 3D point in the capture frame.

    Raises Point2ActError when the ray meets nothing opaque, or when no training view sees the point."""
    model, dm = pipeline.model, pipeline.datamanager
    g = gaussian_tensors(model)
    splats = Splats(g["means"], g["quats"], g["scales"], g["opacities"])
    hit = ray_surface_point(splats, np.asarray(origin_ns, dtype=np.float64), np.asarray(direction_ns, dtype=np.float64))
    if hit is None:
        raise Point2ActError("the click met no surface of the scene: click on an object")
    vms, Ks, sizes = camera_views(dm.train_dataset.cameras)
    views = render_depth_views(splats, Views(vms.cpu().numpy(), Ks.cpu().numpy(), sizes), max_views=len(sizes))
    pixels = project_to_views(hit, views.viewmats, views.Ks, sizes, list(views.depths))
    if not any(pixels):
        raise Point2ActError("no training view sees the clicked point: click on a surface the capture saw")
    frame = frame_of_datamanager(dm)
    point_capture = frame.to_capture(hit)
    keys = dm._image_keys(dm.train_dataset)
    return click_points(keys, sizes, pixels, prompt, point_capture), point_capture
