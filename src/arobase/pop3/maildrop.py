"""The store side of POP3: the INBOX snapshot taken at login, the maildrop lock, message bytes.

POP3 sees INBOX only, as it was at login. UIDL values are `UIDVALIDITY.UID` of INBOX: the store
never reuses a UID within a UIDVALIDITY and IMAP flag changes do not touch either number, so a
message keeps its UIDL forever. Sizes are those of the CRLF form POP3 sends; because message
contents never change, they are remembered per blob hash (with whether RETR can send the content
as is, without CRLF conversion or dot-stuffing) and a second login reads nothing.
"""

from __future__ import annotations

import threading
import weakref

from ..store import Mailbox, NotFound, Store
from .session import Entry, Maildrop
from .wire import as_is, wire_size

MAX_CACHED_SIZES = 200_000

_sizes: dict[str, tuple[int, bool]] = {}  # blob hash -> octets of its CRLF form, wire.as_is
_sizes_lock = threading.Lock()
_locks: weakref.WeakKeyDictionary[Store, set[int]] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def uidl(mailbox: Mailbox, uid: int) -> str:
    """Unique per maildrop, stable forever, at most 21 characters of 0x21-0x7E (RFC 1939 section 7)."""
    return f"{mailbox.uidvalidity}.{uid}"


def acquire(store: Store, mailbox_id: int) -> bool:
    """Take the exclusive POP3 lock on a mailbox; False if another session holds it."""
    with _locks_lock:
        held = _locks.setdefault(store, set())
        if mailbox_id in held:
            return False
        held.add(mailbox_id)
        return True


def release(store: Store, mailbox_id: int) -> None:
    with _locks_lock:
        _locks.get(store, set()).discard(mailbox_id)


def snapshot(store: Store, mailbox: Mailbox) -> Maildrop:
    """The messages of INBOX now, with their POP3 sizes (reads each content the first time only)."""
    entries = []
    for message in store.list_messages(mailbox.id):
        known = _sizes.get(message.blob)
        if known is None:
            raw = read_content(store, message.blob)
            if raw is not None:
                known = wire_size(raw), as_is(raw)
                _remember(message.blob, known)
        size, plain = known or (message.size, False)  # unreadable now: a guess, and RETR converts what it gets
        uid = message.uid
        entries.append(Entry(uid, size, uidl(mailbox, uid), message.blob, "\\Seen" in message.flags, plain))
    return Maildrop(mailbox.id, tuple(entries))


def read(store: Store, mailbox_id: int, entry: Entry) -> bytes | None:
    """The bytes of a snapshot message, or None if it has left INBOX since (IMAP expunge or move)."""
    try:
        return store.message_bytes(mailbox_id, entry.uid)
    except (NotFound, FileNotFoundError):
        return None


def read_content(store: Store, blob: str) -> bytes | None:
    try:
        return store.read_blob(blob)
    except (NotFound, FileNotFoundError):
        return None


def _remember(blob: str, measure: tuple[int, bool]) -> None:
    with _sizes_lock:
        if len(_sizes) >= MAX_CACHED_SIZES:
            _sizes.clear()  # cheap and rare: the next logins recompute what they need
        _sizes[blob] = measure
