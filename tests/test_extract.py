"""The extraction stage: real pages, order independence, timeouts, crashes, deep nesting, pipeline run.

Hook extractors below (``tests.test_extract:_hook_*``) run inside the sandbox's worker process, which
imports them by path: they misbehave only on documents carrying their marker.
"""

from __future__ import annotations

import ctypes
import glob
import gzip
import json
import os
import pickle
import time
from collections.abc import Iterator

import cloudpickle
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import trafilatura

from curate.core.errors import ConfigError
from curate.core.pipeline import Pipeline, Shard, Source
from curate.core.run import MapJob, run_shard
from curate.core.schema import DOC_SCHEMA
from curate.extract import (
    RESILIPARSE_SETTINGS,
    TRAFILATURA_SETTINGS,
    Extract,
    ExtractError,
    resiliparse_text,
    trafilatura_text,
)
from tests.conftest import DATA

AEB = os.path.join(DATA, "article-extraction-benchmark")
# five real pages (English news, a car review, sport, Korean); each has its gold body's first long line
PAGES = ("05844573ca7e", "06e5123e4ef7", "0d46122928b6", "0ec95c7261d1", "14cc2a0ca59c")
MARK = "<!-- HOOK-MARKER -->"
SENTENCE = "The zebra quartet sang eleven improbable sonnets at dawn beneath the violet lighthouse."
AFTER = "Afterwards a closing paragraph of the article follows, and it is real content as well."


# ---- hooks run in the worker process -------------------------------------------------------------
def _hook_sleep(html: str) -> str:
    if MARK in html:
        time.sleep(120)
    return "text of " + html[-12:]


def _hook_exit(html: str) -> str:
    if MARK in html:
        os._exit(1)
    return "text of " + html[-12:]


def _hook_segfault(html: str) -> str:
    if MARK in html:
        ctypes.string_at(0)
    return "text of " + html[-12:]


def _hook_memory(html: str) -> str:
    if MARK in html:
        raise MemoryError
    return "text of " + html[-12:]


def _hook_raise(html: str) -> str:
    if MARK in html:
        raise ValueError("bad page")
    return "text of " + html[-12:]


def _hook_surrogate(html: str) -> str:
    return "broken \ud800 surrogate"


def _hook_pid(html: str) -> str:
    return str(os.getpid())


# ---- helpers -------------------------------------------------------------------------------------
def _page_path(prefix: str) -> str:
    (path,) = glob.glob(os.path.join(AEB, "html", prefix + "*.html.gz"))
    return path


def _html(prefix: str) -> str:
    with gzip.open(_page_path(prefix)) as f:
        return f.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def gold() -> dict[str, str]:
    with gzip.open(os.path.join(AEB, "ground-truth.json.gz")) as f:
        return {k: v["articleBody"] for k, v in json.load(f).items()}


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return {p: _html(p) for p in PAGES}


@pytest.fixture(scope="module")
def more_pages() -> list[str]:
    paths = sorted(glob.glob(os.path.join(AEB, "html", "*.html.gz")))
    out = []
    for p in paths:
        if not os.path.basename(p).startswith(PAGES):
            with gzip.open(p) as f:
                out.append(f.read().decode("utf-8", "replace"))
        if len(out) == 8:
            return out
    return out


def _norm(s: str) -> str:
    return " ".join(s.split())


def _batch(htmls: list, reasons: list | None = None, texts: list | None = None) -> pa.RecordBatch:
    n = len(htmls)
    return pa.record_batch(
        {
            "text": pa.array(texts or [None] * n, pa.large_string()),
            "html": pa.array(htmls, pa.large_string()),
            "drop_reason": pa.array(reasons or [None] * n, pa.string()),
        }
    )


def _run(stage: Extract, htmls: list, **kw) -> tuple[list, list]:
    out = stage.process(_batch(htmls, **kw))
    return out.column("text").to_pylist(), out.column("drop_reason").to_pylist()


def _deep_page(depth: int) -> str:
    filler = "<p>" + "An ordinary paragraph of article text that counts as content for the extractor. " * 3 + "</p>"
    return (
        "<html><head><title>Deep</title></head><body><article>" + filler * 3 + "<div>" * depth
        + f"<p>{SENTENCE}</p>" + "</div>" * depth + filler + f"<p>{AFTER}</p></article></body></html>"
    )


@pytest.fixture
def stage_factory():
    made = []

    def make(**kw) -> Extract:
        stage = Extract(**kw)
        made.append(stage)
        return stage

    yield make
    for s in made:
        s.close()


