"""Gopher's repetition and quality rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", Appendix A.1.1 and Table A1), as FineWeb runs them through datatrove's
``GopherRepetitionFilter`` and ``GopherQualityFilter``.

Table A1 thresholds (the defaults here, as in datatrove):

    repetition                                     quality
    duplicate line fraction              0.30      words (non-symbol)             50 .. 100,000
    duplicate paragraph fraction         0.30      mean word length               3 .. 10
    duplicate line character fraction    0.20      hash / ellipsis to word ratio  <= 0.1 each
    duplicate paragraph char fraction    0.20      lines starting with a bullet   <= 90%
    top 2/3/4-gram character fraction    0.20 / 0.18 / 0.16
    duplicate 5..10-gram char fraction   0.15, 0.14, 0.13, 0.12, 0.11, 0.10
                                                   lines ending in an ellipsis    <= 30%
                                                   words with an alphabetic char  >= 80%
                                                   stop words (the, be, to, of, and, that, have, with) >= 2

Decisions follow datatrove 0.10 rule for rule, in its order, with its reason names after our prefix
(``gopher_rep:dup_line_frac``, ``gopher_quality:gopher_short_doc``), so the first failing reason is the
same. Words come from :func:`curate.filters.words.split_words`, a spaCy-free reimplementation of the
spaCy English tokenizer datatrove uses. The n-gram statistics are computed on integer ids with numpy
rather than on joined strings; the results are the same except that datatrove keys its 5..10-gram
duplicates by the words concatenated without a separator, so two different word sequences spelling the
same characters (``"ab c"`` / ``"a bc"``) count as one n-gram there and as two here.

Where datatrove treats a threshold of 0 as "rule off" (``if self.dup_line_frac and ...``), ``None`` turns
a rule off here and 0 is a real threshold.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from curate.core.stage import Filter
from curate.filters.words import PUNCTUATION_SET, split_line_runs, split_paragraphs, split_words

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def _check_frac(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1] or None (rule off), got {value!r}")


def _check_ngrams(name: str, pairs, lo: int) -> None:
    if isinstance(pairs, str) or not all(
        len(p) == 2 and isinstance(p[0], int) and p[0] >= lo and 0.0 <= p[1] <= 1.0 for p in pairs
    ):
        raise ValueError(f"{name} must be (n, fraction) pairs with n >= {lo} and fraction in [0, 1], got {pairs!r}")


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier one, their total characters)."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


class _NGrams:
    """Word n-gram statistics of one document, level by level, on integer ids with numpy.

    An n-gram can only repeat where the (n-1)-gram at the same position repeats, so each level keeps
    just the positions whose n-gram occurs more than once; for most documents few survive past n = 4.
    """

    def __init__(self, words: list[str]):
        vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
        self.n_words = n = len(words)
        self.vocab_size = max(len(vocab), 1)
        self.word_ids = np.fromiter(map(vocab.__getitem__, words), np.int64, n)
        self.cum = np.concatenate(([0], np.cumsum(np.fromiter(map(len, words), np.int64, n))))
        counts = np.bincount(self.word_ids, minlength=1)
        top = int(counts.max()) if n else 0
        pos = np.flatnonzero(counts[self.word_ids] > 1)
        # level n -> (positions of repeated n-grams, their ids, top count, first position of a top n-gram)
        self.levels = {1: (pos, self.word_ids[pos], top, int(np.argmax(counts[self.word_ids] == top)) if n else 0)}

    def level(self, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        k = max(self.levels)
        while k < n:
            pos, ids, _, _ = self.levels[k]
            k += 1
            pos = pos[pos + k - 1 < self.n_words]
            if not len(pos):
                self.levels[k] = (pos, pos, 1, 0)
                continue
            combined = ids[: len(pos)] * self.vocab_size + self.word_ids[pos + k - 1]
            _, inv, counts = np.unique(combined, return_inverse=True, return_counts=True)
            per_pos = counts[inv]
            multi = per_pos > 1
            top = int(counts.max())
            if top > 1:
                self.levels[k] = (pos[multi], inv[multi], top, int(pos[np.argmax(per_pos == top)]))
            else:
                self.levels[k] = (pos[:0], inv[:0], 1, 0)
        return self.levels[n]

    def top_chars(self, n: int) -> int:
        """Characters of the most frequent n-gram (words joined by spaces) times its count.

        Ties go to the n-gram that occurs first, as ``Counter.most_common(1)``; when no n-gram repeats,
        that is the first one.
        """
        _, _, top, start = self.level(n)
        return (int(self.cum[start + n] - self.cum[start]) + n - 1) * top

    def repeated_chars(self, n: int) -> int:
        """datatrove's greedy scan: a repeated n-gram adds its characters and the scan jumps n words."""
        if self.n_words < n:
            return 0
        pos, ids, _, _ = self.level(n)
        if not len(pos):
            return 0
        # an n-gram that occurs once is never a repeat, so visiting it changes nothing: visit only the others
        cum = self.cum
        seen: set[int] = set()
        total = idx = 0
        for p, g in zip(pos.tolist(), ids.tolist(), strict=True):
            if p < idx:
                continue
            if g in seen:
                total += int(cum[p + n] - cum[p])
                idx = p + n
            else:
                seen.add(g)
                idx = p + 1
        return total


