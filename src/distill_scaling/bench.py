"""``python -m distill_scaling bench``: speed figures, printed and saved as JSON under ``data/bench/``.

Benchmarks are a registry, ``BENCHES`` (name -> function); each function takes ``quick: bool``
and returns a JSON-ready dict, which the command saves as ``data/bench/<name>.json`` with the machine's
description. Add a section by adding one entry. ``--only NAME`` runs one section.

The ``train`` section measures, in one process: the fp32 matmul peak (1 and 2 threads), tokens/s and achieved
GFLOP/s (paper FLOP accounting) of a supervised and of a distillation training step for several zoo sizes,
the distillation step's cost against the FLOP-ideal ratio (3 F(N_S) + F(N_T)) / 3 F(N_S), and the total
tokens/s of two 1-thread processes against one 2-thread process (which chooses ``runs.default_workers``).
Timings on a shared machine are noisy: every figure is the best of several repeats, and the load average is
saved beside them.

The ``batched`` section (:func:`bench_batched`) measures the batched trainer (:mod:`distill_scaling.batched`):
for the smallest and the largest study model, the share of the one-thread matmul peak (measured in the same
run) that one step of a group of 1, 4 and 8 runs achieves, beside a run's own eager step.

The ``gpu-data`` section (:func:`distill_scaling.gpu_data.measure`) builds the large English corpus from the
registries and measures it, the synthetic language's sampler and floor, against what the gpu profile needs;
the ``prefetch`` section (:func:`distill_scaling.gpu_data.measure_prefetch`) the sampler's rate through
worker processes that make batches ahead (:mod:`distill_scaling.prefetch`).

The ``fit`` section (:func:`bench_fit`) times the fitter and its bootstrap on Chinchilla's runs and on
synthetic runs of the paper's size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import bootstrap, fit, fit_data, gpu_data, paths, replay, store
from .laws import PAPER_DISTILLATION, PAPER_SUPERVISED
from .spec import forward_flops

#: name -> "module:function"; each function takes ``quick`` and returns a JSON-ready dict.

#: (student, teacher) pairs of the train bench: three sizes with a teacher two zoo steps larger, and the
#: largest zoo sizes (supervised only), where the >= 60%-of-peak target applies.
TRAIN_PAIRS = [("L2-d32", "L4-d64"), ("L4-d64", "L6-d96"), ("L6-d96", "L8-d128")]
LARGEST = ["L8-d128", "L10-d160"]
BENCH_BATCH = 32

#: Speed targets of the training core: supervised training of the largest zoo sizes at this fraction of the
#: one-thread matmul peak or more, and a distillation step at most this many times its FLOP-ideal ratio.
TARGET_FRACTION_OF_PEAK = 0.60
TARGET_KD_OVER_IDEAL = 1.15

#: The batched section: the smallest and the largest study model, group sizes, and the issue's targets (share
#: of the one-thread matmul peak a group's step achieves).
BATCHED_MODELS = ["L2-d32", "L10-d160"]
BATCHED_GROUPS = (1, 4, 8)
TARGET_BATCHED_FRACTION = {"L2-d32": 0.50, "L10-d160": 0.65}


def bench_dir():
    return paths.data_dir() / "bench"


def load(name: str = "train") -> dict[str, Any] | None:
    """The saved result of bench section ``name`` (None if it has never been run)."""
    path = bench_dir() / f"{name}.json"
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """The machine and code a benchmark ran on: :func:`distill_scaling.store.provenance` (commit, date, torch
    and Python versions, host) plus the CPU, the GPU and the load average."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    return store.provenance(
        versions=("torch",),
        cpu=cpu_name(),
        cpu_count=os.cpu_count(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        loadavg=list(os.getloadavg()),
    )


# -- primitives ----------------------------------------------------------------------------------------------
def _best_rate(fn: Callable[[], float], seconds: float, repeats: int) -> tuple[float, float]:
    """Run ``fn`` (returns work units done) for ``seconds`` per repeat; the best units per wall-clock second
    and the best units per CPU second of this process over the repeats. On a shared machine the CPU-time rate
    of a one-thread measurement is what the code achieves while it runs; the wall-clock rate includes the
    time other processes took the core away."""
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        work, t0, c0 = 0.0, time.perf_counter(), time.process_time()
        while True:
            work += fn()
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        dc = max(time.process_time() - c0, 1e-9)
        best_wall, best_cpu = max(best_wall, work / dt), max(best_cpu, work / dc)
    return best_wall, best_cpu


