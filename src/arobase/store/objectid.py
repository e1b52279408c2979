"""Stable object identifiers (RFC 8474 OBJECTID), derived from stored data so that IMAP and the
webmail compute the same ones without a table of their own.

- MAILBOXID: "F" + the first 20 hex digits of SHA-256("mailbox:<mailboxes row id>"); kept across
  RENAME (same row; RENAME changes UIDVALIDITY here, so that cannot be part of it). SQLite reuses
  a row id only when the highest one was deleted.
- EMAILID: "M" + the first 24 hex digits of the blob hash (SHA-256 of the message bytes): every
  copy of the same message content shares it.
- THREADID: "T" + the first 20 hex digits of SHA-256 of the thread's root Message-ID: the first
  entry of References, else In-Reply-To, else the message's own Message-ID, else its blob hash
  (a message with no ids is a thread of its own).
"""

from __future__ import annotations

import hashlib

# SQL over `blobs b` giving the thread root that `thread_id` hashes
THREAD_ROOT_SQL = (
    "coalesce(nullif(substr(b.refs, 1, instr(b.refs || ' ', ' ') - 1), ''), b.in_reply_to, b.message_id, b.hash)"
)


def mailbox_id(row_id: int) -> str:
    return "F" + hashlib.sha256(f"mailbox:{row_id}".encode()).hexdigest()[:20]


def email_id(blob_hash: str) -> str:
    return "M" + blob_hash[:24]


def thread_root(message_id: str | None, in_reply_to: str | None, refs: str, blob_hash: str) -> str:
    """The same value as THREAD_ROOT_SQL, for callers that hold the columns already."""
    first = refs.split(" ", 1)[0] if refs else ""
    return first or in_reply_to or message_id or blob_hash


def thread_id(root: str) -> str:
    return "T" + hashlib.sha256(root.encode()).hexdigest()[:20]
