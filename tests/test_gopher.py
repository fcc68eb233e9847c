import gzip
import json
import os

import pyarrow as pa
import pytest

from curate.core.schema import DOC_SCHEMA
from curate.filters.gopher import GopherQuality, GopherRepetition
from curate.filters.words import split_line_runs, split_paragraphs, split_words
from tests.conftest import DATA

# a plain English paragraph of ~110 words that passes every rule of both filters
PROSE = (
    "The committee met on Tuesday to review the budget for the coming year. Members agreed that the "
    "library needs new shelving, and they voted to fund repairs to the roof before winter. A local "
    "historian presented a short report on the building's original architect, whose drawings were found "
    "in an archive last spring. Several residents asked whether the reading room could stay open later "
    "in the evening; the director said she would study the cost of extra staff. The meeting closed with "
    "a discussion of the summer programme for children, which drew record numbers last year, and a plan "
    "to invite authors from neighbouring towns to speak with students about writing."
)


def docs(texts, reasons=None):
    n = len(texts)
    cols = {f.name: pa.nulls(n, f.type) for f in DOC_SCHEMA}
    cols["text"] = pa.array(texts, pa.large_string())
    if reasons:
        cols["drop_reason"] = pa.array(reasons, pa.string())
    return pa.RecordBatch.from_arrays(list(cols.values()), schema=DOC_SCHEMA)


def words(n, vocab=200):
    # n distinct-ish words of 5 letters (no n-gram repeats for n >= 2 within vocab**2)
    return " ".join(f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}x" for i in range(n))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "gopher_rep:empty"),
        ("I am your father.\n\n" * 4 + PROSE, "gopher_rep:dup_para_frac"),
        (PROSE + "\n\n" + PROSE + "\n\nshort\n\nother", "gopher_rep:dup_para_char_frac"),
        ("I am your father.\n" * 4, "gopher_rep:dup_line_frac"),
        (PROSE + "\n" + PROSE + "\na\nb\nc", "gopher_rep:dup_line_char_frac"),
        (words(40) + " big cat " * 12, "gopher_rep:top_2_gram"),
        (words(60) + " big fat cat " * 9, "gopher_rep:top_3_gram"),
        (words(80) + " the big fat cat " * 7, "gopher_rep:top_4_gram"),
        (words(150) + " " + words(30) + " " + words(30), "gopher_rep:duplicated_5_n_grams"),
    ],
)
def test_repetition_reasons(text, reason):
    assert GopherRepetition().process(docs([text])).column("drop_reason").to_pylist() == [reason]


def test_repetition_duplicated_n_grams_at_each_n():
    # a run of 12 distinct words repeated: a duplicated n-gram for every n <= 12
    base = words(60)
    rep = " ".join(base.split()[:12])
    text = base + " " + rep + " " + rep
    for n, frac in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)):
        assert GopherRepetition(dup_n_grams=((n, frac),)).rule(text) == f"duplicated_{n}_n_grams"
    assert GopherRepetition(dup_n_grams=((10, 0.99),)).rule(text) is None
    assert GopherRepetition(dup_n_grams=((13, 0.01),)).rule(text) is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("one two three", "gopher_quality:gopher_short_doc"),
        ("abc " * 100_001, "gopher_quality:gopher_long_doc"),
        ("a an ox by " * 20 + "the and", "gopher_quality:gopher_below_avg_threshold"),
        ("internationalisation " * 60 + "the and", "gopher_quality:gopher_above_avg_threshold"),
        (PROSE + " #tag" * 20, "gopher_quality:gopher_too_many_hashes"),
        (PROSE + " wait..." * 20, "gopher_quality:gopher_too_many_ellipsis"),
        ("\n".join("- " + s for s in PROSE.split(". ")), "gopher_quality:gopher_too_many_bullets"),
        ("\n".join(s + " …" for s in PROSE.split(". ")), "gopher_quality:gopher_too_many_end_ellipsis"),
        (PROSE + " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30",
         "gopher_quality:gopher_below_alpha_threshold"),
        (" ".join(w for w in PROSE.split() if w.lower() not in ("the", "and", "to", "that", "with")),
         "gopher_quality:gopher_enough_stop_words"),
    ],
)
def test_quality_reasons(text, reason):
    assert GopherQuality().process(docs([text])).column("drop_reason").to_pylist() == [reason]


