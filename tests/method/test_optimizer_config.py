"""The method's optimizers: torch's fused Adam for every parameter group, with the loop's numerics."""

from __future__ import annotations

import torch
from nerfstudio.configs.method_configs import method_configs  # noqa: F401  (first: it loads point2act.method.config)

from point2act.method.config import FusedAdamOptimizerConfig, point2act_big_method, point2act_method


def test_every_adam_of_the_method_is_fused():
    for method in (point2act_method, point2act_big_method):
        optimizers = method.config.optimizers
        assert "relevancy" in optimizers
        for name, group in optimizers.items():
            cfg = group["optimizer"]
            assert isinstance(cfg, FusedAdamOptimizerConfig), name
            opt = cfg.setup([torch.nn.Parameter(torch.zeros(4, 3))])
            assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["fused"] is True, name


def test_fused_adam_follows_the_loop_and_keeps_its_state_keys():
    """Same trajectory as torch's per-tensor Adam to float32 rounding over 50 steps (lr, eps of means)."""
    torch.manual_seed(0)
    init = torch.randn(500, 3)
    grads = [torch.randn(500, 3) for _ in range(50)]
    out = []
    for cfg in (FusedAdamOptimizerConfig(lr=1.6e-4, eps=1e-15), FusedAdamOptimizerConfig(lr=1.6e-4, eps=1e-15, fused=None)):
        p = torch.nn.Parameter(init.clone())
        opt = cfg.setup([p])
        for g in grads:
            p.grad = g.clone()
            opt.step()
        out.append((p.detach(), opt.state[p]))
    (a, sa), (b, sb) = out
    assert not torch.equal(init, a)
    assert torch.allclose(a, b, rtol=0, atol=1e-6)
    # gsplat's densification edits these state entries when it splits, duplicates and prunes Gaussians
    assert set(sa) == set(sb) == {"step", "exp_avg", "exp_avg_sq"}
    assert float(sa["step"]) == float(sb["step"]) == 50
