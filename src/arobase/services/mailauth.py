"""SPF, DKIM and DMARC for mail arriving on the MX port, summarised in one Authentication-Results header.

The verdicts feed spam scoring and the DMARC policy decision, and are recorded in the message for the
user's mail client. All DNS goes through `arobase.services.dns.Resolver`, so a temporary DNS failure
becomes a `temperror` verdict (the SMTP layer can answer 4xx) instead of a false `fail`.

SPF (RFC 7208) is implemented here on top of the async resolver: pyspf is synchronous and unmaintained.
DKIM (RFC 6376) uses dkimpy in a worker thread. DMARC (RFC 7489) uses a small built-in organizational
domain rule instead of the Public Suffix List: see `organizational_domain`.

Typical use in the SMTP server: `results = await authenticate(received_bytes, ...)`, then
`results.header().encode() + strip_forged_results(received_bytes, authserv_id)` is what gets delivered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import urllib.parse
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import NamedTuple

import dkim

from ..addressing import AddressError, normalize_domain
from .dns import Resolver, TemporaryDNSError

__all__ = [
    "AuthResults",
    "DKIMResult",
    "SPFResult",
    "authenticate",
    "check_dmarc",
    "check_spf",
    "organizational_domain",
    "strip_forged_results",
    "verify_dkim",
]

SPF_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect together
SPF_VOID_LIMIT = 2  # RFC 7208 4.6.4: lookups answering NXDOMAIN or nothing
SPF_MX_LIMIT = 10  # more MX hosts than this in one "mx" is a permerror
SPF_PTR_LIMIT = 10  # PTR names beyond this are ignored
SPF_TIMEOUT = 20.0  # RFC 7208 4.6.4 suggests at least 20 seconds for a whole check
DKIM_MAX_SIGNATURES = 10  # more signatures are ignored: each one costs a DNS lookup and an RSA check
HEADER_WIDTH = 78

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


class SPFResult(NamedTuple):
    """An SPF verdict for one identity: `domain` is the domain checked, `reason` says why, for humans."""

    result: str
    domain: str
    reason: str = ""


class DKIMResult(NamedTuple):
    """The verdict for one DKIM-Signature: (result, d= domain, s= selector)."""

    result: str
    domain: str
    selector: str


@dataclass(slots=True)
class AuthResults:
    """Everything `authenticate` found out; `header()` renders it as one Authentication-Results field."""

    authserv_id: str
    spf: str
    spf_domain: str
    #: The SMTP identity SPF checked: the MAIL FROM address, or the HELO name for a null reverse-path,
    #: and the Authentication-Results property naming it (smtp.mailfrom or smtp.helo).
    spf_identity: str = ""
    spf_property: str = "smtp.mailfrom"
    spf_reason: str = ""
    dkim: list[DKIMResult] = field(default_factory=list)
    dmarc: str = "none"
    #: What the domain owner asks us to do with this message: none unless DMARC failed, then p= or sp=,
    #: lowered one step when the message falls outside the pct= sample.
    dmarc_policy: str = "none"
    #: The p= (or sp= for a subdomain) published for the From domain; None without a DMARC record.
    dmarc_published_policy: str | None = None
    dmarc_reason: str = ""
    from_domain: str | None = None

    def header(self) -> str:
        """One RFC 8601 Authentication-Results field, one method per line, CRLF line endings included."""
        spf: list[str] = [f"spf={self.spf}"]
        if self.spf_reason and self.spf in ("temperror", "permerror"):
            spf.append(_comment(self.spf_reason))
        if self.spf_identity:
            spf.append(f"{self.spf_property}={_pvalue(self.spf_identity)}")
        resinfos = [spf]
        for result in self.dkim or [DKIMResult("none", "", "")]:
            words = [f"dkim={result.result}"]
            if result.domain:
                words.append(f"header.d={_pvalue(result.domain)}")
            if result.selector:
                words.append(f"header.s={_pvalue(result.selector)}")
            resinfos.append(words)
        dmarc = [f"dmarc={self.dmarc}"]
        if self.dmarc_published_policy is not None:
            dmarc.append(f"(p={self.dmarc_published_policy} dis={self.dmarc_policy})")
        elif self.dmarc_reason:
            dmarc.append(_comment(self.dmarc_reason))
        if self.from_domain:
            dmarc.append(f"header.from={_pvalue(self.from_domain)}")
        resinfos.append(dmarc)

        lines = [f"Authentication-Results: {_pvalue(self.authserv_id)};"]
        for words in resinfos[:-1]:
            words[-1] += ";"
        for words in resinfos:
            lines.extend(_fold(words))
        return "\r\n".join(lines) + "\r\n"


def _fold(words: list[str]) -> list[str]:
    """Lay words out on tab-indented continuation lines no wider than HEADER_WIDTH (a tab counts as 8)."""
    lines = ["\t" + words[0]]
    for word in words[1:]:
        if 8 + len(lines[-1]) + len(word) > HEADER_WIDTH:
            lines.append("\t " + word)
        else:
            lines[-1] += " " + word
    return lines


_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_ADDRESS_VALUE = re.compile(r"[!#$%&'*+\-/=?^_`{|}~.0-9A-Za-z]+@[-.0-9A-Za-z_]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _pvalue(text: str) -> str:
    """A property value: a token or plain address as is, anything else as a quoted-string.

    Values such as header.d come from the message itself, so control characters (CR, LF) are dropped
    and separators are quoted: a hostile signature cannot inject header fields or fake results."""
    text = _CONTROLS.sub("", text)
    if _TOKEN.fullmatch(text) or _ADDRESS_VALUE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    return "(" + re.sub(r"[()\\]", "", _CONTROLS.sub("", text))[:200] + ")"


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


async def authenticate(
    message: bytes, *, client_ip: str, helo: str, mail_from: str, resolver: Resolver, authserv_id: str
) -> AuthResults:
    """Check SPF for the SMTP identities, every DKIM signature and the From domain's DMARC policy.

    Pass the message exactly as received (before `strip_forged_results`), so signatures still verify."""
    spf, dkim_results = await asyncio.gather(
        check_spf(client_ip, mail_from, helo, resolver), verify_dkim(message, resolver)
    )
    sender = mail_from.strip().removeprefix("<").removesuffix(">")
    results = AuthResults(
        authserv_id=authserv_id,
        spf=spf.result,
        spf_domain=spf.domain,
        spf_identity=sender or helo,
        spf_property="smtp.mailfrom" if sender else "smtp.helo",
        spf_reason=spf.reason,
        dkim=dkim_results,
    )
    await check_dmarc(message, results, resolver)
    return results


# ---------------------------------------------------------------------------------------------------
# SPF (RFC 7208)
# ---------------------------------------------------------------------------------------------------


class _PermError(Exception):
    """The SPF evaluation hit a permanent error: bad syntax, too many lookups, a broken include."""


_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_SPF_VERSION = re.compile(r"v=spf1(?: |$)", re.IGNORECASE)
_MACRO_EXPAND = r"%\{[A-Za-z][0-9]*[rR]?[-.+,/_=]*\}|%[%_-]"
_MACRO_LITERAL = r"[\x21-\x24\x26-\x7e]"
_MACRO_STRING = re.compile(rf"(?:{_MACRO_EXPAND}|{_MACRO_LITERAL})*")
_MACRO = re.compile(r"%(?:\{([A-Za-z])([0-9]*)([rR]?)([-.+,/_=]*)\}|([%_-]))")
_TOPLABEL = r"(?:[0-9A-Za-z]*[A-Za-z][0-9A-Za-z]*|[0-9A-Za-z]+-[-0-9A-Za-z]*[0-9A-Za-z])"
_DOMAIN_END = re.compile(rf"(?:\.{_TOPLABEL}\.?|{_MACRO_EXPAND})\Z")
_MODIFIER = re.compile(r"([A-Za-z][-0-9A-Za-z_.]*)=(.*)")
_MECHANISM = re.compile(r"([+\-~?]?)([A-Za-z][0-9A-Za-z]*)(.*)")
_DUAL_CIDR = re.compile(r"(?::(.+?))?(?:/(0|[1-9][0-9]?))?(?://(0|[1-9][0-9]{0,2}))?")
_IP_NETWORK = re.compile(r":([^/]+)(?:/(0|[1-9][0-9]{0,2}))?")
_DOMAIN_MACRO_LETTERS = set("slodiphv")


@dataclass(frozen=True, slots=True)
class _Mechanism:
    qualifier: str
    name: str
    text: str
    domain_spec: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128


@dataclass(slots=True)
class _Record:
    mechanisms: list[_Mechanism]
    redirect: str | None = None


@dataclass(slots=True)
class _SPFCheck:
    """State shared by one whole evaluation, includes and redirects included: the lookup budgets."""

    ip: IPAddress
    sender: str
    helo: str
    resolver: Resolver
    lookups: int = 0
    voids: int = 0
    _validated: list[str] | None = None

    def count_lookup(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise _PermError(f"more than {SPF_LOOKUP_LIMIT} DNS lookups")

    def count_void(self) -> None:
        self.voids += 1
        if self.voids > SPF_VOID_LIMIT:
            raise _PermError(f"more than {SPF_VOID_LIMIT} void DNS lookups")

    async def addresses(self, name: str) -> list[IPAddress]:
        """The addresses of `name` in the client's IP family (A for IPv4 clients, AAAA for IPv6)."""
        found = await (self.resolver.a(name) if self.ip.version == 4 else self.resolver.aaaa(name))
        return [ipaddress.ip_address(a) for a in found]

    async def validated_names(self) -> list[str]:
        """PTR names of the client whose own addresses include the client IP (RFC 7208 5.5); DNS errors
        only make names disappear, they never fail the check."""
        if self._validated is None:
            self._validated = []
            try:
                names = await self.resolver.ptr(str(self.ip))
            except TemporaryDNSError:
                names = []
            for name in names[:SPF_PTR_LIMIT]:
                try:
                    if self.ip in await self.addresses(name):
                        self._validated.append(name)
                except TemporaryDNSError:
                    continue
        return self._validated


