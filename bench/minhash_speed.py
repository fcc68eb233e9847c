"""MinHash signature speed: curate vs datatrove's MinhashDedupSignature vs datasketch (FineWeb config).

Run: .venv/bin/python bench/minhash_speed.py [--docs 5000] [--peer-docs 300]

Docs: the DCLM human-quality-labels pages plus WikiText-2 (valid) articles, repeated to --docs.
curate: ``signatures`` on the whole list (batches of 1,000). datatrove: ``get_shingles`` + ``get_signature``
per doc (5-gram spaCy words, xxh64, 14 x 8). datasketch: ``MinHash(num_perm=112)`` updated with the same
word 5-grams (``update_batch`` of UTF-8 bytes). The peers run on --peer-docs docs spread over the list (they are
slow), and ratios compare all three on those same docs. Single process; on a shared machine numbers are indicative.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from curate.dedup.minhash import MinHashParams, normalize_text, signatures  # noqa: E402
from curate.filters.words import split_words  # noqa: E402

DATA = os.path.abspath(os.environ.get("CURATE_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")))


def load_docs(n: int) -> list[str]:
    with open(os.path.join(DATA, "dclm-human-quality-labels", "majority_data.jsonl"), encoding="utf-8") as fh:
        docs = [json.loads(line)["text"] for line in fh]
    with gzip.open(os.path.join(DATA, "wikitext-2", "valid.txt.gz"), "rt", encoding="utf-8") as fh:
        cur: list[str] = []
        for line in fh:
            s = line.strip()
            if s.startswith("= ") and not s.startswith("= = "):
                if cur:
                    docs.append("\n".join(cur))
                cur = []
            elif s:
                cur.append(s)
    base = list(docs)
    while len(docs) < n:
        docs.extend(base)
    return docs[:n]


def datatrove_step():
    import datatrove
    import xxhash

    path = os.path.join(os.path.dirname(datatrove.__file__), "pipeline", "dedup", "minhash.py")
    spec = importlib.util.spec_from_file_location("_datatrove_minhash", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the file alone: the package __init__ needs optional extras
    step = mod.MinhashDedupSignature(output_folder=os.devnull)
    step._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8"))  # xxhash >= 4: bytes only
    return step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--peer-docs", type=int, default=300)
    args = ap.parse_args()
    docs = load_docs(args.docs)
    peer = docs[:: max(1, len(docs) // args.peer_docs)][: args.peer_docs]  # spread over both sources
    params = MinHashParams()
    print(f"{len(docs)} docs, {sum(map(len, docs)) / len(docs):.0f} chars/doc on average; peers on {len(peer)}")

    signatures(docs[:50], params)  # warm caches (word splitting)
    t = time.perf_counter()
    for i in range(0, len(docs), 1000):
        signatures(docs[i : i + 1000], params)
    ours = len(docs) / (time.perf_counter() - t)
    print(f"curate signatures      {ours:9.0f} docs/s   (all docs)")
    t = time.perf_counter()
    signatures(peer, params)
    ours = len(peer) / (time.perf_counter() - t)
    print(f"curate signatures      {ours:9.0f} docs/s   (the peers' docs; ratios use this)")

    step = datatrove_step()
    step.get_shingles(peer[0])
    t = time.perf_counter()
    for d in peer:
        sh = step.get_shingles(d)
        if sh.size:
            step.get_signature(sh)
    dt = len(peer) / (time.perf_counter() - t)
    print(f"datatrove              {dt:9.0f} docs/s   curate / datatrove  = {ours / dt:5.1f}x")

    try:
        from datasketch import MinHash
    except ImportError:
        print("datasketch not installed: skipped")
        return
    t = time.perf_counter()
    for d in peer:
        words = split_words(normalize_text(d))
        grams = [" ".join(words[i : i + params.ngram]).encode() for i in range(len(words) - params.ngram + 1)]
        m = MinHash(num_perm=params.num_perm, seed=params.seed)
        m.update_batch(grams)
    ds = len(peer) / (time.perf_counter() - t)
    print(f"datasketch             {ds:9.0f} docs/s   curate / datasketch = {ours / ds:5.1f}x")


if __name__ == "__main__":
    main()
