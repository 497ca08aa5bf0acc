"""Chapter "Compute-optimal distillation": the paper's Sec. 5.3 and App. D.3-D.5 regenerated from the law.

The module reads in the order the page uses it: the chapter's parameters and the numbers the paper prints; the
solver's sweeps (:func:`sweep`; cached by :func:`distill_scaling.optimal.frontier`, so figures that share a
sweep solve it once); the paper's claims computed from them; the numbers the page glues into its prose
(:func:`numbers`); its tables; its figures. Every function of the law takes the coefficient set
(:class:`distill_scaling.fit_files.CoefficientSet`, the paper's or ours) as its first argument, so the same
page can be drawn with our fitted coefficients::

    from distill_scaling.chapters import compute_optimal as ch
    from distill_scaling.fit_files import load_coefficient_set
    fig = ch.fig_student_loss(load_coefficient_set("ours"), [3e8, 1e9], ch.compute_grid(1e20, 1e26, 8))

Why this module is long: it regenerates about twenty of the paper's figures (Sec. 5.3, App. D.3-D.5) from one
cached sweep of the solver; the figures share that sweep and its helpers, and chapter modules do not import
each other, so splitting the figures off would only copy the sweep's helpers into a second chapter module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .. import laws, optimal, plots
from ..fit_files import COEFFICIENT_SETS, CoefficientSet, load_coefficient_set
from ..flops import PAPER_N_VOCAB, paper_forward_flops
from ..params import Param
from ..presentation import and_join

PAPER_STUDENTS = [3e8, 5e8, 1e9, 3e9, 5e9, 1e10, 3e10, 5e10]


PARAMS: dict[str, Param] = {
    "coefficients": Param(
        "str",
        "coefficient set of the laws: 'paper' (Table 6) or 'ours' (data/fits/ours.json, from the study)",
        choices=COEFFICIENT_SETS,
        default="paper",
    ),
    "main_students": Param(
        "list[float]",
        "student sizes N_S of the main-text figures (Figs. 8 and 9)",
        min=1e7,
        max=1e13,
        default=[3e8, 1e9, 3e9, 1e10],
        profiles={"smoke": [1e9, 1e10]},
    ),
    "students": Param(
        "list[float]",
        "student sizes N_S of the appendix figures (Figs. 17-34)",
        min=1e7,
        max=1e13,
        default=PAPER_STUDENTS,
        profiles={"smoke": [3e8, 1e10]},
    ),
    "compute_min": Param(
        "float", "smallest total budget of the sweeps, FLOPs", min=1e15, max=1e30, default=1e20
    ),
    "compute_max": Param(
        "float", "largest total budget of the sweeps, FLOPs", min=1e15, max=1e30, default=1e26
    ),
    "points_per_decade": Param(
        "int",
        "budgets per decade of compute in the line figures",
        min=1,
        max=64,
        default=8,
        profiles={"smoke": 2, "full": 16},
    ),
    "contour_students": Param(
        "int",
        "student sizes (log-spaced over the appendix range) of the contour figures",
        min=3,
        max=200,
        default=17,
        profiles={"smoke": 3, "full": 33},
    ),
    "contour_points_per_decade": Param(
        "int",
        "budgets per decade of the contour figures",
        min=1,
        max=32,
        default=4,
        profiles={"smoke": 1, "full": 8},
    ),
    "strategy_resolution": Param(
        "int",
        "grid points per axis of the fixed-compute strategy panels (Fig. 16)",
        min=8,
        max=400,
        default=90,
        profiles={"smoke": 12},
    ),
    "strategy_students": Param(
        "list[float]",
        "student sizes N_S of the rows of the fixed-compute strategy figure (Fig. 16)",
        min=1e7,
        max=1e13,
        default=[1e9, 3e9, 1e10, 3e10],
        profiles={"smoke": [1e9, 1e10]},
    ),
    "strategy_budgets": Param(
        "list[float]",
        "total budgets C (FLOPs) of the columns of the fixed-compute strategy figure (Fig. 16)",
        min=1e15,
        max=1e30,
        default=[1e21, 1e22, 1e23, 1e24],
        profiles={"smoke": [1e21, 1e23]},
    ),
    "ratio_targets": Param(
        "int",
        "target student losses per panel of the compute and data ratio figures (Figs. 33-34)",
        min=3,
        max=200,
        default=28,
        profiles={"smoke": 4},
    ),
    "ratio_points_per_decade": Param(
        "int",
        "budgets per decade of the sweeps inverted for Figs. 33-34 and App. D.5",
        min=2,
        max=64,
        default=12,
        profiles={"smoke": 3},
    ),
    "slsqp_points": Param(
        "int",
        "(student, budget) points per scenario where the solver is cross-checked against SLSQP",
        min=0,
        max=20,
        default=3,
        profiles={"smoke": 1},
    ),
}


#: Fig. 16's rows (student sizes) and columns (total budgets).
FIG16_STUDENTS = (1e9, 3e9, 1e10, 3e10)
FIG16_BUDGETS = (1e21, 1e22, 1e23, 1e24)


#: Table 3 of the paper: (student sizes, budgets) -> the stated allocation, for the pretraining+inference
#: case.
TABLE3_ROWS = (
    ("small (<= 3B)", (3e8, 1e9, 3e9), "small (<= 1e21)", (1e20, 1e21), "mostly teacher pretraining"),
    (
        "small (<= 3B)",
        (3e8, 1e9, 3e9),
        "large (>= 1e25)",
        (1e25, 1e26),
        "student training and teacher inference about even, much less teacher pretraining",
    ),
    ("large (>= 10B)", (1e10, 3e10, 5e10), "small (<= 1e21)", (1e20, 1e21), "mostly student training"),
    ("large (>= 10B)", (1e10, 3e10, 5e10), "large (>= 1e25)", (1e25, 1e26), "all three about equal"),
)


#: The criterion each row of Table 3 is tested with (:func:`table3`).
TABLE3_CRITERIA = (
    "teacher pretraining > 50%",
    "student and logit shares within a factor 1.5, pretraining < half of the smaller",
    "student training > 50%",
    "every share >= 15%",
)


#: App. D.5's quoted configurations and ratios (attributed there to "pretrain + inference"):
#: (N_S, target L_S) -> (compute ratio, data ratio), as printed in the paper.
D5_QUOTED = {(5e8, 2.4): (0.75, 2 / 3), (1e10, 2.2): (0.5, 0.5)}


#: How close (relative) the law's ratios must come to App. D.5's quoted ones for a scenario to reproduce them.
D5_TOLERANCE = 0.25


#: Table 13 of the paper: name, N (non-embedding), C_fwd (exact forward FLOPs per token) and
#: the 2N + sigma approximation it prints, all in billions.
PAPER_TABLE13 = (
    ("103M", 0.1028, 0.3411, 0.3398),
    ("143M", 0.1434, 0.4487, 0.4471),
    ("198M", 0.1983, 0.587, 0.5853),
    ("266M", 0.2657, 0.7524, 0.7505),
    ("340M", 0.3398, 0.9333, 0.9312),
    ("435M", 0.4348, 1.158, 1.156),
    ("546M", 0.546, 1.417, 1.415),
    ("664M", 0.6636, 1.692, 1.689),
    ("810M", 0.8096, 2.025, 2.022),
    ("975M", 0.9755, 2.4, 2.397),
    ("1.15B", 1.147, 2.787, 2.784),
    ("1.35B", 1.355, 3.25, 3.247),
    ("1.59B", 1.586, 3.763, 3.759),
    ("1.82B", 1.821, 4.284, 4.28),
    ("2.1B", 2.102, 4.899, 4.895),
    ("2.41B", 2.41, 5.571, 5.567),
    ("2.72B", 2.718, 6.246, 6.241),
    ("3.08B", 3.082, 7.034, 7.03),
    ("3.48B", 3.478, 7.887, 7.883),
    ("3.87B", 3.87, 8.736, 8.731),
    ("4.33B", 4.329, 9.72, 9.715),
    ("4.82B", 4.823, 10.78, 10.77),
    ("5.31B", 5.309, 11.82, 11.81),
    ("5.87B", 5.873, 13.02, 13.01),
    ("6.48B", 6.476, 14.3, 14.29),
    ("7.07B", 7.066, 15.56, 15.55),
    ("7.75B", 7.747, 17.0, 16.99),
    ("8.47B", 8.47, 18.52, 18.52),
    ("9.17B", 9.173, 20.01, 20.01),
    ("10B", 10.05, 21.85, 21.84),
    ("10.8B", 10.84, 23.51, 23.5),
    ("11.7B", 11.66, 25.26, 25.25),
    ("12.6B", 12.61, 27.24, 27.23),
)


ALL = tuple(optimal.SCENARIOS)
COLORS = plots.SCENARIO_COLORS
LABELS = optimal.SCENARIO_LABELS


# --- The sweeps ---------------------------------------------------------------------------------------------


def coefficient_set(name: str) -> CoefficientSet:
    """The chapter's coefficient set by name (see :func:`distill_scaling.fit_files.load_coefficient_set`)."""
    return load_coefficient_set(name)


