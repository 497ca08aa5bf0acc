"""Distillation records -> joined runs, capacity gap and comparisons against the per-size seed noise, on
synthetic records whose answers are known by construction (the law fit is tested in ``test_fits.py``, the
verdicts in ``test_verdicts.py``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from distill_scaling import distillation_study as ds
from distill_scaling import store, study

#: One run's seed noise in the synthetic scenarios, the same for every size and kind: a difference of two
#: single runs is beyond the noise past 2 * sqrt(2) * 0.0057, about 0.016 nats.
SD = 0.0057
NOISE = pd.DataFrame(
    [
        {"model": m, "n_params": n, "kind": kind, "sd": SD, "dof": 4, "configs": 2}
        for m, n in (("L1-d16", 3408), ("L2-d32", 25312), ("L3-d48", 83376), ("L4-d64", 201408),
                     ("L5-d80", 388240))
        for kind in ("supervised", "distilled")
    ]
)  # fmt: skip
RES = ds.Resolution(NOISE)

#: Synthetic teachers: key -> (model, N_T, L_T), strongest last.
TEACHERS = {
    "tA": ("L2-d32", 2.5e4, 1.80),
    "tB": ("L3-d48", 8.3e4, 1.70),
    "tC": ("L4-d64", 2.0e5, 1.62),
    "tD": ("L5-d80", 3.9e5, 1.55),
}


def scenario(
    rows: list[dict], block: str = "protocol3", teachers: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(design, records) from rows ``{student, n_s, tokens, teacher, l_s, l_sup, kl}``: the design lists every
    row, the records hold each run, its teacher and its baseline (``l_sup`` None: no baseline record)."""
    teachers = TEACHERS if teachers is None else teachers
    design, recs, seen = [], [], set()
    for i, r in enumerate(rows):
        model, n_t, l_t = teachers[r["teacher"]]
        key, base = f"{block}-{i}", f"base-{r['student']}-{r['tokens']:.0f}"
        design.append(
            {
                "block": r.get("block", block), "key": key, "model": r["student"], "n_params": r["n_s"],
                "tokens": r["tokens"], "tokens_requested": r["tokens"], "seed": r.get("seed", 0),
                "teacher": r["teacher"],
                "teacher_model": model, "teacher_n_params": n_t, "teacher_tokens": 24 * n_t,
                "teacher_flops": 1e12, "teacher_budget": r.get("teacher_budget", math.nan),
                "multiple": r["tokens"] / (24 * r["n_s"]), "student_flops": 1e11,
                "student_budget": math.nan, "flops": 1.2e11, "mix": 1.0, "temperature": 1.0, "kl": "forward",
                "baseline_key": base,
            }
        )  # fmt: skip
        recs.append(
            {"key": key, "model": r["student"], "teacher": r["teacher"], "val_loss": r["l_s"],
             "val_kl": r.get("kl", 0.1), "teacher_val_loss": l_t, "split": "student"}
        )  # fmt: skip
        if r.get("l_sup") is not None and base not in seen:
            recs.append({"key": base, "model": r["student"], "teacher": None, "val_loss": r["l_sup"]})
            seen.add(base)
    for key, (model, _, l_t) in teachers.items():
        recs.append({"key": key, "model": model, "teacher": None, "val_loss": l_t, "split": "teacher"})
    design = pd.DataFrame(design, columns=list(ds.DESIGN_COLUMNS))
    return design, pd.DataFrame(recs).set_index("key", drop=False)


def u_shaped(strongest_rise: float = 0.06) -> list[dict]:
    """One student budget whose loss is lowest with teacher tB and rises for stronger teachers."""
    l_opt = TEACHERS["tB"][2]
    k = strongest_rise / (TEACHERS["tD"][2] - l_opt) ** 2
    return [
        {"student": "L1-d16", "n_s": 3408.0, "tokens": 6.5e5, "teacher": t,
         "l_s": 1.95 + k * (lt - l_opt) ** 2, "l_sup": 2.0, "kl": 0.1 + (1.8 - lt)}
        for t, (_, _, lt) in TEACHERS.items()
    ]  # fmt: skip


