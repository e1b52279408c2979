"""The writer's log housekeeping: under steady writes the write-ahead log is rewound, not grown."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from arobase.store import writer as writer_module
from arobase.store.writer import Transaction, Writer

FRAME = 24 + 4096  # a frame of the log: header and page


def test_log_is_rewound_under_steady_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "CHECKPOINT_INTERVAL", 0.01)
    monkeypatch.setattr(writer_module, "RESTART_FRAMES", 20)
    path = tmp_path / "store.db"

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    setup = connect()
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB)")
    setup.close()
    writer = Writer(connect, lambda changes: None, wal=path.with_name("store.db-wal"))

    def insert(tx: Transaction) -> None:
        tx.db.execute("INSERT INTO t (data) VALUES (randomblob(3000))")

    try:
        commits = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # one write at a time, as one IMAP client appending
            writer.submit(insert).wait(10)
            commits += 1
        log_size = path.with_name("store.db-wal").stat().st_size
    finally:
        writer.close()
    # Every commit appends at least one frame: a log never rewound holds them all, one rewound
    # every few milliseconds a few dozen.
    assert commits > 100
    assert log_size < commits * FRAME / 3, f"{log_size} bytes of log after {commits} commits"


def test_after_callbacks_follow_the_outcome(tmp_path: Path) -> None:
    """Committed operations hear True in order; rolled-back ones False, latest first."""
    path = tmp_path / "store.db"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    setup = connect()
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    setup.close()
    heard: list[tuple[str, bool]] = []

    def op(name: str, sql: str) -> Callable[[Transaction], None]:
        def run(tx: Transaction) -> None:
            tx.after(lambda committed: heard.append((name + " first", committed)))
            tx.after(lambda committed: heard.append((name + " second", committed)))
            tx.db.execute(sql)

        return run

    writer = Writer(connect, lambda changes: None)
    try:
        writer.submit(op("ok", "INSERT INTO t (id) VALUES (1)")).wait(10)
        with pytest.raises(sqlite3.IntegrityError):
            writer.submit(op("failed", "INSERT INTO t (id) VALUES (1)")).wait(10)
    finally:
        writer.close()
    assert heard == [("ok first", True), ("ok second", True), ("failed second", False), ("failed first", False)]
