"""NOTIFY (RFC 5465): the command's bytes, the session's pushes, and two clients over the listener."""

from __future__ import annotations

import asyncio

import pytest

from arobase.app import App
from arobase.imap.wire import ast
from arobase.imap.wire.parser import ParseError, parse
from arobase.store import Account

from .conftest import ARTHUR, MESSAGE, PASSWORDS, Driver
from .engine_fixtures import deliver, settle
from .test_ext_qresync import RawClient, imaps_port  # noqa: F401 (the fixture)

SET = (
    "NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge FlagChange)) "
    "(PERSONAL (MessageNew MessageExpunge MailboxName))"
)
BADEVENT = "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]"


def _account(d: Driver) -> Account:
    account = d.session.state.account
    assert account is not None
    return account


# -- the parser ----------------------------------------------------------------------------------


def test_parse_set_with_status_and_every_specifier() -> None:
    cmd = parse(
        b"a NOTIFY SET STATUS (selected-delayed (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge)) "
        b'(inboxes (MessageNew MessageExpunge FlagChange)) (subtree (Work "Old stuff") (MailboxName)) '
        b"(mailboxes Lists (SubscriptionChange)) (subscribed NONE)\r\n"
    )
    assert isinstance(cmd, ast.Notify)
    assert cmd.status and cmd.tag == "a" and cmd.name == "NOTIFY"
    assert [(g.specifier, g.mailboxes, g.events) for g in cmd.groups] == [
        ("SELECTED-DELAYED", (), ("MessageNew", "MessageExpunge")),
        ("INBOXES", (), ("MessageNew", "MessageExpunge", "FlagChange")),
        ("SUBTREE", ("Work", "Old stuff"), ("MailboxName",)),
        ("MAILBOXES", ("Lists",), ("SubscriptionChange",)),
        ("SUBSCRIBED", (), ()),
    ]
    assert cmd.groups[0].fetch_attributes[0] == ast.FetchSimple("UID")
    assert parse(b"b NOTIFY NONE\r\n") == ast.Notify(tag="b")
    assert parse(b"c notify set (Personal (mailboxname))\r\n") == ast.Notify(
        (ast.NotifyGroup("PERSONAL", events=("MailboxName",)),), tag="c"
    )


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"a NOTIFY SET (PERSONAL (AnnotationChange))", BADEVENT[1:-1]),
        (b"a NOTIFY SET (PERSONAL (MessageNew MessageExpunge Bogus))", BADEVENT[1:-1]),
        (b"a NOTIFY SET (PERSONAL (MessageNew))", None),  # MessageExpunge must come along
        (b"a NOTIFY SET (PERSONAL (FlagChange MessageNew))", None),
        (b"a NOTIFY SET (SELECTED (MailboxName))", None),  # SELECTED is about messages
        (b"a NOTIFY SET (SELECTED NONE) (SELECTED-DELAYED NONE)", None),
        (b"a NOTIFY SET (ELSEWHERE (MailboxName))", None),
        (b"a NOTIFY SET (SUBTREE (MailboxName))", None),  # SUBTREE needs mailboxes
        (b"a NOTIFY SET (PERSONAL ())", None),
        (b"a NOTIFY SET", None),
        (b"a NOTIFY SET STATUS", None),
        (b"a NOTIFY ALL", None),
    ],
)
def test_parse_rejects(line: bytes, code: str | None) -> None:
    with pytest.raises(ParseError) as raised:
        parse(line + b"\r\n")
    # Events we do not do are a refusal (NO [BADEVENT]); everything else is bad syntax.
    assert raised.value.status == ("NO" if code else "BAD")
    assert raised.value.code == code and raised.value.tag == "a"


# -- the session ---------------------------------------------------------------------------------