async def check_spf(client_ip: str, mail_from: str, helo: str, resolver: Resolver) -> SPFResult:
    """RFC 7208 check_host() for the MAIL FROM identity, or postmaster@HELO when MAIL FROM is empty."""
    ip = ipaddress.ip_address(client_ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    sender = mail_from.strip().removeprefix("<").removesuffix(">")
    if not sender:
        sender = f"postmaster@{helo}"
    local, at, domain = sender.rpartition("@")
    if not at:
        local, domain = "postmaster", sender
    elif not local:
        local = "postmaster"
    domain = _ascii_domain(domain)
    check = _SPFCheck(ip=ip, sender=f"{local}@{domain}", helo=helo, resolver=resolver)
    try:
        async with asyncio.timeout(SPF_TIMEOUT):
            result, reason = await _check_host(check, domain)
    except TimeoutError:
        result, reason = "temperror", f"SPF evaluation took longer than {SPF_TIMEOUT:g} seconds"
    return SPFResult(result, domain, reason)


def _ascii_domain(domain: str) -> str:
    domain = domain.strip().lower().removesuffix(".")
    if domain.isascii():
        return domain
    try:
        return normalize_domain(domain)
    except AddressError:
        return domain


def _valid_domain(domain: str) -> bool:
    """RFC 7208 4.3: a multi-label name with no empty or over-long label, else the result is "none"."""
    labels = domain.removesuffix(".").split(".")
    return (
        domain.isascii()
        and len(domain) <= 253
        and len(labels) > 1
        and all(0 < len(label) <= 63 for label in labels)
        and not domain.startswith("[")
    )


async def _check_host(check: _SPFCheck, domain: str) -> tuple[str, str]:
    if not _valid_domain(domain):
        return "none", f"{domain!r} is not a domain name"
    try:
        records = [r for r in await check.resolver.txt(domain) if _SPF_VERSION.match(r)]
    except TemporaryDNSError as exc:
        return "temperror", str(exc)
    if not records:
        return "none", f"no SPF record at {domain}"
    if len(records) > 1:
        return "permerror", f"{len(records)} SPF records at {domain}"
    try:
        return await _evaluate(check, domain, _parse_record(records[0]))
    except _PermError as exc:
        return "permerror", str(exc)
    except TemporaryDNSError as exc:
        return "temperror", str(exc)


def _parse_record(record: str) -> _Record:
    """Parse the whole record first: any syntax error anywhere is a permerror before evaluation (4.6)."""
    mechanisms: list[_Mechanism] = []
    modifiers: dict[str, str] = {}
    for term in record.split(" ")[1:]:
        if not term:
            continue
        modifier = _MODIFIER.fullmatch(term)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if name in modifiers:
                    raise _PermError(f"{name}= appears twice")
                _check_domain_spec(value)
                modifiers[name] = value
            elif not _MACRO_STRING.fullmatch(value):
                raise _PermError(f"bad modifier {term!r}")
            continue
        mechanisms.append(_parse_mechanism(term))
    return _Record(mechanisms, modifiers.get("redirect"))


def _parse_mechanism(term: str) -> _Mechanism:
    match = _MECHANISM.fullmatch(term)
    if not match:
        raise _PermError(f"bad term {term!r}")
    qualifier, name, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    if name == "all" and not rest:
        return _Mechanism(qualifier, name, term)
    if name in ("include", "exists") and rest.startswith(":"):
        return _Mechanism(qualifier, name, term, domain_spec=_check_domain_spec(rest[1:]))
    if name == "ptr" and (not rest or rest.startswith(":")):
        return _Mechanism(qualifier, name, term, domain_spec=_check_domain_spec(rest[1:]) if rest else None)
    if name in ("a", "mx"):
        cidr = _DUAL_CIDR.fullmatch(rest)
        if cidr:
            spec = _check_domain_spec(cidr.group(1)) if cidr.group(1) is not None else None
            cidr4, cidr6 = int(cidr.group(2) or 32), int(cidr.group(3) or 128)
            if cidr4 <= 32 and cidr6 <= 128:
                return _Mechanism(qualifier, name, term, domain_spec=spec, cidr4=cidr4, cidr6=cidr6)
    if name in ("ip4", "ip6"):
        net = _IP_NETWORK.fullmatch(rest)
        if net:
            try:
                address = ipaddress.IPv4Address(net.group(1)) if name == "ip4" else ipaddress.IPv6Address(net.group(1))
                network = ipaddress.ip_network(f"{address}/{net.group(2) or address.max_prefixlen}", strict=False)
            except ValueError:
                pass
            else:
                return _Mechanism(qualifier, name, term, network=network)
    raise _PermError(f"bad mechanism {term!r}")


def _check_domain_spec(spec: str) -> str:
    """Check RFC 7208 domain-spec syntax: a macro-string ending in a macro or a "." top label."""
    if not spec or not _MACRO_STRING.fullmatch(spec) or not _DOMAIN_END.search(spec):
        raise _PermError(f"bad domain-spec {spec!r}")
    for macro in _MACRO.finditer(spec):
        letter, digits = macro.group(1), macro.group(2)
        if letter is not None and (letter.lower() not in _DOMAIN_MACRO_LETTERS or digits.startswith("0")):
            raise _PermError(f"bad macro {macro.group(0)!r}")
    return spec


async def _expand(check: _SPFCheck, spec: str, domain: str) -> str:
    """Expand the macros of a domain-spec (RFC 7208 7), then shorten it to 253 characters from the left."""
    local, _, sender_domain = check.sender.rpartition("@")
    ip = check.ip
    values = {
        "s": check.sender,
        "l": local,
        "o": sender_domain,
        "d": domain,
        "i": str(ip) if ip.version == 4 else ".".join(ip.exploded.replace(":", "")),
        "v": "in-addr" if ip.version == 4 else "ip6",
        "h": check.helo,
        "p": "unknown",
    }
    if re.search(r"%\{[pP]", spec):
        values["p"] = _best_validated(await check.validated_names(), domain)

    def replace(match: re.Match[str]) -> str:
        letter, digits, reverse, delimiters, escape = match.groups()
        if escape is not None:
            return {"%": "%", "_": " ", "-": "%20"}[escape]
        parts = re.split("[" + re.escape(delimiters or ".") + "]", values[letter.lower()])
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :]
        text = ".".join(parts)
        return urllib.parse.quote(text, safe="") if letter.isupper() else text

    expanded = _MACRO.sub(replace, spec).removesuffix(".")
    while len(expanded) > 253 and "." in expanded:
        expanded = expanded.split(".", 1)[1]
    return expanded


