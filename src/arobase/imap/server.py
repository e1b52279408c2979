"""The IMAP listeners of `arobase serve`: imap (STARTTLS) and imaps (implicit TLS).

A thin transport around the sans-I/O `Session`: read, feed, process, write, and do what the
session asks (start TLS, close). It also owns what only the transport can see: connections per
client IP and per account, the autologout timer (30 minutes once logged in, any line from the
client refreshes it, IDLE included), and the TLS handshake. Every listener uses the one
reloadable `app.tls.server_context()`, so SIGHUP's new certificate serves the next handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..app import App
from ..store import Account
from .session import Limits, Request, Session

if TYPE_CHECKING:
    from ..server import Endpoint

log = logging.getLogger("arobase.imap")

READ_SIZE = 65536
PREAUTH_TIMEOUT = 60.0  # before login: a client that says nothing is not a mail client
HANDSHAKE_TIMEOUT = 30.0
INFLATE_CHUNK = 4 * READ_SIZE  # a deflate bomb is inflated, fed and handled this much at a time


class Deflate:
    """COMPRESS=DEFLATE for one connection: raw deflate both ways, flushed at every write (RFC 4978)."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._in = zlib.decompressobj(-15)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self._out.compress(data) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def inflate(self, data: bytes) -> Iterator[bytes]:
        """The client's bytes, in bounded pieces (zlib.error for a corrupt stream)."""
        chunk = self._in.decompress(data, INFLATE_CHUNK)
        yield chunk
        while self._in.unconsumed_tail:
            yield self._in.decompress(self._in.unconsumed_tail, INFLATE_CHUNK)


@dataclass(slots=True)
class Connections:
    """Connection counts shared by the imap and imaps listeners."""

    per_ip: int = 50
    per_account: int = 50
    by_ip: Counter[str] = field(default_factory=Counter)
    by_account: Counter[int] = field(default_factory=Counter)

    def open_ip(self, ip: str) -> bool:
        if self.by_ip[ip] >= self.per_ip:
            return False
        self.by_ip[ip] += 1
        return True

    def close_ip(self, ip: str) -> None:
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]

    def open_account(self, account: Account) -> str | None:
        if self.by_account[account.id] >= self.per_account:
            return "Too many connections for this account"
        self.by_account[account.id] += 1
        return None

    def close_account(self, account_id: int) -> None:
        self.by_account[account_id] -= 1
        if self.by_account[account_id] <= 0:
            del self.by_account[account_id]


@dataclass(frozen=True, slots=True)
class Settings:
    implicit_tls: bool
    limits: Limits
    plaintext_on_loopback: bool
    preauth_timeout: float = PREAUTH_TIMEOUT


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


async def serve_connection(
    app: App, settings: Settings, connections: Connections, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    peer = writer.get_extra_info("peername")
    ip = str(peer[0]) if peer else ""
    if not connections.open_ip(ip):
        with contextlib.suppress(Exception):
            writer.write(b"* BYE Too many connections from your address\r\n")
            await asyncio.wait_for(writer.drain(), 5)
        writer.close()
        return
    account_id: int | None = None

    def login_hook(account: Account) -> str | None:
        nonlocal account_id
        refused = connections.open_account(account)
        if refused is None:
            account_id = account.id
        return refused

    deflate: Deflate | None = None

    def pending() -> bytes:
        data = session.data_to_send()
        return deflate.compress(data) if deflate is not None else data

    def notify() -> None:
        if not writer.is_closing():
            writer.write(pending())

    async def drain() -> None:
        writer.write(pending())
        await writer.drain()

    async def handle(data: bytes) -> None:
        pieces = deflate.inflate(data) if deflate is not None else (data,)
        for piece in pieces:
            session.receive(piece)
            await session.process()
            await drain()

    session = Session(
        app,
        peer_ip=ip,
        secure=settings.implicit_tls,
        plaintext_allowed=settings.plaintext_on_loopback and _loopback(ip),
        starttls_available=not settings.implicit_tls,
        limits=settings.limits,
        login_hook=login_hook,
        notify=notify,
        drain=drain,
    )
    try:
        await drain()
        while not session.closed:
            timeout = settings.limits.idle_timeout if session.state.account else settings.preauth_timeout
            try:
                async with asyncio.timeout(timeout):  # unlike wait_for, no task per read
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                session.bye("Autologout; idle for too long")
                await drain()
                break
            if not data:
                break
            await handle(data)
            for request in session.take_requests():
                if request is Request.COMPRESS:
                    deflate = Deflate()
                    await handle(session.compression_started())
                elif request is Request.START_TLS:
                    reader._buffer.clear()  # type: ignore[attr-defined]  # plaintext pipelined after STARTTLS
                    await writer.start_tls(app.tls.server_context(), ssl_handshake_timeout=HANDSHAKE_TIMEOUT)
                    session.tls_started()
    except (ConnectionError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError, zlib.error) as e:
        log.debug("%s: connection ended: %r", ip, e)
    except Exception:
        log.exception("%s: error in IMAP session", ip)
    finally:
        session.close()
        connections.close_ip(ip)
        if account_id is not None:
            connections.close_account(account_id)
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 5)


async def start_listener(
    app: App,
    host: str,
    port: int,
    *,
    implicit_tls: bool,
    limits: Limits | None = None,
    connections: Connections | None = None,
    preauth_timeout: float = PREAUTH_TIMEOUT,
) -> asyncio.Server:
    """Listen for IMAP on host:port (port 0 picks a free one: read it from the server)."""
    settings = Settings(
        implicit_tls=implicit_tls,
        limits=limits
        or Limits(
            append=app.config.smtp.max_message_size,
            errors=app.config.imap.max_errors,
            idle_timeout=float(app.config.imap.idle_timeout),
        ),
        plaintext_on_loopback=app.config.auth.allow_plaintext_on_loopback,
        preauth_timeout=preauth_timeout,
    )
    shared = connections or Connections()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # shutdown: the connection is closed in finally
            await serve_connection(app, settings, shared, reader, writer)

    return await asyncio.start_server(
        handle,
        host,
        port,
        ssl=app.tls.server_context() if implicit_tls else None,
        ssl_handshake_timeout=HANDSHAKE_TIMEOUT if implicit_tls else None,
        reuse_address=True,
        limit=READ_SIZE,
    )


async def open_imap(app: App) -> list[Endpoint]:
    """The PROTOCOLS opener: start imap and imaps when they have an address in [listen]."""
    from ..server import Endpoint, split_address  # here: server.py imports this module

    connections = Connections(
        per_ip=app.config.imap.max_connections_per_ip, per_account=app.config.imap.max_connections_per_account
    )
    endpoints = []
    for name, service, tls, implicit in (("imap", "IMAP", "STARTTLS", False), ("imaps", "IMAPS", "implicit TLS", True)):
        address = app.config.listen[name]
        if not address:
            continue
        host, port = split_address(address)
        server = await start_listener(app, host, port, implicit_tls=implicit, connections=connections)
        bound = server.sockets[0].getsockname()[1] if server.sockets else port
        shown = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        endpoints.append(Endpoint(service, shown, tls, server))
    return endpoints
