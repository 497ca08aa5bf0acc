"""Chapter "Distillation scaling at small scale": the three protocols, the distillation law and its claims.

The chapter reads the study's distillation records (:func:`distill_scaling.distillation_study.study_design`)
with their teachers and supervised baselines; ``full`` trains the missing ones first, ``smoke`` trains a tiny
design (:func:`smoke_specs`) into a temporary store in seconds. The analysis is in
:mod:`distill_scaling.distillation_study`; the verdicts on the paper's claims are read from
``data/findings.json`` (:mod:`distill_scaling.verdicts`). This module holds the chapter's parameters, the
loading of its runs and laws, and the numbers, tables and figures of its page; the page's prose is in the
notebook. The law fit with its bootstrap is stored in ``data/fits/distillation.json``; refresh it from the
committed records (``--profile full`` trains the missing runs first) with::

    python -m distill_scaling fit --law distillation

Why this module is long: it holds the chapter's three protocols, the distillation law's fit and its figures,
which share one loading of the study's runs and the chapter's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, NullLocator

from .. import comparisons, fit, fit_files, fits, plots, runs, spec, store, study, verdicts
from .. import distillation_study as ds
from .. import supervised_study as ss
from ..laws import PAPER_DISTILLATION, supervised_loss
from ..model import config_from_name
from ..params import Param, Params
from ..presentation import (
    DISTILLATION_LABELS,
    and_join,
    direction,
    interval_check,
    law_coefficient_frame,
    num,
)

CHAPTER = "07_distillation_scaling"

#: The paper's distillation fit (Table 6, App. F): runs, the extrapolation split (L_S >= 2.3 kept 551 of 697).
PAPER_RUNS, PAPER_HIGH_RUNS, PAPER_HIGH_LOSS = 697, 551, 2.3
#: Coefficients of the distillation law (its fit needs at least this many runs).
N_COEFFICIENTS = fits.LAWS["distillation"].n_coefficients
#: Relative prediction error the paper reports for its laws ("<~ 1%", Fig. 5).
PAPER_ERROR = 0.01
#: The paper's fixed-M protocols: M = 20 tokens per parameter, students at 20N..320N (1..16 M).
PAPER_M = 20.0

#: The claims of ``data/findings.json`` this chapter shows: glue prefix -> (claim id, the claim's own fields
#: glued besides its verdict, effect, interval and resolution; a list is glued as its length, ``n_<field>``).
CLAIMS = {
    "gap": ("capacity-gap", ("pairs", "strongest_teacher", "predicted", "runs_for_predicted")),
    "beat": (
        "student-beats-teacher",
        ("student", "teacher_model", "student_tokens", "below_teacher", "weak_to_strong_runs"),
    ),
    "collapse": ("teacher-only-through-LT", ("margin", "students", "teachers")),
    "threshold": (
        "threshold-grows-with-student",
        (
            "pairs",
            "students",
            "crossovers",
            "crossovers_used",
            "crossover_student_sizes",
            "token_slope",
            "token_slope_interval.0",
            "token_slope_interval.1",
            "advantage_at_fixed_compute.effect",
            "advantage_at_fixed_compute.interval.0",
            "advantage_at_fixed_compute.interval.1",
        ),
    ),
    "pretraining": (
        "teacher-pretraining-never-wins",
        (
            "judged_on",
            "predicted",
            "runs.compared",
            "runs.ahead",
            "runs.paired",
            "runs.paired_groups",
            "runs.best_group.student",
            "runs.best_group.teacher_model",
            "runs.best_group.student_tokens",
            "runs.best_group.seeds",
            "law.plans_inside_fitted_ranges",
            "law.effect",
            "law.interval.0",
            "law.interval.1",
        ),
    ),
    "extrapolation": (
        "distillation-extrapolation",
        ("max_error", "mean_error", "n_held_out", "compute_decades_beyond_fit"),
    ),
}
#: Fields of a claim in fractions, glued in percent.
PERCENT_FIELDS = ("max_error", "mean_error")
#: Fields of a claim that count runs, pairs, plans or tokens (glued as ints where known).
COUNT_FIELDS = (
    "pairs", "runs_for_predicted", "student_tokens", "below_teacher", "weak_to_strong_runs", "teachers",
    "plans_inside_fitted_ranges", "n_held_out", "crossovers_used", "crossover_student_sizes", "compared",
    "ahead", "seeds", "paired", "paired_groups",
)  # fmt: skip


def _field(record: dict, path: str):
    """``record["a"]["b"][0]`` for the path ``a.b.0``; None where any step is missing."""
    v = record
    for step in path.split("."):
        if isinstance(v, dict):
            v = v.get(step)
        elif isinstance(v, list | tuple) and step.isdigit() and int(step) < len(v):
            v = v[int(step)]
        else:
            return None
    return v


#: The smoke profile's tiny design. Teachers: one IsoFLOP budget (they serve protocols 3 and 2 at once);
#: students L1-d16 at 1 and 2 x M* N_S with a stand-in M* small enough for runs of a second (protocol 3),
#: protocol 1 from the L2-d32 teacher at two student budgets.
SMOKE_M_STAR = 6.0
SMOKE_TEACHER_BUDGET = 3e9
SMOKE_TEACHERS = ("L1-d16", "L2-d32", "L3-d48")
SMOKE_STUDENT = "L1-d16"
SMOKE_MULTIPLES = (1, 2)
SMOKE_P1_TEACHER = "L2-d32"
SMOKE_P1_BUDGETS = (5e8, 1.5e9)
SMOKE_P1_STUDENTS = ("L1-d16", "L2-d32", "L3-d48")
#: Extra seeds of the smoke's first baseline: the smoke's noise measurement.
SMOKE_SEEDS = (1, 2)

PARAMS: dict[str, Param] = {
    "n_resamples": Param(
        "int",
        "bootstrap resamples of the distillation-law fit stored in data/fits (the paper: 4096)",
        min=0,
        max=100_000,
        default=4096,
        profiles={"smoke": 4},
    ),
    "live_resamples": Param(
        "int",
        "bootstrap resamples when the default profile fits live because the stored fit is not for the "
        "current records (a quick interval; the stored fit has n_resamples)",
        min=0,
        max=100_000,
        default=32,
        profiles={"smoke": 4},
    ),
    "fit_refine": Param(
        "int",
        "grid starts refined by L-BFGS-B in each law fit (fit.fit_distillation's refine)",
        min=1,
        max=216_000,
        default=256,
        profiles={"smoke": 16},
    ),
    "fit_maxiter": Param(
        "int",
        "L-BFGS-B iterations per refinement (0: the fitter's default, 20000); smoke caps it because its "
        "tiny runs make an ill-posed fit",
        min=0,
        max=1_000_000,
        default=0,
        profiles={"smoke": 200},
    ),
    "level": Param("float", "coverage of every interval", min=0.5, max=0.999, default=0.9),
    "resolve_factor": Param(
        "float",
        "the tables mark a difference of runs beyond the seed noise when it exceeds this many standard "
        "deviations of such a difference (the noise of each run's model size and kind)",
        min=0.5,
        max=10.0,
        default=ds.RESOLVE_FACTOR,
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


def _smoke_parts():
    """(teachers, [(block, spec, student budget)], supervised baselines) of the smoke design."""
    teachers = [
        study.supervised(m, study.tokens_for_compute(m, SMOKE_TEACHER_BUDGET)) for m in SMOKE_TEACHERS
    ]
    n_s = config_from_name(SMOKE_STUDENT).n_params
    dist = []
    for k in SMOKE_MULTIPLES:
        for t in teachers:
            s = study.distill(SMOKE_STUDENT, int(k * SMOKE_M_STAR * n_s), t)
            dist.append(("protocol3", s, math.nan))
            if k == 1:
                dist.append(("protocol2", s, math.nan))
    p1_teacher = teachers[SMOKE_TEACHERS.index(SMOKE_P1_TEACHER)]
    for c in SMOKE_P1_BUDGETS:
        for m in SMOKE_P1_STUDENTS:
            dist.append(("protocol1", study.distill(m, study.tokens_for_compute(m, c), p1_teacher), c))
    base = {}
    for block, s, _ in dist:
        if block != "protocol1":
            b = study.baseline_of(s)
            base.setdefault(b.key, b)
    first = next(iter(base.values()))
    extra = [first.replace(seed=seed, data_seed=seed) for seed in SMOKE_SEEDS]
    return teachers, dist, list(base.values()) + extra


def smoke_specs() -> list[spec.RunSpec]:
    """Every run of the smoke design: three tiny teachers on one IsoFLOP budget, their students (protocols 3,
    2 and 1 in miniature), the students' supervised baselines and two extra seeds of one baseline (the
    noise). Built with the study's own helpers; seconds of training in all."""
    teachers, dist, base = _smoke_parts()
    seen: dict[str, spec.RunSpec] = {}
    for s in [*teachers, *(s for _, s, _ in dist), *base]:
        seen.setdefault(s.key, s)
    return list(seen.values())