# ---- real pages ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,fn", [("trafilatura", trafilatura_text), ("resiliparse", resiliparse_text)])
def test_real_pages_contain_gold_and_stage_equals_function(name, fn, pages, gold, stage_factory):
    stage = stage_factory(extractor=name)
    texts, reasons = _run(stage, [pages[p] for p in PAGES])
    assert reasons == [None] * len(PAGES)
    for p, text in zip(PAGES, texts, strict=True):
        key = os.path.basename(_page_path(p)).removesuffix(".html.gz")
        sentence = next(line for line in gold[key].splitlines() if 80 <= len(line) <= 300)
        direct = fn(pages[p])
        assert direct and _norm(sentence) in _norm(direct), p
        assert text == direct, p


def test_functions_are_the_library_with_documented_settings(pages):
    from resiliparse.extract.html2text import extract_plain_text

    for p in PAGES[:3]:
        assert trafilatura_text(pages[p]) == trafilatura.extract(pages[p], **TRAFILATURA_SETTINGS)
        assert resiliparse_text(pages[p]) == extract_plain_text(pages[p], **RESILIPARSE_SETTINGS)
    assert TRAFILATURA_SETTINGS == {"favor_precision": True, "include_comments": False, "deduplicate": False}


def test_nothing_extracted_is_empty_string_and_reason(stage_factory):
    blank = "<html><head><title>x</title></head><body></body></html>"
    assert trafilatura_text(blank) == "" and resiliparse_text(blank) == ""
    texts, reasons = _run(stage_factory(extractor="resiliparse"), [blank])
    assert (texts, reasons) == ([None], ["extract:empty"])


# ---- order independence --------------------------------------------------------------------------
def test_order_independence_in_one_worker(pages, more_pages, stage_factory):
    stage = stage_factory(extractor="trafilatura")
    docs = [pages[p] for p in PAGES]
    forward, _ = _run(stage, docs)
    backward, _ = _run(stage, docs[::-1])
    # interleaved with other pages, each page three times: trafilatura's process-wide dedup cache
    # changes every page from its fourth extraction on (measured: 5 of 5 pages, 2 emptied)
    mixed = [d for pair in zip(docs * 3, more_pages * 2, strict=False) for d in pair]
    mixed_texts, _ = _run(stage, mixed)
    assert stage._sandbox.restarts == 0  # all of it went through one worker process
    assert backward[::-1] == forward
    by_html = {}
    for html, text in zip(mixed, mixed_texts, strict=True):
        by_html.setdefault(html, set()).add(text)
    for html, text in zip(docs, forward, strict=True):
        assert by_html[html] == {text}


def test_per_document_dedup_variant_is_order_independent(pages):
    first = {p: trafilatura_text(pages[p], deduplicate=True) for p in PAGES}
    for _ in range(3):
        for p in reversed(PAGES):
            assert trafilatura_text(pages[p], deduplicate=True) == first[p]


# ---- timeouts and crashes ------------------------------------------------------------------------
def test_timeout_costs_one_document(stage_factory):
    stage = stage_factory(extractor="tests.test_extract:_hook_sleep", timeout_s=1.0)
    stage.setup()
    pid = stage._sandbox.pid
    t0 = time.monotonic()
    texts, reasons = _run(stage, ["<p>a</p>", "<p>b</p>" + MARK, "<p>c</p>", "<p>d</p>"])
    assert time.monotonic() - t0 < 30
    assert reasons == [None, "extract:timeout", None, None]
    assert texts == ["text of <p>a</p>", None, "text of <p>c</p>", "text of <p>d</p>"]
    assert stage._sandbox.pid != pid and stage._sandbox.restarts == 1


def test_real_hang_resiliparse_on_deep_nesting_times_out(stage_factory, pages):
    # lexbor's main-content pass is quadratic in depth: 10k levels take ~2 s here, 40k over 30 s
    stage = stage_factory(extractor="resiliparse", timeout_s=1.0)
    page = pages[PAGES[0]]
    texts, reasons = _run(stage, [page, "<html><body>" + "<div>" * 40_000 + "x", page])
    assert reasons == [None, "extract:timeout", None]
    assert texts[0] == texts[2] == resiliparse_text(page)


