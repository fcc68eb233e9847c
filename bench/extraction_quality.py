"""Main-text extraction quality on four benchmarks: shingle precision / recall / F1 (see shingle_f1.py).

Benchmarks (read in place from ../shared/data; the tarballs are read in memory, never unpacked):

- ``article``: scrapinghub article-extraction-benchmark, 181 news/blog pages (UTF-8, gzip) with the
  gold article body; the metric is this benchmark's own.
- ``cleaneval``: CleanEval 2007 dev + final, 739 pages with gold (2006-07 web, mixed encodings).
- ``cleanportaleval``: 71 pages from 4 portals sharing site templates (CleanEval format).
- ``readability``: Mozilla Readability's 130 test pages; gold = text of expected.html.

Decoding, as a web reader would: a BOM; else the charset the crawler recorded (CleanEval's
``<text ... encoding="...">`` wrapper, which stands in for the HTTP header) when it names a real
encoding; else the page's ``<meta charset>``; else uchardet's guess. Labels are mapped per WHATWG
(``iso-8859-1`` -> ``windows-1252``), and bytes that fail the chosen codec fall back to UTF-8, then
windows-1252 (resiliparse's ``bytes_to_str``). CleanEval's wrapper line is removed from the HTML (it was
not part of the page). CleanEval gold files are decoded as UTF-8 when valid, else with the page's
encoding; their ``URL:`` line and ``<p>``/``<h>``/``<l>`` block markers are removed and HTML entities
(``&#039;``) unescaped, so marker letters and entity numbers do not count as tokens.

Extractors scored:

- ``trafilatura (FineWeb)``: ``trafilatura.extract(html, favor_precision=True, include_comments=False,
  deduplicate=True)``, datatrove's call for FineWeb, with trafilatura's process-wide dedup LRU cleared
  before each page so a page's result does not depend on the pages before it.
- ``datatrove Trafilatura``: datatrove's own step (``Trafilatura(favour_precision=True)``, run over
  Documents through ``run()`` and its sandbox process, in page order), with its 1 s per-document timeout
  raised to 120 s so load on this machine cannot drop pages. Its dedup LRU persists across pages, as in
  a FineWeb run.
- ``resiliparse``: ``extract_plain_text(html, main_content=True, ...)`` with several option sets.
- ``curate trafilatura`` / ``curate resiliparse``: ``curate.extract.extractors.{trafilatura,resiliparse}_text``
  when that module exists.
- ``fast path``: resiliparse plus boilerplate-line removal (bench/fast_extract.py), when present.

Run (deterministic; docs/s is single-process and indicative only):

    .venv/bin/python bench/extraction_quality.py                 # all benchmarks, all extractors
    .venv/bin/python bench/extraction_quality.py --bench article --only trafilatura
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shingle_f1 import Score, score  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")
RESULTS = os.path.join(ROOT, "bench", "results", "extraction.md")
sys.path.insert(0, ROOT)

# the benchmark pages and their readers live in curate (`curate make-sample --web` extracts them)
from curate.sample import BENCHMARKS, Page  # noqa: E402,F401
from curate.sample import load as _load  # noqa: E402


def load(bench: str, data_dir: str = DATA) -> list[Page]:
    return _load(bench, data_dir)


# ---------------------------------------------------------------- extractors

def trafilatura_fineweb(html: str) -> str:
    """FineWeb's trafilatura call, with the dedup LRU cleared so the result depends on this page only."""
    import trafilatura
    from trafilatura.deduplication import LRU_TEST

    LRU_TEST.clear()
    return trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=True) or ""


