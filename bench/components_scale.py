"""Connected components at scale: local (union-find), Ray and Spark (large-star / small-star).

A random graph (``--edges`` edges over ``--nodes`` node ids spread over int64, in 8 Parquet files) is
labelled by each engine in a fresh process; we report seconds (engine start-up excluded), rounds, the
driver process's peak RSS, and check that every engine wrote the same rows as the local engine.

    .venv/bin/python bench/components_scale.py --edges 1000000 --nodes 1500000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make_graph(path: str, edges: int, nodes: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ids = rng.integers(-(2**62), 2**62, nodes)  # spread ids: no dense-index shortcut
    a, b = ids[rng.integers(0, nodes, edges)], ids[rng.integers(0, nodes, edges)]
    os.makedirs(path, exist_ok=True)
    step = -(-edges // 8)
    for k in range(8):
        pq.write_table(pa.table({"a": a[k * step:(k + 1) * step], "b": b[k * step:(k + 1) * step]}),
                       os.path.join(path, f"part-{k}.parquet"))


def run_one(engine: str, edges_dir: str, out_dir: str) -> dict:
    from curate.core import config as configmod
    from curate.engines import make_engine
    from curate.engines.primitives import parquet_files

    cfg = configmod.load(configmod.NoConfig, None, {"run.engine": engine, "run.workers": 2},
                         ["spark.master=local[2]"])
    eng = make_engine(cfg)
    t = time.perf_counter()
    eng.connected_components([edges_dir], out_dir)
    seconds = time.perf_counter() - t
    rounds = getattr(eng, "cc_rounds", None)
    eng.close()
    digest, rows, comps = hashlib.sha256(), 0, set()
    for f in parquet_files([out_dir]):
        t = pq.read_table(f)
        rows += t.num_rows
        comps.update(t.column("component").to_pylist())
        # row by row, so the digest does not depend on how rows are split into files
        digest.update(np.stack([t.column("node").to_numpy(), t.column("component").to_numpy()], 1).tobytes())
    return {"engine": engine, "seconds": round(seconds, 1), "rounds": rounds, "nodes": rows,
            "components": len(comps), "rows_sha256": digest.hexdigest()[:16],
            "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--nodes", type=int, default=1_500_000)
    ap.add_argument("--engines", default="local,ray,spark")
    ap.add_argument("--one", nargs=3, metavar=("ENGINE", "EDGES_DIR", "OUT_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        edges_dir = os.path.join(tmp, "edges")
        make_graph(edges_dir, args.edges, args.nodes)
        results = []
        for engine in args.engines.split(","):
            res = subprocess.run([sys.executable, __file__, "--one", engine, edges_dir, os.path.join(tmp, engine)],
                                 capture_output=True, text=True)
            if res.returncode:
                sys.exit(f"{engine} failed:\n{res.stderr[-3000:]}")
            results.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
        same = {r["rows_sha256"] for r in results}
        print(f"edges={args.edges} nodes={args.nodes}: identical rows on all engines: {len(same) == 1}")


if __name__ == "__main__":
    main()
