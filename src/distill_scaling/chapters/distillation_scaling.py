"""Chapter "Distillation scaling at small scale": the three protocols, the distillation law and the findings.

The chapter reads the study's distillation records (:func:`distill_scaling.distillation_study.study_design`)
with their teachers and supervised baselines; ``full`` trains the missing ones first, ``smoke`` trains a tiny
design (:func:`smoke_specs`) into a temporary store in seconds. The analysis is in
:mod:`distill_scaling.distillation_study`; this module holds the chapter's parameters, figures, tables and
sentences. The law fit with its bootstrap is stored in ``data/fits/distillation.json``; refresh it from the
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

from .. import comparisons, fit, fit_files, fits, plots, runs, spec, store, study
from .. import distillation_study as ds
from .. import supervised_study as ss
from ..laws import PAPER_DISTILLATION, supervised_loss
from ..model import config_from_name
from ..params import Param, Params
from ..presentation import DISTILLATION_LABELS, law_coefficient_frame, num, styled, unbounded_sentence

CHAPTER = "07_distillation_scaling"

#: The paper's distillation fit (Table 6, App. F): runs, the extrapolation split (L_S >= 2.3 kept 551 of 697).
PAPER_RUNS, PAPER_HIGH_RUNS, PAPER_HIGH_LOSS = 697, 551, 2.3
#: Coefficients of the distillation law (its fit needs at least this many runs).
N_COEFFICIENTS = fits.LAWS["distillation"].n_coefficients
#: Relative prediction error the paper reports for its laws ("<~ 1%", Fig. 5).
PAPER_ERROR = 0.01
#: The paper's fixed-M protocols: M = 20 tokens per parameter, students at 20N..320N (1..16 M).
PAPER_M = 20.0

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
        "a difference of two single runs is resolved when it exceeds this many standard deviations of such "
        "a difference (sqrt(2) x one run's seed noise)",
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
    law inside the distillation law) and those that measure the seed noise."""

    design: pd.DataFrame
    support: pd.DataFrame
    records: pd.DataFrame
    dist: pd.DataFrame
    supervised: pd.DataFrame
    noise_runs: pd.DataFrame
    progress: pd.DataFrame

    def block(self, name: str) -> pd.DataFrame:
        """The recorded runs of one protocol block."""
        return self.dist[self.dist["block"] == name]

    def gap_runs(self) -> pd.DataFrame:
        """The recorded runs that judge the capacity gap: protocol 3 and its extra seeds."""
        return self.dist[self.dist["block"].isin(ds.GAP_BLOCKS)]

    @property
    def skipped(self) -> dict[str, str]:
        return dict(self.design.attrs.get("skipped", {}))

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
    noise_runs = sup if P.profile == "smoke" else sup[sup["block"].isin(ds.NOISE_BLOCKS)]
    cols = ["block", "key", "flops"]
    both = pd.concat([support[cols], design[cols]], ignore_index=True)
    prog = ss.progress_table(records, both) if len(both) else pd.DataFrame()
    return StudyData(design, support, records, dist, sup, noise_runs, prog)


# --- the supervised law inside the distillation law ---------------------------------------------------------


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


# --- progress -----------------------------------------------------------------------------------------------


def progress_sentence(data: StudyData) -> str:
    """How many distillation runs (and of their teachers and baselines) are recorded."""
    n, total = data.n_recorded, data.n_total
    p = data.progress
    support = [
        f"{p.loc[block, 'recorded']} of {p.loc[block, 'total']} {what}"
        for block, what in (("teachers", "teachers"), ("baselines", "supervised baselines"))
        if len(p) and block in p.index
    ]
    with_support = f" (with {' and '.join(support)})" if support else ""
    if total == 0:
        out = "The study's distillation design cannot be built yet, so every result below is pending."
    elif n == total:
        out = f"All {total} distillation runs of the design are recorded{with_support}."
    elif n == 0:
        out = (
            f"None of the {total} distillation runs of the design is recorded yet{with_support}: the study "
            "is running, and every result below that needs them is pending: nothing is shown that was not "
            "measured."
        )
    else:
        out = (
            f"{n} of {total} distillation runs of the design are recorded so far{with_support}; the study is "
            "still running, and every number below uses the recorded runs only and says what still waits."
        )
    if data.skipped:
        out += f" Not built yet: {', '.join(data.skipped)} ({next(iter(data.skipped.values()))})."
    return out


def progress_frame(data: StudyData) -> pd.DataFrame:
    """Runs, compute (PFLOP) and training wall time recorded per block of the chapter's design."""
    return ss.progress_frame(data.progress)


