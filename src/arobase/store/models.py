"""What the store hands out: plain immutable records, independent of the database behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

DELIMITER = "/"

SPECIAL_MAILBOXES: dict[str, str] = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Junk": "\\Junk",
    "Trash": "\\Trash",
    "Archive": "\\Archive",
}

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")


@dataclass(frozen=True, slots=True)
class Domain:
    id: int
    name: str  # A-label, lower case
    display: str  # Unicode form


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    address: str  # as created, A-label domain: "Arthur.Dupont@example.test"
    key: str  # case-folded lookup key
    display_name: str
    password_hash: str
    quota: int  # bytes, 0 = unlimited
    disabled: bool
    used: int  # bytes stored in all mailboxes
    message_quota: int = 0  # most messages kept in all mailboxes, 0 = unlimited
    messages: int = 0  # messages in all mailboxes


@dataclass(frozen=True, slots=True)
class Alias:
    id: int
    source: str  # "sales@example.test" or "@example.test" for a catch-all
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str
    special_use: str | None
    subscribed: bool
    selectable: bool
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    unseen: int
    size: int


@dataclass(frozen=True, slots=True)
class Message:
    """One message in one mailbox (the blob may be shared with other mailboxes)."""

    mailbox_id: int
    uid: int
    modseq: int
    flags: frozenset[str]
    internal_date: datetime
    save_date: datetime
    size: int
    blob: str  # SHA-256 hex of the stored bytes


class ChangeKind(Enum):
    ADDED = "added"
    FLAGS = "flags"
    EXPUNGED = "expunged"
    MAILBOX_CREATED = "mailbox-created"
    MAILBOX_RENAMED = "mailbox-renamed"
    MAILBOX_DELETED = "mailbox-deleted"
    MAILBOX_SUBSCRIBED = "mailbox-subscribed"


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change, as pushed to live sessions (IDLE, webmail)."""

    kind: ChangeKind
    account_id: int
    mailbox_id: int
    modseq: int
    uids: tuple[int, ...] = ()
    name: str | None = None  # mailbox name for mailbox changes (new name for renames)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message to store for several recipients at once: all of them, or none."""

    blob: str
    raw_size: int
    targets: list[tuple[int, str]]  # (account id, mailbox name)
    internal_date: datetime
    flags: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class OutboundEntry:
    """One remote recipient of a message waiting in the outbound queue."""

    id: int
    blob: str
    sender: str  # '' for the null sender
    recipient: str
    account_id: int | None
    created: datetime
    next_attempt: datetime
    attempts: int
    last_error: str | None
    envelope: int = 0  # the message group: recipients queued together share it
    claimed: bool = False  # a delivery worker holds it right now
    delay_warned: bool = False
    last_host: str | None = None

    @property
    def domain(self) -> str:
        return self.recipient.rpartition("@")[2].lower()


@dataclass(frozen=True, slots=True)
class DKIMKey:
    """A DKIM signing key of one of our domains; only active keys sign."""

    id: int
    domain: str  # A-label
    selector: str
    algorithm: str  # 'rsa' or 'ed25519'
    private_key: str  # PEM
    created: datetime
    active: bool


@dataclass(frozen=True, slots=True)
class FilterVerdict:
    """What the protection pipeline decided for one delivered message in one account."""

    account_id: int
    digest: str  # blob hash of the stored message
    action: str  # deliver, junk, warn, quarantine
    score: float
    reasons: tuple[tuple[str, float, str], ...]  # (signal name, contribution, plain-words detail)
    created: datetime


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """An original message held back because its attachments were dangerous."""

    id: int
    account_id: int
    digest: str
    sender: str
    subject: str
    reasons: tuple[str, ...]
    created: datetime
    released: datetime | None
    size: int
