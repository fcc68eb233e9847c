"""The ``curate`` command line: run, stats, inspect, make-sample.

Exit codes: 0 done, 1 failed, 2 usage or config error (raised before any work starts).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from typing import Any

from curate.core import config as configmod
from curate.core.errors import ConfigError
from curate.core.pipeline import Pipeline, fingerprint
from curate.core.run import MAP_PHASE, RunDir, reason_dir, run_phases

log = logging.getLogger("curate")


def load_pipeline_module(path: str):
    """Import a pipeline file; its own classes are pickled by value so workers need not import it."""
    import cloudpickle

    if not os.path.isfile(path):
        raise ConfigError(f"pipeline file {path!r} does not exist (try pipelines/fineweb.py)")
    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    name = f"curate_pipeline_{stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "build", None)):
        raise ConfigError(f"pipeline file {path!r} defines no build(config) -> Pipeline function")
    cloudpickle.register_pickle_by_value(module)
    return module


def build_pipeline(module, pipeline_config) -> Pipeline:
    try:
        pipeline = module.build(pipeline_config)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid pipeline parameters: {e}") from e
    if not isinstance(pipeline, Pipeline):
        raise ConfigError(f"build() returned {type(pipeline).__name__}, expected curate Pipeline")
    pipeline.schemas()
    return pipeline


def _setup_logging(run_dir: str | None = None) -> None:
    root = logging.getLogger("curate")
    root.setLevel(logging.INFO)
    if not root.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(h)
    if run_dir:
        os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
        fh = logging.FileHandler(os.path.join(run_dir, "logs", "run.log"))
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(fh)


class _Progress:
    """A one-line progress display on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, already: int, phase: str = MAP_PHASE):
        self.total, self.done, self.docs, self.t0 = total, already, 0, time.time()
        self.tty, self.phase, self.shown = sys.stderr.isatty(), phase, False

    def update(self, result: dict[str, Any]) -> None:
        self.done += 1
        docs = sum(c["docs"] for c in result.get("reasons", {}).values())
        self.docs += docs
        rate = self.docs / max(time.time() - self.t0, 1e-9)
        if "error" in result:
            log.error("shard %s failed: %s", result["shard"], result["error"])
        line = f"[{self.phase}] {self.done}/{self.total} shards, {self.docs:,} docs, {rate:,.0f} docs/s"
        self.shown = True
        if self.tty:
            sys.stderr.write("\r" + line + " " * 8)
            sys.stderr.flush()
        else:
            kept = result.get("reasons", {}).get("kept", {}).get("docs", 0)
            log.info("%s (shard %s: %d docs, %d kept)", line, result["shard"], docs, kept)

    def close(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\n")
            self.shown = False


def cmd_run(args: argparse.Namespace) -> int:
    module = load_pipeline_module(args.pipeline)
    flags = {
        "run.input": args.input or None,
        "run.output": args.output,
        "run.engine": args.engine,
        "run.workers": args.workers,
    }
    sets = list(args.set) + ([f"filters={','.join(args.filter)}"] if args.filter else [])
    cfg = configmod.load(getattr(module, "Config", configmod.NoConfig), args.config, flags, sets)
    if not cfg.run.output:
        raise ConfigError("no output directory: pass --output DIR (or set run.output in the config file)")
    pipeline = build_pipeline(module, cfg.pipeline)
    shards = pipeline.source.shards(cfg.run.input)
    run_dir = RunDir(cfg.run.output)
    identity = {
        "pipeline": pipeline.describe(),
        "pipeline_config": dataclasses.asdict(cfg.pipeline),
        "batch_rows": cfg.run.batch_rows,
    }
    run_dir.prepare(cfg.to_dict(), identity, shards, dry_run=args.dry_run)
    done = run_dir.done_shards(MAP_PHASE, shards)
    todo = [s for s in shards if s.name not in done]
    if args.dry_run:
        print(f"pipeline   {pipeline.name}: {pipeline.source.name} -> " + " -> ".join(s.name for s in pipeline.stages))
        print(f"engine     {cfg.run.engine} ({cfg.run.n_workers} workers)")
        if len(pipeline.phases()) > 1:
            print("phases     " + " -> ".join(p.name for p in pipeline.phases()))
        print(f"shards     {len(shards)} ({len(done)} done, {len(todo)} to do)")
        print(f"output     {run_dir.path}")
        print(f"config     {fingerprint(identity)[:16]}")
        for s in todo[:10]:
            print(f"  to do    {s.path} -> output/data/<dump>/{s.name}.parquet")
        return 0
    if not todo:
        print(f"run {run_dir.path} is already complete ({len(shards)} shards): nothing to do")
        return 0
    _setup_logging(run_dir.path)
    cleaned = run_dir.clean_temporaries()  # left by a killed run, whether or not a shard finished
    if done or cleaned:
        log.info("resuming: %d of %d shards done, %d to do (%d stale temp files removed)",
                 len(done), len(shards), len(todo), cleaned)
    from curate.engines import make_engine

    engine = make_engine(cfg)
    progress = [_Progress(len(shards), len(done))]

    def on_phase(phase, already: int) -> None:  # one progress line per phase
        progress[-1].close()
        progress.append(_Progress(len(shards) if phase.kind == "map" else 0, already, phase.name))

    try:
        failed = run_phases(pipeline, run_dir, engine, shards, cfg.run.batch_rows, on_phase,
                            lambda result: progress[-1].update(result))
    except Exception as e:  # an engine job failure (after the engine's own retries)
        progress[-1].close()
        log.error("run failed: %s", _short(e))
        return 1
    finally:
        engine.close()
    progress[-1].close()
    totals = run_dir.totals()
    from curate.io.parquet import atomic_write_json

    atomic_write_json(run_dir.file("stats", "summary.json"), totals)
    print(format_stats(totals))
    if failed:
        log.error("%d shard(s) failed: %s; rerun the same command to retry them", len(failed), failed[:5])
        return 1
    log.info("done: %s", run_dir.path)
    return 0


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: " + (" | ".join(t for t in text if "Error" in t)[:1500] or (text[0] if text else ""))


def format_stats(totals: dict[str, dict[str, int]]) -> str:
    all_docs = sum(c["docs"] for c in totals.values()) or 1
    rows = [("kept", totals["kept"])] if "kept" in totals else []
    rows += sorted(((r, c) for r, c in totals.items() if r != "kept"), key=lambda rc: (-rc[1]["docs"], rc[0]))
    w = max([40, *(len(r) + 1 for r in totals)])
    out = [f"{'reason':<{w}} {'docs':>10} {'%docs':>7} {'bytes':>14} {'tokens':>12}"]
    for reason, c in rows:
        out.append(f"{reason:<{w}} {c['docs']:>10,} {100 * c['docs'] / all_docs:>6.2f}% {c['bytes']:>14,} {c['tokens']:>12,}")
    total = {k: sum(c[k] for c in totals.values()) for k in ("docs", "bytes", "tokens")}
    out.append(f"{'total':<{w}} {total['docs']:>10,} {100.0:>6.2f}% {total['bytes']:>14,} {total['tokens']:>12,}")
    return "\n".join(out)


def _open_run(path: str) -> RunDir:
    run_dir = RunDir(path)
    if run_dir.read_meta() is None:
        raise ConfigError(f"{path!r} is not a curate run directory (no run.json)")
    return run_dir


def cmd_stats(args: argparse.Namespace) -> int:
    run_dir = _open_run(args.run)
    totals = run_dir.totals()
    meta = run_dir.read_meta()
    done = len(run_dir.shard_stats())
    order = [meta["identity"]["pipeline"]["source"]["source"]] + [
        s["stage"] for s in meta["identity"]["pipeline"]["stages"]
    ]
    marginal = marginal_removal(totals, order)
    overlap = run_dir.summed("overlap")
    counters = run_dir.summed("counters")
    if args.json:
        print(json.dumps({"shards": len(meta["shards"]), "done": done, "reasons": totals, "marginal": marginal,
                          "overlap": overlap, "counters": counters}, indent=1))
        return 0
    print(f"{run_dir.path}: {done}/{len(meta['shards'])} shards done")
    print(format_stats(totals))
    print("\nmarginal removal in pipeline order (each stage sees what the stages before it kept)")
    print(f"{'stage':<20} {'docs in':>10} {'removed':>10} {'% of in':>8} {'% of all':>9} {'tokens removed':>15}")
    for m in marginal:
        print(f"{m['stage']:<20} {m['docs_in']:>10,} {m['docs']:>10,} {m['pct_of_in']:>7.2f}% "
              f"{m['pct_of_all']:>8.2f}% {m['tokens']:>15,}")
    if counters:
        print("\nline and span edits (summed over kept documents)")
        for name, value in counters.items():
            print(f"{name:<40} {value:>14,}")
    if overlap:
        print("\noverlap (evaluate-all): docs failing the row filter that the column filter also fails")
        print(format_overlap(overlap))
    return 0


def marginal_removal(totals: dict[str, dict[str, int]], order: list[str]) -> list[dict]:
    """Docs and tokens each stage removed, in pipeline order, from the per-reason counts."""
    by_stage: dict[str, dict[str, int]] = {}
    for reason, c in totals.items():
        if reason == "kept":
            continue
        acc = by_stage.setdefault(reason.split(":", 1)[0], {"docs": 0, "tokens": 0})
        acc["docs"] += c["docs"]
        acc["tokens"] += c["tokens"]
    stages = [s for s in order if s in by_stage] + sorted(set(by_stage) - set(order))
    remaining = all_docs = sum(c["docs"] for c in totals.values())
    out = []
    for stage in stages:
        c = by_stage[stage]
        out.append({"stage": stage, "docs_in": remaining, **c,
                    "pct_of_in": 100 * c["docs"] / max(remaining, 1), "pct_of_all": 100 * c["docs"] / max(all_docs, 1)})
        remaining -= c["docs"]
    return out


def format_overlap(overlap: dict[str, int]) -> str:
    filters = sorted(k for k in overlap if "|" not in k)
    width = max(12, *(len(f) for f in filters))
    lines = [" " * width + " " + " ".join(f"{f[:12]:>12}" for f in filters) + f" {'docs':>8}"]
    for f in filters:
        cells = []
        for g in filters:
            both = overlap[f] if f == g else overlap.get("|".join(sorted((f, g))), 0)
            cells.append(f"{100 * both / max(overlap[f], 1):>11.1f}%")
        lines.append(f"{f:<{width}} " + " ".join(cells) + f" {overlap[f]:>8,}")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    import pyarrow.dataset as pads

    run_dir = _open_run(args.run)
    totals = run_dir.totals()
    if args.reason not in totals:
        raise ConfigError(f"no documents with reason {args.reason!r}; reasons in this run: {', '.join(totals)}")
    folder = run_dir.file("output", "data") if args.reason == "kept" else run_dir.file("removed", reason_dir(args.reason))
    dataset = pads.dataset(folder, format="parquet")
    columns = ["doc_id", "url", "dump", "drop_reason", "text"]
    dedup = "duplicate_of" in dataset.schema.names
    table = dataset.head(args.n, columns=columns + (["duplicate_of"] if dedup else []))
    twins = {}
    if dedup:  # removed by dedup: show the document kept in its place (wherever it ended up)
        wanted = sorted({t for t in table.column("duplicate_of").to_pylist() if t})
        for sub in ("output", "removed"):
            if wanted and os.path.isdir(run_dir.file(sub)):
                found = pads.dataset(run_dir.file(sub), format="parquet").to_table(
                    columns=columns, filter=pads.field("doc_id").isin(wanted))
                twins.update({r["doc_id"]: r for r in found.to_pylist()})

    def show(row: dict, prefix: str = "---") -> None:
        text = row["text"] or ""
        print(f"{prefix} {row['doc_id']}  {row['url'] or ''}  dump={row['dump']}  reason={row['drop_reason'] or 'kept'}")
        print(text[: args.chars] + (" [...]" if len(text) > args.chars else ""))

    for row in table.to_pylist():
        show(row)
        if row.get("duplicate_of"):
            twin = twins.get(row["duplicate_of"])
            if twin is None:
                print(f"+++ duplicate of {row['duplicate_of']} (not found in this run's files)")
            else:
                show(twin, "+++ duplicate of")
    return 0


def cmd_filters(args: argparse.Namespace) -> int:
    from curate import filterspec

    for name, path in filterspec.available().items():
        spec = filterspec.load(path)
        stages = ", ".join(s.name for s in spec.stages)
        print(f"{name:<16} {stages:<36} {spec.description}")
    return 0


def cmd_make_sample(args: argparse.Namespace) -> int:
    from curate.sample import make_sample, make_web_sample

    if args.web:
        print(make_web_sample(args.data, args.output))
        return 0
    for path in make_sample(args.data, args.output):
        print(path)
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    # only torch, numpy, pyarrow, tiktoken and matplotlib on this path: it runs on bare GPU machines
    from curate.ablate.harness import Settings, run

    run(Settings(output=args.output, filters=args.filter or [], inputs=args.input or [],
                 baseline=args.baseline or [], treatment=args.treatment or [], preset=args.preset,
                 seeds=args.seeds, tokens=args.tokens, device=args.device, data=args.data,
                 tokenizer_dir=args.tokenizer_dir, eval_limit=args.eval_limit or None,
                 eval_tokens=args.eval_tokens, progress=not args.no_progress))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="curate", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a pipeline's map phase over input shards")
    r.add_argument("pipeline", help="pipeline file, e.g. pipelines/fineweb.py")
    r.add_argument("--engine", choices=["local", "ray", "spark"])
    r.add_argument("--input", action="append", help="file, directory or glob; repeatable")
    r.add_argument("--output", help="run directory")
    r.add_argument("--config", help="TOML run config")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    r.add_argument("--workers", type=int, help="parallel workers (default: one per core)")
    r.add_argument("--filter", action="append", metavar="NAME", help="a named filter spec (pipelines with a "
                   "`filters` setting, e.g. pipelines/filter.py); repeatable; see `curate filters`")
    r.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("stats", help="kept/removed docs, bytes and tokens by reason")
    s.add_argument("run")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_stats)
    i = sub.add_parser("inspect", help="show documents removed for a reason (or 'kept')")
    i.add_argument("run")
    i.add_argument("--reason", required=True)
    i.add_argument("-n", type=int, default=5)
    i.add_argument("--chars", type=int, default=400)
    i.set_defaults(func=cmd_inspect)
    f = sub.add_parser("filters", help="list the named filter specs --filter accepts")
    f.set_defaults(func=cmd_filters)
    m = sub.add_parser("make-sample", help="build sample Parquet shards from ../shared/data text")
    m.add_argument("--data", default=os.path.join("..", "shared", "data"))
    m.add_argument("--output", default="sample")
    m.add_argument("--web", action="store_true", help="instead: extract the real web pages (extraction "
                   "benchmarks, WARC samples, DCLM) into OUTPUT/web.parquet, the input of `curate ablate`")
    m.set_defaults(func=cmd_make_sample)
    a = sub.add_parser("ablate", help="train proxy models on data before/after a filter and compare them")
    a.add_argument("--filter", action="append", metavar="NAME", help="a named filter spec (repeatable), or "
                   "'all' for a leaderboard of every filter that can run here")
    a.add_argument("--input", action="append", help="Parquet file/dir of documents or a run dir; repeatable")
    a.add_argument("--baseline", action="append", metavar="PATH", help="instead of --filter: the baseline arm")
    a.add_argument("--treatment", action="append", metavar="PATH", help="with --baseline: the treatment arm")
    a.add_argument("--output", required=True, help="directory for runs/ (the run cache) and report.*")
    a.add_argument("--preset", default="tiny", help="proxy model preset: tiny, cpu, gpu-20m, gpu-60m, gpu-125m")
    a.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    a.add_argument("--tokens", type=int, help="training tokens per run (default: the smallest arm's unique tokens)")
    a.add_argument("--device", choices=["cpu", "cuda"], help="default: the preset's")
    a.add_argument("--data", default=os.path.join("..", "shared", "data"),
                   help="folder with wikitext-2/, lm-benchmarks/, blimp/ (evaluation sets)")
    a.add_argument("--tokenizer-dir", help="GPT-2 encoder.json + vocab.bpe (default: $CURATE_TOKENIZER_DIR, "
                   "else DATA/tokenizers/gpt2)")
    a.add_argument("--eval-limit", type=int, default=200, help="examples per task (0: all; default 200)")
    a.add_argument("--eval-tokens", type=int, default=200_000, help="tokens per held-out loss (default 200k)")
    a.add_argument("--no-progress", action="store_true", help="no training progress bar")
    a.set_defaults(func=cmd_ablate)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors already
        return int(e.code or 0)
    _setup_logging()
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"curate: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
