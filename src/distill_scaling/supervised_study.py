"""The study's supervised records -> tidy tables: designs, seed noise, IsoFLOP profiles and optima, M*.

The first half of the analysis of the study's records (:mod:`distill_scaling.distillation_study` is the
other; the law fits to both kinds of runs are :mod:`distill_scaling.fits`). The study's runs are described
by a *design*: one row per (block, run) with the run's key, model, tokens, seed and compute
(:func:`study_design` for the study's blocks, :func:`design_table` for any list of specs; the supervised runs
to train are :func:`study_specs`). :func:`supervised_runs` joins a design with the records that exist, so a
chapter shows what is there and says what is pending (:func:`progress_table`) instead of failing.

From the supervised runs:

- :func:`seed_spread`, :func:`pooled_noise` and :func:`paired_differences`: the seed-to-seed spread of the
  final validation loss per configuration, pooled with a chi-square interval, and paired-seed differences
  between neighbouring sizes of an IsoFLOP profile.
- :func:`isoflop_points`, :func:`parabola_minimum` and :func:`compute_optimal`: IsoFLOP profiles (loss
  against size at fixed compute), the parabola in log N through each profile's lowest point and its two
  neighbours, and from its vertex N*(C), D*(C) and M* = D*/N* with intervals from the measured seed noise
  (parametric bootstrap), plus the compute-optimal exponents N* ~ C^a, D* ~ C^b.
- :func:`m_star`: the compute-optimal tokens per parameter at our scale, ``(value, low, high)``, which the
  later protocols use where the paper uses M = 20.

A profile whose lowest point is its smallest (or largest) size has its minimum at the edge of what was
trained; its N* is reported as a bound (``edge``), never extrapolated, and it does not enter the exponents.

Units: N = non-embedding parameters, D = tokens trained, C = FLOPs (3 F(N) D, the study's accounting),
L = validation cross-entropy in nats per token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from . import study
from .spec import RunSpec, run_flops
from .store import load_records

#: Two runs belong to the same IsoFLOP budget when their compute is within this relative distance of it.
BUDGET_RTOL = 0.02

#: Columns of :func:`supervised_runs` (and of the synthetic tables the tests build).
RUN_COLUMNS = ("key", "model", "n_params", "tokens", "flops", "budget", "seed", "val_loss")


class InsufficientData(ValueError):
    """The records do not (yet) determine the asked quantity; the message says what is missing."""


# --- designs and records ------------------------------------------------------------------------------------


def snap_budget(flops: Sequence[float] | np.ndarray, budgets: Sequence[float], rtol: float = BUDGET_RTOL):
    """The nominal budget within ``rtol`` of each compute value (NaN where none is that close)."""
    c = np.asarray(flops, float)
    out = np.full(c.shape, np.nan)
    for b in budgets:
        out[np.abs(c / b - 1) <= rtol] = b
    return out


def design_table(
    specs, block: str = "", budgets: Sequence[float] = (), *, budget_of: Sequence[float] | None = None
) -> pd.DataFrame:
    """One row per spec: ``block, key, model, n_params, tokens, seed, split, flops, budget``.

    ``tokens`` are the tokens the run will train on (whole batches); ``flops`` its paper-accounting compute;
    ``budget`` the nominal IsoFLOP budget among ``budgets`` that it lies on (NaN if none), or, with
    ``budget_of``, the nominal budget of each spec as designed (for tiny runs, whose whole-batch rounding
    moves their compute by more than :data:`BUDGET_RTOL`).
    """
    cols = ["block", "key", "model", "n_params", "tokens", "seed", "split", "teacher", "flops"]
    rows = [
        [block, s.key, s.model, s.config.n_params, s.tokens_trained, s.seed, s.split, s.teacher,
         run_flops(s)["total"]]
        for s in specs
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols).astype({"flops": float, "n_params": float, "tokens": float})
    if budget_of is not None:
        if len(budget_of) != len(df):
            raise ValueError(f"design_table: 'budget_of' has {len(budget_of)} values for {len(df)} specs")
        df["budget"] = np.asarray(budget_of, float)
    else:
        df["budget"] = snap_budget(df["flops"].to_numpy(float), budgets)
    return df


def study_design(blocks: Sequence[str] | None = None, *, supervised_only: bool = True) -> pd.DataFrame:
    """The study's design (:data:`distill_scaling.study.BLOCKS`), one row per (block, run).

    ``blocks``: the block names (default: all). ``supervised_only``: drop distillation runs. IsoFLOP budgets
    are the study's :data:`~distill_scaling.study.PROFILE_BUDGETS`. A block that cannot be built yet (the
    protocols need the measured M*) is left out; ``design.attrs["skipped"]`` maps it to the reason.
    """
    names = list(study.BLOCKS) if blocks is None else list(blocks)
    unknown = [b for b in names if b not in study.BLOCKS]
    if unknown:
        raise ValueError(f"unknown study block(s) {unknown}; allowed: {', '.join(study.BLOCKS)}")
    frames, skipped = [], {}
    for name in names:
        try:
            built = study.BLOCKS[name].build()
        except ValueError as exc:
            skipped[name] = str(exc)
            continue
        specs = [s for s in built if not (supervised_only and s.teacher is not None)]
        if specs:
            frames.append(design_table(specs, name, study.PROFILE_BUDGETS))
    design = pd.concat(frames, ignore_index=True) if frames else design_table([], "")
    design.attrs["skipped"] = skipped
    return design


#: The study's blocks whose runs make the IsoFLOP profiles and measure the seed noise: every budget of
#: :data:`~distill_scaling.study.PROFILE_BUDGETS`, the decade above the others included, so that each
#: chapter measures M* on the same five profiles as :func:`m_star`.
ISOFLOP_BLOCKS = ("isoflop-small", "noise", "isoflop-large", "isoflop-decade")


def study_specs() -> list[RunSpec]:
    """Every supervised run of the study's blocks that can be built now (what training the study's missing
    supervised runs trains; the protocols' blocks join once the study's M* is set)."""
    out: dict[str, RunSpec] = {}
    for block in study.BLOCKS.values():
        try:
            built = block.build()
        except ValueError:  # needs the measured M* (study.STUDY_M_STAR), not set yet
            continue
        for s in built:
            if s.teacher is None:
                out.setdefault(s.key, s)
    return list(out.values())


def block_keys(name: str) -> list[str]:
    """The run keys of one study block (``study.BLOCKS[name].build()``), in the block's order."""
    if name not in study.BLOCKS:
        raise ValueError(f"unknown study block {name!r}; allowed: {', '.join(study.BLOCKS)}")
    return [s.key for s in study.BLOCKS[name].build()]


