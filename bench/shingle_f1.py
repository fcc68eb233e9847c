"""Shingle precision / recall / F1, as scrapinghub/article-extraction-benchmark's evaluate.py scores it.

The metric (re-implemented from the benchmark's description and its evaluate.py, no code copied):

- Tokens are the matches of ``\\w+`` (Unicode word characters) in the text; ``None`` counts as "".
- Shingles are the runs of 4 consecutive tokens, counted as a multiset. A text with 1-3 tokens gives one
  shorter shingle (all its tokens); a text with no tokens gives none.
- Per page, over the union of shingles: TP += min(gold, pred), FP += max(0, pred - gold),
  FN += max(0, gold - pred); then TP, FP, FN are divided by their sum so every page weighs the same.
- Precision = TP / (TP + FP) averaged over pages with TP + FP > 0 (an empty prediction is left out of
  precision); recall = TP / (TP + FN) averaged over pages with TP + FN > 0 (an empty gold is left out of
  recall). A page whose FP and FN are both 0 scores 1. F1 = harmonic mean of the two averages (not the
  average of per-page F1s).

Self-check against the benchmark's published numbers (trafilatura 2.0.0 F1 0.958, readability-lxml
0.8.4.1 F1 0.922, justext 3.0.2 F1 0.804), by re-scoring the upstream outputs shipped in
``../shared/data/article-extraction-benchmark/output``:

    .venv/bin/python bench/shingle_f1.py
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

SHINGLE = 4
_TOKEN = re.compile(r"\w+")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTICLE_BENCH = os.path.join(ROOT, "..", "shared", "data", "article-extraction-benchmark")

# The benchmark README's figures for the outputs shipped with it (system: (precision, recall, F1)).
PUBLISHED = {
    "trafilatura": (0.938, 0.978, 0.958),
    "readability": (None, None, 0.922),
    "justext": (None, None, 0.804),
}


def tokens(text: str | None) -> list[str]:
    return _TOKEN.findall(text or "")


def shingles(text: str | None, n: int = SHINGLE) -> Counter:
    toks = tokens(text)
    if not toks:
        return Counter()
    if len(toks) < n:
        return Counter([tuple(toks)])
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def page_counts(gold: str | None, pred: str | None, n: int = SHINGLE) -> tuple[float, float, float]:
    """Normalised (TP, FP, FN) of one page: they sum to 1, or are all 0 when both texts are empty."""
    g, p = shingles(gold, n), shingles(pred, n)
    tp = sum((g & p).values())
    fp = sum((p - g).values())
    fn = sum((g - p).values())
    total = tp + fp + fn
    if total == 0:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == 0 and fn == 0:
        return 1.0
    return tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == 0 and fn == 0:
        return 1.0
    return tp / (tp + fn)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    pages: int          # pages scored
    empty_pred: int     # pages whose prediction has no tokens (left out of precision)

    def row(self) -> str:
        return f"P={self.precision:.3f} R={self.recall:.3f} F1={self.f1:.3f} (pages {self.pages})"


def score(pairs: Iterable[tuple[str | None, str | None]], n: int = SHINGLE) -> Score:
    """Score ``(gold, prediction)`` pairs the way the article-extraction benchmark does."""
    counts = [page_counts(g, p, n) for g, p in pairs]
    precs = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recs = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    precision = sum(precs) / len(precs) if precs else 0.0
    recall = sum(recs) / len(recs) if recs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    empty = sum(1 for c in counts if c[0] + c[1] == 0)
    return Score(precision, recall, f1, len(counts), empty)


def load_json_gz(path: str):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def validate(bench_dir: str = ARTICLE_BENCH) -> dict[str, Score]:
    """Re-score the upstream outputs shipped with the article benchmark; return {system: Score}."""
    gold = load_json_gz(os.path.join(bench_dir, "ground-truth.json.gz"))
    results = {}
    for system in sorted(PUBLISHED):
        path = os.path.join(bench_dir, "output", f"{system}.json.gz")
        if not os.path.exists(path):
            continue
        doc = load_json_gz(path)
        out = doc.get("output", doc)
        if out.keys() != gold.keys():
            raise ValueError(f"{system}: prediction keys do not match the ground truth")
        results[system] = score((gold[k].get("articleBody", ""), out[k].get("articleBody", "")) for k in gold)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=ARTICLE_BENCH, help="article-extraction-benchmark folder")
    args = ap.parse_args()
    results = validate(args.bench)
    ok = True
    print(f"{'system':<12} {'P':>6} {'R':>6} {'F1':>6}   published F1 (P, R)")
    for system, s in results.items():
        pub_p, pub_r, pub_f1 = PUBLISHED[system]
        match = abs(round(s.f1, 3) - pub_f1) < 1e-9
        ok &= match
        extra = f" ({pub_p}, {pub_r})" if pub_p is not None else ""
        print(f"{system:<12} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f}   {pub_f1:.3f}{extra}"
              f"  {'match' if match else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
