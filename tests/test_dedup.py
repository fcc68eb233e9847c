"""URL, exact and MinHash dedup as phased global stages: exact kept ids on real text with planted
duplicates, the same files on local / Ray / Spark, crash-resume, FineWeb with dedup, inspect."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curate.core.ids import doc_id_for
from curate.dedup.stages import ExactDedup, MinHashDedup, URLDedup, hash64, normalize_url
from curate.sample import _wikitext
from tests.conftest import DATA, ROOT, SLOW_STAGE, curate, kept_ids, tree_digest

FILTER = os.path.join(ROOT, "pipelines", "filter.py")
DEDUP = ["--filter", "url_dedup", "--filter", "exact_dedup", "--filter", "minhash"]
OLD, NEW = "CC-MAIN-2023-50", "CC-MAIN-2024-10"


def did(source_id: str) -> str:
    return doc_id_for(source_id, None, None)


def near_copy(text: str, tag: str, every: int = 211) -> str:
    """A few word edits: every ``every``-th word replaced (Jaccard of 5-gram sets stays ~0.9)."""
    words = text.split(" ")
    return " ".join(f"{tag}{i}" if i % every == every - 1 else w for i, w in enumerate(words))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two shards (one per dump) of real WikiText-2 articles with planted duplicates.

    Returns the input folder and the expected removals {doc_id: (reason, duplicate_of)}.
    """
    w = [t for _, t in _wikitext(DATA) if len(t.split()) > 400][:40]
    old, new = [], []  # rows (id, url, text)
    old += [(f"a/{i}", f"https://site{i}.example/page/{i}", w[i]) for i in range(20)]
    # the same page fetched in both crawls (URL spelled differently, text changed): the newer one stays
    old += [(f"a/u{k}", f"HTTP://News.Example:80/story/{k}#comments", w[20 + k]) for k in range(3)]
    new += [(f"b/u{k}", f"http://news.example./story/{k}", w[23 + k]) for k in range(3)]
    # exact copies up to case and whitespace: in the same dump, and across dumps
    old.append(("a/exact0", "https://mirror.example/0", "  " + w[0].upper().replace(" ", "  ")))
    new.append(("b/exact2", "https://mirror.example/2", w[2].replace(" , ", " ; ")))
    # near copies: one in the same dump; one across dumps (kept: MinHash runs per dump)
    old.append(("a/near1", "https://copy.example/1", near_copy(w[1], "x")))
    new.append(("b/near3", "https://copy.example/3", near_copy(w[3], "y")))
    # a chain of three near copies in the new dump: one component, one keeper
    new += [(f"b/{i}", f"https://site{i}.example/page/{i}", w[i]) for i in range(26, 40)]
    new += [("b/near30a", "https://copy.example/30a", near_copy(w[30], "p")),
            ("b/near30b", "https://copy.example/30b", near_copy(near_copy(w[30], "p"), "q", 173))]
    folder = tmp_path_factory.mktemp("dedup-corpus")
    for name, dump, rows in (("crawl-2023", OLD, old), ("crawl-2024", NEW, new)):
        pq.write_table(
            pa.table({
                "id": [r[0] for r in rows], "url": [r[1] for r in rows], "text": [r[2] for r in rows],
                "dump": [dump] * len(rows), "date": ["2024-03-01" if dump == NEW else "2023-12-01"] * len(rows),
            }),
            folder / f"{name}.parquet",
        )

    def min_key(*ids):  # MinHash keeps the component's smallest doc key (a hash of doc_id)
        return min((did(i) for i in ids), key=lambda d: int(hash64([d])[0]))

    expected = {did(f"a/u{k}"): ("dedup:url", did(f"b/u{k}")) for k in range(3)}
    for pair in (("a/0", "a/exact0"), ("a/2", "b/exact2")):
        keep = min(did(i) for i in pair)
        expected.update({did(i): ("dedup:exact", keep) for i in pair if did(i) != keep})
    for group in (("a/1", "a/near1"), ("b/30", "b/near30a", "b/near30b")):
        keep = min_key(*group)
        expected.update({did(i): ("dedup:minhash", keep) for i in group if did(i) != keep})
    all_ids = sorted(did(r[0]) for r in old + new)
    return str(folder), expected, all_ids


def removed(run_dir: str) -> dict:
    table = pads.dataset(os.path.join(run_dir, "removed"), format="parquet").to_table(
        columns=["doc_id", "drop_reason", "duplicate_of"])
    return {r["doc_id"]: (r["drop_reason"], r["duplicate_of"]) for r in table.to_pylist()}


def test_normalize_url():
    assert normalize_url("HTTP://News.Example:80/story/1#c") == "http://news.example/story/1"
    assert normalize_url("http://news.example./story/1") == "http://news.example/story/1"
    assert normalize_url("https://a.example:443") == "https://a.example/"
    assert normalize_url("https://a.example:8443/A/?q=1") == "https://a.example:8443/A/?q=1"
    assert normalize_url("https://a.example/A") != normalize_url("https://a.example/A/")
    assert normalize_url("http://[::1]:80/x") == "http://[::1]/x"
    assert normalize_url(" http://u:p@Host.example/ ") == "http://u:p@host.example/"
    assert normalize_url("http://x.example:99999/") == "http://x.example:99999/"  # bad port: as it is


