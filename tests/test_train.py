"""One training run: schedule, determinism, distillation results, and resuming after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from distill_scaling import runs, train
from distill_scaling.spec import RunSpec, SpecError, forward_flops, run_flops
from distill_scaling.store import record_path

torch.set_num_threads(1)

TINY = 40 * 8 * 128
#: Evaluate tiny runs on the first 8k validation tokens only (the full set costs more than their training).
EVAL = 8192


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_one_thousandth():
    steps, warmup, final = 1000, 50, 1e-3
    f = [train.lr_factor(s, steps, warmup, final) for s in range(steps)]
    assert f[0] == pytest.approx(1 / warmup) and f[warmup - 1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(f[:warmup], f[1:warmup], strict=False))
    assert all(b <= a for a, b in zip(f[warmup:], f[warmup + 1 :], strict=False))
    assert f[-1] == pytest.approx(final)
    mid = warmup + (steps - warmup - 1) // 2
    assert f[mid] == pytest.approx(final + (1 - final) / 2, abs=2e-3)


def test_curve_steps_are_log_spaced_and_end_at_the_last_step():
    pts = train.curve_steps(5000, 40)
    assert pts[0] == 1 and pts[-1] == 5000 and pts == sorted(set(pts))
    ratios = [b / a for a, b in zip(pts[10:], pts[11:], strict=False)]
    assert max(ratios) / min(ratios) < 1.5


def test_same_spec_and_seed_give_the_same_loss_and_another_seed_does_not(store, monkeypatch):
    spec = RunSpec("L1-d16", tokens=TINY)
    first = train.train(spec, eval_tokens=EVAL)
    monkeypatch.setenv("DS_CACHE_DIR", str(store / "cache2"))  # a cold cache: trains again from scratch
    again = train.train(spec, eval_tokens=EVAL)
    other = train.train(spec.replace(seed=1), eval_tokens=EVAL)
    assert first["val_loss"] == again["val_loss"]
    assert first["curve"]["train_loss"] == again["curve"]["train_loss"]
    assert other["val_loss"] != first["val_loss"]
    assert first["val_loss"] < math.log(256)  # it learned something
    # Asking for another evaluation of a finished run evaluates its saved weights again, without training.
    wider = train.train(spec, eval_tokens=2 * EVAL)
    assert wider["val_tokens"] == 2 * EVAL and wider["train_time_s"] == again["train_time_s"]
    assert wider["val_loss"] != again["val_loss"]
    c = first["curve"]
    assert c["step"][-1] == spec.steps and len(c["val_loss"]) == len(c["val_step"]) >= 5


def test_an_exception_midway_resumes_from_the_checkpoint_to_the_same_result(store, monkeypatch):
    spec = RunSpec("L1-d16", tokens=TINY)
    ref = train.train(spec, resume=False, eval_tokens=EVAL)
    monkeypatch.setenv("DS_CACHE_DIR", str(store / "cache-interrupted"))

    def stop_at_25(step, total):
        if step == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train(spec, checkpoint_steps=[20], progress=stop_at_25, eval_tokens=EVAL)
    resumed = train.train(spec, eval_tokens=EVAL)
    assert resumed["resumed_from_step"] == 20
    assert resumed["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-6, abs=1e-7)
    assert resumed["curve"]["train_loss"] == pytest.approx(ref["curve"]["train_loss"], rel=1e-6)


def test_distillation_records_kl_and_the_teachers_loss_on_the_same_tokens(store):
    teacher = RunSpec("L2-d32", tokens=TINY)
    t_rec = runs.run(teacher, eval_tokens=EVAL)
    student = RunSpec("L1-d16", tokens=TINY, split="student", teacher=teacher.key)
    res = train.train(student, teacher_spec=teacher, eval_tokens=EVAL)
    assert res["teacher_val_loss"] == pytest.approx(t_rec["results"]["val_loss"], rel=1e-6)
    assert res["val_kl"] > 0 and res["val_tokens"] == EVAL
    assert res["flops_teacher_logits"] == forward_flops("L2-d32") * student.tokens_trained
    assert res["teacher_model"] == "L2-d32" and res["teacher_tokens"] == teacher.tokens_trained
    # Evaluating the saved models reproduces the recorded numbers.
    s_model, t_model = train.load_model(student), train.load_model(teacher)
    val = train._first_sequences(train.val_batches(student.corpus, 128), EVAL // 128)
    ev = train.evaluate(s_model, val, t_model)
    assert ev["val_loss"] == pytest.approx(res["val_loss"], rel=1e-6)
    assert ev["val_kl"] == pytest.approx(res["val_kl"], rel=1e-5)

    # lambda = 0 ignores the teacher: the same trajectory as the supervised run on the same split and seed.
    sup = RunSpec("L1-d16", tokens=TINY, split="student")
    mix0 = RunSpec("L1-d16", tokens=TINY, split="student", teacher=teacher, mix=0.0)  # carries the spec
    sup_res, mix0_res = train.train(sup, eval_tokens=EVAL), train.train(mix0, eval_tokens=EVAL)
    assert mix0_res["val_loss"] == pytest.approx(sup_res["val_loss"], rel=1e-6)
    assert res["val_loss"] != sup_res["val_loss"]


def test_a_distillation_run_needs_its_teachers_spec_and_never_reads_the_store(store):
    teacher = RunSpec("L2-d32", tokens=TINY)
    runs.run(teacher, eval_tokens=EVAL)  # recorded, yet train() is not told about it
    student = RunSpec("L1-d16", tokens=TINY, split="student", teacher=teacher.key)
    with pytest.raises(SpecError, match=r"teacher's spec was not given.*teacher_spec"):
        train.train(student, eval_tokens=EVAL)
    assert not train.checkpoint_dir(student.key).exists()  # refused before any work
    with pytest.raises(SpecError, match=r"teacher_spec has key"):
        train.train(student, teacher_spec=RunSpec("L2-d32", tokens=2 * TINY), eval_tokens=EVAL)


_CHILD = textwrap.dedent(
    """
    import sys, time, torch
    torch.set_num_threads(1)
    from distill_scaling import runs
    from distill_scaling.spec import RunSpec
    spec = RunSpec.from_dict({spec})
    # Each step sleeps a little, so that the parent's SIGKILL lands midway even on a busy machine.
    runs.run(spec, checkpoint_steps=range(10, spec.steps, 10), eval_tokens={eval_tokens},
             on_checkpoint=lambda step: print("CHECKPOINT", step, flush=True),
             progress=lambda step, total: time.sleep(0.02))
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_midway_then_restart_gives_the_uninterrupted_result(store, monkeypatch):
    spec = RunSpec("L1-d16", tokens=120 * 8 * 128)
    # Uninterrupted reference, in its own store and cache.
    monkeypatch.setenv("DS_RUNS_DIR", str(store / "ref-runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(store / "ref-cache"))
    ref = runs.run(spec, eval_tokens=EVAL)["results"]
    monkeypatch.setenv("DS_RUNS_DIR", str(store / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(store / "cache"))

    code = _CHILD.format(spec=repr(spec.canonical()), eval_tokens=EVAL)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    killed_after = None
    for line in child.stdout:
        if line.startswith("CHECKPOINT"):
            killed_after = int(line.split()[1])
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=120)
    assert killed_after is not None and child.returncode == -signal.SIGKILL
    # No half-written record: either none, or a complete one (here: none, the run was cut short).
    path = record_path(spec.key)
    assert not path.exists() or json.loads(path.read_text())["results"]["val_loss"] > 0
    assert not path.exists()
    assert not list(path.parent.glob("*.tmp")) if path.parent.exists() else True
    state = torch.load(train.checkpoint_dir(spec.key) / "state.pt", weights_only=False)
    assert killed_after <= state["step"] < spec.steps

    rec = runs.run(spec, eval_tokens=EVAL)  # restart: resumes from the last checkpoint
    res = rec["results"]
    assert res["resumed_from_step"] == state["step"] > 0
    assert res["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-6, abs=1e-7)
    assert res["curve"]["train_loss"] == pytest.approx(ref["curve"]["train_loss"], rel=1e-6)
    assert json.loads(path.read_text())["results"]["val_loss"] == res["val_loss"]
    assert not (train.checkpoint_dir(spec.key) / "state.pt").exists()


@pytest.mark.slow
def test_compiled_training_is_deterministic_and_agrees_with_eager(store):
    spec = RunSpec("L1-d16", tokens=TINY)
    a = train.train(spec, compile=True, resume=False, eval_tokens=EVAL)
    b = train.train(spec, compile=True, resume=False, eval_tokens=EVAL)
    eager = train.train(spec, compile=False, resume=False, eval_tokens=EVAL)
    assert a["compiled"] and b["compiled"] and not eager["compiled"]
    assert a["val_loss"] == b["val_loss"]
    # Same math, other float rounding: a few dozen steps stay within a thousandth of a nat.
    assert a["val_loss"] == pytest.approx(eager["val_loss"], abs=1e-3)
    # Small runs are not compiled by default (compilation would cost more than it saves).
    assert run_flops(spec)["total"] < train.COMPILE_MIN_FLOPS
    assert not train.train(spec, resume=False, eval_tokens=EVAL)["compiled"]


def test_compile_pays_above_a_flops_threshold_per_device_and_train_asks_it(store, monkeypatch):
    """The compile decision of ``compile=None`` (no GPU needed): the CPU from COMPILE_MIN_FLOPS, CUDA from
    its own (launch-bound steps) threshold, other devices never; train() asks with its device and FLOPs,
    and the record says which device, precision and compilation ran."""
    for device, threshold in (("cpu", train.COMPILE_MIN_FLOPS), ("cuda", train.COMPILE_MIN_FLOPS_CUDA)):
        assert train.compile_pays(device, threshold) and train.compile_pays(device, 10 * threshold)
        assert not train.compile_pays(device, 0.99 * threshold)
    assert not train.compile_pays("mps", 1e20) and not train.compile_pays("meta", 1e20)
    # The study's biggest runs compile on a GPU; its smallest, seconds long there, do not.
    big, small = RunSpec("L10-d160", tokens=5_000_000), RunSpec("L1-d16", tokens=TINY)
    assert train.compile_pays("cuda", run_flops(big)["total"])
    assert not train.compile_pays("cuda", run_flops(small)["total"])

    asked = []
    monkeypatch.setattr(train, "compile_pays", lambda device, flops: asked.append((device, flops)) or False)
    rec = runs.run(small, eval_tokens=EVAL)
    assert asked == [("cpu", run_flops(small)["total"])]
    res, prov = rec["results"], rec["provenance"]
    assert (res["device"], res["precision_used"], res["compiled"]) == ("cpu", "fp32", False)
    assert (prov["device"], prov["precision_used"], prov["compiled"]) == ("cpu", "fp32", False)


def test_checkpoints_load_without_unpickling_code(store, tmp_path):
    """Resumable state and final weights are read with weights_only=True; a file that needs more is ignored
    (the run starts afresh) rather than unpickled."""
    import numpy as np

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled code ran",))

    path = tmp_path / "state.pt"
    torch.save({"key": "k", "x": np.float64(1.0), "evil": Evil()}, path)
    logged: list[str] = []
    assert train._load_checkpoint(path, logged.append) is None
    assert logged and "ignoring checkpoint" in logged[0]
    plain = train._plain({"a": np.float64(2.0), "b": [np.int64(3)], "c": "x"})
    torch.save(plain, path)
    assert train._load_checkpoint(path, logged.append) == {"a": 2.0, "b": [3], "c": "x"}
