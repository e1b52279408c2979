"""Read queries and address-book writes for the webmail, kept beside the rest of the store's SQL.

The webmail lists pages of messages with what a list shows (sender name, subject, preview), groups
conversations across folders and searches with filters; IMAP needs none of this, so these queries
live here rather than in the protocol-neutral core of sqlite.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .errors import NotFound
from .sqlite import SQLiteStore, _from_epoch, decode_flags
from .writer import Pending, Transaction

_SEEN = 1 << 0
_FLAGGED = 1 << 2
_SUMMARY_COLUMNS = (
    "m.mailbox_id, m.uid, m.flags, m.keywords, m.internal_date, m.internal_tz, m.size, b.hash, b.subject,"
    " b.sender, json_extract(b.parsed, '$.from_[0][0]'), json_extract(b.parsed, '$.to'), b.preview,"
    " b.has_attachments, b.message_id, b.in_reply_to, b.refs"
)
_FROM = "FROM messages m JOIN blobs b ON b.id = m.blob_id"


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One line of a message list: enough to show it without reading or parsing the message."""

    mailbox_id: int
    uid: int
    flags: frozenset[str]
    internal_date: datetime
    size: int
    blob: str
    subject: str
    sender: str  # address
    sender_name: str
    to: tuple[str, ...]  # "Name <address>" or the bare address
    preview: str
    has_attachments: bool
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    account_id: int
    name: str
    email: str
    phone: str
    notes: str


def _summary(row: tuple) -> MessageSummary:
    to = []
    for name, mailbox, host in json.loads(row[11] or "[]"):
        if host is None:
            continue
        address = f"{mailbox or ''}@{host}" if host else mailbox or ""
        to.append(f"{name} <{address}>" if name else address)
    return MessageSummary(
        mailbox_id=row[0],
        uid=row[1],
        flags=decode_flags(row[2], row[3]),
        internal_date=_from_epoch(row[4], row[5]),
        size=row[6],
        blob=row[7],
        subject=row[8] or "",
        sender=row[9] or "",
        sender_name=row[10] or "",
        to=tuple(to),
        preview=row[12] or "",
        has_attachments=bool(row[13]),
        message_id=row[14],
        in_reply_to=row[15],
        references=tuple((row[16] or "").split()),
    )


def message_page(store: SQLiteStore, mailbox_id: int, offset: int, limit: int) -> list[MessageSummary]:
    """A page of a mailbox, newest first (by arrival, then UID)."""
    rows = (
        store._reader()
        .execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM} WHERE m.mailbox_id = ?"
            " ORDER BY m.internal_date DESC, m.uid DESC LIMIT ? OFFSET ?",
            (mailbox_id, limit, offset),
        )
        .fetchall()
    )
    return [_summary(row) for row in rows]


def summaries(store: SQLiteStore, mailbox_id: int, uids: Sequence[int]) -> list[MessageSummary]:
    """The list lines of some messages of one mailbox (missing UIDs are left out)."""
    found: list[MessageSummary] = []
    db = store._reader()
    unique = list(dict.fromkeys(int(uid) for uid in uids))
    for start in range(0, len(unique), 900):
        chunk = unique[start : start + 900]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM} WHERE m.mailbox_id = ? AND m.uid IN ({marks})", (mailbox_id, *chunk)
        ).fetchall()
        found += [_summary(row) for row in rows]
    return found


def conversation(store: SQLiteStore, account_id: int, seed: MessageSummary, limit: int = 200) -> list[MessageSummary]:
    """Messages of the account linked to `seed` by Message-ID, In-Reply-To or References, oldest first.

    Follows the links a few rounds, in every mailbox (our replies sit in Sent), so a reply to a
    reply joins too; copies of one message in several mailboxes all appear.
    """
    ids = {i for i in (seed.message_id, seed.in_reply_to, *seed.references) if i}
    found: dict[tuple[int, int], MessageSummary] = {(seed.mailbox_id, seed.uid): seed}
    db = store._reader()
    for _ in range(4):
        if not ids:
            break
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM} JOIN mailboxes x ON x.id = m.mailbox_id"
            f" WHERE x.account_id = ? AND (b.message_id IN ({marks}) OR b.in_reply_to IN ({marks})) LIMIT ?",
            (account_id, *ids, *ids, limit),
        ).fetchall()
        grown = set(ids)
        for row in rows:
            summary = _summary(row)
            found[(summary.mailbox_id, summary.uid)] = summary
            grown.update(i for i in (summary.message_id, summary.in_reply_to, *summary.references) if i)
        if grown == ids:
            break
        ids = set(list(grown)[:900])
    return sorted(found.values(), key=lambda s: (s.internal_date, s.mailbox_id, s.uid))


SEARCH_FIELDS = ("all", "from", "to", "subject", "body", "attachments")


