"""Chapter "Plan a distillation": the planner as a parameterized page.

The page runs :func:`distill_scaling.planner.plan` for its parameters (student size, budget, scenario,
coefficient set) and draws the plan in context. Each figure function takes the coefficient set as its first
argument::

    from distill_scaling.chapters import plan as ch
    from distill_scaling.fit_files import load_coefficient_set
    fig = ch.fig_context(load_coefficient_set("paper"), 1e9, 1e22, "teacher-inference")
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import optimal, planner, plots
from ..fit_files import COEFFICIENT_SETS, CoefficientSet
from ..params import Param, ParameterError
from ..planner import Plan
from ..presentation import and_join

PARAMS: dict[str, Param] = {
    "student_params": Param(
        "float", "student size N_S, non-embedding parameters", min=1e6, max=1e15, default=1e9
    ),
    "compute": Param("float", "total budget C, FLOPs", min=1e12, max=1e32, default=1e22),
    "scenario": Param(
        "str",
        "which teacher costs count (paper Table 2)",
        choices=tuple(optimal.SCENARIOS),
        default="teacher-inference",
    ),
    "coefficients": Param(
        "str",
        "coefficient set: 'paper' (Table 6) or 'ours' (data/fits/ours.json, from the study)",
        choices=COEFFICIENT_SETS,
        default="paper",
    ),
    "level": Param("float", "level of the intervals over bootstrap samples", min=0.5, max=0.99, default=0.9),
    "max_samples": Param(
        "int",
        "bootstrap samples of the coefficients to propagate (when the set has them)",
        min=0,
        max=10000,
        default=200,
        profiles={"smoke": 20},
    ),
    "context_decades": Param(
        "float",
        "decades of compute either side of the budget in the context figure",
        min=0.5,
        max=6,
        default=3,
    ),
    "points_per_decade": Param(
        "int", "budgets per decade in the context figure", min=1, max=64, default=8, profiles={"smoke": 2}
    ),
}


def check_params(values: dict) -> None:
    """The planner's own rule, before any work: the budget must train the student in the scenario."""
    low, high = (float(x) for x in optimal.compute_range(values["student_params"], values["scenario"]))
    if not low <= values["compute"] <= high:
        raise ParameterError(
            f"parameter 'compute' = {values['compute']:.3g} is out of range for student_params = "
            f"{values['student_params']:.3g} in scenario {values['scenario']!r}; allowed: a float in "
            f"[{low:.3g}, {high:.3g}] FLOPs (the planner's feasible budgets)"
        )


def _budget_range(student: float, compute: float, decades: float) -> tuple[float, float]:
    """[C / 10^d, C * 10^d] clipped to the budgets every scenario can use for this student."""
    low = max(float(optimal.compute_range(student, s)[0]) for s in optimal.SCENARIOS) * 1.001
    high = float(optimal.compute_range(student)[1]) * 0.999
    return max(compute / 10**decades, low), min(compute * 10**decades, high)


def fig_context(
    cs: CoefficientSet,
    student_params: float,
    compute: float,
    scenario: str,
    decades: float = 3.0,
    points_per_decade: int = 8,
):
    """The best student loss against the budget for this student (all scenarios, supervised), plan marked."""
    lo, hi = _budget_range(student_params, compute, decades)
    n = max(int(math.ceil(math.log10(hi / lo) * points_per_decade)) + 1, 3)
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, n), [compute]]))
    f = optimal.frontier(
        [student_params], grid, coefficients=cs.distillation, supervised_coefficients=cs.supervised
    )
    fig, ax = plt.subplots(figsize=(plots.FULL_WIDTH, 4.6))
    names = ("supervised",) + tuple(optimal.SCENARIOS)
    for s in names:
        g = f[f["scenario"] == s].sort_values("compute")
        plots.broken_line(
            ax,
            g["compute"],
            g["student_loss"],
            g["regime_change"],
            color=plots.SCENARIO_COLORS[s],
            ls="--" if s == "supervised" else "-",
            lw=2.2 if s == scenario else 1.1,
            alpha=1.0 if s in (scenario, "supervised") else 0.55,
        )
    here = f[(f["scenario"] == scenario) & np.isclose(f["compute"], compute)]
    ax.plot(
        compute,
        float(here["student_loss"].iloc[0]),
        "o",
        color=plots.SCENARIO_COLORS[scenario],
        ms=7,
        zorder=5,
    )
    ax.axvline(compute, color="0.4", lw=0.8, ls=":")
    plots.sparse_log_axis(ax, "x")
    ax.set_xlabel("total compute $C$ (FLOPs)")
    ax.set_ylabel("best student loss $L_S^*$ (nats)")
    ax.set_title(
        f"$N_S$ = {plots.size_label(student_params)}; the plan: {optimal.SCENARIO_LABELS[scenario].lower()}"
    )
    fig.legend(handles=plots.scenario_handles(names), loc="outside lower center", ncols=2)
    return fig


