"""The export of per-Gaussian arrays that are no run's, as the tests build it: :func:`point2act.export.export` on
:func:`point2act.export.of_arrays`."""

from __future__ import annotations

import numpy as np

from point2act.export import ExportRequest, Field, export, of_arrays
from point2act.grasp import GraspConfig


def export_arrays(arrays, frame=None, prompt="", cfg=None, grasps=True, centers=None, extra=None, depth_views=None,
                  support=None, views=None):
    """grasps.json of ``arrays`` (``means``, ``opacities``, ``scales``, ``relevancy``; ``frame`` default the
    identity) with the views' consensus ``support`` (capture frame; with the identity frame, the nerfstudio
    frame's), or the supervised ``views`` it is formed from, and the depth renders ``depth_views``; ``extra`` must
    be None (kept for the positional order)."""
    assert extra is None
    field = Field(np.asarray(arrays["relevancy"], dtype=np.float64), views, consensus=support)
    request = ExportRequest(cfg if cfg is not None else GraspConfig(), grasps)
    return export(request, of_arrays(arrays, frame, field, centers, depth_views, prompt))
