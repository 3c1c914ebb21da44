"""Point on a whole capture: what ``point2act point`` and the on-the-fly datamanager path run.

:func:`point_capture` builds the pointer from a :class:`PointerConfig` (template file resolved,
oracle scene defaulting to the capture), wraps it with the answer cache and coarse-to-fine
pointing as configured, points on every view (progress bar, per-view timing in the log) and
returns -- and optionally writes, atomically -- the points-file dict. The keys are the image
paths as written in the capture's transforms.json; the images pointed on are the stored
full-resolution files, so the points are in pixels of the stored image.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, NamedTuple

from point2act.pointing.base import ImageLike, Pointer, point_views
from point2act.pointing.answer_cache import AnswerCache, CachedPointer, answer_signature
from point2act.pointing.coarse import CoarseToFinePointer
from point2act.pointing.config import PointerConfig
from point2act.pointing.errors import PointingConfigError
from point2act.pointing.prompts import load_template

__all__ = [
    "IMAGE_SUFFIXES",
    "CaptureViews",
    "capture_images",
    "default_points_path",
    "point_capture",
    "point_capture_to_file",
    "prepare_config",
]

logger = logging.getLogger("point2act.pointing")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class CaptureViews(NamedTuple):
    """The views to point on and the capture folder they belong to (:func:`capture_images` reads both; the
    folder is the oracle's default scene)."""

    data_dir: Path | None
    """The capture folder; None for images that are not a capture's."""
    images: Mapping[str, ImageLike]
    """View key -> image (path to the stored image, PIL image or array)."""


def capture_images(data: str | Path) -> CaptureViews:
    """``(data_dir, {key: stored image path})`` of a capture.

    ``data`` is a folder with a nerfstudio ``transforms.json`` (keys are its frames'
    ``file_path``, normalised as nerfstudio does), the ``transforms.json`` itself, or a folder
    with an ``images/`` folder (COLMAP-style; keys ``images/<name>``).

    Raises:
        PointingConfigError: no capture there, or an image file is missing.
    """
    data = Path(data).expanduser()
    if data.is_file() and data.suffix == ".json":
        data_dir, transforms = data.parent, data
    else:
        data_dir, transforms = data, data / "transforms.json"
    if not data_dir.is_dir():
        raise PointingConfigError(f"{data_dir}: capture folder not found")
    images: dict[str, Path] = {}
    if transforms.is_file():
        try:
            meta = json.loads(transforms.read_text())
        except json.JSONDecodeError as exc:
            raise PointingConfigError(f"{transforms}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        for i, frame in enumerate(meta.get("frames", [])):
            fp = frame.get("file_path") if isinstance(frame, dict) else None
            if not fp:
                raise PointingConfigError(f"{transforms}: frame {i} has no file_path")
            path = Path(fp)
            if not path.is_absolute():
                key, path = Path(fp).as_posix(), data_dir / fp
            else:
                try:
                    key = path.relative_to(data_dir.resolve()).as_posix()
                except ValueError:
                    key = path.name
            if not path.is_file():
                raise PointingConfigError(f"{transforms}: frame {i}: image {fp!r} not found at {path}")
            images[key] = path
    elif (data_dir / "images").is_dir():
        for path in sorted((data_dir / "images").iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                images[f"images/{path.name}"] = path
    else:
        raise PointingConfigError(f"{data_dir}: no transforms.json and no images/ folder: not a capture")
    if not images:
        raise PointingConfigError(f"{data_dir}: the capture has no images")
    return CaptureViews(data_dir, images)


def prepare_config(cfg: PointerConfig, data_dir: str | Path | None = None) -> PointerConfig:
    """A copy of ``cfg`` ready to build a pointer: template file read, oracle scene defaulted.

    Raises:
        PointingConfigError: both ``template`` and ``template_file`` given; the oracle on a
            folder that is not a synthetic scene.
    """
    cfg = replace(cfg)
    if cfg.template_file:
        text = load_template(cfg.template_file)
        if cfg.template and cfg.template != text:
            raise PointingConfigError("give either a template or a template file, not both")
        cfg.template = text
    if cfg.template and "{prompt}" not in cfg.template and "{task}" not in cfg.template:
        raise PointingConfigError(f"the template {cfg.template!r} has no '{{prompt}}' or '{{task}}' placeholder")
    if cfg.backend == "oracle":
        if not cfg.scene_dir and data_dir is not None:
            cfg.scene_dir = str(data_dir)
        if cfg.scene_dir and not (Path(cfg.scene_dir) / "ground_truth.json").is_file():
            raise PointingConfigError(
                f"{cfg.scene_dir}: the oracle pointer only works on a synthetic scene (point2act synth), "
                "which has ground_truth.json; choose a model backend (molmo, molmo2, qwen-vl or openai)"
            )
    return cfg


def _slug(text: str, n: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:n].strip("-") or "points"


def default_points_path(
    cfg: PointerConfig, data_dir: str | Path, prompt: str, keys: Sequence[str] = ()
) -> Path:
    """Where the on-the-fly points file goes when no path is given: in the cache folder, under
    ``files/``, named after the prompt and a hash of the capture, prompt, pointer and views."""
    cache_dir = AnswerCache(cfg.cache_dir or None).dir
    blob = json.dumps(
        {
            "data": str(Path(data_dir).resolve()),
            "prompt": prompt,
            "pointer": answer_signature(cfg),
            "coarse_to_fine": [cfg.coarse_to_fine, cfg.object_prompt, cfg.crop_frac, 0],  # 0: the crop's size
            "keys": list(keys),
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return cache_dir / "files" / f"{_slug(Path(data_dir).resolve().name)}-{_slug(prompt)}-{digest}.json"


def _public_config(cfg: PointerConfig) -> dict[str, Any]:
    """The pointer settings recorded in the points file (no secret: only the key's variable name)."""
    d = asdict(cfg)
    d.pop("api_key_env", None)
    return d


def point_capture(
    cfg: PointerConfig,
    views: CaptureViews,
    prompt: str,
    *,
    output: str | Path | None = None,
    pointer: Pointer | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Point on every view and return (and write to ``output``, atomically) the points-file dict.

    Args:
        cfg: the pointer configuration (cache and coarse-to-fine settings included).
        views: the images (view key -> image) and the capture folder (the oracle's default scene).
        prompt: the task prompt, passed through unchanged.
        output: where to write the points file; ``None`` writes nothing.
        pointer: an already built pointer (tests inject fakes; backend-specific injections such as
            ``oracle_fn=`` go to :func:`~point2act.pointing.make_pointer`); default ``make_pointer(cfg)``.
        progress: show a progress bar.

    The metadata adds ``cache`` (dir, hits, misses, corrupt entries), ``coarse_to_fine`` (both
    passes per view) when enabled, ``template`` and ``pointer`` (the settings, no secret).
    """
    if not prompt or not prompt.strip():
        raise PointingConfigError("a prompt is needed to point (the task, e.g. 'where to grasp to pour')")
    cfg = prepare_config(cfg, views.data_dir)
    if pointer is None:
        from point2act.pointing.factory import make_pointer

        pointer = make_pointer(cfg)
    top: Any = pointer
    cached: CachedPointer | None = None
    if cfg.cache:
        cached = CachedPointer(pointer, AnswerCache(cfg.cache_dir or None), refresh=cfg.refresh_cache)
        top = cached
    c2f: CoarseToFinePointer | None = None
    if cfg.coarse_to_fine:
        c2f = CoarseToFinePointer(top, cfg.object_prompt, cfg.crop_frac)
        top = c2f
    start = time.perf_counter()
    try:
        out = point_views(top, views.images, prompt, progress=progress)
    finally:
        pointer.close()
    md = out["metadata"]
    md["template"] = cfg.template
    md["pointer"] = _public_config(cfg)
    if cached is not None:
        md["cache"] = {"dir": str(cached.cache.dir), "refresh": cfg.refresh_cache, **cached.stats.as_dict()}
        logger.info(
            "answer cache %s: %d hit(s), %d miss(es), %d corrupt entr%s re-queried",
            cached.cache.dir, cached.stats.hits, cached.stats.misses, cached.stats.corrupt,
            "y" if cached.stats.corrupt == 1 else "ies",
        )
    if c2f is not None:
        md["coarse_to_fine"] = c2f.metadata()
    md["seconds_wall"] = round(time.perf_counter() - start, 4)
    if output is not None:
        from point2act.points import write_json_atomic

        write_json_atomic(output, out)
    return out


def point_capture_to_file(
    cfg: PointerConfig,
    data_dir: str | Path,
    keys: Sequence[str],
    prompt: str,
    output: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Point on the stored images ``data_dir / key`` of ``keys`` and write the points file.

    What the datamanager runs before training when it gets a prompt and no points file.
    Returns the path written (``output`` or :func:`default_points_path`).
    """
    data_dir = Path(data_dir)
    keys = list(dict.fromkeys(keys))
    images: dict[str, Path] = {}
    for key in keys:
        path = data_dir / key
        if not path.is_file():
            raise PointingConfigError(f"{path}: stored image of view {key!r} not found")
        images[key] = path
    prepared = prepare_config(cfg, data_dir)
    path = Path(output) if output else default_points_path(prepared, data_dir, prompt, keys)
    point_capture(prepared, CaptureViews(data_dir, images), prompt, output=path, progress=progress)
    return path
