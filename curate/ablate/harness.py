"""``curate ablate``: train the same proxy model on a baseline and a treatment arm, evaluate, report.

The flow, each step checked before the next starts:

1. Settings are checked before any work (exit 2 with what to change): the preset, the device, the
   filters (``curate.filterspec``), the input paths, the tokenizer files, the evaluation data.
2. Arms are built (:mod:`curate.ablate.data`): baseline = every input document, one treatment per
   filter = the documents it keeps; or two explicit arms (``--baseline`` / ``--treatment`` Parquet).
   Both are decontaminated against every evaluation set (13-gram overlap) and lose a held-out slice.
3. Token matching: every run trains on the same ``T`` tokens (default: the smallest arm's unique
   training tokens, so no arm sees its data more than once); each arm's epochs are ``T / unique``.
4. Runs: one per (arm, seed), cached under ``<output>/runs/<key>.json`` (+ ``.pt`` weights), where the
   key hashes the arm's exact training token stream, the preset, the device, the seed and ``T``. A
   cached run is not retrained; an evaluation it lacks (a new arm's held-out slice) is computed from
   its saved weights. Adding a seed trains only the new seed's runs.
5. Every model is evaluated on WikiText-2, on every arm's held-out slice and on the zero-shot tasks;
   :mod:`curate.ablate.report` writes the comparison.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time

from curate.core.errors import ConfigError

HELDOUT_RATE = 0.05
DECONTAM_N = 13


@dataclasses.dataclass
class Settings:
    """What ``curate ablate`` was asked to do (the CLI's flags)."""

    output: str
    filters: list[str] = dataclasses.field(default_factory=list)  # names, or ["all"]
    inputs: list[str] = dataclasses.field(default_factory=list)
    baseline: list[str] = dataclasses.field(default_factory=list)  # explicit arms instead of a filter
    treatment: list[str] = dataclasses.field(default_factory=list)
    preset: str = "tiny"
    seeds: int = 3
    tokens: int | None = None
    device: str | None = None
    data: str = os.path.join("..", "shared", "data")
    tokenizer_dir: str | None = None
    eval_limit: int | None = 200
    eval_tokens: int = 200_000  # tokens per held-out loss (each arm's slice, WikiText-2)
    heldout: float = HELDOUT_RATE
    progress: bool = True


@dataclasses.dataclass
class Plan:
    """Settings resolved and checked: nothing in here can fail for a reason the user must fix."""

    settings: Settings
    preset: object
    device: str
    tokenizer_dir: str
    specs: list            # FilterSpec per treatment (--filter)
    skipped: dict[str, str]
    input_files: list[str]
    arm_files: dict[str, list[str]]  # explicit arms


def _log(msg: str) -> None:
    print(f"[ablate] {msg}", file=sys.stderr, flush=True)


def check(s: Settings) -> Plan:
    """Resolve and check every setting; ConfigError (exit 2) says what to change. No work is done."""
    from curate import filterspec
    from curate.ablate import data
    from curate.filters.tokens import ENV_VAR, check_dir

    if not s.output:
        raise ConfigError("no output directory: pass --output DIR")
    from curate.ablate.model import PRESETS

    if s.preset not in PRESETS:
        raise ConfigError(f"unknown preset {s.preset!r} (known: {', '.join(PRESETS)})")
    preset = PRESETS[s.preset]
    device = s.device or preset.device
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}: use --device cpu or --device cuda")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"preset {s.preset!r} runs on cuda but no GPU is visible: pass --device cpu "
                              "or a CPU preset (--preset tiny|cpu)")
    if s.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {s.seeds}")
    if s.tokens is not None and s.tokens < 1:
        raise ConfigError(f"--tokens must be positive, got {s.tokens}")
    if s.eval_tokens < 1:
        raise ConfigError(f"--eval-tokens must be positive, got {s.eval_tokens}")
    if s.eval_limit is not None and s.eval_limit < 1:
        raise ConfigError(f"--eval-limit must be at least 1, got {s.eval_limit}")
    if not 0 < s.heldout < 0.5:
        raise ConfigError(f"the held-out share must be within (0, 0.5), got {s.heldout}")
    for sub in ("wikitext-2", "lm-benchmarks", "blimp"):
        if not os.path.isdir(os.path.join(s.data, sub)):
            raise ConfigError(f"evaluation data {os.path.join(s.data, sub)!r} not found: pass --data DIR "
                              "(the folder holding wikitext-2/, lm-benchmarks/ and blimp/)")
    tok_dir = s.tokenizer_dir or os.environ.get(ENV_VAR) or os.path.join(s.data, "tokenizers", "gpt2")
    check_dir(tok_dir)

    specs, skipped, files, arm_files = [], {}, [], {}
    if s.filters and (s.baseline or s.treatment):
        raise ConfigError("pass either --filter (with --input) or --baseline and --treatment, not both")
    if s.filters:
        if not s.inputs:
            raise ConfigError("--filter needs --input PATH (Parquet files or dirs of documents, or a run dir)")
        names = list(filterspec.available()) if s.filters == ["all"] else s.filters
        if "all" in names:
            raise ConfigError("--filter all cannot be combined with named filters")
        for name in names:
            try:
                spec = filterspec.load(name)
                data.check_spec(spec)
                specs.append(spec)
            except ConfigError as e:
                if s.filters != ["all"]:
                    raise
                skipped[name] = str(e)
            except ImportError as e:  # a stage's package is not installed on this machine
                if s.filters != ["all"]:
                    raise ConfigError(f"filter {name!r} needs a package that is not installed: {e}") from e
                skipped[name] = f"not installed: {e}"
        files = data.input_files(s.inputs)
    elif s.baseline and s.treatment:
        if s.inputs:
            raise ConfigError("--input goes with --filter; with --baseline/--treatment the arms are the inputs")
        arm_files = {"baseline": data.input_files(s.baseline), "treatment": data.input_files(s.treatment)}
    else:
        raise ConfigError("nothing to compare: pass --filter NAME --input PATH, or --baseline PATH --treatment PATH")
    return Plan(s, preset, device, tok_dir, specs, skipped, files, arm_files)


