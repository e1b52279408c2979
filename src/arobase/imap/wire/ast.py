"""Typed IMAP commands: what the parser produces and what command handlers receive.

Every value here is already decoded: mailbox names are Unicode (modified UTF-7 or UTF-8 undone
by the parser, INBOX not yet case-folded: the store does that), strings are `str` (search strings
decoded with the command's CHARSET) and literals of APPEND are raw `bytes`. Handlers never see
wire syntax, so the rules of the grammar live in one place: `parser.py`.

Sequence numbers and UIDs use 0 for `*` (both are non-zero numbers on the wire); a
`SequenceSet` with `saved=True` is `$`, the result saved by SEARCH RETURN (SAVE).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

STAR = 0  # `*` in a sequence set: the largest number in use


# -- sequence sets ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """`1:3,5,7:*` as ranges (first, last) exactly as written (first may exceed last), or `$`."""

    ranges: tuple[tuple[int, int], ...] = ()
    saved: bool = False

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive ranges with `*` replaced by `largest` (0 when empty).

        Ranges are normalised (`5:2` is `2:5`). Values above `largest` are kept: a UID set may
        name UIDs that do not exist, and the caller decides whether that is an error. When
        `largest` is 0 (an empty mailbox) a range involving `*` names nothing.
        """
        spans = sorted(
            (min(a, b), max(a, b))
            for a, b in ((largest if x == STAR else x, largest if y == STAR else y) for x, y in self.ranges)
            if a and b
        )
        merged: list[tuple[int, int]] = []
        for first, last in spans:
            if merged and first <= merged[-1][1] + 1:
                if last > merged[-1][1]:
                    merged[-1] = (merged[-1][0], last)
            else:
                merged.append((first, last))
        return [(first, last) for first, last in merged if last > 0]

    def contains(self, value: int, largest: int) -> bool:
        return any(first <= value <= last for first, last in self.resolve(largest))

    def values(self, largest: int) -> Iterator[int]:
        """Every number in the set, ascending (bounded by the ranges: callers clip large UID sets)."""
        for first, last in self.resolve(largest):
            yield from range(max(first, 1), last + 1)


# -- FETCH ------------------------------------------------------------------------------------

SimpleFetchName = Literal[
    "ENVELOPE",
    "FLAGS",
    "INTERNALDATE",
    "RFC822",
    "RFC822.HEADER",
    "RFC822.SIZE",
    "RFC822.TEXT",
    "UID",
    "BODY",
    "BODYSTRUCTURE",
    "MODSEQ",
    "SAVEDATE",
    "EMAILID",
    "THREADID",
    "PREVIEW",
]

SectionText = Literal["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"]


@dataclass(frozen=True, slots=True)
class Section:
    """`[1.2.HEADER.FIELDS (From To)]`: part path, then an optional text part and its field names.

    `BODY[]` is Section(); `MIME` only comes after a part number (the parser checks).
    Field names are kept as written (upper-cased): matching them is case-insensitive.
    """

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Partial:
    """`<start.length>`: `length` octets from `start` (the response names only `<start>`)."""

    start: int
    length: int


@dataclass(frozen=True, slots=True)
class FetchSimple:
    """An attribute without arguments; RFC822 is BODY[], RFC822.HEADER BODY.PEEK[HEADER], etc."""

    name: SimpleFetchName


@dataclass(frozen=True, slots=True)
class FetchBody:
    """BODY[section]<partial> (sets \\Seen unless peek) or BODY.PEEK[...]."""

    section: Section = Section()
    partial: Partial | None = None
    peek: bool = False


@dataclass(frozen=True, slots=True)
class FetchBinary:
    """BINARY[part]<partial> / BINARY.PEEK[...] (RFC 3516, RFC 9051): content-transfer-decoded."""

    part: tuple[int, ...] = ()
    partial: Partial | None = None
    peek: bool = False


@dataclass(frozen=True, slots=True)
class FetchBinarySize:
    """BINARY.SIZE[part]: the decoded size."""

    part: tuple[int, ...] = ()


FetchAttribute = FetchSimple | FetchBody | FetchBinary | FetchBinarySize

