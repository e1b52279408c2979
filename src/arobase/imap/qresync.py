"""QRESYNC (RFC 7162 section 3.2): what a reconnecting client missed, from modseqs and tombstones.

The store keeps a tombstone (mailbox, uid, modseq) per expunged message, the newest
`store.sqlite.TOMBSTONES_KEPT` per mailbox; older ones are pruned and the mailbox's expunged
floor records the highest modseq forgotten. A client whose modseq is at or above the floor gets
exactly the UIDs expunged since; one below it gets every UID of its known set (by default
1:UIDNEXT-1) that no longer exists (RFC 7162 3.2.5.2): more bytes, still a correct resync,
as VANISHED (EARLIER) may name UIDs the client never knew.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..store import queries
from .view import MailboxView
from .wire import ast


def vanished_earlier(view: MailboxView, modseq: int, known: ast.SequenceSet | None, uidnext: int) -> bytes | None:
    """`VANISHED (EARLIER) uids` for what left the mailbox after `modseq`, among `known` UIDs.

    UIDs still in the view (expunged after its snapshot, not announced yet) are left out: the
    session's own VANISHED will tell them, in step with EXISTS.
    """
    store, mailbox_id = view.store, view.mailbox_id
    wanted = (known or ast.SequenceSet(((1, ast.STAR),))).resolve(uidnext - 1)
    wanted = [(first, min(last, uidnext - 1)) for first, last in wanted if first < uidnext]
    if modseq >= queries.expunged_floor(store, mailbox_id):
        gone = queries.vanished_since(store, mailbox_id, modseq)
        spans = _runs(uid for uid in gone if _within(uid, wanted) and not view.contains(uid))
    else:
        spans = _subtract(wanted, view.uids.spans())
    if not spans:
        return None
    return b"VANISHED (EARLIER) " + format_spans(spans)


def changed_lines(view: MailboxView, modseq: int) -> Iterator[bytes]:
    """`* n FETCH (UID u FLAGS (...) MODSEQ (m))` CRLF for messages of the view changed after `modseq`, in chunks."""
    uids = [uid for uid in queries.changed_since(view.store, view.mailbox_id, modseq) if view.contains(uid)]
    for rows in queries.iter_fetch_rows(view.store, view.mailbox_id, uids, ("flags", "modseq")):
        yield b"".join(
            b"* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n" % (view.seq(uid), uid, view.flag_list(uid, bits, kw), ms)
            for uid, bits, kw, ms in rows
        )


def format_spans(spans: Iterable[tuple[int, int]]) -> bytes:
    return b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in spans)


def _within(uid: int, spans: list[tuple[int, int]]) -> bool:
    return any(first <= uid <= last for first, last in spans)


def _runs(uids: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending UIDs as (first, last) runs."""
    out: list[tuple[int, int]] = []
    for uid in uids:
        if out and uid == out[-1][1] + 1:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return out


def _subtract(spans: list[tuple[int, int]], present: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ascending `spans` not covered by ascending, disjoint `present` runs."""
    out: list[tuple[int, int]] = []
    i = 0
    for first, last in spans:
        start = first
        while i < len(present) and present[i][1] < start:
            i += 1
        j = i
        while j < len(present) and present[j][0] <= last and start <= last:
            if present[j][0] > start:
                out.append((start, present[j][0] - 1))
            start = max(start, present[j][1] + 1)
            j += 1
        if start <= last:
            out.append((start, last))
    return out
