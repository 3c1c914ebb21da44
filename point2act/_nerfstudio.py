"""nerfstudio's trainer imported without torch.compile, torchvision, tensorly, requests, matplotlib or scripting.

Five of nerfstudio's module-level statements import far more than a training process uses:

* ``nerfstudio/models/splatfacto.py`` decorates its ``get_viewmat`` with ``torch.compile``, which imports the
  compiler's backend (``torch._inductor``) for a function of a few tensor ops that point2act replaces on the CPU
  anyway (:func:`point2act.method.compat.cpu_compat`);
* ``nerfstudio/pipelines/base_pipeline.py`` imports ``torchvision.utils`` (``save_image``, for evaluation images
  written to disk), and importing it first runs torchvision's package ``__init__``, which imports its models,
  datasets and ops;
* ``nerfstudio/models/splatfacto.py`` imports its bilateral grid (``lib_bilagrid``: four names), whose module
  imports tensorly and with it ``scipy.optimize`` and ``scipy.linalg`` (0.35 s), for ``use_bilateral_grid``, off in
  point2act;
* ``nerfstudio/process_data/colmap_utils.py`` (imported by every dataparser's config) imports ``requests`` (0.16 s),
  to download COLMAP's vocabulary tree;
* ``nerfstudio/utils/colormaps.py`` imports ``matplotlib`` (0.07 s), for its colormaps.

What is left out is torch.compile's frontend and backend (``torch._dynamo``, ``torch._inductor`` and what they
import: 1.1 s), torchvision's package (0.3 s) and the three libraries above (0.58 s). torch.optim would import ``torch._dynamo`` when the first
optimizer is built, as it marks its methods not to be traced; the method's optimizer
(:class:`point2act.method.schedule.FusedAdam`) calls the functions under those marks, so a training process
never imports it.

Inside :func:`light_import`, ``torch.compile`` returns the function it is given (eager, the same math), and
``torch.jit.script`` scripts a plain function at its first call (``camera_utils`` scripts two fisheye functions
at import: 0.1 s);
``torchvision``, ``requests`` and ``matplotlib`` are bare packages (their path, no ``__init__`` run), so ``import
torchvision.utils`` loads that module alone, and any other use of a bare package (an attribute, ``from torchvision
import ops``) imports the real package then; ``lib_bilagrid`` is a module holding its four names as functions
that import the real module when called (which sets tensorly's backend as the module does). After the block all
are as they were: ``torch.compile`` is torch's, and a later ``import torchvision`` runs the package's own init,
which takes the loaded ``torchvision.utils`` as its ``utils``. A module that holds a stand-in (colmap_utils'
``requests``) reaches the real module through it. Nothing changes where nerfstudio was imported before
(``ns-train`` imports it before any plugin).

Check: ``tests/test_light_nerfstudio.py``; ``python -X importtime -c "from point2act._nerfstudio import
light_import; exec('with light_import(): import nerfstudio.engine.trainer')" 2>&1 | grep -cE
"_dynamo|tensorly|requests|matplotlib"`` prints 0.

At run time, nerfstudio's ``TensorDataclass`` (every ``Cameras``) calls ``torch.broadcast_shapes``, whose first
call imports ``torch.fx.experimental.symbolic_shapes`` and with it sympy (0.55 s of a training process's setup),
for shapes of plain ints. Inside :func:`int_broadcast_shapes` (the trainer's setup and training,
:class:`point2act.method.trainer.Point2ActTrainer`) ``torch.broadcast_shapes`` broadcasts shapes of plain ints
itself, to the same ``torch.Size``; any other argument, and any shapes that do not broadcast (for torch's error),
go to torch's function.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types

__all__ = ["flush_tensorboard", "int_broadcast_shapes", "light_import"]


def _eager(model=None, **_options):
    """``torch.compile``'s stand-in: the function itself (as a decorator factory too: ``@torch.compile()``)."""
    return model if model is not None else (lambda fn: fn)


def _script_when_called(script):
    """``torch.jit.script``'s stand-in: a plain function is scripted by ``script`` (torch's) at its first call, its
    resolution of names being its globals and closure either way; anything else is scripted now."""
    import functools
    import inspect

    def deferred(obj=None, *args, **kwargs):
        if args or kwargs or not inspect.isfunction(obj):
            return script(obj, *args, **kwargs)
        compiled = []

        @functools.wraps(obj)
        def call(*a, **k):
            if not compiled:
                compiled.append(script(obj))
            return compiled[0](*a, **k)

        return call

    return deferred


_BARE_PACKAGES = ("torchvision", "requests", "matplotlib")
"""Packages nerfstudio imports (``import torchvision.utils``, ``import requests``, ``import matplotlib``) and a
training process does not use: bare inside :func:`light_import`."""

_DEFERRED_NAMES = {"nerfstudio.model_components.lib_bilagrid": ("BilateralGrid", "color_correct", "slice",
                                                                 "total_variation_loss")}
