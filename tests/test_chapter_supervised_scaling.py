"""Chapter 'Supervised scaling': the page's numbers, tables and figures from any state of the study.

Synthetic records stand in for the study's (the analysis itself is tested in ``test_supervised_study.py``);
the notebook's smoke run is in ``test_notebooks.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest
from test_supervised_study import BUDGETS, records

from distill_scaling import fits, paths, presentation
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


#: The stored verdict the page quotes (a row of data/findings.json).
FINDINGS = pd.DataFrame(
    [
        {"id": ch.FINDING, "verdict": "not resolved at our scale", "n_runs": 46, "n_held_out": 15,
         "max_error": 0.0233, "chapter": ch.CHAPTER},
        {"id": "other", "verdict": "reproduced", "n_runs": 1, "n_held_out": 0, "max_error": 0.5,
         "chapter": "x"},
    ]
)  # fmt: skip
#: Words a page must not print: it states what was measured, not the state of the work.
PROCESS_WORDS = ("pending", "so far", "yet", "issue", "digest", "L~_S", "->")


def glued_names(notebook: Path) -> set[str]:
    """The names the notebook's markdown cells glue (``{glue:text}`name:fmt` ``)."""
    nb = nbformat.read(notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))


def check_plain(nums: dict) -> None:
    """Glue-ready: plain ints, floats and short strings (no sentences, no numpy scalars), no process words."""
    for name, value in nums.items():
        assert type(value) in (int, float, str), (name, type(value))
        if isinstance(value, str):
            assert len(value) <= 40 and not value.endswith("."), (name, value)
            assert not any(w in value for w in PROCESS_WORDS), (name, value)


def test_every_glued_name_of_the_page_is_a_number_of_the_chapter(P):
    data = study_data(records())
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P, FINDINGS)
    missing = glued_names(paths.notebooks_dir() / f"{ch.CHAPTER}.ipynb") - set(nums)
    assert not missing, f"glued on the page but not in ch.numbers: {sorted(missing)}"


def test_an_empty_study_reads_n_a_not_pending(P):
    full = records(budgets=(1e12, 3e12))
    data = study_data(full.iloc[:0], full)
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P, FINDINGS)
    check_plain(nums)
    assert nums["sup_n_recorded"] == 0 and nums["sup_n_total"] == len(full)
    assert nums["sup_m_star"] == nums["sup_noise_rel"] == nums["sup_extrap_max"] == "n/a"
    assert nums["sup_iso_profiled"] == 0 and nums["sup_noise_verdict"] == "is not measured against"
    assert nums["sup_student_m"] == nums["sup_study_m_star_more"] == nums["sup_study_m_star_inside"] == "n/a"
    for fig in (
        ch.fig_noise(data.runs, ss.seed_spread(data.runs), noise, P.noise_target),
        ch.fig_isoflops(data.runs, co),
        ch.fig_optimal(co),
        ch.fig_law_fit(None),
    ):
        assert fig.axes
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert not any("pending" in t for t in texts), texts
        plt.close(fig)
    assert (ch.coefficient_frame(None)["ours"].iloc[:-1] == "n/a").all()
    assert ch.exponents_frame(co, None).loc["a (N* ∝ C^a)", "ours: fitted law"] == "n/a"


def test_a_partial_study_counts_its_runs(P):
    full = records(budgets=(1e12, 3e12))
    data = study_data(full.iloc[:10], full)
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P, FINDINGS)
    check_plain(nums)
    assert (nums["sup_n_recorded"], nums["sup_n_total"]) == (10, len(full))
    assert data.progress.loc["isoflop-small", "recorded"] == 10


def test_a_complete_study_quotes_measured_numbers(P):
    data = study_data(records())
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P, FINDINGS)
    check_plain(nums)
    assert nums["sup_n_recorded"] == nums["sup_n_total"]
    assert nums["sup_m_star"] == presentation.num(co.m_star[0]) and nums["sup_m_star_low"] != "n/a"
    assert nums["sup_iso_interior"] == nums["sup_iso_profiled"] == len(BUDGETS)
    assert nums["sup_exp_a"] == presentation.fixed(co.exponents.loc["N*", "exponent"])
    assert nums["sup_noise_rel"] == presentation.pct(noise.rel_std)
    assert nums["sup_noise_verdict"] in set(ch.NOISE_VERDICTS.values())
    frame = ch.minima_frame(co)
    assert list(frame["note"].str.startswith("interior")) == [True] * len(BUDGETS)
    mapping = ch.mapping_frame(co.m_star[0], ["L1-d16", "L2-d32"])
    assert mapping.loc["L1-d16", "tokens at M*"] == pytest.approx(co.m_star[0] * 3408, rel=1e-3)
    fig = ch.fig_isoflops(data.runs, co)
    plt.close(fig)


def test_the_verdict_is_read_from_the_findings_not_recomputed(P):
    data = study_data(records())
    noise, co, law = analyse(data, P)
    nums = ch.numbers(data, noise, co, law, P, FINDINGS)
    assert nums["sup_verdict"] == "not resolved at our scale" and nums["sup_verdict_runs"] == 46
    assert nums["sup_verdict_held"] == 15 and nums["sup_verdict_max"] == "2.3%"
    none = ch.numbers(data, noise, co, law, P, FINDINGS.iloc[1:])
    assert none["sup_verdict"] == "n/a" and none["sup_verdict_runs"] == 0


def test_an_interval_at_its_zero_bound_is_named_not_called_bounded(P):
    data = study_data(records())
    noise, co, _ = analyse(data, P)
    values = {"E": 1.0, "A": 2.0, "B": 3.0, "alpha": 0.3, "beta": 0.4, "gamma": 0.5}
    intervals = {n: (0.5 * v, 2 * v) for n, v in values.items()} | {"gamma": (0.0, 1.0)}
    params = SimpleNamespace(values=lambda: values, intervals=intervals)
    fit = SimpleNamespace(
        params=params, provenance={"unbounded": []}, runs=data.runs, n_resamples=64,
        converged_fraction=1.0, threshold=None, errors=lambda: {},
    )  # fmt: skip
    nums = ch.numbers(data, noise, co, fits.FitState(fit, "stored"), P, FINDINGS)
    assert nums["sup_unbounded"] == "none" and nums["sup_at_zero"] == "γ"
    assert nums["sup_law_runs"] == nums["sup_stored_runs"] == len(data.runs)


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
                "mean_error": 0.03,
                "max_error": 0.04,
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
    assert n["sup_decade_converged"] == "no"  # the planted provenance does not say it converged
    ran.provenance["decade_extrapolation"]["converged"] = True
    assert ch.decade_numbers(ran)["sup_decade_converged"] == "yes"
    skipped = SimpleNamespace(provenance={"decade_extrapolation": {"skipped": "1 held-out run"}})
    # the status reads after "this test" in the prose: "(this test ran)", "(this test did not run: ...)"
    assert ch.decade_numbers(skipped)["sup_decade_status"] == "did not run: 1 held-out run"
    assert ch.decade_numbers(None)["sup_decade_status"] == "did not run: no stored fit"
    assert ch.decade_numbers(None)["sup_decade_converged"] == "n/a"