def compute_grid(compute_min: float, compute_max: float, points_per_decade: int) -> np.ndarray:
    """Log-spaced budgets from ``compute_min`` to ``compute_max`` with ``points_per_decade`` per decade."""
    if not 0 < compute_min < compute_max:
        raise ValueError(
            f"compute_min must be > 0 and below compute_max; got {compute_min!r}, {compute_max!r}"
        )
    decades = math.log10(compute_max / compute_min)
    return np.logspace(
        math.log10(compute_min), math.log10(compute_max), int(round(decades * points_per_decade)) + 1
    )


def sweep(cs: CoefficientSet, students: Sequence[float], compute: Sequence[float]) -> pd.DataFrame:
    """The compute-optimal frontier of every scenario (and supervised) for these students and budgets."""
    return optimal.frontier(
        students, compute, coefficients=cs.distillation, supervised_coefficients=cs.supervised
    )


def _rows(f: pd.DataFrame, scenario: str, student: float) -> pd.DataFrame:
    g = f[(f["scenario"] == scenario) & np.isclose(f["student_params"], student)]
    return g.sort_values("compute")


def contour_students(n: int, low: float = 3e8, high: float = 5e10) -> np.ndarray:
    """``n`` log-spaced student sizes over the appendix figures' range."""
    return np.geomspace(low, high, n)


def ratio_targets(cs: CoefficientSet, student: float, n: int, top: float = 2.6) -> np.ndarray:
    """``n`` target losses from just above the student's supervised floor L(N_S, inf) to ``top``."""
    floor = float(laws.supervised_limit(student, cs.supervised))
    return floor + (top - floor) * np.geomspace(2e-3, 1.0, n)


