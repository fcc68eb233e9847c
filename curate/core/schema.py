"""The document schema: FineWeb's columns plus our own ``doc_id`` and ``drop_reason``.

FineWeb ships ``text, id, dump, url, date, file_path, language, language_score, token_count``; we keep
those names and types so the output loads wherever FineWeb does, and add ``doc_id`` (a stable hash
derived once from the source record, see :mod:`curate.core.ids`) and ``drop_reason`` (null when kept,
otherwise ``"<stage>:<rule>"``).
"""

from __future__ import annotations

import pyarrow as pa

from curate.core.errors import ConfigError

DOC_FIELDS = [
    pa.field("text", pa.large_string()),
    pa.field("id", pa.string()),
    pa.field("dump", pa.string()),
    pa.field("url", pa.string()),
    pa.field("date", pa.string()),
    pa.field("file_path", pa.string()),
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float64()),
    pa.field("token_count", pa.int64()),
    pa.field("doc_id", pa.string()),
    pa.field("drop_reason", pa.string()),
]
DOC_SCHEMA = pa.schema(DOC_FIELDS)


def require(schema: pa.Schema, stage: str, **columns: pa.DataType) -> None:
    """Raise ConfigError unless ``schema`` has each column with a compatible type."""
    for name, dtype in columns.items():
        idx = schema.get_field_index(name)
        if idx < 0:
            raise ConfigError(
                f"stage {stage!r} needs column {name!r} ({dtype}), but the data reaching it has only "
                f"{schema.names}: put a stage that produces {name!r} before it"
            )
        have = schema.field(idx).type
        if have != dtype and not (pa.types.is_string(have) and pa.types.is_large_string(dtype)) and not (
            pa.types.is_large_string(have) and pa.types.is_string(dtype)
        ):
            raise ConfigError(f"stage {stage!r} needs column {name!r} as {dtype}, but it is {have}")


def with_field(schema: pa.Schema, field: pa.Field) -> pa.Schema:
    """``schema`` with ``field`` replacing the column of the same name, or appended."""
    idx = schema.get_field_index(field.name)
    return schema.set(idx, field) if idx >= 0 else schema.append(field)


def conform(batch: pa.RecordBatch, schema: pa.Schema, stage: str) -> pa.RecordBatch:
    """Return ``batch`` with exactly ``schema`` (a stage's declared output), or raise naming the stage."""
    if batch.schema.equals(schema):
        return batch
    if batch.schema.names != schema.names:
        raise RuntimeError(
            f"stage {stage!r} returned columns {batch.schema.names} but declared {schema.names}"
        )
    return batch.cast(schema)
