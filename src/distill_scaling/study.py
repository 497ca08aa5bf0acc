"""The study: the run designs of every block, in priority order, and the ``study`` command.

Every block is a function returning :class:`~distill_scaling.spec.RunSpec` objects; ``python -m
distill_scaling study`` trains whatever records are missing (``runs.ensure``), so a complete record set
trains nothing and an interrupted study resumes where it stopped. Blocks run in the order of
:data:`BLOCKS`, the runs that decide the findings first.

Compute is counted the paper's way: C = 3 F(N) D with F the exact forward FLOPs per token of our models
(:func:`distill_scaling.flops.forward_flops`), not 6ND, which undercounts small models by 40-65%.

Two scale profiles (``study --profile cpu|gpu``): :data:`BLOCKS`, the study of this book, and
:data:`GPU_BLOCKS`, the same protocols at 100 to 1000 times the compute on the gpu zoo (context 1024) and the
synthetic language, sized in H200-hours by :mod:`distill_scaling.gpu_cost`. Why this module is long: both
profiles' designs share every helper here (runs, teachers, baselines, feasibility) and the command; split,
the gpu half would import this one and the command would import it back.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import gpu_cost, paths, runs, store
from .model import GPU_ASPECT_RATIO, GPU_ZOO_LAYERS
from .spec import (
    MAX_BATCH_SEQS,
    MAX_EPOCHS,
    MIN_BATCH_SEQS,
    MIN_STEPS,
    PROFILES,
    RunSpec,
    forward_flops,
    model_config,
    run_flops,
    split_size,
    total_flops,
)

#: Peak learning rate of every run (muP simple: one rate for all widths). Chosen from the learning-rate
#: sweep of the Setup chapter: the best rate recorded at both widths (L2-d32 and L5-d80, 4M tokens) when the
#: study started; the paper's 1e-2 was 0.025-0.04 nats worse at both. ``tests/test_study.py`` checks that
#: the recorded sweep still supports it (within one grid step of the sweep's best common rate).
STUDY_LR = 0.0215
#: Training tokens of every run of the learning-rate sweep that chose STUDY_LR (chapter Setup).
LR_SWEEP_TOKENS = 4_000_000

#: Seeds of the noise block (init seed = data-order seed).
NOISE_SEEDS = (0, 1, 2)

#: Supervised IsoFLOP budgets, in FLOPs (3 F D).
ISOFLOP_BUDGETS = (1e12, 3e12, 1e13, 3e13)

#: The compute-optimal tokens per parameter at our scale, M* = D*/N*, measured from the supervised IsoFLOPs
#: (chapter "Supervised scaling"; ``tests/test_study.py`` checks the records still support it). ``None``
#: until those runs are recorded: the fixed-M blocks below cannot be built before. Fixed at 24 on
#: 2026-11-28 from the 1e12, 3e12 and 1e13 profiles: supervised_study.m_star() gave 24.0 (90% interval
#: 21.3-27.7).
STUDY_M_STAR: float | None = 24.0

#: Students and teachers of the distillation protocols.
STUDENTS = ("L1-d16", "L2-d32", "L3-d48")
TEACHERS = ("L2-d32", "L3-d48", "L4-d64", "L5-d80")

#: Multiples of the M*-optimal student tokens in protocol 3 (paper: M_S in {20, 40, 80, 160, 320} = 1..16 M*).
TOKEN_MULTIPLES = (1, 2, 4, 8, 16)

#: Student IsoFLOP budgets of protocol 1 (student compute only, 3 F(N_S) D_S).
STUDENT_BUDGETS = (3e11, 1e12, 3e12)

#: Models the study draws on (zoo names, smallest first).
STUDY_MODELS = ("L1-d16", "L2-d32", "L3-d48", "L4-d64", "L5-d80", "L6-d96", "L7-d112", "L8-d128")


#: The corpus each scale profile trains on. The cpu study reads the committed text; the gpu profile reads the
#: synthetic language, chosen by measurement (``bench --only gpu-data``, ``data/bench/gpu-data.json``): the
#: English that the registries reachable here give holds a small share of the tokens its runs need within
#: four epochs (chapter 02, "GPU scale"; ``tests/test_study.py`` checks the measurement still says so).
PROFILE_CORPUS = {"cpu": "text", "gpu": "synthetic"}


def _max_tokens(split: str, corpus: str = "text") -> int:
    size = split_size(corpus, split)
    return int(MAX_EPOCHS * size) if size is not None else sys.maxsize


def min_tokens(model: str, profile: str = "cpu") -> int:
    """The fewest tokens that still give MIN_STEPS optimiser steps at the smallest batch."""
    return MIN_STEPS * MIN_BATCH_SEQS * model_config(model, profile).n_ctx


def feasible(model: str, tokens: float, split: str, profile: str = "cpu") -> bool:
    """Whether a run of ``tokens`` on ``split`` (of the profile's corpus) keeps >= MIN_STEPS steps and
    <= MAX_EPOCHS epochs."""
    return min_tokens(model, profile) <= tokens <= _max_tokens(split, PROFILE_CORPUS[profile])


def tokens_for_compute(model: str, compute: float, profile: str = "cpu") -> int:
    """Tokens D with 3 F(N) D = compute."""
    return int(round(compute / (3.0 * forward_flops(model, profile))))


def supervised(
    model: str, tokens: int, *, seed: int = 0, split: str = "teacher", profile: str = "cpu"
) -> RunSpec:
    """A supervised run (teachers train on the teacher split) in a scale profile, on its corpus."""
    return RunSpec(
        model, tokens=int(tokens), split=split, corpus=PROFILE_CORPUS[profile], lr=STUDY_LR, seed=seed,
        data_seed=seed, profile=profile,
    )  # fmt: skip


# --- blocks -------------------------------------------------------------------------------------------------


#: Configurations (model, compute) of the noise block: IsoFLOP points near the expected optima.
NOISE_CONFIGS = (("L1-d16", 1e12), ("L2-d32", 1e12), ("L2-d32", 3e12), ("L3-d48", 3e12), ("L4-d64", 3e12))


def noise_block() -> list[RunSpec]:
    """IsoFLOP points repeated over seeds: the seed-to-seed spread that every fit and verdict carries.

    Seed 0 of each configuration is the IsoFLOP run itself, so the block adds the other seeds."""
    return [supervised(m, tokens_for_compute(m, c), seed=s) for m, c in NOISE_CONFIGS for s in NOISE_SEEDS]


def isoflop_block(budgets: Sequence[float] = ISOFLOP_BUDGETS) -> list[RunSpec]:
    """Supervised IsoFLOP profiles (paper Fig. 36b analogue): every study model whose run is feasible."""
    specs = []
    for c in budgets:
        for m in STUDY_MODELS:
            d = tokens_for_compute(m, c)
            if feasible(m, d, "teacher"):
                specs.append(supervised(m, d))
    return specs


def protocol_m() -> float:
    """The tokens per parameter of the study's fixed-M blocks (STUDY_M_STAR: the M* measured when they were
    designed, not :func:`distill_scaling.supervised_study.m_star`, today's estimate); a clear error while
    it is not set."""
    if STUDY_M_STAR is None:
        raise ValueError(
            "study.STUDY_M_STAR is not fixed yet: train the supervised IsoFLOP blocks "
            "('isoflop-small', 'isoflop-large'), read M* in the chapter 'Supervised scaling', and set it"
        )
    return STUDY_M_STAR


def capped_tokens(model: str, tokens_per_param: float, split: str, profile: str = "cpu") -> int:
    """M N tokens, capped at MAX_EPOCHS epochs of the split (the paper's 512B-token runs are its analogue)."""
    cfg = model_config(model, profile)
    # One batch below the cap: the run's tokens are rounded to whole batches.
    cap = _max_tokens(split, PROFILE_CORPUS[profile]) - MAX_BATCH_SEQS * cfg.n_ctx
    return int(min(tokens_per_param * cfg.n_params, cap))


def teacher_block() -> list[RunSpec]:
    """Fixed-M* teachers (capped at 4 epochs of the teacher split for the largest)."""
    return [supervised(m, capped_tokens(m, protocol_m(), "teacher")) for m in TEACHERS]


def distill(student: str, tokens: int, teacher: RunSpec, *, seed: int = 0, **kw) -> RunSpec:
    """A pure-distillation student (lambda = 1, tau = 1, forward KL: the paper's scaling-law setting), in its
    teacher's profile and corpus."""
    return RunSpec(
        student,
        tokens=int(tokens),
        split="student",
        corpus=teacher.corpus,
        lr=STUDY_LR,
        seed=seed,
        data_seed=seed,
        teacher=teacher,
        profile=teacher.profile,
        **kw,
    )


def protocol3_block(students: Sequence[str] = STUDENTS[:2]) -> list[RunSpec]:
    """Fixed-M* teachers / fixed-M students (paper Figs. 4, 37): the capacity gap. Students at 1..16 M*."""
    out = []
    for s in students:
        base = protocol_m() * _n_params(s)
        for k in TOKEN_MULTIPLES:
            d = int(k * base)
            if not feasible(s, d, "student"):
                continue
            out += [distill(s, d, t) for t in teacher_block()]
    return out


def protocol2_block(students: Sequence[str] = STUDENTS) -> list[RunSpec]:
    """IsoFLOP teachers / fixed-M* students (paper Figs. 3, 38b): does the teacher act only through L_T?"""
    teachers = isoflop_block()
    out = []
    for s in students:
        d = int(protocol_m() * _n_params(s))
        if feasible(s, d, "student"):
            out += [distill(s, d, t) for t in teachers]
    return out


def protocol1_block(budgets: Sequence[float] = STUDENT_BUDGETS) -> list[RunSpec]:
    """Fixed-M* teachers / student IsoFLOPs (paper Figs. 2, 38a): student compute counts the student only."""
    out = []
    for t in teacher_block():
        for c in budgets:
            for s in STUDY_MODELS[:5]:
                d = tokens_for_compute(s, c)
                if feasible(s, d, "student"):
                    out.append(distill(s, d, t))
    return out


#: Extra seeds of the capacity-gap students: the smallest student at its two largest token multiples, where
#: the gap shows (chapter 07), from every teacher; seed 0 is protocol 3 itself.
GAP_SEEDS = (1, 2)
GAP_MULTIPLES = (8, 16)


def gap_seeds_block(seeds: Sequence[int] = GAP_SEEDS) -> list[RunSpec]:
    """Protocol 3's smallest student at 8 and 16 M* again with other seeds (init and data order), from every
    teacher, and its supervised baselines: the capacity gap judged over seeds, not one run per teacher."""
    student = STUDENTS[0]
    out = []
    for k in GAP_MULTIPLES:
        d = int(k * protocol_m() * _n_params(student))
        if not feasible(student, d, "student"):
            continue
        for seed in seeds:
            students = [distill(student, d, t, seed=seed) for t in teacher_block()]
            out += [*students, baseline_of(students[0])]
    return out


def baseline_of(spec: RunSpec) -> RunSpec:
    """The supervised baseline of a distillation spec: the same student model, tokens, seeds and learning
    rate, trained on the same (student) split of the same corpus without a teacher."""
    return RunSpec(
        spec.model, tokens=spec.tokens, split=spec.split, corpus=spec.corpus, lr=spec.lr, seed=spec.seed,
        data_seed=spec.data_seed, profile=spec.profile,
    )  # fmt: skip


def baseline_block() -> list[RunSpec]:
    """Supervised students on the student split at every distillation (N_S, D_S): the L~_S of each verdict."""
    seen: dict[str, RunSpec] = {}
    for spec in protocol3_block() + protocol2_block():
        b = baseline_of(spec)
        seen.setdefault(b.key, b)
    return list(seen.values())


# --- the decisive study (issue 13): blocks sized to settle the central claims ------------------------------

#: Teachers added for the capacity gap: stronger than the strongest protocol-3 teacher, at the same M* (L7 is
#: the largest the 4-epoch cap of the teacher split allows at M* = 24).
GAP_TEACHERS = ("L6-d96", "L7-d112")

#: Seeds of the capacity-gap design per student, paired over every teacher and the supervised baseline (the
#: same init and data order on each side). Sized from the measured noise of the smallest student (chapter
#: 07's power calculation); seed 0 is protocol 3, seeds 1 and 2 of L1 are the gap-seeds block.
GAP_DESIGN_SEEDS = {"L1-d16": (0, 1, 2, 3), "L2-d32": (0, 1, 2)}


def gap_teacher_block() -> list[RunSpec]:
    """The fixed-M* teachers L6 and L7, stronger than any of protocol 3."""
    return [supervised(m, capped_tokens(m, protocol_m(), "teacher")) for m in GAP_TEACHERS]


def capacity_gap_block(teacher_models: Sequence[str] | None = None) -> list[RunSpec]:
    """Students L1 and L2 at 8 and 16 M* from every fixed-M* teacher (L2..L7, or those of
    ``teacher_models``), with paired seeds and their supervised baselines: the capacity gap resolved over
    seeds (paper Figs. 4, 37)."""
    teachers = teacher_block() + gap_teacher_block()
    if teacher_models is not None:
        teachers = [t for t in teachers if t.model in teacher_models]
    out = []
    for student, seeds in GAP_DESIGN_SEEDS.items():
        for k in GAP_MULTIPLES:
            d = int(k * protocol_m() * _n_params(student))
            if not feasible(student, d, "student"):
                continue
            for seed in seeds:
                students = [distill(student, d, t, seed=seed) for t in teachers]
                out += [*students, baseline_of(students[0])]
    return out


#: Weak-to-strong: the weakest fixed-M* teacher and students larger than it (paper Figs. 2, 41).
W2S_TEACHER = "L2-d32"
W2S_STUDENTS = ("L4-d64", "L5-d80")
#: Student tokens of the weak-to-strong sweep; ``None`` is the 4-epoch cap of the student split.
W2S_TOKENS: tuple[int | None, ...] = (500_000, 2_000_000, 8_000_000, None)
W2S_SEEDS = (0, 1, 2)


def weak_to_strong_block(tokens: Sequence[int | None] = W2S_TOKENS) -> list[RunSpec]:
    """Students L4 and L5 of the L2 teacher over D_S from 0.5M tokens to the cap, 3 paired seeds each, with
    their supervised baselines: can a student beat its (weaker) teacher, and from how many tokens on?"""
    teacher = supervised(W2S_TEACHER, capped_tokens(W2S_TEACHER, protocol_m(), "teacher"))
    out = []
    for d in tokens:
        for s in W2S_STUDENTS:
            n = capped_tokens(s, float("inf"), "student") if d is None else int(d)
            if not feasible(s, n, "student"):
                continue
            for seed in W2S_SEEDS:
                spec = distill(s, n, teacher, seed=seed)
                out += [spec, baseline_of(spec)]
    return out


#: A supervised IsoFLOP budget a decade above the largest of the study, for an extrapolation test that spans a
#: decade of compute; seeds 1 and 2 repeat the two models nearest the expected optimum.
DECADE_BUDGET = 1e14
#: Every budget of a supervised IsoFLOP profile: the two blocks' and the decade above them.
PROFILE_BUDGETS = (*ISOFLOP_BUDGETS, DECADE_BUDGET)
DECADE_MODELS = ("L6-d96", "L7-d112", "L8-d128", "L9-d144", "L10-d160")
DECADE_SEEDED = ("L7-d112", "L8-d128")


def isoflop_decade_block() -> list[RunSpec]:
    """The 1e14 IsoFLOP profile (L6..L10) and its seed repeats: seed 0 of every size first, since the profile
    (its minimum and the held-out decade of the extrapolation check) needs each size once before any twice."""
    sizes = [(m, tokens_for_compute(m, DECADE_BUDGET)) for m in DECADE_MODELS]
    sizes = [(m, d) for m, d in sizes if feasible(m, d, "teacher")]
    return [
        supervised(m, d, seed=seed)
        for seed in NOISE_SEEDS
        for m, d in sizes
        if seed == 0 or m in DECADE_SEEDED
    ]


#: Protocol 1 a decade of student compute further, so that the student IsoFLOPs have interior minima.
P1_DECADE_BUDGET = 1e13
P1_DECADE_STUDENTS = ("L3-d48", "L4-d64", "L5-d80", "L6-d96")
#: Two fixed-M* teachers far apart in L_T (and cheap to retrain, since checkpoints do not outlive a machine).
P1_DECADE_TEACHERS = ("L2-d32", "L4-d64")


def protocol1_decade_block() -> list[RunSpec]:
    """Protocol-1 students L3..L6 at 1e13 student FLOPs from the L2 and L4 teachers: identifies the
    distillation law's student terms (A', B', gamma')."""
    out = []
    for t in P1_DECADE_TEACHERS:
        teacher = supervised(t, capped_tokens(t, protocol_m(), "teacher"))
        for s in P1_DECADE_STUDENTS:
            d = tokens_for_compute(s, P1_DECADE_BUDGET)
            if feasible(s, d, "student"):
                out.append(distill(s, d, teacher))
    return out


#: Teacher pretraining counted (paper Sec. 5, Fig. 9): the smallest student distilled from the two weakest
#: fixed-M* teachers, against supervised runs of the same student, split and seeds given the teacher's
#: training compute as well. Student tokens: protocol 1's smallest budget (the runs' best group before this
#: block, one seed, and the tokens nearest our law's best plan, which predicts +0.02 nats for the L2
#: teacher) with 8 seeds; and the capacity-gap students of the L2 teacher at 16 M* with their 4 seeds.
PRETRAINING_STUDENT = "L1-d16"
PRETRAINING_TEACHERS = ("L2-d32", "L3-d48")
PRETRAINING_BUDGET = STUDENT_BUDGETS[0]
PRETRAINING_SEEDS = tuple(range(8))


def equal_compute_tokens(
    student: str, student_tokens: float, teacher_model: str, teacher_tokens: float
) -> float:
    """Tokens of a supervised run of ``student`` whose training compute equals distilling it on
    ``student_tokens`` plus training ``teacher_model`` on ``teacher_tokens`` (3 F D on each side, in the
    student's forward FLOPs)."""
    return student_tokens + forward_flops(teacher_model) * teacher_tokens / forward_flops(student)


def pretraining_tokens(student: str, student_tokens: float, teacher: RunSpec) -> int:
    """:func:`equal_compute_tokens` for ``teacher``'s run, rounded to the whole tokens a run trains on."""
    return int(round(equal_compute_tokens(student, student_tokens, teacher.model, teacher.tokens)))


def equal_compute_supervised(spec: RunSpec) -> RunSpec:
    """The supervised run of a distillation spec's student (same split, seed and data order) at the same
    total compute, its teacher's training counted (:func:`pretraining_tokens`)."""
    return baseline_of(spec).replace(tokens=pretraining_tokens(spec.model, spec.tokens, spec.teacher_spec))


def pretraining_block() -> list[RunSpec]:
    """Students of the L2 and L3 fixed-M* teachers with 8 paired seeds at protocol 1's smallest budget (and
    the L2 teacher's capacity-gap students at 16 M*), each with a supervised run of the same student at the
    same total compute, teacher training counted: does distillation ever win once the teacher is paid for?"""
    s = PRETRAINING_STUDENT
    teachers = {t.model: t for t in teacher_block() if t.model in PRETRAINING_TEACHERS}
    arms = [
        (teachers["L2-d32"], tokens_for_compute(s, PRETRAINING_BUDGET), PRETRAINING_SEEDS),
        (teachers["L2-d32"], int(GAP_MULTIPLES[-1] * protocol_m() * _n_params(s)), GAP_DESIGN_SEEDS[s]),
        (teachers["L3-d48"], tokens_for_compute(s, PRETRAINING_BUDGET), PRETRAINING_SEEDS),
    ]
    out = []
    for teacher, d, seeds in arms:
        # A larger M* trains larger teachers, whose compute may exceed the student split's 4 epochs.
        if not feasible(s, pretraining_tokens(s, d, teacher), "student"):
            continue
        for seed in seeds:
            spec = distill(s, d, teacher, seed=seed)
            out += [spec, equal_compute_supervised(spec)]
    return out


def _n_params(model: str) -> int:
    return model_config(model).n_params


@dataclass(frozen=True)
class StudyBlock:
    name: str
    build: Callable[[], list[RunSpec]]
    description: str


BLOCKS: dict[str, StudyBlock] = {
    b.name: b
    for b in (
        StudyBlock(
            "isoflop-small", lambda: isoflop_block(ISOFLOP_BUDGETS[:2]), "supervised IsoFLOPs at 1e12, 3e12"
        ),
        StudyBlock("noise", noise_block, "seed-to-seed spread: 5 IsoFLOP configurations x 3 seeds"),
        StudyBlock(
            "isoflop-large", lambda: isoflop_block(ISOFLOP_BUDGETS[2:]), "supervised IsoFLOPs at 1e13, 3e13"
        ),
        StudyBlock("teachers", teacher_block, "fixed-M* teachers L2..L5 (4-epoch cap for the largest)"),
        StudyBlock("protocol3", protocol3_block, "fixed-M* teachers / students at 1..16 M* (capacity gap)"),
        StudyBlock("baselines", baseline_block, "supervised students at every distillation (N_S, D_S)"),
        StudyBlock("protocol2", protocol2_block, "IsoFLOP teachers / fixed-M* students (L_T collapse)"),
        StudyBlock("protocol1", protocol1_block, "fixed-M* teachers / student IsoFLOPs"),
        StudyBlock("gap-seeds", gap_seeds_block, "protocol 3's L1 student at 8, 16 M* with seeds 1, 2"),
        StudyBlock(
            "capacity-gap",
            lambda: gap_teacher_block()[:1] + capacity_gap_block((*TEACHERS, GAP_TEACHERS[0])),
            "teacher L6; L1 (4 seeds) and L2 (3 seeds) at 8, 16 M* from L2..L6, with baselines",
        ),
        StudyBlock(
            "capacity-gap-l7",
            lambda: gap_teacher_block()[1:] + capacity_gap_block(GAP_TEACHERS[1:]),
            "teacher L7 (1.9e14 FLOPs: 2.6 CPU-hours) and its capacity-gap students",
        ),
        StudyBlock(
            "weak-to-strong",
            lambda: weak_to_strong_block(W2S_TOKENS[:-1]),
            "L2 teacher; L4, L5 students at 0.5M, 2M, 8M tokens, 3 seeds, with baselines",
        ),
        StudyBlock(
            "weak-to-strong-cap",
            lambda: weak_to_strong_block(W2S_TOKENS[-1:]),
            "the weak-to-strong students at the 4-epoch cap, 3 seeds, with baselines",
        ),
        StudyBlock(
            "protocol1-decade", protocol1_decade_block, "L3..L6 students at 1e13 FLOPs, L2 and L4 teachers"
        ),
        StudyBlock(
            "isoflop-decade", isoflop_decade_block, "supervised IsoFLOP at 1e14 (L6..L10), L7, L8 seeded"
        ),
        StudyBlock(
            "pretraining",
            pretraining_block,
            "L1 students of the L2, L3 teachers (8 seeds), supervised L1 at equal compute, teacher counted",
        ),
    )
}


# --- the gpu profile: the same protocols at 100 to 1000 times the compute (issue 14) ------------------------

#: Supervised IsoFLOP budgets of the gpu profile (3 F D FLOPs): a thousand times the cpu study's.
GPU_BUDGETS = (1e15, 3e15, 1e16, 3e16, 1e17)
#: The gpu zoo (``model.gpu_zoo``: L2-d128 .. L12-d768, context 1024, heads of 64).
GPU_MODELS = tuple(f"L{n}-d{GPU_ASPECT_RATIO * n}" for n in GPU_ZOO_LAYERS)
#: An IsoFLOP profile of the gpu profile takes the zoo models whose tokens per parameter D/N lie in this
#: window (around the cpu study's M* = 24: both arms of the U, without the far ends that decide nothing).
GPU_TOKENS_PER_PARAM = (2.0, 1000.0)
#: The tokens per parameter of the gpu profile's fixed-M blocks: the cpu study's M* until the gpu IsoFLOPs
#: measure their own (re-fix it then, before any fixed-M run of the profile is recorded).
GPU_M_STAR = STUDY_M_STAR
#: Fixed-M* teachers (L8-d512 at M* is ~1e17 FLOPs) and the students of the distillation protocols.
GPU_TEACHERS = ("L3-d192", "L4-d256", "L5-d320", "L6-d384", "L8-d512")
GPU_STUDENTS = ("L2-d128", "L3-d192")
#: Multiples of M* N_S of the students of protocol 3 (the capacity gap), and the gap's seeds at 16 M*.
GPU_TOKEN_MULTIPLES = (1, 4, 16)
GPU_GAP_SEEDS = (1, 2)
#: Seed repeats of the supervised noise: (model, budget) near the expected optima, seeds 1 and 2.
GPU_NOISE_CONFIGS = (("L4-d256", 1e15), ("L5-d320", 1e16))
#: Protocol 1: two fixed-M* teachers far apart in L_T, student IsoFLOPs at these student budgets.
GPU_P1_TEACHERS = ("L4-d256", "L8-d512")
GPU_P1_BUDGETS = (1e15, 1e16)
#: Weak-to-strong: the weakest fixed-M* teacher, two larger students, over these student tokens.
GPU_W2S_TEACHER = "L3-d192"
GPU_W2S_STUDENTS = ("L5-d320", "L6-d384")
GPU_W2S_TOKENS = (25_000_000, 100_000_000, 400_000_000)


def gpu_isoflop_block(budgets: Sequence[float] = GPU_BUDGETS) -> list[RunSpec]:
    """The gpu profile's supervised IsoFLOP profiles: every gpu zoo model with D/N in GPU_TOKENS_PER_PARAM."""
    lo, hi = GPU_TOKENS_PER_PARAM
    out = []
    for c in budgets:
        for m in GPU_MODELS:
            d = tokens_for_compute(m, c, "gpu")
            if lo <= d / model_config(m, "gpu").n_params <= hi and feasible(m, d, "teacher", "gpu"):
                out.append(supervised(m, d, profile="gpu"))
    return out


def gpu_noise_block() -> list[RunSpec]:
    """Seeds 1 and 2 of two gpu IsoFLOP points (seed 0 is the IsoFLOP run itself)."""
    return [
        supervised(m, tokens_for_compute(m, c, "gpu"), seed=s, profile="gpu")
        for m, c in GPU_NOISE_CONFIGS
        for s in NOISE_SEEDS[1:]
    ]


def gpu_teacher(model: str) -> RunSpec:
    """A fixed-M* teacher of the gpu profile."""
    return supervised(model, capped_tokens(model, GPU_M_STAR, "teacher", "gpu"), profile="gpu")


def gpu_protocol3_block(
    seeds: Sequence[int] = (0,), multiples: Sequence[int] = GPU_TOKEN_MULTIPLES
) -> list[RunSpec]:
    """Fixed-M* teachers / fixed-M students at ``multiples`` x M* N_S, with their supervised baselines: the
    capacity gap at gpu scale (paper Figs. 4, 37)."""
    teachers = [gpu_teacher(t) for t in GPU_TEACHERS]
    out = []
    for s in GPU_STUDENTS:
        for k in multiples:
            d = int(k * GPU_M_STAR * model_config(s, "gpu").n_params)
            for seed in seeds:
                students = [distill(s, d, t, seed=seed) for t in teachers]
                out += [*students, baseline_of(students[0])]
    return out


def gpu_protocol2_block() -> list[RunSpec]:
    """IsoFLOP teachers / fixed-M* students, with the students' baselines: does the teacher act only through
    its loss L_T?"""
    out = []
    for s in GPU_STUDENTS:
        d = int(GPU_M_STAR * model_config(s, "gpu").n_params)
        students = [distill(s, d, t) for t in gpu_isoflop_block()]
        out += [*students, baseline_of(students[0])]
    return out


def gpu_protocol1_block() -> list[RunSpec]:
    """Fixed-M* teachers / student IsoFLOPs (student compute 3 F(N_S) D_S at GPU_P1_BUDGETS), students in the
    IsoFLOP window of D/N."""
    lo, hi = GPU_TOKENS_PER_PARAM
    out = []
    for t in GPU_P1_TEACHERS:
        teacher = gpu_teacher(t)
        for c in GPU_P1_BUDGETS:
            for s in GPU_MODELS:
                d = tokens_for_compute(s, c, "gpu")
                if lo <= d / model_config(s, "gpu").n_params <= hi and model_config(s, "gpu").n_params < (
                    teacher.config.n_params
                ):
                    out.append(distill(s, d, teacher))
    return out


def gpu_weak_to_strong_block() -> list[RunSpec]:
    """Students larger than their (weakest fixed-M*) teacher over D_S, with their baselines."""
    teacher = gpu_teacher(GPU_W2S_TEACHER)
    out = []
    for d in GPU_W2S_TOKENS:
        for s in GPU_W2S_STUDENTS:
            spec = distill(s, d, teacher)
            out += [spec, baseline_of(spec)]
    return out


GPU_BLOCKS: dict[str, StudyBlock] = {
    b.name: b
    for b in (
        StudyBlock(
            "gpu-isoflop-small",
            lambda: gpu_isoflop_block(GPU_BUDGETS[:3]),
            "supervised IsoFLOPs at 1e15, 3e15, 1e16 (gpu zoo, 2 <= D/N <= 1000)",
        ),
        StudyBlock("gpu-noise", gpu_noise_block, "seeds 1, 2 of two IsoFLOP points near the optima"),
        StudyBlock(
            "gpu-isoflop-large",
            lambda: gpu_isoflop_block(GPU_BUDGETS[3:]),
            "supervised IsoFLOPs at 3e16, 1e17 (up to L12-d768, 85M parameters)",
        ),
        StudyBlock(
            "gpu-teachers", lambda: [gpu_teacher(t) for t in GPU_TEACHERS], "fixed-M* teachers L3..L8"
        ),
        StudyBlock(
            "gpu-protocol3",
            gpu_protocol3_block,
            "students L2, L3 at 1, 4, 16 M* from every fixed-M* teacher, with baselines (capacity gap)",
        ),
        StudyBlock(
            "gpu-gap-seeds",
            lambda: gpu_protocol3_block(GPU_GAP_SEEDS, GPU_TOKEN_MULTIPLES[-1:]),
            "protocol 3 at 16 M* with seeds 1, 2, with baselines",
        ),
        StudyBlock(
            "gpu-protocol2", gpu_protocol2_block, "IsoFLOP teachers / fixed-M* students L2, L3 (L_T collapse)"
        ),
        StudyBlock(
            "gpu-protocol1", gpu_protocol1_block, "L4 and L8 teachers / student IsoFLOPs at 1e15, 1e16"
        ),
        StudyBlock(
            "gpu-weak-to-strong", gpu_weak_to_strong_block, "L3 teacher; L5, L6 students at 25M-400M tokens"
        ),
    )
}

#: The cpu block each gpu block repeats at gpu scale (for showing their results side by side).
GPU_ANALOGUES = {
    "gpu-isoflop-small": "isoflop-small",
    "gpu-noise": "noise",
    "gpu-isoflop-large": "isoflop-large",
    "gpu-teachers": "teachers",
    "gpu-protocol3": "protocol3",
    "gpu-gap-seeds": "gap-seeds",
    "gpu-protocol2": "protocol2",
    "gpu-protocol1": "protocol1",
    "gpu-weak-to-strong": "weak-to-strong",
}


def profile_blocks(profile: str) -> dict[str, StudyBlock]:
    """The study's blocks of a scale profile, looked up when called (so that a caller who replaces
    :data:`BLOCKS`, as the cluster tests do with a tiny block, is heard)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    return BLOCKS if profile == "cpu" else GPU_BLOCKS


def profile_specs(profile: str = "cpu") -> list[RunSpec]:
    """Every run of a scale profile: all its blocks, shared runs once."""
    return specs_for(list(profile_blocks(profile)), profile)


def specs_for(blocks: Sequence[str], profile: str = "cpu") -> list[RunSpec]:
    """The specs of the named blocks of a scale profile, in order, without duplicates."""
    known = profile_blocks(profile)
    unknown = [b for b in blocks if b not in known]
    if unknown:
        raise ValueError(f"unknown study block(s) {unknown}; allowed: {', '.join(known)}")
    seen: dict[str, RunSpec] = {}
    for b in blocks:
        for s in known[b].build():
            seen.setdefault(s.key, s)
    return list(seen.values())


# --- the command --------------------------------------------------------------------------------------------


def _commit_loop(stop: threading.Event, every_s: float) -> None:
    """Commit new run records every ``every_s`` seconds (and once more at the end), so a session that ends
    loses nothing."""
    while True:
        stopped = stop.wait(every_s)
        commit_records()
        if stopped:
            return


def commit_records() -> bool:
    """``git commit`` the run store's new records (only ``data/runs``); True if something was committed."""
    folder = paths.runs_dir()
    try:
        rel = folder.relative_to(paths.REPO)
    except ValueError:
        return False
    for _ in range(10):
        add = subprocess.run(["git", "add", str(rel)], cwd=paths.REPO, capture_output=True, text=True)
        if add.returncode == 0:
            break
        time.sleep(3)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only", "--", str(rel)],
        cwd=paths.REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not staged:
        return False
    msg = f"study: record {len(staged)} finished run(s)"
    for _ in range(10):
        res = subprocess.run(
            ["git", "commit", "-q", "-m", msg, "--", str(rel)], cwd=paths.REPO, capture_output=True, text=True
        )
        if res.returncode == 0:
            return True
        time.sleep(3)
    return False


def _stop_children_on_signal() -> None:
    """Make SIGTERM/SIGINT stop the training processes too (they would otherwise run on as orphans).

    The study becomes the leader of its own process group, which its forkserver and workers inherit, and a
    signal kills the whole group; checkpoints let the next ``study`` resume where this one stopped."""
    try:
        os.setpgid(0, 0)
    except OSError:
        return

    def handler(signum, frame):  # noqa: ARG001
        commit_records()
        os.killpg(os.getpgrp(), signal.SIGKILL)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def parse_blocks(text: str, profile: str = "cpu") -> list[list[str]]:
    """Stages: ``"teachers+protocol3,protocol1"`` -> ``[["teachers", "protocol3"], ["protocol1"]]`` (blocks of
    the scale profile ``profile``)."""
    blocks = profile_blocks(profile)
    stages = [[b.strip() for b in part.split("+") if b.strip()] for part in text.split(",")]
    stages = [st for st in stages if st]
    unknown = [b for st in stages for b in st if b not in blocks]
    if unknown or not stages:
        raise ValueError(
            f"--blocks: unknown study block(s) {unknown} of --profile {profile}; allowed: "
            f"{', '.join(blocks)} "
            "(comma-separated stages, '+' joins blocks into one stage)"
        )
    return stages


DEVICES = ("cpu", "cuda")
BACKENDS = ("local", "dask")


def _check_executor(device: str | None, backend: str, address: str | None) -> str:
    """Why ``--device/--backend/--address`` cannot run here ("" when they can), before any work."""
    if device is not None and device not in DEVICES:
        return f"--device {device!r} is invalid; allowed: {', '.join(DEVICES)}"
    if device == "cuda" and address is None:  # with --address, the cluster's workers train, not this machine
        import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

        if not torch.cuda.is_available():
            return "--device cuda: no CUDA device here (torch.cuda.is_available() is False); use cpu"
    if backend not in BACKENDS:
        return f"--backend {backend!r} is invalid; allowed: {', '.join(BACKENDS)}"
    if address is not None and backend != "dask":
        return "--address is for --backend dask only"
    return ""


def cli(argv: list[str]) -> int:  # noqa: C901 - one check per option before any work, each with its one-line error
    parser = argparse.ArgumentParser(
        prog="python -m distill_scaling study", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--profile",
        default="cpu",
        help="the study's scale: cpu (the study of this book, default) or gpu (the same protocols at "
        "1e15-1e17 FLOPs, models up to 85M parameters, context 1024, on the synthetic language; trains on "
        "CUDA)",
    )
    parser.add_argument(
        "--blocks",
        default=None,
        help=(
            f"comma-separated blocks, trained in order (default: all of the profile's; cpu: {list(BLOCKS)}; "
            f"gpu: {list(GPU_BLOCKS)}); join blocks with '+' to train them as one stage (a teacher's "
            "students start while other teachers still train)"
        ),
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="training processes (default: measured best)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per process (default: measured best)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the missing runs and their compute; train nothing"
    )
    parser.add_argument(
        "--commit-every", type=float, default=0, help="git-commit new records every N minutes"
    )
    parser.add_argument(
        "--device",
        default=None,
        help="cpu or cuda (default: cuda when available, else cpu); records say which device ran",
    )
    parser.add_argument(
        "--backend",
        default="local",
        help="local (a process pool on this machine, default) or dask (a Dask cluster: --address, or a local "
        "one of --workers processes)",
    )
    parser.add_argument("--address", default=None, help="the Dask scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument(
        "--max-group",
        type=int,
        default=runs.MAX_GROUP,
        help=f"train at most this many missing runs of one shape together as one batched model (default "
        f"{runs.MAX_GROUP}; 1 = every run alone)",
    )
    parser.add_argument(
        "--no-group", action="store_true", help="train every run alone (the same as --max-group 1)"
    )
    parser.add_argument(
        "--loader-workers",
        type=int,
        default=None,
        help="processes per run that make its batches ahead (0: none; default: none on the CPU, a quarter "
        "of the cores, at most 4, on CUDA for the synthetic language); the same batches either way",
    )
    args = parser.parse_args(argv)
    if args.profile not in PROFILES:
        print(
            f"error: --profile {args.profile!r} is invalid; allowed: {', '.join(PROFILES)}",
            file=sys.stderr,
        )
        return 2
    problem = _check_executor(args.device, args.backend, args.address)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for name in ("workers", "threads", "max_group"):
        value = getattr(args, name)
        if value is not None and value < 1:
            option = "--" + name.replace("_", "-")
            print(
                f"error: {option} {value} is invalid; allowed: an int >= 1 (or leave it out)", file=sys.stderr
            )
            return 2
    if args.loader_workers is not None and args.loader_workers < 0:
        print(
            f"error: --loader-workers {args.loader_workers} is invalid; allowed: an int >= 0 "
            "(or leave it out)",
            file=sys.stderr,
        )
        return 2
    try:
        stages = parse_blocks(args.blocks or ",".join(profile_blocks(args.profile)), args.profile)
    except ValueError as exc:
        parser.error(str(exc))
    if args.profile == "gpu" and not args.dry_run:
        problem = _check_gpu_profile(args.device, args.address)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    ready_stages = []
    for stage in stages:
        ready = []
        for b in stage:
            try:
                profile_blocks(args.profile)[b].build()
                ready.append(b)
            except ValueError as exc:  # a block that needs a measurement first (M*)
                print(f"study: skipping block {b}: {exc}")
        if ready:
            ready_stages.append(ready)
    blocks = [b for stage in ready_stages for b in stage]
    specs = specs_for(blocks, args.profile)
    missing = [s for s in specs if not store.exists(s)]
    if args.profile == "gpu":
        return (
            _gpu_summary(blocks, specs, missing, args.dry_run) if args.dry_run else _train(args, ready_stages)
        )
    flops = sum(run_flops(s)["total"] for s in missing) if missing else 0.0
    print(f"study: {len(specs)} runs in blocks {blocks}; {len(missing)} missing ({flops:.3g} FLOPs)")
    if args.dry_run:
        for s in missing:
            print(f"  {s.key}  {s.label()}  {run_flops(s)['total']:.3g} FLOPs")
        return 0
    if not missing:
        print("study: every record is there; nothing to train")
        return 0
    return _train(args, ready_stages)


def _check_gpu_profile(device: str | None, address: str | None) -> str:
    """Why the gpu profile cannot train here ("" when it can): it trains on CUDA, here or on a cluster."""
    if device == "cpu":
        return "--profile gpu trains on CUDA; drop --device cpu (or list its runs with --dry-run)"
    if address is None and device is None:
        import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

        if not torch.cuda.is_available():
            return "--profile gpu trains on CUDA and there is none here; list its runs with --dry-run"
    return ""


def _gpu_summary(
    blocks: Sequence[str], specs: Sequence[RunSpec], missing: Sequence[RunSpec], listing: bool
) -> int:
    """Print the gpu profile's runs: FLOPs with the teachers' logits, and H200-hours (gpu_cost)."""
    total = total_flops(missing)
    hours = gpu_cost.hours(missing)
    print(
        f"study --profile gpu: {len(specs)} runs in blocks {list(blocks)}; {len(missing)} missing "
        f"({total:.3g} FLOPs with teacher logits, {hours:.2f} H200-hours at the measured utilisation)"
    )
    if listing:
        for s in missing:
            f = run_flops(s, s.teacher_spec)["total"]
            print(f"  {s.key}  {s.label()}  {f:.3g} FLOPs  {gpu_cost.run_hours(s):.3f} H200-h")
    return 0


def _train(args: argparse.Namespace, ready_stages: list[list[str]]) -> int:
    """Train the stages' missing runs in order (``runs.ensure``), committing records as asked."""
    _stop_children_on_signal()
    stop = threading.Event()
    committer = None
    if args.commit_every > 0:
        committer = threading.Thread(target=_commit_loop, args=(stop, 60 * args.commit_every), daemon=True)
        committer.start()
    try:
        for stage in ready_stages:  # stage by stage, so the deciding runs land first
            todo = [s for s in specs_for(stage, args.profile) if not store.exists(s)]
            if todo:
                print(f"study: {'+'.join(stage)}: {len(todo)} runs")
                kw = {"device": args.device} if args.device else {}
                if args.loader_workers is not None:
                    kw["loader_workers"] = args.loader_workers
                runs.ensure(
                    todo,
                    workers=args.workers,
                    threads=args.threads,
                    backend=args.backend,
                    address=args.address,
                    group=not args.no_group,
                    max_group=args.max_group,
                    **kw,
                )
    finally:
        stop.set()
        if committer is not None:
            committer.join()
    return 0
