"""Chapter "Can we trust the fit?": the fitter checked on Chinchilla's runs and on synthetic runs.

Live computations (every profile): the Chinchilla refit and its bootstrap, the convergence trap, the
supervised synthetic recovery. Expensive ones (the exhaustive search over the Epoch grid, the distillation
fits on ~700 synthetic runs and their bootstrap) run in the ``full`` profile, which saves them with their
provenance under ``data/fits/trusting_the_fit/``; the ``default`` profile reads them and the ``smoke``
profile recomputes miniature versions without saving anything.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import fit, fit_data, laws, paths, plots, store
from ..bootstrap import bootstrap, extrapolation_check, interval_growth
from ..params import Param
from ..presentation import DISTILLATION_LABELS, and_join, fixed, pct

PARAMS: dict[str, Param] = {
    "n_resamples": Param(
        "int",
        "bootstrap resamples of the Chinchilla refit (the paper and Epoch use 4096 and 4000)",
        min=8,
        max=20000,
        default=4096,
        profiles={"smoke": 32},
    ),
    "seed": Param("int", "seed of the bootstrap resamples and of the synthetic noise", min=0, default=0),
    "supervised_seeds": Param(
        "int",
        "noise draws per (design, noise level) of the supervised synthetic recovery",
        min=1,
        max=50,
        default=3,
        profiles={"smoke": 1},
    ),
    "noise_levels": Param(
        "list[float]",
        "relative standard deviations of the multiplicative noise of the synthetic runs",
        min=0.0,
        max=0.2,
        default=[0.005, 0.02],
    ),
    "distillation_resamples": Param(
        "int",
        "bootstrap resamples of the distillation fit (computed in the full profile, read by default); "
        "256 because refits of its poorly identified coefficients crawl along flat valleys (about a CPU "
        "second each)",
        min=4,
        max=20000,
        default=256,
        profiles={"smoke": 4},
    ),
    "recompute": Param(
        "bool",
        "recompute the saved results (exhaustive search, distillation fits and bootstrap) and save them",
        default=False,
        profiles={"smoke": True, "full": True},
    ),
}

#: Where the full profile saves its results.
RESULTS = "fits/trusting_the_fit"

CHINCHILLA_DELTA = 1e-3

#: The smoke profile's miniature of the Epoch grid (2 x 2 x 2 x 2 x 2 = 32 starts).
SMOKE_CHINCHILLA_GRID = {
    "log_A": (5.0, 10.0),
    "log_B": (5.0, 10.0),
    "log_E": (0.0, 0.5),
    "alpha": (0.5, 1.0),
    "beta": (0.5, 1.0),
}

#: The smoke profile's miniature of the paper's supervised grid (2 ** 6 = 64 starts).
SMOKE_SUPERVISED_GRID = {k: (v[1], v[2]) for k, v in fit.PAPER_SUPERVISED_GRID.items()}

#: The smoke profile's miniature of the distillation grid (2 ** 9 = 512 starts).
SMOKE_DISTILLATION_GRID = {k: (v[1], v[-1]) for k, v in fit.PAPER_DISTILLATION_GRID.items()}


def results_dir() -> Path:
    return paths.data_dir() / RESULTS


# --- Provenance ---------------------------------------------------------------------------------------------


def result_provenance(**extra: Any) -> dict[str, Any]:
    """Who computed a saved result, when, where and with which code (:func:`distill_scaling.store.provenance`
    with the NumPy version), the machine's load while it ran, and ``extra``."""
    return store.provenance(
        versions=("numpy",), cpu_count=os.cpu_count(), loadavg=list(os.getloadavg()), **extra
    )


def save_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically as ``data/fits/trusting_the_fit/<name>.json``."""
    path = results_dir() / f"{name}.json"
    store.write_json_atomic(path, payload)
    return path


def load_json(name: str) -> dict[str, Any]:
    path = results_dir() / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run this chapter with the full profile to compute it "
            "(papermill notebooks/03_trusting_the_fit.ipynb out.ipynb -p profile full)"
        )
    return json.loads(path.read_text())


# --- Chinchilla ---------------------------------------------------------------------------------------------


def chinchilla_fit(grid: dict | None = None) -> fit.SupervisedFit:
    """Chinchilla's form (gamma = 1, delta = 1e-3) fitted to the 240 runs, from the Epoch grid."""
    runs = fit_data.chinchilla_runs()
    return fit.fit_supervised(
        runs["N"],
        runs["D"],
        runs["L"],
        gamma=1.0,
        delta=CHINCHILLA_DELTA,
        grid=fit.EPOCH_CHINCHILLA_GRID if grid is None else grid,
    )


