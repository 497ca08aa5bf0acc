"""Uncertainty and out-of-sample checks of a fitted law: bootstrap intervals and the extrapolation test.

``bootstrap(result)`` resamples the fitted runs with replacement (4096 resamples by default, as the paper and
Besiroglu et al. 2024), refits each resample, and gives percentile intervals. A resample is represented by
how many times each run was drawn (run weights), which gives exactly the objective of the resampled runs.

How each resample is refitted (``strategy``):

- ``"warm"`` (default): first damped Gauss-Newton steps from the full-data optimum (up to
  :data:`GAUSS_NEWTON_ITER`; they follow directions the runs barely determine, where a gradient-based refit
  stops at once and the interval collapses: see :func:`interval_growth`), then from that point *and* from
  the other distinct local optima that the full fit's multi-start search found (``alternatives`` of them),
  all resamples optimised together with the batched quasi-Newton optimiser, the best solution of each
  finished by scipy's L-BFGS-B. A resample's objective is a small
  perturbation of the full-data objective, so its minima lie near the full-data minima; the alternatives
  let a resample switch basin when another minimum becomes the lowest. :func:`cold_refits` refits resamples
  the expensive way (the whole grid search on each) to check this on a given problem.
- ``"quasi-newton"``: the warm strategy without its Gauss-Newton stage (what this package did before; kept
  to show what that stage changes: on a law with poorly determined directions its intervals collapse).
- ``"grid"``: the whole grid search on every resample (slow; for validation).

Every refit is tested for convergence (projected gradient, as in :mod:`distill_scaling.fit`); intervals use
the converged refits and the result reports the fraction that converged.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .fit import KKT_TOL, FitResult, coefficients, grid_points, multistart, refine_start
from .fit_batch import batch_gauss_newton, batch_minimize
from .laws import DistillationCoefficients, SupervisedCoefficients

STRATEGIES = ("warm", "quasi-newton", "grid")

#: Iteration cap of each refit (batched stage, then scipy's L-BFGS-B for refits that fail the optimality
#: test). Refits that still fail it are reported as not converged and left out of the intervals: on a
#: poorly identified law they crawl along flat valleys of the objective for many thousand iterations.
REFIT_MAX_ITER = 1000

#: Iteration cap of the Gauss-Newton stage that starts every warm refit. On a well-posed law it converges in
#: a few dozen iterations and changes nothing; on the distillation law it is what moves refits along its
#: poorly determined directions (400: where the widths of its bounded coefficients have nearly settled).
GAUSS_NEWTON_ITER = 400


def resample_weights(n_runs: int, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap resamples as counts: row b says how often each of the ``n_runs`` runs was drawn."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_runs, size=(n_resamples, n_runs))
    counts = np.zeros((n_resamples, n_runs))
    np.add.at(counts, (np.arange(n_resamples)[:, None], draws), 1.0)
    return counts


def _check_level(func: str, level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not (0 < float(level) < 1):
        raise ValueError(f"{func}: argument 'level' must be a number strictly between 0 and 1, got {level!r}")
    return float(level)


@dataclass
class BootstrapResult:
    """Refits of a law on bootstrap resamples of its runs.

    ``samples`` has one row per resample and one column per coefficient (the :mod:`laws` names);
    ``converged`` marks the refits that passed the optimality test. :meth:`intervals` gives percentile
    intervals over the converged refits; :attr:`params` the full-data coefficients with those intervals.
    """

    fit: FitResult = field(repr=False)
    samples: pd.DataFrame = field(repr=False)
    objective: np.ndarray = field(repr=False)
    projected_gradient: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    n_resamples: int
    seed: int
    level: float
    strategy: str
    seconds: float
    #: CPU seconds of the refits, summed over the processes that ran them (``seconds`` is wall time).
    cpu_seconds: float = math.nan

    @property
    def converged_fraction(self) -> float:
        """Fraction of the refits that passed the optimality test."""
        return float(np.mean(self.converged))

    def intervals(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Percentile intervals over the converged refits (``level``: default, the bootstrap's); NaN when no
        refit converged (:attr:`converged_fraction` is then 0)."""
        level = self.level if level is None else _check_level("intervals", level)
        ok = self.samples[self.converged]
        if ok.empty:
            return {c: (math.nan, math.nan) for c in ok.columns}
        lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
        return {c: (float(np.percentile(ok[c], lo)), float(np.percentile(ok[c], hi))) for c in ok.columns}

    @property
    def params(self) -> SupervisedCoefficients | DistillationCoefficients:
        """The full-data coefficients with the bootstrap intervals attached."""
        source = (
            f"{self.fit.params.source}; {self.level:.0%} bootstrap intervals ({self.n_resamples} resamples)"
        )
        return self.fit.params.replace(intervals=self.intervals(), source=source)

    def table(self, level: float | None = None) -> pd.DataFrame:
        """Estimate, interval, bootstrap standard deviation and relative width of every coefficient."""
        iv = self.intervals(level)
        ok = self.samples[self.converged]
        rows = []
        for name, value in self.fit.params.values().items():
            if name not in iv:
                continue
            lo, hi = iv[name]
            rows.append(
                {
                    "coefficient": name,
                    "estimate": value,
                    "low": lo,
                    "high": hi,
                    "std": float(ok[name].std(ddof=1)) if len(ok) > 1 else math.nan,
                    "relative_width": (hi - lo) / abs(value) if value else math.nan,
                }
            )
        return pd.DataFrame(rows).set_index("coefficient")


