"""Data for the gpu profile, chosen by measurement: ``python -m distill_scaling bench --only gpu-data``.

:func:`measure` builds the large English corpus from the registries (:mod:`distill_scaling.corpus_large`; the
download is timed), reads how many unique bytes it holds, sets them against what the gpu profile's runs need
within four epochs (:func:`need`), and measures the synthetic language's side: its sampler's rate against the
rate the fastest gpu run would read tokens at (``gpu_cost``), its loss floor at the profile's context and its
n-gram losses beside the committed text's. :func:`choose` names the corpus the numbers favour: the real one
when it holds every run of the profile within four epochs, else the synthetic language, whose supply has no
end. ``study.PROFILE_CORPUS["gpu"]`` is that choice, and a test checks the saved measurement still makes it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from typing import Any

import torch

from . import corpus, corpus_build, corpus_large, gpu_cost, paths, prefetch, store, study
from .spec import MAX_EPOCHS, RunSpec, run_flops

#: Batch of the sampler measurement: the gpu profile's largest batch (sequences of context + 1 tokens).
SAMPLER_BATCH = 256


def need(specs: Sequence[RunSpec], split_tokens: dict[str, int] | None = None) -> dict[str, Any]:
    """What runs need of a corpus: per split, the most tokens one run reads and the split size that allows
    it within MAX_EPOCHS epochs; with ``split_tokens`` (a real corpus's split sizes), the runs that would read
    more than MAX_EPOCHS epochs of it, their share of the FLOPs, and per IsoFLOP budget how many of its
    models stay within them."""
    out: dict[str, Any] = {"max_epochs": MAX_EPOCHS, "splits": {}}
    for split in ("teacher", "student"):
        tokens = [s.tokens_trained for s in specs if s.split == split]
        largest = max(tokens, default=0)
        out["splits"][split] = {"largest_run_tokens": largest, "split_tokens_needed": largest / MAX_EPOCHS}
    out["total_tokens_needed"] = sum(v["split_tokens_needed"] for v in out["splits"].values())
    if split_tokens is None:
        return out
    over = [s for s in specs if s.tokens_trained > MAX_EPOCHS * split_tokens[s.split]]
    flops = {s.key: run_flops(s, s.teacher_spec)["total"] for s in specs}
    out["runs"] = len(specs)
    out["runs_over_four_epochs"] = len(over)
    out["flops_share_over_four_epochs"] = sum(flops[s.key] for s in over) / sum(flops.values())
    cap = MAX_EPOCHS * split_tokens["teacher"]
    out["isoflop_models"] = {
        f"{c:.0e}": {
            "designed": len(iso := study.gpu_isoflop_block([c])),
            "within_four_epochs": sum(s.tokens_trained <= cap for s in iso),
        }
        for c in study.GPU_BUDGETS
    }
    return out


def prefetch_rate(n_ctx: int, workers: int, batch: int = SAMPLER_BATCH, seconds: float = 5.0) -> float:
    """Tokens per second the synthetic language's sampler delivers to a training loop (batches of ``batch``
    documents of ``n_ctx + 1`` tokens, as training draws them) through ``workers`` processes making batches
    ahead (:mod:`distill_scaling.prefetch`; 0: the sampler alone, in this process), in the steady state: the
    first batch (tables built) and those made while the workers started are taken before the clock starts."""
    source = corpus.get_source("synthetic")
    stream = prefetch.batches(source, "teacher", 0, 10**9, batch, n_ctx, 0, workers)
    for _ in range(1 + workers * (prefetch.PREFETCH_PER_WORKER + 1)):
        next(stream)
    t0, tokens = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        x, _ = next(stream)
        tokens += x.numel()
    rate = tokens / (time.perf_counter() - t0)
    del stream  # its workers stop
    return rate


def measure_prefetch(quick: bool = False) -> dict[str, Any]:
    """The batches made ahead for the gpu profile (``bench --only prefetch``): the sampler's rate in the
    training process and through 1 to (cores) worker processes, beside the rate the fastest gpu run reads
    at on an H200 (``gpu_cost``) and how many workers at the one-worker rate that takes."""
    specs = study.profile_specs("gpu")
    n_ctx = specs[0].config.n_ctx
    source = corpus.get_source("synthetic")
    seconds = 1.0 if quick else 5.0
    counts = [0, *range(1, (os.cpu_count() or 1) + 1)]
    print(f"synthetic batches of {SAMPLER_BATCH} x {n_ctx + 1} tokens, {os.cpu_count()} cores:", flush=True)
    rates = {}
    for w in counts:
        rates[str(w)] = prefetch_rate(n_ctx, w, seconds=seconds)
        where = "in the training process" if w == 0 else f"{w} worker process(es) ahead"
        print(f"  {where:<32} {rates[str(w)] / 1e6:6.2f}M tokens/s ({rates[str(w)] / rates['0']:.2f}x)")
    fastest = max(token_rates(specs))
    print(
        f"  the fastest gpu run reads {fastest / 1e6:.1f}M tokens/s on an H200: "
        f"{math.ceil(fastest / rates['1'])} workers at the one-worker rate",
        flush=True,
    )
    return {
        "batch": [SAMPLER_BATCH, n_ctx + 1],
        "cores": os.cpu_count(),
        "tokens_per_s": rates,
        "speedup": {w: r / rates["0"] for w, r in rates.items()},
        "fastest_run_tokens_per_s": fastest,
        "workers_for_fastest_run": math.ceil(fastest / rates["1"]),
        "default_workers_on_cuda": prefetch.default_workers(source, torch.device("cuda")),
    }


def token_rates(specs: Sequence[RunSpec]) -> list[float]:
    """Training tokens per second of each run on one H200 at the measured utilisation (gpu_cost)."""
    return [s.tokens_trained / (3600.0 * gpu_cost.run_hours(s)) for s in specs]


def choose(measured: dict[str, Any]) -> str:
    """The gpu profile's corpus the measurement favours: ``large`` when the real corpus holds every run within
    four epochs, else ``synthetic``."""
    return "large" if measured["need_large"]["runs_over_four_epochs"] == 0 else "synthetic"


def measure(quick: bool = False, refresh: bool = True) -> dict[str, Any]:
    """The measurement behind the gpu profile's data (``bench --only gpu-data``); JSON-ready. ``quick`` keeps
    a downloaded copy and samples for one second."""
    specs = study.profile_specs("gpu")
    n_ctx = specs[0].config.n_ctx
    t0 = time.perf_counter()
    try:
        prov = corpus_large.build_large(refresh=refresh and not quick, log=lambda m: None)
    except RuntimeError as exc:  # no apt-get, no network: the real side cannot be measured here
        return {"skipped": f"the large corpus could not be built: {exc}"}
    build_s = time.perf_counter() - t0
    splits = {s: v["tokens"] for s, v in prov["splits"].items()}
    syn = corpus.get_source("synthetic")
    rate = prefetch_rate(n_ctx, 0, seconds=1.0 if quick else 5.0)
    rates = token_rates(specs)
    text = corpus_build.read_provenance()["reference_losses_nats_per_token"]
    records = [r for r in store.iter_records() if r["spec"].get("corpus", "text") == "text"]
    out: dict[str, Any] = {
        "large_corpus": {
            "packages": {
                name: {
                    k: p[k] for k in ("version", "bytes", "text_bytes", "unique_document_bytes", "documents")
                }
                for name, p in prov["packages"].items()
            },
            "registry_archive_bytes": sum(p["bytes"] for p in prov["packages"].values()),
            "committed_corpus_bytes": prov["committed_corpus_bytes"],
            "unique_bytes": corpus_large.unique_bytes(prov),
            "split_tokens": splits,
            "download_seconds": prov["seconds"]["download"],
            "build_seconds": build_s,
            "where": str(corpus.large_corpus_dir().relative_to(paths.REPO))
            if corpus.large_corpus_dir().is_relative_to(paths.REPO)
            else str(corpus.large_corpus_dir()),
        },
        "need": need(specs),
        "need_large": need(specs, splits),
        "synthetic": {
            "sampler_tokens_per_s": rate,
            "sampler_batch": [SAMPLER_BATCH, n_ctx + 1],
            "fastest_run_tokens_per_s": max(rates),
            "runs_faster_than_sampler": sum(r > rate for r in rates),
            "entropy_rate": syn.entropy_rate,
            "window_entropy": {"128": syn.window_entropy(128), str(n_ctx): syn.window_entropy(n_ctx)},
            "reference_losses": {
                k: v for k, v in corpus.reference_losses(syn).items() if k in ("unigram", "bigram", "trigram")
            },
            "lexicon_words": syn.language.spec.n_words,
            "topics": syn.language.spec.n_topics,
        },
        "text": {
            "reference_losses": text,
            "best_cpu_val_loss": min((r["results"]["val_loss"] for r in records), default=None),
        },
        "runs": len(specs),
    }
    out["choice"] = choose(out)
    return out


__all__ = ["choose", "measure", "measure_prefetch", "need", "prefetch_rate", "token_rates"]
