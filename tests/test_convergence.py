"""The stopping rule (:mod:`point2act.convergence`): probes at the answers' heatmap cores, the depth change in
pixel footprints against its closed form, windowed renders against the full view's, and a training that stops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from point2act.convergence import (
    STABLE_FOOTPRINTS,
    Probe,
    TargetConvergence,
    depth_change,
    probes_of,
    render_probes,
)
from point2act.heatmap import points_to_heatmap, sigma_px

from conftest import build_trainer


@pytest.mark.parametrize("pts", [[[30.2, 20.7]], [[3.0, 2.0], [60.5, 40.5]], [[-50.0, 10.0], [10.0, 10.0]]])
def test_a_probe_is_the_heatmap_core(pts):
    """The probe's pixels are where the view's heatmap reaches half its maximum, and no such pixel lies outside
    its window."""
    h, w, frac = 48, 64, 0.05
    probes = probes_of({3: np.asarray(pts)}, {3: (h, w)}, frac)
    heat = points_to_heatmap(torch.tensor(pts, dtype=torch.float32), h, w, sigma_px(h, w, frac))[..., 0].numpy()
    core = heat >= 0.5  # the blob peaks at 1 on its answer
    (p,) = probes
    x0, y0, x1, y1 = p.window
    inside = np.zeros_like(core)
    inside[y0:y1, x0:x1] = p.mask
    # equal up to pixels on the level line (float rounding of the two computations)
    assert (inside != core).sum() <= 0.02 * core.sum()
    assert p.view == 3 and p.mask.shape == (y1 - y0, x1 - x0)


def test_views_without_answers_have_no_probe():
    assert probes_of({0: np.zeros((0, 2)), 1: np.asarray([[500.0, 500.0]])}, {0: (48, 64), 1: (48, 64)}, 0.02) == []


@pytest.mark.parametrize("k", [0.0, 0.5, 2.0])
def test_depth_change_is_in_pixel_footprints(k):
    d, f = 0.8, 250.0
    before = np.full((5, 6), d)
    now = before + k * d / f  # a move of k footprints
    mask = np.ones((5, 6), bool)
    assert depth_change(before, now, mask, f) == pytest.approx(k, abs=1e-9)


def test_a_surface_gained_or_lost_is_an_unbounded_change():
    mask = np.ones((2, 2), bool)
    before = np.ones((2, 2))
    lost = before.copy()
    lost[:, 0] = 0.0  # half the pixels see through: the median is unbounded
    assert math.isinf(depth_change(before, lost, mask, 100.0))
    lost[0, 0] = 1.0  # one of four: the median still moves by 0 ... inf -> inf only past half
    assert depth_change(before, lost, mask, 100.0) == 0.0
    none = np.zeros((2, 2))
    assert depth_change(none, none, mask, 100.0) == 0.0  # no surface at both checks: nothing moved


def test_the_rule_needs_two_checks_and_every_probe_stable():
    probes = [Probe(0, (0, 0, 2, 2), np.ones((2, 2), bool)), Probe(1, (0, 0, 2, 2), np.ones((2, 2), bool))]
    conv = TargetConvergence(probes, [100.0, 100.0], start=11, every=10)
    assert [s for s in range(40) if conv.due(s)] == [11, 21, 31]
    d = np.ones((2, 2))
    assert conv.update([d, d]) is None and not conv.converged
    moved = d + 2 * STABLE_FOOTPRINTS / 100.0  # two footprints in the second view only
    assert conv.update([d, moved]) == pytest.approx(2 * STABLE_FOOTPRINTS) and not conv.converged
    assert conv.update([d, moved]) == pytest.approx(0.0, abs=1e-4) and conv.converged  # kept as float32
    assert not TargetConvergence([], [], 0, 10).due(0)


def test_a_windowed_render_is_the_full_views_window():
    """Each probe's depth is the full view's median depth in its window (the intrinsics shifted by the window's
    corner), the reference being :func:`point2act.fusion.render_median_depth` of the whole view."""
    from point2act.fusion import render_median_depth
    from point2act.render import Splats
    from point2act.splatting import Views

    g = torch.Generator().manual_seed(0)
    n = 300
    means = torch.randn(n, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0])
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    scales = torch.rand(n, 3, generator=g) * 0.08 + 0.02
    opac = torch.rand(n, generator=g) * 0.5 + 0.5
    vm = torch.eye(4)[None]
    K = torch.tensor([[[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]]])
    probes = [Probe(0, (10, 7, 41, 30), np.ones((23, 31), bool)), Probe(0, (0, 0, 64, 48), np.ones((48, 64), bool))]
    got = render_probes(Splats(means, quats, scales, opac), vm, K, probes)
    full, _ = render_median_depth(Splats(means, quats, scales, opac), Views.one_size(vm[:1], K[:1], 64, 48))
    assert (full > 0).mean() > 0.2  # the blob covers the view's middle
    for p, d in zip(probes, got):
        x0, y0, x1, y1 = p.window
        np.testing.assert_allclose(d, full[y0:y1, x0:x1], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    from point2act.synth import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp("convergence") / "scene"
    generate_scene(root, SynthConfig(seed=0, num_views=8, width=64, height=48, num_seed_points=600,
                                     num_gt_points=200))
    return root


def _train(scene: Path, out: Path, steps: int, stop: bool):
    trainer = build_trainer(scene, out, steps, stop_at_convergence=stop)
    trainer.train()
    return trainer


@pytest.mark.slow
def test_training_stops_once_the_target_has_converged_and_saves_its_last_step(scene, tmp_path):
    steps = 300
    trainer = _train(scene, tmp_path / "on", steps, stop=True)
    conv = trainer._convergence
    assert conv is not None and conv.probes  # the oracle answered in the views
    model = trainer.pipeline.model.config
    full = int(model.num_downscales) * int(model.resolution_schedule)
    every = int(model.refine_every)
    # from the first step after the first densification at full resolution
    assert conv.start - 1 >= max(full, int(model.warmup_length)) and (conv.start - 1) % every == 0
    assert conv.start - 1 - every < max(full, int(model.warmup_length))
    assert trainer.stop_training and conv.converged and conv.worst <= STABLE_FOOTPRINTS
    stopped = trainer._stopped_at
    assert conv.start < stopped < steps - 1 and (stopped - conv.start) % conv.every == 0
    ckpts = sorted(p.name for p in (trainer.checkpoint_dir).glob("step-*.ckpt"))
    assert ckpts == [f"step-{stopped:09d}.ckpt"]  # the step it last trained, not one past it

    off = _train(scene, tmp_path / "off", steps, stop=False)
    assert off._convergence is None
    assert sorted(p.name for p in off.checkpoint_dir.glob("step-*.ckpt")) == [f"step-{steps - 1:09d}.ckpt"]
