"""Entry point: turn raw message bytes into a :class:`ParsedMessage`, never failing.

Parsing happens once at ingest; the result (offsets, IMAP forms, search text) is
stored so IMAP, POP3 and webmail never parse again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from arobase.mime.envelope import decoded_addresses, envelope_form, header_addresses
from arobase.mime.headers import HeaderBlock, decode_words, scan_header, to_text
from arobase.mime.imapforms import BodyNode, body_form
from arobase.mime.model import ParsedMessage, Part
from arobase.mime.structure import ENCAPSULATING, Entity, parse_structure
from arobase.mime.subject import base_subject
from arobase.mime.text import decode_bytes, html_to_text, make_preview, normalize_newlines

log = logging.getLogger(__name__)

MAX_BODY_TEXT = 4_000_000
"""Cap on ``body_text`` characters: enough for search, bounded for the store."""
MAX_HTML_CHARS = 1_000_000
"""HTML beyond this is not converted for search: HTMLParser costs ~0.5 s per MB."""

_TRANSFER_ENCODED = frozenset({"base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue", "uue"})
_MSG_ID = re.compile(rb"<[^<>]*>")
_RAW_FIELDS = (
    "content-id",
    "content-description",
    "content-md5",
    "content-language",
    "content-location",
)
# Leaves that are protocol machinery rather than something a user attached.
_NOT_ATTACHMENTS = frozenset(
    {
        "application/pgp-signature",
        "application/pgp-encrypted",
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "text/rfc822-headers",
    }
)


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``raw`` (ideally CRLF-normalised) into everything readers need.

    Broken mail still parses; if the parser itself hits a bug, the message is
    described as a single text/plain part so that ingest never fails.
    """
    try:
        return _parse(raw)
    except Exception:  # includes RecursionError: ingest must never fail
        log.warning("MIME parse failed; storing as a single text part", exc_info=True)
        return fallback_message(raw)


@dataclass(slots=True)
class _Walk:
    """Accumulators filled while walking the entity tree."""

    raw: bytes
    parts: list[Part] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    text_len: int = 0
    main_text: str | None = None
    has_attachments: bool = False
    attachment_names: list[str] = field(default_factory=list)


def _parse(raw: bytes) -> ParsedMessage:
    root = parse_structure(raw)
    walk = _Walk(raw)
    label, prefix = ("", "") if root.kind == "multipart" else ("1", "1")
    node = _visit(root, label, prefix, walk, parent_type=None, in_message=False)
    h = root.headers
    addrs = header_addresses(h)
    subject = _clean_text(h.text("subject") or "")
    return ParsedMessage(
        date=_parse_date(h.get("date")),
        subject=subject,
        from_=decoded_addresses(addrs["from"]),
        sender=decoded_addresses(addrs["sender"]),
        reply_to=decoded_addresses(addrs["reply-to"]),
        to=decoded_addresses(addrs["to"]),
        cc=decoded_addresses(addrs["cc"]),
        bcc=decoded_addresses(addrs["bcc"]),
        message_id=_first_msg_id(h.get("message-id")),
        in_reply_to=_first_msg_id(h.get("in-reply-to"), bare_ok=False),
        references=_msg_ids(h.get("references")),
        base_subject=base_subject(subject),
        preview=make_preview(walk.main_text or ""),
        has_attachments=walk.has_attachments,
        parts=walk.parts,
        imap_envelope=envelope_form(h, addrs),
        imap_body=body_form(node, extended=False),
        imap_bodystructure=body_form(node, extended=True),
        header_text=_header_text(h),
        body_text="\n\n".join(walk.texts)[:MAX_BODY_TEXT],
        attachment_names=walk.attachment_names,
    )


def _visit(
    e: Entity,
    label: str,
    prefix: str,
    walk: _Walk,
    parent_type: str | None,
    in_message: bool,
    plain_sibling: bool = False,
) -> BodyNode:
    """Record ``e`` as a Part (pre-order, IMAP numbering) and build its BodyNode."""
    part = _make_part(e, label, walk.raw)
    walk.parts.append(part)
    raw_fields = {k: v for k in _RAW_FIELDS if (v := e.headers.get(k)) is not None}
    media_type = e.content_type
    if e.kind == "leaf" and media_type in ENCAPSULATING:
        media_type = "application/octet-stream"  # transfer-encoded message: opaque to IMAP
    node = BodyNode(part, media_type, raw_fields)
    if part.filename:
        walk.attachment_names.append(part.filename)
    if e.kind == "multipart":
        has_plain = e.content_type == "multipart/alternative" and any(
            c.content_type == "text/plain" for c in e.children
        )
        for i, child in enumerate(e.children, 1):
            number = f"{prefix}.{i}" if prefix else str(i)
            node.children.append(
                _visit(child, number, number, walk, e.content_type, in_message, has_plain)
            )
    elif e.kind == "message":
        inner = e.children[0]
        node.envelope = envelope_form(inner.headers)
        if not in_message and _is_attachment(part, parent_type):
            walk.has_attachments = True
        inner_label = f"{label}.TEXT" if inner.kind == "multipart" else f"{label}.1"
        inner_prefix = label if inner.kind == "multipart" else inner_label
        node.children.append(_visit(inner, inner_label, inner_prefix, walk, None, True))
    else:
        attachment = _is_attachment(part, parent_type)
        if attachment and not in_message:
            walk.has_attachments = True
        if part.maintype == "text":
            _collect_text(e, part, walk, attachment or in_message, plain_sibling)
    return node


