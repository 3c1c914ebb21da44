"""The openai backend against a real HTTP server on 127.0.0.1, over a real socket."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from point2act.pointing import (
    PointerConfig,
    PointingBackendError,
    PointingConfigError,
    PointingParseError,
    make_pointer,
    point_views,
)

SECRET = "sk-test-DO-NOT-LEAK-6f1c2a"
KEY_ENV = "POINT2ACT_TEST_API_KEY"


class StubServer:
    """A chat-completions server whose replies follow a script of (status, body, delay, headers)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, str, float, dict]] = []
        self.default: tuple[int, str, float, dict] = (200, self.answer('[{"point_2d": [10, 20]}]'), 0.0, {})
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with stub.lock:
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                    stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": raw})
                    status, body, delay, headers = stub.script.pop(0) if stub.script else stub.default
                try:
                    if delay:
                        time.sleep(delay)
                    if callable(body):
                        body = body(self)
                    data = body.encode()
                finally:
                    # out of flight before the reply is written: the client holds its slot until it has read the
                    # reply, and may start its next request before this thread runs again after the write
                    with stub.lock:
                        stub.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # poll_interval: shutdown() waits up to one interval for the loop to notice
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @staticmethod
    def answer(content: str) -> str:
        return json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            }
        )

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = StubServer()
    yield s
    s.close()


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def cfg(server: StubServer, **kw) -> PointerConfig:
    base = {
        "backend": "openai",
        "base_url": server.base_url,
        "model": "test-model",
        "family": "json",
        "api_key_env": KEY_ENV,
        "timeout_s": 5.0,
        "max_retries": 2,
        "backoff_s": 0.01,
        "concurrency": 2,
    }
    base.update(kw)
    return PointerConfig(**base)


