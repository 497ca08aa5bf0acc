"""The executor: train the runs whose records are missing, teachers before their students.

:func:`ensure` takes :class:`~distill_scaling.spec.RunSpec` objects, works out what is missing
(:func:`schedule`: runs without a record, teachers that are not recorded yet, teachers whose checkpoints are
gone) and trains it in this process, in a local process pool or on a Dask cluster, writing each record to the
store (:mod:`distill_scaling.store`) as soon as its run ends. Missing runs of one shape (same model, batch
size, teacher and precision; :func:`distill_scaling.batched.group_key`) are trained together as one batched
model, up to ``max_group`` at a time (:func:`group_tasks`; ``group=False`` trains every run alone); each still
gets its own record. :func:`run` trains one spec, :func:`run_group` a group. A teacher's spec comes from the
specs the executor was given (a student carries the spec it was built with as ``teacher_spec``) or from the
teacher's record; :func:`distill_scaling.train.train` receives it and never reads the store.

Example::

    from distill_scaling import runs, store
    from distill_scaling.spec import RunSpec
    teacher = RunSpec("L4-d64", tokens=4_000_000, split="teacher")
    student = RunSpec("L2-d32", tokens=2_000_000, split="student", teacher=teacher)
    records = runs.ensure([student])  # trains the teacher first
    df = store.load_records()
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths, store
from .spec import RunSpec, SpecError, is_int, run_flops

# train, torch, tqdm and distributed are imported where a run starts: modules that only declare specs and
# call ensure() on recorded runs (the chapters' default profiles) stay light, and Dask is optional.


# -- running one spec ----------------------------------------------------------------------------------------
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

    ``teacher_spec``: the teacher's spec of a distillation run (default: the one ``spec`` carries, else from
    the teacher's record). ``need_weights``: also train a recorded run whose checkpoint is gone (a teacher),
    keeping its record.
    """
    from . import train as train_mod  # noqa: PLC0415 - imports torch, which only this path needs

    with store.run_lock(spec.key):
        rec = store.read_record(spec.key, runs_dir)
        if rec is not None and not (need_weights and not train_mod.checkpoint_exists(spec.key)):
            return rec
        if spec.teacher is not None and teacher_spec is None:
            teacher_spec = store.teacher_spec_of(spec, runs_dir)
        results = train_mod.train(
            spec, teacher_spec=teacher_spec, threads=threads, progress=progress, **train_kwargs
        )
        if rec is not None:  # only the weights were missing: keep the original record
            return rec
        rec = store.make_record(spec, results)
        if write:
            store.write_record(rec, runs_dir)
        return rec


def run_group(
    specs: Sequence[RunSpec],
    *,
    teacher_spec: RunSpec | None = None,
    threads: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    write: bool = True,
    runs_dir: Path | None = None,
    **train_kwargs: Any,
) -> list[dict[str, Any]]:
    """Train the specs of one shape that have no record together (:func:`distill_scaling.batched.train_group`)
    and return all their records in order; each record is written as soon as its run ends (if ``write``),
    with ``group_size`` (runs trained together) in its provenance. ``progress(key, step, steps)``."""
    from . import batched  # noqa: PLC0415 - imports torch, which only this path needs

    specs = list(specs)
    batched.check_group(specs)
    records: dict[str, dict[str, Any] | None] = {}
    with ExitStack() as locks:
        for key in sorted(s.key for s in specs):  # always in one order: two groups never deadlock
            locks.enter_context(store.run_lock(key))
        for s in specs:
            records[s.key] = store.read_record(s.key, runs_dir)
        todo = [s for s in specs if records[s.key] is None]
        if todo and todo[0].teacher is not None and teacher_spec is None:
            teacher_spec = store.teacher_spec_of(todo[0], runs_dir)

        def on_result(spec: RunSpec, results: dict[str, Any]) -> None:
            rec = store.make_record(spec, results, group_size=len(todo))
            if write:
                store.write_record(rec, runs_dir)
            records[spec.key] = rec

        if todo:
            batched.train_group(
                todo,
                teacher_spec=teacher_spec,
                threads=threads,
                progress=progress,
                on_result=on_result,
                **train_kwargs,
            )
    return [records[s.key] for s in specs]


