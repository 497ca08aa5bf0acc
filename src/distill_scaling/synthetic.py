"""A synthetic language whose entropy is known exactly: topic documents of words from a random lexicon.

The generative process (all tables drawn once from a seed):

1. A document starts with a **topic token** (``"A"``, ``"B"``, ..., uniform over ``n_topics``) and a space.
2. It then emits **words**, each followed by a space. The next word depends on the previous word (a word
   bigram whose rows are a shared Zipfian rank profile perturbed per row) mixed with a Zipfian unigram of the
   document's topic: ``P(w | t, v) = (1 - lam) R[v, w] + lam B[t, w]``.
3. Words are spelled with lowercase letters from a random letter-bigram model; frequent words are short.

So the text has structure at several ranges, which models of different capacity learn to different degrees:
letter statistics and spelling (a few tokens), which word follows which (up to ~20 tokens back), and the topic
(the first token of the document, up to the whole context back).

**Why the entropy is exact.** Words followed by a space are a prefix-free code, so the tokens determine the
word sequence and vice versa, and the state (topic, previous word, position in the current word) is a function
of the tokens seen since the document start: the process is a *unifilar* hidden Markov model. For such a
process the conditional entropy of each token given the whole past equals the entropy of the emission given
the state, so

* the **entropy rate** is, for each topic, the word chain's stationary mean word entropy divided by its mean
  word length in tokens (a renewal-reward identity), averaged over topics (a mixture of ergodic sources has
  the mixture of their rates): ``h = 1/T sum_t [sum_v pi_t(v) H(P(.|t,v))] / [sum_v pi_t(v) E_t(len | v)]``,
  with ``pi_t`` the solution of a linear system. A finite sum, no sampling, no truncation.
* the **ideal loss on a window** that starts at a document start (``window_entropy(n_ctx)``) is a finite sum
  too: the probability that a word starts at token ``j`` in state (t, v) is propagated exactly, and the
  conditional entropy of the r-th letter of a word is the entropy of the first r tokens minus that of the
  first r - 1, computed from the exact prefix masses of each row. This is what an infinitely large model
  trained on unlimited windows of ``n_ctx + 1`` tokens reaches, so it is the truth against which a fitted
  irreducible loss ``E`` is checked; it decreases towards ``entropy_rate`` as the context grows.

Sampling is vectorised over documents with numpy; each document is a pure function of its own seeded stream of
uniforms, so a longer document extends a shorter one drawn from the same stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Letters the lexicon is spelled with, the word separator and the first topic token, as byte values.
LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
SPACE = ord(" ")
TOPIC_BASE = ord("A")


@dataclass(frozen=True)
class SyntheticSpec:
    """The knobs of the synthetic language (defaults are what ``get_source("synthetic")`` uses)."""

    seed: int = 0
    n_topics: int = 16  # topic tokens "A".."P"; at most 26
    n_words: int = 512  # lexicon size
    max_word_len: int = 8  # letters; a word event is its letters plus one space
    rank_exponent: float = 1.1  # shared Zipf profile of the word bigram rows
    row_noise: float = 1.5  # std of the per-row log-normal perturbation of that profile
    topic_exponent: float = 1.0  # Zipf exponent of each topic's word unigram
    topic_weight: float = 0.35  # lam: weight of the topic unigram in the next-word mixture
    letter_exponent: float = 1.0  # Zipf exponent of the letter-bigram rows used to spell words

    def __post_init__(self) -> None:
        if not 1 <= self.n_topics <= 26:
            raise ValueError(f"n_topics must be in [1, 26], got {self.n_topics}")
        if not 2 <= self.n_words <= 20000:
            raise ValueError(f"n_words must be in [2, 20000], got {self.n_words}")
        if not 2 <= self.max_word_len <= 16:
            raise ValueError(f"max_word_len must be in [2, 16], got {self.max_word_len}")
        if not 0.0 <= self.topic_weight <= 1.0:
            raise ValueError(f"topic_weight must be in [0, 1], got {self.topic_weight}")
        for name in ("rank_exponent", "row_noise", "topic_exponent", "letter_exponent"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def _zipf(n: int, exponent: float) -> np.ndarray:
    p = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return p / p.sum()


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats along ``axis`` (0 log 0 = 0)."""
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(axis=axis)