def matmul_peak(threads: int, n: int = 1024, seconds: float = 1.0, repeats: int = 3) -> dict[str, float]:
    """fp32 GFLOP/s of an n x n x n matmul on ``threads`` threads (best of ``repeats``): ``wall`` per
    wall-clock second and ``cpu`` per CPU second (per core-second when threads > 1)."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = torch.empty(n, n)
        torch.mm(a, b, out=out)

        def one() -> float:
            torch.mm(a, b, out=out)
            return 2.0 * n**3

        wall, cpu = _best_rate(one, seconds, repeats)
        return {"wall": wall / 1e9, "cpu": cpu / 1e9}
    finally:
        torch.set_num_threads(prev)


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` inside the block, restored after it."""
    import torch  # noqa: PLC0415 - torch is heavy: only the timing paths need it

    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def _warm_rate(
    one: Callable[[], float], *, warmup: int, compile: bool, seconds: float, repeats: int
) -> tuple[float, float]:
    """:func:`_best_rate` of the step ``one`` after ``warmup`` untimed steps (at least two when ``compile``:
    the compilation happens there, outside the timing)."""
    for _ in range(max(warmup, 2 if compile else 0)):
        one()
    return _best_rate(one, seconds, repeats)


def step_rate(
    student: str,
    teacher: str | None = None,
    *,
    batch: int = BENCH_BATCH,
    threads: int = 1,
    seconds: float = 2.0,
    repeats: int = 3,
    warmup: int = 3,
    compile: bool = False,
) -> tuple[float, float]:
    """Tokens per wall-clock second and per CPU second of :func:`train.train_step` (the training loop's own
    step) on random tokens; ``compile`` runs the forward passes through ``torch.compile`` as ``train`` does
    for long runs (the compilation happens in the warmup steps, outside the timing)."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    from . import train  # noqa: PLC0415 - imports torch, which only this path needs
    from .model import Transformer, config_from_name  # noqa: PLC0415 - imports torch, which only this path needs

    with _torch_threads(threads):
        cfg = config_from_name(student)
        model = Transformer(cfg, seed=0)
        opt = train.make_optimizer(model)
        t_model = None
        loss_kw: dict[str, Any] = {"z_loss_coef": 1e-4}
        if teacher is not None:
            t_model = Transformer(config_from_name(teacher), seed=1).eval().requires_grad_(False)
            loss_kw.update(mix=1.0, temperature=1.0)
        gen = torch.Generator().manual_seed(0)
        data = torch.randint(0, cfg.vocab_size, (batch, cfg.n_ctx + 1), generator=gen)
        x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()

        fwd, t_fwd = (
            (train.compiled_module(model), train.compiled_module(t_model)) if compile else (model, t_model)
        )

        def one() -> float:
            train.train_step(fwd, opt, x, y, teacher=t_fwd, loss_kw=loss_kw, grad_clip=1.0)
            return float(x.numel())

        return _warm_rate(one, warmup=warmup, compile=compile, seconds=seconds, repeats=repeats)


def group_step_rate(
    model: str,
    group: int,
    *,
    batch: int = BENCH_BATCH,
    threads: int = 1,
    seconds: float = 2.0,
    repeats: int = 3,
    warmup: int = 2,
    compile: bool = False,
) -> tuple[float, float]:
    """Tokens per wall-clock second and per CPU second, all runs together, of
    :func:`batched.batched_step` (the batched trainer's own step) for a group of ``group`` supervised runs of
    ``model`` on random tokens; ``compile``: with the group's forward pass and losses compiled (compilation
    happens in the warmup steps, outside the timing)."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    from . import batched, train  # noqa: PLC0415 - imports torch, which only this path needs
    from .model import Transformer, config_from_name  # noqa: PLC0415 - imports torch, which only this path needs

    with _torch_threads(threads):
        cfg = config_from_name(model)
        models = [Transformer(cfg, seed=i) for i in range(group)]
        opts = [train.make_optimizer(m) for m in models]
        gen = torch.Generator().manual_seed(0)
        data = torch.randint(0, cfg.vocab_size, (group, batch, cfg.n_ctx + 1), generator=gen)
        x, y = data[..., :-1].contiguous(), data[..., 1:].contiguous()
        kws = [{"z_loss_coef": 1e-4}] * group
        fn = train.compiled(batched.group_losses) if compile else batched.group_losses

        def one() -> float:
            batched.batched_step(models, opts, x, y, loss_kws=kws, grad_clips=[1.0] * group, losses_fn=fn)
            return float(x.numel())

        return _warm_rate(one, warmup=warmup, compile=compile, seconds=seconds, repeats=repeats)


