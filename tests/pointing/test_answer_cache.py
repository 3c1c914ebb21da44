"""The answer cache: reruns do not query again, keys follow content and settings, corrupt entries
are re-queried, entries are atomic and never hold the API key."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from point2act.pointing import PointerConfig, PointingParseError, load_image
from point2act.pointing.answer_cache import (
    AnswerCache,
    CachedPointer,
    answer_signature,
    default_cache_dir,
    image_digest,
)
from point2act.pointing.run import CaptureViews, point_capture



@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache."""
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "default-cache"))


class CountingPointer:
    """Answers the centre of the image (scaled by 0.5) and counts its calls."""

    def __init__(self, delay: float = 0.0, fail: set[str] | None = None, **cfg):
        base = {"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "fake", "family": "json"}
        base.update(cfg)
        self.config = PointerConfig(**base)
        self.family = "json"
        self.delay = delay
        self.fail = fail or set()
        self.calls: list[tuple[str | None, str]] = []
        self.lock = threading.Lock()

    def point(self, image, prompt, *, key=None):
        with self.lock:
            self.calls.append((key, prompt))
        if self.delay:
            time.sleep(self.delay)
        if key in self.fail:
            raise PointingParseError("json", "I cannot help with that.", "a refusal")
        w, h = load_image(image).size
        return [[w * 0.5, h * 0.25]]

    def close(self):
        pass


@pytest.fixture
def capture(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for i in range(6):
        path = tmp_path / "images" / f"{i:04d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
        images[f"images/{path.name}"] = path
    return images


def run(pointer, images, prompt="where to grasp to pour", **cfg):
    return point_capture(replace(pointer.config, **cfg), CaptureViews(None, images), prompt, pointer=pointer, progress=False)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*.json"))


def test_rerun_hits_the_cache_and_does_not_query(tmp_path, capture):
    cache_dir = tmp_path / "cache"
    first_ptr = CountingPointer(delay=0.05)
    t0 = time.perf_counter()
    first = run(first_ptr, capture, cache_dir=str(cache_dir))
    t_first = time.perf_counter() - t0
    assert len(first_ptr.calls) == 6
    assert first["metadata"]["cache"] == {
        "dir": str(cache_dir), "refresh": False, "hits": 0, "misses": 6, "corrupt": 0, "writes": 6,
    }
    assert len(entries(cache_dir)) == 6

    second_ptr = CountingPointer(delay=0.05)
    t0 = time.perf_counter()
    second = run(second_ptr, capture, cache_dir=str(cache_dir))
    t_second = time.perf_counter() - t0
    assert second_ptr.calls == []  # not one query
    assert second["metadata"]["cache"]["hits"] == 6 and second["metadata"]["cache"]["misses"] == 0
    assert second["points"] == first["points"]
    # no timing assertion: under CI's load a wall-clock ratio is noise; the zero queries above are the test
    print(f"cache: first run {t_first * 1e3:.1f} ms (6 queries), rerun {t_second * 1e3:.1f} ms (0 queries)")


def test_refresh_asks_again(tmp_path, capture):
    run(CountingPointer(), capture, cache_dir=str(tmp_path / "cache"))
    again = CountingPointer()
    out = run(again, capture, cache_dir=str(tmp_path / "cache"), refresh_cache=True)
    assert len(again.calls) == 6 and out["metadata"]["cache"]["misses"] == 6


def test_no_cache_option(tmp_path, capture):
    p = CountingPointer()
    out = run(p, capture, cache=False, cache_dir=str(tmp_path / "cache"))
    assert "cache" not in out["metadata"] and entries(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "something to cut the paper with"},
        {"model": "another-model"},
        {"family": "qwen3-vl"},
        {"template": "Where? {task}"},
        {"max_image_side": 16},
    ],
)
def test_key_follows_prompt_backend_model_and_template(tmp_path, capture, change):
    run(CountingPointer(), capture, cache_dir=str(tmp_path / "cache"))
    prompt = change.pop("prompt", "where to grasp to pour")
    p = CountingPointer(**change)
    run(p, capture, prompt=prompt, cache_dir=str(tmp_path / "cache"))
    assert len(p.calls) == 6


def test_key_follows_image_content_not_name(tmp_path, capture):
    run(CountingPointer(), capture, cache_dir=str(tmp_path / "c"))
    # same bytes under other names: hits; one changed image: one miss
    renamed = {}
    for i, (key, path) in enumerate(capture.items()):
        new = tmp_path / "copy" / f"view_{i}.png"
        new.parent.mkdir(exist_ok=True)
        new.write_bytes(path.read_bytes())
        renamed[f"copy/{new.name}"] = new
    arr = np.asarray(Image.open(renamed["copy/view_0.png"])).copy()
    arr[0, 0] ^= 1
    Image.fromarray(arr).save(renamed["copy/view_0.png"])
    p = CountingPointer()
    run(p, renamed, cache_dir=str(tmp_path / "c"))
    assert [k for k, _ in p.calls] == ["copy/view_0.png"]


def test_oracle_key_includes_the_view(tmp_path):
    cfg = PointerConfig(backend="oracle", scene_dir=str(tmp_path))
    cache = AnswerCache(tmp_path / "c")

    class Oracle:
        config = cfg
        calls = 0

        def point(self, image, prompt, *, key=None):
            Oracle.calls += 1
            return [[1.0, 2.0]] if key == "a" else []

        def close(self):
            pass

    cp = CachedPointer(Oracle(), cache)
    img = np.zeros((4, 4, 3), np.uint8)
    assert cp.point(img, "p", key="a") == [[1.0, 2.0]]
    assert cp.point(img, "p", key="b") == []  # same pixels, other view: asked again
    assert cp.point(img, "p", key="a") == [[1.0, 2.0]] and Oracle.calls == 2


