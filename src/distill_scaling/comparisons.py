"""The statistics behind every verdict, and the study's records they are computed on.

A claim's effect is a :class:`Comparison`: a signed mean with its ``LEVEL`` (90%) interval, from paired
differences (:func:`paired`: a Student-t interval; one difference of known spread: a normal one).
:func:`judge` turns it into one of :data:`VERDICTS` given the sign the paper predicts (a claim of no effect:
within a margin such as :data:`NULL_MARGIN` of the loss), and :func:`runs_needed` says how many paired runs
would resolve an effect. :func:`study_records` prepares the records (the study's learning rate and plain
distillation, each teacher's model, size and loss beside its students); :func:`seed_noise` and
:func:`noise_of` give the seed-to-seed spread per model size and kind of run, never pooled over sizes.
:func:`crossovers` finds where the advantage of distillation over supervised training, a line in log
tokens, crosses zero, with a delta-method interval; :func:`crossover_slope` says how that point moves with
the student's size.

:mod:`distill_scaling.verdicts` judges the paper's claims with these; the chapters use them directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from . import store, study
from .spec import model_config

LEVEL = 0.9
VERDICTS = ("reproduced", "refuted", "not resolved at our scale", "not tested")
#: A claim of no effect is reproduced when its interval lies within this fraction of the reference loss of
#: zero (1%: the precision the paper claims for its law).
NULL_MARGIN = 0.01


# --- statistics ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A signed effect with its ``level`` interval, from ``n`` paired differences (or one difference of known
    spread ``sd``)."""

    effect: float
    interval: tuple[float, float]
    n: int
    sd: float

    @property
    def resolution(self) -> float:
        """The interval's half-width: the smallest |effect| this design could have told from zero."""
        return (self.interval[1] - self.interval[0]) / 2


def paired(diffs: Sequence[float], level: float = LEVEL, *, sd: float | None = None) -> Comparison:
    """Mean of paired differences with a Student-t interval; with one difference (or ``sd`` given), a normal
    interval of known spread ``sd`` per difference."""
    d = np.asarray([x for x in diffs if np.isfinite(x)], float)
    if d.size == 0:
        raise ValueError("paired(): no finite differences")
    mean = float(d.mean())
    if sd is None and d.size >= 2:
        s = float(d.std(ddof=1))
        half = float(stats.t.ppf((1 + level) / 2, d.size - 1)) * s / math.sqrt(d.size)
    else:
        if sd is None or not math.isfinite(sd):
            raise ValueError("paired(): one difference needs a known spread 'sd'")
        s = float(sd)
        half = float(stats.norm.ppf((1 + level) / 2)) * s / math.sqrt(d.size)
    return Comparison(mean, (mean - half, mean + half), int(d.size), s)


def runs_needed(sd: float, effect: float, level: float = LEVEL, power: float = 0.8) -> int:
    """Paired runs needed to resolve ``effect`` (its ``level`` interval excluding zero) with probability
    ``power``, for paired differences of spread ``sd`` (normal approximation)."""
    if not (sd > 0 and effect != 0):
        raise ValueError(f"runs_needed(): sd and effect must be non-zero; got sd={sd}, effect={effect}")
    z = stats.norm.ppf((1 + level) / 2) + stats.norm.ppf(power)
    return max(2, math.ceil((z * sd / abs(effect)) ** 2))


def judge(c: Comparison | None, sign: int, margin: float | None = None) -> str:
    """The verdict of a comparison whose effect the paper predicts to have ``sign`` (+1, -1; 0: no effect,
    reproduced when the interval lies within ``margin`` of zero)."""
    if c is None:
        return "not tested"
    lo, hi = c.interval
    resolved = lo > 0 or hi < 0
    if sign == 0:
        if resolved:
            return "refuted"
        return "reproduced" if margin is not None and max(-lo, hi) <= margin else "not resolved at our scale"
    if not resolved:
        return "not resolved at our scale"
    return "reproduced" if np.sign(c.effect) == sign else "refuted"


# --- the records --------------------------------------------------------------------------------------------


