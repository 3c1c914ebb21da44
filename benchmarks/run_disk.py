"""``python -m benchmarks.run_disk RUN [RUN ...]``: what a trained run keeps on disk, against the issue's budget
(the run folder at most 10 times its checkpoint).

Per run folder (the one holding ``config.yml``): the folder's bytes, the latest checkpoint's, their ratio, and the
run cache's (``point2act_cache.npz``) bytes per section (:mod:`point2act.cache_file`), with the readers of each.
Writes ``benchmarks/results/run_disk.md`` and ``.json`` with the command, the commit and the machine."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Dict, List

from benchmarks.faults.common import RESULTS, commit, machine

READERS = {
    "export": "`point2act export` without torch (the Gaussians' arrays, the supervised views, the fusion views' "
              "depth renders)",
    "fusion-views": "a `point2act query` channel's export (the Gaussians and cameras its relevancy in the fusion views "
                    "is computed from)",
    "weights": "`point2act query`'s refit and views' consensus (the training views' compositing weights)",
    "query": "`point2act query` without torch (the supervision's cameras and depth maps)",
    "info": "every later command (cameras and answers, no nerfstudio pipeline)",
}


def _reader(section: str) -> str:
    return next((v for k, v in READERS.items() if section.startswith(k)), "")


def measure(config: Path) -> Dict:
    run = config.parent
    files = [p for p in run.rglob("*") if p.is_file()]
    ckpts = sorted((run / "nerfstudio_models").glob("step-*.ckpt"))
    sections: Counter = Counter()
    cache = run / "point2act_cache.npz"
    if cache.is_file():
        with zipfile.ZipFile(cache) as z:
            for info in z.infolist():
                sections[info.filename.split("/", 1)[0] if "/" in info.filename else "(key)"] += info.compress_size
    folder = sum(p.stat().st_size for p in files)
    ckpt = ckpts[-1].stat().st_size if ckpts else 0
    return {"run": str(run), "folder_bytes": folder, "checkpoint_bytes": ckpt,
            "ratio": round(folder / ckpt, 1) if ckpt else None,
            "cache_bytes": cache.stat().st_size if cache.is_file() else 0,
            "sections": dict(sections.most_common())}


def markdown(doc: Dict) -> str:
    m = doc["_meta"]
    out = ["# What a trained run keeps on disk", "",
           f"`{m['command']}` at commit {m['commit']}, {m['started']}: {m['cpu']} ({m['isa']}). The budget: the run "
           "folder at most 10 times its checkpoint.", "",
           "| run | folder (MB) | checkpoint (MB) | folder / checkpoint | run cache (MB) |", "|---|---:|---:|---:|---:|"]
    mb = lambda b: f"{b / 1e6:.1f}"  # noqa: E731
    for r in doc["runs"]:
        out.append(f"| `{r['run']}` | {mb(r['folder_bytes'])} | {mb(r['checkpoint_bytes'])} | {r['ratio']} | "
                   f"{mb(r['cache_bytes'])} |")
    out += ["", "The run cache by section (MB) and what reads it:", "", "| run | section | MB | read by |", "|---|---|---:|---|"]
    for r in doc["runs"]:
        for s, b in r["sections"].items():
            out.append(f"| `{Path(r['run']).name}` | `{s}` | {mb(b)} | {_reader(s)} |")
    return "\n".join(out) + "\n"


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run_disk", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders or their config.yml")
    ap.add_argument("--name", default="run_disk")
    args = ap.parse_args(argv)
    doc = {"_meta": {"command": "python -m benchmarks.run_disk " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
                     "commit": commit(), **machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")},
           "runs": [measure(r if r.name == "config.yml" else r / "config.yml") for r in args.runs]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
