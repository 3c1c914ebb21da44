"""``python -m benchmarks.accuracy.depth``: the reconstruction's depth against the true depth, per start cloud.

For every cached geometry run of the test splits (``SCENE/recon_it2000_seedS[_cloudCOND]``, written by
``python -m benchmarks.accuracy --cloud COND --train-seeds ...``; the ``exact`` condition is the run without a
suffix), every training view is rendered two ways and compared with the generator's true z-depth
(``frames[].true_depth_path``) on the pixels that have both:

* **expected** depth, the opacity-weighted mean (``render_mode="ED"``);
* **median** depth, where the composited opacity reaches 0.5 (:func:`point2act.fusion.render_median_depth`):
  the surface the grasp head fuses and the views' consensus lifts the answers onto.

Per run: the median over views of each view's median absolute error (mm), and the share of pixels more than
1 cm in front of / behind the true surface. The table gives, per condition and generator, the median and the
worst run. Writes ``benchmarks/results/accuracy/clouds/depth.md`` and ``depth.json``. Trains nothing: runs
that are not cached are skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from .clouds import CLOUDS, _commit
from .run import BenchConfig
from .suite import all_specs, scene_dir, split_generator

SPLITS = ("test", "kitchen_test", "studio_test")
SUFFIX = {"none": "_cloudnone", "triangulated": "_cloudtriangulated", "exact": ""}


def run_depth_errors(config_path: Path, scene: Path) -> Dict[str, float]:
    """Expected and median depth of every training view of one run against the true depth."""
    from PIL import Image

    from point2act.fusion import render_expected_depth, render_median_depth
    from point2act.splatting import Views
    from point2act.render import Splats
    from point2act.method.run_layer import camera_views, gaussian_tensors, load_run

    _, pipe = load_run(config_path)
    g = gaussian_tensors(pipe.model)
    out = pipe.datamanager.train_dataparser_outputs
    vms, Ks, sizes = camera_views(out.cameras)
    scale = float(json.loads((config_path.parent / "dataparser_transforms.json").read_text())["scale"])
    frames = {Path(f["file_path"]).name: f for f in json.loads((scene / "transforms.json").read_text())["frames"]}
    per: Dict[str, List[tuple]] = {"expected": [], "median": []}
    for i, fp in enumerate(out.image_filenames):
        H, W = sizes[i]
        splats = Splats(g["means"], g["quats"], g["scales"], g["opacities"])
        view = Views.one_size(vms[i : i + 1], Ks[i : i + 1], W, H)
        exp, _ = render_expected_depth(splats, view)
        med, _ = render_median_depth(splats, view)
        truth = np.asarray(Image.open(scene / frames[Path(fp).name]["true_depth_path"]), dtype=np.float64) / 1000.0
        for name, d in (("expected", exp[0].numpy()), ("median", med)):
            d = np.asarray(d, dtype=np.float64) / scale
            ok = (truth > 0) & (d > 0) & np.isfinite(d)
            e = d[ok] - truth[ok]
            if len(e):
                per[name].append((float(np.median(np.abs(e))) * 1000, float(np.mean(e < -0.01)),
                                  float(np.mean(e > 0.01))))
    res: Dict[str, float] = {}
    for name, rows in per.items():
        a = np.asarray(rows)
        res[f"{name}_mm"] = float(np.median(a[:, 0]))
        res[f"{name}_front"] = float(a[:, 1].mean())
        res[f"{name}_behind"] = float(a[:, 2].mean())
    return res


def collect(seeds=(0, 1, 2), log=print) -> List[Dict[str, Any]]:
    """Every cached run of the test splits: (split, scene, condition, seed) and its errors."""
    bc = BenchConfig()
    specs = [s for s in all_specs().values() if s.split in SPLITS]
    rows = []
    for spec in specs:
        sd = scene_dir(spec, bc.common(), bc.cache_root)
        for cond, suffix in SUFFIX.items():
            for seed in seeds:
                cp = sd / f"recon_it{bc.iterations}_seed{seed}{suffix}" / "demo/point2act/run/config.yml"
                if not cp.exists():
                    continue
                r = run_depth_errors(cp, sd)
                r.update(generator=split_generator(spec.split), scene=spec.name, cloud=cond, seed=seed)
                log(f"{cond:12s} {spec.name:32s} seed {seed}: expected {r['expected_mm']:.1f} mm, "
                    f"median {r['median_mm']:.1f} mm")
                rows.append(r)
    return rows


def table(rows: List[Dict[str, Any]]) -> str:
    lines = ["| cloud | generator | runs | expected depth: error mm, median / worst run | in front > 1 cm | behind > 1 cm "
             "| median depth: error mm, median / worst run | in front > 1 cm | behind > 1 cm |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for cond in SUFFIX:
        for gen in sorted({r["generator"] for r in rows}):
            rs = [r for r in rows if r["cloud"] == cond and r["generator"] == gen]
            if not rs:
                continue
            cells = []
            for name in ("expected", "median"):
                mm = np.array([r[f"{name}_mm"] for r in rs])
                cells += [f"{np.median(mm):.1f} / {mm.max():.1f}",
                          f"{100 * np.median([r[f'{name}_front'] for r in rs]):.0f} %",
                          f"{100 * np.median([r[f'{name}_behind'] for r in rs]):.0f} %"]
            lines.append(f"| {cond} | {gen} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=CLOUDS)
    a = ap.parse_args(argv)
    rows = collect(tuple(a.seeds))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "depth.json").write_text(json.dumps(rows, indent=1))
    md = (f"# The reconstruction's depth against the true depth (`python -m benchmarks.accuracy.depth`)\n\n"
          f"Commit {_commit()}. Every cached geometry run of the three test splits (training seeds {a.seeds}; "
          "`exact`: seed 0), every training view; per run the median over views of each view's median absolute "
          "error, and the mean share of pixels more than 1 cm in front of or behind the true surface (median over "
          "runs). Expected depth: the opacity-weighted mean; median depth: where the composited opacity reaches "
          "0.5, the surface the grasp head fuses.\n\n" + table(rows) + "\n")
    (a.out / "depth.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
