"""Every chapter of _toc.yml runs through papermill with its ``smoke`` parameters, in a temporary folder.

The executions are the session's smoke book (``conftest.SmokeBook``): the whole-book build reuses them.
Every figure a chapter saves must read on the page (``plots.Legibility``: text of at least 10 pt where shown,
at most two panels in a row). The source notebooks themselves follow the book's conventions: committed without
outputs, a ``parameters`` cell, the ``python3`` kernel, listed in the table of contents.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from distill_scaling import book, paths, plots

CHAPTERS = [c.name for c in book.toc_chapters()]
SOURCES = sorted(p.stem for p in paths.notebooks_dir().glob("*.ipynb"))


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS)
def test_notebook_runs_with_smoke_parameters(smoke_book, name):
    result = smoke_book.execute(name)
    assert result.ok, f"{name} failed with the smoke profile: {result.error} (see {result.failed_notebook})"
    nb = nbformat.read(result.chapter.executed, as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    # A warning our own code raises would print an absolute path into the page.
    leaks = [
        o.text
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "stream" and o.name == "stderr"
        if "distill_scaling/" in o.text and "Warning" in o.text
    ]
    assert not leaks, leaks
    pngs = sorted((smoke_book.root / "book" / "figures" / name).glob("*.png"))
    records = {png.stem: plots.read_legibility(png) for png in pngs}
    unrecorded = [stem for stem, record in records.items() if record is None]
    assert not unrecorded, f"figures not saved by plots.save (no legibility record): {unrecorded}"
    illegible = {stem: record.problems() for stem, record in records.items() if record.problems()}
    assert not illegible, f"figures hard to read at the column's width: {illegible}"
    injected = [c for c in nb.cells if "injected-parameters" in _tags(c)]
    assert len(injected) == 1 and 'profile = "smoke"' in injected[0].source
    for cell in nb.cells:
        if {"parameters", "injected-parameters"} & set(_tags(cell)):
            assert book.HIDDEN_CELL_TAGS.get("parameters") in _tags(cell)


@pytest.mark.parametrize("name", SOURCES)
def test_source_notebook_follows_the_conventions(name):
    path = paths.notebooks_dir() / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert name in CHAPTERS, f"{name}.ipynb is not in _toc.yml: it would never be built or tested"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), (
        "the first cell is the chapter's markdown title"
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    with_outputs = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not with_outputs, f"commit {name}.ipynb without outputs (code cells {with_outputs} have some)"
    parameters = [c for c in code if "parameters" in _tags(c)]
    assert len(parameters) == 1, "exactly one code cell tagged 'parameters'"
    assert parameters[0].source.lstrip().startswith("profile = "), "the parameters cell starts with profile"
    later = code[code.index(parameters[0]) + 1 :]
    assert later and f'setup("{name}", globals())' in later[0].source, (
        f'the cell after the parameters validates them: P = setup("{name}", globals())'
    )


def test_every_chapter_has_a_source_notebook():
    missing = [name for name in CHAPTERS if name not in SOURCES]
    assert not missing, f"_toc.yml lists chapters without notebooks/NN_slug.ipynb: {missing}"


#: Words of the project's process, not of its science: a reader of the book never needs them.
PROCESS_WORDS = re.compile(r"\b(issues?|pending|so far|digest|not yet|closing note|session)\b", re.IGNORECASE)


def test_no_page_speaks_of_the_projects_process():
    pages = {p.name: nbformat.read(p, as_version=4) for p in paths.notebooks_dir().glob("*.ipynb")}
    texts = {
        name: "\n".join(c.source for c in nb.cells if c.cell_type == "markdown") for name, nb in pages.items()
    }
    texts |= {p.name: p.read_text() for p in paths.book_dir().glob("*.md")}
    found = {name: sorted({m.group(0) for m in PROCESS_WORDS.finditer(t)}) for name, t in texts.items()}
    found = {name: words for name, words in found.items() if words}
    assert not found, f"process words on reader's pages (say what is measured instead): {found}"
