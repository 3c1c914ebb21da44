"""The answers belong to the run: training stores the answers that supervise relevancy in ``RUN/points.json``
(a points file's, or the in-loop pointer's), and ``point2act export`` reads them from there. A run trained
from a prompt and a pointer exports with the views' consensus (confidence, candidates); with the same
answers it gives the same grasps.json as the run trained from the equivalent points file (the shared run,
tests/conftest.py ``trained_synth``: the scene's points/oracle.json, the oracle pointer's answers); an edited
or deleted points file neither changes nor breaks the export, and an edited one is reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ns_train, synth_train_args

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PROMPT = "Point to the handle of the mug"


def _run(cmd, cwd: Path, env_extra=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode == 0, f"{cmd[0]} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def runs(trained_synth, tmp_path_factory):
    """Run A: trained from the prompt and the oracle pointer (``ns-train``'s command line in this process:
    ``conftest.ns_train``) on the shared run's scene, with its options. Run B: the shared run, trained from the
    scene's points file, which holds the answers A stores (checked by the test that compares them)."""
    _root_b, scene, b, _p = trained_synth
    root = tmp_path_factory.mktemp("answers")
    ns_train(synth_train_args(scene, root / "outputs", "pointer", "--pipeline.datamanager.prompt", PROMPT,
                              "--pipeline.datamanager.pointer.backend", "oracle"),
             cwd=root, env={"POINT2ACT_CACHE": root / "cache"})
    a = root / "outputs" / "pointer" / "point2act" / "run" / "config.yml"
    assert a.is_file()
    return root, a, b, scene / "points" / "oracle.json"


def _export(config: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess:
    return _run([str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(out)], cwd)


@pytest.fixture(scope="module")
def exports(runs, synth_export):
    """``point2act export`` of run A, and of run B (tests/conftest.py ``synth_export``): (A's grasps.json, B's)."""
    root, a, _b, _answers = runs
    out = root / "export_a" / "grasps.json"
    out.parent.mkdir()
    _export(a, out, root)
    return out, synth_export[0]


def test_pointer_run_stores_its_answers_and_exports_with_the_consensus(runs, exports):
    from point2act.points import load_points_file

    _root, a, _b, _answers = runs
    stored = load_points_file(a.parent / "points.json")
    assert stored.prompt == PROMPT and any(stored.points.values())
    doc = json.loads(exports[0].read_text())
    assert doc["prompt"] == PROMPT
    assert "confidence" in doc and doc["candidates"], sorted(doc)
    assert "no consensus" not in doc.get("warning", "")


def test_same_answers_give_the_same_grasps_as_the_points_file_run(runs, exports):
    from point2act.points import load_points_file

    _root, a, _b, answers = runs
    stored, given = load_points_file(a.parent / "points.json"), load_points_file(answers)
    assert stored.points == given.points and stored.prompt == given.prompt  # B's points file: A's answers
    da, db = (json.loads(path.read_text()) for path in exports)
    assert da.pop("run") != db.pop("run")  # the only field that names the run
    assert da == db


def test_edited_or_missing_points_file_changes_nothing(runs, exports, tmp_path):
    root, _a, b, answers = runs
    before = exports[1]  # B exported with its points file as trained
    from point2act import cache_file

    doc = json.loads(answers.read_text())
    saved, stat = answers.read_text(), answers.stat()
    cache = cache_file.cache_path(b)
    cached = cache.read_bytes()
    try:  # the shared run's points file and its cache: written back as they were whatever happens here
        doc["points"] = {k: [[1.0, 1.0]] for k in doc["points"]}  # every answer moved to a corner
        answers.write_text(json.dumps(doc))
        edited = tmp_path / "edited.json"
        p = _export(b, edited, root)
        assert edited.read_bytes() == before.read_bytes()
        assert "not those this run was trained on" in p.stderr, p.stderr[-2000:]
        answers.unlink()
        missing = tmp_path / "missing.json"
        p = _export(b, missing, root)
        assert missing.read_bytes() == before.read_bytes()
        assert "not those this run" not in p.stderr
    finally:
        answers.write_text(saved)
        os.utime(answers, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        cache.write_bytes(cached)
