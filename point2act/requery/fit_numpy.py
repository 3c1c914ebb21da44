"""The relevancy refit on frozen geometry in numpy: its C++ kernels without torch, the stacked views' compositing
weights as plain arrays, and the one Adam solver that ``point2act query`` and the end of training run.

With the Gaussians fixed, view ``v`` renders relevancy ``W_v @ sigmoid(logits)``, ``W_v`` the sparse compositing
weights (alpha * T, [H*W, N]) of the rasterizer (:func:`compositing_weights_views` computes them here without
torch, with the bits of :func:`point2act.requery.fit_torch.compositing_weights_views`, the torch side). :func:`fit_logits` minimises the training loss (:func:`point2act.losses.relevancy_loss`
per view, averaged over the supervised views) over the logits alone, full batch, with Adam; each step is one pass
of a fused C++ kernel over ``W`` (forward mat-vec, loss, transposed mat-vec, fixed row blocks added in order: the
same bits for any thread count), whose torch reference is ``point2act.render._torch_impl._relevancy_loss_grad``.

The kernels (``point2act/csrc``: relevancy_fit.cpp, median_depth_csr.cpp, compositing_weights_views.cpp, declared
in relevancy_fit.h) are a pybind11 module of numpy arrays (:class:`point2act._cpp.PybindExtension`, built on first
use): the fused loss pass, the CSR transpose, the views' median depth maps (:func:`median_depth_csr`), the
rasterizer's colour accumulation on stored weights (:func:`csr_matvec`) and the views' compositing weights
(:func:`compositing_weights_views`: the rasterizer's projection, tile lists and weights kernels, whose headers in
``point2act/render/csrc`` are on the module's include path and in its build key). Imports numpy and the standard library only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import numpy as np

from point2act import _cpp
from point2act.splatting import SplatArrays, Views, pixel_divisor

RENDER_CSRC = Path(_cpp.__file__).resolve().parent / "render" / "csrc"
"""The rasterizer's torch-free kernel headers (projection_fwd.h, isect_tiles.h, compositing_weights.h, common.h)."""
EXTENSION = _cpp.PybindExtension("relevancy", _cpp.INCLUDE, "point2act relevancy refit kernels",
                                 include_dirs=(RENDER_CSRC,))
LOSS_FORMS = {"bce": 0, "mse": 1, "l1": 2}

SUPPORT_MIN_WEIGHT = 1e-3
"""The compositing weights the views' consensus reads and a refit fits by default: those above it
(:func:`point2act.method.supervision.supervised_views`, :mod:`point2act.requery.from_cache`)."""

SUPPORT_MAX_PIXELS = 320 * 240
"""The most pixels of one view that the views' consensus and the refit read (:func:`support_divisor`): 640x480 at
the default 1/2, the largest views the gate's captures train at. Beyond it the compositing weights they read would
grow with the capture's pixels (80 views of 1280x960 at 1/2: 14 GB for a query) while the answers they fit stay
one blob per view."""


def support_divisor(height: int, width: int, downscale: int, max_pixels: int | None = SUPPORT_MAX_PIXELS) -> int:
    """The resolution divisor a view of ``height x width`` pixels is read at for the views' consensus and the refit:
    ``downscale`` (at least 1), or the smallest larger whole number ``d`` for which ``height * width <= max_pixels
    * d * d`` (at most ``max_pixels`` pixels at 1/d); ``max_pixels`` None: ``downscale``. Integer arithmetic, so
    every path reads a view at the same resolution."""
    return max(1, int(downscale), pixel_divisor(height, width, max_pixels))


@dataclass(frozen=True)
class RefitOptions:
    """How ``point2act query`` refits a channel (the options of the CLI's ``Query``)."""

    steps: int = 16
    """Adam steps of the refit (full batch)."""
    lr: float = 1.0
    """Step size of the first step."""
    lr_final: float | None = 0.1
    """Step size of the last step (cosine decay from ``lr``; None: constant)."""
    downscale: int = 2
    """The fit runs at 1/``downscale`` of the training resolution (the weights are computed per resolution)."""
    min_weight: float = SUPPORT_MIN_WEIGHT
    """Compositing weights at or below it are left out of the cache (0: exact renders)."""


