"""MinHash LSH fuzzy deduplication: pure, engine-independent, numpy-vectorised building blocks.

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
bit for bit (tested), computed for a whole batch at once: all shingle hashes are concatenated, permuted
in cache-sized chunks and reduced per document with ``np.minimum.reduceat``.

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
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from curate.filters.words import split_words

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
_SHIFT61 = np.uint64(61)
_CHUNK_ELEMENTS = 1 << 16  # permuted values per chunk (512 KiB of uint64): cache-sized, measured best


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
_PUNCT_OR_SPACE = re.compile("[" + re.escape(_PUNCTUATION) + r"\s]+")


def normalize_text(text: str) -> str:
    """datatrove's ``simplify_text`` with its default config (see the module docstring)."""
    text = _PUNCT_OR_SPACE.sub(" ", _NUMBERS.sub("0", text.lower())).strip()
    if not text.isascii():  # ASCII is unchanged by NFD and has no combining marks
        text = unicodedata.normalize("NFD", text)
        marks = {ord(c): None for c in set(text) if unicodedata.category(c) == "Mn"}
        if marks:
            text = text.translate(marks)
    return text.strip()


_xxh64 = xxhash.xxh64_intdigest  # xxhash >= 4 hashes bytes only; older ones hashed str as UTF-8


def _shingle_hashes(text: str, ngram: int) -> list[int]:
    words = split_words(normalize_text(text))
    if not words:
        return []
    if len(words) < ngram:
        return [_xxh64(" ".join(words).encode("utf-8", "surrogatepass"))]
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    if ngram == 1:
        return list(map(_xxh64, encoded))
    join = b" ".join
    return [_xxh64(join(encoded[i : i + ngram])) for i in range(len(encoded) - ngram + 1)]


def shingles(text: str, params: MinHashParams = MinHashParams()) -> np.ndarray:
    """The document's shingle set: sorted unique uint64 hashes of its word n-grams (empty for no words)."""
    return np.unique(np.fromiter(_shingle_hashes(text, params.ngram), dtype=np.uint64))


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` drawn as datatrove's ``MinhashDedupSignature.parameters`` draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(1, MERSENNE_PRIME, dtype=np.uint64, size=(1, num_perm))
    b = gen.randint(0, MERSENNE_PRIME, dtype=np.uint64, size=(1, num_perm))
    return a, b


def _permuted_min(hashes: np.ndarray, seg_starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per segment (rows ``seg_starts[i]:seg_starts[i+1]``) minimum over rows of ``(a*x+b) mod p``."""
    y = hashes[:, None] * a  # uint64, wraps mod 2^64 as in datatrove/datasketch
    y += b
    r = y & MERSENNE_PRIME
    y >>= _SHIFT61
    r += y  # y mod p == (y & p) + (y >> 61), at most one p too big
    np.subtract(r, MERSENNE_PRIME, out=y)  # wraps to a huge value where r < p, so the minimum picks r
    np.minimum(r, y, out=r)
    return np.minimum.reduceat(r, seg_starts, axis=0)


def signatures(texts: Sequence[str], params: MinHashParams = MinHashParams()) -> np.ndarray:
    """MinHash signatures of a batch: uint64 array ``(len(texts), bands * rows)``.

    Rows of documents without any word are all ``SENTINEL``. Values are datatrove's (see module docstring).
    """
    num_perm = params.num_perm
    a, b = _permutations(num_perm, params.seed)
    out = np.full((len(texts), num_perm), SENTINEL, dtype=np.uint64)
    per_doc = [_shingle_hashes(t, params.ngram) for t in texts]
    counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
    if not counts.any():
        return out
    flat = np.fromiter((h for hs in per_doc for h in hs), dtype=np.uint64, count=int(counts.sum()))
    ends = np.cumsum(counts)
    starts = ends - counts
    docs = np.flatnonzero(counts)  # docs that own rows in `flat`
    chunk_rows = max(1, _CHUNK_ELEMENTS // num_perm)
    i = 0
    while i < len(docs):
        # the docs starting within the next chunk_rows rows (at least one: a huge doc is split below)
        j = int(np.searchsorted(starts[docs], starts[docs[i]] + chunk_rows, side="left"))
        j = max(j, i + 1)
        lo, hi = int(starts[docs[i]]), int(ends[docs[j - 1]])
        if hi - lo <= chunk_rows or j - i > 1:
            group = docs[i:j]
            out[group] = _permuted_min(flat[lo:hi], starts[group] - lo, a, b)
        else:  # one document larger than a chunk: reduce chunk by chunk
            d = docs[i]
            acc = out[d]
            for k in range(lo, hi, chunk_rows):
                part = _permuted_min(flat[k : min(k + chunk_rows, hi)], np.zeros(1, dtype=np.int64), a, b)[0]
                np.minimum(acc, part, out=acc)
        i = j
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
