"""QUOTA (RFC 9208), OBJECTID (RFC 8474) and PREVIEW (RFC 8970) through the session, byte for byte."""

from __future__ import annotations

import hashlib

from arobase.imap.wire.parser import parse
from arobase.services.accounts import Accounts
from arobase.store import objectid

from .conftest import ARTHUR, MESSAGE, Driver
from .engine_fixtures import deliver, settle


def test_quota_parse() -> None:
    cmd = parse(b'a SETQUOTA "" (STORAGE 512 message 1000)\r\n')
    assert cmd.root == "" and cmd.limits == (("STORAGE", 512), ("MESSAGE", 1000))  # type: ignore[attr-defined]
    assert parse(b'b SETQUOTA "" ()\r\n').limits == ()  # type: ignore[attr-defined]
    assert parse(b"c GETQUOTAROOT inbox\r\n").mailbox == "inbox"  # type: ignore[attr-defined]
    assert parse(b'd GETQUOTA ""\r\n').root == ""  # type: ignore[attr-defined]


async def test_quota_from_the_account(logged_in: Driver) -> None:
    app = logged_in.session.app
    assert await logged_in.cmd("a GETQUOTAROOT INBOX") == [b"* QUOTAROOT INBOX", b"a OK GETQUOTAROOT completed"]
    assert (await logged_in.cmd('b GETQUOTA ""'))[-1] == b"b NO [NONEXISTENT] no quota root ''"
    Accounts(app.store).set_quota(ARTHUR, 10 * 1024 * 1024)
    account = logged_in.session.state.account
    assert account is not None
    deliver(app.store, account, MESSAGE)
    await settle(app.store)
    used = (app.store.get_account(account.id).used + 1023) // 1024
    assert used >= 1
    assert await logged_in.cmd("c GETQUOTAROOT inbox") == [
        b'* QUOTAROOT INBOX ""',
        b'* QUOTA "" (STORAGE %d 10240)' % used,
        b"c OK GETQUOTAROOT completed",
    ]
    assert await logged_in.cmd('d GETQUOTA ""') == [b'* QUOTA "" (STORAGE %d 10240)' % used, b"d OK GETQUOTA completed"]
    assert await logged_in.cmd('e SETQUOTA "" (STORAGE 1)') == [b"e NO [NOPERM] quotas are set by the administrator"]
    assert (await logged_in.cmd("f GETQUOTAROOT Nowhere"))[-1].startswith(b"f NO [NONEXISTENT]")
    # what an EXPUNGE would give back, in the same units
    big = MESSAGE.replace(b"Hi there.", b"x" * 5000)
    deliver(app.store, account, big, flags=["\\Deleted"])
    await settle(app.store)
    status = await logged_in.cmd("g STATUS INBOX (DELETED DELETED-STORAGE)")
    assert status[0] == b"* STATUS INBOX (DELETED 1 DELETED-STORAGE %d)" % ((len(big) + 1023) // 1024)


async def test_message_quota_resource(logged_in: Driver) -> None:
    app = logged_in.session.app
    account = logged_in.session.state.account
    assert account is not None
    Accounts(app.store).set_quota(ARTHUR, 0, messages=2)
    deliver(app.store, account, MESSAGE)
    await settle(app.store)
    assert await logged_in.cmd('a GETQUOTA ""') == [b'* QUOTA "" (MESSAGE 1 2)', b"a OK GETQUOTA completed"]
    Accounts(app.store).set_quota(ARTHUR, 10 * 1024 * 1024, messages=2)
    used = (app.store.get_account(account.id).used + 1023) // 1024
    assert (await logged_in.cmd('b GETQUOTA ""'))[0] == b'* QUOTA "" (STORAGE %d 10240 MESSAGE 1 2)' % used
    deliver(app.store, account, MESSAGE.replace(b"Hi there.", b"Second."))
    await settle(app.store)
    appended = await logged_in.cmd(f"c APPEND INBOX {{{len(MESSAGE)}+}}\r\n{MESSAGE.decode()}")
    assert appended[-1].startswith(b"c NO [OVERQUOTA]")  # the third message does not fit


async def test_object_ids(logged_in: Driver) -> None:
    app = logged_in.session.app
    account = logged_in.session.state.account
    assert account is not None
    reply = MESSAGE.replace(b"Message-ID: <1@example.test>", b"Message-ID: <2@x>\r\nReferences: <1@example.test>")
    deliver(app.store, account, MESSAGE)
    deliver(app.store, account, reply)
    await settle(app.store)
    box = app.store.get_mailbox(account.id, "INBOX")
    assert box is not None
    mailbox_id = objectid.mailbox_id(box.id)
    assert len(mailbox_id) == 21 and mailbox_id.startswith("F")
    selected = await logged_in.cmd("s SELECT INBOX")
    assert b"* OK [MAILBOXID (%s)] Ok" % mailbox_id.encode() in selected
    status = await logged_in.cmd("t STATUS INBOX (MESSAGES MAILBOXID)")
    assert status[0] == b"* STATUS INBOX (MESSAGES 2 MAILBOXID (%s))" % mailbox_id.encode()
    listed = await logged_in.cmd('l LIST "" INBOX RETURN (STATUS (MAILBOXID))')
    assert b"* STATUS INBOX (MAILBOXID (%s))" % mailbox_id.encode() in listed
    fetched = await logged_in.cmd("f FETCH 1:2 (EMAILID THREADID)")
    digest = hashlib.sha256(MESSAGE).hexdigest()
    thread = objectid.thread_id("<1@example.test>")
    assert fetched[0] == b"* 1 FETCH (EMAILID (M%s) THREADID (%s))" % (digest[:24].encode(), thread.encode())
    assert fetched[1].endswith(b"THREADID (%s))" % thread.encode())  # the reply is in the same thread
    email = f"M{digest[:24]}"
    assert (await logged_in.cmd(f"h SEARCH EMAILID {email}"))[0] == b"* SEARCH 1"
    assert (await logged_in.cmd(f"i UID SEARCH EMAILID {email.upper()}"))[0] == b"* SEARCH"  # case-sensitive
    assert (await logged_in.cmd(f"j SEARCH THREADID {thread}"))[0] == b"* SEARCH 1 2"
    assert (await logged_in.cmd("k SEARCH OR EMAILID Mnope THREADID Tnope"))[0] == b"* SEARCH"
    assert (await logged_in.cmd('l SEARCH EMAILID "M 1"'))[-1].startswith(b"l BAD")
    preview = await logged_in.cmd("p FETCH 1 (PREVIEW (LAZY))")  # RFC 8970, stored at ingest
    assert preview[0] == b'* 1 FETCH (PREVIEW "Hi there.")'
    assert (await logged_in.cmd("q FETCH 1 (PREVIEW (EAGER))"))[-1].startswith(b"q BAD")
    # a renamed mailbox keeps its id
    await logged_in.cmd("u UNSELECT")
    await logged_in.cmd("c CREATE Old")
    before = (await logged_in.cmd("v STATUS Old (MAILBOXID)"))[0]
    assert (await logged_in.cmd("r RENAME Old Attic"))[-1] == b"r OK RENAME completed"
    renamed = (await logged_in.cmd("w STATUS Attic (MAILBOXID)"))[0]
    assert renamed == before.replace(b"Old", b"Attic"), (before, renamed)
    assert objectid.thread_root(None, None, "", "abc") == "abc"
    assert objectid.thread_root("<m>", "<p>", "<r1> <r2>", "abc") == "<r1>"


async def test_extensions_announced(logged_in: Driver) -> None:
    caps = (await logged_in.cmd("c CAPABILITY"))[0].split()
    for cap in (b"QUOTA", b"QUOTA=RES-STORAGE", b"OBJECTID", b"WITHIN", b"SAVEDATE", b"PREVIEW"):
        assert cap in caps
