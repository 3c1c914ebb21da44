"""Re-query a trained run: a new prompt refits the relevancy channel alone, on frozen geometry.

``point2act query --load-config RUN/config.yml --prompt "..." --points-file F --name NAME``

1. The run is loaded (:func:`point2act.export.load_run`); its Gaussians are not changed.
2. Points for the new prompt come from a points file or a pointer, through the training
   datamanager itself (a copy of the run's datamanager config with the new points/prompt, set up
   in ``val`` mode): same view matching, downscaling, undistortion and heatmaps as ``ns-train``.
3. Each training view's compositing weights ``W_v`` ([H*W, N] sparse) are computed once and cached
   beside the run (``RUN/relevancy_cache.pt``, keyed by checkpoint, resolution and cameras);
   rendered relevancy is ``W_v @ sigmoid(logits)`` (see :mod:`point2act.relevancy_fit`).
4. The logits are fitted with the run's loss (form, ``pos_weight``), starting from the run's
   ``relevancy_init_logit``, as a training run would.
5. The channel is saved as ``RUN/relevancy/NAME.pt`` (logits aligned with the checkpoint's
   Gaussians, prompt, points, role) and listed in ``RUN/relevancy/index.json``. The checkpoint is
   never written.

Channels are read back with :func:`load_channel` / :func:`list_channels`, and exported together
by ``point2act export --channels ...`` (``keypoints`` in grasps.json).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from point2act.errors import Point2ActError
from point2act.io import save_torch_atomic, write_json_atomic

CACHE_NAME = "relevancy_cache.pt"
CHANNELS_DIR = "relevancy"
INDEX_NAME = "index.json"
ROLES = ("grasp", "place", "avoid")
CACHE_VERSION = 2


def run_dir(config_path: Path) -> Path:
    """The run's folder (the one holding config.yml)."""
    return Path(config_path).resolve().parent


def channel_role(name: str, role: Optional[str] = None) -> str:
    """``role`` if given, else the name when it is a role ("grasp", "place", "avoid"), else "grasp"."""
    r = role or (name if name in ROLES else "grasp")
    if r not in ROLES:
        raise Point2ActError(f"unknown channel role {r!r}; use one of {', '.join(ROLES)}")
    return r


def _check_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name or ""):
        raise Point2ActError(f"channel name {name!r}: use letters, digits, '_', '-', '.' (1-64 characters)")
    return name


def latest_checkpoint(config) -> Path:
    """The checkpoint eval_setup loads: the highest step-*.ckpt of the run."""
    d = Path(config.load_dir) if getattr(config, "load_dir", None) else Path(config.get_checkpoint_dir())
    ckpts = sorted(d.glob("step-*.ckpt"))
    if not ckpts:
        raise Point2ActError(f"{d}: no checkpoint")
    return ckpts[-1]


