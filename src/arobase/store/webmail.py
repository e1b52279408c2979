"""Read queries and address-book writes for the webmail, kept beside the rest of the store's SQL.

The webmail lists pages of messages with what a list shows (sender name, subject, preview), groups
conversations across folders and searches with filters; IMAP needs none of this, so these queries
live here rather than in the protocol-neutral core of sqlite.py.
"""

from __future__ import annotations

import json
import sqlite3
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
    # The page's keys come off the (mailbox_id, internal_date, uid) index alone; only those rows
    # are joined to their blobs, instead of every message of the folder before the sort.
    rows = (
        store._reader()
        .execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM (SELECT uid FROM messages WHERE mailbox_id = ?"
            "  ORDER BY internal_date DESC, uid DESC LIMIT ? OFFSET ?) p"
            " JOIN messages m ON m.mailbox_id = ? AND m.uid = p.uid JOIN blobs b ON b.id = m.blob_id"
            " ORDER BY m.internal_date DESC, m.uid DESC",
            (mailbox_id, limit, offset, mailbox_id),
        )
        .fetchall()
    )
    return [_summary(row) for row in rows]


def arrived_after(store: SQLiteStore, mailbox_id: int, uid: int, limit: int = 50) -> list[MessageSummary]:
    """Messages of a mailbox with a UID above `uid` (new since a list was shown), newest first."""
    rows = (
        store._reader()
        .execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM} WHERE m.mailbox_id = ? AND m.uid > ? ORDER BY m.uid DESC LIMIT ?",
            (mailbox_id, uid, limit),
        )
        .fetchall()
    )
    return sorted((_summary(row) for row in rows), key=lambda s: (s.internal_date, s.uid), reverse=True)


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
        # From the linked contents (both columns indexed) to their messages; starting from the
        # account's mailboxes instead would read every message it has.
        rows = db.execute(
            f"SELECT {_SUMMARY_COLUMNS} {_FROM} JOIN mailboxes x ON x.id = m.mailbox_id"
            f" WHERE m.blob_id IN (SELECT id FROM blobs WHERE message_id IN ({marks})"
            f"  UNION SELECT id FROM blobs WHERE in_reply_to IN ({marks})) AND x.account_id = ? LIMIT ?",
            (*ids, *ids, account_id, limit),
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
_CHUNK = 900  # full-text matches read per step, newest first (and bound parameters per statement)
_MAX_STREAMED = 20_000  # matches read that way before falling back to one exact query
_MAX_LATE = 40  # messages newer than the streamed part but with older content, checked one by one


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
    """The newest `limit` messages of the account matching `text` in `field` and the filters.

    Text of three characters or more goes through the trigram full-text index (the one IMAP
    SEARCH uses; From/To/Subject use its headers column, then check the listed columns). A
    common word matches most of a 100,000-message account, and reading every match before
    sorting costs far more than the 200 ms target, so matches are read newest content first,
    a chunk at a time, until `limit` messages are found (see `_fts_newest`). Searches without
    such text walk each folder newest first on the (mailbox_id, internal_date, uid) index and
    stop at `limit`.
    """
    if field not in SEARCH_FIELDS:
        raise ValueError(field)
    store._text_ready()
    db = store._reader()
    if mailbox_id is not None:
        boxes = [mailbox_id] if _owned(db, account_id, mailbox_id) else []
    else:
        boxes = [row[0] for row in db.execute("SELECT id FROM mailboxes WHERE account_id = ?", (account_id,))]
    if not boxes:
        return []
    where: list[str] = []
    params: list[object] = []
    match: str | None = None
    text = text.strip()
    if text:
        quoted = '"' + text.replace('"', '""') + '"'
        if field in ("all", "body", "attachments"):
            if len(text) >= 3:
                match = quoted if field == "all" else f"{field} : {quoted}"
            else:
                haystack = {
                    "all": "t.headers || ' ' || t.body || ' ' || t.attachments",
                    "body": "t.body",
                    "attachments": "t.attachments",
                }[field]
                where.append(
                    "EXISTS (SELECT 1 FROM blob_text t WHERE t.rowid = m.blob_id"
                    f" AND instr(lower({haystack}), lower(?)) > 0)"
                )
                params.append(text)
        else:
            if len(text) >= 3:
                match = f"headers : {quoted}"  # a superset; the columns below decide
            haystack = {
                "from": f"b.sender || ' ' || {_addresses('from_')}",
                "to": f"{_addresses('to')} || ' ' || {_addresses('cc')}",
                "subject": "b.subject",
            }[field]
            where.append(f"instr(lower({haystack}), lower(?)) > 0")
            params.append(text)
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
    condition = " AND ".join(where) or "1"
    if match is None:
        keys = _newest(db, boxes, condition, params, limit)
    else:
        keys = _fts_newest(db, boxes, match, condition, params, limit)
    return _by_keys(db, keys)


def _addresses(key: str) -> str:
    """SQL for the names and addresses of one address list of the parsed message, as plain text.

    json_extract of the whole list would give JSON text, where "Zoé" is spelt "Zo\\u00e9".
    """
    return (
        "coalesce((SELECT group_concat(coalesce(json_extract(a.value, '$[0]'), '') || ' '"
        " || coalesce(json_extract(a.value, '$[1]'), '') || '@' || coalesce(json_extract(a.value, '$[2]'), ''), ' ')"
        f" FROM json_each(b.parsed, '$.{key}') a), '')"
    )


def _owned(db: sqlite3.Connection, account_id: int, mailbox_id: int) -> bool:
    return bool(
        db.execute("SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ?", (mailbox_id, account_id)).fetchone()
    )


_Key = tuple[int, int, int]  # (internal_date, uid, mailbox_id): sorts newest first when reversed


def _newest(db: sqlite3.Connection, boxes: list[int], condition: str, params: list[object], limit: int) -> list[_Key]:
    """Each folder walked newest first on its arrival index, stopping at `limit` matches; merged."""
    found: list[_Key] = []
    for box in boxes:
        found += db.execute(
            "SELECT m.internal_date, m.uid, m.mailbox_id FROM messages m JOIN blobs b ON b.id = m.blob_id"
            f" WHERE m.mailbox_id = ? AND {condition} ORDER BY m.internal_date DESC, m.uid DESC LIMIT ?",
            (box, *params, limit),
        ).fetchall()
    return sorted(found, reverse=True)[:limit]


def _fts_newest(
    db: sqlite3.Connection, boxes: list[int], match: str, condition: str, params: list[object], limit: int
) -> list[_Key]:
    """The newest `limit` messages whose content matches `match`, without reading every match.

    Content rows (blob ids) are stored in arrival order, so the full-text index is read from the
    highest id down, a chunk at a time, and each chunk mapped to the account's messages, until
    `limit` are found. Arrival order is almost always date order, but not quite (a copy keeps its
    date, identical content is stored once), so the result is then made exact: any message at
    least as new as the `limit`-th found whose content lies in the part not read yet is checked
    on its own. When too many such messages exist, or the account holds few of the matches, one
    exact query over every match is used instead.
    """
    execute = db.execute
    in_boxes = f"m.mailbox_id IN ({','.join(str(int(b)) for b in boxes)})"
    found: dict[tuple[int, int], _Key] = {}
    lowest: int | None = None
    streamed = 0
    exhausted = False
    while len(found) < limit:
        ids = [
            row[0]
            for row in execute(
                "SELECT rowid FROM blob_text WHERE blob_text MATCH ?"
                + (" AND rowid < ?" if lowest is not None else "")
                + " ORDER BY rowid DESC LIMIT ?",
                (match, *([lowest] if lowest is not None else []), _CHUNK),
            )
        ]
        if ids:
            lowest = ids[-1]
            streamed += len(ids)
            marks = ",".join("?" * len(ids))
            for key in execute(
                "SELECT m.internal_date, m.uid, m.mailbox_id FROM messages m JOIN blobs b ON b.id = m.blob_id"
                f" WHERE m.blob_id IN ({marks}) AND {in_boxes} AND {condition}",
                (*ids, *params),
            ):
                found[(key[2], key[1])] = key
        if len(ids) < _CHUNK:
            exhausted = True
            break
        if streamed >= _MAX_STREAMED and len(found) < limit:
            return _fts_exact(db, in_boxes, match, condition, params, limit)
    ranked = sorted(found.values(), reverse=True)
    if exhausted or lowest is None:
        return ranked[:limit]
    threshold = ranked[limit - 1][0]
    late = execute(
        "SELECT m.internal_date, m.uid, m.mailbox_id, m.blob_id FROM messages m JOIN blobs b ON b.id = m.blob_id"
        f" WHERE {in_boxes} AND m.internal_date >= ? AND m.blob_id < ? AND {condition} LIMIT ?",
        (threshold, lowest, *params, _MAX_LATE + 1),
    ).fetchall()
    if len(late) > _MAX_LATE:
        return _fts_exact(db, in_boxes, match, condition, params, limit)
    for date, uid, box, blob_id in late:
        if execute("SELECT 1 FROM blob_text WHERE blob_text MATCH ? AND rowid = ?", (match, blob_id)).fetchone():
            found[(box, uid)] = (date, uid, box)
    return sorted(found.values(), reverse=True)[:limit]


def _fts_exact(
    db: sqlite3.Connection, in_boxes: str, match: str, condition: str, params: list[object], limit: int
) -> list[_Key]:
    return db.execute(
        "SELECT m.internal_date, m.uid, m.mailbox_id FROM messages m JOIN blobs b ON b.id = m.blob_id"
        f" WHERE {in_boxes} AND m.blob_id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH ?) AND {condition}"
        " ORDER BY m.internal_date DESC, m.uid DESC LIMIT ?",
        (match, *params, limit),
    ).fetchall()


def _by_keys(db: sqlite3.Connection, keys: list[_Key]) -> list[MessageSummary]:
    """The list lines of `keys`, in that order: the costly columns are read for these rows only."""
    if not keys:
        return []
    rows: dict[tuple[int, int], MessageSummary] = {}
    by_box: dict[int, list[int]] = {}
    for _, uid, box in keys:
        by_box.setdefault(box, []).append(uid)
    for box, uids in by_box.items():
        for start in range(0, len(uids), _CHUNK):
            chunk = uids[start : start + _CHUNK]
            for row in db.execute(
                f"SELECT {_SUMMARY_COLUMNS} {_FROM} WHERE m.mailbox_id = ? AND m.uid IN ({','.join('?' * len(chunk))})",
                (box, *chunk),
            ):
                rows[(row[0], row[1])] = _summary(row)
    return [rows[(box, uid)] for _, uid, box in keys if (box, uid) in rows]


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


# -- writing: signature and recipient suggestions ------------------------------------------------


def signature(store: SQLiteStore, account_id: int) -> str:
    """The account's webmail signature ("" when none)."""
    row = store._reader().execute("SELECT signature FROM web_prefs WHERE account_id = ?", (account_id,)).fetchone()
    return str(row[0]) if row else ""


def save_signature(store: SQLiteStore, account_id: int, text: str) -> Pending[None]:
    def run(tx: Transaction) -> None:
        tx.db.execute(
            "INSERT INTO web_prefs (account_id, signature) VALUES (?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET signature = excluded.signature",
            (account_id, text),
        )

    return store._write(run)


def correspondents(store: SQLiteStore, account_id: int, query: str, limit: int = 10) -> list[str]:
    """Addresses the account wrote to that contain `query`, most written-to first.

    The protection pipeline keeps this list (filter_correspondents) for its "known sender"
    signal; the webmail reads it for autocomplete and adds to it when it sends.
    """
    rows = store._reader().execute(
        "SELECT address FROM filter_correspondents WHERE account_id = ? AND instr(address, lower(?)) > 0"
        " ORDER BY messages DESC, last DESC LIMIT ?",
        (account_id, query, limit),
    )
    return [row[0] for row in rows]


def recent_senders(store: SQLiteStore, mailbox_id: int, query: str, limit: int = 10, window: int = 2000) -> list[str]:
    """People who wrote to a mailbox lately ("Name <address>"), matching `query`, newest first.

    Only the newest `window` messages are looked at, so a 100,000-message INBOX costs the same
    as a small one.
    """
    rows = store._reader().execute(
        "SELECT b.sender, json_extract(b.parsed, '$.from_[0][0]') FROM (SELECT uid FROM messages"
        "  WHERE mailbox_id = ? ORDER BY internal_date DESC, uid DESC LIMIT ?) p"
        " JOIN messages m ON m.mailbox_id = ? AND m.uid = p.uid JOIN blobs b ON b.id = m.blob_id"
        " WHERE b.sender != '' AND (instr(lower(b.sender), lower(?)) > 0"
        "  OR instr(lower(coalesce(json_extract(b.parsed, '$.from_[0][0]'), '')), lower(?)) > 0)"
        " ORDER BY m.internal_date DESC",
        (mailbox_id, window, mailbox_id, query, query),
    )
    found: dict[str, str] = {}
    for address, name in rows:
        key = address.lower()
        if key not in found:
            found[key] = f'"{name}" <{address}>' if name else address
        if len(found) >= limit:
            break
    return list(found.values())


# -- remote images: senders trusted by the reader ------------------------------------------------


def image_senders(store: SQLiteStore, account_id: int) -> list[str]:
    """Senders whose remote images the account always shows, alphabetically."""
    rows = store._reader().execute(
        "SELECT sender FROM web_image_senders WHERE account_id = ? ORDER BY sender", (account_id,)
    )
    return [str(row[0]) for row in rows]


def shows_images_from(store: SQLiteStore, account_id: int, sender: str) -> bool:
    row = store._reader().execute(
        "SELECT 1 FROM web_image_senders WHERE account_id = ? AND sender = ?", (account_id, sender.strip().lower())
    )
    return row.fetchone() is not None


def allow_images_from(store: SQLiteStore, account_id: int, sender: str) -> Pending[None]:
    """Remember "always show images" for a From address (kept lower-cased: addresses arrive in any case)."""

    def run(tx: Transaction) -> None:
        tx.db.execute(
            "INSERT OR IGNORE INTO web_image_senders (account_id, sender, added) VALUES (?, ?, ?)",
            (account_id, sender.strip().lower(), int(time.time())),
        )

    return store._write(run)


def forget_image_senders(store: SQLiteStore, account_id: int, senders: Sequence[str]) -> Pending[None]:
    def run(tx: Transaction) -> None:
        tx.db.executemany(
            "DELETE FROM web_image_senders WHERE account_id = ? AND sender = ?",
            [(account_id, s.strip().lower()) for s in senders],
        )

    return store._write(run)
