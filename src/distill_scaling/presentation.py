"""How numbers, lists and tables read on the book's pages, and the sentences and tables about fitted laws
that several chapters print: the text counterpart of :mod:`distill_scaling.plots`.

- :func:`num`, :func:`sci`, :func:`fixed`, :func:`pct`, :func:`with_interval`, :func:`and_join`: numbers and
  lists in prose and tables (a missing number reads "n/a"); :func:`styled`: a table with a caption for the
  page.
- :data:`SUPERVISED_LABELS`, :data:`DISTILLATION_LABELS`: how the laws' coefficients read;
  :func:`law_coefficient_frame`, :func:`interval_check` and :func:`unbounded_sentence`: a fitted law's
  coefficients beside the paper's, and what the interval-growth check found (chapters 03, 06 and 07).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

# --- numbers, lists and tables ------------------------------------------------------------------------------


def num(x: float, digits: int = 3) -> str:
    """``digits`` significant figures, thousands as k and millions as M (25.3k, 1.98M); NaN as 'n/a'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    ax = abs(x)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if ax >= scale:
            return f"{x / scale:.{digits}g}{suffix}"
    return f"{x:.{digits}g}"


def sci(x: float, digits: int = 1) -> str:
    """A compute budget as 1e12, 3e12 (``digits`` significant figures: 3.2e20); NaN as 'n/a'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def fixed(x: float, digits: int = 3, signed: bool = False) -> str:
    """``digits`` decimals (``signed``: with its sign, +0.012); NaN as 'n/a'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:{'+' if signed else ''}.{digits}f}"


def pct(x: float, digits: int = 2, signed: bool = False) -> str:
    """A fraction as a percentage with ``digits`` decimals (0.0034 -> 0.34%); NaN as 'n/a'."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{100 * x:{'+' if signed else ''}.{digits}f}%"


def with_interval(v: float, lo: float, hi: float, f=num) -> str:
    """``v (lo-hi)``, or just ``v`` when the interval is not known."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f(v)
    return f"{f(v)} ({f(lo)}–{f(hi)})"


