"""A small real pipeline for engine and run-directory tests: Parquet documents -> length rule -> write."""

from __future__ import annotations

import dataclasses
import sys

from curate.core.pipeline import Pipeline
from curate.filters.length import Length
from curate.io.parquet import ParquetSource


@dataclasses.dataclass(frozen=True)
class Config:
    dump: str = ""
    length: Length = Length()


def build(config: Config) -> Pipeline:
    return Pipeline("length", ParquetSource(dump=config.dump), [config.length])


if __name__ == "__main__":
    from curate.cli import main

    sys.exit(main(["run", __file__, "--engine", "spark", *sys.argv[1:]]))
