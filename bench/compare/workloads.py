"""One client for every server: the same seeded workloads, one JSON line per scenario on stdout.

Run against anything that speaks SMTP, IMAP and POP3 on loopback, for example:
`python bench/compare/workloads.py --label dovecot --smtp-port 2525 --imap-port 2143 --pop3-port 2110
--user bench@example.test --password secret --server-pid 1234`.

Every scenario checks its answers against what the generator predicts (hit counts, message bytes,
Message-IDs, no session errors); a scenario whose answer is wrong reports "ok": false and no figure,
so a fast wrong answer cannot pass. The client is asyncio over raw sockets with a single buffer
scan per command, so its overhead is small and identical for every server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import contextlib

from bench.compare.generator import FROM_QUERY, RARE, SENDER_DOMAIN, SUBJECT_QUERY, Corpus

TIMEOUT = 60.0  # one command or reply; big FETCH and SEARCH get BIG_TIMEOUT
BIG_TIMEOUT = 900.0
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class ProtocolError(Exception):
    """A server answered something other than what the workload needs."""


class VerificationError(Exception):
    """A server's answer differs from what the seeded generator predicts."""


@dataclass(slots=True)
class Reply:
    """One IMAP command's outcome: the tagged line, untagged lines (literals replaced), literals."""

    tagged: bytes
    untagged: int = 0
    lines: list[bytes] = field(default_factory=list)
    literals: list[bytes] = field(default_factory=list)
    received: int = 0


class Connection:
    """A buffered loopback stream with line and literal reads under a deadline."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buf = bytearray()
        self.pos = 0

    @classmethod
    async def open(cls, host: str, port: int, timeout: float = TIMEOUT) -> Connection:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        return cls(reader, writer)

    async def _fill(self) -> None:
        if self.pos > 1 << 20:
            del self.buf[: self.pos]
            self.pos = 0
        chunk = await self.reader.read(1 << 20)
        if not chunk:
            raise ProtocolError("connection closed by the server")
        self.buf += chunk

    async def line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos : end])
                self.pos = end + 2
                return line
            await self._fill()

    async def exactly(self, size: int) -> bytes:
        while len(self.buf) - self.pos < size:
            await self._fill()
        data = bytes(self.buf[self.pos : self.pos + size])
        self.pos += size
        return data

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def close(self) -> None:
        self.writer.close()
        try:
            async with asyncio.timeout(5):
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            pass


class Imap:
    """Just enough IMAP4rev1 for the workloads: tagged commands, literals, IDLE."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.counter = 0
        self.literal_plus = False

    @classmethod
    async def login(cls, host: str, port: int, user: str, password: str) -> Imap:
        imap = cls(await Connection.open(host, port))
        async with asyncio.timeout(TIMEOUT):
            greeting = await imap.conn.line()
        if not greeting.startswith(b"* OK"):
            raise ProtocolError(f"IMAP greeting {greeting!r}")
        await imap.command(f"LOGIN {quote(user)} {quote(password)}")
        caps = await imap.command("CAPABILITY", keep=True)
        imap.literal_plus = any(b"LITERAL+" in line.upper() for line in caps.lines)
        return imap

    async def command(
        self, text: str, literal: bytes | None = None, keep: bool = False, timeout: float = TIMEOUT
    ) -> Reply:
        """Send one command (with an optional trailing literal argument) and read to its tagged OK."""
        self.counter += 1
        tag = b"A%d" % self.counter
        async with asyncio.timeout(timeout):
            if literal is None:
                self.conn.send(tag + b" " + text.encode() + b"\r\n")
            elif self.literal_plus:
                self.conn.send(b"%s %s {%d+}\r\n%s\r\n" % (tag, text.encode(), len(literal), literal))
            else:
                self.conn.send(b"%s %s {%d}\r\n" % (tag, text.encode(), len(literal)))
                line = await self.conn.line()
                if not line.startswith(b"+"):
                    raise ProtocolError(f"{text}: no continuation, got {line!r}")
                self.conn.send(literal + b"\r\n")
            return await self.read_reply(tag, text, keep)

    async def read_reply(self, tag: bytes, text: str, keep: bool) -> Reply:
        reply = Reply(b"")
        prefix = tag + b" "
        while True:
            line = await self.conn.line()
            reply.received += len(line) + 2
            if line.startswith(prefix):
                reply.tagged = line
                if not line[len(prefix) :].startswith(b"OK"):
                    raise ProtocolError(f"{text[:60]}: {line[:200]!r}")
                return reply
            if line.startswith(b"* "):
                reply.untagged += 1
                if keep:
                    reply.lines.append(line)
            elif keep and reply.lines:
                reply.lines[-1] += line  # the rest of a response after a literal
            match = _LITERAL.search(line)
            if match:
                data = await self.conn.exactly(int(match.group(1)))
                reply.received += len(data)
                if keep:
                    reply.literals.append(data)

    async def logout(self) -> None:
        with contextlib.suppress(ProtocolError, TimeoutError, OSError):
            await self.command("LOGOUT", timeout=10)
        await self.conn.close()


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def numbers(reply: Reply, keyword: bytes) -> list[int]:
    """The numbers of an untagged `* SEARCH 1 2 3` (or `* 3 EXISTS` when keyword follows the number)."""
    found: list[int] = []
    for line in reply.lines:
        words = line.split()
        if keyword == b"SEARCH" and len(words) >= 2 and words[1].upper() == b"SEARCH":
            found.extend(int(w) for w in words[2:] if w.isdigit())
        elif len(words) >= 3 and words[2].upper() == keyword and words[1].isdigit():
            found.append(int(words[1]))
    return found


