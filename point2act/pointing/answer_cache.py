"""Answer cache: a rerun (or a second training run) on the same capture does not query again.

One small JSON file per answer, ``<cache dir>/<key[:2]>/<key>.json``, written atomically. The key
is the sha256 of the image's content (the file's bytes, or the decoded pixels of an in-memory
image such as a coarse-to-fine crop), the request (prompt) and everything about the pointer that
changes its answer: backend, model id, answer family, template and the backend's
answer-affecting knobs (see :func:`answer_signature`). The server URL and the API key are never
part of a key nor of an entry.

A missing, unreadable or corrupt entry is a miss: the pointer is asked again (with a warning for
a corrupt one) and the entry rewritten. An answer that could not be parsed is cached too, so a
rerun with a deterministic model does not pay for it again; ``refresh`` asks again anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from point2act.pointing.base import ImageLike, resolve_family
from point2act.pointing.config import IMAGE_FORMAT, ORACLE_MIN_VISIBLE_PX, TEMPERATURE, PointerConfig
from point2act.pointing.errors import PointingConfigError, PointingParseError

__all__ = [
    "CACHE_VERSION",
    "AnswerCache",
    "CacheStats",
    "CachedPointer",
    "answer_signature",
    "default_cache_dir",
    "image_digest",
]

logger = logging.getLogger("point2act.pointing.answer_cache")

CACHE_VERSION = 1

#: Settings that change what a backend answers, by backend (besides backend, model, family and
#: template, which always count).
_ANSWER_KNOBS: dict[str, tuple[str, ...]] = {
    "openai": ("max_new_tokens", "max_image_side"),
    "molmo": ("max_new_tokens",),
    "molmo2": ("max_new_tokens",),
    "qwen-vl": ("max_new_tokens",),
    "oracle": ("noise_px", "outlier_rate", "seed"),
}

#: Entries of a key that hold one value: the checkpoint's Hub revision (the default branch: ""), for
#: the backends that resize for Qwen its processor's image-area bounds (its own: 0), the server's sampling
#: temperature and image encoding, the oracle's occlusion rule. Part of the key's format
#: (:data:`CACHE_VERSION`), so the same request keeps its key.
_KEY_CONSTANTS: dict[str, dict[str, Any]] = {
    "*": {"revision": ""},
    "openai": {"min_pixels": 0, "max_pixels": 0, "temperature": TEMPERATURE, "image_format": IMAGE_FORMAT},
    "qwen-vl": {"min_pixels": 0, "max_pixels": 0},
    "oracle": {"min_visible_px": ORACLE_MIN_VISIBLE_PX},
}


def default_cache_dir() -> Path:
    """``$POINT2ACT_CACHE`` if set, else ``~/.cache/point2act/points``."""
    env = os.environ.get("POINT2ACT_CACHE", "")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "point2act" / "points"


def image_digest(image: ImageLike) -> str:
    """sha256 of an image's content: a file's bytes, or an in-memory image's mode, size and pixels."""
    h = hashlib.sha256()
    if isinstance(image, (str, Path)):
        h.update(b"file:")
        with open(image, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    from PIL import Image

    if isinstance(image, Image.Image):
        h.update(f"pil:{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
        h.update(image.tobytes())
        return h.hexdigest()
    import numpy as np

    arr = np.ascontiguousarray(np.asarray(image))
    h.update(f"array:{arr.dtype.str}:{arr.shape}:".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def answer_signature(cfg: PointerConfig) -> dict[str, Any]:
    """What about ``cfg`` changes the answer (part of every cache key; never holds a secret)."""
    try:
        family = resolve_family(cfg) if cfg.backend != "oracle" else ""
    except PointingConfigError:
        family = cfg.family
    sig: dict[str, Any] = {
        "backend": cfg.backend,
        "model": cfg.model,
        **_KEY_CONSTANTS["*"],
        "family": family,
        "template": cfg.template,
        **_KEY_CONSTANTS.get(cfg.backend, {}),
    }
    for name in _ANSWER_KNOBS.get(cfg.backend, ()):
        value = getattr(cfg, name)
        sig[name] = value
    return sig


@dataclass
class CacheStats:
    """Counts of one pointing run."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "corrupt": self.corrupt, "writes": self.writes}


class AnswerCache:
    """A directory of cached answers (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.dir = Path(directory).expanduser() if directory else default_cache_dir()

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.dir)!r})"

    @staticmethod
    def key(image_sha256: str, prompt: str, signature: dict[str, Any]) -> str:
        blob = json.dumps(
            {"v": CACHE_VERSION, "image": image_sha256, "prompt": prompt, **signature},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key``; ``None`` when absent. Raises ``ValueError`` when corrupt."""
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"unreadable ({exc})") from None
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION or entry.get("key") != key:
            raise ValueError("not a point2act answer-cache entry of this version")
        if "parse_error" in entry:
            if not isinstance(entry["parse_error"], str):
                raise ValueError("bad 'parse_error' field")
            return entry
        pts = entry.get("points")
        ok = isinstance(pts, list) and all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) and c == c for c in p)
            for p in pts
        )
        if not ok:
            raise ValueError("bad 'points' field")
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> Path:
        """Write ``entry`` atomically (a crash never leaves a half-written entry)."""
        from point2act.points import write_json_atomic

        return write_json_atomic(self.path(key), {"version": CACHE_VERSION, "key": key, **entry}, indent=None)


class CachedPointer:
    """Wraps a pointer so that each ``point`` call is answered from the cache when possible.

    The oracle's answers depend on the view key (not only the image), so the key is part of
    the oracle's cache key.
    """

    def __init__(self, pointer: Any, cache: AnswerCache, refresh: bool = False) -> None:
        self.inner = pointer
        self.config: PointerConfig = pointer.config
        self.cache = cache
        self.refresh = refresh
        self.stats = CacheStats()
        self._signature = answer_signature(self.config)

    def __repr__(self) -> str:
        return f"CachedPointer({self.inner!r}, {self.cache!r})"

    @property
    def family(self) -> str | None:
        return getattr(self.inner, "family", None)

    def point(self, image: ImageLike, prompt: str, *, key: str | None = None) -> list[list[float]]:
        sig = dict(self._signature)
        if self.config.backend == "oracle":
            sig["view"] = key
        digest = image_digest(image)
        ck = self.cache.key(digest, prompt, sig)
        if not self.refresh:
            try:
                entry = self.cache.get(ck)
            except ValueError as exc:
                self.stats.add(corrupt=1)
                logger.warning(
                    "view %s: corrupt cache entry %s (%s); asking the pointer again", key, self.cache.path(ck), exc
                )
                entry = None
            if entry is not None:
                self.stats.add(hits=1)
                if "parse_error" in entry:
                    raise PointingParseError(
                        entry.get("family") or str(sig.get("family") or "?"),
                        entry.get("answer", ""),
                        f"{entry['parse_error']} (cached answer; --refresh-cache asks again)",
                    )
                return [[float(x), float(y)] for x, y in entry["points"]]
        self.stats.add(misses=1)
        record = {
            "image_sha256": digest,
            "prompt": prompt,
            **sig,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        start = time.perf_counter()
        try:
            pts = self.inner.point(image, prompt, key=key)
        except PointingParseError as exc:
            self._write(ck, {**record, "seconds": round(time.perf_counter() - start, 4),
                             "parse_error": exc.reason, "answer": exc.answer[:2000], "family": exc.family})
            raise
        pts = [[float(x), float(y)] for x, y in (pts or [])]
        self._write(ck, {**record, "seconds": round(time.perf_counter() - start, 4), "points": pts})
        return pts

    def _write(self, key: str, entry: dict[str, Any]) -> None:
        try:
            self.cache.put(key, entry)
            self.stats.add(writes=1)
        except (OSError, ValueError) as exc:  # a read-only or full cache (or NaN) must not stop pointing
            logger.warning("could not write the answer cache entry %s: %s", self.cache.path(key), exc)

    def close(self) -> None:
        self.inner.close()
