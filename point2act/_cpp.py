"""Build and load point2act's C++/OpenMP CPU extensions, each compiled on first use for the machine it runs on.

Four extensions, each beside its user: the rasterizer (``point2act/render/csrc``), the grasp head's kernels
(``point2act/grasp/csrc``), the training loss's fused SSIM and relevancy BCE (``point2act/losses_csrc``,
declared in :mod:`point2act.ssim`) and the relevancy refit (``point2act/csrc``, which also holds ``cpu.h``, the
helpers every extension includes). Each is built with ``torch.utils.cpp_extension.load``:
``-O3 -march=native`` when the compiler accepts it, else explicit ``-mavx512f`` / ``-mavx2 -mfma`` from the
CPU's feature flags, else no ISA flags (``POINT2ACT_CPU_CFLAGS`` overrides the choice). The binary is cached
in ``$TORCH_EXTENSIONS_DIR/<cpu>-<hash>`` (or ``~/.cache/point2act/torch_extensions/<cpu>-<hash>``):
``<cpu>`` is a hash of the CPU's feature flags and ``<hash>`` covers the extension's sources, the shared
header, the compiler flags, torch, Python and the architecture, so a cache shared between machines (or a
stale binary) is rebuilt, never loaded onto a CPU that lacks its instructions.

Imports only the standard library at import time (torch when an extension is built or loaded).
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import List

INCLUDE = Path(__file__).resolve().parent / "csrc"
"""The shared headers (``cpu.h``), on every extension's include path."""
BASE_CFLAGS = ["-O3", "-fopenmp"]
LDFLAGS = ["-fopenmp"]
_AVX512 = ["-mavx512f", "-mavx512dq", "-mavx2", "-mfma"]
_ARCH_FLAGS: List[str] | None = None


