import gzip
import os
import re

import pyarrow as pa
import pytest

from curate.core.errors import ConfigError
from curate.core.ids import doc_id
from curate.core.schema import DOC_SCHEMA
from curate.filters.c4 import C4BadWords, C4Quality, count_sentences

from .conftest import DATA

GOOD = [
    "The river runs through the old town and past the mill.",
    "Fishermen gather on the bank early every morning in spring.",
    "The market opens at nine and closes late in the evening.",
    "Visitors often stop at the bakery near the square for bread.",
    "The museum keeps a collection of maps from the last century.",
]


def docs(texts, reasons=None, languages=None):
    n = len(texts)
    cols = {f.name: pa.nulls(n, f.type) for f in DOC_SCHEMA}
    cols["text"] = pa.array(texts, pa.large_string())
    cols["doc_id"] = pa.array([doc_id(f"t/{i}") for i in range(n)], pa.string())
    if reasons:
        cols["drop_reason"] = pa.array(reasons, pa.string())
    if languages:
        cols["language"] = pa.array(languages, pa.string())
    return pa.RecordBatch.from_arrays(list(cols.values()), schema=DOC_SCHEMA)


def run(stage, texts, reasons=None):
    batch = docs(texts, reasons)
    out = stage.process(batch)
    assert out.schema == stage.output_schema(batch.schema)
    return out.to_pydict()


@pytest.mark.parametrize(
    "text, reason",
    [
        ("\n".join(GOOD), None),
        ("\n".join(GOOD + ["Lorem ipsum dolor sit amet, consectetur."]), "c4:lorem_ipsum"),
        ("\n".join(GOOD + ["function show() { return 1; }"]), "c4:curly_bracket"),
        ("\n".join(GOOD[:2]), "c4:too_few_sentences"),
        ("", "c4:too_few_sentences"),
        # lorem ipsum comes before the bracket in the same line: datatrove's first reason
        ("\n".join(GOOD + ["lorem ipsum { dolor sit"]), "c4:lorem_ipsum"),
        # 4 lines, but 5 sentences: the count is spaCy's sentencizer's, not the number of lines
        ("\n".join(GOOD[:3] + ["It rained. Then it stopped again."]), None),
        # abbreviations do not end sentences: 4 sentences
        ("\n".join(GOOD[:3] + ["Mr. Smith met Dr. Jones at the St. James hotel."]), "c4:too_few_sentences"),
    ],
)
def test_c4_rules(text, reason):
    assert run(C4Quality(), [text])["drop_reason"] == [reason]


def test_c4_lines_removed_and_counts():
    long_word = "x" * 1001
    lines = [
        GOOD[0],
        "Please enable JavaScript to view the comments.",  # javascript
        "This website uses cookies to improve things.",  # policy
        "Read our Privacy Policy here today.",  # policy
        "Too short",  # < 3 words
        "",
        f"a line with {long_word} in it",  # word > 1000 chars
        "  " + GOOD[1] + "  ",  # stripped
        "if (x) { y } with javascript here",  # javascript before the bracket: removed, not dropped
        GOOD[2] + " [1][citation needed]",  # citation markers removed
        GOOD[3],
        GOOD[4],
    ]
    text = "\n".join(lines)
    out = run(C4Quality(), [text])
    assert out["drop_reason"] == [None]
    assert out["text"] == ["\n".join([GOOD[0], GOOD[1], GOOD[2] + " ", GOOD[3], GOOD[4]])]
    assert out["c4_lines_removed"] == [7]
    assert out["c4_chars_removed"] == [len(text) - len(out["text"][0])]


def test_c4_terminal_punct_rule_is_optional():
    text = "\n".join(GOOD + ["A line without an ending", "Ends with an ellipsis..."])
    assert run(C4Quality(), [text])["text"] == [text]
    out = run(C4Quality(filter_no_terminal_punct=True), [text])
    assert out["text"] == ["\n".join(GOOD)] and out["c4_lines_removed"] == [2]


def test_c4_dropped_rows_pass_through():
    texts = ["lorem ipsum dolor sit amet", "\n".join(GOOD), "x {"]
    out = run(C4Quality(), texts, ["earlier:rule", None, None])
    assert out["drop_reason"] == ["earlier:rule", None, "c4:too_few_sentences"]
    assert out["text"] == texts  # nothing removed from these
    assert out["c4_lines_removed"] == [None, 0, None]
    assert out["c4_chars_removed"] == [None, 0, None]


