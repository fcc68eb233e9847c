"""Zero-shot evaluation of proxy models: BLiMP, HellaSwag, PIQA, ARC-Easy, COPA, LAMBADA, held-out loss.

Small proxy models (10M-150M parameters, well under 1B tokens) are compared with the tasks and scoring
that move above chance at that scale (DCLM, Li et al. 2024, section 3 and appendix G; FineWeb's
ablations, Penedo et al. 2024). Every task is scored by log-likelihood, the way lm-evaluation-harness
does it zero-shot, so no generation is needed:

- multiple choice (HellaSwag, PIQA, ARC-Easy, COPA): the continuation with the highest log-likelihood
  per character (``acc_norm``: lm-eval divides by the continuation's length in characters, leading space
  included) is the model's answer. Prompts are lm-eval's: HellaSwag ``"{activity}: {ctx}"`` + ``" "
  + ending`` with its bracket preprocessing; PIQA and ARC ``"Question: {q}\\nAnswer:"`` + ``" " +
  answer``; COPA ``"{premise without '.'} because|therefore"`` + ``" " + lower-cased alternative``.
  Our HellaSwag file keeps the dataset's ``ctx`` (``ctx_b`` not capitalised, as in the GPT-2/llm.c
  evaluation); lm-eval capitalises ``ctx_b``. The split is not recoverable from the file.
- BLiMP (Warstadt et al. 2020): a minimal pair is right when the grammatical sentence has the higher
  total log-probability (no length normalisation: the pair's sentences differ by a word or its order).
  An empty context is the end-of-text token, as lm-eval does for context-free requests.
- LAMBADA (OpenAI's version, Radford et al. 2019): the last word is right when every one of its tokens is
  the greedy (argmax) prediction.

Next to accuracy we report ``<task>/prob``, the mean probability of the correct answer: the softmax over
a question's choices of the length-normalised log-likelihoods (BLiMP: of the sentences' total
log-likelihoods; LAMBADA: p(target word)). It is continuous, so it separates data arms at a scale where
accuracies still sit at chance (DCLM's and OLMo's small-scale finding).

Contexts are left-truncated to the model's ``seq_len``; requests are batched longest first with right
padding, which a causal model never attends to, so a score does not depend on its batch (tested).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import tarfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from curate.core.errors import ConfigError

TASKS = ("blimp", "hellaswag", "piqa", "arc_easy", "copa", "lambada")
EOT = 50256  # GPT-2's <|endoftext|>: the context of a context-free request (BLiMP)
QUESTION, ANSWER = "Question: ", "\nAnswer:"  # PIQA/ARC prompt; decontamination strips it again


@dataclass(frozen=True)
class Example:
    """One question. ``choices`` are the exact strings appended to ``context`` (leading space included);
    LAMBADA has one choice, the target word."""

    context: str
    choices: tuple[str, ...]
    label: int


@dataclass
class Task:
    """``kind``: "mc" (acc_norm), "pair" (BLiMP: total log-prob) or "lambada" (greedy last word)."""

    name: str
    kind: str
    examples: list[Example]


# ----------------------------------------------------------------------------------------------- loading

def _key(seed: int, name: str, i: int) -> bytes:
    """Sort key for sampling: a hash, not an RNG stream, so the sample is the same on every numpy."""
    return hashlib.blake2b(f"{seed}:{name}:{i}".encode(), digest_size=8).digest()


def _sample(rows: list, name: str, limit: int | None, seed: int) -> list:
    """``limit`` rows chosen by hash order, kept in file order (all rows when ``limit`` is None)."""
    if limit is None or limit >= len(rows):
        return rows
    keep = sorted(sorted(range(len(rows)), key=lambda i: _key(seed, name, i))[:limit])
    return [rows[i] for i in keep]


def _jsonl(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _hellaswag_preprocess(text: str) -> str:
    """lm-evaluation-harness's HellaSwag preprocessing (WikiHow markers out, double spaces collapsed)."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _mc(rows: list[dict], context: Callable[[str], str], choice: Callable[[str], str]) -> list[Example]:
    return [Example(context(r["query"]), tuple(choice(c) for c in r["choices"]), int(r["gold"])) for r in rows]