# --- designs and the join -----------------------------------------------------------------------------------


def test_design_table_describes_real_specs_and_their_baselines():
    t = study.supervised("L3-d48", 200_000)
    s = study.distill("L2-d32", int(2 * 24 * 25312), t)
    d = ds.design_table([s], "protocol3", m_star=24.0, teachers={t.key: t})
    row = d.iloc[0]
    assert list(d.columns) == list(ds.DESIGN_COLUMNS)
    assert row["multiple"] == pytest.approx(2.0, rel=1e-4)
    assert row["teacher_model"] == "L3-d48" and row["teacher_n_params"] == t.config.n_params
    assert row["baseline_key"] == study.baseline_of(s).key != s.key
    assert study.baseline_of(s).teacher is None and study.baseline_of(s).split == "student"
    assert row["flops"] > row["student_flops"] > 0  # the teacher's logits cost too
    with pytest.raises(ValueError, match="supervised"):
        ds.design_table([t], "protocol3", m_star=24.0)
    with pytest.raises(ValueError, match="'m_star'"):
        ds.design_table([s], "protocol3", m_star=0.0, teachers={t.key: t})


def test_the_study_design_has_every_protocol_and_the_study_baselines():
    d = ds.study_design()
    assert set(d["block"]) == set(ds.DISTILL_BLOCKS)
    p32 = d[d["block"].isin(["protocol3", "protocol2"])]
    assert set(p32["baseline_key"]) == {s.key for s in study.baseline_block()}
    assert d.loc[d["block"] == "protocol2", "teacher_budget"].notna().all()
    assert d.loc[d["block"] == "protocol1", "student_budget"].notna().all()
    assert (d.loc[d["block"] == "protocol3", "mix"] == 1.0).all()
    with pytest.raises(ValueError, match="unknown study block"):
        ds.study_design(["protocol9"])


def test_distillation_runs_join_teacher_and_baseline():
    rows = u_shaped()
    rows[0]["l_sup"] = None  # this student's baseline is recorded through its siblings (same key)
    rows.append(
        {"student": "L2-d32", "n_s": 25312.0, "tokens": 1e6, "teacher": "tA", "l_s": 1.9, "l_sup": None}
    )
    design, rec = scenario(rows)
    unrecorded = design.iloc[[0]].assign(key="never-run")
    dist = ds.distillation_runs(rec, pd.concat([design, unrecorded], ignore_index=True))
    assert len(dist) == len(rows) and "never-run" not in set(dist["key"])
    r = dist.set_index("key").loc["protocol3-3"]
    assert r["teacher_loss"] == TEACHERS["tD"][2] and r["baseline_loss"] == 2.0
    assert r["vs_teacher"] == pytest.approx(r["val_loss"] - r["teacher_loss"])
    assert r["vs_supervised"] == pytest.approx(r["val_loss"] - 2.0)
    assert math.isnan(dist.set_index("key").loc["protocol3-4", "baseline_loss"])
    assert ds.teacher_agreement(dist) == {"n": len(rows), "max_abs": 0.0}
    assert ds.distillation_runs(rec.iloc[:0], design).empty
    assert list(ds.distillation_runs(None, design).columns) == list(ds.RUN_COLUMNS)
    with pytest.raises(ValueError, match="val_loss"):
        ds.distillation_runs(rec.drop(columns="val_loss"), design)


# --- the seed noise per size --------------------------------------------------------------------------------


def test_resolution_uses_the_noise_of_each_size_and_kind():
    res = ds.Resolution(NOISE.assign(sd=np.where(NOISE["model"] == "L1-d16", 0.01, 0.002)), factor=2.0)
    assert res.sd("L1-d16", "distilled") == 0.01 and res.sd("L2-d32", "supervised") == 0.002
    assert res.sd("L6-d96", "distilled") == 0.002  # never repeated: the nearest repeated size
    assert res.threshold(0.01, 0.002) == pytest.approx(2 * math.hypot(0.01, 0.002))
    assert res.threshold(0.01, 0.01, 4, 4) == pytest.approx(2 * 0.01 * math.sqrt(0.5))
    out = ds.classify([-0.05, 0.0, 0.05, np.nan], 0.02, lower="below", higher="above")
    assert list(out) == ["below", "within noise", "above", "not judged"]
    unmeasured = ds.Resolution(pd.DataFrame(columns=NOISE.columns))
    assert not unmeasured.measured and math.isnan(unmeasured.sd("L1-d16", "distilled"))
    assert list(ds.classify([1.0], unmeasured.threshold(math.nan, math.nan), lower="a", higher="b")) == [
        "not judged"
    ]


