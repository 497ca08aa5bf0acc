"""Chapter 'Supervised scaling': the page builds, and says what is pending, from any state of the study.

Synthetic records stand in for the study's (the analysis itself is tested in ``test_supervised_study.py``);
the notebook's smoke run is in ``test_notebooks.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from test_supervised_study import BUDGETS, records

from distill_scaling import fits, presentation
from distill_scaling import supervised_study as ss
from distill_scaling.chapters import supervised_scaling as ch
from distill_scaling.notebook import chapter_params
from distill_scaling.params import Params, validate


@pytest.fixture(scope="module")
def P() -> Params:
    return Params(validate(chapter_params(ch.CHAPTER), {"profile": "default"}))


def study_data(rec: pd.DataFrame, design_rec: pd.DataFrame | None = None) -> ch.StudyData:
    """StudyData of synthetic records; the design holds the runs of ``design_rec`` (default: ``rec``)."""
    d = rec if design_rec is None else design_rec
    design = pd.DataFrame(
        {
            "block": "isoflop-small",
            "key": d["key"].to_numpy(),
            "model": d["model"].to_numpy(),
            "n_params": d["n_params"].to_numpy(),
            "tokens": d["tokens_trained"].to_numpy(),
            "seed": d["seed"].to_numpy(),
            "flops": d["flops_total"].to_numpy(),
            "budget": d["flops_total"].to_numpy(),
        }
    )
    runs = ss.supervised_runs(rec, design)
    return ch.StudyData(design, rec, runs, ss.progress_table(rec, design))


def analyse(data: ch.StudyData, P: Params, law: fits.FitState | None = None):
    iso = data.isoflop_runs
    noise = ss.pooled_noise(iso)
    co = ss.compute_optimal(iso, n_boot=200)
    return noise, co, law or fits.FitState(None, "pending")


def test_an_empty_study_gives_a_page_of_pending_statements(P):
    full = records(budgets=(1e12, 3e12))
    data = study_data(full.iloc[:0], full)
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P)
    assert all(isinstance(v, str) for v in nums.values())
    assert nums["sup_m_star"] == "pending" and nums["sup_noise_rel"] == "pending"
    assert f"None of the {data.n_total}" in nums["sup_progress"]
    assert "pending" in nums["sup_isoflop_sentence"] and "pending" in nums["sup_extrapolation_sentence"]
    for fig in (
        ch.fig_noise(data.runs, ss.seed_spread(data.runs), noise, P.noise_target),
        ch.fig_isoflops(data.runs, co),
        ch.fig_optimal(co),
        ch.fig_law_fit(None),
    ):
        assert fig.axes
        plt.close(fig)
    assert (ch.coefficient_frame(None)["ours"].iloc[:-1] == "pending").all()
    assert ch.exponents_frame(co, None).loc["a (N* ∝ C^a)", "ours: fitted law"] == "pending"


def test_a_partial_study_says_how_much_is_recorded(P):
    full = records(budgets=(1e12, 3e12))
    data = study_data(full.iloc[:10], full)
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P)
    assert nums["sup_progress"].startswith(f"10 of {len(full)} supervised runs")
    assert data.progress.loc["isoflop-small", "recorded"] == 10


def test_a_complete_study_quotes_measured_numbers(P):
    data = study_data(records())
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P)
    assert nums["sup_progress"].startswith("All")
    assert nums["sup_m_star"] == presentation.num(co.m_star[0]) and nums["sup_m_star_interval"] != "n/a"
    assert (
        "lowest loss inside the sizes trained" in nums["sup_isoflop_sentence"]
        and "C^" in nums["sup_exponent_sentence"]
    )
    assert nums["sup_noise_rel"] == f"{100 * noise.rel_std:.2f}%"
    frame = ch.minima_frame(co)
    assert list(frame["note"].str.startswith("interior")) == [True] * len(BUDGETS)
    mapping = ch.mapping_frame(co.m_star[0], ["L1-d16", "L2-d32"])
    assert mapping.loc["L1-d16", "tokens at M*"] == pytest.approx(co.m_star[0] * 3408, rel=1e-3)
    fig = ch.fig_isoflops(data.runs, co)
    plt.close(fig)


def test_edge_notes_name_the_epoch_limit_or_the_zoo():
    assert "data-limited" in ch.edge_note("L2-d32", 1e13, "small")  # L1-d16 would read > 4 epochs
    assert "no smaller zoo model" in ch.edge_note("L1-d16", 1e12, "small")
    assert ch.edge_note("L3-d48", 1e12, None) == "interior"


def test_smoke_design_is_tiny_and_on_its_budgets():
    d = ch.smoke_design()
    assert set(d["budget"]) == set(ch.SMOKE_BUDGETS)
    assert d["key"].is_unique and (d["flops"] < 1e11).all()
    assert d.groupby(["model", "budget"])["seed"].nunique().max() == 1 + len(ch.SMOKE_SEEDS)


def test_decade_numbers_read_the_fits_decade_test():
    from types import SimpleNamespace

    ran = SimpleNamespace(
        provenance={
            "decade_extrapolation": {
                "errors": [0.02, -0.04],
                "held_out_runs": 2,
                "fit_runs": 40,
                "decades": 1.2,
            }
        }  # fmt: skip
    )
    n = ch.decade_numbers(ran)
    assert n["sup_decade_status"] == "ran" and n["sup_decade_held_out"] == 2 and n["sup_decade_fitted"] == 40
    assert n["sup_decade_bias"] == pytest.approx(-1.0) and n["sup_decade_mean"] == pytest.approx(3.0)
    assert n["sup_decade_max"] == pytest.approx(4.0) and n["sup_decade_decades"] == pytest.approx(1.2)
    skipped = SimpleNamespace(provenance={"decade_extrapolation": {"skipped": "1 held-out run"}})
    assert ch.decade_numbers(skipped)["sup_decade_status"] == "1 held-out run"
    assert ch.decade_numbers(None)["sup_decade_status"] == "no stored fit"