def _load_one(data_dir: str, name: str, limit: int | None, seed: int) -> Task:
    bench = os.path.join(data_dir, "lm-benchmarks")
    if name == "hellaswag":
        rows = _sample(_jsonl(os.path.join(bench, "hellaswag_val.jsonl.gz")), name, limit, seed)
        return Task(name, "mc", _mc(rows, _hellaswag_preprocess, lambda c: " " + _hellaswag_preprocess(c)))
    if name in ("piqa", "arc_easy"):
        # the files hold "Question: <q>" (PIQA with a trailing newline): lm-eval's prompt adds "\nAnswer:"
        rows = _sample(_jsonl(os.path.join(bench, f"{name}.jsonl")), name, limit, seed)
        return Task(name, "mc", _mc(rows, lambda q: q.rstrip("\n") + ANSWER, lambda c: " " + c))
    if name == "copa":
        # premise already ends in " because"/" therefore" and alternatives start lower-case, as lm-eval
        rows = _sample(_jsonl(os.path.join(bench, "copa.jsonl")), name, limit, seed)
        return Task(name, "mc", _mc(rows, lambda q: q, lambda c: " " + c))
    if name == "lambada":
        rows = _sample(_jsonl(os.path.join(bench, "lambada_openai.jsonl.gz")), name, limit, seed)
        return Task(name, "lambada", [Example(r["context"], (" " + r["continuation"],), 0) for r in rows])
    if name == "blimp":
        return Task(name, "pair", _sample_blimp(_blimp_pairs(data_dir), limit, seed))
    raise ConfigError(f"unknown evaluation task {name!r}: choose from {', '.join(TASKS)}")


def _blimp_pairs(data_dir: str) -> list[tuple[str, str, str]]:
    """(paradigm, good, bad) for all 67,000 pairs, paradigms in name order, pairs in file order.

    The archive is read in one streaming pass: seeking back inside an xz stream decompresses it again
    from the start (20x slower)."""
    path = os.path.join(data_dir, "blimp", "blimp-data.tar.xz")
    files = {}
    with tarfile.open(path, "r|xz") as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".jsonl"):
                files[os.path.basename(m.name)[: -len(".jsonl")]] = tar.extractfile(m).read().decode("utf-8")
    out = []
    for paradigm in sorted(files):
        for line in files[paradigm].splitlines():
            if line.strip():
                r = json.loads(line)
                out.append((paradigm, r["sentence_good"], r["sentence_bad"]))
    return out


def _sample_blimp(pairs: list[tuple[str, str, str]], limit: int | None, seed: int) -> list[Example]:
    """``limit`` pairs spread evenly over the paradigms (the first ``limit % 67`` in name order get one
    more), so a small sample still covers every phenomenon instead of whichever paradigms are largest."""
    by_paradigm: dict[str, list[Example]] = {}
    for paradigm, good, bad in pairs:
        by_paradigm.setdefault(paradigm, []).append(Example("", (good, bad), 0))
    names = sorted(by_paradigm)
    if limit is None:
        return [ex for p in names for ex in by_paradigm[p]]
    base, extra = divmod(limit, len(names))
    examples: list[Example] = []
    for j, p in enumerate(names):
        examples += _sample(by_paradigm[p], f"blimp/{p}", base + (j < extra), seed)
    return examples


