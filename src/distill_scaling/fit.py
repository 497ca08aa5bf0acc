"""Fitting the supervised and distillation laws with the paper's procedure, fast.

The procedure (paper App. F, after Hoffmann et al. 2022 and Besiroglu et al. 2024): the law in log space
with log-sum-exp (Eqs. 44 and 49), the Huber loss (``delta = 1e-4``) of ``log L_hat - log L`` summed over
runs, and L-BFGS-B started from every point of a grid of initialisations (9,600 points for the supervised law
with a free ``gamma``; 216,000 for the distillation law).

What makes it fast: the objective is evaluated at *every* grid point in one vectorised numpy pass (for the
distillation law, factorised over the grid's product structure), only the ``refine`` best points are
optimised, all together (:mod:`distill_scaling.fit_batch`, with exact gradients), and the best few solutions
are finished by scipy's L-BFGS-B. ``refine=None, method="scipy"`` is the exhaustive search (L-BFGS-B from
every grid point); the tests and the chapter "Can we trust the fit?" check that both land on the same optimum.

Convergence: the objective is divided by ``delta * n_runs`` before optimisation (see
:mod:`distill_scaling.fit_objective`) and L-BFGS-B's tolerances are tightened, so that fits stop at the
optimum rather than after a step or two; every result reports the projected-gradient norm at its solution
and ``converged`` is true only if that norm is below :data:`KKT_TOL`.

Example::

    from distill_scaling import fit
    res = fit.fit_supervised(N, D, L)            # gamma free, delta = 1e-4, paper grid
    res.params                                    # a laws.SupervisedCoefficients
    res.predict(N_new, D_new)

and its bootstrap intervals with :func:`distill_scaling.bootstrap.bootstrap` (which imports this module)::

    from distill_scaling import bootstrap
    boot = bootstrap.bootstrap(res, n_resamples=4096, level=0.9, seed=0)
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize

from .fit_batch import batch_minimize
from .fit_objective import DistillationLogLaw, LogLaw, RunData, SupervisedLogLaw
from .laws import (
    DistillationCoefficients,
    SupervisedCoefficients,
    distillation_loss,
    supervised_loss,
)

# --- Initialisation grids (in the optimiser's coordinates: logs of the scale coefficients) ------------------

#: Paper App. F, supervised law: 5 x 5 x 6 x 4 x 4 x 4 = 9,600 starts.
PAPER_SUPERVISED_GRID: dict[str, tuple[float, ...]] = {
    "log_A": (0.0, 5.0, 10.0, 15.0, 20.0),
    "log_B": (0.0, 5.0, 10.0, 15.0, 20.0),
    "log_E": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5),
    "alpha": (0.0, 0.5, 1.0, 1.5),
    "beta": (0.0, 0.5, 1.0, 1.5),
    "gamma": (0.0, 0.5, 1.0, 1.5),
}

#: Besiroglu et al. (2024)'s grid for Chinchilla's form (gamma = 1): 6 x 6 x 5 x 5 x 5 = 4,500 starts.
EPOCH_CHINCHILLA_GRID: dict[str, tuple[float, ...]] = {
    "log_A": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "log_B": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "log_E": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
}

#: Paper App. F, distillation law: 5 x 5 x 3 x 3 x 3 x 4 x 4 x 4 x 5 = 216,000 starts.
PAPER_DISTILLATION_GRID: dict[str, tuple[float, ...]] = {
    "log_A": (0.0, 5.0, 10.0, 15.0, 20.0),
    "log_B": (0.0, 5.0, 10.0, 15.0, 20.0),
    "alpha": (0.0, 0.5, 1.0),
    "beta": (0.0, 0.5, 1.0),
    "gamma": (0.0, 0.5, 1.0),
    "c0": (0.0, 0.5, 1.0, 1.5),
    "c1": (0.0, 0.5, 1.0, 1.5),
    "f1": (0.0, 0.5, 1.0, 1.5),
    "log_d1": (-1.0, -0.5, 0.0, 0.5, 1.0),
}

#: How many of the best grid points L-BFGS-B refines by default (see :func:`compare_with_exhaustive`).
DEFAULT_REFINE = {"supervised": 64, "distillation": 256}

#: Iteration cap of the batched first stage of a multi-start search (see :func:`multistart`).
BATCH_MAX_ITER = 500

#: A solution counts as converged when the largest projected-gradient component of the scaled objective
#: (objective / (delta * n_runs), of order one per unit of log-residual) is below this.
KKT_TOL = 1e-6


@dataclass(frozen=True)
class OptimizerSettings:
    """How L-BFGS-B is run.

    ``scale_objective`` divides the objective by ``delta * sum(weights)``. The defaults are tight on purpose:
    ``ftol`` is an *absolute* change in scipy when the objective is below one, so scipy's default (2.2e-9)
    stops a fit whose objective is 1e-5 after a step or two (:meth:`scipy_defaults` reproduces that trap).
    Even 1e-12 stalls in the distillation law's flat valleys, so ``ftol`` is 0: scipy stops on the projected
    gradient (``gtol``), a failed line search or ``maxiter``, and :data:`KKT_TOL` judges the result.
    """

    scale_objective: bool = True
    ftol: float | None = 0.0
    gtol: float | None = 1e-10
    maxiter: int | None = 20000
    maxls: int | None = 60
    maxcor: int | None = 20

    @classmethod
    def scipy_defaults(cls) -> OptimizerSettings:
        """The naive set-up: raw summed Huber loss and scipy's default L-BFGS-B tolerances."""
        return cls(scale_objective=False, ftol=None, gtol=None, maxiter=None, maxls=None, maxcor=None)

    def options(self) -> dict[str, Any]:
        names = ("ftol", "gtol", "maxiter", "maxls", "maxcor")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass
