"""Checkpoints under torch >= 2.6, whose ``torch.load`` defaults to ``weights_only=True``.

nerfstudio 1.1.5 calls ``torch.load(path, map_location="cpu")`` without ``weights_only``.
A nerfstudio checkpoint holds tensors, numbers, strings and containers, plus a few numpy
``float64`` scalars (the learning rates that nerfstudio's exponential-decay scheduler computes
with numpy). Those make the safe unpickler refuse the file. Importing this module allow-lists
exactly the numpy scalar reconstruction (``numpy.core.multiarray.scalar`` and the float dtypes),
nothing that can run code. :mod:`point2act.method.hooks` calls :func:`register_safe_globals` when the
nerfstudio glue is imported, so ``ns-viewer``, ``ns-eval`` and ``ns-export`` get it as soon as they
read a point2act ``config.yml``.
:func:`load_checkpoint` reports a truncated or foreign file clearly; :func:`checkpoint_steps` lists a folder's
``step-*.ckpt`` by step (no torch).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

from point2act.errors import Point2ActError


_CKPT = re.compile(r"step-(\d+)\.ckpt")


def checkpoint_steps(load_dir: Path) -> List[Tuple[int, Path]]:
    """``(step, path)`` of every ``step-*.ckpt`` in ``load_dir``, highest step first."""
    out = []
    for p in Path(load_dir).iterdir():
        m = _CKPT.fullmatch(p.name)
        if m is not None and p.is_file():
            out.append((int(m.group(1)), p))
    return sorted(out, reverse=True)


def register_safe_globals() -> None:
    """Allow numpy scalars (and only them) in ``torch.load(weights_only=True)``."""
    import numpy as np
    import torch

    try:
        scalar = np.core.multiarray.scalar  # numpy 1.x
    except AttributeError:  # numpy 2.x
        scalar = np._core.multiarray.scalar  # type: ignore[attr-defined]
    safe = [scalar, np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        safe += [dtypes.Float64DType, dtypes.Float32DType, dtypes.Int64DType]
    torch.serialization.add_safe_globals(safe)



def load_checkpoint(path: Path) -> Dict[str, Any]:
    """``torch.load`` a nerfstudio checkpoint safely (weights only), with a clear error."""
    import torch

    register_safe_globals()
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, foreign pickle, ...
        raise Point2ActError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e}). "
                             "Was training killed while saving? Use an earlier step-*.ckpt.") from None
    if not isinstance(state, dict) or "pipeline" not in state:
        raise Point2ActError(f"{path}: not a nerfstudio checkpoint (no 'pipeline' state).")
    return state
