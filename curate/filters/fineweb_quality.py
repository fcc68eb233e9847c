"""FineWeb's own quality filter (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the
Finest Text Data at Scale", section 3.3.3 and appendix), as datatrove's ``FineWebQualityFilter`` implements
it with FineWeb's thresholds.

Lines are the text split on ``\\n`` with whitespace-only lines left out (they are not stripped).

==================================================  ===========================  ==========  ===================
rule (document dropped when ...)                    parameter                    default     reason
==================================================  ===========================  ==========  ===================
no non-blank line                                                                            ``empty``
share of lines ending in terminal punctuation       ``line_punct_thr``           0.12        ``line_punct_ratio``
is below the threshold (``stop_chars``: Unicode     ``line_punct_exclude_zero``  False
sentence terminals, datatrove's table)
share of lines of at most 30 characters is above    ``short_line_thr``,          0.67, 30    ``short_line_ratio``
                                                    ``short_line_length``
characters in repeated lines (each line after its   ``char_duplicates_ratio``    0.01        ``char_dup_ratio``
first occurrence) over the text's non-newline
characters is above
newlines per word (spaCy English tokens) is above   ``new_line_ratio``           0.3         ``list_ratio``
==================================================  ===========================  ==========  ===================

Words are counted as datatrove counts them (spaCy's blank English tokenizer, whitespace tokens left out),
without spaCy: a text has at least as many such tokens as whitespace-separated chunks, so a document
whose newline count is within ``new_line_ratio`` of its chunk count passes without tokenizing; only the
rest (list-like pages) are tokenized with :func:`curate.filters.words.split_words` (spaCy-compatible).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from curate.core.stage import Filter
from curate.filters.words import split_words

# datatrove's TERMINAL_PUNCTUATION (Unicode sentence terminals): a line ending in one of these "ends in
# punctuation".
TERMINAL_PUNCTUATION = tuple(
    "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965\u104a\u104b"
    "\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944\u1945\u1aa8\u1aa9"
    "\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049"
    "\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9"
    "\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57"
    "\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047"
    "\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6"
    "\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c"
    "\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0"
    "\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c"
    "\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42"
    "\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44"
    "\U00016e98\U0001bc9f\U0001da88"
)


@dataclasses.dataclass(frozen=True)
class FineWebQuality(Filter):
    """FineWeb's line-punctuation, short-line, duplicate-line and list-ratio rules.

    Reasons (datatrove's, checked in this order): ``fineweb_quality:empty``,
    ``fineweb_quality:line_punct_ratio``, ``fineweb_quality:short_line_ratio``,
    ``fineweb_quality:char_dup_ratio``, ``fineweb_quality:list_ratio``.

    Args:
        line_punct_thr: drop when fewer than this share of lines end in ``stop_chars``.
        line_punct_exclude_zero: do not drop for a share of exactly 0 (no line ends in punctuation).
        stop_chars: line endings that count as punctuation; empty: :data:`TERMINAL_PUNCTUATION`.
        short_line_thr: drop when more than this share of lines are short.
        short_line_length: a line of at most this many characters is short.
        char_duplicates_ratio: drop when repeated lines hold more than this share of the characters.
        new_line_ratio: drop when newlines per word exceed this.
    """

    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: tuple[str, ...] = ()
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3
    name: ClassVar[str] = "fineweb_quality"

    def __post_init__(self):
        for field in ("line_punct_thr", "short_line_thr", "char_duplicates_ratio"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ValueError(f"fineweb_quality.{field} must be within [0, 1], got {value!r}")
        if not isinstance(self.new_line_ratio, (int, float)) or self.new_line_ratio < 0:
            raise ValueError(f"fineweb_quality.new_line_ratio must be >= 0, got {self.new_line_ratio!r}")
        if not isinstance(self.short_line_length, int) or self.short_line_length < 0:
            raise ValueError(f"fineweb_quality.short_line_length must be an integer >= 0, got {self.short_line_length!r}")
        if isinstance(self.stop_chars, str) or not all(isinstance(c, str) and c for c in self.stop_chars):
            raise ValueError(f"fineweb_quality.stop_chars must be a list of strings, got {self.stop_chars!r}")
        # config files give lists; keep a hashable tuple
        object.__setattr__(self, "stop_chars", tuple(self.stop_chars))

    def rule(self, value: str) -> str | None:
        text = value
        lines = [line for line in text.split("\n") if not line.isspace() and line]
        if not lines:
            return "empty"
        n = len(lines)
        stops = self.stop_chars or TERMINAL_PUNCTUATION
        ratio = sum(1 for line in lines if line.endswith(stops)) / n
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return "line_punct_ratio"
        short = self.short_line_length
        if sum(1 for line in lines if len(line) <= short) / n > self.short_line_thr:
            return "short_line_ratio"
        seen: set[str] = set()
        dup_chars = 0
        for line in lines:
            if line in seen:
                dup_chars += len(line)
            else:
                seen.add(line)
        if dup_chars / (len(text) - text.count("\n")) > self.char_duplicates_ratio:
            return "char_dup_ratio"
        newlines = text.count("\n")
        # spaCy yields at least one token per whitespace-separated chunk: only near-list pages need tokens
        if newlines / len(text.split()) > self.new_line_ratio and newlines / len(split_words(text)) > self.new_line_ratio:
            return "list_ratio"
        return None
