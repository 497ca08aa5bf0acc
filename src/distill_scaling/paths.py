"""Where the repository, its committed data, the caches and the generated book files live.

Nothing else in the package hard-codes a path. Environment variables let tests and the smoke profile
redirect every *written* location to a temporary folder, so that committed records are never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

#: The repository root (the book root): three levels above this file in the src layout.
REPO = Path(__file__).resolve().parents[2]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Committed inputs and results (corpus, run records, reference data, fitted coefficients)."""
    return _env_path("DS_DATA_DIR", REPO / "data")


def runs_dir() -> Path:
    """The run store: one JSON record per finished run."""
    return _env_path("DS_RUNS_DIR", data_dir() / "runs")


def cache_dir() -> Path:
    """Git-ignored cache: checkpoints, resumable state, downloads."""
    return _env_path("DS_CACHE_DIR", REPO / ".cache")


def checkpoints_dir() -> Path:
    return cache_dir() / "checkpoints"


def book_dir() -> Path:
    return REPO / "book"


def figures_dir() -> Path:
    """Every figure of the book is also saved here as a file."""
    return _env_path("DS_FIGURES_DIR", book_dir() / "figures")


def executed_dir() -> Path:
    """Notebooks executed by papermill, the pages the book is built from."""
    return _env_path("DS_EXECUTED_DIR", book_dir() / "executed")


def notebooks_dir() -> Path:
    """Parameterized source notebooks (no outputs)."""
    return REPO / "notebooks"


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables (``DS_*`` redirects; processes started inside inherit them) for the
    duration of the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