def design_sentence(data: StudyData) -> str:
    """Protocol 3's design in words, from the design table."""
    d = data.design[data.design["block"] == "protocol3"]
    if d.empty:
        return "Protocol 3's design cannot be built yet (it needs the study's M*)."
    students = list(dict.fromkeys(d.sort_values("n_params")["model"]))
    teachers = d.drop_duplicates("teacher").sort_values("teacher_n_params")
    m_star = float(np.median(d["tokens_requested"] / (d["multiple"] * d["n_params"])))
    parts = []
    for s in students:
        ks = sorted({round(k, 3) for k in d.loc[d["model"] == s, "multiple"]})
        parts.append(
            f"{s} (N_S = {num(d.loc[d['model'] == s, 'n_params'].iloc[0])}) at "
            f"{', '.join(f'{k:g}' for k in ks)} x M*"
        )
    mix, tau = sorted(set(d["mix"])), sorted(set(d["temperature"]))
    return (
        f"{len(teachers)} teachers, {', '.join(teachers['teacher_model'])} "
        f"(N_T = {num(teachers['teacher_n_params'].min())} to "
        f"{num(teachers['teacher_n_params'].max())}), each "
        f"trained on about M* = {num(m_star)} tokens per parameter, teach students "
        f"{'; '.join(parts)}, with pure distillation (λ = {', '.join(f'{v:g}' for v in mix)}) at temperature "
        f"τ = {', '.join(f'{v:g}' for v in tau)}, the paper's setting. Token multiples the "
        f"{spec.MAX_EPOCHS:g}-epoch cap or the {spec.MIN_STEPS}-step minimum rule out are not trained."
    )


# --- noise --------------------------------------------------------------------------------------------------


def noise_sentence(noise: ss.NoiseSummary, res: ds.Resolution, loss: float, records: pd.DataFrame) -> str:
    """The seed noise per model size and kind of run, and the screen for single-run differences."""
    if not noise.measured:
        return (
            "The seed-to-seed noise is not measured yet (chapter 06's noise block), so no difference below "
            "is judged against it; the differences are shown as measured."
        )
    need = {"model", "n_params", "split", "tokens", "teacher", "seed", "lr", "val_loss"}
    per = (
        comparisons.seed_noise(comparisons.study_records(records))
        if not records.empty and need <= set(records.columns)
        else pd.DataFrame(columns=["model", "n_params", "kind", "sd", "dof", "configs"])
    )
    parts = [
        f"{r.model} {r.kind} {r.sd:.4f} nats ({r.configs} configuration(s))"
        for r in per.sort_values(["kind", "n_params"]).itertuples()
    ]
    lo, hi = noise.rel_std_interval
    at = loss if np.isfinite(loss) else 2.0
    by_size = (
        "Seeds are repeated for supervised runs (chapter 06's noise block) and for distilled students (the "
        f"gap-seeds and capacity-gap blocks); one run's final loss moves, per size and kind, by "
        f"{'; '.join(parts)}. The noise differs between sizes, so the verdicts (Findings at a glance) judge "
        "each comparison with its own size's noise or, better, with paired seeds. "
        if parts
        else ""
    )
    return (
        by_size + f"The tables below screen single-run differences with one pooled figure: over "
        f"{noise.configs} supervised configuration(s) ({noise.runs} runs), {100 * noise.rel_std:.2f}% of the "
        f"loss ({noise.level:.0%} interval {100 * lo:.2f}–{100 * hi:.2f}%); a difference between two single "
        f"runs is marked resolved when it exceeds {res.factor:g} times √2 of that: "
        f"{float(res.threshold(at)):.4f} nats at a loss of {at:.3f}. It is a screen, not a verdict."
    )


def teacher_agreement_sentence(data: StudyData) -> str:
    a = ds.teacher_agreement(data.dist)
    if a["n"] == 0:
        return ""
    return (
        f"Each student's run also measures its teacher on the same validation tokens; over {a['n']} runs, "
        f"that measurement differs from the teacher's own record by at most {a['max_abs']:.2g} nats, so L_T "
        "is the same number either way."
    )


# --- protocol 3 ---------------------------------------------------------------------------------------------


def _log_x(ax) -> None:
    """Log x axis; no minor-tick labels (they collide on the narrow ranges of these figures)."""
    plots.log_axis(ax, "x")
    ax.xaxis.set_minor_formatter(NullFormatter())


def budget_text(b: float) -> str:
    """A compute budget as 3e11 or 1.5e9."""
    return "n/a" if not np.isfinite(b) else f"{b:.2g}".replace("e+0", "e").replace("e+", "e")


def _mult_label(k: float) -> str:
    return f"{k:.3g} $M^*$"


