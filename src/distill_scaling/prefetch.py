"""Batches drawn ahead: a run's next batches made in worker processes while the device trains on this one.

A run's batch at step k is a pure function of the step (:meth:`corpus.Source.batch`), so workers can make
steps k+1, k+2, ... in any process and the run sees exactly the batches it would have made itself, in the same
order; resuming at step k starts the stream at k. It pays where making a batch is slow beside a training
step: the synthetic language's sampler makes about 2.5M tokens/s on one core (``bench --only gpu-data``),
while the gpu profile's fastest run on an H200 reads several times that. Like the thread count it is an
execution detail, not part of a run's spec: records say how many workers made the batches
(``loader_workers``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator

import torch

from .corpus import Source
from .spec import SpecError

#: Batches each worker keeps ready (torch's ``prefetch_factor``).
PREFETCH_PER_WORKER = 4

#: Upper bound of the default worker count on CUDA (:func:`default_workers`).
MAX_DEFAULT_WORKERS = 4


def check_workers(workers: int | None, name: str = "loader_workers") -> int | None:
    """``workers`` if it is None or an int >= 0; else a :class:`SpecError` naming ``name``."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise SpecError(f"{name}={workers!r} is invalid; allowed: an int >= 0 (0: none) or None (default)")
    return workers


def default_workers(source: Source, device: torch.device) -> int:
    """Workers when none are asked for: none on the CPU (the cores train) or for a stored corpus (a batch
    is a slice); on CUDA, for a generated corpus, a quarter of the cores, 1 to :data:`MAX_DEFAULT_WORKERS`
    (several runs may share one GPU, each with its own workers)."""
    if device.type != "cuda" or not source.generated:
        return 0
    return max(1, min(MAX_DEFAULT_WORKERS, (os.cpu_count() or 1) // 4))


class _Steps(torch.utils.data.Dataset):
    """Item i: the batch of step ``start + i`` of one split, as :meth:`corpus.Source.batch` makes it."""

    def __init__(
        self, source: Source, split: str, start: int, stop: int, batch_size: int, n_ctx: int, seed: int
    ) -> None:
        self.source, self.split, self.start, self.stop = source, split, start, stop
        self.batch_size, self.n_ctx, self.seed = batch_size, n_ctx, seed

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.source.batch(self.split, self.start + i, self.batch_size, self.n_ctx, self.seed)


def batches(
    source: Source,
    split: str,
    start: int,
    stop: int,
    batch_size: int,
    n_ctx: int,
    seed: int,
    workers: int,
    pin_memory: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of steps ``start`` to ``stop - 1`` of ``split``, in order, made by ``workers`` processes
    (0: in this one); ``pin_memory`` for asynchronous copies to a GPU. A daemonic process (a Dask worker)
    may not start processes: there the batches are made in this process."""
    check_workers(workers, "workers")
    if workers and multiprocessing.current_process().daemon:
        workers = 0
    steps = _Steps(source, split, start, stop, batch_size, n_ctx, seed)
    if not workers:
        return (steps[i] for i in range(len(steps)))
    loader = torch.utils.data.DataLoader(
        steps,
        batch_size=None,  # each item is already a batch
        shuffle=False,
        num_workers=workers,
        prefetch_factor=PREFETCH_PER_WORKER,
        pin_memory=pin_memory,
        # fork: the workers inherit the source's tables (the synthetic language, a corpus in memory).
        multiprocessing_context="fork",
    )
    return iter(loader)


__all__ = ["MAX_DEFAULT_WORKERS", "PREFETCH_PER_WORKER", "batches", "check_workers", "default_workers"]
