"""REPLACE and UID REPLACE (RFC 8508) through the session, byte for byte."""

from __future__ import annotations

from arobase.imap.wire.parser import parse
from arobase.imap.wire.receiver import CommandBytes, Receiver

from .conftest import MESSAGE, Driver
from .engine_fixtures import deliver, settle

DRAFT = MESSAGE.replace(b"Hi there.", b"Hi there, second draft." + b" padding" * 700)


def test_replace_parse_and_receive() -> None:
    cmd = parse(b"a UID REPLACE 7 Drafts (\\Draft) {3+}\r\nabc\r\n")
    assert cmd.name == "UID REPLACE" and cmd.number == 7 and cmd.mailbox == "Drafts"  # type: ignore[attr-defined]
    assert cmd.message.flags == ("\\Draft",) and cmd.message.data == b"abc"  # type: ignore[attr-defined]
    assert parse(b"b REPLACE * INBOX {1+}\r\nx\r\n").name == "REPLACE"
    receiver = Receiver(max_literal=10, max_append=10_000)  # REPLACE literals are messages: the APPEND limit
    receiver.feed(b"c UID REPLACE 1 INBOX {5000+}\r\n" + b"x" * 5000 + b"\r\n")
    assert isinstance(receiver.next_event(), CommandBytes)


async def _two_messages(d: Driver) -> None:
    account = d.session.state.account
    assert account is not None
    deliver(d.session.app.store, account, MESSAGE)
    deliver(d.session.app.store, account, MESSAGE.replace(b"hello", b"second"))
    await settle(d.session.app.store)


async def test_replace_in_the_selected_mailbox(logged_in: Driver) -> None:
    await _two_messages(logged_in)
    await logged_in.cmd("s SELECT INBOX")
    out = await logged_in.send(b"r REPLACE 1 INBOX (\\Seen \\Draft) {%d+}\r\n%s\r\n" % (len(DRAFT), DRAFT))
    account = logged_in.session.state.account
    box = logged_in.session.app.store.get_mailbox(account.id, "INBOX") if account else None
    assert box is not None
    assert out.split(b"\r\n")[:-1] == [
        b"* OK [APPENDUID %d 3] Replacement Message ready" % box.uidvalidity,
        b"* 1 EXPUNGE",
        b"* 2 EXISTS",
        b"* 1 RECENT",
        b"r OK REPLACE completed",
    ]
    fetched = await logged_in.cmd("f FETCH 1:* (UID FLAGS)")
    assert fetched[:2] == [b"* 1 FETCH (UID 2 FLAGS ())", b"* 2 FETCH (UID 3 FLAGS (\\Seen \\Draft \\Recent))"]


async def test_uid_replace_into_another_mailbox(logged_in: Driver) -> None:
    await _two_messages(logged_in)
    await logged_in.cmd("s SELECT INBOX")
    out = await logged_in.send(b"r UID REPLACE 2 Drafts {%d+}\r\n%s\r\n" % (len(DRAFT), DRAFT))
    lines = out.split(b"\r\n")[:-1]
    assert lines[0].startswith(b"* OK [APPENDUID ") and lines[0].endswith(b" 1] Replacement Message ready")
    assert lines[1:] == [b"* 2 EXPUNGE", b"r OK UID REPLACE completed"]
    assert (await logged_in.cmd("t STATUS Drafts (MESSAGES)"))[0] == b"* STATUS Drafts (MESSAGES 1)"


async def test_replace_refusals_keep_the_original(logged_in: Driver) -> None:
    await _two_messages(logged_in)
    await logged_in.cmd("s SELECT INBOX")
    assert (await logged_in.send(b"a REPLACE 9 INBOX {1+}\r\nx\r\n")).startswith(b"a BAD")
    assert (await logged_in.send(b"b UID REPLACE 99 INBOX {1+}\r\nx\r\n")).startswith(b"b NO [NONEXISTENT]")
    assert (await logged_in.send(b"c REPLACE 1 Nowhere {1+}\r\nx\r\n")).startswith(b"c NO [TRYCREATE]")
    assert (await logged_in.cmd("n NOOP")) == [b"n OK NOOP completed"]  # nothing was expunged
    await logged_in.cmd("e EXAMINE INBOX")
    assert (await logged_in.send(b"d REPLACE 1 INBOX {1+}\r\nx\r\n")).startswith(b"d NO [READ-ONLY]")
    assert b"REPLACE" in (await logged_in.cmd("c CAPABILITY"))[0].split()
