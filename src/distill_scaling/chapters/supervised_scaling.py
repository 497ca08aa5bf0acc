"""Chapter "Supervised scaling at small scale": seed noise, IsoFLOP profiles, M* and the supervised law.

The chapter reads the study's supervised records (:func:`distill_scaling.supervised_study.study_design`);
``full`` trains the missing ones first, ``smoke`` trains a tiny IsoFLOP design (:func:`smoke_specs`) into a
temporary store in seconds. All analysis is in :mod:`distill_scaling.supervised_study`; this module holds
the chapter's parameters, figures, tables and sentences. The law fit with its 4096 bootstrap resamples is
stored in ``data/fits/supervised.json``; refresh it from the committed records (``--profile full`` trains
the missing runs first) with::

    python -m distill_scaling fit --law supervised

Why this module is long: it holds the chapter's seed-noise, IsoFLOP, M* and law figures and tables, which
share one loading of the study's supervised runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from .. import fit_files, fits, plots, runs, spec, store, study
from .. import supervised_study as ss
from ..distillation_study import PAPER_M_MULTIPLES
from ..laws import PAPER_SUPERVISED, supervised_loss
from ..params import Param, Params
from ..presentation import (
    SUPERVISED_LABELS,
    and_join,
    law_coefficient_frame,
    num,
    sci,
    unbounded_sentence,
    with_interval,
)

CHAPTER = "06_supervised_scaling"

#: The paper's compute-optimal tokens per parameter (digest Sec. 2: the Chinchilla rule of thumb it uses).
PAPER_M_STAR = 20.0
#: The y label of our loss figures: our tokens are bytes.
LOSS_LABEL = "validation loss $L$ (nats per byte)"
#: The paper's extrapolation split for Fig. 5a: runs with L >= 2.2 (48 of its 73 runs) are fitted.
PAPER_HIGH_LOSS = 2.2
PAPER_RUNS, PAPER_HIGH_RUNS = 73, 48
#: Relative prediction error the paper reports for its laws ("<~ 1%", Fig. 5).
PAPER_ERROR = 0.01
#: The paper's Huber threshold (App. F), on log-residuals.
HUBER_DELTA = 1e-4

#: The smoke profile's tiny IsoFLOP design: budgets (FLOPs), models, and the configurations given extra seeds.
SMOKE_BUDGETS = (2e9, 6e9, 1.8e10)
SMOKE_MODELS = ("L1-d16", "L2-d32", "L3-d48")
SMOKE_NOISE = (("L1-d16", 6e9), ("L2-d32", 6e9))
SMOKE_SEEDS = (1, 2)

PARAMS: dict[str, Param] = {
    "n_resamples": Param(
        "int",
        "bootstrap resamples of the law fit that is stored in data/fits (the paper: 4096)",
        min=0,
        max=100_000,
        default=4096,
        profiles={"smoke": 16},
    ),
    "live_resamples": Param(
        "int",
        "bootstrap resamples when the default profile fits live because the stored fit is not for the "
        "current records (a quick interval; the stored fit has n_resamples)",
        min=0,
        max=100_000,
        default=256,
        profiles={"smoke": 16},
    ),
    "fit_refine": Param(
        "int",
        "grid starts refined by L-BFGS-B in each law fit (fit.fit_supervised's refine)",
        min=1,
        max=9600,
        default=64,
        profiles={"smoke": 8},
    ),
    "fit_maxiter": Param(
        "int",
        "L-BFGS-B iterations per refinement in the law fits (0: the fitter's default, 20000); smoke caps it "
        "because its tiny runs make an ill-posed fit",
        min=0,
        max=1_000_000,
        default=0,
        profiles={"smoke": 200},
    ),
    "noise_boot": Param(
        "int",
        "parametric-bootstrap draws (from the measured seed noise) behind the IsoFLOP minima's intervals",
        min=0,
        max=100_000,
        default=4000,
        profiles={"smoke": 200},
    ),
    "level": Param("float", "coverage of every interval", min=0.5, max=0.999, default=0.9),
    "noise_target": Param(
        "float",
        "target relative seed-to-seed std of the final loss (the issue: 0.5%)",
        min=1e-5,
        max=0.5,
        default=0.005,
    ),
    "parabola_points": Param(
        "int", "sizes around each IsoFLOP's lowest point the parabola goes through", min=3, max=9, default=3
    ),
    "workers": Param(
        "int",
        "parallel training processes (1 thread each) when runs are missing (smoke: 1, in this process)",
        min=1,
        max=64,
        default=2,
        profiles={"smoke": 1},
    ),
    "eval_tokens": Param(
        "int",
        "validation tokens of each trained run's final loss (0: the whole validation split)",
        min=0,
        default=0,
        profiles={"smoke": 8192},
    ),
}


# --- the runs -----------------------------------------------------------------------------------------------


def _smoke_plan() -> list[tuple[str, float, int]]:
    """(model, budget, seed) of every run of the smoke design."""
    plan = [(m, c, 0) for c in SMOKE_BUDGETS for m in SMOKE_MODELS]
    return plan + [(m, c, s) for m, c in SMOKE_NOISE for s in SMOKE_SEEDS]


def smoke_specs() -> list[spec.RunSpec]:
    """The smoke profile's design: the study's IsoFLOP design scaled down to budgets of a few GFLOPs (runs of
    a second or two), with extra seeds for two configurations. Built with the study's own helpers."""
    return [study.supervised(m, study.tokens_for_compute(m, c), seed=s) for m, c, s in _smoke_plan()]


def smoke_design() -> pd.DataFrame:
    """:func:`smoke_specs` as a design table (block ``smoke``), each run on its nominal budget."""
    return ss.design_table(smoke_specs(), "smoke", budget_of=[c for _, c, _ in _smoke_plan()])


