"""Chapter "Distillation in practice": lambda, tau, learning rate, truncation, KL direction and calibration.

The designs and the calibration measurements are in :mod:`distill_scaling.practice`; this module holds the
chapter's parameters, the loading of one profile's data, and the numbers, tables and figures of its page (the
prose is the notebook's; the verdicts on its claims are read from ``data/findings.json``). ``default`` reads
the committed records and ``data/practice/calibration.json`` and trains nothing; ``full`` trains the missing
runs (one worker: the study uses the other core), repeats the close calls with more seeds, then measures the
calibration from the checkpoints and stores it::

    python -m distill_scaling practice --profile full

Why this module is long: it holds the chapter's six experiments (mixing, temperature, learning rate,
truncation, KL direction, calibration), which share one design, one loading of the runs and one set of figure
conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plots, practice, store, study
from ..errors import CommandParser
from ..params import Param, Params, prepare, validate, with_profile
from ..practice import Grids, Pair, Row
from ..presentation import styled  # noqa: F401 - the notebook calls ch.styled: every table has one look
from ..spec import MIN_STEPS, RunSpec

CHAPTER = "08_distillation_in_practice"

PARAMS: dict[str, Param] = {
    "mixes": Param(
        "list[float]",
        "lambda values (paper Fig. 51; 0 = supervised, 1 = pure distillation)",
        min=0,
        max=1,
        default=list(practice.MIXES),
        profiles={"smoke": [0.0, 0.5, 1.0]},
    ),
    "temperatures": Param(
        "list[float]",
        "distillation temperatures tau (paper Fig. 52)",
        min=0.01,
        max=100,
        default=list(practice.TEMPERATURES),
        profiles={"smoke": [0.5, 1.0, 5.0]},
    ),
    "lrs": Param(
        "list[float]",
        "peak learning rates of the distillation LR sweep (paper Fig. 53)",
        min=1e-5,
        max=1.0,
        default=list(practice.LRS),
        profiles={"smoke": [0.01, 0.0215, 0.0464]},
    ),
    "top_ks": Param(
        "list[int]",
        "top-k truncations (paper Fig. 54); 0 = all (no truncation)",
        min=0,
        default=[k or 0 for k in practice.TOP_KS],
        profiles={"smoke": [1, 16, 0]},
    ),
    "top_ps": Param(
        "list[float]",
        "top-p truncations (paper Fig. 54); 1.0 = no truncation",
        min=0.001,
        max=1.0,
        default=list(practice.TOP_PS),
        profiles={"smoke": [0.5, 1.0]},
    ),
    "seeds": Param(
        "list[int]",
        "seeds of the base run (noise) and of the close calls",
        min=0,
        default=list(practice.SEEDS),
        profiles={"smoke": [0, 1]},
    ),
    "calibration_bins": Param(
        "int",
        "equal-width confidence bins of the reliability diagrams (the paper: 21)",
        min=2,
        max=200,
        default=practice.CALIBRATION_BINS,
    ),
    "workers": Param(
        "int",
        "training processes when runs are missing (1: in this process)",
        min=1,
        max=64,
        default=1,
    ),
    "teacher_wait_s": Param(
        "float",
        "full profile: seconds to wait for teachers the study is still training",
        min=0,
        default=0.0,
        profiles={"full": 3600.0},
    ),
    "eval_tokens": Param(
        "int",
        "validation tokens of each trained run's final loss and calibration (0: the whole split)",
        min=0,
        default=0,
        profiles={"smoke": 4096},
    ),
}


def grids(P: Params) -> Grids:
    """The profile's swept values."""
    return Grids(
        mixes=P.mixes,
        temperatures=P.temperatures,
        lrs=P.lrs,
        top_ks=[k or None for k in P.top_ks],
        top_ps=P.top_ps,
        seeds=P.seeds,
    )


def pairs_and_teachers(P: Params) -> tuple[dict[str, Pair], list]:
    """The profile's pairs and calibration teachers (smoke: tiny ones)."""
    if P.profile == "smoke":
        t = practice.smoke_teachers()
        return practice.smoke_pairs(), list(t.values())
    return practice.study_pairs(), practice.calibration_teachers()


def rows_for(P: Params) -> list[Row]:
    """The chapter's design: every row, most decisive first."""
    pairs, teachers = pairs_and_teachers(P)
    student = "L1-d16" if P.profile == "smoke" else "L2-d32"
    return practice.design(pairs, grids(P), calibration_student=student, teachers=teachers)


def _eval_tokens(P: Params) -> int | None:
    return P.eval_tokens or None


def repeats_for(P: Params, rows: list[Row]) -> list[Row]:
    """The close calls of the primary pair again with the other seeds (from the records present)."""
    res = practice.results(rows, store.load_records(P.runs_dir))
    sd = practice.noise_sd(res)
    return practice.repeat_rows(rows, res, sd, P.seeds, "strong-to-weak")


def train_missing(P: Params, log=print) -> list:
    """Train what the design lacks (smoke and full), then the close calls' extra seeds; return what is still
    missing. Prints the design's FLOPs first."""
    pairs, teachers = pairs_and_teachers(P)
    rows = rows_for(P)
    specs = practice.unique_specs(rows)
    missing = [s for s in specs if not store.exists(s, P.runs_dir)]
    log(
        f"practice: {len(specs)} runs, {practice.design_flops(specs, teachers):.3g} FLOPs in all "
        f"(student training + teacher forward passes); {len(missing)} missing, "
        f"{practice.design_flops(missing, teachers):.3g} FLOPs"
    )
    kw: dict[str, Any] = {"eval_tokens": _eval_tokens(P)}
    smoke = P.profile == "smoke"
    left = practice.ensure_rows(
        rows,
        workers=P.workers,
        wait_s=P.teacher_wait_s,
        runs_dir=P.runs_dir,
        train_teachers=smoke,
        log=log,
        **kw,
    )
    extra = repeats_for(P, rows)
    extra_missing = [s for s in practice.unique_specs(extra) if not store.exists(s, P.runs_dir)]
    if extra_missing:
        log(
            f"practice: {len(extra_missing)} close-call repeats, "
            f"{practice.design_flops(extra_missing, teachers):.3g} FLOPs"
        )
        left += practice.ensure_rows(extra, workers=P.workers, runs_dir=P.runs_dir, log=log, **kw)
    return left


