"""The Spark engine: ``mapInArrow`` over a DataFrame of shards, one partition per shard.

Under ``spark-submit`` the session (master, executors, conf) comes from spark-submit; under
``curate run --engine spark`` we create one from ``[spark]`` settings. Python workers use the running
interpreter unless ``PYSPARK_PYTHON`` says otherwise (else they pick ``python3`` from PATH and cannot
import pyarrow). A failed task is retried by Spark (``local[N,F]`` locally, ``spark.task.maxFailures``
on a cluster); its files are rewritten under the same names, so a retry cannot duplicate rows.
"""

from __future__ import annotations

import json
import logging
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
from curate.engines import primitives as prim

log = logging.getLogger(__name__)

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

    # Dedup primitives: DataFrame joins, windows and group-bys; nothing but counts reaches the driver.
    def connected_components(self, edges: list[str], out_dir: str, src: str = "a", dst: str = "b") -> str:
        """Large-star / small-star (Kiveris et al. 2014, see curate.engines.primitives) until a round
        changes no edge. Each step's edges are ``localCheckpoint``-ed: it cuts the lineage, so the plan
        stays one step long however many rounds run, and the ``chg`` check reads the stored edges."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        prim.check_edges(edges, src, dst)
        raw = self._read(edges).select(F.col(src).cast("long").alias("x"), F.col(dst).cast("long").alias("y"))
        e = (raw.filter(F.col("x").isNotNull() & F.col("y").isNotNull() & (F.col("x") != F.col("y")))
             .select(F.greatest("x", "y").alias("hi"), F.least("x", "y").alias("lo")).distinct()
             .withColumn("chg", F.lit(0)))

        def dedupe(df):
            return df.groupBy("hi", "lo").agg(F.max(F.col("chg").cast("long")).alias("chg"))

        def large_star(e):
            sym = e.select(F.col("hi").alias("u"), F.col("lo").alias("v")).union(
                e.select(F.col("lo").alias("u"), F.col("hi").alias("v")))
            m = F.least(F.min("v").over(Window.partitionBy("u")), F.col("u"))
            sym = sym.select("u", "v", m.alias("m")).filter(F.col("v") > F.col("u"))
            return dedupe(sym.select(F.col("v").alias("hi"), F.col("m").alias("lo"),
                                     (F.col("m") < F.col("u")).alias("chg")))

        def small_star(e):
            w = Window.partitionBy("hi")
            s = e.select("hi", "lo", F.min("lo").over(w).alias("m"), (F.count("lo").over(w) > 1).alias("chg"))
            leaves = s.filter(F.col("lo") != F.col("m")).select(F.col("lo").alias("hi"), F.col("m").alias("lo"),
                                                                "chg")
            centres = s.filter(F.col("lo") == F.col("m")).select("hi", F.col("m").alias("lo"), "chg")
            return dedupe(leaves.union(centres))

        e = e.localCheckpoint()
        rounds = 0
        while True:
            rounds += 1
            if rounds > prim.MAX_ROUNDS:
                raise RuntimeError(f"connected_components did not converge in {prim.MAX_ROUNDS} rounds")
            e = large_star(e).localCheckpoint()
            changed = not e.filter(F.col("chg") > 0).isEmpty()
            e = small_star(e).localCheckpoint()
            changed = changed or not e.filter(F.col("chg") > 0).isEmpty()
            if not changed:
                break
        self.cc_rounds = rounds
        log.info("connected_components: %d large/small-star rounds", rounds)
        nodes = raw.select(F.col("x").alias("node")).union(raw.select("y")).filter(F.col("node").isNotNull())
        cand = e.select(F.col("hi").alias("node"), F.col("lo").alias("component")).union(
            nodes.select("node", F.col("node").alias("component")))
        out = cand.groupBy("node").agg(F.min("component").alias("component")).orderBy("node")
        out.write.mode("overwrite").parquet(out_dir)
        return out_dir

    def first_per_group(self, inputs: list[str], by: list[str], order: list[tuple[str, str]], id_col: str,
                        out_dir: str, keep: list[str] = ()) -> str:
        """A window per ``by`` group ordered by ``order`` then ``id_col`` (nulls last, as Arrow sorts)."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        prim.check_first_per_group(inputs, by, order, id_col, keep)
        sort = [F.col(c).asc_nulls_last() if d == "ascending" else F.col(c).desc_nulls_last() for c, d in order]
        w = Window.partitionBy(*by).orderBy(*sort, F.col(id_col).asc_nulls_last())
        df = self._read(inputs).select(
            F.col(id_col), F.first(id_col).over(w).alias("kept"), *keep, F.row_number().over(w).alias("_rank"))
        df.filter(F.col("_rank") > 1).drop("_rank").orderBy(F.col(id_col).asc_nulls_last()) \
            .write.mode("overwrite").parquet(out_dir)
        return out_dir

    def join(self, left: list[str], right: list[str], on: list[str], how: str, out_dir: str) -> str:
        """``how`` in inner | left | anti | semi; output sorted by ``on`` (then the other columns)."""
        from pyspark.sql import functions as F

        lcols, rcols, order = prim.check_join(left, right, on, how)
        kind = {"inner": "inner", "left": "left", "anti": "left_anti", "semi": "left_semi"}[how]
        r = self._read(right).select(*on, *rcols)
        if how in ("anti", "semi"):
            r = r.distinct()
        out = self._read(left).join(r, on=list(on), how=kind).select(*on, *lcols, *rcols)
        out.orderBy(*(F.col(c).asc_nulls_last() for c in order)).write.mode("overwrite").parquet(out_dir)
        return out_dir

    def partition_by(self, inputs: list[str], column: str, out_dir: str) -> str:
        """``out_dir/<value>/part-*.parquet``: Spark's own ``partitionBy`` would drop the column from the
        files and name folders ``col=value``, so each partition of a ``repartition(column)`` writes its
        values' files itself, with the kernel the other engines use."""
        prim.check_partition_by(inputs, column)
        prim.fresh_dir(out_dir)
        df = self._read(inputs)

        def write(batches):
            batches = list(batches)  # a partition holds every row of its values
            if batches and sum(b.num_rows for b in batches):
                yield from prim.write_partitions(pa.Table.from_batches(batches), column, out_dir).to_batches()

        df.repartition(column).mapInArrow(write, "path string, rows long").count()
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
