"""Build/load the C++/OpenMP CPU rasterizer and wrap its ops (autograd Functions where differentiable).

The extension is every ``csrc/*.cpp`` (one file per op and direction, gsplat-style; ``common.h``
holds the shared compositing loop and constants), compiled with
``torch.utils.cpp_extension.load`` the first time it is needed, for the machine it runs on:
``-O3 -march=native`` when the compiler accepts it, else explicit ``-mavx512f`` / ``-mavx2 -mfma``
from the CPU's feature flags, else no ISA flags (``POINT2ACT_CPU_CFLAGS`` overrides the choice).
The binary is cached in ``$TORCH_EXTENSIONS_DIR/<cpu>-<hash>`` (or
``~/.cache/point2act/torch_extensions/<cpu>-<hash>``): ``<cpu>`` is a hash of the CPU's feature
flags and ``<hash>`` covers the sources, the compiler flags, torch, Python and the architecture, so
a cache shared between machines (or a stale binary) is rebuilt, never loaded onto a CPU that lacks
its instructions.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import List, Tuple

import torch
from torch import Tensor

CSRC = Path(__file__).resolve().parent / "csrc"
_BASE_CFLAGS = ["-O3", "-fopenmp"]
_LDFLAGS = ["-fopenmp"]
_EXT = None
_LOCK = threading.Lock()
_ARCH_FLAGS: List[str] | None = None
_AVX512 = ["-mavx512f", "-mavx512dq", "-mavx2", "-mfma"]


def sources() -> List[Path]:
    """The extension's translation units (``csrc/*.cpp``), sorted."""
    return sorted(CSRC.glob("*.cpp"))