CHINCHILLA_NAMES = ("E", "A", "B", "alpha", "beta")


def chinchilla_table(res: fit.SupervisedFit, boot) -> pd.DataFrame:
    """Hoffmann et al., Epoch's refit and ours, with standard errors and 95% intervals."""
    epoch = laws.EPOCH_CHINCHILLA
    eb = fit_data.EPOCH_BOOTSTRAP
    ours95 = boot.intervals(0.95)
    ok = boot.samples[boot.converged]
    rows = []
    for n in CHINCHILLA_NAMES:
        rows.append(
            {
                "coefficient": n,
                "Hoffmann et al. (2022)": getattr(fit_data.HOFFMANN_TEX, n),
                "Epoch (2024)": getattr(epoch, n),
                "Epoch s.e.": eb["std"][n],
                "Epoch 95% interval": "({:.4g}, {:.4g})".format(*eb["interval_95"][n]),
                "ours": getattr(res.params, n),
                "ours s.e.": float(ok[n].std(ddof=1)),
                "ours 95% interval": "({:.4g}, {:.4g})".format(*ours95[n]),
                "ours vs Epoch": getattr(res.params, n) / getattr(epoch, n) - 1,
            }
        )
    return pd.DataFrame(rows).set_index("coefficient")


def _tex(name: str) -> str:
    """A coefficient's name in mathtext: E as $E$, alpha as $\\alpha$, c0 as $c_0$."""
    if len(name) > 2:
        return f"$\\{name}$"
    return f"${name[0]}_{name[1]}$" if len(name) == 2 else f"${name}$"


def fig_chinchilla_bootstrap(res: fit.SupervisedFit, boot) -> plt.Figure:
    """Histograms of our bootstrap refits, our 95% interval (shaded) and Epoch's (dashed)."""
    eb = fit_data.EPOCH_BOOTSTRAP["interval_95"]
    ours = boot.intervals(0.95)
    ok = boot.samples[boot.converged]
    fig, axes = plots.panel_grid(len(CHINCHILLA_NAMES), height=2.1)
    for ax, n in zip(axes, CHINCHILLA_NAMES, strict=True):
        values = ok[n].to_numpy()
        if values.size == 0:  # no refit converged: nothing to histogram (the table says so)
            ax.set_title(_tex(n))
            continue
        log = n in ("A", "B")
        bins = np.geomspace(values.min(), values.max(), 40) if log else 40
        ax.hist(values, bins=bins, color=plots.OURS_COLOR, alpha=0.55)
        ax.axvspan(*ours[n], color=plots.OURS_COLOR, alpha=0.12, label="ours, 95%")
        for x in eb[n]:
            ax.axvline(x, color=plots.PAPER_COLOR, ls="--", lw=1.2)
        ax.axvline(getattr(laws.EPOCH_CHINCHILLA, n), color=plots.PAPER_COLOR, lw=1.5, label="Epoch")
        ax.axvline(getattr(res.params, n), color=plots.OURS_COLOR, lw=1.5, label="ours")
        if log:
            ax.set_xscale("log")
        ax.set_title(_tex(n))
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        plots.spare_legend(fig, handles, labels)
    fig.supxlabel("coefficient value over the bootstrap refits (dashed: Epoch's 95% interval)")
    return fig


# --- The convergence trap -----------------------------------------------------------------------------------


def trap_runs(seed: int = 0) -> pd.DataFrame:
    """73 runs from the paper's supervised law on a design like its supervised fit, 0.1% noise."""
    rng = np.random.default_rng(seed)
    return fit_data.simulate_supervised(fit_data.paper_supervised_design(), laws.PAPER_SUPERVISED, 0.001, rng)


