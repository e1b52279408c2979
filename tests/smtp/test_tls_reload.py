"""A certificate reloaded into the shared SSLContext (as SIGHUP does) is used by the next STARTTLS at once."""

from __future__ import annotations

import ssl

from arobase.smtp import Mode
from arobase.tls import generate_self_signed

from .conftest import ARTHUR, HOSTNAME, Harness, RawClient


def trusting(pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=pem)
    return context


def served_certificate(client: RawClient) -> bytes:
    ssl_object = client.writer.get_extra_info("ssl_object")
    certificate = ssl_object.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


async def test_reload_applies_to_new_handshakes_without_dropping_sessions(smtp: Harness) -> None:
    old_pem = smtp.cert.read_text()
    before = await smtp.raw(Mode.MX)
    await before.command("EHLO c.example")
    await before.starttls(trusting(old_pem))
    old_der = served_certificate(before)

    generate_self_signed(HOSTNAME, smtp.app.config.tls_cert, smtp.app.config.tls_key)
    smtp.app.tls.reload()
    new_pem = smtp.cert.read_text()
    assert new_pem != old_pem

    after = await smtp.raw(Mode.SUBMISSION)
    await after.command("EHLO c.example")
    await after.starttls(trusting(new_pem))
    assert served_certificate(after) == ssl.PEM_cert_to_DER_cert(new_pem) != old_der
    await after.close()

    implicit = RawClient()
    await implicit.connect(smtp.ports[Mode.SUBMISSIONS], trusting(new_pem))
    assert served_certificate(implicit) == ssl.PEM_cert_to_DER_cert(new_pem)
    await implicit.close()

    # The session that started before the reload carries on over its old TLS session.
    await before.command("EHLO c.example")
    await before.command("MAIL FROM:<a@sender.example>")
    await before.command(f"RCPT TO:<{ARTHUR}>")
    await before.command("DATA")
    assert (await before.command(b"Subject: still here\r\n\r\nyes\r\n.")).startswith("250 2.0.0")
    await before.close()
    assert len(smtp.inbox(ARTHUR)) == 1
