"""SELECT/EXAMINE, STORE, COPY/MOVE, EXPUNGE, CLOSE/UNSELECT: exact responses and their effects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arobase.imap.wire import ast
from arobase.services.accounts import Accounts
from arobase.store import Account, Store, objectid

from .engine_fixtures import Client, deliver, message, seqset


@pytest.fixture
def alice(accounts: Accounts) -> Account:
    return accounts.add_user("alice@example.test", "correct horse")


@pytest.fixture
async def client(store: Store, alice: Account) -> AsyncIterator[Client]:
    c = Client(store, alice)
    yield c
    c.close()


def store_cmd(sequence: str, mode: str, *flags: str, silent: bool = False, uid: bool = False) -> ast.Store:
    return ast.Store(seqset(sequence), ast.StoreAction(mode, flags, silent), uid=uid)  # type: ignore[arg-type]


def flags_of(store: Store, client: Client, uid: int) -> set[str]:
    msg = store.get_message(client.view.mailbox_id, uid)
    assert msg is not None
    return set(msg.flags)


async def test_select_responses(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, message(1), flags=["\\Seen"])
    deliver(store, alice, message(2))
    box = store.get_mailbox(alice.id, "INBOX")
    assert box is not None
    out = await client.run(ast.Select("inbox"))
    assert out == (
        b"* 2 EXISTS\r\n"
        b"* 0 RECENT\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
        b"* OK [UNSEEN 2] First unseen\r\n"
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
        b"* OK [UIDNEXT 3] Predicted next UID\r\n"
        b"* OK [MAILBOXID (%s)] Ok\r\n"
        b"TAG OK [READ-WRITE] SELECT completed\r\n" % (box.uidvalidity, objectid.mailbox_id(box.id).encode())
    )


async def test_examine_is_read_only(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, message(1), flags=["\\Deleted"])
    out = await client.run(ast.Select("INBOX", readonly=True))
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted\r\n" in out
    assert out.endswith(b"TAG OK [READ-ONLY] EXAMINE completed\r\n")
    assert await client.run(store_cmd("1", "add", "\\Seen")) == b"TAG NO [READ-ONLY] the mailbox is read-only\r\n"
    assert await client.run(ast.Expunge()) == b"TAG NO [READ-ONLY] the mailbox is read-only\r\n"
    assert await client.run(ast.Close()) == b"TAG OK CLOSE completed\r\n"
    assert store.uids(store.get_mailbox(alice.id, "INBOX").id) == [1]  # type: ignore[union-attr]


async def test_select_of_a_missing_mailbox_leaves_selected_state(client: Client, store: Store, alice: Account) -> None:
    await client.run(ast.Select("INBOX"))
    out = await client.run(ast.Select("Nope"))
    assert out == b"TAG NO [NONEXISTENT] no mailbox Nope\r\n"
    assert client.state.selected is None


async def test_store_forms(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, message(1), flags=["\\Seen"])
    deliver(store, alice, message(2))
    await client.run(ast.Select("INBOX"))
    out = await client.run(store_cmd("1:2", "add", "\\Flagged", "$Todo"))
    assert out == (
        b"* 1 FETCH (FLAGS (\\Seen \\Flagged $Todo))\r\n* 2 FETCH (FLAGS (\\Flagged $Todo))\r\n"
        b"TAG OK STORE completed\r\n"
    )
    out = await client.run(store_cmd("1", "remove", "\\SEEN", "$Todo"))
    assert out == b"* 1 FETCH (FLAGS (\\Flagged))\r\nTAG OK STORE completed\r\n"
    out = await client.run(store_cmd("2", "replace", "\\Answered", uid=True))
    assert out == b"* 2 FETCH (UID 2 FLAGS (\\Answered))\r\nTAG OK UID STORE completed\r\n"
    assert await client.run(store_cmd("1:*", "replace", "\\Draft", silent=True)) == b"TAG OK STORE completed\r\n"
    assert flags_of(store, client, 1) == flags_of(store, client, 2) == {"\\Draft"}
    assert await client.noop() == b""
    # \Recent is not storable (ignored); an unknown system flag is a mistake
    assert (
        await client.run(store_cmd("1", "add", "\\Recent"))
    ) == b"* 1 FETCH (FLAGS (\\Draft))\r\nTAG OK STORE completed\r\n"
    assert (await client.run(store_cmd("1", "add", "\\Bogus"))).startswith(b"TAG BAD ")


async def test_copy_with_copyuid_and_trycreate(client: Client, store: Store, alice: Account) -> None:
    for n in range(3):
        deliver(store, alice, message(n), flags=["$Kept"])
    deliver(store, alice, message(9), mailbox="Archive")
    archive = store.get_mailbox(alice.id, "Archive")
    assert archive is not None
    await client.run(ast.Select("INBOX"))
    out = await client.run(ast.Copy(seqset("2:3"), "Archive"))
    assert out == b"TAG OK [COPYUID %d 2:3 2:3] COPY completed\r\n" % archive.uidvalidity
    out = await client.run(ast.Copy(seqset("1"), "Archive", uid=True))
    assert out == b"TAG OK [COPYUID %d 1 4] UID COPY completed\r\n" % archive.uidvalidity
    assert [m.flags for m in store.list_messages(archive.id)][1:] == [frozenset({"$Kept"})] * 3
    out = await client.run(ast.Copy(seqset("1"), "Nowhere"))
    assert out == b"TAG NO [TRYCREATE] no mailbox Nowhere\r\n"
    assert await client.run(ast.Copy(seqset("7:9"), "Archive", uid=True)) == b"TAG OK UID COPY completed\r\n"


async def test_copy_into_the_selected_mailbox_announces_it(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, message(1))
    await client.run(ast.Select("INBOX"))
    out = await client.run(ast.Copy(seqset("1"), "INBOX"))
    assert out.endswith(b"TAG OK [COPYUID %d 1 2] COPY completed\r\n" % client.view.mailbox.uidvalidity)
    out += await client.noop()  # the new message is announced with this command or the next
    assert out.count(b"* 2 EXISTS\r\n") == 1
    assert client.view.exists == 2


async def test_move(client: Client, store: Store, alice: Account) -> None:
    for n in range(4):
        deliver(store, alice, message(n))
    trash = store.get_mailbox(alice.id, "Trash")
    assert trash is not None
    await client.run(ast.Select("INBOX"))
    out = await client.run(ast.Copy(seqset("2,4"), "Trash", move=True))
    assert out == (
        b"* OK [COPYUID %d 2,4 1:2] Moved\r\n* 2 EXPUNGE\r\n* 3 EXPUNGE\r\nTAG OK MOVE completed\r\n"
        % trash.uidvalidity
    )
    assert list(client.view.uids) == [1, 3]
    assert store.uids(trash.id) == [1, 2]
    out = await client.run(ast.Copy(seqset("3"), "Trash", uid=True, move=True))
    assert out == b"* OK [COPYUID %d 3 3] Moved\r\n* 2 EXPUNGE\r\nTAG OK UID MOVE completed\r\n" % trash.uidvalidity


async def test_expunge_and_uid_expunge(client: Client, store: Store, alice: Account) -> None:
    for n in range(5):
        deliver(store, alice, message(n), flags=["\\Deleted"] if n != 2 else [])
    await client.run(ast.Select("INBOX"))
    # UID EXPUNGE removes only the named messages that are \Deleted
    out = await client.run(ast.Expunge(uids=seqset("1:3")))
    assert out == b"* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nTAG OK UID EXPUNGE completed\r\n"
    assert list(client.view.uids) == [3, 4, 5]
    out = await client.run(ast.Expunge())
    assert out == b"* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nTAG OK EXPUNGE completed\r\n"
    assert list(client.view.uids) == [3]


async def test_close_expunges_silently_unselect_does_not(client: Client, store: Store, alice: Account) -> None:
    deliver(store, alice, message(1), flags=["\\Deleted"])
    deliver(store, alice, message(2))
    box = store.get_mailbox(alice.id, "INBOX")
    assert box is not None
    await client.run(ast.Select("INBOX"))
    assert await client.run(ast.Close(unselect=True)) == b"TAG OK UNSELECT completed\r\n"
    assert store.uids(box.id) == [1, 2]
    await client.run(ast.Select("INBOX"))
    assert await client.run(ast.Close()) == b"TAG OK CLOSE completed\r\n"
    assert client.state.selected is None
    assert store.uids(box.id) == [2]


async def test_condstore_changedsince_and_unchangedsince(client: Client, store: Store, alice: Account) -> None:
    for n in range(3):
        deliver(store, alice, message(n))
    out = await client.run(ast.Select("INBOX", condstore=True))
    box = store.get_mailbox(alice.id, "INBOX")
    assert box is not None
    assert b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % box.highestmodseq in out
    before = box.highestmodseq
    out = await client.run(store_cmd("2", "add", "\\Flagged"))
    assert out == b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (%d))\r\nTAG OK STORE completed\r\n" % (before + 1)
    fetch = ast.Fetch(seqset("1:*"), (ast.FetchSimple("FLAGS"),), changedsince=before)
    assert await client.run(fetch) == (
        b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (%d))\r\nTAG OK FETCH completed\r\n" % (before + 1)
    )
    unchanged = ast.Store(seqset("1:3"), ast.StoreAction("add", ("\\Seen",), True), unchangedsince=before)
    out = await client.run(unchanged)
    assert out == (
        b"* 1 FETCH (UID 1 MODSEQ (%d))\r\n* 3 FETCH (UID 3 MODSEQ (%d))\r\n"
        b"TAG OK [MODIFIED 2] Some messages were modified meanwhile\r\n" % (before + 2, before + 2)
    )
    assert flags_of(store, client, 2) == {"\\Flagged"}
    assert flags_of(store, client, 1) == flags_of(store, client, 3) == {"\\Seen"}
    out = await client.run(ast.Fetch(seqset("2"), (ast.FetchSimple("FLAGS"),)))
    assert out == b"* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (%d))\r\nTAG OK FETCH completed\r\n" % (before + 1)
    # changes made elsewhere come with their MODSEQ too
    store.store_flags(client.view.mailbox_id, [3], ["\\Draft"], "add").wait()
    assert await client.noop() == b"* 3 FETCH (UID 3 FLAGS (\\Seen \\Draft) MODSEQ (%d))\r\n" % (before + 3)
