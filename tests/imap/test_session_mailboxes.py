"""Mailbox commands byte for byte: CREATE DELETE RENAME SUBSCRIBE LIST LSUB STATUS APPEND IDLE.

Also the name tricks (nothing reaches another account's mailboxes), modified UTF-7 names with
`&` and `&-`, and literals in every string position.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from tests.imap.conftest import ARTHUR, MESSAGE, PIERRE, Driver, make_session

from arobase.app import App

DEFAULTS = [b"Archive", b"Drafts", b"INBOX", b"Junk", b"Sent", b"Trash"]


def names(lines: list[bytes]) -> list[bytes]:
    return [line.rsplit(b'"/" ', 1)[1] for line in lines if line.startswith(b"* LIST ")]


async def test_list_basics(logged_in: Driver) -> None:
    assert await logged_in.cmd('a LIST "" ""') == [b'* LIST (\\Noselect) "/" ""', b"a OK LIST completed"]
    lines = await logged_in.cmd('b LIST "" *')
    assert names(lines) == DEFAULTS
    assert lines[0] == b'* LIST (\\HasNoChildren \\Archive) "/" Archive'
    assert lines[2] == b'* LIST (\\HasNoChildren) "/" INBOX'


async def test_hierarchy_children_noselect_and_patterns(logged_in: Driver) -> None:
    assert await logged_in.cmd("a CREATE Work/2024/Q1") == [b"a OK CREATE completed"]
    assert await logged_in.cmd("b CREATE Work/") == [b"b NO [ALREADYEXISTS] mailbox Work already exists"]
    assert await logged_in.cmd("c DELETE Work/2024") == [b"c OK DELETE completed"]
    assert await logged_in.cmd('d LIST "" Work/*') == [
        b'* LIST (\\Noselect \\HasChildren) "/" Work/2024',
        b'* LIST (\\HasNoChildren) "/" Work/2024/Q1',
        b"d OK LIST completed",
    ]
    assert names(await logged_in.cmd('e LIST "" %')) == [*DEFAULTS, b"Work"]
    assert names(await logged_in.cmd("f LIST Work/ %")) == [b"Work/2024"]
    assert names(await logged_in.cmd('g LIST "" W%/%')) == [b"Work/2024"]
    assert names(await logged_in.cmd('h LIST "" (Junk Tr*)')) == [b"Junk", b"Trash"]


async def test_inbox_is_case_insensitive(logged_in: Driver) -> None:
    assert await logged_in.cmd("a CREATE inbox/Sub") == [b"a OK CREATE completed"]
    assert names(await logged_in.cmd('b LIST "" inbox')) == [b"INBOX"]
    assert names(await logged_in.cmd('c LIST "" Inb%')) == [b"INBOX"]
    assert names(await logged_in.cmd('d LIST "" iNbOx/*')) == [b"INBOX/Sub"]
    assert await logged_in.cmd("e CREATE INBOX") == [b"e NO [ALREADYEXISTS] INBOX always exists"]
    assert await logged_in.cmd("f DELETE inbox") == [b"f NO [CANNOT] INBOX cannot be deleted"]
    assert (await logged_in.cmd("g STATUS iNbOx (MESSAGES)"))[0] == b"* STATUS INBOX (MESSAGES 0)"


async def test_list_extended_selection_and_return(logged_in: Driver) -> None:
    await logged_in.cmd("a CREATE Lists/Python")
    await logged_in.cmd("b UNSUBSCRIBE Lists")
    await logged_in.cmd("c UNSUBSCRIBE Trash")
    lines = await logged_in.cmd('d LIST (SUBSCRIBED RECURSIVEMATCH) "" %')
    assert b'* LIST (\\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))' in lines
    assert b"Trash" not in b"".join(lines)
    lines = await logged_in.cmd('e LIST "" (Lists Trash) RETURN (SUBSCRIBED CHILDREN)')
    assert lines[:2] == [b'* LIST (\\HasChildren) "/" Lists', b'* LIST (\\HasNoChildren \\Trash) "/" Trash']
    lines = await logged_in.cmd('f LIST (SPECIAL-USE) "" *')
    assert names(lines) == [b"Archive", b"Drafts", b"Junk", b"Sent", b"Trash"]
    lines = await logged_in.cmd('g LIST "" INBOX RETURN (STATUS (MESSAGES UIDNEXT))')
    assert lines == [
        b'* LIST (\\HasNoChildren) "/" INBOX',
        b"* STATUS INBOX (MESSAGES 0 UIDNEXT 1)",
        b"g OK LIST completed",
    ]
    lines = await logged_in.cmd('h LIST "" Lists RETURN (STATUS (MESSAGES))')
    assert lines[1].startswith(b"* STATUS Lists")
    await logged_in.cmd("i DELETE Lists")
    lines = await logged_in.cmd('j LIST "" Lists RETURN (STATUS (MESSAGES))')
    assert lines == [b'* LIST (\\Noselect \\HasChildren) "/" Lists', b"j OK LIST completed"]


async def test_lsub(logged_in: Driver) -> None:
    await logged_in.cmd("a CREATE News/Tech")
    await logged_in.cmd("b UNSUBSCRIBE News")
    assert await logged_in.cmd('c LSUB "" News*') == [b'* LSUB () "/" News/Tech', b"c OK LSUB completed"]
    assert await logged_in.cmd('d LSUB "" N%') == [b'* LSUB (\\Noselect) "/" News', b"d OK LSUB completed"]


async def test_create_special_use_and_errors(logged_in: Driver) -> None:
    assert await logged_in.cmd('a CREATE "Envoyés" (USE (\\Sent))') == [b"a OK CREATE completed"]
    assert (await logged_in.cmd('b LIST "" Envoy*'))[0] == b'* LIST (\\HasNoChildren \\Sent) "/" Envoy&AOk-s'
    assert await logged_in.cmd("c CREATE X (USE (\\Important))") == [b"c NO [USEATTR] unsupported special use"]
    assert await logged_in.cmd("d CREATE Sent") == [b"d NO [ALREADYEXISTS] mailbox Sent already exists"]
    assert await logged_in.cmd("e DELETE Nope") == [b"e NO [NONEXISTENT] no mailbox Nope"]
    assert await logged_in.cmd("f SUBSCRIBE Nope") == [b"f NO [NONEXISTENT] no mailbox Nope"]
    assert await logged_in.cmd('g STATUS "Nope" (MESSAGES)') == [b"g NO [NONEXISTENT] no mailbox Nope"]


@pytest.mark.parametrize(
    "name",
    [b"../pierre.durand@example.test/INBOX", b"~pierre.durand@example.test", b"a/../b", b"x%", b"y*", b"./x"],
)
async def test_name_tricks_cannot_be_created(logged_in: Driver, name: bytes) -> None:
    (line,) = await logged_in.cmd(b'a CREATE "' + name + b'"')
    assert line.startswith(b"a NO [CANNOT]")


async def test_other_accounts_mailboxes_are_unreachable(imap_app: App, logged_in: Driver) -> None:
    pierre = Driver(make_session(imap_app))
    await pierre.login(PIERRE)
    assert await pierre.cmd("a CREATE Secret") == [b"a OK CREATE completed"]
    for name in (
        "Secret",
        "/Secret",
        "../Secret",
        "~pierre.durand@example.test/Secret",
        "pierre.durand@example.test/Secret",
        "#shared/Secret",
        "SECRET",
    ):
        (line,) = await logged_in.cmd(f'b STATUS "{name}" (MESSAGES)')
        assert line.startswith(b"b NO [NONEXISTENT]") or line.startswith(b"b BAD"), line
        (line,) = await logged_in.cmd(f'c APPEND "{name}" {{1+}}\r\nx')
        assert line.startswith(b"c NO [TRYCREATE]") or line.startswith(b"c BAD"), line
    for pattern in ("*", "%", "~*", "../*", "/*", "*Secret*", "#*"):
        assert b"Secret" not in b"".join(await logged_in.cmd(f'd LIST "" "{pattern}"'))
    assert await logged_in.cmd('e RENAME "../Secret" Mine') == [b"e NO [NONEXISTENT] no mailbox ../Secret"]
    pierre.session.close()


async def test_utf7_names_with_ampersands(logged_in: Driver) -> None:
    assert await logged_in.cmd('a CREATE "R&D &- Co"') == [
        b"a BAD mailbox name is not valid modified UTF-7: invalid base64 in &-sequence"
    ]
    assert await logged_in.cmd('b CREATE "R&-D &-- Co/&AMk-t&AOk-"') == [b"b OK CREATE completed"]
    lines = await logged_in.cmd('c LIST "" R*')
    assert names(lines) == [b'"R&-D &-- Co"', b'"R&-D &-- Co/&AMk-t&AOk-"']
    assert logged_in.session.app.store.get_mailbox(logged_in.session.state.account.id, "R&D &- Co/Été")  # type: ignore[union-attr]
    await logged_in.cmd("d ENABLE UTF8=ACCEPT")
    lines = await logged_in.cmd('e LIST "" R*')
    assert names(lines) == [b'"R&D &- Co"', '"R&D &- Co/Été"'.encode()]
    assert await logged_in.cmd('f STATUS "R&D &- Co/Été" (MESSAGES)') == [
        '* STATUS "R&D &- Co/Été" (MESSAGES 0)'.encode(),
        b"f OK STATUS completed",
    ]


async def test_literals_in_every_string_position(logged_in: Driver) -> None:
    d = logged_in
    assert await d.send(b"a CREATE {4}\r\n") == b"+ Ready for literal data\r\n"
    assert await d.cmd(b"Lit1") == [b"a OK CREATE completed"]
    assert await d.cmd(b"b RENAME {4+}\r\nLit1 {4+}\r\nLit2") == [b"b OK RENAME completed"]
    assert await d.cmd(b"c SUBSCRIBE {4+}\r\nLit2") == [b"c OK SUBSCRIBE completed"]
    assert await d.cmd(b"d UNSUBSCRIBE {4+}\r\nLit2") == [b"d OK UNSUBSCRIBE completed"]
    assert (await d.cmd(b"e STATUS {4+}\r\nLit2 (MESSAGES)"))[0] == b"* STATUS Lit2 (MESSAGES 0)"
    assert names(await d.cmd(b"f LIST {0+}\r\n {2+}\r\nL*")) == [b"Lit2"]
    assert names(await d.cmd(b"g LIST {0+}\r\n ({2+}\r\nL* {2+}\r\nT*)")) == [b"Lit2", b"Trash"]
    assert (await d.cmd(b"h LSUB {0+}\r\n {4+}\r\nLit2")) == [b"h OK LSUB completed"]
    lines = await d.cmd(b"i APPEND {4+}\r\nLit2 {5+}\r\nhello")
    assert lines[-1].startswith(b"i OK [APPENDUID ")
    assert await d.cmd(b"j ID ({4+}\r\nname {1+}\r\nx)") == [
        b'* ID ("name" "Arobase" "vendor" "Arobase")',
        b"j OK ID completed",
    ]
    assert await d.cmd(b"k DELETE {4+}\r\nLit2") == [b"k OK DELETE completed"]


async def test_rename(logged_in: Driver) -> None:
    d = logged_in
    await d.cmd("a CREATE Old/Child")
    assert await d.cmd("b RENAME Old New") == [b"b OK RENAME completed"]
    assert names(await d.cmd('c LIST "" New*')) == [b"New", b"New/Child"]
    assert await d.cmd("d RENAME Nope X") == [b"d NO [NONEXISTENT] no mailbox Nope"]
    assert await d.cmd("e RENAME New Sent") == [b"e NO [ALREADYEXISTS] mailbox Sent already exists"]
    assert await d.cmd("f RENAME New INBOX") == [b"f NO [ALREADYEXISTS] INBOX already exists"]
    assert (await d.cmd("g RENAME New New/Child/x"))[0].startswith(b"g NO [CANNOT]")


async def test_rename_inbox_moves_its_messages(logged_in: Driver) -> None:
    d = logged_in
    await d.cmd(b"a APPEND INBOX {%d+}\r\n" % len(MESSAGE) + MESSAGE)
    assert await d.cmd("b RENAME inbox Old-Inbox") == [b"b OK RENAME completed"]
    assert (await d.cmd("c STATUS INBOX (MESSAGES)"))[0] == b"* STATUS INBOX (MESSAGES 0)"
    assert (await d.cmd("d STATUS Old-Inbox (MESSAGES)"))[0] == b"* STATUS Old-Inbox (MESSAGES 1)"


async def test_status_items(logged_in: Driver) -> None:
    d = logged_in
    await d.cmd(b"a APPEND INBOX (\\Seen \\Deleted) {%d+}\r\n" % len(MESSAGE) + MESSAGE)
    await d.cmd(b"b APPEND INBOX {3+}\r\nxyz")
    (line, ok) = await d.cmd("c STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)")
    assert line.startswith(
        b"* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 1 DELETED 1 SIZE %d RECENT 0" % (len(MESSAGE) + 3)
    )
    assert line.endswith(b" APPENDLIMIT 100000)") and ok == b"c OK STATUS completed"


async def test_append_forms(imap_app: App, logged_in: Driver) -> None:
    d = logged_in
    lines = await d.cmd(
        b'a APPEND Drafts (\\Draft $Todo \\Recent) " 7-Feb-1994 21:52:25 -0800" {%d+}\r\n' % len(MESSAGE) + MESSAGE
    )
    assert lines == [b"a OK [APPENDUID %d 1] APPEND completed" % _uidvalidity(imap_app, "Drafts")]
    box = imap_app.store.get_mailbox(imap_app.accounts.get(ARTHUR).id, "Drafts")
    assert box is not None
    (message,) = imap_app.store.list_messages(box.id)
    assert message.flags == {"\\Draft", "$Todo"}
    assert message.internal_date == datetime(1994, 2, 7, 21, 52, 25, tzinfo=timezone(-timedelta(hours=8)))
    assert imap_app.store.read_blob(message.blob) == MESSAGE
    lines = await d.cmd(b"b APPEND Drafts {1+}\r\nx (\\Seen) ~{3+}\r\na\x00b {1+}\r\nz")
    assert lines == [b"b OK [APPENDUID %d 2:4] APPEND completed" % _uidvalidity(imap_app, "Drafts")]
    assert await d.cmd(b"c APPEND Nope {1+}\r\nx") == [b"c NO [TRYCREATE] no mailbox Nope"]
    assert await d.cmd(b"d APPEND Drafts {0+}\r\n") == [b"d NO [CANNOT] empty message"]


async def test_multiappend_is_all_or_nothing(imap_app: App, logged_in: Driver) -> None:
    imap_app.accounts.set_quota(ARTHUR, 10)
    assert await logged_in.cmd(b"a APPEND INBOX {6+}\r\nsmall! {6+}\r\nsmall!") == [
        b"a NO [OVERQUOTA] arthur.dupont@example.test is over its quota"
    ]
    assert (await logged_in.cmd("b STATUS INBOX (MESSAGES)"))[0] == b"* STATUS INBOX (MESSAGES 0)"


async def test_idle_without_selection_and_bad_end(logged_in: Driver) -> None:
    assert await logged_in.send(b"a IDLE\r\n") == b"+ idling\r\n"
    assert await logged_in.cmd("NOPE") == [b"a BAD Expected DONE"]
    assert await logged_in.send(b"b IDLE\r\n") == b"+ idling\r\n"
    assert await logged_in.send(b"done\r\nc NOOP\r\n") == b"b OK IDLE terminated\r\nc OK NOOP completed\r\n"


def _uidvalidity(app: App, name: str) -> int:
    box = app.store.get_mailbox(app.accounts.get(ARTHUR).id, name)
    assert box is not None
    return box.uidvalidity
