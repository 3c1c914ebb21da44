"""point2act.requery.fit_numpy.median_depth_csr (the relevancy extension's C++ op) gives the same bits as the numpy
reference point2act.where.consensus.median_depth_map: random CSR matrices (empty rows, rows that never reach
0.5, rows out of depth order with exact ties, NaN depths, a crow that does not start at 0, float32 / float64
weights, int32 / int64 columns) and the compositing weights of a rendered scene."""

import numpy as np
import pytest
import torch

from point2act.where.consensus import median_depth_map
from point2act.requery.fit_torch import median_depth_csr


def _random_csr(seed, H, W, N, mean_nnz, p_empty, p_shuffle, ties, offset, val_dtype, col_dtype, p_nan_z=0.0):
    """crow [H*W + 1] (starting at ``offset``), col [nnz], val [nnz], z [N]: rows of ~``mean_nnz`` entries in
    depth order, a share ``p_empty`` empty, a share ``p_shuffle`` shuffled (out of order), weights alpha * T."""
    rng = np.random.default_rng(seed)
    P = H * W
    counts = rng.poisson(mean_nnz, P)
    counts[rng.random(P) < p_empty] = 0
    # depths: a few distinct values when ``ties`` (many exact ties), else continuous
    z = rng.choice(np.linspace(1.0, 3.0, 7), N) if ties else rng.uniform(0.5, 5.0, N)
    if p_nan_z:
        z[rng.random(N) < p_nan_z] = np.nan
    cols, vals = [], []
    for c in counts:
        g = rng.choice(N, size=min(int(c), N), replace=False)
        g = g[np.argsort(z[g], kind="stable")]  # compositing order
        if rng.random() < p_shuffle:
            rng.shuffle(g)
        # alpha * T; scaled per row so that some rows never reach 0.5
        alpha = rng.uniform(0.0, 0.6, len(g)) * rng.choice([0.15, 1.0])
        T = np.cumprod(np.r_[1.0, 1.0 - alpha[:-1]])
        cols.append(g)
        vals.append(alpha * T)
    crow = offset + np.r_[0, np.cumsum(counts)].astype(np.int64)
    col = np.concatenate(cols).astype(col_dtype) if cols else np.zeros(0, col_dtype)
    val = np.concatenate(vals).astype(val_dtype) if vals else np.zeros(0, val_dtype)
    return crow, col, val, z


def _check(crow, col, val, z, H, W):
    want = median_depth_map(crow, col, val, z, H, W)
    got = median_depth_csr(crow, col, val, z, H, W)
    assert got.shape == (H, W) and got.dtype == np.float64
    assert np.array_equal(got, want, equal_nan=True)
    return want


@pytest.mark.parametrize("seed,H,W,N,mean_nnz,p_empty,p_shuffle,ties,offset,val_dtype,col_dtype", [
    (0, 12, 16, 200, 20, 0.1, 0.0, False, 0, np.float32, np.int64),  # in order, empty rows
    (1, 12, 16, 200, 20, 0.1, 0.3, False, 0, np.float32, np.int32),  # out of order rows
    (2, 9, 7, 40, 15, 0.2, 0.5, True, 0, np.float64, np.int64),  # out of order with exact ties
    (3, 10, 11, 300, 25, 0.05, 0.2, True, 1234, np.float32, np.int32),  # crow not starting at 0
    (4, 5, 6, 30, 3, 0.5, 0.5, False, 7, np.float64, np.int32),  # sparse, many empty rows
    (5, 32, 24, 2000, 20, 0.1, 0.05, False, 0, np.float32, np.int64),
])
def test_median_depth_csr_matches_numpy(seed, H, W, N, mean_nnz, p_empty, p_shuffle, ties, offset, val_dtype,
                                        col_dtype):
    crow, col, val, z = _random_csr(seed, H, W, N, mean_nnz, p_empty, p_shuffle, ties, offset, val_dtype, col_dtype)
    want = _check(crow, col, val, z, H, W)
    assert np.isnan(want).any() and np.isfinite(want).any()  # some rows never reach 0.5, some do
    rows = np.repeat(np.arange(H * W), np.diff(crow))
    zz = z[col]
    if p_shuffle:  # the case is exercised: rows out of depth order
        assert ((rows[1:] == rows[:-1]) & (zz[1:] < zz[:-1])).any()
    if ties:
        assert ((rows[1:] == rows[:-1]) & (zz[1:] == zz[:-1])).any()