async def test_announced_and_errors_answered(logged_in: Driver) -> None:
    assert b"NOTIFY" in (await logged_in.cmd("c CAPABILITY"))[0].split()
    assert await logged_in.cmd("a NOTIFY SET (PERSONAL (MessageNew MessageExpunge MailboxMetadataChange))") == [
        b"a NO " + BADEVENT.encode() + b" unsupported NOTIFY event MAILBOXMETADATACHANGE"
    ]
    assert await logged_in.cmd("b NOTIFY SET (SELECTED (MessageNew (BODY[]) MessageExpunge))") == [
        b"b BAD MessageNew fetches only with .PEEK"
    ]
    assert await logged_in.cmd("c NOTIFY NONE") == [b"c OK NOTIFY completed"]


async def test_set_status_and_pushes_between_commands(logged_in: Driver) -> None:
    d = logged_in
    store = d.session.app.store
    account = _account(d)
    deliver(store, account, MESSAGE)
    await settle(store)
    assert await d.cmd("a NOTIFY SET STATUS (INBOXES (MessageNew MessageExpunge)) (SUBTREE Lists (MailboxName))") == [
        b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1)",
        b"a OK NOTIFY completed",
    ]
    deliver(store, account, MESSAGE)
    store.create_mailbox(account.id, "Lists/rust").wait()
    store.create_mailbox(account.id, "Elsewhere").wait()  # not watched
    await settle(store)
    assert d.session.data_to_send() == (
        b'* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 2)\r\n* LIST () "/" Lists\r\n* LIST () "/" Lists/rust\r\n'
    )
    store.rename_mailbox(account.id, "Lists/rust", "Lists/python").wait()
    store.delete_mailbox(account.id, "Lists/python").wait()
    await settle(store)
    assert d.session.data_to_send() == (
        b'* LIST () "/" Lists/python ("OLDNAME" (Lists/rust))\r\n* LIST (\\NonExistent) "/" Lists/python\r\n'
    )
    assert await d.cmd("b NOTIFY NONE") == [b"b OK NOTIFY completed"]
    deliver(store, account, MESSAGE)
    await settle(store)
    assert d.session.data_to_send() == b""


async def test_subscription_change(logged_in: Driver) -> None:
    d = logged_in
    store = d.session.app.store
    account = _account(d)
    store.create_mailbox(account.id, "News").wait()
    await d.cmd("a NOTIFY SET (PERSONAL (SubscriptionChange))")
    store.set_subscribed(account.id, "News", True).wait()
    await settle(store)
    assert d.session.data_to_send() == b'* LIST (\\Subscribed) "/" News\r\n'
    store.set_subscribed(account.id, "News", False).wait()
    await settle(store)
    assert d.session.data_to_send() == b'* LIST () "/" News\r\n'


async def test_selected_delayed_holds_expunges_for_a_command_that_allows_them(logged_in: Driver) -> None:
    d = logged_in
    store = d.session.app.store
    account = _account(d)
    for _ in range(2):
        deliver(store, account, MESSAGE)
    await settle(store)
    await d.cmd("s SELECT INBOX")
    await d.cmd("n NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge FlagChange))")
    box = store.get_mailbox(account.id, "INBOX")
    assert box is not None
    store.store_flags(box.id, [1], ["\\Deleted"], "add").wait()
    store.expunge(box.id).wait()
    deliver(store, account, MESSAGE)
    await settle(store)
    assert d.session.data_to_send() == b"* 3 EXISTS\r\n* 1 RECENT\r\n"  # the flag change went with UID 1
    assert await d.cmd("f FETCH 1 (UID)") == [b"f OK FETCH completed"]  # gone, but not announced yet
    assert await d.cmd("g NOOP") == [b"* 1 EXPUNGE", b"g OK NOOP completed"]