RELEVANCY_LOSS_FORM = "bce"
"""Form of the relevancy loss in training and in every refit: binary cross-entropy, the heatmap read as a
probability per pixel."""

RELEVANCY_POS_WEIGHT = 4.0
"""Extra weight on target pixels (``target * (pos_weight - 1) + 1``): the blobs are small and the rest is 0, so an
unweighted loss would settle on "nothing is relevant"."""

RELEVANCY_INIT_LOGIT = -4.0
"""Relevancy logit every Gaussian starts from, in training and in a refit (sigmoid(-4) = 0.018: nothing is
relevant yet)."""


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the refit's extension (``point2act/csrc``)."""
    return EXTENSION.load(verbose)


def _arr(a, dtype) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def csr_transpose(crow: np.ndarray, col: np.ndarray, val: np.ndarray,
                  num_cols: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transpose of a CSR matrix ``[R, num_cols]`` (crow [R + 1], col [nnz], val [nnz]): (crow [num_cols + 1] int64,
    col [nnz] int64, val [nnz] float32), each row's entries in ascending column order."""
    return tuple(load_extension().csr_transpose(_arr(crow, np.int64), _arr(col, np.int32), _arr(val, np.float32),
                                                int(num_cols)))


class Csr(NamedTuple):
    """A sparse matrix ``[R, N]`` in CSR form: its row offsets, column indices and values mean something only
    together. numpy arrays here, tensors on the torch side (:mod:`point2act.requery.fit_torch`)."""

    crow: Any  # [R + 1] int64
    """Row offsets: row r's entries are ``crow[r]:crow[r + 1]``."""
    col: Any  # [nnz] int32
    """Column (Gaussian) of each entry."""
    val: Any  # [nnz] float32
    """The entries (compositing weights)."""


def relevancy_loss_grad(A: Csr, s: np.ndarray, target: np.ndarray, row_w: np.ndarray,
                        form: str, want_loss: bool = True) -> Tuple[float, np.ndarray]:
    """Loss ``sum_r row_w[r] * l(clamp((A s)_r, 0, 1), target[r])`` and its gradient [N] float32 w.r.t. ``s``
    [N], in one pass over the CSR matrix ``A`` (crow int64, col int32, val float32; ``target``, ``row_w`` [R]).
    ``want_loss=False``: the gradient alone (the same bits), the loss NaN; a BCE pass then takes no logarithm."""
    if form not in LOSS_FORMS:
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    _check_columns(A.col, np.size(s))
    return _loss_grad(Csr(_arr(A.crow, np.int64), _arr(A.col, np.int32), _arr(A.val, np.float32)),
                      _arr(s, np.float32), _arr(target, np.float32), _arr(row_w, np.float32), form, want_loss)


def _check_columns(col: np.ndarray, n: int) -> None:
    """ValueError unless every column index lies in [0, n) (the kernels index with them unchecked)."""
    col = np.asarray(col)
    if col.size and (int(col.min()) < 0 or int(col.max()) >= int(n)):
        raise ValueError(f"col entries must lie in [0, {int(n)})")


def _loss_grad(A: Csr, s, target, row_w, form: str, want_loss: bool = True) -> Tuple[float, np.ndarray]:
    """:func:`relevancy_loss_grad` on arrays of the kernel's dtypes whose columns are checked."""
    loss, grad = load_extension().relevancy_loss_grad(A.crow, A.col, A.val, s, target, row_w, LOSS_FORMS[form],
                                                      want_loss)
    return float(loss), grad


def csr_matvec(crow: np.ndarray, col: np.ndarray, val: np.ndarray, x: np.ndarray) -> np.ndarray:  # [R] float32
    """``A @ x`` in float32, each row accumulated front to back with one fused multiply-add per entry: on a view's
    exact compositing weights, the bits of the rasterizer's render of the colour ``x``."""
    _check_columns(col, np.size(x))
    return load_extension().csr_matvec(_arr(crow, np.int64), _arr(col, np.int32), _arr(val, np.float32),
                                       _arr(x, np.float32))


def median_depth_csr(
    crow: np.ndarray,  # [H*W + 1] row offsets (need not start at 0)
    col: np.ndarray,  # [nnz] Gaussian of each entry
    val: np.ndarray,  # [nnz] compositing weights alpha * T, front to back
    z: np.ndarray,  # [N] camera depth of every Gaussian
    height: int,
    width: int,
) -> np.ndarray:  # [H, W] float64, NaN where the opacity never reaches 0.5
    """:func:`point2act.where.consensus.median_depth_map` in one pass of the extension
    (``point2act/csrc/median_depth_csr.cpp``): the same arguments and the same bits (the running sum is the
    same sequential float64 sum over all rows; out-of-order rows are stably sorted by depth, NaN last)."""
    def arr(a, dtype, keep=()):
        a = np.asarray(a)
        return np.ascontiguousarray(a, a.dtype if a.dtype in keep else dtype)

    return load_extension().median_depth_csr(
        arr(crow, np.int64), arr(col, np.int64, (np.dtype(np.int32), np.dtype(np.int64))),
        arr(val, np.float64, (np.dtype(np.float32), np.dtype(np.float64))), arr(z, np.float64),
        int(height), int(width))


RASTERIZE_MODES = {"classic": False, "antialiased": True}
"""The rasterize modes :func:`compositing_weights_views` takes, and whether each scales the opacities by the
projection's anti-aliasing compensation."""


def _kernel_size(views: Views) -> Tuple[int, int]:
    """``(height, width)`` of views of one size as the kernels take it (no views: no rows, whatever the size)."""
    return views.size() if len(views) else (1, 1)


def compositing_weights_views(
    splats: SplatArrays,  # N Gaussians
    views: Views,  # C views of one size
    rasterize_mode: str = "classic",
    min_weight: float = 0.0,
    num_threads: int = -1,
) -> Csr:
    """Compositing weights ``alpha * T`` of ``C`` views of one size, stacked, without torch: the bits of
    :func:`point2act.requery.fit_torch.compositing_weights_views` (the rasterizer's projection, tile lists and weights
    kernels, compiled into this module's extension, with its settings: near plane 0.01, far plane 1e10, no radius
    clip, eps2d 0.3, 16-pixel tiles). ``W @ c`` is the rasterizer's render of a per-Gaussian colour ``c``.

    Args:
        splats: The Gaussians, activated, float32 (other dtypes are converted).
        views: The views (world -> camera in OpenCV axes, pinhole intrinsics), all of one size.
        rasterize_mode: ``"classic"`` or ``"antialiased"`` (opacities times the projection's compensation).
        min_weight: Weights at or below it are left out (they still attenuate the Gaussians behind them; 0: all).
        num_threads: OpenMP threads (<= 0: OpenMP's default); the output does not depend on it.

    Returns:
        CSR ``[C * height * width, N]``: crow [C * height * width + 1] int64, col [nnz] int32 (Gaussian of each
        weight), val [nnz] float32; rows ``(c * height + y) * width + x``, each row's entries front to back.
    """
    if rasterize_mode not in RASTERIZE_MODES:
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}; use 'classic' or 'antialiased'")
    f32 = lambda a: _arr(a, np.float32)  # noqa: E731
    height, width = _kernel_size(views)
    return Csr(*load_extension().compositing_weights_views(
        f32(splats.means), f32(splats.quats), f32(splats.scales), f32(splats.opacities), f32(views.viewmats),
        f32(views.Ks), int(width), int(height), RASTERIZE_MODES[rasterize_mode], float(min_weight),
        int(num_threads)))


