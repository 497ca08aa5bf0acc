"""The corpora the models train on: the committed English text, a synthetic language, or a user's text file.

``get_source(name)`` returns a :class:`Source` with the three disjoint splits (``SPLITS``: teacher, student,
val), the byte-level tokenizer (vocabulary 256) and seeded batch sampling. Building and verifying the
committed corpus (``python -m distill_scaling corpus build|verify|info``) is
:mod:`distill_scaling.corpus_build`, which imports this module (never the reverse).

The committed corpus stores each split as UTF-8 text compressed with gzip (fast to decompress), documents
separated by a NUL byte (``DOC_SEP``; cleaning removes every control character, so NUL never occurs inside a
document). Which document went where is in ``documents.tsv``; how everything was made is in
``PROVENANCE.json``.
"""

from __future__ import annotations

import gzip
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from . import paths
from .synthetic import SyntheticLanguage, SyntheticSpec, doc_uniforms

SPLITS = ("teacher", "student", "val")
VOCAB_SIZE = 256
#: Byte that ends every document in a split's token stream.
DOC_SEP = 0
#: Seed of the document-level split shuffle.
SPLIT_SEED = 1234
#: Share of each source's bytes that goes to the validation split (at least MIN_VAL_BYTES in all).
VAL_FRACTION = 0.02
MIN_VAL_BYTES = 262_144
#: Long works are cut into documents of about this many bytes, at paragraph boundaries.
DOC_TARGET_BYTES = 8192
#: A line is a duplicate when its letters (lower-cased) number at least this many and were seen before.
DEDUP_MIN_LETTERS = 40
#: ``split_size`` of the synthetic source's training splits: unlimited, batches are generated on demand.
UNLIMITED_TOKENS = math.inf
#: Size of the synthetic validation set (predicted tokens) and of the finite samples ``split_tokens`` returns.
SYNTHETIC_VAL_TOKENS = 262_144
SYNTHETIC_SAMPLE_TOKENS = 2**20
SYNTHETIC_DEFAULT_N_CTX = 128

_SPLIT_CODE = {"teacher": 1, "student": 2, "val": 3}
#: The corpus names ``get_source`` accepts, for messages and help.
NAMES_HELP = "text, large, synthetic, synthetic:<seed>, file:<path>"


