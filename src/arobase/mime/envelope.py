"""Address lists and the IMAP ENVELOPE, built from raw (undecoded) header bytes.

IMAP sends names exactly as they appear (encoded-words included), so addresses
are parsed from the raw bytes with a small, forgiving RFC 5322 tokenizer rather
than from the stdlib's decoded view.  Readers get a decoded copy via
:func:`decoded_addresses`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arobase.mime.headers import HeaderBlock, decode_words, to_text
from arobase.mime.imapforms import imap_nstring
from arobase.mime.model import Address


@dataclass(frozen=True, slots=True)
class RawAddress:
    """An address as IMAP sends it: ``(name route mailbox host)``, raw bytes."""

    name: bytes | None
    route: bytes | None
    mailbox: bytes | None
    host: bytes | None


@dataclass(slots=True)
class _Token:
    kind: str  # "atom", "quoted", "special", "literal"
    value: bytes
    space_before: bool


_SIMPLE = re.compile(rb'([ \t\r\n]+)|([^<>@,;:.\[\]" \t\r\n()]+)|(.)', re.DOTALL)


def _tokenize(value: bytes) -> tuple[list[_Token], list[list[bytes]]]:
    """Split a structured header into tokens.

    ``comments[k + 1]`` holds the comments that follow token ``k`` (``comments[0]``
    those before the first token); they are only used as a fallback display name.
    """
    tokens: list[_Token] = []
    comments: list[list[bytes]] = [[]]
    i, n = 0, len(value)
    space = False
    while i < n:
        ch = value[i]
        if ch == 0x28:  # "(" comment, nested, with quoted-pairs
            i = _comment(value, i + 1, comments[-1])
            space = True
            continue
        if ch == 0x22:  # quoted string
            j, buf = i + 1, bytearray()
            while j < n and value[j] != 0x22:
                if value[j] == 0x5C and j + 1 < n:
                    j += 1
                buf.append(value[j])
                j += 1
            tokens.append(_Token("quoted", bytes(buf), space))
            i = j + 1
        elif ch == 0x5B:  # "[" domain literal
            j = value.find(b"]", i)
            j = n if j == -1 else j + 1
            tokens.append(_Token("literal", value[i:j], space))
            i = j
        else:
            m = _SIMPLE.match(value, i)
            assert m is not None  # the last group matches any byte
            i = m.end()
            if m.group(1):
                space = True
                continue
            kind = "atom" if m.group(2) else "special"
            tokens.append(_Token(kind, m.group(), space))
        comments.append([])
        space = False
    return tokens, comments


def _comment(value: bytes, i: int, into: list[bytes]) -> int:
    """Read a (nested) comment body starting after "("; return the index after it."""
    depth, buf, n = 1, bytearray(), len(value)
    while i < n:
        c = value[i]
        if c == 0x5C and i + 1 < n:
            buf.append(value[i + 1])
            i += 2
            continue
        i += 1
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                break
        buf.append(c)
    into.append(bytes(buf).strip())
    return i


def _phrase(tokens: list[_Token]) -> bytes | None:
    """Join display-name words: quotes removed, single spaces where there were any."""
    out = bytearray()
    for k, tok in enumerate(tokens):
        if k and tok.space_before:
            out += b" "
        out += tok.value
    text = bytes(out).strip()
    return text or None


def _is_special(tok: _Token, chars: bytes) -> bool:
    return tok.kind == "special" and tok.value[0] in chars


def _join(tokens: list[_Token]) -> bytes:
    return b"".join(t.value for t in tokens)


def parse_address_list(value: bytes | None) -> list[RawAddress]:
    """Parse an address-list header value into IMAP address tuples (raw bytes).

    Groups become a start marker ``(NIL NIL name NIL)`` and an end marker
    ``(NIL NIL NIL NIL)``.  Never raises; junk degrades to odd addresses.
    """
    if not value:
        return []
    tokens, comments = _tokenize(value)
    out: list[RawAddress] = []
    pending: list[_Token] = []
    pending_comments: list[bytes] = list(comments[0])
    in_group = False
    i, n = 0, len(tokens)

    def flush() -> None:
        if pending:
            name = pending_comments[-1] if pending_comments else None
            out.append(RawAddress(name or None, None, _phrase(pending) or b"", b""))

    while i < n:
        tok = tokens[i]
        special = tok.value if tok.kind == "special" else b""
        if special == b"<":
            name = _phrase(pending)
            i, route, mailbox, host = _angle_addr(tokens, i + 1)
            out.append(RawAddress(name, route, mailbox, host))
            while i < n and not _is_special(tokens[i], b",;"):
                i += 1  # junk after the angle address
            pending, pending_comments = [], []
            continue
        if special == b"@":
            j = i + 1
            while j < n and not _is_special(tokens[j], b",;<"):
                j += 1
            after = [c for k in range(i, j + 1) for c in comments[k]]
            name = next((c for c in reversed(pending_comments + after) if c), None)
            # "John Smith john@x" (brackets forgotten): the last word is the mailbox.
            split = max((k for k, t in enumerate(pending) if k and t.space_before), default=0)
            if split:
                name = _phrase(pending[:split])
            local = _join(pending[split:])
            out.append(RawAddress(name, None, local, _join(tokens[i + 1 : j])))
            pending, pending_comments = [], []
            i = j
            continue
        if special == b":" and not in_group:
            out.append(RawAddress(None, None, _phrase(pending) or b"", None))
            in_group = True
        elif special in (b",", b";"):
            flush()
            if special == b";" and in_group:
                out.append(RawAddress(None, None, None, None))
                in_group = False
        else:
            pending.append(tok)
            pending_comments.extend(comments[i + 1])
            i += 1
            continue
        pending, pending_comments = [], list(comments[i + 1])
        i += 1
    flush()
    if in_group:
        out.append(RawAddress(None, None, None, None))
    return out


def _angle_addr(tokens: list[_Token], i: int) -> tuple[int, bytes | None, bytes, bytes]:
    """Parse ``[route:]local@domain>`` starting after ``<``; return (next, route, mbox, host)."""
    n = len(tokens)
    route: bytes | None = None
    # Obsolete source route: "@a,@b:".
    if i < n and _is_special(tokens[i], b"@"):
        j = i
        while j < n and not _is_special(tokens[j], b":>"):
            j += 1
        if j < n and _is_special(tokens[j], b":"):
            route = _join(tokens[i:j])
            i = j + 1
    local: list[_Token] = []
    while i < n and not _is_special(tokens[i], b"@>"):
        local.append(tokens[i])
        i += 1
    domain: list[_Token] = []
    if i < n and _is_special(tokens[i], b"@"):
        i += 1
        while i < n and not _is_special(tokens[i], b">"):
            domain.append(tokens[i])
            i += 1
    if i < n and _is_special(tokens[i], b">"):
        i += 1
    return i, route, _join(local), _join(domain)


def decoded_addresses(raw: list[RawAddress]) -> list[Address]:
    """Readers' view: names with encoded-words decoded, everything as ``str``."""
    out: list[Address] = []
    for a in raw:
        name = decode_words(to_text(a.name)).strip() if a.name is not None else None
        out.append(
            Address(
                name or None,
                to_text(a.mailbox) if a.mailbox is not None else None,
                to_text(a.host) if a.host is not None else None,
            )
        )
    return out