HALF_NORMAL_MIN = 2.0 ** -14
"""float16's smallest normal: :func:`half_weight_render_views` takes weight floors at or above it."""


def half_rounded(x: np.ndarray) -> np.ndarray:  # [n] float32
    """``x`` rounded to float16 and back by :func:`half_weight_render_views`' rule (round to nearest, ties to even:
    numpy's ``astype(float16)`` over float16's normal range)."""
    return load_extension().half_rounded(_arr(np.reshape(x, -1), np.float32))


def half_weight_render_views(
    splats: SplatArrays,  # N Gaussians
    views: Views,  # C views of one size
    values: np.ndarray,  # [N]
    rasterize_mode: str = "classic",
    min_weight: float = 1e-3,
    num_threads: int = -1,
    tiles: np.ndarray | None = None,  # [C, ceil(height / TILE), ceil(width / TILE)] bool
) -> np.ndarray:  # [C, height, width] float32
    """Per pixel of ``C`` views of one size, ``sum_i half(w_i) * values[g_i]`` over the compositing weights above
    ``min_weight`` (``half``: rounded to float16), front to back, one fused multiply-add each: the bits of
    :func:`csr_matvec` on :func:`compositing_weights_views`' weights cast to float16 (as
    :class:`point2act.fusion.FusionWeights` keeps them), without storing the weights.

    Args:
        splats, views, rasterize_mode: as :func:`compositing_weights_views` takes them.
        values: A value per Gaussian (a field's relevancy), float32.
        min_weight: The weights' floor, at least :data:`HALF_NORMAL_MIN`.
        num_threads: OpenMP threads (<= 0: OpenMP's default); the output does not depend on it.
        tiles: Only the square tiles of :func:`views_tile_size` pixels marked here are composited (each pixel's
            value is its own: the same bits as the whole render there), the other pixels 0; None: every tile.
    """
    if rasterize_mode not in RASTERIZE_MODES:
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}; use 'classic' or 'antialiased'")
    if not min_weight >= HALF_NORMAL_MIN:
        raise ValueError(f"min_weight {min_weight} is below float16's smallest normal {HALF_NORMAL_MIN}")
    f32 = lambda a: _arr(a, np.float32)  # noqa: E731
    height, width = _kernel_size(views)
    mask = np.zeros(0, np.uint8) if tiles is None else np.ascontiguousarray(tiles, dtype=np.uint8)
    return load_extension().half_weight_render_views(
        f32(splats.means), f32(splats.quats), f32(splats.scales), f32(splats.opacities), f32(views.viewmats),
        f32(views.Ks), int(width), int(height), RASTERIZE_MODES[rasterize_mode], float(min_weight),
        f32(np.reshape(values, -1)), mask, int(num_threads))


