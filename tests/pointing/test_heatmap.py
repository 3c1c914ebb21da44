"""Heatmaps from points (closed forms) and points following nerfstudio's downscale + undistortion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from point2act.heatmap import map_points_to_training_image, points_to_heatmap, resize_heatmap, sigma_px


@pytest.mark.parametrize("H,W", [(8, 12), (48, 64), (192, 256)])
def test_heatmap_closed_form(H, W):
    s = sigma_px(H, W, 0.05)
    assert s == pytest.approx(0.05 * math.hypot(H, W))
    pts = torch.tensor([[W * 0.3 + 0.1, H * 0.6 - 0.2], [W * 0.8, H * 0.2]])
    hm = points_to_heatmap(pts, H, W, s)
    assert hm.shape == (H, W, 1)
    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    ref = torch.stack([torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * s * s)) for x, y in pts.tolist()]).amax(0)
    torch.testing.assert_close(hm[..., 0], ref, atol=1e-6, rtol=1e-5)


def test_heatmap_peak_at_pixel_centre_and_empty_is_zero():
    hm = points_to_heatmap(torch.tensor([[5.5, 3.5]]), 10, 10, 2.0)
    assert hm[3, 5, 0] == pytest.approx(1.0) and hm.argmax() == 3 * 10 + 5
    assert points_to_heatmap(torch.zeros(0, 2), 10, 10, 2.0).abs().sum() == 0


def test_resize_preserves_mean_when_shrinking():
    hm = points_to_heatmap(torch.tensor([[20.0, 10.0]]), 40, 60, 4.0)
    small = resize_heatmap(hm, 20, 30)
    assert small.shape == (20, 30, 1)
    assert small.mean().item() == pytest.approx(hm.mean().item(), rel=1e-5)


def test_points_scale_with_downscale_only():
    K = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])
    pts = np.array([[10.0, 20.0], [200.0, 100.0]])
    out = map_points_to_training_image(pts, 0.25, K, np.zeros(6), K)
    np.testing.assert_allclose(out, pts * 0.25, atol=1e-6)


def _dot_image(x, y, w, h):
    img = np.zeros((h, w, 3), np.uint8)
    import cv2

    cv2.circle(img, (int(round(x * 16 - 8)), int(round(y * 16 - 8))), 24, (255, 255, 255), -1, lineType=cv2.LINE_AA, shift=4)
    return img


@pytest.mark.parametrize("xy", [(30.3, 40.7), (150.2, 90.1), (20.0, 110.5)])
def test_points_follow_nerfstudio_undistortion(xy):
    """A bright dot drawn at a point lands where the mapped point says, after nerfstudio undistorts the image."""
    from nerfstudio.cameras.cameras import Cameras, CameraType
    from nerfstudio.data.datamanagers.full_images_datamanager import _undistort_image

    w, h = 180, 128
    dist = np.array([-0.25, 0.08, 0.0, 0.0, 0.01, -0.005], np.float32)  # k1 k2 k3 k4 p1 p2
    cam = Cameras(
        camera_to_worlds=torch.eye(4)[None, :3],
        fx=150.0, fy=152.0, cx=91.0, cy=63.0, width=w, height=h,
        distortion_params=torch.from_numpy(dist)[None], camera_type=CameraType.PERSPECTIVE,
    )[0]
    K = cam.get_intrinsics_matrices().numpy()
    img = _dot_image(xy[0], xy[1], w, h)
    newK, und, _ = _undistort_image(cam, dist.copy(), {}, img, K.copy())
    mapped = map_points_to_training_image(np.array([xy]), 1.0, cam.get_intrinsics_matrices().numpy(), dist, newK)[0]
    g = und[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    centroid = np.array([(g * (xs + 0.5)).sum() / g.sum(), (g * (ys + 0.5)).sum() / g.sum()])
    # the distortion moves the point by several pixels; the mapping follows it to sub-pixel accuracy
    raw_shift = np.linalg.norm(np.asarray(xy) - centroid)
    assert raw_shift > 1.0
    np.testing.assert_allclose(mapped, centroid, atol=0.35)
