"""The synthetic scene's noise kernel (point2act/synth/csrc/fbm3.cpp) against its numpy reference: the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.synth import noise


@pytest.mark.parametrize("scale", [0.5, 9.0, 120.0, 1e5])
@pytest.mark.parametrize("seed", [0, 7, -3, 2**40 + 5])
def test_fbm3_kernel_is_the_references_bits(scale: float, seed: int) -> None:
    rng = np.random.default_rng(int(scale) + 3)
    p = rng.normal(size=(40_000, 3)) * scale  # a team of threads above 2^14 points, negative lattice cells
    p[:5] = [[0.0, 0.0, 0.0], [-1.0, 2.0, -3.0], [0.5, -0.5, 1e-12], [-1e-300, 1.0, 7.0], [3.0, 3.0, 3.0]]
    got = noise.fbm3(p, seed)
    want = noise._fbm3_numpy(p, seed)
    assert got.dtype == np.float64 and got.shape == (len(p),)
    assert got.tobytes() == want.tobytes()
    assert 0.0 <= got.min() and got.max() <= 1.0


@pytest.mark.parametrize("octaves", [1, 2, 5])
def test_fbm3_octaves_and_layouts(octaves: int) -> None:
    rng = np.random.default_rng(octaves)
    p = rng.uniform(-4, 4, size=(100, 3)).astype(np.float32)  # float32 and a strided view are converted
    view = np.asfortranarray(p.astype(np.float64))
    want = noise._fbm3_numpy(p.astype(np.float64), 11, octaves)
    assert noise.fbm3(p, 11, octaves).tobytes() == want.tobytes()
    assert noise.fbm3(view, 11, octaves).tobytes() == want.tobytes()
    assert noise.fbm3(np.zeros((0, 3)), 11, octaves).shape == (0,)


def test_fbm3_varies_smoothly_with_position() -> None:
    """Value noise: continuous (a tiny step changes it a little), and not constant over a lattice cell."""
    p = np.linspace([0.1, 0.2, 0.3], [3.1, 0.2, 0.3], 3001)
    v = noise.fbm3(p, 1)
    assert np.abs(np.diff(v)).max() < 0.02
    assert v.std() > 0.03


def test_fbm3_kernel_rejects_bad_points() -> None:
    op = noise.EXTENSION.load().fbm3
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        op(np.zeros((4, 2)), 0, 3)
    with pytest.raises(ValueError, match="float64"):
        op(np.zeros((4, 3), np.float32), 0, 3)
    with pytest.raises(ValueError, match="octaves"):
        op(np.zeros((4, 3)), 0, 0)
