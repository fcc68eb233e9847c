"""GPT-2 token counts: FineWeb's ``token_count`` column (Penedo et al. 2024).

FineWeb reports sizes in GPT-2 tokens: datatrove's ``TokensCounter(tokenizer_name_or_path="gpt2")``
runs the Hugging Face GPT-2 tokenizer over each document's text and stores the number of ids (no EOS
token: ``count_eos_token=False``). We compute the same count with tiktoken's Rust BPE, loaded offline
from the original GPT-2 release files (``encoder.json`` + ``vocab.bpe``) in a directory the user
configures, with GPT-2's pre-tokenisation regex. As in the Hugging Face tokenizer, the one special token
``<|endoftext|>`` written literally in a text counts as 1 token (it is an added special token there);
everything else is ordinary byte-level BPE, so the counts equal datatrove's.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

import pyarrow as pa

from curate.core.errors import ConfigError
from curate.core.schema import require, with_field
from curate.core.stage import Stage, set_column

ENV_VAR = "CURATE_TOKENIZER_DIR"
FILES = ("encoder.json", "vocab.bpe")
# GPT-2's pre-tokeniser (OpenAI gpt-2 encoder.py; tiktoken's r50k_base / gpt2 use the same pattern)
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"


def check_dir(directory: str) -> str:
    """``directory`` if it holds GPT-2's files, else a ConfigError naming the path and the parameter."""
    missing = [f for f in FILES if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        raise ConfigError(
            f"GPT-2 tokenizer files {missing} not found in {directory!r}: set tokens.tokenizer_dir (or "
            f"{ENV_VAR}) to a directory holding GPT-2's encoder.json and vocab.bpe"
        )
    return directory


def load_gpt2(directory: str) -> Any:
    """A ``tiktoken.Encoding`` for GPT-2 built from ``directory``/{encoder.json, vocab.bpe}, offline."""
    import tiktoken
    import tiktoken.load

    check_dir(directory)
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(directory, "vocab.bpe"),
        encoder_json_file=os.path.join(directory, "encoder.json"),
    )
    return tiktoken.Encoding(
        name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={ENDOFTEXT: len(ranks)}
    )


@dataclasses.dataclass(frozen=True)
class TokenCount(Stage):
    """Fill ``token_count`` (int64) with the number of GPT-2 BPE tokens of ``text``.

    Never drops a document. A null text counts as the empty string: 0 tokens (so ``token_count`` is never
    null after this stage). By default rows already dropped by an earlier stage are counted too, so
    ``curate stats`` reports the tokens each removal reason cost; ``count_dropped=False`` leaves their
    ``token_count`` as it came and tokenises only the kept documents, as FineWeb (which counts at the end
    of the pipeline) does.

    Args:
        tokenizer_dir: directory with GPT-2's ``encoder.json`` and ``vocab.bpe``; empty: the
            ``CURATE_TOKENIZER_DIR`` environment variable (read where the stage is checked and set up).
        count_dropped: also count rows whose ``drop_reason`` is set.
    """

    tokenizer_dir: str = ""
    count_dropped: bool = True
    name: ClassVar[str] = "tokens"


    def resolved_dir(self) -> str:
        directory = self.tokenizer_dir or os.environ.get(ENV_VAR, "")
        if not directory:
            raise ConfigError(
                f"the tokens stage needs GPT-2's encoder.json and vocab.bpe: set tokens.tokenizer_dir or the "
                f"{ENV_VAR} environment variable to the directory holding them"
            )
        return check_dir(directory)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), drop_reason=pa.string())
        self.resolved_dir()
        return with_field(schema, pa.field("token_count", pa.int64()))

    def setup(self) -> None:
        if self.__dict__.get("_encoding") is None:
            object.__setattr__(self, "_encoding", load_gpt2(self.resolved_dir()))

    def count(self, texts: list[str]) -> list[int]:
        """GPT-2 token counts of ``texts``."""
        self.setup()
        # One thread: engines already run one worker process per core. allowed_special="all" makes a
        # literal <|endoftext|> one token, as the Hugging Face tokenizer datatrove uses does.
        encoded = self._encoding.encode_batch(texts, num_threads=1, allowed_special="all")
        return [len(ids) for ids in encoded]

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        if self.count_dropped:
            rows = list(range(batch.num_rows))
            idx = -1
        else:
            reasons = batch.column("drop_reason").to_pylist()
            rows = [i for i, r in enumerate(reasons) if r is None]
            idx = batch.schema.get_field_index("token_count")
        counts: list[int | None]
        if idx >= 0:
            counts = batch.column(idx).to_pylist()
        else:
            counts = [None] * batch.num_rows
        todo = [i for i in rows if texts[i]]
        for i in rows:
            counts[i] = 0
        for i, n in zip(todo, self.count([texts[i] for i in todo]), strict=True):
            counts[i] = n
        return set_column(batch, "token_count", pa.array(counts, pa.int64()))
