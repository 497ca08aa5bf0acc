"""Runs of one shape trained together (batched.train_group, runs.ensure's groups) give each run the results,
checkpoints and record it gets alone.

Tolerance: a group computes each run's matmuls as one ``bmm`` over the group instead of one ``mm`` per run,
so another BLAS kernel may sum in another order. Every comparison allows a relative 1e-5. Rounding does not
grow past that in these runs: perturbing every initial weight by about one float32 ulp moves the final
validation loss of these 40-step runs by less than 1e-7 relative (measured on L1-d16 and L2-d32), while the
smallest change of a run the tests must catch, another seed, moves it by 2e-2 (2,000 times the tolerance).
On the machine these tests were written on, the group's results are bit-identical to the runs alone.
"""

from __future__ import annotations

import time

import pytest
import torch

from distill_scaling import batched, runs, store, train
from distill_scaling.spec import RunSpec, SpecError

torch.set_num_threads(1)

#: 40 steps of 8 sequences of 128 tokens.
TINY = 40 * 8 * 128
#: Evaluate on the first 8k validation tokens only.
EVAL = 8192
REL = 1e-5


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _alone(spec: RunSpec, tmp_path, monkeypatch, **kw) -> dict:
    """``spec`` trained alone by train.train, in a cache of its own (nothing shared with the group)."""
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / f"alone-{spec.key}"))
    return train.train(spec, eval_tokens=EVAL, **kw)


def _same(group: dict, alone: dict) -> None:
    assert group["val_loss"] == pytest.approx(alone["val_loss"], rel=REL)
    assert group["curve"]["train_loss"] == pytest.approx(alone["curve"]["train_loss"], rel=REL)
    assert group["curve"]["val_loss"] == pytest.approx(alone["curve"]["val_loss"], rel=REL)
    for name in ("steps", "tokens_trained", "flops_total", "val_tokens"):
        assert group[name] == alone[name], name
    assert group["curve"]["step"] == alone["curve"]["step"] and group["curve"]["lr"] == alone["curve"]["lr"]