def select_block(records: pd.DataFrame, name: str) -> pd.DataFrame:
    """The records of the runs of study block ``name`` (those that exist)."""
    keys = block_keys(name)
    if records.empty:
        return records
    return records[records["key"].isin(keys)]


def _is_supervised(records: pd.DataFrame) -> pd.Series:
    if "teacher" not in records.columns:
        return pd.Series(True, index=records.index)
    return records["teacher"].isna()


def supervised_runs(
    records: pd.DataFrame,
    design: pd.DataFrame | None = None,
    budgets: Sequence[float] = (),
) -> pd.DataFrame:
    """The recorded supervised runs as a tidy table, one row per run (see :data:`RUN_COLUMNS`).

    With a ``design``, only its runs are kept and their ``budget`` and ``block`` (the first block listing the
    run) come from it; without one, every supervised record is kept and ``budget`` is the nominal budget among
    ``budgets`` that its compute lies on.
    Extra columns: ``split, tokens_per_param, epochs, steps, wall_time_s`` where the records have them.
    """
    cols = [*RUN_COLUMNS, "block", "split", "tokens_per_param", "epochs", "steps", "wall_time_s"]
    if records is None or records.empty:
        return pd.DataFrame(columns=cols)
    need = {"key", "model", "n_params", "val_loss"}
    missing = need - set(records.columns)
    if missing:
        raise ValueError(
            f"records lack the column(s) {sorted(missing)} (expected store.load_records() output)"
        )
    df = records[_is_supervised(records)].copy()
    df["tokens"] = df["tokens_trained"] if "tokens_trained" in df.columns else df["tokens"]
    df["flops"] = df["flops_total"] if "flops_total" in df.columns else df["flops"]
    if design is not None:
        d = design.drop_duplicates("key").set_index("key")
        df = df[df["key"].isin(d.index)]
        df["budget"] = d.loc[df["key"], "budget"].to_numpy(float) if len(df) else np.array([])
        df["block"] = d.loc[df["key"], "block"].to_numpy() if len(df) else np.array([])
    else:
        df["budget"] = snap_budget(df["flops"].to_numpy(float), budgets)
    df["tokens_per_param"] = df["tokens"] / df["n_params"]
    for c in cols:
        if c not in df.columns:
            df[c] = np.nan
    out = df[cols].reset_index(drop=True)
    for c in ("n_params", "tokens", "flops", "budget", "val_loss", "tokens_per_param"):
        out[c] = out[c].astype(float)
    return out.sort_values(["budget", "n_params", "seed"], na_position="last").reset_index(drop=True)