def test_config_errors_name_the_key():
    from curate.core.errors import ConfigError

    for make, msg in ((lambda: URLDedup(priority="newest"), "url_dedup.priority"),
                      (lambda: ExactDedup(scope="shard"), "exact_dedup.scope"),
                      (lambda: MinHashDedup(threshold=1.5), "minhash_dedup.threshold"),
                      (lambda: MinHashDedup(bands=0), "bands must be a positive integer")):
        with pytest.raises(ConfigError, match=msg):
            make()
    assert (MinHashDedup(threshold=0.8).params.bands, MinHashDedup(threshold=0.8).params.rows) != (14, 8)


@pytest.fixture(scope="module")
def local_run(corpus, tmp_path_factory):
    folder, _, _ = corpus
    out = str(tmp_path_factory.mktemp("dedup-local") / "run")
    res = curate("run", FILTER, "--input", folder, "--output", out, *DEDUP, "--workers", "2")
    assert res.returncode == 0, res.stderr
    return out


def test_planted_duplicates_removed_with_their_twin(local_run, corpus):
    _, expected, all_ids = corpus
    assert removed(local_run) == expected
    assert kept_ids(local_run) == sorted(set(all_ids) - set(expected))
    # every duplicate_of points to a kept document
    assert {twin for _, twin in expected.values()} <= set(kept_ids(local_run))
    totals = json.load(open(os.path.join(local_run, "stats", "summary.json")))
    assert {r: c["docs"] for r, c in totals.items()} == {
        "kept": len(all_ids) - 8, "dedup:url": 3, "dedup:exact": 2, "dedup:minhash": 3}
    for phase in ("url_dedup", "exact_dedup", "minhash_dedup"):
        assert os.path.exists(os.path.join(local_run, "completions", phase, "_resolved"))
        assert sorted(os.listdir(os.path.join(local_run, "completions", f"map-{phase}"))) == [
            "crawl-2023", "crawl-2024"]


def test_rerun_of_phased_run_is_noop(local_run, corpus):
    before = tree_digest(local_run)
    res = curate("run", FILTER, "--input", corpus[0], "--output", local_run, *DEDUP)
    assert res.returncode == 0 and "already complete" in res.stdout
    assert tree_digest(local_run) == before


def test_global_scope_and_longest_priority(corpus, tmp_path):
    spec = tmp_path / "dedup-global.toml"
    spec.write_text('[[stages]]\nstage = "url_dedup"\npriority = "longest"\n'
                    '[[stages]]\nstage = "minhash_dedup"\nscope = "global"\n')
    out = tmp_path / "run"
    res = curate("run", FILTER, "--input", corpus[0], "--output", str(out), "--filter", str(spec))
    assert res.returncode == 0, res.stderr
    got = removed(str(out))
    # across dumps now: the near copy of a/3 in the new crawl is a duplicate too
    pair = sorted((did("a/3"), did("b/near3")), key=lambda d: int(hash64([d])[0]))
    assert got[pair[1]] == ("dedup:minhash", pair[0])
    lengths = {did(r["id"]): len(r["text"]) for r in pads.dataset(corpus[0]).to_table().to_pylist()}
    for k in range(3):  # longest text wins, whichever crawl it came from
        a, b = did(f"a/u{k}"), did(f"b/u{k}")
        loser, winner = (a, b) if lengths[b] > lengths[a] else (b, a)
        assert got[loser] == ("dedup:url", winner)


def test_inspect_shows_the_kept_twin(local_run, corpus):
    res = curate("inspect", local_run, "--reason", "dedup:minhash", "-n", "5", "--chars", "60")
    assert res.returncode == 0, res.stderr
    _, expected, _ = corpus
    for doc, (reason, twin) in expected.items():
        if reason == "dedup:minhash":
            assert f"--- {doc}" in res.stdout
            assert f"+++ duplicate of {twin}" in res.stdout
    assert res.stdout.count("+++ duplicate of") == 3 and "reason=kept" in res.stdout


@pytest.mark.engine
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ray", "spark"])
def test_engine_parity(engine, local_run, corpus, tmp_path):
    out = tmp_path / engine
    res = curate("run", FILTER, "--engine", engine, "--input", corpus[0], "--output", str(out), *DEDUP,
                 "--workers", "2", "--set", "spark.master=local[2]")
    assert res.returncode == 0, res.stderr
    assert removed(str(out)) == corpus[1]
    assert kept_ids(str(out)) == kept_ids(local_run)
    assert tree_digest(str(out)) == tree_digest(local_run)


