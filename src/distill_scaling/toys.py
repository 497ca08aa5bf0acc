"""Toy models of the distillation capacity gap (paper appendix C).

Two small problems in which a *stronger* teacher can make a *worse* student:

* **Kernel regression** (App. C.1): an analytic teacher and student that approximate a target function with a
  limited number of basis functions and a norm budget. Everything is closed form (numpy).
* **The mapping problem** (App. C.2): a synthetic classification task learned by two-hidden-layer ReLU MLPs;
  students of several widths are distilled from teachers of several widths or training lengths (torch).

Kernel regression
-----------------
The target is ``f* = sum_i alpha_i phi_i`` over orthonormal basis functions. A teacher of capacity ``m`` is
the best approximation of ``f*`` in ``span{phi_1..phi_m}`` with norm at most ``T``; a student of capacity
``n`` is the best approximation *of the teacher* in ``span{phi_1..phi_n}`` with norm at most ``D <= T``. Both
errors are measured against ``f*`` (paper Eqs. in App. C.1).

The mapping problem
-------------------
An input is a vector of length ``2 K`` (``K`` classes): a *context* of ``K`` values in ``{0, 1, 2}`` followed
by a one-hot vector that points at a query position ``q``. The label is ``q`` when ``context[q] == 0``;
otherwise it is the position of the *other* context element with the same value as ``context[q]``.

The paper gives this rule as Python pseudocode that we could not retrieve verbatim, and its prose does not say
how the context is drawn. Our default, ``context="iid"``, draws every context value uniformly; a query then
has any number of other matches, and the label is one of them chosen uniformly at random (``q`` itself if
there are none), which makes the labels stochastic, as next tokens are. The alternative ``context="pairs"``
places each of the values 1 and 2 at exactly two random positions and fills the rest with 0, so that "the
other matching element" is unique and the label is a deterministic function of the input (a pairing of
positions). A pilot favoured ``iid``: the paper's students reach 0.5-0.8 accuracy (its Fig. 11), while with
``pairs`` a supervised width-256 MLP is already near 100%. In both cases the exact label distribution (the
Bayes-optimal predictor) is known: :func:`bayes_probs`, :func:`bayes_limits`.

Why this module is long: it holds both toy problems of the paper's App. C (kernel regression and the mapping
problem) with the small store and training loop of the latter; the chapter and its command use them together.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import paths, store

# ==========================================================================================================
# Kernel regression (App. C.1)
# ==========================================================================================================


def draw_alpha(size: int = 1000, seed: int = 0) -> np.ndarray:
    """Target coefficients ``alpha_i ~ U[-1, 1]``, ``i = 1..size`` (the paper's Fig. 10 uses 1000)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an int >= 1; got {size!r}")
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size)


