"""The bad-input corpus: messy robotics inputs fail with one paragraph naming the file, the entry
and the fix, a non-zero exit and no traceback.

Every case breaks one thing in a fresh copy of a tiny synthetic capture (tests/badinputs.py) and
goes through the real entry points: nerfstudio's ``ns-train`` main (in-process, the same
``nerfstudio.scripts.train.main`` the console script calls, after tyro) and the ``point2act`` CLI
(``point2act.cli.entrypoint``). This file holds the capture, the points file, the task and the MLLM's
answer; options and their files are tests/e2e/test_bad_inputs_config.py, saved runs and what the
terminal shows (real subprocesses) tests/e2e/test_bad_inputs_runs.py.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

import badinputs as bi
from badinputs_cli import cli
from point2act.errors import Point2ActError

# -- what each case must say (besides the file and the entry, which every case checks) --------
CAPTURE_CASES = {
    "missing_transforms": (bi.c_missing_transforms, ["no transforms.json in the capture folder", "ns-process-data"]),
    "invalid_json": (bi.c_invalid_json, ["not valid JSON (line", "column"]),
    "no_frames": (bi.c_no_frames, ["empty 'frames' list", "nothing to train on"]),
    "frame_without_file_path": (bi.c_frame_without_file_path, ["has no 'file_path'"]),
    "image_missing": (bi.c_image_missing, ["image file not found at", "remove the frame"]),
    "image_truncated": (bi.c_image_truncated, ["cannot be read as an image", "corrupt or truncated"]),
    "image_not_an_image": (bi.c_image_not_an_image, ["cannot be read as an image"]),
    "nan_pose": (bi.c_nan_pose, ["'transform_matrix' has a non-finite entry (nan at row 1, column 3)", "Fix the pose"]),
    "singular_pose": (bi.c_singular_pose, ["'transform_matrix' is not invertible", "Fix the pose"]),
    "pose_wrong_shape": (bi.c_pose_wrong_shape, ["'transform_matrix' has shape [3, 3], expected 4x4"]),
    "zero_focal": (bi.c_zero_focal, ["focal length 'fl_x' = 0.0 must be > 0"]),
    "negative_focal_in_frame": (bi.c_negative_focal_per_frame, ["focal length 'fl_y' = -57.7", "must be > 0"]),
    "missing_intrinsic": (bi.c_missing_intrinsic, ["no 'cx', neither at the top level nor in the frame"]),
    "image_size_mismatch": (bi.c_size_mismatch, ["is 64x48 pixels but transforms.json gives w x h = 80x48"]),
    "unknown_camera_model": (bi.c_unknown_camera_model, ["'PINHOLEE' is not one nerfstudio knows"]),
    "ply_missing": (bi.c_ply_missing, ["'sparse_pc.ply' not found"]),
    "data_folder_missing": (bi.c_data_missing, ["capture folder not found"]),
    # captures as users have them: a downscaled copy at the wrong size (not a 1-pixel rounding), masks
    "downscaled_size_mismatch": (bi.c_downscaled_size_mismatch, [
        "images_2/frame_0000.png is 30x24 pixels but transforms.json gives w x h = 32x24",
        "only a 1-pixel rounding difference of images_2/ is fixed on load"]),
    "mask_wrong_size": (bi.c_mask_wrong_size, ["masks/frame_0000.png is 32x24 pixels but its image is 64x48",
                                               "re-make the mask"]),
    "mask_unreadable": (bi.c_mask_unreadable, ["masks/frame_0002.png cannot be read as an image"]),
}

# captures nerfstudio 1.1.5 trips on that point2act fixes on load: they must train (1 iteration here),
# printing the warning once ("check": `point2act check` prints it too, as a note)
FIXED_CASES = {
    "downscaled_rounding": (bi.x_downscaled_rounding, True),
    "downscaled_dir_missing": (bi.x_downscaled_dir_missing, True),
    "exif_rotated_jpegs": (bi.x_exif_rotated_jpegs, True),
    "image_modes": (bi.x_image_modes, True),
    "masks_rgb": (bi.x_masks_rgb, False),
    "masks_rounding": (bi.x_masks_rounding, True),
}

POINTS_CASES = {
    "unknown_key": (bi.p_unknown_key, ["names an image that is not in the capture", "Did you mean"]),
    "point_outside": (bi.p_outside, ["lies outside the 64x48 image"]),
    "nan": (bi.p_nan, ["coordinates must be finite numbers"]),
    "wrong_nesting": (bi.p_wrong_nesting, ["a bare [x, y] must be wrapped: [[x, y]]"]),
    "every_view_empty": (bi.p_all_empty, ["no view has the target: nothing to supervise"]),
    "only_eval_views": (bi.p_only_eval_views, ["is a training view", "Nothing to supervise"]),
    "key_escapes_relative": (bi.p_key_escapes_relative, ["is not in the capture"]),
    "key_escapes_absolute": (bi.p_key_escapes_absolute, ["is not in the capture"]),
    "invalid_json": (bi.p_invalid_json, ["not valid JSON (line 2"]),
    "missing_file": (bi.p_missing_file, ["points file not found"]),
}

FAMILY_ANSWERS = {  # one unparseable answer per answer family of point2act/pointing/parsers.py
    "molmo": "Sure! The handle is on the left side of the mug.",
    "molmo2": '<points coords="1 1 ',
    "qwen2.5-vl": '```json\n[{"point_2d": [12, ',
    "qwen3-vl": '```json\n[{"point_2d": [512, 3',
    "json": "Sure! The handle is on the left side of the mug.",
}


# -- runners ------------------------------------------------------------------------------------
_OPENED: list = []
_RECORDING = [False]


def _audit(event, args):  # every file opened while recording (builtins.open, os.open, PIL, ...)
    if _RECORDING[0] and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


class opened_files:
    """Context manager: the list of every path opened inside it."""

    def __enter__(self) -> list:
        _OPENED.clear()
        _RECORDING[0] = True
        return _OPENED

    def __exit__(self, *exc) -> None:
        _RECORDING[0] = False


def ns_train(tmp: Path, data: Path, points=None, prompt: str = "", downscale=None, dataparser=None) -> None:
    """``ns-train point2act --data DATA [--pipeline.datamanager.points-file P] ... [PARSER
    --downscale-factor N]`` in-process."""
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.scripts import train

    cfg = copy.deepcopy(all_methods["point2act"])
    if dataparser is not None:
        cfg.pipeline.datamanager.dataparser = dataparser
    if downscale is not None:
        cfg.pipeline.datamanager.dataparser.downscale_factor = downscale
    cfg.data = Path(data)
    cfg.output_dir = tmp / "outputs"
    cfg.vis = "tensorboard"
    cfg.max_num_iterations = 1
    cfg.pipeline.datamanager.points_file = Path(points) if points is not None else None
    cfg.pipeline.datamanager.prompt = prompt
    cfg.pipeline.datamanager.pointer.cache_dir = str(tmp / "cache")
    train.main(cfg)


def check_message(msg: str, info: dict, fragments) -> None:
    assert "\n" not in msg.strip(), msg
    assert str(info["file"]) in msg, msg
    assert info["entry"] in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)


# -- the capture ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CAPTURE_CASES))
def test_capture_ns_train(name, fresh):
    root, scene = fresh
    build, fragments = CAPTURE_CASES[name]
    info = build(root, scene)
    with pytest.raises(Point2ActError) as e:
        ns_train(root, info.get("data", scene), points=scene / "points/oracle.json", downscale=info.get("downscale"))
    check_message(str(e.value), info, fragments)


@pytest.mark.parametrize("name", list(CAPTURE_CASES))
def test_capture_point2act_check(name, fresh, capsys):
    root, scene = fresh
    build, fragments = CAPTURE_CASES[name]
    info = build(root, scene)
    extra = ["--downscale-factor", info["downscale"]] if "downscale" in info else []
    check_message(cli(["check", "--data", info.get("data", scene), *extra], capsys), info, fragments)


def _warnings(text: str, fragment: str) -> list:
    return [ln for ln in text.splitlines() if ln.startswith("point2act: warning: ") and fragment in ln]


@pytest.mark.parametrize("name", list(FIXED_CASES))
def test_fixed_capture_trains_with_one_warning(name, fresh, capsys):
    root, scene = fresh
    build, _ = FIXED_CASES[name]
    info = build(root, scene)
    ns_train(root, scene, downscale=info.get("downscale"))
    out, err = capsys.readouterr()
    assert len(_warnings(out + err, info["warning"])) == 1, (out + err)[-4000:]
    assert list((root / "outputs").rglob("step-*.ckpt")), "no checkpoint written"


@pytest.mark.parametrize("name", list(FIXED_CASES))
def test_fixed_capture_point2act_check(name, fresh, capsys):
    from point2act.cli import entrypoint

    root, scene = fresh
    build, noted = FIXED_CASES[name]
    info = build(root, scene)
    extra = ["--downscale-factor", str(info["downscale"])] if "downscale" in info else []
    entrypoint(["check", "--data", str(scene), *extra])
    out, err = capsys.readouterr()
    assert out.rstrip().endswith(": ok") and "error" not in err, (out, err)
    if noted:
        assert [ln for ln in err.splitlines() if ln.startswith("point2act: note: ")], err


def test_loaded_images_match_the_camera(fresh):
    """What the fixed captures train on: the EXIF-rotated JPEG upright, every mode as 8-bit RGB(A),
    at the camera's size."""
    import numpy as np
    from PIL import Image

    from point2act.checks.capture import load_image_for_camera
    from point2act.checks.capture_images import CameraSizes

    root, scene = fresh
    camera = CameraSizes((bi.WIDTH, bi.HEIGHT), (bi.WIDTH, bi.HEIGHT), 1)
    ref = np.asarray(Image.open(scene / bi.key(7)).convert("RGB"), dtype=np.float64)
    bi.x_exif_rotated_jpegs(root, scene)
    arr, notes = load_image_for_camera(scene / "images/frame_0007.jpg", camera)
    assert arr.shape == (bi.HEIGHT, bi.WIDTH, 3) and np.abs(arr - ref).mean() < 4.0  # JPEG at quality 95
    assert [k for k, _ in notes] == ["exif"]
    bi.x_image_modes(root, scene)
    for i, channels in ((2, 4), (3, 3), (4, 4), (5, 3)):
        arr, notes = load_image_for_camera(scene / bi.key(i), camera)
        assert arr.dtype == np.uint8 and arr.shape == (bi.HEIGHT, bi.WIDTH, channels), (i, arr.shape)
    arr, _ = load_image_for_camera(scene / bi.key(5), camera)
    grey = np.asarray(Image.open(scene / bi.key(0)).convert("L"), dtype=np.float64)  # an untouched view
    assert arr[..., 0].max() > 100 and grey.max() > 100  # 16-bit scaled down, not wrapped


