"""Chapter "The laws as published": parameters, tables and figures computed from the laws alone.

Every function takes the coefficient sets as arguments (defaulting to the paper's Table 6), so a later chapter
can draw the same figures with the coefficients fitted to our own runs::

    from distill_scaling.chapters import laws_as_published as ch
    fig = ch.fig_student_size_contours(coef=my_distillation_fit, supervised_coef=my_supervised_fit)

Why this module is long: it regenerates every figure of the paper that the laws alone determine; they share
the coefficient handling and the grid helpers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap
from scipy.optimize import brentq

from .. import plots
from ..laws import (
    CHINCHILLA,
    EPOCH_CHINCHILLA,
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    DistillationCoefficients,
    SupervisedCoefficients,
    capacity_factor,
    distillation_loss,
    optimal_teacher,
    supervised_limit,
    supervised_loss,
    supervised_params_for_loss,
)
from ..params import Param

PARAMS: dict[str, Param] = {
    "grid_points": Param(
        "int",
        "points along each axis of the contour grids (Figs. 7 and 15 style)",
        min=10,
        max=600,
        default=220,
        profiles={"smoke": 24},
    ),
    "curve_points": Param(
        "int",
        "points along each curve of the line figures",
        min=10,
        max=5000,
        default=400,
        profiles={"smoke": 40},
    ),
    "students": Param(
        "list[float]",
        "student sizes N_S (non-embedding parameters) of the student-against-teacher panels (Fig. 1 style); "
        "in YAML write 1.0e+9 (YAML reads 1e9 as a string)",
        min=1e7,
        max=1e13,
        default=[198e6, 546e6, 1.82e9, 7.75e9],
        profiles={"smoke": [198e6, 1.82e9]},
    ),
    "reference_student": Param(
        "float",
        "student size N_S at which the prose quotes the infinite-data comparison (Fig. 40 style)",
        min=1e8,
        max=1e12,
        default=1e9,
    ),
}

#: Non-embedding sizes of the paper's models named in its figures (its Table 13).
PAPER_MODEL_SIZES = (143e6, 198e6, 546e6, 975e6, 1.82e9, 7.75e9, 12.6e9)
#: Distillation-token budgets of the colour bar of the paper's Fig. 1.
FIG1_TOKENS = (4e9, 8e9, 16e9, 32e9, 64e9, 128e9, 256e9, 512e9)
#: Student tokens-per-parameter ratios of Fig. 4 (D_S = M_S N_S).
FIG4_RATIOS = (20, 40, 80, 160, 320)
#: Distillation-token budgets of the four panels of Fig. 7.
FIG7_TOKENS = (250e9, 1e12, 4e12, 16e12)
#: Student sizes of the four panels of Fig. 15.
FIG15_STUDENTS = (1e9, 3e9, 10e9, 30e9)

LOSS_LABEL = "nats per token"
#: Colour of the optimal-teacher line and of d1 (the paper draws L*_T in red).
OPTIMUM_COLOR = "#d62728"
_TEX = {"d1": "d_1", "f1": "f_1"}


# --- formatting ---------------------------------------------------------------------------------------------


def human_count(x: float, digits: int = 3) -> str:
    """A parameter or token count the way the paper writes it, to ``digits`` significant figures: 198M,
    1.82B, 16T, 210B (never scientific notation)."""
    if not math.isfinite(x):
        return "∞"
    x = float(f"{x:.{digits}g}")  # round first, so that 999.6M becomes 1B rather than 1000M
    value, suffix = x, ""
    for scale, name in ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            value, suffix = x / scale, name
            break
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{round(value, decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + suffix


def _with_interval(value: float, interval: tuple[float, float] | None, fmt: str) -> str:
    if interval is None:
        return format(value, fmt)
    low, high = interval
    return f"{format(value, fmt)} ({format(low, fmt)}, {format(high, fmt)})"


# --- tables -------------------------------------------------------------------------------------------------

#: How the tables' plain column and index names are shown on the page (MathJax renders the output cells):
#: ``presentation.styled(table, caption, names=DISPLAY_NAMES)``.
DISPLAY_NAMES = {
    "L*_T": r"\(L^*_T\)",
    "L_S with L*_T": r"\(L_S\) with \(L^*_T\)",
    "L~_S (supervised)": r"\(\tilde{L}_S\) (supervised)",
    "gain L~_S − L_S": r"gain \(\tilde{L}_S - L_S\)",
    "N_S": r"\(N_S\)",
    "M_S = D_S/N_S": r"\(D_S / N_S\)",
    "L_S(N_S, ∞, L*_T)": r"\(L_S(N_S, \infty, L^*_T)\)",
    "L(N_S, ∞)": r"\(L(N_S, \infty)\)",
    "crossover D_S": r"crossover \(D_S\)",
    "N_T": r"teacher \(N_T\)",
    "slope at crossover (nats / decade)": "slope at crossover (nats per decade)",
    "gap at D_S = ∞ (nats)": r"gain at \(D_S = \infty\) (nats)",
    "|gap| < tol from D_S": r"\(|\mathrm{gap}|\) < 1% from \(D_S\)",
}


_SYMBOLS = {
    "E": "E",
    "A": "A",
    "B": "B",
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "c0": "c₀",
    "c1": "c₁",
    "f1": "f₁",
    "d1": "d₁",
    "a": "a = β/(α+β)",
    "b": "b = α/(α+β)",
}
_FORMATS = {"A": ".0f", "B": ".0f", "c1": ".1f", "E": ".3f"}


def coefficient_table(
    sets: Mapping[str, SupervisedCoefficients | DistillationCoefficients] | None = None,
) -> pd.DataFrame:
    """One column per coefficient set, one row per coefficient: "value (low, high)" where intervals are known.

    The derived compute-optimal exponents a and b are computed from the coefficients; a published interval for
    them is shown beside the computed value. Coefficients a set does not have are left blank.
    """
    if sets is None:
        sets = {
            "Paper, supervised": PAPER_SUPERVISED,
            "Paper, distillation (primed)": PAPER_DISTILLATION,
            "Chinchilla": CHINCHILLA,
            "Epoch refit": EPOCH_CHINCHILLA,
        }
    names = ["E", "A", "B", "alpha", "beta", "gamma", "c0", "c1", "f1", "d1", "a", "b"]
    columns = {}
    for label, coef in sets.items():
        column = {}
        for name in names:
            if name not in coef.NAMES and name not in ("a", "b"):
                column[_SYMBOLS[name]] = ""
                continue
            value = getattr(coef, name)
            column[_SYMBOLS[name]] = _with_interval(
                value, coef.intervals.get(name), _FORMATS.get(name, ".3f")
            )
        columns[label] = column
    table = pd.DataFrame(columns)
    table.index.name = "coefficient"
    return table


def supervised_table(
    sizes: Sequence[float] = PAPER_MODEL_SIZES,
    fixed_tokens: float = 512e9,
    tokens_per_param: float = 20.0,
    coef: SupervisedCoefficients = PAPER_SUPERVISED,
) -> pd.DataFrame:
    """L(N, M N), L(N, fixed tokens) and L(N, ∞) at the given sizes (the teachers of the paper's Fig. 36a)."""
    N = np.asarray(sizes, dtype=float)
    return pd.DataFrame(
        {
            "N (non-embedding)": [human_count(n) for n in N],
            f"L(N, {tokens_per_param:g}N)": supervised_loss(N, tokens_per_param * N, coef),
            f"L(N, {human_count(fixed_tokens)})": supervised_loss(N, fixed_tokens, coef),
            "L(N, ∞)": supervised_limit(N, coef),
        }
    ).set_index("N (non-embedding)")


def optimal_teacher_table(
    students: Sequence[float] = (198e6, 546e6, 1.82e9),
    ratios: Sequence[float] = (20, 80, 320),
    teacher_ratio: float = 20.0,
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
) -> pd.DataFrame:
    """The optimal teacher for each student N_S and token ratio M_S.

    Columns: L*_T, the size of a teacher trained on ``teacher_ratio`` tokens per parameter that reaches it,
    the student's loss with that teacher, its supervised loss L~_S on the same tokens, and the gain.
    """
    rows = []
    for N_S in students:
        for M_S in ratios:
            D_S = M_S * N_S
            best = optimal_teacher(N_S, D_S, coef, supervised_coef)
            L_T = float(best.teacher_loss)
            size = float(supervised_params_for_loss(L_T, teacher_ratio, supervised_coef))
            L_sup = float(supervised_loss(N_S, D_S, supervised_coef))
            rows.append(
                {
                    "N_S": human_count(N_S),
                    "M_S = D_S/N_S": int(M_S) if float(M_S).is_integer() else M_S,
                    "L*_T": L_T,
                    "N_T": human_count(size, 2),
                    "L_S with L*_T": float(best.student_loss),
                    "L~_S (supervised)": L_sup,
                    "gain L~_S − L_S": L_sup - float(best.student_loss),
                }
            )
    return pd.DataFrame(rows).set_index(["N_S", "M_S = D_S/N_S"])


def infinite_data_table(
    students: Sequence[float] = (1e8, 1e9, 1e10, 1e11, 1e12),
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
) -> pd.DataFrame:
    """Distillation with the optimal teacher at D_S = ∞ against the supervised limit L(N_S, ∞) (Eq. 37)."""
    N = np.asarray(students, dtype=float)
    best = optimal_teacher(N, np.inf, coef, supervised_coef)
    floor = supervised_limit(N, supervised_coef)
    return pd.DataFrame(
        {
            "N_S": [human_count(n) for n in N],
            "L*_T": best.teacher_loss,
            "L_S(N_S, ∞, L*_T)": best.student_loss,
            "L(N_S, ∞)": floor,
            "difference (%)": 100.0 * (best.student_loss / floor - 1.0),
        }
    ).set_index("N_S")


# --- the supervised-distillation crossover ------------------------------------------------------------------


@dataclass(frozen=True)
class Crossover:
    """Where supervised learning overtakes distillation with the best teacher, for one student size.

    ``gap(D_S) = L(N_S, D_S) - min over L_T of L_S(N_S, D_S, L_T)``; positive means distillation is better.
    ``tokens`` is the first D_S in the searched range where the gap turns negative (NaN if it never does);
    ``slope`` is d gap / d log10 D_S there (nats per tenfold more tokens): small means ill-conditioned.
    ``within_tolerance_from`` is the smallest D_S from which |gap| stays below ``rel_tol`` times the
    supervised loss for the rest of the range: beyond it the law cannot tell the two apart within its own
    accuracy.
    """

    students: float
    tokens: float
    slope: float
    gap_at_infinity: float
    within_tolerance_from: float
    rel_tol: float


def best_case_gap(
    N_S: float,
    D_S: np.ndarray | float,
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
) -> np.ndarray:
    """L(N_S, D_S) - L_S(N_S, D_S, L*_T): how much the best teacher beats supervised training (nats)."""
    best = optimal_teacher(N_S, D_S, coef, supervised_coef)
    return supervised_loss(N_S, D_S, supervised_coef) - best.student_loss


def find_crossover(
    N_S: float,
    token_range: tuple[float, float] = (1e9, 1e18),
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    *,
    rel_tol: float = 0.01,
    grid_points: int = 121,
) -> Crossover:
    """The first sign change (+ to -) of :func:`best_case_gap` over ``token_range`` (log grid, then Brent)."""
    D = np.geomspace(*token_range, grid_points)
    gap = best_case_gap(N_S, D, coef, supervised_coef)
    tokens, slope = math.nan, math.nan
    turns = np.nonzero((gap[:-1] > 0) & (gap[1:] <= 0))[0]
    if turns.size:
        i = int(turns[0])

        def g(log_d: float) -> float:
            return float(best_case_gap(N_S, 10.0**log_d, coef, supervised_coef))

        root = brentq(g, math.log10(D[i]), math.log10(D[i + 1]), xtol=1e-7)
        tokens = 10.0**root
        h = 1e-3
        slope = (g(root + h) - g(root - h)) / (2 * h)
    scale = supervised_loss(N_S, D, supervised_coef)
    outside = np.nonzero(np.abs(gap) >= rel_tol * scale)[0]
    if outside.size == 0:
        within = float(D[0])
    elif outside[-1] == len(D) - 1:
        within = math.nan
    else:
        within = float(D[outside[-1] + 1])
    at_inf = float(best_case_gap(N_S, np.inf, coef, supervised_coef))
    return Crossover(float(N_S), tokens, slope, at_inf, within, rel_tol)


def crossover_table(crossings: Sequence[Crossover]) -> pd.DataFrame:
    """The crossovers as a table, counts written like the paper's."""
    return pd.DataFrame(
        {
            "N_S": [human_count(c.students) for c in crossings],
            "crossover D_S": [
                human_count(c.tokens, 2) if math.isfinite(c.tokens) else "none" for c in crossings
            ],
            "slope at crossover (nats / decade)": [c.slope for c in crossings],
            "gap at D_S = ∞ (nats)": [c.gap_at_infinity for c in crossings],
            "|gap| < tol from D_S": [human_count(c.within_tolerance_from, 2) for c in crossings],
        }
    ).set_index("N_S")


# --- figures ------------------------------------------------------------------------------------------


def _loss_levels(values: np.ndarray, step: float = 0.05, max_levels: int = 24) -> np.ndarray:
    """Round contour levels shared by all panels (so equal colours mean equal loss)."""
    lo, hi = np.nanmin(values), np.nanmax(values)
    while True:
        levels = np.arange(math.floor(lo / step) * step, math.ceil(hi / step) * step + step / 2, step)
        if len(levels) <= max_levels:
            return levels
        step *= 2


def _panels(n: int, height: float):
    """``n`` panels sharing axes, two to a row (:func:`plots.panel_grid`), spare panels hidden."""
    fig, axes = plots.panel_grid(n, height=height, sharex=True, sharey=True, layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)  # keeps the end tick labels of neighbouring panels apart
    return fig, axes


def _discrete_colorbar(fig, axes, colors, labels, title):
    """A colour bar with one labelled block per curve colour (token budgets are a few discrete values)."""
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(len(colors) + 1), cmap.N)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(mappable, ax=axes, shrink=0.85, ticks=np.arange(len(colors)) + 0.5)
    bar.set_ticklabels(labels)
    bar.set_label(title)
    bar.ax.grid(False)
    return bar


