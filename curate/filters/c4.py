"""C4's heuristic filters (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer", JMLR 21, section 2.2), as datatrove's ``C4QualityFilter`` and
``C4BadWordsFilter`` implement them and as FineWeb (Penedo et al. 2024, section 3.3) configured them.

C4's published rules (section 2.2) and where they live here:

=====================================================  ==============================  =====================
rule                                                   parameter (default)             effect
=====================================================  ==============================  =====================
lines with a word longer than 1000 characters          ``max_word_length`` (1000)      line removed
lines not ending in terminal punctuation (. ! ? " ')   ``filter_no_terminal_punct``    line removed
                                                       (False: FineWeb's setting)
lines with fewer than 3 words                          ``min_words_per_line`` (3)      line removed
"lorem ipsum" anywhere in a kept line                  ``filter_lorem_ipsum`` (True)   ``c4:lorem_ipsum``
lines mentioning "javascript"                          ``filter_javascript`` (True)    line removed
a curly bracket ``{`` in a kept line                   ``filter_curly_bracket`` (True) ``c4:curly_bracket``
cookie / terms-of-use / privacy-policy lines           ``filter_policy`` (True)        line removed
fewer than 5 sentences after line removal              ``min_num_sentences`` (5)       ``c4:too_few_sentences``
a word from the LDNOOBW list (:class:`C4BadWords`)     ``bad_words_dir``               ``c4_badwords:...``
=====================================================  ==============================  =====================

The line rules run in datatrove's order on each stripped line, so the first reason and the kept lines are
the same as datatrove's: a too-long word, then Wikipedia citation markers (``[1]``, ``[edit]``,
``[citation needed]``) are deleted from the line, then terminal punctuation, then the word count (counted
*before* citation removal, as datatrove does), then lorem ipsum (drops the document), javascript, the
curly bracket (drops the document) and the policy phrases. A document whose kept lines hold fewer than
``min_num_sentences`` sentences is dropped; otherwise its text becomes the kept lines joined by ``\\n``.

Sentences are counted as datatrove counts them (spaCy's blank English tokenizer plus its rule-based
``sentencizer``), without spaCy: every kept line holds at least one sentence, so the count is only needed
for documents with fewer kept lines than ``min_num_sentences``; for those, :func:`count_sentences`
reproduces the sentencizer's rule (a sentence ends at a sentence-final punctuation token followed by a
non-punctuation token) over :func:`curate.filters.words.split_words`, our spaCy-compatible English
tokenizer (abbreviations such as ``Mr.`` and ``e.g.`` stay whole, ``word.`` splits).

Bad words: C4 dropped every page containing a word of the "List of Dirty, Naughty, Obscene, and Otherwise
Bad Words" (LDNOOBW). No installed package ships those lists (datatrove downloads them from GitHub at run
time), so :class:`C4BadWords` reads them from ``bad_words_dir`` (one file per language code, one term a
line, as in the LDNOOBW repository).
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from typing import ClassVar

import pyarrow as pa

from curate.core.errors import ConfigError
from curate.core.ids import hash_unit
from curate.core.schema import require, with_field
from curate.core.stage import VERDICTS, Filter, Stage, add_verdicts, set_column
from curate.filters.words import split_words

# --------------------------------------------------------------------------------------------------------
# C4 line rules

CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)

# --------------------------------------------------------------------------------------------------------
# A spaCy-compatible (English) sentence count, without spaCy.

# spaCy's Sentencizer.default_punct_chars: a token that is exactly one of these ends a sentence.
SENTENCE_PUNCT = frozenset(
    "!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e\u1735"
    "\u1736\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1c3b\u1c3c\u1c7e\u1c7f"
    "\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f"
    "\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\U00010a56\U00010a57"
    "\U00011047\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5"
    "\U000111c6\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b"
    "\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf"
    "\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642"
    "\U0001173c\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00016a6e"
    "\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f\U0001da88\uff61\u3002"
)

def _is_punct(token: str) -> bool:
    # spaCy's Lexeme.is_punct: every character is Unicode punctuation (category P*)
    return all(unicodedata.category(c).startswith("P") for c in token)


_PIECES = re.compile(r"\S+|\s+")


def count_sentences(line: str) -> int:
    """Sentences in one stripped line as spaCy's blank English pipeline + ``sentencizer`` count them.

    A new sentence starts at the first token that is neither punctuation nor a sentence-final character
    after a sentence-final token (``.``, ``!``, ``?``, ...). Runs of whitespace other than one space are
    tokens of their own in spaCy, so they too start a sentence after a full stop.
    """
    count, seen_end = 1, False
    for piece in _PIECES.findall(line):
        if piece == " ":
            continue
        tokens = [piece] if piece.isspace() else split_words(piece)
        for tok in tokens:
            final = tok in SENTENCE_PUNCT
            if seen_end and not final and (tok.isspace() or not _is_punct(tok)):
                count += 1
                seen_end = False
            elif final:
                seen_end = True
    return count


# --------------------------------------------------------------------------------------------------------
# The quality stage


@dataclasses.dataclass(frozen=True)
class C4Quality(Stage):
    """C4's line-level cleaning and document rules, with FineWeb's settings.

    Removes lines (see the module table), then drops the document when a kept line contains
    "lorem ipsum" or ``{``, or when the kept lines hold fewer than ``min_num_sentences`` sentences. Kept
    documents get ``text`` rewritten to their kept lines (stripped, joined by ``\\n``) and two columns:
    ``c4_lines_removed`` (lines of the input text, as ``str.splitlines`` counts them, that were removed)
    and ``c4_chars_removed`` (characters by which the text shrank). Both are null for rows this stage
    did not rewrite: rows dropped earlier (passed through untouched) and rows it drops itself (their
    text stays as it came, so ``removed/`` shows the original page).

    Reasons (datatrove's, in its order): ``c4:lorem_ipsum``, ``c4:curly_bracket``,
    ``c4:too_few_sentences``.

    Args:
        split_paragraph: must stay True: lines are ``str.splitlines()`` of the text (C4's setting).
            datatrove's sentence mode (False) needs a sentence splitter and is not offered.
        remove_citations: delete ``[1]``, ``[edit]``, ``[citation needed]`` from each line.
        filter_no_terminal_punct: remove lines that do not end in ``. ? ! " '`` or end in ``...``.
            C4 removes them; FineWeb turned the rule off (False, the default here).
        min_num_sentences: drop documents with fewer sentences in their kept lines; -1 disables.
        min_words_per_line: remove lines with fewer whitespace-separated words; -1 disables.
        max_word_length: remove lines with a word longer than this many characters; -1 disables.
        filter_lorem_ipsum: drop documents with "lorem ipsum" (case-insensitive) in a kept line.
        filter_javascript: remove lines mentioning "javascript" (case-insensitive).
        filter_curly_bracket: drop documents with ``{`` in a kept line.
        filter_policy: remove lines with a cookie / terms-of-use / privacy-policy phrase.
    """

    split_paragraph: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    name: ClassVar[str] = "c4"

    def __post_init__(self):
        if self.split_paragraph is not True:
            raise ValueError("c4.split_paragraph must be True: only C4's line mode (split on newlines) is offered")
        for field in ("min_num_sentences", "min_words_per_line", "max_word_length"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < -1:
                raise ValueError(f"c4.{field} must be an integer >= 0, or -1 to disable; got {value!r}")
        for field in ("remove_citations", "filter_no_terminal_punct", "filter_lorem_ipsum",
                      "filter_javascript", "filter_curly_bracket", "filter_policy"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"c4.{field} must be true or false, got {getattr(self, field)!r}")

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), drop_reason=pa.string())
        schema = with_field(schema, pa.field("c4_lines_removed", pa.int64()))
        return with_field(schema, pa.field("c4_chars_removed", pa.int64()))

    def clean(self, text: str) -> tuple[str | None, str, int]:
        """``(failed_rule, new_text, lines_removed)``; ``failed_rule`` is None when the document is kept."""
        lines = text.splitlines()
        kept: list[str] = []
        max_len = self.max_word_length
        min_words = self.min_words_per_line
        for raw in lines:
            line = raw.strip()
            words = line.split()
            if max_len != -1 and len(line) > max_len and any(len(w) > max_len for w in words):
                continue
            if self.remove_citations and "[" in line:
                line = CITATION_RE.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                continue
            if len(words) < min_words:
                continue
            low = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in low:
                return "lorem_ipsum", text, 0
            if self.filter_javascript and "javascript" in low:
                continue
            if self.filter_curly_bracket and "{" in line:
                return "curly_bracket", text, 0
            if self.filter_policy and any(p in low for p in POLICY_SUBSTRINGS):
                continue
            kept.append(line)
        # every kept line holds at least one sentence: count exactly only when that is not enough
        if len(kept) < self.min_num_sentences:
            total = 0
            for line in kept:
                total += count_sentences(line)
                if total >= self.min_num_sentences:
                    break
            if total < self.min_num_sentences:
                return "too_few_sentences", text, 0
        return None, "\n".join(kept).strip(), len(lines) - len(kept)

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        reasons = batch.column("drop_reason").to_pylist()
        texts = batch.column("text").to_pylist()
        n = batch.num_rows
        lines_removed: list[int | None] = [None] * n
        chars_removed: list[int | None] = [None] * n
        prefix = self.name + ":"
        # evaluate-all: also judge rows dropped earlier (the pipeline records this stage's own drops)
        judged: list[str | None] | None = [None] * n if VERDICTS.name in batch.schema.names else None
        for i in range(n):
            if reasons[i] is not None:
                if judged is not None and texts[i]:
                    failed = self.clean(texts[i])[0]
                    judged[i] = prefix + failed if failed else None
                continue
            text = texts[i] or ""
            failed, new_text, removed = self.clean(text)
            if failed:
                reasons[i] = prefix + failed
                continue
            lines_removed[i] = removed
            chars_removed[i] = len(text) - len(new_text)
            texts[i] = new_text
        batch = set_column(batch, "text", pa.array(texts, batch.schema.field("text").type))
        batch = set_column(batch, "drop_reason", pa.array(reasons, pa.string()))
        batch = set_column(batch, "c4_lines_removed", pa.array(lines_removed, pa.int64()))
        batch = set_column(batch, "c4_chars_removed", pa.array(chars_removed, pa.int64()))
        return add_verdicts(batch, judged) if judged is not None else batch


# --------------------------------------------------------------------------------------------------------
# Bad words

# The LDNOOBW languages datatrove knows (the repository's file names).
BADWORDS_LANGUAGES = (
    "ar", "cs", "da", "de", "en", "eo", "es", "fa", "fi", "fil", "fr", "fr-CA-u-sd-caqc", "hi", "hu", "it",
    "ja", "kab", "ko", "nl", "no", "pl", "pt", "ru", "sv", "th", "tlh", "tr", "zh",
)
# Common subwords in languages written without spaces (each hit > 10% of that language's pages in C4's
# multilingual work); datatrove removes them from every list.
BADWORDS_ALLOWLIST = frozenset({"sm", "グロ", "女の子", "性"})
# Languages matched as plain substrings: no word boundaries to anchor on.
UNSEGMENTED = ("ja", "th", "zh")
_WORD_RUN = re.compile(r"\w+")


class _Matcher:
    """``search(lowered_text) -> bool`` equal to datatrove's regex ``(?:\\W|^)(w1|w2|...)(?:\\W|$)``.

    A term made only of word characters matches exactly when it equals a maximal run of word characters
    in the text, so those are one set lookup over the text's ``\\w+`` runs. Every word-character run of a
    longer term ("ball sack", "a$$") is also a maximal run of the text wherever the term matches, so such
    a term's own regex runs only when all its runs occur in the text.
    """

    def __init__(self, words: set[str], unsegmented: bool):
        self.unsegmented = unsegmented
        if unsegmented:
            self.regex = re.compile("|".join(re.escape(w) for w in sorted(words))) if words else None
            return
        self.plain = frozenset(w for w in words if w and _WORD_RUN.fullmatch(w))
        self.rest = [
            (w, frozenset(_WORD_RUN.findall(w)), re.compile(rf"(?:\W|^){re.escape(w)}(?:\W|$)"))
            for w in sorted(words - self.plain)
        ]

    def search(self, text: str) -> bool:
        if self.unsegmented:
            return self.regex is not None and self.regex.search(text) is not None
        runs: set[str] = set()
        for chunk in set(text.split()):  # \w is isalnum() or "_": most chunks are one run
            if chunk.isalnum():
                runs.add(chunk)
            else:
                runs.update(_WORD_RUN.findall(chunk))
        if not self.plain.isdisjoint(runs):
            return True
        return any(need <= runs and w in text and rx.search(text) is not None for w, need, rx in self.rest)


def load_badwords(path: str) -> set[str]:
    """The terms of one LDNOOBW list file (stripped lines, as datatrove reads them), less the allowlist."""
    with open(path, encoding="utf-8") as f:
        words = {line.strip() for line in f}
    return words - BADWORDS_ALLOWLIST


@dataclasses.dataclass(frozen=True)
class C4BadWords(Filter):
    """Drop documents containing a term of the LDNOOBW list for their language (C4, section 2.2).

    The text is lowercased; a term must be flanked by non-word characters or the text's ends, except in
    Japanese, Thai and Chinese where any occurrence counts (datatrove's rule). The document's language is
    its ``language`` column, or ``default_language`` where that is null or absent.

    Reasons: ``c4_badwords:document_removed_with_badwords`` (datatrove's), ``c4_badwords:missing_language``.
    ``bad_words_dir`` defaults to the ``CURATE_BAD_WORDS_DIR`` environment variable.

    Args:
        bad_words_dir: directory of LDNOOBW list files named by language code (``en``, ``de``, ...), e.g. a
            checkout of github.com/LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words. Required.
        keep_fraction: keep this share of the documents that contain a bad word. The draw is
            ``hash(doc_id, seed) < keep_fraction`` (datatrove draws from an RNG stream), so reruns and
            engines agree.
        seed: seed of that draw.
        fail_on_missing_language: a document in a language without a list is dropped with the counted
            reason ``c4_badwords:missing_language`` (True; datatrove raises and loses the whole task) or
            kept (False).
        default_language: language of documents without one.
    """

    bad_words_dir: str = ""
    keep_fraction: float = 0.0
    seed: int = 0
    fail_on_missing_language: bool = True
    default_language: str = "en"
    name: ClassVar[str] = "c4_badwords"

    def __post_init__(self):
        if not 0.0 <= self.keep_fraction <= 1.0:
            raise ValueError(f"c4_badwords.keep_fraction must be within [0, 1], got {self.keep_fraction}")
        if not isinstance(self.seed, int):
            raise ValueError(f"c4_badwords.seed must be an integer, got {self.seed!r}")
        if not self.default_language:
            raise ValueError("c4_badwords.default_language must be a language code such as 'en'")


    @property
    def directory(self) -> str:
        return self.bad_words_dir or os.environ.get("CURATE_BAD_WORDS_DIR", "")

    def list_path(self, language: str) -> str | None:
        """The list file for ``language``, None if there is none; ConfigError if the directory is unset."""
        if not self.directory:
            raise ConfigError(
                "c4_badwords needs the LDNOOBW word lists, which no installed package ships: set "
                "c4_badwords.bad_words_dir (or CURATE_BAD_WORDS_DIR) to a directory of list files named by language code (en, de, ...), "
                "e.g. a checkout of LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words"
            )
        if not os.path.isdir(self.directory):
            raise ConfigError(f"c4_badwords.bad_words_dir {self.directory!r} is not a directory")
        if language not in BADWORDS_LANGUAGES:
            return None
        path = os.path.join(self.directory, language)
        return path if os.path.isfile(path) else None

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        schema = super().output_schema(schema)
        if self.list_path(self.default_language) is None and self.fail_on_missing_language:
            raise ConfigError(
                f"c4_badwords.bad_words_dir {self.directory!r} has no list for the default language "
                f"{self.default_language!r}: add the file or set c4_badwords.fail_on_missing_language=false"
            )
        if self.keep_fraction > 0:
            require(schema, self.name, doc_id=pa.string())
        return schema

    def matcher(self, language: str) -> _Matcher | None:
        cache = self.__dict__.setdefault("_matchers", {})
        if language not in cache:
            path = self.list_path(language)
            if path is None:
                cache[language] = None
            else:
                cache[language] = _Matcher(load_badwords(path), language in UNSEGMENTED)
        return cache[language]

    def setup(self) -> None:
        self.matcher(self.default_language) if self.fail_on_missing_language else None

    def has_badwords(self, text: str, language: str | None = None) -> bool | None:
        """Whether ``text`` holds a listed term; None when its language has no list."""
        m = self.matcher(language or self.default_language)
        return None if m is None else m.search(text.lower())

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        reasons = batch.column("drop_reason").to_pylist()
        texts = batch.column("text").to_pylist()
        n = batch.num_rows
        idx = batch.schema.get_field_index("language")
        langs = batch.column(idx).to_pylist() if idx >= 0 else [None] * n
        idx = batch.schema.get_field_index("doc_id")
        ids = batch.column(idx).to_pylist() if idx >= 0 else [None] * n
        reason = self.name + ":document_removed_with_badwords"
        for i in range(n):
            if reasons[i] is not None:
                continue
            found = self.has_badwords(texts[i] or "", langs[i])
            if found is None:  # a document can fail, a shard must not: counted, not raised
                if self.fail_on_missing_language:
                    reasons[i] = self.name + ":missing_language"
                continue
            if not found:
                continue
            if self.keep_fraction > 0 and hash_unit(ids[i] or "", self.seed) < self.keep_fraction:
                continue
            reasons[i] = reason
        return set_column(batch, "drop_reason", pa.array(reasons, pa.string()))