@dataclass
class StudyData:
    """What the chapter reads: the design, the records, the tidy supervised runs and the progress."""

    design: pd.DataFrame
    records: pd.DataFrame
    runs: pd.DataFrame
    progress: pd.DataFrame
    isoflop_blocks: tuple[str, ...] = ss.ISOFLOP_BLOCKS

    @property
    def isoflop_runs(self) -> pd.DataFrame:
        """The runs of the IsoFLOP and noise blocks (what the profiles and the noise measurement use)."""
        return self.runs[self.runs["block"].isin(self.isoflop_blocks)]

    @property
    def skipped(self) -> dict[str, str]:
        """Blocks of the study not built yet, with the reason."""
        return dict(self.design.attrs.get("skipped", {}))

    @property
    def n_recorded(self) -> int:
        return len(self.runs)

    @property
    def n_total(self) -> int:
        return int(self.design["key"].nunique())

    @property
    def complete(self) -> bool:
        return self.n_recorded == self.n_total


def load_study(P: Params, progress: bool | None = None) -> StudyData:
    """Train what the profile asks for (``full``: the study's missing supervised runs; ``smoke``: the tiny
    design), then read the records and join them with the design. ``default`` trains nothing. ``progress``
    (default: only for ``full``) shows a progress bar while training."""
    if P.profile == "smoke":
        specs, design = smoke_specs(), smoke_design()
    else:
        specs, design = ss.study_specs(), ss.study_design()
    if P.profile != "default":
        progress = P.profile == "full" if progress is None else progress
        kw = {"eval_tokens": P.eval_tokens} if P.eval_tokens else {}
        runs.ensure(specs, workers=P.workers, threads=1, progress=progress, **kw)
    records = store.load_records(P.runs_dir)
    table = ss.supervised_runs(records, design)
    blocks = ("smoke",) if P.profile == "smoke" else ss.ISOFLOP_BLOCKS
    return StudyData(design, records, table, ss.progress_table(records, design), blocks)


def fit_path(P: Params) -> Path:
    """The stored law fit: ``data/fits/supervised.json``; for ``smoke`` a file next to the scratch store."""
    if P.profile == "smoke":
        return Path(P.runs_dir).parent / "fits" / "supervised.json"
    return fit_files.fit_path("supervised")


def supervised_law(data: StudyData, P: Params, *, write: bool | None = None) -> fits.FitState:
    """The law fit for the chapter (:func:`distill_scaling.fits.current_fit`): the stored one when it is of
    exactly these runs, else fitted now, and stored unless the profile is ``default`` (``write``
    overrides)."""
    write = P.profile != "default" if write is None else write
    return fits.current_fit(
        "supervised", data.runs, fit_path(P), n_resamples=P.n_resamples, live_resamples=P.live_resamples,
        write=write, level=P.level, refine=P.fit_refine, maxiter=P.fit_maxiter or None,
    )  # fmt: skip


# --- progress -----------------------------------------------------------------------------------------------


def progress_sentence(data: StudyData) -> str:
    """How many of the design's runs are recorded, and what that means for this page."""
    n, total = data.n_recorded, data.n_total
    if n == total:
        out = f"All {total} supervised runs of the design are recorded; every number below uses them all."
    elif n == 0:
        out = (
            f"None of the {total} supervised runs of the design is recorded yet: the study is running, and "
            "every result below is pending. Nothing is shown that was not measured."
        )
    else:
        out = (
            f"{n} of {total} supervised runs of the design are recorded so far (the study is still running); "
            "every number below uses the recorded runs only and says where it still waits for the others."
        )
    if data.skipped:
        out += (
            f" The blocks {', '.join(data.skipped)} join the design once the study's M* is set from this "
            "chapter's measurement."
        )
    return out


def progress_frame(data: StudyData) -> pd.DataFrame:
    """The progress table for display: runs, compute (PFLOP) and training wall time recorded per block."""
    return ss.progress_frame(data.progress)


# --- noise --------------------------------------------------------------------------------------------------


def config_label(model: str, budget: float) -> str:
    return f"{model} @ {sci(budget)}" if np.isfinite(budget) else model


def noise_frame(spread: pd.DataFrame, target: float) -> pd.DataFrame:
    """The seed-spread table for display, with the verdict of each configuration against ``target``."""
    if spread.empty:
        return pd.DataFrame(columns=["seeds", "losses", "mean", "std (nats)", "rel. std (%)", "interval (%)"])
    out = pd.DataFrame(
        {
            "configuration": [
                config_label(m, b) for m, b in zip(spread["model"], spread["budget"], strict=True)
            ],
            "seeds": spread["seeds"],
            "losses": [", ".join(f"{x:.4f}" for x in ls) for ls in spread["losses"]],
            "mean": spread["mean"],
            "std (nats)": spread["std"],
            "rel. std (%)": spread["rel_std_pct"],
            "interval (%)": [
                f"{lo:.2f}–{hi:.2f}"
                for lo, hi in zip(spread["rel_std_low_pct"], spread["rel_std_high_pct"], strict=True)
            ],
            f"below {100 * target:g}%?": [
                "yes" if hi < 100 * target else ("no" if lo > 100 * target else "undecided")
                for lo, hi in zip(spread["rel_std_low_pct"], spread["rel_std_high_pct"], strict=True)
            ],
        }
    )
    return out.set_index("configuration")


def noise_sentence(data: StudyData, noise: ss.NoiseSummary, target: float) -> str:
    """The noise measurement in words: pooled spread with its interval and the verdict against ``target``."""
    planned = len(study.NOISE_CONFIGS) if data.design["block"].eq("noise").any() else None
    if not noise.measured:
        todo = f" of the {planned} planned" if planned else ""
        return (
            f"No configuration{todo} has two seeds recorded yet, so the seed-to-seed spread is pending; the "
            "intervals below that rest on it are left out until it is measured."
        )
    lo, hi = noise.rel_std_interval
    verdict = {
        "below": f"below the target of {100 * target:g}% (the whole interval is)",
        "above": f"above the target of {100 * target:g}% (the whole interval is): we did not reach it",
        "inconclusive": f"not distinguishable from the target of {100 * target:g}% with this many seeds "
        "(the interval straddles it)",
    }[noise.verdict(target)]
    return (
        f"Pooled over {noise.configs} configuration(s) ({noise.runs} runs, {noise.dof} degrees of freedom), "
        f"the seed-to-seed standard deviation of the final validation loss is {noise.std:.4f} nats, "
        f"{100 * noise.rel_std:.2f}% of the loss ({noise.level:.0%} interval "
        f"{100 * lo:.2f}–{100 * hi:.2f}%): {verdict}."
    )


