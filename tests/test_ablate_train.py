"""The proxy model and trainer of ``curate ablate`` (issue 6): determinism, learning, bad input, sizes."""

from __future__ import annotations

import dataclasses
import gzip
import math
import os

import numpy as np
import pytest
import torch

from curate.ablate.model import GPT, PRESETS, ModelConfig, Preset, get_preset
from curate.ablate.train import lr_at, train
from curate.core.errors import ConfigError
from curate.filters.tokens import load_gpt2
from tests.conftest import DATA, GPT2

# a micro preset for the determinism and error tests: the same code path as "tiny", a fraction of its cost
MICRO = Preset("micro", ModelConfig(seq_len=32, n_layer=2, n_head=2, d_model=32), batch_size=4, lr=3e-3,
               min_lr=3e-4, warmup_steps=2, weight_decay=0.1, grad_clip=1.0, dtype="float32", compile=False,
               device="cpu", micro_batch=2)


@pytest.fixture(scope="module")
def wikitext() -> np.ndarray:
    """GPT-2 ids of WikiText-2's test split (real text), documents' lines joined as in the file."""
    with gzip.open(os.path.join(DATA, "wikitext-2", "test.txt.gz"), "rt", encoding="utf-8") as f:
        text = f.read()
    return np.array(load_gpt2(GPT2).encode_ordinary(text), dtype=np.uint16)


def test_same_seed_same_curve_and_weights_other_seed_differs(wikitext):
    m1, r1 = train(wikitext, MICRO, 7, 5 * 128, progress=False)
    m2, r2 = train(wikitext, MICRO, 7, 5 * 128, progress=False)
    _, r3 = train(wikitext, MICRO, 8, 5 * 128, progress=False)
    assert r1.steps == 5 and r1.tokens == 640
    assert [t for t, _ in r1.curve] == [128, 256, 384, 512, 640]
    assert r1.curve == r2.curve  # bit-identical floats, not approximately equal
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True))
    assert [v for _, v in r3.curve] != [v for _, v in r1.curve]
    assert r1.curve[0][1] != r3.curve[0][1]  # the seed changes the first step already (init and windows)
    assert r1.mfu is None and r1.tokens_per_s > 0
    assert not m1.training  # returned in eval mode
    # the caller's torch settings are restored after a run
    assert not torch.are_deterministic_algorithms_enabled()


def test_tiny_preset_learns_real_text(wikitext):
    # 12 steps of 2,048 tokens: from ln(50304) = 10.83 (uniform) to well below it
    model, r = train(wikitext, "tiny", 0, 12 * 2048, progress=False)
    assert r.steps == 12 and r.tokens == 24_576
    assert abs(r.curve[0][1] - math.log(50304)) < 0.3
    assert r.final_loss < math.log(50304) - 2.0, r.curve  # measured: 8.43 after 12 steps
    assert r.curve[-1][1] < r.curve[0][1] - 2.0
    logits, loss = model(torch.from_numpy(wikitext[:129].astype(np.int64))[None, :128],
                         torch.from_numpy(wikitext[1:129].astype(np.int64))[None])
    assert logits.shape == (1, 128, 50304) and logits.dtype == torch.float32
    assert loss.item() < 9.0


@pytest.mark.parametrize("args, message", [
    ((np.arange(32, dtype=np.uint16), MICRO, 0, 100), "too few for one training window of seq_len + 1 = 33"),
    ((np.arange(100, dtype=np.uint16), "huge", 0, 100), "unknown preset 'huge': choose one of tiny, cpu"),
    ((np.arange(100, dtype=np.uint16), MICRO, 0, 0), "total_tokens must be a positive integer"),
    ((np.arange(100, dtype=np.uint16), MICRO, -1, 100), "seed must be a non-negative integer"),
    ((np.arange(100, dtype=np.float32), MICRO, 0, 100), "1-D numpy array of integer GPT-2 ids"),
    ((np.array([1, 2, 60000] * 40, dtype=np.int32), MICRO, 0, 100), "token ids must lie in [0, 50304)"),
    ((np.arange(100, dtype=np.uint16).tolist(), MICRO, 0, 100), "1-D numpy array"),
])
def test_bad_input_fails_before_work(args, message):
    with pytest.raises(ConfigError) as e:
        train(*args, progress=False)
    assert message in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error for a machine without a GPU")
def test_cuda_without_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="no CUDA GPU is available: use device='cpu'"):
        train(np.arange(2000, dtype=np.uint16), "gpu-20m", 0, 1000, progress=False)
    with pytest.raises(ConfigError, match="no CUDA GPU is available"):
        train(np.arange(1000, dtype=np.uint16), MICRO, 0, 1000, device="cuda", progress=False)


def test_preset_and_config_errors():
    with pytest.raises(ConfigError, match="multiple of n_head"):
        ModelConfig(seq_len=8, n_layer=1, n_head=3, d_model=32)
    with pytest.raises(ConfigError, match="multiple of micro_batch"):
        dataclasses.replace(MICRO, batch_size=5)
    with pytest.raises(ConfigError, match="unknown preset 'gpu'"):
        get_preset("gpu")


@pytest.mark.parametrize("name, non_embedding, total", [
    ("tiny", (0.5e6, 1e6), (6e6, 8e6)),
    ("cpu", (2e6, 5e6), (10e6, 16e6)),
    ("gpu-20m", (5e6, 8e6), (18e6, 22e6)),
    ("gpu-60m", (25e6, 40e6), (55e6, 65e6)),
    ("gpu-125m", (84e6, 86e6), (124e6, 125e6)),  # GPT-2 small: 124M with the padded vocabulary
])
def test_preset_sizes(name, non_embedding, total):
    p = PRESETS[name]
    model = GPT(p.model)
    assert non_embedding[0] <= model.num_params() <= non_embedding[1]
    assert total[0] <= model.num_params(non_embedding=False) <= total[1]
    assert p.model.vocab_size == 50304 and p.model.d_model // p.model.n_head >= 32
    c = p.model
    expect = 6 * (model.num_params() + c.vocab_size * c.d_model) + 12 * c.n_layer * c.d_model * c.seq_len
    assert model.flops_per_token() == expect
    assert (p.device, p.dtype, p.compile) == (("cuda", "bfloat16", True) if name.startswith("gpu")
                                              else ("cpu", "float32", False))


def test_gpt2_small_exact_count():
    # GPT-2 small without biases: 12 layers of 12 d^2 weights + 2 LayerNorm weights, final LayerNorm
    model = GPT(PRESETS["gpu-125m"].model)
    assert model.num_params() == 12 * (12 * 768 * 768 + 2 * 768) + 768
    assert model.num_params(non_embedding=False) == model.num_params() + 50304 * 768 + 1024 * 768


def test_lr_schedule():
    p = dataclasses.replace(MICRO, warmup_steps=10, lr=1.0, min_lr=0.1)
    lrs = [lr_at(s, 100, p) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[9:-1], lrs[10:], strict=True))  # monotone decay after warm-up
    assert lr_at(0, 10, p) == pytest.approx(0.5)  # a 10-step run warms up over 2 steps, not 10
