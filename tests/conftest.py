from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.abspath(os.environ.get("CURATE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")))
FINEWEB = os.path.join(ROOT, "pipelines", "fineweb.py")
LENGTH = os.path.join(ROOT, "tests", "pipelines", "length.py")  # Parquet text -> length rule
WARC_SAMPLES = os.path.join(DATA, "warc-samples")
GPT2 = os.path.join(DATA, "tokenizers", "gpt2")
FINEWEB_SETS = ["--set", f"tokens.tokenizer_dir={GPT2}"]


SLOW_STAGE = '''
import dataclasses, time
from typing import ClassVar
from curate.core.pipeline import Pipeline
from curate.core.stage import Stage
from curate.io.parquet import ParquetSource

@dataclasses.dataclass(frozen=True)
class Slow(Stage):
    seconds: float = 0.0
    name: ClassVar[str] = "slow"
    def process(self, batch):
        time.sleep(self.seconds)
        return batch
'''  # the head of a pipeline file whose stage sleeps per batch: crash tests kill runs mid-way with it


def curate(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "curate.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})},
    )


def tree_digest(run_dir: str) -> dict[str, str]:
    """sha256 of every data file under output/ and removed/ (temp dot-files excluded)."""
    out = {}
    for sub in ("output", "removed"):
        for d, _, files in os.walk(os.path.join(run_dir, sub)):
            for f in files:
                if not f.startswith("."):
                    p = os.path.join(d, f)
                    with open(p, "rb") as fh:
                        out[os.path.relpath(p, run_dir)] = hashlib.sha256(fh.read()).hexdigest()
    return dict(sorted(out.items()))


def kept_ids(run_dir: str) -> list[str]:
    ids = []
    for d, _, files in os.walk(os.path.join(run_dir, "output")):
        for f in files:
            if f.endswith(".parquet") and not f.startswith("."):
                ids += pq.read_table(os.path.join(d, f), columns=["doc_id"]).column("doc_id").to_pylist()
    return sorted(ids)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> str:
    from curate.sample import make_sample

    out = str(tmp_path_factory.mktemp("sample"))
    make_sample(DATA, out)
    return out


@pytest.fixture(scope="session")
def split_sample(sample_dir, tmp_path_factory) -> str:
    """The sample cut into 8 shards (each source in two halves), for resume and kill tests."""
    out = str(tmp_path_factory.mktemp("split"))
    for name in sorted(os.listdir(sample_dir)):
        table = pq.read_table(os.path.join(sample_dir, name))
        half = table.num_rows // 2
        stem = name.removesuffix(".parquet")
        pq.write_table(table.slice(0, half), os.path.join(out, f"{stem}-a.parquet"))
        pq.write_table(table.slice(half), os.path.join(out, f"{stem}-b.parquet"))
    return out


@pytest.fixture(scope="session")
def local_reference(sample_dir, tmp_path_factory) -> str:
    """The length pipeline over the text sample on the local engine: the reference for parity tests."""
    out = str(tmp_path_factory.mktemp("ref") / "run")
    res = curate("run", LENGTH, "--input", sample_dir, "--output", out, "--workers", "2")
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def fineweb_reference(tmp_path_factory) -> str:
    """pipelines/fineweb.py over the real WARC samples on the local engine."""
    out = str(tmp_path_factory.mktemp("fwref") / "run")
    res = curate("run", FINEWEB, "--input", WARC_SAMPLES, "--output", out, *FINEWEB_SETS)
    assert res.returncode == 0, res.stderr
    return out
