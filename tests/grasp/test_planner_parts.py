"""The planner's array helpers against their plain numpy definitions (point2act.grasp.planner)."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp.part import angles as _angles
from point2act.grasp.planner import _unique_rows


@pytest.mark.parametrize("n,lo,hi", [(1, 0, 1), (50, -3, 3), (200_000, -60, 60), (1000, -(2**40), 2**40)])
def test_unique_rows_is_numpys_unique_on_rows(n, lo, hi):
    a = np.random.default_rng(n).integers(lo, hi, (n, 3))
    assert np.array_equal(_unique_rows(a), np.unique(a, axis=0))


@pytest.mark.parametrize("T", [1, 6, 12])
def test_angles_z_window_keeps_exactly_the_entries_inside_it(T):
    """The window on z drops only what the unwindowed call would give outside it, in the same order."""
    rng = np.random.default_rng(T)
    su, sv = rng.normal(0, 0.03, 5000).astype(np.float32), rng.normal(0, 0.03, 5000).astype(np.float32)
    e0, t0, y0, z0 = _angles(su, sv, 0.01, T)
    e1, t1, y1, z1 = _angles(su, sv, 0.01, T, -0.02, 0.035)
    keep = (z0 >= -0.02) & (z0 <= 0.035)
    assert 0 < keep.sum() < len(keep)
    for a, b in ((e0, e1), (t0, t1), (y0, y1), (z0, z1)):
        assert np.array_equal(a[keep], b)
    # the definition: z = su cos t + sv sin t, y = su sin t - sv cos t, |y| <= half width
    th = 2 * np.pi * t1 / T
    assert np.allclose(z1, su[e1] * np.cos(th) + sv[e1] * np.sin(th), atol=1e-6)
    assert np.all(np.abs(su[e1] * np.sin(th) - sv[e1] * np.cos(th)) <= 0.01 + 1e-6)
