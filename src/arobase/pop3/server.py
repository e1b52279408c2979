"""The POP3 listeners of `arobase serve`: POP3 with STLS and POP3S (implicit TLS).

A thin asyncio layer: it moves bytes between the socket and the sans-I/O `Session` and fulfils
the session's requests against the shared services: the login throttle, the accounts, the store
(through `maildrop`) and the reloadable TLS context.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from ..app import App
from ..config import Config
from ..store import Pending
from . import maildrop, wire
from .session import (
    DEFAULT_MAX_ERRORS,
    Authenticate,
    Event,
    Fetch,
    LoginResult,
    Maildrop,
    Send,
    Session,
    StartTLS,
    Update,
)

if TYPE_CHECKING:
    from ..server import Endpoint

log = logging.getLogger("arobase.pop3")
T = TypeVar("T")

READ_SIZE = 65536
FLUSH_SIZE = 256 * 1024  # queued reply octets that are written without waiting for the batch to end
INLINE_READ = 64 * 1024  # messages up to this size are read on the loop; larger ones in a thread
STORE_TIMEOUT = 60.0  # longest wait for a store commit (deletions at QUIT, \Seen flags at the end)
# RETR marks \Seen in batches, like Dovecot: a write (and an fsync) per message would cost more than
# the retrieval. A batch goes to the store SEEN_DELAY seconds after its first RETR, when it reaches
# SEEN_BATCH messages, at QUIT or disconnect, and when the listener closes; so IMAP sees it soon.
SEEN_DELAY = 1.0
SEEN_BATCH = 1000
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Settings:
    idle_timeout: float = 600.0  # RFC 1939 section 3: an autologout timer of at least 10 minutes
    max_errors: int = DEFAULT_MAX_ERRORS
    plaintext_auth_on_loopback: bool = False
    handshake_timeout: float = 60.0

    @classmethod
    def from_config(cls, config: Config) -> Settings:
        return cls(
            idle_timeout=float(config.pop3.idle_timeout),
            max_errors=config.pop3.max_errors,
            plaintext_auth_on_loopback=config.auth.allow_plaintext_on_loopback,
        )


class Connection:
    """One client: reads lines into the session, writes its replies, answers its requests."""

    def __init__(
        self,
        app: App,
        settings: Settings,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        implicit_tls: bool,
    ) -> None:
        self.app = app
        self.settings = settings
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.ip = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        self.session = Session(
            tls=implicit_tls,
            plaintext_allowed=settings.plaintext_auth_on_loopback and _loopback(self.ip),
            max_errors=settings.max_errors,
        )
        self.maildrop: Maildrop | None = None
        self._seen_batch: list[int] = []  # RETRieved UIDs not yet handed to the store
        self._seen_timer: asyncio.TimerHandle | None = None
        self._marked: set[int] = set()
        self._flag_writes: set[asyncio.Task[object]] = set()
        self._out: list[bytes] = []
        self._out_size = 0
        # The idle timeout: one timer, re-armed when it fires, costs less than a timeout per read.
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._waiting_since: float | None = None  # loop time the pending read began
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle = False

    async def run(self) -> None:
        self._task = asyncio.current_task()
        try:
            self._queue([self.session.greeting()])
            while not self.session.closed:
                event = self.session.next_event()
                if event is None:
                    await self._flush()
                    if not await self._read():
                        return
                    continue
                if not await self._handle(event):
                    await self._flush()
                    return
                if self._out_size >= FLUSH_SIZE:
                    await self._flush()
        except (ConnectionError, ssl.SSLError, TimeoutError) as e:
            log.debug("%s: connection ended: %s", self.ip, e)
        except Exception:
            log.exception("%s: POP3 session failed", self.ip)
            with contextlib.suppress(Exception):
                self._queue([wire.err("Internal error, closing connection", "SYS/TEMP")])
                await self._flush()
        finally:
            await self._finish()

    async def _read(self) -> bool:
        """More bytes for the session; False when the client left or stayed silent too long."""
        self._waiting_since = self._loop.time()
        if self._idle_timer is None:
            self._idle_timer = self._loop.call_at(self._waiting_since + self.settings.idle_timeout, self._check_idle)
        try:
            data = await self.reader.read(READ_SIZE)
        except asyncio.CancelledError:
            assert self._task is not None
            if not self._idle or self._task.uncancel() > 0:
                raise
            log.info("%s: idle for %.0fs, disconnecting", self.ip, self.settings.idle_timeout)
            with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
                self._queue([wire.err("Disconnected for inactivity")])
                await self._flush()
            return False
        finally:
            self._waiting_since = None
        if not data:
            return False  # a dropped connection never reaches UPDATE: nothing is deleted
        self.session.receive(data)
        return True

    def _check_idle(self) -> None:
        """The idle timer fired: disconnect if the pending read has waited the whole timeout, else re-arm."""
        self._idle_timer = None
        if self._waiting_since is None or self._task is None:
            return  # busy: the next read arms the timer again
        due = self._waiting_since + self.settings.idle_timeout
        if self._loop.time() >= due:
            self._idle = True
            self._task.cancel()
        else:
            self._idle_timer = self._loop.call_at(due, self._check_idle)

    async def _handle(self, event: Event) -> bool:
        """Carry out one event; False once the connection must close."""
        session = self.session
        if isinstance(event, Send):
            self._queue(event.data)
            return not event.close
        if isinstance(event, Authenticate):
            result, drop = await self._login(event)
            self._queue(session.login_result(result, drop).data)
        elif isinstance(event, StartTLS):
            return await self._start_tls(event)
        elif isinstance(event, Fetch):
            await self._fetch(event)
        elif isinstance(event, Update):
            reply = session.updated(await self._update(event))
            self._queue(reply.data)
            return False
        return True

    def _queue(self, chunks: list[bytes]) -> None:
        """Replies wait until the session needs more input: pipelined commands share a few writes."""
        self._out += chunks
        self._out_size += sum(map(len, chunks))

    async def _flush(self) -> None:
        if self._out:
            chunks, size, self._out, self._out_size = self._out, self._out_size, [], 0
            if len(chunks) == 1 or size > FLUSH_SIZE:
                self.writer.writelines(chunks)
            else:  # one buffer takes uvloop's direct write; several need a write request and its callback
                self.writer.write(b"".join(chunks))
        if self.writer.transport.get_write_buffer_size():  # usually all sent at once: nothing to wait for
            async with asyncio.timeout(self.settings.idle_timeout):
                await self.writer.drain()

    # -- requests ---------------------------------------------------------------------------

    async def _login(self, request: Authenticate) -> tuple[LoginResult, Maildrop | None]:
        throttle, ip = self.app.throttle, self.ip
        login = request.login or None
        if throttle.locked_for(ip, login) > 0:
            log.info("%s: POP3 login for %r refused: locked out", ip, request.login)
            return LoginResult.LOCKED, None
        account = None
        if login is not None:
            account = await asyncio.to_thread(self.app.accounts.authenticate, login, request.password)
        if account is None:
            delay = throttle.login_failed(ip, login, service="pop3")
            log.info("%s: POP3 %s login failed for %r", ip, request.mechanism, request.login)
            if delay:
                await asyncio.sleep(delay)
            return LoginResult.INVALID, None
        throttle.login_succeeded(ip, request.login)
        store = self.app.store
        inbox = store.get_mailbox(account.id, "INBOX")
        if inbox is None:
            log.error("%s: %s has no INBOX", ip, account.address)
            return LoginResult.UNAVAILABLE, None
        if not maildrop.acquire(store, inbox.id):
            log.info("%s: %s: maildrop in use by another POP3 session", ip, account.address)
            return LoginResult.IN_USE, None
        try:
            drop = await asyncio.to_thread(maildrop.snapshot, store, inbox)
        except Exception:
            maildrop.release(store, inbox.id)
            log.exception("%s: cannot open the maildrop of %s", ip, account.address)
            return LoginResult.UNAVAILABLE, None
        self.maildrop = drop
        log.info("%s: POP3 login as %s, %d messages", ip, account.address, len(drop.entries))
        return LoginResult.OK, drop

    async def _start_tls(self, request: StartTLS) -> bool:
        # Stop reading before the client can see +OK: its ClientHello must reach the TLS layer, not
        # the plaintext buffer. What is buffered now was sent in plaintext after STLS: drop it
        # (RFC 2595 section 4). start_tls resumes reading once TLS is in place.
        await self._flush()
        cast(asyncio.Transport, self.writer.transport).pause_reading()
        self.reader._buffer.clear()  # type: ignore[attr-defined]
        self._queue([request.reply])
        await self._flush()
        try:
            await self.writer.start_tls(
                self.app.tls.server_context(), ssl_handshake_timeout=self.settings.handshake_timeout
            )
        except (TimeoutError, OSError) as e:
            log.info("%s: STLS handshake failed: %s", self.ip, e)
            return False
        self.session.tls_started()
        return True

    async def _fetch(self, request: Fetch) -> None:
        assert self.maildrop is not None
        store, mailbox_id, entry = self.app.store, self.maildrop.mailbox_id, request.entry
        if entry.size <= INLINE_READ:
            raw = maildrop.read(store, mailbox_id, entry)
        else:
            raw = await asyncio.to_thread(maildrop.read, store, mailbox_id, entry)
        self._queue(self.session.fetched(raw).data)
        if request.lines is None and raw is not None and not entry.seen and entry.uid not in self._marked:
            self._marked.add(entry.uid)
            self._seen_batch.append(entry.uid)
            if len(self._seen_batch) >= SEEN_BATCH:
                self.flush_seen()
            elif self._seen_timer is None:
                self._seen_timer = asyncio.get_running_loop().call_later(SEEN_DELAY, self.flush_seen)

    def flush_seen(self) -> None:
        """RETR marks \\Seen for IMAP and webmail users: hand the batch to the store (one write)."""
        if self._seen_timer is not None:
            self._seen_timer.cancel()
            self._seen_timer = None
        if self._seen_batch and self.maildrop is not None:
            uids, self._seen_batch = self._seen_batch, []
            pending = self.app.store.store_flags(self.maildrop.mailbox_id, uids, ["\\Seen"], "add")
            task = asyncio.ensure_future(_wait(pending))
            self._flag_writes.add(task)
            task.add_done_callback(self._flag_written)

    def _flag_written(self, task: asyncio.Task[object]) -> None:
        self._flag_writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: marking retrieved messages \\Seen failed: %s", self.ip, task.exception())

    async def _update(self, request: Update) -> bool:
        """The UPDATE state: every DELEted message removed in one store transaction, then the lock freed."""
        assert self.maildrop is not None
        await self._settle_flags()
        ok = True
        if request.uids:
            try:
                removed = await asyncio.wait_for(
                    _wait(self.app.store.expunge(self.maildrop.mailbox_id, list(request.uids))), STORE_TIMEOUT
                )
            except Exception:
                log.exception("%s: POP3 deletions failed", self.ip)
                ok = False
            else:
                log.info("%s: POP3 session deleted %d messages", self.ip, len(removed))
        self._release()
        return ok

    async def _settle_flags(self) -> None:
        """Wait (bounded) until every \\Seen flag of this session is committed."""
        self.flush_seen()
        if self._flag_writes:
            _, late = await asyncio.wait(set(self._flag_writes), timeout=STORE_TIMEOUT)
            if late:
                log.error("%s: marking retrieved messages \\Seen did not finish in time", self.ip)

    def _release(self) -> None:
        if self.maildrop is not None:
            maildrop.release(self.app.store, self.maildrop.mailbox_id)
            self.maildrop = None

    async def _finish(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        await self._settle_flags()
        self._release()
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), CLOSE_TIMEOUT)


async def _wait(pending: Pending[T]) -> T:
    return await pending


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class Listener(asyncio.AbstractServer):
    """A POP3 asyncio server that knows its live connections.

    `arobase serve` closes the listeners and then the store, while sessions may still be open:
    closing hands every batched \\Seen flag to the store first, whose close then commits it.
    """

    def __init__(self, server: asyncio.Server, connections: set[Connection]) -> None:
        self._server = server
        self._connections = connections

    def close(self) -> None:
        self._server.close()
        for connection in list(self._connections):
            connection.flush_seen()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._server.get_loop()

    def is_serving(self) -> bool:
        return self._server.is_serving()

    async def start_serving(self) -> None:
        await self._server.start_serving()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets)


async def start_listener(
    app: App, host: str, port: int, *, implicit_tls: bool, settings: Settings | None = None
) -> Listener:
    """Listen for POP3 on host:port (port 0 picks a free one: read it from the server's socket)."""
    settings = settings or Settings.from_config(app.config)
    connections: set[Connection] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(app, settings, reader, writer, implicit_tls)
        connections.add(connection)
        try:
            await connection.run()
        finally:
            connections.discard(connection)

    context = app.tls.server_context() if implicit_tls else None
    server = await asyncio.start_server(
        serve,
        host,
        port,
        ssl=context,
        ssl_handshake_timeout=settings.handshake_timeout if implicit_tls else None,
        reuse_address=True,
    )
    return Listener(server, connections)


LABELS = {"pop3": ("POP3", "STLS", False), "pop3s": ("POP3S", "implicit TLS", True)}


async def open_pop3(app: App) -> list[Endpoint]:
    """The PROTOCOLS opener: start the POP3 and POP3S listeners that have an address in [listen]."""
    from ..server import Endpoint, split_address  # here: server.py imports this module

    endpoints = []
    for name, (service, tls, implicit) in LABELS.items():
        address = app.config.listen[name]
        if not address:
            continue
        host, port = split_address(address)
        server = await start_listener(app, host, port, implicit_tls=implicit)
        bound = server.sockets[0].getsockname()[1] if server.sockets else port
        shown = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        endpoints.append(Endpoint(service, shown, tls, server))
    return endpoints
