"""Chapter "Findings at a glance": the verdict table of ``data/findings.json``, the effects as one figure, and
our scale beside the paper's.

The verdicts are computed by :mod:`distill_scaling.verdicts` (``python -m distill_scaling findings``); this
page only reads and shows them::

    from distill_scaling import verdicts
    from distill_scaling.chapters import findings as ch
    table = ch.verdict_table(verdicts.load_findings())
"""

from __future__ import annotations

import html
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import comparisons, corpus, fits, presentation, store, study, verdicts
from ..flops import forward_flops
from ..model import config_from_name
from ..params import Param

#: The page has no parameters besides ``profile``: it shows ``data/findings.json`` as committed.
PARAMS: dict[str, Param] = {}

#: Colour of each verdict in the table and the figure.
VERDICT_COLORS = {
    "reproduced": "#2ca02c",
    "refuted": "#d62728",
    "not resolved at our scale": "#7f7f7f",
    "not tested": "#bcbd22",
}

#: The paper's scale (Busbridge et al. 2025: Table 13, App. E, Secs. 2 and 4).
PAPER_SCALE = {
    "non-embedding parameters": "143M to 12.6B",
    "FLOPs per run": "up to about 1e22 (student IsoFLOPs 3e19 to 1e21)",
    "training tokens": "up to 512B",
    "vocabulary": "32,768 tokens",
    "context": "4,096 tokens",
    "corpus": "English C4, 2 x 90B tokens (teacher and student halves)",
    "runs": "73 supervised + 697 distillation",
}


def _fmt_effect(row: pd.Series) -> str:
    if row["effect"] is None or (isinstance(row["effect"], float) and math.isnan(row["effect"])):
        return "n/a"
    lo, hi = row["interval"]
    if row.get("unit") == "fraction":
        text = f"{100 * row['effect']:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}]"
        largest = _number(row.get("max_error"))
        return text + (f"; largest {100 * largest:.1f}%" if math.isfinite(largest) else "")
    unit = row.get("unit")
    if isinstance(unit, str) and unit not in ("nats", ""):
        return f"{row['effect']:+.2f} [{lo:+.2f}, {hi:+.2f}] {unit}"
    return f"{row['effect']:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def verdict_table(findings: pd.DataFrame) -> pd.DataFrame:
    """One line per claim: the claim, the paper's evidence, our effect with its 90% interval, the verdict and
    the chapter that shows it (a link)."""
    out = pd.DataFrame(
        {
            "claim": findings["claim"],
            "paper's evidence": findings["paper"],
            "ours: effect [90% interval]": findings.apply(_fmt_effect, axis=1),
            "verdict": findings["verdict"],
            "where": [f"{c}.html" for c in findings["chapter"]],
        }
    )
    out.attrs["units"] = list(findings.get("unit", pd.Series(["nats"] * len(findings))))
    return out


def styled(table: pd.DataFrame):
    """The verdict table for the page: verdicts coloured, chapters as links, no index."""

    def colour(v: str) -> str:
        return f"color: {VERDICT_COLORS.get(v, 'black')}; font-weight: bold"

    shown = table.copy()
    shown["where"] = [f'<a href="{html.escape(u)}">{html.escape(_title(u))}</a>' for u in table["where"]]
    return (
        shown.style.hide(axis="index")
        .map(colour, subset=["verdict"])
        .set_properties(**{"text-align": "left", "font-size": "0.85em"})
        .set_caption(
            "The paper's claims, our effect (nats unless a unit is given; ECE and errors in %), the verdict"
        )
    )


def _title(page: str) -> str:
    """``07_distillation_scaling.html`` -> ``distillation scaling``."""
    return page.split("_", 1)[1].removesuffix(".html").replace("_", " ")


def counts(findings: pd.DataFrame) -> dict[str, int]:
    """How many claims have each verdict."""
    return {v: int((findings["verdict"] == v).sum()) for v in comparisons.VERDICTS}


