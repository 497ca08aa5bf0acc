"""Batches made ahead in worker processes (``distill_scaling.prefetch``): the same batches in the same order,
the same training results, resuming mid-stream, the default per device and corpus, and bad worker counts."""

from __future__ import annotations

import multiprocessing
import os

import pytest
import torch

from distill_scaling import batched, corpus, prefetch, runs, train
from distill_scaling.spec import RunSpec, SpecError

torch.set_num_threads(1)

TINY = 40 * 8 * 128  # 40 steps of the tiny model
EVAL = 8192  # validation tokens of a tiny run


def _direct(source, start, stop, seed=3):
    return [source.batch("student", k, 4, 32, seed) for k in range(start, stop)]


@pytest.mark.parametrize("name", ["synthetic", "text"])
@pytest.mark.parametrize("workers", [0, 2])
def test_batches_made_ahead_are_the_runs_own_batches_in_order(name, workers):
    source = corpus.get_source(name)
    got = list(prefetch.batches(source, "student", 5, 17, 4, 32, 3, workers))
    want = _direct(source, 5, 17)
    assert len(got) == len(want) == 12
    for (x, y), (wx, wy) in zip(got, want, strict=True):
        assert torch.equal(x, wx) and torch.equal(y, wy)


class _Pids(corpus.Source):
    """A source whose batch says which process made it, and for which step."""

    name = "pids"

    def batch(self, split, step, batch_size, n_ctx, seed):
        return torch.tensor([os.getpid()]), torch.tensor([step])


def test_workers_make_the_batches_in_other_processes():
    ahead = list(prefetch.batches(_Pids(), "student", 0, 8, 1, 1, 0, workers=2))
    assert [int(y) for _, y in ahead] == list(range(8))
    assert os.getpid() not in {int(x) for x, _ in ahead} and len({int(x) for x, _ in ahead}) == 2
    here = list(prefetch.batches(_Pids(), "student", 0, 2, 1, 1, 0, workers=0))
    assert {int(x) for x, _ in here} == {os.getpid()}


def _in_daemon(queue) -> None:
    source = corpus.get_source("synthetic")
    got = list(prefetch.batches(source, "student", 0, 3, 4, 32, 3, workers=2))
    queue.put(all(torch.equal(g[0], w[0]) for g, w in zip(got, _direct(source, 0, 3), strict=True)))


def test_a_daemonic_process_makes_the_batches_itself():
    # A Dask worker is daemonic and may not start processes: the batches are made in-process, the same ones.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_in_daemon, args=(queue,), daemon=True)
    p.start()
    assert queue.get(timeout=120) is True
    p.join(timeout=60)
    assert p.exitcode == 0


def _counting(monkeypatch) -> list[tuple[int, int]]:
    """Record (start step, workers) of every stream of batches made ahead."""
    streams, real = [], prefetch.batches

    def counted(source, split, start, stop, batch_size, n_ctx, seed, workers, pin_memory=False):
        streams.append((start, workers))
        return real(source, split, start, stop, batch_size, n_ctx, seed, workers, pin_memory)

    monkeypatch.setattr(prefetch, "batches", counted)
    return streams


def test_training_with_workers_gives_the_same_run_and_says_so(runs_dir, monkeypatch):
    spec = RunSpec("L1-d16", tokens=TINY, corpus="synthetic")
    streams = _counting(monkeypatch)
    alone = train.train(spec, eval_tokens=EVAL, loader_workers=0)
    assert streams == [(0, 0)]  # one stream for the whole run, made in this process
    monkeypatch.setenv("DS_CACHE_DIR", str(runs_dir.parent / "cache-ahead"))
    ahead = train.train(spec, eval_tokens=EVAL, loader_workers=2)
    assert streams == [(0, 0), (0, 2)]
    assert ahead["val_loss"] == alone["val_loss"]
    assert ahead["curve"]["train_loss"] == alone["curve"]["train_loss"]
    assert (alone["loader_workers"], ahead["loader_workers"]) == (0, 2)


