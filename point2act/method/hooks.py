"""The only import-time effects of point2act, run once when :mod:`point2act.method` is imported.

- ``torch.load`` safe globals for nerfstudio checkpoints (:func:`point2act.checkpoints.register_safe_globals`):
  ``ns-viewer``, ``ns-eval`` and ``ns-export`` read a point2act ``config.yml``, which imports this package.
- In nerfstudio's ``ns-*`` programs, a ``sys.excepthook`` that prints a
  :class:`~point2act.errors.Point2ActError` as one paragraph (:mod:`point2act.method.excepthook`).
"""

from __future__ import annotations

from point2act.checkpoints import register_safe_globals
from point2act.method.excepthook import install_for_nerfstudio

register_safe_globals()
install_for_nerfstudio()
