"""Header blocks: find them the way the stdlib does, keep raw values, decode on demand.

IMAP wants the raw (still encoded) header values while readers want decoded text,
so a :class:`HeaderBlock` keeps both views: the raw unfolded bytes of every field,
and a stdlib ``Message`` holding the MIME fields for parameter parsing.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import Compat32
from email.utils import collapse_rfc2231_value
from typing import Any

from arobase.mime.text import decode_bytes

# A line the stdlib feed parser accepts as part of a header block.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
_EOL = re.compile(rb"\r\n|\r|\n")
_EOL_STR = re.compile(r"\r\n|\r|\n")
_LINES_STR = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def scan_header(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Return ``(header_end, body_start)`` for the entity starting at ``start``.

    Mirrors ``email.feedparser``: the header runs while lines look like header
    lines; a blank line ends it and is skipped, any other line starts the body.
    """
    pos = start
    while pos < end:
        m = _EOL.search(raw, pos, end)
        nxt = m.end() if m else end
        if _HEADER_LINE.match(raw, pos, nxt):
            pos = nxt
            continue
        if raw[pos] in (0x0D, 0x0A):
            return pos, nxt
        return pos, pos
    return end, end


def to_text(data: bytes) -> str:
    """Decode 8-bit header bytes: UTF-8 (RFC 6532) first, then Windows-1252/Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")


def decode_words(text: str) -> str:
    """Resolve RFC 2047 encoded-words, leniently and in linear time, never raising.

    Whitespace between adjacent encoded-words is dropped and adjacent words in
    the same charset are joined before decoding (mailers split multi-byte
    characters across words).  Words glued to other text are decoded too, as
    most mail clients do.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    for m in _ENCODED_WORD.finditer(text):
        between = text[pos : m.start()]
        if not (pending_charset and not between.strip()):
            if pending_charset:
                out.append(decode_bytes(bytes(pending), pending_charset))
                pending.clear()
                pending_charset = ""
            out.append(between)
        charset = m.group(1).split("*", 1)[0].lower()  # RFC 2231 "charset*lang"
        if pending_charset and charset != pending_charset:
            out.append(decode_bytes(bytes(pending), pending_charset))
            pending.clear()
        pending_charset = charset
        pending += _word_bytes(m.group(2), m.group(3))
        pos = m.end()
    if pending_charset:
        out.append(decode_bytes(bytes(pending), pending_charset))
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes:
    data = payload.encode("ascii", "replace")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    data = data[: len(data) // 4 * 4 + (len(data) % 4 if len(data) % 4 > 1 else 0)]
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""


@dataclass(slots=True)
class HeaderBlock:
    """The fields of one header block, raw and as a stdlib message."""

    fields: list[tuple[str, bytes]]
    mime: Message
    _params_cache: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def get(self, name: str) -> bytes | None:
        """Raw unfolded value of the first field called ``name``."""
        name = name.lower()
        for key, value in self.fields:
            if key.lower() == name:
                return value
        return None

    def text(self, name: str) -> str | None:
        """Decoded value of the first field called ``name``."""
        value = self.get(name)
        if value is None:
            return None
        return decode_words(to_text(value))

    def content_type(self) -> str:
        """The stdlib's idea of the content type (what drives its parsing)."""
        try:
            return _clean(self.mime.get_content_type())
        except Exception:
            return self.mime.get_default_type()

    def boundary(self) -> bytes | None:
        """The multipart boundary as bytes (as ``Message.get_boundary``), for raw lines."""
        value = self._param("boundary", "content-type")
        if value is None:
            return None
        return _collapse(value).rstrip().encode("utf-8", "surrogateescape")

    def params(self, header: str = "content-type") -> dict[str, str]:
        """RFC 2231-decoded parameters, lower-case names, first occurrence wins."""
        out: dict[str, str] = {}
        for key, value in self._raw_params(header)[1:]:
            key = key.strip().lower()
            if not key or key in out:
                continue
            text = _clean(_collapse(value))
            out[key] = text if key == "boundary" else decode_words(text)
        return out

    def disposition(self) -> str | None:
        try:
            disposition = self.mime.get_content_disposition()
        except Exception:
            return None
        return _clean(disposition) if disposition is not None else None

    def filename(self) -> str | None:
        """Like ``Message.get_filename``, plus encoded-word decoding (common in the wild)."""
        value = self._param("filename", "content-disposition")
        if value is None:
            value = self._param("name", "content-type")
        if value is None:
            return None
        name = decode_words(_clean(_collapse(value))).strip()
        return name or None

    def _raw_params(self, header: str) -> list[tuple[str, Any]]:
        """``Message.get_params`` for ``header``, computed once (it is not cheap)."""
        cached = self._params_cache.get(header)
        if cached is None:
            try:
                cached = self.mime.get_params(header=header) or []
            except Exception:
                cached = []
            self._params_cache[header] = cached
        return cached

    def _param(self, name: str, header: str) -> Any:
        for key, value in self._raw_params(header):
            if key.lower() == name:
                return value
        return None


def _collapse(value: Any) -> str:
    try:
        return collapse_rfc2231_value(value)
    except Exception:
        return value if isinstance(value, str) else str(value)


_SURROGATES = re.compile("[\udc80-\udcff]")


def _clean(text: str) -> str:
    """Replace surrogate-escaped bytes the stdlib may hand back."""
    if _SURROGATES.search(text):
        return to_text(text.encode("utf-8", "surrogateescape"))
    return text


class _RawPolicy(Compat32):
    """compat32 without its 8-bit sanitising (which turns values into Header objects)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_RAW_POLICY = _RawPolicy()
# Fields the stdlib consults to shape the MIME tree and decode bodies.
_MIME_FIELDS = ("content-type", "content-disposition", "content-transfer-encoding")
MAX_MIME_FIELD = 16384
"""MIME fields are cut to this length before parameter parsing (which is quadratic)."""


def parse_header_block(raw: bytes, start: int, end: int, default_type: str) -> HeaderBlock:
    """Split ``raw[start:end]`` into fields exactly as ``email.feedparser`` would.

    MIME parameters are then read, unfolded, with the stdlib's lenient compat32
    helpers: unlike ``policy.default`` they accept the unquoted
    ``boundary=----=_Part_1`` that real mailers send, and they run in linear time.
    """
    text = raw[start:end].decode("ascii", "surrogateescape")
    groups: list[list[str]] = []
    current: list[str] | None = None
    for line in _LINES_STR.findall(text):
        if line[0] in " \t":
            if current is not None:
                current.append(line)
            continue
        current = None
        if line.startswith("From "):
            continue  # mbox envelope line (or a misplaced one): not a field
        i = line.find(":")
        if i <= 0:
            continue
        current = [line]
        groups.append(current)
    msg = Message(policy=_RAW_POLICY)
    if default_type != "text/plain":
        msg.set_default_type(default_type)
    fields: list[tuple[str, bytes]] = []
    for lines in groups:
        name, value = _RAW_POLICY.header_source_parse(lines)
        key = name.lower()
        if key in _MIME_FIELDS and msg.get(key) is None:
            msg.set_raw(name, _EOL_STR.sub("", value[:MAX_MIME_FIELD]))
        raw_value = _EOL_STR.sub("", value).strip(" \t")
        fields.append((name, raw_value.encode("ascii", "surrogateescape")))
    return HeaderBlock(fields, msg)
