"""The grasp head's C++ kernels (``point2act/grasp/csrc``: one op per file, declared with their shapes in
``ops.h``), built by :mod:`point2act._cpp` and loaded on first use: torch and the extension are imported
then, not with :mod:`point2act.grasp`. Where the extension cannot be built (no compiler), :func:`kernel`
gives None and each caller runs its numpy reference: the same answers, slower."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from point2act import _cpp

CSRC = Path(__file__).resolve().parent / "csrc"
EXTENSION = _cpp.Extension("grasp", CSRC, "point2act grasp kernels")


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the grasp kernels' extension."""
    return EXTENSION.load(verbose)


def kernel(name: str):
    """The extension's op ``name``, or None where the extension cannot be built or loaded here."""
    try:
        return getattr(load_extension(), name)
    except Exception:  # pragma: no cover - no compiler
        return None


def tensor(a, dtype=np.float64):
    """``a`` as a contiguous CPU tensor of ``dtype`` (sharing memory where it already is one and writable;
    a read-only array, e.g. a view of a cached input, is copied: torch warns on sharing one)."""
    import torch

    arr = np.ascontiguousarray(a, dtype=dtype)
    return torch.from_numpy(arr if arr.flags.writeable else arr.copy())
