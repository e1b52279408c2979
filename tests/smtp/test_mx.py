"""The MX listener against real clients: recipients, relaying, quotas, sizes, trace headers, SPF/DKIM/DMARC."""

from __future__ import annotations

import asyncio

import pytest
from tests.dnsserver import DNSServer

from arobase.services.delivery import header_fields
from arobase.smtp import Mode

from .conftest import ARTHUR, FULL, HOSTNAME, PIERRE, Harness, Starter

MESSAGE = b"From: Someone <someone@sender.example>\r\nTo: arthur.dupont@example.test\r\nSubject: Hello\r\n\r\nHi!\r\n"


def prepended(stored: bytes, original: bytes) -> dict[str, str]:
    """Our header fields, checking that the rest is exactly the original message."""
    assert stored.endswith(original)
    fields, _ = header_fields(stored[: len(stored) - len(original)] + b"\r\n")
    return {name: value.decode() for name, value in fields}


async def test_ehlo_advertises_the_extensions(smtp: Harness) -> None:
    client = await smtp.raw()
    reply = await client.command("EHLO client.example")
    assert reply.splitlines() == [
        f"250-{HOSTNAME} greets client.example",
        "250-PIPELINING",
        f"250-SIZE {smtp.app.config.smtp.max_message_size}",
        "250-8BITMIME",
        "250-SMTPUTF8",
        "250-ENHANCEDSTATUSCODES",
        "250 STARTTLS",
    ]
    assert "AUTH" not in reply
    assert (await client.command("AUTH PLAIN AGZvbwBiYXI=")).startswith("502 5.5.1")
    await client.close()


async def test_delivery_over_starttls_adds_trace_headers(smtp: Harness, dns_server: DNSServer) -> None:
    dns_server.add("sender.example", "TXT", "v=spf1 ip4:127.0.0.1 -all")

    def send() -> dict[str, list[str]]:
        with smtp.smtp() as client:
            client.starttls(context=smtp.client_context())
            return client.sendmail("bounce@sender.example", [ARTHUR.upper()], MESSAGE)

    assert await asyncio.to_thread(send) == {}
    [message] = smtp.inbox(ARTHUR)
    assert message.flags == frozenset()
    stored = smtp.app.store.read_blob(message.blob)
    headers = prepended(stored, MESSAGE)
    names = list(headers)
    assert names[:3] == ["return-path", "delivered-to", "authentication-results"] and names[-1] == "received"
    assert all(name.startswith("x-arobase-") for name in names[3:-1])  # the filters' verdict, if any
    assert headers["return-path"] == "<bounce@sender.example>"
    assert headers["delivered-to"] == ARTHUR
    assert headers["authentication-results"].startswith(f"{HOSTNAME};")
    assert "spf=pass smtp.mailfrom=bounce@sender.example" in headers["authentication-results"]
    received = headers["received"]
    assert received.startswith("from client.sender.example ([127.0.0.1])")
    assert "(using TLSv1." in received and f"by {HOSTNAME} (Arobase) with ESMTPS id " in received
    assert "for <ARTHUR.DUPONT@example.test>;" in received  # the domain normalised, the local part kept
    assert b"\r\n" in stored and b"\n" not in stored.replace(b"\r\n", b"")
    assert smtp.inbox(PIERRE) == []


async def test_forged_authentication_results_are_removed(smtp: Harness) -> None:
    forged = f"Authentication-Results: {HOSTNAME}; spf=pass; dkim=pass; dmarc=pass\r\n".encode()
    other = b"Authentication-Results: other.example; spf=fail\r\n"
    original = forged + other + MESSAGE

    def send() -> None:
        with smtp.smtp() as client:
            client.sendmail("", [ARTHUR], original)

    await asyncio.to_thread(send)
    [stored] = smtp.contents(ARTHUR)
    assert stored.count(f"Authentication-Results: {HOSTNAME};".encode()) == 1
    assert b"spf=pass; dkim=pass" not in stored
    assert stored.endswith(other + MESSAGE)
    assert b"Return-Path: <>\r\n" in stored
    assert b"smtp.helo=" in stored  # SPF checked the HELO identity for the null sender


async def test_two_local_recipients_share_one_blob(smtp: Harness) -> None:
    def send() -> None:
        with smtp.smtp() as client:
            client.sendmail("a@sender.example", [ARTHUR, PIERRE], MESSAGE)

    await asyncio.to_thread(send)
    [a], [p] = smtp.inbox(ARTHUR), smtp.inbox(PIERRE)
    assert a.blob == p.blob
    stored = smtp.app.store.read_blob(a.blob)
    headers = prepended(stored, MESSAGE)
    assert "delivered-to" not in headers and "return-path" in headers
    assert " for <" not in headers["received"]


