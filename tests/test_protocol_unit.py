"""benchmarks.protocol: the full protocol's commands land where benchmarks.accuracy.clouds reads them, a split's
commands never run in two processes at once, and the lanes share the work."""

from __future__ import annotations

import pytest


def _arg(argv, flag):
    return argv[argv.index(flag) + 1]


def test_every_condition_and_generator_is_run_into_the_folder_the_gathering_reads():
    from benchmarks import protocol
    from benchmarks.accuracy.clouds import CONDITIONS

    jobs = [j for g in protocol.groups() for j in g if "benchmarks.accuracy" in j.argv]
    outs = {_arg(j.argv, "--out") for j in jobs}
    for _, gen in protocol.SPLITS:
        for cond in ("none", "triangulated"):
            assert f"{protocol.CLOUDS}/{cond}/{gen}" in outs
    assert {o.split("/")[-2] for o in outs} <= set(CONDITIONS)
    sensor = [j for j in jobs if "--depth" in j.argv]
    assert sorted(_arg(j.argv, "--split") for j in sensor) == sorted(protocol.SENSOR_DEPTH)
    assert all(_arg(j.argv, "--out").split("/")[-2] == "sensor" and _arg(j.argv, "--cloud") == "triangulated"
               for j in sensor)
    for j in jobs:
        seeds = list(j.argv[j.argv.index("--train-seeds") + 1: j.argv.index("--seed-levels")])
        assert seeds == (["0"] if _arg(j.argv, "--cloud") == "scene" else ["0", "1", "2"])
        assert "--retrain" in j.argv


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_a_splits_commands_stay_in_one_lane_and_the_lanes_share_the_work(workers):
    from benchmarks import protocol

    groups = protocol.groups()
    plan = protocol.lanes(groups, workers)
    assert len(plan) == min(workers, len(groups))
    assert sorted(j.name for lane in plan for j in lane) == sorted(j.name for g in groups for j in g)
    for g in groups:
        assert sum(all(j in lane for j in g) for lane in plan) == 1
    loads = [sum(j.cost for j in lane) for lane in plan]
    assert max(loads) - min(loads) <= max(sum(j.cost for j in g) for g in groups)


def test_the_dry_run_prints_the_commands_and_runs_nothing(capsys, tmp_path):
    from benchmarks import protocol

    assert protocol.main(["--dry-run", "--workers", "2", "--logs", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    assert out.count("lane ") == 2 and "benchmarks.real" in out and "--split objects_test" in out
    assert not (tmp_path / "logs").exists()
