"""The Ray engine: Ray Data ``map_batches`` (pyarrow format) over a dataset of shards.

Each actor unpickles and sets up the pipeline once (models, block lists) and then runs whole shards, so
files are named and ordered exactly as on the other engines. Actors take a fractional CPU by default:
a pool that claims every CPU starves Ray Data's own tasks (PITFALLS).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from curate.core.config import RunConfig
from curate.core.ids import sample_mask
from curate.core.pipeline import Pipeline, Shard
from curate.core.run import MapJob, load_pipeline, run_shard
from curate.core.schema import conform
from curate.engines import AGGREGATIONS


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
