"""FineWeb's pipeline (Penedo et al. 2024): the map phase over Common Crawl WARC files.

    read WARC -> URL filter -> text extraction -> English language ID -> Gopher repetition ->
    Gopher quality -> C4 quality -> FineWeb quality -> MinHash dedup -> PII -> GPT-2 token count -> write

Runs the same under ``curate run pipelines/fineweb.py --input ... --output ...`` (any engine) and
``spark-submit pipelines/fineweb.py --input ... --output ...``. ``--set format=parquet`` reads Parquet
files of already-fetched pages (``url``, ``html``, ...) instead of WARC.

MinHash dedup (section ``minhash``: 5-grams, 14 bands x 8 rows, per dump, as FineWeb) is a global stage:
the run becomes phases (map up to dedup, resolve, map after it); ``--set dedup=false`` leaves it out.

Token counts need GPT-2's ``encoder.json`` and ``vocab.bpe``: ``--set tokens.tokenizer_dir=DIR`` or the
``CURATE_TOKENIZER_DIR`` environment variable.
"""

from __future__ import annotations

import dataclasses
import sys

from curate.core.errors import ConfigError
from curate.core.pipeline import Pipeline
from curate.dedup.stages import MinHashDedup
from curate.extract.stage import Extract
from curate.filters.c4 import C4Quality
from curate.filters.fineweb_quality import FineWebQuality
from curate.filters.gopher import GopherQuality, GopherRepetition
from curate.filters.language import Language
from curate.filters.pii import PII
from curate.filters.tokens import TokenCount
from curate.filters.url import URLFilter
from curate.io.parquet import ParquetSource
from curate.io.warc import WarcSource


@dataclasses.dataclass(frozen=True)
class Config:
    """Pipeline parameters; every field can be set in the TOML config or with --set KEY=VALUE."""

    format: str = "warc"  # "warc" (WARC/ARC/WET files) or "parquet" (already-fetched pages with html)
    warc: WarcSource = WarcSource()
    url: URLFilter = URLFilter()
    extract: Extract = Extract()
    language: Language = Language()
    gopher_rep: GopherRepetition = GopherRepetition()
    gopher_quality: GopherQuality = GopherQuality()
    c4: C4Quality = C4Quality()
    fineweb_quality: FineWebQuality = FineWebQuality()
    dedup: bool = True  # MinHash dedup after the quality filters, as FineWeb
    minhash: MinHashDedup = MinHashDedup()
    pii: PII = PII()
    tokens: TokenCount = TokenCount()

    def __post_init__(self):
        if self.format not in ("warc", "parquet"):
            raise ConfigError(f"format must be 'warc' or 'parquet', got {self.format!r}")


def build(config: Config) -> Pipeline:
    if config.format == "warc":
        source = config.warc
    else:
        source = ParquetSource(dump=config.warc.dump, html=True)
    stages = [
        config.url, config.extract, config.language, config.gopher_rep, config.gopher_quality, config.c4,
        config.fineweb_quality, *([config.minhash] if config.dedup else []), config.pii, config.tokens,
    ]
    return Pipeline("fineweb", source, stages)


if __name__ == "__main__":  # spark-submit pipelines/fineweb.py --input ... --output ...
    from curate.cli import main

    sys.exit(main(["run", __file__, "--engine", "spark", *sys.argv[1:]]))
