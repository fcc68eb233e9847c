"""The bad-input battery, end to end through pipelines/fineweb.py: every hostile input becomes a counted
reason, nothing crashes or hangs, and every other record of the same file is kept.

One WARC file mixes real article pages with: a 16 MB page, 300-deep nesting, a binary payload labelled
text/html, a wrong declared charset, invalid UTF-8, a page that keeps trafilatura past the time limit
and the URL ``HTTP://[::1]&``. Two more copies of it are cut at 70% and have garbage bytes mid-file.
"""

import gzip
import io
import json
import os
import random

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curate.extract.extractors import trafilatura_text
from tests.conftest import DATA, FINEWEB, FINEWEB_SETS, curate

pytestmark = pytest.mark.slow

ARTICLES = os.path.join(DATA, "article-extraction-benchmark", "html")


def _page(prefix: str) -> bytes:
    name = next(f for f in sorted(os.listdir(ARTICLES)) if f.startswith(prefix))
    with gzip.open(os.path.join(ARTICLES, name), "rb") as f:
        return f.read()


def _deep(page: str, depth: int) -> bytes:
    """The page with its whole body nested ``depth`` divs deep (libxml2 alone drops it past 256)."""
    b0 = page.find(">", page.find("<body")) + 1
    b1 = page.rfind("</body>")
    return (page[:b0] + "<div>" * depth + page[b0:b1] + "</div>" * depth + page[b1:]).encode()


