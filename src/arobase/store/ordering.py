"""Read queries behind IMAP SORT and THREAD (RFC 5256, RFC 5957): keys from what ingest stored.

Sorting happens in SQLite wherever the key is a column or a plain expression over the blobs row
(dates, sizes, base subjects, first address mailboxes): one query returns the UIDs in order, so
a 100k-message SORT never builds Python objects per message beyond one int. Display-name keys
(DISPLAYFROM/DISPLAYTO) need Unicode case folding, which SQLite's lower() lacks: those rows are
read with their raw keys and sorted in Python. THREAD reads the threading columns of the whole
set once.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

from .sqlite import SQLiteStore

_IN_LIST_MAX = 400


def _address_mailbox(field: str) -> str:
    """The first address's local part, ASCII-lowercased (RFC 5256: i;ascii-casemap of addr-mailbox)."""
    return f"lower(coalesce(json_extract(b.parsed, '$.{field}[0][1]'), ''))"


SQL_KEYS: dict[str, str] = {
    "ARRIVAL": "m.internal_date",
    "DATE": "coalesce(b.sent_date, m.internal_date)",  # no usable Date: -> the internal date
    "SIZE": "m.size",
    "SUBJECT": "lower(b.base_subject)",
    # the sender column ("mailbox@host", kept at ingest) spares parsing the JSON record, when set
    "FROM": "CASE WHEN b.sender != '' THEN lower(substr(b.sender, 1, instr(b.sender, '@') - 1)) ELSE "
    + _address_mailbox("from_")
    + " END",
    "TO": _address_mailbox("to"),
    "CC": _address_mailbox("cc"),
}
DISPLAY_KEYS: dict[str, str] = {"DISPLAYFROM": "from_", "DISPLAYTO": "to"}


def display_key(first_address: str | None) -> str:
    """RFC 5957: the first address's display name, else its addr-spec, Unicode case-folded (i;unicode-casemap)."""
    if not first_address:
        return ""
    name, mailbox, host = json.loads(first_address)
    text = name or (f"{mailbox}@{host}" if host else mailbox or "")
    return unicodedata.normalize("NFKD", text.casefold())


def _where(uids: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    if len(uids) <= _IN_LIST_MAX:
        return f" AND m.uid IN ({','.join('?' * len(uids))})", tuple(uids)
    return " AND m.uid BETWEEN ? AND ?", (uids[0], uids[-1])


def sorted_uids(
    store: SQLiteStore, mailbox_id: int, uids: Sequence[int], criteria: Sequence[tuple[str, bool]]
) -> list[int]:
    """`uids` (ascending) ordered by `criteria`, (key, reverse) pairs; ties by UID, as RFC 5256 asks."""
    if not uids:
        return []
    where, args = _where(uids)
    wanted = None if len(uids) <= _IN_LIST_MAX else set(uids)
    db = store._reader()
    if all(key in SQL_KEYS for key, _ in criteria):
        order = ", ".join(SQL_KEYS[key] + (" DESC" if reverse else "") for key, reverse in criteria)
        needs_blob = any(key not in ("ARRIVAL", "SIZE") for key, _ in criteria)
        join = " JOIN blobs b ON b.id = m.blob_id" if needs_blob else ""
        cur = db.execute(
            f"SELECT m.uid FROM messages m{join} WHERE m.mailbox_id = ?{where} ORDER BY {order}, m.uid",
            (mailbox_id, *args),
        )
        return [uid for (uid,) in cur if wanted is None or uid in wanted]
    columns = [
        f"json_extract(b.parsed, '$.{DISPLAY_KEYS[key]}[0]')" if key in DISPLAY_KEYS else SQL_KEYS[key]
        for key, _ in criteria
    ]
    cur = db.execute(
        f"SELECT m.uid, {', '.join(columns)} FROM messages m JOIN blobs b ON b.id = m.blob_id"
        f" WHERE m.mailbox_id = ?{where} ORDER BY m.uid",
        (mailbox_id, *args),
    )
    rows = [row for row in cur if wanted is None or row[0] in wanted]
    if any(key in DISPLAY_KEYS for key, _ in criteria):
        spots = [i + 1 for i, (key, _) in enumerate(criteria) if key in DISPLAY_KEYS]
        rows = [tuple(display_key(v) if i in spots else v for i, v in enumerate(row)) for row in rows]
    for position in range(len(criteria), 0, -1):  # stable sorts, last criterion first
        rows.sort(key=lambda row: row[position], reverse=criteria[position - 1][1])
    return [row[0] for row in rows]


class ThreadRow(NamedTuple):
    """What threading needs of one message, as stored at ingest (a tuple: 100k are built per THREAD)."""

    uid: int
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    base_subject: str
    date: int  # the Date: header, or the internal date when there is none (unix seconds)


def thread_rows(store: SQLiteStore, mailbox_id: int, uids: Sequence[int]) -> list[ThreadRow]:
    """The threading columns of `uids` (ascending), in UID order."""
    if not uids:
        return []
    where, args = _where(uids)
    wanted = None if len(uids) <= _IN_LIST_MAX else set(uids)
    cur = store._reader().execute(
        "SELECT m.uid, b.message_id, b.in_reply_to, b.refs, b.subject, b.base_subject,"
        " coalesce(b.sent_date, m.internal_date) FROM messages m JOIN blobs b ON b.id = m.blob_id"
        f" WHERE m.mailbox_id = ?{where} ORDER BY m.uid",
        (mailbox_id, *args),
    )
    return [
        ThreadRow(uid, message_id or None, in_reply_to or None, tuple(refs.split()), subject, base, date)
        for uid, message_id, in_reply_to, refs, subject, base, date in cur
        if wanted is None or uid in wanted
    ]
