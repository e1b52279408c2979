"""POP3 download of a whole maildrop: login, UIDL and RETR of every message, over POP3S.

The messages are put in INBOX through the store (the shape of bench/store_delivery.py, ~4 KB each);
the listener runs on its own event loop thread (uvloop when installed, as `arobase serve` does) and
poplib downloads everything one command at a time, as most clients do. A second pass sends every
RETR at once (RFC 2449 PIPELINING) to show what the server alone can do. The first login of a
process computes the POP3 size of every message; later logins reuse it.
Run: `.venv/bin/python bench/pop3.py --messages 2000`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import poplib
import random
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.store_delivery import make_message
from tests.conftest import make_data_dir

from arobase.app import App
from arobase.config import load
from arobase.pop3 import Settings, start_listener

ADDRESS = "bench@example.test"
PASSWORD = "bench-password-1"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def start_server(app: App) -> tuple[asyncio.AbstractEventLoop, int]:
    """The POP3S listener on a free port, served by an event loop in a daemon thread."""
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    server = asyncio.run_coroutine_threadsafe(
        start_listener(app, "127.0.0.1", 0, implicit_tls=True, settings=Settings()), loop
    ).result(30)
    return loop, server.sockets[0].getsockname()[1]


def sequential(port: int, context: ssl.SSLContext, count: int) -> dict[str, float]:
    """poplib, one command at a time: login, UIDL, RETR 1..n, QUIT."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    client = poplib.POP3_SSL("127.0.0.1", port, timeout=60, context=context)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    times["login"] = time.perf_counter() - start
    mark = time.perf_counter()
    uids = client.uidl()[1]
    times["uidl"] = time.perf_counter() - mark
    assert len(uids) == count, len(uids)
    mark = time.perf_counter()
    octets = 0
    for number in range(1, count + 1):
        _, lines, _ = client.retr(number)
        octets += sum(len(line) + 2 for line in lines)
    times["retr"] = time.perf_counter() - mark
    client.quit()
    times["total"] = time.perf_counter() - start
    times["octets"] = octets
    return times


def pipelined(port: int, context: ssl.SSLContext, count: int) -> dict[str, float]:
    """One socket, every RETR sent at once; reads until the last terminator."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\n".encode())
        reader.readline()
        assert reader.readline().startswith(b"+OK"), "login failed"
        login = time.perf_counter() - start
        mark = time.perf_counter()
        sock.sendall(b"".join(b"RETR %d\r\n" % n for n in range(1, count + 1)))
        octets = 0
        for _ in range(count):
            assert reader.readline().startswith(b"+OK")
            while (line := reader.readline()) != b".\r\n":
                octets += len(line)
        retr = time.perf_counter() - mark
        sock.sendall(b"QUIT\r\n")
        reader.readline()
        sock.close()
    return {"login": login, "retr": retr, "octets": octets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="arobase-bench-pop3-"))
    try:
        data = make_data_dir(root / "data")
        app = App.open(load(data, environ={}))
        app.accounts.add_domain("example.test")
        account = app.accounts.add_user(ADDRESS, PASSWORD)
        rng = random.Random(args.seed)
        store = app.store
        pending = [
            store.deliver(store.put_message(make_message(rng, n, [ADDRESS])), [(account.id, "INBOX")])
            for n in range(args.messages)
        ]
        for p in pending:
            p.wait(120)
        inbox = store.get_mailbox(account.id, "INBOX")
        assert inbox is not None and inbox.messages == args.messages
        loop, port = start_server(app)
        context = ssl.create_default_context(cafile=str(app.config.tls_cert))

        cold = sequential(port, context, args.messages)
        warm = sequential(port, context, args.messages)
        burst = pipelined(port, context, args.messages)
        time.sleep(0.5)  # let the last session finish closing before the loop stops
        loop.call_soon_threadsafe(loop.stop)
        app.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    mb = cold["octets"] / 1e6
    print(f"POP3S download of {args.messages} messages ({mb:.1f} MB, {cold['octets'] / args.messages:.0f} B average)")
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}, {platform.system()}")
    for name, run in (("first login of the process", cold), ("second run (sizes known)", warm)):
        print(
            f"  poplib, {name}: login {run['login'] * 1000:.0f} ms, UIDL {run['uidl'] * 1000:.0f} ms,"
            f" RETR all {run['retr']:.2f} s ({mb / run['retr']:.1f} MB/s, {args.messages / run['retr']:.0f} msg/s),"
            f" total {run['total']:.2f} s"
        )
    print(
        f"  pipelined RETRs: login {burst['login'] * 1000:.0f} ms, RETR all {burst['retr']:.2f} s"
        f" ({burst['octets'] / 1e6 / burst['retr']:.1f} MB/s, {args.messages / burst['retr']:.0f} msg/s)"
    )


if __name__ == "__main__":
    main()
