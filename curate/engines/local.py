"""The local engine: a process pool over Parquet shards. No JVM, no cluster."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from curate.core.config import RunConfig
from curate.core.ids import sample_mask
from curate.core.pipeline import Shard
from curate.core.run import MapJob, run_shard
from curate.engines import AGGREGATIONS
from curate.engines import primitives as prim


def _die_with_parent() -> None:
    # A SIGKILLed driver must not leave workers writing behind a rerun's back (Linux only).
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class LocalEngine:
    name = "local"

    def __init__(self, config: RunConfig):
        self.workers = config.run.n_workers

    def map_shards(self, job: MapJob, shards: list[Shard]) -> Iterator[dict[str, Any]]:
        """Yield one result per shard as it finishes: its stats, or ``{"error": ...}``."""
        if not shards:
            return
        ctx = multiprocessing.get_context("spawn")
        workers = min(self.workers, len(shards))
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_die_with_parent) as pool:
            pending = {pool.submit(run_shard, job, s): s for s in shards}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    shard = pending.pop(fut)
                    try:
                        yield fut.result()
                    except Exception as e:  # one shard's failure must not stop the others
                        yield {"shard": shard.name, "error": f"{type(e).__name__}: {e}"}

    def close(self) -> None:
        pass

    # Global primitives. In memory via Arrow's multithreaded kernels; the Ray and Spark engines are
    # the ones to use when a phase's data does not fit one machine.
    def group_agg(self, inputs: list[str], by: list[str], aggs: list[tuple[str, str]], out_dir: str) -> str:
        for _, fn in aggs:
            if fn not in AGGREGATIONS:
                raise ValueError(f"aggregation {fn!r} is not one of {AGGREGATIONS}")
        table = _dataset(inputs).to_table(columns=sorted({*by, *(c for c, _ in aggs)}))
        out = table.group_by(by, use_threads=False).aggregate(list(aggs))
        out = out.select([*by, *(f"{c}_{fn}" for c, fn in aggs)])
        return _write(out.sort_by([(k, "ascending") for k in by]), out_dir)

    def anti_join(self, left: list[str], right: list[str], on: str, out_dir: str) -> str:
        keys = _dataset(right).to_table(columns=[on]).column(on)
        table = _dataset(left).to_table()
        out = table.filter(pc.invert(pc.is_in(table.column(on), value_set=pc.unique(keys))))
        return _write(out, out_dir)

    def sample(self, inputs: list[str], rate: float, seed: int, out_dir: str, key: str = "doc_id") -> str:
        table = _dataset(inputs).to_table()
        mask = sample_mask(table.column(key).to_pylist(), rate, seed)
        return _write(table.filter(pa.array(mask)), out_dir)

    # Dedup primitives (curate.engines.primitives holds the kernels all three engines share).
    def connected_components(self, edges: list[str], out_dir: str, src: str = "a", dst: str = "b") -> str:
        """(node, component = smallest node id of its component) for every node of ``edges``, by node."""
        prim.check_edges(edges, src, dst)
        table = _dataset(edges).to_table(columns=[src, dst])
        prim.fresh_dir(out_dir)
        return _write(prim.components_table(table, src, dst), out_dir)

    def first_per_group(self, inputs: list[str], by: list[str], order: list[tuple[str, str]], id_col: str,
                        out_dir: str, keep: list[str] = ()) -> str:
        """One row per non-keeper of each ``by`` group: (id_col, kept, *keep), sorted by id_col."""
        cols = prim.check_first_per_group(inputs, by, order, id_col, keep)
        table = _dataset(inputs).to_table(columns=cols)
        prim.fresh_dir(out_dir)
        return _write(prim.first_per_group_table(table, list(by), list(order), id_col, list(keep)), out_dir)

    def join(self, left: list[str], right: list[str], on: list[str], how: str, out_dir: str) -> str:
        """``how`` in inner | left | anti | semi; output sorted by ``on`` (then the other columns)."""
        lcols, rcols, order = prim.check_join(left, right, on, how)
        lt = _dataset(left).to_table()
        rt = _dataset(right).to_table(columns=[*on, *rcols])
        kind = {"inner": "inner", "left": "left outer", "anti": "left anti", "semi": "left semi"}[how]
        if how in ("anti", "semi"):
            rt = rt.group_by(list(on)).aggregate([])
        out = lt.join(rt, keys=list(on), join_type=kind, use_threads=False).select([*on, *lcols, *rcols])
        prim.fresh_dir(out_dir)
        return _write(out.sort_by([(c, "ascending") for c in order]) if out.num_rows else out, out_dir)

    def partition_by(self, inputs: list[str], column: str, out_dir: str) -> str:
        """``out_dir/<value>/part-*.parquet`` per value of ``column`` (path-safe as ``reason_dir``)."""
        prim.check_partition_by(inputs, column)
        table = _dataset(inputs).to_table()
        prim.fresh_dir(out_dir)
        prim.write_partitions(table, column, out_dir)
        return out_dir


def _dataset(paths: list[str]) -> pads.Dataset:
    """A dataset over files and directories alike (dot- and underscore-files skipped, as Spark does)."""
    return pads.dataset(prim.parquet_files(paths), format="parquet")


def _write(table: pa.Table, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    pq.write_table(table, os.path.join(out_dir, "part-00000.parquet"), compression="zstd")
    return out_dir
