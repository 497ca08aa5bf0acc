"""Numbers, lists and law tables for the pages (``distill_scaling.presentation``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from distill_scaling import presentation
from distill_scaling.laws import PAPER_SUPERVISED


def test_formatting_helpers():
    assert (
        presentation.num(25312) == "25.3k"
        and presentation.num(1.98e6) == "1.98M"
        and presentation.num(float("nan")) == "n/a"
    )
    assert presentation.sci(3e12) == "3e12"
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
