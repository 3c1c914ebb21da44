"""point2act.visibility: per-view total compositing weights, against the dense compositing-weights kernel."""

from __future__ import annotations

import pytest
import torch

from point2act.requery.fit_torch import compositing_weights
from point2act.render import Splats
from point2act.render._testing import SceneSpec, look_at_viewmat, random_scene
from point2act.splatting import Views
from point2act.visibility import unseen_mask, view_weights, views_seeing_count


def _scene(n, w, h, c, seed):
    s = random_scene(SceneSpec(n, w, h, C=c, seed=seed, dtype=torch.float32, scale=0.05))
    quats = s["quats"] / s["quats"].norm(dim=-1, keepdim=True)
    return s["means"], quats, s["scales"], s["opacities"], s["viewmats"], s["Ks"]


@pytest.mark.parametrize("n,w,h,c,seed", [(60, 32, 24, 1, 0), (300, 48, 32, 3, 1), (800, 40, 40, 2, 2)])
def test_view_weights_are_the_row_sums_of_the_compositing_weights(n, w, h, c, seed):
    means, quats, scales, opac, vms, Ks = _scene(n, w, h, c, seed)
    views = Views.one_size(vms, Ks, w, h)
    got = view_weights(Splats(means, quats, scales, opac), views)
    assert got.shape == (c, n)
    for k in range(c):
        W = compositing_weights(Splats(means, quats, scales, opac), views.take([k])).to_dense()  # [H*W, N]
        torch.testing.assert_close(got[k], W.sum(0), atol=1e-4, rtol=1e-4)
    assert got.max() > 0.5  # the scene is seen at all


def test_a_gaussian_behind_an_opaque_wall_is_unseen_and_one_in_one_view_is_pruned():
    # a wall of opaque Gaussians at z = 3 in front of camera 0, one small Gaussian behind it at z = 4,
    # one in front of it (seen); a second camera looks from the side and sees the front one only
    xs = torch.linspace(-2.0, 2.0, 25)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    wall = torch.stack([gx.reshape(-1), gy.reshape(-1), torch.full((xs.numel() ** 2,), 3.0)], -1)
    means = torch.cat([wall, torch.tensor([[0.0, 0.0, 4.0], [0.0, 0.0, 2.0]])])
    n = means.shape[0]
    quats = torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1)
    scales = torch.full((n, 3), 0.12)
    scales[-2:] = 0.05
    opac = torch.full((n,), 0.999)
    w = h = 32
    K = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])
    v0 = torch.eye(4)
    v1 = look_at_viewmat(torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.0, 0.0, 2.0]))  # beside, looking at +x
    weights = view_weights(Splats(means, quats, scales, opac), Views(torch.stack([v0, v1]), torch.stack([K, K]),
                                                                     [(h, w)] * 2))
    behind, front = n - 2, n - 1
    assert weights[0, behind] < 0.05 and weights[0, front] > 1.0
    assert weights[1, front] > 1.0
    counts = views_seeing_count(weights, 0.5)
    assert counts[behind] == 0 and counts[front] == 2
    mask = unseen_mask(weights, 0.5, 2)
    assert bool(mask[behind]) and not bool(mask[front])
    # wall Gaussians seen by camera 0 only are pruned at min_views=2 and kept at 1
    only0 = (weights[0] > 0.5) & (weights[1] <= 0.5)
    assert only0[: wall.shape[0]].any()
    assert mask[only0].all() and not unseen_mask(weights, 0.5, 1)[only0].any()


def test_unseen_mask_caps_min_views_at_the_number_of_views():
    weights = torch.tensor([[2.0, 0.0, 0.7]])
    assert unseen_mask(weights, 0.5, 3).tolist() == [False, True, False]