def _pending_axes(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


#: The unit of our losses: our tokens are bytes.
LOSS_UNIT = "nats per byte"


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
    strong teachers, named on the top axis; the bars are one run's seed noise."""
    students = _students(p3) if len(p3) else []
    k = max(1, len(students))
    fig, axes = _student_blocks(k, 6.4)
    if not students:
        for ax in axes[:, 0]:
            _pending_axes(ax, "pending: no protocol-3 run recorded yet")
        return fig
    mults = sorted({round(float(m), 3) for m in p3["multiple"]})
    colors = dict(zip(mults, plots.sequential(len(mults)), strict=True))
    for j, model in enumerate(students):
        top, bot = axes[0, j], axes[1, j]
        g = p3[p3["model"] == model].assign(mr=lambda x: x["multiple"].round(3))
        for m, gm in g.groupby("mr", sort=True):
            gm = gm.sort_values("teacher_loss")
            c = colors[m]
            yerr = res.rel_std * gm["val_loss"] if res.measured else None
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
            bar = res.rel_std * float(ys.max()) if res.measured else 0.0
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


def protocol3_frame(p3: pd.DataFrame) -> pd.DataFrame:
    """The protocol-3 runs: student, token multiple, teacher, the three losses, KL and the two differences."""
    cols = ["student", "M* multiple", "D_S", "teacher", "L_T", "L_S", "L~_S", "KL", "L_S − L_T", "L_S − L~_S"]
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
            "L~_S": d["baseline_loss"],
            "KL": d["val_kl"],
            "L_S − L_T": d["vs_teacher"],
            "L_S − L~_S": d["vs_supervised"],
        }
    )
    return out.set_index(["student", "M* multiple", "D_S", "teacher"])


def gap_frame(gap: pd.DataFrame) -> pd.DataFrame:
    """The capacity-gap table for display."""
    cols = [
        "teachers", "seeds", "best teacher", "strongest teacher", "rise (nats)", "threshold", "gap",
        "seeds worse", "KL rank ρ",
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
            "threshold": gap["threshold"],
            "gap": gap["gap"],
            "seeds worse": gap["seeds_worse"],
            "KL rank ρ": gap["kl_rank"],
        }
    )
    return out.set_index(["student", "M* multiple"])


def gap_sentence(gap: pd.DataFrame, p3: pd.DataFrame, res: ds.Resolution) -> str:
    verdict, text = ds.judge_gap(p3, res)
    if gap.empty:
        return f"The capacity-gap test is pending: {text}."
    return f"Over {text}."


def fig_advantage(p3: pd.DataFrame, res: ds.Resolution):
    """Distillation against supervised learning (top, L_S - L~_S) and against the teacher (bottom,
    L_S - L_T) as the student's tokens grow, one line per teacher, one column per student; the band is the
    resolution threshold (differences inside it are within the seed noise)."""
    students = _students(p3) if len(p3) else []
    k = max(1, len(students))
    fig, axes = _student_blocks(k, 6.2, height_ratios=(1, 1))
    if not students:
        for ax in axes[:, 0]:
            _pending_axes(ax, "pending: no protocol-3 run recorded yet")
        return fig
    teachers = p3.drop_duplicates("teacher").sort_values("teacher_loss", ascending=False)
    colors = dict(zip(teachers["teacher"], plots.sequential(len(teachers), "rocket_r"), strict=True))
    for j, model in enumerate(students):
        g = p3[p3["model"] == model]
        for row, (col, ref) in enumerate(
            (("vs_supervised", "baseline_loss"), ("vs_teacher", "teacher_loss"))
        ):
            ax = axes[row, j]
            for t, gt in g.groupby("teacher", sort=False):
                gt = gt.dropna(subset=[col]).sort_values("tokens")
                if gt.empty:
                    continue
                label = f"{gt['teacher_model'].iloc[0]} ($L_T$ = {gt['teacher_loss'].iloc[0]:.3f})"
                ax.plot(gt["tokens"], gt[col], "o-", color=colors[t], ms=5, label=label)
            ax.axhline(0, color="k", lw=0.7)
            if res.measured and g[ref].notna().any():
                thr = float(res.threshold(g[ref].mean()))
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


def beat_sentence(dist: pd.DataFrame, res: ds.Resolution) -> str:
    verdict, text = ds.judge_beat(dist, res)
    if verdict == "pending":
        return f"Pending: {text}."
    vt = ds.versus_teacher(dist, res)
    by_block = vt.groupby("block")["vs_teacher"].apply(lambda s: int((s < 0).sum())).to_dict()
    blocks = ", ".join(f"{k}: {v}" for k, v in by_block.items())
    return f"{text[0].upper()}{text[1:]}. Runs below their teacher's loss, by protocol: {blocks}."


def supervised_sentence(p3: pd.DataFrame, res: ds.Resolution) -> str:
    verdict, text = ds.judge_crossing(p3, res)
    return f"{'Pending: ' if verdict == 'pending' else ''}{text}."


