"""The study's run designs: valid, feasible, deduplicated, and the command's dry run trains nothing."""

from __future__ import annotations

import pytest

from distill_scaling import cli, study
from distill_scaling.spec import run_flops
from distill_scaling.store import get, load_records


@pytest.fixture(params=["unset", "fixed", 100.0, 400.0])
def m_star(request, monkeypatch):
    """The fixed-M blocks under an unset M*, the study's fixed one and two other plausible values."""
    value = {"unset": None, "fixed": study.STUDY_M_STAR}.get(request.param, request.param)
    monkeypatch.setattr(study, "STUDY_M_STAR", value)
    return value


@pytest.mark.parametrize("block", list(study.BLOCKS))
def test_block_specs_are_feasible(block: str, m_star) -> None:
    if m_star is None and block in FIXED_M_BLOCKS:
        with pytest.raises(ValueError, match="STUDY_M_STAR is not fixed yet"):
            study.BLOCKS[block].build()
        return
    specs = study.BLOCKS[block].build()
    # At M* = 400 an L2 teacher's training alone is worth more than 4 epochs of the student split to the L1
    # student, so no equal-compute supervised run fits: the pretraining block is empty, not infeasible.
    assert bool(specs) != (block == "pretraining" and m_star == 400.0), f"block {block}: {len(specs)} runs"
    for s in specs:
        assert s.steps >= study.MIN_STEPS * 0.95, s.label()
        assert s.tokens_trained <= study.MAX_EPOCHS * s.split_size, s.label()
        assert s.lr == study.STUDY_LR


FIXED_M_BLOCKS = {
    "teachers",
    "protocol3",
    "baselines",
    "protocol2",
    "protocol1",
    "gap-seeds",
    "capacity-gap",
    "capacity-gap-l7",
    "weak-to-strong",
    "weak-to-strong-cap",
    "protocol1-decade",
    "pretraining",
}


def test_capacity_gap_design_pairs_seeds_over_every_teacher_and_the_baseline() -> None:
    """Every (student, tokens, seed) of the capacity-gap design has a run from each of the six teachers and
    one supervised baseline with the same seeds; the existing protocol-3 and gap-seeds runs are reused."""
    specs = study.specs_for(["capacity-gap", "capacity-gap-l7"])
    groups: dict[tuple, list] = {}
    for s in specs:
        if s.split == "student":
            groups.setdefault((s.model, s.tokens, s.seed), []).append(s)
    assert {(m, seed) for m, _, seed in groups} == {
        (m, seed) for m, seeds in study.GAP_DESIGN_SEEDS.items() for seed in seeds
    }
    for key, group in groups.items():
        assert all(s.data_seed == s.seed for s in group), key
        teachers = {s.teacher for s in group if s.teacher}
        assert len(teachers) == len(study.TEACHERS) + len(study.GAP_TEACHERS), key
        assert sum(s.teacher is None for s in group) == 1, key
    keys = {s.key for s in specs}
    assert {s.key for s in study.gap_seeds_block()} <= keys
    assert {s.key for s in study.protocol3_block() if s.tokens in {k for _, k, _ in groups}} <= keys


def test_decade_blocks_reach_a_decade_beyond_the_study() -> None:
    """The 1e14 IsoFLOP profile is a decade above the largest earlier budget, and protocol 1's new budget a
    decade above its largest; both are feasible for every listed model."""
    iso = study.isoflop_decade_block()
    assert study.DECADE_BUDGET >= 3 * max(study.ISOFLOP_BUDGETS)
    assert {s.model for s in iso} == set(study.DECADE_MODELS)
    assert study.P1_DECADE_BUDGET >= 3 * max(study.STUDENT_BUDGETS)
    p1 = study.protocol1_decade_block()
    assert len(p1) == len(study.P1_DECADE_STUDENTS) * len(study.P1_DECADE_TEACHERS)