#: Other local optima of the full fit serve as bootstrap starts if their objective is within this relative
#: margin of the best: a resample perturbs the objective by a few percent (its runs' weights change by
#: O(1/sqrt(n)) in aggregate), so a minimum 10x worse never becomes the best one.
ALTERNATIVE_MARGIN = 0.25


def _distinct_optima(result: FitResult, alternatives: int, margin: float = ALTERNATIVE_MARGIN) -> np.ndarray:
    """The full-data optimum, then up to ``alternatives`` other distinct local optima within ``margin``."""
    best = result.search.best
    limit = best.scaled_objective * (1 + margin)
    others = sorted(
        (r for r in result.search.polished if r is not best and r.scaled_objective <= limit),
        key=lambda r: r.scaled_objective,
    )
    return np.array([best.theta] + [r.theta for r in others[:alternatives]])


def _samples_frame(result: FitResult, thetas: np.ndarray) -> pd.DataFrame:
    """One row of coefficients per refit; NaN for a refit whose coefficients are not finite (a log-scale
    coordinate beyond exp's range: the resample does not bound that coefficient), which then counts as not
    converged."""
    full = result.law.full(thetas)
    cols = list(result.params.values())
    rows = []
    for row in full:
        try:
            rows.append(coefficients(result.kind, row).values())
        except (OverflowError, ValueError):
            rows.append(dict.fromkeys(cols, math.nan))
    frame = pd.DataFrame(rows, columns=cols)
    # A coefficient held fixed (gamma = 1 in Chinchilla's form) has no interval.
    fixed = {"gamma"} if result.kind == "supervised" and "gamma" not in result.law.free else set()
    return frame.drop(columns=sorted(fixed))