async def status_messages(imap: Imap, mailbox: str = "INBOX") -> int:
    reply = await imap.command(f"STATUS {mailbox} (MESSAGES)", keep=True)
    for line in reply.lines:
        match = re.search(rb"MESSAGES (\d+)", line)
        if match:
            return int(match.group(1))
    raise ProtocolError(f"no MESSAGES in STATUS: {reply.lines!r}")


# -- SMTP and POP3 ---------------------------------------------------------------------------------


class Smtp:
    """A plain SMTP client session: EHLO once, then MAIL/RCPT/DATA per message."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def reply(self) -> tuple[int, bytes]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                line = await self.conn.line()
                if len(line) < 4 or line[3:4] != b"-":
                    return int(line[:3]), line

    async def expect(self, command: bytes | None, code: int) -> None:
        if command is not None:
            self.conn.send(command + b"\r\n")
        got, line = await self.reply()
        if got != code:
            raise ProtocolError(f"SMTP {command!r}: {line!r}")

    @classmethod
    async def open(cls, host: str, port: int) -> Smtp:
        smtp = cls(await Connection.open(host, port))
        await smtp.expect(None, 220)
        await smtp.expect(b"EHLO client." + SENDER_DOMAIN.encode(), 250)
        return smtp

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        body = message.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        await self.expect(b"MAIL FROM:<" + sender.encode() + b">", 250)
        await self.expect(b"RCPT TO:<" + recipient.encode() + b">", 250)
        await self.expect(b"DATA", 354)
        self.conn.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        await self.expect(None, 250)

    async def quit(self) -> None:
        with contextlib.suppress(ProtocolError, TimeoutError, OSError):
            await self.expect(b"QUIT", 221)
        await self.conn.close()


class Pop3:
    """USER/PASS, then single- and multi-line commands with dot-unstuffing."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def ok(self, command: bytes | None) -> bytes:
        if command is not None:
            self.conn.send(command + b"\r\n")
        async with asyncio.timeout(TIMEOUT):
            line = await self.conn.line()
        if not line.startswith(b"+OK"):
            raise ProtocolError(f"POP3 {command!r}: {line!r}")
        return line

    async def multiline(self, command: bytes) -> list[bytes]:
        await self.ok(command)
        lines: list[bytes] = []
        async with asyncio.timeout(TIMEOUT):
            while (line := await self.conn.line()) != b".":
                lines.append(line[1:] if line.startswith(b"..") else line)
        return lines


# -- scenarios -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    """Where the server under test listens, whom to log in as, and which processes are the server."""

    host: str
    smtp_port: int
    imap_port: int
    pop3_port: int
    user: str
    password: str
    server_pids: list[int]


@dataclass(slots=True)
class Plan:
    """How big each workload is; the defaults are the quick run, the issue's sizes are flags away."""

    seed: int = 1
    messages: int = 2000
    connections: int = 8
    size: int = 4096
    appends: tuple[int, ...] = (2000,)
    peeks: int = 200
    clients: int = 16
    seconds: float = 30.0
    envelopes: int = 50
    idle: int = 500
    only: frozenset[str] = frozenset()


