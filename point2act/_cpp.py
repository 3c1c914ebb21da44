"""Build and load point2act's C++/OpenMP CPU extensions, each compiled on first use for the machine it runs on.

Four extensions, each beside its user: the rasterizer (``point2act/render/csrc``), the grasp head's kernels
(``point2act/grasp/csrc``), the training loss's fused SSIM and relevancy BCE (``point2act/losses_csrc``,
declared in :mod:`point2act.ssim`) and the relevancy refit (``point2act/csrc``, which also holds ``cpu.h``, the
helpers the torch extensions include, and ``threads.h``, the thread count of every kernel). The rasterizer, the losses and the refit are torch extensions
(:class:`Extension`, built with ``torch.utils.cpp_extension.load``). The grasp kernels are a plain CPython
extension of pybind11 and numpy arrays (:class:`PybindExtension`: ``c++ -shared -fPIC`` with Python's and
pybind11's headers, no libtorch), which loads without importing torch. Every build uses :func:`cflags`:
``-O3 -fopenmp`` and ``-march=native`` when the compiler accepts it, else explicit ``-mavx512f`` /
``-mavx2 -mfma`` from the CPU's feature flags, else no ISA flags (``POINT2ACT_CPU_CFLAGS`` overrides the
choice); the choice is made once per machine and compiler and kept beside the builds. The binary is cached
in ``$TORCH_EXTENSIONS_DIR/<cpu>-<hash>/<module>.so`` (or ``~/.cache/point2act/torch_extensions/<cpu>-<hash>``): ``<cpu>`` is a hash of the CPU's feature flags and
``<hash>`` covers the extension's sources, the shared headers, the compiler flags, torch's version (pybind11's
for a :class:`PybindExtension`), Python and the architecture, so a cache shared between machines (or a stale
binary) is rebuilt, never loaded onto a CPU that lacks its instructions.

Imports only the standard library at import time (torch where a torch extension is built or loaded, pybind11's
small Python package where a :class:`PybindExtension` is).
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
from typing import List, Sequence, Tuple

INCLUDE = Path(__file__).resolve().parent / "csrc"
"""The shared headers (``cpu.h``, ``threads.h``), on every extension's include path."""
BASE_CFLAGS = ("-O3", "-fopenmp")
LDFLAGS = ("-fopenmp",)
"""Tuples: torch's ``cpp_extension.load`` appends to the flag lists it is given, so each call gets a new list
and these stay as the build keys hash them."""
PYBIND_CFLAGS = ("-std=c++17", "-fPIC", "-fvisibility=hidden")
"""The compile flags of a :class:`PybindExtension` beside :func:`cflags`."""
_AVX512 = ("-mavx512f", "-mavx512dq", "-mavx2", "-mfma")
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


def _try_compile(flags: List[str]) -> bool | None:
    """Does the C++ compiler accept ``flags`` (and can it build a SIMD vector-extension loop)? ``None`` where
    the trial could not finish (no compiler, a timeout): no answer, so nothing is recorded from it."""
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
                               capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return None
    return r.returncode == 0


def _compiler_id() -> str:
    """The compiler the trials run: ``$CXX`` (or ``c++``), resolved, with its size and mtime."""
    import shutil

    cxx = os.environ.get("CXX", "c++")
    path = shutil.which(cxx)
    if path is None:
        return cxx
    st = Path(path).resolve().stat()
    return f"{Path(path).resolve()} {st.st_size} {st.st_mtime_ns}"


def _flags_record(feats: str) -> Path:
    """Where this machine's choice of ISA flags is kept: one file per CPU feature set and compiler, in
    :func:`cache_root`."""
    h = hashlib.sha256(f"{feats}\n{_compiler_id()}".encode()).hexdigest()[:16]
    return cache_root() / f"arch-flags-{h}.txt"


def _choose_flags(feats: set) -> Tuple[List[str], bool]:
    """Trial-compile the candidate ISA flags in order; the first one accepted wins. The flag says whether
    every trial gave an answer (only then is the choice recorded)."""
    decided = True
    for want, flags in ((set(), ["-march=native"]), ({"avx512f", "avx512dq", "avx2", "fma"}, _AVX512),
                        ({"avx2", "fma"}, ["-mavx2", "-mfma"])):
        if not want <= feats:
            continue
        ok = _try_compile(flags)
        if ok:
            return list(flags), decided
        decided = decided and ok is not None
    return [], decided


