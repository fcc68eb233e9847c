"""FineWeb's URL filter (Penedo et al. 2024, section 3.2), after RefinedWeb's (Penedo et al. 2023, G.1).

FineWeb runs datatrove's ``URLFilter`` with its defaults and integrated lists: the UT1 block lists
(Université Toulouse 1 Capitole; ~4.56M blocked hosts/domains and ~19.6k blocked URLs, mostly adult
content, shipped merged as ``datatrove/assets/url_filterblacklistsv0_3_0.tar.gz``) and three word lists
(``banned_words.txt``, ``banned_subwords.txt``, ``soft_banned_words.txt``). A document is removed when,
in this order (datatrove's order),

1. its host or one of its parent domains is a blocked domain        -> ``url:blocked_domain``
2. its host + path, or a prefix of it ending at a ``/``, is blocked  -> ``url:blocked_url``
3. one of its URL words is a banned word                           -> ``url:banned_word``
4. at least ``soft_banned_word_threshold`` (datatrove: 2) distinct
   soft-banned words are among its URL words                       -> ``url:soft_banned_words``
5. a banned subword occurs in the URL with everything but [a-z0-9]
   removed (``"2 girls 1 cup"`` matches ``.../2-Girls_1cup``)        -> ``url:banned_subword``

plus our own ``url:missing`` (null or empty URL; kept instead with ``keep_missing=True``) and
``url:malformed`` (unparseable, no host, or a host that is not a valid name or IP address). URL words are
the lowercased URL split on runs of characters outside [a-z0-9]; list entries are normalised the same way.

Differences from datatrove 0.10.1, each a deliberate superset (everything datatrove removes, we remove):

- Hosts are normalised before the domain check: lowercase, port and user info removed, trailing dot
  removed, IDN converted to punycode, one leading ``www.`` removed (on the list entries too). datatrove
  checks tldextract's registered domain and the full host as written; we check the host and every parent
  domain (squidGuard's domain-list semantics, for which UT1 is written), which covers both and also a
  listed intermediate domain (``b.example.com`` blocks ``a.b.example.com``) and the four adult TLD
  entries (``xxx``, ``porn``, ``sex``, ``adult``). Parent checking needs no public-suffix list: the UT1
  list holds no public suffix except a few adult ones (``sex.pl``, ``sex.hu``) whose subdomains datatrove's
  banned word ``sex`` removes anyway, and private suffixes (``sa.com``, ``dynu.net``) that datatrove's
  tldextract (private suffixes off) treats as registered domains, i.e. blocks with all subdomains too.
- datatrove compares the whole URL (with ``http://``) to the scheme-less UT1 URL entries, so its URL
  check never fires on real URLs; we compare the normalised host + path and its ``/`` prefixes
  (squidGuard's URL-list semantics).
- datatrove splits URL words without lowercasing (``/Sex-Videos`` escapes the banned-word check there);
  we lowercase first.
- datatrove raises on a missing URL; we give a reason.

Memory: the 4.56M domains are stored as a sorted ``array('Q')`` of 64-bit BLAKE2b hashes (36 MB, binary
search), not a ``set`` of ``str`` (~440 MB per worker). A hash collision could remove a clean URL with
probability about 4.6e6 / 2**64 = 2.5e-13 per lookup (a few lookups per URL), the same in every run and
on every engine since the hash is keyed by nothing but the domain.
"""

from __future__ import annotations

import dataclasses
import re
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from curate.core.errors import ConfigError
from curate.core.stage import Filter, set_column
from curate.resources import iter_lines, open_binary, open_text, package_file, require_file

BLOCKLIST_TARBALL = ("assets", "url_filterblacklistsv0_3_0.tar.gz")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# user info, then a bracketed IPv6 literal or a name, then an optional port: anything else is malformed
# (this also rejects ``HTTP://[::1]&``, which urlsplit accepts on some Python builds and rejects on others)
_NETLOC = re.compile(r"(?:.*@)?(\[[0-9a-f:.]+\]|[^\[\]@:]*)(?::[0-9]*)?", re.DOTALL)
_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+){3}")