def _best_validated(names: list[str], domain: str) -> str:
    """The %{p} value: the domain itself if validated, else a subdomain of it, else any validated name."""
    for name in names:
        if name == domain:
            return name
    for name in names:
        if name.endswith("." + domain):
            return name
    return names[0] if names else "unknown"


async def _evaluate(check: _SPFCheck, domain: str, record: _Record) -> tuple[str, str]:
    for mechanism in record.mechanisms:
        if await _matches(check, domain, mechanism):
            return _QUALIFIERS[mechanism.qualifier], f"{check.ip} matched {mechanism.text} in {domain}"
    if record.redirect is not None:
        check.count_lookup()
        target = await _expand(check, record.redirect, domain)
        result, reason = await _check_host(check, target)
        if result == "none":
            raise _PermError(f"redirect to {target} which has no SPF record")
        return result, reason
    return "neutral", f"no mechanism matched {check.ip} in {domain}"


async def _matches(check: _SPFCheck, domain: str, mech: _Mechanism) -> bool:
    ip = check.ip
    if mech.name == "all":
        return True
    if mech.name in ("ip4", "ip6"):
        assert mech.network is not None
        return ip.version == mech.network.version and ip in mech.network
    check.count_lookup()
    target = await _expand(check, mech.domain_spec, domain) if mech.domain_spec is not None else domain
    if mech.name == "include":
        result, reason = await _check_host(check, target)
        if result == "temperror":
            raise TemporaryDNSError(reason)
        if result in ("permerror", "none"):
            raise _PermError(f"include:{target} gave {result}" + (f": {reason}" if result == "permerror" else ""))
        return result == "pass"
    if mech.name == "exists":
        found = await check.resolver.a(target)
        if not found:
            check.count_void()
        return bool(found)
    prefix = mech.cidr4 if ip.version == 4 else mech.cidr6
    if mech.name == "a":
        addresses = await check.addresses(target)
        if not addresses:
            check.count_void()
        return _in_any(ip, addresses, prefix)
    if mech.name == "mx":
        hosts = await check.resolver.mx(target)
        if not hosts:
            check.count_void()
            return False
        if len(hosts) > SPF_MX_LIMIT:
            raise _PermError(f"more than {SPF_MX_LIMIT} MX records for {target}")
        for _, host in hosts:
            if host != "." and _in_any(ip, await check.addresses(host), prefix):
                return True
        return False
    # ptr: a validated reverse name equal to, or below, the target domain
    names = await check.validated_names()
    if not names:
        check.count_void()
    return any(name == target or name.endswith("." + target) for name in names)


