"""Document dedup as global stages: URL, exact text and MinHash LSH (issue 5).

Each stage plugs into a pipeline like any other; the runner splits the pipeline there into phases
(:class:`curate.core.pipeline.GlobalStage`): the map phase before it writes small per-shard key tables
(int64 keys, so engines shuffle fixed-width values), ``resolve`` runs engine primitives over all shards'
keys and writes, per shard, the removed documents and the doc_id of the twin kept in their place; the
next map phase drops them with reason ``dedup:url`` / ``dedup:exact`` / ``dedup:minhash`` and fills
``duplicate_of``. Only documents not dropped by an earlier stage take part.

* :class:`URLDedup`: one document per normalised URL (:func:`normalize_url`). Priority ``latest`` keeps
  the newest ``dump``, then ``date`` (Llama 3 keeps the most recent crawl's version); ``longest`` keeps
  the longest text (datatrove's ``UrlDedup`` option). Ties: smallest ``doc_id``.
* :class:`ExactDedup`: one document per hash of the normalised text (:func:`minhash.normalize_text`:
  case, digits, punctuation and whitespace do not matter); keeper: smallest ``doc_id``.
* :class:`MinHashDedup`: FineWeb's MinHash LSH (5-grams, 14 bands x 8 rows; ``threshold`` derives
  bands/rows with datasketch's routine). Map phase: signatures and band keys. Resolve: a group-by on
  (band, key) gives star edges from each bucket's smallest doc key (``first_per_group``), the engine's
  ``connected_components`` joins them, and each component keeps its smallest doc key (a hash of the
  doc_id, so the choice does not depend on input order or engine).

``scope = "dump"`` dedups within each dump only (FineWeb: per crawl), ``"global"`` across all.
Two rows with the same doc_id are never each other's duplicate (both stay).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from curate.core.errors import ConfigError
from curate.core.pipeline import GlobalStage
from curate.core.schema import require
from curate.dedup import minhash

SCOPES = ("dump", "global")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}


def hash64(values: list[str | None]) -> np.ndarray:
    """int64 keys of strings (BLAKE2b, 8 bytes); equal strings give equal keys on every machine."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b((v or "").encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                        "little", signed=True) for v in values),
        dtype=np.int64, count=len(values),
    )


def normalize_url(url: str) -> str:
    """The URL two fetches of the same page share.

    Scheme and host lower-cased, a trailing dot of the host dropped, the scheme's default port
    dropped, the fragment dropped (it never reaches the server); an empty path becomes ``/``. The
    path keeps its case and its trailing slash (``/a`` and ``/a/`` may be different resources, RFC 3986
    section 6.2.3 equates only the empty path with ``/``), and the query is kept as is. A URL that does
    not parse is used stripped, as it is.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    if parts.username is not None:
        netloc = parts.username + (f":{parts.password}" if parts.password is not None else "") + "@" + netloc
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def _check_scope(stage: str, scope: str) -> None:
    if scope not in SCOPES:
        raise ConfigError(f"{stage}.scope must be one of {', '.join(SCOPES)}; got {scope!r}")


def _scoped(keys: list[str], dumps: list[str | None], scope: str) -> list[str]:
    return [f"{d or ''}\n{k}" for k, d in zip(keys, dumps, strict=True)] if scope == "dump" else keys


_KEYS = pa.schema([("shard", pa.string()), ("doc_id", pa.string()), ("group", pa.int64())])


def _winners_resolve(stage: GlobalStage, engine, keys: list[str], order: list[tuple[str, str]],
                     out_dir: str) -> None:
    """One keeper per ``group`` by ``order`` then smallest doc_id; the others' decisions per shard."""
    losers = _prim(engine, "first_per_group")(
        keys, ["group"], order, "doc_id", os.path.join(out_dir, "losers"), keep=["shard"]
    )
    if _rows(losers):  # no duplicates: no decisions (an engine may write no file for no rows)
        _prim(engine, "partition_by")([losers], "shard", os.path.join(out_dir, "decisions"))


