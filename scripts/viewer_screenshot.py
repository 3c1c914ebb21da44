"""Screenshot of a trained run in nerfstudio's viewer, from a real headless Chromium (the README's pictures).

Starts ``ns-viewer --load-config RUN/config.yml`` on 127.0.0.1, opens it in Debian's Chromium through
Playwright, waits for the relevancy composite (the default output), shows the action point and the
top grasp of ``RUN/grasps.json`` (``point2act export`` writes it; ``--top`` grasps are shown, the file
is restored afterwards), looks at the action point from the training view that sees it best, moves
the mouse off the panel (no tooltip) and saves a PNG without the page's top bar.

    python scripts/viewer_screenshot.py --config outputs/demo/runs/demo/point2act/run/config.yml --out docs/viewer.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _render_width(text: str) -> int:
    """Width of the viewer's last render ("Resolution: WxHpx" in its panel); 0 before the first."""
    import re

    m = re.search(r"Resolution:\s*(\d+)x(\d+)px", text)
    return int(m.group(1)) if m else 0


def screenshot(config: Path, out: Path, width: int = 1280, height: int = 800, settle_s: float = 6.0,
               top: int = 1, min_render_width: int = 400) -> Path:
    import json

    from playwright.sync_api import sync_playwright

    grasps = Path(config).parent / "grasps.json"
    original = grasps.read_text() if grasps.is_file() else None
    if original is not None:
        data = json.loads(original)
        data["grasps"] = (data.get("grasps") or [])[:top]
        grasps.write_text(json.dumps(data))

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("chromium not found (scripts/sysdeps.sh installs it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    log = open(out.with_suffix(".ns-viewer.log"), "w")
    viewer = subprocess.Popen([str(bin_dir / "ns-viewer"), "--load-config", str(config), "--viewer.websocket-host",
                               "127.0.0.1", "--viewer.websocket-port", str(port)], stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    url = f"http://127.0.0.1:{port}/"
    try:
        t0 = time.time()
        while True:
            if viewer.poll() is not None:
                raise SystemExit(f"ns-viewer exited; see {log.name}")
            try:
                urllib.request.urlopen(url, timeout=2).read(100)
                break
            except OSError:
                if time.time() - t0 > 180:
                    raise SystemExit("ns-viewer did not start serving") from None
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.get_by_role("button", name="Look at action point").wait_for(timeout=180_000)
            t0 = time.time()  # the composite becomes the output once the first render lists the outputs
            while "relevancy_composite" not in page.locator("body").inner_text() and time.time() - t0 < 60:
                time.sleep(0.5)
            time.sleep(2.0)
            page.get_by_role("button", name="Look at action point").click()
            page.mouse.move(5, height - 5)  # off the panel: no tooltip in the picture
            time.sleep(settle_s)  # the full-resolution render lands
            t0 = time.time()
            while _render_width(page.locator("body").inner_text()) < min_render_width and time.time() - t0 < 300:
                time.sleep(1.0)  # a CPU render of a large capture takes a while (previews come first)
            time.sleep(1.0)
            top_bar = page.locator("canvas").first.bounding_box()["y"]  # the page's banner (a logo from the web)
            page.screenshot(path=str(out), clip={"x": 0, "y": top_bar, "width": width, "height": height - top_bar})
            browser.close()
    finally:
        if original is not None:
            grasps.write_text(original)
        os.killpg(viewer.pid, signal.SIGTERM)
        viewer.wait(timeout=30)
        log.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, required=True, help="the run's config.yml")
    ap.add_argument("--out", type=Path, default=Path("docs/viewer.png"))
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--top", type=int, default=1, help="how many of grasps.json's grasps to show")
    a = ap.parse_args()
    print(f"wrote {screenshot(a.config, a.out, a.width, a.height, top=a.top)}")


if __name__ == "__main__":
    main()