def _parallel_child(model: str, threads: int, seconds: float, barrier, queue) -> None:
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    torch.set_num_threads(threads)
    step_rate(model, threads=threads, seconds=0.5, repeats=1)  # warm up (imports, allocator)
    barrier.wait()
    wall, _ = step_rate(model, threads=threads, seconds=seconds, repeats=1, warmup=0)
    queue.put(wall)


def parallel_rate(model: str, workers: int, threads: int, seconds: float = 6.0) -> float:
    """Total tokens/s of ``workers`` processes with ``threads`` threads each, training at the same time."""
    # Fork the measuring processes from a server that imported torch once (spawning each would re-import it).
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["distill_scaling.bench", "distill_scaling.train", "torch._dynamo"])
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_parallel_child, args=(model, threads, seconds, barrier, queue))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    rates = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return float(sum(rates))


# -- the train section ---------------------------------------------------------------------------------------
def bench_train(quick: bool = False) -> dict[str, Any]:
    """Training throughput against the matmul peak; distillation cost against its FLOP ideal; 2x1 vs 1x2.

    Rates are given per wall-clock second and per CPU second (``*_cpu``); on a busy shared machine compare
    the CPU-second figures, which do not count the time other processes held the core.
    """
    seconds, repeats = (0.5, 1) if quick else (2.0, 3)
    pairs = TRAIN_PAIRS[:1] if quick else TRAIN_PAIRS
    largest = [] if quick else LARGEST
    out: dict[str, Any] = {"batch_seqs": BENCH_BATCH, "n_ctx": 128, "threads": 1}
    peaks = {str(t): matmul_peak(t, repeats=repeats) for t in (1, 2)}
    out["matmul_peak_gflops"] = {t: p["wall"] for t, p in peaks.items()}
    out["matmul_peak_gflops_cpu"] = {t: p["cpu"] for t, p in peaks.items()}
    peak1, peak1_cpu = peaks["1"]["wall"], peaks["1"]["cpu"]
    print(
        f"fp32 matmul peak: {peak1:.1f} GFLOP/s on 1 thread ({peak1_cpu:.1f} per CPU second), "
        f"{peaks['2']['wall']:.1f} on 2 threads; load average {os.getloadavg()[0]:.1f}"
    )
    rows = []
    print("1 thread, batch 32 x 128 tokens; tokens per CPU second (eager | compiled), % of the matmul peak:")
    print(
        f"{'student':>9} {'teacher':>9} {'sup eager':>10} {'sup comp.':>10} {'%peak':>6} "
        f"{'KD comp.':>9} {'ratio':>6} {'ideal':>6} {'r/ideal':>7}"
    )
    sizes = [(s, t) for s, t in pairs] + [(s, None) for s in largest]
    for student, teacher in sizes:
        f_s = forward_flops(student)
        sup, sup_cpu = step_rate(student, seconds=seconds, repeats=repeats)
        comp, comp_cpu = step_rate(student, seconds=seconds, repeats=repeats, compile=True)
        row: dict[str, Any] = {
            "student": student,
            "teacher": teacher,
            "sup_tokens_per_s": sup,
            "sup_tokens_per_cpu_s": sup_cpu,
            "sup_gflops_cpu": 3 * f_s * sup_cpu / 1e9,
            "sup_frac_peak_cpu": 3 * f_s * sup_cpu / 1e9 / peak1_cpu,
            "compiled_tokens_per_s": comp,
            "compiled_tokens_per_cpu_s": comp_cpu,
            "compiled_gflops_cpu": 3 * f_s * comp_cpu / 1e9,
            "compiled_frac_peak_cpu": 3 * f_s * comp_cpu / 1e9 / peak1_cpu,
            "compile_speedup": comp_cpu / sup_cpu,
        }
        line = (
            f"{student:>9} {teacher or '-':>9} {sup_cpu:>10.0f} {comp_cpu:>10.0f}"
            f" {row['compiled_frac_peak_cpu']:>6.0%}"
        )
        if teacher is not None:
            f_t = forward_flops(teacher)
            kd, kd_cpu = step_rate(student, teacher, seconds=seconds, repeats=repeats, compile=True)
            ideal = (3 * f_s + f_t) / (3 * f_s)
            row.update(
                kd_tokens_per_s=kd,
                kd_tokens_per_cpu_s=kd_cpu,
                kd_gflops_cpu=(3 * f_s + f_t) * kd_cpu / 1e9,
                kd_ratio_cpu=comp_cpu / kd_cpu,
                kd_ideal_ratio=ideal,
                kd_ratio_over_ideal=comp_cpu / kd_cpu / ideal,
            )
            line += f" {kd_cpu:>9.0f} {row['kd_ratio_cpu']:>6.2f} {ideal:>6.2f}"
            line += f" {row['kd_ratio_over_ideal']:>7.2f}"
        print(line, flush=True)
        rows.append(row)
    out["steps"] = rows
    par_models = ["L2-d32"] if quick else ["L2-d32", "L6-d96"]
    par = []
    for m in par_models:
        two_by_one = parallel_rate(m, 2, 1, seconds=2.0 if quick else 6.0)
        one_by_two = parallel_rate(m, 1, 2, seconds=2.0 if quick else 6.0)
        par.append({"model": m, "2x1_tokens_per_s": two_by_one, "1x2_tokens_per_s": one_by_two})
        print(
            f"{m}: 2 processes x 1 thread {two_by_one:.0f} tok/s, "
            f"1 process x 2 threads {one_by_two:.0f} tok/s ({two_by_one / one_by_two - 1:+.0%})"
        )
    out["parallel"] = par
    out["loadavg_after"] = list(os.getloadavg())
    return out


