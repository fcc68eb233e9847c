"""Dedup primitives on local, Ray and Spark: connected components, first per group, join, partition_by.

Every engine must give the same rows in the same order (read back file by file in name order), so each
test compares an engine's output with one exact expected list computed here in plain Python.
"""

import hashlib
import os
from collections import defaultdict, deque

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.core import config as configmod
from curate.engines import make_engine
from curate.engines.primitives import parquet_files

pytestmark = [pytest.mark.engine, pytest.mark.slow]

I64 = pa.int64()
MAX, MIN = 2**63 - 1, -(2**63)


@pytest.fixture(scope="module", params=["local", "ray", "spark"])
def engine(request):
    cfg = configmod.load(configmod.NoConfig, None, {"run.engine": request.param, "run.workers": 2},
                         ["spark.master=local[2,3]"])
    eng = make_engine(cfg)
    if eng.name == "spark":  # tiny test graphs: 200 shuffle partitions would be 200 tasks per step
        eng.spark.conf.set("spark.sql.shuffle.partitions", "4")
    yield eng
    eng.close()


def _write_parts(table: pa.Table, out, parts: int = 3) -> str:
    """``table`` cut into ``parts`` files, so every engine reads several inputs."""
    os.makedirs(out, exist_ok=True)
    step = -(-table.num_rows // parts)
    for k in range(parts):
        pq.write_table(table.slice(k * step, step), os.path.join(out, f"part-{k}.parquet"))
    return str(out)


def _rows(out_dir: str) -> list[dict]:
    files = parquet_files([out_dir])
    assert files, f"no output in {out_dir}"
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def _bfs(pairs) -> dict[int, int]:
    adj = defaultdict(set)
    for a, b in pairs:
        if a is not None:
            adj[a]
        if b is not None:
            adj[b]
        if a is not None and b is not None:
            adj[a].add(b)
            adj[b].add(a)
    comp = {}
    for s in sorted(adj):
        if s not in comp:
            comp[s], queue = s, deque([s])
            while queue:
                for y in adj[queue.popleft()]:
                    if y not in comp:
                        comp[y] = s
                        queue.append(y)
    return comp


# --- connected components -----------------------------------------------------------------------
def _known_graph():
    """Edges and each component's expected members (the minimum is the component id)."""
    chain = list(range(200, 0, -1))  # 200 -> 199 -> ... -> 1: labels must travel the whole path
    zigzag = [1000 + (i * 37) % 101 for i in range(101)]  # a path over 1000..1100 in scrambled order
    edges, groups = [], []
    edges += list(zip(chain[:-1], chain[1:], strict=True))
    groups.append(chain)
    edges += list(zip(zigzag[:-1], zigzag[1:], strict=True))
    groups.append(zigzag)
    edges += [(2050, leaf) for leaf in range(2000, 2050)]  # a star whose centre is not the minimum
    groups.append([2050, *range(2000, 2050)])
    cycle = list(range(3000, 3020))
    edges += [(cycle[i], cycle[(i + 1) % 20]) for i in range(20)]
    edges += [(3001, 3000), (3000, 3001), (3000, 3001)]  # duplicates, both directions
    groups.append(cycle)
    edges += [(4000, 4001), (4003, 4002)]  # isolated pairs
    groups += [[4000, 4001], [4002, 4003]]
    edges += [(5000, 5000), (5001, 5001), (5001, 5002), (5002, 5002)]  # self-loops
    groups += [[5000], [5001, 5002]]
    edges += [(MAX, MAX - 1), (MIN + 1, MIN), (MIN, MAX), (-5, -7), (-7, -3), (-3, -3)]  # int64 extremes
    groups += [[MIN, MIN + 1, MAX - 1, MAX], [-7, -5, -3]]
    edges += [(6000, None), (None, None)]  # a null endpoint: 6000 is a node with no edge
    groups.append([6000])
    return edges, groups


def test_connected_components_known_graph(engine, tmp_path):
    edges, groups = _known_graph()
    rng = np.random.default_rng(3)
    edges = [edges[i] for i in rng.permutation(len(edges))]
    table = pa.table({"a": pa.array([a for a, _ in edges], I64), "b": pa.array([b for _, b in edges], I64)})
    src = _write_parts(table, tmp_path / "edges")
    out = engine.connected_components([src], str(tmp_path / "cc"))
    expect = sorted((n, min(g)) for g in groups for n in g)
    assert len(expect) == 200 + 101 + 51 + 20 + 4 + 3 + 7 + 1
    assert _rows(out) == [{"node": n, "component": c} for n, c in expect]
    if engine.name != "local":  # the 200-node chain needs several rounds, each logged and counted
        assert 5 <= engine.cc_rounds <= 30


def test_connected_components_random_graph_matches_bfs(engine, tmp_path):
    rng = np.random.default_rng(7)
    a = rng.integers(-3000, 3000, 4000) * 1_000_003  # spread ids, negatives included
    b = rng.integers(-3000, 3000, 4000) * 1_000_003
    table = pa.table({"src": a, "dst": b})
    src = _write_parts(table, tmp_path / "edges", parts=4)
    out = engine.connected_components([src], str(tmp_path / "cc"), src="src", dst="dst")
    comp = _bfs(zip(a.tolist(), b.tolist(), strict=True))
    assert 100 < len(set(comp.values())) < len(comp)  # a mix of big, small and single components
    assert _rows(out) == [{"node": n, "component": comp[n]} for n in sorted(comp)]
    rerun = engine.connected_components([src], str(tmp_path / "cc"), src="src", dst="dst")
    assert _rows(rerun) == _rows(out)  # overwritten in place, not appended


def test_connected_components_rerun_is_byte_identical_locally(tmp_path):
    from curate.engines.local import LocalEngine

    eng = LocalEngine(configmod.load(configmod.NoConfig, None, {}, []))
    edges, _ = _known_graph()
    table = pa.table({"a": pa.array([a for a, _ in edges], I64), "b": pa.array([b for _, b in edges], I64)})
    src = _write_parts(table, tmp_path / "edges")
    digests = []
    for k in range(2):
        out = eng.connected_components([src], str(tmp_path / f"cc{k}"))
        digests.append([hashlib.sha256(open(f, "rb").read()).hexdigest() for f in parquet_files([out])])
    assert digests[0] == digests[1]


# --- first_per_group ----------------------------------------------------------------------------
GROUP_ROWS = [  # id, g, h, score, length
    (10, "x", 1, 0.9, 5), (11, "x", 1, 0.9, 5), (12, "x", 1, 0.5, 9),  # tie on both: id 10 wins
    (20, "x", 2, 0.1, 3), (21, "x", 2, None, 3), (22, "x", 2, 0.7, 8),  # null score sorts last
    (30, "y", 1, 0.3, 7), (31, "y", 1, 0.3, 2),  # equal score: shorter wins (ascending length)
    (40, None, 1, 0.2, 1), (41, None, 1, 0.8, 1),  # null group key is one group
    (50, "z", None, 0.4, 4), (51, "z", None, 0.4, 4), (52, "z", 3, 0.4, 4),  # null h, and its own group
    (60, "w", 1, 0.5, 1),  # single: keeper only
]


def _group_table(rows):
    return pa.table({
        "doc_id": pa.array([r[0] for r in rows], I64), "g": pa.array([r[1] for r in rows], pa.string()),
        "h": pa.array([r[2] for r in rows], I64), "score": pa.array([r[3] for r in rows], pa.float64()),
        "length": pa.array([r[4] for r in rows], I64),
    })


def test_first_per_group(engine, tmp_path):
    src = _write_parts(_group_table(GROUP_ROWS), tmp_path / "docs")
    out = engine.first_per_group([src], ["g", "h"], [("score", "descending"), ("length", "ascending")],
                                 "doc_id", str(tmp_path / "fpg"), keep=["score"])
    assert _rows(out) == [
        {"doc_id": 11, "kept": 10, "score": 0.9}, {"doc_id": 12, "kept": 10, "score": 0.5},
        {"doc_id": 20, "kept": 22, "score": 0.1}, {"doc_id": 21, "kept": 22, "score": None},
        {"doc_id": 30, "kept": 31, "score": 0.3}, {"doc_id": 40, "kept": 41, "score": 0.2},
        {"doc_id": 51, "kept": 50, "score": 0.4},
    ]


def test_first_per_group_random(engine, tmp_path):
    rng = np.random.default_rng(11)
    n = 3000
    ids = rng.permutation(n * 7)[:n].tolist()
    rows = [(i, f"k{rng.integers(0, 400)}", 0, float(rng.integers(0, 5)), int(rng.integers(0, 3))) for i in ids]
    src = _write_parts(_group_table(rows), tmp_path / "docs", parts=4)
    out = engine.first_per_group([src], ["g"], [("score", "ascending"), ("length", "descending")], "doc_id",
                                 str(tmp_path / "fpg"))
    groups = defaultdict(list)
    for r in rows:
        groups[r[1]].append(r)
    expect = []
    for members in groups.values():
        members.sort(key=lambda r: (r[3], -r[4], r[0]))
        expect += [{"doc_id": r[0], "kept": members[0][0]} for r in members[1:]]
    assert len(expect) == n - len(groups)
    assert _rows(out) == sorted(expect, key=lambda r: r["doc_id"])


# --- join ---------------------------------------------------------------------------------------
def _join_expect(left, right, how):
    out = []
    for k, lv in left:
        matches = [rv for rk, rv in right if k is not None and rk == k]
        if how == "inner":
            out += [(k, lv, rv) for rv in matches]
        elif how == "left":
            out += [(k, lv, rv) for rv in matches] or [(k, lv, None)]
        elif how == "semi" and matches:
            out.append((k, lv))
        elif how == "anti" and not matches:
            out.append((k, lv))
    key = lambda r: tuple((v is None, v) for v in r)  # noqa: E731  nulls last, as the engines sort
    return sorted(out, key=key)


@pytest.mark.parametrize("how", ["inner", "left", "semi", "anti"])
def test_join(engine, tmp_path, how):
    left = [(1, "a"), (1, "b"), (2, "c"), (3, "d"), (None, "e"), (5, "f"), (2, "c")]
    right = [(1, 100), (1, 101), (2, 200), (4, 400), (None, 999), (5, None)]
    lt = pa.table({"k": pa.array([k for k, _ in left], I64), "lv": [v for _, v in left]})
    rt = pa.table({"k": pa.array([k for k, _ in right], I64), "rv": pa.array([v for _, v in right], I64)})
    out = engine.join([_write_parts(lt, tmp_path / "l", 2)], [_write_parts(rt, tmp_path / "r", 2)], ["k"],
                      how, str(tmp_path / "j"))
    cols = ["k", "lv", "rv"] if how in ("inner", "left") else ["k", "lv"]
    assert _rows(out) == [dict(zip(cols, r, strict=True)) for r in _join_expect(left, right, how)]


# --- partition_by -------------------------------------------------------------------------------
def test_partition_by(engine, tmp_path):
    shards = ["CC-MAIN-2024-22/00001.warc.gz", "a:b", "a.b", None, "a:b", "plain", "CC-MAIN-2024-22/00001.warc.gz"]
    rows = [(s, i) for i, s in enumerate(shards * 30)]
    table = pa.table({"shard": pa.array([s for s, _ in rows], pa.string()), "doc": pa.array([i for _, i in rows], I64)})
    src = _write_parts(table, tmp_path / "decisions", 3)
    out = str(tmp_path / "parts")
    os.makedirs(os.path.join(out, "stale"))  # from an earlier run: must go
    assert engine.partition_by([src], "shard", out) == out
    layout = {d: sorted(os.listdir(os.path.join(out, d))) for d in sorted(os.listdir(out))}
    assert sorted(layout) == ["CC-MAIN-2024-22_00001.warc.gz", "__null__", "a.b", "plain"]
    assert [len(layout[d]) for d in sorted(layout)] == [1, 1, 2, 1]  # a:b and a.b share a folder
    for files in layout.values():
        assert all(f.startswith("part-") and f.endswith(".parquet") for f in files)
    for d, files in layout.items():
        for f in files:
            got = pq.read_table(os.path.join(out, d, f)).to_pylist()
            value = got[0]["shard"]
            assert got == [{"shard": value, "doc": i} for s, i in rows if s == value]  # sorted, column kept


# --- config errors: raised before any work ------------------------------------------------------
def test_bad_arguments_fail_before_work(engine, tmp_path):
    src = _write_parts(pa.table({"a": ["x", "y"], "b": pa.array([1, 2], I64)}), tmp_path / "e", 1)
    with pytest.raises(ValueError, match="edge column 'a' must be an integer id"):
        engine.connected_components([src], str(tmp_path / "o1"))
    with pytest.raises(ValueError, match=r"column\(s\) \['c'\] not in the input"):
        engine.connected_components([src], str(tmp_path / "o2"), dst="c")
    with pytest.raises(ValueError, match="how='outer' is not one of"):
        engine.join([src], [src], ["b"], "outer", str(tmp_path / "o3"))
    with pytest.raises(ValueError, match=r"non-key column\(s\) \['a'\]"):
        engine.join([src], [src], ["b"], "inner", str(tmp_path / "o4"))
    with pytest.raises(ValueError, match="'ascending'\\|'descending'"):
        engine.first_per_group([src], ["a"], [("b", "desc")], "b", str(tmp_path / "o5"))
    with pytest.raises(ValueError, match="no such file or directory"):
        engine.partition_by([str(tmp_path / "nothing")], "a", str(tmp_path / "o6"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="no Parquet files"):
        engine.partition_by([str(tmp_path / "empty")], "a", str(tmp_path / "o7"))
    assert not any(os.path.exists(tmp_path / f"o{k}") for k in range(1, 8))
