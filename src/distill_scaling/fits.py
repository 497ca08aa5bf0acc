"""Fitted laws: both laws fitted to the study's runs, their files, and which fit is current.

- :class:`LawFit`, one class for either law: the fit to the study's runs with the paper's procedure, its
  bootstrap samples and intervals, and the extrapolation fit to the high-loss runs. :func:`fit_study_law`
  makes one, :func:`save_fit` / :func:`load_fit` keep it in ``data/fits/<law>.json``, in the fit file
  format of :mod:`distill_scaling.fit_files`. ``data/fits/ours.json``, the planner's ``--coefficients
  ours``, is our two fits as one coefficient set (:func:`write_ours`, :func:`update_ours`).
- :func:`current_fit`: which fit of a law a chapter shows and the ``fit`` command stores: ``stored``,
  ``fitted``, ``live`` or ``pending`` (:class:`FitState`), one rule for both laws; :func:`supervised_inside`:
  where the supervised law held fixed inside the distillation law comes from.
- ``python -m distill_scaling fit --law supervised|distillation`` (:func:`cli`) refreshes a stored fit.

Units: N = non-embedding parameters, D = tokens, L = validation loss in nats per token.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import bootstrap, fit, laws
from . import supervised_study as ss
from .errors import InputError
from .fit_files import FIT_FORMAT, fit_path, read_fit_file, write_coefficient_set
from .laws import PAPER_DISTILLATION, PAPER_SUPERVISED, DistillationCoefficients, SupervisedCoefficients
from .store import git_commit, write_json_atomic

Coefficients = SupervisedCoefficients | DistillationCoefficients

# --- The two laws -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Law:
    """What differs between the two laws' fits: coefficients, fitted columns, the extrapolation split."""

    name: str
    coefficients: type
    #: Columns of the fitted runs (the distillation law also needs each run's teacher loss L_T).
    columns: tuple[str, ...]
    #: Fraction of the runs (the lowest losses) held out of the extrapolation fit: the paper fits 48 of its
    #: 73 supervised runs (L >= 2.2, Fig. 5a) and 551 of its 697 distillation runs (L_S >= 2.3, Fig. 5b).
    holdout: float
    #: Fewest runs for a bootstrap (0: any): a resample of n runs holds about 0.63 n distinct ones, and with
    #: fewer distinct runs than coefficients a distillation refit is not identified (it never converges).
    min_bootstrap_runs: int
    paper: Coefficients
    #: The chapter that shows the fit, and whose parameters the ``fit`` command takes.
    chapter: str
    procedure: str

    @property
    def n_coefficients(self) -> int:
        return len(self.coefficients.NAMES)


LAWS: dict[str, Law] = {
    "supervised": Law(
        name="supervised",
        coefficients=SupervisedCoefficients,
        columns=("key", "n_params", "tokens", "val_loss"),
        holdout=1 / 3,
        min_bootstrap_runs=0,
        paper=PAPER_SUPERVISED,
        chapter="06_supervised_scaling",
        procedure="fit.fit_supervised (gamma free, Huber delta=1e-4, paper grid, L-BFGS-B)",
    ),
    "distillation": Law(
        name="distillation",
        coefficients=DistillationCoefficients,
        columns=("key", "n_params", "tokens", "teacher_loss", "val_loss"),
        holdout=1 / 5,
        min_bootstrap_runs=2 * len(DistillationCoefficients.NAMES),
        paper=PAPER_DISTILLATION,
        chapter="07_distillation_scaling",
        procedure="fit.fit_distillation (Huber delta=1e-4 on log-residuals, paper grid, L-BFGS-B; measured "
        "L_T; L~_S from the supervised coefficients, held fixed)",
    ),
}

#: The extrapolation goal is judged on the lowest-loss fifth of the runs (issue: error within 1%).
LOWEST_FRACTION = 1 / 5
#: Bootstrap resamples of a stored fit, as the paper (and Besiroglu et al. 2024).
N_RESAMPLES = 4096


def law_of(name: str) -> Law:
    """The :class:`Law` called ``name``, or InputError naming the allowed ones."""
    if name not in LAWS:
        raise InputError(f"law must be one of {', '.join(LAWS)}; got {name!r}")
    return LAWS[name]


# --- A law fitted to the study's runs -----------------------------------------------------------------------