def smoke_design() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The smoke's distillation design and its supervised design (teachers and baselines)."""
    teachers, dist, base = _smoke_parts()
    frames = []
    for block in ds.DISTILL_BLOCKS:
        part = [(s, c) for b, s, c in dist if b == block]
        frames.append(
            ds.design_table(
                [s for s, _ in part], block, m_star=SMOKE_M_STAR, teachers={t.key: t for t in teachers},
                student_budget_of=[c for _, c in part],
                teacher_budget_of=[SMOKE_TEACHER_BUDGET] * len(part),
            )
        )  # fmt: skip
    support = pd.concat(
        [ss.design_table(teachers, "teachers"), ss.design_table(base, "baselines")], ignore_index=True
    )
    return pd.concat(frames, ignore_index=True), support


@dataclass
class StudyData:
    """What the chapter reads: designs, records, the joined distillation runs, the supervised runs (for the
    law inside the distillation law), the seed noise per model size and kind of run
    (:func:`comparisons.seed_noise`) and the progress of the design."""

    design: pd.DataFrame
    support: pd.DataFrame
    records: pd.DataFrame
    dist: pd.DataFrame
    supervised: pd.DataFrame
    noise: pd.DataFrame
    progress: pd.DataFrame

    def block(self, name: str) -> pd.DataFrame:
        """The recorded runs of one protocol block."""
        return self.dist[self.dist["block"] == name]

    def gap_runs(self) -> pd.DataFrame:
        """The recorded runs of the capacity gap: protocol 3 and its extra seeds."""
        return self.dist[self.dist["block"].isin(ds.GAP_BLOCKS)]

    @property
    def n_recorded(self) -> int:
        return int(self.dist["key"].nunique())

    @property
    def n_total(self) -> int:
        return int(self.design["key"].nunique())


def load_study(P: Params, progress: bool | None = None) -> StudyData:
    """Train what the profile asks for (``full``: the study's missing distillation runs with their teachers
    and baselines; ``smoke``: the tiny design), then read the records. ``default`` trains nothing."""
    if P.profile == "smoke":
        specs = smoke_specs()
        design, support = smoke_design()
        sup_design = support
    else:
        specs = None
        design = ds.study_design()
        support = ss.study_design(ds.SUPPORT_BLOCKS)
        sup_design = ss.study_design()
    if P.profile != "default":
        specs = ds.study_specs() if specs is None else specs
        progress = P.profile == "full" if progress is None else progress
        kw = {"eval_tokens": P.eval_tokens} if P.eval_tokens else {}
        runs.ensure(specs, workers=P.workers, threads=1, progress=progress, **kw)
    records = store.load_records(P.runs_dir)
    dist = ds.distillation_runs(records, design)
    sup = ss.supervised_runs(records, sup_design)
    noise = comparisons.seed_noise(comparisons.study_records(records) if not records.empty else records)
    cols = ["block", "key", "flops"]
    both = pd.concat([support[cols], design[cols]], ignore_index=True)
    prog = ss.progress_table(records, both) if len(both) else pd.DataFrame()
    return StudyData(design, support, records, dist, sup, noise, prog)


def resolution(data: StudyData, P: Params) -> ds.Resolution:
    """The screen of the tables' single-run differences: the per-size seed noise, ``P.resolve_factor``."""
    return ds.Resolution(data.noise, P.resolve_factor)


# --- the laws -----------------------------------------------------------------------------------------------


def supervised_law(data: StudyData, P: Params) -> fits.SupervisedInside:
    """The supervised law inside the distillation law (:func:`distill_scaling.fits.supervised_inside`):
    chapter 06's stored fit when there is one (the smoke profile fits its own tiny runs), else a fit of the
    recorded supervised runs now."""
    return fits.supervised_inside(
        data.supervised, None if P.profile == "smoke" else fit_files.fit_path("supervised"), level=P.level,
        refine=fit.DEFAULT_REFINE["supervised"] if P.profile != "smoke" else 8, maxiter=P.fit_maxiter or None,
    )  # fmt: skip


def fit_path(P: Params) -> Path:
    """The stored law fit: ``data/fits/distillation.json``; for ``smoke`` a file next to the scratch store."""
    if P.profile == "smoke":
        return Path(P.runs_dir).parent / "fits" / "distillation.json"
    return fit_files.fit_path("distillation")


def distillation_law(
    data: StudyData, sup: fits.SupervisedInside, P: Params, *, write: bool | None = None
) -> fits.FitState:
    """The law fit for the chapter (:func:`distill_scaling.fits.current_fit`): the stored one when it is of
    exactly these runs, else fitted now, and stored unless the profile is ``default`` (``write``
    overrides)."""
    write = P.profile != "default" if write is None else write
    return fits.current_fit(
        "distillation", ds.fit_runs(data.dist), fit_path(P), n_resamples=P.n_resamples,
        live_resamples=P.live_resamples, write=write, supervised=sup.coef, level=P.level, refine=P.fit_refine,
        maxiter=P.fit_maxiter or None, provenance={"supervised": sup.note},
    )  # fmt: skip


# --- numbers ------------------------------------------------------------------------------------------------


def _plain(v):
    """A glued value: a plain float, int or str (None and missing numbers as NaN)."""
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, str):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def claim_numbers(findings: pd.DataFrame) -> dict[str, float | int | str]:
    """Of each claim of :data:`CLAIMS` in ``findings`` (:func:`distill_scaling.verdicts.load_findings`):
    ``dis_<prefix>_verdict``, ``_effect``, ``_lo``, ``_hi``, ``_resolution`` (percent for a claim in
    fractions) and its own fields (:data:`CLAIMS`); ``not tested`` and NaN for a claim the file lacks."""
    by_id = {r["id"]: r for r in findings.to_dict("records")} if len(findings) else {}
    out: dict[str, float | int | str] = {}
    for prefix, (cid, fields) in CLAIMS.items():
        r = by_id.get(cid, {})
        key = f"dis_{prefix}"
        out |= {f"{key}_{name}": v for name, v in verdicts.finding_numbers(r).items()}
        for field in fields:
            v = _field(r, field)
            name = field.replace(".", "_")
            last = field.rsplit(".", 1)[-1]
            if isinstance(v, list | tuple):
                out[f"{key}_n_{name}"] = len(v)
            elif last in PERCENT_FIELDS:
                out[f"{key}_{name}"] = 100.0 * _plain(v)
            elif last in COUNT_FIELDS and isinstance(_plain(v), float) and math.isfinite(_plain(v)):
                out[f"{key}_{name}"] = int(_plain(v))
            else:
                out[f"{key}_{name}"] = _plain(v)
    lo, hi = out["dis_threshold_token_slope_interval_0"], out["dis_threshold_token_slope_interval_1"]
    out["dis_threshold_token_trend"] = direction(
        lo, hi, "falls as the student grows", "grows with the student", "has no resolved trend"
    )
    return out


