"""The practice designs (lambda, tau, LR, truncation, KL, calibration), calibration statistics and storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from distill_scaling import practice as pr
from distill_scaling import study
from distill_scaling.spec import RunSpec


@pytest.fixture(scope="module")
def pairs() -> dict[str, pr.Pair]:
    return pr.study_pairs()


def test_the_pairs_cover_the_three_regimes(pairs):
    sizes = {
        n: (p.teacher.config.n_params, RunSpec(p.student, tokens=p.tokens).config.n_params)
        for n, p in pairs.items()
    }
    assert sizes["strong-to-weak"][0] > sizes["strong-to-weak"][1]
    assert sizes["matched"][0] == sizes["matched"][1]
    assert sizes["weak-to-strong"][0] < sizes["weak-to-strong"][1]
    assert all(p.teacher.split == "teacher" for p in pairs.values())


def test_base_spec_is_the_papers_scaling_law_setting(pairs):
    s = pr.distill_spec(pairs["strong-to-weak"])
    assert (s.mix, s.temperature, s.kl, s.top_k, s.top_p) == (1.0, 1.0, "forward", None, None)
    assert (
        s.split == "student" and s.lr == study.STUDY_LR and s.teacher == pairs["strong-to-weak"].teacher.key
    )


def test_untruncated_settings_share_the_base_run(pairs):
    p = pairs["strong-to-weak"]
    base = pr.distill_spec(p).key
    vocab = p.teacher.config.vocab_size
    assert pr.distill_spec(p, top_k=vocab).key == base
    assert pr.distill_spec(p, top_p=1.0).key == base
    assert pr.distill_spec(p, temperature=1.0, mix=1.0).key == base
    assert pr.distill_spec(p, top_k=16).key != base


def test_lambda_zero_is_the_supervised_student(pairs):
    s = pr.mix_sweep(pairs["matched"], [0.0])[0].spec
    assert s.teacher is None and s.split == "student" and s.model == pairs["matched"].student


def test_top_k_rows_record_all_as_the_vocabulary(pairs):
    rows = pr.top_k_sweep(pairs["strong-to-weak"], [1, None])
    assert [r.value for r in rows] == [1.0, 256.0]
    assert rows[0].spec.top_k == 1 and rows[1].spec.top_k is None
    mixed = pr.top_k_sweep(pairs["strong-to-weak"], [4], mix=pr.TOP_K_MIX)
    assert mixed[0].experiment == "top_k_mix" and mixed[0].spec.mix == pr.TOP_K_MIX


def test_calibration_sweep_pairs_full_and_top1_students():
    teachers = pr.calibration_teachers()
    rows = pr.calibration_sweep("L2-d32", teachers)
    assert len(rows) == 2 * len(teachers)
    assert {r.spec.top_k for r in rows} == {None, 1}
    assert {r.spec.teacher for r in rows} == {t.key for t in teachers}


def test_design_puts_the_primary_pair_first_and_dedupes(pairs):
    rows = pr.design(pairs, teachers=pr.calibration_teachers())
    assert rows[0].experiment == "noise" and rows[0].pair == "strong-to-weak"
    specs = pr.unique_specs(rows)
    assert len(specs) == len({s.key for s in specs}) < len(rows)
    frame = pr.design_frame(rows)
    assert set(frame["experiment"]) == set(pr.EXPERIMENTS)
    # Every pair has its lambda and tau sweeps.
    for exp in ("mix", "temperature"):
        assert set(frame.loc[frame["experiment"] == exp, "pair"]) == set(pairs)


def test_design_flops_count_the_teacher_forward_pass(pairs):
    p = pairs["strong-to-weak"]
    s = pr.distill_spec(p)
    from distill_scaling.spec import forward_flops

    expected = (3 * forward_flops(s.model) + forward_flops(p.teacher.model)) * s.tokens_trained
    assert pr.design_flops([s], [p.teacher]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda p: pr.mix_sweep(p, [1.5]), "mixes"),
        (lambda p: pr.temperature_sweep(p, [0.0]), "temperatures"),
        (lambda p: pr.lr_sweep(p, []), "lrs"),
        (lambda p: pr.top_p_sweep(p, [0.0]), "ps"),
        (lambda p: pr.top_k_sweep(p, [0]), "ks"),
        (lambda p: pr.base_rows(p, [-1]), "seeds"),
    ],
)
def test_bad_grids_name_the_parameter(pairs, call, name):
    with pytest.raises(pr.DesignError, match=name):
        call(pairs["matched"])


def test_design_rejects_an_unknown_primary_pair(pairs):
    with pytest.raises(pr.DesignError, match="primary"):
        pr.design(pairs, primary="nope")


# -- results and close calls --------------------------------------------------------------------------------
def _results(pairs, losses: dict[float, float], noise=(1.900, 1.902, 1.904)) -> tuple[list, pd.DataFrame]:
    p = pairs["strong-to-weak"]
    rows = pr.base_rows(p) + pr.mix_sweep(p, list(losses))
    rec = {}
    for r in rows:
        if r.experiment == "noise":
            rec[r.spec.key] = noise[r.spec.seed]
        else:
            rec.setdefault(r.spec.key, losses[r.value])
    records = pd.DataFrame({"key": list(rec), "val_loss": list(rec.values())})
    return rows, pr.results(rows, records)


def test_noise_and_summary(pairs):
    rows, res = _results(pairs, {0.0: 2.0, 0.5: 1.95, 1.0: 1.90})
    assert pr.noise_sd(res) == pytest.approx(0.002)
    s = pr.summary(res)
    # lambda = 1 is the base run: its seed-0 loss, once per experiment.
    assert s.query("experiment == 'mix' and value == 1.0")["mean"].item() == pytest.approx(1.900)


def test_close_calls_get_the_other_seeds(pairs):
    rows, res = _results(pairs, {0.0: 2.0, 0.5: 1.9030, 0.9: 1.8990, 1.0: 1.900})
    sd = pr.noise_sd(res)
    close = pr.close_calls(res, sd, ["mix"], "strong-to-weak")
    assert set(close["value"]) == {0.9, 1.0}  # 0.5 is 0.004 above the best: exactly 2 sd, not closer
    extra = pr.repeat_rows(rows, res, sd, [0, 1, 2], "strong-to-weak", ["mix"])
    assert sorted((r.value, r.spec.seed) for r in extra) == [(0.9, 1), (0.9, 2), (1.0, 1), (1.0, 2)]
    assert all(r.spec.data_seed == r.spec.seed for r in extra)


def test_close_calls_need_a_measured_noise(pairs):
    rows, res = _results(pairs, {1.0: 1.9}, noise=(1.9, float("nan"), float("nan")))
    assert np.isnan(pr.noise_sd(res))
    assert pr.close_calls(res, float("nan"), ["mix"], "strong-to-weak").empty


# -- calibration -------------------------------------------------------------------------------------------
def test_reliability_of_a_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 200_000)
    correct = rng.uniform(0, 1, conf.size) < conf
    assert pr.reliability(conf, correct, 21)["ece"] < 0.01
    over = pr.reliability(np.full(1000, 0.9), np.r_[np.ones(500), np.zeros(500)], 10)
    assert over["ece"] == pytest.approx(0.4)
    assert sum(over["count"]) == 1000 and over["count"][9] == 1000
    assert over["acc"][0] is None  # an empty bin has no accuracy


def test_reliability_rejects_bad_input():
    with pytest.raises(pr.DesignError, match="bins"):
        pr.reliability([0.5], [1.0], bins=0)
    with pytest.raises(pr.DesignError, match="same length"):
        pr.reliability([0.5, 0.2], [1.0])


def test_a_student_equal_to_its_teacher_agrees_with_it_everywhere():
    from distill_scaling.model import Transformer, config_from_name

    torch.manual_seed(0)
    model = Transformer(config_from_name("L1-d16"), seed=0)
    x = torch.randint(0, 256, (4, 128))
    y = torch.randint(0, 256, (4, 128))
    stats = pr.token_statistics(model, [(x, y)], teacher=model)
    assert stats["conf"].shape == (4 * 128,)
    assert np.all(stats["agree"] == 1)
    np.testing.assert_allclose(stats["t_prob_s"], stats["conf"], rtol=1e-5)
    cal = pr.calibration_from_statistics(stats, bins=21)
    assert cal["teacher_dist"]["ece"] < 1e-5 and cal["teacher_bins"]["ece"] < 1e-5
    assert cal["tokens"] == 512 and set(cal) >= {"data", "teacher_top1", "teacher_dist", "teacher_bins"}


def test_no_calibration_file_means_empty_sections(tmp_path):
    data = pr.load_calibration(tmp_path / "none.json")
    assert data["models"] == {} and data["top_p_sizes"] == {}


# -- storage -------------------------------------------------------------------------------------------------
def test_storage_per_token():
    assert pr.storage_per_token(256, 256) == 1024  # the full float32 vector
    assert pr.storage_per_token(16, 256) == 16 * 5  # value + one-byte index
    assert pr.storage_per_token(128, 32168) == 128 * 6  # two-byte index at the paper's vocabulary
    assert pr.storage_per_token(32168, 32168) == pytest.approx(128_672)  # the paper's ~129 KB
    with pytest.raises(pr.DesignError, match="kept"):
        pr.storage_per_token(300, 256)


def test_ready_waits_for_an_unrecorded_teacher(tmp_path, pairs):
    teacher = RunSpec("L1-d16", tokens=10_000, seed=12345)
    spec = pr.distill_spec(pr.Pair("x", "L1-d16", teacher, 10_000))
    assert not pr.ready(spec, tmp_path)
    assert pr.ready(RunSpec("L1-d16", tokens=10_000), tmp_path)
