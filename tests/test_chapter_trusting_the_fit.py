"""Chapter 03's helpers that shape its prose."""

from __future__ import annotations

import pandas as pd


def test_eigen_spread_says_singular_beyond_float_precision():
    from distill_scaling.chapters import trusting_the_fit as chapter

    assert chapter.eigen_spread(pd.DataFrame({"eigenvalue": [1e-3, 2e5]})) == ("2.0e+08", "not singular")
    spread, singular = chapter.eigen_spread(pd.DataFrame({"eigenvalue": [1e-300, 5.0]}))
    assert spread.startswith("more than") and singular == "singular"
    assert chapter.eigen_spread(pd.DataFrame({"eigenvalue": [-1e-9, 5.0]}))[1] == "singular"


def test_speed_numbers_read_the_benchmark_and_say_n_a_without_one():
    from distill_scaling.chapters import trusting_the_fit as ch

    saved = {
        "date": "2026-01-02T03:04:05+00:00",
        "machine": {"cpu_count": 2, "loadavg_before": [1.94, 1.0, 1.0]},
        "results": {
            "distillation_fit": {"cpu_seconds": 60.0, "wall_seconds": 50.4, "n_runs": 700},
            "distillation_bootstrap": {
                "cpu_seconds_per_4096": 1200.0,
                "wall_seconds_per_4096": 1500.0,
                "n_resamples": 256,
                "converged_fraction": 0.9,
            },
        },
    }
    got = ch.speed_numbers(saved)
    # Shares are CPU time (over worker processes: one here) over the budgets (120 s for a fit, 10 minutes for
    # 4096 bootstrap refits).
    assert got["fit_share"] == "50%" and got["boot_share"] == "200%"
    assert (got["boot_workers"], got["boot_free"]) == ("1", "20.0")
    assert (got["fit_cpu"], got["boot_cpu"], got["boot_wall"]) == ("60", "20.0", "25.0")
    assert (got["date"], got["load"], got["boot_resamples"]) == ("2026-01-02", "1.9", "256")
    missing = ch.speed_numbers(None)
    assert set(missing) == set(got)
    assert {missing[k] for k in ch.SPEED_NUMBERS} == {"n/a"} and missing["fit_budget"] == "120"


def test_an_unidentified_coefficient_is_named_not_printed_with_thirty_digits():
    from distill_scaling.chapters import trusting_the_fit as ch

    assert ch.percent_or_unidentified(0.0123) == "1.23%"
    assert ch.percent_or_unidentified(-0.5) == "-50.00%"
    assert ch.percent_or_unidentified(4.0e27) == "> 1000% (not identified)"
    assert ch.percent_or_unidentified(float("nan")) == ""


def test_saved_results_carry_provenance_and_numpy_values(tmp_path, monkeypatch):
    import numpy as np

    from distill_scaling.chapters import trusting_the_fit as ch

    monkeypatch.setenv("DS_DATA_DIR", str(tmp_path))
    path = ch.save_json(
        "x", {"a": np.arange(3), "n": np.int64(4), "provenance": ch.result_provenance(n_runs=3)}
    )
    assert path == tmp_path / "fits" / "trusting_the_fit" / "x.json"
    back = ch.load_json("x")
    assert back["a"] == [0, 1, 2] and back["n"] == 4 and back["provenance"]["n_runs"] == 3
    assert {"date", "git_commit", "host", "cpu_count", "loadavg", "numpy_version"} <= set(back["provenance"])
