"""The gate's trained runs, cached under the code that trained them.

A training process records, at its end, a **manifest** beside the run (``gate_manifest.json``):

* ``files``: the SHA-256 of every source file of the ``point2act`` package that the process had loaded (the
  modules in ``sys.modules``), and of every C++ source and header of the extensions it had loaded
  (:func:`point2act._cpp._inputs`);
* ``env``: the CPU class (vendor and ISA, :func:`cpu_class`), the compiler flags of the extensions, the OpenMP thread count, Python's and the
  numerical packages' versions;
* ``run``: what the run is: the scene or capture, the training seed, the cloud condition, the config's
  fingerprint or the ``ns-train`` command line.

A cached run is **current** when its manifest's ``env`` and ``run`` equal this process's and every file it
lists still has the same hash. The rule is closed: a module that starts to take part in training only does so
through an import in a file that already did, and that file's hash changes. A change to code that training never
loaded (the export, the grasp head, the judging) leaves every run current, so the gate only re-exports. A run
without a manifest, or with any difference, is trained again; nothing stale is read as current.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Tuple

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "gate_manifest.json"
"""The manifest's file name, beside the run it describes."""
VERSIONED = ("torch", "numpy", "nerfstudio", "gsplat", "open3d", "scipy")
"""Packages whose versions are part of a run's environment."""


def isa() -> str:
    """``avx512``, ``avx2`` or ``generic``: the widest vector ISA of this CPU (AVX2 and AVX-512 machines train to
    different bits)."""
    from point2act._cpp import cpu_features

    flags = set(cpu_features().split())
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "generic"


VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}
"""``/proc/cpuinfo``'s ``vendor_id`` -> the vendor's name in :func:`cpu_class`."""


def cpu_vendor(cpuinfo: str | None = None) -> str:
    """``intel``, ``amd``, another ``vendor_id`` in lower case, or ``cpu`` where ``/proc/cpuinfo`` (or the text
    ``cpuinfo``) names none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, val = line.partition(":")
        if key.strip() == "vendor_id" and val.strip():
            return VENDORS.get(val.strip(), val.strip().lower())
    return "cpu"


def cpu_class() -> str:
    """The machines whose runs have the same bits: the CPU's vendor and widest vector ISA, e.g. ``intel-avx512``
    or ``amd-avx512``. Gate results and cached runs are kept per class. The ISA alone does not decide the bits: at
    the same training code, an Intel Xeon and an AMD EPYC, both AVX-512, ended every one of the gate's 16 jobs with
    other Gaussian counts (``benchmarks/results/gate/``, ``intel-avx512.json`` and ``amd-avx512.json``)."""
    return f"{cpu_vendor()}-{isa()}"


def cache_root() -> Path:
    """``$POINT2ACT_GATE_CACHE`` or ``~/.cache/point2act/gate``, one folder per :func:`cpu_class` below it."""
    base = os.environ.get("POINT2ACT_GATE_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "point2act" / "gate") / cpu_class()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def environment() -> Dict[str, Any]:
    """What besides the sources decides a run's bits: the CPU class, compiler flags, thread count, versions."""
    from point2act._cpp import cflags

    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu_class": cpu_class(), "cflags": list(cflags()), "omp_threads": os.environ.get("OMP_NUM_THREADS", ""),
            "python": sys.version.split()[0], "versions": versions}


def loaded_files(root: Path = ROOT) -> Dict[str, str]:
    """Relative path -> SHA-256 of the ``point2act`` sources this process loaded: its modules in ``sys.modules``
    and the C++ inputs of every extension it loaded (an :class:`point2act._cpp.Extension` whose module is set)."""
    from point2act import _cpp

    pkg = (root / "point2act").resolve()
    files: Dict[str, str] = {}
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if not f:
            continue
        p = Path(f).resolve()
        if p.is_relative_to(pkg) and p.suffix == ".py":
            files[str(p.relative_to(root))] = _sha(p)
        ext = getattr(mod, "EXTENSION", None)
        if isinstance(ext, _cpp.Extension) and ext._ext is not None and ext.csrc.resolve().is_relative_to(pkg):
            for src in _cpp._inputs(ext.csrc):
                files[str(src.resolve().relative_to(root))] = _sha(src)
    return dict(sorted(files.items()))


def write_manifest(run_dir: Path, run: Dict[str, Any], root: Path = ROOT) -> Path:
    """Record, at the end of a training process, what trained the run in ``run_dir``."""
    doc = {"run": run, "env": environment(), "files": loaded_files(root)}
    path = Path(run_dir) / MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def is_current(run_dir: Path, run: Dict[str, Any], root: Path = ROOT) -> Tuple[bool, str]:
    """Whether the run in ``run_dir`` stands for this code's training of ``run``; (current, why not)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return False, "no manifest"
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False, f"{path}: unreadable manifest"
    if doc.get("run") != json.loads(json.dumps(run, sort_keys=True)):
        return False, "another run's manifest"
    env = environment()
    changed = [k for k in env if doc.get("env", {}).get(k) != env[k]]
    if changed:
        return False, "environment changed: " + ", ".join(changed)
    for rel, sha in doc.get("files", {}).items():
        p = root / rel
        if not p.is_file() or _sha(p) != sha:
            return False, f"{rel} changed"
    return True, ""