def cpu_features() -> str:
    """The CPU's feature flags (``/proc/cpuinfo`` ``flags`` / ``Features``), sorted, space-separated.

    Falls back to ``platform.machine() + platform.processor()`` where there is no /proc/cpuinfo.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()} {platform.processor()}".strip()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return " ".join(sorted(set(val.split())))
    return f"{platform.machine()} {platform.processor()}".strip()


def _try_compile(flags: List[str]) -> bool:
    """Does the C++ compiler accept ``flags`` (and can it build a SIMD vector-extension loop)?"""
    cxx = os.environ.get("CXX", "c++")
    code = (
        "typedef float v16 __attribute__((vector_size(64)));\n"
        "v16 f(v16 a, v16 b) { return a * b + a; }\n"
    )
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.cpp"
        src.write_text(code)
        try:
            r = subprocess.run([cxx, *flags, "-c", str(src), "-o", str(Path(d) / "t.o")],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
    return r.returncode == 0


def arch_flags(features: str | None = None) -> List[str]:
    """ISA flags for this machine: ``POINT2ACT_CPU_CFLAGS`` if set, else ``-march=native`` if the
    compiler takes it, else explicit flags from ``features`` (default: :func:`cpu_features`)."""
    global _ARCH_FLAGS
    env = os.environ.get("POINT2ACT_CPU_CFLAGS")
    if env is not None:
        return env.split()
    if features is None and _ARCH_FLAGS is not None:
        return list(_ARCH_FLAGS)
    feats = set((features if features is not None else cpu_features()).split())
    out: List[str] = []
    if _try_compile(["-march=native"]):
        out = ["-march=native"]
    elif {"avx512f", "avx512dq", "avx2", "fma"} <= feats and _try_compile(_AVX512):
        out = list(_AVX512)
    elif {"avx2", "fma"} <= feats and _try_compile(["-mavx2", "-mfma"]):
        out = ["-mavx2", "-mfma"]
    if features is None:
        _ARCH_FLAGS = list(out)
    return out


def cflags() -> List[str]:
    """Compiler flags of the extension on this machine."""
    return _BASE_CFLAGS + arch_flags()


def build_key(features: str | None = None, flags: List[str] | None = None) -> str:
    """``<cpu>-<hash>``: the cache key of the extension for a CPU feature set and compiler flags
    (defaults: this machine's)."""
    feats = cpu_features() if features is None else features
    flags = cflags() if flags is None else flags
    cpu = hashlib.sha256(feats.encode()).hexdigest()[:10]
    h = hashlib.sha256()
    for src in sorted(CSRC.glob("*")):
        if src.suffix in (".cpp", ".h"):
            h.update(src.name.encode())
            h.update(src.read_bytes())
    h.update(" ".join(flags + _LDFLAGS).encode())
    h.update(torch.__version__.encode())
    h.update(sys.version.encode())
    h.update(platform.machine().encode())
    return f"cpu{cpu}-{h.hexdigest()[:16]}"


def extension_build_dir(features: str | None = None, flags: List[str] | None = None) -> Path:
    """Directory where the compiled extension is cached (for this machine unless told otherwise)."""
    base = os.environ.get("TORCH_EXTENSIONS_DIR")
    if base:
        root = Path(base)
    else:
        root = Path.home() / ".cache" / "point2act" / "torch_extensions"
    return root / build_key(features, flags)


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the CPU rasterizer extension."""
    global _EXT
    if _EXT is not None:
        return _EXT
    with _LOCK:
        if _EXT is not None:
            return _EXT
        from torch.utils.cpp_extension import load

        key = build_key()
        name = "point2act_rasterize_" + key.replace("-", "_")
        build_dir = extension_build_dir()
        build_dir.mkdir(parents=True, exist_ok=True)
        so = build_dir / f"{name}.so"
        if so.exists():
            # the build key hashes the sources, flags, torch and Python: a built module is current, and
            # importing it skips cpp_extension's ninja check (1-3 s of every process that renders)
            try:
                import importlib.machinery
                import importlib.util

                loader = importlib.machinery.ExtensionFileLoader(name, str(so))
                spec = importlib.util.spec_from_file_location(name, str(so), loader=loader)
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                _EXT = module
                return _EXT
            except ImportError:
                pass  # a partial or foreign build: let cpp_extension rebuild it
        else:
            print(
                f"building point2act CPU rasterizer for this CPU ({' '.join(cflags())}; first use, ~1-2 min)",
                file=sys.stderr,
                flush=True,
            )
        _EXT = load(
            name=name,
            sources=[str(s) for s in sources()],
            extra_cflags=cflags(),
            extra_ldflags=_LDFLAGS,
            build_directory=str(build_dir),
            verbose=verbose,
        )
    return _EXT


def isect_tiles(
    means2d: Tensor,  # [C, N, 2]
    radii: Tensor,  # [C, N]
    depths: Tensor,  # [C, N]
    tile_size: int,
    tile_width: int,
    tile_height: int,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Tile/Gaussian intersections, like gsplat's ``isect_tiles`` + ``isect_offset_encode``.

    Every Gaussian with ``radii > 0`` is listed in all tiles of its rectangle
    ``[floor(mean/ts - r/ts), ceil(mean/ts + r/ts))`` (clamped to the image);
    each tile's list is sorted by depth, ties broken by the flattened index.

    Returns:
        tiles_per_gauss [C, N] int32, isect_ids [n_isects] int64 (gsplat's
        ``camera | tile | float32 depth bits`` encoding), flatten_ids
        [n_isects] int32 (index into ``C * N``) and isect_offsets
        [C, tile_height, tile_width] int32 (start of each tile's list).
    """
    ext = load_extension()
    return tuple(
        ext.isect_tiles(
            means2d.detach().contiguous(),
            radii.to(torch.int32).contiguous(),
            depths.detach().to(means2d.dtype).contiguous(),
            int(tile_size),
            int(tile_width),
            int(tile_height),
            torch.get_num_threads(),
        )
    )


class _RasterizeToPixelsCPU(torch.autograd.Function):
    """Differentiable CPU rasterization of projected Gaussians (unpacked layout)."""

    @staticmethod
    def forward(
        ctx,
        ext,  # the compiled extension (load_extension())
        means2d: Tensor,  # [C, N, 2]
        conics: Tensor,  # [C, N, 3]
        colors: Tensor,  # [C, N, D]
        opacities: Tensor,  # [C, N]
        backgrounds: Tensor | None,  # [C, D]
        width: int,
        height: int,
        tile_size: int,
        isect_offsets: Tensor,  # [C, tile_height, tile_width]
        flatten_ids: Tensor,  # [n_isects]
        absgrad: bool,
        absgrad_target,  # None or (tensor, index) receiving ``.absgrad``
        geometry_channels: int = -1,
    ) -> Tuple[Tensor, Tensor]:
        means2d_c = means2d.contiguous()
        conics_c = conics.contiguous()
        colors_c = colors.contiguous()
        opacities_c = opacities.contiguous()
        bg = backgrounds.contiguous() if backgrounds is not None else None
        render_colors, render_alphas, T_final, last_ids, row_masks = ext.rasterize_fwd(
            means2d_c,
            conics_c,
            colors_c,
            opacities_c,
            bg,
            int(width),
            int(height),
            int(tile_size),
            isect_offsets.contiguous(),
            flatten_ids.contiguous(),
            torch.get_num_threads(),
        )
        ctx.save_for_backward(
            means2d_c,
            conics_c,
            colors_c,
            opacities_c,
            bg,
            isect_offsets,
            flatten_ids,
            T_final,
            last_ids,
            row_masks,
        )
        ctx.width = int(width)
        ctx.height = int(height)
        ctx.tile_size = int(tile_size)
        ctx.absgrad = bool(absgrad)
        ctx.absgrad_target = absgrad_target
        ctx.has_bg = backgrounds is not None
        ctx.ext = ext
        ctx.geometry_channels = int(geometry_channels)
        return render_colors, render_alphas

    @staticmethod
    def backward(ctx, v_render_colors: Tensor, v_render_alphas: Tensor):
        (
            means2d,
            conics,
            colors,
            opacities,
            bg,
            isect_offsets,
            flatten_ids,
            T_final,
            last_ids,
            row_masks,
        ) = ctx.saved_tensors
        ext = ctx.ext
        dtype = means2d.dtype
        v_abs, v_means2d, v_conics, v_colors, v_opacities = ext.rasterize_bwd(
            means2d,
            conics,
            colors,
            opacities,
            bg if ctx.has_bg else None,
            ctx.width,
            ctx.height,
            ctx.tile_size,
            isect_offsets,
            flatten_ids,
            T_final,
            last_ids,
            row_masks,
            v_render_colors.to(dtype).contiguous(),
            v_render_alphas.to(dtype).contiguous(),
            ctx.absgrad,
            torch.get_num_threads(),
            ctx.geometry_channels,
        )
        if ctx.absgrad and ctx.absgrad_target is not None:
            target, index = ctx.absgrad_target
            target.absgrad = v_abs if index is None else v_abs[index]
        v_bg = None
        if ctx.has_bg and ctx.needs_input_grad[5]:
            v_bg = (v_render_colors * T_final[..., None]).sum(dim=(1, 2))
        return (
            None,
            v_means2d,
            v_conics,
            v_colors,
            v_opacities,
            v_bg,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )


def rasterize_to_pixels(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    colors: Tensor,  # [C, N, D]
    opacities: Tensor,  # [C, N]
    image_width: int,
    image_height: int,
    tile_size: int,
    isect_offsets: Tensor,  # [C, tile_height, tile_width]
    flatten_ids: Tensor,  # [n_isects]
    backgrounds: Tensor | None = None,  # [C, D]
    absgrad: bool = False,
    absgrad_target=None,
    geometry_channels: int | None = None,
) -> Tuple[Tensor, Tensor]:
    """CPU counterpart of ``gsplat.rasterize_to_pixels`` (unpacked inputs only).

    Differentiable w.r.t. ``means2d``, ``conics``, ``colors``, ``opacities`` and
    ``backgrounds``. With ``geometry_channels = G`` only colour channels ``[0, G)`` send gradient to
    the geometry (``means2d``, ``conics``, ``opacities``); channels ``G..D-1`` reach their colours only,
    as if they were rendered in a second pass with detached geometry (point2act's relevancy channel). With ``absgrad=True`` the backward pass stores
    ``sum over pixels |d loss / d means2d|`` (per-pixel absolute values, as
    gsplat) in ``means2d.absgrad`` (or in ``absgrad_target[0].absgrad``,
    indexed by ``absgrad_target[1]`` when given).

    Returns:
        render_colors [C, H, W, D] and render_alphas [C, H, W, 1].
    """
    C, N = means2d.shape[:2]
    assert means2d.shape == (C, N, 2), means2d.shape
    assert conics.shape == (C, N, 3), conics.shape
    assert colors.shape[:2] == (C, N), colors.shape
    assert opacities.shape == (C, N), opacities.shape
    if backgrounds is not None:
        assert backgrounds.shape == (C, colors.shape[-1]), backgrounds.shape
    if absgrad_target is None:
        absgrad_target = (means2d, None)
    return _RasterizeToPixelsCPU.apply(
        load_extension(),
        means2d,
        conics,
        colors,
        opacities,
        backgrounds,
        image_width,
        image_height,
        tile_size,
        isect_offsets,
        flatten_ids,
        absgrad,
        absgrad_target,
        -1 if geometry_channels is None else int(geometry_channels),
    )


def compositing_weights(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    opacities: Tensor,  # [C, N]
    image_width: int,
    image_height: int,
    tile_size: int,
    isect_offsets: Tensor,  # [C, tile_height, tile_width]
    flatten_ids: Tensor,  # [n_isects]
    min_weight: float = 0.0,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Sparse compositing weights ``alpha * T`` of projected Gaussians, as the forward pass composites.

    Rows are pixels ``(camera * H + y) * W + x``, columns Gaussians ``0..N-1``; within a row the
    entries are in compositing (depth) order. Weights ``<= min_weight`` are dropped (they still
    attenuate the transmittance of the Gaussians behind them).

    Returns:
        crow [C * H * W + 1] int64, col [nnz] int32, val [nnz] float32 (CSR).
    """
    ext = load_extension()
    return tuple(
        ext.compositing_weights(
            means2d.detach().contiguous(),
            conics.detach().to(means2d.dtype).contiguous(),
            opacities.detach().to(means2d.dtype).contiguous(),
            int(image_width),
            int(image_height),
            int(tile_size),
            isect_offsets.to(torch.int32).contiguous(),
            flatten_ids.to(torch.int32).contiguous(),
            float(min_weight),
            torch.get_num_threads(),
        )
    )


def csr_transpose(
    crow: Tensor,  # [R + 1] int64
    col: Tensor,  # [nnz] int32
    val: Tensor,  # [nnz] float32
    num_cols: int,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Transpose of a CSR matrix ``[R, num_cols]``: (crow [num_cols + 1], col [nnz] int64, val [nnz])."""
    ext = load_extension()
    return tuple(
        ext.csr_transpose(
            crow.to(torch.int64).contiguous(),
            col.to(torch.int32).contiguous(),
            val.to(torch.float32).contiguous(),
            int(num_cols),
            torch.get_num_threads(),
        )
    )


LOSS_FORMS = {"bce": 0, "mse": 1, "l1": 2}


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

    One pass over the CSR matrix ``A``; see :func:`point2act.relevancy_fit.fit_relevancy`.
    """
    if form not in LOSS_FORMS:
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    ext = load_extension()
    loss, grad = ext.relevancy_loss_grad(
        crow, col, val, s.to(torch.float32).contiguous(), target.to(torch.float32).contiguous(),
        row_w.to(torch.float32).contiguous(), LOSS_FORMS[form], torch.get_num_threads(),
    )
    return float(loss), grad
