"""One DNS resolver for the whole server: SPF, DKIM, DMARC and outbound MX lookups all go through it.

Keeping every lookup behind this class means a single place decides the nameservers, the port and the
timeouts (tests point it at a local server on 127.0.0.1), and a single rule maps DNS outcomes:
"the name does not exist" or "no such record" is an empty answer, while anything that might succeed
on retry (timeout, SERVFAIL, unreachable server) raises `TemporaryDNSError` so that callers can answer
with a temporary error rather than a wrong verdict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

__all__ = ["Resolver", "TemporaryDNSError"]

DEFAULT_TIMEOUT = 2.0
DEFAULT_LIFETIME = 5.0


class TemporaryDNSError(Exception):
    """A lookup failed in a way that may succeed later (timeout, SERVFAIL, server unreachable)."""


class Resolver:
    """Async DNS lookups with a fixed nameserver set, plus a synchronous TXT function for dkimpy.

    With no `nameservers`, the system configuration (/etc/resolv.conf) is used; otherwise exactly the
    given addresses and `port`. `timeout` bounds one attempt at one server, `lifetime` a whole lookup.
    """

    def __init__(
        self,
        nameservers: str | Sequence[str] | None = None,
        port: int = 53,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        lifetime: float = DEFAULT_LIFETIME,
        cache: bool = False,
    ) -> None:
        if isinstance(nameservers, str):
            nameservers = [nameservers]
        self.timeout = timeout
        self.lifetime = lifetime
        shared_cache = dns.resolver.LRUCache(10_000) if cache else None
        self._async = dns.asyncresolver.Resolver(configure=nameservers is None)
        self._sync = dns.resolver.Resolver(configure=nameservers is None)
        for resolver in (self._async, self._sync):
            if nameservers is not None:
                resolver.nameservers = list(nameservers)
                resolver.port = port
            resolver.timeout = timeout
            resolver.lifetime = lifetime
            # Answers are kept for their TTL: SPF, DKIM and DMARC ask the same few names for
            # every message from a sender, and a lookup costs more than the rest of a delivery.
            resolver.cache = shared_cache
        self.nameservers: list[str] = [str(ns) for ns in self._async.nameservers]
        self.port = port if nameservers is not None else self._async.port

    def __repr__(self) -> str:
        return f"<Resolver {self.nameservers} port={self.port} timeout={self.timeout} lifetime={self.lifetime}>"

    async def query(self, name: str, rdtype: str, *, lifetime: float | None = None) -> dns.resolver.Answer | None:
        """Resolve `name`/`rdtype`: None for NXDOMAIN (or a name that cannot exist), an answer whose
        `rrset` is None for NODATA, and `TemporaryDNSError` for anything worth retrying."""
        try:
            qname = dns.name.from_text(name)
            return await self._async.resolve(qname, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime)
        except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.BadEscape):
            return None
        except dns.resolver.NXDOMAIN:
            return None
        except dns.exception.DNSException as exc:
            raise TemporaryDNSError(f"{rdtype} lookup of {name} failed: {exc}") from exc
        except OSError as exc:
            raise TemporaryDNSError(f"{rdtype} lookup of {name} failed: {exc}") from exc

    async def txt(self, name: str) -> list[str]:
        """TXT records at `name`, each record's character-strings joined without separator (RFC 7208 3.3)."""
        answer = await self.query(name, "TXT")
        if answer is None or answer.rrset is None:
            return []
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset]

    async def mx(self, name: str) -> list[tuple[int, str]] | None:
        """MX records as (preference, host) sorted by preference; None when the domain does not exist.

        A null MX (RFC 7505) comes back as `(0, ".")`."""
        answer = await self.query(name, "MX")
        if answer is None:
            return None
        if answer.rrset is None:
            return []
        return sorted((rdata.preference, _host(rdata.exchange)) for rdata in answer.rrset)

    async def a(self, name: str) -> list[str]:
        """IPv4 addresses of `name`."""
        return await self._addresses(name, "A")

    async def aaaa(self, name: str) -> list[str]:
        """IPv6 addresses of `name`, in compressed form."""
        return await self._addresses(name, "AAAA")

    async def ptr(self, ip: str) -> list[str]:
        """Host names the reverse zone gives for `ip` (lower case, no trailing dot)."""
        address = ipaddress.ip_address(ip)
        answer = await self.query(dns.reversename.from_address(str(address)).to_text(), "PTR")
        if answer is None or answer.rrset is None:
            return []
        return [_host(rdata.target) for rdata in answer.rrset]

    async def _addresses(self, name: str, rdtype: str) -> list[str]:
        answer = await self.query(name, rdtype)
        if answer is None or answer.rrset is None:
            return []
        return [str(ipaddress.ip_address(rdata.address)) for rdata in answer.rrset]

    def dnsfunc(self, name: bytes | str, timeout: float = 5) -> bytes:
        """Synchronous TXT lookup with dkimpy's `dnsfunc` signature: the first TXT record's strings joined,
        or b"" when there is none. Temporary failures raise `TemporaryDNSError`, which dkimpy does not
        catch, so the caller can report a temporary error instead of a failed signature."""
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            qname = dns.name.from_text(text)
            answer = self._sync.resolve(
                qname, "TXT", search=False, raise_on_no_answer=False, lifetime=min(timeout, self.lifetime)
            )
        except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.BadEscape):
            return b""
        except dns.resolver.NXDOMAIN:
            return b""
        except (dns.exception.DNSException, OSError) as exc:
            raise TemporaryDNSError(f"TXT lookup of {text} failed: {exc}") from exc
        if answer.rrset is None:
            return b""
        return b"".join(next(iter(answer.rrset)).strings)

    async def adnsfunc(self, name: bytes | str, timeout: float = 5) -> bytes:
        """The async counterpart of `dnsfunc`, for code already running in the event loop."""
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        answer = await self.query(text, "TXT", lifetime=min(timeout, self.lifetime))
        if answer is None or answer.rrset is None:
            return b""
        return b"".join(next(iter(answer.rrset)).strings)


def _host(name: dns.name.Name) -> str:
    """A host name as text, lower case without the trailing dot; the root (null MX target) is "."."""
    if name == dns.name.root:
        return "."
    return name.to_text(omit_final_dot=True).lower()
