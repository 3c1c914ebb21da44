"""Points files: structure, matching against the capture, clear errors, atomic writes."""

from __future__ import annotations

import json

import pytest

from point2act.points import PointsFileError, load_points_file, parse_points, write_json_atomic

SIZES = {"images/0001.jpg": (540, 960), "images/0002.jpg": (540, 960)}


def write(tmp_path, data, name="p.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


def test_roundtrip_and_pixels(tmp_path):
    p = write(tmp_path, {"prompt": "tab", "coordinates": "pixels", "points": {"images/0001.jpg": [[1, 2.5]], "images/0002.jpg": []}})
    pf = load_points_file(p)
    assert pf.prompt == "tab" and pf.points["images/0001.jpg"] == [(1.0, 2.5)] and pf.points["images/0002.jpg"] == []
    pf.validate_against(SIZES)
    assert parse_points(pf.to_dict()).points == pf.points


def test_normalized_scaled_to_pixels():
    pf = parse_points({"coordinates": "normalized", "points": {"images/0001.jpg": [[0.5, 0.25]]}})
    assert pf.in_pixels(SIZES)["images/0001.jpg"] == [(270.0, 240.0)]


@pytest.mark.parametrize(
    "data, fragment",
    [
        ([1, 2], "top level must be a JSON object"),
        ({"prompt": "x"}, 'missing the "points" field'),
        ({"points": [[1, 2]]}, '"points" must be an object'),
        ({"points": {"images/0001.jpg": [1, 2]}}, "wrapped: [[x, y]]"),
        ({"points": {"images/0001.jpg": [[1, 2, 3]]}}, "expected [x, y]"),
        ({"points": {"images/0001.jpg": [[1, "a"]]}}, "expected [x, y]"),
        ({"points": {"images/0001.jpg": "none"}}, "must be a list"),
        ({"coordinates": "px", "points": {}}, '"coordinates" must be one of'),
        ({"prompt": 3, "points": {}}, '"prompt" must be a string'),
    ],
)
def test_malformed_entries_name_file_and_entry(tmp_path, data, fragment):
    p = write(tmp_path, data)
    with pytest.raises(PointsFileError) as e:
        load_points_file(p)
    assert str(p) in str(e.value) and fragment in str(e.value)
    if "images/0001.jpg" in json.dumps(data) and "entry" in str(e.value):
        assert "'images/0001.jpg'" in str(e.value)


def test_nan_is_rejected(tmp_path):
    p = write(tmp_path, '{"points": {"images/0001.jpg": [[NaN, 3]]}}')
    with pytest.raises(PointsFileError, match="finite"):
        load_points_file(p)


def test_invalid_json_names_line(tmp_path):
    p = write(tmp_path, '{"points": {\n "a": [[1, 2]],,\n}}')
    with pytest.raises(PointsFileError, match=r"line 2"):
        load_points_file(p)


def test_unknown_key_suggests_close_match(tmp_path):
    pf = load_points_file(write(tmp_path, {"points": {"images/001.jpg": [[1, 2]]}}))
    with pytest.raises(PointsFileError) as e:
        pf.validate_against(SIZES)
    msg = str(e.value)
    assert "'images/001.jpg'" in msg and "not in the capture" in msg and "images/0001.jpg" in msg


def test_key_escaping_the_data_folder_is_only_matched(tmp_path):
    pf = load_points_file(write(tmp_path, {"points": {"../../etc/passwd": [[1, 2]]}}))
    with pytest.raises(PointsFileError, match="not in the capture"):
        pf.validate_against(SIZES)


def test_point_outside_image(tmp_path):
    pf = load_points_file(write(tmp_path, {"points": {"images/0002.jpg": [[10, 2000]]}}))
    with pytest.raises(PointsFileError) as e:
        pf.validate_against(SIZES)
    assert "'images/0002.jpg'" in str(e.value) and "outside the 540x960 image" in str(e.value)


def test_every_view_empty_is_nothing_to_supervise(tmp_path):
    pf = load_points_file(write(tmp_path, {"points": {"images/0001.jpg": [], "images/0002.jpg": []}}))
    with pytest.raises(PointsFileError, match="nothing to supervise"):
        pf.validate_against(SIZES)


def test_missing_file():
    with pytest.raises(PointsFileError, match="not found"):
        load_points_file("/nonexistent/points.json")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "out.json"
    write_json_atomic(p, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(p, {"a": object()})  # not JSON-serialisable: fails mid-write
    assert json.loads(p.read_text()) == {"a": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_shared_coke_points_file_parses(shared_data):
    pf = load_points_file(shared_data / "real/coke/points/pull_tab.json")
    assert len(pf.points) == 19 and all(len(v) == 1 for v in pf.points.values())
