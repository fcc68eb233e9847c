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

import dataclasses
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import xxhash

from curate.core.errors import ConfigError
from curate.core.pipeline import GlobalStage
from curate.core.schema import require, with_field
from curate.core.stage import set_column

__all__ = ["LineDedup", "doc_buckets", "frequent_lines", "line_hash", "line_keys", "normalize_line", "remove_lines"]

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



# --- the global stage (curate.core.pipeline.GlobalStage protocol) -------------------------------------
LINES_REMOVED = pa.field("lines_dedup_lines_removed", pa.int64())
CHARS_REMOVED = pa.field("lines_dedup_chars_removed", pa.int64())
_LINE_KEYS = pa.schema([("shard", pa.string()), ("doc_id", pa.string()), ("bucket", pa.int64()), ("line", pa.int64())])


@dataclasses.dataclass(frozen=True)
class LineDedup(GlobalStage):
    """Remove lines found in more than ``max_occurrences`` documents of a bucket (Llama 3).

    Args:
        buckets: documents are bucketed by a hash of their doc_id; counts are per bucket (1: whole run).
        max_occurrences: a line in more documents than this is removed (Llama 3: 6).
        min_words: a document that lost lines and is left with fewer words is dropped (``dedup:lines``);
            50 is Gopher's minimum document length.
        min_chars: the same with characters (0: off).
    """

    buckets: int = 1
    max_occurrences: int = 6
    min_words: int = 50
    min_chars: int = 0
    name: ClassVar[str] = "lines_dedup"
    reason: ClassVar[str] = "dedup:lines"
    decision_column: ClassVar[str] = "line"

    def __post_init__(self):
        for field, low in (("buckets", 1), ("max_occurrences", 1), ("min_words", 0), ("min_chars", 0)):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"lines_dedup.{field} must be an integer >= {low}; got {value!r}")

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), doc_id=pa.string(), drop_reason=pa.string())
        return with_field(with_field(super().output_schema(schema), LINES_REMOVED), CHARS_REMOVED)

    def key_schemas(self) -> dict[str, pa.Schema]:
        return {"lines": _LINE_KEYS}

    def keys(self, batch: pa.RecordBatch, shard: str) -> dict[str, pa.Table]:
        keys = line_keys(batch.column("text").to_pylist(), batch.column("doc_id").to_pylist(), self.buckets)
        return {"lines": keys.add_column(0, "shard", pa.array([shard] * keys.num_rows, pa.string()))}

    def resolve(self, engine, tables: dict[str, list[str]], out_dir: str) -> None:
        def sub(name: str) -> str:
            return os.path.join(out_dir, name)

        counts = engine.group_agg(tables["lines"], ["bucket", "line"], [("doc_id", "count")], sub("counts"))
        # the engines have no filter primitive: the count table is streamed here batch by batch (constant
        # memory) and only the frequent lines, a small table, are written
        scanner = pads.dataset(counts, format="parquet").scanner(
            columns=["bucket", "line"], filter=pads.field("doc_id_count") > self.max_occurrences)
        os.makedirs(sub("frequent"), exist_ok=True)
        with pq.ParquetWriter(os.path.join(sub("frequent"), "part-00000.parquet"),
                              pa.schema([("bucket", pa.int64()), ("line", pa.int64())])) as writer:
            for b in scanner.to_batches():
                writer.write_batch(b)
        hits = engine.join(tables["lines"], [sub("frequent")], ["bucket", "line"], "semi", sub("hits"))
        engine.partition_by([hits], "shard", sub("decisions"))

    def apply(self, batch: pa.RecordBatch, decisions: pa.Table) -> pa.RecordBatch:
        """Cut the shard's frequent lines from live rows; drop rows left too short (original text kept)."""
        if "duplicate_of" not in batch.schema.names:
            batch = set_column(batch, "duplicate_of", pa.nulls(batch.num_rows, pa.string()))
        lines = defaultdict(set)
        if decisions.num_rows:
            for d, h in zip(decisions.column("doc_id").to_pylist(),
                            decisions.column("line").cast(pa.int64()).to_pylist(), strict=True):
                lines[d].add(h)
        texts = batch.column("text").to_pylist()
        reasons = batch.column("drop_reason").to_pylist()
        cut_lines, cut_chars = [0] * batch.num_rows, [0] * batch.num_rows
        for i, (doc, text, reason) in enumerate(zip(batch.column("doc_id").to_pylist(), texts, reasons, strict=True)):
            if reason is not None or doc not in lines or text is None:
                continue
            new, cut_lines[i], cut_chars[i] = remove_lines(text, lines[doc])
            if cut_lines[i] and (len(new.split()) < self.min_words or len(new) < self.min_chars):
                reasons[i] = self.reason
            else:
                texts[i] = new
        batch = set_column(batch, "text", pa.array(texts, batch.schema.field("text").type))
        batch = set_column(batch, "drop_reason", pa.array(reasons, pa.string()))
        batch = set_column(batch, LINES_REMOVED.name, pa.array(cut_lines, pa.int64()))
        return set_column(batch, CHARS_REMOVED.name, pa.array(cut_chars, pa.int64()))