async def test_alias_catch_all_and_subaddress(smtp: Harness) -> None:
    def send() -> None:
        with smtp.smtp() as client:
            client.sendmail("a@sender.example", ["sales@example.test"], MESSAGE)
            client.sendmail("a@sender.example", ["Arthur.Dupont+lists@Example.TEST."], MESSAGE)
            client.sendmail("a@sender.example", ["whoever@example.org"], MESSAGE)

    await asyncio.to_thread(send)
    assert len(smtp.inbox(ARTHUR)) == 2
    assert len(smtp.inbox(PIERRE)) == 2


async def test_postmaster_is_always_accepted(smtp: Harness) -> None:
    """RFC 5321: postmaster at each of our domains, and `<Postmaster>` with no domain, must work."""

    def send() -> None:
        with smtp.smtp() as client:
            client.sendmail("a@sender.example", ["Postmaster@example.test"], MESSAGE)

    await asyncio.to_thread(send)
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    assert (await client.command("RCPT TO:<Postmaster>")).startswith("250 ")
    await client.close()
    first = min(smtp.app.store.list_accounts("example.test"), key=lambda account: account.id)
    assert smtp.app.store.get_mailbox(first.id, "INBOX").messages == 1


async def test_alias_to_a_remote_address_is_queued(smtp: Harness) -> None:
    def send() -> None:
        with smtp.smtp() as client:
            client.sendmail("a@sender.example", ["forward@example.test"], MESSAGE)

    await asyncio.to_thread(send)
    [entry] = smtp.app.store.list_outbound()
    assert (entry.sender, entry.recipient, entry.account_id) == ("a@sender.example", "friend@remote.example", None)
    stored = smtp.app.store.read_blob(entry.blob)
    assert b"Return-Path" not in stored and b"Delivered-To" not in stored
    assert smtp.total_messages() == 0


@pytest.mark.parametrize(
    ("recipient", "expected"),
    [
        ("nobody@example.test", "550 5.1.1"),
        ("gone@example.test", "550 5.1.1"),  # disabled account
        ("old@example.test", "550 5.1.1"),  # alias to a disabled account only
        ("someone@elsewhere.example", "554 5.7.1"),
        ("arthur.dupont%elsewhere.example@example.test", "554 5.7.1"),
        ("elsewhere.example!arthur.dupont@example.test", "554 5.7.1"),
        ("@example.test:someone@elsewhere.example", "554 5.7.1"),  # source route, then ignored
        ('"someone@elsewhere.example"@example.test', "554 5.7.1"),
        ("someone@[127.0.0.1]", "554 5.7.1"),
        ("someone@elsewhere.example.", "554 5.7.1"),
        ("Someone@ElseWhere.Example", "554 5.7.1"),
        ("arthur.dupont@example.test@elsewhere.example", "501 5.1.3"),
        ("arthur.dupont@", "501 5.1.3"),
        ("arthur dupont@example.test", "501 5.1.3"),
        ("", "501 5.1.3"),
    ],
)
async def test_refused_recipients(smtp: Harness, recipient: str, expected: str) -> None:
    client = await smtp.raw()
    await client.command("EHLO client.example")
    assert (await client.command("MAIL FROM:<a@sender.example>")).startswith("250 2.1.0")
    assert (await client.command(f"RCPT TO:<{recipient}>")).startswith(expected)
    assert (await client.command("DATA")).startswith("554 5.5.1")
    await client.close()
    assert smtp.app.store.list_outbound() == []


async def test_recipient_over_quota(smtp: Harness) -> None:
    def send(size: int) -> dict[str, tuple[int, bytes]]:
        with smtp.smtp() as client:  # smtplib declares SIZE, so the full mailbox is refused at RCPT
            return client.sendmail("a@sender.example", [FULL, ARTHUR], MESSAGE + b"x" * size + b"\r\n")

    assert await asyncio.to_thread(send, 10) == {}
    refused = await asyncio.to_thread(send, 900)
    assert list(refused) == [FULL] and refused[FULL][0] == 452 and refused[FULL][1].startswith(b"4.2.2")
    assert len(smtp.inbox(FULL)) == 1 and len(smtp.inbox(ARTHUR)) == 2
    # Without SIZE the RCPT check passes; the store then refuses the whole message atomically.
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    assert (await client.command(f"RCPT TO:<{FULL}>")).startswith("250")
    assert (await client.command(f"RCPT TO:<{ARTHUR}>")).startswith("250")
    await client.command("DATA")
    assert (await client.command(MESSAGE + b"x" * 900 + b"\r\n.")).startswith("452 4.2.2")
    await client.close()
    assert len(smtp.inbox(FULL)) == 1 and len(smtp.inbox(ARTHUR)) == 2


