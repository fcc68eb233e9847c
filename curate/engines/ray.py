"""The Ray engine: Ray Data ``map_batches`` (pyarrow format) over a dataset of shards.

Each actor unpickles and sets up the pipeline once (models, block lists) and then runs whole shards, so
files are named and ordered exactly as on the other engines. Actors take a fractional CPU by default:
a pool that claims every CPU starves Ray Data's own tasks (PITFALLS).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.core.config import RunConfig
from curate.core.ids import sample_mask
from curate.core.pipeline import Pipeline, Shard
from curate.core.run import MapJob, load_pipeline, run_shard
from curate.core.schema import conform
from curate.engines import AGGREGATIONS
from curate.engines import primitives as prim

log = logging.getLogger(__name__)


class _ShardRunner:
    def __init__(self, job: MapJob, shards: list[Shard]):
        self.job = job
        self.shards = {s.index: s for s in shards}
        if not job.task:
            load_pipeline(job.spec)

    def __call__(self, batch: pa.Table) -> pa.Table:
        results = [run_shard(self.job, self.shards[i]) for i in batch.column("shard").to_pylist()]
        return pa.table(
            {"shard": [r["shard"] for r in results], "result": [json.dumps(r) for r in results]}
        )


class _Chain:
    def __init__(self, spec: bytes):
        self.pipeline = load_pipeline(spec)
        self.schemas = self.pipeline.schemas()

    def __call__(self, table: pa.Table) -> pa.Table:
        batches = [
            self.pipeline.process(conform(b, self.schemas[0], "input"), self.schemas)
            for b in table.cast(self.schemas[0]).to_batches()
        ]
        return pa.Table.from_batches(batches, self.schemas[-1])


def _split(block: pa.Table, prep, key: str, parts: int) -> tuple[pa.Table, ...]:
    """Map side of a hash shuffle: ``prep`` the block, then cut it into ``parts`` by ``key``."""
    return tuple(prim.split_by_hash(prep(block) if prep else block, key, parts))


def _reduce(kernel, *tables: pa.Table) -> tuple[pa.Table, int]:
    """Reduce side: one partition's rows (every row of its keys) through ``kernel``, and its chg count."""
    out = kernel(pa.concat_tables(tables))
    return out, int(pc.sum(out.column("chg")).as_py() or 0)


def _apply(fn, table: pa.Table, **kwargs):
    return fn(table, **kwargs)


def _split_range(block: pa.Table, key: str, bounds) -> tuple[pa.Table, ...]:
    return tuple(prim.split_by_range(block, key, bounds))


def _write_part(out_dir: str, index: int, kernel, *tables: pa.Table) -> int:
    """Write partition ``index`` as ``part-<index>.parquet`` (temp name + rename: a retry overwrites)."""
    out = kernel(pa.concat_tables(tables))
    path = os.path.join(out_dir, f"part-{index:05d}.parquet")
    tmp = os.path.join(out_dir, f".part-{index:05d}.parquet.tmp-{os.getpid()}")
    pq.write_table(out, tmp, compression="zstd")
    os.replace(tmp, path)
    return out.num_rows


def _actor_pool(size: int):
    import ray.data

    return ray.data.ActorPoolStrategy(size=size)


