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
    """Unit quaternion(s) ``[w, x, y, z]`` with ``w >= 0`` of rotation matrices (scipy ``Rotation``)."""
    from scipy.spatial.transform import Rotation  # scipy.spatial: 0.2-0.3 s of a process's start, paid on use

    R = np.asarray(R, dtype=np.float64)
    xyzw = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()
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