def checkpoint_key(path: Path) -> Dict[str, Any]:
    st = Path(path).stat()
    return {"file": Path(path).name, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


# ----------------------------------------------------------------------------------------------
# supervision: the training datamanager with new points
# ----------------------------------------------------------------------------------------------
def supervision_datamanager(config, points_file: Optional[Path] = None, prompt: str = "", pointer=None):
    """The run's datamanager (val mode: training images and cameras) with new points or a new prompt.

    With ``points_file`` the points come from it; else with ``prompt`` (and ``pointer``) the
    datamanager points on the capture exactly as before training. Neither: no supervision (only
    cameras, e.g. to build the weights cache).
    """
    dm_cfg = copy.deepcopy(config.pipeline.datamanager)
    dm_cfg.points_file = Path(points_file) if points_file is not None else None
    dm_cfg.prompt = prompt or ""
    if pointer is not None:
        dm_cfg.pointer = pointer
    dm_cfg.pointer_output = None
    return dm_cfg.setup(device="cpu", test_mode="val")


def _view_camera(cameras, i: int, downscale: int):
    cam = copy.deepcopy(cameras[i : i + 1])
    if cam.metadata is None:
        cam.metadata = {}
    cam.metadata["cam_idx"] = i
    if downscale > 1:
        cam.rescale_output_resolution(1.0 / downscale)
    return cam


def _camera_fingerprint(cameras, downscale: int) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in (cameras.camera_to_worlds, cameras.fx, cameras.fy, cameras.cx, cameras.cy, cameras.width, cameras.height):
        h.update(t.detach().cpu().numpy().astype(np.float64).tobytes())
    h.update(str(downscale).encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# weights cache
# ----------------------------------------------------------------------------------------------
def build_weights_cache(model, cameras, view_ids: Sequence[int], downscale: int = 1, progress: bool = False,
                        min_weight: float = 0.0, backend: str = "cpp"):
    """Compositing weights of ``view_ids`` (training-image indices) for the model's frozen Gaussians.

    Consecutive views of one size are projected and composited in one kernel call."""
    from nerfstudio.models.splatfacto import get_viewmat

    from point2act.relevancy_fit import WeightsCache, compositing_weights_views

    crows, cols, vals, sizes, off = [torch.zeros(1, dtype=torch.long)], [], [], [], 0
    with torch.no_grad():
        means, quats = model.means.detach().float(), model.quats.detach().float()
        scales = torch.exp(model.scales.detach()).float()
        opac = torch.sigmoid(model.opacities.detach()).squeeze(-1).float()
        groups: List[Tuple[Tuple[int, int], List[torch.Tensor], List[torch.Tensor]]] = []
        for i in view_ids:
            cam = _view_camera(cameras, int(i), downscale).to(model.device)
            c2w = model.camera_optimizer.apply_to_camera(cam)
            K = cam.get_intrinsics_matrices()[0].float()
            W, H = int(cam.width.item()), int(cam.height.item())
            if not groups or groups[-1][0] != (H, W):
                groups.append(((H, W), [], []))
            groups[-1][1].append(get_viewmat(c2w)[0].float())
            groups[-1][2].append(K)
            sizes.append([H, W])
        for n, ((H, W), vms, Ks) in enumerate(groups):
            crow, col, val = compositing_weights_views(means, quats, scales, opac, torch.stack(vms), torch.stack(Ks),
                                                       W, H, model.config.rasterize_mode, min_weight, backend)
            crows.append(crow[1:] + off)
            off += int(crow[-1])
            cols.append(col)
            vals.append(val)
            if progress:
                print(f"\rweights: {sum(len(g[1]) for g in groups[: n + 1])}/{len(view_ids)} views", end="", flush=True)
    if progress:
        print()
    if len(cols) == 1:  # one size: the kernel's arrays as they are (no copy)
        return WeightsCache(crow, cols[0], vals[0], int(means.shape[0]), sizes, list(view_ids))
    return WeightsCache(torch.cat(crows), torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int32),
                        torch.cat(vals) if vals else torch.zeros(0), int(means.shape[0]), sizes, list(view_ids))


class _BackgroundSave:
    """``save_torch_atomic`` in a thread (the write overlaps the refit); :meth:`join` re-raises its error."""

    def __init__(self, obj, path: Path):
        import threading

        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=(obj, path), name="point2act-cache-save", daemon=True)
        self.thread.start()

    def _run(self, obj, path):
        try:
            save_torch_atomic(obj, path)
        except BaseException as e:  # noqa: BLE001  (re-raised by join)
            self.error = e

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def load_or_build_cache(config_path: Path, config, model, cameras, downscale: int = 1, rebuild: bool = False,
                        progress: bool = False, min_weight: float = 0.0, background_save: bool = False):
    """The run's weights cache for all training views (``RUN/relevancy_cache.pt``); (cache, built?, seconds).

    With ``background_save`` a freshly built cache is written by a thread; ``cache.saving`` is then
    a handle whose ``join()`` waits for the write (and raises its error)."""
    from point2act.relevancy_fit import WeightsCache

    path = run_dir(config_path) / CACHE_NAME
    key = {
        "version": CACHE_VERSION,
        "checkpoint": checkpoint_key(latest_checkpoint(config)),
        "num_gaussians": int(model.means.shape[0]),
        "cameras": _camera_fingerprint(cameras, downscale),
        "downscale": int(downscale),
        "rasterize_mode": str(model.config.rasterize_mode),
        "min_weight": float(min_weight),
    }
    t0 = time.perf_counter()
    if path.is_file() and not rebuild:
        try:
            d = torch.load(path, map_location="cpu", weights_only=False)
            if d.get("meta", {}).get("key") == key:
                return WeightsCache.from_dict(d), False, time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001  (a corrupt cache is rebuilt, never trusted)
            import warnings

            warnings.warn(f"{path}: unreadable weights cache ({type(e).__name__}: {e}); rebuilding it", stacklevel=2)
    cache = build_weights_cache(model, cameras, list(range(len(cameras))), downscale, progress, min_weight)
    cache.meta["key"] = key
    if background_save:
        cache.saving = _BackgroundSave(cache.to_dict(), path)
    else:
        save_torch_atomic(cache.to_dict(), path)
    return cache, True, time.perf_counter() - t0


