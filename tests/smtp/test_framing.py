"""Bad input on a real connection: smuggling, long lines, pipelining, sequencing, error limits, slow clients."""

from __future__ import annotations

import asyncio
import time

import pytest

from arobase.smtp import Mode

from .conftest import ARTHUR, PIERRE, Harness, RawClient, Starter

HEAD = b"From: a@sender.example\r\nSubject: test\r\n\r\n"


async def begin(client: RawClient, recipient: str = ARTHUR) -> None:
    assert (await client.command("EHLO client.example")).startswith("250")
    assert (await client.command("MAIL FROM:<a@sender.example>")).startswith("250")
    assert (await client.command(f"RCPT TO:<{recipient}>")).startswith("250")
    assert (await client.command("DATA")).startswith("354")


SMUGGLING = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r.\n", b"\r\n.\n", b"\r\n.\r", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"]


@pytest.mark.parametrize("sequence", SMUGGLING, ids=repr)
async def test_smuggling_never_creates_a_second_message(smtp: Harness, sequence: bytes) -> None:
    smuggled = (
        b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<" + PIERRE.encode() + b">\r\nDATA\r\n"
        b"From: ceo@example.test\r\n\r\nwire the money\r\n"
    )
    client = await begin_raw(smtp)
    await client.send(HEAD + b"first" + sequence + smuggled + b".\r\n")
    assert (await client.reply()).startswith("500 5.5.2")
    assert (await client.command("NOOP")).startswith("250")  # nothing smuggled is left in the stream
    await client.close()
    assert smtp.total_messages() == 0
    assert smtp.app.store.list_outbound() == []


async def begin_raw(smtp: Harness) -> RawClient:
    client = await smtp.raw()
    await begin(client)
    return client


async def test_pipelined_commands_in_one_packet(smtp: Harness) -> None:
    client = await smtp.raw()
    await client.send(
        b"EHLO client.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<"
        + ARTHUR.encode()
        + b">\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<"
        + PIERRE.encode()
        + b">\r\nDATA\r\n"
    )
    replies = [await client.reply() for _ in range(6)]
    assert [r[:3] for r in replies] == ["250", "250", "250", "550", "250", "354"]
    await client.send(
        HEAD + b"pipelined\r\n.\r\nMAIL FROM:<b@sender.example>\r\nRCPT TO:<" + ARTHUR.encode() + b">\r\n"
    )
    assert (await client.reply()).startswith("250 2.0.0")
    assert (await client.reply()).startswith("250 2.1.0")
    assert (await client.reply()).startswith("250 2.1.5")
    await client.send(b"DATA\r\n")
    assert (await client.reply()).startswith("354")
    await client.send(HEAD + b"second\r\n.\r\nQUIT\r\n")
    assert (await client.reply()).startswith("250 2.0.0")
    assert (await client.reply()).startswith("221 2.0.0")
    assert await client.closed()
    assert len(smtp.inbox(ARTHUR)) == 2 and len(smtp.inbox(PIERRE)) == 1


async def test_half_closed_client_still_gets_its_replies(smtp: Harness) -> None:
    client = await smtp.raw()
    await client.send(
        b"EHLO c.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<" + ARTHUR.encode() + b">\r\nDATA\r\n"
    )
    for _ in range(4):
        await client.reply()
    await client.send(HEAD + b"x\r\n.\r\nQUIT\r\n")
    client.writer.write_eof()
    assert (await client.reply()).startswith("250 2.0.0")
    assert (await client.reply()).startswith("221")
    assert len(smtp.inbox(ARTHUR)) == 1


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (["MAIL FROM:<a@sender.example>"], "503 5.5.1"),
        (["EHLO c.example", f"RCPT TO:<{ARTHUR}>"], "503 5.5.1"),
        (["EHLO c.example", "DATA"], "503 5.5.1"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example>", "DATA"], "503 5.5.1"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example>", "MAIL FROM:<b@sender.example>"], "503 5.5.1"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example>", "RSET", f"RCPT TO:<{ARTHUR}>"], "503 5.5.1"),
        (["EHLO"], "501 5.5.4"),
        (["EHLO c.example", "MAIL FROM:<a@@sender.example>"], "501 5.1.3"),
        (["EHLO c.example", "MAIL FROM:<a@sender..example>"], "501 5.1.3"),
        (["EHLO c.example", "MAIL FROM:a@sender.example"], "501 5.5.4"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example> SIZE=abc"], "501 5.5.4"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example> BODY=BINARYMIME"], "555 5.5.4"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example> RET=FULL"], "555 5.5.4"),
        (["EHLO c.example", "MAIL FROM:<a@sender.example>", f"RCPT TO:<{ARTHUR}> NOTIFY=NEVER"], "555 5.5.4"),
        (["HELO c.example", "MAIL FROM:<a@sender.example> SIZE=10"], "501 5.5.4"),
        (["EHLO c.example", "STARTTLS now"], "501 5.5.4"),
        (["EHLO c.example", "RSET now"], "501 5.5.4"),
        (["XYZZY"], "500 5.5.1"),
        (["EXPN staff"], "502 5.5.1"),
        (["BDAT 10 LAST"], "502 5.5.1"),
        (["VRFY arthur"], "252 2.5.0"),
        (["HELP"], "214 2.0.0"),
        (["NOOP anything"], "250 2.0.0"),
    ],
)
async def test_sequence_and_syntax(smtp: Harness, commands: list[str], expected: str) -> None:
    client = await smtp.raw()
    for command in commands[:-1]:
        await client.command(command)
    assert (await client.command(commands[-1])).startswith(expected)
    await client.close()


