"""The large English corpus: the committed corpus plus Debian documentation and dictionary packages.

``python -m distill_scaling corpus build --source large`` downloads the Debian packages of ``DEB_PACKAGES``
(pinned versions, ``apt-get download``) into the git-ignored cache, reads their English text (reStructuredText
and plain-text sources of the Linux and Python manuals, Perl's POD, the English HTML of the Debian handbook
and of a few manuals, dictionaries, fortunes), cleans and de-duplicates it with the committed corpus's rules
(:mod:`distill_scaling.corpus`), and writes three splits beside a ``PROVENANCE.json`` (sha256 of every input
and output, byte counts per package, timings) into ``<cache>/corpus-large/``: too large to commit, rebuilt
by the command. The committed corpus's documents keep their splits, so its validation text stays held out.
``get_source("large")`` reads the result.

It is what the registries reachable here give of English text, and so the measurement behind the gpu
profile's data choice (``bench --only gpu-data``): how many unique bytes, against what the profile needs.
A ``.deb`` is read in pure Python (an ``ar`` archive holding ``data.tar.*``), so the tests build a tiny one.
"""

from __future__ import annotations

import gzip
import hashlib
import html.parser
import io
import json
import lzma
import re
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import paths
from .corpus import (
    DOC_SEP,
    SPLITS,
    Document,
    LineDeduplicator,
    assign_splits,
    corpus_dir,
    forget_text_splits,
    large_corpus_dir,
    load_text_splits,
    split_streams,
    text_documents,
)


@dataclass(frozen=True)
class DebPackage:
    """A Debian package, the files of it that hold English text (a regex on member paths) and their format."""

    name: str
    version: str
    select: str
    kind: str  # text | html | dict (dictd database: gzip-compatible .dict.dz)

    def command(self) -> list[str]:
        """The ordinary client's command that downloads it into the current folder."""
        return ["apt-get", "download", f"{self.name}={self.version}"]

    def glob(self) -> str:
        return f"{self.name}_*.deb"


