"""Numbers, lists and law tables for the pages (``distill_scaling.presentation``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from distill_scaling import presentation
from distill_scaling.laws import PAPER_SUPERVISED


def test_formatting_helpers():
    assert (
        presentation.num(25312) == "25.3k"
        and presentation.num(1.98e6) == "1.98M"
        and presentation.num(float("nan")) == "n/a"
    )
    assert presentation.sci(3e12) == "3e12" and presentation.sci(2e9) == "2e9"
    assert presentation.sci(3.24e20, 2) == "3.2e20" and presentation.sci(1e-5) == "1e-5"
    assert presentation.sci(np.nan) == "n/a"
    assert presentation.fixed(1.6604) == "1.660" and presentation.fixed(0.01234, 4, signed=True) == "+0.0123"
    assert presentation.pct(0.00342) == "0.34%" and presentation.pct(-0.0034, 1, signed=True) == "-0.3%"
    assert presentation.fixed(np.nan) == presentation.pct(None) == "n/a"
    assert (
        presentation.with_interval(2.0, 1.0, 3.0) == "2 (1–3)"
        and presentation.with_interval(2.0, np.nan, np.nan) == "2"
    )
    assert presentation.and_join(["a", "b", "c"]) == "a, b and c" and presentation.and_join([]) == "none"


def test_the_unbounded_sentence_says_what_the_interval_growth_check_found():
    def fit(intervals=None, **prov):
        intervals = intervals or {"gamma": (0.5, 2.0)}
        params = SimpleNamespace(values=lambda: {"gamma": 1.0, "c1": 1.0}, intervals=intervals)
        return SimpleNamespace(provenance=prov, params=params)

    labels = presentation.DISTILLATION_LABELS
    assert presentation.unbounded_sentence(fit(bootstrap={}, unbounded=[]), labels).endswith(
        "bounded by the runs."
    )
    at_zero = presentation.unbounded_sentence(fit({"gamma": (0.0, 2.0)}, bootstrap={}, unbounded=[]), labels)
    assert at_zero.endswith("bounded by the runs, though that of γ′ reaches the fit's bound at zero.")
    words = presentation.unbounded_sentence(fit(bootstrap={}, unbounded=["gamma", "c1"]), labels)
    assert "do not bound γ′ and c1" in words and "no interval for them" in words
    assert "predates the check" in presentation.unbounded_sentence(fit(bootstrap={}), labels)
    assert presentation.unbounded_sentence(fit(), labels) == ""
    assert "failed (ValueError: x)" in presentation.unbounded_sentence(
        fit(interval_growth_error="ValueError: x"), labels
    )


def test_the_coefficient_frame_is_pending_without_a_fit():
    frame = presentation.law_coefficient_frame(None, PAPER_SUPERVISED, presentation.SUPERVISED_LABELS, 73)
    assert (frame["ours"] == ["not fitted"] * 8 + ["0"]).all()
    assert frame.loc["runs", "paper (Table 6)"] == "73" and "α" in frame.index


def test_styled_tables_share_one_look():
    table = pd.DataFrame({"N*": [1.23456, np.nan], "model": ["a", "b"], "runs": [3, 4]})
    html = presentation.styled(table, "A caption", digits=2).to_html()
    assert "A caption" in html and "1.23" in html and "n/a" in html and "padding: 0.15em 0.7em" in html
    assert '<th class="row_heading' not in html  # 0, 1 only number the rows: hidden
    shown = presentation.styled(table.set_index("model"), "c", names={"N*": r"\(N^*\)", "model": "size"})
    html = shown.to_html()
    assert r"\(N^*\)" in html and "size" in html and "row_heading" in html
    big = pd.DataFrame({"compute": [3.2e20]}, index=pd.Index(["x"], name="case"))
    assert "3.2e+20" in presentation.styled(big, "c", 2, significant=True).to_html()


def test_the_interval_check_lists_unbounded_and_at_zero_coefficients():
    def fit(intervals=None, **prov):
        params = SimpleNamespace(values=lambda: {"gamma": 1.0, "alpha": 0.3}, intervals=intervals or {})
        return SimpleNamespace(provenance=prov, params=params)

    labels = presentation.SUPERVISED_LABELS
    clean = fit({"gamma": (0.5, 2.0)}, unbounded=[])
    assert presentation.interval_check(clean, labels) == {"unbounded": "none", "at_zero": "none"}
    at_zero = fit({"gamma": (0.0, 2.0), "alpha": (0.1, 0.4)}, unbounded=[])
    assert presentation.interval_check(at_zero, labels) == {"unbounded": "none", "at_zero": "γ"}
    loose = presentation.interval_check(fit({}, unbounded=["alpha", "gamma"]), labels)
    assert loose["unbounded"] == "α and γ"
    # an unbounded coefficient is named once, as unbounded, even where its interval also reaches zero
    both = presentation.interval_check(fit({"gamma": (0.0, 2.0)}, unbounded=["gamma"]), labels)
    assert both == {"unbounded": "γ", "at_zero": "none"}
    assert set(presentation.interval_check(fit({}, bootstrap={}), labels).values()) == {"not checked"}
    failed = fit({}, unbounded=[], interval_growth_error="ValueError: x")
    assert set(presentation.interval_check(failed, labels).values()) == {"not checked"}
    assert set(presentation.interval_check(None, labels).values()) == {"n/a"}


def test_direction_names_the_sign_of_an_interval():
    words = ("down", "up", "neither")
    assert presentation.direction(-2.0, -1.0, *words) == "down"
    assert presentation.direction(1.0, 2.0, *words) == "up"
    assert presentation.direction(-1.0, 1.0, *words) == "neither"
    assert presentation.direction(float("nan"), float("nan"), *words) == "neither"
