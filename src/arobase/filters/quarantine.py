"""Quarantine: take dangerous attachments out of a message and keep the original aside.

The recipient still gets the message, with each dangerous attachment replaced by a short note
saying what was removed and why; the original bytes stay in the store until an administrator
releases (delivers the original) or deletes them (`arobase quarantine ...`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..mime import ParsedMessage
from .attachments import Finding

NOTE_HEADERS = (
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 8bit\r\n"
)


def note(filename: str, reasons: Sequence[str]) -> bytes:
    """The text that replaces an attachment."""
    lines = [
        f"The attachment {filename!r} was removed by the mail server because it",
        *[f"  - {reason}" for reason in reasons],
        "",
        "The original message is kept in quarantine. If you expected this file and trust the",
        "sender, ask your mail administrator to release it.",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def strip_attachments(raw: bytes, parsed: ParsedMessage, findings: dict[str, list[Finding]]) -> bytes:
    """`raw` with every part named in `findings` (by part number) replaced by a note."""
    parts = sorted((p for p in parsed.parts if p.number in findings), key=lambda p: p.header_start, reverse=True)
    out = raw
    for part in parts:
        reasons = [f.reason for f in findings[part.number]]
        name = findings[part.number][0].filename
        if part.header_start == 0:  # the whole message is the attachment: keep its other header fields
            out = _replace_root(out, part.body_start, note(name, reasons))
        else:
            out = out[: part.header_start] + NOTE_HEADERS + b"\r\n" + note(name, reasons) + out[part.body_end :]
    return out


def _replace_root(raw: bytes, body_start: int, text: bytes) -> bytes:
    kept: list[bytes] = []
    dropping = False
    for line in raw[:body_start].split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.lower().startswith((b"content-", b"mime-version"))
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\nMIME-Version: 1.0\r\n" + NOTE_HEADERS + b"\r\n" + text
