"""Re-query: a new prompt refits the relevancy channel alone, on frozen geometry. Plain torch.

With the Gaussians fixed, view ``v`` renders relevancy ``W_v @ sigmoid(logits)``, ``W_v`` the sparse
compositing weights (alpha * T, [H*W, N]) of the rasterizer. They are computed once per checkpoint and
resolution (:func:`build_weights_cache`), cached beside the run (:func:`load_or_build_cache`,
``RUN/relevancy_cache.pt``) and the logits are fitted by :func:`point2act.relevancy_fit.fit_relevancy`.

The run layer (:func:`point2act.method.run.query_run`) loads the run, brings the new points through the
training datamanager and saves the result as a named channel (:mod:`point2act.channels`).
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from point2act.io import save_torch_atomic
from point2act.relevancy_fit import WeightsCache, compositing_weights_views

CACHE_NAME = "relevancy_cache.pt"
CACHE_VERSION = 2


def checkpoint_key(path: Path) -> Dict[str, Any]:
    """What identifies a checkpoint file for the caches: name, size, mtime."""
    st = Path(path).stat()
    return {"file": Path(path).name, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def camera_fingerprint(viewmats: Tensor, Ks: Tensor, sizes: Sequence[Tuple[int, int]]) -> str:
    """A short hash of the views' matrices and sizes (the weights cache's key)."""
    h = hashlib.sha256()
    for t in (viewmats, Ks):
        h.update(t.detach().cpu().numpy().astype(np.float64).tobytes())
    h.update(np.asarray(sizes, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def build_weights_cache(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3] (linear, not log)
    opacities: Tensor,  # [N] (in [0, 1])
    viewmats: Tensor,  # [C, 4, 4] world-to-camera
    Ks: Tensor,  # [C, 3, 3]
    sizes: Sequence[Tuple[int, int]],  # C x (H, W)
    view_ids: Sequence[int],  # C training-image indices
    rasterize_mode: str = "classic",
    min_weight: float = 0.0,
    progress: bool = False,
) -> WeightsCache:
    """Compositing weights of every view for frozen Gaussians. Consecutive views of one size are
    projected and composited in one kernel call."""
    crows, cols, vals, off = [torch.zeros(1, dtype=torch.long)], [], [], 0
    groups: List[Tuple[Tuple[int, int], List[int]]] = []
    for k, hw in enumerate(sizes):
        if not groups or groups[-1][0] != tuple(hw):
            groups.append((tuple(hw), []))
        groups[-1][1].append(k)
    crow = torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        args = (means.detach().float(), quats.detach().float(), scales.detach().float(), opacities.detach().float())
        done = 0
        for (H, W), ks in groups:
            crow, col, val = compositing_weights_views(*args, viewmats[ks].float(), Ks[ks].float(), W, H,
                                                       rasterize_mode, min_weight)
            crows.append(crow[1:] + off)
            off += int(crow[-1])
            cols.append(col)
            vals.append(val)
            done += len(ks)
            if progress:
                print(f"\rweights: {done}/{len(view_ids)} views", end="", flush=True)
    if progress:
        print()
    sizes = [[int(h), int(w)] for h, w in sizes]
    n = int(means.shape[0])
    if len(cols) == 1:  # one size: the kernel's arrays as they are (no copy)
        return WeightsCache(crow, cols[0], vals[0], n, sizes, list(view_ids))
    return WeightsCache(torch.cat(crows), torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int32),
                        torch.cat(vals) if vals else torch.zeros(0), n, sizes, list(view_ids))


class _BackgroundSave:
    """``save_torch_atomic`` in a thread (the write overlaps the refit); :meth:`join` re-raises its error."""

    def __init__(self, obj, path: Path):
        self.error: BaseException | None = None
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


def load_or_build_cache(path: Path, key: Dict[str, Any], build: Callable[[], WeightsCache], rebuild: bool = False,
                        background_save: bool = False) -> Tuple[WeightsCache, bool, float]:
    """The weights cache at ``path`` if its stored key equals ``key``, else ``build()`` and save it;
    returns (cache, built?, seconds). A corrupt cache is rebuilt with a warning, never trusted.

    With ``background_save`` a freshly built cache is written by a thread; ``cache.saving`` is then
    a handle whose ``join()`` waits for the write (and raises its error). A stored cache is mapped, not read
    (``mmap``, private: nothing is written through the map): the rows its users take (:func:`subset`) are read
    then, not the whole file (200 MB for a 100-view capture, 0.1 s to read)."""
    t0 = time.perf_counter()
    path = Path(path)
    if path.is_file() and not rebuild:
        try:
            d = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
            if d.get("meta", {}).get("key") == key:
                return WeightsCache.from_dict(d), False, time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001  (a corrupt cache is rebuilt, never trusted)
            warnings.warn(f"{path}: unreadable weights cache ({type(e).__name__}: {e}); rebuilding it", stacklevel=2)
    cache = build()
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


@dataclass
class QueryResult:
    """What one re-query produced (``point2act query``)."""

    name: str
    """The channel's name (``RUN/relevancy/NAME.pt``)."""
    prompt: str
    """The task the channel answers."""
    role: str
    """``grasp``, ``place`` or ``avoid``."""
    logits: torch.Tensor
    """[N] fitted relevancy logits, aligned with the checkpoint's Gaussians."""
    channel_path: Path
    """Where the channel was saved."""
    timings_s: Dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (load_run, points_and_heatmaps, weights_cache_build|load, select, fit, total)."""
    num_views: int = 0
    """Supervised views the fit used."""
    num_gaussians: int = 0
    """N."""
    nnz: int = 0
    """Non-zero compositing weights of those views."""
    losses: List[float] = field(default_factory=list)
    """The loss at every fit step."""
    support: Any = None
    """The views' consensus the refit formed on the channel's answers (:class:`point2act.method.run.ChannelSupport`):
    the channel's export takes it rather than forming it again; None where the refit formed none."""