@dataclasses.dataclass(frozen=True)
class GopherRepetition(Filter):
    """Drop documents with repeated lines, paragraphs or n-grams (Gopher Table A1, datatrove's rules).

    Rules, in order (reason ``gopher_rep:<rule>``):
        ``empty``: no text at all.
        ``dup_para_frac`` / ``dup_para_char_frac``: paragraphs (split on 2+ newlines) equal to an earlier
            one, as a share of paragraphs / their characters as a share of the text's characters.
        ``dup_line_frac`` / ``dup_line_char_frac``: the same for lines (split on runs of newlines).
        ``top_{n}_gram``: the most frequent word n-gram's characters (words joined by one space) times its
            count, as a share of the text's characters (ties: the first to occur, as ``Counter``).
        ``duplicated_{n}_n_grams``: characters of n-grams that repeat an earlier n-gram, scanning left to
            right and jumping past each repeat, as a share of the text's characters.

    Args:
        dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac: maximum fractions (None:
            rule off).
        top_n_grams: ``(n, max fraction)`` pairs for the top n-gram rules.
        dup_n_grams: ``(n, max fraction)`` pairs for the duplicated n-gram rules.
    """

    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
    name: ClassVar[str] = "gopher_rep"

    def __post_init__(self):
        for f in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"):
            _check_frac(f"gopher_rep.{f}", getattr(self, f))
        # lists from a TOML config become tuples, so the stage stays hashable
        object.__setattr__(self, "top_n_grams", tuple(tuple(p) for p in self.top_n_grams))
        object.__setattr__(self, "dup_n_grams", tuple(tuple(p) for p in self.dup_n_grams))
        _check_ngrams("gopher_rep.top_n_grams", self.top_n_grams, 1)
        _check_ngrams("gopher_rep.dup_n_grams", self.dup_n_grams, 1)

    def rule(self, value: str) -> str | None:
        return self.explain(value)[0]

    def explain(self, text: str) -> tuple[str | None, dict[str, float]]:
        """(failed rule or None, the metrics computed up to the decision)."""
        metrics: dict[str, float] = {}
        if not text:
            return "empty", metrics
        n_chars = len(text)

        paragraphs = split_paragraphs(text)
        dups, dup_chars = _duplicates(paragraphs)
        metrics["dup_para_frac"] = dups / len(paragraphs)
        if self.dup_para_frac is not None and metrics["dup_para_frac"] > self.dup_para_frac:
            return "dup_para_frac", metrics
        metrics["dup_para_char_frac"] = dup_chars / n_chars
        if self.dup_para_char_frac is not None and metrics["dup_para_char_frac"] > self.dup_para_char_frac:
            return "dup_para_char_frac", metrics

        lines = split_line_runs(text)
        dups, dup_chars = _duplicates(lines)
        metrics["dup_line_frac"] = dups / len(lines)
        if self.dup_line_frac is not None and metrics["dup_line_frac"] > self.dup_line_frac:
            return "dup_line_frac", metrics
        metrics["dup_line_char_frac"] = dup_chars / n_chars
        if self.dup_line_char_frac is not None and metrics["dup_line_char_frac"] > self.dup_line_char_frac:
            return "dup_line_char_frac", metrics

        words = split_words(text)
        grams = _NGrams(words)
        for n, frac in self.top_n_grams:
            if len(words) < n:
                continue
            metrics[f"top_{n}_gram"] = grams.top_chars(n) / n_chars
            if metrics[f"top_{n}_gram"] > frac:
                return f"top_{n}_gram", metrics

        for n, frac in self.dup_n_grams:
            metrics[f"duplicated_{n}_n_grams"] = grams.repeated_chars(n) / n_chars
            if metrics[f"duplicated_{n}_n_grams"] > frac:
                return f"duplicated_{n}_n_grams", metrics
        return None, metrics


