"""WarcSource: real WARC/WET/ARC samples, damaged files built from them, and one record per reason."""

from __future__ import annotations

import gzip
import os
import random
import zlib

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from curate.core.errors import ConfigError
from curate.core.ids import doc_id_for
from curate.core.pipeline import Pipeline
from curate.core.schema import DOC_SCHEMA
from curate.io.warc import REASONS, WarcSource, dump_from_path
from tests.conftest import DATA

SAMPLES = os.path.join(DATA, "warc-samples")
CC2020 = os.path.join(SAMPLES, "cc-main-2020-34-excerpt.warc.gz")

# file -> (rows, html docs, text docs, dump): counted once from the files, pinned here
EXPECTED = {
    "cc-main-2020-34-excerpt.warc.gz": (16, 16, 0, "CC-MAIN-2020-34"),
    "cc-main-2024-22-whirlwind.warc.gz": (1, 1, 0, "CC-MAIN-2024-22"),
    "cc-main-2024-22-whirlwind.warc.wet.gz": (1, 0, 1, "CC-MAIN-2024-22"),
    "cc-main-2024-22-whirlwind.warc.wat.gz": (0, 0, 0, None),
    "clueweb09-ja-quirk.warc.gz": (29, 29, 0, ""),
    "dolma-wget-sample-0000.warc.gz": (22, 22, 0, ""),
    "dolma-wget-sample-0001.warc.gz": (15, 15, 0, ""),
    "warcio-example-iana.org-chunked.warc": (1, 1, 0, ""),
    "warcio-example.warc.gz": (1, 1, 0, ""),
    "warcio-example.arc.gz": (1, 1, 0, ""),
}


def read(path: str, source: WarcSource | None = None, batch_rows: int = 7) -> pa.Table:
    source = source or WarcSource()
    batches = list(source.read(path, batch_rows))
    for b in batches:
        assert b.schema.equals(source.schema())
        assert b.num_rows <= batch_rows
    return pa.Table.from_batches(batches, source.schema())


def reasons(table: pa.Table) -> list[str | None]:
    return table.column("drop_reason").to_pylist()


def members(path: str) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each gzip member of a real file."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        out.append((pos, end))
        pos = end
    return out


# ----- synthetic records


