"""``python -m distill_scaling book``: execute the chapters through papermill and build the website.

The chapters are the ``book/executed/NN_slug`` entries of ``_toc.yml``. Each is executed from its source
``notebooks/NN_slug.ipynb`` by papermill into a temporary file; its ``parameters`` and
``injected-parameters`` cells are tagged so the website hides them; only a notebook that ran without an
error is moved into ``book/executed/``. Then the explorer page's data is written from the package
(:func:`distill_scaling.explorer.write_explorer_data`, into ``book/_static/``) and
``jupyter-book build . -W -n --keep-going`` builds the website (``_config.yml`` sets
``execute_notebooks: off``: Jupyter Book executes nothing itself).

Examples::

    python -m distill_scaling book                                   # every chapter, profile default
    python -m distill_scaling book --only 01_laws_as_published -p n_points 50
    python -m distill_scaling book --only 01_laws_as_published -f my.yaml
    python -m distill_scaling book --profile smoke --out /tmp/book  # a throw-away copy, in seconds

Parameters given with ``-p`` / ``-f`` are validated against the chapter's specification
(:func:`distill_scaling.notebook.chapter_params`) before anything runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import explorer, notebook, paths
from .params import PROFILES, ParameterError

#: Tags (Jupyter Book) given to the cells papermill reads or writes, so the pages show the chapter, not its
#: plumbing; "hide-cell" keeps them one click away for a reader who wants to see what was run.
HIDDEN_CELL_TAGS = {"parameters": "hide-cell", "injected-parameters": "hide-cell"}

#: Where the toc's chapter pages live, relative to the book root (``book/executed/NN_slug``).
EXECUTED_PREFIX = "book/executed/"

#: What a copy of the book (``--out``) takes from the repository besides the executed notebooks.
COPIED_FILES = ("_config.yml", "_toc.yml", "requirements.txt")
#: Generated folders of ``book/`` that a copy never takes from the repository.
GENERATED_BOOK_DIRS = ("executed", "figures", "_build")


class BookError(RuntimeError):
    """The book cannot be built as asked (bad table of contents, missing notebook, bad option)."""


@dataclass(frozen=True)
class Chapter:
    """One chapter: its name (``NN_slug``), its source notebook and its executed page."""

    name: str
    source: Path
    executed: Path


@dataclass
class Execution:
    """The outcome of executing one chapter."""

    chapter: Chapter
    seconds: float
    ok: bool
    error: str = ""
    failed_notebook: Path | None = None


@dataclass
class SiteBuild:
    """The outcome of ``jupyter-book build``: exit status, log, the warnings in it, the index page."""

    returncode: int
    log: str
    index: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.warnings


# --------------------------------------------------------------------------------------------------------
# Table of contents


def toc_chapters(root: Path = paths.REPO, notebooks_dir: Path | None = None) -> list[Chapter]:
    """The chapters of ``root/_toc.yml`` in reading order: every ``file:`` entry under ``book/executed/``."""
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise BookError(f"no table of contents at {toc_path}")
    toc = yaml.safe_load(toc_path.read_text()) or {}
    notebooks_dir = notebooks_dir or paths.notebooks_dir()
    chapters = []
    for entry in _toc_files(toc):
        entry = entry.removesuffix(".ipynb")
        if entry.startswith(EXECUTED_PREFIX):
            name = entry[len(EXECUTED_PREFIX) :]
            chapters.append(
                Chapter(name, notebooks_dir / f"{name}.ipynb", root / "book" / "executed" / f"{name}.ipynb")
            )
    return chapters


def _toc_files(node: Any) -> Iterator[str]:
    """Every ``file`` value of a ``_toc.yml`` tree, depth first (the reading order)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("file"), str):
            yield node["file"]
        for key, value in node.items():
            if key != "file":
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


# --------------------------------------------------------------------------------------------------------
# Parameters


def parse_value(text: str, name: str = "VALUE") -> Any:
    """A command-line parameter value: bool, None, int, float, a JSON/YAML list or mapping, else the string.

    Numbers like ``1e9`` are floats (YAML 1.1 would read them as strings). A list or mapping that is neither
    JSON nor YAML raises :class:`ParameterError` naming the parameter ``name``.
    """
    lowered = text.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.strip()[:1] in {"[", "{"}:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
        try:
            return yaml.load(text, Loader=_ParamsLoader)
        except yaml.YAMLError as exc:
            raise ParameterError(
                f"parameter {name!r}: {text!r} is not a valid JSON/YAML list or mapping "
                f"({_yaml_problem(exc)})"
            ) from None
    return text


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: what the parser expected and where."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


