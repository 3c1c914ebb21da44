"""open3d without its plotly viewer.

``import open3d`` always imports ``open3d.visualization.draw_plotly``, which imports plotly and dash: about
0.4 s of a new process's start (``python -X importtime -c "import open3d"``), for a viewer point2act never
opens. :func:`load` imports open3d with a stand-in for that one module; its three functions import the real
one on first call, so ``open3d.visualization.draw_plotly(...)`` still works. Every point2act module that needs
open3d (TSDF fusion, normals, DBSCAN, ray casting, primitives) imports it through :func:`load`.

Check: ``python -X importtime -c "from point2act._open3d import load; load()" 2>&1 | grep -c dash`` prints 0;
``tests/test_open3d_light.py``.

A capture's point cloud is a PLY that nerfstudio's dataparsers read with ``open3d.io.read_point_cloud`` (importing
open3d, 0.6 s of a training's setup, for one file). :func:`read_ply_cloud` reads its vertices with plyfile instead,
as open3d gives them (positions as float64, colours ``value / 255.0``), and inside :func:`ply_reader` the module
``open3d`` is a stand-in whose ``io.read_point_cloud`` is that reader; a file it does not read (not a PLY of
``x, y, z`` vertices with optional ``uchar`` colours) and any other use of the stand-in import the real open3d.
Check: ``tests/test_open3d_light.py`` compares the clouds with open3d's.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types

__all__ = ["load", "ply_reader", "read_ply_cloud"]

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
    mod = sys.modules.get("open3d")
    if mod is not None and not getattr(mod, "__point2act_stand_in__", False):
        return mod
    from point2act._stand_in import installed

    sys.modules.pop("open3d", None)  # ply_reader's stand-in: the real module from here on
    plotly = types.ModuleType(_PLOTLY)
    plotly.__point2act_stand_in__ = True
    for name in _ENTRIES:
        setattr(plotly, name, _entry(name))
    with installed(plotly):  # an explicit import of the module after this gets the real one
        import open3d
    return open3d


class PlyCloud:
    """A point cloud as ``open3d.io.read_point_cloud`` gives nerfstudio's parsers: ``points`` [M, 3] float64 and
    ``colors`` [M, 3] float64 in [0, 1] (``uchar / 255.0``; [0, 3] without colours)."""

    def __init__(self, points, colors):
        self.points = points
        self.colors = colors

    def has_points(self) -> bool:
        return len(self.points) > 0

    def has_colors(self) -> bool:
        return len(self.colors) > 0


def read_ply_cloud(path) -> PlyCloud | None:
    """The vertices of a PLY file at ``path`` as open3d reads them (:class:`PlyCloud`), with plyfile; None where the
    file is not a PLY whose vertices have numeric ``x, y, z`` and either no colour or ``uchar`` ``red, green, blue``
    (open3d's reader then)."""
    import numpy as np

    try:
        from plyfile import PlyData

        with open(path, "rb") as f:
            ply = PlyData.read(f)
        vertex = ply["vertex"].data
    except Exception:  # not a PLY, or no vertex element: open3d's reader says what
        return None
    names = vertex.dtype.names or ()
    if not {"x", "y", "z"} <= set(names) or any(vertex.dtype[k].kind not in "fiu" for k in "xyz"):
        return None
    points = np.stack([np.asarray(vertex[k], dtype=np.float64) for k in "xyz"], 1)
    rgb = ("red", "green", "blue")
    if not set(rgb) & set(names):
        return PlyCloud(points, np.zeros((0, 3)))
    if not set(rgb) <= set(names) or any(vertex.dtype[k] != np.uint8 for k in rgb):
        return None
    return PlyCloud(points, np.stack([vertex[k].astype(np.float64) / 255.0 for k in rgb], 1))


def _read_point_cloud(filename, *args, **kwargs):
    """``open3d.io.read_point_cloud``: :func:`read_ply_cloud` where it reads the file, else open3d's."""
    cloud = read_ply_cloud(filename) if not args and not kwargs else None
    return cloud if cloud is not None else load().io.read_point_cloud(filename, *args, **kwargs)


@contextlib.contextmanager
def ply_reader():
    """In this block ``import open3d`` gives a stand-in whose ``io.read_point_cloud`` reads PLY clouds with plyfile
    (module docstring); where open3d is imported already, the block changes nothing."""
    from point2act._stand_in import installed, stand_in

    if "open3d" in sys.modules:
        yield
        return
    with installed(stand_in("open3d", load, io=types.SimpleNamespace(read_point_cloud=_read_point_cloud))):
        yield
