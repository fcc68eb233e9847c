"""Apply named filters to documents that already have text: Parquet in, filtered Parquet out.

    curate run pipelines/filter.py --input docs/ --output runs/gopher --filter gopher --filter c4

Each ``--filter NAME`` is a spec from ``filters/NAME.toml`` (see ``curate filters``); their stages run
in the order given. ``--set evaluate_all=true`` records every filter's verdict, not only the first,
so ``curate stats`` can show how the filters overlap.
"""

from __future__ import annotations

import dataclasses
import sys

from curate import filterspec
from curate.core.errors import ConfigError
from curate.core.pipeline import Pipeline
from curate.io.parquet import ParquetSource


@dataclasses.dataclass(frozen=True)
class Config:
    filters: list[str] = dataclasses.field(default_factory=list)
    dump: str = ""
    evaluate_all: bool = False


def build(config: Config) -> Pipeline:
    if not config.filters:
        raise ConfigError("no filter given: pass --filter NAME (see `curate filters` for the names)")
    stages = [stage for name in config.filters for stage in filterspec.load(name).stages]
    return Pipeline("filter", ParquetSource(dump=config.dump), stages, evaluate_all=config.evaluate_all)


if __name__ == "__main__":
    from curate.cli import main

    sys.exit(main(["run", __file__, "--engine", "spark", *sys.argv[1:]]))
