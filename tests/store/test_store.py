"""The store's promises: ordering, atomicity, durability, group commit, change feed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from arobase.config import load
from arobase.services.accounts import Accounts
from arobase.store import (
    AlreadyExists,
    ChangeKind,
    InvalidOperation,
    MigrationRequired,
    NotFound,
    QuotaExceeded,
    Store,
    migrate_store,
    open_store,
)
from arobase.store import sqlite as sqlite_store
from arobase.store.blobs import BlobStore


def message(n: int, body: str = "hello") -> bytes:
    return (
        f"From: Sender <sender@remote.example>\r\nTo: a@example.test\r\nSubject: message {n}\r\n"
        f"Message-ID: <{n}@remote.example>\r\n\r\n{body} {n}\r\n"
    ).encode()


def deliver(store: Store, account_id: int, n: int, mailbox: str = "INBOX") -> tuple[int, int, int]:
    return store.deliver(store.put_message(message(n)), [(account_id, mailbox)]).wait()[0]


@pytest.fixture
def alice(accounts: Accounts):  # type: ignore[no-untyped-def]
    return accounts.add_user("alice@example.test", "correct horse")


@pytest.fixture
def bob(accounts: Accounts):  # type: ignore[no-untyped-def]
    return accounts.add_user("bob@example.test", "correct horse")


def test_new_account_has_special_mailboxes(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    boxes = {m.name: m.special_use for m in store.list_mailboxes(alice.id)}
    assert boxes == {
        "INBOX": None,
        "Sent": "\\Sent",
        "Drafts": "\\Drafts",
        "Junk": "\\Junk",
        "Trash": "\\Trash",
        "Archive": "\\Archive",
    }
    assert len({m.uidvalidity for m in store.list_mailboxes(alice.id)}) == 6


def test_uids_and_modseqs_strictly_increase_under_concurrent_writers(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    def producer(offset: int) -> None:
        for i in range(50):
            deliver(store, alice.id, offset * 1000 + i)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    inbox = store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    messages = store.list_messages(inbox.id)
    assert [m.uid for m in messages] == list(range(1, 401))
    modseqs = [m.modseq for m in messages]
    assert modseqs == sorted(modseqs) and len(set(modseqs)) == 400
    assert inbox.uidnext == 401 and inbox.highestmodseq == modseqs[-1]
    assert inbox.messages == 400 and inbox.unseen == 400
    assert store.check() == []


def test_group_commit_batches_concurrent_deliveries(store: Store, alice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sqlite_store, "TEXT_BATCH", 1000)  # counted here: deliveries only, not the
    monkeypatch.setattr(sqlite_store, "TEXT_DELAY", 60.0)  # writes that index their texts later
    before = store.writer_stats.transactions, store.writer_stats.operations
    blobs = [store.put_message(message(i)) for i in range(300)]
    barrier = threading.Barrier(6)

    def producer(part: list) -> None:  # type: ignore[type-arg]
        barrier.wait()
        pending = [store.deliver(blob, [(alice.id, "INBOX")]) for blob in part]
        for p in pending:
            p.wait()

    threads = [threading.Thread(target=producer, args=(blobs[i::6],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transactions = store.writer_stats.transactions - before[0]
    operations = store.writer_stats.operations - before[1]
    assert operations == 300
    assert transactions < operations / 3, f"{transactions} commits for {operations} deliveries: no batching"


def test_multi_recipient_delivery_is_all_or_nothing(store: Store, accounts: Accounts, alice, bob) -> None:  # type: ignore[no-untyped-def]
    accounts.set_quota("bob@example.test", 100)
    blob = store.put_message(message(1, "x" * 500))
    with pytest.raises(QuotaExceeded):
        store.deliver(blob, [(alice.id, "INBOX"), (bob.id, "INBOX")], outbound=["c@remote.example"]).wait()
    assert store.get_mailbox(alice.id, "INBOX").messages == 0  # type: ignore[union-attr]
    assert store.list_outbound() == []
    with pytest.raises(NotFound):
        store.deliver(blob, [(alice.id, "INBOX"), (9999, "INBOX")]).wait()
    assert store.get_mailbox(alice.id, "INBOX").messages == 0  # type: ignore[union-attr]
    assert store.check() == []


def test_one_blob_for_many_recipients_and_queue(store: Store, alice, bob) -> None:  # type: ignore[no-untyped-def]
    raw = message(7)
    blob = store.put_message(raw)
    placed = store.deliver(
        blob, [(alice.id, "INBOX"), (bob.id, "INBOX")], outbound=["carol@remote.example"], sender="x@remote.example"
    ).wait()
    assert len(placed) == 2
    db = sqlite3.connect(store.db_path)
    assert db.execute("SELECT count(*) FROM blobs").fetchone() == (1,)
    assert db.execute("SELECT data FROM blob_data").fetchall() == [(raw,)]
    db.close()
    (entry,) = store.list_outbound()
    assert entry.recipient == "carol@remote.example" and entry.blob == blob.hash
    for account in (alice, bob):
        inbox = store.get_mailbox(account.id, "INBOX")
        (stored,) = store.list_messages(inbox.id)  # type: ignore[union-attr]
        assert store.read_blob(stored.blob) == raw


def test_parsed_once_and_kept(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    deliver(store, alice.id, 3)
    again = store.put_message(message(3))
    assert again.parsed is None  # already known: not parsed a second time
    inbox = store.get_mailbox(alice.id, "INBOX")
    (stored,) = store.list_messages(inbox.id)  # type: ignore[union-attr]
    parsed = store.parsed(stored.blob)
    assert parsed.subject == "message 3"
    assert parsed.message_id == "<3@remote.example>"


def test_flags_expunge_copy_move_keep_counters_coherent(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    for i in range(10):
        deliver(store, alice.id, i)
    inbox = store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    changed = store.store_flags(inbox.id, [1, 2, 3], ["\\Seen", "Work"], "add").wait()
    assert changed[1][0] == {"\\Seen", "Work"}
    assert store.store_flags(inbox.id, [1], ["\\Seen"], "add").wait()[1][1] == changed[1][1]  # no-op keeps modseq
    store.store_flags(inbox.id, [2], ["\\Flagged"], "replace").wait()
    assert store.get_message(inbox.id, 2).flags == {"\\Flagged"}  # type: ignore[union-attr]
    assert store.get_mailbox(alice.id, "INBOX").unseen == 8  # type: ignore[union-attr]
    archive = store.get_mailbox(alice.id, "Archive")
    assert store.copy(inbox.id, [1, 2], archive.id).wait() == [(1, 1), (2, 2)]  # type: ignore[union-attr]
    assert store.copy(inbox.id, [3, 4, 99], archive.id, move=True).wait() == [(3, 3), (4, 4)]  # type: ignore[union-attr]
    assert store.uids(inbox.id) == [1, 2, 5, 6, 7, 8, 9, 10]
    store.store_flags(inbox.id, [5, 6], ["\\Deleted"], "add").wait()
    assert store.expunge(inbox.id).wait() == [5, 6]
    assert store.uids(inbox.id) == [1, 2, 7, 8, 9, 10]
    deliver(store, alice.id, 100)
    assert store.uids(inbox.id)[-1] == 11  # UIDs are never reused
    assert store.check() == []


def test_system_flag_store_touches_only_targets_that_change(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    for i in range(12):
        deliver(store, alice.id, i)
    inbox = store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    store.store_flags(inbox.id, [2, 3], ["\\Seen", "\\Flagged"], "add").wait()
    before = {m.uid: m for m in store.list_messages(inbox.id)}
    targets = [1, 2, 3, 4, 6, 7, 9, 11, 12, 40]  # gaps: 5, 8, 10 must stay as they are; 40 does not exist
    result = store.store_flags(inbox.id, targets, ["\\Seen"], "add").wait()
    after = {m.uid: m for m in store.list_messages(inbox.id)}
    modseq = result[1][1]
    assert sorted(result) == targets[:-1]
    assert result[2] == ({"\\Seen", "\\Flagged"}, before[2].modseq)  # already \Seen: unchanged, old modseq
    assert result[4] == ({"\\Seen"}, modseq) and modseq > max(m.modseq for m in before.values())
    for uid in (5, 8, 10):
        assert after[uid].flags == frozenset() and after[uid].modseq == before[uid].modseq
    assert {uid for uid, m in after.items() if m.modseq == modseq} == {1, 4, 6, 7, 9, 11, 12}
    assert store.get_mailbox(alice.id, "INBOX").unseen == 3  # type: ignore[union-attr]
    store.store_flags(inbox.id, [1, 2, 3], ["\\Flagged"], "remove").wait()
    assert store.get_message(inbox.id, 2).flags == {"\\Seen"}  # type: ignore[union-attr]
    store.store_flags(inbox.id, [4], ["$Later"], "add").wait()
    flagged = store.store_flags(inbox.id, [4, 5], ["\\Flagged"], "add").wait()  # keywords stay, and are reported
    assert flagged[4][0] == {"\\Seen", "\\Flagged", "$Later"} and flagged[5][0] == {"\\Flagged"}
    assert store.get_message(inbox.id, 4).flags == {"\\Seen", "\\Flagged", "$Later"}  # type: ignore[union-attr]
    store.store_flags(inbox.id, [4, 5], ["\\Draft"], "replace").wait()  # a keyword goes: not the set-based path
    assert store.get_message(inbox.id, 4).flags == {"\\Draft"}  # type: ignore[union-attr]
    assert store.get_message(inbox.id, 5).flags == {"\\Draft"}  # type: ignore[union-attr]
    assert store.get_mailbox(alice.id, "INBOX").unseen == 4  # type: ignore[union-attr]
    assert store.check() == []


def test_mailbox_hierarchy(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    store.create_mailbox(alice.id, "Projects/2026/Q1").wait()
    names = {m.name for m in store.list_mailboxes(alice.id)}
    assert {"Projects", "Projects/2026", "Projects/2026/Q1"} <= names
    with pytest.raises(AlreadyExists):
        store.create_mailbox(alice.id, "Projects").wait()
    store.rename_mailbox(alice.id, "Projects", "Work").wait()
    names = {m.name for m in store.list_mailboxes(alice.id)}
    assert {"Work", "Work/2026", "Work/2026/Q1"} <= names and "Projects" not in names
    store.delete_mailbox(alice.id, "Work").wait()  # has children: becomes \Noselect
    work = store.get_mailbox(alice.id, "Work")
    assert work is not None and not work.selectable
    with pytest.raises(InvalidOperation):
        store.delete_mailbox(alice.id, "Work").wait()
    store.delete_mailbox(alice.id, "Work/2026/Q1").wait()
    assert store.get_mailbox(alice.id, "Work/2026/Q1") is None
    with pytest.raises(InvalidOperation):
        store.delete_mailbox(alice.id, "inbox").wait()
    with pytest.raises(InvalidOperation):
        store.create_mailbox(alice.id, "a//b").wait()
    assert store.get_mailbox(alice.id, "iNbOx").name == "INBOX"  # type: ignore[union-attr]


def test_rename_inbox_moves_messages_and_leaves_it_empty(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        deliver(store, alice.id, i)
    store.rename_mailbox(alice.id, "INBOX", "Old/Inbox").wait()
    assert store.get_mailbox(alice.id, "INBOX").messages == 0  # type: ignore[union-attr]
    assert store.get_mailbox(alice.id, "Old/Inbox").messages == 3  # type: ignore[union-attr]
    assert store.check() == []


def test_recreated_mailbox_gets_new_uidvalidity(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    first = store.create_mailbox(alice.id, "Temp").wait()
    store.delete_mailbox(alice.id, "Temp").wait()
    second = store.create_mailbox(alice.id, "Temp").wait()
    assert second.uidvalidity > first.uidvalidity


def test_full_text_search_is_a_substring_match(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    for i, body in enumerate(["the zorglub arrives", "nothing here", "ZORGLUBS everywhere", "été à Paris"]):
        store.deliver(store.put_message(message(i, body)), [(alice.id, "INBOX")]).wait()
    inbox = store.get_mailbox(alice.id, "INBOX")
    assert store.search_text(inbox.id, "zorglub") == [1, 3]  # type: ignore[union-attr]
    assert store.search_text(inbox.id, "orglu", "body") == [1, 3]  # type: ignore[union-attr]
    assert store.search_text(inbox.id, "message 2", "headers") == [3]  # type: ignore[union-attr]
    assert store.search_text(inbox.id, "été") == [4]  # type: ignore[union-attr]
    assert store.search_text(inbox.id, "zz") == []  # type: ignore[union-attr]


def test_change_feed_reaches_asyncio_subscribers(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list:  # type: ignore[type-arg]
        seen: list = []  # type: ignore[type-arg]
        got = asyncio.Event()

        def on_change(change) -> None:  # type: ignore[no-untyped-def]
            seen.append(change)
            if change.kind is ChangeKind.FLAGS:
                got.set()

        unsubscribe = store.feed.subscribe(alice.id, on_change)
        ((_, mailbox_id, uid),) = await store.deliver(store.put_message(message(1)), [(alice.id, "INBOX")])
        await store.store_flags(mailbox_id, [uid], ["\\Seen"], "add")
        await asyncio.wait_for(got.wait(), 5)
        unsubscribe()
        return seen

    seen = asyncio.run(scenario())
    assert [c.kind for c in seen] == [ChangeKind.ADDED, ChangeKind.FLAGS]
    assert seen[0].modseq < seen[1].modseq and seen[0].uids == (1,)


def test_sweep_removes_unreferenced_blobs_only(config, alice) -> None:  # type: ignore[no-untyped-def]
    store = open_store(config)
    store.blob_grace = 0
    try:
        for i in range(2):
            deliver(store, alice.id, i)
        inbox = store.get_mailbox(alice.id, "INBOX")
        archive = store.get_mailbox(alice.id, "Archive")
        store.copy(inbox.id, [1], archive.id).wait()  # type: ignore[union-attr]
        store.expunge(inbox.id, [1, 2]).wait()  # type: ignore[union-attr]
        assert store.sweep().wait() == 1  # message 2 is gone; message 1 lives on in Archive
        (kept,) = store.list_messages(archive.id)  # type: ignore[union-attr]
        assert store.read_blob(kept.blob) == message(0)
        assert store.check() == []
    finally:
        store.close()


def test_unmigrated_store_is_refused(tmp_path: Path) -> None:
    from tests.conftest import make_data_dir

    data = make_data_dir(tmp_path / "d")
    db = sqlite3.connect(data / "store.db")
    db.execute("PRAGMA user_version = 0")
    db.close()
    with pytest.raises(MigrationRequired, match=r"arobase --data .* migrate"):
        open_store(load(data, environ={}))


def test_migration_11_drops_the_character_gram_counts(tmp_path: Path) -> None:
    """`arobase filter train` used to count 4-grams for Bayes, which never reads them."""
    from tests.conftest import make_data_dir

    from arobase.filters.tokens import CHAR_GRAM_TAG, hash_token

    data = make_data_dir(tmp_path / "d")
    gram, word = CHAR_GRAM_TAG << 48 | 0x46726565, hash_token("free")
    db = sqlite3.connect(data / "store.db")
    db.executemany("INSERT INTO filter_tokens (account_id, token, spam) VALUES (0, ?, 1)", [(gram,), (word,)])
    db.execute("PRAGMA user_version = 10")
    db.commit()
    db.close()
    assert migrate_store(data) == [11]
    store = open_store(load(data, environ={}))
    try:
        assert store.filter_most_seen(0, 10) == [(word, 1, 0)]
    finally:
        store.close()


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from arobase.config import load
    from arobase.store import open_store
    store = open_store(load(Path(sys.argv[1]), environ={}))
    account = int(sys.argv[2])
    mode = sys.argv[3]
    if mode == "before-commit":  # a large message: its file is written before the commit
        store.put_message(b"Subject: never committed\\r\\n\\r\\n" + b"lost\\r\\n" * 50_000)
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "acknowledged":  # killed right after acknowledged deliveries, before their texts are indexed
        for n in range(5):
            store.deliver(store.put_message(f"Subject: unindexed {n}\\r\\n\\r\\nbody{n}\\r\\n".encode()),
                          [(account, "INBOX")]).wait()
        os.kill(os.getpid(), signal.SIGKILL)
    n = 0
    while True:
        blob = store.put_message(f"Subject: crash {n}\\r\\n\\r\\nbody {n}\\r\\n".encode())
        store.deliver(blob, [(account, "INBOX")]).wait()
        n += 1
        if n == 20:
            print("running", flush=True)
    """
)


