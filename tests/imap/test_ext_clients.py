"""Issue 9's extensions as real clients see them: IMAPClient's sort, thread, quota and imaplib over the listener."""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from collections.abc import AsyncIterator

import pytest
from imapclient import IMAPClient
from tests.imap.conftest import ARTHUR, PASSWORDS, TIMEOUT, client_context

from arobase.app import App
from arobase.imap.server import Connections, start_listener
from arobase.imap.session import Limits
from arobase.services.accounts import Accounts


def mail(mid: str, subject: str, date: str, refs: str = "") -> bytes:
    head = f"From: x@example.test\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {mid}\r\n"
    if refs:
        head += f"References: {refs}\r\n"
    return (head + "\r\nbody\r\n").encode()


MESSAGES = [
    mail("<a@x>", "Trip", "Mon, 2 Jan 2023 10:00:00 +0000"),
    mail("<b@x>", "Re: Trip", "Mon, 2 Jan 2023 12:00:00 +0000", "<a@x>"),
    mail("<c@x>", "Agenda", "Sun, 1 Jan 2023 10:00:00 +0000"),
    mail("<d@x>", "Re: Trip", "Mon, 2 Jan 2023 11:00:00 +0000", "<a@x>"),
]


@pytest.fixture
async def imaps(imap_app: App) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    Accounts(imap_app.store).set_quota(ARTHUR, 2 * 1024 * 1024)
    limits = Limits(append=200_000, idle_timeout=30.0)
    server = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=True, limits=limits, connections=Connections())
    yield server.sockets[0].getsockname()[1], client_context(imap_app)
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


def _imapclient(port: int, context: ssl.SSLContext) -> dict[str, object]:
    out: dict[str, object] = {}
    with IMAPClient("127.0.0.1", port=port, ssl=True, ssl_context=context, timeout=TIMEOUT) as client:
        client.login(ARTHUR, PASSWORDS[ARTHUR])
        for raw in MESSAGES:
            client.append("INBOX", raw)
        client.select_folder("INBOX")
        out["caps"] = client.capabilities()
        out["sort"] = client.sort(["REVERSE", "DATE"])
        out["sort_subject"] = client.sort(["SUBJECT", "DATE"])
        out["thread"] = client.thread("REFERENCES")
        out["ordered"] = client.thread("ORDEREDSUBJECT")
        out["quota"] = client.get_quota_root("INBOX")
    return out


async def test_imapclient_sort_thread_quota(imaps: tuple[int, ssl.SSLContext]) -> None:
    out = await asyncio.wait_for(asyncio.to_thread(_imapclient, *imaps), TIMEOUT * 2)
    caps = out["caps"]
    assert isinstance(caps, tuple) and b"THREAD=REFERENCES" in caps and b"COMPRESS=DEFLATE" in caps
    assert out["sort"] == [2, 4, 1, 3]  # UIDs by date, newest first
    assert out["sort_subject"] == [3, 1, 4, 2]  # agenda, then trip by date
    assert out["thread"] == ((3,), (1, (4,), (2,)))
    assert out["ordered"] == ((3,), (1, (4,), (2,)))
    roots, quotas = out["quota"]  # type: ignore[misc]
    assert roots.mailbox == "INBOX" and roots.quota_roots == [""]
    assert [(q.quota_root, q.resource, q.limit) for q in quotas] == [("", "STORAGE", 2048)]


def _imaplib_quota_sort(port: int, context: ssl.SSLContext) -> tuple[str, str, str]:
    """imaplib's own SETQUOTA, GETQUOTA and SORT."""
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=TIMEOUT)
    client.login(ARTHUR, PASSWORDS[ARTHUR])
    client.select("INBOX")
    typ, _ = client.setquota('""', "(STORAGE 1)")
    quota_typ, quota = client.getquota('""')
    sort_typ, _ = client.sort("(DATE)", "UTF-8", "ALL")
    client.logout()
    return typ, f"{quota_typ} {quota}", sort_typ


async def test_imaplib_setquota_refused_and_sort(imaps: tuple[int, ssl.SSLContext]) -> None:
    typ, quota, sort_typ = await asyncio.wait_for(asyncio.to_thread(_imaplib_quota_sort, *imaps), TIMEOUT * 2)
    assert (typ, quota, sort_typ) == ("NO", "OK [b'\"\" (STORAGE 0 2048)']", "OK")