class _ParamsLoader(yaml.SafeLoader):
    """YAML loader that also reads ``1e9`` and ``3E-4`` as floats, as a scientist writes them."""


_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_params_file(path: Path) -> dict[str, Any]:
    """Parameters from a YAML file holding one mapping ``name: value``."""
    if not path.is_file():
        raise ParameterError(f"parameters file {str(path)!r} does not exist")
    try:
        data = yaml.load(path.read_text(), Loader=_ParamsLoader)
    except yaml.YAMLError as exc:
        raise ParameterError(
            f"parameters file {str(path)!r} is not valid YAML ({_yaml_problem(exc)})"
        ) from None
    except UnicodeDecodeError:
        raise ParameterError(f"parameters file {str(path)!r} is not UTF-8 text") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ParameterError(
            f"parameters file {str(path)!r} must hold one mapping of parameter names to values, "
            f"got {type(data).__name__}"
        )
    return data


def check_params(chapter: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``given`` (``profile`` included) against the chapter's specification; return the full set.

    Raises :class:`ParameterError` naming the parameter and what is allowed.
    """
    return notebook.validate_chapter(chapter, given)


# --------------------------------------------------------------------------------------------------------
# Executing chapters


def kernel_environment(root: Path, profile: str) -> dict[str, str]:
    """What the kernels of a build of the book rooted at ``root`` need in their environment.

    Figures always go to ``root/book/figures`` (the pages refer to them there). A smoke build of a copy keeps
    its throw-away run store inside the copy.
    """
    env = {
        "DS_FIGURES_DIR": str(root / "book" / "figures"),
        "DS_EXECUTED_DIR": str(root / "book" / "executed"),
        # ipykernel's debugger otherwise warns on stderr about frozen modules in every notebook.
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    if profile == "smoke" and root.resolve() != paths.REPO:
        env["DS_SCRATCH_DIR"] = str(root / ".scratch")
    return env


def hide_parameter_cells(nb: Any) -> int:
    """Tag the ``parameters`` / ``injected-parameters`` cells of ``nb`` as hidden; return how many."""
    count = 0
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        for tag, hide in HIDDEN_CELL_TAGS.items():
            if tag in tags and hide not in tags:
                tags.append(hide)
                count += 1
    return count


def execute_chapter(chapter: Chapter, parameters: Mapping[str, Any]) -> Execution:
    """Run ``chapter.source`` through papermill with ``parameters`` into ``chapter.executed``.

    The notebook is written to ``book/executed/.partial/`` while it runs and moved into place only when every
    cell succeeded; a failed notebook is kept under ``book/executed/.failed/`` for inspection.
    """
    import nbformat  # noqa: PLC0415 - only the book build needs the notebook machinery
    import papermill  # noqa: PLC0415 - only the book build needs the notebook machinery
    from traitlets.config import Config  # noqa: PLC0415 - only the book build needs the notebook machinery

    executed_dir = chapter.executed.parent
    partial = executed_dir / ".partial" / chapter.executed.name
    partial.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with _quiet_papermill():
            papermill.execute_notebook(
                str(chapter.source),
                str(partial),
                parameters=dict(parameters),
                kernel_name="python3",
                language="python",
                progress_bar=False,
                cwd=str(chapter.source.parent),
                # Curve-encrypted kernel channels where the kernel supports them; also spares the log
                # ipykernel's warning about plain-text TCP.
                config=Config({"KernelManager": {"transport_encryption": "auto"}}),
            )
    except Exception as exc:  # papermill raises its own error for a cell, others for a dead kernel
        failed = executed_dir / ".failed" / chapter.executed.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():
            os.replace(partial, failed)
        with contextlib.suppress(OSError):
            partial.parent.rmdir()  # empty once the notebook moved to .failed/
        seconds = time.perf_counter() - start
        return Execution(chapter, seconds, False, _describe_error(exc), failed if failed.exists() else None)
    nb = nbformat.read(partial, as_version=4)
    hide_parameter_cells(nb)
    nbformat.write(nb, partial)
    os.replace(partial, chapter.executed)
    with contextlib.suppress(OSError):
        partial.parent.rmdir()
    return Execution(chapter, time.perf_counter() - start, True)


@contextlib.contextmanager
def _quiet_papermill() -> Iterator[None]:
    """Only papermill's errors: it warns about parameter comments it cannot parse (documentation here) and
    chats at INFO, while the command prints one line per notebook and the chapter validates its parameters."""
    log = logging.getLogger("papermill")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _describe_error(exc: BaseException) -> str:
    """One line for a failed notebook: the exception its cell raised (papermill keeps name and text)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------------------
# Building the website


def prepare_copy(out: Path) -> None:
    """Lay out a copy of the book's sources in ``out``: config, table of contents, prose pages, bib, assets.

    Executed notebooks and figures are not copied: the build executes the chapters into the copy.
    """
    out = out.resolve()
    if out == paths.REPO:
        raise BookError("--out must be a folder other than the repository itself")
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED_FILES:
        shutil.copy2(paths.REPO / name, out / name)

    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder).resolve() == paths.book_dir():
            return {n for n in names if n in GENERATED_BOOK_DIRS}
        return set()

    shutil.copytree(paths.book_dir(), out / "book", ignore=ignore, dirs_exist_ok=True)


