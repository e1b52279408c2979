"""A small authoritative DNS server on 127.0.0.1 for tests: real UDP and TCP, an in-memory zone the test edits.

SPF, DKIM and DMARC code must be tested against a real DNS server, so that the production resolver path
(UDP, truncation and TCP fallback, NXDOMAIN versus NODATA, SERVFAIL, timeouts) is exercised exactly as it
will be in production, without any internet access. Use it through the function-scoped `dns_server`
fixture::

    from tests.dnsserver import DNSServer, dns_server

    def test_spf(dns_server: DNSServer) -> None:
        dns_server.add("example.org", "TXT", "v=spf1 ip4:127.0.0.1 -all")
        ...  # point a resolver at dns_server.host, dns_server.port
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.reversename
import dns.rrset
import pytest

__all__ = ["DNSServer", "dns_server", "unused_port"]

MAX_CNAME_CHAIN = 8
UDP_MIN_PAYLOAD = 512
TXT_CHUNK = 255


def unused_port() -> int:
    """Return a TCP/UDP port on 127.0.0.1 with nothing listening, to test what happens when DNS is unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def _txt_strings(value: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    """Split a TXT value into character-strings: one long text becomes 255-byte chunks, a list is kept as given."""
    if isinstance(value, str | bytes):
        data = value.encode() if isinstance(value, str) else value
        return [data[i : i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]
    strings = [part.encode() if isinstance(part, str) else part for part in value]
    if any(len(part) > TXT_CHUNK for part in strings):
        raise ValueError("a TXT character-string holds at most 255 bytes")
    return strings


class DNSServer:
    """An authoritative server for whatever names the test adds; everything else is NXDOMAIN.

    Records are kept as immutable rrsets replaced under a lock, so a test may edit the zone while
    the server threads are answering.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        #: Every question received, as (name without trailing dot, type, "udp" or "tcp"), in arrival order.
        self.queries: list[tuple[str, str, str]] = []
        self._records: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        self._servfail: set[dns.name.Name] = set()
        self._lock = threading.Lock()
        self._udp: _UDPServer | None = None
        self._tcp: _TCPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- zone editing ---------------------------------------------------------------------------

    def add(self, name: str, rtype: str, value: str | bytes | Sequence[str | bytes], ttl: int = 300) -> None:
        """Add one record. `value` is zone-file text (`"10 mx.example.org"` for MX) except for TXT, where it
        is the raw text (split into 255-byte strings) or an explicit list of strings. For PTR, `name` may be
        an IP address."""
        rdtype = dns.rdatatype.from_text(rtype)
        if rdtype == dns.rdatatype.PTR and _is_ip(name):
            owner = dns.reversename.from_address(name)
        else:
            owner = _name(name)
        if rdtype == dns.rdatatype.TXT:
            rdata: dns.rdata.Rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, rdtype, _txt_strings(value))
        else:
            if not isinstance(value, str):
                raise TypeError(f"{rtype} records are given as zone-file text")
            rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False)
        with self._lock:
            node = self._records.setdefault(owner, {})
            old = node.get(rdtype)
            rrset = old.copy() if old is not None else dns.rrset.RRset(owner, dns.rdataclass.IN, rdtype)
            rrset.add(rdata, ttl)
            node[rdtype] = rrset

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Remove the records of one type at `name`, or the whole name when `rtype` is None."""
        owner = _name(name)
        with self._lock:
            if rtype is None:
                self._records.pop(owner, None)
                return
            node = self._records.get(owner, {})
            node.pop(dns.rdatatype.from_text(rtype), None)
            if not node:
                self._records.pop(owner, None)

    def fail(self, name: str) -> None:
        """Answer SERVFAIL for every question about `name`, as a broken authoritative server would."""
        with self._lock:
            self._servfail.add(_name(name))

    def clear(self) -> None:
        """Forget every record, failure and logged query."""
        with self._lock:
            self._records.clear()
            self._servfail.clear()
            self.queries.clear()

    # -- answering ------------------------------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        """Build the authoritative response to `query`, following CNAMEs inside the zone."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        with self._lock:
            for _ in range(MAX_CNAME_CHAIN):
                if qname in self._servfail:
                    response.answer.clear()
                    response.set_rcode(dns.rcode.SERVFAIL)
                    return response
                node = self._records.get(qname)
                if node is None:
                    # A name with records below it (an "empty non-terminal") exists: NODATA, not NXDOMAIN.
                    if not any(owner.is_subdomain(qname) for owner in self._records):
                        response.set_rcode(dns.rcode.NXDOMAIN)
                    return response
                if qtype == dns.rdatatype.ANY:
                    response.answer.extend(node.values())
                    return response
                if qtype in node:
                    response.answer.append(node[qtype])
                    return response
                cname = node.get(dns.rdatatype.CNAME)
                if cname is None:
                    return response
                response.answer.append(cname)
                qname = next(iter(cname)).target
        return response

    def _wire_answer(self, data: bytes, transport: str) -> bytes | None:
        """Answer one wire-format query; over UDP, a response too big for the client is sent truncated (TC)."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        for question in query.question:
            entry = (question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype), transport)
            with self._lock:
                self.queries.append(entry)
        response = self.answer(query)
        if transport == "tcp":
            return response.to_wire()
        limit = max(UDP_MIN_PAYLOAD, query.payload) if query.edns >= 0 else UDP_MIN_PAYLOAD
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC
            return truncated.to_wire()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> DNSServer:
        """Listen on UDP and TCP on the same free port of `host`, each served by a background thread."""
        for _ in range(50):
            tcp = _TCPServer((self.host, 0), _TCPHandler, self)
            port = tcp.server_address[1]
            try:
                udp = _UDPServer((self.host, port), _UDPHandler, self)
            except OSError:
                tcp.server_close()
                continue
            break
        else:  # pragma: no cover - only when the machine is out of ports
            raise OSError("no port free for both UDP and TCP")
        self._tcp, self._udp, self.port = tcp, udp, port
        for server in (udp, tcp):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both listeners and close their sockets; safe to call twice."""
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._udp = self._tcp = None
        self._threads.clear()

    def __enter__(self) -> DNSServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<DNSServer {self.host}:{self.port} names={len(self._records)}>"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler], dns_: DNSServer):
        self.dns = dns_
        super().__init__(address, handler)


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler], dns_: DNSServer):
        self.dns = dns_
        super().__init__(address, handler)


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        data, sock = self.request
        wire = self.server.dns._wire_answer(data, "udp")
        if wire is not None:
            sock.sendto(wire, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    """DNS over TCP: 2-byte length-prefixed messages, several per connection if the client wants."""

    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        try:
            while True:
                header = _recv_exactly(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack("!H", header)
                data = _recv_exactly(sock, length)
                if data is None:
                    return
                wire = self.server.dns._wire_answer(data, "tcp")
                if wire is None:
                    return
                sock.sendall(struct.pack("!H", len(wire)) + wire)
        except OSError:
            return


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    """A fresh, empty DNS server for one test, stopped (sockets closed) when the test ends."""
    server = DNSServer().start()
    try:
        yield server
    finally:
        server.stop()
