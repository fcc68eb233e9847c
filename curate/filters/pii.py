"""PII redaction as FineWeb does it: email addresses and public IP addresses are replaced in ``text``.

FineWeb (Penedo et al. 2024, section 3.5 "PII anonymization") runs datatrove's ``PIIFormatter`` with its
defaults as the last step: every email address becomes one of

    email@example.com, firstname.lastname@example.org

and every *public* IPv4 address one of

    22.214.171.124, 126.96.36.199, 188.8.131.52, 184.108.40.206, 220.127.116.11, 18.104.22.168

(datatrove cycles through each list; emails are replaced before IPs). Those are this stage's defaults.
Documents are never dropped; the number of replacements is recorded per document in ``pii_emails``,
``pii_ips`` and ``pii_phones`` (int64, null on rows an earlier stage already dropped).

What is matched, and how it differs from datatrove 0.10.1:

* **Emails**: exactly datatrove's language, ``local@domain``: the local part a dot-atom of
  ``A-Za-z0-9!#$%&'*+/=?^_`{|}~-`` starting at a word boundary (``\\b``), the domain two or more
  alphanumeric/hyphen labels (no leading or trailing hyphen), or a bracketed IPv4 literal
  (``user@[192.0.2.1]``). ``mailto:user@host.org`` loses only the address. ``user@localhost`` (one
  label) is not an address. Trailing punctuation is never part of an address (``a@b.com.`` keeps its
  dot). datatrove's regex finds the same spans but is quadratic on long runs of local-part characters
  (``a.a.a.a...``, ``a-a-a-...``): every word boundary in the run restarts a scan to its end. Here one
  regex finds each ``...@`` run once, and the start of the address inside the run and the domain after
  the ``@`` are found by anchored, backtracking-bounded matches: linear in the text length.
* **IPv4**: a dotted quad of decimal octets 0-255 *without leading zeros* (datatrove's regex accepts
  ``08`` but Python's ``ipaddress`` then rejects it, so datatrove keeps those too), standing alone: not
  preceded by a word character or ``.`` and not followed by a word character or ``.digit``. datatrove
  has no such boundary, so it rewrites ``1.2.3.4.5`` to ``22.214.171.124.5``, ``256.1.1.1`` to
  ``222.214.171.124`` and ``8.8.8.800`` to ``22.214.171.1240``; version strings and longer numbers are
  left alone here.
* **Which IPs are public**: datatrove asks ``ipaddress.ip_address(ip).is_global``, whose answer changed
  between Python releases (3.11.10/3.12.4 rewrote the tables). Outputs must not depend on the Python
  build, so the tables are pinned here from the IANA special-purpose registries (entries not globally
  reachable): 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24 (but 192.0.0.9 and
  192.0.0.10 are public), 192.0.2/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 240/4,
  255.255.255.255, **plus multicast 224/4**, which ``is_global`` calls public (so datatrove replaces
  ``224.0.0.251``): a multicast group names no host, so it is kept here.
* **IPv6** (``ipv6=True``; off by default because datatrove's regex only matches IPv4, so FineWeb kept
  every IPv6 address): a run of hex digits, ``:`` and ``.`` with at least two colons and one decimal
  digit (so ``std::map`` or ``Cafe::Bad`` never qualify), parsed by ``ipaddress.IPv6Address``, at most
  45 characters, not glued to a following word character. Non-public: ::, ::1, 64:ff9b:1::/48,
  100::/64, 2001::/23 (but its globally reachable subnets are public), 2001:db8::/32, 2002::/16,
  3fff::/20, 5f00::/16, fc00::/7, fe80::/10, fec0::/10, ff00::/8; ``::ffff:a.b.c.d`` follows the IPv4
  rules. Replacements come from the documentation prefix 2001:db8::/32.
* **Phones** (``phones=True``, off by default; FineWeb does not redact them), replaced by one fixed
  placeholder ``(555) 555-0100``:
  North American ``(212) 555-1234``, ``(212)555-1234``, ``212-555-1234``, ``212.555.1234`` (same
  separator twice), optionally preceded by ``1-``/``+1 ``; area code and exchange start with 2-9.
  International ``+CC`` followed by digits and single ``space . -`` separators, 8 to 15 digits in all
  (``+44 20 7946 0958``, ``+33 1 23 45 67 89``, ``+4915112345678``). Numbers NANP reserves for fiction
  (exchange 555, line 0100-0199) are not PII and are kept, so the placeholder is never re-counted.
  Bare digit runs (``2125551234``) and spaces-only North American forms are not matched: in real text
  they are far more often quantities than phone numbers.

Replacement choice is deterministic and order-independent: datatrove's cycle position is process state
that depends on which documents a worker saw before, so here the cycle starts at an offset taken from a
hash of the document's ``doc_id`` and advances with each replacement inside the document. A match that
already equals one of the replacement strings is left alone and not counted, so running the stage twice
(or over FineWeb's own output) changes nothing.

All patterns are linear on adversarial input (1 MB of ``@``, ``.``, digits, ``a@a.`` or ``1.1.1.``):
the ones with unbounded repetition start only at the beginning of a run (a negative lookbehind for the
run's own characters) and contain no ambiguous nested quantifier, the rest are bounded. Timings are in
``bench/results/pii.md`` (``bench/pii_speed.py``).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import ipaddress
import re
from collections.abc import Callable
from typing import ClassVar

import pyarrow as pa

from curate.core.schema import require, with_field
from curate.core.stage import Stage, set_column

# FineWeb / datatrove PIIFormatter defaults. example.com/org are IANA-reserved example domains; the IPs
# are datatrove's own list ("randomly generated ... did not respond to ping requests").
EMAIL_REPLACEMENTS = ["email@example.com", "firstname.lastname@example.org"]
IP_REPLACEMENTS = [
    "22.214.171.124",
    "126.96.36.199",
    "188.8.131.52",
    "184.108.40.206",
    "220.127.116.11",
    "18.104.22.168",
]
IPV6_REPLACEMENTS = ["2001:db8::1", "2001:db8:85a3::8a2e:370:7334", "2001:db8:0:1::53"]
PHONE_REPLACEMENT = "(555) 555-0100"

# --- emails -------------------------------------------------------------------------------------------
_LOCAL = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"  # characters of one dot-atom of the local part
# A run of local-part characters and dots ending in "<local char>@". The lookbehind pins the start to
# the beginning of the run, so each run is scanned once: the greedy [..]* then backtracks over a run
# that contains no '@', which costs the run's length once, never per start position.
_EMAIL_RUN = re.compile(rf"(?<![{_LOCAL}.])[{_LOCAL}.]*[{_LOCAL}]@")
# The address starts at the first word boundary in the run that is not a dot (searched with pos/endpos
# so \b sees the real character before the run, as in datatrove's \b-anchored regex).
_LOCAL_START = re.compile(r"\b[^.]")
_OCTET_LAX = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"  # datatrove's octet, leading zeros allowed
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# Two or more labels, greedy; each "label." iteration must end at a dot, which no label contains, so
# there is one way to split a domain and backtracking is bounded by its length.
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}|\[(?:{_OCTET_LAX}\.){{3}}{_OCTET_LAX}\]")

# --- IPv4 ---------------------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?!\w|\.[0-9])")


def _v4(net: str) -> tuple[int, int]:
    n = ipaddress.IPv4Network(net)
    return int(n.network_address), int(n.broadcast_address)


# (first, last) of each non-public IPv4 block, sorted and disjoint; exceptions are public holes.
_V4_PRIVATE = sorted(
    _v4(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",  # 240/4 includes 255.255.255.255
    )
)
_V4_STARTS = [a for a, _ in _V4_PRIVATE]
_V4_PUBLIC_EXCEPTIONS = {int(ipaddress.IPv4Address(a)) for a in ("192.0.0.9", "192.0.0.10")}


def ipv4_is_public(value: int) -> bool:
    """Whether the IPv4 address (as an int) is globally reachable by the pinned IANA tables."""
    i = bisect.bisect_right(_V4_STARTS, value) - 1
    if i >= 0 and value <= _V4_PRIVATE[i][1]:
        return value in _V4_PUBLIC_EXCEPTIONS
    return True


# --- IPv6 ---------------------------------------------------------------------------------------------
# A run of hex digits, dots and at least two colons, from the start of the run (lookbehind); each of
# the three repeated classes is followed by a character it cannot contain or ends the match.
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")
_V6_MAX = 45  # longest textual IPv6 address: eight hextets or six plus a dotted quad
_V6_PRIVATE = [
    ipaddress.IPv6Network(n)
    for n in (
        "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
        "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]
_V6_PUBLIC_EXCEPTIONS = [
    ipaddress.IPv6Network(n)
    for n in ("2001:1::1/128", "2001:1::2/128", "2001:3::/32", "2001:4:112::/48", "2001:20::/28", "2001:30::/28")
]


def ipv6_is_public(addr: ipaddress.IPv6Address) -> bool:
    """Whether the IPv6 address is globally reachable by the pinned IANA tables."""
    mapped = addr.ipv4_mapped
    if mapped is not None:
        return ipv4_is_public(int(mapped))
    if any(addr in net for net in _V6_PUBLIC_EXCEPTIONS):
        return True
    return not any(addr in net for net in _V6_PRIVATE)


# --- phones -------------------------------------------------------------------------------------------
_PHONE = re.compile(
    r"(?<![\w+.\-])(?:\+?1[ .\-]?)?"
    r"(?:\([2-9][0-9]{2}\) ?([2-9][0-9]{2})[ .\-]|[2-9][0-9]{2}([.\-])([2-9][0-9]{2})\2)"
    r"([0-9]{4})(?!\w|[.\-][0-9])"
    r"|(?<![\w+])\+[1-9](?:[0-9]|[ .\-](?=[0-9])){6,20}(?![0-9]|[ .\-][0-9])"
)


def _start_offset(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class _Picker:
    """Cycles through ``options`` from a per-document offset: datatrove's cycle, made order-independent."""

    __slots__ = ("options", "start", "n")

    def __init__(self, options: list[str], start: int):
        self.options, self.start, self.n = options, start, 0

    def __call__(self) -> str:
        out = self.options[(self.start + self.n) % len(self.options)]
        self.n += 1
        return out