@dataclasses.dataclass(frozen=True)
class GopherQuality(Filter):
    """Drop documents failing Gopher's quality heuristics (Table A1, datatrove's rules and order).

    "Words" are spaCy-English tokens (:func:`~curate.filters.words.split_words`); "non-symbol words"
    are those with a character outside datatrove's punctuation set.

    Rules, in order (reason ``gopher_quality:<rule>``):
        ``gopher_short_doc`` / ``gopher_long_doc``: non-symbol words outside [min_words, max_words].
        ``gopher_below_avg_threshold`` / ``gopher_above_avg_threshold``: mean length of the non-symbol
            words outside [min_avg_word_length, max_avg_word_length].
        ``gopher_too_many_hashes`` / ``gopher_too_many_ellipsis``: ``#`` count, or ``...`` plus ``…``
            count, per word above max_symbol_word_ratio.
        ``gopher_too_many_bullets``: share of lines (``str.splitlines``) starting with ``•`` or ``-``
            after leading whitespace above max_bullet_lines_ratio.
        ``gopher_too_many_end_ellipsis``: share of lines ending in ``...`` or ``…`` above
            max_ellipsis_lines_ratio.
        ``gopher_below_alpha_threshold``: share of words with an alphabetic character below
            min_alpha_words_ratio (datatrove's ``max_non_alpha_words_ratio``).
        ``gopher_enough_stop_words``: fewer than min_stop_words distinct stop words among the words.

    Args: the thresholds above (None: rule off); stop_words: the words the last rule counts.
    """

    min_words: int | None = 50
    max_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] = STOP_WORDS
    name: ClassVar[str] = "gopher_quality"

    def __post_init__(self):
        if isinstance(self.stop_words, str):
            raise ValueError("gopher_quality.stop_words must be a list of words, not a string")
        object.__setattr__(self, "stop_words", tuple(self.stop_words))
        for f in ("min_words", "max_words", "min_stop_words"):
            v = getattr(self, f)
            if v is not None and (not isinstance(v, int) or v < 0):
                raise ValueError(f"gopher_quality.{f} must be a non-negative integer or None, got {v!r}")
        if self.min_words is not None and self.max_words is not None and self.max_words < self.min_words:
            raise ValueError(f"gopher_quality needs min_words <= max_words, got {self.min_words}, {self.max_words}")
        lo, hi = self.min_avg_word_length, self.max_avg_word_length
        if (lo is not None and lo < 0) or (hi is not None and hi < 0) or (lo is not None and hi is not None and hi < lo):
            raise ValueError(f"gopher_quality needs 0 <= min_avg_word_length <= max_avg_word_length, got {lo}, {hi}")
        if self.max_symbol_word_ratio is not None and self.max_symbol_word_ratio < 0:
            raise ValueError(f"gopher_quality.max_symbol_word_ratio must be >= 0, got {self.max_symbol_word_ratio}")
        for f in ("max_bullet_lines_ratio", "max_ellipsis_lines_ratio", "min_alpha_words_ratio"):
            _check_frac(f"gopher_quality.{f}", getattr(self, f))
        if self.min_stop_words and len(set(self.stop_words)) < self.min_stop_words:
            raise ValueError(
                f"gopher_quality.min_stop_words={self.min_stop_words} can never be met with "
                f"{len(set(self.stop_words))} distinct stop_words"
            )

    def rule(self, value: str) -> str | None:
        return self.explain(value)[0]

    def explain(self, text: str) -> tuple[str | None, dict[str, float]]:
        """(failed rule or None, the metrics computed up to the decision)."""
        metrics: dict[str, float] = {}
        words = split_words(text)
        n_words = len(words)
        kinds = _word_kinds(words)
        symbol = (kinds & _SYMBOL) != 0
        n_plain = n_words - int(symbol.sum())
        metrics["words"] = n_plain
        if self.min_words is not None and n_plain < self.min_words:
            return "gopher_short_doc", metrics
        if self.max_words is not None and n_plain > self.max_words:
            return "gopher_long_doc", metrics

        plain_chars = int((kinds[~symbol] >> 2).sum())
        avg = plain_chars / n_plain if n_plain else float("nan")
        metrics["avg_word_length"] = avg
        if self.min_avg_word_length is not None and avg < self.min_avg_word_length:
            return "gopher_below_avg_threshold", metrics
        if self.max_avg_word_length is not None and avg > self.max_avg_word_length:
            return "gopher_above_avg_threshold", metrics

        per_word = n_words or 1
        metrics["hash_ratio"] = text.count("#") / per_word
        if self.max_symbol_word_ratio is not None and metrics["hash_ratio"] > self.max_symbol_word_ratio:
            return "gopher_too_many_hashes", metrics
        metrics["ellipsis_ratio"] = (text.count("...") + text.count("…")) / per_word
        if self.max_symbol_word_ratio is not None and metrics["ellipsis_ratio"] > self.max_symbol_word_ratio:
            return "gopher_too_many_ellipsis", metrics

        lines = text.splitlines()
        n_lines = len(lines) or 1
        metrics["bullet_lines"] = sum(s.lstrip().startswith(("•", "-")) for s in lines) / n_lines
        if self.max_bullet_lines_ratio is not None and metrics["bullet_lines"] > self.max_bullet_lines_ratio:
            return "gopher_too_many_bullets", metrics
        metrics["ellipsis_lines"] = sum(s.rstrip().endswith(("...", "…")) for s in lines) / n_lines
        if self.max_ellipsis_lines_ratio is not None and metrics["ellipsis_lines"] > self.max_ellipsis_lines_ratio:
            return "gopher_too_many_end_ellipsis", metrics

        metrics["alpha_words"] = int(((kinds & _ALPHA) != 0).sum()) / per_word
        if self.min_alpha_words_ratio is not None and metrics["alpha_words"] < self.min_alpha_words_ratio:
            return "gopher_below_alpha_threshold", metrics

        metrics["stop_words"] = len(set(self.stop_words).intersection(words))
        if self.min_stop_words is not None and metrics["stop_words"] < self.min_stop_words:
            return "gopher_enough_stop_words", metrics
        return None, metrics


_ALPHA, _SYMBOL = 1, 2  # bits of a word's kind; the bits from 4 up hold its length
_KINDS: dict[str, int] = {}
_KINDS_MAX = 200_000


def _kind(word: str) -> int:
    alpha = any(c.isalpha() for c in word)
    symbol = all(c in PUNCTUATION_SET for c in word)
    return (len(word) << 2) | (_SYMBOL if symbol else 0) | (_ALPHA if alpha else 0)


def _word_kinds(words: list[str]) -> np.ndarray:
    """Per word: has an alphabetic character (bit 1), only punctuation (bit 2), length (bits 4+).

    Cached per distinct word (bounded), so a document costs about one dict lookup per word.
    """
    kinds = list(map(_KINDS.get, words))
    if None in kinds:
        if len(_KINDS) >= _KINDS_MAX:
            _KINDS.clear()
        for i, k in enumerate(kinds):
            if k is None:
                kinds[i] = _KINDS[words[i]] = _kind(words[i])
    return np.fromiter(kinds, np.int64, len(kinds))
