"""The single writer: one thread, one connection, group commit, and a separate flush.

Every change to the database is a small function queued here. The writer takes whatever has
accumulated, runs each function in its own savepoint inside one transaction and commits once. A
failing operation rolls back only its own savepoint.

Durability is decoupled from the commit: SQLite commits without syncing, and a flusher thread
fsyncs the write-ahead log once for every commit that happened since its previous fsync. Only
then are the callers told their write succeeded (and live sessions told of the changes). So one
fsync covers many commits, the writer does not wait for the disk while writes are queued, and
throughput grows with load instead of being capped by fsync latency. When nothing is queued and
the flusher is idle, the writer syncs itself, sparing a lone writer (one IMAP client appending)
a thread hop. Readers may see a commit a few milliseconds before it is durable; nothing is ever
acknowledged before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .models import Change

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_BATCH = 512
CHECKPOINT_INTERVAL = 0.5  # seconds between checkpoints of the write-ahead log
RESTART_FRAMES = 1000  # a log this long after a checkpoint is rewound by the writer (see _checkpoint_loop)


class Pending(Generic[T]):
    """The result of a queued write: `await` it in asyncio code, `.wait()` it elsewhere."""

    __slots__ = ("_future",)

    def __init__(self, future: Future[T]) -> None:
        self._future = future

    def wait(self, timeout: float | None = None) -> T:
        return self._future.result(timeout)

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self._future).__await__()


class Transaction:
    """What a write operation gets: the connection, and a list to report its changes in."""

    __slots__ = ("afterwards", "changes", "db")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.changes: list[Change] = []
        self.afterwards: list[Callable[[bool], None]] = []

    def after(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(committed)` in the writer thread once the batch has committed or failed.

        `committed` is False when this operation or the whole batch was rolled back: state kept
        outside the database (the store's queue of texts to index) follows the commit this way.
        After a rollback the callbacks run in reverse order, undoing the latest first. They run
        before anyone is told of the outcome, and must not wait for the writer.
        """
        self.afterwards.append(callback)


@dataclass(slots=True)
class _Job:
    run: Callable[[Transaction], Any]
    future: Future[Any] = field(default_factory=Future)


@dataclass(slots=True)
class WriterStats:
    transactions: int = 0
    operations: int = 0
    fsyncs: int = 0


Outcome = tuple[_Job, bool, Any, list[Change]]