def image(w=64, h=48, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def decode_data_url(url: str) -> Image.Image:
    head, b64 = url.split(",", 1)
    assert head in ("data:image/png;base64", "data:image/jpeg;base64")
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_request_shape_and_points(server, api_key, tmp_path):
    p = make_pointer(cfg(server))
    Image.fromarray(image(32, 24, 1)).save(tmp_path / "v2.png")
    out = point_views(p, {"v1.png": image(), "v2.png": tmp_path / "v2.png"}, "the mug handle", progress=False)
    assert out["prompt"] == "the mug handle" and out["coordinates"] == "pixels"
    assert out["points"] == {"v1.png": [[10.0, 20.0]], "v2.png": [[10.0, 20.0]]}
    assert out["metadata"]["backend"] == "openai" and out["metadata"]["family"] == "json"
    assert len(server.requests) == 2
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {SECRET}"
    body = json.loads(req["body"])
    assert body["model"] == "test-model" and body["max_tokens"] == 256 and body["temperature"] == 0.0
    (msg,) = body["messages"]
    assert msg["role"] == "user"
    parts = {part["type"]: part for part in msg["content"]}
    sent = decode_data_url(parts["image_url"]["image_url"]["url"])
    assert sent.size in ((64, 48), (32, 24))
    assert "the mug handle" in parts["text"]["text"]
    p.close()


def test_no_key_env_sends_no_authorization(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with make_pointer(cfg(server)) as p:
        assert p.point(image(), "x") == [[10.0, 20.0]]
    assert "Authorization" not in server.requests[0]["headers"]


def test_png_and_downscale(server, api_key):
    server.default = (200, StubServer.answer('[{"point_2d": [16, 12]}]'), 0.0, {})
    p = make_pointer(cfg(server, max_image_side=32))
    pts = p.point(image(64, 48), "x")
    body = json.loads(server.requests[0]["body"])
    sent = decode_data_url(body["messages"][0]["content"][0]["image_url"]["url"])
    assert sent.format == "PNG" and sent.size == (32, 24)
    assert pts == [[32.0, 24.0]]  # mapped back to the original 64x48 pixels


def test_qwen25_family_resizes_like_the_processor(server, api_key):
    # the server's Qwen2.5-VL answers in pixels of its resized input; we send that size ourselves
    server.default = (
        200,
        StubServer.answer('```json\n[{"point_2d": [322, 238], "label": "c"}]\n```'),
        0.0,
        {},
    )
    p = make_pointer(cfg(server, family="qwen2.5-vl"))
    pts = p.point(image(640, 480), "x")
    body = json.loads(server.requests[0]["body"])
    assert decode_data_url(body["messages"][0]["content"][0]["image_url"]["url"]).size == (644, 476)
    assert np.allclose(pts, [[320.0, 240.0]])


def test_retries_500_then_success(server, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    server.script = [(500, '{"error": "boom"}', 0.0, {}), (502, "bad gateway", 0.0, {})]
    sleeps: list[float] = []
    p = make_pointer(cfg(server, backoff_s=0.5), sleep=sleeps.append)
    assert p.point(image(), "x") == [[10.0, 20.0]]
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff
    assert "HTTP 500" in caplog.text and "retrying" in caplog.text


def test_429_honours_retry_after(server, api_key):
    server.script = [(429, '{"error": "rate limited"}', 0.0, {"Retry-After": "3"})]
    sleeps: list[float] = []
    p = make_pointer(cfg(server, backoff_s=0.25), sleep=sleeps.append)
    assert p.point(image(), "x") == [[10.0, 20.0]]
    assert sleeps == [3.0]
    assert len(server.requests) == 2


def test_retries_exhausted_message(server, api_key, caplog):
    caplog.set_level(logging.DEBUG)
    server.default = (503, '{"error": "overloaded"}', 0.0, {})
    p = make_pointer(cfg(server, max_retries=2))
    with pytest.raises(PointingBackendError) as err:
        point_views(p, {"v1.png": image()}, "x", progress=False)
    msg = str(err.value)
    assert "failed after 3 attempt(s)" in msg and "max_retries=2" in msg and "HTTP 503" in msg
    assert server.base_url in msg
    assert len(server.requests) == 3
    assert SECRET not in msg and SECRET not in caplog.text


def test_client_error_is_not_retried_and_key_scrubbed(server, api_key):
    # a server that echoes the Authorization header back in its error body
    def echo(handler):
        return json.dumps({"error": "bad request", "auth": handler.headers.get("Authorization")})

    server.default = (400, echo, 0.0, {})
    p = make_pointer(cfg(server))
    with pytest.raises(PointingBackendError) as err:
        p.point(image(), "x")
    assert "HTTP 400" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)
    assert len(server.requests) == 1


def test_timeout_is_retried_then_fails(server, api_key):
    server.default = (200, StubServer.answer("[]"), 1.0, {})
    p = make_pointer(cfg(server, timeout_s=0.2, max_retries=1))
    start = time.perf_counter()
    with pytest.raises(PointingBackendError) as err:
        p.point(image(), "x")
    assert "timed out" in str(err.value) and "2 attempt(s)" in str(err.value)
    assert time.perf_counter() - start < 3.0
    assert len(server.requests) == 2


def test_timeout_then_success(server, api_key):
    server.script = [(200, StubServer.answer("[]"), 1.0, {})]
    p = make_pointer(cfg(server, timeout_s=0.2, max_retries=1))
    assert p.point(image(), "x") == [[10.0, 20.0]]


def test_malformed_response_body(server, api_key):
    server.default = (200, "{not json", 0.0, {})
    p = make_pointer(cfg(server, max_retries=1))
    with pytest.raises(PointingBackendError) as err:
        p.point(image(), "x")
    assert "malformed response body" in str(err.value)
    assert len(server.requests) == 2
    server.default = (200, json.dumps({"choices": []}), 0.0, {})
    with pytest.raises(PointingBackendError):
        p.point(image(), "x")


def test_malformed_answer_policies(server, api_key, caplog):
    server.default = (200, StubServer.answer('```json\n[{"point_2d": [1'), 0.0, {})
    imgs = {"bad_view.png": image()}
    caplog.set_level(logging.WARNING)
    out = point_views(make_pointer(cfg(server)), imgs, "x", progress=False)
    assert out["points"] == {"bad_view.png": []}
    assert "bad_view.png" in out["metadata"]["parse_errors"]
    assert "bad_view.png" in caplog.text and "unparseable" in caplog.text
    out = point_views(make_pointer(cfg(server, on_parse_error="skip")), imgs, "x", progress=False)
    assert out["points"] == {}
    with pytest.raises(PointingParseError) as err:
        point_views(make_pointer(cfg(server, on_parse_error="raise")), imgs, "x", progress=False)
    assert "bad_view.png" in str(err.value) and "json" in str(err.value)


def test_concurrency_limit(server, api_key):
    server.default = (200, StubServer.answer('[{"point_2d": [1, 2]}]'), 0.15, {})
    imgs = {f"v{i}.png": image(seed=i) for i in range(8)}
    p = make_pointer(cfg(server, concurrency=3))
    out = point_views(p, imgs, "x", progress=False)
    assert list(out["points"]) == list(imgs)  # view order preserved
    assert len(server.requests) == 8
    assert server.max_in_flight == 3  # really concurrent, and no more than asked (no wall-clock test)


def test_concurrency_limit_holds_for_direct_calls(server, api_key):
    server.default = (200, StubServer.answer("[]"), 0.1, {})
    p = make_pointer(cfg(server, concurrency=2))
    threads = [threading.Thread(target=p.point, args=(image(), "x")) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.max_in_flight <= 2 and len(server.requests) == 6


def test_api_key_never_leaks(server, api_key, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # including httpx/httpcore debug logs
    server.script = [(500, "oops", 0.0, {})]
    c = cfg(server)
    p = make_pointer(c, sleep=lambda s: None)
    out = point_views(p, {"v.png": image()}, "x", progress=False)
    for text in (caplog.text, repr(p), repr(c), str(c), json.dumps(out)):
        assert SECRET not in text
    assert KEY_ENV in repr(p)  # the variable's name is fine to show
    path = tmp_path / "points.json"
    path.write_text(json.dumps(out))
    assert SECRET not in path.read_text()


def test_urllib_client(server, api_key):
    p = make_pointer(cfg(server, timeout_s=0.3, max_retries=1), http_client="urllib")
    assert p.point(image(), "x") == [[10.0, 20.0]]
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {SECRET}"
    server.script = [(500, "x", 0.0, {})]
    assert p.point(image(), "x") == [[10.0, 20.0]]
    server.default = (200, StubServer.answer("[]"), 1.0, {})
    with pytest.raises(PointingBackendError) as err:
        p.point(image(), "x")
    assert "timed out" in str(err.value)


def test_connection_refused(api_key):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    c = PointerConfig(
        backend="openai",
        base_url=f"http://127.0.0.1:{port}/v1",
        model="m",
        api_key_env=KEY_ENV,
        max_retries=1,
        backoff_s=0.0,
    )
    with pytest.raises(PointingBackendError) as err:
        make_pointer(c).point(image(), "x")
    assert "connection error" in str(err.value)


def test_config_errors():
    with pytest.raises(PointingConfigError):
        make_pointer(PointerConfig(backend="openai", model="m"))
    with pytest.raises(PointingConfigError):
        make_pointer(PointerConfig(backend="openai", base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(PointingConfigError):
        make_pointer(
            PointerConfig(backend="openai", base_url="http://127.0.0.1:1/v1", model="m", concurrency=0)
        )