SLOW_DEDUP = SLOW_STAGE + '''from curate.dedup.stages import ExactDedup, MinHashDedup

@dataclasses.dataclass(frozen=True)
class Config:
    slow: Slow = Slow()

def build(config):
    return Pipeline("slow-dedup", ParquetSource(), [ExactDedup(), config.slow, MinHashDedup()])
'''


@pytest.mark.slow
def test_crash_resume_of_phased_run(corpus, tmp_path):
    """SIGKILL inside the map phase between two global stages, then a lost resolve: reruns finish
    byte-identical to an uninterrupted run and redo nothing that was complete."""
    pipe = tmp_path / "slow_dedup.py"
    pipe.write_text(SLOW_DEDUP)
    split = tmp_path / "split"
    split.mkdir()
    for name in os.listdir(corpus[0]):
        table = pq.read_table(os.path.join(corpus[0], name))
        half = table.num_rows // 2
        pq.write_table(table.slice(0, half), split / name.replace(".parquet", "-a.parquet"))
        pq.write_table(table.slice(half), split / name.replace(".parquet", "-b.parquet"))
    base = ["run", str(pipe), "--input", str(split), "--set", "run.batch_rows=2"]
    ref = tmp_path / "ref"
    assert curate(*base, "--output", str(ref)).returncode == 0
    out = tmp_path / "killed"
    args = [*base, "--output", str(out), "--workers", "2", "--set", "slow.seconds=0.5"]
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marks = out / "completions" / "map-minhash_dedup"
    deadline = time.time() + 180
    while time.time() < deadline and not (marks.exists() and len(os.listdir(marks)) >= 1):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    done_before = sorted(os.listdir(marks))
    assert 1 <= len(done_before) < 4, done_before
    assert os.path.exists(out / "completions" / "exact_dedup" / "_resolved")
    stamps = {m: os.stat(marks / m).st_mtime_ns for m in done_before}
    first = os.stat(out / "completions" / "map-exact_dedup" / "crawl-2023-a").st_mtime_ns
    res = curate(*args)
    assert res.returncode == 0, res.stderr
    assert {m: os.stat(marks / m).st_mtime_ns for m in done_before} == stamps, "finished shards were redone"
    assert os.stat(out / "completions" / "map-exact_dedup" / "crawl-2023-a").st_mtime_ns == first
    assert tree_digest(str(out)) == tree_digest(str(ref))
    # a crash inside a resolve: its marker is missing and its work folder half written
    os.remove(out / "completions" / "minhash_dedup" / "_resolved")
    shutil.rmtree(out / "completions" / "map")
    shutil.rmtree(out / "phases" / "minhash_dedup" / "decisions")
    res = curate(*args)
    assert res.returncode == 0, res.stderr
    assert tree_digest(str(out)) == tree_digest(str(ref))
    assert json.load(open(out / "stats" / "summary.json")) == json.load(open(ref / "stats" / "summary.json"))


@pytest.mark.parametrize("threshold", [0.8, 0.96])
def test_exact_jaccard_verification(corpus, tmp_path, threshold):
    """Planted near copies have exact 5-gram Jaccard 0.88-0.95 with their originals: verification at 0.8
    keeps every candidate edge (the same removals as without it), at 0.96 it rejects them all."""
    spec = tmp_path / "verified.toml"
    spec.write_text(f'[[stages]]\nstage = "url_dedup"\n[[stages]]\nstage = "exact_dedup"\n'
                    f'[[stages]]\nstage = "minhash_dedup"\nverify_threshold = {threshold}\n')
    out = tmp_path / "run"
    res = curate("run", FILTER, "--input", corpus[0], "--output", str(out), "--filter", str(spec))
    assert res.returncode == 0, res.stderr
    expected = corpus[1] if threshold < 0.9 else {
        k: v for k, v in corpus[1].items() if v[0] != "dedup:minhash"}
    assert removed(str(out)) == expected


def test_fineweb_on_warc_samples_runs_with_minhash_dedup(fineweb_reference):
    """pipelines/fineweb.py with its default MinHash dedup: phases ran, every input doc is accounted for
    once, and the output carries duplicate_of (null for kept docs)."""
    run = fineweb_reference
    assert os.path.exists(os.path.join(run, "completions", "minhash_dedup", "_resolved"))
    meta = json.load(open(os.path.join(run, "run.json")))
    for shard in meta["shards"]:
        for phase in ("map-minhash_dedup", "map"):
            assert os.path.exists(os.path.join(run, "completions", phase, shard))
    before = sum(json.load(open(os.path.join(run, "stats", "map-minhash_dedup", s + ".json")))["reasons"]
                 .get("kept", {"docs": 0})["docs"] for s in meta["shards"])
    totals = json.load(open(os.path.join(run, "stats", "summary.json")))
    assert totals["kept"]["docs"] + totals.get("dedup:minhash", {"docs": 0})["docs"] == before > 0
    out = pads.dataset(os.path.join(run, "output"), format="parquet").to_table()
    assert "duplicate_of" in out.schema.names and out.column("duplicate_of").null_count == out.num_rows
    assert len(kept_ids(run)) == totals["kept"]["docs"]
