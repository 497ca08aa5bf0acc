"""Run specs: their keys, validation, the batch and warmup rules, and the teacher a spec carries."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from distill_scaling import spec as spec_mod
from distill_scaling.spec import TRAIN_VERSION, RunSpec, SpecError

#: A run of a few dozen steps of the smallest zoo model (the batch rule gives 8 sequences of 128 tokens).
TINY = 40 * 8 * 128


def tiny(**kw) -> RunSpec:
    return RunSpec(kw.pop("model", "L1-d16"), tokens=kw.pop("tokens", TINY), **kw)


def test_key_is_stable_and_changes_with_every_training_field():
    a = tiny()
    assert a.key == tiny().key and len(a.key) == 16
    assert a.key == RunSpec.from_dict(json.loads(json.dumps(a.canonical()))).key
    changed = [
        tiny(lr=3e-3),
        tiny(seed=1),
        tiny(data_seed=1),
        tiny(split="student"),
        tiny(model="L2-d32"),
        tiny(tokens=TINY * 2),
        tiny(weight_decay=0.0),
        tiny(version=TRAIN_VERSION + 1),
    ]
    assert len({a.key, *(s.key for s in changed)}) == len(changed) + 1


def test_supervised_key_ignores_distillation_fields_but_students_do_not():
    assert tiny().key == tiny(temperature=2.0, mix=0.5).key
    teacher = tiny(model="L2-d32")
    s1, s2 = tiny(split="student", teacher=teacher), tiny(split="student", teacher=teacher, temperature=2.0)
    assert s1.teacher == teacher.key and s1.key != s2.key


def test_a_teacher_given_by_value_is_carried_but_is_not_part_of_the_key():
    teacher = tiny(model="L2-d32")
    by_value, by_key = tiny(split="student", teacher=teacher), tiny(split="student", teacher=teacher.key)
    assert by_value.teacher == teacher.key and by_value.teacher_spec is teacher
    assert by_key.teacher_spec is None
    assert by_value == by_key and by_value.key == by_key.key and by_value.canonical() == by_key.canonical()
    assert "teacher_spec" not in by_value.canonical() and "teacher_spec" not in repr(by_value)
    # It survives copies, pickling (pool and Dask workers) and asdict; a new teacher replaces it.
    assert by_value.replace(seed=1).teacher_spec is teacher
    assert pickle.loads(pickle.dumps(by_value)).teacher_spec == teacher
    assert RunSpec.from_dict(dataclasses.asdict(by_value)).teacher_spec == teacher
    assert by_value.replace(teacher=None).teacher_spec is None
    assert by_value.replace(teacher="0" * 16).teacher_spec is None
    with pytest.raises(SpecError, match=r"RunSpec\.teacher_spec.*allowed"):
        tiny(split="student", teacher="0" * 16, teacher_spec=teacher)


def test_building_specs_registers_nothing():
    """Specs are passed explicitly (a student carries its teacher; ensure() gets the rest); no module-level
    registry remembers them behind the scenes."""
    from distill_scaling import runs, store

    def state() -> dict:
        return {
            (m.__name__, k): len(v)
            for m in (spec_mod, store, runs)
            for k, v in vars(m).items()
            if isinstance(v, dict | list | set)
        }

    before = state()
    tiny(split="student", teacher=tiny(model="L2-d32", seed=7))
    assert state() == before


@pytest.mark.parametrize("tokens", [600_000, 2_000_000, 8_000_000, 40_000_000])
def test_batch_rule_keeps_at_least_500_steps_with_power_of_two_batches(tokens):
    s = RunSpec("L2-d32", tokens=tokens, corpus="synthetic")
    assert s.batch_size & (s.batch_size - 1) == 0 and 8 <= s.batch_size <= 256
    assert s.steps >= 500
    # The largest such batch: doubling it would drop below 500 steps (unless at the cap).
    assert s.batch_size == 256 or tokens / (2 * s.batch_size * 128) < 500
    assert 10 <= s.warmup_steps <= 2000 and s.warmup_steps < s.steps


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"tokens": 0}, "tokens"),
        ({"tokens": -5}, "tokens"),
        ({"tokens": 1.5e5}, "tokens"),
        ({"model": "L2-x32"}, "model"),
        ({"corpus": "no-such-corpus"}, "corpus"),
        ({"split": "val"}, "split"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"temperature": 0.0, "teacher": "0" * 16}, "temperature"),
        ({"mix": 1.5, "teacher": "0" * 16}, "mix"),
        ({"mix": -0.1, "teacher": "0" * 16}, "mix"),
        ({"top_k": 0, "teacher": "0" * 16}, "top_k"),
        ({"top_p": 1.5, "teacher": "0" * 16}, "top_p"),
        ({"kl": "sideways", "teacher": "0" * 16}, "kl"),
        ({"precision": "fp8"}, "precision"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_specs_fail_naming_the_field_and_allowed_values(kwargs, field):
    with pytest.raises(SpecError, match=rf"RunSpec\.{field}.*allowed"):
        tiny(**kwargs)


def test_more_than_four_epochs_is_refused():
    size = RunSpec("L1-d16", tokens=TINY).split_size
    assert size == spec_mod.split_size("text", "teacher")
    with pytest.raises(SpecError, match=r"RunSpec\.tokens.*epochs.*allowed: at most 4"):
        RunSpec("L1-d16", tokens=int(4.1 * size))
    assert RunSpec("L1-d16", tokens=int(3.9 * size)).tokens_trained <= 4 * size


def test_run_flops_follow_the_papers_accounting():
    s = tiny(split="student", teacher=tiny(model="L2-d32"))
    fl = spec_mod.run_flops(s, "L2-d32")
    assert fl["student_training"] == 3 * spec_mod.forward_flops("L1-d16") * s.tokens_trained
    assert fl["teacher_logits"] == spec_mod.forward_flops("L2-d32") * s.tokens_trained
    assert fl["total"] == fl["student_training"] + fl["teacher_logits"]
    assert spec_mod.run_flops(s)["teacher_logits"] == 0.0
