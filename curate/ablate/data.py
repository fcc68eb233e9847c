"""The data arms of an ablation: read documents, apply a named filter in-process, decontaminate, split
off a held-out slice and tokenise.

An arm is a set of documents a proxy model trains on. ``--filter NAME`` compares a baseline (every
input document) with a treatment (the documents the filter keeps, with the text the filter leaves:
PII replacement edits text without dropping). Both arms are decontaminated against the evaluation sets
(13-gram overlap) before the split, so no model sees an evaluation item.

The held-out slice is chosen by a hash of ``doc_id`` (never by position), so a document is held out
in every arm that holds it: the treatment's held-out docs are the baseline's held-out docs that the
filter kept, and no model ever trains on any of them.

Only the standard library, numpy, pyarrow and tiktoken are needed here (plus the filter's own stages,
imported when the filter is applied), so ``curate ablate`` runs on a bare GPU machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from curate.core.errors import ConfigError
from curate.core.ids import hash_unit

EOT = 50256  # GPT-2's <|endoftext|>: ends every document in the token stream
HOLDOUT_SEED = 6  # the held-out split's hash seed; fixed so every run and arm agrees on it


@dataclasses.dataclass
class Docs:
    """Documents as parallel lists, sorted by ``doc_id`` (so nothing depends on input sharding)."""

    ids: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, mask) -> Docs:
        return Docs([i for i, m in zip(self.ids, mask, strict=True) if m],
                    [t for t, m in zip(self.texts, mask, strict=True) if m])


@dataclasses.dataclass
class Arm:
    """One arm, ready to train on: token streams of its training docs and its held-out slice."""

    name: str
    docs: int                  # documents in the arm before decontamination
    decontaminated: int        # documents removed for 13-gram overlap with the evaluation sets
    train_docs: int
    heldout_docs: int
    train: np.ndarray          # uint16 GPT-2 ids, every document followed by EOT
    heldout: np.ndarray
    removed: dict[str, int]    # filter reason -> documents (treatment arms of --filter)

    @property
    def fingerprint(self) -> str:
        """What a run's cache key depends on: the exact training token stream."""
        return stream_fingerprint(self.train)

    def summary(self) -> dict:
        return {"docs": self.docs, "decontaminated": self.decontaminated, "train_docs": self.train_docs,
                "heldout_docs": self.heldout_docs, "unique_tokens": int(self.train.size),
                "heldout_tokens": int(self.heldout.size), "fingerprint": self.fingerprint,
                "removed": dict(sorted(self.removed.items()))}


def stream_fingerprint(tokens: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(tokens, dtype=np.uint16).tobytes()).hexdigest()


def input_files(inputs: list[str]) -> list[str]:
    """Parquet files of ``inputs``: files, directories, globs, or curate run dirs (their output/data).

    Raises ConfigError naming the input that matches nothing, before any work.
    """
    from curate.io.parquet import ParquetSource

    specs = []
    for spec in inputs:
        if os.path.isfile(os.path.join(spec, "run.json")):
            spec = os.path.join(spec, "output", "data")
            if not os.path.isdir(spec):
                raise ConfigError(f"run directory {os.path.dirname(spec)!r} has no output/data yet")
        specs.append(spec)
    return [s.path for s in ParquetSource().shards(specs)]


def read_table(files: list[str]) -> pa.Table:
    """Every document of ``files`` in curate's document schema (doc_id derived as the source does)."""
    from curate.io.parquet import ParquetSource

    src = ParquetSource()
    batches = [b for f in files for b in src.read(f, 2000)]
    table = pa.Table.from_batches(batches, src.schema())
    # an input that was itself a run's removed/ rows must not come pre-dropped
    table = table.set_column(table.schema.get_field_index("drop_reason"), "drop_reason",
                             pa.nulls(table.num_rows, pa.string()))
    return table.sort_by("doc_id")


def to_docs(table: pa.Table) -> Docs:
    texts = [t or "" for t in table.column("text").to_pylist()]
    return Docs(table.column("doc_id").to_pylist(), texts)


def check_spec(spec) -> None:
    """ConfigError if ``spec`` cannot run batch by batch in this process (a global dedup stage)."""
    for stage in spec.stages:
        if callable(getattr(stage, "resolve", None)):  # curate.core.pipeline.GlobalStage: needs a run
            raise ConfigError(
                f"filter {spec.name!r} has a global stage ({stage.name}) that needs a whole run: run "
                f"`curate run pipelines/filter.py --filter {spec.name} --input IN --output RUN`, then "
                "`curate ablate --baseline IN --treatment RUN`")
    from curate.core.pipeline import Pipeline
    from curate.io.parquet import ParquetSource

    Pipeline(f"ablate:{spec.name}", ParquetSource(), list(spec.stages)).schemas()  # text docs suffice?


def apply_filter(spec, table: pa.Table) -> tuple[Docs, dict[str, int]]:
    """Run a named filter spec's stages over ``table`` in this process -> (kept docs, reason counts).

    Raises ConfigError when the spec's stages cannot run on text documents (a stage needing ``html``,
    a missing model or list): ``--filter all`` skips such specs, a named one is an error.
    """
    from curate.core.pipeline import Pipeline
    from curate.io.parquet import ParquetSource

    check_spec(spec)
    pipeline = Pipeline(f"ablate:{spec.name}", ParquetSource(), list(spec.stages))
    schemas = pipeline.schemas()
    try:
        pipeline.setup()
    except ConfigError:
        raise
    except Exception as e:  # a stage's model or package is missing on this machine
        raise ConfigError(f"filter {spec.name!r} cannot run here: {type(e).__name__}: {e}") from e
    kept_ids, kept_texts, reasons = [], [], Counter()
    for batch in table.to_batches(max_chunksize=1000):
        out = pipeline.process(batch, schemas)
        for i, t, r in zip(out.column("doc_id").to_pylist(), out.column("text").to_pylist(),
                           out.column("drop_reason").to_pylist(), strict=True):
            if r is None:
                kept_ids.append(i)
                kept_texts.append(t or "")
            else:
                reasons[r] += 1
    return Docs(kept_ids, kept_texts), dict(reasons)


def heldout_mask(ids: list[str], rate: float) -> np.ndarray:
    return np.fromiter((hash_unit(i, HOLDOUT_SEED) < rate for i in ids), dtype=bool, count=len(ids))


def tokenize(texts: list[str], encode_batch: Callable[[list[str]], list[list[int]]]) -> np.ndarray:
    """One uint16 stream: each document's GPT-2 ids followed by EOT (GPT-2's vocabulary fits 16 bits)."""
    parts = [np.append(np.asarray(ids, dtype=np.uint16), np.uint16(EOT)) for ids in encode_batch(texts)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)


def build_arm(name: str, docs: Docs, *, contaminated: Callable[[list[str]], np.ndarray],
              encode_batch: Callable[[list[str]], list[list[int]]], heldout_rate: float,
              removed: dict[str, int] | None = None) -> Arm:
    """Decontaminate ``docs``, split off the held-out slice by doc_id hash, tokenise both parts."""
    hits = np.asarray(contaminated(docs.texts), dtype=bool) if len(docs) else np.zeros(0, bool)
    clean = docs.select(~hits)
    held = heldout_mask(clean.ids, heldout_rate)
    train, heldout = clean.select(~held), clean.select(held)
    return Arm(name, len(docs), int(hits.sum()), len(train), len(heldout),
               tokenize(train.texts, encode_batch), tokenize(heldout.texts, encode_batch), removed or {})