def fig_noise(runs_table: pd.DataFrame, spread: pd.DataFrame, noise: ss.NoiseSummary, target: float):
    """Left: each seed's deviation from its configuration's mean (%); right: relative std per configuration
    with its chi-square interval, the pooled value and the target."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(plots.FULL_WIDTH, 3.8), width_ratios=[1.2, 1])
    if spread.empty:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "pending: no configuration\nwith two seeds recorded", ha="center", va="center")
            ax.set_xticks([])
            ax.set_yticks([])
        return fig
    labels = [config_label(m, b) for m, b in zip(spread["model"], spread["budget"], strict=True)]
    y = np.arange(len(spread))
    for i, (_, row) in enumerate(spread.iterrows()):
        losses = np.array(row["losses"], float)
        dev = 100 * (losses / losses.mean() - 1)
        ax1.scatter(dev, np.full(len(dev), i), color=plots.OURS_COLOR, s=28, zorder=3)
    if noise.measured:
        ax1.axvspan(-100 * noise.rel_std, 100 * noise.rel_std, color=plots.OURS_COLOR, alpha=0.12, lw=0)
    for s in (-1, 1):
        ax1.axvline(s * 100 * target, color="k", ls="--", lw=1)
    ax1.set_yticks(y, labels)
    ax1.set_xlabel("seed's loss relative to\nits configuration's mean (%)")
    ax1.set_title("each seed")
    rel, lo, hi = spread["rel_std_pct"], spread["rel_std_low_pct"], spread["rel_std_high_pct"]
    ax2.errorbar(rel, y, xerr=[rel - lo, hi - rel], fmt="o", color=plots.OURS_COLOR, capsize=3)
    if noise.measured:
        plo, phi = (100 * v for v in noise.rel_std_interval)
        ax2.axvspan(plo, phi, color=plots.OURS_COLOR, alpha=0.12, lw=0, label="pooled (interval)")
        ax2.axvline(100 * noise.rel_std, color=plots.OURS_COLOR, lw=1)
    ax2.axvline(100 * target, color="k", ls="--", lw=1, label=f"target {100 * target:g}%")
    ax2.set_xscale("log")
    ax2.set_yticks(y, [""] * len(y))
    ax2.set_xlabel("relative std of\nthe final loss (%)")
    ax2.set_title(f"std per configuration\n({noise.level:.0%} interval)")
    fig.legend(*ax2.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return fig


def paired_sentence(pairs: pd.DataFrame) -> str:
    """How many neighbouring-size comparisons the paired seeds resolve."""
    if pairs.empty:
        return "No two neighbouring sizes of a profile share two recorded seeds yet, so no paired comparison."
    k = int(pairs["resolved"].sum())
    return (
        f"Paired by seed (same initialisation and data order), {k} of {len(pairs)} comparisons between "
        "neighbouring sizes of a profile have an interval that excludes zero, i.e. their ordering is "
        "resolved despite the noise."
    )


def paired_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    if pairs.empty:
        return pd.DataFrame(columns=["seeds", "mean difference", "interval", "resolved"])
    out = pd.DataFrame(
        {
            "budget": [sci(b) for b in pairs["budget"]],
            "comparison": pairs["larger"] + " − " + pairs["smaller"],
            "seeds": pairs["seeds"],
            "mean difference (nats)": pairs["mean_diff"],
            "std of differences": pairs["std_diff"],
            "interval": [
                f"{lo:+.4f} to {hi:+.4f}" for lo, hi in zip(pairs["low"], pairs["high"], strict=True)
            ],
            "resolved": np.where(pairs["resolved"], "yes", "no"),
        }
    )
    return out.set_index(["budget", "comparison"])


# --- IsoFLOP profiles and compute-optimal models ------------------------------------------------------------


def _neighbour(model: str, step: int) -> str | None:
    """The next smaller (step=-1) or larger (step=+1) model of the zoo, or None."""
    from ..model import zoo  # noqa: PLC0415 - model imports torch (heavy); the page needs it for the edge notes only

    names = [c.name for c in zoo()]
    i = names.index(model) + step if model in names else -1
    return names[i] if 0 <= i < len(names) else None


def edge_note(model: str, budget: float, edge: str | None) -> str:
    """Why a profile ends where it does: the neighbouring zoo model's run at this budget would read more
    than the allowed epochs (data-limited) or get fewer than the minimum optimiser steps."""
    if edge is None:
        return "interior"
    if edge not in ("small", "large"):
        return edge
    other = _neighbour(model, -1 if edge == "small" else 1)
    where = "smallest" if edge == "small" else "largest"
    if other is None:
        return f"lowest at the {where} size; no {'smaller' if edge == 'small' else 'larger'} zoo model"
    tokens = study.tokens_for_compute(other, budget)
    epochs = tokens / spec.split_size("text", "teacher")
    if epochs > spec.MAX_EPOCHS:
        return (
            f"lowest at the {where} size: data-limited edge ({other} would read {epochs:.1f} epochs, "
            f"more than the {spec.MAX_EPOCHS:g} allowed)"
        )
    if tokens < study.min_tokens(other):
        return f"lowest at the {where} size ({other} would get fewer than {spec.MIN_STEPS} optimiser steps)"
    return f"lowest at the {where} size of the design ({other} not trained at this budget)"


def minima_frame(co: ss.ComputeOptimal) -> pd.DataFrame:
    """The IsoFLOP minima for display: N*, D*, M*, L* with intervals; bounds where a minimum is at an edge."""
    rows = []
    for _, r in co.minima.iterrows():
        row = {"budget (FLOPs)": sci(r["budget"]), "sizes": int(r["sizes"]), "runs": int(r["runs"])}
        if r["edge"] == "too few sizes":
            row.update(
                {"lowest": "", "N*": "", "D*": "", "M* = D*/N*": "", "L*": "", "note": "fewer than 3 sizes"}
            )
        elif r["edge"] in ("small", "large"):
            le, ge = ("≤", "≥") if r["edge"] == "small" else ("≥", "≤")
            row.update(
                {
                    "lowest": r["model_lowest"],
                    "N*": f"{le} {num(r['n_star'])}",
                    "D*": f"{ge} {num(r['d_star'])}",
                    "M* = D*/N*": f"{ge} {num(r['m_star'])}",
                    "L*": f"≥ {r['loss_star']:.4f}" if False else f"{r['loss_star']:.4f} (lowest measured)",
                    "note": edge_note(r["model_lowest"], r["budget"], r["edge"]),
                }
            )
        else:
            row.update(
                {
                    "lowest": r["model_lowest"],
                    "N*": with_interval(r["n_star"], r["n_star_low"], r["n_star_high"]),
                    "D*": with_interval(r["d_star"], r["d_star_low"], r["d_star_high"]),
                    "M* = D*/N*": with_interval(r["m_star"], r["m_star_low"], r["m_star_high"]),
                    "L*": with_interval(
                        r["loss_star"], r["loss_star_low"], r["loss_star_high"], lambda x: f"{x:.4f}"
                    ),
                    "note": "interior"
                    + (f" in {100 * r['p_interior']:.0f}% of draws" if np.isfinite(r["p_interior"]) else ""),
                }
            )
        rows.append(row)
    cols = ["budget (FLOPs)", "sizes", "runs", "lowest", "N*", "D*", "M* = D*/N*", "L*", "note"]
    return pd.DataFrame(rows, columns=cols).set_index("budget (FLOPs)")


def isoflop_sentence(co: ss.ComputeOptimal, data: StudyData) -> str:
    """What the profiles say so far: which budgets have interior minima, which end at an edge."""
    budgets = sorted(set(data.design["budget"].dropna()))
    done = co.minima[co.minima["edge"] != "too few sizes"] if len(co.minima) else co.minima
    if done.empty:
        return (
            f"No IsoFLOP profile has three sizes recorded yet (the design has {len(budgets)} budgets, "
            f"{sci(min(budgets)) if budgets else 'n/a'} to {sci(max(budgets)) if budgets else 'n/a'} FLOPs): "
            "the profiles, their minima and M* are pending."
        )
    interior = done[done["edge"].isna()]
    edges = done[done["edge"].isin(["small", "large"])]
    parts = [
        f"{len(done)} of the {len(budgets)} IsoFLOP budgets have three or more sizes recorded; "
        f"{len(interior)} of them have their lowest loss inside the sizes trained"
    ]
    if len(edges):
        small = edges[edges["edge"] == "small"]
        notes = [
            f"{sci(r['budget'])} ({edge_note(r['model_lowest'], r['budget'], r['edge'])})"
            for _, r in edges.iterrows()
        ]
        parts.append(
            f"{len(edges)} end(s) at an edge, where N* is only bounded and nothing is extrapolated: "
            + "; ".join(notes)
        )
        if len(small) and "data-limited" in " ".join(notes):
            parts.append(
                f"the {spec.MAX_EPOCHS:g}-epoch limit on the "
                f"{spec.split_size('text', 'teacher') / 1e6:.1f}M-token teacher split is what keeps these "
                "profiles from reaching smaller models at large budgets"
            )
    return "; ".join(parts) + "."


def _law_curve(profile: pd.DataFrame, law) -> tuple[np.ndarray, np.ndarray]:
    n = np.geomspace(profile["n_params"].min(), profile["n_params"].max(), 60)
    return n, supervised_loss(n, ss.tokens_at(profile, n), law)


def fig_isoflops(runs_table: pd.DataFrame, co: ss.ComputeOptimal, law=None):
    """Validation loss against size on each IsoFLOP budget (paper Fig. 36b): seeds as dots, means with the
    seed std, the parabola through the lowest point and its neighbours, its minimum (star; triangle = edge
    bound), and the fitted law along the profile (dashed) when there is one."""
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    pts = co.points
    if pts.empty:
        ax.text(
            0.5, 0.5, "pending: no IsoFLOP run recorded yet", ha="center", va="center", transform=ax.transAxes
        )
        ax.set_xlabel("non-embedding parameters $N$")
        ax.set_ylabel(LOSS_LABEL)
        return fig
    budgets = sorted(pts["budget"].unique())
    colors = dict(zip(budgets, plots.sequential(len(budgets)), strict=True))
    sub = runs_table.dropna(subset=["budget"])
    for b in budgets:
        c = colors[b]
        r = sub[sub["budget"] == b]
        ax.scatter(r["n_params"], r["val_loss"], s=10, color=c, alpha=0.45, lw=0)
        p = pts[pts["budget"] == b].sort_values("n_params")
        ax.errorbar(p["n_params"], p["val_loss"], yerr=p["std"].fillna(0), fmt="o-", color=c, ms=5, lw=0.8,
                    capsize=2, label=f"$C$ = {sci(b)}")  # fmt: skip
        pm = co.parabolas.get(b)
        if pm is not None and np.all(np.isfinite(pm.coef)) and len(pm.window) >= 3:
            n = np.geomspace(min(pm.window), max(pm.window), 50)
            ax.plot(n, pm.curve(n), color=c, lw=2, alpha=0.8)
        if pm is not None and np.isfinite(pm.n_star):
            marker = "*" if pm.interior else ("<" if pm.edge == "small" else ">")
            ax.plot(
                pm.n_star,
                pm.loss_star,
                marker=marker,
                ms=14 if pm.interior else 10,
                color=c,
                mec="k",
                zorder=5,
            )
        if law is not None and len(p) >= 2:
            n, l_hat = _law_curve(p, law)
            ax.plot(n, l_hat, color=c, ls="--", lw=1)
    plots.log_axis(ax, "x")
    ax.set_xlabel("non-embedding parameters $N$")
    ax.set_ylabel(LOSS_LABEL)
    handles, labels = ax.get_legend_handles_labels()
    extra = [
        Line2D([], [], marker="*", color="grey", mec="k", ms=12, ls="", label="parabola minimum"),
        Line2D([], [], marker="<", color="grey", mec="k", ms=9, ls="", label="lowest at an edge (bound)"),
    ]
    if law is not None:
        extra.append(Line2D([], [], color="grey", ls="--", label="fitted law"))
    ax.legend(handles + extra, labels + [h.get_label() for h in extra], ncol=2, loc="upper right")
    return fig


def fig_optimal(co: ss.ComputeOptimal, paper=PAPER_SUPERVISED):
    """Compute-optimal size, tokens and tokens per parameter against compute (paper Fig. 36c): interior
    minima with intervals and the fitted power laws; edge bounds as triangles; the paper's exponents as
    dashed slopes through our fit's centre, and its M* = 20."""
    fig, axes = plots.panel_grid(3, height=3.0)
    m = co.minima[co.minima["edge"] != "too few sizes"] if len(co.minima) else co.minima
    specs = (
        ("n_star", "N*", "compute-optimal size $N^*$", paper.a),
        ("d_star", "D*", "compute-optimal tokens $D^*$", paper.b),
        ("m_star", "M*", "tokens per parameter\n$M^* = D^* / N^*$", paper.b - paper.a),
    )
    fig.supxlabel("compute $C$ (FLOPs)")
    shared = {}  # legend entries that mean the same in every panel, for the spare panel
    for ax, (col, q, label, paper_exp) in zip(axes, specs, strict=True):
        ax.set_ylabel(label)
        if m.empty:
            ax.text(0.5, 0.5, "pending", ha="center", va="center", transform=ax.transAxes)
            continue
        inter = m[m["edge"].isna()]
        if len(inter):
            lo, hi = inter[f"{col}_low"], inter[f"{col}_high"]
            yerr = None if lo.isna().all() else [inter[col] - lo, hi - inter[col]]
            shared["ours: interior minima"] = ax.errorbar(
                inter["budget"], inter[col], yerr=yerr, fmt="o", color=plots.OURS_COLOR, capsize=3
            )
        for _, r in m[m["edge"].isin(["small", "large"])].iterrows():
            down = (r["edge"] == "small") == (col == "n_star")
            marker = "v" if down else "^"
            (bound,) = ax.plot(
                r["budget"], r[col], marker=marker, color=plots.OURS_COLOR, mfc="none", ms=9, ls=""
            )
            shared["ours: bound from an edge minimum"] = bound
        e = co.exponents.loc[q]
        if np.isfinite(e["exponent"]):
            c = np.geomspace(m["budget"].min() / 1.5, m["budget"].max() * 1.5, 20)
            ax.plot(c, e["prefactor"] * c ** e["exponent"], color=plots.OURS_COLOR,
                    label=f"ours: $\\propto C^{{{e['exponent']:.2f}}}$")  # fmt: skip
            centre = np.exp(np.mean(np.log(inter["budget"])))
            y0 = e["prefactor"] * centre ** e["exponent"]
            ax.plot(c, y0 * (c / centre) ** paper_exp, color=plots.PAPER_COLOR, ls="--",
                    label=f"paper's slope {paper_exp:.3f}")  # fmt: skip
        if col == "m_star":
            shared[f"paper's $M^*$ = {PAPER_M_STAR:g}"] = ax.axhline(
                PAPER_M_STAR, color=plots.PAPER_COLOR, ls=":"
            )
            if np.isfinite(co.m_star[0]):
                ax.axhline(co.m_star[0], color=plots.OURS_COLOR, ls=":", lw=1)
                if np.isfinite(co.m_star[1]):
                    ax.axhspan(co.m_star[1], co.m_star[2], color=plots.OURS_COLOR, alpha=0.1, lw=0)
        plots.log_axis(ax, "x")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks collide on a narrow range
        plots.log_axis(ax, "y")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best")
    if shared:
        plots.spare_legend(fig, list(shared.values()), list(shared))
    return fig


