"""benchmarks.start_cloud_budget's measures against closed forms: a depth map's error against the true depth on
every pixel and on the target's, and points' depth error in the views that see them (occluded ones left out)."""

from __future__ import annotations

import numpy as np

from benchmarks.start_cloud_budget import map_errors, point_errors


def test_map_errors_count_the_pixels_with_both_depths():
    truth = np.full((4, 5), 1.0)
    truth[0, 0] = 0.0  # no true surface
    depth = np.zeros((4, 5))
    depth[:2] = 1.002  # 2 mm off on the first two rows
    depth[3, :2] = 1.03  # 3 cm off
    mask = np.zeros((4, 5), bool)
    mask[3] = True
    out = map_errors([depth], [truth], [mask])
    assert out["all"]["pixels"] == 9 + 2  # 10 on the first rows less the pixel without truth, 2 on the last
    assert abs(out["all"]["median_mm"] - 2.0) < 1e-6 and abs(out["all"]["within_1cm"] - 9 / 11) < 1e-4
    assert out["target"]["pixels"] == 2 and abs(out["target"]["median_mm"] - 30.0) < 1e-6
    assert out["target"]["within_1cm"] == 0.0


def test_point_errors_leave_out_points_the_view_does_not_see():
    K = np.array([[10.0, 0, 5], [0, 10.0, 5], [0, 0, 1]])
    V = np.eye(4)
    truth = np.full((10, 10), 2.0)
    pts = np.array([[0.0, 0.0, 2.001],    # 1 mm behind the surface
                    [0.0, 0.0, 1.0],      # a metre in front: not that surface (left out)
                    [0.0, 0.0, -1.0],     # behind the camera (left out)
                    [50.0, 0.0, 2.0]])    # outside the image (left out)
    out = point_errors(pts, [K], [V], [truth])
    assert out["pixels"] == 1 and abs(out["median_mm"] - 1.0) < 1e-6
