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


def test_a_finished_training_freezes_the_collector_at_exit_and_flushes_tensorboard(tmp_path) -> None:
    """``point2act.method.trainer.freeze_at_exit``: at the exit of ``ns-train point2act`` the TensorBoard events
    written are on disk, exit handlers registered before it still run, and the collector is frozen by then."""
    r = _run(f"""
        import atexit, gc
        atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))
        from point2act.method.trainer import freeze_at_exit
        from nerfstudio.utils import writer as ns_writer
        from torch.utils.tensorboard import SummaryWriter

        class W:
            tb_writer = SummaryWriter(log_dir={str(tmp_path)!r}, flush_secs=3600)
        W.tb_writer.add_scalar("loss", 0.25, 7)
        ns_writer.EVENT_WRITERS[:] = [W()]
        freeze_at_exit()
        freeze_at_exit()  # once
        print("trained")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["trained", "frozen", "True"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(tmp_path))
    ea.Reload()
    assert [(e.step, e.value) for e in ea.Scalars("loss")] == [(7, 0.25)]