def test_an_interrupted_run_with_workers_resumes_to_the_uninterrupted_result(runs_dir, monkeypatch):
    spec = RunSpec("L1-d16", tokens=TINY, corpus="synthetic")
    ref = train.train(spec, resume=False, eval_tokens=EVAL, loader_workers=0)
    monkeypatch.setenv("DS_CACHE_DIR", str(runs_dir.parent / "cache-interrupted"))

    def stop_at_25(step, total):
        if step == 25:
            raise KeyboardInterrupt

    streams = _counting(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train.train(spec, checkpoint_steps=[20], progress=stop_at_25, eval_tokens=EVAL, loader_workers=2)
    resumed = train.train(spec, eval_tokens=EVAL, loader_workers=2)
    assert resumed["resumed_from_step"] == 20 and streams == [(0, 2), (20, 2)]
    assert resumed["val_loss"] == ref["val_loss"]
    assert resumed["curve"]["train_loss"] == ref["curve"]["train_loss"]


def test_a_group_with_workers_trains_each_run_as_without(runs_dir, monkeypatch):
    specs = [RunSpec("L1-d16", tokens=TINY, corpus="synthetic", seed=s) for s in (0, 1)]
    without = batched.train_group(specs, eval_tokens=EVAL, compile=False, loader_workers=0)
    monkeypatch.setenv("DS_CACHE_DIR", str(runs_dir.parent / "cache-ahead"))
    ahead = batched.train_group(specs, eval_tokens=EVAL, compile=False, loader_workers=1)
    assert [r["val_loss"] for r in ahead] == [r["val_loss"] for r in without]
    assert [r["loader_workers"] for r in ahead] == [1, 1]


def test_a_record_says_how_many_workers_made_its_batches(runs_dir):
    spec = RunSpec("L1-d16", tokens=TINY, corpus="synthetic")
    rec = runs.run(spec, eval_tokens=EVAL, loader_workers=1)
    assert rec["results"]["loader_workers"] == rec["provenance"]["loader_workers"] == 1


def test_workers_by_default_only_on_cuda_for_a_generated_corpus():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    synthetic, text = corpus.get_source("synthetic"), corpus.get_source("text")
    assert synthetic.generated and not text.generated
    assert prefetch.default_workers(synthetic, cpu) == 0
    assert prefetch.default_workers(text, cuda) == 0
    assert 1 <= prefetch.default_workers(synthetic, cuda) <= prefetch.MAX_DEFAULT_WORKERS


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_a_bad_worker_count_is_named_before_any_work(runs_dir, bad):
    spec = RunSpec("L1-d16", tokens=TINY, corpus="synthetic")
    with pytest.raises(SpecError, match="loader_workers"):
        train.train(spec, eval_tokens=EVAL, loader_workers=bad)
    with pytest.raises(SpecError, match="loader_workers"):
        batched.train_group([spec, spec.replace(seed=1)], eval_tokens=EVAL, loader_workers=bad)
    with pytest.raises(SpecError, match="loader_workers"):
        runs.ensure([spec], workers=1, progress=False, eval_tokens=EVAL, loader_workers=bad)
    assert not runs_dir.exists() or not any(runs_dir.rglob("*.json"))
    assert not (runs_dir.parent / "cache").exists() or not any((runs_dir.parent / "cache").rglob("state.pt"))


def test_the_prefetch_bench_measures_every_worker_count(monkeypatch):
    from distill_scaling import bench, gpu_data  # noqa: PLC0415 - only this test needs the bench

    assert "prefetch" in bench.BENCHES
    monkeypatch.setattr(gpu_data.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(gpu_data, "SAMPLER_BATCH", 8)  # a short, rough pass: the figures are the bench's job
    calls, real = [], gpu_data.prefetch_rate

    def rate(n_ctx, workers, batch=8, seconds=5.0):
        calls.append((workers, batch))
        return real(n_ctx, workers, batch=8, seconds=0.05)

    monkeypatch.setattr(gpu_data, "prefetch_rate", rate)
    res = gpu_data.measure_prefetch(quick=True)
    assert [w for w, _ in calls] == [0, 1, 2] and set(res["tokens_per_s"]) == {"0", "1", "2"}
    assert all(r > 0 for r in res["tokens_per_s"].values()) and res["speedup"]["0"] == 1.0
    assert res["workers_for_fastest_run"] >= 1 and res["fastest_run_tokens_per_s"] > 0
