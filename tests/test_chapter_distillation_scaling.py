"""Chapter 'Distillation scaling': the page builds, and says what is pending, from any state of the study.

Synthetic records stand in for the study's (the analysis is tested in ``test_distillation_study.py``); the
notebook's smoke run is in ``test_notebooks.py``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_distillation_study import RES, TEACHERS, crossing_rows, scenario, u_shaped

from distill_scaling import distillation_study as ds
from distill_scaling import fits
from distill_scaling import supervised_study as ss
from distill_scaling.chapters import distillation_scaling as ch
from distill_scaling.laws import PAPER_DISTILLATION, PAPER_SUPERVISED
from distill_scaling.notebook import chapter_params
from distill_scaling.params import ParameterError, Params, validate


@pytest.fixture(scope="module")
def P() -> Params:
    return Params(validate(chapter_params(ch.CHAPTER), {"profile": "default"}))


def study_data(design: pd.DataFrame, rec: pd.DataFrame) -> ch.StudyData:
    """StudyData of synthetic records (no supervised study runs: noise and law come from the tests)."""
    support = pd.DataFrame(
        {"block": "teachers", "key": list(TEACHERS), "flops": 1e12, "model": "m", "budget": math.nan}
    )
    both = pd.concat([support[["block", "key", "flops"]], design[["block", "key", "flops"]]])
    empty = ss.supervised_runs(None)
    return ch.StudyData(
        design, support, rec, ds.distillation_runs(rec, design), empty, empty, ss.progress_table(rec, both)
    )


def page(data: ch.StudyData, P: Params, law: fits.FitState | None = None):
    noise = ss.NoiseSummary(0.006, (0.004, 0.01), 0.003, (0.002, 0.005), 5, 15, 10, 0.9)
    sup = fits.SupervisedInside(None, "pending", 0)
    law = law or fits.FitState(None, "pending", reason="too few runs")
    found = ds.findings(data.dist, RES)
    return ch.numbers(data, noise, RES, sup, law, found, P), found


def draw_all(data: ch.StudyData, law=None) -> None:
    for fig in (
        ch.fig_protocol3(data.block("protocol3"), RES, law),
        ch.fig_advantage(data.block("protocol3"), RES),
        ch.fig_law_fit(law, "too few runs"),
        ch.fig_protocol2(data.block("protocol2")),
        ch.fig_protocol1(data.block("protocol1")),
    ):
        assert fig.axes
        plt.close(fig)


def test_an_empty_study_gives_a_page_of_pending_statements(P):
    design, rec = scenario(u_shaped() + crossing_rows())
    data = study_data(design, rec.iloc[:0])
    nums, found = page(data, P)
    assert all(isinstance(v, str) for v in nums.values())
    assert nums["dis_progress"].startswith(f"None of the {data.n_total} distillation runs")
    assert "pending" in nums["dis_law_source"] and nums["dis_threshold"] == "pending"
    assert nums["dis_supervised"].startswith("Pending") and nums["dis_p1"].startswith("None of the")
    assert nums["dis_verdicts"] == f"{len(ds.PAPER_CLAIMS)} pending" and (found["verdict"] == "pending").all()
    draw_all(data)
    assert (ch.coefficient_frame(None)["ours"].iloc[:-1] == "pending").all()
    assert (
        ch.protocol3_frame(data.block("protocol3")).empty
        and ch.gap_frame(ds.capacity_gap(data.dist, RES)).empty
    )


def test_a_recorded_study_quotes_its_numbers(P):
    design, rec = scenario(u_shaped(0.06) + crossing_rows(-0.05, 0.05))
    data = study_data(design, rec)
    nums, found = page(data, P)
    assert nums["dis_progress"].startswith(f"All {data.n_total} distillation runs")
    assert "resolved gap" in nums["dis_gap"] and "L5-d80" in nums["dis_gap"]
    assert "cross from better to worse" in nums["dis_supervised"]
    assert nums["dis_noise_rel"] == "0.30%" and "√2" in nums["dis_noise"]
    assert nums["dis_verdicts"].count("reproduced") >= 1
    table = ch.findings_table(found).data
    assert list(table.columns) == ["paper's evidence", "ours", "verdict"]
    frame = ch.protocol3_frame(data.block("protocol3"))
    assert len(frame) == len(data.block("protocol3")) and frame["L_S − L~_S"].notna().all()
    draw_all(data)


def test_the_law_state_is_pending_until_nine_runs_and_a_supervised_law(P):
    design, rec = scenario(u_shaped())
    data = study_data(design, rec)
    state = ch.distillation_law(data, fits.SupervisedInside(None, "pending", 0), P)
    assert state.fit is None and "supervised law" in state.reason
    sup = fits.SupervisedInside(PAPER_SUPERVISED, "fitted", 10)
    state = ch.distillation_law(data, sup, P)
    assert state.fit is None and "4 distillation run(s)" in state.reason
    assert "pending" in ch.law_source_sentence(state, P)
    assert "fitted now" in ch.supervised_source_sentence(sup)


def test_smoke_design_is_tiny_and_covers_the_three_protocols():
    design, support = ch.smoke_design()
    assert set(design["block"]) == {"protocol3", "protocol2", "protocol1"}  # no extra seeds in the smoke
    assert (design["flops"] < 5e10).all() and design["key"].nunique() >= ch.N_COEFFICIENTS
    assert set(design["baseline_key"][design["block"] != "protocol1"]) <= set(support["key"])
    specs = {s.key for s in ch.smoke_specs()}
    assert set(design["key"]) | set(support["key"]) == specs
    # one baseline configuration has extra seeds: the smoke's noise measurement
    base = support[support["block"] == "baselines"]
    assert base.groupby(["model", "tokens"])["seed"].nunique().max() == 1 + len(ch.SMOKE_SEEDS)


def test_parameters_are_validated():
    with pytest.raises(ParameterError, match="resolve_factor"):
        validate(chapter_params(ch.CHAPTER), {"resolve_factor": 0.0})
    with pytest.raises(ParameterError, match="unknown parameter"):
        validate(chapter_params(ch.CHAPTER), {"n_boot": 3})
    smoke = validate(chapter_params(ch.CHAPTER), {"profile": "smoke"})
    assert smoke["n_resamples"] < 16 and smoke["workers"] == 1


def test_formatting_helpers():
    assert ch.budget_text(1.5e9) == "1.5e9" and ch.budget_text(3e11) == "3e11"
    assert ch.budget_text(float("nan")) == "n/a"


def test_the_supervised_law_comes_from_the_stored_supervised_fit(P, tmp_path, monkeypatch):
    from test_supervised_study import records

    sup_runs = ss.supervised_runs(records(budgets=(1e12,), seeds=(0,)))
    stored = fits.fit_study_law("supervised", sup_runs, n_resamples=0, refine=8)
    monkeypatch.setenv("DS_DATA_DIR", str(tmp_path))
    path = fits.save_fit(stored)
    design, rec = scenario(u_shaped())
    data = study_data(design, rec)
    data.supervised = sup_runs
    state = ch.supervised_law(data, P)
    assert state.source == "stored" and state.current and state.coef == stored.params
    assert "as stored in data/fits/supervised.json" in ch.supervised_source_sentence(state)
    data.supervised = sup_runs.iloc[:-1]
    assert not ch.supervised_law(data, P).current
    path.unlink()
    data.supervised = sup_runs.iloc[:3]
    assert ch.supervised_law(data, P).source == "pending"  # no stored fit and too few runs to fit one


def test_full_trains_every_run_of_the_chapters_design():
    keys = {s.key for s in ds.study_specs()}
    design = ds.study_design()
    assert set(design["key"]) <= keys
    assert set(design["baseline_key"][design["block"] != "protocol1"]) <= keys
    assert set(design["teacher"][design["block"] != "protocol2"]) <= keys


def test_a_stored_fit_of_the_same_runs_is_read_even_with_a_newer_supervised_law(P, tmp_path, monkeypatch):
    design, rec = scenario(u_shaped() + crossing_rows())
    data = study_data(design, rec)
    old_sup = PAPER_SUPERVISED.replace(E=1.0)
    stored = fits.LawFit(
        "distillation", PAPER_DISTILLATION, ds.fit_runs(data.dist), pd.DataFrame(), 4096, math.nan, 0.9, None,
        None, {"supervised": "fitted to the 30 supervised runs recorded then"}, supervised=old_sup,
    )  # fmt: skip
    path = fits.save_fit(stored, tmp_path / "distillation.json")
    monkeypatch.setattr(ch, "fit_path", lambda _P: path)
    state = ch.distillation_law(data, fits.SupervisedInside(PAPER_SUPERVISED, "fitted", 40), P)
    assert state.source == "stored" and not state.supervised_current
    assert "supervised runs recorded since" in ch.law_source_sentence(state, P)
    nums, _ = page(data, P, state)
    assert "carries the one of its date" in nums["dis_supervised_source"]
    same = ch.distillation_law(data, fits.SupervisedInside(old_sup, "stored", 30), P)
    assert same.source == "stored" and same.supervised_current


def test_coefficient_table_says_which_coefficients_the_runs_do_not_bound():
    """An interval that the growth check found unbounded is not printed; the ratios follow alpha and beta."""
    from types import SimpleNamespace

    from distill_scaling.chapters import distillation_scaling as chapter
    from distill_scaling.laws import PAPER_DISTILLATION
    from distill_scaling.presentation import UNBOUNDED_MARK

    params = PAPER_DISTILLATION.replace(
        intervals={n: (0.9 * getattr(PAPER_DISTILLATION, n), 1.1 * getattr(PAPER_DISTILLATION, n))
                   for n in (*PAPER_DISTILLATION.NAMES, "a", "b")}
    )  # fmt: skip
    law = SimpleNamespace(params=params, runs=[None] * 84, unbounded=["gamma", "alpha"])
    ours = chapter.coefficient_frame(law)["ours"]
    marked = {name for name, cell in ours.items() if UNBOUNDED_MARK in cell}
    assert marked == {"γ′", "α′", "a′ = β′/(α′+β′)", "b′ = α′/(α′+β′)"}
    assert "–" in ours["c0"] and UNBOUNDED_MARK not in ours["c0"]
    assert ours["runs"] == "84"
    law.unbounded = []
    assert not any(UNBOUNDED_MARK in cell for cell in chapter.coefficient_frame(law)["ours"])


def _isoflop_rows(teacher_n: float, budget: float, sizes, best: float) -> list[dict]:
    """A student IsoFLOP profile whose loss is a parabola in ln N with its vertex at ``best``."""
    return [
        {
            "teacher": f"t{teacher_n:g}", "teacher_model": "T", "teacher_n_params": teacher_n,
            "teacher_loss": 1.9, "student_budget": budget, "n_params": n,
            "val_loss": 1.8 + 0.05 * (math.log(n) - math.log(best)) ** 2,
        }
        for n in sizes
    ]  # fmt: skip


def test_protocol1_optima_find_the_vertex_and_mark_profile_ends():
    sizes = [1e4, 3e4, 1e5, 3e5]
    p1 = pd.DataFrame(
        _isoflop_rows(2e4, 1e12, sizes, best=6e4) + _isoflop_rows(2e4, 3e12, sizes, best=1e6)
        + _isoflop_rows(8e4, 1e12, sizes, best=1.5e5)
    )  # fmt: skip
    opt = ch.protocol1_optima(p1).set_index(["teacher_n_params", "student_budget"])
    assert opt.loc[(2e4, 1e12), "n_star"] == pytest.approx(6e4, rel=1e-6)
    assert pd.isna(opt.loc[(2e4, 1e12), "edge"])
    assert opt.loc[(2e4, 3e12), "edge"] == "large" and opt.loc[(2e4, 3e12), "n_star"] == 3e5
    words = ch.protocol1_optima_sentence(opt.reset_index(), {1e12: 1.81})
    assert words.startswith("Of the 3 student IsoFLOP profiles, 2 have an interior minimum")
    assert "2 of the 2 interior optima are students larger than their teacher" in words
    assert "for 2 of 2 teachers at C_S = 1e12" in words
    fig = ch.fig_protocol_optima(
        opt.reset_index(),
        {1e12: 1.81},
        ch.protocol2_optima(
            pd.DataFrame(
                columns=[
                    "model",
                    "n_params",
                    "baseline_loss",
                    "teacher_budget",
                    "teacher_n_params",
                    "val_loss",
                ]
            )
        ),
    )
    plt.close(fig)


def test_protocol2_optima_find_the_best_teacher_and_compare_with_the_baseline():
    rows = [
        {"model": "S", "n_params": 3e4, "baseline_loss": 1.9, "teacher_budget": 1e12, "teacher_n_params": n,
         "val_loss": 1.85 + 0.02 * (math.log(n) - math.log(1e5)) ** 2}
        for n in (3e4, 6e4, 1.2e5, 2.4e5)
    ]  # fmt: skip
    opt = ch.protocol2_optima(pd.DataFrame(rows))
    assert opt["n_star"].iloc[0] == pytest.approx(1e5, rel=1e-6) and pd.isna(opt["edge"].iloc[0])
    words = ch.protocol2_optima_sentence(opt)
    assert words.startswith("All 1 teacher IsoFLOP profiles of protocol 2 have an interior best teacher")
    assert "the best teacher is smaller than its student in 0 of the 1 interior cases" in words
    assert words.endswith("at 1 of 1 the student beats its supervised baseline.")


def test_advantage_maps_follow_the_law_and_check_the_runs_sign():
    """A law that favours distillation below 1e4 parameters: the map's share and the runs' agreement."""
    from types import SimpleNamespace

    from distill_scaling.laws import supervised_loss

    def predict(n, d, lt):
        return supervised_loss(n, d, PAPER_SUPERVISED) + np.where(np.asarray(n) < 1e4, -0.05, 0.05)

    fitted = pd.DataFrame({"n_params": [1e3, 1e5], "tokens": [1e5, 1e7]})
    law = SimpleNamespace(runs=fitted, supervised=PAPER_SUPERVISED, predict=predict)
    n, d, diff = ch.advantage_map(law, 2.0, n_grid=11)
    assert diff.shape == (11, 11) and np.all((diff < 0) == (n[:, None] < 1e4))
    dist = pd.DataFrame(
        {
            "block": ["protocol3", "protocol3", "protocol1", "protocol2"], "teacher": ["t"] * 4,
            "teacher_model": ["T"] * 4, "teacher_n_params": [5e4] * 4, "teacher_loss": [2.0] * 4,
            "n_params": [3e3, 3e4, 3e4, 3e3], "tokens": [1e6] * 4,
            "vs_supervised": [-0.02, -0.01, np.nan, 0.3],
        }
    )  # fmt: skip
    words = ch.advantage_map_sentence(law, dist)
    assert "on 50% of the plane for the smallest teacher" in words  # 30 of 60 sizes lie below 1e4
    assert words.endswith("the 2 runs on the maps agree in sign with the law at 1 of 2.")
    plt.close(ch.fig_advantage_maps(law, dist))
    assert "pending" in ch.advantage_map_sentence(None, dist) or "follow once" in ch.advantage_map_sentence(
        None, dist
    )


def test_teacher_maps_take_the_teacher_loss_from_the_supervised_law():
    """A law in which distillation wins exactly when the teacher's loss is below 2.0."""
    from types import SimpleNamespace

    from distill_scaling.laws import supervised_loss

    def predict(n, d, lt):
        return supervised_loss(n, d, PAPER_SUPERVISED) + np.where(np.asarray(lt) < 2.0, -0.05, 0.05)

    law = SimpleNamespace(runs=None, supervised=PAPER_SUPERVISED, predict=predict)
    p2 = pd.DataFrame(
        {
            "model": ["S"] * 3, "n_params": [1e8] * 3, "tokens": [2e9] * 3,
            "teacher_n_params": [1e8, 1e9, 1e10], "teacher_tokens": [2e9, 2e10, 2e11],
            "vs_supervised": [0.01, -0.02, -0.03],
        }
    )  # fmt: skip
    n, d, diff = ch.teacher_map(law, 1e8, 2e9, p2, n_grid=9)
    lt = supervised_loss(n[:, None], d[None, :], PAPER_SUPERVISED)
    assert np.array_equal(diff < 0, lt < 2.0)
    words = ch.teacher_map_sentence(law, p2)
    lt_runs = supervised_loss(p2["teacher_n_params"], p2["teacher_tokens"], PAPER_SUPERVISED)
    expected = int(np.sum((lt_runs < 2.0) == (p2["vs_supervised"] < 0)))
    assert words.endswith(f"the 3 protocol-2 runs agree in sign with them at {expected}.")
    plt.close(ch.fig_teacher_maps(law, p2))
