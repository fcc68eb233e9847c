"""A document-length rule: whitespace-separated words within [min_words, max_words].

Gopher (Rae et al. 2021, Table A1) keeps documents of 50 to 100,000 words; those are the defaults.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from curate.core.stage import Filter


@dataclasses.dataclass(frozen=True)
class Length(Filter):
    """Drop documents with fewer than ``min_words`` or more than ``max_words`` words.

    Reasons: ``length:too_short``, ``length:too_long``.
    """

    min_words: int = 50
    max_words: int = 100_000
    name: ClassVar[str] = "length"

    def __post_init__(self):
        if self.min_words < 0 or self.max_words < self.min_words:
            raise ValueError(f"length needs 0 <= min_words <= max_words, got {self.min_words}, {self.max_words}")

    def rule(self, value: str) -> str | None:
        n = len(value.split())
        if n < self.min_words:
            return "too_short"
        if n > self.max_words:
            return "too_long"
        return None
