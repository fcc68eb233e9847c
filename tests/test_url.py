import gzip
import importlib.machinery
import json
import lzma
import os
import pickle
import re
import sys
import types
from urllib.parse import urlsplit

import pyarrow as pa
import pytest

from curate.core.errors import ConfigError
from curate.filters.url import URLFilter, hash_lines, normalize_host, split_url, substring_regex, url_keys
from curate.resources import package_file
from tests.conftest import DATA
from tests.test_core import docs

BLOCKLIST = os.path.join(DATA, "fineweb-url-blocklist")


def url_docs(urls, reasons=None):
    batch = docs(["text"] * len(urls), reasons)
    return batch.set_column(batch.schema.get_field_index("url"), "url", pa.array(urls, pa.string()))


def reasons_of(stage, urls):
    return stage.process(url_docs(urls)).column("drop_reason").to_pylist()


@pytest.fixture(scope="module")
def full():
    """The FineWeb defaults: the whole UT1 list from the datatrove wheel (set up once, ~3 s)."""
    stage = URLFilter()
    stage.setup()
    return stage


def real_urls():
    """114 distinct real URLs: WARC-Target-URI of the WARC samples, and the CCNet/Dolma sample ids."""
    from warcio.archiveiterator import ArchiveIterator

    urls = []
    for name in sorted(os.listdir(os.path.join(DATA, "warc-samples"))):
        if not name.endswith(".warc.gz") or "wat" in name or "wet" in name:
            continue
        with open(os.path.join(DATA, "warc-samples", name), "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type in ("response", "resource"):
                    u = rec.rec_headers.get_header("WARC-Target-URI")
                    if u:
                        urls.append(u)
    for name in sorted(os.listdir(os.path.join(DATA, "ccnet-dolma-samples"))):
        if name.endswith(".gz"):
            with gzip.open(os.path.join(DATA, "ccnet-dolma-samples", name), "rt") as f:
                urls += [json.loads(line)["id"] for line in f]
    return list(dict.fromkeys(u for u in urls if u.startswith("http")))


# --- literal URLs, one per reason, with real entries of the lists -------------------------------------


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://101boys.com/", "blocked_domain"),  # a UT1 domain entry
        ("HTTPS://WWW.101Boys.COM:8443/some/page?x=1#y", "blocked_domain"),  # case, www, port
        ("http://user:pw@101boys.com./", "blocked_domain"),  # user info, trailing dot
        ("http://cdn.static.101boys.com/a.jpg", "blocked_domain"),  # a parent domain is listed
        ("http://5guyschilling.blogspot.nl/2019/", "blocked_domain"),  # a listed blogspot subdomain
        ("http://www.5guyschilling.blogspot.nl/", "blocked_domain"),  # ... with www (datatrove misses it)
        ("http://112.248.103.137/index.php", "blocked_domain"),  # a listed IP address
        ("https://archiveofourown.org/works/36105214", "blocked_url"),  # a UT1 URL entry
        ("https://www.archiveofourown.org/works/36105214/chapters/9?view=1", "blocked_url"),  # a prefix
        ("http://example.com/videos/bukkake-night", "banned_word"),
        ("http://example.com/BUKKAKE", "banned_word"),  # lowercased first
        ("http://example.com/lingerie-webcam", "soft_banned_words"),  # 2 soft words (threshold 2)
        ("http://example.com/mychaturbatefans", "banned_subword"),  # a subword inside a token
        ("http://example.com/two_girls-ONE.cup", "banned_subword"),  # "two girls one cup", spaced
        ("HTTP://[::1]&", "malformed"),  # urlsplit raises on some Python builds, not on this one
        ("http://[bad/", "malformed"),  # urlsplit raises ValueError
        ("http:///path-only", "malformed"),  # no host
        ("example.com/no-scheme", "malformed"),  # no scheme, hence no host
        ("http://exa mple.com/", "malformed"),  # not a host name
        ("http://a..b.com/", "malformed"),
        ("", "missing"),
        (None, "missing"),
        ("   ", "missing"),
    ],
)
def test_reasons_on_literals(full, url, reason):
    assert reasons_of(full, [url]) == [f"url:{reason}"]


@pytest.mark.parametrize(
    "url",
    [
        "https://en.wikipedia.org/wiki/Common_Crawl",
        "https://archiveofourown.org/works/1",  # the host itself is not listed, only some URLs
        "https://archiveofourown.org/works/361052140",  # a prefix must end at a "/"
        "http://example.com/lingerie",  # one soft word is not enough
        "http://[::1]:8080/x",  # an IPv6 literal
        "http://münchen.de/straße",  # IDN: checked as xn--mnchen-3ya.de
        "http://localhost/",
    ],
)
def test_clean_urls_kept(full, url):
    assert reasons_of(full, [url]) == [None]


def test_real_urls_kept(full):
    urls = real_urls()
    assert len(urls) > 100
    assert reasons_of(full, urls) == [None] * len(urls)


