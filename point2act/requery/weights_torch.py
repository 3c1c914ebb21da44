"""Re-query: a new prompt refits the relevancy channel alone, on frozen geometry. Plain torch.

With the Gaussians fixed, view ``v`` renders relevancy ``W_v @ sigmoid(logits)``, ``W_v`` the sparse
compositing weights (alpha * T, [H*W, N]) of the rasterizer. They are computed where a query needs them
(:func:`build_weights_cache`; 20-60 MB a run, so not kept: the run's cache keeps what they are computed from) and
the logits are fitted by :func:`point2act.requery.fit_torch.fit_relevancy`.

The run layer (:func:`point2act.method.requery_run.query_run`) loads the run, brings the new points through the
training datamanager and saves the result as a named channel (:mod:`point2act.channels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from torch import Tensor

from point2act.requery.from_cache import camera_fingerprint, checkpoint_key, size_groups  # noqa: F401  (re-exported)
from point2act.requery.fit_torch import WeightsCache, compositing_weights_views
from point2act.render.splats import Splats
from point2act.splatting import Views


def build_weights_cache(
    splats: Splats,  # N frozen Gaussians
    views: Views,  # C views (tensors), of any sizes
    view_ids: Sequence[int],  # C training-image indices
    rasterize_mode: str = "classic",
    min_weight: float = 0.0,
    progress: bool = False,
) -> WeightsCache:
    """Compositing weights of every view for frozen Gaussians (:class:`~point2act.requery.fit_torch.WeightsCache`,
    ``[sum_v H_v W_v, N]``). Consecutive views of one size are projected and composited in one kernel call."""
    crows, cols, vals, off = [torch.zeros(1, dtype=torch.long)], [], [], 0
    crow = torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        g = splats
        frozen = Splats(g.means.detach().float(), g.quats.detach().float(), g.scales.detach().float(),
                        g.opacities.detach().float())
        done = 0
        for _size, ks in size_groups(views.sizes):
            crow, col, val = compositing_weights_views(frozen, views.take(ks), rasterize_mode, min_weight)
            crows.append(crow[1:] + off)
            off += int(crow[-1])
            cols.append(col)
            vals.append(val)
            done += len(ks)
            if progress:
                print(f"\rweights: {done}/{len(view_ids)} views", end="", flush=True)
    if progress:
        print()
    sizes = [[int(h), int(w)] for h, w in views.sizes]
    n = int(splats.means.shape[0])
    if len(cols) == 1:  # one size: the kernel's arrays as they are (no copy)
        return WeightsCache(crow, cols[0], vals[0], n, sizes, list(view_ids))
    return WeightsCache(torch.cat(crows), torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int32),
                        torch.cat(vals) if vals else torch.zeros(0), n, sizes, list(view_ids))


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
    """Wall seconds per stage (load_run, points_and_heatmaps, weights_cache_build, fit, consensus, total)."""
    num_views: int = 0
    """Supervised views the fit used."""
    num_gaussians: int = 0
    """N."""
    nnz: int = 0
    """Non-zero compositing weights of those views."""
    losses: List[float] = field(default_factory=list)
    """The loss at every fit step."""
    support: Any = None
    """The views' consensus the refit formed on the channel's answers
    (:class:`point2act.method.supervision.ChannelSupport`): the channel's export takes it rather than forming it
    again; None where the refit formed none."""
