"""The run store (records: paths, reading, checking, writing) and the file machinery every saved result
shares: the atomic JSON writer, its encoder, the lock, and provenance. Also: every committed record still
has the key its spec hashes to."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from distill_scaling import cli, paths, runs, store
from distill_scaling.errors import CorruptRecordError, CorruptRecordWarning
from distill_scaling.spec import RunSpec, SpecError

torch.set_num_threads(1)

TINY = 40 * 8 * 128
#: Evaluate tiny runs on the first 8k validation tokens only (the full set costs more than their training).
FAST = {"eval_tokens": 8192}
COMMITTED = paths.REPO / "data" / "runs"


def tiny(**kw) -> RunSpec:
    return RunSpec(kw.pop("model", "L1-d16"), tokens=kw.pop("tokens", TINY), **kw)


# -- the committed records -----------------------------------------------------------------------------------
def test_every_committed_record_has_the_key_its_spec_hashes_to():
    """Record keys never change: each committed record's spec, rebuilt as a RunSpec by this code, hashes to
    the key the record (and its file name) holds, and to the very spec that was stored."""
    files = sorted(COMMITTED.glob("*.json"))
    assert files, f"no committed records in {COMMITTED}"
    records = list(store.iter_records(COMMITTED, strict=True))
    assert len(records) == len(files)
    wrong = []
    for rec in records:
        spec = RunSpec.from_dict(rec["spec"])
        if spec.key != rec["key"] or spec.canonical() != rec["spec"]:
            wrong.append(rec["key"])
    assert not wrong, f"{len(wrong)} of {len(records)} committed records no longer match their spec: {wrong}"


def test_every_committed_teacher_is_a_committed_record_whose_spec_the_store_returns():
    records = {r["key"]: r for r in store.iter_records(COMMITTED, strict=True)}
    for rec in records.values():
        key = rec["spec"].get("teacher")
        if key is not None:
            student = RunSpec.from_dict(rec["spec"])
            teacher = store.teacher_spec_of(student, COMMITTED)
            assert teacher.key == key and key in records


# -- files: the atomic writer, its encoder, the lock, provenance ---------------------------------------------
def test_atomic_write_leaves_old_file_or_new_one_never_a_part(tmp_path):
    path = tmp_path / "r.json"
    store.write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        store.write_json_atomic(path, {"a": 2, "bad": object()})  # fails halfway through serialising
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.read_text() == '{\n "a": 1\n}\n'


def test_json_encoder_writes_numpy_values_and_paths():
    obj = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(3), "p": Path("/x")}
    assert json.loads(json.dumps(obj, default=store.json_default)) == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "a": [0, 1, 2],
        "p": "/x",
    }
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        store.json_default(object())


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_lock_is_exclusive_and_released(tmp_path, kind):
    target = tmp_path / ("folder" if kind == "folder" else "sub/lock")
    if kind == "folder":
        target.mkdir()

    def try_lock() -> bool:
        fd = os.open(target, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    with store.locked(target):
        assert target.exists() and not try_lock()
    assert try_lock()


def test_provenance_says_which_code_ran_where_and_when():
    prov = store.provenance(versions=("torch", "numpy"), device="cpu")
    assert list(prov)[:2] == ["git_commit", "date"] and prov["git_commit"]
    assert prov["torch_version"] == torch.__version__ and prov["numpy_version"] == np.__version__
    assert {"python_version", "host", "platform"} <= set(prov) and prov["device"] == "cpu"


# -- records -------------------------------------------------------------------------------------------------
def test_store_location_follows_the_environment(runs_dir):
    assert store.record_path("abc") == Path(os.environ["DS_RUNS_DIR"]) / "abc.json"


def _fake_record(runs_dir: Path, spec: RunSpec, val_loss: float = 2.0) -> Path:
    """A record written without training (the store's format, made by hand)."""
    rec = store.make_record(spec, {"val_loss": val_loss, "steps": spec.steps, "device": "cpu"})
    return store.write_record(rec, runs_dir)


def test_a_record_holds_key_spec_results_and_provenance(runs_dir):
    spec = tiny()
    path = _fake_record(runs_dir, spec)
    rec = store.get(spec)
    assert list(rec) == list(store.RECORD_FIELDS) and path == store.record_path(spec.key)
    assert rec["key"] == spec.key and rec["spec"] == spec.canonical()
    assert list(rec["provenance"])[:6] == [
        "git_commit", "date", "torch_version", "python_version", "host", "platform"
    ]  # fmt: skip
    assert rec["provenance"]["device"] == "cpu"  # where it ran, from the results
    assert store.exists(spec) and store.exists(spec.key) and not store.exists(tiny(seed=1))
    assert store.get(tiny(seed=1)) is None
    df = store.load_records()
    assert list(df.index) == [spec.key] and df.loc[spec.key, "val_loss"] == 2.0


def test_records_are_written_readable_by_everyone(runs_dir):
    path = _fake_record(runs_dir, tiny())
    assert path.stat().st_mode & 0o777 == 0o644


def test_teacher_spec_comes_from_the_spec_then_the_given_specs_then_the_store(runs_dir):
    teacher = tiny(model="L2-d32")
    carried = tiny(split="student", teacher=teacher)
    by_key = tiny(split="student", teacher=teacher.key)
    assert store.teacher_spec_of(tiny()) is None
    assert store.teacher_spec_of(carried) is teacher
    assert store.teacher_spec_of(by_key, known={teacher.key: teacher}) is teacher
    with pytest.raises(SpecError, match=r"RunSpec\.teacher.*not a recorded run"):
        store.teacher_spec_of(by_key)
    _fake_record(runs_dir, teacher)
    assert store.teacher_spec_of(by_key) == teacher


def test_a_distilled_teacher_from_the_store_carries_its_own_teacher(runs_dir):
    grand = tiny(model="L3-d48")
    teacher = tiny(model="L2-d32", split="student", teacher=grand)
    student = tiny(teacher=teacher.key, split="student")
    _fake_record(runs_dir, teacher)
    assert store.teacher_spec_of(student).teacher_spec is None  # the grand-teacher is not known: left out
    _fake_record(runs_dir, grand)
    assert store.teacher_spec_of(student).teacher_spec == grand


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
def test_a_corrupt_record_is_named_and_skipped_and_the_others_stay_readable(runs_dir, kind, capsys):
    good, bad = tiny(), tiny(seed=1)
    _fake_record(runs_dir, good)
    path = _fake_record(runs_dir, bad)
    corrupt, what = CORRUPTIONS[kind]
    if corrupt is None:
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(corrupt(path.read_text()))
    before = path.read_bytes()

    with pytest.warns(CorruptRecordWarning, match=rf"{bad.key}\.json.*{what}"):
        df = store.load_records()
    assert list(df.index) == [good.key]
    with pytest.raises(CorruptRecordError, match=rf"{bad.key}\.json.*{what}"):
        store.load_records(strict=True)
    with pytest.raises(CorruptRecordError, match=rf"{bad.key}\.json"):
        store.get(bad)
    # ensure() stops before any work, names the file, and leaves it as it was (a human resolves it).
    with pytest.raises(CorruptRecordError, match=rf"{bad.key}\.json"):
        runs.ensure([good, bad], workers=1, progress=False, **FAST)
    assert path.read_bytes() == before

    assert cli.main(["runs", "list"]) == 0
    out, err = capsys.readouterr()
    assert good.key in out and "1 records" in out
    assert "warning: skipped: run record" in err and f"{bad.key}.json" in err and "Traceback" not in err
    assert cli.main(["runs", "show", bad.key]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: run record") and f"{bad.key}.json" in err


def test_runs_cli_lists_and_shows_records(runs_dir, capsys):
    a = tiny()
    _fake_record(runs_dir, a)
    assert cli.main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert a.key in out and "L1-d16" in out and "1 records" in out
    assert cli.main(["runs", "show", a.key[:8]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["key"] == a.key and shown["results"]["val_loss"] > 0
    with pytest.raises(SystemExit, match="no record"):
        cli.main(["runs", "show", "zzzz"])
