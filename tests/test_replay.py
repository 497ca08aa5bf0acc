"""The device check replays recorded runs into a scratch store; on the CPU a replay reproduces its record."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from distill_scaling import bench, paths, replay, runs, store
from distill_scaling.spec import RunSpec, run_flops

pytestmark = pytest.mark.slow


def test_study_specs_are_the_committed_study_runs_cheapest_first_with_their_teachers():
    specs = replay.committed_study_specs(paths.REPO / "data" / "runs")
    assert len(specs) > 100
    flops = [run_flops(s)["total"] for s in specs]
    assert flops == sorted(flops)
    students = [s for s in specs if s.teacher is not None]
    assert students and all(s.teacher_spec is not None and s.teacher_spec.key == s.teacher for s in students)


def test_a_cpu_replay_reproduces_its_record_and_leaves_the_store_alone(tmp_path):
    committed = tmp_path / "committed"
    spec = RunSpec("L1-d16", tokens=40 * 8 * 128, split="student", lr=0.0215, seed=0, data_seed=0)
    with replay.scratch_store(tmp_path / "first"):
        runs.ensure([spec], workers=1, threads=1, progress=False, runs_dir=committed, device="cpu")
    before = sorted(p.name for p in committed.iterdir())
    env = {n: os.environ.get(n) for n in ("DS_RUNS_DIR", "DS_CACHE_DIR")}
    result = replay.replay([spec], "cpu", committed_dir=committed)
    assert {n: os.environ.get(n) for n in env} == env, "the scratch store is undone"
    assert sorted(p.name for p in committed.iterdir()) == before
    assert result["runs"] == 1 and result["per_run"][0]["key"] == spec.key
    assert abs(result["difference_abs_max"]) < 1e-4, result["per_run"]
    assert store.get(spec, committed)["results"]["val_loss"] == result["per_run"][0]["committed"]


def test_the_replay_section_is_skipped_and_saves_nothing_without_cuda(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("DS_DATA_DIR", str(tmp_path))
    record = bench.run_section("replay", quick=True)
    assert "skipped" in record["results"] and not (tmp_path / "bench" / "replay.json").exists()


def test_a_replay_with_a_time_budget_stops_between_chunks_and_says_how_many_are_left(tmp_path, monkeypatch):
    committed = tmp_path / "committed"
    specs = [
        RunSpec("L1-d16", tokens=40 * 8 * 128, split="student", lr=0.0215, seed=seed, data_seed=0)
        for seed in range(3)
    ]
    with replay.scratch_store(tmp_path / "first"):
        runs.ensure(specs, workers=1, threads=1, progress=False, runs_dir=committed, device="cpu")
    monkeypatch.setattr(replay, "REPLAY_CHUNK", 1)
    everything = replay.replay(specs, "cpu", committed_dir=committed, seconds=1e6)
    assert (everything["runs"], everything["runs_left"], everything["budget_s"]) == (3, 0, 1e6)
    # After the first chunk the clock says any further chunk would end past a tiny budget.
    first = replay.replay(specs, "cpu", committed_dir=committed, seconds=1e-3)
    assert (first["runs"], first["runs_left"]) == (1, 2) and first["per_run"][0]["key"] == specs[0].key
    with pytest.raises(ValueError, match="seconds"):
        replay.replay(specs, "cpu", seconds=0)


def test_the_device_session_script_stops_at_once_without_cuda(tmp_path):
    script = paths.REPO / "tools" / "device_session.sh"
    env = {**os.environ, "OUT": str(tmp_path), "PY": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(["bash", str(script)], cwd=paths.REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "no CUDA device" in (tmp_path / "log.txt").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]