def arch_flags(features: str | None = None) -> List[str]:
    """ISA flags for this machine: ``POINT2ACT_CPU_CFLAGS`` if set, else ``-march=native`` if the
    compiler takes it, else explicit flags from ``features`` (default: :func:`cpu_features`).

    For this machine (``features`` left out) the choice is made once and kept in :func:`cache_root`
    (:func:`_flags_record`), so that every process (a test's subprocess, a worker, a later run) derives the
    same build keys even while the compiler is slow under load; a trial that times out is not kept.
    """
    global _ARCH_FLAGS
    env = os.environ.get("POINT2ACT_CPU_CFLAGS")
    if env is not None:
        return env.split()
    if features is not None:
        return _choose_flags(set(features.split()))[0]
    if _ARCH_FLAGS is not None:
        return list(_ARCH_FLAGS)
    feats = cpu_features()
    record = _flags_record(feats)
    try:
        _ARCH_FLAGS = record.read_text().split()
        return list(_ARCH_FLAGS)
    except OSError:
        pass
    out, decided = _choose_flags(set(feats.split()))
    if decided:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
            tmp.write_text(" ".join(out) + "\n")
            os.replace(tmp, record)
        except OSError:
            pass
    _ARCH_FLAGS = list(out)
    return out


def cflags() -> List[str]:
    """Compiler flags of the extensions on this machine."""
    return [*BASE_CFLAGS, *arch_flags()]


def cache_root() -> Path:
    """Folder of the cached builds: ``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/point2act/torch_extensions``."""
    base = os.environ.get("TORCH_EXTENSIONS_DIR")
    return Path(base) if base else Path.home() / ".cache" / "point2act" / "torch_extensions"


def _inputs(csrc: Path, include_dirs: Sequence[Path] = ()) -> List[Path]:
    """The files a build of ``csrc`` depends on: its ``*.cpp`` / ``*.h``, the shared headers and the headers of
    its other include folders (``include_dirs``)."""
    own = [p for p in sorted(csrc.glob("*")) if p.suffix in (".cpp", ".h")]
    out = own + [p for p in sorted(INCLUDE.glob("*.h")) if p not in own]
    for d in include_dirs:
        out += [p for p in sorted(Path(d).glob("*.h")) if p not in out]
    return out


def _key(csrc: Path, features: str | None, flags: List[str] | None, extra: List[str], version: str,
         include_dirs: Sequence[Path] = ()) -> str:
    """``cpu<hash of features>-<hash>``: the hash covers ``csrc``'s inputs (:func:`_inputs`, with the headers of
    ``include_dirs``), the compiler
    flags (:func:`cflags`, ``extra``, :data:`LDFLAGS`), ``version`` (of the library the extension builds
    against), Python and the architecture."""
    feats = cpu_features() if features is None else features
    flags = cflags() if flags is None else flags
    cpu = hashlib.sha256(feats.encode()).hexdigest()[:10]
    h = hashlib.sha256()
    for src in _inputs(csrc, include_dirs):
        h.update(src.name.encode())
        h.update(src.read_bytes())
    h.update(" ".join([*flags, *extra, *LDFLAGS]).encode())
    h.update(version.encode())
    h.update(sys.version.encode())
    h.update(platform.machine().encode())
    return f"cpu{cpu}-{h.hexdigest()[:16]}"


