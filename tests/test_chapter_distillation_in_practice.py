"""Chapter 'Distillation in practice': the page builds and says what is pending from any state of the records.

Synthetic records stand in for the trained runs (the designs are tested in ``test_practice.py``; the
notebook's smoke run is in ``test_notebooks.py``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from distill_scaling import practice as pr
from distill_scaling.chapters import distillation_in_practice as ch
from distill_scaling.notebook import chapter_params
from distill_scaling.params import ParameterError, Params, validate


@pytest.fixture(scope="module")
def P() -> Params:
    return Params(validate(chapter_params(ch.CHAPTER), {"profile": "default"}))


def practice_data(P: Params, loss_of, calibration: dict | None = None, tmp_path=None) -> ch.PracticeData:
    """PracticeData of the default design whose recorded runs have ``loss_of(row)`` (None: not recorded)."""
    pairs, teachers = ch.pairs_and_teachers(P)
    rows = ch.rows_for(P)
    rec: dict[str, float] = {}
    for r in rows:
        v = loss_of(r)
        if v is not None:
            rec.setdefault(r.spec.key, v)
    records = pd.DataFrame(
        {
            "key": list(rec),
            "val_loss": list(rec.values()),
            "val_kl": 0.1,
            "teacher_val_loss": 1.7,
            "wall_time_s": 30.0,
            "train_time_s": 20.0,
            "flops_total": 1e11,
            "steps": 500,
        }
    ).set_index("key", drop=False)
    res = pr.results(rows, records)
    cal = calibration or {"bins": 21, "models": {}, "top_p_sizes": {}}
    return ch.PracticeData(rows, res, pr.noise_sd(res), pairs, teachers, cal, records, tmp_path)


def paper_like(r: pr.Row) -> float:
    """Losses that behave as the paper says: flat in lambda near 1, tau = 1 best, truncation costs."""
    base = 1.92
    noise = {0: 0.0, 1: 0.002, 2: -0.002}[r.spec.seed]
    if r.experiment == "mix":
        return base + 0.1 * (1 - r.value) ** 2 + (0.08 if r.value == 0 else 0.0)
    if r.experiment == "temperature":
        return base + 0.05 * np.log(r.value) ** 2
    if r.experiment == "lr":
        return base + 0.02 * np.log10(r.value / 0.0215) ** 2
    if r.experiment in ("top_k", "top_k_mix"):
        k = r.value
        return (
            base + (0.0 if k >= 256 else 0.2 / k) - (0.01 if r.experiment == "top_k_mix" and k < 256 else 0)
        )
    if r.experiment == "top_p":
        return base + 0.1 * (1 - r.value)
    if r.experiment == "kl":
        return base + 0.2 * r.value
    return base + noise


def test_nothing_recorded_gives_a_page_of_pending_statements(P, tmp_path):
    data = practice_data(P, lambda r: None, tmp_path=tmp_path)
    nums = ch.numbers(data, P)
    assert all(isinstance(v, str) for v in nums.values())
    assert nums["prac_progress"].startswith(f"0 of the {data.n_total} runs")
    assert nums["prac_noise_sd"] == "pending" and nums["prac_topk1_gap"] == "pending"
    assert nums["prac_rec_mix"].startswith("Pending") and nums["prac_rec_cal"].startswith("Pending")
    assert set(ch.verdicts(data)["agree?"]) == {"pending"}
    for fig in (
        ch.fig_mix(data),
        ch.fig_temperature(data),
        ch.fig_lr(data, 0.0215),
        ch.fig_truncation(data),
        ch.fig_teacher_calibration(data),
        ch.fig_student_calibration(data),
        ch.fig_temperature_calibration(data),
    ):
        assert fig.axes
        plt.close(fig)
    assert ch.ece_summary(data).iloc[:, 2].str.contains("pending").all()


def test_paper_like_records_give_agreeing_verdicts(P, tmp_path):
    data = practice_data(P, paper_like, tmp_path=tmp_path)
    assert data.n_done == data.n_total
    assert data.sd == pytest.approx(0.002)
    best = ch.best_frame(data, "mix").set_index("pair")
    assert (best["best value (ours)"] == 1.0).all()
    tau = ch.best_frame(data, "temperature")
    assert (tau["best value (ours)"] == 1.0).all()
    v = ch.verdicts(data).set_index("experiment")["agree?"]
    assert v["mixing λ (Fig. 51)"] == "yes" and v["temperature τ (Fig. 52)"] == "yes"
    assert v["top-k (Fig. 54)"] == "yes" and v["KL direction (Table 7)"] == "yes"
    assert v["learning rate (Fig. 53)"] == "yes"
    assert v["calibration (Figs. 42-43)"] == "pending"  # nothing measured
    nums = ch.numbers(data, P)
    assert nums["prac_topk1_gap"] == "+0.200" and nums["prac_kl_gap"] == "+0.200"
    assert nums["prac_rec_mix"].startswith("Use pure distillation") and nums["prac_rec_kl"].startswith(
        "Use the forward"
    )
    trunc = ch.truncation_frame(data)
    full = trunc[(trunc["truncation"] == "top-k") & (trunc["setting"] == 256)]
    assert full["gap to full (nats)"].item() == 0.0 and full["bytes / token"].item() == 1024


def test_a_weak_teacher_that_prefers_ground_truth_is_reported(P, tmp_path):
    def loss(r: pr.Row) -> float:
        if r.experiment == "mix" and r.pair == "weak-to-strong":
            return 1.80 + 0.1 * r.value  # the supervised end is best by far
        return paper_like(r)

    data = practice_data(P, loss, tmp_path=tmp_path)
    v = ch.verdicts(data).set_index("experiment")["agree?"]
    assert v["mixing λ (Fig. 51)"] == "partly (2 of 3 pairs)"
    rec = ch.recommendations(data)["prac_rec_mix"]
    assert rec.startswith("Use λ = 1 where it was within noise of the best (strong-to-weak, matched)")
    assert "weak-to-strong: λ = 0 was" in rec


def test_calibration_tables_read_the_stored_measurements(P, tmp_path):
    data0 = practice_data(P, paper_like, tmp_path=tmp_path)
    models = {}
    stat = lambda e: {"ece": e, "conf": [0.5] * 21, "acc": [0.5] * 21, "count": [1] * 21}  # noqa: E731
    for t in data0.teachers:
        models[t.key] = {"role": "teacher", "data": stat(0.005)}
    for r in data0.rows:
        if r.experiment == "calibration":
            e = 0.30 if r.value == 1.0 else 0.004
            models[r.spec.key] = {"role": "student", **{k: stat(e) for k in ch.TARGETS}}
    data = practice_data(P, paper_like, {"bins": 21, "models": models, "top_p_sizes": {}}, tmp_path)
    table = ch.ece_summary(data)
    assert table.iloc[0, 2] == ", ".join(["0.5"] * len(data.teachers))
    v = ch.verdicts(data).set_index("experiment")["agree?"]
    assert v["calibration (Figs. 42-43)"] == "yes"
    assert ch.numbers(data, P)["prac_ece_top1_data"] == "30.0-30.0%"
    assert ch.recommendations(data)["prac_rec_cal"].startswith("Distil from the teacher's full distribution")
    fig = ch.fig_student_calibration(data, "teacher_dist")
    assert len(fig.axes) == 2 * len(data.teachers)
    plt.close(fig)


@pytest.mark.parametrize(
    ("name", "value"), [("top_ps", [0.0]), ("mixes", [1.5]), ("calibration_bins", 1), ("workers", 0)]
)
def test_bad_parameters_are_named(name, value):
    with pytest.raises(ParameterError, match=name):
        validate(chapter_params(ch.CHAPTER), {"profile": "default", name: value})


def test_default_profile_reads_the_committed_store_and_trains_nothing(P, monkeypatch):
    from distill_scaling import paths

    P = Params(P)
    P.profile, P.runs_dir = "default", paths.runs_dir()

    def no_training(*args, **kwargs):
        raise AssertionError("the default profile must not train")

    monkeypatch.setattr(ch, "train_missing", no_training)
    monkeypatch.setattr(ch, "measure_calibration", no_training)
    data = ch.load(P)
    assert data.n_total == len({r.spec.key for r in data.rows})


def test_cost_verdicts_compare_magnitudes():
    assert ch._magnitude(0.2, 0.11, 0.002) == "yes"
    assert ch._magnitude(1.7, 0.11, 0.002).startswith("direction only (15.5x")
    assert ch._magnitude(0.003, 0.11, 0.002) == "no"
    assert ch._magnitude(float("nan"), 0.11, 0.002) == "pending"
    assert ch._share([True, True, True]) == "yes" and ch._share([False] * 3) == "no"
    assert ch._share([True, None, True]) == "pending"