def progress_numbers(data: StudyData) -> dict[str, float | int]:
    """Runs recorded of the design (distillation runs; the teachers and same-token supervised baselines of
    every block; each protocol), the distillation runs' compute (PFLOP), and how well the teacher's loss
    measured in the students' runs matches the teacher's record."""
    out: dict[str, float | int] = {"dis_n_runs": data.n_recorded, "dis_n_design": data.n_total}
    recorded = set(data.records["key"]) if len(data.records) else set()
    teachers = set(data.design["teacher"].dropna())
    # Baselines the design trains (protocol 1 and the pretraining block compare at equal compute instead).
    baselines = set(data.design["baseline_key"].dropna()) & set(data.support["key"])
    for name, keys in (("teachers", teachers), ("baselines", baselines)):
        out[f"dis_{name}_recorded"] = len(keys & recorded)
        out[f"dis_{name}_total"] = len(keys)
    out["dis_compute_pflop"] = (
        float(data.dist.drop_duplicates("key")["flops"].sum()) / 1e15 if len(data.dist) else 0.0
    )
    agreement = ds.teacher_agreement(data.dist)
    out["dis_agreement_runs"] = int(agreement["n"])
    out["dis_agreement_max"] = float(agreement["max_abs"])
    for block in ("protocol2", "protocol1"):
        out[f"dis_{block}_recorded"] = int(data.block(block)["key"].nunique())
        out[f"dis_{block}_total"] = int(data.design.loc[data.design["block"] == block, "key"].nunique())
    out["dis_protocol1_teachers"] = int(data.block("protocol1")["teacher"].nunique())
    return out


def design_numbers(data: StudyData) -> dict[str, float | int]:
    """Protocol 3's design: teachers (how many, smallest and largest N_T), students, the tokens per
    parameter of M*, the distillation settings; the token rules of :mod:`distill_scaling.spec`."""
    d = data.design[data.design["block"] == "protocol3"]
    teachers = d.drop_duplicates("teacher")
    m_star = float(np.median(d["tokens_requested"] / (d["multiple"] * d["n_params"]))) if len(d) else math.nan
    return {
        "dis_p3_teachers": len(teachers),
        "dis_p3_teacher_min": float(teachers["teacher_n_params"].min()) if len(d) else math.nan,
        "dis_p3_teacher_max": float(teachers["teacher_n_params"].max()) if len(d) else math.nan,
        "dis_p3_students": int(d["model"].nunique()),
        "dis_m_star": m_star,
        "dis_mix": float(d["mix"].iloc[0]) if len(d) else math.nan,
        "dis_temperature": float(d["temperature"].iloc[0]) if len(d) else math.nan,
        "dis_max_epochs": float(spec.MAX_EPOCHS),
        "dis_min_steps": int(spec.MIN_STEPS),
    }


def noise_numbers(noise: pd.DataFrame, res: ds.Resolution) -> dict[str, float | int]:
    """The seed noise: configurations repeated over seeds per kind of run, the smallest and largest noise of
    one run over sizes and kinds, and the screen's factor."""
    kinds = noise.groupby("kind")["configs"].sum() if len(noise) else pd.Series(dtype=int)
    return {
        "dis_noise_distilled_configs": int(kinds.get("distilled", 0)),
        "dis_noise_supervised_configs": int(kinds.get("supervised", 0)),
        "dis_noise_min": float(noise["sd"].min()) if len(noise) else math.nan,
        "dis_noise_max": float(noise["sd"].max()) if len(noise) else math.nan,
        "dis_resolve_factor": float(res.factor),
    }


def law_numbers(state: fits.FitState, P: Params) -> dict[str, float | int | str]:
    """The distillation-law fit: runs, the in-sample error, the paper's split by loss (``dis_split_*``), the
    test a decade out (``dis_decade_*``, :func:`distill_scaling.fits.decade_summary`; errors in %) and the
    coefficients the runs do not bound (``dis_unbounded``, ``dis_at_zero``)."""
    f = state.fit
    check = interval_check(f, DISTILLATION_LABELS)
    out: dict[str, float | int | str] = {
        "dis_fit_refine": int(P.fit_refine),
        "dis_n_coefficients": N_COEFFICIENTS,
        "dis_unbounded": check["unbounded"],
        "dis_at_zero": check["at_zero"],
    } | {f"dis_decade_{k}": v for k, v in fits.decade_summary(f).items()}
    if f is None:
        names = ("dis_rms_all", "dis_max_all", "dis_high_threshold", "dis_n_fit_high", "dis_split_held")
        names += ("dis_split_mean", "dis_split_max", "dis_split_bias")
        return out | dict.fromkeys(names, math.nan)
    e = f.errors()
    return out | {
        "dis_rms_all": 100 * e["rms_all"],
        "dis_max_all": 100 * e["max_all"],
        "dis_high_threshold": float(f.threshold) if f.threshold is not None else math.nan,
        "dis_n_fit_high": int(e["n_fit_high"]),
        "dis_split_held": int(e["n_held_out"]),
        "dis_split_mean": 100 * e["mean_held_out"],
        "dis_split_max": 100 * e["max_held_out"],
        "dis_split_bias": 100 * e["bias_held_out"],
    }


def _advantage(law: fits.LawFit, n_params, tokens, teacher_loss) -> np.ndarray:
    """L_S - L̃_S by the fitted laws: the distillation law's student loss minus the supervised law's (the one
    held fixed in the fit) for the same student size and tokens."""
    return law.predict(n_params, tokens, teacher_loss) - supervised_loss(n_params, tokens, law.supervised)


def _map_runs(dist: pd.DataFrame) -> pd.DataFrame:
    """The runs drawn on the student maps: protocols 1 and 3, those with a supervised baseline."""
    return dist[dist["block"].isin(("protocol1", "protocol3"))].dropna(subset=["vs_supervised"])


def advantage_map(law: fits.LawFit, teacher_loss: float, n_grid: int = 60):
    """Our law's L_S - L̃_S over the fitted range of student sizes and tokens for a teacher of loss
    ``teacher_loss``: ``(N_S grid, D_S grid, difference)``, the difference of shape (sizes, tokens)."""
    r = law.runs
    n = np.geomspace(r["n_params"].min(), r["n_params"].max(), n_grid)
    d = np.geomspace(r["tokens"].min(), r["tokens"].max(), n_grid)
    nn, dd = np.meshgrid(n, d, indexing="ij")
    return n, d, _advantage(law, nn, dd, np.full_like(nn, teacher_loss))


def map_numbers(law: fits.LawFit | None, dist: pd.DataFrame) -> dict[str, float | int]:
    """The student maps: the share (%) of the plane where our law puts distillation ahead for the weakest and
    the strongest teacher, the runs on the maps and how many agree in sign with the law."""
    runs_ = _map_runs(dist)
    if law is None or runs_.empty:
        return {"dis_map_share_weak": math.nan, "dis_map_share_strong": math.nan, "dis_map_runs": len(runs_),
                "dis_map_agree": 0}  # fmt: skip
    teachers = runs_.drop_duplicates("teacher").sort_values("teacher_n_params")
    shares = [float(np.mean(advantage_map(law, t["teacher_loss"])[2] < 0)) for _, t in teachers.iterrows()]
    n, d, lt = (runs_[c].to_numpy(float) for c in ("n_params", "tokens", "teacher_loss"))
    agree = int(np.sum(np.sign(_advantage(law, n, d, lt)) == np.sign(runs_["vs_supervised"].to_numpy(float))))
    return {
        "dis_map_share_weak": 100 * shares[0],
        "dis_map_share_strong": 100 * shares[-1],
        "dis_map_runs": len(runs_),
        "dis_map_agree": agree,
    }


def teacher_map(law: fits.LawFit, n_s: float, d_s: float, teachers: pd.DataFrame, n_grid: int = 60):
    """Our laws' L_S - L̃_S for a student of ``n_s`` parameters and ``d_s`` tokens over teacher sizes and
    tokens (the range of ``teachers``' ``teacher_n_params`` and ``teacher_tokens``), the teacher's loss from
    the supervised law held fixed in the fit: ``(N_T grid, D_T grid, difference)``, shape (sizes, tokens)."""
    n = np.geomspace(teachers["teacher_n_params"].min(), teachers["teacher_n_params"].max(), n_grid)
    d = np.geomspace(teachers["teacher_tokens"].min(), teachers["teacher_tokens"].max(), n_grid)
    nn, dd = np.meshgrid(n, d, indexing="ij")
    return (
        n,
        d,
        _advantage(
            law, np.full_like(nn, n_s), np.full_like(nn, d_s), supervised_loss(nn, dd, law.supervised)
        ),
    )