def _check_capacities(name: str, values: ArrayLike, upper: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 1 or arr.max() > upper:
        raise ValueError(
            f"{name} must be integers in [1, {upper}] (the number of basis functions); got {values!r}"
        )
    return arr.astype(int)


@dataclass(frozen=True)
class KernelRegressionResult:
    """Errors of the optimal teachers and students of App. C.1, all measured against the target ``f*``.

    ``teacher_error[j]`` belongs to teacher capacity ``m[j]``; ``student_error[i, j]`` to student capacity
    ``n[i]`` distilled from teacher capacity ``m[j]``.
    """

    m: np.ndarray
    n: np.ndarray
    teacher_error: np.ndarray
    student_error: np.ndarray
    teacher_norm: float
    student_norm: float
    target_norm: float

    def best_teacher(self, rtol: float = 1e-12) -> np.ndarray:
        """For each student capacity, the smallest teacher capacity whose student error is within ``rtol`` of
        the lowest. The error can be flat beyond the optimum (a student saturated at its norm budget), where
        rounding alone would otherwise pick an arbitrary point of the plateau."""
        best = self.student_error.min(axis=1, keepdims=True)
        return self.m[np.argmax(self.student_error <= best * (1 + rtol), axis=1)]


def kernel_regression(
    alpha: ArrayLike,
    n: ArrayLike,
    *,
    teacher_norm: float = 5.0,
    student_norm: float = 4.5,
    m: ArrayLike | None = None,
) -> KernelRegressionResult:
    """Teacher and student errors of the kernel-regression toy model (paper App. C.1, Fig. 10).

    ``alpha``: target coefficients. ``n``: student capacities. ``m``: teacher capacities (default
    ``1..len(alpha)``).
    ``teacher_norm`` (T) and ``student_norm`` (D) bound the norms of teacher and student, with ``D <= T``.

    The optimal teacher is ``C(m, T) sum_{i<=m} alpha_i phi_i`` with ``C = min(1, T / ||alpha_{1..m}||)``; the
    optimal student is ``Q C sum_{i<=k} alpha_i phi_i``, ``k = min(m, n)``, with
    ``Q = min(1, D / (C ||alpha_{1..k}||))``: each is the projection onto its subspace, shrunk onto its norm
    ball.
    """
    alpha = np.asarray(alpha, dtype=float)
    if alpha.ndim != 1 or alpha.size == 0 or not np.all(np.isfinite(alpha)):
        raise ValueError("alpha must be a non-empty 1-D array of finite coefficients")
    if not (teacher_norm > 0 and math.isfinite(teacher_norm)):
        raise ValueError(f"teacher_norm must be a finite number > 0; got {teacher_norm!r}")
    if not (0 < student_norm <= teacher_norm):
        raise ValueError(f"student_norm must be in (0, teacher_norm = {teacher_norm}]; got {student_norm!r}")
    size = alpha.size
    m_arr = np.arange(1, size + 1) if m is None else _check_capacities("m", m, size)
    n_arr = _check_capacities("n", n, size)

    # Cumulative energies: head[j] = sum_{i<=j} alpha_i^2 (1-based), total - head[j] = the tail beyond j.
    head = np.concatenate([[0.0], np.cumsum(alpha**2)])
    total = head[-1]

    head_m = head[m_arr]
    norm_m = np.sqrt(head_m)
    with np.errstate(divide="ignore"):
        c = np.where(norm_m <= teacher_norm, 1.0, teacher_norm / np.where(norm_m > 0, norm_m, 1.0))
    teacher_error = np.sqrt((c - 1.0) ** 2 * head_m + (total - head_m))

    k = np.minimum(m_arr[None, :], n_arr[:, None])
    head_k = head[k]
    scaled = c[None, :] * np.sqrt(head_k)  # norm of the teacher's part that the student can represent
    q = np.where(scaled < student_norm, 1.0, student_norm / np.where(scaled > 0, scaled, 1.0))
    cq = c[None, :] * q
    student_error = np.sqrt((cq - 1.0) ** 2 * head_k + (total - head_k))
    return KernelRegressionResult(
        m=m_arr,
        n=n_arr,
        teacher_error=teacher_error,
        student_error=student_error,
        teacher_norm=float(teacher_norm),
        student_norm=float(student_norm),
        target_norm=float(np.sqrt(total)),
    )


def u_shape_violations(result: KernelRegressionResult, rtol: float = 1e-12) -> list[tuple[int, int]]:
    """Pairs ``(n, m)`` where the proven U-shape fails: student error must not rise from ``m`` to ``m + 1``
    while ``m + 1 <= n``, and must not fall from ``m`` to ``m + 1`` once ``m >= n`` (App. C.1).

    Needs consecutive teacher capacities ``m``; returns an empty list when the property holds everywhere.
    """
    if np.any(np.diff(result.m) != 1):
        raise ValueError("u_shape_violations needs consecutive teacher capacities m")
    bad: list[tuple[int, int]] = []
    for i, n in enumerate(result.n):
        err = result.student_error[i]
        step = np.diff(err)
        tol = rtol * np.maximum(err[:-1], err[1:])
        left = result.m[:-1] + 1 <= n
        rising = left & (step > tol)
        falling = ~left & (step < -tol)
        bad.extend((int(n), int(mm)) for mm in result.m[:-1][rising | falling])
    return bad


# ==========================================================================================================
# The mapping problem (App. C.2): data
# ==========================================================================================================

#: Values a context element can take.
CONTEXT_VALUES = 3
#: How a context is drawn (see the module docstring).
CONTEXT_MODES = ("pairs", "iid")


def _check_problem(num_classes: int, context: str) -> None:
    if context not in CONTEXT_MODES:
        raise ValueError(f"context must be one of {CONTEXT_MODES}; got {context!r}")
    low = 2 * (CONTEXT_VALUES - 1) if context == "pairs" else 2
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < low:
        raise ValueError(f"num_classes must be an int >= {low} for context={context!r}; got {num_classes!r}")


def _torch():
    # torch is imported lazily so that the kernel-regression half (and the inventory tests) stay light.
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    return torch


@dataclass(frozen=True)
class MappingBatch:
    """A batch of the mapping problem: inputs ``x`` (float, ``[B, 2K]``), sampled labels ``y`` (long, ``[B]``)
    and
    the exact label distribution ``probs`` (float, ``[B, K]``), i.e. the Bayes-optimal prediction."""

    x: Any
    y: Any
    probs: Any


def mapping_batch(
    batch_size: int, num_classes: int = 8, *, context: str = "iid", generator: Any = None
) -> MappingBatch:
    """Draw ``batch_size`` fresh examples of the mapping problem with ``num_classes`` classes.

    ``context``: ``"pairs"`` (each non-zero value at exactly two positions) or ``"iid"`` (uniform values).
    """
    torch = _torch()
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    _check_problem(num_classes, context)
    g = generator
    if context == "pairs":
        # A random permutation per row: its first two positions get value 1, the next two value 2, ...
        order = torch.rand(batch_size, num_classes, generator=g).argsort(dim=1)
        values = torch.zeros(batch_size, num_classes, dtype=torch.long)
        for v in range(1, CONTEXT_VALUES):
            values[:, 2 * (v - 1) : 2 * v] = v
        context_values = torch.zeros_like(values).scatter_(1, order, values)
    else:
        context_values = torch.randint(0, CONTEXT_VALUES, (batch_size, num_classes), generator=g)
    query = torch.randint(0, num_classes, (batch_size,), generator=g)
    rows = torch.arange(batch_size)
    one_hot = torch.zeros(batch_size, num_classes)
    one_hot[rows, query] = 1.0
    x = torch.cat([context_values.float(), one_hot], dim=1)
    probs = bayes_probs(x)
    y = torch.multinomial(probs, 1, generator=g).squeeze(1)
    return MappingBatch(x=x, y=y, probs=probs)


def bayes_probs(x: Any) -> Any:
    """The exact label distribution of mapping-problem inputs ``x`` (``[B, 2K]``), the Bayes-optimal
    predictor.

    Uniform over the other context positions whose value equals ``context[q]`` when that value is non-zero and
    such positions exist; otherwise all mass on the query position ``q``.
    """
    torch = _torch()
    if x.ndim != 2 or x.shape[1] % 2 or x.shape[1] < 4:
        raise ValueError(
            f"x must have shape [batch, 2 * num_classes] with num_classes >= 2; got {tuple(x.shape)}"
        )
    k = x.shape[1] // 2
    context, one_hot = x[:, :k], x[:, k:]
    query = one_hot.argmax(dim=1)
    rows = torch.arange(x.shape[0])
    value = context[rows, query]
    matches = (context == value[:, None]) & (one_hot == 0)
    count = matches.sum(dim=1, keepdim=True)
    use_matches = (value != 0)[:, None] & (count > 0)
    spread = matches.float() / count.clamp_min(1)
    return torch.where(use_matches, spread, one_hot)


def bayes_limits(num_classes: int = 8, context: str = "iid") -> dict[str, float]:
    """Exact expected cross-entropy (nats) and accuracy of the Bayes-optimal predictor of the mapping problem.

    ``pairs``: the label is a function of the input (0 nats, accuracy 1). ``iid``: with probability 1/3 the
    query's value is 0 (label certain); otherwise the number of other matching positions is
    ``j ~ Binomial(K - 1, 1/3)`` and the label is uniform over them (entropy ``log j``, best accuracy
    ``1/j``), or certain when ``j = 0``.
    """
    _check_problem(num_classes, context)
    if context == "pairs":
        return {"cross_entropy": 0.0, "accuracy": 1.0}
    p = 1.0 / CONTEXT_VALUES
    ce = acc = 0.0
    for j in range(num_classes):
        pj = math.comb(num_classes - 1, j) * p**j * (1 - p) ** (num_classes - 1 - j)
        ce += pj * math.log(max(j, 1))
        acc += pj / max(j, 1)
    nonzero = 1 - p
    return {"cross_entropy": nonzero * ce, "accuracy": p + nonzero * acc}


# ==========================================================================================================
# The mapping problem: models, schedule, training
# ==========================================================================================================


def mlp(width: int, num_classes: int = 8) -> Any:
    """Two hidden layers of equal ``width`` with ReLU; input ``2 * num_classes``, ``num_classes`` logits."""
    nn = _torch().nn
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an int >= 1; got {width!r}")
    return nn.Sequential(
        nn.Linear(2 * num_classes, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, num_classes),
    )


def mlp_params(width: int, num_classes: int = 8) -> int:
    """Number of parameters (weights and biases) of :func:`mlp`."""
    d_in = 2 * num_classes
    return (d_in + 1) * width + (width + 1) * width + (width + 1) * num_classes


def default_steps(
    width: int,
    num_classes: int = 8,
    *,
    batch_size: int = 512,
    samples_per_param: float = 20.0,
    min_steps: int = 500,
) -> int:
    """The paper's training length: ``500 x 512`` samples or ``20 N``, whichever is larger, in steps."""
    return max(min_steps, math.ceil(samples_per_param * mlp_params(width, num_classes) / batch_size))


def one_cycle_lr(step: int, total_steps: int, peak: float, warmup_fraction: float = 0.05) -> float:
    """Learning rate at ``step`` (0-based): linear warmup over ``warmup_fraction`` of the steps to ``peak``,
    then
    a single cosine decay to zero at ``total_steps``."""
    warmup = max(1, round(warmup_fraction * total_steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


#: Bump when the training semantics change: it is part of every run's key, so old records stop matching.
#: 2: runs with a teacher start from their own initialisation and data stream (see :func:`_streams`).
CODE_VERSION = 2

#: Teacher kinds besides a trained MLP: ``labels`` (supervised, no teacher) and ``bayes`` (the exact
#: label distribution as the teacher, the limit of a perfect teacher).
SPECIAL_TEACHERS = ("labels", "bayes")


@dataclass(frozen=True)
class MLPRun:
    """One training run on the mapping problem.

    ``teacher`` is ``"labels"`` for supervised training on sampled labels, ``"bayes"`` for distillation from
    the exact label distribution, or another :class:`MLPRun` (a trained MLP teacher) for distillation.
    ``steps`` of ``None`` means :func:`default_steps`.
    """

    width: int
    seed: int
    steps: int | None = None
    teacher: MLPRun | str = "labels"
    num_classes: int = 8
    context: str = "iid"
    batch_size: int = 512
    peak_lr: float = 3e-4
    warmup_fraction: float = 0.05
    temperature: float = 1.0

    def __post_init__(self) -> None:
        for name in ("width", "num_classes", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (2 if name == "num_classes" else 1):
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps must be None (the paper's rule) or an int >= 1; got {self.steps!r}")
        if isinstance(self.teacher, str) and self.teacher not in SPECIAL_TEACHERS:
            raise ValueError(f"teacher must be an MLPRun or one of {SPECIAL_TEACHERS}; got {self.teacher!r}")
        _check_problem(self.num_classes, self.context)
        if isinstance(self.teacher, MLPRun) and (self.teacher.num_classes, self.teacher.context) != (
            self.num_classes,
            self.context,
        ):
            raise ValueError("teacher and student must learn the same problem (num_classes and context)")
        if not (self.peak_lr > 0 and 0 <= self.warmup_fraction < 1 and self.temperature > 0):
            raise ValueError("peak_lr and temperature must be > 0 and warmup_fraction in [0, 1)")

    @property
    def total_steps(self) -> int:
        return (
            self.steps
            if self.steps is not None
            else default_steps(self.width, self.num_classes, batch_size=self.batch_size)
        )

    @property
    def kind(self) -> str:
        """``supervised`` (trained on labels; teachers are such runs), ``bayes`` or ``distilled``."""
        if isinstance(self.teacher, MLPRun):
            return "distilled"
        return "supervised" if self.teacher == "labels" else "bayes"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = self.total_steps
        out["teacher"] = self.teacher.as_dict() if isinstance(self.teacher, MLPRun) else self.teacher
        return out

    def key(self) -> str:
        """Content hash of the full spec (teacher included) and :data:`CODE_VERSION`."""
        return spec_key(self.as_dict())


def spec_key(spec: dict[str, Any]) -> str:
    """The key of a run from its spec dictionary (:meth:`MLPRun.as_dict`, or a record's ``spec``)."""
    blob = json.dumps({"spec": spec, "code_version": CODE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: Seed of the fixed held-out set on which every run is evaluated (distinct from the training streams).
EVAL_SEED = 2_025_0208
EVAL_SIZE = 65_536


def eval_batch(num_classes: int = 8, context: str = "iid", size: int = EVAL_SIZE) -> MappingBatch:
    """The held-out evaluation set (fixed seed, shared by all runs so that comparisons are paired)."""
    torch = _torch()
    generator = torch.Generator().manual_seed(EVAL_SEED)
    return mapping_batch(size, num_classes, context=context, generator=generator)


def evaluate(model: Any, batch: MappingBatch, teacher_logits: Any = None) -> dict[str, float]:
    """Expected cross-entropy (nats) and accuracy of ``model`` under the true label distribution of
    ``batch``, and ``kl_to_teacher`` = KL(teacher || model) in nats when ``teacher_logits`` are given.

    The exact label distribution instead of the sampled labels gives the same expectation with less noise.
    """
    torch = _torch()
    with torch.no_grad():
        logits = model(batch.x)
        logp = torch.log_softmax(logits, dim=1)
        ce = -(batch.probs * logp).sum(dim=1).mean()
        pred = logp.argmax(dim=1)
        acc = batch.probs.gather(1, pred[:, None]).mean()
        out = {"cross_entropy": float(ce), "accuracy": float(acc)}
        if teacher_logits is not None:
            from . import losses  # noqa: PLC0415 - imports torch, which only this path needs

            out["kl_to_teacher"] = float(losses.kl_divergence(teacher_logits, logits))
    return out


def _streams(run: MLPRun) -> tuple[int, Any]:
    """The initialisation seed and the data generator of ``run``.

    All students of one seed share both, whatever their teacher, so that comparisons between teachers are
    paired. They differ from those of the runs trained on labels (the teachers): a student of its teacher's
    width would otherwise start from the teacher's initial weights and see the teacher's training samples.
    """
    role = 0 if run.teacher == "labels" else 1
    init_seed = run.seed + 7919 * role
    data_seed = 1_000_003 * (run.seed + 1) + 104_729 * role
    return init_seed, _torch().Generator().manual_seed(data_seed)


def _loss_fn(run: MLPRun) -> Callable[[Any, Any, MappingBatch], Any]:
    """The training loss of ``run``, from the training core: cross-entropy on the sampled labels, or pure
    distillation (forward KL to the teacher, the paper's setting; no z-loss, which App. C.2 does not use)."""
    from . import losses  # noqa: PLC0415 - imports torch, which only this path needs

    if run.teacher == "labels":
        return lambda logits, _teacher, batch: losses.next_token_loss(logits, batch.y)

    def distill(logits: Any, teacher_logits: Any, _batch: MappingBatch) -> Any:
        return losses.kd_loss(logits, teacher_logits, temperature=run.temperature, kl="forward")

    return distill


def _teacher_logits(run: MLPRun, teacher_model: Any, batch: MappingBatch) -> Any:
    torch = _torch()
    if run.teacher == "bayes":
        # log(0) = -inf would make 0 * log 0 undefined in the KL; a large finite negative logit gives the same
        # softmax to float precision.
        return torch.log(batch.probs.clamp_min(1e-30))
    if teacher_model is None:
        return None
    with torch.no_grad():
        return teacher_model(batch.x)


def train(
    run: MLPRun,
    teacher_model: Any = None,
    *,
    eval_set: MappingBatch | None = None,
    progress: Callable[[int], None] | None = None,
    device: str = "cpu",
) -> tuple[Any, dict[str, Any]]:
    """Train ``run``; return the model and its record (spec, results, wall time, provenance).

    A distilled run needs the trained ``teacher_model`` of ``run.teacher``. Single-threaded use is the
    caller's choice (``torch.set_num_threads(1)``); results are deterministic for a given thread count.
    ``device`` (:func:`check_device`) is where the model trains; the data are drawn on the CPU either way,
    so every device sees the same samples and starts from the same weights.
    """
    torch = _torch()
    device = check_device(device)
    if isinstance(run.teacher, MLPRun) and teacher_model is None:
        raise ValueError("a distilled run needs teacher_model, the trained model of run.teacher")
    eval_set = eval_set if eval_set is not None else eval_batch(run.num_classes, run.context)
    eval_set = _to_device(eval_set, device)
    if teacher_model is not None:
        teacher_model = teacher_model.to(device)
    init_seed, gen = _streams(run)
    torch.manual_seed(init_seed)
    model = mlp(run.width, run.num_classes).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=run.peak_lr)
    loss_fn = _loss_fn(run)
    total = run.total_steps
    if teacher_model is not None:
        teacher_model.eval()
    start = time.perf_counter()
    for step in range(total):
        lr = one_cycle_lr(step, total, run.peak_lr, run.warmup_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = _to_device(
            mapping_batch(run.batch_size, run.num_classes, context=run.context, generator=gen), device
        )
        loss = loss_fn(model(batch.x), _teacher_logits(run, teacher_model, batch), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(1)
    wall = time.perf_counter() - start
    model.eval()
    result = evaluate(model, eval_set, _teacher_logits(run, teacher_model, eval_set))
    record = {
        "key": run.key(),
        "kind": run.kind,
        "spec": run.as_dict(),
        "n_params": mlp_params(run.width, run.num_classes),
        **result,
        "wall_s": wall,
        "steps_per_s": total / wall if wall > 0 else None,
        "provenance": toy_provenance(device),
    }
    return model, record


def check_device(device: str) -> str:
    """``device`` if torch can train there: ``"cpu"``, or ``"cuda"``/``"cuda:N"`` with such a GPU present.

    Raises ``ValueError`` naming the allowed values otherwise, before any work is done.
    """
    torch = _torch()
    allowed = "'cpu', 'cuda' or 'cuda:N'"
    if not isinstance(device, str):
        raise ValueError(f"device must be {allowed}; got {device!r}")
    if device == "cpu":
        return device
    kind, _, index = device.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"device must be {allowed}; got {device!r}")
    if not torch.cuda.is_available() or (index and int(index) >= torch.cuda.device_count()):
        raise ValueError(f"device {device!r} is not available on this machine; use 'cpu'")
    # Full float32 matmuls, as on the CPU: TF32 would make GPU records differ by more than rounding.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return device


def _to_device(batch: MappingBatch, device: str) -> MappingBatch:
    if device == "cpu":
        return batch
    return MappingBatch(x=batch.x.to(device), y=batch.y.to(device), probs=batch.probs.to(device))


def toy_provenance(device: str = "cpu") -> dict[str, Any]:
    """Where and with what a record was produced: :func:`distill_scaling.store.provenance` (commit, date,
    versions of torch, NumPy and Python, host) plus :data:`CODE_VERSION`, the device and the thread count."""
    torch = _torch()
    return store.provenance(
        versions=("torch", "numpy"),
        code_version=CODE_VERSION,
        device=device if device == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        threads=torch.get_num_threads(),
    )


# ==========================================================================================================
# The experiment grid of Figs. 11-12 and its result store
# ==========================================================================================================


@dataclass(frozen=True)
class MappingExperiment:
    """The runs of paper Figs. 11 and 12 (plus supervised and Bayes-teacher students as references).

    Fig. 11: every student width distilled from teachers of every width in ``teacher_widths`` (each trained
    for the paper's default length). Fig. 12: every student distilled from a ``fig12_teacher_width`` teacher
    trained for each of ``teacher_steps``. Students train for :func:`default_steps` unless ``student_steps``
    is set.
    """

    student_widths: tuple[int, ...] = (128, 256, 362)
    teacher_widths: tuple[int, ...] = (128, 256, 512)
    teacher_steps: tuple[int, ...] = (64, 256, 1024, 4096, 16384)
    fig12_teacher_width: int = 512
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    num_classes: int = 8
    context: str = "iid"
    batch_size: int = 512
    student_steps: int | None = None
    teacher_default_steps: int | None = None
    references: bool = True

    def __post_init__(self) -> None:
        for name in ("student_widths", "teacher_widths", "teacher_steps", "seeds"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < (0 if name == "seeds" else 1) for v in values):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints; got {values!r}")

    def _run(self, width: int, seed: int, steps: int | None, teacher: MLPRun | str) -> MLPRun:
        return MLPRun(
            width=width,
            seed=seed,
            steps=steps,
            teacher=teacher,
            num_classes=self.num_classes,
            context=self.context,
            batch_size=self.batch_size,
        )

    def reference_teachers(self) -> tuple[str, ...]:
        """Students trained on labels, and on the exact label distribution when that differs from the labels
        (``iid`` contexts; with ``pairs`` the labels are deterministic, so both would be the same run)."""
        return SPECIAL_TEACHERS if self.context == "iid" else ("labels",)

    def teachers(self, seed: int) -> list[tuple[str, MLPRun]]:
        """``(figure, teacher run)`` pairs for one seed, Fig. 11's then Fig. 12's."""
        out = [
            ("fig11", self._run(w, seed, self.teacher_default_steps, "labels")) for w in self.teacher_widths
        ]
        out += [("fig12", self._run(self.fig12_teacher_width, seed, s, "labels")) for s in self.teacher_steps]
        return out

    def students(self, teacher: MLPRun | str, seed: int) -> list[MLPRun]:
        return [self._run(w, seed, self.student_steps, teacher) for w in self.student_widths]

    def plan(self) -> list[tuple[str, MLPRun]]:
        """Every run as ``(figure, run)``, each teacher followed by its students (duplicates removed)."""
        seen: set[str] = set()
        out: list[tuple[str, MLPRun]] = []

        def add(fig: str, run: MLPRun) -> None:
            if run.key() not in seen:
                seen.add(run.key())
                out.append((fig, run))

        for seed in self.seeds:
            if self.references:
                for special in self.reference_teachers():
                    for s in self.students(special, seed):
                        add("reference", s)
            for fig, teacher in self.teachers(seed):
                add(fig, teacher)
                for s in self.students(teacher, seed):
                    add(fig, s)
        return out

    def estimated_cost(self) -> int:
        """Rough cost in multiply-adds (parameters x samples x 3 for training, + 1 teacher forward)."""
        cost = 0
        for _, run in self.plan():
            per = 3 * mlp_params(run.width, run.num_classes)
            if isinstance(run.teacher, MLPRun):
                per += mlp_params(run.teacher.width, run.num_classes)
            cost += per * run.total_steps * run.batch_size
        return cost


class ResultStore:
    """The committed results of the mapping-problem runs: one JSON file, written atomically after each run.

    Several processes may fill one store (a background sweep and a book build, say): :meth:`add` takes a
    lock on the folder, merges what others wrote since, and writes; :func:`ensure` re-reads the file before
    each run, so that it skips what another process has finished.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.refresh()

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def _on_disk(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        return {r["key"]: r for r in json.loads(self.path.read_text()).get("records", [])}

    def refresh(self) -> None:
        """Add the records that other processes wrote to the file."""
        self.records = {**self._on_disk(), **self.records}

    def _locked(self):
        # The folder is the lock, so that no lock file lies beside the committed results.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return store.locked(self.path.parent)

    def add(self, record: dict[str, Any]) -> None:
        with self._locked():
            self.refresh()
            self.records[record["key"]] = record
            self._write()

    def save(self) -> None:
        """Write exactly the records held in memory (deletions included)."""
        with self._locked():
            self._write()

    def _write(self) -> None:
        payload = {
            "description": "Mapping-problem MLP runs (paper App. C.2, Figs. 11-12), distill_scaling.toys",
            "code_version": CODE_VERSION,
            "records": sorted(self.records.values(), key=lambda r: r["key"]),
        }
        store.write_json_atomic(self.path, payload)


def results_path(directory: Path | str | None = None) -> Path:
    """The mapping-problem results file: ``data/toys/mlp_mapping.json``, or in ``directory``."""
    base = Path(directory) if directory is not None else paths.data_dir() / "toys"
    return base / "mlp_mapping.json"


def _checkpoint(run: MLPRun, directory: Path | None) -> Path | None:
    return None if directory is None else directory / f"mapping-{run.key()}.pt"


def ensure(  # noqa: C901 - resume, lock, train and record in one loop, so that an interrupted grid resumes
    experiment: MappingExperiment | Sequence[MLPRun],
    store: ResultStore,
    *,
    train_missing: bool = True,
    checkpoints: Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train every run of ``experiment`` (or of a list of runs) whose record is missing from ``store``; return
    the records of all its runs, in order.

    Teachers are kept in memory for their students and, when ``checkpoints`` is a folder, saved there so that
    an interrupted sweep does not retrain them. With ``train_missing=False`` a missing record is an error.
    ``device`` is where the missing runs train (:func:`train`).
    """
    torch = _torch()
    device = check_device(device)
    if isinstance(experiment, MappingExperiment):
        plan = [run for _, run in experiment.plan()]
    else:
        plan = list(dict.fromkeys(experiment))  # drop duplicates, keep the order
    missing = [run for run in plan if run.key() not in store]
    if missing and not train_missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(plan)} mapping-problem runs are missing from {store.path}"
        )
    needed_teachers = {r.teacher.key(): r.teacher for r in missing if isinstance(r.teacher, MLPRun)}
    bar = None
    if missing and progress:
        from tqdm.auto import tqdm  # noqa: PLC0415 - only a progress bar needs it

        total_steps = sum(r.total_steps for r in missing)
        total_steps += sum(t.total_steps for t in needed_teachers.values() if t.key() in store)
        bar = tqdm(total=total_steps, desc="mapping-problem runs", unit="step", mininterval=2.0)
    evals: dict[tuple[int, str], MappingBatch] = {}
    models: dict[str, Any] = {}

    def eval_for(run: MLPRun) -> MappingBatch:
        problem = (run.num_classes, run.context)
        if problem not in evals:
            evals[problem] = eval_batch(*problem)
        return evals[problem]

    def teacher_model(teacher: MLPRun) -> Any:
        key = teacher.key()
        if key in models:
            return models[key]
        ckpt = _checkpoint(teacher, checkpoints)
        if ckpt is not None and ckpt.exists():
            model = mlp(teacher.width, teacher.num_classes)
            model.load_state_dict(torch.load(ckpt, weights_only=True, map_location="cpu"))
        else:
            model, record = train(
                teacher, eval_set=eval_for(teacher), progress=bar.update if bar else None, device=device
            )
            if key not in store:
                store.add(record)
            if ckpt is not None:
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                # Saved from the CPU, so that a checkpoint written on a GPU loads anywhere.
                torch.save({k: v.cpu() for k, v in model.state_dict().items()}, ckpt)
        models.clear()  # a teacher's students are trained right after it (see plan), so keep only one
        models[key] = model
        return model

    try:
        for run in missing:
            store.refresh()
            if run.key() in store:  # trained on demand for an earlier student, or by another process
                continue
            if run.key() in needed_teachers:
                teacher_model(run)
                continue
            tm = teacher_model(run.teacher) if isinstance(run.teacher, MLPRun) else None
            _, record = train(
                run, tm, eval_set=eval_for(run), progress=bar.update if bar else None, device=device
            )
            store.add(record)
            if log is not None:
                log(f"{record['kind']} w={run.width} seed={run.seed}: CE {record['cross_entropy']:.4f}")
    finally:
        if bar is not None:
            bar.close()
    return [store.records[run.key()] for run in plan]


def records_frame(records: Iterable[dict[str, Any]]):
    """One row per record: kind, width, seed, steps, teacher (kind, width, steps), metrics, wall time and
    the device it trained on."""
    import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

    rows = []
    for r in records:
        spec = r["spec"]
        teacher = spec["teacher"]
        rows.append(
            {
                "kind": r["kind"],
                "width": spec["width"],
                "seed": spec["seed"],
                "steps": spec["steps"],
                "teacher": teacher if isinstance(teacher, str) else "mlp",
                "teacher_width": teacher["width"] if isinstance(teacher, dict) else None,
                "teacher_steps": teacher["steps"] if isinstance(teacher, dict) else None,
                "teacher_key": spec_key(teacher) if isinstance(teacher, dict) else None,
                "cross_entropy": r["cross_entropy"],
                "accuracy": r["accuracy"],
                "kl_to_teacher": r.get("kl_to_teacher", np.nan),
                "wall_s": r["wall_s"],
                "device": r.get("provenance", {}).get("device", "cpu"),
                "key": r["key"],
            }
        )
    return pd.DataFrame(rows)


def quantile_summary(
    frame,
    by: Sequence[str],
    metrics: Sequence[str] = ("cross_entropy", "accuracy"),
    quantiles: tuple[float, float] = (0.25, 0.75),
):
    """Median and (25%, 75%) quantiles of ``metrics`` over seeds, grouped by ``by`` (paper Figs. 11-12)."""
    grouped = frame.groupby(list(by), dropna=False)
    parts = {}
    for metric in metrics:
        parts[(metric, "median")] = grouped[metric].median()
        parts[(metric, f"q{round(100 * quantiles[0])}")] = grouped[metric].quantile(quantiles[0])
        parts[(metric, f"q{round(100 * quantiles[1])}")] = grouped[metric].quantile(quantiles[1])
    parts[("seeds", "n")] = grouped["seed"].nunique()
    import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

    return pd.DataFrame(parts)


__all__ = [
    "KernelRegressionResult",
    "MLPRun",
    "MappingBatch",
    "MappingExperiment",
    "ResultStore",
    "bayes_limits",
    "bayes_probs",
    "check_device",
    "default_steps",
    "draw_alpha",
    "ensure",
    "eval_batch",
    "evaluate",
    "kernel_regression",
    "mapping_batch",
    "mlp",
    "mlp_params",
    "one_cycle_lr",
    "toy_provenance",
    "records_frame",
    "spec_key",
    "quantile_summary",
    "results_path",
    "train",
    "u_shape_violations",
]
