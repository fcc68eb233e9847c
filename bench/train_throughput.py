"""Training throughput of ``curate.ablate.train`` against a plain nanoGPT-style trainer, in one process.

Issue 6's bar: at least the throughput of a plain trainer (torch.compile, SDPA attention, bf16 autocast,
fused AdamW) at the same model size on the same GPU. The reference below is nanoGPT's ``train.py`` loop
(Karpathy 2022) cut to what a step does: its model (same shapes as our preset: bias-free, tied
embeddings, SDPA with ``is_causal``), ``torch.compile(model)``, bf16 autocast, fused AdamW with decay on
matrices, batches stacked on the host from random offsets and sent pinned and non-blocking, gradient
accumulation, clipping, a Python LR schedule and ``loss.item()`` every step (its ``log_interval=1``).
Both trainers use the same batch, micro-batch and sequence length and random GPT-2 ids; each is timed
over ``--steps`` steps after warm-up (ours: after its first, compiling, step; see TrainResult).

Run on a GPU:  PYTHONPATH=. python3 bench/train_throughput.py --presets gpu-20m gpu-125m --steps 30
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from curate.ablate.model import GPT, ModelConfig, get_preset
from curate.ablate.train import peak_flops, train

# --------------------------------------------------------------------------- the reference (nanoGPT)


class RefBlock(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.n_head, self.d = c.n_head, c.d_model
        self.ln_1, self.ln_2 = nn.LayerNorm(c.d_model, bias=False), nn.LayerNorm(c.d_model, bias=False)
        self.c_attn = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.attn_proj = nn.Linear(c.d_model, c.d_model, bias=False)
        self.c_fc = nn.Linear(c.d_model, 4 * c.d_model, bias=False)
        self.mlp_proj = nn.Linear(4 * c.d_model, c.d_model, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(b, t, d)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class RefGPT(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c.vocab_size, c.d_model), nn.Embedding(c.seq_len, c.d_model)
        self.h = nn.ModuleList(RefBlock(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.d_model, bias=False)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def reference(data: np.ndarray, preset, steps: int, warmup: int, micro: int) -> float:
    """nanoGPT's loop; returns tokens/s over ``steps`` steps after ``warmup`` steps."""
    c, dev = preset.model, "cuda"
    accum = preset.batch_size // micro
    model = RefGPT(c).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": preset.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=preset.lr, betas=(0.9, 0.95), fused=True)
    model = torch.compile(model)

    def get_batch():
        ix = torch.randint(len(data) - c.seq_len, (micro,))
        x = torch.stack([torch.from_numpy(data[i:i + c.seq_len].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + c.seq_len].astype(np.int64)) for i in ix])
        return x.pin_memory().to(dev, non_blocking=True), y.pin_memory().to(dev, non_blocking=True)

    def lr_at(it, total):
        if it < preset.warmup_steps:
            return preset.lr * (it + 1) / preset.warmup_steps
        ratio = (it - preset.warmup_steps) / max(1, total - preset.warmup_steps)
        return preset.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (preset.lr - preset.min_lr)

    x, y = get_batch()
    t0 = None
    for it in range(warmup + steps):
        if it == warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(it, warmup + steps)
        for _ in range(accum):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                _, loss = model(x, y)
                loss = loss / accum
            x, y = get_batch()  # prefetch while the GPU runs the forward pass, as nanoGPT
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        _ = loss.item() * accum  # nanoGPT logs every step (log_interval = 1)
    torch.cuda.synchronize()
    return steps * preset.tokens_per_step / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["gpu-20m", "gpu-125m"])
    ap.add_argument("--steps", type=int, default=30, help="timed optimizer steps per trainer")
    ap.add_argument("--warmup", type=int, default=3, help="untimed reference steps (compile) first")
    ap.add_argument("--micro-batch", type=int, default=0, help="override the preset's micro-batch (both)")
    args = ap.parse_args()
    data = np.random.default_rng(0).integers(0, 50257, size=20_000_000, dtype=np.int64).astype(np.uint16)
    cpu = [n for n in args.presets if get_preset(n).device == "cpu"]
    for name in cpu:  # CPU presets: our trainer alone (the reference is a GPU trainer)
        p = get_preset(name)
        _, res = train(data, p, 0, (args.steps + 1) * p.tokens_per_step, progress=False)
        threads = os.environ.get("CURATE_TRAIN_THREADS") or len(os.sched_getaffinity(0))
        print(f"{name} (cpu, {threads} threads): ours {res.tokens_per_s:,.0f} tok/s", flush=True)
    args.presets = [n for n in args.presets if n not in cpu]
    if not args.presets:
        return
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU (the presets train in bf16 with torch.compile)")
    dev = torch.device("cuda")
    print(f"{torch.cuda.get_device_name(dev)}, torch {torch.__version__}", flush=True)
    rows = []
    for name in args.presets:
        preset = get_preset(name)
        if args.micro_batch:
            preset = dataclasses.replace(preset, micro_batch=args.micro_batch)
        fpt = GPT(preset.model).flops_per_token()
        peak = peak_flops(dev) or float("nan")
        t = time.perf_counter()
        ref = reference(data, preset, args.steps, args.warmup, preset.micro)
        print(f"{name}: reference {ref:,.0f} tok/s ({time.perf_counter() - t:.0f}s with compile)", flush=True)
        torch.cuda.empty_cache()
        t = time.perf_counter()
        _, res = train(data, preset, 0, (args.steps + 1) * preset.tokens_per_step, progress=False)
        ours = res.tokens_per_s
        print(f"{name}: ours {ours:,.0f} tok/s ({time.perf_counter() - t:.0f}s with compile), "
              f"loss {res.curve[0][1]:.2f} -> {res.curve[-1][1]:.2f}", flush=True)
        torch.cuda.empty_cache()
        rows.append((name, preset, ref, ours, fpt, peak, torch.cuda.max_memory_allocated() / 2**30))
        torch.cuda.reset_peak_memory_stats()
    print("\n| preset | params | batch x micro x seq | reference tok/s (MFU) | ours tok/s (MFU) | ours/ref |")
    print("|---|---|---|---|---|---|")
    for name, p, ref, ours, fpt, peak, _ in rows:
        n = GPT(p.model).num_params(non_embedding=False) / 1e6
        print(f"| {name} | {n:.1f}M | {p.batch_size} x {p.micro} x {p.model.seq_len} | {ref:,.0f} "
              f"({ref * fpt / peak:.1%}) | {ours:,.0f} ({ours * fpt / peak:.1%}) | {ours / ref:.3f} |")


if __name__ == "__main__":
    main()