# -- executing many specs ------------------------------------------------------------------------------------
def default_workers() -> tuple[int, int]:
    """(workers, threads per worker) that gave the most total tokens/s when measured (``bench``): on the
    2-core CPU box, two 1-thread processes beat one 2-thread process by 12-21%; on a GPU, one worker."""
    try:
        import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

        if torch.cuda.is_available():
            return 1, max(1, (os.cpu_count() or 1))
    except ImportError:
        pass
    return max(1, os.cpu_count() or 1), 1


@dataclass
class Schedule:
    """Missing runs in dependency order, the teacher of each, and their FLOPs."""

    todo: list[RunSpec] = field(default_factory=list)
    teachers: dict[str, RunSpec] = field(default_factory=dict)
    flops: dict[str, float] = field(default_factory=dict)
    done: dict[str, dict] = field(default_factory=dict)
    #: What the runners train, in order: each task one run, or a group of runs of one shape.
    tasks: list[list[RunSpec]] = field(default_factory=list)

    def deps(self, spec: RunSpec) -> list[str]:
        return [spec.teacher] if spec.teacher and spec.teacher in {s.key for s in self.todo} else []


def schedule(specs: Sequence[RunSpec], runs_dir: Path | None = None) -> Schedule:
    """Validate ``specs`` and work out what :func:`ensure` must train: missing runs (deduplicated), teachers
    that are not recorded yet (added), and teachers whose checkpoints are gone (retrained first).

    A teacher's spec is found among ``specs`` and the teachers they carry (``teacher_spec``), else in the
    teacher's record; a teacher that is in neither is a :class:`SpecError` before any work.
    """
    from . import train as train_mod  # noqa: PLC0415 - imports torch, which only this path needs

    p = Schedule()
    given: dict[str, RunSpec] = {}
    for s in specs:
        if not isinstance(s, RunSpec):
            raise SpecError(f"ensure() takes RunSpec objects, got {type(s).__name__}")
        given.setdefault(s.key, s)
    known = dict(given)
    for s in given.values():
        t = s.teacher_spec
        while t is not None:  # a teacher's own teacher, if it carries one
            known.setdefault(t.key, t)
            t = t.teacher_spec
    order: list[RunSpec] = []
    seen: set[str] = set()

    def visit(s: RunSpec, stack: tuple[str, ...] = (), as_teacher: bool = False) -> None:
        if s.key in stack:
            raise SpecError(f"teacher cycle through run {s.key}")
        rec = store.read_record(s.key, runs_dir)
        if rec is not None:
            p.done[s.key] = rec
        # A recorded teacher whose weights are gone is trained again (deterministically) before its students.
        needed = rec is None or (as_teacher and not train_mod.checkpoint_exists(s.key))
        if s.key in seen or not needed:
            return
        seen.add(s.key)
        if s.teacher is not None:
            t = store.teacher_spec_of(s, runs_dir, known)
            p.teachers[s.key] = t
            visit(t, (*stack, s.key), as_teacher=True)
        order.append(s)

    for s in given.values():
        visit(s)
    p.todo = order
    for s in order:
        t = p.teachers.get(s.key)
        p.flops[s.key] = run_flops(s, t.model if t else None)["total"]
    p.tasks = [[s] for s in order]
    return p


#: Most runs trained together as one batched model by default (``ensure(max_group=...)``).
MAX_GROUP = 8
#: On the CPU, a group's activations at most this big, counted as tokens per step x d_model x n_layers over
#: its runs: eight L2-d32 runs of 32 x 128 tokens. Measured on the 2-core box (``bench --only batched``), a
#: group's step beats its runs' own steps only while the group is small; bigger groups, as of L4-d64 at 16 x
#: 128 tokens, ran no faster, and eight L10-d160 runs at 32 x 128 ran 0.7 times as fast.
MAX_GROUP_ACTIVATIONS = 8 * 32 * 128 * 32 * 2


