"""`curate ablate` end to end on real pages, its run cache, determinism, config errors and validity.

The end-to-end runs go through the CLI in a fresh interpreter in which pyspark, ray, trafilatura,
cloudpickle and the other ingest-only packages cannot be imported: the GPU machines that run
ablations have only torch, numpy, pyarrow, tiktoken and matplotlib.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.ablate import report
from curate.cli import main
from curate.sample import make_web_sample
from tests.conftest import DATA, GPT2, ROOT

pytestmark = pytest.mark.slow

# not blocked: cloudpickle (curate.cli imports curate.core.run, which imports it at module level) and
# pandas (pyarrow and torch probe for it in ways a None in sys.modules breaks; both work without it)
BLOCKED = ("pyspark", "ray", "trafilatura", "fasttext", "datatrove", "resiliparse",
           "fastwarc", "lxml", "warcio", "polars", "spacy")
# a fresh interpreter that cannot import what the GPU machine lacks, then the CLI
_BARE = f"""
import sys
sys.modules.update(dict.fromkeys({BLOCKED!r}))  # None: import raises, importlib.util.find_spec says absent
from curate.cli import main
sys.exit(main(sys.argv[1:]))
"""
COMMON = ["--data", DATA, "--tokenizer-dir", GPT2, "--preset", "tiny", "--no-progress", "--eval-tokens", "20000"]


def ablate(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BARE, "ablate", *args, *COMMON], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> str:
    return make_web_sample(DATA, str(tmp_path_factory.mktemp("web")))


def runs_of(rep: dict) -> dict[tuple[str, int], dict]:
    return {(r["arm"], r["seed"]): r for r in rep["runs"]}


def test_web_sample_is_the_real_pages(web):
    table = pq.read_table(web)
    counts = dict(zip(*np.unique(table.column("source").to_numpy(zero_copy_only=False), return_counts=True),
                      strict=True))
    assert counts == {"article": 181, "cleaneval": 725, "cleanportaleval": 71, "readability": 130,
                      "warc": 86, "dclm": 499}
    assert len(set(table.column("doc_id").to_pylist())) == 1692


@pytest.fixture(scope="module")
def gopher_run(web, tmp_path_factory) -> tuple[str, dict]:
    out = str(tmp_path_factory.mktemp("ablate") / "gopher")
    res = ablate("--filter", "gopher", "--input", web, "--output", out, "--seeds", "2", "--tokens", "40000",
                 "--eval-limit", "20")
    assert res.returncode == 0, res.stderr[-3000:]
    with open(os.path.join(out, "report.json")) as f:
        return out, json.load(f)


def test_gopher_end_to_end_on_real_pages(gopher_run):
    out, rep = gopher_run
    for ext in ("json", "md", "png"):
        assert os.path.getsize(os.path.join(out, f"report.{ext}")) > 0
    assert rep["baseline"] == "baseline" and rep["treatments"] == ["gopher"]
    base, gopher = rep["arms"]["baseline"], rep["arms"]["gopher"]
    assert base["docs"] == 1692 and gopher["docs"] == 1171
    assert sum(gopher["removed"].values()) == 1692 - 1171
    assert gopher["removed"]["gopher_quality:gopher_below_alpha_threshold"] == 311
    for arm in (base, gopher):
        assert arm["train_docs"] + arm["heldout_docs"] + arm["decontaminated"] == arm["docs"]
        assert 0 < arm["heldout_docs"] < 0.1 * arm["docs"]
        assert arm["epochs"] == pytest.approx(40000 / arm["unique_tokens"])
    assert rep["tokens"] == 40000 and rep["seeds"] == [0, 1]
    assert sorted(runs_of(rep)) == [("baseline", 0), ("baseline", 1), ("gopher", 0), ("gopher", 1)]
    assert not any(r["cached"] for r in rep["runs"])
    tasks = ["blimp", "hellaswag", "piqa", "arc_easy", "copa", "lambada"]
    metrics = ["loss/wikitext2", "loss/heldout/baseline", "loss/heldout/gopher", "core"]
    metrics += [f"{t}/acc" for t in tasks] + [f"{t}/prob" for t in tasks]
    for r in rep["runs"]:
        assert sorted(r["metrics"]) == sorted(metrics + [f"{t}/n" for t in tasks])  # n: examples scored
        assert all(r["metrics"][f"{t}/n"] == 20 for t in tasks)
        assert r["train"]["tokens"] >= 40000 - rep["model"]["seq_len"] * 64
        assert 0 < r["metrics"]["loss/wikitext2"] < 12
    comp = rep["comparisons"]["gopher"]
    assert sorted(comp) == sorted(metrics) and comp["core"]["method"] == "t"
    b, t = comp["loss/wikitext2"]["baseline"], comp["loss/wikitext2"]["treatment"]
    assert comp["loss/wikitext2"]["diff"] == pytest.approx(np.mean(np.subtract(t, b)))
    assert [row["filter"] for row in rep["leaderboard"]] == ["gopher"]
    md = open(os.path.join(out, "report.md")).read()
    assert "## gopher minus baseline" in md and "| baseline | 1,692 |" in md


def test_unique_tokens_are_the_arms_documents(gopher_run, web):
    """The baseline's unique tokens: GPT-2 ids + one EOT of every non-held-out, uncontaminated doc."""
    from curate.ablate.data import HOLDOUT_SEED
    from curate.core.ids import hash_unit
    from curate.filters.tokens import load_gpt2

    _, rep = gopher_run
    base = rep["arms"]["baseline"]
    table = pq.read_table(web)
    enc = load_gpt2(GPT2)
    train = [t for i, t in zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist(), strict=True)
             if hash_unit(i, HOLDOUT_SEED) >= 0.05]
    assert base["decontaminated"] == 0  # no real page shares a 13-gram with the evaluation sets
    assert base["train_docs"] == len(train)
    assert base["unique_tokens"] == sum(len(x) + 1 for x in enc.encode_ordinary_batch(train))