def _address_list_form(addrs: list[RawAddress]) -> bytes:
    if not addrs:
        return b"NIL"
    items = b"".join(
        b"("
        + b" ".join(imap_nstring(x) for x in (a.name, a.route, a.mailbox, a.host))
        + b")"
        for a in addrs
    )
    return b"(" + items + b")"


ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")


def header_addresses(headers: HeaderBlock) -> dict[str, list[RawAddress]]:
    """Raw address lists of the six envelope address fields, parsed once."""
    return {name: parse_address_list(headers.get(name)) for name in ADDRESS_FIELDS}


def envelope_form(
    headers: HeaderBlock, addresses: dict[str, list[RawAddress]] | None = None
) -> bytes:
    """The IMAP ENVELOPE of a message header (RFC 3501/9051 section 7.5.2).

    Sender and Reply-To fall back to From when absent or empty, as RFC 3501 asks.
    """
    a = addresses if addresses is not None else header_addresses(headers)
    from_ = a["from"]
    items = [
        imap_nstring(headers.get("date")),
        imap_nstring(headers.get("subject")),
        _address_list_form(from_),
        _address_list_form(a["sender"] or from_),
        _address_list_form(a["reply-to"] or from_),
        _address_list_form(a["to"]),
        _address_list_form(a["cc"]),
        _address_list_form(a["bcc"]),
        imap_nstring(headers.get("in-reply-to")),
        imap_nstring(headers.get("message-id")),
    ]
    return b"(" + b" ".join(items) + b")"
