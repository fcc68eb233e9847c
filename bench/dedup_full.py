"""Full MinHash dedup, all phases: curate (local engine) vs datatrove's 4-stage MinHash pipeline.

Run: .venv/bin/python bench/dedup_full.py [--sizes 10000 50000 200000] [--peer-size 200000] [--workers 2]

Corpus: curate.dedup.planted (real text, planted near-duplicates), written as Parquet shards of --shard-docs.
curate: ``curate run pipelines/filter.py --filter minhash`` (FineWeb: 5-grams, 14 x 8) in a fresh process:
the signature/band-key map phase, the resolve phase (engine group-by, connected components), the apply
phase. datatrove 0.10: ParquetReader -> MinhashDedupSignature, MinhashDedupBuckets (14 tasks),
MinhashDedupCluster, ParquetReader -> MinhashDedupFilter -> ParquetWriter, FineWeb's MinhashConfig, same
workers, run on the --peer-size corpus. Time: wall-clock and the CPU time of the whole process tree
(user + system of the driver and every descendant, polled from /proc; robust to other jobs on the
machine). Peak RSS: the largest VmHWM seen for any process of the run other than the driver (polled every
0.2 s from /proc), and the driver's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from curate.dedup.planted import make_corpus  # noqa: E402

DATA = os.path.abspath(os.environ.get("CURATE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")))


def _children(root: int) -> list[int]:
    parents = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    parents[int(pid)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User + system CPU seconds of the process so far (its threads included, its children not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def measured(cmd: list[str]) -> tuple[float, float, int, int]:
    """(seconds, CPU seconds of the whole process tree, peak RSS of the driver, largest peak RSS of any other
    process of the run). Both are polled from /proc every 0.2 s for the driver and all its descendants
    (datatrove's workers are forkserver children that their parent never waits for, so getrusage misses
    them); a process's CPU time is its last value seen, which misses at most its final 0.2 s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            for pid in [proc.pid, *_children(proc.pid)]:
                peaks[pid] = max(peaks.get(pid, 0), _hwm(pid))
                cpu[pid] = max(cpu.get(pid, 0.0), _cpu(pid))
            time.sleep(0.2)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, err = proc.communicate()
    stop.set()
    th.join()
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}):\n{err[-3000:]}")
    driver = peaks.pop(proc.pid, 0)
    return secs, sum(cpu.values()), driver, max(peaks.values(), default=0)


