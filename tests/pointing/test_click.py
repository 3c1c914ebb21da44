"""The human pointer (point2act.pointing.click) against closed forms: ray-plane intersection, pinhole
projection, the depth test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from point2act.pointing.click import SurfaceProbe, click_points, look_along, project_to_views, ray_surface_point
from point2act.points import parse_points
from point2act.render import Splats


def _plane(z: float = 0.0, half: float = 0.6, n: int = 61):
    """Small opaque flat Gaussians (discs 1 mm thick) tiling the square |x|, |y| <= half on the plane z."""
    g = torch.linspace(-half, half, n)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    means = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.full((xx.numel(),), z)], -1)
    N = means.shape[0]
    return means, torch.tensor([[1.0, 0, 0, 0]]).repeat(N, 1), torch.tensor([[0.02, 0.02, 0.001]]).repeat(N, 1), torch.full((N,), 0.9)


@pytest.mark.parametrize("direction", [(0.0, 0.0, -1.0), (0.2, 0.1, -1.0), (-0.3, 0.25, -0.8)])
def test_look_along_is_a_camera_looking_down_the_ray(direction):
    o = np.array([0.1, -0.2, 1.5])
    V = look_along(o, np.array(direction))
    d = np.asarray(direction) / np.linalg.norm(direction)
    assert np.allclose(V[:3, :3] @ V[:3, :3].T, np.eye(3), atol=1e-12) and np.linalg.det(V[:3, :3]) > 0
    assert np.allclose(V @ np.append(o, 1), [0, 0, 0, 1])  # the camera centre
    assert np.allclose((V @ np.append(o + 2.0 * d, 1))[:3], [0, 0, 2.0])  # on the optical axis, 2 in front


@pytest.mark.parametrize("origin,direction", [((0.1, -0.05, 1.0), (0.2, 0.1, -1.0)), ((0.0, 0.0, 0.7), (0.0, 0.0, -1.0)),
                                              ((-0.3, 0.2, 0.5), (0.25, -0.1, -0.6))])
def test_ray_meets_a_plane_where_the_closed_form_says(origin, direction):
    o, d = np.asarray(origin, float), np.asarray(direction, float)
    hit = ray_surface_point(Splats(*_plane(z=0.0)), o, d)
    d = d / np.linalg.norm(d)
    expected = o + (-o[2] / d[2]) * d  # ray-plane intersection with z = 0
    assert hit is not None
    # A splat's depth is its centre's depth (gsplat's "ED" convention), so along an oblique ray the
    # front splats covering the pixel pull the hit towards the camera by up to about one splat
    # spacing (0.02 here); head-on there is no such bias.
    head_on = abs(d[2]) > 0.999
    assert np.linalg.norm(hit - expected) < (2e-3 if head_on else 0.02), (hit, expected)


def test_ray_that_misses_returns_none():
    splats = Splats(*_plane(z=0.0))
    assert ray_surface_point(splats, np.array([0.0, 0, 1]), np.array([0.0, 0, 1])) is None  # away
    assert ray_surface_point(splats, np.array([5.0, 0, 1]), np.array([0.0, 0, -1])) is None  # beside
    with pytest.raises(ValueError):
        ray_surface_point(splats, np.zeros(3), np.array([0.0, 0, -1]), SurfaceProbe(size=32))


def test_project_to_views_pinhole_and_depth_test():
    K = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])
    V = np.eye(4)
    V[2, 3] = 2.0  # camera 2 units behind the origin, looking +z
    p = np.array([0.1, -0.05, 0.0])  # at depth 2
    u, v = 32 + 100 * 0.1 / 2, 24 + 100 * -0.05 / 2
    free = np.zeros((48, 64))  # nothing rendered
    behind = np.full((48, 64), 2.01)  # the surface the point lies on
    occluded = np.full((48, 64), 1.5)  # something in front
    out = project_to_views(p, [V, V, V], [K, K, K], [(48, 64)] * 3, [free, behind, occluded])
    assert out[0] == [(pytest.approx(u), pytest.approx(v))] and out[1] == out[0]
    assert out[2] == []
    V2 = V.copy()
    V2[0, 3] = 5.0  # the point falls out of the image
    Vb = np.diag([1.0, 1.0, -1.0, 1.0])  # the point is behind this camera
    assert project_to_views(p, [V2, Vb], [K, K], [(48, 64)] * 2, [free, free]) == [[], []]


def test_click_points_is_a_valid_normalized_points_file():
    d = click_points(["a.png", "b.png"], [(48, 64), (96, 128)], [[(32.0, 24.0)], []], "the handle", np.ones(3))
    pf = parse_points(d, "click")
    assert pf.coordinates == "normalized" and pf.prompt == "the handle"
    assert pf.points["a.png"] == [(0.5, 0.5)] and pf.points["b.png"] == []
    assert d["pointer"] == {"backend": "click", "point": [1.0, 1.0, 1.0]}
