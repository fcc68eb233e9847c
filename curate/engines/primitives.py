"""Engine-independent pieces of the dedup primitives: argument checks and the Arrow/numpy kernels.

The engines (``local``, ``ray``, ``spark``) offer ``connected_components``, ``first_per_group``, ``join``
and ``partition_by`` with one signature and one answer. This module holds what they share, so a rule
such as "ties go to the smaller id" or "nulls sort last" is written once:

* ``check_*``: argument and schema checks that run before any work, reading Parquet footers only, and
  raise ``ValueError`` saying what to change;
* kernels over one Arrow table holding *whole groups*: the local engine calls them on all rows, Ray on
  each block of a hash shuffle by the group key (how Ray's own ``map_groups`` co-locates groups), Spark
  on each partition after ``repartition(key)``;
* the large-star / small-star steps of Kiveris et al., "Connected Components in MapReduce and Beyond"
  (SoCC 2014), vectorised over a block that holds every edge of its nodes.

Connected components by large-star / small-star. Edges are kept as pairs ``(hi, lo)`` with
``hi > lo``. Large-star: every node ``u`` links each *larger* neighbour to ``m(u)``, the minimum of ``u``
and its neighbours. Small-star: every node ``u`` links itself and each *smaller* neighbour to the
minimum of those. Alternating the two converges in O(log^2 n) rounds to a forest of stars whose centre
is the minimum id of its component; a round that changes nothing is that fixed point. A step marks each
output edge ``chg`` when the node that produced it changed something (large-star: ``u`` had smaller and
larger neighbours; small-star: ``u`` had two or more smaller neighbours), so "nothing changed" is a sum
over the step's output, not a comparison of two edge sets.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.core.run import reason_dir

JOIN_HOWS = ("inner", "left", "anti", "semi")
DIRECTIONS = ("ascending", "descending")
MAX_ROUNDS = 200  # O(log^2 n) rounds; far more than any real graph needs, a guard against a bug looping
NULL_DIR = "__null__"  # partition folder for rows whose value is null
EDGES = pa.schema([("hi", pa.int64()), ("lo", pa.int64()), ("chg", pa.int64())])
COMPONENTS = pa.schema([("node", pa.int64()), ("component", pa.int64())])


# --- checks (before any work) -------------------------------------------------------------------
def parquet_files(paths: list[str]) -> list[str]:
    """Files behind ``paths`` (files or directories; dot- and underscore-files skipped, as Spark does)."""
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(
                os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs
                if f.endswith(".parquet") and not f.startswith((".", "_"))
            )
        else:
            files.append(p)
    return files


def input_schema(paths: list[str], what: str) -> pa.Schema:
    if isinstance(paths, str) or not paths:
        raise ValueError(f"{what}: give a non-empty list of Parquet files or directories, got {paths!r}")
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise ValueError(f"{what}: no such file or directory: {missing}")
    files = parquet_files(paths)
    if not files:
        raise ValueError(f"{what}: no Parquet files under {paths}")
    return pq.read_schema(files[0])


def _need(schema: pa.Schema, cols, what: str) -> None:
    missing = [c for c in cols if c not in schema.names]
    if missing:
        raise ValueError(f"{what}: column(s) {missing} not in the input; it has {schema.names}")


def check_edges(edges: list[str], src: str, dst: str) -> None:
    schema = input_schema(edges, "connected_components edges")
    _need(schema, [src, dst], "connected_components")
    for c in (src, dst):
        if not pa.types.is_integer(schema.field(c).type):
            raise ValueError(f"connected_components: edge column {c!r} must be an integer id (int64), "
                             f"got {schema.field(c).type}; map ids to int64 first (curate.core.ids)")


def check_first_per_group(inputs, by, order, id_col, keep) -> list[str]:
    """Returns the columns to read."""
    schema = input_schema(inputs, "first_per_group")
    if isinstance(by, str) or not by:
        raise ValueError(f"first_per_group: `by` must be a non-empty list of columns, got {by!r}")
    for item in order:
        if not (isinstance(item, tuple | list) and len(item) == 2 and item[1] in DIRECTIONS):
            raise ValueError(f"first_per_group: order items are (column, 'ascending'|'descending'), "
                             f"got {item!r}")
    keep = list(keep)
    if id_col in keep or "kept" in keep:
        raise ValueError(f"first_per_group: `keep` must not name {id_col!r} or 'kept' (they are always "
                         "in the output)")
    cols = list(dict.fromkeys([*by, *(c for c, _ in order), id_col, *keep]))
    _need(schema, cols, "first_per_group")
    return cols


def check_join(left, right, on, how) -> tuple[list[str], list[str], list[str]]:
    """Returns the non-key columns of left and (for inner/left joins) right, and the output's sort order:
    ``on``, then the other sortable columns, so rows with equal keys come out in one order everywhere."""
    if how not in JOIN_HOWS:
        raise ValueError(f"join: how={how!r} is not one of {JOIN_HOWS}")
    if isinstance(on, str) or not on:
        raise ValueError(f"join: `on` must be a non-empty list of columns, got {on!r}")
    ls, rs = input_schema(left, "join left"), input_schema(right, "join right")
    _need(ls, on, "join left")
    _need(rs, on, "join right")
    lcols = [c for c in ls.names if c not in on]
    rcols = [c for c in rs.names if c not in on] if how in ("inner", "left") else []
    clash = sorted(set(lcols) & set(rcols))
    if clash:
        raise ValueError(f"join: both sides have non-key column(s) {clash}; rename or drop them on one side")
    fields = {f.name: f.type for f in [*ls, *rs]}
    return lcols, rcols, [*on, *(c for c in [*lcols, *rcols] if _sortable(fields[c]))]


def check_partition_by(inputs, column) -> None:
    _need(input_schema(inputs, "partition_by"), [column], "partition_by")


def fresh_dir(path: str) -> None:
    """Empty ``path`` so a rerun replaces, never mixes with, an earlier output (as Spark's overwrite)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


# --- ordering ----------------------------------------------------------------------------------
def _sortable(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
            or pa.types.is_boolean(t) or pa.types.is_temporal(t) or pa.types.is_decimal(t))


def sort_columns(schema: pa.Schema, first: list[str]) -> list[str]:
    """``first``, then every other sortable column: a total row order, so outputs match across engines
    even where ``first`` has ties. Nulls sort last everywhere (Arrow's default; Spark is told so)."""
    return [*first, *(f.name for f in schema if f.name not in first and _sortable(f.type))]


def sort_table(table: pa.Table, first: list[str]) -> pa.Table:
    if table.num_rows == 0:
        return table
    return table.sort_by([(c, "ascending") for c in sort_columns(table.schema, first)])


def _group_starts(table: pa.Table, by: list[str]) -> np.ndarray:
    """True where a row starts a new run of equal ``by`` values (null equals null) in a sorted table."""
    n = table.num_rows
    start = np.zeros(n, dtype=bool)
    if n == 0:
        return start
    start[0] = True
    for c in by:
        col = table.column(c)
        cur, prev = col.slice(1), col.slice(0, n - 1)
        both_null = pc.and_(pc.is_null(cur), pc.is_null(prev))
        differ = pc.fill_null(pc.not_equal(cur, prev), True)
        start[1:] |= pc.and_not(differ, both_null).to_numpy(zero_copy_only=False)
    return start


# --- first_per_group ----------------------------------------------------------------------------
def first_per_group_table(table: pa.Table, by: list[str], order: list[tuple[str, str]], id_col: str,
                          keep: list[str] = ()) -> pa.Table:
    """One row per non-keeper: (id_col, kept, *keep), sorted by id_col. ``table`` holds whole groups."""
    keys = [*((c, "ascending") for c in by), *((c, d) for c, d in order), (id_col, "ascending")]
    if table.num_rows:
        table = table.sort_by(keys)  # nulls last in either direction
    start = _group_starts(table, by)
    first = np.maximum.accumulate(np.where(start, np.arange(len(start)), 0)) if len(start) else start
    ids = table.column(id_col)
    non_keeper = pa.array(~start)
    out = pa.table({
        id_col: ids.filter(non_keeper),
        "kept": ids.take(pa.array(first, pa.int64())).filter(non_keeper),
        **{c: table.column(c).filter(non_keeper) for c in keep},
    })
    return out.sort_by([(id_col, "ascending")]) if out.num_rows else out


# --- partition_by -------------------------------------------------------------------------------
def value_dir(value) -> str:
    """Folder name for a partition value: ``reason_dir`` of its string form; nulls in ``__null__``."""
    return NULL_DIR if value is None else reason_dir(str(value))


def write_partitions(table: pa.Table, column: str, out_dir: str) -> pa.Table:
    """Write each value's rows (``table`` holds all of them) to ``out_dir/<value>/part-<h>.parquet``.

    ``<h>`` hashes the raw value, so two values that share a path-safe folder name (``a:b``, ``a.b``)
    get two files instead of overwriting each other. Rows are in a total order, so files are identical
    on every engine. Returns one row per file written: (path, rows).
    """
    table = sort_table(table, [column])
    start = _group_starts(table, [column])
    bounds = [*np.flatnonzero(start).tolist(), table.num_rows]
    paths, rows = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
        part = table.slice(lo, hi - lo)
        value = part.column(column)[0].as_py()
        h = hashlib.sha256(repr(value).encode()).hexdigest()[:16]
        path = os.path.join(out_dir, value_dir(value), f"part-{h}.parquet")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
        pq.write_table(part, tmp, compression="zstd")
        os.replace(tmp, path)  # a retried task rewrites the same name: no duplicates
        paths.append(path)
        rows.append(part.num_rows)
    return pa.table({"path": pa.array(paths, pa.string()), "rows": pa.array(rows, pa.int64())})


# --- connected components -----------------------------------------------------------------------
def _np(col) -> np.ndarray:
    return col.to_numpy() if isinstance(col, pa.ChunkedArray | pa.Array) else np.asarray(col)


def orient(table: pa.Table, src: str, dst: str) -> pa.Table:
    """Raw edges -> (hi, lo, chg=0): nulls and self-loops dropped (their nodes come back at the end)."""
    table = table.select([src, dst]).cast(pa.schema([(src, pa.int64()), (dst, pa.int64())])).drop_null()
    a, b = _np(table.column(src)), _np(table.column(dst))
    keep = a != b
    a, b = a[keep], b[keep]
    return _edges(np.maximum(a, b), np.minimum(a, b), np.zeros(len(a), np.int64))


def endpoints(table: pa.Table, src: str, dst: str) -> pa.Table:
    """Every non-null node of raw edges as a (node, component=node) candidate."""
    nodes = pa.concat_arrays([table.column(src).combine_chunks().cast(pa.int64()),
                              table.column(dst).combine_chunks().cast(pa.int64())]).drop_null()
    nodes = pc.unique(nodes)
    return pa.table({"node": nodes, "component": nodes}, schema=COMPONENTS)


def _edges(hi, lo, chg) -> pa.Table:
    return pa.table({"hi": hi, "lo": lo, "chg": np.asarray(chg, np.int64)}, schema=EDGES)


def _unique_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, y) sorted by x then y, and a mask of the rows that start a new x."""
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    new = np.ones(len(x), dtype=bool)
    new[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
    x, y = x[new], y[new]
    first = np.ones(len(x), dtype=bool)
    first[1:] = x[1:] != x[:-1]
    return x, y, first


def split_by_hash(table: pa.Table, key: str, parts: int) -> list[pa.Table]:
    """Cut ``table`` into ``parts`` by a mixed hash of the int64 ``key``, so each node's rows meet."""
    h = _np(table.column(key)).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    part = (h >> np.uint64(40)) % np.uint64(parts)
    return [table.filter(pa.array(part == p)) for p in range(parts)]


