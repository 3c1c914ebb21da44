"""A trained run's one cache file, ``RUN/point2act_cache.npz``: what exporting and re-querying the run compute
once and read again, in named sections, under one key and one invalidation rule.

* **Sections.** Each is a group of arrays (``SECTION/NAME`` members of the npz) and a JSON header. The export's
  inputs (:mod:`point2act.export.cached_inputs`), the run's info (cameras, answers and heatmaps: no nerfstudio pipeline
  to build, :mod:`point2act.method.datamanager_info`), the compositing weights of the training views at a resolution
  (``point2act query``, the views' consensus), the fusion views' compositing weights (a named channel's relevancy
  in the depth renders, :mod:`point2act.export.cached_inputs`) and what the torch-free query's supervision reads
  (``query-dD``, :mod:`point2act.requery.from_cache`) are sections. Reading one section reads only its members.
* **The key** is the list of the files the run's results depend on, each with its size and the SHA-256 of its
  bytes (:func:`file_stamp`): config.yml, dataparser_transforms.json, the latest checkpoint (at
  :data:`CHECKPOINT_AT`), the run's answers (``RUN/points.json``) and the points file its config names,
  ``RUN/triangulated.ply``, and the capture's camera file (:func:`input_files`). Content, not time: a file
  touched, copied back or rewritten with the same bytes leaves the cache current.
* **The rule:** the file is current while every file of its key holds the bytes recorded and the checkpoint
  folder holds no later checkpoint (:func:`current_key`). A stale file is ignored as a whole, and the next section
  written starts a new one; a section written under the file's own key is added beside the others. Beside the
  key, the file records each file's ``stat`` when it was hashed (size, mtime, ctime, inode): a file whose
  ``stat`` is as recorded is not hashed again (a write changes its ctime, which no one sets by hand), one whose
  ``stat`` changed is hashed and compared.

Writes are atomic (a temporary file replaces the cache, :func:`point2act.io.atomic_write`): a process killed while
it writes leaves the previous file as it was, and the next write removes the temporary file it left. Writers of
one run take a lock (``RUN/.point2act_cache.npz.lock``, ``flock``, released by the kernel when a writer dies), so
that two processes adding sections at once lose neither. Imports numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from point2act.io import atomic_write
from point2act.checks.trained_run import latest_checkpoint_path

CACHE_NAME = "point2act_cache.npz"
CACHE_VERSION = 3
"""Bumped whenever what a section holds, or how it is read, changes: files of other versions are not read."""

CHECKPOINT_AT = 2
"""The checkpoint's place in :func:`input_files` (a later checkpoint in its folder makes the cache stale)."""

_KEY = "__key__"


def cache_path(config_path: Path) -> Path:
    """``RUN/point2act_cache.npz`` of the run whose config is ``config_path``."""
    return Path(config_path).resolve().parent / CACHE_NAME


def _signature(st: os.stat_result) -> List[int]:
    """What says a file is the one hashed before: size, mtime, ctime (set by the kernel on every write), inode,
    device."""
    return [int(st.st_size), int(st.st_mtime_ns), int(st.st_ctime_ns), int(st.st_ino), int(st.st_dev)]


_DIGESTS: Dict[Tuple[str, Tuple[int, ...]], str] = {}
"""This process's digests: ``(path, signature)`` -> SHA-256 (each file is hashed once while it is unchanged)."""
_DIGESTS_LOCK = threading.Lock()


def _digest(path: Path, sig: List[int]) -> str | None:
    """The SHA-256 of the file's bytes (hex), None when it cannot be read; remembered for ``sig`` when the file
    did not change while it was read."""
    memo = (str(path), tuple(sig))
    with _DIGESTS_LOCK:
        hit = _DIGESTS.get(memo)
    if hit is not None:
        return hit
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            after = _signature(os.fstat(fh.fileno()))
    except OSError:
        return None
    digest = h.hexdigest()
    if after == sig:
        with _DIGESTS_LOCK:
            _DIGESTS[memo] = digest
    return digest


def _stamp(path: Path, known: Tuple[Sequence[Any], Sequence[int] | None] | None = None
           ) -> Tuple[List[Any], List[int] | None]:
    """``(stamp, signature)`` of a file (:func:`file_stamp`); ``known``: a stamp recorded with the signature the
    file had then, taken as it is (no hashing) while the file's path and signature are those."""
    try:
        st = path.stat()
    except OSError:
        return [str(path), "missing"], None
    sig = _signature(st)
    if known is not None and known[1] is not None and list(known[1]) == sig and known[0] and known[0][0] == str(path):
        return list(known[0]), sig
    digest = _digest(path, sig)
    if digest is None:
        return [str(path), "unreadable"], None
    return [str(path), int(st.st_size), digest], sig


def file_stamp(path: Path | str | None) -> List[Any]:
    """``[path, size, sha256]`` of a file (its bytes, not its time: a ``touch`` changes nothing),
    ``[path, "missing"]`` when there is none (``[]`` for None)."""
    if path is None:
        return []
    return _stamp(Path(path))[0]


