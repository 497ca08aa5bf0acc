"""Chapter "Setup": the corpus, the synthetic source, the model zoo, FLOP accounting, hyperparameters, the
learning-rate sweep (the analogue of the paper's Fig. 53) and the training benchmark.

The learning-rate sweep's runs are ordinary run-store records; train the missing ones without the notebook
(what the ``full`` profile does) with::

    python -m distill_scaling lr-sweep --profile full --workers 2
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import bench, flops, gpu_cost, plots, runs, store, study
from ..errors import CommandParser, int_or_text
from ..model import gpu_zoo
from ..params import Param, Params, validate, with_profile
from ..spec import (
    MAX_BATCH_SEQS,
    MAX_EPOCHS,
    MIN_BATCH_SEQS,
    MIN_STEPS,
    WARMUP_FRACTION,
    WARMUP_MAX,
    WARMUP_MIN,
    RunSpec,
    forward_flops,
    total_flops,
)

CHAPTER = "02_setup"

#: Seven peak learning rates, log-spaced over two decades (the paper's Fig. 53 sweeps 1e-3..1e-1).
SWEEP_LRS = [float(f"{x:.3g}") for x in np.geomspace(1e-3, 1e-1, 7)]

PARAMS: dict[str, Param] = {
    "sweep_models": Param(
        "list[str]",
        "zoo models of the learning-rate sweep (two or more widths)",
        default=["L2-d32", "L5-d80"],
        profiles={"smoke": ["L1-d16", "L2-d32"]},
    ),
    "sweep_lrs": Param(
        "list[float]",
        "peak learning rates of the sweep",
        min=1e-5,
        max=1.0,
        default=SWEEP_LRS,
        profiles={"smoke": [3e-3, 3e-2]},
    ),
    "sweep_tokens": Param(
        "int",
        "training tokens of every sweep run (the batch rule keeps >= 500 steps)",
        min=1024,
        default=study.LR_SWEEP_TOKENS,
        profiles={"smoke": 40 * 8 * 128},
    ),
    "sweep_seed": Param("int", "initialisation and data-order seed of the sweep runs", min=0, default=0),
    "eval_tokens": Param(
        "int",
        "validation tokens of each run's final loss (0: the whole validation split)",
        min=0,
        default=0,
        profiles={"smoke": 8192},
    ),
    "workers": Param(
        "int",
        "parallel training processes (1 thread each) when runs are missing",
        min=1,
        max=64,
        default=2,
        profiles={"smoke": 1},
    ),
    "sample_chars": Param("int", "characters of the corpus sample shown", min=50, max=5000, default=700),
}


# -- hyperparameters -----------------------------------------------------------------------------------------
def hyperparameter_table(example_tokens: Sequence[int] = (1_000_000, 4_000_000, 20_000_000)) -> pd.DataFrame:
    """Training hyperparameters of every run (RunSpec defaults and rules) beside the paper's (App. I)."""
    d = RunSpec("L2-d32", tokens=example_tokens[0], corpus="synthetic")
    batch = ", ".join(
        f"{t / 1e6:g}M tokens: {RunSpec('L2-d32', tokens=t, corpus='synthetic').batch_size} x 128"
        for t in example_tokens
    )
    rows = [
        ("optimiser", "AdamW (decoupled weight decay)", "AdamW (decoupled weight decay)"),
        ("beta1, beta2, eps", f"{d.beta1}, {d.beta2}, {d.eps:g}", "not stated"),
        ("peak learning rate", "chosen by the sweep below", "1e-2 (muP simple)"),
        ("parameterisation", "muP (simple): hidden LR x base_width / d_model", "muP (simple)"),
        ("weight decay", f"{d.weight_decay:g} (independent of the LR)", "1e-4"),
        (
            "schedule",
            f"linear warmup, cosine to {d.final_lr_frac:g} x peak",
            "warmup, cosine to 1/1000 of peak",
        ),
        (
            "warmup steps",
            f"{WARMUP_FRACTION:.0%} of the steps, in [{WARMUP_MIN}, {WARMUP_MAX}]",
            "2000",
        ),
        ("gradient clipping (global norm)", f"{d.grad_clip:g}", "1.0"),
        ("z-loss coefficient", f"{d.z_loss:g}", "1e-4"),
        ("context", f"{d.config.n_ctx} tokens (bytes)", "4096 tokens"),
        (
            "batch (sequences x context)",
            f"largest power of two in [{MIN_BATCH_SEQS}, {MAX_BATCH_SEQS}] leaving >= "
            f"{MIN_STEPS} steps ({batch})",
            "not stated",
        ),
        (
            "data repetition",
            f"at most {MAX_EPOCHS:g} epochs of a split (refused beyond)",
            "up to ~5.7 epochs",
        ),
        ("distillation", "pure KD (lambda = 1), tau = 1, forward KL, full vocabulary", "lambda = 1, tau = 1"),
        ("precision", "fp32 on the CPU; bf16 autocast on a GPU", "not stated"),
    ]
    return pd.DataFrame(rows, columns=["setting", "ours", "paper"])


