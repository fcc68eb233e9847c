"""Compiled (numba) MinHash kernels: shingle spans, XXH64, permutations and minima in one pass.

Imported lazily by :mod:`curate.dedup.minhash` (numba and its compiled code cost ~150 MiB of RSS, which
processes that never make signatures, such as a resolve-phase driver, should not pay). The machine code
is cached where numba can write (this package's ``__pycache__``, else the user's cache directory, or
``NUMBA_CACHE_DIR``): the first call compiles for ~5 s, later processes load it. Where nothing is
writable (a read-only install without a home directory), every process compiles once instead.
"""

import numba
import numpy as np

from curate.dedup.minhash import MERSENNE_PRIME


def _jit(fn):
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:  # numba found no writable cache location
        return numba.njit(nogil=True)(fn)


_SHIFT61 = np.uint64(61)

_P1, _P2, _P3, _P4, _P5 = (
    np.uint64(x) for x in (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                           0x27D4EB2F165667C5)
)
_BLOCK = 256  # shingle hashes per block: each permutation then runs over a block in registers


@numba.njit(inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@numba.njit(inline="always")
def _round(acc, lane):
    return _rotl(acc + lane * _P2, 31) * _P1


@numba.njit(inline="always")
def _read(d, i, n):
    """Little-endian unsigned integer from the ``n`` bytes at ``d[i]``."""
    v = np.uint64(0)
    for k in range(n):
        v |= np.uint64(d[i + k]) << np.uint64(8 * k)
    return v


@_jit
def _xxh64(d, p, n):
    """XXH64 (seed 0) of ``d[p:p+n]``, as specified in github.com/Cyan4973/xxHash doc/xxhash_spec.md."""
    end = p + n
    if n >= 32:
        v1, v2, v3, v4 = _P1 + _P2, _P2, np.uint64(0), np.uint64(0) - _P1
        while p + 32 <= end:
            v1 = _round(v1, _read(d, p, 8))
            v2 = _round(v2, _read(d, p + 8, 8))
            v3 = _round(v3, _read(d, p + 16, 8))
            v4 = _round(v4, _read(d, p + 24, 8))
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        for v in (v1, v2, v3, v4):
            h = (h ^ _round(np.uint64(0), v)) * _P1 + _P4
    else:
        h = _P5
    h += np.uint64(n)
    while p + 8 <= end:
        h = _rotl(h ^ _round(np.uint64(0), _read(d, p, 8)), 27) * _P1 + _P4
        p += 8
    if p + 4 <= end:
        h = _rotl(h ^ (_read(d, p, 4) * _P1), 23) * _P2 + _P3
        p += 4
    while p < end:
        h = _rotl(h ^ (np.uint64(d[p]) * _P5), 11) * _P1
        p += 1
    h ^= h >> np.uint64(33)
    h *= _P2
    h ^= h >> np.uint64(29)
    h *= _P3
    return h ^ (h >> np.uint64(32))


@_jit
def _xxh64_spans(d, start, length):
    """``xxh64(d[start[i]:start[i]+length[i]])`` for every span (tests compare it with xxhash)."""
    out = np.empty(len(start), dtype=np.uint64)
    for i in range(len(start)):
        out[i] = _xxh64(d, start[i], length[i])
    return out


@_jit
def _min_into(row, hashes, n, a, b):
    """``row[k] = min(row[k], min_i (a[k] * hashes[i] + b[k]) mod p)`` over ``hashes[:n]``.

    ``a * x + b`` wraps modulo 2^64 as in datatrove and datasketch; the Mersenne reduction needs no
    division: ``y mod p = (y & p) + (y >> 61)``, minus ``p`` once if needed.
    """
    for k in range(len(a)):
        ak, bk, m = a[k], b[k], row[k]
        for i in range(n):
            y = ak * hashes[i] + bk
            r = (y & MERSENNE_PRIME) + (y >> _SHIFT61)
            r = r - MERSENNE_PRIME if r >= MERSENNE_PRIME else r
            m = min(m, r)
        row[k] = m


@_jit
def _words_of(buf, pos, end, tmp, ws, we):
    """Copies the words of ``buf[pos:end]`` into ``tmp`` one space apart; their spans go to ``ws``/``we``."""
    nw, t, inword = 0, 0, False
    for i in range(pos, end):
        c = buf[i]
        if c == 32 or 9 <= c <= 13:  # ASCII whitespace, as bytes.split()
            if inword:
                we[nw] = t
                nw += 1
                inword = False
                tmp[t] = 32
                t += 1
        else:
            if not inword:
                ws[nw] = t
                inword = True
            tmp[t] = c
            t += 1
    if inword:
        we[nw] = t
        nw += 1
    return nw


@_jit
def _batch_kernel(buf, doc_end, ngram, a, b, sigs, hashes, counts):
    """Per document (``buf`` up to ``doc_end[i]``, then one separator byte): its shingles' XXH64 (the
    bytes of ``ngram`` words joined by one space; fewer words: one shingle of all of them).

    With ``a`` non-empty, their MinHash minima go to ``sigs[i]`` (prefilled with ``SENTINEL``); otherwise
    the hashes go to ``hashes`` and their number per document to ``counts``.
    """
    size = 1
    for i in range(len(doc_end)):
        size = max(size, doc_end[i] - (doc_end[i - 1] + 1 if i else 0) + 1)
    tmp = np.empty(size, dtype=np.uint8)
    ws = np.empty(size // 2 + 1, dtype=np.int64)  # a word takes at least one byte and one separator
    we = np.empty(size // 2 + 1, dtype=np.int64)
    block = np.empty(_BLOCK, dtype=np.uint64)
    pos, out = 0, 0
    for doc in range(len(doc_end)):
        nw = _words_of(buf, pos, doc_end[doc], tmp, ws, we)
        pos = doc_end[doc] + 1
        nsh = nw - ngram + 1 if nw >= ngram else min(nw, 1)
        for i0 in range(0, nsh, _BLOCK):
            n = min(_BLOCK, nsh - i0)
            for i in range(n):
                s = ws[i0 + i]
                block[i] = _xxh64(tmp, s, we[min(i0 + i + ngram - 1, nw - 1)] - s)
            if len(a):
                _min_into(sigs[doc], block, n, a, b)
            else:
                hashes[out : out + n] = block[:n]
                out += n
        if not len(a):
            counts[doc] = nsh
