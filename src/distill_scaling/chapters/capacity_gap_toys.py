"""Chapter "Why stronger teachers can hurt": the capacity gap in the toy models of the paper's appendix C.

Parameters, the two experiments as the chapter runs them, and the numbers, tables (the U-shape diagnosis)
and figures of its page; the prose is the notebook's. The models themselves live in
:mod:`distill_scaling.toys`.

Train the mapping-problem grid of a profile without the notebook (what the ``full`` profile does)::

    python -m distill_scaling toys --profile full [--seeds 0,1] [--device cuda]
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import paths, plots, toys
from ..errors import CommandParser
from ..params import Param, ParameterError, Params, validate, with_profile
from ..presentation import styled  # noqa: F401 - the notebook calls ch.styled: every table has one look

CHAPTER = "10_capacity_gap_toys"

PARAMS: dict[str, Param] = {
    # Kernel regression (App. C.1, Fig. 10)
    "kr_basis": Param(
        "int", "number of basis functions of the target (the paper: 1000)", min=2, default=1000
    ),
    "kr_students": Param(
        "list[int]",
        "student capacities n (basis functions), each <= kr_basis",
        min=1,
        default=[300, 400, 500, 600, 700, 800],
    ),
    "kr_teacher_norm": Param("float", "teacher norm budget T (the paper: 5)", min=1e-6, default=5.0),
    "kr_student_norm": Param("float", "student norm budget D <= T (the paper: 4.5)", min=1e-6, default=4.5),
    "kr_seed": Param(
        "int", "seed of the target coefficients alpha_i ~ U[-1, 1] drawn for the figure", min=0, default=0
    ),
    "kr_draws": Param(
        "int",
        "random targets on which the proven U-shape property is checked",
        min=1,
        max=100_000,
        default=1000,
        profiles={"smoke": 20},
    ),
    # The mapping problem (App. C.2, Figs. 11-12)
    "mlp_context": Param(
        "str", "how contexts are drawn (see distill_scaling.toys)", choices=toys.CONTEXT_MODES, default="iid"
    ),
    "mlp_num_classes": Param("int", "number of classes K (inputs have 2K entries)", min=2, max=64, default=8),
    "mlp_student_widths": Param(
        "list[int]",
        "student hidden widths d_ffn",
        min=1,
        max=4096,
        default=[128, 256, 362],
        profiles={"smoke": [8, 16]},
    ),
    "mlp_teacher_widths": Param(
        "list[int]",
        "teacher hidden widths of the Fig. 11 sweep",
        min=1,
        max=4096,
        default=[128, 256, 512],
        profiles={"smoke": [8, 32]},
    ),
    "mlp_teacher_steps": Param(
        "list[int]",
        "training steps of the Fig. 12 teachers",
        min=1,
        max=1_000_000,
        default=[64, 256, 1024, 4096, 16384],
        profiles={"smoke": [4, 16]},
    ),
    "mlp_fig12_teacher_width": Param(
        "int", "hidden width of the Fig. 12 teachers", min=1, max=4096, default=512, profiles={"smoke": 32}
    ),
    "mlp_seeds": Param(
        "int",
        "seeds (trials) per configuration; bands are their (25%, 75%) quantiles",
        min=1,
        max=64,
        default=4,
        profiles={"smoke": 2},
    ),
    "mlp_batch_size": Param(
        "int", "batch size (fresh samples every step)", min=1, default=512, profiles={"smoke": 64}
    ),
    "mlp_student_steps": Param(
        "int",
        "student training steps; 0 = the paper's rule, max(500, 20 N / batch)",
        min=0,
        default=0,
        profiles={"smoke": 20},
    ),
    "mlp_teacher_default_steps": Param(
        "int",
        "training steps of the Fig. 11 teachers; 0 = the paper's rule",
        min=0,
        default=0,
        profiles={"smoke": 20},
    ),
}

#: Share of seeds in which a difference must have the same sign to count (3 of 4 with the paper's 4 trials).
AGREEMENT = 0.75

#: The y-axis ranges of the paper's Fig. 11 (student cross-entropy in nats, accuracy), as read from the
#: figure; the paper gives no table of these results.
PAPER_FIG11_AXES = {"cross_entropy": (0.75, 2.0), "accuracy": (0.5, 0.8)}


def check(P) -> None:
    """Cross-parameter checks that a single :class:`Param` cannot express; raise before any work."""
    if max(P.kr_students) > P.kr_basis:
        raise ParameterError(
            f"parameter 'kr_students' = {P.kr_students} has capacities above kr_basis = {P.kr_basis}; "
            f"allowed: integers in [1, {P.kr_basis}]"
        )
    if P.kr_student_norm > P.kr_teacher_norm:
        raise ParameterError(
            f"parameter 'kr_student_norm' = {P.kr_student_norm} exceeds "
            f"kr_teacher_norm = {P.kr_teacher_norm}; "
            "allowed: 0 < D <= T"
        )
    if P.mlp_context == "pairs" and P.mlp_num_classes < 4:
        raise ParameterError("parameter 'mlp_num_classes' must be >= 4 with mlp_context = 'pairs'")


# --- The experiments ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KernelRegressionStudy:
    """The figure's draw and the property check over many random targets."""

    result: toys.KernelRegressionResult
    draws: int
    draws_with_violations: int
    draws_best_teacher_is_student: int