def capture_files(data: str | Path | None, colmap_path: str | None = None) -> List[Path]:
    """The camera file(s) of a capture folder ``data``: the file itself, its ``transforms.json``, or the files of its
    COLMAP model (``colmap_path`` inside it); ``DATA/transforms.json`` (missing) when there are none."""
    if not data:
        return []
    p = Path(data)
    if p.is_file() or p.suffix == ".json":
        return [p]
    if not (p / "transforms.json").is_file() and colmap_path and (p / colmap_path).is_dir():
        return sorted(q for q in (p / colmap_path).iterdir() if q.is_file())
    return [p / "transforms.json"]


def input_files(config_path: Path, checkpoint: Path, points_file: Path | None,
                capture: Sequence[Path] = ()) -> List[Path]:
    """The files a run's results depend on: config.yml, dataparser_transforms.json, the checkpoint (at
    :data:`CHECKPOINT_AT`), the run's stored answers (``RUN/points.json``) and the points file its config names,
    ``RUN/triangulated.ply``, and the capture's camera files (``capture``, :func:`capture_files`)."""
    run = Path(config_path).resolve().parent
    files = [run / "config.yml", run / "dataparser_transforms.json", Path(checkpoint), run / "points.json",
             run / "triangulated.ply"]
    if points_file is not None:
        files.append(Path(points_file))
    if isinstance(capture, (str, Path)):
        raise TypeError("capture: a sequence of camera files (capture_files), not one path")
    return files + [Path(f) for f in (capture or ())]


def run_key(config_path: Path, checkpoint: Path, points_file: Path | None,
            capture: Sequence[Path] = ()) -> List[List[Any]]:
    """The key of the run's cache now: :func:`file_stamp` of each of :func:`input_files`."""
    return [file_stamp(f) for f in input_files(config_path, checkpoint, points_file, capture)]


def current_key(key: Sequence[Sequence[Any]], stats: Sequence[Any] | None = None) -> List[List[Any]] | None:
    """The stamps of the files ``key`` names as they are now (the latest checkpoint of the folder of the one
    it names), or None when the checkpoint folder has none. ``stats``: the signatures recorded with ``key``
    (:func:`write_section`): a file whose signature is as recorded keeps its stamp unhashed."""
    ckpt_dir = Path(key[CHECKPOINT_AT][0]).parent if len(key) > CHECKPOINT_AT and key[CHECKPOINT_AT] else None
    latest = latest_checkpoint_path(ckpt_dir) if ckpt_dir is not None else None
    if latest is None:
        return None
    stats = list(stats) if stats is not None and len(stats) == len(key) else [None] * len(key)
    out: List[List[Any]] = []
    for i, (k, sig) in enumerate(zip(key, stats)):
        if not k:
            out.append([])
            continue
        out.append(_stamp(Path(latest) if i == CHECKPOINT_AT else Path(k[0]), (k, sig))[0])
    return out


def _signatures(key: Sequence[Sequence[Any]]) -> List[List[int] | None]:
    """Each file's signature now where its stamp is still ``key``'s (else None: hashed when next read)."""
    out: List[List[int] | None] = []
    for k in key:
        if not k or len(k) < 3:
            out.append(None)
            continue
        stamp, sig = _stamp(Path(k[0]))
        out.append(sig if stamp == list(k) else None)
    return out


def _header(z: zipfile.ZipFile, name: str) -> Dict[str, Any] | None:
    try:
        return json.loads(np.load(z.open(f"{name}.npy"), allow_pickle=False).tobytes().decode())
    except KeyError:
        return None


def _stored_head(config_path: Path) -> Dict[str, Any] | None:
    """The header of the run's cache file (version, key, signatures), None: no readable cache of this version."""
    try:
        with zipfile.ZipFile(cache_path(config_path)) as z:
            head = _header(z, _KEY)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if head is None or head.get("version") != CACHE_VERSION:
        return None
    return head


def _head_current(head: Dict[str, Any] | None) -> bool:
    return head is not None and current_key(head["key"], head.get("stats")) == head["key"]


def stored_key(config_path: Path) -> List[List[Any]] | None:
    """The key the run's cache file was written under (None: no readable cache of this version)."""
    head = _stored_head(config_path)
    return None if head is None else head["key"]


