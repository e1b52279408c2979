"""SMTP to other servers with aiosmtplib: connections per remote host, reused and limited, one transaction
per message and destination.

A connection says EHLO with our host name and upgrades with STARTTLS whenever it is offered; certificates
are not verified unless configured (MX-to-MX TLS usually is not: it protects against eavesdropping, not
against an active attacker). A server whose TLS handshake fails is retried in clear text in the same
attempt, as other MTAs do, unless verification is required.

Every remote reply is kept per recipient as an `Outcome`; the queue decides what to do with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiosmtplib

from .routing import Host

log = logging.getLogger("arobase.outbound")

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
QUIT_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one recipient in one attempt."""

    code: int  # the SMTP reply code; 4xx for failures without a reply (connection refused, timeout)
    status: str  # RFC 3463 enhanced status, from the reply or derived from the code
    text: str  # "550 5.1.1 no such user" as the server said it, or our description of what failed
    host: str | None = None  # the remote host that answered
    smtp_reply: bool = True  # False when `text` is ours, not a reply from the server

    @property
    def delivered(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return self.code >= 500


def from_reply(code: int, message: str, host: str | None) -> Outcome:
    message = " ".join(message.split())
    match = _ENHANCED.match(message)
    status = match.group(1) if match else f"{str(code)[0]}.0.0"
    return Outcome(code, status, f"{code} {message}", host)


def failure(status: str, text: str, host: str | None = None) -> Outcome:
    """An outcome we decided ourselves (no reply to quote): 4.x.x retries, 5.x.x bounces."""
    return Outcome(550 if status.startswith("5") else 451, status, text, host, smtp_reply=False)


@dataclass(frozen=True, slots=True)
class TransportSettings:
    hostname: str  # our name in EHLO
    source_address: str = ""
    tls_verify: bool = False
    connect_timeout: float = 30.0
    timeout: float = 300.0
    connections_per_host: int = 4
    idle_seconds: float = 5.0
    relay_login: str = ""
    relay_password: str = ""


@dataclass(slots=True)
class Connection:
    client: aiosmtplib.SMTP
    host: Host
    address: str
    tls: bool
    last_used: float = field(default_factory=time.monotonic)
    uses: int = 0  # transactions started on it

    @property
    def label(self) -> str:
        return f"{self.host.name}[{self.address}]:{self.host.port}"

    def usable(self, idle_seconds: float) -> bool:
        return self.client.is_connected and time.monotonic() - self.last_used < idle_seconds


@dataclass(slots=True)
class _Slot:
    """The connections to one remote host: how many are open, and those waiting idle for reuse."""

    open: int = 0
    idle: list[Connection] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class _ConnectFailed(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.text)
        self.outcome = outcome


class Pool:
    """Open connections to remote hosts, at most `connections_per_host` per host, reused while fresh."""

    def __init__(self, settings: TransportSettings) -> None:
        self.settings = settings
        self._slots: dict[tuple[str, int], _Slot] = {}
        self.opened = 0  # connections opened since start, for tests and the benchmark
        self.reused = 0

    async def send(
        self, hosts: Sequence[Host], sender: str, recipients: Sequence[str], message: bytes
    ) -> dict[str, Outcome]:
        """Offer one message to the first host that takes the connection; an Outcome per recipient."""
        last: Outcome = failure("4.4.1", "no address to connect to")
        for host in hosts:
            if not host.addresses:
                last = failure("4.4.4", f"no address for {host.name}", host.name)
                continue
            for fresh in (False, True):
                try:
                    connection = await self._acquire(host, fresh=fresh)
                except _ConnectFailed as e:
                    last = e.outcome
                    break
                reused = connection.uses > 0
                try:
                    outcomes, reusable = await self._transaction(connection, sender, recipients, message)
                except BaseException:  # cancelled (server stopping): the connection is in an unknown state
                    await self._release(connection, False)
                    raise
                await self._release(connection, reusable)
                if outcomes is None and reused:
                    continue  # the server had closed an idle connection: try once more on a new one
                if outcomes is None:
                    last = failure("4.4.2", f"connection to {connection.label} lost during the transaction", host.name)
                    break
                return outcomes
        return dict.fromkeys(recipients, last)

    # -- connections -----------------------------------------------------------------------

    async def _acquire(self, host: Host, *, fresh: bool) -> Connection:
        key = (host.name, host.port)
        slot = self._slots.setdefault(key, _Slot())
        async with slot.changed:
            while True:
                while slot.idle and not fresh:
                    connection = slot.idle.pop()
                    if connection.usable(self.settings.idle_seconds):
                        self.reused += 1
                        return connection
                    slot.open -= 1
                    _close(connection)
                if slot.open < self.settings.connections_per_host:
                    slot.open += 1
                    break
                if fresh and slot.idle:  # make room for the new connection
                    _close(slot.idle.pop())
                    slot.open -= 1
                    continue
                await slot.changed.wait()
        try:
            connection = await self._open(host)
        except BaseException:
            async with slot.changed:
                slot.open -= 1
                slot.changed.notify()
            raise
        self.opened += 1
        return connection

    async def _release(self, connection: Connection, reusable: bool) -> None:
        slot = self._slots[(connection.host.name, connection.host.port)]
        async with slot.changed:
            if reusable and self.settings.idle_seconds > 0 and connection.client.is_connected:
                connection.last_used = time.monotonic()
                slot.idle.append(connection)
            else:
                slot.open -= 1
                _close(connection)
            slot.changed.notify()

    async def reap(self) -> None:
        """Close idle connections that have waited longer than idle_seconds (politely, with QUIT)."""
        stale: list[Connection] = []
        for slot in self._slots.values():
            async with slot.changed:
                keep = []
                for connection in slot.idle:
                    (keep if connection.usable(self.settings.idle_seconds) else stale).append(connection)
                slot.open -= len(slot.idle) - len(keep)
                slot.idle = keep
                slot.changed.notify_all()
        await asyncio.gather(*(_quit(connection) for connection in stale))

    async def close(self) -> None:
        """Close every idle connection (those in use are closed by their delivery)."""
        stale = []
        for slot in self._slots.values():
            stale += slot.idle
            slot.open -= len(slot.idle)
            slot.idle = []
        await asyncio.gather(*(_quit(connection) for connection in stale))

    async def _open(self, host: Host) -> Connection:
        """Connect to the first address of `host` that answers: greeting, EHLO, STARTTLS, AUTH on relays."""
        last: Outcome | None = None
        for address in host.addresses:
            try:
                return await self._connect(host, address, tls=True)
            except _ConnectFailed as e:
                last = e.outcome
                if e.outcome.status == "4.7.5" and not self.settings.tls_verify:
                    try:
                        return await self._connect(host, address, tls=False)
                    except _ConnectFailed as plain:
                        last = plain.outcome
        assert last is not None
        raise _ConnectFailed(last)

    async def _connect(self, host: Host, address: str, *, tls: bool) -> Connection:
        settings = self.settings
        label = f"{host.name}[{address}]:{host.port}"
        client = aiosmtplib.SMTP(
            hostname=address,
            port=host.port,
            local_hostname=settings.hostname,
            source_address=(settings.source_address, 0) if settings.source_address else None,
            timeout=settings.timeout,
            start_tls=False,
        )
        try:
            await client.connect(timeout=settings.connect_timeout)
            await client.ehlo()
            secure = False
            if tls and client.supports_extension("starttls"):
                try:
                    await client.starttls(server_hostname=host.name, tls_context=self._tls_context())
                except (ssl.SSLError, aiosmtplib.SMTPException, OSError) as e:
                    raise _ConnectFailed(failure("4.7.5", f"TLS with {label} failed: {e}", host.name)) from None
                await client.ehlo()
                secure = True
            elif self.settings.tls_verify:
                raise _ConnectFailed(failure("4.7.4", f"{label} does not offer STARTTLS", host.name))
            if host.static and settings.relay_login:
                await client.login(settings.relay_login, settings.relay_password)
        except _ConnectFailed:
            client.close()
            raise
        except aiosmtplib.SMTPResponseException as e:
            client.close()
            # A refusal at greeting, EHLO or AUTH says nothing about the recipients: try elsewhere, or later.
            text = f"{label} refused the session: {e.code} {' '.join(e.message.split())}"
            raise _ConnectFailed(Outcome(451, "4.4.1", text, host.name, smtp_reply=False)) from None
        except (aiosmtplib.SMTPException, OSError) as e:
            client.close()
            raise _ConnectFailed(failure("4.4.1", f"cannot talk to {label}: {e}", host.name)) from None
        return Connection(client, host, address, secure)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if not self.settings.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- one transaction -------------------------------------------------------------------

    async def _transaction(
        self, connection: Connection, sender: str, recipients: Sequence[str], message: bytes
    ) -> tuple[dict[str, Outcome] | None, bool]:
        """MAIL, RCPT for each recipient, DATA. Returns (outcomes, connection reusable); outcomes None when
        the connection broke before the server answered MAIL (nothing can have been delivered)."""
        client, name = connection.client, connection.host.name
        needs_utf8 = not sender.isascii() or any(not r.isascii() for r in recipients) or _utf8_headers(message)
        eight_bit = not message.isascii()
        if needs_utf8 and not client.supports_extension("smtputf8"):
            text = f"{connection.label} does not support SMTPUTF8, which this message needs (RFC 6531)"
            return dict.fromkeys(recipients, failure("5.6.7", text, name)), True
        if eight_bit and not client.supports_extension("8bitmime"):
            text = f"{connection.label} does not accept 8-bit content (no 8BITMIME) and the message has some"
            return dict.fromkeys(recipients, failure("5.6.3", text, name)), True
        options = []
        limit = client.esmtp_extensions.get("size", "")
        if client.supports_extension("size"):
            if limit.isdigit() and 0 < int(limit) < len(message):
                text = f"message of {len(message)} bytes exceeds the {limit} bytes {connection.label} accepts"
                return dict.fromkeys(recipients, failure("5.3.4", text, name)), True
            options.append(b"SIZE=%d" % len(message))
        if eight_bit:
            options.append(b"BODY=8BITMIME")
        if needs_utf8:
            options.append(b"SMTPUTF8")
        connection.last_used = time.monotonic()
        connection.uses += 1
        try:
            reply = await client.execute_command(b"MAIL", b"FROM:<" + sender.encode() + b">", *options)
        except (aiosmtplib.SMTPException, OSError):
            client.close()
            return None, False
        if reply.code != 250:
            return dict.fromkeys(recipients, from_reply(reply.code, reply.message, name)), await _rset(client)
        outcomes: dict[str, Outcome] = {}
        accepted = []
        try:
            for recipient in recipients:
                reply = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode() + b">")
                outcomes[recipient] = from_reply(reply.code, reply.message, name)
                if reply.code in (250, 251):
                    accepted.append(recipient)
            if not accepted:
                return outcomes, await _rset(client)
            try:
                reply = await client.data(message)
                done = from_reply(reply.code, reply.message, name)
            except aiosmtplib.SMTPDataError as e:
                done = from_reply(e.code, e.message, name)
        except (aiosmtplib.SMTPException, OSError) as e:
            client.close()
            lost = failure("4.4.2", f"connection to {connection.label} lost: {e}", name)
            return {
                recipient: outcomes.get(recipient, lost) if recipient not in accepted else lost
                for recipient in recipients
            }, False
        for recipient in accepted:
            outcomes[recipient] = done
        return outcomes, client.is_connected


def _utf8_headers(message: bytes) -> bool:
    end = message.find(b"\r\n\r\n")
    return not message[: end if end >= 0 else len(message)].isascii()


async def _rset(client: aiosmtplib.SMTP) -> bool:
    """Reset a failed transaction; the connection is reusable only if the server agrees."""
    try:
        return (await client.rset()).code == 250
    except (aiosmtplib.SMTPException, OSError):
        client.close()
        return False


def _close(connection: Connection) -> None:
    connection.client.close()


async def _quit(connection: Connection) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
        await connection.client.quit(timeout=QUIT_TIMEOUT)
    connection.client.close()