def load_tasks(data_dir: str, names: Sequence[str] = TASKS, limit: int | None = None, seed: int = 0) -> list[Task]:
    """The named tasks from ``data_dir`` (the shared data folder: ``lm-benchmarks/`` and ``blimp/``).

    ``limit`` examples per task, a deterministic sample keyed by ``seed`` (a hash order, so the same on
    every machine); BLiMP's sample is spread evenly over its 67 paradigms. Raises ConfigError for an
    unknown task name or a missing file, before anything is scored.
    """
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ConfigError(f"unknown evaluation task(s) {unknown}: choose from {', '.join(TASKS)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"evaluation limit must be a positive number of examples per task, got {limit}")
    tasks = []
    for name in names:
        try:
            task = _load_one(data_dir, name, limit, seed)
        except FileNotFoundError as e:
            raise ConfigError(
                f"evaluation data for {name!r} not found ({e.filename}): point the data directory at the "
                f"folder holding lm-benchmarks/ and blimp/ (the shared data folder)"
            ) from e
        tasks.append(task)
    return tasks


# ----------------------------------------------------------------------------------------------- scoring

def _score(model, requests: list[tuple[list[int], list[int]]], *, device: str, batch_size: int
           ) -> tuple[list[float], list[bool]]:
    """Sum of log p(continuation | context) and whether every continuation token is the argmax.

    A request is (context ids, continuation ids), context non-empty. The sequence is left-truncated to
    ``seq_len + 1`` tokens (the model sees ``seq_len``; the last token is only a target). Longest first,
    so each batch pads little; log-softmax (and for our GPT the output layer) runs only at the
    continuation positions, not over the whole [B, T, vocab] block.
    """
    seq_len = model.config.seq_len
    seqs = []
    for ctx, cont in requests:
        full = (ctx + cont)[-(seq_len + 1):]
        seqs.append((full, min(len(cont), len(full) - 1)))
    order = sorted(range(len(seqs)), key=lambda i: (-len(seqs[i][0]), i))
    logp_sum = [0.0] * len(seqs)
    greedy = [False] * len(seqs)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = len(seqs[chunk[0]][0]) - 1
            idx = torch.zeros((len(chunk), width), dtype=torch.long)
            rows, cols, targets, counts = [], [], [], []
            for b, i in enumerate(chunk):
                full, n = seqs[i]
                idx[b, :len(full) - 1] = torch.tensor(full[:-1])
                rows += [b] * n
                cols += range(len(full) - 1 - n, len(full) - 1)
                targets += full[len(full) - n:]
                counts.append(n)
            picked = _logits_at(model, idx.to(device), rows, cols)
            tgt = torch.tensor(targets, device=picked.device)
            token_lp = F.log_softmax(picked.float(), dim=-1).gather(1, tgt[:, None])[:, 0].double().cpu()
            hit = (picked.argmax(dim=-1) == tgt).cpu()
            pos = 0
            for i, n in zip(chunk, counts, strict=True):
                logp_sum[i] = float(token_lp[pos:pos + n].sum())
                greedy[i] = bool(hit[pos:pos + n].all())
                pos += n
    return logp_sum, greedy


def _logits_at(model, idx: torch.Tensor, rows: list[int], cols: list[int]) -> torch.Tensor:
    """Float32 logits [N, V] at positions (rows[i], cols[i]) of ``idx``.

    Our GPT exposes ``hidden(idx)`` and its tied embedding ``wte``: then the output layer runs only at the
    scored positions (a LAMBADA passage scores 1-3 of its ~100 tokens), several times less work on CPU
    than the full [B, T, vocab] logits that ``model(idx)`` computes. Any other model is called plainly.
    """
    r, c = torch.tensor(rows, device=idx.device), torch.tensor(cols, device=idx.device)
    hidden, wte = getattr(model, "hidden", None), getattr(model, "wte", None)
    if callable(hidden) and isinstance(wte, torch.nn.Embedding):
        return F.linear(hidden(idx)[r, c], wte.weight).float()
    logits, _ = model(idx)
    return logits[r, c].float()


def _softmax_correct(scores: list[float], label: int) -> float:
    m = max(scores)
    exps = [math.exp(s - m) for s in scores]
    return exps[label] / sum(exps)


def evaluate(model, encode: Callable[[str], list[int]], tasks: Iterable[Task], *, device: str = "cpu",
             batch_size: int = 32, eot: int = EOT) -> dict[str, float]:
    """``<task>/acc``, ``<task>/prob`` and ``<task>/n`` for each task (see the module docstring).

    Args:
        model: called as ``model(idx)`` -> ``(logits [B, T, V], _)``; has ``config.seq_len``. Put it in
            eval mode first (``train`` returns it so).
        encode: text -> token ids (GPT-2 BPE for the proxy models). Context and continuation are encoded
            separately, so the continuation's tokens are the same whatever precedes them.
        eot: the token that stands for an empty context.
    """
    out: dict[str, float] = {}
    for task in tasks:
        if task.kind not in ("mc", "pair", "lambada"):
            raise ValueError(f"task {task.name!r} has kind {task.kind!r}: expected 'mc', 'pair' or 'lambada'")
        requests = []
        for ex in task.examples:
            ctx = encode(ex.context) if ex.context else [eot]
            requests += [(ctx, encode(choice)) for choice in ex.choices]
        logp, greedy = _score(model, requests, device=device, batch_size=batch_size)
        acc, prob = [], []
        pos = 0
        for ex in task.examples:
            k = len(ex.choices)
            lp, gr = logp[pos:pos + k], greedy[pos:pos + k]
            pos += k
            if task.kind == "lambada":
                acc.append(float(gr[0]))
                prob.append(math.exp(lp[0]))
            elif task.kind == "pair":
                acc.append(float(lp[ex.label] > max(s for j, s in enumerate(lp) if j != ex.label)))
                prob.append(_softmax_correct(lp, ex.label))
            else:
                norm = [s / len(c) for s, c in zip(lp, ex.choices, strict=True)]
                acc.append(float(int(np.argmax(norm)) == ex.label))
                prob.append(_softmax_correct(norm, ex.label))
        n = len(task.examples)
        out[f"{task.name}/acc"] = sum(acc) / n if n else float("nan")
        out[f"{task.name}/prob"] = sum(prob) / n if n else float("nan")
        out[f"{task.name}/n"] = n
    return out


def heldout_loss(model, tokens: np.ndarray, *, device: str = "cpu", max_tokens: int = 200_000,
                 batch_size: int = 16) -> float:
    """Mean next-token cross-entropy (nats) over the first ``max_tokens`` tokens of a stream.

    The stream is cut into consecutive windows of ``seq_len`` inputs whose targets are the next
    ``seq_len`` tokens, so every token after the first is predicted exactly once; a trailing part shorter
    than a window is left out. Deterministic: no sampling.
    """
    seq_len = model.config.seq_len
    stream = np.asarray(tokens[:max_tokens], dtype=np.int64)
    if len(stream) < 2:
        raise ValueError(f"held-out loss needs at least 2 tokens, got {len(stream)}")
    width = min(seq_len, len(stream) - 1)
    n_windows = (len(stream) - 1) // width
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, n_windows, batch_size):
            rows = range(start, min(start + batch_size, n_windows))
            x = torch.from_numpy(np.stack([stream[r * width:r * width + width] for r in rows]))
            y = torch.from_numpy(np.stack([stream[r * width + 1:r * width + width + 1] for r in rows]))
            logits, _ = model(x.to(device))
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.to(logits.device).reshape(-1),
                                   reduction="sum")
            total += float(loss)
            count += y.numel()
    return total / count


