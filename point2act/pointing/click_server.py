"""``point2act point --backend click``: a person is the pointer, in a browser, before any training.

A small HTTP server on 127.0.0.1 shows the capture's views with the task. A click on a view puts a
point there (pixels of the stored image); "not in view" records ``[]`` (negative evidence); views
left alone get no supervision. "Save" writes the points file atomically and ends the server. Standard
library only; images are served by index, never by a path taken from the request.
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, List

from point2act.io import write_json_atomic
from point2act.points import parse_points

__all__ = ["ClickServer"]

logger = logging.getLogger("point2act.pointing")

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>point2act: click to point</title>
<style>body{font-family:sans-serif;margin:1em}figure{display:inline-block;margin:.5em;vertical-align:top}
.v{position:relative;display:inline-block}.v img{max-width:360px;cursor:crosshair;display:block}
.dot{position:absolute;width:10px;height:10px;margin:-5px 0 0 -5px;border-radius:50%;background:#f0c;
border:2px solid #fff;pointer-events:none}.none img{opacity:.35}figcaption{font-size:12px}</style></head>
<body><h3>Task: <span id="prompt">@@PROMPT@@</span></h3>
<p>Click on the target in the views that show it; press "not in view" where it is hidden. Views left
alone get no supervision. Then <button id="save">Save</button> <span id="status"></span></p>
@@FIGURES@@
<script>
const pts = {};
function draw(k) {
  const v = document.querySelector(`.v[data-key="${CSS.escape(k)}"]`), img = v.querySelector('img');
  v.querySelectorAll('.dot').forEach(d => d.remove());
  v.parentElement.classList.toggle('none', Array.isArray(pts[k]) && pts[k].length === 0);
  for (const [x, y] of (pts[k] || [])) {
    const d = document.createElement('div'); d.className = 'dot';
    d.style.left = (x * img.clientWidth / img.naturalWidth) + 'px';
    d.style.top = (y * img.clientHeight / img.naturalHeight) + 'px'; v.appendChild(d);
  }
}
document.querySelectorAll('.v img').forEach(img => img.addEventListener('click', e => {
  const k = img.parentElement.dataset.key, r = img.getBoundingClientRect();
  const x = (e.clientX - r.left) * img.naturalWidth / r.width, y = (e.clientY - r.top) * img.naturalHeight / r.height;
  pts[k] = (pts[k] || []).concat([[x, y]]); draw(k);
}));
document.querySelectorAll('button.none').forEach(b => b.addEventListener('click', () => { pts[b.dataset.key] = []; draw(b.dataset.key); }));
document.querySelectorAll('button.clear').forEach(b => b.addEventListener('click', () => { delete pts[b.dataset.key]; draw(b.dataset.key); }));
document.getElementById('save').addEventListener('click', async () => {
  const r = await fetch('/save', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(pts)});
  document.getElementById('status').textContent = await r.text();
});
</script></body></html>"""

_FIGURE = """<figure><div class="v" data-key="{key}"><img src="/image/{i}" alt="{key}"></div>
<figcaption>{key} <button class="none" data-key="{key}">not in view</button>
<button class="clear" data-key="{key}">clear</button></figcaption></figure>"""


class ClickServer:
    """Serve the click page for ``images`` (key -> stored image path) until the user saves.

    ``url`` is where to point a browser; :meth:`wait` blocks until the points file is written and
    returns its dict. ``on_saved`` (optional) is called with it."""

    def __init__(self, images: Dict[str, Path], prompt: str, output: Path, host: str = "127.0.0.1", port: int = 0,
                 on_saved: Callable[[dict], None] | None = None) -> None:
        self.keys: List[str] = list(images)
        self.paths: List[Path] = [Path(images[k]) for k in self.keys]
        self.prompt, self.output, self.on_saved = prompt, Path(output), on_saved
        self.result: dict | None = None
        self._done = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):  # quiet: the CLI prints what matters
                logger.debug("click server: " + fmt, *args)

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if self.path == "/":
                    figs = "\n".join(_FIGURE.format(key=html.escape(k, quote=True), i=i) for i, k in enumerate(server.keys))
                    page = _PAGE.replace("@@PROMPT@@", html.escape(server.prompt)).replace("@@FIGURES@@", figs)
                    return self._send(200, page.encode(), "text/html; charset=utf-8")
                if self.path.startswith("/image/"):
                    try:
                        p = server.paths[int(self.path[len("/image/"):])]
                    except (ValueError, IndexError):
                        return self._send(404, b"no such view", "text/plain")
                    return self._send(200, p.read_bytes(), mimetypes.guess_type(p.name)[0] or "application/octet-stream")
                return self._send(404, b"not found", "text/plain")

            def do_POST(self):  # noqa: N802
                if self.path != "/save":
                    return self._send(404, b"not found", "text/plain")
                try:
                    raw = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                    pts = {k: raw[k] for k in server.keys if k in raw}  # only the capture's own views
                    doc = {"prompt": server.prompt, "coordinates": "pixels", "points": pts,
                           "pointer": {"backend": "click"}}
                    parse_points(doc, "the click page")  # a structurally valid points file, or an error
                except Exception as e:  # noqa: BLE001  (shown on the page; the user can fix and save again)
                    return self._send(400, f"not saved: {e}".encode(), "text/plain; charset=utf-8")
                write_json_atomic(server.output, doc)
                server.result = doc
                n = sum(1 for v in pts.values() if v)
                self._send(200, f"saved {server.output} ({n} views with points, {len(pts) - n} not in view)".encode(),
                           "text/plain; charset=utf-8")
                if server.on_saved is not None:
                    server.on_saved(doc)
                server._done.set()

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="point2act-click", daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> dict | None:
        """Block until the user saves (or ``timeout_s``); the server is shut down either way."""
        try:
            self._done.wait(timeout_s)
        finally:
            self.close()
        return self.result

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
