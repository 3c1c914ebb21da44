"""Fast relevancy refits on frozen geometry: sparse compositing weights and a small solver.

With the Gaussians fixed, the relevancy a view renders is linear in the per-Gaussian relevancy::

    render_v[p] = sum_i w_v[p, i] * sigmoid(logit_i),    w_v[p, i] = alpha_i(p) * T_i(p)

where ``alpha_i(p)`` and the transmittance ``T_i(p)`` follow the rasterizer's rules exactly (gsplat
1.4.0: ``alpha = min(0.999, opacity * exp(-sigma))``, skipped when ``sigma < 0`` or
``alpha < 1/255``, front-to-back, a pixel stops before the first Gaussian that would bring ``T``
to ``<= 1e-4``; only the Gaussians listed in a pixel's tile). :func:`compositing_weights_views`
computes ``W`` (all views stacked, CSR) from the same projection and tile lists as
:func:`point2act.render.rasterization` (it calls the same CPU pipeline with a different last
stage), so ``W @ relevancy`` equals the rasterizer's relevancy render up to float rounding. The
last stage is a C++/OpenMP kernel of the rasterizer extension (the forward pass's per-pixel loop,
emitting weights instead of colours); its torch reference is
``point2act.render._torch_impl._compositing_weights`` (tests compare the two).

:func:`fit_relevancy` then minimises the training loss (:func:`point2act.losses.relevancy_loss`,
per view, averaged over the supervised views) over the logits alone: it hands the cache's arrays to the
refit's one solver, :func:`point2act.requery.fit_numpy.fit_logits` (numpy, Adam, full batch, one pass of a fused C++
kernel over ``W`` a step). The kernels (the loss pass, the CSR transpose, :func:`median_depth_csr`) are
:mod:`point2act.requery.fit_numpy`'s pybind11 extension of numpy arrays (``point2act/csrc``); this module's wrappers
take and give tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from point2act.requery import fit_numpy
from point2act.render.splats import Splats
from point2act.render.tiles import TileLists
from point2act.splatting import Views

EXTENSION = fit_numpy.EXTENSION
"""The refit's kernels: a pybind11 module of numpy arrays (:mod:`point2act.requery.fit_numpy`), shared with the torch-free
``point2act query``."""
LOSS_FORMS = fit_numpy.LOSS_FORMS
median_depth_csr = fit_numpy.median_depth_csr
Csr = fit_numpy.Csr
FitSchedule = fit_numpy.FitSchedule
Objective = fit_numpy.Objective


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the refit's extension (``point2act/csrc``)."""
    return EXTENSION.load(verbose)


