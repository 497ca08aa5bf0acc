"""The large corpus's builder on tiny local Debian packages (no network): reading a .deb, HTML text, the
committed corpus's splits kept, de-duplication across packages, provenance with checksums, the 'large'
source."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile
from pathlib import Path

import pytest

from distill_scaling import corpus, corpus_large
from distill_scaling.corpus_large import DebPackage

LINE = "A line long enough to count as a duplicate when another package repeats it word for word."


def make_deb(path: Path, files: dict[str, bytes]) -> Path:
    """A minimal .deb: an ar archive with debian-binary, control.tar.xz and data.tar.xz holding ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", lzma.compress(b"")),
        ("data.tar.xz", lzma.compress(buf.getvalue())),
    ]
    out = b"!<arch>\n"
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode() + data
        out += b"\n" if len(data) % 2 else b""
    path.write_bytes(out)
    return path


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Two tiny packages: a dictionary (dictzip is gzip) and an HTML manual with script and style."""
    # words of distinct letters, so that no entry duplicates another (digits do not count)
    words = ["".join(chr(97 + int(d)) for d in str(i)) for i in range(400)]
    paragraphs = "\n\n".join(f"Entry {w}: the meaning of the word {w} in plain English." for w in words)
    dict_deb = make_deb(
        tmp_path / "dict-toy_1.0_all.deb",
        {"usr/share/dictd/toy.dict.dz": gzip.compress(f"{paragraphs}\n\n{LINE}\n".encode())},
    )
    page = (
        "<html><head><style>body {color: red}</style><script>var secret = 1;</script></head><body>"
        f"<h1>Manual</h1><p>{LINE}</p><p>Second paragraph of the manual.</p></body></html>"
    )
    html_deb = make_deb(
        tmp_path / "toy-doc_2.0_all.deb",
        {"usr/share/doc/toy/index.html": page.encode(), "usr/share/doc/toy/logo.png": b"\x89PNG"},
    )
    monkeypatch.setattr(
        corpus_large,
        "DEB_PACKAGES",
        (
            DebPackage("dict-toy", "1.0", r"dictd/.*\.dict\.dz$", "dict"),
            DebPackage("toy-doc", "2.0", r"doc/toy/.*\.html$", "html"),
        ),
    )
    monkeypatch.setenv("DS_CACHE_DIR", str(tmp_path / "cache"))
    return {"dict-toy": dict_deb, "toy-doc": html_deb}


def test_deb_members_reads_the_data_archive(packages):
    members = corpus_large.deb_members(packages["toy-doc"].read_bytes())
    assert set(members) == {"usr/share/doc/toy/index.html", "usr/share/doc/toy/logo.png"}
    with pytest.raises(ValueError, match="not a Debian package"):
        corpus_large.deb_members(b"PK\x03\x04 a zip file")


def test_html_text_keeps_visible_text_only():
    page = "<p>one</p><script>x = 1</script><style>p {}</style><li>two &amp; three</li>"
    text = corpus_large.html_text(page)
    assert "x = 1" not in text and "p {}" not in text
    assert [line for line in text.split("\n") if line] == ["one", "two & three"]


def test_build_writes_splits_with_provenance_and_keeps_committed_splits(packages, tmp_path):
    out = tmp_path / "large"
    prov = corpus_large.build_large(out, archives=packages, log=lambda m: None)
    # inputs and outputs carry sha256 that match the files
    for name, row in prov["packages"].items():
        assert row["sha256"] == hashlib.sha256(packages[name].read_bytes()).hexdigest()
    for o in prov["outputs"]:
        data = (out / o["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == o["sha256"]
        assert hashlib.sha256(gzip.decompress(data)).hexdigest() == o["content_sha256"]
    assert json.loads((out / "PROVENANCE.json").read_text()) == prov
    splits = corpus.load_text_splits(out)
    committed = corpus.load_text_splits(corpus.corpus_dir())
    for s in corpus.SPLITS:  # the committed corpus's documents stay in their split, in order, first
        assert splits[s][: committed[s].size].tobytes() == committed[s].tobytes()
    added = b"".join(splits[s][committed[s].size :].tobytes() for s in corpus.SPLITS).decode()
    assert "secret" not in added and "color: red" not in added
    assert "Second paragraph of the manual." in added
    assert added.count(LINE) == 1  # the line both packages hold is kept once
    assert prov["duplicate_lines_dropped"] == 1
    assert corpus_large.unique_bytes(prov) == sum(len(splits[s]) for s in corpus.SPLITS) - sum(
        int((splits[s] == corpus.DOC_SEP).sum()) for s in corpus.SPLITS
    )


def test_large_source_reads_the_built_corpus_from_the_cache(packages):
    corpus_large.build_large(archives=packages, log=lambda m: None)
    corpus._SOURCES.pop("large", None)  # noqa: SLF001 - a source cached by an earlier test in this process
    source = corpus.get_source("large")
    assert source.split_size("val") > corpus.get_source("text").split_size("val")
    x, y = source.batch("teacher", 0, 2, 64, 0)
    assert x.shape == (2, 64) and (x[:, 1:] == y[:, :-1]).all()


def test_download_keeps_a_cached_archive_and_explains_a_missing_client(packages, tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    for path in packages.values():
        (src / path.name).write_bytes(path.read_bytes())

    def no_client(*args, **kwargs):
        raise FileNotFoundError("apt-get")

    monkeypatch.setattr(corpus_large.subprocess, "run", no_client)
    found = corpus_large.download(src, log=lambda m: None)
    assert {k: v.name for k, v in found.items()} == {k: v.name for k, v in packages.items()}
    with pytest.raises(RuntimeError, match="`apt-get` is needed"):
        corpus_large.download(src, refresh=True, log=lambda m: None)