def kernel_regression_study(P) -> KernelRegressionStudy:
    """Fig. 10's errors for one target, and the proven U-shape property checked on ``kr_draws`` others."""
    kwargs = {"teacher_norm": P.kr_teacher_norm, "student_norm": P.kr_student_norm}
    result = toys.kernel_regression(toys.draw_alpha(P.kr_basis, P.kr_seed), P.kr_students, **kwargs)
    violations = matched = 0
    for i in range(P.kr_draws):
        other = toys.kernel_regression(
            toys.draw_alpha(P.kr_basis, P.kr_seed + 1 + i), P.kr_students, **kwargs
        )
        violations += bool(toys.u_shape_violations(other))
        matched += bool(np.array_equal(other.best_teacher(), other.n))
    return KernelRegressionStudy(result, P.kr_draws, violations, matched)


def mapping_experiment(P) -> toys.MappingExperiment:
    """The mapping-problem grid of the chapter's parameters."""
    return toys.MappingExperiment(
        student_widths=tuple(P.mlp_student_widths),
        teacher_widths=tuple(P.mlp_teacher_widths),
        teacher_steps=tuple(P.mlp_teacher_steps),
        fig12_teacher_width=P.mlp_fig12_teacher_width,
        seeds=tuple(range(P.mlp_seeds)),
        num_classes=P.mlp_num_classes,
        context=P.mlp_context,
        batch_size=P.mlp_batch_size,
        student_steps=P.mlp_student_steps or None,
        teacher_default_steps=P.mlp_teacher_default_steps or None,
    )


def results_file(P) -> Path:
    """Committed ``data/toys/mlp_mapping.json``; a temporary folder for the smoke profile."""
    return toys.results_path(P.runs_dir.parent / "toys") if P.scratch else toys.results_path()


def mapping_progress(P) -> tuple[int, int]:
    """``(recorded, planned)`` runs of the chapter's grid in its results file."""
    plan = [run for _, run in mapping_experiment(P).plan()]
    store = toys.ResultStore(results_file(P))
    return sum(run.key() in store for run in plan), len(plan)


def mapping_records(
    P, *, progress: bool = False, seeds: Sequence[int] | None = None, device: str = "cpu"
) -> pd.DataFrame:
    """The records of the chapter's grid as a frame (:func:`toys.records_frame`). ``default`` reads the
    committed results and trains nothing (missing runs are left out; :func:`mapping_progress` counts them);
    ``smoke`` and ``full`` train whatever is missing first, on ``device``, and only for ``seeds`` when given
    (so that several processes can share a grid)."""
    experiment = mapping_experiment(P)
    if seeds is not None:
        experiment = dataclasses.replace(experiment, seeds=tuple(seeds))
    store = toys.ResultStore(results_file(P))
    if P.profile == "default":
        plan = [run for _, run in experiment.plan()]
        return toys.records_frame([store.records[run.key()] for run in plan if run.key() in store])
    checkpoints = None if P.scratch else paths.checkpoints_dir() / "toys"
    records = toys.ensure(experiment, store, checkpoints=checkpoints, progress=progress, device=device)
    return toys.records_frame(records)


