"""Named filter specs (filters/*.toml), --filter, evaluate-all verdicts and the stats they feed."""

import json
import os

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from curate import filterspec
from curate.core.errors import ConfigError
from curate.filters.length import Length
from tests.conftest import ROOT, curate

FILTER_PIPELINE = os.path.join(ROOT, "pipelines", "filter.py")


def test_shipped_specs_load_with_their_thresholds():
    names = filterspec.available(cwd="/")  # only what ships inside the package
    assert {"length", "language", "url"} <= set(names)
    spec = filterspec.load("length", cwd="/")
    assert spec.stages == (Length(min_words=50, max_words=100000),)
    assert "Gopher" in spec.description
    for name in names:
        assert filterspec.load(name, cwd="/").stages, name


def test_project_specs_override_and_errors(tmp_path):
    (tmp_path / "filters").mkdir()
    (tmp_path / "filters" / "length-strict.toml").write_text('[[stages]]\nstage = "length"\nmin_words = 200\n')
    assert filterspec.load("length-strict", cwd=str(tmp_path)).stages == (Length(min_words=200),)
    with pytest.raises(ConfigError, match="unknown filter 'nope' \\(known: .*length-strict"):
        filterspec.load("nope", cwd=str(tmp_path))
    bad = tmp_path / "bad.toml"
    bad.write_text('[[stages]]\nstage = "length"\nmin_wrds = 3\n')
    with pytest.raises(ConfigError, match="unknown config key 'bad.stages\\[0\\].min_wrds'"):
        filterspec.load(str(bad))
    bad.write_text('[[stages]]\nstage = "lenght"\n')
    with pytest.raises(ConfigError, match="unknown stage 'lenght'"):
        filterspec.load(str(bad))
    bad.write_text('[[stages]]\nstage = "length"\nmin_words = "ten"\n')
    with pytest.raises(ConfigError, match="expects int"):
        filterspec.load(str(bad))


def test_filter_pipeline_evaluate_all_counts_overlap(sample_dir, tmp_path):
    out = tmp_path / "run"
    res = curate("run", FILTER_PIPELINE, "--input", sample_dir, "--output", str(out), "--filter", "length",
                 "--filter", str(tmp_path / "short.toml"), "--set", "evaluate_all=true")
    assert res.returncode == 2 and "does not exist" in res.stderr
    # two specs naming the same stage would give colliding reasons: refused before any work
    (tmp_path / "strict.toml").write_text('[[stages]]\nstage = "length"\nmin_words = 300\n')
    res = curate("run", FILTER_PIPELINE, "--input", sample_dir, "--output", str(out), "--filter", "length",
                 "--filter", str(tmp_path / "strict.toml"))
    assert res.returncode == 2 and "two stages named 'length'" in res.stderr
    res = curate("run", FILTER_PIPELINE, "--input", sample_dir, "--output", str(out), "--filter", "length",
                 "--filter", "language", "--set", "evaluate_all=true")
    assert res.returncode == 0, res.stderr[-2000:]
    table = pa.concat_tables(pads.dataset(str(out / sub), format="parquet").to_table() for sub in ("output", "removed"))
    verdicts = table.column("verdicts").to_pylist()
    reasons = table.column("drop_reason").to_pylist()
    # the first reason is the first verdict; every length verdict is recorded
    for v, r in zip(verdicts, reasons, strict=True):
        assert (v[0] if v else None) == r
    n_short = sum(1 for t in table.column("text").to_pylist() if len(t.split()) < 50)
    assert sum(1 for v in verdicts if "length:too_short" in v) == n_short > 0
    stats = json.loads(curate("stats", str(out), "--json").stdout)
    assert stats["overlap"]["length"] == n_short
    assert [m["stage"] for m in stats["marginal"]] == ["length", "language"][: len(stats["marginal"])]
    first = stats["marginal"][0]
    assert first["docs_in"] == table.num_rows and first["docs"] == stats["reasons"]["length:too_short"]["docs"]
    text = curate("stats", str(out)).stdout
    assert "marginal removal in pipeline order" in text and "overlap (evaluate-all)" in text


def test_filter_pipeline_needs_a_filter(sample_dir, tmp_path):
    res = curate("run", FILTER_PIPELINE, "--input", sample_dir, "--output", str(tmp_path / "x"))
    assert res.returncode == 2 and "no filter given: pass --filter NAME" in res.stderr
    res = curate("run", FILTER_PIPELINE, "--input", sample_dir, "--output", str(tmp_path / "x"), "--filter", "nope")
    assert res.returncode == 2 and "unknown filter 'nope'" in res.stderr


def test_evaluate_all_judges_rows_dropped_earlier(tmp_path):
    """Rule filters and the C4 line filter judge every row in evaluate-all mode, so overlap is complete."""
    from curate.core.pipeline import Pipeline
    from curate.filters.c4 import C4Quality
    from curate.io.parquet import ParquetSource

    texts = ["lorem ipsum dolor sit amet", "word " * 60, "this line has a { brace in it"]
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": texts, "id": ["a", "b", "c"]}), tmp_path / "d.parquet")
    p = Pipeline("p", ParquetSource(), [Length(min_words=10), C4Quality()], evaluate_all=True)
    (batch,) = list(p.run(str(tmp_path / "d.parquet"), 10))
    assert batch.column("drop_reason").to_pylist() == ["length:too_short", "c4:too_few_sentences",
                                                       "length:too_short"]
    assert batch.column("verdicts").to_pylist() == [
        ["length:too_short", "c4:lorem_ipsum"], ["c4:too_few_sentences"], ["length:too_short", "c4:curly_bracket"],
    ]


def test_shipped_specs_are_in_the_wheel(tmp_path):
    """`--filter NAME` must work after a plain `pip install`: the catalogue ships as curate/specs/*.toml."""
    import subprocess
    import sys
    import zipfile

    res = subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = tmp_path.glob("curate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in filterspec.available(cwd="/"):
        assert f"curate/specs/{spec}.toml" in names