def _optima(frame: pd.DataFrame, size: str, groups: list[str], n_points: int = 3) -> pd.DataFrame:
    """Per group, the parabola vertex in ln(``size``) of the student loss
    (:func:`supervised_study.parabola_minimum`): ``n_star``, ``loss_star``, ``edge`` (``"small"``/``"large"``:
    the lowest point is a profile's end, so the optimum lies beyond it) and ``sizes``."""
    rows = []
    for key, g in frame.groupby(groups, sort=True):
        pm = ss.parabola_minimum(g[size].to_numpy(float), g["val_loss"].to_numpy(float), n_points)
        best = {"n_star": pm.n_star, "loss_star": pm.loss_star, "edge": pm.edge}
        rows.append(dict(zip(groups, key, strict=True)) | best | {"sizes": int(g[size].nunique())})
    return pd.DataFrame(rows, columns=[*groups, "n_star", "loss_star", "edge", "sizes"])


def protocol1_optima(p1: pd.DataFrame) -> pd.DataFrame:
    """Paper Fig. 39a: the best student size per teacher and student budget (protocol 1)."""
    return _optima(
        p1, "n_params", ["teacher", "teacher_model", "teacher_n_params", "teacher_loss", "student_budget"]
    )


def protocol2_optima(p2: pd.DataFrame) -> pd.DataFrame:
    """Paper Fig. 39b: the best teacher size per student and teacher budget (protocol 2); ``baseline_loss``
    is the student's supervised loss at the same tokens."""
    return _optima(p2, "teacher_n_params", ["model", "n_params", "baseline_loss", "teacher_budget"])


def supervised_optima(supervised: pd.DataFrame, budgets: Sequence[float]) -> dict[float, float]:
    """The measured compute-optimal supervised loss L*(C) at each of ``budgets`` that our supervised
    IsoFLOP profiles cover with an interior minimum (chapter 06's analysis, point estimates)."""
    iso = supervised[supervised["block"].isin(ss.ISOFLOP_BLOCKS)]
    if iso.empty:
        return {}
    co = ss.compute_optimal(iso, n_boot=0)
    out = {}
    for b in budgets:
        for c, pm in co.parabolas.items():
            if pm.interior and math.isclose(c, b, rel_tol=ss.BUDGET_RTOL):
                out[float(b)] = float(pm.loss_star)
    return out


def protocol_best(data: StudyData) -> tuple[pd.DataFrame, dict[float, float], pd.DataFrame]:
    """The optima of protocols 1 and 2 and the supervised compute-optimal losses at protocol 1's student
    budgets (for the figure and its sentences)."""
    opt1 = protocol1_optima(data.block("protocol1"))
    sup_star = supervised_optima(data.supervised, opt1["student_budget"].unique())
    return opt1, sup_star, protocol2_optima(data.block("protocol2"))


def optima_numbers(opt1: pd.DataFrame, opt2: pd.DataFrame) -> dict[str, int]:
    """Of the IsoFLOP optima: protocol 1's profiles, interior minima and interior best students larger than
    their teacher; protocol 2's profiles, interior minima, interior best teachers smaller than their student
    and profiles whose best student beats its supervised baseline."""
    in1, in2 = opt1[opt1["edge"].isna()], opt2[opt2["edge"].isna()]
    return {
        "dis_p1_profiles": len(opt1),
        "dis_p1_interior": len(in1),
        "dis_p1_larger": int((in1["n_star"] > in1["teacher_n_params"]).sum()),
        "dis_p2_profiles": len(opt2),
        "dis_p2_interior": len(in2),
        "dis_p2_smaller": int((in2["n_star"] < in2["n_params"]).sum()),
        "dis_p2_beats": int((opt2["loss_star"] < opt2["baseline_loss"]).sum()),
    }


def paper_numbers() -> dict[str, float | int | str]:
    """The paper's numbers the page quotes."""
    return {
        "dis_paper_runs": PAPER_RUNS,
        "dis_paper_high_runs": PAPER_HIGH_RUNS,
        "dis_paper_high_loss": PAPER_HIGH_LOSS,
        "dis_paper_error": 100 * PAPER_ERROR,
        "dis_paper_m": PAPER_M,
        "dis_paper_multiples": and_join([str(k) for k in ds.PAPER_M_MULTIPLES]),
        "dis_level": 100 * comparisons.LEVEL,
        "dis_null_margin": 100 * comparisons.NULL_MARGIN,
    }


def numbers(
    data: StudyData, res: ds.Resolution, state: fits.FitState, findings: pd.DataFrame, P: Params
) -> dict[str, float | int | str]:
    """Every value glued into the page's prose: plain numbers, model names and verdict words."""
    opt1, _, opt2 = protocol_best(data)
    out = (
        paper_numbers() | progress_numbers(data) | design_numbers(data) | noise_numbers(data.noise, res)
        | claim_numbers(findings) | law_numbers(state, P) | map_numbers(state.fit, data.dist)
        | optima_numbers(opt1, opt2)
    )  # fmt: skip
    return {k: _plain(v) for k, v in out.items()}


# --- tables -------------------------------------------------------------------------------------------------


def progress_frame(data: StudyData) -> pd.DataFrame:
    """Runs, compute (PFLOP) and training wall time recorded per block of the chapter's design."""
    return ss.progress_frame(data.progress)


def noise_frame(noise: pd.DataFrame) -> pd.DataFrame:
    """The seed noise of one run's final loss per model size and kind of run (:func:`comparisons.seed_noise`):
    its standard deviation, degrees of freedom and the configurations repeated over seeds."""
    cols = ["kind", "model", "N", "seed sd (nats)", "dof", "configurations"]
    if noise.empty:
        return pd.DataFrame(columns=cols).set_index(["kind", "model"])
    n = noise.sort_values(["kind", "n_params"])
    out = pd.DataFrame(
        {
            "kind": n["kind"], "model": n["model"], "N": [num(v) for v in n["n_params"]],
            "seed sd (nats)": n["sd"].astype(float), "dof": n["dof"], "configurations": n["configs"],
        }
    )  # fmt: skip
    return out.set_index(["kind", "model"])


def protocol3_design_frame(design: pd.DataFrame) -> pd.DataFrame:
    """Protocol 3's design per student: its size, the teachers and the token multiples of M* trained."""
    d = design[design["block"] == "protocol3"]
    cols = ["student", "N_S", "teachers", "M* multiples"]
    if d.empty:
        return pd.DataFrame(columns=cols).set_index("student")
    rows = [
        {
            "student": model, "N_S": num(g["n_params"].iloc[0]), "teachers": g["teacher"].nunique(),
            "M* multiples": ", ".join(f"{k:g}" for k in sorted({round(float(k), 3) for k in g["multiple"]})),
        }
        for model, g in d.sort_values("n_params").groupby("model", sort=False)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols).set_index("student")


def protocol3_frame(p3: pd.DataFrame) -> pd.DataFrame:
    """The protocol-3 runs: student, token multiple, teacher, the three losses, KL and the two differences."""
    cols = ["student", "M* multiple", "D_S", "teacher", "L_T", "L_S", "L̃_S", "KL", "L_S − L_T", "L_S − L̃_S"]
    if p3.empty:
        return pd.DataFrame(columns=cols)
    d = p3.sort_values(["n_params", "tokens", "teacher_loss"], ascending=[True, True, False])
    out = pd.DataFrame(
        {
            "student": d["model"],
            "M* multiple": d["multiple"].round(3),
            "D_S": [num(t) for t in d["tokens"]],
            "teacher": d["teacher_model"],
            "L_T": d["teacher_loss"],
            "L_S": d["val_loss"],
            "L̃_S": d["baseline_loss"],
            "KL": d["val_kl"],
            "L_S − L_T": d["vs_teacher"],
            "L_S − L̃_S": d["vs_supervised"],
        }
    )
    return out.set_index(["student", "M* multiple", "D_S", "teacher"])


