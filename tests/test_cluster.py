"""The study on a Dask cluster: ``study --backend dask`` on a LocalCluster, ``ensure(backend="dask",
address=...)`` on a scheduler and two workers started as their own processes, and a worker killed mid-run.

Every cluster writes the same records as the local backend (same keys, specs and results; only the timing
and the date differ), and a run whose worker dies resumes from its checkpoint on another worker, ending at
the loss of an uninterrupted run. The processes started here run on 127.0.0.1 with one thread each and are
killed whatever happens (their own process groups); the scheduler also exits by itself when idle and the
workers when it is gone, should this process die without cleaning up.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

import distill_scaling
from distill_scaling import runs, store, train
from distill_scaling.spec import RunSpec

distributed = pytest.importorskip("distributed")
torch.set_num_threads(1)

#: A run of a few dozen steps of a tiny zoo model (the batch rule gives 8 sequences of 128 tokens).
TINY = 40 * 8 * 128
#: Evaluate the tiny runs on the first 8k validation tokens only.
EVAL = 8192
#: The package the tests import; the processes started here import the same one.
SRC = Path(distill_scaling.__file__).resolve().parents[1]
#: Fields of results and provenance that say when a run ended and how long it took: the only ones that may
#: differ between two executions of the same run on the same machine.
TIMING = frozenset({"date", "wall_time_s", "train_time_s", "eval_time_s", "tokens_per_s"})
#: Generous limits: the machine may be busy.
START_S, RUN_S = 300, 900


def _env(root: Path) -> dict[str, str]:
    """The environment of every process started here: the test's run store and cache, one thread."""
    return {
        **os.environ,
        "DS_RUNS_DIR": str(root / "runs"),
        "DS_CACHE_DIR": str(root / "cache"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }


@pytest.fixture
def shared(tmp_path, monkeypatch) -> Path:
    """This process sees the run store and cache the cluster's processes see (a shared filesystem)."""
    for name, value in _env(tmp_path).items():
        if name.startswith("DS_"):
            monkeypatch.setenv(name, value)
    return tmp_path


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with ``start_new_session=True`` and everything it started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _tiny_study() -> list[RunSpec]:
    """A teacher (trained first), its student and a supervised run."""
    teacher = RunSpec("L2-d32", tokens=TINY)
    return [
        RunSpec("L1-d16", tokens=TINY, split="student", teacher=teacher),
        RunSpec("L1-d16", tokens=TINY, seed=3),
    ]


def _same(a: Any, b: Any, where: str = "") -> None:
    """``a == b``, floats to rounding (rel 1e-6), with the path of the first difference in the message."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a.keys() ^ b.keys())} differ"
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_records(got: Path, expected: Path) -> list[str]:
    """The stores ``got`` and ``expected`` hold records of the same runs with the same content, but for the
    timing fields; returns their keys."""
    a = {r["key"]: r for r in store.iter_records(got, strict=True)}
    b = {r["key"]: r for r in store.iter_records(expected, strict=True)}
    assert a and sorted(a) == sorted(b)
    for key in a:
        assert a[key]["spec"] == b[key]["spec"]
        for part in ("results", "provenance"):
            x, y = ({k: v for k, v in r[key][part].items() if k not in TIMING} for r in (a, b))
            _same(x, y, f"{key}.{part}")
    return sorted(a)


# -- the study command on a LocalCluster ---------------------------------------------------------------------
_STUDY = textwrap.dedent(
    """
    import functools, sys
    from distill_scaling import cli, runs, study
    from distill_scaling.spec import RunSpec
    teacher = RunSpec("L2-d32", tokens={tiny})
    specs = [RunSpec("L1-d16", tokens={tiny}, split="student", teacher=teacher),
             RunSpec("L1-d16", tokens={tiny}, seed=3)]
    study.BLOCKS = {{"smoke": study.StudyBlock("smoke", lambda: specs, "teacher, student, supervised")}}
    runs.ensure = functools.partial(runs.ensure, eval_tokens={eval_tokens}, progress=False)
    sys.exit(cli.main(["study", "--blocks", "smoke", "--threads", "1", *sys.argv[1:]]))
    """
)


def _study(root: Path, *args: str) -> str:
    """``python -m distill_scaling study --blocks smoke ARGS`` (a tiny block) into ``root``'s store."""
    code = _STUDY.format(tiny=TINY, eval_tokens=EVAL)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=RUN_S)
    finally:  # a LocalCluster's workers are in the study's process group
        _kill_group(proc)
    assert proc.returncode == 0, out[-3000:]
    return out


@pytest.mark.slow
def test_study_on_a_local_dask_cluster_writes_the_records_of_the_local_backend(tmp_path):
    out = _study(tmp_path / "dask", "--backend", "dask", "--workers", "2")
    assert "2 missing" in out, out  # and their teacher, which ensure() trains first
    _study(tmp_path / "local", "--backend", "local", "--workers", "1")
    keys = assert_same_records(tmp_path / "dask" / "runs", tmp_path / "local" / "runs")
    student, supervised = _tiny_study()
    assert keys == sorted([student.teacher, student.key, supervised.key])
    recs = {k: store.read_record(k, tmp_path / "dask" / "runs") for k in keys}
    assert recs[student.key]["results"]["teacher_val_loss"] == recs[student.teacher]["results"]["val_loss"]


# -- a scheduler and two workers, each a process of its own --------------------------------------------------
@dataclass
class Cluster:
    address: str
    workers: dict[str, subprocess.Popen]
    logs: Path

    def log_tail(self, n: int = 3000) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-n:]}" for p in sorted(self.logs.glob("*.log")))


