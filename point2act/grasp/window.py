"""The smallest or largest value over each pixel's square window of an image, its edges repeated: what
``scipy.ndimage.minimum_filter`` / ``maximum_filter`` give with ``mode="nearest"``, in numpy.

A minimum or maximum is exact, so the two give the same values (``tests/grasp/test_window.py``); the numpy one
spares ``point2act export`` and ``point2act query`` the import of ``scipy.ndimage`` (about 0.1 s: it parses
its functions' docstrings when imported). An image with a NaN goes to scipy, whose NaN handling follows its
scan order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["window_max", "window_min"]


def window_min(a: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.minimum_filter(a, size=size, mode="nearest")`` for a 2D ``a`` and an odd ``size``."""
    return _window(a, size, np.minimum)


def window_max(a: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.maximum_filter(a, size=size, mode="nearest")`` for a 2D ``a`` and an odd ``size``."""
    return _window(a, size, np.maximum)


def _window(a: np.ndarray, size: int, op) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or size % 2 != 1 or np.isnan(a).any():
        from scipy import ndimage

        f = ndimage.minimum_filter if op is np.minimum else ndimage.maximum_filter
        return f(a, size=size, mode="nearest")
    r = size // 2
    out = a
    for axis in (0, 1):
        n = out.shape[axis]
        pad = np.pad(out, [(r, r) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge")
        res = np.take(pad, np.arange(n), axis=axis)
        for k in range(1, size):
            op(res, np.take(pad, np.arange(k, k + n), axis=axis), out=res)
        out = res
    return out
