"""Our extraction of the CC-MAIN-2024-22 page vs Common Crawl's own WET text of the same record.

Reads ``cc-main-2024-22-whirlwind.warc.gz`` with our WARC reader, extracts the page with both extractors,
and scores each against the WET conversion record's text (the article benchmark's shingle-F1, with the
WET text as reference; plus the share of WET lines found in ours). CC's WET is a full-page text dump
(navigation, sidebars and footers included), so a main-content extractor is expected to have high
precision and low recall against it. Run:

    .venv/bin/python bench/wet_compare.py
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shingle_f1 import score  # noqa: E402

from curate.extract.extractors import resiliparse_text, trafilatura_text  # noqa: E402
from curate.io.warc import WarcSource  # noqa: E402

SAMPLES = os.path.join(ROOT, "..", "shared", "data", "warc-samples")


def rows(name: str) -> list[dict]:
    return [r for b in WarcSource().read(os.path.join(SAMPLES, name), 100) for r in b.to_pylist()]


def main() -> None:
    (page,) = [r for r in rows("cc-main-2024-22-whirlwind.warc.gz") if r["drop_reason"] is None]
    (wet,) = rows("cc-main-2024-22-whirlwind.warc.wet.gz")
    print(f"page {page['url']}  html {len(page['html']):,} chars; CC WET text {len(wet['text']):,} chars")
    wet_lines = {ln.strip() for ln in wet["text"].splitlines() if ln.strip()}
    print(f"{'extractor':<12} {'chars':>6} {'P':>6} {'R':>6} {'F1':>6} {'WET lines found':>16}")
    for name, fn in (("trafilatura", trafilatura_text), ("resiliparse", resiliparse_text)):
        ours = fn(page["html"])
        s = score([(wet["text"], ours)])
        found = sum(1 for ln in wet_lines if ln in ours)
        print(f"{name:<12} {len(ours):>6} {s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f} "
              f"{found:>7}/{len(wet_lines)}")


if __name__ == "__main__":
    main()