@pytest.fixture
def cluster(shared) -> Iterator[Cluster]:
    """``dask scheduler`` on a free port of 127.0.0.1 and two ``dask worker`` processes (one thread each,
    with a nanny, as on a real cluster) that see the test's run store and cache."""
    env, logs = _env(shared), shared / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []

    def start(name: str, module: str, args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args.split()],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(proc)
        return proc

    try:
        scheduler_file = shared / "scheduler.json"
        # Port 0: the scheduler takes a free port and writes its address to the scheduler file.
        sched = start(
            "scheduler",
            "distributed.cli.dask_scheduler",
            f"--host 127.0.0.1 --port 0 --no-dashboard --scheduler-file {scheduler_file} --idle-timeout 600s",
        )
        deadline = time.monotonic() + START_S
        while not scheduler_file.exists():
            assert sched.poll() is None and time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        time.sleep(0.5)  # the file is written whole, but give it a moment
        address = json.loads(scheduler_file.read_text())["address"]
        workers = {
            name: start(
                name,
                "distributed.cli.dask_worker",
                f"{address} --name {name} --nthreads 1 --host 127.0.0.1 --no-dashboard --death-timeout 120",
            )
            for name in ("w0", "w1")
        }
        c = Cluster(address, workers, logs)
        with distributed.Client(address, timeout=START_S, set_as_default=False) as client:
            try:
                client.wait_for_workers(2, timeout=START_S)
            except TimeoutError:
                pytest.fail(f"the workers did not start:\n{c.log_tail()}")
        yield c
    finally:
        for proc in reversed(procs):
            _kill_group(proc)


@pytest.mark.slow
def test_ensure_on_a_scheduler_and_two_worker_processes_writes_the_records_of_local_training(
    cluster, shared, monkeypatch
):
    specs = _tiny_study()
    recs = runs.ensure(
        specs, threads=1, backend="dask", address=cluster.address, progress=False, eval_tokens=EVAL
    )
    assert [r["key"] for r in recs] == [s.key for s in specs]
    # The same runs trained in this process, in a store and a cache of their own.
    monkeypatch.setenv("DS_CACHE_DIR", str(shared / "local-cache"))
    runs.ensure(specs, workers=1, threads=1, progress=False, eval_tokens=EVAL, runs_dir=shared / "local-runs")
    keys = assert_same_records(shared / "runs", shared / "local-runs")
    assert len(keys) == 3  # the teacher as well


#: Steps of the run killed midway and the step of its one checkpoint.
KILLED_STEPS, CHECKPOINT_STEP = 120, 60


@pytest.mark.slow
def test_a_run_whose_worker_dies_resumes_from_its_checkpoint_on_another_worker(cluster, shared, monkeypatch):
    spec = RunSpec("L1-d16", tokens=KILLED_STEPS * 8 * 128)
    assert spec.steps == KILLED_STEPS
    # The uninterrupted run, in this process, in a store and a cache of its own.
    monkeypatch.setenv("DS_CACHE_DIR", str(shared / "ref-cache"))
    ref = runs.run(spec, eval_tokens=EVAL, runs_dir=shared / "ref-runs")["results"]
    assert ref["resumed_from_step"] is None
    monkeypatch.setenv("DS_CACHE_DIR", str(shared / "cache"))

    state = train.checkpoint_dir(spec.key) / "state.pt"
    killed: dict[str, Any] = {}

    def kill_the_worker_that_trains_it() -> None:
        """Once the run's checkpoint is on disk, SIGKILL the worker (and its nanny) that runs the task."""
        deadline = time.monotonic() + RUN_S
        with distributed.Client(cluster.address, timeout=START_S, set_as_default=False) as client:
            while time.monotonic() < deadline:
                busy = [w for w, keys in client.processing().items() if f"run-{spec.key}" in keys]
                if state.exists() and busy:
                    killed["step"] = torch.load(state, weights_only=True)["step"]
                    killed["name"] = client.scheduler_info()["workers"][busy[0]]["name"]
                    _kill_group(cluster.workers[killed["name"]])
                    return
                time.sleep(0.2)

    killer = threading.Thread(target=kill_the_worker_that_trains_it, daemon=True)
    killer.start()
    # time.sleep(step) after the checkpoint: the worker holds still there, so that the kill lands after the
    # checkpoint and before the run ends however busy the machine is. A resumed run writes no checkpoint at
    # that step again, so it does not wait.
    recs = runs.ensure(
        [spec],
        threads=1,
        backend="dask",
        address=cluster.address,
        progress=False,
        eval_tokens=EVAL,
        checkpoint_steps=(CHECKPOINT_STEP,),
        checkpoint_interval_s=math.inf,
        on_checkpoint=time.sleep,
    )
    killer.join(timeout=60)
    assert killed.get("step") == CHECKPOINT_STEP, cluster.log_tail()
    survivor = ({"w0", "w1"} - {killed["name"]}).pop()
    assert cluster.workers[killed["name"]].returncode == -signal.SIGKILL
    assert cluster.workers[survivor].poll() is None
    with distributed.Client(cluster.address, timeout=START_S, set_as_default=False) as client:
        assert [w["name"] for w in client.scheduler_info()["workers"].values()] == [survivor]

    # The survivor resumed the run from its checkpoint and ended where the uninterrupted run ended.
    res = recs[0]["results"]
    assert res["resumed_from_step"] == CHECKPOINT_STEP
    assert store.read_record(spec.key)["results"]["resumed_from_step"] == CHECKPOINT_STEP
    assert res["val_loss"] == pytest.approx(ref["val_loss"], rel=1e-6, abs=1e-7)
    assert res["curve"]["train_loss"] == pytest.approx(ref["curve"]["train_loss"], rel=1e-6)
    assert train.checkpoint_exists(spec.key) and not state.exists()
