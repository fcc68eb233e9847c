"""A corpus of real extracted web text for filter agreement and speed benchmarks.

Every HTML page of the four extraction benchmarks (article-extraction-benchmark, CleanEval,
CleanPortalEval, Readability test pages; 1,121 pages) extracted with our trafilatura path, plus the
text of every HTML record in ../shared/data/warc-samples, plus DCLM's 499 human-labelled Common Crawl
documents (with their label). The corpus is a product feature now (``curate make-sample --web``,
:func:`curate.sample.make_web_sample`); this script writes it where the benchmarks read it
(``doc_id, source, text, label``, plus ``id`` and ``dump``). Run:

    .venv/bin/python bench/filter_corpus.py --out /tmp/curate-filter-corpus.parquet
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from curate.sample import make_web_sample  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


def build(out: str) -> pa.Table:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_web_sample(DATA, tmp)
        shutil.move(path, out)
    return pq.read_table(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/curate-filter-corpus.parquet")
    args = ap.parse_args()
    table = build(args.out)
    counts = table.group_by("source").aggregate([("doc_id", "count")]).to_pylist()
    print(f"{table.num_rows} docs -> {args.out}: " + ", ".join(f"{c['source']} {c['doc_id_count']}" for c in counts))


if __name__ == "__main__":
    main()
