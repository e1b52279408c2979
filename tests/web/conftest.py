"""Webmail fixtures: an App around a temporary data directory, two accounts, a signed-in client."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.conftest import make_data_dir

from arobase.app import App
from arobase.config import Config, load
from arobase.web.app import create_app

ARTHUR = ("Arthur.Dupont@example.test", "arthur-secret-pass-1")
PIERRE = ("pierre.durand@example.test", "pierre-secret-pass-2")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the domain and both accounts, made once: each test gets a copy.

    A certificate, the migrations and two argon2id password hashes per test cost more than all
    the rest of most tests here.
    """
    path = make_data_dir(tmp_path_factory.mktemp("web") / "data")
    app = App.open(load(path, environ={}))
    try:
        app.accounts.add_domain("example.test", dkim=False)
        app.accounts.add_user(ARTHUR[0], ARTHUR[1], display_name="Arthur Dupont")
        app.accounts.add_user(PIERRE[0], PIERRE[1], display_name="Pierre Durand")
    finally:
        app.close()
    return path


@pytest.fixture
def data_dir(web_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(web_template, tmp_path / "data"))


@pytest.fixture
def mail_app(config: Config) -> Iterator[App]:
    app = App.open(config)
    yield app
    app.close()


def deliver(app: App, address: str, raw: bytes, mailbox: str = "INBOX", flags: tuple[str, ...] = ()) -> int:
    """Put a message straight into a mailbox; returns its UID."""
    account = app.accounts.get(address)
    blob = app.store.put_message(raw)
    _, uid = app.store.append(account.id, mailbox, blob, flags).wait()
    return uid


def simple(subject: str, body: str = "Hello", sender: str = "someone@elsewhere.test", **headers: str) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ARTHUR[0]
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def rich() -> bytes:
    """HTML with an inline cid image, a plain alternative and a PDF attachment."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Alice <alice@elsewhere.test>"
    msg["To"] = ARTHUR[0]
    msg["Subject"] = "Holiday pictures"
    msg["Message-ID"] = "<rich-1@elsewhere.test>"
    msg.set_content("Look at this picture.")
    msg.add_alternative('<p>Look at <b>this</b> picture:</p><img alt="dot" src="cid:dot@x">', subtype="html")
    msg.get_payload()[1].add_related(PNG, maintype="image", subtype="png", cid="<dot@x>")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="report.pdf")
    return msg.as_bytes()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in page"
    return found.group(1)


def login(client: TestClient, address: str, password: str) -> str:
    """Sign in; returns the CSRF token of the session."""
    page = client.get("/login")
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token
    response = client.post("/login", data={"token": token.group(1), "address": address, "password": password})
    assert response.status_code == 200, response.text[:500]
    return csrf_of(response.text)


@pytest.fixture
def client(mail_app: App) -> Iterator[TestClient]:
    asgi, _ = create_app(mail_app, secure=False)
    with TestClient(asgi, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def arthur(client: TestClient) -> str:
    return login(client, ARTHUR[0].upper(), ARTHUR[1])
