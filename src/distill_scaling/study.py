"""The study: the run designs of every block, in priority order, and the ``study`` command.

Every block is a function returning :class:`~distill_scaling.runs.RunSpec` objects; ``python -m
distill_scaling study`` trains whatever records are missing (``runs.ensure``), so a complete record set
trains nothing and an interrupted study resumes where it stopped. Blocks run in the order of
:data:`BLOCKS`, the runs that decide the findings first.

Compute is counted the paper's way: C = 3 F(N) D with F the exact forward FLOPs per token of our models
(:func:`distill_scaling.flops.forward_flops`), not 6ND, which undercounts small models by 40-65%.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import paths
from .runs import MAX_EPOCHS, MIN_BATCH_SEQS, MIN_STEPS, RunSpec

#: Peak learning rate of every run (muP simple: one rate for all widths). Chosen from the learning-rate
#: sweep of the Setup chapter; ``tests/test_study.py`` checks that the recorded sweep still supports it.
STUDY_LR = 1e-2

#: Seeds of the noise block (init seed = data-order seed).
NOISE_SEEDS = (0, 1, 2)

#: Supervised IsoFLOP budgets, in FLOPs (3 F D).
ISOFLOP_BUDGETS = (1e12, 3e12, 1e13, 3e13)

#: Models the study draws on (zoo names, smallest first).
STUDY_MODELS = ("L1-d16", "L2-d32", "L3-d48", "L4-d64", "L5-d80", "L6-d96", "L7-d112", "L8-d128")


def _forward_flops(model: str) -> float:
    from . import flops
    from .model import config_from_name

    return float(flops.forward_flops(config_from_name(model)))


def _max_tokens(split: str, corpus: str = "text") -> int:
    from .runs import _split_size

    size = _split_size(corpus, split)
    return int(MAX_EPOCHS * size) if size is not None else sys.maxsize


def min_tokens(model: str) -> int:
    """The fewest tokens that still give MIN_STEPS optimiser steps at the smallest batch."""
    from .model import config_from_name

    return MIN_STEPS * MIN_BATCH_SEQS * config_from_name(model).n_ctx


def feasible(model: str, tokens: float, split: str) -> bool:
    """Whether a run of ``tokens`` on ``split`` keeps >= MIN_STEPS steps and <= MAX_EPOCHS epochs."""
    return min_tokens(model) <= tokens <= _max_tokens(split)


def tokens_for_compute(model: str, compute: float) -> int:
    """Tokens D with 3 F(N) D = compute."""
    return int(round(compute / (3.0 * _forward_flops(model))))


def supervised(model: str, tokens: int, *, seed: int = 0, split: str = "teacher") -> RunSpec:
    """A supervised run of the study (teachers train on the teacher split)."""
    return RunSpec(model, tokens=int(tokens), split=split, lr=STUDY_LR, seed=seed, data_seed=seed)


# --- blocks -------------------------------------------------------------------------------------------------


#: Configurations (model, compute) of the noise block: IsoFLOP points near the expected optima.
NOISE_CONFIGS = (("L1-d16", 1e12), ("L2-d32", 1e12), ("L2-d32", 3e12), ("L3-d48", 3e12), ("L4-d64", 3e12))


def noise_block() -> list[RunSpec]:
    """IsoFLOP points repeated over seeds: the seed-to-seed spread that every fit and verdict carries.

    Seed 0 of each configuration is the IsoFLOP run itself, so the block adds the other seeds."""
    return [supervised(m, tokens_for_compute(m, c), seed=s) for m, c in NOISE_CONFIGS for s in NOISE_SEEDS]


def isoflop_block(budgets: Sequence[float] = ISOFLOP_BUDGETS) -> list[RunSpec]:
    """Supervised IsoFLOP profiles (paper Fig. 36b analogue): every study model whose run is feasible."""
    specs = []
    for c in budgets:
        for m in STUDY_MODELS:
            d = tokens_for_compute(m, c)
            if feasible(m, d, "teacher"):
                specs.append(supervised(m, d))
    return specs


@dataclass(frozen=True)
class Block:
    name: str
    build: Callable[[], list[RunSpec]]
    description: str


BLOCKS: dict[str, Block] = {
    b.name: b
    for b in (
        Block(
            "isoflop-small", lambda: isoflop_block(ISOFLOP_BUDGETS[:2]), "supervised IsoFLOPs at 1e12, 3e12"
        ),
        Block("noise", noise_block, "seed-to-seed spread: 5 IsoFLOP configurations x 3 seeds"),
        Block(
            "isoflop-large", lambda: isoflop_block(ISOFLOP_BUDGETS[2:]), "supervised IsoFLOPs at 1e13, 3e13"
        ),
    )
}


def specs_for(blocks: Sequence[str]) -> list[RunSpec]:
    """The specs of the named blocks, in order, without duplicates."""
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown:
        raise ValueError(f"unknown study block(s) {unknown}; allowed: {', '.join(BLOCKS)}")
    seen: dict[str, RunSpec] = {}
    for b in blocks:
        for s in BLOCKS[b].build():
            seen.setdefault(s.key, s)
    return list(seen.values())


# --- the command --------------------------------------------------------------------------------------------


def _commit_loop(stop: threading.Event, every_s: float) -> None:
    """Commit new run records every ``every_s`` seconds (and once more at the end), so a session that ends
    loses nothing."""
    while True:
        stopped = stop.wait(every_s)
        commit_records()
        if stopped:
            return


def commit_records() -> bool:
    """``git commit`` the run store's new records (only ``data/runs``); True if something was committed."""
    folder = paths.runs_dir()
    try:
        rel = folder.relative_to(paths.REPO)
    except ValueError:
        return False
    for _ in range(10):
        add = subprocess.run(["git", "add", str(rel)], cwd=paths.REPO, capture_output=True, text=True)
        if add.returncode == 0:
            break
        time.sleep(3)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only", "--", str(rel)],
        cwd=paths.REPO,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not staged:
        return False
    msg = f"study: record {len(staged)} finished run(s)"
    for _ in range(10):
        res = subprocess.run(
            ["git", "commit", "-q", "-m", msg, "--", str(rel)], cwd=paths.REPO, capture_output=True, text=True
        )
        if res.returncode == 0:
            return True
        time.sleep(3)
    return False