def test_gap_seeds_repeat_protocol3_students_with_other_seeds() -> None:
    p3 = study.protocol3_block()
    gap = study.gap_seeds_block()
    distilled = [s for s in gap if s.teacher]
    assert {s.seed for s in gap} == set(study.GAP_SEEDS)
    # Every extra seed repeats a protocol-3 run: same student, tokens and teacher.
    p3_configs = {(s.model, s.tokens, s.teacher) for s in p3}
    assert distilled and all((s.model, s.tokens, s.teacher) in p3_configs for s in distilled)
    assert len(distilled) == len(study.GAP_SEEDS) * len(study.GAP_MULTIPLES) * len(study.TEACHERS)
    # ... with the supervised baseline of each (student, tokens, seed).
    baselines = {(s.model, s.tokens, s.seed) for s in gap if not s.teacher}
    assert baselines == {(s.model, s.tokens, s.seed) for s in distilled}


def test_distillation_blocks_use_recorded_or_planned_teachers(monkeypatch) -> None:
    monkeypatch.setattr(study, "STUDY_M_STAR", 200.0)
    teachers = {s.key for s in study.teacher_block() + study.isoflop_block()}
    for block in ("protocol1", "protocol2", "protocol3"):
        specs = study.BLOCKS[block].build()
        assert specs and all(s.teacher in teachers and s.split == "student" and s.mix == 1.0 for s in specs)


def test_isoflop_runs_spend_their_budget() -> None:
    for s in study.isoflop_block():
        c = run_flops(s)["total"]
        assert any(abs(c / b - 1) < 0.02 for b in study.ISOFLOP_BUDGETS), (s.label(), c)


def test_noise_configs_share_seed_zero_with_the_isoflop_runs() -> None:
    iso = {s.key for s in study.isoflop_block()}
    seed0 = [s for s in study.noise_block() if s.seed == 0]
    assert seed0 and all(s.key in iso for s in seed0)


def test_specs_for_dedupes_and_rejects_unknown_blocks(monkeypatch) -> None:
    monkeypatch.setattr(study, "STUDY_M_STAR", 200.0)
    specs = study.specs_for(list(study.BLOCKS))
    assert len({s.key for s in specs}) == len(specs)
    with pytest.raises(ValueError, match="unknown study block.*allowed"):
        study.specs_for(["isoflop-small", "nonsense"])


def test_dry_run_trains_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    assert study.cli(["--blocks", "isoflop-small", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "missing" in out
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))


def test_study_lr_is_supported_by_the_recorded_sweep() -> None:
    """The study's learning rate is the sweep's best common rate, or one grid step from it (the sweep's
    records are committed; while rates are missing at some width only the complete ones count)."""
    from distill_scaling.chapters import setup

    spec = setup.PARAMS
    specs = setup.sweep_specs(
        spec["sweep_models"].default, spec["sweep_lrs"].default, spec["sweep_tokens"].default
    )
    rows = []
    for s in specs:
        rec = get(s)
        if rec is not None:
            rows.append({"model": s.model, "lr": s.lr, "val_loss": rec["results"]["val_loss"]})
    if not rows:
        pytest.skip("no learning-rate sweep records yet")
    import pandas as pd

    try:
        best = setup.choose_lr(pd.DataFrame(rows))
    except ValueError:
        pytest.skip("no rate of the sweep is recorded at every width yet")
    grid = sorted(spec["sweep_lrs"].default)
    step = grid[1] / grid[0]
    assert best / step * 0.99 <= study.STUDY_LR <= best * step * 1.01, (study.STUDY_LR, best)


def test_fixed_m_star_is_what_the_committed_isoflops_measure() -> None:
    """The protocols' M* was read off the supervised IsoFLOPs: it must stay inside their (widened) interval
    as records land, or the fixed-M design is stale and has to be revisited."""
    from distill_scaling import paths, supervised_study

    committed = load_records(paths.REPO / "data" / "runs")
    value, low, high = supervised_study.m_star(committed, n_boot=400)
    assert study.STUDY_M_STAR is not None
    assert low / 1.5 <= study.STUDY_M_STAR <= high * 1.5, (study.STUDY_M_STAR, value, low, high)


