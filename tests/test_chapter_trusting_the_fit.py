"""Chapter 03's helpers that shape its prose."""

from __future__ import annotations

import pandas as pd


def test_eigen_spread_says_singular_beyond_float_precision():
    from distill_scaling.chapters import trusting_the_fit as chapter

    assert chapter.eigen_spread_text(pd.DataFrame({"eigenvalue": [1e-3, 2e5]})) == "a factor of 2.0e+08"
    singular = chapter.eigen_spread_text(pd.DataFrame({"eigenvalue": [1e-300, 5.0]}))
    assert singular.endswith("singular to machine precision")
    assert "singular" in chapter.eigen_spread_text(pd.DataFrame({"eigenvalue": [-1e-9, 5.0]}))


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
