"""Run specifications, their content hashes, the run store and the executor.

A run is a frozen :class:`RunSpec`; its identity is :attr:`RunSpec.key`, a hash of every field that changes
what training does (the model's full configuration included). A finished run is one JSON record in
``paths.runs_dir()`` named ``<key>.json``, written atomically (temporary file, then ``os.replace``) with its
provenance. :func:`ensure` trains only the runs whose records are missing, teachers before their students, in
a local process pool or on a Dask cluster, and writes each record as soon as its run ends.

Example::

    from distill_scaling import runs
    teacher = runs.RunSpec("L4-d64", tokens=4_000_000, split="teacher")
    student = runs.RunSpec("L2-d32", tokens=2_000_000, split="student", teacher=teacher)
    records = runs.ensure([teacher, student])
    df = runs.load_records()
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import fcntl
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from . import paths
from .errors import CorruptRecordError, CorruptRecordWarning, InputError

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


class SpecError(InputError):
    """A run specification is invalid; the message names the field and the allowed values."""


def _is_int(x: Any) -> bool:
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


# Specs given as teachers by value are remembered here, so that ensure() can train a teacher that is not
# recorded yet when only its students were passed in.
_KNOWN_SPECS: dict[str, RunSpec] = {}


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one training run.

    Sizes: ``tokens`` is the training budget D; ``batch_size`` is sequences of ``n_ctx`` tokens per step
    (``None``: :func:`batch_rule`); ``warmup_steps`` ``None``: :func:`warmup_rule`. The resolved values are
    stored, so a spec's key does not depend on how it was written.

    Distillation: ``teacher`` is the key of a recorded run (or a ``RunSpec``, replaced by its key). ``mix`` is
    lambda of paper Eq. 7 (1 = pure distillation), ``temperature`` tau, ``kl`` forward or reverse, ``top_k`` /
    ``top_p`` truncate the teacher's distribution. For supervised runs these fields are ignored by the key.

    ``precision``: ``auto`` = fp32 on CPU, bf16 autocast on CUDA (the record says which ran).
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
    teacher: str | None = None
    mix: float = 1.0
    temperature: float = 1.0
    kl: str = "forward"
    top_k: int | None = None
    top_p: float | None = None
    precision: str = "auto"
    version: int = TRAIN_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.teacher, RunSpec):
            _KNOWN_SPECS[self.teacher.key] = self.teacher
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
    def _check_fields(self) -> None:
        def bad(name: str, allowed: str) -> SpecError:
            return SpecError(f"RunSpec.{name} = {getattr(self, name)!r} is invalid; allowed: {allowed}")

        if not isinstance(self.model, str) or not self.model:
            raise bad("model", "a model name such as 'L2-d32' (see model.zoo())")
        try:
            self.config  # noqa: B018 - resolves the model name
        except Exception as exc:
            raise SpecError(
                f"RunSpec.model = {self.model!r} is not a known model ({exc}); allowed: a name "
                "'L<n_layers>-d<d_model>' such as 'L2-d32' (the zoo: " + ", ".join(_zoo_names()) + ")"
            ) from None
        if not _is_int(self.tokens) or self.tokens <= 0:
            raise bad("tokens", "a positive int (training tokens)")
        if self.split not in SPLITS[:2]:
            raise bad("split", "'teacher' or 'student'")
        if not isinstance(self.corpus, str):
            raise bad("corpus", "'text', 'synthetic' or 'file:<path>'")
        self._check_corpus()
        if self.batch_size is not None and (not _is_int(self.batch_size) or self.batch_size <= 0):
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
        if self.warmup_steps is not None and (not _is_int(self.warmup_steps) or self.warmup_steps < 0):
            raise bad("warmup_steps", "an int >= 0 or None for the warmup rule")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", ", ".join(map(repr, SCHEDULES)))
        for name in ("seed", "data_seed"):
            v = getattr(self, name)
            if not _is_int(v) or v < 0:
                raise bad(name, "an int >= 0")
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise bad("teacher", "None, a RunSpec or the key (str) of a recorded run")
        if not _is_real(self.mix) or not 0 <= self.mix <= 1:
            raise bad("mix", "a float in [0, 1] (lambda: 0 = next-token only, 1 = pure distillation)")
        if self.kl not in KL_KINDS:
            raise bad("kl", ", ".join(map(repr, KL_KINDS)))
        vocab = self.config.vocab_size
        if self.top_k is not None and (not _is_int(self.top_k) or not 1 <= self.top_k <= vocab):
            raise bad("top_k", f"None or an int in [1, {vocab}]")
        if self.top_p is not None and (not _is_real(self.top_p) or not 0 < self.top_p <= 1):
            raise bad("top_p", "None or a float in (0, 1]")
        if self.kl == "reverse" and (self.top_k is not None or self.top_p is not None):
            raise bad(
                "kl", "'forward' when top_k or top_p truncates the teacher (reverse KL is infinite there)"
            )
        if self.precision not in PRECISIONS:
            raise bad("precision", ", ".join(map(repr, PRECISIONS)))
        if not _is_int(self.version) or self.version <= 0:
            raise bad("version", f"a positive int (current training semantics: {TRAIN_VERSION})")

    def _check_corpus(self) -> None:
        from . import corpus

        try:
            corpus.check_source_name(self.corpus)
        except AttributeError:  # an older corpus module: fall back to loading it
            try:
                corpus.get_source(self.corpus)
            except Exception as exc:
                raise SpecError(
                    f"RunSpec.corpus = {self.corpus!r} is not a known corpus ({exc}); "
                    "allowed: 'text', 'synthetic', 'file:<path>'"
                ) from None
        except Exception as exc:
            raise SpecError(
                f"RunSpec.corpus = {self.corpus!r} is not a known corpus ({exc}); "
                "allowed: 'text', 'synthetic', 'file:<path>'"
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
    def config(self):
        """The model's :class:`distill_scaling.model.ModelConfig`."""
        return _config(self.model)

    @property
    def split_size(self) -> int | None:
        """Tokens in this spec's split (None for an unlimited source)."""
        return _split_size(self.corpus, self.split)

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
        full configuration, in a JSON-ready dict: what :attr:`key` hashes."""
        d = dataclasses.asdict(self)
        if self.teacher is None:
            for name in ("mix", "temperature", "kl", "top_k", "top_p"):
                d.pop(name)
        d["model_config"] = dataclasses.asdict(self.config)
        return d

    @property
    def key(self) -> str:
        """Stable content hash (16 hex digits) of :meth:`canonical`."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with some fields changed; derived sizes are re-derived unless given."""
        changes.setdefault("batch_size", None if "tokens" in changes else self.batch_size)
        changes.setdefault(
            "warmup_steps", None if {"tokens", "batch_size"} & changes.keys() else self.warmup_steps
        )
        return dataclasses.replace(self, **changes)

    def label(self) -> str:
        """Short human description, e.g. ``L2-d32 D=2.0M student<-3f2a...``."""
        base = f"{self.model} D={self.tokens / 1e6:.3g}M {self.split}"
        return f"{base}<-{self.teacher[:6]}" if self.teacher else base

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        """Rebuild a spec from :meth:`canonical` or ``dataclasses.asdict`` output (extra keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _zoo_names() -> list[str]:
    from .model import zoo

    return [c.name for c in zoo()]


@cache
def _config(model: str):
    from . import model as model_mod

    return model_mod.config_from_name(model)


@cache
def _split_size(corpus_name: str, split: str) -> int | None:
    from . import corpus

    size = corpus.get_source(corpus_name).split_size(split)
    if size is None or (isinstance(size, float) and math.isinf(size)):
        return None
    return int(size)


# -- FLOPs of a run ------------------------------------------------------------------------------------------
def forward_flops(model: str) -> float:
    """Forward FLOPs per token of a zoo model (the paper's accounting, :func:`flops.forward_flops`)."""
    from . import flops

    return float(flops.forward_flops(_config(model)))


def run_flops(spec: RunSpec, teacher_model: str | None = None) -> dict[str, float]:
    """Paper Eq. 9 terms of one run: student training 3 F(N_S) D_S and teacher logits F(N_T) D_S."""
    student = 3.0 * forward_flops(spec.model) * spec.tokens_trained
    logits = forward_flops(teacher_model) * spec.tokens_trained if teacher_model else 0.0
    return {"student_training": student, "teacher_logits": logits, "total": student + logits}


# -- the store -----------------------------------------------------------------------------------------------
def record_path(key: str, runs_dir: Path | None = None) -> Path:
    return Path(runs_dir or paths.runs_dir()) / f"{key}.json"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` so that readers see either the old file, no file, or the whole new
    one: write a temporary file in the same folder, flush it to disk, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; records are data meant to be shared and committed
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=False, default=_json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


#: Top-level fields of a run record.
RECORD_FIELDS = ("key", "spec", "results", "provenance")


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
    import pandas as pd

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


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the repository, with ``+dirty`` if tracked source files differ from it."""
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


def make_record(spec: RunSpec, results: dict[str, Any]) -> dict[str, Any]:
    """A run's record: key, spec, results and provenance."""
    import torch

    prov = {
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "platform": platform.platform(),
    }
    for name in ("device", "device_name", "threads", "precision_used", "wall_time_s", "tokens_per_s"):
        if name in results:
            prov[name] = results[name]
    return {"key": spec.key, "spec": spec.canonical(), "results": results, "provenance": prov}


def write_record(record: dict[str, Any], runs_dir: Path | None = None) -> Path:
    path = record_path(record["key"], runs_dir)
    write_json_atomic(path, record)
    return path


# -- running one spec ----------------------------------------------------------------------------------------
@contextmanager
def _run_lock(key: str):
    """An exclusive lock per run key, so two processes (a notebook and the background study) never train the
    same run at once; the kernel drops it if the holder dies."""
    folder = paths.checkpoints_dir() / key
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def teacher_spec_of(
    spec: RunSpec,
    runs_dir: Path | None = None,
    extra: dict[str, RunSpec] | None = None,
    *,
    unrecorded: bool = False,
) -> RunSpec | None:
    """The teacher's spec of a distillation spec, from ``extra`` or the store; with ``unrecorded`` also a
    teacher given by value (``teacher=RunSpec(...)``) that has no record yet (ensure() then trains it)."""
    if spec.teacher is None:
        return None
    if extra and spec.teacher in extra:
        return extra[spec.teacher]
    rec = read_record(spec.teacher, runs_dir)
    if rec is not None:
        return RunSpec.from_dict(rec["spec"])
    if unrecorded and spec.teacher in _KNOWN_SPECS:
        return _KNOWN_SPECS[spec.teacher]
    raise SpecError(
        f"RunSpec.teacher = {spec.teacher!r} is not a recorded run in {Path(runs_dir or paths.runs_dir())}; "
        "allowed: the key of a recorded run; to train the teacher too, pass its RunSpec (teacher=spec) "
        "to ensure() or include it in ensure([...])"
    )


def run(
    spec: RunSpec,
    *,
    teacher_spec: RunSpec | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    write: bool = True,
    runs_dir: Path | None = None,
    need_weights: bool = False,
    **train_kwargs: Any,
) -> dict[str, Any]:
    """Train one spec (unless its record exists) and return its record, written to the store if ``write``.

    ``need_weights``: also train a recorded run whose checkpoint is gone (a teacher), keeping its record.
    """
    from . import train as train_mod

    with _run_lock(spec.key):
        rec = read_record(spec.key, runs_dir)
        if rec is not None and not (need_weights and not train_mod.checkpoint_exists(spec.key)):
            return rec
        if spec.teacher is not None and teacher_spec is None:
            teacher_spec = teacher_spec_of(spec, runs_dir)
        results = train_mod.train(
            spec,
            teacher_spec=teacher_spec,
            threads=threads,
            progress=progress,
            runs_dir=runs_dir,
            **train_kwargs,
        )
        if rec is not None:  # only the weights were missing: keep the original record
            return rec
        rec = make_record(spec, results)
        if write:
            write_record(rec, runs_dir)
        return rec


# -- executing many specs ------------------------------------------------------------------------------------
def default_workers() -> tuple[int, int]:
    """(workers, threads per worker) that gave the most total tokens/s when measured (``bench``): on the
    2-core CPU box, two 1-thread processes beat one 2-thread process by 12-21%; on a GPU, one worker."""
    try:
        import torch

        if torch.cuda.is_available():
            return 1, max(1, (os.cpu_count() or 1))
    except ImportError:
        pass
    return max(1, os.cpu_count() or 1), 1


@dataclass
class _Plan:
    """Missing runs in dependency order, the teacher of each, and their FLOPs."""

    todo: list[RunSpec] = field(default_factory=list)
    teachers: dict[str, RunSpec] = field(default_factory=dict)
    flops: dict[str, float] = field(default_factory=dict)
    done: dict[str, dict] = field(default_factory=dict)

    def deps(self, spec: RunSpec) -> list[str]:
        return [spec.teacher] if spec.teacher and spec.teacher in {s.key for s in self.todo} else []


def plan(specs: Sequence[RunSpec], runs_dir: Path | None = None) -> _Plan:
    """Validate ``specs`` and work out what :func:`ensure` must train: missing runs (deduplicated), teachers
    that are not recorded yet (added), and teachers whose checkpoints are gone (retrained first)."""
    from . import train as train_mod

    p = _Plan()
    given: dict[str, RunSpec] = {}
    for s in specs:
        if not isinstance(s, RunSpec):
            raise SpecError(f"ensure() takes RunSpec objects, got {type(s).__name__}")
        given.setdefault(s.key, s)
    order: list[RunSpec] = []
    seen: set[str] = set()

    def visit(s: RunSpec, stack: tuple[str, ...] = (), as_teacher: bool = False) -> None:
        if s.key in stack:
            raise SpecError(f"teacher cycle through run {s.key}")
        rec = read_record(s.key, runs_dir)
        if rec is not None:
            p.done[s.key] = rec
        # A recorded teacher whose weights are gone is trained again (deterministically) before its students.
        needed = rec is None or (as_teacher and not train_mod.checkpoint_exists(s.key))
        if s.key in seen or not needed:
            return
        seen.add(s.key)
        if s.teacher is not None:
            t = teacher_spec_of(s, runs_dir, given, unrecorded=True)
            p.teachers[s.key] = t
            visit(t, (*stack, s.key), as_teacher=True)
        order.append(s)

    for s in given.values():
        visit(s)
    p.todo = order
    for s in order:
        t = p.teachers.get(s.key)
        p.flops[s.key] = run_flops(s, t.model if t else None)["total"]
    return p


def ensure(
    specs: Sequence[RunSpec],
    workers: int | None = None,
    threads: int | None = None,
    backend: str = "local",
    progress: bool = True,
    *,
    address: str | None = None,
    runs_dir: Path | None = None,
    **train_kwargs: Any,
) -> list[dict[str, Any]]:
    """Make sure every spec has a record: train the missing ones (teachers first), in parallel, and return
    the records in the order of ``specs``.

    ``backend``: ``"local"`` (a process pool of ``workers`` processes with ``threads`` threads each; default
    :func:`default_workers`; ``workers=1`` trains in this process) or ``"dask"`` (a Dask distributed cluster
    at ``address``, or a LocalCluster of ``workers`` processes). The progress bar counts FLOPs (paper
    accounting), so its ETA weighs big runs correctly. Each record is written as soon as its run ends; a
    failed run does not stop the others, and the failures are raised together at the end. ``train_kwargs``
    go to :func:`train.train` (e.g. ``eval_tokens``, ``checkpoint_interval_s``).
    """
    if backend not in ("local", "dask"):
        raise SpecError(f"ensure(backend={backend!r}) is invalid; allowed: 'local', 'dask'")
    dw, dt = default_workers()
    workers = dw if workers is None else workers
    threads = dt if threads is None else threads
    if not _is_int(workers) or workers < 1:
        raise SpecError(f"ensure(workers={workers!r}) is invalid; allowed: an int >= 1 or None")
    if not _is_int(threads) or threads < 1:
        raise SpecError(f"ensure(threads={threads!r}) is invalid; allowed: an int >= 1 or None")
    runs_dir = Path(runs_dir or paths.runs_dir())
    p = plan(specs, runs_dir)
    if p.todo:
        if backend == "dask":
            runner = _run_dask
        else:
            runner = _run_inline if workers == 1 else _run_local
        failures = runner(p, workers, threads, progress, runs_dir, address, train_kwargs)
        if failures:
            lines = [f"  {k}: {msg.strip().splitlines()[-1]}" for k, msg in failures.items()]
            detail = "\n\n".join(f"--- {k}\n{msg}" for k, msg in failures.items())
            raise RuntimeError(f"{len(failures)} run(s) failed:\n" + "\n".join(lines) + "\n" + detail)
    out = []
    for s in specs:
        rec = p.done.get(s.key) or read_record(s.key, runs_dir)
        out.append(rec)
    return out


def _bar(total: float, n: int, progress: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="FLOP",
        unit_scale=True,
        disable=not progress,
        desc=f"training {n} run{'s' * (n != 1)}",
        smoothing=0.05,
        bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} FLOP [{elapsed}<{remaining}]",
    )


def _run_inline(p: _Plan, workers: int, threads: int, progress: bool, runs_dir: Path, address, train_kwargs):
    """One worker: train the runs one after another in this process (no pool to start)."""
    import torch

    failures: dict[str, str] = {}
    frac: dict[str, float] = {}
    bar = _bar(sum(p.flops.values()), len(p.todo), progress)
    prev = torch.get_num_threads()
    try:
        for s in p.todo:
            t = p.teachers.get(s.key)
            if t is not None and t.key in failures:
                failures[s.key] = f"teacher {t.key} failed"
                continue

            def report(step: int, total: int, key: str = s.key) -> None:
                if step % 10 == 0 or step == total:
                    frac[key] = step / max(total, 1)
                    _update_bar(bar, frac, p)

            try:
                p.done[s.key] = run(
                    s,
                    teacher_spec=t,
                    threads=threads,
                    progress=report,
                    runs_dir=runs_dir,
                    need_weights=s.key in p.done,
                    **train_kwargs,
                )
            except Exception:  # noqa: BLE001 - reported together at the end
                failures[s.key] = traceback.format_exc()
            frac[s.key] = 1.0
            _update_bar(bar, frac, p)
    finally:
        torch.set_num_threads(prev)
        bar.close()
    return failures


# Worker-side state of the local pool: the queue that carries progress back to the parent.
_PROGRESS_QUEUE = None


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """End this pool worker when the process that started the pool is gone, so that killing only the
    parent leaves no orphan training on (the run resumes from its checkpoint next time)."""
    import ctypes
    import signal
    import threading

    try:  # Linux: the kernel kills us when our direct parent (the pool's forkserver) exits
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def alive() -> bool:
        try:
            with open(f"/proc/{parent_pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in {"Z", "X"}  # a zombie is dead
        except FileNotFoundError:
            return False
        except OSError:  # no /proc: ask the process table
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
            return True

    def watch() -> None:
        while alive():
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(threads: int, queue, parent_pid: int | None = None) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue
    if parent_pid is not None:
        _exit_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def _worker(
    spec: RunSpec,
    teacher: RunSpec | None,
    threads: int,
    runs_dir: str,
    need_weights: bool,
    train_kwargs: dict,
):
    """Train one run inside a pool process; write its record there (so it survives a dead parent)."""
    key = spec.key
    last = [0.0]

    def report(step: int, total: int) -> None:
        now = time.monotonic()
        if _PROGRESS_QUEUE is not None and (now - last[0] > 1.0 or step == total):
            last[0] = now
            _PROGRESS_QUEUE.put((key, step / max(total, 1)))

    try:
        return run(
            spec,
            teacher_spec=teacher,
            threads=threads,
            progress=report,
            runs_dir=Path(runs_dir),
            need_weights=need_weights,
            **train_kwargs,
        )
    except BaseException:
        raise RuntimeError(traceback.format_exc()) from None


@contextmanager
def _caller_script_hidden():
    """Keep pool workers from re-running the caller's script.

    multiprocessing makes each new worker import the main script (as ``__mp_main__``) so that functions
    defined there can be unpickled; a script without an ``if __name__ == "__main__":`` guard would then call
    :func:`ensure` again inside every worker. Our workers only run this package's code, so the script is
    hidden from them while the pool starts its processes."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None and getattr(main.__dict__.get("__spec__"), "name", None) is None:
            main.__dict__.pop("__file__", None)
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def _run_local(p: _Plan, workers: int, threads: int, progress: bool, runs_dir: Path, address, train_kwargs):
    with _caller_script_hidden():
        return _run_pool(p, workers, threads, progress, runs_dir, train_kwargs)


def _run_pool(p: _Plan, workers: int, threads: int, progress: bool, runs_dir: Path, train_kwargs):
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # Workers fork from a server process that has imported torch but never run a parallel region (safe to
    # fork, unlike this process), so each worker starts in milliseconds instead of re-importing torch.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["distill_scaling.train", "torch._dynamo"])
    queue = ctx.Queue()
    keys_todo = {s.key for s in p.todo}
    waiting = list(p.todo)
    running: dict[Any, RunSpec] = {}
    frac: dict[str, float] = {}
    failures: dict[str, str] = {}
    finished: set[str] = set()
    bar = _bar(sum(p.flops.values()), len(p.todo), progress)
    workers = min(workers, len(p.todo))
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, queue, os.getpid())
    )
    interrupted = True
    try:
        while waiting or running:
            for s in list(waiting):
                dep = p.teachers.get(s.key)
                if dep is not None and dep.key in keys_todo and dep.key not in finished:
                    if dep.key in failures:
                        failures[s.key] = f"teacher {dep.key} failed"
                        waiting.remove(s)
                    continue
                # Keep the pool's queue short so a teacher's students start right after it.
                if len(running) >= 2 * workers:
                    break
                waiting.remove(s)
                fut = pool.submit(_worker, s, dep, threads, str(runs_dir), s.key in p.done, train_kwargs)
                running[fut] = s
            if not running:
                break
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(queue, frac, p, bar)
            for fut in done:
                s = running.pop(fut)
                try:
                    rec = fut.result()
                    p.done[s.key] = rec
                    finished.add(s.key)
                except Exception as exc:  # noqa: BLE001 - reported together at the end
                    failures[s.key] = str(exc)
                frac[s.key] = 1.0
                _update_bar(bar, frac, p)
                bar.set_postfix_str(f"done {len(finished)}/{len(p.todo)}", refresh=False)
        interrupted = False
    finally:
        bar.close()
        if interrupted:
            # Ctrl-C or an error here: stop the workers now rather than wait hours for their runs to end;
            # every run resumes from its last checkpoint next time.
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()
        else:
            pool.shutdown(wait=True)
    return failures


def _drain(queue, frac: dict[str, float], p: _Plan, bar) -> None:
    import queue as queue_mod

    changed = False
    while True:
        try:
            key, f = queue.get_nowait()
        except (queue_mod.Empty, OSError, EOFError):
            break
        frac[key] = max(frac.get(key, 0.0), f)
        changed = True
    if changed:
        _update_bar(bar, frac, p)


def _update_bar(bar, frac: dict[str, float], p: _Plan) -> None:
    done = sum(p.flops[k] * f for k, f in frac.items() if k in p.flops)
    bar.update(done - bar.n)


def _dask_task(
    spec: RunSpec,
    teacher: RunSpec | None,
    threads: int,
    runs_dir: str,
    need_weights: bool,
    train_kwargs: dict,
    _dep=None,
):
    """Train one run on a Dask worker and return its record; the parent writes it to the store.

    ``_dep`` (the teacher's task) only orders the work. The teacher's weights come from the checkpoint cache,
    which a LocalCluster shares; a worker on another machine retrains the teacher deterministically.
    """
    import torch

    torch.set_num_threads(threads)
    return run(
        spec,
        teacher_spec=teacher,
        threads=threads,
        write=False,
        runs_dir=Path(runs_dir),
        need_weights=need_weights,
        **train_kwargs,
    )


def _run_dask(p: _Plan, workers: int, threads: int, progress: bool, runs_dir: Path, address, train_kwargs):
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(address)
    failures: dict[str, str] = {}
    bar = _bar(sum(p.flops.values()), len(p.todo), progress)
    try:
        futures: dict[str, Any] = {}
        for s in p.todo:
            t = p.teachers.get(s.key)
            dep = futures.get(t.key) if t is not None else None
            futures[s.key] = client.submit(
                _dask_task,
                s,
                t,
                threads,
                str(runs_dir),
                s.key in p.done,
                train_kwargs,
                dep,
                key=f"run-{s.key}",
                pure=False,
            )
        by_future = {f: k for k, f in futures.items()}
        for fut in as_completed(list(futures.values())):
            k = by_future[fut]
            try:
                rec = fut.result()
                write_record(rec, runs_dir)
                p.done[k] = rec
            except Exception as exc:  # noqa: BLE001 - reported together at the end
                failures[k] = f"{type(exc).__name__}: {exc}"
            bar.update(p.flops[k])
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return failures


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
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 160):
            print(df.sort_values(args.sort)[cols].to_string(index=False))
        print(f"{len(df)} records in {runs_dir}")
        return 0
    rec = read_record(_find_key(args.key, runs_dir), runs_dir)
    print(json.dumps(rec, indent=1))
    return 0