def pretraining_frame(findings: pd.DataFrame) -> pd.DataFrame:
    """The designed pairs of the pretraining claim (``runs.designed_groups`` of its finding): per student,
    teacher and student tokens, the supervised tokens at the same total compute (teacher training counted),
    the seeds, the mean advantage (supervised - distilled loss) with its paired interval and what our fitted
    laws give for the same runs. Empty (with its columns) where the file has none."""
    columns = ["student", "teacher", "D_S", "supervised D", "seeds", "advantage [90%]", "our laws"]
    row = findings[findings["id"] == "teacher-pretraining-never-wins"] if len(findings) else findings
    runs = row["runs"].iloc[0] if len(row) and "runs" in row else None
    groups = runs.get("designed_groups", []) if isinstance(runs, dict) else []
    if not groups:
        return pd.DataFrame(columns=columns)
    groups = sorted(groups, key=lambda g: (g["student"], g["teacher_model"], g["student_tokens"]))
    out = pd.DataFrame(
        {
            "student": [g["student"] for g in groups],
            "teacher": [g["teacher_model"] for g in groups],
            "D_S": [num(g["student_tokens"]) for g in groups],
            "supervised D": [num(g["equal_compute_tokens"]) for g in groups],
            "seeds": [int(g["seeds"]) for g in groups],
            "advantage [90%]": [
                f"{g['advantage']:+.4f} [{g['interval'][0]:+.4f}, {g['interval'][1]:+.4f}]" for g in groups
            ],
            "our laws": ["n/a" if g.get("predicted") is None else f"{g['predicted']:+.4f}" for g in groups],
        }
    )
    return out


def gap_frame(gap: pd.DataFrame) -> pd.DataFrame:
    """The capacity-gap table for display (:func:`distill_scaling.distillation_study.capacity_gap`)."""
    cols = [
        "teachers", "seeds", "best teacher", "strongest teacher", "rise (nats)", "noise threshold",
        "rise against the noise", "seeds worse", "KL rank ρ",
    ]  # fmt: skip
    if gap.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "student": gap["model"],
            "M* multiple": gap["multiple"].round(3),
            "teachers": gap["teachers"],
            "seeds": gap["seeds"],
            "best teacher": gap["best_teacher"] + " (L_S " + gap["best_loss"].map("{:.4f}".format) + ")",
            "strongest teacher": gap["strongest_teacher"]
            + " (L_S "
            + gap["strongest_loss"].map("{:.4f}".format)
            + ")",
            "rise (nats)": gap["rise"],
            "noise threshold": gap["threshold"],
            "rise against the noise": gap["gap"],
            "seeds worse": gap["seeds_worse"],
            "KL rank ρ": gap["kl_rank"],
        }
    )
    return out.set_index(["student", "M* multiple"])


def versus_teacher_frame(dist: pd.DataFrame, res: ds.Resolution) -> pd.DataFrame:
    """Per protocol: the runs with a recorded teacher, those below the teacher's loss (and by more than the
    noise of that difference), the students larger than their teacher and how many of those end below it."""
    cols = ["runs", "below L_T", "below by more than the noise", "students larger than the teacher",
            "of them below L_T"]  # fmt: skip
    vt = ds.versus_teacher(dist, res)
    if vt.empty:
        return pd.DataFrame(columns=["protocol", *cols]).set_index("protocol")
    rows = []
    for block, g in vt.groupby("block", sort=True):
        larger = g[g["n_params"] > g["teacher_n_params"]]
        below, beyond = int((g["vs_teacher"] < 0).sum()), int((g["judged"] == "below").sum())
        rows.append([block, len(g), below, beyond, len(larger), int((larger["vs_teacher"] < 0).sum())])
    return pd.DataFrame(rows, columns=["protocol", *cols]).set_index("protocol")


def convergence_frame(p3: pd.DataFrame, res: ds.Resolution) -> pd.DataFrame:
    """Per student: the best teacher's L_S - L̃_S at the fewest and at the most tokens, and the noise
    threshold of one such difference (:func:`distill_scaling.distillation_study.convergence`)."""
    conv = ds.convergence(p3, res)
    cols = ["token budgets", "fewest tokens", "L_S − L̃_S there", "most tokens", "L_S − L̃_S at the most",
            "noise threshold"]  # fmt: skip
    if conv.empty:
        return pd.DataFrame(columns=["student", *cols]).set_index("student")
    out = pd.DataFrame(
        {
            "student": conv["model"], "token budgets": conv["budgets"],
            "fewest tokens": [num(t) for t in conv["tokens_low"]], "L_S − L̃_S there": conv["gap_low"],
            "most tokens": [num(t) for t in conv["tokens_high"]], "L_S − L̃_S at the most": conv["gap_high"],
            "noise threshold": conv["threshold"],
        }
    )  # fmt: skip
    return out.set_index("student")


#: How the page names where the law fit comes from (:attr:`distill_scaling.fits.FitState.source`).
FIT_SOURCES = {
    "stored": "read from data/fits/distillation.json",
    "fitted": "fitted while the page was built, and stored",
    "live": "fitted while the page was built (the stored fit is of other runs), quick bootstrap",
    "pending": "not fitted",
}
#: How the page names where the supervised law inside the distillation law comes from.
SUPERVISED_SOURCES = {
    "stored": "data/fits/supervised.json",
    "fitted": "fitted while the page was built",
    "pending": "not fitted",
}


def law_fit_frame(state: fits.FitState, sup: fits.SupervisedInside) -> pd.DataFrame:
    """Facts of the distillation-law fit: where it comes from, its runs and their span, the bootstrap and
    the supervised law held fixed inside it."""
    f = state.fit
    rows = {"fit": FIT_SOURCES.get(state.source, state.source)}
    if f is not None:
        prov = f.provenance
        rows |= {
            "fitted on": str(prov.get("date", "n/a")),
            "runs": str(len(f.runs)),
            "student sizes, token budgets, teacher losses": ", ".join(
                str(int(f.runs[c].nunique())) for c in ("n_params", "tokens", "teacher_loss")
            ),
            "bootstrap resamples": str(f.n_resamples),
            "refits converged": f"{100 * f.converged_fraction:.1f}%"
            if np.isfinite(f.converged_fraction)
            else "n/a",
            "optimiser converged": "yes" if prov.get("converged", True) else "no",
        }
    rows |= {
        "supervised law inside (L̃_S)": f"{SUPERVISED_SOURCES.get(sup.source, sup.source)}, {sup.n_runs} runs",
        "supervised law of the fit is today's": "yes" if state.supervised_current else "no",
    }
    return pd.DataFrame({"": list(rows.values())}, index=pd.Index(list(rows), name="distillation-law fit"))


#: The coefficients whose value can be compared with the paper's (the others carry our units of N and D).
SHAPE_COEFFICIENTS = {"a": "a′ = β′/(α′+β′)", "d1": "d₁", "c0": "c₀"}


def law_shape_frame(law: fits.LawFit | None) -> pd.DataFrame:
    """The comparable coefficients, a′, d₁ and c₀: ours with its interval beside the paper's, and whether the
    paper's value lies inside our interval."""
    cols = ["ours", "low", "high", "paper", "paper inside ours"]
    rows = []
    for name, label in SHAPE_COEFFICIENTS.items():
        theirs = float(getattr(PAPER_DISTILLATION, name))
        if law is None:
            rows.append([label, math.nan, math.nan, math.nan, theirs, "n/a"])
            continue
        lo, hi = law.params.intervals.get(name, (math.nan, math.nan))
        inside = "n/a" if not (np.isfinite(lo) and np.isfinite(hi)) else "yes" if lo <= theirs <= hi else "no"
        rows.append([label, float(getattr(law.params, name)), float(lo), float(hi), theirs, inside])
    return pd.DataFrame(rows, columns=["coefficient", *cols]).set_index("coefficient")


def coefficient_frame(law: fits.LawFit | None) -> pd.DataFrame:
    """Our distillation coefficients with bootstrap intervals beside the paper's Table 6."""
    return law_coefficient_frame(law, PAPER_DISTILLATION, DISTILLATION_LABELS, PAPER_RUNS)


def teacher_map_frame(law: fits.LawFit | None, p2: pd.DataFrame) -> pd.DataFrame:
    """Per protocol-2 student: the share of the teacher plane where our laws put distillation ahead, and how
    many of its protocol-2 runs agree in sign with them."""
    cols = ["N_S", "distillation ahead (% of the teacher plane)", "runs", "runs agreeing in sign"]
    runs_ = p2.dropna(subset=["vs_supervised"])
    if law is None or runs_.empty:
        return pd.DataFrame(columns=["student", *cols]).set_index("student")
    rows = []
    for n_s, g in runs_.groupby("n_params", sort=True):
        share = float(np.mean(teacher_map(law, n_s, float(g["tokens"].median()), runs_)[2] < 0))
        lt = supervised_loss(g["teacher_n_params"].to_numpy(float), g["teacher_tokens"].to_numpy(float),
                             law.supervised)  # fmt: skip
        pred = _advantage(law, np.full(len(g), n_s), g["tokens"].to_numpy(float), lt)
        agree = int(np.sum(np.sign(pred) == np.sign(g["vs_supervised"].to_numpy(float))))
        rows.append([g["model"].iloc[0], num(n_s), 100 * share, len(g), agree])
    return pd.DataFrame(rows, columns=["student", *cols]).set_index("student")


