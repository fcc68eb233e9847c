"""Line-level dedup (Llama 3): template lines of the CleanPortalEval pages go, the articles' text stays."""

from __future__ import annotations

import os
import re
import tarfile

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curate.core import config as configmod
from curate.dedup.lines import doc_buckets, frequent_lines, line_hash, line_keys, normalize_line, remove_lines
from curate.engines import make_engine
from tests.conftest import DATA


def test_normalize_line():
    assert normalize_line("  Posted  12 May\t2021 ") == "posted 0 may 0"
    assert normalize_line("(c) 2019 BBC") == normalize_line("(C) 2023   BBC")
    assert line_hash("   \t ") is None
    assert line_hash("Home") == line_hash("  HOME ")
    assert line_hash("Home.") != line_hash("Home")  # punctuation is kept


def test_remove_lines_keeps_line_ends():
    text = "Menu\r\nReal text here.\n\nMenu\nMore text\n"
    new, lines, chars = remove_lines(text, {line_hash("menu")})
    assert (new, lines, chars) == ("Real text here.\n\nMore text\n", 2, 11)
    assert remove_lines(text, {line_hash("absent")}) == (text, 0, 0)


def test_line_keys_count_a_line_once_per_document():
    keys = line_keys(["a\nb\na\n\n", None, "b"], ["d1", "d2", "d3"], buckets=1)
    rows = sorted(zip(keys.column("doc_id").to_pylist(), keys.column("line").to_pylist(), strict=True))
    assert rows == sorted([("d1", line_hash("a")), ("d1", line_hash("b")), ("d3", line_hash("b"))])
    assert set(keys.column("bucket").to_pylist()) == {0}
    b = doc_buckets([f"doc-{i}" for i in range(1000)], 7)
    assert set(b.tolist()) == set(range(7)) and doc_buckets(["doc-5"], 7)[0] == b[5]


def _portal_pages() -> dict[str, str]:
    """The 71 CleanPortalEval pages as resiliparse's full-page text (main_content=False keeps the
    templates: navigation, share bars, footers) and their gold article text."""
    extract = pytest.importorskip("resiliparse.extract.html2text")
    encoding = pytest.importorskip("resiliparse.parse.encoding")
    pages, gold = {}, {}
    with tarfile.open(os.path.join(DATA, "cleanportaleval", "cleanportaleval.tar.xz")) as tf:
        for m in tf.getmembers():
            name = os.path.basename(m.name).rsplit(".", 1)[0]
            if m.name.endswith(".html") and "/input/" in m.name:
                raw = tf.extractfile(m).read()
                html = encoding.bytes_to_str(raw, encoding.detect_encoding(raw))
                pages[name] = extract.extract_plain_text(html, main_content=False)
            elif m.name.endswith(".txt") and "/GoldStandard/" in m.name:
                raw = tf.extractfile(m).read()
                gold[name] = encoding.bytes_to_str(raw, encoding.detect_encoding(raw))
    return dict(sorted(pages.items())), gold


@pytest.fixture(scope="module")
def portal():
    return _portal_pages()


@pytest.fixture(scope="module")
def local_engine():
    cfg = configmod.load(configmod.NoConfig, None, {"run.engine": "local", "run.workers": 1}, [])
    eng = make_engine(cfg)
    yield eng
    eng.close()