def fig_effects(findings: pd.DataFrame):
    """Every claim measured in nats: its effect with the 90% interval, signed so that the paper's direction
    is to the right, coloured by verdict. Claims of no effect are drawn as measured."""
    f = findings[(findings.get("unit", "nats") == "nats") & findings["effect"].notna()].copy()
    sign = {cid: _paper_sign(cid) for cid in f["id"]}
    f["s"] = [sign[c] if sign[c] != 0 else 1 for c in f["id"]]
    f["e"] = f["effect"] * f["s"]
    f["lo"] = [min(a * s, b * s) for (a, b), s in zip(f["interval"], f["s"], strict=True)]
    f["hi"] = [max(a * s, b * s) for (a, b), s in zip(f["interval"], f["s"], strict=True)]
    f = f.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.0, 0.42 * len(f) + 1.6), layout="constrained")
    y = np.arange(len(f))
    for yi, (_, r) in zip(y, f.iterrows(), strict=True):
        c = VERDICT_COLORS[r["verdict"]]
        ax.plot([r["lo"], r["hi"]], [yi, yi], color=c, lw=2.5, solid_capstyle="butt")
        ax.plot(r["e"], yi, "o", color=c, ms=6)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(
        y, [r["id"] + (" (no effect claimed)" if sign[r["id"]] == 0 else "") for _, r in f.iterrows()]
    )
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("effect in the paper's direction (nats per byte), 90% interval")
    handles = [
        plt.Line2D([], [], color=c, lw=2.5, label=v) for v, c in VERDICT_COLORS.items() if v != "not tested"
    ]
    lo, hi = float(f["lo"].min()), float(f["hi"].max())
    ax.set_xlim(min(lo * 1.5, -0.02), max(hi * 1.5, 0.02))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    return fig


def _paper_sign(claim_id: str) -> int:
    return verdicts.PAPER_SIGN.get(claim_id, 1)