def test_crash_between_blob_write_and_commit_leaves_nothing_visible(data_dir: Path, config, alice) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(data_dir), str(alice.id), "before-commit"], timeout=60
    )
    assert result.returncode == -signal.SIGKILL
    store = open_store(config)
    store.blob_grace = 0
    try:
        assert store.get_mailbox(alice.id, "INBOX").messages == 0  # type: ignore[union-attr]
        assert store.check() == []
        assert store.sweep().wait() == 1  # the orphaned blob is collected
    finally:
        store.close()


def test_kill_during_deliveries_loses_nothing_committed(data_dir: Path, config, alice) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(data_dir), str(alice.id), "loop"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    store = open_store(config)
    try:
        assert store.check() == []
        inbox = store.get_mailbox(alice.id, "INBOX")
        messages = store.list_messages(inbox.id)  # type: ignore[union-attr]
        assert len(messages) >= 20
        assert [m.uid for m in messages] == list(range(1, len(messages) + 1))
        for m in messages:
            assert store.read_blob(m.blob) == f"Subject: crash {m.uid - 1}\r\n\r\nbody {m.uid - 1}\r\n".encode()
    finally:
        store.close()


def _unindexed(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "store.db")
    try:
        return db.execute("SELECT count(*) FROM blobs WHERE id NOT IN (SELECT rowid FROM blob_text)").fetchone()[0]
    finally:
        db.close()


