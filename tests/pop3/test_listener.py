"""The real POP3 and POP3S listeners, driven by poplib (with verified TLS) and by a byte-exact client."""

from __future__ import annotations

import asyncio
import base64
import poplib
import shutil
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from arobase.config import CONFIG_NAME, LISTEN_DEFAULTS, load, render
from arobase.pop3 import Settings, server, wire
from arobase.server import Server, startup_table
from arobase.store import Change, ChangeKind

from .conftest import ARTHUR, DISABLED, PASSWORDS, PIERRE, TIMEOUT, Harness, Starter, sample


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for something the server does after its last reply, such as flushing \\Seen."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def seen(pop3: Harness) -> list[bool]:
    return ["\\Seen" in message.flags for message in pop3.messages()]


async def test_poplib_over_stls_reads_every_message_byte_for_byte(pop3: Harness) -> None:
    raws = [sample(1), b"Subject: lf only\n\n.leading dot\n..two dots\nno final newline", sample(3, b".\r\n")]
    for raw in raws:
        pop3.deliver(raw)

    def session() -> tuple[list[bytes], list[bytes], list[bytes], bytes]:
        client = pop3.pop3()
        count, size = client.stat()
        assert (count, size) == (3, sum(len(wire.to_wire(raw)) for raw in raws))
        listing = client.list()[1]
        uids = client.uidl()[1]
        bodies = []
        for number in (1, 2, 3):
            status, lines, _ = client.retr(number)
            bodies.append(b"".join(line + b"\r\n" for line in lines))
            assert status == b"+OK %d octets" % len(bodies[-1])
        top = b"\r\n".join(client.top(2, 1)[1])
        client.quit()
        return listing, uids, bodies, top

    listing, uids, bodies, top = await asyncio.to_thread(session)
    assert bodies == [wire.to_wire(raw) for raw in raws]
    assert listing == [b"%d %d" % (n, len(body)) for n, body in enumerate(bodies, 1)]
    box = pop3.inbox()
    assert uids == [b"%d %d.%d" % (n, box.uidvalidity, m.uid) for n, m in enumerate(pop3.messages(), 1)]
    assert top == b"Subject: lf only\r\n\r\n.leading dot"
    await eventually(lambda: seen(pop3) == [True, True, True])  # RETR marks \Seen for IMAP users


async def test_poplib_over_pop3s_with_auth_plain(pop3: Harness) -> None:
    pop3.deliver(sample(1))

    def session() -> tuple[bytes, bytes, int]:
        client = pop3.pop3s(login=None)
        capa = client.capa()
        token = base64.b64encode(f"\0{ARTHUR}\0{PASSWORDS[ARTHUR]}".encode()).decode()
        reply = client._shortcmd(f"AUTH PLAIN {token}")
        top = client.top(1, 0)[0]
        count = client.stat()[0]
        client.quit()
        assert capa["SASL"] == ["PLAIN"] and "USER" in capa and "STLS" not in capa
        return reply, top, count

    reply, top, count = await asyncio.to_thread(session)
    assert reply == b"+OK Logged in, 1 message (%d octets)" % len(sample(1))
    assert top == b"+OK Top of message follows" and count == 1
    await asyncio.sleep(0.05)
    assert seen(pop3) == [False]  # TOP does not mark \Seen


async def test_deletions_happen_at_quit_in_one_transaction(pop3: Harness) -> None:
    uids = [pop3.deliver(sample(n)) for n in range(4)]
    changes: list[Change] = []
    unsubscribe = pop3.app.store.feed.subscribe(pop3.account_id(ARTHUR), changes.append)

    def session() -> int:
        client = pop3.pop3s()
        client.dele(1)
        client.dele(3)
        left = len(pop3.messages())  # nothing is removed before QUIT
        client.quit()
        return left

    try:
        assert await asyncio.to_thread(session) == 4
        assert [m.uid for m in pop3.messages()] == [uids[1], uids[3]]
        await eventually(lambda: any(c.kind is ChangeKind.EXPUNGED for c in changes))
        assert [c.uids for c in changes if c.kind is ChangeKind.EXPUNGED] == [(uids[0], uids[2])]
    finally:
        unsubscribe()


