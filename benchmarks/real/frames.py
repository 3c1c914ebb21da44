"""Which frame does ``point2act export`` write ``action_point`` in? A check against nerfstudio itself.

``point2act export`` maps the Gaussians from nerfstudio's normalised frame back with the run's
``dataparser_transforms.json`` (:class:`point2act.geometry.FrameTransform`: ``p_ns = scale * (T @ p + t)``).
nerfstudio writes ``T`` as its ``dataparser_transform``:

- ``nerfstudio-data``: orientation + centring of the poses in ``transforms.json``, times the file's
  ``applied_transform`` when it has one (or ``[[0,1,0],[1,0,0],[0,0,-1]]`` when ``colmap/sparse/0`` sits
  beside it). coke, fruit and gum have neither, so ``to_capture`` lands in the ``transforms.json`` world.
- ``colmap``: orientation + centring times the parser's ``applied_transform`` (the y/z swap that maps
  COLMAP's -y "up" guess to +z), so ``to_capture`` lands in the **COLMAP world** of ``images.bin/txt``.

:func:`check_run_frame` proves it for a trained run: it runs the run's own dataparser (no images, no
model), maps its camera poses back with ``dataparser_transforms.json`` and compares them with the
capture's cameras as :mod:`benchmarks.real.cameras` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from benchmarks.real.cameras import GL_TO_CV, Camera


def check_run_frame(config_path: Path, cams: Dict[str, Camera]) -> Dict[str, float]:
    """Max camera-centre distance (capture units) and rotation difference (degrees) between the run's
    cameras mapped to the capture frame and ``cams``; and how many views were compared."""
    import nerfstudio.configs.method_configs  # noqa: F401  (the registry first: a config.yml written before
    # FusedAdamOptimizerConfig moved to point2act.method.schedule names point2act.method.config, whose import
    # alone runs the registry, which imports it back)
    import yaml

    from point2act.geometry import FrameTransform

    config_path = Path(config_path)
    cfg = yaml.load(config_path.read_text(), Loader=yaml.Loader)
    dm = cfg.pipeline.datamanager
    dp = dm.dataparser
    data = Path(dm.data if getattr(dm, "data", None) is not None else dp.data)
    dp.data = data
    dp.downscale_factor = 1  # poses only: no images_N/ needed (the frame does not depend on it)
    outputs = dp.setup().get_dataparser_outputs("train")
    frame = FrameTransform.from_json(config_path.parent / "dataparser_transforms.json")
    c2w = outputs.cameras.camera_to_worlds.cpu().numpy().astype(np.float64)
    centres = frame.to_capture(c2w[:, :3, 3])
    rots = frame.rotation_to_capture(c2w[:, :3, :3]) @ GL_TO_CV  # camera-to-capture, OpenCV axes
    d_max, a_max, n = 0.0, 0.0, 0
    for fname, c, R in zip(outputs.image_filenames, centres, rots):
        rel = Path(fname).relative_to(data).as_posix()
        cam = cams.get(rel)
        if cam is None:
            continue
        n += 1
        d_max = max(d_max, float(np.linalg.norm(c - cam.center)))
        cosang = (np.trace(R.T @ cam.R.T) - 1.0) / 2.0
        a_max = max(a_max, float(np.degrees(np.arccos(np.clip(cosang, -1.0, 1.0)))))
    scene = float(np.median([np.linalg.norm(cam.center - np.median([c.center for c in cams.values()], axis=0))
                             for cam in cams.values()]))
    return {"views": n, "max_centre_error_units": d_max, "max_rotation_error_deg": a_max,
            "median_camera_radius_units": scene}
