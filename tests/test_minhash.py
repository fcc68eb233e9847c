"""MinHash LSH core: property tests on real text (WikiText-2, DCLM), datatrove/datasketch parity."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import random
import zipfile

import numpy as np
import pytest

from curate.dedup._kernels import _xxh64_spans
from curate.dedup.minhash import (
    SENTINEL,
    MinHashParams,
    band_keys,
    candidate_pairs,
    components,
    jaccard,
    keepers,
    normalize_text,
    shingles,
    signatures,
    verify,
)
from curate.filters.words import split_words
from tests.conftest import DATA

P = MinHashParams()


def _wikitext_articles() -> list[str]:
    with gzip.open(os.path.join(DATA, "wikitext-2", "valid.txt.gz"), "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    articles, cur = [], []
    for line in lines:
        s = line.strip()
        if s.startswith("= ") and not s.startswith("= = "):
            if cur:
                articles.append("\n".join(cur))
            cur = []
        elif s:
            cur.append(s)
    if cur:
        articles.append("\n".join(cur))
    return articles


def _dclm() -> list[str]:
    with open(os.path.join(DATA, "dclm-human-quality-labels", "majority_data.jsonl"), encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


@pytest.fixture(scope="module")
def articles() -> list[str]:
    return _wikitext_articles()


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    """Distinct real paragraphs of 60-400 words from WikiText-2 and DCLM."""
    paras = []
    for text in _wikitext_articles() + _dclm():
        for p in text.split("\n"):
            if 60 <= len(p.split()) <= 400:
                paras.append(p)
    seen, out = set(), []
    for p in paras:
        key = normalize_text(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _edit(text: str, rate: float, rng: random.Random) -> str:
    """Replace, insert or delete about ``rate`` of the words."""
    words = text.split()
    out = []
    for w in words:
        if rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                out.append(rng.choice(words))
            elif op == 1:
                out.extend([w, rng.choice(words)])
        else:
            out.append(w)
    return " ".join(out)


def test_params_validation():
    assert P.num_perm == 112 and (P.ngram, P.bands, P.rows, P.seed) == (5, 14, 8, 1)
    for bad in ({"bands": 0}, {"rows": -1}, {"ngram": 1.5}, {"hash_bits": 32}, {"seed": -1}):
        with pytest.raises(ValueError):
            MinHashParams(**bad)


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 112), (0.7, 112), (0.8, 112), (0.9, 128), (0.75, 64)])
def test_for_threshold_equals_datasketch(threshold, num_perm):
    lsh = pytest.importorskip("datasketch.lsh")
    params = MinHashParams.for_threshold(threshold, num_perm)
    assert (params.bands, params.rows) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_normalize_matches_datatrove():
    text_mod = pytest.importorskip("datatrove.utils.text")
    docs = _dclm()[:200] + ["Crème BRÛLÉE costs $3,50 — or 1.000,5€!", "a\u00a0b\tc\n\nd", ""]
    assert [normalize_text(d) for d in docs] == [text_mod.simplify_text(d) for d in docs]


def test_signatures_equal_datatrove():
    pytest.importorskip("spacy")
    datatrove = pytest.importorskip("datatrove")
    xxhash = pytest.importorskip("xxhash")
    # load the module file alone: datatrove.pipeline.dedup's __init__ imports optional extras (tokenizers)
    path = os.path.join(os.path.dirname(datatrove.__file__), "pipeline", "dedup", "minhash.py")
    spec = importlib.util.spec_from_file_location("_datatrove_minhash", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    step = mod.MinhashDedupSignature(output_folder=os.devnull)
    step._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8"))  # xxhash >= 4 takes bytes only
    docs = _dclm()[:40]
    ours = signatures(docs)
    for doc, sig in zip(docs, ours, strict=True):
        sh = step.get_shingles(doc)
        if sh.size:
            ref = np.concatenate([np.asarray(b, dtype=np.uint64) for b in step.get_signature(sh)])
            np.testing.assert_array_equal(sig, ref)


def test_vectorised_xxh64_equals_xxhash():
    """The compiled XXH64 behind the shingle hashes equals the xxhash library on every length class."""
    xxhash = pytest.importorskip("xxhash")
    rng = random.Random(5)
    spans = [bytes(rng.randrange(256) for _ in range(n)) for n in [*range(0, 140), *rng.sample(range(140, 3000), 40)]]
    buf = np.frombuffer(b"".join(spans), dtype=np.uint8)
    lengths = np.array([len(s) for s in spans], dtype=np.int64)
    got = _xxh64_spans(buf, np.cumsum(lengths) - lengths, lengths)
    assert got.tolist() == [xxhash.xxh64_intdigest(s) for s in spans]


def _reference_shingles(text: str) -> np.ndarray:
    """The plain definition: xxh64 of each space-joined word 5-gram of split_words(normalize_text)."""
    xxhash = pytest.importorskip("xxhash")
    words = split_words(normalize_text(text))
    grams = [words] if 0 < len(words) < 5 else [words[i : i + 5] for i in range(len(words) - 4)]
    return np.unique(np.array([xxhash.xxh64_intdigest(" ".join(g).encode()) for g in grams], dtype=np.uint64))


def test_batched_shingles_equal_the_plain_definition():
    """The byte-level ASCII path and the batched hashing change no shingle: DCLM pages, 60 UDHR languages
    (scripts with combining marks and non-ASCII digits and punctuation) and edge cases."""
    with zipfile.ZipFile(os.path.join(DATA, "nltk-corpora", "udhr2.zip")) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".txt"))[::6][:60]
        udhr = [z.read(n).decode("utf-8", "replace")[:3000] for n in names]
    edge = ["Crème BRÛLÉE costs $3,50 — or 1.000,5€!", "1,000,000 3.14.15 ١٢٣،٤ a\x1cb\x85c", "\u037e;x\u1fef",
            "cannot gonna don't", "Ran 10km at 5MPH, 3kg in the 1990s; Im sure we wed. 0km", "a b", "", "  ?! ", "ǅ ﬁ Ⅷ ²³ ½ e\u0301\u0327"]
    docs = _dclm()[:150] + udhr + edge
    sigs = signatures(docs)
    for i, doc in enumerate(docs):
        ref = _reference_shingles(doc)
        np.testing.assert_array_equal(shingles(doc), ref, err_msg=repr(doc[:80]))
        if ref.size:  # the batch's signature row is the single document's, from the same shingles
            np.testing.assert_array_equal(sigs[i], signatures([doc])[0])


def test_batch_rows_equal_single_documents(articles):
    """Empty and whitespace-only documents inside and at the end of a batch, next to documents of more
    than 256 shingles (the kernel's block) and fewer words than a shingle, change no other row."""
    long = [a for a in articles if len(a.split()) > 600][:3]
    docs = ["", long[0], " \t\n ", "two words", long[1], "", "\u00a0\u3000", long[2], "a b c d e", "", " "]
    batch = signatures(docs)
    for i, doc in enumerate(docs):
        np.testing.assert_array_equal(batch[i], signatures([doc])[0], err_msg=repr(doc[:40]))
    assert [bool((row == SENTINEL).all()) for row in batch] == [not d.split() for d in docs]


def test_identical_collide_in_every_band(articles):
    docs = articles[:20]
    keys = band_keys(signatures(docs + docs))
    np.testing.assert_array_equal(keys[:20], keys[20:])
    # a batch does not change a document's signature
    np.testing.assert_array_equal(signatures(docs[3:4]), signatures(docs)[3:4])


def test_disjoint_docs_share_no_band(articles):
    docs = [a for a in articles if len(a.split()) > 200][:60]
    keys = band_keys(signatures(docs))
    assert len(candidate_pairs(keys)) == 0


def test_short_and_empty_docs():
    sigs = signatures(["", "   !!! ", "two words", "two  Words!", "a b c d e f"])
    assert (sigs[0] == SENTINEL).all() and (sigs[1] == SENTINEL).all()
    assert (sigs[2:] < SENTINEL).all()
    np.testing.assert_array_equal(sigs[2], sigs[3])  # short doc: one shingle of all its words
    keys = band_keys(sigs)
    pairs = candidate_pairs(keys)
    assert pairs.tolist() == [[2, 3]]  # empty docs never pair


def test_estimated_jaccard_close_to_true(paragraphs):
    rng = random.Random(7)
    originals = [p for p in paragraphs if len(p.split()) >= 150][:50]
    assert len(originals) == 50
    edited = [_edit(p, rng.choice([0.02, 0.05, 0.1, 0.2, 0.3]), rng) for p in originals]
    sigs = signatures(originals + edited)
    for i in range(50):
        est = float(np.mean(sigs[i] == sigs[50 + i]))
        true = jaccard(shingles(originals[i]), shingles(edited[i]))
        assert abs(est - true) <= 0.1, (i, est, true)


@pytest.fixture(scope="module")
def planted(paragraphs):
    """200 originals, each with 0-3 edited copies, fixed seed: light (0.5-2% of words) or heavy (8-30%).

    With word 5-gram shingles one edited word breaks up to 5 shingles: light edits give Jaccard ~0.8-1,
    heavy ones ~0.2-0.6. (Uniform 0.5-6% edits, all near FineWeb's 0.72 S-curve midpoint, gave
    precision 0.60 / recall 0.98 against Jaccard >= 0.8; verify() restores precision there.)
    """
    rng = random.Random(1234)
    originals = rng.sample(paragraphs, 200)
    docs = list(originals)
    for p in originals:
        for _ in range(rng.randrange(4)):
            docs.append(_edit(p, rng.uniform(*rng.choice([(0.005, 0.02), (0.08, 0.3)])), rng))
    sets = [shingles(d) for d in docs]
    truth = {
        (i, j)
        for i in range(len(docs))
        for j in range(i + 1, len(docs))
        if jaccard(sets[i], sets[j]) >= 0.8
    }
    return docs, truth


def test_planted_duplicates_precision_recall(planted):
    docs, truth = planted
    assert len(truth) >= 50
    pairs = candidate_pairs(band_keys(signatures(docs)), all_pairs=True)
    found = {tuple(p) for p in pairs.tolist()}
    tp = len(found & truth)
    precision, recall = tp / len(found), tp / len(truth)
    print(f"pairs: true {len(truth)} found {len(found)} precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    verified = {tuple(p) for p in verify(docs, pairs, 0.8).tolist()}
    assert len(verified & truth) / len(verified) >= 0.99
    assert len(verified & truth) / len(truth) >= 0.8


def test_components_and_keepers_ignore_input_order(planted):
    docs, _ = planted
    ids = np.array([f"doc{i:04d}" for i in range(len(docs))])

    def kept(order):
        d = [docs[i] for i in order]
        pairs = candidate_pairs(band_keys(signatures(d)))
        labels = components(len(d), pairs)
        return set(ids[order][keepers(labels, ids[order])].tolist()), labels

    base, labels = kept(np.arange(len(docs)))
    assert len(base) < len(docs)
    shuffled = np.random.default_rng(5).permutation(len(docs))
    assert kept(shuffled)[0] == base
    # each doc's label is its component's smallest index, whatever the pair order
    pairs = candidate_pairs(band_keys(signatures(docs)))
    rev = components(len(docs), pairs[::-1][:, ::-1])
    np.testing.assert_array_equal(rev, labels)
    assert (labels <= np.arange(len(docs))).all()


def test_components_small():
    labels = components(7, np.array([[5, 6], [1, 3], [3, 5], [2, 4]]))
    assert labels.tolist() == [0, 1, 2, 1, 2, 1, 1]
    assert components(3, np.empty((0, 2), dtype=np.int64)).tolist() == [0, 1, 2]
    chain = np.stack([np.arange(999, 0, -1), np.arange(998, -1, -1)], axis=1)
    assert (components(1000, chain) == 0).all()
    keep = keepers(labels, [np.array([0, 3, 1, 2, 0, 1, 9])])
    assert keep.tolist() == [True, False, False, False, True, True, False]
    assert keepers(labels).tolist() == [True, True, True, False, False, False, False]


def test_planted_corpus_is_deterministic_and_hits_its_targets():
    pytest.importorskip("resiliparse")
    from curate.dedup.planted import make_corpus

    a, b = make_corpus(80, DATA, seed=3), make_corpus(80, DATA, seed=3)
    assert a.texts == b.texts and a.ids == b.ids and len(set(a.ids)) == len(a.ids)
    assert make_corpus(80, DATA, seed=4).texts != a.texts
    errors = [
        jaccard(shingles(a.texts[i]), shingles(a.texts[f])) - t
        for i, (f, t) in enumerate(zip(a.family, a.target, strict=True))
        if f != i
    ]
    assert len(errors) >= 60
    # copies land near the Jaccard their edit rate aimed at (boilerplate swaps pull some below)
    assert abs(float(np.median(errors))) < 0.05, np.median(errors)


def test_permuted_value_just_above_the_prime_is_reduced():
    """A shingle hash whose ``(a*x+b) mod 2^64`` reduces to p + 5 must count as 5 (the rare exact branch)."""
    from curate.dedup._kernels import _min_into
    from curate.dedup.minhash import _permutations

    a, b = _permutations(112, 1)
    p = (1 << 61) - 1
    k = next(i for i in range(112) if int(a[i]) % 2)  # an invertible multiplier mod 2^64
    x = ((p | (5 << 61)) - int(b[k])) * pow(int(a[k]), -1, 1 << 64) % (1 << 64)
    got = np.full((2, 112), SENTINEL, dtype=np.uint64)
    for row, seg in zip(got, ([x, 12345], [999]), strict=True):
        _min_into(row, np.array(seg, dtype=np.uint64), len(seg), a, b)
    ref = [[min((int(ai) * v + int(bi)) % (1 << 64) % p for v in seg) for ai, bi in zip(a, b, strict=True)]
           for seg in ([x, 12345], [999])]
    assert got.tolist() == ref and got[0, k] == 5
