"""nerfstudio's trainer imported without torch.compile's and torchvision's imports.

Two of nerfstudio's module-level statements import far more than they use, on every process that trains:

* ``nerfstudio/models/splatfacto.py`` decorates its ``get_viewmat`` with ``torch.compile``, which imports the
  compiler's backend (``torch._inductor``) for a function of a few tensor ops that point2act replaces on the CPU
  anyway (:func:`point2act.method.compat.cpu_compat`);
* ``nerfstudio/pipelines/base_pipeline.py`` imports ``torchvision.utils`` (``save_image``, for evaluation images
  written to disk), and importing it first runs torchvision's package ``__init__``, which imports its models,
  datasets and ops.

What is left out is torch.compile's frontend and backend (``torch._dynamo``, ``torch._inductor`` and what they
import: 1.1 s) and torchvision's package (0.3 s). torch.optim would import ``torch._dynamo`` when the first
optimizer is built, as it marks its methods not to be traced; the method's optimizer
(:class:`point2act.method.schedule.FusedAdam`) calls the functions under those marks, so a training process
never imports it.

Inside :func:`light_import`, ``torch.compile`` returns the function it is given (eager, the same math) and
``torchvision`` is a bare package (its path, no ``__init__`` run), so ``import torchvision.utils`` loads that
module alone; any other use of the bare package (an attribute, ``from torchvision import ops``) imports the real
package then. After the block both are as they were: ``torch.compile`` is torch's, and a later ``import
torchvision`` runs the package's own init, which takes the loaded ``torchvision.utils`` as its ``utils``.
Nothing changes where nerfstudio was imported before (``ns-train`` imports it before any plugin).

Check: ``tests/test_light_nerfstudio.py``; ``python -X importtime -c "from point2act._nerfstudio import
light_import; exec('with light_import(): import nerfstudio.engine.trainer')" 2>&1 | grep -c _dynamo`` prints 0.

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


def _real_torchvision(bare: types.ModuleType) -> types.ModuleType:
    if sys.modules.get("torchvision") is bare:
        del sys.modules["torchvision"]
    return importlib.import_module("torchvision")


@contextlib.contextmanager
def _bare_torchvision():
    from point2act._stand_in import installed, stand_in

    spec = None if "torchvision" in sys.modules else importlib.util.find_spec("torchvision")
    if spec is None or spec.submodule_search_locations is None:
        yield
        return
    bare = stand_in("torchvision", lambda: _real_torchvision(bare), __path__=list(spec.submodule_search_locations))
    with installed(bare):
        yield


@contextlib.contextmanager
def light_import():
    """Import nerfstudio's modules in this block without torch.compile's and torchvision's imports."""
    import torch

    compile_ = torch.compile
    torch.compile = _eager
    try:
        with _bare_torchvision():
            yield
    finally:
        torch.compile = compile_


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
