"""The grasp head's C++ kernels (``point2act/grasp/csrc``: one op per file, declared with their shapes in
``ops.h``): a CPython extension of pybind11 and numpy arrays that neither links libtorch nor imports torch
(:class:`point2act._cpp.PybindExtension`), built for the machine on first use and loaded then, not with
:mod:`point2act.grasp`. The ops take C-contiguous arrays of the dtypes ``ops.h`` names (:func:`array` makes
them), read them in place, return new arrays and release the GIL while they compute; ``num_threads <= 0`` runs
OpenMP's default count. Where the extension cannot be built (no compiler), :func:`kernel` gives None and each
caller runs its numpy reference: the same answers, slower."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from point2act import _cpp

CSRC = Path(__file__).resolve().parent / "csrc"
EXTENSION = _cpp.PybindExtension("grasp", CSRC, "point2act grasp kernels")


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the grasp kernels' extension."""
    return EXTENSION.load(verbose)


def kernel(name: str):
    """The extension's op ``name``, or None where the extension cannot be built or loaded here."""
    try:
        return getattr(load_extension(), name)
    except Exception:  # pragma: no cover - no compiler
        return None


def array(a, dtype=np.float64) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype``: ``a`` itself where it already is one (the kernels only read
    their inputs, read-only ones too), else a copy."""
    return np.ascontiguousarray(a, dtype=dtype)
