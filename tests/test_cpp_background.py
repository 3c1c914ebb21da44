"""point2act._cpp.BackgroundBuild: extensions built and loaded off the caller's thread."""


import pytest

from point2act import _cpp


def test_background_build_loads_the_extension():
    """The thread builds (or finds cached) and loads the grasp kernels: the caller's later load() is that module,
    and the kernel answers."""
    from point2act.grasp import _kernel

    ext = _cpp.PybindExtension("grasp", _kernel.CSRC, "point2act grasp kernels")
    build = _cpp.BackgroundBuild([ext]).start()
    build.thread.join(timeout=600)
    assert not build.thread.is_alive()
    assert build.errors == []
    assert ext._ext is not None
    assert ext.load() is ext._ext


def test_background_build_records_a_failure_and_goes_on(tmp_path):
    """A source folder without sources fails; its error is recorded, not raised, and the next extension
    still loads."""
    from point2act.grasp import _kernel

    broken = _cpp.PybindExtension("nothing", tmp_path / "missing", "an extension with no sources")
    good = _cpp.PybindExtension("grasp", _kernel.CSRC, "point2act grasp kernels")
    build = _cpp.BackgroundBuild([broken, good]).start()
    build.thread.join(timeout=600)
    assert len(build.errors) == 1 and build.errors[0].startswith("an extension with no sources")
    assert broken._ext is None
    assert good._ext is not None
    with pytest.raises(Exception):
        broken.load()


class _Meeting:
    """An extension stand-in whose load() returns only once ``parties`` loads run at the same time."""

    def __init__(self, name: str, barrier):
        self.name, self.what, self.barrier, self.loaded = name, f"stand-in {name}", barrier, False

    def load(self):
        self.barrier.wait()  # BrokenBarrierError after the timeout when the loads run one after another
        self.loaded = True


def test_background_build_runs_the_builds_at_once():
    """The extensions build concurrently (a machine with cores to spare waits for the slowest build, not their
    sum): three loads that each wait for the other two all finish."""
    import threading

    barrier = threading.Barrier(3, timeout=20)
    exts = [_Meeting(n, barrier) for n in ("a", "b", "c")]
    build = _cpp.BackgroundBuild(exts).start()
    build.thread.join(timeout=60)
    assert not build.thread.is_alive()
    assert build.errors == []
    assert all(e.loaded for e in exts)
