"""Run specifications: what one training run is, its content hash, and its size and cost rules.

A run is a frozen :class:`RunSpec`; its identity is :attr:`RunSpec.key`, a hash of every field that changes
what training does (the model's full configuration included). The batch and warmup rules resolve a spec's
sizes when it is built, so a key does not depend on how the spec was written. :func:`run_flops` is a run's
cost by the paper's accounting. Records of finished runs live in :mod:`distill_scaling.store`; the executor
that trains specs is :mod:`distill_scaling.runs`.

Example::

    from distill_scaling.spec import RunSpec
    teacher = RunSpec("L4-d64", tokens=4_000_000, split="teacher")
    student = RunSpec("L2-d32", tokens=2_000_000, split="student", teacher=teacher)
    student.teacher == teacher.key and student.teacher_spec == teacher  # True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from . import flops
from .errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .model import ModelConfig

#: Version of the training semantics. Bump it whenever a change to the model, the losses, the data order or
#: the optimiser would change the result of an existing spec: old records then stop matching new specs.
TRAIN_VERSION = 1

#: The batch rule: every run gets at least this many optimiser steps if the smallest batch allows it.
MIN_STEPS = 500
MIN_BATCH_SEQS = 8
MAX_BATCH_SEQS = 256

#: Warmup rule: this fraction of the steps, at least WARMUP_MIN and at most the paper's 2000 steps.
WARMUP_FRACTION = 0.05
WARMUP_MIN = 10
WARMUP_MAX = 2000

#: No run may read more than this many epochs of its split (Muennighoff et al. 2023: up to 4 is harmless).
MAX_EPOCHS = 4.0

SPLITS = ("teacher", "student", "val")
KL_KINDS = ("forward", "reverse")
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = ("cosine",)
#: Scale profiles (``model.PROFILE_SHAPES``): ``cpu``, the study on this machine, and ``gpu``, its design at
#: 100 to 1000 times the compute. A spec's profile sets its model's context and head size; a ``cpu`` spec's
#: key leaves the field out, so records made before profiles existed keep their keys.
PROFILES = ("cpu", "gpu")

#: Fields that only distillation runs have; a supervised run's key ignores them.
DISTILLATION_FIELDS = ("mix", "temperature", "kl", "top_k", "top_p")


class SpecError(InputError):
    """A run specification is invalid; the message names the field and the allowed values."""


def is_int(x: Any) -> bool:
    """Whether ``x`` is an int proper (``True`` is not a count)."""
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def batch_rule(tokens: int, n_ctx: int) -> int:
    """Sequences per step: the largest power of two in [8, 256] that still leaves >= 500 optimiser steps.

    Scaling the batch with the token budget keeps every run past ~500 steps (the pilot's runs of 60-140
    steps stayed at unigram level) while long runs use big, efficient batches.
    """
    per_step = tokens / (MIN_STEPS * n_ctx)
    seqs = 2 ** math.floor(math.log2(per_step)) if per_step >= 1 else 1
    return int(min(MAX_BATCH_SEQS, max(MIN_BATCH_SEQS, seqs)))


def warmup_rule(steps: int) -> int:
    """Linear-warmup steps: 5% of the run, at least 10, at most the paper's 2000 (and never the whole run)."""
    w = min(WARMUP_MAX, max(WARMUP_MIN, round(WARMUP_FRACTION * steps)))
    return int(min(w, max(1, steps // 2)))


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run.

    Sizes: ``tokens`` is the training budget D; ``batch_size`` is sequences of ``n_ctx`` tokens per step
    (``None``: :func:`batch_rule`); ``warmup_steps`` ``None``: :func:`warmup_rule`. The resolved values are
    stored, so a spec's key does not depend on how it was written.

    Distillation: ``teacher`` is the key of the teacher's run, given as that key or as the teacher's
    ``RunSpec``; a spec given by value is replaced by its key and kept in ``teacher_spec``, so that the
    executor can train a teacher that has no record yet. ``teacher_spec`` is not part of the key (the key
    already is). ``mix`` is lambda of paper Eq. 7 (1 = pure distillation), ``temperature`` tau, ``kl`` forward
    or reverse, ``top_k`` / ``top_p`` truncate the teacher's distribution. For supervised runs these fields
    are ignored by the key.

    ``precision``: ``auto`` = fp32 on CPU, bf16 autocast on CUDA (the record says which ran).

    ``profile``: ``cpu`` (the zoo's shapes) or ``gpu`` (context 1024, heads of 64: ``model.PROFILE_SHAPES``);
    the key of a ``cpu`` spec does not contain it, that of a ``gpu`` spec does (with its model's shape).
    """

    model: str
    tokens: int
    split: str = "teacher"
    corpus: str = "text"
    batch_size: int | None = None
    lr: float = 1e-2
    warmup_steps: int | None = None
    schedule: str = "cosine"
    final_lr_frac: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    z_loss: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    seed: int = 0
    data_seed: int = 0
    teacher: str | RunSpec | None = None
    mix: float = 1.0
    temperature: float = 1.0
    kl: str = "forward"
    top_k: int | None = None
    top_p: float | None = None
    precision: str = "auto"
    profile: str = "cpu"
    version: int = TRAIN_VERSION
    teacher_spec: RunSpec | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.teacher, RunSpec):
            object.__setattr__(self, "teacher_spec", self.teacher)
            object.__setattr__(self, "teacher", self.teacher.key)
        self._check_fields()
        n_ctx = self.config.n_ctx
        if self.batch_size is None:
            object.__setattr__(self, "batch_size", batch_rule(self.tokens, n_ctx))
        if self.warmup_steps is None:
            object.__setattr__(self, "warmup_steps", warmup_rule(self.steps))
        if self.warmup_steps >= self.steps and self.steps > 1:
            raise SpecError(f"warmup_steps = {self.warmup_steps} must be < the run's {self.steps} steps")
        self._check_epochs()

    # -- validation ------------------------------------------------------------------------------------------
    def _check_fields(self) -> None:  # noqa: C901 - one check per field of a run, each naming the field and what is allowed
        def bad(name: str, allowed: str) -> SpecError:
            return SpecError(f"RunSpec.{name} = {getattr(self, name)!r} is invalid; allowed: {allowed}")

        if self.profile not in PROFILES:
            raise bad("profile", ", ".join(map(repr, PROFILES)))
        if not isinstance(self.model, str) or not self.model:
            raise bad("model", "a model name such as 'L2-d32' (see model.zoo())")
        try:
            self.config  # noqa: B018 - resolves the model name
        except Exception as exc:
            raise SpecError(
                f"RunSpec.model = {self.model!r} is not a known model ({exc}); allowed: a name "
                "'L<n_layers>-d<d_model>' such as 'L2-d32' (the zoo: " + ", ".join(_zoo_names()) + ")"
            ) from None
        if not is_int(self.tokens) or self.tokens <= 0:
            raise bad("tokens", "a positive int (training tokens)")
        if self.split not in SPLITS[:2]:
            raise bad("split", "'teacher' or 'student'")
        if not isinstance(self.corpus, str):
            raise bad("corpus", "'text', 'large', 'synthetic' or 'file:<path>'")
        self._check_corpus()
        if self.batch_size is not None and (not is_int(self.batch_size) or self.batch_size <= 0):
            raise bad("batch_size", "a positive int (sequences per step) or None for the batch rule")
        for name in ("lr", "grad_clip", "temperature"):
            v = getattr(self, name)
            if not _is_real(v) or v <= 0:
                raise bad(name, "a finite float > 0")
        for name in ("weight_decay", "z_loss", "eps"):
            v = getattr(self, name)
            if not _is_real(v) or v < 0:
                raise bad(name, "a finite float >= 0")
        if not _is_real(self.final_lr_frac) or not 0 <= self.final_lr_frac <= 1:
            raise bad("final_lr_frac", "a float in [0, 1] (final LR / peak LR)")
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            if not _is_real(v) or not 0 <= v < 1:
                raise bad(name, "a float in [0, 1)")
        if self.warmup_steps is not None and (not is_int(self.warmup_steps) or self.warmup_steps < 0):
            raise bad("warmup_steps", "an int >= 0 or None for the warmup rule")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", ", ".join(map(repr, SCHEDULES)))
        for name in ("seed", "data_seed"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise bad(name, "an int >= 0")
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise bad("teacher", "None, a RunSpec or the key (str) of a recorded run")
        if self.teacher_spec is not None and (
            not isinstance(self.teacher_spec, RunSpec) or self.teacher_spec.key != self.teacher
        ):
            raise SpecError(
                f"RunSpec.teacher_spec is not the spec of RunSpec.teacher = {self.teacher!r}; allowed: None "
                "or the teacher's RunSpec (pass the teacher's spec as teacher=... instead)"
            )
        if not _is_real(self.mix) or not 0 <= self.mix <= 1:
            raise bad("mix", "a float in [0, 1] (lambda: 0 = next-token only, 1 = pure distillation)")
        if self.kl not in KL_KINDS:
            raise bad("kl", ", ".join(map(repr, KL_KINDS)))
        vocab = self.config.vocab_size
        if self.top_k is not None and (not is_int(self.top_k) or not 1 <= self.top_k <= vocab):
            raise bad("top_k", f"None or an int in [1, {vocab}]")
        if self.top_p is not None and (not _is_real(self.top_p) or not 0 < self.top_p <= 1):
            raise bad("top_p", "None or a float in (0, 1]")
        if self.kl == "reverse" and (self.top_k is not None or self.top_p is not None):
            raise bad(
                "kl", "'forward' when top_k or top_p truncates the teacher (reverse KL is infinite there)"
            )
        if self.precision not in PRECISIONS:
            raise bad("precision", ", ".join(map(repr, PRECISIONS)))
        if not is_int(self.version) or self.version <= 0:
            raise bad("version", f"a positive int (current training semantics: {TRAIN_VERSION})")

    def _check_corpus(self) -> None:
        # corpus imports torch; reading records (store, analysis) must not need it, so it loads on first use.
        from . import corpus  # noqa: PLC0415 - the corpus module imports torch, which only this path needs

        try:
            corpus.check_source_name(self.corpus)
        except Exception as exc:
            raise SpecError(
                f"RunSpec.corpus = {self.corpus!r} is not a known corpus ({exc}); "
                "allowed: 'text', 'large', 'synthetic', 'file:<path>'"
            ) from None

    def _check_epochs(self) -> None:
        size = self.split_size
        if size is not None and self.tokens_trained > MAX_EPOCHS * size:
            raise SpecError(
                f"RunSpec.tokens = {self.tokens:,} is {self.tokens_trained / size:.2f} epochs of the "
                f"{self.corpus!r} {self.split!r} split ({size:,} tokens); allowed: at most "
                f"{MAX_EPOCHS:g} epochs "
                f"(tokens <= {int(MAX_EPOCHS * size):,})"
            )

    # -- derived quantities ----------------------------------------------------------------------------------
    @property
    def config(self) -> ModelConfig:
        """The model's :class:`distill_scaling.model.ModelConfig`."""
        return model_config(self.model, self.profile)

    @property
    def split_size(self) -> int | None:
        """Tokens in this spec's split (None for an unlimited source)."""
        return split_size(self.corpus, self.split)

    @property
    def batch_tokens(self) -> int:
        """Tokens per optimiser step."""
        return int(self.batch_size or batch_rule(self.tokens, self.config.n_ctx)) * self.config.n_ctx

    @property
    def steps(self) -> int:
        """Optimiser steps: the token budget rounded to whole batches (at least one)."""
        return max(1, round(self.tokens / self.batch_tokens))

    @property
    def tokens_trained(self) -> int:
        """Tokens actually consumed: ``steps * batch_tokens``."""
        return self.steps * self.batch_tokens

    @property
    def is_distillation(self) -> bool:
        return self.teacher is not None

    def canonical(self) -> dict[str, Any]:
        """The fields that define the run (distillation fields dropped for supervised runs) plus the model's
        full configuration, in a JSON-ready dict: what :attr:`key` hashes and a record stores as its spec."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "teacher_spec"}
        if self.teacher is None:
            for name in DISTILLATION_FIELDS:
                d.pop(name)
        if self.profile == "cpu":  # the keys of the records made before profiles existed
            d.pop("profile")
        d["model_config"] = dataclasses.asdict(self.config)
        return d

    @property
    def key(self) -> str:
        """Stable content hash (16 hex digits) of :meth:`canonical`."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with some fields changed; derived sizes are re-derived unless given, and a changed teacher
        drops the teacher's spec carried so far."""
        changes.setdefault("batch_size", None if "tokens" in changes else self.batch_size)
        changes.setdefault(
            "warmup_steps", None if {"tokens", "batch_size"} & changes.keys() else self.warmup_steps
        )
        if "teacher" in changes:
            changes.setdefault("teacher_spec", None)
        return dataclasses.replace(self, **changes)

    def label(self) -> str:
        """Short human description, e.g. ``L2-d32 D=2.0M student<-3f2a...``."""
        base = f"{self.model} D={self.tokens / 1e6:.3g}M {self.split}"
        return f"{base}<-{self.teacher[:6]}" if self.teacher else base

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        """Rebuild a spec from :meth:`canonical` or ``dataclasses.asdict`` output (extra keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if isinstance(kw.get("teacher_spec"), dict):
            kw["teacher_spec"] = cls.from_dict(kw["teacher_spec"])
        return cls(**kw)


def _zoo_names() -> list[str]:
    from .model import zoo  # noqa: PLC0415 - see model_config

    return [c.name for c in zoo()]


@cache
def model_config(model: str, profile: str = "cpu") -> ModelConfig:
    """The :class:`~distill_scaling.model.ModelConfig` of a name such as ``"L2-d32"`` in a scale profile
    (``cpu``: the zoo's context and heads; ``gpu``: ``model.PROFILE_SHAPES["gpu"]``); cached."""
    # model imports torch; reading records (store, analysis) must not need it, so it loads on first use.
    from .model import PROFILE_SHAPES, config_from_name  # noqa: PLC0415 - imports torch, which only this path needs

    if profile not in PROFILE_SHAPES:
        raise SpecError(f"profile {profile!r} is invalid; allowed: {', '.join(map(repr, PROFILE_SHAPES))}")
    return config_from_name(model, **PROFILE_SHAPES[profile])


@cache
def split_size(corpus_name: str, split: str) -> int | None:
    """Tokens in one split of a corpus (None for an unlimited source such as the synthetic language)."""
    from . import corpus  # noqa: PLC0415 - see _check_corpus

    size = corpus.get_source(corpus_name).split_size(split)
    if size is None or (isinstance(size, float) and math.isinf(size)):
        return None
    return int(size)


# -- FLOPs of a run ------------------------------------------------------------------------------------------
def forward_flops(model: str, profile: str = "cpu") -> float:
    """Forward FLOPs per token of a model in a scale profile (the paper's accounting,
    :func:`flops.forward_flops`)."""
    return float(flops.forward_flops(model_config(model, profile)))


def run_flops(spec: RunSpec, teacher: str | RunSpec | None = None) -> dict[str, float]:
    """Paper Eq. 9 terms of one run: student training 3 F(N_S) D_S and teacher logits F(N_T) D_S. The teacher
    is its spec, or its model's name in the student's profile; None counts no logits."""
    student = 3.0 * flops.forward_flops(spec.config) * spec.tokens_trained
    if isinstance(teacher, RunSpec):
        teacher = teacher.config
    elif teacher is not None:
        teacher = model_config(teacher, spec.profile)
    logits = float(flops.forward_flops(teacher)) * spec.tokens_trained if teacher is not None else 0.0
    return {"student_training": student, "teacher_logits": logits, "total": student + logits}


def total_flops(specs: Iterable[RunSpec]) -> float:
    """All the FLOPs of runs: the sum of their :func:`run_flops` totals, teacher logits included."""
    return float(sum(run_flops(s, s.teacher_spec)["total"] for s in specs))
