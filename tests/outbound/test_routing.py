"""Routing against a real DNS server: MX preference, implicit MX, null MX, missing domains, DNS failures."""

from __future__ import annotations

import pytest
from tests.dnsserver import DNSServer, dns_server

from arobase.outbound.routing import Router, RoutingError
from arobase.services.dns import Resolver

__all__ = ["dns_server"]


def router(dns: DNSServer, **kwargs: object) -> Router:
    return Router(Resolver(dns.host, dns.port, timeout=1, lifetime=2), **kwargs)  # type: ignore[arg-type]


async def test_mx_by_preference_equal_ones_shuffled(dns_server: DNSServer) -> None:
    dns_server.add("example.test", "MX", "20 backup.example.test.")
    for name in ("a", "b", "c"):
        dns_server.add("example.test", "MX", f"10 {name}.example.test.")
        dns_server.add(f"{name}.example.test", "A", "192.0.2.1")
    dns_server.add("backup.example.test", "AAAA", "2001:db8::25")
    orders = set()
    for _ in range(30):
        hosts = await router(dns_server, port=2525).hosts("example.test")
        assert hosts[-1].name == "backup.example.test"
        assert hosts[-1].addresses == ("2001:db8::25",)
        assert all(host.port == 2525 for host in hosts)
        orders.add(tuple(host.name for host in hosts[:3]))
    assert len(orders) > 1  # random order among equal preferences


async def test_domain_without_mx_is_its_own_host(dns_server: DNSServer) -> None:
    dns_server.add("plain.test", "A", "192.0.2.7")
    (host,) = await router(dns_server).hosts("plain.test")
    assert (host.name, host.addresses, host.port) == ("plain.test", ("192.0.2.7",), 25)


async def test_null_mx_and_missing_domain_are_permanent(dns_server: DNSServer) -> None:
    dns_server.add("nomail.test", "MX", "0 .")
    with pytest.raises(RoutingError) as null:
        await router(dns_server).hosts("nomail.test")
    assert (null.value.status, null.value.permanent) == ("5.1.10", True)
    with pytest.raises(RoutingError) as missing:
        await router(dns_server).hosts("missing.test")
    assert (missing.value.status, missing.value.permanent) == ("5.1.2", True)


async def test_dns_failure_is_temporary(dns_server: DNSServer) -> None:
    dns_server.fail("broken.test")
    with pytest.raises(RoutingError) as failed:
        await router(dns_server).hosts("broken.test")
    assert failed.value.permanent is False
    assert failed.value.status.startswith("4.")


async def test_static_routes_and_smarthost(dns_server: DNSServer) -> None:
    dns_server.add("relay.example.test", "A", "192.0.2.9")
    routes = {"gmail.test": ("127.0.0.3", 2525), "*": ("relay.example.test", 587)}
    r = router(dns_server, routes=routes)
    (direct,) = await r.hosts("gmail.test")
    assert (direct.addresses, direct.port, direct.static) == (("127.0.0.3",), 2525, True)
    (smarthost,) = await r.hosts("anything.test")
    assert (smarthost.name, smarthost.addresses, smarthost.port) == ("relay.example.test", ("192.0.2.9",), 587)


async def test_address_literal(dns_server: DNSServer) -> None:
    (host,) = await router(dns_server).hosts("[192.0.2.4]")
    assert host.addresses == ("192.0.2.4",)