@dataclasses.dataclass(frozen=True)
class URLDedup(GlobalStage):
    """One document per normalised URL.

    Args:
        priority: ``latest`` (newest dump, then date; Llama 3) or ``longest`` (longest text; datatrove).
        scope: ``global`` (across dumps: the default, as the latest-crawl rule needs) or ``dump``.
    """

    priority: str = "latest"
    scope: str = "global"
    name: ClassVar[str] = "url_dedup"
    reason: ClassVar[str] = "dedup:url"

    def __post_init__(self):
        if self.priority not in ("latest", "longest"):
            raise ConfigError(f"url_dedup.priority must be 'latest' or 'longest'; got {self.priority!r}")
        _check_scope(self.name, self.scope)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, url=pa.string(), dump=pa.string(), date=pa.string(), text=pa.large_string(),
                doc_id=pa.string(), drop_reason=pa.string())
        return super().output_schema(schema)

    def key_schemas(self) -> dict[str, pa.Schema]:
        return {"keys": _KEYS.append(pa.field("dump", pa.string())).append(pa.field("date", pa.string()))
                .append(pa.field("length", pa.int64()))}

    def keys(self, batch: pa.RecordBatch, shard: str) -> dict[str, pa.Table]:
        urls = batch.column("url").to_pylist()
        rows = [i for i, u in enumerate(urls) if u and u.strip()]  # no URL: nothing to dedup on
        batch = batch.take(pa.array(rows, pa.int64()))
        dumps = batch.column("dump").to_pylist()
        norm = [normalize_url(urls[i]) for i in rows]
        return {"keys": pa.table({
            "shard": pa.array([shard] * len(rows), pa.string()),
            "doc_id": batch.column("doc_id"),
            "group": hash64(_scoped(norm, dumps, self.scope)),
            "dump": pc.fill_null(batch.column("dump"), ""),
            "date": pc.fill_null(batch.column("date"), ""),
            "length": pc.fill_null(pc.utf8_length(batch.column("text")), 0).cast(pa.int64()),
        })}

    def resolve(self, engine, tables: dict[str, list[str]], out_dir: str) -> None:
        order = ([("dump", "descending"), ("date", "descending")] if self.priority == "latest"
                 else [("length", "descending")])
        _winners_resolve(self, engine, tables["keys"], order, out_dir)


@dataclasses.dataclass(frozen=True)
class ExactDedup(GlobalStage):
    """One document per normalised text (lower case, digits as 0, no punctuation, single spaces).

    Args:
        scope: ``global`` (default) or ``dump``.
    """

    scope: str = "global"
    name: ClassVar[str] = "exact_dedup"
    reason: ClassVar[str] = "dedup:exact"

    def __post_init__(self):
        _check_scope(self.name, self.scope)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), dump=pa.string(), doc_id=pa.string(),
                drop_reason=pa.string())
        return super().output_schema(schema)

    def key_schemas(self) -> dict[str, pa.Schema]:
        return {"keys": _KEYS}

    def keys(self, batch: pa.RecordBatch, shard: str) -> dict[str, pa.Table]:
        norm = [minhash.normalize_text(t or "") for t in batch.column("text").to_pylist()]
        rows = [i for i, t in enumerate(norm) if t]  # empty texts are not each other's duplicates
        dumps = batch.column("dump").to_pylist()
        return {"keys": pa.table({
            "shard": pa.array([shard] * len(rows), pa.string()),
            "doc_id": batch.column("doc_id").take(pa.array(rows, pa.int64())),
            "group": hash64(_scoped([norm[i] for i in rows], [dumps[i] for i in rows], self.scope)),
        })}

    def resolve(self, engine, tables: dict[str, list[str]], out_dir: str) -> None:
        _winners_resolve(self, engine, tables["keys"], [], out_dir)


