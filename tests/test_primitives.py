"""Global primitives (group-by-aggregate, anti-join, hash sample): the same answer on every engine."""

import os

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curate.core import config as configmod
from curate.core.ids import hash_unit, sample_mask
from curate.core.pipeline import Pipeline
from curate.engines import make_engine
from curate.filters.length import Length
from curate.io.parquet import ParquetSource

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def docs_dir(sample_dir, tmp_path_factory):
    """Real documents with a bucket column, in three Parquet files."""
    table = pads.dataset(sample_dir, format="parquet").to_table(columns=["id", "text"])
    ids = table.column("id").to_pylist()
    out = tmp_path_factory.mktemp("docs")
    words = [len(t.split()) for t in table.column("text").to_pylist()]
    full = pa.table({
        "doc_id": ids,
        "bucket": [int(hash_unit(i, 3) * 7) for i in ids],
        "words": pa.array(words, pa.int64()),
    })
    for k in range(3):
        pq.write_table(full.slice(k * 700, 700), out / f"part-{k}.parquet")
    return str(out), full


def _read(path):
    return pads.dataset(path, format="parquet").to_table()


@pytest.fixture(scope="module", params=["local", "ray", "spark"])
def engine(request):
    cfg = configmod.load(configmod.NoConfig, None, {"run.engine": request.param, "run.workers": 2},
                         ["spark.master=local[2]"])
    eng = make_engine(cfg)
    yield eng
    eng.close()


def test_group_agg(engine, docs_dir, tmp_path):
    path, full = docs_dir
    out = engine.group_agg([path], ["bucket"], [("doc_id", "min"), ("doc_id", "count"), ("words", "sum"),
                                                ("words", "max")], str(tmp_path / "agg"))
    got = _read(out).sort_by("bucket").to_pylist()
    expect = {}
    for r in full.to_pylist():
        e = expect.setdefault(r["bucket"], {"doc_id_min": r["doc_id"], "doc_id_count": 0, "words_sum": 0, "words_max": 0})
        e["doc_id_min"] = min(e["doc_id_min"], r["doc_id"])
        e["doc_id_count"] += 1
        e["words_sum"] += r["words"]
        e["words_max"] = max(e["words_max"], r["words"])
    assert [{k: r[k] for k in ("bucket", "doc_id_min", "doc_id_count", "words_sum", "words_max")} for r in got] == [
        {"bucket": b, **expect[b]} for b in sorted(expect)
    ]


def test_anti_join(engine, docs_dir, tmp_path):
    path, full = docs_dir
    drop = full.filter(pa.array(sample_mask(full.column("doc_id").to_pylist(), 0.25, 11))).select(["doc_id"])
    os.makedirs(tmp_path / "drop")
    pq.write_table(drop, tmp_path / "drop" / "ids.parquet")
    out = engine.anti_join([path], [str(tmp_path / "drop")], "doc_id", str(tmp_path / "anti"))
    got = sorted(_read(out).column("doc_id").to_pylist())
    dropped = set(drop.column("doc_id").to_pylist())
    assert 0 < len(dropped) < full.num_rows
    assert got == sorted(i for i in full.column("doc_id").to_pylist() if i not in dropped)


def test_sample(engine, docs_dir, tmp_path):
    path, full = docs_dir
    out = engine.sample([path], 0.3, 5, str(tmp_path / "s"))
    ids = full.column("doc_id").to_pylist()
    expect = sorted(i for i, k in zip(ids, sample_mask(ids, 0.3, 5), strict=True) if k)
    assert sorted(_read(out).column("doc_id").to_pylist()) == expect


def test_apply_on_engine_dataset(engine, sample_dir, local_reference):
    """Spark and Ray users can run a pipeline's stages over a DataFrame / Dataset they already hold."""
    from tests.conftest import kept_ids

    pipeline = Pipeline("p", ParquetSource(), [Length()])
    docs = pads.dataset(sample_dir, format="parquet").to_table()
    docs = pa.Table.from_batches([b for batch in docs.to_batches() for b in [ParquetSource(dump="")._normalise(batch, "x")]])
    if engine.name == "local":
        out = pa.Table.from_batches([pipeline.process(b, pipeline.schemas()) for b in docs.to_batches()])
    elif engine.name == "ray":
        from curate.engines.ray import apply

        ds = apply(engine.ray.data.from_arrow(docs), pipeline, batch_rows=200)
        out = pa.concat_tables(list(ds.iter_batches(batch_format="pyarrow", batch_size=None)))
    else:
        from curate.engines.spark import apply

        df = engine.spark.createDataFrame(docs.to_pandas())
        out = pa.Table.from_pandas(apply(df, pipeline, batch_rows=200).toPandas())
    kept = sorted(out.filter(out.column("drop_reason").is_null()).column("doc_id").to_pylist())
    assert kept == kept_ids(local_reference)
