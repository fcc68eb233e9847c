"""A corpus with planted near-duplicates at known Jaccard similarity, built from real text.

Used to measure fuzzy dedup (``bench/minhash_detection.py``, ``bench/dedup_full.py``, tests): precision
and recall of pair detection need ground truth, and web crawls have none.

* **Passages**: real paragraphs of 30-250 words from ``../shared/data``: WikiText-2 (valid, test), the
  DCLM Common Crawl pages, US inaugural and State of the Union speeches, GSM8K problems with their
  solutions, Shakespeare's speeches and web forum text (nltk webtext), in a fixed order.
* **Boilerplate**: the real template lines of the CleanPortalEval pages (lines shared by more than six of
  its 71 pages: navigation, share bars, footers), in blocks of 2-6 lines.
* **Originals**: 2-6 random passages joined by blank lines, between a boilerplate header and footer.
* **Copies**: an original with word edits at rate ``r`` (each word, with probability ``r``: replaced by
  a word from the corpus, a word inserted after it, or deleted, equally likely) and, with probability
  ``swap``, its header and footer swapped for other boilerplate. ``r`` is solved from a target Jaccard
  ``J`` (one edit breaks up to ``ngram`` shingles: ``s = (1 - r)^5`` shared, ``J ~= s / (2 - s)``), drawn
  from a mixture: ``near`` of the copies aim at ``J`` in [0.8, 1] (the templated re-posts dedup exists for),
  the rest uniformly in [0.05, 1] so every similarity is represented. The *true* Jaccard of every pair is
  then computed exactly from shingle sets; the target only spreads the pairs.

Everything is drawn from one ``random.Random(seed)``: the same arguments give the same corpus.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import re
import tarfile
import zipfile
from dataclasses import dataclass

from curate.core.ids import doc_id

__all__ = ["PlantedCorpus", "boilerplate_lines", "make_corpus", "passages"]

_MIN_WORDS, _MAX_WORDS = 30, 250


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _sized(paras: list[str]) -> list[str]:
    """Paragraphs within the size window; short neighbours are merged, long ones cut at sentence ends."""
    out, cur = [], []
    for p in paras:
        words = p.split()
        while len(words) > _MAX_WORDS:
            out.append(" ".join(words[:_MAX_WORDS]))
            words = words[_MAX_WORDS:]
        cur += words
        if len(cur) >= _MIN_WORDS:
            out.append(" ".join(cur))
            cur = []
    return out


@functools.cache
def passages(data: str) -> tuple[str, ...]:
    """Real paragraphs (30-250 words) from the shared data sets, deduplicated, in a fixed order."""
    found: list[str] = []
    for split in ("valid", "test"):
        with gzip.open(os.path.join(data, "wikitext-2", f"{split}.txt.gz"), "rt", encoding="utf-8") as fh:
            lines = [s.strip() for s in fh]
        found += _sized([s for s in lines if s and not s.startswith("= ")])
    with open(os.path.join(data, "dclm-human-quality-labels", "majority_data.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            found += _sized(json.loads(line)["text"].split("\n"))
    for corpus in ("inaugural", "state_union"):
        with zipfile.ZipFile(os.path.join(data, "nltk-corpora", f"{corpus}.zip")) as z:
            for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
                found += _sized(z.read(name).decode("latin-1").split("\n"))
    with zipfile.ZipFile(os.path.join(data, "nltk-corpora", "webtext.zip")) as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
            found += _sized(z.read(name).decode("latin-1").split("\n"))
    with gzip.open(os.path.join(data, "gsm8k", "train.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = row["question"] + " " + re.sub(r"<<[^>]*>>", "", row["answer"]).replace("\n", " ")
            found += _sized([text])
    with gzip.open(os.path.join(data, "tiny-shakespeare", "input.txt.gz"), "rt", encoding="utf-8") as fh:
        found += _sized(_paragraphs(fh.read()))
    seen: set[str] = set()
    return tuple(p for p in found if not (p.lower() in seen or seen.add(p.lower())))


@functools.cache
def boilerplate_lines(data: str) -> tuple[str, ...]:
    """Template lines of the CleanPortalEval pages: full-page text lines found on more than 6 of 71 pages."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    pages: dict[str, int] = {}
    with tarfile.open(os.path.join(data, "cleanportaleval", "cleanportaleval.tar.xz")) as tf:
        for m in sorted(tf.getmembers(), key=lambda m: m.name):
            if m.name.endswith(".html") and "/input/" in m.name:
                raw = tf.extractfile(m).read()
                text = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=False)
                for line in {" ".join(t.split()) for t in text.splitlines()}:
                    if len(line.split()) >= 2:
                        pages[line] = pages.get(line, 0) + 1
    return tuple(sorted(line for line, n in pages.items() if n > 6))


@dataclass
class PlantedCorpus:
    """Documents and their provenance: ``family[i]`` is the original's index for every copy of it."""

    texts: list[str]
    ids: list[str]
    family: list[int]
    target: list[float]  # the Jaccard a copy's edit rate aimed at (1.0 for originals)


def _edit(words: list[str], rate: float, vocab: tuple[str, ...], rng: random.Random) -> list[str]:
    out = []
    for w in words:
        if rng.random() >= rate:
            out.append(w)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(vocab))
        elif op == 1:
            out += [w, rng.choice(vocab)]
    return out


def _rate_for(target: float, ngram: int) -> float:
    s = 2 * target / (1 + target)  # J = s / (2 - s) for a shared fraction s of shingles
    return 1 - s ** (1 / ngram)


def make_corpus(
    n_originals: int, data: str, seed: int = 0, max_copies: int = 3, near: float = 0.7, swap: float = 0.3,
    ngram: int = 5,
) -> PlantedCorpus:
    """``n_originals`` originals, each followed by 0..``max_copies`` edited copies (see module docstring)."""
    rng = random.Random(seed)
    pool = passages(data)
    bp = boilerplate_lines(data)
    vocab = tuple(sorted({w for p in pool[:2000] for w in p.split()}))

    def block() -> str:
        return "\n".join(rng.sample(bp, rng.randint(2, 6)))

    texts, family, target = [], [], []
    for _ in range(n_originals):
        body = [rng.choice(pool) for _ in range(rng.randint(2, 6))]
        head, foot = block(), block()
        origin = len(texts)
        texts.append("\n\n".join([head, *body, foot]))
        family.append(origin)
        target.append(1.0)
        for _ in range(rng.randint(0, max_copies)):
            t = rng.uniform(0.8, 1.0) if rng.random() < near else rng.uniform(0.05, 1.0)
            rate = _rate_for(t, ngram)
            h, f = (block(), block()) if rng.random() < swap else (head, foot)
            edited = [" ".join(_edit(p.split(), rate, vocab, rng)) for p in body]
            texts.append("\n\n".join([h, *edited, f]))
            family.append(origin)
            target.append(t)
    ids = [doc_id(f"planted:{seed}:{i}") for i in range(len(texts))]
    return PlantedCorpus(texts, ids, family, target)
