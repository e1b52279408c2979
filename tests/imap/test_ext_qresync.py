"""CONDSTORE and QRESYNC (RFC 7162) through the session, byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from arobase.app import App
from arobase.imap.server import Connections, start_listener
from arobase.imap.wire.parser import parse
from arobase.store import Store, objectid, queries, sqlite

from .conftest import ARTHUR, HOSTNAME, MESSAGE, PASSWORDS, TIMEOUT, Driver, client_context
from .engine_fixtures import deliver, message, settle


async def _inbox(d: Driver, count: int) -> int:
    """Deliver `count` messages to INBOX; returns its HIGHESTMODSEQ."""
    account = d.session.state.account
    assert account is not None
    store = d.session.app.store
    for n in range(count):
        deliver(store, account, MESSAGE.replace(b"hello", b"hello %d" % n))
    await settle(store)
    box = store.get_mailbox(account.id, "INBOX")
    assert box is not None
    return box.highestmodseq


async def test_condstore_is_announced_and_enabled(logged_in: Driver) -> None:
    assert b"CONDSTORE" in (await logged_in.cmd("c CAPABILITY"))[0].split()
    assert await logged_in.cmd("e ENABLE CONDSTORE") == [b"* ENABLED CONDSTORE", b"e OK ENABLE completed"]
    assert await logged_in.cmd("f ENABLE CONDSTORE") == [b"* ENABLED", b"f OK ENABLE completed"]
    highest = await _inbox(logged_in, 2)
    out = await logged_in.cmd("s SELECT INBOX")
    assert b"* OK [HIGHESTMODSEQ %d] Highest" % highest in out  # no (CONDSTORE) needed once enabled
    # STORE and FETCH of flags now carry UID and MODSEQ, even by sequence number
    assert await logged_in.cmd("t STORE 1 +FLAGS (\\Flagged)") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (%d))" % (highest + 1),
        b"t OK STORE completed",
    ]
    assert await logged_in.cmd("g FETCH 2 (FLAGS)") == [
        b"* 2 FETCH (UID 2 FLAGS () MODSEQ (%d))" % highest,
        b"g OK FETCH completed",
    ]


async def test_enabling_commands_in_the_selected_state(logged_in: Driver) -> None:
    """STATUS (HIGHESTMODSEQ) enables CONDSTORE: the selected mailbox's HIGHESTMODSEQ is owed once."""
    highest = await _inbox(logged_in, 2)
    await logged_in.cmd("s SELECT INBOX")
    assert await logged_in.cmd("f FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())", b"f OK FETCH completed"]
    assert await logged_in.cmd("t STATUS INBOX (HIGHESTMODSEQ)") == [
        b"* OK [HIGHESTMODSEQ %d] Highest" % highest,
        b"* STATUS INBOX (HIGHESTMODSEQ %d)" % highest,
        b"t OK STATUS completed",
    ]
    assert await logged_in.cmd("u STATUS INBOX (HIGHESTMODSEQ)") == [
        b"* STATUS INBOX (HIGHESTMODSEQ %d)" % highest,
        b"u OK STATUS completed",
    ]
    assert await logged_in.cmd("f FETCH 1 (FLAGS)") == [
        b"* 1 FETCH (UID 1 FLAGS () MODSEQ (%d))" % (highest - 1),
        b"f OK FETCH completed",
    ]


async def test_fetch_modseq_enables_and_flag_updates_follow(logged_in: Driver) -> None:
    highest = await _inbox(logged_in, 1)
    await logged_in.cmd("s SELECT INBOX")
    assert await logged_in.cmd("f FETCH 1 (MODSEQ)") == [
        b"* OK [HIGHESTMODSEQ %d] Highest" % highest,
        b"* 1 FETCH (MODSEQ (%d))" % highest,
        b"f OK FETCH completed",
    ]
    account = logged_in.session.state.account
    assert account is not None
    store = logged_in.session.app.store
    box = store.get_mailbox(account.id, "INBOX")
    assert box is not None
    store.store_flags(box.id, [1], ["\\Seen"], "add").wait()
    await settle(store)
    assert await logged_in.cmd("n NOOP") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (%d))" % (highest + 1),
        b"n OK NOOP completed",
    ]


