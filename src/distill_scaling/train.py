"""One training run, supervised or distillation, from a :class:`~distill_scaling.spec.RunSpec` to its results.

The loop (nanoGPT-style, one screen): batch ``step`` of the spec's split (a pure function of ``data_seed`` and
the step, so a resumed run reads exactly what an uninterrupted one would), the student's forward pass, the
teacher's forward pass under ``torch.inference_mode`` on the same tokens (distillation), the loss of paper
Eq. 7, backward, global-norm clipping at 1.0, AdamW with muP(simple) groups, and the learning-rate schedule
(linear warmup, cosine decay to ``final_lr_frac`` of the peak).

State is checkpointed every few minutes of wall time into ``paths.checkpoints_dir()/<key>/state.pt``
(model, optimiser, step, loss-curve accumulators) and the run resumes from it. At the end the weights (and the
results) are kept in ``final.pt``, which is what a student loads when this run is its teacher.

A distillation run is given its teacher's spec (the executor, :mod:`distill_scaling.runs`, finds it); this
module never reads the run store.
"""

from __future__ import annotations

import math
import os
import pickle
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import corpus, losses, paths, prefetch
from .model import Transformer, param_groups
from .spec import RunSpec, SpecError, run_flops

#: Points of the logged training-loss curve (log-spaced steps) and of the validation curve.
CURVE_POINTS = 48
VAL_CURVE_POINTS = 12
#: Sequences of the fixed validation subset evaluated along the curve (the final loss uses all of val).
VAL_CURVE_SEQS = 32
#: Sequences per forward pass when evaluating.
EVAL_BATCH = 64
#: Runs of at least this many FLOPs (paper accounting) are compiled by default on the CPU: compilation costs
#: ~5-40 CPU seconds once per process and model shape, a step gets 1.3-1.55x faster.
COMPILE_MIN_FLOPS = 2e12
#: The same threshold on CUDA. The study's steps are launch-bound there, not FLOP-bound: on an H200, L10-d160
#: at 32 x 128 tokens (0.08 TFLOP a step) took 37.8 ms eager and 15.3 ms compiled, so compiling saves ~60% of
#: a step (fused kernels, fewer launches), a time that grows with the layers, not with the FLOPs. Every run
#: has the batch rule's 500-1000 steps; from 1e13 FLOPs (L6-d96 and bigger models, ~10 s or more eager at
#: ~3.8 ms a layer and step) a run saves about what a compilation costs (tens of seconds once per process and
#: shape, a few with inductor's on-disk cache warm) or more; smaller runs finish in seconds either way. The
#: compilation time itself is an estimate: the issue measured step times only.
COMPILE_MIN_FLOPS_CUDA = 1e13
#: Default wall time between checkpoints.
CHECKPOINT_INTERVAL_S = 180.0


# -- schedule ------------------------------------------------------------------------------------------------
def lr_factor(step: int, steps: int, warmup: int, final_frac: float) -> float:
    """Schedule factor s_t in [final_frac, 1] for 0-based ``step``: linear warmup over ``warmup`` steps to 1,
    then cosine decay that reaches ``final_frac`` at the last step."""
    if step < warmup:
        return (step + 1) / warmup
    decay_steps = steps - warmup - 1
    if decay_steps <= 0:
        return 1.0
    progress = min(1.0, (step - warmup) / decay_steps)
    return final_frac + (1.0 - final_frac) * 0.5 * (1.0 + math.cos(math.pi * progress))


def curve_steps(steps: int, n: int = CURVE_POINTS) -> list[int]:
    """Log-spaced 1-based step numbers at which the curve is logged (always including the last step)."""
    pts = np.unique(np.round(np.geomspace(1, steps, num=min(n, steps))).astype(int))
    return sorted({int(p) for p in pts} | {steps})


