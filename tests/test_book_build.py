"""One whole-book build: ``book --profile smoke --out TMP`` (``jupyter-book build -W -n --keep-going``).

The website must be complete (every page of the table of contents), offline (no asset from another host,
MathJax served with the pages), numbered (figures), with hidden parameter cells, download buttons and the
bibliography.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from pybtex.database import parse_file

from distill_scaling import book, explorer, paths

pytestmark = pytest.mark.slow

#: The works every reader of this book needs (the paper and the prior work it builds on).
REQUIRED_KEYS = (
    "busbridge2025distillation",
    "hinton2015distilling",
    "hoffmann2022training",
    "besiroglu2024chinchilla",
    "kaplan2020scaling",
    "wortsman2024small",
    "yang2022tensor",
    "muennighoff2023scaling",
    "caballero2023broken",
)

#: Attributes through which a page loads something (``<a href>`` only links, so it is allowed off-site).
_LOADING = {"script": ("src",), "img": ("src", "srcset"), "iframe": ("src",), "source": ("src", "srcset"),
            "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",),
            "link": ("href",)}  # fmt: skip
_OFFSITE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_CSS_OFFSITE = re.compile(r"(url\(|@import)\s*['\"]?(https?:)?//", re.IGNORECASE)


class _Assets(HTMLParser):
    """Collects (tag, attribute, value) for every attribute that makes the browser load something."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and not (
            {"stylesheet", "icon", "preload", "modulepreload", "manifest"}
            & set((attrs.get("rel") or "").lower().split())
        ):
            return  # <link rel="index|search|next|prev|canonical"> navigates, it loads nothing
        for name in _LOADING.get(tag, ()):
            if attrs.get(name):
                self.found.append((tag, name, attrs[name]))


def _assets(page: Path) -> list[tuple[str, str, str]]:
    parser = _Assets()
    parser.feed(page.read_text())
    return parser.found


def _pages(site: Path) -> list[Path]:
    """The site's HTML pages (not the theme's template fragments that Sphinx copies into ``_static``)."""
    return sorted(
        p for p in site.rglob("*.html") if p.relative_to(site).parts[0] not in {"_static", "_sources"}
    )


def _toc_pages(root: Path) -> list[str]:
    """Every page of ``root/_toc.yml`` (root page included), as ``book/...`` document names."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [toc["root"], *(f.removesuffix(".ipynb").removesuffix(".md") for f in book._toc_files(toc))]


def test_every_page_of_the_toc_is_built(built_site: Path):
    for page in _toc_pages(built_site.parents[1]):  # the toc of the copy that was built
        assert (built_site / f"{page}.html").is_file(), f"{page}.html was not built"
    # the site's entry point sends the reader to the landing page
    assert "book/index.html" in (built_site / "index.html").read_text()


def test_no_asset_is_loaded_from_another_host(built_site: Path):
    pages = _pages(built_site)
    assert pages
    offsite = [
        f"{p.relative_to(built_site)}: <{t} {a}={v!r}>"
        for p in pages
        for t, a, v in _assets(p)
        if _OFFSITE.match(v)
    ]
    assert not offsite, "assets loaded from another host:\n" + "\n".join(offsite)
    css = [
        p
        for p in (built_site / "_static").rglob("*.css")
        if _CSS_OFFSITE.search(p.read_text(errors="ignore"))
    ]
    assert not css, f"stylesheets that load from another host: {css}"


def test_assets_of_the_pages_exist(built_site: Path):
    """Every local script, stylesheet and image a page refers to is part of the site."""
    missing = []
    for page in _pages(built_site):
        for tag, attr, value in _assets(page):
            if attr == "srcset" or _OFFSITE.match(value) or value.startswith("data:"):
                continue
            target = (page.parent / value.split("?")[0].split("#")[0]).resolve()
            if not target.is_file():
                missing.append(f"{page.relative_to(built_site)}: <{tag} {attr}={value!r}>")
    assert not missing, "missing assets:\n" + "\n".join(missing)


def test_mathjax_is_served_with_the_site(built_site: Path):
    index = (built_site / "book" / "index.html").read_text()
    assert re.search(r'<script[^>]+src="[./]*_static/mathjax/tex-chtml-full\.js', index)
    assert (built_site / "_static" / "mathjax" / "tex-chtml-full.js").is_file()
    fonts = list(
        (built_site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")
    )
    assert len(fonts) >= 20, "the CommonHTML fonts MathJax loads beside its script"
    assert index.count('class="math') >= 2, "the landing page shows the two laws as display math"


@pytest.mark.parametrize("name", [c.name for c in book.toc_chapters()])
def test_chapter_page(built_site: Path, name: str):
    html = (built_site / "book" / "executed" / f"{name}.html").read_text()
    figures = re.findall(r'<span class="caption-number">Fig\. [\d.]+ </span>', html)
    assert figures, f"{name} shows no numbered figure"
    bodies = re.findall(r"<figure[^>]*>(.*?)</figure>", html, flags=re.DOTALL)
    without_image = [b[-200:] for b in bodies if "<img" not in b]
    assert not without_image, f"figures of {name} that show no image: {without_image}"
    if name == "01_laws_as_published":
        assert len(figures) >= 5, "the laws chapter regenerates at least five of the paper's figures"
    assert f"_sources/book/executed/{name}.ipynb" in html, "download-notebook button"
    assert (built_site / "_sources" / "book" / "executed" / f"{name}.ipynb").is_file()
    assert "tag_parameters" in html and "tag_hide-cell" in html, "the parameters cell is folded away"
    assert "tag_injected-parameters" in html


def test_landing_page_headline_figure_and_citations(built_site: Path):
    html = (built_site / "book" / "index.html").read_text()
    images = [v for t, a, v in _assets(built_site / "book" / "index.html") if t == "img"]
    assert images, "the landing page shows a headline figure"
    assert '<span class="caption-number">Fig.' in html
    # the bibliography style sets titles in sentence case: compare without case
    references = " ".join((built_site / "book" / "references.html").read_text().lower().split())
    entries = parse_file(paths.book_dir() / "references.bib").entries
    for key in REQUIRED_KEYS:
        title = " ".join(re.sub(r"[{}]", "", entries[key].fields["title"]).lower().split())
        assert title in references, f"{key} ({title}) is not in the bibliography"


def test_bibliography_entries_are_complete():
    entries = parse_file(paths.book_dir() / "references.bib").entries
    for key in REQUIRED_KEYS:
        assert key in entries, key
    for key, entry in entries.items():
        assert entry.persons.get("author"), f"{key} has no author"
        for field in ("title", "year"):
            assert entry.fields.get(field), f"{key} has no {field}"
        assert entry.fields.get("journal") or entry.fields.get("booktitle"), f"{key}: where was it published?"


def test_the_explorer_data_is_written_by_the_build(built_site: Path):
    """The explorer page loads its data beside its script, written by this build from the package."""
    page = (built_site / "book" / "explorer.html").read_text()
    assert re.search(r'<script src="\.\./_static/explorer\.js">', page)
    written = json.loads((built_site / "_static" / explorer.DATA_FILE).read_text())
    assert written == json.loads(json.dumps(explorer.explorer_data()))
