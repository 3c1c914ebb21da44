"""Checkpoints under torch >= 2.6, whose ``torch.load`` defaults to ``weights_only=True``.

nerfstudio 1.1.5 calls ``torch.load(path, map_location="cpu")`` without ``weights_only``.
point2act checkpoints hold only tensors, numbers, strings and containers, so they load with the
safe unpickler as they are; this module is imported by the method config (and so by
``ns-viewer``, ``ns-eval`` and ``ns-export`` when they read a point2act ``config.yml``) and
offers :func:`load_checkpoint`, which reports a truncated or foreign file clearly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from point2act.errors import Point2ActError


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """``torch.load`` a nerfstudio checkpoint safely (weights only), with a clear error."""
    import torch

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