def jupyter_book_command() -> list[str]:
    """The ``jupyter-book`` executable of this environment."""
    beside = Path(sys.executable).with_name("jupyter-book")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise BookError("jupyter-book is not installed in this environment (pip install -r requirements.txt)")
    return [found]


_WARNING = re.compile(r"(WARNING|ERROR|CRITICAL):")


def build_site(root: Path, echo: bool = True) -> SiteBuild:
    """``jupyter-book build root -W -n --keep-going --all``; collect its warnings.

    ``--all`` rebuilds every page, so that a warning of an unchanged page is reported again, not hidden by
    Sphinx's incremental build.
    """
    command = [*jupyter_book_command(), "build", str(root), "-W", "-n", "--keep-going", "--all"]
    process = subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
    returncode = process.wait()
    log = "".join(lines)
    warnings = [line.strip() for line in lines if _WARNING.search(line)]
    return SiteBuild(returncode, log, root / "_build" / "html" / "index.html", warnings)


# --------------------------------------------------------------------------------------------------------
# The command


@dataclass
class BookRun:
    """What ``run`` did: the executions (in order), the site build (None if skipped) and the exit status."""

    executions: list[Execution]
    site: SiteBuild | None
    returncode: int


def chapters_to_execute(
    chapters: Sequence[Chapter], only: Sequence[str] | None, keep_executed: bool
) -> list[tuple[Chapter, bool]]:
    """For each chapter, whether it runs with the command's parameters (``True``), with its profile only
    because its page is missing (``False``), or not at all (left out of the list)."""
    names = [c.name for c in chapters]
    unknown = [n for n in only or () if n not in names]
    if unknown:
        raise BookError(
            f"--only {', '.join(unknown)}: not a chapter of _toc.yml; allowed: {', '.join(names) or '(none)'}"
        )
    todo = []
    for chapter in chapters:
        if only:
            if chapter.name in only:
                todo.append((chapter, True))
            elif not chapter.executed.exists():
                todo.append((chapter, False))
        elif not (keep_executed and chapter.executed.exists()):
            todo.append((chapter, True))
    return todo


