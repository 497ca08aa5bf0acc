"""The run store: one JSON record per finished run, and the file machinery every saved result shares.

A finished run is one record in ``paths.runs_dir()`` named ``<key>.json`` (see :data:`RECORD_FIELDS`): its
key, its spec (:meth:`RunSpec.canonical <distill_scaling.spec.RunSpec.canonical>`), its results and its
provenance. Readers check every record and name a corrupt file instead of failing somewhere later.

The rest serves every module that saves a result (run records, toy runs, fitted laws, benchmarks, findings):
:func:`write_json_atomic` (readers see the old file or the whole new one, never a part), :func:`json_default`
(NumPy values and paths in JSON), :func:`locked` (an exclusive lock that the kernel drops when its holder
dies) and :func:`provenance` (who made a result, when, where, with which code).

``python -m distill_scaling runs list|show KEY`` inspects the store (:func:`cli`); training the missing runs
is :mod:`distill_scaling.runs`.

Example::

    from distill_scaling import store
    df = store.load_records()          # every record, one row each
    rec = store.get(spec)              # one record, or None if the run has not been trained
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import paths
from .errors import CorruptRecordError, CorruptRecordWarning
from .spec import RunSpec, SpecError

#: Top-level fields of a run record.
RECORD_FIELDS = ("key", "spec", "results", "provenance")

#: Results of a run that its record's provenance repeats (where, in which precision, compiled or not, how many
#: processes made its batches ahead, and how fast it ran).
RESULT_PROVENANCE = (
    "device", "device_name", "threads", "precision_used", "compiled", "loader_workers", "wall_time_s",
    "tokens_per_s",
)  # fmt: skip


# -- files ---------------------------------------------------------------------------------------------------
def json_default(obj: Any) -> Any:
    """``json.dump(default=...)`` for what results hold besides plain JSON: NumPy (and torch) arrays as lists,
    their scalars as Python numbers, paths as strings."""
    if isinstance(obj, Path):
        return str(obj)
    if getattr(obj, "ndim", 0) and hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` so that readers see either the old file, no file, or the whole new
    one: write a temporary file in the same folder, flush it to disk, then ``os.replace``. The file is
    readable by everyone (results are shared and committed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; records are data meant to be shared and committed
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=False, default=json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (an existing folder, or a lock file, created if missing) while the
    block runs. The kernel drops the lock when its holder dies, so a killed process never leaves one behind.
    """
    path = Path(path)
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_lock(key: str):
    """An exclusive lock per run key, so two processes (a notebook and the background study) never train the
    same run at once."""
    return locked(paths.checkpoints_dir() / key / "lock")