def test_a_group_of_seeds_learning_rates_and_budgets_gives_each_run_its_own_result(cache, monkeypatch):
    base = RunSpec("L2-d32", tokens=TINY)
    specs = [base, base.replace(seed=1), base.replace(lr=3e-3), base.replace(tokens=TINY // 2, batch_size=8)]
    assert len({batched.group_key(s) for s in specs}) == 1 and specs[3].steps == 20
    ended = []
    t0 = time.perf_counter()
    group = batched.train_group(specs, eval_tokens=EVAL, on_result=lambda s, r: ended.append(s.key))
    # The group's time is shared out: the runs' wall and training times add up to at most the group's.
    assert sum(g["wall_time_s"] for g in group) <= time.perf_counter() - t0
    assert all(0 < g["train_time_s"] < g["wall_time_s"] for g in group)
    # The shortest run leaves the group after its own 20 steps, before the others end.
    assert ended[0] == specs[3].key and sorted(ended) == sorted(s.key for s in specs)
    alone = [_alone(s, cache, monkeypatch) for s in specs]
    for g, a in zip(group, alone, strict=True):
        _same(g, a)
    # The test can fail: a run compared with its neighbour's seed (or learning rate) is far outside.
    assert group[1]["val_loss"] != pytest.approx(alone[0]["val_loss"], rel=1000 * REL)
    assert group[2]["val_loss"] != pytest.approx(alone[0]["val_loss"], rel=1000 * REL)
    # Each run's schedule follows its own budget: the short run's LR reaches the floor at its last step.
    assert group[3]["curve"]["lr"][-1] == pytest.approx(base.lr * base.final_lr_frac)
    # Each run's weights are its own: final.pt holds what the run alone ends with (up to rounding).
    monkeypatch.setenv("DS_CACHE_DIR", str(cache / "cache"))
    w = train.load_model(specs[1]).state_dict()
    monkeypatch.setenv("DS_CACHE_DIR", str(cache / f"alone-{specs[1].key}"))
    w_alone = train.load_model(specs[1]).state_dict()
    for name, value in w.items():
        torch.testing.assert_close(value, w_alone[name], rtol=1e-4, atol=1e-6)


def test_a_distillation_group_shares_one_teacher(cache, monkeypatch):
    teacher = RunSpec("L2-d32", tokens=TINY)
    train.train(teacher, eval_tokens=EVAL)
    base = RunSpec("L1-d16", tokens=TINY, split="student", teacher=teacher)
    specs = [
        base,
        base.replace(seed=1),
        base.replace(mix=0.5, temperature=2.0),
        base.replace(tokens=TINY // 2, batch_size=8, data_seed=3),  # other tokens: its own teacher pass
    ]
    group = batched.train_group(specs, eval_tokens=EVAL)
    for spec, g in zip(specs, group, strict=True):
        monkeypatch.setenv("DS_CACHE_DIR", str(cache / "cache"))
        t_model = train.load_model(teacher)
        monkeypatch.setenv("DS_CACHE_DIR", str(cache / f"alone-{spec.key}"))
        # The same teacher weights, without retraining it in this cache.
        (train.checkpoint_dir(teacher.key)).mkdir(parents=True)
        torch.save(
            {"key": teacher.key, "model": t_model.state_dict(), "results": None},
            train.checkpoint_dir(teacher.key) / "final.pt",
        )
        a = train.train(spec, eval_tokens=EVAL)
        _same(g, a)
        assert g["val_kl"] == pytest.approx(a["val_kl"], rel=REL)
        assert g["teacher_val_loss"] == pytest.approx(a["teacher_val_loss"], rel=REL)


def test_a_group_takes_runs_of_one_shape_only(cache):
    a = RunSpec("L1-d16", tokens=TINY)
    for other in (RunSpec("L2-d32", tokens=TINY), a.replace(batch_size=16), a.replace(precision="bf16")):
        with pytest.raises(SpecError, match="does not share the shape"):
            batched.train_group([a, other])
    with pytest.raises(SpecError, match="appears twice"):
        batched.train_group([a, a])
    student = RunSpec("L1-d16", tokens=TINY, split="student", teacher=a)
    with pytest.raises(SpecError, match="does not share the shape"):
        batched.check_group(
            [student, RunSpec("L1-d16", tokens=TINY, split="student", teacher=a.replace(seed=1))]
        )


def test_an_interrupted_group_resumes_in_a_group_or_alone(cache, monkeypatch):
    base = RunSpec("L1-d16", tokens=TINY)
    specs = [base, base.replace(seed=1), base.replace(seed=2)]
    ref = [_alone(s, cache, monkeypatch, resume=False) for s in specs]
    monkeypatch.setenv("DS_CACHE_DIR", str(cache / "cache"))

    def stop_at_25(key, step, total):
        if step == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batched.train_group(specs, checkpoint_steps=[20], progress=stop_at_25, eval_tokens=EVAL)
    for s in specs:  # every run of the group has its own resumable state, as train.train writes it
        state = torch.load(train.checkpoint_dir(s.key) / "state.pt", weights_only=True)
        assert state["key"] == s.key and state["step"] == 20
    alone = train.train(specs[0], eval_tokens=EVAL)  # one run resumes alone...
    rest = batched.train_group(specs[1:], eval_tokens=EVAL)  # ...the others in a group
    for res, r in zip([alone, *rest], ref, strict=True):
        assert res["resumed_from_step"] == 20
        assert res["val_loss"] == pytest.approx(r["val_loss"], rel=REL)
        assert res["curve"]["train_loss"] == pytest.approx(r["curve"]["train_loss"], rel=REL)
    # A finished group member is not trained again: its results come from final.pt.
    again = batched.train_group(specs, eval_tokens=EVAL)
    assert [g["val_loss"] for g in again] == [alone["val_loss"]] + [g["val_loss"] for g in rest]


def test_ensure_groups_runs_of_one_shape_and_writes_each_record(cache, monkeypatch):
    a = RunSpec("L1-d16", tokens=TINY)
    specs = [a, a.replace(seed=1), a.replace(lr=3e-3), RunSpec("L2-d32", tokens=TINY)]
    p = runs.schedule(specs)
    assert [[s.key for s in t] for t in runs.group_tasks(p, max_group=8)] == [
        [s.key for s in specs[:3]],
        [specs[3].key],
    ]
    assert [len(t) for t in runs.group_tasks(p, max_group=2)] == [2, 1, 1]
    assert [len(t) for t in runs.group_tasks(p, max_group=8, workers=2)] == [2, 1, 1]
    assert [len(t) for t in runs.group_tasks(p, max_group=1)] == [1, 1, 1, 1]
    # On the CPU, big steps go in smaller groups (runs.MAX_GROUP_ACTIVATIONS), or alone.
    wide = [RunSpec("L4-d64", tokens=2 * 16 * 128, batch_size=16, seed=s) for s in range(6)]
    assert runs.group_size_cap(wide[0]) == 4 and runs.group_size_cap(specs[0]) >= 8
    assert [len(t) for t in runs.group_tasks(runs.schedule(wide), max_group=8)] == [4, 2]
    assert [len(t) for t in runs.group_tasks(runs.schedule(wide), max_group=8, workers=2)] == [3, 3]
    deep = [RunSpec("L8-d128", tokens=2 * 32 * 128, batch_size=32, seed=s) for s in range(2)]
    assert [len(t) for t in runs.group_tasks(runs.schedule(deep), max_group=8)] == [1, 1]
    # Runs that train.train would compile stay alone by default; compile=True compiles their group.
    big = [RunSpec("L2-d32", tokens=8_000_000, seed=s) for s in range(2)]
    assert train.use_compile(big[0], "cpu")
    assert [len(t) for t in runs.group_tasks(runs.schedule(big))] == [1, 1]
    assert [len(t) for t in runs.group_tasks(runs.schedule(big), train_kwargs={"compile": True})] == [2]
    assert [len(t) for t in runs.group_tasks(runs.schedule(big), train_kwargs={"compile": False})] == [2]

    recs = runs.ensure(specs, workers=1, progress=False, eval_tokens=EVAL)
    monkeypatch.setenv("DS_RUNS_DIR", str(cache / "runs-alone"))
    monkeypatch.setenv("DS_CACHE_DIR", str(cache / "cache-alone"))
    alone = runs.ensure(specs, workers=1, progress=False, eval_tokens=EVAL, group=False)
    for spec, rec, ref in zip(specs, recs, alone, strict=True):
        assert rec["key"] == spec.key == ref["key"] and rec["spec"] == ref["spec"] == spec.canonical()
        assert rec["results"].keys() == ref["results"].keys()
        assert set(rec["provenance"]) - set(ref["provenance"]) <= {"group_size"}
        assert rec["results"]["val_loss"] == pytest.approx(ref["results"]["val_loss"], rel=REL)
        curve, ref_curve = rec["results"]["curve"], ref["results"]["curve"]
        assert curve["train_loss"] == pytest.approx(ref_curve["train_loss"], rel=REL)
        assert store.read_record(spec.key, cache / "runs") == rec
    assert [r["provenance"].get("group_size") for r in recs] == [3, 3, 3, None]
    with pytest.raises(SpecError, match="max_group"):
        runs.ensure(specs, max_group=0)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "dask"])
def test_groups_train_in_a_process_pool_and_on_dask(cache, monkeypatch, backend):
    if backend == "dask":
        pytest.importorskip("distributed")
    specs = [RunSpec("L1-d16", tokens=TINY, seed=s) for s in range(4)]
    recs = runs.ensure(specs, workers=2, threads=1, backend=backend, progress=False, eval_tokens=EVAL)
    # Two workers: two groups of two, one per worker.
    assert [r["provenance"]["group_size"] for r in recs] == [2, 2, 2, 2]
    for spec, rec in zip(specs, recs, strict=True):
        assert store.get(spec) == rec and rec["key"] == spec.key
        alone = _alone(spec, cache, monkeypatch)
        assert rec["results"]["val_loss"] == pytest.approx(alone["val_loss"], rel=REL)


@pytest.mark.slow
def test_a_compiled_group_agrees_with_eager_training(cache, monkeypatch):
    specs = [RunSpec("L1-d16", tokens=TINY, seed=s) for s in range(2)]
    group = batched.train_group(specs, eval_tokens=EVAL, compile=True)
    assert all(g["compiled"] for g in group)
    for spec, g in zip(specs, group, strict=True):
        alone = _alone(spec, cache, monkeypatch, compile=False)
        # Same math, other float rounding (as for one compiled run, test_train): within a thousandth of a nat.
        assert g["val_loss"] == pytest.approx(alone["val_loss"], abs=1e-3)
