"""The pipeline behind the real MX and submission listeners, and learning from mailbox moves."""

from __future__ import annotations

import asyncio
import email
import smtplib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.dnsserver import DNSServer

from arobase.app import App
from arobase.smtp import Mode, start_listener

from .conftest import ARTHUR, PIERRE, message, open_app
from .test_attachments import MACROS, legacy, ooxml
from .test_pipeline import SPAMMY, train

TIMEOUT = 10.0


def send(port: int, raw: bytes, rcpt: str = ARTHUR, sender: str = "pierre@friends.example") -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.friends.example", timeout=TIMEOUT) as client:
        client.sendmail(sender, [rcpt], raw)


async def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def serve(data: Path, dns: DNSServer, **filters: object) -> tuple[App, dict[Mode, int], list[asyncio.Server]]:
    environ = {"AROBASE_DNS_NAMESERVER": f"{dns.host}:{dns.port}", "AROBASE_AUTH_ALLOW_PLAINTEXT_ON_LOOPBACK": "true"}
    app = await asyncio.to_thread(open_app, data, environ, **filters)
    servers = [await start_listener(app, mode, "127.0.0.1", 0) for mode in (Mode.MX, Mode.SUBMISSION)]
    ports = {mode: s.sockets[0].getsockname()[1] for mode, s in zip((Mode.MX, Mode.SUBMISSION), servers, strict=True)}
    return app, ports, servers


async def stop(app: App, servers: list[asyncio.Server]) -> None:
    for server in servers:
        server.close()
    await asyncio.to_thread(app.close)


def box(app: App, address: str, name: str) -> list[bytes]:
    account = app.accounts.get(address)
    mailbox = app.store.get_mailbox(account.id, name)
    assert mailbox is not None
    return [app.store.read_blob(m.blob) for m in app.store.list_messages(mailbox.id)]


async def test_mx_junk_quarantine_and_learning(data: Path, dns: DNSServer) -> None:
    app, ports, servers = await serve(data, dns)
    try:
        await asyncio.to_thread(train, app)
        mx = ports[Mode.MX]
        spam = message(SPAMMY, subject="WIN MONEY NOW", sender="Promo <promo@casino.example>")
        forged = b"X-Arobase-Spam: No, score=-50\r\n" + spam
        await asyncio.to_thread(send, mx, forged)
        [junk] = box(app, ARTHUR, "Junk")
        head = junk.split(b"\r\n\r\n")[0]
        assert b"X-Arobase-Spam: Yes" in head and b"score=-50" not in head
        assert head.index(b"Authentication-Results") < head.index(b"X-Arobase-Spam") < head.index(b"Received")

        exe = message(
            "Invoice attached.\n", attachments=[("invoice.exe", b"MZ" + b"\0" * 100, "application/octet-stream")]
        )
        await asyncio.to_thread(send, mx, exe)
        [delivered] = box(app, ARTHUR, "INBOX")
        assert b"The attachment 'invoice.exe' was removed" in delivered
        [held] = app.store.quarantine_list()
        assert held.reasons == ("invoice.exe is a .exe file, which can run code", "invoice.exe is a Windows program")

        # Learning: the user moves the delivered message into Junk (spam), then back (ham).
        account = app.accounts.get(ARTHUR)
        inbox, junk_box = (app.store.get_mailbox(account.id, n) for n in ("INBOX", "Junk"))
        assert inbox is not None and junk_box is not None
        [message_row] = app.store.list_messages(inbox.id)
        [spam_row] = app.store.list_messages(junk_box.id)
        await app.store.copy(inbox.id, [message_row.uid], junk_box.id, move=True)
        await wait_for(lambda: app.store.filter_trained(account.id, message_row.blob) is True)
        moved = [m for m in app.store.list_messages(junk_box.id) if m.blob == message_row.blob]
        await app.store.copy(junk_box.id, [moved[0].uid], inbox.id, move=True)
        await wait_for(lambda: app.store.filter_trained(account.id, message_row.blob) is False)
        assert app.store.filter_trained(account.id, spam_row.blob) is None  # our own Junk delivery taught nothing
        assert app.store.filter_totals([account.id]) == (0, 1)
    finally:
        await stop(app, servers)


async def test_mx_reject_and_submission_rules(data: Path, dns: DNSServer) -> None:
    app, ports, servers = await serve(data, dns, reject_score=5)
    try:
        await asyncio.to_thread(train, app)
        spam = message(SPAMMY, subject="WIN MONEY NOW", sender="Promo <promo@casino.example>")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await asyncio.to_thread(send, ports[Mode.MX], spam)
        assert refused.value.smtp_code == 550 and refused.value.smtp_error == b"5.7.1 Message refused as spam"

        def submit(raw: bytes) -> None:
            with smtplib.SMTP("127.0.0.1", ports[Mode.SUBMISSION], timeout=TIMEOUT) as client:
                client.login(PIERRE, "pierre-secret-2")
                client.sendmail(PIERRE, [ARTHUR], raw)

        with pytest.raises(smtplib.SMTPDataError) as dangerous:
            await asyncio.to_thread(
                submit, message("x", sender=PIERRE, attachments=[("a.js", b"eval(1)", "application/javascript")])
            )
        assert dangerous.value.smtp_code == 550
        assert b"Dangerous attachment refused: a.js is a .js file" in dangerous.value.smtp_error
        await asyncio.to_thread(submit, message("Lunch?", sender=PIERRE))
        pierre = app.accounts.get(PIERRE)
        await wait_for(lambda: app.store.correspondent_messages(pierre.id, ARTHUR) == 1)
        [stored] = box(app, ARTHUR, "INBOX")
        assert b"X-Arobase" not in stored  # submissions carry no verdict headers
    finally:
        await stop(app, servers)


@pytest.mark.parametrize("action", ["quarantine", "reject"])
async def test_mx_macro_documents(data: Path, dns: DNSServer, action: str) -> None:
    """A workbook with a VBA project is taken out (or the message refused, by domain policy); the same kind of
    document without macros, in the same message, goes through untouched."""
    policy = {"domains": "example.test: attachments=reject"} if action == "reject" else {}
    app, ports, servers = await serve(data, dns, **policy)
    try:
        workbook = ooxml("xl/workbook.xml")
        letter = legacy("WordDocument", "Macros", code=False)
        raw = message(
            "The figures and the letter.\n",
            attachments=[
                ("budget.xlsm", workbook, "application/vnd.ms-excel.sheet.macroEnabled.12"),
                ("letter.doc", letter, "application/msword"),
            ],
        )
        if action == "reject":
            with pytest.raises(smtplib.SMTPDataError) as refused:
                await asyncio.to_thread(send, ports[Mode.MX], raw)
            assert refused.value.smtp_code == 550
            assert refused.value.smtp_error == b"5.7.1 Dangerous attachment refused: budget.xlsm " + MACROS.encode()
            assert box(app, ARTHUR, "INBOX") == [] and app.store.quarantine_list() == []
            return
        await asyncio.to_thread(send, ports[Mode.MX], raw)
        [delivered] = box(app, ARTHUR, "INBOX")
        assert b"The attachment 'budget.xlsm' was removed" in delivered
        [letter_part] = [p for p in email.message_from_bytes(delivered).walk() if p.get_filename() == "letter.doc"]
        assert letter_part.get_payload(decode=True) == letter
        [held] = app.store.quarantine_list()
        assert held.reasons == (f"budget.xlsm {MACROS}",)
    finally:
        await stop(app, servers)
