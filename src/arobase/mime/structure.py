"""Byte-level MIME tree with offsets.

The stdlib ``email`` parser builds a tree but forgets where each entity lives in
the raw bytes, which IMAP needs for BODY[n], BODY[n.MIME] and partial fetches.
This module walks the raw bytes itself, following the same rules as
``email.feedparser`` (universal line endings, boundary lines, the line break
before a boundary belonging to the boundary), so both views agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from arobase.mime.headers import HeaderBlock, parse_header_block, scan_header

Kind = Literal["leaf", "multipart", "message"]

MAX_DEPTH = 50
"""Entities nested deeper than this are kept as opaque leaves (no recursion bombs)."""
MAX_PARTS = 5000
"""At most this many entities per message; the rest stays inside the last part's body."""

ENCAPSULATING = frozenset({"message/rfc822", "message/global"})
"""Types whose body is a whole message that IMAP describes with an envelope."""

IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})

_BOUNDARY_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")


@dataclass(slots=True)
class Entity:
    """One MIME entity: where it is in the raw bytes and what it contains.

    ``content_type`` is the effective type: a multipart whose boundary is
    missing or never found is demoted to ``text/plain`` (``declared_type`` keeps
    what the header said).  ``kind`` tells how the body is to be read.
    """

    header_start: int
    body_start: int
    body_end: int
    headers: HeaderBlock
    content_type: str
    declared_type: str
    kind: Kind
    encoding: str
    explicit_type: bool
    children: list[Entity] = field(default_factory=list)


@dataclass(slots=True)
class _Budget:
    left: int = MAX_PARTS


def parse_structure(raw: bytes) -> Entity:
    """Parse the whole message into an :class:`Entity` tree."""
    return _parse_entity(raw, 0, len(raw), len(raw), "text/plain", 0, _Budget())


def cte_of(headers: HeaderBlock) -> str:
    """The Content-Transfer-Encoding token, lower-case, ``"7bit"`` when absent."""
    value = headers.get("content-transfer-encoding")
    if value is None:
        return "7bit"
    token = re.split(rb"[\s;(]", value.strip(), maxsplit=1)[0]
    text = token.decode("ascii", "replace").lower()
    return text or "7bit"


def _parse_entity(
    raw: bytes,
    start: int,
    end: int,
    content_end: int,
    default_type: str,
    depth: int,
    budget: _Budget,
) -> Entity:
    budget.left -= 1
    header_end, body_start = scan_header(raw, start, end)
    headers = parse_header_block(raw, start, header_end, default_type)
    declared = headers.content_type()
    encoding = cte_of(headers)
    explicit = _has_valid_type(headers)
    body_end = max(body_start, min(content_end, end))
    entity = Entity(
        header_start=start,
        body_start=body_start,
        body_end=body_end,
        headers=headers,
        content_type=declared,
        declared_type=declared,
        kind="leaf",
        encoding=encoding,
        explicit_type=explicit,
    )
    if depth >= MAX_DEPTH or budget.left <= 0:
        if declared.startswith("multipart/") or declared in ENCAPSULATING:
            entity.content_type = "application/octet-stream"  # opaque: not descended
        return entity
    maintype = declared.partition("/")[0]
    if declared in ENCAPSULATING and encoding in IDENTITY_ENCODINGS:
        inner = _parse_entity(raw, body_start, end, body_end, "text/plain", depth + 1, budget)
        entity.kind = "message"
        entity.children.append(inner)
    elif maintype == "multipart":
        boundary = headers.boundary()
        spans = None if boundary is None else _split_multipart(raw, body_start, end, boundary)
        if not spans:
            entity.content_type = "text/plain"
            return entity
        if len(spans) > budget.left:  # keep the first ones; the last swallows the rest
            spans = spans[: max(1, budget.left)]
            spans[-1] = (spans[-1][0], end)
        entity.kind = "multipart"
        child_default = "message/rfc822" if declared == "multipart/digest" else "text/plain"
        for cs, ce in spans:
            child_end = min(_strip_eol(raw, cs, ce), body_end)
            entity.children.append(
                _parse_entity(raw, cs, ce, child_end, child_default, depth + 1, budget)
            )
    return entity


def _has_valid_type(headers: HeaderBlock) -> bool:
    value = headers.get("content-type")
    if value is None:
        return False
    return value.split(b";", 1)[0].count(b"/") == 1


def _strip_eol(raw: bytes, start: int, end: int) -> int:
    """Drop the line break right before a boundary line: it belongs to the boundary."""
    if end - start >= 2 and raw[end - 2 : end] == b"\r\n":
        return end - 2
    if end > start and raw[end - 1] in (0x0D, 0x0A):
        return end - 1
    return end


def _boundary_lines(
    raw: bytes, start: int, end: int, boundary: bytes
) -> list[tuple[int, int, bool]]:
    """All ``(line_start, next_line_start, is_close)`` boundary lines in a region."""
    delimiter = b"--" + boundary
    found: list[tuple[int, int, bool]] = []
    pos = raw.find(delimiter, start, end)
    while pos != -1:
        if pos == start or raw[pos - 1] in (0x0D, 0x0A):
            m = _BOUNDARY_TAIL.match(raw, pos + len(delimiter), end)
            if m:
                found.append((pos, m.end(), m.group(1) is not None))
        pos = raw.find(delimiter, pos + 1, end)
    return found


def _split_multipart(
    raw: bytes, start: int, end: int, boundary: bytes
) -> list[tuple[int, int]] | None:
    """Child spans ``(start, end)`` of a multipart body, or None if it has no parts.

    Like the stdlib: a run of consecutive boundary lines opens a single part, and
    the first boundary line must be a delimiter (not the close delimiter).
    """
    lines = _boundary_lines(raw, start, end, boundary)
    if not lines or lines[0][2]:
        return None
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(lines) and not lines[i][2]:
        pos = lines[i][1]
        j = i + 1
        while j < len(lines) and lines[j][0] == pos:
            pos = lines[j][1]
            j += 1
        child_end = lines[j][0] if j < len(lines) else end
        spans.append((pos, child_end))
        i = j
    return spans