def test_prose_passes_both():
    for f in (GopherRepetition(), GopherQuality()):
        assert f.rule(PROSE) is None


def test_real_documents():
    # WikiText-2 is pre-tokenised (" , " and " @-@ " are words), GSM8K answers are mostly arithmetic:
    # both are repetition-clean but fall below Gopher's 80% alphabetic-word share (datatrove agrees)
    with gzip.open(os.path.join(DATA, "wikitext-2", "test.txt.gz"), "rt", encoding="utf-8") as f:
        article = " = " + f.read().split("\n = ")[1]
    with open(os.path.join(DATA, "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        q = json.loads(f.readline())
    problem = q["question"] + "\n" + q["answer"]
    for text in (article, problem):
        assert GopherRepetition().rule(text) is None
        assert GopherQuality().rule(text) == "gopher_below_alpha_threshold"
    # the same article with WikiText's tokenisation undone passes
    plain = article.replace(" @-@ ", "-").replace(" , ", ", ").replace(" . ", ". ").replace("<unk>", "Smith")
    assert GopherQuality().explain(plain)[1]["alpha_words"] > GopherQuality().explain(article)[1]["alpha_words"]


def test_in_pipeline_batch_dropped_rows_pass_through():
    from curate.core.pipeline import Pipeline

    batch = docs([PROSE, "I am your father.\n" * 4, "tiny", PROSE], [None, None, None, "earlier:rule"])
    stages = [GopherRepetition(), GopherQuality()]
    out = batch
    for s in stages:
        s.setup()
        out = s.process(out)
    assert out.column("drop_reason").to_pylist() == [
        None, "gopher_rep:dup_line_frac", "gopher_quality:gopher_short_doc", "earlier:rule"
    ]
    assert Pipeline is not None  # the stages are plain map stages: output schema is the input's
    for s in stages:
        assert s.output_schema(DOC_SCHEMA) == DOC_SCHEMA


def test_parameter_validation():
    with pytest.raises(ValueError, match="dup_line_frac"):
        GopherRepetition(dup_line_frac=1.5)
    with pytest.raises(ValueError, match="top_n_grams"):
        GopherRepetition(top_n_grams=((0, 0.2),))
    with pytest.raises(ValueError, match="min_words"):
        GopherQuality(min_words=100, max_words=10)
    with pytest.raises(ValueError, match="avg_word_length"):
        GopherQuality(min_avg_word_length=5, max_avg_word_length=4)
    with pytest.raises(ValueError, match="stop_words"):
        GopherQuality(stop_words="the")
    with pytest.raises(ValueError, match="min_stop_words"):
        GopherQuality(stop_words=["the"], min_stop_words=2)
    assert GopherRepetition(top_n_grams=[[2, 0.2]]).top_n_grams == ((2, 0.2),)
    assert GopherQuality(max_symbol_word_ratio=None).rule(PROSE + " #tag" * 20) is None
    assert hash(GopherRepetition()) == hash(GopherRepetition())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("I can't go, don't ask.", ["I", "ca", "n't", "go", ",", "do", "n't", "ask", "."]),
        ("e.g. Mr. Smith's U.S. office", ["e.g.", "Mr.", "Smith", "'s", "U.S.", "office"]),
        ("well-known 3.5 1,000 $5.00 10km", ["well", "-", "known", "3.5", "1,000", "$", "5.00", "10", "km"]),
        ("see http://x.com/a?b=1). end.Next", ["see", "http://x.com/a?b=1", ")", ".", "end", ".", "Next"]),
        ("(hello)!!! word...", ["(", "hello", ")", "!", "!", "!", "word", "..."]),
        ("  \n\t ", []),
    ],
)
def test_split_words_like_spacy(text, expected):
    assert split_words(text) == expected


def test_line_and_paragraph_splits():
    assert split_line_runs("a\n\n\nb\n") == ["a", "b", ""]
    assert split_paragraphs("\n a\n\n\nb\nc \n") == ["a", "b\nc"]
