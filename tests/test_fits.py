"""Fitted laws (``distill_scaling.fits``): both laws' fits to runs of known laws, their files, the committed
fits, which fit is current (stored / fitted / live / pending), and the ``fit`` command."""

from __future__ import annotations

import filecmp
import json
import math

import numpy as np
import pandas as pd
import pytest

from distill_scaling import cli, fit_files, fits, laws
from distill_scaling import supervised_study as ss

# --- the supervised law -------------------------------------------------------------------------------------

LAW = laws.SupervisedCoefficients(E=1.0, A=50.0, B=500.0, alpha=0.4, beta=0.35, gamma=0.9)


def sup_runs(n: int = 24, rel_noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """``n`` runs of the supervised law :data:`LAW` at random sizes and token counts."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(3e3), np.log(2e6), n))
    D = np.exp(rng.uniform(np.log(5e5), np.log(3e7), n))
    L = laws.supervised_loss(N, D, LAW) * (1 + rel_noise * rng.standard_normal(n))
    return pd.DataFrame({"key": [f"r{i}" for i in range(n)], "n_params": N, "tokens": D, "val_loss": L})


@pytest.fixture(scope="module")
def sup_fit() -> fits.LawFit:
    return fits.fit_study_law("supervised", sup_runs(), n_resamples=8, refine=16)


def test_decade_extrapolation_holds_out_the_top_compute_and_sees_a_planted_bend():
    rng = np.random.default_rng(3)
    low = sup_runs(24, seed=1)  # compute 6ND up to about 4e14
    N = np.exp(rng.uniform(np.log(1e7), np.log(2e7), 4))
    top = pd.DataFrame({"key": [f"t{i}" for i in range(4)], "n_params": N, "tokens": 1e8 * np.ones(4)})
    top["val_loss"] = laws.supervised_loss(top["n_params"], top["tokens"], LAW)
    runs = pd.concat([low, top], ignore_index=True)
    res = fits.fit.fit_supervised(runs["n_params"], runs["tokens"], runs["val_loss"], refine=8)
    exact = fits.decade_extrapolation(res, runs)
    compute = 6 * runs["n_params"] * runs["tokens"]
    assert exact["held_out_keys"] == list(top["key"]) and exact["decades"] >= 1
    assert exact["fit_runs"] == int((compute <= compute[runs["key"].str.startswith("t")].min() / 10).sum())
    assert exact["max_error"] < 0.01  # exact data: the law carries a decade out
    bent = runs.assign(val_loss=np.where(runs["key"].str.startswith("t"), 1.05, 1.0) * runs["val_loss"])
    res = fits.fit.fit_supervised(bent["n_params"], bent["tokens"], bent["val_loss"], refine=8)
    errors = np.asarray(fits.decade_extrapolation(res, bent)["errors"])
    assert errors == pytest.approx(1 / 1.05 - 1, abs=0.01)
    flat = low.assign(tokens=1e13 / (6 * low["n_params"]))  # one compute budget: nothing a decade apart
    assert "skipped" in fits.decade_extrapolation(res, flat)


def test_decade_extrapolation_holds_out_the_top_budget_not_a_lone_larger_run():
    # The design's top IsoFLOP budget is the held-out level: a single run above it (a teacher trained for
    # another claim) joins the held-out runs instead of pushing the whole budget out of them.
    rng = np.random.default_rng(4)
    low = sup_runs(24, seed=1).assign(budget=np.nan)
    N = np.exp(rng.uniform(np.log(1.5e7), np.log(2e7), 4))
    top = pd.DataFrame({"key": [f"t{i}" for i in range(4)], "n_params": N, "tokens": 1e8 * np.ones(4)})
    top["budget"] = 1e16
    lone = pd.DataFrame({"key": ["big"], "n_params": [4e7], "tokens": [3e8], "budget": [np.nan]})
    runs = pd.concat([low, top, lone], ignore_index=True)
    runs["val_loss"] = laws.supervised_loss(runs["n_params"], runs["tokens"], LAW)
    res = fits.fit.fit_supervised(runs["n_params"], runs["tokens"], runs["val_loss"], refine=8)
    by_budget = fits.decade_extrapolation(res, runs, budget=runs["budget"].to_numpy(float))
    assert sorted(by_budget["held_out_keys"]) == ["big", "t0", "t1", "t2", "t3"]
    assert by_budget["held_out_design"] == "top budget"
    by_top_run = fits.decade_extrapolation(res, runs)  # no budgets: the largest run is the reference
    assert by_top_run["held_out_runs"] == 1 and by_top_run["held_out_design"] == "largest run"
    assert "skipped" in by_top_run  # one held-out run is no test
    no_budget = fits.decade_extrapolation(res, runs, budget=np.full(len(runs), np.nan))
    assert no_budget["held_out_runs"] == 1 and no_budget["held_out_design"] == "largest run"
    with pytest.raises(ValueError, match="budget"):
        fits.decade_extrapolation(res, runs, budget=np.ones(3))


def test_holdout_threshold_splits_the_runs():
    losses = np.arange(1.0, 4.0, 0.1)  # 30 runs
    thr = fits.holdout_threshold(losses, 1 / 3)
    assert (losses < thr).sum() == 10 and (losses >= thr).sum() == 20
    with pytest.raises(ss.InsufficientData):
        fits.holdout_threshold([1.0], 1 / 3)


@pytest.mark.slow
def test_the_supervised_fit_recovers_a_known_law_and_extrapolates(sup_fit):
    p = sup_fit.params
    assert sup_fit.law == "supervised" and sup_fit.supervised is None
    assert p.alpha == pytest.approx(LAW.alpha, rel=0.05) and p.beta == pytest.approx(LAW.beta, rel=0.05)
    assert p.E == pytest.approx(LAW.E, rel=0.05)
    e = sup_fit.errors()
    assert e["rms_all"] < 1e-3
    assert e["n_fit_high"] == 16 and e["n_held_out"] == 8 and e["n_lowest"] == 5
    assert e["max_lowest"] < 0.01  # exact data: the high-loss fit carries to the lowest fifth
    pred = sup_fit.predictions()
    assert pred["held_out"].sum() == 8 and (pred.loc[pred["held_out"], "val_loss"] < sup_fit.threshold).all()
    assert pred["lowest"].sum() == 5
    assert set(sup_fit.params.intervals) >= {"E", "alpha", "a", "b"}
    assert sup_fit.provenance["n_runs"] == 24 and sup_fit.provenance["runs_digest"] == sup_fit.digest
    # The interval-growth check ran, and a well-spread design of a known law leaves nothing unbounded.
    assert sup_fit.unbounded == [] and sup_fit.provenance["interval_growth"]["iterations"][-1] == 400


@pytest.mark.slow
def test_the_supervised_fit_round_trips_through_the_fit_file_format(sup_fit, tmp_path):
    path = fits.save_fit(sup_fit, tmp_path / "supervised.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == fit_files.FIT_FORMAT and doc["supervised"]["kind"] == "supervised"
    assert set(doc["samples"]["supervised"]) >= set(laws.SupervisedCoefficients.NAMES) - {"gamma"}
    back = fits.load_fit("supervised", path)
    assert back.params == sup_fit.params and back.high_params == sup_fit.high_params
    assert back.digest == sup_fit.digest and back.threshold == sup_fit.threshold
    assert len(back.samples) == len(sup_fit.samples) == len(back.sample_coefficients())
    assert back.coefficient_table().loc["alpha", "paper"] == laws.PAPER_SUPERVISED.alpha
    with pytest.raises(FileNotFoundError, match="no supervised fit.*fit --law supervised"):
        fits.load_fit("supervised", tmp_path / "missing.json")


def test_the_supervised_fit_needs_six_runs_and_valid_arguments():
    with pytest.raises(ss.InsufficientData, match="6 coefficients"):
        fits.fit_study_law("supervised", sup_runs(5))
    with pytest.raises(ValueError, match="n_resamples"):
        fits.fit_study_law("supervised", sup_runs(8), n_resamples=-1)
    with pytest.raises(ValueError, match="val_loss"):
        fits.fit_study_law("supervised", sup_runs(8).drop(columns="val_loss"))
    with pytest.raises(ValueError, match="'supervised' belongs to the distillation law"):
        fits.fit_study_law("supervised", sup_runs(8), supervised=LAW)
    with pytest.raises(ValueError, match="law must be one of supervised, distillation; got 'chinchilla'"):
        fits.fit_study_law("chinchilla", sup_runs(8))


def test_runs_digest_depends_on_the_runs_not_their_order():
    t = sup_runs(8)
    assert fits.runs_digest(t) == fits.runs_digest(t.iloc[::-1])
    changed = t.copy()
    changed.loc[0, "val_loss"] += 1e-6
    assert fits.runs_digest(changed) != fits.runs_digest(t)


# --- the distillation law -----------------------------------------------------------------------------------

SUP = laws.SupervisedCoefficients(E=1.2, A=30.0, B=300.0, alpha=0.5, beta=0.45, gamma=1.0)
DIST = laws.DistillationCoefficients(
    A=5.0, B=50.0, alpha=0.3, beta=0.3, gamma=1.0, c0=2.0, c1=20.0, f1=0.1, d1=1.0
)
#: Teachers' losses L_T of the synthetic distillation runs, strongest last.
TEACHER_LOSSES = {"tA": 1.80, "tB": 1.70, "tC": 1.62, "tD": 1.55}


def dist_runs(noise: float = 0.002, seed: int = 0) -> pd.DataFrame:
    """Protocol-3-shaped runs of a known distillation law (two students, five budgets, four teachers)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in (3408.0, 25312.0):
        for k in (1, 2, 4, 8, 16):
            for t, lt in TEACHER_LOSSES.items():
                d = k * 24 * n
                ls = float(laws.distillation_loss(n, d, lt, DIST, SUP)) * (1 + noise * rng.standard_normal())
                rows.append({"key": f"{n:.0f}-{k}-{t}", "n_params": n, "tokens": d, "teacher_loss": lt,
                             "val_loss": ls})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def dist_fit() -> fits.LawFit:
    return fits.fit_study_law(
        "distillation", dist_runs(), supervised=SUP, n_resamples=4, refine=8, maxiter=300
    )


def test_the_distillation_fit_describes_runs_of_a_known_law(dist_fit):
    e = dist_fit.errors()
    assert e["n_runs"] == 40 and e["rms_all"] < 0.004  # the runs carry 0.2% noise
    assert dist_fit.threshold is not None and e["n_held_out"] == 8 and e["n_fit_high"] == 32
    assert e["max_held_out"] < 0.03
    assert len(dist_fit.samples) >= 1 and set(dist_fit.params.intervals) >= {"alpha", "d1", "a", "b"}
    table = dist_fit.coefficient_table()
    assert (
        table.loc["c1", "paper"] == laws.PAPER_DISTILLATION.c1
        and table.loc["d1", "ours"] == dist_fit.params.d1
    )
    pred = dist_fit.predictions()
    assert pred["pred_all"].to_numpy() == pytest.approx(
        laws.distillation_loss(pred["n_params"], pred["tokens"], pred["teacher_loss"], dist_fit.params, SUP)
    )


def test_the_distillation_fit_round_trips_and_the_planner_reads_it(dist_fit, tmp_path):
    path = fits.save_fit(dist_fit, tmp_path / "distillation.json")
    back = fits.load_fit("distillation", path)
    assert back.digest == dist_fit.digest == fits.runs_digest(dist_fit.runs, SUP)
    assert back.params == dist_fit.params and back.supervised == SUP and back.threshold == dist_fit.threshold
    assert back.unbounded == dist_fit.unbounded and "interval_growth" in back.provenance
    assert fits.runs_digest(dist_fit.runs, SUP.replace(E=1.3)) != dist_fit.digest
    cs = fit_files.load_coefficient_set(path)
    assert cs.distillation == dist_fit.params and cs.n_samples == len(dist_fit.samples)
    assert json.loads(path.read_text())["bootstrap"]["n_resamples"] == 4


def test_the_distillation_fit_needs_nine_runs_and_valid_arguments():
    runs = dist_runs().iloc[:8]
    with pytest.raises(ss.InsufficientData, match="9 coefficients"):
        fits.fit_study_law("distillation", runs, supervised=SUP, n_resamples=0)
    with pytest.raises(ValueError, match="'n_resamples'"):
        fits.fit_study_law("distillation", dist_runs(), supervised=SUP, n_resamples=-1)
    with pytest.raises(TypeError, match="'supervised'"):
        fits.fit_study_law("distillation", dist_runs(), supervised=laws.PAPER_DISTILLATION)
    with pytest.raises(ValueError, match="teacher_loss"):
        fits.fit_study_law("distillation", dist_runs().drop(columns="teacher_loss"), supervised=SUP)
    with pytest.raises(FileNotFoundError, match="distillation-scaling chapter"):
        fits.load_fit("distillation", "/nonexistent/distillation.json")
    with pytest.raises(ValueError, match="'supervised' is required for the distillation law"):
        fits.LawFit("distillation", DIST, dist_runs(), pd.DataFrame(), 0, math.nan, 0.9, None, None)


def test_write_ours_pairs_the_two_bootstraps_for_the_planner(tmp_path):
    sup_names = list(laws.SupervisedCoefficients.NAMES)
    dist_names = list(laws.DistillationCoefficients.NAMES)
    sup_point, dist_point = laws.as_dict(laws.PAPER_SUPERVISED), laws.as_dict(laws.PAPER_DISTILLATION)
    sup_samples = pd.DataFrame([{k: sup_point[k] * (1 + 0.01 * i) for k in sup_names} for i in range(5)])
    sup_samples.loc[1, "E"] = np.nan  # a refit that did not converge is left out
    dist_samples = pd.DataFrame([{k: dist_point[k] * (1 + 0.01 * i) for k in dist_names} for i in range(3)])
    sup = fits.LawFit(
        "supervised", laws.PAPER_SUPERVISED,
        pd.DataFrame(
            {"key": ["a", "b"], "n_params": [1e4, 1e5], "tokens": [1e6, 1e7], "val_loss": [2.2, 2.0]}
        ),
        sup_samples, 5, 0.8, 0.9, None, None, {"date": "d1", "git_commit": "c1", "n_runs": 2},
    )  # fmt: skip
    runs = pd.DataFrame(
        {"key": ["s"], "n_params": [3e3], "tokens": [6e5], "teacher_loss": [1.9], "val_loss": [2.1]}
    )
    dist = fits.LawFit(
        "distillation", laws.PAPER_DISTILLATION, runs, dist_samples, 3, 1.0, 0.9, None, None,
        {"date": "d2", "git_commit": "c2", "n_runs": 1}, supervised=laws.PAPER_SUPERVISED,
    )  # fmt: skip
    path = fits.write_ours(sup, dist, tmp_path / "fits" / "ours.json")
    loaded = fit_files.load_coefficient_set(path)
    assert loaded.name == "ours" and loaded.n_samples == 3  # 4 converged supervised, 3 distillation
    assert loaded.supervised_samples[1].E == pytest.approx(sup_point["E"] * 1.02)  # the NaN row is skipped
    assert loaded.distillation_samples[2].c0 == pytest.approx(dist_point["c0"] * 1.02)
    assert "N_S 3e+03 to 3e+03" in loaded.description and "extrapolate" in loaded.description
    doc = json.loads(path.read_text())
    assert doc["provenance"]["distillation"]["git_commit"] == "c2"
    assert doc["provenance"]["ranges"]["supervised"]["n_params"] == [1e4, 1e5]
    # update_ours writes it only when the distillation fit holds the stored supervised law fixed.
    sup_path = fits.save_fit(sup, tmp_path / "fits" / "supervised.json")
    assert fits.update_ours(dist, sup_path, tmp_path / "ours2.json").startswith("stored ")
    other = fits.LawFit(**{**dist.__dict__, "supervised": laws.PAPER_SUPERVISED.replace(E=9.0)})
    assert "different supervised law" in fits.update_ours(other, sup_path, tmp_path / "ours3.json")
    assert "no stored supervised fit" in fits.update_ours(dist, tmp_path / "none.json", tmp_path / "o.json")
    assert not (tmp_path / "ours3.json").exists()


# --- the committed fits -------------------------------------------------------------------------------------


def test_the_committed_fits_load_and_round_trip_byte_for_byte(tmp_path):
    """The stored fits and ours.json load with this code and, written again, are the same files: the
    format and the numbers the book reads from them do not change."""
    loaded = {law: fits.load_fit(law) for law in fits.LAWS}
    for law, f in loaded.items():
        assert f.law == law and f.digest == f.provenance["runs_digest"]
        assert len(f.sample_coefficients()) == len(f.samples) > 0
        path = fits.save_fit(f, tmp_path / f"{law}.json")
        assert filecmp.cmp(path, fit_files.fit_path(law), shallow=False), law
    ours = fits.write_ours(loaded["supervised"], loaded["distillation"], tmp_path / "ours.json")
    assert filecmp.cmp(ours, fit_files.fit_path("ours"), shallow=False)
    assert loaded["distillation"].supervised == loaded["supervised"].params


# --- which fit is current -----------------------------------------------------------------------------------


@pytest.fixture
def fake_fitter(monkeypatch):
    """Replace the fitter by a stub that records its calls: the state machine is about which fit, not how."""
    calls: list[dict] = []

    def fake(law, runs_table, *, supervised=None, n_resamples, level, refine, maxiter, **_):
        calls.append({"law": law, "n_resamples": n_resamples, "n_runs": len(runs_table)})
        spec = fits.LAWS[law]
        t = runs_table[list(spec.columns)].reset_index(drop=True)
        params = laws.PAPER_SUPERVISED if law == "supervised" else laws.PAPER_DISTILLATION
        prov = {"runs_digest": fits.runs_digest(t, supervised)}
        return fits.LawFit(law, params, t, pd.DataFrame(), n_resamples, math.nan, level, None, None, prov,
                           supervised)  # fmt: skip

    monkeypatch.setattr(fits, "fit_study_law", fake)
    return calls


def test_current_fit_is_pending_then_fitted_stored_live_and_refit(fake_fitter, tmp_path):
    path = tmp_path / "fits" / "supervised.json"
    kw = {"n_resamples": 16, "live_resamples": 2}
    pending = fits.current_fit("supervised", sup_runs(5), path, write=True, **kw)
    assert pending.source == "pending" and pending.fit is None and "6 coefficients" in pending.reason
    live = fits.current_fit("supervised", sup_runs(8), path, write=False, **kw)
    assert (live.source, live.stored_runs, fake_fitter[-1]["n_resamples"]) == ("live", None, 2)
    assert not path.exists()  # a live fit is not stored
    fitted = fits.current_fit("supervised", sup_runs(8), path, write=True, **kw)
    assert (fitted.source, fake_fitter[-1]["n_resamples"]) == ("fitted", 16) and path.is_file()
    n_calls = len(fake_fitter)
    for write in (False, True):
        stored = fits.current_fit("supervised", sup_runs(8), path, write=write, **kw)
        assert stored.source == "stored" and stored.fit.digest == fitted.fit.digest
    assert len(fake_fitter) == n_calls  # a stored fit of exactly these runs is read, not refitted
    # Other runs: a live fit while reading, saying how many runs the stored one had.
    other = fits.current_fit("supervised", sup_runs(9), path, write=False, **kw)
    assert (other.source, other.stored_runs) == ("live", 8)
    # More resamples asked than stored, or --refit: fitted again.
    more = fits.current_fit("supervised", sup_runs(8), path, write=True, n_resamples=32, live_resamples=2)
    assert more.source == "fitted" and fake_fitter[-1]["n_resamples"] == 32
    again = fits.current_fit("supervised", sup_runs(8), path, write=True, refit=True, **kw)
    assert again.source == "fitted" and fake_fitter[-1]["n_resamples"] == 16


def test_a_stored_distillation_fit_with_another_supervised_law_is_read_not_stored_over(fake_fitter, tmp_path):
    path = tmp_path / "distillation.json"
    kw = {"n_resamples": 4, "live_resamples": 2}
    none = fits.current_fit("distillation", dist_runs(), path, write=True, **kw)
    assert none.source == "pending" and "supervised law inside it" in none.reason
    few = fits.current_fit("distillation", dist_runs().iloc[:8], path, write=True, supervised=SUP, **kw)
    assert few.source == "pending" and "9 coefficients" in few.reason
    fitted = fits.current_fit(
        "distillation", dist_runs(), path, write=True, supervised=SUP, provenance={"supervised": "note"}, **kw
    )
    assert (
        fitted.source == "fitted" and fits.load_fit("distillation", path).provenance["supervised"] == "note"
    )
    newer = SUP.replace(E=1.3)
    read = fits.current_fit("distillation", dist_runs(), path, write=False, supervised=newer, **kw)
    assert read.source == "stored" and not read.supervised_current and read.fit.supervised == SUP
    same = fits.current_fit("distillation", dist_runs(), path, write=False, supervised=SUP, **kw)
    assert same.source == "stored" and same.supervised_current
    refreshed = fits.current_fit("distillation", dist_runs(), path, write=True, supervised=newer, **kw)
    assert refreshed.source == "fitted" and fits.load_fit("distillation", path).supervised == newer


def test_the_supervised_law_inside_comes_from_the_stored_fit(fake_fitter, tmp_path):
    runs = sup_runs(8)
    assert fits.supervised_inside(runs.iloc[:5], tmp_path / "none.json").source == "pending"
    made = fits.supervised_inside(runs, None)
    assert (made.source, made.n_runs, fake_fitter[-1]["n_resamples"]) == ("fitted", 8, 0)
    assert made.note == "fitted to the 8 supervised runs recorded then"
    path = fits.current_fit(
        "supervised", runs, tmp_path / "s.json", n_resamples=0, live_resamples=0, write=True
    )
    stored = fits.supervised_inside(runs, tmp_path / "s.json")
    assert (stored.source, stored.current, stored.coef) == ("stored", True, path.fit.params)
    assert stored.note == "the stored supervised fit of 8 runs"
    assert not fits.supervised_inside(runs.iloc[:7], tmp_path / "s.json").current


# --- the fit command ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "argument --law is required; allowed: supervised, distillation"),
        (["--law", "chinchilla"], "argument --law: invalid choice: 'chinchilla' (choose from"),
        (["--law", "supervised", "--profile", "smoke"], "argument --profile: invalid choice: 'smoke'"),
        (["--law", "supervised", "--n-resamples", "-1"], "'n_resamples' = -1 is out of range; allowed: int"),
        (["--law", "supervised", "--n-resamples", "many"], "'n_resamples' must be int, got str 'many'"),
        (
            ["--law", "distillation", "--workers", "0"],
            "'workers' = 0 is out of range; allowed: int in [1, 64]",
        ),
        (["--law", "supervised", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_the_fit_command_reports_bad_input_in_one_line(argv, message, capsys):
    assert cli.main(["fit", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_the_fit_command_stores_nothing_without_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DS_DATA_DIR", str(tmp_path))
    assert cli.main(["fit", "--law", "supervised"]) == 0
    out = capsys.readouterr().out
    assert "0 of" in out and "nothing stored: 0 supervised run(s) recorded; the law has 6 coefficients" in out
    assert cli.main(["fit", "--law", "distillation"]) == 0
    out = capsys.readouterr().out
    assert "the supervised law inside: pending" in out
    assert "nothing stored: the supervised law inside it is not fitted yet" in out
    assert not (tmp_path / "fits").exists()
