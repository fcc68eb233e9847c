"""The extraction stage: ``html`` in, ``text`` out, each document under a time and size limit.

FineWeb (Penedo et al. 2024) extracts Common Crawl WARC HTML with trafilatura (``favour_precision=True``)
through datatrove, whose extractor runs each page in a child process with a 1 s limit (0.1 s with a
signal alarm when FineWeb was built). Here the child is :class:`~curate.extract.sandbox.Sandbox`.

Rows with null html but non-empty text (WET conversion records) keep their text unchanged.
Reasons: ``extract:no_html`` (html and text both null), ``extract:too_large`` (over ``max_html_bytes`` UTF-8 bytes),
``extract:empty`` (nothing extracted), ``extract:timeout``, ``extract:crash`` (the worker died: segfault,
``os._exit``, MemoryError, OOM kill), ``extract:error`` (the extractor raised), ``extract:too_deep``
(nested deeper than libxml2 can parse, see :mod:`curate.extract.extractors`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from curate.core.schema import require, with_field
from curate.core.stage import Stage, set_column
from curate.extract.extractors import EXTRACTORS
from curate.extract.sandbox import Sandbox

# Common Crawl truncates every WARC payload at 1 MiB; decoding a single-byte charset to UTF-8 can at most
# double it. 2 MiB therefore never refuses a Common Crawl page, yet keeps out the 20 MiB pages on which
# trafilatura was seen holding 1.2 GB.
DEFAULT_MAX_HTML_BYTES = 2 * 2**20
# trafilatura takes 32 ms per page here (mean of the 181 benchmark pages; p99 0.23 s, slowest 0.24 s on a
# 580 KB page, on a shared 2-core machine); the pages it chokes on run for minutes. 5 s is ~20x the
# slowest real page, so the limit only cuts pathological pages
# and a loaded machine does not flip ordinary pages to timeouts (which would make output run-dependent),
# while one such page costs at most 5 s plus a worker restart.
DEFAULT_TIMEOUT_S = 5.0


@dataclasses.dataclass(frozen=True)
class Extract(Stage):
    """Extract the main text from ``html`` into ``text`` and drop the ``html`` column.

    Args:
        extractor: ``"trafilatura"`` (FineWeb's settings), ``"resiliparse"`` (about 15x faster), or an
            importable ``"module:function"`` taking an HTML str and returning text.
        timeout_s: time limit per document, in seconds, after which the worker is killed.
        max_html_bytes: documents whose html is longer (UTF-8 bytes) are dropped unparsed.
    """

    extractor: str = "trafilatura"
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_html_bytes: int = DEFAULT_MAX_HTML_BYTES
    name: ClassVar[str] = "extract"

    def __post_init__(self):
        if not isinstance(self.extractor, str) or not (
            self.extractor in EXTRACTORS or _is_import_path(self.extractor)
        ):
            raise ValueError(
                f"extract.extractor must be one of {sorted(EXTRACTORS)} or 'module:function', "
                f"got {self.extractor!r}"
            )
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or not (
            math.isfinite(self.timeout_s) and self.timeout_s > 0
        ):
            raise ValueError(f"extract.timeout_s must be a positive number of seconds, got {self.timeout_s!r}")
        if isinstance(self.max_html_bytes, bool) or not isinstance(self.max_html_bytes, int) or (
            self.max_html_bytes <= 0
        ):
            raise ValueError(f"extract.max_html_bytes must be a positive int, got {self.max_html_bytes!r}")

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, html=pa.large_string(), drop_reason=pa.string())
        schema = schema.remove(schema.get_field_index("html"))
        return with_field(schema, pa.field("text", pa.large_string()))

    def setup(self) -> None:
        self._worker()

    def _worker(self) -> Sandbox:
        sandbox = self.__dict__.get("_sandbox")
        if sandbox is None:
            sandbox = Sandbox(self.extractor, float(self.timeout_s))
            sandbox.start()
            object.__setattr__(self, "_sandbox", sandbox)
        return sandbox

    def close(self) -> None:
        """Stop the worker (it also stops by itself when this process exits)."""
        sandbox = self.__dict__.pop("_sandbox", None)
        if sandbox is not None:
            sandbox.close()

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        html_col = batch.column("html")
        reasons = batch.column("drop_reason").to_pylist()
        has_text = "text" in batch.schema.names
        texts = batch.column("text").to_pylist() if has_text else [None] * n
        sizes = pc.binary_length(html_col).to_pylist()
        todo = []
        for i in range(n):
            if reasons[i] is not None:
                continue  # dropped earlier: passes through untouched
            if sizes[i] is None:
                if not texts[i]:  # a row that already has text (a WET record) needs no extraction
                    reasons[i], texts[i] = "extract:no_html", None
            elif sizes[i] > self.max_html_bytes:
                reasons[i] = "extract:too_large"
            else:
                todo.append(i)
        if todo:
            # UTF-8 bytes straight from Arrow: pickling str would encode it again (~0.3 ms per 150 KB page)
            raw = pa.large_binary() if pa.types.is_large_string(html_col.type) else pa.binary()
            html_raw = html_col.cast(raw)  # a zero-copy view
            # take() would copy every page once more (0.15 ms per 80 KB page): skip it when all rows go
            htmls = (html_raw if len(todo) == n else html_raw.take(todo)).to_pylist()
            for i, (text, reason) in zip(todo, self._worker().extract(htmls), strict=True):
                texts[i] = text
                if reason is not None:
                    reasons[i] = "extract:" + reason
        out = batch.drop_columns(["html"])
        out = set_column(out, "text", pa.array(texts, pa.large_string()))
        return set_column(out, "drop_reason", pa.array(reasons, pa.string()))


def _is_import_path(spec: str) -> bool:
    module, sep, attr = spec.partition(":")
    return bool(sep) and all(p.isidentifier() for p in module.split(".")) and all(
        p.isidentifier() for p in attr.split(".")
    )
