"""HTML -> plain text: trafilatura as FineWeb ran it, and resiliparse as the fast path.

Both are pure functions of one page: the text never depends on what was extracted before it.

trafilatura (FineWeb, Penedo et al. 2024, via datatrove's ``Trafilatura(favour_precision=True)``):
``favor_precision=True, include_comments=False``. FineWeb also passed ``deduplicate=True``, which makes
trafilatura count every text segment in one process-wide LRU cache (``trafilatura.deduplication.LRU_TEST``,
4096 entries) and drop segments - or whole documents - seen more than twice: a page's text then depends
on the pages the same process extracted before it (extracting 5 benchmark pages over and over in one
process, all 5 change from the fourth round on and 2 come back empty), so a retried Spark task or
another shard order changes the output. We switch it off.
Measured on the 181 pages of the article-extraction benchmark (4-gram shingle F1, the upstream metric):

================================================  ======  ======  ======
setting                                            P       R       F1
================================================  ======  ======  ======
deduplicate=False (ours)                           0.9577  0.9705  0.9641
deduplicate=True, fresh cache per document         0.9576  0.9647  0.9611
================================================  ======  ======  ======

The two differ on 3 of 181 pages; on one (a 20 KB MacBook review) the per-document dedup empties the
whole article. ``trafilatura_text(html, deduplicate=True)`` gives the per-document variant.

resiliparse: ``main_content=True, alt_texts=False, comments=False, post_meta=False, list_bullets=False``
(line breaks kept: FineWeb's line-based filters need them). F1 0.9344 on the same pages, against 0.9268
with ``post_meta`` and bullets on, 0.8982 with alt texts and comments on, 0.6833 without main_content.

Deep nesting: libxml2 stops parsing at depth 256 unless ``huge_tree`` is set, and trafilatura's parser
does not set it, so a page nested deeper loses the deep node *and everything after it* without a
word. ``trafilatura_text`` notices the truncation and re-parses with ``huge_tree`` (libxml2 then
allows depth 2048); deeper still raises :class:`ExtractError` ``("too_deep")``. lexbor (resiliparse)
has no depth limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import lxml.html

TRAFILATURA_SETTINGS: dict = {"favor_precision": True, "include_comments": False, "deduplicate": False}
RESILIPARSE_SETTINGS: dict = {
    "main_content": True,
    "alt_texts": False,
    "comments": False,
    "post_meta": False,
    "list_bullets": False,
}
_DEPTH_ERROR = "Excessive depth"
_HUGE_LOCK = threading.Lock()
_HUGE_PARSER = None


class ExtractError(Exception):
    """A page that cannot be extracted for a known reason; ``reason`` becomes ``extract:<reason>``."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def trafilatura_text(html: str, deduplicate: bool = False) -> str:
    """Main text of ``html`` by trafilatura with FineWeb's settings; "" when nothing is extracted.

    Identical to ``trafilatura.extract(html, **TRAFILATURA_SETTINGS) or ""`` for every page that
    libxml2 parses whole (the page is parsed by trafilatura's own ``load_html`` and the tree handed to
    ``extract``). ``deduplicate=True`` runs trafilatura's segment dedup against a cache private to
    this call, never the process-wide one.

    Raises:
        ExtractError: ``too_deep`` when the page nests deeper than libxml2 parses even with huge_tree.
    """
    import trafilatura
    from trafilatura import utils as tutils
    from trafilatura.deduplication import LRUCache
    from trafilatura.settings import LRU_SIZE

    tree = tutils.load_html(html)
    if tree is None:
        return ""
    if _truncated(tutils.HTML_PARSER):
        tree = _load_huge(html)
        if tree is None:
            return ""
    settings = dict(TRAFILATURA_SETTINGS)
    if deduplicate:
        settings["deduplicate"] = LRUCache(maxsize=LRU_SIZE)
    return trafilatura.extract(tree, **settings) or ""


def _truncated(parser) -> bool:
    return any(_DEPTH_ERROR in e.message for e in parser.error_log)


def _load_huge(html: str):
    """trafilatura's ``load_html`` with huge_tree on: its decoding and repairs, a deeper parser."""
    global _HUGE_PARSER
    from trafilatura import utils as tutils

    with _HUGE_LOCK:
        if _HUGE_PARSER is None:
            _HUGE_PARSER = lxml.html.HTMLParser(
                collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                remove_pis=True, huge_tree=True,
            )
        # load_html reads the module-level parser at call time: swap it for this one call rather than
        # re-implementing trafilatura's decoding and HTML repairs.
        saved, tutils.HTML_PARSER = tutils.HTML_PARSER, _HUGE_PARSER
        try:
            tree = tutils.load_html(html)
            truncated = _truncated(_HUGE_PARSER)
        finally:
            tutils.HTML_PARSER = saved
    if truncated:
        raise ExtractError("too_deep", "nested deeper than libxml2's huge_tree limit (2048)")
    return tree


def resiliparse_text(html: str) -> str:
    """Main text of ``html`` by resiliparse with :data:`RESILIPARSE_SETTINGS`; "" when nothing."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, **RESILIPARSE_SETTINGS) or ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "trafilatura": trafilatura_text,
    "resiliparse": resiliparse_text,
}


def resolve(spec: str) -> Callable[[str], str]:
    """An extractor by name (``trafilatura``, ``resiliparse``) or import path (``pkg.module:function``)."""
    if spec in EXTRACTORS:
        return EXTRACTORS[spec]
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"extractor {spec!r} is neither one of {sorted(EXTRACTORS)} nor 'module:function'")
    import importlib

    fn = importlib.import_module(module)
    for part in attr.split("."):
        fn = getattr(fn, part)
    if not callable(fn):
        raise ValueError(f"extractor {spec!r} is not callable")
    return fn
