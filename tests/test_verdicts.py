"""The verdict table: the statistics behind each verdict, per-size noise, and verdicts that follow planted
effects in the committed records (so a verdict cannot be right by construction)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from distill_scaling import store, verdicts
from distill_scaling import study as study_mod
from distill_scaling.verdicts import Comparison, judge, paired, runs_needed


def test_paired_is_a_student_t_interval_of_the_differences():
    d = [0.01, 0.03, -0.005, 0.02]
    c = paired(d)
    half = stats.t.ppf(0.95, 3) * np.std(d, ddof=1) / 2
    assert c.effect == pytest.approx(np.mean(d))
    assert c.interval == pytest.approx((np.mean(d) - half, np.mean(d) + half))
    assert c.resolution == pytest.approx(half) and c.n == 4


def test_one_difference_needs_and_uses_a_known_spread():
    with pytest.raises(ValueError, match="known spread"):
        paired([0.01])
    c = paired([0.01], sd=0.004)
    assert c.interval == pytest.approx((0.01 - 1.6449 * 0.004, 0.01 + 1.6449 * 0.004), rel=1e-4)


def test_runs_needed_is_the_normal_power_calculation():
    n = runs_needed(0.01, 0.005)
    z = stats.norm.ppf(0.95) + stats.norm.ppf(0.8)
    assert n == math.ceil((z * 0.01 / 0.005) ** 2) == 25
    assert runs_needed(0.01, 0.05) == 2  # never fewer than a pair


@pytest.mark.parametrize(
    ("interval", "sign", "margin", "verdict"),
    [
        ((0.01, 0.03), +1, None, "reproduced"),
        ((-0.03, -0.01), +1, None, "refuted"),
        ((-0.01, 0.03), +1, None, "not resolved at our scale"),
        ((-0.03, -0.01), -1, None, "reproduced"),
        ((-0.004, 0.005), 0, 0.01, "reproduced"),
        ((-0.004, 0.02), 0, 0.01, "not resolved at our scale"),
        ((0.002, 0.02), 0, 0.01, "refuted"),
    ],
)
def test_judge_applies_the_stated_criteria(interval, sign, margin, verdict):
    c = Comparison(sum(interval) / 2, interval, 3, 0.01)
    assert judge(c, sign, margin) == verdict
    assert judge(None, sign, margin) == "not tested"


def _records(sizes: dict[str, tuple[int, float]], seeds=(0, 1, 2, 3, 4, 5)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for model, (n, sd) in sizes.items():
        for tokens in (1e6, 2e6):
            for s in seeds:
                loss = 2 + sd * rng.standard_normal()
                rows.append(
                    {"model": model, "n_params": n, "split": "teacher", "tokens": tokens, "teacher": None,
                     "seed": s, "val_loss": loss}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_seed_noise_is_measured_per_size_never_pooled():
    rec = _records({"L1-d16": (3408, 0.02), "L4-d64": (201408, 0.002)}, seeds=tuple(range(40)))
    noise = verdicts.seed_noise(rec).set_index("model")
    assert noise.loc["L1-d16", "sd"] == pytest.approx(0.02, rel=0.2)
    assert noise.loc["L4-d64", "sd"] == pytest.approx(0.002, rel=0.2)
    assert noise.loc["L1-d16", "dof"] == 2 * 39
    sd, note = verdicts.noise_of(verdicts.seed_noise(rec), "L3-d48", "supervised")
    assert sd == pytest.approx(noise.loc["L4-d64", "sd"]) and "nearest" in note  # L3 is nearer L4 than L1


# --- planted effects in the committed records ---------------------------------------------------------------


@pytest.fixture(scope="module")
def study():
    rec = verdicts.study_records(store.load_records())
    return rec, verdicts.seed_noise(rec)


def _shift(rec: pd.DataFrame, mask: pd.Series, by: float) -> pd.DataFrame:
    out = rec.copy()
    out.loc[mask, "val_loss"] += by
    return out


@pytest.mark.parametrize(("shift", "verdict"), [(+0.05, "reproduced"), (-0.05, "refuted")])
def test_capacity_gap_follows_a_planted_gap(study, shift, verdict):
    rec, noise = study
    base = verdicts.capacity_gap(rec, noise)
    assert base.n_runs >= 2 and base.verdict in verdicts.VERDICTS
    model = base.extra["strongest_teacher"]
    teacher = study_mod.supervised(model, study_mod.capped_tokens(model, study_mod.m_star(), "teacher"))
    strongest = rec["teacher"] == teacher.key
    planted = verdicts.capacity_gap(_shift(rec, strongest, shift), noise)
    assert planted.effect == pytest.approx(base.effect + shift)
    assert planted.verdict == verdict


def test_student_beats_teacher_follows_a_planted_win(study):
    rec, noise = study
    base = verdicts.student_beats_teacher(rec, noise)
    mask = (rec["model"] == base.extra["student"]) & (rec["tokens"] == base.extra["student_tokens"])
    mask &= rec["teacher_model"] == base.extra["teacher_model"]
    won = verdicts.student_beats_teacher(_shift(rec, mask, -0.05), noise)
    assert won.verdict == "reproduced" and won.effect == pytest.approx(base.effect - 0.05)


def test_threshold_claim_follows_a_planted_size_trend(study):
    rec, noise = study
    base = verdicts.threshold_grows(rec, noise)
    distilled = rec["teacher"].notna()
    # Distilled losses falling by 0.1 nats per decade of student size: the advantage grows with size.
    planted = rec.copy()
    planted.loc[distilled, "val_loss"] -= 0.1 * np.log10(planted.loc[distilled, "n_params"])
    grown = verdicts.threshold_grows(planted, noise)
    assert grown.effect == pytest.approx(base.effect + 0.1, abs=1e-9)


def test_findings_file_has_every_claim_with_the_required_keys():
    rows = json.loads(verdicts.findings_path().read_text())
    ids = [r["id"] for r in rows]
    assert ids == list(verdicts.CLAIMS)
    for r in rows:
        for key in (
            "id",
            "claim",
            "paper",
            "verdict",
            "effect",
            "interval",
            "resolution",
            "n_runs",
            "chapter",
        ):
            assert key in r, (r["id"], key)
        assert r["verdict"] in verdicts.VERDICTS
        if r["verdict"] == "not tested":
            assert r["reason"], r["id"]
        else:
            lo, hi = r["interval"]
            assert lo <= r["effect"] <= hi or r["id"] == "teacher-pretraining-never-wins"
    for r in rows:
        if r["id"].endswith("-extrapolation"):
            assert 0 <= r["mean_error"] <= r["max_error"] < 1


def test_crossover_is_where_a_planted_line_crosses_zero():
    tokens = np.array([1e5, 1e6, 1e7, 1e8])
    pairs = pd.DataFrame({"model": "L2-d32", "n_params": 25312, "teacher": "t", "teacher_model": "L3-d48",
                          "tokens": tokens, "advantage": 0.1 * (6.5 - np.log10(tokens))})  # fmt: skip
    row = verdicts.crossovers(pairs).iloc[0]
    assert row["crossover_tokens"] == pytest.approx(10**6.5)
    assert row["low"] == pytest.approx(10**6.5) and row["high"] == pytest.approx(10**6.5)  # no scatter
    rising = pairs.assign(advantage=-pairs["advantage"])
    assert math.isnan(verdicts.crossovers(rising).iloc[0]["crossover_tokens"])
