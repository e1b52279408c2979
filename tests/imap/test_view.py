"""The view's promises: coherent sequence numbers, and EXPUNGE only when the command allows it."""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator

import pytest

from arobase.imap.uidlist import UidList
from arobase.imap.view import InvalidSequence, MailboxView, RecentTracker
from arobase.imap.wire import ast
from arobase.services.accounts import Accounts
from arobase.store import Account, Store, queries

from .engine_fixtures import Client, deliver, message, seqset


@pytest.fixture
def alice(accounts: Accounts) -> Account:
    return accounts.add_user("alice@example.test", "correct horse")


@pytest.fixture
async def pair(store: Store, alice: Account) -> AsyncIterator[tuple[Client, Client]]:
    one, two = Client(store, alice), Client(store, alice)
    yield one, two
    one.close()
    two.close()


FLAGS = (ast.FetchSimple("FLAGS"),)


def fetch(sequence: str, uid: bool = False) -> ast.Fetch:
    return ast.Fetch(seqset(sequence), FLAGS, uid=uid)


def store_flags(sequence: str, *flags: str, mode: str = "add", uid: bool = False, silent: bool = False) -> ast.Store:
    return ast.Store(seqset(sequence), ast.StoreAction(mode, flags, silent), uid=uid)  # type: ignore[arg-type]


async def test_no_expunge_during_fetch_store_search_by_sequence(
    pair: tuple[Client, Client], store: Store, alice: Account
) -> None:
    one, two = pair
    for n in range(3):
        deliver(store, alice, message(n))
    await one.run(ast.Select("INBOX"))
    await two.run(ast.Select("INBOX"))
    await two.run(store_flags("2", "\\Deleted"))
    assert await two.run(ast.Expunge()) == b"* 2 EXPUNGE\r\nTAG OK EXPUNGE completed\r\n"

    # session one still numbers the messages 1, 2, 3: message 2 is gone but not yet announced
    out = await one.run(fetch("1:*"))
    assert b"EXPUNGE" not in out
    assert out.startswith(b"* 1 FETCH (FLAGS ())\r\n* 3 FETCH (FLAGS ())\r\n")
    out = await one.run(store_flags("3", "\\Flagged"))
    assert b"EXPUNGE" not in out
    assert out.startswith(b"* 3 FETCH (FLAGS (\\Flagged))\r\n")
    out = await one.run(ast.Search(ast.SearchAll()))
    assert out.startswith(b"* SEARCH 1 3\r\n")
    assert b"EXPUNGE" not in out
    # the UID form may get it, and numbers shift only then
    out = await one.run(fetch("3", uid=True))
    assert out == b"* 3 FETCH (UID 3 FLAGS (\\Flagged))\r\n* 2 EXPUNGE\r\nTAG OK UID FETCH completed\r\n"
    assert one.view.exists == 2
    assert await one.run(fetch("2")) == b"* 2 FETCH (FLAGS (\\Flagged))\r\nTAG OK FETCH completed\r\n"


async def test_two_sessions_see_each_others_changes_coherently(
    pair: tuple[Client, Client], store: Store, alice: Account
) -> None:
    one, two = pair
    for n in range(5):
        deliver(store, alice, message(n))
    await one.run(ast.Select("INBOX"))
    await two.run(ast.Select("INBOX"))
    await two.run(store_flags("1,3,5", "\\Deleted", silent=True))
    await two.run(ast.Expunge())
    deliver(store, alice, message(9))
    out = await one.noop()
    # flag changes of messages that are then expunged are not worth reporting; EXPUNGEs are
    # numbered one after the other (each shifts the next), then the new message arrives
    assert out == b"* 1 EXPUNGE\r\n* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXISTS\r\n* 1 RECENT\r\n"
    assert await two.noop() == b"* 3 EXISTS\r\n* 0 RECENT\r\n"
    assert list(one.view.uids) == list(two.view.uids) == [2, 4, 6]
    await two.run(store_flags("6", "$Later", uid=True, silent=True))
    assert await one.noop() == b"* 3 FETCH (UID 6 FLAGS (\\Recent $Later))\r\n"


async def test_own_flag_changes_are_not_announced_twice(
    pair: tuple[Client, Client], store: Store, alice: Account
) -> None:
    one, two = pair
    deliver(store, alice, message(1))
    await one.run(ast.Select("INBOX"))
    await two.run(ast.Select("INBOX"))
    assert await one.run(store_flags("1", "\\Seen")) == b"* 1 FETCH (FLAGS (\\Seen))\r\nTAG OK STORE completed\r\n"
    assert await one.noop() == b""
    assert await two.noop() == b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"