def runs_digest(table: pd.DataFrame, supervised: SupervisedCoefficients | None = None) -> str:
    """A hash of the fitted runs (key, N, D, L): a stored fit is current iff its digest matches.

    With ``supervised`` (the coefficients held fixed inside the distillation law) the runs' teacher losses
    L_T and those coefficients are hashed too.
    """
    if supervised is None:
        rows = sorted(
            (str(k), float(n), float(d), round(float(v), 10))
            for k, n, d, v in zip(
                table["key"], table["n_params"], table["tokens"], table["val_loss"], strict=True
            )
        )
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
    rows = sorted(
        (str(k), float(n), float(d), round(float(t), 10), round(float(v), 10))
        for k, n, d, t, v in zip(
            table["key"],
            table["n_params"],
            table["tokens"],
            table["teacher_loss"],
            table["val_loss"],
            strict=True,
        )
    )
    sup = {k: round(float(v), 10) for k, v in supervised.values().items()}
    return hashlib.sha256(json.dumps([rows, sup]).encode()).hexdigest()[:16]


#: The decade test: held-out runs are those within this many decades of the reference compute or above it,
#: fitted runs those at least a decade of compute below the smallest held-out one (the issue's "a decade
#: away"). The reference is the largest compute among the runs of the design's top IsoFLOP budget, the level
#: the design adds to be held out; a run above it (a teacher trained for another claim) joins the held-out
#: runs instead of redefining them. Without budgets, the reference is the largest run.
DECADE_TOP = 0.25


def decade_extrapolation(res: fit.FitResult, t: pd.DataFrame, budget: np.ndarray | None = None) -> dict:
    """The extrapolation test a decade out: refit ``res``'s law (same procedure) on the runs of ``t`` whose
    compute 6 N D is at least a decade below every held-out run; the held-out runs are those within
    :data:`DECADE_TOP` decades of the reference compute or above it, the reference being the largest
    compute of the runs of the top ``budget`` (each run's IsoFLOP budget, NaN off the IsoFLOP profiles;
    none given or all NaN: the largest compute of all runs). Their relative errors L_hat / L - 1. A dict
    with ``skipped`` (why) when either side is too small."""
    compute = 6 * t["n_params"].to_numpy(float) * t["tokens"].to_numpy(float)
    if budget is not None:
        budget = np.asarray(budget, float)
        if budget.shape != compute.shape:
            raise ValueError(
                f"decade_extrapolation: argument 'budget' must hold one value per run ({len(compute)}), "
                f"got shape {budget.shape}"
            )
    if budget is not None and np.isfinite(budget).any():
        top_budget = budget == np.nanmax(budget)
        reference, design = float(compute[top_budget].max()), "top budget"
    else:
        reference, design = float(compute.max()), "largest run"
    held = np.log10(compute) >= np.log10(reference) - DECADE_TOP
    fitted = compute <= compute[held].min() / 10
    out = {
        "held_out_design": design,
        "held_out_runs": int(held.sum()),
        "fit_runs": int(fitted.sum()),
        "fit_max_compute": float(compute[fitted].max()) if fitted.any() else None,
        "held_min_compute": float(compute[held].min()),
    }
    if held.sum() < 2 or fitted.sum() < len(res.law.free):
        return {
            **out,
            "skipped": f"{int(held.sum())} held-out and {int(fitted.sum())} fitted runs a decade apart",
        }
    sub = res.refit(np.flatnonzero(fitted))
    args = [t[c].to_numpy(float)[held] for c in LAWS[res.kind].columns[1:-1]]
    errors = sub.predict(*args) / t["val_loss"].to_numpy(float)[held] - 1
    return {
        **out,
        "decades": float(np.log10(out["held_min_compute"] / out["fit_max_compute"])),
        "held_out_keys": list(t["key"][held]),
        "errors": [float(e) for e in errors],
        "max_error": float(np.max(np.abs(errors))),
        "mean_error": float(np.mean(np.abs(errors))),
        "params": laws.as_dict(sub.params),
        "converged": bool(sub.converged),
    }


