"""What runs cost on one H200: FLOPs to hours through the share of the bf16 peak measured there.

The basis is the measurement of issue 14 (the project's own ``model.Transformer`` and ``train.train_step``
on one H200, bf16 autocast, ``torch.compile``), whose compiled training steps reached these shares of the
780 TFLOP/s bf16 peak (``MEASURED``): L10-d160 (context 128, heads of 16) at batches of 32 and 512
sequences, L12-d768 (context 1024, heads of 64) at 32 sequences, and the same student distilled from
L24-d1536. A step's share grows with its work, so :func:`utilisation` interpolates the measured shares
linearly in log10 of the FLOPs per optimiser step (3 F(N_S) + F(N_T) per token, times the tokens of a step,
counted by :func:`distill_scaling.flops.forward_flops` for the measured shapes), and holds the end values
outside the measured range: steps smaller than the smallest measured one are taken at its share
(optimistic: smaller steps are more launch-bound still), larger ones at the largest share measured.
Evaluation, checkpoints and the data sampler are not counted. :func:`run_hours` is a run's FLOPs over that
share of the peak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from . import flops
from .model import PROFILE_SHAPES, config_from_name
from .spec import RunSpec, run_flops

#: The H200's dense bf16 peak the shares are measured against (issue 14).
H200_PEAK_FLOPS = 780e12


@dataclass(frozen=True)
class Measured:
    """One measured compiled training step on the H200: shapes, batch and share of the bf16 peak."""

    student: str
    batch: int
    share: float
    profile: str = "cpu"  # the shape family of both models (context, head size)
    teacher: str | None = None

    def step_flops(self) -> float:
        """FLOPs of one optimiser step: (3 F(N_S) + F(N_T)) x sequences x context."""
        student = config_from_name(self.student, **PROFILE_SHAPES[self.profile])
        per_token = 3.0 * flops.forward_flops(student)
        if self.teacher is not None:
            per_token += flops.forward_flops(config_from_name(self.teacher, **PROFILE_SHAPES[self.profile]))
        return per_token * self.batch * student.n_ctx


#: The compiled steps measured on one H200 (issue 14); the eager ones (L2-d32 0.015%, L10-d160 0.28%,
#: L12-d768 18%) are slower and not used, since the trainer compiles on CUDA where it pays.
MEASURED = (
    Measured("L10-d160", 32, 0.0069),
    Measured("L10-d160", 512, 0.077),
    Measured("L12-d768", 32, 0.44, profile="gpu"),
    Measured("L12-d768", 32, 0.55, profile="gpu", teacher="L24-d1536"),
)


def utilisation(step_flops: float | np.ndarray) -> np.ndarray:
    """The share of the H200's bf16 peak a compiled step of ``step_flops`` FLOPs reaches: the measured shares
    interpolated linearly in log10(FLOPs per step), the end values held outside the measured range."""
    points = sorted((m.step_flops(), m.share) for m in MEASURED)
    x = np.log10([p[0] for p in points])
    y = np.array([p[1] for p in points])
    return np.interp(np.log10(np.asarray(step_flops, float)), x, y)


def step_flops(spec: RunSpec, teacher: RunSpec | None = None) -> float:
    """FLOPs of one optimiser step of a run (student training and teacher logits; the teacher defaults to the
    spec's ``teacher_spec``)."""
    return run_flops(spec, teacher if teacher is not None else spec.teacher_spec)["total"] / spec.steps


def run_hours(spec: RunSpec, teacher: RunSpec | None = None) -> float:
    """H200-hours of one run (its teacher's training not included): its FLOPs (student training and teacher
    logits) at the utilisation of its step."""
    total = run_flops(spec, teacher if teacher is not None else spec.teacher_spec)["total"]
    share = float(utilisation(total / spec.steps))
    return total / (share * H200_PEAK_FLOPS) / 3600.0


def outside_basis(specs: Iterable[RunSpec]) -> dict[str, int]:
    """How many runs have steps smaller (``below``: priced optimistically) or larger (``above``) than every
    measured step."""
    measured = [m.step_flops() for m in MEASURED]
    steps = [step_flops(s) for s in specs]
    return {"below": sum(x < min(measured) for x in steps), "above": sum(x > max(measured) for x in steps)}


def hours(specs: Iterable[RunSpec]) -> float:
    """H200-hours of a list of runs (each with its ``teacher_spec``; teachers count where they are listed)."""
    return float(sum(run_hours(s) for s in specs))


def basis_table() -> list[dict[str, float | str | None]]:
    """The measured basis, one row per measured step: shapes, batch, FLOPs per step and share of the peak."""
    return [
        {
            "student": m.student,
            "teacher": m.teacher,
            "context": config_from_name(m.student, **PROFILE_SHAPES[m.profile]).n_ctx,
            "head_dim": config_from_name(m.student, **PROFILE_SHAPES[m.profile]).head_dim,
            "batch": m.batch,
            "step_flops": m.step_flops(),
            "share": m.share,
        }
        for m in MEASURED
    ]


__all__ = [
    "H200_PEAK_FLOPS",
    "MEASURED",
    "Measured",
    "basis_table",
    "hours",
    "outside_basis",
    "run_hours",
    "step_flops",
    "utilisation",
]
