"""Signals, verdicts and the headers that carry them to IMAP clients.

A filter reports `Signal`s: a short name, how many points it adds (negative for good signs) and a
plain-words detail a user can read. The verdict is derived from them and the domain's policy; the
same signals are written in headers and kept in the store for the webmail.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

HEADER_PREFIX = b"x-arobase-"
MAX_HEADER_REASONS = 12


class Kind(enum.Enum):
    SPAM = "spam"
    PHISHING = "phishing"
    ATTACHMENT = "attachment"
    LIST = "list"  # allow/block lists and known correspondents


@dataclass(frozen=True, slots=True)
class Signal:
    name: str  # upper-case identifier, such as DMARC_FAIL
    score: float  # points added to the spam score (negative: signs of good mail)
    detail: str  # plain words for the user
    kind: Kind = Kind.SPAM


class Action(enum.Enum):
    """What happens to the message, from mildest to strongest."""

    DELIVER = "deliver"
    WARN = "warn"
    JUNK = "junk"
    QUARANTINE = "quarantine"
    REJECT = "reject"


@dataclass(slots=True)
class Verdict:
    """The decision for one recipient account (or for the message, with account_id None)."""

    account_id: int | None
    score: float = 0.0
    signals: list[Signal] = field(default_factory=list)
    junk: bool = False
    warning: str = ""  # phishing warning in plain words, "" when none
    quarantined: list[str] = field(default_factory=list)  # attachment names taken out
    reject: str = ""  # SMTP reply text when the message is refused
    blocked: bool = False
    allowed: bool = False
    bayes: float | None = None  # classifier probability when the model was trained

    @property
    def action(self) -> Action:
        if self.reject:
            return Action.REJECT
        if self.quarantined:
            return Action.QUARANTINE
        if self.junk:
            return Action.JUNK
        if self.warning:
            return Action.WARN
        return Action.DELIVER

    @property
    def mailbox(self) -> str:
        return "Junk" if self.junk else "INBOX"

    def reasons(self) -> list[tuple[str, float, str]]:
        """(name, points, detail) of every signal, strongest first, for the store and the webmail."""
        ordered = sorted(self.signals, key=lambda s: -abs(s.score))
        return [(s.name, round(s.score, 2), s.detail) for s in ordered]

    def headers(self, junk_score: int) -> bytes:
        """X-Arobase-* header fields for IMAP clients, CRLF-terminated and folded."""
        ordered = sorted((s for s in self.signals if s.score), key=lambda s: -abs(s.score))
        lines = [
            f"X-Arobase-Spam: {'Yes' if self.junk else 'No'}, score={self.score:.1f} required={junk_score}",
            f"X-Arobase-Verdict: {self.action.value}",
        ]
        if ordered:
            shown = [f"{s.name}({s.score:+.1f})" for s in ordered[:MAX_HEADER_REASONS]]
            lines.append(_fold("X-Arobase-Reasons: ", shown, ", "))
        if self.warning:
            lines.append(_fold("X-Arobase-Warning: ", _safe(self.warning).split(" ")))
        if self.quarantined:
            names = ", ".join(_safe(n) or "unnamed" for n in self.quarantined)
            lines.append(_fold("X-Arobase-Quarantine: ", f"attachments held: {names}".split(" ")))
        return "".join(line + "\r\n" for line in lines).encode("utf-8")


def _safe(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:400]


def _fold(start: str, items: list[str], sep: str = " ", width: int = 78) -> str:
    """One header field, folded at item boundaries so no line is much wider than `width`."""
    line, out = start, []
    for i, item in enumerate(items):
        piece = item if i == 0 else sep + item
        if i and len(line) + len(piece) > width:
            out.append(line + sep.rstrip())
            line = "\t" + item
        else:
            line += piece
    out.append(line)
    return "\r\n".join(out)


def strip_our_headers(message: bytes) -> bytes:
    """Remove X-Arobase-* fields from the top header block: only we may write them."""
    end = message.find(b"\r\n\r\n")
    end = len(message) if end == -1 else end + 2
    head = message[:end]
    if HEADER_PREFIX not in head.lower():
        return message
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith(HEADER_PREFIX)
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + message[end:]


def tag_subject(message: bytes, tag: str) -> bytes:
    """Prefix the Subject with `tag` (adds a Subject when there is none); the body is untouched."""
    end = message.find(b"\r\n\r\n")
    end = len(message) if end == -1 else end + 2
    head, encoded = message[:end], tag.encode("utf-8")
    lower = head.lower()
    pos = 0 if lower.startswith(b"subject:") else lower.find(b"\r\nsubject:")
    if pos == -1:
        return head + b"Subject: " + encoded + b"\r\n" + message[end:]
    start = pos if pos == 0 else pos + 2
    colon = start + len(b"subject:")
    value_start = colon + (1 if head[colon : colon + 1] == b" " else 0)
    return message[:value_start] + encoded + b" " + message[value_start:]
