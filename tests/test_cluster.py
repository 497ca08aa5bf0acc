"""ensure(backend="dask"): the same work dispatched to a Dask distributed LocalCluster on loopback."""

from __future__ import annotations

import pytest
import torch

from distill_scaling import runs, store, train
from distill_scaling.spec import RunSpec

pytest.importorskip("distributed")
torch.set_num_threads(1)

TINY = 40 * 8 * 128


@pytest.mark.slow
def test_dask_local_cluster_trains_teacher_then_student_and_matches_local_training(tmp_path, monkeypatch):
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    teacher = RunSpec("L2-d32", tokens=TINY)
    student = RunSpec("L1-d16", tokens=TINY, split="student", teacher=teacher)
    other = RunSpec("L1-d16", tokens=TINY, seed=3)
    recs = runs.ensure(
        [student, other], workers=2, threads=1, backend="dask", progress=False, eval_tokens=8192
    )
    assert [r["key"] for r in recs] == [student.key, other.key]
    for spec in (teacher, student, other):
        assert store.exists(spec), spec.label()
    s_res = store.get(student)["results"]
    assert s_res["teacher_val_loss"] == pytest.approx(store.get(teacher)["results"]["val_loss"], rel=1e-6)

    # The cluster ran the same deterministic training as this process would.
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache-local"))
    assert train.train(other, eval_tokens=8192)["val_loss"] == pytest.approx(
        store.get(other)["results"]["val_loss"], rel=1e-6
    )