# -- the batched section ------------------------------------------------------------------------------------
def bench_batched(quick: bool = False) -> dict[str, Any]:
    """Share of the one-thread matmul peak (per CPU second, both measured here) of a batched step for groups
    of 1, 4 and 8 runs of the smallest and the largest study model, beside a run's own eager step
    (:func:`train.train_step`). ``quick``: the smallest model, groups of 1 and 4, short timings."""
    seconds, repeats = (0.5, 1) if quick else (2.0, 2)
    models = BATCHED_MODELS[:1] if quick else BATCHED_MODELS
    groups = BATCHED_GROUPS[:2] if quick else BATCHED_GROUPS
    peak = matmul_peak(1, repeats=repeats)
    out: dict[str, Any] = {"batch_seqs": BENCH_BATCH, "n_ctx": 128, "threads": 1, "matmul_peak_gflops": peak}
    print(
        f"fp32 matmul peak: {peak['wall']:.1f} GFLOP/s on 1 thread ({peak['cpu']:.1f} per CPU second); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("1 thread, batch 32 x 128 tokens per run; tokens per CPU second of all runs, % of the matmul peak:")
    rows: list[dict[str, Any]] = []

    def row(model: str, group: int | None, compiled: bool, rates: tuple[float, float], label: str) -> None:
        wall, cpu = rates
        frac = 3 * forward_flops(model) * cpu / 1e9 / peak["cpu"]
        rows.append(
            {
                "model": model,
                "group": group,
                "compiled": compiled,
                "tokens_per_s": wall,
                "tokens_per_cpu_s": cpu,
                "frac_peak_cpu": frac,
            }
        )
        target = TARGET_BATCHED_FRACTION.get(model) if group is not None else None
        goal = f" (target {target:.0%})" if target is not None else ""
        print(f"{model:>9} {label:<22} {cpu:>9.0f} tok/CPU-s {frac:>6.1%}{goal}", flush=True)

    for model in models:
        row(
            model,
            None,
            False,
            step_rate(model, seconds=seconds, repeats=repeats, warmup=1),
            "alone (train_step)",
        )
        for g in groups:
            rates = group_step_rate(model, g, seconds=seconds, repeats=repeats, warmup=1)
            row(model, g, False, rates, f"group of {g}")
        if model == models[0] and not quick:
            # Compiled groups of the smallest model only: compilation takes about a minute per group size.
            for g in groups:
                rates = group_step_rate(model, g, seconds=seconds, repeats=repeats, warmup=1, compile=True)
                row(model, g, True, rates, f"group of {g}, compiled")
    out["steps"] = rows
    out["targets"] = TARGET_BATCHED_FRACTION
    out["loadavg_after"] = list(os.getloadavg())
    return out


# -- the fit section -----------------------------------------------------------------------------------------
#: Processes for the distillation bootstrap: one per core of the machine (its refits are independent).
BOOTSTRAP_WORKERS = max(1, os.cpu_count() or 1)


def _timed(label: str, func, record: dict[str, Any]):
    """Run ``func``, store its wall and CPU seconds under ``label`` in ``record``, print them."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = func()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    record[label] = {"wall_seconds": wall, "cpu_seconds": cpu}
    print(f"  {label:<34} {wall:8.1f} s wall {cpu:8.1f} s CPU", flush=True)
    return out


def bench_fit(quick: bool = False) -> dict[str, Any]:
    """Speed of the fitter (``python -m distill_scaling bench --only fit``); returns a JSON-ready dict.

    Measures, wall clock and CPU time of this process (the CPU time is what a free machine's wall time would
    be; on a shared machine the wall time is longer): the Chinchilla refit (4,500 starts, 240 runs) and its
    bootstrap; the paper's supervised grid (9,600 starts, gamma free, 73 synthetic runs); the distillation
    fit with the paper's grid (216,000 starts) on ~700 synthetic runs; and its bootstrap. ``quick`` uses
    fewer bootstrap resamples (the per-refit time is reported either way).
    """
    out: dict[str, Any] = {"loadavg_before": list(os.getloadavg())}
    rng = np.random.default_rng(0)

    chin = fit_data.chinchilla_runs()
    res = _timed(
        "chinchilla_fit",
        lambda: fit.fit_supervised(
            chin["N"], chin["D"], chin["L"], gamma=1.0, delta=1e-3, grid=fit.EPOCH_CHINCHILLA_GRID
        ),
        out,
    )
    out["chinchilla_fit"].update(n_runs=res.n_runs, n_starts=res.n_starts, converged=res.converged)
    n_boot = 512 if quick else 4096
    boot = _timed("chinchilla_bootstrap", lambda: bootstrap.bootstrap(res, n_boot, seed=0), out)
    out["chinchilla_bootstrap"].update(n_resamples=n_boot, converged_fraction=boot.converged_fraction)

    sup = fit_data.simulate_supervised(fit_data.paper_supervised_design(), PAPER_SUPERVISED, 0.005, rng)
    res = _timed("supervised_paper_grid", lambda: fit.fit_supervised(sup["N"], sup["D"], sup["L"]), out)
    out["supervised_paper_grid"].update(n_runs=res.n_runs, n_starts=res.n_starts, converged=res.converged)

    design = fit_data.paper_distillation_design()
    runs = fit_data.simulate_distillation(design, PAPER_SUPERVISED, PAPER_DISTILLATION, 0.005, rng)
    res = _timed(
        "distillation_fit",
        lambda: fit.fit_distillation(
            runs["N_S"], runs["D_S"], runs["L_T"], runs["L_S"], supervised=PAPER_SUPERVISED
        ),
        out,
    )
    out["distillation_fit"].update(
        n_runs=res.n_runs,
        n_starts=res.n_starts,
        n_refined=res.n_refined,
        converged=res.converged,
        score_seconds=res.search.score_seconds,
        batch_seconds=res.search.batch_seconds,
        polish_seconds=res.search.polish_seconds,
    )
    n_boot = 64 if quick else 4096
    workers = BOOTSTRAP_WORKERS
    boot = _timed(
        "distillation_bootstrap", lambda: bootstrap.bootstrap(res, n_boot, seed=0, workers=workers), out
    )
    rec = out["distillation_bootstrap"]
    # The refits run in worker processes: their CPU time, not this process's, is the work done.
    rec["cpu_seconds"] = boot.cpu_seconds + rec["cpu_seconds"]
    rec.update(n_resamples=n_boot, workers=workers, converged_fraction=boot.converged_fraction)
    rec["cpu_seconds_per_4096"] = rec["cpu_seconds"] / n_boot * 4096
    rec["wall_seconds_per_4096"] = rec["wall_seconds"] / n_boot * 4096
    # The intervals as the fit chapters print them (4 significant digits), to compare across versions.
    rec["intervals"] = {k: [float(f"{v:.4g}") for v in iv] for k, iv in boot.intervals().items()}
    print(
        f"  4096 resamples: {rec['wall_seconds_per_4096']:.0f} s wall with {workers} worker(s), "
        f"{rec['cpu_seconds_per_4096']:.0f} CPU-s",
        flush=True,
    )
    out["loadavg_after"] = list(os.getloadavg())
    return out


# -- command line --------------------------------------------------------------------------------------------
def bench_replay(quick: bool = False) -> dict[str, Any]:
    """The device check: the committed study runs replayed on CUDA, cheapest first, for at most
    :data:`REPLAY_SECONDS` (``quick``: the cheapest :data:`replay.QUICK_RUNS`), against their CPU records,
    with the wall time; skipped without a CUDA device."""
    import torch  # noqa: PLC0415 - torch is heavy: only this section and the train section need it

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device (torch.cuda.is_available() is False)"}
    specs = replay.committed_study_specs()
    # Tiny models leave a GPU idle: several processes share it.
    workers = max(1, min(REPLAY_WORKERS, os.cpu_count() or 1))
    if quick:
        return replay.replay(specs[: replay.QUICK_RUNS], "cuda", workers=workers)
    return replay.replay(specs, "cuda", workers=workers, seconds=REPLAY_SECONDS)


#: Processes that share the GPU in the replay section.
REPLAY_WORKERS = 8

#: The replay section's time budget: a device command may run 10 minutes, and the device session
#: (tools/device_session.sh) also trains runs in it.
REPLAY_SECONDS = 240.0

#: Section name -> the function that measures it (``--only NAME`` runs one).
BENCHES: dict[str, Callable[..., dict[str, Any]]] = {
    "train": bench_train,
    "batched": bench_batched,
    "fit": bench_fit,
    "replay": bench_replay,
    "gpu-data": gpu_data.measure,
    "prefetch": gpu_data.measure_prefetch,
}


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling bench [--only NAME] [--quick] [--no-save]``."""
    ap = argparse.ArgumentParser(prog="python -m distill_scaling bench", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--only", action="append", choices=sorted(BENCHES), help="run only this section (repeatable)"
    )
    ap.add_argument("--quick", action="store_true", help="a fast, rough pass (checks that the bench works)")
    ap.add_argument("--no-save", action="store_true", help="print only; do not write data/bench/<name>.json")
    args = ap.parse_args(argv)
    for name in args.only or list(BENCHES):
        print(f"== bench {name}")
        run_section(name, quick=args.quick, save=not args.no_save)
    return 0


def run_section(name: str, quick: bool = False, save: bool = True) -> dict[str, Any]:
    """Run bench section ``name`` and return its record (results plus the machine and the load average);
    with ``save``, also write it to ``data/bench/<name>.json``."""
    if name not in BENCHES:
        raise ValueError(f"unknown bench section {name!r}; allowed: {', '.join(BENCHES)}")
    fn = BENCHES[name]
    load_before = list(os.getloadavg())
    t0 = time.perf_counter()
    results = fn(quick=quick)
    seconds = time.perf_counter() - t0
    prov = machine()
    record = {
        "name": name,
        "date": prov["date"],
        "quick": quick,
        "seconds": seconds,
        "machine": {**prov, "loadavg_before": load_before},
        "results": results,
    }
    if save and "skipped" not in results:  # a skipped section keeps the saved result of a machine that ran it
        path = bench_dir() / f"{name}.json"
        store.write_json_atomic(path, record)
        print(f"   saved {path}")
    return record
