"""Parsers of MLLM pointing answers: Molmo, Molmo2, Qwen2.5-VL, Qwen3-VL and plain JSON."""

from __future__ import annotations

import logging
import math

import pytest

from point2act.pointing import (
    PointerConfig,
    PointingConfigError,
    PointingParseError,
    parse_answer,
    parse_json_points,
    parse_molmo,
    parse_molmo2,
    qwen25_input_size,
    render_prompt,
    resolve_family,
    smart_resize,
)
from point2act.pointing.errors import truncate_answer

W, H = 640, 480


def approx_points(got, want, tol=1e-6):
    assert len(got) == len(want), (got, want)
    for (gx, gy), (wx, wy) in zip(got, want):
        assert math.isclose(gx, wx, abs_tol=tol) and math.isclose(gy, wy, abs_tol=tol), (got, want)


# --------------------------------------------------------------------------- Molmo v1

MOLMO_CASES = [
    # (answer, expected points in pixels of a 640x480 image)
    ('<point x="61.5" y="40.6" alt="handle of the mug">handle of the mug</point>', [[393.6, 194.88]]),
    (' <point x="50" y="50" alt="x">x</point>', [[320.0, 240.0]]),
    (
        '<points x1="10.0" y1="20.0" x2="30.5" y2="40.0" alt="roses">roses</points>',
        [[64.0, 96.0], [195.2, 192.0]],
    ),
    (
        '<points x1="10" y1="10" x2="20" y2="20" x3="30" y3="30" alt="cups">cups</points>',
        [[64.0, 48.0], [128.0, 96.0], [192.0, 144.0]],
    ),
    # ten or more points keep their numeric order (x10 after x9, not after x1)
    (
        "<points " + " ".join(f'x{i}="{i}" y{i}="{i}"' for i in range(1, 12)) + ' alt="dots">dots</points>',
        [[6.4 * i, 4.8 * i] for i in range(1, 12)],
    ),
    # text around the markup
    (
        'Sure! The best place to grasp is the stem. <point x="25" y="75" alt="stem">stem</point> Hope this helps.',
        [[160.0, 360.0]],
    ),
    # several tags in one answer
    (
        '<point x="10" y="10" alt="a">a</point> and <point x="90" y="90" alt="b">b</point>',
        [[64.0, 48.0], [576.0, 432.0]],
    ),
    # single quotes and unquoted values
    ("<point x='50' y='25' alt='a'>a</point>", [[320.0, 120.0]]),
    ("<point x=50 y=25>a</point>", [[320.0, 120.0]]),
    # upper-case attribute names, spaces around '='
    ('<point X = "50" Y = "50">a</point>', [[320.0, 240.0]]),
    # boundaries
    ('<point x="0" y="0" alt="corner">corner</point>', [[0.0, 0.0]]),
    ('<point x="100" y="100" alt="corner">corner</point>', [[640.0, 480.0]]),
    # slight overshoot is clipped onto the image
    ('<point x="101" y="-1" alt="edge">edge</point>', [[640.0, 0.0]]),
    # far out of range is dropped, the good one kept
    ('<points x1="250" y1="50" x2="50" y2="50" alt="a">a</points>', [[320.0, 240.0]]),
    # NaN / inf are dropped
    ('<points x1="nan" y1="50" x2="50" y2="50" alt="a">a</points>', [[320.0, 240.0]]),
    ('<point x="inf" y="50">a</point>', []),
    # truncated in the middle of the second point: the complete first point is kept
    ('<points x1="10" y1="20" x2="30" y2="4', [[64.0, 96.0]]),
    ('<points x1="10" y1="20" x2="30"', [[64.0, 96.0]]),
    # Molmo's "nothing found" answers and refusals
    ("There are none.", []),
    ("There is no mug in this image.", []),
    ("I'm sorry, I cannot point to that.", []),
    ("Nothing to point at.", []),
]


@pytest.mark.parametrize("answer,want", MOLMO_CASES)
def test_molmo_cases(answer, want):
    approx_points(parse_molmo(answer, (W, H)), want)


MOLMO_BAD = [
    "",
    "   ",
    "The mug is on the table.",
    "<point x=",
    '<point x="61.5" y=',
    '<point alt="mug">mug</point>',
    "x=50, y=50",
]


@pytest.mark.parametrize("answer", MOLMO_BAD)
def test_molmo_unparseable_raises(answer):
    with pytest.raises(PointingParseError) as err:
        parse_molmo(answer, (W, H))
    assert err.value.family == "molmo"
    assert "molmo" in str(err.value)
    assert err.value.answer == answer


def test_parse_error_quotes_truncated_answer():
    answer = "blah " * 500 + "THE-END"
    with pytest.raises(PointingParseError) as err:
        parse_molmo(answer, (W, H))
    msg = str(err.value)
    assert "'molmo'" in msg and "THE-END" in msg and "blah" in msg
    assert len(msg) < 400
    assert len(truncate_answer(answer, 50)) <= 50


