"""Submission (587 with STARTTLS, 465 with implicit TLS): AUTH, sender ownership, outbound queue, limits."""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
import time

import pytest

from arobase.smtp import Mode

from .conftest import ARTHUR, DISABLED, PASSWORDS, PIERRE, Harness, RawClient, Starter

BODY = b"Subject: Hello\r\nTo: pierre.durand@example.test\r\n\r\nHi Pierre\r\n"


def message(sender: str = ARTHUR, extra: bytes = b"") -> bytes:
    return b"From: Arthur <" + sender.encode() + b">\r\n" + extra + BODY


def plain(login: str, password: str) -> str:
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


async def tls_client(smtp: Harness) -> RawClient:
    client = await smtp.raw(Mode.SUBMISSION)
    await client.command("EHLO c.example")
    await client.starttls(smtp.client_context())
    await client.command("EHLO c.example")
    return client


async def test_auth_only_after_tls(smtp: Harness) -> None:
    client = await smtp.raw(Mode.SUBMISSION)
    reply = await client.command("EHLO c.example")
    assert "STARTTLS" in reply and "AUTH" not in reply
    assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")).startswith("538 5.7.11")
    assert (await client.command(f"MAIL FROM:<{ARTHUR}>")).startswith("530 5.7.0")
    await client.starttls(smtp.client_context())
    reply = await client.command("EHLO c.example")
    assert "AUTH PLAIN LOGIN" in reply and "STARTTLS" not in reply
    assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")).startswith("235 2.7.0")
    assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")).startswith("503 5.5.1")
    await client.close()


async def test_plaintext_auth_on_loopback_when_allowed(start_smtp: Starter) -> None:
    smtp = await start_smtp(auth={"allow_plaintext_on_loopback": True})
    client = await smtp.raw(Mode.SUBMISSION)
    assert "AUTH PLAIN LOGIN" in await client.command("EHLO c.example")
    assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")).startswith("235")
    assert (await client.command(f"MAIL FROM:<{ARTHUR}>")).startswith("250")
    await client.close()
    mx = await smtp.raw(Mode.MX)
    assert "AUTH" not in await mx.command("EHLO c.example")
    await mx.close()


async def test_auth_mechanisms_and_challenges(smtp: Harness) -> None:
    client = await tls_client(smtp)
    assert (await client.command("AUTH PLAIN")) == "334 "
    assert (await client.command(plain(ARTHUR, PASSWORDS[ARTHUR]))).startswith("235")
    await client.close()

    client = await tls_client(smtp)
    assert (await client.command("AUTH LOGIN")) == "334 VXNlcm5hbWU6"
    assert (await client.command(base64.b64encode(PIERRE.encode()).decode())) == "334 UGFzc3dvcmQ6"
    assert (await client.command(base64.b64encode(PASSWORDS[PIERRE].encode()).decode())).startswith("235")
    await client.close()

    client = await tls_client(smtp)
    assert (await client.command("AUTH LOGIN " + base64.b64encode(PIERRE.encode()).decode())) == "334 UGFzc3dvcmQ6"
    assert (await client.command("*")).startswith("501 5.7.0")
    assert (await client.command("AUTH CRAM-MD5")).startswith("504 5.5.4")
    assert (await client.command("AUTH PLAIN !!!")).startswith("501 5.5.2")
    assert (await client.command(f"AUTH PLAIN {plain(DISABLED, PASSWORDS[DISABLED])}")).startswith("535 5.7.8")
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    await client.close()


async def test_auth_in_a_transaction_is_out_of_sequence(start_smtp: Starter) -> None:
    smtp = await start_smtp(auth={"allow_plaintext_on_loopback": True})
    client = await smtp.raw(Mode.SUBMISSION)
    await client.command("HELO c.example")
    assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")).startswith("503 5.5.1")
    await client.command("EHLO c.example")
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    await client.command(f"MAIL FROM:<{ARTHUR}>")
    assert (await client.command("AUTH LOGIN")).startswith("503 5.5.1")
    await client.close()


