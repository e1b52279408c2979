"""SASL PLAIN (RFC 4616) and LOGIN decoding, without I/O.

The session asks for the missing pieces (334 challenges); these functions only turn base64
responses into credentials or a precise error, so malformed input is tested here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from . import replies
from .replies import Reply

MECHANISMS = ("PLAIN", "LOGIN")
LOGIN_USERNAME = base64.b64encode(b"Username:").decode("ascii")
LOGIN_PASSWORD = base64.b64encode(b"Password:").decode("ascii")


@dataclass(frozen=True, slots=True)
class Credentials:
    login: str
    password: str = ""

    def __repr__(self) -> str:
        return f"Credentials(login={self.login!r}, password=...)"


def decode_response(text: str) -> bytes | Reply:
    """A client's base64 response line; '*' cancels the exchange, '=' is an empty response."""
    text = text.strip()
    if text == "*":
        return replies.AUTH_ABORTED
    if text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return replies.AUTH_BAD_BASE64


def decode_plain(message: bytes) -> Credentials | Reply:
    """`authzid NUL authcid NUL password`; an authzid other than the login itself is refused."""
    parts = message.split(b"\0")
    if len(parts) != 3:
        return replies.AUTH_BAD_BASE64
    try:
        authzid, login, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        return replies.AUTH_BAD_BASE64
    if not login or (authzid and authzid.casefold() != login.casefold()):
        return replies.AUTH_INVALID
    return Credentials(login, password)


def decode_text(message: bytes) -> str | Reply:
    """A LOGIN username or password: UTF-8 text."""
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        return replies.AUTH_BAD_BASE64
