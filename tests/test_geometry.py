"""point2act.geometry's quaternions of rotation matrices against scipy's Rotation, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from point2act.geometry import quaternion_wxyz_to_rotation, rotation_to_quaternion_wxyz


def _scipy_wxyz(R: np.ndarray) -> np.ndarray:
    xyzw = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=-1)
    return np.where(q[:, :1] < 0, -q, q)


@pytest.mark.parametrize("noise", [0.0, 1e-14, 1e-9, 1e-4, 3e-2])
def test_quaternions_are_scipys_bits(noise: float) -> None:
    """Rotations, and matrices off a rotation by ``noise`` (scipy projects those onto the nearest rotation)."""
    rng = np.random.default_rng(int(noise * 1e6) + 1)
    R = Rotation.random(20_000, random_state=7).as_matrix()
    R = R + rng.normal(size=R.shape) * noise
    assert rotation_to_quaternion_wxyz(R).tobytes() == _scipy_wxyz(R).tobytes()


def test_each_case_of_the_largest_entry_and_shapes() -> None:
    """Half-turns about each axis (a diagonal entry largest), the identity (the trace largest), batch shapes."""
    cases = np.stack([np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0]), np.eye(3)])
    q = rotation_to_quaternion_wxyz(cases)
    assert q.tobytes() == _scipy_wxyz(cases).tobytes()
    assert np.array_equal(q[3], [1.0, 0.0, 0.0, 0.0])
    R = Rotation.random(6, random_state=2).as_matrix().reshape(2, 3, 3, 3)
    q = rotation_to_quaternion_wxyz(R)
    assert q.shape == (2, 3, 4) and (q[..., 0] >= 0).all()
    assert np.allclose(quaternion_wxyz_to_rotation(q), R, atol=1e-12)
    assert rotation_to_quaternion_wxyz(np.eye(3)).shape == (4,)


def test_improper_matrix_is_an_error() -> None:
    with pytest.raises(ValueError, match="Non-positive determinant"):
        rotation_to_quaternion_wxyz(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError):
        Rotation.from_matrix(np.diag([1.0, 1.0, -1.0]))  # scipy's rule too
