"""nerfstudio's trainer imported inside :func:`point2act._nerfstudio.light_import` (a new process each): no
import of torch.compile (``torch._dynamo``, ``torch._inductor``) or of the ``torchvision`` package, splatfacto's ``get_viewmat`` eager and equal to what the
compiled one computes (nerfstudio's own function body), and everything as it was after the block."""

from __future__ import annotations

import subprocess
import sys

_LIGHT = r"""
import sys
import torch
compile_ = torch.compile
from point2act._nerfstudio import light_import
with light_import():
    import nerfstudio.engine.trainer
    from nerfstudio.models import splatfacto
heavy = sorted(m for m in ("torch._dynamo", "torch._inductor", "torchvision") if m in sys.modules)
assert not heavy, f"imported {heavy}"
assert "torchvision.utils" in sys.modules  # what base_pipeline imports, loaded alone
assert torch.compile is compile_
c2w = torch.tensor([[[0.0, -1.0, 0.0, 0.3], [1.0, 0.0, 0.0, -0.2], [0.0, 0.0, 1.0, 1.5]]])
vm = splatfacto.get_viewmat(c2w)
R = c2w[:, :3, :3] * torch.tensor([[[1.0, -1.0, -1.0]]])
expect = torch.eye(4)[None].clone()
expect[:, :3, :3] = R.transpose(1, 2)
expect[:, :3, 3:] = -R.transpose(1, 2) @ c2w[:, :3, 3:]
assert torch.equal(vm, expect), (vm, expect)
import torchvision  # the package's own init, after the block
assert torchvision.utils is sys.modules["torchvision.utils"]
assert hasattr(torchvision.ops, "nms") and torchvision.__version__
print("ok")
"""

_BARE_ATTRIBUTE = r"""
import sys
from point2act._nerfstudio import light_import
with light_import():
    import torchvision
    assert not hasattr(torchvision, "__file__")  # a dunder the bare package lacks does not import it
    ops = torchvision.ops  # anything else does: the real package
    assert sys.modules["torchvision"] is not torchvision and hasattr(ops, "nms")
print("ok")
"""


def _run(code: str) -> None:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stdout[-2000:] + p.stderr[-3000:]


def test_trainer_imports_without_dynamo_or_torchvision_package():
    _run(_LIGHT)


def test_other_uses_of_the_bare_package_get_the_real_one():
    _run(_BARE_ATTRIBUTE)
