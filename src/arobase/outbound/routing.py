"""Where mail for a domain goes: static routes, then MX records (RFC 5321 5.1), then the domain's own address.

The answer is an ordered list of hosts to try, each with its addresses. MX hosts are tried by preference,
equal preferences in random order so load spreads over them. A domain without MX records is its own mail
host (the "implicit MX"); a null MX (RFC 7505) or a domain that does not exist is a permanent failure,
and a DNS problem that may pass (timeout, SERVFAIL) a temporary one.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field

from ..services.dns import Resolver, TemporaryDNSError


class RoutingError(Exception):
    """No host can be tried for this domain. `permanent` decides between bounce and retry."""

    def __init__(self, status: str, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Host:
    """One host to try: its name (for TLS and the DSN), its addresses in the order to try them, its port."""

    name: str
    addresses: tuple[str, ...]
    port: int
    static: bool = False  # a configured route: AUTH with the relay credentials when offered


@dataclass(slots=True)
class Router:
    resolver: Resolver
    port: int = 25
    routes: dict[str, tuple[str, int]] = field(default_factory=dict)

    def static_route(self, domain: str) -> tuple[str, int] | None:
        return self.routes.get(domain) or self.routes.get("*")

    def destination(self, domain: str) -> str:
        """A key naming where the domain's mail goes without a DNS lookup, for grouping and logs."""
        static = self.static_route(domain)
        return f"{static[0]}:{static[1]}" if static else domain

    async def hosts(self, domain: str) -> list[Host]:
        """Hosts to try for `domain`, best first; raises RoutingError when there is none."""
        static = self.static_route(domain)
        if static is not None:
            name, port = static
            return [Host(name, tuple(await self._addresses(name)), port, static=True)]
        if domain.startswith("[") and domain.endswith("]"):  # an address literal: user@[192.0.2.1]
            literal = domain[1:-1].removeprefix("IPv6:").removeprefix("ipv6:")
            try:
                return [Host(domain, (str(ipaddress.ip_address(literal)),), self.port)]
            except ValueError:
                raise RoutingError("5.1.2", f"{domain} is not a valid address literal", permanent=True) from None
        try:
            records = await self.resolver.mx(domain)
        except TemporaryDNSError as e:
            raise RoutingError("4.4.3", f"MX lookup failed: {e}", permanent=False) from None
        if records is None:
            raise RoutingError("5.1.2", f"domain {domain} does not exist", permanent=True)
        if any(host == "." for _, host in records):
            # RFC 7505 3: a null MX means the domain accepts no mail at all.
            raise RoutingError("5.1.10", f"domain {domain} does not accept mail (null MX)", permanent=True)
        names = _ordered(records) if records else [domain]
        hosts = []
        temporary: TemporaryDNSError | None = None
        for name in names:
            try:
                addresses = await self._addresses(name)
            except TemporaryDNSError as e:
                temporary = e
                continue
            if addresses:
                hosts.append(Host(name, tuple(addresses), self.port))
        if hosts:
            return hosts
        if temporary is not None:
            raise RoutingError("4.4.3", f"address lookup failed: {temporary}", permanent=False)
        if not records:
            raise RoutingError("5.1.2", f"domain {domain} has no MX and no address", permanent=True)
        return_text = ", ".join(names)
        raise RoutingError("4.4.4", f"no address for the MX hosts of {domain}: {return_text}", permanent=False)

    async def _addresses(self, name: str) -> list[str]:
        """IPv4 then IPv6 addresses of a host name; an IP address stands for itself."""
        try:
            return [str(ipaddress.ip_address(name))]
        except ValueError:
            pass
        return [*await self.resolver.a(name), *await self.resolver.aaaa(name)]


def _ordered(records: list[tuple[int, str]]) -> list[str]:
    """MX host names by preference, shuffled among equal preferences, each once."""
    by_preference: dict[int, list[str]] = {}
    for preference, host in records:
        by_preference.setdefault(preference, []).append(host)
    names: list[str] = []
    for preference in sorted(by_preference):
        group = by_preference[preference]
        random.shuffle(group)
        names += [host for host in group if host not in names]
    return names