_C1 = np.uint64(0xFF51AFD7ED558CCD)
_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_SEED = np.uint64(0x9E3779B97F4A7C15)
_CHUNK = 8 << 20  # bytes of a list file hashed at a time: bounds the loader's transient memory
_CLEAN = re.compile(rb"[a-z0-9_.\n-]*")  # a chunk of lines already in normal form (the UT1 list is)


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place on a uint64 array (wrapping arithmetic)."""
    h ^= h >> np.uint64(33)
    h *= _C1
    h ^= h >> np.uint64(33)
    h *= _C2
    h ^= h >> np.uint64(33)
    return h


def hash_lines(blob: bytes) -> np.ndarray:
    """64-bit hashes of the non-empty ``\n``-separated lines of ``blob``, vectorised with numpy.

    Each line is consumed 8 bytes at a time (little-endian words read at any byte offset through a
    stride-1 view) and folded with MurmurHash3's finaliser, seeded with the line length. Domains are
    hashed this way when the block list is loaded and when URLs are checked, so a lookup is a
    ``searchsorted`` over a uint64 array; the hash depends on nothing but the bytes (same in every
    process, run and engine).
    """
    buf = np.frombuffer(blob + b"\n" + b"\0" * 8, dtype=np.uint8)
    ends = np.flatnonzero(buf[: len(blob) + 1] == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    keep = ends > starts
    starts, remaining = starts[keep], (ends - starts)[keep]
    words = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    h = remaining.astype(np.uint64) * _SEED
    rows = np.arange(len(starts))
    offset = starts
    while rows.size:
        w = words[offset[rows]]
        left = remaining[rows]
        short = left < 8
        if short.any():  # the line's last word: keep only its own bytes
            shift = (8 * left[short]).astype(np.uint64)
            w[short] &= (np.uint64(1) << shift) - np.uint64(1)
        h[rows] = _fmix(h[rows] ^ w)
        offset[rows] += 8
        remaining[rows] -= 8
        rows = rows[remaining[rows] > 0]
    return h


def normalize_words(words: Iterable[str]) -> frozenset[str]:
    """List entries as datatrove normalises them: lowercase, only [a-z0-9] kept; ``#`` lines skipped."""
    out = (_NON_ALNUM.sub("", w.lower()) for w in words if not w.startswith("#"))
    return frozenset(w for w in out if w)


def normalize_host(host: str) -> str | None:
    """Lowercase, trailing dot and one leading ``www.`` removed, IDN as punycode; None if not a valid host."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1] or None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if not _HOSTNAME.fullmatch(host):
        return None
    if host.startswith("www.") and len(host) > 4:
        host = host[4:]
    return host


def split_url(url: str) -> tuple[str, str] | None:
    """``(normalised host, path)`` of ``url``, or None when it is malformed; never raises."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    m = _NETLOC.fullmatch(parts.netloc.lower())
    if not m or not m.group(1):
        return None
    host = normalize_host(m.group(1))
    return (host, parts.path) if host else None


def url_entry(entry: str) -> str | None:
    """A UT1 URL-list entry (``host/path``, no scheme) as the key :func:`url_keys` produces."""
    entry = entry.strip()
    if "://" in entry:
        entry = entry.split("://", 1)[1]
    host, _, path = entry.partition("/")
    host_n = normalize_host(host)
    if not host_n:
        return None
    path = path.rstrip("/")
    return host_n + "/" + path if path else host_n


def url_keys(host: str, path: str) -> list[str]:
    """The host, and host + every prefix of the path that ends at a ``/`` or at its end."""
    path = path.rstrip("/")
    keys = [host]
    start = 1
    while True:
        cut = path.find("/", start)
        if cut < 0:
            break
        keys.append(host + path[:cut])
        start = cut + 1
    if path and path != "/":
        keys.append(host + path)
    return keys


def parent_domains(host: str) -> Iterator[str]:
    """``a.b.c`` -> ``a.b.c``, ``b.c``, ``c``."""
    yield host
    if ":" in host or _IPV4.fullmatch(host):  # an IP address has no parent domains
        return
    cut = host.find(".")
    while cut >= 0:
        yield host[cut + 1 :]
        cut = host.find(".", cut + 1)


