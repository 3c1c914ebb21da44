"""How many CPU threads point2act's training takes on a machine that runs other programs too.

A robot's computer always runs something else (camera drivers, ROS nodes, a browser with the viewer). Every
CPU kernel of point2act and torch's own ops run as OpenMP teams that meet at a join after each op; a team with
more threads than the cores other programs leave free waits at every join for a thread the scheduler has set
aside, and OpenMP's threads that arrived first spin on their cores meanwhile, taking time from the very thread
they wait for. Beside one busy program on two cores a training step then took 10 times as long.

The rule: **threads sized to the free cores** (:class:`ThreadBudget`). At most once per :data:`SAMPLE_S` seconds,
the CPU time the other processes took on this process's cores since the last sample (``/proc/stat`` less this
process's own ``/proc/self/stat``) gives how many cores they keep busy; the thread count of torch's ops and of
point2act's kernels (which take ``torch.get_num_threads()``) becomes the cores left, at least 1 and at most the
count the process started with (``OMP_NUM_THREADS`` or every core). A one-thread team has no join to wait at.
The trainer starts the process's budget (:func:`follow_free_cores`) before it sets up the data (the start
cloud's COLMAP features and matches take its count, :func:`process_threads`, and its stereo matching updates it
per view pair, OpenCV's thread count included) and updates it every step,
in ``ns-train``, ``point2act demo`` and ``point2act grasp`` alike.

OpenMP's passive wait policy (``OMP_WAIT_POLICY=PASSIVE``) is not set: with the thread count sized this way it
gained nothing beside a busy program and slowed the idle demo (``benchmarks/results/wait_policy.md``).

The rule changes no result: training gives the same bits for any thread count (the kernels' sums do not depend
on it: ``tests/test_reproducible.py``), so a checkpoint trained beside a busy program, its thread count changing
mid-run, is the same bytes as one trained idle.

How to check: ``python -m benchmarks.faults --cases load`` times ``point2act demo`` idle and beside a busy loop,
two busy loops and another torch program, alternated in one run (docs/robustness.md, "A busy machine").

Imports only the standard library; torch is used where the caller has imported it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, List, Tuple

SAMPLE_S = 0.5
"""Seconds between two samples of the other processes' CPU time: long enough that a sample is not one
scheduler slice (4 ms), short enough that a program that starts beside training is seen within a few steps."""

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NOT_BUSY = (3, 4)
"""``/proc/stat``'s idle and iowait columns (user nice system idle iowait irq softirq steal ...)."""


