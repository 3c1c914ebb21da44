"""The same inputs give the same bits whatever the thread count: the refit's fused kernel and the refit,
the grasp head's kernels, and grasps.json's writer (the answer in the file, the wall-clock timings beside it).
The whole export under 1 and 2 threads and under load: tests/e2e/test_reproducible_export.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from point2act.requery.fit_torch import (
    LOSS_FORMS,
    FitSchedule,
    WeightsCache,
    compositing_weights,
    fit_relevancy,
    load_extension,
)
from point2act.render import Splats
from point2act.splatting import Views
from point2act.render._testing import SceneExtras, SceneSpec, random_scene

THREADS = (1, 2, 3, 5, 16)


def _cache(N=3000, W=256, H=160, C=1, seed=0):
    """A weights cache with a view of more than 32768 pixels (torch's grain for splitting a sum by threads)."""
    torch.manual_seed(seed)
    s = random_scene(SceneSpec(N, W, H, C=C, dtype=torch.float32, scale=0.05),
                     extras=SceneExtras(n_channels=1))
    splats = Splats(s["means"], s["quats"], s["scales"], s["opacities"])
    views = Views.one_size(s["viewmats"], s["Ks"], W, H)
    mats = [compositing_weights(splats, views.take([c])) for c in range(C)]
    return WeightsCache.from_views(mats, [[H, W]] * C, list(range(C)))


@pytest.fixture(scope="module")
def cache():
    return _cache()


@pytest.mark.parametrize("form", sorted(LOSS_FORMS))
def test_loss_grad_kernel_same_bits_for_any_thread_count(cache, form):
    """relevancy_loss_grad: rows cut into fixed blocks summed in block order, not one share per thread."""
    ext = load_extension()
    g = torch.Generator().manual_seed(1)
    R, N = cache.num_rows, cache.num_gaussians
    assert cache.nnz > 100_000  # enough rows and entries that every thread count splits them differently
    s = torch.rand(N, generator=g)
    target = (torch.rand(R, generator=g) ** 8).contiguous()
    row_w = (torch.rand(R, generator=g) / R).contiguous()
    arrays = (a.numpy() for a in (cache.crow, cache.col, cache.val, s, target, row_w))
    crow, col, val, s, target, row_w = arrays
    out = [ext.relevancy_loss_grad(crow, col, val, s, target, row_w, LOSS_FORMS[form], t) for t in THREADS]
    loss0, grad0 = out[0]
    assert np.abs(grad0).sum() > 0
    for (loss, grad), t in zip(out[1:], THREADS[1:]):
        assert float(loss) == float(loss0), t
        assert np.array_equal(grad, grad0), (t, np.abs(grad - grad0).max())


def test_fit_same_bits_under_any_torch_thread_count(cache):
    """fit_relevancy (as ``point2act query`` runs it, threads from torch.get_num_threads()): the same logits."""
    g = torch.Generator().manual_seed(2)
    H, W = cache.sizes[0]
    target = (torch.rand(H, W, 1, generator=g) ** 6)
    before = torch.get_num_threads()
    fits = []
    try:
        for t in (1, 2, 4):
            torch.set_num_threads(t)
            fits.append(fit_relevancy(cache, [target], schedule=FitSchedule(steps=6, lr=1.0, lr_final=0.1)))
    finally:
        torch.set_num_threads(before)
    for f in fits[1:]:
        assert torch.equal(f.logits, fits[0].logits), (f.logits - fits[0].logits).abs().max()
        assert np.array_equal(f.losses, fits[0].losses, equal_nan=True)  # NaN: steps whose loss is not read


def _grasp_ext():
    from point2act.grasp._kernel import load_extension as grasp_ext

    try:
        return grasp_ext()
    except Exception as e:  # pragma: no cover - no compiler here
        pytest.skip(f"no CPU extension: {e}")


def test_grasp_kernels_same_bits_for_any_thread_count():
    """The grasp head's kernels (one item per loop step, each written by one thread): the same outputs."""
    ext = _grasp_ext()
    rng = np.random.default_rng(0)
    M, S = 4000, 300
    Q = rng.normal(size=(M, 3)) * 0.03
    P = Q[rng.choice(M, S, replace=False)]
    Nn = rng.normal(size=(S, 3))
    Nn /= np.linalg.norm(Nn, axis=1, keepdims=True)
    t64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    same = lambda a, b: a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()  # noqa: E731
    pairs = [ext.contact_candidates(t64(P), t64(Nn), t64(Q), 0.04, 0.002, 0.9, t) for t in THREADS]
    for i, j in pairs[1:]:
        assert same(i, pairs[0][0]) and same(j, pairs[0][1])
    K, T = 200, 8
    C = P[:K]
    X = Nn[:K]
    U = np.cross(X, [0.0, 0.0, 1.0])
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    V = np.cross(X, U)
    th = np.linspace(0, np.pi, T, endpoint=False)
    # (xa0, xh0, xa1, xh1, y_half, z_lo, z_hi, margin, metric, role): a hit box and a distance box
    boxes = np.array([[0.0, 1.0, 0.01, 1.0, 0.01, -0.05, 0.0, 0.001, 0, 0],
                      [0.0, 0.0, 0.05, 0.0, 0.02, -0.1, -0.05, 0.0, 0, 1]])
    kt = np.ones((K, T))
    hits = [ext.gripper_cloud_hits(t64(C), t64(X), t64(U), t64(V), t64(Q), 0.08, t64(np.zeros(K)),
                                   t64(np.full(K, 0.1)), t64(np.cos(th)), t64(np.sin(th)),
                                   np.ones((K, T), dtype=bool), t64(0 * kt), t64(0.01 * kt), t64(0.02 * kt),
                                   t64(boxes), 5, t) for t in THREADS]
    for h, c in hits[1:]:
        assert same(h, hits[0][0]) and same(c, hits[0][1])
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    ext_ = [ext.closing_extent(f32(C), f32(X), f32(U), f32(V), f32(Q), t64(np.full(K, 0.005)),
                               f32([0.08 ** 2, 0.01 ** 2, 0.04]), 0.002, 64, t) for t in THREADS]
    for p, n in ext_[1:]:
        assert same(p, ext_[0][0]) and same(n, ext_[0][1])


def test_grasps_json_holds_the_answer_and_the_timings_lie_beside_it(tmp_path):
    from point2act.export import timings_path, write_grasps

    doc = {"schema": "point2act.grasps/1", "action_point": [0.1, 0.2, 0.3], "timings_ms": {"total": 12.5}}
    a, b = tmp_path / "a" / "grasps.json", tmp_path / "b" / "grasps.json"
    for p, ms in ((a, 12.5), (b, 99.0)):
        p.parent.mkdir()
        write_grasps(p, {**doc, "timings_ms": {"total": ms}})
    assert a.read_bytes() == b.read_bytes()
    assert "timings_ms" not in json.loads(a.read_text()) and doc["timings_ms"] == {"total": 12.5}  # not mutated
    side = json.loads(timings_path(b).read_text())
    assert timings_path(b).name == "grasps.timings.json" and side == {"grasps": "grasps.json", "timings_ms": {"total": 99.0}}
    write_grasps(b, {k: v for k, v in doc.items() if k != "timings_ms"})  # no timings: no stale file beside it
    assert not timings_path(b).exists() and a.read_bytes() == b.read_bytes()
