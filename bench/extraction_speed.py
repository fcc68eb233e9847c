"""Extraction speed per core: docs/s and MB/s of HTML for our Extract stage, datatrove's Trafilatura step,
raw trafilatura and raw resiliparse, on the same real pages.

Pages: every HTML page of the four extraction benchmarks (article-extraction-benchmark, CleanEval,
CleanPortalEval, Readability test pages; ~1,120 pages, ~80 KB mean), shuffled with a fixed seed, written
as WARC response records (warcio, gzip per record) into a temp file and repeated with fresh record ids
until ``--docs`` records. The WARC is read back once before any timing, so neither I/O nor gzip nor
decoding is measured: every method gets the same in-memory payloads.

Methods (all in this process, one core; each gets a few untimed warm-up documents first):

- ``curate Extract(trafilatura)`` / ``curate Extract(resiliparse)``: ``curate.extract.stage.Extract``
  over pyarrow RecordBatches of ``--batch-rows`` rows with ``html`` (large_string, or large_binary if the
  stage declares that) and ``drop_reason`` columns (skipped, with the reason, while it does not exist).
  The stage extracts in its own worker process; the parent waits, so it still uses about one core.
- ``datatrove Trafilatura.run``: datatrove's step as a FineWeb run uses it (``Trafilatura(favour_precision
  =True)``, ``run()`` over Documents, through its sandbox process; timeout raised from its 1 s default to
  60 s so a loaded machine does not drop documents).
- ``datatrove Trafilatura.extract``: the same step's ``extract()`` called per document, no sandbox.
- ``trafilatura.extract (FineWeb)``: FineWeb's settings, raw.
- ``resiliparse extract_plain_text``: ``main_content=True, alt_texts=False``, raw.
- ``fast path``: bench/fast_extract.py (resiliparse minimal HTML + boilerplate-line rules).

Smoke run (default 100 docs) and the real run:

    .venv/bin/python bench/extraction_speed.py
    .venv/bin/python bench/extraction_speed.py --docs 3000
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from extraction_quality import BENCHMARKS, DATA, load, trafilatura_fineweb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
WARMUP = 5


@dataclass(frozen=True)
class Doc:
    record_id: str
    url: str
    payload: bytes   # HTTP body as stored in the WARC
    html: str        # payload decoded (UTF-8), outside the timed region


def write_warc(path: str, n_docs: int, data_dir: str, seed: int = 0) -> int:
    """Write ``n_docs`` response records cycling through all benchmark pages; return distinct pages."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = [p for b in BENCHMARKS for p in load(b, data_dir)]
    random.Random(seed).shuffle(pages)
    rng = random.Random(seed + 1)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i in range(n_docs):
            page = pages[i % len(pages)]
            body = page.html.encode("utf-8")
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            record_id = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
            url = page.url or f"http://bench.invalid/{page.bench}/{page.page_id}"
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": record_id, "WARC-Identified-Payload-Type": "text/html"})
            writer.write_record(record)
    return min(len(pages), n_docs)


def read_warc(path: str) -> list[Doc]:
    from warcio.archiveiterator import ArchiveIterator

    docs = []
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type != "response":
                continue
            payload = record.content_stream().read()
            docs.append(Doc(record.rec_headers.get_header("WARC-Record-ID"),
                            record.rec_headers.get_header("WARC-Target-URI"), payload,
                            payload.decode("utf-8")))
    return docs


# ---------------------------------------------------------------- methods
# Each method takes the docs and returns the number of non-empty outputs; raising ``Unavailable`` skips it.

class Unavailable(Exception):
    pass


def per_doc(fn: Callable[[str], str]) -> Callable[[list[Doc]], int]:
    def run(docs: list[Doc]) -> int:
        return sum(1 for d in docs if fn(d.html))
    return run


def raw_resiliparse() -> Callable[[list[Doc]], int]:
    from resiliparse.extract.html2text import extract_plain_text

    return per_doc(lambda html: extract_plain_text(html, main_content=True, alt_texts=False))


def fast_path() -> Callable[[list[Doc]], int]:
    from fast_extract import fast_text

    return per_doc(fast_text)


def datatrove_run() -> Callable[[list[Doc]], int]:
    from datatrove.data import Document
    from datatrove.pipeline.extractors import Trafilatura

    def run(docs: list[Doc]) -> int:
        step = Trafilatura(favour_precision=True, timeout=60)
        documents = [Document(text=d.html, id=d.record_id, metadata={"url": d.url}) for d in docs]
        return sum(1 for _ in step.run(iter(documents)))
    return run


def datatrove_extract() -> Callable[[list[Doc]], int]:
    from datatrove.pipeline.extractors import Trafilatura

    return per_doc(Trafilatura(favour_precision=True).extract)


