"""FLOP accounting: forward FLOPs per token, training and teacher costs (paper Eq. 9).

Two scales live here:

* the paper's continuous formula for fixed-aspect-ratio models (App. H.1, Eqs. 57-69), used by the
  compute-optimal analysis at the paper's scale: ``F(N) = 2N (1 + sigma1 n_ctx / N^(1/3) + sigma2 n_vocab / N^(2/3))``;
* exact counts for the concrete models of our zoo (see :mod:`distill_scaling.model`).

Training costs 3 forward passes per token (backward = 2 x forward); teacher logits cost 1 forward pass of the
teacher per student token; teacher pretraining costs 3 F(N_T) D_T.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: The paper's architecture constants (App. H): d_model / n_layers = 128, omega = 2 + 2/g + n_ffn rho_ffn = 12,
#: context 4096. The vocabulary is 32768 (= 2**15): Table 13's N_total - N equals 32768 d_model for several
#: models, and Fig. 54 calls full distillation "k = 32768"; the "32168" of App. G.4 reads as a typo (digest §12.8).
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
    """Forward FLOPs per token of a fixed-aspect-ratio model with N non-embedding parameters (paper Eq. 69)."""
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
