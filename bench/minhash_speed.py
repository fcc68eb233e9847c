"""MinHash signature speed: curate vs datatrove's MinhashDedupSignature vs datasketch (FineWeb config).

Run: .venv/bin/python bench/minhash_speed.py [--docs 5000] [--peer-docs 300] [--rounds 3]

Docs: the DCLM human-quality-labels pages plus WikiText-2 (valid) articles, repeated to --docs.
curate: ``signatures`` on the whole list (batches of 1,000). datatrove: ``get_shingles`` + ``get_signature``
per doc (5-gram spaCy words, xxh64, 14 x 8). datasketch: ``MinHash(num_perm=112)`` updated with the same
word 5-grams (``update_batch`` of UTF-8 bytes). The peers run on --peer-docs docs spread over the list (they are
slow), and ratios compare all three on those same docs. Single process. The tools are timed in interleaved rounds
and the best round of each is kept, by CPU time (robust to other jobs on a shared machine) and wall-clock.
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


def _timed(fn, docs) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn(docs)
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--peer-docs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3, help="each tool is timed this many times, interleaved; best kept")
    args = ap.parse_args()
    docs = load_docs(args.docs)
    peer = docs[:: max(1, len(docs) // args.peer_docs)][: args.peer_docs]  # spread over both sources
    params = MinHashParams()
    print(f"{len(docs)} docs, {sum(map(len, docs)) / len(docs):.0f} chars/doc on average; peers on {len(peer)}")

    def ours(batch):
        for i in range(0, len(batch), 1000):
            signatures(batch[i : i + 1000], params)

    step = datatrove_step()

    def datatrove(batch):
        for d in batch:
            sh = step.get_shingles(d)
            if sh.size:
                step.get_signature(sh)

    tools = {"curate": ours, "datatrove": datatrove}
    try:
        from datasketch import MinHash

        def datasketch(batch):
            for d in batch:
                words = split_words(normalize_text(d))
                grams = [" ".join(words[i : i + params.ngram]).encode() for i in range(len(words) - params.ngram + 1)]
                m = MinHash(num_perm=params.num_perm, seed=params.seed)
                m.update_batch(grams)

        tools["datasketch"] = datasketch
    except ImportError:
        print("datasketch not installed: skipped")
    ours(docs[:50])  # warm caches (word splitting)
    datatrove(peer[:5])
    best = {name: (float("inf"), float("inf")) for name in tools}
    all_docs = (float("inf"), float("inf"))
    for _ in range(args.rounds):
        all_docs = tuple(map(min, all_docs, _timed(ours, docs)))
        for name, fn in tools.items():
            best[name] = tuple(map(min, best[name], _timed(fn, peer)))
    print(f"best of {args.rounds} interleaved rounds; docs/s by CPU time of this process (wall-clock in brackets)")
    print(f"curate signatures  {len(docs) / all_docs[1]:9.0f} docs/s ({len(docs) / all_docs[0]:6.0f})  all {len(docs)} docs")
    c = best["curate"]
    for name, (wall, cpu) in best.items():
        ratio = "" if name == "curate" else f"   curate / {name} = {cpu / c[1]:5.1f}x ({wall / c[0]:5.1f}x)"
        print(f"{name:<18} {len(peer) / cpu:9.0f} docs/s ({len(peer) / wall:6.0f})  the {len(peer)} peer docs{ratio}")


if __name__ == "__main__":
    main()
