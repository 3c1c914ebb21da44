"""ns-viewer on the shared briefly trained synthetic run (``trained_synth``): it loads the checkpoint, and the
viewer works in a real browser, headless Chromium. One ns-viewer process serves both tests.

The browser test asserts on what a person sees: the composite output tints the pixels around the action point
(and not far from it), the grasp shapes appear around it, the prompt is shown, "Compute grasps"
and "Export" work, and Export writes the same bytes as ``point2act export`` on the run (for the trained
relevancy) and as ``point2act export --grasp-channel click --channels click`` (for the clicked channel). Screenshots are saved under ``$POINT2ACT_ARTIFACTS`` (default
``/tmp/point2act-artifacts/viewer``).

Needs Debian's ``chromium`` (``scripts/sysdeps.sh`` installs it) and the ``playwright`` Python
package (the ``dev`` extra; no browser download: it drives /usr/bin/chromium). Without them the
test fails, loudly, unless ``POINT2ACT_SKIP_BROWSER=1``.

Each screenshot is taken once the view has settled: the viewer has sent the page a full-resolution render
(:data:`HIGH_RES`, nerfstudio's "Max res": what it renders once the camera stops) and nothing else for a moment,
as the page's websocket shows. Chromium keeps about a core busy while it is open (its software GL redraws the 3D
canvas on every frame), so the browser opens after the viewer serves and closes before the command line export
runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import inside, run_tool, target_box

# the run is the shared trained_synth fixture: under pytest-xdist these tests run in the worker that trained it
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="trained_synth")]

BIN = Path(sys.executable).parent
ARTIFACTS = Path(os.environ.get("POINT2ACT_ARTIFACTS", "/tmp/point2act-artifacts")) / "viewer"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
COMPOSITE = "relevancy_composite"
HIGH_RES = 512
"""The larger side of the image ns-viewer renders once the view stops moving (its "Max res", nerfstudio's default);
while it moves it sends smaller ones."""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return ""


@pytest.fixture(scope="module")
def browser_bin():
    exe = _chromium()
    missing = []
    if not exe:
        missing.append("chromium (apt-get install chromium chromium-driver; scripts/sysdeps.sh does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install -e '.[dev]')")
    if missing:
        msg = "browser test cannot run: missing " + "; ".join(missing)
        if os.environ.get("POINT2ACT_SKIP_BROWSER") == "1":
            pytest.skip(msg)
        pytest.fail(msg)
    return exe


@pytest.fixture(scope="module")
def run_dir(request):
    """The briefly trained synthetic run shared by the tests (``trained_synth``, tests/conftest.py: the same
    ``ns-train`` command this test ran on its own before, shared with the end-to-end tests), or
    POINT2ACT_VIEWER_RUN=<dir with config.yml and scene/>."""
    reuse = os.environ.get("POINT2ACT_VIEWER_RUN")
    if reuse:
        config = Path(reuse) / "outputs/synth/point2act/run/config.yml"
        return Path(reuse), Path(reuse) / "scene", config
    root, scene, config, _p = request.getfixturevalue("trained_synth")
    return root, scene, config


@pytest.fixture(scope="module")
def cli_grasps(run_dir, request) -> Path:
    """What ``point2act export`` writes for the run with its defaults: the shared export (tests/conftest.py
    ``synth_export``), or for a POINT2ACT_VIEWER_RUN run its own, ROOT/grasps_cli.json."""
    if not os.environ.get("POINT2ACT_VIEWER_RUN"):
        return request.getfixturevalue("synth_export")[0]
    root, _scene, config = run_dir
    out = root / "grasps_cli.json"
    run_tool([str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(out)], cwd=root)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _handle_grasps_json(scene: Path) -> dict:
    """A grasps.json beside the run with one grasp on the mug handle (capture frame), as
    `point2act export` writes it: ns-viewer shows it when it starts."""
    from point2act.grasp.config import GripperConfig
    from point2act.grasp.geometry import rotation_to_quaternion_wxyz

    gt = json.loads((scene / "ground_truth.json").read_text())
    lo, hi = np.asarray(gt["bbox_min"], float), np.asarray(gt["bbox_max"], float)
    c = ((lo + hi) / 2).tolist()
    # a side grasp on the handle: approach towards the mug, fingers closing across the handle's ring
    d = np.asarray(c[:2]) - np.asarray(gt["mug"]["position"][:2])
    d /= np.linalg.norm(d)
    z = np.array([-d[0], -d[1], 0.0])
    x = np.array([-d[1], d[0], 0.0])
    R = np.stack([x, np.cross(z, x), z], axis=1)
    return {
        "schema": "point2act.grasps/1", "prompt": "Point to the handle of the mug", "frame": "capture",
        "metres_per_unit": 1.0, "action_point": c,
        "region": {"center": c, "extent": (hi - lo).tolist(), "num_gaussians": 1},
        "gripper": GripperConfig().to_dict(),
        "grasps": [{"position": c, "rotation": R.tolist(),
                    "quaternion_wxyz": rotation_to_quaternion_wxyz(R).tolist(),
                    "width": 0.03, "width_capture_units": 0.03, "contact_width": 0.02,
                    "score": 0.95, "semantic_score": 0.95, "geometric_score": 0.95}],
    }


class Viewer:
    """An ``ns-viewer`` process on the run: its port, URL and log."""

    def __init__(self, root: Path, config: Path):
        self.root, self.log_path, self.port = root, root / "ns-viewer.log", _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(BIN / "ns-viewer"), "--load-config", str(config), "--viewer.websocket-host", "127.0.0.1",
             "--viewer.websocket-port", str(self.port)],
            cwd=root, stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1", POINT2ACT_CACHE=str(root / "pointer-cache")),
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def viewer(run_dir):
    """ns-viewer on the run, with a grasps.json on the mug handle beside it (shown from the start)."""
    root, scene, config = run_dir
    (config.parent / "grasps.json").write_text(json.dumps(_handle_grasps_json(scene)))
    v = Viewer(root, config)
    yield v
    v.stop()


def test_ns_viewer_loads_checkpoint(viewer):
    deadline = time.time() + 180
    while "Done loading checkpoint" not in viewer.log() and viewer.proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert "Done loading checkpoint" in viewer.log(), viewer.log()[-3000:]
    assert viewer.proc.poll() is None, viewer.log()[-3000:]


class Frames:
    """What the viewer sends the page over its websocket (viser: msgpack, a tuple of messages a frame): the time
    of the last frame and the time and size of each rendered image."""

    def __init__(self, page):
        self.last = time.time()
        self.images = []  # (time, (width, height))
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload) -> None:
        import io

        import msgpack
        from PIL import Image

        self.last = time.time()
        if isinstance(payload, str):
            return
        msgs = msgpack.unpackb(payload, raw=False)
        for m in msgs if isinstance(msgs, (list, tuple)) else [msgs]:
            if isinstance(m, dict) and m.get("type") == "BackgroundImageMessage":
                self.images.append((self.last, Image.open(io.BytesIO(m["rgb_bytes"])).size))

    def settle(self, page, since: float, rerendered: bool = True, quiet: float = 0.5, timeout: float = 60) -> None:
        """Wait until the page shows a full-resolution render (one sent after ``since`` when ``rerendered``: the
        action taken at ``since`` makes the viewer render again) and nothing has arrived for ``quiet`` seconds."""
        deadline = time.time() + timeout
        while True:
            page.wait_for_timeout(50)  # Playwright delivers the websocket events while it waits
            now = time.time()
            fresh = [size for t, size in self.images if t >= since]
            full = bool(self.images) and max(self.images[-1][1]) >= HIGH_RES
            if full and (fresh or not rerendered) and now - max(self.last, since) >= quiet:
                return
            assert now < deadline, f"the view did not settle: images since {fresh[-5:]}, last {self.images[-1:]}"


def _changed(a: np.ndarray, b: np.ndarray, tol: int = 40) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(-1) > tol


def _field(page, label: str):
    """The input next to a viser GUI label (viser's <label for> does not match the input's id)."""
    return page.locator(
        f"xpath=//label[normalize-space(text())='{label}']/ancestor::div[contains(@class,'mantine-Flex-root')][1]//input"
    ).first


def _canvas(page):
    """The 3D view: the largest canvas on the page."""
    canvases = page.locator("canvas")
    boxes = [(canvases.nth(i).bounding_box() or {"width": 0, "height": 0}) for i in range(canvases.count())]
    i = int(np.argmax([b["width"] * b["height"] for b in boxes]))
    return canvases.nth(i)


def _png(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.browser
def test_viewer_in_a_real_browser(browser_bin, run_dir, viewer, cli_grasps):
    from playwright.sync_api import sync_playwright

    root, scene, config = run_dir
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_base = config.parent
    grasps_path = run_base / "grasps.json"
    shots = {}
    deadline = time.time() + 120
    while True:
        assert viewer.proc.poll() is None, viewer.log()[-3000:]
        try:
            urllib.request.urlopen(viewer.url, timeout=2).read(100)
            break
        except OSError:
            assert time.time() < deadline, "ns-viewer did not start serving"
            time.sleep(0.2)

    def wait_until(condition, timeout):
        t = time.time()
        while not condition() and time.time() - t < timeout:
            page.wait_for_timeout(100)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_bin, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else r.abort())
        page = context.new_page()
        frames = Frames(page)
        page.goto(viewer.url)

        def shot(name, since, rerendered=True):
            """A screenshot of the 3D view once the render of what was done at ``since`` has landed."""
            frames.settle(page, since, rerendered)
            wait_rendered()
            data = view.screenshot()
            (ARTIFACTS / f"{name}.png").write_bytes(data)
            shots[name] = _png(data)[:, :panel_left]
            return shots[name]

        def wait_rendered(timeout=60):
            t = time.time()
            while time.time() - t < timeout:
                txt = page.locator("body").inner_text()
                if "Resolution:" in txt and "0x0px" not in txt:
                    return
                page.wait_for_timeout(100)
            raise AssertionError("the viewer never rendered an image")

        # connected: our panel is there, with the run's prompt
        page.get_by_role("button", name="Compute grasps").wait_for(timeout=90_000)
        wait_rendered()
        view = _canvas(page)
        # viser centres the view in the part of the canvas the control panel leaves free
        panel_left = int(page.get_by_role("button", name="Pause Training").bounding_box()["x"]) - 10
        assert _field(page, "Prompt").input_value() == "Point to the handle of the mug"

        # the relevancy composite is shown by default once the first render lists the outputs
        wait_until(lambda: _field(page, "Output type").input_value() == COMPOSITE, 60)
        assert _field(page, "Output type").input_value() == COMPOSITE
        page.get_by_role("button", name="Look at action point").click()
        _field(page, "Show grasps").uncheck()
        _field(page, "Show action point").uncheck()
        _field(page, "Output type").click()
        since = time.time()
        page.get_by_role("option", name="rgb", exact=True).click()
        rgb = shot("1-rgb", since)

        _field(page, "Output type").click()
        since = time.time()
        page.get_by_role("option", name=COMPOSITE).click()
        comp = shot("2-composite", since)
        H, W = comp.shape[:2]
        tinted = _changed(rgb, comp)
        yy, xx = np.nonzero(tinted)
        assert len(yy) > 30, "the composite tints nothing"
        # the action point is at the image centre (the camera looks at it)
        r = np.hypot(yy - H / 2, xx - W / 2)
        near = r < 0.15 * min(H, W)
        assert near.sum() > 20, f"no tint near the action point ({near.sum()} px)"
        assert np.mean(r < 0.3 * min(H, W)) > 0.8, f"tint far from the action point: {np.median(r)}"

        since = time.time()
        _field(page, "Show grasps").check()
        _field(page, "Show action point").check()
        grasp = shot("3-composite-grasps", since, rerendered=False)  # shapes in the 3D scene: no new render
        drawn = _changed(comp, grasp)
        yy, xx = np.nonzero(drawn)
        assert len(yy) > 30, "no grasp shapes drawn"
        assert np.median(np.hypot(yy - H / 2, xx - W / 2)) < 0.25 * min(H, W)
        # the grasp is green (score 0.95)
        px = grasp[drawn]
        assert np.mean((px[:, 1] > px[:, 0]) & (px[:, 1] > px[:, 2])) > 0.3

        mtime = grasps_path.stat().st_mtime
        page.get_by_role("button", name="Compute grasps").click()
        status = _field(page, "Status")
        wait_until(lambda: "grasps in" in status.input_value(), 90)
        assert "grasps in" in status.input_value(), status.input_value()
        page.get_by_role("button", name="Export").click()
        wait_until(lambda: grasps_path.stat().st_mtime != mtime, 60)
        data = json.loads(grasps_path.read_text())
        assert data["schema"] == "point2act.grasps/1" and data["run"].endswith("config.yml")
        shown = _field(page, "grasps.json")
        wait_until(lambda: shown.input_value() == str(grasps_path.resolve()), 10)
        assert shown.input_value() == str(grasps_path.resolve())
        # one answer: the viewer's grasps.json is the one point2act export writes on this run, byte for byte
        assert grasps_path.read_bytes() == cli_grasps.read_bytes()
        assert data["confidence"] > 0.5 and data["candidates"], sorted(data)
        shot("4-after-compute", time.time(), rerendered=False)

        # re-query: a new prompt refits the relevancy channel (the run's pointer: the oracle here)
        _field(page, "New prompt").fill("Point to the mug handle again")
        _field(page, "New prompt").press("Enter")
        page.get_by_role("button", name="Re-query").click()
        wait_until(lambda: status.input_value().startswith(("re-queried", "re-query failed")), 120)
        assert status.input_value().startswith("re-queried"), status.input_value()
        assert _field(page, "Prompt").input_value() == "Point to the mug handle again"
        assert (run_base / "relevancy" / "Point_to_the_mug_handle_again.npz").is_file()
        shot("5-after-requery", time.time(), rerendered=False)

        # click-to-point, no model: "Point here", then one click on the handle (the camera looks at
        # the action point, on the handle: the centre of the free part of the canvas)
        since = time.time()
        page.get_by_role("button", name="Look at action point").click()
        frames.settle(page, since, rerendered=False, quiet=1.0)  # the camera has arrived
        page.get_by_role("button", name="Point here").click()
        wait_until(lambda: "click on the target" in status.input_value(), 30)
        assert "click on the target" in status.input_value(), status.input_value()
        box = view.bounding_box()
        free = page.get_by_role("button", name="Pause Training").bounding_box()["x"] - 10 - box["x"]
        # a plain mouse click: the 3D canvas re-renders continuously, so it is never "stable" for
        # Playwright's actionability checks
        page.mouse.click(box["x"] + free / 2, box["y"] + box["height"] / 2)
        wait_until(lambda: status.input_value().startswith(("clicked", "point here failed")), 180)
        assert status.input_value().startswith("clicked"), status.input_value()
        assert (run_base / "points" / "click.json").is_file() and (run_base / "relevancy" / "click.npz").is_file()
        # Export on the click channel: RUN/grasps_click.json, as point2act query --name click writes it
        click_path = run_base / "grasps_click.json"
        click_path.unlink(missing_ok=True)
        page.get_by_role("button", name="Export").click()
        wait_until(click_path.is_file, 60)
        shot("6-after-click", time.time(), rerendered=False)
        browser.close()
    viewer.stop()
    assert "Traceback" not in viewer.log(), viewer.log()[-3000:]
    data = json.loads(click_path.read_text())
    assert inside(data["action_point"], target_box(scene)), data["action_point"]
    assert data["prompt"] == "the clicked point" and data["grasps"], data.get("warning")
    assert data["keypoints"]["click"]["action_point"] == data["action_point"]
    cli = root / "grasps_click_cli.json"
    run_tool([str(BIN / "point2act"), "export", "--load-config", str(config), "--grasp-channel", "click",
              "--channels", "click", "--output", str(cli)], cwd=root)
    assert click_path.read_bytes() == cli.read_bytes()