def test_every_sampled_list_entry_is_blocked(full):
    with lzma.open(os.path.join(BLOCKLIST, "domains.xz"), "rt") as f:
        domains = [line.strip() for i, line in enumerate(f) if i % 5000 == 0]
    with lzma.open(os.path.join(BLOCKLIST, "urls.xz"), "rt") as f:
        urls = [line.strip() for i, line in enumerate(f) if i % 50 == 0]
    got = reasons_of(full, [f"http://www.{d}/" for d in domains])
    assert got == ["url:blocked_domain"] * len(domains)
    got = reasons_of(full, [f"https://{u}" for u in urls])
    assert all(r is not None for r in got)  # blocked_url, or earlier by its domain or a word
    assert got.count("url:blocked_url") > len(urls) // 2


def test_dropped_rows_pass_through_and_batch_equals_single(full):
    urls = ["http://101boys.com/", "http://example.com/", None, "http://example.com/porn"]
    out = full.process(url_docs(urls, ["length:too_short", None, None, None]))
    assert out.column("drop_reason").to_pylist() == ["length:too_short", None, "url:missing", "url:banned_word"]
    assert [full.rule(u or "") for u in urls] == ["blocked_domain", None, "missing", "banned_word"]


# --- normalisation helpers -----------------------------------------------------------------------------


def test_host_normalisation():
    assert normalize_host("WWW.Example.COM.") == "example.com"
    assert normalize_host(".") is None
    assert normalize_host("münchen.DE") == "xn--mnchen-3ya.de"
    assert normalize_host("exa mple.com") is None
    assert normalize_host("[::1]") == "::1"
    assert split_url("https://u@WWW.x.org:99/a/b?q") == ("x.org", "/a/b")
    assert split_url("HTTP://[::1]&") is None
    assert url_keys("x.org", "/a/b/") == ["x.org", "x.org/a", "x.org/a/b"]


def test_substring_regex_matches_like_any_in():
    words = ["abc", "ab", "bcd", "zz"]
    rx = substring_regex(words)
    for text in ["xxabyy", "abxbcd", "zaz", "zz", "", "bcx"]:
        assert bool(rx.search(text)) == any(w in text for w in words)
    assert substring_regex([]) is None


def test_hash_lines_distinguishes_lengths_and_tails():
    h = hash_lines(b"a\nab\nabcdefgh\nabcdefghi\n\nabcdefgh\n")
    assert len(h) == 5 and len(set(h.tolist())) == 4 and h[2] == h[4]
    assert hash_lines(b"example.com")[0] == hash_lines(b"x\nexample.com\n")[1]


# --- parameters ---------------------------------------------------------------------------------------


