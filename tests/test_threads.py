"""point2act.threads: the thread count follows the cores other processes leave free."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from point2act import threads
from point2act.threads import SAMPLE_S, ThreadBudget, busy_ticks, free_threads, own_ticks

HZ = os.sysconf("SC_CLK_TCK")


class FakeMachine:
    """A clock and tick counters the test moves by hand: ``run(seconds, others, own)`` advances the clock and
    adds the busy ticks of the other processes (cores kept busy) and of this one."""

    def __init__(self):
        self.t, self.busy, self.own = 0.0, 0, 0

    def run(self, seconds: float, others: float, own: float) -> None:
        self.t += seconds
        self.own += int(round(own * seconds * HZ))
        self.busy += int(round((others + own) * seconds * HZ))

    def budget(self, most: int, applied: list) -> ThreadBudget:
        b = ThreadBudget(most=most, apply=applied.append, clock=lambda: self.t, busy=lambda: self.busy,
                         own=lambda: self.own)
        b.cores = 2
        return b


@pytest.mark.parametrize("others, expected", [(0.0, 2), (0.3, 2), (0.67, 1), (1.0, 1), (2.0, 1), (3.5, 1)])
def test_free_threads_leaves_the_cores_others_use(others, expected):
    assert free_threads(others, cores=2, most=2) == expected


def test_free_threads_never_exceeds_the_process_limit():
    assert free_threads(0.0, cores=16, most=4) == 4
    assert free_threads(13.2, cores=16, most=8) == 3


def test_budget_drops_to_one_thread_beside_a_busy_program_and_returns_when_it_ends():
    m, applied = FakeMachine(), []
    b = m.budget(2, applied)
    m.run(1.0, others=0.0, own=2.0)
    assert b.update() == 2 and applied == []  # nothing changes on an idle machine
    m.run(1.0, others=1.0, own=1.0)  # a busy loop starts beside it
    assert b.update() == 1 and applied == [1]
    assert b.others == pytest.approx(1.0, abs=0.02)
    m.run(1.0, others=0.0, own=1.0)  # it ends
    assert b.update() == 2 and applied == [1, 2]


def test_budget_samples_at_most_once_per_interval():
    m, applied = FakeMachine(), []
    b = m.budget(2, applied)
    m.run(SAMPLE_S / 4, others=2.0, own=0.0)
    assert b.update() == 2 and applied == []  # too soon: no sample, however busy
    assert b.update(force=True) == 1 and applied == [1]


def test_budget_keeps_its_count_where_the_counters_cannot_be_read():
    m, applied = FakeMachine(), []
    b = ThreadBudget(most=2, apply=applied.append, clock=lambda: m.t, busy=lambda: None, own=lambda: 0)
    m.run(1.0, others=2.0, own=0.0)
    assert b.update() == 2 and applied == []


def test_tick_counters_parse_proc_files(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 5 100 7 0 1 0 0 0\ncpu0 4 0 2 50 3 0 1 0 0 0\ncpu1 6 0 3 50 4 0 0 0 0 0\n"
                    "intr 12345\n")
    assert busy_ticks([0], str(stat)) == 7  # user + system + softirq; idle and iowait left out
    assert busy_ticks([0, 1], str(stat)) == 16
    self_stat = tmp_path / "self"
    self_stat.write_text("42 (a (weird) name) R 1 1 1 0 -1 4194304 100 0 0 0 37 5 0 0 20 0 3 0 100 0 0\n")
    assert own_ticks(str(self_stat)) == 42
    assert busy_ticks([0], str(tmp_path / "missing")) is None


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_a_real_busy_loop_is_seen_as_a_busy_core():
    b = ThreadBudget(most=len(os.sched_getaffinity(0)), apply=lambda n: None)
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        b.update(force=True)  # from the budget's start: the loop's start-up is in it, not its whole time
        time.sleep(1.0)
        b.update(force=True)
    finally:
        loop.kill()
        loop.wait()
    assert b.others >= 0.5  # the loop kept about one core busy (more where other tests run beside it)


def test_module_imports_no_torch():
    out = subprocess.run([sys.executable, "-c", "import sys, point2act.threads; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert threads.__doc__


def test_the_process_budget_sets_torch_and_opencv_threads():
    code = ("import cv2, torch\n"
            "from point2act import threads\n"
            "assert threads.update() is None  # no budget started: the process keeps its count\n"
            "b = threads.follow_free_cores()\n"
            "assert threads.follow_free_cores() is b\n"
            "b._apply(1)\n"
            "print(torch.get_num_threads(), cv2.getNumThreads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]


def test_the_process_thread_count_reaches_openmp_of_the_pybind_kernels():
    """The torch-free export and query run point2act's pybind11 kernels, which take OpenMP's default thread count
    (libgomp's, the library they link): the process's budget sets it."""
    import ctypes

    try:
        gomp = ctypes.CDLL("libgomp.so.1")
    except OSError:
        pytest.skip("no libgomp.so.1 on this machine")
    before = gomp.omp_get_max_threads()
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    cv2 = sys.modules.get("cv2")
    cv2_before = cv2.getNumThreads() if cv2 is not None else None
    try:
        threads._set_process_threads(1)
        assert gomp.omp_get_max_threads() == 1
        threads._set_process_threads(3)
        assert gomp.omp_get_max_threads() == 3
    finally:
        threads._set_openmp_threads(before)
        if torch_before is not None:
            torch.set_num_threads(torch_before)
        if cv2_before is not None:
            cv2.setNumThreads(cv2_before)


def _openblas_threads(code: str, env: dict) -> list:
    """The thread counts threadpoolctl reports for the OpenBLAS libraries of a new process that runs ``code``."""
    code += ("\nimport numpy, scipy.linalg, threadpoolctl\n"
             "print(*[i['num_threads'] for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return [int(n) for n in out.stdout.split()]


@pytest.mark.parametrize("numpy_first", [False, True])
def test_the_process_budget_puts_numpy_and_scipy_blas_on_the_calling_thread(numpy_first):
    """Whether numpy is loaded before the budget starts (``ns-train``) or after (``point2act query``), both
    OpenBLAS libraries end with one thread; a count the user set is left alone."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    start = ("import numpy\n" if numpy_first else "") + "from point2act import threads\nthreads.follow_free_cores()\n"
    counts = _openblas_threads(start, env)
    assert counts and all(n == 1 for n in counts), counts
    if (os.cpu_count() or 1) >= 2:
        assert max(_openblas_threads("", env)) >= 2, "without the budget OpenBLAS would take every core"
    assert all(n == 2 for n in _openblas_threads(start, dict(env, OPENBLAS_NUM_THREADS="2")))


def test_process_threads_is_the_budgets_count_where_one_runs(monkeypatch):
    """What the start cloud's COLMAP takes by default: the budget's count beside a busy program, the process's own
    count where no budget runs."""
    monkeypatch.setattr(threads, "_PROCESS", None)
    assert threads.process_threads() == threads._current_threads()
    m, applied = FakeMachine(), []
    monkeypatch.setattr(threads, "_PROCESS", m.budget(2, applied))
    m.run(1.0, others=1.0, own=1.0)  # a busy loop beside it
    assert threads.process_threads() == 1 and applied == [1]
