"""The embedded store: SQLite in WAL mode for metadata, content-addressed files for messages.

Reads use one connection per thread and see committed data only. Writes go through the single
writer (see writer.py) and are therefore serialised and group-committed; they return `Pending`.
No SQL lives outside this package.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..addressing import domain_display
from ..mime import ParsedMessage, parse_message
from . import migrate
from .blobs import BlobStore
from .errors import AlreadyExists, InvalidOperation, MigrationRequired, NotFound, QuotaExceeded
from .feed import ChangeFeed
from .models import (
    DELIMITER,
    SPECIAL_MAILBOXES,
    SYSTEM_FLAGS,
    Account,
    Alias,
    Change,
    ChangeKind,
    DKIMKey,
    Domain,
    FilterVerdict,
    Mailbox,
    Message,
    OutboundEntry,
    QuarantineEntry,
)
from .writer import Pending, Transaction, Writer

_FLAG_BITS = {flag.lower(): 1 << i for i, flag in enumerate(SYSTEM_FLAGS)}
_SEEN = _FLAG_BITS["\\seen"]

TOMBSTONES_KEPT = 20_000
"""Expunge tombstones kept per mailbox by the sweep: the VANISHED history QRESYNC can answer from."""
TEXT_BATCH = 256
"""Texts queued for the full-text index that make the writer index them at once, in one transaction."""
TEXT_DELAY = 0.5
"""Seconds after which a queued text is indexed even when fewer than `TEXT_BATCH` are waiting."""
# OR REPLACE: another process opening the store (the CLI while the server runs) indexes the texts
# this one still holds queued (see _index_unindexed); both derive the same text from the content.
_INSERT_TEXT = "INSERT OR REPLACE INTO blob_text (rowid, headers, body, attachments) VALUES (?, ?, ?, ?)"
_SEPARATE_FIELDS = ("imap_envelope", "imap_body", "imap_bodystructure", "header_text", "body_text")
_MAILBOX_COLUMNS = (
    "id, account_id, name, special_use, subscribed, selectable, uidvalidity, uidnext,"
    " highestmodseq, messages, unseen, size"
)
_ACCOUNT_COLUMNS = (
    "id, address, key, display_name, password_hash, quota, disabled, used, message_quota,"
    " (SELECT coalesce(sum(x.messages), 0) FROM mailboxes x WHERE x.account_id = accounts.id)"
)
_MESSAGE_COLUMNS = (
    "m.mailbox_id, m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.internal_tz, m.save_date, m.size, b.hash"
)


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A message ready to be delivered or appended: hashed, parsed, and durable or about to be.

    `data` holds the bytes of a small new message, which the store writes in the same commit as
    its metadata; large messages are already durable in a file, and known ones in the store.
    """

    hash: str
    size: int
    parsed: ParsedMessage | None  # None when the store already knows this content
    data: bytes | None = None


# Contents missing from the full-text index. FTS5's own table of document sizes has a row per
# indexed document: a scan of the blobs' hash index with one rowid lookup each, 30 ms for 100,000
# messages, where a lookup in blob_text itself costs ten times that.
_UNINDEXED = "SELECT id, hash FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM blob_text_docsize t WHERE t.id = b.id)"


def encode_flags(flags: Iterable[str]) -> tuple[int, str]:
    bits = 0
    keywords = []
    for flag in flags:
        bit = _FLAG_BITS.get(flag.lower())
        if bit is not None:
            bits |= bit
        elif flag and not flag.startswith("\\") and flag not in keywords:
            keywords.append(flag)
    return bits, " ".join(keywords)


def decode_flags(bits: int, keywords: str) -> frozenset[str]:
    flags = {flag for i, flag in enumerate(SYSTEM_FLAGS) if bits & (1 << i)}
    flags.update(keywords.split())
    return frozenset(flags)


def normalize_mailbox_name(name: str) -> str:
    """Check a mailbox name and give INBOX its canonical case (INBOX is case-insensitive)."""
    if not name or name.startswith(DELIMITER) or name.endswith(DELIMITER):
        raise InvalidOperation(f"invalid mailbox name {name!r}")
    parts = name.split(DELIMITER)
    if any(not part or part.strip() != part or any(ord(c) < 32 or ord(c) == 127 for c in part) for part in parts):
        raise InvalidOperation(f"invalid mailbox name {name!r}")
    if len(name.encode()) > 1000:
        raise InvalidOperation("mailbox name too long")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return DELIMITER.join(parts)