def measure_calibration(P: Params, path: Path | None = None) -> dict:
    """Calibration of the teachers, the calibration students and the primary pair's temperature-sweep students
    (those recorded, with a checkpoint); written to ``path`` (default: the committed file; smoke: the scratch
    folder)."""
    _, teachers = pairs_and_teachers(P)
    # The calibration students and the primary pair's temperature sweep (how tau moves calibration).
    rows = [
        r
        for r in rows_for(P)
        if r.experiment == "calibration" or (r.experiment == "temperature" and r.pair == PRIMARY)
    ]
    return practice.compute_calibration(
        practice.unique_specs(rows),
        teachers,
        path=path or calibration_path(P),
        bins=P.calibration_bins,
        eval_tokens=_eval_tokens(P),
        ps=[p for p in P.top_ps],
        runs_dir=P.runs_dir,
    )


def calibration_path(P: Params) -> Path:
    """Where this profile reads and writes calibration results (smoke: next to its scratch run store)."""
    if P.profile == "smoke":
        return Path(P.runs_dir).parent / "practice" / "calibration.json"
    return practice.calibration_path()


# --- The paper's numbers (its Apps. E.8 and G, Table 7) -----------------------------------------------------

#: App. G.1: lambda = 1 is "statistically similar" to the best lambda; lower lambda helps only weak teachers.
PAPER_MIX_BEST = 1.0
#: App. G.2: the best temperature at every scale; tau > 3 and tau < 1 hurt.
PAPER_TAU_BEST = 1.0
#: App. G.3: the best peak rate for distillation (muP simple) and the loss change over a decade of rate.
PAPER_LR_BEST = 0.01
PAPER_LR_SPREAD = 0.1
#: App. G.4: top-k = 128 of 32768 costs 0.11 nats; top-p = 0.9 costs 0.13; top-k 128 with lambda 0.7: 0.01.
PAPER_VOCAB = 32768
PAPER_VOCAB_TEXT = 32168  # the vocabulary its storage estimate uses (129 KB per token)
PAPER_TOP_K, PAPER_TOP_K_GAP = 128, 0.11
PAPER_TOP_P, PAPER_TOP_P_GAP = 0.9, 0.13
PAPER_TOP_K_MIX_GAP = 0.01
#: Table 7 (1.82B -> 546M): cross-entropy with forward and reverse KL.
PAPER_KL = {"forward": 2.42, "reverse": 2.70}
#: App. E.8, Figs. 42-45 (198M students, D_S = 20N; teachers 198M ... 7.75B), ECE in percent.
PAPER_TEACHER_SIZES = ("198M", "546M", "975M", "1.82B", "2.72B", "4.82B", "7.75B")
PAPER_ECE = {
    ("teacher", "data"): (0.7, 0.6, 0.5, 0.5, 0.4, 0.5, 0.6),
    ("full", "data"): (0.1, 0.4, 0.6, 0.6, 0.6, 0.6, 0.6),
    ("top-1", "data"): (38.7, 33.2, 29.8, 27.2, 25.2, 22.9, 21.6),
    ("full", "teacher_top1"): (38.5, 31.3, 27.3, 24.5, 22.3, 20.1, 18.9),
    ("top-1", "teacher_top1"): (1.1, 1.5, 1.6, 1.6, 1.6, 1.5, 1.5),
    ("full", "teacher_dist"): (1.3, 2.7, 4.1, 5.4, 6.6, 8.0, 9.0),
    ("top-1", "teacher_dist"): (37.4, 30.0, 25.3, 22.1, 19.6, 17.2, 16.1),
    ("full", "teacher_bins"): (1.7, 3.3, 4.8, 6.2, 7.3, 8.7, 9.6),
    ("top-1", "teacher_bins"): (37.4, 30.4, 26.3, 23.5, 21.3, 19.1, 18.1),
}
TARGETS = {
    "data": "the data (accuracy)",
    "teacher_top1": "the teacher's top-1 token",
    "teacher_dist": "the teacher's distribution",
    "teacher_bins": "the teacher, in teacher-confidence bins",
}
PAIR_ORDER = ("strong-to-weak", "matched", "weak-to-strong")
#: Column of the best-value tables: loss at the paper's recommended value minus the best loss.
GAP_COL = "loss gap of paper's value"
PRIMARY = "strong-to-weak"


# --- Loading ------------------------------------------------------------------------------------------------


@dataclass
class PracticeData:
    """One profile's data: the design rows (close-call repeats included), the results joined with the
    records, the seed noise, the pairs and teachers, and the stored calibration."""

    rows: list[Row]
    res: pd.DataFrame
    sd: float
    pairs: dict[str, Pair]
    teachers: list
    calibration: dict
    records: pd.DataFrame
    runs_dir: Path | None = None

    @property
    def n_total(self) -> int:
        return int(self.res["key"].nunique())

    @property
    def n_done(self) -> int:
        return int(self.res.dropna(subset=["val_loss"])["key"].nunique())


def load(P: Params, log=print) -> PracticeData:
    """Train what the profile asks for (``smoke``, ``full``), measure and store the calibration there, then
    read everything; ``default`` trains and measures nothing."""
    if P.profile != "default":
        train_missing(P, log=log)
        measure_calibration(P)
    pairs, teachers = pairs_and_teachers(P)
    rows = rows_for(P)
    rows = rows + repeats_for(P, rows)
    records = store.load_records(P.runs_dir)
    res = practice.results(rows, records)
    cal = practice.load_calibration(calibration_path(P))
    return PracticeData(rows, res, practice.noise_sd(res), pairs, teachers, cal, records, P.runs_dir)


