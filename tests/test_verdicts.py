"""The verdict table: verdicts that follow planted effects in the committed records (so a verdict cannot be
right by construction), and the findings file (the statistics behind them: test_comparisons.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from distill_scaling import comparisons, store, verdicts
from distill_scaling import study as study_mod

# --- planted effects in the committed records ---------------------------------------------------------------


@pytest.fixture(scope="module")
def study():
    rec = comparisons.study_records(store.load_records())
    return rec, comparisons.seed_noise(rec)


def _shift(rec: pd.DataFrame, mask: pd.Series, by: float) -> pd.DataFrame:
    out = rec.copy()
    out.loc[mask, "val_loss"] += by
    return out


@pytest.mark.parametrize(("shift", "verdict"), [(+0.05, "reproduced"), (-0.05, "refuted")])
def test_capacity_gap_follows_a_planted_gap(study, shift, verdict):
    rec, noise = study
    base = verdicts.capacity_gap(rec, noise)
    assert base.n_runs >= 2 and base.verdict in comparisons.VERDICTS
    model = base.extra["strongest_teacher"]
    teacher = study_mod.supervised(model, study_mod.capped_tokens(model, study_mod.protocol_m(), "teacher"))
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


@pytest.mark.parametrize(("k", "verdict"), [(0.5, "reproduced"), (-1.5, "refuted")])
def test_threshold_claim_follows_a_planted_size_trend(study, k, verdict):
    rec, noise = study
    base = verdicts.threshold_grows(rec, noise)
    assert base.extra["crossovers_used"] >= 4
    assert base.effect == pytest.approx(base.extra["token_slope"] + 1)  # compute 6 N D_x: one decade more
    # Shift each student's advantage line so that its crossover moves k decades of tokens per decade of
    # student size: the slope of the crossovers must follow (up to the re-weighting of the moved points).
    planted = rec.copy()
    for c in base.extra["crossovers"]:
        mask = (rec["model"] == c["student"]) & (rec["teacher"] == c["teacher"])
        planted.loc[mask, "val_loss"] -= abs(c["slope_per_decade"]) * k * (np.log10(c["n_params"]) - 5)
    moved = verdicts.threshold_grows(planted, noise)
    assert moved.effect == pytest.approx(base.effect + k, abs=0.15)
    assert moved.verdict == verdict


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
        assert r["verdict"] in comparisons.VERDICTS
        if r["verdict"] == "not tested":
            assert r["reason"], r["id"]
        else:
            lo, hi = r["interval"]
            assert lo <= r["effect"] <= hi or r["id"] == "teacher-pretraining-never-wins"
    for r in rows:
        if r["id"].endswith("-extrapolation"):
            assert 0 <= r["mean_error"] <= r["max_error"] < 1


def test_runs_with_pretraining_counted_follow_a_planted_gain(study):
    rec, _ = study
    base = verdicts.runs_with_pretraining_counted(rec)
    assert base["compared"] >= 10 and "best_group" in base
    gained = verdicts.runs_with_pretraining_counted(_shift(rec, rec["teacher"].notna(), -0.1))
    assert gained["compared"] == base["compared"] and gained["ahead"] > base["ahead"]
    assert gained["best_group"]["advantage"] == pytest.approx(base["best_group"]["advantage"] + 0.1)


@pytest.mark.parametrize(("shift", "verdict"), [(-0.1, "refuted"), (+0.1, "reproduced")])
def test_teacher_pretraining_claim_is_judged_on_the_runs(study, shift, verdict):
    rec, noise = study
    moved = verdicts.teacher_pretraining_never_wins(_shift(rec, rec["teacher"].notna(), shift), noise)
    assert moved.extra["judged_on"] == "runs" and moved.verdict == verdict
    assert "effect" in moved.extra["law"]  # the law's answer stays beside the runs'


def _with_twins(rec: pd.DataFrame, advantage: float, seeds=(0, 1, 2, 3)) -> pd.DataFrame:
    """The study's records without the pretraining block's supervised twins, plus planted ones (teacher
    training counted) of the L1 students of the L3 fixed-M* teacher at 16 M*, ``advantage`` nats worse than
    each student (plus jitter): the planted group is the only one paired by design, whatever the records."""
    designed = {study_mod.equal_compute_supervised(s).key for s in study_mod.pretraining_block() if s.teacher}
    rec = rec[~rec["key"].isin(designed)]
    teacher = study_mod.supervised(
        "L3-d48", study_mod.capped_tokens("L3-d48", study_mod.protocol_m(), "teacher")
    )
    d = int(16 * study_mod.protocol_m() * study_mod.model_config("L1-d16").n_params)
    twins = []
    for seed, jitter in zip(seeds, (0.004, -0.003, 0.001, -0.002), strict=False):
        spec = study_mod.distill("L1-d16", d, teacher, seed=seed)
        student = rec[rec["key"] == spec.key].iloc[0]
        twin = study_mod.equal_compute_supervised(spec)
        row = student.copy()
        row["key"], row["teacher"], row["tokens"] = twin.key, None, twin.tokens
        row["val_loss"] = student["val_loss"] + advantage + jitter
        twins.append(row)
    return pd.concat([rec, pd.DataFrame(twins)], ignore_index=True) if twins else rec


@pytest.mark.parametrize(("advantage", "verdict"), [(+0.05, "refuted"), (-0.05, "reproduced")])
def test_pretraining_claim_is_judged_on_the_designed_pairs(study, advantage, verdict):
    """Supervised twins at the same total compute and seed make a paired group that judges the claim, even
    where an interpolated group of one seed has a larger mean."""
    rec, noise = study
    planted = _with_twins(rec, advantage)
    runs = verdicts.runs_with_pretraining_counted(planted, noise)
    best = runs["best_group"]
    assert runs["paired_groups"] >= 1 and best["paired"] and best["seeds"] == 4
    assert (best["student"], best["teacher_model"]) == ("L1-d16", "L3-d48")
    assert best["advantage"] == pytest.approx(advantage, abs=0.001)
    diffs = [advantage + j for j in (0.004, -0.003, 0.001, -0.002)]
    assert best["interval"] == pytest.approx(list(comparisons.paired(diffs).interval), abs=1e-9)
    found = verdicts.teacher_pretraining_never_wins(planted, noise)
    assert found.verdict == verdict
    (group,) = found.extra["runs"]["designed_groups"]  # the planted group, with the laws' number beside it
    assert group["seeds"] == 4 and group["predicted"] == pytest.approx(found.predicted)
    # beside it, what our laws predict for the same student, tokens and teacher (the teacher's measured loss)
    cs = verdicts.fit_files.load_coefficient_set("ours")
    assert found.predicted == pytest.approx(verdicts.law_advantage_at(best, cs)) and np.isfinite(
        found.predicted
    )
    n = study_mod.model_config("L1-d16").n_params
    expected = verdicts.laws.supervised_loss(n, best["equal_compute_tokens"], cs.supervised) - (
        verdicts.laws.distillation_loss(
            n, best["student_tokens"], best["teacher_loss"], cs.distillation, cs.supervised
        )
    )
    assert found.predicted == pytest.approx(float(expected))


def test_a_lone_equal_compute_twin_does_not_make_a_designed_group(study):
    rec, noise = study
    base = verdicts.runs_with_pretraining_counted(_with_twins(rec, +0.5, seeds=()), noise)
    runs = verdicts.runs_with_pretraining_counted(_with_twins(rec, +0.5, seeds=(0,)), noise)
    assert runs["paired"] == base["paired"] + 1 and runs["paired_groups"] == base["paired_groups"]
    assert runs["best_group"]["teacher_model"] != "L3-d48" or not runs["best_group"]["paired"]


@pytest.mark.parametrize(
    ("predicted", "place"),
    [(0.0096, "above"), (-0.003, "below"), (0.001, "inside"), (0.0027, "inside"), (None, "n/a")],
)
def test_finding_numbers_place_the_laws_prediction_against_the_measured_interval(predicted, place):
    """A prediction beyond the interval is one the runs rule out; the pages say where it lies."""
    row = {"verdict": "not resolved at our scale", "effect": 0.0005, "interval": [-0.0017, 0.0027],
           "resolution": 0.0022, "predicted": predicted}  # fmt: skip
    assert verdicts.finding_numbers(row)["predicted_place"] == place
    assert verdicts.finding_numbers(None)["predicted_place"] == "n/a"