def collapse_frame(col: pd.DataFrame) -> pd.DataFrame:
    """Per protocol-2 student (:func:`distill_scaling.distillation_study.teacher_collapse`): the scatter
    around one curve in L_T against the seed noise, and the teacher size's own effect against the noise
    threshold."""
    cols = ["teachers", "scatter (%)", "× seed noise", "size effect (nats)", "noise threshold"]
    if col.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "student": col["model"],
            "teachers": col["teachers"],
            "scatter (%)": 100 * col["rms_resid"],
            "× seed noise": col["noise_ratio"],
            "size effect (nats)": col["size_effect"],
            "noise threshold": col["threshold"],
        }
    )
    return out.set_index("student")


def protocol1_optima_frame(opt: pd.DataFrame, sup_star: dict[float, float]) -> pd.DataFrame:
    """Per student budget of protocol 1: the student IsoFLOP profiles (one per teacher), those with an
    interior minimum, the interior best students larger than their teacher, the compute-optimal supervised
    loss L*(C) at that budget and how many best students end below it."""
    cols = ["profiles", "interior minima", "best student larger than the teacher", "supervised L*(C)",
            "best student below L*(C)"]  # fmt: skip
    rows = []
    for b, g in opt.groupby("student_budget", sort=True):
        interior = g[g["edge"].isna()]
        star = sup_star.get(float(b), math.nan)
        larger = int((interior["n_star"] > interior["teacher_n_params"]).sum())
        below = str(int((g["loss_star"] < star).sum())) if np.isfinite(star) else "n/a"
        rows.append([budget_text(b), len(g), len(interior), larger, star, below])
    return pd.DataFrame(rows, columns=["C_S (FLOPs)", *cols]).set_index("C_S (FLOPs)")


# --- figures ------------------------------------------------------------------------------------------------


#: The unit of our losses: our tokens are bytes.
LOSS_UNIT = "nats per byte"


def _log_x(ax) -> None:
    """Log x axis; no minor-tick labels (they collide on the narrow ranges of these figures)."""
    plots.log_axis(ax, "x")
    ax.xaxis.set_minor_formatter(NullFormatter())


def budget_text(b: float) -> str:
    """A compute budget as 3e11 or 1.5e9."""
    return "n/a" if not np.isfinite(b) else f"{b:.2g}".replace("e+0", "e").replace("e+", "e")


def _mult_label(k: float) -> str:
    return f"{k:.3g} $M^*$"


def _note_axes(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _student_blocks(k: int, height: float, height_ratios=(1.6, 1)):
    """Panels for ``k`` students, a pair per student (top and bottom share x), at most two students side by
    side (more go below): ``(fig, axes)``, ``axes[0, j]`` and ``axes[1, j]`` the pair of student ``j``."""
    k = max(1, k)
    ncols = min(k, plots.MAX_PANELS_PER_ROW)
    blocks = math.ceil(k / ncols)
    fig = plt.figure(figsize=(plots.FULL_WIDTH, height * blocks))
    grid = fig.add_gridspec(2 * blocks, ncols, height_ratios=list(height_ratios) * blocks)
    axes = np.empty((2, k), dtype=object)
    for j in range(k):
        b, c = divmod(j, ncols)
        axes[0, j] = fig.add_subplot(grid[2 * b, c])
        axes[1, j] = fig.add_subplot(grid[2 * b + 1, c], sharex=axes[0, j])
        axes[0, j].tick_params(labelbottom=False)
    return fig, axes


def _students(d: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(d.sort_values("n_params")["model"]))


def fig_protocol3(p3: pd.DataFrame, res: ds.Resolution, law: fits.LawFit | None = None):
    """Student loss (top) and KL(teacher || student) (bottom) against the teacher's loss, one column per
    student size, one colour per token multiple (paper Figs. 4, 37). Dashed: the supervised baseline of the
    same (N_S, D_S); dotted diagonal: L_S = L_T; thin lines: the fitted law. The x axis runs from weak to
    strong teachers, named on the top axis; the bars are one run's seed noise at the student's size."""
    students = _students(p3) if len(p3) else []
    k = max(1, len(students))
    fig, axes = _student_blocks(k, 6.4)
    if not students:
        for ax in axes[:, 0]:
            _note_axes(ax, "no protocol-3 run recorded")
        return fig
    mults = sorted({round(float(m), 3) for m in p3["multiple"]})
    colors = dict(zip(mults, plots.sequential(len(mults)), strict=True))
    for j, model in enumerate(students):
        top, bot = axes[0, j], axes[1, j]
        g = p3[p3["model"] == model].assign(mr=lambda x: x["multiple"].round(3))
        sd = res.sd(model, "distilled")
        for m, gm in g.groupby("mr", sort=True):
            gm = gm.sort_values("teacher_loss")
            c = colors[m]
            yerr = sd if np.isfinite(sd) else None
            top.errorbar(gm["teacher_loss"], gm["val_loss"], yerr=yerr, fmt="o-", color=c, ms=5, capsize=2)
            base = gm["baseline_loss"].dropna()
            if len(base):
                top.axhline(float(base.iloc[0]), color=c, ls="--", lw=1)
            bot.plot(gm["teacher_loss"], gm["val_kl"], "o-", color=c, ms=5)
            if law is not None:
                x = np.linspace(gm["teacher_loss"].min() * 0.99, gm["teacher_loss"].max() * 1.01, 60)
                y = law.predict(gm["n_params"].iloc[0], gm["tokens"].iloc[0], x)
                top.plot(x, y, color=c, lw=0.8, alpha=0.7, ls=":")
        lt = g["teacher_loss"].dropna()
        if len(lt):
            # The diagonal is drawn but does not set the scale: the students' losses (and baselines) do.
            ys = pd.concat([g["val_loss"], g["baseline_loss"]]).dropna()
            bar = sd if np.isfinite(sd) else 0.0
            pad = 0.06 * max(float(ys.max() - ys.min()), 0.02) + bar
            top.set_ylim(float(ys.min()) - pad, float(ys.max()) + pad)
            span = np.array([lt.min() * 0.99, lt.max() * 1.01])
            top.plot(span, span, color="k", lw=0.7, ls=(0, (1, 2)), scalex=False, scaley=False)
            tl = g.drop_duplicates("teacher")[["teacher_model", "teacher_loss"]].dropna()
            names = top.secondary_xaxis("top")
            names.set_xticks(tl["teacher_loss"].to_list(), labels=tl["teacher_model"].to_list())
            names.tick_params(colors="0.35")
        # The legend names the multiples (shared by the students); the title says what one multiple is here.
        one = num(float((g["tokens"] / g["multiple"]).median()))
        top.set_title(f"student {model} ($N_S$ = {num(g['n_params'].iloc[0])})\n$1\\,M^*$ = {one} tokens")
        bot.set_xlabel(f"teacher loss $L_T$ ({LOSS_UNIT};\nstronger →)")
        if j == 0:
            top.set_ylabel(f"student loss $L_S$ ({LOSS_UNIT})")
            bot.set_ylabel(f"KL(teacher ‖ student)\n({LOSS_UNIT})")
        if not top.xaxis_inverted():
            top.invert_xaxis()
    handles = [Line2D([], [], color=c, marker="o", ms=5, label=_mult_label(m)) for m, c in colors.items()]
    handles += [
        Line2D([], [], color="grey", ls="--", label=r"supervised baseline $\tilde{L}_S$"),
        Line2D([], [], color="k", ls=(0, (1, 2)), label="$L_S = L_T$"),
    ]
    if law is not None:
        handles.append(Line2D([], [], color="grey", ls=":", label="fitted law"))
    fig.legend(handles=handles, loc="outside upper center", ncols=4)
    return fig


def _band(g: pd.DataFrame, col: str, res: ds.Resolution) -> float:
    """The noise threshold of one student's differences ``col`` (``vs_supervised``: its distilled and
    supervised seed noise; ``vs_teacher``: its distilled noise and the noisiest of its teachers'); NaN when
    the noise is not measured."""
    model = g["model"].iloc[0]
    if not res.measured or g[col].isna().all():
        return math.nan
    others = [model] if col == "vs_supervised" else list(g["teacher_model"].dropna().unique())
    return float(max(res.threshold(res.sd(model, "distilled"), res.sd(m, "supervised")) for m in others))


def fig_advantage(p3: pd.DataFrame, res: ds.Resolution):
    """Distillation against supervised learning (top, L_S - L̃_S) and against the teacher (bottom,
    L_S - L_T) as the student's tokens grow, one line per teacher, one column per student; the band is the
    noise threshold of the student's size (differences inside it are within the seed noise)."""
    students = _students(p3) if len(p3) else []
    k = max(1, len(students))
    fig, axes = _student_blocks(k, 6.2, height_ratios=(1, 1))
    if not students:
        for ax in axes[:, 0]:
            _note_axes(ax, "no protocol-3 run recorded")
        return fig
    teachers = p3.drop_duplicates("teacher").sort_values("teacher_loss", ascending=False)
    colors = dict(zip(teachers["teacher"], plots.sequential(len(teachers), "rocket_r"), strict=True))
    for j, model in enumerate(students):
        g = p3[p3["model"] == model]
        for row, col in enumerate(("vs_supervised", "vs_teacher")):
            ax = axes[row, j]
            for t, gt in g.groupby("teacher", sort=False):
                gt = gt.dropna(subset=[col]).sort_values("tokens")
                if gt.empty:
                    continue
                label = f"{gt['teacher_model'].iloc[0]} ($L_T$ = {gt['teacher_loss'].iloc[0]:.3f})"
                ax.plot(gt["tokens"], gt[col], "o-", color=colors[t], ms=5, label=label)
            ax.axhline(0, color="k", lw=0.7)
            thr = _band(g, col, res)
            if np.isfinite(thr):
                ax.axhspan(-thr, thr, color="0.85", lw=0, zorder=0)
            _log_x(ax)
        axes[0, j].set_title(f"student {model} ($N_S$ = {num(g['n_params'].iloc[0])})")
        axes[1, j].set_xlabel("student tokens $D_S$")
        toks = sorted(g["tokens"].unique())
        axes[1, j].set_xticks(toks, labels=[num(t) for t in toks])
        axes[1, j].xaxis.set_minor_locator(NullLocator())
        if j == 0:
            axes[0, j].set_ylabel(f"$L_S - \\tilde{{L}}_S$ ({LOSS_UNIT})\n< 0: distillation better")
            axes[1, j].set_ylabel(f"$L_S - L_T$ ({LOSS_UNIT})\n< 0: student beats teacher")
    # One legend for the teachers (the same colours in every panel).
    handles, labels = plots.legend_entries(axes[0])
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncols=2)
    return fig


