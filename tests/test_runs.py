"""Run specs, their keys and validation, the run store, and ensure() (local process pool)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from distill_scaling import cli, runs, train
from distill_scaling.runs import RunSpec, SpecError

torch.set_num_threads(1)

#: A run of a few dozen steps of the smallest zoo model (the batch rule gives 8 sequences of 128 tokens).
TINY = 40 * 8 * 128
#: Evaluate tiny runs on the first 8k validation tokens only (the full set costs more than their training).
FAST = {"eval_tokens": 8192}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A private run store and checkpoint cache, so tests never touch data/runs."""
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "runs"


def tiny(**kw) -> RunSpec:
    return RunSpec(kw.pop("model", "L1-d16"), tokens=kw.pop("tokens", TINY), **kw)


# -- specs ---------------------------------------------------------------------------------------------------
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
        tiny(version=runs.TRAIN_VERSION + 1),
    ]
    assert len({a.key, *(s.key for s in changed)}) == len(changed) + 1


def test_supervised_key_ignores_distillation_fields_but_students_do_not():
    assert tiny().key == tiny(temperature=2.0, mix=0.5).key
    teacher = tiny(model="L2-d32")
    s1, s2 = tiny(split="student", teacher=teacher), tiny(split="student", teacher=teacher, temperature=2.0)
    assert s1.teacher == teacher.key and s1.key != s2.key


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
    with pytest.raises(SpecError, match=r"RunSpec\.tokens.*epochs.*allowed: at most 4"):
        RunSpec("L1-d16", tokens=int(4.1 * size))
    assert RunSpec("L1-d16", tokens=int(3.9 * size)).tokens_trained <= 4 * size


def test_teacher_that_is_not_recorded_fails_before_any_work(store):
    student = tiny(split="student", teacher="f" * 16)
    with pytest.raises(SpecError, match=r"RunSpec\.teacher.*not a recorded run"):
        runs.run(student)
    with pytest.raises(SpecError, match=r"RunSpec\.teacher.*not a recorded run"):
        runs.ensure([student], progress=False, **FAST)
    assert not store.exists() or not list(store.glob("*.json"))


def test_ensure_rejects_bad_executor_arguments(store):
    with pytest.raises(SpecError, match="backend.*allowed: 'local', 'dask'"):
        runs.ensure([tiny()], backend="ray")
    with pytest.raises(SpecError, match="workers.*allowed"):
        runs.ensure([tiny()], workers=0)


# -- the store -----------------------------------------------------------------------------------------------
def test_atomic_write_leaves_old_file_or_new_one_never_a_part(tmp_path):
    path = tmp_path / "r.json"
    runs.write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        runs.write_json_atomic(path, {"a": 2, "bad": object()})  # fails halfway through serialising
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_ensure_trains_only_missing_runs_and_records_provenance(store):
    a, b = tiny(), tiny(seed=1)
    recs = runs.ensure([a, a, b], workers=1, progress=False, **FAST)
    assert [r["key"] for r in recs] == [a.key, a.key, b.key]
    assert sorted(p.stem for p in store.glob("*.json")) == sorted({a.key, b.key})
    rec = runs.get(a)
    assert rec["spec"] == a.canonical()
    res, prov = rec["results"], rec["provenance"]
    assert 0 < res["val_loss"] < 5.6  # below the uniform 256-way loss log(256) = 5.55
    assert res["tokens_trained"] == a.tokens_trained and res["steps"] == a.steps
    assert res["flops_student_training"] == pytest.approx(3 * runs.forward_flops("L1-d16") * a.tokens_trained)
    for name in ("git_commit", "date", "torch_version", "device", "threads", "wall_time_s", "tokens_per_s"):
        assert prov[name] is not None, name
    mtime = runs.record_path(a.key).stat().st_mtime_ns
    assert runs.plan([a, b]).todo == []
    runs.ensure([a, b], progress=False, **FAST)
    assert runs.record_path(a.key).stat().st_mtime_ns == mtime  # not retrained, not rewritten

    df = runs.load_records()
    assert set(df.index) == {a.key, b.key}
    assert {"model", "tokens", "lr", "seed", "val_loss", "flops_total", "config_d_model"} <= set(df.columns)
    assert df.loc[b.key, "seed"] == 1


def test_ensure_trains_teachers_before_students_in_parallel(store):
    teacher = tiny(model="L2-d32")
    students = [tiny(split="student", teacher=teacher, seed=s) for s in (0, 1)]
    recs = runs.ensure(students, workers=2, threads=1, progress=False, **FAST)
    assert runs.exists(teacher)
    t_loss = runs.get(teacher)["results"]["val_loss"]
    for rec in recs:
        res = rec["results"]
        assert rec["spec"]["teacher"] == teacher.key
        assert res["val_kl"] >= 0
        # The student's record carries the teacher's loss on the same validation tokens.
        assert res["teacher_val_loss"] == pytest.approx(t_loss, rel=1e-6)
        assert res["flops_teacher_logits"] == pytest.approx(
            runs.forward_flops("L2-d32") * res["tokens_trained"]
        )