def views_tile_size() -> int:
    """The side, in pixels, of the square tiles the views' kernels composite (:func:`half_weight_render_views`'
    ``tiles``)."""
    return int(load_extension().TILE_SIZE)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in ``x``'s float dtype (the refit's and the channels' relevancy of logits)."""
    x = np.asarray(x)
    one = x.dtype.type(1)
    with np.errstate(over="ignore"):
        return one / (one + np.exp(-x))


@dataclass
class StackedWeights:
    """Compositing weights of several views stacked into one CSR matrix ``[sum_v H_v W_v, N]``, numpy arrays (the
    query's training views, computed without torch from the run cache's query section)."""

    crow: np.ndarray  # [R + 1] int64
    """CSR row offsets; row r is pixel r of the stacked views (view by view, row-major)."""
    col: np.ndarray  # [nnz] int32
    """Gaussian index of each weight."""
    val: np.ndarray  # [nnz] float32
    """The weights alpha * T."""
    num_gaussians: int
    """N, the matrix's column count."""
    sizes: List[List[int]]
    """(H, W) of each view."""
    view_ids: List[int]
    """Training-image index of each view."""
    meta: Dict = field(default_factory=dict)
    """Free-form: what the weights were built for."""

    @property
    def num_rows(self) -> int:
        return int(sum(h * w for h, w in self.sizes))

    @property
    def nnz(self) -> int:
        return int(self.val.shape[0])

    def row_offsets(self) -> List[int]:
        """The first row of each view, and the row count at the end."""
        return [0, *np.cumsum([h * w for h, w in self.sizes], dtype=np.int64).tolist()]

    def subset(self, positions: Sequence[int]) -> "StackedWeights":
        """The views at ``positions`` (indices into ``view_ids``), in that order (rows copied)."""
        positions = [int(i) for i in positions]
        if positions == list(range(len(self.sizes))):
            return self
        offs = self.row_offsets()
        crows, cols, vals, off = [np.zeros(1, np.int64)], [np.zeros(0, np.int32)], [np.zeros(0, np.float32)], 0
        for i in positions:
            a, b = offs[i], offs[i + 1]
            s, e = int(self.crow[a]), int(self.crow[b])
            crows.append(np.asarray(self.crow[a + 1 : b + 1], dtype=np.int64) - s + off)
            off += e - s
            cols.append(self.col[s:e])
            vals.append(self.val[s:e])
        return StackedWeights(np.concatenate(crows), np.concatenate(cols), np.concatenate(vals), self.num_gaussians,
                              [list(self.sizes[i]) for i in positions], [self.view_ids[i] for i in positions],
                              dict(self.meta))

    def of_views(self, view_ids: Sequence[int]) -> "StackedWeights":
        """The rows of ``view_ids`` (training-image indices), in that order."""
        pos = {int(v): k for k, v in enumerate(self.view_ids)}
        return self.subset([pos[int(v)] for v in view_ids])


