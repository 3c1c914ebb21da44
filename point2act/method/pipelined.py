"""Capture -> grasps.json in one call, with pointing and reconstruction running at the same time.

The paper pipelines its stages; so does :func:`capture_to_grasps`:

1. the pointer (an MLLM, or the oracle on a synthetic scene) points on every view in a background
   thread, while
2. ``ns-train point2act`` reconstructs the scene at once, RGB only (no points yet);
3. when both are done, the relevancy channel is fitted on the frozen field from the points with the
   fast refit (:func:`point2act.method.requery_run.query_run`, about a second), and
4. ``grasps.json`` is exported for it (:func:`point2act.method.export_run.export_run`).

Pointing time is thus hidden behind training instead of added to it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

from point2act.errors import Point2ActError

CHANNEL = "task"
"""Name of the relevancy channel the task's points are fitted into."""


@dataclass
class PipelinedResult:
    """What :func:`capture_to_grasps` produced."""

    config_path: Path
    """The run's config.yml."""
    points_path: Path
    """The points file the pointer wrote (in the run folder)."""
    grasps_path: Path
    """grasps.json."""
    grasps: Dict[str, Any]
    """Its contents."""
    timings_s: Dict[str, float] = field(default_factory=dict)
    """Wall seconds: pointing (in the background), training, waiting for pointing after training, refit,
    export, total; ``sequential_s`` is what pointing + training + refit + export would take one after the other."""


def capture_to_grasps(config, pointer, prompt: str, output: Path | None = None, grasp_config=None,
                      progress: bool = True) -> PipelinedResult:
    """Point (background) and train (foreground) at once, then refit relevancy and export grasps.

    ``config``: a ``point2act`` TrainerConfig with its data set (``registered_config("point2act")`` plus
    ``--data`` and schedule); its points file is ignored. ``pointer``: a
    :class:`~point2act.pointing.config.PointerConfig`."""
    from point2act.export import Channels, ExportRequest
    from point2act.method.export_run import export_run
    from point2act.method.requery_run import AnswerSource, Requery, query_run
    from point2act.method.run_layer import trained_run
    from point2act.method.train import train
    from point2act.pointing.run import capture_images, point_capture

    t0 = time.perf_counter()
    dm = config.pipeline.datamanager
    data = Path(dm.data if getattr(dm, "data", None) else dm.dataparser.data)
    dm.data = data
    dm.dataparser.data = data
    dm.points_file = None
    dm.prompt = ""  # training does not point: the thread below does
    views = capture_images(data)
    points_path = Path(config.get_base_dir()) / "points" / "task.json"
    state: Dict[str, Any] = {}

    def point() -> None:
        t = time.perf_counter()
        try:
            state["points"] = point_capture(pointer, views, prompt, output=points_path, progress=False)
        except BaseException as e:  # noqa: BLE001  (re-raised in the caller's thread)
            state["error"] = e
        state["seconds"] = time.perf_counter() - t

    thread = threading.Thread(target=point, name="point2act-pointing", daemon=True)
    thread.start()
    t = time.perf_counter()
    trainer = train(config)
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    thread.join()
    t_wait = time.perf_counter() - t
    if "error" in state:
        raise state["error"]
    if not any(state["points"]["points"].values()):
        raise Point2ActError(f"{points_path}: the pointer put no point on any view for {prompt!r}")
    config_path = Path(config.get_base_dir()) / "config.yml"
    loaded = trained_run(config, trainer)  # the trained pipeline: no reload from disk
    t = time.perf_counter()
    res = query_run(config_path, Requery(CHANNEL, AnswerSource(prompt=prompt, points_file=points_path)),
                    loaded=loaded, progress=progress)
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    request = ExportRequest(channels=Channels(grasp=CHANNEL)) if grasp_config is None else \
        ExportRequest(grasp_config, channels=Channels(grasp=CHANNEL))
    grasps_path, out = export_run(config_path, request, output, loaded=loaded)
    t_export = time.perf_counter() - t
    total = time.perf_counter() - t0
    timings = {"pointing": state["seconds"], "training": t_train, "pointing_wait": t_wait, "refit": t_fit,
               "refit_total": res.timings_s.get("total", t_fit), "export": t_export, "total": total,
               "sequential_s": total - t_wait + state["seconds"]}
    return PipelinedResult(config_path, points_path, grasps_path, out, timings)
