"""The repository's size limits: benchmarks/results holds the current result of each benchmark (history is in git),
CHANGELOG.md one line per user-visible change, README.md an overview that links to docs/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_RESULT_FILES = 150
MAX_CHANGELOG_LINES = 80
MAX_README_LINES = 100


def result_files() -> list:
    """The files under benchmarks/results that would be committed: tracked, or untracked and not ignored (the
    plots its .gitignore keeps out are regenerated with their results). Without git: every file there."""
    results = ROOT / "benchmarks" / "results"
    try:
        p = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "benchmarks/results"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        p = None
    if p is not None and p.returncode == 0 and (ROOT / ".git").exists():
        return [f for f in p.stdout.splitlines() if (ROOT / f).is_file()]
    return [os.path.join(d, f) for d, _, fs in os.walk(results) for f in fs]


def _lines(name: str) -> int:
    return len((ROOT / name).read_text(encoding="utf-8").splitlines())


def test_benchmark_results_hold_at_most_150_files():
    files = result_files()
    assert files, "benchmarks/results is empty or unreadable"
    assert len(files) <= MAX_RESULT_FILES, (
        f"benchmarks/results holds {len(files)} files (at most {MAX_RESULT_FILES}): keep one current result per "
        "benchmark and delete the superseded ones (git keeps them)")


def test_changelog_is_at_most_80_lines():
    n = _lines("CHANGELOG.md")
    assert n <= MAX_CHANGELOG_LINES, f"CHANGELOG.md has {n} lines (at most {MAX_CHANGELOG_LINES}): merge or drop lines"


def test_readme_is_at_most_100_lines():
    n = _lines("README.md")
    assert n <= MAX_README_LINES, f"README.md has {n} lines (at most {MAX_README_LINES}): move detail to docs/"
