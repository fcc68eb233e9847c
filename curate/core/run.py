"""Run directories: resumable, refuse-to-mix, and stats derived from the data written.

Layout::

    run.json                      resolved config, its hash, shard list, package versions, git revision
    completions/<phase>/<shard>   written last for a shard: its presence means every file below is final
    stats/<phase>/<shard>.json    per-reason docs / bytes / tokens, grouped from the rows written
    output/data/<dump>/<shard>.parquet   kept rows (zstd; ``dump`` stays a column in the file)
    removed/<reason>/<shard>.parquet     removed rows, one folder per drop reason
    logs/run.log

A pipeline with global stages (dedup) runs as phases (see :class:`curate.core.pipeline.GlobalStage`);
the final map phase is always ``map``, so the layout above is the same. The phases before it add::

    phases/map-<g>/data/<shard>.parquet       every row after the stages before global stage g
    phases/map-<g>/<table>/<shard>.parquet    g's key tables (live rows only)
    phases/<g>/...                            g's resolve work; decisions/<shard>/part-*.parquet
    completions/map-<g>/<shard>, completions/<g>/_resolved

All files are written to a temporary dot-name and renamed, and every name derives from the input shard
name, so a retried or rerun shard overwrites its own files and can never duplicate rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.core.errors import RunRefused
from curate.core.pipeline import GlobalStage, Phase, Pipeline, Shard, fingerprint
from curate.core.schema import conform
from curate.io.parquet import AtomicParquetWriter, atomic_write_bytes, atomic_write_json

MAP_PHASE = "map"
RESOLVED = "_resolved"  # completion marker of a resolve phase (it has no shards)
# int columns that stages fill with per-document counts (lines/chars a line filter removed, PII
# replacements): summed into the shard's stats
COUNTER_SUFFIXES = ("_lines_removed", "_chars_removed")
COUNTER_PREFIXES = ("pii_",)
log = logging.getLogger("curate")
_PACKAGES = ("curate", "pyarrow", "numpy", "pyspark", "ray", "cloudpickle")


@dataclasses.dataclass(frozen=True)
class MapJob:
    """Everything a worker needs for the map phase; pickled once and shipped to every engine's workers."""

    spec: bytes  # cloudpickled Pipeline (classes defined in the pipeline file travel by value)
    run_dir: str
    batch_rows: int
    phase: str = MAP_PHASE
    # a cloudpickled ``task(job, shard) -> dict`` run per shard instead of the pipeline: lets a global
    # stage's resolve spread file-by-file work (verifying candidate pairs) over any engine's workers
    task: bytes = b""


def reason_dir(reason: str) -> str:
    """Folder name for a drop reason: ``gopher_rep:dup_line_frac`` -> ``gopher_rep.dup_line_frac``.

    A colon would read as a URI scheme to Hadoop paths, so Spark could not load the folder.
    """
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", reason.replace(":", "."))


_LOADED: dict[str, Pipeline] = {}


def load_pipeline(spec: bytes) -> Pipeline:
    """Unpickle and ``setup()`` a pipeline once per worker process (Spark reuses Python workers)."""
    key = hashlib.sha256(spec).hexdigest()
    if key not in _LOADED:
        pipeline = cloudpickle.loads(spec)
        pipeline.setup()
        _LOADED.clear()
        _LOADED[key] = pipeline
    return _LOADED[key]