def decade_summary(law: LawFit | None) -> dict[str, float | int | str]:
    """What a page quotes of a fit's decade test (:func:`decade_extrapolation`, in its provenance):
    ``status`` ("ran", or "did not run: " and why), ``held_out`` and ``fitted`` runs, ``decades`` between
    them, the held-out errors in percent: ``bias`` (mean signed), ``mean`` (mean absolute) and ``max``, and
    ``converged``, whether the refit's optimiser converged ("yes", "no"; "n/a" where the test did not run)."""
    d = {} if law is None else law.provenance.get("decade_extrapolation", {})
    errors = np.asarray(d.get("errors", []), float)
    return {
        "status": "ran" if errors.size else "did not run: " + d.get("skipped", "no stored fit"),
        "held_out": int(d.get("held_out_runs", 0)),
        "fitted": int(d.get("fit_runs", 0)),
        "decades": float(d.get("decades", math.nan)),
        "bias": 100 * float(errors.mean()) if errors.size else math.nan,
        "mean": 100 * float(d["mean_error"]) if errors.size else math.nan,
        "max": 100 * float(d["max_error"]) if errors.size else math.nan,
        "converged": ("yes" if d.get("converged") else "no") if errors.size else "n/a",
    }


def holdout_threshold(losses: Sequence[float], fraction: float) -> float:
    """The loss that leaves the lowest ``fraction`` of runs below it: midway between the two runs at the
    cut, so that no run sits on the threshold (the paper's L >= 2.2 kept 48 of 73 runs)."""
    x = np.sort(np.asarray(losses, float))
    k = int(round(fraction * len(x)))
    if not 0 < k < len(x):
        raise ss.InsufficientData(f"holding out {fraction:.0%} of {len(x)} runs leaves no run on one side")
    return float((x[k - 1] + x[k]) / 2)


def coefficient_samples(samples: pd.DataFrame, cls: type) -> list:
    """Bootstrap samples (one row per refit) as coefficient sets of ``cls`` (either law), leaving out a row
    with a missing coefficient (a refit whose coefficients are not finite)."""
    cols = [c for c in cls.NAMES if c in samples.columns]
    return [cls(**{c: float(r[c]) for c in cols}) for _, r in samples[cols].dropna().iterrows()]


def coefficient_table(ours: Coefficients, paper: Coefficients) -> pd.DataFrame:
    """Every coefficient of a law and its ratios a, b: our estimate and interval beside the paper's (one row
    each; the supervised and the distillation law alike)."""
    rows = []
    for name in (*type(ours).NAMES, "a", "b"):
        lo, hi = ours.intervals.get(name, (math.nan, math.nan))
        plo, phi = paper.intervals.get(name, (math.nan, math.nan))
        rows.append(
            {
                "coefficient": name,
                "ours": float(getattr(ours, name)),
                "ours_low": lo,
                "ours_high": hi,
                "paper": float(getattr(paper, name)),
                "paper_low": plo,
                "paper_high": phi,
            }
        )
    return pd.DataFrame(rows).set_index("coefficient")