@dataclasses.dataclass(frozen=True)
class PII(Stage):
    """Replace email addresses and public IP addresses in ``text`` as FineWeb does; never drop a document.

    Adds ``pii_emails``, ``pii_ips`` (IPv4 and, with ``ipv6``, IPv6) and ``pii_phones`` (null unless
    ``phones``): int64 replacement counts per document, null on rows already dropped, whose text is left
    untouched. See the module docstring for what counts as an address and how it differs from datatrove.

    Args:
        emails: replace email addresses.
        ips: replace IPv4 (and IPv6 when ``ipv6``) addresses.
        public_ips_only: replace only globally reachable IPs (datatrove's ``only_remove_public_ips``).
        ipv6: also replace IPv6 addresses (FineWeb did not).
        phones: also replace phone numbers (FineWeb did not).
        email_replacements: cycled through for emails (FineWeb's two by default).
        ip_replacements: cycled through for IPv4 (FineWeb's six by default).
        ipv6_replacements: cycled through for IPv6 (documentation prefix 2001:db8::/32).
        phone_replacement: the one placeholder for phone numbers.
    """

    emails: bool = True
    ips: bool = True
    public_ips_only: bool = True
    ipv6: bool = False
    phones: bool = False
    email_replacements: list[str] = dataclasses.field(default_factory=lambda: list(EMAIL_REPLACEMENTS))
    ip_replacements: list[str] = dataclasses.field(default_factory=lambda: list(IP_REPLACEMENTS))
    ipv6_replacements: list[str] = dataclasses.field(default_factory=lambda: list(IPV6_REPLACEMENTS))
    phone_replacement: str = PHONE_REPLACEMENT
    name: ClassVar[str] = "pii"

    def __post_init__(self):
        for field in ("emails", "ips", "public_ips_only", "ipv6", "phones"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"pii.{field} must be true or false, got {getattr(self, field)!r}")
        for field in ("email_replacements", "ip_replacements", "ipv6_replacements"):
            value = getattr(self, field)
            if isinstance(value, str) or not value or not all(isinstance(x, str) and x for x in value):
                raise ValueError(f"pii.{field} must be a non-empty list of non-empty strings, got {value!r}")
        if not isinstance(self.phone_replacement, str) or not self.phone_replacement:
            raise ValueError(f"pii.phone_replacement must be a non-empty string, got {self.phone_replacement!r}")

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), doc_id=pa.string(), drop_reason=pa.string())
        for col in ("pii_emails", "pii_ips", "pii_phones"):
            schema = with_field(schema, pa.field(col, pa.int64()))
        return schema

    # -- rules over str ------------------------------------------------------------------------------

    def redact(self, text: str, key: str = "") -> tuple[str, int, int, int | None]:
        """``(text, emails, ips, phones)`` for one document; ``key`` (its doc_id) seeds the choices.

        ``phones`` is None when phone redaction is off.
        """
        start = _start_offset(key)
        n_email = n_ip = 0
        n_phone: int | None = None
        if self.emails:
            text, n_email = _redact_emails(text, _Picker(self.email_replacements, start), self.email_replacements)
        if self.ips:
            ips = _Picker(self.ip_replacements, start)
            if self.ipv6:
                text, n6 = _redact_ipv6(text, _Picker(self.ipv6_replacements, start), self)
                n_ip += n6
            text, n4 = _redact_ipv4(text, ips, self)
            n_ip += n4
        if self.phones:
            text, n_phone = _redact_phones(text, self.phone_replacement)
        return text, n_email, n_ip, n_phone

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        reasons = batch.column("drop_reason").to_pylist()
        text_col = batch.column("text")
        texts = text_col.to_pylist()
        ids = batch.column("doc_id").to_pylist()
        n = batch.num_rows
        emails: list[int | None] = [None] * n
        ips: list[int | None] = [None] * n
        phones: list[int | None] = [None] * n
        for i in range(n):
            if reasons[i] is not None:
                continue
            text = texts[i]
            if text is None:
                emails[i], ips[i], phones[i] = 0, 0, (0 if self.phones else None)
                continue
            texts[i], emails[i], ips[i], phones[i] = self.redact(text, ids[i] or "")
        batch = set_column(batch, "text", pa.array(texts, text_col.type))
        batch = set_column(batch, "pii_emails", pa.array(emails, pa.int64()))
        batch = set_column(batch, "pii_ips", pa.array(ips, pa.int64()))
        return set_column(batch, "pii_phones", pa.array(phones, pa.int64()))


