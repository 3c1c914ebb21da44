"""The method's optimizers: torch's fused Adam for every parameter group, with the loop's numerics."""

from __future__ import annotations

import pytest
import torch

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


def test_the_methods_optimizers_are_splatfactos_fused():
    """Every group of splatfacto's has the method's fused Adam with splatfacto's settings and splatfacto's
    scheduler (the means': one that follows the run's length, with splatfacto's final lr)."""
    from nerfstudio.configs.method_configs import method_configs  # the registry: imported here, not at collection

    from point2act.method.config import RunLengthDecaySchedulerConfig

    for method in (point2act_method, point2act_big_method):
        mine = method.config.optimizers
        for name, group in method_configs["splatfacto"].optimizers.items():
            opt, ref = mine[name]["optimizer"], group["optimizer"]
            assert (opt.lr, opt.eps, opt.max_norm, opt.weight_decay) == (ref.lr, ref.eps, ref.max_norm,
                                                                         ref.weight_decay), name
            if name == "means":
                sched = mine[name]["scheduler"]
                assert isinstance(sched, RunLengthDecaySchedulerConfig)
                assert sched.lr_final == group["scheduler"].lr_final
                assert sched.follow_run_length == (method is point2act_method)
            else:
                assert mine[name]["scheduler"] == group["scheduler"], name


def test_registered_config_is_what_ns_train_registers():
    from nerfstudio.configs.method_configs import all_methods

    from point2act.method.train import registered_config

    for name in ("point2act", "point2act-big"):
        mine = registered_config(name)
        assert mine == all_methods[name] and mine is not all_methods[name]


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


def test_fused_adam_lays_a_strided_gradient_out_as_its_parameter():
    """gsplat's backward gives splatfacto's SH coefficients slices of one gradient: torch's fused kernel refuses
    them on CUDA and misreads them on the CPU; the method's Adam steps as the per-tensor loop does."""
    torch.manual_seed(0)
    init = torch.randn(300, 3, 3)
    grads = [torch.randn(300, 4, 3)[:, 1:, :] for _ in range(20)]  # [300, 3, 3] views with a row stride of 12
    assert not grads[0].is_contiguous()
    mine, ref = torch.nn.Parameter(init.clone()), torch.nn.Parameter(init.clone())
    opt = FusedAdamOptimizerConfig(lr=1e-2, eps=1e-15).setup([mine])
    loop = torch.optim.Adam([ref], lr=1e-2, eps=1e-15, foreach=False)
    for g in grads:
        mine.grad, ref.grad = g, g.contiguous()
        opt.step()
        loop.step()
    assert opt.param_groups[0]["fused"] is True and mine.grad.is_contiguous()
    torch.testing.assert_close(mine.detach(), ref.detach(), rtol=0, atol=1e-6)


def _adam_run(make, hooks=None):
    """Twelve steps of an Adam from ``make(groups)`` on fixed gradients: two groups (one with weight decay), a
    parameter added at step 4, a state_dict round trip at step 8, zero_grad after every step. ``hooks``: a list
    the optimizer's step pre- and post-hooks append to."""
    torch.manual_seed(0)
    inits = [torch.randn(200, 3), torch.randn(50), torch.randn(7, 2)]
    grads = [[torch.randn_like(x) for x in inits] for _ in range(12)]
    ps = [torch.nn.Parameter(x.clone()) for x in inits]
    opt = make([{"params": ps[:1]}, {"params": ps[1:2], "weight_decay": 0.1}])
    if hooks is not None:
        opt.register_step_pre_hook(lambda *a: hooks.append("pre"))
        opt.register_step_post_hook(lambda *a: hooks.append("post"))
    for k, gs in enumerate(grads):
        if k == 4:
            opt.add_param_group({"params": ps[2:], "lr": 3e-3})
        if k == 8:
            opt.load_state_dict(opt.state_dict())
        for p, g in zip(ps, gs):
            p.grad = g.clone()
        opt.step()
        opt.zero_grad()
    return ps, opt, inits


def _same_adam(mine, opt, ref, ref_opt, inits):
    assert not torch.equal(mine[0].detach(), inits[0])
    for a, b in zip(mine, ref):
        assert torch.equal(a.detach(), b.detach()) and a.grad is None
        assert opt.state[a].keys() == ref_opt.state[b].keys()
        for key in opt.state[a]:
            assert torch.equal(opt.state[a][key], ref_opt.state[b][key]), key