def test_c4_wikitext_article_kept():
    with gzip.open(os.path.join(DATA, "wikitext-2", "valid.txt.gz"), "rt", encoding="utf-8") as f:
        article = re.split(r"\n \n = (?=[^=])", f.read())[1]
    out = run(C4Quality(), [article])
    assert out["drop_reason"] == [None]
    assert out["c4_lines_removed"][0] > 0  # the blank lines and "= = Section = =" headings
    assert "Homarus gammarus" in out["text"][0] or len(out["text"][0]) > 1000


@pytest.mark.parametrize(
    "line, n",
    [("One sentence here", 1), ("It rained. Then it stopped!", 2), ("Wait?! Yes. No", 3),
     ("Mr. Smith and e.g. this", 1), ("Ends here... and goes on", 1), ("word.Next word", 2)],
)
def test_count_sentences(line, n):
    assert count_sentences(line) == n


@pytest.mark.parametrize(
    "kwargs", [{"min_num_sentences": -2}, {"max_word_length": 1.5}, {"split_paragraph": False},
               {"filter_javascript": "yes"}],
)
def test_c4_params_validated(kwargs):
    with pytest.raises(ValueError):
        C4Quality(**kwargs)


# --- bad words -----------------------------------------------------------------------------------------


@pytest.fixture
def lists(tmp_path):
    (tmp_path / "en").write_text("badword\ntwo words\na$$\n", encoding="utf-8")
    (tmp_path / "ja").write_text("悪い\n", encoding="utf-8")
    return str(tmp_path)


@pytest.mark.parametrize(
    "text, dropped",
    [
        ("A perfectly clean sentence.", False),
        ("This has a BadWord inside.", True),
        ("badword", True),
        ("badwords are not the word itself", False),
        ("it is two words long", True),
        ("two  words with two spaces", False),
        ("kick a$$ now", True),
        ("xbadword_y", False),
    ],
)
def test_badwords_rule(lists, text, dropped):
    reasons = C4BadWords(bad_words_dir=lists).process(docs([text])).column("drop_reason").to_pylist()
    assert reasons == (["c4_badwords:document_removed_with_badwords"] if dropped else [None])


def test_badwords_languages_and_passthrough(lists):
    stage = C4BadWords(bad_words_dir=lists)
    batch = docs(["これは悪い例です", "badword", "badword", "badword"], [None, None, "earlier:x", None],
                 ["ja", None, None, "en"])
    assert stage.process(batch).column("drop_reason").to_pylist() == [
        "c4_badwords:document_removed_with_badwords", "c4_badwords:document_removed_with_badwords",
        "earlier:x", "c4_badwords:document_removed_with_badwords"]
    # no list for the document's language: a counted reason, never an exception mid-shard
    assert stage.process(docs(["badword"], languages=["de"])).column("drop_reason").to_pylist() == [
        "c4_badwords:missing_language"]
    keep = C4BadWords(bad_words_dir=lists, fail_on_missing_language=False)
    assert keep.process(docs(["badword"], languages=["de"])).column("drop_reason").to_pylist() == [None]
    assert C4BadWords(bad_words_dir=lists, keep_fraction=1.0).process(docs(["badword"])).column(
        "drop_reason").to_pylist() == [None]


def test_badwords_needs_configured_lists(lists):
    with pytest.raises(ConfigError, match="bad_words_dir"):
        C4BadWords().output_schema(DOC_SCHEMA)
    with pytest.raises(ConfigError, match="not a directory"):
        C4BadWords(bad_words_dir=os.path.join(lists, "nope")).output_schema(DOC_SCHEMA)
    assert C4BadWords(bad_words_dir=lists).output_schema(DOC_SCHEMA) == DOC_SCHEMA
    os.environ["CURATE_BAD_WORDS_DIR"] = lists
    try:
        assert C4BadWords().output_schema(DOC_SCHEMA) == DOC_SCHEMA
    finally:
        del os.environ["CURATE_BAD_WORDS_DIR"]
    with pytest.raises(ValueError, match="keep_fraction"):
        C4BadWords(bad_words_dir=lists, keep_fraction=2.0)


def test_badwords_real_ldnoobw_list():
    stage = C4BadWords(bad_words_dir=os.path.join(DATA, "ldnoobw", "lists"))
    texts = ["A quiet walk along the river in the spring.", "Free porn videos here."]
    assert stage.process(docs(texts)).column("drop_reason").to_pylist() == [
        None, "c4_badwords:document_removed_with_badwords"]