def convergence_sentence(p3: pd.DataFrame, res: ds.Resolution) -> str:
    verdict, text = ds.judge_convergence(p3, res)
    return f"{'Pending: ' if verdict == 'pending' else ''}{text}."


# --- the law ------------------------------------------------------------------------------------------------


def fig_law_fit(law: fits.LawFit | None, reason: str = ""):
    """Predicted against observed student loss and the relative error (paper Fig. 5b)."""
    return plots.law_fit_figure(
        law,
        pending=f"pending: {reason}",
        observed=f"observed student loss $L_S$ ({LOSS_UNIT})",
        predicted=f"predicted $L_S$ ({LOSS_UNIT})",
        symbol="$L_S$",
        paper_error=PAPER_ERROR,
    )


def _advantage(law: fits.LawFit, n_params, tokens, teacher_loss) -> np.ndarray:
    """L_S - L~_S by the fitted laws: the distillation law's student loss minus the supervised law's (the one
    held fixed in the fit) for the same student size and tokens."""
    return law.predict(n_params, tokens, teacher_loss) - supervised_loss(n_params, tokens, law.supervised)


def _map_runs(dist: pd.DataFrame) -> pd.DataFrame:
    """The runs drawn on the student maps: protocols 1 and 3, those with a supervised baseline."""
    return dist[dist["block"].isin(("protocol1", "protocol3"))].dropna(subset=["vs_supervised"])


def advantage_map(law: fits.LawFit, teacher_loss: float, n_grid: int = 60):
    """Our law's L_S - L~_S over the fitted range of student sizes and tokens for a teacher of loss
    ``teacher_loss``: ``(N_S grid, D_S grid, difference)``, the difference of shape (sizes, tokens)."""
    r = law.runs
    n = np.geomspace(r["n_params"].min(), r["n_params"].max(), n_grid)
    d = np.geomspace(r["tokens"].min(), r["tokens"].max(), n_grid)
    nn, dd = np.meshgrid(n, d, indexing="ij")
    return n, d, _advantage(law, nn, dd, np.full_like(nn, teacher_loss))


def _map_panel(ax, x, y, diff, run_x, run_y, run_diff, line: float, norm):
    """One panel of a map of L_S - L~_S: the law's values on the grid ``(y, x)`` (colour, break-even line),
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
    """Paper Fig. 6 analogue: per teacher of protocols 1 and 3, our law's L_S - L~_S over student tokens and
    size (colour; blue: distillation better), the runs with that teacher on top in the same colours
    (their measured L_S minus their supervised baseline), the teacher's size dashed."""
    runs_ = _map_runs(dist)
    teachers = runs_.drop_duplicates("teacher").sort_values("teacher_n_params") if len(runs_) else runs_
    k = max(1, len(teachers))
    fig, axes = plots.panel_grid(k, height=3.0, sharey=True)
    if law is None or runs_.empty:
        _pending_axes(axes[0], f"pending: {reason or 'no protocol-1 or protocol-3 run recorded yet'}")
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


def teacher_map(law: fits.LawFit, n_s: float, d_s: float, teachers: pd.DataFrame, n_grid: int = 60):
    """Our laws' L_S - L~_S for a student of ``n_s`` parameters and ``d_s`` tokens over teacher sizes and
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


def fig_teacher_maps(law: fits.LawFit | None, p2: pd.DataFrame, reason: str = ""):
    """Paper Fig. 13a analogue: per protocol-2 student, our laws' L_S - L~_S over the teacher's tokens and
    size (colour; blue: distillation better), the protocol-2 runs on top coloured by their measured
    difference, the student's size dashed."""
    runs_ = p2.dropna(subset=["vs_supervised"])
    students = runs_.drop_duplicates("n_params").sort_values("n_params") if len(runs_) else runs_
    k = max(1, len(students))
    fig, axes = plots.panel_grid(k, height=3.2, sharey=True)
    if law is None or runs_.empty:
        _pending_axes(axes[0], f"pending: {reason or 'no protocol-2 run recorded yet'}")
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


def teacher_map_sentence(law: fits.LawFit | None, p2: pd.DataFrame) -> str:
    """The teacher maps in words: per student, the share of the teacher plane where distillation wins by
    our laws, and how many protocol-2 runs agree in sign with them."""
    runs_ = p2.dropna(subset=["vs_supervised"])
    if law is None or runs_.empty:
        return "The teacher maps follow once the law is fitted and protocol-2 runs are recorded."
    parts, agree = [], 0
    for n_s, g in runs_.groupby("n_params", sort=True):
        d_s = float(g["tokens"].median())
        share = float(np.mean(teacher_map(law, n_s, d_s, runs_)[2] < 0))
        parts.append(f"{100 * share:.0f}% for the {n_s:.3g}-parameter student")
        lt = supervised_loss(g["teacher_n_params"].to_numpy(float), g["teacher_tokens"].to_numpy(float),
                             law.supervised)  # fmt: skip
        pred = _advantage(law, np.full(len(g), n_s), g["tokens"].to_numpy(float), lt)
        agree += int(np.sum(np.sign(pred) == np.sign(g["vs_supervised"].to_numpy(float))))
    return (
        "Over the teachers' range, our laws put distillation ahead on "
        + " and ".join(parts)
        + f"; the {len(runs_)} protocol-2 runs agree in sign with them at {agree}."
    )