@functools.cache
def _params(ngram: int, bands: int, rows: int, seed: int, threshold: float) -> minhash.MinHashParams:
    if threshold:
        return minhash.MinHashParams.for_threshold(threshold, num_perm=bands * rows, ngram=ngram, seed=seed)
    return minhash.MinHashParams(ngram=ngram, bands=bands, rows=rows, seed=seed)


@dataclasses.dataclass(frozen=True)
class MinHashDedup(GlobalStage):
    """MinHash LSH near-duplicate removal (FineWeb's configuration by default).

    Args:
        ngram: words per shingle (5).
        bands: LSH bands (14).
        rows: hashes per band (8).
        seed: seed of the hash permutations (1, datatrove's).
        threshold: when > 0, bands and rows are derived from this Jaccard threshold with the same
            number of permutations (``bands * rows``), by datasketch's optimal-parameter routine.
        scope: ``dump`` (default: FineWeb deduplicated each crawl on its own) or ``global``.
        verify_threshold: when > 0, a candidate edge counts only if the two documents' exact 5-gram
            Jaccard is at least this (removes LSH false positives). Each live document's shingle set
            is written in the map phase; the resolve joins the star edges with both ends' sets and
            checks them file by file on the engine's workers (``MapJob.task``), so no machine holds
            more than one part file of edges. Only star edges (member -> bucket minimum) are checked:
            a member similar to another member but not to the minimum loses that band's edge.
    """

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    threshold: float = 0.0
    scope: str = "dump"
    verify_threshold: float = 0.0
    name: ClassVar[str] = "minhash_dedup"
    reason: ClassVar[str] = "dedup:minhash"
    decision_column: ClassVar[str] = "duplicate_of"

    def __post_init__(self):
        _check_scope(self.name, self.scope)
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"minhash_dedup.threshold must be within [0, 1) (0: use bands x rows); "
                              f"got {self.threshold}")
        if not 0.0 <= self.verify_threshold <= 1.0:
            raise ConfigError(f"minhash_dedup.verify_threshold must be within [0, 1] (0: no verification); "
                              f"got {self.verify_threshold}")
        try:
            _ = self.params
        except ValueError as e:
            raise ConfigError(f"minhash_dedup: {e}") from None

    @property
    def params(self) -> minhash.MinHashParams:
        return _params(self.ngram, self.bands, self.rows, self.seed, self.threshold)

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), dump=pa.string(), doc_id=pa.string(),
                drop_reason=pa.string())
        return super().output_schema(schema)

    def key_schemas(self) -> dict[str, pa.Schema]:
        tables = {
            # one row per (document, band): the LSH buckets
            "bands": pa.schema([("doc_key", pa.int64()), ("band", pa.int64()), ("bkey", pa.int64())]),
            # doc key -> where the document lives, and doc key -> its doc_id as a twin
            "docs": pa.schema([("node", pa.int64()), ("doc_id", pa.string()), ("shard", pa.string())]),
            "twins": pa.schema([("kept", pa.int64()), ("duplicate_of", pa.string())]),
        }
        if self.verify_threshold:  # each side of an edge joins its own copy by its own column name
            # sets as bytes of sorted int64s: joins carry binary everywhere (Arrow's hash join has no lists)
            tables["shingles"] = pa.schema([("doc_key", pa.int64()), ("shingles", pa.large_binary())])
            tables["kept_shingles"] = pa.schema([("kept", pa.int64()), ("kept_shingles", pa.large_binary())])
        return tables

    def keys(self, batch: pa.RecordBatch, shard: str) -> dict[str, pa.Table]:
        params = self.params
        ids = batch.column("doc_id")
        doc_key = hash64(ids.to_pylist())
        sigs = minhash.signatures([t or "" for t in batch.column("text").to_pylist()], params)
        bkeys = minhash.band_keys(sigs, params)
        live = bkeys[:, 0] != minhash.SENTINEL  # no words: no shingles, never a duplicate
        if self.scope == "dump":
            dump_key = hash64(batch.column("dump").to_pylist()).view(np.uint64)
            bkeys = minhash._mix64(bkeys ^ dump_key[:, None])
        bkeys, keys_of = bkeys[live], doc_key[live]
        n, b = bkeys.shape
        extra = {}
        if self.verify_threshold:
            texts = batch.column("text").take(pa.array(np.flatnonzero(live))).to_pylist()
            lists = pa.array([np.sort(minhash.shingles(t or "", params).view(np.int64)).tobytes() for t in texts],
                             pa.large_binary())
            extra = {"shingles": pa.table({"doc_key": keys_of, "shingles": lists}),
                     "kept_shingles": pa.table({"kept": keys_of, "kept_shingles": lists})}
        return {**extra,
            "bands": pa.table({
                "doc_key": np.repeat(keys_of, b),
                "band": np.tile(np.arange(b, dtype=np.int64), n),
                "bkey": bkeys.reshape(-1).view(np.int64),
            }),
            "docs": pa.table({"node": doc_key, "doc_id": ids, "shard": pa.array([shard] * len(ids), pa.string())}),
            "twins": pa.table({"kept": doc_key, "duplicate_of": ids}),
        }

    def resolve(self, engine, tables: dict[str, list[str]], out_dir: str) -> None:
        def sub(name: str) -> str:
            return os.path.join(out_dir, name)

        first = _prim(engine, "first_per_group")
        join = _prim(engine, "join")
        # star edges: every bucket member -> the bucket's smallest doc key
        edges = first(tables["bands"], ["band", "bkey"], [], "doc_key", sub("edges"))
        if self.verify_threshold and _rows(edges):
            ends = join([edges], tables["shingles"], ["doc_key"], "inner", sub("edges_a"))
            ends = join([ends], tables["kept_shingles"], ["kept"], "inner", sub("edges_ab"))
            edges = verify_edges(engine, ends, self.verify_threshold, sub("verified"))
        if not _rows(edges):  # no band collisions (or none verified): nothing to remove
            return
        comps = _prim(engine, "connected_components")([edges], sub("components"), src="doc_key", dst="kept")
        # the component's smallest node is its keeper; every other node is removed in its favour
        losers = first([comps], ["component"], [], "node", sub("losers"))
        named = join([losers], tables["docs"], ["node"], "inner", sub("named"))
        decided = join([named], tables["twins"], ["kept"], "inner", sub("decided"))
        _prim(engine, "partition_by")([decided], "shard", sub("decisions"))


