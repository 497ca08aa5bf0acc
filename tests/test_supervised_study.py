"""Records -> tables: designs, seed noise, IsoFLOP minima and M*, on synthetic records (the law fit is tested
in ``test_fits.py``).

The synthetic records follow a known supervised law with C = 6ND, so the true compute-optimal size and ratio
are known: the analysis must find them, with intervals that are finite only when the noise is measured.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from distill_scaling import laws
from distill_scaling import supervised_study as ss

LAW = laws.SupervisedCoefficients(E=1.0, A=50.0, B=500.0, alpha=0.4, beta=0.35, gamma=0.9)
BUDGETS = (1e12, 3e12, 1e13, 3e13)


def records(
    budgets=BUDGETS, sizes=None, seeds=(0, 1, 2), rel_noise=0.004, seed=1, coef=LAW, extra=None
) -> pd.DataFrame:
    """Records shaped like ``store.load_records()``: IsoFLOP profiles of ``coef`` with C = 6ND, each run's
    loss multiplied by (1 + rel_noise * N(0, 1))."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(3e3, 3e6, 11) if sizes is None else np.asarray(sizes, float)
    rows = []
    for c in budgets:
        for n in sizes:
            d = c / (6 * n)
            for s in seeds:
                loss = float(laws.supervised_loss(n, d, coef)) * (1 + rel_noise * rng.standard_normal())
                rows.append(
                    {
                        "key": f"{c:g}-{n:.0f}-{s}",
                        "model": f"m{n:.0f}",
                        "n_params": n,
                        "tokens": d,
                        "tokens_trained": d,
                        "flops_total": c,
                        "val_loss": loss,
                        "seed": s,
                        "teacher": None,
                    }
                )
    df = pd.DataFrame(rows + list(extra or []))
    return df.set_index("key", drop=False)


def true_optimum(c: float, coef=LAW) -> tuple[float, float]:
    """(N*, M*) of ``coef`` at compute ``c`` with C = 6ND, by a fine search."""
    n = np.geomspace(1e2, 1e9, 200_001)
    i = int(np.argmin(laws.supervised_loss(n, c / (6 * n), coef)))
    return float(n[i]), float(c / (6 * n[i]) / n[i])


# --- designs and records ------------------------------------------------------------------------------------


def test_snap_budget_assigns_only_close_values():
    out = ss.snap_budget([1.01e12, 2.9e12, 2e12, 3.05e13], BUDGETS, rtol=0.02)
    assert out[0] == 1e12 and out[3] == 3e13
    assert np.isnan(out[1]) and np.isnan(out[2])


def test_supervised_runs_keeps_supervised_records_of_the_design():
    rec = records(budgets=(1e12,), sizes=[1e4, 3e4, 1e5], seeds=(0,))
    distilled = dict(rec.iloc[0]) | {"key": "student", "teacher": rec.iloc[0]["key"]}
    rec = pd.concat([rec, pd.DataFrame([distilled])], ignore_index=True)
    design = pd.DataFrame(
        {
            "block": "b",
            "key": list(rec["key"][:2]) + ["student", "never-run"],
            "budget": [1e12, 1e12, 1e12, 1e12],
        }
    )
    t = ss.supervised_runs(rec, design)
    assert list(t["key"]) == list(
        rec["key"][:2]
    )  # the third run is not in the design, the student not supervised
    assert (t["budget"] == 1e12).all() and (t["block"] == "b").all()
    assert np.allclose(t["tokens_per_param"], t["tokens"] / t["n_params"])


def test_supervised_runs_without_design_snaps_budgets_and_handles_empty_records():
    t = ss.supervised_runs(records(budgets=(3e12,), sizes=[1e4, 2e4], seeds=(0,)), budgets=BUDGETS)
    assert (t["budget"] == 3e12).all()
    empty = ss.supervised_runs(pd.DataFrame())
    assert empty.empty and set(ss.RUN_COLUMNS) <= set(empty.columns)
    with pytest.raises(ValueError, match="val_loss"):
        ss.supervised_runs(pd.DataFrame({"key": ["a"], "model": ["m"], "n_params": [1.0]}))


