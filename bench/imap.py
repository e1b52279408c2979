"""IMAP selected-state benchmark: a real server process, a raw-socket client, one big folder.

For each size (20,000 and 100,000 messages by default) it fills INBOX through the store
directly (seeded, no fsync), starts the IMAP listener in a child process, and times over
loopback: SELECT, `UID FETCH 1:* (UID FLAGS)`, `FETCH 1:* (ENVELOPE)`, `FETCH 1:* (BODYSTRUCTURE)`,
`FETCH 1:* ALL`, a header-fields fetch of every message as mail clients do, 200 random
`UID FETCH n BODY.PEEK[]`, SEARCH FROM / SUBJECT / TEXT (a rare word) / UNSEEN, and
`STORE 1:* +FLAGS (\\Seen)`; then 500 sessions in IDLE: the server's memory, and how long each
takes to see a message appended by another connection.

Run: `.venv/bin/python bench/imap.py [--sizes 20000 100000] [--idle 500]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_data_dir

from arobase.config import load
from arobase.services.accounts import Accounts
from arobase.store import open_store

USER, PASSWORD = "bench@example.test", "bench-password-1"
ENV = {"AROBASE_STORE_FSYNC": "false", "AROBASE_AUTH_ALLOW_PLAINTEXT_ON_LOOPBACK": "true"}
WORDS = (
    "the meeting report budget project deadline invoice summer holiday family photos garden dinner "
    "weekend schedule update review contract delivery order payment thanks regards question answer "
    "server backup release notes travel train hotel conference agenda minutes draft final"
).split()
NAMES = ["Arthur Dupont", "Pierre Durand", "Marie Curie", "Jean Martin", "Sophie Bernard", "Lucas Petit"]
RARE = "zorglubification"


def make_message(rng: random.Random, n: int, rare: bool) -> bytes:
    """A 1-6 KB message; a few in every mailbox carry the rare word, some have an attachment."""
    sender = rng.choice(NAMES)
    address = sender.lower().replace(" ", ".") + "@remote.example"
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    when = format_datetime(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n))
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))) + "." for _ in range(rng.randint(10, 60))]
    if rare:
        lines.insert(rng.randrange(len(lines)), f"Please look at the {RARE} plan.")
    text = "\r\n".join(lines)
    head = (
        f"From: {sender} <{address}>\r\nTo: Bench <{USER}>\r\nSubject: {subject}\r\nDate: {when}\r\n"
        f"Message-ID: <{n}.{rng.getrandbits(40):x}@remote.example>\r\nMIME-Version: 1.0\r\n"
    )
    if n % 5:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n").encode()
    blob = rng.randbytes(600).hex()
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        f"{text}\r\n--b\r\nContent-Type: application/octet-stream; name=data.bin\r\n"
        'Content-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{blob}\r\n--b--\r\n"
    ).encode()


def populate(data: Path, count: int, seed: int) -> float:
    """Fill INBOX with `count` messages through the store; returns the seconds it took."""
    store = open_store(load(data, environ=ENV))
    try:
        accounts = Accounts(store)
        accounts.add_domain("example.test")
        account = accounts.add_user(USER, PASSWORD)
        rng = random.Random(seed)
        rare = set(rng.sample(range(count), 3))
        start = time.perf_counter()
        batch = []
        base = datetime(2025, 1, 1, tzinfo=UTC)
        pending = None
        for n in range(count):
            blob = store.put_message(make_message(rng, n, n in rare))
            batch.append((blob, ("\\Seen",) if n % 3 == 0 else (), base + timedelta(minutes=n)))
            if len(batch) == 1000:
                if pending is not None:
                    pending.wait()
                pending = store.append_many(account.id, "INBOX", batch)
                batch = []
        if batch:
            store.append_many(account.id, "INBOX", batch).wait()
        if pending is not None:
            pending.wait()
        return time.perf_counter() - start
    finally:
        store.close()


# -- the server, in its own process ---------------------------------------------------------------


def serve(data: Path, port_file: Path) -> None:
    from arobase.app import App
    from arobase.imap.server import Connections, start_listener
    from arobase.imap.session import Limits

    async def main() -> None:
        app = App.open(load(data, environ=ENV))
        server = await start_listener(
            app,
            "127.0.0.1",
            0,
            implicit_tls=False,
            limits=Limits(idle_timeout=3600.0),
            connections=Connections(per_ip=5000, per_account=5000),
        )
        port_file.write_text(str(server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KB."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


# -- a raw-socket client ---------------------------------------------------------------------------


class Client:
    """Sends one command and reads to its tagged line; counts responses and bytes, skips literals."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.counter = 0
        self.read_line()

    def read_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1 << 20)
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def command(self, text: str) -> tuple[bytes, int, int]:
        """(tagged line, untagged responses, bytes received); reads by offset, never copying the buffer."""
        self.counter += 1
        tag = b"T%d " % self.counter
        self.sock.sendall(tag + text.encode() + b"\r\n")
        buf, pos = self.buffer, 0
        received = responses = 0
        while True:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                buf, pos = buf[pos:] + self.sock.recv(1 << 20), 0
                continue
            line, pos = buf[pos:end], end + 2
            received += len(line) + 2
            responses += line.startswith(b"* ")
            if line.endswith(b"}") and b"{" in line:  # a literal follows
                size = int(line[line.rindex(b"{") + 1 : -1].rstrip(b"+"))
                while len(buf) - pos < size:
                    buf, pos = buf[pos:] + self.sock.recv(1 << 20), 0
                pos += size
                received += size
                continue
            if line.startswith(tag):
                self.buffer = buf[pos:]
                if not line.startswith(tag + b"OK"):
                    raise RuntimeError(f"{text}: {line!r}")
                return line, responses, received

    def timed(self, text: str) -> tuple[float, int, int]:
        start = time.perf_counter()
        _, responses, received = self.command(text)
        return time.perf_counter() - start, responses, received

    def close(self) -> None:
        self.sock.close()