def emit(label: str, scenario: str, figures: dict[str, float], check: str, **params: Any) -> dict[str, Any]:
    """Print and return one result line; figure names carry their unit (ms, msg/s, KB/conn ...)."""
    line = {"label": label, "scenario": scenario, "ok": True, "figures": figures, "check": check, "params": params}
    print(json.dumps(line), flush=True)
    return line


def emit_failure(label: str, scenario: str, error: BaseException) -> dict[str, Any]:
    line = {
        "label": label,
        "scenario": scenario,
        "ok": False,
        "figures": {},
        "check": "",
        "error": f"{type(error).__name__}: {error}"[:500],
        "params": {},
    }
    print(json.dumps(line), flush=True)
    return line


def verify(condition: bool, message: str) -> None:
    if not condition:
        raise VerificationError(message)


async def smtp_ingest(target: Target, plan: Plan, label: str) -> None:
    """`messages` over `connections` SMTP sessions, timed until IMAP STATUS shows all of them in INBOX."""
    corpus = Corpus(plan.seed, plan.messages, target.user, plan.size)
    messages = [corpus.message(n) for n in range(plan.messages)]
    watcher = await Imap.login(target.host, target.imap_port, target.user, target.password)
    before = await status_messages(watcher)
    verify(before == 0, f"INBOX must start empty, has {before}")
    sessions = [await Smtp.open(target.host, target.smtp_port) for _ in range(plan.connections)]
    accepted_at: list[float] = []

    async def sender(index: int) -> None:
        for n in range(index, plan.messages, plan.connections):
            await sessions[index].send(f"bounce-{index}@{SENDER_DOMAIN}", target.user, messages[n])
        accepted_at.append(time.perf_counter())

    start = time.perf_counter()
    senders = asyncio.gather(*(sender(i) for i in range(plan.connections)))
    visible = 0
    deadline = start + max(120.0, plan.messages / 5)
    while visible < plan.messages:
        if time.perf_counter() > deadline:
            raise VerificationError(f"only {visible} of {plan.messages} visible after {deadline - start:.0f} s")
        if senders.done() and senders.exception() is not None:
            break
        visible = await status_messages(watcher)
        if visible < plan.messages:
            await asyncio.sleep(0.02)
    seen_all = time.perf_counter() - start
    await senders
    for smtp in sessions:
        await smtp.quit()
    final = await status_messages(watcher)
    await watcher.logout()
    verify(final == plan.messages, f"INBOX has {final} messages, {plan.messages} were sent")
    accepted = max(accepted_at) - start
    emit(
        label,
        "smtp_ingest",
        {"msg/s visible": plan.messages / seen_all, "msg/s accepted": plan.messages / accepted},
        f"{final} of {plan.messages} in INBOX",
        messages=plan.messages,
        connections=plan.connections,
    )


