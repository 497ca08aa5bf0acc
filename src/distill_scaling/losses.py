"""Training losses of the paper (Eqs. 3-7): next-token cross-entropy, z-loss, distillation and their mix.

Every function takes logits of shape ``[..., V]`` (any leading shape), computes in at least float32 and
averages over tokens (all leading positions).  With student logits ``z_S``, teacher logits ``z_T`` and
temperature ``tau``:

* next-token loss ``L_NTP = -log softmax(z_S)[x]``;
* z-loss ``L_Z = (log sum_a exp z_S,a)^2``;
* distillation ``L_KD = -tau^2 sum_a p_T,a log q_S,a`` with ``p_T = softmax(z_T / tau)`` (optionally
  truncated to its top-k / top-p set and renormalised, paper Eqs. 55-56) and ``q_S = softmax(z_S / tau)``: the
  forward KL ``KL(p_T || q_S)`` plus the teacher's entropy, which does not depend on the student (same
  gradient); ``kl="reverse"`` uses ``tau^2 KL(q_S || p_T)`` instead;
* the student's loss ``(1 - mix) L_NTP + mix L_KD + z_loss_coef L_Z`` (``mix`` is the paper's lambda).

The teacher never receives gradients: its logits are detached. The distillation term is :func:`kd_loss`,
a training loss; :func:`distill_scaling.laws.distillation_loss` is the paper's law that predicts a student's
final loss.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

KL_DIRECTIONS = ("forward", "reverse")
#: Slack on the cumulative probability of Eq. 56, so that float32 rounding of a cumulative sum that equals
#: top_p exactly does not drop the token that reaches it.
_TOP_P_SLACK = 1e-6


def validate_distillation_args(
    *,
    temperature: float = 1.0,
    mix: float | None = None,
    kl: str = "forward",
    top_k: int | None = None,
    top_p: float | None = None,
    z_loss_coef: float = 0.0,
    vocab_size: int | None = None,
) -> None:
    """Raise ``ValueError`` naming the parameter and its allowed values for any bad loss setting.

    Cheap and tensor-free, so run specs can be checked before any training.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be finite, got {temperature!r}")
    if mix is not None and (
        isinstance(mix, bool) or not isinstance(mix, int | float) or not 0.0 <= mix <= 1.0
    ):
        raise ValueError(f"mix (the paper's lambda) must be a number in [0, 1], got {mix!r}")
    if kl not in KL_DIRECTIONS:
        raise ValueError(f"kl must be one of {KL_DIRECTIONS}, got {kl!r}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
        if vocab_size is not None and top_k > vocab_size:
            raise ValueError(f"top_k must be <= the vocabulary size {vocab_size}, got {top_k}")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0.0 < top_p <= 1.0
    ):
        raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")
    if kl == "reverse" and (top_k is not None or top_p is not None):
        raise ValueError(
            "top_k / top_p truncation needs kl='forward': KL(q_S || p_T) is infinite where the truncated "
            "teacher puts zero probability"
        )
    if isinstance(z_loss_coef, bool) or not isinstance(z_loss_coef, int | float) or not z_loss_coef >= 0:
        raise ValueError(f"z_loss_coef must be a number >= 0, got {z_loss_coef!r}")


def _check_logits(name: str, logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim < 1 or not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor of shape [..., V]")


def _check_pair(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student_logits and teacher_logits must have the same shape; got {tuple(student_logits.shape)} "
            f"and {tuple(teacher_logits.shape)}"
        )


def _check_targets(logits: torch.Tensor, targets: torch.Tensor) -> None:
    _check_logits("logits", logits)
    if not isinstance(targets, torch.Tensor) or targets.dtype not in (torch.int64, torch.int32):
        raise ValueError("targets must be an integer tensor of token ids")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"targets must have shape logits.shape[:-1] = {tuple(logits.shape[:-1])}, "
            f"got {tuple(targets.shape)}"
        )


