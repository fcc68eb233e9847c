"""Deduplication building blocks: MinHash LSH fuzzy dedup in :mod:`curate.dedup.minhash` (URL, exact and
line-level dedup to come)."""
