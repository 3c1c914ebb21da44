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
per view, averaged over the supervised views) over the logits alone, full batch, with Adam; each
step is one pass of a fused C++ kernel over ``W`` (forward mat-vec, loss, transposed mat-vec), the
two-mat-vec torch version ``point2act.render._torch_impl._relevancy_loss_grad`` being its reference.
That kernel and the CSR transpose are this module's own extension (``point2act/csrc/relevancy_fit.cpp``,
declared in ``relevancy_fit.h``), built by :mod:`point2act._cpp` on first use; so is
:func:`median_depth_csr` (``median_depth_csr.cpp``), the consensus's median depth map in C++.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from point2act import _cpp
from point2act.render.splats import Splats
from point2act.render.tiles import TileLists

EXTENSION = _cpp.Extension("relevancy", _cpp.INCLUDE, "point2act relevancy refit kernels")
LOSS_FORMS = {"bce": 0, "mse": 1, "l1": 2}


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
    return tuple(
        load_extension().csr_transpose(
            crow.to(torch.int64).contiguous(),
            col.to(torch.int32).contiguous(),
            val.to(torch.float32).contiguous(),
            int(num_cols),
            torch.get_num_threads(),
        )
    )


def relevancy_loss_grad(
    crow: Tensor,  # [R + 1] int64
    col: Tensor,  # [nnz] int32
    val: Tensor,  # [nnz] float32
    s: Tensor,  # [N] per-Gaussian relevancy in [0, 1]
    target: Tensor,  # [R]
    row_w: Tensor,  # [R]
    form: str,
) -> Tuple[float, Tensor]:
    """Loss ``sum_r row_w[r] * l(clamp((A s)_r, 0, 1), target[r])`` and its gradient [N] w.r.t. ``s``.

    One pass over the CSR matrix ``A``; see :func:`fit_relevancy`.
    """
    if form not in LOSS_FORMS:
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    loss, grad = load_extension().relevancy_loss_grad(
        crow, col, val, s.to(torch.float32).contiguous(), target.to(torch.float32).contiguous(),
        row_w.to(torch.float32).contiguous(), LOSS_FORMS[form], torch.get_num_threads(),
    )
    return float(loss), grad


def median_depth_csr(
    crow: np.ndarray,  # [H*W + 1] row offsets (need not start at 0)
    col: np.ndarray,  # [nnz] Gaussian of each entry
    val: np.ndarray,  # [nnz] compositing weights alpha * T, front to back
    z: np.ndarray,  # [N] camera depth of every Gaussian
    height: int,
    width: int,
) -> np.ndarray:  # [H, W] float64, NaN where the opacity never reaches 0.5
    """:func:`point2act.grasp.consensus.median_depth_map` in one pass of this module's extension
    (``point2act/csrc/median_depth_csr.cpp``): the same arguments and the same bits (the running sum is the
    same sequential float64 sum over all rows; out-of-order rows are stably sorted by depth, NaN last)."""
    def arr(a, dtype, keep=()):
        a = np.asarray(a)
        return np.require(a, a.dtype if a.dtype in keep else dtype, ["C", "W"])

    out = load_extension().median_depth_csr(
        torch.from_numpy(arr(crow, np.int64)),
        torch.from_numpy(arr(col, np.int64, (np.dtype(np.int32), np.dtype(np.int64)))),
        torch.from_numpy(arr(val, np.float64, (np.dtype(np.float32), np.dtype(np.float64)))),
        torch.from_numpy(arr(z, np.float64)),
        int(height), int(width),
    )
    return out.numpy()


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
    viewmats: Tensor,  # [C, 4, 4] world -> camera (OpenCV)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    rasterize_mode: str,
) -> ProjectedViews:
    """Projection and tile lists of :func:`point2act.render.rasterization` (its CPU pipeline with the last stage
    replaced), computed on the CPU in float32 wherever ``splats`` live."""
    from point2act.render import _backend
    from point2act.render.rasterization import _rasterization_cpu

    N = splats.means.shape[0]
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
            cpu(viewmats), cpu(Ks), int(width), int(height),
            near_plane=0.01, far_plane=1e10, radius_clip=0.0, eps2d=0.3, sh_degree=None, packed=False,
            tile_size=16, backgrounds=None, render_mode="RGB", sparse_grad=False, absgrad=False,
            rasterize_mode=rasterize_mode, distributed=False, camera_model="pinhole", covars=None,
            rasterize_fn=capture, isect_fn=_backend.isect_tiles,
        )
    return captured[0]