# --- protocol 3 ---------------------------------------------------------------------------------------------


def test_capacity_gap_finds_the_best_teacher_and_a_resolved_rise():
    design, rec = scenario(u_shaped(0.06))
    gap = ds.capacity_gap(ds.distillation_runs(rec, design), RES)
    r = gap.iloc[0]
    assert r["best_teacher"] == "L3-d48" and r["strongest_teacher"] == "L5-d80"
    assert r["rise"] == pytest.approx(0.06) and r["gap"] == "beyond noise"
    assert r["threshold"] == pytest.approx(2 * math.sqrt(2) * SD)
    assert r["kl_rank"] == pytest.approx(-1.0)  # KL rises with every stronger teacher
    design, rec = scenario(u_shaped(0.005))
    assert ds.capacity_gap(ds.distillation_runs(rec, design), RES).iloc[0]["gap"] == "within noise"


def test_no_capacity_gap_when_the_strongest_teacher_is_best():
    rows = [dict(r, l_s=1.9 + 0.5 * (TEACHERS[r["teacher"]][2] - 1.5)) for r in u_shaped()]
    design, rec = scenario(rows)
    dist = ds.distillation_runs(rec, design)
    assert ds.capacity_gap(dist, RES).iloc[0]["gap"] == "none"


def crossing_rows(start: float = -0.05, end: float = 0.05, teacher: str = "tB") -> list[dict]:
    """One student-teacher pair over five token budgets: distillation's advantage goes from ``start`` to
    ``end`` nats while the baseline falls with tokens."""
    out = []
    for i, k in enumerate((1, 2, 4, 8, 16)):
        sup = 2.2 - 0.05 * i
        out.append(
            {"student": "L2-d32", "n_s": 25312.0, "tokens": k * 24 * 25312.0, "teacher": teacher,
             "l_s": sup + start + (end - start) * i / 4, "l_sup": sup}
        )  # fmt: skip
    return out


def test_distillation_against_supervised_and_the_best_teachers_advantage():
    design, rec = scenario(crossing_rows(-0.05, 0.05))
    dist = ds.distillation_runs(rec, design)
    vs = ds.versus_supervised(dist, RES)
    assert vs["judged"].iloc[0] == "better" and vs["judged"].iloc[-1] == "worse"
    assert vs["threshold"].to_numpy() == pytest.approx(2 * math.sqrt(2) * SD)
    conv = ds.convergence(dist, RES).iloc[0]
    assert conv["budgets"] == 5 and conv["gap_low"] == pytest.approx(-0.05)
    assert conv["gap_high"] == pytest.approx(0.05) and conv["threshold"] == pytest.approx(
        2 * math.sqrt(2) * SD
    )
    assert ds.convergence(dist.iloc[:1], RES).empty  # one token budget: nothing to follow


def test_students_below_their_teacher_are_counted_against_the_noise():
    margins = (0.05, 0.01, 0, -0.1, -0.2)
    rows = [
        dict(r, l_s=TEACHERS["tA"][2] - d) for r, d in zip(crossing_rows(teacher="tA"), margins, strict=True)
    ]
    design, rec = scenario(rows)
    vt = ds.versus_teacher(ds.distillation_runs(rec, design), RES)
    assert list(vt["judged"]) == ["below", "within noise", "within noise", "above", "above"]
    # the student's distilled noise and the teacher's supervised noise, each of its own size
    res = ds.Resolution(NOISE.assign(sd=np.where(NOISE["kind"] == "distilled", 0.03, 0.04)))
    vt = ds.versus_teacher(ds.distillation_runs(rec, design), res)
    assert vt["threshold"].to_numpy() == pytest.approx(2 * 0.05)
    assert list(vt["judged"]) == ["within noise", "within noise", "within noise", "above", "above"]