def fig_profile(cs: CoefficientSet, student_params: float, compute: float, scenario: str, points: int = 300):
    """What the solver searches: the student loss per teacher loss (with its best teacher), and that teacher.

    The optimum is the lowest point of the left panel; a second local minimum, where the law has one, is
    marked too.
    """
    result = optimal.optimal_distillation(
        student_params, compute, scenario, coefficients=cs.distillation, supervised_coefficients=cs.supervised
    )
    centre = result.teacher_loss
    L_T = np.linspace(max(cs.supervised.E + 0.02, centre - 0.6), centre + 0.6, points)
    prof = optimal.loss_profile(
        student_params,
        compute,
        scenario,
        L_T,
        coefficients=cs.distillation,
        supervised_coefficients=cs.supervised,
    )
    sup = optimal.optimal_supervised(student_params, compute, coefficients=cs.supervised)
    fig, (a, b) = plt.subplots(1, 2, figsize=(plots.FULL_WIDTH, 3.8))
    a.plot(L_T, prof["student_loss"], color=plots.SCENARIO_COLORS[scenario], lw=1.6)
    a.axhline(
        sup.loss, color=plots.SCENARIO_COLORS["supervised"], ls="--", lw=1.0, label="supervised, same budget"
    )
    a.plot(result.teacher_loss, result.student_loss, "o", color="black", ms=6, label="optimum")
    if np.isfinite(result.alternative_teacher_loss):
        a.plot(
            result.alternative_teacher_loss,
            result.alternative_student_loss,
            "s",
            mfc="none",
            color="black",
            label="other local optimum",
        )
    a.set_xlabel("teacher loss $L_T$ (nats)")
    a.set_ylabel("student loss $L_S$ (nats)")
    a.legend()
    c = plots.CONFIG_COLORS
    b.plot(L_T, prof["teacher_params"], color=c["N_T"], lw=1.4, label="teacher size $N_T$")
    b.plot(L_T, prof["teacher_tokens"], color=c["D_T"], lw=1.4, label="teacher tokens $D_T$")
    b.plot(L_T, prof["student_tokens"], color=c["D_S"], lw=1.4, label="student tokens $D_S$")
    b.axvline(result.teacher_loss, color="black", lw=0.8, ls=":")
    plots.sparse_log_axis(b, "y")
    b.set_xlabel("teacher loss $L_T$ (nats)")
    b.set_ylabel("best teacher for that loss")
    fig.legend(*b.get_legend_handles_labels(), loc="outside lower right", ncols=3)
    return fig


def fig_split(plan: Plan):
    """The budget's split between the three terms of Eq. 9 (with intervals over samples, if any)."""
    q = plan.quantities()
    fig, ax = plt.subplots(figsize=(6.4, 2.2))
    left = 0.0
    for key, label, color in plots.COMPUTE_SPLIT:
        share = q[key]
        ax.barh([0], [share], left=left, color=color, label=f"{label}: {100 * share:.1f}%")
        left += share
    ax.set_xlim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("share of the budget")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5), ncol=2, frameon=False)
    return fig


