"""This machine's ISA flags (point2act._cpp.arch_flags) are chosen once and kept beside the builds, so that
every process derives the same build keys; a trial that gives no answer (a timeout) is not kept."""

from __future__ import annotations

import pytest

from point2act import _cpp


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.delenv("POINT2ACT_CPU_CFLAGS", raising=False)
    monkeypatch.setattr(_cpp, "_ARCH_FLAGS", None)
    return tmp_path


def test_the_choice_is_recorded_and_read_back(fresh, monkeypatch):
    trials = []
    monkeypatch.setattr(_cpp, "_try_compile", lambda flags: trials.append(flags) or flags == ["-march=native"])
    assert _cpp.arch_flags() == ["-march=native"]
    record = _cpp._flags_record(_cpp.cpu_features())
    assert record.read_text().split() == ["-march=native"] and record.parent == fresh
    # A new process (no memo) whose trials would answer otherwise reads the record, compiling nothing.
    monkeypatch.setattr(_cpp, "_ARCH_FLAGS", None)
    monkeypatch.setattr(_cpp, "_try_compile", lambda flags: pytest.fail("compiled again"))
    assert _cpp.arch_flags() == ["-march=native"]
    assert len(trials) == 1


def test_a_trial_without_an_answer_is_not_recorded(fresh, monkeypatch):
    monkeypatch.setattr(_cpp, "cpu_features", lambda: "avx2 fma")
    monkeypatch.setattr(_cpp, "_try_compile", lambda flags: None if flags == ["-march=native"] else True)
    assert _cpp.arch_flags() == ["-mavx2", "-mfma"]  # this process builds with what it found
    assert not _cpp._flags_record("avx2 fma").exists()  # but a later one tries again
    monkeypatch.setattr(_cpp, "_ARCH_FLAGS", None)
    monkeypatch.setattr(_cpp, "_try_compile", lambda flags: True)
    assert _cpp.arch_flags() == ["-march=native"]
    assert _cpp._flags_record("avx2 fma").read_text().split() == ["-march=native"]


def test_explicit_features_and_the_environment_bypass_the_record(fresh, monkeypatch):
    monkeypatch.setattr(_cpp, "_try_compile", lambda flags: flags != ["-march=native"])
    assert _cpp.arch_flags("avx512f avx512dq avx2 fma") == list(_cpp._AVX512)
    assert _cpp.arch_flags("avx2 fma") == ["-mavx2", "-mfma"]
    assert _cpp.arch_flags("sse2") == []
    assert not list(fresh.glob("arch-flags-*"))
    monkeypatch.setenv("POINT2ACT_CPU_CFLAGS", "-mavx2")
    assert _cpp.arch_flags() == ["-mavx2"]


def test_the_record_follows_the_compiler(fresh, monkeypatch):
    a = _cpp._flags_record("avx2 fma")
    monkeypatch.setenv("CXX", "g++-that-is-not-installed")
    assert _cpp._flags_record("avx2 fma") != a


def test_a_torch_build_leaves_the_flags_and_keys_as_they_were(fresh, monkeypatch, tmp_path):
    """torch's ``cpp_extension.load`` appends to the flag lists it is handed (``_prepare_ldflags``): a build of
    one extension must not change the flags, and so the build keys, that every other extension hashes."""
    import torch.utils.cpp_extension as cpp_extension

    from point2act.grasp import _kernel

    def load(**kw):  # as torch's does, then nothing to import
        cpp_extension._prepare_ldflags(kw["extra_ldflags"], False, False, False, False)
        kw["extra_cflags"].append("-DNOT_IN_ANY_KEY")
        raise RuntimeError("no build here")

    monkeypatch.setattr(cpp_extension, "load", load)
    src = tmp_path / "csrc"
    src.mkdir()
    (src / "a.cpp").write_text("int a() { return 1; }\n")
    before = (_cpp.cflags(), _kernel.EXTENSION.build_key())
    with pytest.raises(RuntimeError, match="no build here"):
        _cpp.Extension("t", src, "test").load()
    assert (_cpp.cflags(), _kernel.EXTENSION.build_key()) == before