def test_no_gaussians():
    _, _, _, _, vms, Ks = _scene(4, 16, 16, 1, 0)
    e = torch.zeros(0, 3)
    out = view_weights(Splats(e, torch.zeros(0, 4), e, torch.zeros(0)), Views(vms, Ks, [(16, 16)]))
    assert out.shape == (1, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA + gsplat")
def test_cuda_gaussians_with_cpu_cameras_weigh_as_on_the_cpu():
    """Training keeps nerfstudio's cameras on the CPU while the Gaussians live on the GPU: the visibility
    prune (gsplat) and the consensus's compositing weights (CPU kernels) take both as they come."""
    from point2act.requery.fit_torch import compositing_weights_views

    means, quats, scales, opac, vms, Ks = _scene(300, 48, 32, 3, 1)
    gpu = [t.cuda() for t in (means, quats, scales, opac)]
    views = Views.one_size(vms, Ks, 48, 32)
    got = view_weights(Splats(*gpu), views)
    assert got.is_cuda
    torch.testing.assert_close(got.cpu(), view_weights(Splats(means, quats, scales, opac), views),
                               atol=1e-3, rtol=1e-3)
    for a, b in zip(compositing_weights_views(Splats(*gpu), Views.one_size(vms.cuda(), Ks.cuda(), 48, 32)),
                    compositing_weights_views(Splats(means, quats, scales, opac), views)):
        assert torch.equal(a.cpu(), b)


def test_photo_colours_are_the_median_of_the_pixels_each_point_projects_into():
    """Three cameras look at a plane z = 2 textured by the pixel colour each point projects into: a point on it
    gets that colour; a point one view sees through a red occluder still gets the two others' colour (median);
    a point outside every image or behind the cameras gets none."""
    from point2act.render._testing import look_at_viewmat
    from point2act.visibility import photo_colours

    w, h = 40, 30
    K = torch.tensor([[30.0, 0, w / 2], [0, 30.0, h / 2], [0, 0, 1]])
    eyes = [torch.tensor([x, 0.0, 0.0]) for x in (-0.3, 0.0, 0.3)]
    vms = torch.stack([look_at_viewmat(e, e + torch.tensor([0.0, 0.0, 2.0])) for e in eyes])

    def texture(p):  # [M, 3] points on the plane -> colour in [0, 1], smooth in x and y
        return torch.stack([0.5 + 0.4 * torch.sin(3 * p[:, 0]), 0.5 + 0.4 * torch.cos(2 * p[:, 1]),
                            torch.full_like(p[:, 0], 0.25)], -1)

    images = []
    for c, vm in enumerate(vms):  # each pixel shows the plane point its ray meets
        j, i = torch.meshgrid(torch.arange(w) + 0.5, torch.arange(h) + 0.5, indexing="xy")
        rays = torch.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], torch.ones_like(j)], -1)  # camera
        R, t = vm[:3, :3], vm[:3, 3]
        origin = -R.T @ t
        d = rays.reshape(-1, 3) @ R  # world directions (R.T @ ray)
        hit = origin + d * ((2.0 - origin[2]) / d[:, 2])[:, None]
        img = texture(hit).reshape(h, w, 3)
        if c == 0:
            img[: h // 2] = torch.tensor([1.0, 0.0, 0.0])  # an occluder over the top half of view 0
        images.append(img)
    on_plane = torch.tensor([[0.05, 0.02, 2.0], [-0.1, -0.2, 2.0], [0.2, 0.1, 2.0]])
    outside = torch.tensor([[40.0, 0.0, 2.0], [0.0, 0.0, -3.0]])
    colours, seen = photo_colours(torch.cat([on_plane, outside]), images, torch.stack([K] * 3), vms)
    assert seen.tolist() == [True, True, True, False, False]
    # nearest-pixel sampling: within the texture's change over one pixel footprint (2 / 30 at z = 2)
    torch.testing.assert_close(colours[:3], texture(on_plane), atol=0.06, rtol=0)
    assert (colours[3:] == 0).all()
    # the point with y = -0.2 lies in view 0's occluded top half: the median ignores the one red sample
    assert abs(float(colours[1, 0]) - float(texture(on_plane[1:2])[0, 0])) < 0.06