def run_size(count: int, seed: int, idle: int, root: Path) -> dict[str, str]:
    data = make_data_dir(root / f"data-{count}")
    fill = populate(data, count, seed)
    results: dict[str, str] = {"populate": f"{fill:.1f} s ({count / fill:,.0f} msg/s)"}
    port_file = root / f"port-{count}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(data), str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = int(port_file.read_text())
        client = Client(port)
        client.command(f"LOGIN {USER} {PASSWORD}")
        results["server memory at start (RSS/PSS)"] = kb(memory(server.pid))

        def measure(name: str, text: str, repeat: int = 3) -> None:
            times = []
            for _ in range(repeat):
                seconds, responses, received = client.timed(text)
                times.append(seconds)
            best = min(times)
            results[name] = (
                f"{best * 1000:9.1f} ms  ({responses:,} responses, {received / 1e6:.1f} MB; runs {_ms(times)})"
            )

        measure("SELECT INBOX", "SELECT INBOX")
        measure("UID FETCH 1:* (UID FLAGS)", "UID FETCH 1:* (UID FLAGS)")
        measure("FETCH 1:* (ENVELOPE)", "FETCH 1:* (ENVELOPE)")
        measure("FETCH 1:* (BODYSTRUCTURE)", "FETCH 1:* (BODYSTRUCTURE)")
        measure("FETCH 1:* ALL", "FETCH 1:* ALL", repeat=2)
        header_fields = "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])"
        measure("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (4)])", header_fields, repeat=1)
        rng = random.Random(seed)
        start = time.perf_counter()
        size = 0
        for _ in range(200):
            _, _, received = client.command(f"UID FETCH {rng.randint(1, count)} BODY.PEEK[]")
            size += received
        spent = time.perf_counter() - start
        results["200 x UID FETCH n BODY.PEEK[]"] = f"{spent * 1000:9.1f} ms  ({spent * 5:.2f} ms each)"
        measure("SEARCH FROM", 'SEARCH FROM "marie.curie"')
        measure("SEARCH SUBJECT", "SEARCH SUBJECT holiday")
        measure(f"SEARCH TEXT {RARE}", f"SEARCH TEXT {RARE}")
        measure("SEARCH UNSEEN", "SEARCH UNSEEN")
        measure("STORE 1:* +FLAGS (\\Seen)", "STORE 1:* +FLAGS (\\Seen)", repeat=1)
        measure("STORE 1:* -FLAGS.SILENT (\\Seen)", "STORE 1:* -FLAGS.SILENT (\\Seen)", repeat=1)
        results["server memory after (RSS/PSS)"] = kb(memory(server.pid))
        client.close()
    finally:
        server.terminate()
        server.wait()
    if idle:  # in a fresh server process, so its memory is not the big FETCHes' leftovers
        port_file.unlink()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(data), str(port_file)])
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            results.update(idle_sessions(int(port_file.read_text()), idle, server.pid))
        finally:
            server.terminate()
            server.wait()
    return results


