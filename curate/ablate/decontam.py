"""Decontamination: drop training documents that share a word 13-gram with an evaluation example.

GPT-3 (Brown et al. 2020, appendix C) marks a training document dirty when it shares an n-gram of words
(lower-cased, punctuation removed, N = 13 for most tasks) with a benchmark example, the example being its
context plus its answer choices; lm-evaluation-harness's decontamination and the Llama/DCLM reports use
the same 13-gram rule. An ablation that trains on test items would reward the filter that happens to keep
them, so the harness removes hits from both arms before training and reports how many it removed.

Words: lower-cased, Unicode punctuation and symbols (categories P*, S*) deleted ("it's" -> "its"),
split on Unicode whitespace.

How: the evaluation side is small (tens of thousands of examples), the training side large. Each distinct
evaluation word gets a fixed 64-bit value (blake2b of the word); an n-gram's hash is the polynomial
``sum v[i+j] * P**(n-1-j) mod 2**64``. A batch of training documents is normalised and split by Arrow
kernels, its words looked up in the evaluation vocabulary with one ``index_in``, and the hashes of every
window of the whole batch computed with a few numpy operations; a bitmap of the evaluation hashes
rejects almost every window, and the few candidates are checked exactly in the sorted hash array. Words
that never occur in an evaluation text share one value, so the training vocabulary is never hashed. Two
different n-grams collide with probability about 2**-64 per pair (word values uniform, P odd).

Evaluation texts shorter than ``n`` words are matched whole, as GPT-3 did, when they have at least
``min_words`` (8, GPT-3's smallest N) words: their k-gram hashes go into a table for that k. Shorter
texts are skipped; a 5-word sentence such as a BLiMP pair would match ordinary prose by chance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.ablate.evals import Task, decontamination_texts

_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier (2**64 / golden ratio)
_UNKNOWN = 0x2545F4914F6CDD1D  # the value of every word no evaluation text contains
_BATCH = 2048  # documents per vectorised pass: bounds memory at a few hundred MB for web-length pages


def _split(texts: list[str | None]) -> tuple[pa.Array, np.ndarray]:
    """All words of ``texts`` in order, and the index of the text each word came from."""
    arr = pa.array(texts, pa.large_string())
    lists = pc.utf8_split_whitespace(pc.replace_substring_regex(pc.utf8_lower(arr), r"[\p{P}\p{S}]", ""))
    flat, parent = lists.flatten(), pc.list_parent_indices(lists)
    nonempty = pc.greater(pc.binary_length(flat), 0)  # the split leaves "" at leading/trailing spaces
    return flat.filter(nonempty), parent.filter(nonempty).to_numpy(zero_copy_only=False).astype(np.int64)


def words(text: str) -> list[str]:
    """The words the decontaminator sees in ``text``."""
    return _split([text])[0].to_pylist()


def _word_value(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _kgram_hashes(values: np.ndarray, k: int) -> np.ndarray:
    """Hashes of every window of ``k`` consecutive word values (empty when there are fewer words)."""
    m = len(values) - k + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    h = values[:m].copy()
    for j in range(1, k):
        h *= _P  # uint64 arithmetic wraps: the hash is mod 2**64
        h += values[j:j + m]
    return h


class Decontaminator:
    """Flags training documents that share a word n-gram with the evaluation texts.

    Args:
        texts: evaluation texts (for each example: context + each choice, see ``from_tasks``).
        n: n-gram length in words (13, as GPT-3).
        min_words: texts with ``min_words <= words < n`` are matched whole; shorter ones are skipped.
    """

    def __init__(self, texts: Iterable[str], n: int = 13, min_words: int = 8):
        if not 1 <= min_words <= n:
            raise ValueError(f"decontamination needs 1 <= min_words <= n, got min_words={min_words}, n={n}")
        self.n, self.min_words = n, min_words
        texts = list(texts)
        flat, parent = _split(texts)
        self._vocab = pc.unique(flat)
        self._values = np.array([_UNKNOWN] + [_word_value(w) for w in self._vocab.to_pylist()], np.uint64)
        lengths = np.bincount(parent, minlength=len(texts))
        self.skipped = int(np.sum(lengths < min_words))  # evaluation texts too short to match
        # every text contributes its n-grams, or itself whole when it has min_words..n-1 words
        values, k_of_text = self._lookup(flat), np.minimum(lengths, n)
        hashes = []
        for k in range(min_words, n + 1):
            h = _kgram_hashes(values, k)
            inside = parent[: len(h)] == parent[k - 1:]  # windows that cross a text end are not n-grams
            hashes.append(h[inside & (k_of_text[parent[: len(h)]] == k)])
        self._table = np.unique(np.concatenate(hashes))
        # bitmap prefilter over the top bits: ~1/16 full, so it passes ~6% of clean windows to the exact check
        self._shift = np.uint64(64 - max(20, int(len(self._table) * 16).bit_length()))
        self._bitmap = np.zeros(1 << (64 - int(self._shift)), dtype=bool)
        self._bitmap[(self._table >> self._shift).astype(np.int64)] = True
        self._ks = sorted(set(k_of_text[lengths >= min_words].tolist()))

    @classmethod
    def from_tasks(cls, tasks: list[Task], n: int = 13, min_words: int = 8) -> Decontaminator:
        """From loaded evaluation tasks: each example's context + each of its choices (prompt template
        removed), as GPT-3 defined an example's text."""
        return cls((t for task in tasks for t in decontamination_texts(task)), n=n, min_words=min_words)

    def __len__(self) -> int:
        """Number of distinct evaluation n-grams (and whole short texts) held."""
        return len(self._table)

    def _lookup(self, flat: pa.Array) -> np.ndarray:
        ids = pc.index_in(flat, value_set=self._vocab).fill_null(-1).to_numpy(zero_copy_only=False)
        return self._values[ids.astype(np.int64) + 1]

    def _mask_batch(self, texts: list[str | None]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=bool)
        flat, parent = _split(texts)
        values = self._lookup(flat)
        for k in self._ks:
            h = _kgram_hashes(values, k)
            cand = np.flatnonzero(self._bitmap[(h >> self._shift).astype(np.int64)])
            cand = cand[parent[cand] == parent[cand + k - 1]]
            pos = np.searchsorted(self._table, h[cand])
            found = cand[self._table[np.minimum(pos, len(self._table) - 1)] == h[cand]]
            out[parent[found]] = True
        return out

    def mask(self, texts: Iterable[str | None]) -> np.ndarray:
        """Boolean array, True for each contaminated text (None and "" are clean). Batches of documents
        are processed together, so pass many at once."""
        texts = list(texts)
        parts = [self._mask_batch(texts[i:i + _BATCH]) for i in range(0, len(texts), _BATCH)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)

    def hits(self, text: str) -> bool:
        """True when ``text`` contains one of the evaluation n-grams (or a whole short evaluation text)."""
        return bool(self.mask([text])[0])
