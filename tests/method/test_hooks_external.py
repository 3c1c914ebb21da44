"""point2act.method.hooks.light_external_methods: nerfstudio's placeholders of external methods ask who built them
with one frame lookup; built by get_external_methods they return quietly, built otherwise they offer the install."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, timeout=300)


def test_placeholders_built_by_the_registry_are_quiet_and_skip_inspect_stack():
    out = _run(
        "import inspect\n"
        "from nerfstudio.configs.external_methods import get_external_methods  # ns-train's order: the registry first\n"
        "import point2act.method  # noqa: F401  (the hooks)\n"
        "calls = []\n"
        "real = inspect.stack\n"
        "inspect.stack = lambda *a, **k: (calls.append(1), real(*a, **k))[1]\n"
        "methods, descriptions = get_external_methods()\n"
        "print(len(methods), len(calls))\n")
    assert out.returncode == 0, out.stderr
    n, stack_calls = (int(v) for v in out.stdout.split())
    assert n > 10 and stack_calls == 0
    assert "Would you like" not in out.stdout


def test_a_placeholder_built_elsewhere_still_offers_the_install():
    out = _run(
        "from nerfstudio.configs.external_methods import ExternalMethod, ExternalMethodDummyTrainerConfig\n"
        "import point2act.method  # noqa: F401\n"
        "ExternalMethodDummyTrainerConfig('m', ExternalMethod('INSTRUCTIONS-HERE', [('m', 'a method')]))\n"
        "print('not reached')\n", stdin="n\n")
    assert out.returncode == 0 and "INSTRUCTIONS-HERE" in out.stdout and "not reached" not in out.stdout


def test_point2act_alone_does_not_load_nerfstudios_registry_and_its_own_loads_are_light():
    out = _run(
        "import sys, inspect\n"
        "import point2act.method  # noqa: F401\n"
        "print('nerfstudio.configs.external_methods' in sys.modules)\n"
        "calls = []\n"
        "real = inspect.stack\n"
        "inspect.stack = lambda *a, **k: (calls.append(1), real(*a, **k))[1]\n"
        "from point2act.method.train import registered_config\n"
        "cfg = registered_config('splatfacto')  # nerfstudio's registry, loaded by point2act\n"
        "print(cfg.method_name, len(calls))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "splatfacto", "0"]
