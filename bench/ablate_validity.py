"""Validity of `curate ablate`: a known-good arm against a known-bad arm must separate.

Good arm (baseline): clean reference text -- WikiText-2 *valid* articles (detokenised as the WikiText-2
loss text is), the US inaugural speeches and GSM8K's test problems (curate.sample). WikiText-2 *test* is
left out: it is the text ``loss/wikitext2`` is measured on (``evals.reference_texts``); the harness's
13-gram decontamination would drop those articles anyway, and the arm table shows what it still drops.

Bad arm (treatment), ``--bad``:

- ``boilerplate`` (default): boilerplate-heavy raw extraction. Every HTML page of the extraction
  benchmarks (``--pages``, default: article-extraction-benchmark, CleanPortalEval and Mozilla's
  Readability test pages, whose pages carry the most text outside the article) extracted with ALL its
  text -- navigation, menus, footers, cookie banners, link lists -- by resiliparse
  ``extract_plain_text(html, main_content=False)``. The results file states the boilerplate share
  (tokens outside resiliparse's main-content extraction). Note the arms differ in domain as well as in
  cleanliness (Wikipedia/speeches/math against mixed web pages): this checks that the harness separates
  a large, known quality gap, not that it isolates boilerplate alone.
- ``shuffled``: the good arm's documents with their words shuffled within each document (same
  vocabulary and unigram counts, no syntax). Small models learn mostly unigrams from few tokens, so
  this gap is small at the CPU presets. (The first version kept WikiText-2 test in the good arm:
  decontamination dropped those 62 articles there but not from the shuffled arm, whose shuffled text
  shares no 13-gram with anything, so the bad arm trained on the reference text's bag of words.)

Both arms are token-matched by the harness (every run trains on ``--tokens``). Valid when the bad arm's
``loss/wikitext2`` and ``loss/heldout/baseline`` are worse with a 95% interval that excludes zero.
Writes the report under OUT and bench/results/ablate_validity.md (+ .json with the verdict and the
comparison). The training thread count comes from CURATE_TRAIN_THREADS.

    CURATE_TRAIN_THREADS=1 .venv/bin/python bench/ablate_validity.py --preset cpu --seeds 3 --tokens 49152 --eval-tokens 16384
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from curate.ablate.evals import _wikitext_detokenize  # noqa: E402
from curate.cli import main as curate_main  # noqa: E402
from curate.sample import make_sample  # noqa: E402

DATA = os.path.abspath(os.environ.get("CURATE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")))
BOILERPLATE_PAGES = ("article", "cleanportaleval", "readability")
CRITERIA = ("loss/wikitext2", "loss/heldout/baseline")


def _table(ids: list[str], texts: list[str]) -> pa.Table:
    return pa.table({"text": pa.array(texts, pa.large_string()), "id": pa.array(ids, pa.string()),
                     "dump": pa.array(["validity"] * len(ids), pa.string())})


def good_table(data: str, out: str) -> pa.Table:
    """WikiText-2 valid (detokenised; test is the reference-loss text), speeches, GSM8K test."""
    sample = os.path.join(out, "sample")
    make_sample(data, sample)
    ids, texts = [], []
    for s in ("wikitext2", "speeches", "gsm8k"):
        t = pq.read_table(os.path.join(sample, f"{s}.parquet"))
        for i, text in zip(t.column("id").to_pylist(), t.column("text").to_pylist(), strict=True):
            if i.startswith("wikitext2/test/"):
                continue
            if i.startswith("wikitext2/"):
                text = "\n".join(_wikitext_detokenize(line) for line in text.split("\n")).strip()
            ids.append(i)
            texts.append(text)
    return _table(ids, texts)


def shuffled(text: str, seed: int) -> str:
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


def shuffled_table(good: pa.Table) -> pa.Table:
    texts = good.column("text").to_pylist()
    return _table(good.column("id").to_pylist(), [shuffled(t, i) for i, t in enumerate(texts)])


def boilerplate_table(data: str, benches: list[str]) -> tuple[pa.Table, dict]:
    """Full-page text (main_content=False) of every page of ``benches``; stats on the boilerplate share."""
    from resiliparse.extract.html2text import extract_plain_text

    from curate.filters.tokens import load_gpt2
    from curate.sample import load

    enc = load_gpt2(os.path.join(data, "tokenizers", "gpt2"))
    ids, texts, stats = [], [], {}
    for bench in benches:
        pages = load(bench, data)
        full = [extract_plain_text(p.html, main_content=False) for p in pages]
        main = [extract_plain_text(p.html, main_content=True) for p in pages]
        n_full = sum(map(len, enc.encode_ordinary_batch(full)))
        n_main = sum(map(len, enc.encode_ordinary_batch(main)))
        stats[bench] = {"pages": len(pages), "full_tokens": n_full, "main_content_tokens": n_main,
                        "boilerplate_share": 1 - n_main / n_full if n_full else 0.0}
        for p, text in zip(pages, full, strict=True):
            if text.strip():
                ids.append(f"{bench}/{p.page_id}")
                texts.append(text)
    return _table(ids, texts), stats


def arms(args) -> tuple[str, str, dict]:
    os.makedirs(args.out, exist_ok=True)
    good = good_table(args.data, args.out)
    stats = {}
    if args.bad == "shuffled":
        bad = shuffled_table(good)
    else:
        bad, stats = boilerplate_table(args.data, args.pages)
    paths = os.path.join(args.out, "good.parquet"), os.path.join(args.out, f"bad-{args.bad}.parquet")
    pq.write_table(good, paths[0])
    pq.write_table(bad, paths[1])
    return paths[0], paths[1], stats


def _fmt_row(m: str, c: dict) -> str:
    return (f"| {m} | {c['baseline_mean']:.4f} | {c['treatment_mean']:.4f} | {c['diff']:+.4f} | "
            f"[{c['low']:+.4f}, {c['high']:+.4f}] {c['method']} | {'yes' if c['excludes_zero'] else 'no'} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bad", choices=("boilerplate", "shuffled"), default="boilerplate")
    ap.add_argument("--pages", nargs="+", default=list(BOILERPLATE_PAGES),
                    choices=("article", "cleaneval", "cleanportaleval", "readability"),
                    help="extraction benchmarks whose pages make the boilerplate arm")
    ap.add_argument("--out", default="/tmp/curate-ablate-validity")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=49152)
    ap.add_argument("--eval-limit", type=int, default=10, help="examples per zero-shot task (not the criterion)")
    ap.add_argument("--eval-tokens", type=int, default=16384, help="tokens per held-out loss")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results", "ablate_validity.md"),
                    help="results markdown ('' to skip); a .json with the same stem goes next to it")
    args = ap.parse_args(argv)
    t_start = time.time()
    good, bad, stats = arms(args)
    t_arms = time.time() - t_start
    out = os.path.join(args.out, f"report-{args.bad}-{args.preset}")
    cli = ["ablate", "--baseline", good, "--treatment", bad, "--output", out, "--preset", args.preset,
           "--seeds", str(args.seeds), "--tokens", str(args.tokens), "--eval-limit", str(args.eval_limit),
           "--eval-tokens", str(args.eval_tokens), "--data", args.data,
           "--tokenizer-dir", os.path.join(args.data, "tokenizers", "gpt2"), "--no-progress"]
    rc = curate_main(cli)
    if rc:
        return rc
    wall = time.time() - t_start
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    comp = rep["comparisons"]["treatment"]
    verdict = {m: bool(comp[m]["excludes_zero"] and comp[m]["diff"] > 0) for m in CRITERIA}
    valid = all(verdict.values())
    train_s = sum(r["train"]["seconds"] for r in rep["runs"] if not r["cached"])
    cached = sum(r["cached"] for r in rep["runs"])
    print(f"verdict: {'VALID' if valid else 'NOT VALID'} {verdict} ({wall:.0f} s, {train_s:.0f} s training)")
    if not args.results:
        return 0 if valid else 1
    threads = os.environ.get("CURATE_TRAIN_THREADS", "")
    cmd = (f"{'CURATE_TRAIN_THREADS=' + threads + ' ' if threads else ''}.venv/bin/python bench/ablate_validity.py "
           f"--bad {args.bad} --preset {args.preset} --seeds {args.seeds} --tokens {args.tokens} "
           f"--eval-limit {args.eval_limit} --eval-tokens {args.eval_tokens}"
           + (f" --pages {' '.join(args.pages)}" if args.bad == "boilerplate" else ""))
    bad_desc = {"boilerplate": "full-page text (resiliparse `extract_plain_text(html, main_content=False)`: "
                               f"navigation, menus, footers, banners included) of the {', '.join(args.pages)} pages",
                "shuffled": "the good arm's documents with their words shuffled within each document"}[args.bad]
    lines = [f"## `--bad {args.bad} --preset {args.preset}`: {'VALID' if valid else 'NOT VALID'}", "",
             f"Command: `{cmd}`", "",
             f"Wall time {wall:.0f} s on this 2-core machine (shared with other jobs): {t_arms:.0f} s building "
             f"the arms, {train_s:.0f} s training ({len(rep['runs']) - cached} runs"
             + (f", {cached} cached" if cached else "") + "), the rest loading evaluation data, tokenising, "
             "decontaminating and evaluating.", "",
             f"Baseline = the good arm. Treatment = {bad_desc}. Both arms train on the same "
             f"{rep['tokens']:,} tokens per run ({rep['params']:,} non-embedding parameters, "
             f"{len(rep['seeds'])} seeds).", ""]
    if stats:
        lines += ["| pages | count | full-text tokens | main-content tokens | boilerplate share |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {b} | {s['pages']:,} | {s['full_tokens']:,} | {s['main_content_tokens']:,} | "
                  f"{s['boilerplate_share']:.0%} |" for b, s in stats.items()]
        lines += [""]
    lines += [f"**Verdict: {'VALID' if valid else 'NOT VALID'}** {verdict}", "",
              "| metric | good (baseline) | bad (treatment) | diff | 95% interval | excludes zero |",
              "|---|---:|---:|---:|---|---|"]
    lines += [_fmt_row(m, comp[m]) for m in (*CRITERIA, "loss/heldout/treatment")]
    lines += ["", "<details><summary>the harness's report</summary>", "", rep_md(out), "</details>", ""]
    entry = {"command": cmd, "wall_s": wall, "train_s": train_s, "valid": valid, "verdict": verdict,
             "boilerplate_stats": stats, "arms": rep["arms"], "tokens": rep["tokens"], "seeds": rep["seeds"],
             "comparison": {m: comp[m] for m in (*CRITERIA, "loss/heldout/treatment", "core")},
             "markdown": "\n".join(lines)}
    write_results(args.results, f"{args.bad}/{args.preset}", entry)
    return 0 if valid else 1


def rep_md(out: str) -> str:
    """The harness's report.md, two heading levels down."""
    with open(os.path.join(out, "report.md")) as f:
        return re.sub(r"^(#+) ", lambda m: "##" + m.group(1) + " ", f.read(), flags=re.M)