def _display(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if unit.startswith("fraction"):
        return f"{100 * value:.1f}%"
    if unit == "nats/token":
        return f"{value:.4f}"
    return f"{value:.3g}"


def plan_table(plan: Plan) -> pd.DataFrame:
    """The plan's quantities as text for display (intervals only when the coefficient set has samples)."""
    t = plan.to_frame()
    shown = pd.DataFrame({"quantity": t["quantity"]})
    shown["value"] = [_display(v, u) for v, u in zip(t["value"], t["unit"], strict=True)]
    if plan.intervals:
        shown[f"{100 * plan.level:.0f}% interval"] = [
            f"[{_display(lo, u)}, {_display(hi, u)}]" if np.isfinite(lo) else ""
            for lo, hi, u in zip(t["low"], t["high"], t["unit"], strict=True)
        ]
    shown["unit"] = t["unit"].str.replace("fraction of the budget", "share of the budget")
    if plan.flags:
        keys = list(planner.QUANTITIES)
        shown["caution"] = ["; ".join(plan.flags.get(k, [])) for k in keys]
    return shown


def on_solver_bound(plan: Plan) -> bool:
    """Whether the teacher's size or tokens sit on a solver bound (:data:`distill_scaling.optimal.BOUNDS`):
    the optimum lies there or beyond, so the teacher quoted is a limit of the law, not a recommendation."""
    lo, hi = optimal.BOUNDS
    values = [float(getattr(plan.optimum, k)) for k in ("teacher_params", "teacher_tokens")]
    return any(
        math.isfinite(v) and (v <= lo * (1 + planner.BOUND_RTOL) or v >= hi * (1 - planner.BOUND_RTOL))
        for v in values
    )


def teacher_status(plan: Plan) -> str:
    """A short phrase on the quoted teacher: on a solver bound, one of many equally good (the problem does not
    determine it), or set by the budget."""
    if on_solver_bound(plan):
        return "on a bound of the solver"
    if not plan.optimum.identified:
        return "the cheapest of many equally good ones"
    return "set by the budget"


def student_range(plan: Plan) -> tuple[float, float, str]:
    """The student sizes the distillation law was fitted on (NaN when the set does not record them) and where
    this student lies: "inside", "outside", or "not checked against" (no recorded range)."""
    span = plan.coefficients.ranges.get("distillation", {}).get("n_params")
    if span is None:
        return math.nan, math.nan, "not checked against"
    lo, hi = span
    inside = lo * (1 - planner.RANGE_RTOL) <= plan.optimum.student_params <= hi * (1 + planner.RANGE_RTOL)
    return float(lo), float(hi), "inside" if inside else "outside"


def numbers(plan: Plan) -> dict[str, float | int | str]:
    """Every value the page glues into its prose: the plan's quantities and plain numbers, and short words or
    names (the winner, the teacher's status, the flagged quantities, where the student lies)."""
    o = plan.optimum
    out: dict[str, float | int | str] = dict(plan.quantities())
    out["student_params"] = float(o.student_params)
    out["compute"] = float(o.compute)
    out["scenario"] = o.scenario
    out["coefficients"] = plan.coefficients.name
    # The set's own description, without its final full stop (the page ends the sentence).
    out["coefficients_description"] = (plan.coefficients.description or plan.coefficients.name).rstrip(". ")
    adv = out["advantage"]
    out["winner"], out["loser"] = (
        ("distillation", "supervised training") if adv > 0 else ("supervised training", "distillation")
    )
    out["margin"] = abs(float(adv))
    out["teacher_status"] = teacher_status(plan)
    # The quantities by name, without their symbols (glued text cannot hold math) or qualifiers (the list is
    # comma-separated): "teacher tokens D_T" -> "teacher tokens", "supervised tokens, same budget" ->
    # "supervised tokens".
    names = [planner.QUANTITIES[k][0].split(",")[0] for k in plan.flags]
    flagged = [" ".join(w for w in name.split() if "_" not in w) for name in names]
    out["n_flagged"] = len(flagged)
    out["flagged"] = and_join(flagged)
    lo, hi, where = student_range(plan)
    out["student_fitted_low"], out["student_fitted_high"] = (
        f"{x:.3g}" if math.isfinite(x) else "n/a" for x in (lo, hi)
    )
    out["student_range"] = where
    out["level"] = float(plan.level)
    out["n_samples"] = int(plan.n_samples) if plan.intervals else 0
    return out