def warc_record(
    wtype: str = "response", url: str | None = "http://example.org/", block: bytes = b"", rid: str = "1",
    extra: tuple[str, ...] = (), length: int | None = None,
) -> bytes:
    lines = ["WARC/1.0", f"WARC-Type: {wtype}", f"WARC-Record-ID: <urn:uuid:{rid}>", "WARC-Date: 2024-05-18T01:58:10Z"]
    if url is not None:
        lines.append(f"WARC-Target-URI: {url}")
    if wtype == "response":
        lines.append("Content-Type: application/http; msgtype=response")
    lines += list(extra)
    lines.append(f"Content-Length: {len(block) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def http(body: bytes, ctype: str = "text/html", status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + ([f"Content-Type: {ctype}"] if ctype else []) + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def write_gz(path, records: list[bytes]) -> str:
    with open(path, "wb") as f:
        for r in records:
            f.write(gzip.compress(r, mtime=0))
    return str(path)


PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>Hello world.</p></body></html>"
QUOTES = b"<html><body><p>" + b"He said \x93hello\x94 and left, caf\xe9 closed. " * 40 + b"</p></body></html>"


# ----- tests


def test_schema_and_params():
    src = WarcSource()
    assert src.schema().names == DOC_SCHEMA.names + ["html"]
    assert src.schema().field("html").type == pa.large_string()
    assert src.schema().field("text").type == pa.large_string()
    assert all(r.startswith("warc:") for r in REASONS)
    for bad in ({"max_payload_bytes": 0}, {"max_payload_bytes": "1"}, {"record_types": ("request",)},
                {"record_types": "response"}, {"record_types": ()}, {"dump": 3}):
        with pytest.raises((ValueError, ConfigError)):
            WarcSource(**bad)
    assert WarcSource(record_types=["response"]).record_types == ("response",)
    assert dump_from_path("/x/crawl-data/CC-MAIN-2024-22/segments/1/warc/CC-MAIN-20240517-00000.warc.gz") == (
        "CC-MAIN-2024-22"
    )
    assert dump_from_path("/data/cc-main-2020-34-excerpt.warc.gz") == "CC-MAIN-2020-34"
    assert dump_from_path("/data/CC-MAIN-20240517233122-00000.warc.gz") == ""
    # shard names keep the format, so x.warc.gz, x.warc.wet.gz and x.arc.gz cannot collide; no WAT
    names = [s.name for s in WarcSource().shards([SAMPLES])]
    assert names == [
        "cc-main-2020-34-excerpt.warc", "cc-main-2024-22-whirlwind.warc", "cc-main-2024-22-whirlwind.warc.wet",
        "clueweb09-ja-quirk.warc", "dolma-wget-sample-0000.warc", "dolma-wget-sample-0001.warc",
        "warcio-example-iana.org-chunked.warc", "warcio-example.arc", "warcio-example.warc",
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_samples(name):
    path = os.path.join(SAMPLES, name)
    table = read(path)
    n, n_html, n_text, dump = EXPECTED[name]
    assert table.num_rows == n
    assert table.column("html").drop_null().length() == n_html
    assert table.column("text").drop_null().length() == n_text
    assert reasons(table) == [None] * n
    assert table.column("url").null_count == 0
    ids = table.column("doc_id").to_pylist()
    assert len(set(ids)) == n
    if dump is not None:
        assert set(table.column("dump").to_pylist()) == ({dump} if n else set())
    assert set(table.column("file_path").to_pylist()) <= {path}
    for rid, url, did in zip(table.column("id").to_pylist(), table.column("url").to_pylist(), ids, strict=True):
        if rid is not None:
            assert did == doc_id_for(rid, url, None)
    # byte-identical on a second read, whatever the batch size
    assert read(path, batch_rows=1000).equals(table)
    pa.array(table.column("html").to_pylist(), pa.large_string())  # valid for Arrow


def test_sample_contents():
    cc = read(CC2020).to_pylist()
    assert cc[0]["id"] == "<urn:uuid:c4c112a5-3503-4483-abf8-51a0dd86dd53>"
    assert cc[0]["url"] == "http://003338.cn/l41/481397.html" and cc[0]["date"] == "2020-08-08T17:27:41Z"
    assert "О компании - Стратегия пожарной безопасности" in cc[1]["html"]  # windows-1251 declared
    wet = read(os.path.join(SAMPLES, "cc-main-2024-22-whirlwind.warc.wet.gz")).to_pylist()
    assert wet[0]["text"].startswith("Escopete - Biquipedia, a enciclopedia libre\nIr al contenido\nMenú principal")
    assert wet[0]["html"] is None and wet[0]["url"] == "https://an.wikipedia.org/wiki/Escopete"
    # chunked transfer coding undone
    iana = read(os.path.join(SAMPLES, "warcio-example-iana.org-chunked.warc")).to_pylist()[0]
    assert iana["html"].startswith("<!doctype html>") and "001c37" not in iana["html"][:100]
    assert iana["html"].rstrip().endswith("</html>")
    # legacy ARC: no record id, the ARC date becomes ISO
    arc = read(os.path.join(SAMPLES, "warcio-example.arc.gz")).to_pylist()[0]
    assert (arc["id"], arc["url"], arc["date"]) == (None, "http://example.com/", "2014-02-16T05:02:21Z")
    assert "<title>Example Domain</title>" in arc["html"]
    assert arc["doc_id"] == doc_id_for(None, "http://example.com/", arc["html"])
    # wget's "<uri>" form of WARC-Target-URI
    assert read(os.path.join(SAMPLES, "dolma-wget-sample-0000.warc.gz")).column("url")[0].as_py() == (
        "https://www.semanticscholar.org/research/research-team"
    )


def test_clueweb_broken_headers():
    """ClueWeb09: WARC/0.18, impossible dates, empty header values, LF-only HTTP headers and a
    ``Content-Encoding: gzip`` header over bodies already stored decoded. All 29 responses are readable:
    none needs a reason, the malformed date is kept as written, the EUC-JP pages decode."""
    table = read(os.path.join(SAMPLES, "clueweb09-ja-quirk.warc.gz"))
    assert table.num_rows == 29 and reasons(table) == [None] * 29
    assert set(table.column("date").to_pylist()) == {"2008-10-294T05:21:46-0700"}
    first = table.to_pylist()[0]
    assert "<title>ブラウニー ブリーフケース【ヘッドポーター HEADPORTER 吉田かばん】" in first["html"]
    assert all("\ufffd" not in h[:2000] for h in table.column("html").to_pylist())


def test_truncated_at_70_percent(tmp_path):
    data = open(CC2020, "rb").read()
    cut = int(len(data) * 0.7)
    path = tmp_path / "cc-main-2020-34-cut.warc.gz"
    path.write_bytes(data[:cut])
    full = read(CC2020)
    table = read(str(path))
    rs = reasons(table)
    assert rs.count("warc:truncated") == 1 and rs[-1] == "warc:truncated"
    assert set(rs[:-1]) == {None}
    # every record whose gzip member ends before the cut is kept, in order, with the same ids
    whole = [(s, e) for s, e in members(CC2020) if e <= cut]
    kept = table.column("id").to_pylist()[:-1]
    assert kept == full.column("id").to_pylist()[: len(kept)]
    prefix = tmp_path / "prefix.warc.gz"
    prefix.write_bytes(data[: whole[-1][1]])
    assert read(str(prefix)).column("id").to_pylist() == kept
    cut_row = table.to_pylist()[-1]
    assert cut_row["html"] is None and cut_row["text"] is None and cut_row["doc_id"]


def test_truncated_plain_and_whole_file_gzip(tmp_path):
    raw = gzip.decompress(open(CC2020, "rb").read())
    full_ids = read(CC2020).column("doc_id").to_pylist()
    plain = tmp_path / "cc.warc"
    plain.write_bytes(raw)
    assert read(str(plain)).column("doc_id").to_pylist() == full_ids
    whole = tmp_path / "cc-whole.warc.gz"  # one gzip member for the whole file (warcio refuses these)
    whole.write_bytes(gzip.compress(raw, mtime=0))
    assert read(str(whole)).column("doc_id").to_pylist() == full_ids
    for path, data in ((plain, raw), (whole, whole.read_bytes())):
        path.write_bytes(data[: int(len(data) * 0.7)])
        table = read(str(path))
        rs = reasons(table)
        assert rs.count("warc:truncated") == 1 and rs[-1] == "warc:truncated", path
        kept = table.column("doc_id").to_pylist()[:-1]
        assert kept == full_ids[: len(kept)] and len(kept) >= 9
        if path is plain:  # the cut record's header was read: its row carries the record id
            assert table.column("id")[-1].as_py() is not None


def test_garbage_between_gzip_members(tmp_path):
    data = open(CC2020, "rb").read()
    spans = members(CC2020)
    at = spans[len(spans) // 2][0]
    junk = random.Random(1234).randbytes(5000)
    path = tmp_path / "cc-garbage.warc.gz"
    path.write_bytes(data[:at] + junk + data[at:])
    full = read(CC2020)
    table = read(str(path))
    rs = reasons(table)
    assert rs.count("warc:garbage") == 1 and rs.count(None) == full.num_rows == table.num_rows - 1
    kept = [i for i, r in zip(table.column("doc_id").to_pylist(), rs, strict=True) if r is None]
    assert kept == full.column("doc_id").to_pylist()
    # also when the junk happens to contain gzip magic numbers, and at the very end of the file
    junk2 = junk[:100] + b"\x1f\x8b\x08\x00" + junk[100:3000] + b"\x1f\x8b\x08\x08abc\x00" + junk[3000:]
    path.write_bytes(data[:at] + junk2 + data[at:] + junk[:77])
    rs = reasons(read(str(path)))
    assert rs.count("warc:garbage") == 2 and rs.count(None) == full.num_rows


def test_garbage_inside_a_member_and_plain_file(tmp_path):
    data = bytearray(open(CC2020, "rb").read())
    spans = members(CC2020)
    s, e = spans[20]
    data[s + 40 : s + 400] = random.Random(7).randbytes(360)  # corrupt one member's deflate stream
    path = tmp_path / "cc-corrupt.warc.gz"
    path.write_bytes(bytes(data))
    table = read(str(path))
    rs = reasons(table)
    full = read(CC2020)
    # member 20 is the 7th response: it becomes the garbage row, every other record is kept
    assert rs == [None] * 6 + ["warc:garbage"] + [None] * 9
    full_ids = full.column("id").to_pylist()
    assert table.column("id").to_pylist() == full_ids[:6] + [None] + full_ids[7:]
    # plain WARC: junk between two records, then a record whose header never ends
    raw = gzip.decompress(open(CC2020, "rb").read())
    mid = raw.index(b"WARC/1.0\r\nWARC-Type: response", len(raw) // 2)
    plain = tmp_path / "cc-junk.warc"
    plain.write_bytes(raw[:mid] + b"\x00\x01 not a record " * 300 + raw[mid:])
    table = read(str(plain))
    assert reasons(table).count("warc:garbage") == 1
    assert [i for i, r in zip(table.column("doc_id").to_pylist(), reasons(table), strict=True) if r is None] == (
        full.column("doc_id").to_pylist()
    )


def synthetic(tmp_path, records: list[bytes], source: WarcSource | None = None, name="s.warc.gz") -> list[dict]:
    return read(write_gz(tmp_path / name, records), source).to_pylist()


def test_one_record_per_reason(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    zipped = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + random.Random(3).randbytes(3000)
    records = [
        warc_record("warcinfo", None, b"isPartOf: CC-MAIN-2099-01\r\n", rid="info"),
        warc_record("request", block=b"GET / HTTP/1.1\r\n\r\n", rid="req"),
        warc_record(block=http(PAGE), rid="ok"),
        warc_record(block=http(b"<html>" + b"x" * (2 << 20) + b"</html>"), rid="big"),
        warc_record(block=http(png), rid="png"),
        warc_record(block=http(zipped, "text/html; charset=utf-8"), rid="zip"),
        warc_record(block=http(PAGE, "application/pdf"), rid="pdf"),
        warc_record(block=http(PAGE), rid="cut", extra=("WARC-Truncated: length",)),
        warc_record(block=http(PAGE, status="404 Not Found"), rid="404"),
        warc_record(url=None, block=http(PAGE), rid="nouri"),
        warc_record(block=b"HTTP/1.1 200 OK\r\nContent-Type: text/html", rid="nohttpend"),
        warc_record(block=http(b"\x1f\x8b\x08\x00garbage", headers=("Content-Encoding: gzip",)), rid="badgz"),
        warc_record(block=http(b"\x0b\x80binary", headers=("Content-Encoding: br",)), rid="br"),
        warc_record("metadata", block=b"fetchTimeMs: 5\r\n", rid="meta"),
        warc_record(block=http(PAGE), rid="last"),
    ]
    rows = synthetic(tmp_path, records)
    got = {r["id"]: r["drop_reason"] for r in rows}
    assert got == {
        "<urn:uuid:ok>": None,
        "<urn:uuid:big>": "warc:too_large",
        "<urn:uuid:png>": "warc:not_html",
        "<urn:uuid:zip>": "warc:not_html",
        "<urn:uuid:pdf>": "warc:not_html",
        "<urn:uuid:cut>": "warc:payload_truncated",
        "<urn:uuid:404>": "warc:http_status",
        "<urn:uuid:nouri>": "warc:bad_header",
        "<urn:uuid:nohttpend>": "warc:bad_header",
        "<urn:uuid:badgz>": "warc:content_encoding",
        "<urn:uuid:br>": "warc:content_encoding",
        "<urn:uuid:last>": None,
    }
    assert [r["id"] for r in rows] == list(got)  # file order
    for r in rows:
        assert r["dump"] == "CC-MAIN-2099-01"  # from warcinfo's isPartOf
        if r["drop_reason"]:
            assert r["html"] is None and r["text"] is None
            assert r["doc_id"] == doc_id_for(r["id"], r["url"], None)
    assert rows[0]["html"] == PAGE.decode()


def test_too_large_is_not_buffered_and_respects_limit(tmp_path):
    big = warc_record(block=http(b"<html>" + b"y" * 5000 + b"</html>"), rid="big")
    rows = synthetic(tmp_path, [big, warc_record(block=http(PAGE), rid="ok")], WarcSource(max_payload_bytes=4096))
    assert [r["drop_reason"] for r in rows] == ["warc:too_large", None]
    # a block far over the limit is skipped as it streams (plain file, skip mode)
    huge = warc_record(block=http(b"<html>" + b"z" * (12 << 20) + b"</html>"), rid="huge")
    path = tmp_path / "huge.warc"
    path.write_bytes(huge + warc_record(block=http(PAGE), rid="after"))
    rows = read(str(path)).to_pylist()
    assert [(r["id"], r["drop_reason"]) for r in rows] == [("<urn:uuid:huge>", "warc:too_large"), ("<urn:uuid:after>", None)]
    # gzip Content-Encoding that inflates past the limit (a zip bomb) is too large, not decoded
    bomb = gzip.compress(b"<html>" + b"a" * (3 << 20), mtime=0)
    rows = synthetic(tmp_path, [warc_record(block=http(bomb, headers=("Content-Encoding: gzip",)), rid="bomb")])
    assert rows[0]["drop_reason"] == "warc:too_large"


def test_gzip_member_inflating_past_several_pieces(tmp_path):
    # a member whose inflated record spans several 8 MiB pieces, followed by more members: CPython can
    # report the leftover input in both unconsumed_tail and unused_data at a member's end, which once
    # made the reader re-read the same member forever
    huge = warc_record(block=http(b"<html>" + b"<p>filler text</p>" * ((17 << 20) // 18) + b"</html>"), rid="huge")
    rows = synthetic(tmp_path, [warc_record(block=http(PAGE), rid="a"), huge, warc_record(block=http(PAGE), rid="b")])
    assert [(r["id"], r["drop_reason"]) for r in rows] == [
        ("<urn:uuid:a>", None), ("<urn:uuid:huge>", "warc:too_large"), ("<urn:uuid:b>", None)
    ]


def test_encodings_never_break_arrow(tmp_path):
    gz_page = gzip.compress(PAGE, mtime=0)
    records = [
        # header says utf-8, body is cp1252 with 0x93/0x94 curly quotes
        warc_record(block=http(QUOTES, "text/html; charset=utf-8"), rid="wrong"),
        # invalid UTF-8: CESU-encoded lone surrogate, stray bytes, and no declared charset
        warc_record(block=http(b"<html><p>a\xed\xa0\x80b\xff\xfe c</p>" * 20 + b"</html>"), rid="invalid"),
        # an unknown charset label and a non-text codec name must not crash
        warc_record(block=http(QUOTES, "text/html; charset=x-nonsense"), rid="unknown"),
        warc_record(block=http(QUOTES, "text/html; charset=base64"), rid="base64"),
        # meta charset wins when the header has none
        warc_record(block=http(b'<html><head><meta charset="windows-1251"></head><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>'), rid="meta"),
        # UTF-16 with a BOM has NUL bytes but is text
        warc_record(block=http("\ufeff<html><p>héllo</p></html>".encode("utf-16-le")), rid="utf16"),
        # real gzip Content-Encoding, chunked transfer coding, LF-only HTTP headers with CC's 2018 extra CRLF
        warc_record(block=http(gz_page, headers=("Content-Encoding: gzip",)), rid="gzip"),
        warc_record(block=http(b"9\r\n<html><p>\r\n5\r\nhello\r\n0\r\n\r\n", headers=("Transfer-Encoding: chunked",)), rid="chunked"),
        warc_record(block=b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n\r\n" + PAGE, rid="lf"),
        # no Content-Type at all: sniffed
        warc_record(block=http(PAGE, ctype=""), rid="sniffed"),
        warc_record(block=http(b"just some words", ctype=""), rid="notsniffed"),
    ]
    rows = {r["id"][10:-1]: r for r in synthetic(tmp_path, records)}
    for r in rows.values():
        pa.array([r["html"]], pa.large_string())
        assert not any("\ud800" <= ch <= "\udfff" for ch in r["html"] or "")
    assert "\u201chello\u201d" in rows["wrong"]["html"] and "café" in rows["wrong"]["html"]
    assert "\u201chello\u201d" in rows["unknown"]["html"] and "\u201chello\u201d" in rows["base64"]["html"]
    assert rows["invalid"]["html"].startswith("<html><p>a") and "c</p>" in rows["invalid"]["html"]
    assert "Привет" in rows["meta"]["html"]
    assert rows["utf16"]["html"] == "<html><p>héllo</p></html>"
    assert rows["gzip"]["html"] == PAGE.decode()
    assert rows["chunked"]["html"] == "<html><p>hello"
    assert rows["lf"]["html"] == "\r\n" + PAGE.decode()
    assert rows["sniffed"]["html"] == PAGE.decode()
    assert rows["notsniffed"]["drop_reason"] == "warc:not_html"


def test_framing_quirks(tmp_path):
    ok = http(PAGE)
    records = [
        warc_record(block=ok, rid="long", length=len(ok) + 40),  # Content-Length too large (own member)
        warc_record(block=ok, rid="short", length=len(ok) - 9),  # too small: the member's end is the truth
        warc_record(block=ok, rid="badlen", length=None, extra=("Content-Length: lots",)),
        warc_record(block=ok, rid="after"),
    ]
    records[2] = records[2].replace(f"Content-Length: {len(ok)}\r\n".encode(), b"")
    rows = synthetic(tmp_path, records)
    assert [(r["id"], r["drop_reason"]) for r in rows] == [
        ("<urn:uuid:long>", None), ("<urn:uuid:short>", None),
        ("<urn:uuid:badlen>", "warc:bad_header"), ("<urn:uuid:after>", None),
    ]
    assert rows[0]["html"] == rows[1]["html"] == PAGE.decode()
    # the same in a plain stream: an unusable Content-Length costs that record only
    path = tmp_path / "q.warc"
    path.write_bytes(b"".join(records[2:]) + b"\r\n\r\n")
    assert [r["drop_reason"] for r in read(str(path)).to_pylist()] == ["warc:bad_header", None]
    # a file that is not a WARC at all: one garbage row, no crash
    path = tmp_path / "noise.warc.gz"
    path.write_bytes(random.Random(5).randbytes(20000))
    rows = read(str(path)).to_pylist()
    assert [r["drop_reason"] for r in rows] == ["warc:garbage"] and rows[0]["url"] is None
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert read(str(empty)).num_rows == 0


def test_resource_records_opt_in(tmp_path):
    res = warc_record("resource", "file:///a.html", PAGE, rid="res", extra=("Content-Type: text/html",))
    res = res.replace(b"Content-Type: text/html\r\n", b"Content-Type: text/html\r\n", 1)
    assert synthetic(tmp_path, [res]) == []
    rows = synthetic(tmp_path, [res], WarcSource(record_types=("response", "resource")))
    assert rows[0]["html"] == PAGE.decode() and rows[0]["drop_reason"] is None


def test_damage_rows_are_deterministic(tmp_path):
    data = open(CC2020, "rb").read()
    spans = members(CC2020)
    junk = random.Random(9).randbytes(5000)
    path = tmp_path / "cc-twice.warc.gz"
    path.write_bytes(data[: spans[10][0]] + junk + data[spans[10][0] : int(len(data) * 0.8)])
    first, second = read(str(path)), read(str(path), batch_rows=3)
    assert first.equals(second)
    assert sorted(r for r in reasons(first) if r) == ["warc:garbage", "warc:truncated"]
    assert len(set(first.column("doc_id").to_pylist())) == first.num_rows


def test_runs_through_the_engine(tmp_path):
    import cloudpickle

    from curate.core.pipeline import Shard
    from curate.core.run import MapJob, run_shard

    records = [
        warc_record(block=http(PAGE), rid="a"),
        warc_record(block=http(b"\x89PNG\r\n\x1a\n\x00\x00", "text/html"), rid="b"),
        warc_record(block=http(PAGE, status="301 Moved"), rid="c"),
    ]
    src_dir = tmp_path / "in" / "CC-MAIN-2024-22"
    src_dir.mkdir(parents=True)
    data = b"".join(gzip.compress(r, mtime=0) for r in records)
    (src_dir / "x.warc.gz").write_bytes(data[:-30])  # the last member is cut
    pipeline = Pipeline("w", WarcSource(), [])
    shard = WarcSource().shards([str(tmp_path / "in")])[0]
    assert isinstance(shard, Shard) and shard.name == "x.warc"
    run_dir = str(tmp_path / "run")
    stats = run_shard(MapJob(cloudpickle.dumps(pipeline), run_dir, batch_rows=2), shard)
    counts = {k: v["docs"] for k, v in stats["reasons"].items()}
    assert counts == {"kept": 1, "warc:not_html": 1, "warc:truncated": 1}
    kept = pads.dataset(os.path.join(run_dir, "output", "data", "CC-MAIN-2024-22"), format="parquet").to_table()
    assert kept.column("id").to_pylist() == ["<urn:uuid:a>"] and kept.column("html")[0].as_py() == PAGE.decode()
    assert kept.schema.equals(WarcSource().schema())
    for reason in ("warc.not_html", "warc.truncated"):
        removed = pads.dataset(os.path.join(run_dir, "removed", reason), format="parquet").to_table()
        assert removed.num_rows == 1 and removed.column("drop_reason")[0].as_py() == reason.replace(".", ":")
