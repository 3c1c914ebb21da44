"""Tools for annotating a target by hand: gridded crops to look at, a contact sheet, triangulation.

    # a contact sheet of every view (to pick views spread around the object)
    python -m benchmarks.real.annotate sheet coke --out /tmp/coke_sheet.png [--keys images/0001.jpg ...]
    # a gridded overview of one view (tick labels in full-resolution pixels)
    python -m benchmarks.real.annotate view coke images/0001.jpg --out /tmp/v.png
    # a zoomed crop around (x, y), with markers at candidate points
    python -m benchmarks.real.annotate crop coke images/0001.jpg 262 165 --half 40 --mark 262 165 --out /tmp/c.png
    # triangulate a target file's hand points and print each view's reprojection error
    python -m benchmarks.real.annotate check benchmarks/real/targets/coke-pull_tab.json [--write]

Open the PNGs with an image viewer, move the marker, look again. The point goes on the part's
visible surface, in pixels of the stored full-resolution image (pixel (row i, col j) has its centre
at (j + 0.5, i + 0.5)).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchmarks.real.targets import CAPTURES, cameras_of, load_target, triangulate_target, write_target


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def load_rgb(path: Path) -> Image.Image:
    im = Image.open(path)
    if im.mode == "RGBA":
        bg = Image.new("RGB", im.size, (128, 128, 128))
        bg.paste(im, mask=im.split()[3])
        return bg
    return im.convert("RGB")


def _marker(d: ImageDraw.ImageDraw, x: float, y: float, r: float, color, label: str | None = None, font=None):
    d.ellipse([x - r, y - r, x + r, y + r], outline=color, width=2)
    d.line([x - 2 * r, y, x - r / 2, y], fill=color, width=1)
    d.line([x + r / 2, y, x + 2 * r, y], fill=color, width=1)
    d.line([x, y - 2 * r, x, y - r / 2], fill=color, width=1)
    d.line([x, y + r / 2, x, y + 2 * r], fill=color, width=1)
    if label:
        d.text((x + r + 2, y - r - 12), label, fill=color, font=font)


COLORS = [(255, 0, 255), (0, 255, 255), (255, 255, 0), (255, 64, 64), (64, 255, 64)]


def render_crop(image: Image.Image, cx: float, cy: float, half: float, zoom: float,
                marks: Sequence[Tuple[float, float]] = (), labels: Sequence[str] = (), grid: float | None = None) -> Image.Image:
    """A crop [cx +- half, cy +- half] (full-res pixels) scaled by ``zoom``, with a labelled grid in
    full-resolution pixel coordinates (lines on pixel *edges*, i.e. integer coordinates) and markers."""
    x0, y0 = int(math.floor(cx - half)), int(math.floor(cy - half))
    x1, y1 = int(math.ceil(cx + half)), int(math.ceil(cy + half))
    crop = image.crop((x0, y0, x1, y1))
    W, H = int((x1 - x0) * zoom), int((y1 - y0) * zoom)
    crop = crop.resize((W, H), Image.NEAREST if zoom >= 3 else Image.LANCZOS)
    pad = 40
    canvas = Image.new("RGB", (W + 2 * pad, H + 2 * pad), (255, 255, 255))
    canvas.paste(crop, (pad, pad))
    d = ImageDraw.Draw(canvas)
    font = _font(14)
    if grid is None:
        span = 2 * half
        grid = next(g for g in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500) if span / g <= 12)
    gx = math.ceil(x0 / grid) * grid
    while gx <= x1:
        X = pad + (gx - x0) * zoom
        d.line([X, pad, X, pad + H], fill=(0, 0, 0), width=1)
        d.text((X - 10, 4), f"{gx:g}", fill=(0, 0, 0), font=font)
        d.text((X - 10, pad + H + 22), f"{gx:g}", fill=(0, 0, 0), font=font)
        gx += grid
    gy = math.ceil(y0 / grid) * grid
    while gy <= y1:
        Y = pad + (gy - y0) * zoom
        d.line([pad, Y, pad + W, Y], fill=(0, 0, 0), width=1)
        d.text((2, Y - 8), f"{gy:g}", fill=(0, 0, 0), font=font)
        d.text((pad + W + 4, Y - 8), f"{gy:g}", fill=(0, 0, 0), font=font)
        gy += grid
    for i, (mx, my) in enumerate(marks):
        X, Y = pad + (mx - x0) * zoom, pad + (my - y0) * zoom
        _marker(d, X, Y, max(4.0, zoom * 1.5), COLORS[i % len(COLORS)], labels[i] if i < len(labels) else None, font)
    return canvas


def render_view(image: Image.Image, width: int = 1000, grid: float = 100, marks=(), labels=()) -> Image.Image:
    s = width / image.width
    return render_crop(image, image.width / 2, image.height / 2, max(image.width, image.height) / 2, s, marks, labels, grid)


def contact_sheet(images: Sequence[Tuple[str, Image.Image]], thumb: int = 220, cols: int = 8,
                  marks: Sequence[Sequence[Tuple[float, float]]] | None = None) -> Image.Image:
    rows = math.ceil(len(images) / cols)
    cell_w, cell_h = thumb, thumb + 16
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    font = _font(12)
    for i, (name, im) in enumerate(images):
        s = thumb / max(im.size)
        t = im.resize((max(1, int(im.width * s)), max(1, int(im.height * s))), Image.LANCZOS)
        ox, oy = (i % cols) * cell_w, (i // cols) * cell_h
        sheet.paste(t, (ox, oy + 16))
        d.text((ox + 2, oy + 1), name, fill=(0, 0, 0), font=font)
        if marks is not None:
            for mx, my in marks[i]:
                _marker(d, ox + mx * s, oy + 16 + my * s, 4, (255, 0, 255))
    return sheet


def targets_table() -> str:
    """Markdown table of every target: views and the annotations' reprojection spread."""
    from benchmarks.real.targets import all_targets

    rows = ["| capture | target | prompt | supervised (correct + errors) | held-out | error views | "
            "reprojection median / max px | image |",
            "|---|---|---|---|---:|---|---:|---|"]
    for t in all_targets():
        cams = cameras_of(t.capture)
        n_ok = sum(1 for k, v in t.supervised.items() if v and k not in t.errors)
        errs = ", ".join(f"{e['kind'].replace('_', ' ')} ({k.split('/')[-1][:12]})" for k, e in t.errors.items())
        vals = np.array(list(t.reprojection_px.values()))
        sizes = sorted({f"{cams[k].width}x{cams[k].height}" for k in list(t.supervised) + list(t.held_out)})
        rows.append(f"| {t.capture} | {t.target} | {t.prompt} | {len(t.supervised)} ({n_ok} + {len(t.errors)}) | "
                    f"{len(t.held_out)} | {errs} | {np.median(vals):.1f} / {vals.max():.1f} | "
                    f"{' / '.join(sizes)} |")
    return "\n".join(rows)