def _collect_text(e: Entity, part: Part, walk: _Walk, secondary: bool, plain_sibling: bool) -> None:
    """Decode a text leaf into ``body_text``; remember the main body for the preview.

    The main body is the first inline text/plain or text/html leaf of the message
    itself, preferring text/plain within a multipart/alternative.
    """
    if walk.text_len > MAX_BODY_TEXT:
        return
    if part.subtype == "html" and plain_sibling:
        return  # the text/plain alternative carries the same text
    data = _decoded_body(e, walk.raw)
    text = decode_bytes(data, part.params.get("charset"))
    if part.subtype == "html":
        text = html_to_text(text[:MAX_HTML_CHARS])
    else:
        text = normalize_newlines(text)
    if part.subtype in ("plain", "html") and not secondary and walk.main_text is None:
        walk.main_text = text
    walk.texts.append(text)
    walk.text_len += len(text)


def _decoded_body(e: Entity, raw: bytes) -> bytes:
    """Transfer-decode a leaf body with the stdlib's own (lenient) decoders."""
    body = raw[e.body_start : e.body_end]
    if e.encoding not in _TRANSFER_ENCODED:
        return body
    msg = Message()
    msg["Content-Transfer-Encoding"] = e.encoding
    msg.set_payload(body.decode("ascii", "surrogateescape"))
    try:
        data = msg.get_payload(decode=True)
    except Exception:
        return body
    return data if isinstance(data, bytes) else body


def _make_part(e: Entity, number: str, raw: bytes) -> Part:
    h = e.headers
    params = h.params()
    demoted = e.content_type != e.declared_type
    if demoted:
        params.pop("boundary", None)
    if e.content_type == "text/plain" and (demoted or not e.explicit_type):
        params.setdefault("charset", "us-ascii")
    start, end = e.body_start, e.body_end
    return Part(
        number=number,
        content_type=e.content_type,
        params=params,
        disposition=h.disposition(),
        disposition_params=h.params("content-disposition"),
        filename=h.filename(),
        content_id=_raw_text(h, "content-id"),
        description=_clean_text(desc) if (desc := h.text("content-description")) else None,
        encoding=e.encoding,
        language=_raw_text(h, "content-language"),
        location=_raw_text(h, "content-location"),
        md5=_raw_text(h, "content-md5"),
        header_start=e.header_start,
        body_start=start,
        body_end=end,
        size=end - start,
        lines=count_lines(raw, start, end),
    )


def count_lines(raw: bytes, start: int, end: int) -> int:
    """Lines in ``raw[start:end]``: line breaks, plus a final unterminated line."""
    if end <= start:
        return 0
    lf = raw.count(b"\n", start, end)
    bare_cr = raw.count(b"\r", start, end) - raw.count(b"\r\n", start, end)
    partial = 0 if raw[end - 1] in (0x0D, 0x0A) else 1
    return lf + bare_cr + partial


def _is_attachment(part: Part, parent_type: str | None) -> bool:
    """Would a mail client list this leaf as an attachment?"""
    if part.is_multipart:
        return False
    if part.disposition == "attachment":
        return True
    if part.content_type in _NOT_ATTACHMENTS or part.disposition == "inline":
        return False
    if parent_type == "multipart/related":
        return False
    return part.filename is not None or part.maintype != "text"


def _raw_text(h: HeaderBlock, name: str) -> str | None:
    value = h.get(name)
    return to_text(value) if value is not None else None


def _clean_text(text: str) -> str:
    """Collapse control characters and folding left in decoded header text."""
    return " ".join(text.split()) if any(c in text for c in "\r\n\t") else text.strip()


def _parse_date(value: bytes | None) -> datetime | None:
    if value is None:
        return None
    try:
        dt = parsedate_to_datetime(to_text(value))
    except Exception:
        return None
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _msg_ids(value: bytes | None) -> list[str]:
    if not value:
        return []
    return [to_text(b"".join(m.split())) for m in _MSG_ID.findall(value)]


def _first_msg_id(value: bytes | None, bare_ok: bool = True) -> str | None:
    ids = _msg_ids(value)
    if ids:
        return ids[0]
    if bare_ok and value and value.strip():
        return to_text(value.strip())
    return None


def _header_text(h: HeaderBlock) -> str:
    return "\n".join(f"{name}: {decode_words(to_text(value))}" for name, value in h.fields)


def fallback_message(raw: bytes) -> ParsedMessage:
    """A minimal but valid description of ``raw`` as one text/plain part."""
    try:
        _, body_start = scan_header(raw, 0, len(raw))
    except Exception:
        body_start = 0
    size, lines = len(raw) - body_start, count_lines(raw, body_start, len(raw))
    part = Part(
        number="1",
        content_type="text/plain",
        params={"charset": "us-ascii"},
        disposition=None,
        disposition_params={},
        filename=None,
        content_id=None,
        description=None,
        encoding="7bit",
        language=None,
        location=None,
        md5=None,
        header_start=0,
        body_start=body_start,
        body_end=len(raw),
        size=size,
        lines=lines,
    )
    body = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d %d' % (size, lines)
    text = raw[body_start:].decode("utf-8", "replace")
    return ParsedMessage(
        date=None,
        subject="",
        from_=[],
        sender=[],
        reply_to=[],
        to=[],
        cc=[],
        bcc=[],
        message_id=None,
        in_reply_to=None,
        references=[],
        base_subject="",
        preview=make_preview(text),
        has_attachments=False,
        parts=[part],
        imap_envelope=b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        imap_body=body + b")",
        imap_bodystructure=body + b" NIL NIL NIL NIL)",
        header_text="",
        body_text=text[:MAX_BODY_TEXT],
        attachment_names=[],
    )
