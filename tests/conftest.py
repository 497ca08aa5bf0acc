"""Shared fixtures: the session's one smoke build of the book, and the browser that checks it.

The notebooks are executed once per session (``smoke`` profile, into a temporary copy of the book): the
per-notebook tests of ``test_notebooks.py`` and the whole-book build of ``test_book_build.py`` share those
executions, and the browser test of ``test_browser.py`` reads the site that build wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# The machine is shared: one thread per numerical library, in this process and in the notebook kernels.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from distill_scaling import book, paths  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")

#: Locations that ``notebook.setup(profile="smoke")`` points at a temporary folder for the rest of a process.
_REDIRECTS = ("DS_RUNS_DIR", "DS_FIGURES_DIR", "DS_SCRATCH_DIR", "DS_DATA_DIR", "DS_EXECUTED_DIR")


@pytest.fixture(autouse=True)
def _restore_redirects():
    """A test that runs a chapter's smoke setup in-process must not send later tests to its scratch store."""
    before = {v: os.environ.get(v) for v in _REDIRECTS}
    yield
    for var, value in before.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


class SmokeBook:
    """A copy of the book in a temporary folder, executed with the ``smoke`` profile, built at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        book.prepare_copy(root)
        self.chapters = {c.name: c for c in book.toc_chapters(root)}
        self._executions: dict[str, book.Execution] = {}
        self._run: book.BookRun | None = None

    def execute(self, name: str) -> book.Execution:
        """Execute one chapter (once per session) the way ``python -m distill_scaling book`` does."""
        if name not in self._executions:
            with paths.environment(book.kernel_environment(self.root, "smoke")):
                self._executions[name] = book.execute_chapter(self.chapters[name], {"profile": "smoke"})
        return self._executions[name]

    def site(self) -> book.BookRun:
        """``book --profile smoke --out ROOT --keep-executed``: executes what is missing, builds with -W."""
        if self._run is None:
            self._run = book.run(profile="smoke", out=self.root, keep_executed=True, echo_build=False)
            for execution in self._run.executions:  # the per-notebook tests reuse these
                self._executions.setdefault(execution.chapter.name, execution)
        return self._run

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory: pytest.TempPathFactory) -> SmokeBook:
    return SmokeBook(tmp_path_factory.mktemp("smoke-book"))


@pytest.fixture(scope="session")
def built_site(smoke_book: SmokeBook) -> Path:
    """The smoke website's html folder; fails (once, with the reasons) if the build did not succeed."""
    run = smoke_book.site()
    failed = [f"{e.chapter.name}: {e.error}" for e in run.executions if not e.ok]
    assert not failed, "notebooks failed in the smoke build:\n" + "\n".join(failed)
    assert run.site is not None, "the website was not built"
    assert run.site.ok, (
        "jupyter-book build failed:\n" + "\n".join(run.site.warnings) + "\n" + run.site.log[-4000:]
    )
    return smoke_book.html


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt-get when it is missing (as root); fails if it cannot be had."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=900)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env, timeout=1800)
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing and could not be installed: run `apt-get install chromium` as root"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium() -> Path:
    return ensure_chromium()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files for people to look at (screenshots); git-ignored."""
    folder = paths.REPO / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A private run store and checkpoint cache, so tests never touch data/runs."""
    monkeypatch.setenv("DS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "runs"
