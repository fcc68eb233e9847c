"""URL filter: memory of the UT1 block list per worker, and check throughput.

In a fresh process, reads RSS (VmRSS) before and after ``URLFilter().setup()`` (the 4.5M-domain list
from the datatrove wheel, stored as a sorted array of 64-bit hashes), the peak (VmHWM), then times
``check`` on real URLs from ../shared/data (WARC headers + CCNet samples) repeated to 100k. Run:

    .venv/bin/python bench/url_filter_memory.py
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from curate.filters.url import URLFilter  # noqa: E402
from curate.io.warc import WarcSource  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


def status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def real_urls() -> list[str]:
    urls: list[str] = []
    src = WarcSource()
    for shard in src.shards([os.path.join(DATA, "warc-samples")]):
        for b in src.read(shard.path, 1000):
            urls += [u for u in b.column("url").to_pylist() if u]
    ccnet = os.path.join(DATA, "ccnet-dolma-samples")
    for name in sorted(os.listdir(ccnet)):
        if name.endswith((".json.gz", ".jsonl.gz")):
            with gzip.open(os.path.join(ccnet, name), "rt") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        u = row.get("url") or row.get("id")  # CCNet/dolma keep the url in "id"
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(u, str) and u.startswith("http"):
                        urls.append(u)
    return urls


def main() -> None:
    urls = real_urls()
    before = status_mb("VmRSS")
    stage = URLFilter()
    t0 = time.perf_counter()
    stage.setup()
    t_setup = time.perf_counter() - t0
    after, peak = status_mb("VmRSS"), status_mb("VmHWM")
    n = len(stage._domains) if hasattr(stage._domains, "__len__") else -1
    work = (urls * (100_000 // max(len(urls), 1) + 1))[:100_000]
    t0 = time.perf_counter()
    for i in range(0, len(work), 1000):
        stage.check(work[i : i + 1000])
    t_check = time.perf_counter() - t0
    print(f"domains in list: {n:,}; setup {t_setup:.1f} s")
    print(f"RSS before setup {before:.0f} MB, after {after:.0f} MB (+{after - before:.0f} MB), peak {peak:.0f} MB")
    print(f"check: {len(work) / t_check:,.0f} urls/s ({len(set(urls))} distinct real urls, batches of 1000)")


if __name__ == "__main__":
    main()
