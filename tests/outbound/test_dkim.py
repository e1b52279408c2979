"""DKIM keys: created with the domain, rotated under a new selector, signatures that dkimpy verifies."""

from __future__ import annotations

import dkim
import pytest

from arobase.outbound.dkim import candidate_domains, public_record, record_name, sign
from arobase.services.accounts import AccountError, Accounts

MESSAGE = (
    b"From: Pierre <pierre@orange.test>\r\nTo: arthur@gmail.test\r\nSubject: Hi\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@orange.test>\r\n\r\nBody\r\n"
)


def test_domain_add_creates_a_key_and_signatures_verify(accounts: Accounts) -> None:
    accounts.add_domain("orange.test")
    (key,) = accounts.store.dkim_keys("orange.test")
    assert key.algorithm == "rsa" and key.active
    record = public_record(key)
    assert record.startswith("v=DKIM1; k=rsa; p=MIIBIjAN")  # a 2048-bit SubjectPublicKeyInfo

    signed = sign(MESSAGE, [key]) + MESSAGE
    zone = {f"{record_name(key)}.".encode(): record.encode()}
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: zone.get(name, b""))
    signature = signed.split(b"\r\n\r\n")[0].decode()
    for name in ("from", "to", "subject", "date", "message-id", "mime-version", "reply-to", "references"):
        assert name in signature
    tampered = signed.replace(b"Subject: Hi", b"Subject: Pay now")
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: zone.get(name, b""))


def test_rotation_uses_a_new_selector(accounts: Accounts) -> None:
    accounts.add_domain("orange.test")
    (old,) = accounts.store.dkim_keys("orange.test")
    selector = accounts.rotate_dkim("orange.test")
    (new,) = accounts.store.dkim_keys("orange.test")
    assert new.selector == selector != old.selector
    assert {k.selector: k.active for k in accounts.store.dkim_keys("orange.test", active_only=False)} == {
        old.selector: False,
        new.selector: True,
    }
    with pytest.raises(AccountError):
        accounts.rotate_dkim("unknown.test")


def test_signing_domain_prefers_the_from_domain() -> None:
    assert candidate_domains(MESSAGE, "bounce@lists.test") == ["orange.test", "lists.test"]
    assert candidate_domains(b"Subject: none\r\n\r\n", "") == []