def convergence_trap(
    runs: pd.DataFrame, refine: int = 16
) -> tuple[pd.DataFrame, dict[str, fit.SupervisedFit]]:
    """The same starts fitted with scipy's defaults on the raw objective and with our settings."""
    fits = {
        "scipy defaults, raw objective": fit.fit_supervised(
            runs["N"],
            runs["D"],
            runs["L"],
            refine=refine,
            method="scipy",
            settings=fit.OptimizerSettings.scipy_defaults(),
        ),
        "scaled objective, tight tolerances": fit.fit_supervised(
            runs["N"], runs["D"], runs["L"], refine=refine, method="scipy"
        ),
    }
    rows = []
    truth = laws.PAPER_SUPERVISED
    for label, res in fits.items():
        pg = [r.projected_gradient for r in res.search.polished]
        row = {
            "setting": label,
            "objective": res.objective,
            "starts converged": f"{sum(r.converged for r in res.search.polished)}/{len(pg)}",
            "median iterations": float(np.median([r.n_iter for r in res.search.polished])),
            "largest projected gradient": float(np.max(pg)),
        }
        row.update({n: getattr(res.params, n) for n in truth.NAMES})
        rows.append(row)
    row = {"setting": "truth (Table 6)", "objective": math.nan}
    row.update(truth.values())
    rows.append(row)
    return pd.DataFrame(rows).set_index("setting"), fits


def fig_convergence_trap(fits: dict[str, fit.SupervisedFit]) -> plt.Figure:
    """Projected gradient and error in E at the end of every L-BFGS-B run, for both settings."""
    fig, axes = plt.subplots(1, 2, figsize=(plots.FULL_WIDTH, 3.6))
    for i, (label, res) in enumerate(fits.items()):
        pol = res.search.polished
        pg = np.array([max(r.projected_gradient, 1e-16) for r in pol])
        fitted_e = np.array([fit.coefficients("supervised", res.law.full(r.theta)).E for r in pol])
        err = np.abs(fitted_e / laws.PAPER_SUPERVISED.E - 1)
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(pol))
        axes[0].scatter(i + jitter, pg, s=14, label=label)
        axes[1].scatter(i + jitter, np.maximum(err, 1e-9), s=14)
    axes[0].axhline(fit.KKT_TOL, color="k", lw=1, ls=":", label="optimality test")
    for ax, title in zip(axes, ["largest projected gradient at the end", "relative error of E"], strict=True):
        ax.set_yscale("log")
        ax.set_xticks([0, 1], ["scipy defaults", "ours"])
        ax.set_title(title)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=2)
    return fig


# --- Shortcut against exhaustive search ---------------------------------------------------------------------


def exhaustive_search(res: fit.FitResult, method: str = "batched", scipy_sample: int = 16) -> dict[str, Any]:
    """Optimise *every* start of ``res``'s grid, against ``res``'s shortcut (the best few ``refine`` starts).

    ``method="batched"`` optimises all starts with the batched optimiser and finishes the best with scipy's
    L-BFGS-B: the comparison isolates the shortcut's choice of starts. ``method="scipy"`` runs scipy's
    L-BFGS-B from every start (the test suite does that on a small grid; on the 4,500-start Epoch grid it
    costs about a CPU-second per start on this machine).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    full = res.refit(refine=None, method=method)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # What the literal procedure would cost: scipy's L-BFGS-B from a random sample of the starts.
    starts = fit.grid_points(res.law, res.grid)
    sample = np.random.default_rng(0).choice(len(starts), min(scipy_sample, len(starts)), replace=False)
    c1 = time.process_time()
    for i in sample:
        fit.refine_start(res.law, res.data, starts[i], res.settings)
    scipy_cpu_per_start = (time.process_time() - c1) / len(sample)
    order = np.argsort(full.search.start_scores, kind="stable")
    final = np.full(len(order), np.nan)
    final[full.search.refined_index] = full.search.refined_objectives
    return {
        "n_starts": int(full.n_starts),
        "score_rank_objective": final[order].tolist(),  # final objective of the start ranked k by its score
        "converged": [bool(r.converged) for r in full.search.polished],
        "exhaustive_objective": full.scaled_objective,
        "exhaustive_params": full.params.values(),
        "exhaustive_method": method,
        "exhaustive_seconds": seconds,
        "exhaustive_cpu_seconds": cpu,
        "scipy_cpu_seconds_per_start": scipy_cpu_per_start,
        "shortcut_objective": res.scaled_objective,
        "shortcut_params": res.params.values(),
        "shortcut_refined": int(res.n_refined),
        "shortcut_seconds": res.seconds,
    }


def fig_shortcut(ex: dict[str, Any]) -> plt.Figure:
    """Final objective of L-BFGS-B from each start, against the start's rank by its initial objective."""
    y = np.asarray(ex["score_rank_objective"], float)
    ranks = np.arange(1, len(y) + 1)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.scatter(ranks, y, s=4, color=plots.PAPER_COLOR, label="every start optimised (exhaustive)")
    ax.axvspan(0.8, ex["shortcut_refined"] + 0.5, color=plots.OURS_COLOR, alpha=0.12, label="starts refined")
    ax.axhline(ex["shortcut_objective"], color=plots.OURS_COLOR, lw=1.2, label="shortcut's optimum")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("start's rank by its initial objective")
    ax.set_ylabel(r"objective / $(\delta n)$ reached")
    ax.legend()
    return fig


