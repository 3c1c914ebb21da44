"""Pure-torch (autograd) projection of 3D Gaussians, following gsplat 1.4.0.

Mirrors ``fully_fused_projection_fwd.cu`` (pinhole camera, unpacked layout):
world->camera transform, covariance from (normalised) quaternion and scales,
EWA perspective Jacobian with the camera-space x/y clamped to 1.3x the field of
view, ``eps2d`` blur added to the 2D covariance, conic = inverse 2D covariance,
optional anti-aliasing compensation ``sqrt(max(0, det_orig / det_blur))``,
radius ``ceil(3 * sqrt(b + sqrt(max(b^2 - det, 0.01))))`` and culling
(``depth < near``, ``depth > far``, ``det <= 0``, ``radius <= radius_clip``,
footprint fully off-screen) by setting ``radii`` to 0.

Values of culled Gaussians (``radii == 0``) are finite but meaningless, like
gsplat's (uninitialised) outputs; their gradients are zero.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def quat_to_rotmat(quats: Tensor) -> Tensor:  # [..., 4] (wxyz) -> [..., 3, 3]
    """Rotation matrices from (unnormalised) wxyz quaternions."""
    quats = F.normalize(quats, p=2, dim=-1)
    w, x, y, z = torch.unbind(quats, dim=-1)
    R = torch.stack(
        [
            1 - 2 * (y**2 + z**2),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x**2 + z**2),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x**2 + y**2),
        ],
        dim=-1,
    )
    return R.reshape(quats.shape[:-1] + (3, 3))


def quat_scale_to_covar(
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3]
) -> Tensor:  # [N, 3, 3]
    """3D covariances ``R S S^T R^T`` from quaternions and scales."""
    R = quat_to_rotmat(quats)
    M = R * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def symmetrize_covars(covars: Tensor) -> Tensor:  # [N, 3, 3] -> [N, 3, 3]
    """Use the upper triangle of user covariances, as gsplat does."""
    triu = torch.triu(covars)
    return triu + triu.transpose(-1, -2) - torch.diag_embed(
        torch.diagonal(covars, dim1=-2, dim2=-1)
    )


def fully_fused_projection(
    means: Tensor,  # [N, 3]
    covars: Tensor,  # [N, 3, 3]
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    calc_compensations: bool = False,
    camera_model: str = "pinhole",
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Optional[Tensor]]:
    """Project 3D Gaussians to every camera (unpacked ``[C, N, ...]`` layout).

    Returns:
        radii [C, N] int32 (0 = culled), means2d [C, N, 2], depths [C, N],
        conics [C, N, 3] and compensations [C, N] (None unless
        ``calc_compensations``).
    """
    if camera_model != "pinhole":
        raise NotImplementedError(
            f"point2act CPU rasterizer: camera_model={camera_model!r} is not "
            "supported on CPU (only 'pinhole'); use a CUDA device for gsplat."
        )
    C = viewmats.shape[0]
    R = viewmats[:, :3, :3]  # [C, 3, 3]
    t = viewmats[:, :3, 3]  # [C, 3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # [C, N, 3]
    covars_c = torch.einsum("cij,njk,clk->cnil", R, covars, R)  # [C, N, 3, 3]

    x, y, z = torch.unbind(means_c, dim=-1)  # [C, N]
    depths = z
    with torch.no_grad():
        valid = (z >= near_plane) & (z <= far_plane)
    # avoid inf/nan (and nan gradients) for culled Gaussians behind the camera
    z_safe = torch.where(valid, z, torch.ones_like(z))
    rz = 1.0 / z_safe
    rz2 = rz * rz

    fx = Ks[:, 0, 0, None]  # [C, 1]
    fy = Ks[:, 1, 1, None]
    cx = Ks[:, 0, 2, None]
    cy = Ks[:, 1, 2, None]
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    tx = z_safe * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, x * rz))
    ty = z_safe * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, y * rz))

    zeros = torch.zeros_like(z)
    J = torch.stack(
        [fx * rz, zeros, -fx * tx * rz2, zeros, fy * rz, -fy * ty * rz2], dim=-1
    ).reshape(C, -1, 2, 3)
    cov2d = J @ covars_c @ J.transpose(-1, -2)  # [C, N, 2, 2]
    means2d = torch.stack([fx * x * rz + cx, fy * y * rz + cy], dim=-1)  # [C, N, 2]

    a = cov2d[..., 0, 0]
    b = 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0])
    c = cov2d[..., 1, 1]
    det_orig = a * c - b * b
    a = a + eps2d
    c = c + eps2d
    det = a * c - b * b
    with torch.no_grad():
        valid = valid & (det > 0)
    det_safe = torch.where(valid, det, torch.ones_like(det))

    compensations = None
    if calc_compensations:
        ratio = det_orig / det_safe
        with torch.no_grad():
            comp_val = torch.sqrt(torch.clamp(ratio, min=0.0))
            # gsplat's add_blur_vjp: d comp = 0.5 / (comp + 1e-6) d ratio
            scale = 0.5 / (comp_val + 1e-6)
        compensations = comp_val + (ratio - ratio.detach()) * scale

    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)

    with torch.no_grad():
        bb = 0.5 * (a + c)
        v1 = bb + torch.sqrt(torch.clamp(bb * bb - det_safe, min=0.01))
        radius = torch.ceil(3.0 * torch.sqrt(v1))
        valid = valid & (radius > radius_clip)
        mx, my = means2d[..., 0], means2d[..., 1]
        inside = (
            (mx + radius > 0)
            & (mx - radius < width)
            & (my + radius > 0)
            & (my - radius < height)
        )
        radii = torch.where(valid & inside, radius, torch.zeros_like(radius)).to(
            torch.int32
        )
    return radii, means2d, depths, conics, compensations


def _eval_sh_bases(basis_dim: int, dirs: Tensor) -> Tensor:  # [..., 3] -> [..., B]
    """Real SH bases at unit directions (Sloan 2013), ordering as gsplat."""
    x, y, z = dirs.unbind(-1)
    out = [None] * basis_dim
    out[0] = torch.full_like(x, 0.2820947917738781)
    if basis_dim > 1:
        fTmpA = -0.48860251190292
        out[2] = -fTmpA * z
        out[3] = fTmpA * x
        out[1] = fTmpA * y
    if basis_dim > 4:
        z2 = z * z
        fTmpB = -1.092548430592079 * z
        fTmpA = 0.5462742152960395
        fC1 = x * x - y * y
        fS1 = 2 * x * y
        out[6] = 0.9461746957575601 * z2 - 0.3153915652525201
        out[7] = fTmpB * x
        out[5] = fTmpB * y
        out[8] = fTmpA * fC1
        out[4] = fTmpA * fS1
    if basis_dim > 9:
        fTmpC = -2.285228997322329 * z2 + 0.4570457994644658
        fTmpB = 1.445305721320277 * z
        fTmpA = -0.5900435899266435
        fC2 = x * fC1 - y * fS1
        fS2 = x * fS1 + y * fC1
        out[12] = z * (1.865881662950577 * z2 - 1.119528997770346)
        out[13] = fTmpC * x
        out[11] = fTmpC * y
        out[14] = fTmpB * fC1
        out[10] = fTmpB * fS1
        out[15] = fTmpA * fC2
        out[9] = fTmpA * fS2
    if basis_dim > 16:
        fTmpD = z * (-4.683325804901025 * z2 + 2.007139630671868)
        fTmpC = 3.31161143515146 * z2 - 0.47308734787878
        fTmpB = -1.770130769779931 * z
        fTmpA = 0.6258357354491763
        fC3 = x * fC2 - y * fS2
        fS3 = x * fS2 + y * fC2
        out[20] = 1.984313483298443 * z2 * (
            1.865881662950577 * z2 - 1.119528997770346
        ) + -1.006230589874905 * (0.9461746957575601 * z2 - 0.3153915652525201)
        out[21] = fTmpD * x
        out[19] = fTmpD * y
        out[22] = fTmpC * fC1
        out[18] = fTmpC * fS1
        out[23] = fTmpB * fC2
        out[17] = fTmpB * fS2
        out[24] = fTmpA * fC3
        out[16] = fTmpA * fS3
    return torch.stack(out, dim=-1)


def spherical_harmonics(
    degree: int,
    dirs: Tensor,  # [..., 3]
    coeffs: Tensor,  # [..., K, 3]
) -> Tensor:  # [..., 3]
    """Evaluate SH colours (degree <= 4) along (unnormalised) view directions."""
    if not 0 <= degree <= 4:
        raise ValueError(f"sh_degree must be in [0, 4], got {degree}")
    num_bases = (degree + 1) ** 2
    assert coeffs.shape[-2] >= num_bases, coeffs.shape
    dirs = F.normalize(dirs, p=2, dim=-1)
    bases = _eval_sh_bases(num_bases, dirs)  # [..., B]
    return (bases[..., None] * coeffs[..., :num_bases, :]).sum(dim=-2)
