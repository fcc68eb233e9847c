"""Train the proxy decoder on a token stream: nanoGPT's recipe with a deterministic data order.

AdamW (beta2 0.95, decoupled weight decay on matrices only, not on norms), linear warm-up then cosine
decay to ``min_lr``, gradient-norm clipping (GPT-3's recipe, Brown et al. 2020, appendix B). Each step
draws ``batch_size`` random windows of ``seq_len + 1`` tokens from the stream with
``np.random.default_rng(seed)``; the same seed also seeds the weights' initialisation (always done on
the CPU), so a seed fixes init and data order on any device, and on the CPU the run is bit-identical
(deterministic algorithms, a fixed thread count).

Speed on a GPU comes from keeping the host out of the loop: the whole token stream and every step's
window offsets are copied to the device once, so a step gathers its batch on the GPU with no host work
and no host-to-device copy; losses stay on the device and are read back in blocks, so no step waits on
a ``.item()``; the loss function (model plus cross-entropy) is one ``torch.compile`` graph in bf16
autocast, and AdamW is the fused kernel.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from curate.ablate.model import GPT, Preset, get_preset
from curate.core.errors import ConfigError

# Dense bf16 peak FLOP/s by GPU name (datasheets); MFU is None for a GPU not listed here and on CPU.
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12))


@dataclass
class TrainResult:
    """What one training run did. ``curve`` has one (tokens seen, train loss) point per optimizer step.

    ``tokens_per_s`` and ``mfu`` are the steady rate: the first step (which compiles, on GPU) is left out
    when there is more than one. ``final_loss`` is the mean train loss over the last tenth of the steps.
    """

    tokens: int
    steps: int
    seconds: float
    tokens_per_s: float
    mfu: float | None
    final_loss: float
    curve: list[tuple[int, float]] = field(default_factory=list)


def peak_flops(device: torch.device) -> float | None:
    """The GPU's dense bf16 peak from its name, None when unknown or on CPU."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16 if key in name), None)


def lr_at(step: int, steps: int, preset: Preset) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``lr`` to ``min_lr`` at the last step.

    A short run keeps warm-up to at most a fifth of its steps, so it still reaches the cosine phase.
    """
    warmup = min(preset.warmup_steps, max(1, steps // 5))
    if step < warmup:
        return preset.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - 1 - warmup)
    return preset.min_lr + 0.5 * (preset.lr - preset.min_lr) * (1.0 + math.cos(math.pi * progress))


def check_inputs(tokens: np.ndarray, preset: Preset | str, seed: int, total_tokens: int,
                 device: str | None) -> tuple[Preset, torch.device]:
    """Every input problem as a ConfigError that says what to change, before any work starts."""
    if isinstance(preset, str):
        preset = get_preset(preset)
    if not isinstance(tokens, np.ndarray) or tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise ConfigError("tokens must be a 1-D numpy array of integer GPT-2 ids (uint16 or int32), got "
                          f"{type(tokens).__name__} {getattr(tokens, 'dtype', '')} {getattr(tokens, 'shape', '')}")
    cfg = preset.model
    if tokens.size < cfg.seq_len + 1:
        raise ConfigError(f"{tokens.size:,} tokens are too few for one training window of seq_len + 1 = "
                          f"{cfg.seq_len + 1} tokens (preset {preset.name!r}): give more data or a smaller preset")
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= cfg.vocab_size:
        raise ConfigError(f"token ids must lie in [0, {cfg.vocab_size}), found {lo}..{hi}: not GPT-2 ids?")
    if isinstance(total_tokens, bool) or not isinstance(total_tokens, (int, np.integer)) or total_tokens < 1:
        raise ConfigError(f"total_tokens must be a positive integer, got {total_tokens!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    name = device or preset.device
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {name!r}: use 'cpu' or 'cuda'") from e
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r} is not supported: use 'cpu' or 'cuda'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for (preset {preset.name!r}) but no CUDA GPU is available: "
                          "use device='cpu' or a CPU preset ('tiny', 'cpu')")
    return preset, dev


@contextlib.contextmanager
def _cpu_determinism(threads: int):
    """Deterministic kernels and a fixed thread count for the run; the caller's settings come back after."""
    was_det, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_det)
        torch.set_num_threads(was_threads)


