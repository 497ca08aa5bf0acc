"""Compute-optimal supervised training and distillation in the paper's four scenarios (the planner built on
it is :mod:`distill_scaling.planner`).

The problem (paper Sec. 5.3, App. D.4): for a student of ``N_S`` non-embedding parameters and a total budget
of ``C`` FLOPs, choose the distillation tokens ``D_S`` and the teacher (``N_T`` parameters trained on ``D_T``
tokens, so ``L_T = L(N_T, D_T)``) that minimise the student loss ``L_S(N_S, D_S, L_T)`` (Eq. 8) subject to::

    3 F(N_S) D_S + F(N_T) (delta_lgt D_S + delta_pre 3 D_T) = C          (Eq. 9)

with ``N_T, D_S, D_T`` in the paper's bounds [1e6, 1e17] and the switches of the scenario (Table 2).

How it is solved (robustly, and continuously in C). The paper ran SLSQP on all three variables. Here the
equality constraint eliminates ``D_S``, and two facts of the law reduce the rest to nested one-dimensional
searches that can be run exhaustively:

1. the student sees the teacher only through ``L_T``; and
2. at a fixed ``L_T``, ``L_S`` falls strictly as ``D_S`` grows (both the power term and the capacity factor
   fall with ``D_S``).

So for each candidate ``L_T`` the best teacher is the point of the iso-loss curve ``L(N_T, D_T) = L_T`` that
leaves the most tokens to the student (inner search over ``log N_T``), and the outer search runs over ``L_T``.
Each search evaluates a dense grid first (every start at once, vectorised over all problems), keeps up to
three local minima of the outer grid, and polishes each by golden-section search to ~1e-10; the grid's end
points are kept so that an optimum on a bound (the teacher-inference ``D_T = 1e17``) is returned exactly.
:func:`optimal_distillation_slsqp` is the paper's method, kept to cross-check this one.

Identification. In the best case the teacher costs nothing, so any ``(N_T, D_T)`` reaching ``L*_T`` is
optimal; the result says so (``identified = False``) and, as the paper does, reports the supervised
compute-optimal teacher reaching ``L*_T``.

Units: parameters and tokens are raw counts, compute in FLOPs, losses in nats per token.

Why this module is long: the supervised optimum, the four scenarios' solver, the sweeps built on it and the
paper's SLSQP cross-check share one problem definition and one set of bounds; apart, each would re-derive
them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import laws
from .flops import paper_forward_flops
from .laws import (
    PAPER_DISTILLATION,
    PAPER_SUPERVISED,
    DistillationCoefficients,
    SupervisedCoefficients,
)

#: scenario -> (delta_lgt, delta_pre), paper Table 2.
SCENARIOS: dict[str, tuple[int, int]] = {
    "best-case": (0, 0),
    "teacher-inference": (1, 0),
    "teacher-pretraining": (0, 1),
    "teacher-pretraining+inference": (1, 1),
}

SCENARIO_LABELS: dict[str, str] = {
    "best-case": "Distillation (best case)",
    "teacher-inference": "Distillation (teacher inference)",
    "teacher-pretraining": "Distillation (teacher pretraining)",
    "teacher-pretraining+inference": "Distillation (teacher pretraining + inference)",
    "supervised": "Supervised",
}

#: The paper's optimiser bounds on N_T, D_S and D_T (App. D.4): [1M, 100P].
BOUNDS: tuple[float, float] = (1e6, 1e17)


@dataclass(frozen=True)
class SearchSettings:
    """Grid points and golden-section steps of each stage of the solver (see the module docstring).

    One place for them because the explorer page's JavaScript port of the solver reads them from the data
    exported at build time (:mod:`distill_scaling.explorer`): both searches must be the same to agree.
    """

    #: The outer search over the teacher loss: grid points, local minima kept, golden-section steps.
    outer_grid: int = 160
    candidates: int = 3
    outer_iters: int = 32
    #: Teacher sizes per teacher loss on the outer grid (the grid stage only locates the basins).
    grid_teachers: int = 64
    #: The inner search for the best teacher at each teacher loss the outer golden section tries.
    inner_grid: int = 16
    inner_iters: int = 30
    #: The inner search for the teacher that is reported (and for :func:`loss_profile`): finer.
    final_grid: int = 48
    final_iters: int = 80


SEARCH = SearchSettings()

ForwardFlops = Callable[[ArrayLike], np.ndarray]

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


# --- Input checks ------------------------------------------------------------------------------------------


def positive_finite(name: str, value: ArrayLike, what: str) -> np.ndarray:
    """``value`` as a float array, or ValueError naming ``name`` (and ``what`` it measures) if an entry is
    not finite and > 0."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive finite number ({what}); got {value!r}") from None
    bad = ~(np.isfinite(arr) & (arr > 0))
    if np.any(bad):
        first = arr[bad].flat[0] if arr.ndim else float(arr)
        raise ValueError(f"{name} must be a positive finite number ({what}); got {first!r}")
    return arr


