"""open3d without its plotly viewer.

``import open3d`` always imports ``open3d.visualization.draw_plotly``, which imports plotly and dash: about
0.4 s of a new process's start (``python -X importtime -c "import open3d"``), for a viewer point2act never
opens. :func:`load` imports open3d with a stand-in for that one module; its three functions import the real
one on first call, so ``open3d.visualization.draw_plotly(...)`` still works. Every point2act module that needs
open3d (TSDF fusion, normals, DBSCAN, ray casting, primitives) imports it through :func:`load`.

Check: ``python -X importtime -c "from point2act._open3d import load; load()" 2>&1 | grep -c dash`` prints 0;
``tests/test_open3d_light.py``.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["load"]

_PLOTLY = "open3d.visualization.draw_plotly"
_ENTRIES = ("get_plotly_fig", "draw_plotly", "draw_plotly_server")


def _real_plotly():
    """The real ``draw_plotly`` module (imported on first use; plotly and dash with it)."""
    mod = sys.modules.get(_PLOTLY)
    if mod is None or getattr(mod, "__point2act_stand_in__", False):
        sys.modules.pop(_PLOTLY, None)
        mod = importlib.import_module(_PLOTLY)
    return mod


def _entry(name: str):
    def call(*args, **kwargs):
        return getattr(_real_plotly(), name)(*args, **kwargs)

    call.__name__ = name
    call.__doc__ = f"open3d's ``{name}``, imported with plotly and dash on first call."
    return call


def load() -> types.ModuleType:
    """The ``open3d`` module, imported without plotly and dash when it is not imported yet."""
    if "open3d" in sys.modules:
        return sys.modules["open3d"]
    stand_in = types.ModuleType(_PLOTLY)
    stand_in.__point2act_stand_in__ = True
    for name in _ENTRIES:
        setattr(stand_in, name, _entry(name))
    sys.modules[_PLOTLY] = stand_in
    try:
        import open3d
    finally:
        if sys.modules.get(_PLOTLY) is stand_in:
            del sys.modules[_PLOTLY]  # an explicit import of the module later gets the real one
    return open3d
