"""Agreement and speed of our C4 quality / C4 bad-words / FineWeb quality filters against datatrove's.

Runs datatrove 0.10.1's ``C4QualityFilter`` (FineWeb's settings: ``filter_no_terminal_punct=False``),
``C4BadWordsFilter`` and ``FineWebQualityFilter`` one ``filter(Document)`` call per document, and ours on
the same texts, then reports: identical keep/drop decisions, the same reason where both drop, identical
resulting text for C4's line removal, every disagreement with its metric values, and docs/s of each.

datatrove needs spaCy (``pip install spacy``; no model download: it uses ``spacy.blank("en")``), which is a
bench-only dependency. datatrove downloads the LDNOOBW lists from GitHub at run time; offline, this bench
points its downloader at the same list directory our filter reads (``--bad-words-dir``).

    .venv/bin/python bench/agreement_c4_fineweb.py [--corpus /tmp/curate-filter-corpus.parquet]
        [--bad-words-dir ../shared/data/ldnoobw/lists] [--out bench/results/c4_fineweb.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from curate.core.ids import doc_id  # noqa: E402
from curate.core.schema import DOC_SCHEMA  # noqa: E402
from curate.filters.c4 import C4BadWords, C4Quality, count_sentences  # noqa: E402
from curate.filters.fineweb_quality import FineWebQuality  # noqa: E402
from curate.filters.words import split_words  # noqa: E402


def batch_of(texts: list[str]) -> pa.RecordBatch:
    n = len(texts)
    cols = {f.name: pa.nulls(n, f.type) for f in DOC_SCHEMA}
    cols["text"] = pa.array(texts, pa.large_string())
    cols["doc_id"] = pa.array([doc_id(f"bench/{i}") for i in range(n)], pa.string())
    return pa.RecordBatch.from_arrays(list(cols.values()), schema=DOC_SCHEMA)


def run_ours(stage, texts: list[str]) -> tuple[list, list[str], float]:
    stage.setup()
    t0 = time.perf_counter()
    out = stage.process(batch_of(texts))
    dt = time.perf_counter() - t0
    return out.column("drop_reason").to_pylist(), out.column("text").to_pylist(), dt


def run_datatrove(filt, texts: list[str]) -> tuple[list, list[str], float]:
    from datatrove.data import Document

    reasons, outs = [], []
    t0 = time.perf_counter()
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        res = filt.filter(doc)
        if isinstance(res, tuple):
            reasons.append(res[1] or "dropped")
        else:
            reasons.append(None if res else "dropped")
        outs.append(doc.text)
    return reasons, outs, time.perf_counter() - t0


def strip_prefix(reasons: list) -> list:
    return [r.split(":", 1)[1] if r else None for r in reasons]


def fineweb_metrics(text: str) -> str:
    lines = [x for x in text.split("\n") if x.strip()]
    if not lines:
        return "no lines"
    nl = text.count("\n")
    from datatrove.utils.text import split_into_words

    return (f"lines={len(lines)} newlines={nl} chunks={len(text.split())} spacy_words={len(split_into_words(text))} "
            f"our_words={len(split_words(text))}")


def c4_metrics(text: str) -> str:
    kept = [ln for ln in C4Quality(min_num_sentences=-1).clean(text)[1].split("\n") if ln]
    from datatrove.utils.text import split_into_sentences

    ours = sum(count_sentences(x) for x in kept)
    theirs = sum(len(split_into_sentences(x)) for x in kept)
    return f"kept_lines={len(kept)} our_sentences={ours} spacy_sentences={theirs}"


def compare(name, texts, ids, ours, theirs, metric, compare_text=False) -> tuple[list[str], list[str]]:
    (r_o, t_o, dt_o), (r_d, t_d, dt_d) = ours, theirs
    n = len(texts)
    r_o = strip_prefix(r_o)
    same_keep = sum((a is None) == (b is None) for a, b in zip(r_o, r_d, strict=True))
    both_drop = [(a, b) for a, b in zip(r_o, r_d, strict=True) if a and b]
    same_reason = sum(a == b for a, b in both_drop)
    rows = [
        f"### {name}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| documents | {n} |",
        f"| dropped: ours / datatrove | {sum(r is not None for r in r_o)} / {sum(r is not None for r in r_d)} |",
        f"| identical keep/drop | {same_keep}/{n} = {100 * same_keep / n:.2f}% |",
        f"| same reason where both drop | {same_reason}/{len(both_drop)} = "
        f"{100 * same_reason / max(len(both_drop), 1):.2f}% |",
    ]
    if compare_text:
        both_keep = [i for i in range(n) if r_o[i] is None and r_d[i] is None]
        same_text = sum(t_o[i] == t_d[i] for i in both_keep)
        rows.append(f"| identical text where both keep | {same_text}/{len(both_keep)} = "
                    f"{100 * same_text / max(len(both_keep), 1):.2f}% |")
    rows += [
        f"| docs/s: ours | {n / dt_o:,.0f} |",
        f"| docs/s: datatrove | {n / dt_d:,.0f} |",
        f"| speed-up | {dt_d / dt_o:.1f}x |",
        "",
    ]
    dis = []
    for i in range(n):
        text_differs = compare_text and r_o[i] is None and r_d[i] is None and t_o[i] != t_d[i]
        if r_o[i] != r_d[i] or text_differs:
            what = "text differs" if text_differs else f"ours={r_o[i]} datatrove={r_d[i]}"
            dis.append(f"- {name} `{ids[i]}`: {what}; {metric(texts[i])}")
    return rows, dis


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="/tmp/curate-filter-corpus.parquet")
    ap.add_argument("--bad-words-dir", default=os.path.join(ROOT, "..", "shared", "data", "ldnoobw", "lists"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "c4_fineweb.md"))
    args = ap.parse_args()

    import datatrove.pipeline.filters.c4_filters as dt_c4
    from datatrove.pipeline.filters import C4BadWordsFilter, C4QualityFilter, FineWebQualityFilter

    bad_dir = os.path.abspath(args.bad_words_dir)
    # offline: datatrove's downloader returns the local list of the language named at the URL's end
    dt_c4.cached_asset_path_or_download = lambda url, **_: os.path.join(bad_dir, url.rsplit("/", 1)[1])

    table = pq.read_table(args.corpus, columns=["doc_id", "text"])
    ids = table.column("doc_id").to_pylist()
    texts = [t or "" for t in table.column("text").to_pylist()]

    # warm-up both (spaCy model build, list loading, regex compilation) outside the timings
    C4QualityFilter(filter_no_terminal_punct=False).filter(__import__("datatrove.data").data.Document(text="a b c.", id="w"))

    report = ["# C4 quality, C4 bad words and FineWeb quality: curate vs datatrove 0.10.1", "",
              f"Corpus: `{args.corpus}` ({len(texts)} documents), one process, single-threaded. "
              "datatrove: `filter(Document)` per document (spaCy blank English for words/sentences); ours: "
              "`Stage.process` on one Arrow batch. Command: `.venv/bin/python bench/agreement_c4_fineweb.py`.", ""]
    disagreements: list[str] = []
    runs = [
        ("c4", C4Quality(), C4QualityFilter(filter_no_terminal_punct=False), c4_metrics, True),
        ("fineweb_quality", FineWebQuality(), FineWebQualityFilter(), fineweb_metrics, False),
        ("c4_badwords", C4BadWords(bad_words_dir=bad_dir), C4BadWordsFilter(), lambda t: "", False),
    ]
    for name, ours_stage, theirs_filter, metric, cmp_text in runs:
        theirs = run_datatrove(theirs_filter, texts)
        ours = run_ours(ours_stage, texts)
        rows, dis = compare(name, texts, ids, ours, theirs, metric, cmp_text)
        report += rows
        disagreements += dis
    report += ["## Disagreements", ""] + (disagreements or ["none"]) + [""]
    md = "\n".join(report)
    print(md)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)


if __name__ == "__main__":
    main()