def _in_any(ip: IPAddress, addresses: list[IPAddress], prefix: int) -> bool:
    return any(ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False) for address in addresses)


# ---------------------------------------------------------------------------------------------------
# DKIM (RFC 6376)
# ---------------------------------------------------------------------------------------------------


async def verify_dkim(message: bytes, resolver: Resolver) -> list[DKIMResult]:
    """Verify every DKIM-Signature (up to DKIM_MAX_SIGNATURES) in a worker thread, as dkimpy is synchronous."""
    return await asyncio.to_thread(_verify_dkim_sync, message, resolver)


def _verify_dkim_sync(message: bytes, resolver: Resolver) -> list[DKIMResult]:
    try:
        verifier = dkim.DKIM(message, timeout=max(1, int(resolver.lifetime)))
    except dkim.DKIMException:
        return []
    signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    results = []
    for idx, signature in enumerate(signatures[:DKIM_MAX_SIGNATURES]):
        tags = _tag_values(signature)
        domain = tags.get("d", "").lower().removesuffix(".")
        selector = tags.get("s", "")
        results.append(DKIMResult(_verify_one(verifier, idx, resolver), domain, selector))
    return results


def _verify_one(verifier: dkim.DKIM, idx: int, resolver: Resolver) -> str:
    """Map dkimpy's outcome to an RFC 8601 result: a bad signature is "fail", while a malformed signature
    or a missing or unusable key is "permerror", and a DNS failure "temperror"."""
    keys: list[bytes] = []

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        key = resolver.dnsfunc(name, timeout=timeout)
        keys.append(key)
        return key

    # dkimpy lets assorted exceptions (binascii.Error, IndexError...) escape on hostile input: whatever it
    # raises about a signature or a key, other than our DNS error, makes that signature unusable.
    try:
        verifier.verify_headerprep(idx)
    except Exception:
        return "permerror"
    try:
        if verifier.verify(idx=idx, dnsfunc=dnsfunc):
            return "pass"
    except TemporaryDNSError:
        return "temperror"
    except dkim.ValidationError:
        return "fail"  # the signature fields were checked above, so this is the body hash
    except Exception:
        return "permerror"
    if not keys or not keys[-1]:
        return "permerror"
    try:
        dkim.evaluate_pk(b"", keys[-1])
    except Exception:
        return "permerror"
    return "fail"


