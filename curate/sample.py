"""Build small Parquet shards of real text from ../shared/data for demos, tests and benchmarks.

Four shards, one per source: DCLM's human-labelled Common Crawl documents (real web text, good and
bad), WikiText-2 articles, GSM8K problems with solutions, and US inaugural speeches. Ids are stable
(source + position), so every build of the sample gives the same doc_ids.
"""

from __future__ import annotations

import gzip
import html as htmllib
import json
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

DUMP = "sample"


def _dclm(data: str) -> list[tuple[str, str]]:
    path = os.path.join(data, "dclm-human-quality-labels", "majority_data.jsonl")
    with open(path, encoding="utf-8") as f:
        return [(f"dclm/{i}", json.loads(line)["text"]) for i, line in enumerate(f)]


def _wikitext(data: str) -> list[tuple[str, str]]:
    docs = []
    for split in ("valid", "test"):
        with gzip.open(os.path.join(data, "wikitext-2", f"{split}.txt.gz"), "rt", encoding="utf-8") as f:
            text = f.read()
        # an article starts at a level-1 heading line " = Title = "
        parts = re.split(r"\n(?= = [^=].* = \n)", text)
        for j, part in enumerate(p.strip() for p in parts):
            if part:
                docs.append((f"wikitext2/{split}/{j}", part))
    return docs


def _gsm8k(data: str) -> list[tuple[str, str]]:
    with open(os.path.join(data, "gsm8k", "test.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [(f"gsm8k/test/{i}", r["question"] + "\n\n" + r["answer"]) for i, r in enumerate(rows)]


def _speeches(data: str) -> list[tuple[str, str]]:
    with zipfile.ZipFile(os.path.join(data, "nltk-corpora", "inaugural.zip")) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".txt"))
        return [(f"inaugural/{os.path.basename(n)}", z.read(n).decode("utf-8", "replace")) for n in names]


SOURCES = {"dclm": _dclm, "wikitext2": _wikitext, "gsm8k": _gsm8k, "speeches": _speeches}


def make_sample(data: str, out_dir: str, repeat: int = 1) -> list[str]:
    """Write one Parquet shard per source; ``repeat`` > 1 repeats the docs with fresh ids (benchmarks)."""
    if not os.path.isdir(data):
        raise FileNotFoundError(f"shared data folder {data!r} not found")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, read in SOURCES.items():
        docs = read(data)
        ids = [f"{i}#{r}" if r else i for r in range(repeat) for i, _ in docs]
        texts = [t for _ in range(repeat) for _, t in docs]
        table = pa.table(
            {
                "text": pa.array(texts, pa.large_string()),
                "id": pa.array(ids, pa.string()),
                "dump": pa.array([DUMP] * len(ids), pa.string()),
            }
        )
        path = os.path.join(out_dir, f"{name}.parquet")
        pq.write_table(table, path, compression="zstd")
        paths.append(path)
    return paths


# ---------------------------------------------------------------- real web pages (make-sample --web)
# The HTML pages of the four extraction benchmarks with their gold text (decoded as a web reader would:
# BOM, declared charset, meta charset, detection), read in place from the shared data folder. Also used
# by bench/extraction_quality.py, which scores extractors against the gold.

BENCHMARKS = ("article", "cleaneval", "cleanportaleval", "readability")


@dataclass(frozen=True)
class Page:
    bench: str
    page_id: str
    html: str       # decoded page
    gold: str       # gold main text
    size: int       # bytes of the page as stored (before decoding)
    url: str = ""


# ---------------------------------------------------------------- decoding