def progress_table(records: pd.DataFrame, design: pd.DataFrame) -> pd.DataFrame:
    """Per block of the design: runs recorded, runs in total, the compute of each (FLOPs) and the training
    wall time of the recorded runs (``wall_hours``, from the records' ``wall_time_s``; a run's wall time
    depends on the machine and on what else ran beside it)."""
    have = set(records["key"]) if records is not None and not records.empty else set()
    d = design.assign(recorded=design["key"].isin(have))
    d["flops_recorded"] = d["flops"].where(d["recorded"], 0.0)
    has_wall = records is not None and "wall_time_s" in getattr(records, "columns", [])
    wall = (
        records.drop_duplicates("key").set_index("key")["wall_time_s"] if has_wall else pd.Series(dtype=float)
    )
    d["wall_hours"] = pd.to_numeric(d["key"].map(wall), errors="coerce").fillna(0.0) / 3600
    out = d.groupby("block", sort=False).agg(
        recorded=("recorded", "sum"), total=("key", "size"), flops_recorded=("flops_recorded", "sum"),
        flops_total=("flops", "sum"), wall_hours=("wall_hours", "sum"),
    )  # fmt: skip
    distinct = d.drop_duplicates("key")
    out.loc["all (distinct runs)"] = [
        int(distinct["recorded"].sum()),
        int(d["key"].nunique()),
        float(distinct["flops_recorded"].sum()),
        float(distinct["flops"].sum()),
        float(distinct["wall_hours"].sum()),
    ]
    out[["recorded", "total"]] = out[["recorded", "total"]].astype(int)
    return out


def progress_frame(progress: pd.DataFrame) -> pd.DataFrame:
    """:func:`progress_table` for display: runs recorded of the total, compute recorded and in total (PFLOP),
    and the training wall time of the recorded runs (hours)."""
    cols = ["runs recorded", "compute recorded (PFLOP)", "compute in total (PFLOP)", "training wall time (h)"]
    if progress.empty:
        return pd.DataFrame(columns=cols)
    p = progress
    out = pd.DataFrame(
        {
            cols[0]: p["recorded"].astype(str) + " of " + p["total"].astype(str),
            cols[1]: p["flops_recorded"] / 1e15,
            cols[2]: p["flops_total"] / 1e15,
            cols[3]: p["wall_hours"],
        },
        index=p.index,
    )
    out.index.name = "block"
    return out


# --- seed-to-seed noise -------------------------------------------------------------------------------------

#: A configuration is everything about a run but its seeds.
CONFIG_COLUMNS = ("model", "n_params", "tokens", "budget")


def _config_groups(runs: pd.DataFrame):
    cols = [c for c in CONFIG_COLUMNS if c in runs.columns]
    return runs.groupby(cols, dropna=False, sort=True)


