"""meta from the CPU rasterizer drives gsplat's (pure torch) DefaultStrategy."""

import pytest
import torch

from point2act.render import rasterization
from point2act.render._testing import SceneExtras, SceneSpec, random_scene

strategy = pytest.importorskip("gsplat.strategy")


@pytest.mark.parametrize("absgrad", [True, False])
@pytest.mark.parametrize("packed", [False, True])
def test_default_strategy_state_updates(absgrad, packed):
    scene = random_scene(SceneSpec(200, 48, 32, C=2, seed=3, dtype=torch.float32),
                         extras=SceneExtras(n_behind=10))
    params = torch.nn.ParameterDict(
        {
            "means": scene["means"],
            "quats": scene["quats"],
            "scales": torch.log(scene["scales"]),
            "opacities": torch.logit(scene["opacities"]),
            "colors": scene["colors"],
        }
    )
    optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in params.items()}
    strat = strategy.DefaultStrategy(absgrad=absgrad, refine_start_iter=1000, verbose=False)
    strat.check_sanity(params, optimizers)
    state = strat.initialize_state(scene_scale=1.0)
    for step in range(2):
        rc, ra, info = rasterization(
            params["means"],
            params["quats"],
            torch.exp(params["scales"]),
            torch.sigmoid(params["opacities"]),
            params["colors"],
            scene["viewmats"],
            scene["Ks"],
            scene["width"],
            scene["height"],
            packed=packed,
            absgrad=absgrad,
        )
        strat.step_pre_backward(params, optimizers, state, step, info)
        loss = (rc - 0.5).abs().mean() + ra.mean()
        loss.backward()
        strat.step_post_backward(params, optimizers, state, step, info, packed=packed)
        for opt in optimizers.values():
            opt.step()
            opt.zero_grad()
    N = params["means"].shape[0]
    assert state["grad2d"].shape == (N,) and state["count"].shape == (N,)
    radii = info["radii"]
    if packed:
        seen = torch.zeros(N, dtype=torch.bool)
        seen[info["gaussian_ids"]] = True
    else:
        seen = (radii > 0).any(0)
    assert (state["count"][seen] > 0).all()
    assert (state["count"][~seen] == 0).all()
    assert (state["grad2d"][seen] > 0).any() and (state["grad2d"] >= 0).all()
    assert not seen[:10].any()  # Gaussians behind the cameras are culled
    if absgrad:
        grad = info["means2d"].absgrad
        assert grad is not None and (grad >= 0).all()
