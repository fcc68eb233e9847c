"""WARC / ARC / WET input: web-archive records as document rows, with every damaged record counted.

:class:`WarcSource` reads Common Crawl WARC (``.warc.gz``, ``.warc``), WET (``.warc.wet.gz``) and legacy
ARC (``.arc.gz``, ``.arc``) files. An HTTP response with an HTML payload becomes a row whose ``html``
column holds the decoded page (``text`` stays null until extraction fills it); a WET ``conversion`` record
becomes a row whose ``text`` holds CC's plain text. ``warcinfo``, ``request``, ``metadata`` and
``revisit`` records are not documents and are skipped without a row.

Peers stop on bad input (see PITFALLS: FastWARC's default mode stops on CC's off-by-2 lengths and
LF-only HTTP headers, warcio raises on a missing Target-URI, one bad gzip member ends iteration in both),
so the reader does its own framing, in two layers:

1. *gzip members*: each member is inflated with its own ``zlib.decompressobj``; bytes that are not a
   member (garbage) are skipped by scanning for the gzip magic ``1f 8b 08`` and trying the next
   candidate; a member that ends with the file is a truncation. Whole-file gzip and plain files stream
   through in pieces of at most 8 MiB, so memory stays bounded.
2. *records*: a small header parser over the inflated bytes (CRLF or LF line ends, ``WARC/0.18`` to
   ``WARC/1.1``, empty or malformed values tolerated). A record is framed by its Content-Length, except
   where a gzip member boundary says otherwise: a member that ends before the declared length and is
   followed by a new ``WARC/`` header ends the record there (Content-Length too large), and bytes left
   between the declared end and the member's end belong to the record (Content-Length too small).
   Anything else that is not a record start is skipped up to the next ``WARC/x.y`` line.

Every problem becomes one row with ``drop_reason`` set (``html`` and ``text`` null), so it is counted by
the run's stats and lands under ``removed/``. Its ``doc_id`` comes from the WARC-Record-ID when the
damaged record's header was readable, else from the file's base name and the byte offset (the gzip
member's offset in the file plus the offset inside it), which stays the same wherever the file is
mounted. Reasons:

- ``warc:truncated``: the file ends inside a gzip member or inside a record. Everything read before is
  kept; the cut record (or member) is one row.
- ``warc:garbage``: bytes mid-file that are neither a gzip member nor a record (or a member whose deflate
  stream or CRC is broken). Reading resumes at the next gzip member / ``WARC/`` header; one row per
  contiguous skipped region (a record cut by the region is that row).
- ``warc:bad_header``: a record whose WARC header has no end, no usable Content-Length, or (for
  documents) no WARC-Target-URI; or a response whose HTTP status line / header block is unreadable.
- ``warc:payload_truncated``: the record carries a ``WARC-Truncated`` header (CC cuts payloads at 1 MiB).
- ``warc:too_large``: the payload (or its Content-Encoding-decoded form) exceeds ``max_payload_bytes``;
  it is neither decoded nor held in memory.
- ``warc:http_status``: the HTTP status is not 2xx (redirect, error pages).
- ``warc:content_encoding``: the payload declares a Content-Encoding it is really compressed with but
  that cannot be decoded (corrupt gzip/deflate, brotli without a decoder).
- ``warc:not_html``: the Content-Type (HTTP header, else CC's ``WARC-Identified-Payload-Type``, else
  sniffed bytes) is not HTML, or the payload is binary whatever its label (a NUL byte in the first KB
  without a UTF-16 BOM, or the magic number of PNG/GIF/JPEG/ZIP/PDF/gzip/...).

Decoding: charset from the HTTP Content-Type, then ``<meta charset>`` / ``http-equiv`` in the first 4 KB
(each tried strictly, so a wrong declaration falls through), then ``resiliparse``'s detector, then
``errors="replace"``; labels follow WHATWG (latin-1 -> cp1252, gb2312 -> gb18030, meta utf-16 -> utf-8).
Lone surrogates are replaced, so every string is valid for Arrow. Chunked transfer coding and
gzip/deflate Content-Encoding are undone when the payload really is encoded (ClueWeb09 keeps the header
but stores the decoded body). The same file always gives the same rows in the same order.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
import re
import zlib
from collections.abc import Iterator

import pyarrow as pa

from curate.core.ids import doc_id, doc_id_for
from curate.core.pipeline import Source
from curate.core.schema import DOC_SCHEMA, with_field

WARC_SCHEMA = with_field(DOC_SCHEMA, pa.field("html", pa.large_string()))

REASONS = (
    "warc:truncated",
    "warc:garbage",
    "warc:bad_header",
    "warc:payload_truncated",
    "warc:too_large",
    "warc:http_status",
    "warc:content_encoding",
    "warc:not_html",
)
DOC_TYPES = ("response", "resource", "conversion")

_GZIP_MAGIC = b"\x1f\x8b\x08"
_READ = 1 << 20  # compressed bytes read from the file at a time
_FEED = 1 << 16  # compressed bytes fed per decompress call: keeps unused_data copies small
_PIECE = 8 << 20  # most inflated bytes handed to the record parser at once
_MAX_HEADER = 1 << 16  # a WARC or HTTP header block longer than this is not recoverable
_WS = b"\r\n\t "

_DUMP_RE = re.compile(r"CC-MAIN-\d{4}-\d{2}(?!\d)", re.IGNORECASE)
_HDR_END = re.compile(rb"\r?\n\r?\n")
_WARC_START = re.compile(rb"WARC/\d\.\d+\r?\n")
_ARC_LINE = re.compile(rb"[A-Za-z][\w+.-]*://\S* \S+ \d{14} \S* ")
_ARC_START = re.compile(rb"\n([A-Za-z][\w+.-]*://\S* \S+ \d{14} \S* )")
_NON_WS = re.compile(rb"[^\r\n\t ]")
_STATUS = re.compile(rb"HTTP/\d(?:\.\d)?\s+(\d{3})")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([^\"';\s,]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_SURROGATES = re.compile("[\\ud800-\\udfff]")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"})
_SNIFF_TYPES = frozenset({"", "application/octet-stream", "unknown/unknown", "application/unknown"})
_HTML_START = re.compile(
    rb"\s*(?:<!doctype\s+html|<html|<head|<body|<title|<meta|<!--|<script|<div|<p[\s>]|<table|<br|<a\s|<h1)",
    re.IGNORECASE,
)
_MAGIC = (
    b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"PK\x03\x04", b"PK\x05\x06", b"%PDF-", b"\x1f\x8b",
    b"RIFF", b"OggS", b"ID3", b"\x00\x00\x01\x00", b"wOFF", b"wOF2", b"\x7fELF", b"7z\xbc\xaf", b"Rar!",
    b"\xca\xfe\xba\xbe", b"\x00asm", b"fLaC", b"BZh", b"\xfd7zXZ", b"(\xb5/\xfd", b"II*\x00", b"MM\x00*",
)
_WHATWG = {
    "latin1": "cp1252", "latin-1": "cp1252", "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "l1": "cp1252",
    "ascii": "cp1252", "us-ascii": "cp1252", "iso-8859-9": "cp1254", "latin5": "cp1254",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "big5": "big5hkscs",
    "tis-620": "cp874", "iso-8859-11": "cp874", "unicode": "utf-16le",
}


def dump_from_path(path: str) -> str:
    """``CC-MAIN-YYYY-WW`` from a path component (upper-cased), else ``""``."""
    m = _DUMP_RE.search(path)
    return m.group(0).upper() if m else ""


@dataclasses.dataclass(frozen=True)
class WarcSource(Source):
    """Reads WARC, WET and ARC files (gzip per record, whole-file gzip, or plain) as document rows.

    Args:
        dump: the ``dump`` column; when empty, taken from a ``CC-MAIN-YYYY-WW`` path component, else
            from the warcinfo record's ``isPartOf`` when that is a CC dump name, else ``""``.
        max_payload_bytes: payloads larger than this (Common Crawl's 1 MiB cap by default) become
            ``warc:too_large`` rows without being decoded.
        record_types: WARC-Type values that can become documents (``response``, ``resource``,
            ``conversion``); every other record is skipped without a row.
    """

    dump: str = ""
    max_payload_bytes: int = 1 << 20
    record_types: tuple[str, ...] = ("response", "conversion")
    name = "warc"
    # WAT files (``.wat.gz``) hold no documents; ``.warc.wet.gz`` matches ``.wet.gz``
    suffixes = (".warc.gz", ".warc", ".arc.gz", ".arc", ".wet.gz", ".wet")

    def __post_init__(self) -> None:
        if not isinstance(self.dump, str):
            raise ValueError(f"warc.dump must be a string, got {self.dump!r}")
        if isinstance(self.max_payload_bytes, bool) or not isinstance(self.max_payload_bytes, int):
            raise ValueError(f"warc.max_payload_bytes must be an int, got {self.max_payload_bytes!r}")
        if self.max_payload_bytes < 1:
            raise ValueError(f"warc.max_payload_bytes must be >= 1, got {self.max_payload_bytes}")
        types = self.record_types
        if isinstance(types, str) or not isinstance(types, tuple | list):
            raise ValueError(f"warc.record_types must be a tuple of names, got {types!r}")
        bad = [t for t in types if t not in DOC_TYPES]
        if bad or not types:
            raise ValueError(f"warc.record_types must be a non-empty subset of {DOC_TYPES}, got {tuple(types)}")
        object.__setattr__(self, "record_types", tuple(types))

    def schema(self) -> pa.Schema:
        return WARC_SCHEMA

    def read(self, path: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        rows: list[tuple] = []
        with open(path, "rb") as f:
            for row in _Parser(self, path).rows(_events(f, path)):
                rows.append(row)
                if len(rows) >= batch_rows:
                    yield _batch(rows)
                    rows = []
        if rows:
            yield _batch(rows)


def _batch(rows: list[tuple]) -> pa.RecordBatch:
    cols = list(zip(*rows, strict=True))
    arrays = [pa.array(col, f.type) for col, f in zip(cols, WARC_SCHEMA, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=WARC_SCHEMA)


# ---------------------------------------------------------------------------------------------- layer 1
# Events: ("data", member_offset, inner_offset, bytes, member_end), ("garbage", start, end),
# ("truncated", member_offset). Offsets are byte offsets in the file (inner: inside the inflated member).


def _events(f, path: str) -> Iterator[tuple]:
    head = f.read(2)
    f.seek(0)
    if head == b"\x1f\x8b" or (path.endswith(".gz") and head != b"WA"):
        yield from _inflate(f)
        return
    off = 0
    while chunk := f.read(_READ):
        yield ("data", 0, off, chunk, False)
        off += len(chunk)


def _inflate(f) -> Iterator[tuple]:
    buf = bytearray()
    base = 0  # file offset of buf[0]
    pos = 0
    at_eof = False
    bad_start: int | None = None  # file offset where an undecodable region began

    def more() -> bool:
        nonlocal at_eof, buf, base, pos
        if at_eof:
            return False
        chunk = f.read(_READ)
        if not chunk:
            at_eof = True
            return False
        if pos > _READ:
            del buf[:pos]
            base += pos
            pos = 0
        buf += chunk
        return True

    while True:
        while len(buf) - pos < 3 and more():
            pass
        if pos >= len(buf):
            break
        if buf[pos : pos + 3] != _GZIP_MAGIC:
            if bad_start is None:
                bad_start = base + pos
            while True:
                i = buf.find(_GZIP_MAGIC, pos + 1)
                if i >= 0:
                    pos = i
                    break
                pos = max(pos + 1, len(buf) - 2)
                if not more():
                    pos = len(buf)
                    break
            continue
        start = base + pos
        d = zlib.decompressobj(31)
        parts: list[bytes] = []
        size = inner = 0
        state = "cut"
        try:
            while True:
                if pos >= len(buf) and not more():
                    break
                chunk = bytes(buf[pos : pos + _FEED])
                out = d.decompress(chunk, _PIECE)
                # at the end of a member the leftover input is in unused_data; CPython may also leave it
                # in unconsumed_tail (seen on 3.11 after an output-capped call): count it once
                pos += len(chunk) - len(d.unused_data if d.eof else d.unconsumed_tail)
                if out:
                    parts.append(out)
                    size += len(out)
                if d.eof:
                    state = "ok"
                    break
                if size >= _PIECE and bad_start is None:
                    yield ("data", start, inner, b"".join(parts), False)
                    inner += size
                    parts, size = [], 0
        except zlib.error:
            state = "broken"
        if state == "ok":
            if bad_start is not None:
                yield ("garbage", bad_start, start)
                bad_start = None
            yield ("data", start, inner, b"".join(parts), True)
        elif state == "broken":
            if bad_start is None:
                if parts:  # what inflated before the damage is real data: the parser keeps whole records
                    yield ("data", start, inner, b"".join(parts), False)
                bad_start = start
            if start - base >= 0:  # rescan the broken member's bytes: the next member may start inside
                pos = start - base + 1
        else:  # the file ended inside this member
            if bad_start is not None:
                yield ("garbage", bad_start, base + len(buf))
                bad_start = None
            else:
                if parts:
                    yield ("data", start, inner, b"".join(parts), False)
                yield ("truncated", start)
            return
    if bad_start is not None:
        yield ("garbage", bad_start, base + len(buf))


# ---------------------------------------------------------------------------------------------- layer 2


class _Parser:
    """Frames records in the inflated stream and turns each into a row (or nothing).

    The buffer holds inflated bytes not yet framed; positions in ``ends`` and ``pieces`` are stream
    positions (bytes appended since the start), so consuming the buffer's front never shifts them.
    """

    def __init__(self, src: WarcSource, path: str):
        self.src = src
        self.path = path
        self.key = os.path.basename(path)
        self.dump = src.dump or dump_from_path(path)
        self.buf = bytearray()
        self.base = 0  # stream position of buf[0]
        self.pieces: list[tuple[int, int, int]] = []  # (stream pos, member offset, inner offset)
        self.ends: list[int] = []  # stream positions where a gzip member ends
        self.eof = False
        self.skip_to: int | None = None  # discarding an oversized block up to this stream position
        self.junk_from: int | None = None  # stream position where unparseable bytes began
        self.arc: bool | None = None

    # ----- buffer bookkeeping
    def _consume(self, n: int) -> None:
        if n <= 0:
            return
        del self.buf[:n]  # O(1): bytearray drops its front without moving the rest
        self.base += n
        if self.ends and self.ends[0] <= self.base:
            self.ends = [e for e in self.ends if e > self.base]
        while len(self.pieces) > 1 and self.pieces[1][0] <= self.base:
            self.pieces.pop(0)

    def _where(self, stream_pos: int) -> str:
        for pos, member, inner in reversed(self.pieces):
            if pos <= stream_pos:
                return f"{member}+{inner + stream_pos - pos}"
        return f"0+{stream_pos}"

    def _member_end(self, lo: int, hi: int) -> int | None:
        """First member end, as a buffer index, in [lo, hi)."""
        for e in self.ends:
            i = e - self.base
            if lo <= i < hi:
                return i
        return None

    def _is_start(self, i: int) -> bool:
        return self.buf.startswith(b"WARC/", i) or bool(self.arc and _ARC_LINE.match(self.buf, i))

    def _next_start(self, i: int) -> int:
        """Buffer index of the next record header at or after ``i``, or -1."""
        if self.arc:
            m = _ARC_START.search(self.buf, max(i - 1, 0))
            return m.start(1) if m else -1
        m = _WARC_START.search(self.buf, i)
        return m.start() if m else -1

    # ----- driver
    def rows(self, events: Iterator[tuple]) -> Iterator[tuple]:
        for ev in events:
            if ev[0] == "data":
                _, member, inner, data, member_end = ev
                self.pieces.append((self.base + len(self.buf), member, inner))
                self.buf += data
                if member_end:
                    self.ends.append(self.base + len(self.buf))
                yield from self._parse()
            else:
                yield from self._damage(ev[0], ev[1])
        self.eof = True
        yield from self._parse()
        if self.junk_from is not None or _first_non_ws(self.buf) < len(self.buf):
            yield from self._damage("truncated" if self.junk_from is None else "garbage", None)

    def _damage(self, kind: str, member_offset: int | None) -> Iterator[tuple]:
        """A garbage region or a truncation: the partial record in the buffer (if any) is its row."""
        meta = None
        j = _first_non_ws(self.buf)
        if self.skip_to is None and self.buf.startswith(b"WARC/", j):
            meta = _partial_meta(self.buf[j : j + _MAX_HEADER])
        if self.junk_from is not None:
            where = self._where(self.junk_from)
        elif j < len(self.buf) or member_offset is None:
            where = self._where(self.base + j)
        else:
            where = f"{member_offset}+0"
        self._consume(len(self.buf))
        self.skip_to = self.junk_from = None
        yield self._row("warc:" + kind, meta, where)

    def _parse(self) -> Iterator[tuple]:
        while True:
            if self.skip_to is not None and not self._skip():
                return
            buf = self.buf
            n = len(buf)
            i = _first_non_ws(buf)
            if i == n:
                self._consume(n)
                return
            if n - i < 16 and not self.eof:
                self._consume(i)
                return
            if self.arc is None:
                self.arc = buf.startswith(b"filedesc://", i)
            if buf.startswith(b"WARC/", i):
                if self.junk_from is not None:
                    rows = [self._flush_junk(i)]
                else:
                    rows = self._frame_warc(i)
            elif self.arc and _ARC_LINE.match(buf, i):
                rows = [self._flush_junk(i)] if self.junk_from is not None else self._frame_arc(i)
            else:
                rows = self._resync(i)
            if rows is None:
                return
            yield from rows

    def _skip(self) -> bool:
        """Discard an oversized block; True once it is gone. A member boundary followed by a new record
        header ends it early (its Content-Length was too large)."""
        n = len(self.buf)
        stop = self.skip_to - self.base
        e = self._member_end(1, min(stop, n + 1))
        while e is not None:
            if n < e + 16 and not self.eof:
                self._consume(e - 1)  # keep the boundary in view until the next member arrives
                return False
            if self._is_start(e):
                stop = e
                break
            e = self._member_end(e + 1, min(stop, n + 1))
        if n < stop:
            keep = 1 if self.base + n in self.ends else 0
            self._consume(n - keep)
            return False
        self._consume(stop)
        self.skip_to = None
        return True

    def _flush_junk(self, i: int) -> tuple:
        where = self._where(self.junk_from)
        self.junk_from = None
        self._consume(i)
        return self._row("warc:garbage", None, where)

    def _resync(self, i: int) -> list[tuple] | None:
        """Bytes at ``i`` are not a record: skip to the next record start; one garbage row per region."""
        if self.junk_from is None:
            self.junk_from = self.base + i
        k = self._next_start(i + 1)
        if k < 0:
            if self.eof:
                return [self._flush_junk(len(self.buf))]
            self._consume(max(i, len(self.buf) - 64))  # a header may straddle the next piece
            return None
        return [self._flush_junk(k)]

    # ----- framing
    def _frame_warc(self, i: int) -> list[tuple] | None:
        buf = self.buf
        n = len(buf)
        e = self._member_end(i + 1, n + 1)
        limit = min(n, i + _MAX_HEADER, e if e is not None else n)
        m = _HDR_END.search(buf, i, limit)
        if m is None:
            if not self.eof and limit == n and e is None:
                self._consume(i)
                return None
            return self._bad_header(i, None, i + 1)
        fields = _fields(bytes(buf[i : m.start()]))
        return self._frame_block(i, m.end(), fields)

    def _frame_arc(self, i: int) -> list[tuple] | None:
        buf = self.buf
        eol = buf.find(b"\n", i, i + 8192)
        if eol < 0:
            if not self.eof and len(buf) - i < 8192:
                self._consume(i)
                return None
            return self._bad_header(i, None, i + 1)
        parts = bytes(buf[i:eol]).decode("utf-8", "replace").split()
        url = parts[0]
        date = parts[2]
        if len(date) == 14 and date.isdigit():
            date = f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[8:10]}:{date[10:12]}:{date[12:14]}Z"
        fields = {
            "warc-type": "warcinfo" if url.startswith("filedesc:") else "response",
            "warc-target-uri": url,
            "warc-date": date,
            "content-length": parts[-1],
            "content-type": "application/http" if url.startswith(("http:", "https:")) else parts[3],
        }
        return self._frame_block(i, eol + 1, fields)

    def _frame_block(self, i: int, bstart: int, fields: dict[str, str]) -> list[tuple] | None:
        buf = self.buf
        n = len(buf)
        try:
            length = int(fields.get("content-length", ""))
        except ValueError:
            length = -1
        if length < 0:
            return self._bad_header(i, fields, bstart)
        bend = bstart + length
        # a member that ends inside the declared block and is followed by a new header ends the record
        e = self._member_end(bstart, bend)
        if e is not None:
            if n < e + 16 and not self.eof:
                self._consume(i)
                return None
            if self._is_start(e):
                bend = _strip_terminator(buf, bstart, e)
        if bend > n:
            if self.eof:
                return list(self._damage("truncated", None))
            pre = self._precheck(fields)
            oversized = pre != "skip" and length > self.src.max_payload_bytes + _MAX_HEADER
            if oversized or (pre == "skip" and length > _PIECE):
                out = [] if pre == "skip" else [self._row(pre or "warc:too_large", fields, self._at(i))]
                self.skip_to = self.base + bend
                self._consume(i)
                return out
            self._consume(i)
            return None
        # the record's end: CR/LF, then a new record, the end of a member, or the end of the file
        j = bend
        while j < n and buf[j] in b"\r\n":
            j += 1
        at_end = j == n and (self.eof or self.base + j in self.ends)
        if j == n and not at_end:
            self._consume(i)
            return None
        if not at_end and not self._is_start(j):
            if n - j < 16 and not self.eof and self._member_end(j, n + 1) is None:
                self._consume(i)
                return None
            # Content-Length too small: the rest of this member (with no new header in it) is the block,
            # and so are a few stray bytes before the next header in a plain stream
            e = self._member_end(j, n + 1)
            k = buf.find(b"\nWARC/", bend, bend + 16)
            if e is not None and not 0 <= self._next_start(bend) < e:
                bend, j = _strip_terminator(buf, bstart, e), e
            elif k >= 0:
                bend, j = _strip_terminator(buf, bstart, k + 1), k + 1
        with memoryview(buf) as mv:
            block = bytes(mv[bstart:bend])
        where = self._at(i)
        self._consume(j)
        row = self._record(fields, block, where)
        return [row] if row is not None else []

    def _at(self, i: int) -> str:
        return self._where(self.base + i)

    def _bad_header(self, i: int, fields: dict[str, str] | None, resume: int) -> list[tuple] | None:
        """An unframeable record: one row, then skip to the next record start after ``resume``."""
        k = self._next_start(resume)
        if k < 0 and not self.eof and len(self.buf) - i < 4 * _MAX_HEADER:
            self._consume(i)
            return None
        meta = fields if fields is not None else _partial_meta(self.buf[i : i + _MAX_HEADER])
        row = self._row("warc:bad_header", meta, self._at(i))
        self._consume(k if k >= 0 else len(self.buf))
        return [row]

    # ----- record -> row
    def _precheck(self, fields: dict[str, str]) -> str | None:
        """``"skip"`` for non-documents, a reason decided by the WARC header alone, or None."""
        if fields.get("warc-type", "").lower() not in self.src.record_types:
            return "skip"
        if not fields.get("warc-target-uri"):
            return "warc:bad_header"
        if fields.get("warc-truncated"):
            return "warc:payload_truncated"
        return None

    def _record(self, fields: dict[str, str], block: bytes, where: str) -> tuple | None:
        wtype = fields.get("warc-type", "").lower()
        if wtype == "warcinfo":
            if not self.dump:
                m = _DUMP_RE.search(block[:4096].decode("utf-8", "replace"))
                self.dump = m.group(0).upper() if m else ""
            return None
        pre = self._precheck(fields)
        if pre == "skip":
            return None
        if pre is not None:
            return self._row(pre, fields, where)
        limit = self.src.max_payload_bytes
        if wtype == "conversion":
            if len(block) > limit:
                return self._row("warc:too_large", fields, where)
            charset = _charset_of(fields.get("content-type", "")) or "utf-8"
            return self._row(None, fields, where, text=_decode(block, [charset], sniff=False))
        ctype = fields.get("content-type", "")
        headers: dict[str, str] = {}
        payload = block
        if block.startswith(b"HTTP/"):
            m = _HDR_END.search(block, 0, _MAX_HEADER)
            status = _STATUS.match(block)
            if m is None or status is None:
                return self._row("warc:bad_header", fields, where)
            if not 200 <= int(status.group(1)) < 300:
                return self._row("warc:http_status", fields, where)
            headers = _fields(block[: m.start()])
            payload = block[m.end() :]
            ctype = headers.get("content-type", "")
        elif wtype == "response" and ctype.lower().startswith("application/http"):
            return self._row("warc:bad_header", fields, where)
        if len(payload) > limit:
            return self._row("warc:too_large", fields, where)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            payload = _dechunk(payload)
        payload, problem = _undo_encoding(payload, headers.get("content-encoding", "").lower(), limit)
        if problem is not None:
            return self._row(problem, fields, where)
        head = payload[:1024]
        if _is_binary(head):
            return self._row("warc:not_html", fields, where)
        mime = ctype.split(";", 1)[0].strip().lower()
        ident = fields.get("warc-identified-payload-type", "").split(";", 1)[0].strip().lower()
        html = mime in _HTML_TYPES or ident in _HTML_TYPES
        if not html and mime in _SNIFF_TYPES and ident in _SNIFF_TYPES and _HTML_START.match(head):
            html = True
        if not html:
            return self._row("warc:not_html", fields, where)
        return self._row(None, fields, where, html=_decode(payload, [_charset_of(ctype)], sniff=True))

    def _row(
        self, reason: str | None, fields: dict[str, str] | None, where: str,
        html: str | None = None, text: str | None = None,
    ) -> tuple:
        fields = fields or {}
        rec_id = fields.get("warc-record-id") or None
        url = fields.get("warc-target-uri") or None
        if rec_id:
            did = doc_id_for(rec_id, url, None)
        elif reason is None:  # ARC has no record ids: url + content digest, as for other sources
            did = doc_id_for(None, url, html if html is not None else text)
        else:
            did = doc_id(f"warc:{self.key}@{where}")
        return (
            text, rec_id, self.dump, url, fields.get("warc-date") or None, self.path,
            None, None, None, did, reason, html,
        )


def _strip_terminator(buf: bytearray, lo: int, hi: int) -> int:
    """``hi`` less the record terminator (up to 4 CR/LF bytes) before it, not below ``lo``."""
    end = hi
    while end > lo and hi - end < 4 and buf[end - 1] in b"\r\n":
        end -= 1
    return end


def _first_non_ws(buf: bytes | bytearray) -> int:
    m = _NON_WS.search(buf)
    return m.start() if m else len(buf)

# ---------------------------------------------------------------------------------------------- helpers


def _fields(raw: bytes) -> dict[str, str]:
    """Header block -> lower-cased names to values (first wins); lines without a colon are ignored."""
    out: dict[str, str] = {}
    text = raw.decode("utf-8", "replace") if not raw.isascii() else raw.decode("ascii")
    for line in text.split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            if key not in out:
                out[key] = value.strip()
    uri = out.get("warc-target-uri")
    if uri and uri.startswith("<") and uri.endswith(">"):  # WARC 1.0 draft style, written by wget
        out["warc-target-uri"] = uri[1:-1]
    return out


_META_FIELDS = re.compile(rb"^(WARC-Record-ID|WARC-Target-URI|WARC-Date|WARC-Type):[ \t]*([^\r\n]*)", re.M | re.I)


def _partial_meta(head: bytes | bytearray) -> dict[str, str]:
    """Best-effort id / url / date from the start of a record whose header may be cut."""
    end = _HDR_END.search(head)
    head = bytes(head[: end.start() if end else len(head)])
    out: dict[str, str] = {}
    for m in _META_FIELDS.finditer(head):
        out.setdefault(m.group(1).decode().lower(), m.group(2).strip().decode("utf-8", "replace"))
    return _fields(b"\n" + "\n".join(f"{k}: {v}" for k, v in out.items()).encode()) if out else {}


def _charset_of(content_type: str) -> str | None:
    m = _CHARSET.search(content_type)
    return m.group(1) if m else None


def _dechunk(data: bytes) -> bytes:
    """Undo chunked transfer coding; a body that does not start with a chunk size is returned as is."""
    out = []
    pos, n = 0, len(data)
    while pos < n:
        eol = data.find(b"\n", pos, pos + 256)
        if eol < 0:
            break
        try:
            size = int(data[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            if pos == 0:
                return data  # the writer already removed the chunking but kept the header
            break
        if size <= 0:
            break
        start = eol + 1
        out.append(data[start : start + size])
        pos = start + size
        if data.startswith(b"\r\n", pos):
            pos += 2
        elif data.startswith(b"\n", pos):
            pos += 1
    return b"".join(out)


def _undo_encoding(payload: bytes, encoding: str, limit: int) -> tuple[bytes, str | None]:
    """Decode gzip/deflate Content-Encoding when the bytes really are encoded; bounded by ``limit``."""
    body = payload.lstrip(_WS) if payload[:1] in (b"\r", b"\n") else payload
    gz = body.startswith(b"\x1f\x8b")
    if gz or (encoding == "deflate" and body[:1] in (b"\x78", b"\x58", b"\x68", b"\x08")):
        for wbits in ((31,) if gz else (15, -15)):
            d = zlib.decompressobj(wbits)
            try:
                out = d.decompress(body, limit + 1)
            except zlib.error:
                continue
            if len(out) > limit:
                return payload, "warc:too_large"
            if not out and not d.eof:
                continue  # nothing inflated: not really this encoding (a cut stream still gives its start)
            return out, None
        if encoding in ("gzip", "x-gzip", "deflate"):
            return payload, "warc:content_encoding"
        return payload, None
    if encoding in ("br", "compress", "x-compress", "zstd") and not _HTML_START.match(payload[:1024]):
        return payload, "warc:content_encoding"
    return payload, None


def _is_binary(head: bytes) -> bool:
    body = head.lstrip(_WS)
    if body.startswith(_MAGIC) or head.startswith(_MAGIC) or body[4:8] == b"ftyp":
        return True
    if b"\x00" in head:
        return not body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    return False


def _codec(label: str | None, from_meta: bool = False) -> str | None:
    """A Python text codec for a charset label (WHATWG-mapped), or None if unusable."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if from_meta and label.startswith("utf-16"):
        return "utf-8"  # WHATWG: a meta tag cannot declare UTF-16 (it was read as ASCII)
    label = _WHATWG.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib ... are not charsets
        return None
    return info.name


def _decode(data: bytes, declared: list[str | None], sniff: bool) -> str:
    """Bytes -> str: BOM, declared charsets (strict), meta charset, detection, then replace."""
    if data.isascii():
        return data.decode("ascii")
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return _clean(data[len(bom) :].decode(enc, "replace"))
    tried = set()
    candidates = [(_codec(c), c) for c in declared]
    if sniff:
        m = _META_CHARSET.search(data, 0, 4096)
        if m:
            candidates.append((_codec(m.group(1).decode("ascii"), from_meta=True), None))
    for enc, _ in candidates:
        if enc is None or enc in tried:
            continue
        tried.add(enc)
        try:
            return _clean(data.decode(enc))
        except UnicodeDecodeError:
            continue
    from resiliparse.parse.encoding import detect_encoding

    enc = _codec(detect_encoding(data, 16384)) or "utf-8"
    try:
        return _clean(data.decode(enc, "replace"))
    except Exception:  # a codec that fails even with errors="replace" (e.g. a broken stateful one)
        return _clean(data.decode("utf-8", "replace"))


def _clean(s: str) -> str:
    """Arrow refuses lone surrogates: replace them. Only odd codecs (utf-7, ...) produce them, so a C-speed
    encode decides whether the (10x slower) regex pass is needed."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", s)
    return s
