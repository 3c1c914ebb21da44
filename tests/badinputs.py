"""Generators of bad inputs for tests/test_bad_inputs.py: each case starts from a tiny synthetic
capture (``point2act synth``: 10 views at 64x48, made once per test run) and breaks one thing.

A case is a function ``build(root: Path, scene: Path) -> dict`` that edits a fresh copy of the
scene (``scene``, inside ``root``) and returns what the runner needs: ``points`` (a points file),
``data`` (the capture to pass), ``file`` (the file the message must name) and ``entry`` (the entry
it must name). The expected message fragments live with the case in the test module.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict

NUM_VIEWS = 10
WIDTH, HEIGHT = 64, 48
EVAL_VIEW = "images/frame_0008.png"
"""The one eval view of a 10-view capture under nerfstudio's default 0.9 train fraction."""


def make_base_scene(out: Path) -> Path:
    """The tiny synthetic capture every case starts from."""
    from point2act.synth import SynthConfig, generate_scene

    generate_scene(out, SynthConfig(seed=0, num_views=NUM_VIEWS, width=WIDTH, height=HEIGHT,
                                    num_seed_points=500, num_gt_points=100, shadows=False))
    return out


def copy_scene(base: Path, root: Path) -> Path:
    """A private copy of the base scene under ``root`` (cases edit it freely)."""
    dst = root / "capture"
    shutil.copytree(base, dst)
    return dst


def key(i: int) -> str:
    return f"images/frame_{i:04d}.png"


def edit_transforms(scene: Path, fn: Callable[[Dict[str, Any]], None]) -> Path:
    path = scene / "transforms.json"
    meta = json.loads(path.read_text())
    fn(meta)
    path.write_text(json.dumps(meta, indent=1))
    return path


def write_points(root: Path, points: Any, name: str = "points.json", raw: str | None = None) -> Path:
    path = root / name
    path.write_text(raw if raw is not None else json.dumps({"prompt": "the mug handle", "points": points}))
    return path


def good_points(extra: Dict[str, Any] | None = None) -> Dict[str, Any]:
    pts: Dict[str, Any] = {key(1): [[38.5, 26.5]], key(2): [[28.5, 27.5]], key(0): []}
    pts.update(extra or {})
    return pts