async def test_recent_goes_to_the_first_session_only(pair: tuple[Client, Client], store: Store, alice: Account) -> None:
    one, two = pair
    deliver(store, alice, message(1))
    out = await one.run(ast.Select("INBOX"))
    assert b"* 0 RECENT\r\n" in out  # already there when the mailbox was first opened here
    await two.run(ast.Select("INBOX"))
    deliver(store, alice, message(2))
    assert await one.noop() == b"* 2 EXISTS\r\n* 1 RECENT\r\n"
    assert await two.noop() == b"* 2 EXISTS\r\n* 0 RECENT\r\n"
    assert await one.run(fetch("2")) == b"* 2 FETCH (FLAGS (\\Recent))\r\nTAG OK FETCH completed\r\n"
    assert await two.run(fetch("2")) == b"* 2 FETCH (FLAGS ())\r\nTAG OK FETCH completed\r\n"


async def test_examine_sees_recent_without_taking_it(pair: tuple[Client, Client], store: Store, alice: Account) -> None:
    one, two = pair
    await one.run(ast.Select("INBOX", readonly=True))
    deliver(store, alice, message(1))
    assert await one.noop() == b"* 1 EXISTS\r\n* 1 RECENT\r\n"
    assert b"* 1 RECENT\r\n" in await two.run(ast.Select("INBOX"))
    deliver(store, alice, message(2))
    assert await one.noop() == b"* 2 EXISTS\r\n* 2 RECENT\r\n"  # seen first, but not taken
    assert await two.noop() == b"* 2 EXISTS\r\n* 2 RECENT\r\n"


async def test_rev2_sessions_get_no_recent(store: Store, alice: Account) -> None:
    client = Client(store, alice, rev2=True)
    try:
        out = await client.run(ast.Select("INBOX"))
        assert b"RECENT" not in out
        assert b'* LIST () "/" INBOX\r\n' in out
        deliver(store, alice, message(1))
        assert await client.noop() == b"* 1 EXISTS\r\n"
    finally:
        client.close()


def test_targets_resolution(store: Store, alice: Account) -> None:
    box = store.get_mailbox(alice.id, "INBOX")
    assert box is not None
    view = MailboxView(store, box, array("I", [3, 7, 8, 20]), readonly=False, rev1=False, tracker=RecentTracker())
    assert view.targets(seqset("2:3,1"), uid=False) == [(1, 3), (2, 7), (3, 8)]
    assert view.targets(seqset("*:3"), uid=False) == [(3, 8), (4, 20)]
    assert view.targets(seqset("4:8,100:*"), uid=True) == [(2, 7), (3, 8), (4, 20)]
    assert view.targets(seqset("21:30"), uid=True) == []
    with pytest.raises(InvalidSequence):
        view.targets(seqset("5"), uid=False)
    assert view.targets(seqset("5"), uid=False, strict=False) == []
    assert view.seq(8) == 3 and view.seq(9) == 0


def test_expunge_numbering_of_many(store: Store, alice: Account) -> None:
    box = store.get_mailbox(alice.id, "INBOX")
    assert box is not None
    view = MailboxView(store, box, UidList(range(1, 11)), readonly=False, rev1=False, tracker=RecentTracker())
    view.saved = [3, 4]
    view.expunged([2, 3])
    view.expunged((9, 42))
    assert view.is_expunged(9) and not view.is_expunged(4)
    assert view.updates(expunges=False) == []
    assert view.updates(expunges=True) == [b"2 EXPUNGE", b"2 EXPUNGE", b"7 EXPUNGE"]
    assert list(view.uids) == [1, 4, 5, 6, 7, 8, 10]
    assert view.saved == [4]
    assert not view.is_expunged(9)


def test_uid_runs_from_the_store(store: Store, alice: Account) -> None:
    box = store.get_mailbox(alice.id, "INBOX")
    assert box is not None
    assert queries.uid_runs(store, box.id) == []
    for n in range(6):
        deliver(store, alice, message(n))
    assert queries.uid_runs(store, box.id) == [(1, 6)]
    store.expunge(box.id, [1, 3, 4]).wait()
    assert queries.uid_runs(store, box.id) == [(2, 2), (5, 6)]
