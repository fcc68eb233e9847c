"""PII redaction: curate's PII stage vs datatrove's PIIFormatter (FineWeb's step), speed and agreement.

1. docs/s on real documents, one process: DCLM's 780 human-labelled Common Crawl pages (majority +
   agreement files) and WikiText-2 valid+test cut into articles. Agreement: with single-string
   replacements on both sides, the number of documents whose redacted text differs, split into emails
   only and IPs only, with examples of each IP difference.
2. Adversarial inputs (1 MB of '@', '.', digits, 'a@a.', '1.1.1.', 'a.', ...): ours in-process (with
   IPv6 and phones on, the slowest setting), datatrove in a subprocess killed after --timeout seconds at
   10 KB, 100 KB and 1 MB, stopping at the first size that times out ("> N s").

Prints a Markdown report and writes it to bench/results/pii.md. Run:

    .venv/bin/python bench/pii_speed.py [--timeout 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from curate.filters.pii import PII  # noqa: E402

DATA = os.path.abspath(os.environ.get("CURATE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")))
OUT = os.path.join(HERE, "results", "pii.md")

ADVERSARIAL = {
    "'@' x n": "'@' * n",
    "'.' x n": "'.' * n",
    "digits": "'7' * n",
    "'a@a.' repeated": "'a@a.' * (n // 4)",
    "'1.1.1.' repeated": "'1.1.1.' * (n // 6)",
    "'a.' repeated": "'a.' * (n // 2)",
    "'a-' repeated": "'a-' * (n // 2)",
    "'a.' repeated + '@-'": "'a.' * (n // 2) + '@-'",
    "'a@' + 'a.' repeated": "'a@' + 'a.' * (n // 2)",
}
SIZES = [10_000, 100_000, 1_000_000]

_DT_CHILD = """
import sys, time
from datatrove.pipeline.formatters.pii import PIIFormatter
n = int(sys.argv[2]); text = eval(sys.argv[1], {"n": n})
f = PIIFormatter()
t = time.perf_counter(); f.format(text); print(time.perf_counter() - t)
"""


def real_docs() -> list[tuple[str, str, str]]:
    """(source, key, text) for every DCLM page and every WikiText-2 valid/test article."""
    docs = []
    for name in ("majority_data.jsonl", "agreement_data.jsonl"):
        with open(os.path.join(DATA, "dclm-human-quality-labels", name)) as f:
            for i, line in enumerate(f):
                docs.append(("dclm", f"{name}/{i}", json.loads(line)["text"]))
    for split in ("valid", "test"):
        with gzip.open(os.path.join(DATA, "wikitext-2", f"{split}.txt.gz"), "rt", encoding="utf-8") as f:
            for i, article in enumerate(f.read().split("\n = ")):
                if article.strip():
                    docs.append(("wikitext-2", f"{split}/{i}", article))
    return docs


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def speed(docs, repeat: int) -> list[str]:
    from datatrove.pipeline.formatters.pii import PIIFormatter

    ours = PII()
    theirs = PIIFormatter()
    lines = ["| source | docs | MB | curate PII docs/s | datatrove PIIFormatter docs/s | speed-up |", "|---|---|---|---|---|---|"]
    for source in ("dclm", "wikitext-2", "all"):
        sub = [d for d in docs if source in ("all", d[0])]
        mb = sum(len(t.encode()) for _, _, t in sub) / 1e6
        t_ours = timed(lambda sub=sub: [ours.redact(t, k) for _, k, t in sub], repeat)
        t_dt = timed(lambda sub=sub: [theirs.format(t) for _, _, t in sub], repeat)
        lines.append(
            f"| {source} | {len(sub)} | {mb:.1f} | {len(sub) / t_ours:,.0f} | {len(sub) / t_dt:,.0f} | "
            f"{t_dt / t_ours:.1f}x |"
        )
    return lines


def agreement(docs) -> list[str]:
    from datatrove.pipeline.formatters.pii import PIIFormatter

    ours_e = PII(ips=False, email_replacements=["<E>"])
    ours_i = PII(emails=False, ip_replacements=["<IP>"])
    dt_e = PIIFormatter(remove_ips=False, email_replacement="<E>")
    dt_i = PIIFormatter(remove_emails=False, ip_replacement="<IP>")
    n_email = n_ip = diff_e = diff_i = 0
    dt_email = dt_ip = 0
    examples = []
    for _, key, text in docs:
        e_ours, e_n, _, _ = ours_e.redact(text, key)
        e_dt = dt_e.format(text)
        n_email += e_n
        dt_email += e_dt.count("<E>") - text.count("<E>")
        diff_e += e_ours != e_dt
        i_ours, _, i_n, _ = ours_i.redact(text, key)
        i_dt = dt_i.format(text)
        n_ip += i_n
        dt_ip += i_dt.count("<IP>") - text.count("<IP>")
        if i_ours != i_dt:
            diff_i += 1
            a, b = i_ours.split(), i_dt.split()
            for x, y in zip(a, b, strict=False):
                if x != y and len(examples) < 8:
                    examples.append(f"`{x[:60]}` (curate) vs `{y[:60]}` (datatrove)")
    lines = [
        f"- emails replaced: curate {n_email}, datatrove {dt_email}; documents whose email redaction differs: "
        f"{diff_e} of {len(docs)}",
        f"- public IPv4 replaced: curate {n_ip}, datatrove {dt_ip}; documents whose IP redaction differs: "
        f"{diff_i} of {len(docs)}",
    ]
    lines += [f"  - {e}" for e in examples]
    return lines


def ours_adversarial(text: str, repeat: int) -> float:
    stage = PII(ipv6=True, phones=True)
    return timed(lambda: stage.redact(text, "k"), repeat)


def datatrove_adversarial(expr: str, n: int, timeout: float) -> float | None:
    try:
        res = subprocess.run(
            [sys.executable, "-c", _DT_CHILD, expr, str(n)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return float(res.stdout.strip().splitlines()[-1])


def adversarial(timeout: float, repeat: int) -> list[str]:
    head = "| input | " + " | ".join(f"curate {n // 1000} KB" for n in SIZES) + " | curate 2 MB / 1 MB | "
    head += " | ".join(f"datatrove {n // 1000} KB" for n in SIZES) + " |"
    lines = [head, "|" + "---|" * (2 * len(SIZES) + 2)]
    print("\n".join(lines), flush=True)
    for name, expr in ADVERSARIAL.items():
        ours = [ours_adversarial(eval(expr, {"n": n}), repeat) for n in SIZES]
        two = ours_adversarial(eval(expr, {"n": 2_000_000}), repeat)
        theirs, stopped = [], False
        for n in SIZES:
            if stopped:
                theirs.append("not run")
                continue
            t = datatrove_adversarial(expr, n, timeout)
            if t is None:
                theirs.append(f"> {timeout:g} s")
                stopped = True
            else:
                theirs.append(f"{t:.3f} s")
        lines.append(
            f"| {name} | " + " | ".join(f"{t:.3f} s" for t in ours) + f" | {two / ours[-1]:.2f} | "
            + " | ".join(theirs) + " |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a datatrove run is killed")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best kept)")
    args = ap.parse_args()

    from importlib.metadata import version

    docs = real_docs()
    report = [
        "# PII redaction benchmark (issue 4)",
        "",
        f"Command: `.venv/bin/python bench/pii_speed.py --timeout {args.timeout:g} --repeat {args.repeat}`. "
        f"One process, best of {args.repeat}, Python {platform.python_version()}, datatrove "
        f"{version('datatrove')}; a shared 2-core machine, so "
        "absolute numbers are indicative, ratios within one run are what count.",
        "",
        "## Real documents (FineWeb defaults: emails + public IPv4)",
        "",
        *speed(docs, args.repeat),
        "",
        "## Agreement with datatrove (same documents)",
        "",
        *agreement(docs),
        "",
        "## Adversarial inputs",
        "",
        "curate with `ipv6=True, phones=True` (every pattern on); datatrove's PIIFormatter with FineWeb's "
        f"defaults in a subprocess killed after {args.timeout:g} s, larger sizes skipped once one times out.",
        "",
    ]
    print("\n".join(report), flush=True)
    report += adversarial(args.timeout, args.repeat)
    report.append("")
    text = "\n".join(report)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"\nwritten to {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