def sample_keys(table: pa.Table, key: str, k: int = 1000) -> np.ndarray:
    """Up to ``k`` evenly spaced distinct values of ``key``: a block's share of the range bounds."""
    values = np.unique(_np(table.column(key)))
    return values[np.linspace(0, len(values) - 1, min(k, len(values))).astype(np.int64)] if len(values) else values


def range_bounds(samples: list[np.ndarray], parts: int) -> np.ndarray:
    """``parts - 1`` split points from the blocks' samples (empty when there are no rows)."""
    values = np.unique(np.concatenate([np.asarray(s, np.int64) for s in samples] or [np.empty(0, np.int64)]))
    if not len(values):
        return values
    return values[np.linspace(0, len(values) - 1, parts + 1)[1:-1].astype(np.int64)]


def split_by_range(table: pa.Table, key: str, bounds: np.ndarray) -> list[pa.Table]:
    """Cut ``table`` at ``bounds``: part p holds keys in (bounds[p-1], bounds[p]]; parts in key order."""
    part = np.searchsorted(bounds, _np(table.column(key)), side="left")
    return [table.filter(pa.array(part == p)) for p in range(len(bounds) + 1)]


def symmetric(table: pa.Table) -> pa.Table:
    """(hi, lo) -> both directions as (u, v), the large-star input keyed by u."""
    hi, lo = _np(table.column("hi")), _np(table.column("lo"))
    return pa.table({"u": np.concatenate([hi, lo]), "v": np.concatenate([lo, hi])})