def shard_file(shard_name: str) -> str:
    """A shard's file name in phase folders: flat, so an engine reading a folder of key tables never
    meets nested directories (``a/b.warc`` -> ``a_b.warc-<hash>.parquet``: the hash keeps it apart from
    a shard really named ``a_b.warc``)."""
    flat = reason_dir(shard_name)
    if flat != shard_name:
        flat += "-" + hashlib.sha256(shard_name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return flat + ".parquet"


def _phase_batches(pipeline: Pipeline, phase: Phase, job: MapJob, shard: Shard) -> Iterator[pa.RecordBatch]:
    """The rows of ``shard`` after ``phase``'s stages: from the source, or from the previous phase's
    intermediate file with the global stage's decisions for this shard applied first."""
    if not phase.applies:
        yield from pipeline.run(shard.path, job.batch_rows, phase.stop)
        return
    schemas = pipeline.schemas()
    stage = pipeline.stages[phase.start]
    inter = os.path.join(job.run_dir, "phases", f"map-{stage.name}", "data", shard_file(shard.name))
    decisions = read_decisions(os.path.join(job.run_dir, "phases", stage.name, "decisions"), shard.name,
                               stage.decision_column)
    for batch in pq.ParquetFile(inter).iter_batches(batch_size=job.batch_rows):
        batch = conform(batch, schemas[phase.start], f"map-{stage.name} output")
        yield pipeline.process(batch, schemas, phase.start, phase.stop, decisions)


def read_decisions(folder: str, shard_name: str, column: str) -> pa.Table:
    """One shard's decisions (``doc_id``, ``column``), written by ``engine.partition_by`` on ``shard``."""
    d = os.path.join(folder, reason_dir(shard_name))
    files = sorted(
        os.path.join(root, f) for root, _, fs in os.walk(d) for f in fs
        if f.endswith(".parquet") and not f.startswith((".", "_"))
    )
    # two shard names may share a path-safe folder (``a:b``, ``a.b``): keep this shard's rows only
    tables = [pq.read_table(f, columns=["doc_id", column, "shard"]) for f in files]
    tables = [t.filter(pc.equal(t.column("shard"), shard_name)).select(["doc_id", column]).cast(
        pa.schema([("doc_id", pa.string()), (column, pa.string())])) for t in tables]
    if not tables:
        return pa.table({"doc_id": pa.array([], pa.string()), column: pa.array([], pa.string())})
    return pa.concat_tables(tables)


def run_shard(job: MapJob, shard: Shard) -> dict[str, Any]:
    """Run one map phase over one shard, write its rows, stats, then the completion marker.

    The final phase (``map``) writes kept and removed rows; a phase before a global stage writes every
    row as intermediate Parquet plus that stage's key tables (from the rows not dropped).
    """
    if job.task:
        return cloudpickle.loads(job.task)(job, shard)
    pipeline = load_pipeline(job.spec)
    phase = pipeline.phase(job.phase)
    final = phase.stop == len(pipeline.stages)
    t0 = time.time()
    writers: dict[str, AtomicParquetWriter] = {}
    schema = pipeline.schemas()[phase.stop]
    key_stage = None if final else pipeline.stages[phase.stop]
    if key_stage is not None:
        base = os.path.join(job.run_dir, "phases", phase.name)
        writers["data"] = AtomicParquetWriter(os.path.join(base, "data", shard_file(shard.name)), schema)
        for table_name, key_schema in key_stage.key_schemas().items():
            writers[table_name] = AtomicParquetWriter(os.path.join(base, table_name, shard_file(shard.name)),
                                                      key_schema)
    reasons: dict[str, dict[str, int]] = {}
    overlap: dict[str, int] = {}
    counters: dict[str, int] = {}
    try:
        for batch in _phase_batches(pipeline, phase, job, shard):
            table = pa.Table.from_batches([batch])
            _count(table, reasons)
            if key_stage is not None:
                _write_keys(key_stage, table, shard.name, writers)
                continue
            for name in table.column_names:
                if name.endswith(COUNTER_SUFFIXES) or name.startswith(COUNTER_PREFIXES):
                    counters[name] = counters.get(name, 0) + (pc.sum(table.column(name)).as_py() or 0)
            if "verdicts" in table.column_names:
                _count_overlap(table.column("verdicts").to_pylist(), overlap)
            _split_write(table, schema, shard.name, job.run_dir, writers)
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    stats = {
        "shard": shard.name,
        "path": shard.path,
        "reasons": {k: reasons[k] for k in sorted(reasons)},
        **({"overlap": dict(sorted(overlap.items()))} if overlap else {}),
        **({"counters": dict(sorted(counters.items()))} if counters else {}),
        "files": sorted(os.path.relpath(w.path, job.run_dir) for w in writers.values()),
    }
    atomic_write_json(os.path.join(job.run_dir, "stats", job.phase, shard.name + ".json"), stats)
    atomic_write_bytes(completion_path(job.run_dir, job.phase, shard.name), b"")
    return {**stats, "seconds": round(time.time() - t0, 3)}


def _write_keys(stage: GlobalStage, table: pa.Table, shard_name: str, writers: dict) -> None:
    for b in table.to_batches():
        writers["data"].write(b)
    live = table.filter(pc.is_null(table.column("drop_reason")))
    if not live.num_rows:
        return
    for name, keys in stage.keys(live.combine_chunks().to_batches()[0], shard_name).items():
        keys = keys.select(writers[name].schema.names).cast(writers[name].schema)
        for b in keys.to_batches():
            writers[name].write(b)


def run_phases(
    pipeline: Pipeline, run_dir: RunDir, engine, shards: list[Shard], batch_rows: int,
    on_phase: Callable[[Phase, int], None] = lambda phase, done: None,
    on_result: Callable[[dict[str, Any]], None] = lambda result: None,
) -> list[str]:
    """Run every phase that is not complete, in order; return the shards that failed (empty: done).

    A map phase runs only its shards without a completion marker, so a rerun after a crash resumes
    where it stopped; a resolve phase starts from an empty work folder (engines overwrite, and a crash
    may have left part of it) and is marked done only after it has written all its decisions.
    """
    import cloudpickle

    spec = cloudpickle.dumps(pipeline)
    for phase in pipeline.phases():
        if phase.kind == "resolve":
            marker = completion_path(run_dir.path, phase.name, RESOLVED)
            if os.path.exists(marker):
                continue
            stage = pipeline.stages[phase.start]
            keys = run_dir.file("phases", f"map-{stage.name}")
            # one folder per table (it holds exactly this run's shard files: a changed shard list is
            # refused), not a list of files: Ray lists many paths on threads and, without aiohttp,
            # races on importing fsspec's HTTP filesystem
            tables = {t: [os.path.join(keys, t)] for t in stage.key_schemas()}
            work = run_dir.file("phases", phase.name)
            shutil.rmtree(work, ignore_errors=True)
            on_phase(phase, 0)
            t0 = time.time()
            stage.resolve(engine, tables, work)
            atomic_write_bytes(marker, b"")
            log.info("[%s] resolved on %s in %.1f s", phase.name, engine.name, time.time() - t0)
            continue
        done = run_dir.done_shards(phase.name, shards)
        todo = [s for s in shards if s.name not in done]
        if not todo:
            continue
        on_phase(phase, len(done))
        job = MapJob(spec, run_dir.path, batch_rows, phase.name)
        failed = []
        for result in engine.map_shards(job, todo):
            on_result(result)
            if "error" in result:
                failed.append(result["shard"])
        if failed:
            return failed
    return []


def completion_path(run_dir: str, phase: str, shard_name: str) -> str:
    return os.path.join(run_dir, "completions", phase, shard_name)


def _count(table: pa.Table, reasons: dict[str, dict[str, int]]) -> None:
    text_bytes = pc.binary_length(table.column("text")).cast(pa.int64())
    tokens = table.column("token_count")
    work = pa.table(
        {
            "reason": pc.fill_null(table.column("drop_reason"), "kept"),
            "bytes": pc.fill_null(text_bytes, 0),
            "tokens": pc.fill_null(tokens, 0),
        }
    )
    grouped = work.group_by("reason").aggregate([("reason", "count"), ("bytes", "sum"), ("tokens", "sum")])
    for row in grouped.to_pylist():
        acc = reasons.setdefault(row["reason"], {"docs": 0, "bytes": 0, "tokens": 0})
        acc["docs"] += row["reason_count"]
        acc["bytes"] += row["bytes_sum"] or 0
        acc["tokens"] += row["tokens_sum"] or 0


def _count_overlap(verdicts: list[list[str] | None], acc: dict[str, int]) -> None:
    """Docs failing each filter (key ``f``) and each pair of filters (key ``f|g``), from all verdicts."""
    for row in verdicts:
        failed = sorted({v.split(":", 1)[0] for v in row or ()})
        for i, f in enumerate(failed):
            acc[f] = acc.get(f, 0) + 1
            for g in failed[i + 1:]:
                acc[f"{f}|{g}"] = acc.get(f"{f}|{g}", 0) + 1


def _split_write(table: pa.Table, schema: pa.Schema, shard_name: str, run_dir: str, writers: dict) -> None:
    reason = table.column("drop_reason")
    n_removed = table.num_rows - reason.null_count
    kept = table if n_removed == 0 else table.filter(pc.is_null(reason))
    removed = table if n_removed == table.num_rows else table.slice(0, 0) if not n_removed else table.filter(
        pc.is_valid(reason)
    )
    parts: list[tuple[str, pa.Table]] = []
    for prefix, part, column in (("output/data", kept, "dump"), ("removed", removed, "drop_reason")):
        if not part.num_rows:
            continue
        keys = pc.fill_null(part.column(column), "")
        values = sorted(pc.unique(keys).to_pylist())
        for value in values:
            folder = reason_dir(value or "unknown")
            rows = part if len(values) == 1 else part.filter(pc.equal(keys, value))
            parts.append((os.path.join(prefix, folder, shard_name + ".parquet"), rows))
    for rel, part in parts:
        if rel not in writers:
            writers[rel] = AtomicParquetWriter(os.path.join(run_dir, rel), schema)
        for b in part.to_batches():
            writers[rel].write(b)


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        res = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return res.stdout.strip() if res.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


class RunDir:
    """The run directory's bookkeeping: run.json, completions, stats and resume checks."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)

    def file(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def read_meta(self) -> dict[str, Any] | None:
        try:
            with open(self.file("run.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def prepare(self, config: dict, identity: dict, shards: list[Shard], dry_run: bool = False) -> None:
        """Create run.json, or check that an existing run is the same work; raise RunRefused if not."""
        config_hash = fingerprint(identity)
        meta = self.read_meta()
        if meta is not None:
            self._check_same(meta, identity, config_hash, shards)
            return
        if dry_run:
            return
        os.makedirs(self.path, exist_ok=True)
        atomic_write_json(
            self.file("run.json"),
            {
                "config": config,
                "identity": identity,
                "config_hash": config_hash,
                "shards": [s.name for s in shards],
                "inputs": [s.path for s in shards],
                "versions": package_versions(),
                "git_revision": git_revision(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def _check_same(self, meta: dict, identity: dict, config_hash: str, shards: list[Shard]) -> None:
        old = meta.get("shards", [])
        new = [s.name for s in shards]
        if old != new:
            added, gone = sorted(set(new) - set(old)), sorted(set(old) - set(new))
            raise RunRefused(
                f"{self.path} was started with {len(old)} input shards, this input has {len(new)} "
                f"(new: {added[:3]}{'...' if len(added) > 3 else ''}; "
                f"missing: {gone[:3]}{'...' if len(gone) > 3 else ''}). "
                "Mixing outputs would be wrong: use a new --output, or rerun with the original input."
            )
        if meta.get("config_hash") != config_hash:
            changed = _diff(meta.get("identity", {}), identity)
            raise RunRefused(
                f"{self.path} was started with a different config (changed: {', '.join(changed[:5]) or '?'}). "
                "Its outputs would mix two configs: use a new --output, or rerun with the original config."
            )

    def done_shards(self, phase: str, shards: list[Shard]) -> set[str]:
        return {s.name for s in shards if os.path.exists(completion_path(self.path, phase, s.name))}

    def clean_temporaries(self) -> int:
        """Remove temp files left by a killed run (names ``.<file>.tmp-<pid>``)."""
        removed = 0
        for sub in ("output", "removed", "stats", "completions", "phases"):
            for d, _, files in os.walk(self.file(sub)):
                for f in files:
                    if f.startswith(".") and ".tmp-" in f:
                        os.remove(os.path.join(d, f))
                        removed += 1
        return removed

    def shard_stats(self, phase: str = MAP_PHASE) -> list[dict[str, Any]]:
        out = []
        base = self.file("stats", phase)
        for d, _, files in os.walk(base):
            for f in sorted(files):
                if f.endswith(".json") and not f.startswith("."):
                    with open(os.path.join(d, f)) as fh:
                        out.append(json.load(fh))
        return sorted(out, key=lambda s: s["shard"])

    def summed(self, key: str, phase: str = MAP_PHASE) -> dict[str, int]:
        """A per-shard stats dict (``overlap``, ``counters``) summed over shards."""
        total: dict[str, int] = {}
        for s in self.shard_stats(phase):
            for k, v in s.get(key, {}).items():
                total[k] = total.get(k, 0) + v
        return dict(sorted(total.items()))

    def totals(self, phase: str = MAP_PHASE) -> dict[str, dict[str, int]]:
        """Per-reason docs, bytes and tokens summed over every finished shard."""
        total: dict[str, dict[str, int]] = {}
        for s in self.shard_stats(phase):
            for reason, c in s["reasons"].items():
                acc = total.setdefault(reason, {"docs": 0, "bytes": 0, "tokens": 0})
                for k in acc:
                    acc[k] += c[k]
        return dict(sorted(total.items()))


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in _diff(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [f"{prefix} ({old!r} -> {new!r})"]