def sweep(data: PracticeData, experiment: str, pair: str | None = None) -> pd.DataFrame:
    """Mean loss per swept value (over recorded seeds) with its count, for one experiment (and pair)."""
    s = practice.summary(data.res)
    s = s[s["experiment"] == experiment]
    if pair is not None:
        s = s[s["pair"] == pair]
    order = s["pair"].map({p: i for i, p in enumerate(PAIR_ORDER)}).fillna(len(PAIR_ORDER))
    return (
        s.assign(_order=order)
        .sort_values(["_order", "pair", "value"])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _gap(
    data: PracticeData,
    experiment: str,
    value: float,
    ref: float,
    pair: str = PRIMARY,
    ref_experiment: str | None = None,
) -> float:
    """Mean loss at ``value`` minus the mean loss at ``ref`` (of ``ref_experiment``, default the same)."""
    a = sweep(data, experiment, pair)
    b = sweep(data, ref_experiment or experiment, pair)
    a = a.loc[np.isclose(a["value"], value), "mean"]
    b = b.loc[np.isclose(b["value"], ref), "mean"]
    return float(a.iloc[0] - b.iloc[0]) if len(a) and len(b) else float("nan")


def _within(data: PracticeData, gap: float) -> bool | None:
    """Whether a loss gap is within two seed-noise standard deviations (None when either is unknown)."""
    if not (np.isfinite(gap) and np.isfinite(data.sd)):
        return None
    return bool(gap < 2 * data.sd)


# --- Numbers ------------------------------------------------------------------------------------------------

#: The claims of this chapter in ``data/findings.json`` (:mod:`distill_scaling.verdicts`) -> their glue stem.
FINDINGS = {
    "mixing": "mix",
    "temperature-1-best": "tau",
    "learning-rate": "lr",
    "truncation": "trunc",
    "kl-direction": "kl",
    "calibration": "cal",
}


def numbers(data: PracticeData, P: Params, findings: pd.DataFrame) -> dict[str, float | int | str]:
    """Every number the page glues, as plain floats, ints and short strings (NaN where the runs are
    missing), and a short phrase where the advice depends on the data. ``findings``:
    :func:`distill_scaling.verdicts.load_findings`, whose verdicts the page quotes."""
    out: dict[str, float | int | str] = {}
    out.update(_design_numbers(data, P))
    out.update(_finding_numbers(findings))
    out.update(_preference_numbers(data, "mix", "mix", "λ", PAPER_MIX_BEST))
    out.update(_preference_numbers(data, "temperature", "tau", "τ", PAPER_TAU_BEST))
    out.update(_lr_numbers(data, P, out["prac_verdict_lr"]))
    out.update(_truncation_numbers(data))
    out.update(_kl_numbers(data))
    out.update(_calibration_numbers(data, P))
    out.update(_paper_numbers())
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in out.items()}


def _design_numbers(data: PracticeData, P: Params) -> dict[str, float | int | str]:
    pair = data.pairs[PRIMARY]
    student = RunSpec(pair.student, tokens=pair.tokens).config.n_params
    noise = data.res[data.res["experiment"] == "noise"]["val_loss"].dropna()
    return {
        "prac_runs_done": data.n_done,
        "prac_runs_total": data.n_total,
        "prac_flops": practice.design_flops(practice.unique_specs(data.rows), data.teachers),
        "prac_wall_min": data.res.drop_duplicates("key")["wall_time_s"].sum() / 60,
        "prac_tokens": int(pair.tokens),
        "prac_steps": MIN_STEPS,
        "prac_tokens_per_param": pair.tokens / student,
        "prac_primary": pair.label,
        "prac_pairs": len(data.pairs),
        "prac_noise_n": len(noise),
        "prac_noise_sd": data.sd,
        "prac_two_sd": 2 * data.sd,
        "prac_bins": P.calibration_bins,
    }


def _finding_numbers(findings: pd.DataFrame) -> dict[str, float | str]:
    """Verdict, effect and 90% interval of each claim of the chapter, as ``data/findings.json`` has them."""
    rows = findings.set_index("id") if "id" in findings.columns else pd.DataFrame()
    out: dict[str, float | str] = {}
    for claim, stem in FINDINGS.items():
        row = rows.loc[claim] if claim in rows.index else None
        interval = None if row is None else row.get("interval")
        has = row is not None and row.get("effect") is not None and np.isfinite(row["effect"])
        lo, hi = interval if has and interval is not None else (np.nan, np.nan)
        out[f"prac_verdict_{stem}"] = "not tested" if row is None else str(row["verdict"])
        out[f"prac_effect_{stem}"] = float(row["effect"]) if has else np.nan
        out[f"prac_lo_{stem}"], out[f"prac_hi_{stem}"] = float(lo), float(hi)
    return out


def _preference_numbers(
    data: PracticeData, experiment: str, stem: str, symbol: str, ref: float
) -> dict[str, int | str]:
    """How many pairs have the paper's value (``ref``) within noise of their best, which, and the advice."""
    b = best_frame(data, experiment)
    ok = [p for p, g in zip(b["pair"], b[GAP_COL], strict=True) if _within(data, g)]
    everywhere = len(ok) == len(data.pairs)
    return {
        f"prac_{stem}_within": len(ok),
        f"prac_{stem}_ok_pairs": ", ".join(ok) or "none",
        f"prac_{stem}_advice": f"keep {symbol} = {ref:g}"
        if everywhere
        else f"sweep {symbol} for the pair at hand",
    }


def lr_summary(data: PracticeData, study_lr: float) -> dict[str, float]:
    """The learning-rate sweep in numbers: best distilled and supervised rates, the loss range within a decade
    around the distilled best (the paper's flatness measure), and the study rate's gap to the best."""
    out = {k: float("nan") for k in ("best", "best_supervised", "decade_range", "gap_study", "gap_paper")}
    lr = sweep(data, "lr", PRIMARY)
    if len(lr) >= 3:
        i = lr["mean"].idxmin()
        best = float(lr.loc[i, "value"])
        near = lr[(lr["value"] >= best / math.sqrt(10)) & (lr["value"] <= best * math.sqrt(10))]
        out.update(
            best=best,
            decade_range=float(near["mean"].max() - lr.loc[i, "mean"]),
            gap_study=_gap(data, "lr", study_lr, best),
            gap_paper=_gap(data, "lr", PAPER_LR_BEST, best),
        )
    sup = sweep(data, "lr_supervised", PRIMARY)
    if len(sup) >= 3:
        out["best_supervised"] = float(sup.loc[sup["mean"].idxmin(), "value"])
    return out


#: The advice on the learning rate, by the verdict on "the supervised (muP) rate transfers to distillation".
LR_ADVICE = {
    "reproduced": "tune it as for supervised training of the same length",
    "refuted": "sweep it for distillation runs on their own",
}


