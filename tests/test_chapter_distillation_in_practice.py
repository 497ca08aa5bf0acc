"""Chapter 'Distillation in practice': the page's numbers, tables and figures from any state of the records.

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


def findings(verdict: str = "reproduced") -> pd.DataFrame:
    """A stand-in for ``data/findings.json``: every claim of the chapter with ``verdict``, and one other."""
    rows = [
        {
            "id": claim,
            "claim": claim,
            "paper": "p",
            "verdict": verdict,
            "effect": 0.01,
            "interval": [0.0, 0.02],
        }
        for claim in ch.FINDINGS
    ]
    rows.append({"id": "capacity-gap", "claim": "c", "paper": "p", "verdict": "refuted", "effect": 1.0})
    return pd.DataFrame(rows)


def plain(nums: dict) -> bool:
    """Glue-ready: plain Python floats, ints and strings (numpy scalars would not format on the page)."""
    return all(type(v) in (float, int, str) for v in nums.values())


def test_nothing_recorded_gives_numbers_and_figures_without_runs(P, tmp_path):
    data = practice_data(P, lambda r: None, tmp_path=tmp_path)
    nums = ch.numbers(data, P, findings())
    assert plain(nums)
    assert nums["prac_runs_done"] == 0 and nums["prac_runs_total"] == data.n_total
    assert (
        np.isnan(nums["prac_noise_sd"]) and np.isnan(nums["prac_topk1_gap"]) and np.isnan(nums["prac_k_ok"])
    )
    assert nums["prac_mix_within"] == 0 and nums["prac_mix_ok_pairs"] == "none"
    assert nums["prac_mix_advice"] == "sweep λ for the pair at hand"
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
    assert ch.ece_summary(data).iloc[:, 2].str.contains("n/a").all()
    assert (ch.comparison_frame(data)["ours"].str.contains("n/a")).all()


def test_paper_like_records_give_the_paper_s_numbers(P, tmp_path):
    data = practice_data(P, paper_like, tmp_path=tmp_path)
    assert data.n_done == data.n_total
    assert data.sd == pytest.approx(0.002)
    best = ch.best_frame(data, "mix").set_index("pair")
    assert (best["best value (ours)"] == 1.0).all() and (best["within noise"] == "yes").all()
    tau = ch.best_frame(data, "temperature")
    assert (tau["best value (ours)"] == 1.0).all()
    nums = ch.numbers(data, P, findings())
    assert plain(nums)
    assert nums["prac_runs_done"] == nums["prac_runs_total"] == data.n_total
    assert nums["prac_noise_sd"] == pytest.approx(0.002) and nums["prac_two_sd"] == pytest.approx(0.004)
    assert nums["prac_topk1_gap"] == pytest.approx(0.2) and nums["prac_kl_gap"] == pytest.approx(0.2)
    assert nums["prac_mix_within"] == nums["prac_tau_within"] == nums["prac_pairs"] == 3
    assert nums["prac_mix_advice"] == "keep λ = 1" and nums["prac_tau_advice"] == "keep τ = 1"
    assert nums["prac_lr_best"] == pytest.approx(0.0215)
    # top-k costs 0.2 / k: k = 64 is the first within 2 sd (0.003 < 0.004); mixing in labels helps at k = 1.
    assert nums["prac_k_ok"] == 64 and nums["prac_k_ok_bytes"] == 64 * 5
    assert nums["prac_k_min"] == 1 and nums["prac_mix_helps"] == "helps"
    assert np.isnan(nums["prac_ece_full_lo"])  # nothing measured
    trunc = ch.truncation_frame(data)
    full = trunc[(trunc["truncation"] == "top-k") & (trunc["setting"] == 256)]
    assert full["gap to full (nats)"].item() == 0.0 and full["bytes / token"].item() == 1024


def test_a_weak_teacher_that_prefers_ground_truth_is_counted(P, tmp_path):
    def loss(r: pr.Row) -> float:
        if r.experiment == "mix" and r.pair == "weak-to-strong":
            return 1.80 + 0.1 * r.value  # the supervised end is best by far
        return paper_like(r)

    data = practice_data(P, loss, tmp_path=tmp_path)
    nums = ch.numbers(data, P, findings())
    assert nums["prac_mix_within"] == 2 and nums["prac_mix_ok_pairs"] == "strong-to-weak, matched"
    assert nums["prac_mix_advice"] == "sweep λ for the pair at hand"
    best = ch.best_frame(data, "mix").set_index("pair")
    assert best.loc["weak-to-strong", "best value (ours)"] == 0.0
    assert best.loc["weak-to-strong", "within noise"] == "no"


def test_verdicts_are_read_from_the_findings(P, tmp_path):
    data = practice_data(P, paper_like, tmp_path=tmp_path)
    nums = ch.numbers(data, P, findings("refuted"))
    assert {nums[f"prac_verdict_{stem}"] for stem in ch.FINDINGS.values()} == {"refuted"}
    assert nums["prac_effect_kl"] == 0.01 and nums["prac_hi_kl"] == 0.02
    assert nums["prac_lr_advice"] == ch.LR_ADVICE["refuted"]
    assert ch.numbers(data, P, findings())["prac_lr_advice"] == ch.LR_ADVICE["reproduced"]
    table = ch.findings_frame(findings())
    assert len(table) == len(ch.FINDINGS) and set(table["verdict"]) == {"reproduced"}
    f = findings()
    missing = ch.numbers(data, P, f[f["id"] != "temperature-1-best"])
    assert missing["prac_verdict_tau"] == "not tested" and np.isnan(missing["prac_effect_tau"])


def test_the_committed_findings_judge_every_claim_of_the_chapter():
    from distill_scaling import verdicts

    table = ch.findings_frame(verdicts.load_findings())
    assert len(table) == len(ch.FINDINGS)


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
    nums = ch.numbers(data, P, findings())
    assert nums["prac_ece_top1_lo"] == pytest.approx(30.0) and nums["prac_ece_full_hi"] == pytest.approx(0.4)
    assert nums["prac_trend_top1_data_first"] == pytest.approx(30.0)
    assert nums["prac_teacher_smallest"] == data.teachers[0].model
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
