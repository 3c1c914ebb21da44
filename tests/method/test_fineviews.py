"""The fine stage's views (:mod:`point2act.method.fineviews`): a crop renders the window of its whole view, and the
schedule alternates whole views and crops from the full-resolution step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nerfstudio.cameras.cameras import Cameras, CameraType

from point2act.method.fineviews import FineViews, crop_window
from point2act.method.keys import FULL_SIZE_KEY, TARGET_KEY


def _camera(H=48, W=64):
    c2w = torch.eye(4)[None, :3, :4]
    c2w[0, :3, 3] = torch.tensor([0.0, 0.0, 3.0])  # looking down -z (OpenGL) at the origin
    return Cameras(camera_to_worlds=c2w, fx=60.0, fy=60.0, cx=W / 2.0 - 1.5, cy=H / 2.0 + 0.5, width=W, height=H,
                   camera_type=CameraType.PERSPECTIVE)


@pytest.mark.parametrize("core,size", [((10, 10, 20, 18), (48, 64)), ((0, 0, 4, 4), (48, 64)),
                                       ((50, 30, 64, 48), (48, 64)), ((2, 2, 60, 46), (48, 64))])
def test_the_crop_holds_its_core_inside_the_image(core, size):
    x0, y0, x1, y1 = crop_window(core, size)
    H, W = size
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    assert x0 % 2 == 0 and y0 % 2 == 0 and (x1 - x0) % 2 == 0 and (y1 - y0) % 2 == 0
    assert x1 - x0 >= min(W - W % 2, round(0.5 * W)) - 1 and y1 - y0 >= min(H, round(0.5 * H)) - 1
    c = core
    assert x0 <= max(c[0], 0) + 1 and x1 >= min(c[2], W) - 1 and y0 <= c[1] + 1 and y1 >= c[3] - 1


def test_a_crop_renders_the_window_of_its_whole_view():
    """The crop's camera (principal point moved, size cut) rasterizes exactly the whole view's pixels in its window;
    its batch holds the same window of the photo and heatmap, and its metadata the whole view's size."""
    from point2act.render import rasterization

    cam = _camera()
    g = torch.Generator().manual_seed(0)
    n = 200
    means = torch.randn(n, 3, generator=g) * 0.4
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    scales = torch.rand(n, 3, generator=g) * 0.1 + 0.02
    opac = torch.rand(n, generator=g)
    colors = torch.rand(n, 3, generator=g)
    photo = torch.rand(48, 64, 3, generator=g)
    heat = torch.rand(48, 64, 1, generator=g)
    fv = FineViews(10, {3: (20, 10, 30, 20)})
    assert [fv.crop_due(s, 3) for s in (8, 9, 10, 11)] == [False, False, False, True]
    assert not fv.crop_due(11, 4)  # no answers: never a crop
    crop_cam, batch = fv.crop(3, cam, {"image": photo, TARGET_KEY: heat})
    x0, y0, x1, y1 = crop_window((20, 10, 30, 20), (48, 64))
    assert crop_cam.metadata[FULL_SIZE_KEY] == (48, 64)
    assert torch.equal(batch["image"], photo[y0:y1, x0:x1]) and torch.equal(batch[TARGET_KEY], heat[y0:y1, x0:x1])

    def render(c):
        from point2act.geometry import viewmat_from_c2w

        K = c.get_intrinsics_matrices()
        vm = viewmat_from_c2w(c.camera_to_worlds)
        out, _, _ = rasterization(means, quats, scales, opac, colors, vm, K, int(c.width.item()),
                                  int(c.height.item()), packed=False)
        return out[0]

    whole, part = render(cam), render(crop_cam)
    assert part.shape[:2] == (y1 - y0, x1 - x0)
    # equal up to float rounding of the shifted pixel coordinates
    np.testing.assert_allclose(part.numpy(), whole[y0:y1, x0:x1].numpy(), atol=1e-3)
