"""Parquet input and atomic Parquet output.

Every file is written under a temporary name in the same directory and renamed into place when
complete, so a reader (or a rerun) never sees half a file, and a retried task overwrites rather than
appends. Rows are buffered into row groups of about ``ROW_GROUP_BYTES`` in memory (DESIGN: 100-300 MB).
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.core.ids import doc_id_for
from curate.core.pipeline import Source
from curate.core.schema import DOC_SCHEMA, with_field

ROW_GROUP_BYTES = 128 * 2**20


def _tmp_name(path: str) -> str:
    d, base = os.path.split(path)
    # unique per attempt: a speculative or retried task on another host must not share it
    return os.path.join(d, f".{base}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = _tmp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


class AtomicParquetWriter:
    """Writes batches to ``path`` via a temporary file; ``close()`` renames it into place."""

    def __init__(self, path: str, schema: pa.Schema, row_group_bytes: int = ROW_GROUP_BYTES):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.tmp = path, _tmp_name(path)
        self.schema = schema
        self.row_group_bytes = row_group_bytes
        self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd", write_statistics=True)
        self._pending: list[pa.RecordBatch] = []
        self._pending_bytes = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_bytes += batch.nbytes
        self.rows += batch.num_rows
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, self.schema)
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._writer.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


@dataclasses.dataclass(frozen=True)
class ParquetSource(Source):
    """Reads Parquet files with any subset of FineWeb's columns.

    ``html=False`` (documents): a ``text`` column is required. ``html=True`` (already-fetched pages, the
    input of extraction): an ``html`` column is required and carried as the last column; ``text`` may be
    absent. Missing columns become nulls; ``file_path`` defaults to the input file; ``dump`` defaults to
    the ``dump`` parameter; ``doc_id`` is kept if present, else derived from ``id`` or url + a digest of
    the text (or html). Strings that are not valid UTF-8 are repaired (U+FFFD) rather than failing the
    batch. Columns outside the schema are not carried.
    """

    dump: str = ""
    html: bool = False
    name = "parquet"
    suffixes = (".parquet",)

    def schema(self) -> pa.Schema:
        return with_field(DOC_SCHEMA, pa.field("html", pa.large_string())) if self.html else DOC_SCHEMA

    def read(self, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(path)
        need = "html" if self.html else "text"
        if need not in pf.schema_arrow.names:
            raise ValueError(f"{path}: Parquet input needs a {need!r} column, it has {pf.schema_arrow.names}")
        schema = self.schema()
        columns = [n for n in schema.names if n in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            yield self._normalise(batch, path, schema)

    def _normalise(self, batch: pa.RecordBatch, path: str, schema: pa.Schema = DOC_SCHEMA) -> pa.RecordBatch:
        n = batch.num_rows
        cols = {}
        for field in schema:
            if field.name in batch.schema.names:
                cols[field.name] = _valid_utf8(batch.column(field.name).cast(field.type))
            else:
                cols[field.name] = pa.nulls(n, field.type)
        if "file_path" not in batch.schema.names:
            cols["file_path"] = pa.array([path] * n, pa.string())
        if self.dump:
            cols["dump"] = pc.fill_null(cols["dump"], self.dump)
        if "doc_id" not in batch.schema.names:
            ids = cols["id"].to_pylist()
            # only rows without an upstream id need their url and text (converting text is the cost)
            missing = [j for j, i in enumerate(ids) if not i]
            body = cols["html" if self.html else "text"]
            urls = cols["url"].take(missing).to_pylist() if missing else []
            texts = body.take(missing).to_pylist() if missing else []
            out = [doc_id_for(i, None, None) if i else None for i in ids]
            for j, u, t in zip(missing, urls, texts, strict=True):
                out[j] = doc_id_for(None, u, t)
            cols["doc_id"] = pa.array(out, pa.string())
        return pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)


def _valid_utf8(arr: pa.Array) -> pa.Array:
    """Parquet does not validate UTF-8 on read; repair bad strings here so no later stage fails."""
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    try:
        arr.validate(full=True)
        return arr
    except pa.ArrowInvalid:
        raw = arr.cast(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
        fixed = [None if b is None else b.decode("utf-8", "replace") for b in raw.to_pylist()]
        return pa.array(fixed, arr.type)
