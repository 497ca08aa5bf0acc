"""FLOP accounting: forward FLOPs per token, training and teacher costs (paper Eq. 9).

Two scales live here:

* the paper's continuous formula for fixed-aspect-ratio models (App. H.1, Eqs. 57-69), used by the
  compute-optimal analysis at the paper's scale:
  ``F(N) = 2N (1 + sigma1 n_ctx / N^(1/3) + sigma2 n_vocab / N^(2/3))``;
* exact counts for the concrete models of our zoo (see :mod:`distill_scaling.model`).

Training costs 3 forward passes per token (backward = 2 x forward); teacher logits cost 1 forward pass of the
teacher per student token; teacher pretraining costs 3 F(N_T) D_T.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike


class ModelShape(Protocol):
    """What the exact counts read of a model: :class:`distill_scaling.model.ModelConfig` has it. A protocol,
    so that this module does not import the model (the model imports this module, not the reverse)."""

    @property
    def n_layers(self) -> int: ...
    @property
    def d_model(self) -> int: ...
    @property
    def n_heads(self) -> int: ...
    @property
    def head_dim(self) -> int: ...
    @property
    def d_ff(self) -> int: ...
    @property
    def n_ctx(self) -> int: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def n_params(self) -> int: ...


#: The paper's architecture constants (App. H): d_model / n_layers = 128,
#: omega = 2 + 2/g + n_ffn rho_ffn = 12, context 4096. The vocabulary is 32768 (= 2**15): Table 13's
#: N_total - N equals 32768 d_model for several models, and Fig. 54 calls full distillation "k = 32768";
#: the "32168" of App. G.4 reads as a typo (digest §12.8).
PAPER_ASPECT_RATIO = 128
PAPER_OMEGA = 12.0
PAPER_N_CTX = 4096
PAPER_N_VOCAB = 32768


def sigma1(aspect_ratio: float = PAPER_ASPECT_RATIO, omega: float = PAPER_OMEGA) -> float:
    """sigma1 = (1 / (rho omega^2))^(1/3): 2 n_ctx n_layers d_model = 2 n_ctx sigma1 N^(2/3)."""
    return (1.0 / (aspect_ratio * omega**2)) ** (1.0 / 3.0)


def sigma2(aspect_ratio: float = PAPER_ASPECT_RATIO, omega: float = PAPER_OMEGA) -> float:
    """sigma2 = (rho / omega)^(1/3): 2 n_vocab d_model = 2 n_vocab sigma2 N^(1/3)."""
    return (aspect_ratio / omega) ** (1.0 / 3.0)


def paper_forward_flops(
    N: ArrayLike,
    *,
    n_ctx: float = PAPER_N_CTX,
    n_vocab: float = PAPER_N_VOCAB,
    aspect_ratio: float = PAPER_ASPECT_RATIO,
    omega: float = PAPER_OMEGA,
) -> np.ndarray:
    """Forward FLOPs per token of a fixed-aspect-ratio model with N non-embedding parameters (Eq. 69)."""
    N = np.asarray(N, dtype=float)
    s1, s2 = sigma1(aspect_ratio, omega), sigma2(aspect_ratio, omega)
    return 2.0 * N * (1.0 + s1 * n_ctx * N ** (-1.0 / 3.0) + s2 * n_vocab * N ** (-2.0 / 3.0))


def distillation_flops(
    F_student: ArrayLike,
    D_S: ArrayLike,
    F_teacher: ArrayLike = 0.0,
    D_T: ArrayLike = 0.0,
    *,
    teacher_logits: bool | float = False,
    teacher_pretraining: bool | float = False,
) -> dict[str, np.ndarray]:
    """The three terms of paper Eq. 9 and their total, from forward FLOPs per token.

    ``teacher_logits`` and ``teacher_pretraining`` are the switches delta_T^Lgt and delta_T^Pre.
    """
    F_student, D_S = np.asarray(F_student, float), np.asarray(D_S, float)
    F_teacher, D_T = np.asarray(F_teacher, float), np.asarray(D_T, float)
    student = 3.0 * F_student * D_S
    logits = float(teacher_logits) * F_teacher * D_S
    pretraining = float(teacher_pretraining) * 3.0 * F_teacher * D_T
    return {
        "student_training": student,
        "teacher_logits": logits,
        "teacher_pretraining": pretraining,
        "total": student + logits + pretraining,
    }


# --- exact counts for the concrete models of our zoo -------------------------------------------------------


def forward_flops_breakdown(config: ModelShape) -> dict[str, int]:
    """Forward FLOPs per token of :class:`distill_scaling.model.Transformer`, term by term (Tables 9-12).

    A matmul of [m, k] by [k, n] costs 2 m k n FLOPs.  Per layer, with H heads of size Dh (H Dh = d_model):

    * ``attn_qkvo``: the q, k, v and output projections, 4 H Dh d_model + 4 H Dh d_model
      (the paper's 4 n_heads d_head d_model + 4 n_kv_heads d_model d_head, n_kv_heads = n_heads);
    * ``attn_context``: Q K^T and A V for one query against n_ctx / 2 keys on average (causal attention,
      counted as the paper and Kaplan et al. do), 2 x 2 H Dh (n_ctx / 2);
    * ``attn_softmax``: the paper's 2.5 n_heads n_ctx for scaling, masking and the softmax;
    * ``mlp``: gate, up and down projections, 2 x 3 d_model d_ff;

    and once per token ``logits`` (the tied unembedding, 2 n_vocab d_model) and ``embedding`` (the paper's
    2 d_model).  As in the paper, RMSNorm, QK-norm, RoPE, SiLU, residual additions and the logit multiplier
    are not counted: elementwise work of order d_model per layer, against 24 d_model^2 for the matmuls.
    With the paper's shapes these terms reproduce its Table 13 C_fwd column (e.g. 0.3411 GFLOPs for 103M).
    """
    L, d, H, Dh = config.n_layers, config.d_model, config.n_heads, config.head_dim
    n_ctx = config.n_ctx
    # n_ctx / 2 average keys: kept exact for odd n_ctx by counting 2 H Dh n_ctx (= 4 H Dh n_ctx / 2).
    terms = {
        "attn_qkvo": L * (4 * H * Dh * d + 4 * H * d * Dh),
        "attn_context": L * 2 * H * Dh * n_ctx,
        "attn_softmax": L * (5 * H * n_ctx) // 2,
        "mlp": L * 2 * 3 * d * config.d_ff,
        "logits": 2 * config.vocab_size * d,
        "embedding": 2 * d,
    }
    return terms


def forward_flops(config: ModelShape) -> int:
    """Exact forward FLOPs per token of our model (sum of :func:`forward_flops_breakdown`)."""
    return sum(forward_flops_breakdown(config).values())


def approx_forward_flops(config: ModelShape) -> int:
    """The paper's 2N + 2 n_layers n_ctx d_model + 2 n_vocab d_model (Eq. 72), N non-embedding."""
    d = config.d_model
    return 2 * config.n_params + 2 * config.n_layers * config.n_ctx * d + 2 * config.vocab_size * d


def _check_tokens(name: str, tokens: object) -> None:
    if isinstance(tokens, bool) or not isinstance(tokens, int | float | np.integer) or tokens < 0:
        raise ValueError(f"{name} must be a number of tokens >= 0, got {tokens!r}")


def training_flops(config: ModelShape, tokens: float) -> float:
    """Training compute 3 F D: forward plus a backward pass costing twice the forward (paper Eq. 70)."""
    _check_tokens("tokens", tokens)
    return 3 * forward_flops(config) * tokens


def teacher_logit_flops(teacher_config: ModelShape, student_tokens: float) -> float:
    """Teacher logits for distillation: one teacher forward per student token, F_T D_S (paper Eq. 9)."""
    _check_tokens("student_tokens", student_tokens)
    return forward_flops(teacher_config) * student_tokens


def teacher_pretraining_flops(teacher_config: ModelShape, teacher_tokens: float) -> float:
    """Teacher pretraining 3 F_T D_T (paper Eq. 9)."""
    _check_tokens("teacher_tokens", teacher_tokens)
    return 3 * forward_flops(teacher_config) * teacher_tokens
