"""Many small runs of one shape trained at once, as one batched model.

Runs that share a shape (:func:`group_key`: the model and its configuration, the batch size and context, the
teacher or none, the precision) can differ in everything else: seed, data seed, learning rate and the other
optimiser settings, token budget (hence steps and warmup), distillation settings. :func:`train_group` trains
them together: each step stacks the runs' weights into tensors with a leading group dimension, runs one
batched forward pass (:func:`group_forward`: every matmul of the blocks a ``bmm`` over the group, attention
with the group folded into the batch, the unembedding one matmul per run), computes each run's own loss and
backpropagates their sum, whose gradient with respect to one run's weights is that run's gradient. Each run
then takes its own clipped AdamW step on its own optimiser with its own learning-rate schedule.

Everything but the forward pass is :mod:`distill_scaling.train`'s: each run is a :class:`train.Session`
(model, optimiser with the muP groups, resume from ``state.pt``, data order, curves, checkpoints, final
evaluation, ``final.pt`` and results), its update is :func:`train.apply_update`, its loss
:func:`losses.student_loss` with :func:`train.loss_kwargs`. So a run's results, checkpoints and record are the
ones :func:`train.train` would give, up to float rounding (a ``bmm`` and a per-run ``mm`` may sum in other
orders; on the CPU it was developed on, they came out bit-identical), and a run interrupted in a group
resumes from its own ``state.pt``, in a group or alone.

Runs with different step counts share the steps they have in common: a run leaves the group after its last
step (it is evaluated, saved and reported through ``on_result`` at once), the others go on. A distillation
group shares its teacher, whose forward pass runs once per distinct batch (runs with the same split and data
seed read the same tokens), not once per student.

With ``compile``, the group's forward pass and losses (:func:`group_losses`) run through ``torch.compile`` as
a whole (for L2-d32 on this CPU about 1.4 times the eager group's speed, after a minute of compilation per
group size; ``bench --only batched``).

This module never reads the run store; the executor (:func:`distill_scaling.runs.ensure`) forms the groups.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from . import losses, prefetch, train
from .model import ModelConfig, QKNormRoPEFn, inv_rms, rms_backward
from .spec import RunSpec, SpecError


def group_key(spec: RunSpec) -> Hashable:
    """What runs trained together must share: model configuration (context included), batch size, teacher
    (None for supervised runs) and precision. Everything else may differ between the runs of a group."""
    return (spec.config, spec.batch_size, spec.teacher, spec.precision)


def check_group(specs: Sequence[RunSpec]) -> None:
    """A :class:`SpecError` unless ``specs`` are distinct runs of one shape (:func:`group_key`)."""
    if not specs:
        raise SpecError("train_group() needs at least one RunSpec")
    for s in specs:
        if not isinstance(s, RunSpec):
            raise SpecError(f"train_group() takes RunSpec objects, got {type(s).__name__}")
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise SpecError("train_group(): a run appears twice in the group; allowed: distinct runs")
    first = group_key(specs[0])
    for s in specs[1:]:
        if group_key(s) != first:
            raise SpecError(
                f"train_group(): run {s.key} ({s.model}, batch {s.batch_size}, teacher {s.teacher}, "
                f"{s.precision}) does not share the shape of run {specs[0].key} ({specs[0].model}, batch "
                f"{specs[0].batch_size}, teacher {specs[0].teacher}, {specs[0].precision}); allowed: runs "
                "with one model, batch size, teacher and precision"
            )


# -- the batched forward pass --------------------------------------------------------------------------------
class _GroupRMSNormFn(torch.autograd.Function):
    """``model``'s RMSNorm for ``x`` [G, M, d] with one gain per run, ``w`` [G, 1, d]."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
        r = inv_rms(x, eps)
        xhat = (x * r).to(x.dtype)
        ctx.save_for_backward(xhat, r, w)
        return xhat * w

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        xhat, r, w = ctx.saved_tensors
        gw = (gy * xhat).sum(1, keepdim=True).to(w.dtype)
        gx = rms_backward(gy * w, xhat, r).to(xhat.dtype)
        return gx, gw, None


def _norm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if torch.compiler.is_compiling():  # inductor fuses the composite form better than our function
        return F.rms_norm(x, (x.shape[-1],), eps=1e-6) * w.unsqueeze(1)
    return _GroupRMSNormFn.apply(x, w.unsqueeze(1), 1e-6)