def _up(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits are promoted to float32; float32 and float64 are kept as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy in nats per token (paper Eq. 3)."""
    _check_targets(logits, targets)
    V = logits.shape[-1]
    return F.cross_entropy(_up(logits).reshape(-1, V), targets.long().reshape(-1))


def z_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean of the squared log-partition function (logsumexp)^2 (paper Eq. 4)."""
    _check_logits("logits", logits)
    return torch.logsumexp(_up(logits), dim=-1).square().mean()


def _truncated_teacher_logits(
    teacher_logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    """z_T / tau, detached, with -inf outside the kept set S (see :func:`teacher_log_probs`)."""
    z = _up(teacher_logits.detach()) / temperature
    if top_p == 1.0:
        top_p = None
    if top_k is not None and top_k >= z.shape[-1]:
        top_k = None
    if top_k is None and top_p is None:
        return z
    if top_p is None:
        idx = z.topk(top_k, dim=-1).indices
        keep = torch.zeros_like(z, dtype=torch.bool).scatter_(-1, idx, True)
    else:
        sorted_logp, order = F.log_softmax(z, dim=-1).sort(dim=-1, descending=True)
        keep_sorted = sorted_logp.exp().cumsum(dim=-1) <= top_p + _TOP_P_SLACK
        keep_sorted[..., 0] = True
        if top_k is not None:
            keep_sorted[..., top_k:] = False
        keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
    return z.masked_fill(~keep, float("-inf"))


def teacher_log_probs(
    teacher_logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """log p_T: the teacher's temperature-scaled log-probabilities, truncated and renormalised if asked.

    Truncation (paper Eqs. 55-56) keeps the set S of the teacher's most probable tokens and renormalises
    over it; tokens outside S get log-probability -inf.  ``top_k`` keeps exactly k tokens (ties broken by
    ``torch.topk``).  ``top_p`` keeps the tokens whose cumulative probability, summed in descending order up
    to and including themselves, is at most p (Eq. 56), and always the most probable token, without which the
    set would be empty whenever that token's probability exceeds p.  Both sets are prefixes of the teacher's
    sorted distribution; with both given, the shorter prefix is kept.
    """
    validate_distillation_args(
        temperature=temperature, top_k=top_k, top_p=top_p, vocab_size=teacher_logits.shape[-1]
    )
    return F.log_softmax(_truncated_teacher_logits(teacher_logits, temperature, top_k, top_p), dim=-1)


def _kd(
    student_logq: torch.Tensor,
    teacher_logits: torch.Tensor,
    kl: str,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
) -> torch.Tensor:
    """tau^2 times the mean per-token KD term, given the student's log-probabilities at temperature tau."""
    z_t = _truncated_teacher_logits(teacher_logits, temperature, top_k, top_p)
    if kl == "forward":
        # Cross-entropy form; p_T = 0 outside a truncated set, and 0 * finite = 0 exactly.
        per_token = -torch.linalg.vecdot(F.softmax(z_t, dim=-1), student_logq)
    else:
        per_token = torch.linalg.vecdot(student_logq.exp(), student_logq - F.log_softmax(z_t, dim=-1))
    return temperature**2 * per_token.mean()


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    kl: str = "forward",
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Knowledge-distillation loss tau^2 * KD (paper Eq. 5), mean over tokens.

    ``kl="forward"``: ``-tau^2 sum_a p_T,a log q_S,a`` (cross-entropy form: KL(p_T || q_S) plus the teacher's
    entropy; use :func:`kl_divergence` for the KL itself).  ``kl="reverse"``: ``tau^2 KL(q_S || p_T)``.
    ``top_k`` / ``top_p`` truncate and renormalise the teacher distribution (forward only; see
    :func:`teacher_log_probs`).
    """
    validate_distillation_args(temperature=temperature, kl=kl, top_k=top_k, top_p=top_p)
    _check_pair(student_logits, teacher_logits)
    validate_distillation_args(top_k=top_k, vocab_size=student_logits.shape[-1])
    logq_s = F.log_softmax(_up(student_logits) / temperature, dim=-1)
    return _kd(logq_s, teacher_logits, kl, temperature, top_k, top_p)


def kl_divergence(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_T || q_S) at temperature 1 without truncation, mean nats per token (for records, not training)."""
    _check_pair(student_logits, teacher_logits)
    logp = F.log_softmax(_up(teacher_logits.detach()), dim=-1)
    logq = F.log_softmax(_up(student_logits), dim=-1)
    return (logp.exp() * (logp - logq)).sum(dim=-1).mean()


class LossParts(NamedTuple):
    """The student's loss and its unweighted terms (``None`` for terms that were not computed)."""

    total: torch.Tensor
    next_token: torch.Tensor | None
    distillation: torch.Tensor | None
    z: torch.Tensor


def student_loss_parts(
    student_logits: torch.Tensor,
    targets: torch.Tensor | None,
    teacher_logits: torch.Tensor | None = None,
    *,
    mix: float | None = None,
    temperature: float = 1.0,
    kl: str = "forward",
    top_k: int | None = None,
    top_p: float | None = None,
    z_loss_coef: float = 1e-4,
) -> LossParts:
    """:func:`student_loss` together with its terms, for logging.

    A term whose weight is exactly zero is not computed (``None``): ``mix = 1`` skips the next-token term
    (``targets`` may then be ``None``), ``mix = 0`` skips distillation.
    """
    if mix is None:
        mix = 0.0 if teacher_logits is None else 1.0
    validate_distillation_args(
        temperature=temperature, mix=mix, kl=kl, top_k=top_k, top_p=top_p, z_loss_coef=z_loss_coef
    )
    if teacher_logits is None and mix != 0:
        raise ValueError(f"mix = {mix} > 0 needs teacher_logits; without a teacher use mix = 0 (supervised)")
    if targets is None and mix != 1:
        raise ValueError(f"targets are needed unless mix = 1 (pure distillation); got mix = {mix}")
    if targets is not None:
        _check_targets(student_logits, targets)
    else:
        _check_logits("student_logits", student_logits)
    if teacher_logits is not None:
        _check_pair(student_logits, teacher_logits)

    if top_k is not None:
        validate_distillation_args(top_k=top_k, vocab_size=student_logits.shape[-1])
    z = _up(student_logits)
    # One fused log-softmax serves the next-token term, the z-loss and (at tau = 1) distillation; the
    # log-partition comes from it at the target, log Z = z_x - log q_x, saving a logsumexp pass over V.
    logq = F.log_softmax(z, dim=-1)
    if targets is not None:
        t = targets.long().unsqueeze(-1)
        logq_target = logq.gather(-1, t)
        lse = z.gather(-1, t) - logq_target
    else:
        lse = torch.logsumexp(z, dim=-1)
    zl = lse.square().mean()
    total = z_loss_coef * zl
    ntp = kd = None
    if mix != 1:
        ntp = -logq_target.mean()
        total = total + (1.0 - mix) * ntp
    if mix != 0:
        logq_tau = logq if temperature == 1 else F.log_softmax(z / temperature, dim=-1)
        kd = _kd(logq_tau, teacher_logits, kl, temperature, top_k, top_p)
        total = total + mix * kd
    return LossParts(total=total, next_token=ntp, distillation=kd, z=zl.detach())


def student_loss(
    student_logits: torch.Tensor,
    targets: torch.Tensor | None,
    teacher_logits: torch.Tensor | None = None,
    *,
    mix: float | None = None,
    temperature: float = 1.0,
    kl: str = "forward",
    top_k: int | None = None,
    top_p: float | None = None,
    z_loss_coef: float = 1e-4,
) -> torch.Tensor:
    """The student's training loss ``(1 - mix) L_NTP + mix L_KD + z_loss_coef L_Z`` (paper Eq. 7).

    ``mix`` is the paper's lambda; ``None`` means 1 (pure distillation, the paper's scaling-law setting) when
    teacher logits are given and 0 (supervised training) when they are not.  A positive ``mix`` without
    teacher logits is an error.
    """
    return student_loss_parts(
        student_logits,
        targets,
        teacher_logits,
        mix=mix,
        temperature=temperature,
        kl=kl,
        top_k=top_k,
        top_p=top_p,
        z_loss_coef=z_loss_coef,
    ).total