_WRAPPER = re.compile(rb'^\s*<text\b[^>]*>', re.IGNORECASE)
_WRAPPER_END = re.compile(rb'</text>\s*$', re.IGNORECASE)
_WRAPPER_ATTR = re.compile(rb'\b(id|encoding)="([^"]*)"')
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def decode_html(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode page bytes like a browser: BOM, declared charset, meta charset, detection. -> (text, enc)."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

    enc = None
    for bom, name in _BOMS:
        if data.startswith(bom):
            enc = name
            break
    if enc is None and declared:
        enc = map_encoding_to_html5(declared, fallback_utf8=False)
    if enc is None:
        # meta charset within the first 1024 bytes, else uchardet over the page
        enc = detect_encoding(data, from_html_meta=True)
    return bytes_to_str(data, enc, fallback_encodings=("utf-8", "cp1252")), enc


def decode_gold(data: bytes, page_encoding: str) -> str:
    from resiliparse.parse.encoding import bytes_to_str

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return bytes_to_str(data, page_encoding, fallback_encodings=("cp1252",))


def unwrap_cleaneval(data: bytes) -> tuple[bytes, str | None, str]:
    """Strip CleanEval's ``<text id=URL encoding=...>`` wrapper -> (page bytes, declared charset, url)."""
    m = _WRAPPER.match(data)
    if not m:
        return data, None, ""
    attrs = {k.decode(): v.decode("latin-1") for k, v in _WRAPPER_ATTR.findall(m.group(0))}
    body = _WRAPPER_END.sub(b"", data[m.end():])
    declared = attrs.get("encoding", "").strip().lower()
    if declared in ("", "unset") or declared.startswith("unknown"):
        declared = None
    return body, declared, attrs.get("id", "")


_GOLD_URL = re.compile(r"^\s*URL:[^\n]*\n")
_GOLD_MARK = re.compile(r"<[phlPHL]>")


_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as windows-1252 (``caf\u00c3\u00a9``), seen in 24 CleanEval gold files, when it
    round-trips exactly; the pages themselves decode correctly, so unrepaired gold would miss their words."""
    if not _MOJIBAKE.search(text):
        return text
    for enc in ("cp1252", "latin-1"):
        try:
            return text.encode(enc).decode("utf-8")
        except UnicodeError:
            continue
    return text


def clean_cleaneval_gold(text: str) -> str:
    text = repair_mojibake(_GOLD_URL.sub("", text, count=1))
    return htmllib.unescape(_GOLD_MARK.sub("\n", text))


_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd details div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)


def html_to_gold_text(markup: str) -> str:
    """Text of Readability's expected.html, with a line break at every block boundary (no extractor)."""
    import lxml.html

    root = lxml.html.fromstring(markup)
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCK_TAGS:
            el.tail = "\n" + (el.tail or "")
    return root.text_content()


# ---------------------------------------------------------------- benchmarks

def _tar_members(path: str) -> dict[str, bytes]:
    out = {}
    with tarfile.open(path, "r:xz") as tar:
        for m in tar:
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()
    return out


def load_article(data_dir: str) -> list[Page]:
    base = os.path.join(data_dir, "article-extraction-benchmark")
    with gzip.open(os.path.join(base, "ground-truth.json.gz"), "rt", encoding="utf-8") as f:
        gold = json.load(f)
    pages = []
    for item_id in sorted(gold):
        with gzip.open(os.path.join(base, "html", f"{item_id}.html.gz"), "rb") as f:
            raw = f.read()
        # upstream: "gzip-compressed and utf-8 encoded"; decode strictly as its runners do
        pages.append(Page("article", item_id, raw.decode("utf-8"), gold[item_id].get("articleBody") or "",
                          len(raw), gold[item_id].get("url", "")))
    return pages


def _load_cleaneval_style(tar_path: str, bench: str, folders: list[str]) -> list[Page]:
    files = _tar_members(tar_path)
    pages = []
    for folder in folders:
        prefix = f"{folder}/GoldStandard/"
        for name in sorted(n for n in files if n.startswith(prefix) and n.endswith(".txt")):
            stem = name[len(prefix):-4]
            raw = files.get(f"{folder}/input/{stem}.html")
            if raw is None:
                continue
            body, declared, url = unwrap_cleaneval(raw)
            text, enc = decode_html(body, declared)
            gold = clean_cleaneval_gold(decode_gold(files[name], enc))
            pages.append(Page(bench, f"{folder.split('-')[-1]}/{stem}", text, gold, len(body), url))
    return pages


def load_cleaneval(data_dir: str) -> list[Page]:
    return _load_cleaneval_style(os.path.join(data_dir, "cleaneval", "cleaneval.tar.xz"), "cleaneval",
                                 ["cleaneval-dev", "cleaneval-final"])


def load_cleanportaleval(data_dir: str) -> list[Page]:
    return _load_cleaneval_style(os.path.join(data_dir, "cleanportaleval", "cleanportaleval.tar.xz"),
                                 "cleanportaleval", ["CleanPortalEval-master"])


def load_readability(data_dir: str) -> list[Page]:
    files = _tar_members(os.path.join(data_dir, "mozilla-readability-test-pages", "test-pages.tar.xz"))
    prefix = "readability-test-pages/pages/"
    pages = []
    for name in sorted(n for n in files if n.startswith(prefix) and n.endswith("/source.html")):
        page_dir = name[: -len("source.html")]
        expected = files.get(page_dir + "expected.html")
        if expected is None:
            continue
        raw = files[name]
        text, _ = decode_html(raw)
        gold = html_to_gold_text(expected.decode("utf-8")) if expected.strip() else ""
        pages.append(Page("readability", page_dir[len(prefix):-1], text, gold, len(raw)))
    return pages


LOADERS = {
    "article": load_article,
    "cleaneval": load_cleaneval,
    "cleanportaleval": load_cleanportaleval,
    "readability": load_readability,
}


def load(bench: str, data_dir: str) -> list[Page]:
    """The pages of one extraction benchmark (``BENCHMARKS``), decoded, with their gold text."""
    return LOADERS[bench](data_dir)


WEB_SAMPLE = "web.parquet"


def make_web_sample(data: str, out_dir: str) -> str:
    """Extract real web pages into one Parquet file of documents; the input of ``curate ablate`` in CI.

    Every HTML page of the four extraction benchmarks (article-extraction-benchmark, CleanEval,
    CleanPortalEval, Readability test pages) extracted with our trafilatura path (FineWeb's settings),
    plus the text of every HTML record of ``warc-samples``, plus DCLM's 499 human-labelled Common
    Crawl documents (with their label): 1,692 documents of real, mixed-quality web text. Columns
    ``doc_id, id, source, text, label``; ids are stable (benchmark + page id, WARC record id, DCLM
    position). Pages whose extraction is empty are left out.
    """
    from curate.core.ids import doc_id
    from curate.extract.extractors import trafilatura_text
    from curate.io.warc import WarcSource

    if not os.path.isdir(data):
        raise FileNotFoundError(f"shared data folder {data!r} not found")
    keys, sources, texts, labels = [], [], [], []

    def add(key: str, source: str, text: str, label=None) -> None:
        if text and text.strip():
            keys.append(key)
            sources.append(source)
            texts.append(text)
            labels.append(label)

    for bench in BENCHMARKS:
        for page in load(bench, data):
            add(f"{bench}/{page.page_id}", bench, trafilatura_text(page.html))
    src = WarcSource()
    for shard in src.shards([os.path.join(data, "warc-samples")]):
        for batch in src.read(shard.path, 1000):
            for r in batch.to_pylist():
                if r["drop_reason"] is None:
                    add(f"warc/{r['id'] or r['doc_id']}", "warc", r["text"] or trafilatura_text(r["html"] or ""))
    with open(os.path.join(data, "dclm-human-quality-labels", "majority_data.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            row = json.loads(line)
            add(f"dclm/{i}", "dclm", row["text"], int(row["label"]))
    table = pa.table({
        "doc_id": pa.array([doc_id(k) for k in keys], pa.string()),
        "id": pa.array(keys, pa.string()),
        "source": pa.array(sources, pa.string()),
        "text": pa.array(texts, pa.large_string()),
        "label": pa.array(labels, pa.int64()),
        "dump": pa.array([DUMP] * len(keys), pa.string()),
    })
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, WEB_SAMPLE)
    pq.write_table(table, path, compression="zstd")
    return path
