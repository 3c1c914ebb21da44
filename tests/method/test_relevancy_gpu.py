"""Point2ActModel on CUDA (gsplat): the training step's relevancy pass reuses the RGB pass's projection and tile
lists (``relevancy_reuses_rgb_pass``) and gives the second pass's render and gradients. Skipped without CUDA."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("nerfstudio")
if not torch.cuda.is_available():
    pytest.skip("needs CUDA (gsplat)", allow_module_level=True)

from point2act.method.keys import RELEVANCY_KEY, TARGET_KEY  # noqa: E402
from test_model import _with_strategy_state, make_camera, make_model  # noqa: E402


@pytest.mark.parametrize("rasterize_mode", ["classic", "antialiased"])
def test_relevancy_from_the_rgb_pass_equals_the_second_pass(rasterize_mode):
    cam = make_camera(w=96, h=72).to("cuda")
    renders, grads, reused = [], [], []
    for reuse in (True, False):
        torch.manual_seed(0)  # splatfacto draws the initial rotations at random
        model = make_model(n=3000, seed=4, rasterize_mode=rasterize_mode).to("cuda")
        model = _with_strategy_state(model)
        model.relevancy_reuses_rgb_pass = reuse
        with torch.no_grad():
            model.gauss_params[RELEVANCY_KEY].normal_(generator=torch.Generator("cuda").manual_seed(1))
        model.train()
        model.step = 10
        calls = []
        orig = model._relevancy_from_rgb_pass
        model._relevancy_from_rgb_pass = lambda info, w, h: calls.append(orig(info, w, h)) or calls[-1]
        torch.manual_seed(0)  # splatfacto's random training background
        out = model.get_outputs(cam)
        reused.append(calls[-1] is not None)
        target = (torch.arange(out[RELEVANCY_KEY].numel(), device="cuda").reshape(out[RELEVANCY_KEY].shape) % 7
                  == 0).float()
        loss = sum(model.get_loss_dict(out, {"image": out["rgb"].detach().flip(0), TARGET_KEY: target}).values())
        for p in model.gauss_params.values():
            p.grad = None
        loss.backward()
        renders.append(out[RELEVANCY_KEY].detach())
        grads.append({k: v.grad.clone() for k, v in model.gauss_params.items() if v.grad is not None})
    assert reused == [True, False]
    assert renders[0].abs().sum() > 0
    torch.testing.assert_close(renders[0], renders[1], atol=1e-6, rtol=1e-5)
    assert set(grads[0]) == set(grads[1]) and RELEVANCY_KEY in grads[0]
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], atol=1e-6, rtol=1e-3, msg=k)
