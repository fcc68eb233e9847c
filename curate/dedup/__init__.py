"""Deduplication building blocks (MinHash LSH fuzzy dedup; URL/exact/line dedup to come)."""

from curate.dedup.minhash import (
    SENTINEL,
    MinHashParams,
    band_keys,
    candidate_pairs,
    components,
    jaccard,
    keepers,
    normalize_text,
    optimal_bands_rows,
    shingles,
    signatures,
    verify,
)

__all__ = [
    "SENTINEL",
    "MinHashParams",
    "band_keys",
    "candidate_pairs",
    "components",
    "jaccard",
    "keepers",
    "normalize_text",
    "optimal_bands_rows",
    "shingles",
    "signatures",
    "verify",
]
