"""point2act.grasp.window: the C++ window minimum and maximum, the numpy reference and scipy.ndimage's filters
agree value for value."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from point2act.grasp.window import _window_reference, window_max, window_min

SHAPES = [(1, 1), (1, 17), (23, 1), (2, 2), (2, 7), (13, 4), (37, 53), (192, 256)]


def _image(shape, dtype, seed):
    """Normal values with inf, -inf, 3e38, -3e38, 0.0 and -0.0 sprinkled in."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape).astype(dtype)
    for v in (np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0):
        a[rng.random(shape) < 0.07] = v
    return a


def _kernel_op():
    from point2act.grasp import _kernel

    kernel = _kernel.kernel("window_min_max")
    if kernel is None:
        pytest.skip("no C++ compiler: window_min / window_max run their numpy reference")
    return kernel


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_equals_reference_and_scipy(dtype, size, shape):
    """The kernel ``window_min_max`` (csrc/window_min_max.cpp) under 1 and 2 threads and by default gives the
    numpy reference's and scipy's values and dtype, windows larger than the image included, and their bits: of
    0.0 and -0.0 the same one."""
    kernel = _kernel_op()
    a = _image(shape, dtype, 1000 * size + shape[0] * 7 + shape[1])
    for is_max, op, theirs in ((False, np.minimum, ndimage.minimum_filter),
                               (True, np.maximum, ndimage.maximum_filter)):
        want = theirs(a, size=size, mode="nearest")
        ref = _window_reference(a, size, op)
        np.testing.assert_array_equal(ref, want)
        for nt in (1, 2, -1):
            got = kernel(a, size, is_max, nt)
            assert got.dtype == a.dtype and got.shape == a.shape
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(got, ref)
            assert got.tobytes() == want.tobytes() == ref.tobytes()
        assert (window_max if is_max else window_min)(a, size).tobytes() == got.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_on_depth_like_images(dtype):
    """The callers' images: 3e38 / inf for no measurement (point2act.grasp.occupancy.footprint_depth), inf and
    -inf (point2act.fusion.blended_pixels), whole rows and columns of them, and a constant image."""
    kernel = _kernel_op()
    rng = np.random.default_rng(3)
    d = rng.uniform(0.3, 2.0, (192, 256)).astype(dtype)
    d[:, :5] = np.inf
    d[40:45] = dtype(3e38)
    d[rng.random(d.shape) < 0.2] = dtype(3e38)
    d[rng.random(d.shape) < 0.1] = np.inf
    images = (d, np.where(d > 1e30, -np.inf, d), np.full((9, 11), np.inf, dtype), np.full((5, 3), -3e38, dtype))
    for a in images:
        for size in (3, 9):
            for is_max, theirs in ((False, ndimage.minimum_filter), (True, ndimage.maximum_filter)):
                want = theirs(a, size=size, mode="nearest")
                for nt in (1, 2):
                    got = kernel(a, size, is_max, nt)
                    np.testing.assert_array_equal(got, want)
                    assert got.tobytes() == want.tobytes()


def test_kernel_on_a_large_image_by_default():
    """An image of over 2^19 pixels: the default team may hold two threads or more, with the same values."""
    kernel = _kernel_op()
    a = _image((1100, 500), np.float32, 11)
    for size in (3, 7):
        want = ndimage.maximum_filter(a, size=size, mode="nearest")
        for nt in (-1, 1, 2):
            assert kernel(a, size, True, nt).tobytes() == want.tobytes()


def test_window_takes_non_contiguous_and_other_dtypes():
    """A strided view goes to the kernel as a copy; an integer image to the numpy reference; both as scipy."""
    a = _image((30, 40), np.float32, 5)
    for b in (a.T, a[::2, 1::3], np.asfortranarray(a)):
        np.testing.assert_array_equal(window_min(b, 5), ndimage.minimum_filter(b, size=5, mode="nearest"))
        np.testing.assert_array_equal(window_max(b, 3), ndimage.maximum_filter(b, size=3, mode="nearest"))
    i = np.random.default_rng(0).integers(-100, 100, (17, 9)).astype(np.int32)
    got = window_min(i, 3)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ndimage.minimum_filter(i, size=3, mode="nearest"))


def test_without_the_extension_the_reference_answers(monkeypatch):
    """Where the extension cannot be built (``_kernel.kernel`` gives None) the numpy reference runs."""
    from point2act.grasp import _kernel

    monkeypatch.setattr(_kernel, "kernel", lambda name: None)
    a = _image((19, 24), np.float64, 8)
    assert window_min(a, 5).tobytes() == ndimage.minimum_filter(a, size=5, mode="nearest").tobytes()
    assert window_max(a, 3).tobytes() == ndimage.maximum_filter(a, size=3, mode="nearest").tobytes()


def test_kernel_rejects_wrong_inputs():
    kernel = _kernel_op()
    a = np.zeros((4, 5), np.float32)
    for bad in (a.astype(np.int32), a.astype(np.float16), a[None], a[0], a.T, a[:, ::2]):
        with pytest.raises(ValueError):
            kernel(bad, 3, False, 1)
    for size in (0, 2, 4, -1, -3):
        with pytest.raises(ValueError):
            kernel(a, size, True, 1)


def test_an_image_with_nan_is_scipys():
    a = np.arange(20.0).reshape(4, 5)
    a[1, 2] = np.nan
    got = window_min(a, 3)
    want = ndimage.minimum_filter(a, size=3, mode="nearest")
    np.testing.assert_array_equal(got, want)
