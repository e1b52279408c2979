"""What a message shows and links to: decoded parts, HTML links, forms, hidden text, URLs.

Every filter (tokens, rules, phishing, attachments) reads the message through one `Content`, built
once per message from the ingest parse (`ParsedMessage` offsets), so no filter decodes twice.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urlsplit

from ..mime import ParsedMessage
from ..mime.model import Part
from ..mime.text import decode_bytes

MAX_DECODED = 8 * 1024 * 1024  # bytes decoded per part for inspection
MAX_HTML = 1_000_000  # characters of HTML parsed for links and forms
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'()\[\]{}]{2,2000}", re.IGNORECASE)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0*[01](?:px|pt)?\s*(?:;|$)|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Link:
    """One <a href>: where it goes and the text the reader sees."""

    href: str
    text: str

    @property
    def host(self) -> str:
        return url_host(self.href)


@dataclass(slots=True)
class Attachment:
    """A part a user would open: its name, declared type and decoded bytes."""

    number: str
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Content:
    parsed: ParsedMessage
    raw: bytes
    headers: list[tuple[str, str]]  # unfolded (lower-case name, decoded-ish value) in order
    text: str  # plain-text body (parse's body_text)
    html: str  # every text/html part, concatenated
    has_plain: bool
    links: list[Link] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # in text and hrefs
    forms: int = 0
    password_inputs: int = 0
    scripts: int = 0
    hidden_text: str = ""  # text in elements styled invisible
    attachments: list[Attachment] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def url_host(url: str) -> str:
    """The lower-case host of a URL ("" when there is none); "www.x" without a scheme counts."""
    if url.lower().startswith("www."):
        url = "http://" + url
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def decode_part(raw: bytes, part: Part) -> bytes:
    """A leaf part's body without its transfer encoding (bounded); broken encodings give their best."""
    body = raw[part.body_start : min(part.body_end, part.body_start + MAX_DECODED * 2)]
    encoding = part.encoding.lower()
    if encoding == "base64":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
        cleaned = cleaned[:-1] if len(cleaned) % 4 == 1 else cleaned + b"=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)[:MAX_DECODED]
        except (binascii.Error, ValueError):
            return b""
    if encoding == "quoted-printable":
        return quopri.decodestring(body)[:MAX_DECODED]
    return body[:MAX_DECODED]


def header_list(raw: bytes, end: int) -> list[tuple[str, str]]:
    """The top-level header fields, unfolded, names in lower case, values as text."""
    fields: list[tuple[str, str]] = []
    for line in raw[:end].split(b"\r\n") if b"\r\n" in raw[:end] else raw[:end].split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if fields:
                name, value = fields[-1]
                fields[-1] = (name, value + " " + line.strip().decode("utf-8", "replace"))
            continue
        name, colon, value = line.partition(b":")
        if colon and name and not name.endswith(b" "):
            fields.append((name.decode("ascii", "replace").lower(), value.strip().decode("utf-8", "replace")))
    return fields


def extract(raw: bytes, parsed: ParsedMessage) -> Content:
    """Build the Content of a message: headers, text, HTML facts and attachments."""
    root = parsed.parts[0] if parsed.parts else None
    headers = header_list(raw, root.body_start if root else len(raw))
    html_chunks: list[str] = []
    has_plain = False
    attachments: list[Attachment] = []
    for part in parsed.parts:
        if part.is_multipart or part.number.endswith(".TEXT"):
            continue
        named = part.filename or part.params.get("name")
        is_attachment = bool(named) or part.disposition == "attachment"
        if part.content_type == "message/rfc822":
            continue  # its own parts are listed after it
        if is_attachment or part.maintype not in ("text", "multipart"):
            data = decode_part(raw, part)
            attachments.append(Attachment(part.number, named or "", part.content_type, data))
            if part.content_type == "text/html":
                html_chunks.append(_text(data, part))
            continue
        if part.content_type == "text/html":
            html_chunks.append(_text(decode_part(raw, part), part))
        elif part.maintype == "text":
            has_plain = True
    html = "\n".join(html_chunks)
    content = Content(parsed, raw, headers, parsed.body_text, html, has_plain, attachments=attachments)
    if html:
        scan = _HTMLScan(html[:MAX_HTML])
        content.links = scan.links
        content.forms, content.password_inputs, content.scripts = scan.forms, scan.password_inputs, scan.scripts
        content.hidden_text = " ".join(scan.hidden).strip()
    urls = [link.href for link in content.links if link.href.lower().startswith(("http", "www."))]
    urls += _URL.findall(parsed.body_text[:MAX_HTML])
    content.urls = list(dict.fromkeys(u.rstrip(".,;:!?") for u in urls))[:500]
    return content