def _tag_values(value: bytes) -> dict[str, str]:
    """Best-effort tag=value parsing, to name the d= and s= of a signature even when it is malformed."""
    tags: dict[str, str] = {}
    for part in value.decode("utf-8", "replace").split(";"):
        name, eq, tag_value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), re.sub(r"\s+", "", tag_value))
    return tags


# ---------------------------------------------------------------------------------------------------
# DMARC (RFC 7489)
# ---------------------------------------------------------------------------------------------------

#: Public suffixes of two labels, under which organizational domains have three labels. A deliberately
#: small list, not the Public Suffix List: under suffixes it does not know (github.io, a city.state.us
#: scheme...) the organizational domain comes out too short, so relaxed alignment can be too lenient and
#: a missing subdomain policy may be looked up one level too high.
TWO_LABEL_SUFFIXES = frozenset(
    """
    co.uk org.uk me.uk ltd.uk plc.uk net.uk ac.uk gov.uk sch.uk nhs.uk
    com.au net.au org.au edu.au gov.au asn.au id.au
    co.nz net.nz org.nz ac.nz govt.nz geek.nz
    co.jp ne.jp or.jp ac.jp go.jp ad.jp ed.jp gr.jp lg.jp
    co.kr or.kr ne.kr re.kr go.kr ac.kr
    com.br net.br org.br gov.br edu.br
    com.cn net.cn org.cn gov.cn edu.cn ac.cn
    co.in net.in org.in firm.in gen.in ind.in ac.in gov.in
    co.za org.za net.za gov.za ac.za web.za
    com.mx org.mx gob.mx edu.mx net.mx
    com.ar com.tr com.tw org.tw com.sg edu.sg com.hk org.hk com.my co.id or.id
    co.il org.il ac.il com.ua co.th in.th com.ph com.vn com.pk com.ng com.eg
    com.sa com.pe com.co com.ve com.ec com.es com.pl com.ru net.ru org.ru
    """.split()
)

