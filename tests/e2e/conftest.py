"""Fixtures of the bad-input corpus (tests/badinputs.py): its tiny synthetic capture, made once per session,
and a fresh copy of it per test."""

from __future__ import annotations

from pathlib import Path

import pytest

import badinputs as bi


@pytest.fixture(scope="session")
def base_scene(tmp_path_factory) -> Path:
    return bi.make_base_scene(tmp_path_factory.mktemp("badinputs") / "scene")


@pytest.fixture
def fresh(tmp_path, base_scene):
    return tmp_path, bi.copy_scene(base_scene, tmp_path)
