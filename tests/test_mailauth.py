"""Tests for SPF, DKIM, DMARC and Authentication-Results, against the real local DNS server."""

from __future__ import annotations

import base64
import ipaddress
import re

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests import dnsserver
from tests.dnsserver import DNSServer, unused_port

from arobase.services.dns import Resolver, TemporaryDNSError
from arobase.services.mailauth import (
    AuthResults,
    DKIMResult,
    _expand,
    _SPFCheck,
    authenticate,
    check_spf,
    organizational_domain,
    strip_forged_results,
    verify_dkim,
)

dns_server = dnsserver.dns_server

AUTHSERV = "mx.example.net"


@pytest.fixture(scope="module")
def dkim_key() -> tuple[bytes, str]:
    """A fresh RSA key: the private key in PEM for dkimpy, the DKIM TXT record for DNS."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()


@pytest.fixture
def resolver(dns_server: DNSServer) -> Resolver:
    return Resolver(dns_server.host, dns_server.port, timeout=1, lifetime=2)


@pytest.fixture
def dead_resolver() -> Resolver:
    """A resolver pointed at a port where nothing listens: every lookup is a temporary failure."""
    return Resolver("127.0.0.1", unused_port(), timeout=0.2, lifetime=0.3)


def make_message(sender: str = "Alice <alice@example.org>", body: bytes = b"Hello Bob.\r\n") -> bytes:
    return (
        f"From: {sender}\r\nTo: bob@example.net\r\nSubject: Lunch\r\nMessage-ID: <1@example.org>\r\n\r\n".encode()
        + body
    )


def sign(message: bytes, key: bytes, domain: str = "example.org", selector: str = "sel") -> bytes:
    signature = dkim.sign(message, selector.encode(), domain.encode(), key, include_headers=[b"from", b"subject"])
    return signature + message


async def spf(resolver: Resolver, ip: str, mail_from: str = "alice@example.org", helo: str = "mail.example.org") -> str:
    return (await check_spf(ip, mail_from, helo, resolver)).result


# -- Resolver -------------------------------------------------------------------------------------


async def test_resolver_helpers(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "MX", "20 mx2.example.org")
    dns_server.add("example.org", "MX", "10 MX1.example.org")
    dns_server.add("example.org", "A", "192.0.2.1")
    dns_server.add("example.org", "AAAA", "2001:db8:0::1")
    dns_server.add("example.org", "TXT", "x" * 300)
    dns_server.add("192.0.2.1", "PTR", "mail.example.org")
    dns_server.add("nomail.example.org", "MX", "0 .")
    dns_server.add("sel.sel._domainkey.example.org", "A", "192.0.2.2")
    assert await resolver.mx("example.org") == [(10, "mx1.example.org"), (20, "mx2.example.org")]
    assert await resolver.mx("nomail.example.org") == [(0, ".")]
    assert await resolver.mx("missing.example.org") is None
    assert await resolver.mx("nomail.example.org.") == [(0, ".")]
    assert await resolver.a("example.org") == ["192.0.2.1"]
    assert await resolver.aaaa("example.org") == ["2001:db8::1"]
    assert await resolver.a("nomail.example.org") == []
    assert await resolver.mx("sel._domainkey.example.org") == []  # empty non-terminal: NODATA
    assert await resolver.txt("example.org") == ["x" * 300]
    assert await resolver.txt("missing.example.org") == []
    assert await resolver.ptr("192.0.2.1") == ["mail.example.org"]
    assert resolver.dnsfunc(b"example.org.") == b"x" * 300
    assert resolver.dnsfunc(b"missing.example.org.") == b""
    assert await resolver.adnsfunc(b"example.org") == b"x" * 300


async def test_resolver_temporary_failures(dns_server: DNSServer, resolver: Resolver, dead_resolver: Resolver) -> None:
    dns_server.fail("broken.example.org")
    with pytest.raises(TemporaryDNSError):
        await resolver.txt("broken.example.org")
    with pytest.raises(TemporaryDNSError):
        await dead_resolver.a("example.org")
    with pytest.raises(TemporaryDNSError):
        dead_resolver.dnsfunc(b"example.org.")


# -- SPF ------------------------------------------------------------------------------------------


async def test_spf_basic_results(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 ip4:127.0.0.1 ip4:192.0.2.0/24 -all")
    dns_server.add("example.org", "TXT", "google-site-verification=abc")
    dns_server.add("soft.example.org", "TXT", "v=spf1 ip4:127.0.0.1 ~all")
    dns_server.add("neutral.example.org", "TXT", "v=spf1 ?all")
    dns_server.add("open.example.org", "TXT", "v=spf1 ip4:10.0.0.1")
    dns_server.add("nospf.example.org", "TXT", "v=spf10 -all")
    assert await spf(resolver, "127.0.0.1") == "pass"
    assert await spf(resolver, "192.0.2.200") == "pass"
    assert await spf(resolver, "127.0.0.2") == "fail"
    assert await spf(resolver, "127.0.0.2", "a@soft.example.org") == "softfail"
    assert await spf(resolver, "127.0.0.1", "a@neutral.example.org") == "neutral"
    assert await spf(resolver, "127.0.0.1", "a@open.example.org") == "neutral"
    assert await spf(resolver, "127.0.0.1", "a@nospf.example.org") == "none"
    assert await spf(resolver, "127.0.0.1", "a@unknown.example.org") == "none"
    assert await spf(resolver, "127.0.0.1", "a@localhost") == "none"
    result = await check_spf("127.0.0.2", "<Alice@Example.ORG>", "mail.example.org", resolver)
    assert result.domain == "example.org" and result.result == "fail" and "-all" in result.reason


async def test_spf_empty_mail_from_checks_postmaster_at_helo(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("mail.example.org", "TXT", "v=spf1 exists:%{l}.%{o}.check.example.org -all")
    dns_server.add("postmaster.mail.example.org.check.example.org", "A", "127.0.0.2")
    result = await check_spf("127.0.0.1", "<>", "mail.example.org", resolver)
    assert (result.result, result.domain) == ("pass", "mail.example.org")
    assert await spf(resolver, "127.0.0.1", "", helo="[127.0.0.1]") == "none"


async def test_spf_include_and_redirect(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 include:_spf.example.net -all")
    dns_server.add("_spf.example.net", "TXT", "v=spf1 ip4:192.0.2.0/24 ?all")
    dns_server.add("redirected.example.org", "TXT", "v=spf1 ip4:10.0.0.1 redirect=_spf.example.net")
    dns_server.add("badinclude.example.org", "TXT", "v=spf1 include:nothing.example.net -all")
    dns_server.add("badredirect.example.org", "TXT", "v=spf1 redirect=nothing.example.net")
    dns_server.add("allwins.example.org", "TXT", "v=spf1 -all redirect=_spf.example.net")
    assert await spf(resolver, "192.0.2.9") == "pass"
    assert await spf(resolver, "198.51.100.1") == "fail"  # include's ?all is "no match", then -all
    assert await spf(resolver, "10.0.0.1", "a@redirected.example.org") == "pass"
    assert await spf(resolver, "192.0.2.9", "a@redirected.example.org") == "pass"
    assert await spf(resolver, "198.51.100.1", "a@redirected.example.org") == "neutral"
    assert await spf(resolver, "192.0.2.9", "a@badinclude.example.org") == "permerror"
    assert await spf(resolver, "192.0.2.9", "a@badredirect.example.org") == "permerror"
    assert await spf(resolver, "192.0.2.9", "a@allwins.example.org") == "fail"


async def test_spf_a_mx_and_ptr(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 a mx/24 a:other.example.net//64 -all")
    dns_server.add("example.org", "A", "192.0.2.1")
    dns_server.add("example.org", "MX", "10 mail.example.org")
    dns_server.add("mail.example.org", "A", "198.51.100.10")
    dns_server.add("other.example.net", "AAAA", "2001:db8:1:2::1")
    assert await spf(resolver, "192.0.2.1") == "pass"
    assert await spf(resolver, "192.0.2.2") == "fail"
    assert await spf(resolver, "198.51.100.77") == "pass"
    assert await spf(resolver, "2001:db8:1:2:ffff::1") == "pass"
    assert await spf(resolver, "2001:db8:1:3::1") == "fail"

    dns_server.add("ptr.example.org", "TXT", "v=spf1 ptr -all")
    dns_server.add("192.0.2.1", "PTR", "host.ptr.example.org")
    dns_server.add("host.ptr.example.org", "A", "192.0.2.1")
    dns_server.add("192.0.2.2", "PTR", "liar.ptr.example.org")  # its A record does not point back
    assert await spf(resolver, "192.0.2.1", "a@ptr.example.org") == "pass"
    assert await spf(resolver, "192.0.2.2", "a@ptr.example.org") == "fail"


async def test_spf_ip6(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 ip4:127.0.0.1 ip6:2001:db8::/32 ip6:2001:db9::1 -all")
    assert await spf(resolver, "2001:db8:ffff::1") == "pass"
    assert await spf(resolver, "2001:db9::1") == "pass"
    assert await spf(resolver, "2001:db9::2") == "fail"
    assert await spf(resolver, "::ffff:127.0.0.1") == "pass"  # IPv4-mapped is checked as IPv4


async def test_spf_ten_lookup_limit(dns_server: DNSServer, resolver: Resolver) -> None:
    for i in range(11):
        dns_server.add(f"h{i}.example.org", "A", f"192.0.2.{i}")
    ten = " ".join(f"a:h{i}.example.org" for i in range(10))
    dns_server.add("ten.example.org", "TXT", f"v=spf1 {ten} -all")
    dns_server.add("eleven.example.org", "TXT", f"v=spf1 {ten} a:h10.example.org -all")
    assert await spf(resolver, "198.51.100.1", "a@ten.example.org") == "fail"
    assert await spf(resolver, "192.0.2.9", "a@eleven.example.org") == "pass"  # matched before the limit
    result = await check_spf("198.51.100.1", "a@eleven.example.org", "h", resolver)
    assert result.result == "permerror" and "10 DNS lookups" in result.reason
    queried = [q for q in dns_server.queries if q[0] == "h10.example.org"]
    assert queried == []  # the eleventh lookup is never sent

    dns_server.add("loop.example.org", "TXT", "v=spf1 include:loop.example.org -all")
    assert await spf(resolver, "192.0.2.1", "a@loop.example.org") == "permerror"


async def test_spf_void_lookup_limit(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 a:n1.example.org a:n2.example.org a:n3.example.org -all")
    dns_server.add("two.example.org", "TXT", "v=spf1 a:n1.example.org a:n2.example.org -all")
    assert await spf(resolver, "192.0.2.1") == "permerror"
    assert await spf(resolver, "192.0.2.1", "a@two.example.org") == "fail"


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:300.1.1.1 -all",
        "v=spf1 ip4:192.0.2.0/33 -all",
        "v=spf1 ip6:2001:db8::/129 -all",
        "v=spf1 foo -all",
        "v=spf1 include -all",
        "v=spf1 a:single-label -all",
        "v=spf1 exists:%{z}.example.org -all",
        "v=spf1 exists:%{d0}.example.org -all",
        "v=spf1 exists:100%.example.org -all",
        "v=spf1 redirect=a.example.org redirect=b.example.org",
        "v=spf1 -all unknown=%{",
    ],
)
async def test_spf_syntax_errors_are_permerror(dns_server: DNSServer, resolver: Resolver, record: str) -> None:
    dns_server.add("example.org", "TXT", record)
    assert await spf(resolver, "192.0.2.1") == "permerror"


async def test_spf_unknown_modifier_is_ignored_and_two_records_are_permerror(
    dns_server: DNSServer, resolver: Resolver
) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 ip4:192.0.2.1 moo=%{d}.cow -all")
    assert await spf(resolver, "192.0.2.1") == "pass"
    dns_server.add("example.org", "TXT", "v=spf1 -all")
    assert await spf(resolver, "192.0.2.1") == "permerror"


async def test_spf_temperror(dns_server: DNSServer, resolver: Resolver, dead_resolver: Resolver) -> None:
    assert await spf(dead_resolver, "192.0.2.1") == "temperror"
    dns_server.add("example.org", "TXT", "v=spf1 include:broken.example.net -all")
    dns_server.fail("broken.example.net")
    assert await spf(resolver, "192.0.2.1") == "temperror"


# RFC 7208 section 7.4: sender strong-bad@email.example.com, client 192.0.2.3 (or 2001:db8::cb01).
@pytest.mark.parametrize(
    ("spec", "ip", "expected"),
    [
        ("%{s}", "192.0.2.3", "strong-bad@email.example.com"),
        ("%{o}", "192.0.2.3", "email.example.com"),
        ("%{d}", "192.0.2.3", "email.example.com"),
        ("%{d4}", "192.0.2.3", "email.example.com"),
        ("%{d3}", "192.0.2.3", "email.example.com"),
        ("%{d2}", "192.0.2.3", "example.com"),
        ("%{d1}", "192.0.2.3", "com"),
        ("%{dr}", "192.0.2.3", "com.example.email"),
        ("%{d2r}", "192.0.2.3", "example.email"),
        ("%{l}", "192.0.2.3", "strong-bad"),
        ("%{l-}", "192.0.2.3", "strong.bad"),
        ("%{lr}", "192.0.2.3", "strong-bad"),
        ("%{lr-}", "192.0.2.3", "bad.strong"),
        ("%{l1r-}", "192.0.2.3", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "192.0.2.3", "bad.strong.lp._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "192.0.2.3", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "192.0.2.3", "example.com.trusted-domains.example.net"),
        (
            "%{ir}.%{v}._spf.%{d2}",
            "2001:db8::cb01",
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
        ),
        ("%{h}.%{p}", "192.0.2.3", "helo.example.com.unknown"),
        ("%{S}", "192.0.2.3", "strong-bad%40email.example.com"),
        ("%%%_%-.x.example.com", "192.0.2.3", "% %20.x.example.com"),
    ],
)
async def test_spf_macro_expansion(resolver: Resolver, spec: str, ip: str, expected: str) -> None:
    check = _SPFCheck(
        ip=ipaddress.ip_address(ip), sender="strong-bad@email.example.com", helo="helo.example.com", resolver=resolver
    )
    assert await _expand(check, spec, "email.example.com") == expected


async def test_spf_macros_end_to_end(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("example.org", "TXT", "v=spf1 exists:%{ir}.%{l1r+}.%{d}.allow.example.org -all")
    dns_server.add("1.2.0.192.alice.example.org.allow.example.org", "A", "127.0.0.2")
    assert await spf(resolver, "192.0.2.1", "alice+tag@example.org") == "pass"
    assert await spf(resolver, "192.0.2.2", "alice+tag@example.org") == "fail"
    dns_server.add("long.example.org", "TXT", "v=spf1 exists:%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.%{s}.x.org -all")
    long_sender = "a" * 40 + "@long.example.org"
    assert await spf(resolver, "192.0.2.2", long_sender) == "fail"
    sent = [q[0] for q in dns_server.queries if q[0].endswith(".x.org")]
    assert sent and all(len(name) <= 253 for name in sent)


# -- DKIM -----------------------------------------------------------------------------------------


async def test_dkim_pass_fail_and_missing_key(
    dns_server: DNSServer, resolver: Resolver, dkim_key: tuple[bytes, str]
) -> None:
    private, record = dkim_key
    dns_server.add("sel._domainkey.example.org", "TXT", record)
    signed = sign(make_message(), private)
    assert await verify_dkim(signed, resolver) == [DKIMResult("pass", "example.org", "sel")]

    tampered = signed.replace(b"Hello Bob.", b"Hello Eve.")
    assert await verify_dkim(tampered, resolver) == [("fail", "example.org", "sel")]
    resigned_header = signed.replace(b"Subject: Lunch", b"Subject: Dinner")
    assert await verify_dkim(resigned_header, resolver) == [("fail", "example.org", "sel")]

    no_key = sign(make_message(), private, selector="gone")
    assert await verify_dkim(no_key, resolver) == [("permerror", "example.org", "gone")]
    assert await verify_dkim(make_message(), resolver) == []


async def test_dkim_several_signatures_index_by_index(
    dns_server: DNSServer, resolver: Resolver, dkim_key: tuple[bytes, str]
) -> None:
    private, record = dkim_key
    dns_server.add("sel._domainkey.example.org", "TXT", record)
    dns_server.add("bad._domainkey.example.net", "TXT", "v=DKIM1; k=rsa; p=not-base64!")
    message = sign(sign(make_message(), private, domain="example.net", selector="bad"), private)
    broken = b"DKIM-Signature: v=1; d=example.com; s=x; b=\r\n" + message
    assert await verify_dkim(broken, resolver) == [
        ("permerror", "example.com", "x"),
        ("pass", "example.org", "sel"),
        ("permerror", "example.net", "bad"),
    ]


async def test_dkim_temperror(dead_resolver: Resolver, dkim_key: tuple[bytes, str]) -> None:
    signed = sign(make_message(), dkim_key[0])
    assert await verify_dkim(signed, dead_resolver) == [("temperror", "example.org", "sel")]


# -- DMARC ----------------------------------------------------------------------------------------


async def auth(resolver: Resolver, message: bytes, ip: str = "192.0.2.1", mail_from: str = "") -> AuthResults:
    return await authenticate(
        message,
        client_ip=ip,
        helo="mail.example.org",
        mail_from=mail_from or "bounce@example.org",
        resolver=resolver,
        authserv_id=AUTHSERV,
    )


async def test_dmarc_pass_by_spf_alignment_relaxed_and_strict(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    dns_server.add("bounces.example.org", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    dns_server.add("_dmarc.strict.example", "TXT", "v=DMARC1; p=quarantine; aspf=s")
    dns_server.add("bounces.strict.example", "TXT", "v=spf1 ip4:192.0.2.1 -all")

    results = await auth(resolver, make_message(), mail_from="x@bounces.example.org")
    assert (results.spf, results.spf_domain, results.dkim) == ("pass", "bounces.example.org", [])
    assert (results.dmarc, results.dmarc_policy, results.from_domain) == ("pass", "none", "example.org")
    assert results.dmarc_published_policy == "reject"

    strict = await auth(resolver, make_message("a@strict.example"), mail_from="x@bounces.strict.example")
    assert (strict.spf, strict.dmarc, strict.dmarc_policy) == ("pass", "fail", "quarantine")


async def test_dmarc_pass_by_dkim_alignment(
    dns_server: DNSServer, resolver: Resolver, dkim_key: tuple[bytes, str]
) -> None:
    private, record = dkim_key
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    dns_server.add("sel._domainkey.example.org", "TXT", record)
    dns_server.add("sel._domainkey.mail.example.org", "TXT", record)
    dns_server.add("sel._domainkey.example.net", "TXT", record)
    dns_server.add("example.org", "TXT", "v=spf1 -all")

    results = await auth(resolver, sign(make_message(), private))
    assert results.spf == "fail" and results.dkim == [("pass", "example.org", "sel")]
    assert results.dmarc == "pass"

    relaxed = await auth(resolver, sign(make_message(), private, domain="mail.example.org"))
    assert relaxed.dmarc == "pass"
    dns_server.remove("_dmarc.example.org")
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; adkim=s")
    strict = await auth(resolver, sign(make_message(), private, domain="mail.example.org"))
    assert (strict.dmarc, strict.dmarc_policy) == ("fail", "reject")

    unaligned = await auth(resolver, sign(make_message(), private, domain="example.net"))
    assert unaligned.dkim == [("pass", "example.net", "sel")] and unaligned.dmarc == "fail"


async def test_dmarc_fail_reports_reject_and_pct_lowers_it(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.org")
    dns_server.add("example.org", "TXT", "v=spf1 -all")
    results = await auth(resolver, make_message())
    assert (results.spf, results.dmarc, results.dmarc_policy) == ("fail", "fail", "reject")
    assert "dmarc=fail (p=reject dis=reject) header.from=example.org" in results.header()

    dns_server.remove("_dmarc.example.org")
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; pct=0")
    assert (await auth(resolver, make_message())).dmarc_policy == "quarantine"
    dns_server.remove("_dmarc.example.org")
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=quarantine; pct=0")
    assert (await auth(resolver, make_message())).dmarc_policy == "none"


async def test_dmarc_subdomain_policy_and_organizational_domain(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    dns_server.add("_dmarc.example.co.uk", "TXT", "v=DMARC1; p=reject")
    dns_server.add("_dmarc.own.example.org", "TXT", "v=DMARC1; p=none")

    sub = await auth(resolver, make_message("a@news.example.org"))
    assert (sub.dmarc, sub.dmarc_published_policy, sub.dmarc_policy) == ("fail", "quarantine", "quarantine")
    top = await auth(resolver, make_message("a@example.org"))
    assert (top.dmarc, top.dmarc_policy) == ("fail", "reject")
    own = await auth(resolver, make_message("a@own.example.org"))
    assert (own.dmarc, own.dmarc_policy) == ("fail", "none")
    uk = await auth(resolver, make_message("a@deep.news.example.co.uk"))
    assert (uk.dmarc, uk.dmarc_policy) == ("fail", "reject")

    assert organizational_domain("a.b.example.org") == "example.org"
    assert organizational_domain("mail.example.co.uk.") == "example.co.uk"
    assert organizational_domain("example.com.au") == "example.com.au"
    assert organizational_domain("org") == "org"


async def test_dmarc_none_permerror_temperror(dns_server: DNSServer, resolver: Resolver) -> None:
    assert (await auth(resolver, make_message("a@nodmarc.example"))).dmarc == "none"
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=bogus")
    assert (await auth(resolver, make_message())).dmarc == "permerror"
    dns_server.add("_dmarc.two.example", "TXT", "v=DMARC1; p=reject")
    dns_server.add("_dmarc.two.example", "TXT", "v=DMARC1; p=none")
    assert (await auth(resolver, make_message("a@two.example"))).dmarc == "none"
    dns_server.fail("_dmarc.broken.example")
    assert (await auth(resolver, make_message("a@broken.example"))).dmarc == "temperror"

    no_from = b"To: bob@example.net\r\nSubject: x\r\n\r\nbody\r\n"
    results = await auth(resolver, no_from)
    assert (results.dmarc, results.from_domain) == ("none", None)
    two_from = b"From: a@example.org\r\nFrom: b@example.net\r\n\r\nbody\r\n"
    assert (await auth(resolver, two_from)).dmarc == "permerror"
    two_domains = make_message("a@example.org, b@example.net")
    assert (await auth(resolver, two_domains)).dmarc == "permerror"


async def test_dmarc_temperror_when_aligned_spf_could_not_be_checked(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    dns_server.fail("example.org")
    results = await auth(resolver, make_message())
    assert (results.spf, results.dmarc, results.dmarc_policy) == ("temperror", "temperror", "none")


# -- Authentication-Results -----------------------------------------------------------------------


async def test_header_format(dns_server: DNSServer, resolver: Resolver, dkim_key: tuple[bytes, str]) -> None:
    private, record = dkim_key
    dns_server.add("sel._domainkey.example.org", "TXT", record)
    dns_server.add("example.org", "TXT", "v=spf1 ip4:192.0.2.1 -all")
    dns_server.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    results = await auth(resolver, sign(make_message(), private), mail_from="<alice@example.org>")
    assert results.header() == (
        "Authentication-Results: mx.example.net;\r\n"
        "\tspf=pass smtp.mailfrom=alice@example.org;\r\n"
        "\tdkim=pass header.d=example.org header.s=sel;\r\n"
        "\tdmarc=pass (p=reject dis=none) header.from=example.org\r\n"
    )

    null_sender = await authenticate(
        make_message(),
        client_ip="192.0.2.9",
        helo="mail.example.org",
        mail_from="",
        resolver=resolver,
        authserv_id=AUTHSERV,
    )
    assert null_sender.header() == (
        "Authentication-Results: mx.example.net;\r\n"
        "\tspf=none smtp.helo=mail.example.org;\r\n"
        "\tdkim=none;\r\n"
        "\tdmarc=fail (p=reject dis=reject) header.from=example.org\r\n"
    )


def test_header_quotes_hostile_values_and_folds_long_lines() -> None:
    results = AuthResults(
        authserv_id=AUTHSERV,
        spf="permerror",
        spf_domain="example.org",
        spf_identity='"odd local"@example.org',
        spf_reason="more than 10 DNS lookups (really)",
        dkim=[DKIMResult("fail", "evil.example;\r\nX-Injected: yes", "s" * 50)],
        dmarc="none",
        dmarc_reason="no DMARC record for example.org",
        from_domain="example.org",
    )
    header = results.header()
    lines = header.split("\r\n")
    assert header.endswith("\r\n") and lines[-1] == ""
    assert all(line.startswith("\t") for line in lines[1:-1])
    assert all(len(line.expandtabs(8)) <= 78 for line in lines)
    assert "X-Injected" not in "".join(line for line in lines if not line.startswith("\t"))
    assert "\n" not in header.replace("\r\n", "")
    unfolded = re.sub(r"\r\n[ \t]+", " ", header)
    assert 'spf=permerror (more than 10 DNS lookups really) smtp.mailfrom="\\"odd local\\"@example.org";' in (unfolded)
    assert 'header.d="evil.example;X-Injected: yes"' in unfolded
    assert "dmarc=none (no DMARC record for example.org) header.from=example.org" in unfolded


# -- strip_forged_results -------------------------------------------------------------------------


def test_strip_forged_results_removes_only_ours() -> None:
    message = (
        b"Received: from a by b;\r\n\tThu, 1 Jan 2026 00:00:00 +0000\r\n"
        b"Authentication-Results: mx.example.net; spf=pass\r\n"
        b"authentication-results:  MX.Example.NET;\r\n\tdkim=pass header.d=evil.example;\r\n"
        b"\tdmarc=pass\r\n"
        b"Authentication-Results: (forged) mx.example.net; dmarc=pass\r\n"
        b'Authentication-Results: "mx.example.net"; spf=pass\r\n'
        b"Authentication-Results: mx.example.net.evil; spf=pass\r\n"
        b"Authentication-Results: other.example; spf=fail\r\n"
        b"Subject: hi\r\n"
        b"\r\n"
        b"Authentication-Results: mx.example.net; this is the body\r\n"
    )
    assert strip_forged_results(message, "mx.example.net") == (
        b"Received: from a by b;\r\n\tThu, 1 Jan 2026 00:00:00 +0000\r\n"
        b"Authentication-Results: mx.example.net.evil; spf=pass\r\n"
        b"Authentication-Results: other.example; spf=fail\r\n"
        b"Subject: hi\r\n"
        b"\r\n"
        b"Authentication-Results: mx.example.net; this is the body\r\n"
    )


def test_strip_forged_results_lf_endings_and_no_body() -> None:
    message = b"Authentication-Results: mx.example.net;\n spf=pass\nFrom: a@example.org\n\nbody\n"
    assert strip_forged_results(message, "MX.EXAMPLE.NET") == b"From: a@example.org\n\nbody\n"
    assert strip_forged_results(b"Authentication-Results: mx.example.net; x\r\n", "mx.example.net") == b""
    untouched = b"From: a@example.org\r\n\r\n"
    assert strip_forged_results(untouched, "mx.example.net") == untouched