def mup_table(models: Sequence[str]) -> pd.DataFrame:
    """muP (simple) per model: the learning-rate multipliers of the three parameter groups, init stds and
    the output multiplier."""
    from ..model import Transformer, config_from_name, param_groups  # noqa: PLC0415 - imports torch (heavy): only here

    rows = []
    for name in models:
        cfg = config_from_name(name)
        groups = {g["name"]: g for g in param_groups(Transformer(cfg), 1.0)}
        rows.append(
            {
                "model": name,
                "d_model": cfg.d_model,
                "hidden LR / peak": groups["hidden"]["lr_mult"],
                "embedding LR / peak": groups["embedding"]["lr_mult"],
                "gains LR / peak": groups["gains"]["lr_mult"],
                "hidden init std": 1 / math.sqrt(cfg.d_model),
                "logit multiplier": cfg.logit_mult,
            }
        )
    return pd.DataFrame(rows)


def distillation_cost_table(pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Per (student, teacher): F(N) per token and the FLOP-ideal cost of a distillation step relative to a
    supervised one, (3 F_S + F_T) / 3 F_S (paper Eq. 9 without teacher pretraining)."""
    rows = []
    for s, t in pairs:
        f_s, f_t = forward_flops(s), forward_flops(t)
        rows.append(
            {
                "student": s,
                "teacher": t,
                "F(N_S) per token": f_s,
                "F(N_T) per token": f_t,
                "training 3F(N_S)": 3 * f_s,
                "distillation 3F(N_S) + F(N_T)": 3 * f_s + f_t,
                "ideal ratio": (3 * f_s + f_t) / (3 * f_s),
            }
        )
    return pd.DataFrame(rows)


# -- the learning-rate sweep ---------------------------------------------------------------------------------
def sweep_specs(models: Sequence[str], lrs: Sequence[float], tokens: int, seed: int = 0) -> list[RunSpec]:
    """Supervised runs on the teacher split: every model at every peak learning rate, all else default."""
    return [RunSpec(m, tokens=tokens, lr=float(lr), seed=seed, data_seed=seed) for m in models for lr in lrs]


def sweep_runs(P: Params, progress: bool = True) -> tuple[pd.DataFrame, list[RunSpec]]:
    """The sweep's records as a table (one row per run), training the missing ones unless the profile is
    ``default``; also returns the specs still missing."""
    specs = sweep_specs(P.sweep_models, P.sweep_lrs, P.sweep_tokens, P.sweep_seed)
    kw = {"eval_tokens": P.eval_tokens} if P.eval_tokens else {}
    if P.profile != "default":
        # Rates near the paper's 1e-2 first, alternating widths: the first records already say the most.
        order = sorted(specs, key=lambda s: (round(abs(math.log(s.lr / 1e-2)), 6), s.lr, s.model))
        runs.ensure(order, workers=P.workers, threads=1, progress=progress, **kw)
    records = [store.get(s) for s in specs]
    missing = [s for s, r in zip(specs, records, strict=True) if r is None]
    rows = []
    for spec, rec in zip(specs, records, strict=True):
        if rec is None:
            continue
        res = rec["results"]
        rows.append(
            {
                "model": spec.model,
                "d_model": spec.config.d_model,
                "N": spec.config.n_params,
                "lr": spec.lr,
                "tokens": res["tokens_trained"],
                "steps": res["steps"],
                "batch_tokens": res["batch_tokens"],
                "val_loss": res["val_loss"],
                "key": spec.key,
                "curve": res["curve"],
            }
        )
    return pd.DataFrame(rows), missing


def best_lr(df: pd.DataFrame) -> pd.DataFrame:
    """Per model: the best swept LR, its loss, and the loss at each LR relative to the best."""
    rows = []
    for model, g in df.groupby("model", sort=False):
        g = g.sort_values("lr")
        i = g["val_loss"].idxmin()
        rows.append(
            {
                "model": model,
                "d_model": int(g["d_model"].iloc[0]),
                "best_lr": float(g.loc[i, "lr"]),
                "best_val_loss": float(g.loc[i, "val_loss"]),
                "lr_fit": fitted_optimum(g["lr"].to_numpy(), g["val_loss"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


def choose_lr(df: pd.DataFrame) -> float:
    """The swept LR with the smallest mean excess loss over the widths (each width's loss minus its best),
    i.e. the one rate that serves all widths best, as muP promises."""
    excess = df["val_loss"] - df.groupby("model")["val_loss"].transform("min")
    complete = (
        df.assign(excess=excess).groupby("lr").filter(lambda g: g["model"].nunique() == df["model"].nunique())
    )
    if complete.empty:
        raise ValueError("no learning rate has a run at every width yet")
    return float(complete.groupby("lr")["excess"].mean().idxmin())


def excess_at(df: pd.DataFrame, lr: float) -> pd.Series:
    """Per model: the loss at peak LR ``lr`` minus the model's best swept loss (NaN where not run)."""
    best = df.groupby("model")["val_loss"].min()
    at = df[np.isclose(df["lr"], lr, rtol=1e-3)].set_index("model")["val_loss"]
    return (at - best).reindex(best.index)


def sensitivity(df: pd.DataFrame) -> dict[str, float]:
    """How much the rate matters: the largest excess loss one grid step from a width's best rate (``near``),
    and the smallest excess at the lowest swept rate over the widths (``far``)."""
    lrs = np.sort(df["lr"].unique())
    near, far = [], []
    for _, g in df.groupby("model"):
        g = g.sort_values("lr").reset_index(drop=True)
        i = int(g["val_loss"].idxmin())
        best = g.loc[i, "val_loss"]
        near += [g.loc[j, "val_loss"] - best for j in (i - 1, i + 1) if 0 <= j < len(g)]
        low = g[np.isclose(g["lr"], lrs[0])]
        if not low.empty:
            far.append(float(low["val_loss"].iloc[0] - best))
    return {
        "near": float(max(near)) if near else float("nan"),
        "far": float(min(far)) if far else float("nan"),
        "lowest_lr": float(lrs[0]),
    }


def fitted_optimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    """LR at the minimum of a parabola in log LR through the best point and its two neighbours (the best
    swept LR itself when it lies on the grid's edge)."""
    order = np.argsort(lrs)
    x, y = np.log(np.asarray(lrs, float)[order]), np.asarray(losses, float)[order]
    i = int(np.argmin(y))
    if i == 0 or i == len(x) - 1:
        return float(math.exp(x[i]))
    a, b, _ = np.polyfit(x[i - 1 : i + 2], y[i - 1 : i + 2], 2)
    return float(math.exp(-b / (2 * a))) if a > 0 else float(math.exp(x[i]))


def fig_lr_sweep(df: pd.DataFrame, chosen_lr: float | None = None, chosen_label: str = "chosen peak LR"):
    """Final validation loss against peak learning rate, one curve per width (paper Fig. 53 analogue), with
    a dashed line at ``chosen_lr``."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    models = list(dict.fromkeys(df["model"]))
    colors = plots.sequential(max(len(models), 2), "viridis")
    for color, model in zip(colors, models, strict=False):
        g = df[df["model"] == model].sort_values("lr")
        label = f"{model} ($N$ = {int(g['N'].iloc[0]):,})"
        ax.plot(g["lr"], g["val_loss"], "o-", color=color, label=label)
        i = g["val_loss"].idxmin()
        ax.plot(g.loc[i, "lr"], g.loc[i, "val_loss"], "*", color=color, markersize=14, markeredgecolor="k")
    if chosen_lr is not None:
        ax.axvline(chosen_lr, color="k", lw=0.8, ls="--", label=f"{chosen_label} = {chosen_lr:g}")
    plots.log_axis(ax, "x")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel(r"peak learning rate $\eta$")
    ax.set_ylabel("validation loss $L$ (nats per byte)")
    ax.legend()
    return fig


def fig_lr_sweep_curves(df: pd.DataFrame):
    """Loss on the fixed validation subset along training, one panel per width, one curve per peak LR."""
    models = list(dict.fromkeys(df["model"]))
    fig, axes = plots.panel_grid(len(models), height=3.0, extra_height=0.6, sharey=True)
    lrs = sorted(df["lr"].unique())
    colors = dict(zip(lrs, plots.sequential(max(len(lrs), 2), "plasma"), strict=False))
    for ax, model in zip(axes, models, strict=True):
        for _, row in df[df["model"] == model].sort_values("lr").iterrows():
            c = row["curve"]
            tokens = np.asarray(c["val_step"]) * row["batch_tokens"]
            ax.plot(tokens, c["val_loss"], "-", color=colors[row["lr"]], label=f"{row['lr']:g}")
        plots.log_axis(ax, "x")
        ax.set_title(model)
    fig.supxlabel("training tokens $D$")
    fig.supylabel("loss on the validation subset\n(nats per byte)")
    handles, labels = axes[-1].get_legend_handles_labels()
    plots.spare_legend(fig, handles, labels, title=r"peak learning rate $\eta$", ncols=min(len(labels), 5))
    return fig


# -- the benchmark table ------------------------------------------------------------------------------------
def bench_table(result: dict) -> pd.DataFrame:
    """The saved ``train`` benchmark as a table, one row per student size. Rates are per CPU second of the
    one-thread process (robust on a shared machine); distillation steps are compiled, as long runs are."""
    res = result["results"]
    rows = []
    for r in res["steps"]:
        rows.append(
            {
                "student": r["student"],
                "teacher": r["teacher"] or "",
                "supervised tokens/CPU-s, eager": r["sup_tokens_per_cpu_s"],
                "supervised tokens/CPU-s, compiled": r["compiled_tokens_per_cpu_s"],
                "compile speed-up": r["compile_speedup"],
                "GFLOP/CPU-s, compiled": r["compiled_gflops_cpu"],
                "% of matmul peak": 100 * r["compiled_frac_peak_cpu"],
                "distillation tokens/CPU-s": r.get("kd_tokens_per_cpu_s", np.nan),
                "step-time ratio KD / sup.": r.get("kd_ratio_cpu", np.nan),
                "FLOP-ideal ratio": r.get("kd_ideal_ratio", np.nan),
                "ratio / ideal": r.get("kd_ratio_over_ideal", np.nan),
            }
        )
    return pd.DataFrame(rows)


def bench_targets(table: pd.DataFrame) -> dict[str, str]:
    """The benchmark against the speed targets (:data:`bench.TARGET_FRACTION_OF_PEAK`, for the largest sizes,
    and :data:`bench.TARGET_KD_OVER_IDEAL`), as phrases for the prose: ``peak`` and ``kd``."""
    # The largest size benchmarked, the one the chapter's prose quotes.
    largest = table[table["student"].isin(bench.LARGEST)]
    frac = float(largest["% of matmul peak"].iloc[-1]) / 100 if len(largest) else float("nan")
    target = bench.TARGET_FRACTION_OF_PEAK
    if not np.isfinite(frac):
        peak = f"the largest sizes were not benchmarked, so our target of {target:.0%} is not judged"
    elif frac >= target:
        peak = f"which meets our target of {target:.0%} of the peak for the largest sizes"
    else:
        peak = (
            f"short of our target of {target:.0%} of the peak for the largest sizes by "
            f"{100 * (target - frac):.0f} percentage points"
        )
    worst = float(table["ratio / ideal"].max())
    kd_target = bench.TARGET_KD_OVER_IDEAL
    kd = (
        f"within our target of {kd_target:.2f}"
        if worst <= kd_target
        else f"above our target of {kd_target:.2f}"
    )
    return {"peak": peak, "kd": kd}


# -- the gpu profile ----------------------------------------------------------------------------------------
def gpu_block_table() -> pd.DataFrame:
    """The gpu profile's design, one row per block: runs, the models it trains, FLOPs (teacher logits
    included) and H200-hours at the measured utilisation (``gpu_cost``); a last row totals the profile
    (runs shared by blocks counted once)."""
    rows = []
    for name, block in study.GPU_BLOCKS.items():
        specs = block.build()
        rows.append(
            {
                "block": name,
                "what": block.description,
                "runs": len(specs),
                "models": ", ".join(sorted({s.model for s in specs}, key=lambda m: int(m.split("-")[0][1:]))),
                "FLOPs": total_flops(specs),
                "H200-hours": gpu_cost.hours(specs),
            }
        )
    every = study.profile_specs("gpu")
    total = {"block": "total", "what": "every block, shared runs once", "runs": len(every), "models": ""}
    total["FLOPs"] = total_flops(every)
    total["H200-hours"] = gpu_cost.hours(every)
    return pd.DataFrame([*rows, total])


def gpu_zoo_table() -> pd.DataFrame:
    """The gpu zoo: shape, N, forward FLOPs per token, and how many runs of the profile train it."""
    every = study.profile_specs("gpu")
    return pd.DataFrame(
        [
            {
                "model": c.name,
                "n_layers": c.n_layers,
                "d_model": c.d_model,
                "heads": c.n_heads,
                "N": c.n_params,
                "flops_fwd": flops.forward_flops(c),
                "runs": sum(s.model == c.name for s in every),
            }
            for c in gpu_zoo()
        ]
    )


def gpu_summary() -> dict[str, float | int | str]:
    """The gpu profile's numbers for the prose: runs, FLOPs, H200-hours, the ratio to the cpu study's compute,
    budgets, the largest model, context, and how many of its runs (and of the cpu study's) are recorded."""
    every, cpu = study.profile_specs("gpu"), study.profile_specs("cpu")
    gpu_flops, cpu_flops = total_flops(every), total_flops(cpu)
    largest = max(every, key=lambda s: s.config.n_params)
    return {
        "runs": len(every),
        "flops": gpu_flops,
        "hours": gpu_cost.hours(every),
        "cpu_runs": len(cpu),
        "cpu_flops": cpu_flops,
        "ratio": gpu_flops / cpu_flops,
        "budget_min": min(study.GPU_BUDGETS),
        "budget_max": max(study.GPU_BUDGETS),
        "largest_model": largest.model,
        "largest_params": largest.config.n_params,
        "n_ctx": largest.config.n_ctx,
        "head_dim": largest.config.head_dim,
        "zoo_size": len(gpu_zoo()),
        "recorded": sum(store.exists(s) for s in every),
        "cpu_recorded": sum(store.exists(s) for s in cpu),
        "m_star": study.GPU_M_STAR,
        "peak_tflops": gpu_cost.H200_PEAK_FLOPS / 1e12,
        "aspect": largest.config.d_model // largest.config.n_layers,
        "rope_base": largest.config.rope_base,
        "rope_ratio": largest.config.rope_base / largest.config.n_ctx,
        "runs_below_basis": gpu_cost.outside_basis(every)["below"],
    }


def gpu_results_table() -> pd.DataFrame:
    """Each gpu block beside the cpu block it repeats: runs recorded of runs designed and the lowest
    validation loss recorded (NaN where none is)."""

    def side(specs: list[RunSpec]) -> tuple[str, float]:
        records = [r for r in (store.get(s) for s in specs) if r is not None]
        best = min((r["results"]["val_loss"] for r in records), default=float("nan"))
        return f"{len(records)} of {len(specs)}", best

    rows = []
    for name, analogue in study.GPU_ANALOGUES.items():
        gpu_done, gpu_best = side(study.GPU_BLOCKS[name].build())
        cpu_done, cpu_best = side(study.BLOCKS[analogue].build())
        rows.append(
            {
                "gpu block": name,
                "gpu runs recorded": gpu_done,
                "gpu lowest val loss": gpu_best,
                "cpu block": analogue,
                "cpu runs recorded": cpu_done,
                "cpu lowest val loss": cpu_best,
            }
        )
    return pd.DataFrame(rows)


def gpu_basis_table() -> pd.DataFrame:
    """The H200 measurements the hours are sized from (``gpu_cost.MEASURED``)."""
    return pd.DataFrame(gpu_cost.basis_table())


def gpu_data_tables(saved: dict) -> tuple[pd.DataFrame, dict[str, float | int | str]]:
    """The saved data measurement (``bench --only gpu-data``): the large corpus's packages (unique bytes) and
    the numbers the prose quotes (sizes, what the profile needs, the synthetic language's rate and floor)."""
    res = saved["results"]
    large = res["large_corpus"]
    table = pd.DataFrame(
        [
            {"package": f"debian {name} {p['version']}", "archive bytes": p["bytes"],
             "text bytes": p["text_bytes"], "unique bytes kept": p["unique_document_bytes"]}
            for name, p in large["packages"].items()
        ]
    )  # fmt: skip
    table.loc[len(table)] = {
        "package": "the committed corpus",
        "unique bytes kept": large["committed_corpus_bytes"],
    }
    need, over, syn = res["need"], res["need_large"], res["synthetic"]
    iso = over["isoflop_models"][f"{max(study.GPU_BUDGETS):.0e}"]
    ctx = str(syn["sampler_batch"][1] - 1)
    numbers = {
        "date": saved["date"][:10],
        "packages": len(large["packages"]),
        "unique_bytes": large["unique_bytes"],
        "archive_bytes": large["registry_archive_bytes"],
        "download_s": large["download_seconds"],
        "build_s": large["build_seconds"],
        "split_tokens": large["split_tokens"]["teacher"],
        "largest_run": need["splits"]["teacher"]["largest_run_tokens"],
        "teacher_need": need["splits"]["teacher"]["split_tokens_needed"],
        "student_need": need["splits"]["student"]["split_tokens_needed"],
        "total_need": need["total_tokens_needed"],
        "need_ratio": need["total_tokens_needed"] / large["unique_bytes"],
        "runs_over": over["runs_over_four_epochs"],
        "runs": over["runs"],
        "flops_over": over["flops_share_over_four_epochs"],
        "iso_kept": iso["within_four_epochs"],
        "iso_designed": iso["designed"],
        "sampler_rate": syn["sampler_tokens_per_s"],
        "fastest_rate": syn["fastest_run_tokens_per_s"],
        "runs_faster": syn["runs_faster_than_sampler"],
        "floor": syn["window_entropy"][ctx],
        "floor_128": syn["window_entropy"]["128"],
        "syn_unigram": syn["reference_losses"]["unigram"],
        "syn_trigram": syn["reference_losses"]["trigram"],
        "text_unigram": res["text"]["reference_losses"]["unigram"],
        "text_trigram": res["text"]["reference_losses"]["trigram"],
        "text_best": res["text"]["best_cpu_val_loss"],
        "lexicon": syn["lexicon_words"],
        "choice": res["choice"],
    }
    return table, numbers


def prefetch_numbers(saved: dict) -> dict[str, float | int | str]:
    """The saved prefetch measurement (``bench --only prefetch``): the sampler's rate in the training
    process and through the most workers measured, the speed-up, and the workers the fastest gpu run needs
    at the one-worker rate."""
    res = saved["results"]
    rates = {int(w): r for w, r in res["tokens_per_s"].items()}
    most = max(rates)
    return {
        "date": saved["date"][:10],
        "cores": res["cores"],
        "rate_alone": rates[0],
        "workers": most,
        "rate_workers": rates[most],
        "speedup": rates[most] / rates[0],
        "rate_one_worker": rates[1],
        "workers_needed": res["workers_for_fastest_run"],
    }


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling lr-sweep [--profile smoke|default|full] [--workers N]``: train the missing
    runs of the learning-rate sweep of a profile, then print the sweep table."""
    ap = CommandParser(
        prog="python -m distill_scaling lr-sweep",
        description="Train the missing runs of the Setup chapter's learning-rate sweep (chapter 02) for a "
        "profile, then print the sweep and the best rate.",
    )
    ap.add_argument("--profile", default="full", choices=["smoke", "default", "full"])
    ap.add_argument("--workers", type=int_or_text, default=None, help="training processes")
    args = ap.parse_args(argv)
    given = {"profile": args.profile}
    if args.workers is not None:
        given["workers"] = args.workers
    P = Params(validate(with_profile(PARAMS), given))
    df, missing = sweep_runs(P)
    print(df.to_string(index=False))
    print(best_lr(df).to_string(index=False) if not df.empty else "no runs")
    if missing:
        print(f"{len(missing)} runs missing")
    return 0