def test_fused_adam_is_torchs_fused_adam_bit_for_bit(monkeypatch):
    """The method's Adam, built by its config, gives the same bits as ``torch.optim.Adam(fused=True)``, step for
    step, through zero_grad and a state_dict round trip, with two groups (one with weight decay) and a
    parameter added later; its plain fused step never goes through torch's ``Adam.step``."""
    from point2act.method import schedule

    def no_torch_step(*a, **k):
        raise AssertionError("the plain fused step went through torch's Adam.step")

    monkeypatch.setattr(schedule, "_ADAM_STEP", no_torch_step)
    mine, opt, inits = _adam_run(lambda groups: FusedAdamOptimizerConfig(lr=1e-2, eps=1e-15).setup(groups))
    ref, ref_opt, _ = _adam_run(lambda groups: torch.optim.Adam(groups, lr=1e-2, eps=1e-15, fused=True))
    _same_adam(mine, opt, ref, ref_opt, inits)


@pytest.mark.parametrize("options", [{"maximize": True}, {"decoupled_weight_decay": True}, {"amsgrad": True},
                                     {"fused": None}, {"hooks": True}])
def test_fused_adam_is_torchs_adam_bit_for_bit_with_every_option(options):
    """With each option torch's Adam takes (the fused step with maximize or decoupled weight decay; torch's own
    step for amsgrad, the per-tensor loop, or step hooks, which run in order around every step), the method's
    Adam gives torch's bits."""
    from point2act.method.schedule import FusedAdam

    options = dict(options)
    hooked = options.pop("hooks", False)
    kw = {"lr": 1e-2, "eps": 1e-15, "fused": True, **options}
    calls, ref_calls = ([], []) if hooked else (None, None)
    mine, opt, inits = _adam_run(lambda groups: FusedAdam(groups, **kw), calls)
    ref, ref_opt, _ = _adam_run(lambda groups: torch.optim.Adam(groups, **kw), ref_calls)
    _same_adam(mine, opt, ref, ref_opt, inits)
    if hooked:
        assert calls == ref_calls == ["pre", "post"] * 12


def test_training_with_the_method_adam_never_imports_the_compiler():
    """``torch._dynamo`` (1.1 s of import) stays out of a process that imports nerfstudio's trainer by
    ``light_import`` and builds, steps, saves and loads the method's optimizer; the same with torch's own Adam
    imports it (what this checks is not vacuous)."""
    import subprocess
    import sys

    code = r"""
import sys
from point2act._nerfstudio import light_import
with light_import():
    import nerfstudio.engine.trainer
from point2act.method.schedule import FusedAdamOptimizerConfig
import torch
p = torch.nn.Parameter(torch.zeros(8))
opt = FusedAdamOptimizerConfig(lr=1e-2).setup([p]) if sys.argv[1] == "mine" else torch.optim.Adam([p], fused=True)
p.grad = torch.ones(8)
opt.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())
print("torch._dynamo" in sys.modules)
"""
    out = {which: subprocess.run([sys.executable, "-c", code, which], capture_output=True, text=True, timeout=300)
           for which in ("mine", "torch")}
    for which, p in out.items():
        assert p.returncode == 0, which + p.stderr[-3000:]
    assert out["mine"].stdout.split()[-1] == "False" and out["torch"].stdout.split()[-1] == "True"


def test_config_yml_loads_with_plain_yaml(tmp_path):
    """A run's config.yml loads with ``yaml.load`` in a fresh interpreter (as scripts and nerfstudio's tools read
    it): none of its classes live in point2act.method.config, whose import runs nerfstudio's method registry,
    which imports it back."""
    import subprocess
    import sys

    import yaml

    from point2act.method.train import registered_config

    path = tmp_path / "config.yml"
    path.write_text(yaml.dump(registered_config("point2act")))
    assert "point2act.method.config." not in path.read_text()
    code = ("import sys, yaml; c = yaml.load(open(sys.argv[1]).read(), Loader=yaml.Loader); "
            "print(type(c.optimizers['means']['optimizer']).__name__, c.optimizers['means']['optimizer'].fused)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["FusedAdamOptimizerConfig", "True"]


def test_zero_grad_drops_or_zeroes_every_gradient():
    from point2act.method.schedule import FusedAdam

    ps = [torch.nn.Parameter(torch.randn(5)), torch.nn.Parameter(torch.randn(2, 3))]
    opt = FusedAdam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.1}], lr=1e-2, fused=True)
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
