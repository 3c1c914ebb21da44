"""Atomic file writes: every JSON and tensor file point2act writes goes through :func:`atomic_write`.

The bytes go to a temporary file in the destination's folder (so the final ``os.replace`` is a
rename on one filesystem), are flushed and fsynced, and only then replace the destination. A
crash (an exception, a kill) before the rename leaves the previous file as it was; the temporary
file is removed on any exception. A full disk (``ENOSPC``), a quota (``EDQUOT``) or the file-size limit
(``EFBIG``: ``ulimit -f``, with ``SIGXFSZ`` ignored) becomes a :class:`WriteError` naming the file, the bytes it
needed and the bytes free there, never a truncated file (:func:`atomic_write` measures the bytes by writing
again into a sink that only counts them).

Plain Python at import time (``torch`` is imported only by :func:`save_torch_atomic`).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from point2act.errors import Point2ActError

__all__ = ["WriteError", "atomic_write", "atomic_open", "write_json_atomic", "save_torch_atomic", "TMP_SUFFIX"]

TMP_SUFFIX = ".tmp"
"""Suffix of the temporary files (``.<name>.<host hash>-<pid>-<random>.tmp`` beside the destination; the next write
of the same file removes those of a writer that was killed)."""

_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
"""The errors of a write that ran out of room: a full disk, a quota, the file-size limit."""


class WriteError(Point2ActError, OSError):
    """A file could not be written (full disk, read-only folder, ...); the previous file is intact.

    It is an ``OSError`` too, so callers that tolerate write failures (e.g. the answer cache)
    keep doing so.
    """

    needed: int | None = None
    """The bytes the file needed, where it ran out of room and they could be counted."""

    def __str__(self) -> str:  # the message, not OSError's "[Errno N] ..." form
        return str(self.args[0]) if self.args else ""


def _size(n: int) -> str:
    """``n`` bytes as a person reads them: ``12345678 bytes (11.8 MiB)``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n} bytes ({n / scale:.1f} {unit})"
    return f"{n} bytes"


def _free_bytes(folder: Path) -> int | None:
    """The bytes free to this user in ``folder``'s filesystem (None where it cannot be asked)."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


def _write_error(path: Path, exc: OSError, written: int | None = None, needed: int | None = None) -> WriteError:
    """The one-paragraph error of a failed write of ``path``: for a write that ran out of room, the bytes it
    ``needed`` (or, unknown, had ``written`` when it failed) and the bytes free in its folder."""
    if exc.errno in _NO_SPACE:
        if needed is not None:
            size = f"it needs {_size(needed)}"
        elif written:
            size = f"it needs more than the {_size(written)} written before the write failed"
        else:
            size = "it needs more room than there is"
        free = _free_bytes(path.parent if path.parent.exists() else Path("."))
        room = f"{_size(free)} are free there" if free is not None else "the free space there is unknown"
        if exc.errno == errno.EFBIG:
            why = (f"the file is larger than this process may write ({os.strerror(exc.errno)}: the file-size "
                   f"limit, `ulimit -f`, or the filesystem's largest file): {size}; {room}. Raise the limit (or "
                   "write somewhere else) and run again")
        else:
            why = (f"no space left on the device ({os.strerror(exc.errno)}): {size}; {room}. Free some space "
                   "(or write somewhere else) and run again")
    else:
        why = f"{type(exc).__name__}: {exc.strerror or exc}. Check that the folder exists and is writable"
    err = WriteError(f"{path}: could not write the file: {why}. Nothing was written there: the previous "
                     f"file, if any, is unchanged.")
    err.errno = exc.errno
    err.filename = str(path)
    err.needed = needed
    return err


def _no_room_in(exc: BaseException) -> OSError | None:
    """The OSError of a write that ran out of room behind ``exc`` (its causes and contexts), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and not isinstance(exc, WriteError) and exc.errno in _NO_SPACE:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _CountingSink(io.RawIOBase):
    """A seekable file that keeps no bytes, only the size written (zip writers seek back to their headers)."""

    def __init__(self):
        super().__init__()
        self.pos = 0
        self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:
        n = memoryview(b).nbytes
        self.pos += n
        self.size = max(self.size, self.pos)
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos


def _measure(write: Callable[[IO], Any], binary: bool) -> int | None:
    """The bytes ``write(f)`` writes, counted by writing into a :class:`_CountingSink` (None where that fails)."""
    sink = _CountingSink()
    try:
        f = io.BufferedWriter(sink) if binary else io.TextIOWrapper(io.BufferedWriter(sink), encoding="utf-8")
        write(f)
        f.flush()
    except Exception:  # noqa: BLE001  (only a better message is lost)
        return None
    return sink.size


_OWNER = f"{hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]}-{os.getpid()}"
"""The writer in a temporary file's name (``.NAME.<host hash>-<pid>-<random>.tmp``): what tells a killed writer's
file from a live one's."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _remove_stale_temps(path: Path, tdir: Path) -> None:
    """Remove the temporary files of ``path`` that a writer on this host left when it was killed (its process has
    ended): a kill during a checkpoint's save would otherwise leave a checkpoint-sized file in the run folder for
    good. A live writer's file, another host's (a shared folder) and another writer's name are left alone."""
    host = _OWNER.split("-")[0]
    try:
        names = [e.name for e in os.scandir(tdir) if e.name.startswith(f".{path.name}.{host}-")]
    except OSError:
        return
    for name in names:
        rest = name[len(f".{path.name}.{host}-"):]
        pid, _, tail = rest.partition("-")
        if not (pid.isdigit() and tail.endswith(TMP_SUFFIX)) or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        try:
            os.unlink(tdir / name)
        except OSError:
            pass


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
        _remove_stale_temps(path, tdir)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_OWNER}-", suffix=TMP_SUFFIX, dir=tdir)
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
            written = os.stat(tmp).st_size
        except OSError:
            written = None
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise _write_error(path, exc, written=written) from exc
        full = _no_room_in(exc)
        if full is not None:  # a writer that wraps the OSError (torch.save: a RuntimeError from its zip writer)
            raise _write_error(path, full, written=written) from full
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
    """Call ``write(f)`` on a temporary file that then atomically replaces ``path``; returns ``path``.

    Where the write runs out of room (a full disk, a quota, the file-size limit), ``write`` is called once more
    into a sink that only counts bytes, so that the :class:`WriteError` says how many the file needs."""
    try:
        with atomic_open(path, "wb" if binary else "w", tmp_dir=tmp_dir) as f:
            write(f)
    except WriteError as err:
        cause = err.__cause__
        if err.errno in _NO_SPACE and isinstance(cause, OSError) and getattr(err, "needed", None) is None:
            needed = _measure(write, binary)
            if needed is not None:
                raise _write_error(Path(path), cause, needed=needed) from cause
        raise
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
