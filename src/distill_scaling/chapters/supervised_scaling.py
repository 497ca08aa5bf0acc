"""Chapter "Supervised scaling at small scale": seed noise, IsoFLOP profiles, M* and the supervised law.

The chapter reads the study's supervised records (:func:`distill_scaling.supervised_study.study_design`);
``full`` trains the missing ones first, ``smoke`` trains a tiny IsoFLOP design (:func:`smoke_specs`) into a
temporary store in seconds. All analysis is in :mod:`distill_scaling.supervised_study`; this module holds
the chapter's parameters and runs, the numbers its page glues into its prose (:func:`numbers`), its tables
and its figures. The law fit with its 4096 bootstrap resamples is stored in ``data/fits/supervised.json``;
refresh it from the committed records (``--profile full`` trains the missing runs first) with::

    python -m distill_scaling fit --law supervised
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
    fixed,
    interval_check,
    law_coefficient_frame,
    num,
    pct,
    sci,
    with_interval,
)

CHAPTER = "06_supervised_scaling"

#: The paper's compute-optimal tokens per parameter (the Chinchilla rule of thumb it uses).
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
        "target relative seed-to-seed std of the final loss (0.5%)",
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
    def n_recorded(self) -> int:
        return len(self.runs)

    @property
    def n_total(self) -> int:
        return int(self.design["key"].nunique())


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


# --- numbers ------------------------------------------------------------------------------------------------

#: How the pooled seed noise's interval lies against the target (:meth:`ss.NoiseSummary.verdict`).
NOISE_VERDICTS = {
    "below": "lies below",
    "above": "lies above",
    "inconclusive": "straddles",
    "not measured": "is not measured against",
}
#: The claim of ``data/findings.json`` this chapter's extrapolation test belongs to.
FINDING = "supervised-extrapolation"


def design_numbers(data: StudyData) -> dict[str, int | float | str]:
    """The design of the chapter: budgets, sizes, the repeated configurations, the study's rules."""
    d = data.design[data.design["block"].isin(data.isoflop_blocks)].sort_values("n_params")
    models = list(dict.fromkeys(d["model"]))
    seeds = d.groupby(["model", "tokens"])["seed"].nunique()
    return {
        "sup_n_recorded": data.n_recorded,
        "sup_n_total": data.n_total,
        "sup_budgets": and_join([sci(x) for x in sorted(set(data.design["budget"].dropna()))]),
        "sup_n_models": len(models),
        "sup_model_smallest": models[0] if models else "n/a",
        "sup_model_largest": models[-1] if models else "n/a",
        "sup_n_smallest": num(d["n_params"].iloc[0]) if len(d) else "n/a",
        "sup_n_largest": num(d["n_params"].iloc[-1]) if len(d) else "n/a",
        "sup_noise_configs_planned": int((seeds > 1).sum()),
        "sup_noise_seeds_planned": int(seeds.max()) if len(seeds) else 0,
        "sup_vocab": int(spec.RunSpec("L1-d16", 1).config.vocab_size),
        "sup_max_epochs": float(spec.MAX_EPOCHS),
        "sup_min_steps": int(spec.MIN_STEPS),
        "sup_split_mtokens": spec.split_size("text", "teacher") / 1e6,
        "sup_compute_recorded": sci(data.runs["flops"].sum(), 3) if len(data.runs) else "0",
        "sup_hours_recorded": float(data.runs["wall_time_s"].sum() / 3600) if len(data.runs) else 0.0,
    }


def noise_numbers(noise: ss.NoiseSummary, pairs: pd.DataFrame, target: float) -> dict[str, int | float | str]:
    """The pooled seed noise with its interval and how it lies against ``target``; the paired comparisons."""
    lo, hi = noise.rel_std_interval if noise.measured else (math.nan, math.nan)
    return {
        "sup_noise_target": float(target),
        "sup_noise_configs": int(noise.configs),
        "sup_noise_runs": int(noise.runs),
        "sup_noise_dof": int(noise.dof),
        "sup_noise_std": fixed(noise.std, 4) if noise.measured else "n/a",
        "sup_noise_rel": pct(noise.rel_std) if noise.measured else "n/a",
        "sup_noise_low": pct(lo),
        "sup_noise_high": pct(hi),
        "sup_noise_verdict": NOISE_VERDICTS[noise.verdict(target)],
        "sup_paired_resolved": int(pairs["resolved"].sum()) if len(pairs) else 0,
        "sup_paired_total": len(pairs),
    }