@pytest.mark.parametrize(
    "hook,reason",
    [("_hook_exit", "crash"), ("_hook_segfault", "crash"), ("_hook_memory", "crash"), ("_hook_raise", "error")],
)
def test_crash_costs_one_document(hook, reason, stage_factory):
    stage = stage_factory(extractor=f"tests.test_extract:{hook}")
    texts, reasons = _run(stage, ["<p>a</p>" + MARK, "<p>b</p>", "<p>c</p>" + MARK, "<p>d</p>"])
    assert reasons == [f"extract:{reason}", None, f"extract:{reason}", None]
    assert texts == [None, "text of <p>b</p>", None, "text of <p>d</p>"]
    assert stage._sandbox.restarts == (2 if reason == "crash" else 0)


def test_worker_killed_between_batches_costs_nothing(stage_factory):
    stage = stage_factory(extractor="tests.test_extract:_hook_pid")
    (pid,), _ = _run(stage, ["<p>a</p>"])
    os.kill(int(pid), 9)
    time.sleep(0.2)
    texts, reasons = _run(stage, ["<p>a</p>", "<p>b</p>"])
    assert reasons == [None, None] and texts[0] == texts[1] != pid


def test_lone_surrogates_are_replaced(stage_factory):
    texts, reasons = _run(stage_factory(extractor="tests.test_extract:_hook_surrogate"), ["<p>a</p>"])
    assert reasons == [None] and texts == ["broken ? surrogate"]


def test_unimportable_extractor_fails_setup_loudly():
    stage = Extract(extractor="tests.test_extract:_no_such_hook")
    with pytest.raises(RuntimeError, match="_no_such_hook"):
        stage.setup()


# ---- deep nesting --------------------------------------------------------------------------------
def test_deep_nesting_is_kept(stage_factory):
    page = _deep_page(300)
    # the library alone loses the deep sentence and everything after it
    lost = trafilatura.extract(page, **TRAFILATURA_SETTINGS) or ""
    assert SENTENCE not in lost and AFTER not in lost
    for fn in (trafilatura_text, resiliparse_text):
        text = fn(page)
        assert SENTENCE in text and AFTER in text, fn.__name__
    texts, reasons = _run(stage_factory(extractor="trafilatura"), [page])
    assert reasons == [None] and SENTENCE in texts[0]
    # a shallow page parsed after a deep one is unaffected
    shallow = _deep_page(10)
    assert trafilatura_text(shallow) == trafilatura.extract(shallow, **TRAFILATURA_SETTINGS)


def test_deeper_than_libxml2_can_parse_is_a_counted_reason(stage_factory):
    page = _deep_page(3000)
    with pytest.raises(ExtractError) as e:
        trafilatura_text(page)
    assert e.value.reason == "too_deep"
    texts, reasons = _run(stage_factory(extractor="trafilatura"), [page, _deep_page(5)])
    assert reasons == ["extract:too_deep", None] and SENTENCE in texts[1]


# ---- rows and columns ----------------------------------------------------------------------------
def test_dropped_rows_pass_through_untouched(stage_factory):
    stage = stage_factory(extractor="tests.test_extract:_hook_exit")
    texts, reasons = _run(
        stage,
        ["<p>x</p>" + MARK, None, "<p>y</p>"],
        reasons=["url:blocklist", "lang:low_score", None],
        texts=["kept text", None, None],
    )
    assert reasons == ["url:blocklist", "lang:low_score", None]
    assert texts == ["kept text", None, "text of <p>y</p>"]
    assert stage.__dict__.get("_sandbox") is None or stage._sandbox.restarts == 0


def test_null_and_too_large_html(stage_factory):
    stage = stage_factory(extractor="tests.test_extract:_hook_exit", max_html_bytes=100)
    texts, reasons = _run(stage, [None, "<p>" + "é" * 60 + "</p>" + MARK, "<p>small</p>"])
    assert reasons == ["extract:no_html", "extract:too_large", None]
    assert texts == [None, None, "text of <p>small</p>"]


def test_rows_with_text_but_no_html_keep_their_text(stage_factory):
    # WET conversion records arrive with CC's plain text and no html: nothing to extract
    stage = stage_factory(extractor="tests.test_extract:_hook_exit")
    texts, reasons = _run(stage, [None, None, "<p>z</p>"], texts=["wet text", "", None])
    assert reasons == [None, "extract:no_html", None]
    assert texts == ["wet text", None, "text of <p>z</p>"]


