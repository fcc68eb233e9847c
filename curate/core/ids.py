"""Stable document ids and hash-based deterministic sampling.

A ``doc_id`` is derived once from stable source content (a WARC-Record-ID, an upstream ``id``, or the
url plus a digest of the text), never from a row's position, so retries, re-sharding and other engines
give the same ids. Sampling keeps a row when ``hash(doc_id, seed) < rate``: the same rows on every
engine and rerun, with no RNG stream to keep in step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

_MAX64 = float(2**64)


def doc_id(key: str) -> str:
    """32 hex chars (128 bits) of BLAKE2b over the stable key."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def doc_id_for(source_id: str | None, url: str | None, text: str | None) -> str:
    """The doc_id for a record: its upstream id when it has one, else url + text digest."""
    if source_id:
        return doc_id("id:" + source_id)
    digest = hashlib.blake2b((text or "").encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return doc_id(f"url:{url or ''}\n{digest}")


def hash_unit(key: str, seed: int) -> float:
    """A value in [0, 1) that depends only on ``key`` and ``seed``."""
    h = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=seed.to_bytes(8, "little"))
    return int.from_bytes(h.digest(), "big") / _MAX64


def sample_mask(keys: Iterable[str], rate: float, seed: int) -> np.ndarray:
    """Boolean mask: keep a key when its seeded hash falls below ``rate``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sample rate must be within [0, 1], got {rate}")
    return np.fromiter((hash_unit(k, seed) < rate for k in keys), dtype=bool)