def test_rounded_copy_resampled_to_the_camera_scale():
    """A 1-pixel-larger rounded copy is resampled so that camera pixel u sees stored u * N: an image
    whose columns hold their stored x coordinate keeps them at u * N (+- a fraction of a pixel)."""
    import tempfile

    import numpy as np
    from PIL import Image

    from point2act.checks.capture import load_image_for_camera, nerfstudio_downscaled_size
    from point2act.checks.capture_images import CameraSizes

    W, H, N = 806, 605, 4
    camera = nerfstudio_downscaled_size(W, H, N)
    assert camera == (201, 151)
    x = (np.arange(W) + 0.5) / W * 255.0  # a ramp across the stored image
    stored = np.repeat(np.repeat(x[None, :, None], H, 0), 3, 2).astype(np.float32)
    copy = Image.fromarray(stored[..., 0]).resize((round(W / N), round(H / N)), Image.Resampling.BILINEAR)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.tiff"
        copy.save(p)
        arr, notes = load_image_for_camera(p, CameraSizes(camera, camera, N, full=(W, H)))
    assert arr.shape == (151, 201, 3) and "rounding" in [k for k, _ in notes], notes
    want = ((np.arange(201) + 0.5) * N) / W * 255.0  # the ramp at camera pixel centres
    got = arr[75, :, 0].astype(np.float64)
    assert np.abs(got[2:-2] - want[2:-2]).max() < 1.5  # < 1.5 grey levels: < 0.3 stored pixel


