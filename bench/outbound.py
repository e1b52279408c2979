"""Outbound delivery: messages from the queue to a remote server's acceptance.

2,000 messages of about 4 KB, each to one recipient of a remote domain, are put in the outbound queue of
a fresh data directory (fsync on, as in production); then the queue workers start (uvloop) and carry them
to an aiosmtpd sink that stands for the remote MX and runs in its own process, over STARTTLS, through a
static route. Every message is DKIM-signed (RSA 2048). Reported: messages per second from the start of
the queue until the last remote 250 is recorded in the store (the queue empty), and the connections used.

Run: `.venv/bin/python bench/outbound.py` (`--messages 2000 --size 4096 --connections 4 --workers 32`,
`--no-dkim` to leave signing out, `--no-fsync`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arobase.app import App
from arobase.config import CONFIG_NAME, load, render
from arobase.outbound import OutboundQueue
from arobase.services.accounts import Accounts
from arobase.store import migrate_store, open_store
from arobase.tls import generate_self_signed

SENDER = "pierre.durand@orange.test"
WORDS = (
    "the meeting report budget project deadline invoice summer holiday family photos garden dinner "
    "weekend schedule update review contract delivery order payment thanks regards question answer"
).split()


def make_message(rng: random.Random, n: int, size: int) -> bytes:
    lines = [
        f"From: Pierre Durand <{SENDER}>",
        f"To: <user{n}@remote.test>",
        f"Subject: {' '.join(rng.choice(WORDS) for _ in range(6))}",
        "Date: Thu, 26 Nov 2026 10:00:00 +0000",
        f"Message-ID: <{n}.{rng.getrandbits(48):x}@orange.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
    ]
    text = "\r\n".join(lines) + "\r\n"
    while len(text) < size:
        text += " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))) + ".\r\n"
    return text.encode()


def run_sink(port: int, cert: str, key: str) -> None:
    """The remote MX: an aiosmtpd sink with STARTTLS, in its own process; prints 'ready' once listening."""
    from aiosmtpd.controller import Controller

    class Handler:
        count = 0

        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
            Handler.count += 1
            return "250 2.0.0 accepted"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, server_hostname="sink.test", tls_context=context
    )
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()
    print(f"sink accepted {Handler.count}", flush=True)


def prepare(data: Path, args: argparse.Namespace, sink_port: int) -> None:
    data.mkdir(parents=True)
    generate_self_signed("mx.orange.test", data / "tls" / "cert.pem", data / "tls" / "key.pem")
    migrate_store(data)
    settings = {
        "server": {"hostname": "mx.orange.test"},
        "store": {"fsync": not args.no_fsync},
        "outbound": {
            "routes": f"remote.test=127.0.0.1:{sink_port}",
            "connections_per_host": args.connections,
            "workers": args.workers,
            "poll_interval_ms": 50,
            "idle_seconds": 30,
        },
    }
    (data / CONFIG_NAME).write_text(render(settings), encoding="utf-8")
    store = open_store(load(data, environ={}))
    try:
        accounts = Accounts(store)
        accounts.add_domain("orange.test", dkim=not args.no_dkim)
        account = accounts.add_user(SENDER, "bench-password-1")  # submitted mail is signed, relayed mail is not
        rng = random.Random(42)
        pending = []
        for n in range(args.messages):
            blob = store.put_message(make_message(rng, n, args.size))
            recipient = [f"user{n}@remote.test"]
            pending.append(store.deliver(blob, [], outbound=recipient, sender=SENDER, sender_account=account.id))
        for write in pending:
            write.wait()
    finally:
        store.close()


async def deliver_all(data: Path, expected: int) -> tuple[float, int, int]:
    app = App.open(load(data, environ={}))
    queue = OutboundQueue(app)
    try:
        started = time.perf_counter()
        await queue.start()
        while queue.delivered < expected:  # counted when the outcome is about to be committed
            await asyncio.sleep(0.005)
            if time.perf_counter() - started > 600:
                raise SystemExit("the queue did not empty within 10 minutes")
        assert await queue.idle(30), "outcomes not committed"
        elapsed = time.perf_counter() - started
        assert app.store.outbound_entries() == []
        return elapsed, queue.pool.opened, queue.pool.reused
    finally:
        await queue.stop()
        app.close()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--connections", type=int, default=4, help="connections to the remote host")
    parser.add_argument("--workers", type=int, default=32, help="messages in flight")
    parser.add_argument("--no-dkim", action="store_true")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--sink", nargs=3, metavar=("PORT", "CERT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(int(args.sink[0]), args.sink[1], args.sink[2])
        return

    with tempfile.TemporaryDirectory(prefix="arobase-bench-") as tmp:
        cert, key = Path(tmp) / "sink-cert.pem", Path(tmp) / "sink-key.pem"
        generate_self_signed("sink.test", cert, key)
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        sink = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(port), str(cert), str(key)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
            data = Path(tmp) / "data"
            t0 = time.perf_counter()
            prepare(data, args, port)
            queued = time.perf_counter() - t0
            try:
                import uvloop

                elapsed, opened, reused = uvloop.run(deliver_all(data, args.messages))
            except ImportError:
                elapsed, opened, reused = asyncio.run(deliver_all(data, args.messages))
        finally:
            sink.send_signal(signal.SIGTERM)
            out, _ = sink.communicate(timeout=30)
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {platform.python_version()}")
    print(
        f"{args.messages} messages of ~{args.size} bytes, {args.connections} connections, {args.workers} workers,"
        f" DKIM {'off' if args.no_dkim else 'RSA 2048'}, fsync {'off' if args.no_fsync else 'on'}"
    )
    print(f"queued in {queued:.1f}s (not measured below)")
    print(f"queue -> remote 250: {elapsed:.2f}s, {args.messages / elapsed:.0f} messages/s")
    print(f"connections opened {opened}, reused {reused} times; {out.strip()}")


if __name__ == "__main__":
    main()
