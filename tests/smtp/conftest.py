"""Fixtures for the SMTP tests: a populated data directory, the real listeners, raw and smtplib clients.

Creating accounts costs an argon2 hash each, so the accounts are made once per test session in a
template directory that every test copies. Listeners run in the test's own event loop on free
ports; blocking clients (smtplib, swaks) run in threads through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import smtplib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.dnsserver import DNSServer, dns_server

from arobase.app import App
from arobase.config import CONFIG_NAME, load, render
from arobase.services.accounts import Accounts
from arobase.smtp import Connections, Mode, start_listener
from arobase.store import Message, migrate_store, open_store
from arobase.tls import generate_self_signed

__all__ = ["dns_server"]  # re-exported so pytest finds it for the tests in this directory

HOSTNAME = "mail.example.test"
DOMAIN = "example.test"
ARTHUR = "arthur.dupont@example.test"
PIERRE = "pierre.durand@example.test"
DISABLED = "gone@example.test"
FULL = "full@example.test"
PASSWORDS = {
    ARTHUR: "arthur-secret-1",
    PIERRE: "pierre-secret-2",
    DISABLED: "disabled-secret-3",
    FULL: "full-secret-4",
}
TIMEOUT = 10.0  # every wait in these tests is bounded


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Accounts and aliases, created once: arthur and pierre; a disabled and a full account; aliases."""
    path = tmp_path_factory.mktemp("smtp-template") / "data"
    path.mkdir()
    (path / CONFIG_NAME).write_text(render({"server": {"hostname": HOSTNAME}}), encoding="utf-8")
    generate_self_signed(HOSTNAME, path / "tls" / "cert.pem", path / "tls" / "key.pem")
    migrate_store(path)
    store = open_store(load(path, environ={}))
    try:
        accounts = Accounts(store)
        accounts.add_domain(DOMAIN)
        accounts.add_domain("example.org")
        for address, password in PASSWORDS.items():
            accounts.add_user(address, password)
        accounts.set_disabled(DISABLED, True)
        accounts.set_quota(FULL, 1000)
        accounts.add_alias("sales@example.test", [ARTHUR, PIERRE])
        accounts.add_alias("arthur@example.org", [ARTHUR])
        accounts.add_alias("forward@example.test", ["friend@remote.example"])
        accounts.add_alias("old@example.test", [DISABLED])
        accounts.add_alias("@example.org", [PIERRE])
    finally:
        store.close()
    return path


@dataclass
class Harness:
    """One running App with its three listeners."""

    app: App
    ports: dict[Mode, int]
    servers: list[asyncio.Server] = field(default_factory=list)

    @property
    def cert(self) -> Path:
        return self.app.config.tls_cert

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert))
        return context

    def smtp(self, mode: Mode = Mode.MX, helo: str = "client.sender.example") -> smtplib.SMTP:
        """A connected smtplib client (blocking: use it inside asyncio.to_thread)."""
        port = self.ports[mode]
        if mode is Mode.SUBMISSIONS:
            context = self.client_context()
            return smtplib.SMTP_SSL("127.0.0.1", port, local_hostname=helo, timeout=TIMEOUT, context=context)
        return smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=TIMEOUT)

    def submit_client(self, login: str = ARTHUR) -> smtplib.SMTP:
        client = self.smtp(Mode.SUBMISSION)
        client.starttls(context=self.client_context())
        client.login(login, PASSWORDS[login])
        return client

    def account_id(self, address: str) -> int:
        return self.app.accounts.get(address).id

    def inbox(self, address: str, mailbox: str = "INBOX") -> list[Message]:
        box = self.app.store.get_mailbox(self.account_id(address), mailbox)
        assert box is not None
        return self.app.store.list_messages(box.id)

    def contents(self, address: str) -> list[bytes]:
        return [self.app.store.read_blob(m.blob) for m in self.inbox(address)]

    def total_messages(self) -> int:
        store = self.app.store
        return sum(box.messages for account in store.list_accounts() for box in store.list_mailboxes(account.id))

    async def raw(self, mode: Mode = Mode.MX) -> RawClient:
        client = RawClient()
        await client.connect(self.ports[mode], self.client_context() if mode is Mode.SUBMISSIONS else None)
        return client


class RawClient:
    """Byte-exact SMTP client for framing tests: send any bytes, read whole replies."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def connect(self, port: int, context: ssl.SSLContext | None = None) -> str:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), TIMEOUT
        )
        return await self.reply()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> str:
        """One complete (possibly multi-line) reply, lines joined by newlines, CRLF removed."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), TIMEOUT)
            assert line.endswith(b"\r\n"), line
            lines.append(line[:-2].decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    async def command(self, line: str | bytes) -> str:
        await self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return await self.reply()

    async def starttls(self, context: ssl.SSLContext) -> None:
        assert (await self.command("STARTTLS")).startswith("220 ")
        await self.writer.start_tls(context, server_hostname="127.0.0.1")

    async def closed(self) -> bool:
        """True once the server has closed the connection (read returns EOF)."""
        try:
            return await asyncio.wait_for(self.reader.read(), TIMEOUT) == b"" or self.reader.at_eof()
        except (ConnectionError, ssl.SSLError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


Starter = Callable[..., Awaitable[Harness]]


def _merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


@pytest.fixture
async def start_smtp(template_dir: Path, tmp_path: Path, dns_server: DNSServer) -> AsyncIterator[Starter]:
    """Start the SMTP listeners on free ports with configuration overrides: `await start_smtp(smtp={...})`."""
    data = tmp_path / "data"
    shutil.copytree(template_dir, data)
    running: list[Harness] = []

    async def start(**overrides: dict[str, Any]) -> Harness:
        base = {
            "server": {"hostname": HOSTNAME},
            "dns": {"nameserver": f"127.0.0.1:{dns_server.port}"},
            "limits": {"login_delay_ms": 50, "login_max_delay_ms": 200},
        }
        (data / CONFIG_NAME).write_text(render(_merge(base, overrides)), encoding="utf-8")
        app = App.open(load(data, environ={}))
        harness = Harness(app, {})
        running.append(harness)
        connections = Connections(app.config.smtp.max_connections_per_ip)
        for mode in Mode:
            server = await start_listener(app, mode, "127.0.0.1", 0, connections)
            harness.servers.append(server)
            harness.ports[mode] = server.sockets[0].getsockname()[1]
        return harness

    yield start
    for harness in running:
        for server in harness.servers:
            server.close()
        await asyncio.to_thread(harness.app.close)


@pytest.fixture
async def smtp(start_smtp: Starter) -> Harness:
    """The listeners with the default test configuration."""
    return await start_smtp()