MACROS: dict[str, tuple[FetchAttribute, ...]] = {
    "ALL": (FetchSimple("FLAGS"), FetchSimple("INTERNALDATE"), FetchSimple("RFC822.SIZE"), FetchSimple("ENVELOPE")),
    "FAST": (FetchSimple("FLAGS"), FetchSimple("INTERNALDATE"), FetchSimple("RFC822.SIZE")),
    "FULL": (
        FetchSimple("FLAGS"),
        FetchSimple("INTERNALDATE"),
        FetchSimple("RFC822.SIZE"),
        FetchSimple("ENVELOPE"),
        FetchSimple("BODY"),
    ),
}


# -- SEARCH -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchAll:
    """ALL; also the empty conjunction."""


@dataclass(frozen=True, slots=True)
class SearchFlag:
    """ANSWERED/UNANSWERED, DELETED, DRAFT, FLAGGED, SEEN, KEYWORD k/UNKEYWORD k; RECENT/NEW/OLD.

    `flag` is `\\Answered`-style for system flags, the keyword itself otherwise, `\\Recent` for
    RECENT/OLD. NEW is And(\\Recent set, \\Seen unset) and is produced as that.
    """

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class SearchText:
    """Substring match, case-insensitive: BCC CC FROM SUBJECT TO (headers), BODY, TEXT."""

    field: Literal["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"]
    value: str


@dataclass(frozen=True, slots=True)
class SearchHeader:
    """HEADER name value: the named header contains value (an empty value: the header exists)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class SearchDate:
    """BEFORE/ON/SINCE compare the internal date, SENT* the Date: header; both by date only."""

    field: Literal["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]
    date: date


@dataclass(frozen=True, slots=True)
class SearchSize:
    """LARGER n (size > n) or SMALLER n (size < n)."""

    larger: bool
    size: int


@dataclass(frozen=True, slots=True)
class SearchSequence:
    """A bare sequence set (message numbers) or UID set."""

    sequence: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class SearchModSeq:
    """MODSEQ [entry type] n (RFC 7162): messages with a modseq at least n."""

    modseq: int


@dataclass(frozen=True, slots=True)
class SearchWithin:
    """OLDER n / YOUNGER n (RFC 5032): internal date more / at most n seconds before now."""

    older: bool
    seconds: int


@dataclass(frozen=True, slots=True)
class SearchSaveDate:
    """SAVEDBEFORE/SAVEDON/SAVEDSINCE date (RFC 8514): the day the message was saved here."""

    field: Literal["SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"]
    date: date


@dataclass(frozen=True, slots=True)
class SearchObjectId:
    """EMAILID id / THREADID id (RFC 8474 section 6): messages with that object id (case-sensitive)."""

    kind: Literal["EMAILID", "THREADID"]
    value: str


@dataclass(frozen=True, slots=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class SearchAnd:
    """A parenthesised list, or the keys of the command itself: all must match."""

    keys: tuple[SearchKey, ...]


SearchKey = (
    SearchAll
    | SearchFlag
    | SearchText
    | SearchHeader
    | SearchDate
    | SearchSize
    | SearchSequence
    | SearchModSeq
    | SearchWithin
    | SearchSaveDate
    | SearchObjectId
    | SearchNot
    | SearchOr
    | SearchAnd
)

SearchReturn = Literal["MIN", "MAX", "ALL", "COUNT", "SAVE"]


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """Base of every command; `tag` is the client's tag, `name` the command as upper-case text."""

    tag: str = field(default="", kw_only=True)

    @property
    def name(self) -> str:
        """The command as the client wrote it, without arguments: "UID FETCH", "EXAMINE", "MOVE"."""
        name = NAMES[type(self)]
        if getattr(self, "readonly", False):
            name = "EXAMINE"
        elif getattr(self, "unselect", False):
            name = "UNSELECT"
        elif getattr(self, "move", False):
            name = "MOVE"
        if getattr(self, "uid", False) is True or getattr(self, "uids", None) is not None:
            name = "UID " + name
        return name


@dataclass(frozen=True, slots=True)
class Capability(Command):
    pass


@dataclass(frozen=True, slots=True)
class Noop(Command):
    pass


@dataclass(frozen=True, slots=True)
class Logout(Command):
    pass