async def append_and_query(target: Target, plan: Plan, label: str, count: int) -> None:
    """APPEND `count` messages into a new folder, then time the selected-state commands on it."""
    folder = f"Bench{count}"
    corpus = Corpus(plan.seed + count, count, target.user, plan.size)
    expected = corpus.expected()
    imap = await Imap.login(target.host, target.imap_port, target.user, target.password)
    await imap.command(f"CREATE {folder}")

    async def scenario(name: str, body: Callable[[], Awaitable[None]]) -> None:
        try:
            await body()
        except (ProtocolError, VerificationError, TimeoutError, OSError) as e:
            emit_failure(label, f"{name}_{count}", e)

    async def append() -> None:
        start = time.perf_counter()
        for n in range(count):
            flags = "(\\Seen) " if corpus.spec(n).seen else ""
            await imap.command(f"APPEND {folder} {flags}".rstrip(), literal=corpus.message(n))
        spent = time.perf_counter() - start
        got = await status_messages(imap, folder)
        verify(got == count, f"{got} messages after {count} APPENDs")
        emit(label, f"append_{count}", {"msg/s": count / spent}, f"{got} messages", messages=count)

    async def timed(name: str, command: str, check: Callable[[Reply], None], repeat: int = 3) -> None:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            reply = await imap.command(command, keep=True, timeout=BIG_TIMEOUT)
            times.append(time.perf_counter() - start)
            check(reply)
        figures = {"ms": times[0] * 1000}
        if repeat > 1:
            figures["ms warm"] = min(times[1:]) * 1000
        emit(label, f"{name}_{count}", figures, f"{command}: verified", messages=count)

    def fetches(n: int, item: bytes) -> Callable[[Reply], None]:
        def check(reply: Reply) -> None:
            got = sum(1 for line in reply.lines if item in line.upper())
            verify(got == n, f"{got} FETCH responses with {item.decode()}, expected {n}")

        return check

    def flags_check(reply: Reply) -> None:
        fetches(count, b"FLAGS")(reply)
        seen = sum(1 for line in reply.lines if b"\\SEEN" in line.upper())
        verify(seen == expected.seen, f"{seen} messages \\Seen, expected {expected.seen}")

    def hits(n: int) -> Callable[[Reply], None]:
        def check(reply: Reply) -> None:
            got = len(numbers(reply, b"SEARCH"))
            verify(got == n, f"{got} hits, the generator predicts {n}")

        return check

    async def select() -> None:
        start = time.perf_counter()
        reply = await imap.command(f"SELECT {folder}", keep=True, timeout=BIG_TIMEOUT)
        spent = time.perf_counter() - start
        exists = numbers(reply, b"EXISTS")
        verify(exists == [count], f"SELECT says EXISTS {exists}, expected {count}")
        emit(label, f"select_{count}", {"ms": spent * 1000}, f"EXISTS {count}", messages=count)

    async def peeks() -> None:
        rng = random.Random(plan.seed)
        picks = [rng.randrange(count) for _ in range(plan.peeks)]
        start = time.perf_counter()
        replies = [await imap.command(f"FETCH {n + 1} BODY.PEEK[]", keep=True) for n in picks]
        spent = time.perf_counter() - start
        for n, reply in zip(picks, replies, strict=True):
            verify(reply.literals == [corpus.message(n)], f"message {n + 1} differs from what was appended")
        emit(
            label,
            f"body_peek_{count}",
            {"ms each": spent * 1000 / len(picks)},
            f"{len(picks)} bodies byte-identical",
            messages=count,
            fetches=len(picks),
        )

    async def store(sign: str) -> None:
        start = time.perf_counter()
        await imap.command(f"STORE 1:* {sign}FLAGS (\\Seen)", timeout=BIG_TIMEOUT)
        spent = time.perf_counter() - start
        probe = "UNSEEN" if sign == "+" else "SEEN"
        left = numbers(await imap.command(f"SEARCH {probe}", keep=True, timeout=BIG_TIMEOUT), b"SEARCH")
        verify(not left, f"{len(left)} messages still {probe} after STORE {sign}FLAGS")
        name = "store_seen" if sign == "+" else "store_unseen"
        emit(label, f"{name}_{count}", {"ms": spent * 1000}, f"SEARCH {probe} empty afterwards", messages=count)

    try:
        await scenario("append", append)
        await scenario("select", select)
        await scenario("uid_fetch_flags", lambda: timed("uid_fetch_flags", "UID FETCH 1:* (UID FLAGS)", flags_check))
        await scenario(
            "fetch_envelope", lambda: timed("fetch_envelope", "FETCH 1:* (ENVELOPE)", fetches(count, b"ENVELOPE"))
        )
        await scenario(
            "fetch_bodystructure",
            lambda: timed("fetch_bodystructure", "FETCH 1:* (BODYSTRUCTURE)", fetches(count, b"BODYSTRUCTURE")),
        )
        await scenario("body_peek", peeks)
        await scenario(
            "search_from", lambda: timed("search_from", f"SEARCH FROM {FROM_QUERY}", hits(expected.from_hits))
        )
        await scenario(
            "search_subject",
            lambda: timed("search_subject", f"SEARCH SUBJECT {SUBJECT_QUERY}", hits(expected.subject_hits)),
        )
        await scenario("search_text", lambda: timed("search_text", f"SEARCH TEXT {RARE}", hits(expected.text_hits)))
        await scenario("search_unseen", lambda: timed("search_unseen", "SEARCH UNSEEN", hits(expected.unseen)))
        await scenario("store_seen", lambda: store("+"))
        await scenario("store_unseen", lambda: store("-"))
    finally:
        await imap.logout()