def _lr_numbers(data: PracticeData, P: Params, verdict: str) -> dict[str, float | str]:
    lr = lr_summary(data, study.STUDY_LR)
    return {
        "prac_lr_best": lr["best"],
        "prac_lr_best_sup": lr["best_supervised"],
        "prac_lr_gap_paper": lr["gap_paper"],
        "prac_lr_gap_study": lr["gap_study"],
        "prac_lr_range": lr["decade_range"],
        "prac_study_lr": study.STUDY_LR,
        # The Setup chapter's learning-rate sweep fixed STUDY_LR on this many tokens.
        "prac_setup_lr_tokens_m": study.LR_SWEEP_TOKENS / 1e6,
        "prac_lr_low": min(P.lrs),
        "prac_lr_high": max(P.lrs),
        "prac_lr_advice": LR_ADVICE.get(verdict, "tune it as for supervised training, then check it"),
    }


def _smallest_ok(data: PracticeData, experiment: str, values: list[float], ref: float) -> float:
    """The smallest swept value whose loss is within 2 seed-noise sd of the reference run (NaN if none)."""
    for v in sorted(values):
        if _within(data, _gap(data, experiment, v, ref)):
            return float(v)
    return float("nan")


def _truncation_numbers(data: PracticeData) -> dict[str, float | str]:
    vocab = data.pairs[PRIMARY].teacher.config.vocab_size
    out: dict[str, float | str] = {"prac_vocab": vocab}
    for k in (1, 4, 16, 64):
        out[f"prac_topk{k}_gap"] = _gap(data, "top_k", k, vocab)
        out[f"prac_topk{k}_mix_gap"] = _gap(data, "top_k_mix", k, vocab, ref_experiment="top_k")
    for p in (0.1, 0.5, 0.9):
        out[f"prac_topp{int(p * 10)}_gap"] = _gap(data, "top_p", p, 1.0)
    ks = [float(k) for k in sweep(data, "top_k", PRIMARY)["value"] if k < vocab]
    k_ok = _smallest_ok(data, "top_k", ks, vocab)
    k_min = min(ks) if ks else float("nan")
    plain = _gap(data, "top_k", k_min, vocab)
    mixed = _gap(data, "top_k_mix", k_min, vocab, ref_experiment="top_k")
    out.update(
        {
            "prac_k_ok": k_ok,
            "prac_k_ok_bytes": practice.storage_per_token(k_ok, vocab) if np.isfinite(k_ok) else np.nan,
            "prac_full_bytes": practice.storage_per_token(vocab, vocab),
            "prac_k_min": k_min,
            "prac_k_min_gap": plain,
            "prac_k_min_mix_gap": mixed,
            "prac_mix_helps": "helps" if mixed < plain else "does not help",
            "prac_same_fraction_k": vocab * PAPER_TOP_K / PAPER_VOCAB,
        }
    )
    return out


def _kl_numbers(data: PracticeData) -> dict[str, float]:
    k = kl_frame(data)
    return {
        "prac_kl_gap": float(k["loss (ours)"].iloc[1] - k["loss (ours)"].iloc[0]),
        "prac_kl_time_ratio": float(k["ms / step (ours)"].iloc[1] / k["ms / step (ours)"].iloc[0]),
    }


def _calibration_numbers(data: PracticeData, P: Params) -> dict[str, float | str]:
    """ECE ranges (percent) over the teachers, and its trend from the smallest teacher to the largest."""
    c = calibration_frame(data)
    out: dict[str, float | str] = {}
    for kind, target in (("teacher", "data"), ("full", "data"), ("top-1", "data")):
        v = c[(c["kind"] == kind) & (c["target"] == target)]["ECE % (ours)"].dropna()
        name = f"prac_ece_{kind.replace('-', '')}"
        out[f"{name}_lo"] = float(v.min()) if len(v) else np.nan
        out[f"{name}_hi"] = float(v.max()) if len(v) else np.nan
    for kind, target in (("top-1", "data"), ("full", "teacher_bins"), ("full", "teacher_dist")):
        g = c[(c["kind"] == kind) & (c["target"] == target)].dropna(subset=["ECE % (ours)"])
        name = f"prac_trend_{kind.replace('-', '')}_{target}"
        two = len(g) >= 2
        out[f"{name}_first"] = float(g["ECE % (ours)"].iloc[0]) if two else np.nan
        out[f"{name}_last"] = float(g["ECE % (ours)"].iloc[-1]) if two else np.nan
        paper = PAPER_ECE[(kind, target)]
        out[f"prac_paper_trend_{kind.replace('-', '')}_{target}_first"] = paper[0]
        out[f"prac_paper_trend_{kind.replace('-', '')}_{target}_last"] = paper[-1]
    out["prac_teacher_smallest"] = data.teachers[0].model if data.teachers else "n/a"
    out["prac_teacher_largest"] = data.teachers[-1].model if data.teachers else "n/a"
    out["prac_cal_teachers"] = len(data.teachers)
    return out


def _paper_numbers() -> dict[str, float | int]:
    """The paper's numbers the page sets beside ours."""
    out: dict[str, float | int] = {
        "prac_paper_topk": PAPER_TOP_K,
        "prac_paper_vocab": PAPER_VOCAB,
        "prac_paper_topk_gap": PAPER_TOP_K_GAP,
        "prac_paper_topp": PAPER_TOP_P,
        "prac_paper_topp_gap": PAPER_TOP_P_GAP,
        "prac_paper_topk_mix_gap": PAPER_TOP_K_MIX_GAP,
        "prac_paper_kl_gap": PAPER_KL["reverse"] - PAPER_KL["forward"],
        "prac_paper_lr": PAPER_LR_BEST,
        "prac_paper_lr_spread": PAPER_LR_SPREAD,
        "prac_paper_full_kb": practice.storage_per_token(PAPER_VOCAB_TEXT, PAPER_VOCAB_TEXT) / 1e3,
        "prac_paper_pb": float(paper_storage_frame()["PB for 2T tokens"].iloc[0]),
    }
    for kind, target in (("teacher", "data"), ("full", "data"), ("top-1", "data")):
        name = f"prac_paper_ece_{kind.replace('-', '')}"
        out[f"{name}_lo"], out[f"{name}_hi"] = min(PAPER_ECE[(kind, target)]), max(PAPER_ECE[(kind, target)])
    return out


# --- Tables -------------------------------------------------------------------------------------------------


