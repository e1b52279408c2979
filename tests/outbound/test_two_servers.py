"""End to end: two Arobase servers, orange.test on 127.0.0.2 and gmail.test on 127.0.0.3, found through a real
DNS server on loopback that publishes their MX, A, SPF, DKIM and DMARC records."""

from __future__ import annotations

import asyncio
import smtplib
import ssl

from tests.dnsserver import DNSServer
from tests.outbound.conftest import PASSWORD, TIMEOUT, Instance, Starter

from arobase.outbound.dkim import public_record, record_name
from arobase.smtp import Mode, start_listener

PIERRE = "pierre.durand@orange.test"
ARTHUR = "arthur.dupont@gmail.test"
ORANGE_IP = "127.0.0.2"
GMAIL_IP = "127.0.0.3"


def publish(dns: DNSServer, instance: Instance, domain: str, ip: str) -> None:
    dns.add(domain, "MX", f"10 mx.{domain}.")
    dns.add(f"mx.{domain}", "A", ip)
    dns.add(domain, "TXT", f"v=spf1 ip4:{ip} -all")
    dns.add(f"_dmarc.{domain}", "TXT", "v=DMARC1; p=none")
    for key in instance.app.store.dkim_keys(domain):
        dns.add(record_name(key), "TXT", public_record(key))


async def two_servers(start_instance: Starter, dns: DNSServer, **orange_outbound: object) -> tuple[Instance, Instance]:
    gmail = await start_instance("gmail.test", [ARTHUR], host=GMAIL_IP)
    orange = await start_instance(
        "orange.test",
        [PIERRE],
        host=ORANGE_IP,
        outbound={"port": gmail.ports[Mode.MX], "source_address": ORANGE_IP, **orange_outbound},
    )
    publish(dns, orange, "orange.test", ORANGE_IP)
    publish(dns, gmail, "gmail.test", GMAIL_IP)
    return orange, gmail


def submit(instance: Instance, sender: str, recipient: str, subject: str) -> None:
    """Pierre's mail client: submission with STARTTLS and AUTH (blocking, run it in a thread)."""
    context = ssl.create_default_context(cafile=str(instance.app.config.tls_cert))
    context.check_hostname = False
    with smtplib.SMTP(instance.host, instance.ports[Mode.SUBMISSION], timeout=TIMEOUT) as client:
        client.starttls(context=context)
        client.login(sender, PASSWORD)
        message = f"From: Pierre Durand <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n\r\nBonjour !\r\n"
        assert client.sendmail(sender, [recipient], message) == {}


def authentication_results(message: bytes) -> str:
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    start = head.index("Authentication-Results:")
    lines = [head[start:].split("\r\n")[0]]
    for line in head[start:].split("\r\n")[1:]:
        if not line.startswith(("\t", " ")):
            break
        lines.append(line)
    return " ".join(lines)


async def test_submitted_mail_arrives_signed_and_authenticated(start_instance: Starter, dns_server: DNSServer) -> None:
    orange, gmail = await two_servers(start_instance, dns_server)
    await asyncio.to_thread(submit, orange, PIERRE, ARTHUR, "Rendez-vous")
    (message,) = await gmail.wait_for_mail(ARTHUR)
    assert b"Subject: Rendez-vous" in message
    assert b"with ESMTPS id" in message.split(b"\r\n\r\n")[0]  # orange.test used STARTTLS
    results = authentication_results(message)
    assert "spf=pass" in results
    assert "dkim=pass header.d=orange.test" in results
    assert "dmarc=pass" in results
    assert await orange.queue.idle(TIMEOUT)
    assert orange.app.store.outbound_entries() == []


async def test_unknown_remote_user_bounces_to_the_sender(start_instance: Starter, dns_server: DNSServer) -> None:
    orange, _gmail = await two_servers(start_instance, dns_server)
    await asyncio.to_thread(submit, orange, PIERRE, "nobody@gmail.test", "Perdu")
    (bounce,) = await orange.wait_for_mail(PIERRE)
    assert b"Content-Type: multipart/report; report-type=delivery-status" in bounce
    assert b"Final-Recipient: rfc822; nobody@gmail.test" in bounce
    assert b"Action: failed" in bounce
    assert b"Diagnostic-Code: smtp; 550 5.1.1" in bounce
    assert b"Remote-MTA: dns; mx.gmail.test" in bounce
    assert b"Subject: Perdu" in bounce  # the original header block is attached
    assert b"Return-Path: <>" in bounce
    assert await orange.queue.idle(TIMEOUT)
    assert orange.app.store.outbound_entries() == []


async def test_mail_waits_while_the_remote_server_is_down(start_instance: Starter, dns_server: DNSServer) -> None:
    orange, gmail = await two_servers(start_instance, dns_server)
    mx_port = gmail.ports[Mode.MX]
    mx = gmail.servers[list(gmail.ports).index(Mode.MX)]
    mx.close()
    await mx.wait_closed()
    await asyncio.to_thread(submit, orange, PIERRE, ARTHUR, "Patience")
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        entries = orange.app.store.outbound_entries()
        if entries and entries[0].attempts >= 1:
            break
        await asyncio.sleep(0.05)
    (entry,) = orange.app.store.outbound_entries()
    assert entry.attempts >= 1 and "cannot talk to mx.gmail.test" in (entry.last_error or "")
    assert gmail.contents(ARTHUR) == []

    gmail.servers.append(await start_listener(gmail.app, Mode.MX, GMAIL_IP, mx_port))  # gmail.test is back
    (message,) = await gmail.wait_for_mail(ARTHUR)
    assert b"Subject: Patience" in message
    assert await orange.queue.idle(TIMEOUT)
    assert orange.contents(PIERRE) == []  # no bounce, no delay warning


def forge(gmail: Instance) -> None:
    """A host outside orange.test's SPF sends mail claiming to be Pierre's, without a signature."""
    with smtplib.SMTP(GMAIL_IP, gmail.ports[Mode.MX], source_address=("127.0.0.1", 0), timeout=TIMEOUT) as client:
        client.ehlo("forger.example")
        message = f"From: <{PIERRE}>\r\nTo: <{ARTHUR}>\r\nSubject: Urgent virement\r\n\r\nPay now.\r\n"
        assert client.sendmail(PIERRE, [ARTHUR], message) == {}


async def test_forged_mail_fails_dmarc(start_instance: Starter, dns_server: DNSServer) -> None:
    _orange, gmail = await two_servers(start_instance, dns_server)
    await asyncio.to_thread(forge, gmail)
    (message,) = await gmail.wait_for_mail(ARTHUR, mailbox="Junk")  # delivered, and the filters distrust it
    results = authentication_results(message)
    assert "spf=fail" in results
    assert "dkim=pass" not in results
    assert "dmarc=fail" in results