def substring_regex(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of ``words`` as a substring, built as a trie so that each text position
    costs one pass through a branch per character instead of one attempt per word."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True
    if not trie:
        return None

    def emit(node: dict[str, Any]) -> str:
        if "" in node:  # a whole word ends here: any continuation is redundant for "does one match"
            return ""
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return re.compile(emit(trie))


class DomainSet:
    """A set of domain names as a sorted uint64 array of their hashes: 8 bytes a domain."""

    def __init__(self, hashes: np.ndarray):
        # in-place sort + adjacent difference rather than np.unique, which took 3 s and 150 MB more here
        # (numpy 2.4); the array passed in is taken over
        hashes = hashes.astype(np.uint64, copy=False)
        hashes.sort()
        if len(hashes) > 1:
            hashes = hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))]
        self.hashes = hashes

    @classmethod
    def from_chunks(cls, chunks: Iterable[bytes]) -> DomainSet:
        """From ``\n``-separated host names in normal form (see :func:`normalize_host`)."""
        parts = [hash_lines(c) for c in chunks]
        return cls(np.concatenate(parts) if parts else np.empty(0, np.uint64))

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes

    def contains(self, domains: list[str]) -> np.ndarray:
        """A bool per domain (``domains`` in normal form, no newline in any)."""
        if not domains or not len(self.hashes):
            return np.zeros(len(domains), dtype=bool)
        h = hash_lines("\n".join(domains).encode())
        i = np.searchsorted(self.hashes, h)
        i[i == len(self.hashes)] = 0
        return self.hashes[i] == h

    def __contains__(self, domain: str) -> bool:
        return bool(self.contains([domain])[0])


def _domain_chunks(path: str, member: str | None, extra: list[str]) -> Iterator[bytes]:
    """The blocked-domain file as ``\n``-separated chunks of normalised hosts, streamed.

    A chunk already in normal form (lowercase [a-z0-9_.-], no ``www.``, no comment, no trailing dot: the
    whole UT1 list) is passed through as bytes; any other chunk is normalised line by line.
    """
    if member is None:
        stream, tar = open_binary(path), None
    else:
        tar = tarfile.open(path, "r:*")
        stream = tar.extractfile(member)
        if stream is None:
            raise ConfigError(f"{path!r} has no file {member!r}: expected a UT1 block-list tarball")
    try:
        tail = b""
        while True:
            block = stream.read(_CHUNK)
            if not block:
                break
            block = tail + block
            cut = block.rfind(b"\n") + 1
            tail, block = block[cut:], block[:cut]
            if block:
                yield _normal_chunk(block)
        if tail:
            yield _normal_chunk(tail + b"\n")
    finally:
        stream.close()
        if tar is not None:
            tar.close()
    if extra:
        yield "\n".join(h for h in map(normalize_host, extra) if h).encode()


def _normal_chunk(block: bytes) -> bytes:
    clean = (
        _CLEAN.fullmatch(block)
        and not block.startswith(b"www.")
        and b"\nwww." not in block
        and b".\n" not in block
    )
    if clean:
        return block
    lines = block.decode("utf-8", "replace").splitlines()
    return "\n".join(h for line in lines if not line.startswith("#") and (h := normalize_host(line))).encode()


def _list_lines(path: str, member: str | None = None) -> Iterator[str]:
    """Lines of a list file (plain, .gz, .xz), or of ``member`` inside a tarball, streamed."""
    if member is None:
        with open_text(path) as f:
            yield from iter_lines(f)
        return
    with tarfile.open(path, "r:*") as tar:
        f = tar.extractfile(member)
        if f is None:
            raise ConfigError(f"{path!r} has no file {member!r}: expected a UT1 block-list tarball")
        yield from iter_lines(f)