def optimal_numbers(co: ss.ComputeOptimal, n_budgets: int) -> dict[str, int | float | str]:
    """The IsoFLOP minima (how many budgets are interior), the compute-optimal exponents, M* and its range
    over the budgets, and the paper's fixed-M protocols in our M*."""
    done = co.minima[co.minima["edge"] != "too few sizes"] if len(co.minima) else co.minima
    interior = done[done["edge"].isna()] if len(done) else done
    e = co.exponents
    a, b, mm = e.loc["N*"], e.loc["D*"], e.loc["M*"]
    v, lo, hi = co.m_star
    out: dict[str, int | float | str] = {
        "sup_level": float(co.level),
        "sup_noise_boot": int(co.n_boot),
        "sup_iso_budgets": int(n_budgets),
        "sup_iso_profiled": len(done),
        "sup_iso_interior": len(interior),
        "sup_iso_edge": len(done) - len(interior),
        "sup_exp_budgets": int(e.loc["N*", "budgets"]),
        "sup_paper_a": float(PAPER_SUPERVISED.a),
        "sup_paper_b": float(PAPER_SUPERVISED.b),
        "sup_a_plus_b": fixed(a["exponent"] + b["exponent"]),
        "sup_paper_m_star": PAPER_M_STAR,
        "sup_m_star": num(v),
        "sup_m_star_low": num(lo),
        "sup_m_star_high": num(hi),
        "sup_m_star_min": num(interior["m_star"].min()) if len(interior) else "n/a",
        "sup_m_star_max": num(interior["m_star"].max()) if len(interior) else "n/a",
        "sup_multiples": and_join([f"{k:g}" for k in PAPER_M_MULTIPLES]),
        "sup_paper_student_m": and_join([f"{k * PAPER_M_STAR:g}" for k in PAPER_M_MULTIPLES]),
        "sup_student_m": and_join([num(k * v) for k in PAPER_M_MULTIPLES]) if np.isfinite(v) else "n/a",
        "sup_study_m_star": num(study.STUDY_M_STAR) if study.STUDY_M_STAR else "n/a",
    }
    for key, r in (("a", a), ("b", b), ("m", mm)):
        out[f"sup_exp_{key}"] = fixed(r["exponent"])
        out[f"sup_exp_{key}_low"] = fixed(r["low"])
        out[f"sup_exp_{key}_high"] = fixed(r["high"])
    fixed_m = study.STUDY_M_STAR or math.nan
    inside = np.isfinite(lo) and lo <= fixed_m <= hi
    out["sup_study_m_star_inside"] = "inside" if inside else ("outside" if np.isfinite(lo) else "n/a")
    out["sup_study_m_star_diff"] = pct(abs(fixed_m / v - 1), 0) if np.isfinite(v) else "n/a"
    out["sup_study_m_star_more"] = ("more" if fixed_m >= v else "fewer") if np.isfinite(v) else "n/a"
    return out


