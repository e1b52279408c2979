"""Fixtures for the IMAP tests: an App around a populated data directory, a sans-I/O driver, listeners.

Accounts cost an argon2 hash each, so they are made once in a template directory that each test
copies. `Driver` feeds bytes to a `Session` and returns what it answers, with no network;
`imap_server` starts the real imap and imaps listeners on free ports. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from arobase.app import App
from arobase.config import CONFIG_NAME, load, render
from arobase.imap.session import Limits, Session
from arobase.services.accounts import Accounts
from arobase.services.throttle import Throttle
from arobase.store import migrate_store, open_store
from arobase.tls import generate_self_signed

HOSTNAME = "mail.example.test"
ARTHUR = "arthur.dupont@example.test"
PIERRE = "pierre.durand@example.test"
DISABLED = "gone@example.test"
PASSWORDS = {ARTHUR: "arthur-secret-1", PIERRE: "pierre-secret-2", DISABLED: "disabled-secret-3"}
TIMEOUT = 10.0

MESSAGE = (
    b"From: Pierre <pierre.durand@example.test>\r\nTo: arthur.dupont@example.test\r\n"
    b"Subject: hello\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.test>\r\n\r\nHi there.\r\n"
)


@pytest.fixture(scope="session")
def imap_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("imap-template") / "data"
    path.mkdir()
    (path / CONFIG_NAME).write_text(render({"server": {"hostname": HOSTNAME}}), encoding="utf-8")
    generate_self_signed(HOSTNAME, path / "tls" / "cert.pem", path / "tls" / "key.pem")
    migrate_store(path)
    store = open_store(load(path, environ={}))
    try:
        accounts = Accounts(store)
        accounts.add_domain("example.test")
        for address, password in PASSWORDS.items():
            accounts.add_user(address, password)
        accounts.set_disabled(DISABLED, True)
    finally:
        store.close()
    return path


@pytest.fixture
def imap_app(imap_template: Path, tmp_path: Path) -> Iterator[App]:
    data = tmp_path / "data"
    shutil.copytree(imap_template, data)
    app = App.open(load(data, environ={}))
    app.throttle = Throttle(free_failures=2, delay=0.01, max_delay=0.02, lockout_failures=6, lockout_seconds=60)
    yield app
    app.close()


class Driver:
    """Talks to a Session byte for byte: `await d.send(b"a NOOP\\r\\n")` returns the answer."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.greeting = session.data_to_send()

    async def send(self, data: bytes) -> bytes:
        self.session.receive(data)
        await asyncio.wait_for(self.session.process(), TIMEOUT)
        return self.session.data_to_send()

    async def cmd(self, line: str | bytes) -> list[bytes]:
        """One command line (CRLF added); the answer split into lines without CRLF."""
        data = line.encode() if isinstance(line, str) else line
        return (await self.send(data + b"\r\n")).split(b"\r\n")[:-1]

    async def login(self, address: str = ARTHUR) -> None:
        lines = await self.cmd(f'L LOGIN {address} "{PASSWORDS[address]}"')
        assert lines[-1].startswith(b"L OK"), lines


def make_session(app: App, **kwargs: object) -> Session:
    kwargs.setdefault("peer_ip", "192.0.2.1")
    kwargs.setdefault("secure", True)
    kwargs.setdefault("limits", Limits(line=2000, literal=1000, append=100_000, errors=5))
    return Session(app, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def driver(imap_app: App) -> Iterator[Driver]:
    d = Driver(make_session(imap_app))
    yield d
    d.session.close()


@pytest.fixture
async def logged_in(imap_app: App) -> AsyncIterator[Driver]:
    d = Driver(make_session(imap_app))
    await d.login()
    yield d
    d.session.close()


def client_context(app: App) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(app.config.tls_cert))
