"""The planner: a compute-optimal distillation plan with the paper's coefficients or ours, with intervals.

``python -m distill_scaling plan --student-params 1e9 --compute 1e22 --scenario teacher-inference
[--coefficients paper|ours|FILE.json] [--json]`` prints the teacher to use, the token allocation, the
predicted student loss against supervised training of the same student with the same compute, and the compute
split.

Coefficient sets: ``paper`` is Table 6 of Busbridge et al. (2025); ``ours`` is ``data/fits/ours.json``,
written by the study's fits in the format of :class:`distill_scaling.fit_files.CoefficientSet` (point
estimates plus, optionally, bootstrap samples of both laws). With samples, every sample is solved too (one
vectorised batch) and central intervals reported.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .fit_files import CoefficientSet, load_coefficient_set
from .optimal import (
    BOUNDS,
    SCENARIOS,
    DistillationOptimum,
    SupervisedOptimum,
    check_scenario,
    optimal_distillation,
    optimal_supervised,
    positive_finite,
    stack_coefficients,
)

# --- The planner --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A compute-optimal distillation plan, the supervised alternative, intervals over coefficient samples."""

    coefficients: CoefficientSet
    optimum: DistillationOptimum
    supervised: SupervisedOptimum
    #: quantity -> (low, high) over the coefficient samples, at ``level``; empty without samples.
    intervals: dict[str, tuple[float, float]]
    level: float
    n_samples: int
    n_failed: int
    #: quantity -> why its value cannot be taken as advice: on a solver bound, or outside the range the
    #: coefficients were fitted on (see :func:`advice_flags`).
    flags: dict[str, list[str]] = field(default_factory=dict)
    #: Cautions about the inputs (a student size outside the fitted range).
    warnings: list[str] = field(default_factory=list)

    def quantities(self) -> dict[str, float]:
        """The plan's numbers by name (the keys of :attr:`intervals` and of :data:`QUANTITIES`)."""
        return {k: float(v) for k, v in plan_quantities(self.optimum, self.supervised).items()}

    def to_frame(self):
        """The plan as a DataFrame: quantity, value, interval bounds (NaN without samples), unit."""
        import pandas as pd  # noqa: PLC0415 - only for this view: the plan command starts faster without it

        q = self.quantities()
        rows = []
        for key, (label, unit) in QUANTITIES.items():
            low, high = self.intervals.get(key, (np.nan, np.nan))
            rows.append({"quantity": label, "value": q[key], "low": low, "high": high, "unit": unit})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: inputs, quantities, intervals, notes."""
        return {
            "student_params": float(self.optimum.student_params),
            "compute": float(self.optimum.compute),
            "scenario": self.optimum.scenario,
            "coefficients": self.coefficients.name,
            "coefficients_description": self.coefficients.description,
            "identified": self.optimum.identified,
            "teacher_at_token_bound": bool(self.optimum.teacher_at_token_bound),
            "quantities": self.quantities(),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "interval_level": self.level if self.intervals else None,
            "n_samples": self.n_samples,
            "n_failed_samples": self.n_failed,
            "notes": list(self.optimum.notes),
            "flags": {k: list(v) for k, v in self.flags.items()},
            "warnings": list(self.warnings),
        }

    def table(self) -> str:
        """The plan as a readable text table."""
        return format_plan(self)


def plan(
    student_params: float,
    compute: float,
    scenario: str,
    coefficients: str | Path | CoefficientSet = "paper",
    *,
    level: float = 0.9,
    max_samples: int | None = 200,
) -> Plan:
    """Plan a compute-optimal distillation: teacher, tokens, compute split, and the supervised alternative.

    With a coefficient set that carries bootstrap samples, every sample (up to ``max_samples``, the first
    ones) is solved as well, in one batch, and ``level`` central intervals of each quantity are reported.
    """
    check_scenario(scenario)
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"level must be a float in (0, 1); got {level!r}")
    if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 0):
        raise ValueError(f"max_samples must be a non-negative int or None; got {max_samples!r}")
    cs = coefficients if isinstance(coefficients, CoefficientSet) else load_coefficient_set(coefficients)
    N = float(positive_finite("student_params", student_params, "non-embedding parameters"))
    C = float(positive_finite("compute", compute, "FLOPs"))
    opt = optimal_distillation(
        N, C, scenario, coefficients=cs.distillation, supervised_coefficients=cs.supervised
    )
    sup = optimal_supervised(N, C, coefficients=cs.supervised)
    n = cs.n_samples if max_samples is None else min(cs.n_samples, max_samples)
    intervals: dict[str, tuple[float, float]] = {}
    failed = 0
    if n:
        sup_s, dist_s = (
            stack_coefficients(cs.supervised_samples[:n]),
            stack_coefficients(cs.distillation_samples[:n]),
        )
        many = optimal_distillation(
            np.full(n, N), np.full(n, C), scenario, coefficients=dist_s, supervised_coefficients=sup_s
        )
        sup_many = optimal_supervised(np.full(n, N), np.full(n, C), coefficients=sup_s)
        values = plan_quantities(many, sup_many)
        failed = int(np.sum(~np.isfinite(values["student_loss"])))
        q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
        for k, v in values.items():
            v = v[np.isfinite(v)]
            if v.size:
                lo, hi = np.percentile(v, q)
                intervals[k] = (float(lo), float(hi))
    flags, warnings = advice_flags(cs, N, plan_quantities(opt, sup))
    return Plan(cs, opt, sup, intervals, level, n, failed, flags, warnings)


#: Quantities of a plan the solver bounds (BOUNDS) apply to.
BOUNDED = ("teacher_params", "teacher_tokens", "student_tokens")
#: Relative tolerances of :func:`advice_flags`: how near a solver bound counts as on it, and how far outside
#: a fitted range still counts as inside (round-off of the stored ranges).
BOUND_RTOL = 1e-6
RANGE_RTOL = 1e-9
#: quantity -> (law, range) it is checked against: the teacher is a supervised model, the student distilled.
RANGE_OF = {
    "teacher_params": ("supervised", "n_params"),
    "teacher_tokens": ("supervised", "tokens"),
    "teacher_loss": ("distillation", "teacher_loss"),
    "student_tokens": ("distillation", "tokens"),
    "supervised_tokens": ("supervised", "tokens"),
}


def advice_flags(
    cs: CoefficientSet, student_params: float, quantities: Mapping[str, Any]
) -> tuple[dict[str, list[str]], list[str]]:
    """Why parts of a plan are not advice: ``(flags, warnings)``.

    ``flags`` maps a quantity to its reasons: it sits on a solver bound (the optimum lies there or beyond,
    :data:`~distill_scaling.optimal.BOUNDS`), or outside the range the coefficient set was fitted on.
    ``warnings`` concern the inputs: a student size outside the fitted range makes every number an
    extrapolation.
    """
    lo, hi = BOUNDS
    flags: dict[str, list[str]] = {}
    for key in BOUNDED:
        v = float(quantities[key])
        if not math.isfinite(v):
            continue
        if v <= lo * (1 + BOUND_RTOL):
            flags.setdefault(key, []).append(f"on the solver's lower bound {lo:.0e}")
        elif v >= hi * (1 - BOUND_RTOL):
            flags.setdefault(key, []).append(f"on the solver's upper bound {hi:.0e}")
    for key, (law, what) in RANGE_OF.items():
        span = cs.ranges.get(law, {}).get(what)
        v = float(quantities[key])
        if span is None or not math.isfinite(v):
            continue
        if not span[0] * (1 - RANGE_RTOL) <= v <= span[1] * (1 + RANGE_RTOL):
            flags.setdefault(key, []).append(
                f"outside the fitted range [{span[0]:.3g}, {span[1]:.3g}] of the {law} law"
            )
    warnings = []
    span = cs.ranges.get("distillation", {}).get("n_params")
    if span is not None and not span[0] * (1 - RANGE_RTOL) <= student_params <= span[1] * (1 + RANGE_RTOL):
        warnings.append(
            f"student_params = {student_params:.3g} lies outside the range [{span[0]:.3g}, {span[1]:.3g}] "
            f"the {cs.name!r} coefficients were fitted on: every number is an extrapolation"
        )
    return flags, warnings


#: Every quantity of a plan: name -> (description, unit).
QUANTITIES: dict[str, tuple[str, str]] = {
    "teacher_params": ("teacher parameters N_T", "non-embedding parameters"),
    "teacher_tokens": ("teacher tokens D_T", "tokens"),
    "teacher_loss": ("teacher loss L_T", "nats/token"),
    "student_tokens": ("student tokens D_S", "tokens"),
    "student_loss": ("student loss L_S, distilled", "nats/token"),
    "supervised_tokens": ("supervised tokens, same budget", "tokens"),
    "supervised_loss": ("supervised loss, same budget", "nats/token"),
    "advantage": ("advantage of distillation (supervised - distilled)", "nats/token"),
    "student_training_flops": ("student training 3 F(N_S) D_S", "FLOPs"),
    "teacher_logits_flops": ("teacher logits F(N_T) D_S", "FLOPs"),
    "teacher_pretraining_flops": ("teacher pretraining 3 F(N_T) D_T", "FLOPs"),
    "student_training_fraction": ("student training share", "fraction of the budget"),
    "teacher_logits_fraction": ("teacher logits share", "fraction of the budget"),
    "teacher_pretraining_fraction": ("teacher pretraining share", "fraction of the budget"),
}


def plan_quantities(o: DistillationOptimum, s: SupervisedOptimum) -> dict[str, np.ndarray]:
    """The quantities of :data:`QUANTITIES` from an optimum and its supervised alternative (arrays)."""
    q = {
        "teacher_params": o.teacher_params,
        "teacher_tokens": o.teacher_tokens,
        "teacher_loss": o.teacher_loss,
        "student_tokens": o.student_tokens,
        "student_loss": o.student_loss,
        "supervised_tokens": s.tokens,
        "supervised_loss": s.loss,
        "advantage": np.asarray(s.loss) - np.asarray(o.student_loss),
    }
    q.update({f"{k}_flops": v for k, v in o.compute_split.items()})
    q.update({f"{k}_fraction": v for k, v in o.compute_fractions.items()})
    return {k: np.asarray(v, float) for k, v in q.items()}


def _fmt(value: float, kind: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if kind == "count":
        return f"{value:.3g}"
    if kind == "loss":
        return f"{value:.4f}"
    if kind == "frac":
        return f"{100 * value:.1f}%"
    return f"{value:+.4f}"


def format_plan(p: Plan) -> str:
    """A readable text table of a :class:`Plan`."""
    o, q = p.optimum, p.quantities()
    has_iv = bool(p.intervals)
    head = f"{100 * p.level:.0f}% interval" if has_iv else ""
    lines = [
        "Compute-optimal distillation plan",
        f"  student: {o.student_params:.3g} non-embedding parameters    budget: {o.compute:.3g} FLOPs",
        f"  scenario: {o.scenario}    coefficients: {p.coefficients.name}"
        + (f" ({p.coefficients.description})" if p.coefficients.description else ""),
        "",
    ]

    def row(label: str, key: str, kind: str, note: str = "") -> str:
        iv = p.intervals.get(key)
        iv_text = f"[{_fmt(iv[0], kind)}, {_fmt(iv[1], kind)}]" if iv else ""
        marks = [note] if note else []
        marks += [f"({f})" for f in p.flags.get(key, [])]
        return f"  {label:<38}{_fmt(q[key], kind):>10}  {iv_text:<24}{' '.join(marks)}".rstrip()

    lines += [f"  WARNING: {w}" for w in p.warnings]
    lines.append(f"  {'quantity':<38}{'value':>10}  {head}".rstrip())
    ident = "" if o.identified else "(not identified: see notes)"
    lines += [
        row("teacher parameters N_T", "teacher_params", "count", ident),
        row("teacher tokens D_T", "teacher_tokens", "count", ident),
        row("teacher loss L_T", "teacher_loss", "loss"),
        row("student tokens D_S", "student_tokens", "count"),
        row("student loss L_S (distilled)", "student_loss", "loss"),
        row("supervised loss, same N_S and budget", "supervised_loss", "loss"),
        row("supervised tokens, same budget", "supervised_tokens", "count"),
        row("advantage (supervised - distilled)", "advantage", "diff"),
        "",
        f"  {'compute split':<38}{'FLOPs':>10}  {'share':>7}",
    ]
    for term, label in (
        ("student_training", "student training 3 F(N_S) D_S"),
        ("teacher_logits", "teacher logits F(N_T) D_S"),
        ("teacher_pretraining", "teacher pretraining 3 F(N_T) D_T"),
    ):
        lines.append(f"  {label:<38}{q[term + '_flops']:>10.3g}  {100 * q[term + '_fraction']:>6.1f}%")
    verdict = "distillation" if q["advantage"] > 0 else "supervised training"
    lines += [
        "",
        f"  verdict: {verdict} gives the lower loss at this budget (by {abs(q['advantage']):.4f} nats)",
    ]
    if has_iv:
        lines.append(
            f"  intervals: {p.n_samples} bootstrap samples of the coefficients"
            + (f" ({p.n_failed} infeasible)" if p.n_failed else "")
        )
    elif p.coefficients.name != "paper":
        lines.append("  intervals: none (the coefficient file has no bootstrap samples)")
    if p.flags:
        lines.append(
            f"  caution: {len(p.flags)} value(s) above sit on a solver bound or outside the fitted range; "
            "they are not advice"
        )
    lines += [f"  note: {n}" for n in o.notes]
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling plan --student-params 1e9 --compute 1e22 --scenario teacher-inference``."""
    parser = argparse.ArgumentParser(
        prog="python -m distill_scaling plan",
        description="Plan a compute-optimal distillation with the distillation scaling law: the teacher "
        "to use, the token allocation, the student loss against supervised training at the same compute, "
        "and the compute split.",
    )
    parser.add_argument(
        "--student-params", type=float, required=True, help="student non-embedding parameters"
    )
    parser.add_argument("--compute", type=float, required=True, help="total budget, FLOPs")
    parser.add_argument(
        "--scenario", choices=list(SCENARIOS), required=True, help="which teacher costs count"
    )
    parser.add_argument(
        "--coefficients",
        default="paper",
        help="'paper' (Table 6), 'ours' (data/fits/ours.json, written by the study) or a coefficients "
        ".json file",
    )
    parser.add_argument(
        "--level", type=float, default=0.9, help="interval level over bootstrap samples (0.9)"
    )
    parser.add_argument("--max-samples", type=int, default=200, help="bootstrap samples to propagate (200)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        result = plan(
            args.student_params,
            args.compute,
            args.scenario,
            args.coefficients,
            level=args.level,
            max_samples=args.max_samples,
        )
    except ValueError as exc:  # InputError included: one line naming the parameter or file
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.table())
    return 0