def large_star(table: pa.Table) -> pa.Table:
    """Every node u (all its (u, v) rows are in ``table``): link each v > u to min(u, N(u))."""
    u, v, first = _unique_pairs(_np(table.column("u")), _np(table.column("v")))
    group = np.cumsum(first) - 1
    m = np.minimum(u, v[first][group])  # rows are sorted by v within u: the first v is the smallest
    up = v > u
    return _edges(v[up], m[up], (m < u)[up])


def small_star(table: pa.Table) -> pa.Table:
    """Every node u (all its (u, lo) rows are in ``table``): link u and each lo to min(lo)."""
    u, lo, first = _unique_pairs(_np(table.column("hi")), _np(table.column("lo")))
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, len(u)))
    group = np.cumsum(first) - 1
    m = lo[first]
    changed = sizes >= 2
    leaves = lo != m[group]
    return _edges(np.concatenate([lo[leaves], u[first]]), np.concatenate([m[group][leaves], m]),
                  np.concatenate([changed[group][leaves], changed]))


def stars_to_candidates(table: pa.Table) -> pa.Table:
    return pa.table({"node": table.column("hi"), "component": table.column("lo")}, schema=COMPONENTS)


def min_component(table: pa.Table) -> pa.Table:
    """(node, component) candidates -> one row per node with the smallest candidate, sorted by node."""
    node, comp, first = _unique_pairs(_np(table.column("node")), _np(table.column("component")))
    return pa.table({"node": node[first], "component": comp[first]}, schema=COMPONENTS)


def components_table(table: pa.Table, src: str, dst: str) -> pa.Table:
    """All of a graph's components in memory (the local engine): vectorised union-find.

    Node ids are ranked with ``np.unique`` so union-find runs over dense indices; a component's label
    is its smallest index, which is its smallest node id because ranks keep the order.
    """
    from curate.dedup.minhash import components

    nodes = np.sort(_np(endpoints(table, src, dst).column("node")))
    e = orient(table, src, dst)
    pairs = np.stack([np.searchsorted(nodes, _np(e.column("hi"))),
                      np.searchsorted(nodes, _np(e.column("lo")))], axis=1)
    labels = components(len(nodes), pairs)
    return pa.table({"node": nodes, "component": nodes[labels]}, schema=COMPONENTS)
