"""The ablation report: per-seed numbers, treatment minus baseline with 95% intervals, a leaderboard.

Differences are paired by seed: seed s of both arms starts from the same initial weights (the seed
sets init and data order), so ``treatment_s - baseline_s`` removes most init noise. The interval is a
t interval over those paired differences (n - 1 degrees of freedom) for fewer than 5 seeds and a
percentile bootstrap of their mean (10,000 resamples, fixed RNG seed, so reports are reproducible)
from 5 seeds on. One seed gives no interval.

The aggregate is DCLM's CORE (Li et al. 2024): centered accuracy ``(acc - chance) / (1 - chance)``
averaged over tasks, so a task at chance counts 0 whatever its number of choices.

Writes ``report.json``, ``report.md`` and ``report.png`` (matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

# two-sided 95% t quantiles t_{0.975, df} for df = 1..30
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
         2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
         2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
BOOTSTRAP_FROM = 5
BOOTSTRAP_SAMPLES = 10_000


def t_quantile(df: int) -> float:
    """t_{0.975, df}: a table to 30 df, then the Cornish-Fisher expansion (error < 1e-4)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def interval(diffs: list[float]) -> tuple[float, float | None, float | None, str | None]:
    """(mean, low, high, method) of the 95% interval of the mean paired difference."""
    d = np.asarray(diffs, dtype=np.float64)
    mean = float(d.mean())
    n = d.size
    if n < 2:
        return mean, None, None, None
    if n >= BOOTSTRAP_FROM:
        rng = np.random.default_rng(0)
        means = d[rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        return mean, float(lo), float(hi), "bootstrap"
    half = t_quantile(n - 1) * float(d.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, "t"


def core(metrics: dict[str, float], chance: dict[str, float]) -> float:
    """DCLM CORE: centered accuracy averaged over the tasks in ``chance``."""
    return float(np.mean([(metrics[f"{t}/acc"] - c) / (1 - c) for t, c in chance.items()]))


def compare(runs: list[dict], baseline: str, treatment: str, metrics: list[str]) -> dict[str, dict]:
    """Per metric: both arms' per-seed values and the paired difference's mean and 95% interval."""
    by = {(r["arm"], r["seed"]): r["metrics"] for r in runs}
    seeds = sorted(s for a, s in by if a == baseline and (treatment, s) in by)
    out = {}
    for m in metrics:
        b = [by[(baseline, s)][m] for s in seeds]
        t = [by[(treatment, s)][m] for s in seeds]
        mean, lo, hi, method = interval([y - x for x, y in zip(b, t, strict=True)])
        out[m] = {"baseline": b, "treatment": t, "baseline_mean": float(np.mean(b)),
                  "treatment_mean": float(np.mean(t)), "diff": mean, "low": lo, "high": hi, "method": method,
                  "excludes_zero": lo is not None and (lo > 0 or hi < 0)}
    return out


def comparison_metrics(treatment: str, baseline: str, tasks: list[str]) -> list[str]:
    return (["loss/wikitext2", f"loss/heldout/{baseline}", f"loss/heldout/{treatment}", "core"]
            + [f"{t}/acc" for t in tasks] + [f"{t}/prob" for t in tasks])


def build(meta: dict, arms: dict[str, dict], runs: list[dict], baseline: str, treatments: list[str],
          chance: dict[str, float], skipped: dict[str, str]) -> dict:
    """The whole report as one JSON-able dict; ``leaderboard`` ranks treatments by their CORE change."""
    tasks = list(chance)
    comparisons = {t: compare(runs, baseline, t, comparison_metrics(t, baseline, tasks)) for t in treatments}
    leaderboard = sorted(
        ({"filter": t, "kept_docs": arms[t]["docs"], "baseline_docs": arms[baseline]["docs"],
          "unique_tokens": arms[t]["unique_tokens"],
          **{k: comparisons[t][m] | {} for k, m in (("core", "core"), ("wikitext2", "loss/wikitext2"),
                                                   ("own_heldout", f"loss/heldout/{t}"))}}
         for t in treatments),
        key=lambda row: (-row["core"]["diff"], row["filter"]))
    return {**meta, "baseline": baseline, "treatments": treatments, "chance": chance, "arms": arms,
            "runs": runs, "comparisons": comparisons, "leaderboard": leaderboard, "skipped": skipped}


def _ci(c: dict, digits: int = 4) -> str:
    if c["low"] is None:
        return "n/a (1 seed)"
    star = " *" if c["excludes_zero"] else ""
    return f"[{c['low']:+.{digits}f}, {c['high']:+.{digits}f}] {c['method']}{star}"


def markdown(report: dict) -> str:
    b = report["baseline"]
    lines = [f"# Ablation: {', '.join(report['treatments'])} vs {b}", "",
             f"Preset `{report['preset']}` ({report['params']:,} non-embedding parameters, {report['device']}), "
             f"{len(report['seeds'])} seed(s) per arm, {report['tokens']:,} training tokens per run "
             "(token-matched). Differences are treatment minus baseline, paired by seed; * = the 95% "
             "interval excludes zero. Losses: lower is better.", "",
             "## Arms", "",
             "| arm | docs | decontaminated | train docs | held-out docs | unique tokens | epochs |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, a in report["arms"].items():
        lines.append(f"| {name} | {a['docs']:,} | {a['decontaminated']:,} | {a['train_docs']:,} | "
                     f"{a['heldout_docs']:,} | {a['unique_tokens']:,} | {a['epochs']:.2f} |")
    for name, a in report["arms"].items():
        if a["removed"]:
            top = ", ".join(f"{r} {n:,}" for r, n in sorted(a["removed"].items(), key=lambda x: -x[1])[:8])
            lines.append(f"\n{name} removed: {top}")
    if report["skipped"]:
        lines += ["", "Skipped filters: " + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items())]
    lines += ["", "## Runs (per seed)", "", "| arm | seed | trained | final train loss | tokens/s | "
              "wikitext2 loss | " + " | ".join(f"held-out {a}" for a in report["arms"]) + " | CORE |",
              "|---|---:|---|---:|---:|---:|" + "---:|" * len(report["arms"]) + "---:|"]
    for r in report["runs"]:
        m = r["metrics"]
        held = " | ".join(f"{m[f'loss/heldout/{a}']:.4f}" for a in report["arms"])
        lines.append(f"| {r['arm']} | {r['seed']} | {'cached' if r['cached'] else 'trained'} | "
                     f"{r['train']['final_loss']:.4f} | {r['train']['tokens_per_s']:,.0f} | "
                     f"{m['loss/wikitext2']:.4f} | {held} | {m['core']:.4f} |")
    for t, comp in report["comparisons"].items():
        lines += ["", f"## {t} minus {b}", "", "| metric | baseline | treatment | difference | 95% interval |",
                  "|---|---:|---:|---:|---|"]
        for metric, c in comp.items():
            lines.append(f"| {metric} | {c['baseline_mean']:.4f} | {c['treatment_mean']:.4f} | "
                         f"{c['diff']:+.4f} | {_ci(c)} |")
    if len(report["treatments"]) > 1:
        lines += ["", "## Leaderboard (by CORE change)", "",
                  "| filter | kept docs | unique tokens | CORE change | wikitext2 loss change | own held-out loss change |",
                  "|---|---:|---:|---|---|---|"]
        for row in report["leaderboard"]:
            lines.append(f"| {row['filter']} | {row['kept_docs']:,} / {row['baseline_docs']:,} | "
                         f"{row['unique_tokens']:,} | {row['core']['diff']:+.4f} {_ci(row['core'])} | "
                         f"{row['wikitext2']['diff']:+.4f} {_ci(row['wikitext2'])} | "
                         f"{row['own_heldout']['diff']:+.4f} {_ci(row['own_heldout'])} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    colors = {a: f"C{i}" for i, a in enumerate(report["arms"])}
    for r in report["runs"]:
        x, y = zip(*r["train"]["curve"], strict=True) if r["train"]["curve"] else ((), ())
        axes[0].plot(x, y, color=colors[r["arm"]], alpha=0.8, lw=1,
                     label=r["arm"] if r["seed"] == report["seeds"][0] else None)
    axes[0].set(xlabel="training tokens", ylabel="train loss", title="training curves (one line per seed)")
    axes[0].legend()
    names = [row["filter"] for row in report["leaderboard"]]
    for ax, key, title in ((axes[1], "core", "CORE change (higher is better)"),
                           (axes[2], "wikitext2", "WikiText-2 loss change (lower is better)")):
        rows = report["leaderboard"]
        diffs = [row[key]["diff"] for row in rows]
        err = [[d - row[key]["low"] if row[key]["low"] is not None else 0 for d, row in zip(diffs, rows, strict=True)],
               [row[key]["high"] - d if row[key]["high"] is not None else 0 for d, row in zip(diffs, rows, strict=True)]]
        ax.errorbar(diffs, range(len(rows)), xerr=err, fmt="o", capsize=4)
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(range(len(rows)), names)
        ax.set(title=title, xlabel=f"treatment - {report['baseline']} (95% interval)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(report: dict, out_dir: str) -> list[str]:
    """report.json, report.md, report.png under ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"report.{ext}") for ext in ("json", "md", "png")]
    with open(paths[0], "w") as f:
        json.dump(report, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(paths[1], "w") as f:
        f.write(markdown(report))
    plot(report, paths[2])
    return paths
