"""Chapter 03's helpers that shape its prose."""

from __future__ import annotations

import pandas as pd


def test_eigen_spread_says_singular_beyond_float_precision():
    from distill_scaling.chapters import trusting_the_fit as chapter

    assert chapter.eigen_spread_text(pd.DataFrame({"eigenvalue": [1e-3, 2e5]})) == "a factor of 2.0e+08"
    singular = chapter.eigen_spread_text(pd.DataFrame({"eigenvalue": [1e-300, 5.0]}))
    assert singular.endswith("singular to machine precision")
    assert "singular" in chapter.eigen_spread_text(pd.DataFrame({"eigenvalue": [-1e-9, 5.0]}))
