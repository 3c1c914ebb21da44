"""Frames, view matrices and rotations: the one place for them (numpy/scipy, torch where a tensor comes in).

Conventions
- nerfstudio cameras: camera-to-world ``c2w`` [3|4, 4] with OpenGL axes (x right, y up, looking down -z).
- gsplat view matrices: world-to-camera ``viewmat`` [4, 4] with OpenCV axes (x right, y down, +z forward).
- The *capture* frame is the world frame of the input ``transforms.json``; nerfstudio's data parser maps it to
  its own frame by ``p_ns = scale * (T[:3, :3] @ p_capture + T[:3, 3])`` (:class:`FrameTransform`).
- Quaternions are ``[w, x, y, z]`` with ``w >= 0``; rotation matrices have the frame's axes as columns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "FrameTransform",
    "nearest_rotation",
    "quaternion_wxyz_to_rotation",
    "rotation_to_quaternion_wxyz",
    "viewmat_from_c2w",
    "viewmats_from_c2w",
]


def nearest_rotation(A: np.ndarray) -> np.ndarray:  # [..., 3, 3] -> [..., 3, 3]
    """The proper rotation nearest to ``A`` in the Frobenius norm (SVD, det = +1)."""
    A = np.asarray(A, dtype=np.float64)
    U, _, Vt = np.linalg.svd(A)
    D = np.ones(A.shape[:-1])
    D[..., -1] = np.sign(np.linalg.det(U @ Vt))
    return (U * D[..., None, :]) @ Vt


def rotation_to_quaternion_wxyz(R: np.ndarray) -> np.ndarray:  # [..., 3, 3] -> [..., 4]
    """Unit quaternion(s) ``[w, x, y, z]`` with ``w >= 0`` of rotation matrices: scipy ``Rotation.from_matrix``'s
    quaternions, bit for bit, without importing ``scipy.spatial`` (0.2 s of a query's start). Its rule: a matrix
    whose Gram matrix is not within ``atol=1e-12`` of the identity is replaced by its nearest rotation (SVD,
    ``U Vt``); then the quaternion from the largest of the diagonal and the trace (Shepperd's method), normalised.
    A matrix with a determinant <= 0 is a ValueError, as in scipy. Check: ``tests/test_geometry.py`` against scipy."""
    R = np.array(R, dtype=np.float64)
    flat = R.reshape(-1, 3, 3)
    bad = np.linalg.det(flat) <= 0
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"Non-positive determinant (left-handed or null coordinate frame) in rotation matrix {k}: "
                         f"{flat[k]}.")
    gram = flat @ np.swapaxes(flat, -1, -2)
    rotation = np.isclose(gram, np.eye(3), rtol=1e-5, atol=1e-12).all((1, 2))
    if not rotation.all():
        U, _, Vt = np.linalg.svd(flat[~rotation], full_matrices=False)
        flat[~rotation] = U @ Vt
    trace = flat[:, 0, 0] + flat[:, 1, 1] + flat[:, 2, 2]
    choice = np.stack([flat[:, 0, 0], flat[:, 1, 1], flat[:, 2, 2], trace], 1).argmax(1)
    xyzw = np.empty((len(flat), 4))
    for i in range(3):  # the largest diagonal entry is i's
        s, j, k = choice == i, (i + 1) % 3, (i + 2) % 3
        M = flat[s]
        xyzw[s, i] = 1 - trace[s] + 2 * M[:, i, i]
        xyzw[s, j] = M[:, j, i] + M[:, i, j]
        xyzw[s, k] = M[:, k, i] + M[:, i, k]
        xyzw[s, 3] = M[:, k, j] - M[:, j, k]
    s = choice == 3  # the trace is the largest
    M = flat[s]
    xyzw[s, 0] = M[:, 2, 1] - M[:, 1, 2]
    xyzw[s, 1] = M[:, 0, 2] - M[:, 2, 0]
    xyzw[s, 2] = M[:, 1, 0] - M[:, 0, 1]
    xyzw[s, 3] = 1 + trace[s]
    xyzw /= np.linalg.norm(xyzw, axis=1)[:, None]
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=-1)
    q = np.where(q[:, :1] < 0, -q, q)
    return q.reshape(R.shape[:-2] + (4,))


def quaternion_wxyz_to_rotation(q: np.ndarray) -> np.ndarray:  # [..., 4] -> [..., 3, 3]
    """Rotation matrices of quaternions ``[w, x, y, z]`` (normalised first; scipy ``Rotation``)."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64)
    flat = q.reshape(-1, 4)
    R = Rotation.from_quat(np.concatenate([flat[:, 1:], flat[:, :1]], axis=-1)).as_matrix()
    return R.reshape(q.shape[:-1] + (3, 3))


def viewmat_from_c2w(c2w: "torch.Tensor") -> "torch.Tensor":  # [B, 3|4, 4] -> [B, 4, 4]
    """nerfstudio camera-to-world (OpenGL axes) to gsplat world-to-camera (OpenCV axes), in torch.

    The same maths as splatfacto's ``get_viewmat``, eager (no ``torch.compile``) and differentiable."""
    import torch

    R = c2w[:, :3, :3] * torch.tensor([[[1, -1, -1]]], device=c2w.device, dtype=c2w.dtype)
    T = c2w[:, :3, 3:4]
    R_inv = R.transpose(1, 2)
    viewmat = torch.zeros(c2w.shape[0], 4, 4, device=c2w.device, dtype=c2w.dtype)
    viewmat[:, 3, 3] = 1.0
    viewmat[:, :3, :3] = R_inv
    viewmat[:, :3, 3:4] = -torch.bmm(R_inv, T)
    return viewmat


def viewmats_from_c2w(c2w: np.ndarray) -> np.ndarray:  # [C, 3|4, 4] -> [C, 4, 4]
    """:func:`viewmat_from_c2w` for numpy arrays (float64)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    M = np.tile(np.eye(4), (c2w.shape[0], 1, 1))
    M[:, :3, :4] = c2w[:, :3, :4]
    M[:, :3, 1:3] *= -1.0
    return np.linalg.inv(M)


@dataclass
class FrameTransform:
    """nerfstudio's data-parser normalisation: ``p_ns = scale * (T[:3, :3] @ p_capture + T[:3, 3])``."""

    transform: np.ndarray  # [3, 4]
    """``dataparser_transform``: rotation (orientation method) and translation (centring)."""
    scale: float
    """``dataparser_scale``: nerfstudio units per capture unit."""

    @classmethod
    def from_json(cls, path: Path) -> "FrameTransform":
        """Read a run's ``dataparser_transforms.json``."""
        data = json.loads(Path(path).read_text())
        return cls(np.asarray(data["transform"], dtype=np.float64).reshape(3, 4), float(data["scale"]))

    @classmethod
    def identity(cls) -> "FrameTransform":
        return cls(np.eye(4)[:3], 1.0)

    def to_capture(self, points: np.ndarray) -> np.ndarray:  # [..., 3] nerfstudio -> capture
        T = np.eye(4)
        T[:3, :4] = self.transform
        p = np.asarray(points, dtype=np.float64) / self.scale
        ph = np.concatenate([p, np.ones(p.shape[:-1] + (1,))], axis=-1)
        return (ph @ np.linalg.inv(T).T)[..., :3]

    def to_nerfstudio(self, points: np.ndarray) -> np.ndarray:  # [..., 3] capture -> nerfstudio
        p = np.asarray(points, dtype=np.float64)
        return self.scale * (p @ self.transform[:3, :3].T + self.transform[:3, 3])

    @property
    def rotation_to_ns(self) -> np.ndarray:  # [3, 3]
        """The rotation part of the capture -> nerfstudio map (nearest proper rotation)."""
        return nearest_rotation(self.transform[:3, :3])

    def rotation_to_capture(self, R: np.ndarray) -> np.ndarray:  # [..., 3, 3]
        """Rotate orientations (columns = axes) from the nerfstudio frame to the capture frame."""
        return self.rotation_to_ns.T @ R

    @property
    def units_per_ns_unit(self) -> float:
        """Capture-frame length of one nerfstudio unit."""
        return float(np.cbrt(abs(np.linalg.det(np.linalg.inv(self.transform[:3, :3]))))) / self.scale
