"""The grasp head's C++ kernels (the CPU extension, ``point2act/render/csrc``), loaded on first use: torch
and the extension are imported then, not with :mod:`point2act.grasp`. Where the extension cannot be built
(no compiler), :func:`kernel` gives None and each caller runs its numpy reference: the same answers,
slower."""

from __future__ import annotations

import numpy as np


def kernel(name: str):
    """The extension's op ``name``, or None where the extension cannot be built or loaded here."""
    try:
        from point2act.render._backend import load_extension

        return getattr(load_extension(), name)
    except Exception:  # pragma: no cover - no compiler
        return None


def tensor(a, dtype=np.float64):
    """``a`` as a contiguous CPU tensor of ``dtype`` (sharing memory where it already is one and writable;
    a read-only array, e.g. a view of a cached input, is copied: torch warns on sharing one)."""
    import torch

    arr = np.ascontiguousarray(a, dtype=dtype)
    return torch.from_numpy(arr if arr.flags.writeable else arr.copy())
