"""Security: the API key comes only from the environment and is never logged, cached, exported or
saved in a run config; downloaded model code never runs unless asked; points-file keys are
matched, never opened (tests/test_bad_inputs.py checks that through ns-train and point2act check);
what the viewer listens on."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from pathlib import Path

import pytest

import badinputs as bi

SENTINEL = "sk-SENTINEL-3f9a0c71d2-never-write-me"
KEY_ENV = "POINT2ACT_SECURITY_TEST_KEY"


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return bi.make_base_scene(tmp_path_factory.mktemp("security") / "scene")


def _files_containing(root: Path, needle: str) -> list:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and needle.encode() in p.read_bytes():
            hits.append(p)
    return hits


def test_api_key_used_but_never_written_nor_logged(scene, tmp_path, monkeypatch, capsys, caplog):
    from point2act.cli import entrypoint

    monkeypatch.setenv(KEY_ENV, SENTINEL)
    caplog.set_level(logging.DEBUG)
    server = bi.ChatServer('[{"point_2d": [30, 20]}]')
    try:
        entrypoint(["point", "--data", str(scene), "--prompt", "the mug handle", "--backend", "openai",
                    "--base-url", server.base_url, "--model", "m", "--family", "json", "--api-key-env", KEY_ENV,
                    "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "points.json")])
    finally:
        server.close()
    out, err = capsys.readouterr()
    # the key really went to the server (so the sentinel would be findable if it leaked) ...
    assert server.requests and all(r["headers"]["Authorization"] == f"Bearer {SENTINEL}" for r in server.requests)
    # ... and is nowhere else: not in the points file, the cache entries, the console, the log
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert (tmp_path / "points.json") in written and len(list((tmp_path / "cache").rglob("*.json"))) == bi.NUM_VIEWS
    assert _files_containing(tmp_path, SENTINEL) == []
    assert SENTINEL not in out + err + caplog.text
    md = json.loads((tmp_path / "points.json").read_text())["metadata"]
    assert "api_key_env" not in json.dumps(md) and md["backend"] == "openai"


def _leaks(text: str) -> bool:
    """Any 8 consecutive characters of the key (a truncated message could hold a piece of it)."""
    return any(SENTINEL[i : i + 8] in text for i in range(3, len(SENTINEL) - 7))


@pytest.mark.parametrize("status", [401, 503])
@pytest.mark.parametrize("pad", [0, 25, 120])  # the cut of a 160 (503) / 300 (401) character message falls in the key
def test_api_key_echoed_by_server_is_scrubbed(status, pad, scene, tmp_path, monkeypatch, capsys, caplog):
    """A server that echoes the request headers in its error (401: not retried; 503: retried, then
    given up): the error names the URL and the status, with no piece of the key; nothing written
    holds it."""
    from point2act.cli import entrypoint

    monkeypatch.setenv(KEY_ENV, SENTINEL)
    caplog.set_level(logging.DEBUG)
    server = bi.ChatServer(status=status, echo_auth=True, pad=pad)
    try:
        with pytest.raises(SystemExit) as e:
            entrypoint(["point", "--data", str(scene), "--prompt", "the mug handle", "--backend", "openai",
                        "--base-url", server.base_url, "--model", "m", "--family", "json", "--api-key-env", KEY_ENV,
                        "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "points.json"),
                        "--quiet", "--max-retries", "1", "--backoff-s", "0.01"])
    finally:
        server.close()
    out, err = capsys.readouterr()
    assert e.value.code == 2 and f"HTTP {status}" in err and server.requests
    assert not _leaks(out + err + caplog.text), err
    assert _files_containing(tmp_path, SENTINEL) == []


def test_api_key_has_no_option_and_is_not_saved_in_the_run_config(scene, tmp_path, monkeypatch):
    """No option can hold the key itself (it would land in shell history, `ps` and config.yml);
    the run config ns-train saves names only the variable."""
    from nerfstudio.configs.method_configs import all_methods

    from point2act.cli import entrypoint
    from point2act.pointing.config import PointerConfig

    assert [f.name for f in dataclasses.fields(PointerConfig) if "key" in f.name] == ["api_key_env"]
    with pytest.raises(SystemExit) as e:  # tyro: unrecognized option
        entrypoint(["point", "--data", str(scene), "--prompt", "x", "--backend", "openai", "--api-key", SENTINEL])
    assert e.value.code != 0
    monkeypatch.setenv(KEY_ENV, SENTINEL)
    cfg = copy.deepcopy(all_methods["point2act"])
    cfg.output_dir = tmp_path / "outputs"
    cfg.pipeline.datamanager.data = scene
    cfg.pipeline.datamanager.pointer.backend = "openai"
    cfg.pipeline.datamanager.pointer.api_key_env = KEY_ENV
    cfg.set_timestamp()
    cfg.save_config()
    text = (Path(cfg.get_base_dir()) / "config.yml").read_text()
    assert KEY_ENV in text and SENTINEL not in text


def test_trust_remote_code_is_off_unless_asked(monkeypatch):
    """Defaults (API, point2act CLI, ns-train method config) are off; with them off, every
    transformers from_pretrained call gets trust_remote_code=False, and Molmo v1 (which needs its
    Hub code) refuses to load; --trust-remote-code turns it on."""
    import transformers
    import tyro
    from nerfstudio.configs.method_configs import all_methods

    from point2act.cli import Commands
    from point2act.pointing import PointerConfig, PointingConfigError
    from point2act.pointing.errors import PointingBackendError
    from point2act.pointing.hf_backend import HFPointer

    assert PointerConfig().trust_remote_code is False
    assert all_methods["point2act"].pipeline.datamanager.pointer.trust_remote_code is False
    cmd = tyro.cli(Commands, args=["point", "--data", "x", "--prompt", "y", "--backend", "qwen-vl"])
    assert cmd.pointer.trust_remote_code is False
    cmd = tyro.cli(Commands, args=["point", "--data", "x", "--prompt", "y", "--trust-remote-code"])
    assert cmd.pointer.trust_remote_code is True

    with pytest.raises(PointingConfigError, match="trust_remote_code"):
        HFPointer(PointerConfig(backend="molmo", model="allenai/Molmo-7B-D-0924"))

    calls = []

    def record(name):
        def from_pretrained(model_id, **kw):
            calls.append((name, kw.get("trust_remote_code")))
            if name == "model":
                raise RuntimeError("stop before any download")
            return object()
        return from_pretrained

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", record("config"))
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", record("processor"))
    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", record("model"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", record("model"))
    for backend, model in (("qwen-vl", "Qwen/Qwen2.5-VL-7B-Instruct"), ("qwen-vl", "some/local-dir"),
                           ("molmo2", "allenai/Molmo2-8B")):
        calls.clear()
        with pytest.raises((PointingBackendError, PointingConfigError)):
            HFPointer(PointerConfig(backend=backend, model=model, device="cpu")).load()
        assert calls and all(trust is False for _name, trust in calls), (backend, model, calls)
    calls.clear()
    with pytest.raises(PointingBackendError):
        HFPointer(PointerConfig(backend="molmo", model="allenai/Molmo-7B-D-0924", trust_remote_code=True,
                                device="cpu")).load()
    assert calls and all(trust is True for _name, trust in calls)


def test_viewer_defaults():
    """nerfstudio's viewer binds to every interface by default (0.0.0.0); point2act's ns-train
    method binds it to localhost."""
    from nerfstudio.configs.base_config import ViewerConfig
    from nerfstudio.configs.method_configs import all_methods

    assert ViewerConfig().websocket_host == "0.0.0.0"
    assert all_methods["point2act"].viewer.websocket_host == "127.0.0.1"
