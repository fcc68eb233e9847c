"""Pipelines: a source, a chain of map stages, and the schema check that runs before any work."""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from curate.core.errors import ConfigError
from curate.core.schema import conform, with_field
from curate.core.stage import VERDICTS, Filter, Stage, add_verdicts, set_column

DUPLICATE_OF = pa.field("duplicate_of", pa.string())


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


class GlobalStage(Stage):
    """A stage that needs every shard before it can decide (dedup, outlier removal, ...).

    The runner splits a pipeline at each global stage into phases (DESIGN: "Not everything is a map"):

    1. map phase ``map-<name>``: the stages before it run per shard; every row (dropped ones too, so
       later stages see them exactly as in a single-phase run) is written as intermediate Parquet, and
       ``keys(live_rows, shard)`` gives the small per-shard key tables named in ``key_schemas()``;
    2. resolve phase ``<name>``: ``resolve(engine, tables, out_dir)`` runs engine primitives over the key
       tables of all shards and writes the decisions, one folder per shard (``engine.partition_by`` on
       ``shard``), with columns ``doc_id`` and ``decision_column`` (the kept twin's doc_id);
    3. the next map phase reads each intermediate shard, ``apply()``-s its decisions (the row gets
       ``drop_reason = reason`` and ``duplicate_of``) and continues with the remaining stages.
    """

    reason: ClassVar[str] = ""
    decision_column: ClassVar[str] = "kept"

    def key_schemas(self) -> dict[str, pa.Schema]:
        """Name -> schema of each per-shard key table the map phase writes."""
        raise NotImplementedError

    def keys(self, batch: pa.RecordBatch, shard: str) -> dict[str, pa.Table]:
        """The key rows of ``batch`` (rows not yet dropped only) for each table in ``key_schemas()``."""
        raise NotImplementedError

    def resolve(self, engine, tables: dict[str, list[str]], out_dir: str) -> None:
        """Decide from every shard's key tables; write decisions partitioned by shard into ``out_dir``."""
        raise NotImplementedError

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return with_field(schema, DUPLICATE_OF)

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        raise RuntimeError(f"global stage {self.name!r} runs as phases (curate run), not as a map stage")

    def apply(self, batch: pa.RecordBatch, decisions: pa.Table) -> pa.RecordBatch:
        """Drop the rows named in ``decisions`` (live rows only: the first reason wins) and record their twin."""
        if "duplicate_of" not in batch.schema.names:
            batch = set_column(batch, "duplicate_of", pa.nulls(batch.num_rows, pa.string()))
        if not decisions.num_rows or not batch.num_rows:
            return batch
        idx = pc.index_in(batch.column("doc_id"), value_set=decisions.column("doc_id"))
        reason = batch.column("drop_reason")
        twin = pc.take(decisions.column(self.decision_column).cast(pa.string()), idx)
        # two rows with one doc_id (a record stored twice) are never each other's duplicate
        hit = pc.and_(pc.and_(pc.is_valid(idx), pc.is_null(reason)),
                      pc.fill_null(pc.not_equal(twin, batch.column("doc_id")), False))
        batch = set_column(batch, "drop_reason", pc.if_else(hit, pa.scalar(self.reason), reason))
        return set_column(batch, "duplicate_of", pc.if_else(hit, twin, batch.column("duplicate_of")))


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of a run: a map over ``stages[start:stop]``, or the resolve of global stage ``start``.

    A map phase whose first stage is a global stage begins by applying that stage's decisions; one
    that stops before a global stage writes intermediate rows and that stage's key tables.
    """

    name: str
    kind: str  # "map" | "resolve"
    start: int
    stop: int
    applies: bool = False  # a map phase that starts by applying stages[start]'s decisions


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

    def phases(self) -> list[Phase]:
        """The run's phases; a pipeline without global stages has the one map phase ``map``."""
        out, start = [], 0
        for i, stage in enumerate(self.stages):
            if isinstance(stage, GlobalStage):
                out += [
                    Phase(f"map-{stage.name}", "map", start, i, applies=bool(out)),
                    Phase(stage.name, "resolve", i, i + 1),
                ]
                start = i
        return out + [Phase("map", "map", start, len(self.stages), applies=bool(out))]

    def phase(self, name: str) -> Phase:
        for p in self.phases():
            if p.name == name:
                return p
        raise KeyError(f"pipeline {self.name!r} has no phase {name!r}")

    def setup(self) -> None:
        self.source.setup()
        for stage in self.stages:
            stage.setup()

    def run(self, path: str, batch_rows: int, stop: int | None = None) -> Iterator[pa.RecordBatch]:
        """Read one input file and push each batch through ``stages[:stop]``, checking declared schemas."""
        schemas = self.schemas()
        source_schema = self.source.schema()
        for batch in self.source.read(path, batch_rows):
            batch = conform(batch, source_schema, self.source.name)
            if self.evaluate_all:
                empty = pa.array([[]] * batch.num_rows, VERDICTS.type)
                batch = batch.append_column(VERDICTS, empty)
            yield self.process(batch, schemas, 0, stop)

    def process(
        self, batch: pa.RecordBatch, schemas: list[pa.Schema], start: int = 0, stop: int | None = None,
        decisions: pa.Table | None = None,
    ) -> pa.RecordBatch:
        """Push one batch (already in ``schemas[start]``) through ``stages[start:stop]``.

        A global stage among them applies ``decisions`` (only the first stage of a map phase can be one).
        """
        stop = len(self.stages) if stop is None else stop
        for stage, schema in zip(self.stages[start:stop], schemas[start + 1 : stop + 1], strict=True):
            # rule filters record their own verdicts on every row; other stages only on rows they drop
            before = batch.column("drop_reason") if self.evaluate_all and not isinstance(stage, Filter) else None
            if isinstance(stage, GlobalStage):
                if decisions is None:
                    raise RuntimeError(f"global stage {stage.name!r} reached without its decisions")
                out = stage.apply(batch, decisions)
            else:
                out = stage.process(batch)
            batch = conform(out, schema, stage.name)
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
