"""Connected components of a pair graph (point2act.pair_graph) against scipy.sparse.csgraph's labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from point2act.pair_graph import components


def _scipy_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(g, directed=False)[1].astype(np.int64)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n, p", [(1, 0), (5, 3), (200, 150), (2000, 1900), (3000, 9000)])
def test_components_are_scipys_labels(seed: int, n: int, p: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, n, size=(p, 2))
    assert np.array_equal(components(n, pairs), _scipy_labels(n, pairs))


def test_chains_and_neighbour_pairs() -> None:
    """A long chain given in reverse order (the most rounds), and the pairs of points within a radius."""
    n = 5000
    chain = np.stack([np.arange(n - 1, 0, -1), np.arange(n - 2, -1, -1)], 1)
    assert np.array_equal(components(n, chain), np.zeros(n, np.int64))
    from point2act._scipy import cKDTree

    X = np.random.default_rng(3).uniform(0, 1, size=(3000, 3))
    pairs = cKDTree(X).query_pairs(0.06, output_type="ndarray")
    got = components(len(X), pairs)
    assert np.array_equal(got, _scipy_labels(len(X), pairs))
    assert got.max() > 3  # several clusters, not one


def test_components_edges() -> None:
    assert components(0, np.zeros((0, 2), np.int64)).shape == (0,)
    assert np.array_equal(components(4, np.zeros((0, 2))), np.arange(4))
    assert np.array_equal(components(3, [[2, 2], [1, 1]]), np.arange(3))  # self-pairs join nothing
    assert np.array_equal(components(4, [[3, 1], [1, 3], [3, 1]]), [0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        components(3, [[0, 3]])