def advantage_map_sentence(law: fits.LawFit | None, dist: pd.DataFrame) -> str:
    """The maps in words: where our law puts distillation ahead per teacher, and whether the runs agree in
    sign with the law at their own sizes and tokens."""
    runs_ = _map_runs(dist)
    if law is None or runs_.empty:
        return "The maps follow once the law is fitted and protocol-1 or protocol-3 runs are recorded."
    teachers = runs_.drop_duplicates("teacher").sort_values("teacher_n_params")
    shares = [float(np.mean(advantage_map(law, t["teacher_loss"])[2] < 0)) for _, t in teachers.iterrows()]
    n, d, lt = (runs_[c].to_numpy(float) for c in ("n_params", "tokens", "teacher_loss"))
    pred = _advantage(law, n, d, lt)
    agree = int(np.sum(np.sign(pred) == np.sign(runs_["vs_supervised"].to_numpy(float))))
    return (
        f"Over the sizes and tokens it was fitted to, our law puts distillation ahead of supervised training "
        f"on {100 * shares[0]:.0f}% of the plane for the smallest teacher and {100 * shares[-1]:.0f}% for "
        f"the largest; the {len(runs_)} runs on the maps agree in sign with the law at {agree} of "
        f"{len(runs_)}."
    )


def coefficient_frame(law: fits.LawFit | None) -> pd.DataFrame:
    """Our distillation coefficients with bootstrap intervals beside the paper's Table 6."""
    return law_coefficient_frame(law, PAPER_DISTILLATION, DISTILLATION_LABELS, PAPER_RUNS)


def supervised_source_sentence(sup: fits.SupervisedInside) -> str:
    """Where the supervised law inside the distillation law comes from."""
    if sup.coef is None:
        return (
            f"The law needs the supervised law for L~_S; with {sup.n_runs} supervised run(s) recorded, it is "
            "not fitted yet."
        )
    if sup.source == "stored":
        cur = (
            "fitted to exactly the supervised runs recorded now"
            if sup.current
            else "fitted to an earlier set of the supervised runs; its refresh changes L~_S slightly"
        )
        return (
            "L~_S inside the law comes from our supervised law as stored in "
            f"data/fits/supervised.json ({sup.n_runs} runs, {cur}); it is held fixed in the fit, as in the "
            "paper."
        )
    return (
        f"L~_S inside the law comes from our supervised law, fitted now to the {sup.n_runs} recorded "
        "supervised runs with the supervised chapter's procedure (no stored fit exists yet); it is held "
        "fixed in the fit."
    )


def law_source_sentence(state: fits.FitState, P: Params) -> str:
    """Which runs the law was fitted to, how, with what intervals, and where the fit on this page comes
    from."""
    if state.fit is None:
        return f"The distillation-law fit is pending: {state.reason}."
    f = state.fit
    k = len(f.runs)
    boot_ran = f.n_resamples >= 2 and np.isfinite(f.converged_fraction)
    if boot_ran:
        boot = (
            f"{f.level:.0%} intervals from {f.n_resamples} bootstrap resamples of the runs "
            f"({100 * f.converged_fraction:.1f}% of the refits converged)"
        )
    elif "bootstrap_error" in f.provenance:
        boot = f"no bootstrap intervals (the bootstrap failed: {f.provenance['bootstrap_error']})"
    elif "bootstrap_skipped" in f.provenance:
        boot = f"no bootstrap intervals yet ({f.provenance['bootstrap_skipped']})"
    else:
        boot = "no bootstrap intervals"
    if state.source == "stored":
        where = (
            f"read from data/fits/distillation.json, fitted on {f.provenance.get('date', '?')} to exactly "
            "these runs"
        )
    elif state.source == "fitted":
        where = "made now and stored in data/fits/distillation.json"
    else:
        why = (
            f"is for a different set of {state.stored_runs} runs or supervised coefficients"
            if state.stored_runs is not None
            else "does not exist yet"
        )
        where = f"made now, while this page was built, because the stored fit {why}"
        if boot_ran:
            where += (
                f"; its intervals come from a quick {f.n_resamples}-resample bootstrap, and refreshing the "
                f"stored fit (see the end of the page) gives the full {P.n_resamples}"
            )
    few = ""
    if k < 3 * N_COEFFICIENTS:
        few = (
            f" With {k} runs for {N_COEFFICIENTS} coefficients ({k - N_COEFFICIENTS} degrees of "
            f"freedom; the paper had {PAPER_RUNS}), the runs pin down only a few combinations of the "
            "coefficients: read the curves, not the individual values."
        )
    n_s, d_s, l_t = (int(f.runs[c].nunique()) for c in ("n_params", "tokens", "teacher_loss"))
    span = (
        f" The fitted runs span {n_s} student size(s), {d_s} token budget(s) and {l_t} teacher loss(es)"
        + (
            ": with fewer than three student sizes, the size term (A′, α′) is not separated from the data "
            "term and γ′, so those coefficients can wander far from any physical value while the curves fit."
            if n_s < 3
            else "."
        )
    )
    conv = "" if f.provenance.get("converged", True) else " The optimiser did not pass its convergence test."
    if state.source == "stored" and not state.supervised_current:
        conv += (
            " The supervised law it holds fixed is the one of its date "
            f"({f.provenance.get('supervised', '?')}); supervised runs recorded since would move L~_S "
            "slightly, and refreshing the stored fit uses them."
        )
    return (
        f"We fit the law to all {k} recorded distillation runs with the paper's procedure: log-space Huber "
        f"loss with δ = 1e-4, L-BFGS-B from the paper's grid of 216,000 starts (the best {P.fit_refine} "
        f"refined), the teacher's measured L_T, and {boot}. The fit was {where}.{few}{span}{conv}"
        + unbounded_sentence(f, DISTILLATION_LABELS)
    )