_DMARC_VERSION = re.compile(r"v\s*=\s*DMARC1\s*(?:;|\Z)")
_POLICIES = ("none", "quarantine", "reject")


def organizational_domain(domain: str) -> str:
    """The registered domain: the last two labels, or three under a suffix of `TWO_LABEL_SUFFIXES`."""
    labels = domain.lower().removesuffix(".").split(".")
    keep = 3 if ".".join(labels[-2:]) in TWO_LABEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    domain = domain.lower().removesuffix(".")
    if not domain:
        return False
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


@dataclass(slots=True)
class _DMARCRecord:
    domain: str
    policy: str
    subdomain_policy: str
    pct: int = 100
    adkim: str = "r"
    aspf: str = "r"


class _DMARCError(Exception):
    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result


async def check_dmarc(message: bytes, results: AuthResults, resolver: Resolver) -> None:
    """Evaluate DMARC from the SPF and DKIM verdicts already in `results`, filling its dmarc_* fields.

    No From field is out of DMARC's scope (RFC 7489 6.6.1): "none". Several From fields, or one naming
    several domains, or no usable address are "permerror"; we do not guess which author to trust."""
    try:
        from_domain = _from_domain(message)
    except _DMARCError as exc:
        results.dmarc, results.dmarc_reason = exc.result, str(exc)
        return
    results.from_domain = from_domain
    try:
        record = await _find_dmarc_record(resolver, from_domain)
    except TemporaryDNSError as exc:
        results.dmarc, results.dmarc_reason = "temperror", str(exc)
        return
    except _DMARCError as exc:
        results.dmarc, results.dmarc_reason = exc.result, str(exc)
        return
    if record is None:
        results.dmarc, results.dmarc_reason = "none", f"no DMARC record for {from_domain}"
        return

    published = record.policy if record.domain == from_domain else record.subdomain_policy
    results.dmarc_published_policy = published
    spf_aligned = _aligned(results.spf_domain, from_domain, record.aspf)
    dkim_aligned = [r for r in results.dkim if _aligned(r.domain, from_domain, record.adkim)]
    if (results.spf == "pass" and spf_aligned) or any(r.result == "pass" for r in dkim_aligned):
        results.dmarc = "pass"
        return
    # An aligned identifier that could not be checked might have passed: ask to retry, do not fail.
    if (results.spf == "temperror" and spf_aligned) or any(r.result == "temperror" for r in dkim_aligned):
        results.dmarc, results.dmarc_reason = "temperror", "an aligned SPF or DKIM check hit a DNS error"
        return
    results.dmarc = "fail"
    if random.random() * 100 < record.pct:  # sampling, not security
        results.dmarc_policy = published
    else:  # outside the pct= sample: one step lighter (RFC 7489 6.3)
        results.dmarc_policy = _POLICIES[max(0, _POLICIES.index(published) - 1)]


