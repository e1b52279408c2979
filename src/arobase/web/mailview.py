"""What the reading pane needs from a stored message: decoded parts, the body to show, attachments,
quoted text folded, links made clickable, and the sender check recorded in Authentication-Results."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from ..mime import ParsedMessage, Part
from ..mime.text import decode_bytes, normalize_newlines
from ..services.delivery import header_fields
from .sanitize import defang


def part_bytes(raw: bytes, part: Part) -> bytes:
    """The decoded body of one part (base64 and quoted-printable undone)."""
    body = raw[part.body_start : part.body_end]
    encoding = part.encoding.lower()
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"==", validate=False)
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    return body


def part_text(raw: bytes, part: Part) -> str:
    return normalize_newlines(decode_bytes(part_bytes(raw, part), part.params.get("charset")))


def is_attachment(part: Part) -> bool:
    """Listed as an attachment: declared so, named, or not text; inline cid images are shown instead."""
    if part.is_multipart:
        return False
    if part.disposition == "attachment":
        return True
    if part.content_id and part.maintype == "image":
        return False
    if part.filename:
        return True
    return part.maintype != "text"


def top_level(parsed: ParsedMessage) -> list[Part]:
    """The parts of this message, not those inside an attached (forwarded) message/rfc822."""
    enclosed = [p.number + "." for p in parsed.parts if p.content_type == "message/rfc822" and p.number]
    return [p for p in parsed.parts if not any(p.number.startswith(prefix) for prefix in enclosed)]


@dataclass(slots=True)
class Body:
    kind: str  # "html", "text" or "none"
    text: str


def choose_body(raw: bytes, parsed: ParsedMessage) -> Body:
    """The HTML body when there is one (multipart/alternative), else the plain text one."""
    html_part = text_part = None
    for part in top_level(parsed):
        if is_attachment(part):
            continue
        if part.content_type == "text/html" and html_part is None:
            html_part = part
        elif part.content_type == "text/plain" and text_part is None:
            text_part = part
    if html_part is not None:
        return Body("html", part_text(raw, html_part))
    if text_part is not None:
        return Body("text", part_text(raw, text_part))
    return Body("none", "")


def attachments(parsed: ParsedMessage) -> list[Part]:
    return [part for part in top_level(parsed) if is_attachment(part)]


def find_cid(parsed: ParsedMessage, cid: str) -> Part | None:
    wanted = cid.strip().strip("<>")
    for part in parsed.parts:
        if part.content_id and part.content_id.strip().strip("<>") == wanted:
            return part
    return None


URL_PATTERN = re.compile(r"\b(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])", re.I)


def linkify(line: str, defanged: bool = False) -> Markup:
    """Escape a line of plain text and turn http(s) URLs into links that open in a new tab.

    In a message flagged as phishing, URLs are instead shown de-fanged (hxxps[://]...), not clickable.
    """
    out = Markup("")
    pos = 0
    for match in URL_PATTERN.finditer(line):
        out += escape(line[pos : match.start()])
        url = match.group(1)
        if defanged:
            out += Markup('<span class="defanged">{0}</span>').format(defang(url))
        else:
            out += Markup('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>').format(url)
        pos = match.end()
    return out + escape(line[pos:])


@dataclass(slots=True)
class TextBlock:
    quoted: bool
    html: Markup


def text_blocks(text: str, defanged: bool = False) -> list[TextBlock]:
    """Plain text split into runs of ordinary and quoted ("> ") lines; quoted runs get folded."""
    blocks: list[TextBlock] = []
    for line in text.split("\n"):
        quoted = line.startswith(">")
        rendered = linkify(line, defanged)
        if blocks and blocks[-1].quoted == quoted:
            blocks[-1].html += Markup("\n") + rendered
        else:
            blocks.append(TextBlock(quoted, rendered))
    return blocks


@dataclass(slots=True)
class SenderCheck:
    status: str  # "verified", "failed" or "unknown"
    domain: str


def sender_check(raw: bytes, authserv_id: str, from_domain: str) -> SenderCheck:
    """Read the Authentication-Results our MX wrote (only ours: others may be forged).

    DMARC pass, or a DKIM pass for the From domain, verifies the sender; a DMARC fail warns.
    """
    fields, _ = header_fields(raw)
    ours = authserv_id.strip().lower()
    for name, value in fields:
        if name != "authentication-results":
            continue
        text = value.decode("utf-8", "replace")
        if text.split(";", 1)[0].strip().lower() != ours:
            continue
        lowered = text.lower()
        if "dmarc=pass" in lowered:
            return SenderCheck("verified", from_domain)
        for match in re.finditer(r"dkim=pass[^;]*header\.d=([^\s;]+)", lowered):
            if match.group(1).strip('"') == from_domain.lower():
                return SenderCheck("verified", from_domain)
        if "dmarc=fail" in lowered:
            return SenderCheck("failed", from_domain)
        return SenderCheck("unknown", from_domain)
    return SenderCheck("unknown", from_domain)
