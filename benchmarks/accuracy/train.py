"""The geometry run of a benchmark scene: ``ns-train point2act`` with the method's defaults, cached beside the
scene under a fingerprint of what trained it.

Kept apart from :mod:`.run` (which evaluates a trained run) so that a process that only trains imports only
the training side: :mod:`benchmarks.gate` records the source files a training process loaded as the key of
its cached runs, and an evaluation-only change must not appear among them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:
    from .run import BenchConfig


def training_fingerprint(cfg) -> str:
    """What a cached geometry run must have been trained with to stand for this code's: a hash of the model's
    and the optimizers' configs (every default of the method), the training constants that are no options, the
    iterations and the seed; not the paths."""
    import hashlib

    from point2act import heatmap, losses
    from point2act.method import model

    constants = {m.__name__ + "." + k: getattr(m, k) for m, names in (
        (losses, ("RELEVANCY_LOSS_FORM", "RELEVANCY_POS_WEIGHT", "RELEVANCY_INIT_LOGIT")),
        (model, ("RELEVANCY_LOSS_WEIGHT", "RANDOM_INIT_MIN_VIEWS", "VISIBILITY_PRUNE_MIN_VIEWS",
                 "VISIBILITY_PRUNE_TAU")),
        (heatmap, ("HEATMAP_SIGMA_FRAC",))) for k in names}
    text = "\n".join([repr(cfg.pipeline.model), repr(sorted(constants.items())), repr(cfg.optimizers),
                      str(cfg.max_num_iterations), str(cfg.machine.seed)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_run_is_current(record: Dict[str, Any], fingerprint: str) -> Optional[bool]:
    """A cached run's ``train.json`` against this code's :func:`training_fingerprint`: True (the same),
    False (trained with other defaults: stale), None (cached before fingerprints were kept: unknown)."""
    got = record.get("fingerprint")
    return None if got is None else got == fingerprint


def train_geometry(sd: Path, bc: BenchConfig) -> tuple[Path, float]:
    """The scene's geometry run (cached in ``SCENE/recon_itN``, or ``recon_itN_seedS`` for training seed
    ``S``: ``--machine.seed S``); (config.yml, training seconds). A cached run trained with other method
    defaults (:func:`training_fingerprint`) is trained again; one cached before fingerprints were kept is
    used, with a note to ``--retrain`` it."""
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train

    out = sd / (f"recon_it{bc.iterations}" + ("" if bc.train_seed is None else f"_seed{int(bc.train_seed)}")
                + ("" if bc.cloud == "scene" else f"_cloud{bc.cloud}"))
    done = out / "train.json"
    cfg_path = out / "demo" / "point2act" / "run" / "config.yml"
    cfg = short_schedule(registered_config("point2act"), sd, sd / "points" / "oracle.json", out, bc.iterations)
    if bc.train_seed is not None:
        cfg.machine.seed = int(bc.train_seed)
    if bc.cloud in ("triangulated", "none"):
        cfg.pipeline.datamanager.dataparser.load_3D_points = False
        cfg.pipeline.datamanager.triangulate = bc.cloud == "triangulated"
    elif bc.cloud != "scene":
        raise ValueError(f"BenchConfig.cloud must be 'scene', 'triangulated' or 'none', got {bc.cloud!r}")
    fp = training_fingerprint(cfg)
    if done.is_file() and cfg_path.is_file() and not bc.retrain:
        rec = json.loads(done.read_text())
        current = cached_run_is_current(rec, fp)
        if current is None:
            print(f"  note: {out} was cached before training fingerprints were kept; if the method's defaults "
                  "changed since, --retrain it", flush=True)
        if current is not False:
            return cfg_path, float(rec["seconds"])
        print(f"  {out} was trained with other method defaults than this code's: training it again", flush=True)
    t0 = time.perf_counter()
    train(cfg)
    dt = time.perf_counter() - t0
    cfg_path = Path(cfg.get_base_dir()) / "config.yml"
    done.write_text(json.dumps({"seconds": dt, "iterations": bc.iterations, "fingerprint": fp}) + "\n")
    return cfg_path, dt