def progress_frame(data: PracticeData) -> pd.DataFrame:
    """Runs recorded per experiment and pair (a run serving several experiments counts in each)."""
    g = data.res.assign(done=data.res["val_loss"].notna()).groupby(["experiment", "pair"], sort=False)
    out = g["done"].agg(["sum", "count"]).reset_index()
    out.columns = ["experiment", "pair", "recorded", "runs"]
    return out


def pairs_frame(data: PracticeData) -> pd.DataFrame:
    """The pairs: models, parameters, student tokens, and the teacher's loss on the validation tokens."""
    out = []
    for name, p in data.pairs.items():
        rec = store.get(p.teacher, data.runs_dir)
        out.append(
            {
                "pair": name,
                "teacher": p.teacher.model,
                "N_T": p.teacher.config.n_params,
                "student": p.student,
                "N_S": RunSpec(p.student, tokens=p.tokens).config.n_params,
                "D_S (tokens)": p.tokens,
                "tokens / N_S": p.tokens / RunSpec(p.student, tokens=p.tokens).config.n_params,
                "teacher loss": rec["results"]["val_loss"] if rec else np.nan,
            }
        )
    return pd.DataFrame(out)


def best_frame(data: PracticeData, experiment: str) -> pd.DataFrame:
    """Per pair: the best swept value, its loss, the gap of the paper's recommended value to it, in nats and
    in units of the seed noise, and whether that gap is within two standard deviations of the noise."""
    rec_value = {"mix": PAPER_MIX_BEST, "temperature": PAPER_TAU_BEST, "lr": PAPER_LR_BEST}[experiment]
    out = []
    for pair, g in sweep(data, experiment).groupby("pair", sort=False):
        i = g["mean"].idxmin()
        at = g[np.isclose(g["value"], rec_value)]
        gap = float(at["mean"].iloc[0] - g.loc[i, "mean"]) if len(at) else np.nan
        within = _within(data, gap)
        out.append(
            {
                "pair": pair,
                "values recorded": len(g),
                "best value (ours)": float(g.loc[i, "value"]),
                "best loss": float(g.loc[i, "mean"]),
                "paper's choice": rec_value,
                GAP_COL: gap,
                "gap / seed noise": gap / data.sd if math.isfinite(data.sd) and data.sd > 0 else np.nan,
                "within noise": "n/a" if within is None else ("yes" if within else "no"),
            }
        )
    cols = [
        "pair",
        "values recorded",
        "best value (ours)",
        "best loss",
        "paper's choice",
        GAP_COL,
        "gap / seed noise",
        "within noise",
    ]
    return pd.DataFrame(out, columns=cols)


def truncation_frame(data: PracticeData) -> pd.DataFrame:
    """Top-k and top-p on the primary pair: loss gap to the full distribution, fraction of the vocabulary
    kept, and the bytes per token offline logits need (ours, V = 256), beside the paper's numbers."""
    vocab = data.pairs[PRIMARY].teacher.config.vocab_size
    full = sweep(data, "top_k", PRIMARY)
    full_loss = full.loc[np.isclose(full["value"], vocab), "mean"]
    full_loss = float(full_loss.iloc[0]) if len(full_loss) else np.nan
    sizes = data.calibration.get("top_p_sizes", {}).get(data.pairs[PRIMARY].teacher.key, {})
    out = []
    for exp, label in (("top_k", "top-k"), ("top_k_mix", "top-k, lambda = 0.7"), ("top_p", "top-p")):
        for _, r in sweep(data, exp, PRIMARY).iterrows():
            if exp == "top_p":
                kept = sizes.get(str(float(r["value"])), {}).get("mean", np.nan)
                if r["value"] >= 1.0:
                    kept = float(vocab)
            else:
                kept = float(r["value"])
            out.append(
                {
                    "truncation": label,
                    "setting": r["value"],
                    "loss": r["mean"],
                    "seeds": int(r["count"]),
                    "gap to full (nats)": r["mean"] - full_loss,
                    "tokens kept (mean)": kept,
                    "bytes / token": practice.storage_per_token(kept, vocab) if np.isfinite(kept) else np.nan,
                }
            )
    return pd.DataFrame(out)


def paper_storage_frame(ks=(1, 8, 64, PAPER_TOP_K, 512, 4096)) -> pd.DataFrame:
    """Bytes per token of offline logits at the paper's vocabulary (fp32 values, 2-byte indices), and for
    its C4 (about 2T tokens), in petabytes."""
    rows = [{"top-k": "all", "bytes / token": practice.storage_per_token(PAPER_VOCAB_TEXT, PAPER_VOCAB_TEXT)}]
    rows += [{"top-k": str(k), "bytes / token": practice.storage_per_token(k, PAPER_VOCAB_TEXT)} for k in ks]
    out = pd.DataFrame(rows)
    out["PB for 2T tokens"] = out["bytes / token"] * 2e12 / 1e15
    return out


def kl_frame(data: PracticeData) -> pd.DataFrame:
    """Forward against reverse KL on the primary pair: loss, KL to the teacher, training time per step."""
    g = data.res[(data.res["experiment"] == "kl") & (data.res["pair"] == PRIMARY)]
    out = []
    for v, name in ((0.0, "forward"), (1.0, "reverse")):
        r = g[np.isclose(g["value"], v)]
        steps = np.nan
        if len(r) and r["key"].iloc[0] in data.records.index:
            steps = data.records.loc[r["key"].iloc[0], "steps"] if "steps" in data.records.columns else np.nan
        loss = float(r["val_loss"].mean()) if len(r) else np.nan
        out.append(
            {
                "KL": name,
                "loss (ours)": loss,
                "KL(teacher || student)": float(r["val_kl"].mean()) if len(r) else np.nan,
                "ms / step (ours)": float(r["train_time_s"].mean() / steps * 1e3)
                if np.isfinite(steps)
                else np.nan,
                "loss (paper)": PAPER_KL[name],
                "cost (paper)": "O(V)" if name == "forward" else "O(2V)",
            }
        )
    return pd.DataFrame(out)