class Writer:
    """Runs writes; with `wal` (the database's write-ahead log file) it also makes them durable."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        publish: Callable[[list[Change]], None],
        *,
        wal: Path | None = None,
    ) -> None:
        self._connect = connect
        self._publish = publish
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.stats = WriterStats()
        self._wal = wal
        self._flush_queue: queue.SimpleQueue[list[Outcome] | None] = queue.SimpleQueue()
        self._handed = 0  # commits given to the flusher and not settled yet
        self._handed_lock = threading.Lock()
        self._wal_fd: int | None = None
        self._flusher = threading.Thread(target=self._flush_loop, name="arobase-store-flusher", daemon=True)
        self._closing = threading.Event()
        self._rewind = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="arobase-store-checkpointer", daemon=True
        )
        if wal is not None:
            self._flusher.start()
            self._checkpointer.start()
        self._thread = threading.Thread(target=self._loop, name="arobase-store-writer", daemon=True)
        self._thread.start()

    def submit(self, run: Callable[[Transaction], T]) -> Pending[T]:
        if not self._thread.is_alive():
            raise RuntimeError("the store is closed")
        job = _Job(run)
        self._queue.put(job)
        return Pending(job.future)

    def close(self) -> None:
        """Finish every queued write, make it durable, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._flusher.is_alive():
            self._flush_queue.put(None)
            self._flusher.join()
        if self._checkpointer.is_alive():
            self._closing.set()
            self._checkpointer.join()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None

    def _loop(self) -> None:
        db = self._connect()
        if self._wal is not None:  # checkpoints run in their own thread, never inside a commit
            db.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while len(batch) < MAX_BATCH:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stop = True
                        break
                    batch.append(job)
                self._commit(db, batch)
                if stop:
                    return
                if self._rewind.is_set():
                    self._rewind.clear()
                    self._checkpoint(db)
        finally:
            db.close()

    def _commit(self, db: sqlite3.Connection, batch: list[_Job]) -> None:
        # A caller that gave up (its asyncio task was cancelled) cancelled the future: its write
        # is dropped, and no result is ever set on a cancelled future, which would raise here
        # and kill the writer thread.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        outcomes: list[Outcome] = []
        afterwards: list[Callable[[bool], None]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for job in batch:
                tx = Transaction(db)
                db.execute("SAVEPOINT op")
                try:
                    result = job.run(tx)
                except BaseException as e:
                    db.execute("ROLLBACK TO op")
                    db.execute("RELEASE op")
                    outcomes.append((job, False, e, []))
                    self._run_afterwards(tx.afterwards[::-1], False)
                else:
                    db.execute("RELEASE op")
                    outcomes.append((job, True, result, tx.changes))
                    afterwards.extend(tx.afterwards)
            db.execute("COMMIT")
        except BaseException as e:
            log.exception("store commit failed")
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._run_afterwards(afterwards[::-1], False)
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(e)
            return
        self._run_afterwards(afterwards, True)
        self.stats.transactions += 1
        self.stats.operations += len(batch)
        if self._wal is None:
            self._settle(outcomes)
            return
        # Nothing waiting to be written and the flusher idle: syncing here saves a thread hop (the
        # lone writer's latency). Otherwise the flusher syncs while this thread commits the next batch.
        with self._handed_lock:
            inline = self._handed == 0 and self._queue.empty()
            if not inline:
                self._handed += 1
        if inline:
            self._make_durable([outcomes])
        else:
            self._flush_queue.put(outcomes)

    @staticmethod
    def _run_afterwards(callbacks: list[Callable[[bool], None]], committed: bool) -> None:
        for callback in callbacks:
            try:
                callback(committed)
            except Exception:
                log.exception("store after-commit callback failed")

    def _flush_loop(self) -> None:
        while True:
            first = self._flush_queue.get()
            if first is None:
                return
            groups = [first]
            stop = False
            while True:
                try:
                    more = self._flush_queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                groups.append(more)
            self._make_durable(groups)
            with self._handed_lock:  # only now may the writer sync (and settle) in its own thread
                self._handed -= len(groups)
            if stop:
                return

    def _make_durable(self, groups: list[list[Outcome]]) -> None:
        """fsync the log, then settle: no caller hears of its write before it is durable.

        Runs in one thread at a time (the flusher, or the writer when nothing is handed to the
        flusher), so results and changes are published in commit order.
        """
        try:
            self._sync_wal()
        except OSError as e:  # not durable: nobody may be told otherwise
            log.exception("fsync of the store's write-ahead log failed")
            for outcomes in groups:
                for job, *_ in outcomes:
                    job.future.set_exception(e)
        else:
            self.stats.fsyncs += 1
            for outcomes in groups:
                self._settle(outcomes)

    def _checkpoint_loop(self) -> None:
        """Copy the log into the database now and then, off the writer's path.

        SQLite would otherwise checkpoint inside whichever commit crosses 1,000 pages of log,
        making that delivery wait for a thousand page writes and two fsyncs.

        SQLite rewinds the log to its start only when a write begins with every frame copied,
        which never happens under steady writes: commits land while this thread copies. The log
        would then grow without end, and every fsync would also have to record its new size. So
        when a long log remains, the writer copies the few frames added since, between two
        batches, and its next commit rewinds the log.
        """
        db = self._connect()
        try:
            while not self._closing.wait(CHECKPOINT_INTERVAL):
                try:
                    busy, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
                except sqlite3.Error:
                    log.exception("store checkpoint failed")
                else:
                    if not busy and frames >= RESTART_FRAMES:
                        self._rewind.set()
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            db.close()

    @staticmethod
    def _checkpoint(db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            log.exception("store checkpoint failed")

    def _sync_wal(self) -> None:
        """fsync the write-ahead log, (re)opening it if SQLite created a new one."""
        assert self._wal is not None
        if self._wal_fd is not None and os.fstat(self._wal_fd).st_ino != os.stat(self._wal).st_ino:
            os.close(self._wal_fd)
            self._wal_fd = None
        if self._wal_fd is None:
            self._wal_fd = os.open(self._wal, os.O_RDONLY)
            directory = os.open(self._wal.parent, os.O_RDONLY)  # the log's own name must be durable too
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        os.fdatasync(self._wal_fd)  # as SQLite itself: the log's data and size, not its timestamps

    def _settle(self, outcomes: list[Outcome]) -> None:
        changes: list[Change] = []
        for job, ok, value, job_changes in outcomes:
            if ok:
                job.future.set_result(value)
                changes.extend(job_changes)
            else:
                job.future.set_exception(value)
        if changes:
            self._publish(changes)