def test_own_lists_extra_domains_and_threshold(tmp_path):
    dom = tmp_path / "domains.xz"
    with lzma.open(dom, "wt") as f:
        f.write("# comment\nBad.Example\nwww.other.test\n\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    soft = tmp_path / "soft.txt"
    soft.write_text("alpha\nbeta\ngamma\n")
    stage = URLFilter(
        domains_path=str(dom), urls_path=str(empty), banned_words_path=str(empty),
        banned_subwords_path=str(empty), soft_banned_words_path=str(soft), soft_banned_word_threshold=3,
        extra_domains=["Extra.ORG"], extra_urls=["www.site.test/private/"], keep_missing=True,
    )
    urls = [
        "http://bad.example/", "http://other.test/", "http://x.extra.org/", "http://site.test/private/a",
        "http://site.test/public", "http://e.com/alpha-beta", "http://e.com/alpha-beta-gamma", None,
        "http://101boys.com/", "http://e.com/porn",
    ]
    assert reasons_of(stage, urls) == [
        "url:blocked_domain", "url:blocked_domain", "url:blocked_domain", "url:blocked_url",
        None, None, "url:soft_banned_words", None, None, None,
    ]


def test_params_validated_and_missing_files_are_config_errors(tmp_path):
    with pytest.raises(ValueError, match="soft_banned_word_threshold"):
        URLFilter(soft_banned_word_threshold=0)
    with pytest.raises(ValueError, match="extra_domains"):
        URLFilter(extra_domains="bad.com")
    stage = URLFilter(domains_path=str(tmp_path / "nope.txt"))
    with pytest.raises(ConfigError, match=r"url\.domains_path"):
        stage.output_schema(url_docs(["http://a.b/"]).schema)


def test_stage_pickles_small_after_setup(full):
    assert len(pickle.dumps(full)) < 2000
    assert pickle.loads(pickle.dumps(full)) == URLFilter()


# --- agreement with datatrove's URLFilter ---------------------------------------------------------------


def _datatrove_url_filter(**kwargs):
    """datatrove's URLFilter, offline: pyahocorasick and tldextract are not installed here, so they are
    replaced by stand-ins. The Aho-Corasick one is exact (any listed word is a substring); the tldextract
    one approximates the public-suffix list: the registered domain is the last two labels, or three under
    a two-letter country code with a generic second level (``blogspot.com.tr``, ``x.co.uk``); an IP has
    none, as in tldextract."""

    def module(name):
        mod = types.ModuleType(name)
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
        return mod

    class Automaton:
        def __init__(self, *args):
            self.words = []

        def add_word(self, word, value):
            self.words.append(word)

        def make_automaton(self):
            pass

        def __len__(self):
            return len(self.words)

        def iter(self, text):
            return iter([w for w in self.words if w and w in text])

    class Extracted:
        def __init__(self, url):
            host = (urlsplit(url).hostname or "").rstrip(".")
            labels = host.split(".")
            if re.fullmatch(r"[0-9.]+", host) or len(labels) < 2:
                self.registered_domain = self.fqdn = ""
                return
            n = 3 if len(labels[-1]) == 2 and labels[-2] in {"co", "com", "org", "net", "ac", "gov", "edu"} else 2
            self.registered_domain = ".".join(labels[-n:]) if len(labels) >= n else ""
            self.fqdn = host if self.registered_domain else ""

    aho, tld = module("ahocorasick"), module("tldextract")
    aho.Automaton, aho.STORE_INTS = Automaton, 0
    tld.TLDExtract = lambda: Extracted
    saved = {k: sys.modules.get(k) for k in ("ahocorasick", "tldextract")}
    sys.modules.update(ahocorasick=aho, tldextract=tld)
    try:
        from datatrove.pipeline.filters.url_filter import URLFilter as DatatroveURLFilter

        DatatroveURLFilter._requires_dependencies = []
        return DatatroveURLFilter(use_integrated_lists=False, **kwargs)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


DATATROVE_REASON = {
    "domain": "blocked_domain", "subdomain": "blocked_domain", "url": "blocked_url",
    "hard_blacklisted": "banned_word", "soft_blacklisted": "soft_banned_words",
    "blacklisted_subword": "banned_subword",
}


def test_agrees_with_datatrove(tmp_path):
    """Same lists in both (a 1-in-500 sample of the UT1 domains, all UT1 URLs, datatrove's word lists),
    on ~670 URLs: real ones, listed domains with and without www, listed URLs, and word-list URLs.
    Everything datatrove removes we remove with the same reason, except where an earlier check of ours
    already fired; what only we remove is one of the documented supersets."""
    pytest.importorskip("datatrove")
    from datatrove.data import Document

    with lzma.open(os.path.join(BLOCKLIST, "domains.xz"), "rt") as f:
        domains = [line.strip() for i, line in enumerate(f) if i % 500 == 0]
    with lzma.open(os.path.join(BLOCKLIST, "urls.xz"), "rt") as f:
        ut1_urls = [line.strip() for line in f]
    (tmp_path / "domains").write_text("\n".join(domains))
    (tmp_path / "urls").write_text("\n".join(ut1_urls))

    def words(name):
        with open(package_file("datatrove", "assets", name)) as f:
            return [w.strip() for w in f if w.strip() and not w.startswith("#")]

    banned, subwords, soft = words("banned_words.txt"), words("banned_subwords.txt"), words("soft_banned_words.txt")
    theirs = _datatrove_url_filter(
        extra_domains=domains, extra_urls=ut1_urls, banned_words=banned, banned_subwords=subwords,
        soft_banned_words=soft,
    )
    ours = URLFilter(domains_path=str(tmp_path / "domains"), urls_path=str(tmp_path / "urls"))

    urls = real_urls()
    urls += [f"http://{d}/" for d in domains[::40]] + [f"https://www.{d}/page" for d in domains[1::80]]
    urls += [f"https://{u}" for u in ut1_urls[::200]]
    urls += [f"http://example.com/{w}/x" for w in banned[::3]]
    urls += [f"http://example.com/{a}-{b}" for a, b in zip(soft[::4], soft[1::4], strict=False)]
    urls += [f"http://example.com/{w.replace(' ', '-')}" for w in subwords[::2]]
    urls += ["http://example.com/Some-Page", "http://example.com/lingerie"]
    assert len(urls) > 400

    got = reasons_of(ours, urls)
    order = list(dict.fromkeys(DATATROVE_REASON.values()))
    same = only_ours = 0
    for url, mine in zip(urls, got, strict=True):
        res = theirs.filter(Document(text="", id="x", metadata={"url": url}))
        expected = None if res is True else DATATROVE_REASON[res[1]]
        mine = mine and mine.removeprefix("url:")
        if expected is not None:
            assert mine is not None, url
            assert order.index(mine) <= order.index(expected), (url, mine, expected)
        elif mine is not None:
            only_ours += 1
            host = urlsplit(url).hostname
            if mine == "blocked_domain":  # a listed subdomain behind www., or a listed IP (no fqdn there)
                assert host.startswith("www.") or re.fullmatch(r"[0-9.]+", host), url
            else:  # datatrove compares the UT1 URL entries to the URL with its scheme: never equal
                assert mine == "blocked_url", url
        same += mine == expected
    assert same > 450 and only_ours < 200  # 517 and 151 (114 www-prefixed subdomain entries) when written
