"""CONDSTORE announced and enabled (RFC 7162 section 3.1) through the session, byte for byte."""

from __future__ import annotations

from .conftest import MESSAGE, Driver
from .engine_fixtures import deliver, settle


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