def _splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    if not spans:
        return text
    out, last = [], 0
    for a, b, rep in spans:
        out.append(text[last:a])
        out.append(rep)
        last = b
    out.append(text[last:])
    return "".join(out)


def _redact_emails(text: str, pick: Callable[[], str], keep: list[str]) -> tuple[str, int]:
    if "@" not in text:
        return text, 0
    spans: list[tuple[int, int, str]] = []
    last = 0  # end of the previous address: addresses never overlap, as with re.sub
    for run in _EMAIL_RUN.finditer(text):
        at = run.end() - 1
        lo = max(run.start(), last)
        # a dot-atom has no "..": the address starts after the last one in the run
        dots = text.rfind("..", lo, at)
        if dots >= 0:
            lo = dots + 2
        start = _LOCAL_START.search(text, lo, at)
        if start is None:
            continue
        domain = _DOMAIN.match(text, at + 1)
        if domain is None:
            continue
        a, b = start.start(), domain.end()
        last = b
        if text[a:b] not in keep:
            spans.append((a, b, pick()))
    return _splice(text, spans), len(spans)


def _redact_ipv4(text: str, pick: Callable[[], str], stage: PII) -> tuple[str, int]:
    if "." not in text:
        return text, 0
    spans: list[tuple[int, int, str]] = []
    keep = stage.ip_replacements
    for m in _IPV4.finditer(text):
        ip = m.group()
        if ip in keep:
            continue
        if stage.public_ips_only:
            a, b, c, d = (int(x) for x in ip.split("."))
            if not ipv4_is_public((a << 24) | (b << 16) | (c << 8) | d):
                continue
        spans.append((m.start(), m.end(), pick()))
    return _splice(text, spans), len(spans)


