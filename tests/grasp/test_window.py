"""point2act.grasp.window: numpy's window minimum and maximum are scipy.ndimage's, value for value."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from point2act.grasp.window import window_max, window_min


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 3, 5, 9])
@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (13, 4), (40, 33)])
def test_window_extremes_equal_scipys_nearest_filters(dtype, size, shape):
    rng = np.random.default_rng(size * 100 + shape[0])
    a = rng.normal(size=shape).astype(dtype)
    a[rng.random(shape) < 0.1] = np.inf
    a[rng.random(shape) < 0.1] = -np.inf
    a[rng.random(shape) < 0.1] = 0.0
    for ours, theirs in ((window_min, ndimage.minimum_filter), (window_max, ndimage.maximum_filter)):
        got, want = ours(a, size), theirs(a, size=size, mode="nearest")
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()


def test_an_image_with_nan_is_scipys():
    a = np.arange(20.0).reshape(4, 5)
    a[1, 2] = np.nan
    got = window_min(a, 3)
    want = ndimage.minimum_filter(a, size=3, mode="nearest")
    np.testing.assert_array_equal(got, want)
