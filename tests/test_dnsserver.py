"""Tests for the local DNS test server, queried by dnspython over real UDP and TCP sockets."""

from __future__ import annotations

import socket

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest
from tests import dnsserver
from tests.dnsserver import DNSServer, unused_port

dns_server = dnsserver.dns_server


def make_resolver(server: DNSServer) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.lifetime = 2
    return resolver


def ask(server: DNSServer, name: str, rdtype: str, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, server.host, port=server.port, timeout=2)
    return dns.query.udp(query, server.host, port=server.port, timeout=2)


def test_serves_udp_and_tcp_on_the_same_port(dns_server: DNSServer) -> None:
    dns_server.add("example.org", "A", "192.0.2.1")
    for tcp in (False, True):
        response = ask(dns_server, "example.org", "A", tcp=tcp)
        assert response.rcode() == dns.rcode.NOERROR
        assert response.flags & dns.flags.AA
        assert [r.address for r in response.answer[0]] == ["192.0.2.1"]
    assert [q[2] for q in dns_server.queries] == ["udp", "tcp"]
    assert dns_server.queries[0][:2] == ("example.org", "A")


@pytest.mark.parametrize("tcp", [False, True])
def test_record_types_through_the_resolver(dns_server: DNSServer, tcp: bool) -> None:
    dns_server.add("example.org", "MX", "10 mx1.example.org")
    dns_server.add("example.org", "MX", "20 mx2.example.org")
    dns_server.add("Example.org", "A", "192.0.2.1")
    dns_server.add("example.org", "AAAA", "2001:db8::1")
    dns_server.add("example.org", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    dns_server.add("192.0.2.1", "PTR", "mail.example.org")
    resolver = make_resolver(dns_server)

    mx = resolver.resolve("example.org", "MX", tcp=tcp)
    assert sorted((r.preference, r.exchange.to_text()) for r in mx) == [
        (10, "mx1.example.org."),
        (20, "mx2.example.org."),
    ]
    assert [r.address for r in resolver.resolve("EXAMPLE.ORG", "A", tcp=tcp)] == ["192.0.2.1"]
    assert [r.address for r in resolver.resolve("example.org", "AAAA", tcp=tcp)] == ["2001:db8::1"]
    assert [r.strings for r in resolver.resolve("example.org", "TXT", tcp=tcp)] == [(b"v=spf1 ip4:127.0.0.1 -all",)]
    ptr = resolver.resolve("1.2.0.192.in-addr.arpa", "PTR", tcp=tcp)
    assert [r.target.to_text() for r in ptr] == ["mail.example.org."]


def test_long_txt_is_split_into_255_byte_strings(dns_server: DNSServer) -> None:
    text = "v=DKIM1; k=rsa; p=" + "A" * 600
    dns_server.add("sel._domainkey.example.org", "TXT", text)
    dns_server.add("multi.example.org", "TXT", ["first", "second"])
    resolver = make_resolver(dns_server)
    (rdata,) = resolver.resolve("sel._domainkey.example.org", "TXT")
    assert [len(s) for s in rdata.strings] == [255, 255, len(text) - 510]
    assert b"".join(rdata.strings).decode() == text
    (rdata,) = resolver.resolve("multi.example.org", "TXT")
    assert rdata.strings == (b"first", b"second")
    with pytest.raises(ValueError):
        dns_server.add("bad.example.org", "TXT", ["x" * 256])


def test_nxdomain_nodata_and_empty_non_terminal(dns_server: DNSServer) -> None:
    dns_server.add("sel._domainkey.example.org", "TXT", "v=DKIM1; p=")
    assert ask(dns_server, "unknown.example.org", "A").rcode() == dns.rcode.NXDOMAIN
    nodata = ask(dns_server, "sel._domainkey.example.org", "A")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    non_terminal = ask(dns_server, "_domainkey.example.org", "TXT")
    assert non_terminal.rcode() == dns.rcode.NOERROR and not non_terminal.answer

    resolver = make_resolver(dns_server)
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("unknown.example.org", "TXT")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("sel._domainkey.example.org", "MX")


def test_cname_is_followed_inside_the_zone(dns_server: DNSServer) -> None:
    dns_server.add("alias.example.org", "CNAME", "target.example.net")
    dns_server.add("target.example.net", "TXT", "hello")
    dns_server.add("dangling.example.org", "CNAME", "nowhere.example.net")
    resolver = make_resolver(dns_server)
    answer = resolver.resolve("alias.example.org", "TXT")
    assert answer.canonical_name.to_text() == "target.example.net."
    assert [r.strings for r in answer] == [(b"hello",)]
    cname = resolver.resolve("alias.example.org", "CNAME")
    assert [r.target.to_text() for r in cname] == ["target.example.net."]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("dangling.example.org", "A")


def test_oversized_udp_answer_is_truncated_and_resolver_retries_over_tcp(dns_server: DNSServer) -> None:
    for i in range(12):
        dns_server.add("big.example.org", "TXT", f"{i:02d}" + "x" * 200)
    udp = ask(dns_server, "big.example.org", "TXT")
    assert udp.flags & dns.flags.TC and not udp.answer
    answer = make_resolver(dns_server).resolve("big.example.org", "TXT")
    assert len(answer) == 12
    assert [q[2] for q in dns_server.queries][-2:] == ["udp", "tcp"]


def test_edit_remove_fail_and_clear(dns_server: DNSServer) -> None:
    dns_server.add("example.org", "A", "192.0.2.1")
    dns_server.add("example.org", "TXT", "x")
    dns_server.remove("example.org", "A")
    assert not ask(dns_server, "example.org", "A").answer
    assert ask(dns_server, "example.org", "TXT").answer
    dns_server.fail("example.org")
    assert ask(dns_server, "example.org", "TXT").rcode() == dns.rcode.SERVFAIL
    dns_server.clear()
    assert ask(dns_server, "example.org", "TXT").rcode() == dns.rcode.NXDOMAIN
    dns_server.add("example.org", "TXT", "y")
    dns_server.remove("example.org")
    assert ask(dns_server, "example.org", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_stop_releases_the_port() -> None:
    with DNSServer() as server:
        port = server.port
        server.add("example.org", "A", "192.0.2.1")
        assert ask(server, "example.org", "A").answer
    with socket.create_server(("127.0.0.1", port)):
        pass
    server.stop()


def test_unused_port_has_no_listener() -> None:
    port = unused_port()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