def law_numbers(state: fits.FitState, noise: ss.NoiseSummary, P: Params) -> dict[str, int | float | str]:
    """The law fit: its runs, bootstrap, which stored fit there is, the interval-growth check, the
    extrapolation test's errors and the in-sample error against the seed noise."""
    f = state.fit
    stored = len(f.runs) if f is not None and state.source in ("stored", "fitted") else state.stored_runs
    e = f.errors() if f is not None else {}
    check = interval_check(f, SUPERVISED_LABELS)
    rel = noise.rel_std if noise.measured else math.nan
    return {
        "sup_huber_delta": HUBER_DELTA,
        "sup_paper_error": PAPER_ERROR,
        "sup_paper_runs": PAPER_RUNS,
        "sup_paper_high_runs": PAPER_HIGH_RUNS,
        "sup_paper_high_loss": PAPER_HIGH_LOSS,
        "sup_law_runs": len(f.runs) if f is not None else 0,
        "sup_law_resamples": int(f.n_resamples) if f is not None else 0,
        "sup_law_converged": pct(f.converged_fraction, 1) if f is not None else "n/a",
        "sup_stored_runs": int(stored or 0),
        "sup_live_resamples": int(P.live_resamples),
        "sup_n_resamples": int(P.n_resamples),
        "sup_unbounded": check["unbounded"],
        "sup_at_zero": check["at_zero"],
        "sup_threshold": fixed(f.threshold) if f is not None and f.threshold is not None else "n/a",
        "sup_extrap_fitted": int(e.get("n_fit_high", 0)),
        "sup_extrap_held": int(e.get("n_held_out", 0)),
        "sup_extrap_mean": pct(e.get("mean_held_out", math.nan)),
        "sup_extrap_max": pct(e.get("max_held_out", math.nan)),
        "sup_extrap_bias": pct(e.get("bias_held_out", math.nan), signed=True),
        "sup_lowest_runs": int(e.get("n_lowest", 0)),
        "sup_lowest_max": pct(e.get("max_lowest", math.nan)),
        "sup_lowest_noise_ratio": fixed(e.get("max_lowest", math.nan) / rel, 1),
        "sup_huber_ratio": f"{rel / HUBER_DELTA:,.0f}" if noise.measured else "n/a",
        "sup_rms_all": pct(e.get("rms_all", math.nan)),
        "sup_rms_noise_ratio": fixed(e.get("rms_all", math.nan) / rel, 1),
    }


def finding_numbers(findings: pd.DataFrame) -> dict[str, int | float | str]:
    """The verdict of ``data/findings.json`` on the extrapolation claim (:data:`FINDING`), as it is stored."""
    row = findings[findings["id"] == FINDING]
    if row.empty:
        return {"sup_verdict": "n/a", "sup_verdict_runs": 0, "sup_verdict_held": 0, "sup_verdict_max": "n/a"}
    r = row.iloc[0]
    return {
        "sup_verdict": str(r["verdict"]),
        "sup_verdict_runs": int(r["n_runs"]),
        "sup_verdict_held": int(r["n_held_out"]),
        "sup_verdict_max": pct(r["max_error"], 1),
    }


def decade_numbers(law: fits.LawFit | None) -> dict[str, float | int | str]:
    """The extrapolation test a decade out (:func:`distill_scaling.fits.decade_summary`) of the fit, as
    ``sup_decade_<name>``."""
    return {f"sup_decade_{k}": v for k, v in fits.decade_summary(law).items()}


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
    data: StudyData,
    noise: ss.NoiseSummary,
    co: ss.ComputeOptimal,
    state: fits.FitState,
    P: Params,
    findings: pd.DataFrame,
) -> dict[str, int | float | str]:
    """Every value the page glues into its prose: plain numbers, and short strings for what may be missing
    ("n/a") or reads as a word; ``findings``: :func:`distill_scaling.verdicts.load_findings`."""
    pairs = ss.paired_differences(data.isoflop_runs, P.level)
    n_budgets = len(set(data.design["budget"].dropna()))
    return {
        **design_numbers(data),
        **noise_numbers(noise, pairs, P.noise_target),
        "sup_parabola_points": int(P.parabola_points),
        **optimal_numbers(co, n_budgets),
        **law_numbers(state, noise, P),
        **finding_numbers(findings),
        **decade_numbers(state.fit),
        **fixed_m_numbers(co, noise),
    }


# --- tables -------------------------------------------------------------------------------------------------

#: How the tables' plain column names read on the page (MathJax renders the output cells):
#: ``presentation.styled(table, caption, names=NAMES)``.
NAMES = {
    "N*": r"\(N^*\)",
    "D*": r"\(D^*\)",
    "M* = D*/N*": r"\(M^* = D^*/N^*\)",
    "L*": r"\(L^*\)",
    "N": r"\(N\)",
    "tokens at M*": r"tokens at \(M^*\)",
    "epochs at M*": r"epochs at \(M^*\)",
    "enough steps at M*": r"enough steps at \(M^*\)",
    "multiples of M* within the epoch limit": r"multiples of \(M^*\) within the epoch limit",
}