def sweep_teachers(experiment: toys.MappingExperiment, sweep: str) -> dict[str, int]:
    """Keys of the teachers of one sweep mapped to their x value: width (``fig11``) or steps (``fig12``)."""
    if sweep not in ("fig11", "fig12"):
        raise ValueError(f"sweep must be 'fig11' or 'fig12'; got {sweep!r}")
    return {
        t.key(): (t.width if sweep == "fig11" else t.total_steps)
        for seed in experiment.seeds
        for fig, t in experiment.teachers(seed)
        if fig == sweep
    }


def sweep_frames(frame: pd.DataFrame, experiment: toys.MappingExperiment, sweep: str):
    """``(students, teachers)`` of one sweep, each with ``teacher_x`` (the sweep's x value)."""
    xs = sweep_teachers(experiment, sweep)
    students = frame[frame["teacher_key"].isin(xs)].copy()
    students["teacher_x"] = students["teacher_key"].map(xs)
    teachers = frame[frame["key"].isin(xs)].copy()
    teachers["teacher_x"] = teachers["key"].map(xs)
    return students, teachers


def references(frame: pd.DataFrame, experiment: toys.MappingExperiment) -> pd.DataFrame:
    """Students of the student widths trained on labels (and, for ``iid``, on the exact label distribution):
    median and (25%, 75%) quantiles by kind and width."""
    keys = {
        s.key()
        for seed in experiment.seeds
        for special in experiment.reference_teachers()
        for s in experiment.students(special, seed)
    }
    return toys.quantile_summary(frame[frame["key"].isin(keys)], ["kind", "width"])


def supervised_students(P, context: str, seed: int = 0) -> list[toys.MLPRun]:
    """Students of every student width trained on labels (one seed) under the given reading of the rule."""
    return [
        toys.MLPRun(
            w,
            seed,
            P.mlp_student_steps or None,
            num_classes=P.mlp_num_classes,
            context=context,
            batch_size=P.mlp_batch_size,
        )
        for w in P.mlp_student_widths
    ]


def other_context(P) -> str:
    return next(c for c in toys.CONTEXT_MODES if c != P.mlp_context)


def context_check(P, *, progress: bool = False) -> pd.DataFrame:
    """Supervised students (seed 0) under both readings of the labelling rule, against each reading's Bayes
    limits: the evidence for the reading we use (see :mod:`distill_scaling.toys`). Trains what is missing,
    except in the ``default`` profile, which shows the recorded runs only."""
    store = toys.ResultStore(results_file(P))
    rows = []
    for context in (P.mlp_context, other_context(P)):
        bayes = toys.bayes_limits(P.mlp_num_classes, context)
        students = supervised_students(P, context)
        if P.profile == "default":
            found = [store.records[run.key()] for run in students if run.key() in store]
        else:
            found = toys.ensure(students, store, progress=progress)
        for r in found:
            rows.append(
                {
                    "context": context,
                    "width": r["spec"]["width"],
                    "cross-entropy": r["cross_entropy"],
                    "accuracy": r["accuracy"],
                    "Bayes cross-entropy": bayes["cross_entropy"],
                    "Bayes accuracy": bayes["accuracy"],
                }
            )
    return pd.DataFrame(rows).set_index(["context", "width"])


# --- Numbers ------------------------------------------------------------------------------------------------