def test_blocks_parse_into_stages_and_unknown_names_are_refused() -> None:
    assert study.parse_blocks("teachers+protocol3, baselines") == [["teachers", "protocol3"], ["baselines"]]
    with pytest.raises(ValueError, match="unknown study block.*'nonsense'.*allowed: "):
        study.parse_blocks("teachers+nonsense")
    with pytest.raises(ValueError, match="allowed"):
        study.parse_blocks(" , ")


@pytest.mark.parametrize("option", ["--workers", "--threads", "--max-group"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_study_rejects_a_pool_size_below_one_in_one_line(option, value, capsys):
    assert cli.main(["study", "--blocks", "isoflop-small", option, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {option} {value} is invalid; allowed: an int >= 1 (or leave it out)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "error: --device 'tpu' is invalid; allowed: cpu, cuda"),
        (["--backend", "ray"], "error: --backend 'ray' is invalid; allowed: local, dask"),
        (["--address", "tcp://x:1"], "error: --address is for --backend dask only"),
        (
            ["--loader-workers", "-1"],
            "error: --loader-workers -1 is invalid; allowed: an int >= 0 (or leave it out)",
        ),
    ],
)
def test_study_rejects_a_bad_executor_in_one_line(args, message, capsys):
    assert cli.main(["study", "--blocks", "isoflop-small", *args]) == 2
    assert capsys.readouterr().err.strip() == message


def test_study_on_cuda_without_a_gpu_says_so(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert cli.main(["study", "--blocks", "isoflop-small", "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_study_on_cuda_checks_this_machine_only_when_it_trains_here():
    """With --address the cluster's workers train: a client without a GPU may send CUDA runs to them."""
    assert study._check_executor("cuda", "dask", "tcp://10.0.0.5:8786") == ""
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA device" in study._check_executor("cuda", "dask", None)  # a LocalCluster: here


def test_study_passes_its_grouping_options_to_the_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))  # an empty store: every run is missing
    monkeypatch.setattr(study, "_stop_children_on_signal", lambda: None)
    seen = []
    monkeypatch.setattr(study.runs, "ensure", lambda todo, **kw: seen.append(kw))
    assert study.cli(["--blocks", "isoflop-small", "--no-group"]) == 0
    assert study.cli(["--blocks", "isoflop-small", "--max-group", "3"]) == 0
    assert [(kw["group"], kw["max_group"]) for kw in seen] == [(False, study.runs.MAX_GROUP), (True, 3)]
    assert "loader_workers" not in seen[0]  # the default: decided per run and device
    assert study.cli(["--blocks", "isoflop-small", "--loader-workers", "3"]) == 0
    assert seen[-1]["loader_workers"] == 3


def test_pretraining_block_pairs_each_student_with_a_supervised_run_of_equal_total_compute() -> None:
    """Teacher training counted: 3 F_S D_sup = 3 F_S D_S + 3 F_T D_T, with the same student, split, seed and
    data order; the students already recorded (protocol 1, capacity gap) keep their keys."""
    specs = study.pretraining_block()
    dist = [s for s in specs if s.teacher is not None]
    sup = {(s.seed, s.tokens) for s in specs if s.teacher is None}
    assert len(dist) == len(sup) == 2 * len(study.PRETRAINING_SEEDS) + len(study.GAP_DESIGN_SEEDS["L1-d16"])
    for d in dist:
        t = d.teacher_spec
        partner = study.equal_compute_supervised(d)
        assert (partner.seed, partner.tokens) in sup and partner.split == d.split == "student"
        assert partner.teacher is None and partner.data_seed == d.data_seed and partner.model == d.model
        paid = study.forward_flops(d.model) * d.tokens + study.forward_flops(t.model) * t.tokens
        assert study.forward_flops(d.model) * partner.tokens == pytest.approx(paid, rel=1e-6)
    teachers = {d.teacher_spec.model for d in dist}
    assert teachers == set(study.PRETRAINING_TEACHERS)
    known = {s.key for s in study.protocol1_block() + study.capacity_gap_block()}
    assert {d.key for d in dist if d.seed == 0 or d.tokens < 2e6} <= known
