"""The figure inventory page (book/figure_inventory.md) covers the whole paper and links only to what exists.

The book builds with -W, so a {numref} to a label no chapter defines breaks the build; this test says which
one without building anything.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from distill_scaling import book, paths

PAGE = paths.book_dir() / "figure_inventory.md"
#: The paper (arXiv v2) has Figs. 1-54 and Tables 1-13 (digest section 8).
PAPER_FIGURES = 54
PAPER_TABLES = 13

ROW = re.compile(r"^\|\s*(Fig\.|Table)\s+(\d+)\s*\|(.*)\|\s*$")
ROLE = re.compile(r"\{(numref|ref)\}`([^`]+)`")
LINK = re.compile(r"(?<!\!)\[[^\]]+\]\(([^)\s]+)\)")
NAME = re.compile(r"^:name:\s*(\S+)\s*$", re.M)
TARGET = re.compile(r"^\(([^)\s]+)\)=\s*$", re.M)


def _toc_files() -> list[str]:
    toc = yaml.safe_load((paths.REPO / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for key, value in node.items():
                if key != "file":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return files


def defined_labels() -> set[str]:
    """Every ``:name:`` and ``(label)=`` target of the pages the book builds (chapters and prose pages)."""
    labels: set[str] = set()
    for chapter in book.toc_chapters():
        if chapter.source.exists():
            nb = nbformat.read(chapter.source, as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
            labels |= set(NAME.findall(text)) | set(TARGET.findall(text))
    for entry in _toc_files():
        if not entry.startswith(book.EXECUTED_PREFIX):
            page = paths.REPO / f"{entry}.md"
            if page.exists():
                text = page.read_text()
                labels |= set(NAME.findall(text)) | set(TARGET.findall(text))
    return labels


def linked_labels(text: str) -> list[str]:
    """Labels referenced by {numref}/{ref} roles; ``text <label>`` forms give the part in angle brackets."""
    out = []
    for _, content in ROLE.findall(text):
        match = re.search(r"<([^>]+)>\s*$", content)
        out.append(match.group(1) if match else content.strip())
    return out


def rows(text: str) -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            key = (match.group(1), int(match.group(2)))
            assert key not in found, f"{key[0]} {key[1]} has two rows"
            found[key] = match.group(3)
    return found


def test_page_is_in_the_table_of_contents():
    assert PAGE.exists()
    assert "book/figure_inventory" in _toc_files()


def test_every_figure_and_table_of_the_paper_has_one_row():
    found = rows(PAGE.read_text())
    expected = {("Fig.", i) for i in range(1, PAPER_FIGURES + 1)} | {
        ("Table", i) for i in range(1, PAPER_TABLES + 1)
    }
    assert not expected - set(found), f"missing rows: {sorted(expected - set(found))}"
    assert not set(found) - expected, f"rows that are not in the paper: {sorted(set(found) - expected)}"
    for key, rest in found.items():
        cells = [c.strip() for c in rest.split("|")]
        assert len(cells) == 3 and all(cells), f"{key}: every row needs what it shows, what we do, and where"


def test_every_linked_label_is_defined():
    text = PAGE.read_text()
    linked = linked_labels(text)
    assert linked, "the page links to no figure at all"
    missing = sorted(set(linked) - defined_labels())
    assert not missing, (
        f"figure_inventory.md links to labels no page defines: {missing}; list them as 'planned' in plain "
        "text until their chapter lands"
    )


def test_every_page_link_resolves():
    chapters = {c.name: c for c in book.toc_chapters()}
    toc = set(_toc_files())
    for target in LINK.findall(PAGE.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path = target.split("#")[0]
        if path.startswith("executed/"):
            name = Path(path).stem
            assert name in chapters, f"link to {target}: {name} is not a chapter of _toc.yml"
            assert chapters[name].source.exists(), f"link to {target}: notebooks/{name}.ipynb does not exist"
        else:
            doc = f"book/{Path(path).with_suffix('')}"
            assert doc in toc, f"link to {target}: {doc} is not a page of _toc.yml"


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("{numref}`fig-a` and {ref}`see <sec-b>`", ["fig-a", "sec-b"]),
        ("planned: fig-c, not linked", []),
        ("{numref}`Figure %s <fig-d>`", ["fig-d"]),
    ],
)
def test_label_parser(text, labels):
    assert linked_labels(text) == labels
