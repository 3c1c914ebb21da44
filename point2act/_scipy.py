"""scipy's k-d tree without ``scipy.spatial``'s package init.

``from scipy.spatial import cKDTree`` runs ``scipy/spatial/__init__.py``, which imports the whole subpackage:
Qhull (with ``scipy.linalg``), ``distance`` (with ``scipy.special``, whose import rewrites its functions'
docstrings), ``transform`` (with ``scipy.constants``) and more: about 0.2 s of a new process's start
(``python -X importtime -c "from scipy.spatial import cKDTree"``), where the k-d tree itself is one compiled
module, ``scipy.spatial._ckdtree``, which needs numpy and ``scipy.sparse`` only. :func:`cKDTree` loads that module
from its file under its own name when ``scipy.spatial`` is not imported yet, and builds the tree with it: the
same class ``scipy.spatial.cKDTree`` is (a later ``import scipy.spatial`` finds the module loaded and exports
it). Where that module cannot be loaded so (another scipy layout), the package's own import runs.

Every point2act module that builds a k-d tree goes through :func:`cKDTree`: ``point2act query`` and
``point2act export`` import neither ``scipy.spatial`` nor what it imports.

Check: ``tests/test_scipy_light.py``; ``python -X importtime -c "from point2act._scipy import cKDTree;
cKDTree([[0.0, 0, 0]])" 2>&1 | grep -c "scipy.special"`` prints 0.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from pathlib import Path

__all__ = ["cKDTree", "kdtree_class"]

_MODULE = "scipy.spatial._ckdtree"
_LOCK = threading.Lock()  # one thread loads the module; another waits and takes it


def _load_alone(name: str):
    """The compiled module ``name`` of scipy loaded from its file, without running its package's ``__init__``;
    None where scipy has no such file."""
    import scipy

    folder = Path(scipy.__file__).resolve().parent.joinpath(*name.split(".")[1:-1])
    stem = name.rsplit(".", 1)[1]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            loader = importlib.machinery.ExtensionFileLoader(name, str(path))
            spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            sys.modules[name] = module  # once whole: another thread never finds it half made
            return module
    return None


def kdtree_class() -> type:
    """``scipy.spatial.cKDTree``, the class, imported without ``scipy.spatial``'s package init where it can be."""
    module = sys.modules.get(_MODULE)
    if module is None and "scipy.spatial" not in sys.modules:
        with _LOCK:
            module = sys.modules.get(_MODULE)
            if module is None:
                try:
                    module = _load_alone(_MODULE)
                except Exception:  # another scipy's layout: its own import below
                    module = None
    if module is None or not hasattr(module, "cKDTree"):
        from scipy.spatial import cKDTree as cls

        return cls
    return module.cKDTree


def cKDTree(data, *args, **kwargs):  # noqa: N802 - scipy's name
    """``scipy.spatial.cKDTree(data, ...)``: the same tree (:func:`kdtree_class`)."""
    return kdtree_class()(data, *args, **kwargs)
