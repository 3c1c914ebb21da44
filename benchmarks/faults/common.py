"""What the fault cases share: the commands they run, the comparison of two grasps.json and the check that every
cached file loads."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Sequence

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

SMALL_TRAIN = ("--pipeline.model.num-downscales", "0", "--pipeline.model.warmup-length", "10",
               "--pipeline.model.refine-every", "10")
"""The schedule of the short trainings of the side-by-side and fault cases (as tests/method/test_resume.py's)."""


@dataclass
class Row:
    """One line of the results table."""

    group: str
    case: str
    outcome: str
    seconds: List[float] = field(default_factory=list)
    ok: bool = True
    detail: Dict = field(default_factory=dict)

    def to_dict(self) -> Dict:
        return {"group": self.group, "case": self.case, "outcome": self.outcome, "ok": self.ok,
                "seconds": [round(s, 2) for s in self.seconds], **({"detail": self.detail} if self.detail else {})}


def machine() -> Dict:
    """The CPU model (lscpu's), its widest vector ISA, the cores and the load when the run started."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else ""
    except OSError:
        pass
    from point2act._cpp import cpu_features

    feats = set(cpu_features().split())
    isa = next((name for name, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("neon", "asimd")) if flag in feats),
               platform.machine())
    return {"cpu": model, "isa": isa, "cores": os.cpu_count(), "loadavg_1min": os.getloadavg()[0],
            "python": platform.python_version()}


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def env(**over: str) -> Dict[str, str]:
    """This process's environment for a child, unbuffered, with ``over`` set."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **{k: str(v) for k, v in over.items()}}


def synth_scene(path: Path, seed: int = 0, small: bool = False) -> Path:
    """A ``point2act synth`` scene at ``path`` (made once): the demo's (24 views, 256x192) or, ``small``, the test
    suite's 8-view 96x72 one."""
    if (path / "transforms.json").is_file():
        return path
    from point2act.synth import SynthConfig, generate_scene

    cfg = SynthConfig(seed=seed, num_views=8, width=96, height=72, num_seed_points=1500) if small \
        else SynthConfig(seed=seed)
    generate_scene(path, cfg)
    return path


def train_cmd(scene: Path, out: Path, steps: int, *extra: str, timestamp: str | None = "run",
              experiment: str = "run", save_every: int | None = None, triangulate: bool = False) -> List[str]:
    """``ns-train point2act`` on a synthetic ``scene`` and its oracle's answers, ``steps`` steps, into
    OUT/EXPERIMENT/point2act/TIMESTAMP (``timestamp`` None: nerfstudio's, to the second). ``triangulate``: without
    the scene's point cloud, so that training triangulates a start cloud (the shared start-cloud cache)."""
    cmd = [str(BIN / "ns-train"), "point2act", "--data", str(scene),
           "--pipeline.datamanager.points-file", str(scene / "points" / "oracle.json"),
           "--max-num-iterations", str(steps), "--steps-per-save", str(save_every or steps),
           "--steps-per-eval-image", "1000000", "--steps-per-eval-all-images", "1000000",
           "--steps-per-eval-batch", "1000000", "--vis", "tensorboard", "--output-dir", str(out),
           "--experiment-name", experiment, *SMALL_TRAIN, *extra]
    if timestamp is not None:
        cmd += ["--timestamp", timestamp]
    if triangulate:
        cmd += ["nerfstudio-data", "--load-3D-points", "False"]
    return cmd


def export_cmd(config: Path, output: Path, *extra: str) -> List[str]:
    return [str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(output), *extra]


def run(cmd: Sequence[str], log: Path, environ: Dict[str, str] | None = None, timeout: float = 1800,
        preexec_fn=None) -> subprocess.CompletedProcess:
    """Run ``cmd`` with its output in ``log`` (appended); the completed process, its output in ``stdout``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    p = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, env=environ or env(), timeout=timeout,
                       preexec_fn=preexec_fn)
    p.seconds = time.perf_counter() - t
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, cmd))}\n{p.stdout}{p.stderr}\n[exit {p.returncode}, {p.seconds:.1f} s]\n")
    return p


def start(cmd: Sequence[str], log: Path, environ: Dict[str, str] | None = None, **kw) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own (so that :func:`kill` ends it and its children), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    f = open(log, "a")
    p = subprocess.Popen(list(map(str, cmd)), stdout=f, stderr=subprocess.STDOUT, env=environ or env(),
                         start_new_session=True, **kw)
    p.log_file = f
    return p


def kill(p: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal ``p``'s process group (a real kill: no handler runs) and reap it."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    p.wait(timeout=60)
    f = getattr(p, "log_file", None)
    if f is not None:
        f.close()


def comparable(doc):
    """A grasps.json document without what differs between two runs of the same inputs: its stage timings
    (``timings_ms``) and paths (any string that starts with ``/``)."""
    if isinstance(doc, dict):
        return {k: comparable(v) for k, v in doc.items() if k != "timings_ms"}
    if isinstance(doc, list):
        return [comparable(v) for v in doc]
    if isinstance(doc, str) and doc.startswith("/"):
        return "<path>"
    return doc


def same_grasps(a: Path, b: Path) -> bool:
    """Do two grasps.json say the same, timings and paths aside?"""
    return comparable(json.loads(Path(a).read_text())) == comparable(json.loads(Path(b).read_text()))


def config_of(out: Path, experiment: str = "run") -> List[Path]:
    """The config.yml of every run under OUT/EXPERIMENT/point2act/."""
    return sorted((Path(out) / experiment / "point2act").glob("*/config.yml"))


def leftovers(folders: Iterable[Path]) -> List[Path]:
    """The temporary files point2act's writer left under ``folders`` (``.NAME.*.tmp``: a write that was killed)."""
    from point2act.io import TMP_SUFFIX

    return [p for f in folders for p in sorted(Path(f).rglob(f".*{TMP_SUFFIX}")) if p.is_file()]


def broken_files(folders: Iterable[Path]) -> List[str]:
    """Every npz, ply, json and ckpt under ``folders`` that does not load (a torn file), as ``path: why``
    (temporary files aside: :func:`leftovers`)."""
    import numpy as np

    from point2act.io import TMP_SUFFIX

    bad = []
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            if not p.is_file():
                continue
            try:
                if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX):
                    continue
                if p.suffix == ".npz":
                    with np.load(p, allow_pickle=False) as z:
                        for k in z.files:
                            z[k]
                elif p.suffix == ".json":
                    json.loads(p.read_text())
                elif p.suffix == ".ply":
                    _check_ply(p)
                elif p.suffix == ".ckpt":
                    import torch

                    torch.load(p, map_location="cpu", weights_only=False)
            except Exception as e:  # noqa: BLE001  (a file that does not load, whatever the reason)
                bad.append(f"{p}: {type(e).__name__}: {e}"[:300])
    return bad


def _check_ply(p: Path) -> None:
    """A binary PLY whose size is its header's plus its vertices' (what a torn write breaks)."""
    data = p.read_bytes()
    end = data.find(b"end_header\n")
    if end < 0:
        raise ValueError("no end_header")
    head = data[:end].decode("ascii", "replace")
    m = re.search(r"element vertex (\d+)", head)
    if m is None or "binary_little_endian" not in head:
        return  # another writer's PLY (ascii, the synthetic scene's): the header is enough
    props = re.findall(r"property (\w+) \w+", head.split("element vertex", 1)[1].split("element", 1)[0])
    size = {"float": 4, "float32": 4, "double": 8, "uchar": 1, "uint8": 1, "int": 4, "uint": 4}
    want = end + len(b"end_header\n") + int(m.group(1)) * sum(size.get(t, 4) for t in props)
    if len(data) != want:
        raise ValueError(f"{len(data)} bytes, the header says {want}")


def wait_for(pred, timeout: float, p: subprocess.Popen | None = None, every: float = 0.01) -> bool:
    """Poll ``pred()`` until it holds (True), ``timeout`` passes or ``p`` ends (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        if p is not None and p.poll() is not None:
            return bool(pred())
        time.sleep(every)
    return False
