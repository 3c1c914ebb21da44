"""Atomic file writes: every JSON and tensor file point2act writes goes through :func:`atomic_write`.

The bytes go to a temporary file in the destination's folder (so the final ``os.replace`` is a
rename on one filesystem), are flushed and fsynced, and only then replace the destination. A
crash (an exception, a kill) before the rename leaves the previous file as it was; the temporary
file is removed on any exception. A full disk (``ENOSPC``) or a quota (``EDQUOT``) becomes a
:class:`WriteError` naming the file and saying "no space left", never a truncated file.

Plain Python at import time (``torch`` is imported only by :func:`save_torch_atomic`).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from point2act.errors import Point2ActError

__all__ = ["WriteError", "atomic_write", "atomic_open", "write_json_atomic", "save_torch_atomic", "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"
"""Suffix of the temporary files (``.<name>.<random>.tmp`` beside the destination)."""

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class WriteError(Point2ActError, OSError):
    """A file could not be written (full disk, read-only folder, ...); the previous file is intact.

    It is an ``OSError`` too, so callers that tolerate write failures (e.g. the answer cache)
    keep doing so.
    """

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] ..." form
        return str(self.args[0]) if self.args else ""


def _write_error(path: Path, exc: OSError) -> WriteError:
    if exc.errno in _NO_SPACE:
        why = (f"no space left on the device ({os.strerror(exc.errno)}). Free some space (or write "
               "somewhere else) and run again")
    else:
        why = f"{type(exc).__name__}: {exc.strerror or exc}. Check that the folder exists and is writable"
    err = WriteError(f"{path}: could not write the file: {why}. Nothing was written there: the previous "
                     f"file, if any, is unchanged.")
    err.errno = exc.errno
    err.filename = str(path)
    return err


@contextmanager
def atomic_open(path: os.PathLike | str, mode: str = "w", tmp_dir: os.PathLike | str | None = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the ``with`` block ends without error.

    ``mode`` is ``"w"`` (text, UTF-8) or ``"wb"``. ``tmp_dir`` (default: ``path``'s folder) must be
    on the same filesystem; give another folder when readers list ``path``'s folder (nerfstudio's
    checkpoint folder, for instance, where any extra file breaks its step parsing).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tdir = Path(tmp_dir) if tmp_dir is not None else path.parent
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=tdir)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise _write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: os.PathLike | str, write: Callable[[IO], Any], binary: bool = False,
                 tmp_dir: os.PathLike | str | None = None) -> Path:
    """Call ``write(f)`` on a temporary file that then atomically replaces ``path``; returns ``path``."""
    with atomic_open(path, "wb" if binary else "w", tmp_dir=tmp_dir) as f:
        write(f)
    return Path(path)


def write_json_atomic(path: os.PathLike | str, data: object, indent: int | None = 1) -> Path:
    """Write JSON to ``path`` atomically. NaN/inf are refused (``ValueError``), not written as invalid JSON."""

    def _dump(f: IO) -> None:
        json.dump(data, f, indent=indent, allow_nan=False)
        f.write("\n")

    return atomic_write(path, _dump)


def save_torch_atomic(obj: Any, path: os.PathLike | str, tmp_dir: os.PathLike | str | None = None) -> Path:
    """``torch.save(obj, path)``, atomically."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f), binary=True, tmp_dir=tmp_dir)