def run(  # noqa: C901 - the build's steps in order (prepare, execute, build, publish), each with its own failure path
    *,
    profile: str = "default",
    only: Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    out: Path | None = None,
    keep_executed: bool = False,
    build: bool = True,
    echo_build: bool = True,
) -> BookRun:
    """Execute the chapters (all, or ``only`` with ``params``) and build the website.

    Everything the arguments can get wrong (unknown chapter, missing notebook, bad parameter) is checked
    before the first notebook runs. ``out`` builds a copy of the book there instead of in the repository.
    """
    params = dict(params or {})
    profile = params.pop("profile", profile)
    if params and not only:
        raise BookError("parameters (-p / -f) belong to one chapter: name it with --only NN_slug")
    root = Path(out).resolve() if out is not None else paths.REPO
    if root == paths.REPO and out is not None:
        raise BookError("--out must be a folder other than the repository itself")
    # Validate against the repository's table of contents before anything is written (a copy gets the same).
    for chapter, with_params in _validated_plan(toc_chapters(paths.REPO), only, keep_executed=False):
        check_params(chapter.name, {"profile": profile, **(params if with_params else {})})
    if out is not None:
        prepare_copy(root)
    todo = _validated_plan(toc_chapters(root), only, keep_executed)

    (root / "book" / "executed").mkdir(parents=True, exist_ok=True)
    executions = []
    if todo:
        where = (root / "book" / "executed").relative_to(root)
        print(f"Executing {len(todo)} notebook(s) with profile {profile!r} into {where}/", flush=True)
    with paths.environment(kernel_environment(root, profile)):
        for i, (chapter, with_params) in enumerate(todo, 1):
            print(f"[{i}/{len(todo)}] {chapter.name} ...", end=" ", flush=True)
            given = {"profile": profile, **(params if with_params else {})}
            result = execute_chapter(chapter, given)
            executions.append(result)
            print(f"{result.seconds:.1f} s {'ok' if result.ok else 'FAILED'}", flush=True)
            if not result.ok:
                print(f"    {result.error}", flush=True)
                if result.failed_notebook is not None:
                    print(f"    the failed notebook is {result.failed_notebook}", flush=True)
    failed = [e for e in executions if not e.ok]
    if failed:
        names = ", ".join(e.chapter.name for e in failed)
        print(
            f"error: {len(failed)} notebook(s) failed ({names}); the website was not rebuilt", file=sys.stderr
        )
        return BookRun(executions, None, 1)
    if not build:
        return BookRun(executions, None, 0)
    # The explorer page's data, from the package as it is now (the page computes with it in the browser).
    explorer.write_explorer_data(root / "book" / "_static")
    site = build_site(root, echo=echo_build)
    if not site.ok:
        print(
            f"error: jupyter-book build failed (exit {site.returncode}, {len(site.warnings)} warning(s)):",
            file=sys.stderr,
        )
        for warning in site.warnings:
            print(f"    {warning}", file=sys.stderr)
        return BookRun(executions, site, 1)
    print(f"\nThe website is at {site.index}")
    print(f"Open it in a browser, or serve it: python -m http.server --directory {site.index.parent}")
    return BookRun(executions, site, 0)


def _validated_plan(
    chapters: Sequence[Chapter], only: Sequence[str] | None, keep_executed: bool
) -> list[tuple[Chapter, bool]]:
    """:func:`chapters_to_execute`, and a :class:`BookError` if a chapter to execute has no source
    notebook."""
    todo = chapters_to_execute(chapters, only, keep_executed)
    missing = [_shown(c.source) for c, _ in todo if not c.source.is_file()]
    if missing:
        raise BookError(f"_toc.yml lists chapters whose source notebook is missing: {', '.join(missing)}")
    return todo


def _shown(path: Path) -> str:
    """A path as a message shows it: relative to the repository when it is inside it."""
    return str(path.relative_to(paths.REPO)) if path.is_relative_to(paths.REPO) else str(path)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m distill_scaling book",
        description="Execute the chapters of _toc.yml through papermill into book/executed/, then build the "
        "website with jupyter-book (-W: any warning fails the build).",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NN_slug",
        help="re-execute only this chapter (repeatable); the others keep their executed notebooks "
        "(and are executed if they have none)",
    )
    p.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter of the --only chapter (like papermill's -p; VALUE may be a JSON/YAML list)",
    )
    p.add_argument(
        "-f",
        "--params-file",
        type=Path,
        metavar="YAML",
        help="parameters of the --only chapter from a YAML mapping; -p values take precedence",
    )
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="default",
        help="smoke: seconds, throw-away results; default: the book (committed records); full: trains "
        "whatever is missing (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="build a copy of the book (config, toc, prose, bibliography, executed notebooks) in DIR",
    )
    p.add_argument(
        "--keep-executed",
        action="store_true",
        help="execute only chapters whose executed notebook is missing",
    )
    p.add_argument("--no-build", action="store_true", help="execute the notebooks, do not build the website")
    p.add_argument("-q", "--quiet", action="store_true", help="print jupyter-book's log only if it fails")
    return p


def cli(argv: list[str]) -> int:
    """Entry point of ``python -m distill_scaling book``."""
    args = parser().parse_args(argv)
    try:
        params: dict[str, Any] = {}
        if args.params_file is not None:
            params.update(load_params_file(args.params_file))
        params.update({name: parse_value(value, name) for name, value in args.param})
        result = run(
            profile=args.profile,
            only=args.only,
            params=params,
            out=args.out,
            keep_executed=args.keep_executed,
            build=not args.no_build,
            echo_build=not args.quiet,
        )
    except (ParameterError, BookError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.quiet and result.site is not None and not result.site.ok and not result.site.warnings:
        sys.stderr.write(result.site.log[-6000:])  # no warning to show: the build itself broke
    return result.returncode
