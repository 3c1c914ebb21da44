"""The oracle pointer: ground-truth points of the synthetic scene, with noise and outliers.

It wraps a function ``(scene_dir, noise_px=, outlier_rate=, seed=, ...) -> points-file dict``,
by default :func:`point2act.synth.oracle_points`, imported lazily on first use. The function is
called once; views are then looked up by key. Any other function with that contract can be
injected (tests do, and so can users with their own ground truth).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from point2act.pointing.base import ImageLike
from point2act.pointing.config import ORACLE_MIN_VISIBLE_PX, PointerConfig
from point2act.pointing.errors import PointingBackendError, PointingConfigError

__all__ = ["OracleFn", "OraclePointer"]

logger = logging.getLogger("point2act.pointing.oracle")

OracleFn = Callable[..., Mapping[str, Any]]


def _default_oracle_fn() -> OracleFn:
    try:
        from point2act.synth import OracleSettings, oracle_points  # type: ignore[attr-defined]
    except ImportError as exc:
        raise PointingBackendError(
            "the oracle backend needs point2act.synth.oracle_points, which is not available "
            f"in this installation ({exc})"
        ) from exc

    def synth_oracle(scene_dir, noise_px: float = 0.0, outlier_rate: float = 0.0, seed: int = 0,
                     min_visible_px: int = ORACLE_MIN_VISIBLE_PX) -> Mapping[str, Any]:
        """``point2act.synth.oracle_points`` with the pointer's keyword settings."""
        settings = OracleSettings(noise_px=noise_px, outlier_rate=outlier_rate, min_visible_px=min_visible_px)
        return oracle_points(scene_dir, settings, seed=seed)

    return synth_oracle


class OraclePointer:
    """Returns the synthetic scene's ground-truth points for each view key.

    Args:
        config: ``backend="oracle"`` with ``scene_dir``; ``noise_px``, ``outlier_rate``, ``seed`` and
            ``min_visible_px`` (occlusion: :data:`~point2act.pointing.config.ORACLE_MIN_VISIBLE_PX`) are
            forwarded to the oracle function when its signature accepts them.
        oracle_fn: the ground-truth function; defaults to ``point2act.synth.oracle_points``.

    ``point`` ignores the prompt (the scene defines its target) and needs the view ``key``
    (:func:`~point2act.pointing.point_views` passes it). Keys are matched exactly, then by
    file name, then by stem; a path image without a key is looked up by its file name.
    A view that the oracle does not know raises ``KeyError``.
    """

    def __init__(self, config: PointerConfig, oracle_fn: OracleFn | None = None) -> None:
        if not config.scene_dir:
            raise PointingConfigError("the oracle backend needs scene_dir (the synthetic scene directory)")
        self.config = config
        self._fn = oracle_fn
        self._lock = threading.Lock()
        self._table: dict[str, list[list[float]]] | None = None
        self.points_file: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"OraclePointer(scene_dir={self.config.scene_dir!r}, noise_px={self.config.noise_px}, outlier_rate={self.config.outlier_rate})"

    def _load(self) -> dict[str, list[list[float]]]:
        with self._lock:
            if self._table is None:
                fn = self._fn or _default_oracle_fn()
                wanted = {
                    "noise_px": self.config.noise_px,
                    "outlier_rate": self.config.outlier_rate,
                    "seed": self.config.seed,
                    "min_visible_px": ORACLE_MIN_VISIBLE_PX,
                }
                try:
                    params = inspect.signature(fn).parameters
                    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
                    kwargs = {k: v for k, v in wanted.items() if takes_kwargs or k in params}
                except (TypeError, ValueError):  # builtins / C functions without a signature
                    kwargs = dict(wanted)
                dropped = sorted(set(wanted) - set(kwargs))
                if dropped:
                    logger.info("oracle function ignores %s", ", ".join(dropped))
                result = dict(fn(self.config.scene_dir, **kwargs))
                if result.get("coordinates", "pixels") != "pixels":
                    raise PointingBackendError(
                        f"oracle returned coordinates={result.get('coordinates')!r}; only 'pixels' is supported"
                    )
                self.points_file = result
                self._table = {
                    str(k): [list(map(float, p)) for p in v] for k, v in result.get("points", {}).items()
                }
            return self._table

    def _lookup(self, key: str) -> list[list[float]]:
        table = self._load()
        if key in table:
            return table[key]
        name, stem = Path(key).name, Path(key).stem
        for k, v in table.items():
            if Path(k).name == name:
                return v
        for k, v in table.items():
            if Path(k).stem == stem:
                return v
        raise KeyError(f"the oracle has no view {key!r} (it knows {len(table)} views)")

    def point(self, image: ImageLike, prompt: str, *, key: str | None = None) -> list[list[float]]:
        """Ground-truth points of the view ``key`` (or of the image file's name)."""
        if key is None:
            if isinstance(image, (str, Path)):
                key = Path(image).name
            else:
                raise PointingConfigError(
                    "the oracle pointer needs the view key: point(image, prompt, key=...)"
                )
        return [list(p) for p in self._lookup(key)]

    def close(self) -> None:
        """Nothing to release."""
        return
