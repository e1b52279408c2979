"""SASL PLAIN and LOGIN decoding."""

from __future__ import annotations

import base64

from arobase.smtp import replies
from arobase.smtp.sasl import Credentials, decode_plain, decode_response, decode_text


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_plain_with_and_without_authzid() -> None:
    assert decode_plain(b"\0user@example.test\0secret") == Credentials("user@example.test", "secret")
    assert decode_plain(b"User@Example.test\0user@example.test\0pw") == Credentials("user@example.test", "pw")


def test_plain_refuses_acting_for_someone_else() -> None:
    assert decode_plain(b"boss@example.test\0user@example.test\0pw") == replies.AUTH_INVALID


def test_plain_malformed() -> None:
    assert decode_plain(b"user\0pw") == replies.AUTH_BAD_BASE64
    assert decode_plain(b"\0\xff\0pw") == replies.AUTH_BAD_BASE64
    assert decode_plain(b"\0\0pw") == replies.AUTH_INVALID


def test_responses() -> None:
    assert decode_response(b64(b"\0u\0p")) == b"\0u\0p"
    assert decode_response("=") == b""
    assert decode_response("*") == replies.AUTH_ABORTED
    assert decode_response("not base64!") == replies.AUTH_BAD_BASE64
    assert decode_response("é") == replies.AUTH_BAD_BASE64
    assert decode_text("mot de passe é".encode()) == "mot de passe é"
    assert decode_text(b"\xff") == replies.AUTH_BAD_BASE64


def test_password_is_not_in_repr() -> None:
    assert "secret" not in repr(Credentials("u", "secret"))