class RayEngine:
    name = "ray"

    def __init__(self, config: RunConfig):
        import ray

        self.ray = ray
        self.workers = config.run.n_workers
        self.cpus_per_worker = config.ray.num_cpus_per_worker
        self._owns = not ray.is_initialized()
        if self._owns:
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING"}
            if config.ray.address:
                kwargs["address"] = config.ray.address
            else:
                kwargs["num_cpus"] = os.cpu_count()
            ray.init(**kwargs)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = True

    def map_shards(self, job: MapJob, shards: list[Shard]) -> Iterator[dict[str, Any]]:
        if not shards:
            return
        ds = self.ray.data.from_items([{"shard": s.index} for s in shards], override_num_blocks=len(shards))
        out = ds.map_batches(
            _ShardRunner,
            fn_constructor_args=(job, shards),
            batch_size=1,
            batch_format="pyarrow",
            compute=_actor_pool(min(self.workers, len(shards))),
            num_cpus=self.cpus_per_worker,
        )
        for row in out.iter_rows():
            yield json.loads(row["result"])

    def close(self) -> None:
        if self._owns:
            self.ray.shutdown()

    # --- global primitives -------------------------------------------------------------------
    def group_agg(self, inputs: list[str], by: list[str], aggs: list[tuple[str, str]], out_dir: str) -> str:
        from ray.data import aggregate as A

        kinds = {"count": A.Count, "sum": A.Sum, "min": A.Min, "max": A.Max}
        specs = []
        for col, fn in aggs:
            if fn not in AGGREGATIONS:
                raise ValueError(f"aggregation {fn!r} is not one of {AGGREGATIONS}")
            specs.append(kinds[fn](on=col, alias_name=f"{col}_{fn}"))
        ds = self.ray.data.read_parquet(inputs).groupby(by if len(by) > 1 else by[0]).aggregate(*specs)
        ds.write_parquet(out_dir, mode="overwrite")
        return out_dir

    def anti_join(self, left: list[str], right: list[str], on: str, out_dir: str) -> str:
        keys = self.ray.data.read_parquet(right, columns=[on])
        left_ds = self.ray.data.read_parquet(left)
        out = left_ds.join(keys, join_type="left_anti", num_partitions=max(1, self.workers), on=(on,))
        out.write_parquet(out_dir, mode="overwrite")
        return out_dir

    def sample(self, inputs: list[str], rate: float, seed: int, out_dir: str, key: str = "doc_id") -> str:
        def keep(t: pa.Table) -> pa.Table:
            return t.filter(pa.array(sample_mask(t.column(key).to_pylist(), rate, seed)))

        self.ray.data.read_parquet(inputs).map_batches(keep, batch_format="pyarrow").write_parquet(
            out_dir, mode="overwrite"
        )
        return out_dir

    # Dedup primitives. Group-wise work is a hash shuffle by the group key followed by a kernel over
    # each whole block (batch_size=None), which is how Ray's own map_groups keeps groups together, but
    # with one vectorised call per block instead of one Python call per group.
    def _by_key(self, ds, keys: list[str], fn, **kwargs):
        from functools import partial

        return ds.repartition(max(1, self.workers), keys=list(keys)).map_batches(
            partial(fn, **kwargs) if kwargs else fn, batch_size=None, batch_format="pyarrow")

    def connected_components(self, edges: list[str], out_dir: str, src: str = "a", dst: str = "b") -> str:
        """Large-star / small-star (Kiveris et al. 2014, see curate.engines.primitives) until a round
        changes no edge. Each step is a hash shuffle by node done with plain Ray tasks over object refs
        (the driver holds refs and one ``chg`` count per partition, never edges): a Ray Data
        ``repartition(keys=...)`` starts its shuffle actors anew each time, 6-8 s per step here, and
        this loop runs two steps per round. Ray Data reads the edges and shuffles the final labels."""
        from functools import partial

        prim.check_edges(edges, src, dst)
        raw = self.ray.data.read_parquet(edges, columns=[src, dst])
        blocks = raw.map_batches(partial(prim.orient, src=src, dst=dst), batch_format="pyarrow").to_arrow_refs()
        parts = max(2, self.workers)
        split = self.ray.remote(_split).options(num_returns=parts)
        reduce = self.ray.remote(_reduce).options(num_returns=2)

        def step(blocks, prep, key, kernel):
            mapped = [split.remote(b, prep, key, parts) for b in blocks]
            out = [reduce.remote(kernel, *(m[p] for m in mapped)) for p in range(parts)]
            return [t for t, _ in out], sum(self.ray.get([c for _, c in out]))

        rounds = 0
        while True:
            rounds += 1
            if rounds > prim.MAX_ROUNDS:
                raise RuntimeError(f"connected_components did not converge in {prim.MAX_ROUNDS} rounds")
            blocks, changed_large = step(blocks, prim.symmetric, "u", prim.large_star)
            blocks, changed_small = step(blocks, None, "hi", prim.small_star)
            if not changed_large and not changed_small:
                break
        self.cc_rounds = rounds
        log.info("connected_components: %d large/small-star rounds", rounds)
        # Final labels: every endpoint is its own candidate, every star leaf its centre; a range split
        # on node (bounds from a sample of each block) makes part-00000, part-00001, ... sorted by node.
        task = self.ray.remote(_apply)
        cands = [task.remote(prim.stars_to_candidates, b) for b in blocks]
        cands += raw.map_batches(partial(prim.endpoints, src=src, dst=dst), batch_format="pyarrow").to_arrow_refs()
        samples = self.ray.get([task.remote(prim.sample_keys, c, key="node") for c in cands])
        bounds = prim.range_bounds(samples, parts)
        split = self.ray.remote(_split_range).options(num_returns=parts)
        mapped = [split.remote(c, "node", bounds) for c in cands]
        prim.fresh_dir(out_dir)
        write = self.ray.remote(_write_part)
        self.ray.get([write.remote(out_dir, p, prim.min_component, *(m[p] for m in mapped)) for p in range(parts)])
        return out_dir

    def first_per_group(self, inputs: list[str], by: list[str], order: list[tuple[str, str]], id_col: str,
                        out_dir: str, keep: list[str] = ()) -> str:
        """The local kernel on each block of a hash shuffle by ``by``; then a sort by ``id_col``."""
        cols = prim.check_first_per_group(inputs, by, order, id_col, keep)
        ds = self._by_key(self.ray.data.read_parquet(inputs, columns=cols), by, prim.first_per_group_table,
                          by=list(by), order=list(order), id_col=id_col, keep=list(keep))
        ds.sort(id_col).write_parquet(out_dir, mode="overwrite")
        return out_dir

    def join(self, left: list[str], right: list[str], on: list[str], how: str, out_dir: str) -> str:
        """Ray Data's hash join (polars); output sorted by ``on`` (then the other columns)."""
        lcols, rcols, order = prim.check_join(left, right, on, how)
        kind = {"inner": "inner", "left": "left_outer", "anti": "left_anti", "semi": "left_semi"}[how]
        out = self.ray.data.read_parquet(left).join(
            self.ray.data.read_parquet(right, columns=[*on, *rcols]), join_type=kind,
            num_partitions=max(1, self.workers), on=tuple(on))
        out.select_columns([*on, *lcols, *rcols]).sort(order).write_parquet(out_dir, mode="overwrite")
        return out_dir

    def partition_by(self, inputs: list[str], column: str, out_dir: str) -> str:
        """``out_dir/<value>/part-*.parquet``, written by the kernel on each block of a hash shuffle."""
        prim.check_partition_by(inputs, column)
        prim.fresh_dir(out_dir)
        self._by_key(self.ray.data.read_parquet(inputs), [column], prim.write_partitions, column=column,
                     out_dir=out_dir).materialize()
        return out_dir


def apply(ds, pipeline: Pipeline, batch_rows: int = 1000, actors: int = 1, num_cpus: float = 0.5):
    """Run a pipeline's map stages over an existing Ray Dataset (document schema) with map_batches.

    The pipeline is set up once per actor; the result has the pipeline's declared schema.
    """
    import cloudpickle

    pipeline.schemas()  # fail before launch on a schema mismatch
    return ds.map_batches(
        _Chain,
        fn_constructor_args=(cloudpickle.dumps(pipeline),),
        batch_size=batch_rows,
        batch_format="pyarrow",
        compute=_actor_pool(actors),
        num_cpus=num_cpus,
    )