def exponents_frame(co: ss.ComputeOptimal, law: fits.LawFit | None, paper=PAPER_SUPERVISED) -> pd.DataFrame:
    """The compute-optimal exponents: ours from the IsoFLOP minima and from the fitted law, the paper's."""
    rows = []
    for q, name, attr in (("N*", "a (N* ∝ C^a)", "a"), ("D*", "b (D* ∝ C^b)", "b")):
        e = co.exponents.loc[q]
        law_txt = "pending"
        if law is not None:
            lo, hi = law.params.intervals.get(attr, (math.nan, math.nan))
            law_txt = with_interval(getattr(law.params, attr), lo, hi, lambda x: f"{x:.3f}")
        plo, phi = paper.intervals.get(attr, (math.nan, math.nan))
        rows.append(
            {
                "exponent": name,
                "ours: IsoFLOP minima": with_interval(
                    e["exponent"], e["low"], e["high"], lambda x: f"{x:.3f}"
                )
                if np.isfinite(e["exponent"])
                else f"pending ({int(e['budgets'])} budget(s) with interior minima; 2 needed)",
                "ours: fitted law": law_txt,
                "paper (Table 6)": with_interval(getattr(paper, attr), plo, phi, lambda x: f"{x:.3f}"),
            }
        )
    return pd.DataFrame(rows).set_index("exponent")