def _inbox_id(d: Driver) -> tuple[Store, int, int]:
    """(store, INBOX id, its UIDVALIDITY)."""
    account = d.session.state.account
    assert account is not None
    store = d.session.app.store
    box = store.get_mailbox(account.id, "INBOX")
    assert box is not None
    return store, box.id, box.uidvalidity


def test_qresync_grammar() -> None:
    cmd = parse(b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 41:43)))\r\n")
    assert cmd.qresync is not None  # type: ignore[attr-defined]
    assert cmd.qresync.uidvalidity == 67890007 and cmd.qresync.modseq == 20050715194045000  # type: ignore[attr-defined]
    assert cmd.qresync.known_uids.ranges == ((41, 41), (43, 211), (214, 541))  # type: ignore[attr-defined]
    assert parse(b"b UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n").vanished  # type: ignore[attr-defined]
    for bad in (b"c FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)\r\n", b"d UID FETCH 1 (FLAGS) (VANISHED)\r\n"):
        try:
            parse(bad)
        except Exception as e:  # a ParseError answered BAD
            assert "VANISHED" in str(e)
        else:
            raise AssertionError(bad)


async def test_qresync_needs_enable(logged_in: Driver) -> None:
    assert (await logged_in.cmd("s SELECT INBOX (QRESYNC (1 1))"))[-1].startswith(b"s BAD [CLIENTBUG]")
    assert b"QRESYNC" in (await logged_in.cmd("c CAPABILITY"))[0].split()
    assert await logged_in.cmd("e ENABLE QRESYNC") == [b"* ENABLED QRESYNC", b"e OK ENABLE completed"]
    assert "CONDSTORE" in logged_in.session.state.enabled


async def test_select_qresync_reports_changes_and_vanished(logged_in: Driver) -> None:
    highest = await _inbox(logged_in, 6)  # UIDs 1..6
    store, inbox, uidvalidity = _inbox_id(logged_in)
    store.store_flags(inbox, [2], ["\\Seen"], "add").wait()
    store.store_flags(inbox, [3, 5], ["\\Deleted"], "add").wait()
    store.expunge(inbox).wait()
    await logged_in.cmd("e ENABLE QRESYNC")
    out = await logged_in.cmd(f"s SELECT INBOX (QRESYNC ({uidvalidity} {highest}))")
    assert out[-4:] == [
        b"* OK [HIGHESTMODSEQ %d] Highest" % (highest + 3),
        b"* VANISHED (EARLIER) 3,5",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))" % (highest + 1),
        b"s OK [READ-WRITE] SELECT completed",
    ]
    assert b"* 4 EXISTS" in out
    # known UIDs narrow VANISHED; another UIDVALIDITY means no resync data at all
    out = await logged_in.cmd(f"t EXAMINE INBOX (QRESYNC ({uidvalidity} {highest} 1:4))")
    assert out[-3:] == [
        b"* VANISHED (EARLIER) 3",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))" % (highest + 1),
        b"t OK [READ-ONLY] EXAMINE completed",
    ]
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed"
    out = await logged_in.cmd(f"u EXAMINE INBOX (QRESYNC ({uidvalidity + 1} {highest}))")
    assert not any(b"VANISHED" in line or b"FETCH" in line for line in out)
    # nothing changed since the current HIGHESTMODSEQ: nothing more than a plain SELECT
    out = await logged_in.cmd(f"v SELECT INBOX (QRESYNC ({uidvalidity} {highest + 3}))")
    assert out[-2:] == [b"* OK [HIGHESTMODSEQ %d] Highest" % (highest + 3), b"v OK [READ-WRITE] SELECT completed"]