def extrapolation_sentence(law: fits.LawFit | None, noise: ss.NoiseSummary) -> str:
    if law is None:
        return "The extrapolation test is pending until the law can be fitted."
    e = law.errors()
    in_sample = (
        f"In sample, the law misses our runs by {100 * e['rms_all']:.2f}% (root mean square; largest "
        f"{100 * e['max_all']:.2f}%)"
        + (f", {e['rms_all'] / noise.rel_std:.1f} times one run's seed noise" if noise.measured else "")
        + "."
    )
    if law.high_params is None:
        return (
            f"{in_sample} The extrapolation test needs {N_COEFFICIENTS} runs above the threshold and one "
            f"below; with {e['n_runs']} runs it is pending."
        )
    goal = "within" if e["max_held_out"] <= PAPER_ERROR else "outside"
    return (
        f"{in_sample} As the paper does (it fits the {PAPER_HIGH_RUNS} of its {PAPER_RUNS} runs with "
        f"L_S ≥ {PAPER_HIGH_LOSS:g}), we fit only the {e['n_fit_high']} runs with L_S ≥ "
        f"{law.threshold:.3f} and "
        f"predict the lowest-loss fifth, {e['n_held_out']} runs it never saw: their errors are "
        f"{100 * e['mean_held_out']:.2f}% on average (largest {100 * e['max_held_out']:.2f}%, mean signed "
        f"{100 * e['bias_held_out']:+.2f}%), {goal} the paper's {100 * PAPER_ERROR:g}%."
    )


def law_comparison_sentence(law: fits.LawFit | None) -> str:
    """What of the coefficients can be compared with the paper's: a', d1 and c0, each against our interval
    when there is one."""
    if law is None:
        return ""
    p, q = law.params, PAPER_DISTILLATION

    def compare(name: str, label: str, digits: str) -> str:
        ours, theirs = getattr(p, name), getattr(q, name)
        lo, hi = p.intervals.get(name, (math.nan, math.nan))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return f"{label} = {ours:{digits}} (paper {theirs:{digits}}; no interval yet)"
        where = "inside" if lo <= theirs <= hi else "outside"
        return (
            f"{label} = {ours:{digits}} ({lo:{digits}} to {hi:{digits}}; the paper's {theirs:{digits}} is "
            f"{where} it)"
        )

    parts = [compare("a", "a′", ".3f"), compare("d1", "d1", ".3g"), compare("c0", "c0", ".3g")]
    return "Ours: " + "; ".join(parts) + "."


# --- protocols 2 and 1 --------------------------------------------------------------------------------------