def scale_table(records: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our scale beside the paper's: parameters, FLOPs, tokens, vocabulary, context, corpus, runs (of the
    study's runs in ``records``, default the run store)."""
    rec = store.load_records() if records is None else records
    rec = rec[rec["lr"] == study.STUDY_LR] if not rec.empty else rec
    src = corpus.get_source("text")
    sizes = {s: src.split_size(s) for s in ("teacher", "student")}
    if rec.empty:
        none = "no study runs recorded"
        return pd.DataFrame({"": list(PAPER_SCALE), "the paper": list(PAPER_SCALE.values()),
                             "ours": [none, none, none, "256 bytes", "128 bytes", "", "0"]})  # fmt: skip
    ours = {
        "non-embedding parameters": f"{rec['n_params'].min():,.0f} to {rec['n_params'].max():,.0f}",
        "FLOPs per run": f"{rec['flops_total'].min():.1e} to {rec['flops_total'].max():.1e} "
        f"({rec['flops_total'].sum():.2e} in all)",
        "training tokens": f"{rec['tokens'].min() / 1e6:.2f}M to {rec['tokens'].max() / 1e6:.1f}M",
        "vocabulary": "256 bytes",
        "context": "128 bytes",
        "corpus": f"public-domain English text, {sizes['teacher'] / 1e6:.1f}M + "
        f"{sizes['student'] / 1e6:.1f}M bytes (teacher and student halves)",
        "runs": f"{int(rec['teacher'].isna().sum())} supervised + "
        f"{int(rec['teacher'].notna().sum())} distillation",
    }
    return pd.DataFrame(
        {"": list(PAPER_SCALE), "the paper": list(PAPER_SCALE.values()), "ours": list(ours.values())}
    )


#: The paper's smallest model (non-embedding parameters), vocabulary and its widest span of training compute
#: (FLOPs of its smallest IsoFLOP profile to its largest runs), for the threats to validity.
PAPER_SMALLEST_PARAMS = 143e6
PAPER_VOCABULARY = 32_768
OUR_VOCABULARY = corpus.VOCAB_SIZE
#: Seed-noise estimates with fewer degrees of freedom are left out of the noise range.
MIN_NOISE_DOF = 2


def threats_numbers(records: pd.DataFrame) -> dict[str, float | int | str]:
    """What bounds the study's reach, as numbers for the "threats to validity" section: our largest model
    against the paper's smallest, the vocabularies, the decades of compute the study spans, the seeds per
    configuration and the range of seed noise over model sizes and kinds of run
    (:func:`comparisons.seed_noise`, estimates of at least ``MIN_NOISE_DOF`` degrees of freedom)."""
    rec = records[records["lr"] == study.STUDY_LR] if not records.empty else records
    out: dict[str, float | int | str] = {
        "paper_params_min": PAPER_SMALLEST_PARAMS,
        "vocab_ours": OUR_VOCABULARY,
        "vocab_paper": PAPER_VOCABULARY,
    }
    if rec.empty:  # no study run recorded (the smoke profile): every size unknown
        names = ("params_max", "params_gap", "compute_decades", "noise_min", "noise_max", "noise_ratio")
        return {**out, **dict.fromkeys(names, math.nan), "seeds_max": 0, "configs_seeded": 0}
    out["params_max"] = float(rec["n_params"].max())
    out["params_gap"] = PAPER_SMALLEST_PARAMS / out["params_max"]
    flops = rec["flops_total"].to_numpy(float)
    out["compute_decades"] = float(np.log10(flops.max() / flops.min()))
    seeds = rec.groupby(["model", "split", "tokens", rec["teacher"].fillna("-")])["seed"].nunique()
    out["seeds_max"] = int(seeds.max())
    out["configs_seeded"] = int((seeds >= 2).sum())
    noise = comparisons.seed_noise(rec)
    # A standard deviation from one degree of freedom is too rough to bound a range with.
    sd = noise.loc[noise["dof"] >= MIN_NOISE_DOF, "sd"].to_numpy(float)
    out["noise_min"] = float(sd.min()) if sd.size else math.nan
    out["noise_max"] = float(sd.max()) if sd.size else math.nan
    out["noise_ratio"] = out["noise_max"] / out["noise_min"] if sd.size else math.nan
    return out


#: How a coefficient's name reads in the page's text.
SYMBOLS = {"alpha": "α", "beta": "β", "gamma": "γ"}


def _names(by_law: dict[str, list[str]]) -> str:
    """``{"distillation": ["A", "gamma"]}`` -> ``"A and γ of the distillation law"``; ``"none"`` if empty."""
    parts = []
    for law, names in by_law.items():
        if names:
            shown = [SYMBOLS.get(n, n) for n in names]
            listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
            parts.append(f"{listed} of the {law} law")
    return "; ".join(parts) or "none"


def coefficient_numbers(fitted: dict[str, fits.LawFit]) -> dict[str, int | str]:
    """Of the stored fit of each law: the coefficients the runs leave without a finite interval (the
    interval-growth check, :attr:`fits.LawFit.unbounded`) and those whose interval reaches zero, the bound of
    every coefficient of both laws; how many of each and their names."""
    unbounded: dict[str, list[str]] = {}
    at_bound: dict[str, list[str]] = {}
    for law, fit in fitted.items():
        values = fit.params.values()
        unbounded[law] = [n for n in values if n in fit.unbounded]
        at_bound[law] = [
            n
            for n, v in values.items()
            if n not in fit.unbounded
            and fit.params.intervals.get(n, (math.nan,))[0] <= presentation.AT_ZERO * v
        ]
    return {
        "n_unidentified": sum(len(v) for v in unbounded.values()),
        "unidentified_names": _names(unbounded),
        "n_at_bound": sum(len(v) for v in at_bound.values()),
        "at_bound_names": _names(at_bound),
    }


def _number(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return math.nan
    return v


def glued_numbers(findings: pd.DataFrame) -> dict[str, str | float | int]:
    """The numbers and verdict words the page's prose quotes, for every claim id (``<id>_verdict``,
    ``_effect``, ``_abs``, ``_lo``, ``_hi``, ``_resolution``, ``_predicted``, ``_max_error``, ``_mean_error``,
    ``_runs_for_predicted``; NaN where a claim has no such number; fractions in %) and the verdict counts."""
    out: dict[str, str | float | int] = {}
    by_id = {r["id"]: r for _, r in findings.iterrows()}
    for cid in verdicts.CLAIMS:
        key = cid.replace("-", "_")
        r = by_id.get(cid, pd.Series(dtype=object))
        shared = verdicts.finding_numbers(r)
        out |= {f"{key}_{name}": v for name, v in shared.items()}
        out[f"{key}_abs"] = abs(shared["effect"])
        out[f"{key}_predicted"] = _number(r.get("predicted"))
        out[f"{key}_max_error"] = 100 * _number(r.get("max_error"))
        out[f"{key}_mean_error"] = 100 * _number(r.get("mean_error"))
        out[f"{key}_runs_for_predicted"] = _number(r.get("runs_for_predicted"))
    slope = by_id.get("threshold-grows-with-student", pd.Series(dtype=object))
    interval = slope.get("token_slope_interval")
    out["threshold_token_slope"] = _number(slope.get("token_slope"))
    out["threshold_token_slope_lo"], out["threshold_token_slope_hi"] = (
        (_number(interval[0]), _number(interval[1])) if isinstance(interval, list) else (math.nan, math.nan)
    )
    never = by_id.get("teacher-pretraining-never-wins", pd.Series(dtype=object))
    runs = never.get("runs") if isinstance(never.get("runs"), dict) else {}
    law = never.get("law") if isinstance(never.get("law"), dict) else {}
    out["pretraining_runs_compared"] = int(runs.get("compared", 0))
    out["pretraining_runs_ahead"] = int(runs.get("ahead", 0))
    out["pretraining_runs_paired"] = int(runs.get("paired", 0))
    out["pretraining_paired_groups"] = int(runs.get("paired_groups", 0))
    best = runs.get("best_group") if isinstance(runs.get("best_group"), dict) else {}
    out["pretraining_best_student"] = str(best.get("student", "n/a"))
    out["pretraining_best_teacher"] = str(best.get("teacher_model", "n/a"))
    out["pretraining_best_seeds"] = int(best.get("seeds", 0))
    out["pretraining_law_effect"] = _number(law.get("effect"))
    lo, hi = out["threshold_token_slope_lo"], out["threshold_token_slope_hi"]
    out["threshold_token_trend"] = presentation.direction(
        lo, hi, "falls as the student grows", "grows with the student", "has no resolved trend"
    )
    for v, n in counts(findings).items():
        out[f"n_{v.replace(' ', '_')}"] = n
    out["n_claims"] = len(findings)
    out["level"] = 100 * comparisons.LEVEL
    out["null_margin"] = 100 * comparisons.NULL_MARGIN
    return out


def crossover_table(findings: pd.DataFrame) -> pd.DataFrame:
    """Per student and teacher: the student tokens, and the student training compute, at which distillation
    stops beating supervised training of the same student (from the threshold claim's ``crossovers``)."""
    row = findings[findings["id"] == "threshold-grows-with-student"]
    found = row["crossovers"].iloc[0] if len(row) and "crossovers" in row else None
    cross = pd.DataFrame(found if isinstance(found, list) else [])
    if cross.empty:
        return pd.DataFrame(
            columns=["student", "teacher", "token counts", "crossover tokens [90%]", "compute"]
        )
    per_token = {m: 3.0 * forward_flops(config_from_name(m)) for m in cross["student"]}  # training FLOPs
    out = pd.DataFrame(
        {
            "student": cross["student"],
            "teacher": cross["teacher_model"],
            "token counts": cross["token_counts"],
            "crossover tokens [90%]": [
                "no crossing near the runs"
                if pd.isna(r.crossover_tokens)
                else f"{r.crossover_tokens:.3g} [{r.low:.2g}, {r.high:.2g}]"
                for r in cross.itertuples()
            ],
            "compute": [
                ""
                if pd.isna(r.crossover_tokens)
                else f"{r.crossover_tokens * per_token[r.student]:.2g} FLOPs"
                for r in cross.itertuples()
            ],
        }
    )
    return out.sort_values(["student", "teacher"]).reset_index(drop=True)