async def test_recipient_at_its_message_quota(smtp: Harness) -> None:
    smtp.app.accounts.set_quota(ARTHUR, 0, messages=1)

    def send() -> None:
        with smtp.smtp() as client:
            client.sendmail("a@sender.example", [ARTHUR], MESSAGE)

    await asyncio.to_thread(send)
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    assert (await client.command(f"RCPT TO:<{ARTHUR}>")).startswith("452 4.2.2")
    await client.close()
    assert len(smtp.inbox(ARTHUR)) == 1


async def test_message_size_limit(start_smtp: Starter) -> None:
    smtp = await start_smtp(smtp={"max_message_size": 2000})
    client = await smtp.raw()
    await client.command("EHLO client.example")
    assert (await client.command("MAIL FROM:<a@sender.example> SIZE=2001")).startswith("552 5.3.4")
    assert (await client.command("MAIL FROM:<a@sender.example> SIZE=2000")).startswith("250")
    assert (await client.command(f"RCPT TO:<{ARTHUR}>")).startswith("250")
    assert (await client.command("DATA")).startswith("354")
    for _ in range(100):
        await client.send(b"x" * 98 + b"\r\n")
    assert (await client.command(".")).startswith("552 5.3.4")
    assert (await client.command("NOOP")).startswith("250")  # still in step with the client
    await client.close()
    assert smtp.total_messages() == 0


async def test_too_many_recipients(start_smtp: Starter) -> None:
    smtp = await start_smtp(smtp={"max_recipients": 2})
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    assert (await client.command(f"RCPT TO:<{ARTHUR}>")).startswith("250")
    assert (await client.command(f"RCPT TO:<{PIERRE}>")).startswith("250")
    assert (await client.command("RCPT TO:<sales@example.test>")).startswith("452 4.5.3")
    assert (await client.command("DATA")).startswith("354")
    assert (await client.command(MESSAGE.decode() + ".")).startswith("250 2.0.0")
    await client.close()
    assert len(smtp.inbox(ARTHUR)) == 1 and len(smtp.inbox(PIERRE)) == 1


async def test_eight_bit_and_smtputf8(smtp: Harness) -> None:
    body = "From: Jérôme <jerome@sender.example>\r\nSubject: été\r\n\r\nÇa va ?\r\n".encode()
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    await client.command(f"RCPT TO:<{ARTHUR}>")
    await client.command("DATA")
    assert (await client.command(body + b".")).startswith("554 5.6.1")
    await client.command("MAIL FROM:<a@sender.example> BODY=8BITMIME")
    await client.command(f"RCPT TO:<{ARTHUR}>")
    await client.command("DATA")
    assert (await client.command(body + b".")).startswith("250")
    assert (await client.command("MAIL FROM:<jérôme@sender.example>")).startswith("553 5.6.7")
    assert (await client.command("MAIL FROM:<jérôme@sender.example> SMTPUTF8")).startswith("250")
    await client.command(f"RCPT TO:<{ARTHUR}>")
    await client.command("DATA")
    assert (await client.command(body + b".")).startswith("250")
    await client.close()
    first, second = smtp.contents(ARTHUR)
    assert first.endswith(body) and second.endswith(body)
    assert b" with ESMTP id " in first and b" with UTF8SMTP id " in second


async def test_disconnect_during_data_leaves_nothing(smtp: Harness) -> None:
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    await client.command(f"RCPT TO:<{ARTHUR}>")
    await client.command("DATA")
    await client.send(MESSAGE + b"more text\r\n")
    await client.close()
    await asyncio.sleep(0.2)
    assert smtp.total_messages() == 0
    assert not any(smtp.app.store.blobs.root.glob("*/*"))


async def test_mail_loop_is_refused(smtp: Harness) -> None:
    looped = b"Received: from x by y; Thu, 1 Jan 2026 00:00:00 +0000\r\n" * 50 + MESSAGE
    client = await smtp.raw()
    await client.command("EHLO client.example")
    await client.command("MAIL FROM:<a@sender.example>")
    await client.command(f"RCPT TO:<{ARTHUR}>")
    await client.command("DATA")
    assert (await client.command(looped + b".")).startswith("554 5.4.6")
    await client.close()


async def test_submission_rules_do_not_apply_on_mx(smtp: Harness) -> None:
    """Mail claiming to be from our users arrives on MX from outside; it is DMARC's job, not an AUTH matter."""

    def send() -> dict[str, tuple[int, bytes]]:
        with smtp.smtp(Mode.MX) as client:
            return client.sendmail(ARTHUR, [PIERRE], b"From: " + ARTHUR.encode() + b"\r\n\r\nhi\r\n")

    assert await asyncio.to_thread(send) == {}