def run_key(arm_fingerprint: str, preset, device: str, seed: int, tokens: int) -> str:
    """The cache key of one training run: everything that changes the trained weights."""
    ident = {"arm": arm_fingerprint, "preset": dataclasses.asdict(preset), "device": device, "seed": seed,
             "tokens": tokens}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def build_arms(plan: Plan, encode_batch, contaminated) -> tuple[dict, str]:
    """The arms in report order (baseline first) and the baseline's name."""
    from curate.ablate import data

    s = plan.settings
    kw = {"contaminated": contaminated, "encode_batch": encode_batch, "heldout_rate": s.heldout}
    arms = {}
    if plan.arm_files:
        for name, files in plan.arm_files.items():
            arms[name] = data.build_arm(name, data.to_docs(data.read_table(files)), **kw)
            _log(f"arm {name}: {arms[name].docs:,} docs, {arms[name].train.size:,} training tokens")
        return arms, "baseline"
    table = data.read_table(plan.input_files)
    arms["baseline"] = data.build_arm("baseline", data.to_docs(table), **kw)
    _log(f"baseline: {table.num_rows:,} docs, {arms['baseline'].train.size:,} training tokens")
    for spec in plan.specs:
        t0 = time.time()
        try:
            kept, removed = data.apply_filter(spec, table)
        except ConfigError as e:
            if s.filters != ["all"]:
                raise
            plan.skipped[spec.name] = str(e)
            continue
        arms[spec.name] = data.build_arm(spec.name, kept, removed=removed, **kw)
        _log(f"{spec.name}: kept {len(kept):,} of {table.num_rows:,} docs "
             f"({arms[spec.name].train.size:,} training tokens) in {time.time() - t0:.1f}s")
    return arms, "baseline"


