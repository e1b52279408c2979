"""Modified UTF-7 (RFC 3501 section 5.1.3): how IMAP4rev1 clients write non-ASCII mailbox names.

Printable ASCII stands for itself except `&`, written `&-`; other characters are UTF-16 in a
modified base64 (`,` instead of `/`, no padding) between `&` and `-`. Decoding is strict: the
same name has one encoding only, so two spellings can never reach two different mailboxes.
"""

from __future__ import annotations

import base64
import binascii


class UTF7Error(ValueError):
    """Not valid modified UTF-7."""


def encode(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode(text: str) -> str:
    """The Unicode name; raises UTF7Error on anything a conforming client would not send."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if not 0x20 <= ord(char) <= 0x7E:
            raise UTF7Error(f"character {char!r} must be encoded")
        if char != "&":
            out.append(char)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise UTF7Error("unterminated &-sequence")
        chunk = text[i + 1 : end]
        i = end + 1
        if not chunk:
            out.append("&")
            continue
        out.append(_decode_chunk(chunk))
    result = "".join(out)
    if encode(result) != text:
        raise UTF7Error("not the canonical encoding")
    return result


def _decode_chunk(chunk: str) -> str:
    if any(c not in _B64 for c in chunk):
        raise UTF7Error("invalid base64 in &-sequence")
    padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
    try:
        data = base64.b64decode(padded, validate=True)
    except binascii.Error:
        raise UTF7Error("invalid base64 in &-sequence") from None
    if len(data) % 2:
        raise UTF7Error("odd number of octets in &-sequence")
    try:
        decoded = data.decode("utf-16-be")
    except UnicodeDecodeError:
        raise UTF7Error("invalid UTF-16 in &-sequence") from None
    if any(0x20 <= ord(c) <= 0x7E for c in decoded):
        raise UTF7Error("printable ASCII must not be encoded")
    return decoded


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