"""Modules nerfstudio imports names from (``from ... import BilateralGrid, ...``), each name a class or function
called only where its feature is on: inside :func:`light_import` the module holds functions that call the real
ones."""


def _real(stand: types.ModuleType) -> types.ModuleType:
    """The real module of the stand-in ``stand`` (imported now, once)."""
    name = stand.__name__
    if sys.modules.get(name) is stand:
        del sys.modules[name]
    return importlib.import_module(name)


def _bare(name: str):
    """A bare package ``name`` (its path, no ``__init__`` run), None where it is loaded or is no package."""
    from point2act._stand_in import stand_in

    spec = None if name in sys.modules else importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        return None
    return (bare := stand_in(name, lambda: _real(bare), __path__=list(spec.submodule_search_locations)))


def _deferred(name: str, names) -> types.ModuleType | None:
    """A module ``name`` whose ``names`` are functions that call the real module's (imported at the first call),
    None where it is loaded."""
    from point2act._stand_in import stand_in

    if name in sys.modules:
        return None

    def calls(attr: str):
        def call(*args, **kwargs):
            return getattr(_real(stand), attr)(*args, **kwargs)

        call.__name__ = call.__qualname__ = attr
        return call

    return (stand := stand_in(name, lambda: _real(stand), **{attr: calls(attr) for attr in names}))


@contextlib.contextmanager
def _stand_ins():
    """:data:`_BARE_PACKAGES` bare and :data:`_DEFERRED_NAMES` deferred, in ``sys.modules`` for the block."""
    from point2act._stand_in import installed

    with contextlib.ExitStack() as stack:
        for module in [_bare(n) for n in _BARE_PACKAGES] + [_deferred(n, a) for n, a in _DEFERRED_NAMES.items()]:
            if module is not None:
                stack.enter_context(installed(module))
        yield


@contextlib.contextmanager
def light_import():
    """Import nerfstudio's modules in this block without torch.compile's, torchvision's, tensorly's, requests' and
    matplotlib's imports, and outside the garbage collector (:func:`uncollected_imports`)."""
    with uncollected_imports():
        import torch

        compile_, script = torch.compile, torch.jit.script
        torch.compile, torch.jit.script = _eager, _script_when_called(script)
        try:
            with _stand_ins():
                yield
        finally:
            torch.compile, torch.jit.script = compile_, script


@contextlib.contextmanager
def uncollected_imports():
    """The garbage collector paused in this block, and every object alive at its end frozen (``gc.freeze``): the
    modules it imports live as long as the process, and each full collection while they are imported walks every
    object imported so far (torch and nerfstudio's trainer: four collections, 0.24 s of the demo's imports), as
    each later one would. A block inside another changes nothing; the collector runs again after the outermost.
    Reference cycles made garbage in the block are left to the operating system."""
    import gc

    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _broadcast_ints(torch_broadcast_shapes):
    """``torch.broadcast_shapes`` for shapes of plain ints (an int is a shape of one dimension), else torch's."""
    import torch

    def broadcast_shapes(*shapes):
        out: list = []
        for shape in shapes:
            dims = (shape,) if type(shape) is int else shape
            if not isinstance(dims, (tuple, list)) or any(type(d) is not int or d < 0 for d in dims):
                return torch_broadcast_shapes(*shapes)
            if len(dims) > len(out):
                out[:0] = [1] * (len(dims) - len(out))
            for k, d in enumerate(dims, start=len(out) - len(dims)):
                if d != 1 and d != out[k]:
                    if out[k] != 1:
                        return torch_broadcast_shapes(*shapes)  # torch's error
                    out[k] = d
        return torch.Size(out)

    broadcast_shapes.__doc__ = torch_broadcast_shapes.__doc__
    return broadcast_shapes


@contextlib.contextmanager
def int_broadcast_shapes():
    """In this block ``torch.broadcast_shapes`` takes shapes of plain ints without importing sympy (see the
    module's docstring); nested blocks and other threads see the same function, restored by the outermost."""
    import torch

    current = torch.broadcast_shapes
    if getattr(current, "_point2act", False):
        yield
        return
    mine = _broadcast_ints(current)
    mine._point2act = True
    torch.broadcast_shapes = mine
    try:
        yield
    finally:
        if torch.broadcast_shapes is mine:
            torch.broadcast_shapes = current


def flush_tensorboard() -> None:
    """Flush nerfstudio's TensorBoard writers (its ``EVENT_WRITERS``), if nerfstudio's writer module is loaded: it
    never closes them, and their last events wait in a queue that an exit without module teardown would drop."""
    writer = sys.modules.get("nerfstudio.utils.writer")
    for w in getattr(writer, "EVENT_WRITERS", ()):
        if getattr(w, "tb_writer", None) is not None:
            w.tb_writer.flush()