def _redact_ipv6(text: str, pick: Callable[[], str], stage: PII) -> tuple[str, int]:
    if "::" not in text and text.count(":") < 2:
        return text, 0
    spans: list[tuple[int, int, str]] = []
    keep = stage.ipv6_replacements
    n = len(text)
    for m in _IPV6.finditer(text):
        a, b = m.span()
        if b < n and (text[b].isalnum() or text[b] == "_"):
            continue  # glued to a word: not an address
        token = m.group()
        # sentence punctuation after an address: "at 2001:db8::1." / "2001:4860::8888: ..."
        while token.endswith(".") or (token.endswith(":") and not token.endswith("::")):
            token = token[:-1]
        if len(token) > _V6_MAX or token.count(":") < 2 or not any(ch.isdigit() for ch in token):
            continue
        try:
            addr = ipaddress.IPv6Address(token)
        except ValueError:
            continue
        if token in keep or (stage.public_ips_only and not ipv6_is_public(addr)):
            continue
        spans.append((a, a + len(token), pick()))
    return _splice(text, spans), len(spans)


def _redact_phones(text: str, placeholder: str) -> tuple[str, int]:
    spans: list[tuple[int, int, str]] = []
    for m in _PHONE.finditer(text):
        exchange = m.group(1) or m.group(3)
        if exchange is not None:
            if exchange == "555" and m.group(4).startswith("01"):
                continue  # NANP's fictional range (555-0100..0199), our own placeholder included
        else:
            digits = sum(ch.isdigit() for ch in m.group())
            if not 8 <= digits <= 15:
                continue
        spans.append((m.start(), m.end(), placeholder))
    return _splice(text, spans), len(spans)