def styled(
    table: pd.DataFrame,
    caption: str,
    digits: int = 3,
    *,
    significant: bool = False,
    names: Mapping[str, str] | None = None,
):
    """A table for the page, the one look of every chapter's tables: a caption; floats to ``digits`` decimals
    (``significant``: to ``digits`` significant figures, for values across many decades); missing numbers as
    'n/a'; the column and index names shown as ``names`` maps them (MathJax such as ``\\(N^*\\)`` renders in
    the page); cells spaced; the index hidden when it only numbers the rows (unnamed integers)."""
    names = names or {}
    floats = [names.get(c, c) for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    shown = table.rename(columns=lambda c: names.get(c, c))
    shown = shown.rename_axis(index=[names.get(n, n) for n in table.index.names])
    out = (
        shown.style.set_caption(caption)
        .format(f"{{:.{digits}{'g' if significant else 'f'}}}", subset=floats, na_rep="n/a")
        .set_table_styles([{"selector": "th, td", "props": "padding: 0.15em 0.7em;"}])
    )
    numbered = all(n is None for n in table.index.names) and pd.api.types.is_integer_dtype(table.index)
    return out.hide(axis="index") if numbered else out


def direction(lo: float, hi: float, down: str, up: str, neither: str) -> str:
    """The word for an interval's sign: ``down`` when it lies below zero, ``up`` above, ``neither`` when it
    includes zero (or is not known)."""
    return down if hi < 0 else up if lo > 0 else neither


def and_join(items: Sequence[str], empty: str = "none") -> str:
    """``["a", "b", "c"]`` -> "a, b and c"; one item alone; ``empty`` for none."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- fitted laws on the page --------------------------------------------------------------------------------

#: How the supervised coefficients read in tables and prose.
SUPERVISED_LABELS = {"alpha": "α", "beta": "β", "gamma": "γ", "a": "a = β/(α+β)", "b": "b = α/(α+β)"}

#: How the distillation coefficients read in tables and prose (plain text: glued text cannot hold LaTeX).
DISTILLATION_LABELS = {
    "A": "A′", "B": "B′", "alpha": "α′", "beta": "β′", "gamma": "γ′", "a": "a′ = β′/(α′+β′)",
    "b": "b′ = α′/(α′+β′)",
}  # fmt: skip


#: Marks a coefficient whose interval the runs do not bound (:func:`distill_scaling.fits.growth_provenance`).
UNBOUNDED_MARK = "not bounded by the runs"


def law_coefficient_frame(
    law, paper, names: Mapping[str, str], paper_runs: int, missing: str = "not fitted"
) -> pd.DataFrame:
    """A fitted law's coefficients with bootstrap intervals (``law``: a :class:`distill_scaling.fits.LawFit`
    of either law, or None, when every coefficient reads ``missing``) beside the paper's Table 6 (``paper``),
    the coefficients named by ``names`` (e.g. :data:`DISTILLATION_LABELS`).

    A coefficient the runs do not bound (``law.unbounded``) says so in place of an interval, and so do the
    ratios a, b when alpha or beta is unbounded: its interval is where the refits stopped, not a measurement.
    """

    def fmt(v: float) -> str:
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"

    loose = set() if law is None else set(law.unbounded)
    if loose & {"alpha", "beta"}:
        loose |= {"a", "b"}
    rows = []
    for name in (*paper.NAMES, "a", "b"):
        plo, phi = paper.intervals.get(name, (math.nan, math.nan))
        row = {
            "coefficient": names.get(name, name),
            "paper (Table 6)": with_interval(getattr(paper, name), plo, phi, fmt),
        }
        if law is None:
            row["ours"] = missing
        elif name in loose:
            row["ours"] = f"{fmt(getattr(law.params, name))} ({UNBOUNDED_MARK})"
        else:
            lo, hi = law.params.intervals.get(name, (math.nan, math.nan))
            row["ours"] = with_interval(getattr(law.params, name), lo, hi, fmt)
        rows.append(row)
    rows.append(
        {
            "coefficient": "runs",
            "paper (Table 6)": str(paper_runs),
            "ours": "0" if law is None else str(len(law.runs)),
        }
    )
    return pd.DataFrame(rows).set_index("coefficient")[["ours", "paper (Table 6)"]]


#: An interval whose low end is below this fraction of its estimate reaches the fit's bound at zero.
AT_ZERO = 1e-6
#: The check, as the pages name it (with the chapter that explains it).
CHECK = "The interval-growth check (chapter *Can we trust the fit?*)"


def interval_check(law, labels: Mapping[str, str]) -> dict[str, str]:
    """What the interval-growth check (chapter 03; :func:`distill_scaling.fits.growth_provenance`) found for a
    law fit, as two short lists for the page: ``unbounded``, the coefficients the runs do not bound, and
    ``at_zero``, the others whose interval reaches the fit's bound at zero (:data:`AT_ZERO`), each "none" when
    there is none; both "not checked" when the fit has no check (no bootstrap, a stored fit from before the
    check, or the check failed) and "n/a" without a fit."""
    if law is None:
        return {"unbounded": "n/a", "at_zero": "n/a"}
    prov = law.provenance
    if "unbounded" not in prov or "interval_growth_error" in prov:
        return {"unbounded": "not checked", "at_zero": "not checked"}
    values = law.params.values()
    at_zero = [
        labels.get(n, n)
        for n, (low, _) in law.params.intervals.items()
        if n in values and n not in prov["unbounded"] and low <= AT_ZERO * values[n]
    ]
    return {
        "unbounded": and_join([labels.get(n, n) for n in prov["unbounded"]]),
        "at_zero": and_join(at_zero),
    }


def unbounded_sentence(law, labels: Mapping[str, str]) -> str:
    """What the interval-growth check (chapter 03; :func:`distill_scaling.fits.growth_provenance`) found for a
    law fit, as a sentence that starts with a space; empty when the fit had no bootstrap."""
    prov = law.provenance
    if "interval_growth_error" in prov:
        return f" {CHECK} failed ({prov['interval_growth_error']})."
    if "unbounded" not in prov:
        if "bootstrap" not in prov:
            return ""
        return f" This stored fit predates the check: {CHECK.lower()} runs when it is refreshed."
    loose = [labels.get(n, n) for n in prov["unbounded"]]
    values = law.params.values()
    at_zero = [
        labels.get(n, n)
        for n, (low, _) in law.params.intervals.items()
        if n in values and low <= AT_ZERO * values[n]
    ]
    if not loose:
        found = f" {CHECK} finds every interval bounded by the runs"
        if not at_zero:
            return found + "."
        return found + f", though that of {and_join(at_zero)} reaches the fit's bound at zero."
    return (
        f" {CHECK} finds that the runs do not bound {and_join(loose)}: refits keep moving them as long as "
        "they are allowed to while the objective keeps falling, so the table gives no interval for "
        f"{'it' if len(loose) == 1 else 'them'}."
    )
