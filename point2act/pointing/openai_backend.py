"""Pointer backed by any OpenAI-compatible chat-completions server (vLLM, SGLang, Ollama, ...).

The image goes as a base64 data URL in a ``{"type": "image_url"}`` content part; the
answer text is parsed by the configured family. The API key is read from the environment
variable named in the config at each request and is never stored on the object, logged,
put in an exception message or written anywhere.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from point2act.pointing.base import ImageLike, load_image, resolve_family
from point2act.pointing.config import IMAGE_FORMAT, TEMPERATURE, PointerConfig
from point2act.pointing.errors import PointingBackendError, PointingConfigError, truncate_answer
from point2act.pointing.parsers import QWEN25_MAX_PIXELS, QWEN25_MIN_PIXELS, parse_answer, smart_resize
from point2act.pointing.prompts import render_prompt

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

__all__ = ["RETRY_STATUS", "OpenAIPointer", "encode_data_url"]

logger = logging.getLogger("point2act.pointing.openai")

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses that are retried (any other 5xx is retried as well)."""

_MAX_BACKOFF_S = 60.0


class _Transient(Exception):
    """A failure worth retrying (timeout, connection error, 429, 5xx, malformed body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def encode_data_url(image: Any, fmt: str = "png") -> str:
    """Encode a PIL image as a ``data:image/png;base64,...`` (or jpeg) URL."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=95)
        mime = "image/jpeg"
    elif fmt == "png":
        image.save(buf, format="PNG")
        mime = "image/png"
    else:
        raise PointingConfigError(f"image_format must be 'png' or 'jpeg', not {fmt!r}")
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class OpenAIPointer:
    """Points by asking an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        config: ``backend="openai"`` with ``base_url`` (e.g. ``http://host:8000/v1``) and ``model``.
        http_client: ``"httpx"`` (default when installed) or ``"urllib"`` (standard library).
        sleep: the function used to wait between retries (tests inject a fast one).

    Thread-safe: :func:`~point2act.pointing.point_views` calls :meth:`point` from a thread
    pool, and at most ``config.concurrency`` requests are in flight at any time.
    """

    def __init__(
        self,
        config: PointerConfig,
        http_client: Literal["auto", "httpx", "urllib"] = "auto",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not config.base_url:
            raise PointingConfigError("the openai backend needs base_url, e.g. http://localhost:8000/v1")
        if not config.model:
            raise PointingConfigError("the openai backend needs the server's model name in `model`")
        if config.concurrency < 1:
            raise PointingConfigError("concurrency must be >= 1")
        if config.max_retries < 0:
            raise PointingConfigError("max_retries must be >= 0")
        self.config = config
        self.family = resolve_family(config)
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._client: Any = None
        self._client_lock = threading.Lock()
        if http_client == "auto":
            try:
                import httpx  # noqa: F401

                http_client = "httpx"
            except ImportError:
                http_client = "urllib"
        self.http_client = http_client

    def __repr__(self) -> str:
        return (
            f"OpenAIPointer(url={self.url!r}, model={self.config.model!r}, family={self.family!r}, "
            f"api_key_env={self.config.api_key_env!r})"
        )

    # ------------------------------------------------------------------ public

    def point(self, image: ImageLike, prompt: str, *, key: str | None = None) -> list[list[float]]:
        """Ask the server for points of ``prompt`` on ``image``; pixels of ``image``.

        Raises:
            PointingParseError: the answer could not be parsed.
            PointingBackendError: non-retryable HTTP error, or retries exhausted.
        """
        pil = load_image(image)
        size = pil.size
        sent, input_size = self._prepare(pil)
        text = render_prompt(self.family, prompt, sent.size, self.config.template)
        body = {
            "model": self.config.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": encode_data_url(sent, IMAGE_FORMAT)},
                        },
                        {"type": "text", "text": text},
                    ],
                }
            ],
            "max_tokens": int(self.config.max_new_tokens),
            "temperature": TEMPERATURE,
        }
        answer = self.chat(body, key=key)
        logger.debug("view %s: answer %r", key, truncate_answer(answer))
        return parse_answer(answer, self.family, size, input_size=input_size)

    def chat(self, body: dict[str, Any], key: str | None = None) -> str:
        """POST ``body`` to the chat-completions endpoint with retries; return the answer text."""
        attempts = 1 + int(self.config.max_retries)
        last = "no attempt made"
        for attempt in range(attempts):
            try:
                with self._slots:
                    return self._post_once(body)
            except _Transient as exc:
                last = self._scrub(str(exc))
                if attempt + 1 >= attempts:
                    break
                delay = min(_MAX_BACKOFF_S, self.config.backoff_s * (2**attempt))
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, _MAX_BACKOFF_S))
                logger.warning(
                    "view %s: %s (attempt %d/%d), retrying in %.2f s", key, last, attempt + 1, attempts, delay
                )
                self._sleep(delay)
        raise PointingBackendError(
            f"openai backend: POST {self.url} failed after {attempts} attempt(s) "
            f"(max_retries={self.config.max_retries}); last error: {last}"
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _prepare(self, pil: Any) -> tuple[Any, tuple[int, int] | None]:
        """Resize the image to send; return it and the input size that pixel families refer to."""
        from PIL import Image

        w, h = pil.size
        if self.family == "qwen2.5-vl":
            # Resize locally with Qwen's own rule so that the server's resize is the identity and
            # the answer's absolute pixels refer to exactly the image we sent.
            rh, rw = smart_resize(h, w, min_pixels=QWEN25_MIN_PIXELS, max_pixels=QWEN25_MAX_PIXELS)
            sent = pil if (rw, rh) == (w, h) else pil.resize((rw, rh), Image.BICUBIC)
            return sent, (rw, rh)
        side = int(self.config.max_image_side)
        if side > 0 and max(w, h) > side:
            scale = side / float(max(w, h))
            sent = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
        else:
            sent = pil
        return sent, sent.size

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        api_key = os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""
        if api_key:
            headers["Authorization"] = "Bearer " + api_key
        return headers

    def _scrub(self, message: str) -> str:
        """Remove the API key from a message, should a server ever echo it back."""
        api_key = os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""
        return message.replace(api_key, "***") if api_key else message

    def _post_once(self, body: dict[str, Any]) -> str:
        data = json.dumps(body).encode("utf-8")
        if self.http_client == "httpx":
            status, retry_after, text = self._post_httpx(data)
        else:
            status, retry_after, text = self._post_urllib(data)
        if status != 200:
            # scrub before any truncation: a cut through an echoed key would leave a piece of it
            text = self._scrub(text)
        if status in RETRY_STATUS or status >= 500:
            raise _Transient(f"HTTP {status}: {truncate_answer(text, 160)}", _parse_retry_after(retry_after))
        if status >= 400:
            raise PointingBackendError(
                self._scrub(
                    f"openai backend: POST {self.url} returned HTTP {status}: {truncate_answer(text, 300)}"
                )
            )
        try:
            payload = json.loads(text)
            content = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Transient(f"malformed response body ({type(exc).__name__}): "
                             f"{truncate_answer(self._scrub(text), 160)}")
        if isinstance(content, list):  # some servers return content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content if isinstance(content, str) else ("" if content is None else str(content))

    def _get_httpx(self) -> Any:
        import httpx

        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.config.timeout_s),
                    limits=httpx.Limits(
                        max_connections=self.config.concurrency,
                        max_keepalive_connections=self.config.concurrency,
                    ),
                    follow_redirects=False,
                )
            return self._client

    def _post_httpx(self, data: bytes) -> tuple[int, str | None, str]:
        import httpx

        client = self._get_httpx()
        try:
            resp = client.post(self.url, content=data, headers=self._headers())
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out after {self.config.timeout_s} s ({type(exc).__name__})")
        except httpx.TransportError as exc:
            raise _Transient(f"connection error ({type(exc).__name__}: {exc})")
        return resp.status_code, resp.headers.get("retry-after"), resp.text

    def _post_urllib(self, data: bytes) -> tuple[int, str | None, str]:
        import socket
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                return resp.status, resp.headers.get("Retry-After"), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace") if exc.fp is not None else ""
            return exc.code, exc.headers.get("Retry-After") if exc.headers else None, text
        except TimeoutError as exc:
            raise _Transient(f"timed out after {self.config.timeout_s} s ({type(exc).__name__})")
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise _Transient(f"timed out after {self.config.timeout_s} s")
            raise _Transient(f"connection error ({exc.reason})")
        except (ConnectionError, OSError) as exc:
            raise _Transient(f"connection error ({type(exc).__name__}: {exc})")
