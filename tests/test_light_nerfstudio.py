"""nerfstudio's trainer imported inside :func:`point2act._nerfstudio.light_import` (a new process each): no
import of torch.compile (``torch._dynamo``, ``torch._inductor``), of the ``torchvision``, ``requests`` and
``matplotlib`` packages or of tensorly (splatfacto's bilateral grid), the deferred ones real where used,
splatfacto's ``get_viewmat`` eager and equal to what the compiled one computes (nerfstudio's own function body),
and everything as it was after the block; nerfstudio's cameras built without sympy inside int_broadcast_shapes."""

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
def real(name):
    return name in sys.modules and not getattr(sys.modules[name], "__point2act_stand_in__", False)
heavy = sorted(m for m in ("torch._dynamo", "torch._inductor", "torchvision", "tensorly", "requests", "matplotlib",
                           "nerfstudio.model_components.lib_bilagrid") if real(m))
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


_DEFERRED = r"""
import sys
from point2act._nerfstudio import light_import
with light_import():
    from nerfstudio.models import splatfacto
    from nerfstudio.process_data import colmap_utils
    from nerfstudio.utils import colormaps
assert "tensorly" not in sys.modules
grid = splatfacto.BilateralGrid(2, grid_X=4, grid_Y=4, grid_W=2)  # the real class, imported by this call
from nerfstudio.model_components import lib_bilagrid
import tensorly
assert type(grid) is lib_bilagrid.BilateralGrid and grid.grids.shape == (2, 12, 2, 4, 4)
assert tensorly.get_backend() == "pytorch"  # what the real module's import sets
assert float(splatfacto.total_variation_loss(grid.grids)) == float(lib_bilagrid.total_variation_loss(grid.grids))
import torch
from nerfstudio.cameras import camera_utils
xyz, params = torch.rand(1, 5, 3) + torch.tensor([0.0, 0.0, 1.0]), torch.rand(1, 16) * 0.1 + 0.5
projected = camera_utils.fisheye624_project(xyz, params)  # scripted at this first call
scripted = torch.jit.script(camera_utils.fisheye624_project.__wrapped__)
assert isinstance(scripted, torch.jit.ScriptFunction) and torch.equal(projected, scripted(xyz, params))
import requests, matplotlib
assert colmap_utils.requests.get is requests.get and hasattr(requests, "__version__")
assert colormaps.matplotlib.colormaps is matplotlib.colormaps and "turbo" in matplotlib.colormaps
print("ok")
"""


def _run(code: str) -> None:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stdout[-2000:] + p.stderr[-3000:]


def test_trainer_imports_without_dynamo_or_torchvision_package():
    _run(_LIGHT)


def test_other_uses_of_the_bare_package_get_the_real_one():
    _run(_BARE_ATTRIBUTE)


def test_deferred_modules_are_the_real_ones_when_used():
    """splatfacto's bilateral grid (tensorly's pytorch backend set), colmap_utils' requests and colormaps'
    matplotlib, each left out of the import, are the real ones when a caller uses them after the block; a function
    scripted by ``torch.jit.script`` in the block is scripted at its first call, to what torch's script gives."""
    _run(_DEFERRED)


_CAMERAS = r"""
import sys
import torch
from point2act._nerfstudio import int_broadcast_shapes, light_import
with light_import():
    from nerfstudio.cameras.cameras import Cameras
def cameras(n):
    return Cameras(camera_to_worlds=torch.eye(4)[None, :3].repeat(n, 1, 1), fx=torch.full((n, 1), 100.0),
                   fy=100.0, cx=torch.full((n, 1), 32.0), cy=24.0, width=64, height=torch.full((n, 1), 48))
inside = sys.argv[1] == "inside"
if inside:
    with int_broadcast_shapes():
        cams = cameras(5)
        assert cams[2:4].shape == (2,) and cams.shape == (5,)
else:
    cams = cameras(5)
assert cams.shape == (5,) and type(cams.shape) is torch.Size
print("sympy" in sys.modules, "ok")
"""