def cli(argv: list[str]) -> int:
    from . import runs

    parser = argparse.ArgumentParser(
        prog="python -m distill_scaling study", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--blocks",
        default=",".join(BLOCKS),
        help=f"comma-separated blocks, in order (default: all: {list(BLOCKS)})",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="training processes (default: measured best)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="threads per process (default: measured best)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the missing runs and their compute; train nothing"
    )
    parser.add_argument(
        "--commit-every", type=float, default=0, help="git-commit new records every N minutes"
    )
    args = parser.parse_args(argv)
    blocks = [b.strip() for b in args.blocks.split(",") if b.strip()]
    try:
        specs = specs_for(blocks)
    except ValueError as exc:
        parser.error(str(exc))
    missing = [s for s in specs if not runs.exists(s)]
    flops = sum(runs.run_flops(s)["total"] for s in missing) if missing else 0.0
    print(f"study: {len(specs)} runs in blocks {blocks}; {len(missing)} missing ({flops:.3g} FLOPs)")
    if args.dry_run:
        for s in missing:
            print(f"  {s.key}  {s.label()}  {runs.run_flops(s)['total']:.3g} FLOPs")
        return 0
    if not missing:
        print("study: every record is there; nothing to train")
        return 0
    stop = threading.Event()
    committer = None
    if args.commit_every > 0:
        committer = threading.Thread(target=_commit_loop, args=(stop, 60 * args.commit_every), daemon=True)
        committer.start()
    try:
        for b in blocks:  # block by block, so the deciding runs land first
            todo = [s for s in BLOCKS[b].build() if not runs.exists(s)]
            if todo:
                print(f"study: block {b}: {len(todo)} runs")
                runs.ensure(todo, workers=args.workers, threads=args.threads)
    finally:
        stop.set()
        if committer is not None:
            committer.join()
    return 0