def _text(data: bytes, part: Part) -> str:
    return decode_bytes(data, part.params.get("charset", ""))


_TAG = re.compile(  # a whole script or style element first: its content is never text
    r"<(script|style)\b[^>]*>.*?(?:</(?:script|style)\s*>|$)"
    r"|<!--.*?(?:-->|$)|<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>",
    re.DOTALL | re.IGNORECASE,
)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_VOID = frozenset({"br", "img", "input", "meta", "link", "hr", "area", "base", "col", "embed", "source", "wbr"})


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in _ATTR.findall(text):
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        out.setdefault(name.lower(), unescape(value))
    return out


class _HTMLScan:
    """Links with their visible text, forms, password fields, scripts and invisible text.

    A single regular-expression pass over the tags: html.parser's per-character state machine cost
    several milliseconds per HTML message, most of the pipeline's time, for facts that need no tree.
    """

    def __init__(self, html: str) -> None:
        self.links: list[Link] = []
        self.forms = self.password_inputs = self.scripts = 0
        self.hidden: list[str] = []
        href: str | None = None
        text: list[str] = []
        hidden_depth = 0  # open elements styled invisible (and everything inside them)
        stack: list[bool] = []  # per open element: is it hidden
        position = 0
        for match in _TAG.finditer(html):
            if (href is not None or hidden_depth) and match.start() > position:
                data = unescape(html[position : match.start()])
                if href is not None:
                    text.append(data)
                if hidden_depth and data.strip():
                    self.hidden.append(data.strip())
            position = match.end()
            if match.group(1):  # a whole <script> or <style> element
                self.scripts += match.group(1).lower() == "script"
                continue
            tag = match.group(3)
            if tag is None:  # a comment
                continue
            tag = tag.lower()
            closing = bool(match.group(2))
            if closing:
                if tag == "a" and href is not None:
                    self.links.append(Link(href, " ".join("".join(text).split())))
                    href = None
                if tag not in _VOID and stack:
                    hidden_depth -= stack.pop()
                continue
            raw = match.group(4)
            lowered = raw.lower()
            # Attributes matter for links, inputs and possibly invisible elements only.
            wanted = tag in ("a", "input") or "style" in lowered or "hidden" in lowered
            values = _attributes(raw) if wanted and raw.strip() else {}
            if tag == "a" and values.get("href"):
                if href is not None:  # an <a> left open: close it as a browser would
                    self.links.append(Link(href, " ".join("".join(text).split())))
                href, text = values["href"].strip(), []
            elif tag == "form":
                self.forms += 1
            elif tag == "input" and values.get("type", "").lower() == "password":
                self.password_inputs += 1
            if tag not in _VOID and not raw.rstrip().endswith("/"):
                style = values.get("style")
                hidden = bool(style and _HIDDEN_STYLE.search(style)) or "hidden" in values
                stack.append(hidden)
                hidden_depth += hidden
        if href is not None:  # an <a> still open at the end: the rest is its text
            text.append(unescape(html[position:]))
            self.links.append(Link(href, " ".join("".join(text).split())))