def test_portal_templates_removed_articles_kept(portal, local_engine, tmp_path):
    pages, gold = portal
    assert len(pages) == 71 and len(gold) == 71
    ids, texts = list(pages), list(pages.values())
    # key tables as two shards would write them, counted by the engine's group-by
    keys = line_keys(texts, ids, buckets=1)
    pq.write_table(keys.slice(0, 6000), tmp_path / "a.parquet")
    pq.write_table(keys.slice(6000), tmp_path / "b.parquet")
    counts_dir = local_engine.group_agg([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")],
                                        ["bucket", "line"], [("doc_id", "count")], str(tmp_path / "counts"))
    counts = pads.dataset(counts_dir, format="parquet").to_table()
    hot = set(frequent_lines(counts, 6).column("line").to_pylist())
    assert (keys.num_rows, counts.num_rows, len(hot)) == (12110, 2914, 595)

    results = {i: remove_lines(t, hot) for i, t in zip(ids, texts, strict=True)}
    assert sum(r[1] for r in results.values()) == 10788
    assert sum(r[2] for r in results.values()) == 266895
    bbc, _, _ = results["bbc.co.uk_news_01"]
    bbc_lines = {line.strip() for line in bbc.splitlines()}
    # the BBC template (navigation, share bar) is gone from the page ...
    for template in ("• Skip to content", "Share this page", "Continue reading the main story", "• Sci/Environment",
                     "bbc.co.uk navigation"):
        assert template in {line.strip() for line in pages["bbc.co.uk_news_01"].splitlines()}
        assert template not in bbc_lines
    # ... and its own title, standfirst and related links stay
    for own in ("One couple's mission to find a better work/life balance", "• Savvy shops",
                "Popular DIY bloggers discuss balancing life with working from home (Produced by the BBC's David Botti)"):
        assert own in bbc_lines
    wsj, _, _ = results["blogs.wsj.com_brussels_01"]
    assert "Azerbaijan’s Rising Gas Negotiators" in {line.strip() for line in wsj.splitlines()}
    # no line of the gold article text (>= 8 words) that the extraction holds verbatim is removed
    checked = lost = 0
    for name, text in pages.items():
        own = {line_hash(line) for line in text.splitlines()}
        for line in gold[name].splitlines()[1:]:
            line = re.sub(r"^<[phl]>\s*", "", line).strip()
            if len(line.split()) >= 8 and line_hash(line) in own:
                checked += 1
                lost += line_hash(line) in hot
    assert (checked, lost) == (52, 0)


PIPELINE = '''
import dataclasses
from curate.core.pipeline import Pipeline
from curate.dedup.lines import LineDedup
from curate.io.parquet import ParquetSource


@dataclasses.dataclass(frozen=True)
class Config:
    lines_dedup: LineDedup = LineDedup()


def build(config: Config) -> Pipeline:
    return Pipeline("lines", ParquetSource(), [config.lines_dedup])
'''


def _portal_run_inputs(pages: dict, tmp_path):
    """The 71 pages as two Parquet shards (counts must cross them) and a pipeline file with the stage."""
    import pyarrow as pa

    names = list(pages)
    folder = tmp_path / "in"
    folder.mkdir()
    for k, part in enumerate((names[:35], names[35:])):
        pq.write_table(pa.table({"id": part, "url": [f"http://{n.split('_')[0]}/{n}" for n in part],
                                 "text": [pages[n] for n in part]}), folder / f"pages-{k}.parquet")
    spec = tmp_path / "lines_pipeline.py"
    spec.write_text(PIPELINE)
    return folder, spec


def test_line_dedup_stage_in_a_phased_run(portal, tmp_path):
    """The stage through `curate run`: map phase writes line keys, the local engine counts them, the next
    phase cuts template lines; counters and reasons come out in the run's stats and files."""
    import json

    import pyarrow as pa

    from tests.conftest import curate

    pages, _ = portal
    names = list(pages)
    keys = line_keys(list(pages.values()), names, buckets=1)
    counts = keys.group_by(["bucket", "line"]).aggregate([("doc_id", "count")])
    hot = set(frequent_lines(counts, 6).column("line").to_pylist())
    folder, spec = _portal_run_inputs(pages, tmp_path)
    out = tmp_path / "run"
    res = curate("run", str(spec), "--input", str(folder), "--output", str(out), "--workers", "2")
    assert res.returncode == 0, res.stderr
    kept = pads.dataset(str(out / "output"), format="parquet").to_table()
    assert kept.num_rows == 71 and not (out / "removed").exists()  # every page keeps >= 50 words
    assert int(kept.column("lines_dedup_lines_removed").to_numpy().sum()) == 10788
    assert int(kept.column("lines_dedup_chars_removed").to_numpy().sum()) == 266895
    bbc = kept.filter(pa.compute.equal(kept.column("id"), "bbc.co.uk_news_01")).column("text")[0].as_py()
    assert "Share this page" not in bbc and "• Savvy shops" in bbc
    stats = [json.loads(p.read_text()) for p in (out / "stats").rglob("*.json")]
    assert sum(s.get("counters", {}).get("lines_dedup_lines_removed", 0) for s in stats) == 10788

    # pages left with fewer than 400 words are dropped with the stage's reason, their text unedited
    out2 = tmp_path / "run400"
    res = curate("run", str(spec), "--input", str(folder), "--output", str(out2), "--workers", "2",
                 "--set", "lines_dedup.min_words=400")
    assert res.returncode == 0, res.stderr
    removed = pads.dataset(str(out2 / "removed"), format="parquet").to_table()
    short = sorted(n for n in names if len(remove_lines(pages[n], hot)[0].split()) < 400)
    assert sorted(removed.column("id").to_pylist()) == short and len(short) == 11
    assert set(removed.column("drop_reason").to_pylist()) == {"dedup:lines"}
    assert removed.column("text").to_pylist() == [pages[n] for n in removed.column("id").to_pylist()]


@pytest.mark.engine
@pytest.mark.parametrize("engine", ["spark", "ray"])
def test_line_dedup_same_files_on_every_engine(portal, tmp_path, engine):
    """Counts through Spark's / Ray's group-by give the same cut lines and byte-identical files."""
    from tests.conftest import curate, tree_digest

    folder, spec = _portal_run_inputs(portal[0], tmp_path)
    runs = {}
    for name in ("local", engine):
        runs[name] = tmp_path / name
        res = curate("run", str(spec), "--engine", name, "--input", str(folder), "--output", str(runs[name]),
                     "--workers", "2", "--set", "spark.master=local[2]")
        assert res.returncode == 0, res.stderr
    kept = pads.dataset(str(runs[engine] / "output"), format="parquet").to_table()
    assert int(kept.column("lines_dedup_lines_removed").to_numpy().sum()) == 10788
    assert tree_digest(str(runs[engine])) == tree_digest(str(runs["local"]))
