"""IMAP wire forms: strings, BODY and BODYSTRUCTURE (RFC 3501 / RFC 9051).

Computed once at ingest so FETCH only copies bytes.  Everything returned here is
ready to be placed in a FETCH response as-is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from arobase.mime.model import Part


def imap_string(s: bytes | str) -> bytes:
    """Encode ``s`` as an IMAP string: quoted when possible, otherwise a literal.

    Quoted strings may only carry 7-bit text without CR, LF or NUL (``\\`` and
    ``"`` are escaped); anything else becomes ``{n}\\r\\n`` + bytes.  NUL cannot
    appear in either form, so it is dropped.
    """
    data = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if data.isascii() and b"\r" not in data and b"\n" not in data:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def imap_nstring(s: bytes | str | None) -> bytes:
    """``NIL`` for None, else :func:`imap_string`."""
    return b"NIL" if s is None else imap_string(s)


@dataclass(slots=True)
class BodyNode:
    """What the BODY/BODYSTRUCTURE writers need about one entity.

    ``raw`` holds raw header values (id, description, md5, language, location)
    because IMAP sends them undecoded; ``envelope`` is set for encapsulated
    messages (message/rfc822, message/global).
    """

    part: Part
    media_type: str
    raw: dict[str, bytes]
    children: list[BodyNode] = field(default_factory=list)
    envelope: bytes | None = None


def _params_form(params: dict[str, str]) -> bytes:
    if not params:
        return b"NIL"
    items: list[bytes] = []
    for key, value in params.items():
        if value.isascii():
            items += [imap_string(key.upper()), imap_string(value)]
        else:
            # Keep the wire 7-bit: re-encode as an RFC 2231 extended parameter.
            encoded = "utf-8''" + quote(value.encode("utf-8", "surrogateescape"), safe="")
            items += [imap_string(key.upper() + "*"), imap_string(encoded)]
    return b"(" + b" ".join(items) + b")"


def _disposition_form(part: Part) -> bytes:
    if part.disposition is None:
        return b"NIL"
    return (
        b"("
        + imap_string(part.disposition.upper())
        + b" "
        + _params_form(part.disposition_params)
        + b")"
    )


def _language_form(raw: bytes | None) -> bytes:
    if raw is None:
        return b"NIL"
    langs = [x.strip() for x in raw.split(b",") if x.strip()]
    if not langs:
        return b"NIL"
    if len(langs) == 1:
        return imap_string(langs[0])
    return b"(" + b" ".join(imap_string(x) for x in langs) + b")"


def body_form(node: BodyNode, extended: bool) -> bytes:
    """BODY (``extended=False``) or BODYSTRUCTURE (``extended=True``) of a node."""
    part = node.part
    maintype, _, subtype = node.media_type.partition("/")
    if node.children and maintype == "multipart":
        out = b"(" + b"".join(body_form(c, extended) for c in node.children)
        out += b" " + imap_string(subtype.upper())
        if extended:
            out += b" " + _params_form(part.params) + b" " + _extension_tail(node)
        return out + b")"
    fields = [
        imap_string(maintype.upper()),
        imap_string(subtype.upper()),
        _params_form(part.params),
        imap_nstring(node.raw.get("content-id")),
        imap_nstring(node.raw.get("content-description")),
        imap_string(part.encoding.upper()),
        b"%d" % part.size,
    ]
    if node.envelope is not None and node.children:
        fields += [node.envelope, body_form(node.children[0], extended), b"%d" % part.lines]
    elif maintype == "text":
        fields.append(b"%d" % part.lines)
    if extended:
        fields += [imap_nstring(node.raw.get("content-md5")), _extension_tail(node)]
    return b"(" + b" ".join(fields) + b")"


def _extension_tail(node: BodyNode) -> bytes:
    """Disposition, language and location: shared by single and multi parts."""
    return b" ".join(
        [
            _disposition_form(node.part),
            _language_form(node.raw.get("content-language")),
            imap_nstring(node.raw.get("content-location")),
        ]
    )