def calibration_frame(data: PracticeData) -> pd.DataFrame:
    """ECE (percent) of every teacher and of the calibration students (full distribution and top-1), against
    the four targets of App. E.8, per teacher, beside the paper's range over its seven teachers."""
    models = data.calibration.get("models", {})
    rows_ = [r for r in data.rows if r.experiment == "calibration"]
    out = []
    for t in data.teachers:
        m = models.get(t.key)
        out.append(
            {
                "model": f"teacher {t.model}",
                "kind": "teacher",
                "target": "data",
                "ECE % (ours)": 100 * m["data"]["ece"] if m else np.nan,
                "teacher": t.model,
            }
        )
    for r in rows_:
        m = models.get(r.spec.key)
        kind = "top-1" if r.value == 1.0 else "full"
        teacher = r.pair.split()[-1]
        for target in TARGETS:
            out.append(
                {
                    "model": f"{r.spec.model} <- {teacher}",
                    "kind": kind,
                    "target": target,
                    "ECE % (ours)": 100 * m[target]["ece"] if m and target in m else np.nan,
                    "teacher": teacher,
                }
            )
    return pd.DataFrame(out, columns=["model", "kind", "target", "ECE % (ours)", "teacher"])


def ece_summary(data: PracticeData) -> pd.DataFrame:
    """The calibration table of the page: per (student kind, target), our ECE over the teachers (smallest to
    largest) beside the paper's over its teachers."""
    df = calibration_frame(data)
    out = []
    keys = [("teacher", "data")] + [(k, t) for t in TARGETS for k in ("full", "top-1")]
    for kind, target in keys:
        g = df[(df["kind"] == kind) & (df["target"] == target)]
        ours = ", ".join("n/a" if not np.isfinite(v) else f"{v:.1f}" for v in g["ECE % (ours)"])
        paper = PAPER_ECE[(kind, target)]
        out.append(
            {
                "model": "teachers" if kind == "teacher" else f"students on the {kind} target",
                "calibrated against": TARGETS[target],
                "ECE % (ours, by teacher " + ", ".join(g["teacher"]) + ")": ours,
                "ECE % (paper, 198M ... 7.75B)": f"{min(paper):.1f} ... {max(paper):.1f}",
            }
        )
    return pd.DataFrame(out)


def findings_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """The chapter's claims as ``data/findings.json`` judges them: the claim, the paper's evidence, our effect
    with its 90% interval (nats; calibration in ECE percentage points) and the verdict."""
    rows = findings[findings["id"].isin(FINDINGS)] if "id" in findings.columns else findings.iloc[0:0]
    out = []
    for _, r in rows.iterrows():
        scale, spec = (100.0, "+.1f") if r.get("unit") == "fraction" else (1.0, "+.4f")
        effect = r.get("effect")
        if effect is None or not np.isfinite(effect):
            shown = "n/a"
        else:
            lo, hi = r["interval"]
            shown = f"{scale * effect:{spec}} [{scale * lo:{spec}}, {scale * hi:{spec}}]"
        out.append(
            {
                "claim": r["claim"],
                "paper's evidence": r["paper"],
                "ours: effect [90% interval]": shown,
                "verdict": r["verdict"],
            }
        )
    return pd.DataFrame(out, columns=["claim", "paper's evidence", "ours: effect [90% interval]", "verdict"])


def _fmt(x: float, spec: str) -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def _ranges(values) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return f"{v.min():.1f}-{v.max():.1f}%" if v.size else "n/a"


def comparison_frame(data: PracticeData) -> pd.DataFrame:
    """The paper's numbers beside ours, one line per experiment (the claims among them are judged in
    :func:`findings_frame`)."""
    vocab = data.pairs[PRIMARY].teacher.config.vocab_size
    rows = []
    for experiment, symbol, paper in (
        ("mix", "λ", "λ = 1 statistically similar to the best λ (Fig. 51)"),
        ("temperature", "τ", "τ = 1 best at every scale (Fig. 52)"),
    ):
        b = best_frame(data, experiment)
        ours = "; ".join(
            f"{p}: best {symbol} = {v:g}" for p, v in zip(b["pair"], b["best value (ours)"], strict=True)
        )
        rows.append((paper, ours or "n/a"))
    lr = lr_summary(data, study.STUDY_LR)
    rows.append(
        (
            f"η* = {PAPER_LR_BEST:g}, its μP rate; < {PAPER_LR_SPREAD:g} nats over a decade (Fig. 53)",
            f"best η = {_fmt(lr['best'], 'g')} (supervised: {_fmt(lr['best_supervised'], 'g')}); "
            f"{_fmt(lr['decade_range'], '.3f')} nats within a decade",
        )
    )
    rows.append(
        (
            f"top-k = {PAPER_TOP_K} of {PAPER_VOCAB} ({PAPER_TOP_K / PAPER_VOCAB:.2%} of V): "
            f"+{PAPER_TOP_K_GAP} nats (Fig. 54)",
            f"top-k = 1 of {vocab} ({1 / vocab:.2%} of V): "
            f"{_fmt(_gap(data, 'top_k', 1, vocab), '+.3f')} nats",
        )
    )
    mix1 = _gap(data, "top_k_mix", 1, vocab, ref_experiment="top_k")
    mix16 = _gap(data, "top_k_mix", 16, vocab, ref_experiment="top_k")
    rows.append(
        (
            f"top-k = {PAPER_TOP_K}, λ = 0.7: within {PAPER_TOP_K_MIX_GAP} nats of full (Fig. 54)",
            f"k = 1: {_fmt(mix1, '+.3f')} nats; k = 16: {_fmt(mix16, '+.3f')} nats",
        )
    )
    top_p = _gap(data, "top_p", PAPER_TOP_P, 1.0)
    rows.append(
        (
            f"top-p = {PAPER_TOP_P}: +{PAPER_TOP_P_GAP} nats (Fig. 54)",
            f"top-p = {PAPER_TOP_P}: {_fmt(top_p, '+.3f')} nats",
        )
    )
    k = kl_frame(data)
    kl = float(k["loss (ours)"].iloc[1] - k["loss (ours)"].iloc[0])
    rows.append(
        (
            f"reverse KL {PAPER_KL['reverse'] - PAPER_KL['forward']:+.2f} nats (Table 7)",
            f"reverse KL {_fmt(kl, '+.3f')} nats",
        )
    )
    c = calibration_frame(data)
    ece = {
        kind: c[(c["kind"] == kind) & (c["target"] == "data")]["ECE % (ours)"] for kind in ("full", "top-1")
    }
    rows.append(
        (
            f"ECE, full distribution {_ranges(PAPER_ECE[('full', 'data')])}; "
            f"top-1 {_ranges(PAPER_ECE[('top-1', 'data')])} (Figs. 42-43)",
            f"full distribution {_ranges(ece['full'])}; top-1 {_ranges(ece['top-1'])}",
        )
    )
    return pd.DataFrame(rows, columns=["paper", "ours"])