class _Progress:
    """tqdm on stderr counting tokens (so its rate reads tokens/s); plain lines if tqdm is missing."""

    def __init__(self, total: int, enabled: bool, desc: str):
        self.bar, self.enabled, self.done, self.t0 = None, enabled, 0, time.perf_counter()
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="tok", unit_scale=True, desc=desc, file=sys.stderr,
                                dynamic_ncols=True)
            except ImportError:
                pass

    def update(self, tokens: int, loss: float) -> None:
        self.done += tokens
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self.bar.update(tokens)
        elif self.enabled:
            rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
            print(f"train: {self.done:,} tokens, loss {loss:.3f}, {rate:,.0f} tokens/s", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _optimizer(model: GPT, preset: Preset, dev: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (linear weights, embeddings) only, as nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": preset.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    extra = {"fused": True} if dev.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=preset.lr, betas=(0.9, 0.95), eps=1e-8, **extra)


def train(tokens: np.ndarray, preset: Preset | str, seed: int, total_tokens: int, *,
          device: str | None = None, progress: bool = True) -> tuple[GPT, TrainResult]:
    """Train a fresh ``GPT(preset.model)`` on ``tokens`` for ``total_tokens`` (rounded up to whole steps).

    ``tokens`` is one stream of GPT-2 ids with documents separated by EOT (50256); windows may cross
    document boundaries, as in GPT-2's and nanoGPT's training. ``device`` overrides the preset's; a bf16
    preset run on the CPU trains in float32 without compiling. Returns the model in eval mode (on
    ``device``, not compiled) and the run's numbers.
    """
    preset, dev = check_inputs(tokens, preset, seed, total_tokens, device)
    cfg, micro = preset.model, preset.micro
    accum = preset.batch_size // micro
    steps = -(-int(total_tokens) // preset.tokens_per_step)
    cuda = dev.type == "cuda"
    # a fixed CPU thread count (CURATE_TRAIN_THREADS, default: the cores this process may use); on a
    # machine shared with other jobs fewer threads can be faster, as OpenMP threads then wait on each other
    threads = int(os.environ.get("CURATE_TRAIN_THREADS", 0)) or (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    with contextlib.nullcontext() if cuda else _cpu_determinism(threads):
        torch.manual_seed(seed)
        model = GPT(cfg)  # initialised on the CPU: the same weights for a seed on every device
        # every window start of the run, drawn up front: [steps, batch] offsets into the stream
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, tokens.size - cfg.seq_len, size=(steps, preset.batch_size), dtype=np.int64)
        model.to(dev).train()
        stream = torch.from_numpy(tokens.astype(np.int32, copy=False)).to(dev)
        starts_dev = torch.from_numpy(starts).to(dev)
        window = torch.arange(cfg.seq_len + 1, device=dev)
        opt = _optimizer(model, preset, dev)
        loss_fn = torch.compile(model.loss) if cuda and preset.compile else model.loss
        bf16 = cuda and preset.dtype == "bfloat16"
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
        params = [p for g in opt.param_groups for p in g["params"]]

        bar = _Progress(steps * preset.tokens_per_step, progress, f"train {preset.name} seed {seed}")
        read_every = 25 if cuda else 1  # GPU: one host sync per 25 steps
        pending: list[torch.Tensor] = []
        losses: list[float] = []
        t0 = time.perf_counter()
        t_first = None
        for step in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps, preset)
            total = torch.zeros((), device=dev)
            for m in range(accum):
                rows = starts_dev[step, m * micro:(m + 1) * micro]
                batch = stream[rows[:, None] + window].long()  # [micro, seq_len + 1], gathered on device
                with autocast():
                    loss = loss_fn(batch[:, :-1], batch[:, 1:])
                (loss / accum).backward()
                total += loss.detach()
            torch.nn.utils.clip_grad_norm_(params, preset.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            pending.append(total / accum)
            if step == 0 or len(pending) >= read_every or step == steps - 1:
                block = torch.stack(pending).tolist()  # the only host sync: once per block of steps
                pending.clear()
                losses += block
                if step == 0:
                    t_first = time.perf_counter()
                if not all(math.isfinite(v) for v in block):
                    bar.close()
                    raise FloatingPointError(f"training loss became {block[-1]} at step {step + 1} of {steps} "
                                             f"(preset {preset.name!r}, lr {preset.lr}): lower the learning rate")
                bar.update(len(block) * preset.tokens_per_step, block[-1])
        if cuda:
            torch.cuda.synchronize(dev)
        t_end = time.perf_counter()
        bar.close()
    seconds = t_end - t0
    tokens_seen = steps * preset.tokens_per_step
    if steps > 1:
        rate = (steps - 1) * preset.tokens_per_step / max(t_end - t_first, 1e-9)
    else:
        rate = tokens_seen / max(seconds, 1e-9)
    peak = peak_flops(dev)
    mfu = rate * model.flops_per_token() / peak if peak else None
    tail = losses[-max(1, steps // 10):]
    curve = [((i + 1) * preset.tokens_per_step, v) for i, v in enumerate(losses)]
    result = TrainResult(tokens=tokens_seen, steps=steps, seconds=seconds, tokens_per_s=rate, mfu=mfu,
                         final_loss=float(sum(tail) / len(tail)), curve=curve)
    return model.eval(), result