def study_records(records: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study's runs (its learning rate, the scaling-law distillation setting) with each teacher's model,
    size and loss L_T beside its students."""
    rec = store.load_records() if records is None else records
    if rec.empty:
        return rec
    rec = rec.copy()
    for col, default in (("mix", 1.0), ("temperature", 1.0), ("kl", "forward"), ("top_k", None)):
        if col not in rec.columns:
            rec[col] = default
    by_key = rec.set_index("key")
    teacher = rec["teacher"].where(rec["teacher"].notna(), None)
    rec["teacher_model"] = teacher.map(by_key["model"])
    rec["teacher_n_params"] = teacher.map(by_key["n_params"])
    rec["teacher_tokens"] = teacher.map(by_key["tokens"])
    rec["teacher_loss"] = teacher.map(by_key["val_loss"])
    # Supervised records carry no distillation fields (NaN): they pass.
    distilled = rec["teacher"].notna()
    plain = ~distilled | ((rec["mix"] == 1.0) & (rec["temperature"] == 1.0) & (rec["kl"] == "forward"))
    plain &= rec["top_k"].isna()
    if "top_p" in rec.columns:
        plain &= rec["top_p"].isna()
    return rec[(rec["lr"] == study.STUDY_LR) & plain].reset_index(drop=True)


def seed_noise(rec: pd.DataFrame) -> pd.DataFrame:
    """Seed-to-seed standard deviation of the final loss per model size and kind of run (``supervised`` on
    either split, ``distilled``): pooled over the configurations of that size and kind that were repeated
    over seeds, never over sizes. Columns: model, n_params, kind, sd, dof, configs."""
    columns = ["model", "n_params", "kind", "sd", "dof", "configs"]
    if rec.empty:
        return pd.DataFrame(columns=columns)
    rec = rec.copy()
    rec["kind"] = np.where(rec["teacher"].notna(), "distilled", "supervised")
    keys = ["model", "kind", "split", "tokens", "teacher"]
    rec["teacher"] = rec["teacher"].fillna("-")
    rows = []
    for (model, kind), g in rec.groupby(["model", "kind"]):
        ss, dof, configs = 0.0, 0, 0
        for _, c in g.groupby(keys[2:]):
            v = c.drop_duplicates("seed")["val_loss"].to_numpy(float)
            if v.size >= 2:
                ss += float(((v - v.mean()) ** 2).sum())
                dof += v.size - 1
                configs += 1
        if dof:
            n = int(g["n_params"].iloc[0])
            rows.append(
                {
                    "model": model,
                    "n_params": n,
                    "kind": kind,
                    "sd": math.sqrt(ss / dof),
                    "dof": dof,
                    "configs": configs,
                }
            )
    return pd.DataFrame(rows, columns=columns)


def noise_of(noise: pd.DataFrame, model: str, kind: str) -> tuple[float, str]:
    """The seed noise of ``model`` for ``kind``; where that size was never repeated, the nearest repeated size
    of the same kind (said in the returned note)."""
    same = noise[noise["kind"] == kind]
    if same.empty:
        same = noise
    hit = same[same["model"] == model]
    if not hit.empty:
        return float(hit["sd"].iloc[0]), f"{kind} seed noise of {model}"
    n = model_config(model).n_params
    near = same.iloc[int(np.argmin(np.abs(np.log(same["n_params"].to_numpy(float) / n))))]
    return float(near["sd"]), f"{kind} seed noise of {near['model']} (the nearest size repeated over seeds)"


# --- where distillation stops winning -----------------------------------------------------------------------


def crossovers(pairs: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per (student, teacher) with at least three token counts: the student tokens D_x at which distillation
    stops beating the supervised run of the same size and tokens, from a line of the advantage (supervised -
    distilled loss) in log10 D, with a delta-method ``level`` interval; NaN where the advantage does not fall
    with tokens or the line crosses zero more than a decade from the runs. ``pairs``: model, n_params,
    teacher, teacher_model, tokens, advantage."""
    rows = []
    for (model, teacher), g in pairs.groupby(["model", "teacher"]):
        first = g.iloc[0]
        g = g.groupby("tokens", as_index=False)["advantage"].mean()
        if len(g) < 3:
            continue
        x, y = np.log10(g["tokens"].to_numpy(float)), g["advantage"].to_numpy(float)
        X = np.column_stack([np.ones_like(x), x])
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        dof = len(x) - 2
        cov = float(((y - X @ beta) ** 2).sum()) / dof * np.linalg.inv(X.T @ X)
        a, b = float(beta[0]), float(beta[1])
        x0 = -a / b if b < 0 else math.nan
        inside = math.isfinite(x0) and x.min() - 1 <= x0 <= x.max() + 1
        half = se = math.nan
        if inside:
            var = (cov[0, 0] + x0**2 * cov[1, 1] + 2 * x0 * cov[0, 1]) / b**2
            se = math.sqrt(max(var, 0.0))
            half = float(stats.t.ppf((1 + level) / 2, dof)) * se
        rows.append(
            {
                "student": model,
                "n_params": int(first["n_params"]),
                "teacher": teacher,
                "teacher_model": first["teacher_model"],
                "token_counts": len(g),
                "slope_per_decade": b,
                "crossover_tokens": 10**x0 if inside else math.nan,
                "low": 10 ** (x0 - half) if inside else math.nan,
                "high": 10 ** (x0 + half) if inside else math.nan,
                "log10_se": se,
            }
        )
    return pd.DataFrame(rows)


def crossover_slope(cross: pd.DataFrame, level: float = LEVEL) -> tuple[Comparison, int] | None:
    """How the crossover tokens of :func:`crossovers` move with the student's size: the slope of log10 D_x on
    log10 N_S, one level per teacher (teachers with crossovers for at least two students), weighted by each
    crossover's delta-method variance, with a ``level`` t interval (the residual scale is inflated, never
    deflated, when the points scatter more than their own intervals say). Returns the comparison and the
    number of crossovers used; None when fewer than two teachers' worth of points leave a degree of freedom.
    The crossover compute 6 N_S D_x has slope one more."""
    c = cross.dropna(subset=["crossover_tokens", "log10_se"])
    c = c[c["log10_se"] > 0]
    c = c[c.groupby("teacher")["student"].transform("nunique") >= 2]
    teachers = sorted(set(c["teacher"]))
    if not teachers or len(c) <= len(teachers) + 1:
        return None
    w = 1.0 / c["log10_se"].to_numpy(float)
    X = np.column_stack(
        [(c["teacher"] == t).to_numpy(float) for t in teachers] + [np.log10(c["n_params"].to_numpy(float))]
    )
    y = np.log10(c["crossover_tokens"].to_numpy(float))
    Xw, yw = X * w[:, None], y * w
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    dof = len(y) - X.shape[1]
    scale = max(1.0, float(((yw - Xw @ beta) ** 2).sum()) / dof)
    se = math.sqrt(scale * np.linalg.inv(Xw.T @ Xw)[-1, -1])
    half = float(stats.t.ppf((1 + level) / 2, dof)) * se
    b = float(beta[-1])
    return Comparison(b, (b - half, b + half), len(y), se), len(y)