async def pop3_retrieve(target: Target, plan: Plan, label: str) -> None:
    """UIDL, then RETR of every message in INBOX (the SMTP-delivered ones); nothing is deleted."""
    corpus = Corpus(plan.seed, plan.messages, target.user, plan.size)
    wanted = {corpus.message_id(n).encode() for n in range(plan.messages)}
    pop = Pop3(await Connection.open(target.host, target.pop3_port))
    await pop.ok(None)
    await pop.ok(b"USER " + target.user.encode())
    await pop.ok(b"PASS " + target.password.encode())
    stat = await pop.ok(b"STAT")
    total = int(stat.split()[1])
    verify(total == plan.messages, f"STAT says {total} messages, {plan.messages} were delivered")
    start = time.perf_counter()
    uidl = await pop.multiline(b"UIDL")
    found: set[bytes] = set()
    octets = 0
    for number in range(1, total + 1):
        message = b"\r\n".join(await pop.multiline(b"RETR %d" % number))
        octets += len(message)
        match = _MESSAGE_ID.search(message)
        if match:
            found.add(match.group(1))
    spent = time.perf_counter() - start
    await pop.ok(b"QUIT")
    await pop.conn.close()
    verify(len({line.split()[1] for line in uidl}) == total, f"{len(uidl)} UIDL lines for {total} messages")
    verify(found == wanted, f"{len(wanted - found)} Message-IDs missing from the retrieved messages")
    emit(
        label,
        f"pop3_{total}",
        {"msg/s": total / spent, "MB/s": octets / spent / 1e6},
        f"UIDL {total} unique, all Message-IDs",
        messages=total,
    )