async def test_failed_logins_are_delayed_then_locked_out(start_smtp: Starter, caplog: pytest.LogCaptureFixture) -> None:
    smtp = await start_smtp(
        limits={
            "login_free_failures": 1,
            "login_delay_ms": 200,
            "login_max_delay_ms": 400,
            "login_lockout_failures": 4,
            "login_lockout_seconds": 60,
        }
    )
    client = await tls_client(smtp)
    timings = []
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            started = time.monotonic()
            assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, 'wrong-password')}")).startswith("535 5.7.8")
            timings.append(time.monotonic() - started)
        # The first failure is answered as soon as argon2 says no; then 0.2 s, then the 0.4 s cap
        # (lower bounds only: a loaded machine makes argon2 itself slower).
        assert timings[1] >= 0.2 and timings[2] >= 0.4 and timings[3] >= 0.4
        delays = [r.getMessage().rsplit(" ", 2)[-2] for r in caplog.records if "answering after" in r.getMessage()]
        assert delays == ["0.2s", "0.2s", "0.4s", "0.4s", "0.4s", "0.4s"]  # per IP and per login
        # Locked out: even the right password is not checked.
        assert (await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")).startswith("454 4.7.0")
    assert "locked out" in caplog.text and "answering after" in caplog.text
    await client.close()


async def test_submission_to_local_and_remote_recipients(smtp: Harness) -> None:
    def send() -> dict[str, tuple[int, bytes]]:
        with smtp.submit_client() as client:
            return client.sendmail(ARTHUR, [PIERRE, "sales@example.test", "friend@remote.example"], message())

    assert await asyncio.to_thread(send) == {}
    [to_pierre], [to_arthur] = smtp.inbox(PIERRE), smtp.inbox(ARTHUR)  # sales@ reaches both
    assert to_pierre.blob == to_arthur.blob
    [queued] = smtp.app.store.list_outbound()
    assert queued.blob == to_pierre.blob
    assert (queued.sender, queued.recipient, queued.account_id) == (ARTHUR, "friend@remote.example", to_arthur_id(smtp))
    stored = smtp.app.store.read_blob(queued.blob)
    head, _, rest = stored.partition(b"From: Arthur")
    assert b"Return-Path" not in head and b"Delivered-To" not in head and b"Authentication-Results" not in head
    assert b"with ESMTPSA id " in head and f"(authenticated user {ARTHUR})".encode() in head
    assert rest.startswith(b" <arthur.dupont@example.test>\r\nSubject: Hello\r\n")
    assert b"\r\nDate: " in rest and b"\r\nMessage-ID: <" in rest and rest.endswith(b"\r\n\r\nHi Pierre\r\n")


def to_arthur_id(smtp: Harness) -> int:
    return smtp.account_id(ARTHUR)


async def test_existing_message_id_and_date_are_kept(smtp: Harness) -> None:
    original = message(extra=b"Date: Mon, 1 Jun 2026 10:00:00 +0200\r\nMessage-ID: <kept@client.example>\r\n")

    def send() -> None:
        with smtp.submit_client() as client:
            client.sendmail(ARTHUR, [PIERRE], original)

    await asyncio.to_thread(send)
    [stored] = smtp.contents(PIERRE)
    assert stored.endswith(original)
    assert stored.startswith(
        b"Return-Path: <arthur.dupont@example.test>\r\nDelivered-To: pierre.durand@example.test\r\n"
    )


@pytest.mark.parametrize(
    ("sender", "allowed"),
    [
        (ARTHUR, True),
        ("Arthur.Dupont+news@EXAMPLE.test", True),
        ("sales@example.test", True),  # alias reaching arthur (and pierre)
        ("arthur@example.org", True),  # alias in another domain
        (PIERRE, False),
        ("random@example.org", False),  # pierre's catch-all does not make it his, nor arthur's
        ("arthur.dupont@elsewhere.example", False),
    ],
)
async def test_envelope_sender_must_be_owned(smtp: Harness, sender: str, allowed: bool) -> None:
    client = await tls_client(smtp)
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    reply = await client.command(f"MAIL FROM:<{sender}>")
    assert reply.startswith("250 2.1.0" if allowed else "553 5.7.1")
    await client.close()


async def test_null_sender_is_refused_on_submission(smtp: Harness) -> None:
    client = await tls_client(smtp)
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    assert (await client.command("MAIL FROM:<>")).startswith("553 5.7.1")
    await client.close()


@pytest.mark.parametrize(
    ("from_header", "expected"),
    [
        (b"From: Pierre <pierre.durand@example.test>\r\n", "553 5.7.1"),
        (b"From: arthur.dupont@example.test, pierre.durand@example.test\r\n", "553 5.7.1"),
        (b"From: arthur.dupont@example.test\r\nSender: pierre.durand@example.test\r\n", "553 5.7.1"),
        (b"From: undisclosed\r\n", "553 5.7.1"),
        (b"", "550 5.6.0"),
        (b"From: =?utf-8?q?Arthur_D?= <arthur.dupont@example.test>\r\n", "250 2.0.0"),
        (b"From: Sales\r\n <sales@example.test>\r\n", "250 2.0.0"),
    ],
)
async def test_from_header_must_be_owned(smtp: Harness, from_header: bytes, expected: str) -> None:
    client = await tls_client(smtp)
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    await client.command(f"MAIL FROM:<{ARTHUR}>")
    await client.command(f"RCPT TO:<{PIERRE}>")
    await client.command("DATA")
    assert (await client.command(from_header + BODY + b".")).startswith(expected)
    await client.close()
    assert len(smtp.inbox(PIERRE)) == (1 if expected.startswith("250") else 0)


async def test_unknown_local_recipient_on_submission(smtp: Harness) -> None:
    def send() -> None:
        with smtp.submit_client() as client:
            client.sendmail(ARTHUR, ["nobody@example.test"], message())

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(send)
    assert refused.value.recipients["nobody@example.test"][0] == 550


async def test_implicit_tls_submission(smtp: Harness) -> None:
    def send() -> dict[str, tuple[int, bytes]]:
        with smtp.smtp(Mode.SUBMISSIONS) as client:
            client.login(PIERRE, PASSWORDS[PIERRE])
            return client.sendmail(PIERRE, [ARTHUR], b"From: pierre.durand@example.test\r\n\r\nvia 465\r\n")

    assert await asyncio.to_thread(send) == {}
    [stored] = smtp.contents(ARTHUR)
    assert b"(using TLSv1." in stored and b"with ESMTPSA" in stored


async def test_hourly_message_limit(start_smtp: Starter) -> None:
    smtp = await start_smtp(limits={"messages_per_hour": 2})
    client = await tls_client(smtp)
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    for _ in range(2):
        await client.command(f"MAIL FROM:<{ARTHUR}>")
        await client.command(f"RCPT TO:<{PIERRE}>")
        await client.command("DATA")
        assert (await client.command(message() + b".")).startswith("250")
    assert (await client.command(f"MAIL FROM:<{ARTHUR}>")).startswith("451 4.7.1")
    await client.close()


async def test_daily_recipient_limit(start_smtp: Starter) -> None:
    smtp = await start_smtp(limits={"recipients_per_day": 3})
    client = await tls_client(smtp)
    await client.command(f"AUTH PLAIN {plain(ARTHUR, PASSWORDS[ARTHUR])}")
    await client.command(f"MAIL FROM:<{ARTHUR}>")
    assert (await client.command(f"RCPT TO:<{PIERRE}>")).startswith("250")
    assert (await client.command("RCPT TO:<a@remote.example>")).startswith("250")
    await client.command("DATA")
    assert (await client.command(message() + b".")).startswith("250")
    await client.command(f"MAIL FROM:<{ARTHUR}>")
    assert (await client.command("RCPT TO:<b@remote.example>")).startswith("250")
    assert (await client.command("RCPT TO:<c@remote.example>")).startswith("550 5.7.1")
    await client.close()
