"""Coarse-to-fine pointing: crop window, enlargement and the mapping back to full-image pixels
(closed forms), with fake pointers; both passes in the points file's metadata."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from point2act.pointing import PointerConfig, PointingConfigError, load_image
from point2act.pointing.coarse import CoarseToFinePointer, crop_to_full, crop_window, enlarged_size
from point2act.pointing.prompts import DEFAULT_OBJECT_PROMPT, object_prompt_for
from point2act.pointing.run import CaptureViews, point_capture


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache."""
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "default-cache"))


W, H = 200, 100


def cfg(**kw):
    base = {"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "fake", "family": "json"}
    base.update(kw)
    return PointerConfig(**base)


# -- geometry, closed form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point, frac, window",
    [
        ((100, 50), 0.4, (60, 30, 140, 70)),  # centred
        ((3, 2), 0.4, (0, 0, 80, 40)),  # clamped at the top-left corner
        ((199.9, 99.9), 0.4, (120, 60, 200, 100)),  # clamped at the bottom-right corner
        ((100, 50), 1.0, (0, 0, 200, 100)),  # the whole image
        ((50.4, 20.6), 0.25, (25, 8, 75, 33)),  # 50 x 25: x0 = round(50.4 - 25), y0 = round(20.6 - 12.5)
    ],
)
def test_crop_window(point, frac, window):
    assert crop_window(point, (W, H), frac) == window


@pytest.mark.parametrize("frac", [0.0, -0.1, 1.5])
def test_crop_window_rejects_bad_fraction(frac):
    with pytest.raises(PointingConfigError):
        crop_window((1, 1), (W, H), frac)


def test_enlarged_size():
    assert enlarged_size((60, 30, 140, 70), (W, H)) == (200, 100)  # to the image's longer side
    assert enlarged_size((60, 30, 140, 70), (W, H), crop_size=448) == (448, 224)
    assert enlarged_size((0, 0, 30, 60), (W, H), crop_size=90) == (45, 90)


def test_crop_to_full_closed_form():
    window, size = (60, 30, 140, 70), (200, 100)  # 80 x 40 window enlarged 2.5x
    pts = crop_to_full([[0, 0], [200, 100], [100, 50], [12.5, 7.5]], window, size)
    assert pts == [[60, 30], [140, 70], [100, 50], [60 + 12.5 * 0.4, 30 + 7.5 * 0.4]]


# -- the two passes with fake pointers ---------------------------------------------------------------


class FixedPointer:
    """Object pass: a fixed full-image point; part pass: a fixed point in pixels of the crop."""

    def __init__(self, obj, part, config=None):
        self.config = config or cfg()
        self.obj, self.part = obj, part
        self.calls = []

    def point(self, image, prompt, *, key=None):
        size = load_image(image).size
        self.calls.append((prompt, size))
        return [list(p) for p in (self.part if len(self.calls) % 2 == 0 else self.obj)]

    def close(self):
        pass


def test_two_passes_map_back_closed_form():
    inner = FixedPointer(obj=[[100, 50]], part=[[150.0, 20.0]])
    c2f = CoarseToFinePointer(inner, object_prompt="the mug", crop_frac=0.4, crop_size=0)
    img = np.zeros((H, W, 3), np.uint8)
    pts = c2f.point(img, "where to grasp to pour", key="v")
    # window (60, 30, 140, 70), crop enlarged to 200 x 100: x = 60 + 150 * 80/200, y = 30 + 20 * 40/100
    assert pts == [[60 + 150 * 0.4, 30 + 20 * 0.4]]
    assert inner.calls == [("the mug", (W, H)), ("where to grasp to pour", (200, 100))]
    rec = c2f.passes["v"]
    assert rec["window"] == [60, 30, 140, 70] and rec["crop_size"] == [200, 100]
    assert rec["object_points"] == [[100.0, 50.0]] and rec["part_points_in_crop"] == [[150.0, 20.0]]
    assert rec["points"] == pts and rec["object_prompt"] == "the mug"


def test_two_passes_with_model_sized_crop():
    inner = FixedPointer(obj=[[5, 5]], part=[[448.0, 224.0], [0.0, 0.0]])
    c2f = CoarseToFinePointer(inner, crop_frac=0.4, crop_size=448)
    pts = c2f.point(np.zeros((H, W, 3), np.uint8), "p", key="v")
    assert inner.calls[1][1] == (448, 224)
    assert pts == [[80.0, 40.0], [0.0, 0.0]]  # window clamped to (0, 0, 80, 40)