async def test_nothing_is_pushed_while_a_command_runs(logged_in: Driver) -> None:
    """A push in the middle of a command's output would break it: it waits for the tagged line."""
    d = logged_in
    store = d.session.app.store
    account = _account(d)
    await d.cmd("a NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
    d.session._running = True
    deliver(store, account, MESSAGE)
    await settle(store)
    assert d.session.data_to_send() == b""
    d.session._running = False
    assert await d.cmd("b NOOP") == [b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1)", b"b OK NOOP completed"]


# -- two clients over the listener ---------------------------------------------------------------


async def _line(client: RawClient) -> bytes:
    """The next untagged line, which must come within a second."""
    data = await asyncio.wait_for(client.reader.readline(), 1.0)
    return data.removesuffix(b"\r\n")


async def _lines(client: RawClient, count: int) -> list[bytes]:
    return [await _line(client) for _ in range(count)]


async def test_two_clients_over_the_listener(imap_app: App, imaps_port: int) -> None:  # noqa: F811
    store = imap_app.store
    account = store.find_account(ARTHUR)
    assert account is not None
    watcher = await RawClient.connect(imap_app, imaps_port)
    actor = await RawClient.connect(imap_app, imaps_port)
    for client in (watcher, actor):
        await client.cmd("a", f'LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"')
    await watcher.cmd("b", "SELECT INBOX")
    assert await watcher.cmd("c", SET) == [b"c OK NOTIFY completed"]

    deliver(store, account, MESSAGE)
    assert await _lines(watcher, 3) == [b"* 1 EXISTS", b"* 1 RECENT", b"* 1 FETCH (UID 1 FLAGS (\\Recent))"]
    deliver(store, account, MESSAGE, mailbox="Archive")
    assert await _line(watcher) == b"* STATUS Archive (MESSAGES 1 UIDNEXT 2 UNSEEN 1)"

    await actor.cmd("b", "SELECT INBOX")
    await actor.cmd("c", "STORE 1 +FLAGS (\\Deleted)")
    assert await _line(watcher) == b"* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))"
    await actor.cmd("d", "EXPUNGE")
    assert await _line(watcher) == b"* 1 EXPUNGE"
    await actor.cmd("e", "CREATE Projects")
    assert await _line(watcher) == b'* LIST () "/" Projects'
    await actor.cmd("f", "RENAME Projects Work")
    assert await _line(watcher) == b'* LIST () "/" Work ("OLDNAME" (Projects))'
    assert await watcher.cmd("g", "NOOP") == [b"g OK NOOP completed"]  # nothing was left over
    for client in (watcher, actor):
        await client.close()


async def test_pushes_during_idle(logged_in: Driver) -> None:
    d = logged_in
    store = d.session.app.store
    account = _account(d)
    pushed: list[bytes] = []
    d.session.notify = lambda: pushed.append(d.session.data_to_send())
    await d.cmd("s SELECT INBOX")
    await d.cmd("n NOTIFY SET (SELECTED (MessageNew (UID) MessageExpunge)) (PERSONAL (MailboxName))")
    assert await d.cmd("i IDLE") == [b"+ idling"]
    deliver(store, account, MESSAGE)
    store.create_mailbox(account.id, "Later").wait()
    await settle(store)
    assert pushed == [b"* 1 EXISTS\r\n* 1 RECENT\r\n* 1 FETCH (UID 1)\r\n", b'* LIST () "/" Later\r\n']
    assert await d.cmd("DONE") == [b"i OK IDLE terminated"]


async def test_status_carries_highestmodseq_once_condstore_is_on(logged_in: Driver) -> None:
    d = logged_in
    store = d.session.app.store
    account = _account(d)
    await d.cmd("e ENABLE CONDSTORE")
    await d.cmd("n NOTIFY SET (INBOXES (MessageNew MessageExpunge))")
    deliver(store, account, MESSAGE)
    await settle(store)
    box = store.get_mailbox(account.id, "INBOX")
    assert box is not None
    assert d.session.data_to_send() == (
        b"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UNSEEN 1 HIGHESTMODSEQ %d)\r\n" % box.highestmodseq
    )