# --- Figures ------------------------------------------------------------------------------------------------


#: The y label of the loss figures: our tokens are bytes.
LOSS_LABEL = "student validation loss $L_S$ (nats per byte)"


def _err(data: PracticeData, counts: pd.Series) -> np.ndarray:
    """Error bar of a mean of ``count`` seeds: the measured seed noise / sqrt(count)."""
    sd = data.sd if math.isfinite(data.sd) else 0.0
    return sd / np.sqrt(np.maximum(counts.to_numpy(dtype=float), 1.0))


def _legend(ax, **kw) -> None:
    """A legend, only when something is labelled (a panel without runs has none)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _pair_panels(data: PracticeData):
    """One panel per pair, two to a row; the spare panel of the last row is kept for the legend."""
    fig, axes = plots.panel_grid(len(PAIR_ORDER), height=2.9)
    for ax, pair in zip(axes, PAIR_ORDER, strict=True):
        ax.set_title(f"{pair}: {data.pairs[pair].label}" if pair in data.pairs else pair)
    return fig, axes


def _pair_legend(fig, axes) -> None:
    """The legend of the pair panels (the labels of all of them, once each), in the spare panel."""
    handles, labels = plots.legend_entries(axes)
    if handles:
        plots.spare_legend(fig, handles, labels)


def _panel_sweep(
    ax, data: PracticeData, experiment: str, pair: str, log_x: bool = False, color=None, label=None, x_of=None
):
    g = sweep(data, experiment, pair)
    if g.empty:
        ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", va="center", color="grey")
        return g
    x = g["value"].to_numpy() if x_of is None else x_of(g["value"].to_numpy())
    color = plots.OURS_COLOR if color is None else color
    ax.errorbar(x, g["mean"], yerr=_err(data, g["count"]), marker="o", capsize=3, color=color, label=label)
    if log_x:
        ax.set_xscale("log")
    return g


def _teacher_line(ax, data: PracticeData, pair: str) -> None:
    t = data.res.loc[data.res["pair"] == pair, "teacher_val_loss"].dropna()
    if len(t):
        ax.axhline(float(t.iloc[0]), color=plots.TEACHER_COLOR, ls="--", lw=1, label="teacher")


def _supervised_line(ax, data: PracticeData, pair: str) -> None:
    g = sweep(data, "mix", pair)
    sup = g[g["value"] == 0.0]
    if len(sup):
        ax.axhline(
            float(sup["mean"].iloc[0]),
            color=plots.SUPERVISED_COLOR,
            ls=":",
            lw=1.2,
            label="supervised student",
        )


def _mix_axis(v: np.ndarray) -> np.ndarray:
    """The paper's nonlinear lambda axis: -log10(1 - lambda), lambda = 1 drawn one step past 0.99."""
    return np.where(v >= 1.0, 2.5, -np.log10(np.clip(1 - v, 1e-12, None)))


def fig_mix(data: PracticeData):
    """Paper Fig. 51a analogue: student loss against lambda, one panel per pair."""
    fig, axes = _pair_panels(data)
    ticks = np.array([0.0, 0.5, 0.9, 0.97, 0.99, 1.0])  # 0.7 would overlap 0.5 on this axis
    for ax, pair in zip(axes, PAIR_ORDER, strict=True):
        g = _panel_sweep(ax, data, "mix", pair, x_of=_mix_axis)
        _teacher_line(ax, data, pair)
        if len(g):
            i = g["mean"].idxmin()
            ax.plot(
                _mix_axis(np.array([g.loc[i, "value"]])),
                [g.loc[i, "mean"]],
                "*",
                ms=16,
                color="C3",
                mec="k",
                zorder=5,
                label=r"best $\lambda$",
            )
        ax.set_xticks(_mix_axis(ticks), [f"{t:g}" for t in ticks])
    fig.supxlabel(r"mixing coefficient $\lambda$")
    fig.supylabel(LOSS_LABEL)
    _pair_legend(fig, axes)
    return fig


def fig_temperature(data: PracticeData):
    """Paper Fig. 52 analogue: student loss against tau, one panel per pair, supervised student for scale."""
    fig, axes = _pair_panels(data)
    for ax, pair in zip(axes, PAIR_ORDER, strict=True):
        _panel_sweep(ax, data, "temperature", pair, log_x=True)
        _teacher_line(ax, data, pair)
        _supervised_line(ax, data, pair)
        ax.axvline(PAPER_TAU_BEST, color=plots.PAPER_COLOR, lw=1, alpha=0.6, label=r"paper's best $\tau$")
        ax.set_xticks([0.5, 1, 2, 3, 5, 10], ["0.5", "1", "2", "3", "5", "10"])
    fig.supxlabel(r"temperature $\tau$")
    fig.supylabel(LOSS_LABEL)
    _pair_legend(fig, axes)
    return fig