def test_output_schema_and_columns():
    stage = Extract()
    schema = DOC_SCHEMA.append(pa.field("html", pa.large_string()))
    out = stage.output_schema(schema)
    assert "html" not in out.names and out.field("text").type == pa.large_string()
    assert out.names == [n for n in schema.names if n != "html"]
    with pytest.raises(ConfigError, match="html"):
        stage.output_schema(DOC_SCHEMA)
    no_text = pa.schema([("html", pa.string()), ("drop_reason", pa.string())])
    assert stage.output_schema(no_text).names == ["drop_reason", "text"]


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"extractor": "boilerpipe"}, "extractor"),
        ({"extractor": "os:"}, "extractor"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"timeout_s": "5"}, "timeout_s"),
        ({"max_html_bytes": 0}, "max_html_bytes"),
        ({"max_html_bytes": 1.5}, "max_html_bytes"),
    ],
)
def test_parameters_are_validated(kw, field):
    with pytest.raises(ValueError, match=field):
        Extract(**kw)


def test_stage_pickles_small_before_and_after_setup(stage_factory):
    stage = stage_factory(extractor="resiliparse")
    before = cloudpickle.dumps(stage)
    stage.setup()
    after = cloudpickle.dumps(stage)
    assert len(before) < 1000 and before == after
    clone = pickle.loads(after)
    assert clone == stage and "_sandbox" not in clone.__dict__
    assert stage.describe()["params"] == {"extractor": "resiliparse", "timeout_s": 5.0, "max_html_bytes": 2 * 2**20}


# ---- inside a pipeline run -----------------------------------------------------------------------
HTML_SCHEMA = DOC_SCHEMA.append(pa.field("html", pa.large_string()))


class HtmlParquetSource(Source):
    """Reads a Parquet file with ``url`` and ``html`` columns into the document schema plus ``html``."""

    name = "html_parquet"
    suffixes = (".parquet",)

    def schema(self) -> pa.Schema:
        return HTML_SCHEMA

    def read(self, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            n = batch.num_rows
            cols = {f.name: pa.nulls(n, f.type) for f in HTML_SCHEMA}
            cols["url"] = batch.column("url").cast(pa.string())
            cols["html"] = batch.column("html").cast(pa.large_string())
            cols["doc_id"] = cols["url"]
            cols["dump"] = pa.array(["TEST-DUMP"] * n, pa.string())
            yield pa.record_batch(cols, schema=HTML_SCHEMA)


def test_stage_in_a_pipeline_run(tmp_path, pages):
    rows = [
        ("https://a.example/1", pages[PAGES[0]]),
        ("https://a.example/2", "<html><head><title>x</title></head><body></body></html>"),
        ("https://a.example/3", None),
        ("https://a.example/4", pages[PAGES[1]]),
        ("https://a.example/5", _deep_page(3000)),
        ("https://a.example/6", "<html><body>" + "<p>too large</p>" * 20_000 + "</body></html>"),
    ]
    shard_path = str(tmp_path / "in" / "pages.parquet")
    os.makedirs(os.path.dirname(shard_path))
    pq.write_table(
        pa.table({"url": [u for u, _ in rows], "html": pa.array([h for _, h in rows], pa.large_string())}), shard_path
    )
    pipeline = Pipeline("extract-test", HtmlParquetSource(), [Extract(extractor="trafilatura", max_html_bytes=200_000)])
    run_dir = str(tmp_path / "run")
    job = MapJob(spec=cloudpickle.dumps(pipeline), run_dir=run_dir, batch_rows=4)
    stats = run_shard(job, Shard(0, shard_path, "pages"))
    assert stats["reasons"]["kept"]["docs"] == 2
    expected = {
        "extract:empty": "https://a.example/2",
        "extract:no_html": "https://a.example/3",
        "extract:too_deep": "https://a.example/5",
        "extract:too_large": "https://a.example/6",
    }
    for reason, url in expected.items():
        assert stats["reasons"][reason]["docs"] == 1
        table = pq.read_table(os.path.join(run_dir, "removed", reason.replace(":", "."), "pages.parquet"))
        assert table.column("url").to_pylist() == [url] and "html" not in table.column_names
    kept = pq.read_table(os.path.join(run_dir, "output", "data", "TEST-DUMP", "pages.parquet"))
    assert kept.column("text").to_pylist() == [trafilatura_text(pages[PAGES[0]]), trafilatura_text(pages[PAGES[1]])]


def test_plain_string_html_column(stage_factory):
    stage = stage_factory(extractor="tests.test_extract:_hook_exit")
    batch = pa.record_batch(
        {"html": pa.array(["<p>é</p>", None], pa.string()), "drop_reason": pa.array([None, None], pa.string())}
    )
    out = stage.process(batch)
    assert out.schema.names == ["drop_reason", "text"]
    assert out.column("text").to_pylist() == ["text of <p>é</p>", None]
    assert out.column("drop_reason").to_pylist() == [None, "extract:no_html"]
