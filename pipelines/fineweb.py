"""FineWeb's pipeline (Penedo et al. 2024): the map phase over input shards.

Runs the same under ``curate run pipelines/fineweb.py --input ... --output ...`` (any engine) and
``spark-submit pipelines/fineweb.py --input ... --output ...``.

For now: read Parquet documents -> a minimum-length rule -> write. The FineWeb stages (WARC reading,
URL filter, extraction, language ID, Gopher / C4 / FineWeb quality filters, MinHash dedup, PII) are
added here by their issues.
"""

from __future__ import annotations

import dataclasses
import sys

from curate.core.pipeline import Pipeline
from curate.filters.length import Length
from curate.io.parquet import ParquetSource


@dataclasses.dataclass(frozen=True)
class Config:
    """Pipeline parameters; every field can be set in the TOML config or with --set KEY=VALUE."""

    dump: str = ""  # fills `dump` where the input has none
    length: Length = Length()


def build(config: Config) -> Pipeline:
    return Pipeline("fineweb", ParquetSource(dump=config.dump), [config.length])


if __name__ == "__main__":  # spark-submit pipelines/fineweb.py --input ... --output ...
    from curate.cli import main

    sys.exit(main(["run", __file__, "--engine", "spark", *sys.argv[1:]]))
