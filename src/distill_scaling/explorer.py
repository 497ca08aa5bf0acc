"""The data of the explorer page (``book/explorer.md``), exported as JSON at every build of the book.

The page runs the two laws and a port of the planner's solver (``book/_static/explorer.js``) in the reader's
browser, with no server. Everything the Python side decides comes from here, so that nothing is typed into
the page by hand and the port cannot drift from the package: the coefficient sets the planner knows (point
estimates; the bootstrap samples stay out, the page shows no intervals), the ranges each set was fitted on,
the solver's bounds and search settings, the forward-FLOPs model the planner uses, the scenarios, the
quantities of a plan and the rules by which the planner flags them.

``python -m distill_scaling book`` calls :func:`write_explorer_data` before ``jupyter-book build``; Sphinx
then copies the file with the rest of ``book/_static/`` to the site's ``_static/``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from . import flops, laws, optimal, planner
from .fit_files import COEFFICIENT_SETS, CoefficientFileError, CoefficientSet, load_coefficient_set

#: The file the page loads, beside ``explorer.js`` in ``_static/``.
DATA_FILE = "explorer-data.json"
#: Format tag: the page refuses data of another format (an old file left in a copy of the book).
FORMAT = "distill_scaling/explorer/1"
#: The scenario the page opens with (the planner chapter's default too).
DEFAULT_SCENARIO = "teacher-inference"
#: Decades either side of the fitted range that the size and token sliders reach.
SLIDER_DECADES = 2


def _forward_flops_model() -> dict[str, float | str]:
    """The planner's F(N) (:func:`~distill_scaling.flops.paper_forward_flops` with its defaults), as the
    constants of F(N) = 2 N (1 + sigma1 n_ctx N^(-1/3) + sigma2 n_vocab N^(-2/3))."""
    return {
        "model": "paper Eq. 69 (fixed aspect ratio)",
        "n_ctx": float(flops.PAPER_N_CTX),
        "n_vocab": float(flops.PAPER_N_VOCAB),
        "sigma1": flops.sigma1(),
        "sigma2": flops.sigma2(),
    }


def _decade(value: float) -> float:
    """The power of ten nearest ``value`` in log space (a round default for a slider)."""
    return 10.0 ** round(math.log10(value))


def _geometric_mid(span: tuple[float, float]) -> float:
    return math.sqrt(span[0] * span[1])


def _slider(span: tuple[float, float]) -> list[float]:
    """A log slider's ends: the fitted range widened by :data:`SLIDER_DECADES` decades, in whole decades."""
    lo, hi = (math.log10(v) for v in span)
    return [10.0 ** (math.floor(lo) - SLIDER_DECADES), 10.0 ** (math.ceil(hi) + SLIDER_DECADES)]


def _controls(cs: CoefficientSet) -> dict[str, Any]:
    """Defaults and slider ends of one set: round numbers in the middle of what it was fitted on.

    The student's size and tokens default to the power of ten nearest the middle (in log space) of the
    distillation law's fitted ranges; the teacher loss to the middle of its fitted range or, without one,
    the supervised loss of a teacher in the middle of the supervised law's ranges; the budget to what
    training the default student on the default tokens costs, to the nearest power of ten.
    """
    sup_ranges, dist_ranges = cs.ranges.get("supervised", {}), cs.ranges.get("distillation", {})
    lo, hi = optimal.BOUNDS
    n_span = dist_ranges.get("n_params") or sup_ranges.get("n_params") or (lo, lo * 1e6)
    d_span = dist_ranges.get("tokens") or sup_ranges.get("tokens") or (lo, hi)
    student, tokens = _decade(_geometric_mid(n_span)), _decade(_geometric_mid(d_span))
    if "teacher_loss" in dist_ranges:
        teacher_loss = sum(dist_ranges["teacher_loss"]) / 2.0
    else:
        mid_n = _geometric_mid(sup_ranges.get("n_params", n_span))
        mid_d = _geometric_mid(sup_ranges.get("tokens", d_span))
        teacher_loss = float(laws.supervised_loss(mid_n, mid_d, cs.supervised))
    # The teacher-loss slider spans every teacher the solver may pick (bounds on both N_T and D_T) and the
    # fitted range; the distillation law itself takes any L_T > 0.
    best, worst = (float(laws.supervised_loss(b, b, cs.supervised)) for b in (hi, lo))
    fitted = dist_ranges.get("teacher_loss", (best, worst))
    compute = _decade(3.0 * float(flops.paper_forward_flops(student)) * tokens)
    return {
        "student_params": student,
        "student_tokens": tokens,
        "teacher_loss": round(teacher_loss, 2),
        "compute": compute,
        "scenario": DEFAULT_SCENARIO,
        "sliders": {
            "student_params": _slider(n_span),
            "student_tokens": _slider(d_span),
            "teacher_loss": [min(best, fitted[0]), max(worst, fitted[1])],
        },
    }


def coefficient_set_data(cs: CoefficientSet) -> dict[str, Any]:
    """One coefficient set as the page reads it (point estimates, fitted ranges, FLOP model, defaults)."""
    return {
        "name": cs.name,
        "description": cs.description,
        "supervised": cs.supervised.values(),
        "distillation": cs.distillation.values(),
        "ranges": {law: {q: list(span) for q, span in r.items()} for law, r in cs.ranges.items()},
        # The planner solves every set with the paper's FLOP model (planner.plan passes none), so does the
        # page: it reproduces the planner's numbers, not a different choice.
        "forward_flops": _forward_flops_model(),
        "controls": _controls(cs),
    }


def explorer_data() -> dict[str, Any]:
    """Everything the explorer page computes with, as one JSON-friendly dictionary.

    A set that cannot be loaded (``ours`` before the study wrote its fits) is listed under ``unavailable``
    with the reason, and the page offers the others.
    """
    sets, unavailable = {}, {}
    for name in COEFFICIENT_SETS:
        try:
            sets[name] = coefficient_set_data(load_coefficient_set(name))
        except CoefficientFileError as exc:
            unavailable[name] = str(exc)
    return {
        "format": FORMAT,
        "sets": sets,
        "unavailable": unavailable,
        "bounds": list(optimal.BOUNDS),
        "search": dataclasses.asdict(optimal.SEARCH),
        "scenarios": {
            name: {"delta_lgt": dl, "delta_pre": dp, "label": optimal.SCENARIO_LABELS[name]}
            for name, (dl, dp) in optimal.SCENARIOS.items()
        },
        "quantities": {k: {"label": label, "unit": unit} for k, (label, unit) in planner.QUANTITIES.items()},
        "flag_rules": {
            "bounded": list(planner.BOUNDED),
            "range_of": {k: list(v) for k, v in planner.RANGE_OF.items()},
            "bound_rtol": planner.BOUND_RTOL,
            "range_rtol": planner.RANGE_RTOL,
        },
    }


def write_explorer_data(static_dir: Path) -> Path:
    """Write :func:`explorer_data` to ``static_dir/explorer-data.json``; return the path."""
    path = Path(static_dir) / DATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(explorer_data(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
