"""The study's distillation records -> the tables and the findings of chapter 07.

The second half of the analysis of the study's records (:mod:`distill_scaling.supervised_study` is the first).
A distillation run is judged against two other records: its **teacher's** (``L_T``, the teacher's own final
validation loss, the paper's measured teacher pretraining loss) and its **supervised baseline** (``L~_S``,
the same student model trained supervised on the same tokens of the student split with the same seed).
:func:`design_table` describes the distillation runs of a design (one row per block and run, with the
teacher's size and tokens, the token multiple of M*, the IsoFLOP budgets and the baseline's key);
:func:`distillation_runs` joins it with the records that exist, so a chapter shows what is there.

Judging a difference: the study repeats seeds only for supervised configurations (chapter 06's noise block).
:class:`Resolution` turns that pooled relative seed noise ``s`` into a threshold for a difference between two
single runs: ``factor * sqrt(2) * s * L`` (``sqrt(2)``: both runs carry their own noise).

From the joined table:

- :func:`capacity_gap`: per student and token budget (protocol 3), the best teacher, how much the strongest
  teacher's student is worse than the best one, and whether KL(teacher || student) rises with the teacher;
- :func:`versus_teacher`, :func:`versus_supervised`, :func:`supervised_trend`, :func:`convergence`: students
  below their teacher's loss, distillation against supervised learning and how that changes with tokens;
- :func:`teacher_collapse`: protocol 2's test that the teacher acts only through ``L_T``;
- :func:`fit_runs`: the runs the distillation law is fitted to (the fit itself is
  :func:`distill_scaling.fits.fit_study_law`, stored in ``data/fits/distillation.json``);
- :func:`findings`: the paper's claims beside ours, each with a verdict computed from the tables.

Units: N = non-embedding parameters, D = tokens trained, C = FLOPs (3 F(N) D), L = validation cross-entropy
in nats per token (byte).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import store, study
from . import supervised_study as ss
from .spec import RunSpec, run_flops

#: The study's distillation blocks, in the paper's numbering: 3 (capacity gap), 2 (L_T collapse), 1; then
#: ``gap-seeds``, protocol 3's capacity-gap students again with other seeds.
DISTILL_BLOCKS = ("protocol3", "protocol2", "protocol1", "gap-seeds")
#: The blocks whose runs judge the capacity gap: protocol 3 and its extra seeds.
GAP_BLOCKS = ("protocol3", "gap-seeds")
#: Supervised blocks the distillation runs need: their teachers and their supervised baselines.
SUPPORT_BLOCKS = ("teachers", "baselines", "gap-seeds")
#: Chapter 06's blocks whose seed repeats measure the noise.
NOISE_BLOCKS = ss.ISOFLOP_BLOCKS
#: The paper's student token multiples of M* in the fixed-M protocols (D_S = 20N..320N, its Figs. 4 and 37).
PAPER_M_MULTIPLES = (1, 2, 4, 8, 16)

#: A difference between two single runs is resolved when it exceeds this many standard deviations of such a
#: difference (sqrt(2) times one run's seed noise).
RESOLVE_FACTOR = 2.0

DESIGN_COLUMNS = (
    "block", "key", "model", "n_params", "tokens", "tokens_requested", "seed", "teacher", "teacher_model",
    "teacher_n_params", "teacher_tokens", "teacher_flops", "teacher_budget", "multiple", "student_flops",
    "student_budget", "flops", "mix", "temperature", "kl", "baseline_key",
)  # fmt: skip

RUN_COLUMNS = (
    *DESIGN_COLUMNS, "val_loss", "teacher_loss", "teacher_val_loss", "val_kl", "baseline_loss",
    "vs_teacher", "vs_supervised",
)  # fmt: skip

VERDICTS = ("reproduced", "partly", "not reproduced", "pending")


# --- designs and records ------------------------------------------------------------------------------------


def _teacher_spec(spec, teachers: Mapping | None, runs_dir: Path | None):
    return store.teacher_spec_of(spec, runs_dir, teachers)


def design_table(
    specs,
    block: str,
    *,
    m_star: float,
    teachers: Mapping | None = None,
    student_budgets: Sequence[float] = (),
    teacher_budgets: Sequence[float] = (),
    student_budget_of: Sequence[float] | None = None,
    teacher_budget_of: Sequence[float] | None = None,
    runs_dir: Path | None = None,
) -> pd.DataFrame:
    """One row per distillation spec (see :data:`DESIGN_COLUMNS`).

    ``teachers`` maps teacher keys to their specs (others are looked up in the store or the specs built in
    this process). ``multiple`` is the requested tokens over ``m_star * N_S`` (protocol 3's 1..16 M*).
    ``student_budget`` / ``teacher_budget`` are the nominal budgets among ``student_budgets`` (student
    training compute, protocol 1) and ``teacher_budgets`` (the teacher's training compute, protocol 2) that
    the run lies on, or given per spec with ``*_budget_of`` (tiny smoke runs). ``flops`` is the run's own
    compute (student training and teacher logits), ``student_flops`` the student training alone.
    """
    if not (isinstance(m_star, (int, float)) and math.isfinite(m_star) and m_star > 0):
        raise ValueError(f"design_table: argument 'm_star' must be a positive number, got {m_star!r}")
    specs = list(specs)
    bad = [s.key for s in specs if s.teacher is None]
    if bad:
        raise ValueError(f"design_table: specs {bad} are supervised; only distillation specs belong here")
    rows = []
    for s in specs:
        t = _teacher_spec(s, teachers, runs_dir)
        fl = run_flops(s, t.model)
        rows.append(
            {
                "block": block, "key": s.key, "model": s.model, "n_params": s.config.n_params,
                "tokens": s.tokens_trained, "tokens_requested": s.tokens, "seed": s.seed,
                "teacher": s.teacher,
                "teacher_model": t.model, "teacher_n_params": t.config.n_params,
                "teacher_tokens": t.tokens_trained, "teacher_flops": run_flops(t)["total"],
                "multiple": s.tokens / (m_star * s.config.n_params),
                "student_flops": fl["student_training"], "flops": fl["total"], "mix": s.mix,
                "temperature": s.temperature, "kl": s.kl, "baseline_key": study.baseline_of(s).key,
            }
        )  # fmt: skip
    df = pd.DataFrame(
        rows, columns=[c for c in DESIGN_COLUMNS if c not in ("teacher_budget", "student_budget")]
    )
    for col, given, budgets, source in (
        ("student_budget", student_budget_of, student_budgets, "student_flops"),
        ("teacher_budget", teacher_budget_of, teacher_budgets, "teacher_flops"),
    ):
        if given is not None:
            if len(given) != len(df):
                raise ValueError(f"design_table: '{col}_of' has {len(given)} values for {len(df)} specs")
            df[col] = np.asarray(given, float)
        else:
            df[col] = ss.snap_budget(df[source].to_numpy(float), budgets)
    for c in ("n_params", "tokens", "tokens_requested", "teacher_n_params", "teacher_tokens", "multiple"):
        df[c] = df[c].astype(float)
    return df[list(DESIGN_COLUMNS)]


def study_design(blocks: Sequence[str] = DISTILL_BLOCKS) -> pd.DataFrame:
    """The study's distillation runs (:data:`distill_scaling.study.BLOCKS`), one row per (block, run).

    A block that cannot be built yet is left out; ``design.attrs["skipped"]`` maps it to the reason.
    """
    unknown = [b for b in blocks if b not in study.BLOCKS]
    if unknown:
        raise ValueError(f"unknown study block(s) {unknown}; allowed: {', '.join(study.BLOCKS)}")
    frames, skipped = [], {}
    try:
        teachers = {t.key: t for t in study.teacher_block() + study.isoflop_block()}
        m_star = study.m_star()
    except ValueError as exc:
        return _empty_design({b: str(exc) for b in blocks})
    for name in blocks:
        try:
            specs = [s for s in study.BLOCKS[name].build() if s.teacher is not None]
        except ValueError as exc:
            skipped[name] = str(exc)
            continue
        if specs:
            frames.append(
                design_table(
                    specs, name, m_star=m_star, teachers=teachers,
                    student_budgets=study.STUDENT_BUDGETS, teacher_budgets=study.ISOFLOP_BUDGETS,
                )
            )  # fmt: skip
    if not frames:
        return _empty_design(skipped)
    design = pd.concat(frames, ignore_index=True)
    design.attrs["skipped"] = skipped
    return design


def study_specs() -> list[RunSpec]:
    """The study's runs the distillation analysis needs (what training its missing runs trains): teachers,
    the three protocols, the supervised baselines and the capacity gap's extra seeds, of the blocks that can
    be built now; their IsoFLOP teachers come along as dependencies."""
    ready = []
    for b in ("teachers", "protocol3", "baselines", "protocol2", "protocol1", "gap-seeds"):
        try:
            study.BLOCKS[b].build()
            ready.append(b)
        except ValueError:
            continue
    return study.specs_for(ready)


def _empty_design(skipped: dict[str, str]) -> pd.DataFrame:
    d = pd.DataFrame(columns=list(DESIGN_COLUMNS))
    d.attrs["skipped"] = skipped
    return d


def _lookup(records: pd.DataFrame, keys: pd.Series, column: str) -> np.ndarray:
    """``records[column]`` at ``keys`` (NaN where a key has no record)."""
    if records is None or records.empty or column not in records.columns:
        return np.full(len(keys), np.nan)
    s = records.drop_duplicates("key").set_index("key")[column]
    return pd.to_numeric(keys.map(s), errors="coerce").to_numpy(float)


def distillation_runs(records: pd.DataFrame, design: pd.DataFrame) -> pd.DataFrame:
    """The design's recorded distillation runs joined with their teachers and supervised baselines.

    One row per (block, run) of ``design`` whose record exists (see :data:`RUN_COLUMNS`): ``val_loss`` is the
    student's L_S, ``teacher_loss`` the teacher's own recorded final loss L_T (NaN if the teacher's record is
    missing), ``teacher_val_loss`` the teacher's loss as measured again in the student's run (the same
    validation tokens, so equal to L_T up to evaluation noise), ``val_kl`` KL(teacher || student) on the
    validation tokens, ``baseline_loss`` the supervised baseline's L~_S (NaN while it is missing),
    ``vs_teacher = L_S - L_T`` and ``vs_supervised = L_S - L~_S`` (negative: the student is better).
    """
    if records is None or records.empty or design.empty:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    need = {"key", "val_loss"}
    if not need <= set(records.columns):
        raise ValueError(
            f"records lack the column(s) {sorted(need - set(records.columns))} (see store.load_records())"
        )
    have = records[records["teacher"].notna()] if "teacher" in records.columns else records.iloc[:0]
    df = design[design["key"].isin(set(have["key"]))].copy()
    df["val_loss"] = _lookup(records, df["key"], "val_loss")
    df["teacher_loss"] = _lookup(records, df["teacher"], "val_loss")
    df["teacher_val_loss"] = _lookup(records, df["key"], "teacher_val_loss")
    df["val_kl"] = _lookup(records, df["key"], "val_kl")
    df["baseline_loss"] = _lookup(records, df["baseline_key"], "val_loss")
    df["vs_teacher"] = df["val_loss"] - df["teacher_loss"]
    df["vs_supervised"] = df["val_loss"] - df["baseline_loss"]
    order = ["block", "n_params", "tokens", "teacher_loss"]
    return (
        df[list(RUN_COLUMNS)].sort_values(order, ascending=[True, True, True, False]).reset_index(drop=True)
    )


def unique_runs(dist: pd.DataFrame) -> pd.DataFrame:
    """Each distillation run once (a run listed by several blocks keeps its first block)."""
    return dist.drop_duplicates("key").reset_index(drop=True)


def teacher_agreement(dist: pd.DataFrame) -> dict[str, float]:
    """How well the teacher's loss measured in the student's run matches the teacher's record: the largest
    absolute difference (nats) and the number of runs compared."""
    d = (dist["teacher_val_loss"] - dist["teacher_loss"]).abs().dropna()
    return {"n": len(d), "max_abs": float(d.max()) if len(d) else math.nan}


# --- judging differences against the seed noise -------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """When is a difference between two single runs larger than their seed noise?

    ``rel_std`` is one run's relative seed-to-seed standard deviation (a fraction of the loss, from
    :func:`supervised_study.pooled_noise`); a difference of two runs at loss ``L`` has standard deviation
    ``sqrt(2) * rel_std * L``, and it is *resolved* when it exceeds ``factor`` times that. NaN ``rel_std``:
    the noise is not measured and nothing is judged.
    """

    rel_std: float
    factor: float = RESOLVE_FACTOR
    rel_std_interval: tuple[float, float] = (math.nan, math.nan)

    @property
    def measured(self) -> bool:
        return bool(np.isfinite(self.rel_std))

    def threshold(self, loss: float | np.ndarray) -> float | np.ndarray:
        """The smallest resolved difference at loss ``loss`` (nats; NaN if the noise is not measured)."""
        return self.factor * math.sqrt(2) * self.rel_std * np.asarray(loss, float)

    def classify(self, diff, loss) -> np.ndarray:
        """``"lower"`` / ``"higher"`` (resolved, by the sign of ``diff``), ``"within noise"`` or
        ``"not judged"`` (noise not measured, or a NaN difference)."""
        d = np.atleast_1d(np.asarray(diff, float))
        thr = np.broadcast_to(self.threshold(loss), d.shape)
        out = np.full(d.shape, "not judged", dtype=object)
        ok = np.isfinite(d) & np.isfinite(thr)
        out[ok & (np.abs(d) <= thr)] = "within noise"
        out[ok & (d < -thr)] = "lower"
        out[ok & (d > thr)] = "higher"
        return out


def resolution(noise: ss.NoiseSummary, factor: float = RESOLVE_FACTOR) -> Resolution:
    """A :class:`Resolution` from the pooled seed noise (``supervised_study.pooled_noise``)."""
    if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor > 0):
        raise ValueError(f"resolution: argument 'factor' must be a positive number, got {factor!r}")
    return Resolution(float(noise.rel_std), float(factor), tuple(noise.rel_std_interval))


# --- protocol 3: capacity gap, students against teachers and against supervised learning -------------------


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def capacity_gap(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Per student and token budget with two or more teachers (paper Figs. 4, 37): the best teacher (lowest
    mean L_S over the seeds recorded), the strongest teacher (lowest L_T) and ``rise`` = L_S(strongest) -
    L_S(best) >= 0, judged against the noise of a difference of two means (``gap``: ``resolved``, ``within
    noise``, ``none`` when the strongest teacher is the best, or ``not judged``); ``seeds``, the fewest seeds
    of any teacher, and ``seeds_worse``, in how many of the seeds both teachers have the strongest teacher's
    student is worse than the best one's (a paired count: a seed fixes the student's initialisation and data
    order); the KL of the strongest and the weakest teacher's student and ``kl_rank`` = Spearman's rho between
    L_T and KL (-1: KL rises with every stronger teacher)."""
    cols = [
        "model", "n_params", "tokens", "multiple", "teachers", "seeds", "best_teacher", "best_teacher_loss",
        "best_loss", "strongest_teacher", "strongest_teacher_loss", "strongest_loss", "rise", "threshold",
        "gap", "seeds_worse", "kl_strongest", "kl_weakest", "kl_rank",
    ]  # fmt: skip
    rows = []
    d = unique_runs(dist).dropna(subset=["teacher_loss", "val_loss"])
    for (model, tokens), g in d.groupby(["model", "tokens"], sort=True):
        per = (
            g.groupby("teacher")
            .agg(
                teacher_model=("teacher_model", "first"), teacher_loss=("teacher_loss", "first"),
                val_loss=("val_loss", "mean"), val_kl=("val_kl", "mean"), seeds=("seed", "nunique"),
            )
            .sort_values("teacher_loss")
        )  # fmt: skip
        if len(per) < 2:
            continue
        best, strongest, weakest = per.loc[per["val_loss"].idxmin()], per.iloc[0], per.iloc[-1]
        rise = float(strongest["val_loss"] - best["val_loss"])
        # A difference of two means over n_b and n_s independent seeds: sqrt((1/n_b + 1/n_s) / 2) times the
        # noise of a difference of two single runs (conservative: seeds pair the students).
        shrink = math.sqrt((1 / best["seeds"] + 1 / strongest["seeds"]) / 2)
        thr = float(res.threshold(best["val_loss"])) * shrink
        if best.name == strongest.name:
            gap, worse = "none", ""
        else:
            by_seed = g.pivot_table(index="seed", columns="teacher", values="val_loss")
            both = by_seed[[best.name, strongest.name]].dropna()
            worse = f"{int((both[strongest.name] > both[best.name]).sum())}/{len(both)}"
            gap = "not judged" if not np.isfinite(thr) else "resolved" if rise > thr else "within noise"
        rows.append(
            {
                "model": model, "n_params": float(g["n_params"].iloc[0]), "tokens": float(tokens),
                "multiple": float(g["multiple"].iloc[0]), "teachers": len(per),
                "seeds": int(per["seeds"].min()),
                "best_teacher": best["teacher_model"], "best_teacher_loss": float(best["teacher_loss"]),
                "best_loss": float(best["val_loss"]), "strongest_teacher": strongest["teacher_model"],
                "strongest_teacher_loss": float(strongest["teacher_loss"]),
                "strongest_loss": float(strongest["val_loss"]), "rise": rise, "threshold": thr, "gap": gap,
                "seeds_worse": worse, "kl_strongest": float(strongest["val_kl"]),
                "kl_weakest": float(weakest["val_kl"]),
                "kl_rank": _spearman(per["teacher_loss"].to_numpy(float), per["val_kl"].to_numpy(float)),
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def versus_teacher(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Every run with its margin over its teacher, ``vs_teacher = L_S - L_T``, judged: ``below`` (the
    student beats its teacher by more than the noise), ``above``, ``within noise`` or ``not judged``."""
    return _judged(dist, res, "vs_teacher", "teacher_loss", lower="below", higher="above")


def versus_supervised(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Every run with a recorded baseline and ``vs_supervised = L_S - L~_S`` judged: ``better`` (distillation
    beats supervised learning by more than the noise), ``worse``, ``within noise`` or ``not judged``."""
    return _judged(dist, res, "vs_supervised", "baseline_loss", lower="better", higher="worse")


def _judged(dist: pd.DataFrame, res: Resolution, diff: str, reference: str, *, lower: str, higher: str):
    """The runs with a ``reference`` loss, their noise ``threshold`` and the verdict on ``diff`` (``lower`` /
    ``higher`` renamed for the comparison at hand)."""
    d = unique_runs(dist).dropna(subset=[reference]).copy()
    d["threshold"] = res.threshold(d[reference].to_numpy(float)) if len(d) else []
    cls = res.classify(d[diff], d[reference]) if len(d) else []
    d["judged"] = pd.Series(cls, index=d.index, dtype=object).replace({"lower": lower, "higher": higher})
    return d


def supervised_trend(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Per (student, teacher) with baselines at two or more token budgets: distillation's advantage
    ``vs_supervised`` at the fewest and at the most tokens, and ``pattern``: ``crossing`` (resolved better at
    the fewest tokens, resolved worse at the most: the paper's claim), ``rising`` (the difference grows by
    more than the noise, without a resolved crossing), ``flat or falling``, or ``not judged``."""
    cols = [
        "model", "teacher_model", "teacher_loss", "budgets", "tokens_low", "tokens_high", "low", "high",
        "change", "threshold", "pattern",
    ]  # fmt: skip
    rows = []
    d = versus_supervised(dist, res)
    for (model, _), g in d.groupby(["model", "teacher"], sort=True):
        g = g.sort_values("tokens")
        if g["tokens"].nunique() < 2:
            continue
        lo, hi = g.iloc[0], g.iloc[-1]
        thr = float(res.threshold(max(lo["baseline_loss"], hi["baseline_loss"])))
        change = float(hi["vs_supervised"] - lo["vs_supervised"])
        if not np.isfinite(thr):
            pattern = "not judged"
        elif lo["judged"] == "better" and hi["judged"] == "worse":
            pattern = "crossing"
        elif change > thr:
            pattern = "rising"
        else:
            pattern = "flat or falling"
        rows.append(
            {
                "model": model, "teacher_model": lo["teacher_model"],
                "teacher_loss": float(lo["teacher_loss"]),
                "budgets": int(g["tokens"].nunique()), "tokens_low": float(lo["tokens"]),
                "tokens_high": float(hi["tokens"]), "low": float(lo["vs_supervised"]),
                "high": float(hi["vs_supervised"]), "change": change, "threshold": thr, "pattern": pattern,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def convergence(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Per student with baselines at two or more token budgets: the best teacher's advantage over supervised
    learning, ``gap = min over teachers of L_S - L~_S``, at the fewest and the most tokens, and ``pattern``:
    ``converged`` (|gap| shrinks into the noise), ``shrinking`` (shrinks by more than the noise, not into
    it), ``within noise throughout``, ``growing`` or ``unchanged`` (|gap| changes by more or by less than the
    noise), or ``not judged``."""
    cols = ["model", "budgets", "tokens_low", "tokens_high", "gap_low", "gap_high", "threshold", "pattern"]
    d = versus_supervised(dist, res)
    if d.empty:
        return pd.DataFrame(columns=cols)
    best = d.loc[d.groupby(["model", "tokens"])["vs_supervised"].idxmin()]
    rows = []
    for model, g in best.groupby("model", sort=True):
        g = g.sort_values("tokens")
        if len(g) < 2:
            continue
        lo, hi = g.iloc[0], g.iloc[-1]
        thr = float(res.threshold(hi["baseline_loss"]))
        a, b = abs(lo["vs_supervised"]), abs(hi["vs_supervised"])
        if not np.isfinite(thr):
            pattern = "not judged"
        elif a <= thr and b <= thr:
            pattern = "within noise throughout"
        elif b <= thr:
            pattern = "converged"
        elif a - b > thr:
            pattern = "shrinking"
        elif b - a > thr:
            pattern = "growing"
        else:
            pattern = "unchanged"
        rows.append(
            {
                "model": model, "budgets": len(g), "tokens_low": float(lo["tokens"]),
                "tokens_high": float(hi["tokens"]), "gap_low": float(lo["vs_supervised"]),
                "gap_high": float(hi["vs_supervised"]), "threshold": thr, "pattern": pattern,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


# --- protocol 2: does the teacher act only through L_T? -----------------------------------------------------

#: Fewest teachers per student for the collapse test (the curve in L_T and the teacher's size take four
#: coefficients; two more runs leave an interval).
MIN_COLLAPSE_TEACHERS = 6


def teacher_collapse(dist: pd.DataFrame, res: Resolution, level: float = 0.9) -> pd.DataFrame:
    """Per student of protocol 2 (IsoFLOP teachers, fixed student): does the teacher act only through L_T?

    A smooth curve of log L_S in log L_T (a quadratic) through the student's runs gives the relative scatter
    around it (``rms_resid``) against one run's seed noise (``noise_ratio``). The same curve plus a term in
    log N_T, fitted jointly (IsoFLOP teachers' sizes and losses are correlated, so the size term must not be
    fitted to the curve's residuals), gives the teacher size's own effect: its ``slope`` (relative change of
    L_S per e-fold of N_T) with a ``level`` t interval, and ``size_effect``, the change in nats over the
    teachers' range of sizes. ``collapse``: ``yes`` (scatter within 2x the noise and the size effect not
    resolved: its interval holds zero or it is below the resolution threshold), ``no: size effect resolved``
    or ``no: scatter above noise`` (one of the two fails), ``no`` (both), or ``not judged``."""
    cols = [
        "model", "teachers", "rms_resid", "noise_ratio", "slope", "slope_low", "slope_high", "size_effect",
        "threshold", "collapse",
    ]  # fmt: skip
    rows = []
    d = dist.dropna(subset=["teacher_loss", "val_loss"])
    for model, g in d.groupby("model", sort=True):
        if len(g) < MIN_COLLAPSE_TEACHERS:
            continue
        x, y = np.log(g["teacher_loss"].to_numpy(float)), np.log(g["val_loss"].to_numpy(float))
        ln_n = np.log(g["teacher_n_params"].to_numpy(float))
        curve = np.column_stack([np.ones_like(x), x, x**2])
        r = y - curve @ np.linalg.lstsq(curve, y, rcond=None)[0]
        rms = float(np.sqrt(np.sum(r**2) / (len(r) - 3)))
        slope = lo = hi = effect = math.nan
        joint = np.column_stack([curve, ln_n])
        if np.unique(ln_n).size >= 3 and np.linalg.matrix_rank(joint) == 4:
            beta, *_ = np.linalg.lstsq(joint, y, rcond=None)
            dof = len(y) - 4
            s2 = float(np.sum((y - joint @ beta) ** 2) / dof)
            se = math.sqrt(s2 * float(np.linalg.inv(joint.T @ joint)[3, 3]))
            half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
            slope, lo, hi = float(beta[3]), float(beta[3] - half), float(beta[3] + half)
            effect = float(slope * np.ptp(ln_n) * g["val_loss"].mean())
        thr = float(res.threshold(g["val_loss"].mean()))
        ratio = rms / res.rel_std if res.measured else math.nan
        if not res.measured or not np.isfinite(slope):
            verdict = "not judged"
        else:
            tight = ratio <= 2.0
            no_size = (lo <= 0 <= hi) or abs(effect) <= thr
            verdict = (
                "yes"
                if tight and no_size
                else "no: size effect resolved"
                if tight
                else "no: scatter above noise"
                if no_size
                else "no"
            )
        rows.append(
            {
                "model": model, "teachers": len(g), "rms_resid": rms, "noise_ratio": ratio, "slope": slope,
                "slope_low": lo, "slope_high": hi, "size_effect": effect, "threshold": thr,
                "collapse": verdict,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


# --- the runs the distillation law is fitted to -------------------------------------------------------------


def fit_runs(dist: pd.DataFrame) -> pd.DataFrame:
    """The runs the law is fitted to: every recorded distillation run once, with its teacher's loss
    (``key, n_params, tokens, teacher_loss, val_loss``)."""
    d = unique_runs(dist).dropna(subset=["teacher_loss", "val_loss"])
    return d[["key", "n_params", "tokens", "teacher_loss", "val_loss"]].reset_index(drop=True)


# --- findings -----------------------------------------------------------------------------------------------

#: The paper's claims and its evidence (digest Secs. 1, 4.1, 9 and the figure inventory).
PAPER_CLAIMS = {
    "teacher only through L_T": (
        "The teacher acts on the student only through its loss L_T",
        "Students of 198M-1.82B distilled from teachers along four IsoFLOP profiles (3e19-1e21 FLOPs) "
        "fall on one smooth curve of L_S against L_T (Figs. 1, 3b); the law uses L_T alone",
    ),
    "capacity gap": (
        "Capacity gap: a stronger teacher can give a worse student",
        "Students of 143M, 198M and 546M at D_S = 20-320 N_S: L_S falls, then rises as the M=20 teacher "
        "grows from 546M to 7.75B; KL(teacher || student) rises with the teacher in all cases (Figs. 4, 37)",
    ),
    "students beat teachers": (
        "Students can beat their teacher, at finite distillation data",
        "Students larger than a weak teacher (N_T <= 2.72B) reach L_S < L_T at large budgets (Figs. 2, "
        "38a); with many more tokens the student returns to the teacher's loss (Fig. 41, D_S = 8B-512B)",
    ),
    "better below, worse above": (
        "Distillation beats supervised learning below a compute threshold and loses above it",
        "Fixed teachers: L_S - L~_S from about -0.18 (distillation better) at small student budgets to "
        "+0.18 at large ones (Fig. 6); the threshold grows with the student's size (Figs. 8, 15)",
    ),
    "convergence": (
        "With enough compute, distillation and supervised learning converge",
        "Compute-optimal distillation and supervised learning reach the same L_S at large compute (Fig. 8); "
        "only the optimal teacher reaches the supervised limit as D -> infinity (App. E.6, Fig. 40)",
    ),
}


@dataclass(frozen=True)
class Finding:
    """One row of the findings table: the paper's claim and evidence, ours in words, the verdict."""

    claim: str
    paper: str
    ours: str
    verdict: str


def _mtok(tokens: float) -> str:
    return f"{tokens / 1e6:.3g}M tokens"


def judge_collapse(p2: pd.DataFrame, res: Resolution) -> tuple[str, str]:
    """Verdict and evidence on 'the teacher acts only through L_T' from protocol-2 runs."""
    if p2.empty:
        return "pending", "no protocol-2 runs recorded yet (IsoFLOP teachers, fixed-M* students)"
    col = teacher_collapse(p2, res)
    if col.empty:
        n = p2.groupby("model")["teacher"].nunique().max()
        return "pending", (
            f"{p2['key'].nunique()} protocol-2 run(s); at most {n} teacher(s) per student, "
            f"{MIN_COLLAPSE_TEACHERS} needed"
        )
    if (col["collapse"] == "not judged").all():
        return "pending", "seed noise not measured yet: the scatter cannot be judged"
    parts = [
        f"{r.model}: {r.teachers} teachers scatter by {100 * r.rms_resid:.2f}% around one curve in L_T "
        f"({r.noise_ratio:.1f}x one run's noise); the teacher's size adds {r.size_effect:+.4f} nats over "
        f"its range (threshold {r.threshold:.4f})"
        for r in col.itertuples()
    ]
    v = col["collapse"]
    verdict = "reproduced" if (v == "yes").all() else "not reproduced"
    return verdict, "; ".join(parts)


def _seeds_text(r: pd.Series) -> str:
    """ ", mean of 3 seeds, worse in 3/3" for a capacity-gap row judged over several seeds, else ""."""
    return f", mean of {r.seeds} seeds, worse in {r.seeds_worse}" if r.seeds > 1 else ""


def judge_gap(p3: pd.DataFrame, res: Resolution) -> tuple[str, str]:
    """Verdict and evidence on the capacity gap from protocol-3 runs."""
    if p3.empty:
        return "pending", "no protocol-3 runs recorded yet (fixed-M* teachers and students)"
    gap = capacity_gap(p3, res)
    if gap.empty:
        return "pending", f"{p3['key'].nunique()} protocol-3 run(s); no student budget has two teachers yet"
    kl = gap["kl_rank"].dropna()
    kl_txt = (
        f"; KL(teacher || student) rises with the teacher's strength (Spearman ρ ≤ -0.5) in "
        f"{int((kl <= -0.5).sum())} of {len(kl)} budgets with three or more teachers"
        if len(kl)
        else ""
    )
    head = f"{len(gap)} student budget(s) with two or more teachers: "
    resolved, within = gap[gap["gap"] == "resolved"], gap[gap["gap"] == "within noise"]
    if len(resolved):
        r = resolved.loc[resolved["rise"].idxmax()]
        txt = (
            f"{head}{len(resolved)} with a resolved gap (largest: {r.model} at {r.multiple:.3g} M*, whose "
            f"student of the strongest teacher, {r.strongest_teacher}, is {r.rise:.4f} nats worse than that "
            f"of {r.best_teacher}{_seeds_text(r)}; threshold {r.threshold:.4f})"
        )
        return "reproduced", txt + kl_txt
    if gap["gap"].eq("not judged").all():
        return "pending", head + "seed noise not measured yet" + kl_txt
    if len(within):
        r = within.loc[within["rise"].idxmax()]
        txt = (
            f"{head}in {len(within)}, the strongest teacher is not the best, but by at most {r.rise:.4f} "
            f"nats ({r.model} at {r.multiple:.3g} M*{_seeds_text(r)}), within the noise "
            f"(threshold {r.threshold:.4f}): the "
            "student stops improving with a stronger teacher, without a resolved rise"
        )
        return "partly", txt + kl_txt
    return "not reproduced", head + "the strongest teacher gives the best student in every one" + kl_txt


def judge_beat(dist: pd.DataFrame, res: Resolution) -> tuple[str, str]:
    """Verdict and evidence on 'students can beat their teacher' from all runs, with whether the margin
    shrinks again at the most tokens (the paper's 'finite data')."""
    vt = versus_teacher(dist, res)
    if vt.empty:
        return "pending", "no distillation run with a recorded teacher yet"
    below, under = vt[vt["judged"] == "below"], vt[vt["vs_teacher"] < 0]
    if not res.measured:
        return "pending", f"{len(under)} of {len(vt)} runs below their teacher's loss; noise not measured yet"
    if not len(under):
        if not (vt["n_params"] > vt["teacher_n_params"]).any():
            return "pending", (
                f"none of {len(vt)} runs is below its teacher's loss, but none of them has a student larger "
                "than its teacher, where the paper finds it (protocol 1)"
            )
        return "not reproduced", f"none of {len(vt)} runs is below its teacher's loss"
    if not len(below):
        return (
            "partly",
            f"{len(under)} of {len(vt)} runs below their teacher's loss, none by more than the noise",
        )
    r = below.loc[below["vs_teacher"].idxmin()]
    txt = (
        f"{len(below)} of {len(vt)} runs beat their teacher by more than the noise (largest: {r.model} on "
        f"{_mtok(r.tokens)} from {r.teacher_model}, L_S - L_T = {r.vs_teacher:+.4f} nats; threshold "
        f"{r.threshold:.4f})"
    )
    pairs = [
        g.sort_values("tokens") for _, g in vt.groupby(["model", "teacher"]) if g["tokens"].nunique() > 2
    ]
    pairs = [g for g in pairs if (g["vs_teacher"] < 0).any()]
    if pairs:
        back = sum(
            g["vs_teacher"].iloc[-1] - g["vs_teacher"].min() > float(res.threshold(g["teacher_loss"].iloc[0]))
            for g in pairs
        )
        txt += (
            f"; of {len(pairs)} student-teacher pair(s) below the teacher at three or more token budgets, "
            f"{back} move back towards the teacher's loss by more than the noise at the most tokens"
        )
    return "reproduced", txt


def judge_crossing(p3: pd.DataFrame, res: Resolution) -> tuple[str, str]:
    """Verdict and evidence on 'distillation better below a compute threshold, worse above' (protocol 3)."""
    vs = versus_supervised(p3, res)
    if vs.empty:
        return "pending", "no protocol-3 run has its supervised baseline recorded yet"
    counts = vs["judged"].value_counts()
    head = (
        f"{len(vs)} runs with baselines: distillation better in {counts.get('better', 0)}, worse in "
        f"{counts.get('worse', 0)}, within the noise in {counts.get('within noise', 0)}"
    )
    trend = supervised_trend(p3, res)
    if trend.empty:
        return "pending", head + "; no student-teacher pair has baselines at two token budgets yet"
    if trend["pattern"].eq("not judged").all():
        return "pending", head + "; seed noise not measured yet"
    cross, rising = trend[trend["pattern"] == "crossing"], trend[trend["pattern"] == "rising"]
    tail = (
        f"; over token budgets, {len(cross)} of {len(trend)} student-teacher pairs cross from better to worse"
    )
    if len(rising):
        tail += f", {len(rising)} more move towards supervised by more than the noise without crossing"
    if len(cross):
        r = cross.iloc[0]
        tail += (
            f" (e.g. {r.model} from {r.teacher_model}: {r.low:+.4f} nats at {_mtok(r.tokens_low)}, "
            f"{r.high:+.4f} at {_mtok(r.tokens_high)})"
        )
        return "reproduced", head + tail
    return ("partly" if len(rising) else "not reproduced"), head + tail


def judge_convergence(p3: pd.DataFrame, res: Resolution) -> tuple[str, str]:
    """Verdict and evidence on 'distillation and supervised learning converge' (protocol 3's best teacher)."""
    conv = convergence(p3, res)
    if conv.empty:
        return "pending", "no student has baselines at two token budgets yet"
    if conv["pattern"].eq("not judged").all():
        return "pending", "seed noise not measured yet"
    parts = [
        f"{r.model}: the best teacher's L_S - L~_S is {r.gap_low:+.4f} nats at {_mtok(r.tokens_low)} and "
        f"{r.gap_high:+.4f} at {_mtok(r.tokens_high)} ({r.pattern}; threshold {r.threshold:.4f})"
        for r in conv.itertuples()
    ]
    p = conv["pattern"]
    if p.eq("converged").all():
        verdict = "reproduced"
    elif p.isin(["converged", "shrinking", "within noise throughout"]).any():
        verdict = "partly"
    else:
        verdict = "not reproduced"
    return verdict, "; ".join(parts)


def findings(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """The paper's five distillation claims beside ours, each with a verdict computed from ``dist``
    (:func:`distillation_runs`): ``reproduced``, ``partly``, ``not reproduced`` or ``pending``."""
    p3 = dist[dist["block"] == "protocol3"]
    p2 = dist[dist["block"] == "protocol2"]
    judged = {
        "teacher only through L_T": judge_collapse(p2, res),
        "capacity gap": judge_gap(dist[dist["block"].isin(GAP_BLOCKS)], res),
        "students beat teachers": judge_beat(dist, res),
        "better below, worse above": judge_crossing(p3, res),
        "convergence": judge_convergence(p3, res),
    }
    rows = [
        Finding(PAPER_CLAIMS[k][0], PAPER_CLAIMS[k][1], ours, verdict)
        for k, (verdict, ours) in judged.items()
    ]
    return pd.DataFrame([r.__dict__ for r in rows]).rename(
        columns={"claim": "the paper's claim", "paper": "paper's evidence", "ours": "ours"}
    )