# -- COLMAP-only captures -------------------------------------------------------------------------
def test_colmap_capture_without_downscaled_images_trains(fresh, capsys):
    """nerfstudio's colmap parser asks on the terminal whether to write images_2/ (EOFError without a
    terminal, exit 1 on 'no'); point2act downscales on load instead, once warned."""
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    root, scene = fresh
    cap = bi.make_colmap_capture(scene, root / "colmap_capture")
    ns_train(root, cap, downscale=2, dataparser=ColmapDataParserConfig())
    out, err = capsys.readouterr()
    assert len(_warnings(out + err, "images_2/ not found")) == 1, (out + err)[-3000:]
    assert not (cap / "images_2").exists() and list((root / "outputs").rglob("step-*.ckpt"))


def test_colmap_capture_without_model(fresh):
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    root, scene = fresh
    cap = bi.make_colmap_capture(scene, root / "colmap_capture")
    (cap / "colmap/sparse/0/cameras.txt").unlink()
    with pytest.raises(Point2ActError) as e:
        ns_train(root, cap, dataparser=ColmapDataParserConfig())
    assert str(cap / "colmap/sparse/0") in str(e.value) and "no COLMAP model" in str(e.value)


def test_colmap_capture_with_the_default_parser(fresh, capsys):
    root, scene = fresh
    cap = bi.make_colmap_capture(scene, root / "colmap_capture")
    msg = cli(["check", "--data", cap], capsys)
    assert str(cap / "transforms.json") in msg and "ns-train point2act --data DIR colmap" in msg


def test_capture_unchanged_is_accepted(fresh, capsys):
    from point2act.cli import entrypoint

    _root, scene = fresh
    entrypoint(["check", "--data", str(scene), "--points-file", str(scene / "points/oracle.json")])
    out = capsys.readouterr().out
    assert f"{bi.NUM_VIEWS} frames, {bi.NUM_VIEWS} images decoded" in out and out.count(": ok") == 2


