"""The Spark engine: ``mapInArrow`` over a DataFrame of shards, one partition per shard.

Under ``spark-submit`` the session (master, executors, conf) comes from spark-submit; under
``curate run --engine spark`` we create one from ``[spark]`` settings. Python workers use the running
interpreter unless ``PYSPARK_PYTHON`` says otherwise (else they pick ``python3`` from PATH and cannot
import pyarrow). A failed task is retried by Spark (``local[N,F]`` locally, ``spark.task.maxFailures``
on a cluster); its files are rewritten under the same names, so a retry cannot duplicate rows.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from curate.core.config import RunConfig
from curate.core.ids import sample_mask
from curate.core.pipeline import Pipeline, Shard
from curate.core.run import MapJob, load_pipeline, run_shard
from curate.core.schema import conform
from curate.engines import AGGREGATIONS

_RESULT = "shard string, result string"


def _session(config: RunConfig | None):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("curate")
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit launched us: its --master wins
    if config is not None:
        if not under_submit:
            builder = builder.master(config.spark.master)
        for k, v in config.spark.conf.items():
            builder = builder.config(k, v)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate(), not under_submit


class SparkEngine:
    name = "spark"

    def __init__(self, config: RunConfig):
        self.spark, self._owns = _session(config)
        self.spark.sparkContext.setLogLevel("WARN")

    def map_shards(self, job: MapJob, shards: list[Shard]) -> Iterator[dict[str, Any]]:
        if not shards:
            return
        by_index = {s.index: s for s in shards}

        def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                for idx in batch.column("shard").to_pylist():
                    shard = by_index[idx]
                    result = run_shard(job, shard)
                    yield pa.RecordBatch.from_pydict(
                        {"shard": [shard.name], "result": [json.dumps(result)]}
                    )

        sc = self.spark.sparkContext
        rdd = sc.parallelize([(s.index,) for s in shards], numSlices=len(shards))
        df = self.spark.createDataFrame(rdd, "shard int")
        for row in df.mapInArrow(task, _RESULT).collect():
            yield json.loads(row["result"])

    def close(self) -> None:
        if self._owns:
            self.spark.stop()

    # --- global primitives -------------------------------------------------------------------
    def _read(self, paths: list[str]):
        return self.spark.read.parquet(*paths)

    def group_agg(self, inputs: list[str], by: list[str], aggs: list[tuple[str, str]], out_dir: str) -> str:
        from pyspark.sql import functions as F

        exprs = []
        for col, fn in aggs:
            if fn not in AGGREGATIONS:
                raise ValueError(f"aggregation {fn!r} is not one of {AGGREGATIONS}")
            exprs.append(getattr(F, fn)(col).alias(f"{col}_{fn}"))
        df = self._read(inputs).groupBy(*by).agg(*exprs)
        df.write.mode("overwrite").parquet(out_dir)
        return out_dir

    def anti_join(self, left: list[str], right: list[str], on: str, out_dir: str) -> str:
        keys = self._read(right).select(on).distinct()
        self._read(left).join(keys, on=on, how="left_anti").write.mode("overwrite").parquet(out_dir)
        return out_dir

    def sample(self, inputs: list[str], rate: float, seed: int, out_dir: str, key: str = "doc_id") -> str:
        df = self._read(inputs)

        def keep(batches):
            for b in batches:
                yield b.filter(pa.array(sample_mask(b.column(key).to_pylist(), rate, seed)))

        df.mapInArrow(keep, df.schema).write.mode("overwrite").parquet(out_dir)
        return out_dir


def apply(df, pipeline: Pipeline, batch_rows: int = 1000):
    """Run a pipeline's map stages over an existing Spark DataFrame (document schema) via mapInArrow.

    For Spark users who already hold documents in a DataFrame; the output DataFrame has the pipeline's
    declared schema, with dropped rows marked in ``drop_reason``.
    """
    import cloudpickle
    from pyspark.sql.pandas.types import from_arrow_schema

    schemas = pipeline.schemas()
    spec = cloudpickle.dumps(pipeline)
    spark = df.sparkSession
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))

    def chain(batches):
        p = load_pipeline(spec)
        for batch in batches:
            yield p.process(conform(batch, schemas[0], "input"), schemas)

    return df.mapInArrow(chain, from_arrow_schema(schemas[-1]))
