"""Local engine overhead: docs/s through a chain of pass-through stages vs plain Parquet read + write.

Both sides read the same shards and write zstd Parquet; the engine side also derives doc_ids, checks
schemas, splits kept/removed rows, counts stats and writes completion markers. Run:

    .venv/bin/python bench/engine_overhead.py --repeat 20 --stages 5 --workers 1

Prints docs/s for plain pyarrow, for the engine's shard runner in-process (steady state, one core) and
for the whole ``curate run`` command (process start-up and worker spawn included), with ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import cloudpickle  # noqa: E402

from curate.cli import load_pipeline_module  # noqa: E402
from curate.core.run import MapJob, run_shard  # noqa: E402
from curate.sample import make_sample  # noqa: E402

PASS_THROUGH = '''
import dataclasses
from typing import ClassVar
from curate.core.pipeline import Pipeline
from curate.core.stage import Stage
from curate.io.parquet import ParquetSource

@dataclasses.dataclass(frozen=True)
class PassThrough(Stage):
    index: int = 0
    name: ClassVar[str] = "pass"
    def process(self, batch):
        return batch

def build(config):
    stages = []
    for i in range({n}):
        s = PassThrough(i)
        object.__setattr__(s, "name", f"pass{{i}}")  # distinct names, as the pipeline check requires
        stages.append(s)
    return Pipeline("overhead", ParquetSource(), stages)
'''


def plain(shards: list[str], out: str, batch_rows: int) -> float:
    t0 = time.perf_counter()
    for path in shards:
        pf = pq.ParquetFile(path)
        with pq.ParquetWriter(os.path.join(out, os.path.basename(path)), pf.schema_arrow, compression="zstd") as w:
            for batch in pf.iter_batches(batch_size=batch_rows):
                w.write_batch(batch)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--repeat", type=int, default=20, help="copies of the sample (fresh ids)")
    ap.add_argument("--stages", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-rows", type=int, default=1000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="curate-bench-")
    try:
        shards = make_sample(args.data, os.path.join(tmp, "in"), repeat=args.repeat)
        docs = sum(pq.ParquetFile(p).metadata.num_rows for p in shards)
        mb = sum(os.path.getsize(p) for p in shards) / 2**20
        os.makedirs(os.path.join(tmp, "plain"))
        t_plain = plain(shards, os.path.join(tmp, "plain"), args.batch_rows)
        pipe = os.path.join(tmp, "pipe.py")
        with open(pipe, "w") as f:
            f.write(PASS_THROUGH.format(n=args.stages))
        pipeline = load_pipeline_module(pipe).build(None)
        job = MapJob(cloudpickle.dumps(pipeline), os.path.join(tmp, "inproc"), args.batch_rows)
        t0 = time.perf_counter()
        for shard in pipeline.source.shards([os.path.join(tmp, "in")]):
            run_shard(job, shard)
        t_inproc = time.perf_counter() - t0
        cmd = [sys.executable, "-m", "curate.cli", "run", pipe, "--input", os.path.join(tmp, "in"),
               "--output", os.path.join(tmp, "run"), "--workers", str(args.workers),
               "--set", f"run.batch_rows={args.batch_rows}"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        t_engine = time.perf_counter() - t0
        print(f"docs {docs:,} in {len(shards)} shards ({mb:.1f} MB zstd), {args.stages} pass-through stages, "
              f"{args.workers} worker(s)")
        print(f"plain pyarrow read+write: {docs / t_plain:10,.0f} docs/s ({t_plain:.2f} s)")
        print(f"curate shard runner:      {docs / t_inproc:10,.0f} docs/s ({t_inproc:.2f} s, in-process, 1 core)")
        print(f"curate run (CLI):         {docs / t_engine:10,.0f} docs/s ({t_engine:.2f} s, incl. start-up)")
        print(f"ratio runner/plain:       {t_plain / t_inproc:10.2f}")
        print(f"ratio CLI/plain:          {t_plain / t_engine:10.2f}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
