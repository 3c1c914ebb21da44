"""`point2act point --backend click` in a real headless Chromium: clicks on a view become points in
pixels of the stored image, "not in view" becomes [], untouched views are left out."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("chromium not installed (scripts/sysdeps.sh installs it)")


def test_clicks_in_the_browser_become_a_points_file(tmp_path):
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from point2act.cli import entrypoint
    from point2act.pointing import click_server
    from point2act.points import load_points_file

    # a tiny capture: three 320x240 views
    (tmp_path / "images").mkdir()
    frames = []
    for i in range(3):
        Image.fromarray(np.full((240, 320, 3), 60 * (i + 1), np.uint8)).save(tmp_path / "images" / f"{i}.png")
        frames.append({"file_path": f"images/{i}.png", "transform_matrix": np.eye(4).tolist()})
    (tmp_path / "transforms.json").write_text(json.dumps(
        {"fl_x": 300, "fl_y": 300, "cx": 160, "cy": 120, "w": 320, "h": 240, "frames": frames}))
    out = tmp_path / "points.json"
    started = {}
    orig = click_server.ClickServer.__init__

    def spy(self, *a, **k):  # learn the URL the CLI serves on
        orig(self, *a, **k)
        started["url"] = self.url

    click_server.ClickServer.__init__ = spy
    try:
        cli = threading.Thread(target=entrypoint, args=(["point", "--data", str(tmp_path), "--prompt", "the mug",
                                                         "--backend", "click", "--output", str(out)],), daemon=True)
        cli.start()
        # the CLI imports and loads the capture in its thread first: under a loaded CI (the other xdist
        # worker training) that took more than 10 s once; wait for the server as long as the thread lives
        for _ in range(1200):
            if "url" in started or not cli.is_alive():
                break
            threading.Event().wait(0.1)
        assert "url" in started, "the click server did not start (the `point2act point` thread ended or hung)"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(started["url"])
            assert page.locator("#prompt").inner_text() == "the mug"
            img = page.locator('.v[data-key="images/0.png"] img')
            img.wait_for()
            box = img.bounding_box()  # shown at max 360 px wide: 320 px natural -> scale 1
            img.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
            page.locator('button.none[data-key="images/1.png"]').click()
            page.locator("#save").click()
            page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
            browser.close()
        cli.join(timeout=10)
    finally:
        click_server.ClickServer.__init__ = orig
    pf = load_points_file(out)
    assert pf.prompt == "the mug" and pf.coordinates == "pixels"
    assert set(pf.points) == {"images/0.png", "images/1.png"}  # the untouched view gets no supervision
    (x, y), = pf.points["images/0.png"]
    assert abs(x - 80) < 2 and abs(y - 120) < 2
    assert pf.points["images/1.png"] == []