def exponent_sentence(co: ss.ComputeOptimal) -> str:
    e = co.exponents
    k = int(e.loc["N*", "budgets"])
    if not np.isfinite(e.loc["N*", "exponent"]):
        return (
            f"The exponents need at least two budgets with interior minima; {k} so far, so they are pending."
        )
    a, b, mm = e.loc["N*"], e.loc["D*"], e.loc["M*"]

    def iv(r: pd.Series) -> str:
        if not np.isfinite(r["low"]):
            return ""
        return f" ({co.level:.0%} interval {r['low']:.3f} to {r['high']:.3f})"

    return (
        f"Over the {k} budgets with interior minima, N* grows as C^{a['exponent']:.3f}{iv(a)} and D* as "
        f"C^{b['exponent']:.3f}{iv(b)}, so M* = D*/N* changes as C^{mm['exponent']:.3f}{iv(mm)}. The paper "
        f"finds a = {PAPER_SUPERVISED.a:.3f} and b = {PAPER_SUPERVISED.b:.3f}. Our compute counts the exact "
        f"forward FLOPs, 3 F(N) D, and F(N) is not proportional to N at these sizes (embeddings, the output "
        f"head and attention matter), so our a + b = {a['exponent'] + b['exponent']:.3f} need not be 1."
    )