class SyntheticLanguage:
    """The random language of one ``SyntheticSpec``: its tables, an exact entropy, and a sampler.

    Word ids are the lexicographic order of the spelled words (with their trailing space), so all words that
    share a prefix have contiguous ids; this makes prefix masses cumulative sums.
    """

    def __init__(self, spec: SyntheticSpec | None = None) -> None:
        self.spec = spec or SyntheticSpec()
        s = self.spec
        rng = np.random.default_rng(np.random.SeedSequence([0x5EED, s.seed]))
        words = self._draw_lexicon(rng)
        # Frequent words are short: the shared rank profile follows word length (ties in random order).
        by_length = np.lexsort((rng.random(len(words)), [len(w) for w in words]))
        rank = np.empty(len(words), dtype=np.int64)
        rank[by_length] = np.arange(len(words))
        order = sorted(range(len(words)), key=lambda i: words[i] + b" ")
        words = [words[i] for i in order]
        rank = rank[order]
        W = len(words)
        self.words = words
        self.event_len = np.array([len(w) + 1 for w in words], dtype=np.int64)
        self.max_event_len = int(self.event_len.max())
        spell = np.full((W, self.max_event_len), SPACE, dtype=np.uint8)
        for i, w in enumerate(words):
            spell[i, : len(w)] = np.frombuffer(w, dtype=np.uint8)
        self.spell = spell
        # Word bigram rows (row W is the document start): shared Zipf profile x log-normal noise per row.
        logits = -s.rank_exponent * np.log1p(rank)[None, :] + s.row_noise * rng.standard_normal((W + 1, W))
        logits -= logits.max(axis=1, keepdims=True)
        bigram = np.exp(logits)
        self.bigram = bigram / bigram.sum(axis=1, keepdims=True)
        # Topic unigrams: Zipf over an independent random permutation of the lexicon per topic.
        zipf = _zipf(W, s.topic_exponent)
        self.topic_unigram = np.stack([zipf[rng.permutation(W)] for _ in range(s.n_topics)])
        self._prefix_groups = self._prefix_group_starts()

    # ----------------------------------------------------------------- construction
    def _draw_lexicon(self, rng: np.random.Generator) -> list[bytes]:
        s = self.spec
        A = len(LETTERS)
        first = _zipf(A, s.letter_exponent)[rng.permutation(A)]
        follow = np.stack([_zipf(A, s.letter_exponent)[rng.permutation(A)] for _ in range(A)])
        # Word lengths 1..max_word_len, mostly 3-6 letters (a binomial shape).
        length_p = np.array(
            [
                math.comb(s.max_word_len - 1, k) * 0.55**k * 0.45 ** (s.max_word_len - 1 - k)
                for k in range(s.max_word_len)
            ]
        )
        capacity = sum(A**k for k in range(1, s.max_word_len + 1))
        if s.n_words > capacity // 4:
            raise ValueError(f"n_words={s.n_words} is too many for words of at most {s.max_word_len} letters")
        seen: set[bytes] = set()
        words: list[bytes] = []
        while len(words) < s.n_words:
            n = int(rng.choice(s.max_word_len, p=length_p)) + 1
            letters = [int(rng.choice(A, p=first))]
            for _ in range(n - 1):
                letters.append(int(rng.choice(A, p=follow[letters[-1]])))
            word = LETTERS[letters].tobytes()
            if word not in seen:
                seen.add(word)
                words.append(word)
        return words

    def _prefix_group_starts(self) -> list[np.ndarray]:
        """For r = 1..max_event_len, the ids where a new group of equal first-r-token prefixes starts."""
        groups = []
        for r in range(1, self.max_event_len + 1):
            keys = self.spell[:, :r]
            new = np.ones(len(self.words), dtype=bool)
            new[1:] = np.any(keys[1:] != keys[:-1], axis=1)
            groups.append(np.flatnonzero(new))
        return groups

    # ----------------------------------------------------------------- probabilities
    @property
    def n_topics(self) -> int:
        return self.spec.n_topics

    @property
    def n_words(self) -> int:
        return len(self.words)

    def next_word_probs(self, topics: np.ndarray, prev: np.ndarray) -> np.ndarray:
        """Rows P(w | topic, previous word) for arrays of topics and previous words (``n_words``: start)."""
        lam = self.spec.topic_weight
        return (1.0 - lam) * self.bigram[prev] + lam * self.topic_unigram[topics]

    def _rows_for_topic(self, t: int) -> np.ndarray:
        return self.next_word_probs(np.full(self.n_words + 1, t), np.arange(self.n_words + 1))

    # ----------------------------------------------------------------- exact entropies
    @cached_property
    def entropy_rate(self) -> float:
        """Entropy rate in nats per token: the limit of H(X_1..X_n) / n (see the module docstring)."""
        W = self.n_words
        rates = []
        for t in range(self.n_topics):
            rows = self._rows_for_topic(t)[:W]  # the start row is visited once: no weight in the limit
            # Stationary distribution of the word chain: pi (P - I) = 0 with sum(pi) = 1, solved directly.
            system = rows.T - np.eye(W)
            system[-1, :] = 1.0
            rhs = np.zeros(W)
            rhs[-1] = 1.0
            pi = np.linalg.solve(system, rhs)
            word_entropy = pi @ _entropy(rows)
            word_tokens = pi @ (rows @ self.event_len)
            rates.append(word_entropy / word_tokens)
        return float(np.mean(rates))

    @cached_property
    def _letter_entropy_steps(self) -> np.ndarray:
        """D[r-1, t, v]: entropy of the r-th token of the next word given its first r - 1, in state (t, v).

        It is weighted by the probability that the word has an r-th token: a difference of prefix entropies (a
        word shorter than r is its own prefix group, so it adds nothing).
        """
        T, W, E = self.n_topics, self.n_words, self.max_event_len
        prefix_entropy = np.zeros((E + 1, T, W + 1))
        for t in range(T):
            rows = self._rows_for_topic(t)
            for r in range(1, E + 1):
                prefix_entropy[r, t] = _entropy(np.add.reduceat(rows, self._prefix_groups[r - 1], axis=1))
        return np.diff(prefix_entropy, axis=0)

    def position_entropies(self, n_tokens: int) -> np.ndarray:
        """Exact H(X_i | X_1..X_{i-1}) in nats, i = 1..n_tokens of a document (index 0: the topic)."""
        if n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
        cached = self.__dict__.get("_position_entropies")
        if cached is not None and cached.size >= n_tokens:
            return cached[:n_tokens].copy()
        T, W, E = self.n_topics, self.n_words, self.max_event_len
        # States are ordered by word length (start state last), so the words of each length are a slice.
        by_len = np.argsort(self.event_len, kind="stable")
        states = np.append(by_len, W)
        bigram = self.bigram[states][:, by_len]
        topic = self.topic_unigram[:, by_len]
        D = np.ascontiguousarray(self._letter_entropy_steps[:, :, states]).reshape(E, -1)
        bounds = np.searchsorted(self.event_len[by_len], np.arange(E + 2))
        slices = [(L, bounds[L], bounds[L + 1]) for L in range(1, E + 1) if bounds[L + 1] > bounds[L]]
        # ring[j % (E + 1)][t, v]: probability that a word starts after j tokens in state (t, v). Words are at
        # most E tokens long, so E + 1 slices hold every step that can still receive mass.
        ring = np.zeros((E + 1, T, W + 1))
        ring[2, :, W] = 1.0 / T  # the topic token and its space come first
        lam = self.spec.topic_weight
        h = np.zeros(n_tokens)
        h[0] = math.log(T)
        for j in range(2, n_tokens):
            f = ring[j % (E + 1)]
            # The r-th token of a word that starts after j tokens is token j + r (1-based), index j + r - 1.
            a = D @ f.reshape(-1)
            stop = min(E, n_tokens - j)
            h[j : j + stop] += a[:stop]
            nxt = (1.0 - lam) * (f @ bigram) + lam * f.sum(axis=1, keepdims=True) * topic  # (T, W)
            f[:] = 0.0
            for L, lo, hi in slices:
                ring[(j + L) % (E + 1)][:, lo:hi] += nxt[:, lo:hi]
        self.__dict__["_position_entropies"] = h
        return h.copy()

    def window_entropy(self, n_ctx: int) -> float:
        """Ideal mean loss (nats/token) predicting tokens 2..n_ctx+1 of a document from their prefixes.

        This is the loss of the Bayes-optimal predictor on the windows ``Source.batch``/``val_batches``
        produce for this source (x = doc[:n_ctx], y = doc[1:n_ctx + 1]): the exact irreducible loss at context
        ``n_ctx``.
        """
        if n_ctx < 1:
            raise ValueError(f"n_ctx must be >= 1, got {n_ctx}")
        return float(self.position_entropies(n_ctx + 1)[1:].mean())

    # ----------------------------------------------------------------- sampling
    @cached_property
    def _flat_cumulative(self) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative rows of the bigram and of the topic unigrams, row r shifted by r and flattened.

        One ``searchsorted`` of ``r + v`` then samples row r at uniform v for many rows at once.
        """
        out = []
        for table in (self.bigram, self.topic_unigram):
            cum = np.cumsum(table, axis=1)
            cum[:, -1] = 1.0  # rows sum to 1 up to rounding; make the last bin close exactly
            out.append((cum + np.arange(len(table))[:, None]).ravel())
        return out[0], out[1]

    def sample(self, uniforms: np.ndarray, n_tokens: int, with_logprob: bool = False):
        """Documents of ``n_tokens`` tokens, one per row of ``uniforms`` (n_docs, >= n_tokens // 2 + 1).

        Row i is a pure function of ``uniforms[i]``: its first uniform picks the topic, each next one a word
        (below ``lam`` from the topic unigram, else from the bigram row: exactly the mixture). Returns a uint8
        array (n_docs, n_tokens) and, if ``with_logprob``, the true log-probability of every token given the
        document so far (float64, same shape).
        """
        n_docs = uniforms.shape[0]
        steps_needed = n_tokens // 2 + 1  # every word event has >= 2 tokens; the topic is one
        if uniforms.ndim != 2 or uniforms.shape[1] < steps_needed:
            raise ValueError(f"uniforms must have shape (n_docs, >= {steps_needed}), got {uniforms.shape}")
        W, lam = self.n_words, self.spec.topic_weight
        bigram_flat, topic_flat = self._flat_cumulative
        topics = np.minimum((uniforms[:, 0] * self.n_topics).astype(np.int64), self.n_topics - 1)
        prev = np.full(n_docs, W, dtype=np.int64)
        filled = np.full(n_docs, 2, dtype=np.int64)  # tokens so far: the topic token and a space
        words, starts, logps = [], [], []
        k = 1
        while filled.min() < n_tokens:
            u = uniforms[:, k]
            from_topic = u < lam
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(from_topic, u / lam, (u - lam) / (1.0 - lam))
            v = np.clip(v, 0.0, np.nextafter(1.0, 0.0))
            w = np.where(
                from_topic,
                np.searchsorted(topic_flat, topics + v, side="right") - topics * W,
                np.searchsorted(bigram_flat, prev + v, side="right") - prev * W,
            )
            w = np.minimum(w, W - 1)
            if with_logprob:
                cum = np.cumsum(self.next_word_probs(topics, prev), axis=1)
                logps.append(self._letter_logprobs(cum, w))
            words.append(w)
            starts.append(filled.copy())
            filled += self.event_len[w]
            prev = w
            k += 1
        out = np.empty((n_docs, n_tokens), dtype=np.uint8)
        out[:, 0] = TOPIC_BASE + topics
        out[:, 1:2] = SPACE
        logp = np.empty((n_docs, n_tokens))
        logp[:, 0] = -math.log(self.n_topics)
        logp[:, 1:2] = 0.0
        if not words:  # n_tokens <= 2: only the topic and its space
            return (out, logp) if with_logprob else out
        w_all = np.stack(words, axis=1)  # (n_docs, K)
        offs = np.arange(self.max_event_len)
        pos = np.stack(starts, axis=1)[:, :, None] + offs  # (n_docs, K, E)
        valid = (offs < self.event_len[w_all][:, :, None]) & (pos < n_tokens)
        doc = np.broadcast_to(np.arange(n_docs)[:, None, None], pos.shape)
        out[doc[valid], pos[valid]] = self.spell[w_all][valid]
        if not with_logprob:
            return out
        logp[doc[valid], pos[valid]] = np.stack(logps, axis=1)[valid]
        return out, logp

    def _letter_logprobs(self, cum: np.ndarray, w: np.ndarray) -> np.ndarray:
        """log P of each token of the sampled words given the word's earlier tokens (prefix mass ratios)."""
        n_docs = len(w)
        padded = np.concatenate([np.zeros((n_docs, 1)), cum], axis=1)
        masses = np.empty((n_docs, self.max_event_len + 1))
        masses[:, 0] = cum[:, -1]
        rows = np.arange(n_docs)
        for r in range(1, self.max_event_len + 1):
            starts = self._prefix_groups[r - 1]
            g = np.searchsorted(starts, w, side="right") - 1
            hi = np.append(starts, self.n_words)[g + 1]
            masses[:, r] = padded[rows, hi] - padded[rows, starts[g]]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(masses[:, 1:] / masses[:, :-1])


def doc_uniforms(key: tuple[int, ...], first_doc: int, n_docs: int, n_tokens: int) -> np.ndarray:
    """The uniforms of documents ``first_doc .. first_doc + n_docs - 1`` of the stream named by ``key``.

    Each document has its own generator (seeded by key and its index), so document i is the same whatever else
    is drawn alongside it and however long it is.
    """
    width = n_tokens // 2 + 1
    out = np.empty((n_docs, width))
    for i in range(n_docs):
        out[i] = np.random.Generator(np.random.PCG64(np.random.SeedSequence([*key, first_doc + i]))).random(
            width
        )
    return out