def bootstrap_intervals(samples: pd.DataFrame, level: float) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every column of bootstrap samples, and of the ratios a and b they imply."""
    if samples.empty:
        return {}
    s = samples.copy()
    s["a"] = s["beta"] / (s["alpha"] + s["beta"])
    s["b"] = s["alpha"] / (s["alpha"] + s["beta"])
    q = [(1 - level) / 2, (1 + level) / 2]
    return {c: tuple(float(v) for v in np.quantile(s[c], q)) for c in s.columns}


def growth_provenance(result: fit.FitResult, seed: int = 0) -> dict:
    """Run :func:`distill_scaling.bootstrap.interval_growth` on a fit and return what the provenance keeps:
    ``unbounded`` (coefficients the runs do not bound) and ``interval_growth`` (the widths), or
    ``interval_growth_error`` if it failed (reported, not hidden)."""
    try:
        g = bootstrap.interval_growth(result, seed=seed)
    except (ArithmeticError, ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        return {"interval_growth_error": f"{type(exc).__name__}: {exc}"}
    return {"unbounded": g.unbounded(), "interval_growth": g.to_dict()}


@dataclass
class LawFit:
    """A law (``law``: ``"supervised"`` or ``"distillation"``) fitted to our runs, with its bootstrap samples
    and the extrapolation fit.

    ``params``: the fit to all runs, with ``level`` bootstrap intervals (also for the ratios ``a`` and ``b``).
    ``runs``: the fitted runs (:attr:`Law.columns`). ``samples``: the converged bootstrap refits (one row
    each; empty if the bootstrap did not run). ``high_params``: the fit to the runs with L >= ``threshold``
    (None when too few runs). ``supervised``: for the distillation law, the supervised coefficients that give
    L~_S inside it, held fixed (the paper's procedure); None for the supervised law. ``provenance``: how and
    when it was made.
    """

    law: str
    params: Coefficients
    runs: pd.DataFrame
    samples: pd.DataFrame
    n_resamples: int
    converged_fraction: float
    level: float
    threshold: float | None
    high_params: Coefficients | None
    provenance: dict = field(default_factory=dict)
    supervised: SupervisedCoefficients | None = None

    def __post_init__(self) -> None:
        law_of(self.law)
        if (self.law == "distillation") != (self.supervised is not None):
            raise ValueError("LawFit: 'supervised' is required for the distillation law, and only for it")

    @property
    def spec(self) -> Law:
        return LAWS[self.law]

    @property
    def digest(self) -> str:
        return runs_digest(self.runs, self.supervised)

    @property
    def unbounded(self) -> list[str]:
        """Coefficients whose bootstrap interval the runs do not bound (see :func:`growth_provenance`)."""
        return list(self.provenance.get("unbounded", []))

    def predict(
        self, n_params, tokens, teacher_loss=None, *, params: Coefficients | None = None
    ) -> np.ndarray:
        """L (or L_S, given the teacher losses ``teacher_loss``) from the fitted law or from ``params``."""
        p = self.params if params is None else params
        if self.law == "supervised":
            return laws.supervised_loss(n_params, tokens, p)
        return laws.distillation_loss(n_params, tokens, teacher_loss, p, self.supervised)

    def predictions(self) -> pd.DataFrame:
        """Per run: the prediction of the fit to all runs (``pred_all``, ``err_all`` = L_hat/L - 1) and of the
        high-loss fit (``pred_high``, ``err_high``), whether the run was ``held_out`` of the latter, and
        whether it is among the ``lowest`` fifth of losses."""
        t = self.runs[list(self.spec.columns)].copy()
        args = [t[c].to_numpy(float) for c in self.spec.columns[1:-1]]
        obs = t["val_loss"].to_numpy(float)
        t["pred_all"] = self.predict(*args)
        t["err_all"] = t["pred_all"] / obs - 1
        if self.high_params is not None:
            t["pred_high"] = self.predict(*args, params=self.high_params)
            t["err_high"] = t["pred_high"] / obs - 1
            t["held_out"] = obs < self.threshold
        else:
            t["pred_high"] = t["err_high"] = np.nan
            t["held_out"] = False
        k = max(1, int(round(LOWEST_FRACTION * len(t))))
        t["lowest"] = False
        t.loc[t["val_loss"].nsmallest(k).index, "lowest"] = True
        return t

    def errors(self) -> dict[str, float]:
        """Relative-error summaries (fractions): in-sample (all runs), and of the extrapolation fit on the
        held-out runs and on the lowest-loss fifth."""
        p = self.predictions()
        out = {
            "rms_all": float(np.sqrt(np.mean(p["err_all"] ** 2))),
            "max_all": float(np.max(np.abs(p["err_all"]))),
            "n_runs": len(p),
        }
        held, low = p[p["held_out"]], p[p["lowest"]]
        for name, part in (("held_out", held), ("lowest", low)):
            e = part["err_high"].to_numpy(float)
            ok = self.high_params is not None and len(e) > 0
            out[f"n_{name}"] = len(part) if self.high_params is not None else 0
            out[f"max_{name}"] = float(np.max(np.abs(e))) if ok else math.nan
            out[f"mean_{name}"] = float(np.mean(np.abs(e))) if ok else math.nan
            out[f"bias_{name}"] = float(np.mean(e)) if ok else math.nan
        out["n_fit_high"] = int((~p["held_out"]).sum()) if self.high_params is not None else 0
        return out

    def sample_coefficients(self) -> list[Coefficients]:
        """The bootstrap samples as coefficient sets (for the planner's paired samples)."""
        return coefficient_samples(self.samples, self.spec.coefficients)

    def coefficient_table(self, paper: Coefficients | None = None) -> pd.DataFrame:
        """Ours (estimate and interval) beside the paper's Table 6, for every coefficient and a, b."""
        return coefficient_table(self.params, self.spec.paper if paper is None else paper)


def fit_study_law(  # noqa: C901 - the paper's procedure in order: fit, bootstrap, high-loss fit, provenance
    law: str,
    runs_table: pd.DataFrame,
    *,
    supervised: SupervisedCoefficients | None = None,
    n_resamples: int = N_RESAMPLES,
    level: float = 0.9,
    seed: int = 0,
    holdout: float | None = None,
    refine: int | None = None,
    maxiter: int | None = None,
    workers: int = 1,
) -> LawFit:
    """Fit ``law`` to runs (columns :attr:`Law.columns`) with the paper's procedure: log-space Huber, delta =
    1e-4, L-BFGS-B from the paper's grid (:func:`distill_scaling.fit.fit_supervised` or
    :func:`~distill_scaling.fit.fit_distillation`, the latter with L~_S from ``supervised``, held fixed);
    ``n_resamples`` bootstrap refits for ``level`` intervals (in ``workers`` processes; the result does not
    depend on it); the extrapolation fit on the runs above :func:`holdout_threshold` of ``holdout`` (default
    :attr:`Law.holdout`). ``refine`` and ``maxiter`` (scipy L-BFGS-B iterations per refinement; None or 0: the
    fitter's) default to the fitter's.

    Raises :class:`~distill_scaling.supervised_study.InsufficientData` with fewer runs than coefficients.
    With fewer than :attr:`Law.min_bootstrap_runs` runs there is no bootstrap
    (``provenance["bootstrap_skipped"]`` says why); a failed bootstrap is reported in
    ``provenance["bootstrap_error"]``; neither is hidden.
    """
    spec = law_of(law)
    func = "fit_study_law"
    missing = sorted(set(spec.columns) - set(runs_table.columns))
    if missing:
        raise ValueError(f"{func}: runs lack the column(s) {missing}")
    if law == "distillation" and not isinstance(supervised, SupervisedCoefficients):
        raise TypeError(f"{func}: argument 'supervised' must be a laws.SupervisedCoefficients")
    if law == "supervised" and supervised is not None:
        raise ValueError(f"{func}: argument 'supervised' belongs to the distillation law only")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 0:
        raise ValueError(f"{func}: argument 'n_resamples' must be an int >= 0, got {n_resamples!r}")
    holdout = spec.holdout if holdout is None else holdout
    if not (isinstance(holdout, float) and 0 < holdout < 1):
        raise ValueError(f"{func}: argument 'holdout' must be a float in (0, 1), got {holdout!r}")
    if len(runs_table) < spec.n_coefficients:
        raise ss.InsufficientData(
            f"the {law} law has {spec.n_coefficients} coefficients; {len(runs_table)} run(s) recorded"
        )
    t = runs_table[list(spec.columns)].reset_index(drop=True)
    t = t.astype({c: float for c in spec.columns[1:]})
    kw: dict = {} if refine is None else {"refine": int(refine)}
    if maxiter:
        kw["settings"] = fit.OptimizerSettings(maxiter=int(maxiter))
    t0 = time.perf_counter()
    if law == "supervised":
        res = fit.fit_supervised(t["n_params"], t["tokens"], t["val_loss"], **kw)
    else:
        res = fit.fit_distillation(
            t["n_params"], t["tokens"], t["teacher_loss"], t["val_loss"], supervised=supervised, **kw
        )
    prov: dict = {
        "procedure": spec.procedure,
        "refine": res.refine,
        "maxiter": res.settings.maxiter,
        "converged": bool(res.converged),
        "projected_gradient": float(res.projected_gradient),
        "objective": float(res.objective),
        "fit_seconds": round(time.perf_counter() - t0, 2),
    }
    samples = pd.DataFrame(columns=list(spec.coefficients.NAMES))
    conv = math.nan
    if n_resamples >= 2 and len(t) < spec.min_bootstrap_runs:
        prov["bootstrap_skipped"] = (
            f"{len(t)} runs: a resample holds about {0.63 * len(t):.0f} distinct runs for "
            f"{spec.n_coefficients} coefficients; the bootstrap needs {spec.min_bootstrap_runs} runs"
        )
    elif n_resamples >= 2:
        t0 = time.perf_counter()
        try:
            boot = bootstrap.bootstrap(res, int(n_resamples), level=level, seed=seed, workers=workers)
            samples = boot.samples[boot.converged].reset_index(drop=True)
            conv = boot.converged_fraction
            prov["bootstrap"] = {"strategy": boot.strategy, "seed": seed, "n_resamples": int(n_resamples)}
        except (ArithmeticError, ValueError, FloatingPointError) as exc:
            prov["bootstrap_error"] = f"{type(exc).__name__}: {exc}"
        prov["bootstrap_seconds"] = round(time.perf_counter() - t0, 2)
        prov.update(growth_provenance(res, seed))
    threshold = high = None
    try:
        threshold = holdout_threshold(t["val_loss"], holdout)
        if int((t["val_loss"] >= threshold).sum()) >= spec.n_coefficients:
            t0 = time.perf_counter()
            high = bootstrap.extrapolation_check(res, threshold).fit.params
            prov["extrapolation_seconds"] = round(time.perf_counter() - t0, 2)
        else:
            threshold = None
    except ss.InsufficientData:
        threshold = None
    t0 = time.perf_counter()
    budget = runs_table["budget"].to_numpy(float) if "budget" in runs_table else None
    prov["decade_extrapolation"] = decade_extrapolation(res, t, budget)
    prov["decade_extrapolation"]["seconds"] = round(time.perf_counter() - t0, 2)
    params = res.params.replace(intervals=bootstrap_intervals(samples, level))
    prov.update(
        {
            "date": pd.Timestamp.now("UTC").isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "n_runs": len(t),
            "runs_digest": runs_digest(t, supervised),
            "level": level,
            "holdout_fraction": holdout,
        }
    )
    return LawFit(law, params, t, samples, int(n_resamples), conv, level, threshold, high, prov, supervised)


def save_fit(result: LawFit, path: Path | str | None = None) -> Path:
    """Write a fit as JSON in :data:`FIT_FORMAT` (default ``data/fits/<law>.json``; atomic): the point
    estimate (``laws.as_dict``) under the law's name, ``samples.<law>`` one list per coefficient, plus
    ``extrapolation``, ``bootstrap``, the fitted ``runs`` and ``provenance``.

    A distillation fit also holds the supervised coefficients it kept fixed (``supervised``, repeated as its
    supervised samples, since the fit does not resample them), so ``load_coefficient_set(path)`` reads it. A
    supervised fit holds that law alone; :func:`write_ours` pairs the two for the planner.
    """
    law = result.law
    path = fit_path(law) if path is None else Path(path)
    description = (
        f"{law} law fitted to {len(result.runs)} study runs ({result.level:.0%} intervals from "
        f"{result.n_resamples} bootstrap resamples)"
    )
    doc: dict[str, Any] = {"format": FIT_FORMAT, "name": path.stem}
    if law == "supervised":
        doc["description"] = description
        doc["supervised"] = laws.as_dict(result.params)
        doc["samples"] = {"supervised": {c: result.samples[c].astype(float).tolist() for c in result.samples}}
    else:
        k = len(result.samples)
        doc["description"] = description + "; the supervised law inside it is held fixed"
        doc["supervised"] = laws.as_dict(result.supervised)
        doc["distillation"] = laws.as_dict(result.params)
        doc["samples"] = (
            {
                "supervised": {n: [float(v)] * k for n, v in result.supervised.values().items()},
                "distillation": {
                    c: result.samples[c].astype(float).tolist() for c in DistillationCoefficients.NAMES
                },
            }
            if k
            else {}
        )
    doc["extrapolation"] = {
        "threshold": result.threshold,
        law: None if result.high_params is None else laws.as_dict(result.high_params),
    }
    doc["bootstrap"] = {
        "n_resamples": result.n_resamples,
        "converged_fraction": result.converged_fraction,
        "level": result.level,
    }
    doc["runs"] = result.runs.to_dict("records")
    doc["provenance"] = result.provenance
    write_json_atomic(path, doc)
    return path


def load_fit(law: str, path: Path | str | None = None) -> LawFit:
    """Read a fit written by :func:`save_fit` (default ``data/fits/<law>.json``). A missing file raises
    FileNotFoundError, a malformed one :class:`~distill_scaling.fit_files.CoefficientFileError`."""
    spec = law_of(law)
    path = fit_path(law) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no {law} fit at {path}; it is written by the {spec.chapter[3:].replace('_', '-')} chapter "
            f"(python -m distill_scaling fit --law {law})"
        )
    doc = read_fit_file(path)
    ex = doc.get("extrapolation") or {}
    boot = doc.get("bootstrap") or {}
    samples = pd.DataFrame((doc.get("samples") or {}).get(law) or {})
    conv = boot.get("converged_fraction")
    return LawFit(
        law=law,
        params=laws.from_dict(doc[law]),
        runs=pd.DataFrame(doc["runs"], columns=list(spec.columns)),
        samples=samples,
        n_resamples=int(boot.get("n_resamples", len(samples))),
        converged_fraction=math.nan if conv is None else float(conv),
        level=float(boot.get("level", 0.9)),
        threshold=ex.get("threshold"),
        high_params=laws.from_dict(ex[law]) if ex.get(law) else None,
        provenance=doc.get("provenance", {}),
        supervised=laws.from_dict(doc["supervised"]) if law == "distillation" else None,
    )


# --- ours.json: our two fits as one coefficient set ---------------------------------------------------------


def write_ours(supervised: LawFit, distillation: LawFit, path: Path | str | None = None) -> Path:
    """Write ``data/fits/ours.json``, the coefficient set the planner loads as ``--coefficients ours``: the
    supervised law of chapter 06 and the distillation law of chapter 07, with their bootstrap samples.

    The two bootstraps resample different runs, so they are independent; their converged samples are paired
    by index, up to the shorter of the two. The description states the ranges of the fitted runs: a plan
    outside them extrapolates our laws far beyond what they saw.
    """
    path = fit_path("ours") if path is None else Path(path)
    sup_samples, dist_samples = supervised.sample_coefficients(), distillation.sample_coefficients()
    n = min(len(sup_samples), len(dist_samples))
    sup_samples, dist_samples = sup_samples[:n], dist_samples[:n]

    def span(frame: pd.DataFrame, col: str, fmt: str = ".3g") -> str:
        return f"{frame[col].min():{fmt}} to {frame[col].max():{fmt}}"

    sr, dr = supervised.runs, distillation.runs
    description = (
        f"Our laws at CPU scale (Busbridge et al.'s forms, our fits): the supervised law from {len(sr)} runs "
        f"(N {span(sr, 'n_params')} parameters, D {span(sr, 'tokens')} tokens), the distillation law from "
        f"{len(dr)} runs (N_S {span(dr, 'n_params')}, D_S {span(dr, 'tokens')}, "
        f"L_T {span(dr, 'teacher_loss', '.3f')} nats per byte); {n} paired bootstrap samples. "
        "Plans outside these ranges extrapolate."
    )

    def summary(fit_provenance: dict) -> dict:
        keys = ("date", "git_commit", "n_runs", "runs_digest", "level")
        return {k: fit_provenance.get(k) for k in keys}

    provenance = {
        "supervised": summary(supervised.provenance),
        "distillation": summary(distillation.provenance),
        "pairing": "independent bootstraps, converged samples paired by index up to the shorter",
        "ranges": {
            "supervised": {c: [float(sr[c].min()), float(sr[c].max())] for c in ("n_params", "tokens")},
            "distillation": {
                c: [float(dr[c].min()), float(dr[c].max())] for c in ("n_params", "tokens", "teacher_loss")
            },
        },
    }
    return write_coefficient_set(
        path, supervised.params, distillation.params, supervised_samples=sup_samples,
        distillation_samples=dist_samples, name="ours", description=description, provenance=provenance,
    )  # fmt: skip


def update_ours(distillation: LawFit, supervised_path: Path | None = None, path: Path | None = None) -> str:
    """Write ``ours.json`` from the stored supervised fit (``supervised_path``, default
    ``data/fits/supervised.json``) and ``distillation``, when ``distillation`` holds exactly that supervised
    law fixed; say what was done."""
    supervised_path = fit_path("supervised") if supervised_path is None else supervised_path
    if not supervised_path.is_file():
        return f"ours.json not written: no stored supervised fit at {supervised_path} (chapter 06 writes it)"
    sup = load_fit("supervised", supervised_path)
    mine, theirs = laws.as_dict(distillation.supervised), laws.as_dict(sup.params)
    if any(not math.isclose(mine[k], theirs[k], rel_tol=1e-9) for k in SupervisedCoefficients.NAMES):
        return (
            "ours.json not written: the distillation fit holds a different supervised law fixed than "
            f"{supervised_path}; refit it after the stored supervised fit is current"
        )
    return f"stored {write_ours(sup, distillation, path)} (the planner's --coefficients ours)"


# --- Which fit is current -----------------------------------------------------------------------------------


@dataclass
class FitState:
    """The fit of a law that a chapter shows (or the ``fit`` command stores) and where it comes from.

    ``source``: ``stored`` (the stored fit is of exactly these runs, with enough resamples), ``fitted``
    (fitted now and stored), ``live`` (fitted now with the quick number of resamples, not stored: the stored
    fit is of other runs, or there is none) or ``pending`` (``fit`` is None; ``reason`` says why).
    ``stored_runs``: the number of runs of the stored fit that was not shown (None: there is none).
    ``supervised_current``: for a stored distillation fit, whether the supervised law it holds fixed is
    today's too.
    """

    fit: LawFit | None
    source: str
    stored_runs: int | None = None
    reason: str = ""
    supervised_current: bool = True


def current_fit(
    law: str,
    runs_table: pd.DataFrame,
    path: Path,
    *,
    n_resamples: int,
    live_resamples: int,
    write: bool,
    refit: bool = False,
    supervised: SupervisedCoefficients | None = None,
    level: float = 0.9,
    refine: int | None = None,
    maxiter: int | None = None,
    provenance: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> FitState:
    """The fit of ``law`` for these runs: the one stored at ``path`` when it is of exactly these runs with at
    least ``n_resamples`` resamples (and ``refit`` is false: the command line's ``--refit``, after the
    fitting procedure changed), else a fit now, with ``n_resamples`` and stored at ``path`` if ``write``,
    with ``live_resamples`` and not stored otherwise. ``pending`` while the runs are fewer than the law's
    coefficients or, for the distillation law, while ``supervised`` (the law inside it) is None.

    A stored distillation fit whose supervised law is not ``supervised`` is shown when not writing (reading
    the book, a fit of exactly these runs beats a quick live one; ``supervised_current`` says so), and refit
    when writing. ``provenance`` entries are added to a new fit's before it is stored. ``workers``: processes
    for the bootstrap refits.
    """
    spec = law_of(law)
    if law == "distillation" and supervised is None:
        return FitState(None, "pending", reason="the supervised law inside it is not fitted yet")
    if len(runs_table) < spec.n_coefficients:
        return FitState(
            None,
            "pending",
            reason=f"{len(runs_table)} {law} run(s) recorded; the law has {spec.n_coefficients} coefficients",
        )
    stored = load_fit(law, path) if path.is_file() else None
    if stored is not None and not refit:
        same_runs = stored.digest == runs_digest(runs_table, stored.supervised)
        supervised_current = stored.supervised == supervised
        if same_runs and stored.n_resamples >= n_resamples and (supervised_current or not write):
            return FitState(stored, "stored", len(stored.runs), supervised_current=supervised_current)
    new = fit_study_law(
        law, runs_table, supervised=supervised, n_resamples=n_resamples if write else live_resamples,
        level=level, refine=refine, maxiter=maxiter, workers=workers,
    )  # fmt: skip
    new.provenance.update(provenance or {})
    if write:
        save_fit(new, path)
    return FitState(new, "fitted" if write else "live", None if stored is None else len(stored.runs))


@dataclass
class SupervisedInside:
    """The supervised coefficients that give L~_S inside the distillation law, and where they come from:
    ``stored`` (chapter 06's stored fit, of ``n_runs`` runs; ``current`` says whether those are today's
    records), ``fitted`` (fitted now to the ``n_runs`` recorded supervised runs) or ``pending``."""

    coef: SupervisedCoefficients | None
    source: str
    n_runs: int = 0
    current: bool = True

    @property
    def note(self) -> str:
        """Where the coefficients came from, as the distillation fit's provenance records it."""
        if self.source == "stored":
            return f"the stored supervised fit of {self.n_runs} runs"
        return f"fitted to the {self.n_runs} supervised runs recorded then"


def supervised_inside(
    runs_table: pd.DataFrame,
    path: Path | None,
    *,
    level: float = 0.9,
    refine: int | None = None,
    maxiter: int | None = None,
) -> SupervisedInside:
    """The stored supervised fit at ``path`` when there is one (current or not: the distillation fit says
    which), else a fit of the recorded supervised runs now (point estimate: L~_S needs no bootstrap), else
    ``pending``. ``path`` None: never read a stored fit (the smoke profile fits its own tiny runs)."""
    if path is not None and path.is_file():
        stored = load_fit("supervised", path)
        current = stored.digest == runs_digest(runs_table) if len(runs_table) else False
        return SupervisedInside(stored.params, "stored", len(stored.runs), current)
    if len(runs_table) < LAWS["supervised"].n_coefficients:
        return SupervisedInside(None, "pending", len(runs_table))
    new = fit_study_law("supervised", runs_table, n_resamples=0, level=level, refine=refine, maxiter=maxiter)
    return SupervisedInside(new.params, "fitted", len(runs_table))