def test_molmo_drop_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="point2act"):
        parse_molmo('<point x="400" y="50">a</point>', (W, H))
    assert "dropping point" in caplog.text


# --------------------------------------------------------------------------- Molmo2

MOLMO2_CASES = [
    ('<points coords="1 1 500 500" alt="mug">mug</points>', [[320.0, 240.0]]),
    (
        '<points coords="1 1 098 629 2 162 629" alt="boats">boats</points>',
        [[62.72, 301.92], [103.68, 301.92]],
    ),
    # without the image index
    ('<points coords="1 250 750">a</points>', [[160.0, 360.0]]),
    # several image groups (multi-image answers): all points are returned
    ('<points coords="1 1 100 100;2 1 900 900">a</points>', [[64.0, 48.0], [576.0, 432.0]]),
    ('Here: <point coords="1 1 0000 1000" alt="x">x</point>.', [[0.0, 480.0]]),
    # out of range dropped
    ('<points coords="1 1 5000 500 2 500 500">a</points>', [[320.0, 240.0]]),
    # Molmo v1 markup is understood too (0-100)
    ('<point x="50" y="50" alt="x">x</point>', [[320.0, 240.0]]),
    ("There are none.", []),
]


@pytest.mark.parametrize("answer,want", MOLMO2_CASES)
def test_molmo2_cases(answer, want):
    approx_points(parse_molmo2(answer, (W, H)), want)


@pytest.mark.parametrize(
    "answer", ['<points coords="1 1 098 62', "<points coords=", "Some prose without points."]
)
def test_molmo2_unparseable(answer):
    with pytest.raises(PointingParseError) as err:
        parse_molmo2(answer, (W, H))
    assert err.value.family == "molmo2"


# --------------------------------------------------------------------------- JSON families

QWEN3_CASES = [
    # Qwen3-VL answers normalised to 0-1000
    ('```json\n[\n\t{"point_2d": [500, 500], "label": "mug handle"}\n]\n```', [[320.0, 240.0]]),
    (
        '[{"point_2d": [100, 200], "label": "a"}, {"point_2d": [900, 800], "label": "b"}]',
        [[64.0, 96.0], [576.0, 384.0]],
    ),
    ('The handle is here:\n```json\n[{"point_2d": [250, 750]}]\n```\nLet me know.', [[160.0, 360.0]]),
    ('{"point_2d": [500, 500], "label": "x"}', [[320.0, 240.0]]),
    ('{"points": [[500, 500], [1000, 0]]}', [[320.0, 240.0], [640.0, 0.0]]),
    ("[[500, 500]]", [[320.0, 240.0]]),
    ("[500, 500]", [[320.0, 240.0]]),
    ('[{"x": 500, "y": 250}]', [[320.0, 120.0]]),
    ('[{"bbox_2d": [0, 0, 1000, 500], "label": "shelf"}]', [[320.0, 120.0]]),
    # strings, trailing commas and python-ish literals are tolerated
    ('[{"point_2d": ["500", "500"],}]', [[320.0, 240.0]]),
    ("[{'point_2d': [500, 500], 'label': 'mug'}]", [[320.0, 240.0]]),
    # NaN and out-of-range points dropped
    ('[{"point_2d": [NaN, 5]}, {"point_2d": [500, 500]}]', [[320.0, 240.0]]),
    ('[{"point_2d": [5000, 500]}, {"point_2d": [500, 500]}]', [[320.0, 240.0]]),
    # truncated JSON: complete items are recovered by pattern
    ('```json\n[{"point_2d": [500, 500], "label": "a"}, {"point_2d": [90', [[320.0, 240.0]]),
    # explicit nothing
    ("[]", []),
    ("```json\n[]\n```", []),
    ('{"points": []}', []),
    ("There is no mug in the image.", []),
    ("I'm sorry, but I can't help with that.", []),
]


@pytest.mark.parametrize("answer,want", QWEN3_CASES)
def test_qwen3_cases(answer, want):
    approx_points(parse_json_points(answer, (W, H), family="qwen3-vl"), want)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "The mug is on the left of the table.",
        '```json\n[{"point_2d": [5',
        '{"point_2d": "left"}',
        "[1, 2, 3]",
    ],
)
def test_json_unparseable(answer):
    with pytest.raises(PointingParseError) as err:
        parse_json_points(answer, (W, H), family="qwen3-vl")
    assert err.value.family == "qwen3-vl"


def test_qwen25_absolute_pixels_of_resized_input():
    # 640x480 is resized to 644x476 by Qwen2.5-VL; a point at the resized centre maps to the centre
    assert qwen25_input_size((W, H)) == (644, 476)
    approx_points(
        parse_json_points('[{"point_2d": [322, 238]}]', (W, H), family="qwen2.5-vl"), [[320.0, 240.0]]
    )
    # explicit input size (e.g. from the processor's image_grid_thw)
    approx_points(
        parse_json_points('[{"point_2d": [28, 28]}]', (64, 48), family="qwen2.5-vl", input_size=(56, 56)),
        [[32.0, 24.0]],
    )
    # bbox centre, in resized pixels
    approx_points(
        parse_json_points('[{"bbox_2d": [0, 0, 644, 476], "label": "all"}]', (W, H), family="qwen2.5-vl"),
        [[320.0, 240.0]],
    )