# --- Synthetic recovery -------------------------------------------------------------------------------------


SCALES = {"paper": fit_data.PAPER_SCALE, "study": fit_data.STUDY_SCALE}


def _split(n: int, rng: np.random.Generator, held_out: float = 0.2) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[rng.choice(n, int(round(held_out * n)), replace=False)] = True
    return mask


def supervised_recovery(noise_levels: list[float], seeds: int, seed: int = 0, grid=None) -> pd.DataFrame:
    """Fit the supervised law to synthetic runs (80% of them), score the other 20% and each coefficient."""
    rows = []
    for scale_name, scale in SCALES.items():
        truth, _ = fit_data.transported_coefficients(scale)
        design = fit_data.rescale_design(fit_data.paper_supervised_design(), scale)
        for noise in noise_levels:
            for s in range(seeds):
                rng = np.random.default_rng([seed, s, int(noise * 1e6)])
                runs = fit_data.simulate_supervised(design, truth, noise, rng)
                held = _split(len(runs), rng)
                tr, te = runs[~held], runs[held]
                res = fit.fit_supervised(tr["N"], tr["D"], tr["L"], grid=grid)
                predicted = res.predict(te["N"], te["D"])
                pred = predicted / te["L"].to_numpy() - 1
                truth_err = predicted / te["L_clean"].to_numpy() - 1
                row = {"law": "supervised", "design": scale_name, "noise": noise, "draw": s, "runs": len(tr)}
                row.update({f"err_{n}": getattr(res.params, n) / getattr(truth, n) - 1 for n in truth.NAMES})
                row.update(
                    held_out_max=float(np.max(np.abs(pred))),
                    held_out_mean=float(np.mean(np.abs(pred))),
                    truth_max=float(np.max(np.abs(truth_err))),
                    truth_mean=float(np.mean(np.abs(truth_err))),
                    converged=res.converged,
                    seconds=res.seconds,
                )
                rows.append(row)
    return pd.DataFrame(rows)


def distillation_runs(scale_name: str, noise: float, seed: int, thin: int = 1) -> pd.DataFrame:
    """Synthetic distillation runs on the paper-shaped design at ``scale_name``, Table 6 truth."""
    scale = SCALES[scale_name]
    sup, dist = fit_data.transported_coefficients(scale)
    design = fit_data.rescale_design(fit_data.paper_distillation_design(), scale).iloc[::thin]
    rng = np.random.default_rng([seed, int(noise * 1e6), 1 if scale_name == "study" else 0])
    return fit_data.simulate_distillation(design, sup, dist, noise, rng)


def distillation_recovery(
    noise_levels: list[float], seed: int = 0, grid=None, thin: int = 1, refine: int | None = None
) -> pd.DataFrame:
    """Fit the distillation law to 80% of ~700 synthetic runs; coefficient errors and held-out errors."""
    rows = []
    for scale_name, scale in SCALES.items():
        sup, truth = fit_data.transported_coefficients(scale)
        for noise in noise_levels:
            runs = distillation_runs(scale_name, noise, seed, thin)
            held = _split(len(runs), np.random.default_rng([seed, 7]))
            tr, te = runs[~held], runs[held]
            kw = {} if refine is None else {"refine": refine}
            res = fit.fit_distillation(
                tr["N_S"], tr["D_S"], tr["L_T"], tr["L_S"], supervised=sup, grid=grid, **kw
            )
            predicted = res.predict(te["N_S"], te["D_S"], te["L_T"])
            pred = predicted / te["L_S"].to_numpy() - 1
            truth_err = predicted / te["L_S_clean"].to_numpy() - 1
            truth_objective = res.law.objective_and_grad(_theta(truth), res.data)[0]
            row = {"law": "distillation", "design": scale_name, "noise": noise, "draw": 0, "runs": len(tr)}
            row.update({f"err_{n}": getattr(res.params, n) / getattr(truth, n) - 1 for n in truth.NAMES})
            row.update({f"fit_{n}": getattr(res.params, n) for n in truth.NAMES})
            row.update(
                held_out_max=float(np.max(np.abs(pred))),
                held_out_mean=float(np.mean(np.abs(pred))),
                truth_max=float(np.max(np.abs(truth_err))),
                truth_mean=float(np.mean(np.abs(truth_err))),
                objective=res.scaled_objective,
                truth_objective=float(truth_objective),
                converged=res.converged,
                n_hits=res.search.n_hits,
                seconds=res.seconds,
            )
            rows.append(row)
    return pd.DataFrame(rows)