def _to_epoch(moment: datetime) -> tuple[int, int]:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta()
    return int(moment.timestamp()), int(offset.total_seconds() // 60)


def _from_epoch(seconds: int, tz_minutes: int = 0) -> datetime:
    return datetime.fromtimestamp(seconds, timezone(timedelta(minutes=tz_minutes)))


class SQLiteStore:
    inline_max = 128 * 1024  # below this, SQLite reads and writes blobs faster than the file system

    def __init__(self, data_dir: Path, *, fsync: bool = True, blob_grace: float = 600.0) -> None:
        self.data_dir = data_dir
        self.db_path = data_dir / "store.db"
        self.blobs = BlobStore(data_dir / "blobs", fsync=fsync)
        self.fsync = fsync
        self.blob_grace = blob_grace
        self.feed = ChangeFeed()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        version = migrate.current_version(self._reader())
        if version < migrate.latest_version():
            self._close_readers()
            raise MigrationRequired(
                f"the store in {data_dir} is at schema version {version}, this release needs "
                f"{migrate.latest_version()}: run `arobase --data {data_dir} migrate`"
            )
        # Texts of stored messages not in the full-text index yet, by blob id: indexing them in the
        # commit that acknowledges a delivery would cost half its page writes (see _index_texts).
        self._texts: dict[int, tuple[str, str, str]] = {}
        self._indexing: dict[int, tuple[str, str, str]] = {}  # taken by an indexing write not committed yet
        self._texts_lock = threading.Lock()
        self._index_submitted = False
        self._text_timer: threading.Timer | None = None
        wal = self.db_path.with_name(self.db_path.name + "-wal") if fsync else None
        self._writer = Writer(self._connect, self.feed.publish, wal=wal)
        if self._reader().execute(_UNINDEXED + " LIMIT 1").fetchone():
            self._write(self._index_unindexed).wait()

    # -- connections -----------------------------------------------------------------------

    @classmethod
    def migrate(cls, data_dir: Path) -> list[int]:
        """Create or upgrade the database schema; returns the versions applied."""
        data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(data_dir / "store.db", isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return migrate.migrate(db)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        # The writer's flusher fsyncs the log itself, once per group of commits (see writer.py).
        db.execute(f"PRAGMA synchronous = {'NORMAL' if self.fsync else 'OFF'}")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA cache_size = -65536")
        db.execute("PRAGMA temp_store = MEMORY")
        return db

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            db.execute("PRAGMA query_only = ON")
            with self._readers_lock:
                self._readers.append(db)
        return db

    def _close_readers(self) -> None:
        with self._readers_lock:
            for db in self._readers:
                db.close()
            self._readers.clear()
        self._local = threading.local()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish queued writes, index the texts still queued, and release the database."""
        with self._texts_lock:
            if self._text_timer is not None:
                self._text_timer.cancel()
        if self._texts:
            with contextlib.suppress(RuntimeError):  # closed already
                self._write(self._index_texts)
        self._writer.close()
        self._close_readers()

    @property
    def writer_stats(self):  # type: ignore[no-untyped-def]
        return self._writer.stats

    def _write(self, run):  # type: ignore[no-untyped-def]
        return self._writer.submit(run)

    # -- domains ---------------------------------------------------------------------------

    def add_domain(self, name: str) -> Pending[Domain]:
        def run(tx: Transaction) -> Domain:
            try:
                cur = tx.db.execute("INSERT INTO domains (name, created) VALUES (?, ?)", (name, int(time.time())))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"domain {name} already exists") from None
            return _domain(cur.lastrowid, name)

        return self._write(run)

    def get_domain(self, name: str) -> Domain | None:
        row = self._reader().execute("SELECT id, name FROM domains WHERE name = ?", (name,)).fetchone()
        return _domain(*row) if row else None

    def list_domains(self) -> list[Domain]:
        rows = self._reader().execute("SELECT id, name FROM domains ORDER BY name").fetchall()
        return [_domain(*row) for row in rows]

    def domain_usage(self, domain_id: int) -> tuple[int, int]:
        """(accounts, aliases) in a domain."""
        db = self._reader()
        accounts = db.execute("SELECT count(*) FROM accounts WHERE domain_id = ?", (domain_id,)).fetchone()[0]
        aliases = db.execute("SELECT count(*) FROM aliases WHERE domain_id = ?", (domain_id,)).fetchone()[0]
        return accounts, aliases

    def remove_domain(self, name: str) -> Pending[None]:
        def run(tx: Transaction) -> None:
            row = tx.db.execute("SELECT id FROM domains WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"no domain {name}")
            used = tx.db.execute(
                "SELECT (SELECT count(*) FROM accounts WHERE domain_id = ?)"
                " + (SELECT count(*) FROM aliases WHERE domain_id = ?)",
                (row[0], row[0]),
            ).fetchone()[0]
            if used:
                raise InvalidOperation(f"domain {name} still has {used} accounts or aliases; remove them first")
            tx.db.execute("DELETE FROM domains WHERE id = ?", (row[0],))

        return self._write(run)

    # -- accounts --------------------------------------------------------------------------

    def add_account(
        self, address: str, key: str, domain: str, password_hash: str, display_name: str = "", quota: int = 0
    ) -> Pending[Account]:
        """Create an account with its standard mailboxes (INBOX, Sent, Drafts, Junk, Trash, Archive)."""

        def run(tx: Transaction) -> Account:
            row = tx.db.execute("SELECT id FROM domains WHERE name = ?", (domain,)).fetchone()
            if row is None:
                raise NotFound(f"no domain {domain}; add it first with `arobase domain add {domain}`")
            if tx.db.execute("SELECT 1 FROM aliases WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"{address} is already an alias")
            try:
                cur = tx.db.execute(
                    "INSERT INTO accounts (domain_id, address, key, display_name, password_hash, quota, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (row[0], address, key, display_name, password_hash, quota, int(time.time())),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"account {address} already exists") from None
            account_id = cur.lastrowid
            assert account_id is not None
            _create_mailbox(tx, account_id, "INBOX", None)
            for name, special_use in SPECIAL_MAILBOXES.items():
                _create_mailbox(tx, account_id, name, special_use)
            return Account(account_id, address, key, display_name, password_hash, quota, False, 0)

        return self._write(run)

    def find_account(self, key: str) -> Account | None:
        row = self._reader().execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE key = ?", (key,)).fetchone()
        return _account(row) if row else None

    def get_account(self, account_id: int) -> Account:
        row = self._reader().execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise NotFound(f"no account {account_id}")
        return _account(row)

    def list_accounts(self, domain: str | None = None) -> list[Account]:
        db = self._reader()
        if domain is None:
            rows = db.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY key").fetchall()
        else:
            rows = db.execute(
                f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE domain_id ="
                " (SELECT id FROM domains WHERE name = ?) ORDER BY key",
                (domain,),
            ).fetchall()
        return [_account(row) for row in rows]

    def update_account(
        self,
        account_id: int,
        *,
        password_hash: str | None = None,
        disabled: bool | None = None,
        quota: int | None = None,
        display_name: str | None = None,
        message_quota: int | None = None,
    ) -> Pending[None]:
        changes = {
            "password_hash": password_hash,
            "disabled": None if disabled is None else int(disabled),
            "quota": quota,
            "display_name": display_name,
            "message_quota": message_quota,
        }
        assignments = {column: value for column, value in changes.items() if value is not None}

        def run(tx: Transaction) -> None:
            sets = ", ".join(f"{column} = ?" for column in assignments)
            cur = tx.db.execute(f"UPDATE accounts SET {sets} WHERE id = ?", (*assignments.values(), account_id))
            if cur.rowcount == 0:
                raise NotFound(f"no account {account_id}")

        return self._write(run)

    def remove_account(self, account_id: int) -> Pending[None]:
        """Remove an account and all its mail (blobs are freed by the next sweep)."""

        def run(tx: Transaction) -> None:
            tx.db.execute(
                "DELETE FROM expunged WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?)",
                (account_id,),
            )
            if tx.db.execute("DELETE FROM accounts WHERE id = ?", (account_id,)).rowcount == 0:
                raise NotFound(f"no account {account_id}")

        return self._write(run)

    # -- aliases ---------------------------------------------------------------------------

    def add_alias(self, source: str, key: str, domain: str, targets: Sequence[str]) -> Pending[Alias]:
        def run(tx: Transaction) -> Alias:
            row = tx.db.execute("SELECT id FROM domains WHERE name = ?", (domain,)).fetchone()
            if row is None:
                raise NotFound(f"no domain {domain}")
            if tx.db.execute("SELECT 1 FROM accounts WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"{source} is already an account")
            try:
                cur = tx.db.execute(
                    "INSERT INTO aliases (domain_id, source, key) VALUES (?, ?, ?)", (row[0], source, key)
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"alias {source} already exists") from None
            tx.db.executemany(
                "INSERT INTO alias_targets (alias_id, position, target) VALUES (?, ?, ?)",
                [(cur.lastrowid, i, target) for i, target in enumerate(targets)],
            )
            assert cur.lastrowid is not None
            return Alias(cur.lastrowid, source, tuple(targets))

        return self._write(run)

    def find_alias(self, key: str) -> Alias | None:
        db = self._reader()
        row = db.execute("SELECT id, source FROM aliases WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        targets = db.execute(
            "SELECT target FROM alias_targets WHERE alias_id = ? ORDER BY position", (row[0],)
        ).fetchall()
        return Alias(row[0], row[1], tuple(t for (t,) in targets))

    def list_aliases(self, domain: str | None = None) -> list[Alias]:
        db = self._reader()
        query = "SELECT a.id, a.source, t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id"
        params: tuple[str, ...] = ()
        if domain is not None:
            query += " WHERE a.domain_id = (SELECT id FROM domains WHERE name = ?)"
            params = (domain,)
        grouped: dict[int, tuple[str, list[str]]] = {}
        for alias_id, source, target in db.execute(query + " ORDER BY a.key, t.position", params):
            grouped.setdefault(alias_id, (source, []))[1].append(target)
        return [Alias(i, source, tuple(targets)) for i, (source, targets) in grouped.items()]

    def remove_alias(self, key: str) -> Pending[None]:
        def run(tx: Transaction) -> None:
            if tx.db.execute("DELETE FROM aliases WHERE key = ?", (key,)).rowcount == 0:
                raise NotFound(f"no alias {key}")

        return self._write(run)

    # -- mailboxes -------------------------------------------------------------------------

    def list_mailboxes(self, account_id: int) -> list[Mailbox]:
        rows = (
            self._reader()
            .execute(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? ORDER BY name", (account_id,))
            .fetchall()
        )
        return [_mailbox(row) for row in rows]

    def get_mailbox(self, account_id: int, name: str) -> Mailbox | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?",
                (account_id, normalize_mailbox_name(name)),
            )
            .fetchone()
        )
        return _mailbox(row) if row else None

    def mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        row = self._reader().execute(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
        return _mailbox(row) if row else None

    def create_mailbox(self, account_id: int, name: str, special_use: str | None = None) -> Pending[Mailbox]:
        """Create a mailbox and any missing parents (`a/b/c` creates `a` and `a/b`)."""
        name = normalize_mailbox_name(name)

        def run(tx: Transaction) -> Mailbox:
            existing = tx.db.execute(
                "SELECT selectable FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, name)
            ).fetchone()
            if existing and existing[0]:
                raise AlreadyExists(f"mailbox {name} already exists")
            parts = name.split(DELIMITER)
            for depth in range(1, len(parts)):
                parent = DELIMITER.join(parts[:depth])
                if not tx.db.execute(
                    "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, parent)
                ).fetchone():
                    _create_mailbox(tx, account_id, parent, None)
            if existing:  # a \Noselect placeholder becomes a real mailbox again
                tx.db.execute(
                    "UPDATE mailboxes SET selectable = 1, special_use = ? WHERE account_id = ? AND name = ?",
                    (special_use, account_id, name),
                )
                row = tx.db.execute(
                    f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?",
                    (account_id, name),
                ).fetchone()
                return _mailbox(row)
            return _create_mailbox(tx, account_id, name, special_use)

        return self._write(run)

    def rename_mailbox(self, account_id: int, old: str, new: str) -> Pending[None]:
        """Rename a mailbox with its children; renaming INBOX moves its messages and leaves it empty."""
        old, new = normalize_mailbox_name(old), normalize_mailbox_name(new)

        def run(tx: Transaction) -> None:
            source = _mailbox_row(tx, account_id, old)
            if tx.db.execute("SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, new)).fetchone():
                raise AlreadyExists(f"mailbox {new} already exists")
            if new.startswith(old + DELIMITER):
                raise InvalidOperation("a mailbox cannot be moved into itself")
            for parent in _parents(new):
                if not tx.db.execute(
                    "SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, parent)
                ).fetchone():
                    _create_mailbox(tx, account_id, parent, None)
            if old == "INBOX":
                target = _create_mailbox(tx, account_id, new, None)
                uids = [uid for (uid,) in tx.db.execute("SELECT uid FROM messages WHERE mailbox_id = ?", (source.id,))]
                _copy(tx, source, uids, target)
                _expunge(tx, source, uids)
                return
            rows = tx.db.execute(
                "SELECT id, name FROM mailboxes WHERE account_id = ? AND (name = ? OR substr(name, 1, ?) = ?)",
                (account_id, old, len(old) + 1, old + DELIMITER),
            ).fetchall()
            modseq = _next_modseq(tx, account_id)
            for mailbox_id, name in rows:
                renamed = new + name[len(old) :]
                tx.db.execute(
                    "UPDATE mailboxes SET name = ?, uidvalidity = ? WHERE id = ?",
                    (renamed, _next_uidvalidity(tx), mailbox_id),
                )
                tx.changes.append(Change(ChangeKind.MAILBOX_RENAMED, account_id, mailbox_id, modseq, name=renamed))

        return self._write(run)

    def delete_mailbox(self, account_id: int, name: str) -> Pending[None]:
        """Delete a mailbox; one with children keeps existing as a \\Noselect placeholder."""
        name = normalize_mailbox_name(name)

        def run(tx: Transaction) -> None:
            if name == "INBOX":
                raise InvalidOperation("INBOX cannot be deleted")
            box = _mailbox_row(tx, account_id, name)
            has_children = tx.db.execute(
                "SELECT 1 FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ? LIMIT 1",
                (account_id, len(name) + 1, name + DELIMITER),
            ).fetchone()
            if has_children and not box.selectable:
                raise InvalidOperation(f"{name} has child mailboxes; delete them first")
            uids = [uid for (uid,) in tx.db.execute("SELECT uid FROM messages WHERE mailbox_id = ?", (box.id,))]
            _expunge(tx, box, uids)
            modseq = _next_modseq(tx, account_id)
            if has_children:
                tx.db.execute("UPDATE mailboxes SET selectable = 0, special_use = NULL WHERE id = ?", (box.id,))
            else:
                tx.db.execute("DELETE FROM expunged WHERE mailbox_id = ?", (box.id,))
                tx.db.execute("DELETE FROM mailboxes WHERE id = ?", (box.id,))
            tx.changes.append(Change(ChangeKind.MAILBOX_DELETED, account_id, box.id, modseq, name=name))

        return self._write(run)

    def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> Pending[None]:
        name = normalize_mailbox_name(name)

        def run(tx: Transaction) -> None:
            box = _mailbox_row(tx, account_id, name)
            tx.db.execute("UPDATE mailboxes SET subscribed = ? WHERE id = ?", (int(subscribed), box.id))
            tx.changes.append(Change(ChangeKind.MAILBOX_SUBSCRIBED, account_id, box.id, box.highestmodseq, name=name))

        return self._write(run)

    # -- messages: writing -----------------------------------------------------------------

    def put_message(self, raw: bytes, parsed: ParsedMessage | None = None) -> StoredBlob:
        """Prepare a message for delivery: hash it, parse it once if new, make large ones durable.

        `parsed` is the caller's parse of `raw` when it has one (SMTP's filters parse before storing).

        Runs in the caller's thread, so concurrent deliveries hash and parse in parallel and only
        the short metadata commit is serialised. Messages up to `inline_max` bytes travel to the
        writer and are stored in its commit: one fsync then covers a whole batch, bytes and
        metadata together, instead of one or two per message.
        """
        digest = BlobStore.digest(raw)
        known = self._reader().execute("SELECT 1 FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if known:
            if not self._has_inline(digest):
                self.blobs.put(raw)  # refreshes the file's age so the sweep keeps away
            return StoredBlob(digest, len(raw), None)
        parsed = parsed or parse_message(raw)
        if len(raw) > self.inline_max:
            self.blobs.put(raw)
            return StoredBlob(digest, len(raw), parsed)
        return StoredBlob(digest, len(raw), parsed, raw)

    def _has_inline(self, digest: str) -> bool:
        return (
            self._reader()
            .execute("SELECT 1 FROM blob_data d JOIN blobs b ON b.id = d.blob_id WHERE b.hash = ?", (digest,))
            .fetchone()
            is not None
        )

    def deliver(
        self,
        blob: StoredBlob,
        targets: Sequence[tuple[int, str]],
        internal_date: datetime | None = None,
        flags: Iterable[str] = (),
        *,
        enforce_quota: bool = True,
        outbound: Sequence[str] = (),
        sender: str = "",
        sender_account: int | None = None,
    ) -> Pending[list[tuple[int, int, int]]]:
        """Add one message to local targets and the outbound queue atomically: all, or none.

        `targets` are (account id, mailbox name); a missing mailbox falls back to INBOX.
        `outbound` are remote recipients queued with the envelope `sender` ('' for the null
        sender). Returns (account id, mailbox id, uid) per target. Raises QuotaExceeded (for
        everyone) if one account would go over its quota.
        """
        bits, keywords = encode_flags(flags)
        when = _to_epoch(internal_date or datetime.now(UTC))

        def run(tx: Transaction) -> list[tuple[int, int, int]]:
            blob_id = self._ensure_blob(tx, blob)
            if enforce_quota:
                for account_id in {account_id for account_id, _ in targets}:
                    _check_quota(tx, account_id, blob.size)
            placed = []
            for account_id, name in targets:
                box = _find_mailbox(tx, account_id, name) or _mailbox_row(tx, account_id, "INBOX")
                uid = _add_message(tx, box, blob_id, blob.size, bits, keywords, when)
                placed.append((account_id, box.id, uid))
            now = int(time.time())
            tx.db.executemany(
                "INSERT INTO outbound (blob_id, sender, recipient, account_id, created, next_attempt)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(blob_id, sender, recipient, sender_account, now, now) for recipient in outbound],
            )
            return placed

        return self._write(run)

    def list_outbound(self) -> list[OutboundEntry]:
        """Every queued remote delivery, oldest first."""
        rows = (
            self._reader()
            .execute(
                "SELECT o.id, b.hash, o.sender, o.recipient, o.account_id, o.created, o.next_attempt, o.attempts,"
                " o.last_error FROM outbound o JOIN blobs b ON b.id = o.blob_id ORDER BY o.id"
            )
            .fetchall()
        )
        return [
            OutboundEntry(i, digest, sender, rcpt, acct, _from_epoch(created), _from_epoch(nxt), attempts, error)
            for i, digest, sender, rcpt, acct, created, nxt, attempts, error in rows
        ]

    # -- outbound queue --------------------------------------------------------------------

    def outbound_entries(self, envelope: int | None = None) -> list[OutboundEntry]:
        """Queued remote deliveries with their queue state, oldest first; one message with `envelope`."""
        query = f"SELECT {_OUTBOUND_COLUMNS} FROM outbound o JOIN blobs b ON b.id = o.blob_id"
        params: tuple[int, ...] = ()
        if envelope is not None:
            query += " WHERE o.envelope = ?"
            params = (envelope,)
        return [_outbound(row) for row in self._reader().execute(query + " ORDER BY o.id", params)]

    def next_outbound_due(self) -> int | None:
        """Unix time of the earliest unclaimed queued delivery, None when the queue is idle."""
        row = self._reader().execute("SELECT min(next_attempt) FROM outbound WHERE claimed = 0").fetchone()
        return None if row[0] is None else int(row[0])

    def claim_outbound(self, now: int, limit: int) -> Pending[list[OutboundEntry]]:
        """Hand due deliveries to a worker: marked claimed in the same commit, so no other worker takes them.

        Whole envelopes are claimed together when they are due together, so recipients of one message
        to one domain travel in one SMTP transaction.
        """

        def run(tx: Transaction) -> list[OutboundEntry]:
            envelopes: list[int] = []
            for (envelope,) in tx.db.execute(  # in due order, through the (claimed, next_attempt) index
                "SELECT envelope FROM outbound WHERE claimed = 0 AND next_attempt <= ? ORDER BY next_attempt",
                (now,),
            ):
                if envelope not in envelopes:
                    envelopes.append(envelope)
                    if len(envelopes) == limit:
                        break
            if not envelopes:
                return []
            marks = ",".join("?" * len(envelopes))
            tx.db.execute(
                f"UPDATE outbound SET claimed = 1 WHERE claimed = 0 AND next_attempt <= ? AND envelope IN ({marks})",
                (now, *envelopes),
            )
            rows = tx.db.execute(
                f"SELECT {_OUTBOUND_COLUMNS} FROM outbound o JOIN blobs b ON b.id = o.blob_id"
                f" WHERE o.claimed AND o.next_attempt <= ? AND o.envelope IN ({marks}) ORDER BY o.id",
                (now, *envelopes),
            ).fetchall()
            return [_outbound(row) for row in rows]

        return self._write(run)

    def release_outbound_claims(self) -> Pending[int]:
        """Forget every claim: run when the server starts, since no worker survives a restart."""
        return self._write(lambda tx: tx.db.execute("UPDATE outbound SET claimed = 0 WHERE claimed").rowcount)

    def finish_outbound(
        self,
        done: Sequence[int] = (),
        deferred: Sequence[tuple[int, int, str, str | None]] = (),
        warned: Sequence[int] = (),
    ) -> Pending[None]:
        """Record one delivery attempt at once: `done` rows leave the queue (delivered or bounced);
        `deferred` are (id, next attempt, error, host) and count one more attempt; `warned` got a delay notice.
        """

        def run(tx: Transaction) -> None:
            tx.db.executemany("DELETE FROM outbound WHERE id = ?", [(i,) for i in done])
            tx.db.executemany(
                "UPDATE outbound SET attempts = attempts + 1, next_attempt = ?, last_error = ?, last_host = ?,"
                " claimed = 0 WHERE id = ?",
                [(when, error, host, i) for i, when, error, host in deferred],
            )
            tx.db.executemany("UPDATE outbound SET delay_warned = 1 WHERE id = ?", [(i,) for i in warned])

        return self._write(run)

    def retry_outbound(self, envelope: int | None = None, *, now: int | None = None) -> Pending[int]:
        """Make one queued message (or all of them) due now; returns the recipients affected."""
        when = int(time.time()) if now is None else now

        def run(tx: Transaction) -> int:
            if envelope is None:
                return tx.db.execute("UPDATE outbound SET next_attempt = ?", (when,)).rowcount
            return tx.db.execute("UPDATE outbound SET next_attempt = ? WHERE envelope = ?", (when, envelope)).rowcount

        return self._write(run)

    def delete_outbound(self, envelope: int) -> Pending[int]:
        """Drop one queued message without notice; returns the recipients removed."""
        return self._write(lambda tx: tx.db.execute("DELETE FROM outbound WHERE envelope = ?", (envelope,)).rowcount)

    # -- DKIM keys -------------------------------------------------------------------------

    def add_dkim_keys(self, domain: str, keys: Sequence[tuple[str, str, str]], *, retire: bool) -> Pending[None]:
        """Store (selector, algorithm, PEM) keys for a domain; `retire` deactivates the domain's older keys."""

        def run(tx: Transaction) -> None:
            if retire:
                tx.db.execute("UPDATE dkim_keys SET active = 0 WHERE domain = ?", (domain,))
            try:
                tx.db.executemany(
                    "INSERT INTO dkim_keys (domain, selector, algorithm, private_key, created) VALUES (?, ?, ?, ?, ?)",
                    [(domain, selector, algorithm, pem, int(time.time())) for selector, algorithm, pem in keys],
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"a DKIM selector of {domain} is already in use") from None

        return self._write(run)

    def dkim_keys(self, domain: str, *, active_only: bool = True) -> list[DKIMKey]:
        """The domain's DKIM keys, newest first."""
        query = "SELECT id, domain, selector, algorithm, private_key, created, active FROM dkim_keys WHERE domain = ?"
        if active_only:
            query += " AND active"
        rows = self._reader().execute(query + " ORDER BY created DESC, id DESC", (domain,)).fetchall()
        return [
            DKIMKey(i, d, sel, alg, pem, _from_epoch(created), bool(active))
            for i, d, sel, alg, pem, created, active in rows
        ]

    def append(
        self,
        account_id: int,
        mailbox: str,
        blob: StoredBlob,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> Pending[tuple[Mailbox, int]]:
        """IMAP APPEND: add a message to one mailbox, which must exist. Returns (mailbox, uid)."""
        name = normalize_mailbox_name(mailbox)
        bits, keywords = encode_flags(flags)
        when = _to_epoch(internal_date or datetime.now(UTC))

        def run(tx: Transaction) -> tuple[Mailbox, int]:
            box = _mailbox_row(tx, account_id, name)
            _check_quota(tx, account_id, blob.size)
            uid = _add_message(tx, box, self._ensure_blob(tx, blob), blob.size, bits, keywords, when)
            return box, uid

        return self._write(run)

    def append_many(
        self,
        account_id: int,
        mailbox: str,
        items: Sequence[tuple[StoredBlob, Iterable[str], datetime | None]],
    ) -> Pending[tuple[Mailbox, list[int]]]:
        """IMAP MULTIAPPEND: add several messages to one mailbox atomically (all, or none).

        `items` are (blob, flags, internal date); returns the mailbox (as before) and the new UIDs.
        """
        name = normalize_mailbox_name(mailbox)
        prepared = [
            (blob, *encode_flags(flags), _to_epoch(internal_date or datetime.now(UTC)))
            for blob, flags, internal_date in items
        ]

        def run(tx: Transaction) -> tuple[Mailbox, list[int]]:
            box = _mailbox_row(tx, account_id, name)
            _check_quota(tx, account_id, sum(blob.size for blob, *_ in prepared), len(prepared))
            uids = [
                _add_message(tx, box, self._ensure_blob(tx, blob), blob.size, bits, keywords, when)
                for blob, bits, keywords, when in prepared
            ]
            return box, uids

        return self._write(run)

    def count_deleted(self, mailbox_id: int) -> int:
        """Messages flagged \\Deleted in a mailbox (IMAP STATUS DELETED)."""
        row = (
            self._reader()
            .execute(
                "SELECT count(*) FROM messages WHERE mailbox_id = ? AND flags & ?",
                (mailbox_id, _FLAG_BITS["\\deleted"]),
            )
            .fetchone()
        )
        return int(row[0])

    def store_flags(
        self, mailbox_id: int, uids: Sequence[int], flags: Iterable[str], mode: str
    ) -> Pending[dict[int, tuple[frozenset[str], int]]]:
        """Add, remove or replace flags ('add' | 'remove' | 'replace').

        Returns {uid: (new flags, modseq)} for messages that exist; unchanged messages keep
        their modseq.
        """
        if mode not in {"add", "remove", "replace"}:
            raise ValueError(mode)
        bits, keywords = encode_flags(flags)
        keyword_set = set(keywords.split())

        def run(tx: Transaction) -> dict[int, tuple[frozenset[str], int]]:
            box = _mailbox_by_id(tx, mailbox_id)
            # keywords are read only where some exist: a mailbox without any skips a third of the read
            with_keywords = _keywords_between(tx, mailbox_id, uids)
            keywords_column = "keywords" if with_keywords else "''"
            rows = _select_uids(tx, f"SELECT uid, flags, {keywords_column}, modseq FROM messages", mailbox_id, uids)
            if keyword_set or (mode == "replace" and with_keywords):
                changed, unseen_delta, modseq, result = _store_keywords(tx, box, rows, bits, keyword_set, mode)
            else:
                changed, unseen_delta, modseq, result = _store_system_flags(tx, box, rows, bits, mode)
            if changed:
                tx.db.execute(
                    "UPDATE mailboxes SET unseen = unseen + ?, highestmodseq = ? WHERE id = ?",
                    (unseen_delta, modseq, mailbox_id),
                )
                tx.changes.append(Change(ChangeKind.FLAGS, box.account_id, mailbox_id, modseq, tuple(changed)))
            return result

        return self._write(run)

    def expunge(self, mailbox_id: int, uids: Sequence[int] | None = None) -> Pending[list[int]]:
        """Remove messages; None means every message flagged \\Deleted. Returns the UIDs removed."""

        def run(tx: Transaction) -> list[int]:
            box = _mailbox_by_id(tx, mailbox_id)
            deleted = _FLAG_BITS["\\deleted"]
            if uids is None:
                targets = [
                    uid
                    for (uid,) in tx.db.execute(
                        "SELECT uid FROM messages WHERE mailbox_id = ? AND flags & ? ORDER BY uid",
                        (mailbox_id, deleted),
                    )
                ]
            else:
                targets = [uid for (uid,) in _select_uids(tx, "SELECT uid FROM messages", mailbox_id, uids)]
            return _expunge(tx, box, targets)

        return self._write(run)

    def copy(
        self, mailbox_id: int, uids: Sequence[int], target_id: int, *, move: bool = False
    ) -> Pending[list[tuple[int, int]]]:
        """Copy (or move) messages to another mailbox of the same account; returns (old uid, new uid)."""

        def run(tx: Transaction) -> list[tuple[int, int]]:
            source, target = _mailbox_by_id(tx, mailbox_id), _mailbox_by_id(tx, target_id)
            if not target.selectable:
                raise InvalidOperation(f"{target.name} cannot hold messages")
            existing = [uid for (uid,) in _select_uids(tx, "SELECT uid FROM messages", mailbox_id, uids)]
            pairs = _copy(tx, source, existing, target)
            if move:
                _expunge(tx, source, existing)
            return pairs

        return self._write(run)

    def _ensure_blob(self, tx: Transaction, blob: StoredBlob) -> int:
        row = tx.db.execute("SELECT id FROM blobs WHERE hash = ?", (blob.hash,)).fetchone()
        if row:
            return int(row[0])
        if blob.data is None and not self.blobs.exists(blob.hash):
            raise NotFound(f"message content {blob.hash} is no longer stored; deliver its bytes again")
        parsed = blob.parsed or parse_message(blob.data or self.blobs.get(blob.hash))
        first_from = parsed.from_[0] if parsed.from_ else None
        sender = f"{first_from.mailbox}@{first_from.host}" if first_from and first_from.host else ""
        record = parsed.to_record()
        for column in _SEPARATE_FIELDS:  # kept in their own columns, or in the full-text index
            record[column] = ""
        cur = tx.db.execute(
            "INSERT INTO blobs (hash, size, parsed, imap_envelope, imap_body, imap_bodystructure, sent_date,"
            " subject, base_subject, sender, message_id, in_reply_to, refs, preview, has_attachments)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                blob.hash,
                blob.size,
                json.dumps(record, separators=(",", ":")),
                parsed.imap_envelope,
                parsed.imap_body,
                parsed.imap_bodystructure,
                int(parsed.date.timestamp()) if parsed.date else None,
                parsed.subject,
                parsed.base_subject,
                sender,
                parsed.message_id,
                parsed.in_reply_to,
                " ".join(parsed.references),
                parsed.preview,
                int(parsed.has_attachments),
            ),
        )
        if blob.data is not None:
            tx.db.execute("INSERT INTO blob_data (blob_id, data) VALUES (?, ?)", (cur.lastrowid, blob.data))
        assert cur.lastrowid is not None
        self._queue_text(tx, cur.lastrowid, (parsed.header_text, parsed.body_text, "\n".join(parsed.attachment_names)))
        return cur.lastrowid

    # -- full-text index -------------------------------------------------------------------

    def _queue_text(self, tx: Transaction, blob_id: int, text: tuple[str, str, str]) -> None:
        """Have a new message's text indexed soon, in a batch, unless its write is rolled back."""
        with self._texts_lock:
            self._texts[blob_id] = text
            queued = len(self._texts)
            self._arm_text_timer()

        def settle(committed: bool) -> None:
            if not committed:
                with self._texts_lock:
                    if self._texts.get(blob_id) is text:
                        del self._texts[blob_id]

        tx.after(settle)
        if queued >= TEXT_BATCH:
            self._submit_index()

    def _arm_text_timer(self) -> None:
        """With the lock held and texts queued: make sure they are indexed within `TEXT_DELAY`."""
        if self._text_timer is None:
            timer = self._text_timer = threading.Timer(TEXT_DELAY, lambda: self._text_timer_fired(timer))
            timer.daemon = True
            timer.start()

    def _text_timer_fired(self, timer: threading.Timer) -> None:
        with self._texts_lock:
            if self._text_timer is timer:
                self._text_timer = None
        self._submit_index()

    def _submit_index(self) -> None:
        """Queue an indexing write, unless one is queued already."""
        with self._texts_lock:
            if self._index_submitted or not self._texts:
                return
            self._index_submitted = True
        with contextlib.suppress(RuntimeError):  # the store was closed: what it left is indexed at the next open
            self._write(self._index_texts)

    def _index_texts(self, tx: Transaction) -> None:
        """Index every queued text: one transaction writes one FTS5 segment for the whole batch."""
        with self._texts_lock:
            texts, self._texts = self._texts, {}
            self._indexing = texts
            self._index_submitted = False
            timer, self._text_timer = self._text_timer, None
        if timer is not None:
            timer.cancel()
        if not texts:
            return

        def settle(committed: bool) -> None:
            with self._texts_lock:
                if not committed:  # queued again, and retried later; newer texts of the same ids win
                    texts.update(self._texts)
                    self._texts = texts
                    self._arm_text_timer()
                self._indexing = {}

        tx.after(settle)
        tx.db.executemany(_INSERT_TEXT, [(blob_id, *text) for blob_id, text in texts.items()])

    def _text_ready(self) -> None:
        """Index what is queued before a read of blob_text: every stored message must be found.

        Costs two length checks when nothing is queued. Texts are queued before their write
        commits, so waiting for an indexing write also waits for those commits.
        """
        if self._texts or self._indexing:
            self._write(self._index_texts).wait()

    def _index_unindexed(self, tx: Transaction) -> None:
        """Index the messages whose queued text a crash lost, parsing their content again."""
        rows = []
        for blob_id, digest in tx.db.execute(_UNINDEXED).fetchall():
            if blob_id in self._texts or blob_id in self._indexing:
                continue
            row = tx.db.execute("SELECT data FROM blob_data WHERE blob_id = ?", (blob_id,)).fetchone()
            try:
                data = bytes(row[0]) if row else self.blobs.get(digest)
            except FileNotFoundError:
                continue  # reported by check()
            parsed = parse_message(data)
            rows.append((blob_id, parsed.header_text, parsed.body_text, "\n".join(parsed.attachment_names)))
        tx.db.executemany(_INSERT_TEXT, rows)

    # -- messages: reading -----------------------------------------------------------------

    def list_messages(self, mailbox_id: int) -> list[Message]:
        rows = (
            self._reader()
            .execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages m JOIN blobs b ON b.id = m.blob_id"
                " WHERE m.mailbox_id = ? ORDER BY m.uid",
                (mailbox_id,),
            )
            .fetchall()
        )
        return [_message(row) for row in rows]

    def get_message(self, mailbox_id: int, uid: int) -> Message | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages m JOIN blobs b ON b.id = m.blob_id"
                " WHERE m.mailbox_id = ? AND m.uid = ?",
                (mailbox_id, uid),
            )
            .fetchone()
        )
        return _message(row) if row else None

    def uids(self, mailbox_id: int) -> list[int]:
        return [
            uid
            for (uid,) in self._reader().execute(
                "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)
            )
        ]

    def read_blob(self, digest: str) -> bytes:
        row = (
            self._reader()
            .execute("SELECT d.data FROM blob_data d JOIN blobs b ON b.id = d.blob_id WHERE b.hash = ?", (digest,))
            .fetchone()
        )
        return bytes(row[0]) if row else self.blobs.get(digest)

    def message_bytes(self, mailbox_id: int, uid: int) -> bytes | None:
        """A message's content, or None if it is not in the mailbox (any more): POP3 RETR in one query."""
        row = (
            self._reader()
            .execute(
                "SELECT b.hash, d.data FROM messages m JOIN blobs b ON b.id = m.blob_id"
                " LEFT JOIN blob_data d ON d.blob_id = m.blob_id WHERE m.mailbox_id = ? AND m.uid = ?",
                (mailbox_id, uid),
            )
            .fetchone()
        )
        if row is None:
            return None
        return bytes(row[1]) if row[1] is not None else self.blobs.get(row[0])

    def parsed(self, digest: str) -> ParsedMessage:
        """Everything computed from a message at ingest, without reparsing it."""
        self._text_ready()
        row = (
            self._reader()
            .execute(
                "SELECT b.parsed, b.imap_envelope, b.imap_body, b.imap_bodystructure, t.headers, t.body"
                " FROM blobs b JOIN blob_text t ON t.rowid = b.id WHERE b.hash = ?",
                (digest,),
            )
            .fetchone()
        )
        if row is None:
            raise NotFound(f"no message content {digest}")
        record = json.loads(row[0])
        record["imap_envelope"], record["imap_body"], record["imap_bodystructure"] = (
            bytes(row[1]).decode("latin-1"),
            bytes(row[2]).decode("latin-1"),
            bytes(row[3]).decode("latin-1"),
        )
        record["header_text"], record["body_text"] = row[4], row[5]
        return ParsedMessage.from_record(record)

    def search_text(self, mailbox_id: int, text: str, field: str = "text") -> list[int]:
        """UIDs whose headers/body/attachment names contain `text` (case-insensitive substring).

        `field` is 'text' (everything), 'body' or 'headers'. Strings shorter than three
        characters cannot use the trigram index and are matched by a scan of the same columns.
        """
        columns = {"text": "blob_text", "body": "body", "headers": "headers"}[field]
        self._text_ready()
        db = self._reader()
        if len(text) >= 3:
            quoted = '"' + text.replace('"', '""') + '"'
            match = quoted if columns == "blob_text" else f"{columns} : {quoted}"
            query = (
                "SELECT m.uid FROM messages m WHERE m.mailbox_id = ? AND m.blob_id IN"
                " (SELECT rowid FROM blob_text WHERE blob_text MATCH ?) ORDER BY m.uid"
            )
            return [uid for (uid,) in db.execute(query, (mailbox_id, match))]
        haystack = {
            "text": "t.headers || ' ' || t.body || ' ' || t.attachments",
            "body": "t.body",
            "headers": "t.headers",
        }[field]
        query = (
            "SELECT m.uid FROM messages m JOIN blob_text t ON t.rowid = m.blob_id"
            f" WHERE m.mailbox_id = ? AND instr(lower({haystack}), lower(?)) > 0 ORDER BY m.uid"
        )
        return [uid for (uid,) in db.execute(query, (mailbox_id, text))]

    # -- maintenance -----------------------------------------------------------------------

    def sweep(self) -> Pending[int]:
        """Forget message contents nothing refers to any more; returns how many were removed.

        Files younger than the grace period are left alone: their delivery may not have
        committed yet. Expunge tombstones beyond the last `TOMBSTONES_KEPT` of a mailbox go too.
        """
        grace = self.blob_grace

        def run(tx: Transaction) -> int:
            _prune_tombstones(tx, TOMBSTONES_KEPT)
            self._index_texts(tx)  # so that the texts of removed contents go with them
            unused = (
                "SELECT id FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = b.id)"
                " AND NOT EXISTS (SELECT 1 FROM outbound WHERE blob_id = b.id)"
            )
            tx.db.execute(f"DELETE FROM blob_text WHERE rowid IN ({unused})")
            tx.db.execute(f"DELETE FROM blob_data WHERE blob_id IN ({unused})")
            removed = tx.db.execute(f"DELETE FROM blobs WHERE id IN ({unused})").rowcount
            for digest in self.blobs.scan(older_than=time.time() - grace):
                if not tx.db.execute("SELECT 1 FROM blobs WHERE hash = ?", (digest,)).fetchone():
                    self.blobs.remove(digest)
                    removed += 1
            return removed

        return self._write(run)

    def check(self, *, verify_blobs: bool = True) -> list[str]:
        """Consistency problems found in the store, in words; an empty list means healthy."""
        db = self._reader()
        problems = []
        db.execute("BEGIN")
        try:
            for (problem,) in db.execute("PRAGMA integrity_check"):
                if problem != "ok":
                    problems.append(f"database: {problem}")
            if verify_blobs:
                for digest, size, inline in db.execute(
                    "SELECT b.hash, b.size, d.data FROM blobs b LEFT JOIN blob_data d ON d.blob_id = b.id"
                ):
                    try:
                        data = bytes(inline) if inline is not None else self.blobs.get(digest)
                    except FileNotFoundError:
                        problems.append(f"blob {digest}: file missing")
                        continue
                    if BlobStore.digest(data) != digest or len(data) != size:
                        problems.append(f"blob {digest}: content does not match its hash")
            for name, account, uidnext, max_uid, hms, max_modseq in db.execute(
                "SELECT x.name, a.address, x.uidnext, max(m.uid), x.highestmodseq, max(m.modseq)"
                " FROM mailboxes x JOIN accounts a ON a.id = x.account_id"
                " LEFT JOIN messages m ON m.mailbox_id = x.id GROUP BY x.id"
            ):
                if max_uid is not None and uidnext <= max_uid:
                    problems.append(f"{account} {name}: UIDNEXT {uidnext} is not above the highest UID {max_uid}")
                if max_modseq is not None and hms < max_modseq:
                    problems.append(f"{account} {name}: HIGHESTMODSEQ {hms} is below a message's {max_modseq}")
            for name, account, count, unseen, size, real_count, real_unseen, real_size in db.execute(
                "SELECT x.name, a.address, x.messages, x.unseen, x.size, count(m.uid),"
                " coalesce(sum(m.flags & ? = 0), 0), coalesce(sum(m.size), 0)"
                " FROM mailboxes x JOIN accounts a ON a.id = x.account_id"
                " LEFT JOIN messages m ON m.mailbox_id = x.id GROUP BY x.id",
                (_SEEN,),
            ):
                if (count, unseen, size) != (real_count, real_unseen, real_size):
                    problems.append(
                        f"{account} {name}: counters say {count} messages/{unseen} unseen/{size} bytes,"
                        f" contents are {real_count}/{real_unseen}/{real_size}"
                    )
            for address, used, real_used, modseq, max_modseq in db.execute(
                "SELECT a.address, a.used, coalesce(sum(x.size), 0), a.modseq, max(x.highestmodseq)"
                " FROM accounts a LEFT JOIN mailboxes x ON x.account_id = a.id GROUP BY a.id"
            ):
                if used != real_used:
                    problems.append(f"{address}: quota usage says {used} bytes, mailboxes hold {real_used}")
                if max_modseq is not None and modseq < max_modseq:
                    problems.append(f"{address}: modseq counter {modseq} is below a mailbox's {max_modseq}")
        finally:
            db.execute("COMMIT")
        return problems

    # -- protection (filters) --------------------------------------------------------------

    def filter_totals(self, account_ids: Sequence[int]) -> tuple[int, int]:
        """(spam, ham) messages learnt by the models of `account_ids`, summed."""
        owners = ",".join(str(int(a)) for a in account_ids) or "0"
        row = (
            self._reader()
            .execute(
                "SELECT coalesce(sum(spam), 0), coalesce(sum(ham), 0) FROM filter_totals"
                f" WHERE account_id IN ({owners})"
            )
            .fetchone()
        )
        return int(row[0]), int(row[1])

    def filter_model_counts(
        self, account_ids: Sequence[int], tokens: Sequence[int]
    ) -> tuple[dict[int, tuple[int, int]], dict[int, dict[int, tuple[int, int]]]]:
        """Per model of `account_ids` (0 = global): its (spam, ham) totals, and its counts of `tokens`.

        One read transaction, one token query per 900 tokens for every model at once: scoring a
        message for several recipients costs the same round trips as scoring it for one.
        """
        db = self._reader()
        owners = ",".join(str(int(a)) for a in dict.fromkeys(account_ids)) or "0"
        unique = list(dict.fromkeys(tokens))
        counts: dict[int, dict[int, tuple[int, int]]] = {int(a): {} for a in account_ids}
        db.execute("BEGIN")
        try:
            totals = {
                int(a): (int(spam), int(ham))
                for a, spam, ham in db.execute(
                    f"SELECT account_id, spam, ham FROM filter_totals WHERE account_id IN ({owners})"
                )
            }
            # Models that learnt nothing hold no counts: their index is not searched.
            owners = ",".join(str(a) for a, (spam, ham) in totals.items() if spam or ham)
            for start in range(0, len(unique) if owners else 0, 900):
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                for owner, token, spam, ham in db.execute(
                    f"SELECT account_id, token, spam, ham FROM filter_tokens WHERE account_id IN ({owners})"
                    f" AND token IN ({marks})",
                    chunk,
                ):
                    counts[owner][token] = (spam, ham)
        finally:
            db.execute("COMMIT")
        return totals, counts

    def training_state(
        self, account_id: int, mailbox_id: int, uids: Sequence[int]
    ) -> list[tuple[str, bool | None, str | None]]:
        """For messages just added to a mailbox: (content hash, how it was learnt, the pipeline's action).

        The learning thread sees every added message: one query per change instead of three per
        message keeps it from competing with the APPENDs and deliveries it watches.
        """
        wanted = sorted(set(uids))
        if not wanted:
            return []
        rows = (
            self._reader()
            .execute(
                "SELECT m.uid, b.hash, t.is_spam, v.action FROM messages m JOIN blobs b ON b.id = m.blob_id"
                " LEFT JOIN filter_trained t ON t.account_id = ? AND t.digest = b.hash"
                " LEFT JOIN filter_verdicts v ON v.account_id = ? AND v.digest = b.hash"
                " WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid",
                (account_id, account_id, mailbox_id, wanted[0], wanted[-1]),
            )
            .fetchall()
        )
        keep = set(wanted)
        return [
            (digest, None if spam is None else bool(spam), action) for uid, digest, spam, action in rows if uid in keep
        ]

    def filter_trained(self, account_id: int, digest: str) -> bool | None:
        """How a message was learnt by one model: True spam, False ham, None not at all."""
        row = (
            self._reader()
            .execute("SELECT is_spam FROM filter_trained WHERE account_id = ? AND digest = ?", (account_id, digest))
            .fetchone()
        )
        return None if row is None else bool(row[0])

    def filter_learn(self, account_id: int, digest: str, tokens: Sequence[int], is_spam: bool) -> Pending[str]:
        """Count a message's tokens once in one model; returns 'learnt', 'moved' (was the other way) or 'known'."""
        unique = list(dict.fromkeys(tokens))

        def run(tx: Transaction) -> str:
            row = tx.db.execute(
                "SELECT is_spam FROM filter_trained WHERE account_id = ? AND digest = ?", (account_id, digest)
            ).fetchone()
            if row is not None and bool(row[0]) == is_spam:
                return "known"
            new, old = ("spam", "ham") if is_spam else ("ham", "spam")
            tx.db.execute("INSERT OR IGNORE INTO filter_totals (account_id) VALUES (?)", (account_id,))
            if row is not None:
                tx.db.executemany(
                    f"UPDATE filter_tokens SET {old} = max({old} - 1, 0) WHERE account_id = ? AND token = ?",
                    [(account_id, token) for token in unique],
                )
                tx.db.execute(f"UPDATE filter_totals SET {old} = max({old} - 1, 0) WHERE account_id = ?", (account_id,))
            tx.db.executemany(
                f"INSERT INTO filter_tokens (account_id, token, {new}) VALUES (?, ?, 1)"
                f" ON CONFLICT (account_id, token) DO UPDATE SET {new} = {new} + 1",
                [(account_id, token) for token in unique],
            )
            tx.db.execute(f"UPDATE filter_totals SET {new} = {new} + 1 WHERE account_id = ?", (account_id,))
            tx.db.execute(
                "INSERT OR REPLACE INTO filter_trained (account_id, digest, is_spam, trained) VALUES (?, ?, ?, ?)",
                (account_id, digest, int(is_spam), int(time.time())),
            )
            return "learnt" if row is None else "moved"

        return self._write(run)

    def filter_weights(self, account_ids: Sequence[int], tokens: Sequence[int]) -> dict[int, dict[int, float]]:
        """Per model of `account_ids` (0 = global): the logistic model's weights of `tokens` (absent = 0)."""
        db = self._reader()
        owners = ",".join(str(int(a)) for a in dict.fromkeys(account_ids)) or "0"
        unique = list(dict.fromkeys(tokens))
        weights: dict[int, dict[int, float]] = {int(a): {} for a in account_ids}
        db.execute("BEGIN")
        try:
            for start in range(0, len(unique), 900):
                chunk = unique[start : start + 900]
                for owner, token, weight in db.execute(
                    f"SELECT account_id, token, weight FROM filter_weights WHERE account_id IN ({owners})"
                    f" AND token IN ({','.join('?' * len(chunk))})",
                    chunk,
                ):
                    weights[owner][token] = weight
        finally:
            db.execute("COMMIT")
        return weights

    def filter_most_seen(self, account_id: int, limit: int) -> list[tuple[int, int, int]]:
        """One model's `limit` most often seen tokens, as (token, spam, ham): the rarest weigh least."""
        return self._model_rows("filter_tokens", "token, spam, ham", account_id, "spam + ham", limit)

    def filter_strongest_weights(self, account_id: int, limit: int) -> list[tuple[int, float]]:
        """One model's `limit` largest logistic weights (by size), as (token, weight): the rest count as 0."""
        return self._model_rows("filter_weights", "token, weight", account_id, "abs(weight)", limit)

    def _model_rows(self, table: str, columns: str, account_id: int, rank: str, limit: int) -> list[tuple[Any, ...]]:
        """One model's rows of `table`; only when there are more than `limit` the first by `rank` (sorting costs)."""
        db = self._reader()
        db.execute("BEGIN")
        try:
            (count,) = db.execute(f"SELECT count(*) FROM {table} WHERE account_id = ?", (account_id,)).fetchone()
            order = f" ORDER BY {rank} DESC LIMIT {int(limit)}" if count > limit else ""
            return db.execute(f"SELECT {columns} FROM {table} WHERE account_id = ?{order}", (account_id,)).fetchall()
        finally:
            db.execute("COMMIT")

    def filter_adjust_weights(self, account_id: int, deltas: dict[int, float]) -> Pending[None]:
        """Add `deltas` to one model's logistic weights (the learner computed them from what it read)."""

        def run(tx: Transaction) -> None:
            tx.db.executemany(
                "INSERT INTO filter_weights (account_id, token, weight) VALUES (?, ?, ?)"
                " ON CONFLICT (account_id, token) DO UPDATE SET weight = weight + excluded.weight",
                [(account_id, token, delta) for token, delta in deltas.items() if delta],
            )

        return self._write(run)

    def filter_list_set(self, account_id: int, entry: str, kind: str | None) -> Pending[bool]:
        """Put an address or domain on the account's 'allow' or 'block' list, or remove it (kind None)."""

        def run(tx: Transaction) -> bool:
            if kind is None:
                cur = tx.db.execute("DELETE FROM filter_lists WHERE account_id = ? AND entry = ?", (account_id, entry))
                return cur.rowcount > 0
            tx.db.execute(
                "INSERT OR REPLACE INTO filter_lists (account_id, entry, kind, created) VALUES (?, ?, ?, ?)",
                (account_id, entry, kind, int(time.time())),
            )
            return True

        return self._write(run)

    def filter_lists(self, account_id: int) -> dict[str, str]:
        """{entry: 'allow' | 'block'} for one account."""
        return dict(
            self._reader().execute(
                "SELECT entry, kind FROM filter_lists WHERE account_id = ? ORDER BY entry", (account_id,)
            )
        )

    def add_correspondents(self, account_id: int, addresses: Sequence[str]) -> Pending[None]:
        """Remember addresses the account wrote to (lower case)."""
        now = int(time.time())

        def run(tx: Transaction) -> None:
            tx.db.executemany(
                "INSERT INTO filter_correspondents (account_id, address, last) VALUES (?, ?, ?)"
                " ON CONFLICT (account_id, address) DO UPDATE SET messages = messages + 1, last = excluded.last",
                [(account_id, address, now) for address in dict.fromkeys(addresses)],
            )

        return self._write(run)

    def correspondent_messages(self, account_id: int, address: str) -> int:
        """How many messages the account sent to `address` (lower case); 0 for a stranger."""
        row = (
            self._reader()
            .execute(
                "SELECT messages FROM filter_correspondents WHERE account_id = ? AND address = ?",
                (account_id, address),
            )
            .fetchone()
        )
        return int(row[0]) if row else 0

    def record_verdicts(self, rows: Sequence[FilterVerdict]) -> Pending[None]:
        """Keep what the pipeline decided for delivered messages (one row per account and blob)."""

        def run(tx: Transaction) -> None:
            tx.db.executemany(
                "INSERT OR REPLACE INTO filter_verdicts (account_id, digest, action, score, reasons, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (v.account_id, v.digest, v.action, v.score, json.dumps(list(v.reasons)), _to_epoch(v.created)[0])
                    for v in rows
                ],
            )

        return self._write(run)

    def get_verdict(self, account_id: int, digest: str) -> FilterVerdict | None:
        """Why a message is where it is: the pipeline's action, score and reasons."""
        row = (
            self._reader()
            .execute(
                "SELECT account_id, digest, action, score, reasons, created FROM filter_verdicts"
                " WHERE account_id = ? AND digest = ?",
                (account_id, digest),
            )
            .fetchone()
        )
        if row is None:
            return None
        reasons = tuple(tuple(r) if isinstance(r, list) else r for r in json.loads(row[4]))
        return FilterVerdict(row[0], row[1], row[2], float(row[3]), reasons, _from_epoch(row[5]))

    def quarantine_add(
        self, account_ids: Sequence[int], data: bytes, digest: str, sender: str, subject: str, reasons: Sequence[str]
    ) -> Pending[list[int]]:
        """Hold the original of a message whose attachments were taken out; one entry per account."""
        now = int(time.time())

        def run(tx: Transaction) -> list[int]:
            ids = []
            for account_id in account_ids:
                cur = tx.db.execute(
                    "INSERT INTO quarantine (account_id, digest, sender, subject, reasons, created, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (account_id, digest, sender, subject, json.dumps(list(reasons)), now, data),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
            return ids

        return self._write(run)

    def quarantine_list(self, account_id: int | None = None) -> list[QuarantineEntry]:
        """Quarantined originals, newest first; all accounts unless one is given."""
        where, params = ("WHERE account_id = ?", (account_id,)) if account_id is not None else ("", ())
        rows = self._reader().execute(
            "SELECT id, account_id, digest, sender, subject, reasons, created, released, length(data)"
            f" FROM quarantine {where} ORDER BY id DESC",
            params,
        )
        return [_quarantine(row) for row in rows]

    def quarantine_get(self, entry_id: int) -> tuple[QuarantineEntry, bytes] | None:
        """One quarantine entry and the original message bytes."""
        row = (
            self._reader()
            .execute(
                "SELECT id, account_id, digest, sender, subject, reasons, created, released, length(data), data"
                " FROM quarantine WHERE id = ?",
                (entry_id,),
            )
            .fetchone()
        )
        return (_quarantine(row[:9]), bytes(row[9])) if row else None

    def quarantine_released(self, entry_id: int) -> Pending[None]:
        def run(tx: Transaction) -> None:
            tx.db.execute("UPDATE quarantine SET released = ? WHERE id = ?", (int(time.time()), entry_id))

        return self._write(run)

    def quarantine_delete(self, entry_id: int) -> Pending[bool]:
        def run(tx: Transaction) -> bool:
            return tx.db.execute("DELETE FROM quarantine WHERE id = ?", (entry_id,)).rowcount > 0

        return self._write(run)


# -- helpers run inside the writer -----------------------------------------------------------


def _next_modseq(tx: Transaction, account_id: int) -> int:
    return int(
        tx.db.execute(
            "UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq", (account_id,)
        ).fetchone()[0]
    )


def _check_quota(tx: Transaction, account_id: int, size: int, messages: int = 1) -> None:
    row = tx.db.execute(
        "SELECT address, quota, used, message_quota FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no account {account_id}")
    address, quota, used, message_quota = row
    if quota and used + size > quota:
        raise QuotaExceeded(f"{address} is over its quota")
    if message_quota:
        (count,) = tx.db.execute(
            "SELECT coalesce(sum(messages), 0) FROM mailboxes WHERE account_id = ?", (account_id,)
        ).fetchone()
        if count + messages > message_quota:
            raise QuotaExceeded(f"{address} holds its {message_quota} messages already")


def _next_uidvalidity(tx: Transaction) -> int:
    """Time-based and strictly increasing, so a recreated mailbox never reuses a UIDVALIDITY."""
    row = tx.db.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").fetchone()
    value = max(int(time.time()) & 0xFFFFFFFF, (row[0] + 1) if row else 1)
    tx.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?)", (value,))
    return value