def fig_protocol2(p2: pd.DataFrame):
    """IsoFLOP teachers, fixed-M* students (paper Fig. 3): (a) L_S against the teacher's size, colour = the
    teacher's compute, marker = student; (b) L_S against L_T for all of them, colour = student, dashed = the
    student's supervised baseline."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(plots.FULL_WIDTH, 7.6))
    if p2.empty:
        for ax in (ax1, ax2):
            _pending_axes(ax, "pending: no protocol-2 run recorded yet")
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


def collapse_frame(col: pd.DataFrame) -> pd.DataFrame:
    cols = ["teachers", "scatter (%)", "× seed noise", "size effect (nats)", "threshold", "only through L_T?"]
    if col.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(
        {
            "student": col["model"],
            "teachers": col["teachers"],
            "scatter (%)": 100 * col["rms_resid"],
            "× seed noise": col["noise_ratio"],
            "size effect (nats)": col["size_effect"],
            "threshold": col["threshold"],
            "only through L_T?": col["collapse"],
        }
    )
    return out.set_index("student")


def protocol2_sentence(data: StudyData, res: ds.Resolution) -> str:
    total = int(data.design.loc[data.design["block"] == "protocol2", "key"].nunique())
    p2 = data.block("protocol2")
    verdict, text = ds.judge_collapse(p2, res)
    head = f"{p2['key'].nunique()} of {total} protocol-2 runs are recorded. "
    if verdict == "pending":
        return head + f"The test is pending: {text}."
    return head + text[0].upper() + text[1:] + "."


def fig_protocol1(p1: pd.DataFrame):
    """Fixed-M* teachers, student IsoFLOPs (paper Fig. 2): per teacher, L_S against the student's size on each
    student-compute budget; dashed: the teacher's loss; dotted: the teacher's size."""
    teachers = p1.drop_duplicates("teacher").sort_values("teacher_n_params") if len(p1) else p1
    k = max(1, len(teachers))
    fig, axes = plots.panel_grid(k, height=2.9, extra_height=0.4, sharey=True)
    if p1.empty:
        _pending_axes(axes[0], "pending: no protocol-1 run recorded yet")
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
        _pending_axes(a_top, "pending: no protocol-1 run recorded yet")
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
        _pending_axes(b_top, "pending: no protocol-2 run recorded yet")
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


def protocol_best(data: StudyData) -> tuple[pd.DataFrame, dict[float, float], pd.DataFrame]:
    """The optima of protocols 1 and 2 and the supervised compute-optimal losses at protocol 1's student
    budgets (for the figure and its sentences)."""
    opt1 = protocol1_optima(data.block("protocol1"))
    sup_star = supervised_optima(data.supervised, opt1["student_budget"].unique())
    return opt1, sup_star, protocol2_optima(data.block("protocol2"))


def protocol1_optima_sentence(opt: pd.DataFrame, sup_star: dict[float, float]) -> str:
    """Protocol 1's optima in words: where the best student sits against its teacher, and against the
    compute-optimal supervised loss at the same budget."""
    if opt.empty:
        return "The optima follow once protocol-1 runs are recorded."
    interior = opt[opt["edge"].isna()]
    parts = [
        f"Of the {len(opt)} student IsoFLOP profiles, {len(interior)} have an interior minimum; the others "
        "are lowest at an end of the sizes we trained, so their optimum lies beyond it (open markers)"
    ]
    if len(interior):
        larger = int((interior["n_star"] > interior["teacher_n_params"]).sum())
        parts.append(
            f"{larger} of the {len(interior)} interior optima are students larger than their teacher"
        )
    beats = [
        (b, int((opt.loc[opt["student_budget"] == b, "loss_star"] < v).sum()),
         int((opt["student_budget"] == b).sum()))
        for b, v in sorted(sup_star.items())
    ]  # fmt: skip
    if beats:
        parts.append(
            "the best distilled student is below the compute-optimal supervised loss at its budget for "
            + ", ".join(f"{k} of {n} teachers at C_S = {budget_text(b)}" for b, k, n in beats)
            + " (the teacher's cost not counted, as in the paper's protocol 1)"
        )
    return "; ".join(parts) + "."


def protocol2_optima_sentence(opt: pd.DataFrame) -> str:
    """Protocol 2's optima in words: where the best teacher sits against the student, and whether distilling
    from it beats the student's supervised baseline."""
    if opt.empty:
        return "The teacher optima follow once protocol-2 runs are recorded."
    interior = opt[opt["edge"].isna()]
    ends = opt[opt["edge"].notna()]
    out = (
        f"Of the {len(opt)} teacher IsoFLOP profiles of protocol 2, {len(interior)} have an interior best "
        f"teacher ({', '.join(sorted({str(e) for e in ends['edge']}))} end for the others)"
        if len(ends)
        else f"All {len(opt)} teacher IsoFLOP profiles of protocol 2 have an interior best teacher"
    )
    if len(interior):
        smaller = int((interior["n_star"] < interior["n_params"]).sum())
        n_int = len(interior)
        out += f"; the best teacher is smaller than its student in {smaller} of the {n_int} interior cases"
    beats = int((opt["loss_star"] < opt["baseline_loss"]).sum())
    return out + f"; at {beats} of {len(opt)} the student beats its supervised baseline."


