"""Exceptions raised by the pointing backends."""

from __future__ import annotations

from point2act.errors import Point2ActError

__all__ = [
    "PointingBackendError",
    "PointingConfigError",
    "PointingError",
    "PointingParseError",
    "truncate_answer",
]


def truncate_answer(text: str, limit: int = 200) -> str:
    """Return ``text`` shortened to at most ``limit`` characters for error messages.

    The middle is elided so that both the start and the end of the answer (where
    truncated markup usually shows) stay visible.
    """
    text = str(text)
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head - 5
    return f"{text[:head]} ... {text[-tail:]}" if tail > 0 else text[:limit]


class PointingError(Point2ActError, RuntimeError):
    """Base class of every error raised by :mod:`point2act.pointing`.

    A :class:`~point2act.errors.Point2ActError`, so the ``point2act`` CLI prints it as one
    paragraph (exit status 2) instead of a traceback.
    """


class PointingConfigError(PointingError, ValueError):
    """The :class:`~point2act.pointing.PointerConfig` cannot be used as given."""


class PointingBackendError(PointingError):
    """A backend failed to produce an answer (model load, HTTP failure, retries exhausted)."""


class PointingParseError(PointingError, ValueError):
    """A model answer could not be turned into points.

    Attributes:
        family: the answer family the parser expected (``"molmo"``, ``"qwen2.5-vl"``, ...).
        answer: the full raw answer text.
        reason: a short human-readable reason.
    """

    def __init__(self, family: str, answer: str, reason: str = "no points found") -> None:
        self.family = family
        self.answer = answer
        self.reason = reason
        super().__init__(
            f"could not parse a {family!r} pointing answer ({reason}): {truncate_answer(answer)!r}"
        )