def group_size_cap(spec: RunSpec) -> int:
    """How many runs of ``spec``'s shape a group on the CPU may hold (at least 1): MAX_GROUP_ACTIVATIONS."""
    cfg = spec.config
    return max(1, MAX_GROUP_ACTIVATIONS // (spec.batch_tokens * cfg.d_model * cfg.n_layers))


def group_tasks(
    p: Schedule, max_group: int = MAX_GROUP, workers: int = 1, train_kwargs: dict[str, Any] | None = None
) -> list[list[RunSpec]]:
    """``p.todo`` as the runners' tasks: runs of one shape (:func:`distill_scaling.batched.group_key`) in
    groups of at most ``max_group`` runs (and, on the CPU, :func:`group_size_cap`), split so that each of
    ``workers`` processes gets a group where there are enough runs; every other run alone. Tasks come in the
    order of their first run, so a teacher's task precedes its students'. A run stays alone when only its
    weights are missing (a recorded teacher) or when, ``compile`` not given, :func:`train.use_compile` would
    compile it: a big run gains more from compilation alone than from a group (``bench --only batched``).
    With ``compile=True`` groups are compiled as a whole."""
    from . import batched, train  # noqa: PLC0415 - imports torch, which only this path needs

    kw = train_kwargs or {}
    on_cpu = train.resolve_device(kw.get("device")).type == "cpu"
    shapes: dict[Any, list[RunSpec]] = {}
    alone: list[list[RunSpec]] = []
    for s in p.todo:
        compiled = kw.get("compile") is None and train.use_compile(s, kw.get("device"))
        if max_group <= 1 or s.key in p.done or compiled:
            alone.append([s])
        else:
            shapes.setdefault(batched.group_key(s), []).append(s)
    tasks = list(alone)
    for members in shapes.values():
        fits = group_size_cap(members[0]) if on_cpu else max_group
        size = min(max_group, fits, -(-len(members) // max(1, workers)))
        tasks += [members[i : i + size] for i in range(0, len(members), size)]
    index = {s.key: i for i, s in enumerate(p.todo)}
    return sorted(tasks, key=lambda task: index[task[0].key])


def ensure(
    specs: Sequence[RunSpec],
    workers: int | None = None,
    threads: int | None = None,
    backend: str = "local",
    progress: bool = True,
    *,
    address: str | None = None,
    runs_dir: Path | None = None,
    group: bool = True,
    max_group: int = MAX_GROUP,
    **train_kwargs: Any,
) -> list[dict[str, Any]]:
    """Make sure every spec has a record: train the missing ones (teachers first), in parallel, and return
    the records in the order of ``specs``.

    ``group``: train missing runs of one shape together as one batched model, at most ``max_group`` at a
    time (:func:`group_tasks`); ``group=False`` (or ``max_group=1``) trains each run alone. Either way each
    run gets the record (and key) it would get alone; grouped records note ``group_size`` in provenance.

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
    if not is_int(workers) or workers < 1:
        raise SpecError(f"ensure(workers={workers!r}) is invalid; allowed: an int >= 1 or None")
    if not is_int(threads) or threads < 1:
        raise SpecError(f"ensure(threads={threads!r}) is invalid; allowed: an int >= 1 or None")
    if not is_int(max_group) or max_group < 1:
        raise SpecError(f"ensure(max_group={max_group!r}) is invalid; allowed: an int >= 1")
    if "loader_workers" in train_kwargs:  # checked here, not in a worker after other runs trained
        from . import prefetch  # noqa: PLC0415 - imports torch, which only this path needs

        prefetch.check_workers(train_kwargs["loader_workers"])
    runs_dir = Path(runs_dir or paths.runs_dir())
    p = schedule(specs, runs_dir)
    if p.todo:
        if group:
            p.tasks = group_tasks(p, max_group, workers, train_kwargs)
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
        rec = p.done.get(s.key) or store.read_record(s.key, runs_dir)
        out.append(rec)
    return out


def _bar(total: float, n: int, progress: bool):
    from tqdm import tqdm  # noqa: PLC0415 - only a progress bar needs it

    return tqdm(
        total=total,
        unit="FLOP",
        unit_scale=True,
        disable=not progress,
        desc=f"training {n} run{'s' * (n != 1)}",
        smoothing=0.05,
        bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} FLOP [{elapsed}<{remaining}]",
    )


def train_task(
    task: Sequence[RunSpec],
    teacher: RunSpec | None,
    threads: int,
    report: Callable[[str, int, int], None] | None,
    runs_dir: Path,
    need_weights: bool,
    train_kwargs: dict[str, Any],
    write: bool = True,
) -> list[dict[str, Any]]:
    """Train one task of a schedule (a run alone, :func:`run`, or a group, :func:`run_group`); its records.
    ``report(key, step, steps)`` after each step of each run."""
    if len(task) == 1:
        key = task[0].key

        def one(step: int, total: int) -> None:
            if report is not None:
                report(key, step, total)

        rec = run(
            task[0],
            teacher_spec=teacher,
            threads=threads,
            progress=one,
            write=write,
            runs_dir=runs_dir,
            need_weights=need_weights,
            **train_kwargs,
        )
        return [rec]
    return run_group(
        task,
        teacher_spec=teacher,
        threads=threads,
        progress=report,
        write=write,
        runs_dir=runs_dir,
        **train_kwargs,
    )


def _run_inline(
    p: Schedule, workers: int, threads: int, progress: bool, runs_dir: Path, address, train_kwargs
):
    """One worker: train the tasks one after another in this process (no pool to start)."""
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    failures: dict[str, str] = {}
    frac: dict[str, float] = {}
    bar = _bar(sum(p.flops.values()), len(p.todo), progress)
    prev = torch.get_num_threads()

    def report(key: str, step: int, total: int) -> None:
        if step % 10 == 0 or step == total:
            frac[key] = step / max(total, 1)
            _update_bar(bar, frac, p)

    try:
        for task in p.tasks:
            t = p.teachers.get(task[0].key)
            if t is not None and t.key in failures:
                failures.update({s.key: f"teacher {t.key} failed" for s in task})
                continue
            try:
                recs = train_task(task, t, threads, report, runs_dir, task[0].key in p.done, train_kwargs)
                p.done.update({s.key: rec for s, rec in zip(task, recs, strict=True)})
            except Exception:  # noqa: BLE001 - reported together at the end
                _task_failed(task, traceback.format_exc(), failures, p, runs_dir)
            for s in task:
                frac[s.key] = 1.0
            _update_bar(bar, frac, p)
    finally:
        torch.set_num_threads(prev)
        bar.close()
    return failures


def _task_failed(task, message: str, failures: dict[str, str], p: Schedule, runs_dir: Path) -> None:
    """A task raised ``message``: its runs without a record failed (a group's finished runs are recorded)."""
    for s in task:
        rec = store.read_record(s.key, runs_dir) if len(task) > 1 else None
        if rec is not None:
            p.done[s.key] = rec
        else:
            failures[s.key] = message


# Worker-side state of the local pool: the queue that carries progress back to the parent.
_PROGRESS_QUEUE = None


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """End this pool worker when the process that started the pool is gone, so that killing only the
    parent leaves no orphan training on (the run resumes from its checkpoint next time)."""
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
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def _worker(
    task: list[RunSpec],
    teacher: RunSpec | None,
    threads: int,
    runs_dir: str,
    need_weights: bool,
    train_kwargs: dict,
):
    """Train one task inside a pool process; write its records there (so they survive a dead parent)."""
    last: dict[str, float] = {}

    def report(key: str, step: int, total: int) -> None:
        now = time.monotonic()
        if _PROGRESS_QUEUE is not None and (now - last.get(key, 0.0) > 1.0 or step == total):
            last[key] = now
            _PROGRESS_QUEUE.put((key, step / max(total, 1)))

    try:
        return train_task(task, teacher, threads, report, Path(runs_dir), need_weights, train_kwargs)
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


def _run_local(
    p: Schedule, workers: int, threads: int, progress: bool, runs_dir: Path, address, train_kwargs
):
    with _caller_script_hidden():
        return _run_pool(p, workers, threads, progress, runs_dir, train_kwargs)


def _run_pool(p: Schedule, workers: int, threads: int, progress: bool, runs_dir: Path, train_kwargs):
    # Workers fork from a server process that has imported torch but never run a parallel region (safe to
    # fork, unlike this process), so each worker starts in milliseconds instead of re-importing torch.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["distill_scaling.train", "torch._dynamo"])
    queue = ctx.Queue()
    keys_todo = {s.key for s in p.todo}
    waiting = list(p.tasks)
    running: dict[Any, list[RunSpec]] = {}
    frac: dict[str, float] = {}
    failures: dict[str, str] = {}
    finished: set[str] = set()
    bar = _bar(sum(p.flops.values()), len(p.todo), progress)
    workers = min(workers, len(p.tasks))
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, queue, os.getpid())
    )
    interrupted = True
    try:
        while waiting or running:
            for task in list(waiting):
                dep = p.teachers.get(task[0].key)
                if dep is not None and dep.key in keys_todo and dep.key not in finished:
                    if dep.key in failures:
                        failures.update({s.key: f"teacher {dep.key} failed" for s in task})
                        waiting.remove(task)
                    continue
                # Keep the pool's queue short so a teacher's students start right after it.
                if len(running) >= 2 * workers:
                    break
                waiting.remove(task)
                need = task[0].key in p.done
                fut = pool.submit(_worker, task, dep, threads, str(runs_dir), need, train_kwargs)
                running[fut] = task
            if not running:
                break
            done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(queue, frac, p, bar)
            for fut in done:
                task = running.pop(fut)
                try:
                    recs = fut.result()
                    p.done.update({s.key: rec for s, rec in zip(task, recs, strict=True)})
                    finished.update(s.key for s in task)
                except Exception as exc:  # noqa: BLE001 - reported together at the end
                    _task_failed(task, str(exc), failures, p, runs_dir)
                    finished.update(s.key for s in task if s.key in p.done)
                for s in task:
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


def _drain(queue, frac: dict[str, float], p: Schedule, bar) -> None:
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


def _update_bar(bar, frac: dict[str, float], p: Schedule) -> None:
    done = sum(p.flops[k] * f for k, f in frac.items() if k in p.flops)
    bar.update(done - bar.n)


def _dask_task(
    task: list[RunSpec],
    teacher: RunSpec | None,
    threads: int,
    runs_dir: str,
    need_weights: bool,
    train_kwargs: dict,
    _dep=None,
):
    """Train one task on a Dask worker and return its records; the parent writes them to the store.

    ``_dep`` (the teacher's task) only orders the work. The teacher's weights come from the checkpoint cache,
    which a LocalCluster shares; a worker on another machine retrains the teacher deterministically unless
    its ``DS_CACHE_DIR`` is the same shared folder. A task run again after its worker died resumes from the
    run's last checkpoint there.
    """
    import torch  # noqa: PLC0415 - torch is heavy: only this path needs it

    torch.set_num_threads(threads)
    return train_task(task, teacher, threads, None, Path(runs_dir), need_weights, train_kwargs, write=False)


#: Times Dask runs a task again after it raised (a lost mount, a full disk, CUDA out of memory beside another
#: job); it resumes from its last checkpoint. A worker that dies mid-run is another matter: the scheduler
#: moves its task to another worker by itself, up to its ``distributed.scheduler.allowed-failures`` deaths
#: (default 3), and that run resumes from its checkpoint in the shared cache too.
DASK_RETRIES = 2


def _run_dask(p: Schedule, workers: int, threads: int, progress: bool, runs_dir: Path, address, train_kwargs):
    from distributed import Client, LocalCluster, as_completed  # noqa: PLC0415 - Dask is optional: only its backend needs it

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
        futures: dict[str, Any] = {}  # run key -> the future of its task
        tasks: dict[Any, list[RunSpec]] = {}
        for task in p.tasks:
            t = p.teachers.get(task[0].key)
            dep = futures.get(t.key) if t is not None else None
            fut = client.submit(
                _dask_task,
                task,
                t,
                threads,
                str(runs_dir),
                task[0].key in p.done,
                train_kwargs,
                dep,
                key=f"run-{task[0].key}" + (f"+{len(task) - 1}" if len(task) > 1 else ""),
                pure=False,
                retries=DASK_RETRIES,
            )
            tasks[fut] = task
            futures.update({s.key: fut for s in task})
        for fut in as_completed(list(tasks)):
            task = tasks[fut]
            try:
                for s, rec in zip(task, fut.result(), strict=True):
                    store.write_record(rec, runs_dir)
                    p.done[s.key] = rec
            except Exception as exc:  # noqa: BLE001 - reported together at the end
                failures.update({s.key: f"{type(exc).__name__}: {exc}" for s in task})
            bar.update(sum(p.flops[s.key] for s in task))
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return failures