def test_progress_table_counts_recorded_runs_per_block():
    design = pd.DataFrame(
        {
            "block": ["a", "a", "b", "b"],
            "key": ["k1", "k2", "k2", "k3"],
            "flops": [1.0, 2.0, 2.0, 4.0],
        }
    )
    rec = pd.DataFrame({"key": ["k2", "zzz"], "wall_time_s": [7200.0, 3600.0]})
    p = ss.progress_table(rec, design)
    assert p.loc["a", "wall_hours"] == 2.0 and p.loc["all (distinct runs)", "wall_hours"] == 2.0
    shown = ss.progress_frame(p)
    assert shown.loc["b", "runs recorded"] == "1 of 2" and shown.loc["b", "training wall time (h)"] == 2.0
    assert ss.progress_frame(p.iloc[:0]).empty
    assert ss.progress_table(rec.drop(columns="wall_time_s"), design)["wall_hours"].eq(0).all()
    assert p.loc["a", "recorded"] == 1 and p.loc["a", "total"] == 2
    assert p.loc["b", "flops_recorded"] == 2.0 and p.loc["b", "flops_total"] == 6.0
    assert p.loc["all (distinct runs)", "recorded"] == 1 and p.loc["all (distinct runs)", "total"] == 3
    assert p.loc["all (distinct runs)", "flops_total"] == 7.0


def test_study_design_matches_the_study_blocks():
    from distill_scaling import study

    design = ss.study_design(["isoflop-small", "noise"])
    assert set(design.loc[design["block"] == "noise", "key"]) == set(ss.block_keys("noise"))
    assert design["budget"].notna().all()  # every IsoFLOP and noise run lies on a study budget
    assert set(design["budget"]) <= set(study.ISOFLOP_BUDGETS)
    with pytest.raises(ValueError, match="unknown study block"):
        ss.study_design(["nope"])


# --- noise --------------------------------------------------------------------------------------------------


def test_pooled_noise_matches_the_definition_and_recovers_a_known_spread():
    t = pd.DataFrame(
        {
            "model": ["a"] * 3 + ["b"] * 2 + ["c"],
            "n_params": [1.0] * 3 + [2.0] * 2 + [3.0],
            "tokens": [1.0] * 6,
            "budget": [1.0] * 6,
            "seed": [0, 1, 2, 0, 1, 0],
            "val_loss": [2.0, 2.1, 1.9, 3.0, 3.3, 5.0],
        }
    )
    noise = ss.pooled_noise(t)
    sum_sq = (0.01 + 0 + 0.01) + (0.15**2 * 2)
    assert noise.dof == 3 and noise.configs == 2 and noise.runs == 5
    assert noise.std == pytest.approx(math.sqrt(sum_sq / 3))
    lo, hi = noise.std_interval
    assert lo < noise.std < hi

    big = ss.supervised_runs(records(rel_noise=0.01, seed=3), budgets=BUDGETS)
    n = ss.pooled_noise(big)
    assert n.rel_std == pytest.approx(0.01, rel=0.2) and n.dof == 44 * 2
    assert n.rel_std_interval[0] < n.rel_std < n.rel_std_interval[1]
    assert n.verdict(0.005) == "above" and n.verdict(0.05) == "below"


def test_noise_not_measured_without_repeated_seeds():
    t = ss.supervised_runs(records(seeds=(0,)), budgets=BUDGETS)
    noise = ss.pooled_noise(t)
    assert not noise.measured and math.isnan(noise.rel_std) and noise.verdict(0.005) == "not measured"
    assert ss.seed_spread(t).empty


def test_seed_spread_per_configuration():
    t = ss.supervised_runs(records(budgets=(1e12,), sizes=[1e4, 3e4], seeds=(0, 1, 2, 3)), budgets=BUDGETS)
    s = ss.seed_spread(t)
    assert len(s) == 2 and (s["seeds"] == 4).all()
    for _, row in s.iterrows():
        x = t[t["n_params"] == row["n_params"]]["val_loss"]
        assert row["std"] == pytest.approx(x.std(ddof=1))
        assert row["rel_std_low_pct"] < row["rel_std_pct"] < row["rel_std_high_pct"]