# -- provenance ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the repository, with ``+dirty`` if tracked source files differ from it (``unknown`` outside a
    git checkout)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=paths.REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
            cwd=paths.REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(*, versions: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """Who made a saved result, when, where and with which code: ``git_commit``, ``date`` (UTC),
    ``<package>_version`` for each package named in ``versions`` (e.g. ``torch``), ``python_version``,
    ``host`` and ``platform``, then ``extra`` (what the caller adds: device, threads, load, ...)."""
    prov: dict[str, Any] = {
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    for name in versions:
        prov[f"{name}_version"] = importlib.import_module(name).__version__
    prov.update(python_version=platform.python_version(), host=platform.node(), platform=platform.platform())
    prov.update(extra)
    return prov


# -- records -------------------------------------------------------------------------------------------------
def record_path(key: str, runs_dir: Path | None = None) -> Path:
    """Where the record of run ``key`` lives (whether or not it exists)."""
    return Path(runs_dir or paths.runs_dir()) / f"{key}.json"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (messages stay short and portable)."""
    try:
        return str(Path(path).resolve().relative_to(paths.REPO))
    except ValueError:
        return str(path)


def read_record_file(path: Path) -> dict[str, Any]:
    """The record stored in ``path``, checked: a :class:`CorruptRecordError` naming the file and what is
    wrong with it (not JSON, merge-conflict markers, missing fields, a key that is not the file's name)."""
    path = Path(path)
    shown = _shown(path)
    fix = f"restore it (git checkout -- {shown}) or delete it so that the run is trained again"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorruptRecordError(f"run record {shown} is not UTF-8 text; {fix}") from None
    if "<<<<<<<" in text and ">>>>>>>" in text:
        raise CorruptRecordError(f"run record {shown} holds git merge-conflict markers; {fix}")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptRecordError(
            f"run record {shown} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            + fix
        ) from None
    if not isinstance(obj, dict):
        raise CorruptRecordError(f"run record {shown} is a JSON {type(obj).__name__}, not an object; {fix}")
    missing = [f for f in RECORD_FIELDS if f not in obj]
    if missing:
        raise CorruptRecordError(f"run record {shown} lacks the field(s) {missing}; {fix}")
    bad = [f for f in RECORD_FIELDS[1:] if not isinstance(obj[f], dict)]
    if bad:
        raise CorruptRecordError(f"run record {shown}: field(s) {bad} are not JSON objects; {fix}")
    if obj["key"] != path.stem:
        raise CorruptRecordError(f"run record {shown} holds key {obj['key']!r}, not its file name's; {fix}")
    return obj


def read_record(key: str, runs_dir: Path | None = None) -> dict[str, Any] | None:
    """The record of run ``key``, or None if there is none; :class:`CorruptRecordError` if it is corrupt."""
    path = record_path(key, runs_dir)
    try:
        return read_record_file(path)
    except FileNotFoundError:
        return None


def get(spec: RunSpec | str, runs_dir: Path | None = None) -> dict[str, Any] | None:
    """The record of a spec (or key), or None if it has not been trained."""
    return read_record(spec if isinstance(spec, str) else spec.key, runs_dir)


def exists(spec: RunSpec | str, runs_dir: Path | None = None) -> bool:
    """Whether a spec (or key) has a record (not checked; :func:`get` reads and checks it)."""
    return record_path(spec if isinstance(spec, str) else spec.key, runs_dir).exists()


def iter_records(runs_dir: Path | None = None, *, strict: bool = False) -> Iterable[dict[str, Any]]:
    """Every record of the store, in key order. A corrupt one is skipped with a
    :class:`~distill_scaling.errors.CorruptRecordWarning` naming the file (``strict=True``: raised), so one
    broken file never hides the others."""
    folder = Path(runs_dir or paths.runs_dir())
    for path in sorted(folder.glob("*.json")):
        try:
            yield read_record_file(path)
        except CorruptRecordError as exc:
            if strict:
                raise
            warnings.warn(f"skipped: {exc}", CorruptRecordWarning, stacklevel=2)


def load_records(runs_dir: Path | None = None, *, curves: bool = False, strict: bool = False):
    """Every record as one row of a pandas DataFrame: ``key``, the spec's fields, the results (``val_loss``,
    ``flops_total``, ...) and provenance (``device``, ``wall_time_s``, ...). ``curves=True`` keeps the loss
    curve (a dict) in a ``curve`` column. Corrupt records are skipped with a warning (see
    :func:`iter_records`)."""
    # pandas takes a second to import; the executor's workers use this module without it.
    import pandas as pd  # noqa: PLC0415 - pandas is slow to import: only this path needs it

    rows = []
    for rec in iter_records(runs_dir, strict=strict):
        row: dict[str, Any] = {"key": rec["key"]}
        row.update({k: v for k, v in rec["spec"].items() if k != "model_config"})
        cfg = rec["spec"].get("model_config", {})
        row.update({f"config_{k}": v for k, v in cfg.items()})
        results = dict(rec["results"])
        curve = results.pop("curve", None)
        row.update(results)
        row.update({k: v for k, v in rec["provenance"].items() if k not in row})
        if curves:
            row["curve"] = curve
        rows.append(row)
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.set_index("key", drop=False)
    return df


def make_record(spec: RunSpec, results: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A run's record: key, spec, results and provenance (with the torch version and where the run ran, then
    ``extra``, e.g. ``group_size`` for a run trained in a batched group)."""
    ran = {name: results[name] for name in RESULT_PROVENANCE if name in results}
    prov = provenance(versions=("torch",), **ran, **extra)
    return {"key": spec.key, "spec": spec.canonical(), "results": results, "provenance": prov}


def write_record(record: dict[str, Any], runs_dir: Path | None = None) -> Path:
    """Write a record to the store (atomically); returns its path."""
    path = record_path(record["key"], runs_dir)
    write_json_atomic(path, record)
    return path


def teacher_spec_of(
    spec: RunSpec, runs_dir: Path | None = None, known: Mapping[str, RunSpec] | None = None
) -> RunSpec | None:
    """The teacher's spec of a distillation spec (None for a supervised one): the spec it carries
    (``teacher=RunSpec(...)``), else the one in ``known`` (key -> spec), else rebuilt from the teacher's
    record. A :class:`SpecError` when none of them has it."""
    if spec.teacher is None:
        return None
    if spec.teacher_spec is not None:
        return spec.teacher_spec
    if known and spec.teacher in known:
        return known[spec.teacher]
    rec = read_record(spec.teacher, runs_dir)
    if rec is None:
        raise SpecError(
            f"RunSpec.teacher = {spec.teacher!r} is not a recorded run in "
            f"{Path(runs_dir or paths.runs_dir())}; allowed: the key of a recorded run; to train the teacher "
            "too, pass its RunSpec (teacher=spec) or include it in ensure([...])"
        )
    teacher = RunSpec.from_dict(rec["spec"])
    if teacher.teacher is not None:
        # A distilled teacher carries its own teacher, which training needs should it have to retrain it;
        # one that cannot be found is only an error then.
        try:
            teacher = teacher.replace(teacher=teacher_spec_of(teacher, runs_dir, known))
        except SpecError:
            pass
    return teacher


# -- command line --------------------------------------------------------------------------------------------
def _find_key(prefix: str, runs_dir: Path) -> str:
    matches = [p.stem for p in runs_dir.glob(f"{prefix}*.json")]
    if len(matches) != 1:
        raise SystemExit(
            f"error: KEY {prefix!r} matches {len(matches)} records in {runs_dir}; give more of the key"
            if matches
            else f"error: no record with key {prefix!r} in {runs_dir}"
        )
    return matches[0]


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling runs list|show KEY``."""
    ap = argparse.ArgumentParser(prog="python -m distill_scaling runs", description="Inspect the run store.")
    ap.add_argument(
        "--runs-dir", type=Path, default=None, help="run store (default: data/runs or DS_RUNS_DIR)"
    )
    sub = ap.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="one line per recorded run")
    ls.add_argument("--sort", default="date", help="column to sort by (default: date)")
    show = sub.add_parser("show", help="print one record as JSON")
    show.add_argument("key", help="the run key (a unique prefix is enough)")
    args = ap.parse_args(argv)
    runs_dir = Path(args.runs_dir or paths.runs_dir())
    if args.action == "list":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CorruptRecordWarning)
            df = load_records(runs_dir)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        if df.empty:
            print(f"no records in {runs_dir}")
            return 0
        cols = ["key", "model", "split", "tokens", "lr", "seed", "teacher", "val_loss", "wall_time_s", "date"]
        cols = [c for c in cols if c in df.columns]
        if args.sort not in df.columns:
            print(
                f"error: --sort {args.sort!r} is not a column; allowed: {', '.join(df.columns)}",
                file=sys.stderr,
            )
            return 2
        import pandas as pd  # noqa: PLC0415 - see load_records

        with pd.option_context("display.max_rows", None, "display.width", 160):
            print(df.sort_values(args.sort)[cols].to_string(index=False))
        print(f"{len(df)} records in {runs_dir}")
        return 0
    rec = read_record(_find_key(args.key, runs_dir), runs_dir)
    print(json.dumps(rec, indent=1))
    return 0
