import gzip
import os
import re

import pytest

from curate.filters.fineweb_quality import FineWebQuality

from .conftest import DATA
from .test_c4 import docs

LONG = [
    "The river runs through the old town and past the mill.",
    "Fishermen gather on the bank early every morning in spring.",
    "The market opens at nine and closes late in the evening.",
    "Visitors often stop at the bakery near the square for bread.",
    "The museum keeps a collection of maps from the last century.",
]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("\n".join(LONG), None),
        (" \n\t\n", "empty"),
        ("", "empty"),
        ("\n".join(s.rstrip(".") for s in LONG * 2), "line_punct_ratio"),
        ("\n".join(["Short line here.", "Another one.", "Third.", LONG[0]]), "short_line_ratio"),
        ("\n".join(LONG + [LONG[0]]), "char_dup_ratio"),
        ("\n".join(f"Pneumonoultramicroscopicsilicovolcanoconiosis{i}." for i in range(10)), "list_ratio"),
        # stop chars are Unicode sentence terminals; lines are not stripped
        ("\n".join(s.rstrip(".") + "。" for s in LONG), None),
        ("\n".join(s + " " for s in LONG), "line_punct_ratio"),
    ],
)
def test_fineweb_rules(text, reason):
    out = FineWebQuality().process(docs([text])).column("drop_reason").to_pylist()
    assert out == [f"fineweb_quality:{reason}" if reason else None]


def test_fineweb_thresholds_and_passthrough():
    text = "\n".join(s.rstrip(".") for s in LONG)
    assert FineWebQuality(line_punct_exclude_zero=True).rule(text) is None
    assert FineWebQuality(line_punct_thr=0.0).rule(text) is None
    assert FineWebQuality(stop_chars=("l",)).rule("\n".join(s + "l" for s in LONG)) is None
    out = FineWebQuality().process(docs(["", "\n".join(LONG)], ["earlier:x", None]))
    assert out.column("drop_reason").to_pylist() == ["earlier:x", None]


def test_fineweb_wikitext_article_kept():
    with gzip.open(os.path.join(DATA, "wikitext-2", "valid.txt.gz"), "rt", encoding="utf-8") as f:
        article = re.split(r"\n \n = (?=[^=])", f.read())[1]
    # as an extractor would give it: no trailing blanks, no "= = Heading = =" lines
    text = "\n".join(line.strip() for line in article.splitlines() if line.strip() and not line.strip().startswith("="))
    assert FineWebQuality().rule(text) is None


@pytest.mark.parametrize(
    "kwargs", [{"line_punct_thr": 1.5}, {"short_line_length": -1}, {"new_line_ratio": -0.1},
               {"stop_chars": "."}, {"char_duplicates_ratio": "x"}],
)
def test_fineweb_params_validated(kwargs):
    with pytest.raises(ValueError):
        FineWebQuality(**kwargs)