def test_paired_differences_resolve_a_consistent_gap_but_not_pure_noise():
    rows = []
    rng = np.random.default_rng(0)
    for s in range(4):
        shared = rng.normal(0, 0.05)  # the seed moves both sizes together: pairing removes it
        rows += [
            {"budget": 1.0, "model": "small", "n_params": 1.0, "seed": s, "val_loss": 2.0 + shared},
            {
                "budget": 1.0,
                "model": "large",
                "n_params": 2.0,
                "seed": s,
                "val_loss": 1.98 + shared + rng.normal(0, 1e-3),
            },
            {
                "budget": 1.0,
                "model": "huge",
                "n_params": 3.0,
                "seed": s,
                "val_loss": 2.0 + rng.normal(0, 0.05),
            },
        ]
    p = ss.paired_differences(pd.DataFrame(rows)).set_index("larger")
    assert p.loc["large", "resolved"] and p.loc["large", "mean_diff"] == pytest.approx(-0.02, abs=2e-3)
    assert p.loc["large", "low"] < p.loc["large", "mean_diff"] < p.loc["large", "high"]
    assert not p.loc["huge", "resolved"]


# --- IsoFLOP minima -----------------------------------------------------------------------------------------


def test_parabola_minimum_recovers_the_vertex_of_a_parabola_in_log_n():
    n = np.geomspace(1e3, 1e6, 7)
    x = np.log(n)
    x0 = math.log(2.5e4)
    y = 2.0 + 0.1 * (x - x0) ** 2
    pm = ss.parabola_minimum(n, y)
    assert pm.interior and pm.n_star == pytest.approx(2.5e4, rel=1e-9) and pm.loss_star == pytest.approx(2.0)
    assert pm.curve(np.array([2.5e4]))[0] == pytest.approx(2.0)
    assert len(pm.window) == 3 and min(pm.window) < 2.5e4 < max(pm.window)
    pm5 = ss.parabola_minimum(n[::-1], y[::-1], n_points=5)  # order does not matter; least squares on 5
    assert pm5.n_star == pytest.approx(2.5e4, rel=1e-9)


def test_parabola_minimum_reports_edges_as_bounds():
    n = np.array([1e3, 1e4, 1e5])
    small = ss.parabola_minimum(n, [1.0, 1.2, 1.5])
    assert small.edge == "small" and small.n_star == 1e3 and small.loss_star == 1.0 and not small.interior
    large = ss.parabola_minimum(n, [1.5, 1.2, 1.0])
    assert large.edge == "large" and large.n_star == 1e5
    two = ss.parabola_minimum([1e3, 1e4], [1.0, 0.9])
    assert two.edge == "large"
    with pytest.raises(ValueError, match="n_points"):
        ss.parabola_minimum(n, [1, 2, 3], n_points=2)


def test_minima_batch_agrees_with_parabola_minimum():
    rng = np.random.default_rng(5)
    n = np.geomspace(1e3, 1e6, 6)
    losses = 2 + 0.05 * (np.log(n) - np.log(3e4)) ** 2 + rng.normal(0, 0.03, (300, 6))
    ns, ls = ss.minima_batch(n, losses)
    for i in range(len(losses)):
        pm = ss.parabola_minimum(n, losses[i])
        assert ns[i] == pytest.approx(pm.n_star, rel=1e-9) and ls[i] == pytest.approx(pm.loss_star, rel=1e-9)


def test_compute_optimal_recovers_the_law_optimum_exponents_and_m_star():
    t = ss.supervised_runs(records(), budgets=BUDGETS)
    co = ss.compute_optimal(t, n_boot=500, seed=0)
    assert co.interior_budgets == list(BUDGETS)
    for _, row in co.minima.iterrows():
        n_true, m_true = true_optimum(row["budget"])
        assert row["n_star"] == pytest.approx(n_true, rel=0.1)
        assert row["m_star"] == pytest.approx(m_true, rel=0.2)
        assert row["n_star_low"] < row["n_star"] < row["n_star_high"]
    # The law's exponents: N* ~ C^(beta/(alpha+beta)) and D* ~ C^(alpha/(alpha+beta)) for C = 6ND.
    assert co.exponents.loc["N*", "exponent"] == pytest.approx(LAW.a, abs=0.04)
    assert co.exponents.loc["D*", "exponent"] == pytest.approx(LAW.b, abs=0.04)
    e = co.exponents.loc["N*"]
    assert e["low"] < e["exponent"] < e["high"]
    m, lo, hi = co.m_star
    m_true = math.exp(np.mean([math.log(true_optimum(c)[1]) for c in BUDGETS]))
    assert lo < m < hi and m == pytest.approx(m_true, rel=0.15)


