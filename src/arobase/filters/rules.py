"""Rule signals for spam: authentication results, DNS blocklists, header anomalies, content tricks.

Each rule is small and explains itself in plain words; the points are deliberately moderate so no
single rule (except a blocklist listing) sends a message to Junk on its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import unicodedata
from datetime import UTC, datetime, timedelta

from ..services.dns import Resolver, TemporaryDNSError
from ..services.mailauth import AuthResults, organizational_domain
from .content import Content, url_host
from .verdict import Kind, Signal

SHORTENERS = frozenset(
    """
    bit.ly tinyurl.com t.co goo.gl ow.ly is.gd buff.ly rebrand.ly cutt.ly shorturl.at tiny.cc rb.gy
    bl.ink t.ly s.id v.gd qr.ae lnkd.in soo.gd clck.ru shorte.st adf.ly bitly.com tr.im x.co
    """.split()
)
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
# Words holding a Cyrillic, Greek, Armenian or Cherokee letter: only these can mix scripts, so the
# per-letter Unicode name lookup runs on a few words instead of every word of every message.
_FOREIGN_WORD = re.compile(r"\w*[\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f\u0530-\u058f\u13a0-\u13ff\uab70-\uabbf]\w*")
MAX_LOOKUPS = 10  # URL domains checked against URI blocklists per message


def auth_signals(results: AuthResults | None) -> list[Signal]:
    """SPF, DKIM and DMARC results as points: failures add, aligned passes subtract a little."""
    if results is None:
        return []
    out: list[Signal] = []
    if results.spf == "fail":
        out.append(Signal("SPF_FAIL", 2.0, f"the sending server is not allowed to send for {results.spf_domain}"))
    elif results.spf == "softfail":
        out.append(Signal("SPF_SOFTFAIL", 1.0, f"{results.spf_domain} does not vouch for the sending server"))
    elif results.spf == "pass":
        out.append(Signal("SPF_PASS", -0.3, f"the sending server is allowed to send for {results.spf_domain}"))
    dkim = [d.result for d in results.dkim]
    if "pass" in dkim:
        out.append(Signal("DKIM_PASS", -0.5, "a valid DKIM signature vouches for the message"))
    elif "fail" in dkim:
        out.append(Signal("DKIM_FAIL", 1.5, "the message was changed after it was signed, or the signature is forged"))
    if results.dmarc == "fail":
        out.append(
            Signal(
                "DMARC_FAIL",
                3.0 if results.dmarc_policy in ("quarantine", "reject") else 2.0,
                f"the message claims to come from {results.from_domain} but that domain does not vouch for it",
                Kind.PHISHING,
            )
        )
    elif results.dmarc == "pass":
        out.append(Signal("DMARC_PASS", -1.0, f"{results.from_domain} vouches for the message"))
    return out


def header_signals(content: Content, helo: str, client_ip: str, our_domains: set[str], now: datetime) -> list[Signal]:
    """Missing or impossible header fields, and a HELO name that does not fit the client."""
    out: list[Signal] = []
    names = {name for name, _ in content.headers}
    if "date" not in names:
        out.append(Signal("MISSING_DATE", 1.0, "the message has no date"))
    else:
        date = content.parsed.date
        if date is not None:
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
            if date > now + timedelta(days=1):
                out.append(Signal("FUTURE_DATE", 1.5, "the message is dated in the future"))
            elif date < now - timedelta(days=365):
                out.append(Signal("ANCIENT_DATE", 1.0, "the message is dated more than a year ago"))
    if "message-id" not in names:
        out.append(Signal("MISSING_MESSAGE_ID", 1.0, "the message has no Message-ID"))
    if not content.parsed.from_:
        out.append(Signal("MISSING_FROM", 2.0, "the message does not say who sent it"))
    if "to" not in names and "cc" not in names:
        out.append(Signal("MISSING_TO", 0.5, "the message names no recipient"))
    out += _helo_signals(helo, client_ip, our_domains)
    return out


def _helo_signals(helo: str, client_ip: str, our_domains: set[str]) -> list[Signal]:
    if not helo:
        return []
    name = helo.strip("[]").lower().rstrip(".")
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        if helo.startswith("[") and str(literal) == client_ip:
            return []
        if str(literal) != client_ip:
            return [Signal("HELO_IP_MISMATCH", 2.0, "the sending server greeted with an address that is not its own")]
        return [Signal("HELO_BARE_IP", 1.0, "the sending server greeted with a bare IP address")]
    try:
        loopback = ipaddress.ip_address(client_ip).is_loopback
    except ValueError:
        loopback = False
    if not loopback and (name in our_domains or organizational_domain(name) in our_domains):
        return [Signal("HELO_FORGED", 2.5, "the sending server pretended to be us")]
    if "." not in name:
        return [Signal("HELO_NOT_FQDN", 0.5, "the sending server's greeting is not a full host name")]
    return []


def content_signals(content: Content) -> list[Signal]:
    """HTML-only mail, invisible text, shortened links, and text disguised against filters."""
    out: list[Signal] = []
    if content.html and not content.has_plain:
        out.append(Signal("HTML_ONLY", 0.7, "the message has no plain-text version"))
    if len(content.hidden_text) >= 20:
        out.append(Signal("INVISIBLE_TEXT", 1.5, "the message contains text styled to be invisible"))
    shortened = sorted({host for host in map(url_host, content.urls) if host in SHORTENERS})
    if shortened:
        out.append(
            Signal("URL_SHORTENER", 1.0, "links hide their destination behind " + ", ".join(shortened), Kind.PHISHING)
        )
    sample = content.parsed.subject + "\n" + content.text[:20000] + content.html[:20000]
    if not sample.isascii() and not ZERO_WIDTH.isdisjoint(sample):
        out.append(Signal("ZERO_WIDTH_CHARS", 1.5, "the text hides invisible characters between letters"))
    words = content.parsed.subject + " " + content.text[:20000]
    mixed = [] if words.isascii() else [w for w in _FOREIGN_WORD.findall(words) if len(w) >= 3 and mixed_script(w)]
    if mixed:
        out.append(Signal("MIXED_SCRIPTS", 1.5, f"words mix alphabets to fool filters, such as {mixed[0]!r}"))
    subject = content.parsed.subject
    letters = [c for c in subject if c.isalpha()]
    if len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.8:
        out.append(Signal("SUBJECT_SHOUTS", 0.5, "the subject is written in capitals"))
    return out


def script_of(char: str) -> str:
    """A coarse script name of a letter (LATIN, CYRILLIC, GREEK, ...) from its Unicode name."""
    try:
        return unicodedata.name(char).split(" ")[0]
    except ValueError:
        return ""


def mixed_script(word: str) -> bool:
    """True when one word mixes Latin letters with Cyrillic or Greek look-alikes."""
    scripts = {script_of(c) for c in word if c.isalpha()}
    return "LATIN" in scripts and bool(scripts & {"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE"})


async def dnsbl_signals(
    resolver: Resolver,
    client_ip: str,
    urls: list[str],
    ip_zones: list[tuple[str, int]],
    uri_zones: list[tuple[str, int]],
) -> list[Signal]:
    """Look up the client IP and link domains in the configured DNS blocklists (A record = listed)."""
    lookups: list[tuple[str, str, int, str]] = []  # (query, zone, points, what)
    if ip_zones:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            address = None
        if address is not None and (not address.is_loopback or str(address) == "127.0.0.2"):
            reverse = address.reverse_pointer.removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa")
            lookups += [
                (f"{reverse}.{zone}", zone, points, f"the sending server {client_ip}") for zone, points in ip_zones
            ]
    if uri_zones:
        domains = list(dict.fromkeys(organizational_domain(h) for h in map(url_host, urls) if h and "." in h))
        for domain in domains[:MAX_LOOKUPS]:
            lookups += [(f"{domain}.{zone}", zone, points, f"the linked domain {domain}") for zone, points in uri_zones]
    if not lookups:
        return []

    async def listed(query: str) -> bool:
        try:
            answer = await resolver.query(query, "A", lifetime=3.0)
        except TemporaryDNSError:
            return False
        return (
            answer is not None
            and answer.rrset is not None
            and any(str(r.address).startswith("127.") for r in answer.rrset)
        )

    results = await asyncio.gather(*(listed(query) for query, *_ in lookups))
    out = []
    for (_, zone, points, what), hit in zip(lookups, results, strict=True):
        if hit:
            name = "DNSBL_" + re.sub(r"[^A-Z0-9]+", "_", zone.upper())
            out.append(Signal(name, float(points), f"{what} is on the blocklist {zone}"))
    return out