@dataclass(frozen=True, slots=True)
class StartTLS(Command):
    pass


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    """AUTHENTICATE mech [initial-response]: `initial` is None when absent, b"" for `=` (SASL-IR)."""

    mechanism: str
    initial: bytes | None = None


@dataclass(frozen=True, slots=True)
class Login(Command):
    user: str
    password: str

    def __repr__(self) -> str:
        return f"Login(user={self.user!r}, password=..., tag={self.tag!r})"


@dataclass(frozen=True, slots=True)
class Enable(Command):
    capabilities: tuple[str, ...]  # upper-cased


@dataclass(frozen=True, slots=True)
class Id(Command):
    """ID NIL or ID ("key" "value" ...); values may be NIL."""

    parameters: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class Namespace(Command):
    pass


@dataclass(frozen=True, slots=True)
class Create(Command):
    mailbox: str
    special_use: tuple[str, ...] = ()  # CREATE-SPECIAL-USE: (USE (\Sent))


@dataclass(frozen=True, slots=True)
class Delete(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename(Command):
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Subscribe(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class Unsubscribe(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class List(Command):
    """LIST, basic or extended (RFC 5258) with SPECIAL-USE (RFC 6154) and LIST-STATUS (RFC 5819).

    `selection`: upper-cased selection options (SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE).
    `returns`: upper-cased return options (SUBSCRIBED, CHILDREN, SPECIAL-USE); `status` holds the
    items of RETURN (STATUS (...)) or None. `extended` tells whether the extended syntax was used
    (selection options, several patterns or return options), which changes what is returned.
    """

    reference: str
    patterns: tuple[str, ...]
    selection: frozenset[str] = frozenset()
    returns: frozenset[str] = frozenset()
    status: tuple[str, ...] | None = None
    extended: bool = False


@dataclass(frozen=True, slots=True)
class Lsub(Command):
    reference: str
    pattern: str


StatusItem = Literal[
    "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT"
]


@dataclass(frozen=True, slots=True)
class Status(Command):
    mailbox: str
    items: tuple[StatusItem, ...]


@dataclass(frozen=True, slots=True)
class AppendMessage:
    """One message of APPEND (MULTIAPPEND allows several): flags, internal date, bytes."""

    data: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None
    binary: bool = False  # sent as ~{n}: may hold NUL and bare 8-bit

    def __repr__(self) -> str:
        return f"AppendMessage({len(self.data)} bytes, flags={self.flags!r}, date={self.internal_date!r})"


@dataclass(frozen=True, slots=True)
class Append(Command):
    mailbox: str
    messages: tuple[AppendMessage, ...]


@dataclass(frozen=True, slots=True)
class Idle(Command):
    pass


@dataclass(frozen=True, slots=True)
class Check(Command):
    pass


@dataclass(frozen=True, slots=True)
class QResync:
    """The QRESYNC parameter of SELECT/EXAMINE (RFC 7162 3.2.5): what the client last knew."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None  # (sequence numbers, their UIDs)


@dataclass(frozen=True, slots=True)
class Select(Command):
    """SELECT, or EXAMINE when `readonly`; `condstore` for the (CONDSTORE) parameter."""

    mailbox: str
    readonly: bool = False
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True, slots=True)
class Close(Command):
    """CLOSE (expunges silently when read-write), or UNSELECT when `unselect` (never expunges)."""

    unselect: bool = False


@dataclass(frozen=True, slots=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE set (UIDPLUS) when `uids` is given."""

    uids: SequenceSet | None = None


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    sequence: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    uid: bool = False
    changedsince: int | None = None  # CONDSTORE (CHANGEDSINCE n)
    vanished: bool = False  # QRESYNC (CHANGEDSINCE n VANISHED), UID FETCH only


@dataclass(frozen=True, slots=True)
class StoreAction:
    """FLAGS / +FLAGS / -FLAGS, optionally .SILENT."""

    mode: Literal["replace", "add", "remove"]
    flags: tuple[str, ...]
    silent: bool = False


@dataclass(frozen=True, slots=True)
class Store(Command):
    sequence: SequenceSet
    action: StoreAction
    uid: bool = False
    unchangedsince: int | None = None  # CONDSTORE (UNCHANGEDSINCE n)


@dataclass(frozen=True, slots=True)
class Copy(Command):
    """COPY, or MOVE (RFC 6851) when `move`; UID variants when `uid`."""

    sequence: SequenceSet
    mailbox: str
    uid: bool = False
    move: bool = False


@dataclass(frozen=True, slots=True)
class Search(Command):
    """SEARCH / UID SEARCH; `returns` is None without RETURN, () for RETURN () (= ALL in ESEARCH)."""

    key: SearchKey
    uid: bool = False
    charset: str | None = None
    returns: tuple[SearchReturn, ...] | None = None


SortKey = Literal["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"]


@dataclass(frozen=True, slots=True)
class SortCriterion:
    key: SortKey
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Sort(Command):
    """SORT / UID SORT (RFC 5256); `returns` for ESORT's RETURN options (RFC 5267), as in Search."""

    criteria: tuple[SortCriterion, ...]
    key: SearchKey
    charset: str
    uid: bool = False
    returns: tuple[SearchReturn, ...] | None = None


@dataclass(frozen=True, slots=True)
class Thread(Command):
    """THREAD / UID THREAD (RFC 5256) with REFERENCES or ORDEREDSUBJECT."""

    algorithm: Literal["REFERENCES", "ORDEREDSUBJECT"]
    key: SearchKey
    charset: str
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Replace(Command):
    """REPLACE / UID REPLACE (RFC 8508): append `message` to `mailbox`, expunge message `number`."""

    number: int  # a sequence number, a UID, or STAR
    mailbox: str
    message: AppendMessage
    uid: bool = False


@dataclass(frozen=True, slots=True)
class Compress(Command):
    """COMPRESS mechanism (RFC 4978); only DEFLATE exists."""

    mechanism: str


@dataclass(frozen=True, slots=True)
class GetQuota(Command):
    root: str


@dataclass(frozen=True, slots=True)
class GetQuotaRoot(Command):
    mailbox: str


@dataclass(frozen=True, slots=True)
class SetQuota(Command):
    root: str
    limits: tuple[tuple[str, int], ...]


NAMES: dict[type[Command], str] = {
    Capability: "CAPABILITY",
    Noop: "NOOP",
    Logout: "LOGOUT",
    StartTLS: "STARTTLS",
    Authenticate: "AUTHENTICATE",
    Login: "LOGIN",
    Enable: "ENABLE",
    Id: "ID",
    Namespace: "NAMESPACE",
    Create: "CREATE",
    Delete: "DELETE",
    Rename: "RENAME",
    Subscribe: "SUBSCRIBE",
    Unsubscribe: "UNSUBSCRIBE",
    List: "LIST",
    Lsub: "LSUB",
    Status: "STATUS",
    Append: "APPEND",
    Idle: "IDLE",
    Check: "CHECK",
    Select: "SELECT",
    Close: "CLOSE",
    Expunge: "EXPUNGE",
    Fetch: "FETCH",
    Store: "STORE",
    Copy: "COPY",
    Search: "SEARCH",
    Sort: "SORT",
    Thread: "THREAD",
    Compress: "COMPRESS",
    GetQuota: "GETQUOTA",
    GetQuotaRoot: "GETQUOTAROOT",
    SetQuota: "SETQUOTA",
    Replace: "REPLACE",
}


NOTIFY_EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange")
"""The NOTIFY events Arobase delivers (RFC 5465 5), in their canonical spelling."""


@dataclass(frozen=True, slots=True)
class NotifyGroup:
    """One `(filter-mailboxes events)` of NOTIFY SET; `events` empty means NONE."""

    specifier: str  # SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
    mailboxes: tuple[str, ...] = ()  # for SUBTREE and MAILBOXES
    events: tuple[str, ...] = ()
    fetch_attributes: tuple[FetchAttribute, ...] = ()  # MessageNew (fetch-att ...)


@dataclass(frozen=True, slots=True)
class Notify(Command):
    """NOTIFY SET [STATUS] groups, or NOTIFY NONE (no groups)."""

    groups: tuple[NotifyGroup, ...] = ()
    status: bool = False


NAMES[Notify] = "NOTIFY"
