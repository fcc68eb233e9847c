"""Validity of `curate ablate`: a known-good arm against a known-bad arm must separate.

Good arm: WikiText-2 (valid + test articles), the US inaugural speeches and GSM8K's test problems
(curate.sample). Bad arm: the same documents with their words shuffled within each document (same
vocabulary and unigram counts, no syntax). The shuffled arm's held-out losses must be worse with a
95% interval that excludes zero. Writes the report under OUT and bench/results/ablate_validity.md.

    .venv/bin/python bench/ablate_validity.py --preset cpu --seeds 3 --tokens 400000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from curate.cli import main as curate_main  # noqa: E402
from curate.sample import make_sample  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")


def shuffled(text: str, seed: int) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


def arms(out: str) -> tuple[str, str]:
    sample = os.path.join(out, "sample")
    make_sample(DATA, sample)
    good = pa.concat_tables([pq.read_table(os.path.join(sample, f"{s}.parquet"))
                             for s in ("wikitext2", "speeches", "gsm8k")])
    texts = good.column("text").to_pylist()
    bad = good.set_column(good.schema.get_field_index("text"), "text",
                          pa.array([shuffled(t, i) for i, t in enumerate(texts)], pa.large_string()))
    paths = os.path.join(out, "good.parquet"), os.path.join(out, "bad.parquet")
    pq.write_table(good, paths[0])
    pq.write_table(bad, paths[1])
    return paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/curate-ablate-validity")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", default="3")
    ap.add_argument("--tokens", default="400000")
    ap.add_argument("--eval-limit", default="50")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results", "ablate_validity.md"))
    args = ap.parse_args()
    good, bad = arms(args.out)
    argv = ["ablate", "--baseline", good, "--treatment", bad, "--output", os.path.join(args.out, "report"),
            "--preset", args.preset, "--seeds", args.seeds, "--tokens", args.tokens, "--eval-limit",
            args.eval_limit, "--data", DATA, "--tokenizer-dir", os.path.join(DATA, "tokenizers", "gpt2"),
            "--no-progress"]
    t0 = time.time()
    rc = curate_main(argv)
    if rc:
        return rc
    with open(os.path.join(args.out, "report", "report.json")) as f:
        comp = json.load(f)["comparisons"]["treatment"]
    with open(os.path.join(args.out, "report", "report.md")) as f:
        md = f.read()
    verdict = {m: comp[m]["excludes_zero"] and comp[m]["diff"] > 0
               for m in ("loss/wikitext2", "loss/heldout/baseline")}
    cmd = " ".join(["python", "bench/ablate_validity.py", "--preset", args.preset, "--seeds", args.seeds,
                    "--tokens", args.tokens, "--eval-limit", args.eval_limit])
    with open(args.results, "w") as f:
        f.write(f"# Ablation validity: clean text vs the same words shuffled\n\nCommand: `.venv/bin/{cmd}` "
                f"({time.time() - t0:.0f} s on this 2-core machine, shared).\n\nBaseline = the good arm, "
                "treatment = the word-shuffled arm. Valid when the shuffled arm's held-out losses are worse "
                f"with a 95% interval excluding zero: {verdict}.\n\n" + md.replace("# Ablation", "## Report:", 1))
    print(verdict)
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
