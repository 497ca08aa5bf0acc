"""Chapter 'Distillation scaling': the page's numbers, tables and figures from any state of the study, and its
verdicts read from a findings file.

Synthetic records stand in for the study's (the analysis is tested in ``test_distillation_study.py``); the
notebook's smoke run is in ``test_notebooks.py``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_distillation_study import NOISE, RES, TEACHERS, crossing_rows, scenario, u_shaped

from distill_scaling import distillation_study as ds
from distill_scaling import fits, verdicts
from distill_scaling import supervised_study as ss
from distill_scaling.chapters import distillation_scaling as ch
from distill_scaling.laws import PAPER_DISTILLATION, PAPER_SUPERVISED
from distill_scaling.notebook import chapter_params
from distill_scaling.params import ParameterError, Params, validate

NO_FINDINGS = pd.DataFrame(columns=["id", "verdict", "effect", "interval", "resolution", "unit"])


@pytest.fixture(scope="module")
def P() -> Params:
    return Params(validate(chapter_params(ch.CHAPTER), {"profile": "default"}))


def study_data(design: pd.DataFrame, rec: pd.DataFrame, noise: pd.DataFrame = NOISE) -> ch.StudyData:
    """StudyData of synthetic records (no supervised study runs: the law comes from the tests)."""
    support = pd.DataFrame(
        {"block": "teachers", "key": list(TEACHERS), "flops": 1e12, "model": "m", "budget": math.nan}
    )
    both = pd.concat([support[["block", "key", "flops"]], design[["block", "key", "flops"]]])
    empty = ss.supervised_runs(None)
    return ch.StudyData(
        design, support, rec, ds.distillation_runs(rec, design), empty, noise, ss.progress_table(rec, both)
    )


def page(data: ch.StudyData, P: Params, law: fits.FitState | None = None, findings=NO_FINDINGS):
    law = law or fits.FitState(None, "pending", reason="too few runs")
    return ch.numbers(data, RES, law, findings, P)


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


def test_an_empty_study_gives_zero_counts_empty_tables_and_untested_claims(P):
    design, rec = scenario(u_shaped() + crossing_rows())
    data = study_data(design, rec.iloc[:0], noise=NOISE.iloc[:0])
    nums = page(data, P)
    assert all(type(v) in (int, float, str) for v in nums.values())
    assert nums["dis_n_runs"] == 0 and nums["dis_n_design"] == data.n_total > 0
    assert nums["dis_compute_pflop"] == 0.0 and nums["dis_agreement_runs"] == 0
    assert math.isnan(nums["dis_rms_all"]) and math.isnan(nums["dis_noise_min"])
    assert nums["dis_gap_verdict"] == "not tested" and math.isnan(nums["dis_gap_effect"])
    draw_all(data)
    assert (ch.coefficient_frame(None)["ours"].iloc[:-1] == "not fitted").all()
    for table in (
        ch.protocol3_frame(data.block("protocol3")), ch.gap_frame(ds.capacity_gap(data.dist, RES)),
        ch.versus_teacher_frame(data.dist, RES), ch.convergence_frame(data.dist, RES),
        ch.noise_frame(data.noise), ch.teacher_map_frame(None, data.block("protocol2")),
    ):  # fmt: skip
        assert table.empty
    assert (
        ch.law_fit_frame(fits.FitState(None, "pending"), fits.SupervisedInside(None, "pending", 0)).loc[
            "fit", ""
        ]
        == ch.FIT_SOURCES["pending"]
    )


def test_a_recorded_study_counts_its_runs_and_compares_them_with_the_noise(P):
    design, rec = scenario(u_shaped(0.06) + crossing_rows(-0.05, 0.05))
    data = study_data(design, rec)
    nums = page(data, P)
    assert nums["dis_n_runs"] == nums["dis_n_design"] == data.n_total == len(rec[rec["teacher"].notna()])
    assert nums["dis_teachers_recorded"] == nums["dis_teachers_total"] == len(TEACHERS)
    # baselines: those of the design's runs that the supervised design trains (here none: no baselines block)
    assert nums["dis_baselines_total"] == len(set(design["baseline_key"]) & set(data.support["key"])) == 0
    assert nums["dis_agreement_runs"] == data.n_total and nums["dis_agreement_max"] == 0.0
    assert nums["dis_noise_min"] == nums["dis_noise_max"] == pytest.approx(0.0057)
    assert nums["dis_noise_distilled_configs"] == 10 and nums["dis_resolve_factor"] == 2.0
    gap = ch.gap_frame(ds.capacity_gap(data.gap_runs(), RES))
    assert gap.loc[("L1-d16", gap.index[0][1]), "rise against the noise"] == "beyond noise"
    vt = ch.versus_teacher_frame(data.dist, RES).loc["protocol3"]
    assert vt["runs"] == data.n_total and vt["below L_T"] == int((data.dist["vs_teacher"] < 0).sum())
    conv = ch.convergence_frame(data.block("protocol3"), RES).loc["L2-d32"]
    assert conv["L_S − L̃_S there"] == pytest.approx(-0.05) and conv["L_S − L̃_S at the most"] == pytest.approx(
        0.05
    )
    frame = ch.protocol3_frame(data.block("protocol3"))
    assert len(frame) == len(data.block("protocol3")) and frame["L_S − L̃_S"].notna().all()
    noise = ch.noise_frame(NOISE)
    assert noise.loc[("distilled", "L2-d32"), "seed sd (nats)"] == 0.0057
    draw_all(data)


def test_the_verdicts_are_read_from_the_findings_file(P, tmp_path):
    """The page quotes data/findings.json as written: verdict, effect, interval, the claim's own fields."""
    gap = verdicts.Finding(
        "capacity-gap", "claim", "paper", "reproduced", 0.0042, [0.0001, 0.0083], 0.0041, 28,
        "07_distillation_scaling", "criterion", predicted=0.0235,
        extra={"pairs": 14, "strongest_teacher": "L6-d96", "runs_for_predicted": 2},
    )  # fmt: skip
    extrapolation = verdicts.Finding(
        "distillation-extrapolation", "claim", "paper", "not resolved at our scale", 0.0102, [0.0068, 0.0137],
        0.0034, 124, "07_distillation_scaling", "criterion", unit="fraction",
        extra={"max_error": 0.024, "mean_error": 0.012, "n_held_out": 25},
    )  # fmt: skip
    path = verdicts.write_findings([gap, extrapolation], tmp_path / "findings.json")
    found = verdicts.load_findings(path)
    nums = ch.claim_numbers(found)
    assert nums["dis_gap_verdict"] == "reproduced" and nums["dis_gap_effect"] == 0.0042
    assert (nums["dis_gap_lo"], nums["dis_gap_hi"], nums["dis_gap_resolution"]) == (0.0001, 0.0083, 0.0041)
    assert nums["dis_gap_pairs"] == 14 and type(nums["dis_gap_pairs"]) is int
    assert nums["dis_gap_strongest_teacher"] == "L6-d96" and nums["dis_gap_predicted"] == 0.0235
    assert nums["dis_gap_predicted_place"] == "above"  # the law's 0.0235 lies beyond the interval's 0.0083
    # a claim in fractions is quoted in percent
    assert nums["dis_extrapolation_effect"] == pytest.approx(1.02)
    assert (
        nums["dis_extrapolation_max_error"] == pytest.approx(2.4)
        and nums["dis_extrapolation_n_held_out"] == 25
    )
    # a claim the file lacks is not tested
    assert nums["dis_beat_verdict"] == "not tested" and math.isnan(nums["dis_beat_effect"])
    assert math.isnan(nums["dis_beat_weak_to_strong_runs"])
    design, rec = scenario(u_shaped())
    assert page(study_data(design, rec), P, findings=found)["dis_gap_verdict"] == "reproduced"


