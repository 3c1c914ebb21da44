"""``point2act query`` without torch: the numpy twins it runs on (heatmaps, their resize, a channel's relevancy in
the fusion views, channels as npz), and the query itself in a fresh process on the shared trained run, against
the torch path's channel and document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from point2act.heatmap import heatmap_array, points_to_heatmap, resize_heatmap, shrink_heatmap


@pytest.mark.parametrize("H,W,h,w", [(192, 256, 96, 128), (191, 255, 95, 127), (100, 130, 33, 41), (64, 48, 64, 48)])
def test_numpy_heatmap_twins(H, W, h, w):
    rng = np.random.default_rng(H + W)
    for n in (0, 1, 3):
        pts = rng.uniform(0, [W, H], size=(n, 2)).astype(np.float32)
        sigma = 0.02 * float(np.hypot(H, W))
        ref = points_to_heatmap(torch.from_numpy(pts), H, W, sigma)[..., 0].numpy()
        got = heatmap_array(pts, H, W, sigma)
        assert got.dtype == np.float32 and got.shape == (H, W)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)  # exp's last bit differs between the twins
        # the resize: torch's area mode, bit for bit
        shrunk = resize_heatmap(torch.from_numpy(got)[..., None], h, w)[..., 0].numpy()
        assert np.array_equal(shrink_heatmap(got, h, w), shrunk)
    with pytest.raises(ValueError):
        shrink_heatmap(np.zeros((4, 4), np.float32), 5, 4)


@pytest.mark.parametrize("min_weight", [0.0, 1e-3])
def test_fusion_weights_from_the_cached_views_are_the_torch_paths(min_weight):
    """The run cache keeps the fusion views' Gaussians and cameras; the weights computed from them without torch
    (:func:`point2act.fusion.fusion_weights`) are, bit for bit, the torch path's (``requery.fit_torch``'s kernel,
    float16), so a query's export reads the weights training would have stored."""
    from point2act.fusion import FusionViews, fusion_views, fusion_weights
    from point2act.requery.fit_torch import Views, compositing_weights_views
    from point2act.render import Splats
    from point2act.render._testing import SceneSpec, random_scene

    sc = random_scene(SceneSpec(600, 56, 40, 3, seed=7, dtype=torch.float32))
    q = sc["quats"] / sc["quats"].norm(dim=-1, keepdim=True)
    splats = Splats(sc["means"], q, sc["scales"], sc["opacities"])
    views, K_out, sizes = fusion_views(sc["Ks"].numpy(), [(40, 56)] * 3, max_views=2)
    got = fusion_weights(FusionViews(sc["means"].numpy(), q.numpy(), sc["scales"].numpy(), sc["opacities"].numpy(),
                                     sc["viewmats"][torch.as_tensor(views)].numpy(), np.asarray(K_out, np.float32),
                                     sizes, min_weight))
    crows, cols, vals, off = [np.zeros(1, np.int64)], [], [], 0
    for i, K, (H, W) in zip(views, K_out, sizes):
        view = Views(sc["viewmats"][int(i)][None], torch.as_tensor(K, dtype=torch.float32)[None], [(H, W)])
        crow, col, val = compositing_weights_views(splats, view, "classic", min_weight)
        crows.append(crow[1:].numpy() + off)
        off += int(crow[-1])
        cols.append(col.numpy())
        vals.append(val.numpy().astype(np.float16))
    assert off > 0
    assert np.array_equal(got.crow, np.concatenate(crows))
    assert np.array_equal(got.col, np.concatenate(cols))
    assert np.array_equal(got.val.view(np.uint16), np.concatenate(vals).view(np.uint16))
    assert got.sizes == [list(s) for s in sizes] and got.min_weight == min_weight