def test_json_family_pixels_of_sent_image():
    approx_points(parse_json_points('[{"point_2d": [100, 50]}]', (W, H), family="json"), [[100.0, 50.0]])
    # image sent downscaled by 2
    approx_points(
        parse_json_points('[{"point_2d": [100, 50]}]', (W, H), family="json", input_size=(320, 240)),
        [[200.0, 100.0]],
    )


def test_parse_answer_dispatch():
    approx_points(parse_answer('<point x="50" y="50">a</point>', "molmo", (W, H)), [[320.0, 240.0]])
    approx_points(parse_answer('<points coords="1 1 500 500">a</points>', "molmo2", (W, H)), [[320.0, 240.0]])
    approx_points(parse_answer('[{"point_2d": [500, 500]}]', "qwen3-vl", (W, H)), [[320.0, 240.0]])
    approx_points(parse_answer('[{"point_2d": [322, 238]}]', "qwen2.5-vl", (W, H)), [[320.0, 240.0]])
    approx_points(parse_answer('[{"point_2d": [1, 2]}]', "json", (W, H)), [[1.0, 2.0]])
    with pytest.raises(ValueError):
        parse_answer("[]", "llava", (W, H))


# --------------------------------------------------------------------------- Qwen2.5-VL resize


@pytest.mark.parametrize(
    "hw,want",
    [
        ((480, 640), (476, 644)),  # rounded to multiples of 28
        ((28, 28), (56, 56)),  # too small: scaled up to min_pixels
        ((3000, 4000), (840, 1148)),  # too large: scaled down under max_pixels
        ((1080, 1920), (728, 1316)),  # 1080p: beta = sqrt(1080*1920/1003520)
        ((100, 100), (112, 112)),
    ],
)
def test_smart_resize_closed_form(hw, want):
    got = smart_resize(*hw)
    assert got == want
    h, w = got
    assert h % 28 == 0 and w % 28 == 0
    assert 56 * 56 <= h * w <= 28 * 28 * 1280


def test_smart_resize_matches_transformers():
    mod = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
    for h in (1, 17, 28, 100, 333, 480, 720, 1080, 2000, 4032):
        for w in (13, 28, 64, 333, 640, 1280, 1920, 3024):
            if max(h, w) / min(h, w) > 200:
                continue
            assert smart_resize(h, w) == tuple(mod.smart_resize(h, w)), (h, w)
            assert smart_resize(h, w, min_pixels=3136, max_pixels=12845056) == tuple(
                mod.smart_resize(h, w, min_pixels=3136, max_pixels=12845056)
            )


def test_smart_resize_rejects_extreme_aspect():
    with pytest.raises(ValueError):
        smart_resize(1, 1000)


# --------------------------------------------------------------------------- prompts & families


def test_render_prompt_defaults_and_passthrough():
    assert render_prompt("molmo", "where to grasp to pour", (W, H)) == "Point to where to grasp to pour"
    assert render_prompt("molmo", "Point to the mug handle", (W, H)) == "Point to the mug handle"
    qwen = render_prompt("qwen3-vl", "I'm thirsty", (W, H))
    assert qwen.startswith("I'm thirsty\n") and '"point_2d"' in qwen
    js = render_prompt("json", "something to cut the paper with", (W, H))
    assert "640 pixels wide" in js and "480 pixels high" in js
    # user template, braces in prompts are left alone
    assert render_prompt("json", "a {weird} prompt", (W, H), template="{prompt} ({width}x{height})") == (
        "a {weird} prompt (640x480)"
    )
    with pytest.raises(ValueError):
        render_prompt("json", "x", (W, H), template="no placeholder")


@pytest.mark.parametrize(
    "backend,model,family,want",
    [
        ("molmo", "", "auto", "molmo"),
        ("molmo2", "", "auto", "molmo2"),
        ("qwen-vl", "Qwen/Qwen2.5-VL-7B-Instruct", "auto", "qwen2.5-vl"),
        ("qwen-vl", "Qwen/Qwen3-VL-8B-Instruct", "auto", "qwen3-vl"),
        ("openai", "Qwen/Qwen2.5-VL-72B-Instruct-AWQ", "auto", "qwen2.5-vl"),
        ("openai", "allenai/Molmo2-8B", "auto", "molmo2"),
        ("openai", "allenai/Molmo-7B-D-0924", "auto", "molmo"),
        ("openai", "gpt-4o", "auto", "json"),
        ("openai", "gpt-4o", "qwen3-vl", "qwen3-vl"),
    ],
)
def test_resolve_family(backend, model, family, want):
    assert resolve_family(PointerConfig(backend=backend, model=model, family=family)) == want


def test_resolve_family_qwen_ambiguous():
    with pytest.raises(PointingConfigError):
        resolve_family(PointerConfig(backend="qwen-vl", model="/models/my-finetune"))