def truth_errors_text(table: pd.DataFrame, column: str = "truth_max") -> str:
    """The largest held-out error against the noiseless law at each noise level (over draws and designs), as
    "0.21% at 0.5% noise and 0.83% at 2.0% noise"."""
    if column not in table:
        raise KeyError(
            f"{column!r} is missing from the recovery table: it was computed by an older version; recompute "
            "it (the chapter's full profile)"
        )
    worst = table.groupby("noise")[column].max()
    return " and ".join(f"{err:.2%} at {noise:.1%} noise" for noise, err in worst.items())


def _theta(c: laws.DistillationCoefficients) -> np.ndarray:
    return np.array(
        [math.log(c.A), math.log(c.B), c.alpha, c.beta, c.gamma, c.c0, c.c1, c.f1, math.log(c.d1)]
    )


def fig_recovery(table: pd.DataFrame) -> plt.Figure:
    """|relative error| of every coefficient, per law, design and noise level."""
    laws_present = list(dict.fromkeys(table["law"]))
    fig, axes = plt.subplots(
        len(laws_present), 1, figsize=(plots.FULL_WIDTH, 3.2 * len(laws_present)), squeeze=False
    )
    for ax, law in zip(axes[:, 0], laws_present, strict=True):
        sub = table[table["law"] == law]
        names = [c[4:] for c in sub.columns if c.startswith("err_") and sub[c].notna().any()]
        groups = list(sub.groupby(["design", "noise"]))
        width = 0.8 / len(groups)
        for j, ((design, noise), g) in enumerate(groups):
            err = np.abs(g[[f"err_{n}" for n in names]].to_numpy())
            x = np.arange(len(names)) + (j - (len(groups) - 1) / 2) * width
            ax.scatter(
                np.repeat(x[None], len(g), 0), np.maximum(err, 1e-6), s=14, label=f"{design}, {noise:.1%}"
            )
        ax.set_xticks(range(len(names)), [_tex(n) for n in names])
        ax.set_yscale("log")
        ax.axhline(0.01, color="k", lw=0.8, ls=":")
        ax.set_title(f"{law} law: $|$fitted / true $- 1|$")
        ax.legend(title="design, noise", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


# --- Identifiability ----------------------------------------------------------------------------------------


def distillation_bootstrap(noise: float, n_resamples: int, seed: int = 0, grid=None, thin: int = 1):
    """Fit the paper-shaped design at ``noise`` on all runs and bootstrap it (the identifiability study)."""
    runs = distillation_runs("paper", noise, seed, thin)
    sup = laws.PAPER_SUPERVISED
    res = fit.fit_distillation(runs["N_S"], runs["D_S"], runs["L_T"], runs["L_S"], supervised=sup, grid=grid)
    boot = bootstrap(res, n_resamples, level=0.9, seed=seed)
    ext = extrapolation_check(res, 2.3)
    return res, boot, ext


def growth_table(db: dict[str, Any]) -> pd.DataFrame:
    """Relative 90% widths per coefficient: the saved bootstraps without (quasi-Newton) and with (warm) the
    Gauss-Newton stage, the Gauss-Newton refits of the growth check after each iteration count, and whether
    the runs bound the coefficient."""
    g = db["growth"]
    est = db["estimate"]

    def width(part: dict[str, Any], name: str) -> float:
        ok = pd.DataFrame(part["samples"])[np.asarray(part["converged"], bool)]
        if ok.empty:
            return math.nan
        lo, hi = np.percentile(ok[name], [5, 95])
        return (hi - lo) / abs(est[name])

    rows = []
    for name, widths in g["widths"].items():
        row = {"coefficient": name, "quasi-Newton": width(db["quasi_newton"], name), "warm": width(db, name)}
        row.update({f"GN {k}": w for k, w in zip(g["iterations"], widths, strict=True)})
        row["bounded by the runs"] = "no" if name in g["unbounded"] else "yes"
        rows.append(row)
    return pd.DataFrame(rows).set_index("coefficient")


def coefficients_text(names: list[str]) -> str:
    """``["B", "gamma", "c1"]`` -> "B′, γ′ and c1"; an empty list -> "none"."""
    return and_join([DISTILLATION_LABELS.get(n, n) for n in names])


def eigen_table(res: fit.FitResult) -> pd.DataFrame:
    """Eigenvalues of the scaled objective's Hessian at the solution and the coordinates they move most."""
    h = res.hessian()
    vals, vecs = np.linalg.eigh(h)
    rows = []
    for k in range(len(vals)):
        v = vecs[:, k]
        top = np.argsort(-np.abs(v))[:3]
        rows.append(
            {
                "eigenvalue": float(vals[k]),
                "main coordinates": ", ".join(f"{res.names[i]} ({v[i]:+.2f})" for i in top),
            }
        )
    return pd.DataFrame(rows)


#: A ratio of the Hessian's largest to smallest eigenvalue beyond this is more than float64 resolves.
SINGULAR_SPREAD = 1e12


def eigen_spread(eig: pd.DataFrame) -> tuple[str, str]:
    """How far the Hessian's eigenvalues spread, as the page quotes it: the ratio of the largest to the
    smallest ("3.2e+08"), or "more than 1e+12" beyond what float64 resolves (:data:`SINGULAR_SPREAD`, or a
    smallest eigenvalue at or below zero); and whether the Hessian is then "singular" or "not singular" to
    machine precision."""
    lo, hi = float(eig["eigenvalue"].min()), float(eig["eigenvalue"].max())
    if lo <= 0 or hi / lo > SINGULAR_SPREAD:
        return f"more than {SINGULAR_SPREAD:.0e}", "singular"
    return f"{hi / lo:.1e}", "not singular"


def fig_identifiability(
    samples: pd.DataFrame, estimate: dict[str, float], converged: np.ndarray
) -> plt.Figure:
    """Relative width of the 90% bootstrap interval of every distillation coefficient."""
    ok = samples[converged]
    names = list(ok.columns)
    width = [
        (np.percentile(ok[n], 95) - np.percentile(ok[n], 5)) / abs(estimate[n]) if len(ok) else np.nan
        for n in names
    ]
    # Refits that ran off to overflow give infinite widths: draw them at the top of the axis.
    width = np.clip(np.nan_to_num(np.asarray(width, float), nan=1e12, posinf=1e12), 1e-8, 1e12)
    paper = laws.PAPER_DISTILLATION
    paper_width = [(paper.intervals[n][1] - paper.intervals[n][0]) / getattr(paper, n) for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(
        x - 0.2, np.maximum(width, 1e-8), 0.4, color=plots.OURS_COLOR, label="synthetic fit, our bootstrap"
    )
    ax.bar(x + 0.2, np.maximum(paper_width, 1e-8), 0.4, color=plots.PAPER_COLOR, label="paper, Table 6")
    ax.set_xticks(x, [_tex(n) for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("90% interval width / estimate")
    ax.legend()
    return fig


# --- Speed --------------------------------------------------------------------------------------------------


#: The fitter's speed budgets on this machine: a full distillation fit of ~700 runs (216,000 starts), and
#: 4096 bootstrap refits of it.
FIT_BUDGET_SECONDS = 120.0
BOOTSTRAP_BUDGET_SECONDS = 600.0

#: The benchmark's items, as the table names them: key -> (what, budget in seconds or None).
SPEED_ITEMS = {
    "chinchilla_fit": ("Chinchilla refit (Epoch's grid)", None),
    "chinchilla_bootstrap": ("its bootstrap", None),
    "supervised_paper_grid": ("supervised law, the paper's grid, 73 runs", None),
    "distillation_fit": ("distillation law, the paper's grid", FIT_BUDGET_SECONDS),
    "distillation_bootstrap": ("its bootstrap", BOOTSTRAP_BUDGET_SECONDS),
}


def _free_seconds(record: dict[str, Any], cpu: float) -> float:
    """What a machine free of other work, with a core per worker process, would take: the CPU time over the
    workers (a bootstrap's refits are independent, so its processes share no work)."""
    return cpu / int(record.get("workers", 1))


def speed_table(saved: dict[str, Any]) -> pd.DataFrame:
    """The saved fit benchmark (``bench.load("fit")``) as a table: runs, starts or resamples, wall and CPU
    seconds, worker processes, the time of a machine free of other work (CPU over workers: the machine was
    shared while the benchmark ran) and the budget with whether that time meets it. A bootstrap timed on
    fewer resamples is scaled to 4096."""
    res = saved["results"]
    rows, runs = [], None
    for key, (what, budget) in SPEED_ITEMS.items():
        if key not in res:
            continue
        r = res[key]
        if not key.endswith("bootstrap"):
            runs = r.get("n_runs")  # a bootstrap resamples the runs of the fit above it
        scaled = "cpu_seconds_per_4096" in r
        cpu = r["cpu_seconds_per_4096"] if scaled else r["cpu_seconds"]
        free = _free_seconds(r, cpu)
        rows.append(
            {
                "fit": what,
                "runs": runs,
                "starts / resamples": 4096 if scaled else r.get("n_resamples", r.get("n_starts")),
                "wall (s)": r["wall_seconds_per_4096"] if scaled else r["wall_seconds"],
                "CPU (s)": cpu,
                "workers": int(r.get("workers", 1)),
                "free machine (s)": free,
                "budget (s)": budget,
                "within budget": "" if budget is None else ("yes" if free <= budget else "no"),
            }
        )
    return pd.DataFrame(rows)


#: What :func:`speed_numbers` reads from a saved benchmark ("n/a" each when none is saved).
SPEED_NUMBERS = (
    "runs", "fit_cpu", "fit_wall", "fit_share", "boot_resamples", "boot_cpu", "boot_wall", "boot_workers",
    "boot_free", "boot_share", "boot_converged", "date", "load", "cpus",
)  # fmt: skip


def speed_numbers(saved: dict[str, Any] | None) -> dict[str, str]:
    """The numbers the page quotes from the saved fit benchmark (``bench.load("fit")``), formatted for the
    page: the budgets, and :data:`SPEED_NUMBERS` ("n/a" where no benchmark is saved). The bootstrap's times
    are per 4096 refits (scaled from the resamples it was timed on), in minutes; a share is the time of a
    machine free of other work (CPU time over worker processes) over the budget."""
    out = {
        "fit_budget": fixed(FIT_BUDGET_SECONDS, 0),
        "boot_budget": fixed(BOOTSTRAP_BUDGET_SECONDS / 60, 0),
    }
    if saved is None:
        return out | dict.fromkeys(SPEED_NUMBERS, "n/a")
    res = saved["results"]
    fit_, boot = res["distillation_fit"], res["distillation_bootstrap"]
    boot_free = _free_seconds(boot, boot["cpu_seconds_per_4096"])
    return out | {
        "runs": str(fit_["n_runs"]),
        "fit_cpu": fixed(fit_["cpu_seconds"], 0),
        "fit_wall": fixed(fit_["wall_seconds"], 0),
        "fit_share": pct(_free_seconds(fit_, fit_["cpu_seconds"]) / FIT_BUDGET_SECONDS, 0),
        "boot_resamples": str(boot["n_resamples"]),
        "boot_cpu": fixed(boot["cpu_seconds_per_4096"] / 60, 1),
        "boot_wall": fixed(boot["wall_seconds_per_4096"] / 60, 1),
        "boot_workers": str(int(boot.get("workers", 1))),
        "boot_free": fixed(boot_free / 60, 1),
        "boot_share": pct(boot_free / BOOTSTRAP_BUDGET_SECONDS, 0),
        "boot_converged": pct(boot["converged_fraction"], 0),
        "date": saved["date"][:10],
        "load": fixed(saved["machine"]["loadavg_before"][0], 1),
        "cpus": str(saved["machine"]["cpu_count"]),
    }


# --- Saved results ------------------------------------------------------------------------------------------


#: The saved pieces: name -> file under data/fits/trusting_the_fit/.
PARTS = {
    "exhaustive": "exhaustive_chinchilla",
    "distillation_recovery": "distillation_recovery",
    "distillation_bootstrap": "distillation_bootstrap",
}


def compute_saved(
    noise_levels: list[float],
    distillation_resamples: int,
    seed: int,
    *,
    small: bool,
    save: bool,
    parts: tuple[str, ...] = tuple(PARTS),
) -> dict[str, Any]:
    """The expensive results: exhaustive search, distillation recovery, distillation bootstrap.

    ``small`` shrinks every piece (the smoke profile); ``save`` writes them under ``data/fits/`` (full).
    ``parts`` selects pieces (they are independent, so they can be computed by separate processes).
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"compute_saved: unknown part(s) {sorted(unknown)}; allowed: {list(PARTS)}")
    out: dict[str, Any] = {}
    params = {"noise_levels": noise_levels, "distillation_resamples": distillation_resamples, "seed": seed}
    grid = SMOKE_DISTILLATION_GRID if small else None
    thin = 10 if small else 1
    if "exhaustive" in parts:
        t0, c0 = time.perf_counter(), time.process_time()
        res = chinchilla_fit(SMOKE_CHINCHILLA_GRID if small else None)
        ex = exhaustive_search(res)
        ex["provenance"] = result_provenance(
            **params, wall_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0
        )
        out["exhaustive"] = ex
        if save:
            save_json(PARTS["exhaustive"], ex)

    if "distillation_recovery" in parts:
        t0, c0 = time.perf_counter(), time.process_time()
        table = distillation_recovery(noise_levels, seed, grid=grid, thin=thin, refine=16 if small else None)
        meta = result_provenance(
            **params, wall_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0
        )
        out["distillation_recovery"] = {"table": table.to_dict(orient="list"), "provenance": meta}
        if save:
            save_json(PARTS["distillation_recovery"], out["distillation_recovery"])

    if "distillation_bootstrap" not in parts:
        return out
    t0, c0 = time.perf_counter(), time.process_time()
    noise = 0.005 if 0.005 in noise_levels else min(noise_levels)
    dres, boot, ext = distillation_bootstrap(noise, distillation_resamples, seed, grid=grid, thin=thin)
    eig = eigen_table(dres)
    # The same resamples refitted without the Gauss-Newton stage: what a gradient-tested bootstrap reports.
    qn = bootstrap(dres, distillation_resamples, level=0.9, seed=seed, strategy="quasi-newton")
    # The check's own defaults (32 resamples, 25 to 400 iterations), or a miniature for the smoke profile.
    growth = interval_growth(
        dres, seed=seed, **({"n_resamples": 8, "iterations": (5, 10, 20)} if small else {})
    )
    out["distillation_bootstrap"] = {
        "noise": noise,
        "n_runs": dres.n_runs,
        "estimate": dres.params.values(),
        "fit_seconds": dres.seconds,
        "samples": boot.samples.to_dict(orient="list"),
        "converged": boot.converged.tolist(),
        "projected_gradient": boot.projected_gradient.tolist(),
        "bootstrap_seconds": boot.seconds,
        "n_resamples": boot.n_resamples,
        "quasi_newton": {
            "samples": qn.samples.to_dict(orient="list"),
            "converged": qn.converged.tolist(),
            "bootstrap_seconds": qn.seconds,
        },
        "eigen": eig.to_dict(orient="list"),
        "growth": growth.to_dict() | {"unbounded": growth.unbounded()},
        "extrapolation": {
            "threshold": ext.threshold,
            "n_fit": ext.n_fit,
            "n_held_out": ext.n_held_out,
            "max_abs_error": ext.max_abs_error,
            "mean_abs_error": ext.mean_abs_error,
        },
        "provenance": result_provenance(
            **params, wall_seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0
        ),
    }
    if save:
        save_json(PARTS["distillation_bootstrap"], out["distillation_bootstrap"])
    return out


def load_saved() -> dict[str, Any]:
    """The results :func:`compute_saved` wrote in the full profile."""
    return {part: load_json(name) for part, name in PARTS.items()}


def saved_results(profile: str, recompute: bool, noise_levels, distillation_resamples: int, seed: int):
    """What the chapter shows from the expensive computations.

    ``recompute`` (smoke, full): compute them (smoke: miniature versions), and in the full profile save them.
    Otherwise read the saved results; if they have not been computed yet, compute them now without saving
    (slow: the full profile is the one that saves them) and say so.
    """
    small = profile == "smoke"
    if recompute:
        return compute_saved(noise_levels, distillation_resamples, seed, small=small, save=profile == "full")
    try:
        return load_saved()
    except FileNotFoundError as err:
        print(f"{err}\nComputing them now (not saved).")
        return compute_saved(noise_levels, distillation_resamples, seed, small=False, save=False)


#: Relative errors above this are shown as "not identified" rather than as a number of many digits.
UNIDENTIFIED_ERROR = 10.0


def percent_or_unidentified(value: float) -> str:
    """A relative error as a percentage; beyond :data:`UNIDENTIFIED_ERROR` (1000%) the fit did not pin the
    coefficient down at all, and a number of thirty digits would only hide that."""
    if not np.isfinite(value):
        return ""
    return f"{value:.2%}" if abs(value) <= UNIDENTIFIED_ERROR else "> 1000% (not identified)"
