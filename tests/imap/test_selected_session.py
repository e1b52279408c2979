"""The selected state through the real parser and session, byte for byte (literals, charsets, IDLE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tests.imap.conftest import ARTHUR, Driver

from arobase.app import App

RAW = (
    b"From: =?utf-8?q?Ren=C3=A9?= <rene@example.test>\r\nTo: arthur.dupont@example.test\r\n"
    b"Subject: =?utf-8?q?R=C3=A9union?= de lundi\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nOrdre du jour.\r\n"
)


def deliver(app: App, raw: bytes = RAW, flags: tuple[str, ...] = ()) -> None:
    account = app.store.find_account(ARTHUR)
    assert account is not None
    app.store.deliver(
        app.store.put_message(raw), [(account.id, "INBOX")], datetime(2024, 1, 2, tzinfo=UTC), flags
    ).wait()


async def settle(app: App) -> None:
    await app.store._write(lambda tx: None)
    await asyncio.sleep(0)


async def test_fetch_search_store_through_the_parser(logged_in: Driver, imap_app: App) -> None:
    deliver(imap_app)
    deliver(imap_app, RAW.replace(b"lundi", b"mardi"), ("\\Seen",))
    lines = await logged_in.cmd("s SELECT inbox")
    assert lines[-1] == b"s OK [READ-WRITE] SELECT completed"
    lines = await logged_in.cmd("f FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (subject)])")
    assert lines == [
        b"* 1 FETCH (FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {46}",
        b"Subject: =?utf-8?q?R=C3=A9union?= de lundi",
        b"",
        b")",
        b"* 2 FETCH (FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {46}",
        b"Subject: =?utf-8?q?R=C3=A9union?= de mardi",
        b"",
        b")",
        b"f OK FETCH completed",
    ]
    # a search string as a literal, in UTF-8, matched against the decoded header
    out = await logged_in.send(b"u UID SEARCH CHARSET UTF-8 SUBJECT {8}\r\n")
    assert out.startswith(b"+ ")
    out = await logged_in.send("réunion".encode() + b" UNSEEN\r\n")
    assert out == b"* SEARCH 1\r\nu OK UID SEARCH completed\r\n"
    lines = await logged_in.cmd("b SEARCH CHARSET KOI8-R ALL")
    assert lines[-1].startswith(b"b NO [BADCHARSET")
    lines = await logged_in.cmd("e SEARCH RETURN (MIN COUNT) FROM rene")
    assert lines == [b'* ESEARCH (TAG "e") MIN 1 COUNT 2', b"e OK SEARCH completed"]
    lines = await logged_in.cmd("st STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert lines == [b"st OK STORE completed"]
    lines = await logged_in.cmd("x EXPUNGE")
    assert lines == [b"* 1 EXPUNGE", b"x OK EXPUNGE completed"]


async def test_idle_reports_new_mail_and_expunges(logged_in: Driver, imap_app: App) -> None:
    deliver(imap_app)
    await logged_in.cmd("s SELECT INBOX")
    out = await logged_in.send(b"i IDLE\r\n")
    assert out.startswith(b"+ ")
    deliver(imap_app)
    await settle(imap_app)
    assert logged_in.session.data_to_send() == b"* 2 EXISTS\r\n* 1 RECENT\r\n"
    account = imap_app.store.find_account(ARTHUR)
    assert account is not None
    box = imap_app.store.get_mailbox(account.id, "INBOX")
    assert box is not None
    imap_app.store.expunge(box.id, [1]).wait()
    await settle(imap_app)
    assert logged_in.session.data_to_send() == b"* 1 EXPUNGE\r\n"
    assert await logged_in.send(b"DONE\r\n") == b"i OK IDLE terminated\r\n"


async def test_rev2_session(logged_in: Driver, imap_app: App) -> None:
    deliver(imap_app)
    assert (await logged_in.cmd("e ENABLE IMAP4rev2"))[-1] == b"e OK ENABLE completed"
    lines = await logged_in.cmd("s EXAMINE INBOX")
    assert b'* LIST () "/" INBOX' in lines
    assert not any(b"RECENT" in line for line in lines)
    assert lines[-1] == b"s OK [READ-ONLY] EXAMINE completed"
    lines = await logged_in.cmd("f SEARCH ALL")
    assert lines == [b'* ESEARCH (TAG "f") ALL 1', b"f OK SEARCH completed"]
    lines = await logged_in.cmd("g FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
    assert lines == [b"* 1 FETCH (BINARY.SIZE[1] 16 BINARY[1] {16}", b"Ordre du jour.", b")", b"g OK FETCH completed"]
    lines = await logged_in.cmd("s2 SELECT INBOX")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"
