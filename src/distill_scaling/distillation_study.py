"""The study's distillation records -> the tables of chapter 07.

The second half of the analysis of the study's records (:mod:`distill_scaling.supervised_study` is the first).
A distillation run is judged against two other records: its **teacher's** (``L_T``, the teacher's own final
validation loss, the paper's measured teacher pretraining loss) and its **supervised baseline** (``L̃_S``,
the same student model trained supervised on the same tokens of the student split with the same seed).
:func:`design_table` describes the distillation runs of a design (one row per block and run, with the
teacher's size and tokens, the token multiple of M*, the IsoFLOP budgets and the baseline's key);
:func:`distillation_runs` joins it with the records that exist, so a chapter shows what is there.

Differences and the seed noise: the study repeats seeds for supervised configurations (chapter 06's noise
block) and for distilled students (the ``gap-seeds`` and ``capacity-gap`` blocks). :class:`Resolution` takes
one run's seed noise per model size and kind of run (:func:`comparisons.seed_noise`, never pooled over sizes)
and gives the threshold of a difference between runs: ``factor`` standard deviations of that difference.
It screens the tables' single-run differences; the claims' verdicts are :mod:`distill_scaling.verdicts`'.

From the joined table:

- :func:`capacity_gap`: per student and token budget (protocol 3), the best teacher, how much the strongest
  teacher's student is worse than the best one, and whether KL(teacher || student) rises with the teacher;
- :func:`versus_teacher`, :func:`versus_supervised`, :func:`convergence`: students against their teacher's
  loss, distillation against supervised learning, and the best teacher's advantage as the tokens grow;
- :func:`teacher_collapse`: protocol 2's check that the teacher acts only through ``L_T``, per student;
- :func:`fit_runs`: the runs the distillation law is fitted to (the fit itself is
  :func:`distill_scaling.fits.fit_study_law`, stored in ``data/fits/distillation.json``).

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

from . import comparisons, store, study
from . import supervised_study as ss
from .spec import RunSpec, run_flops

#: The study's distillation blocks, in the paper's numbering: 3 (capacity gap), 2 (L_T collapse), 1; then
#: ``gap-seeds``, protocol 3's capacity-gap students again with other seeds; then the decisive study's blocks
#: (issue 13): the capacity gap with L6 and L7 teachers and paired seeds, the weak-to-strong sweep, protocol 1
#: a decade further (the student terms of the law) and the students of the pretraining comparison. Every
#: block's runs enter the distillation law's fit.
PROTOCOL_BLOCKS = ("protocol3", "protocol2", "protocol1", "gap-seeds")
DECISIVE_BLOCKS = (
    "capacity-gap", "capacity-gap-l7", "weak-to-strong", "weak-to-strong-cap", "protocol1-decade",
    "pretraining",
)  # fmt: skip
DISTILL_BLOCKS = (*PROTOCOL_BLOCKS, *DECISIVE_BLOCKS)
#: The blocks whose runs judge the capacity gap: protocol 3 and its extra seeds.
GAP_BLOCKS = ("protocol3", "gap-seeds")
#: Supervised blocks the distillation runs need: their teachers and their supervised baselines.
SUPPORT_BLOCKS = (
    "teachers",
    "baselines",
    "gap-seeds",
    *(b for b in DECISIVE_BLOCKS if b != "protocol1-decade"),
)
#: The paper's student token multiples of M* in the fixed-M protocols (D_S = 20N..320N, its Figs. 4 and 37).
PAPER_M_MULTIPLES = (1, 2, 4, 8, 16)

#: A difference between runs is beyond the seed noise when it exceeds this many standard deviations of such a
#: difference.
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
        teachers = {
            t.key: t for t in study.teacher_block() + study.gap_teacher_block() + study.isoflop_block()
        }
        m_star = study.protocol_m()
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
                    student_budgets=(*study.STUDENT_BUDGETS, study.P1_DECADE_BUDGET),
                    teacher_budgets=study.ISOFLOP_BUDGETS,
                )
            )  # fmt: skip
    if not frames:
        return _empty_design(skipped)
    design = pd.concat(frames, ignore_index=True)
    design.attrs["skipped"] = skipped
    return design


def study_specs() -> list[RunSpec]:
    """The study's runs the distillation analysis needs (what training its missing runs trains): teachers,
    the three protocols, the supervised baselines, the capacity gap's extra seeds and the decisive blocks, of
    the blocks that can be built now; their IsoFLOP teachers come along as dependencies."""
    ready = []
    for b in ("teachers", "protocol3", "baselines", "protocol2", "protocol1", "gap-seeds", *DECISIVE_BLOCKS):
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
    validation tokens, ``baseline_loss`` the supervised baseline's L̃_S (NaN while it is missing),
    ``vs_teacher = L_S - L_T`` and ``vs_supervised = L_S - L̃_S`` (negative: the student is better).
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


# --- differences against the seed noise --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Resolution:
    """When is a difference between runs larger than their seed noise?

    ``noise`` is :func:`comparisons.seed_noise` of the study's records: one run's seed-to-seed standard
    deviation (nats) per model size and kind of run (``supervised``, ``distilled``), never pooled over sizes;
    a size never repeated over seeds takes the nearest repeated size of the same kind
    (:func:`comparisons.noise_of`). A difference between a mean over ``n_a`` runs of one model and kind and a
    mean over ``n_b`` runs of another has standard deviation ``sqrt(sd_a**2 / n_a + sd_b**2 / n_b)``; it is
    beyond the noise when it exceeds ``factor`` times that. Empty ``noise``: nothing is judged (NaN).
    """

    noise: pd.DataFrame
    factor: float = RESOLVE_FACTOR

    @property
    def measured(self) -> bool:
        return not self.noise.empty

    def sd(self, model: str, kind: str) -> float:
        """One run's seed noise (nats) of ``model`` for ``kind`` (NaN when no size was repeated)."""
        return comparisons.noise_of(self.noise, model, kind)[0] if self.measured else math.nan

    def sds(self, models, kind: str) -> np.ndarray:
        """:meth:`sd` for each of ``models``."""
        models = list(models)
        by_model = {m: self.sd(m, kind) for m in dict.fromkeys(models)}
        return np.asarray([by_model[m] for m in models], float)

    def threshold(self, sd_a, sd_b, n_a=1, n_b=1) -> np.ndarray:
        """The smallest difference beyond the noise between means of ``n_a`` and ``n_b`` runs of seed noise
        ``sd_a`` and ``sd_b`` (nats; NaN if the noise is not measured)."""
        sd_a, sd_b, n_a, n_b = (np.asarray(x, float) for x in (sd_a, sd_b, n_a, n_b))
        return self.factor * np.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)


