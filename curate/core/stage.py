"""The map-stage protocol: a stage takes a ``pyarrow.RecordBatch`` and returns one.

Stages are frozen dataclasses whose fields are their parameters (validated in ``__post_init__``), so a
stage pickles small, compares by value and hashes into the run's config fingerprint. Anything heavy (a
model, a block list) is loaded by ``setup()``, which each engine calls once per worker process or actor,
never per batch. Every stage declares ``output_schema(input_schema)`` so a pipeline is checked before any
work starts and Spark gets its schema up front.

Rules themselves are plain functions over ``str``; :class:`Filter` lifts such a rule to batches and
fills ``drop_reason`` with ``"<stage>:<rule>"``. Rows already dropped by an earlier stage pass through
untouched, so the first reason wins and is never overwritten. In evaluate-all mode (the batch has a
``verdicts`` list column) a Filter also judges rows dropped before it and appends every failure to
``verdicts``, so the overlap between filters can be counted.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pyarrow as pa

from curate.core.schema import require


class Stage:
    """Base class for map stages. Subclasses are ``@dataclass(frozen=True)`` and set ``name``."""

    name: ClassVar[str] = ""

    # Runtime state (a loaded model, a worker process) lives in ``_``-prefixed attributes set with
    # object.__setattr__: it never pickles (stages travel to Spark and Ray workers before setup) and
    # never enters describe(), eq or hash.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema of this stage's output for ``schema`` as input; raise ConfigError if unusable."""
        return schema

    def setup(self) -> None:
        """Load models or lists; called once per worker before the first batch."""

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Name and parameters, for run.json and the config fingerprint."""
        params = dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}
        return {"stage": self.name or type(self).__name__, "class": type(self).__qualname__, "params": params}


class Filter(Stage):
    """A stage that drops documents by a per-document rule over one text column.

    Subclasses implement ``rule(value) -> str | None``, returning the name of the rule the document
    fails (``"too_short"``) or None to keep it.
    """

    column: ClassVar[str] = "text"

    def rule(self, value: str) -> str | None:
        raise NotImplementedError

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, **{self.column: pa.large_string(), "drop_reason": pa.string()})
        return schema

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        reasons = batch.column("drop_reason").to_pylist()
        values = batch.column(self.column).to_pylist()
        prefix = self.name + ":"
        evaluate_all = VERDICTS.name in batch.schema.names
        out, verdicts = [], []
        for reason, value in zip(reasons, values, strict=True):
            verdict = None
            if reason is None or (evaluate_all and value is not None):
                failed = self.rule(value if value is not None else "")
                verdict = prefix + failed if failed else None
            out.append(reason if reason is not None else verdict)
            verdicts.append(verdict)
        batch = set_column(batch, "drop_reason", pa.array(out, pa.string()))
        return add_verdicts(batch, verdicts) if evaluate_all else batch


VERDICTS = pa.field("verdicts", pa.list_(pa.string()))


def add_verdicts(batch: pa.RecordBatch, new: list[str | None]) -> pa.RecordBatch:
    """Append each non-null ``new[i]`` to row i's ``verdicts`` list (evaluate-all mode)."""
    if not any(new):
        return batch
    old = batch.column(VERDICTS.name).to_pylist()
    merged = [(o or []) + [v] if v else o for o, v in zip(old, new, strict=True)]
    return set_column(batch, VERDICTS.name, pa.array(merged, VERDICTS.type))


def set_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    """``batch`` with column ``name`` replaced by (or appended as) ``values``."""
    idx = batch.schema.get_field_index(name)
    field = pa.field(name, values.type)
    if idx < 0:
        return batch.append_column(field, values)
    return batch.set_column(idx, field, values)