def _qk_norm_rope(qk, g, cos2, sin2, eps: float) -> torch.Tensor:
    """QK-norm and RoPE: the fused function in eager mode, composite operations under ``torch.compile``."""
    if not torch.compiler.is_compiling():
        return QKNormRoPEFn.apply(qk, g, cos2, sin2, eps)
    u = F.rms_norm(qk, (qk.shape[-1],), eps=eps) * g
    return u * cos2 + u.roll(u.shape[-1] // 2, -1) * sin2


def _linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``F.linear`` per run: ``x`` [G, M, in], ``w`` [G, out, in] -> [G, M, out]."""
    return torch.bmm(x, w.transpose(1, 2))


def group_forward(
    params: dict[str, torch.Tensor],
    cfg: ModelConfig,
    idx: torch.Tensor,
    rope_cos: torch.Tensor,
    rope_sin: torch.Tensor,
) -> list[torch.Tensor]:
    """Each run's logits [B, T, V] (float32) for G transformers of configuration ``cfg`` on their own tokens
    ``idx`` [G, B, T]; ``params`` maps each of :class:`model.Transformer`'s parameter names to the runs'
    tensors stacked along a leading group dimension. The same operations as ``Transformer.forward``, with
    every matmul a ``bmm`` over the group and attention over the group folded into the batch, except the
    unembedding, one matmul per run: the runs' losses then start from tensors of their own (a slice of one
    [G, B, T, V] tensor would cost a copy of the whole group's logits gradient in the backward pass)."""
    G, B, T = idx.shape
    V, d, H, Dh = cfg.vocab_size, cfg.d_model, cfg.n_heads, cfg.head_dim
    emb = params["embed.weight"]
    offsets = (torch.arange(G, device=idx.device) * V).view(G, 1, 1)
    x = F.embedding(idx + offsets, emb.reshape(G * V, d)).view(G, B * T, d)
    cos, sin = rope_cos[:T], rope_sin[:T]
    for i in range(cfg.n_layers):
        p = f"blocks.{i}."
        qkv = _linear(_norm(x, params[p + "attn_norm.weight"]), params[p + "qkv.weight"])
        qkv = qkv.view(G, B, T, 3, H, Dh)
        gains = params[p + "qk_norm"].view(G, 1, 1, 2, 1, Dh)
        qk = _qk_norm_rope(qkv[:, :, :, :2], gains, cos, sin, 1e-6)
        q, k = qk.reshape(G * B, T, 2, H, Dh).transpose(1, 3).unbind(2)  # [G B, H, T, Dh] each
        v = qkv[:, :, :, 2].reshape(G * B, T, H, Dh).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + _linear(y.transpose(1, 2).reshape(G, B * T, d), params[p + "attn_out.weight"])
        gate, up = _linear(_norm(x, params[p + "mlp_norm.weight"]), params[p + "gate_up.weight"]).split(
            cfg.d_ff, dim=-1
        )
        x = x + _linear(F.silu(gate) * up, params[p + "down.weight"])
    x = (_norm(x, params["final_norm.weight"]) * cfg.logit_mult).view(G, B, T, d)
    return [F.linear(h, e).float() for h, e in zip(x.unbind(0), emb.unbind(0), strict=True)]


def stack_params(models: Sequence[torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The models' parameters stacked along a new leading dimension, by name (differentiable: a gradient
    at a stacked tensor lands, sliced, in each model's own ``.grad``)."""
    names = [n for n, _ in models[0].named_parameters()]
    per_model = [list(m.parameters()) for m in models]
    return {n: torch.stack(ps) for n, ps in zip(names, zip(*per_model, strict=True), strict=True)}


# -- one step of a group -------------------------------------------------------------------------------------
def group_losses(
    params: dict[str, torch.Tensor],
    cfg: ModelConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    rope_cos: torch.Tensor,
    rope_sin: torch.Tensor,
    teacher_logits: Sequence[torch.Tensor | None],
    loss_kws: Sequence[dict[str, Any]],
) -> torch.Tensor:
    """The runs' losses [G]: :func:`group_forward`, then each run's :func:`losses.student_loss` with its
    ``loss_kws`` (against its ``teacher_logits``, if any). What :func:`batched_step` differentiates, and what
    it compiles as a whole when asked to."""
    logits = group_forward(params, cfg, x, rope_cos, rope_sin)
    parts = []
    for logits_i, y_i, t_i, kw in zip(logits, y.unbind(0), teacher_logits, loss_kws, strict=True):
        if t_i is None:
            parts.append(losses.student_loss(logits_i, y_i, **kw))
        else:
            parts.append(losses.student_loss(logits_i, y_i, t_i, **kw))
    return torch.stack(parts)


def batched_step(
    models: Sequence[torch.nn.Module],
    opts: Sequence[torch.optim.Optimizer],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_kws: Sequence[dict[str, Any]],
    grad_clips: Sequence[float],
    teacher_logits: Sequence[torch.Tensor | None] | None = None,
    precision: str = "fp32",
    losses_fn: Callable[..., torch.Tensor] = group_losses,
) -> list[torch.Tensor]:
    """One optimiser step of G runs on their batches ``x``, ``y`` [G, B, T] (learning rates already set):
    one batched forward pass, each run's loss (:func:`losses.student_loss` with its ``loss_kws``, against
    its ``teacher_logits`` if any), one backward pass, then each run's own clipped AdamW update
    (:func:`train.apply_update`). Returns the runs' detached losses. :func:`train.train_step` for a group.
    ``losses_fn``: :func:`group_losses`, or its compiled form."""
    first = models[0]
    # Inference tensors cannot be saved for backward; a plain copy can (cheap next to the forward).
    t_logits = [None if t is None else t.clone() for t in teacher_logits or [None] * len(models)]
    params = stack_params(models)
    with train.autocast(x.device, precision):
        parts = losses_fn(
            params, first.config, x, y, first.rope_cos, first.rope_sin, t_logits, list(loss_kws)
        )
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    # d(sum of losses) / d(run i's weights) = d(loss i) / d(run i's weights): the runs share no weights.
    parts.sum().backward()
    for model, opt, clip in zip(models, opts, grad_clips, strict=True):
        train.apply_update(model, opt, clip)
    return list(parts.detach().unbind(0))


def group_step(
    sessions: Sequence[train.Session],
    step: int,
    teacher: torch.nn.Module | None = None,
    losses_fn: Callable[..., torch.Tensor] = group_losses,
) -> list[torch.Tensor]:
    """Step ``step`` of every run in ``sessions`` (learning rates already set): each run's own batch, the
    teacher's logits once per distinct batch, then :func:`batched_step`. Returns the runs' detached losses."""
    first = sessions[0]
    batches = [r.batch(step) for r in sessions]
    t_logits: list[torch.Tensor | None] = [None] * len(sessions)
    if teacher is not None:
        # Runs that read the same tokens (same corpus, split and data seed) share the teacher's pass.
        seen: dict[tuple, torch.Tensor] = {}
        with train.autocast(first.dev, first.precision), torch.inference_mode():
            for i, r in enumerate(sessions):
                tokens = (r.spec.corpus, r.spec.split, r.spec.data_seed)
                if tokens not in seen:
                    seen[tokens] = teacher(batches[i][0])
                t_logits[i] = seen[tokens]
    return batched_step(
        [r.model for r in sessions],
        [r.opt for r in sessions],
        torch.stack([b[0] for b in batches]),
        torch.stack([b[1] for b in batches]),
        loss_kws=[r.loss_kw for r in sessions],
        grad_clips=[r.spec.grad_clip for r in sessions],
        teacher_logits=t_logits,
        precision=first.precision,
        losses_fn=losses_fn,
    )


# -- a group of runs -----------------------------------------------------------------------------------------
def train_group(
    specs: Sequence[RunSpec],
    *,
    teacher_spec: RunSpec | None = None,
    threads: int | None = None,
    device: str | None = None,
    checkpoint_interval_s: float = train.CHECKPOINT_INTERVAL_S,
    checkpoint_steps: Iterable[int] = (),
    resume: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    on_result: Callable[[RunSpec, dict[str, Any]], None] | None = None,
    log: Callable[[str], None] | None = None,
    eval_tokens: int | None = None,
    compile: bool | None = None,
    loader_workers: int | None = None,
) -> list[dict[str, Any]]:
    """Train the runs ``specs`` (one shape, :func:`group_key`) together; returns their results in order,
    each what :func:`train.train` returns for that run alone (up to float rounding).

    Arguments as :func:`train.train`'s, for every run: ``teacher_spec`` the group's teacher (default: the
    one the specs carry); checkpoints of every run still training after a step in ``checkpoint_steps`` and
    every ``checkpoint_interval_s`` seconds (``on_checkpoint(step)`` once per checkpoint of the group);
    ``resume`` takes each run from its own ``state.pt`` (runs may resume at different steps) or its
    ``final.pt`` (finished earlier). ``progress(key, step, steps)`` after each step of each run;
    ``on_result(spec, results)`` as soon as a run ends (the executor writes its record there). ``compile``:
    compile the group's forward pass and losses (:func:`group_losses`) and the teacher's forward pass with
    ``torch.compile`` (``None``: when :func:`train.use_compile` would compile every run alone); as for one
    run, the math is the same and the rounding differs, and a failed compilation falls back to eager.
    ``loader_workers``: processes that make each run's batches ahead (as :func:`train.train`'s).
    """
    specs = list(specs)
    check_group(specs)
    prefetch.check_workers(loader_workers)
    log = log or (lambda msg: None)
    dev, precision, teacher_spec = train.prepare(specs[0], teacher_spec, threads, device, log)
    for s in specs[1:]:
        train.prepare(s, teacher_spec, None, device, lambda msg: None)
    results: dict[str, dict[str, Any]] = {}

    def finished(spec: RunSpec, res: dict[str, Any]) -> None:
        results[spec.key] = res
        if on_result is not None:
            on_result(spec, res)

    sessions = []
    for s in specs:
        kw = {"eval_tokens": eval_tokens, "dev": dev, "precision": precision, "threads": threads, "log": log}
        done = train.finished_results(s, teacher_spec, **kw) if resume else None
        if done is not None:
            finished(s, done)
        else:
            sessions.append(
                train.Session(
                    s,
                    teacher_spec,
                    dev,
                    precision,
                    resume=resume,
                    eval_tokens=eval_tokens,
                    log=log,
                    loader_workers=loader_workers,
                )
            )
    if sessions:
        teacher = train.load_teacher(teacher_spec, dev, threads, log) if teacher_spec is not None else None
        if compile is None:
            compile = all(train.use_compile(r.spec, dev) for r in sessions)
        loop = _GroupLoop(sessions, teacher, bool(compile), log)
        loop.run(set(checkpoint_steps), checkpoint_interval_s, progress, on_checkpoint, finished)
    return [results[s.key] for s in specs]


class _GroupLoop:
    """The group's loop: at each step, the runs between their start (resumed) step and their last step."""

    def __init__(
        self,
        sessions: list[train.Session],
        teacher: torch.nn.Module | None,
        compile: bool,
        log: Callable[[str], None],
    ) -> None:
        self.sessions, self.teacher, self.compile, self.log = sessions, teacher, compile, log
        self.losses_fn: Callable[..., torch.Tensor] = group_losses
        self.t_fwd = teacher
        self.compiled_once = False  # whether a step has run (only the first compiled step may fall back)
        if compile:
            self.losses_fn, self.t_fwd = train.compiled(group_losses), train.compiled_module(teacher)

    def step(self, active: list[train.Session], step: int) -> list[torch.Tensor]:
        """One step of the runs ``active``; a first compiled step that fails is redone eagerly."""
        try:
            return group_step(active, step, self.t_fwd, self.losses_fn)
        except Exception as exc:  # noqa: BLE001 - only the first compiled step may fail, then train eagerly
            if not self.compile or self.compiled_once:
                raise
            # Compilation fails before any update is applied: redo the step eagerly (gradients are zeroed).
            self.log(f"torch.compile failed ({type(exc).__name__}: {exc}); training the group eagerly")
            self.compile, self.losses_fn, self.t_fwd = False, group_losses, self.teacher
            return group_step(active, step, self.t_fwd, self.losses_fn)

    def run(
        self,
        checkpoint_steps: set[int],
        checkpoint_interval_s: float,
        progress: Callable[[str, int, int], None] | None,
        on_checkpoint: Callable[[int], None] | None,
        finished: Callable[[RunSpec, dict[str, Any]], None],
    ) -> None:
        """Train every session to its last step; ``finished(spec, results)`` as each run ends."""
        sessions = self.sessions
        for r in sessions:
            r.start_clock()
            r.wall_share = 0.0  # wall time is shared like training time, so that runs' wall times add up
        last_ckpt = time.perf_counter()
        pending = list(sessions)
        for step in range(min(r.start_step for r in sessions), max(r.spec.steps for r in sessions)):
            active = [r for r in pending if r.start_step <= step < r.spec.steps]
            done = step + 1
            t_step = time.perf_counter()
            if active:
                factors = [r.set_lr(step) for r in active]
                step_losses = self.step(active, step)
                self.compiled_once = True
                # The step's time, shared evenly: each run's train_time_s is its share of the group's.
                seconds = (time.perf_counter() - t_step) / len(active)
                for r, s, loss in zip(active, factors, step_losses, strict=True):
                    r.after_step(step, loss, s, seconds)
                    if progress is not None:
                        progress(r.spec.key, done, r.spec.steps)
                share = (time.perf_counter() - t_step) / len(active)
                for r in active:
                    r.wall_share += share
            for r in [r for r in active if done == r.spec.steps]:
                pending.remove(r)
                finished(r.spec, r.finish(self.teacher, compiled=self.compile))
            training = [r for r in pending if r.start_step < done < r.spec.steps]
            now = time.perf_counter()
            if training and (done in checkpoint_steps or now - last_ckpt >= checkpoint_interval_s):
                for r in training:
                    r.checkpoint(done)
                if on_checkpoint is not None:
                    on_checkpoint(done)
                last_ckpt = time.perf_counter()
