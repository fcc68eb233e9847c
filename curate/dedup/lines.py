"""Line-level deduplication as in Llama 3: template lines repeated across many pages are cut out.

Llama 3 (Dubey et al. 2024, section 3.1.1) "performs line-level de-duplication similar to CCNet: we remove
lines that appeared more than 6 times in each bucket of 30M documents"; this removes leftover
boilerplate (navigation menus, cookie warnings, footers) that extraction kept.

How it runs here, as a global stage in three steps (each a plain function, so any engine can drive it):

1. :func:`line_keys` (map phase): each live document's distinct non-blank lines, normalised and hashed
   to int64, with the document's bucket (a hash of its ``doc_id`` modulo ``buckets``). A line counts
   once per document: a page that repeats its own line is Gopher repetition's business, not a template.
2. resolve: the engine's ``group_agg`` counts documents per ``(bucket, line)``; :func:`frequent_lines`
   keeps those seen in more than ``max_occurrences`` documents; a semi-join finds the documents that
   hold them, partitioned by shard.
3. :func:`remove_lines` (next map phase): those lines are removed from the text; the row gains
   ``lines_dedup_lines_removed`` / ``lines_dedup_chars_removed``, and a row that lost lines and is left
   with fewer than ``min_words`` words or ``min_chars`` characters is dropped as ``dedup:lines``.

Normalisation (:func:`normalize_line`), CCNet's choice (Wenzek et al. 2019, ``normalize_for_dedup``)
minus its punctuation and accent stripping: strip, lower-case, collapse whitespace, and every digit run
becomes ``0``, so template lines that differ only by a date, a year or a counter ("(c) 2019 BBC",
"Posted 12 May") count as one line. Punctuation is kept: it is most of what tells a menu line from prose.

Every document of one bucket must see the same counts; buckets only bound how far a template has to
spread before it is cut (Llama 3's 30M documents per bucket; ``buckets=1`` counts over the whole run).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

__all__ = ["doc_buckets", "frequent_lines", "line_hash", "line_keys", "normalize_line", "remove_lines"]

_DIGITS = re.compile(r"\d+")
_BUCKET_SEED = 0x6C696E65  # "line": a bucket hash independent of the line hash


def normalize_line(line: str) -> str:
    """Lower-cased, whitespace-collapsed, digit runs as ``0`` (see the module docstring)."""
    return _DIGITS.sub("0", " ".join(line.lower().split()))


def _signed(h: int) -> int:
    return h - (1 << 64) if h >= 1 << 63 else h


def line_hash(line: str) -> int | None:
    """int64 hash (xxh64) of the normalised line; None for a blank line (never counted nor removed)."""
    norm = normalize_line(line)
    return _signed(xxhash.xxh64_intdigest(norm.encode("utf-8", "surrogatepass"))) if norm else None


def doc_buckets(doc_ids: Sequence[str], buckets: int) -> np.ndarray:
    """Each document's bucket in ``[0, buckets)``: a hash of its doc_id, so it never depends on sharding."""
    return np.fromiter(
        (xxhash.xxh64_intdigest(d.encode("utf-8", "surrogatepass"), seed=_BUCKET_SEED) % buckets for d in doc_ids),
        dtype=np.int64, count=len(doc_ids),
    )


def line_keys(texts: Sequence[str | None], doc_ids: Sequence[str], buckets: int) -> pa.Table:
    """One row ``(doc_id, bucket, line)`` per distinct non-blank normalised line of each document."""
    ids: list[str] = []
    bucket_of: list[int] = []
    hashes: list[int] = []
    for text, doc, bucket in zip(texts, doc_ids, doc_buckets(doc_ids, buckets).tolist(), strict=True):
        distinct = {h for h in map(line_hash, (text or "").splitlines()) if h is not None}
        for h in sorted(distinct):
            ids.append(doc)
            bucket_of.append(bucket)
            hashes.append(h)
    return pa.table({
        "doc_id": pa.array(ids, pa.string()),
        "bucket": pa.array(bucket_of, pa.int64()),
        "line": pa.array(hashes, pa.int64()),
    })


def frequent_lines(counts: pa.Table, max_occurrences: int, count_column: str = "doc_id_count") -> pa.Table:
    """The ``(bucket, line)`` rows of a ``group_agg`` count table seen in more than ``max_occurrences`` docs."""
    hot = counts.filter(pc.greater(counts.column(count_column), max_occurrences))
    return hot.select(["bucket", "line"])


def remove_lines(text: str, lines: set[int]) -> tuple[str, int, int]:
    """``text`` without the lines whose :func:`line_hash` is in ``lines``; (new text, lines cut, chars cut).

    Line ends are kept as they were (``splitlines(keepends=True)``), so untouched text is byte-identical.
    """
    if not lines or not text:
        return text, 0, 0
    kept, removed = [], 0
    for line in text.splitlines(keepends=True):
        if line_hash(line) in lines:
            removed += 1
        else:
            kept.append(line)
    if not removed:
        return text, 0, 0
    new = "".join(kept)
    return new, removed, len(text) - len(new)
