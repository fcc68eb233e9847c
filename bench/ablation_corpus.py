"""The input of the GPU ablation run: real web pages plus English documentation-site pages.

`curate make-sample --web` gives 1,692 real web documents (~1.5M GPT-2 tokens): enough for the CI
preset, too few for a 20M-parameter model. This adds every English HTML page of Debian's documentation
packages (Python, PostgreSQL, Git, Apache, the Debian handbook and reference: documentation sites of
the kind Common Crawl is full of, with navigation, footers and code), extracted with our trafilatura
path (FineWeb's settings) and kept when lid.176 says English > 0.65 (FineWeb's language step). The
packages are downloaded, not installed:

    mkdir -p /tmp/debdocs && cd /tmp/debdocs && apt-get download python3.11-doc postgresql-doc-15 \\
        git-doc debian-reference-en apache2-doc debian-handbook && for f in *.deb; do dpkg -x $f root; done
    .venv/bin/python bench/ablation_corpus.py --doc-root /tmp/debdocs/root --web runs/web/web.parquet \\
        --out runs/ablation-corpus.parquet

Then, on a GPU machine (the ablation path needs only torch, numpy, pyarrow, tiktoken and matplotlib;
DATA holds tokenizers/gpt2, lm-benchmarks, blimp and wikitext-2 from ../shared/data):

    PYTHONPATH=. python3 -m curate.cli ablate --filter gopher --input runs/ablation-corpus.parquet \
        --output bench/results/ablate-gpu/gopher --preset gpu-20m --seeds 3 --device cuda \
        --data DATA --tokenizer-dir DATA/tokenizers/gpt2

Columns ``doc_id, id, source, text`` (ids: the page's path under the doc root, stable across builds).
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from curate.core.ids import doc_id  # noqa: E402
from curate.extract.extractors import trafilatura_text  # noqa: E402


def english_pages(root: str) -> list[str]:
    pages = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if "/debian-handbook/html/" in dirpath + "/" and "/en-US" not in dirpath:
            continue
        for name in sorted(filenames):
            # apache2-doc keeps one file per language: foo.html.en, foo.html.fr, ...
            if name.endswith((".html", ".html.en", ".htm")):
                pages.append(os.path.join(dirpath, name))
    return pages


def extract(path: str) -> str:
    with open(path, "rb") as f:
        html = f.read().decode("utf-8", errors="replace")
    try:
        return trafilatura_text(html)
    except Exception:  # a page trafilatura cannot parse is left out, counted below
        return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc-root", required=True)
    ap.add_argument("--web", required=True, help="web.parquet from `curate make-sample --web`")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    import fasttext

    from curate.filters.language import default_model_path

    pages = english_pages(args.doc_root)
    with ProcessPoolExecutor(args.workers) as pool:
        texts = list(pool.map(extract, pages, chunksize=16))
    lid = fasttext.load_model(default_model_path())
    ids, doc_ids, sources, kept = [], [], [], []
    empty = not_en = 0
    for path, text in zip(pages, texts, strict=True):
        if not text.strip():
            empty += 1
            continue
        labels, scores = lid.predict(" ".join(text.split())[:4000], k=1)
        if labels[0] != "__label__en" or scores[0] <= 0.65:
            not_en += 1
            continue
        rel = os.path.relpath(path, args.doc_root)
        ids.append(f"debdoc/{rel}")
        doc_ids.append(doc_id(ids[-1]))
        sources.append("debdoc/" + rel.split("/")[3] if rel.startswith("usr/share/doc/") else "debdoc/other")
        kept.append(text)
    web = pq.read_table(args.web, columns=["doc_id", "id", "source", "text"]).to_pydict()
    ids += web["id"]
    doc_ids += web["doc_id"]
    sources += web["source"]
    kept += web["text"]
    table = pa.table({
        "doc_id": doc_ids, "id": ids, "source": sources,
        "text": pa.array(kept, pa.large_string()),
    })
    pq.write_table(table, args.out, compression="zstd")
    print(f"{len(pages)} pages: {empty} empty extractions, {not_en} not English; "
          f"{len(ids)} docs written to {args.out} ({sum(map(len, kept)) / 1e6:.1f}M chars)")


if __name__ == "__main__":
    main()