# ===================================================================== tokenizer
def encode(text: str) -> np.ndarray:
    """UTF-8 bytes of ``text`` as tokens (uint8, vocabulary 256)."""
    if not isinstance(text, str):
        raise TypeError(f"encode expects a str, got {type(text).__name__}")
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def decode(tokens: np.ndarray | torch.Tensor | list[int]) -> str:
    """Text of a token sequence; byte sequences that are not valid UTF-8 become U+FFFD."""
    arr = tokens.detach().cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)
    if arr.size and (arr.min() < 0 or arr.max() >= VOCAB_SIZE):
        raise ValueError(f"tokens must lie in [0, {VOCAB_SIZE}), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.uint8).tobytes().decode("utf-8", errors="replace")


# ===================================================================== cleaning
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_GUT_START = re.compile(
    r"^\s*\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\s*\*END\*THE SMALL PRINT!.*$", re.M | re.I
)
_GUT_END = re.compile(
    r"^\s*\*\*\*\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\s*End of (?:the )?Project Gutenberg.*$",
    re.M | re.I,
)


def strip_gutenberg(text: str) -> tuple[str, bool]:
    """The text between Project Gutenberg's start and end markers, and whether any marker was found."""
    found = False
    start = None
    for m in _GUT_START.finditer(text):
        start = m  # the last start marker ends the header (the small print comes before it)
    if start is not None:
        text, found = text[start.end() :], True
    end = _GUT_END.search(text)
    if end is not None:
        text, found = text[: end.start()], True
    return text, found


def clean_text(text: str) -> str:
    """Normalise newlines, control characters and whitespace (``corpus_build.CLEANING_STEPS`` 1, 3-6)."""
    text = unicodedata.normalize("NFC", text.replace("\ufeff", ""))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub("", text)
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _letters_key(line: str) -> str:
    return "".join(ch for ch in line.lower() if ch.isalpha())


class LineDeduplicator:
    """Drops lines whose letters (>= ``DEDUP_MIN_LETTERS`` of them) were seen before, across every call."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.dropped_lines = 0
        self.dropped_bytes = 0

    def __call__(self, text: str) -> str:
        kept = []
        for line in text.split("\n"):
            key = _letters_key(line)
            if len(key) >= DEDUP_MIN_LETTERS:
                if key in self.seen:
                    self.dropped_lines += 1
                    self.dropped_bytes += len(line.encode("utf-8")) + 1
                    continue
                self.seen.add(key)
            kept.append(line)
        return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")


def chunk_paragraphs(text: str, target: int = DOC_TARGET_BYTES) -> list[str]:
    """Cut ``text`` into documents of about ``target`` UTF-8 bytes at paragraph (else line) boundaries."""
    pieces: list[str] = []
    for para in text.split("\n\n"):
        if len(para.encode("utf-8")) <= target:
            pieces.append(para)
            continue
        lines, current = para.split("\n"), []
        size = 0
        for line in lines:  # an over-long paragraph is cut at line boundaries
            current.append(line)
            size += len(line.encode("utf-8")) + 1
            if size >= target:
                pieces.append("\n".join(current))
                current, size = [], 0
        if current:
            pieces.append("\n".join(current))
    docs: list[str] = []
    current, size = [], 0
    for piece in pieces:
        if not piece:
            continue
        current.append(piece)
        size += len(piece.encode("utf-8")) + 2
        if size >= target:
            docs.append("\n\n".join(current))
            current, size = [], 0
    if current:
        tail = "\n\n".join(current)
        if docs and size < target // 4:
            docs[-1] += "\n\n" + tail
        else:
            docs.append(tail)
    return docs


# ===================================================================== documents and splits
@dataclass
class Document:
    source: str  # kjv | shakespeare | milton | brown | file
    origin: str  # the input file (or KJV chapter) it comes from
    part: int  # index of the piece within its origin
    text: str

    @cached_property
    def data(self) -> bytes:
        return self.text.encode("utf-8")


def assign_splits(
    docs: list[Document],
    seed: int = SPLIT_SEED,
    val_fraction: float = VAL_FRACTION,
    min_val: int = MIN_VAL_BYTES,
) -> list[str]:
    """The split of every document: stratified by source, shuffled with ``seed``, at document level.

    Validation takes each source's documents in shuffled order until it holds the source's share of the val
    target (``max(val_fraction * total, min(min_val, total / 10))`` bytes); the rest go one by one to
    whichever of teacher and student holds fewer bytes of that source so far.
    """
    total = sum(len(d.data) for d in docs)
    val_target = max(val_fraction * total, min(min_val, total / 10))
    rng = np.random.default_rng(seed)
    split = [""] * len(docs)
    for source in dict.fromkeys(d.source for d in docs):
        idx = [i for i, d in enumerate(docs) if d.source == source]
        idx = [idx[j] for j in rng.permutation(len(idx))]
        source_bytes = sum(len(docs[i].data) for i in idx)
        share = val_target * source_bytes / total
        val_bytes = 0
        sizes = {"teacher": 0, "student": 0}
        for i in idx:
            n = len(docs[i].data)
            if val_bytes < share:
                split[i] = "val"
                val_bytes += n
            else:
                name = "teacher" if sizes["teacher"] <= sizes["student"] else "student"
                split[i] = name
                sizes[name] += n
    return split


def split_streams(docs: list[Document], splits: list[str]) -> dict[str, bytes]:
    """Each split's bytes: its documents in corpus order, each followed by ``DOC_SEP``."""
    sep = bytes([DOC_SEP])
    return {s: b"".join(d.data + sep for d, sp in zip(docs, splits, strict=True) if sp == s) for s in SPLITS}


def text_documents(
    text: str, source: str, origin: str, dedup: LineDeduplicator | None = None
) -> list[Document]:
    """Clean one text and cut it into documents at paragraph boundaries."""
    text, _ = strip_gutenberg(text)
    text = clean_text(text)
    if dedup is not None:
        text = dedup(text)
    return [Document(source, origin, k, t) for k, t in enumerate(chunk_paragraphs(text)) if t.strip()]


# ===================================================================== sources
class Source:
    """A corpus with three disjoint splits, seeded batch sampling and a fixed validation set.

    Attributes: ``name`` (what ``get_source`` was given), ``vocab_size`` (256: tokens are bytes),
    ``entropy_rate`` (nats/token when known exactly, else None) and ``generated`` (whether batches are made
    by computation rather than cut from stored tokens: worth making ahead, :mod:`distill_scaling.prefetch`).
    """

    name: str
    vocab_size: int = VOCAB_SIZE
    entropy_rate: float | None = None
    generated: bool = False

    def split_tokens(self, split: str) -> np.ndarray:
        """The split's tokens as a 1-D uint8 array."""
        raise NotImplementedError

    def split_size(self, split: str) -> int:
        """Tokens in the split (what the 4-epoch limit counts)."""
        return int(self.split_tokens(_check_split(split)).size)

    def batch(
        self, split: str, step: int, batch_size: int, n_ctx: int, seed: int
    ) -> tuple[torch.LongTensor, torch.LongTensor]:
        """Random windows ``x`` (batch_size, n_ctx) and ``y`` (x shifted by one): a pure function of the args.

        Resuming at step k therefore gives exactly the batches an uninterrupted run would have seen.
        """
        raise NotImplementedError

    def val_batches(self, n_ctx: int, batch_size: int) -> Iterator[tuple[torch.LongTensor, torch.LongTensor]]:
        """The fixed held-out evaluation windows, non-overlapping, always the same, in batches."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    return split


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _windows(tokens: np.ndarray, starts: np.ndarray, n_ctx: int) -> tuple[torch.LongTensor, torch.LongTensor]:
    w = torch.from_numpy(tokens[starts[:, None] + np.arange(n_ctx + 1)].astype(np.int64))
    return w[:, :-1].contiguous(), w[:, 1:].contiguous()


class TokenSource(Source):
    """A source whose three splits are fixed token arrays (the committed corpus or a user's file)."""

    def __init__(self, name: str, load: Callable[[], dict[str, np.ndarray]]) -> None:
        self.name = name
        self._load = load

    @cached_property
    def _splits(self) -> dict[str, np.ndarray]:
        return self._load()

    def split_tokens(self, split: str) -> np.ndarray:
        return self._splits[_check_split(split)]

    def batch(self, split, step, batch_size, n_ctx, seed):
        tokens = self.split_tokens(split)
        step = _check_int("step", step, 0)
        batch_size = _check_int("batch_size", batch_size, 1)
        n_ctx = _check_int("n_ctx", n_ctx, 1)
        seed = _check_int("seed", seed, 0)
        if tokens.size < n_ctx + 1:
            raise ValueError(f"n_ctx={n_ctx} needs {n_ctx + 1} tokens but split {split!r} has {tokens.size}")
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, step, _SPLIT_CODE[split]])))
        starts = rng.integers(0, tokens.size - n_ctx, size=batch_size)
        return _windows(tokens, starts, n_ctx)

    def val_batches(self, n_ctx, batch_size):
        n_ctx = _check_int("n_ctx", n_ctx, 1)
        batch_size = _check_int("batch_size", batch_size, 1)
        tokens = self.split_tokens("val")
        n_windows = (tokens.size - 1) // n_ctx
        if n_windows < 1:
            raise ValueError(f"n_ctx={n_ctx} needs {n_ctx + 1} tokens but the val split has {tokens.size}")
        starts = np.arange(n_windows) * n_ctx
        return (_windows(tokens, starts[i : i + batch_size], n_ctx) for i in range(0, n_windows, batch_size))


