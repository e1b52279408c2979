"""Serializing IMAP responses: strings in their right form, flags, dates, sequence sets, status lines.

Every function returns `bytes` ready for the wire, without the trailing CRLF unless it says so.
The form of a string is chosen from its content: an atom where the grammar allows one and the
text fits, a quoted string for short 7-bit text, a literal otherwise (CR, LF, NUL-free 8-bit).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from . import utf7
from .ast import STAR, SequenceSet

CRLF = b"\r\n"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# atom-specials: ( ) { SP CTL % * " \ ]  (and 8-bit); ASTRING-CHAR adds ] back
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')


def is_atom(data: bytes, *, astring: bool = False) -> bool:
    """Can `data` be sent as an atom (or, with `astring`, as ASTRING-CHAR+ which allows `]`)?"""
    if not data:
        return False
    for byte in data:
        if byte <= 0x20 or byte >= 0x7F or (byte in _ATOM_SPECIALS and not (astring and byte == 0x5D)):
            return False
    return True


def quoted(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(data: bytes, *, binary: bool = False) -> bytes:
    """`{n}CRLF` + data, or `~{n}CRLF` + data for BINARY fetch responses."""
    return (b"~{%d}\r\n" if binary else b"{%d}\r\n") % len(data) + data


def string(value: bytes | str, *, utf8: bool = False) -> bytes:
    """A quoted string when possible, a literal otherwise.

    With `utf8` (UTF8=ACCEPT enabled or IMAP4rev2) UTF-8 may be quoted; otherwise 8-bit goes in
    a literal. NUL cannot be in either and is dropped.
    """
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if b"\r" in data or b"\n" in data or len(data) > 1000:
        return literal(data)
    if data.isascii():
        return quoted(data)
    if utf8:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return literal(data)
        return quoted(data)
    return literal(data)


def astring(value: bytes | str, *, utf8: bool = False) -> bytes:
    """An atom (ASTRING-CHAR+) when possible, else `string`; NIL stays quoted so it is not nil."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if is_atom(data, astring=True) and data.upper() != b"NIL":
        return data
    return string(data, utf8=utf8)


def nstring(value: bytes | str | None, *, utf8: bool = False) -> bytes:
    return b"NIL" if value is None else string(value, utf8=utf8)


def mailbox(name: str, *, utf8: bool = False) -> bytes:
    """A mailbox name on the wire: UTF-8 when enabled, modified UTF-7 otherwise; INBOX as an atom."""
    if name.upper() == "INBOX":
        return b"INBOX"
    return astring(name if utf8 else utf7.encode(name), utf8=utf8)


def flag_list(flags: Iterable[str]) -> bytes:
    """`(\\Seen $Forwarded)`, system flags first in a stable order, then keywords sorted."""
    ordered = sorted(flags, key=lambda f: (not f.startswith("\\"), f.lower()))
    return b"(" + " ".join(ordered).encode("ascii", "replace") + b")"


def date_time(moment: datetime) -> bytes:
    """INTERNALDATE form: `"17-Jul-1996 02:44:25 -0700"` (quoted, day space-padded)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    text = (
        f"{moment.day:2d}-{MONTHS[moment.month - 1]}-{moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {sign}{minutes // 60:02d}{minutes % 60:02d}"
    )
    return b'"' + text.encode("ascii") + b'"'


def sequence_set(value: SequenceSet | Iterable[int]) -> bytes:
    """`1:3,7,9:*`; from a SequenceSet as written, or from numbers compressed into ranges."""
    if isinstance(value, SequenceSet):
        if value.saved:
            return b"$"
        parts = []
        for first, last in value.ranges:
            a = b"*" if first == STAR else str(first).encode()
            b = b"*" if last == STAR else str(last).encode()
            parts.append(a if first == last else a + b":" + b)
        return b",".join(parts)
    ranges: list[list[int]] = []
    for number in sorted(set(value)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in ranges)


def code(text: str | None) -> bytes:
    """A response code, bracketed, with a trailing space; empty when None."""
    return b"[" + text.encode("utf-8") + b"] " if text else b""


def tagged(tag: str, status: str, text: str, response_code: str | None = None) -> bytes:
    """`tag OK [CODE] text` + CRLF."""
    return tag.encode("ascii") + b" " + status.encode("ascii") + b" " + code(response_code) + _text(text) + CRLF


def untagged(data: bytes) -> bytes:
    """`* data` + CRLF."""
    return b"* " + data + CRLF


def status_line(status: str, text: str, response_code: str | None = None) -> bytes:
    """`* OK [CODE] text` + CRLF (also NO, BAD, BYE, PREAUTH)."""
    return b"* " + status.encode("ascii") + b" " + code(response_code) + _text(text) + CRLF


def continuation(text: str | bytes = "") -> bytes:
    """`+ text` + CRLF (`text` is base64 already during AUTHENTICATE)."""
    if not text:
        return b"+ " + CRLF
    return b"+ " + (text if isinstance(text, bytes) else _text(text)) + CRLF


def _text(text: str) -> bytes:
    """Human-readable text: one line, never empty (some clients choke on `OK ` alone)."""
    cleaned = text.replace("\r", " ").replace("\n", " ").strip() or "done"
    return cleaned.encode("utf-8", "replace")
