"""The statistics behind every verdict: paired intervals, the power calculation, the verdict rule, per-size
seed noise, and where a planted advantage line crosses zero."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from distill_scaling import comparisons
from distill_scaling.comparisons import Comparison, judge, paired, runs_needed


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
    noise = comparisons.seed_noise(rec).set_index("model")
    assert noise.loc["L1-d16", "sd"] == pytest.approx(0.02, rel=0.2)
    assert noise.loc["L4-d64", "sd"] == pytest.approx(0.002, rel=0.2)
    assert noise.loc["L1-d16", "dof"] == 2 * 39
    sd, note = comparisons.noise_of(comparisons.seed_noise(rec), "L3-d48", "supervised")
    assert sd == pytest.approx(noise.loc["L4-d64", "sd"]) and "nearest" in note  # L3 is nearer L4 than L1


def test_crossover_is_where_a_planted_line_crosses_zero():
    tokens = np.array([1e5, 1e6, 1e7, 1e8])
    pairs = pd.DataFrame({"model": "L2-d32", "n_params": 25312, "teacher": "t", "teacher_model": "L3-d48",
                          "tokens": tokens, "advantage": 0.1 * (6.5 - np.log10(tokens))})  # fmt: skip
    row = comparisons.crossovers(pairs).iloc[0]
    assert row["crossover_tokens"] == pytest.approx(10**6.5)
    assert row["low"] == pytest.approx(10**6.5) and row["high"] == pytest.approx(10**6.5)  # no scatter
    rising = pairs.assign(advantage=-pairs["advantage"])
    assert math.isnan(comparisons.crossovers(rising).iloc[0]["crossover_tokens"])


def test_crossover_slope_recovers_a_planted_size_trend():
    rows = []
    for teacher, offset in (("t1", 0.0), ("t2", 0.7)):
        for n in (1e3, 1e4, 1e5):
            x0 = 6.0 + offset - 0.5 * np.log10(n)  # crossover tokens fall half a decade per decade of N_S
            for i, x in enumerate(np.arange(x0 - 1.5, x0 + 1.6, 0.5)):
                rows.append({"model": f"m{n:.0e}", "n_params": n, "teacher": teacher, "teacher_model": "T",
                             "tokens": 10**x, "advantage": 0.1 * (x0 - x) + 0.002 * (-1) ** i})  # fmt: skip
    cross = comparisons.crossovers(pd.DataFrame(rows))
    assert (cross["log10_se"] > 0).all()
    c, used = comparisons.crossover_slope(cross)
    assert used == 6 and c.interval[0] < -0.5 < c.interval[1] and c.effect == pytest.approx(-0.5, abs=0.02)
    assert c.interval[1] < 0  # resolved: the scatter is small
    # One teacher with one student carries no information about the slope; too few points give None.
    assert comparisons.crossover_slope(cross[cross["teacher"] == "t1"].head(2)) is None
