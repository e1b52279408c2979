"""The parsed-message data model, and its JSON-safe record form for the store."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Address:
    """One envelope address, shaped like an RFC 3501 ENVELOPE address.

    ``name`` is decoded (encoded-words resolved) for display; the raw form lives in
    ``ParsedMessage.imap_envelope``.  Group syntax is kept the IMAP way: a group start
    is ``Address(None, group_name, None)`` and the group end is
    ``Address(None, None, None)``; a real address never has ``host=None`` (a missing
    domain is ``""``).
    """

    name: str | None
    mailbox: str | None
    host: str | None

    @property
    def is_group_marker(self) -> bool:
        """True for the start/end markers of a group (``host is None``)."""
        return self.host is None

    @property
    def email(self) -> str | None:
        """``mailbox@host`` for a real address, None for group markers."""
        if self.host is None:
            return None
        return f"{self.mailbox or ''}@{self.host}" if self.host else self.mailbox or ""


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME entity with byte offsets into the raw message.

    ``raw[header_start:body_start]`` is BODY[n.MIME] (header plus blank line),
    ``raw[body_start:body_end]`` is BODY[n].  The root of a multipart message has
    ``number == ""``; a multipart nested directly in a message/rfc822 part ``N`` has
    ``number == "N.TEXT"`` since IMAP gives it no number of its own.
    """

    number: str
    content_type: str
    params: dict[str, str]
    disposition: str | None
    disposition_params: dict[str, str]
    filename: str | None
    content_id: str | None
    description: str | None
    encoding: str
    language: str | None
    location: str | None
    md5: str | None
    header_start: int
    body_start: int
    body_end: int
    size: int
    lines: int

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2]

    @property
    def is_multipart(self) -> bool:
        """True for containers (their body holds the children and boundaries)."""
        return self.maintype == "multipart"


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything readers need about one message, computed once at ingest.

    Address lists mirror the headers as written (``sender``/``reply_to`` are empty
    when absent); only ``imap_envelope`` applies RFC 3501's fallback to From.
    ``in_reply_to`` is the first msg-id of In-Reply-To; ``attachment_names`` lists
    the file name of every part that has one, in part order.
    """

    date: datetime | None
    subject: str
    from_: list[Address]
    sender: list[Address]
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    base_subject: str
    preview: str
    has_attachments: bool
    parts: list[Part]
    imap_envelope: bytes
    imap_body: bytes
    imap_bodystructure: bytes
    header_text: str
    body_text: str
    attachment_names: list[str]

    def part(self, number: str) -> Part | None:
        """The part addressed by an IMAP section number (``""`` is the root)."""
        for p in self.parts:
            if p.number == number:
                return p
        return None

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable dict; bytes are kept as latin-1 strings (lossless)."""
        out: dict[str, Any] = {"v": RECORD_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "date":
                value = value.isoformat() if value is not None else None
            elif f.name == "parts":
                value = [_part_record(p) for p in value]
            elif isinstance(value, bytes):
                value = value.decode("latin-1")
            elif f.name in _ADDRESS_FIELDS:
                value = [[a.name, a.mailbox, a.host] for a in value]
            elif isinstance(value, list):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> ParsedMessage:
        """Inverse of :meth:`to_record`."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = d[f.name]
            if f.name == "date":
                value = datetime.fromisoformat(value) if value is not None else None
            elif f.name == "parts":
                value = [Part(**p) for p in value]
            elif f.name in _BYTES_FIELDS:
                value = value.encode("latin-1")
            elif f.name in _ADDRESS_FIELDS:
                value = [Address(*a) for a in value]
            elif isinstance(value, list):
                value = list(value)
            kwargs[f.name] = value
        return cls(**kwargs)


_ADDRESS_FIELDS = frozenset({"from_", "sender", "reply_to", "to", "cc", "bcc"})
_BYTES_FIELDS = frozenset({"imap_envelope", "imap_body", "imap_bodystructure"})


def _part_record(p: Part) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    for f in fields(p):
        value = getattr(p, f.name)
        rec[f.name] = dict(value) if isinstance(value, dict) else value
    return rec