def search(
    store: SQLiteStore,
    account_id: int,
    text: str,
    *,
    field: str = "all",
    mailbox_id: int | None = None,
    since: int | None = None,
    until: int | None = None,
    unread: bool = False,
    flagged: bool = False,
    attachments: bool = False,
    limit: int = 200,
) -> list[MessageSummary]:
    """Messages of the account matching `text` in `field` and the filters, newest first.

    Text goes through the trigram full-text index when it is three characters or more (the
    same index IMAP SEARCH uses); From/To/Subject are matched on the listed columns.
    """
    if field not in SEARCH_FIELDS:
        raise ValueError(field)
    where = ["x.account_id = ?"]
    params: list[object] = [account_id]
    text = text.strip()
    if text:
        if field in ("all", "body", "attachments"):
            column = {"all": None, "body": "body", "attachments": "attachments"}[field]
            if len(text) >= 3:
                quoted = '"' + text.replace('"', '""') + '"'
                where.append("m.blob_id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH ?)")
                params.append(f"{column} : {quoted}" if column else quoted)
            else:
                haystack = {
                    "all": "t.headers || ' ' || t.body || ' ' || t.attachments",
                    "body": "t.body",
                    "attachments": "t.attachments",
                }[field]
                where.append(
                    f"m.blob_id IN (SELECT t.rowid FROM blob_text t WHERE instr(lower({haystack}), lower(?)) > 0)"
                )
                params.append(text)
        else:
            haystack = {
                "from": "b.sender || ' ' || coalesce(json_extract(b.parsed, '$.from_'), '')",
                "to": "coalesce(json_extract(b.parsed, '$.to'), '') || coalesce(json_extract(b.parsed, '$.cc'), '')",
                "subject": "b.subject",
            }[field]
            where.append(f"instr(lower({haystack}), lower(?)) > 0")
            params.append(text)
    if mailbox_id is not None:
        where.append("m.mailbox_id = ?")
        params.append(mailbox_id)
    if since is not None:
        where.append("m.internal_date >= ?")
        params.append(since)
    if until is not None:
        where.append("m.internal_date < ?")
        params.append(until)
    if unread:
        where.append(f"NOT (m.flags & {_SEEN})")
    if flagged:
        where.append(f"m.flags & {_FLAGGED}")
    if attachments:
        where.append("b.has_attachments")
    rows = (
        store._reader()
        .execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM} JOIN mailboxes x ON x.id = m.mailbox_id"
            f" WHERE {' AND '.join(where)} ORDER BY m.internal_date DESC, m.uid DESC LIMIT ?",
            (*params, limit),
        )
        .fetchall()
    )
    return [_summary(row) for row in rows]


# -- address book ------------------------------------------------------------------------------

_CONTACT_COLUMNS = "id, account_id, name, email, phone, notes"


def list_contacts(store: SQLiteStore, account_id: int, query: str = "", limit: int = 1000) -> list[Contact]:
    """Contacts sorted by name; `query` keeps those whose name or address contains it."""
    sql = f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE account_id = ?"
    params: list[object] = [account_id]
    if query:
        sql += " AND (instr(lower(name), lower(?)) > 0 OR instr(lower(email), lower(?)) > 0)"
        params += [query, query]
    sql += " ORDER BY lower(coalesce(nullif(name, ''), email)) LIMIT ?"
    return [Contact(*row) for row in store._reader().execute(sql, (*params, limit))]


def get_contact(store: SQLiteStore, account_id: int, contact_id: int) -> Contact | None:
    row = (
        store._reader()
        .execute(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE account_id = ? AND id = ?", (account_id, contact_id))
        .fetchone()
    )
    return Contact(*row) if row else None


def save_contacts(
    store: SQLiteStore, account_id: int, entries: Sequence[tuple[int | None, str, str, str, str]]
) -> Pending[list[int]]:
    """Add or update contacts (id None adds): (id, name, email, phone, notes). Returns their ids."""

    def run(tx: Transaction) -> list[int]:
        ids = []
        for contact_id, name, email, phone, notes in entries:
            if contact_id is None:
                cur = tx.db.execute(
                    "INSERT INTO contacts (account_id, name, email, phone, notes, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (account_id, name, email, phone, notes, int(time.time())),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
            else:
                updated = tx.db.execute(
                    "UPDATE contacts SET name = ?, email = ?, phone = ?, notes = ? WHERE id = ? AND account_id = ?",
                    (name, email, phone, notes, contact_id, account_id),
                ).rowcount
                if not updated:
                    raise NotFound(f"no contact {contact_id}")
                ids.append(contact_id)
        return ids

    return store._write(run)


def delete_contacts(store: SQLiteStore, account_id: int, contact_ids: Sequence[int]) -> Pending[int]:
    def run(tx: Transaction) -> int:
        return sum(
            tx.db.execute("DELETE FROM contacts WHERE id = ? AND account_id = ?", (int(i), account_id)).rowcount
            for i in contact_ids
        )

    return store._write(run)