def run(s: Settings) -> dict:
    """Check, build arms, train or reuse every (arm, seed), evaluate, write the report. Returns it."""
    plan = check(s)
    import numpy as np
    import torch

    from curate.ablate import evals, report
    from curate.ablate.data import stream_fingerprint, tokenize
    from curate.ablate.decontam import Decontaminator
    from curate.ablate.model import GPT
    from curate.ablate.train import train
    from curate.filters.tokens import load_gpt2

    enc = load_gpt2(plan.tokenizer_dir)
    # arms share most documents: tokenise and decontaminate each distinct text once
    token_memo: dict[str, np.ndarray] = {}
    hit_memo: dict[str, bool] = {}

    def encode_batch(texts):
        todo = list(dict.fromkeys(t for t in texts if t not in token_memo))
        for t, ids in zip(todo, enc.encode_ordinary_batch(todo, num_threads=2), strict=True):
            token_memo[t] = np.asarray(ids, dtype=np.uint16)
        return [token_memo[t] for t in texts]

    preset, device = plan.preset, plan.device
    t0 = time.time()
    tasks = evals.load_tasks(s.data, limit=s.eval_limit)
    refs = evals.reference_texts(s.data)
    decontam = [Decontaminator.from_tasks(evals.load_tasks(s.data), n=DECONTAM_N),
                Decontaminator(refs.values(), n=DECONTAM_N)]

    def contaminated(texts):
        todo = list(dict.fromkeys(t for t in texts if t not in hit_memo))
        if todo:
            hit_memo.update(zip(todo, np.logical_or.reduce([d.mask(todo) for d in decontam]).tolist(), strict=True))
        return np.array([hit_memo[t] for t in texts], dtype=bool)

    _log(f"evaluation sets loaded in {time.time() - t0:.1f}s")
    arms, baseline = build_arms(plan, encode_batch, contaminated)
    step_tokens = preset.batch_size * preset.model.seq_len
    for name in [a for a in arms if a != baseline]:
        if arms[name].train.size < step_tokens and s.filters == ["all"]:
            plan.skipped[name] = f"keeps {arms[name].train.size:,} training tokens, under one step ({step_tokens:,})"
            del arms[name]
    treatments = [a for a in arms if a != baseline]
    if not treatments:
        raise ConfigError("no filter could be ablated: " + "; ".join(f"{k}: {v}" for k, v in plan.skipped.items()))
    for name, arm in arms.items():
        if arm.train.size < step_tokens or arm.heldout.size == 0:
            raise ConfigError(f"arm {name!r} has {arm.train.size:,} training and {arm.heldout.size:,} held-out "
                              f"tokens: preset {s.preset!r} needs at least {step_tokens:,} to train; give more input")
    tokens = s.tokens or min(int(a.train.size) for a in arms.values())
    refs_tok = {"wikitext2": tokenize([refs["wikitext2"]], encode_batch)}
    streams = {f"loss/heldout/{a}": arm.heldout for a, arm in arms.items()}
    streams.update({f"loss/{k}": v for k, v in refs_tok.items()})
    # an evaluation is cached under the fingerprint of what it measured, so a run keeps its results
    # when arms are renamed and never reuses a number for different text
    eval_keys = {name: f"loss:{stream_fingerprint(stream)[:16]}:{s.eval_tokens}" for name, stream in streams.items()}
    chance = {t.name: (0.0 if t.kind == "lambada" else
                       float(np.mean([1 / len(e.choices) for e in t.examples])) if t.kind == "mc" else 0.5)
              for t in tasks}
    tasks_key = f"tasks:{s.eval_limit}:" + ",".join(t.name for t in tasks)

    def evaluate(model, have: dict) -> dict:
        """Fill ``have`` (eval key -> result) with whatever this model still lacks."""
        for name, key in eval_keys.items():
            if key not in have:
                have[key] = evals.heldout_loss(model, streams[name], device=device, max_tokens=s.eval_tokens)
        if tasks_key not in have:
            have[tasks_key] = evals.evaluate(model, enc.encode_ordinary, tasks, device=device)
        return have

    def metrics_of(have: dict) -> dict:
        m = {name: have[key] for name, key in eval_keys.items()}
        m.update(have[tasks_key])
        m["core"] = report.core(m, chance)
        return m

    runs_dir = os.path.join(s.output, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    runs = []
    for name, arm in arms.items():
        for seed in range(s.seeds):
            key = run_key(arm.fingerprint, preset, device, seed, tokens)
            path = os.path.join(runs_dir, f"{key}.json")
            weights = os.path.join(runs_dir, f"{key}.pt")
            cached = os.path.isfile(path) and os.path.isfile(weights)
            if cached:
                with open(path) as f:
                    rec = json.load(f)
                if not set(eval_keys.values()) | {tasks_key} <= set(rec["evals"]):
                    model = GPT(preset.model)
                    model.load_state_dict(torch.load(weights, map_location=device))
                    model.to(device).eval()
                    evaluate(model, rec["evals"])
                    _write_json(path, rec)
                _log(f"{name} seed {seed}: cached run {key}")
            else:
                _log(f"{name} seed {seed}: training {tokens:,} tokens ({tokens / arm.train.size:.2f} epochs)")
                model, result = train(arm.train, preset, seed, tokens, device=device, progress=s.progress)
                torch.save(getattr(model, "_orig_mod", model).state_dict(), weights + ".tmp")
                os.replace(weights + ".tmp", weights)
                rec = {"key": key, "arm": name, "arm_fingerprint": arm.fingerprint, "preset": s.preset,
                       "device": device, "seed": seed, "tokens": tokens, "train": dataclasses.asdict(result),
                       "evals": {}}
                evaluate(model, rec["evals"])
                _write_json(path, rec)
            runs.append({"key": key, "arm": name, "seed": seed, "cached": cached, "train": rec["train"],
                         "metrics": metrics_of(rec["evals"])})
    arm_summary = {}
    for name, arm in arms.items():
        arm_summary[name] = arm.summary() | {"epochs": tokens / arm.train.size}
    meta = {"preset": s.preset, "model": dataclasses.asdict(preset.model), "device": device,
            "params": GPT(preset.model).num_params(), "seeds": list(range(s.seeds)), "tokens": tokens,
            "eval_limit": s.eval_limit, "eval_tokens": s.eval_tokens, "heldout_rate": s.heldout, "decontamination_ngram": DECONTAM_N,
            "inputs": s.inputs or {"baseline": s.baseline, "treatment": s.treatment}, "filters": s.filters}
    rep = report.build(meta, arm_summary, runs, baseline, treatments, chance, plan.skipped)
    for p in report.write(rep, s.output):
        print(p)
    for row in rep["leaderboard"]:
        c, w = row["core"], row["wikitext2"]
        print(f"{row['filter']}: CORE {c['diff']:+.4f} {report._ci(c)}; WikiText-2 loss {w['diff']:+.4f} {report._ci(w)}")
    return rep
