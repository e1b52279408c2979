"""The queue against a scripted remote server: delivery, grouping, reuse, bounces, retries, warnings."""

from __future__ import annotations

import asyncio
import email
import email.policy

from tests.dnsserver import DNSServer
from tests.outbound.conftest import TIMEOUT, Instance, SinkStarter, Starter

from arobase.outbound import OutboundQueue

PIERRE = "pierre.durand@orange.test"


async def orange_and_sink(
    start_instance: Starter, start_sink: SinkStarter, *, utf8: bool = True, **outbound: object
) -> tuple[Instance, object]:
    sink = await start_sink(utf8=utf8)
    orange = await start_instance(
        "orange.test", [PIERRE], outbound={"routes": f"gmail.test=127.0.0.1:{sink.port}", **outbound}
    )
    return orange, sink


async def wait_attempts(instance: Instance, attempts: int = 1) -> None:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        entries = instance.app.store.outbound_entries()
        if entries and all(e.attempts >= attempts and not e.claimed for e in entries):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"queue: {instance.app.store.outbound_entries()}")


def parse(message: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(message, policy=email.policy.default)  # type: ignore[return-value]


async def test_one_transaction_per_domain_signed(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink)
    await orange.queue_message(PIERRE, ["arthur@gmail.test", "marie@gmail.test"])
    (mail_from, rcpts, content), *_ = await sink.wait(1)
    assert mail_from == PIERRE
    assert rcpts == ["arthur@gmail.test", "marie@gmail.test"]
    assert content.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=orange.test;")
    assert await orange.queue.idle(5)
    assert orange.app.store.outbound_entries() == []


async def test_connections_are_reused_and_limited(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink, connections_per_host=1, idle_seconds=30)
    for i in range(6):
        await orange.queue_message(PIERRE, [f"user{i}@gmail.test"], body=f"message {i}")
    await sink.wait(6)
    assert orange.queue.pool.opened == 1
    assert orange.queue.pool.reused == 5


async def test_permanent_refusal_bounces_only_that_recipient(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink)
    sink.handler.rcpt_replies["nobody@gmail.test"] = "550 5.1.1 <nobody@gmail.test>: no such user"
    await orange.queue_message(PIERRE, ["arthur@gmail.test", "nobody@gmail.test"], Subject="Salut")
    (_, rcpts, _), *_ = await sink.wait(1)
    assert rcpts == ["arthur@gmail.test"]
    (bounce,) = await orange.wait_for_mail(PIERRE)
    report = parse(bounce)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["From"].addresses[0].username == "MAILER-DAEMON"
    assert report["Auto-Submitted"] == "auto-replied"
    human, status, headers = report.iter_parts()
    assert human.get_content_type() == "text/plain"
    assert "<nobody@gmail.test>: 127.0.0.1 said: 550 5.1.1 <nobody@gmail.test>: no such user" in human.get_content()
    assert status.get_content_type() == "message/delivery-status"
    assert headers.get_content_type() == "text/rfc822-headers"
    raw_status = bounce[bounce.index(b"Reporting-MTA:") :]
    assert b"Reporting-MTA: dns; mx.orange.test\r\n" in raw_status
    assert b"Final-Recipient: rfc822; nobody@gmail.test\r\nAction: failed\r\nStatus: 5.1.1\r\n" in raw_status
    assert b"arthur@gmail.test" not in raw_status.split(b"text/rfc822-headers")[0]
    assert b"Subject: Salut" in bounce
    assert await orange.queue.idle(5)
    assert orange.app.store.outbound_entries() == []


async def test_temporary_failure_is_retried(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink, retry_delays="1h")
    sink.handler.rcpt_replies["arthur@gmail.test"] = "451 4.3.0 try again later"
    await orange.queue_message(PIERRE, ["arthur@gmail.test"])
    await wait_attempts(orange)
    (entry,) = orange.app.store.outbound_entries()
    assert entry.last_error == "451 4.3.0 try again later"
    assert 3500 < (entry.next_attempt - entry.created).total_seconds() < 3700  # the configured delay
    del sink.handler.rcpt_replies["arthur@gmail.test"]
    assert await orange.app.store.retry_outbound(entry.envelope) == 1  # what `arobase queue retry` does
    orange.queue.wake()
    await sink.wait(1)
    assert await orange.queue.idle(5)
    assert orange.contents(PIERRE) == []


async def test_gives_up_after_the_configured_age(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink, give_up_after="0s")
    sink.handler.data_reply = "452 4.3.1 insufficient system storage"
    await orange.queue_message(PIERRE, ["arthur@gmail.test"])
    (bounce,) = await orange.wait_for_mail(PIERRE)
    assert b"Action: failed\r\nStatus: 4.3.1\r\n" in bounce
    assert b"452 4.3.1 insufficient system storage" in bounce
    assert await orange.queue.idle(5)
    assert orange.app.store.outbound_entries() == []


async def test_one_delay_warning(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink, delay_warning_after="1s", retry_delays="1s")
    sink.handler.rcpt_replies["arthur@gmail.test"] = "421 4.4.2 busy"
    await orange.queue_message(PIERRE, ["arthur@gmail.test"])
    (warning,) = await orange.wait_for_mail(PIERRE)
    assert b"Action: delayed\r\n" in warning
    assert b"Will-Retry-Until:" in warning
    await wait_attempts(orange, 3)
    assert len(orange.contents(PIERRE)) == 1  # warned once only
    (entry,) = orange.app.store.outbound_entries()
    assert entry.delay_warned


async def test_null_sender_never_bounces(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink)
    sink.handler.rcpt_replies["nobody@gmail.test"] = "550 5.1.1 no such user"
    await orange.queue_message("", ["nobody@gmail.test"])
    assert await orange.queue.idle(5)
    assert orange.app.store.outbound_entries() == []
    assert orange.contents(PIERRE) == []
    assert sink.messages == []


async def test_smtputf8_needed_but_not_offered(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink, utf8=False)
    await orange.queue_message(PIERRE, ["josé@gmail.test"])
    (bounce,) = await orange.wait_for_mail(PIERRE)
    assert b"Status: 5.6.7" in bounce
    assert b"does not support SMTPUTF8" in bounce
    assert sink.messages == []


async def test_smtputf8_used_when_offered(start_instance: Starter, start_sink: SinkStarter) -> None:
    orange, sink = await orange_and_sink(start_instance, start_sink)
    await orange.queue_message(PIERRE, ["josé@gmail.test"], Subject="Café")
    (_, rcpts, content), *_ = await sink.wait(1)
    assert rcpts == ["josé@gmail.test"]
    assert "Subject: Café".encode() in content


async def test_null_mx_bounces_at_once(start_instance: Starter, dns_server: DNSServer) -> None:
    dns_server.add("nomail.test", "MX", "0 .")
    orange = await start_instance("orange.test", [PIERRE])
    await orange.queue_message(PIERRE, ["someone@nomail.test"])
    (bounce,) = await orange.wait_for_mail(PIERRE)
    assert b"Status: 5.1.10" in bounce
    assert b"null MX" in bounce


async def test_claims_are_released_at_start(start_instance: Starter, start_sink: SinkStarter) -> None:
    """What a crash leaves behind (rows claimed by workers that no longer exist) is delivered after restart."""
    orange, sink = await orange_and_sink(start_instance, start_sink)
    await orange.queue.stop()
    await orange.queue_message(PIERRE, ["arthur@gmail.test"])
    claimed = await orange.app.store.claim_outbound(2**40, 10)
    assert [e.claimed for e in claimed] == [True]
    orange.queue = OutboundQueue(orange.app)
    await orange.queue.start()
    await sink.wait(1)
    assert await orange.queue.idle(5)


async def test_smarthost_with_authentication(start_instance: Starter, start_sink: SinkStarter) -> None:
    sink = await start_sink(login=("orange", "relay-secret"))
    orange = await start_instance(
        "orange.test",
        [PIERRE],
        outbound={"routes": f"*=127.0.0.1:{sink.port}", "relay_login": "orange", "relay_password": "relay-secret"},
    )
    await orange.queue_message(PIERRE, ["someone@anywhere.test"])
    (_, rcpts, _), *_ = await sink.wait(1)
    assert rcpts == ["someone@anywhere.test"]


async def test_relayed_mail_is_not_signed(start_instance: Starter, start_sink: SinkStarter) -> None:
    """Mail from outside forwarded by an alias may claim our domain in From: it must not get our signature."""
    orange, sink = await orange_and_sink(start_instance, start_sink)
    await orange.queue_message("stranger@elsewhere.test", ["arthur@gmail.test"], From=PIERRE)
    (_, _, content), *_ = await sink.wait(1)
    assert b"DKIM-Signature" not in content