def resolution(records: pd.DataFrame, factor: float = RESOLVE_FACTOR) -> Resolution:
    """A :class:`Resolution` from the per-size seed noise of the study's runs among ``records``
    (:func:`comparisons.seed_noise`)."""
    if not (isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor > 0):
        raise ValueError(f"resolution: argument 'factor' must be a positive number, got {factor!r}")
    rec = comparisons.study_records(records) if records is not None and not records.empty else pd.DataFrame()
    return Resolution(comparisons.seed_noise(rec), float(factor))


def classify(diff, threshold, *, lower: str, higher: str) -> np.ndarray:
    """``lower`` / ``higher`` (beyond ``threshold``, by the sign of ``diff``), ``"within noise"`` or ``"not
    judged"`` (no threshold, or a NaN difference)."""
    d = np.atleast_1d(np.asarray(diff, float))
    thr = np.broadcast_to(np.asarray(threshold, float), d.shape)
    out = np.full(d.shape, "not judged", dtype=object)
    ok = np.isfinite(d) & np.isfinite(thr)
    out[ok & (np.abs(d) <= thr)] = "within noise"
    out[ok & (d < -thr)] = lower
    out[ok & (d > thr)] = higher
    return out


# --- protocol 3: capacity gap, students against teachers and against supervised learning -------------------


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.unique(x).size < 2 or np.unique(y).size < 2:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def capacity_gap(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Per student and token budget with two or more teachers (paper Figs. 4, 37): the best teacher (lowest
    mean L_S over the seeds recorded), the strongest teacher (lowest L_T) and ``rise`` = L_S(strongest) -
    L_S(best) >= 0, against the ``threshold`` of a difference of two means of this student size (``gap``:
    ``beyond noise``, ``within noise``, ``none`` when the strongest teacher is the best, or ``not judged``);
    ``seeds``, the fewest seeds
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
        # A difference of two means over n_b and n_s independent seeds of the same student size (conservative:
        # seeds pair the students).
        sd = res.sd(model, "distilled")
        thr = float(res.threshold(sd, sd, best["seeds"], strongest["seeds"]))
        if best.name == strongest.name:
            gap, worse = "none", ""
        else:
            by_seed = g.pivot_table(index="seed", columns="teacher", values="val_loss")
            both = by_seed[[best.name, strongest.name]].dropna()
            worse = f"{int((both[strongest.name] > both[best.name]).sum())}/{len(both)}"
            gap = "not judged" if not np.isfinite(thr) else "beyond noise" if rise > thr else "within noise"
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
    """Every run with a recorded teacher, its margin ``vs_teacher = L_S - L_T``, the ``threshold`` of that
    difference (the student size's distilled seed noise and the teacher size's supervised one) and ``judged``:
    ``below`` (the student beats its teacher by more than the noise), ``above``, ``within noise`` or ``not
    judged``."""
    d = unique_runs(dist).dropna(subset=["teacher_loss"]).copy()
    d["threshold"] = res.threshold(
        res.sds(d["model"], "distilled"), res.sds(d["teacher_model"], "supervised")
    )
    d["judged"] = classify(d["vs_teacher"], d["threshold"], lower="below", higher="above")
    return d


def versus_supervised(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Every run with a recorded baseline, ``vs_supervised = L_S - L̃_S``, the ``threshold`` of that
    difference (the student size's distilled and supervised seed noise) and ``judged``: ``better``
    (distillation beats supervised learning by more than the noise), ``worse``, ``within noise`` or ``not
    judged``."""
    d = unique_runs(dist).dropna(subset=["baseline_loss"]).copy()
    d["threshold"] = res.threshold(res.sds(d["model"], "distilled"), res.sds(d["model"], "supervised"))
    d["judged"] = classify(d["vs_supervised"], d["threshold"], lower="better", higher="worse")
    return d


def convergence(dist: pd.DataFrame, res: Resolution) -> pd.DataFrame:
    """Per student with baselines at two or more token budgets: the best teacher's advantage over supervised
    learning, ``gap = min over teachers of L_S - L̃_S``, at the fewest and the most tokens, and the
    ``threshold`` of one such difference at the most tokens (:func:`versus_supervised`)."""
    cols = ["model", "budgets", "tokens_low", "tokens_high", "gap_low", "gap_high", "threshold"]
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
        rows.append(
            {
                "model": model, "budgets": len(g), "tokens_low": float(lo["tokens"]),
                "tokens_high": float(hi["tokens"]), "gap_low": float(lo["vs_supervised"]),
                "gap_high": float(hi["vs_supervised"]), "threshold": float(hi["threshold"]),
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
    teachers' range of sizes, beside the ``threshold`` of a difference of two runs of this student size. The
    claim's verdict is :mod:`distill_scaling.verdicts`' (all students at once)."""
    cols = [
        "model", "teachers", "rms_resid", "noise_ratio", "slope", "slope_low", "slope_high", "size_effect",
        "threshold",
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
        sd = res.sd(model, "distilled")
        thr = float(res.threshold(sd, sd))
        ratio = rms / (sd / float(g["val_loss"].mean()))
        rows.append(
            {
                "model": model, "teachers": len(g), "rms_resid": rms, "noise_ratio": ratio, "slope": slope,
                "slope_low": lo, "slope_high": hi, "size_effect": effect, "threshold": thr,
            }
        )  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


# --- the runs the distillation law is fitted to -------------------------------------------------------------


def fit_runs(dist: pd.DataFrame) -> pd.DataFrame:
    """The runs the law is fitted to: every recorded distillation run once, with its teacher's loss
    (``key, n_params, tokens, teacher_loss, val_loss``) and ``budget``, the protocol-1 student budget its
    student compute lies on (NaN where none; the largest where blocks differ), which picks the decade test's
    held-out runs (:func:`distill_scaling.fits.decade_extrapolation`)."""
    d = unique_runs(dist).dropna(subset=["teacher_loss", "val_loss"])
    out = d[["key", "n_params", "tokens", "teacher_loss", "val_loss"]].reset_index(drop=True)
    out["budget"] = out["key"].map(dist.groupby("key")["student_budget"].max()).astype(float)
    return out