@dataclass(frozen=True)
class FitSchedule:
    """How long and with what step size :func:`fit_logits` runs Adam."""

    steps: int = 40
    """Adam steps at most."""
    lr: float = 0.5
    """Step size of the first step."""
    lr_final: float | None = None
    """Step size of the last step, reached by a cosine decay from ``lr`` over ``steps`` (None: constant ``lr``);
    it damps Adam's oscillation when only a few steps are taken."""
    tol: float = 0.0
    """> 0: stop early when the loss improves by less than ``tol`` (relative)."""


@dataclass(frozen=True)
class Objective:
    """The loss a refit minimises: training's relevancy loss per view, averaged over the views."""

    form: str = RELEVANCY_LOSS_FORM
    """``bce``, ``mse`` or ``l1`` (:data:`RELEVANCY_LOSS_FORM`)."""
    pos_weight: float = RELEVANCY_POS_WEIGHT
    """Weight of a pixel of target 1 against one of target 0 (:data:`RELEVANCY_POS_WEIGHT`)."""
    init_logit: float = RELEVANCY_INIT_LOGIT
    """Where the logits start (:data:`RELEVANCY_INIT_LOGIT`)."""


@dataclass
class LogitFit:
    """What :func:`fit_logits` found."""

    logits: np.ndarray  # [N] float32
    """Fitted relevancy logits."""
    losses: List[float]
    """The loss at each step, before its update, where it was evaluated: the first step and the last, and every
    step when ``FitSchedule.tol`` stops on it; NaN at the others (evaluating it is most of a BCE step's time)."""
    seconds: float
    """Wall time of the fit."""
    steps: int
    """Adam steps taken."""


