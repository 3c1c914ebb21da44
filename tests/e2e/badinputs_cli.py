"""The point2act CLI run in-process for the bad-input corpus: an input it refuses must end it with exit
code 2 and one paragraph on stderr, no traceback."""

from __future__ import annotations

import pytest


def cli(argv, capsys) -> str:
    """Run the point2act CLI in-process; it must exit 2 with one paragraph on stderr; returns it."""
    from point2act.cli import entrypoint

    with pytest.raises(SystemExit) as e:
        entrypoint([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert e.value.code == 2, (out, err)
    assert "Traceback" not in out + err
    assert err.startswith("point2act: error: ") and err.count("\n") == 1, err  # one paragraph
    return err