def csr_transpose(
    crow: Tensor,  # [R + 1] int64
    col: Tensor,  # [nnz] int32
    val: Tensor,  # [nnz] float32
    num_cols: int,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Transpose of a CSR matrix ``[R, num_cols]``: (crow [num_cols + 1], col [nnz] int64, val [nnz])."""
    out = fit_numpy.csr_transpose(crow.to(torch.int64).numpy(), col.to(torch.int32).numpy(),
                              val.to(torch.float32).numpy(), num_cols)
    return tuple(torch.from_numpy(a) for a in out)


def relevancy_loss_grad(
    A: Csr,  # [R, N] of tensors: crow [R + 1] int64, col [nnz] int32, val [nnz] float32
    s: Tensor,  # [N] per-Gaussian relevancy in [0, 1]
    target: Tensor,  # [R]
    row_w: Tensor,  # [R]
    form: str,
) -> Tuple[float, Tensor]:
    """Loss ``sum_r row_w[r] * l(clamp((A s)_r, 0, 1), target[r])`` and its gradient [N] w.r.t. ``s``: one pass
    over the CSR matrix ``A`` (:func:`point2act.requery.fit_numpy.relevancy_loss_grad` on the tensors' arrays)."""
    crow, col, val, s, target, row_w = (t.detach().cpu().numpy()
                                        for t in (*A, s.float(), target.float(), row_w.float()))
    loss, grad = fit_numpy.relevancy_loss_grad(Csr(crow, col, val), s, target, row_w, form)
    return loss, torch.from_numpy(grad)


@dataclass(frozen=True)
class ProjectedViews:
    """C views' projection of N Gaussians and their tile lists, as :func:`point2act.render.rasterization`'s CPU
    pipeline hands them to its last stage (unpacked layout)."""

    means2d: Tensor  # [C, N, 2]
    """Projected centres in pixels."""
    conics: Tensor  # [C, N, 3]
    """Inverse 2D covariances (upper triangle)."""
    opacities: Tensor  # [C, N]
    """Opacities (times the anti-aliasing compensation in ``"antialiased"`` mode)."""
    tiles: TileLists
    """Image and tile sizes, and each tile's Gaussians front to back (``flatten_ids`` into ``C * N``)."""


def _project_views(
    splats: Splats,  # N Gaussians
    views: Views,  # C views of one size (tensors)
    rasterize_mode: str,
) -> ProjectedViews:
    """Projection and tile lists of :func:`point2act.render.rasterization` (its CPU pipeline with the last stage
    replaced), computed on the CPU in float32 wherever ``splats`` live."""
    from point2act.render import _backend
    from point2act.render.rasterization import _rasterization_cpu

    N = splats.means.shape[0]
    height, width = views.size()
    captured: List[ProjectedViews] = []

    def capture(means2d, conics, _colors, opacities, *tiling, **_kw):  # rasterize_to_pixels' call
        width, height, tile_size, isect_offsets, flatten_ids = tiling
        captured.append(ProjectedViews(means2d, conics, opacities,
                                       TileLists(width, height, tile_size, isect_offsets, flatten_ids)))
        z = means2d.new_zeros(means2d.shape[0], height, width, 1)
        return z, z

    cpu = lambda t: t.detach().to("cpu", torch.float32)  # noqa: E731  (the CPU kernels do this work wherever the run lives)
    with torch.no_grad():
        _rasterization_cpu(
            cpu(splats.means), cpu(splats.quats), cpu(splats.scales), cpu(splats.opacities), torch.zeros(N, 1),
            cpu(views.viewmats), cpu(views.Ks), int(width), int(height),
            near_plane=0.01, far_plane=1e10, radius_clip=0.0, eps2d=0.3, sh_degree=None, packed=False,
            tile_size=16, backgrounds=None, render_mode="RGB", sparse_grad=False, absgrad=False,
            rasterize_mode=rasterize_mode, distributed=False, camera_model="pinhole", covars=None,
            rasterize_fn=capture, isect_fn=_backend.isect_tiles,
        )
    return captured[0]


def compositing_weights_views(
    splats: Splats,  # N Gaussians
    views: Views,  # C views of one size (tensors: world -> camera in OpenCV axes, intrinsics)
    rasterize_mode: str = "classic",
    min_weight: float = 0.0,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Compositing weights of ``C`` views of one size, stacked: CSR ``[C * height * width, N]`` as
    (crow [R + 1] int64, col [nnz] int32, val [nnz] float32), rows ``(c * height + y) * width + x``.

    One pass of the C++/OpenMP kernel (:func:`point2act.render.compositing_weights`) over all views'
    tiles, after the rasterizer's own projection and tile lists; its reference is
    ``point2act.render._torch_impl._compositing_weights``. ``W @ c`` is the rasterizer's render of ``c``.
    """
    from point2act.render import _backend

    cap = _project_views(splats, views, rasterize_mode)
    return _backend.compositing_weights(cap.means2d, cap.conics, cap.opacities, cap.tiles, float(min_weight))


def compositing_weights(
    splats: Splats,  # N Gaussians
    view: Views,  # one view (tensors)
    rasterize_mode: str = "classic",
    min_weight: float = 0.0,
) -> Tensor:  # [height * width, N] sparse CSR
    """Sparse CSR ``[height * width, N]`` of compositing weights ``alpha_i * T_i`` of one view.

    Arguments are those :func:`point2act.render.rasterization` takes (one camera, ``packed=False``,
    ``near_plane=0.01``, as :meth:`Point2ActModel.render_relevancy` calls it). Rendering any
    per-Gaussian colour ``c`` [N] is then ``W @ c`` (no background). Weights ``<= min_weight``
    are dropped (0: exact).
    """
    if len(view) != 1:
        raise ValueError(f"one view expected, got {len(view)}")
    height, width = view.size()
    crow, col, val = compositing_weights_views(splats, view, rasterize_mode, min_weight)
    return _csr(crow, col, val, (int(width) * int(height), int(splats.means.shape[0])))


def _csr(crow: Tensor, col: Tensor, val: Tensor, shape) -> Tensor:
    """torch CSR tensor (int64 indices) without the beta warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(crow.long(), col.long(), val.float(), shape)


# ----------------------------------------------------------------------------------------------
# stacked system
# ----------------------------------------------------------------------------------------------
@dataclass
class WeightsCache:
    """Compositing weights of several views stacked into one CSR matrix ``[sum_v H_v W_v, N]``."""

    crow: Tensor  # [R + 1] int64
    """CSR row offsets; row r is pixel r of the stacked views (view by view, row-major)."""
    col: Tensor  # [nnz] int32
    """Gaussian index of each weight."""
    val: Tensor  # [nnz] float32
    """The weights alpha * T."""
    num_gaussians: int
    """N, the matrix's column count."""
    sizes: List[List[int]]  # [[H, W], ...] per view
    """(H, W) of each view."""
    view_ids: List[int]  # training-image index of each view
    """Training-image index of each view."""
    meta: Dict = field(default_factory=dict)
    """Free-form: the cache key (checkpoint, cameras, resolution) it was built for."""

    def __post_init__(self) -> None:
        self.crow = self.crow.long().contiguous()
        self.col = self.col.to(torch.int32).contiguous()
        self.val = self.val.float().contiguous()

    @property
    def num_rows(self) -> int:
        return int(sum(h * w for h, w in self.sizes))

    @property
    def nnz(self) -> int:
        return int(self.val.numel())

    def row_offsets(self) -> List[int]:
        out, o = [], 0
        for h, w in self.sizes:
            out.append(o)
            o += h * w
        return out + [o]

    @classmethod
    def from_views(cls, mats: Sequence[Tensor], sizes, view_ids, meta=None) -> "WeightsCache":
        """From per-view torch CSR tensors ``[H_v W_v, N]``."""
        crows, cols, vals, off = [torch.zeros(1, dtype=torch.long)], [], [], 0
        N = int(mats[0].shape[1]) if mats else 0
        for m in mats:
            cr = m.crow_indices().long()
            crows.append(cr[1:] + off)
            off += int(cr[-1])
            cols.append(m.col_indices())
            vals.append(m.values().float())
        return cls(torch.cat(crows), torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int32),
                   torch.cat(vals) if vals else torch.zeros(0), N, [list(map(int, s)) for s in sizes],
                   [int(v) for v in view_ids], dict(meta or {}))

    def subset(self, positions: Sequence[int]) -> "WeightsCache":
        """The views at ``positions`` (indices into ``view_ids``), in that order (rows copied)."""
        positions = [int(i) for i in positions]
        if positions == list(range(len(self.sizes))):
            return self
        offs = self.row_offsets()
        crows, cols, vals, off = [torch.zeros(1, dtype=torch.long)], [], [], 0
        for i in positions:
            a, b = offs[i], offs[i + 1]
            s, e = int(self.crow[a]), int(self.crow[b])
            crows.append(self.crow[a + 1 : b + 1] - s + off)
            off += e - s
            cols.append(self.col[s:e])
            vals.append(self.val[s:e])
        return WeightsCache(torch.cat(crows), torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int32),
                            torch.cat(vals) if vals else torch.zeros(0), self.num_gaussians,
                            [list(self.sizes[i]) for i in positions], [self.view_ids[i] for i in positions],
                            dict(self.meta))

    def matrix(self) -> Tensor:
        return _csr(self.crow, self.col, self.val, (self.num_rows, self.num_gaussians))

    def transpose(self) -> Tensor:
        """``[N, rows]`` CSR (built once, kept on the object)."""
        if getattr(self, "_t", None) is None:
            tcrow, tcol, tval = csr_transpose(self.crow, self.col, self.val, self.num_gaussians)
            self._t = _csr(tcrow, tcol, tval, (self.num_gaussians, self.num_rows))
        return self._t

    def view_matrix(self, i: int) -> Tensor:
        offs = self.row_offsets()
        a, b = offs[i], offs[i + 1]
        s, e = int(self.crow[a]), int(self.crow[b])
        return _csr(self.crow[a : b + 1] - s, self.col[s:e], self.val[s:e], (b - a, self.num_gaussians))

    def render(self, relevancy: Tensor) -> List[Tensor]:
        """Per-view renders [H, W, 1] of a per-Gaussian relevancy [N] (in [0, 1])."""
        flat = self.matrix() @ relevancy.float().reshape(-1, 1)
        out, offs = [], self.row_offsets()
        for i, (h, w) in enumerate(self.sizes):
            out.append(flat[offs[i] : offs[i + 1]].reshape(h, w, 1))
        return out

    def to_dict(self) -> Dict:
        return {"crow": self.crow, "col": self.col, "val": self.val, "num_gaussians": self.num_gaussians,
                "sizes": self.sizes, "view_ids": self.view_ids, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: Dict) -> "WeightsCache":
        return cls(d["crow"], d["col"], d["val"], int(d["num_gaussians"]), d["sizes"], list(d["view_ids"]),
                   dict(d.get("meta", {})))


def stacked_relevancy_loss(pred: Tensor, target: Tensor, form: str, pos_weight: float, row_scale: Tensor) -> Tensor:
    """``sum_v relevancy_loss(pred_v, target_v) / V`` on stacked views, with ``row_scale`` =
    ``1 / (V * sum of the view's pixel weights)`` per row (the same per-pixel terms as
    :func:`point2act.losses.relevancy_loss`; tests check the two agree)."""
    from point2act.losses import relevancy_loss_terms

    per, weight = relevancy_loss_terms(pred, target, form, pos_weight)
    return (per * (weight * row_scale)).sum()


@dataclass
class FitResult:
    logits: Tensor  # [N]
    """Fitted relevancy logits."""
    losses: List[float]
    """Loss at every step."""
    seconds: float
    """Wall time of the fit."""
    steps: int
    """Adam steps taken."""


def _fit_setup(cache: WeightsCache, targets: Sequence[Tensor], form: str, pos_weight: float) -> Tuple[Tensor, Tensor]:
    """Stacked targets [R] and row weights [R] of :func:`point2act.requery.fit_numpy.fit_setup`, as tensors."""
    flat_t, row_w = fit_numpy.fit_setup(cache.sizes, [t.detach().cpu().float().numpy() for t in targets], form,
                                    pos_weight)
    return torch.from_numpy(flat_t), torch.from_numpy(row_w)


def stacked(cache: WeightsCache) -> fit_numpy.StackedWeights:
    """The cache's arrays as :class:`point2act.requery.fit_numpy.StackedWeights` (no copy)."""
    return fit_numpy.StackedWeights(cache.crow.numpy(), cache.col.numpy(), cache.val.numpy(), cache.num_gaussians,
                                cache.sizes, cache.view_ids, cache.meta)


def fit_relevancy(
    cache: WeightsCache,
    targets: Sequence[Tensor | np.ndarray],  # per cache view: [H, W, 1] in [0, 1]
    objective: Objective = Objective(),
    schedule: FitSchedule = FitSchedule(),
    init: Tensor | None = None,  # [N] logits to start from (default: ``init_logit`` everywhere)
) -> FitResult:
    """Fit per-Gaussian logits [N] so the rendered relevancy matches the targets: :func:`point2act.requery.fit_numpy.fit_logits`
    (the one solver of the fit_numpy) on the cache's arrays, the logits handed back as a tensor.

    The objective is the training loss, :func:`point2act.losses.relevancy_loss` with ``objective``'s
    ``form`` and ``pos_weight`` on each supervised view, averaged over views; Adam, full batch, for
    ``schedule``'s steps and step sizes, from ``objective.init_logit``. Gaussians no view sees keep it (as in
    training, where they get no gradient)."""
    arrays = [t.detach().cpu().float().numpy() if isinstance(t, Tensor) else np.asarray(t, np.float32) for t in targets]
    start = None if init is None else init.detach().cpu().float().numpy()
    fit = fit_numpy.fit_logits(stacked(cache), arrays, objective, schedule, start)
    return FitResult(torch.from_numpy(fit.logits), fit.losses, fit.seconds, fit.steps)


__all__ = ["compositing_weights", "compositing_weights_views", "Csr", "WeightsCache", "fit_relevancy", "FitResult",
           "FitSchedule", "Objective", "ProjectedViews", "Views"]