def _from_domain(message: bytes) -> str:
    values = [value for name, value in _header_fields(message) if name == b"from"]
    if not values:
        raise _DMARCError("none", "no From header field")
    if len(values) > 1:
        raise _DMARCError("permerror", "several From header fields")
    text = re.sub(r"\r?\n", "", values[0].decode("utf-8", "replace"))
    domains = {addr.rpartition("@")[2].lower() for _, addr in getaddresses([text]) if "@" in addr}
    if len(domains) != 1:
        raise _DMARCError("permerror", "From names several domains" if domains else "no address in From")
    try:
        return normalize_domain(domains.pop())
    except AddressError as exc:
        raise _DMARCError("permerror", str(exc)) from None


async def _find_dmarc_record(resolver: Resolver, from_domain: str) -> _DMARCRecord | None:
    """RFC 7489 6.6.3: the record at _dmarc.<From domain>, else at _dmarc.<organizational domain>."""
    candidates = [from_domain]
    org = organizational_domain(from_domain)
    if org != from_domain:
        candidates.append(org)
    for domain in candidates:
        records = [r for r in await resolver.txt(f"_dmarc.{domain}") if _DMARC_VERSION.match(r)]
        if len(records) > 1:
            return None  # RFC 7489 6.6.3 step 5: several records mean no DMARC processing
        if records:
            return _parse_dmarc(domain, records[0])
    return None


