"""The executor: ensure() and plan() (teachers first, only what is missing), run(), the local process pool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from distill_scaling import runs, store, train
from distill_scaling.spec import RunSpec, SpecError, forward_flops

torch.set_num_threads(1)

#: A run of a few dozen steps of the smallest zoo model (the batch rule gives 8 sequences of 128 tokens).
TINY = 40 * 8 * 128
#: Evaluate tiny runs on the first 8k validation tokens only (the full set costs more than their training).
FAST = {"eval_tokens": 8192}


def tiny(**kw) -> RunSpec:
    return RunSpec(kw.pop("model", "L1-d16"), tokens=kw.pop("tokens", TINY), **kw)


# -- teachers ------------------------------------------------------------------------------------------------
def test_teacher_that_is_not_recorded_fails_before_any_work(runs_dir):
    student = tiny(split="student", teacher="f" * 16)
    with pytest.raises(SpecError, match=r"RunSpec\.teacher.*not a recorded run"):
        runs.run(student)
    with pytest.raises(SpecError, match=r"RunSpec\.teacher.*not a recorded run"):
        runs.ensure([student], progress=False, **FAST)
    assert not runs_dir.exists() or not list(runs_dir.glob("*.json"))


def test_a_teacher_is_found_among_the_given_specs_not_in_a_registry(runs_dir):
    teacher = tiny(model="L2-d32", seed=3)
    carried = tiny(split="student", teacher=teacher)  # carries the teacher's spec
    by_key = tiny(split="student", teacher=teacher.key, seed=1)
    # Building `carried` does not make the teacher known elsewhere: a student naming it by key alone fails.
    with pytest.raises(SpecError, match=r"RunSpec\.teacher.*not a recorded run"):
        runs.schedule([by_key])
    assert [s.key for s in runs.schedule([by_key, teacher]).todo] == [teacher.key, by_key.key]
    p = runs.schedule([by_key, carried])  # the teacher another student carries
    assert [s.key for s in p.todo] == [teacher.key, by_key.key, carried.key]
    assert p.teachers[by_key.key] is teacher and p.teachers[carried.key] is teacher
    assert p.flops[by_key.key] == pytest.approx(
        (3 * forward_flops("L1-d16") + forward_flops("L2-d32")) * by_key.tokens_trained
    )


def test_ensure_rejects_bad_executor_arguments(runs_dir):
    with pytest.raises(SpecError, match="backend.*allowed: 'local', 'dask'"):
        runs.ensure([tiny()], backend="ray")
    with pytest.raises(SpecError, match="workers.*allowed"):
        runs.ensure([tiny()], workers=0)


# -- training what is missing --------------------------------------------------------------------------------
def test_ensure_trains_only_missing_runs_and_records_provenance(runs_dir):
    a, b = tiny(), tiny(seed=1)
    recs = runs.ensure([a, a, b], workers=1, progress=False, **FAST)
    assert [r["key"] for r in recs] == [a.key, a.key, b.key]
    assert sorted(p.stem for p in runs_dir.glob("*.json")) == sorted({a.key, b.key})
    rec = store.get(a)
    assert rec["spec"] == a.canonical()
    res, prov = rec["results"], rec["provenance"]
    assert 0 < res["val_loss"] < 5.6  # below the uniform 256-way loss log(256) = 5.55
    assert res["tokens_trained"] == a.tokens_trained and res["steps"] == a.steps
    assert res["flops_student_training"] == pytest.approx(3 * forward_flops("L1-d16") * a.tokens_trained)
    for name in ("git_commit", "date", "torch_version", "device", "threads", "wall_time_s", "tokens_per_s"):
        assert prov[name] is not None, name
    mtime = store.record_path(a.key).stat().st_mtime_ns
    assert runs.schedule([a, b]).todo == []
    runs.ensure([a, b], progress=False, **FAST)
    assert store.record_path(a.key).stat().st_mtime_ns == mtime  # not retrained, not rewritten

    df = store.load_records()
    assert set(df.index) == {a.key, b.key}
    assert {"model", "tokens", "lr", "seed", "val_loss", "flops_total", "config_d_model"} <= set(df.columns)
    assert df.loc[b.key, "seed"] == 1


def test_ensure_trains_teachers_before_students_in_parallel(runs_dir):
    teacher = tiny(model="L2-d32")
    students = [tiny(split="student", teacher=teacher, seed=s) for s in (0, 1)]
    recs = runs.ensure(students, workers=2, threads=1, progress=False, **FAST)
    assert store.exists(teacher)
    t_loss = store.get(teacher)["results"]["val_loss"]
    for rec in recs:
        res = rec["results"]
        assert rec["spec"]["teacher"] == teacher.key
        assert res["val_kl"] >= 0
        # The student's record carries the teacher's loss on the same validation tokens.
        assert res["teacher_val_loss"] == pytest.approx(t_loss, rel=1e-6)
        assert res["flops_teacher_logits"] == pytest.approx(forward_flops("L2-d32") * res["tokens_trained"])


def test_a_student_retrains_its_teacher_when_the_checkpoint_is_gone(runs_dir):
    teacher = tiny(model="L2-d32")
    runs.ensure([teacher], workers=1, progress=False, **FAST)
    t_rec = store.get(teacher)
    ckpt = train.checkpoint_dir(teacher.key) / "final.pt"
    ckpt.unlink()
    student = tiny(split="student", teacher=teacher.key)  # by key: the teacher is a recorded run
    assert [s.key for s in runs.schedule([student]).todo] == [teacher.key, student.key]
    rec = runs.ensure([student], workers=1, progress=False, **FAST)[0]
    assert ckpt.exists()
    # Deterministic retraining: the same teacher, hence the same teacher loss as recorded.
    assert rec["results"]["teacher_val_loss"] == pytest.approx(t_rec["results"]["val_loss"], rel=1e-6)
    assert store.get(teacher)["provenance"]["date"] == t_rec["provenance"]["date"]  # record kept


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in {"Z", "X"}:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killing_only_the_parent_of_a_pool_leaves_no_orphans(runs_dir):
    """SIGKILL to the process that runs ensure(workers=2): its workers, forkserver and resource tracker go."""
    import signal
    import subprocess
    import sys
    import time

    script = (
        "from distill_scaling import runs\n"
        "specs = [runs.RunSpec('L1-d16', tokens=4_000_000, seed=s) for s in (0, 1)]\n"
        "if __name__ == '__main__':\n"
        "    runs.ensure(specs, workers=2, threads=1, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    below: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(_descendants(proc.pid)) < 3 and time.monotonic() < deadline:  # forkserver + 2 workers
            time.sleep(0.5)
        time.sleep(2)
        below = _descendants(proc.pid)
        assert len(below) >= 3, "the pool did not start"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(_alive(p) for p in below), [p for p in below if _alive(p)]
    finally:  # never leave a process behind, whatever failed
        proc.kill()
        for p in below | _descendants(proc.pid):
            if _alive(p):
                os.kill(p, signal.SIGKILL)


@pytest.mark.slow
def test_ensure_with_a_pool_works_from_a_script_without_a_main_guard(runs_dir, tmp_path):
    """Workers do not re-run the caller's script (which would call ensure() again inside each of them)."""
    import subprocess
    import sys

    script = tmp_path / "no_guard.py"
    script.write_text(
        "from distill_scaling import runs\n"
        f"specs = [runs.RunSpec('L1-d16', tokens={TINY}, seed=s) for s in (0, 1)]\n"
        "recs = runs.ensure(specs, workers=2, threads=1, progress=False, eval_tokens=8192)\n"
        "print('trained', len(recs))\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained 2") == 1  # the script ran once, not once more per worker
    assert len(list(runs_dir.glob("*.json"))) == 2