#: The Debian (bookworm) packages of the large corpus: every English documentation or text package of some
#: size found with ``apt-cache search`` (see the book's chapter 02 for the measurement).
DEB_PACKAGES = (
    DebPackage("dict-gcide", "0.48.5+nmu2", r"usr/share/dictd/gcide\.dict\.dz$", "dict"),
    DebPackage("dict-wn", "1:3.0-37", r"usr/share/dictd/wn\.dict\.dz$", "dict"),
    DebPackage("dict-foldoc", "20230119-1", r"usr/share/dictd/foldoc\.dict\.dz$", "dict"),
    DebPackage("dict-jargon", "4.4.7-3.1", r"usr/share/dictd/jargon\.dict\.dz$", "dict"),
    DebPackage("dict-devil", "1.0-13.1", r"usr/share/dictd/devil\.dict\.dz$", "dict"),
    DebPackage(
        "linux-doc-6.1",
        "6.1.192-3",
        r"linux-doc-6\.1/Documentation/(?!devicetree/).*\.(rst|txt)(\.gz)?$",
        "text",
    ),
    DebPackage("python3.11-doc", "3.11.2-6+deb12u9", r"python3\.11/html/_sources/.*\.txt$", "text"),
    DebPackage("perl-doc", "5.36.0-7+deb12u4", r"usr/share/perl/5\.36\.0/pod/.*\.pod$", "text"),
    DebPackage("debian-handbook", "11.20220922", r"debian-handbook/html/en-US/.*\.html$", "html"),
    DebPackage("debian-reference-en", "2.100", r"usr/share/debian-reference/.*\.en\.html$", "html"),
    DebPackage("gnucash-docs", "4.13-1", r"gnucash-docs/gnucash-(guide|manual)-en/.*\.html$", "html"),
    DebPackage("maxima-doc", "5.46.0-11", r"maxima-doc/html/.*\.html$", "html"),
    DebPackage("octave-doc", "7.3.0-2", r"doc/octave/octave\.html/.*\.html$", "html"),
    DebPackage("fortunes", "1:1.99.1-7.3", r"usr/share/games/fortunes/[^./]+$", "text"),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ===================================================================== reading packages
def deb_members(data: bytes) -> dict[str, bytes]:
    """Every regular file of a ``.deb`` (an ``ar`` archive whose ``data.tar[.xz|.gz|.zst]`` holds the files),
    read in memory; paths without their leading ``./``. Zstandard-compressed data is not supported."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (no ar header)")
    pos, payload = 8, None
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if name.startswith("data.tar"):
            payload = (name, data[pos + 60 : pos + 60 + size])
            break
        pos += 60 + size + (size % 2)
    if payload is None:
        raise ValueError("Debian package without data.tar")
    name, blob = payload
    if name.endswith(".xz"):
        blob = lzma.decompress(blob)
    elif name.endswith(".gz"):
        blob = gzip.decompress(blob)
    elif name != "data.tar":
        raise ValueError(f"unsupported compression of {name}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as t:
        return {m.name.removeprefix("./"): t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


class _HTMLText(html.parser.HTMLParser):
    """The visible text of an HTML page: block elements end lines, script and style are skipped."""

    BLOCKS = frozenset("p div br li tr h1 h2 h3 h4 h5 h6 pre dt dd table title blockquote section".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):  # noqa: ARG002 - the parser's signature
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(page: str) -> str:
    """The visible text of an HTML page."""
    parser = _HTMLText()
    parser.feed(page)
    parser.close()
    return "".join(parser.parts)


def member_text(name: str, data: bytes, kind: str) -> str:
    """The text of one selected package file: gunzipped when compressed, HTML reduced to its visible text."""
    if name.endswith((".gz", ".dz")):
        data = gzip.decompress(data)
    text = data.decode("utf-8", errors="replace")
    return html_text(text) if kind == "html" else text


def package_documents(
    pkg: DebPackage, members: dict[str, bytes], dedup: LineDeduplicator
) -> tuple[list[Document], dict]:
    """Clean and cut the selected files of one package into documents; also its byte counts."""
    pattern = re.compile(pkg.select)
    docs: list[Document] = []
    files = sorted((n, b) for n, b in members.items() if pattern.search(n))
    raw = text = 0
    for name, data in files:
        body = member_text(name, data, pkg.kind)
        raw += len(data)
        text += len(body.encode("utf-8"))
        docs += text_documents(body, pkg.name, name, dedup)
    kept = sum(len(d.data) for d in docs)
    return docs, {"files": len(files), "file_bytes": raw, "text_bytes": text, "document_bytes": kept}


# ===================================================================== downloading and building
def download(dest: Path, refresh: bool = False, log: Callable[[str], None] = print) -> dict[str, Path]:
    """``apt-get download`` every package of ``DEB_PACKAGES`` into ``dest`` (kept when already there)."""
    dest.mkdir(parents=True, exist_ok=True)
    found = {}
    for pkg in DEB_PACKAGES:
        existing = sorted(dest.glob(pkg.glob()))
        if refresh or not existing:
            log(f"downloading {' '.join(pkg.command())}")
            try:
                run = subprocess.run(pkg.command(), cwd=dest, capture_output=True, text=True)
            except FileNotFoundError:
                raise RuntimeError("`apt-get` is needed to download the large corpus's packages") from None
            if run.returncode != 0:
                raise RuntimeError(f"downloading {pkg.name} failed:\n{run.stdout}\n{run.stderr}")
            existing = sorted(dest.glob(pkg.glob()))
        if len(existing) != 1:
            raise RuntimeError(f"expected one archive of {pkg.name} in {dest}, found {existing}")
        found[pkg.name] = existing[0]
    return found


def committed_documents(directory: Path | None = None) -> tuple[list[Document], list[str]]:
    """The committed corpus's documents with the split each is in (the large corpus keeps them there)."""
    docs, splits = [], []
    for split, tokens in load_text_splits(directory or corpus_dir()).items():
        for k, piece in enumerate(tokens.tobytes().split(bytes([DOC_SEP]))[:-1]):
            docs.append(Document("committed", split, k, piece.decode("utf-8")))
            splits.append(split)
    return docs, splits


def build_large(
    out_dir: Path | None = None,
    archives: dict[str, Path] | None = None,
    refresh: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Download (unless ``archives`` are given), read, clean, split and write the large corpus with its
    provenance; returns the provenance. Its documents join the committed corpus's, which keep their splits."""
    out_dir = Path(out_dir or large_corpus_dir())
    t0 = time.perf_counter()
    if archives is None:
        archives = download(paths.cache_dir() / "corpus-large-src", refresh=refresh, log=log)
    t_download = time.perf_counter() - t0
    base_docs, base_splits = committed_documents()
    dedup = LineDeduplicator()
    for d in base_docs:  # lines already in the committed corpus are duplicates in the packages
        dedup(d.text)
    dedup.dropped_lines = dedup.dropped_bytes = 0
    docs: list[Document] = []
    packages = {}
    seen_docs = {_sha256(d.data) for d in base_docs}
    for pkg in DEB_PACKAGES:
        if pkg.name not in archives:
            continue
        data = Path(archives[pkg.name]).read_bytes()
        log(f"reading {pkg.name}")
        pkg_docs, counts = package_documents(pkg, deb_members(data), dedup)
        unique = []
        for d in pkg_docs:
            digest = _sha256(d.data)
            if digest not in seen_docs:
                seen_docs.add(digest)
                unique.append(d)
        counts["unique_document_bytes"] = sum(len(d.data) for d in unique)
        counts["documents"] = len(unique)
        packages[pkg.name] = {
            "registry": "debian",
            "version": pkg.version,
            "client_command": " ".join(pkg.command()),
            "file": Path(archives[pkg.name]).name,
            "bytes": len(data),
            "sha256": _sha256(data),
            "select": pkg.select,
            "kind": pkg.kind,
            **counts,
        }
        docs += unique
    splits = assign_splits(docs)
    streams = split_streams(base_docs + docs, base_splits + splits)
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for split in SPLITS:
        packed = gzip.compress(streams[split], compresslevel=6, mtime=0)
        (out_dir / f"{split}.txt.gz").write_bytes(packed)
        outputs.append(
            {"file": f"{split}.txt.gz", "bytes": len(packed), "sha256": _sha256(packed),
             "content_bytes": len(streams[split]), "content_sha256": _sha256(streams[split])}
        )  # fmt: skip
    provenance = {
        "what": "byte-level English: the committed corpus, Debian documentation and dictionaries",
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "build_command": "python -m distill_scaling corpus build --source large",
        "seconds": {"download": t_download, "total": time.perf_counter() - t0},
        "committed_corpus_bytes": sum(len(d.data) for d in base_docs),
        "packages": packages,
        "duplicate_lines_dropped": dedup.dropped_lines,
        "duplicate_line_bytes_dropped": dedup.dropped_bytes,
        "splits": {s: {"tokens": len(streams[s])} for s in SPLITS},
        "outputs": outputs,
    }
    (out_dir / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n")
    forget_text_splits(out_dir)
    return provenance


def unique_bytes(provenance: dict) -> int:
    """Document bytes of a built large corpus: the committed corpus's plus the packages' unique ones."""
    return int(
        provenance["committed_corpus_bytes"]
        + sum(p["unique_document_bytes"] for p in provenance["packages"].values())
    )


def read_large_provenance(directory: Path | None = None) -> dict | None:
    """``PROVENANCE.json`` of the built large corpus (None when it has not been built here)."""
    path = Path(directory or large_corpus_dir()) / "PROVENANCE.json"
    return json.loads(path.read_text()) if path.is_file() else None


def split_arrays(directory: Path | None = None) -> dict[str, np.ndarray]:
    """The built large corpus's splits (uint8 arrays)."""
    return load_text_splits(directory or large_corpus_dir())


__all__ = [
    "DEB_PACKAGES",
    "DebPackage",
    "build_large",
    "deb_members",
    "download",
    "html_text",
    "member_text",
    "package_documents",
    "read_large_provenance",
    "unique_bytes",
]
