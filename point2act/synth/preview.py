"""Contact sheet of a generated scene: views in a grid with the oracle points drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from point2act.synth.config import PART_MUG_HANDLE


def contact_sheet(
    scene_dir: Path | str,
    out_png: Path | str,
    views: list[int] | None = None,
    cols: int = 4,
    points_file: str = "points/oracle.json",
    outline_target: bool = True,
) -> Path:
    """Tile views of ``scene_dir`` into ``out_png``.

    Each tile shows the RGB image, the target part's outline (cyan, from the mask) and the
    oracle point (magenta cross); views whose answer is ``[]`` get a red border.
    ``views`` are frame indices (default: all).
    """
    scene_dir, out_png = Path(scene_dir), Path(out_png)
    meta = json.loads((scene_dir / "transforms.json").read_text())
    pts_path = scene_dir / points_file
    pts = json.loads(pts_path.read_text())["points"] if pts_path.is_file() else {}
    frames = meta["frames"]
    views = list(range(len(frames))) if views is None else views
    w, h = int(meta["w"]), int(meta["h"])
    rows = (len(views) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    for n, vi in enumerate(views):
        f = frames[vi]
        img = np.asarray(Image.open(scene_dir / f["file_path"]).convert("RGB")).copy()
        mask_rel = f.get("part_mask_path")
        if outline_target and mask_rel:
            m = np.asarray(Image.open(scene_dir / mask_rel)) == PART_MUG_HANDLE
            edge = m & ~(
                np.pad(m, 1)[:-2, 1:-1] & np.pad(m, 1)[2:, 1:-1] & np.pad(m, 1)[1:-1, :-2] & np.pad(m, 1)[1:-1, 2:]
            )
            img[edge] = (0, 230, 230)
        tile = Image.fromarray(img)
        d = ImageDraw.Draw(tile)
        ans = pts.get(f["file_path"])
        if ans:
            for x, y in ans:
                d.line([(x - 5, y), (x + 5, y)], fill=(255, 0, 255), width=2)
                d.line([(x, y - 5), (x, y + 5)], fill=(255, 0, 255), width=2)
        elif ans == []:
            d.rectangle([0, 0, w - 1, h - 1], outline=(230, 0, 0), width=3)
        d.text((4, 2), f"{vi}", fill=(255, 255, 255))
        sheet.paste(tile, ((n % cols) * w, (n // cols) * h))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png)
    return out_png
