"""Agreement and speed of curate's Gopher filters against datatrove's on real documents.

Runs datatrove's ``GopherRepetitionFilter`` and ``GopherQualityFilter`` (default FineWeb settings, their
``filter(Document)`` method, spaCy English word splitting) and curate's ``GopherRepetition`` /
``GopherQuality`` over every document of the filter corpus (``bench/filter_corpus.py``), and reports per
filter: identical keep/drop share, same-reason share where both drop, every disagreement with its
metrics, and single-process docs/s of each. Also the token-level agreement of ``split_words`` with
spaCy. Needs ``spacy`` installed (datatrove's word tokenizer: ``spacy.blank("en")``, no model download).

    .venv/bin/python bench/agreement_gopher.py [--corpus /tmp/curate-filter-corpus.parquet] [--limit N]

Prints a Markdown section and writes it to ``bench/results/gopher.md``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import time

import pyarrow.parquet as pq


def datatrove_decide(flt, doc) -> str | None:
    res = flt.filter(doc)
    if res is True:
        return None
    return res[1] if isinstance(res, tuple) else "dropped"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/tmp/curate-filter-corpus.parquet")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "gopher.md"))
    args = ap.parse_args()

    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.utils import text as dt_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    import curate.filters.words as words_mod
    from curate.filters.gopher import GopherQuality, GopherRepetition

    table = pq.read_table(args.corpus, columns=["doc_id", "text"])
    ids, texts = table.column("doc_id").to_pylist(), table.column("text").to_pylist()
    if args.limit:
        ids, texts = ids[: args.limit], texts[: args.limit]
    docs = [Document(text=t, id=i) for i, t in zip(ids, texts, strict=True)]
    n = len(docs)
    n_chars = sum(map(len, texts))

    lines = [
        "## Gopher filters: agreement with datatrove and speed",
        "",
        f"Corpus: `{args.corpus}`, {n} documents, {n_chars / n / 1000:.1f} k characters on average. "
        "datatrove 0.10 filters with default (FineWeb) settings through `filter(Document)`; curate's "
        "`GopherRepetition` / `GopherQuality` through `explain(text)`. Single process; timings include "
        "word splitting, each filter timed alone over all documents (datatrove's `split_into_words` "
        "LRU cache of 5 is cleared between the two filters, and curate's chunk cache is emptied first).",
        "",
    ]

    # ---- word splitting: token agreement with spaCy -------------------------------------------------
    tok = load_word_tokenizer("eng")
    t0 = time.perf_counter()
    spacy_toks = [tok.word_tokenize(t) for t in texts]
    spacy_s = time.perf_counter() - t0
    words_mod._CACHE.clear()
    t0 = time.perf_counter()
    our_toks = [words_mod.split_words(t) for t in texts]
    ours_s = time.perf_counter() - t0
    total = sum(map(len, spacy_toks))
    differing = 0
    same_docs = 0
    for a, b in zip(our_toks, spacy_toks, strict=True):
        if a == b:
            same_docs += 1
            continue
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag != "equal":
                differing += max(i2 - i1, j2 - j1)
    lines += [
        "### Word splitting (`curate.filters.words.split_words` vs spaCy `blank('en')` via datatrove)",
        "",
        f"- tokens: {total:,} (spaCy); differing tokens (diff alignment): {differing} "
        f"= {100 * (1 - differing / max(total, 1)):.4f}% identical; documents with identical token lists: "
        f"{same_docs}/{n}",
        f"- speed: spaCy {n / spacy_s:,.0f} docs/s, ours {n / ours_s:,.0f} docs/s (cold chunk cache) "
        f"= {spacy_s / ours_s:.1f}x",
        "",
    ]

    pairs = [
        ("gopher_rep", GopherRepetitionFilter(), GopherRepetition()),
        ("gopher_quality", GopherQualityFilter(), GopherQuality()),
    ]
    for name, theirs_f, ours_f in pairs:
        dt_text.split_into_parts.cache_clear()
        t0 = time.perf_counter()
        theirs = [datatrove_decide(theirs_f, d) for d in docs]
        theirs_s = time.perf_counter() - t0
        words_mod._CACHE.clear()
        t0 = time.perf_counter()
        ours = [ours_f.explain(t) for t in texts]
        ours_s = time.perf_counter() - t0
        # a worker keeps its chunk cache across batches: a second pass shows the steady state
        t0 = time.perf_counter()
        for t in texts:
            ours_f.explain(t)
        warm_s = time.perf_counter() - t0

        same_kd = sum((a[0] is None) == (b is None) for a, b in zip(ours, theirs, strict=True))
        both_drop = [(a[0], b) for a, b in zip(ours, theirs, strict=True) if a[0] is not None and b is not None]
        same_reason = sum(a == b for a, b in both_drop)
        dropped_t = sum(b is not None for b in theirs)
        dropped_o = sum(a[0] is not None for a in ours)
        lines += [
            f"### `{name}`",
            "",
            "| | value |",
            "|---|---|",
            f"| identical keep/drop | {same_kd}/{n} = {100 * same_kd / n:.2f}% |",
            f"| same reason where both drop | {same_reason}/{len(both_drop)} = "
            f"{100 * same_reason / max(len(both_drop), 1):.2f}% |",
            f"| dropped: datatrove / curate | {dropped_t} / {dropped_o} |",
            f"| datatrove docs/s | {n / theirs_s:,.0f} |",
            f"| curate docs/s, cold chunk cache | {n / ours_s:,.0f} ({theirs_s / ours_s:.1f}x) |",
            f"| curate docs/s, warm chunk cache (second pass) | {n / warm_s:,.0f} ({theirs_s / warm_s:.1f}x) |",
            "",
        ]
        dis = [
            (ids[i], ours[i][0], theirs[i], ours[i][1])
            for i in range(n)
            if ours[i][0] != theirs[i]
        ]
        if dis:
            lines += ["Disagreements (doc_id, curate, datatrove, curate's metrics):", ""]
            lines += ["| doc_id | curate | datatrove | metrics |", "|---|---|---|---|"]
            for did, a, b, m in dis:
                ms = ", ".join(f"{k}={v:.4g}" for k, v in m.items())
                lines.append(f"| {did} | {a or 'keep'} | {b or 'keep'} | {ms} |")
            lines.append("")
        else:
            lines += ["No disagreements.", ""]

    md = "\n".join(lines)
    print(md)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md + "\n")


if __name__ == "__main__":
    main()