HEADER = """# Ablation validity: a known-good arm against a known-bad arm

Written by `bench/ablate_validity.py` (see its docstring). One section per (bad arm, preset); a rerun
replaces its own section. Baseline = the good arm: WikiText-2 *valid* articles (detokenised like the
reference text), US inaugural speeches, GSM8K test problems. WikiText-2 *test* is the text
`loss/wikitext2` is measured on and is not in either arm. The criterion (issue 6): the bad arm's
`loss/wikitext2` and `loss/heldout/baseline` (the good arm's held-out 5%) are worse, with a 95% interval
(paired by seed: t below 5 seeds, bootstrap from 5) that excludes zero. The boilerplate arm differs from
the good arm in domain as well as cleanliness (mixed web pages against Wikipedia, speeches and math), so
it checks that the harness separates a large, known quality gap, not that it isolates boilerplate.
The zero-shot task rows of the harness's report are not part of the criterion: with `--eval-limit 10`
examples per task and models this small they are noise, and among 16 task metrics a `*` can be a
chance hit.
"""


def write_results(path: str, key: str, entry: dict) -> None:
    """Merge ``entry`` under ``key`` into the results .json next to ``path``; rewrite the markdown."""
    jpath = os.path.splitext(path)[0] + ".json"
    runs = {}
    if os.path.isfile(jpath):
        with open(jpath) as f:
            runs = json.load(f).get("runs", {})
    runs[key] = entry
    with open(jpath, "w") as f:
        json.dump({"runs": runs}, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(path, "w") as f:
        f.write(HEADER + "".join("\n" + runs[k]["markdown"] for k in sorted(runs)))


if __name__ == "__main__":
    sys.exit(main())