def write_corpus(n_docs: int, folder: str, shard_docs: int, seed: int = 0) -> int:
    corpus = make_corpus(max(1, int(n_docs / 2.5)), DATA, seed=seed)  # 0-3 copies each: ~2.5 docs per original
    texts, ids = corpus.texts[:n_docs], corpus.ids[:n_docs]
    os.makedirs(folder, exist_ok=True)
    for k in range(-(-len(texts) // shard_docs)):
        part = slice(k * shard_docs, (k + 1) * shard_docs)
        pq.write_table(pa.table({
            "id": ids[part], "text": texts[part], "url": [f"https://planted.example/{i}" for i in ids[part]],
            "dump": ["CC-MAIN-2024-22"] * len(ids[part]),
        }), os.path.join(folder, f"shard-{k}.parquet"))
    return len(texts)


DATATROVE = r'''
import sys, xxhash
import datatrove.utils.hashes.xxhash as X
X.xxhash64 = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8") if isinstance(s, str) else s)  # xxhash>=4: bytes
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                              MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import ParquetWriter

def main():
    src, work, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = MinhashConfig()  # FineWeb: 5-grams, 14 buckets x 8 hashes, 64-bit xxhash
    tasks = 8
    sig = LocalPipelineExecutor(pipeline=[ParquetReader(src, text_key="text", id_key="id"),
                                          MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)],
                                tasks=tasks, workers=workers, logging_dir=f"{work}/logs/sig")
    buckets = LocalPipelineExecutor(pipeline=[MinhashDedupBuckets(input_folder=f"{work}/sigs",
                                                                  output_folder=f"{work}/buckets", config=cfg)],
                                    tasks=cfg.num_buckets, workers=workers, logging_dir=f"{work}/logs/buckets",
                                    depends=sig)
    cluster = LocalPipelineExecutor(pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets",
                                                                  output_folder=f"{work}/remove_ids", config=cfg)],
                                    tasks=1, logging_dir=f"{work}/logs/cluster", depends=buckets)
    filt = LocalPipelineExecutor(pipeline=[ParquetReader(src, text_key="text", id_key="id"),
                                           MinhashDedupFilter(input_folder=f"{work}/remove_ids"),
                                           ParquetWriter(f"{work}/output")],
                                 tasks=tasks, workers=workers, logging_dir=f"{work}/logs/filter", depends=cluster)
    filt.run()


if __name__ == "__main__":  # datatrove's workers spawn: they re-import this file
    main()
'''


def run_curate(src: str, out: str, workers: int) -> tuple[float, float, int, int, int]:
    secs, cpu, driver, worker = measured([sys.executable, "-m", "curate.cli", "run", "pipelines/filter.py", "--input", src,
                                     "--output", out, "--filter", "minhash", "--workers", str(workers)])
    removed = pads.dataset(os.path.join(out, "removed"), format="parquet").count_rows() if os.path.isdir(
        os.path.join(out, "removed")) else 0
    return secs, cpu, driver, worker, removed


def run_datatrove(src: str, work: str, workers: int) -> tuple[float, float, int, int, int]:
    script = os.path.join(work, "dt.py")
    os.makedirs(work, exist_ok=True)
    with open(script, "w") as fh:
        fh.write(DATATROVE)
    secs, cpu, driver, worker = measured([sys.executable, script, src, work, str(workers)])
    kept = pads.dataset(os.path.join(work, "output"), format="parquet").count_rows()
    total = pads.dataset(src, format="parquet").count_rows()
    return secs, cpu, driver, worker, total - kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    ap.add_argument("--peer-size", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-docs", type=int, default=5000, help="docs per Parquet shard (shards are bounded, "
                    "as in a real crawl: a bigger corpus has more shards, not bigger ones)")
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dedup_full_")
    mib = 1 / 2**20
    try:
        rows, peer_ratio = [], ""
        for size in sorted({args.peer_size, *args.sizes}):
            src = os.path.join(tmp, f"in-{size}")
            t = time.perf_counter()
            n = write_corpus(size, src, args.shard_docs)
            print(f"{n} docs written in {time.perf_counter() - t:.0f} s", flush=True)
            tools = {"curate": run_curate}
            if size == args.peer_size and not args.skip_peer:
                tools["datatrove"] = run_datatrove
            for tool, run in tools.items():
                secs, cpu, drv, wrk, removed = run(src, os.path.join(tmp, f"{tool}-{n}"), args.workers)
                rows.append((tool, n, secs, cpu, drv, wrk, removed))
                print(f"{tool:<10} {n:>7} docs {secs:7.1f} s (CPU {cpu:7.1f} s) {n / secs:7.0f} docs/s  driver "
                      f"{drv * mib:5.0f} MiB  worker peak {wrk * mib:5.0f} MiB  removed {removed}", flush=True)
            if len(tools) == 2:
                (_, _, cs, cc, *_), (_, _, ds, dc, *_) = rows[-2:]
                peer_ratio = f"datatrove / curate on the same docs: {ds / cs:.1f}x wall-clock, {dc / cc:.1f}x CPU time"
        print("| tool | docs | shards | seconds | CPU seconds | docs/s | driver peak RSS | worker peak RSS | docs removed |")
        print("|---|---|---|---|---|---|---|---|---|")
        for tool, n, secs, cpu, drv, wrk, removed in rows:
            print(f"| {tool} | {n} | {-(-n // args.shard_docs)} | {secs:.1f} | {cpu:.1f} | {n / secs:.0f} | "
                  f"{drv * mib:.0f} MiB | {wrk * mib:.0f} MiB | {removed} |")
        if peer_ratio:
            print(peer_ratio)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