# ---------------------------------------------------------------------------------------- reference text

def _wikitext_detokenize(line: str) -> str:
    """Undo WikiText's tokenisation of one line (Megatron / lm-evaluation-harness ``wikitext_detokenizer``,
    applied per line so a stray quote cannot pair across paragraphs). ``<unk>`` stays: the raw variant is
    not in the shared data, and every arm is scored on the same text."""
    s = line.replace("s '", "s'")
    s = re.sub(r"/' [0-9]/", r"/'[0-9]/", s)
    s = s.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    for p in (":", ";", ".", "!", "?", ","):
        s = s.replace(f" {p} ", f"{p} ")
    s = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", s)
    s = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", s)
    s = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", s)
    s = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', s)
    s = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", s)
    s = s.replace("= = = =", "====").replace("= = =", "===").replace("= =", "==")
    s = s.replace(" \N{DEGREE SIGN} ", "\N{DEGREE SIGN}").replace(" N ", " 1 ").replace(" 's", "'s")
    return s.strip()


def wikitext(data_dir: str, split: str = "test") -> str:
    """WikiText-2 ``split`` ("test" or "valid") as natural text: detokenised lines, blank lines kept as
    paragraph breaks."""
    path = os.path.join(data_dir, "wikitext-2", f"{split}.txt.gz")
    if not os.path.isfile(path):
        raise ConfigError(f"WikiText-2 {split} split not found at {path}: point the data directory at the "
                          f"shared data folder (it holds wikitext-2/)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return "\n".join(_wikitext_detokenize(line) for line in f).strip() + "\n"


def reference_texts(data_dir: str) -> dict[str, str]:
    """Clean reference text for held-out loss: ``{"wikitext2": WikiText-2 test}``. (The harness scores
    each arm's own held-out slice as a token stream with ``heldout_loss`` too.)"""
    return {"wikitext2": wikitext(data_dir, "test")}


def decontamination_texts(task: Task) -> list[str]:
    """The texts whose n-grams mark a training document as contaminated: context + each choice (GPT-3's
    choice, Brown et al. 2020 appendix C), with our prompt template removed so that it neither creates
    n-grams that no web page has nor hides the question's own words."""
    out = []
    for ex in task.examples:
        ctx = ex.context
        if ctx.startswith(QUESTION) and ctx.endswith(ANSWER):
            ctx = ctx[len(QUESTION):-len(ANSWER)]
        out += [ctx + c for c in ex.choices]
    return out