def test_a_student_retrains_its_teacher_when_the_checkpoint_is_gone(store):
    teacher = tiny(model="L2-d32")
    runs.ensure([teacher], workers=1, progress=False, **FAST)
    t_rec = runs.get(teacher)
    ckpt = train.checkpoint_dir(teacher.key) / "final.pt"
    ckpt.unlink()
    student = tiny(split="student", teacher=teacher.key)  # by key: the teacher is a recorded run
    assert [s.key for s in runs.plan([student]).todo] == [teacher.key, student.key]
    rec = runs.ensure([student], workers=1, progress=False, **FAST)[0]
    assert ckpt.exists()
    # Deterministic retraining: the same teacher, hence the same teacher loss as recorded.
    assert rec["results"]["teacher_val_loss"] == pytest.approx(t_rec["results"]["val_loss"], rel=1e-6)
    assert runs.get(teacher)["provenance"]["date"] == t_rec["provenance"]["date"]  # record kept


def test_runs_cli_lists_and_shows_records(store, capsys):
    a = tiny()
    runs.ensure([a], workers=1, progress=False, **FAST)
    assert cli.main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert a.key in out and "L1-d16" in out and "1 records" in out
    assert cli.main(["runs", "show", a.key[:8]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["key"] == a.key and shown["results"]["val_loss"] > 0
    with pytest.raises(SystemExit, match="no record"):
        cli.main(["runs", "show", "zzzz"])


def test_store_location_follows_the_environment(store):
    assert runs.record_path("abc") == Path(os.environ["DS_RUNS_DIR"]) / "abc.json"


# -- corrupt records and file modes --------------------------------------------------------------------------
def _fake_record(store: Path, spec: RunSpec, val_loss: float = 2.0) -> Path:
    """A record written without training (the store's format, made by hand)."""
    rec = runs.make_record(spec, {"val_loss": val_loss, "steps": spec.steps})
    return runs.write_record(rec, store)


CORRUPTIONS = {
    "truncated": (lambda text: text[: len(text) // 2], "not valid JSON"),
    "conflict": (lambda text: f"<<<<<<< HEAD\n{text}=======\n{text}>>>>>>> other\n", "merge-conflict"),
    "list": (lambda text: "[1, 2]\n", "not an object"),
    "no results": (
        lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "results"}),
        "lacks",
    ),
    "wrong key": (lambda text: text.replace('"key": "', '"key": "x', 1), "not its file name"),
    "binary": (None, "not UTF-8"),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupt_record_is_named_and_skipped_and_the_others_stay_readable(store, kind, capsys):
    good, bad = tiny(), tiny(seed=1)
    _fake_record(store, good)
    path = _fake_record(store, bad)
    corrupt, what = CORRUPTIONS[kind]
    if corrupt is None:
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(corrupt(path.read_text()))
    before = path.read_bytes()

    with pytest.warns(runs.CorruptRecordWarning, match=rf"{bad.key}\.json.*{what}"):
        df = runs.load_records()
    assert list(df.index) == [good.key]
    with pytest.raises(runs.CorruptRecordError, match=rf"{bad.key}\.json.*{what}"):
        runs.load_records(strict=True)
    with pytest.raises(runs.CorruptRecordError, match=rf"{bad.key}\.json"):
        runs.get(bad)
    # ensure() stops before any work, names the file, and leaves it as it was (a human resolves it).
    with pytest.raises(runs.CorruptRecordError, match=rf"{bad.key}\.json"):
        runs.ensure([good, bad], workers=1, progress=False, **FAST)
    assert path.read_bytes() == before

    assert cli.main(["runs", "list"]) == 0
    out, err = capsys.readouterr()
    assert good.key in out and "1 records" in out
    assert "warning: skipped: run record" in err and f"{bad.key}.json" in err and "Traceback" not in err
    assert cli.main(["runs", "show", bad.key]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: run record") and f"{bad.key}.json" in err


def test_records_are_written_readable_by_everyone(store):
    path = _fake_record(store, tiny())
    assert path.stat().st_mode & 0o777 == 0o644


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
def test_killing_only_the_parent_of_a_pool_leaves_no_orphans(store):
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
def test_ensure_with_a_pool_works_from_a_script_without_a_main_guard(store, tmp_path):
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
    assert len(list(store.glob("*.json"))) == 2