def test_median_depth_csr_nan_depths_and_float_types():
    """NaN depths (unordered: only rows with a decreasing pair are sorted, NaN last), float16 weights and
    float32 depths are converted as the numpy function converts them."""
    crow, col, val, z = _random_csr(11, 8, 9, 60, 12, 0.1, 0.5, True, 3, np.float32, np.int64, p_nan_z=0.2)
    _check(crow, col, val, z, 8, 9)
    _check(crow, col, val.astype(np.float16), z.astype(np.float32), 8, 9)
    _check(list(crow), list(col), list(val), list(z), 8, 9)  # plain sequences


def test_median_depth_csr_edge_cases():
    # no entries at all: NaN everywhere
    _check(np.zeros(13, np.int64), np.zeros(0, np.int64), np.zeros(0), np.ones(4), 3, 4)
    # a row that reaches exactly 0.5, one that stays just below, one that reaches it after a tie
    crow = np.array([5, 7, 9, 12])
    col = np.array([0, 1, 0, 1, 2, 1, 0])
    val = np.array([0.25, 0.25, 0.25, 0.2499999, 0.3, 0.3, 0.3], np.float64)
    z = np.array([1.0, 2.0, 2.0])
    got = _check(crow, col, val, z, 1, 3)
    assert got[0, 0] == 2.0 and np.isnan(got[0, 1]) and got[0, 2] == 2.0
    # the global running sum: within = cs - cs_before_row, not a per-row sum from 0 (a + (0.5 - a) == 0.5 from 0,
    # but not always as a difference of the global sums: a per-row sum would answer otherwise on a few rows)
    rng = np.random.default_rng(0)
    n = 4000
    crow = np.r_[0, np.cumsum(np.full(n, 3))]
    a = rng.uniform(0.05, 0.45, n)
    assert (a + (0.5 - a) == 0.5).all()
    val = np.c_[a, 0.5 - a, np.full(n, 0.3)].reshape(-1)
    z = rng.uniform(1, 2, 50)
    col = np.argsort(z)[np.sort(rng.choice(50, (n, 3)), axis=1).reshape(-1)]  # rows in depth order
    got = _check(crow, col, val, z, 40, 100).reshape(-1)
    per_row = z[col[1::3]]  # where a per-row sum from 0 reaches 0.5: each row's second entry
    assert (got != per_row).any() and (got == per_row).mean() > 0.9
    # a read-only input and a crow longer than H*W + 1 (the numpy function reads the first H*W + 1)
    crow2 = np.r_[crow, crow[-1]]
    crow2.setflags(write=False)
    _check(crow2, col, val, z, 40, 100)


def test_median_depth_csr_rejects_bad_input():
    with pytest.raises(ValueError):
        median_depth_csr(np.array([0, 2]), np.array([0, 5]), np.ones(2), np.ones(3), 1, 1)  # col past len(z)
    with pytest.raises(ValueError):
        median_depth_csr(np.array([0, 3]), np.array([0, 1]), np.ones(2), np.ones(3), 1, 1)  # crow vs nnz


@pytest.mark.parametrize("N,W,H,C,ts", [(600, 48, 32, 2, 8), (1500, 64, 48, 1, 16)])
def test_median_depth_csr_on_rendered_weights(N, W, H, C, ts):
    """The compositing weights of a random scene (the cache's int32 / float32 CSR, views stacked so that the
    second view's crow starts past 0), as run._answered_views passes them."""
    from point2act.render import TileLists, compositing_weights, fully_fused_projection, isect_tiles
    from point2act.render._testing import SceneSpec, random_scene

    s = random_scene(SceneSpec(N, W, H, C=C, seed=N + 3, scale=0.06, dtype=torch.float32))
    radii, m2, d, con, _ = fully_fused_projection(s["means"], None, s["quats"], s["scales"], s["viewmats"], s["Ks"],
                                                  s["width"], s["height"])
    op = s["opacities"].expand(C, -1).contiguous()
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, fid, off = isect_tiles(m2, radii, d, ts, tw, th)
    crow, col, val = compositing_weights(m2, con, op, TileLists(W, H, ts, off, fid), 0.0)
    crow, col, val = crow.long().numpy(), col.to(torch.int32).numpy(), val.float().numpy()
    n = H * W
    for c in range(C):
        a, b = c * n, (c + 1) * n
        e0, e1 = int(crow[a]), int(crow[b])
        z = d[c].double().numpy()
        want = median_depth_map(crow[a : b + 1] - e0, col[e0:e1].astype(np.int64), val[e0:e1].astype(np.float64),
                                z, H, W)
        assert 0 < np.isfinite(want).mean() < 1
        got = median_depth_csr(crow[a : b + 1], col[e0:e1], val[e0:e1], z, H, W)  # offset crow, cache dtypes
        assert np.array_equal(got, want, equal_nan=True)
        assert np.array_equal(median_depth_csr(crow[a : b + 1] - e0, col[e0:e1], val[e0:e1], z, H, W), want,
                              equal_nan=True)
