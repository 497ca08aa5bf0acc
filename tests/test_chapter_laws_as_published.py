"""The chapter "The laws as published": its parameters, tables, crossover search and figure functions."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from distill_scaling import laws
from distill_scaling.chapters import laws_as_published as ch
from distill_scaling.notebook import chapter_params
from distill_scaling.params import ParameterError, validate

SPEC = chapter_params("01_laws_as_published")


# --- parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_every_profile_has_valid_values(profile):
    values = validate(SPEC, {"profile": profile})
    assert set(values) == {"profile", "grid_points", "curve_points", "students", "reference_student"}
    assert values["grid_points"] <= (40 if profile == "smoke" else 600)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"grid_points": "abc"}, "parameter 'grid_points' must be int, got str 'abc'"),
        ({"grid_points": 5}, "parameter 'grid_points' = 5 is out of range; allowed: int in [10, 600]"),
        ({"students": [1e9, 1e3]}, "parameter 'students' = 1000.0 is out of range"),
        ({"students": 1e9}, "parameter 'students' must be a list of float"),
        ({"reference_student": 1e13}, "parameter 'reference_student' = 10000000000000.0 is out of range"),
        ({"nonsense": 1}, "unknown parameter 'nonsense'"),
    ],
)
def test_bad_parameters_fail_with_one_clear_message(given, message):
    with pytest.raises(
        ParameterError, match=message.replace("[", r"\[").replace("(", r"\(").replace("+", r"\+")
    ):
        validate(SPEC, given)


# --- formatting and tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "text"),
    [(198e6, "198M"), (1.82e9, "1.82B"), (210e9, "210B"), (16e12, "16T"), (999.6e6, "1B"), (np.inf, "∞")],
)
def test_human_count_writes_counts_like_the_paper(x, text):
    assert ch.human_count(x) == text


def test_coefficient_table_comes_from_the_constants():
    table = ch.coefficient_table()
    assert table.loc["α", "Paper, supervised"] == "0.408 (0.405, 0.411)"
    assert table.loc["c₁", "Paper, distillation (primed)"] == "522.6 (522.6, 522.6)"
    assert table.loc["E", "Chinchilla"] == "1.690"
    assert table.loc["c₀", "Chinchilla"] == ""
    changed = ch.coefficient_table({"mine": laws.PAPER_SUPERVISED.replace(alpha=0.5, intervals={})})
    assert changed.loc["α", "mine"] == "0.500"


def test_optimal_teacher_table_matches_the_law():
    table = ch.optimal_teacher_table(students=(546e6,), ratios=(80,))
    row = table.iloc[0]
    best = laws.optimal_teacher(546e6, 80 * 546e6)
    assert row["L*_T"] == pytest.approx(float(best.teacher_loss))
    assert row["gain L~_S − L_S"] == pytest.approx(row["L~_S (supervised)"] - row["L_S with L*_T"])
    assert row["N_T"] == "9.2B"


def test_infinite_data_table_differences():
    table = ch.infinite_data_table(students=(1e9,))
    assert table.iloc[0]["difference (%)"] == pytest.approx(
        100 * (table.iloc[0]["L_S(N_S, ∞, L*_T)"] / table.iloc[0]["L(N_S, ∞)"] - 1)
    )


# --- the crossover ------------------------------------------------------------------------------------------


def test_crossover_is_a_sign_change_of_the_gain():
    crossing = ch.find_crossover(1e9)
    assert math.isfinite(crossing.tokens)
    before = ch.best_case_gap(1e9, crossing.tokens / 1.2)
    after = ch.best_case_gap(1e9, crossing.tokens * 1.2)
    assert before > 0 > after
    assert abs(float(ch.best_case_gap(1e9, crossing.tokens))) < 1e-8
    assert crossing.slope < 0
    assert crossing.gap_at_infinity < 0


def test_no_crossover_when_distillation_stays_ahead():
    crossing = ch.find_crossover(30e9)
    assert math.isnan(crossing.tokens) and math.isnan(crossing.slope)
    assert crossing.gap_at_infinity > 0
    D = np.geomspace(1e9, 1e18, 50)
    assert np.all(ch.best_case_gap(30e9, D) > 0)


def test_factor_inverse_inverts_the_factor():
    for level in (0.9, 0.5, 0.1):
        ratio = ch._factor_inverse(level, laws.PAPER_DISTILLATION)
        assert laws.capacity_factor(ratio, 1.0) == pytest.approx(level, rel=1e-9)


def test_numbers_are_plain_values_for_glue():
    crossings = [ch.find_crossover(n) for n in (1e9, 30e9)]
    numbers = ch.numbers(1e9, crossings, points=30)
    assert all(type(v) in (float, str) for v in numbers.values()), "numpy scalars glue as 'np.float64(...)'"
    assert numbers["ref_N"] == "1B"
    assert numbers["ref_diff_pct"] == pytest.approx(
        100 * (float(laws.optimal_teacher(1e9, np.inf).student_loss) / float(laws.supervised_limit(1e9)) - 1)
    )
    assert numbers["min_student_minus_teacher"] >= 0.0
    assert numbers["cross_30B"] == "none"


# --- figures ------------------------------------------------------------------------------------------------

OTHER = laws.PAPER_DISTILLATION.replace(c0=2.0, d1=1.2)


@pytest.mark.parametrize(
    ("make", "n_axes"),
    [
        (lambda c: ch.fig_supervised_law(points=12), 1),
        (lambda c: ch.fig_capacity_factor(c, points=12), 2),
        (lambda c: ch.fig_student_vs_teacher([198e6, 1e9, 3e9], coef=c, points=12), 4 + 1),  # + colour bar
        (lambda c: ch.fig_capacity_gap(coef=c, points=12), 2),
        (lambda c: ch.fig_student_size_contours(coef=c, points=12), 4 + 1),
        (lambda c: ch.fig_token_contours(crossings=[ch.find_crossover(1e9)], coef=c, points=12), 4 + 1),
        (lambda c: ch.fig_crossover_gap([ch.find_crossover(1e9, coef=c)], coef=c, points=12), 1),
        (lambda c: ch.fig_infinite_data(reference_student=1e9, coef=c, points=12), 2),
    ],
)
@pytest.mark.parametrize("coef", [laws.PAPER_DISTILLATION, OTHER], ids=["paper", "other"])
def test_figures_build_with_any_coefficient_set(make, n_axes, coef):
    fig = make(coef)
    try:
        assert len(fig.axes) == n_axes
        if coef is laws.PAPER_DISTILLATION:  # drawing (layout, labels) is the slow part: once is enough
            fig.canvas.draw()
    finally:
        plt.close(fig)