async def test_a_dropped_connection_deletes_nothing_and_frees_the_maildrop(pop3: Harness) -> None:
    for n in range(2):
        pop3.deliver(sample(n))
    client = await pop3.raw(tls=True)
    assert (await client.login()).startswith(b"+OK Logged in, 2 messages")
    assert await client.command(b"DELE 1") == b"+OK Message 1 deleted\r\n"
    await client.close()  # no QUIT

    async def login_again() -> bytes:
        again = await pop3.raw(tls=True)
        try:
            return await again.login()
        finally:
            await again.command(b"QUIT")
            await again.close()

    deadline = time.monotonic() + TIMEOUT
    while (reply := await login_again()).startswith(b"-ERR [IN-USE]") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert reply.startswith(b"+OK Logged in, 2 messages")
    assert len(pop3.messages()) == 2


async def test_retrieved_messages_are_flagged_seen_in_batches_during_the_session(
    pop3: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "SEEN_BATCH", 3)
    uids = [pop3.deliver(sample(n)) for n in range(4)]
    changes: list[Change] = []
    unsubscribe = pop3.app.store.feed.subscribe(pop3.account_id(ARTHUR), changes.append)
    client = await pop3.raw(tls=True)
    try:
        await client.login()
        for number in (1, 2, 3):
            await client.send(b"RETR %d\r\n" % number)
            assert (await client.multiline()).startswith(b"+OK")
        await eventually(lambda: seen(pop3) == [True, True, True, False])  # a full batch: one write
        await client.send(b"RETR 4\r\n")
        await client.multiline()
        await eventually(lambda: seen(pop3) == [True] * 4)  # the rest SEEN_DELAY later, still logged in
        await eventually(lambda: sum(c.kind is ChangeKind.FLAGS for c in changes) >= 2)  # the feed is asynchronous
        assert [c.uids for c in changes if c.kind is ChangeKind.FLAGS] == [tuple(uids[:3]), (uids[3],)]
        assert await client.command(b"QUIT") == b"+OK Bye\r\n"
    finally:
        unsubscribe()
        await client.close()


async def test_closing_the_listener_hands_batched_seen_flags_to_the_store(
    start_pop3: Starter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "SEEN_DELAY", 3600.0)
    harness = await start_pop3()
    harness.deliver(sample(1))
    client = await harness.raw(tls=True)
    try:
        await client.login()
        await client.send(b"RETR 1\r\n")
        assert (await client.multiline()).startswith(b"+OK")
        assert seen(harness) == [False]
        for listener in harness.servers:
            listener.close()
        await eventually(lambda: seen(harness) == [True])
    finally:
        await client.close()


async def test_a_second_session_on_the_same_maildrop_is_refused_in_use(pop3: Harness) -> None:
    pop3.deliver(sample(1))
    first = await pop3.raw(tls=True)
    assert (await first.login()).startswith(b"+OK")
    second = await pop3.raw()
    await second.starttls(pop3.client_context())
    assert await second.login() == b"-ERR [IN-USE] Mailbox in use by another POP3 session\r\n"
    other = await pop3.raw(tls=True)
    assert (await other.login(PIERRE)).startswith(b"+OK Logged in, 0 messages")  # other users are not blocked
    assert await first.command(b"QUIT") == b"+OK Bye\r\n"
    await first.close()
    await eventually(lambda: True)
    deadline = time.monotonic() + TIMEOUT
    while (reply := await second.login()).startswith(b"-ERR [IN-USE]") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert reply.startswith(b"+OK Logged in, 1 message (")  # the session stayed in AUTHORIZATION
    for client in (second, other):
        await client.command(b"QUIT")
        await client.close()