# --- protocol 2 ---------------------------------------------------------------------------------------------


def collapse_rows(size_effect: float) -> tuple[list[dict], dict]:
    """Eight teachers of one student: L_S a smooth function of L_T, plus ``size_effect`` nats per e-fold of
    the teacher's size. Returns the rows and the teachers."""
    rng = np.random.default_rng(0)
    rows, teachers = [], {}
    for i, n_t in enumerate(np.geomspace(2e4, 4e5, 8)):
        key = f"t{i}"
        l_t = 1.85 - 0.04 * i + 0.03 * (i % 3)  # not monotone in size: IsoFLOP teachers
        teachers[key] = (f"M{i}", float(n_t), l_t)
        l_s = 1.9 + 0.8 * (l_t - 1.7) ** 2 + size_effect * math.log(n_t / 2e4)
        rows.append({"student": "L2-d32", "n_s": 25312.0, "tokens": 6e5, "teacher": key,
                     "l_s": l_s * (1 + 0.002 * rng.standard_normal()), "l_sup": 2.0})  # fmt: skip
    return rows, teachers


def test_teacher_collapse_detects_a_dependence_on_the_teachers_size():
    design, rec = scenario(*collapse_rows(0.0)[:1], "protocol2", collapse_rows(0.0)[1])
    col = ds.teacher_collapse(ds.distillation_runs(rec, design), RES).iloc[0]
    assert col["noise_ratio"] < 2 and col["slope_low"] <= 0 <= col["slope_high"]
    assert abs(col["size_effect"]) < col["threshold"] == pytest.approx(2 * math.sqrt(2) * SD)
    design, rec = scenario(*collapse_rows(0.03)[:1], "protocol2", collapse_rows(0.03)[1])
    col = ds.teacher_collapse(ds.distillation_runs(rec, design), RES).iloc[0]
    assert col["slope_low"] > 0 and col["size_effect"] > col["threshold"]


# --- seeds --------------------------------------------------------------------------------------------------


def test_capacity_gap_over_seeds_averages_and_counts_paired_seeds():
    # A rise of 0.012 nats in each of three seeds: within the noise of one pair of runs (threshold ~0.0161),
    # beyond it for means over three seeds (threshold ~0.0093), and worse in all three seeds.
    rows = [dict(r, seed=seed, l_s=r["l_s"] + 0.001 * seed) for seed in (0, 1, 2) for r in u_shaped(0.012)]
    design, rec = scenario(rows)
    one = ds.capacity_gap(ds.distillation_runs(rec, design[design["seed"] == 0]), RES).iloc[0]
    assert one["gap"] == "within noise" and one["seeds"] == 1 and one["seeds_worse"] == "1/1"
    r = ds.capacity_gap(ds.distillation_runs(rec, design), RES).iloc[0]
    assert r["seeds"] == 3 and r["seeds_worse"] == "3/3" and r["teachers"] == 4
    assert r["rise"] == pytest.approx(0.012) and r["best_loss"] == pytest.approx(1.95 + 0.001)
    assert r["threshold"] == pytest.approx(one["threshold"] / math.sqrt(3), rel=1e-3)
    assert r["gap"] == "beyond noise"


def test_fit_runs_carry_protocol_1s_student_budget_for_the_decade_test():
    """The decade test holds out protocol 1's top student budget: the fit's runs say which budget each lies on
    (NaN where its compute lies on none), so the design's level a decade further is the held-out one."""
    dist = ds.distillation_runs(store.load_records(), ds.study_design())
    t = ds.fit_runs(dist)
    decade = set(dist.loc[dist["block"] == "protocol1-decade", "key"])
    assert decade and decade <= set(t["key"])
    assert (t.loc[t["key"].isin(decade), "budget"] == study.P1_DECADE_BUDGET).all()
    by_key = dist.groupby("key")["student_budget"].max()
    assert t["budget"].equals(t["key"].map(by_key).astype(float))
    assert t["budget"].isna().any() and t["budget"].max() == study.P1_DECADE_BUDGET