def test_texts_lost_by_a_crash_are_indexed_at_the_next_open(data_dir: Path, config, alice) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(data_dir), str(alice.id), "acknowledged"], timeout=60
    )
    assert result.returncode == -signal.SIGKILL
    assert _unindexed(data_dir) > 0  # the texts were only queued in memory
    store = open_store(config)
    try:
        inbox = store.get_mailbox(alice.id, "INBOX")
        assert inbox.messages == 5  # type: ignore[union-attr]
        for n in range(5):
            assert store.search_text(inbox.id, f"body{n}") == [n + 1]  # type: ignore[union-attr]
            assert store.search_text(inbox.id, f"unindexed {n}", "headers") == [n + 1]  # type: ignore[union-attr]
    finally:
        store.close()
    assert _unindexed(data_dir) == 0


def test_texts_are_indexed_in_batches_after_the_commit(data_dir: Path, config, alice, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sqlite_store, "TEXT_DELAY", 60.0)
    store = open_store(config)
    store.blob_grace = 0
    try:
        for i in range(3):
            deliver(store, alice.id, i)
        assert _unindexed(data_dir) == 3  # acknowledged, not indexed yet
        inbox = store.get_mailbox(alice.id, "INBOX")
        assert store.search_text(inbox.id, "hello 2") == [3]  # type: ignore[union-attr]  # a read indexes first
        assert _unindexed(data_dir) == 0
        deliver(store, alice.id, 3)
        store.expunge(inbox.id, [3, 4]).wait()  # type: ignore[union-attr]
        assert store.sweep().wait() == 2  # the queued text of a removed content is not left in the index
        db = sqlite3.connect(data_dir / "store.db")
        assert db.execute("SELECT count(*) FROM blob_text").fetchone()[0] == 2
        db.close()
        monkeypatch.setattr(sqlite_store, "TEXT_DELAY", 0.1)
        deliver(store, alice.id, 4)
        time.sleep(1)  # indexed without any reader asking
        assert _unindexed(data_dir) == 0
        deliver(store, alice.id, 5)
    finally:
        store.close()
    assert _unindexed(data_dir) == 0  # closing indexes what is queued


