"""Stand-in modules: a module put in ``sys.modules`` for one block, in place of one that is slow to import, whose
missing attributes are the real module's.

point2act's light imports (:mod:`point2act._nerfstudio`: torchvision's package without its ``__init__``;
:mod:`point2act._open3d`: a PLY reader in place of open3d, and open3d's plotly viewer while open3d imports) each put
a stand-in under the real module's name while a library's import or call runs, so that the library finds it. :func:`stand_in` makes one: ``attrs`` are its own
attributes, anything else imports the real module (PEP 562 ``__getattr__``; dunders are missing, since
``inspect`` and others probe every module for ``__file__``). :func:`installed` keeps it in ``sys.modules`` for
the block: at the block's end it is removed, unless the real module replaced it meanwhile.

Check: ``tests/test_light_nerfstudio.py``, ``tests/test_open3d_light.py``.
"""

from __future__ import annotations

import contextlib
import sys
import types
from typing import Any, Callable, Iterator

__all__ = ["installed", "stand_in"]


def stand_in(name: str, real: Callable[[], types.ModuleType], **attrs: Any) -> types.ModuleType:
    """A module named ``name`` holding ``attrs``; its other attributes are those of ``real()``, the real module."""
    module = types.ModuleType(name)
    module.__point2act_stand_in__ = True
    for key, value in attrs.items():
        setattr(module, key, value)

    def missing(attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return getattr(real(), attr)

    module.__getattr__ = missing
    return module


@contextlib.contextmanager
def installed(module: types.ModuleType) -> Iterator[types.ModuleType]:
    """``module`` as ``sys.modules[module.__name__]`` in this block (removed at its end unless replaced)."""
    name = module.__name__
    sys.modules[name] = module
    try:
        yield module
    finally:
        if sys.modules.get(name) is module:
            del sys.modules[name]
