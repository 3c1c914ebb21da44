"""``point2act.cli.end_process``: the console script's exit skips module teardown but keeps what an ordinary exit
does for the results (exit handlers, buffered output) and waits for working threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_exit_handlers_run_and_buffered_output_is_written() -> None:
    r = _run("""
        import atexit, sys
        from point2act.cli import end_process
        atexit.register(lambda: print("handler ran"))
        print("result", end="")  # no newline: still in stdout's buffer
        sys.stderr.write("note")
        end_process()
        print("not reached")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "resulthandler ran\n" and r.stderr == "note"


def test_a_working_thread_gets_the_ordinary_exit() -> None:
    r = _run("""
        import threading, time
        from point2act.cli import end_process
        done = []
        t = threading.Thread(target=lambda: (time.sleep(0.5), done.append(1), print("thread finished")))
        t.start()
        end_process()
        print("returned")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["returned", "thread finished"]