RESILIPARSE_VARIANTS: dict[str, dict] = {
    "resiliparse main_content (defaults)": {},
    "resiliparse main_content, alt_texts=False": {"alt_texts": False},
    "resiliparse main_content, alt_texts=False, comments=False": {"alt_texts": False, "comments": False},
    "resiliparse main_content, alt_texts=False, comments=False, post_meta=False":
        {"alt_texts": False, "comments": False, "post_meta": False},
    "resiliparse main_content, alt_texts=False, links=True": {"alt_texts": False, "links": True},
    "resiliparse main_content, alt_texts=False, noscript=True": {"alt_texts": False, "noscript": True},
    "resiliparse main_content, alt_texts=False, form_fields=True": {"alt_texts": False, "form_fields": True},
}


def resiliparse_fn(**opts) -> Callable[[str], str]:
    from resiliparse.extract.html2text import extract_plain_text

    def run(html: str) -> str:
        return extract_plain_text(html, main_content=True, **opts)

    return run


def resiliparse_full_page(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=False, alt_texts=False)


def curate_extractor(name: str) -> Callable[[str], str] | str:
    """The function from curate.extract.extractors, or a message saying why it is not available."""
    try:
        from curate.extract import extractors
    except ImportError as e:
        return f"curate.extract.extractors not importable yet ({e})"
    fn = getattr(extractors, f"{name}_text", None)
    if fn is None:
        return f"curate.extract.extractors has no {name}_text"
    return fn


def fast_path() -> Callable[[str], str] | str:
    try:
        from fast_extract import fast_text
    except ImportError as e:
        return f"bench/fast_extract.py not available ({e})"
    return fast_text


def run_datatrove(pages: list[Page], timeout: float = 120.0) -> tuple[list[str], float, str]:
    """datatrove's Trafilatura step over Documents, as a FineWeb run calls it -> (texts, seconds, note)."""
    import logging

    from datatrove.data import Document
    from datatrove.pipeline.extractors import Trafilatura
    from loguru import logger as loguru_logger

    loguru_logger.remove()
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    step = Trafilatura(favour_precision=True, timeout=timeout)
    docs = [Document(text=p.html, id=str(i)) for i, p in enumerate(pages)]
    t0 = time.perf_counter()
    out = {int(d.id): d.text for d in step.run(iter(docs))}
    seconds = time.perf_counter() - t0
    stats = step.stats.stats if hasattr(step.stats, "stats") else {}
    note = ", ".join(f"{k}={v.total if hasattr(v, 'total') else v}" for k, v in stats.items()
                     if k in ("timeout", "clean_error", "broken_process", "dropped"))
    return [out.get(i, "") for i in range(len(pages))], seconds, note


@dataclass
class Result:
    extractor: str
    bench: str
    score: Score | None
    docs_per_s: float
    errors: int = 0
    note: str = ""


def run_fn(name: str, fn: Callable[[str], str], pages: list[Page]) -> Result:
    outs, errors, seconds = [], 0, 0.0
    for p in pages:
        t0 = time.perf_counter()
        try:
            text = fn(p.html) or ""
        except Exception:  # a failing page scores as an empty output, and is counted
            text, errors = "", errors + 1
        seconds += time.perf_counter() - t0
        outs.append(text)
    s = score((p.gold, o) for p, o in zip(pages, outs, strict=True))
    return Result(name, pages[0].bench if pages else "", s, len(pages) / seconds if seconds else 0.0, errors)


def extractors_for(only: str | None) -> list[tuple[str, Callable[[str], str] | str | None]]:
    """(name, function | unavailable-message | None for datatrove), in table order."""
    items: list[tuple[str, Callable[[str], str] | str | None]] = [
        ("trafilatura (FineWeb settings)", trafilatura_fineweb),
        ("datatrove Trafilatura step", None),
        ("curate trafilatura", curate_extractor("trafilatura")),
        ("curate resiliparse", curate_extractor("resiliparse")),
    ]
    items += [(name, resiliparse_fn(**opts)) for name, opts in RESILIPARSE_VARIANTS.items()]
    items += [("resiliparse full page (no main_content)", resiliparse_full_page),
              ("fast path: resiliparse + line filter", fast_path())]
    if only:
        items = [(n, f) for n, f in items if only.lower() in n.lower()]
    return items


