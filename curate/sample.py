"""Build small Parquet shards of real text from ../shared/data for demos, tests and benchmarks.

Four shards, one per source: DCLM's human-labelled Common Crawl documents (real web text, good and
bad), WikiText-2 articles, GSM8K problems with solutions, and US inaugural speeches. Ids are stable
(source + position), so every build of the sample gives the same doc_ids.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq

DUMP = "sample"


def _dclm(data: str) -> list[tuple[str, str]]:
    path = os.path.join(data, "dclm-human-quality-labels", "majority_data.jsonl")
    with open(path, encoding="utf-8") as f:
        return [(f"dclm/{i}", json.loads(line)["text"]) for i, line in enumerate(f)]


def _wikitext(data: str) -> list[tuple[str, str]]:
    docs = []
    for split in ("valid", "test"):
        with gzip.open(os.path.join(data, "wikitext-2", f"{split}.txt.gz"), "rt", encoding="utf-8") as f:
            text = f.read()
        # an article starts at a level-1 heading line " = Title = "
        parts = re.split(r"\n(?= = [^=].* = \n)", text)
        for j, part in enumerate(p.strip() for p in parts):
            if part:
                docs.append((f"wikitext2/{split}/{j}", part))
    return docs


def _gsm8k(data: str) -> list[tuple[str, str]]:
    with open(os.path.join(data, "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [(f"gsm8k/test/{i}", r["question"] + "\n\n" + r["answer"]) for i, r in enumerate(rows)]


def _speeches(data: str) -> list[tuple[str, str]]:
    with zipfile.ZipFile(os.path.join(data, "nltk-corpora", "inaugural.zip")) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".txt"))
        return [(f"inaugural/{os.path.basename(n)}", z.read(n).decode("utf-8", "replace")) for n in names]


SOURCES = {"dclm": _dclm, "wikitext2": _wikitext, "gsm8k": _gsm8k, "speeches": _speeches}


def make_sample(data: str, out_dir: str, repeat: int = 1) -> list[str]:
    """Write one Parquet shard per source; ``repeat`` > 1 repeats the docs with fresh ids (benchmarks)."""
    if not os.path.isdir(data):
        raise FileNotFoundError(f"shared data folder {data!r} not found")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, read in SOURCES.items():
        docs = read(data)
        ids = [f"{i}#{r}" if r else i for r in range(repeat) for i, _ in docs]
        texts = [t for _ in range(repeat) for _, t in docs]
        table = pa.table(
            {
                "text": pa.array(texts, pa.large_string()),
                "id": pa.array(ids, pa.string()),
                "dump": pa.array([DUMP] * len(ids), pa.string()),
            }
        )
        path = os.path.join(out_dir, f"{name}.parquet")
        pq.write_table(table, path, compression="zstd")
        paths.append(path)
    return paths