def bootstrap(
    result: FitResult,
    n_resamples: int = 4096,
    *,
    level: float = 0.9,
    seed: int = 0,
    strategy: str = "warm",
    alternatives: int = 2,
    chunk: int = 1024,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BootstrapResult:
    """Refit ``result``'s law on ``n_resamples`` bootstrap resamples of its runs (seeded).

    ``level`` is the default coverage of :meth:`BootstrapResult.intervals` (0.9: the 5th and 95th
    percentiles, as the paper's Table 6). ``strategy`` and ``alternatives``: see the module docstring.
    ``workers`` processes refit chunks of ``chunk`` resamples side by side (warm and quasi-Newton strategies);
    a refit does not depend on the others in its chunk, so the result is the same to the bit for any number
    of workers. ``progress(done, total)`` is called as chunks finish.
    """
    func = "bootstrap"
    if not isinstance(result, FitResult):
        raise TypeError(f"{func}: argument 'result' must be a FitResult from fit_supervised/fit_distillation")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise ValueError(f"{func}: argument 'n_resamples' must be an integer >= 2, got {n_resamples!r}")
    level = _check_level(func, level)
    if strategy not in STRATEGIES:
        raise ValueError(f"{func}: argument 'strategy' must be one of {STRATEGIES}, got {strategy!r}")
    if isinstance(alternatives, bool) or not isinstance(alternatives, (int, np.integer)) or alternatives < 0:
        raise ValueError(f"{func}: argument 'alternatives' must be an integer >= 0, got {alternatives!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"{func}: argument 'workers' must be an integer >= 1, got {workers!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"{func}: argument 'chunk' must be an integer >= 1, got {chunk!r}")

    t0 = time.perf_counter()
    weights = resample_weights(result.n_runs, int(n_resamples), seed)
    thetas = np.empty((n_resamples, len(result.theta)))
    objective = np.empty(n_resamples)
    pgrad = np.empty(n_resamples)
    if strategy in ("warm", "quasi-newton"):
        starts = _distinct_optima(result, alternatives)
        spans = [(s, min(s + chunk, n_resamples)) for s in range(0, n_resamples, chunk)]
        args = [(result, starts, weights[s:e], strategy == "warm") for s, e in spans]
        done, cpu = 0, 0.0
        for (s, e), (th, f, pg, c) in zip(spans, _map(_warm_refits_of, args, workers), strict=True):
            thetas[s:e], objective[s:e], pgrad[s:e] = th, f, pg
            done, cpu = done + e - s, cpu + c
            if progress is not None:
                progress(done, n_resamples)
    else:
        c0 = time.process_time()
        for b in range(n_resamples):
            refit = cold_refits(result, weights[b : b + 1])
            thetas[b], objective[b], pgrad[b] = refit[0]
            if progress is not None and ((b + 1) % chunk == 0 or b + 1 == n_resamples):
                progress(b + 1, n_resamples)
        cpu = time.process_time() - c0
    samples = _samples_frame(result, thetas)
    return BootstrapResult(
        fit=result,
        samples=samples,
        objective=objective,
        projected_gradient=pgrad,
        converged=np.isfinite(objective) & (pgrad <= KKT_TOL) & samples.notna().all(axis=1).to_numpy(),
        n_resamples=int(n_resamples),
        seed=seed,
        level=level,
        strategy=strategy,
        seconds=time.perf_counter() - t0,
        cpu_seconds=cpu,
    )


def _map(func: Callable, args: list[tuple], workers: int):
    """``func(*a)`` for each ``a`` in order, in up to ``workers`` processes (forkserver, as the training pool
    of :mod:`distill_scaling.runs`: safe in a kernel or a program with threads); in this process when one
    worker or one task."""
    if workers == 1 or len(args) == 1:
        yield from (func(*a) for a in args)
        return
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=min(workers, len(args)), mp_context=ctx) as pool:
        yield from pool.map(func, *zip(*args, strict=True))


def _warm_refits_of(
    result: FitResult, starts: np.ndarray, weights: np.ndarray, gauss_newton: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """:func:`_warm_refits` and the CPU seconds it took in the process that ran it."""
    c0 = time.process_time()
    out = _warm_refits(result, starts, weights, gauss_newton=gauss_newton)
    return (*out, time.process_time() - c0)


def _warm_refits(
    result: FitResult, starts: np.ndarray, weights: np.ndarray, gauss_newton: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit every resample (row of ``weights``): Gauss-Newton from the first start (if ``gauss_newton``),
    then the quasi-Newton stage from its end point and from the other starts; keep each resample's best,
    polished."""
    law, data = result.law, result.data
    n_b, n_s, p = len(weights), len(starts), starts.shape[1]
    first = np.tile(starts[0], (n_b, 1))
    if gauss_newton:
        first = batch_gauss_newton(
            law, data, first, weights, max_iter=GAUSS_NEWTON_ITER, pg_tol=KKT_TOL / 10
        ).theta
    per = np.concatenate([first[:, None, :], np.broadcast_to(starts[1:], (n_b, n_s - 1, p))], axis=1)
    batch = batch_minimize(
        law,
        data,
        per.reshape(-1, p),
        np.repeat(weights, n_s, axis=0),
        pg_tol=KKT_TOL / 10,
        max_iter=REFIT_MAX_ITER,
    )
    obj = batch.objective.reshape(n_b, n_s)
    pick = np.argmin(obj, axis=1)
    rows = np.arange(n_b)
    thetas = batch.theta.reshape(n_b, n_s, -1)[rows, pick]
    f = obj[rows, pick]
    pg = batch.projected_gradient.reshape(n_b, n_s)[rows, pick]
    # Refits that the batched stage left short of the optimality test are finished by scipy's L-BFGS-B.
    settings = replace(
        result.settings, maxiter=min(result.settings.maxiter or REFIT_MAX_ITER, REFIT_MAX_ITER)
    )
    for b in np.flatnonzero(~(pg <= KKT_TOL)):
        refined = refine_start(law, data.subset(np.arange(data.n), weights[b]), thetas[b], settings)
        if refined.scaled_objective <= f[b] or not np.isfinite(f[b]):
            thetas[b], f[b], pg[b] = refined.theta, refined.scaled_objective, refined.projected_gradient
    return thetas, f, pg


def cold_refits(result: FitResult, weights: np.ndarray, refine: int | None = None) -> list[tuple]:
    """Refit resamples (rows of ``weights``) with the full grid search, as the full-data fit was done.

    Returns ``(theta, scaled objective, projected gradient)`` per resample. Slow: for validating the warm
    strategy on a given problem.
    """
    law = result.law
    axes = [np.asarray(result.grid[n]) for n in law.free]
    starts = grid_points(law, result.grid)
    out = []
    for w in np.atleast_2d(weights):
        data = result.data.subset(np.arange(result.data.n), w)
        scores = law.grid_objective(axes, data)
        search = multistart(
            law,
            data,
            starts,
            result.refine if refine is None else refine,
            method=result.method,
            settings=result.settings,
            scores=scores,
        )
        best = search.best
        out.append((best.theta, best.scaled_objective, best.projected_gradient))
    return out


# --- Are the intervals bounded by the runs? -----------------------------------------------------------------


@dataclass
class IntervalGrowth:
    """Bootstrap interval widths as refits are allowed more Gauss-Newton iterations.

    ``widths``: one row per coefficient, one column per cumulative iteration count, the relative width of the
    ``level`` percentile interval (``(high - low) / |estimate|``) over the refits. ``objective``: the mean
    scaled objective of the refits at each count. A coefficient whose width keeps growing is not bounded by
    the runs: its refits drift along a valley in which the objective still falls, and where a bootstrap
    reports its interval is where the optimiser stopped (:meth:`unbounded`).
    """

    widths: pd.DataFrame
    objective: pd.Series
    n_resamples: int
    seed: int
    level: float

    def to_dict(self) -> dict:
        """JSON-ready: ``n_resamples``, ``iterations``, ``widths`` (coefficient -> one width per count) and
        ``objective`` (one mean per count)."""
        return {
            "n_resamples": self.n_resamples,
            "iterations": [int(k) for k in self.widths.columns],
            "widths": {c: [float(v) for v in row] for c, row in self.widths.iterrows()},
            "objective": [float(v) for v in self.objective],
        }

    def growth(self) -> pd.Series:
        """Width at the last count over the width at the second (the first steps leave the start)."""
        cols = list(self.widths.columns)
        first = self.widths[cols[1] if len(cols) > 2 else cols[0]]
        return self.widths[cols[-1]] / first.where(first > 0)

    def unbounded(self, factor: float = 2.0) -> list[str]:
        """Coefficients whose interval widened more than ``factor``-fold between the second and last count,
        or came out infinite: the runs do not bound them."""
        g = self.growth()
        last = self.widths[self.widths.columns[-1]]
        return [c for c in self.widths.index if not np.isfinite(last[c]) or g[c] > factor]


def interval_growth(
    result: FitResult,
    n_resamples: int = 32,
    *,
    iterations: tuple[int, ...] = (25, 50, 100, 200, 400),
    level: float = 0.9,
    seed: int = 0,
) -> IntervalGrowth:
    """Refit ``n_resamples`` bootstrap resamples from the full-data optimum with damped Gauss-Newton steps
    (:func:`distill_scaling.fit_batch.batch_gauss_newton`), recording the interval widths after each
    cumulative count in ``iterations``.

    Why: a gradient-based refit stops where the gradient is small, and along a direction the runs barely
    determine it is small from the start, so the refit never leaves the full-data optimum and the interval
    collapses (the paper's ``c1``). Gauss-Newton steps follow such directions; if the widths settle, the
    runs bound the coefficient, and if they keep growing while the objective keeps falling, no finite
    interval is meaningful.
    """
    func = "interval_growth"
    if not isinstance(result, FitResult):
        raise TypeError(f"{func}: argument 'result' must be a FitResult from fit_supervised/fit_distillation")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 4:
        raise ValueError(f"{func}: argument 'n_resamples' must be an integer >= 4, got {n_resamples!r}")
    steps = tuple(iterations)
    if not steps or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in steps):
        raise ValueError(f"{func}: argument 'iterations' must be positive integers, got {iterations!r}")
    if list(steps) != sorted(set(steps)):
        raise ValueError(f"{func}: argument 'iterations' must be strictly increasing, got {iterations!r}")
    level = _check_level(func, level)
    weights = resample_weights(result.n_runs, int(n_resamples), seed)
    theta = np.tile(result.theta, (int(n_resamples), 1))
    estimate = result.params.values()
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    widths, objective, done = {}, {}, 0
    for k in steps:
        batch = batch_gauss_newton(result.law, result.data, theta, weights, max_iter=k - done, pg_tol=0.0)
        theta, done = batch.theta, k
        samples = _samples_frame(result, theta)
        widths[k] = {
            c: (np.percentile(samples[c], hi) - np.percentile(samples[c], lo)) / abs(estimate[c])
            if estimate[c] and samples[c].notna().all()
            else math.inf
            for c in samples.columns
        }
        objective[k] = float(np.mean(batch.objective))
    return IntervalGrowth(
        widths=pd.DataFrame(widths),
        objective=pd.Series(objective, name="objective"),
        n_resamples=int(n_resamples),
        seed=seed,
        level=level,
    )


# --- Extrapolation ------------------------------------------------------------------------------------------


@dataclass
class ExtrapolationResult:
    """A fit on the high-loss runs and its relative errors on the held-out low-loss runs."""

    threshold: float
    fit: FitResult = field(repr=False)
    held_out: pd.DataFrame = field(repr=False)
    n_fit: int
    n_held_out: int
    max_abs_error: float
    mean_abs_error: float
    rms_error: float


def extrapolation_check(result: FitResult, threshold: float) -> ExtrapolationResult:
    """Refit ``result``'s law on its runs with loss >= ``threshold`` and predict the runs below it.

    This is the paper's extrapolation test (L >= 2.2 for the supervised law, L_S >= 2.3 for the distillation
    law): the relative errors L_hat / L - 1 on the held-out runs measure how far the law carries from weaker
    to stronger models. The refit uses the same grid, ``refine``, method and settings as ``result``.
    """
    func = "extrapolation_check"
    if not isinstance(result, FitResult):
        raise TypeError(f"{func}: argument 'result' must be a FitResult from fit_supervised/fit_distillation")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f"{func}: argument 'threshold' must be a finite number (a loss), got {threshold!r}")
    observed = result.observed
    high = observed >= threshold
    n_fit, n_held = int(high.sum()), int((~high).sum())
    if n_fit < len(result.law.free):
        raise ValueError(
            f"{func}: only {n_fit} runs have loss >= threshold {threshold}; the fit needs at least "
            f"{len(result.law.free)} (losses range from {observed.min():.4g} to {observed.max():.4g})"
        )
    if n_held == 0:
        raise ValueError(
            f"{func}: no run has loss below threshold {threshold} (the smallest is {observed.min():.4g}); "
            "nothing would be held out"
        )
    sub = result.refit(np.flatnonzero(high))
    inputs = {k: v[~high] for k, v in result.inputs.items()}
    if result.kind == "supervised":
        predicted = sub.predict(inputs["N"], inputs["D"])
    else:
        predicted = sub.predict(inputs["N_S"], inputs["D_S"], inputs["L_T"])
    table = pd.DataFrame(inputs)
    table["predicted"] = predicted
    table["relative_error"] = predicted / observed[~high] - 1
    err = table["relative_error"].to_numpy()
    return ExtrapolationResult(
        threshold=float(threshold),
        fit=sub,
        held_out=table,
        n_fit=n_fit,
        n_held_out=n_held,
        max_abs_error=float(np.max(np.abs(err))),
        mean_abs_error=float(np.mean(np.abs(err))),
        rms_error=float(np.sqrt(np.mean(err**2))),
    )