def main(argv: List[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sheet")
    s.add_argument("capture")
    s.add_argument("--keys", nargs="*")
    s.add_argument("--every", type=int, default=1)
    s.add_argument("--thumb", type=int, default=220)
    s.add_argument("--cols", type=int, default=8)
    s.add_argument("--project", type=float, nargs=3, help="mark this capture-frame point in every view")
    s.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("view")
    v.add_argument("capture")
    v.add_argument("key")
    v.add_argument("--width", type=int, default=1000)
    v.add_argument("--grid", type=float, default=100)
    v.add_argument("--mark", type=float, nargs=2, action="append", default=[])
    v.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("crop")
    c.add_argument("capture")
    c.add_argument("key")
    c.add_argument("x", type=float)
    c.add_argument("y", type=float)
    c.add_argument("--half", type=float, default=40)
    c.add_argument("--zoom", type=float, default=0)
    c.add_argument("--grid", type=float, default=None)
    c.add_argument("--mark", type=float, nargs=2, action="append", default=[])
    c.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("crops", help="several views' crops side by side: KEY:X:Y[:MX:MY] ...")
    m.add_argument("capture")
    m.add_argument("items", nargs="+")
    m.add_argument("--half", type=float, default=40)
    m.add_argument("--zoom", type=float, default=4)
    m.add_argument("--grid", type=float, default=None)
    m.add_argument("--cols", type=int, default=2)
    m.add_argument("--out", type=Path, required=True)
    sub.add_parser("table", help="the targets as a markdown table (docs/real-benchmark.md)")
    k = sub.add_parser("check")
    k.add_argument("target", type=Path)
    k.add_argument("--write", action="store_true", help="store the triangulated position in the target file")
    args = ap.parse_args(argv)

    if args.cmd == "check":
        t = load_target(args.target)
        X, errs = triangulate_target(t)
        print(f"{t.name}: X = {np.round(X, 4).tolist()}")
        for key, e in errs.items():
            flag = "  <-- re-examine" if e > 8 else ""
            print(f"  {key:45s} {e:6.2f} px{flag}")
        vals = np.array(list(errs.values()))
        print(f"  median {np.median(vals):.2f} px, max {vals.max():.2f} px over {len(vals)} views")
        if args.write:
            t.position = X.tolist()
            t.reprojection_px = {k: round(float(e), 2) for k, e in errs.items()}
            write_target(t, args.target)
            print(f"wrote {args.target}")
        return

    if args.cmd == "table":
        print(targets_table())
        return

    spec = CAPTURES[args.capture]
    cams = cameras_of(args.capture)
    if args.cmd == "sheet":
        keys = args.keys or sorted(cams)[:: args.every]
        ims, marks = [], []
        for key in keys:
            ims.append((key.split("/")[-1], load_rgb(cams[key].path)))
            if args.project is not None:
                uv = cams[key].project(np.asarray([args.project]))[0]
                marks.append([tuple(uv)] if cams[key].depth(np.asarray([args.project]))[0] > 0 else [])
        contact_sheet(ims, args.thumb, args.cols, marks if args.project is not None else None).save(args.out)
    elif args.cmd == "view":
        im = load_rgb(cams[args.key].path)
        render_view(im, args.width, args.grid, [tuple(m) for m in args.mark]).save(args.out)
    elif args.cmd == "crop":
        im = load_rgb(cams[args.key].path)
        zoom = args.zoom or max(1.0, 700.0 / (2 * args.half))
        render_crop(im, args.x, args.y, args.half, zoom, [tuple(m) for m in args.mark],
                    [str(i) for i in range(len(args.mark))] if len(args.mark) > 1 else (), args.grid).save(args.out)
    elif args.cmd == "crops":
        tiles = []
        for item in args.items:
            parts = item.split(":")
            key = parts[0] if "/" in parts[0] else f"images/{parts[0]}"
            if key not in cams:
                key = next((k for k in cams if k.startswith(key + ".")), key)
            x, y = float(parts[1]), float(parts[2])
            marks = [(float(parts[i]), float(parts[i + 1])) for i in range(3, len(parts) - 1, 2)]
            tile = render_crop(load_rgb(cams[key].path), x, y, args.half, args.zoom, marks,
                               [str(i) for i in range(len(marks))] if len(marks) > 1 else (), args.grid)
            d = ImageDraw.Draw(tile)
            d.text((44, tile.height - 18), key, fill=(200, 0, 0), font=_font(14))
            tiles.append(tile)
        w, h = max(t.width for t in tiles), max(t.height for t in tiles)
        rows = math.ceil(len(tiles) / args.cols)
        sheet = Image.new("RGB", (args.cols * w, rows * h), (255, 255, 255))
        for i, t in enumerate(tiles):
            sheet.paste(t, ((i % args.cols) * w, (i // args.cols) * h))
        sheet.save(args.out)
    print(args.out)
    del spec


if __name__ == "__main__":
    main()