def m_star_sentence(co: ss.ComputeOptimal) -> str:
    v, lo, hi = co.m_star
    if not np.isfinite(v):
        m = co.minima[co.minima["edge"].isin(["small", "large"])] if len(co.minima) else co.minima
        bounds = "; ".join(
            f"M* {'≥' if r['edge'] == 'small' else '≤'} {num(r['m_star'])} at {sci(r['budget'])}"
            for _, r in m.iterrows()
        )
        return "M* is pending: no profile has an interior minimum yet" + (
            f" (bounds so far: {bounds})." if bounds else "."
        )
    inter = co.minima[co.minima["edge"].isna()]
    rng = (
        f"; M*(C) runs from {num(inter['m_star'].min())} to {num(inter['m_star'].max())} over those budgets"
        if len(inter) > 1
        else ""
    )
    interval = (
        f" ({co.level:.0%} interval {num(lo)} to {num(hi)}, from the seed noise)"
        if np.isfinite(lo)
        else (" (no interval yet: the seed noise is not measured)")
    )
    return (
        f"At our scale the compute-optimal ratio is M* = D*/N* = {num(v)} tokens per parameter{interval}, "
        f"the geometric mean over the {len(inter)} budget(s) with interior minima{rng}. The paper's is "
        f"{PAPER_M_STAR:g}: our byte-level models are tiny and read cheap tokens, so they stay far from "
        "parameter-limited for much longer."
    )


