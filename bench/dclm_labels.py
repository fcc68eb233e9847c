"""Do the heuristic filters agree with people? DCLM's human quality labels vs each filter's verdict.

DCLM (Li et al. 2024) published 499 Common Crawl documents with a human good (1) / bad (0) label
(majority of annotators). For each filter we report how often it removes label-0 docs and label-1 docs,
each filter judged on its own (not chained). A useful filter removes far more bad than good docs.
Run:

    .venv/bin/python bench/dclm_labels.py
"""

from __future__ import annotations

import json
import os
import sys

import pyarrow as pa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from curate.core.ids import doc_id  # noqa: E402
from curate.core.schema import DOC_SCHEMA  # noqa: E402
from curate.filters.c4 import C4BadWords, C4Quality  # noqa: E402
from curate.filters.fineweb_quality import FineWebQuality  # noqa: E402
from curate.filters.gopher import GopherQuality, GopherRepetition  # noqa: E402
from curate.filters.language import Language  # noqa: E402
from curate.filters.length import Length  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


def main() -> None:
    with open(os.path.join(DATA, "dclm-human-quality-labels", "majority_data.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    texts = [r["text"] for r in rows]
    labels = [int(r["label"]) for r in rows]
    n = len(rows)
    cols = {f.name: pa.nulls(n, f.type) for f in DOC_SCHEMA}
    cols["text"] = pa.array(texts, pa.large_string())
    cols["doc_id"] = pa.array([doc_id(f"dclm/{i}") for i in range(n)], pa.string())
    batch = pa.RecordBatch.from_pydict(cols, schema=DOC_SCHEMA)
    stages = [
        Length(), Language(), GopherRepetition(), GopherQuality(), C4Quality(), FineWebQuality(),
        C4BadWords(bad_words_dir=os.path.join(DATA, "ldnoobw", "lists")),
    ]
    bad, good = labels.count(0), labels.count(1)
    print(f"DCLM human labels: {n} docs, {bad} bad (label 0), {good} good (label 1); each filter alone\n")
    print("| filter | removes bad (label 0) | removes good (label 1) | bad/good removal ratio |")
    print("|---|---|---|---|")
    removed_any = [False] * n
    for stage in stages:
        stage.setup()
        out = stage.process(batch)
        dropped = [r is not None for r in out.column("drop_reason").to_pylist()]
        rb = sum(1 for d, lab in zip(dropped, labels, strict=True) if d and lab == 0)
        rg = sum(1 for d, lab in zip(dropped, labels, strict=True) if d and lab == 1)
        removed_any = [a or d for a, d in zip(removed_any, dropped, strict=True)]
        ratio = (rb / bad) / (rg / good) if rg else float("inf")
        print(f"| {stage.name} | {rb} ({100 * rb / bad:.1f}%) | {rg} ({100 * rg / good:.1f}%) | {ratio:.2f} |")
    any_bad = sum(1 for d, lab in zip(removed_any, labels, strict=True) if d and lab == 0)
    any_good = sum(1 for d, lab in zip(removed_any, labels, strict=True) if d and lab == 1)
    print(f"| any of them | {any_bad} ({100 * any_bad / bad:.1f}%) | {any_good} ({100 * any_good / good:.1f}%) | "
          f"{(any_bad / bad) / max(any_good / good, 1e-9):.2f} |")


if __name__ == "__main__":
    main()
