"""Engines: local (process pool, the default), Ray Data and Spark. Only this package imports ray/pyspark.

Each engine runs the map phase as one task per input shard (``run_shard``), so output names and row
order inside every file are the same on every engine, and offers the global primitives later phases
build on: ``group_agg``, ``anti_join`` and ``sample`` over Parquet, each writing Parquet.
"""

from __future__ import annotations

from curate.core.config import RunConfig


def make_engine(config: RunConfig):
    name = config.run.engine
    if name == "local":
        from curate.engines.local import LocalEngine

        return LocalEngine(config)
    if name == "ray":
        from curate.engines.ray import RayEngine

        return RayEngine(config)
    if name == "spark":
        from curate.engines.spark import SparkEngine

        return SparkEngine(config)
    raise ValueError(f"unknown engine {name!r}")


AGGREGATIONS = ("count", "sum", "min", "max")
