"""Run directories: no-op reruns, refusals, resume after SIGKILL, stats and inspect."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.dataset as pads
import pytest

from tests.conftest import LENGTH, ROOT, SLOW_STAGE, curate, kept_ids, tree_digest

SLOW_PIPELINE = SLOW_STAGE + '''from curate.filters.length import Length

@dataclasses.dataclass(frozen=True)
class Config:
    slow: Slow = Slow()
    length: Length = Length()

def build(config):
    return Pipeline("slow", ParquetSource(), [config.slow, config.length])
'''


def test_run_writes_layout_and_stats(local_reference, sample_dir):
    meta = json.load(open(os.path.join(local_reference, "run.json")))
    assert meta["shards"] == ["dclm", "gsm8k", "speeches", "wikitext2"]
    assert len(meta["config_hash"]) == 64 and meta["versions"]["pyarrow"]
    for shard in meta["shards"]:
        assert os.path.exists(os.path.join(local_reference, "completions", "map", shard))
        assert os.path.exists(os.path.join(local_reference, "output", "data", "sample", shard + ".parquet"))
    totals = json.load(open(os.path.join(local_reference, "stats", "summary.json")))
    # counts come from the rows written: they must equal what is on disk
    kept = pads.dataset(os.path.join(local_reference, "output"), format="parquet").count_rows()
    short = pads.dataset(os.path.join(local_reference, "removed", "length.too_short"), format="parquet")
    assert totals["kept"]["docs"] == kept == len(kept_ids(local_reference))
    assert totals["length:too_short"]["docs"] == short.count_rows() > 0
    assert set(short.to_table().column("drop_reason").to_pylist()) == {"length:too_short"}
    assert kept + short.count_rows() == pads.dataset(sample_dir, format="parquet").count_rows()
    # dump stays a column inside the files
    table = pads.dataset(os.path.join(local_reference, "output"), format="parquet").to_table()
    assert set(table.column("dump").to_pylist()) == {"sample"}
    assert table.schema.field("language_score").type == "double"
    assert table.schema.field("token_count").type == "int64"


def test_rerun_of_finished_run_is_noop(local_reference, sample_dir):
    before = tree_digest(local_reference)
    res = curate("run", LENGTH, "--input", sample_dir, "--output", local_reference, "--engine", "local")
    assert res.returncode == 0
    assert "already complete (4 shards): nothing to do" in res.stdout
    assert tree_digest(local_reference) == before


def test_changed_config_or_shards_refused(local_reference, sample_dir):
    res = curate("run", LENGTH, "--input", sample_dir, "--output", local_reference, "--set", "length.min_words=10")
    assert res.returncode == 2
    assert "different config (changed: pipeline.stages[0].params.min_words (50 -> 10)" in res.stderr
    res = curate("run", LENGTH, "--input", os.path.join(sample_dir, "dclm.parquet"), "--output", local_reference)
    assert res.returncode == 2
    assert "was started with 4 input shards, this input has 1" in res.stderr
    # settings that cannot change the output (engine, workers) do not block a resume
    res = curate("run", LENGTH, "--input", sample_dir, "--output", local_reference, "--workers", "1")
    assert res.returncode == 0


def test_dry_run_prints_plan_and_writes_nothing(sample_dir, tmp_path):
    out = tmp_path / "run"
    res = curate("run", LENGTH, "--input", sample_dir, "--output", str(out), "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "shards     4 (0 done, 4 to do)" in res.stdout
    assert "length" in res.stdout
    assert not out.exists()


def test_stats_and_inspect(local_reference):
    res = curate("stats", local_reference)
    assert res.returncode == 0
    assert "4/4 shards done" in res.stdout and "length:too_short" in res.stdout
    data = json.loads(curate("stats", local_reference, "--json").stdout)
    res = curate("inspect", local_reference, "--reason", "length:too_short", "-n", "2")
    assert res.returncode == 0
    assert res.stdout.count("reason=length:too_short") == min(2, data["reasons"]["length:too_short"]["docs"])
    res = curate("inspect", local_reference, "--reason", "nope")
    assert res.returncode == 2 and "reasons in this run: kept, length:too_short" in res.stderr


@pytest.mark.slow
def test_sigkill_midway_then_rerun_is_byte_identical(split_sample, tmp_path):
    pipe = tmp_path / "slow.py"
    pipe.write_text(SLOW_PIPELINE)
    ref = tmp_path / "ref"
    res = curate("run", str(pipe), "--input", split_sample, "--output", str(ref), "--set", "run.batch_rows=100")
    assert res.returncode == 0, res.stderr

    out = tmp_path / "killed"
    args = ["run", str(pipe), "--input", split_sample, "--output", str(out), "--workers", "2",
            "--set", "run.batch_rows=100", "--set", "slow.seconds=0.25"]
    proc = subprocess.Popen([sys.executable, "-m", "curate.cli", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marks = out / "completions" / "map"
    deadline = time.time() + 120
    while time.time() < deadline and not (marks.exists() and len(os.listdir(marks)) >= 1):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # workers die with their parent (PR_SET_PDEATHSIG)
    done_before = sorted(os.listdir(marks))
    assert 1 <= len(done_before) < 8, done_before
    stamps = {m: os.stat(marks / m).st_mtime_ns for m in done_before}

    res = curate(*args)
    assert res.returncode == 0, res.stderr
    assert f"resuming: {len(done_before)} of 8 shards done, {8 - len(done_before)} to do" in res.stderr
    assert {m: os.stat(marks / m).st_mtime_ns for m in done_before} == stamps, "finished shards were redone"
    assert tree_digest(str(out)) == tree_digest(str(ref))
    assert json.load(open(out / "stats" / "summary.json")) == json.load(open(ref / "stats" / "summary.json"))


def test_stale_temp_files_from_a_crash_are_cleaned(split_sample, tmp_path, local_reference):
    out = tmp_path / "run"
    args = ["run", LENGTH, "--input", split_sample, "--output", str(out)]
    assert curate(*args).returncode == 0
    full = tree_digest(str(out))
    # simulate a crash between write and rename, and before the completion marker
    victim = out / "output" / "data" / "sample" / "gsm8k-a.parquet"
    victim.rename(out / "output" / "data" / "sample" / ".gsm8k-a.parquet.tmp-999-deadbeef")
    os.remove(out / "completions" / "map" / "gsm8k-a")
    res = curate(*args)
    assert res.returncode == 0 and "resuming: 7 of 8 shards done, 1 to do (1 stale temp files removed)" in res.stderr
    assert tree_digest(str(out)) == full
    assert not [f for f in os.listdir(victim.parent) if f.startswith(".")]