_EDGES = pa.schema([("doc_key", pa.int64()), ("kept", pa.int64())])


def verify_edges(engine, inputs: str, threshold: float, out_dir: str) -> str:
    """Keep the edges (``doc_key``, ``kept``) whose shingle sets have Jaccard >= ``threshold``: one
    engine task per part file of ``inputs`` (the joined edges with both ends' sets)."""
    import cloudpickle

    from curate.core.pipeline import Shard
    from curate.core.run import MapJob

    files = _files([inputs])
    os.makedirs(out_dir, exist_ok=True)
    pq.write_table(_EDGES.empty_table(), os.path.join(out_dir, "part-empty.parquet"))  # never an empty dir
    shards = [Shard(i, f, f"part-{i:05d}") for i, f in enumerate(files)]
    job = MapJob(b"", out_dir, 0, "verify", task=cloudpickle.dumps(functools.partial(_verify_file, threshold)))
    for result in engine.map_shards(job, shards):
        if "error" in result:
            raise RuntimeError(f"verifying candidate edges in {result['shard']} failed: {result['error']}")
    return out_dir


def _verify_file(threshold: float, job, shard) -> dict:
    pf = pq.ParquetFile(shard.path)
    out = []
    for batch in pf.iter_batches(batch_size=4096, columns=["doc_key", "kept", "shingles", "kept_shingles"]):
        a, b = batch.column("shingles").to_pylist(), batch.column("kept_shingles").to_pylist()
        ok = np.fromiter((minhash.jaccard(np.frombuffer(x, np.int64), np.frombuffer(y, np.int64)) >= threshold
                          for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a))
        out.append(pa.table({"doc_key": batch.column("doc_key"), "kept": batch.column("kept")}).filter(ok))
    table = pa.concat_tables([_EDGES.empty_table(), *(t.cast(_EDGES) for t in out)])
    path = os.path.join(job.run_dir, shard.name + ".parquet")
    tmp = os.path.join(job.run_dir, f".{shard.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)  # a retried task rewrites the same name
    return {"shard": shard.name, "edges": table.num_rows}


# --- primitives --------------------------------------------------------------------------------------
# Until every engine offers the dedup primitives (engineer F's connected_components, first_per_group,
# join, partition_by), an engine without one falls back to this in-memory version on the driver.


def _prim(engine, name: str):
    method = getattr(engine, name, None)
    return method if method is not None else _FALLBACK[name]


def _files(paths: list[str]) -> list[str]:
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs
                            if f.endswith(".parquet") and not f.startswith((".", "_")))
        else:
            files.append(p)
    return files


