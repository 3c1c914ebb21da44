"""Build the pointer a :class:`~point2act.pointing.config.PointerConfig` names (no heavy import until used)."""

from __future__ import annotations

from typing import Any

from point2act.pointing.base import Pointer
from point2act.pointing.config import PointerConfig
from point2act.pointing.errors import PointingConfigError
from point2act.pointing.parsers import FAMILIES


def make_pointer(cfg: PointerConfig, **kwargs: Any) -> Pointer:
    """Build the pointer that ``cfg.backend`` names.

    Cheap: local models are loaded on the first ``point`` call (or ``pointer.load()``), the
    HTTP client on the first request, the oracle's ground truth on the first lookup.

    Args:
        cfg: the pointer configuration.
        **kwargs: backend-specific injections: ``oracle_fn=`` for the oracle;
            ``http_client=``/``sleep=`` for openai.

    Raises:
        PointingConfigError: unknown backend or unusable settings (e.g. Molmo v1 without
            ``trust_remote_code``, openai without ``base_url``).
    """
    if cfg.on_parse_error not in ("empty", "skip", "raise"):
        raise PointingConfigError(
            f"on_parse_error must be 'empty', 'skip' or 'raise', not {cfg.on_parse_error!r}"
        )
    if cfg.family not in ("auto",) + FAMILIES:
        raise PointingConfigError(
            f"unknown family {cfg.family!r}; expected auto or one of {', '.join(FAMILIES)}"
        )
    if cfg.backend == "click":
        raise PointingConfigError(
            "the click backend is a person in a browser: run `point2act point --backend click --data CAPTURE "
            "--prompt ...` and pass the points file it writes (--pipeline.datamanager.points-file)"
        )
    if cfg.backend == "oracle":
        from point2act.pointing.oracle import OraclePointer

        return OraclePointer(cfg, **kwargs)
    if cfg.backend == "openai":
        from point2act.pointing.openai_backend import OpenAIPointer

        return OpenAIPointer(cfg, **kwargs)
    if cfg.backend in ("molmo", "molmo2", "qwen-vl"):
        from point2act.pointing.hf_backend import HFPointer

        return HFPointer(cfg, **kwargs)
    raise PointingConfigError(
        f"unknown pointing backend {cfg.backend!r}; expected molmo, molmo2, qwen-vl, openai or oracle"
    )
