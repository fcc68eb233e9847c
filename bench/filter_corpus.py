"""A corpus of real extracted web text for filter agreement and speed benchmarks.

Every HTML page of the four extraction benchmarks (article-extraction-benchmark, CleanEval,
CleanPortalEval, Readability test pages; 1,121 pages) extracted with our trafilatura path, plus the
text of every HTML record in ../shared/data/warc-samples, plus DCLM's 499 human-labelled Common Crawl
documents (with their label). Written once to a Parquet file (``doc_id, source, text, label``) so every
benchmark and comparison reads the same documents. Run:

    .venv/bin/python bench/filter_corpus.py --out /tmp/curate-filter-corpus.parquet
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from extraction_quality import BENCHMARKS, load  # noqa: E402

from curate.core.ids import doc_id  # noqa: E402
from curate.extract.extractors import trafilatura_text  # noqa: E402
from curate.io.warc import WarcSource  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


def build(out: str) -> pa.Table:
    ids, sources, texts, labels = [], [], [], []

    def add(key: str, source: str, text: str, label=None) -> None:
        if text and text.strip():
            ids.append(doc_id(key))
            sources.append(source)
            texts.append(text)
            labels.append(label)

    for bench in BENCHMARKS:
        for page in load(bench, DATA):
            add(f"{bench}/{page.page_id}", bench, trafilatura_text(page.html))
    src = WarcSource()
    for shard in src.shards([os.path.join(DATA, "warc-samples")]):
        for batch in src.read(shard.path, 1000):
            for r in batch.to_pylist():
                if r["drop_reason"] is None:
                    add(f"warc/{r['id'] or r['doc_id']}", "warc", r["text"] or trafilatura_text(r["html"] or ""))
    with open(os.path.join(DATA, "dclm-human-quality-labels", "majority_data.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            add(f"dclm/{i}", "dclm", row["text"], int(row["label"]))
    table = pa.table({"doc_id": ids, "source": sources, "text": pa.array(texts, pa.large_string()),
                      "label": pa.array(labels, pa.int64())})
    pq.write_table(table, out, compression="zstd")
    return table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/curate-filter-corpus.parquet")
    args = ap.parse_args()
    table = build(args.out)
    counts = table.group_by("source").aggregate([("doc_id", "count")]).to_pylist()
    print(f"{table.num_rows} docs -> {args.out}: " + ", ".join(f"{c['source']} {c['doc_id_count']}" for c in counts))


if __name__ == "__main__":
    main()