def test_a_second_opener_indexing_queued_texts_does_not_break_indexing(data_dir: Path, config, alice) -> None:  # type: ignore[no-untyped-def]
    store = open_store(config)
    try:
        deliver(store, alice.id, 1)
        assert _unindexed(data_dir) == 1
        open_store(config).close()  # as the CLI while the server runs: it indexes what it finds unindexed
        assert _unindexed(data_dir) == 0
        inbox = store.get_mailbox(alice.id, "INBOX")
        assert store.search_text(inbox.id, "hello 1") == [1]  # type: ignore[union-attr]  # indexes the same text again
        deliver(store, alice.id, 2)
        assert store.search_text(inbox.id, "hello 2") == [2]  # type: ignore[union-attr]
    finally:
        store.close()


def test_large_messages_live_in_files_small_ones_in_the_commit(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    small = message(1)
    large = message(2, "x" * (store.inline_max + 1))
    for raw in (small, large):
        store.deliver(store.put_message(raw), [(alice.id, "INBOX")]).wait()
    files = [p for p in (store.data_dir / "blobs").rglob("*") if p.is_file()]
    assert [f.read_bytes() for f in files] == [large]
    inbox = store.get_mailbox(alice.id, "INBOX")
    assert [store.read_blob(m.blob) for m in store.list_messages(inbox.id)] == [small, large]  # type: ignore[union-attr]
    assert store.check() == []
    files[0].unlink()
    assert store.check() == [f"blob {BlobStore.digest(large)}: file missing"]


def test_everything_computed_at_ingest_comes_back_identical(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    from arobase.mime import parse_message

    raw = (
        b"From: =?utf-8?q?Ren=C3=A9?= <rene@remote.example>\r\nTo: a@example.test\r\nSubject: Re: plans\r\n"
        b"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nMessage-ID: <p@remote.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n'
        b"<p>See <b>attached</b></p>\r\n--b\r\nContent-Type: application/pdf; name=plan.pdf\r\n"
        b"Content-Disposition: attachment; filename=plan.pdf\r\n\r\n%PDF\r\n--b--\r\n"
    )
    ((_, mailbox_id, uid),) = store.deliver(store.put_message(raw), [(alice.id, "INBOX")]).wait()
    stored = store.get_message(mailbox_id, uid)
    assert store.parsed(stored.blob) == parse_message(raw)  # type: ignore[union-attr]


def test_a_cancelled_write_is_dropped_and_the_writer_survives(store: Store, alice) -> None:  # type: ignore[no-untyped-def]
    async def deliver_async(n: int) -> list[tuple[int, int, int]]:
        return await store.deliver(store.put_message(message(n)), [(alice.id, "INBOX")])

    async def scenario() -> list[tuple[int, int, int]]:
        gate, busy = threading.Event(), threading.Event()
        blocker = store._write(lambda tx: (busy.set(), gate.wait(5)))  # keeps the writer busy
        await asyncio.to_thread(busy.wait, 5)
        waiter = asyncio.ensure_future(deliver_async(1))
        await asyncio.sleep(0.05)
        waiter.cancel()  # the client went away while its delivery was still queued
        await asyncio.sleep(0.05)  # the cancellation reaches the queued write
        gate.set()
        await blocker
        return await deliver_async(2)

    ((_, mailbox_id, uid),) = asyncio.run(scenario())
    assert [m.uid for m in store.list_messages(mailbox_id)] == [uid]
    assert store.read_blob(store.get_message(mailbox_id, uid).blob) == message(2)  # type: ignore[union-attr]
    assert store.check() == []
