"""The pointer interface and :func:`point_views`, which points on every view of a capture."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

from point2act.pointing.config import PointerConfig
from point2act.pointing.errors import PointingConfigError, PointingParseError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image
    from typing_extensions import Self

__all__ = [
    "ImageLike",
    "Pointer",
    "image_size",
    "load_image",
    "point_views",
    "resolve_family",
]

logger = logging.getLogger("point2act.pointing")

ImageLike = Union["Image.Image", "np.ndarray", str, Path]  # a runtime alias: Union, not |
"""A PIL image, an ``[H, W, 3]`` uint8 array, or a path to an image file."""


@runtime_checkable
class Pointer(Protocol):
    """Something that puts task points on an image.

    ``point`` returns ``[[x, y], ...]`` in pixels of the given image (origin top-left, x to
    the right, y down); ``[]`` means nothing was found. Model backends raise
    :class:`~point2act.pointing.errors.PointingParseError` on an unparseable answer and
    let :func:`point_views` apply ``on_parse_error``. ``key`` names the view; only the oracle
    needs it, model backends use it in log messages.
    """

    config: PointerConfig

    def point(self, image: ImageLike, prompt: str, *, key: str | None = None) -> list[list[float]]:
        """Points for ``prompt`` on ``image``."""
        ...  # pragma: no cover

    def close(self) -> None:
        """Release resources (HTTP connections, model memory)."""
        ...  # pragma: no cover


def load_image(image: ImageLike) -> Image.Image:
    """Return ``image`` as an RGB PIL image (paths are opened, arrays converted).

    Arrays must be ``[H, W, 3]`` (or ``[H, W, 4]``, ``[H, W]``) uint8, or floats in ``[0, 1]``.
    """
    import numpy as np
    from PIL import Image

    if isinstance(image, (str, Path)):
        with Image.open(image) as im:
            return im.convert("RGB")
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an [H, W, 3] image array, got shape {tuple(arr.shape)}")
    return Image.fromarray(np.ascontiguousarray(arr[..., :3]), mode="RGB")


def image_size(image: ImageLike) -> tuple[int, int]:
    """``(width, height)`` of ``image`` without decoding pixels when it is a path."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        with Image.open(image) as im:
            return im.size
    if isinstance(image, Image.Image):
        return image.size
    shape = image.shape
    return int(shape[1]), int(shape[0])


def resolve_family(cfg: PointerConfig) -> str:
    """The answer family to parse with: ``cfg.family`` unless it is ``"auto"``.

    ``auto`` maps molmo -> ``molmo``, molmo2 -> ``molmo2``; qwen-vl and openai look at the
    model name ("qwen3" -> ``qwen3-vl``, "qwen2" -> ``qwen2.5-vl``, "molmo2"/"molmo" -> Molmo
    markup) and openai falls back to ``json``.
    """
    if cfg.family != "auto":
        return cfg.family
    name = cfg.model.lower()
    if cfg.backend == "molmo":
        return "molmo"
    if cfg.backend == "molmo2":
        return "molmo2"
    if "qwen3" in name:
        return "qwen3-vl"
    if "qwen2" in name:
        return "qwen2.5-vl"
    if cfg.backend == "qwen-vl":
        raise PointingConfigError(
            f"cannot tell Qwen2.5-VL from Qwen3-VL by the model name {cfg.model!r}; "
            "set family to 'qwen2.5-vl' or 'qwen3-vl'"
        )
    if "molmo2" in name or "molmo-2" in name:
        return "molmo2"
    if "molmo" in name:
        return "molmo"
    return "json"


