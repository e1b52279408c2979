"""Fixtures for the POP3 tests: a populated data directory, the real listeners, raw and poplib clients.

Accounts cost an argon2 hash each, so they are created once per test session in a template
directory that every test copies. Listeners run in the test's own event loop on free ports;
blocking clients (poplib, fetchmail, getmail) run in threads or subprocesses with bounded waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import poplib
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from arobase.app import App
from arobase.config import CONFIG_NAME, load, render
from arobase.pop3 import Settings, start_listener
from arobase.pop3.server import Listener
from arobase.services.accounts import Accounts
from arobase.store import Mailbox, Message, migrate_store, open_store
from arobase.tls import generate_self_signed

HOSTNAME = "mail.example.test"
DOMAIN = "example.test"
ARTHUR = "arthur.dupont@example.test"
PIERRE = "pierre.durand@example.test"
DISABLED = "gone@example.test"
PASSWORDS = {ARTHUR: "arthur-secret-1", PIERRE: "pierre-secret-2", DISABLED: "disabled-secret-3"}
TIMEOUT = 10.0  # every wait in these tests is bounded


@pytest.fixture(scope="session")
def pop3_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pop3-template") / "data"
    path.mkdir()
    (path / CONFIG_NAME).write_text(render({"server": {"hostname": HOSTNAME}}), encoding="utf-8")
    generate_self_signed(HOSTNAME, path / "tls" / "cert.pem", path / "tls" / "key.pem")
    migrate_store(path)
    store = open_store(load(path, environ={}))
    try:
        accounts = Accounts(store)
        accounts.add_domain(DOMAIN)
        for address, password in PASSWORDS.items():
            accounts.add_user(address, password)
        accounts.set_disabled(DISABLED, True)
    finally:
        store.close()
    return path


def sample(n: int, body: bytes = b"") -> bytes:
    """A small CRLF message, distinct for each n."""
    head = f"From: Sender <sender@remote.example>\r\nTo: {ARTHUR}\r\nSubject: message {n}\r\n"
    head += f"Message-ID: <{n}@remote.example>\r\n\r\n"
    return head.encode() + (body or f"Hello number {n}\r\n".encode())


@dataclass
class Harness:
    """One running App with its POP3 (STLS) and POP3S listeners."""

    app: App
    ports: dict[str, int] = field(default_factory=dict)
    servers: list[Listener] = field(default_factory=list)

    @property
    def cert(self) -> Path:
        return self.app.config.tls_cert

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def account_id(self, address: str) -> int:
        return self.app.accounts.get(address).id

    def inbox(self, address: str = ARTHUR, name: str = "INBOX") -> Mailbox:
        box = self.app.store.get_mailbox(self.account_id(address), name)
        assert box is not None
        return box

    def messages(self, address: str = ARTHUR, name: str = "INBOX") -> list[Message]:
        return self.app.store.list_messages(self.inbox(address, name).id)

    def deliver(self, raw: bytes, address: str = ARTHUR, flags: Iterable[str] = ()) -> int:
        """Put a message in INBOX through the store; returns its UID."""
        store = self.app.store
        [(_, _, uid)] = store.deliver(store.put_message(raw), [(self.account_id(address), "INBOX")], flags=flags).wait(
            TIMEOUT
        )
        return uid

    def pop3(self, login: str = ARTHUR) -> poplib.POP3:
        """poplib over STLS, logged in (blocking: call it inside asyncio.to_thread)."""
        client = poplib.POP3("127.0.0.1", self.ports["pop3"], timeout=TIMEOUT)
        client.stls(context=self.client_context())
        client.user(login)
        client.pass_(PASSWORDS[login])
        return client

    def pop3s(self, login: str | None = ARTHUR) -> poplib.POP3_SSL:
        """poplib over implicit TLS, logged in unless login is None (blocking)."""
        client = poplib.POP3_SSL("127.0.0.1", self.ports["pop3s"], timeout=TIMEOUT, context=self.client_context())
        if login is not None:
            client.user(login)
            client.pass_(PASSWORDS[login])
        return client

    async def raw(self, tls: bool = False) -> RawClient:
        client = RawClient()
        port = self.ports["pop3s" if tls else "pop3"]
        await client.connect(port, self.client_context() if tls else None)
        return client


class RawClient:
    """Byte-exact POP3 client: send any bytes, read status lines and multi-line responses."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    greeting: bytes

    async def connect(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), TIMEOUT
        )
        self.greeting = await self.line()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\n"), TIMEOUT)

    async def multiline(self) -> bytes:
        """Everything up to and including the terminating '.CRLF'."""
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n.\r\n"), TIMEOUT)

    async def command(self, line: bytes) -> bytes:
        await self.send(line + b"\r\n")
        return await self.line()

    async def login(self, login: str = ARTHUR) -> bytes:
        assert (await self.command(b"USER " + login.encode())).startswith(b"+OK")
        return await self.command(b"PASS " + PASSWORDS[login].encode())

    async def starttls(self, context: ssl.SSLContext) -> None:
        assert (await self.command(b"STLS")).startswith(b"+OK")
        await self.writer.start_tls(context, server_hostname="127.0.0.1")

    async def closed(self) -> bool:
        """True once the server has closed the connection."""
        try:
            return await asyncio.wait_for(self.reader.read(), TIMEOUT) == b"" or self.reader.at_eof()
        except (ConnectionError, ssl.SSLError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


Starter = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_pop3(pop3_template: Path, tmp_path: Path) -> AsyncIterator[Starter]:
    """Start POP3 and POP3S on free ports: `await start_pop3(settings=Settings(...), auth={...})`."""
    data = tmp_path / "data"
    shutil.copytree(pop3_template, data)
    running: list[Harness] = []

    async def start(settings: Settings | None = None, **overrides: dict[str, Any]) -> Harness:
        values: dict[str, dict[str, Any]] = {
            "server": {"hostname": HOSTNAME},
            "limits": {"login_delay_ms": 20, "login_max_delay_ms": 50},
        }
        for section, keys in overrides.items():
            values.setdefault(section, {}).update(keys)
        (data / CONFIG_NAME).write_text(render(values), encoding="utf-8")
        app = App.open(load(data, environ={}))
        harness = Harness(app)
        running.append(harness)
        base = settings or Settings.from_config(app.config)
        for name, implicit in (("pop3", False), ("pop3s", True)):
            server = await start_listener(app, "127.0.0.1", 0, implicit_tls=implicit, settings=base)
            harness.servers.append(server)
            harness.ports[name] = server.sockets[0].getsockname()[1]
        return harness

    yield start
    for harness in running:
        for server in harness.servers:
            server.close()
        for server in harness.servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        await asyncio.to_thread(harness.app.close)


@pytest.fixture
async def pop3(start_pop3: Starter) -> Harness:
    """The listeners with the default test configuration."""
    return await start_pop3()