def fig_supervised_law(
    coef: SupervisedCoefficients = PAPER_SUPERVISED,
    sizes: tuple[float, float] = (1e8, 1e11),
    marked: Sequence[float] = PAPER_MODEL_SIZES,
    fixed_tokens: float = 512e9,
    points: int = 400,
):
    """The supervised law against model size for D = 20N, a fixed budget and D = ∞ (Fig. 36a style).

    Dots mark ``marked`` sizes (by default the paper's teachers).
    """
    N = np.geomspace(*sizes, points)
    m = np.asarray(marked, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    series = (
        ("$D = 20N$ (compute-optimal ratio)", lambda n: supervised_loss(n, 20 * n, coef)),
        (f"$D$ = {human_count(fixed_tokens)} tokens", lambda n: supervised_loss(n, fixed_tokens, coef)),
        (r"$D = \infty$ (infinite data)", lambda n: supervised_limit(n, coef)),
    )
    for color, (label, law) in zip(plots.sequential(3, "crest"), series, strict=True):
        ax.plot(N, law(N), color=color, label=label)
        ax.plot(m, law(m), "o", color=color, ms=4)
    ax.axhline(coef.E, color="0.4", ls=":", lw=1)
    ax.annotate(f"irreducible $E$ = {coef.E:.3f}", (N[0], coef.E), xytext=(4, 4), textcoords="offset points")
    plots.log_axis(ax, "x")
    ax.set_xlabel("model size $N$ (non-embedding parameters)")
    ax.set_ylabel(f"cross-entropy $L(N, D)$ ({LOSS_LABEL})")
    ax.legend(title="training tokens", loc="upper right")
    return fig


def fig_capacity_factor(coef: DistillationCoefficients = PAPER_DISTILLATION, points: int = 400):
    """The broken-power-law factor against L_T / L~_S (linear and log scale), d1, and the 90% intervals."""
    ratio = np.linspace(0.4, 1.6, points)
    fig, (lin, log) = plt.subplots(1, 2, figsize=(plots.FULL_WIDTH, 4.3), layout="constrained")
    for ax in (lin, log):
        for name in ("d1", "f1"):
            for value, ls in zip(coef.intervals.get(name, ()), ("--", ":"), strict=False):
                varied = coef.replace(**{name: value})
                ax.plot(ratio, capacity_factor(ratio, 1.0, varied), color="0.55", lw=0.9, ls=ls,
                        label=f"${_TEX[name]}$ = {value:g} (end of 90% interval)")  # fmt: skip
        ax.plot(ratio, capacity_factor(ratio, 1.0, coef), color="C0", lw=2, label="published coefficients")
        ax.axvline(coef.d1, color=OPTIMUM_COLOR, lw=1)
        ax.set_xlabel(r"$L_T / \tilde{L}_S$")
    half = _factor_inverse(0.5, coef)
    lin.plot(half, 0.5, "o", color="k", ms=4)
    lin.annotate(f"half at {half:.2f}", (half, 0.5), xytext=(8, 0), textcoords="offset points", va="center")
    lin.text(coef.d1, 0.8, " $d_1$", color=OPTIMUM_COLOR, va="center")
    lin.set_ylabel(r"$\left(1 + (L_T / (d_1 \tilde{L}_S))^{1/f_1}\right)^{-c_1 f_1}$")
    log.set_yscale("log")
    log.set_ylim(1e-30, 3)
    log.set_ylabel("the same factor, log scale")
    fig.legend(*lin.get_legend_handles_labels(), loc="outside upper center", ncols=2)
    fig.supxlabel("teacher loss over the student's supervised loss")
    return fig


def _factor_inverse(level: float, coef: DistillationCoefficients) -> float:
    """The ratio L_T / L~_S at which the broken-power-law factor equals ``level`` (it is monotone)."""
    if coef.f1 == 0 or coef.c1 == 0:
        return coef.d1
    return coef.d1 * (level ** (-1.0 / (coef.c1 * coef.f1)) - 1.0) ** coef.f1


def fig_student_vs_teacher(
    students: Sequence[float],
    tokens: Sequence[float] = FIG1_TOKENS,
    teacher_losses: tuple[float, float] = (1.8, 2.8),
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    points: int = 400,
):
    """Student loss against teacher loss, one panel per student, one curve per token budget (Fig. 1 style).

    The dashed diagonal is L_S = L_T; a dot marks each curve's best teacher inside the plotted range.
    """
    L_T = np.linspace(*teacher_losses, points)
    tokens = sorted(tokens)
    colors = plots.sequential(len(tokens), "viridis")
    fig, axes = _panels(len(students), 3.0)
    for ax, N_S in zip(axes, students, strict=True):
        for color, D_S in zip(colors, tokens, strict=True):
            L_S = distillation_loss(N_S, D_S, L_T, coef, supervised_coef)
            ax.plot(L_T, L_S, color=color, lw=1.4)
            i = int(np.argmin(L_S))
            if 0 < i < len(L_T) - 1:
                ax.plot(L_T[i], L_S[i], "o", color=color, ms=3.5)
        ax.plot(teacher_losses, teacher_losses, "k--", lw=1, label="$L_S = L_T$")
        ax.set_title(f"student $N_S$ = {human_count(N_S)}")
    fig.supxlabel(f"teacher cross-entropy $L_T$ ({LOSS_LABEL})", fontsize="medium")
    fig.supylabel(f"student cross-entropy $L_S$ ({LOSS_LABEL})", fontsize="medium")
    axes[0].legend(loc="upper left")
    _discrete_colorbar(fig, axes, colors, [human_count(t) for t in tokens], "distillation tokens $D_S$")
    return fig


def fig_capacity_gap(
    students: Sequence[float] = (143e6, 198e6),
    ratios: Sequence[float] = FIG4_RATIOS,
    teacher_ratio: float = 20.0,
    teacher_sizes: tuple[float, float] = (3e8, 1.4e10),
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    points: int = 400,
):
    """Student loss against the size of teachers trained on ``teacher_ratio`` tokens per parameter (Fig. 4).

    One panel per student, one curve per student token ratio M_S; a dot marks a curve's best teacher when it
    lies inside the plotted range (the capacity gap is the rise to its right).
    """
    N_T = np.geomspace(*teacher_sizes, points)
    L_T = supervised_loss(N_T, teacher_ratio * N_T, supervised_coef)
    fig, axes = plots.panel_grid(len(students), height=3.4, layout="constrained")
    colors = plots.sequential(len(ratios), "viridis")
    for ax, N_S in zip(axes, students, strict=True):
        for color, M_S in zip(colors, ratios, strict=True):
            L_S = distillation_loss(N_S, M_S * N_S, L_T, coef, supervised_coef)
            ax.plot(N_T, L_S, color=color, label=f"$D_S = {M_S:g}\\,N_S$")
            i = int(np.argmin(L_S))
            if 0 < i < len(N_T) - 1:
                ax.plot(N_T[i], L_S[i], "o", color=color, ms=4)
        plots.log_axis(ax, "x")
        ax.set_title(f"student $N_S$ = {human_count(N_S)}")
    fig.supxlabel(
        f"teacher size $N_T$ (non-embedding parameters), trained on $D_T = {teacher_ratio:g}\\,N_T$",
        fontsize="medium",
    )
    axes[0].set_ylabel(f"student cross-entropy $L_S$ ({LOSS_LABEL})")
    axes[-1].legend(title="student tokens", loc="upper right")
    return fig


def _contour_panels(x, L_T, surfaces, best, titles, xlabel):
    """Filled contours of L_S (shared levels), labelled lines, and the optimal-teacher line per panel."""
    levels = _loss_levels(np.array(surfaces))
    cmap = plt.get_cmap("mako_r")
    norm = BoundaryNorm(levels, cmap.N, extend="both")
    fig, axes = _panels(len(surfaces), 2.9)
    filled = None
    for ax, surface, line, title in zip(axes, surfaces, best, titles, strict=True):
        filled = ax.contourf(x, L_T, surface, levels=levels, cmap=cmap, norm=norm, extend="both")
        lines = ax.contour(x, L_T, surface, levels=levels, colors="white", linewidths=0.5, alpha=0.8)
        # Label every other level, but not those hugging the top or bottom edge (their labels get clipped).
        inner = levels[::2][(levels[::2] > L_T[0] + 0.04) & (levels[::2] < L_T[-1] - 0.04)]
        ax.clabel(lines, levels=inner, fmt="%.2f", fontsize=plots.MIN_FONT_PT, inline=True)
        inside = (line >= L_T[0]) & (line <= L_T[-1])
        ax.plot(np.where(inside, x, np.nan), np.where(inside, line, np.nan), color=OPTIMUM_COLOR, lw=2.2,
                label="optimal teacher $L^*_T$")  # fmt: skip
        ax.set_title(title)
        plots.log_axis(ax, "x")
        ax.grid(False)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", frameon=False)
    fig.supxlabel(xlabel, fontsize="medium")
    fig.supylabel(f"teacher cross-entropy $L_T$ ({LOSS_LABEL})", fontsize="medium")
    bar = fig.colorbar(filled, ax=axes, shrink=0.85)
    bar.set_label(f"student cross-entropy $L_S$ ({LOSS_LABEL})")
    return fig


def fig_student_size_contours(
    tokens: Sequence[float] = FIG7_TOKENS,
    student_sizes: tuple[float, float] = (1e9, 1e11),
    teacher_losses: tuple[float, float] = (1.5, 2.5),
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    points: int = 200,
):
    """Contours of L_S over student size and teacher loss, one panel per token budget, with L*_T (Fig. 7)."""
    N = np.geomspace(*student_sizes, points)
    L_T = np.linspace(*teacher_losses, points)
    surfaces = [distillation_loss(N[None, :], D, L_T[:, None], coef, supervised_coef) for D in tokens]
    best = [optimal_teacher(N, D, coef, supervised_coef).teacher_loss for D in tokens]
    titles = [f"$D_S$ = {human_count(D)} tokens" for D in tokens]
    return _contour_panels(N, L_T, surfaces, best, titles, "student size $N_S$ (non-embedding parameters)")


def fig_token_contours(
    students: Sequence[float] = FIG15_STUDENTS,
    tokens: tuple[float, float] = (250e9, 16e12),
    teacher_losses: tuple[float, float] | None = None,
    crossings: Sequence[Crossover] | None = None,
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    points: int = 200,
):
    """Contours of L_S over distillation tokens and teacher loss, one panel per student, with L*_T (Fig. 15).

    ``crossings`` (one :func:`find_crossover` result per student) adds a dashed line where supervised
    learning overtakes distillation with the best teacher, when that lies in the plotted token range, and
    says where it lies otherwise. The teacher axis runs from the supervised E (no teacher is better) to 2.5
    unless ``teacher_losses`` says otherwise.
    """
    if teacher_losses is None:
        teacher_losses = (supervised_coef.E, 2.5)
    D = np.geomspace(*tokens, points)
    L_T = np.linspace(*teacher_losses, points)
    surfaces = [distillation_loss(N_S, D[None, :], L_T[:, None], coef, supervised_coef) for N_S in students]
    best = [optimal_teacher(N_S, D, coef, supervised_coef).teacher_loss for N_S in students]
    titles = [f"student $N_S$ = {human_count(N_S)}" for N_S in students]
    fig = _contour_panels(D, L_T, surfaces, best, titles, "distillation tokens $D_S$")
    for ax, crossing in zip(fig.axes, crossings or (), strict=False):
        if math.isfinite(crossing.tokens) and tokens[0] <= crossing.tokens <= tokens[1]:
            ax.axvline(crossing.tokens, color="k", ls="--", lw=1.2, label="supervised overtakes distillation")
            text = f"supervised better from {human_count(crossing.tokens, 2)}"
        elif math.isfinite(crossing.tokens):
            text = f"supervised better from {human_count(crossing.tokens, 2)} (off the axis)"
        else:
            text = "distillation stays better"
        ax.text(0.03, 0.96, text, transform=ax.transAxes, va="top", fontsize=plots.MIN_FONT_PT,
                bbox={"facecolor": "white", "alpha": 0.85, "lw": 0})  # fmt: skip
    if crossings:
        handles = {}
        for ax in fig.axes:
            handles.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
        for legend in fig.legends:
            legend.remove()
        fig.legend(list(handles.values()), list(handles), loc="outside upper center", ncols=2, frameon=False)
    return fig


def fig_crossover_gap(
    crossings: Sequence[Crossover],
    tokens: tuple[float, float] = (1e11, 1e18),
    percent_range: tuple[float, float] = (-1.5, 4.0),
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    points: int = 200,
):
    """How much the best teacher beats supervised training, relative to L~_S, against D_S (one curve per N_S).

    The grey band is ±rel_tol (the law's own accuracy): inside it the law cannot tell the two apart.
    Crosses mark the crossovers; the y axis is clipped to ``percent_range`` (small budgets give large gains).
    """
    D = np.geomspace(*tokens, points)
    fig, ax = plt.subplots(figsize=(6.6, 4.2), layout="constrained")
    rel_tol = crossings[0].rel_tol if crossings else 0.01
    ax.axhspan(
        -100 * rel_tol, 100 * rel_tol, color="0.88", lw=0, label=f"±{100 * rel_tol:g}% (law's accuracy)"
    )
    colors = plots.sequential(len(crossings), "flare")
    for color, c in zip(colors, crossings, strict=True):
        rel = 100 * best_case_gap(c.students, D, coef, supervised_coef) / supervised_loss(c.students, D)
        ax.plot(D, rel, color=color, lw=1.8, label=f"$N_S$ = {human_count(c.students)}")
        if math.isfinite(c.tokens):
            ax.plot(c.tokens, 0.0, "x", color=color, ms=8, mew=2)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_ylim(*percent_range)
    plots.log_axis(ax, "x")
    ax.set_xlabel("distillation tokens $D_S$")
    ax.set_ylabel(
        "gain of the best teacher over supervised (%)\n" + r"$(\tilde{L}_S - L_S(L^*_T)) / \tilde{L}_S$"
    )
    ax.legend(loc="upper right")
    return fig


def fig_infinite_data(
    students: tuple[float, float] = (1e8, 1e12),
    reference_student: float | None = None,
    checked_range: tuple[float, float] | None = (1e8, 1e11),
    rel_tol: float = 0.01,
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    points: int = 400,
):
    """Distillation with the optimal teacher at D_S = ∞ against the supervised limit L(N_S, ∞) (Fig. 40).

    The lower panel shows their relative difference with a ±``rel_tol`` band (the law's stated accuracy);
    ``checked_range`` shades the sizes over which the paper checked the agreement (App. E.6: 100M to 100B).
    """
    N = np.geomspace(*students, points)
    best = optimal_teacher(N, np.inf, coef, supervised_coef)
    floor = supervised_limit(N, supervised_coef)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.6, 5.4), sharex=True, gridspec_kw={"height_ratios": [3, 1.5]}, layout="constrained"
    )
    top.plot(N, floor, color="k", lw=2, label=r"supervised, $L(N_S, D = \infty)$")
    top.plot(N, best.student_loss, color="C1", lw=2, ls="--",
             label=r"distillation, $L_S(N_S, D_S = \infty, L^*_T)$")  # fmt: skip
    top.plot(N, best.teacher_loss, color="0.45", lw=1, ls=":", label="its optimal teacher $L^*_T$")
    top.axhline(supervised_coef.E, color="0.6", lw=0.8)
    top.annotate(f"$E$ = {supervised_coef.E:.3f}", (N[0], supervised_coef.E), xytext=(2, 3),
                 textcoords="offset points", fontsize=plots.MIN_FONT_PT, color="0.3")  # fmt: skip
    top.set_ylabel(f"cross-entropy ({LOSS_LABEL})")
    top.legend(loc="upper right")
    diff = 100.0 * (best.student_loss / floor - 1.0)
    bottom.axhspan(-100 * rel_tol, 100 * rel_tol, color="0.85", lw=0, label=f"±{100 * rel_tol:g}%")
    bottom.plot(N, diff, color="C1", lw=1.5)
    bottom.axhline(0.0, color="k", lw=0.8)
    bottom.set_ylabel("distillation vs\nsupervised (%)")
    bottom.set_xlabel("student size $N_S$ (non-embedding parameters)")
    bottom.legend(loc="lower left")
    for ax in (top, bottom):
        plots.log_axis(ax, "x")
        if checked_range is not None:
            ax.axvspan(*checked_range, color="C0", alpha=0.06, lw=0)
        if reference_student is not None:
            ax.axvline(reference_student, color="0.3", lw=0.8, ls="-.")
    if checked_range is not None:
        middle = np.sqrt(checked_range[0] * checked_range[1])
        top.text(middle, 0.1, "range checked in the paper", transform=top.get_xaxis_transform(), ha="center",
                 fontsize=plots.MIN_FONT_PT, color="C0")  # fmt: skip
    return fig