def _progress(enabled: bool):
    """A rich progress bar (or a no-op stand-in when disabled or rich is missing)."""
    if enabled:
        try:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            return Progress(
                TextColumn("[bold]pointing[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
        except ImportError:  # pragma: no cover - rich is a nerfstudio dependency
            pass
    return _NoProgress()


class _NoProgress:
    """Drop-in for ``rich.progress.Progress`` that does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        return 0

    def update(self, task: int, **kwargs: Any) -> None:
        return None

    def advance(self, task: int, advance: int = 1) -> None:
        return None


def point_views(
    pointer: Pointer,
    images: Mapping[str, ImageLike],
    prompt: str,
    progress: bool = True,
    on_parse_error: str | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """Point on every view and return a points-file dict.

    Args:
        pointer: a pointer from :func:`~point2act.pointing.make_pointer`.
        images: view key (the image's name in the capture, e.g. ``"frame_00001.png"``) ->
            image path, PIL image or ``[H, W, 3]`` uint8 array. Paths are opened lazily, one
            view at a time.
        prompt: the task prompt, passed to the pointer unchanged.
        progress: show a rich progress bar over views.
        on_parse_error: ``"empty"``, ``"skip"`` or ``"raise"``; defaults to
            ``pointer.config.on_parse_error``. See :class:`~point2act.pointing.PointerConfig`.
        concurrency: views in flight at once; defaults to ``pointer.config.concurrency`` for the
            openai backend and 1 otherwise.

    Returns:
        ``{"prompt": prompt, "coordinates": "pixels", "points": {key: [[x, y], ...]},
        "metadata": {...}}`` with points in pixels of each view (origin top-left) and
        metadata naming the backend, model, family, per-view seconds and the views whose
        answers failed to parse. No secret (API key) is ever included.

    Raises:
        PointingParseError: an answer was unparseable and the policy is ``"raise"``.
        PointingBackendError: the backend failed (e.g. the server kept failing after retries).
    """
    cfg = getattr(pointer, "config", None)
    policy = on_parse_error or getattr(cfg, "on_parse_error", "empty")
    if policy not in ("empty", "skip", "raise"):
        raise PointingConfigError(f"on_parse_error must be 'empty', 'skip' or 'raise', not {policy!r}")
    if concurrency is None:
        concurrency = int(getattr(cfg, "concurrency", 1)) if getattr(cfg, "backend", "") == "openai" else 1
    concurrency = max(1, int(concurrency))

    keys = list(images.keys())
    results: dict[str, list[list[float]] | None] = {}
    seconds: dict[str, float] = {}
    failed: dict[str, str] = {}

    def one(key: str) -> tuple[str, list[list[float]] | None, float, str | None]:
        start = time.perf_counter()
        try:
            pts = pointer.point(images[key], prompt, key=key)
            err = None
        except PointingParseError as exc:
            if policy == "raise":
                raise PointingParseError(exc.family, exc.answer, f"view {key!r}: {exc.reason}") from exc
            pts, err = None, str(exc)
        return key, pts, time.perf_counter() - start, err

    def record(key: str, pts: list[list[float]] | None, dt: float, err: str | None) -> None:
        seconds[key] = round(dt, 4)
        if err is not None:
            failed[key] = err
            action = "recording no point" if policy == "empty" else "skipping the view"
            logger.warning("view %s: unparseable answer, %s: %s", key, action, err)
            if policy == "empty":
                results[key] = []
            return
        results[key] = [[float(x), float(y)] for x, y in (pts or [])]
        logger.info("view %s: %d point(s) in %.2f s", key, len(results[key]), dt)

    total_start = time.perf_counter()
    with _progress(progress) as bar:
        task = bar.add_task(prompt[:40], total=len(keys))
        if concurrency == 1 or len(keys) <= 1:
            for key in keys:
                record(*one(key))
                bar.advance(task)
        else:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="point2act-point") as pool:
                futures = [pool.submit(one, key) for key in keys]
                try:
                    for fut in futures:
                        record(*fut.result())
                        bar.advance(task)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    total = time.perf_counter() - total_start
    logger.info("pointed on %d view(s) in %.2f s (%d unparseable)", len(keys), total, len(failed))

    points = {key: results[key] for key in keys if key in results and results[key] is not None}
    metadata: dict[str, Any] = {
        "backend": getattr(cfg, "backend", type(pointer).__name__),
        "model": getattr(cfg, "model", ""),
        "seconds_per_view": seconds,
        "seconds_total": round(total, 4),
        "parse_errors": failed,
        "on_parse_error": policy,
    }
    family = getattr(pointer, "family", None)
    if family is None and cfg is not None and cfg.backend != "oracle":
        try:
            family = resolve_family(cfg)
        except PointingConfigError:
            family = None
    if family:
        metadata["family"] = family
    return {"prompt": prompt, "coordinates": "pixels", "points": points, "metadata": metadata}