class SyntheticSource(Source):
    """Documents of the synthetic language (``synthetic.py``) with an exactly known entropy.

    Every window is a fresh document from its first token (the topic), so the ideal loss at context ``n_ctx``
    is exactly ``window_entropy(n_ctx)``; ``entropy_rate`` is its limit for long contexts. Teacher and student
    batches come from independent seeded streams (unlimited); validation is a fixed set of documents, the same
    for every call with the same ``n_ctx``.
    """

    generated = True

    def __init__(self, seed: int = 0, name: str | None = None) -> None:
        self.seed = seed
        self.name = name or ("synthetic" if seed == 0 else f"synthetic:{seed}")
        self.language = SyntheticLanguage(SyntheticSpec(seed=seed))
        self._val: dict[int, np.ndarray] = {}
        self._samples: dict[str, np.ndarray] = {}

    @cached_property
    def entropy_rate(self) -> float:  # type: ignore[override]
        return self.language.entropy_rate

    def window_entropy(self, n_ctx: int) -> float:
        """Exact ideal loss (nats/token) on this source's windows of context ``n_ctx``."""
        return self.language.window_entropy(_check_int("n_ctx", n_ctx, 1))

    def _docs(self, split: str, first: int, n_docs: int, n_tokens: int, stream: int = 0) -> np.ndarray:
        key = (self.seed, _SPLIT_CODE[split], stream)
        return self.language.sample(doc_uniforms(key, first, n_docs, n_tokens), n_tokens)

    def val_documents(self, n_ctx: int) -> np.ndarray:
        """The validation documents for context ``n_ctx``: (ceil(SYNTHETIC_VAL_TOKENS / n_ctx), n_ctx + 1)."""
        n_ctx = _check_int("n_ctx", n_ctx, 1)
        if n_ctx not in self._val:
            self._val[n_ctx] = self._docs("val", 0, math.ceil(SYNTHETIC_VAL_TOKENS / n_ctx), n_ctx + 1)
        return self._val[n_ctx]

    def split_tokens(self, split: str) -> np.ndarray:
        """A finite seeded sample: the val documents at n_ctx = 128, or 2**20 tokens of training documents."""
        split = _check_split(split)
        if split == "val":
            return self.val_documents(SYNTHETIC_DEFAULT_N_CTX).reshape(-1)
        if split not in self._samples:
            n = SYNTHETIC_DEFAULT_N_CTX + 1
            docs = self._docs(split, 0, SYNTHETIC_SAMPLE_TOKENS // n, n, stream=1)
            self._samples[split] = docs.reshape(-1)
        return self._samples[split]

    def split_size(self, split: str) -> int | float:
        """Val: the size of ``split_tokens("val")``; teacher, student: ``math.inf`` (made on demand)."""
        split = _check_split(split)
        return self.split_tokens("val").size if split == "val" else UNLIMITED_TOKENS

    def batch(self, split, step, batch_size, n_ctx, seed):
        split = _check_split(split)
        if split == "val":
            raise ValueError(
                "the synthetic val split is for evaluation only (val_batches); train on teacher or student"
            )
        step = _check_int("step", step, 0)
        batch_size = _check_int("batch_size", batch_size, 1)
        n_ctx = _check_int("n_ctx", n_ctx, 1)
        seed = _check_int("seed", seed, 0)
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, seed, step, _SPLIT_CODE[split]]))
        )
        uniforms = rng.random((batch_size, (n_ctx + 1) // 2 + 1))
        docs = torch.from_numpy(self.language.sample(uniforms, n_ctx + 1).astype(np.int64))
        return docs[:, :-1].contiguous(), docs[:, 1:].contiguous()

    def val_batches(self, n_ctx, batch_size):
        batch_size = _check_int("batch_size", batch_size, 1)
        docs = torch.from_numpy(self.val_documents(n_ctx).astype(np.int64))
        return ((d[:, :-1].contiguous(), d[:, 1:].contiguous()) for d in torch.split(docs, batch_size))


# ===================================================================== the committed corpus: loading
def corpus_dir() -> Path:
    """The committed corpus: ``data_dir()/corpus``, or the repository's copy when a redirected data folder
    (``DS_DATA_DIR``) holds none."""
    here = paths.data_dir() / "corpus"
    if (
        not (here / "PROVENANCE.json").is_file()
        and (paths.REPO / "data" / "corpus" / "PROVENANCE.json").is_file()
    ):
        return paths.REPO / "data" / "corpus"
    return here


def large_corpus_dir() -> Path:
    """The large corpus (``corpus build --source large``, :mod:`distill_scaling.corpus_large`): built into the
    git-ignored cache, never committed."""
    return paths.cache_dir() / "corpus-large"


_SPLIT_CACHE: dict[Path, dict[str, np.ndarray]] = {}


def load_text_splits(directory: Path | None = None) -> dict[str, np.ndarray]:
    """The committed corpus's splits as uint8 arrays, decompressed once per process."""
    directory = Path(directory or corpus_dir())
    if directory not in _SPLIT_CACHE:
        missing = [s for s in SPLITS if not (directory / f"{s}.txt.gz").is_file()]
        if missing:
            build = "corpus build --source large" if directory == large_corpus_dir() else "corpus build"
            raise FileNotFoundError(
                f"the text corpus is missing {', '.join(missing)} in {directory}; "
                f"run `python -m distill_scaling {build}`"
            )
        _SPLIT_CACHE[directory] = {
            s: np.frombuffer(gzip.decompress((directory / f"{s}.txt.gz").read_bytes()), dtype=np.uint8)
            for s in SPLITS
        }
    return _SPLIT_CACHE[directory]


def forget_text_splits(directory: Path) -> None:
    """Drop the cached splits of ``directory`` (after the corpus there was rebuilt)."""
    _SPLIT_CACHE.pop(Path(directory), None)


_FILE_CACHE: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def file_splits(path: str | Path) -> dict[str, np.ndarray]:
    """Split a user's UTF-8 text file the way the committed corpus is split (cached per file version)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"corpus file {str(path)!r} does not exist or is not a file")
    stat = p.stat()
    key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_CACHE:
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"corpus file {str(path)!r} is not UTF-8 text: {err}") from None
        docs = text_documents(text, "file", p.name, LineDeduplicator())
        if len(docs) < 3:
            # A short file still gets several documents: cut it at a proportionally smaller target.
            cleaned = LineDeduplicator()(clean_text(strip_gutenberg(text)[0]))
            target = max(1, len(cleaned.encode("utf-8")) // 16)
            docs = [
                Document("file", p.name, k, t) for k, t in enumerate(chunk_paragraphs(cleaned, target)) if t
            ]
        if len(docs) < 3:
            raise ValueError(
                f"corpus file {str(path)!r} gives {len(docs)} document(s) after cleaning; need at least 3 "
                "(separate paragraphs with blank lines)"
            )
        streams = split_streams(docs, assign_splits(docs))
        if not streams["teacher"] or not streams["student"]:
            raise ValueError(f"corpus file {str(path)!r} is too small to fill the teacher and student splits")
        _FILE_CACHE[key] = {s: np.frombuffer(b, dtype=np.uint8) for s, b in streams.items()}
    return _FILE_CACHE[key]


_SOURCES: dict[str, Source] = {}


def check_source_name(name: str) -> tuple[str, str]:
    """Parse a corpus name without loading anything: ("text", ""), ("synthetic", seed) or ("file", path).

    Raises ValueError naming the allowed forms; for "file:<path>" also when the file does not exist.
    """
    if not isinstance(name, str):
        raise ValueError(f"corpus name must be a str, got {type(name).__name__}; allowed: {NAMES_HELP}")
    if name in ("text", "large"):
        return name, ""
    if name == "synthetic":
        return "synthetic", "0"
    kind, _, arg = name.partition(":")
    if kind == "synthetic":
        if not arg.isdigit():
            raise ValueError(
                f"unknown corpus {name!r}: the seed must be a non-negative integer; allowed: {NAMES_HELP}"
            )
        return "synthetic", str(int(arg))
    if kind == "file" and arg:
        if not Path(arg).expanduser().is_file():
            raise ValueError(f"unknown corpus {name!r}: {arg!r} does not exist or is not a file")
        return "file", arg
    raise ValueError(f"unknown corpus {name!r}; allowed: {NAMES_HELP}")


def get_source(name: str = "text") -> Source:
    """The corpus called ``name``: "text" (committed), "large" (built into the cache by ``corpus
    build --source large``), "synthetic", "synthetic:<seed>" or "file:<path>".

    Sources are cached per process, so the committed corpus is decompressed once.
    """
    if isinstance(name, str) and name in _SOURCES:
        return _SOURCES[name]
    kind, arg = check_source_name(name)
    if kind == "text":
        source: Source = TokenSource("text", load_text_splits)
    elif kind == "large":
        source = TokenSource("large", lambda: load_text_splits(large_corpus_dir()))
    elif kind == "synthetic":
        source = SyntheticSource(int(arg), name)
    else:
        file_splits(arg)  # fail now, with the file's name, not at the first batch
        source = TokenSource(name, lambda: file_splits(arg))
    _SOURCES[name] = source
    return source


# ===================================================================== reference losses
def ngram_loss(train: np.ndarray, test: np.ndarray, order: int, prior_weight: float = 1.0) -> float:
    """Cross-entropy (nats/token) on ``test`` of a byte n-gram model with ``order`` tokens of context.

    Order 0 is the unigram with add-1/2 (Krichevsky-Trofimov) counts over all 256 bytes; order k > 0 smooths
    each context's counts towards the order k - 1 model with ``prior_weight`` pseudo-counts (a hierarchical
    Dirichlet). Every test token after the first ``order`` is scored.
    """
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    symbols = np.union1d(np.unique(train), np.unique(test))
    K = symbols.size
    lut = np.zeros(VOCAB_SIZE, dtype=np.int64)
    lut[symbols] = np.arange(K)  # dense ids of the bytes that occur keep the count tables small
    tr, te = lut[train], lut[test]
    unigram = (np.bincount(tr, minlength=K) + 0.5) / (tr.size + 0.5 * VOCAB_SIZE)
    probs_te = unigram[te[order:]]
    for k in range(1, order + 1):
        ctx_tr = np.zeros(tr.size - k, dtype=np.int64)
        for i in range(k):
            ctx_tr = ctx_tr * K + tr[i : tr.size - k + i]
        ctx_te = np.zeros(te.size - order, dtype=np.int64)
        for i in range(order - k, order):
            ctx_te = ctx_te * K + te[i : te.size - order + i]
        joint_tr, joint_te = ctx_tr * K + tr[k:], ctx_te * K + te[order:]
        c_joint, c_ctx = _count(joint_tr, joint_te, K ** (k + 1)), _count(ctx_tr, ctx_te, K**k)
        probs_te = (c_joint + prior_weight * probs_te) / (c_ctx + prior_weight)
    return float(-np.log(probs_te).mean())


def _count(train_keys: np.ndarray, queries: np.ndarray, n_keys: int) -> np.ndarray:
    """How often each query key occurs among ``train_keys`` (keys lie in [0, n_keys))."""
    if n_keys <= 1 << 24:  # a dense table is fastest while it fits in memory comfortably
        return np.bincount(train_keys, minlength=n_keys)[queries].astype(np.float64)
    keys, counts = np.unique(train_keys, return_counts=True)
    pos = np.clip(np.searchsorted(keys, queries), 0, max(keys.size - 1, 0))
    return np.where(keys[pos] == queries, counts[pos], 0).astype(np.float64)


_REFERENCE: dict[str, dict[str, float]] = {}


def reference_losses(source: Source | str = "text") -> dict[str, float]:
    """Reference losses on the val split (nats/token): n-gram models fitted on the teacher split.

    Keys: ``unigram``, ``bigram``, ``trigram`` (contexts of 0, 1, 2 tokens, see ``ngram_loss``), and for the
    synthetic source also ``entropy_rate`` and ``window_entropy_128`` (the exact ideal loss at n_ctx = 128).
    """
    src = get_source(source) if isinstance(source, str) else source
    if src.name not in _REFERENCE:
        train, test = src.split_tokens("teacher"), src.split_tokens("val")
        out = {name: ngram_loss(train, test, k) for k, name in enumerate(("unigram", "bigram", "trigram"))}
        if src.entropy_rate is not None:
            out["entropy_rate"] = float(src.entropy_rate)
        if isinstance(src, SyntheticSource):
            out[f"window_entropy_{SYNTHETIC_DEFAULT_N_CTX}"] = src.window_entropy(SYNTHETIC_DEFAULT_N_CTX)
        _REFERENCE[src.name] = out
    return dict(_REFERENCE[src.name])


def sample_text(name: str = "text", split: str = "val", n_bytes: int = 600, document: int = 0) -> str:
    """The first ``n_bytes`` of a split's ``document``-th document (cut at a line end when one is near)."""
    src = get_source(name)
    tokens = src.split_tokens(_check_split(split))
    n_bytes = _check_int("n_bytes", n_bytes, 1)
    if isinstance(src, SyntheticSource):  # fixed-length documents, no separators
        docs = tokens.reshape(-1, SYNTHETIC_DEFAULT_N_CTX + 1)
        if not 0 <= document < len(docs):
            raise ValueError(f"document must be in [0, {len(docs)}) for split {split!r}, got {document}")
        return decode(docs[document, :n_bytes])
    ends = np.flatnonzero(tokens == DOC_SEP)
    starts = np.concatenate([[0], ends + 1])
    if not 0 <= document < max(len(ends), 1):
        raise ValueError(f"document must be in [0, {len(ends)}) for split {split!r}, got {document}")
    stop = ends[document] if len(ends) else tokens.size
    text = decode(tokens[starts[document] : min(stop, starts[document] + n_bytes)])
    cut = text.rfind("\n")
    return text[:cut] if cut > n_bytes // 2 else text


# ===================================================================== summary (what `corpus info` prints)
def summary(source: Source) -> str:
    """A few lines describing a source: split sizes and reference losses."""
    lines = [f"corpus {source.name!r}: vocab {source.vocab_size}"]
    for s in SPLITS:
        size = source.split_size(s)
        lines.append(f"  {s:<8} {'unlimited' if size >= UNLIMITED_TOKENS else f'{size:,} tokens'}")
    for k, v in reference_losses(source).items():
        lines.append(f"  {k:<18} {v:.4f} nats/token")
    return "\n".join(lines)


__all__ = [
    "SPLITS",
    "VOCAB_SIZE",
    "Source",
    "SyntheticSource",
    "TokenSource",
    "check_source_name",
    "decode",
    "encode",
    "get_source",
    "reference_losses",
    "sample_text",
]
