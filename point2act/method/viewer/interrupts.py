"""Render interrupts in nerfstudio's viewer.

nerfstudio interrupts a render by raising ``IOChangeException`` from a ``sys.settrace`` hook, i.e. at
whatever Python line is running. Inside torch.compile (splatfacto's ``get_viewmat`` is compiled) dynamo
wraps it as ``InternalTorchDynamoError``, which nerfstudio's render loop does not catch: the render
thread dies. point2act renders with an eager view matrix on a CPU (:mod:`point2act.method.compat`) and,
on any device, :func:`surface_render_interrupts` turns an exception caused by the interrupt back into
``IOChangeException``.
"""

from __future__ import annotations

import contextlib


def _io_change_exception():
    try:
        from nerfstudio.viewer_legacy.server.viewer_utils import IOChangeException

        return IOChangeException
    except Exception:  # pragma: no cover
        return None


def caused_by_interrupt(exc: BaseException) -> bool:
    """Is nerfstudio's render interrupt (``IOChangeException``) this exception or in its chain?"""
    io_exc = _io_change_exception()
    if io_exc is None:
        return False
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, io_exc):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return "IOChangeException" in f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def surface_render_interrupts():
    """Re-raise an exception caused by the viewer's interrupt as ``IOChangeException``.

    nerfstudio's render loop catches only ``IOChangeException``; anything else ends the render
    thread and the viewer goes blank. Other exceptions pass through unchanged.
    """
    io_exc = _io_change_exception()
    try:
        yield
    except Exception as e:
        if io_exc is None or isinstance(e, io_exc) or not caused_by_interrupt(e):
            raise
        raise io_exc() from e