def _scene():
    """A 'mug' (red square) with a 'handle' (blue 3x3 blob) on a grey image."""
    img = np.full((H, W, 3), 128, np.uint8)
    img[40:80, 120:160] = (255, 0, 0)
    img[55:58, 161:164] = (0, 0, 255)  # handle centre in pixels: (162.5, 56.5)
    return img


class ColourPointer:
    """Finds red (object prompt) or blue (anything else) pixels in whatever image it is shown."""

    def __init__(self):
        self.config = cfg()
        self.calls = 0

    def point(self, image, prompt, *, key=None):
        self.calls += 1
        a = np.asarray(load_image(image)).astype(int)
        if prompt.startswith("the whole object"):
            m = (a[..., 0] > 200) & (a[..., 1] < 60) & (a[..., 2] < 60)
        else:
            m = (a[..., 2] > 150) & (a[..., 0] < 100)
        if not m.any():
            return []
        ys, xs = np.nonzero(m)
        return [[float(xs.mean() + 0.5), float(ys.mean() + 0.5)]]

    def close(self):
        pass


def test_part_found_on_the_enlarged_crop_maps_back_to_full_pixels():
    inner = ColourPointer()
    c2f = CoarseToFinePointer(inner, crop_frac=0.3, crop_size=0)
    pts = c2f.point(_scene(), "where to grasp to pour", key="v")
    assert len(pts) == 1
    assert np.allclose(pts[0], [162.5, 56.5], atol=0.6), pts  # resampling blur: sub-pixel error
    assert inner.calls == 2


def test_no_object_means_no_point_and_no_second_pass():
    inner = FixedPointer(obj=[], part=[[1, 1]])
    c2f = CoarseToFinePointer(inner)
    assert c2f.point(np.zeros((H, W, 3), np.uint8), "p", key="v") == []
    assert len(inner.calls) == 1 and c2f.passes["v"]["window"] is None


def test_oracle_is_refused():
    class Oracle:
        config = PointerConfig(backend="oracle", scene_dir="x")

    with pytest.raises(PointingConfigError, match="oracle"):
        CoarseToFinePointer(Oracle())


def test_object_prompt_derivation():
    assert object_prompt_for("Point to the handle of the mug") == DEFAULT_OBJECT_PROMPT.replace(
        "{prompt}", "the handle of the mug"
    )
    assert object_prompt_for("I'm thirsty") == DEFAULT_OBJECT_PROMPT.replace("{prompt}", "I'm thirsty")
    assert object_prompt_for("where to grasp", "the mug") == "the mug"
    assert object_prompt_for("pour", "the object needed to {task}") == "the object needed to pour"


def test_point_capture_records_both_passes_and_caches_them(tmp_path):
    path = tmp_path / "v.png"
    Image.fromarray(_scene()).save(path)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(blank)
    images = {"images/v.png": path, "images/blank.png": blank}
    c = cfg(coarse_to_fine=True, crop_frac=0.3, cache_dir=str(tmp_path / "cache"))
    inner = ColourPointer()
    out = point_capture(c, CaptureViews(None, images), "where to grasp to pour", pointer=inner, progress=False)
    assert np.allclose(out["points"]["images/v.png"], [[162.5, 56.5]], atol=0.6)
    assert out["points"]["images/blank.png"] == []
    md = out["metadata"]["coarse_to_fine"]
    assert md["crop_frac"] == 0.3 and set(md["views"]) == set(images)
    v = md["views"]["images/v.png"]
    assert v["object_prompt"].startswith("the whole object") and len(v["object_points"]) == 1
    assert v["window"] == list(crop_window(v["object_points"][0], (W, H), 0.3)) and v["points"] == out["points"]["images/v.png"]
    assert inner.calls == 3  # two passes on v, one on blank
    again = ColourPointer()
    out2 = point_capture(c, CaptureViews(None, images), "where to grasp to pour", pointer=again, progress=False)
    assert again.calls == 0 and out2["points"] == out["points"]  # both passes came from the cache
    assert out2["metadata"]["coarse_to_fine"]["views"] == md["views"]