async def test_vanished_replaces_expunge_once_enabled(logged_in: Driver) -> None:
    await _inbox(logged_in, 5)
    await logged_in.cmd("e ENABLE QRESYNC")
    await logged_in.cmd("s SELECT INBOX")
    await logged_in.cmd("t STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    assert await logged_in.cmd("x EXPUNGE") == [b"* VANISHED 2,4", b"x OK EXPUNGE completed"]
    await logged_in.cmd("t UID STORE 5 +FLAGS.SILENT (\\Deleted)")
    assert await logged_in.cmd("y UID EXPUNGE 5") == [b"* VANISHED 5", b"y OK UID EXPUNGE completed"]
    out = await logged_in.cmd("m UID MOVE 1 Trash")
    assert out[0].startswith(b"* OK [COPYUID ") and out[1:] == [b"* VANISHED 1", b"m OK UID MOVE completed"]
    assert await logged_in.cmd("f FETCH 1 (UID)") == [b"* 1 FETCH (UID 3)", b"f OK FETCH completed"]


async def test_uid_fetch_changedsince_vanished(logged_in: Driver) -> None:
    highest = await _inbox(logged_in, 5)
    store, inbox, _ = _inbox_id(logged_in)
    await logged_in.cmd("e ENABLE QRESYNC")
    await logged_in.cmd("s SELECT INBOX")
    assert (await logged_in.cmd("b UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"))[-1] == (
        b"b OK UID FETCH completed"
    )
    store.store_flags(inbox, [1, 4], ["\\Deleted"], "add").wait()
    store.expunge(inbox).wait()
    store.store_flags(inbox, [3], ["$Done"], "add").wait()
    await settle(store)
    out = await logged_in.cmd(f"f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    # the view still counts 1 and 4 (their VANISHED comes with the tagged answer): not EARLIER
    assert out == [
        b"* 3 FETCH (UID 3 FLAGS ($Done) MODSEQ (%d))" % (highest + 3),
        b"* VANISHED 1,4",
        b"* 2 FETCH (UID 3 FLAGS ($Done) MODSEQ (%d))" % (highest + 3),  # the change told as an update too
        b"f OK UID FETCH completed",
    ]
    out = await logged_in.cmd(f"g UID FETCH 2:5 (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert out == [
        b"* VANISHED (EARLIER) 4",
        b"* 2 FETCH (UID 3 FLAGS ($Done) MODSEQ (%d))" % (highest + 3),
        b"g OK UID FETCH completed",
    ]
    assert (await logged_in.cmd("h FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)"))[-1].startswith(b"h BAD")


async def test_history_older_than_the_tombstones_sends_every_missing_uid(
    logged_in: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 7162 3.2.5.2: past the pruned history, every known UID that no longer exists is VANISHED."""
    highest = await _inbox(logged_in, 8)
    store, inbox, uidvalidity = _inbox_id(logged_in)
    for uid in (2, 3, 6):  # three expunges, three modseqs
        store.store_flags(inbox, [uid], ["\\Deleted"], "add").wait()
        store.expunge(inbox, [uid]).wait()
    monkeypatch.setattr(sqlite, "TOMBSTONES_KEPT", 1)
    store.sweep().wait()  # only UID 6's tombstone is left
    assert queries.expunged_floor(store, inbox) > highest
    await logged_in.cmd("e ENABLE QRESYNC")
    out = await logged_in.cmd(f"s SELECT INBOX (QRESYNC ({uidvalidity} {highest}))")
    assert out[-2:] == [b"* VANISHED (EARLIER) 2:3,6", b"s OK [READ-WRITE] SELECT completed"]
    out = await logged_in.cmd(f"t SELECT INBOX (QRESYNC ({uidvalidity} {highest} 1,3:5,9:20))")
    assert out[-2:] == [b"* VANISHED (EARLIER) 3", b"t OK [READ-WRITE] SELECT completed"]
    # a client recent enough for the remaining tombstones gets exactly them
    floor = queries.expunged_floor(store, inbox)
    out = await logged_in.cmd(f"u SELECT INBOX (QRESYNC ({uidvalidity} {floor}))")
    assert out[-2:] == [b"* VANISHED (EARLIER) 6", b"u OK [READ-WRITE] SELECT completed"]


class RawClient:
    """IMAP over implicit TLS, command by command, counting the bytes both ways."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sent = self.received = 0

    @classmethod
    async def connect(cls, app: App, port: int) -> RawClient:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context(app), server_hostname=HOSTNAME), TIMEOUT
        )
        client = cls(reader, writer)
        client.received += len(await asyncio.wait_for(reader.readline(), TIMEOUT))  # greeting
        return client

    async def cmd(self, tag: str, text: str) -> list[bytes]:
        """The lines answered to one command, CRLF removed, the tagged one last."""
        line = f"{tag} {text}\r\n".encode()
        self.writer.write(line)
        self.sent += len(line)
        lines = []
        while True:
            data = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
            assert data, lines
            self.received += len(data)
            lines.append(data[:-2])
            if data.startswith(tag.encode() + b" "):
                return lines

    async def close(self) -> None:
        await self.cmd("z", "LOGOUT")
        self.writer.close()
        await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


@pytest.fixture
async def imaps_port(imap_app: App) -> AsyncIterator[int]:
    server = await start_listener(imap_app, "127.0.0.1", 0, implicit_tls=True, connections=Connections())
    yield server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_resync_after_a_disconnection_over_the_listener(imap_app: App, imaps_port: int) -> None:
    """Away: 10 arrivals, 5 flag changes, 5 expunges; the QRESYNC SELECT tells exactly those."""
    store = imap_app.store
    account = store.find_account(ARTHUR)
    assert account is not None
    for n in range(20):
        deliver(store, account, message(n))
    client = await RawClient.connect(imap_app, imaps_port)
    await client.cmd("a", f'LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"')
    assert await client.cmd("b", "ENABLE QRESYNC") == [b"* ENABLED QRESYNC", b"b OK ENABLE completed"]
    selected = await client.cmd("c", "SELECT INBOX")
    box = store.get_mailbox(account.id, "INBOX")
    assert box is not None
    known = box.highestmodseq
    assert b"* OK [HIGHESTMODSEQ %d] Highest" % known in selected
    assert len(await client.cmd("d", "UID FETCH 1:* (FLAGS)")) == 21
    await client.close()

    for n in range(20, 30):  # UIDs 21 to 30
        deliver(store, account, message(n))
    for uid in (2, 4, 6, 8, 10):
        store.store_flags(box.id, [uid], ["\\Flagged"], "add").wait()
    store.store_flags(box.id, [11, 12, 13, 14, 15], ["\\Deleted"], "add").wait()
    store.expunge(box.id).wait()
    rows = {uid: modseq for uid, modseq in queries.fetch_rows(store, box.id, list(range(1, 31)), ("modseq",))}
    now = store.get_mailbox(account.id, "INBOX")
    assert now is not None

    client = await RawClient.connect(imap_app, imaps_port)
    await client.cmd("a", f'LOGIN {ARTHUR} "{PASSWORDS[ARTHUR]}"')
    await client.cmd("b", "ENABLE QRESYNC")
    sent, received = client.sent, client.received
    out = await client.cmd("c", f"SELECT INBOX (QRESYNC ({box.uidvalidity} {known} 1:20))")
    seqs = {uid: seq for seq, uid in enumerate([*range(1, 11), *range(16, 31)], start=1)}
    assert out == [
        b"* 25 EXISTS",
        b"* 10 RECENT",
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted",
        b"* OK [UNSEEN 1] First unseen",
        b"* OK [UIDVALIDITY %d] UIDs valid" % box.uidvalidity,
        b"* OK [UIDNEXT 31] Predicted next UID",
        b"* OK [MAILBOXID (%s)] Ok" % objectid.mailbox_id(box.id).encode(),
        b"* OK [HIGHESTMODSEQ %d] Highest" % now.highestmodseq,
        b"* VANISHED (EARLIER) 11:15",
        *[b"* %d FETCH (UID %d FLAGS (\\Flagged) MODSEQ (%d))" % (uid, uid, rows[uid]) for uid in (2, 4, 6, 8, 10)],
        *[b"* %d FETCH (UID %d FLAGS (\\Recent) MODSEQ (%d))" % (seqs[uid], uid, rows[uid]) for uid in range(21, 31)],
        b"c OK [READ-WRITE] SELECT completed",
    ]
    exchanged = client.sent - sent + client.received - received
    assert exchanged < 2000, exchanged  # 1,194 bytes when written: the SELECT line and these 26 lines
    await client.close()