def test_relevancy_in_views_equals_the_rasterizers_render():
    """With every weight kept, a field's relevancy drawn from the fusion views' weights is the rasterizer's render
    (:func:`point2act.fusion.render_expected_depth`)."""
    from point2act.fusion import FusionWeights, fusion_views, relevancy_in_views, render_expected_depth
    from point2act.requery.fit_torch import Views, compositing_weights_views
    from point2act.render._testing import SceneSpec, random_scene

    from point2act.render import Splats

    sc = random_scene(SceneSpec(400, 48, 40, 2, seed=3, dtype=torch.float32))
    splats = Splats(sc["means"], sc["quats"] / sc["quats"].norm(dim=-1, keepdim=True), sc["scales"], sc["opacities"])
    vms, Ks = sc["viewmats"], sc["Ks"]
    rel = torch.rand(splats.means.shape[0], generator=torch.Generator().manual_seed(0))
    views, K_out, sizes = fusion_views(Ks.numpy(), [(40, 48)] * 2, max_views=2)
    crows, cols, vals, off = [np.zeros(1, np.int64)], [], [], 0
    for i, K in zip(views, K_out):
        view = Views(vms[int(i)][None], torch.as_tensor(K, dtype=torch.float32)[None], [(40, 48)])
        crow, col, val = compositing_weights_views(splats, view, "classic", 0.0)
        crows.append(crow[1:].numpy() + off)
        off += int(crow[-1])
        cols.append(col.numpy())
        vals.append(val.numpy().astype(np.float16))
    fw = FusionWeights(np.concatenate(crows), np.concatenate(cols), np.concatenate(vals), sizes, 0.0)
    _d, alphas, ref = render_expected_depth(splats, Views.one_size(vms, Ks, 48, 40), relevancy=rel)
    got = relevancy_in_views(fw, alphas.numpy(), rel.numpy())
    np.testing.assert_allclose(got, ref.numpy(), rtol=0, atol=2e-3)  # float16 weights


def test_channels_are_npz_and_pt_channels_still_read(tmp_path):
    from point2act.channels import ChannelInfo, channel_relevancy, channels_dir, list_channels, load_channel, save_channel
    from point2act.requery.fit_numpy import sigmoid

    cfg = tmp_path / "config.yml"
    cfg.write_text("# not read\n")
    path = save_channel(cfg, ChannelInfo("ball", "the ball", "grasp", {"points": {}}), np.arange(4, dtype=np.float32),
                        {"file": "step-1.ckpt"}, extra={"fitted_to": {"rule": "consensus"}})
    assert path.name == "ball.npz" and list_channels(cfg)["ball"]["file"] == "ball.npz"
    rec = load_channel(cfg, "ball", 4)
    assert rec["prompt"] == "the ball" and rec["fitted_to"] == {"rule": "consensus"}
    assert np.array_equal(channel_relevancy(cfg, "ball"), sigmoid(np.arange(4, dtype=np.float64)))
    # a run's older channel, a torch.save dict
    torch.save({"name": "old", "prompt": "p", "role": "place", "logits": torch.ones(3), "points": None},
               channels_dir(cfg) / "old.pt")
    old = load_channel(cfg, "old", 3)
    assert old["role"] == "place" and np.array_equal(old["logits"], np.ones(3, np.float32))
    save_channel(cfg, ChannelInfo("old", "p", "place"), np.zeros(3, np.float32), {})
    assert not (channels_dir(cfg) / "old.pt").exists()


_PROBE = ("import atexit, sys\n"
          "atexit.register(lambda: print('MODULES:' + ','.join(m for m in ('torch', 'nerfstudio', 'gsplat') "
          "if m in sys.modules), flush=True))\n"
          "from point2act.cli import main\n"
          "sys.argv = ['point2act'] + sys.argv[1:]\n"
          "main()\n")


def _query(config: Path, points: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-c", _PROBE, "query", "--load-config", str(config), "--points-file", str(points),
           "--name", "torchfree", "--output", str(out), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, f"point2act query failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def _modules(p: subprocess.CompletedProcess) -> list:
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("MODULES:")][-1]
    return [m for m in line[len("MODULES:"):].split(",") if m]


def test_query_without_torch_equals_the_torch_path(trained_synth, tmp_path):
    """The torch path (``--rebuild-cache``) writes the caches; the next query, in a fresh process, imports neither
    torch, nerfstudio nor gsplat, and writes the same channel and the same grasps.json."""
    from point2act.channels import channels_dir, load_channel

    root, scene, config, _p = trained_synth
    points = scene / "points/oracle.json"
    doc = tmp_path / "grasps_torchfree.json"
    p_torch = _query(config, points, doc, "--rebuild-cache")
    assert "torch" in _modules(p_torch)
    torch_doc = doc.read_bytes()
    torch_rec = load_channel(config, "torchfree")
    doc.unlink()

    p_free = _query(config, points, doc)
    assert "no torch" in p_free.stdout, p_free.stdout
    assert _modules(p_free) == [], p_free.stdout
    assert (channels_dir(config) / "torchfree.npz").is_file()
    free_rec = load_channel(config, "torchfree")
    assert np.array_equal(free_rec["logits"], torch_rec["logits"])
    assert {k: v for k, v in free_rec.items() if k != "logits"} == {k: v for k, v in torch_rec.items() if k != "logits"}
    assert doc.read_bytes() == torch_doc
    assert json.loads(torch_doc)["keypoints"]["torchfree"]
