"""Read-only bulk queries for IMAP's selected state: one query per command, not one per message.

A FETCH of 100k envelopes or a SEARCH over a whole mailbox must be a single read (and a join);
these functions keep that SQL inside the store package. They read through the calling thread's
reader connection, so they see committed data only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

from ..mime import Part
from . import objectid
from .models import SYSTEM_FLAGS, Mailbox
from .objectid import THREAD_ROOT_SQL
from .sqlite import _MAILBOX_COLUMNS, SQLiteStore, _mailbox

FLAG_BITS: dict[str, int] = {flag.lower(): 1 << i for i, flag in enumerate(SYSTEM_FLAGS)}
"""Bit of each system flag in `messages.flags`, keyed by lower-case name (`\\seen`)."""

# FETCH columns by name, with the table they need beyond messages: b = blobs, d = blob_data.
_COLUMNS: dict[str, tuple[str, str]] = {
    "flags": ("m.flags, m.keywords", ""),
    "date": ("m.internal_date, m.internal_tz", ""),
    "size": ("m.size", ""),
    "modseq": ("m.modseq", ""),
    "savedate": ("m.save_date", ""),
    "envelope": ("b.imap_envelope", "b"),
    "body": ("b.imap_body", "b"),
    "bodystructure": ("b.imap_bodystructure", "b"),
    "hash": ("b.hash", "b"),
    "preview": ("b.preview", "b"),
    "data": ("d.data", "d"),  # the bytes of small messages (NULL for those kept in files)
    # small messages up to their first blank line (CRLF CRLF), all of them when there is none
    "head": (
        "CASE WHEN instr(d.data, x'0d0a0d0a') > 0 THEN substr(d.data, 1, instr(d.data, x'0d0a0d0a') + 3)"
        " ELSE d.data END",
        "d",
    ),
    "parsed": ("b.parsed", "b"),
    "threadroot": (THREAD_ROOT_SQL, "b"),  # what objectid.thread_id hashes (OBJECTID THREADID)
}
_WIDTH = {"flags": 2, "date": 2}
_IN_LIST_MAX = 400  # beyond this, one range scan filtered in Python beats a long IN list


def _db(store: SQLiteStore) -> sqlite3.Connection:
    return store._reader()


def uid_runs(store: SQLiteStore, mailbox_id: int) -> list[tuple[int, int]]:
    """The UIDs of a mailbox as ascending runs of consecutive values: (first, last) pairs.

    A mailbox without gaps is recognised from its count and bounds alone, without reading its UIDs:
    the mailbox's own counter and two primary-key lookups (min() and max() together would scan).
    """
    db = _db(store)
    count, first, last = db.execute(
        "SELECT messages, (SELECT min(uid) FROM messages WHERE mailbox_id = ?1),"
        " (SELECT max(uid) FROM messages WHERE mailbox_id = ?1) FROM mailboxes WHERE id = ?1",
        (mailbox_id,),
    ).fetchone() or (0, None, None)
    if not count:
        return []
    if last - first + 1 == count:
        return [(first, last)]
    runs: list[tuple[int, int]] = []
    start = previous = -1
    for (uid,) in db.execute("SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,)):
        if uid != previous + 1:
            if previous >= 0:
                runs.append((start, previous))
            start = uid
        previous = uid
    runs.append((start, previous))
    return runs


def column_offsets(columns: Sequence[str]) -> dict[str, int]:
    """Where each named column group starts in a row from `fetch_rows` (the UID is at 0)."""
    offsets, position = {}, 1
    for name in columns:
        offsets[name] = position
        position += _WIDTH.get(name, 1)
    return offsets


def fetch_rows(store: SQLiteStore, mailbox_id: int, uids: Sequence[int], columns: Sequence[str]) -> list[tuple]:
    """(uid, *columns) for the given ascending UIDs that still exist, in UID order.

    Column names are those of `_COLUMNS`; `column_offsets` tells where each lands in a row.
    """
    if not uids:
        return []
    base = _select(columns)
    db = _db(store)
    if len(uids) <= _IN_LIST_MAX:
        marks = ",".join("?" * len(uids))
        return db.execute(f"{base} AND m.uid IN ({marks}) ORDER BY m.uid", (mailbox_id, *uids)).fetchall()
    first, last = uids[0], uids[-1]
    rows = db.execute(f"{base} AND m.uid BETWEEN ? AND ? ORDER BY m.uid", (mailbox_id, first, last)).fetchall()
    if len(rows) == len(uids):
        return rows
    wanted = set(uids)
    return [row for row in rows if row[0] in wanted]


def iter_fetch_rows(
    store: SQLiteStore, mailbox_id: int, uids: Sequence[int], columns: Sequence[str], chunk: int = 2000
) -> Iterator[list[tuple]]:
    """`fetch_rows` in chunks of `chunk` UIDs, so a FETCH of a whole mailbox streams."""
    for start in range(0, len(uids), chunk):
        yield fetch_rows(store, mailbox_id, uids[start : start + chunk], columns)


def _select(columns: Sequence[str]) -> str:
    select = ", ".join(["m.uid"] + [_COLUMNS[name][0] for name in columns])
    needs = {_COLUMNS[name][1] for name in columns}
    join = " JOIN blobs b ON b.id = m.blob_id" if "b" in needs else ""
    if "d" in needs:
        join += " LEFT JOIN blob_data d ON d.blob_id = m.blob_id"
    return f"SELECT {select} FROM messages m{join} WHERE m.mailbox_id = ?"


def parts_from_record(record: str) -> list[Part]:
    return [Part(**p) for p in json.loads(record)["parts"]]


def select_snapshot(
    store: SQLiteStore, account_id: int, name: str
) -> tuple[Mailbox, list[tuple[int, int]], int] | None:
    """A mailbox, its UIDs (as `uid_runs`) and its first unseen UID (0 if none), in one transaction.

    One snapshot keeps UIDNEXT, EXISTS and the UIDs coherent even while mail arrives.
    """
    db = _db(store)
    db.execute("BEGIN")
    try:
        row = db.execute(
            f"SELECT {_MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = ? AND name = ?", (account_id, name)
        ).fetchone()
        if row is None:
            return None
        box = _mailbox(row)
        uids = uid_runs(store, box.id)
        unseen = db.execute(
            "SELECT min(uid) FROM messages WHERE mailbox_id = ? AND flags & ? = 0", (box.id, FLAG_BITS["\\seen"])
        ).fetchone()[0]
        return box, uids, unseen or 0
    finally:
        db.execute("COMMIT")


# -- search leaves: each returns the UIDs of a mailbox matching one condition ----------------------


def uids_with_flag(store: SQLiteStore, mailbox_id: int, bit: int, present: bool) -> list[int]:
    op = "!=" if present else "="
    cur = _db(store).execute(
        f"SELECT uid FROM messages WHERE mailbox_id = ? AND flags & ? {op} 0 ORDER BY uid", (mailbox_id, bit)
    )
    return [uid for (uid,) in cur]


def uids_with_keyword(store: SQLiteStore, mailbox_id: int, keyword: str, present: bool) -> list[int]:
    """Keywords are matched case-insensitively (ASCII), as IMAP flag names are."""
    op = "" if present else "NOT"
    cur = _db(store).execute(
        f"SELECT uid FROM messages WHERE mailbox_id = ? AND {op} (' ' || keywords || ' ' LIKE ? ESCAPE '\\')"
        " ORDER BY uid",
        (mailbox_id, "% " + _like_escape(keyword) + " %"),
    )
    return [uid for (uid,) in cur]


def uids_by_internal_day(store: SQLiteStore, mailbox_id: int, op: str, day_start: int) -> list[int]:
    """Compare the internal date's calendar day (in its own zone) with a day starting at `day_start` (UTC epoch).

    `op` is '<' (BEFORE), '=' (ON) or '>=' (SINCE).
    """
    local = "(internal_date + internal_tz * 60)"
    condition = {
        "<": f"{local} < ?",
        ">=": f"{local} >= ?",
        "=": f"{local} >= ? AND {local} < ? + 86400",
    }[op]
    params: tuple[int, ...] = (mailbox_id, day_start, day_start) if op == "=" else (mailbox_id, day_start)
    cur = _db(store).execute(f"SELECT uid FROM messages WHERE mailbox_id = ? AND {condition} ORDER BY uid", params)
    return [uid for (uid,) in cur]


def uids_by_internal_time(store: SQLiteStore, mailbox_id: int, op: str, moment: int) -> list[int]:
    """Compare the internal date itself with `moment` (epoch seconds): '<' or '>='."""
    sql_op = {"<": "<", ">=": ">="}[op]
    cur = _db(store).execute(
        f"SELECT uid FROM messages WHERE mailbox_id = ? AND internal_date {sql_op} ? ORDER BY uid", (mailbox_id, moment)
    )
    return [uid for (uid,) in cur]


def uids_by_save_day(store: SQLiteStore, mailbox_id: int, op: str, day_start: int) -> list[int]:
    """Compare the day the message was saved in this mailbox (UTC) with a day starting at `day_start`."""
    condition = {
        "<": "save_date < ?",
        ">=": "save_date >= ?",
        "=": "save_date >= ? AND save_date < ? + 86400",
    }[op]
    params: tuple[int, ...] = (mailbox_id, day_start, day_start) if op == "=" else (mailbox_id, day_start)
    cur = _db(store).execute(f"SELECT uid FROM messages WHERE mailbox_id = ? AND {condition} ORDER BY uid", params)
    return [uid for (uid,) in cur]


def uids_by_sent_day(store: SQLiteStore, mailbox_id: int, op: str, day: str) -> list[int]:
    """Compare the Date: header's calendar day (as written, in its own zone) with `day` ('YYYY-MM-DD').

    Messages without a usable Date: header use their internal date, as Dovecot does.
    """
    sent = (
        "coalesce(substr(json_extract(b.parsed, '$.date'), 1, 10),"
        " date(m.internal_date + m.internal_tz * 60, 'unixepoch'))"
    )
    sql_op = {"<": "<", "=": "=", ">=": ">="}[op]
    cur = _db(store).execute(
        f"SELECT m.uid FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.mailbox_id = ? AND {sent} {sql_op} ?"
        " ORDER BY m.uid",
        (mailbox_id, day),
    )
    return [uid for (uid,) in cur]


def uids_by_size(store: SQLiteStore, mailbox_id: int, op: str, size: int) -> list[int]:
    sql_op = {">": ">", "<": "<"}[op]
    cur = _db(store).execute(
        f"SELECT uid FROM messages WHERE mailbox_id = ? AND size {sql_op} ? ORDER BY uid", (mailbox_id, size)
    )
    return [uid for (uid,) in cur]


def uids_by_modseq(store: SQLiteStore, mailbox_id: int, modseq: int) -> list[int]:
    cur = _db(store).execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND modseq >= ? ORDER BY uid", (mailbox_id, modseq)
    )
    return [uid for (uid,) in cur]


# Driven by the index: a rare word costs a few row lookups, not a scan of the mailbox.
_FROM_INDEX = (
    "SELECT {columns} FROM blob_text t CROSS JOIN messages m ON m.blob_id = t.rowid"
    " WHERE blob_text MATCH ? AND m.mailbox_id = ? ORDER BY m.uid"
)
_TEXT_COLUMNS = {"text": None, "body": "body", "headers": "headers"}
_SCAN_HAYSTACK = {
    "text": "t.headers || char(10) || t.body || char(10) || t.attachments",
    "body": "t.body",
    "headers": "t.headers",
}


def uids_containing(store: SQLiteStore, mailbox_id: int, text: str, field: str = "text") -> list[int]:
    """UIDs whose indexed text contains `text`, case-insensitively: IMAP's substring semantics.

    `field` is 'text' (headers, body, attachment names), 'body' or 'headers'. Three characters or
    more are answered by the trigram index; shorter strings by a scan of the same columns.
    """
    if text == "":
        return [uid for (uid,) in _db(store).execute("SELECT uid FROM messages WHERE mailbox_id = ?", (mailbox_id,))]
    store._text_ready()
    if len(text) >= 3:
        column = _TEXT_COLUMNS[field]
        phrase = '"' + text.replace('"', '""') + '"'
        match = phrase if column is None else f"{column} : {phrase}"
        cur = _db(store).execute(_FROM_INDEX.format(columns="m.uid"), (match, mailbox_id))
        return [uid for (uid,) in cur]
    cur = _db(store).execute(
        "SELECT m.uid FROM messages m JOIN blob_text t ON t.rowid = m.blob_id"
        f" WHERE m.mailbox_id = ? AND instr(lower({_SCAN_HAYSTACK[field]}), lower(?)) > 0 ORDER BY m.uid",
        (mailbox_id, text),
    )
    return [uid for (uid,) in cur]


def header_texts(store: SQLiteStore, mailbox_id: int, containing: str) -> Iterator[tuple[int, str]]:
    """(uid, decoded header text) of messages whose headers may contain `containing`.

    The header text is `Name: value` lines. With three characters or more the trigram index
    narrows the candidates; the caller checks the exact field.
    """
    store._text_ready()
    db = _db(store)
    if len(containing) >= 3:
        phrase = '"' + containing.replace('"', '""') + '"'
        cur = db.execute(_FROM_INDEX.format(columns="m.uid, t.headers"), (f"headers : {phrase}", mailbox_id))
    else:
        cur = db.execute(
            "SELECT m.uid, t.headers FROM messages m JOIN blob_text t ON t.rowid = m.blob_id"
            " WHERE m.mailbox_id = ? ORDER BY m.uid",
            (mailbox_id,),
        )
    yield from cur


def flag_rows(store: SQLiteStore, mailbox_id: int, uids: Iterable[int]) -> list[tuple[int, int, str]]:
    """(uid, flag bits, keywords) for existing UIDs among `uids`, ascending."""
    return fetch_rows(store, mailbox_id, sorted(set(uids)), ("flags",))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def deleted_size(store: SQLiteStore, mailbox_id: int) -> int:
    """Octets an EXPUNGE of the mailbox would free (STATUS DELETED-STORAGE, RFC 9208)."""
    row = (
        _db(store)
        .execute(
            "SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ? AND flags & ?",
            (mailbox_id, FLAG_BITS["\\deleted"]),
        )
        .fetchone()
    )
    return int(row[0])


def uids_with_email_id(store: SQLiteStore, mailbox_id: int, email_id: str) -> list[int]:
    """Messages whose EMAILID (objectid.email_id: "M" + a blob hash prefix) is `email_id`, by the hash index."""
    prefix = email_id[1:]
    if not email_id.startswith("M") or len(prefix) != 24 or prefix != prefix.lower():
        return []
    cur = _db(store).execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND blob_id IN"
        " (SELECT id FROM blobs WHERE hash >= ? AND hash < ?) ORDER BY uid",
        (mailbox_id, prefix, prefix + "g"),
    )
    return [uid for (uid,) in cur]


def uids_with_thread_id(store: SQLiteStore, mailbox_id: int, thread_id: str) -> list[int]:
    """Messages whose THREADID (objectid.thread_id of their thread root) is `thread_id`: hashed per message."""
    if not thread_id.startswith("T"):
        return []
    cur = _db(store).execute(
        f"SELECT m.uid, {THREAD_ROOT_SQL} FROM messages m JOIN blobs b ON b.id = m.blob_id"
        " WHERE m.mailbox_id = ? ORDER BY m.uid",
        (mailbox_id,),
    )
    return [uid for uid, root in cur if objectid.thread_id(root) == thread_id]


# -- QRESYNC (RFC 7162 3.2) --------------------------------------------------------------------


def expunged_floor(store: SQLiteStore, mailbox_id: int) -> int:
    """The highest modseq whose tombstones were pruned: the expunge history is complete above it."""
    row = _db(store).execute("SELECT expunged_floor FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone()
    return int(row[0]) if row else 0


def vanished_since(store: SQLiteStore, mailbox_id: int, modseq: int) -> list[int]:
    """UIDs expunged from a mailbox after `modseq`, ascending (as far as the tombstones go)."""
    cur = _db(store).execute(
        "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", (mailbox_id, modseq)
    )
    return [uid for (uid,) in cur]


def changed_since(store: SQLiteStore, mailbox_id: int, modseq: int) -> list[int]:
    """UIDs of messages whose modseq is above `modseq` (new or flags changed), ascending, by the modseq index."""
    cur = _db(store).execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", (mailbox_id, modseq)
    )
    return [uid for (uid,) in cur]