class Refinement:
    """One L-BFGS-B run: where it started, where it ended, and whether it satisfies the optimality test."""

    start: np.ndarray
    theta: np.ndarray
    scaled_objective: float
    projected_gradient: float
    n_iter: int
    n_eval: int
    message: str
    converged: bool


def projected_gradient(law: LogLaw, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """KKT residual of a bound-constrained problem: theta - max(theta - grad, lower)."""
    lower = np.array([-np.inf if lo is None else lo for lo, _ in law.bounds])
    return theta - np.maximum(theta - grad, lower)


def refine_start(
    law: LogLaw, data: RunData, start: np.ndarray, settings: OptimizerSettings = OptimizerSettings()
) -> Refinement:
    """Run scipy's L-BFGS-B from ``start``; test the solution (projected gradient of the scaled objective)."""
    start = np.asarray(start, float)
    if settings.scale_objective:
        fun = law.objective_and_grad
    else:
        factor = data.delta * float(data.weights.sum())

        def fun(theta, data):
            f, g = law.objective_and_grad(theta, data)
            return f * factor, g * factor

    res = minimize(
        fun, start, args=(data,), jac=True, method="L-BFGS-B", bounds=law.bounds, options=settings.options()
    )
    f, g = law.objective_and_grad(res.x, data)
    pg = float(np.max(np.abs(projected_gradient(law, res.x, g)))) if np.isfinite(f) else np.inf
    return Refinement(
        start=start,
        theta=np.asarray(res.x, float),
        scaled_objective=float(f),
        projected_gradient=pg,
        n_iter=int(res.nit),
        n_eval=int(res.nfev),
        message=str(res.message),
        converged=bool(np.isfinite(f) and pg <= KKT_TOL),
    )


def _grid_axes(law: LogLaw, grid: Mapping[str, Sequence[float]]) -> list[np.ndarray]:
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must map coordinate names {list(law.free)} to sequences of start values")
    missing = [n for n in law.free if n not in grid]
    extra = [n for n in grid if n not in law.free]
    if missing or extra:
        raise ValueError(
            f"grid must give values for exactly {list(law.free)}; missing {missing}, unexpected {extra}"
        )
    axes = []
    for n in law.free:
        try:
            a = np.asarray(grid[n], float)
        except (TypeError, ValueError):
            raise ValueError(f"grid axis '{n}' must be a sequence of numbers, got {grid[n]!r}") from None
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
            raise ValueError(
                f"grid axis '{n}' must be a non-empty sequence of finite numbers, got {grid[n]!r}"
            )
        axes.append(a)
    return axes


def grid_points(law: LogLaw, grid: Mapping[str, Sequence[float]]) -> np.ndarray:
    """All combinations of a grid (``itertools.product`` order), as rows of the law's free coordinates."""
    axes = _grid_axes(law, grid)
    return np.array(list(itertools.product(*axes)), float).reshape(-1, len(law.free))


@dataclass
class MultiStart:
    """What the multi-start search did: the starts' scores, the refinements, and which one won.

    ``n_hits`` counts refined starts that ended within a relative 1e-6 of the winning objective: how many
    ways into the optimum's basin the grid offered.
    """

    best: Refinement
    polished: list[Refinement]
    start_scores: np.ndarray
    refined_index: np.ndarray
    refined_objectives: np.ndarray
    n_hits: int
    method: str
    score_seconds: float
    batch_seconds: float
    polish_seconds: float


def _distinct(thetas: np.ndarray, order: np.ndarray, limit: int, tol: float = 1e-3) -> list[int]:
    """Up to ``limit`` indices from ``order`` whose coordinates differ from every earlier pick by > tol."""
    picked: list[int] = []
    for i in order:
        if all(np.max(np.abs(thetas[i] - thetas[j])) > tol for j in picked):
            picked.append(int(i))
        if len(picked) >= limit:
            break
    return picked


def multistart(
    law: LogLaw,
    data: RunData,
    starts: np.ndarray,
    refine: int | None,
    *,
    method: str = "batched",
    settings: OptimizerSettings = OptimizerSettings(),
    scores: np.ndarray | None = None,
    n_polish: int = 4,
) -> MultiStart:
    """Score every start in one vectorised pass, refine the ``refine`` best (None = all), pick the winner.

    ``method="scipy"`` runs scipy's L-BFGS-B from each refined start (the paper's procedure, literally).
    ``method="batched"`` advances all refined starts together with :func:`fit_batch.batch_minimize`, then
    finishes the ``n_polish`` best distinct solutions with scipy's L-BFGS-B. The lowest objective wins; its
    ``converged`` flag says whether it passes the optimality test.
    """
    if method not in ("batched", "scipy"):
        raise ValueError(f"method must be 'batched' or 'scipy', got {method!r}")
    t0 = time.perf_counter()
    if scores is None:
        scores = law.batch_objective(starts, data)
    order = np.argsort(scores, kind="stable")
    k = len(order) if refine is None else min(int(refine), len(order))
    chosen = order[:k]
    t1 = time.perf_counter()
    if method == "scipy":
        polished = [refine_start(law, data, starts[i], settings) for i in chosen]
        objectives = np.array([r.scaled_objective for r in polished])
        t2 = t3 = time.perf_counter()
    else:
        # Stage one only has to rank the basins: a few starts crawl along flat valleys for thousands of
        # iterations, so it is capped; the best solutions are then finished by scipy without a cap.
        batch = batch_minimize(law, data, starts[chosen], pg_tol=KKT_TOL / 10, max_iter=BATCH_MAX_ITER)
        t2 = time.perf_counter()
        objectives = batch.objective
        picks = _distinct(batch.theta, np.argsort(objectives, kind="stable"), n_polish)
        polished = []
        for i in picks:
            r = refine_start(law, data, batch.theta[i], settings)
            r.start = starts[chosen[i]]
            polished.append(r)
        t3 = time.perf_counter()
    # The lowest objective wins, converged or not: preferring a "converged" solution would hand the fit to a
    # worse local optimum whenever the better one stalls short of the KKT test (its flag then says so).
    best = min(polished, key=lambda r: r.scaled_objective)
    hits = int(np.sum(objectives <= best.scaled_objective * (1 + 1e-6) + 1e-15))
    return MultiStart(best, polished, scores, chosen, objectives, hits, method, t1 - t0, t2 - t1, t3 - t2)


# --- Input checks -------------------------------------------------------------------------------------------


def _positive_array(func: str, name: str, value: ArrayLike) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{func}: argument '{name}' must be an array of positive numbers") from None
    if arr.ndim == 2 and 1 in arr.shape:  # a column or row vector
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(
            f"{func}: argument '{name}' must be one-dimensional (one value per run), got {arr.shape}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{func}: argument '{name}' has a non-finite value ({arr[i]}) at index {i}")
    if (arr <= 0).any():
        i = int(np.flatnonzero(arr <= 0)[0])
        raise ValueError(f"{func}: argument '{name}' must be positive; got {arr[i]} at index {i}")
    return arr


def _runs(func: str, n_params: int, **arrays: ArrayLike) -> dict[str, np.ndarray]:
    out = {name: _positive_array(func, name, v) for name, v in arrays.items()}
    lengths = {name: a.size for name, a in out.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"'{k}' has {v}" for k, v in lengths.items())
        raise ValueError(f"{func}: all arrays need one value per run, but {desc}")
    n = next(iter(lengths.values()))
    if n < n_params:
        raise ValueError(
            f"{func}: {n} runs cannot determine {n_params} free coefficients; give at least {n_params} runs"
        )
    return out


def _positive_scalar(func: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{func}: argument '{name}' must be a positive number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{func}: argument '{name}' must be a positive finite number, got {value!r}")
    return value


def _refine_count(func: str, refine: int | None) -> int | None:
    if refine is None:
        return None
    if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or refine < 1:
        raise ValueError(
            f"{func}: argument 'refine' must be a positive integer or None (all starts), got {refine!r}"
        )
    return int(refine)


# --- Results ------------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """A fitted law (scikit-learn style: the data, the procedure and the solution travel together).

    ``params`` holds the coefficients (a :mod:`laws` dataclass). ``objective`` is the paper's objective (Huber
    loss of the log-residuals summed over runs) at the solution. ``converged`` says whether the solution
    passes the optimality test (largest projected-gradient component of the scaled objective below
    :data:`KKT_TOL`). ``start`` is the grid point the winning refinement started from; ``search`` has the
    details of the multi-start search (scores of every start, the refinements, timings).
    """

    kind: str
    params: SupervisedCoefficients | DistillationCoefficients
    theta: np.ndarray
    names: tuple[str, ...]
    objective: float
    scaled_objective: float
    converged: bool
    projected_gradient: float
    n_iter: int
    message: str
    start: np.ndarray
    delta: float
    n_runs: int
    n_starts: int
    n_refined: int
    seconds: float
    inputs: dict[str, np.ndarray] = field(repr=False)
    law: LogLaw = field(repr=False)
    data: RunData = field(repr=False)
    grid: dict[str, tuple[float, ...]] = field(repr=False)
    refine: int | None = field(repr=False)
    method: str = field(repr=False)
    settings: OptimizerSettings = field(repr=False)
    search: MultiStart = field(repr=False)
    supervised: SupervisedCoefficients | None = field(default=None, repr=False)

    @property
    def messages(self) -> list[str]:
        """scipy L-BFGS-B's messages: the winning run's first, then the other polished runs'."""
        return [self.search.best.message] + [
            r.message for r in self.search.polished if r is not self.search.best
        ]

    def residuals(self) -> np.ndarray:
        """log L_hat - log L for every fitted run."""
        return self.law.log_predict(self.law.full(self.theta), self.data) - self.data.target

    def relative_errors(self) -> np.ndarray:
        """L_hat / L - 1 for every fitted run."""
        return np.expm1(self.residuals())

    def hessian(self, step: float = 1e-6) -> np.ndarray:
        """Hessian of the scaled objective at the solution (central differences of the exact gradient).

        Near-zero eigenvalues mark directions in which the data do not pin the coefficients down.
        """
        p = len(self.theta)
        h = np.empty((p, p))
        for i in range(p):
            e = np.zeros(p)
            e[i] = step * max(1.0, abs(self.theta[i]))
            lo = np.maximum(self.theta - e, [-np.inf if b is None else b for b, _ in self.law.bounds])
            hi = self.theta + e
            h[:, i] = (
                self.law.objective_and_grad(hi, self.data)[1] - self.law.objective_and_grad(lo, self.data)[1]
            ) / (hi[i] - lo[i])
        return 0.5 * (h + h.T)

    def summary(self) -> dict[str, Any]:
        """Coefficients and diagnostics as a flat dictionary (for tables)."""
        return {
            **self.params.values(),
            "objective": self.objective,
            "converged": self.converged,
            "projected_gradient": self.projected_gradient,
            "n_iter": self.n_iter,
            "n_runs": self.n_runs,
            "n_starts": self.n_starts,
            "n_refined": self.n_refined,
            "n_hits": self.search.n_hits,
            "seconds": self.seconds,
        }

    def refit(
        self, index: np.ndarray | None = None, weights: np.ndarray | None = None, **changes: Any
    ) -> FitResult:
        """The same procedure on a subset of the runs (``index``) or with run weights; ``changes`` override
        ``refine``, ``method``, ``settings`` or ``grid``."""
        opts = {"grid": self.grid, "refine": self.refine, "method": self.method, "settings": self.settings}
        unknown = set(changes) - set(opts)
        if unknown:
            raise ValueError(f"refit: unknown option(s) {sorted(unknown)}; allowed: {sorted(opts)}")
        opts.update(changes)
        data = self.data if index is None else self.data.subset(np.asarray(index))
        if weights is not None:
            data = data.subset(np.arange(data.n), weights)
        inputs = self.inputs if index is None else {k: v[index] for k, v in self.inputs.items()}
        law = self.law
        if data.n < len(law.free):
            raise ValueError(f"refit: {data.n} runs cannot determine {len(law.free)} free coefficients")
        return fit_law(self.kind, law, data, inputs=inputs, supervised=self.supervised, **opts)


class SupervisedFit(FitResult):
    """Result of :func:`fit_supervised`."""

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """L(N, D) with the fitted coefficients."""
        return supervised_loss(N, D, self.params)

    @property
    def observed(self) -> np.ndarray:
        """The fitted runs' measured losses."""
        return self.inputs["L"]


class DistillationFit(FitResult):
    """Result of :func:`fit_distillation`."""

    def predict(self, N_S: ArrayLike, D_S: ArrayLike, L_T: ArrayLike) -> np.ndarray:
        """L_S(N_S, D_S, L_T) with the fitted coefficients (and the supervised ones used in the fit)."""
        return distillation_loss(N_S, D_S, L_T, self.params, self.supervised)

    @property
    def observed(self) -> np.ndarray:
        """The fitted runs' measured student losses."""
        return self.inputs["L_S"]


def coefficients(
    kind: str, full: np.ndarray, source: str = ""
) -> SupervisedCoefficients | DistillationCoefficients:
    """Optimiser coordinates (all of them, fixed ones included) -> a :mod:`laws` coefficient dataclass."""
    if kind == "supervised":
        a, b, e, alpha, beta, gamma = (float(v) for v in full)
        return SupervisedCoefficients(
            E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta, gamma=gamma, source=source
        )
    a, b, alpha, beta, gamma, c0, c1, f1, g = (float(v) for v in full)
    return DistillationCoefficients(
        A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta, gamma=gamma, c0=c0, c1=c1, f1=f1,
        d1=math.exp(g), source=source,
    )  # fmt: skip


def fit_law(
    kind: str,
    law: LogLaw,
    data: RunData,
    *,
    inputs: dict[str, np.ndarray],
    grid: Mapping[str, Sequence[float]],
    refine: int | None,
    method: str,
    settings: OptimizerSettings,
    supervised: SupervisedCoefficients | None = None,
) -> FitResult:
    """Fit ``law`` to prepared runs (the engine of :func:`fit_supervised` and :func:`fit_distillation`)."""
    t0 = time.perf_counter()
    axes = _grid_axes(law, grid)
    starts = np.array(list(itertools.product(*axes)), float).reshape(-1, len(law.free))
    scores = law.grid_objective(axes, data)
    search = multistart(law, data, starts, refine, method=method, settings=settings, scores=scores)
    search.score_seconds = time.perf_counter() - t0 - search.batch_seconds - search.polish_seconds
    best = search.best
    cls = SupervisedFit if kind == "supervised" else DistillationFit
    return cls(
        kind=kind,
        params=coefficients(
            kind, law.full(best.theta), f"fit ({kind} law, {data.n} runs, delta={data.delta:g})"
        ),
        theta=best.theta,
        names=law.free,
        objective=law.raw_objective(best.theta, data),
        scaled_objective=best.scaled_objective,
        converged=best.converged,
        projected_gradient=best.projected_gradient,
        n_iter=best.n_iter,
        message=best.message,
        start=best.start,
        delta=data.delta,
        n_runs=data.n,
        n_starts=len(starts),
        n_refined=len(search.refined_index),
        seconds=time.perf_counter() - t0,
        inputs=inputs,
        law=law,
        data=data,
        grid={n: tuple(float(v) for v in a) for n, a in zip(law.free, axes, strict=True)},
        refine=refine,
        method=method,
        settings=settings,
        search=search,
        supervised=supervised,
    )


def _method(func: str, method: str) -> str:
    if method not in ("batched", "scipy"):
        raise ValueError(f"{func}: argument 'method' must be 'batched' or 'scipy', got {method!r}")
    return method


def fit_supervised(
    N: ArrayLike,
    D: ArrayLike,
    L: ArrayLike,
    *,
    gamma: float | None = None,
    delta: float = 1e-4,
    grid: Mapping[str, Sequence[float]] | None = None,
    refine: int | None = DEFAULT_REFINE["supervised"],
    method: str = "batched",
    settings: OptimizerSettings = OptimizerSettings(),
) -> SupervisedFit:
    """Fit L(N, D) = E + (A/N^alpha + B/D^beta)^gamma to runs (non-embedding parameters, tokens, loss).

    ``gamma=None`` fits gamma (the paper's form); ``gamma=1.0`` fixes it (Chinchilla's form). ``delta`` is the
    Huber threshold on log-residuals. ``grid`` maps the free coordinates (``log_A, log_B, log_E, alpha, beta``
    and, if fitted, ``gamma``) to start values; default: the paper's grid (:data:`PAPER_SUPERVISED_GRID`).
    ``refine`` is how many of the best-scoring starts are optimised (``None``: all of them, the exhaustive
    search); ``method`` how (see :func:`multistart`).
    """
    func = "fit_supervised"
    if gamma is not None:
        gamma = _positive_scalar(func, "gamma", gamma)
    delta = _positive_scalar(func, "delta", delta)
    refine = _refine_count(func, refine)
    method = _method(func, method)
    law = SupervisedLogLaw(fixed=None if gamma is None else {"gamma": gamma})
    runs = _runs(func, len(law.free), N=N, D=D, L=L)
    data = RunData(
        x=np.log(runs["N"]), y=np.log(runs["D"]), target=np.log(runs["L"]), weights=np.ones(runs["N"].size),
        delta=delta,
    )  # fmt: skip
    if grid is None:
        grid = {k: v for k, v in PAPER_SUPERVISED_GRID.items() if k in law.free}
    return fit_law(
        "supervised", law, data, inputs=runs, grid=grid, refine=refine, method=method, settings=settings
    )


def fit_distillation(
    N_S: ArrayLike,
    D_S: ArrayLike,
    L_T: ArrayLike,
    L_S: ArrayLike,
    *,
    supervised: SupervisedCoefficients,
    delta: float = 1e-4,
    grid: Mapping[str, Sequence[float]] | None = None,
    refine: int | None = DEFAULT_REFINE["distillation"],
    method: str = "batched",
    settings: OptimizerSettings = OptimizerSettings(),
) -> DistillationFit:
    """Fit the distillation law L_S(N_S, D_S, L_T) (paper Eq. 8) to distillation runs.

    ``L_T`` is each run's measured teacher loss; ``supervised`` the coefficients that give the student's
    supervised loss L~_S = L(N_S, D_S) inside the law (held fixed). ``grid`` maps the coordinates
    (``log_A, log_B, alpha, beta, gamma, c0, c1, f1, log_d1``) to start values; default: the paper's grid
    (:data:`PAPER_DISTILLATION_GRID`, 216,000 starts). ``refine`` and ``method`` as in :func:`fit_supervised`.
    """
    func = "fit_distillation"
    if not isinstance(supervised, SupervisedCoefficients):
        raise TypeError(
            f"{func}: argument 'supervised' must be a laws.SupervisedCoefficients (e.g. fit_supervised(...)"
            f".params), got {type(supervised).__name__}"
        )
    delta = _positive_scalar(func, "delta", delta)
    refine = _refine_count(func, refine)
    method = _method(func, method)
    law = DistillationLogLaw()
    runs = _runs(func, len(law.free), N_S=N_S, D_S=D_S, L_T=L_T, L_S=L_S)
    data = RunData(
        x=np.log(runs["N_S"]),
        y=np.log(runs["D_S"]),
        target=np.log(runs["L_S"]),
        weights=np.ones(runs["N_S"].size),
        delta=delta,
        log_teacher=np.log(runs["L_T"]),
        log_student_sup=np.log(supervised_loss(runs["N_S"], runs["D_S"], supervised)),
    )
    return fit_law(
        "distillation",
        law,
        data,
        inputs=runs,
        grid=PAPER_DISTILLATION_GRID if grid is None else grid,
        refine=refine,
        method=method,
        settings=settings,
        supervised=supervised,
    )