# -- devices and precision -----------------------------------------------------------------------------------
def resolve_device(device: str | None = None) -> torch.device:
    """``None``: CUDA when available, else the CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 autocast on CUDA, fp32 on the CPU (bf16 moved a pilot run by more than seed noise)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def autocast(device: torch.device, precision: str):
    """The autocast context of ``precision`` on ``device`` (bf16 autocast, or nothing for fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


# -- checkpoints ---------------------------------------------------------------------------------------------
def checkpoint_dir(key: str) -> Path:
    return paths.checkpoints_dir() / key


def checkpoint_exists(key: str) -> bool:
    """Whether run ``key`` has final weights in the cache (a teacher's students need them)."""
    return (checkpoint_dir(key) / "final.pt").exists()


def _plain(obj: Any) -> Any:
    """``obj`` with NumPy scalars as Python numbers, so that checkpoints load with ``weights_only=True``."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _load_checkpoint(path: Path, log: Callable[[str], None]) -> dict[str, Any] | None:
    """A checkpoint written by this module, loaded without unpickling code (``weights_only=True``); None
    (start afresh) if it cannot be read that way, e.g. one written by an older version."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        log(f"ignoring checkpoint {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return None


def _save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_model(spec: RunSpec, device: str | torch.device = "cpu"):
    """The trained model of a finished run, from its ``final.pt`` (FileNotFoundError if absent)."""
    state = torch.load(checkpoint_dir(spec.key) / "final.pt", map_location="cpu", weights_only=True)
    model = Transformer(spec.config, seed=spec.seed)
    model.load_state_dict(state["model"])
    return model.to(device)


# -- evaluation ----------------------------------------------------------------------------------------------
_VAL_CACHE: dict[tuple, list] = {}


def val_batches(
    corpus_name: str, n_ctx: int, batch_size: int = EVAL_BATCH
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed held-out validation batches of a corpus (cached per process)."""
    key = (corpus_name, n_ctx, batch_size)
    if key not in _VAL_CACHE:
        src = corpus.get_source(corpus_name)
        _VAL_CACHE[key] = [
            (torch.as_tensor(x), torch.as_tensor(y)) for x, y in src.val_batches(n_ctx, batch_size)
        ]
    return _VAL_CACHE[key]


def _first_sequences(batches: list[tuple[torch.Tensor, torch.Tensor]], n: int):
    """The first ``n`` sequences of ``batches``, in batches of at most EVAL_BATCH sequences."""
    x = torch.cat([b[0] for b in batches])[:n]
    y = torch.cat([b[1] for b in batches])[:n]
    return list(zip(x.split(EVAL_BATCH), y.split(EVAL_BATCH), strict=True))


def _val_subset(corpus_name: str, n_ctx: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """VAL_CURVE_SEQS validation windows spread evenly over the validation split (so every source is in
    it): the small fixed subset evaluated along the curve."""
    batches = val_batches(corpus_name, n_ctx)
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    idx = torch.linspace(0, len(x) - 1, min(VAL_CURVE_SEQS, len(x))).round().long().unique()
    return [(x[idx], y[idx])]


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    teacher: torch.nn.Module | None = None,
    *,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> dict[str, float]:
    """Mean next-token cross-entropy (nats/token) of ``model`` on ``batches``; with a ``teacher`` also the
    teacher's cross-entropy and the mean KL(teacher || student) on the same tokens."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    totals = {"val_loss": 0.0, "teacher_val_loss": 0.0, "val_kl": 0.0}
    n = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        count = y.numel()
        with autocast(device, precision):
            logits = model(x).float()
            totals["val_loss"] += float(losses.next_token_loss(logits, y)) * count
            if teacher is not None:
                t_logits = teacher(x).float()
                totals["teacher_val_loss"] += float(losses.next_token_loss(t_logits, y)) * count
                totals["val_kl"] += float(losses.kl_divergence(t_logits, logits)) * count
        n += count
    model.train(was_training)
    out = {"val_loss": totals["val_loss"] / n}
    if teacher is not None:
        out["teacher_val_loss"] = totals["teacher_val_loss"] / n
        out["val_kl"] = totals["val_kl"] / n
    out["val_tokens"] = n
    return out


def compile_pays(device_type: str, flops: float) -> bool:
    """Whether ``compile=None`` compiles a run of ``flops`` FLOPs (paper accounting) on ``device_type``: on
    the CPU from COMPILE_MIN_FLOPS, on CUDA from COMPILE_MIN_FLOPS_CUDA (see their comments), else never."""
    threshold = {"cpu": COMPILE_MIN_FLOPS, "cuda": COMPILE_MIN_FLOPS_CUDA}.get(device_type)
    return threshold is not None and flops >= threshold


def compiled_module(module: torch.nn.Module | None) -> torch.nn.Module | None:
    """``torch.compile(module)`` sharing its parameters (the optimiser and checkpoints keep using
    ``module``); evaluation keeps the eager module, whose batch shapes differ."""
    return None if module is None else compiled(module)


def compiled(fn: Callable) -> Callable:
    """``torch.compile(fn)``, compiling in this process (a pool of compiler processes would crowd a small
    shared machine)."""
    import torch._inductor.config as inductor_config  # noqa: PLC0415 - torch is heavy: only this path needs it

    inductor_config.compile_threads = 1
    return torch.compile(fn)


def use_compile(spec: RunSpec, device: str | torch.device | None, compile: bool | None = None) -> bool:
    """Whether :func:`train` compiles ``spec`` on ``device`` (``None``: CUDA when available): ``compile``
    if given, else :func:`compile_pays` for the device and the run's FLOPs."""
    if compile is not None:
        return bool(compile)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    return compile_pays(dev.type, run_flops(spec)["total"])


# -- one optimiser step -------------------------------------------------------------------------------------
def loss_kwargs(spec: RunSpec) -> dict[str, Any]:
    """Keyword arguments of :func:`losses.student_loss` for a spec."""
    kw: dict[str, Any] = {"z_loss_coef": spec.z_loss}
    if spec.teacher is not None:
        kw.update(mix=spec.mix, temperature=spec.temperature, kl=spec.kl, top_k=spec.top_k, top_p=spec.top_p)
    return kw


def train_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    teacher: torch.nn.Module | None = None,
    loss_kw: dict[str, Any] | None = None,
    grad_clip: float = 1.0,
    precision: str = "fp32",
) -> torch.Tensor:
    """One optimiser step on the batch ``(x, y)``: forward, (teacher forward), loss, backward, clip, update.

    The teacher runs under ``torch.inference_mode`` (no autograd bookkeeping at all) on the student's tokens.
    Returns the detached loss.
    """
    loss_kw = loss_kw or {}
    with autocast(x.device, precision):
        logits = model(x)
        if teacher is not None:
            with torch.inference_mode():
                t_logits = teacher(x)
            # Inference tensors cannot be saved for backward; a plain copy can (cheap next to the forward).
            loss = losses.student_loss(logits, y, t_logits.clone(), **loss_kw)
        else:
            loss = losses.student_loss(logits, y, **loss_kw)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    apply_update(model, opt, grad_clip)
    return loss.detach()


def apply_update(model: torch.nn.Module, opt: torch.optim.Optimizer, grad_clip: float) -> None:
    """The update once the gradients are in: global-norm clipping at ``grad_clip``, then the AdamW step
    (shared by :func:`train_step` and the batched trainer, :mod:`distill_scaling.batched`)."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    opt.step()


def set_lr(opt: torch.optim.Optimizer, spec: RunSpec, step: int) -> float:
    """Set every group's learning rate for 0-based ``step`` of ``spec``'s schedule; returns the factor."""
    s = lr_factor(step, spec.steps, spec.warmup_steps, spec.final_lr_frac)
    for g in opt.param_groups:
        g["lr"] = g["peak_lr"] * s
    return s


def make_optimizer(
    model: torch.nn.Module,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
) -> torch.optim.Optimizer:
    """AdamW over the muP(simple) parameter groups of :func:`model.param_groups` (each has ``peak_lr``)."""
    return torch.optim.AdamW(param_groups(model, lr, weight_decay), betas=betas, eps=eps, foreach=True)


def eval_batches(spec: RunSpec, eval_tokens: int | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The validation batches of the final evaluation: all of them, or the first ``eval_tokens`` tokens."""
    n_ctx = spec.config.n_ctx
    batches = val_batches(spec.corpus, n_ctx)
    if eval_tokens is not None:
        batches = _first_sequences(batches, max(1, math.ceil(eval_tokens / n_ctx)))
    return batches


def _reevaluate(spec, teacher_spec, saved, eval_tokens, dev, precision, threads, log) -> dict[str, Any]:
    """Results of a finished run evaluated again on other validation tokens (weights from ``final.pt``)."""
    model = Transformer(spec.config, seed=spec.seed)
    model.load_state_dict(saved["model"])
    model.to(dev)
    teacher = load_teacher(teacher_spec, dev, threads, log) if teacher_spec is not None else None
    final = evaluate(model, eval_batches(spec, eval_tokens), teacher, device=dev, precision=precision)
    results = {
        **saved["results"],
        **{k: final[k] for k in ("val_loss", "val_tokens", "val_kl", "teacher_val_loss") if k in final},
    }
    _save_atomic(
        {**saved, "results": _plain(results), "eval_tokens": eval_tokens},
        checkpoint_dir(spec.key) / "final.pt",
    )
    return results


# -- the run -------------------------------------------------------------------------------------------------
def load_teacher(
    teacher_spec: RunSpec, device: torch.device, threads: int | None, log: Callable[[str], None]
) -> torch.nn.Module:
    """The teacher's weights from its checkpoint, retraining the teacher first (deterministically) if the
    checkpoint is gone (a distilled teacher with the teacher it carries)."""
    if not checkpoint_exists(teacher_spec.key):
        log(f"teacher {teacher_spec.key} has no checkpoint: retraining it")
        train(teacher_spec, threads=threads, device=str(device), log=log)
    teacher = load_model(teacher_spec, device)
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


def prepare(
    spec: RunSpec,
    teacher_spec: RunSpec | None,
    threads: int | None,
    device: str | None,
    log: Callable[[str], None],
) -> tuple[torch.device, str, RunSpec | None]:
    """Check a run's arguments before any work: the thread count (set here), the device, the precision and
    the teacher's spec (default: the one ``spec`` carries). Returns ``(device, precision, teacher_spec)``."""
    if threads is not None:
        if not isinstance(threads, int) or threads < 1:
            raise SpecError(f"train(threads={threads!r}) is invalid; allowed: an int >= 1 or None")
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    precision = resolve_precision(spec.precision, dev)
    if precision == "bf16" and dev.type == "cpu":
        log("bf16 autocast on the CPU: results may differ from fp32 by more than seed noise")
    if teacher_spec is None:
        teacher_spec = spec.teacher_spec
    if spec.teacher is not None and teacher_spec is None:
        raise SpecError(
            f"train(): run {spec.key} distils from {spec.teacher}, but its teacher's spec was not given; "
            "allowed: train(spec, teacher_spec=...) or a spec built with teacher=<the teacher's RunSpec> "
            "(runs.run() and runs.ensure() find a recorded teacher's spec themselves)"
        )
    if teacher_spec is not None and teacher_spec.key != spec.teacher:
        raise SpecError(f"teacher_spec has key {teacher_spec.key}, but RunSpec.teacher = {spec.teacher!r}")
    return dev, precision, teacher_spec


def finished_results(
    spec: RunSpec,
    teacher_spec: RunSpec | None,
    *,
    eval_tokens: int | None,
    dev: torch.device,
    precision: str,
    threads: int | None,
    log: Callable[[str], None],
) -> dict[str, Any] | None:
    """The results of a run that finished earlier (e.g. killed before its record was written), from its
    ``final.pt``, evaluated again only if this call asks for a different evaluation; None if not finished."""
    final_path = checkpoint_dir(spec.key) / "final.pt"
    if not final_path.exists():
        return None
    saved = _load_checkpoint(final_path, log) or {}
    if saved.get("results") is None or saved.get("key") != spec.key:
        return None
    log(f"{spec.key}: finished earlier, results taken from {final_path}")
    if saved.get("eval_tokens", "missing") == eval_tokens:
        return saved["results"]
    return _reevaluate(spec, teacher_spec, saved, eval_tokens, dev, precision, threads, log)


class Session:
    """One run's training state between optimiser steps: model, optimiser, loss-curve accumulators, clocks.

    The step itself is the caller's (:func:`train` for one run, :func:`distill_scaling.batched.train_group`
    for several at once); the rest is here, shared by both: the model and optimiser built from the spec (and
    resumed from ``state.pt`` when ``resume``), the schedule (:meth:`set_lr`), the data order
    (:meth:`batch`), the logged curves (:meth:`after_step`), checkpoints (:meth:`checkpoint`, the same file
    whoever trains the run) and the final evaluation, results and ``final.pt`` (:meth:`finish`).
    """

    def __init__(
        self,
        spec: RunSpec,
        teacher_spec: RunSpec | None,
        dev: torch.device,
        precision: str,
        *,
        resume: bool = True,
        eval_tokens: int | None = None,
        on_checkpoint: Callable[[int], None] | None = None,
        log: Callable[[str], None] | None = None,
        loader_workers: int | None = None,
    ) -> None:
        self.spec, self.teacher_spec, self.dev, self.precision = spec, teacher_spec, dev, precision
        self.eval_tokens, self.on_checkpoint = eval_tokens, on_checkpoint
        log = log or (lambda msg: None)
        self.source = corpus.get_source(spec.corpus)
        prefetch.check_workers(loader_workers)
        #: Processes that make this run's batches ahead (:mod:`distill_scaling.prefetch`; 0: this one).
        self.loader_workers = (
            prefetch.default_workers(self.source, dev) if loader_workers is None else loader_workers
        )
        self._ahead: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._ahead_step = -1  # the step the stream of batches made ahead yields next
        self.model = Transformer(spec.config, seed=spec.seed).to(dev)
        self.opt = make_optimizer(self.model, spec.lr, spec.weight_decay, (spec.beta1, spec.beta2), spec.eps)
        self.loss_kw = loss_kwargs(spec)
        self.log_at = set(curve_steps(spec.steps))
        self.val_at = set(curve_steps(spec.steps, VAL_CURVE_POINTS))
        self.val_subset = _val_subset(spec.corpus, spec.config.n_ctx)
        self.curve: dict[str, list] = {
            "step": [],
            "tokens": [],
            "train_loss": [],
            "lr": [],
            "val_step": [],
            "val_loss": [],
        }
        self.acc_loss: float | torch.Tensor = 0.0
        self.acc_n = 0
        self.start_step, self.elapsed_prev, self.train_time_prev = 0, 0.0, 0.0
        self.resumed_from: int | None = None
        self.train_time = 0.0
        #: A group's trainer sets this to the run's share of the group's wall time (None: since start_clock).
        self.wall_share: float | None = None
        self.t0 = time.perf_counter()
        state_path = checkpoint_dir(spec.key) / "state.pt"
        if resume and state_path.exists():
            state = _load_checkpoint(state_path, log) or {}
            if state.get("key") == spec.key:
                self.model.load_state_dict(state["model"])
                self.opt.load_state_dict(state["optimizer"])
                self.start_step, self.curve = state["step"], state["curve"]
                self.acc_loss, self.acc_n = state["acc_loss"], state["acc_n"]
                self.elapsed_prev, self.train_time_prev = state["elapsed_s"], state["train_time_s"]
                self.resumed_from = self.start_step
                log(f"{spec.key}: resuming at step {self.start_step}/{spec.steps}")
        self.model.train()

    def start_clock(self) -> None:
        """Start this session's wall clock (after the setup that is not training: teacher, compilation)."""
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        """Wall seconds of this session so far: since :meth:`start_clock`, or its share of a group's."""
        return self.wall_share if self.wall_share is not None else time.perf_counter() - self.t0

    def set_lr(self, step: int) -> float:
        """Set the learning rates for 0-based ``step`` of this run's own schedule; returns the factor."""
        return set_lr(self.opt, self.spec, step)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``step`` of the run's split, on the device: a pure function of ``data_seed`` and the step,
        from a stream of :func:`prefetch.batches` (made ahead by :attr:`loader_workers` processes when there
        are any, else here when asked for)."""
        spec = self.spec
        if self._ahead is None or self._ahead_step != step:  # the first step, or a jump: a new stream
            self._ahead = prefetch.batches(
                self.source,
                spec.split,
                step,
                spec.steps,
                spec.batch_size,
                spec.config.n_ctx,
                spec.data_seed,
                self.loader_workers,
                pin_memory=self.dev.type == "cuda",
            )
        x, y = next(self._ahead)
        self._ahead_step = step + 1
        return torch.as_tensor(x).to(self.dev, non_blocking=True), torch.as_tensor(y).to(
            self.dev, non_blocking=True
        )

    def after_step(self, step: int, loss: torch.Tensor, s: float, seconds: float) -> None:
        """Book-keeping after 0-based ``step`` (loss ``loss``, schedule factor ``s``, ``seconds`` of training
        time): the training-loss curve at the logged steps, the validation curve at its steps."""
        spec, curve = self.spec, self.curve
        done = step + 1
        # A tensor sum: no device sync per step on a GPU; read out at the logged steps only.
        self.acc_loss = self.acc_loss + loss.detach().float()
        self.acc_n += 1
        self.train_time += seconds
        if done in self.log_at:
            curve["step"].append(done)
            curve["tokens"].append(done * spec.batch_tokens)
            mean_loss = float(self.acc_loss) / self.acc_n
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"run {spec.key}: training loss is {mean_loss} at step {done}")
            curve["train_loss"].append(mean_loss)
            curve["lr"].append(spec.lr * s)
            self.acc_loss, self.acc_n = 0.0, 0
        if done in self.val_at:
            curve["val_step"].append(done)
            ev = evaluate(self.model, self.val_subset, device=self.dev, precision=self.precision)
            curve["val_loss"].append(ev["val_loss"])

    def checkpoint(self, next_step: int) -> None:
        """Save the resumable state (``state.pt``) before 0-based step ``next_step``."""
        spec = self.spec
        _save_atomic(
            {
                "key": spec.key,
                "spec": spec.canonical(),
                "step": next_step,
                "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "curve": _plain(self.curve),
                "acc_loss": float(self.acc_loss),
                "acc_n": self.acc_n,
                "elapsed_s": self.elapsed_prev + self.elapsed(),
                "train_time_s": self.train_time_prev + self.train_time,
            },
            checkpoint_dir(spec.key) / "state.pt",
        )
        if self.on_checkpoint is not None:
            self.on_checkpoint(next_step)

    def finish(self, teacher: torch.nn.Module | None, compiled: bool = False) -> dict[str, Any]:
        """Evaluate on the validation tokens, save ``final.pt``, drop ``state.pt``; returns the results."""
        spec, teacher_spec, dev, curve, cfg = (
            self.spec,
            self.teacher_spec,
            self.dev,
            self.curve,
            self.spec.config,
        )
        self._ahead = None  # the workers stop
        t_eval = time.perf_counter()
        final = evaluate(
            self.model, eval_batches(spec, self.eval_tokens), teacher, device=dev, precision=self.precision
        )
        eval_time = time.perf_counter() - t_eval
        wall = self.elapsed_prev + self.elapsed() + (eval_time if self.wall_share is not None else 0.0)
        total_train_time = self.train_time_prev + self.train_time
        fl = run_flops(spec, teacher_spec)
        results: dict[str, Any] = {
            "val_loss": final["val_loss"],
            "val_tokens": final["val_tokens"],
            "n_params": cfg.n_params,
            "n_params_total": cfg.n_params_total,
            "steps": spec.steps,
            "batch_tokens": spec.batch_tokens,
            "tokens_trained": spec.tokens_trained,
            "epochs": spec.tokens_trained / spec.split_size if spec.split_size else None,
            "final_train_loss": curve["train_loss"][-1] if curve["train_loss"] else None,
            "flops_student_training": fl["student_training"],
            "flops_teacher_logits": fl["teacher_logits"],
            "flops_total": fl["total"],
            "wall_time_s": wall,
            "train_time_s": total_train_time,
            "eval_time_s": eval_time,
            "tokens_per_s": spec.tokens_trained / total_train_time if self.resumed_from is None else None,
            "resumed_from_step": self.resumed_from,
            "device": dev.type,
            "device_name": torch.cuda.get_device_name(dev)
            if dev.type == "cuda"
            else platform.processor() or "cpu",
            "threads": torch.get_num_threads(),
            "precision_used": self.precision,
            "compiled": bool(compiled),
            "loader_workers": self.loader_workers,
            "curve": curve,
        }
        if self.resumed_from is not None and total_train_time > 0:
            # Throughput over all sessions; sessions on different machines make this a rough figure.
            results["tokens_per_s"] = spec.tokens_trained / total_train_time
        if teacher_spec is not None:
            results.update(
                {
                    "val_kl": final["val_kl"],
                    "teacher_val_loss": final["teacher_val_loss"],
                    "teacher_model": teacher_spec.model,
                    "teacher_n_params": teacher_spec.config.n_params,
                    "teacher_tokens": teacher_spec.tokens_trained,
                    "flops_teacher_pretraining": run_flops(teacher_spec)["student_training"],
                }
            )
        ckpt_dir = checkpoint_dir(spec.key)
        _save_atomic(
            {
                "key": spec.key,
                "spec": spec.canonical(),
                "model": self.model.state_dict(),
                "results": _plain(results),
                "eval_tokens": self.eval_tokens,
            },
            ckpt_dir / "final.pt",
        )
        (ckpt_dir / "state.pt").unlink(missing_ok=True)
        return results


def train(
    spec: RunSpec,
    *,
    teacher_spec: RunSpec | None = None,
    threads: int | None = None,
    device: str | None = None,
    checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    checkpoint_steps: Iterable[int] = (),
    resume: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
    eval_tokens: int | None = None,
    compile: bool | None = None,
    loader_workers: int | None = None,
) -> dict[str, Any]:
    """Train ``spec`` and return its results (what the run record stores under ``results``).

    ``teacher_spec``: the teacher's spec for a distillation run (default: the one ``spec`` carries,
    ``spec.teacher_spec``; :func:`distill_scaling.runs.run` looks up a recorded teacher's).
    ``threads``: torch intra-op threads (default: leave torch's setting). ``device``: ``None`` picks CUDA when
    available. Checkpoints are written every ``checkpoint_interval_s`` seconds of wall time, after any step in
    ``checkpoint_steps`` (tests), and at the end; ``resume`` continues from the last one. ``progress(step,
    steps)`` is called after every step, ``on_checkpoint(step)`` after every checkpoint. ``eval_tokens``
    limits the final evaluation to the first validation tokens (tests and smoke runs; default: all of them).
    ``compile``: run the training forward passes through ``torch.compile`` (1.3-1.55x faster steps on this
    CPU, ~2.5x on an H200); ``None`` compiles when the run is big enough for the one-off compilation to pay
    for itself on its device (:func:`compile_pays`). Like the thread count it is an execution detail, not
    part of the spec: the math is the same, the float rounding differs (each way is deterministic); the
    record says which ran. ``loader_workers``: processes that make the batches ahead
    (:mod:`distill_scaling.prefetch`; the same batches; ``None``: :func:`prefetch.default_workers`, none on
    the CPU).

    Results: ``val_loss`` (cross-entropy on all of the fixed validation tokens, nats/token), for students also
    ``val_kl`` (KL(teacher || student)) and ``teacher_val_loss``; ``curve`` (train loss at log-spaced steps,
    val loss on a fixed subset); FLOPs by the paper's accounting; wall time, tokens/s, device, threads,
    precision (``precision_used``) and ``compiled``.
    """
    log = log or (lambda msg: None)
    dev, precision, teacher_spec = prepare(spec, teacher_spec, threads, device, log)
    prefetch.check_workers(loader_workers)
    if resume:
        done = finished_results(
            spec,
            teacher_spec,
            eval_tokens=eval_tokens,
            dev=dev,
            precision=precision,
            threads=threads,
            log=log,
        )
        if done is not None:
            return done

    steps = spec.steps
    run = Session(
        spec,
        teacher_spec,
        dev,
        precision,
        resume=resume,
        eval_tokens=eval_tokens,
        on_checkpoint=on_checkpoint,
        log=log,
        loader_workers=loader_workers,
    )
    model, opt = run.model, run.opt
    teacher = load_teacher(teacher_spec, dev, threads, log) if teacher_spec is not None else None
    checkpoint_steps = set(checkpoint_steps)
    compile = use_compile(spec, dev, compile)
    fwd, t_fwd = (compiled_module(model), compiled_module(teacher)) if compile else (model, teacher)
    step_kw = {"loss_kw": run.loss_kw, "grad_clip": spec.grad_clip, "precision": precision}
    run.start_clock()
    last_ckpt = run.t0
    for step in range(run.start_step, steps):
        t_step = time.perf_counter()
        s = run.set_lr(step)
        x, y = run.batch(step)
        try:
            loss = train_step(fwd, opt, x, y, teacher=t_fwd, **step_kw)
        except Exception as exc:  # noqa: BLE001 - only the first compiled step may fail, then train eagerly
            if not compile or step != run.start_step:
                raise
            # Compilation fails before the update is applied (no C++ compiler, an unsupported op): redo the
            # step eagerly; train_step zeroes the gradients first.
            log(f"torch.compile failed ({type(exc).__name__}: {exc}); training eagerly")
            compile, fwd, t_fwd = False, model, teacher
            loss = train_step(fwd, opt, x, y, teacher=t_fwd, **step_kw)
        done = step + 1
        run.after_step(step, loss, s, time.perf_counter() - t_step)
        if progress is not None:
            progress(done, steps)
        now = time.perf_counter()
        if done < steps and (done in checkpoint_steps or now - last_ckpt >= checkpoint_interval_s):
            run.checkpoint(done)
            last_ckpt = time.perf_counter()
    return run.finish(teacher, compiled=bool(compile))