def mapping_frame(m: float, models: Sequence[str] | None = None) -> pd.DataFrame:
    """How the paper's fixed-M protocols map to our models: tokens at 1 x M*, its epochs of a split, and the
    largest of the paper's multiples 1, 2, 4, 8, 16 x M* that stays within the epoch limit."""
    models = list(study.STUDY_MODELS) if models is None else list(models)
    split = spec.split_size("text", "student")
    rows = []
    for name in models:
        n = spec.model_config(name).n_params
        d = m * n
        within = [k for k in PAPER_M_MULTIPLES if k * d <= spec.MAX_EPOCHS * split]
        rows.append(
            {
                "model": name,
                "N": int(n),
                "tokens at M*": d,
                "epochs at M*": d / split,
                "enough steps at M*": "yes" if d >= study.min_tokens(name) else "no (< 500 steps)",
                "multiples of M* within the epoch limit": ", ".join(f"{k}×" for k in within)
                if within
                else "none",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def mapping_sentence(m: float) -> str:
    if not np.isfinite(m):
        return (
            f"Until M* is measured, the mapping of the paper's fixed-M protocols (M = {PAPER_M_STAR:g} for "
            "teachers, 1 to 16 times that for students) to our runs is pending."
        )
    mult = ", ".join(f"{k * PAPER_M_STAR:g}" for k in PAPER_M_MULTIPLES)
    ours = ", ".join(num(k * m) for k in PAPER_M_MULTIPLES)
    return (
        f"The paper's fixed-M protocols train teachers at M = {PAPER_M_STAR:g} tokens per parameter, its "
        f"compute-optimal ratio, and students at M = {mult}, i.e. 1, 2, 4, 8 and 16 times it. We keep the "
        f"multiples and replace the paper's {PAPER_M_STAR:g} by our M*: an M*-optimal model of size N trains "
        f"on {num(m)}·N tokens, and the students at {ours} tokens per parameter. The table below shows, for "
        f"each model of the study, where the {spec.MAX_EPOCHS:g}-epoch limit cuts the multiples off."
    )


# --- the supervised law -------------------------------------------------------------------------------------


def fig_law_fit(law: fits.LawFit | None):
    """Predicted against observed loss and the relative error (paper Fig. 5a)."""
    return plots.law_fit_figure(
        law,
        pending="pending: fewer than six supervised runs recorded",
        observed="observed validation loss $L$ (nats per byte)",
        predicted="predicted loss $L$ (nats per byte)",
        symbol="$L$",
        paper_error=PAPER_ERROR,
    )


def coefficient_frame(law: fits.LawFit | None) -> pd.DataFrame:
    """Our coefficients with their bootstrap intervals beside the paper's Table 6."""
    return law_coefficient_frame(law, PAPER_SUPERVISED, SUPERVISED_LABELS, PAPER_RUNS)


def law_source_sentence(state: fits.FitState, P: Params) -> str:
    """Which runs the law was fitted to, how, and where the fit on this page comes from."""
    if state.fit is None:
        return "The law has six coefficients; it is fitted once six or more supervised runs are recorded."
    f = state.fit
    if f.n_resamples >= 2 and np.isfinite(f.converged_fraction):
        boot = (
            f"{f.level:.0%} intervals from {f.n_resamples} bootstrap resamples of the runs "
            f"({100 * f.converged_fraction:.1f}% of the refits converged)"
        )
    elif "bootstrap_error" in f.provenance:
        boot = f"no bootstrap intervals (the bootstrap failed: {f.provenance['bootstrap_error']})"
    else:
        boot = "no bootstrap intervals"
    if state.source == "stored":
        where = (
            f"read from data/fits/supervised.json, fitted on {f.provenance.get('date', '?')} to exactly "
            "these runs"
        )
    elif state.source == "fitted":
        where = "made now and stored in data/fits/supervised.json"
    else:
        why = (
            f"is for a different set of {state.stored_runs} runs"
            if state.stored_runs is not None
            else "does not exist yet"
        )
        where = (
            f"made now, while this page was built, because the stored fit {why}; its intervals come from a "
            f"quick {f.n_resamples}-resample bootstrap; refreshing the stored fit (see the end of the "
            f"page) gives the full {P.n_resamples}"
        )
    return (
        f"We fit the law to all {len(f.runs)} supervised runs of the study recorded so far (seed repeats "
        "enter as separate runs, as the paper fits individual runs) with the paper's procedure: log-space "
        f"Huber loss with δ = {HUBER_DELTA:g}, L-BFGS-B from the paper's grid of starts, and {boot}. The fit "
        f"was {where}.{unbounded_sentence(f, SUPERVISED_LABELS)}"
    )


def extrapolation_sentence(law: fits.LawFit | None, noise: ss.NoiseSummary) -> str:
    """The extrapolation test in words, judged against the paper's 1% and against the seed noise."""
    if law is None:
        return "The extrapolation test is pending until the law can be fitted."
    e = law.errors()
    if law.high_params is None:
        return (
            "The extrapolation test needs six runs above the threshold and one below; with "
            f"{e['n_runs']} runs it is pending."
        )
    goal = "within" if e["max_lowest"] <= PAPER_ERROR else "outside"
    noise_txt = ""
    if noise.measured:
        ratio = e["max_lowest"] / noise.rel_std
        noise_txt = (
            f" For scale: one run's seed noise is {100 * noise.rel_std:.2f}% of the loss, so that error is "
            f"{ratio:.1f} times the seed noise"
            + (": the test cannot resolve errors much below that." if ratio < 2 else ".")
        )
    return (
        f"As the paper does (it fits the {PAPER_HIGH_RUNS} of its {PAPER_RUNS} runs with L ≥ "
        f"{PAPER_HIGH_LOSS:g}), we fit only the {e['n_fit_high']} runs with L ≥ {law.threshold:.3f}, two "
        f"thirds of ours, and predict the other {e['n_held_out']}. Their relative errors are "
        f"{100 * e['mean_held_out']:.2f}% on average (largest {100 * e['max_held_out']:.2f}%, mean signed "
        f"{100 * e['bias_held_out']:+.2f}%). On the lowest-loss fifth ({e['n_lowest']} runs) the largest "
        f"error is {100 * e['max_lowest']:.2f}%, {goal} the paper's {100 * PAPER_ERROR:g}%.{noise_txt}"
    )


def noise_in_fits_sentence(law: fits.LawFit | None, noise: ss.NoiseSummary) -> str:
    """How the measured seed noise enters the fits: Huber scale, in-sample error, bootstrap."""
    if not noise.measured:
        return "Once the seed noise is measured, it is compared here with the Huber threshold and the fit."
    parts = [
        f"The seed noise, {100 * noise.rel_std:.2f}% of the loss, is {noise.rel_std / HUBER_DELTA:,.0f} "
        f"times the Huber threshold δ = {HUBER_DELTA:g} on log-residuals. Nearly every run's residual is "
        "therefore in the Huber loss's linear branch, and the fit behaves like a least-absolute-deviations "
        "fit: a noisy run pulls on it with bounded force"
    ]
    if law is not None:
        e = law.errors()
        within = e["rms_all"] < 1.5 * noise.rel_std
        parts.append(
            f"the fit to all runs misses them by {100 * e['rms_all']:.2f}% (root mean square), "
            f"{e['rms_all'] / noise.rel_std:.1f} times the seed noise"
            + (", so the law describes our runs to within their noise" if within else ", more than noise")
        )
    parts.append(
        "the bootstrap resamples whole runs, seed repeats included, so the coefficients' intervals carry the "
        "run-to-run noise, and the intervals of N*, D* and M* come from redrawing every IsoFLOP point with "
        "the measured noise"
    )
    return "; ".join(parts) + "."


def budgets_text(data: StudyData) -> str:
    """The design's IsoFLOP budgets in words ("1e12, 3e12 and 1e13")."""
    return and_join([sci(x) for x in sorted(set(data.design["budget"].dropna()))])


def models_text(data: StudyData) -> str:
    """The sizes of the IsoFLOP design: models and their N range."""
    d = data.design[data.design["block"].isin(data.isoflop_blocks)].sort_values("n_params")
    if d.empty:
        return "none"
    models = list(dict.fromkeys(d["model"]))
    return (
        f"{len(models)} models from {models[0]} (N = {num(d['n_params'].iloc[0])}) to {models[-1]} "
        f"(N = {num(d['n_params'].iloc[-1])})"
    )


def noise_design_text(data: StudyData) -> str:
    """What the noise block repeats, from the design ("5 of their configurations with 3 seeds each")."""
    d = data.design[data.design["block"].isin(data.isoflop_blocks)]
    counts = d.groupby(["model", "tokens"])["seed"].nunique()
    rep = counts[counts > 1]
    if rep.empty:
        return "no configuration with several seeds"
    seeds = sorted(set(rep))
    per = f"{seeds[0]} seeds each" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]} seeds"
    return f"{len(rep)} of their configurations with {per}"