class ChatServer:
    """A minimal OpenAI-compatible chat-completions server on 127.0.0.1 answering ``answer``.

    Records each request's headers and body (to check what was sent, e.g. the API key).
    """

    def __init__(self, answer: str = "", status: int = 200, echo_auth: bool = False, pad: int = 0) -> None:
        self.answer = answer
        self.pad = pad
        self.status = status
        self.echo_auth = echo_auth
        self.requests: list = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                return

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                srv.requests.append({"headers": dict(self.headers), "body": raw})
                if srv.echo_auth:  # a server that echoes the request's headers in its error
                    body = json.dumps({"error": "unauthorized", "pad": "p" * srv.pad,
                                       "authorization": self.headers.get("Authorization", ""),
                                       "headers": dict(self.headers), "tail": "t" * 400}).encode()
                else:
                    body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                                            "content": srv.answer}}]}).encode()
                self.send_response(srv.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # poll_interval: shutdown() waits up to one interval for the loop to notice
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------------------------
# capture cases
# --------------------------------------------------------------------------------------------
def c_missing_transforms(root, scene):
    (scene / "transforms.json").unlink()
    return {"file": scene / "transforms.json", "entry": "no transforms.json"}


def c_invalid_json(root, scene):
    path = scene / "transforms.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # a truncated write
    return {"file": path, "entry": "line "}


def c_no_frames(root, scene):
    return {"file": edit_transforms(scene, lambda m: m.update(frames=[])), "entry": "'frames'"}


def c_frame_without_file_path(root, scene):
    return {"file": edit_transforms(scene, lambda m: m["frames"][3].pop("file_path")), "entry": "frames[3]"}


def c_image_missing(root, scene):
    (scene / key(4)).unlink()
    return {"file": scene / "transforms.json", "entry": f"frames[4] ('{key(4)}')"}


def c_image_truncated(root, scene):
    p = scene / key(5)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return {"file": scene / "transforms.json", "entry": f"frames[5] ('{key(5)}')"}


def c_image_not_an_image(root, scene):
    (scene / key(6)).write_text("this is not a PNG\n")
    return {"file": scene / "transforms.json", "entry": f"frames[6] ('{key(6)}')"}


def c_nan_pose(root, scene):
    def fn(m):
        m["frames"][2]["transform_matrix"][1][3] = float("nan")

    return {"file": edit_transforms(scene, fn), "entry": f"frames[2] ('{key(2)}')"}


def c_singular_pose(root, scene):
    def fn(m):
        t = m["frames"][7]["transform_matrix"]
        for r in range(3):
            t[r][2] = t[r][0]  # z axis == x axis: rank 2

    return {"file": edit_transforms(scene, fn), "entry": f"frames[7] ('{key(7)}')"}


def c_pose_wrong_shape(root, scene):
    def fn(m):
        m["frames"][1]["transform_matrix"] = [row[:3] for row in m["frames"][1]["transform_matrix"][:3]]

    return {"file": edit_transforms(scene, fn), "entry": f"frames[1] ('{key(1)}')"}


def c_zero_focal(root, scene):
    return {"file": edit_transforms(scene, lambda m: m.update(fl_x=0.0)), "entry": "top level"}


def c_negative_focal_per_frame(root, scene):
    def fn(m):
        fy = m.pop("fl_y")
        for f in m["frames"]:
            f["fl_y"] = fy
        m["frames"][3]["fl_y"] = -fy

    return {"file": edit_transforms(scene, fn), "entry": f"frames[3] ('{key(3)}')"}


def c_missing_intrinsic(root, scene):
    return {"file": edit_transforms(scene, lambda m: m.pop("cx")), "entry": "frames[0]"}


def c_size_mismatch(root, scene):
    return {"file": edit_transforms(scene, lambda m: m.update(w=WIDTH + 16)), "entry": "frames[0]"}


def c_unknown_camera_model(root, scene):
    return {"file": edit_transforms(scene, lambda m: m.update(camera_model="PINHOLEE")), "entry": "'camera_model'"}


def c_ply_missing(root, scene):
    (scene / "sparse_pc.ply").unlink()
    return {"file": scene / "transforms.json", "entry": "'ply_file_path'"}


def c_data_missing(root, scene):
    return {"data": root / "no_such_capture", "file": root / "no_such_capture", "entry": "capture folder"}


# --------------------------------------------------------------------------------------------
# points-file cases
# --------------------------------------------------------------------------------------------
def p_unknown_key(root, scene):
    return {"points": write_points(root, good_points({"images/frame_0042.png": [[1.0, 2.0]]})),
            "entry": "'images/frame_0042.png'"}


def p_outside(root, scene):
    return {"points": write_points(root, good_points({key(3): [[10.0, 480.0]]})), "entry": f"'{key(3)}', point 0"}


def p_nan(root, scene):
    raw = json.dumps({"points": good_points()}).replace("38.5", "NaN")
    return {"points": write_points(root, None, raw=raw), "entry": f"'{key(1)}', point 0"}


def p_wrong_nesting(root, scene):
    return {"points": write_points(root, good_points({key(2): [28.5, 27.5]})), "entry": f"'{key(2)}', point 0"}


def p_all_empty(root, scene):
    return {"points": write_points(root, {key(i): [] for i in range(NUM_VIEWS)}), "entry": "every view is []"}


def p_only_eval_views(root, scene):
    return {"points": write_points(root, {EVAL_VIEW: [[30.0, 20.0]]}), "entry": "none of its 1 views"}


def _secret(root: Path) -> Path:
    """An existing, valid image outside the capture that a key tries to reach."""
    from PIL import Image

    p = root / "secret.png"
    Image.new("RGB", (4000, 3000), (255, 0, 0)).save(p)
    return p


def p_key_escapes_relative(root, scene):
    _secret(root)
    return {"points": write_points(root, good_points({"../secret.png": [[3000.0, 2000.0]]})),
            "entry": "'../secret.png'", "secret": root / "secret.png"}


def p_key_escapes_absolute(root, scene):
    s = _secret(root)
    return {"points": write_points(root, good_points({str(s): [[3000.0, 2000.0]]})), "entry": repr(str(s)),
            "secret": s}


def p_invalid_json(root, scene):
    return {"points": write_points(root, None, raw='{"points": {\n "images/frame_0001.png": [[1, 2]],,\n}}'),
            "entry": "line 2"}


def p_missing_file(root, scene):
    return {"points": root / "nowhere.json", "entry": "points file not found"}


# --------------------------------------------------------------------------------------------
# captures as users have them: what real captures trip
# nerfstudio 1.1.5 on. Broken ones (capture cases above) must fail in one paragraph; the FIXED
# cases below must train, with one warning per kind of fix.
# --------------------------------------------------------------------------------------------
def _frames(scene: Path):
    return json.loads((scene / "transforms.json").read_text())["frames"]


def _downscaled_copy(scene: Path, factor: int, size_fn, folder: str = "images") -> Path:
    """Write ``{folder}_{factor}/`` with each image of ``folder``/ resized to ``size_fn(w, h)``."""
    from PIL import Image

    out = scene / f"{folder}_{factor}"
    out.mkdir(exist_ok=True)
    for p in sorted((scene / folder).iterdir()):
        with Image.open(p) as im:
            im.resize(size_fn(*im.size), Image.Resampling.LANCZOS).save(out / p.name)
    return out


def _add_masks(scene: Path, mode: str = "L", size=None) -> None:
    """A keep-everything mask per frame (``mask_path``), as PNGs in ``masks/`` (the synth's part ids
    move to ``part_masks/``), of the given mode and size (default: the image's)."""
    from PIL import Image

    if (scene / "masks").is_dir():
        (scene / "masks").rename(scene / "part_masks")
    (scene / "masks").mkdir()

    def fn(m):
        for f in m["frames"]:
            name = Path(f["file_path"]).name
            f["mask_path"] = f"masks/{name}"
            Image.new(mode, size or (WIDTH, HEIGHT), 255 if mode in ("L", "1") else (255,) * len(mode)).save(
                scene / "masks" / name)

    edit_transforms(scene, fn)


def c_downscaled_size_mismatch(root, scene):
    """images_2/ made at the wrong size (not a rounding): 30x24 where nerfstudio's camera is 32x24."""
    _downscaled_copy(scene, 2, lambda w, h: (w // 2 - 2, h // 2))
    return {"file": scene / "transforms.json", "entry": f"frames[0] ('{key(0)}')", "downscale": 2}


def c_mask_wrong_size(root, scene):
    _add_masks(scene, size=(WIDTH // 2, HEIGHT // 2))
    return {"file": scene / "transforms.json", "entry": f"frames[0] ('{key(0)}')"}


def c_mask_unreadable(root, scene):
    _add_masks(scene)
    (scene / "masks" / Path(key(2)).name).write_text("not a mask\n")
    return {"file": scene / "transforms.json", "entry": f"frames[2] ('{key(2)}')"}


def x_downscaled_rounding(root, scene):
    """images_2/ 1 pixel larger than nerfstudio's rounded-down camera (806 / 4 -> 202, camera 201)."""
    _downscaled_copy(scene, 2, lambda w, h: (w // 2 + 1, h // 2 + 1))
    return {"downscale": 2, "warning": "1 pixel off nerfstudio's rounded-down camera size"}


def x_downscaled_dir_missing(root, scene):
    """--downscale-factor 2 without images_2/: nerfstudio-data would fail on the first image."""
    return {"downscale": 2, "warning": "images_2/ not found: the stored images are downscaled by 2 on load"}


def x_exif_rotated_jpegs(root, scene):
    """Phone JPEGs stored sideways with an EXIF orientation tag (6: rotate 90 degrees clockwise to
    view); the poses and w x h are those of the upright image."""
    from PIL import Image

    def fn(m):
        for f in m["frames"][6:]:
            src = scene / f["file_path"]
            dst = src.with_suffix(".jpg")
            with Image.open(src) as im:
                exif = Image.Exif()
                exif[0x0112] = 6
                im.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(dst, quality=95, exif=exif)
            src.unlink()
            f["file_path"] = Path(f["file_path"]).with_suffix(".jpg").as_posix()

    edit_transforms(scene, fn)
    return {"warning": "EXIF orientation applied"}


def x_image_modes(root, scene):
    """Grayscale, grayscale + alpha, palette, 16-bit and RGBA images among RGB ones."""
    import numpy as np
    from PIL import Image

    for i, mode in ((1, "L"), (2, "LA"), (3, "P"), (4, "RGBA"), (5, "I;16")):
        p = scene / key(i)
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        if mode == "I;16":
            a = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
            Image.fromarray(a).save(p)  # uint16 -> mode I;16
        else:
            rgb.convert(mode).save(p)
    return {"warning": "converted to"}


def x_masks_rgb(root, scene):
    """Masks saved as RGB PNGs (nerfstudio 1.1.5: 'The mask image should have 1 channel')."""
    _add_masks(scene, mode="RGB")
    return {"warning": "mask converted to one channel"}


def x_masks_rounding(root, scene):
    """masks_2/ 1 pixel off as images_2/ is (both made by rounding)."""
    _add_masks(scene)
    _downscaled_copy(scene, 2, lambda w, h: (w // 2 + 1, h // 2), folder="images")
    _downscaled_copy(scene, 2, lambda w, h: (w // 2 + 1, h // 2), folder="masks")
    return {"downscale": 2, "warning": "masks"}


# --------------------------------------------------------------------------------------------
# COLMAP-only captures (colmap/sparse/0 + images/, no transforms.json)
# --------------------------------------------------------------------------------------------
def _quaternion(R) -> list:
    """Rotation matrix -> COLMAP's (qw, qx, qy, qz), robust for any rotation (Shepperd's method)."""
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        return [s / 4, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    i = int(max(range(3), key=lambda k: R[k, k]))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = math.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k]) * 2
    q = [0.0, 0.0, 0.0, 0.0]
    q[0] = (R[k, j] - R[j, k]) / s
    q[1 + i] = s / 4
    q[1 + j] = (R[j, i] + R[i, j]) / s
    q[1 + k] = (R[k, i] + R[i, k]) / s
    return q


def make_colmap_capture(scene: Path, out: Path) -> Path:
    """The synthetic capture as COLMAP would leave it: ``colmap/sparse/0/{cameras,images,points3D}.txt``
    (OpenCV world-to-camera poses) and ``images/``; no transforms.json."""
    import numpy as np

    meta = json.loads((scene / "transforms.json").read_text())
    out.mkdir(parents=True)
    shutil.copytree(scene / "images", out / "images")
    sparse = out / "colmap" / "sparse" / "0"
    sparse.mkdir(parents=True)
    (sparse / "cameras.txt").write_text(
        f"1 PINHOLE {meta['w']} {meta['h']} {meta['fl_x']} {meta['fl_y']} {meta['cx']} {meta['cy']}\n")
    lines = []
    for i, f in enumerate(meta["frames"]):
        c2w = np.asarray(f["transform_matrix"], dtype=np.float64)
        c2w[:3, 1:3] *= -1  # OpenGL -> OpenCV camera axes
        w2c = np.linalg.inv(c2w)
        R, t = w2c[:3, :3], w2c[:3, 3]
        q = _quaternion(R)
        lines.append(f"{i + 1} {' '.join(map(str, q))} {' '.join(map(str, t))} 1 {Path(f['file_path']).name}\n\n")
    (sparse / "images.txt").write_text("".join(lines))
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.1, 0.1, (50, 3))
    (sparse / "points3D.txt").write_text("".join(
        f"{k + 1} {p[0]} {p[1]} {p[2]} 128 128 128 0.5\n" for k, p in enumerate(pts)))
    return out