@dataclasses.dataclass(frozen=True)
class URLFilter(Filter):
    """Drop documents by their URL: UT1 blocked domains and URLs, banned words and subwords (FineWeb).

    Reasons: ``url:missing``, ``url:malformed``, ``url:blocked_domain``, ``url:blocked_url``,
    ``url:banned_word``, ``url:soft_banned_words``, ``url:banned_subword`` (see the module docstring).

    Args:
        domains_path: blocked domains, one a line (plain, .gz or .xz); empty: the ``domains`` file of
            datatrove's UT1 tarball.
        urls_path: blocked URLs (``host/path``), one a line; empty: the tarball's ``urls`` file.
        banned_words_path, banned_subwords_path, soft_banned_words_path: word lists, one a line; empty:
            the lists in datatrove's assets.
        soft_banned_word_threshold: remove a URL with at least this many distinct soft-banned words
            (datatrove's default, 2).
        extra_domains, extra_urls: blocked in addition to the lists.
        keep_missing: keep documents whose URL is null or empty instead of removing them as ``url:missing``
            (for inputs that carry no URLs).
    """

    domains_path: str = ""
    urls_path: str = ""
    banned_words_path: str = ""
    banned_subwords_path: str = ""
    soft_banned_words_path: str = ""
    soft_banned_word_threshold: int = 2
    extra_domains: list[str] = dataclasses.field(default_factory=list)
    extra_urls: list[str] = dataclasses.field(default_factory=list)
    keep_missing: bool = False
    name: ClassVar[str] = "url"
    column: ClassVar[str] = "url"

    def __post_init__(self):
        if self.soft_banned_word_threshold < 1:
            raise ValueError(f"url.soft_banned_word_threshold must be >= 1, got {self.soft_banned_word_threshold}")
        for name in ("extra_domains", "extra_urls"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(x, str) for x in value):
                raise ValueError(f"url.{name} must be a list of strings, got {value!r}")


    def sources(self) -> dict[str, tuple[str, str | None]]:
        """Where each list is read from: ``(path, tar member or None)``; ConfigError if missing."""
        out: dict[str, tuple[str, str | None]] = {}
        for key in ("domains", "urls"):
            path = getattr(self, f"{key}_path")
            if path:
                out[key] = (require_file(path, f"blocked {key} list", f"url.{key}_path"), None)
            else:
                tarball = package_file("datatrove", *BLOCKLIST_TARBALL, param=f"url.{key}_path")
                out[key] = (tarball, key)
        for key in ("banned_words", "banned_subwords", "soft_banned_words"):
            path = getattr(self, f"{key}_path")
            if path:
                out[key] = (require_file(path, f"{key} list", f"url.{key}_path"), None)
            else:
                out[key] = (package_file("datatrove", "assets", f"{key}.txt", param=f"url.{key}_path"), None)
        return out

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        schema = super().output_schema(schema)
        self.sources()  # missing lists are config errors, found before any work starts
        return schema

    def setup(self) -> None:
        if self.__dict__.get("_domains") is not None:
            return
        src = self.sources()
        domains = DomainSet.from_chunks(_domain_chunks(*src["domains"], self.extra_domains))
        urls = frozenset(
            k for k in (url_entry(e) for e in [*_list_lines(*src["urls"]), *self.extra_urls]) if k
        )
        state = {
            "_domains": domains,
            "_urls": urls,
            "_banned": normalize_words(_list_lines(*src["banned_words"])),
            "_soft": normalize_words(_list_lines(*src["soft_banned_words"])),
            "_subwords": substring_regex(normalize_words(_list_lines(*src["banned_subwords"]))),
        }
        for k, v in state.items():
            object.__setattr__(self, k, v)

    def rule(self, value: str) -> str | None:
        return self.check([value])[0]

    def check(self, urls: list[str | None]) -> list[str | None]:
        """The rule each URL fails (``"blocked_domain"``, ...), or None to keep it."""
        self.setup()
        out: list[str | None] = [None] * len(urls)
        parsed: list[tuple[int, str, str]] = []
        for i, url in enumerate(urls):
            if not url or not url.strip():
                out[i] = None if self.keep_missing else "missing"
                continue
            hp = split_url(url)
            if hp is None:
                out[i] = "malformed"
            else:
                parsed.append((i, *hp))
        # every candidate domain of the batch is hashed and looked up in one vectorised pass
        owner, candidates = [], []
        for j, (_, host, _) in enumerate(parsed):
            for d in parent_domains(host):
                owner.append(j)
                candidates.append(d)
        blocked = set(np.asarray(owner)[self._domains.contains(candidates)].tolist()) if candidates else set()
        for j, (i, host, path) in enumerate(parsed):
            out[i] = "blocked_domain" if j in blocked else self._check_rest(urls[i], host, path)  # type: ignore[arg-type]
        return out

    def _check_rest(self, url: str, host: str, path: str) -> str | None:
        if self._urls and not self._urls.isdisjoint(url_keys(host, path)):
            return "blocked_url"
        lowered = url.lower()
        words = set(_NON_ALNUM.split(lowered))
        if not self._banned.isdisjoint(words):
            return "banned_word"
        if len(self._soft.intersection(words)) >= self.soft_banned_word_threshold:
            return "soft_banned_words"
        if self._subwords is not None and self._subwords.search(_NON_ALNUM.sub("", lowered)):
            return "banned_subword"
        return None

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        reasons = batch.column("drop_reason").to_pylist()
        urls = batch.column(self.column).to_pylist()
        rows = [i for i, r in enumerate(reasons) if r is None]
        prefix = self.name + ":"
        for i, failed in zip(rows, self.check([urls[i] for i in rows]), strict=True):
            if failed:
                reasons[i] = prefix + failed
        return set_column(batch, "drop_reason", pa.array(reasons, pa.string()))