def _rows(path: str) -> int:
    """Rows in a primitive's output folder, from the Parquet footers (0 when it wrote nothing)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in _files([path])) if os.path.exists(path) else 0


def _read(paths: list[str]) -> pa.Table:
    return pads.dataset(_files(paths), format="parquet").to_table()


def _write(table: pa.Table, out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    pq.write_table(table, os.path.join(out_dir, "part-00000.parquet"), compression="zstd")
    return out_dir


def _first_per_group(inputs, by, order, id_col, out_dir, keep=()):
    t = _read(inputs).sort_by([(c, "ascending") for c in by] + list(order) + [(id_col, "ascending")])
    n = t.num_rows
    start = np.zeros(n, dtype=bool)
    start[:1] = True
    for c in by:
        col = t.column(c)
        if n > 1:
            same = pc.fill_null(pc.equal(col.slice(1), col.slice(0, n - 1)), False).to_numpy(zero_copy_only=False)
            start[1:] |= ~same
    first_row = np.flatnonzero(start)[np.cumsum(start) - 1]
    kept = t.column(id_col).take(pa.array(first_row))
    out = pa.table({id_col: t.column(id_col), "kept": kept, **{k: t.column(k) for k in keep}})
    out = out.filter(pa.array(~start)).sort_by([(id_col, "ascending")])
    return _write(out, out_dir)


def _connected_components(edges, out_dir, src="a", dst="b"):
    t = _read(edges)
    a = t.column(src).to_numpy(zero_copy_only=False)
    b = t.column(dst).to_numpy(zero_copy_only=False)
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    labels = minhash.components(len(nodes), inverse.reshape(2, -1).T)
    return _write(pa.table({"node": nodes, "component": nodes[labels]}), out_dir)


def _join(left, right, on, how, out_dir):
    kinds = {"inner": "inner", "left": "left outer", "anti": "left anti", "semi": "left semi"}
    out = _read(left).join(_read(right), keys=list(on), join_type=kinds[how])
    return _write(out.sort_by([(c, "ascending") for c in on]), out_dir)


def _partition_by(inputs, column, out_dir):
    from curate.core.run import reason_dir

    t = _read(inputs)
    for value in pc.unique(t.column(column)).to_pylist():
        part = t.filter(pc.equal(t.column(column), value))
        _write(part, os.path.join(out_dir, reason_dir(str(value))))
    os.makedirs(out_dir, exist_ok=True)
    return out_dir


_FALLBACK = {"first_per_group": _first_per_group, "connected_components": _connected_components,
             "join": _join, "partition_by": _partition_by}