def fit_setup(sizes: Sequence[Sequence[int]], targets: Sequence[np.ndarray], form: str,
              pos_weight: float) -> Tuple[np.ndarray, np.ndarray]:
    """Stacked targets [R] and row weights [R] float32 of views of ``sizes``: ``(1 + (pw - 1) t) / (V * the view's
    weight sum)`` (:func:`point2act.losses.relevancy_loss` per view, averaged over views)."""
    if form not in LOSS_FORMS:
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    flat_t = np.concatenate([np.asarray(t, dtype=np.float32).reshape(-1) for t in targets]) if len(targets) \
        else np.zeros(0, np.float32)
    rows = int(sum(int(h) * int(w) for h, w in sizes))
    if flat_t.shape[0] != rows:
        raise ValueError(f"targets have {flat_t.shape[0]} pixels, the weights {rows} rows")
    offs = [0, *np.cumsum([int(h) * int(w) for h, w in sizes], dtype=np.int64).tolist()]
    V = max(1, len(sizes))
    pix_w = np.float32(1.0) + np.float32(pos_weight - 1.0) * flat_t
    row_w = [pix_w[a:b] / np.float32(V * float(np.sum(pix_w[a:b], dtype=np.float64)))
             for a, b in zip(offs[:-1], offs[1:])]
    return flat_t, (np.concatenate(row_w) if row_w else np.zeros(0, np.float32)).astype(np.float32)


def fit_logits(weights: StackedWeights, targets: Sequence[np.ndarray], objective: Objective = Objective(),
               schedule: FitSchedule = FitSchedule(), init: np.ndarray | None = None) -> LogitFit:
    """Fit per-Gaussian logits [N] so that the rendered relevancy ``W @ sigmoid(logits)`` matches ``targets`` (one
    [H, W] or [H, W, 1] array in [0, 1] per view of ``weights``), with Adam, full batch, for ``schedule``'s steps
    and step sizes, from ``init`` (default: ``objective.init_logit`` everywhere). Gaussians no view sees keep their
    start (as in training, where they get no gradient). float32 throughout."""
    t0 = time.perf_counter()
    flat_t, row_w = fit_setup(weights.sizes, targets, objective.form, objective.pos_weight)
    _check_columns(weights.col, weights.num_gaussians)
    A = Csr(_arr(weights.crow, np.int64), _arr(weights.col, np.int32), _arr(weights.val, np.float32))
    x = (np.array(init, dtype=np.float32).reshape(-1) if init is not None
         else np.full(int(weights.num_gaussians), objective.init_logit, dtype=np.float32))
    m, v = np.zeros_like(x), np.zeros_like(x)
    b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-15)
    losses: List[float] = []
    n = 0
    steps, lr, lr_final, tol = schedule.steps, schedule.lr, schedule.lr_final, schedule.tol
    for n in range(1, steps + 1):
        sg = sigmoid(x)
        loss, gs = _loss_grad(A, sg, flat_t, row_w, objective.form, want_loss=n in (1, steps) or tol > 0)
        losses.append(loss)
        g = gs * sg * (np.float32(1) - sg)
        m = b1 * m + (np.float32(1) - b1) * g
        v = b2 * v + (np.float32(1) - b2) * (g * g)
        lr_n = lr if lr_final is None or steps < 2 else (
            lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * (n - 1) / (steps - 1))))
        denom = np.sqrt(v / np.float32(1 - 0.999**n)) + eps
        x = x - np.float32(lr_n / (1 - 0.9**n)) * (m / denom)
        if tol > 0 and n > 5 and abs(losses[-2] - losses[-1]) <= tol * abs(losses[-2]):
            break
    return LogitFit(x, losses, time.perf_counter() - t0, n)


__all__ = ["EXTENSION", "HALF_NORMAL_MIN", "half_rounded", "half_weight_render_views", "RELEVANCY_INIT_LOGIT",
           "RELEVANCY_LOSS_FORM", "RELEVANCY_POS_WEIGHT", "Csr", "FitSchedule", "LogitFit", "Objective",
           "SplatArrays", "StackedWeights", "Views", "compositing_weights_views", "csr_matvec", "csr_transpose",
           "fit_logits", "fit_setup", "load_extension", "median_depth_csr", "relevancy_loss_grad", "sigmoid",
           "SUPPORT_MAX_PIXELS", "support_divisor", "views_tile_size"]