def seed_spread(runs: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """Per configuration with at least two seeds: the seeds' final validation losses, their mean, standard
    deviation (ddof = 1) in nats and relative to the mean (%), with a chi-square interval on the relative std.
    """
    rows = []
    for cfg, g in _config_groups(runs):
        if len(g) < 2:
            continue
        losses = g["val_loss"].to_numpy(float)
        n = len(losses)
        std = float(np.std(losses, ddof=1))
        mean = float(np.mean(losses))
        lo, hi = _chi2_interval(std / mean, n - 1, level)
        row = dict(zip([c for c in CONFIG_COLUMNS if c in runs.columns], cfg, strict=True))
        row.update(
            {
                "seeds": n,
                "losses": tuple(round(float(x), 4) for x in losses),
                "mean": mean,
                "std": std,
                "rel_std_pct": 100 * std / mean,
                "rel_std_low_pct": 100 * lo,
                "rel_std_high_pct": 100 * hi,
                "range": float(losses.max() - losses.min()),
            }
        )
        rows.append(row)
    cols = [c for c in CONFIG_COLUMNS if c in runs.columns]
    extra = ["seeds", "losses", "mean", "std", "rel_std_pct", "rel_std_low_pct", "rel_std_high_pct", "range"]
    return pd.DataFrame(rows, columns=cols + extra)


def _chi2_interval(s: float, dof: int, level: float) -> tuple[float, float]:
    """Central ``level`` interval of a standard deviation estimated as ``s`` with ``dof`` degrees of
    freedom."""
    if dof < 1 or not np.isfinite(s):
        return math.nan, math.nan
    a = (1 - level) / 2
    return (
        float(s * math.sqrt(dof / stats.chi2.ppf(1 - a, dof))),
        float(s * math.sqrt(dof / stats.chi2.ppf(a, dof))),
    )


@dataclass(frozen=True)
class NoiseSummary:
    """The seed-to-seed spread pooled over configurations (variances weighted by their degrees of freedom).

    ``rel_std`` is a fraction of the loss (0.005 = 0.5%); ``*_interval`` are chi-square intervals at
    ``level``; ``configs`` and ``dof`` say how much data the estimate rests on.
    """

    std: float
    std_interval: tuple[float, float]
    rel_std: float
    rel_std_interval: tuple[float, float]
    configs: int
    runs: int
    dof: int
    level: float

    @property
    def measured(self) -> bool:
        return self.dof > 0

    def verdict(self, target: float) -> str:
        """``below``, ``above`` or ``inconclusive`` against a relative target (e.g. 0.005), judged by the
        interval."""
        if not self.measured:
            return "not measured"
        lo, hi = self.rel_std_interval
        if hi < target:
            return "below"
        if lo > target:
            return "above"
        return "inconclusive"


def pooled_noise(runs: pd.DataFrame, level: float = 0.9) -> NoiseSummary:
    """Pool the seed-to-seed variance of every configuration with two or more seeds."""
    ss_abs = ss_rel = 0.0
    dof = configs = n_runs = 0
    for _, g in _config_groups(runs):
        if len(g) < 2:
            continue
        x = g["val_loss"].to_numpy(float)
        ss_abs += float(np.sum((x - x.mean()) ** 2))
        ss_rel += float(np.sum((x / x.mean() - 1) ** 2))
        dof += len(x) - 1
        configs += 1
        n_runs += len(x)
    if dof == 0:
        nan2 = (math.nan, math.nan)
        return NoiseSummary(math.nan, nan2, math.nan, nan2, 0, 0, 0, level)
    std, rel = math.sqrt(ss_abs / dof), math.sqrt(ss_rel / dof)
    std_iv, rel_iv = _chi2_interval(std, dof, level), _chi2_interval(rel, dof, level)
    return NoiseSummary(std, std_iv, rel, rel_iv, configs, n_runs, dof, level)


def paired_differences(runs: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """Paired-seed differences between neighbouring sizes of each IsoFLOP budget.

    For every budget and every two consecutive sizes that share at least two seeds: the per-seed differences
    L(larger) - L(smaller), their mean, standard deviation, standard error, the t interval at ``level`` and
    whether it excludes zero (the ordering is resolved by the paired seeds).
    """
    rows = []
    sub = runs.dropna(subset=["budget"])
    for budget, g in sub.groupby("budget", sort=True):
        sizes = sorted(g["n_params"].unique())
        for small, large in zip(sizes[:-1], sizes[1:], strict=True):
            a = g[g["n_params"] == small].set_index("seed")["val_loss"]
            b = g[g["n_params"] == large].set_index("seed")["val_loss"]
            common = sorted(set(a.index) & set(b.index))
            if len(common) < 2:
                continue
            d = (b.loc[common] - a.loc[common]).to_numpy(float)
            n = len(d)
            mean, sd = float(d.mean()), float(d.std(ddof=1))
            se = sd / math.sqrt(n)
            half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se
            rows.append(
                {
                    "budget": budget,
                    "smaller": g.loc[g["n_params"] == small, "model"].iloc[0],
                    "larger": g.loc[g["n_params"] == large, "model"].iloc[0],
                    "seeds": n,
                    "mean_diff": mean,
                    "std_diff": sd,
                    "se": se,
                    "low": mean - half,
                    "high": mean + half,
                    "resolved": bool(mean - half > 0 or mean + half < 0),
                }
            )
    cols = ["budget", "smaller", "larger", "seeds", "mean_diff", "std_diff", "se", "low", "high", "resolved"]
    return pd.DataFrame(rows, columns=cols)


# --- IsoFLOP profiles ---------------------------------------------------------------------------------------


def isoflop_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One point per (budget, size): the mean loss over seeds, the number of seeds and their spread."""
    sub = runs.dropna(subset=["budget"])
    cols = ["budget", "model", "n_params", "tokens", "flops", "val_loss", "seeds", "std", "tokens_per_param"]
    if sub.empty:
        return pd.DataFrame(columns=cols)
    out = (
        sub.groupby(["budget", "n_params"], sort=True)
        .agg(
            model=("model", "first"),
            tokens=("tokens", "mean"),
            flops=("flops", "mean"),
            val_loss=("val_loss", "mean"),
            seeds=("val_loss", "size"),
            std=("val_loss", "std"),
        )
        .reset_index()
    )
    out["tokens_per_param"] = out["tokens"] / out["n_params"]
    return out[cols]


@dataclass(frozen=True)
class ParabolaMinimum:
    """The minimum of one IsoFLOP profile from a parabola in x = ln N.

    ``coef`` are ``np.polyfit`` coefficients (highest power first) of L(x) over the ``window`` of sizes the
    parabola went through. ``edge`` is ``"small"`` or ``"large"`` when the lowest point is the profile's
    smallest or largest size: then ``n_star`` is that size, a bound on the true optimum (which lies beyond
    it), and ``loss_star`` the lowest measured loss. ``None`` means an interior minimum.
    """

    n_star: float
    loss_star: float
    edge: str | None
    coef: np.ndarray = field(repr=False)
    window: tuple[float, ...] = ()

    @property
    def interior(self) -> bool:
        return self.edge is None and np.isfinite(self.n_star)

    def curve(self, n: np.ndarray) -> np.ndarray:
        """The parabola's loss at sizes ``n``."""
        return np.polyval(self.coef, np.log(np.asarray(n, float)))


def parabola_minimum(n_params: Sequence[float], loss: Sequence[float], n_points: int = 3) -> ParabolaMinimum:
    """Fit a parabola in ln N through the lowest point of a profile and its neighbours; return its vertex.

    ``n_points`` consecutive sizes (by N) around the lowest loss form the window (least squares if more than
    three). A window at the profile's end whose lowest point is the end itself gives an edge minimum (see
    :class:`ParabolaMinimum`); a parabola that is not convex, or whose vertex leaves the window, is clipped to
    the lowest measured point.
    """
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 3:
        raise ValueError(f"parabola_minimum: argument 'n_points' must be an int >= 3, got {n_points!r}")
    n = np.asarray(n_params, float)
    y = np.asarray(loss, float)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError("parabola_minimum: 'n_params' and 'loss' must be 1-d arrays of the same length")
    order = np.argsort(n)
    n, y = n[order], y[order]
    if len(n) == 0:
        return ParabolaMinimum(math.nan, math.nan, None, np.array([math.nan] * 3))
    best = int(np.argmin(y))
    if len(n) < 3:
        edge = "small" if best == 0 else "large"
        return ParabolaMinimum(float(n[best]), float(y[best]), edge, np.array([math.nan] * 3), tuple(n))
    k = min(n_points, len(n))
    start = int(np.clip(best - (k - 1) // 2, 0, len(n) - k))
    idx = np.arange(start, start + k)
    x = np.log(n[idx])
    coef = np.polyfit(x, y[idx], 2)
    if best == 0 or best == len(n) - 1:
        edge = "small" if best == 0 else "large"
        return ParabolaMinimum(float(n[best]), float(y[best]), edge, coef, tuple(n[idx]))
    if coef[0] <= 0:  # not convex: the lowest measured point is the best we know
        return ParabolaMinimum(float(n[best]), float(y[best]), None, coef, tuple(n[idx]))
    xs = float(np.clip(-coef[1] / (2 * coef[0]), x[0], x[-1]))
    return ParabolaMinimum(float(math.exp(xs)), float(np.polyval(coef, xs)), None, coef, tuple(n[idx]))


def tokens_at(profile: pd.DataFrame, n_star: np.ndarray | float) -> np.ndarray | float:
    """D at size(s) ``n_star`` on one IsoFLOP profile: interpolation of its (ln N, ln D) points (the
    minima never leave the sizes trained, so no extrapolation is needed)."""
    p = profile.sort_values("n_params")
    x, y = np.log(p["n_params"].to_numpy(float)), np.log(p["tokens"].to_numpy(float))
    return np.exp(np.interp(np.log(n_star), x, y))


def minima_batch(n_params: Sequence[float], losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parabola_minimum` with ``n_points=3`` for many loss vectors at once (rows of ``losses``, sizes
    sorted ascending): returns ``(n_star, loss_star)`` per row. Used for the bootstrap draws."""
    x = np.log(np.asarray(n_params, float))
    y = np.atleast_2d(np.asarray(losses, float))
    rows, k = y.shape
    best = np.argmin(y, axis=1)
    start = np.clip(best - 1, 0, k - 3)
    r = np.arange(rows)
    x0, x1, x2 = x[start], x[start + 1], x[start + 2]
    y0, y1, y2 = y[r, start], y[r, start + 1], y[r, start + 2]
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
    c = (x1 * x2 * (x1 - x2) * y0 + x2 * x0 * (x2 - x0) * y1 + x0 * x1 * (x0 - x1) * y2) / denom
    lowest = y[r, best]
    interior = (best > 0) & (best < k - 1) & (a > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = np.clip(-b / (2 * a), x0, x2)
    n_star = np.where(interior, np.exp(xs), np.exp(x[best]))
    loss_star = np.where(interior, a * xs**2 + b * xs + c, lowest)
    return n_star, loss_star


def power_law_fit(compute: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Least-squares ``values = k * compute**e`` in log space; returns ``(k, e)`` (NaN with < 2 points)."""
    c, v = np.asarray(compute, float), np.asarray(values, float)
    ok = np.isfinite(c) & np.isfinite(v) & (c > 0) & (v > 0)
    if ok.sum() < 2 or np.unique(c[ok]).size < 2:
        return math.nan, math.nan
    e, logk = np.polyfit(np.log(c[ok]), np.log(v[ok]), 1)
    return float(math.exp(logk)), float(e)


@dataclass
class ComputeOptimal:
    """IsoFLOP minima, compute-optimal exponents and M*, with intervals from the measured seed noise.

    ``minima``: one row per budget (``n_star, d_star, m_star, loss_star`` with ``*_low/*_high`` intervals,
    ``edge``, ``sizes``). ``exponents``: rows ``N*``, ``D*``, ``M*`` with the exponent of C, its interval and
    the prefactor, fitted over the budgets with interior minima. ``m_star``: ``(value, low, high)``, the
    geometric mean of M*(C) over those budgets. ``noise`` is the relative seed noise the intervals assume
    (NaN: not measured, no intervals). ``draws`` holds the bootstrap draws (arrays over resamples).
    """

    points: pd.DataFrame
    minima: pd.DataFrame
    parabolas: dict[float, ParabolaMinimum]
    exponents: pd.DataFrame
    m_star: tuple[float, float, float]
    noise: float
    n_boot: int
    level: float
    n_points: int
    draws: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def interior_budgets(self) -> list[float]:
        return [b for b, p in self.parabolas.items() if p.interior]


def _profile_optimum(profile: pd.DataFrame, loss: np.ndarray, n_points: int) -> tuple[ParabolaMinimum, float]:
    pm = parabola_minimum(profile["n_params"].to_numpy(float), loss, n_points)
    d = float(tokens_at(profile, pm.n_star)) if np.isfinite(pm.n_star) else math.nan
    return pm, d


def compute_optimal(  # noqa: C901 - the IsoFLOP optima and their bootstrap, with the cases of too few runs spelled out
    runs: pd.DataFrame,
    *,
    noise: float | None = None,
    n_boot: int = 2000,
    level: float = 0.9,
    seed: int = 0,
    n_points: int = 3,
    min_sizes: int = 3,
) -> ComputeOptimal:
    """IsoFLOP analysis of supervised runs (paper Fig. 36b-c analogue).

    ``noise``: relative seed-to-seed std of one run's loss (default: :func:`pooled_noise` of ``runs``). The
    intervals come from a parametric bootstrap: every profile point's mean loss is redrawn with standard
    deviation ``noise * L / sqrt(seeds)``, the parabolas refitted (the lowest point chosen anew), and N*, D*,
    M* and the exponents recomputed ``n_boot`` times. Budgets with fewer than ``min_sizes`` sizes are listed
    but not analysed.
    """
    if not (isinstance(n_boot, (int, np.integer)) and not isinstance(n_boot, bool) and n_boot >= 0):
        raise ValueError(f"compute_optimal: argument 'n_boot' must be an int >= 0, got {n_boot!r}")
    if not (isinstance(level, float) and 0 < level < 1):
        raise ValueError(f"compute_optimal: argument 'level' must be a float in (0, 1), got {level!r}")
    if noise is None:
        noise = pooled_noise(runs).rel_std
    points = isoflop_points(runs)
    rng = np.random.default_rng(seed)
    a = (1 - level) / 2
    rows, parabolas = [], {}
    draws: dict[str, dict[float, np.ndarray]] = {"n_star": {}, "d_star": {}, "loss_star": {}}
    can_boot = n_boot > 0 and np.isfinite(noise) and noise > 0
    for budget, prof in points.groupby("budget", sort=True):
        prof = prof.sort_values("n_params")
        row = {"budget": budget, "sizes": len(prof), "runs": int(prof["seeds"].sum())}
        if len(prof) < min_sizes:
            rows.append({**row, "edge": "too few sizes"})
            continue
        y = prof["val_loss"].to_numpy(float)
        pm, d = _profile_optimum(prof, y, n_points)
        parabolas[budget] = pm
        row.update(
            n_star=pm.n_star, d_star=d, m_star=d / pm.n_star, loss_star=pm.loss_star, edge=pm.edge,
            model_lowest=prof.iloc[int(np.argmin(y))]["model"],
            n_smallest=float(prof["n_params"].iloc[0]), n_largest=float(prof["n_params"].iloc[-1]),
        )  # fmt: skip
        if can_boot:
            sd = noise * y / np.sqrt(prof["seeds"].to_numpy(float))
            sim = y + rng.standard_normal((n_boot, len(y))) * sd
            if n_points == 3:
                ns, ls = minima_batch(prof["n_params"], sim)
            else:
                pms = [parabola_minimum(prof["n_params"], row, n_points) for row in sim]
                ns = np.array([p.n_star for p in pms])
                ls = np.array([p.loss_star for p in pms])
            ds = tokens_at(prof, ns)
            draws["n_star"][budget], draws["d_star"][budget], draws["loss_star"][budget] = ns, ds, ls
            for name, arr in (("n_star", ns), ("d_star", ds), ("m_star", ds / ns), ("loss_star", ls)):
                row[f"{name}_low"], row[f"{name}_high"] = np.quantile(arr, [a, 1 - a])
            row["p_interior"] = float(np.mean((ns > row["n_smallest"]) & (ns < row["n_largest"])))
        rows.append(row)
    minima = pd.DataFrame(rows)
    for c in ("n_star", "d_star", "m_star", "loss_star"):
        for suffix in ("", "_low", "_high"):
            if f"{c}{suffix}" not in minima.columns:
                minima[f"{c}{suffix}"] = np.nan
    for c in ("edge", "model_lowest"):
        if c not in minima.columns:
            minima[c] = None
    if "p_interior" not in minima.columns:
        minima["p_interior"] = np.nan

    interior = [b for b, p in parabolas.items() if p.interior]
    mi = minima.set_index("budget") if len(minima) else minima
    exp_rows = []
    flat: dict[str, np.ndarray] = {}
    for name, col in (("N*", "n_star"), ("D*", "d_star"), ("M*", "m_star")):
        vals = mi.loc[interior, col].to_numpy(float) if interior else np.array([])
        k, e = power_law_fit(np.array(interior), vals)
        lo = hi = math.nan
        if can_boot and len(interior) >= 2:
            if col == "m_star":
                mat = np.stack([draws["d_star"][b] / draws["n_star"][b] for b in interior], axis=1)
            else:
                mat = np.stack([draws[col][b] for b in interior], axis=1)
            x = np.log(np.array(interior))
            xc = x - x.mean()
            slopes = (np.log(mat) - np.log(mat).mean(axis=1, keepdims=True)) @ xc / float(xc @ xc)
            flat[f"exponent_{col}"] = slopes
            lo, hi = np.quantile(slopes, [a, 1 - a])
        exp_rows.append(
            {"quantity": name, "exponent": e, "low": lo, "high": hi, "prefactor": k, "budgets": len(interior)}
        )
    exponents = pd.DataFrame(exp_rows).set_index("quantity")

    if interior:
        m_vals = mi.loc[interior, "m_star"].to_numpy(float)
        m_value = float(np.exp(np.mean(np.log(m_vals))))
        m_lo = m_hi = math.nan
        if can_boot:
            mat = np.stack([draws["d_star"][b] / draws["n_star"][b] for b in interior], axis=1)
            geo = np.exp(np.log(mat).mean(axis=1))
            flat["m_star"] = geo
            m_lo, m_hi = (float(v) for v in np.quantile(geo, [a, 1 - a]))
        m = (m_value, m_lo, m_hi)
    else:
        m = (math.nan, math.nan, math.nan)
    for name, per in draws.items():
        for b, arr in per.items():
            flat[f"{name}@{b:g}"] = arr
    return ComputeOptimal(
        points=points,
        minima=minima,
        parabolas=parabolas,
        exponents=exponents,
        m_star=m,
        noise=float(noise),
        n_boot=int(n_boot) if can_boot else 0,
        level=level,
        n_points=n_points,
        draws=flat,
    )


def fixed_m_cost(res: ComputeOptimal, m_fixed: float) -> pd.DataFrame:
    """What training at ``m_fixed`` tokens per parameter instead of each profile's own M* costs: per budget
    with an interior minimum, the size at which the profile's D/N equals ``m_fixed`` (interpolated in log
    space) and the parabola's loss there above its minimum (nats). NaN where ``m_fixed`` lies outside the
    profile's sizes."""
    rows = []
    for budget, pm in res.parabolas.items():
        if not pm.interior:
            continue
        prof = res.points[res.points["budget"] == budget].sort_values("n_params")
        x = np.log(prof["n_params"].to_numpy(float))
        m = np.log(prof["tokens"].to_numpy(float) / prof["n_params"].to_numpy(float))  # falls with N
        inside = m.min() <= math.log(m_fixed) <= m.max()
        n_at = math.exp(float(np.interp(math.log(m_fixed), m[::-1], x[::-1]))) if inside else math.nan
        extra = float(pm.curve(np.array([n_at]))[0] - pm.loss_star) if inside else math.nan
        rows.append({"budget": budget, "n_at_fixed": n_at, "n_star": pm.n_star, "extra_loss": extra})
    return pd.DataFrame(rows, columns=["budget", "n_at_fixed", "n_star", "extra_loss"])


def m_star(
    records: pd.DataFrame | None = None,
    design: pd.DataFrame | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The compute-optimal tokens per parameter M* = D*/N* at our scale: ``(value, low, high)``.

    From the supervised IsoFLOP profiles of ``records`` (default: the run store) restricted to ``design``
    (default: the study's supervised runs): the geometric mean of D*/N* over the budgets whose minimum lies
    inside the sizes trained, with a ``level`` interval from the measured seed noise (NaN if the noise is not
    measured yet). Raises :class:`InsufficientData` if no budget has an interior minimum yet. This is what
    the paper's fixed-M protocols take as M = 20.
    """
    if records is None:
        records = load_records()
    if design is None:
        design = study_design()
    table = supervised_runs(records, design)
    res = compute_optimal(table, n_boot=n_boot, level=level, seed=seed)
    if not np.isfinite(res.m_star[0]):
        edges = res.minima[["budget", "edge"]].to_dict("records") if len(res.minima) else []
        raise InsufficientData(
            f"M* is not determined yet: no IsoFLOP profile has an interior minimum ({len(table)} of "
            f"{design['key'].nunique()} supervised runs recorded; profiles: {edges})"
        )
    return res.m_star