def curate_stage(extractor: str, batch_rows: int) -> Callable[[list[Doc]], int]:
    try:
        from curate.extract.stage import Extract
    except ImportError as e:
        raise Unavailable(f"curate.extract.stage not importable yet ({e})") from e
    import pyarrow as pa

    stage = Extract(extractor=extractor)
    stage.setup()

    def make_batch(docs: list[Doc], html_type: pa.DataType) -> pa.RecordBatch:
        html = [d.html for d in docs] if pa.types.is_large_string(html_type) else [d.payload for d in docs]
        n = len(docs)
        return pa.RecordBatch.from_arrays(
            [pa.array([d.record_id for d in docs], pa.string()), pa.array([d.url for d in docs], pa.string()),
             pa.array(html, html_type), pa.array([None] * n, pa.large_string()),
             pa.array([None] * n, pa.string())],
            names=["doc_id", "url", "html", "text", "drop_reason"])

    # the stage declares what it accepts: try html as text, then as bytes
    html_type, errors = None, []
    for candidate in (pa.large_string(), pa.large_binary()):
        try:
            stage.output_schema(make_batch([], candidate).schema)
            html_type = candidate
            break
        except Exception as e:
            errors.append(f"{candidate}: {e}")
    if html_type is None:
        raise Unavailable("Extract rejects both html types: " + "; ".join(errors))

    batches: dict[int, list[pa.RecordBatch]] = {}

    def prepare(docs: list[Doc]) -> None:
        # Arrow batches are what the stage receives from the reader in a pipeline: build them before
        # the clock starts, as the other methods get their Documents / strings ready-made
        batches[id(docs)] = [make_batch(docs[i: i + batch_rows], html_type) for i in range(0, len(docs), batch_rows)]

    def run(docs: list[Doc]) -> int:
        if id(docs) not in batches:
            prepare(docs)
        kept = 0
        for batch in batches[id(docs)]:
            out = stage.process(batch)
            kept += len(out) - out.column("text").null_count
        return kept
    run.prepare = prepare
    run.close = getattr(stage, "close", lambda: None)  # stops the stage's extraction worker
    return run


@dataclass
class Timing:
    name: str
    seconds: float
    docs: int
    mb: float
    nonempty: int

    @property
    def docs_s(self) -> float:
        return self.docs / self.seconds

    @property
    def mb_s(self) -> float:
        return self.mb / self.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100, help="WARC records to time (pages repeat, fresh ids)")
    ap.add_argument("--batch-rows", type=int, default=100, help="rows per RecordBatch for the curate stage")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--only", help="run only methods whose name contains this")
    args = ap.parse_args()
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    try:
        import datatrove.utils.logging  # noqa: F401  (adds its loguru handler on import)
        from loguru import logger as loguru_logger

        loguru_logger.remove()  # datatrove's per-run INFO lines
    except ImportError:
        pass

    with tempfile.TemporaryDirectory(prefix="curate-extract-bench-") as tmp:
        path = os.path.join(tmp, "pages.warc.gz")
        distinct = write_warc(path, args.docs, args.data)
        warc_mb = os.path.getsize(path) / 1e6
        docs = read_warc(path)
    mb = sum(len(d.payload) for d in docs) / 1e6
    print(f"docs {len(docs):,} ({distinct:,} distinct pages, {mb:.1f} MB HTML, {mb * 1e3 / len(docs):.0f} KB/doc; "
          f"WARC {warc_mb:.1f} MB gzip, read once before timing); one process, one core")

    methods: list[tuple[str, Callable[[], Callable[[list[Doc]], int]]]] = [
        ("curate Extract(trafilatura)", lambda: curate_stage("trafilatura", args.batch_rows)),
        ("curate Extract(resiliparse)", lambda: curate_stage("resiliparse", args.batch_rows)),
        ("datatrove Trafilatura.run", datatrove_run),
        ("datatrove Trafilatura.extract", datatrove_extract),
        ("trafilatura.extract (FineWeb)", lambda: per_doc(trafilatura_fineweb)),
        ("resiliparse extract_plain_text", raw_resiliparse),
        ("fast path (bench/fast_extract.py)", fast_path),
    ]
    if args.only:
        methods = [(n, m) for n, m in methods if args.only.lower() in n.lower()]
    timings: dict[str, Timing] = {}
    for name, make in methods:
        try:
            fn = make()
        except (Unavailable, ImportError) as e:
            print(f"{name:<36} skipped: {e}")
            continue
        fn(docs[:WARMUP])
        getattr(fn, "prepare", lambda _: None)(docs)  # untimed input preparation, where a method has one
        t0 = time.perf_counter()
        nonempty = fn(docs)
        seconds = time.perf_counter() - t0
        getattr(fn, "close", lambda: None)()
        t = timings[name] = Timing(name, seconds, len(docs), mb, nonempty)
        print(f"{name:<36} {t.docs_s:9,.1f} docs/s {t.mb_s:7.2f} MB/s  ({seconds:.1f} s, "
              f"{nonempty:,} non-empty)", flush=True)

    def ratio(a: str, b: str) -> None:
        if a in timings and b in timings:
            print(f"ratio {a} / {b}: {timings[a].docs_s / timings[b].docs_s:.2f}")
        else:
            print(f"ratio {a} / {b}: n/a ({a if a not in timings else b} not run)")

    ratio("curate Extract(trafilatura)", "datatrove Trafilatura.run")
    ratio("curate Extract(resiliparse)", "datatrove Trafilatura.run")
    ratio("resiliparse extract_plain_text", "trafilatura.extract (FineWeb)")
    ratio("fast path (bench/fast_extract.py)", "trafilatura.extract (FineWeb)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