# --- numbers the page quotes --------------------------------------------------------------------------------


def numbers(
    reference_student: float,
    crossings: Sequence[Crossover],
    coef: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coef: SupervisedCoefficients = PAPER_SUPERVISED,
    checked_range: tuple[float, float] = (1e8, 1e11),
    points: int = 400,
) -> dict[str, float | str]:
    """Every value the page glues into its prose, computed from the laws: plain floats, and counts written
    like the paper's (198M, 1.82B; "none" where there is none)."""
    c, s = coef, supervised_coef
    out: dict[str, float | str] = {}
    for name in s.NAMES:
        out[f"sup_{name}"] = float(getattr(s, name))
    for name in c.NAMES:
        out[f"dist_{name}"] = float(getattr(c, name))
    out["sup_a"], out["sup_b"] = s.a, s.b
    out["dist_a"], out["dist_b"] = c.a, c.b
    out["sup_a_printed"] = s.intervals.get("a", (math.nan, math.nan))[0]
    out["c1_interval_low"], out["c1_interval_high"] = c.intervals.get("c1", (math.nan, math.nan))
    out["c1_f1"] = c.c1 * c.f1
    out["inv_f1"] = 1.0 / c.f1 if c.f1 else math.inf
    out["factor_at_d1"] = float(capacity_factor(c.d1, 1.0, c))
    # Ratios L_T / L~_S where the factor crosses 0.9, 0.5 and 0.1 (it is monotone: inverted in closed form).
    for level in (0.9, 0.5, 0.1):
        out[f"ratio_factor_{int(level * 100)}"] = _factor_inverse(level, c)
    out["ratio_factor_50_pct_below"] = 100.0 * (1.0 - _factor_inverse(0.5, c))

    # The law never puts a student below its teacher: the smallest L_S - L_T over a wide grid.
    grid_N = np.geomspace(1e7, 1e12, 24)[:, None, None]
    grid_D = np.geomspace(1e9, 1e14, 24)[None, :, None]
    grid_T = np.linspace(1.3, 4.0, 55)[None, None, :]
    out["min_student_minus_teacher"] = float(np.min(distillation_loss(grid_N, grid_D, grid_T, c, s) - grid_T))

    # The supervised law at a 1B model trained on 20 tokens per parameter and on infinite data.
    out["sup_1b_20"] = float(supervised_loss(1e9, 20e9, s))
    out["sup_1b_inf"] = float(supervised_limit(1e9, s))

    # The capacity gap of Fig. 4 for the 198M student, teachers on 20 tokens per parameter.
    N_S = 198e6
    for M_S in (20, 320):
        best = optimal_teacher(N_S, M_S * N_S, c, s)
        out[f"gap198_M{M_S}_LT"] = float(best.teacher_loss)
        out[f"gap198_M{M_S}_NT"] = human_count(
            float(supervised_params_for_loss(best.teacher_loss, 20.0, s)), 2
        )
        out[f"gap198_M{M_S}_LS"] = float(best.student_loss)
        out[f"gap198_M{M_S}_sup"] = float(supervised_loss(N_S, M_S * N_S, s))
    big = 14e9
    out["gap198_M320_LS_14B"] = float(
        distillation_loss(N_S, 320 * N_S, supervised_loss(big, 20 * big, s), c, s)
    )

    # Infinite data at the reference student.
    best = optimal_teacher(reference_student, np.inf, c, s)
    floor = float(supervised_limit(reference_student, s))
    out["ref_N"] = human_count(reference_student)
    out["ref_LT"] = float(best.teacher_loss)
    out["ref_distill"] = float(best.student_loss)
    out["ref_sup"] = floor
    out["ref_diff_pct"] = 100.0 * (float(best.student_loss) / floor - 1.0)
    # ... over the range the paper checked, and beyond it up to 1T.
    N = np.geomspace(1e8, 1e12, points)
    best = optimal_teacher(N, np.inf, c, s)
    diff = 100.0 * (best.student_loss / supervised_limit(N, s) - 1.0)
    N_in = np.geomspace(*checked_range, points)
    diff_in = 100.0 * (optimal_teacher(N_in, np.inf, c, s).student_loss / supervised_limit(N_in, s) - 1.0)
    worst = int(np.argmax(np.abs(diff_in)))
    out["inf_checked_max_pct"] = float(abs(diff_in[worst]))
    out["inf_checked_max_N"] = human_count(float(N_in[worst]), 2)
    out["inf_checked_lo"] = human_count(checked_range[0])
    out["inf_checked_hi"] = human_count(checked_range[1])
    out["inf_diff_1T_pct"] = float(diff[-1])
    out["inf_N_max"] = human_count(float(N[-1]))
    beyond = np.nonzero((N > 1e9) & (np.abs(diff) > 1.0))[0]
    out["inf_N_over_1pct"] = human_count(float(N[beyond[0]]), 2) if beyond.size else "none"
    at_floor = np.nonzero(best.teacher_loss <= s.E * (1 + 1e-6))[0]
    out["inf_N_teacher_at_E"] = human_count(float(N[at_floor[0]]), 2) if at_floor.size else "none"

    # The crossover, per student, and its conditioning.
    for crossing in crossings:
        key = human_count(crossing.students)
        out[f"cross_{key}"] = human_count(crossing.tokens, 2) if math.isfinite(crossing.tokens) else "none"
        out[f"cross_{key}_slope"] = abs(crossing.slope) if math.isfinite(crossing.slope) else math.nan
        out[f"cross_{key}_inf"] = crossing.gap_at_infinity
        out[f"cross_{key}_tol_from"] = human_count(crossing.within_tolerance_from, 2)
    slopes = [abs(x.slope) for x in crossings if math.isfinite(x.slope)]
    if slopes:
        out["cross_slope_min"], out["cross_slope_max"] = min(slopes), max(slopes)
        # A shift of the gap by delta moves the crossover by delta / slope decades: the factor in tokens for
        # a shift of 0.1% of the loss (a tenth of the law's stated accuracy).
        shift = 0.001
        worst_cross = min((x for x in crossings if math.isfinite(x.slope)), key=lambda x: abs(x.slope))
        delta = shift * float(supervised_loss(worst_cross.students, worst_cross.tokens, s))
        out["cross_shift_pct"] = 100.0 * shift
        out["cross_shift_factor"] = 10.0 ** (delta / abs(worst_cross.slope))
        out["cross_shift_N"] = human_count(worst_cross.students)
    if crossings:
        out["cross_rel_tol_pct"] = 100.0 * crossings[0].rel_tol
    return out
