"""Fixtures for the protection tests: a data directory with two accounts, its App, message builders."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import pytest
from tests.conftest import make_data_dir
from tests.dnsserver import DNSServer, dns_server

from arobase.app import App
from arobase.config import load
from arobase.services.accounts import Accounts
from arobase.store import open_store

__all__ = ["dns_server"]

ARTHUR = "arthur.dupont@example.test"
PIERRE = "pierre.durand@example.test"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Accounts cost an argon2 hash each: made once, copied per test."""
    path = make_data_dir(tmp_path_factory.mktemp("filters") / "data")
    store = open_store(load(path, environ={}))
    try:
        accounts = Accounts(store)
        accounts.add_domain("example.test")
        accounts.add_user(ARTHUR, "arthur-secret-1")
        accounts.add_user(PIERRE, "pierre-secret-2")
    finally:
        store.close()
    return path


@pytest.fixture
def data(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "data"
    shutil.copytree(template, path)
    return path


def open_app(data: Path, environ: dict[str, str] | None = None, **filters: object) -> App:
    """An App whose [filters] section has the given settings (env-style overrides)."""
    environ = dict(environ or {})
    for key, value in filters.items():
        environ[f"AROBASE_FILTERS_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return App.open(load(data, environ=environ))


@pytest.fixture
def app(data: Path) -> Iterator[App]:
    app = open_app(data)
    yield app
    app.close()


@pytest.fixture
def dns(dns_server: DNSServer) -> DNSServer:
    return dns_server


def message(
    body: str = "Hello Arthur,\n\nSee you at lunch tomorrow?\n\nPierre\n",
    *,
    subject: str = "Lunch",
    sender: str = "Pierre <pierre@friends.example>",
    to: str = ARTHUR,
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
    headers: dict[str, str] | None = None,
    date: bool = True,
    message_id: bool = True,
) -> bytes:
    """A message as a client would send it (CRLF)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if date:
        msg["Date"] = formatdate()
    if message_id:
        msg["Message-ID"] = "<m1@friends.example>"
    for name, value in (headers or {}).items():
        msg[name] = value
    if html is not None and body == "":
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for filename, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