def _cpus() -> List[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def busy_ticks(cpus: List[int], stat_path: str = "/proc/stat") -> int | None:
    """Busy clock ticks (every column but idle and iowait) of the ``cpus`` since boot, None where
    ``/proc/stat`` cannot be read (not Linux)."""
    want = {f"cpu{c}" for c in cpus}
    total = 0
    try:
        with open(stat_path) as fh:
            for line in fh:
                if not line.startswith("cpu"):
                    break
                parts = line.split()
                if parts[0] in want:
                    vals = [int(v) for v in parts[1:9]]
                    total += sum(v for i, v in enumerate(vals) if i not in _NOT_BUSY)
    except (OSError, ValueError):
        return None
    return total


def own_ticks(stat_path: str = "/proc/self/stat") -> int | None:
    """This process's user and system clock ticks (all its threads), None where they cannot be read."""
    try:
        with open(stat_path) as fh:
            text = fh.read()
        fields = text[text.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    except (OSError, ValueError, IndexError):
        return None


def free_threads(others_busy: float, cores: int, most: int) -> int:
    """The thread count for ``cores`` cores of which other processes keep ``others_busy`` busy: the cores left,
    rounded to the nearest, at least 1 and at most ``most``."""
    return max(1, min(int(most), int(cores - others_busy + 0.5)))


class ThreadBudget:
    """The thread count of this process's CPU work, following the cores other processes leave free (the module's
    second rule). :meth:`update` is cheap between samples (one clock read), so a training loop calls it every
    step.

    ``apply``: sets the thread count (default: ``torch.set_num_threads``); ``clock``, ``busy`` and ``own``
    replace the clock and the two tick counters (tests)."""

    def __init__(self, most: int | None = None, apply: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, busy: Callable[[], int | None] | None = None,
                 own: Callable[[], int | None] = own_ticks):
        cpus = _cpus()
        self.cores = len(cpus)
        self.most = int(most) if most else _current_threads()
        self._apply = apply if apply is not None else _set_torch_threads
        self._clock = clock
        self._busy = busy if busy is not None else (lambda: busy_ticks(cpus))
        self._own = own
        self.threads = self.most
        self.others = 0.0
        """Cores the other processes kept busy over the last sample."""
        self._last = self._sample()
        self._lock = threading.Lock()  # the trainer's loop and the viewer's render thread both update

    def _sample(self) -> Tuple[float, int | None, int | None]:
        return self._clock(), self._busy(), self._own()

    def update(self, force: bool = False) -> int:
        """The thread count now: a new sample when :data:`SAMPLE_S` has passed since the last (``force``: whatever
        the time), the thread count set where it changed; the count is kept where a counter cannot be read."""
        now = self._clock()
        if not force and now - self._last[0] < SAMPLE_S:
            return self.threads
        with self._lock:
            return self._resample()

    def _resample(self) -> int:
        t, busy, own = self._sample()
        t0, busy0, own0 = self._last
        if None in (busy, own, busy0, own0) or t <= t0:
            return self.threads
        self._last = (t, busy, own)
        self.others = max(0.0, ((busy - busy0) - (own - own0)) / _CLK_TCK / (t - t0))
        n = free_threads(self.others, self.cores, self.most)
        if n != self.threads:
            self.threads = n
            self._apply(n)
        return n


_PROCESS: ThreadBudget | None = None


def follow_free_cores() -> ThreadBudget:
    """The process's budget (:class:`ThreadBudget`, setting torch's and, where it is imported, OpenCV's thread
    count), started on the first call, with numpy's and scipy's BLAS on the calling thread
    (:func:`blas_on_calling_thread`)."""
    global _PROCESS
    if _PROCESS is None:
        blas_on_calling_thread()
        _PROCESS = ThreadBudget(apply=_set_process_threads)
    return _PROCESS


def blas_on_calling_thread() -> None:
    """numpy's and scipy's BLAS (each bundles an OpenBLAS) compute on the thread that calls them, unless
    ``OPENBLAS_NUM_THREADS`` is set.

    point2act gives them small matrices (4 x 4 frames, [M, 3] points, 3 x 3 eigenproblems), which OpenBLAS's
    own threads do not speed up; between calls those threads wait for the next one spinning on ``sched_yield``,
    on the cores point2act's kernels run on (the second rule's threads then wait at their joins for a core).
    ``OPENBLAS_NUM_THREADS=1`` is set for the libraries not loaded yet (OpenBLAS reads it when it loads); those
    already loaded (``ns-train`` imports numpy before the plugin) are set through threadpoolctl. torch's BLAS
    (MKL) is left alone, and no result changes: a matrix product's elements are each summed by one thread
    whatever the count.

    How to check: ``python -c "import point2act.threads as t; t.blas_on_calling_thread(); import numpy, scipy.linalg,
    threadpoolctl; print(threadpoolctl.threadpool_info())"`` lists both OpenBLAS libraries with one thread;
    ``benchmarks/results/query_torch_free.md`` times ``point2act query`` with and without."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if "numpy" in sys.modules or "scipy" in sys.modules:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # without it the libraries already loaded keep their count
            return
        ThreadpoolController().select(internal_api="openblas").limit(limits=1)


def update() -> int | None:
    """:meth:`ThreadBudget.update` of the process's budget; None where none was started (a process that did not
    ask to follow the free cores keeps its thread count)."""
    return _PROCESS.update() if _PROCESS is not None else None


def process_threads() -> int:
    """The thread count for this process's CPU work now: the budget's where one runs (:func:`update`), else the
    count the process started with (torch's where it is imported, ``OMP_NUM_THREADS``, or every core)."""
    n = update()
    return int(n) if n is not None else _current_threads()


def _current_threads() -> int:
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(env) if env.isdigit() and int(env) > 0 else len(_cpus())


def _set_torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(int(n))


def _set_openmp_threads(n: int) -> None:
    """OpenMP's default thread count in this thread (``omp_set_num_threads`` of the system's libgomp, which
    point2act's pybind11 kernels link and take their count from where the caller names none: the torch-free
    export and query); nothing where that library cannot be loaded."""
    import ctypes

    try:
        ctypes.CDLL("libgomp.so.1").omp_set_num_threads(ctypes.c_int(int(n)))
    except (OSError, AttributeError):
        pass


def _set_process_threads(n: int) -> None:
    if "torch" in sys.modules:
        _set_torch_threads(n)
    _set_openmp_threads(n)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(int(n))