async def test_long_command_lines(smtp: Harness) -> None:
    client = await smtp.raw()
    assert (await client.command("NOOP " + "x" * 600)).startswith("500 5.5.2")
    assert (await client.command(b"NOOP " + b"y" * 200_000)).startswith("500 5.5.2")  # beyond the read buffer
    assert (await client.command("EHLO c.example")).startswith("250")
    await client.send(b"NOOP\n")
    assert (await client.reply()).startswith("500 5.5.2")
    assert (await client.command(b"NOOP\rRSET")).startswith("500 5.5.2")
    assert (await client.command("NOOP")).startswith("250")
    await client.close()


async def test_long_text_line_rejects_the_message(smtp: Harness) -> None:
    client = await begin_raw(smtp)
    await client.send(HEAD + b"x" * 999 + b"\r\n")
    assert (await client.command(".")).startswith("500 5.5.2")
    await client.close()
    assert smtp.total_messages() == 0


async def test_nul_in_data_is_refused(smtp: Harness) -> None:
    client = await begin_raw(smtp)
    assert (await client.command(HEAD + b"a\0b\r\n.")).startswith("500 5.5.2")
    await client.close()
    assert smtp.total_messages() == 0


async def test_too_many_errors_close_the_session(start_smtp: Starter) -> None:
    smtp = await start_smtp(smtp={"max_errors": 3})
    client = await smtp.raw()
    assert (await client.command("FOO")).startswith("500")
    assert (await client.command("RCPT TO:<x@example.test>")).startswith("503")
    assert (await client.command("BAR")).startswith("500")
    assert (await client.reply()).startswith("421 4.7.0")
    assert await client.closed()


async def test_starttls_discards_pipelined_plaintext(smtp: Harness) -> None:
    """RFC 3207 5: commands sent with STARTTLS before the handshake must not be executed (CVE-2011-0411)."""
    client = await smtp.raw()
    await client.command("EHLO c.example")
    await client.send(b"STARTTLS\r\nMAIL FROM:<injected@sender.example>\r\n")
    assert (await client.reply()).startswith("220 2.0.0")
    await client.writer.start_tls(smtp.client_context(), server_hostname="127.0.0.1")
    assert (await client.command("MAIL FROM:<a@sender.example>")).startswith("503 5.5.1")  # EHLO again first
    reply = await client.command("EHLO c.example")
    assert "STARTTLS" not in reply
    assert (await client.command("MAIL FROM:<a@sender.example>")).startswith("250")
    assert (await client.command("STARTTLS")).startswith("503 5.5.1")
    await client.close()


async def test_slow_command_times_out(start_smtp: Starter) -> None:
    smtp = await start_smtp(smtp={"command_timeout": 1})
    client = await smtp.raw()
    started = time.monotonic()
    for char in b"NOOP":  # a slowloris: a byte at a time, never finishing the line in time
        await client.send(bytes([char]))
        await asyncio.sleep(0.4)
    assert (await client.reply()).startswith("421 4.4.2")
    assert await client.closed()
    assert time.monotonic() - started < 3


async def test_silent_client_times_out_during_data(start_smtp: Starter) -> None:
    smtp = await start_smtp(smtp={"command_timeout": 5, "data_timeout": 1})
    client = await begin_raw(smtp)
    await client.send(HEAD + b"and then nothing")
    assert (await client.reply()).startswith("421 4.4.2")
    assert await client.closed()
    assert smtp.total_messages() == 0


async def test_implicit_tls_port_does_not_offer_starttls(smtp: Harness) -> None:
    client = await smtp.raw(Mode.SUBMISSIONS)
    reply = await client.command("EHLO c.example")
    assert "STARTTLS" not in reply and "AUTH PLAIN LOGIN" in reply
    assert (await client.command("STARTTLS")).startswith("503 5.5.1")
    await client.close()


async def test_connections_per_ip_are_limited_across_listeners(start_smtp: Starter) -> None:
    smtp = await start_smtp(smtp={"max_connections_per_ip": 2})
    first, second = await smtp.raw(Mode.MX), await smtp.raw(Mode.SUBMISSION)
    third = RawClient()
    reply = await third.connect(smtp.ports[Mode.MX])
    assert reply.startswith("421 4.7.0") and await third.closed()
    await first.close()
    for _ in range(100):  # the server notices the close asynchronously
        fourth = RawClient()
        if (await fourth.connect(smtp.ports[Mode.MX])).startswith("220"):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the place freed by a closed connection was never reused")
    await fourth.close()
    await second.close()