async def test_the_maildrop_is_a_snapshot_taken_at_login(pop3: Harness) -> None:
    pop3.deliver(sample(1))
    client = await pop3.raw(tls=True)
    await client.login()
    pop3.deliver(sample(2))
    assert await client.command(b"STAT") == b"+OK 1 %d\r\n" % len(sample(1))
    assert await client.command(b"RETR 2") == b"-ERR No message 2 (the maildrop has 1)\r\n"
    await client.command(b"QUIT")
    await client.close()
    client = await pop3.raw(tls=True)
    assert (await client.login()).startswith(b"+OK Logged in, 2 messages")
    await client.command(b"QUIT")
    await client.close()


async def test_a_message_expunged_over_imap_during_the_session(pop3: Harness) -> None:
    uids = [pop3.deliver(sample(n)) for n in range(3)]
    client = await pop3.raw(tls=True)
    await client.login()
    await pop3.app.store.expunge(pop3.inbox().id, [uids[1]])
    assert await client.command(b"RETR 2") == b"-ERR Message 2 was removed by another session\r\n"
    assert await client.command(b"TOP 2 0") == b"-ERR Message 2 was removed by another session\r\n"
    assert (await client.command(b"RETR 3")).startswith(b"+OK")
    await client.multiline()
    assert await client.command(b"DELE 2") == b"+OK Message 2 deleted\r\n"
    assert await client.command(b"DELE 1") == b"+OK Message 1 deleted\r\n"
    assert await client.command(b"QUIT") == b"+OK Bye, 2 messages deleted\r\n"
    await client.close()
    assert [m.uid for m in pop3.messages()] == [uids[2]]


async def test_folders_are_invisible_and_moved_messages_leave_the_pop3_view(pop3: Harness) -> None:
    store, account = pop3.app.store, pop3.account_id(ARTHUR)
    projects = await store.create_mailbox(account, "Projects")
    await store.deliver(store.put_message(sample(9)), [(account, "Projects")])
    uids = [pop3.deliver(sample(n)) for n in range(2)]

    def stat() -> tuple[int, list[bytes]]:
        client = pop3.pop3s()
        count = client.stat()[0]
        listing = client.uidl()[1]
        client.quit()
        return count, listing

    count, before = await asyncio.to_thread(stat)
    assert count == 2
    await store.copy(pop3.inbox().id, [uids[0]], projects.id, move=True)
    count, after = await asyncio.to_thread(stat)
    assert count == 1 and after == [b"1 " + before[1].split()[1]]  # the UIDL of what stays is unchanged


async def test_uidl_is_unaffected_by_imap_flag_changes(pop3: Harness) -> None:
    uid = pop3.deliver(sample(1))

    def uidl() -> bytes:
        client = pop3.pop3s()
        value = client.uidl(1)
        client.quit()
        return value

    before = await asyncio.to_thread(uidl)
    await pop3.app.store.store_flags(pop3.inbox().id, [uid], ["\\Flagged", "\\Seen", "$Label1"], "add")
    assert await asyncio.to_thread(uidl) == before
    value = before.split()[-1]
    assert len(value) <= 70 and all(0x21 <= c <= 0x7E for c in value)


async def test_passwords_need_tls_on_the_plain_port(pop3: Harness) -> None:
    client = await pop3.raw()
    assert client.greeting == b"+OK Arobase POP3 server ready\r\n"
    refusal = b"-ERR [AUTH] Plaintext authentication disallowed without TLS; use STLS or port 995\r\n"
    assert await client.command(b"USER " + ARTHUR.encode()) == refusal
    assert await client.command(b"AUTH PLAIN") == refusal
    # Anything pipelined behind STLS is dropped: it was sent in the clear.
    await client.send(b"STLS\r\nUSER " + ARTHUR.encode() + b"\r\n")
    assert await client.line() == b"+OK Begin TLS negotiation\r\n"
    await client.writer.start_tls(pop3.client_context(), server_hostname="127.0.0.1")
    assert await client.command(b"PASS " + PASSWORDS[ARTHUR].encode()) == b"-ERR Send USER first\r\n"
    assert (await client.login()).startswith(b"+OK Logged in")
    await client.command(b"QUIT")
    await client.close()