def kb(rss_pss: tuple[int, int]) -> str:
    return f"{rss_pss[0]:,} / {rss_pss[1]:,} KB"


def _ms(times: list[float]) -> str:
    return ", ".join(f"{t * 1000:.0f}" for t in times)


def idle_sessions(port: int, count: int, pid: int) -> dict[str, str]:
    """`count` sessions in IDLE on INBOX; another connection appends; how long until each sees it."""
    warm = Client(port)  # one session first: code paths, caches and the store's connections are warm
    warm.command(f"LOGIN {USER} {PASSWORD}")
    warm.command("EXAMINE INBOX")
    before = memory(pid)
    clients = []
    for _ in range(count):
        c = Client(port)
        c.command(f"LOGIN {USER} {PASSWORD}")
        c.command("EXAMINE INBOX")
        c.sock.sendall(b"I IDLE\r\n")
        clients.append(c)
    for c in clients:
        assert c.read_line().startswith(b"+ ")
    time.sleep(1.0)
    after = memory(pid)
    selector = selectors.DefaultSelector()
    for c in clients:
        c.sock.setblocking(False)
        selector.register(c.sock, selectors.EVENT_READ, c)
    sender = Client(port)
    sender.command(f"LOGIN {USER} {PASSWORD}")
    raw = b"From: a@b.test\r\nSubject: new\r\n\r\nhello\r\n"
    start = time.perf_counter()
    sender.sock.sendall(b"A APPEND INBOX {%d+}\r\n%s\r\n" % (len(raw), raw))
    delays: list[float] = []
    waiting = set(clients)
    deadline = start + 30
    while waiting and time.perf_counter() < deadline:
        for key, _ in selector.select(timeout=1.0):
            c = key.data
            c.buffer += c.sock.recv(65536)
            if c in waiting and b"EXISTS" in c.buffer:
                delays.append(time.perf_counter() - start)
                waiting.discard(c)
    for c in clients:
        c.close()
    sender.close()
    warm.close()
    delays.sort()
    per = (after[1] - before[1]) / count
    return {
        f"{count} IDLE sessions: server memory before/after (PSS)": f"{before[1]:,} / {after[1]:,} KB"
        f" ({per:.0f} KB per session)",
        f"{count} IDLE sessions: saw the new message": f"{len(delays)} of {count}; delay median "
        f"{delays[len(delays) // 2] * 1000:.1f} ms, max {delays[-1] * 1000:.1f} ms"
        if delays
        else "none",
    }


def machine() -> str:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} CPUs, {mem:.0f} GB RAM, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--idle", type=int, default=500, help="IDLE sessions (0 to skip)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(machine())
    root = Path(tempfile.mkdtemp(prefix="arobase-imap-bench-"))
    try:
        for count in args.sizes:
            print(f"\n== {count:,} messages in INBOX ==", flush=True)
            for name, value in run_size(count, args.seed, args.idle, root).items():
                print(f"{name:48} {value}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