def ratios(
    cs: CoefficientSet, students: Sequence[float], n_targets: int, points_per_decade: int = 12
) -> pd.DataFrame:
    """Compute and data ratios (distillation / supervised) per scenario, student and target loss."""
    targets = np.array([ratio_targets(cs, N, n_targets) for N in students])
    N = np.asarray(students, float)[:, None]
    frames = []
    for s in ALL:
        r = optimal.efficiency_ratios(
            N,
            targets,
            s,
            coefficients=cs.distillation,
            supervised_coefficients=cs.supervised,
            points_per_decade=points_per_decade,
        )
        frames.append(
            pd.DataFrame(
                {
                    "scenario": s,
                    "student_params": np.broadcast_to(N, targets.shape).ravel(),
                    "loss": targets.ravel(),
                    "compute_ratio": r["compute_ratio"].ravel(),
                    "data_ratio": r["data_ratio"].ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


_RATIO_CACHE: dict = {}


def _ratios_cached(cs: CoefficientSet, students: tuple, n_targets: int, ppd: int) -> pd.DataFrame:
    key = (cs.name, cs.supervised, cs.distillation, students, n_targets, ppd)
    if key not in _RATIO_CACHE:
        _RATIO_CACHE[key] = ratios(cs, students, n_targets, ppd)
    return _RATIO_CACHE[key]


# --- The paper's claims, computed ---------------------------------------------------------------------------


def accounting_check(cs: CoefficientSet, students: Sequence[float], compute: Sequence[float]) -> float:
    """Largest relative gap between the budget and the sum of the Eq. 9 terms over a sweep (round-off)."""
    f = sweep(cs, students, compute)
    f = f[f["scenario"] != "supervised"].dropna(subset=["student_loss"])
    total = f["student_training_flops"] + f["teacher_logits_flops"] + f["teacher_pretraining_flops"]
    return float(np.max(np.abs(total / f["compute"] - 1)))


def solver_check(cs: CoefficientSet, points: int) -> pd.DataFrame:
    """Our nested solver against the paper's method (SLSQP on all three variables) at a few points."""
    cases = [(1e9, 1e22), (1e10, 1e24), (3e8, 1e20), (5e10, 1e25), (3e9, 1e21), (1e9, 1e26)][: max(points, 0)]
    rows = []
    for scenario in ALL:
        for N, C in cases:
            ours = optimal.optimal_distillation(
                N, C, scenario, coefficients=cs.distillation, supervised_coefficients=cs.supervised
            )
            ref = optimal.optimal_distillation_slsqp(
                N, C, scenario, coefficients=cs.distillation, supervised_coefficients=cs.supervised
            )
            rows.append(
                {
                    "scenario": scenario,
                    "N_S": plots.size_label(N),
                    "C (FLOPs)": f"{C:.0e}",
                    "L_S ours": ours.student_loss,
                    "L_S SLSQP": ref["student_loss"],
                    "SLSQP - ours": ref["student_loss"] - ours.student_loss,
                    "L_T ours": ours.teacher_loss,
                    "L_T SLSQP": ref.get("teacher_loss", np.nan),
                    "SLSQP starts converged": f"{ref['converged']}/{ref['starts']}",
                }
            )
    return pd.DataFrame(rows)


def regime_changes(f: pd.DataFrame) -> pd.DataFrame:
    """Where the optimum jumps between the law's two basins along a compute sweep."""
    g = f[f["regime_change"]].copy()
    return g[["scenario", "student_params", "compute", "teacher_loss", "alternative_teacher_loss"]]


def best_case_crossovers(
    cs: CoefficientSet, students: Sequence[float], compute_max: float = 1e28, compute_min: float = 1e20
) -> pd.DataFrame:
    """Claim (Sec. 5.3 i): best-case distillation meets supervised learning at some compute, growing with N_S.

    Searched from ``compute_min`` up to ``compute_max`` (beyond the paper's 1e26 so that the largest students'
    crossovers are found; at most the 1e17-token bound). One row per student: the first budget where
    supervised training becomes the better choice (NaN if none in range), the loss there, and the two
    infinite-data limits that decide whether a crossover must exist: distillation with the best teacher,
    min over L_T of L_S(N_S, inf, L_T), against the supervised floor L(N_S, inf).
    """
    rows = []
    for N in students:
        top = min(compute_max, float(optimal.compute_range(N)[1]) * (1 - 1e-9))
        c = optimal.crossings(
            [N],
            compute_grid(compute_min, top, 4),
            "best-case",
            coefficients=cs.distillation,
            supervised_coefficients=cs.supervised,
        )
        stop = c[~c["distillation_wins"].astype(bool)]
        first = stop.iloc[0] if len(stop) else None
        limit = laws.optimal_teacher(N, np.inf, cs.distillation, cs.supervised).student_loss
        rows.append(
            {
                "student_params": N,
                "crossover_compute": float(first["compute"]) if first is not None else np.nan,
                "loss_at_crossover": float(first["loss"]) if first is not None else np.nan,
                "distillation_limit": float(limit),
                "supervised_floor": float(laws.supervised_limit(N, cs.supervised)),
            }
        )
    return pd.DataFrame(rows)


def crossover_steps(cross: pd.DataFrame) -> tuple[int, int]:
    """From each student with a best-case crossover to the next larger one: in how many of these steps the
    crossover budget grows, and how many steps there are."""
    c = cross.dropna(subset=["crossover_compute"]).sort_values("student_params")
    steps = np.diff(c["crossover_compute"].to_numpy(float))
    return int(np.sum(steps > 0)), int(len(steps))


def _ranges(x: np.ndarray, mask: np.ndarray) -> str:
    """Runs of consecutive True in ``mask`` as text, e.g. "1e+20 to 2.4e+20, 3.2e+25 to 1e+26" ("none")."""
    runs, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if (not m or i == len(mask) - 1) and start is not None:
            end = i if m else i - 1
            runs.append(f"{x[start]:.2g} to {x[end]:.2g}" if end > start else f"{x[start]:.2g}")
            start = None
    return ", ".join(runs) if runs else "none"


def pretraining_advantage(
    cs: CoefficientSet, students: Sequence[float], compute: Sequence[float]
) -> pd.DataFrame:
    """Claim (Sec. 5.3 ii): counting teacher pretraining, distillation never beats supervised learning.

    Per scenario that counts pretraining and per student: the largest advantage of distillation over
    supervised training (supervised loss - distilled loss; > 0 means distillation wins), where it happens,
    the supervised run's tokens per parameter there, the budgets (FLOPs) where distillation wins, and the gap
    at the largest budget (distilled - supervised).
    """
    f = sweep(cs, students, compute)
    rows = []
    for s in ("teacher-pretraining", "teacher-pretraining+inference"):
        for N in students:
            g = _rows(f, s, N)
            adv = (g["supervised_loss"] - g["student_loss"]).to_numpy()
            i = int(np.nanargmax(adv))
            rows.append(
                {
                    "scenario": s,
                    "student_params": N,
                    "max_advantage": adv[i],
                    "at_compute": float(g["compute"].iloc[i]),
                    "supervised_tokens_per_param": float(g["supervised_tokens"].iloc[i]) / N,
                    "distillation_wins_at": _ranges(g["compute"].to_numpy(), adv > 0),
                    "gap_at_max_compute": float(-adv[-1]),
                }
            )
    return pd.DataFrame(rows)


def inference_token_bound(cs: CoefficientSet, students: Sequence[float], compute: Sequence[float]) -> dict:
    """Claim (App. D.4.4): in the teacher-inference scenario the teacher is overtrained to the token bound."""
    f = sweep(cs, students, compute)
    g = f[(f["scenario"] == "teacher-inference")].dropna(subset=["student_loss"])
    at = g["teacher_tokens"] >= optimal.BOUNDS[1] * (1 - 1e-9)
    return {
        "points": int(len(g)),
        "at_bound": int(at.sum()),
        "min_teacher_tokens": float(g["teacher_tokens"].min()),
        "teacher_tokens_per_param_min": float((g["teacher_tokens"] / g["teacher_params"]).min()),
    }


def _verdict(row: int, shares: np.ndarray) -> bool:
    """Whether the (student, logits, pretraining) compute shares agree with row ``row`` of Table 3."""
    student, logits, pre = shares
    if row == 0:
        return pre > 0.5
    if row == 1:
        return max(student, logits) / min(student, logits) < 1.5 and pre < 0.5 * min(student, logits)
    if row == 2:
        return student > 0.5
    return min(shares) >= 0.15


def table3(cs: CoefficientSet) -> pd.DataFrame:
    """Paper Table 3 (teacher pretraining + inference) against the law: shares per cell, verdict per row."""
    scenario = "teacher-pretraining+inference"
    sizes = sorted({n for row in TABLE3_ROWS for n in row[1]})
    budgets = sorted({c for row in TABLE3_ROWS for c in row[3]})
    f = optimal.frontier(
        sizes, budgets, [scenario], coefficients=cs.distillation, supervised_coefficients=cs.supervised
    )
    f = f[f["scenario"] == scenario]
    rows = []
    for k, (size_name, row_sizes, budget_name, row_budgets, claim) in enumerate(TABLE3_ROWS):
        cells = f[np.isin(f["student_params"], row_sizes) & np.isin(f["compute"], row_budgets)]
        for _, r in cells.iterrows():
            shares = np.array([r[c] for c, _, _ in plots.COMPUTE_SPLIT])
            rows.append(
                {
                    "row": k + 1,
                    "students": size_name,
                    "compute": budget_name,
                    "paper": claim,
                    "criterion": TABLE3_CRITERIA[k],
                    "N_S": plots.size_label(r["student_params"]),
                    "C (FLOPs)": f"{r['compute']:.0e}",
                    "student training (%)": 100 * shares[0],
                    "teacher logits (%)": 100 * shares[1],
                    "teacher pretraining (%)": 100 * shares[2],
                    "agrees": bool(_verdict(k, shares)),
                }
            )
    return pd.DataFrame(rows)


def verdict(agree: int, total: int) -> str:
    """One word for how many of a claim's cases agree with it: "holds" (all), "fails" (none), "partly holds"
    (some), "n/a" (no case to judge)."""
    if total == 0:
        return "n/a"
    return "holds" if agree == total else "fails" if agree == 0 else "partly holds"


def table3_summary(t: pd.DataFrame) -> pd.DataFrame:
    """One line per row of Table 3: how many cells agree with the paper's statement."""
    g = t.groupby(["row", "students", "compute", "paper", "criterion"], sort=True)["agrees"]
    out = g.agg(cells="size", agree="sum").reset_index()
    out["verdict"] = [verdict(a, c) for a, c in zip(out["agree"], out["cells"], strict=True)]
    return out


def appendix_d5(cs: CoefficientSet, points_per_decade: int = 12) -> pd.DataFrame:
    """App. D.5's quoted configurations: the law's compute and data ratios in every scenario vs the quote."""
    N = np.array([k[0] for k in D5_QUOTED])
    L = np.array([k[1] for k in D5_QUOTED])
    rows = []
    for s in ALL:
        r = optimal.efficiency_ratios(
            N,
            L,
            s,
            coefficients=cs.distillation,
            supervised_coefficients=cs.supervised,
            points_per_decade=points_per_decade,
        )
        for i, (c_q, d_q) in enumerate(D5_QUOTED.values()):
            rows.append(
                {
                    "N_S": plots.size_label(N[i]),
                    "target L_S": L[i],
                    "scenario": s,
                    "compute ratio (law)": float(r["compute_ratio"][i]),
                    "data ratio (law)": float(r["data_ratio"][i]),
                    "compute ratio (paper, 'pretrain + inference')": c_q,
                    "data ratio (paper)": d_q,
                }
            )
    order = {n: i for i, n in enumerate(plots.size_label(n) for n in N)}
    return (
        pd.DataFrame(rows)
        .sort_values("N_S", key=lambda c: c.map(order), kind="stable")
        .reset_index(drop=True)
    )


def d5_matching(d5: pd.DataFrame, tolerance: float = D5_TOLERANCE) -> list[str]:
    """The scenarios whose compute and data ratios both reproduce App. D.5's quoted ones, within ``tolerance``
    (relative)."""
    match = []
    for s, g in d5.groupby("scenario", sort=False):
        law = g[["compute ratio (law)", "data ratio (law)"]].to_numpy(float)
        quoted = g[["compute ratio (paper, 'pretrain + inference')", "data ratio (paper)"]].to_numpy(float)
        if np.all(np.abs(law / quoted - 1) <= tolerance):
            match.append(s)
    return match


# --- Numbers the page quotes --------------------------------------------------------------------------------


def vocabulary_numbers() -> dict[str, float]:
    """Largest absolute relative errors (%) of the formula against Table 13's two columns, per vocabulary."""
    t = vocabulary_table()
    out = {"vocab_used": float(PAPER_N_VOCAB)}
    for v in ("32768", "32168"):
        out[f"vocab_{v}_vs_exact"] = float(t[f"V={v} vs C_fwd (%)"].abs().max())
        out[f"vocab_{v}_vs_approx"] = float(t[f"V={v} vs 2N+σ (%)"].abs().max())
    return out


def numbers(
    cs: CoefficientSet,
    cross: pd.DataFrame,
    advantage: pd.DataFrame,
    token_bound: dict,
    t3: pd.DataFrame,
    d5: pd.DataFrame,
    solver: pd.DataFrame,
    frontier_table: pd.DataFrame,
) -> dict[str, float | int | str]:
    """Every value the page glues into its prose: plain numbers, and lists of names ("none" when empty)."""
    out: dict[str, float | int | str] = {"coefficients": cs.name, **vocabulary_numbers()}
    # The solver against SLSQP, and the jumps between the law's two optimal teachers.
    gap = solver["SLSQP - ours"].to_numpy(float)
    out["solver_points"] = int(len(solver))
    out["solver_max_abs_gap"] = float(np.nanmax(np.abs(gap))) if len(gap) else math.nan
    out["solver_slsqp_better_by"] = float(max(0.0, -np.nanmin(gap))) if len(gap) else math.nan
    out["regime_n"] = int(len(regime_changes(frontier_table)))
    # Claim (i): the best-case crossover.
    out["cross_found"] = int(cross["crossover_compute"].notna().sum())
    out["cross_students"] = int(len(cross))
    missing = cross.loc[cross["crossover_compute"].isna(), "student_params"]
    out["cross_missing"] = and_join([plots.size_label(n) for n in missing])
    out["cross_rises"], out["cross_steps"] = crossover_steps(cross)
    # Claim (ii): counting pretraining.
    wins = advantage["max_advantage"] > 0
    never = sorted(set(advantage["student_params"]) - set(advantage.loc[wins, "student_params"]))
    out["pre_never_wins"] = and_join([plots.size_label(n) for n in never])
    out["pre_exceptions"] = int(wins.sum())
    out["pre_pairs"] = int(len(advantage))
    out["pre_max_gap_at_top"] = float(advantage["gap_at_max_compute"].abs().max())
    # Claim (iii): teacher inference.
    out["tb_points"] = int(token_bound["points"])
    out["tb_at_bound"] = int(token_bound["at_bound"])
    out["tb_min_tokens"] = float(token_bound["min_teacher_tokens"])
    out["tb_min_ratio"] = float(token_bound["teacher_tokens_per_param_min"])
    # Claim (iv): Table 3, cells agreeing per row.
    for r in table3_summary(t3).itertuples():
        out[f"t3_row{r.row}_agree"], out[f"t3_row{r.row}_cells"] = int(r.agree), int(r.cells)
    # Claim (v): App. D.5.
    for r in d5.itertuples():
        key = f"d5_{r.N_S}_{r.scenario}".replace("+", "_").replace("-", "_")
        out[f"{key}_compute"] = float(r[4])
        out[f"{key}_data"] = float(r[5])
    out["d5_tolerance"] = D5_TOLERANCE
    out["d5_matching"] = and_join(d5_matching(d5))
    return out


# --- Tables -------------------------------------------------------------------------------------------------


#: How the tables' plain column names read on the page (MathJax renders the output cells):
#: ``presentation.styled(table, caption, names=NAMES)``.
NAMES = {
    "N_S": r"\(N_S\)",
    "L_T* after the jump": r"\(L_T^*\) after the jump",
    "L_T of the other optimum": r"\(L_T\) of the other optimum",
    "crossover_compute": "crossover budget (FLOPs)",
    "loss_at_crossover": "loss there (nats)",
    "distillation_limit": r"\(\min_{L_T} L_S(N_S, \infty, L_T)\)",
    "supervised_floor": r"\(L(N_S, \infty)\)",
}


def vocabulary_table() -> pd.DataFrame:
    """Table 13's forward FLOPs per token against the paper's formula with V = 32768 and with V = 32168."""
    rows = []
    for name, n_b, exact, approx in PAPER_TABLE13:
        N = n_b * 1e9
        f_32768 = float(paper_forward_flops(N, n_vocab=32768)) / 1e9
        f_32168 = float(paper_forward_flops(N, n_vocab=32168)) / 1e9
        rows.append(
            {
                "model": name,
                "N (B)": n_b,
                "C_fwd, Table 13 (GFLOPs)": exact,
                "2N+σ, Table 13": approx,
                "formula, V=32768": f_32768,
                "formula, V=32168": f_32168,
                "V=32768 vs C_fwd (%)": 100 * (f_32768 / exact - 1),
                "V=32168 vs C_fwd (%)": 100 * (f_32168 / exact - 1),
                "V=32768 vs 2N+σ (%)": 100 * (f_32768 / approx - 1),
                "V=32168 vs 2N+σ (%)": 100 * (f_32168 / approx - 1),
            }
        )
    return pd.DataFrame(rows)


def scenario_table() -> pd.DataFrame:
    """Paper Table 2: which teacher costs each scenario counts."""
    return pd.DataFrame(
        [
            {"scenario": s, "teacher logits δ_lgt": dl, "teacher pretraining δ_pre": dp}
            for s, (dl, dp) in optimal.SCENARIOS.items()
        ]
    )


def regime_table(f: pd.DataFrame) -> pd.DataFrame:
    """The jumps between the law's two optimal teachers along a sweep: where each happens (the first budget
    after it), the optimal teacher loss there, and the other local optimum, near the one before the jump."""
    g = regime_changes(f)
    return pd.DataFrame(
        {
            "scenario": g["scenario"].to_numpy(),
            "N_S": [plots.size_label(n) for n in g["student_params"]],
            "C after the jump (FLOPs)": g["compute"].to_numpy(float),
            "L_T* after the jump": g["teacher_loss"].to_numpy(float),
            "L_T of the other optimum": g["alternative_teacher_loss"].to_numpy(float),
        }
    )


def claims_summary(numbers: dict[str, float | int | str]) -> pd.DataFrame:
    """The paper's compute-optimal claims, what is counted for each, how many cases agree and the verdict
    (all from :func:`numbers`)."""
    n = numbers
    rows = [
        (
            "Best-case distillation meets supervised learning at some budget (Sec. 5.3 i)",
            "students with a crossover up to 1e28 FLOPs",
            n["cross_found"],
            n["cross_students"],
        ),
        (
            "... and that budget grows with N_S (Sec. 5.3 i)",
            "steps from one student with a crossover to the next larger one where the budget grows",
            n["cross_rises"],
            n["cross_steps"],
        ),
        (
            "Counting teacher pretraining, distillation is never better than supervised learning, except "
            "where they coincide at very large compute (Sec. 5.3 ii)",
            "(scenario, student) pairs where distillation wins at no budget",
            n["pre_pairs"] - n["pre_exceptions"],
            n["pre_pairs"],
        ),
        (
            "Teacher inference: the teacher is overtrained to the token bound (App. D.4.4)",
            "optima with D_T* on the 1e17 bound",
            n["tb_at_bound"],
            n["tb_points"],
        ),
    ]
    for k in range(1, 5):
        rows.append(
            (
                f"Table 3, row {k}: {TABLE3_ROWS[k - 1][4]}",
                f"cells with {TABLE3_CRITERIA[k - 1]}",
                n[f"t3_row{k}_agree"],
                n[f"t3_row{k}_cells"],
            )
        )
    table = pd.DataFrame(rows, columns=["the paper says", "counted", "agree", "of"])
    table["verdict"] = [verdict(a, t) for a, t in zip(table["agree"], table["of"], strict=True)]
    return table


# --- Figures ------------------------------------------------------------------------------------------------


def _panels(n: int, height: float = 2.4, legend_rows: int = 0, sharey: bool = False):
    """One panel per student, two to a row (:func:`plots.panel_grid`), room above for a legend's rows."""
    return plots.panel_grid(n, height=height, extra_height=0.3 * legend_rows, sharey=sharey)


def _legend_top(fig, handles, ncol: int = 2) -> None:
    """The figure's legend, outside the panels (at the top, clear of the shared x label)."""
    fig.legend(handles=handles, loc="outside upper center", ncol=ncol, frameon=False)


def fig_student_loss(cs: CoefficientSet, students: Sequence[float], compute: Sequence[float]):
    """Figs. 8 and 17: the compute-optimal student loss against compute, four scenarios and supervised."""
    f = sweep(cs, students, compute)
    fig, axes = _panels(len(students), legend_rows=3)
    for ax, N in zip(axes, students, strict=True):
        for s in ("supervised",) + ALL:
            g = _rows(f, s, N)
            plots.broken_line(
                ax,
                g["compute"],
                g["student_loss"],
                g["regime_change"],
                color=COLORS[s],
                ls="--" if s == "supervised" else "-",
                lw=1.4,
            )
        plots.sparse_log_axis(ax, "x")
        ax.set_title(f"$N_S$ = {plots.size_label(N)}")
    fig.supylabel("best student loss $L_S^*$ (nats)")
    fig.supxlabel("total compute $C$ (FLOPs)")
    _legend_top(fig, plots.scenario_handles(("supervised",) + ALL))
    return fig


CONFIG_COLORS = plots.CONFIG_COLORS


def fig_configurations(
    cs: CoefficientSet, scenario: str, students: Sequence[float], compute: Sequence[float]
):
    """Figs. 9/20/22/25/28: the optimal N_S, D_S*, N_T*, D_T* against total compute, one panel per student.

    In the best case the teacher is not identified; its curves (dashed) show the paper's convention, the
    supervised compute-optimal teacher reaching L_T*.
    """
    optimal.check_scenario(scenario)
    f = sweep(cs, students, compute)
    fig, axes = _panels(len(students), legend_rows=2, sharey=True)
    teacher_ls = "--" if scenario == "best-case" else "-"
    for ax, N in zip(axes, students, strict=True):
        g = _rows(f, scenario, N)
        x, br = g["compute"], g["regime_change"]
        ax.plot(x, np.full(len(g), N), color=CONFIG_COLORS["N_S"], lw=1.2)
        plots.broken_line(ax, x, g["student_tokens"], br, color=CONFIG_COLORS["D_S"], lw=1.4)
        plots.broken_line(ax, x, g["teacher_params"], br, color=CONFIG_COLORS["N_T"], lw=1.4, ls=teacher_ls)
        plots.broken_line(ax, x, g["teacher_tokens"], br, color=CONFIG_COLORS["D_T"], lw=1.4, ls=teacher_ls)
        plots.sparse_log_axis(ax, "x")
        plots.sparse_log_axis(ax, "y")
        ax.set_title(f"$N_S$ = {plots.size_label(N)}")
    fig.supylabel("optimal value (parameters or tokens)")
    fig.supxlabel("total compute $C$ (FLOPs)")
    names = {
        "N_S": "student size $N_S$",
        "D_S": "student tokens $D_S^*$",
        "N_T": "teacher size $N_T^*$",
        "D_T": "teacher tokens $D_T^*$",
    }
    handles = [
        Line2D([], [], color=CONFIG_COLORS[k], ls=teacher_ls if k in ("N_T", "D_T") else "-", label=v)
        for k, v in names.items()
    ]
    _legend_top(fig, handles)
    return fig


QUANTITIES = {
    "teacher_loss": ("optimal teacher loss $L_T^*$ (nats)", False),
    "student_tokens": ("optimal student tokens $D_S^*$", True),
    "teacher_tokens": ("optimal teacher tokens $D_T^*$", True),
    "teacher_params": ("optimal teacher size $N_T^*$", True),
}


def fig_quantity(cs: CoefficientSet, quantity: str, students: Sequence[float], compute: Sequence[float]):
    """Figs. 18 and 30-32: one optimal quantity against compute, four scenarios (and supervised tokens)."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}; got {quantity!r}")
    label, log = QUANTITIES[quantity]
    f = sweep(cs, students, compute)
    names = (("supervised",) if quantity == "student_tokens" else ()) + ALL
    fig, axes = _panels(len(students), legend_rows=math.ceil(len(names) / 2), sharey=log)
    for ax, N in zip(axes, students, strict=True):
        for s in names:
            g = _rows(f, s, N)
            plots.broken_line(
                ax,
                g["compute"],
                g[quantity],
                g["regime_change"],
                color=COLORS[s],
                ls="--" if s == "supervised" else "-",
                lw=1.4,
            )
        plots.sparse_log_axis(ax, "x")
        if log:
            plots.sparse_log_axis(ax, "y")
        ax.set_title(f"$N_S$ = {plots.size_label(N)}")
    fig.supylabel(label)
    fig.supxlabel("total compute $C$ (FLOPs)")
    _legend_top(fig, plots.scenario_handles(names))
    return fig


CONTOUR_FIELDS = {
    "student_loss": ("$L_S^*$ (nats)", False),
    "teacher_loss": ("$L_T^*$ (nats)", False),
    "student_tokens": ("$\\log_{10} D_S^*$", True),
    "teacher_params": ("$\\log_{10} N_T^*$", True),
    "teacher_tokens": ("$\\log_{10} D_T^*$", True),
}


def fig_contours(cs: CoefficientSet, scenario: str, students: Sequence[float], compute: Sequence[float]):
    """Figs. 19/21/24/27: L_S*, L_T*, D_S*, N_T*, D_T* as contours over total compute and student size.

    In the teacher-inference scenario D_T* sits on the token bound everywhere, so (like the paper) that panel
    is left out.
    """
    optimal.check_scenario(scenario)
    f = sweep(cs, students, compute)
    g = f[f["scenario"] == scenario]
    fields = [k for k in CONTOUR_FIELDS if not (scenario == "teacher-inference" and k == "teacher_tokens")]
    fig, axes = plots.panel_grid(len(fields), height=2.7, sharex=True, sharey=True)
    C = np.sort(np.unique(g["compute"]))
    N = np.sort(np.unique(g["student_params"]))
    for ax, key in zip(axes, fields, strict=True):
        label, log = CONTOUR_FIELDS[key]
        Z = g.pivot(index="student_params", columns="compute", values=key).loc[N, C].to_numpy(float)
        Z = np.log10(Z) if log else Z
        cf = ax.contourf(C, N, Z, levels=14, cmap="viridis")
        cl = ax.contour(C, N, Z, levels=cf.levels[::2], colors="white", linewidths=0.6)
        ax.clabel(cl, cl.levels[::2], fmt="%.2f" if not log else "%.1f")
        plots.sparse_log_axis(ax, "x")
        plots.sparse_log_axis(ax, "y")
        ax.set_title(label)
        fig.colorbar(cf, ax=ax, shrink=0.9)
    fig.supylabel("student size $N_S$")
    fig.supxlabel("total compute $C$ (FLOPs)")
    return fig


def fig_allocations(cs: CoefficientSet, scenario: str, students: Sequence[float], compute: Sequence[float]):
    """Figs. 23/26/29: the compute-optimal split of the budget (Eq. 9's three terms, %) against compute."""
    optimal.check_scenario(scenario)
    f = sweep(cs, students, compute)
    fig, axes = _panels(len(students), legend_rows=2, sharey=True)
    for ax, N in zip(axes, students, strict=True):
        g = _rows(f, scenario, N).dropna(subset=["student_loss"])
        ax.stackplot(
            g["compute"],
            *(100 * g[k].to_numpy() for k, _, _ in plots.COMPUTE_SPLIT),
            colors=[c for _, _, c in plots.COMPUTE_SPLIT],
            alpha=0.85,
        )
        plots.sparse_log_axis(ax, "x")
        ax.set_ylim(0, 100)
        ax.set_title(f"$N_S$ = {plots.size_label(N)}")
    fig.supylabel("share of the budget (%)")
    fig.supxlabel("total compute $C$ (FLOPs)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, label=lab) for _, lab, c in plots.COMPUTE_SPLIT]
    _legend_top(fig, handles, ncol=3)
    return fig


def fig_strategy_grid(
    cs: CoefficientSet,
    students: Sequence[float] = FIG16_STUDENTS,
    budgets: Sequence[float] = FIG16_BUDGETS,
    resolution: int = 90,
    teacher_range: tuple[float, float] = (1e9, 1e12),
    max_teacher_loss: float = 2.5,
):
    """Fig. 16: student loss over teacher size and teacher loss at a fixed total budget with teacher logits.

    The student gets D_S = C / (3 F(N_S) + F(N_T)) tokens (paper Eq. 27, delta_lgt = 1, pretraining not
    counted). Red: the best teacher loss for each teacher size among the losses that size can reach within the
    1e17-token bound (solid), and the law's unconstrained minimiser where it differs (dashed). Grey hatching:
    losses a teacher of that size cannot reach. One colour scale for all panels.
    """
    sup, dist = cs.supervised, cs.distillation
    NT = np.geomspace(*teacher_range, resolution)
    LT = np.linspace(sup.E + 1e-3, max_teacher_loss, resolution)
    floor = laws.supervised_loss(NT, optimal.BOUNDS[1], sup)
    panels = {}
    for N in students:
        for C in budgets:
            D_S = C / (3 * paper_forward_flops(N) + paper_forward_flops(NT))
            ok = D_S >= optimal.BOUNDS[0]
            D = np.where(ok, D_S, optimal.BOUNDS[0])
            Z = np.where(ok[None, :], laws.distillation_loss(N, D[None, :], LT[:, None], dist, sup), np.nan)
            free = laws.optimal_teacher(N, D, dist, sup, bounds=(LT[0], LT[-1])).teacher_loss
            # The best reachable loss: the free minimiser where a teacher of that size reaches it, otherwise
            # the best grid point among the losses it can reach.
            masked = np.where(LT[:, None] >= floor[None, :], np.nan_to_num(Z, nan=np.inf), np.inf)
            on_grid = LT[np.argmin(masked, axis=0)]
            reachable = np.where(free >= floor, free, on_grid)
            panels[N, C] = (Z, ok, free, reachable)
    values = np.concatenate([z[np.isfinite(z)] for z, _, _, _ in panels.values()])
    levels = np.linspace(values.min(), np.percentile(values, 99), 16)
    fig, axes = plots.panel_grid(len(panels), height=2.2, sharex=True, sharey=True)
    for ax, (N, C) in zip(axes, panels, strict=True):
        Z, ok, free, reachable = panels[N, C]
        cf = ax.contourf(NT, LT, Z, levels=levels, cmap="viridis", extend="max")
        ax.contour(NT, LT, Z, levels=levels[::3], colors="white", linewidths=0.5)
        ax.fill_between(NT, LT[0], np.minimum(floor, LT[-1]), color="0.6", alpha=0.5, hatch="//", lw=0)
        ax.plot(NT[ok], reachable[ok], color="red", lw=1.4)
        differs = ok & (np.abs(free - reachable) > 1e-6)
        ax.plot(NT[differs], free[differs], color="red", lw=0.9, ls="--")
        plots.sparse_log_axis(ax, "x")
        ax.set_title(f"$N_S$ = {plots.size_label(N)}, $C$ = {plots.tex_power(C)} FLOPs")
    fig.colorbar(
        cf, ax=axes, location="top", shrink=0.8, aspect=40, label="student loss $L_S$ (nats)", format="%.2f"
    )
    fig.supylabel("teacher loss $L_T$ (nats)")
    fig.supxlabel("teacher size $N_T$")
    return fig


def fig_ratios(
    cs: CoefficientSet, kind: str, students: Sequence[float], n_targets: int, points_per_decade: int = 12
):
    """Figs. 33 (``kind="compute"``) and 34 (``kind="data"``): distillation over supervised, per target."""
    if kind not in ("compute", "data"):
        raise ValueError(f"kind must be 'compute' or 'data'; got {kind!r}")
    r = _ratios_cached(cs, tuple(students), n_targets, points_per_decade)
    fig, axes = _panels(len(students), legend_rows=2, sharey=True)
    for ax, N in zip(axes, students, strict=True):
        for s in ALL:
            g = r[(r["scenario"] == s) & np.isclose(r["student_params"], N)]
            y = g[f"{kind}_ratio"].to_numpy()
            ax.plot(g["loss"], np.where(y > 0, y, np.nan), color=COLORS[s], lw=1.4)
        ax.axhline(1.0, color="0.3", ls="--", lw=0.8)
        ax.axvline(float(laws.supervised_limit(N, cs.supervised)), color="0.3", ls=":", lw=0.8)
        plots.sparse_log_axis(ax, "y")
        ax.set_title(f"$N_S$ = {plots.size_label(N)}")
    fig.supylabel(f"distillation {kind} / supervised {kind}")
    fig.supxlabel("target student loss $L_S$ (nats)")
    _legend_top(fig, plots.scenario_handles(ALL))
    return fig