def _parse_dmarc(domain: str, text: str) -> _DMARCRecord:
    """Parse a DMARC record; bad optional tags fall back to defaults (RFC 7489 6.3), a bad p= is an error
    unless rua= is present, in which case the record counts as p=none (6.6.3 step 6)."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), value.strip())
    policy = tags.get("p", "").lower()
    subdomain_policy = tags.get("sp", policy).lower()
    if policy not in _POLICIES or subdomain_policy not in _POLICIES:
        if not tags.get("rua"):
            raise _DMARCError("permerror", f"invalid DMARC record at _dmarc.{domain}")
        policy = subdomain_policy = "none"
    pct_text = tags.get("pct", "100")
    pct = int(pct_text) if pct_text.isdigit() and int(pct_text) <= 100 else 100
    adkim = tags.get("adkim", "r").lower()
    aspf = tags.get("aspf", "r").lower()
    return _DMARCRecord(
        domain,
        policy,
        subdomain_policy,
        pct=pct,
        adkim=adkim if adkim in ("r", "s") else "r",
        aspf=aspf if aspf in ("r", "s") else "r",
    )


# ---------------------------------------------------------------------------------------------------
# Header handling
# ---------------------------------------------------------------------------------------------------


def _split_fields(message: bytes) -> tuple[list[bytes], bytes]:
    """Split the header section into raw fields (continuation lines attached, line endings kept) and
    return the rest, starting with the blank line, untouched."""
    fields: list[bytes] = []
    pos = 0
    while pos < len(message):
        end = message.find(b"\n", pos)
        end = len(message) if end < 0 else end + 1
        line = message[pos:end]
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos = end
    return fields, message[pos:]


def _header_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    """(lower-case name, raw value) for each header field."""
    pairs = []
    for raw in _split_fields(message)[0]:
        name, colon, value = raw.partition(b":")
        if colon:
            pairs.append((name.strip().lower(), value))
    return pairs


def _authserv_id(value: bytes) -> str:
    """The authserv-id at the start of an Authentication-Results value, after any comments."""
    text = re.sub(r"\r?\n", "", value.decode("utf-8", "replace"))
    pos, depth = 0, 0
    while pos < len(text):
        char = text[pos]
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == "\\" and depth:
            pos += 1
        elif not depth and not char.isspace():
            break
        pos += 1
    text = text[pos:]
    if text.startswith('"'):
        quoted = re.match(r'"((?:[^"\\]|\\.)*)"', text)
        return re.sub(r"\\(.)", r"\1", quoted.group(1)).lower() if quoted else ""
    return re.split(r"[\s;(]", text, maxsplit=1)[0].lower()


def strip_forged_results(message: bytes, authserv_id: str) -> bytes:
    """Remove incoming Authentication-Results fields claiming to come from us (RFC 8601 5), so that only
    the header we add carries our name; fields of other authserv-ids and the body are left as they are."""
    ours = authserv_id.strip().lower()
    fields, rest = _split_fields(message)
    kept = []
    for raw in fields:
        name, colon, value = raw.partition(b":")
        if colon and name.strip().lower() == b"authentication-results" and _authserv_id(value) == ours:
            continue
        kept.append(raw)
    return b"".join(kept) + rest
