"""The four FineWeb heuristic filters chained (Gopher repetition -> Gopher quality -> C4 -> FineWeb
quality): docs/s per core for curate vs datatrove's chain on the same documents, in one run.

Documents: bench/filter_corpus.py's corpus (1,692 real extracted pages + DCLM Common Crawl docs),
repeated ``--repeat`` times. datatrove runs each filter's ``filter(Document)`` in FineWeb's order and
stops at the first drop (C4 rewrites the text in place, as in its pipeline); curate runs its stages over
Arrow batches the way a pipeline does. curate is timed twice: from a cold start (empty word cache) and
on a second pass (a long-running worker's steady state). Needs spaCy for datatrove (`pip install
spacy`; no model download). Run:

    .venv/bin/python bench/filters_chain_speed.py --repeat 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from curate.core.pipeline import Pipeline  # noqa: E402
from curate.core.schema import DOC_SCHEMA  # noqa: E402
from curate.filters.c4 import C4Quality  # noqa: E402
from curate.filters.fineweb_quality import FineWebQuality  # noqa: E402
from curate.filters.gopher import GopherQuality, GopherRepetition  # noqa: E402
from curate.io.parquet import ParquetSource  # noqa: E402


def curate_chain(texts: list[str], batch_rows: int) -> tuple[float, int]:
    pipeline = Pipeline("chain", ParquetSource(), [GopherRepetition(), GopherQuality(), C4Quality(), FineWebQuality()])
    schemas = pipeline.schemas()
    n = len(texts)
    cols = {f.name: pa.nulls(n, f.type) for f in DOC_SCHEMA}
    cols["text"] = pa.array(texts, pa.large_string())
    cols["doc_id"] = pa.array([str(i) for i in range(n)], pa.string())
    table = pa.Table.from_pydict(cols, schema=DOC_SCHEMA)
    batches = table.to_batches(max_chunksize=batch_rows)
    t0 = time.perf_counter()
    kept = 0
    for b in batches:
        out = pipeline.process(b, schemas)
        kept += out.column("drop_reason").null_count
    return time.perf_counter() - t0, kept


def datatrove_chain(texts: list[str]) -> tuple[float, int]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
               FineWebQualityFilter()]
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    kept = 0
    for doc in docs:
        for f in filters:
            res = f.filter(doc)
            if not (res[0] if isinstance(res, tuple) else res):
                break
        else:
            kept += 1
    return time.perf_counter() - t0, kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/curate-filter-corpus.parquet")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch-rows", type=int, default=1000)
    args = ap.parse_args()
    if not os.path.exists(args.corpus):
        from filter_corpus import build

        build(args.corpus)
    texts = pq.read_table(args.corpus, columns=["text"]).column("text").to_pylist() * args.repeat
    mb = sum(len(t.encode()) for t in texts) / 2**20
    cold, kept_c = curate_chain(texts, args.batch_rows)
    warm, kept_w = curate_chain(texts, args.batch_rows)
    dt, kept_d = datatrove_chain(texts)
    n = len(texts)
    print(f"{n:,} docs ({mb:.1f} MB text), one process, one core; kept: curate {kept_c:,}, datatrove {kept_d:,}")
    print(f"datatrove chain          {n / dt:9,.0f} docs/s ({dt:.1f} s)")
    print(f"curate chain, cold start {n / cold:9,.0f} docs/s ({cold:.1f} s)  {dt / cold:5.1f}x datatrove")
    print(f"curate chain, warm       {n / warm:9,.0f} docs/s ({warm:.1f} s)  {dt / warm:5.1f}x datatrove")
    assert kept_c == kept_w


if __name__ == "__main__":
    main()