def test_added_seed_reuses_cached_runs_and_reruns_are_identical(gopher_run, web):
    out, first = gopher_run
    # forget baseline seed 0: it must be retrained, and give exactly the same numbers
    key = runs_of(first)[("baseline", 0)]["key"]
    for ext in ("json", "pt"):
        os.remove(os.path.join(out, "runs", f"{key}.{ext}"))
    res = ablate("--filter", "gopher", "--input", web, "--output", out, "--seeds", "3", "--tokens", "40000",
                 "--eval-limit", "20")
    assert res.returncode == 0, res.stderr[-3000:]
    with open(os.path.join(out, "report.json")) as f:
        second = json.load(f)
    trained = sorted(k for k, r in runs_of(second).items() if not r["cached"])
    assert trained == [("baseline", 0), ("baseline", 2), ("gopher", 2)]
    for k, r in runs_of(first).items():
        again = runs_of(second)[k]
        assert again["key"] == r["key"]
        assert again["train"]["curve"] == r["train"]["curve"]  # same seed -> identical losses
        assert again["train"]["final_loss"] == r["train"]["final_loss"]
        assert again["metrics"] == r["metrics"]
    assert second["comparisons"]["gopher"]["core"]["method"] == "t"
    assert len(second["comparisons"]["gopher"]["core"]["baseline"]) == 3


@pytest.mark.parametrize("args, message", [
    (["--filter", "no-such-filter", "--input", "WEB"], "unknown filter 'no-such-filter'"),
    (["--filter", "gopher", "--input", "/nonexistent/docs"], "matches no .parquet file"),
    (["--filter", "gopher", "--input", "WEB", "--preset", "huge"], "unknown preset 'huge'"),
    (["--filter", "gopher", "--input", "WEB", "--seeds", "0"], "--seeds must be at least 1"),
    (["--filter", "gopher"], "--filter needs --input"),
    (["--baseline", "WEB"], "nothing to compare"),
    (["--filter", "gopher", "--input", "WEB", "--data", "/nonexistent"], "evaluation data"),
])
def test_config_errors_exit_2_before_work(args, message, web, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["ablate", *[web if a == "WEB" else a for a in args], "--output", str(out), "--tokenizer-dir", GPT2]
    argv += [] if "--data" in args else ["--data", DATA]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_intervals():
    mean, lo, hi, method = report.interval([1.0, 2.0, 3.0])
    assert (mean, method) == (2.0, "t")
    assert (lo, hi) == pytest.approx((2 - 4.3027 / 3**0.5, 2 + 4.3027 / 3**0.5))
    assert report.interval([0.5]) == (0.5, None, None, None)
    boot = report.interval([0.1, 0.3, 0.2, 0.4, 0.25])
    assert boot[3] == "bootstrap" and boot[1] < 0.25 < boot[2] and boot == report.interval([0.1, 0.3, 0.2, 0.4, 0.25])
    assert report.t_quantile(40) == pytest.approx(2.0211, abs=1e-4)
    assert report.t_quantile(120) == pytest.approx(1.9799, abs=1e-4)
    # CORE: centered accuracy averaged over tasks; chance scores 0, perfect 1
    assert report.core({"a/acc": 0.25, "b/acc": 1.0}, {"a": 0.25, "b": 0.5}) == 0.5