def study_m_star_sentence(co: ss.ComputeOptimal) -> str:
    """The M* the study's protocol blocks use (``study.STUDY_M_STAR``) against the one measured here."""
    fixed = study.STUDY_M_STAR
    v, lo, hi = co.m_star
    if fixed is None:
        return (
            "The study has not fixed its M* yet (study.STUDY_M_STAR), so the protocol blocks that need it "
            "are not built; it is set from this measurement once the IsoFLOP profiles are complete."
        )
    if not np.isfinite(v):
        return f"The study's protocols use M* = {num(fixed)} (study.STUDY_M_STAR); no estimate here yet."
    inside = np.isfinite(lo) and lo <= fixed <= hi
    keep = (
        ""
        if inside
        else f" The protocols keep {num(fixed)}, the value the first three IsoFLOP budgets gave when they "
        "were designed: a new M* would change the tokens, hence the identity, of every fixed-M* teacher and "
        f"student already recorded. Their teachers train on {abs(100 * (fixed / v - 1)):.0f}% "
        f"{'more' if fixed > v else 'fewer'} tokens per parameter than the current estimate of M*."
    )
    return (
        f"The study's protocols use M* = {num(fixed)} (study.STUDY_M_STAR); the records now give {num(v)}"
        + (
            f", and {num(fixed)} is {'inside' if inside else 'outside'} the interval."
            if np.isfinite(lo)
            else "."
        )
        + keep
    )


def decade_numbers(law: fits.LawFit | None) -> dict[str, float | int | str]:
    """The extrapolation test a decade out (:func:`distill_scaling.fits.decade_extrapolation`) of the fit:
    held-out and fitted runs, the decades between them, the mean signed, mean and largest error (percent);
    ``sup_decade_status`` is ``"ran"`` or why it did not."""
    d = {} if law is None else law.provenance.get("decade_extrapolation", {})
    errors = np.asarray(d.get("errors", []), float)
    return {
        "sup_decade_status": "ran" if errors.size else d.get("skipped", "no stored fit"),
        "sup_decade_held_out": int(d.get("held_out_runs", 0)),
        "sup_decade_fitted": int(d.get("fit_runs", 0)),
        "sup_decade_decades": float(d.get("decades", math.nan)),
        "sup_decade_bias": 100 * float(errors.mean()) if errors.size else math.nan,
        "sup_decade_mean": 100 * float(np.abs(errors).mean()) if errors.size else math.nan,
        "sup_decade_max": 100 * float(np.abs(errors).max()) if errors.size else math.nan,
    }


def fixed_m_numbers(co: ss.ComputeOptimal, noise: ss.NoiseSummary) -> dict[str, float]:
    """The protocols' fixed M (``study.STUDY_M_STAR``) against today's M*: on each IsoFLOP parabola, the loss
    above its minimum at the fixed M and at M*; the largest difference between the two (nats), beside one
    run's seed noise (nats)."""
    fixed, v = study.STUDY_M_STAR, co.m_star[0]
    if fixed is None or not np.isfinite(v):
        return {"sup_fixed_m": math.nan, "sup_fixed_m_cost": math.nan, "sup_noise_abs": noise.std}
    at_fixed = ss.fixed_m_cost(co, fixed).set_index("budget")["extra_loss"]
    at_star = ss.fixed_m_cost(co, v).set_index("budget")["extra_loss"]
    diff = (at_fixed - at_star).abs().dropna()
    return {
        "sup_fixed_m": float(fixed),
        "sup_fixed_m_cost": float(diff.max()) if len(diff) else math.nan,
        "sup_noise_abs": float(noise.std),
    }


def numbers(
    data: StudyData, noise: ss.NoiseSummary, co: ss.ComputeOptimal, state: fits.FitState, P: Params
) -> dict:
    """Every value glued into the prose (strings, so that a pending quantity reads as such)."""
    law = state.fit
    v, lo, hi = co.m_star
    out = {
        "sup_progress": progress_sentence(data),
        "sup_n_recorded": str(data.n_recorded),
        "sup_n_total": str(data.n_total),
        "sup_noise_sentence": noise_sentence(data, noise, P.noise_target),
        "sup_noise_target": f"{100 * P.noise_target:g}%",
        "sup_noise_rel": f"{100 * noise.rel_std:.2f}%" if noise.measured else "pending",
        "sup_isoflop_sentence": isoflop_sentence(co, data),
        "sup_exponent_sentence": exponent_sentence(co),
        "sup_m_star_sentence": m_star_sentence(co),
        "sup_m_star": num(v) if np.isfinite(v) else "pending",
        "sup_m_star_interval": f"{num(lo)} to {num(hi)}" if np.isfinite(lo) else "n/a",
        "sup_mapping_sentence": mapping_sentence(v),
        "sup_paper_a": f"{PAPER_SUPERVISED.a:.3f}",
        "sup_paper_b": f"{PAPER_SUPERVISED.b:.3f}",
        "sup_paper_m_star": f"{PAPER_M_STAR:g}",
        "sup_law_source": law_source_sentence(state, P),
        "sup_extrapolation_sentence": extrapolation_sentence(law, noise),
        "sup_noise_in_fits": noise_in_fits_sentence(law, noise),
        "sup_threshold": f"{law.threshold:.3f}"
        if law is not None and law.threshold is not None
        else "pending",
        "sup_level": f"{P.level:.0%}",
        "sup_noise_boot": str(co.n_boot),
        "sup_parabola_points": str(P.parabola_points),
        "sup_paired_sentence": paired_sentence(ss.paired_differences(data.isoflop_runs, P.level)),
        "sup_noise_design": noise_design_text(data),
        "sup_paper_error": f"{100 * PAPER_ERROR:g}%",
        "sup_vocab": str(spec.RunSpec("L1-d16", 1).config.vocab_size),
        "sup_budgets": budgets_text(data),
        "sup_models": models_text(data),
        "sup_max_epochs": f"{spec.MAX_EPOCHS:g}",
        "sup_min_steps": str(spec.MIN_STEPS),
        "sup_split_tokens": f"{spec.split_size('text', 'teacher') / 1e6:.2f}M",
        "sup_study_m_star": study_m_star_sentence(co),
        "sup_compute_recorded": f"{data.runs['flops'].sum():.3g}" if len(data.runs) else "0",
        "sup_hours_recorded": f"{data.runs['wall_time_s'].sum() / 3600:.2f}" if len(data.runs) else "0",
    }
    return out
