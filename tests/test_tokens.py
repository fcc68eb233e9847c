import gzip
import json
import os
import pickle
import re
import zipfile
from functools import lru_cache

import pyarrow as pa
import pytest
import regex

from curate.core.errors import ConfigError
from curate.core.schema import DOC_SCHEMA
from curate.filters.tokens import ENV_VAR, GPT2_PATTERN, TokenCount
from tests.conftest import DATA
from tests.test_core import docs as _docs


def docs(texts, reasons=None):
    """Test documents; a text may be None."""
    batch = _docs([t or "" for t in texts], reasons)
    return batch.set_column(0, "text", pa.array(texts, pa.large_string()))

GPT2_DIR = os.path.join(DATA, "tokenizers", "gpt2")


@pytest.fixture(scope="module")
def stage():
    s = TokenCount(tokenizer_dir=GPT2_DIR)
    s.setup()
    return s


def counts(stage, texts, reasons=None):
    return stage.process(docs(texts, reasons)).column("token_count").to_pylist()


class SlowGPT2:
    """OpenAI's original GPT-2 encoder algorithm (gpt-2/src/encoder.py), reimplemented in plain Python:
    bytes -> printable unicode, the pre-tokeniser regex, then repeated merges of the lowest-ranked pair."""

    def __init__(self, directory):
        with open(os.path.join(directory, "encoder.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(directory, "vocab.bpe"), encoding="utf-8") as f:
            merges = [tuple(line.split()) for line in f.read().split("\n")[1:] if line.strip()]
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
            range(ord("®"), ord("ÿ") + 1)
        )
        extra = [b for b in range(256) if b not in printable]
        self.byte_char = {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(extra)}
        self.pattern = regex.compile(GPT2_PATTERN)
        self.bpe = lru_cache(maxsize=None)(self._bpe)

    def _bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            first, second = min(zip(parts, parts[1:], strict=False), key=lambda p: self.ranks.get(p, 1 << 30))
            if (first, second) not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(parts)

    def encode(self, text):
        ids = []
        for piece in self.pattern.findall(text):
            word = "".join(self.byte_char[b] for b in piece.encode("utf-8"))
            ids += [self.encoder[t] for t in self.bpe(word)]
        return ids


@pytest.mark.parametrize(
    "text, n",
    [
        ("Hello world", 2),  # [15496, 995]
        ("Hello world, this is GPT-2.", 10),  # [15496, 995, 11, 428, 318, 402, 11571, 12, 17, 13]
        (" ", 1),
        ("", 0),
        ("<|endoftext|>", 1),  # a special token in the Hugging Face GPT-2 tokenizer datatrove uses
    ],
)
def test_known_counts(stage, text, n):
    assert counts(stage, [text]) == [n]


def test_known_ids(stage):
    assert stage._encoding.encode_ordinary("Hello world, this is GPT-2.") == [
        15496, 995, 11, 428, 318, 402, 11571, 12, 17, 13
    ]


def real_docs():
    """~200 real documents: WikiText-2 articles, GSM8K problems, UDHR in many scripts."""
    with gzip.open(os.path.join(DATA, "wikitext-2", "test.txt.gz"), "rt", encoding="utf-8") as f:
        articles = [a for a in re.split(r"\n \n = (?=[^=])", f.read()) if a.strip()][:60]
    with open(os.path.join(DATA, "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        math = [(p := json.loads(line))["question"] + "\n" + p["answer"] for _, line in zip(range(80), f, strict=False)]
    with zipfile.ZipFile(os.path.join(DATA, "nltk-corpora", "udhr2.zip")) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".txt"))[::6]
        udhr = [z.read(n).decode("utf-8", "replace")[:3000] for n in names]
    return articles + math + udhr


def test_equals_slow_reference_on_real_docs(stage):
    texts = real_docs()
    assert len(texts) >= 200
    slow = SlowGPT2(GPT2_DIR)
    assert counts(stage, texts) == [len(slow.encode(t)) for t in texts]


def test_dropped_and_null_rows(stage):
    texts = ["Hello world", "Hello world", None, ""]
    reasons = [None, "url:blocked_domain", None, "length:too_short"]
    assert counts(stage, texts, reasons) == [2, 2, 0, 0]
    only_kept = TokenCount(tokenizer_dir=GPT2_DIR, count_dropped=False)
    assert counts(only_kept, texts, reasons) == [2, None, 0, None]
    out = stage.process(docs(texts))
    assert out.schema.field("token_count").type == pa.int64()
    assert stage.output_schema(DOC_SCHEMA).equals(DOC_SCHEMA)


def test_tokenizer_dir_from_env_and_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ConfigError, match=ENV_VAR):
        TokenCount().output_schema(DOC_SCHEMA)
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path))):
        TokenCount(tokenizer_dir=str(tmp_path)).output_schema(DOC_SCHEMA)
    monkeypatch.setenv(ENV_VAR, GPT2_DIR)
    assert counts(TokenCount(), ["Hello world"]) == [2]


def test_pickles_small_after_setup(stage):
    blob = pickle.dumps(stage)
    assert len(blob) < 1000
    assert pickle.loads(blob) == stage
