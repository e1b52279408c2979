"""The selected mailbox as one session sees it: UIDs, sequence numbers and the updates it owes.

Sequence numbers are positions in `uids`, the UIDs the client has been told about, kept as runs
of consecutive UIDs (`UidList`: a few bytes for a mailbox with few gaps) and found by bisection.
Changes committed by anyone (this session included) reach `changed()` from the store's change
feed and wait there until `updates()` may announce them: new messages (EXISTS, and RECENT for
IMAP4rev1), flag changes (FETCH FLAGS) and expunges (EXPUNGE), the last only when the command
being answered allows it (RFC 9051 7.5.1: never during FETCH, STORE or SEARCH by sequence
number, or sequence numbers would shift under the client). Flags are not cached: they are read
from the store when an update is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from ..store import Change, ChangeKind, Mailbox, Store, queries
from .uidlist import UidList
from .wire import ast, responses


class _HasSession(Protocol):
    @property
    def session(self) -> Any: ...


class InvalidSequence(Exception):
    """A message sequence number beyond the mailbox: a protocol error (BAD)."""


class RecentTracker:
    """Which session saw a message first: it alone gets \\Recent (IMAP4rev1).

    Kept in memory for the process: messages already in a mailbox when it is first selected after
    a start are not recent, later arrivals are recent for the first session to learn of them.
    """

    def __init__(self) -> None:
        self._claimed: dict[int, int] = {}  # mailbox id -> highest UID handed out as recent

    def start(self, mailbox_id: int, highest: int) -> None:
        """Mark everything up to `highest` as seen by someone, if this mailbox is new here."""
        self._claimed.setdefault(mailbox_id, highest)

    def highest(self, mailbox_id: int) -> int:
        """The highest UID already claimed in a mailbox."""
        return self._claimed.get(mailbox_id, 0)

    def claim(self, mailbox_id: int, uids: Iterable[int], *, keep: bool = True) -> list[int]:
        """The UIDs among `uids` (ascending) that nobody has claimed yet.

        They are now claimed, unless `keep` is False: a read-only session sees \\Recent without
        taking it from the read-write sessions to come (RFC 3501 2.3.2).
        """
        last = self._claimed.get(mailbox_id, 0)
        fresh = [uid for uid in uids if uid > last]
        if fresh and keep:
            self._claimed[mailbox_id] = fresh[-1]
        return fresh

    @classmethod
    def of(cls, store: Store) -> RecentTracker:
        """The tracker shared by every session of one store."""
        tracker = _TRACKERS.get(store)
        if tracker is None:
            tracker = _TRACKERS[store] = cls()
        return tracker


_TRACKERS: WeakKeyDictionary[Store, RecentTracker] = WeakKeyDictionary()


class MailboxView:
    """Implements `commands.SelectedView`; built by SELECT/EXAMINE from one consistent snapshot."""

    def __init__(
        self,
        store: Store,
        mailbox: Mailbox,
        uids: UidList | Iterable[int],
        *,
        readonly: bool,
        rev1: bool,
        condstore: bool = False,
        qresync: bool = False,
        tracker: RecentTracker | None = None,
    ) -> None:
        self.store = store
        self.mailbox = mailbox
        self.mailbox_id = mailbox.id
        self.readonly = readonly
        self.rev1 = rev1
        self.condstore = condstore  # CONDSTORE enabled: flag updates carry MODSEQ (RFC 7162 3.2)
        self.qresync = qresync  # QRESYNC enabled: expunges are told as VANISHED uids (RFC 7162 3.2.10)
        self.uids = uids = uids if isinstance(uids, UidList) else UidList(uids)
        self.saved: list[int] = []  # SEARCH RETURN (SAVE) result, as UIDs ($)
        self._tracker = tracker = tracker or RecentTracker.of(store)
        # Pending changes keep the feed's own UID tuples, shared by every session: a STORE or an
        # EXPUNGE of 100k messages costs each session of the mailbox a reference, not a set.
        self._gone: list[tuple[int, ...]] = []  # expunged from the store, not yet announced
        self._gone_set: set[int] | None = None  # their union, built when asked for
        self._new: set[int] = set()  # added to the store, not yet announced
        self._flag_changes: list[tuple[int, tuple[int, ...]]] = []  # (modseq, uids) not yet announced
        self._own: list[int] = []  # modseqs of this session's own flag changes, already reported
        self.recent: set[int] = set()
        tracker.start(mailbox.id, uids.last)
        if rev1:
            unclaimed = uids.slice(uids.rank(tracker.highest(mailbox.id) + 1), len(uids))
            self.recent.update(tracker.claim(mailbox.id, unclaimed, keep=not readonly))

    # -- the SelectedView contract ------------------------------------------------------------

    def changed(self, change: Change) -> None:
        if change.mailbox_id != self.mailbox_id:
            return
        if change.kind is ChangeKind.ADDED:
            last = self.uids.last
            self._new.update(uid for uid in change.uids if uid > last)
        elif change.kind is ChangeKind.EXPUNGED:
            self.expunged(change.uids)
        elif change.kind is ChangeKind.FLAGS and change.modseq not in self._own:
            self._flag_changes.append((change.modseq, change.uids))

    def updates(self, *, expunges: bool) -> list[bytes]:
        out: list[bytes] = []
        if expunges and self._gone:
            out.extend(self._apply_expunges())
        if self._new:
            out.extend(self._apply_new())
        if self._flag_changes:
            out.extend(self._flag_updates())
        return out

    # -- what commands tell the view ----------------------------------------------------------

    def expunged(self, uids: Iterable[int]) -> None:
        """These UIDs left the store (EXPUNGE, MOVE, another session): announce when allowed."""
        uids = uids if isinstance(uids, tuple) else tuple(uids)
        if self._new:  # never announced: just forget them
            self._new.difference_update(uids)
        self._gone.append(uids)
        self._gone_set = None

    def flags_reported(self, modseq: int) -> None:
        """This session changed flags at `modseq` and reported them itself (STORE, FETCH BODY[]).

        Its own change then comes back from the feed; it must not be announced a second time.
        """
        if not modseq:
            return
        self._own.append(modseq)
        del self._own[:-64]
        if self._flag_changes:
            self._flag_changes = [change for change in self._flag_changes if change[0] != modseq]

    def close(self) -> None:
        """Leaving the mailbox: nothing to release but memory."""
        self.uids = UidList()
        self._gone.clear()
        self._gone_set = None
        self._new.clear()
        self._flag_changes.clear()

    # -- numbers ------------------------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def contains(self, uid: int) -> bool:
        return self.uids.seq(uid) > 0

    def seq(self, uid: int) -> int:
        """Sequence number of a UID in the view (0 if absent)."""
        return self.uids.seq(uid)

    def is_expunged(self, uid: int) -> bool:
        return bool(self._gone) and uid in self.pending_expunges

    @property
    def pending_expunges(self) -> set[int]:
        """UIDs gone from the store whose EXPUNGE this session has not sent yet."""
        if self._gone_set is None:
            self._gone_set = set().union(*self._gone) if self._gone else set()
        return self._gone_set

    def targets(self, sequence: ast.SequenceSet, *, uid: bool, strict: bool = True) -> list[tuple[int, int]]:
        """(seq, uid) pairs named by a sequence set or UID set, ascending, without duplicates.

        UID sets ignore UIDs that do not exist (RFC 9051 6.4.9); `*` is the last message, so
        `n:*` always includes it. Sequence numbers beyond EXISTS raise InvalidSequence when
        `strict` (FETCH, STORE, COPY), and simply match nothing in SEARCH. `*` on an empty
        mailbox names nothing. `$` is the saved SEARCH result.
        """
        uids = self.uids
        count = len(uids)
        if sequence.saved:
            return [(seq, u) for u in self.saved if (seq := self.seq(u))]
        pairs: list[tuple[int, int]] = []
        spans: list[tuple[int, int]] = []
        largest = uids.last if uid else count
        for a, b in sequence.ranges:
            if (a == ast.STAR or b == ast.STAR) and count == 0:
                continue
            a = largest if a == ast.STAR else a
            b = largest if b == ast.STAR else b
            spans.append((min(a, b), max(a, b)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for first, last in spans:
            if merged and first <= merged[-1][1] + 1:
                if last > merged[-1][1]:
                    merged[-1] = (merged[-1][0], last)
            else:
                merged.append((first, last))
        for first, last in merged:
            if uid:
                lo, hi = uids.rank(first), uids.rank(last + 1)
            else:
                if last > count and strict:
                    raise InvalidSequence(f"message {last} does not exist (there are {count})")
                lo, hi = max(first, 1) - 1, min(last, count)
            pairs.extend(zip(range(lo + 1, hi + 1), uids.slice(lo, hi), strict=True))
        return pairs

    def all_targets(self) -> list[tuple[int, int]]:
        return list(zip(range(1, len(self.uids) + 1), self.uids, strict=True))

    # -- building updates ---------------------------------------------------------------------

    def _apply_expunges(self) -> list[bytes]:
        gone = self.pending_expunges
        self._gone, self._gone_set = [], None
        before = self.uids
        self.uids, positions = before.without(gone)
        if positions:
            self.recent -= gone
            self.saved = [uid for uid in self.saved if uid not in gone]
        if self.qresync:
            return [b"VANISHED " + responses.sequence_set(before[seq - 1] for seq in positions)] if positions else []
        # each EXPUNGE shifts the messages after it down by one
        return [b"%d EXPUNGE" % (seq - removed) for removed, seq in enumerate(positions)]

    def _apply_new(self) -> list[bytes]:
        last = self.uids.last
        fresh = sorted(uid for uid in self._new if uid > last)
        self._new.clear()
        if not fresh:
            return []
        self.uids.extend(fresh)
        out = [b"%d EXISTS" % len(self.uids)]
        if self.rev1:
            self.recent.update(self._tracker.claim(self.mailbox_id, fresh, keep=not self.readonly))
            out.append(b"%d RECENT" % len(self.recent))
        return out

    def _flag_updates(self) -> list[bytes]:
        changed: set[int] = set()
        for _, uids in self._flag_changes:
            changed.update(uids)
        self._flag_changes.clear()
        gone = self.pending_expunges if self._gone else set()
        pending = sorted(uid for uid in changed if uid not in gone and self.contains(uid))
        out = []
        for uid, bits, keywords, modseq in queries.fetch_rows(
            self.store, self.mailbox_id, pending, ("flags", "modseq")
        ):
            line = b"%d FETCH (UID %d FLAGS %s" % (self.seq(uid), uid, self.flag_list(uid, bits, keywords))
            out.append(line + (b" MODSEQ (%d))" % modseq if self.condstore else b")"))
        return out

    def flag_list(self, uid: int, bits: int, keywords: str) -> bytes:
        """`(\\Seen $Label)` for a message, with \\Recent for the session that owns it (rev1)."""
        return format_flags(bits, keywords, uid in self.recent)


_SYSTEM = [(1 << i, name) for i, name in enumerate(("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"))]
_FLAG_CACHE: dict[tuple[int, str, bool], bytes] = {}


def format_flags(bits: int, keywords: str, recent: bool = False) -> bytes:
    """The FLAGS list of a message; memoised, as a mailbox has few distinct combinations."""
    key = (bits, keywords, recent)
    cached = _FLAG_CACHE.get(key)
    if cached is not None:
        return cached
    names = [name for bit, name in _SYSTEM if bits & bit]
    if recent:
        names.append("\\Recent")
    names.extend(keywords.split())
    value = b"(" + " ".join(names).encode("ascii", "replace") + b")"
    if len(_FLAG_CACHE) < 4096:
        _FLAG_CACHE[key] = value
    return value


def flag_names(bits: int, keywords: str) -> list[str]:
    return [name for bit, name in _SYSTEM if bits & bit] + keywords.split()


def selected_view(ctx: _HasSession) -> MailboxView:
    """The session's selected view (handlers registered for SELECTED only)."""
    view = ctx.session.selected
    assert isinstance(view, MailboxView)
    return view
