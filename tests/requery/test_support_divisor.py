"""The resolution the views' consensus and the refit read a view at (point2act.requery.fit_numpy.support_divisor):
1/downscale, or the next whole divisor at which the view holds at most SUPPORT_MAX_PIXELS pixels; and the
cameras point2act.method.run_layer.camera_views gives at it."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.requery.fit_numpy import SUPPORT_MAX_PIXELS, support_divisor


@pytest.mark.parametrize("hw,downscale,want", [
    ((192, 256), 2, 2),    # the demo: 96x128
    ((480, 640), 2, 2),    # 320x240: exactly the cap
    ((481, 640), 2, 3),    # one row more
    ((720, 1280), 2, 4),   # 921,600 pixels: 1/3 still holds 102,400
    ((960, 1280), 2, 4),   # 320x240 again
    ((960, 1280), 5, 5),   # a larger divisor asked for is kept
    ((960, 1280), 0, 4),   # at least 1
])
def test_divisor_of_common_sizes(hw, downscale, want):
    assert support_divisor(*hw, downscale) == want


def test_divisor_is_the_smallest_that_fits():
    rng = np.random.default_rng(0)
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(1, 4000, 2))
        ds = int(rng.integers(1, 5))
        cap = int(rng.integers(1000, 200000))
        d = support_divisor(h, w, ds, cap)
        assert d >= ds and h * w <= cap * d * d
        assert d == ds or h * w > cap * (d - 1) * (d - 1)
    assert support_divisor(4000, 4000, 2, None) == 2


def test_pixel_divisor_is_the_smallest_whole_divisor_within_the_budget():
    """splatting.pixel_divisor, the rule every pixel budget reads a view by (the fusion views', the refit's, the
    start cloud's stereo): the smallest d with h * w <= cap * d^2, the closed form ceil(sqrt(h * w / cap)) the
    fusion views used, and 1 without a budget."""
    import math

    from point2act.splatting import pixel_divisor

    rng = np.random.default_rng(1)
    for _ in range(2000):
        h, w = (int(v) for v in rng.integers(1, 5000, 2))
        cap = int(rng.integers(1, 400000))
        d = pixel_divisor(h, w, cap)
        assert h * w <= cap * d * d and (d == 1 or h * w > cap * (d - 1) * (d - 1))
        assert d == max(1, math.ceil(math.sqrt(h * w / cap)))
    assert pixel_divisor(960, 1280, 640 * 480) == 2 and pixel_divisor(480, 640, 640 * 480) == 1
    assert pixel_divisor(4000, 4000, None) == 1


def test_camera_views_reads_each_view_at_its_divisor():
    import torch
    from nerfstudio.cameras.cameras import Cameras

    from point2act.method.run_layer import camera_views, support_views

    heights, widths = [480, 960, 192], [640, 1280, 256]
    n = len(heights)
    c2w = torch.eye(4)[:3].expand(n, 3, 4).clone()
    cams = Cameras(camera_to_worlds=c2w, fx=torch.full((n, 1), 500.0), fy=torch.full((n, 1), 500.0),
                   cx=torch.tensor(widths, dtype=torch.float32)[:, None] / 2,
                   cy=torch.tensor(heights, dtype=torch.float32)[:, None] / 2,
                   width=torch.tensor(widths)[:, None], height=torch.tensor(heights)[:, None])
    _vms, Ks, sizes = camera_views(cams, 2, max_pixels=SUPPORT_MAX_PIXELS)
    assert sizes == [(240, 320), (240, 320), (96, 128)]
    assert support_views(cams, 2)[2] == sizes  # what the consensus, the refit and the query section read
    assert [float(K[0, 0]) for K in Ks] == pytest.approx([250.0, 125.0, 250.0])
    _vms, _Ks, plain = camera_views(cams, 2)
    assert plain == [(240, 320), (480, 640), (96, 128)]  # without the cap: 1/2 everywhere
