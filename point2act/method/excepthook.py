"""Known point2act errors in nerfstudio's own scripts (``ns-train point2act``, ``ns-viewer``, ...)
print one paragraph, not a traceback.

The ``point2act`` CLI catches :class:`~point2act.errors.Point2ActError` itself. nerfstudio's
scripts do not, so :func:`install` chains a ``sys.excepthook`` that prints
``point2act: error: <message>`` to stderr for a Point2ActError (the process still exits with
status 1) and hands everything else -- and everything when ``POINT2ACT_DEBUG=1`` -- to the hook
that was there before (Python's default traceback). The point2act method config installs it
when it is imported into an ``ns-*`` program. Standard library only.
"""

from __future__ import annotations

import os
import sys

__all__ = ["debug_enabled", "install", "install_for_nerfstudio", "point2act_excepthook"]

_PREVIOUS = None


def debug_enabled() -> bool:
    """``POINT2ACT_DEBUG`` set to anything but empty or 0: show tracebacks."""
    return os.environ.get("POINT2ACT_DEBUG", "") not in ("", "0")


def point2act_excepthook(exc_type, exc, tb) -> None:
    """Print a Point2ActError as one paragraph; delegate anything else to the previous hook."""
    from point2act.errors import Point2ActError

    previous = _PREVIOUS or sys.__excepthook__
    if isinstance(exc, Point2ActError) and not debug_enabled():
        try:
            sys.stdout.flush()
        except Exception:  # pragma: no cover
            pass
        sys.stderr.write(f"point2act: error: {exc}\n(set POINT2ACT_DEBUG=1 for the traceback)\n")
        sys.stderr.flush()
        return
    previous(exc_type, exc, tb)


def install() -> None:
    """Install :func:`point2act_excepthook` (once), keeping the current hook for other errors."""
    global _PREVIOUS
    if sys.excepthook is point2act_excepthook:
        return
    _PREVIOUS = sys.excepthook
    sys.excepthook = point2act_excepthook


def install_for_nerfstudio() -> None:
    """:func:`install` when running inside one of nerfstudio's ``ns-*`` programs."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if prog.startswith("ns-"):
        install()
