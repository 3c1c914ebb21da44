"""The only import-time effects of point2act, run once when :mod:`point2act.method` is imported.

- ``torch.load`` safe globals for nerfstudio checkpoints (:func:`point2act.checkpoints.register_safe_globals`):
  ``ns-viewer``, ``ns-eval`` and ``ns-export`` read a point2act ``config.yml``, which imports this package.
- In nerfstudio's ``ns-*`` programs, a ``sys.excepthook`` that prints a
  :class:`~point2act.errors.Point2ActError` as one paragraph (:mod:`point2act.method.excepthook`).
- nerfstudio's placeholder configs of external methods not installed (``ExternalMethodDummyTrainerConfig``) ask
  whether their caller is ``get_external_methods`` with one frame lookup (``sys._getframe``) instead of
  ``inspect.stack()``, which reads the source lines of every frame: 26 placeholders, 2.4 s of an ``ns-train``
  start (:func:`light_external_methods`). Here only where nerfstudio's registry module is loaded already, as
  ``ns-train`` loads it before it imports point2act (a process that reads a run without nerfstudio keeps it
  unloaded); point2act's own loads of nerfstudio's registry call it first (:func:`point2act.method.run_layer.load_run`,
  :func:`point2act.method.train.registered_config`). The same answer: a placeholder built by ``get_external_methods``
  returns, one built from the command line offers the install.
"""

from __future__ import annotations

import sys

from point2act.checkpoints import register_safe_globals
from point2act.method.excepthook import install_for_nerfstudio



def light_external_methods() -> None:
    """nerfstudio's ``ExternalMethodDummyTrainerConfig.__post_init__`` with ``inspect.stack()[2].function`` read
    as ``sys._getframe(2).f_code.co_name`` (module docstring); nothing where nerfstudio has no such class. Imports
    ``nerfstudio.configs.external_methods``: call it where nerfstudio's registry is about to be loaded."""
    try:
        from nerfstudio.configs import external_methods as em
    except Exception:  # pragma: no cover - nerfstudio absent or another layout
        return
    cls = getattr(em, "ExternalMethodDummyTrainerConfig", None)
    original = getattr(cls, "__post_init__", None)
    if original is None or getattr(original, "_point2act", False):
        return

    def __post_init__(self):  # frames: 0 this, 1 the dataclass __init__, 2 its caller (as inspect.stack()[2])
        if sys._getframe(2).f_code.co_name == "get_external_methods":
            return
        original(self)

    __post_init__._point2act = True
    __post_init__.__doc__ = original.__doc__
    cls.__post_init__ = __post_init__


register_safe_globals()
install_for_nerfstudio()
if "nerfstudio.configs.external_methods" in sys.modules:  # ns-train: its registry is being built
    light_external_methods()