def fig_law_fit(law: fits.LawFit | None, reason: str = ""):
    """Predicted against observed student loss and the relative error (paper Fig. 5b)."""
    return plots.law_fit_figure(
        law,
        pending=reason,
        observed=f"observed student loss $L_S$ ({LOSS_UNIT})",
        predicted=f"predicted $L_S$ ({LOSS_UNIT})",
        symbol="$L_S$",
        paper_error=PAPER_ERROR,
    )


def _map_panel(ax, x, y, diff, run_x, run_y, run_diff, line: float, norm):
    """One panel of a map of L_S - L̃_S: the law's values on the grid ``(y, x)`` (colour, break-even line),
    the runs on top in the same colours, the size ``line`` dashed; log axes. Returns the mesh (colour bar)."""
    cs = ax.pcolormesh(x, y, diff, cmap="RdBu_r", norm=norm, shading="auto")
    ax.contour(x, y, diff, levels=[0.0], colors="k", linewidths=0.8)
    # The runs wear the map's colours: a white ring and a black edge keep them visible on it.
    ax.scatter(run_x, run_y, s=150, color="white", linewidths=0, zorder=4)
    ax.scatter(run_x, run_y, c=run_diff, cmap="RdBu_r", norm=norm, s=70, edgecolors="k", linewidths=1.2,
               zorder=5)  # fmt: skip
    ax.axhline(line, color="w", ls="--", lw=1.2)
    ax.set_yscale("log")
    _log_x(ax)
    return cs


def fig_advantage_maps(law: fits.LawFit | None, dist: pd.DataFrame, reason: str = ""):
    """Paper Fig. 6 analogue: per teacher of protocols 1 and 3, our law's L_S - L̃_S over student tokens and
    size (colour; blue: distillation better), the runs with that teacher on top in the same colours
    (their measured L_S minus their supervised baseline), the teacher's size dashed."""
    runs_ = _map_runs(dist)
    teachers = runs_.drop_duplicates("teacher").sort_values("teacher_n_params") if len(runs_) else runs_
    k = max(1, len(teachers))
    fig, axes = plots.panel_grid(k, height=3.0, sharey=True)
    if law is None or runs_.empty:
        _note_axes(axes[0], reason or "no protocol-1 or protocol-3 run recorded")
        return fig
    maps = [advantage_map(law, t["teacher_loss"]) for _, t in teachers.iterrows()]
    # The colour scale is set by the runs, so that their colours read; the law's map saturates beyond them.
    lim = 1.2 * float(runs_["vs_supervised"].abs().max())
    norm = plt.matplotlib.colors.TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    for ax, (_, t), (n, d, diff) in zip(axes, teachers.iterrows(), maps, strict=True):
        g = runs_[runs_["teacher"] == t["teacher"]]
        cs = _map_panel(
            ax, d, n, diff, g["tokens"], g["n_params"], g["vs_supervised"], t["teacher_n_params"], norm
        )
        ax.set_xlim(min(d[0], g["tokens"].min()) / 1.2, max(d[-1], g["tokens"].max()) * 1.2)
        ax.set_ylim(min(n[0], runs_["n_params"].min()) / 1.2, max(n[-1], runs_["n_params"].max()) * 1.2)
        ax.set_title(f"teacher {t['teacher_model']} ($L_T$ = {t['teacher_loss']:.3f})")
    fig.supxlabel("student tokens $D_S$")
    fig.supylabel("student parameters $N_S$")
    fig.colorbar(cs, ax=axes, label=f"$L_S - \\tilde{{L}}_S$ ({LOSS_UNIT})", shrink=0.9, extend="both")
    return fig


def fig_teacher_maps(law: fits.LawFit | None, p2: pd.DataFrame, reason: str = ""):
    """Paper Fig. 13a analogue: per protocol-2 student, our laws' L_S - L̃_S over the teacher's tokens and
    size (colour; blue: distillation better), the protocol-2 runs on top coloured by their measured
    difference, the student's size dashed."""
    runs_ = p2.dropna(subset=["vs_supervised"])
    students = runs_.drop_duplicates("n_params").sort_values("n_params") if len(runs_) else runs_
    k = max(1, len(students))
    fig, axes = plots.panel_grid(k, height=3.2, sharey=True)
    if law is None or runs_.empty:
        _note_axes(axes[0], reason or "no protocol-2 run recorded")
        return fig
    lim = 1.2 * float(runs_["vs_supervised"].abs().max())
    norm = plt.matplotlib.colors.TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    for ax, (_, st) in zip(axes, students.iterrows(), strict=True):
        g = runs_[runs_["n_params"] == st["n_params"]]
        n, d, diff = teacher_map(law, st["n_params"], float(g["tokens"].median()), runs_)
        xy = (g["teacher_tokens"], g["teacher_n_params"])
        cs = _map_panel(ax, d, n, diff, *xy, g["vs_supervised"], st["n_params"], norm)
        ax.set_title(f"student {st['model']} ($N_S$ = {num(st['n_params'])})")
    fig.supxlabel("teacher tokens $D_T$")
    fig.supylabel("teacher parameters $N_T$")
    fig.colorbar(cs, ax=axes, label=f"$L_S - \\tilde{{L}}_S$ ({LOSS_UNIT})", shrink=0.9, extend="both")
    return fig