async def sessions(target: Target, plan: Plan, label: str) -> None:
    """`clients` concurrent loops of connect, LOGIN, SELECT, FETCH 1:envelopes (ENVELOPE), LOGOUT."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + plan.seconds

    async def client() -> None:
        while time.perf_counter() < stop and len(errors) < 10:
            begin = time.perf_counter()
            try:
                imap = await Imap.login(target.host, target.imap_port, target.user, target.password)
                await imap.command("SELECT INBOX")
                reply = await imap.command(f"FETCH 1:{plan.envelopes} (ENVELOPE)", keep=True)
                got = sum(1 for line in reply.lines if b"ENVELOPE" in line.upper())
                await imap.logout()
                if got != plan.envelopes:
                    errors.append(f"{got} envelopes instead of {plan.envelopes}")
                latencies.append(time.perf_counter() - begin)
            except (ProtocolError, TimeoutError, OSError) as e:
                errors.append(f"{type(e).__name__}: {e}")

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(plan.clients)))
    spent = time.perf_counter() - start
    verify(not errors, f"{len(errors)} session errors, first: {errors[0] if errors else ''}")
    verify(bool(latencies), "no session completed")
    emit(
        label,
        "sessions",
        {"sessions/s": len(latencies) / spent, "p99 ms": percentile(latencies, 0.99) * 1000},
        f"{len(latencies)} sessions, no errors",
        clients=plan.clients,
        seconds=plan.seconds,
    )


async def idle(target: Target, plan: Plan, label: str) -> None:
    """`idle` sessions in IDLE on INBOX: server memory per connection, then the delay to see an APPEND."""
    warm = await Imap.login(target.host, target.imap_port, target.user, target.password)
    await warm.command("EXAMINE INBOX")
    await asyncio.sleep(0.5)
    before = server_pss(target.server_pids)
    gate = asyncio.Semaphore(16)

    async def open_one() -> Imap:
        async with gate:
            imap = await Imap.login(target.host, target.imap_port, target.user, target.password)
            await imap.command("EXAMINE INBOX")
            imap.conn.send(b"I IDLE\r\n")
            async with asyncio.timeout(TIMEOUT):
                line = await imap.conn.line()
            if not line.startswith(b"+"):
                raise ProtocolError(f"IDLE: {line!r}")
            return imap

    clients = await asyncio.gather(*(open_one() for _ in range(plan.idle)))
    await asyncio.sleep(1.0)
    after = server_pss(target.server_pids)
    start = time.perf_counter()

    async def wait_exists(imap: Imap) -> float:
        async with asyncio.timeout(30):
            while not (await imap.conn.line()).endswith(b"EXISTS"):
                pass
        return time.perf_counter() - start

    waiters = [asyncio.ensure_future(wait_exists(c)) for c in clients]
    await warm.command("APPEND INBOX", literal=b"From: a@remote.example\r\nSubject: new\r\n\r\nhello\r\n")
    delays = sorted(await asyncio.gather(*waiters))
    for imap in clients:
        imap.conn.send(b"DONE\r\n")
    await asyncio.gather(*(imap.conn.close() for imap in clients))
    await warm.logout()
    verify(len(delays) == plan.idle, f"{len(delays)} of {plan.idle} saw the new message")
    emit(
        label,
        f"idle_{plan.idle}",
        {
            "KB/conn": (after - before) / plan.idle,
            "delay median ms": delays[len(delays) // 2] * 1000,
            "delay p99 ms": percentile(delays, 0.99) * 1000,
            "delay max ms": delays[-1] * 1000,
        },
        f"all {plan.idle} saw EXISTS; server PSS {before:,} -> {after:,} KB",
        connections=plan.idle,
    )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def descendants(roots: list[int], proc: Path = Path("/proc")) -> set[int]:
    """The given processes and every process below them (Dovecot forks a process per session)."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid for pid in roots if (proc / str(pid)).exists()]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def server_pss(roots: list[int], proc: Path = Path("/proc")) -> int:
    """PSS in KB summed over the server's processes, from smaps_rollup."""
    total = 0
    for pid in descendants(roots, proc):
        try:
            text = (proc / str(pid) / "smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
                break
    return total


async def run_all(target: Target, plan: Plan, label: str) -> None:
    """Every scenario in a fixed order; a failed one is reported and the next still runs."""
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [("smtp_ingest", lambda: smtp_ingest(target, plan, label))]
    steps += [(f"append_{n}", partial(append_and_query, target, plan, label, n)) for n in plan.appends]
    steps += [
        (f"pop3_{plan.messages}", lambda: pop3_retrieve(target, plan, label)),
        ("sessions", lambda: sessions(target, plan, label)),
        (f"idle_{plan.idle}", lambda: idle(target, plan, label)),
    ]
    for name, step in steps:
        if plan.only and not any(name.startswith(prefix) for prefix in plan.only):
            continue
        try:
            await step()
        except Exception as e:  # any surprise in one step is that step's failure; the next steps still run
            emit_failure(label, name, e)


def parse_args(argv: list[str] | None = None) -> tuple[Target, Plan, str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="server", help="name of the server in the JSON lines")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--imap-port", type=int, required=True)
    parser.add_argument("--pop3-port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--server-pid", type=int, action="append", default=[], help="root of the server's processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=2000, help="SMTP ingest, then POP3 retrieval")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections")
    parser.add_argument("--size", type=int, default=4096, help="average message size in bytes")
    parser.add_argument("--append", type=int, nargs="+", default=[2000], help="folder sizes filled by APPEND")
    parser.add_argument("--peeks", type=int, default=200, help="random BODY.PEEK[] fetches")
    parser.add_argument("--clients", type=int, default=16, help="concurrent login/select/fetch/logout loops")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the concurrent sessions")
    parser.add_argument("--envelopes", type=int, default=50, help="envelopes fetched in each session")
    parser.add_argument("--idle", type=int, default=500, help="connections in IDLE")
    parser.add_argument("--only", nargs="*", default=[], help="steps to run, by prefix: smtp append pop3 sessions idle")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only loopback servers are benchmarked")
    if args.envelopes > args.messages:
        parser.error("--envelopes cannot exceed --messages")
    target = Target(
        args.host, args.smtp_port, args.imap_port, args.pop3_port, args.user, args.password, args.server_pid
    )
    plan = Plan(
        seed=args.seed,
        messages=args.messages,
        connections=args.connections,
        size=args.size,
        appends=tuple(args.append),
        peeks=args.peeks,
        clients=args.clients,
        seconds=args.seconds,
        envelopes=args.envelopes,
        idle=args.idle,
        only=frozenset(args.only),
    )
    return target, plan, args.label


def main(argv: list[str] | None = None) -> None:
    target, plan, label = parse_args(argv)
    asyncio.run(run_all(target, plan, label))


if __name__ == "__main__":
    main()