def kernel_numbers(study: KernelRegressionStudy) -> dict[str, float | int | str]:
    """Every number the kernel-regression section quotes (for glue)."""
    res = study.result
    mid = int(res.n[len(res.n) // 2])
    i = int(np.flatnonzero(res.n == mid)[0])
    best = int(res.best_teacher()[i])
    return {
        "kr_basis": int(res.m[-1]),
        "kr_target_norm": res.target_norm,
        "kr_T": res.teacher_norm,
        "kr_D": res.student_norm,
        "kr_students": ", ".join(str(int(n)) for n in res.n),
        "kr_draws": study.draws,
        "kr_violations": study.draws_with_violations,
        "kr_matched": study.draws_best_teacher_is_student,
        "kr_mid_n": mid,
        "kr_mid_best": best,
        "kr_mid_err_best": float(res.student_error[i, best - res.m[0]]),
        "kr_mid_err_largest": float(res.student_error[i, -1]),
        "kr_teacher_err_largest": float(res.teacher_error[-1]),
        "kr_teacher_err_mid": float(res.teacher_error[mid - res.m[0]]),
    }


def mapping_numbers(frame: pd.DataFrame, experiment: toys.MappingExperiment) -> dict[str, float | int | str]:
    """Every number the mapping-problem sections quote (for glue); ``mid`` is the middle student width."""
    bayes = toys.bayes_limits(experiment.num_classes, experiment.context)
    widths = sorted(experiment.student_widths)
    mid = widths[len(widths) // 2]
    out: dict[str, float | int | str] = {
        "map_bayes_ce": bayes["cross_entropy"],
        "map_bayes_acc": bayes["accuracy"],
        "map_runs": len(frame),
        # Seeds actually recorded: a default-profile page of an incomplete grid must not claim the design's.
        "map_seeds": seeds_text(frame, experiment),
        "map_hours": float(frame["wall_s"].sum() / 3600),
        "map_mid_width": mid,
        "map_student_widths": ", ".join(map(str, widths)),
        "map_teacher_widths": ", ".join(map(str, experiment.teacher_widths)),
        "map_teacher_steps": ", ".join(map(str, experiment.teacher_steps)),
        "map_fig12_width": experiment.fig12_teacher_width,
        "paper_fig11_ce_low": PAPER_FIG11_AXES["cross_entropy"][0],
        "paper_fig11_ce_high": PAPER_FIG11_AXES["cross_entropy"][1],
        "paper_fig11_acc_low": PAPER_FIG11_AXES["accuracy"][0],
        "paper_fig11_acc_high": PAPER_FIG11_AXES["accuracy"][1],
        **device_numbers(frame),
    }
    for w in widths:
        run = toys.MLPRun(
            w,
            0,
            experiment.student_steps,
            num_classes=experiment.num_classes,
            context=experiment.context,
            batch_size=experiment.batch_size,
        )
        out[f"map_steps_{w}"] = run.total_steps
        out[f"map_params_{w}"] = toys.mlp_params(w, experiment.num_classes)
    refs = references(frame, experiment)
    if ("supervised", mid) in refs.index:
        out["map_mid_supervised_ce"] = float(refs.loc[("supervised", mid), ("cross_entropy", "median")])
        out["map_mid_supervised_acc"] = float(refs.loc[("supervised", mid), ("accuracy", "median")])
    if ("bayes", mid) in refs.index:
        out["map_mid_bayes_teacher_ce"] = float(refs.loc[("bayes", mid), ("cross_entropy", "median")])
    for sweep in ("fig11", "fig12"):
        table = u_shape_table(frame, experiment, sweep)
        out.update(u_shape_numbers(table, mid, f"{sweep}_mid"))
        out[f"{sweep}_u_shapes"] = ", ".join(str(w) for w in table.index[table["U-shape"]]) or "none"
        students, teachers = sweep_frames(frame, experiment, sweep)
        kl = students[students["width"] == mid].groupby("teacher_x")["kl_to_teacher"].median()
        out[f"{sweep}_mid_kl_weakest"] = float(kl.iloc[0])
        out[f"{sweep}_mid_kl_strongest"] = float(kl.iloc[-1])
        t_ce = teachers.groupby("teacher_x")["cross_entropy"].median()
        out[f"{sweep}_teacher_ce_weakest"] = float(t_ce.iloc[0])
        out[f"{sweep}_teacher_ce_strongest"] = float(t_ce.iloc[-1])
        best_ce = students[students["width"] == mid].groupby("teacher_x")["cross_entropy"].median().min()
        out[f"{sweep}_mid_best_ce"] = float(best_ce)
    return out


def seeds_text(frame: pd.DataFrame, experiment: toys.MappingExperiment) -> str:
    """How many seeds each configuration of the recorded runs has: "4", or "1 to 4" when they differ."""
    if frame.empty:
        return "0"
    # Each seed has its own teachers, so a configuration is the teacher's width and steps, not its key.
    config = ["kind", "width", "steps", "teacher", "teacher_width", "teacher_steps"]
    per_config = frame.groupby(config, dropna=False)["seed"].nunique()
    lo, hi = int(per_config.min()), int(per_config.max())
    return str(lo) if lo == hi else f"{lo} to {hi}"


def u_shape_numbers(table: pd.DataFrame, width: int, prefix: str) -> dict[str, float | int | str]:
    """The shape of the student of ``width`` in a :func:`u_shape_table`: a short phrase (``shape``), its
    best teacher, median cross-entropies with the weakest, best and strongest teacher, and in how many seeds
    the strongest teacher is worse than the best (``worse``, "3/4")."""
    if width not in table.index:
        nan = float("nan")
        return {
            f"{prefix}_shape": "no recorded runs",
            f"{prefix}_best_teacher": 0,
            f"{prefix}_ce_weakest": nan,
            f"{prefix}_ce_best": nan,
            f"{prefix}_ce_strongest": nan,
            f"{prefix}_worse": "0/0",
        }
    row = table.loc[width]
    weak, best, strong = (float(row[f"CE, {k} teacher"]) for k in ("weakest", "best", "strongest"))
    if row["U-shape"]:
        shape = "a U-shape"
    elif best == strong:
        shape = "no U-shape: it keeps improving as the teacher gets stronger"
    elif best == weak:
        shape = "no U-shape but a monotone capacity gap: the weakest teacher is best"
    else:
        shape = "no clear U-shape: the strongest teacher is not worse in enough seeds"
    return {
        f"{prefix}_shape": shape,
        f"{prefix}_best_teacher": int(row["best teacher"]),
        f"{prefix}_ce_weakest": weak,
        f"{prefix}_ce_best": best,
        f"{prefix}_ce_strongest": strong,
        f"{prefix}_worse": str(row["seeds where strongest is worse"]),
    }


def context_numbers(table: pd.DataFrame) -> dict[str, float | int]:
    """Per reading of the labelling rule (``iid``, ``pairs``): how many supervised students fall inside both
    of the paper's Fig. 11 ranges, of how many, and their accuracies' range."""
    (ce_lo, ce_hi), (acc_lo, acc_hi) = PAPER_FIG11_AXES["cross_entropy"], PAPER_FIG11_AXES["accuracy"]
    out: dict[str, float | int] = {}
    for context in toys.CONTEXT_MODES:
        part = table.xs(context, level="context") if context in table.index.get_level_values(0) else None
        if part is None or part.empty:
            out.update({f"map_{context}_inside": 0, f"map_{context}_students": 0})
            out.update({f"map_{context}_acc_lo": float("nan"), f"map_{context}_acc_hi": float("nan")})
            continue
        inside = part["cross-entropy"].between(ce_lo, ce_hi) & part["accuracy"].between(acc_lo, acc_hi)
        out[f"map_{context}_inside"] = int(inside.sum())
        out[f"map_{context}_students"] = len(part)
        out[f"map_{context}_acc_lo"] = float(part["accuracy"].min())
        out[f"map_{context}_acc_hi"] = float(part["accuracy"].max())
    return out


def device_numbers(frame: pd.DataFrame) -> dict[str, int | str]:
    """Where the recorded runs trained: how many on one CPU thread, how many on a GPU, and which GPU(s)."""
    devices = frame["device"] if "device" in frame.columns else pd.Series(dtype=str)
    gpu = devices[devices != "cpu"]
    names = sorted({d.split("(", 1)[1].rstrip(")") if "(" in d else d for d in gpu})
    return {
        "map_runs_cpu": int((devices == "cpu").sum()),
        "map_runs_gpu": len(gpu),
        "map_gpus": " and ".join(names) or "none",
    }


# --- Tables -------------------------------------------------------------------------------------------------


def kernel_regression_table(result: toys.KernelRegressionResult) -> pd.DataFrame:
    """Per student capacity n: the best teacher capacity, and the errors it gives and the largest gives."""
    rows = []
    for i, n in enumerate(result.n):
        err = result.student_error[i]
        best = int(result.best_teacher()[i])
        rows.append(
            {
                "student capacity n": int(n),
                "best teacher capacity m*": best,
                "student error at m*": err[best - result.m[0]],
                f"student error at m = {int(result.m[-1])}": err[-1],
                "teacher error at m*": result.teacher_error[best - result.m[0]],
            }
        )
    return pd.DataFrame(rows).set_index("student capacity n")


def u_shape_table(frame: pd.DataFrame, experiment: toys.MappingExperiment, sweep: str) -> pd.DataFrame:
    """The U-shape diagnosis of each student in one sweep (``fig11`` or ``fig12``).

    Per student width: the teacher with the lowest median student cross-entropy (the best teacher), and the
    paired (same seed) differences from the best teacher to the weakest and to the strongest teacher. A
    student shows a U-shape when its best teacher is neither the weakest nor the strongest, and both
    differences are positive in at least 75% of the seeds.
    """
    students, _ = sweep_frames(frame, experiment, sweep)
    rows = []
    for width, group in students.groupby("width"):
        wide = group.pivot_table(index="seed", columns="teacher_x", values="cross_entropy")
        medians = wide.median()
        best = int(medians.idxmin())
        weakest, strongest = int(wide.columns.min()), int(wide.columns.max())
        fall = wide[weakest] - wide[best]
        rise = wide[strongest] - wide[best]
        falls = best != weakest and (fall > 0).mean() >= AGREEMENT
        rises = best != strongest and (rise > 0).mean() >= AGREEMENT
        rows.append(
            {
                "student width": int(width),
                "best teacher": best,
                "CE, weakest teacher": medians[weakest],
                "CE, best teacher": medians[best],
                "CE, strongest teacher": medians[strongest],
                "rise to strongest (median)": rise.median(),
                "seeds where strongest is worse": f"{int((rise > 0).sum())}/{len(rise)}",
                "U-shape": bool(falls and rises),
            }
        )
    return pd.DataFrame(rows).set_index("student width")


def context_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per reading of the labelling rule: the supervised students of :func:`context_check`, how many fall
    inside both of the paper's Fig. 11 ranges, and their accuracies (:func:`context_numbers`)."""
    n = context_numbers(table)
    rows = [
        {
            "reading": context,
            "supervised students": n[f"map_{context}_students"],
            "inside both Fig. 11 ranges": n[f"map_{context}_inside"],
            "lowest accuracy": n[f"map_{context}_acc_lo"],
            "highest accuracy": n[f"map_{context}_acc_hi"],
        }
        for context in toys.CONTEXT_MODES
    ]
    return pd.DataFrame(rows).set_index("reading")


def runtime_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Wall time of the mapping-problem runs by device and kind, in seconds (see each record's provenance)."""
    out = frame.groupby(["device", "kind"])["wall_s"].agg(["count", "sum", "median"])
    out.columns = ["runs", "total wall time (s)", "median per run (s)"]
    return out


# --- Figures ------------------------------------------------------------------------------------------------


def fig_kernel_regression(result: toys.KernelRegressionResult):
    """Paper Fig. 10: teacher error (solid) and student errors (dashed) against teacher capacity m."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colors = plots.sequential(len(result.n), "viridis")
    for i, n in enumerate(result.n):
        ax.plot(
            result.m, result.student_error[i], ls="--", lw=1.4, color=colors[i], label=f"student, $n$ = {n}"
        )
        best = int(result.best_teacher()[i])
        ax.plot(best, result.student_error[i, best - result.m[0]], "o", ms=4, color=colors[i])
    ax.plot(result.m, result.teacher_error, color="black", lw=1.8, label="teacher")
    ax.set_xlabel("teacher capacity $m$ (basis functions)")
    ax.set_ylabel(r"error $\|f^* - \cdot\|$")
    ax.legend(ncol=2, loc="upper right")
    ax.set_title(
        f"$T$ = {result.teacher_norm:g}, $D$ = {result.student_norm:g}, "
        rf"$\|\alpha\|$ = {result.target_norm:.1f}; dots: each student's best teacher"
    )
    return fig


def _band(ax, x, summary: pd.DataFrame, metric: str, color, label: str, **kwargs) -> None:
    ax.plot(x, summary[(metric, "median")], marker="o", ms=4, color=color, label=label, **kwargs)
    ax.fill_between(x, summary[(metric, "q25")], summary[(metric, "q75")], color=color, alpha=0.2, lw=0)


def fig_mapping(frame: pd.DataFrame, experiment: toys.MappingExperiment, sweep: str):
    """Paper Figs. 11 (``sweep="fig11"``, x = teacher width) and 12 (``"fig12"``, x = teacher steps).

    Three panels: student cross-entropy, accuracy, and KL(teacher || student), each the median over seeds with
    the (25%, 75%) band; the teachers' own values in black; supervised students as dotted lines; the
    Bayes-optimal limits in grey.
    """
    metrics = [
        ("cross_entropy", "cross-entropy (nats)"),
        ("accuracy", "accuracy"),
        ("kl_to_teacher", "KL(teacher || student) (nats)"),
    ]
    students, teachers = sweep_frames(frame, experiment, sweep)
    refs = references(frame, experiment)
    bayes = toys.bayes_limits(experiment.num_classes, experiment.context)
    colors = dict(
        zip(experiment.student_widths, plots.sequential(len(experiment.student_widths), "crest"), strict=True)
    )
    fig, axes = plots.panel_grid(len(metrics), height=3.0)
    for width, group in students.groupby("width"):
        summary = toys.quantile_summary(group, ["teacher_x"], metrics=[m for m, _ in metrics])
        x = summary.index.to_numpy()
        for ax, (metric, _) in zip(axes, metrics, strict=True):
            _band(ax, x, summary, metric, colors[width], f"student {width}")
            if metric != "kl_to_teacher" and ("supervised", width) in refs.index:
                ax.axhline(
                    refs.loc[("supervised", width), (metric, "median")], color=colors[width], ls=":", lw=1.2
                )
    t_summary = toys.quantile_summary(teachers, ["teacher_x"])
    for ax, (metric, ylabel) in zip(axes, metrics, strict=True):
        if metric != "kl_to_teacher":
            _band(ax, t_summary.index.to_numpy(), t_summary, metric, "black", "teacher", ls="-")
            ax.axhline(bayes[metric], color=plots.PAPER_COLOR, ls="-.", lw=1, label="Bayes-optimal")
        ax.set_xscale("log", base=2)
        ax.set_xticks(t_summary.index.to_numpy(), [str(v) for v in t_summary.index])
        ax.minorticks_off()
        ax.set_xlabel("teacher width $d_{ffn}$" if sweep == "fig11" else "teacher training steps")
        ax.set_ylabel(ylabel)
    axes[1].plot([], [], color="grey", ls=":", label="supervised student")
    plots.spare_legend(fig, *axes[1].get_legend_handles_labels(), ncols=2)
    return fig


# --- Command line -------------------------------------------------------------------------------------------


def cli(argv: Sequence[str]) -> int:
    """``python -m distill_scaling toys [--profile smoke|default|full] [--seeds 0,1]
    [--device cpu|cuda|cuda:N]``: train the missing mapping-problem runs of a profile (single-threaded), then
    print a summary."""
    parser = CommandParser(
        prog="python -m distill_scaling toys",
        description="Train the missing mapping-problem runs of the capacity-gap toys (chapter 10) for a "
        "profile, single-threaded, then print a summary.",
    )
    parser.add_argument("--profile", default="full", choices=["smoke", "default", "full"])
    parser.add_argument(
        "--seeds",
        default=None,
        help="comma-separated seeds to train, a subset of the profile's range(mlp_seeds) (default: all); "
        "processes given different seeds can fill one results file side by side",
    )
    parser.add_argument(
        "--device", default="cpu", help="'cpu' (default), 'cuda' or 'cuda:N'; records note the device"
    )
    args = parser.parse_args(argv)
    P = Params(validate(with_profile(PARAMS), {"profile": args.profile}))
    try:
        toys.check_device(args.device)
    except ValueError as err:
        parser.error(f"--device: {err}")
    seeds = None
    if args.seeds is not None:
        allowed = list(range(P.mlp_seeds))
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            seeds = None
        if not seeds or any(s not in allowed for s in seeds):
            parser.error(f"--seeds must be comma-separated ints from {allowed}; got {args.seeds!r}")
    import torch  # noqa: PLC0415 - heavy; only training needs it

    torch.set_num_threads(1)
    P.scratch = args.profile == "smoke"
    P.runs_dir = Path(paths.runs_dir())
    if P.scratch:
        P.runs_dir = Path(tempfile.mkdtemp(prefix="ds-toys-")) / "runs"
    check(P)
    frame = mapping_records(P, seeds=seeds, device=args.device, progress=True)
    experiment = mapping_experiment(P)
    print(f"{len(frame)} runs in {results_file(P)}; total wall time {frame['wall_s'].sum() / 3600:.2f} h")
    for sweep in ("fig11", "fig12"):
        print(sweep)
        print(u_shape_table(frame, experiment, sweep).to_string())
    return 0


__all__ = [
    "PARAMS",
    "check",
    "context_check",
    "context_numbers",
    "context_table",
    "device_numbers",
    "styled",
    "fig_kernel_regression",
    "fig_mapping",
    "kernel_numbers",
    "mapping_numbers",
    "kernel_regression_study",
    "kernel_regression_table",
    "mapping_experiment",
    "mapping_records",
    "references",
    "runtime_table",
    "sweep_frames",
    "seeds_text",
    "u_shape_numbers",
    "u_shape_table",
]