def test_the_law_state_is_pending_until_nine_runs_and_a_supervised_law(P):
    design, rec = scenario(u_shaped())
    data = study_data(design, rec)
    state = ch.distillation_law(data, fits.SupervisedInside(None, "pending", 0), P)
    assert state.fit is None and "supervised law" in state.reason
    sup = fits.SupervisedInside(PAPER_SUPERVISED, "fitted", 10)
    state = ch.distillation_law(data, sup, P)
    assert state.fit is None and "4 distillation run(s)" in state.reason
    facts = ch.law_fit_frame(state, sup)[""]
    assert facts["fit"] == ch.FIT_SOURCES["pending"] and "runs" not in facts.index
    assert facts["supervised law inside (L̃_S)"] == f"{ch.SUPERVISED_SOURCES['fitted']}, 10 runs"
    pending = ch.law_numbers(state, P)
    assert math.isnan(pending["dis_rms_all"]) and math.isnan(pending["dis_split_held"])
    assert (
        pending["dis_decade_status"] == "did not run: no stored fit" and pending["dis_decade_held_out"] == 0
    )
    assert pending["dis_unbounded"] == pending["dis_at_zero"] == "n/a"


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
    data.supervised = sup_runs.iloc[:-1]
    assert not ch.supervised_law(data, P).current
    path.unlink()
    data.supervised = sup_runs.iloc[:3]
    assert ch.supervised_law(data, P).source == "pending"  # no stored fit and too few runs to fit one