def _load_module(name: str, so: Path):
    """Import the extension module ``name`` from the file ``so`` (an ImportError where it cannot)."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.ExtensionFileLoader(name, str(so))
    spec = importlib.util.spec_from_file_location(name, str(so), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class Extension:
    """One C++ extension: every ``*.cpp`` of ``csrc``, compiled with :func:`cflags`, loaded once per process.

    ``include_dirs``: folders of headers it includes beside ``csrc`` and :data:`INCLUDE` (on its include path;
    their ``*.h`` are in its build key, their ``*.cpp`` are not compiled)."""

    def __init__(self, name: str, csrc: Path, what: str, include_dirs: Sequence[Path] = ()):
        self.name = name  # module name prefix: point2act_<name>_<key>
        self.csrc = Path(csrc)
        self.what = what  # for the first-build message
        self.include_dirs = tuple(Path(d) for d in include_dirs)
        self._ext = None
        self._lock = threading.Lock()

    BUILD_TIME = "~1-2 min"
    """How long a first build takes, for the first-build message."""

    def _announce(self) -> None:
        """The first-build message (stderr)."""
        print(f"building {self.what} for this CPU ({' '.join(cflags())}; first use, {self.BUILD_TIME})",
              file=sys.stderr, flush=True)

    def sources(self) -> List[Path]:
        """The extension's translation units (``csrc/*.cpp``), sorted."""
        return sorted(self.csrc.glob("*.cpp"))

    def build_key(self, features: str | None = None, flags: List[str] | None = None) -> str:
        """``<cpu>-<hash>``: the cache key for a CPU feature set and compiler flags (defaults: this machine's)."""
        import torch

        return _key(self.csrc, features, flags, [], torch.__version__, self.include_dirs)

    def build_dir(self, features: str | None = None, flags: List[str] | None = None) -> Path:
        """Directory of the cached build (for this machine unless told otherwise)."""
        return cache_root() / self.build_key(features, flags)

    def _target(self) -> Tuple[str, Path, Path]:
        """This machine's build: ``(module name, build folder, module file)``."""
        key = self.build_key()
        name = f"point2act_{self.name}_" + key.replace("-", "_")
        build_dir = cache_root() / key
        return name, build_dir, build_dir / f"{name}.so"

    def load(self, verbose: bool = False):
        """Compile (first use on a machine only) and import the extension, once per process."""
        if self._ext is None:
            with self._lock:
                if self._ext is None:
                    self._ext = self._build_and_load(verbose)
        return self._ext

    def _build_and_load(self, verbose: bool):
        """The extension's module: the cached build when there is one, else built first (cpp_extension).

        The check and the build hold ``build.lock`` (an ``flock``, released by the kernel when its process dies),
        so that of two processes starting on a machine without the build (two trainings side by side, two test
        workers), one builds and the other waits and then loads its module: cpp_extension's linker writes
        ``<module>.so`` in place, and the check of a second process must not find it half-written (cpp_extension's
        own lock is taken only inside ``load``, after that check)."""
        name, build_dir, so = self._target()
        build_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(build_dir / "build.lock"):
            if so.exists():
                # the build key hashes the sources, flags, torch and Python: a built module is current, and
                # importing it skips cpp_extension's ninja check (1-3 s of every process that loads it)
                try:
                    import torch  # noqa: F401  (the module links against libtorch)

                    return _load_module(name, so)
                except ImportError:
                    pass  # a partial or foreign build: let cpp_extension rebuild it
            else:
                self._announce()
            return self._cpp_extension_load(name, build_dir, verbose)

    def _cpp_extension_load(self, name: str, build_dir: Path, verbose: bool):
        """torch's ``cpp_extension.load`` of this extension into ``build_dir`` (built there when not current)."""
        from torch.utils.cpp_extension import load

        return load(
            name=name,
            sources=[str(s) for s in self.sources()],
            extra_cflags=cflags(),
            extra_ldflags=list(LDFLAGS),
            extra_include_paths=[str(INCLUDE), *(str(d) for d in self.include_dirs)],
            build_directory=str(build_dir),
            verbose=verbose,
        )