def test_real_captures_pass_validation(shared_data):
    """The shared real captures are valid as they are, at full and at 1/4 resolution."""
    from point2act.checks.capture import validate_capture

    for name in ("coke", "fruit", "gum"):
        for df in (None, 4):
            s = validate_capture(shared_data / "real" / name, downscale_factor=df)
            assert s.images_checked == len(s.keys) > 50


def test_camera_models_match_nerfstudio():
    from nerfstudio.cameras.cameras import CAMERA_MODEL_TO_TYPE

    from point2act.checks.capture import CAMERA_MODELS

    assert sorted(CAMERA_MODELS) == sorted(CAMERA_MODEL_TO_TYPE)


# -- the points file ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(POINTS_CASES))
def test_points_file_ns_train(name, fresh):
    root, scene = fresh
    build, fragments = POINTS_CASES[name]
    info = build(root, scene)
    info["file"] = info["points"]
    with opened_files() as opened, pytest.raises(Point2ActError) as e:
        ns_train(root, scene, points=info["points"])
    check_message(str(e.value), info, fragments)
    if "secret" in info:  # the key names an existing image outside the capture: never opened
        assert opened and not any(Path(p).name == "secret.png" for p in opened), opened
        assert all(info["secret"].resolve() != Path(p).resolve() for p in opened if os.path.exists(p))


@pytest.mark.parametrize("name", [n for n in POINTS_CASES if n != "only_eval_views"])  # needs nerfstudio's split
def test_points_file_point2act_check(name, fresh, capsys):
    root, scene = fresh
    build, fragments = POINTS_CASES[name]
    info = build(root, scene)
    info["file"] = info["points"]
    with opened_files() as opened:
        msg = cli(["check", "--data", scene, "--points-file", info["points"]], capsys)
    check_message(msg, info, fragments)
    if "secret" in info:
        assert opened and not any(Path(p).name == "secret.png" for p in opened), opened


# -- the task -------------------------------------------------------------------------------------
def test_empty_prompt_point(fresh, capsys):
    root, scene = fresh
    msg = cli(["point", "--data", scene, "--prompt", "", "--output", root / "p.json"], capsys)
    assert "a prompt is needed" in msg and not (root / "p.json").exists()


def test_blank_prompt_ns_train(fresh):
    root, scene = fresh
    with pytest.raises(Point2ActError, match="a prompt is needed"):
        ns_train(root, scene, prompt="   ")


# -- the MLLM's answer ----------------------------------------------------------------------------
@pytest.mark.parametrize("family", list(FAMILY_ANSWERS))
def test_unparseable_answer_raise_policy(family, fresh, capsys):
    """--on-parse-error raise: exit 2 naming the family and the view; no points file; the answer
    already paid for is in the cache (a rerun does not ask again)."""
    root, scene = fresh
    server = bi.ChatServer(FAMILY_ANSWERS[family])
    try:
        msg = cli(["point", "--data", scene, "--prompt", "the mug handle", "--backend", "openai",
                   "--base-url", server.base_url, "--model", "test-model", "--family", family,
                   "--on-parse-error", "raise", "--concurrency", "1", "--max-retries", "0",
                   "--cache-dir", root / "cache", "--output", root / "p.json", "--quiet"], capsys)
    finally:
        server.close()
    assert f"could not parse a '{family}' pointing answer" in msg and f"view '{bi.key(0)}'" in msg, msg
    assert not (root / "p.json").exists()
    assert len(server.requests) == 1 and len(list((root / "cache").rglob("*.json"))) == 1


def test_unparseable_answers_default_policy_then_nothing_to_supervise(fresh, capsys):
    """Default policy: every view gets [] with a warning and the file is written; training on it
    then stops with 'nothing to supervise', naming the file."""
    from point2act.cli import entrypoint

    root, scene = fresh
    server = bi.ChatServer(FAMILY_ANSWERS["json"])
    try:
        entrypoint(["point", "--data", str(scene), "--prompt", "the mug handle", "--backend", "openai",
                    "--base-url", server.base_url, "--model", "m", "--family", "json", "--max-retries", "0",
                    "--cache-dir", str(root / "cache"), "--output", str(root / "p.json"), "--quiet"])
    finally:
        server.close()
    out, err = capsys.readouterr()
    assert f"{bi.NUM_VIEWS} unparseable" in out and "no view has a point" in err
    data = json.loads((root / "p.json").read_text())
    assert all(v == [] for v in data["points"].values()) and len(data["metadata"]["parse_errors"]) == bi.NUM_VIEWS
    msg = cli(["check", "--data", scene, "--points-file", root / "p.json"], capsys)
    assert str(root / "p.json") in msg and "nothing to supervise" in msg