def fig_protocol2(p2: pd.DataFrame):
    """IsoFLOP teachers, fixed-M* students (paper Fig. 3): (a) L_S against the teacher's size, colour = the
    teacher's compute, marker = student; (b) L_S against L_T for all of them, colour = student, dashed = the
    student's supervised baseline."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(plots.FULL_WIDTH, 7.6))
    if p2.empty:
        for ax in (ax1, ax2):
            _note_axes(ax, "no protocol-2 run recorded")
        return fig
    budgets = sorted(p2["teacher_budget"].dropna().unique())
    bcol = dict(zip(budgets, plots.sequential(max(1, len(budgets))), strict=False))
    students = _students(p2)
    markers = dict(zip(students, "os^Dv", strict=False))
    scol = dict(zip(students, sns.color_palette("colorblind", len(students)), strict=True))
    for (s, b), g in p2.groupby(["model", "teacher_budget"], sort=True):
        g = g.sort_values("teacher_n_params")
        ax1.plot(
            g["teacher_n_params"], g["val_loss"], marker=markers.get(s, "o"), color=bcol[b], ls="-", ms=5
        )
    for s, g in p2.groupby("model", sort=False):
        ax2.scatter(g["teacher_loss"], g["val_loss"], color=scol[s], s=24, label=f"student {s}")
        base = g["baseline_loss"].dropna()
        if len(base):
            ax2.axhline(float(base.iloc[0]), color=scol[s], ls="--", lw=1)
    _log_x(ax1)
    ax1.set_xlabel("teacher parameters $N_T$")
    ax1.set_ylabel(f"student loss $L_S$\n({LOSS_UNIT})")
    ax1.set_title("(a) by teacher size")
    handles = [Line2D([], [], color=bcol[b], marker="o", label=f"$C_T$ = {budget_text(b)}") for b in budgets]
    handles += [Line2D([], [], color="grey", marker=markers[s], ls="", label=s) for s in students]
    ax1.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax2.set_xlabel(f"teacher loss $L_T$ ({LOSS_UNIT}; stronger →)")
    ax2.set_ylabel(f"student loss $L_S$\n({LOSS_UNIT})")
    ax2.set_title(r"(b) by teacher loss (dashed: supervised $\tilde{L}_S$)")
    ax2.invert_xaxis()
    ax2.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def fig_protocol1(p1: pd.DataFrame):
    """Fixed-M* teachers, student IsoFLOPs (paper Fig. 2): per teacher, L_S against the student's size on each
    student-compute budget; dashed: the teacher's loss; dotted: the teacher's size."""
    teachers = p1.drop_duplicates("teacher").sort_values("teacher_n_params") if len(p1) else p1
    k = max(1, len(teachers))
    fig, axes = plots.panel_grid(k, height=2.9, extra_height=0.4, sharey=True)
    if p1.empty:
        _note_axes(axes[0], "no protocol-1 run recorded")
        return fig
    budgets = sorted(p1["student_budget"].dropna().unique())
    bcol = dict(zip(budgets, plots.sequential(max(1, len(budgets))), strict=False))
    for ax, (_, t) in zip(axes, teachers.iterrows(), strict=True):
        g = p1[p1["teacher"] == t["teacher"]]
        for b, gb in g.groupby("student_budget", sort=True):
            gb = gb.sort_values("n_params")
            ax.plot(
                gb["n_params"], gb["val_loss"], "o-", color=bcol[b], ms=5, label=f"$C_S$ = {budget_text(b)}"
            )
        ax.axhline(t["teacher_loss"], color=plots.TEACHER_COLOR, ls="--", lw=1)
        ax.axvline(t["teacher_n_params"], color=plots.TEACHER_COLOR, ls=":", lw=1)
        _log_x(ax)
        ax.set_title(f"teacher {t['teacher_model']} ($L_T$ = {t['teacher_loss']:.3f})")
    fig.supxlabel("student parameters $N_S$")
    fig.supylabel(f"student loss $L_S$ ({LOSS_UNIT})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 4))
    return fig


def _optima_panels(top, bot, opt, x: str, budget: str, label: str, larger_above: bool) -> dict:
    """One column of the optima figure: best size (top) and its loss (bottom) against ``x``, one colour per
    ``budget``; open markers are profile ends; shaded: students larger than their teacher. Returns the
    colour of each budget."""
    budgets = sorted(opt[budget].unique())
    bcol = dict(zip(budgets, plots.sequential(max(1, len(budgets))), strict=False))
    # A nearly flat profile can put its parabola's minimum decades away: such optima are drawn at the edge
    # of a range two decades around the sizes on the x axis, as triangles pointing beyond it.
    lo_cap, hi_cap = opt[x].min() / 100, opt[x].max() * 100
    opt = opt.assign(n_shown=opt["n_star"].clip(lo_cap, hi_cap))
    for b, g in opt.groupby(budget, sort=True):
        g = g.sort_values(x)
        col = bcol[b]
        top.plot(g[x], g["n_shown"], "-", color=col, lw=1)
        bot.plot(g[x], g["loss_star"], "-", color=col, lw=1, label=f"${label}$ = {budget_text(b)}")
        for _, r in g.iterrows():
            face = col if pd.isna(r["edge"]) else "white"
            beyond = "^" if r["n_star"] > hi_cap else "v" if r["n_star"] < lo_cap else "o"
            top.plot(r[x], r["n_shown"], beyond, mec=col, mfc=face, ms=6)
            bot.plot(r[x], r["loss_star"], "o", mec=col, mfc=face, ms=6)
    lo = min(opt[x].min(), opt["n_shown"].min()) / 1.5
    hi = max(opt[x].max(), opt["n_shown"].max()) * 1.5
    if larger_above:
        top.fill_between([lo, hi], [lo, hi], [hi, hi], color="0.9", zorder=0, label="$N_S > N_T$")
    else:
        top.fill_between([lo, hi], [lo, lo], [lo, hi], color="0.9", zorder=0, label="$N_S > N_T$")
    top.plot([lo, hi], [lo, hi], color="0.5", lw=0.8)
    top.set_xlim(lo, hi)
    top.set_ylim(lo, hi)
    top.set_yscale("log")
    _log_x(top)
    top.legend(loc="upper left")
    bot.legend(loc="upper right")
    return bcol


def fig_protocol_optima(opt1: pd.DataFrame, sup_star: dict[float, float], opt2: pd.DataFrame):
    """Paper Fig. 39 analogue. (a) protocol 1: the best student size and its loss against the teacher's size,
    one colour per student budget, dashed: the compute-optimal supervised loss at that budget. (b) protocol
    2: the best teacher size and the student's loss against the student's size, one colour per teacher
    budget, crosses: the student's supervised baseline."""
    fig, axes = plt.subplots(2, 2, figsize=(plots.FULL_WIDTH, 6.8), sharex="col")
    (a_top, b_top), (a_bot, b_bot) = axes
    if opt1.empty:
        _note_axes(a_top, "no protocol-1 run recorded")
    else:
        bcol = _optima_panels(
            a_top, a_bot, opt1, "teacher_n_params", "student_budget", "C_S", larger_above=True
        )
        for b, v in sup_star.items():
            if b in bcol:
                a_bot.axhline(v, color=bcol[b], ls="--", lw=1)
    a_top.set_ylabel("best student size $N^*_S$")
    a_bot.set_ylabel(f"best student loss $L^*_S$\n({LOSS_UNIT})")
    a_bot.set_xlabel("teacher parameters $N_T$")
    a_top.set_title("(a) protocol 1: student IsoFLOPs")
    if opt2.empty:
        _note_axes(b_top, "no protocol-2 run recorded")
    else:
        _optima_panels(b_top, b_bot, opt2, "n_params", "teacher_budget", "C_T", larger_above=False)
        base = opt2.drop_duplicates("n_params")
        b_bot.plot(base["n_params"], base["baseline_loss"], "x", color="0.3", ms=7, label="supervised")
        b_bot.legend(loc="upper right")
    b_top.set_ylabel("best teacher size $N^*_T$")
    b_bot.set_ylabel(f"$L_S$ at the best teacher\n({LOSS_UNIT})")
    b_bot.set_xlabel("student parameters $N_S$")
    b_top.set_title("(b) protocol 2: teacher IsoFLOPs")
    return fig