def _create_mailbox(tx: Transaction, account_id: int, name: str, special_use: str | None) -> Mailbox:
    modseq = _next_modseq(tx, account_id)
    row = tx.db.execute(
        "INSERT INTO mailboxes (account_id, name, special_use, uidvalidity, highestmodseq) VALUES (?, ?, ?, ?, ?)"
        f" RETURNING {_MAILBOX_COLUMNS}",
        (account_id, name, special_use, _next_uidvalidity(tx), modseq),
    ).fetchone()
    box = _mailbox(row)
    tx.changes.append(Change(ChangeKind.MAILBOX_CREATED, account_id, box.id, modseq, name=name))
    return box


def _find_mailbox(tx: Transaction, account_id: int, name: str) -> Mailbox | None:
    row = tx.db.execute(
        f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ? AND selectable",
        (account_id, normalize_mailbox_name(name)),
    ).fetchone()
    return _mailbox(row) if row else None


def _mailbox_row(tx: Transaction, account_id: int, name: str) -> Mailbox:
    row = tx.db.execute(
        f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, name)
    ).fetchone()
    if row is None:
        raise NotFound(f"no mailbox {name}")
    return _mailbox(row)


def _mailbox_by_id(tx: Transaction, mailbox_id: int) -> Mailbox:
    row = tx.db.execute(f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
    if row is None:
        raise NotFound("the mailbox no longer exists")
    return _mailbox(row)


def _add_message(
    tx: Transaction, box: Mailbox, blob_id: int, size: int, bits: int, keywords: str, when: tuple[int, int]
) -> int:
    if not box.selectable:
        raise InvalidOperation(f"{box.name} cannot hold messages")
    modseq = _next_modseq(tx, box.account_id)
    uid = int(
        tx.db.execute(
            "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = ?, messages = messages + 1,"
            " unseen = unseen + ?, size = size + ? WHERE id = ? RETURNING uidnext - 1",
            (modseq, 0 if bits & _SEEN else 1, size, box.id),
        ).fetchone()[0]
    )
    tx.db.execute(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, internal_tz, save_date,"
        " blob_id, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (box.id, uid, modseq, bits, keywords, when[0], when[1], int(time.time()), blob_id, size),
    )
    tx.db.execute("UPDATE accounts SET used = used + ? WHERE id = ?", (size, box.account_id))
    tx.changes.append(Change(ChangeKind.ADDED, box.account_id, box.id, modseq, (uid,)))
    return uid


def _copy(tx: Transaction, source: Mailbox, uids: list[int], target: Mailbox) -> list[tuple[int, int]]:
    pairs = []
    rows = _select_uids(
        tx,
        "SELECT uid, blob_id, size, flags, keywords, internal_date, internal_tz FROM messages",
        source.id,
        uids,
    )
    for uid, blob_id, size, bits, keywords, date, tz in rows:
        pairs.append((uid, _add_message(tx, target, blob_id, size, bits, keywords, (date, tz))))
    return pairs


def _expunge(tx: Transaction, box: Mailbox, uids: list[int]) -> list[int]:
    if not uids:
        return []
    modseq = _next_modseq(tx, box.account_id)
    count = unseen = size = 0
    for _uid, msg_size, bits in _select_uids(tx, "SELECT uid, size, flags FROM messages", box.id, uids):
        count += 1
        unseen += not bits & _SEEN
        size += msg_size
    tx.db.executemany("DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", [(box.id, uid) for uid in uids])
    tx.db.executemany(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
        [(box.id, uid, modseq) for uid in uids],
    )
    tx.db.execute(
        "UPDATE mailboxes SET messages = messages - ?, unseen = unseen - ?, size = size - ?, highestmodseq = ?"
        " WHERE id = ?",
        (count, unseen, size, modseq, box.id),
    )
    tx.db.execute("UPDATE accounts SET used = used - ? WHERE id = ?", (size, box.account_id))
    tx.changes.append(Change(ChangeKind.EXPUNGED, box.account_id, box.id, modseq, tuple(uids)))
    return list(uids)


def _prune_tombstones(tx: Transaction, kept: int) -> None:
    """Keep the newest `kept` tombstones of each mailbox (whole modseqs), raising its expunged floor.

    A QRESYNC client whose modseq is below the floor is told every UID it may know that is gone
    (imap/commands/select.py), so forgetting old tombstones costs bytes, never correctness.
    """
    crowded = tx.db.execute(
        "SELECT mailbox_id FROM expunged GROUP BY mailbox_id HAVING count(*) > ?", (kept,)
    ).fetchall()
    for (mailbox_id,) in crowded:
        (cutoff,) = tx.db.execute(
            "SELECT modseq FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?",
            (mailbox_id, kept),
        ).fetchone()
        tx.db.execute("DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", (mailbox_id, cutoff))
        tx.db.execute("UPDATE mailboxes SET expunged_floor = max(expunged_floor, ?) WHERE id = ?", (cutoff, mailbox_id))


def _select_uids(tx: Transaction, select: str, mailbox_id: int, uids: Sequence[int]) -> list[tuple]:
    """Rows of `select` for the given UIDs of a mailbox, in UID order, without a huge IN list."""
    wanted = sorted(set(uids))
    if not wanted:
        return []
    rows = tx.db.execute(
        f"{select} WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid", (mailbox_id, wanted[0], wanted[-1])
    ).fetchall()
    if wanted[-1] - wanted[0] + 1 == len(wanted):  # every UID of the range is wanted (STORE 1:*)
        return rows
    wanted_set = set(wanted)
    return [row for row in rows if row[0] in wanted_set]


_Flagged = dict[int, tuple[frozenset[str], int]]


def _keywords_between(tx: Transaction, mailbox_id: int, uids: Sequence[int]) -> bool:
    """Does any message between the lowest and highest of `uids` have keywords? (a FLAGS replace must drop them)"""
    if not uids:
        return False
    row = tx.db.execute(
        "SELECT 1 FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND keywords != '' LIMIT 1",
        (mailbox_id, min(uids), max(uids)),
    ).fetchone()
    return row is not None


def _store_system_flags(
    tx: Transaction, box: Mailbox, rows: list[tuple], bits: int, mode: str
) -> tuple[list[int], int, int, _Flagged]:
    """STORE of system flags only: one set-based UPDATE per run of target UIDs, not one per message.

    The rows (read in this transaction) say which messages change; the UPDATE's own condition
    picks exactly those, so \\Seen on 100k messages is one statement instead of 100k. A mailbox
    has few distinct flag sets, so the per-message work is done once per set.
    """
    if mode == "add":
        update, condition = "flags = flags | ?1", "flags & ?1 != ?1"
    elif mode == "remove":
        update, condition = "flags = flags & ~?1", "flags & ?1 != 0"
    else:  # replace, with no keywords before or after
        update, condition = "flags = ?1", "flags != ?1"
    counts = Counter(map(itemgetter(1, 2), rows))  # (flag bits, keywords) -> messages
    new_bits = {key: key[0] | bits if mode == "add" else key[0] & ~bits if mode == "remove" else bits for key in counts}
    decoded = {key: decode_flags(new, key[1]) for key, new in new_bits.items()}
    changing = {key for key, new in new_bits.items() if new != key[0]}
    if not changing:
        return [], 0, 0, {uid: (decoded[old, kw], msg_modseq) for uid, old, kw, msg_modseq in rows}
    modseq = _next_modseq(tx, box.account_id)
    tx.db.executemany(
        f"UPDATE messages SET {update}, modseq = ?2 WHERE mailbox_id = ?3 AND uid BETWEEN ?4 AND ?5 AND {condition}",
        [(bits, modseq, box.id, first, last) for first, last in _runs([row[0] for row in rows])],
    )
    unseen_delta = sum(n * (bool(key[0] & _SEEN) - bool(new_bits[key] & _SEEN)) for key, n in counts.items())
    changed_value = {key: (decoded[key], modseq) for key in changing}  # one tuple shared per flag set
    result = {uid: changed_value.get((old, kw)) or (decoded[old, kw], msg_modseq) for uid, old, kw, msg_modseq in rows}
    changed = [uid for uid, old, kw, _ in rows if (old, kw) in changing]
    return changed, unseen_delta, modseq, result


def _store_keywords(
    tx: Transaction, box: Mailbox, rows: list[tuple], bits: int, keyword_set: set[str], mode: str
) -> tuple[list[int], int, int, _Flagged]:
    """STORE touching keywords: each message's keyword list is rewritten from Python."""
    result: _Flagged = {}
    changed: list[int] = []
    modseq = 0
    unseen_delta = 0
    for uid, old_bits, old_keywords, msg_modseq in rows:
        old_set = set(old_keywords.split())
        if mode == "add":
            new_bits, new_set = old_bits | bits, old_set | keyword_set
        elif mode == "remove":
            new_bits, new_set = old_bits & ~bits, old_set - keyword_set
        else:
            new_bits, new_set = bits, keyword_set
        if new_bits == old_bits and new_set == old_set:
            result[uid] = (decode_flags(old_bits, old_keywords), msg_modseq)
            continue
        if not modseq:
            modseq = _next_modseq(tx, box.account_id)
        new_keywords = " ".join(sorted(new_set))
        tx.db.execute(
            "UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
            (new_bits, new_keywords, modseq, box.id, uid),
        )
        unseen_delta += bool(old_bits & _SEEN) - bool(new_bits & _SEEN)
        result[uid] = (decode_flags(new_bits, new_keywords), modseq)
        changed.append(uid)
    return changed, unseen_delta, modseq, result


def _runs(uids: list[int]) -> list[tuple[int, int]]:
    """Ascending UIDs as (first, last) runs of consecutive numbers."""
    if uids[-1] - uids[0] + 1 == len(uids):
        return [(uids[0], uids[-1])]
    runs: list[tuple[int, int]] = []
    first = last = uids[0]
    for uid in uids[1:]:
        if uid != last + 1:
            runs.append((first, last))
            first = uid
        last = uid
    runs.append((first, last))
    return runs


def _parents(name: str) -> list[str]:
    parts = name.split(DELIMITER)
    return [DELIMITER.join(parts[:depth]) for depth in range(1, len(parts))]


def _domain(domain_id: int | None, name: str) -> Domain:
    assert domain_id is not None
    return Domain(domain_id, name, domain_display(name))


def _account(row: tuple) -> Account:
    account_id, address, key, display_name, password_hash, quota, disabled, used, message_quota, messages = row
    return Account(
        account_id, address, key, display_name, password_hash, quota, bool(disabled), used, message_quota, messages
    )


def _mailbox(row: tuple) -> Mailbox:
    (
        mailbox_id,
        account_id,
        name,
        special_use,
        subscribed,
        selectable,
        uidvalidity,
        uidnext,
        highestmodseq,
        messages,
        unseen,
        size,
    ) = row
    return Mailbox(
        mailbox_id,
        account_id,
        name,
        special_use,
        bool(subscribed),
        bool(selectable),
        uidvalidity,
        uidnext,
        highestmodseq,
        messages,
        unseen,
        size,
    )


_OUTBOUND_COLUMNS = (
    "o.id, b.hash, o.sender, o.recipient, o.account_id, o.created, o.next_attempt, o.attempts, o.last_error,"
    " o.envelope, o.claimed, o.delay_warned, o.last_host"
)


def _outbound(row: tuple) -> OutboundEntry:
    i, digest, sender, rcpt, acct, created, nxt, attempts, error, envelope, claimed, warned, host = row
    return OutboundEntry(
        i,
        digest,
        sender,
        rcpt,
        acct,
        _from_epoch(created),
        _from_epoch(nxt),
        attempts,
        error,
        envelope if envelope is not None else i,
        bool(claimed),
        bool(warned),
        host,
    )


def _message(row: tuple) -> Message:
    mailbox_id, uid, modseq, bits, keywords, date, tz, save_date, size, digest = row
    return Message(
        mailbox_id,
        uid,
        modseq,
        decode_flags(bits, keywords),
        _from_epoch(date, tz),
        _from_epoch(save_date),
        size,
        digest,
    )


def _quarantine(row: tuple) -> QuarantineEntry:
    return QuarantineEntry(
        id=row[0],
        account_id=row[1],
        digest=row[2],
        sender=row[3],
        subject=row[4],
        reasons=tuple(json.loads(row[5])),
        created=_from_epoch(row[6]),
        released=_from_epoch(row[7]) if row[7] is not None else None,
        size=int(row[8]),
    )
