"""The proxy decoder for data ablations: a GPT-2-style transformer (Radford et al. 2019; nanoGPT's layout).

Data ablations (DataComp-LM, Li et al. 2024; FineWeb, Penedo et al. 2024) train the same small decoder
on two versions of a corpus and compare the models, so the model must be a faithful, boring GPT: pre-LN
blocks, GELU MLP of width 4d, learned positions, input and output embeddings tied, causal
``scaled_dot_product_attention`` (flash attention on GPU), no dropout, and GPT-2's initialisation with
residual projections scaled by 1/sqrt(2 * n_layer). Layers carry no biases (nanoGPT's ``bias=False``:
as good and a little faster). The vocabulary is GPT-2's 50,257 ids padded to 50,304 (a multiple of 64,
for the matrix units); the padding ids are never targets, so they only cost compute.

Presets size the model to the machine: "tiny" for CI, "cpu" for a laptop-sized run in minutes, and three
GPU sizes trained in bf16 with ``torch.compile``. With GPT-2's vocabulary the output layer costs
6 * 50,304 * d FLOPs per token, which dominates the small presets' compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from curate.core.errors import ConfigError

EOT = 50256  # GPT-2's <|endoftext|>: the document separator in token streams


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the decoder. ``seq_len`` is the context length the positions are learned for."""

    seq_len: int
    n_layer: int
    n_head: int
    d_model: int
    vocab_size: int = 50304  # GPT-2's 50257 padded to a multiple of 64

    def __post_init__(self) -> None:
        for name in ("seq_len", "n_layer", "n_head", "d_model", "vocab_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"ModelConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.d_model % self.n_head:
            raise ConfigError(f"ModelConfig.d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})")
        if self.vocab_size <= EOT:
            raise ConfigError(f"ModelConfig.vocab_size must exceed GPT-2's ids (> {EOT}), got {self.vocab_size}")


@dataclass(frozen=True)
class Preset:
    """A model plus the optimisation recipe that goes with it.

    ``batch_size`` is sequences per optimizer step; ``micro_batch`` (default: all of them) is how many go
    through the model at once, the rest by gradient accumulation, so a preset's result does not depend on
    the GPU's memory. ``dtype`` "bfloat16" means bf16 autocast (GPU only; CPU runs stay float32).
    """

    name: str
    model: ModelConfig
    batch_size: int
    lr: float
    min_lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    dtype: str
    compile: bool
    device: str
    micro_batch: int | None = None

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"Preset {self.name!r}: dtype must be 'float32' or 'bfloat16', got {self.dtype!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"Preset {self.name!r}: device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.batch_size < 1 or self.batch_size % self.micro:
            raise ConfigError(
                f"Preset {self.name!r}: batch_size ({self.batch_size}) must be a positive multiple of "
                f"micro_batch ({self.micro})"
            )
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"Preset {self.name!r}: need 0 <= min_lr <= lr, got {self.min_lr} and {self.lr}")

    @property
    def micro(self) -> int:
        return self.micro_batch or self.batch_size

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.model.seq_len


def _gpu(name: str, n_layer: int, d_model: int, lr: float, micro_batch: int | None = None) -> Preset:
    return Preset(
        name, ModelConfig(seq_len=1024, n_layer=n_layer, n_head=d_model // 64, d_model=d_model),
        batch_size=64, lr=lr, min_lr=lr / 10, warmup_steps=200, weight_decay=0.1, grad_clip=1.0,
        dtype="bfloat16", compile=True, device="cuda", micro_batch=micro_batch,
    )


PRESETS: dict[str, Preset] = {
    # CI: 0.79M non-embedding parameters (6.4M in the tied embedding), 2k tokens per step
    "tiny": Preset("tiny", ModelConfig(seq_len=128, n_layer=4, n_head=4, d_model=128), batch_size=16,
                   lr=3e-3, min_lr=3e-4, warmup_steps=20, weight_decay=0.1, grad_clip=1.0,
                   dtype="float32", compile=False, device="cpu"),
    # a few million parameters on a laptop's CPU: 2.4M non-embedding, 8k tokens per step
    "cpu": Preset("cpu", ModelConfig(seq_len=256, n_layer=4, n_head=4, d_model=224), batch_size=32,
                  lr=2e-3, min_lr=2e-4, warmup_steps=30, weight_decay=0.1, grad_clip=1.0,
                  dtype="float32", compile=False, device="cpu"),
    # GPU sizes count all parameters, as GPT-2's "124M" does; 64 x 1024 = 65k tokens per step
    "gpu-20m": _gpu("gpu-20m", n_layer=8, d_model=256, lr=2e-3),     # 19.5M (6.3M non-embedding)
    "gpu-60m": _gpu("gpu-60m", n_layer=10, d_model=512, lr=1.2e-3),  # 57.9M (31.5M non-embedding)
    "gpu-125m": _gpu("gpu-125m", n_layer=12, d_model=768, lr=6e-4, micro_batch=32),  # GPT-2 small, 124M
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or a ConfigError listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.c_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.d_model, 4 * cfg.d_model, bias=False)
        self.c_proj = nn.Linear(4 * cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """GPT-2-style decoder; ``forward`` gives float32 logits and, with targets, the mean cross-entropy."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.seq_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=False)
        self.apply(self._init)
        # GPT-2: residual projections scaled so the residual stream's variance does not grow with depth
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """Final-layer-norm hidden states [B, T, d] for token ids [B, T] (T <= seq_len)."""
        t = idx.shape[1]
        if t > self.config.seq_len:
            raise ValueError(f"sequence of {t} tokens is longer than the model's seq_len {self.config.seq_len}")
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = F.linear(self.hidden(idx), self.wte.weight).float()  # tied output embedding
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy without returning logits: the training step's graph.

        Under bf16 autocast the logits stay bf16 and the float32 up-cast happens inside the loss, which
        ``torch.compile`` fuses into the cross-entropy kernel instead of writing a float32 copy of the
        [B*T, vocab] matrix (the largest tensor of a small model's step).
        """
        logits = F.linear(self.hidden(idx), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` leaves out the token and position embeddings (Kaplan et al.)."""
        n = sum(p.numel() for p in self.parameters())  # the tied output layer is counted once
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Training FLOPs per token, PaLM's appendix B: 6N + 12 * L * d * T.

        N counts every matrix a token passes through: the non-embedding parameters plus the tied output
        layer (vocab x d), which is a real matrix product even though its weights are the embedding's.
        The second term is attention's score and value products.
        """
        c = self.config
        n = self.num_params(non_embedding=True) + c.vocab_size * c.d_model
        return 6.0 * n + 12.0 * c.n_layer * c.d_model * c.seq_len