def _mapped(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """The array of an uncompressed ``.npy`` member of the zip at ``path``, memory-mapped (copy on write): its
    pages are read when used, not now."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: bad local header of {info.filename}")
        name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        shape, fortran, dtype = np.lib.format._read_array_header(fh, version)
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: {info.filename} holds objects")
    if not int(np.prod(shape)):
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape, order="F" if fortran else "C")


def sections(config_path: Path) -> List[str]:
    """The sections of the run's cache file as it is (current or not)."""
    try:
        with zipfile.ZipFile(cache_path(config_path)) as z:
            names = z.namelist()
    except (OSError, ValueError, zipfile.BadZipFile):
        return []
    return sorted({n.split("/", 1)[0] for n in names if "/" in n})


def is_current(config_path: Path) -> bool:
    """Whether the run's cache file is of this version and current (:func:`current_key`)."""
    return _head_current(_stored_head(config_path))


def read_section(config_path: Path, section: str,
                 mmap: bool = False) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]] | None:
    """``(header, arrays)`` of a section of the run's cache, None when the file is missing, unreadable, of
    another version or stale (:func:`current_key`), or has no such section. ``mmap``: the arrays memory-mapped,
    read as they are used (the compositing weights of a capture's every view: hundreds of megabytes)."""
    path = cache_path(config_path)
    try:
        with zipfile.ZipFile(path) as z:
            head = _header(z, _KEY)
            if head is None or head.get("version") != CACHE_VERSION or not _head_current(head):
                return None
            meta = _header(z, f"{section}/{_KEY}")
            if meta is None:
                return None
            prefix = f"{section}/"
            members = [i for i in z.infolist() if i.filename.startswith(prefix) and i.filename != f"{prefix}{_KEY}.npy"]
            arrays = {i.filename[len(prefix):-len(".npy")]:
                      _mapped(path, i) if mmap and i.compress_type == zipfile.ZIP_STORED
                      else np.load(z.open(i), allow_pickle=False) for i in members}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return meta, arrays


def _json_member(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


_WRITING = threading.Lock()
"""One writer at a time in a process: each section's write rewrites the file with the sections already there."""


@contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    """One writer of the cache at ``path`` at a time across processes (``flock`` on ``.NAME.lock`` beside it,
    released by the kernel when its holder dies): two processes adding sections at once would otherwise each copy
    the other's old file and one section would be lost. A killed writer's temporary file is removed by the next
    write (:func:`point2act.io.atomic_write`). Without ``fcntl`` or a writable folder: no lock (the write itself
    then says why)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    try:
        fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_PENDING = threading.local()  # per thread: cache path -> the sections written inside one_write, in order


def write_section(config_path: Path, key: List[List[Any]], section: str, meta: Dict[str, Any],
                  arrays: Dict[str, np.ndarray]) -> Path:
    """Write a section of the run's cache atomically under ``key`` (:func:`run_key`): beside the file's other
    sections when it was written under the same key and is current, else in a new file (the rule above). Inside
    :func:`one_write` for the same run, the section is written with the block's others when the block ends."""
    path = cache_path(config_path)
    pending = getattr(_PENDING, "sections", {}).get(path)
    if pending is not None:
        pending.append((key, section, meta, arrays))
        return path
    return _write_sections(config_path, key, [(section, meta, arrays)])


@contextmanager
def one_write(config_path: Path) -> Iterator[None]:
    """The sections :func:`write_section` writes for this run in this block (on this thread) go to the file in one
    atomic write when the block ends, even where it ends by an exception (nothing computed is lost), instead of one
    rewrite of the whole file each: the end of training writes three. A section read inside the block is read
    from the file as it was before the block. Sections written under different keys are written key by key, the
    last key's last. Nested blocks of one run write at the outermost's end."""
    path = cache_path(config_path)
    by_path = _PENDING.__dict__.setdefault("sections", {})
    if path in by_path:
        yield
        return
    by_path[path] = []
    try:
        yield
    finally:
        pending = by_path.pop(path)
        groups: Dict[str, Tuple[List[List[Any]], List[Tuple[str, Dict[str, Any], Dict[str, np.ndarray]]]]] = {}
        for key, section, meta, arrays in pending:
            groups.setdefault(json.dumps(key), (key, []))[1].append((section, meta, arrays))
        for key, written in groups.values():
            _write_sections(config_path, key, written)


def _write_sections(config_path: Path, key: List[List[Any]],
                    written: List[Tuple[str, Dict[str, Any], Dict[str, np.ndarray]]]) -> Path:
    """One atomic write of ``written`` (``(section, meta, arrays)``, a later one of a name replacing an earlier)
    beside the file's other sections where the file is current under ``key``."""
    path = cache_path(config_path)
    members = {_KEY: _json_member({"version": CACHE_VERSION, "key": key, "stats": _signatures(key)})}
    for section, meta, arrays in written:
        for name in [m for m in members if m.startswith(f"{section}/")]:
            del members[name]
        members[f"{section}/{_KEY}"] = _json_member(meta)
        members.update({f"{section}/{k}": np.asarray(v) for k, v in arrays.items()})
    names = {section for section, _, _ in written}

    def write(fh) -> None:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            for name, arr in members.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as m:
                    np.lib.format.write_array(m, arr, allow_pickle=False)
            head = _stored_head(config_path)
            if head is None or head["key"] != key or not _head_current(head):
                return  # a new key: the file's other sections are stale
            try:
                with zipfile.ZipFile(path) as old:
                    for info in old.infolist():
                        if info.filename == f"{_KEY}.npy" or info.filename.split("/", 1)[0] in names:
                            continue
                        with old.open(info) as src, z.open(info.filename, "w", force_zip64=True) as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
            except (OSError, ValueError, zipfile.BadZipFile):
                pass  # an unreadable old file: its sections are lost, these are written

    with _WRITING, _writer_lock(path):
        return atomic_write(path, write, binary=True)