def check_scenario(scenario: str) -> tuple[int, int]:
    """(delta_lgt, delta_pre) of ``scenario``, or ValueError listing the allowed names."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(map(repr, SCENARIOS))}; got {scenario!r}")
    return SCENARIOS[scenario]


def _check_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(b) for b in bounds)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"bounds must satisfy 0 < low < high < inf; got {bounds!r}")
    return lo, hi


def compute_range(
    student_params: ArrayLike,
    scenario: str = "best-case",
    *,
    forward_flops: ForwardFlops = paper_forward_flops,
    bounds: tuple[float, float] = BOUNDS,
) -> tuple[np.ndarray, np.ndarray]:
    """The budgets C for which ``scenario`` has a feasible plan: ``(low, high)`` FLOPs.

    ``low`` trains the student on the minimum ``bounds[0]`` tokens with the cheapest teacher the scenario must
    pay for (``N_T = D_T = bounds[0]``); ``high`` is what the student alone can spend within ``bounds[1]``
    tokens (beyond it even supervised training cannot use the budget, see :func:`optimal_supervised`).
    """
    dl, dp = check_scenario(scenario)
    lo, hi = _check_bounds(bounds)
    F_S = forward_flops(positive_finite("student_params", student_params, "non-embedding parameters"))
    F_min = forward_flops(lo)
    low = (3.0 * F_S + dl * F_min) * lo + dp * 3.0 * F_min * lo
    return np.asarray(low, float), np.asarray(3.0 * F_S * hi, float)


def _check_budget(
    student_params: np.ndarray,
    compute: np.ndarray,
    scenario: str,
    forward_flops: ForwardFlops,
    bounds: tuple[float, float],
) -> None:
    low, high = compute_range(student_params, scenario, forward_flops=forward_flops, bounds=bounds)
    N, C, low, high = np.broadcast_arrays(student_params, compute, low, high)
    small, large = C < low, C > high
    if np.any(small):
        i = np.flatnonzero(small.ravel())[0]
        teacher = "" if scenario == "best-case" else " and the smallest teacher"
        raise ValueError(
            f"compute = {C.flat[i]:.3g} FLOPs is too small to train a student of {N.flat[i]:.3g} "
            f"parameters at all in scenario {scenario!r}: it needs at least {low.flat[i]:.3g} FLOPs "
            f"({bounds[0]:.0e} student tokens{teacher})"
        )
    if np.any(large):
        i = np.flatnonzero(large.ravel())[0]
        raise ValueError(
            f"compute = {C.flat[i]:.3g} FLOPs is more than a student of {N.flat[i]:.3g} parameters can spend "
            f"within the {bounds[1]:.0e}-token bound (at most {high.flat[i]:.3g} FLOPs)"
        )


# --- Supervised ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisedOptimum:
    """The supervised run of a given size that spends exactly the budget: ``D = C / (3 F(N))``."""

    student_params: np.ndarray | float
    compute: np.ndarray | float
    tokens: np.ndarray | float
    loss: np.ndarray | float


def _scalarise(value: np.ndarray) -> np.ndarray | float:
    return float(value) if np.ndim(value) == 0 else value


def optimal_supervised(
    student_params: ArrayLike,
    compute: ArrayLike,
    *,
    coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
) -> SupervisedOptimum:
    """Loss and tokens of supervised training of ``student_params`` with ``compute`` FLOPs (broadcast).

    The model size is given, so the only choice is the token count, D = C / (3 F(N)); this is the baseline the
    paper compares distillation with at equal total compute.
    """
    N = positive_finite("student_params", student_params, "non-embedding parameters")
    C = positive_finite("compute", compute, "FLOPs")
    N, C = np.broadcast_arrays(N, C)
    D = C / (3.0 * forward_flops(N))
    L = laws.supervised_loss(N, D, coefficients)
    return SupervisedOptimum(*(_scalarise(np.asarray(v, float)) for v in (N, C, D, L)))


def supervised_tokens_for_loss(
    student_params: ArrayLike, loss: ArrayLike, coefficients: SupervisedCoefficients = PAPER_SUPERVISED
) -> np.ndarray:
    """Tokens D with L(N, D) = ``loss`` (inf where ``loss`` is at or below the size's floor L(N, inf))."""
    N = positive_finite("student_params", student_params, "non-embedding parameters")
    L = positive_finite("loss", loss, "nats per token")
    c = coefficients
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.maximum(L - c.E, 0.0) ** (1.0 / c.gamma) - c.A * N ** (-c.alpha)
        return np.where(r > 0, (c.B / np.where(r > 0, r, 1.0)) ** (1.0 / c.beta), np.inf)


# --- Vectorised one-dimensional minimisation ----------------------------------------------------------------


def _golden(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray, iters: int) -> np.ndarray:
    """Elementwise golden-section minimisation of ``f`` on [a, b]; returns the bracket's midpoint."""
    c, d = b - _INV_PHI * (b - a), a + _INV_PHI * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        left = fc <= fd
        a, b = np.where(left, a, c), np.where(left, d, b)
        new = np.where(left, b - _INV_PHI * (b - a), a + _INV_PHI * (b - a))
        f_new = f(new)
        c, d = np.where(left, new, d), np.where(left, c, new)
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
    return (a + b) / 2.0


def _grid_brackets(
    X: np.ndarray, V: np.ndarray, candidates: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brackets [left, right] around up to ``candidates`` local minima of grid values ``V`` (grid on axis 0).

    Returns ``(left, right, found)`` with a leading axis of length ``candidates`` ordered by grid value;
    ``found`` is False where there is no such minimum (fewer local minima, or nothing finite).
    """
    V = np.where(np.isnan(V), np.inf, V)
    X = np.broadcast_to(X, V.shape)
    n = V.shape[0]
    padded = np.concatenate([np.full_like(V[:1], np.inf), V, np.full_like(V[:1], np.inf)])
    # A grid local minimum: no larger than its left neighbour, smaller than its right one (plateaus count
    # once).
    is_min = (V <= padded[:-2]) & (V < padded[2:]) & np.isfinite(V)
    is_min |= (V == V.min(axis=0)) & np.isfinite(V) & ~is_min.any(axis=0)  # flat all the way to a bound
    ranked = np.argsort(np.where(is_min, V, np.inf), axis=0, kind="stable")[:candidates]
    found = np.take_along_axis(is_min, ranked, axis=0)
    left = np.take_along_axis(X, np.maximum(ranked - 1, 0), axis=0)
    right = np.take_along_axis(X, np.minimum(ranked + 1, n - 1), axis=0)
    return left, right, found


def _polish(
    f: Callable[[np.ndarray], np.ndarray], left: np.ndarray, right: np.ndarray, found: np.ndarray, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Golden section inside each bracket, keeping the best of the result and the bracket's ends.

    Keeping the ends means a minimum on a bound is returned on the bound exactly. Returns ``(x, value)``
    sorted by value along axis 0 (value inf where ``found`` is False).
    """
    x = _golden(f, left, right, iters)
    options = np.stack([x, left, right])
    values = f(options)
    values = np.where(np.isnan(values), np.inf, values)
    pick = np.argmin(values, axis=0)[None]
    x = np.take_along_axis(options, pick, axis=0)[0]
    value = np.where(found, np.take_along_axis(values, pick, axis=0)[0], np.inf)
    order = np.argsort(value, axis=0, kind="stable")
    return np.take_along_axis(x, order, axis=0), np.take_along_axis(value, order, axis=0)


def _minimise(
    f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, *, grid: int, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Global minimum of ``f`` elementwise on [lo, hi]: a grid of ``grid`` points, then golden section.

    ``f`` must accept arrays with extra leading axes (the grid axis). Returns ``(x, value)``.
    """
    t = np.linspace(0.0, 1.0, grid).reshape((grid,) + (1,) * np.ndim(lo))
    X = lo + (hi - lo) * t
    left, right, found = _grid_brackets(X, f(X), 1)
    x, value = _polish(f, left, right, found, iters)
    return x[0], value[0]


# --- Coefficients stacked per problem (bootstrap samples solved as one batch) ------------------------------


class _StackedSupervised(SupervisedCoefficients):
    """Supervised coefficients whose fields are arrays, one entry per problem (each entry validated)."""

    def __post_init__(self) -> None:  # the entries were validated as scalar sets before stacking
        pass


class _StackedDistillation(DistillationCoefficients):
    """Distillation coefficients whose fields are arrays, one entry per problem (each entry validated)."""

    def __post_init__(self) -> None:
        pass


def stack_coefficients(coefs: Sequence[SupervisedCoefficients | DistillationCoefficients]):
    """One coefficient object whose fields are arrays over ``coefs`` (the law functions broadcast them)."""
    cls = _StackedSupervised if isinstance(coefs[0], SupervisedCoefficients) else _StackedDistillation
    return cls(**{n: np.array([float(getattr(c, n)) for c in coefs]) for n in coefs[0].NAMES})


def _take(coef, idx: np.ndarray):
    """The entries ``idx`` of stacked coefficients (plain coefficient sets are shared and returned as is)."""
    if isinstance(coef, (_StackedSupervised, _StackedDistillation)):
        return type(coef)(**{n: getattr(coef, n)[idx] for n in coef.NAMES})
    return coef


# --- The solver --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """One flat batch of problems: arrays of shape (P,), broadcast against leading search axes."""

    N_S: np.ndarray
    C: np.ndarray
    F_S: np.ndarray
    delta_lgt: int
    delta_pre: int
    dist: DistillationCoefficients
    sup: SupervisedCoefficients
    flops: ForwardFlops
    log_lo: float
    log_hi: float

    @property
    def teacher_counted(self) -> bool:
        return bool(self.delta_lgt or self.delta_pre)

    def take(self, idx: np.ndarray) -> _Problem:
        """The sub-batch of problems ``idx``."""
        return _Problem(
            **{
                **self.__dict__,
                "N_S": self.N_S[idx],
                "C": self.C[idx],
                "F_S": self.F_S[idx],
                "dist": _take(self.dist, idx),
                "sup": _take(self.sup, idx),
            }
        )


def _iso_loss_range(s: np.ndarray, p: _Problem) -> tuple[np.ndarray, np.ndarray]:
    """log10 N_T range of the iso-loss curve L(N_T, D_T) = L_T within the bounds; s = (L_T - E)^(1/gamma).

    The low end is where D_T reaches its upper bound, the high end where it reaches its lower bound (or N_T
    its upper bound). Empty (lo > hi) or NaN where no teacher within the bounds reaches L_T.
    """
    c = p.sup
    with np.errstate(divide="ignore", invalid="ignore"):
        r_hi = s - c.B * 10.0 ** (-c.beta * p.log_hi)  # what the size term may be when D_T = max
        n_lo = np.where(r_hi > 0, (np.log10(c.A) - np.log10(np.where(r_hi > 0, r_hi, 1.0))) / c.alpha, np.nan)
        r_lo = s - c.B * 10.0 ** (-c.beta * p.log_lo)
        n_hi = np.where(
            r_lo > 0, (np.log10(c.A) - np.log10(np.where(r_lo > 0, r_lo, 1.0))) / c.alpha, p.log_hi
        )
    return np.maximum(n_lo, p.log_lo), np.minimum(n_hi, p.log_hi)


def _teacher_log_tokens(log_n: np.ndarray, s: np.ndarray, p: _Problem) -> np.ndarray:
    """log10 D_T on the iso-loss curve at log10 N_T (NaN where N_T cannot reach the loss)."""
    c = p.sup
    r = s - c.A * 10.0 ** (-c.alpha * log_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_d = (np.log10(c.B) - np.log10(np.where(r > 0, r, np.nan))) / c.beta
    return np.clip(log_d, p.log_lo, p.log_hi)  # round-off at the curve's ends; NaN stays NaN


def _student_tokens(log_n: np.ndarray, log_d: np.ndarray, p: _Problem) -> np.ndarray:
    """D_S left by the budget once the teacher's counted costs are paid (Eq. 9 solved for D_S)."""
    F_T = p.flops(10.0**log_n)
    spend = p.C - p.delta_pre * 3.0 * F_T * 10.0**log_d
    return spend / (3.0 * p.F_S + p.delta_lgt * F_T)


def _inner_objective(log_n: np.ndarray, s: np.ndarray, p: _Problem) -> np.ndarray:
    """What the teacher choice at a fixed L_T minimises: -log D_S, or (best case) its own compute."""
    log_d = _teacher_log_tokens(log_n, s, p)
    if not p.teacher_counted:
        # Nothing is counted: the paper's convention picks the supervised compute-optimal teacher.
        return np.log10(p.flops(10.0**log_n)) + log_d
    D_S = _student_tokens(log_n, log_d, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(D_S > 0, -np.log10(np.where(D_S > 0, D_S, 1.0)), np.inf)


def _best_teacher(
    s: np.ndarray, p: _Problem, *, grid: int = SEARCH.inner_grid, iters: int = SEARCH.inner_iters
):
    """(log10 N_T, log10 D_T, D_S) of the best teacher reaching each loss (s = (L_T - E)^(1/gamma))."""
    lo, hi = _iso_loss_range(s, p)
    ok = np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)
    lo, hi = np.where(ok, lo, p.log_lo), np.where(ok, hi, p.log_lo)
    log_n, value = _minimise(lambda x: _inner_objective(x, s, p), lo, hi, grid=grid, iters=iters)
    log_n = np.where(ok & np.isfinite(value), log_n, np.nan)
    log_d = _teacher_log_tokens(log_n, s, p)
    if p.teacher_counted:
        D_S = _student_tokens(log_n, log_d, p)
    else:
        D_S = np.broadcast_to(p.C / (3.0 * p.F_S), log_n.shape)
    return log_n, log_d, D_S


def _loss_given_tokens(D_S: np.ndarray, L_T: np.ndarray, p: _Problem) -> np.ndarray:
    """L_S where D_S is within the bounds, inf elsewhere (infeasible)."""
    lo, hi = 10.0**p.log_lo, 10.0**p.log_hi
    ok = np.isfinite(D_S) & (D_S >= lo * (1 - 1e-12)) & (D_S <= hi * (1 + 1e-12))
    D_S = np.where(ok, np.clip(D_S, lo, hi), lo)
    N_S = np.broadcast_to(p.N_S, D_S.shape)
    L_S = laws.distillation_loss(N_S, D_S, np.broadcast_to(L_T, D_S.shape), p.dist, p.sup)
    return np.where(ok, L_S, np.inf)


def _student_loss(x: np.ndarray, p: _Problem) -> np.ndarray:
    """The outer objective: L_S at the teacher loss L_T = E + exp(x), with the best teacher for that loss."""
    s = np.exp(x / p.sup.gamma)
    if p.teacher_counted:
        D_S = _best_teacher(s, p)[2]
    else:
        # No teacher cost: D_S does not depend on the teacher; only whether some teacher reaches L_T matters.
        lo, hi = _iso_loss_range(s, p)
        D_S = np.where(np.isfinite(lo) & (lo <= hi), p.C / (3.0 * p.F_S), np.nan)
    return _loss_given_tokens(D_S, p.sup.E + np.exp(x), p)


def _student_loss_on_grid(x: np.ndarray, p: _Problem, n_teacher: int = SEARCH.grid_teachers) -> np.ndarray:
    """The outer objective on a grid ``x`` of shape (G, 1) (shared) or (G, P), teacher searched by grid only.

    With shared coefficients the teacher's costs along the iso-loss curve do not depend on the problem, so
    they are computed once per (teacher size, teacher loss) and combined with every budget by broadcasting.
    Maximising D_S over a grid of teacher sizes slightly underestimates it, which is harmless: this stage only
    locates the basins that the exact search then polishes.
    """
    s = np.exp(x / p.sup.gamma)
    lo, hi = _iso_loss_range(s, p)
    ok = np.isfinite(lo) & np.isfinite(hi) & (lo <= hi)
    L_T = p.sup.E + np.exp(x)
    if not p.teacher_counted:
        return _loss_given_tokens(np.where(ok, p.C / (3.0 * p.F_S), np.nan), L_T, p)
    t = np.linspace(0.0, 1.0, n_teacher).reshape(n_teacher, 1, 1)
    log_n = np.where(ok, lo, p.log_lo) + np.where(ok, hi - lo, 0.0) * t  # (n_teacher, G, 1 or P)
    log_d = _teacher_log_tokens(log_n, s, p)
    F_T = p.flops(10.0**log_n)
    D_S = (p.C - p.delta_pre * 3.0 * F_T * 10.0**log_d) / (3.0 * p.F_S + p.delta_lgt * F_T)
    D_S = np.where(np.isnan(D_S) | ~ok, -np.inf, D_S).max(axis=0)
    return _loss_given_tokens(np.where(D_S > 0, D_S, np.nan), L_T, p)


def _solve(
    p: _Problem,
    *,
    grid: int = SEARCH.outer_grid,
    iters: int = SEARCH.outer_iters,
    candidates: int = SEARCH.candidates,
) -> dict[str, np.ndarray]:
    """Solve every problem of the batch; arrays of shape (P,), plus the runner-up local optimum."""
    E = p.sup.E
    x_lo = np.log(laws.supervised_loss(10.0**p.log_hi, 10.0**p.log_hi, p.sup) - E) + 1e-12
    x_hi = np.log(laws.supervised_loss(10.0**p.log_lo, 10.0**p.log_lo, p.sup) - E)
    t = np.linspace(0.0, 1.0, grid)[:, None]
    x_grid = x_lo + (x_hi - x_lo) * t  # (G, 1) for shared coefficients, (G, P) for stacked ones
    left, right, found = _grid_brackets(x_grid, _student_loss_on_grid(x_grid, p), candidates)
    # Polish only the local minima that exist (most problems have one): one flat batch of candidates.
    k_idx, p_idx = np.nonzero(found)
    xs = np.full(found.shape, np.nan)
    values = np.full(found.shape, np.inf)
    if k_idx.size:
        sub = p.take(p_idx)
        ends = left[None, k_idx, p_idx], right[None, k_idx, p_idx]
        x, v = _polish(lambda z: _student_loss(z, sub), *ends, np.ones((1, k_idx.size), bool), iters)
        xs[k_idx, p_idx], values[k_idx, p_idx] = x[0], v[0]
    order = np.argsort(values, axis=0, kind="stable")
    xs, values = np.take_along_axis(xs, order, axis=0), np.take_along_axis(values, order, axis=0)
    best_x, best_v = xs[0], values[0]
    feasible = np.isfinite(best_v)
    # The runner-up: the best other local minimum at a clearly different teacher loss.
    with np.errstate(invalid="ignore"):
        distinct = np.isfinite(values[1:]) & (np.abs(np.exp(xs[1:]) - np.exp(best_x)) > 1e-3)
    alt_v = np.where(distinct, values[1:], np.inf)
    k = np.argmin(alt_v, axis=0)[None]
    alt_value = np.take_along_axis(alt_v, k, axis=0)[0]
    alt_L_T = np.where(np.isfinite(alt_value), E + np.exp(np.take_along_axis(xs[1:], k, axis=0)[0]), np.nan)
    s = np.exp(np.where(feasible, best_x, x_hi) / p.sup.gamma)
    log_n, log_d, D_S = _best_teacher(s, p, grid=SEARCH.final_grid, iters=SEARCH.final_iters)
    nan = np.where(feasible, 1.0, np.nan)
    N_T, D_T, D_S = 10.0**log_n * nan, 10.0**log_d * nan, D_S * nan
    F_T = p.flops(np.where(feasible, N_T, 1.0))
    return {
        "student_loss": np.where(feasible, best_v, np.nan),
        "teacher_loss": np.where(feasible, E + np.exp(best_x), np.nan),
        "student_tokens": D_S,
        "teacher_params": N_T,
        "teacher_tokens": D_T,
        "student_training_flops": 3.0 * p.F_S * D_S,
        "teacher_logits_flops": p.delta_lgt * F_T * D_S,
        "teacher_pretraining_flops": p.delta_pre * 3.0 * F_T * D_T,
        "alternative_student_loss": np.where(np.isfinite(alt_value), alt_value, np.nan),
        "alternative_teacher_loss": alt_L_T,
    }


def _solve_chunked(p: _Problem, chunk: int = 512) -> dict[str, np.ndarray]:
    """:func:`_solve` over slices of at most ``chunk`` problems (bounds the grid stage's memory)."""
    parts = [_solve(p.take(np.arange(i, min(i + chunk, p.N_S.size)))) for i in range(0, p.N_S.size, chunk)]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


# --- Results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistillationOptimum:
    """The compute-optimal distillation of a student of given size with a given budget, in one scenario.

    Array fields broadcast like the inputs (floats for scalar inputs). ``identified`` is False when the
    teacher is not determined by the problem (best case: any teacher reaching ``teacher_loss`` is optimal,
    and the supervised compute-optimal one is reported, as in the paper). ``alternative_*`` describe the
    runner-up local optimum in the teacher loss, where the law has two (NaN where it has one): when the two
    swap, the optimum jumps, which is a real regime change of the law rather than a solver failure.
    """

    scenario: str
    student_params: np.ndarray | float
    compute: np.ndarray | float
    student_loss: np.ndarray | float
    teacher_loss: np.ndarray | float
    student_tokens: np.ndarray | float
    teacher_params: np.ndarray | float
    teacher_tokens: np.ndarray | float
    student_training_flops: np.ndarray | float
    teacher_logits_flops: np.ndarray | float
    teacher_pretraining_flops: np.ndarray | float
    alternative_student_loss: np.ndarray | float
    alternative_teacher_loss: np.ndarray | float
    identified: bool
    notes: tuple[str, ...] = field(default=())

    FIELDS = (
        "student_params",
        "compute",
        "student_loss",
        "teacher_loss",
        "student_tokens",
        "teacher_params",
        "teacher_tokens",
        "student_training_flops",
        "teacher_logits_flops",
        "teacher_pretraining_flops",
        "alternative_student_loss",
        "alternative_teacher_loss",
    )

    @property
    def compute_split(self) -> dict[str, np.ndarray | float]:
        """FLOPs of each term of Eq. 9 (student training, teacher logits, teacher pretraining)."""
        return {
            "student_training": self.student_training_flops,
            "teacher_logits": self.teacher_logits_flops,
            "teacher_pretraining": self.teacher_pretraining_flops,
        }

    @property
    def compute_fractions(self) -> dict[str, np.ndarray | float]:
        """Each term of :attr:`compute_split` as a fraction of the budget."""
        return {k: np.asarray(v) / np.asarray(self.compute) for k, v in self.compute_split.items()}

    @property
    def teacher_at_token_bound(self) -> np.ndarray | bool:
        """Whether the teacher is trained on the upper token bound (the overtrained teacher of App. D.4.4)."""
        return np.asarray(self.teacher_tokens) >= BOUNDS[1] * (1 - 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dictionary (lists for arrays)."""
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "identified": self.identified,
            "notes": list(self.notes),
        }
        for name in self.FIELDS:
            v = getattr(self, name)
            out[name] = np.asarray(v).tolist() if np.ndim(v) else float(v)
        return out

    def to_frame(self):
        """A pandas DataFrame, one row per problem."""
        import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

        cols = {name: np.ravel(np.asarray(getattr(self, name), float)) for name in self.FIELDS}
        frame = pd.DataFrame(cols)
        frame.insert(0, "scenario", self.scenario)
        frame["identified"] = self.identified
        return frame


def _notes(scenario: str) -> tuple[str, ...]:
    if scenario == "best-case":
        return (
            "the teacher costs nothing, so N_T and D_T are not identified: any teacher reaching teacher_loss "
            "is optimal; reported is the supervised compute-optimal teacher reaching it (the paper's "
            "convention)",
        )
    if scenario == "teacher-inference":
        return (
            "teacher pretraining is not counted: the teacher is trained on as many tokens as the bounds "
            "allow",
        )
    return ()


def optimal_distillation(
    student_params: ArrayLike,
    compute: ArrayLike,
    scenario: str,
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
    bounds: tuple[float, float] = BOUNDS,
) -> DistillationOptimum:
    """The compute-optimal distillation of a student of ``student_params`` parameters with ``compute`` FLOPs.

    ``scenario`` is one of :data:`SCENARIOS` (which teacher costs count, paper Table 2). ``student_params``
    and ``compute`` broadcast; the whole batch is solved at once (vectorised). Bad input raises ValueError
    naming the parameter, before any work. ``forward_flops`` is F(N), forward FLOPs per token (the paper's
    Eq. 69 formula with aspect ratio 128, context 4096 and vocabulary 32768 by default).
    """
    dl, dp = check_scenario(scenario)
    if not isinstance(coefficients, DistillationCoefficients):
        raise TypeError(f"coefficients must be a DistillationCoefficients; got {type(coefficients).__name__}")
    if not isinstance(supervised_coefficients, SupervisedCoefficients):
        raise TypeError(
            "supervised_coefficients must be a SupervisedCoefficients; "
            f"got {type(supervised_coefficients).__name__}"
        )
    lo, hi = _check_bounds(bounds)
    N = positive_finite("student_params", student_params, "non-embedding parameters")
    C = positive_finite("compute", compute, "FLOPs")
    _check_budget(N, C, scenario, forward_flops, (lo, hi))
    N, C = np.broadcast_arrays(N, C)
    shape = N.shape
    p = _Problem(
        N_S=N.ravel().astype(float),
        C=C.ravel().astype(float),
        F_S=np.asarray(forward_flops(N.ravel()), float),
        delta_lgt=dl,
        delta_pre=dp,
        dist=coefficients,
        sup=supervised_coefficients,
        flops=forward_flops,
        log_lo=math.log10(lo),
        log_hi=math.log10(hi),
    )
    out = _solve_chunked(p)
    values = {k: _scalarise(v.reshape(shape)) for k, v in out.items()}
    return DistillationOptimum(
        scenario=scenario,
        student_params=_scalarise(N.astype(float)),
        compute=_scalarise(C.astype(float)),
        identified=scenario != "best-case",
        notes=_notes(scenario),
        **values,
    )


def loss_profile(
    student_params: float,
    compute: float,
    scenario: str,
    teacher_loss: ArrayLike,
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
    bounds: tuple[float, float] = BOUNDS,
) -> dict[str, np.ndarray]:
    """What the solver's outer search sees: for each teacher loss, the best teacher and the student loss.

    For every ``teacher_loss`` the teacher on the iso-loss curve that leaves the student the most tokens is
    chosen (the inner search); the compute-optimal plan is the minimum of ``student_loss`` over this profile.
    Returns arrays ``teacher_loss``, ``student_loss``, ``teacher_params``, ``teacher_tokens``,
    ``student_tokens`` (NaN where no teacher within the bounds reaches the loss or the budget is exceeded).
    """
    dl, dp = check_scenario(scenario)
    lo, hi = _check_bounds(bounds)
    N = positive_finite("student_params", student_params, "non-embedding parameters")
    C = positive_finite("compute", compute, "FLOPs")
    if N.ndim or C.ndim:
        raise ValueError("student_params and compute must be single numbers for a loss profile")
    _check_budget(N, C, scenario, forward_flops, (lo, hi))
    L_T = positive_finite("teacher_loss", teacher_loss, "nats per token")
    p = _Problem(
        N_S=N.reshape(1),
        C=C.reshape(1),
        F_S=np.asarray(forward_flops(N), float).reshape(1),
        delta_lgt=dl,
        delta_pre=dp,
        dist=coefficients,
        sup=supervised_coefficients,
        flops=forward_flops,
        log_lo=math.log10(lo),
        log_hi=math.log10(hi),
    )
    above = L_T > supervised_coefficients.E
    x = np.log(np.where(above, L_T - supervised_coefficients.E, 1.0)).reshape(-1, 1)
    s = np.exp(x / supervised_coefficients.gamma)
    log_n, log_d, D_S = _best_teacher(s, p, grid=SEARCH.final_grid, iters=SEARCH.final_iters)
    L_S = _loss_given_tokens(D_S, supervised_coefficients.E + np.exp(x), p)
    ok = above.reshape(-1, 1) & np.isfinite(L_S)
    shape = np.shape(L_T)
    out = {
        "teacher_loss": np.asarray(L_T, float),
        "student_loss": np.where(ok, L_S, np.nan),
        "teacher_params": np.where(ok, 10.0**log_n, np.nan),
        "teacher_tokens": np.where(ok, 10.0**log_d, np.nan),
        "student_tokens": np.where(ok, D_S, np.nan),
    }
    return {k: np.reshape(v, shape) for k, v in out.items()}


# --- Sweeps -------------------------------------------------------------------------------------------------


def _regime_changes(teacher_loss: np.ndarray, alternative: np.ndarray) -> np.ndarray:
    """Along the last axis (compute), True where the optimum moved to the previous point's other basin.

    The law can have two local optima in the teacher loss; when they swap, the optimum jumps. A point is
    marked when its optimum is nearer the previous point's runner-up than the previous optimum, or the
    previous optimum is nearer this point's runner-up than this optimum.
    """
    L, A = np.asarray(teacher_loss, float), np.asarray(alternative, float)
    prev_L, prev_A, cur_L, cur_A = L[..., :-1], A[..., :-1], L[..., 1:], A[..., 1:]
    step = np.abs(cur_L - prev_L)
    with np.errstate(invalid="ignore"):
        moved = (np.abs(cur_L - prev_A) < step) | (np.abs(prev_L - cur_A) < step)
    out = np.zeros(L.shape, bool)
    out[..., 1:] = moved & np.isfinite(step)
    return out


def frontier(
    student_params: Sequence[float] | ArrayLike,
    compute: Sequence[float] | ArrayLike,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
):
    """Compute-optimal distillation for every student size x budget x scenario, plus supervised: a DataFrame.

    One row per (scenario, student_params, compute), with the fields of :class:`DistillationOptimum`, the
    compute fractions, ``regime_change`` (the optimum jumped to the other basin of the law since the previous
    budget) and the supervised alternative (``supervised_loss``, ``supervised_tokens``). Rows with scenario
    ``"supervised"`` hold the supervised run itself (teacher columns NaN). Budgets outside a scenario's
    feasible range (:func:`compute_range`) give NaN rows. Results are cached per argument set.
    """
    sizes = tuple(float(v) for v in np.ravel(positive_finite("student_params", student_params, "parameters")))
    budgets = tuple(float(v) for v in np.ravel(positive_finite("compute", compute, "FLOPs")))
    for s in scenarios:
        check_scenario(s)
    frame = _frontier_cached(
        sizes, budgets, tuple(scenarios), coefficients, supervised_coefficients, forward_flops
    )
    return frame.copy()


@functools.lru_cache(maxsize=32)
def _frontier_cached(sizes, budgets, scenarios, coefficients, supervised_coefficients, forward_flops):
    import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

    N, C = np.broadcast_arrays(np.array(sizes)[:, None], np.array(budgets)[None, :])
    sup = optimal_supervised(N, C, coefficients=supervised_coefficients, forward_flops=forward_flops)
    common = {
        "student_params": N.ravel(),
        "compute": C.ravel(),
        "supervised_loss": np.ravel(sup.loss),
        "supervised_tokens": np.ravel(sup.tokens),
    }
    frames = [
        pd.DataFrame(
            {"scenario": "supervised", **common, "student_loss": common["supervised_loss"]}
            | {"student_tokens": common["supervised_tokens"], "student_training_flops": C.ravel()}
        )
    ]
    for scenario in scenarios:
        low, high = compute_range(N, scenario, forward_flops=forward_flops)
        ok = (C >= low) & (C <= high)
        result = {name: np.full(N.shape, np.nan) for name in DistillationOptimum.FIELDS[2:]}
        if ok.any():
            opt = optimal_distillation(
                N[ok],
                C[ok],
                scenario,
                coefficients=coefficients,
                supervised_coefficients=supervised_coefficients,
                forward_flops=forward_flops,
            )
            for name in result:
                result[name][ok] = getattr(opt, name)
        jumps = _regime_changes(result["teacher_loss"], result["alternative_teacher_loss"])
        frame = pd.DataFrame({"scenario": scenario, **common} | {k: v.ravel() for k, v in result.items()})
        frame["identified"] = scenario != "best-case"
        frame["regime_change"] = jumps.ravel()
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out[["teacher_logits_flops", "teacher_pretraining_flops"]] = out[
        ["teacher_logits_flops", "teacher_pretraining_flops"]
    ].fillna(0.0)
    for term in ("student_training", "teacher_logits", "teacher_pretraining"):
        out[f"{term}_fraction"] = out[f"{term}_flops"] / out["compute"]
    out["regime_change"] = out["regime_change"].astype("boolean").fillna(False).astype(bool)
    out["identified"] = out["identified"].astype("boolean").fillna(True).astype(bool)
    return out


def crossings(
    student_params: Sequence[float] | ArrayLike,
    compute: Sequence[float] | ArrayLike,
    scenario: str,
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
    tol_decades: float = 1e-3,
):
    """Budgets where distillation and supervised training of the same student swap places, a DataFrame.

    Sign changes of ``supervised_loss - student_loss`` along the ``compute`` grid are located, then refined by
    bisection (all at once) to ``tol_decades``. Columns: ``student_params``, ``compute``,
    ``distillation_wins`` (whether distillation is the better choice just above the crossing), ``loss``
    (where the two meet).
    """
    import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

    kw = dict(
        coefficients=coefficients,
        supervised_coefficients=supervised_coefficients,
        forward_flops=forward_flops,
    )
    f = frontier(student_params, compute, [scenario], **kw)
    f = f[f["scenario"] == scenario]
    rows = []
    for N, g in f.groupby("student_params", sort=True):
        g = g.sort_values("compute")
        adv = (g["supervised_loss"] - g["student_loss"]).to_numpy()
        logc = np.log10(g["compute"].to_numpy())
        for i in np.flatnonzero(
            np.isfinite(adv[:-1]) & np.isfinite(adv[1:]) & (np.sign(adv[:-1]) != np.sign(adv[1:]))
        ):
            rows.append((N, logc[i], logc[i + 1], adv[i] > 0))
    if not rows:
        return pd.DataFrame(columns=["student_params", "compute", "distillation_wins", "loss"])
    N = np.array([r[0] for r in rows])
    lo, hi = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    wins_below = np.array([r[3] for r in rows])

    def advantage(logc: np.ndarray) -> np.ndarray:
        dist = optimal_distillation(N, 10.0**logc, scenario, **kw)
        sup = optimal_supervised(
            N, 10.0**logc, coefficients=supervised_coefficients, forward_flops=forward_flops
        )
        return np.asarray(sup.loss) - np.asarray(dist.student_loss)

    while np.max(hi - lo) > tol_decades:
        mid = (lo + hi) / 2.0
        same_as_below = (advantage(mid) > 0) == wins_below
        lo, hi = np.where(same_as_below, mid, lo), np.where(same_as_below, hi, mid)
    at = 10.0 ** ((lo + hi) / 2.0)
    loss = optimal_supervised(N, at, coefficients=supervised_coefficients, forward_flops=forward_flops).loss
    return pd.DataFrame(
        {"student_params": N, "compute": at, "distillation_wins": ~wins_below, "loss": np.ravel(loss)}
    )


# --- Inverse problems: the compute and data needed to reach a loss (App. D.5) -------------------------------


def supervised_compute_for_loss(
    student_params: ArrayLike,
    loss: ArrayLike,
    *,
    coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
) -> np.ndarray:
    """FLOPs 3 F(N) D for supervised training of the given size to reach ``loss`` (inf below its floor)."""
    D = supervised_tokens_for_loss(student_params, loss, coefficients)
    return 3.0 * forward_flops(np.asarray(student_params, float)) * D


def compute_for_loss(
    student_params: ArrayLike,
    loss: ArrayLike,
    scenario: str,
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
    points_per_decade: int = 12,
    refine: int = 1,
) -> dict[str, np.ndarray]:
    """The smallest budget whose compute-optimal distillation reaches each target ``loss``, and its plan.

    ``student_params`` and ``loss`` broadcast. The best student loss falls with the budget, so the budget for
    a target is interpolated (log C against L*_S) on one sweep per student size over its feasible budgets
    (``points_per_decade``), then polished by ``refine`` secant steps with exact solves. Returns arrays
    ``compute``, ``student_tokens``, ``teacher_tokens``, ``student_loss``: NaN where the target is out of
    reach within the token bound, or already reached by the smallest feasible budget.
    """
    check_scenario(scenario)
    N = positive_finite("student_params", student_params, "parameters")
    L = positive_finite("loss", loss, "nats per token")
    N, L = np.broadcast_arrays(N, L)
    shape, N, L = N.shape, N.ravel(), L.ravel()
    kw = dict(
        coefficients=coefficients,
        supervised_coefficients=supervised_coefficients,
        forward_flops=forward_flops,
    )
    sizes = np.unique(N)
    low, high = compute_range(sizes, scenario, forward_flops=forward_flops)
    lo_dec, hi_dec = math.log10(float(low.min())), math.log10(float(high.max()))
    grid = np.logspace(lo_dec, hi_dec, max(int(math.ceil((hi_dec - lo_dec) * points_per_decade)), 8))
    f = frontier(sizes, grid, [scenario], **kw)
    f = f[f["scenario"] == scenario]
    logc = np.full(N.shape, np.nan)
    for size, g in f.groupby("student_params"):
        g = g[np.isfinite(g["student_loss"])].sort_values("compute")
        curve = np.minimum.accumulate(g["student_loss"].to_numpy())  # guard against round-off upticks
        mine = N == size
        ok = mine & (L <= curve[0]) & (L >= curve[-1])
        # np.interp needs increasing x: reverse the falling curve.
        logc[ok] = np.interp(L[ok], curve[::-1], np.log10(g["compute"].to_numpy())[::-1])
    reach = np.isfinite(logc)
    # Budgets stay strictly inside the feasible range (log10 round trips may step just outside it).
    lo_b, hi_b = (np.log10(v) for v in compute_range(N, scenario, forward_flops=forward_flops))
    lo_b, hi_b = lo_b + 1e-9, hi_b - 1e-9
    for _ in range(refine if reach.any() else 0):
        c0 = logc[reach]
        c1 = np.minimum(c0 + 1e-3, hi_b[reach])
        c0 = c1 - 1e-3
        f0 = np.asarray(optimal_distillation(N[reach], 10.0**c0, scenario, **kw).student_loss) - L[reach]
        f1 = np.asarray(optimal_distillation(N[reach], 10.0**c1, scenario, **kw).student_loss) - L[reach]
        slope = (f1 - f0) / 1e-3
        step = np.where(slope < 0, -f0 / np.where(slope < 0, slope, -1.0), 0.0)
        logc[reach] = np.clip(c0 + np.clip(step, -0.5, 0.5), lo_b[reach], hi_b[reach])
    out = {
        k: np.full(N.shape, np.nan) for k in ("compute", "student_tokens", "teacher_tokens", "student_loss")
    }
    if reach.any():
        final = optimal_distillation(N[reach], 10.0 ** logc[reach], scenario, **kw)
        out["compute"][reach] = 10.0 ** logc[reach]
        for k in ("student_tokens", "teacher_tokens", "student_loss"):
            out[k][reach] = getattr(final, k)
    return {k: v.reshape(shape) for k, v in out.items()}


def efficiency_ratios(
    student_params: ArrayLike,
    loss: ArrayLike,
    scenario: str,
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
    points_per_decade: int = 12,
) -> dict[str, np.ndarray]:
    """Compute and data of compute-optimal distillation over those of supervised training, per target loss.

    ``compute_ratio`` = C_dist / C_sup and ``data_ratio`` = (D_S + delta_pre D_T) / D_sup (paper App. D.5,
    Eq. 34), where C_sup and D_sup are what supervised training of the same student needs to reach the target
    (inf at or below its floor L(N_S, inf), so the ratios are 0 there when distillation reaches it).
    ``student_params`` and ``loss`` broadcast.
    """
    _, dp = check_scenario(scenario)
    dist = compute_for_loss(
        student_params,
        loss,
        scenario,
        coefficients=coefficients,
        supervised_coefficients=supervised_coefficients,
        forward_flops=forward_flops,
        points_per_decade=points_per_decade,
    )
    N, L = np.broadcast_arrays(np.asarray(student_params, float), np.asarray(loss, float))
    D_sup = supervised_tokens_for_loss(N, L, supervised_coefficients)
    C_sup = 3.0 * forward_flops(N) * D_sup
    data = dist["student_tokens"] + dp * np.nan_to_num(dist["teacher_tokens"])
    return {
        "student_params": N,
        "loss": L,
        "compute_ratio": dist["compute"] / C_sup,
        "data_ratio": data / D_sup,
        "distillation_compute": dist["compute"],
        "supervised_compute": C_sup,
        "distillation_tokens": data,
        "supervised_tokens": D_sup,
    }


# --- The paper's method, kept as a cross-check -------------------------------------------------------------


def optimal_distillation_slsqp(
    student_params: float,
    compute: float,
    scenario: str,
    *,
    coefficients: DistillationCoefficients = PAPER_DISTILLATION,
    supervised_coefficients: SupervisedCoefficients = PAPER_SUPERVISED,
    forward_flops: ForwardFlops = paper_forward_flops,
    starts: Sequence[tuple[float, float]] = ((9, 11), (10, 12), (11, 13), (12, 15), (9, 16)),
) -> dict[str, Any]:
    """The paper's formulation solved with SLSQP: all three variables, the budget as an equality constraint.

    Variables are log10 of (D_S, N_T, D_T) in the paper's bounds; ``starts`` are (log10 N_T, log10 D_T)
    pairs, D_S starting where the budget allows. Returns the best converged run and how many starts converged.
    Used to cross-check :func:`optimal_distillation`, not by it.
    """
    from scipy.optimize import minimize  # noqa: PLC0415 - scipy.optimize is slow to import: only this cross-check needs it

    dl, dp = check_scenario(scenario)
    N = float(positive_finite("student_params", student_params, "parameters"))
    C = float(positive_finite("compute", compute, "FLOPs"))
    _check_budget(np.asarray(N), np.asarray(C), scenario, forward_flops, BOUNDS)
    F_S = float(forward_flops(N))
    lo, hi = (math.log10(b) for b in BOUNDS)

    def flops(z):
        D_S, N_T, D_T = 10.0**z
        F_T = float(forward_flops(N_T))
        return 3.0 * F_S * D_S + F_T * (dl * D_S + dp * 3.0 * D_T)

    def objective(z):
        D_S, N_T, D_T = 10.0**z
        L_T = laws.supervised_loss(N_T, D_T, supervised_coefficients)
        return float(laws.distillation_loss(N, D_S, L_T, coefficients, supervised_coefficients))

    best, converged = None, 0
    for log_n, log_d in starts:
        F_T = float(forward_flops(10.0**log_n))
        spare = C - dp * 3.0 * F_T * 10.0**log_d
        D_S0 = spare / (3.0 * F_S + dl * F_T) if spare > 0 else 10.0**lo
        z0 = np.clip([math.log10(max(D_S0, 10.0**lo)), log_n, log_d], lo, hi)
        res = minimize(
            objective,
            z0,
            method="SLSQP",
            bounds=[(lo, hi)] * 3,
            constraints=[{"type": "eq", "fun": lambda z: math.log(flops(z) / C)}],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        if not res.success or abs(math.log(flops(res.x) / C)) > 1e-6:
            continue
        converged += 1
        if best is None or res.fun < best.fun:
            best = res
    if best is None:
        return {"student_loss": math.nan, "converged": 0, "starts": len(starts)}
    D_S, N_T, D_T = 10.0**best.x
    return {
        "student_loss": float(best.fun),
        "teacher_loss": float(laws.supervised_loss(N_T, D_T, supervised_coefficients)),
        "student_tokens": D_S,
        "teacher_params": N_T,
        "teacher_tokens": D_T,
        "converged": converged,
        "starts": len(starts),
    }