async def test_plaintext_on_loopback_when_the_configuration_allows_it(start_pop3: Starter) -> None:
    pop3 = await start_pop3(auth={"allow_plaintext_on_loopback": True})
    client = await pop3.raw()
    assert (await client.login()).startswith(b"+OK Logged in, 0 messages")
    await client.command(b"QUIT")
    await client.close()


async def test_failed_logins_go_through_the_shared_throttle(start_pop3: Starter) -> None:
    pop3 = await start_pop3(limits={"login_free_failures": 0, "login_lockout_failures": 3, "login_delay_ms": 1})
    client = await pop3.raw(tls=True)
    assert await client.command(b"USER " + DISABLED.encode()) == b"+OK Send your password\r\n"
    assert await client.command(b"PASS " + PASSWORDS[DISABLED].encode()) == b"-ERR [AUTH] Authentication failed\r\n"
    await client.command(b"USER " + ARTHUR.encode())
    assert await client.command(b"PASS wrong") == b"-ERR [AUTH] Authentication failed\r\n"
    pop3.app.throttle.login_failed("127.0.0.1", "someone", service="imap")  # one failure over IMAP: shared count
    await client.command(b"USER " + ARTHUR.encode())
    locked = b"-ERR [SYS/TEMP] Too many failed logins, try again later\r\n"
    assert await client.command(b"PASS " + PASSWORDS[ARTHUR].encode()) == locked
    await client.command(b"QUIT")
    await client.close()


async def test_garbage_and_overlong_lines_then_the_error_limit(start_pop3: Starter) -> None:
    pop3 = await start_pop3(settings=Settings(max_errors=4))
    client = await pop3.raw()
    assert await client.command(b"\x16\x03\x01\x02\x00\x01") == b"-ERR Invalid characters in command line\r\n"
    await client.send(b"NOOP " + b"x" * 100_000 + b"\r\n")
    assert await client.line() == b"-ERR Command line too long\r\n"
    assert await client.command(b"LIST 1") == b"-ERR LIST is only valid after login (USER/PASS or AUTH)\r\n"
    assert await client.command(b"CAPA")  # fine commands do not count
    await client.multiline()
    await client.send(b"WHAT\r\n")
    assert await client.line() == b"-ERR Unknown command WHAT\r\n"
    assert await client.line() == b"-ERR Too many errors, closing connection\r\n"
    assert await client.closed()
    await client.close()


async def test_idle_sessions_are_disconnected(start_pop3: Starter) -> None:
    pop3 = await start_pop3(settings=Settings(idle_timeout=0.3))
    pop3.deliver(sample(1))
    client = await pop3.raw(tls=True)
    await client.login()
    await client.command(b"DELE 1")
    assert await client.line() == b"-ERR Disconnected for inactivity\r\n"
    assert await client.closed()
    await client.close()
    assert len(pop3.messages()) == 1  # no UPDATE state after a timeout


async def test_the_idle_timeout_counts_from_the_last_command(start_pop3: Starter) -> None:
    pop3 = await start_pop3(settings=Settings(idle_timeout=1.0))
    client = await pop3.raw(tls=True)
    await client.login()
    for _ in range(5):  # 1.5 s in all, never 1 s without a command
        await asyncio.sleep(0.3)
        assert await client.command(b"NOOP") == b"+OK\r\n"
    assert await client.line() == b"-ERR Disconnected for inactivity\r\n"
    await client.close()


async def test_large_messages_stored_as_files(pop3: Harness) -> None:
    body = b"".join(b".%06d " % i + b"x" * 70 + b"\n" for i in range(3000))  # LF only, dots, > 200 kB
    raw = b"Subject: big\n\n" + body
    assert len(raw) > pop3.app.store.inline_max
    pop3.deliver(raw)

    def retr() -> tuple[bytes, bytes]:
        client = pop3.pop3s()
        status, lines, _ = client.retr(1)
        client.quit()
        return status, b"".join(line + b"\r\n" for line in lines)

    status, got = await asyncio.to_thread(retr)
    assert got == wire.to_wire(raw) and status == b"+OK %d octets" % len(got)


