"""The smallest or largest value over each pixel's square window of a 2D image, its edges repeated: what
``scipy.ndimage.minimum_filter`` / ``maximum_filter`` give with ``mode="nearest"``.

A float32 or float64 image goes to the grasp head's C++ kernel ``window_min_max``
(``point2act/grasp/csrc/window_min_max.cpp``: a pass along the columns, then along the rows, OpenMP over the
rows); an image of another dtype, or where the extension cannot be built, to :func:`_window_reference`
(numpy, ``2 (size - 1)`` whole-image passes). A minimum or maximum is exact, so both give scipy's values
(``tests/grasp/test_window.py``) and spare ``point2act export`` and ``point2act query`` the import of
``scipy.ndimage`` (about 0.1 s: it parses its functions' docstrings when imported). An image with a NaN, an
array that is not 2D and an even size go to scipy, whose NaN handling follows its scan order.
"""

from __future__ import annotations

import numpy as np

from point2act.grasp import _kernel

__all__ = ["window_max", "window_min"]


def window_min(a: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.minimum_filter(a, size=size, mode="nearest")`` for a 2D ``a`` and an odd ``size``: the
    smallest value over each pixel's ``size`` x ``size`` window, rows and columns past the edges repeating the
    edge's; of ``a``'s dtype (C++ for float32 and float64)."""
    return _window(a, size, False)


def window_max(a: np.ndarray, size: int) -> np.ndarray:
    """``scipy.ndimage.maximum_filter(a, size=size, mode="nearest")`` for a 2D ``a`` and an odd ``size``: the
    largest value over each pixel's ``size`` x ``size`` window, rows and columns past the edges repeating the
    edge's; of ``a``'s dtype (C++ for float32 and float64)."""
    return _window(a, size, True)


def _window(a: np.ndarray, size: int, is_max: bool) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or size % 2 != 1 or np.isnan(a).any():
        from scipy import ndimage

        f = ndimage.maximum_filter if is_max else ndimage.minimum_filter
        return f(a, size=size, mode="nearest")
    if a.dtype in (np.float32, np.float64) and size >= 1:
        kernel = _kernel.kernel("window_min_max")
        if kernel is not None:
            return kernel(_kernel.array(a, a.dtype), int(size), is_max, -1)
    return _window_reference(a, size, np.maximum if is_max else np.minimum)


def _window_reference(a: np.ndarray, size: int, op) -> np.ndarray:
    """The window extreme of a 2D ``a`` without NaN for an odd ``size`` in numpy, ``op`` ``np.minimum`` or
    ``np.maximum``: along axis 0, then axis 1, ``size - 1`` elementwise passes each over the image padded by
    ``size // 2`` repeated edge rows (columns)."""
    a = np.asarray(a)
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