@pytest.mark.parametrize(
    "garbage",
    [b"{not json", b"", b'{"version": 1, "points": "nope"}', b"\xff\xfe\x00", b'{"version": 1, "key": "x", "points": []}'],
)
def test_corrupt_entry_is_requeried_with_a_warning(tmp_path, capture, caplog, garbage):
    run(CountingPointer(), capture, cache_dir=str(tmp_path / "cache"))
    victim = entries(tmp_path / "cache")[0]
    victim.write_bytes(garbage)
    caplog.set_level(logging.WARNING, logger="point2act")
    p = CountingPointer()
    out = run(p, capture, cache_dir=str(tmp_path / "cache"))
    assert len(p.calls) == 1
    md = out["metadata"]["cache"]
    assert (md["hits"], md["misses"], md["corrupt"]) == (5, 1, 1)
    assert "corrupt cache entry" in caplog.text and p.calls[0][0] in caplog.text
    entry = json.loads(victim.read_text())  # rewritten, valid again
    assert entry["points"] and entry["key"] == victim.stem


def test_corrupt_entry_with_bad_points_shape(tmp_path, capture):
    run(CountingPointer(), capture, cache_dir=str(tmp_path / "cache"))
    victim = entries(tmp_path / "cache")[0]
    entry = json.loads(victim.read_text())
    entry["points"] = [[1.0, float("nan")]]
    victim.write_text(json.dumps(entry))
    p = CountingPointer()
    run(p, capture, cache_dir=str(tmp_path / "cache"))
    assert len(p.calls) == 1


def test_unparseable_answers_are_cached_too(tmp_path, capture, caplog):
    caplog.set_level(logging.WARNING, logger="point2act")
    first = CountingPointer(fail={"images/0002.png"})
    out1 = run(first, capture, cache_dir=str(tmp_path / "cache"))
    assert out1["points"]["images/0002.png"] == [] and "images/0002.png" in out1["metadata"]["parse_errors"]
    second = CountingPointer()
    out2 = run(second, capture, cache_dir=str(tmp_path / "cache"))
    assert second.calls == []
    assert out2["points"] == out1["points"]
    assert "cached answer" in out2["metadata"]["parse_errors"]["images/0002.png"]


def test_entries_are_atomic_small_json(tmp_path, capture):
    run(CountingPointer(), capture, cache_dir=str(tmp_path / "cache"))
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == 6
    assert all(p.suffix == ".json" and not p.name.startswith(".") for p in files)  # no temp files left
    for p in files:
        e = json.loads(p.read_text())
        assert p.parent.name == p.stem[:2] and e["key"] == p.stem
        assert {"image_sha256", "prompt", "backend", "model", "family", "template", "points"} <= set(e)
        assert p.stat().st_size < 1000


def test_key_holds_the_settings_that_are_constants():
    """Settings that are no options keep their entries in the key, so a cached answer keeps its key."""
    sig = answer_signature(PointerConfig(backend="openai", base_url="http://x/v1", model="m"))
    assert {k: sig[k] for k in ("revision", "min_pixels", "max_pixels", "temperature", "image_format")} == {
        "revision": "", "min_pixels": 0, "max_pixels": 0, "temperature": 0.0, "image_format": "png"}
    assert answer_signature(PointerConfig(backend="oracle", scene_dir="/s"))["min_visible_px"] == 12
    # the key of a fixed request (CACHE_VERSION 1): answers cached before stay found
    key = AnswerCache.key("0" * 64, "p", sig)
    assert key == "564465ec3cc8c2c9bafb3e0b664dc7ca25330b98b11d665f13a26c4ab8f43157"


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    assert AnswerCache().dir == tmp_path / "x"
    monkeypatch.delenv("POINT2ACT_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "point2act" / "points"


def test_image_digest_kinds(tmp_path):
    arr = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    pil = Image.fromarray(arr)
    assert image_digest(pil) == image_digest(pil.copy())
    assert image_digest(arr) == image_digest(arr.copy()) != image_digest(arr[:, :2])
    path = tmp_path / "a.png"
    pil.save(path)
    assert image_digest(path) == image_digest(str(path))


# -- the API key never reaches the cache, over the real openai backend ---------------------------

SECRET = "sk-cache-test-NEVER-WRITE-91d2"


class _Server:
    def __init__(self):
        self.count = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                return

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.count += 1
                body = json.dumps({"choices": [{"message": {"role": "assistant",
                                                            "content": '[{"point_2d": [3, 4]}]'}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_api_key_never_in_cache_or_points_file(tmp_path, capture, monkeypatch, caplog):
    monkeypatch.setenv("P2A_CACHE_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    server = _Server()
    try:
        cfg = PointerConfig(backend="openai", base_url=server.url, model="m", family="json",
                            api_key_env="P2A_CACHE_TEST_KEY", cache_dir=str(tmp_path / "cache"), backoff_s=0.01)
        out_path = tmp_path / "points.json"
        point_capture(cfg, CaptureViews(None, capture), "I'm thirsty", output=out_path, progress=False)
        assert server.count == 6
        point_capture(cfg, CaptureViews(None, capture), "I'm thirsty", output=out_path, progress=False)
        assert server.count == 6  # second run: all from the cache
    finally:
        server.close()
    for p in [out_path, *(tmp_path / "cache").rglob("*")]:
        if p.is_file():
            assert SECRET not in p.read_text(errors="replace"), p
    assert SECRET not in caplog.text
    data = json.loads(out_path.read_text())
    assert data["points"]["images/0000.png"] == [[3.0, 4.0]]
    assert "api_key_env" not in data["metadata"]["pointer"]