def subset(cache, view_ids: Sequence[int]):
    """The rows of ``view_ids`` (training-image indices) of a cache, in that order."""
    pos = {v: k for k, v in enumerate(cache.view_ids)}
    return cache.subset([pos[int(v)] for v in view_ids])


def targets_for(dm, cache) -> List[torch.Tensor]:
    """The datamanager's heatmaps at the cache's resolution (resized as the training loss does)."""
    from point2act.heatmap import resize_heatmap

    maps = dm.train_heatmaps
    return [resize_heatmap(maps[int(v)].float(), h, w) for v, (h, w) in zip(cache.view_ids, cache.sizes)]


# ----------------------------------------------------------------------------------------------
# channels
# ----------------------------------------------------------------------------------------------
def channels_dir(config_path: Path) -> Path:
    return run_dir(config_path) / CHANNELS_DIR


def list_channels(config_path: Path) -> Dict[str, Dict[str, Any]]:
    """``RUN/relevancy/index.json``: name -> {prompt, role, file, num_gaussians, checkpoint, ...}."""
    p = channels_dir(config_path) / INDEX_NAME
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        channels = data["channels"]
        if not isinstance(channels, dict):
            raise TypeError("'channels' is not an object")
    except (ValueError, KeyError, TypeError) as e:  # truncated or hand-edited: never trusted
        raise Point2ActError(
            f"{p}: corrupt relevancy channel index ({type(e).__name__}: {e}). Delete it and run "
            "`point2act query` again for the channels you need."
        ) from None
    return channels


