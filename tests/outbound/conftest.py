"""Fixtures for the outbound tests: Arobase instances with their queue workers, and scriptable remote servers.

An `Instance` is one App with its SMTP listeners and its OutboundQueue, all in the test's event loop, on a
loopback address of its own. A `Sink` is an aiosmtpd server standing for "another mail server": it
records what it receives and answers RCPT and DATA as the test says. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import AuthResult, Envelope, Session
from tests.dnsserver import DNSServer, dns_server

from arobase.app import App
from arobase.config import CONFIG_NAME, load, render
from arobase.outbound import OutboundQueue
from arobase.services.accounts import Accounts
from arobase.smtp import Mode, start_listener
from arobase.store import Message, migrate_store, open_store
from arobase.tls import generate_self_signed

__all__ = ["dns_server"]

TIMEOUT = 10.0
PASSWORD = "correct-horse-battery"
FAST_RETRIES = {"retry_delays": "1s", "poll_interval_ms": 50, "connect_timeout": 2, "timeout": 5}


@dataclass
class Instance:
    """One running Arobase: its App, its SMTP listeners on `host`, its outbound queue."""

    app: App
    host: str
    queue: OutboundQueue
    ports: dict[Mode, int] = field(default_factory=dict)
    servers: list[asyncio.Server] = field(default_factory=list)

    def inbox(self, address: str, mailbox: str = "INBOX") -> list[Message]:
        account = self.app.accounts.get(address)
        box = self.app.store.get_mailbox(account.id, mailbox)
        assert box is not None
        return self.app.store.list_messages(box.id)

    def contents(self, address: str, mailbox: str = "INBOX") -> list[bytes]:
        return [self.app.store.read_blob(m.blob) for m in self.inbox(address, mailbox)]

    async def wait_for_mail(
        self, address: str, count: int = 1, timeout: float = TIMEOUT, mailbox: str = "INBOX"
    ) -> list[bytes]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = self.contents(address, mailbox)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{address} has {len(self.contents(address, mailbox))} messages in {mailbox}, not {count}")

    async def queue_message(self, sender: str, recipients: list[str], body: str = "hello", **headers: str) -> None:
        """Put a message straight into the outbound queue, as submission does after its checks."""
        fields = {"From": sender or "someone@nowhere.test", "To": ", ".join(recipients), "Subject": "test"}
        fields.update({name.replace("_", "-"): value for name, value in headers.items()})
        raw = "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n" + body + "\r\n"
        blob = await asyncio.to_thread(self.app.store.put_message, raw.encode())
        account = self.app.store.find_account(sender.lower()) if sender else None
        await self.app.store.deliver(
            blob, [], outbound=recipients, sender=sender, sender_account=account.id if account else None
        )
        self.queue.wake()


Starter = Callable[..., Awaitable[Instance]]


def _merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


@pytest.fixture
async def start_instance(tmp_path: Path, dns_server: DNSServer) -> AsyncIterator[Starter]:
    """`await start_instance("orange.test", ["pierre.durand@orange.test"], host="127.0.0.2", outbound={...})`."""
    running: list[Instance] = []

    async def start(
        domain: str, users: list[str], *, host: str = "127.0.0.1", data: Path | None = None, **overrides: Any
    ) -> Instance:
        hostname = f"mx.{domain}"
        path = data or tmp_path / domain
        if not (path / CONFIG_NAME).exists():
            path.mkdir(parents=True)
            generate_self_signed(hostname, path / "tls" / "cert.pem", path / "tls" / "key.pem")
            migrate_store(path)
            (path / CONFIG_NAME).write_text(render({"server": {"hostname": hostname}}), encoding="utf-8")
            store = open_store(load(path, environ={}))
            try:
                accounts = Accounts(store)
                accounts.add_domain(domain)
                for user in users:
                    accounts.add_user(user, PASSWORD)
            finally:
                store.close()
        base = {
            "server": {"hostname": hostname},
            "dns": {"nameserver": f"127.0.0.1:{dns_server.port}"},
            "outbound": dict(FAST_RETRIES),
        }
        (path / CONFIG_NAME).write_text(render(_merge(base, overrides)), encoding="utf-8")
        app = App.open(load(path, environ={}))
        instance = Instance(app, host, OutboundQueue(app))
        running.append(instance)
        for mode in Mode:
            server = await start_listener(app, mode, host, 0)
            instance.servers.append(server)
            instance.ports[mode] = server.sockets[0].getsockname()[1]
        await instance.queue.start()
        return instance

    yield start
    for instance in running:
        await stop_instance(instance)


async def stop_instance(instance: Instance) -> None:
    if instance.servers:
        for server in instance.servers:
            server.close()
        instance.servers.clear()
        await instance.queue.stop(grace=1.0)
        await asyncio.to_thread(instance.app.close)


class SinkHandler:
    """What the remote server does: scripted RCPT and DATA replies; records every accepted message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.ehlos = 0
        self.hold: asyncio.Event | None = None  # when set to an unset Event, DATA waits for it...
        self.hold_after = 0  # ...once this many messages have been accepted
        self.waiting = 0  # DATA commands waiting on the hold right now

    async def handle_EHLO(self, server: AioSMTP, session: Session, envelope: Envelope, hostname: str, responses):  # type: ignore[no-untyped-def]
        self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: AioSMTP, session: Session, envelope: Envelope, address: str, options) -> str:  # type: ignore[no-untyped-def]
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: AioSMTP, session: Session, envelope: Envelope) -> str:
        if self.hold is not None and len(self.messages) >= self.hold_after:
            self.waiting += 1
            try:
                await asyncio.wait_for(self.hold.wait(), 60)
            finally:
                self.waiting -= 1
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos), content))
        return "250 2.0.0 accepted"


@dataclass
class Sink:
    handler: SinkHandler
    server: asyncio.Server
    host: str
    port: int

    @property
    def messages(self) -> list[tuple[str, list[str], bytes]]:
        return self.handler.messages

    async def wait(self, count: int, timeout: float = TIMEOUT) -> list[tuple[str, list[str], bytes]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert len(self.messages) >= count, f"the sink got {len(self.messages)} messages, expected {count}"
        return self.messages


SinkStarter = Callable[..., Awaitable[Sink]]


@pytest.fixture
async def start_sink(tmp_path: Path) -> AsyncIterator[SinkStarter]:
    """`await start_sink(utf8=False, tls=True, host="127.0.0.1")`: a remote SMTP server on a free port."""
    sinks: list[Sink] = []
    cert = tmp_path / "sink-cert.pem"
    key = tmp_path / "sink-key.pem"

    async def start(
        *,
        utf8: bool = True,
        tls: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        login: tuple[str, str] | None = None,
    ) -> Sink:
        context = None
        if tls:
            if not cert.exists():
                generate_self_signed("sink.test", cert, key)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        handler = SinkHandler()
        loop = asyncio.get_running_loop()

        def authenticator(
            server: AioSMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            return AuthResult(success=login is not None and (data.login.decode(), data.password.decode()) == login)

        def protocol() -> AioSMTP:
            return AioSMTP(
                handler,
                hostname="sink.test",
                enable_SMTPUTF8=utf8,
                tls_context=context,
                timeout=30,
                auth_required=login is not None,
                authenticator=authenticator,
            )

        server = await loop.create_server(
            protocol,
            host,
            port,
            reuse_address=True,
        )
        sink = Sink(handler, server, host, server.sockets[0].getsockname()[1])
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        if sink.handler.hold is not None:
            sink.handler.hold.set()
        sink.server.close()


def remove_data(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