async def test_serve_opens_pop3_and_pop3s_from_listen(pop3_template: Path, tmp_path: Path) -> None:
    def free_address() -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return f"127.0.0.1:{probe.getsockname()[1]}"

    data = tmp_path / "serve"
    shutil.copytree(pop3_template, data)
    listen = {name: "" for name in LISTEN_DEFAULTS} | {"pop3": free_address(), "pop3s": free_address()}
    (data / CONFIG_NAME).write_text(render({"listen": listen}), encoding="utf-8")
    server = Server(load(data, environ={}))
    try:
        await server.start()
        assert [(e.service, e.address, e.tls) for e in server.endpoints] == [
            ("POP3", listen["pop3"], "STLS"),
            ("POP3S", listen["pop3s"], "implicit TLS"),
        ]
        assert "POP3S" in startup_table(server.endpoints, data)
        context = ssl.create_default_context(cafile=str(server.app.config.tls_cert))

        def both() -> tuple[bytes, bytes]:
            plain = poplib.POP3("127.0.0.1", int(listen["pop3"].rsplit(":", 1)[1]), timeout=TIMEOUT)
            plain.stls(context=context)
            plain.user(PIERRE)
            first = plain.pass_(PASSWORDS[PIERRE])
            plain.quit()
            implicit = poplib.POP3_SSL(
                "127.0.0.1", int(listen["pop3s"].rsplit(":", 1)[1]), timeout=TIMEOUT, context=context
            )
            implicit.user(PIERRE)
            second = implicit.pass_(PASSWORDS[PIERRE])
            implicit.quit()
            return first, second

        assert await asyncio.to_thread(both) == (b"+OK Logged in, 0 messages (0 octets)",) * 2
    finally:
        await asyncio.wait_for(server.shutdown(), TIMEOUT * 2)


@pytest.mark.parametrize("tls", [False, True])
async def test_quit_before_login(pop3: Harness, tls: bool) -> None:
    client = await pop3.raw(tls=tls)
    assert await client.command(b"QUIT") == b"+OK Bye\r\n"
    assert await client.closed()
    await client.close()


async def test_pipelined_commands_are_answered_in_order(pop3: Harness) -> None:
    raws = [sample(n) for n in range(3)]
    uids = [pop3.deliver(raw) for raw in raws]
    validity = pop3.inbox().uidvalidity
    client = await pop3.raw(tls=True)
    await client.send(
        b"USER " + ARTHUR.encode() + b"\r\nPASS " + PASSWORDS[ARTHUR].encode() + b"\r\n"
        b"STAT\r\nLIST\r\nRETR 1\r\nRETR 2\r\nUIDL 3\r\nDELE 3\r\n" + b"NOOP\r\n" * 2000 + b"QUIT\r\n"
    )
    got = await asyncio.wait_for(client.reader.read(), TIMEOUT)
    sizes = [len(raw) for raw in raws]
    expected = (
        b"+OK Send your password\r\n"
        + b"+OK Logged in, 3 messages (%d octets)\r\n" % sum(sizes)
        + b"+OK 3 %d\r\n" % sum(sizes)
        + b"+OK 3 messages (%d octets)\r\n1 %d\r\n2 %d\r\n3 %d\r\n.\r\n" % (sum(sizes), *sizes)
        + b"+OK %d octets\r\n" % sizes[0]
        + raws[0]
        + b".\r\n"
        + b"+OK %d octets\r\n" % sizes[1]
        + raws[1]
        + b".\r\n"
        + b"+OK 3 %d.%d\r\n" % (validity, uids[2])
        + b"+OK Message 3 deleted\r\n"
        + b"+OK\r\n" * 2000
        + b"+OK Bye, 1 message deleted\r\n"
    )
    assert got == expected
    await client.close()
    assert [m.uid for m in pop3.messages()] == uids[:2]