def save_channel(config_path: Path, name: str, logits: torch.Tensor, prompt: str, points: Optional[dict],
                 role: str, checkpoint: Dict[str, Any], extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write ``RUN/relevancy/NAME.pt`` and update the index (atomically)."""
    _check_name(name)
    d = channels_dir(config_path)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.pt"
    rec = {"name": name, "prompt": prompt, "role": role, "logits": logits.detach().float().cpu().reshape(-1),
           "points": points, "num_gaussians": int(logits.numel()), "checkpoint": checkpoint, **(extra or {})}
    save_torch_atomic(rec, path)
    index = list_channels(config_path)
    index[name] = {"prompt": prompt, "role": role, "file": path.name, "num_gaussians": int(logits.numel()),
                   "checkpoint": checkpoint, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   **{k: v for k, v in (extra or {}).items() if isinstance(v, (int, float, str))}}
    write_json_atomic(d / INDEX_NAME, {"schema": "point2act.relevancy_channels/1", "channels": index})
    return path


def load_channel(config_path: Path, name: str, num_gaussians: Optional[int] = None) -> Dict[str, Any]:
    """A saved channel's record (``logits`` [N] tensor, prompt, role, points, ...)."""
    path = channels_dir(config_path) / f"{_check_name(name)}.pt"
    if not path.is_file():
        have = ", ".join(sorted(list_channels(config_path))) or "none"
        raise Point2ActError(f"{path}: no relevancy channel {name!r} in this run (have: {have})")
    try:
        rec = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(rec, dict) or not isinstance(rec.get("logits"), torch.Tensor):
            raise TypeError("no 'logits' tensor")
    except Exception as e:  # noqa: BLE001  (truncated or foreign file: never trusted)
        raise Point2ActError(
            f"{path}: corrupt relevancy channel {name!r} ({type(e).__name__}: {e}). "
            f"Run `point2act query ... --name {name}` again."
        ) from None
    if num_gaussians is not None and int(rec["logits"].numel()) != int(num_gaussians):
        raise Point2ActError(
            f"{path}: channel has {rec['logits'].numel()} Gaussians, the checkpoint {num_gaussians}; "
            "it was fitted on another checkpoint of this run: query again"
        )
    return rec


# ----------------------------------------------------------------------------------------------
# the query
# ----------------------------------------------------------------------------------------------
@dataclass
class QueryResult:
    name: str
    prompt: str
    role: str
    logits: torch.Tensor
    channel_path: Path
    timings_s: Dict[str, float] = field(default_factory=dict)
    num_views: int = 0
    num_gaussians: int = 0
    nnz: int = 0
    losses: List[float] = field(default_factory=list)


def query_run(
    config_path: Path,
    name: str,
    prompt: str = "",
    points_file: Optional[Path] = None,
    pointer=None,
    role: Optional[str] = None,
    steps: int = 16,
    lr: float = 1.0,
    lr_final: Optional[float] = 0.1,
    downscale: int = 2,
    min_weight: float = 1e-3,
    rebuild_cache: bool = False,
    loaded: Optional[Tuple[Any, Any]] = None,
    progress: bool = False,
) -> QueryResult:
    """Refit a named relevancy channel of a trained run for new points (see the module docstring)."""
    from point2act.export import load_run
    from point2act.relevancy_fit import fit_relevancy

    _check_name(name)
    role = channel_role(name, role)
    if points_file is None and not prompt:
        raise Point2ActError("give --points-file, or --prompt with a pointer (--backend ...)")
    timings: Dict[str, float] = {}
    t0 = time.perf_counter()
    config, pipeline = loaded if loaded is not None else load_run(config_path)
    model = pipeline.model
    timings["load_run"] = time.perf_counter() - t0
    t = time.perf_counter()
    dm = supervision_datamanager(config, points_file, prompt, pointer)
    if dm.points is None:
        raise Point2ActError("no points for the new prompt")
    prompt = prompt or dm.prompt
    cameras = dm.train_dataset.cameras
    heat = dm.train_heatmaps  # maps points into the training images (loads/undistorts them)
    timings["points_and_heatmaps"] = time.perf_counter() - t
    cache, built, dt = load_or_build_cache(config_path, config, model, cameras, downscale, rebuild_cache, progress,
                                         min_weight, background_save=True)
    timings["weights_cache_build" if built else "weights_cache_load"] = dt
    t = time.perf_counter()
    sub = subset(cache, sorted(heat))
    targets = targets_for(dm, sub)
    timings["select"] = time.perf_counter() - t
    mc = model.config
    fit = fit_relevancy(sub, targets, mc.relevancy_loss, mc.relevancy_pos_weight, mc.relevancy_init_logit,
                        steps=steps, lr=lr, lr_final=lr_final)
    timings["fit"] = fit.seconds
    ckpt = checkpoint_key(latest_checkpoint(config))
    points = dm.points.to_dict() if dm.points is not None else None
    path = save_channel(config_path, name, fit.logits, prompt, points, role, ckpt,
                        extra={"steps": fit.steps, "final_loss": fit.losses[-1] if fit.losses else float("nan"),
                               "downscale": int(downscale), "num_views": len(sub.view_ids)})
    if getattr(cache, "saving", None) is not None:
        t = time.perf_counter()
        cache.saving.join()
        timings["weights_cache_write_wait"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return QueryResult(name, prompt, role, fit.logits, path, timings, len(sub.view_ids), int(fit.logits.numel()),
                       sub.nnz, fit.losses)
