"""point2act.method.compat.cpu_compat: what it routes on each device, and that it restores splatfacto."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("nerfstudio")

from nerfstudio.models import splatfacto  # noqa: E402

from point2act.geometry import viewmat_from_c2w  # noqa: E402
from point2act.method import compat  # noqa: E402


def _random_c2w(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=g))
    q = q * torch.sign(torch.linalg.det(q))[:, None, None]  # proper rotations
    c2w = torch.zeros(n, 3, 4)
    c2w[:, :, :3] = q
    c2w[:, :, 3] = torch.randn(n, 3, generator=g)
    return c2w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eager_viewmat_is_splatfactos_arithmetic(seed):
    """The eager get_viewmat gives what splatfacto's compiled one computes (its Python source, uncompiled),
    and inverts the camera-to-world pose with gsplat's axis flip."""
    c2w = _random_c2w(4, seed)
    reference = splatfacto.get_viewmat.__wrapped__(c2w)
    ours = viewmat_from_c2w(c2w)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))
    full = torch.eye(4).repeat(4, 1, 1)
    full[:, :3, :] = c2w
    torch.testing.assert_close(ours, torch.linalg.inv(full @ flip), rtol=0, atol=1e-5)


def test_cuda_device_routes_only_the_viewmat():
    """On a CUDA device only get_viewmat is replaced (no torch.compile); rasterization and .cuda() stay
    splatfacto's, and everything is restored on exit."""
    orig_viewmat, orig_raster, orig_cuda = splatfacto.get_viewmat, splatfacto.rasterization, torch.Tensor.cuda
    with compat.cpu_compat("cuda"):
        assert splatfacto.get_viewmat is viewmat_from_c2w
        assert splatfacto.rasterization is orig_raster
        assert torch.Tensor.cuda is orig_cuda
    assert splatfacto.get_viewmat is orig_viewmat


def test_nested_devices_patch_and_restore_independently():
    """A CPU entry inside a CUDA one (the viewer's thread beside training) routes rasterization; leaving it
    restores rasterization but keeps the viewmat until the outer entry leaves."""
    orig_viewmat, orig_raster = splatfacto.get_viewmat, splatfacto.rasterization
    with compat.cpu_compat("cuda"):
        with compat.cpu_compat("cpu"):
            assert splatfacto.rasterization is compat._splatfacto_rasterization
            assert splatfacto.get_viewmat is viewmat_from_c2w
        assert splatfacto.rasterization is orig_raster
        assert splatfacto.get_viewmat is viewmat_from_c2w
    assert splatfacto.get_viewmat is orig_viewmat
    assert splatfacto.rasterization is orig_raster