# ---------------------------------------------------------------- report

def markdown(results: list[Result], benches: list[str], counts: dict[str, int], skipped: list[str]) -> str:
    lines = ["## Extraction quality (shingle F1)", "",
             "Command: `.venv/bin/python bench/extraction_quality.py` (scorer: bench/shingle_f1.py, the",
             "article benchmark's own metric; it reproduces that benchmark's published 0.958 / 0.922 / 0.804).",
             "docs/s: one process on a shared 2-core machine, indicative only (see extraction_speed.py).", ""]
    header = "| extractor | " + " | ".join(f"{b} ({counts[b]}) F1" for b in benches)
    header += " | mean F1 |" if len(benches) > 1 else " |"
    lines += [header, "|---" * (len(benches) + 1 + (len(benches) > 1)) + "|"]
    names = list(dict.fromkeys(r.extractor for r in results))
    by = {(r.extractor, r.bench): r for r in results}
    for name in names:
        f1s = [by[(name, b)].score.f1 for b in benches if (name, b) in by]
        row = f"| {name} | " + " | ".join(
            f"{by[(name, b)].score.f1:.3f}" if (name, b) in by else "-" for b in benches)
        if len(benches) > 1:
            row += f" | {sum(f1s) / len(f1s):.3f} |" if len(f1s) == len(benches) else " | - |"
        else:
            row += " |"
        lines.append(row)
    for b in benches:
        lines += ["", f"### {b} ({counts[b]} pages)", "",
                  "| extractor | F1 | precision | recall | pages | empty outputs | errors | docs/s |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in names:
            r = by.get((name, b))
            if r is None:
                continue
            s = r.score
            note = f" ({r.note})" if r.note else ""
            lines.append(f"| {name}{note} | {s.f1:.3f} | {s.precision:.3f} | {s.recall:.3f} | {s.pages} | "
                         f"{s.empty_pred} | {r.errors} | {r.docs_per_s:,.0f} |")
    if skipped:
        lines += ["", "Not scored: " + "; ".join(skipped) + "."]
    return "\n".join(lines) + "\n"


def write_section(path: str, section: str, tag: str = "quality") -> None:
    """Replace the ``tag`` section of ``path`` (between HTML-comment markers), or append it."""
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    block = f"{begin}\n{section}{end}\n"
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Extraction benchmarks\n\n"
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--bench", action="append", choices=BENCHMARKS, help="repeatable; default: all four")
    ap.add_argument("--only", help="score only extractors whose name contains this")
    ap.add_argument("--limit", type=int, default=0, help="first N pages per benchmark (smoke runs)")
    ap.add_argument("--out", default=RESULTS, help="Markdown file to update ('' to skip)")
    args = ap.parse_args()
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # per-page "discarding data" noise
    benches = args.bench or list(BENCHMARKS)
    extractors = extractors_for(args.only)
    skipped = [f"{n}: {f}" for n, f in extractors if isinstance(f, str)]
    for s in skipped:
        print(f"skipping {s}", file=sys.stderr)
    results: list[Result] = []
    counts = {}
    for bench in benches:
        pages = load(bench, args.data)
        if args.limit:
            pages = pages[: args.limit]
        counts[bench] = len(pages)
        for name, fn in extractors:
            if isinstance(fn, str):
                continue
            if fn is None:
                outs, seconds, note = run_datatrove(pages)
                s = score((p.gold, o) for p, o in zip(pages, outs, strict=True))
                r = Result(name, bench, s, len(pages) / seconds, note=note)
            else:
                r = run_fn(name, fn, pages)
            results.append(r)
            print(f"{bench:<16} {name:<60} {r.score.row()} {r.docs_per_s:8.0f} docs/s", file=sys.stderr)
    text = markdown(results, benches, counts, skipped)
    print(text)
    if args.out and not args.limit:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