def compositing_weights_views(
    splats: Splats,  # N Gaussians
    viewmats: Tensor,  # [C, 4, 4] world -> camera (OpenCV)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
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

    cap = _project_views(splats, viewmats, Ks, width, height, rasterize_mode)
    return _backend.compositing_weights(cap.means2d, cap.conics, cap.opacities, cap.tiles, float(min_weight))


def compositing_weights(
    splats: Splats,  # N Gaussians
    viewmat: Tensor,  # [4, 4] world -> camera (OpenCV)
    K: Tensor,  # [3, 3]
    width: int,
    height: int,
    rasterize_mode: str = "classic",
    min_weight: float = 0.0,
) -> Tensor:  # [height * width, N] sparse CSR
    """Sparse CSR ``[height * width, N]`` of compositing weights ``alpha_i * T_i`` of one view.

    Arguments are those :func:`point2act.render.rasterization` takes (one camera, ``packed=False``,
    ``near_plane=0.01``, as :meth:`Point2ActModel.render_relevancy` calls it). Rendering any
    per-Gaussian colour ``c`` [N] is then ``W @ c`` (no background). Weights ``<= min_weight``
    are dropped (0: exact).
    """
    crow, col, val = compositing_weights_views(splats, viewmat[None], K[None], width, height, rasterize_mode,
                                               min_weight)
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


def _fit_setup(cache: WeightsCache, targets: Sequence[Tensor], form: str, pos_weight: float):
    """Stacked targets [R] and row weights [R]: ``(1 + (pw - 1) t) / (V * the view's weight sum)``
    (:func:`point2act.losses.relevancy_loss` per view, averaged over views)."""
    flat_t = torch.cat([t.float().reshape(-1) for t in targets])
    if flat_t.shape[0] != cache.num_rows:
        raise ValueError(f"targets have {flat_t.shape[0]} pixels, the weights {cache.num_rows} rows")
    if form not in ("bce", "mse", "l1"):
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    offs = cache.row_offsets()
    V = max(1, len(cache.sizes))
    pix_w = 1.0 + (pos_weight - 1.0) * flat_t
    # each view's weight sum in numpy (pairwise, one thread): torch splits a long sum by its thread count
    pw = pix_w.numpy()
    row_w = torch.cat([pix_w[offs[i] : offs[i + 1]] / (V * float(np.sum(pw[offs[i] : offs[i + 1]], dtype=np.float64)))
                       for i in range(len(cache.sizes))])
    return flat_t.contiguous(), row_w.contiguous()


@dataclass(frozen=True)
class FitSchedule:
    """How long and with what step size :func:`fit_relevancy` runs Adam."""

    steps: int = 40
    """Adam steps at most."""
    lr: float = 0.5
    """Step size of the first step."""
    lr_final: float | None = None
    """Step size of the last step, reached by a cosine decay from ``lr`` over ``steps`` (None: constant ``lr``);
    it damps Adam's oscillation when only a few steps are taken."""
    tol: float = 0.0
    """> 0: stop early when the loss improves by less than ``tol`` (relative)."""


def fit_relevancy(
    cache: WeightsCache,
    targets: Sequence[Tensor],  # per cache view: [H, W, 1] in [0, 1]
    form: str = "bce",
    pos_weight: float = 4.0,
    init_logit: float = -4.0,
    schedule: FitSchedule = FitSchedule(),
    init: Tensor | None = None,  # [N] logits to start from (default: ``init_logit`` everywhere)
) -> FitResult:
    """Fit per-Gaussian logits [N] so the rendered relevancy matches the targets.

    The objective is the training loss, :func:`point2act.losses.relevancy_loss` with the run's
    ``form`` and ``pos_weight`` on each supervised view, averaged over views; Adam, full batch, for
    ``schedule``'s steps and step sizes. Gaussians no view sees keep ``init_logit`` (as in training, where
    they get no gradient).
    Each step is one fused pass of the C++ kernel over the weights (forward mat-vec, loss and
    transposed mat-vec, fixed row blocks added in order: the same bits for any thread count); its
    reference is ``point2act.render._torch_impl._relevancy_loss_grad``.
    """
    import time

    t0 = time.perf_counter()
    flat_t, row_w = _fit_setup(cache, targets, form, pos_weight)
    x = (init.detach().float().reshape(-1).clone() if init is not None
         else torch.full((cache.num_gaussians,), float(init_logit)))
    # Adam by hand (torch.optim's first step imports torch._dynamo: seconds)
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    b1, b2, eps = 0.9, 0.999, 1e-15
    losses: List[float] = []
    n = 0
    steps, lr, lr_final, tol = schedule.steps, schedule.lr, schedule.lr_final, schedule.tol
    with torch.no_grad():
        for n in range(1, steps + 1):
            sg = torch.sigmoid(x)
            loss, gs = relevancy_loss_grad(cache.crow, cache.col, cache.val, sg, flat_t, row_w, form)
            losses.append(loss)
            g = gs * sg * (1 - sg)
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            lr_n = lr if lr_final is None or steps < 2 else (
                lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * (n - 1) / (steps - 1))))
            x.addcdiv_(m, (v / (1 - b2**n)).sqrt_().add_(eps), value=-lr_n / (1 - b1**n))
            if tol > 0 and n > 5 and abs(losses[-2] - losses[-1]) <= tol * abs(losses[-2]):
                break
    return FitResult(x.detach().reshape(-1), losses, time.perf_counter() - t0, n)


__all__ = ["compositing_weights", "compositing_weights_views", "WeightsCache", "fit_relevancy", "FitResult",
           "FitSchedule", "ProjectedViews"]
