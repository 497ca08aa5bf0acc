"""Replay recorded runs on another device into a scratch run store, and compare their losses with the records.

The device check of a session that has a GPU: every run of the study, trained again on CUDA from its spec,
lands in a temporary run store (the committed one is never touched), and each replayed final validation loss
is compared with its committed CPU record, next to the seed noise of the same model size::

    python -m distill_scaling bench --only replay          # all the study's runs, on CUDA
    python -m distill_scaling bench --only replay --quick  # the smallest runs only

Without a CUDA device the section is skipped. The same code replays on the CPU in the tests (two tiny runs),
where a replay must reproduce its record.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import comparisons, paths, runs, store, study
from .spec import RunSpec, run_flops

#: Runs the quick replay takes: the cheapest of the study.
QUICK_RUNS = 8


@contextmanager
def scratch_store(root: Path) -> Iterator[Path]:
    """Point the run store and the training cache at ``root`` for the duration (worker processes inherit
    it), so that a replay neither reads the committed runs' checkpoints nor writes records beside them."""
    with paths.environment({"DS_RUNS_DIR": str(root / "runs"), "DS_CACHE_DIR": str(root / "cache")}):
        yield root / "runs"


def committed_study_specs(runs_dir: Path | None = None) -> list[RunSpec]:
    """The specs of every committed run of the study (the study's learning rate), cheapest first, each
    distillation run carrying its teacher's spec (so that the replay trains the teacher first)."""
    out = []
    for rec in store.iter_records(runs_dir):
        spec = RunSpec.from_dict(rec["spec"])
        if spec.lr != study.STUDY_LR:
            continue
        teacher = store.teacher_spec_of(spec, runs_dir)
        out.append(spec if teacher is None else RunSpec.from_dict({**rec["spec"], "teacher_spec": teacher}))
    return sorted(out, key=lambda s: run_flops(s)["total"])


#: Runs trained between two looks at the clock in a replay with a time budget (each look starts a new pool
#: of workers, so not too few).
REPLAY_CHUNK = 48


def replay(
    specs: Sequence[RunSpec],
    device: str,
    *,
    workers: int = 1,
    committed_dir: Path | None = None,
    seconds: float | None = None,
    **train_kwargs: Any,
) -> dict[str, Any]:
    """Train ``specs`` again on ``device`` in a scratch store; return the wall time and, per run, the
    committed and the replayed final validation loss, with the seed noise of its size and kind of run.

    ``seconds``: a time budget. The runs are trained in their order (cheapest first, as
    :func:`committed_study_specs` gives them), :data:`REPLAY_CHUNK` at a time, and no further chunk starts
    once the FLOPs rate so far says it would end past the budget; what was trained is compared, and
    ``runs_left`` says how many were not. Small runs reach fewer FLOPs per second than large ones, so the rate
    so far overstates a later chunk's time: the budget is kept, not filled."""
    if seconds is not None and not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"replay(seconds={seconds!r}) is invalid; allowed: a number > 0 or None")
    committed = store.load_records(committed_dir)
    noise = comparisons.seed_noise(committed[committed["lr"] == study.STUDY_LR]) if len(committed) else None
    specs = list(specs)
    chunk = len(specs) if seconds is None else REPLAY_CHUNK
    t0 = time.perf_counter()
    done, flops_done = 0, 0.0
    with tempfile.TemporaryDirectory(prefix="ds-replay-") as tmp, scratch_store(Path(tmp)) as scratch:
        while done < len(specs):
            nxt = specs[done : done + chunk]
            flops = sum(run_flops(s)["total"] for s in nxt)
            elapsed = time.perf_counter() - t0
            if seconds is not None and done and elapsed + flops * elapsed / flops_done > seconds:
                break
            runs.ensure(nxt, workers=workers, threads=1, progress=False, device=device, **train_kwargs)
            done, flops_done = done + len(nxt), flops_done + flops
        replayed = store.load_records(scratch)
    wall = time.perf_counter() - t0
    joined = committed.reset_index(drop=True).merge(
        replayed.reset_index(drop=True)[["key", "val_loss"]], on="key", suffixes=("_committed", "_replayed")
    )
    rows = []
    for r in joined.itertuples():
        kind = "distilled" if isinstance(r.teacher, str) else "supervised"
        sd = np.nan
        if noise is not None and len(noise):  # no size repeated over seeds: the noise is unknown
            sd, _ = comparisons.noise_of(noise, r.model, kind)
        rows.append(
            {
                "key": r.key,
                "model": r.model,
                "kind": kind,
                "committed": float(r.val_loss_committed),
                "replayed": float(r.val_loss_replayed),
                "difference": float(r.val_loss_replayed - r.val_loss_committed),
                "seed_noise": float(sd),
            }
        )
    return {
        "device": device,
        "runs": len(rows),
        "runs_left": len(specs) - done,
        "budget_s": seconds,
        "wall_s": wall,
        "per_run": rows,
        **summary(pd.DataFrame(rows)),
    }


def summary(per_run: pd.DataFrame) -> dict[str, float]:
    """The distribution of replayed minus committed losses, and of its size against the seed noise."""
    if per_run.empty:
        return {}
    d = per_run["difference"].to_numpy(float)
    ratio = (per_run["difference"].abs() / per_run["seed_noise"]).to_numpy(float)
    ratio = ratio[np.isfinite(ratio)]
    return {
        "difference_mean": float(d.mean()),
        "difference_median": float(np.median(d)),
        "difference_abs_max": float(np.abs(d).max()),
        "difference_quantiles": {q: float(np.quantile(d, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        "over_seed_noise_median": float(np.median(ratio)) if ratio.size else float("nan"),
        "over_seed_noise_max": float(ratio.max()) if ratio.size else float("nan"),
    }
