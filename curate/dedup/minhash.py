"""MinHash LSH fuzzy deduplication: pure, engine-independent, batched building blocks.

MinHash (Broder, "On the resemblance and containment of documents", 1997) estimates the Jaccard
similarity of two documents' shingle sets: under a random permutation of the shingle universe, the
probability that both sets have the same minimum is their Jaccard similarity. Locality-sensitive hashing
groups the ``bands * rows`` minima into ``bands`` bands of ``rows`` values; two documents become
candidates when every value of at least one band agrees, which happens with probability
``1 - (1 - s**rows)**bands`` at Jaccard ``s``.

FineWeb's configuration (datatrove ``MinhashConfig``), our defaults:

    ========================  =====================================================
    shingles                  word 5-grams of the normalised text
    bands x rows              14 x 8 = 112 hash permutations
    seed                      1 (numpy ``RandomState``) for the permutation parameters
    threshold ~(1/14)^(1/8)   0.72; P(candidate | s=0.8) = 1-(1-0.8^8)^14 = 0.924
    ========================  =====================================================

Compatibility with datatrove 0.10 (``datatrove.pipeline.dedup.minhash.MinhashDedupSignature``):

* text normalisation is datatrove's ``simplify_text`` with its default ``TextNormConfig``: lowercase;
  numbers (``\\d+`` with an optional decimal part, any script) become ``0``; datatrove's punctuation
  characters become spaces; whitespace runs become one space; NFD then combining marks (``Mn``) dropped.
* words are split with :func:`curate.filters.words.split_words` (our spaCy-English re-implementation;
  datatrove runs spaCy itself), each 5-gram is joined by one space and hashed with xxh64 as datatrove's
  ``HashConfig(precision=64, hash_fc="xxhash")`` does;
* the permutations are datatrove's ``(a * x + b) mod (2^61 - 1)`` with ``a, b`` drawn from
  ``RandomState(seed)`` exactly as datatrove draws them. As in datatrove and datasketch, ``a * x + b``
  is computed in uint64 and wraps modulo 2^64 before the Mersenne reduction (the family is then not
  strictly universal, but it is the one FineWeb was built with). The reduction itself is done without
  division: ``y mod p = (y & p) + (y >> 61)``, minus ``p`` once if needed.

So for any document with at least ``ngram`` words, :func:`signatures` returns datatrove's signature
bit for bit (tested), for a whole batch at once: ASCII documents are normalised as bytes
(``bytes.translate``); all documents' words go into one buffer, and one compiled pass (numba,
``curate.dedup._kernels``) finds each shingle's bytes, hashes them with XXH64 (tested against xxhash) and
folds the 112 permuted values into the document's minima, 256 shingles at a time, without building
per-shingle arrays. It is 1.9x the numpy version this replaced (same machine, same docs:
``bench/minhash_speed.py``); the first call in a fresh install compiles for ~5 s, later processes load
the cached machine code.

Deliberate differences: a non-empty document with fewer than ``ngram`` words gets one shingle made of
all its words (datatrove writes no signature for it, so it is never deduplicated); a document with no
words at all gets the sentinel row (all ``SENTINEL``), whose band keys are ``SENTINEL`` and are never
grouped (:func:`candidate_pairs` skips them; an engine's group-by should drop them too).

Pipeline shape (a later session maps these onto engine phases):
``signatures`` -> ``band_keys`` -> group by (band, key) -> ``candidate_pairs``-style edges ->
optional ``verify`` -> ``components`` -> ``keepers``.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curate.filters.words import _SPECIAL, split_words

__all__ = [
    "SENTINEL",
    "MinHashParams",
    "band_keys",
    "candidate_pairs",
    "components",
    "jaccard",
    "keepers",
    "normalize_text",
    "optimal_bands_rows",
    "shingles",
    "signatures",
    "verify",
]

MERSENNE_PRIME = np.uint64((1 << 61) - 1)
SENTINEL = np.uint64(2**64 - 1)  # never a permuted value (those are < 2^61 - 1)


@dataclass(frozen=True)
class MinHashParams:
    """MinHash LSH parameters (defaults: FineWeb's 5-gram, 14 bands x 8 rows, seed 1).

    Args:
        ngram: words per shingle.
        bands: LSH bands (datatrove's ``num_buckets``).
        rows: hashes per band (datatrove's ``hashes_per_bucket``).
        seed: seed of the permutation parameters; must be the same on every worker.
        hash_bits: shingle hash width; only 64 is supported (datatrove's FineWeb setting).
    """

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    hash_bits: int = 64

    def __post_init__(self) -> None:
        for name in ("ngram", "bands", "rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MinHashParams.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ValueError(f"MinHashParams.seed must be an integer in [0, 2^32), got {self.seed!r}")
        if self.hash_bits != 64:
            raise ValueError(f"MinHashParams.hash_bits must be 64 (the only supported width), got {self.hash_bits!r}")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def threshold(self) -> float:
        """The Jaccard similarity where the candidate probability curve is steepest, ~(1/b)^(1/r)."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    @classmethod
    def for_threshold(
        cls,
        threshold: float,
        num_perm: int = 112,
        false_positive_weight: float = 0.5,
        false_negative_weight: float = 0.5,
        **kwargs,
    ) -> MinHashParams:
        """Params whose bands/rows minimise datasketch's weighted false positive + negative area."""
        bands, rows = optimal_bands_rows(threshold, num_perm, false_positive_weight, false_negative_weight)
        return cls(bands=bands, rows=rows, **kwargs)


@functools.cache
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _integrate(f, lo: float, hi: float, n: int) -> float:
    x, w = _gauss_legendre(n)
    half = (hi - lo) / 2.0
    return float(half * np.dot(w, f(half * x + (hi + lo) / 2.0)))


def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """datasketch's ``_optimal_param``: the (bands, rows), bands * rows <= num_perm, minimising
    ``fp_weight * integral_0^t P(s) ds + fn_weight * integral_t^1 (1 - P(s)) ds``, with
    ``P(s) = 1 - (1 - s^r)^b``.

    datasketch integrates with ``scipy.integrate.quad``; ``P`` is a polynomial of degree ``b * r <=
    num_perm``, so Gauss-Legendre with ``num_perm`` nodes integrates it exactly (up to rounding) with
    numpy alone. Ties are broken as datasketch does (first strictly smaller error, b then r ascending).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    if not isinstance(num_perm, int) or num_perm < 1:
        raise ValueError(f"num_perm must be a positive integer, got {num_perm!r}")
    if abs(false_positive_weight + false_negative_weight - 1.0) > 1e-9:
        raise ValueError("false_positive_weight + false_negative_weight must be 1")
    nodes = max(32, num_perm // 2 + 2)
    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            def prob(s, b=b, r=r):
                return 1.0 - (1.0 - s ** float(r)) ** float(b)

            fp = _integrate(prob, 0.0, threshold, nodes)
            fn = _integrate(lambda s, p=prob: 1.0 - p(s), threshold, 1.0, nodes)
            err = fp * false_positive_weight + fn * false_negative_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


# --- text normalisation (datatrove.utils.text.simplify_text, default TextNormConfig) --------------------
# datatrove.utils.text.PUNCTUATION (its TERMINAL_PUNCTUATION is not part of the translation table)
_PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    chr(x) for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)
)
# datatrove uses regex's \p{Nd}; Python's re \d on str patterns is exactly Unicode category Nd
_NUMBERS = re.compile(r"\d+(?:[.,،٫⎖⎗⎘]\d+)?")
# datatrove maps punctuation to spaces, then collapses whitespace runs: one regex pass does both
# ASCII punctuation and control characters -> space, as a bytes table (non-ASCII bytes pass unchanged)
_ASCII_PUNCT = bytes.maketrans(
    bytes(c for c in range(128) if chr(c) in _PUNCTUATION), b" " * sum(chr(c) in _PUNCTUATION for c in range(128))
)
_NONASCII_PUNCT = frozenset(c for c in _PUNCTUATION if not c.isascii())


def normalize_text(text: str) -> str:
    """datatrove's ``simplify_text`` with its default config (see the module docstring)."""
    text = _NUMBERS.sub("0", text.lower())
    if text.isascii():  # ASCII is unchanged by NFD and has no combining marks
        return " ".join(text.encode().translate(_ASCII_PUNCT).decode().split())
    return _normalize_unicode(text)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_PLAIN, _PUNCT, _MARK, _DECOMPOSES = range(4)


@functools.lru_cache(maxsize=1 << 16)
def _char_kind(c: str) -> int:
    """How normalisation treats one non-ASCII character."""
    if c in _NONASCII_PUNCT:
        return _PUNCT
    if unicodedata.category(c) == "Mn":
        return _MARK
    if unicodedata.normalize("NFD", c) != c or unicodedata.combining(c):
        return _DECOMPOSES
    return _PLAIN


def _normalize_unicode(text: str, collapse: bool = True) -> str:
    """The punctuation / whitespace / NFD / combining-mark steps for lower-cased, digit-folded text.

    Regex and ``str.translate`` cost ~50 ns per character: instead, the distinct non-ASCII characters a
    document holds (usually a few quotes and dashes) are classified once each (cached) and replaced with
    ``str.replace``, ASCII punctuation with ``bytes.translate``, and NFD runs only when some character
    decomposes or reorders. datatrove's order is kept (punctuation before NFD: NFD turns U+037E into
    ``;``, which datatrove keeps). ``collapse=False`` leaves whitespace runs, for callers that split.
    """
    chars = set(_NON_ASCII.findall(text))
    kinds = {c: _char_kind(c) for c in chars}
    for c, kind in kinds.items():
        if kind == _PUNCT:
            text = text.replace(c, " ")
    text = text.encode("utf-8", "surrogatepass").translate(_ASCII_PUNCT).decode("utf-8", "surrogatepass")
    if collapse:
        text = " ".join(text.split())
    if _DECOMPOSES in kinds.values():
        text = unicodedata.normalize("NFD", text)
        marks = [c for c in set(_NON_ASCII.findall(text)) if _char_kind(c) == _MARK]
    else:
        marks = [c for c, kind in kinds.items() if kind == _MARK]
    for c in marks:
        text = text.replace(c, "")
    return text.strip()


_ASCII_NUMBERS = re.compile(rb"[0-9]+(?:[.,][0-9]+)?")  # _NUMBERS on ASCII text (the other separators aren't)
# whitespace chunk -> its UTF-8 words (bounded caches); two dicts, as hash("ab") == hash(b"ab") would collide
_ASCII_TOKENS: dict[bytes, tuple[bytes, ...]] = {}
_STR_TOKENS: dict[str, tuple[bytes, ...]] = {}
_TOKENS_MAX = 200_000
# A normalised ASCII text holds only [a-z0-9] chunks. spaCy's rules split such a chunk only when it is a
# special case ("cannot" -> "can" "not", "im" -> "i" "m") or a number runs into a unit ("0km"): texts with
# neither skip the per-chunk lookup (tested against split_words on real pages).
_ASCII_SPECIAL = frozenset(k.encode() for k in _SPECIAL if k.isascii() and k.isalnum() and k == k.lower())
_DIGIT_LETTER = re.compile(rb"[0-9][a-z]")
_chain = itertools.chain.from_iterable


def _doc_bytes(text: str) -> bytes:
    """The words of the normalised text, UTF-8, separated by ASCII whitespace (one or more bytes).

    Its whitespace-separated words are exactly ``split_words(normalize_text(text))``. ASCII documents
    (most English web text) never leave bytes: lower-case, fold numbers, translate punctuation; chunks
    are looked up in a cache of their spaCy-style words only when one may split.
    """
    if text.isascii():
        norm = _ASCII_NUMBERS.sub(b"0", text.encode().lower()).translate(_ASCII_PUNCT)
        chunks = norm.split()
        if _ASCII_SPECIAL.isdisjoint(chunks) and not _DIGIT_LETTER.search(norm):
            return norm  # only [a-z0-9]+ chunks that no spaCy rule splits: each chunk is a word
        cache = _ASCII_TOKENS
    else:
        chunks = _normalize_unicode(_NUMBERS.sub("0", text.lower()), collapse=False).split()
        cache = _STR_TOKENS
    found = list(map(cache.get, chunks))
    if None in found:
        if len(cache) >= _TOKENS_MAX:
            cache.clear()
        for i, toks in enumerate(found):
            if toks is None:
                chunk = chunks[i]
                as_str = chunk if isinstance(chunk, str) else chunk.decode()
                words = split_words(as_str)
                found[i] = cache[chunk] = tuple(w.encode("utf-8", "surrogatepass") for w in words)
    return b" ".join(_chain(found))


def _pack(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """All documents' normalised words in one buffer, one separator byte apart, and each one's end."""
    parts = [_doc_bytes(t) for t in texts]
    lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    return np.frombuffer(b" ".join(parts) or b" ", dtype=np.uint8), np.cumsum(lens + 1) - 1


def shingles(text: str, params: MinHashParams = MinHashParams()) -> np.ndarray:
    """The document's shingle set: sorted unique uint64 hashes of its word n-grams (empty for no words)."""
    from curate.dedup._kernels import _batch_kernel

    buf, doc_end = _pack([text])
    hashes, counts = np.empty(len(buf) // 2 + 1, dtype=np.uint64), np.zeros(1, dtype=np.int64)  # <= words
    _batch_kernel(buf, doc_end, params.ngram, _NO_PERM, _NO_PERM, np.empty((1, 0), dtype=np.uint64), hashes, counts)
    return np.unique(hashes[: counts[0]])


_NO_PERM = np.empty(0, dtype=np.uint64)


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` drawn as datatrove's ``MinhashDedupSignature.parameters`` draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(1, MERSENNE_PRIME, dtype=np.uint64, size=(1, num_perm))
    b = gen.randint(0, MERSENNE_PRIME, dtype=np.uint64, size=(1, num_perm))
    return a.ravel(), b.ravel()


def signatures(texts: Sequence[str], params: MinHashParams = MinHashParams()) -> np.ndarray:
    """MinHash signatures of a batch: uint64 array ``(len(texts), bands * rows)``.

    Rows of documents without any word are all ``SENTINEL``. Values are datatrove's (see module docstring).
    """
    # numba costs ~150 MiB RSS: loaded only where signatures are made
    from curate.dedup._kernels import _batch_kernel

    a, b = _permutations(params.num_perm, params.seed)
    out = np.full((len(texts), params.num_perm), SENTINEL, dtype=np.uint64)
    if len(texts):
        buf, doc_end = _pack(texts)
        _batch_kernel(buf, doc_end, params.ngram, a, b, out, _NO_PERM, _NO_PERM.view(np.int64))
    return out


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (Steele et al. 2014), in place on a uint64 array."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def band_keys(sigs: np.ndarray, params: MinHashParams = MinHashParams()) -> np.ndarray:
    """One uint64 key per (document, band): a 64-bit hash of the band's ``rows`` values.

    Two documents share a band key when (up to 2^-64 collisions) their band values are all equal, so an
    engine finds candidates with a group-by on ``(band, key)``. Sentinel rows get ``SENTINEL`` keys.
    """
    sigs = np.asarray(sigs, dtype=np.uint64)
    if sigs.ndim != 2 or sigs.shape[1] != params.num_perm:
        raise ValueError(f"signatures must have shape (n, {params.num_perm}), got {sigs.shape}")
    view = sigs.reshape(len(sigs), params.bands, params.rows)
    key = np.full((len(sigs), params.bands), np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
    for r in range(params.rows):
        key ^= view[:, :, r]
        _mix64(key)
    key[key == SENTINEL] = np.uint64(0)  # keep SENTINEL for empty documents only
    key[(sigs == SENTINEL).all(axis=1)] = SENTINEL
    return key


def candidate_pairs(keys: np.ndarray, all_pairs: bool = False, max_bucket: int = 10_000) -> np.ndarray:
    """Candidate pairs ``(i, j)``, ``i < j``, unique and sorted, from band keys ``(n, bands)``.

    Documents sharing a key in some band form a bucket. By default each bucket gives the edges
    (smallest member, other member): enough for :func:`components`, and linear in the bucket size.
    ``all_pairs=True`` gives every pair in a bucket (for :func:`verify`); buckets larger than
    ``max_bucket`` then fall back to star edges. ``SENTINEL`` keys (empty documents) never pair.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    n = len(keys)
    found = []
    for band in range(keys.shape[1]):
        col = keys[:, band]
        order = np.argsort(col, kind="stable")  # stable: members of a bucket in ascending index
        sk = col[order]
        new = np.empty(n, dtype=bool)
        new[:1] = True
        new[1:] = sk[1:] != sk[:-1]
        bucket_start = np.flatnonzero(new)
        sizes = np.diff(np.append(bucket_start, n))
        multi = (sizes > 1) & (sk[bucket_start] != SENTINEL)
        if not multi.any():
            continue
        bucket_of = np.cumsum(new) - 1
        in_multi = multi[bucket_of]
        first = order[bucket_start][bucket_of]
        star = in_multi & ~new
        found.append(np.stack([first[star], order[star]], axis=1))
        if all_pairs:
            small = multi & (sizes > 2) & (sizes <= max_bucket)
            for s, size in zip(bucket_start[small], sizes[small], strict=True):
                members = order[s : s + size]  # ascending; pairs with members[0] are already in the star
                ii, jj = np.triu_indices(size - 1, k=1)
                found.append(np.stack([members[ii + 1], members[jj + 1]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique arrays (two empty sets: 1.0)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def verify(
    texts: Sequence[str], pairs: np.ndarray, threshold: float, params: MinHashParams = MinHashParams()
) -> np.ndarray:
    """The candidate pairs whose exact shingle-set Jaccard is ``>= threshold`` (removes LSH false positives)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    needed = np.unique(pairs)
    sets = {int(i): shingles(texts[i], params) for i in needed}
    keep = np.fromiter(
        (jaccard(sets[int(i)], sets[int(j)]) >= threshold for i, j in pairs), dtype=bool, count=len(pairs)
    )
    return pairs[keep]


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of ``n`` documents under ``pairs``: each document's smallest member index.

    Vectorised union-find: hook every edge's larger root under its smaller root (``np.minimum.at``), then
    compress paths by pointer jumping until every edge joins equal labels. Labels only ever decrease and
    always point to a smaller-or-equal index, so a root is its tree's minimum and the result does not
    depend on the order of ``pairs``.
    """
    labels = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return labels
    if pairs.min() < 0 or pairs.max() >= n:
        raise ValueError(f"pair indices must be within [0, {n})")
    u, v = pairs[:, 0], pairs[:, 1]
    while True:
        lu, lv = labels[u], labels[v]
        differ = lu != lv
        if not differ.any():
            return labels
        lu, lv = lu[differ], lv[differ]
        np.minimum.at(labels, np.maximum(lu, lv), np.minimum(lu, lv))
        while True:  # pointer jumping to the roots
            nxt = labels[labels]
            if np.array_equal(nxt, labels):
                break
            labels = nxt


def keepers(labels: np.ndarray, keys: Sequence[np.ndarray] | np.ndarray | None = None) -> np.ndarray:
    """Boolean mask keeping one document per component: the one with the smallest ``keys``.

    Args:
        labels: component labels, e.g. from :func:`components`.
        keys: one array, or a sequence of arrays compared lexicographically (first most significant),
            e.g. ``(-quality_score, doc_id)``; ties are broken by position. Use a stable key such as
            ``doc_id`` for a choice that does not depend on input order. Default: position.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if keys is None:
        key_list = []
    elif isinstance(keys, np.ndarray) and keys.ndim == 1:
        key_list = [keys]
    else:
        key_list = [np.asarray(k) for k in keys]
    for k in key_list:
        if len(k) != n:
            raise ValueError(f"every key must have {n} entries, got {len(k)}")
    # np.lexsort: last key is the primary one
    order = np.lexsort((np.arange(n), *reversed(key_list), labels))
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order[1:]] != labels[order[:-1]]
    keep = np.zeros(n, dtype=bool)
    keep[order[first]] = True
    return keep