def test_full_trains_every_run_of_the_chapters_design():
    keys = {s.key for s in ds.study_specs()}
    design = ds.study_design()
    assert set(design["key"]) <= keys
    # protocol 1 (both budgets' blocks) compares students at fixed compute, and the pretraining block with
    # supervised runs at equal total compute: neither trains a same-token baseline
    same_token = ~design["block"].isin(["protocol1", "protocol1-decade", "pretraining"])
    assert set(design["baseline_key"][same_token]) <= keys
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
    facts = ch.law_fit_frame(state, fits.SupervisedInside(PAPER_SUPERVISED, "fitted", 40))[""]
    assert facts["fit"] == ch.FIT_SOURCES["stored"] and facts["supervised law of the fit is today's"] == "no"
    assert facts["runs"] == str(len(ds.fit_runs(data.dist)))
    same = ch.distillation_law(data, fits.SupervisedInside(old_sup, "stored", 30), P)
    assert same.source == "stored" and same.supervised_current
    # a stored fit without the interval-growth check says so rather than naming nothing
    assert ch.law_numbers(same, P)["dis_unbounded"] == "not checked"


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
    none = ch.protocol2_optima(
        pd.DataFrame(
            columns=["model", "n_params", "baseline_loss", "teacher_budget", "teacher_n_params", "val_loss"]
        )
    )
    nums = ch.optima_numbers(opt.reset_index(), none)
    assert (nums["dis_p1_profiles"], nums["dis_p1_interior"], nums["dis_p1_larger"]) == (3, 2, 2)
    table = ch.protocol1_optima_frame(opt.reset_index(), {1e12: 1.81})
    assert table.loc["1e12", "profiles"] == 2 and table.loc["1e12", "best student below L*(C)"] == "2"
    assert table.loc["3e12", "best student below L*(C)"] == "n/a"  # no supervised optimum at that budget
    plt.close(ch.fig_protocol_optima(opt.reset_index(), {1e12: 1.81}, none))


def test_protocol2_optima_find_the_best_teacher_and_compare_with_the_baseline():
    rows = [
        {"model": "S", "n_params": 3e4, "baseline_loss": 1.9, "teacher_budget": 1e12, "teacher_n_params": n,
         "val_loss": 1.85 + 0.02 * (math.log(n) - math.log(1e5)) ** 2}
        for n in (3e4, 6e4, 1.2e5, 2.4e5)
    ]  # fmt: skip
    opt = ch.protocol2_optima(pd.DataFrame(rows))
    assert opt["n_star"].iloc[0] == pytest.approx(1e5, rel=1e-6) and pd.isna(opt["edge"].iloc[0])
    nums = ch.optima_numbers(
        ch.protocol1_optima(pd.DataFrame(_isoflop_rows(2e4, 1e12, [1e4, 3e4, 1e5], 3e4))), opt
    )
    assert (
        nums["dis_p2_profiles"],
        nums["dis_p2_interior"],
        nums["dis_p2_smaller"],
        nums["dis_p2_beats"],
    ) == (1, 1, 0, 1)


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
    nums = ch.map_numbers(law, dist)
    assert nums["dis_map_share_weak"] == pytest.approx(50.0)  # 30 of 60 sizes lie below 1e4
    assert (nums["dis_map_runs"], nums["dis_map_agree"]) == (2, 1)
    plt.close(ch.fig_advantage_maps(law, dist))
    assert math.isnan(ch.map_numbers(None, dist)["dis_map_share_weak"])


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
    row = ch.teacher_map_frame(law, p2).loc["S"]
    lt_runs = supervised_loss(p2["teacher_n_params"], p2["teacher_tokens"], PAPER_SUPERVISED)
    expected = int(np.sum((lt_runs < 2.0) == (p2["vs_supervised"] < 0)))
    assert row["runs"] == 3 and row["runs agreeing in sign"] == expected
    share = 100 * np.mean(ch.teacher_map(law, 1e8, 2e9, p2)[2] < 0)  # the default grid
    assert row["distillation ahead (% of the teacher plane)"] == pytest.approx(share)
    plt.close(ch.fig_teacher_maps(law, p2))


def test_pretraining_table_lists_the_designed_pairs_of_the_findings_file():
    found = verdicts.load_findings()
    row = found[found["id"] == "teacher-pretraining-never-wins"].iloc[0]
    table = ch.pretraining_frame(found)
    groups = row["runs"]["designed_groups"]
    assert len(table) == len(groups) == row["runs"]["paired_groups"]
    best = row["runs"]["best_group"]
    mine = table[(table["teacher"] == best["teacher_model"]) & (table["seeds"] == best["seeds"])]
    assert mine["advantage [90%]"].str.startswith(f"{best['advantage']:+.4f}").any()
    empty = ch.pretraining_frame(found[found["id"] != "teacher-pretraining-never-wins"])
    assert empty.empty and "advantage [90%]" in empty.columns