def test_compute_optimal_without_measured_noise_has_no_intervals():
    t = ss.supervised_runs(records(seeds=(0,)), budgets=BUDGETS)
    co = ss.compute_optimal(t, n_boot=200)
    assert co.n_boot == 0 and math.isnan(co.noise)
    assert np.isfinite(co.m_star[0]) and math.isnan(co.m_star[1])
    assert co.minima["n_star_low"].isna().all()
    assert np.isfinite(co.exponents.loc["N*", "exponent"]) and math.isnan(co.exponents.loc["N*", "low"])


def test_edge_profiles_are_bounds_and_stay_out_of_the_exponents():
    # Sizes that stop above the optimum at the two largest budgets: those minima lie at the small edge.
    small = records(budgets=BUDGETS[:2])
    big = records(budgets=BUDGETS[2:], sizes=np.geomspace(2e5, 3e6, 5), seed=2)
    t = ss.supervised_runs(pd.concat([small, big]), budgets=BUDGETS)
    co = ss.compute_optimal(t, n_boot=100)
    m = co.minima.set_index("budget")
    assert list(m.loc[list(BUDGETS[2:]), "edge"]) == ["small", "small"]
    assert (m.loc[list(BUDGETS[2:]), "n_star"] == 2e5).all()
    assert co.interior_budgets == list(BUDGETS[:2])
    assert co.exponents.loc["N*", "budgets"] == 2


def test_profiles_with_too_few_sizes_are_listed_not_analysed():
    t = ss.supervised_runs(records(budgets=(1e12,), sizes=[1e4, 3e4]), budgets=BUDGETS)
    co = ss.compute_optimal(t)
    assert list(co.minima["edge"]) == ["too few sizes"] and not co.parabolas
    assert math.isnan(co.m_star[0]) and math.isnan(co.exponents.loc["N*", "exponent"])


def test_compute_optimal_rejects_bad_arguments():
    t = ss.supervised_runs(records(budgets=(1e12,)), budgets=BUDGETS)
    with pytest.raises(ValueError, match="n_boot"):
        ss.compute_optimal(t, n_boot=-1)
    with pytest.raises(ValueError, match="level"):
        ss.compute_optimal(t, level=1.5)


def test_m_star_api_returns_an_interval_or_says_what_is_missing():
    rec = records()
    design = pd.DataFrame({"block": "iso", "key": rec["key"], "budget": rec["flops_total"]})
    v, lo, hi = ss.m_star(rec, design, n_boot=300)
    assert lo < v < hi
    with pytest.raises(ss.InsufficientData, match="0 of"):
        ss.m_star(pd.DataFrame(), design)


def test_fixed_m_cost_is_the_parabola_above_its_minimum_at_that_ratio():
    t = ss.supervised_runs(records(seeds=(0,)), budgets=BUDGETS)
    co = ss.compute_optimal(t, n_boot=0)
    for _, row in co.minima.iterrows():
        # At each profile's own M* the cost vanishes; at another ratio it is the parabola's rise there.
        own = ss.fixed_m_cost(co, row["m_star"]).set_index("budget").loc[row["budget"]]
        assert own["extra_loss"] == pytest.approx(0.0, abs=1e-4)
    cost = ss.fixed_m_cost(co, 2 * co.m_star[0])
    assert (cost["extra_loss"].dropna() > 0).all() and (cost["n_at_fixed"] < cost["n_star"]).all()
    pm = co.parabolas[cost["budget"].iloc[0]]
    assert cost["extra_loss"].iloc[0] == pytest.approx(
        pm.curve([cost["n_at_fixed"].iloc[0]])[0] - pm.loss_star
    )
    assert ss.fixed_m_cost(co, 1e9)["extra_loss"].isna().all()  # outside every profile