def protocol1_sentence(data: StudyData, res: ds.Resolution) -> str:
    total = int(data.design.loc[data.design["block"] == "protocol1", "key"].nunique())
    p1 = data.block("protocol1")
    if p1.empty:
        return f"None of the {total} protocol-1 runs is recorded yet; the figure fills in as they arrive."
    vt = ds.versus_teacher(p1, res)
    below = vt[vt["judged"] == "below"]
    bigger = vt[vt["n_params"] > vt["teacher_n_params"]]
    out = (
        f"{p1['key'].nunique()} of {total} protocol-1 runs are recorded, over "
        f"{p1['teacher'].nunique()} teacher(s). {int((vt['vs_teacher'] < 0).sum())} of {len(vt)} "
        "students end "
        f"below their teacher's loss, {len(below)} by more than the noise"
    )
    if len(bigger):
        out += (
            f"; of the {len(bigger)} students larger than their teacher, "
            f"{int((bigger['vs_teacher'] < 0).sum())} "
            "beat it"
        )
    return out + "."


# --- findings -----------------------------------------------------------------------------------------------


def findings_table(findings: pd.DataFrame):
    """The findings for the page: one row per claim, long texts wrapped, the verdict last."""
    t = findings.set_index("the paper's claim")
    return styled(t, "The paper's claims and ours (verdicts computed from the records)").set_properties(
        **{"white-space": "normal", "text-align": "left"}
    )


def verdict_counts(findings: pd.DataFrame) -> str:
    c = findings["verdict"].value_counts()
    return ", ".join(f"{c[v]} {v}" for v in ds.VERDICTS if v in c)


# --- numbers ------------------------------------------------------------------------------------------------


def numbers(
    data: StudyData, noise: ss.NoiseSummary, res: ds.Resolution, sup: fits.SupervisedInside,
    state: fits.FitState, findings: pd.DataFrame, P: Params,
) -> dict[str, str]:  # fmt: skip
    """Every value glued into the prose (strings, so that a pending quantity reads as such)."""
    p3 = data.block("protocol3")
    gap_runs = data.gap_runs()
    gap = ds.capacity_gap(gap_runs, res)
    opt1, sup_star, opt2 = protocol_best(data)
    typical = (
        float(p3["val_loss"].median())
        if len(p3)
        else float(data.dist["val_loss"].median())
        if len(data.dist)
        else math.nan
    )
    return {
        "dis_progress": progress_sentence(data),
        "dis_design": design_sentence(data),
        "dis_noise": noise_sentence(noise, res, typical, data.records),
        "dis_noise_rel": f"{100 * noise.rel_std:.2f}%" if noise.measured else "pending",
        "dis_resolve_factor": f"{res.factor:g}",
        "dis_teacher_agreement": teacher_agreement_sentence(data),
        "dis_gap": gap_sentence(gap, gap_runs, res),
        "dis_beat": beat_sentence(data.dist, res),
        "dis_supervised": supervised_sentence(p3, res),
        "dis_convergence": convergence_sentence(p3, res),
        "dis_supervised_source": supervised_source_sentence(sup)
        if state.source != "stored" or state.supervised_current
        else "L~_S inside the law comes from our supervised law, held fixed in the fit as in the paper; the "
        "stored fit carries the one of its date (see below).",
        "dis_law_source": law_source_sentence(state, P),
        "dis_extrapolation": extrapolation_sentence(state.fit, noise),
        "dis_law_comparison": law_comparison_sentence(state.fit),
        "dis_threshold": f"{state.fit.threshold:.3f}"
        if state.fit is not None and state.fit.threshold is not None
        else "pending",
        "dis_p2": protocol2_sentence(data, res),
        "dis_p1": protocol1_sentence(data, res),
        "dis_map": advantage_map_sentence(state.fit, data.dist),
        "dis_teacher_map": teacher_map_sentence(state.fit, data.block("protocol2")),
        "dis_p1_optima": protocol1_optima_sentence(opt1, sup_star),
        "dis_p2_optima": protocol2_optima_sentence(opt2),
        "dis_verdicts": verdict_counts(findings),
        "dis_level": f"{P.level:.0%}",
        "dis_paper_runs": str(PAPER_RUNS),
        "dis_paper_high_runs": str(PAPER_HIGH_RUNS),
        "dis_paper_high_loss": f"{PAPER_HIGH_LOSS:g}",
        "dis_paper_error": f"{100 * PAPER_ERROR:g}%",
        "dis_paper_m": f"{PAPER_M:g}",
        "dis_paper_multiples": ", ".join(str(k) for k in ds.PAPER_M_MULTIPLES[:-1])
        + f" and {ds.PAPER_M_MULTIPLES[-1]}",
        "dis_n_runs": str(data.n_recorded),
        "dis_compute_recorded": f"{data.dist.drop_duplicates('key')['flops'].sum():.3g}"
        if len(data.dist)
        else "0",
    }