class PybindExtension(Extension):
    """An extension without torch: a plain CPython module of pybind11 and numpy arrays (``pybind11/numpy.h``),
    which neither links libtorch nor imports torch. Every ``*.cpp`` of ``csrc`` is compiled with :func:`cflags`
    and :data:`PYBIND_CFLAGS` (``-DP2A_EXTENSION_NAME=<module>`` names the module for ``PYBIND11_MODULE``),
    against Python's and pybind11's headers, :data:`INCLUDE` and its ``include_dirs``, in parallel, then linked with :data:`LDFLAGS`
    into ``cache_root()/<key>/<module>.so``; the key hashes pybind11's version where :class:`Extension` hashes
    torch's. The link writes a temporary file in the build folder that then replaces ``<module>.so``
    (``os.replace``), so that a process (a pytest-xdist worker) never loads a half-written module; a lock file
    makes a second process wait for the first's build instead of compiling too."""

    BUILD_TIME = "~30-60 s"
    _error: str | None = None  # a build that failed in this process: not tried again

    def build_key(self, features: str | None = None, flags: List[str] | None = None) -> str:
        """``<cpu>-<hash>``: the cache key for a CPU feature set and compiler flags (defaults: this machine's),
        the compiler and pybind11's version (not torch's: this build does not use torch)."""
        import pybind11

        cxx = os.environ.get("CXX", "c++")
        return _key(self.csrc, features, flags, ["pybind11-numpy", cxx, *PYBIND_CFLAGS], pybind11.__version__,
                    self.include_dirs)

    def _build_and_load(self, verbose: bool):
        """The extension's module without importing torch: the cached build when there is one, else built first
        (:meth:`_compile`, under a lock file, so that one process builds and the others wait for it)."""
        if self._error is not None:
            raise RuntimeError(self._error)
        name, build_dir, so = self._target()
        failed = False
        if so.exists():
            try:
                return _load_module(name, so)
            except ImportError:
                failed = True  # a foreign or broken file: build it again
        build_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(build_dir / "build.lock"):
            if failed or not so.exists():  # else another process built it while this one waited
                self._announce()
                try:
                    self._compile(name, build_dir, so, verbose)
                except Exception as e:
                    self._error = str(e)
                    raise
        return _load_module(name, so)

    def _compile(self, name: str, build_dir: Path, so: Path, verbose: bool) -> None:
        """Compile and link the module ``name`` into ``so``: objects and the linked file in a temporary folder
        of ``build_dir``, then ``os.replace`` onto ``so``."""
        import shutil
        import sysconfig
        from concurrent.futures import ThreadPoolExecutor

        import pybind11

        cxx = os.environ.get("CXX", "c++")
        include = ["-isystem", sysconfig.get_paths()["include"], "-isystem", pybind11.get_include(),
                   "-I", str(INCLUDE)]
        for d in self.include_dirs:
            include += ["-I", str(d)]
        flags = [*PYBIND_CFLAGS, *cflags(), f"-DP2A_EXTENSION_NAME={name}", *include]
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=build_dir))
        try:
            srcs = self.sources()
            objs = [tmp / f"{src.stem}.o" for src in srcs]
            cmds = [[cxx, *flags, "-c", str(src), "-o", str(obj)] for src, obj in zip(srcs, objs)]
            link = [cxx, "-shared", *(str(o) for o in objs), *LDFLAGS, "-o", str(tmp / so.name)]
            if sys.platform == "darwin":
                link[2:2] = ["-undefined", "dynamic_lookup"]
            with ThreadPoolExecutor(max_workers=max(1, min(len(cmds), os.cpu_count() or 1))) as pool:
                errors = [r for r in pool.map(lambda cmd: _run(cmd, verbose), cmds) if r is not None]
            if not errors:
                errors = [r for r in [_run(link, verbose)] if r is not None]
            if errors:
                raise RuntimeError(f"building {self.what} failed:\n" + "\n".join(errors))
            os.replace(tmp / so.name, so)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class BackgroundBuild:
    """Builds (first use on a machine) and loads extensions in daemon threads, one per extension, so a process
    that needs them only later does not wait for the compiler then. A GPU training run needs the CPU
    rasterizer at its first convergence check and the others at its end (the relevancy refit, the export's
    views); a fresh machine's first builds take 15-50 s (``benchmarks/results/gpu_demo_breakdown.md``). A
    build that fails here is recorded in ``errors``; the caller's own ``load()`` then tries again and raises
    with the compiler's message. Check with ``tests/test_cpp_background.py``."""

    def __init__(self, extensions: Sequence[Extension]):
        self.extensions = tuple(extensions)
        self.errors: List[str] = []
        self.thread = threading.Thread(target=self._run, name="point2act-build", daemon=True)

    def start(self) -> "BackgroundBuild":
        self.thread.start()
        return self

    def _run(self) -> None:
        """Each extension in a thread of its own, all at once: the builds are independent compiler processes,
        so a machine with cores to spare waits for the slowest build rather than for their sum."""
        workers = [threading.Thread(target=self._load, args=(ext,), name=f"point2act-build-{ext.name}", daemon=True)
                   for ext in self.extensions]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def _load(self, ext: Extension) -> None:
        try:
            ext.load()
        except Exception as e:  # noqa: BLE001  (recorded; the foreground load raises it)
            self.errors.append(f"{ext.what}: {type(e).__name__}: {e}")


def _run(cmd: List[str], verbose: bool) -> str | None:
    """Run a compiler command: None where it succeeds, else the command and its output."""
    if verbose:
        print(" ".join(cmd), file=sys.stderr, flush=True)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:  # no compiler
        return f"{' '.join(cmd)}\n{e}"
    if verbose and (r.stdout or r.stderr):
        print(r.stdout + r.stderr, file=sys.stderr, flush=True)
    if r.returncode == 0:
        return None
    return f"{' '.join(cmd)}\n{(r.stdout + r.stderr)[-8000:]}"


class _file_lock:
    """An exclusive ``flock`` on ``path`` (held by one process at a time; none where fcntl is missing)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False