def progress_frame(data: StudyData) -> pd.DataFrame:
    """The progress table for display: runs, compute (PFLOP) and training wall time recorded per block."""
    return ss.progress_frame(data.progress)


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


def paired_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    """The paired-seed differences between neighbouring sizes of a profile, for display."""
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
                f"{fixed(lo, 4, signed=True)} to {fixed(hi, 4, signed=True)}"
                for lo, hi in zip(pairs["low"], pairs["high"], strict=True)
            ],
            "resolved": np.where(pairs["resolved"], "yes", "no"),
        }
    )
    return out.set_index(["budget", "comparison"])


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
                    "L*": f"{r['loss_star']:.4f} (lowest measured)",
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
                        r["loss_star"], r["loss_star_low"], r["loss_star_high"], lambda x: fixed(x, 4)
                    ),
                    "note": "interior"
                    + (f" in {100 * r['p_interior']:.0f}% of draws" if np.isfinite(r["p_interior"]) else ""),
                }
            )
        rows.append(row)
    cols = ["budget (FLOPs)", "sizes", "runs", "lowest", "N*", "D*", "M* = D*/N*", "L*", "note"]
    return pd.DataFrame(rows, columns=cols).set_index("budget (FLOPs)")


def exponents_frame(co: ss.ComputeOptimal, law: fits.LawFit | None, paper=PAPER_SUPERVISED) -> pd.DataFrame:
    """The compute-optimal exponents: ours from the IsoFLOP minima and from the fitted law, the paper's."""
    rows = []
    for q, name, attr in (("N*", "a (N* ∝ C^a)", "a"), ("D*", "b (D* ∝ C^b)", "b")):
        e = co.exponents.loc[q]
        law_txt = "n/a"
        if law is not None:
            lo, hi = law.params.intervals.get(attr, (math.nan, math.nan))
            law_txt = with_interval(getattr(law.params, attr), lo, hi, fixed)
        plo, phi = paper.intervals.get(attr, (math.nan, math.nan))
        rows.append(
            {
                "exponent": name,
                "ours: IsoFLOP minima": with_interval(e["exponent"], e["low"], e["high"], fixed),
                "ours: fitted law": law_txt,
                "paper (Table 6)": with_interval(getattr(paper, attr), plo, phi, fixed),
            }
        )
    return pd.DataFrame(rows).set_index("exponent")


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


def coefficient_frame(law: fits.LawFit | None) -> pd.DataFrame:
    """Our coefficients with their bootstrap intervals beside the paper's Table 6."""
    return law_coefficient_frame(law, PAPER_SUPERVISED, SUPERVISED_LABELS, PAPER_RUNS, missing="n/a")


# --- figures ------------------------------------------------------------------------------------------------


def fig_noise(runs_table: pd.DataFrame, spread: pd.DataFrame, noise: ss.NoiseSummary, target: float):
    """Left: each seed's deviation from its configuration's mean (%); right: relative std per configuration
    with its chi-square interval, the pooled value and the target."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(plots.FULL_WIDTH, 3.8), width_ratios=[1.2, 1])
    if spread.empty:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "no configuration\nwith two seeds recorded", ha="center", va="center")
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
        ax.text(0.5, 0.5, "no IsoFLOP run recorded", ha="center", va="center", transform=ax.transAxes)
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
            ax.text(
                0.5, 0.5, "no profile with\nthree sizes", ha="center", va="center", transform=ax.transAxes
            )
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


def fig_law_fit(law: fits.LawFit | None):
    """Predicted against observed loss and the relative error (paper Fig. 5a)."""
    return plots.law_fit_figure(
        law,
        pending="fewer than six supervised runs recorded: no fit",
        observed="observed validation loss $L$ (nats per byte)",
        predicted="predicted loss $L$ (nats per byte)",
        symbol="$L$",
        paper_error=PAPER_ERROR,
    )