def fig_lr(data: PracticeData, study_lr: float):
    """Paper Fig. 53 analogue: the primary pair's student loss against the peak learning rate, distilled and
    (the control) supervised on the same tokens."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    _panel_sweep(ax, data, "lr", PRIMARY, log_x=True, label=r"distilled ($\lambda = 1$, $\tau = 1$)")
    _panel_sweep(
        ax,
        data,
        "lr_supervised",
        PRIMARY,
        log_x=True,
        label="supervised, same tokens",
        color=plots.SUPERVISED_COLOR,
    )
    _teacher_line(ax, data, PRIMARY)
    ax.axvline(study_lr, color=plots.OURS_COLOR, ls="--", lw=1, label=f"study rate {study_lr:g}")
    ax.axvline(PAPER_LR_BEST, color=plots.PAPER_COLOR, ls="--", lw=1, label=f"paper's rate {PAPER_LR_BEST:g}")
    ax.set_xlabel(r"peak learning rate $\eta$")
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(data.pairs[PRIMARY].label)
    _legend(ax)
    return fig


def fig_truncation(data: PracticeData):
    """Paper Fig. 54 analogue: top-k (with and without lambda = 0.7) and top-p on the primary pair."""
    vocab = data.pairs[PRIMARY].teacher.config.vocab_size
    fig, axes = plt.subplots(1, 2, figsize=(plots.FULL_WIDTH, 4.0), sharey=True)
    _panel_sweep(axes[0], data, "top_k", PRIMARY, log_x=True, label="top-$k$")
    _panel_sweep(
        axes[0], data, "top_k_mix", PRIMARY, log_x=True, label=r"top-$k$, $\lambda = 0.7$", color="C1"
    )
    axes[0].set_xticks([1, 4, 16, 64, vocab], ["1", "4", "16", "64", f"all\n({vocab})"])
    axes[0].set_xlabel("teacher tokens kept ($k$)")
    _panel_sweep(axes[1], data, "top_p", PRIMARY, label="top-$p$", color="C2")
    axes[1].set_xlabel("teacher probability mass kept ($p$)")
    for ax in axes:
        _teacher_line(ax, data, PRIMARY)
        _supervised_line(ax, data, PRIMARY)
    axes[0].set_ylabel(LOSS_LABEL)
    fig.align_xlabels(axes)
    fig.suptitle(data.pairs[PRIMARY].label)
    handles, labels = plots.legend_entries(axes)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=3)
    return fig


def _reliability_panel(ax, stats: dict | None, title: str, color=plots.OURS_COLOR) -> None:
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    if stats is None:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="grey")
        ax.set_title(title)
        return
    n = len(stats["count"])
    centers = (np.arange(n) + 0.5) / n
    acc = np.array([np.nan if a is None else a for a in stats["acc"]], dtype=float)
    share = np.array(stats["count"], dtype=float) / max(sum(stats["count"]), 1)
    ax.bar(centers, acc, width=1 / n, color=color, alpha=0.75, edgecolor="white", label="accuracy")
    ax.bar(centers, share, width=1 / n, color="0.55", alpha=0.45, label="share of tokens")
    ax.set_title(f"{title}\nECE {100 * stats['ece']:.1f}%")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def fig_teacher_calibration(data: PracticeData):
    """Paper Fig. 42 analogue: reliability diagrams of the teachers against the data."""
    models = data.calibration.get("models", {})
    fig, axes = plots.panel_grid(len(data.teachers), height=2.9, sharex=True, sharey=True)
    for ax, t in zip(axes, data.teachers, strict=True):
        m = models.get(t.key)
        _reliability_panel(ax, m["data"] if m else None, f"teacher {t.model}")
    fig.supxlabel("confidence")
    fig.supylabel("accuracy / share")
    _legend(axes[0], loc="upper left")
    return fig


def fig_student_calibration(data: PracticeData, target: str = "data"):
    """Paper Figs. 43-45 analogue: students trained on the full distribution (left column) and on the
    teacher's top-1 token (right column), one row per teacher, calibrated against ``target``."""
    models = data.calibration.get("models", {})
    rows_ = [r for r in data.rows if r.experiment == "calibration"]
    teachers = [t.model for t in data.teachers]
    fig, axes = plt.subplots(
        max(len(teachers), 1), 2, figsize=(plots.FULL_WIDTH, 2.7 * max(len(teachers), 1)), sharex=True,
        sharey=True, squeeze=False,
    )  # fmt: skip
    for r in rows_:
        t = r.pair.split()[-1]
        if t not in teachers:
            continue
        i = int(r.value)
        m = models.get(r.spec.key)
        kind = "top-1" if i else "full"
        _reliability_panel(
            axes[teachers.index(t), i],
            m.get(target) if m else None,
            f"{r.spec.model} ← {t}, {kind}",
            color=plots.OURS_COLOR if i == 0 else "C4",
        )
    fig.supxlabel("student confidence" if target != "teacher_bins" else "teacher confidence")
    fig.supylabel("accuracy / share")
    _legend(axes[0, 0], loc="upper left")
    return fig


def fig_temperature_calibration(data: PracticeData):
    """ECE against the data of the primary pair's temperature-sweep students (measured where stored)."""
    models = data.calibration.get("models", {})
    g = data.res[(data.res["experiment"] == "temperature") & (data.res["pair"] == PRIMARY)]
    x = g["value"].to_numpy()
    y = np.array([100 * models[k]["data"]["ece"] if k in models else np.nan for k in g["key"]])
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    ax.plot(x, y, "o-", color=plots.OURS_COLOR)
    ax.set_xscale("log")
    ax.set_xticks([0.5, 1, 2, 3, 5, 10], ["0.5", "1", "2", "3", "5", "10"])
    ax.set_xlabel(r"temperature $\tau$")
    ax.set_ylabel("student ECE against the data (%)")
    ax.set_title(data.pairs[PRIMARY].label)
    return fig


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling practice [--profile smoke|default|full] [--no-train] [--no-calibration]
    [--teacher-wait-s S]``: train the chapter's missing runs, then measure the calibration."""
    ap = CommandParser(
        prog="python -m distill_scaling practice",
        description="Train the missing runs of 'Distillation in practice' (chapter 08) for a profile, then "
        "measure the calibration of its models from their checkpoints.",
    )
    ap.add_argument("--profile", choices=("smoke", "default", "full"), default="full")
    ap.add_argument("--no-train", action="store_true", help="only measure the calibration")
    ap.add_argument("--no-calibration", action="store_true", help="only train")
    ap.add_argument("--teacher-wait-s", type=float, default=None, help="override teacher_wait_s")
    args = ap.parse_args(argv)
    given: dict[str, Any] = {"profile": args.profile}
    if args.teacher_wait_s is not None:
        given["teacher_wait_s"] = args.teacher_wait_s
    P = prepare(CHAPTER, validate(with_profile(PARAMS), given))
    import torch  # noqa: PLC0415 - heavy; only training and calibration need it

    torch.set_num_threads(1)
    if not args.no_train and P.profile != "default":
        left = train_missing(P)
        print(f"practice: {len(left)} run(s) still missing")
    if not args.no_calibration:
        data = measure_calibration(P)
        print(f"practice: calibration of {len(data['models'])} models in {calibration_path(P)}")
    return 0