def test_cameras_are_built_without_sympy_inside_int_broadcast_shapes():
    """nerfstudio's Cameras (a TensorDataclass) broadcast their fields' shapes: inside ``int_broadcast_shapes``
    that imports no sympy; torch's own ``broadcast_shapes`` does (what this checks is not vacuous)."""
    out = {}
    for where in ("inside", "outside"):
        p = subprocess.run([sys.executable, "-c", _CAMERAS, where], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stdout[-2000:] + p.stderr[-3000:]
        out[where] = p.stdout.split()[-2]
    assert out == {"inside": "False", "outside": "True"}


def test_int_broadcast_shapes_is_torchs_for_every_shape():
    """Random shapes of plain ints (ints, tuples, lists, torch.Size; zero and one dimensions; some that do not
    broadcast), and arguments that are not plain ints: the same result, type and error as torch's."""
    import random

    import torch

    from point2act._nerfstudio import int_broadcast_shapes

    torchs = torch.broadcast_shapes
    rng = random.Random(0)
    cases = [(), ((2, 3), (1.0, 3)), ((2, -1),), ((True, 3),), ((3,), None), ((2, 3), (4, 3))]
    for _ in range(3000):
        shapes = []
        for _ in range(rng.randint(1, 4)):
            dims = tuple(rng.choice([0, 1, 1, 2, 3]) for _ in range(rng.randint(0, 4)))
            shapes.append(rng.choice([dims, list(dims), torch.Size(dims), rng.choice([0, 1, 3])]))
        cases.append(tuple(shapes))

    def outcome(f, shapes):
        try:
            out = f(*shapes)
            return type(out), tuple(out)
        except Exception as e:  # noqa: BLE001  (the error is compared)
            return type(e), None

    with int_broadcast_shapes():
        mine = torch.broadcast_shapes
        with int_broadcast_shapes():  # nested: the same function, restored by the outermost block
            assert torch.broadcast_shapes is mine
        assert mine is not torchs and torch.broadcast_shapes is mine
        for shapes in cases:
            assert outcome(mine, shapes) == outcome(torchs, shapes), shapes
    assert torch.broadcast_shapes is torchs


def test_the_trainer_sets_up_and_trains_inside_int_broadcast_shapes(monkeypatch):
    import torch
    from nerfstudio.engine.trainer import Trainer

    from point2act.method.trainer import Point2ActTrainer

    seen = []
    monkeypatch.setattr(Trainer, "train", lambda self: seen.append(
        ("train", getattr(torch.broadcast_shapes, "_point2act", False))))
    monkeypatch.setattr(Point2ActTrainer, "_setup", lambda self, test_mode: seen.append(
        ("setup", getattr(torch.broadcast_shapes, "_point2act", False))))
    from types import SimpleNamespace

    trainer = Point2ActTrainer.__new__(Point2ActTrainer)
    trainer.config, trainer._start_step = SimpleNamespace(max_num_iterations=10), 0
    trainer.setup()
    trainer.train()
    assert seen == [("setup", True), ("train", True)] and not getattr(torch.broadcast_shapes, "_point2act", False)
    assert trainer.config.max_num_iterations == 10  # the run's length, restored after nerfstudio's loop


def test_the_method_imports_without_the_viewers_meshes_or_sympy():
    """A training process imports the method (config, model, its viewer panel): trimesh, which the panel needs
    only to draw, and sympy are not imported."""
    code = r"""
import sys
from point2act._nerfstudio import light_import
with light_import():
    import point2act.method.config
    import point2act.method.model
heavy = sorted(m for m in ("trimesh", "sympy") if m in sys.modules)
assert not heavy, f"imported {heavy}"
print("ok")
"""
    _run(code)


def test_uncollected_imports_pause_the_collector_then_freeze_what_they_made():
    """Inside the block the collector is off (an inner block leaves it off), after the outermost it is on again
    with the block's objects frozen; an error in the block still turns it back on; with the collector already off
    the block changes nothing."""
    import gc

    from point2act._nerfstudio import uncollected_imports

    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with uncollected_imports():
            assert not gc.isenabled()
            made = [[i] for i in range(1000)]  # tracked containers
            with uncollected_imports():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(made)
        try:
            with uncollected_imports():
                raise ValueError("a failed import")
        except ValueError:
            pass
        assert gc.isenabled()
        gc.disable()
        with uncollected_imports():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
