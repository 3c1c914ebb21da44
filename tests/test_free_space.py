"""``scripts/free_space.sh``, which ``make`` runs before it creates ``.venv``: a clear stop on a full disk."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "free_space.sh"


def test_setup_stops_with_the_free_space_it_found_when_the_disk_is_short(tmp_path):
    short = subprocess.run(["bash", str(SCRIPT), str(tmp_path), "1000000000"], capture_output=True, text=True)
    assert short.returncode == 1
    assert str(tmp_path) in short.stderr and "GB free" in short.stderr and "1000000000 GB" in short.stderr
    enough = subprocess.run(["bash", str(SCRIPT), str(tmp_path), "0"], capture_output=True, text=True)
    assert enough.returncode == 0 and enough.stderr == ""