def cpu_features() -> str:
    """The CPU's feature flags (``/proc/cpuinfo`` ``flags`` / ``Features``), sorted, space-separated.

    Falls back to ``platform.machine() + platform.processor()`` where there is no /proc/cpuinfo.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()} {platform.processor()}".strip()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return " ".join(sorted(set(val.split())))
    return f"{platform.machine()} {platform.processor()}".strip()


def _try_compile(flags: List[str]) -> bool:
    """Does the C++ compiler accept ``flags`` (and can it build a SIMD vector-extension loop)?"""
    cxx = os.environ.get("CXX", "c++")
    code = (
        "typedef float v16 __attribute__((vector_size(64)));\n"
        "v16 f(v16 a, v16 b) { return a * b + a; }\n"
    )
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.cpp"
        src.write_text(code)
        try:
            r = subprocess.run([cxx, *flags, "-c", str(src), "-o", str(Path(d) / "t.o")],
                               capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
    return r.returncode == 0


def arch_flags(features: str | None = None) -> List[str]:
    """ISA flags for this machine: ``POINT2ACT_CPU_CFLAGS`` if set, else ``-march=native`` if the
    compiler takes it, else explicit flags from ``features`` (default: :func:`cpu_features`)."""
    global _ARCH_FLAGS
    env = os.environ.get("POINT2ACT_CPU_CFLAGS")
    if env is not None:
        return env.split()
    if features is None and _ARCH_FLAGS is not None:
        return list(_ARCH_FLAGS)
    feats = set((features if features is not None else cpu_features()).split())
    out: List[str] = []
    if _try_compile(["-march=native"]):
        out = ["-march=native"]
    elif {"avx512f", "avx512dq", "avx2", "fma"} <= feats and _try_compile(_AVX512):
        out = list(_AVX512)
    elif {"avx2", "fma"} <= feats and _try_compile(["-mavx2", "-mfma"]):
        out = ["-mavx2", "-mfma"]
    if features is None:
        _ARCH_FLAGS = list(out)
    return out


def cflags() -> List[str]:
    """Compiler flags of the extensions on this machine."""
    return BASE_CFLAGS + arch_flags()


def cache_root() -> Path:
    """Folder of the cached builds: ``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/point2act/torch_extensions``."""
    base = os.environ.get("TORCH_EXTENSIONS_DIR")
    return Path(base) if base else Path.home() / ".cache" / "point2act" / "torch_extensions"


def _inputs(csrc: Path) -> List[Path]:
    """The files a build of ``csrc`` depends on: its ``*.cpp`` / ``*.h`` and the shared headers."""
    own = [p for p in sorted(csrc.glob("*")) if p.suffix in (".cpp", ".h")]
    shared = [p for p in sorted(INCLUDE.glob("*.h")) if p not in own]
    return own + shared


class Extension:
    """One C++ extension: every ``*.cpp`` of ``csrc``, compiled with :func:`cflags`, loaded once per process."""

    def __init__(self, name: str, csrc: Path, what: str):
        self.name = name  # module name prefix: point2act_<name>_<key>
        self.csrc = Path(csrc)
        self.what = what  # for the first-build message
        self._ext = None
        self._lock = threading.Lock()

    def sources(self) -> List[Path]:
        """The extension's translation units (``csrc/*.cpp``), sorted."""
        return sorted(self.csrc.glob("*.cpp"))

    def build_key(self, features: str | None = None, flags: List[str] | None = None) -> str:
        """``<cpu>-<hash>``: the cache key for a CPU feature set and compiler flags (defaults: this machine's)."""
        feats = cpu_features() if features is None else features
        flags = cflags() if flags is None else flags
        import torch

        cpu = hashlib.sha256(feats.encode()).hexdigest()[:10]
        h = hashlib.sha256()
        for src in _inputs(self.csrc):
            h.update(src.name.encode())
            h.update(src.read_bytes())
        h.update(" ".join(flags + LDFLAGS).encode())
        h.update(torch.__version__.encode())
        h.update(sys.version.encode())
        h.update(platform.machine().encode())
        return f"cpu{cpu}-{h.hexdigest()[:16]}"

    def build_dir(self, features: str | None = None, flags: List[str] | None = None) -> Path:
        """Directory of the cached build (for this machine unless told otherwise)."""
        return cache_root() / self.build_key(features, flags)

    def load(self, verbose: bool = False):
        """Compile (first use on a machine only) and import the extension."""
        if self._ext is not None:
            return self._ext
        with self._lock:
            if self._ext is not None:
                return self._ext
            key = self.build_key()
            name = f"point2act_{self.name}_" + key.replace("-", "_")
            build_dir = self.build_dir()
            build_dir.mkdir(parents=True, exist_ok=True)
            so = build_dir / f"{name}.so"
            if so.exists():
                # the build key hashes the sources, flags, torch and Python: a built module is current, and
                # importing it skips cpp_extension's ninja check (1-3 s of every process that loads it)
                try:
                    import importlib.machinery
                    import importlib.util

                    import torch  # noqa: F401  (the module links against libtorch)

                    loader = importlib.machinery.ExtensionFileLoader(name, str(so))
                    spec = importlib.util.spec_from_file_location(name, str(so), loader=loader)
                    module = importlib.util.module_from_spec(spec)
                    loader.exec_module(module)
                    self._ext = module
                    return self._ext
                except ImportError:
                    pass  # a partial or foreign build: let cpp_extension rebuild it
            else:
                print(f"building {self.what} for this CPU ({' '.join(cflags())}; first use, ~1-2 min)",
                      file=sys.stderr, flush=True)
            from torch.utils.cpp_extension import load

            self._ext = load(
                name=name,
                sources=[str(s) for s in self.sources()],
                extra_cflags=cflags(),
                extra_ldflags=LDFLAGS,
                extra_include_paths=[str(INCLUDE)],
                build_directory=str(build_dir),
                verbose=verbose,
            )
        return self._ext
