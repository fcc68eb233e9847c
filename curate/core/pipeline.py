"""Pipelines: a source, a chain of map stages, and the schema check that runs before any work."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from curate.core.errors import ConfigError
from curate.core.schema import conform, with_field
from curate.core.stage import VERDICTS, Filter, Stage, add_verdicts


@dataclasses.dataclass(frozen=True)
class Shard:
    """One unit of map work: an input file and the name its outputs are written under."""

    index: int
    path: str
    name: str


class Source:
    """Reads input shards as record batches in the document schema."""

    name = "source"
    suffixes: tuple[str, ...] = ()

    def schema(self) -> pa.Schema:
        raise NotImplementedError

    def read(self, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def setup(self) -> None:
        """Load anything heavy; called once per worker."""

    def describe(self) -> dict[str, Any]:
        params = dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}
        return {"source": self.name, "class": type(self).__qualname__, "params": params}

    def shards(self, inputs: list[str]) -> list[Shard]:
        """Expand files, directories and globs into sorted shards; every input must match something."""
        if not inputs:
            raise ConfigError("no input given: pass --input PATH (a file, a directory or a glob)")
        paths: set[str] = set()
        for spec in inputs:
            found = _expand(spec, self.suffixes)
            if not found:
                raise ConfigError(
                    f"input {spec!r} matches no {'/'.join(self.suffixes) or ''} file: check the path or glob"
                )
            paths.update(found)
        ordered = sorted(paths)
        root = os.path.commonpath([os.path.dirname(p) for p in ordered])
        shards = []
        for i, path in enumerate(ordered):
            rel = os.path.relpath(path, root)
            # drop the compression or .parquet suffix only: x.warc.gz and x.warc.wet.gz (or x.arc.gz)
            # sit side by side in Common Crawl and must not share output names
            for suffix in _NAME_SUFFIXES:
                if rel.endswith(suffix):
                    rel = rel[: -len(suffix)]
                    break
            shards.append(Shard(i, path, rel))
        return shards


_NAME_SUFFIXES = (".parquet", ".gz", ".zst", ".bz2", ".xz")


def _expand(spec: str, suffixes: tuple[str, ...]) -> list[str]:
    def ok(p: str) -> bool:
        return os.path.isfile(p) and (not suffixes or p.endswith(suffixes))

    if os.path.isdir(spec):
        found = [
            os.path.join(d, f) for d, _, files in os.walk(spec) for f in files if not f.startswith((".", "_"))
        ]
    else:
        found = glob.glob(spec, recursive=True)
    return [os.path.abspath(p) for p in found if ok(p)]


@dataclasses.dataclass
class Pipeline:
    """A source and a chain of map stages; ``schemas()`` checks the whole chain before launch."""

    name: str
    source: Source
    stages: list[Stage]
    # record every filter's verdict in a ``verdicts`` list column, not only the first reason, so the
    # overlap between filters can be counted (``curate stats``)
    evaluate_all: bool = False

    def input_schema(self) -> pa.Schema:
        schema = self.source.schema()
        return with_field(schema, VERDICTS) if self.evaluate_all else schema

    def schemas(self) -> list[pa.Schema]:
        """Input schema of every stage plus the final output schema; raises ConfigError on a mismatch."""
        schemas = [self.input_schema()]
        names = [s.name for s in self.stages]
        for dup in {n for n in names if names.count(n) > 1}:
            raise ConfigError(f"pipeline {self.name!r} has two stages named {dup!r}: reasons would collide")
        for stage in self.stages:
            schemas.append(stage.output_schema(schemas[-1]))
        for col in ("doc_id", "drop_reason", "text", "dump"):
            if col not in schemas[-1].names:
                raise ConfigError(f"pipeline {self.name!r} output lacks the {col!r} column")
        return schemas

    @property
    def output_schema(self) -> pa.Schema:
        return self.schemas()[-1]

    def describe(self) -> dict[str, Any]:
        return {
            "pipeline": self.name,
            "source": self.source.describe(),
            "stages": [s.describe() for s in self.stages],
            "evaluate_all": self.evaluate_all,
        }

    def setup(self) -> None:
        self.source.setup()
        for stage in self.stages:
            stage.setup()

    def run(self, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Read one input file and push each batch through every stage, checking declared schemas."""
        schemas = self.schemas()
        source_schema = self.source.schema()
        for batch in self.source.read(path, batch_rows):
            batch = conform(batch, source_schema, self.source.name)
            if self.evaluate_all:
                empty = pa.array([[]] * batch.num_rows, VERDICTS.type)
                batch = batch.append_column(VERDICTS, empty)
            yield self.process(batch, schemas)

    def process(self, batch: pa.RecordBatch, schemas: list[pa.Schema]) -> pa.RecordBatch:
        """Push one batch (already in ``schemas[0]``) through every stage."""
        for stage, schema in zip(self.stages, schemas[1:], strict=True):
            # rule filters record their own verdicts on every row; other stages only on rows they drop
            before = batch.column("drop_reason") if self.evaluate_all and not isinstance(stage, Filter) else None
            batch = conform(stage.process(batch), schema, stage.name)
            if before is not None:
                batch = add_verdicts(batch, [
                    r if b is None else None
                    for b, r in zip(before.to_pylist(), batch.column("drop_reason").to_pylist(), strict=True)
                ])
        return batch


def fingerprint(obj: Any) -> str:
    """SHA-256 of a JSON-able description (sorted keys), the basis of config hashes."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
