"""Connected components of an undirected graph given as index pairs, in numpy.

The views' places (:mod:`point2act.where.consensus`), the Gaussians' density clusters
(:func:`point2act.grasp.region.dbscan`) and the target's surface pieces (:mod:`point2act.grasp.target`) are the
components of a neighbour graph: the pairs a k-d tree finds. :func:`components` labels them as
``scipy.sparse.csgraph.connected_components(..., directed=False)`` does, the same labels, without importing
``scipy.sparse.csgraph`` (its package init imports ``scipy.sparse.linalg`` and ``scipy.linalg``: 0.08 s of a
query's start).

The rule: every node starts as its own root; each round, every pair hooks the larger of its two roots onto the
smaller (``np.minimum.at``), then every node's root is followed to its end (pointer jumping), until no pair joins
two roots. A component's root is then its smallest node, and components are numbered in the order of their
smallest nodes: scipy's numbering, which visits nodes in index order and gives each unvisited one the next label.
Rounds: a few, each O(pairs + nodes).

Check: ``tests/test_pair_graph.py`` compares the labels with scipy's on random graphs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["components"]


def components(n: int, pairs: np.ndarray) -> np.ndarray:  # [n] int64
    """Component labels ``0..K-1`` of nodes ``0..n-1`` joined by ``pairs`` [P, 2] (any order, self-pairs and
    repeats allowed), numbered by their smallest node: scipy's ``connected_components`` labels."""
    n = int(n)
    root = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if n == 0:
        return root
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"components: pair indices must lie in [0, {n})")
    a, b = pairs[:, 0], pairs[:, 1]
    while len(a):
        ra, rb = root[a], root[b]
        join = ra != rb
        if not join.any():
            break
        a, b, ra, rb = a[join], b[join], ra[join], rb[join]  # pairs already inside one root stay so
        np.minimum.at(root, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:  # pointer jumping: every node to the end of its chain
            up = root[root]
            if np.array_equal(up, root):
                break
            root = up
    return np.unique(root, return_inverse=True)[1].astype(np.int64).reshape(n)