def _records() -> list[tuple[str, bytes, str, str | None]]:
    """(url, body, content-type, expected reason or None for kept)."""
    a1, a2, a3 = _page("05844573ca7e"), _page("06e5123e4ef7"), _page("0d46122928b6")
    deep = _deep(a3.decode("utf-8"), 300)
    cp1252 = ("<html><body><article>" + "".join(
        f"<p>\u201cParagraph {i} of a letter,\u201d she wrote \u2014 it\u2019s about the town council\u2019s "
        "decision to rebuild the old library after the storm of last winter.</p>" for i in range(30)
    ) + "</article></body></html>").encode("cp1252")
    rng = random.Random(7)
    png = b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(20000))
    bad_utf8 = a2.replace(b"</p>", b" \xff\xfe\xc3</p>", 3)
    slow = ("<html><body>" + "".join(f'<div><a href="/x{i}">link {i}</a></div>' for i in range(45000))
            + "</body></html>").encode()
    huge = b"<html><body>" + b"<p>filler text for a very large page</p>" * (16 * 2**20 // 40) + b"</body></html>"
    return [
        ("https://news.example.org/a1", a1, "text/html; charset=utf-8", None),
        ("https://news.example.org/huge", huge, "text/html", "warc:too_large"),
        ("https://news.example.org/deep", deep, "text/html; charset=utf-8", None),
        ("https://news.example.org/image", png, "text/html", "warc:not_html"),
        ("https://news.example.org/cp1252", cp1252, "text/html; charset=utf-8", None),
        ("https://news.example.org/bad-utf8", bad_utf8, "text/html; charset=utf-8", None),
        ("https://news.example.org/slow", slow, "text/html; charset=utf-8", "extract:timeout"),
        ("HTTP://[::1]&", a1, "text/html; charset=utf-8", "url:malformed"),
        ("https://news.example.org/a3", a3, "text/html; charset=utf-8", None),
    ]


def _write_warc(path, records) -> list[tuple[int, int]]:
    """Write one gzip member per record; return each member's (start, end) byte offsets."""
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, body, ctype, _ in records:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        spans = [(it.get_record_offset(), it.get_record_offset() + it.get_record_length()) for _ in it]
    return spans


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("battery")
    inp = tmp / "in"
    inp.mkdir()
    records = _records()
    spans = _write_warc(inp / "battery.warc.gz", records)
    data = (inp / "battery.warc.gz").read_bytes()
    cut = int(len(data) * 0.7)
    (inp / "cut70.warc.gz").write_bytes(data[:cut])
    mid = spans[4][0]
    garbage = bytes(random.Random(1234).getrandbits(8) for _ in range(5000))
    (inp / "garbage.warc.gz").write_bytes(data[:mid] + garbage + data[mid:])
    out = tmp / "run"
    # 1 s per page: real pages take ~0.03-0.25 s, the slow page ~5-10 s; payloads up to 4 MiB so the
    # slow page reaches the extractor (the 16 MB page is still over the cap)
    res = curate("run", FINEWEB, "--input", str(inp), "--output", str(out), "--workers", "2",
                 "--set", "extract.timeout_s=1", "--set", "warc.max_payload_bytes=4194304", *FINEWEB_SETS,
                 timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = pa.concat_tables([
        pads.dataset(str(out / sub), format="parquet").to_table(columns=["url", "file_path", "drop_reason", "text"])
        for sub in ("output", "removed")
    ]).to_pylist()
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(os.path.basename(r["file_path"]), []).append(r)
    complete_before_cut = sum(1 for _, end in spans if end <= cut)
    return records, by_file, out, complete_before_cut


INGEST = ("warc:", "url:", "extract:")  # what the battery is about; quality filters come after


def _outcome(row) -> str:
    reason = row["drop_reason"]
    return reason if reason and reason.startswith(INGEST) else "kept"


def _reasons(rows):
    return sorted((r["url"] or "", _outcome(r)) for r in rows)


def test_every_hostile_record_gets_its_reason_and_the_rest_are_kept(battery):
    records, by_file, _, _ = battery
    expect = sorted((url, reason or "kept") for url, _, _, reason in records)
    assert _reasons(by_file["battery.warc.gz"]) == expect


def test_kept_text_survives_the_hostile_cases(battery):
    _, by_file, _, _ = battery
    text = {r["url"]: r["text"] for r in by_file["battery.warc.gz"] if _outcome(r) == "kept"}
    # the article nested 300 deep reads as it does at its own depth (libxml2 alone drops it past 256)
    shallow = trafilatura_text(_page("0d46122928b6").decode("utf-8"))
    assert shallow[:200] in text["https://news.example.org/deep"]
    assert "council\u2019s decision" in text["https://news.example.org/cp1252"]  # declared utf-8, was cp1252
    assert "\ufffd" not in text["https://news.example.org/cp1252"]
    assert len(text["https://news.example.org/bad-utf8"]) > 1000


def test_truncated_copy_keeps_every_complete_record(battery):
    records, by_file, _, complete = battery
    rows = by_file["cut70.warc.gz"]
    expect = sorted((url, reason or "kept") for url, _, _, reason in records[:complete])
    got = _reasons(rows)
    assert len([g for g in got if g[1] == "warc:truncated"]) == 1
    assert sorted(g for g in got if g[1] != "warc:truncated") == expect
    assert 1 <= complete < len(records)


def test_garbage_mid_file_loses_nothing(battery):
    records, by_file, _, _ = battery
    got = _reasons(by_file["garbage.warc.gz"])
    assert [g for g in got if g[1] == "warc:garbage"] == [("", "warc:garbage")]
    assert [g for g in got if g[1] != "warc:garbage"] == sorted((u, r or "kept") for u, _, _, r in records)


def test_stats_count_every_reason(battery):
    records, by_file, out, complete = battery
    totals = json.load(open(out / "stats" / "summary.json"))
    n_rows = sum(len(v) for v in by_file.values())
    assert sum(c["docs"] for c in totals.values()) == n_rows
    assert totals["warc:garbage"]["docs"] == 1 and totals["warc:truncated"]["docs"] == 1
    assert totals["extract:timeout"]["docs"] == 2 + (complete > 6)


def test_fineweb_reads_parquet_of_fetched_pages(tmp_path):
    """``format=parquet``: already-fetched pages (url, html) go through the same stages as WARC rows."""
    import pyarrow.parquet as pq

    pages = [_page("05844573ca7e"), _page("06e5123e4ef7")]
    urls = ["https://news.example.org/p1", "http://[::1"]
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"url": urls, "html": [p.decode("utf-8") for p in pages], "id": ["p1", "p2"]}),
                   tmp_path / "in" / "pages.parquet")
    out = tmp_path / "run"
    res = curate("run", FINEWEB, "--input", str(tmp_path / "in"), "--output", str(out), "--set", "format=parquet",
                 "--set", "warc.dump=CC-MAIN-2099-01", *FINEWEB_SETS)
    assert res.returncode == 0, res.stderr[-2000:]
    kept = pq.read_table(out / "output" / "data" / "CC-MAIN-2099-01" / "pages.parquet").to_pylist()
    assert [r["id"] for r in kept] == ["p1"]
    # the extracted text after C4's line removal (the only stage here that edits this page's text)
    from curate.filters.c4 import C4Quality

    failed, expect, _ = C4Quality().clean(trafilatura_text(pages[0].decode("utf-8")))
    assert failed is None and kept[0]["text"] == expect and kept[0]["c4_lines_removed"] > 0
    assert kept[0]["language"] == "en" and kept[0]["token_count"] > 100
    removed = pq.read_table(out / "removed" / "url.malformed" / "pages.parquet").column("id").to_pylist()
    assert removed == ["p2"]
