"""The gpu profile of the study: its design's sizes, its keys apart from the cpu records', its H200-hours, its
command-line errors, and the data choice its saved measurement supports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distill_scaling import bench, cli, gpu_cost, gpu_data, paths, study
from distill_scaling.spec import RunSpec, SpecError, run_flops


@pytest.fixture(scope="module")
def gpu_specs() -> list[RunSpec]:
    return study.profile_specs("gpu")


@pytest.mark.parametrize("block", list(study.GPU_BLOCKS))
def test_every_gpu_block_is_feasible_and_at_gpu_scale(block: str) -> None:
    specs = study.GPU_BLOCKS[block].build()
    assert specs, f"block {block} is empty"
    for s in specs:
        assert s.profile == "gpu" and s.corpus == study.PROFILE_CORPUS["gpu"], s.label()
        assert s.config.n_ctx >= 512 and s.config.head_dim == 64, s.label()
        assert s.steps >= study.MIN_STEPS * 0.95, s.label()
        assert s.lr == study.STUDY_LR
        if s.teacher_spec is not None:
            assert s.teacher_spec.profile == "gpu" and s.teacher_spec.corpus == s.corpus


def test_gpu_design_spans_the_asked_scale(gpu_specs) -> None:
    """Budgets 1e15..1e17 FLOPs, models up to about 100M parameters, 100 to 1000 times the cpu study."""
    iso = study.gpu_isoflop_block()
    spent = np.array([run_flops(s)["student_training"] for s in iso])
    budgets = np.array([min(study.GPU_BUDGETS, key=lambda c, f=f: abs(np.log(f / c))) for f in spent])
    assert np.allclose(spent, budgets, rtol=0.02)
    assert set(budgets) == set(study.GPU_BUDGETS) and min(budgets) == 1e15 and max(budgets) == 1e17
    sizes = [s.config.n_params for s in gpu_specs]
    assert 50e6 < max(sizes) <= 110e6
    # every IsoFLOP profile has a model on each side of the cpu study's M* (an interior minimum is possible)
    for c in study.GPU_BUDGETS:
        ratios = [s.tokens_trained / s.config.n_params for s in study.gpu_isoflop_block([c])]
        assert min(ratios) < study.GPU_M_STAR < max(ratios), c
    gpu = sum(run_flops(s, s.teacher_spec)["total"] for s in gpu_specs)
    cpu = sum(run_flops(s, s.teacher_spec)["total"] for s in study.specs_for(list(study.BLOCKS)))
    assert 100 <= gpu / cpu <= 1000


def test_gpu_keys_never_meet_cpu_keys_and_cpu_keys_are_unchanged(gpu_specs) -> None:
    records = sorted(paths.runs_dir().glob("*.json"))
    assert records
    for path in records:  # every committed record's key is still the hash of its spec
        assert RunSpec.from_dict(json.loads(path.read_text())["spec"]).key == path.stem, path.name
    cpu = {s.key for s in study.specs_for(list(study.BLOCKS))} | {p.stem for p in records}
    assert not cpu & {s.key for s in gpu_specs}
    same = RunSpec("L4-d64", tokens=5_000_000, corpus="synthetic")
    other = same.replace(profile="gpu")
    assert same.key != other.key and "profile" not in same.canonical()
    assert other.canonical()["profile"] == "gpu"
    assert other.config.n_ctx == 1024 and same.config.n_ctx == 128


def test_a_bad_profile_is_refused_naming_the_field() -> None:
    with pytest.raises(SpecError, match=r"RunSpec.profile = 'tpu' is invalid; allowed: 'cpu', 'gpu'"):
        RunSpec("L2-d32", tokens=1_000_000, profile="tpu")


def test_study_refuses_a_bad_profile_in_one_line_before_any_work(capsys, monkeypatch) -> None:
    monkeypatch.setattr(study, "specs_for", lambda *a, **k: pytest.fail("work began"))
    assert cli.main(["study", "--profile", "tpu", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --profile 'tpu' is invalid; allowed: cpu, gpu"
    with pytest.raises(SystemExit) as stop:  # a cpu block under --profile gpu: argparse's one-line error
        cli.main(["study", "--profile", "gpu", "--blocks", "isoflop-small", "--dry-run"])
    assert stop.value.code == 2
    assert "unknown study block(s) ['isoflop-small'] of --profile gpu" in capsys.readouterr().err


def test_gpu_profile_refuses_to_train_on_a_cpu(capsys) -> None:
    assert cli.main(["study", "--profile", "gpu", "--device", "cpu"]) == 2
    assert "--profile gpu trains on CUDA" in capsys.readouterr().err


def test_gpu_dry_run_lists_every_run_with_its_hours(tmp_path, monkeypatch, capsys, gpu_specs) -> None:
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path))
    assert cli.main(["study", "--profile", "gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"{len(gpu_specs)} missing" in out[0]
    assert f"{gpu_cost.hours(gpu_specs):.2f} H200-hours" in out[0]
    listed = [line.split()[0] for line in out[1:]]
    assert listed == [s.key for s in gpu_specs]
    assert not list(tmp_path.iterdir())


def test_utilisation_passes_through_the_measurements_and_grows_with_the_step() -> None:
    steps = np.array([m.step_flops() for m in gpu_cost.MEASURED])
    assert np.allclose(gpu_cost.utilisation(steps), [m.share for m in gpu_cost.MEASURED])
    grid = np.geomspace(1e9, 1e16, 50)
    share = gpu_cost.utilisation(grid)
    assert np.all(np.diff(share) >= 0)
    assert share[0] == min(m.share for m in gpu_cost.MEASURED)
    assert share[-1] == max(m.share for m in gpu_cost.MEASURED)


def test_a_run_of_a_measured_shape_costs_its_measured_time() -> None:
    """L12-d768 at 32 x 1024 ran at 44% of 780 TFLOP/s: a run of it takes its FLOPs over that rate, and a run
    twice as long (same step) takes twice the hours."""
    run = RunSpec("L12-d768", tokens=32 * 1024 * 1000, batch_size=32, corpus="synthetic", profile="gpu")
    seconds = run_flops(run)["total"] / (0.44 * 780e12)
    assert gpu_cost.run_hours(run) * 3600 == pytest.approx(seconds, rel=1e-9)
    longer = run.replace(tokens=2 * run.tokens, batch_size=32)
    assert gpu_cost.run_hours(longer) == pytest.approx(2 * gpu_cost.run_hours(run), rel=1e-9)


def test_saved_measurement_supports_the_profiles_corpus(gpu_specs) -> None:
    """The committed measurement (bench --only gpu-data) makes the choice the study uses, and the design as it
    is now still needs more than the real corpus it measured holds within four epochs."""
    saved = bench.load("gpu-data")
    assert saved is not None, "data/bench/gpu-data.json is missing: run bench --only gpu-data"
    res = saved["results"]
    assert res["choice"] == study.PROFILE_CORPUS["gpu"]
    now = gpu_data.need(gpu_specs, res["large_corpus"]["split_tokens"])
    assert gpu_data.choose({"need_large": now}) == res["choice"]
    assert res["need"]["total_tokens_needed"] > res["large_corpus"]["unique_bytes"]


def test_a_gpu_spec_trains_on_its_shape(tmp_path, monkeypatch) -> None:
    """A few steps of a tiny model of the gpu profile on the CPU: one sequence a step is 1024 tokens of the
    synthetic language (the path an H200 takes, bf16 aside), and the loss falls below the uniform one."""
    from distill_scaling import train  # noqa: PLC0415 - imports torch, which only this test needs

    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    spec = RunSpec("L1-d64", tokens=4 * 1024, batch_size=1, warmup_steps=1, corpus="synthetic", profile="gpu")
    result = train.train(spec, eval_tokens=8 * 1024, compile=False)
    assert result["steps"] == 4 and result["batch_tokens"] == 1024
    assert result["tokens_trained"] == 4 * 1024
    assert np.isfinite(result["val_loss"]) and result["val_loss"] < np.log(256)
