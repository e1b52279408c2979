"""SMTP ingest through the MX port of a real `arobase serve`, until every message is in INBOX.

The server runs as its own process (uvloop, fsync on, SPF and DMARC checked against the test DNS
server of tests/dnsserver.py in a helper process); 8 client threads each reuse one connection for many messages of about
4 KB. Reported: accepted messages per second (first MAIL to last 250) and the time until the
store shows all of them in INBOX. Run: `.venv/bin/python bench/smtp_ingest.py`
(`--messages 2000 --connections 8 --size 4096`; `--no-filters` to leave the spam/phishing filters out).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arobase.config import LISTEN_DEFAULTS, load
from arobase.store import open_store

ARROBASE = str(Path(sys.executable).parent / "arobase")
RECIPIENT = "arthur.dupont@example.test"
WORDS = (
    "the meeting report budget project deadline invoice summer holiday family photos garden dinner "
    "weekend schedule update review contract delivery order payment thanks regards question answer"
).split()


def make_message(rng: random.Random, n: int, size: int) -> bytes:
    when = format_datetime(datetime.fromtimestamp(1_760_000_000 + n * 37, UTC))
    lines = [
        f"From: Sender {n % 50} <sender{n % 50}@remote.example>",
        f"To: <{RECIPIENT}>",
        f"Subject: {' '.join(rng.choice(WORDS) for _ in range(6))}",
        f"Date: {when}",
        f"Message-ID: <{n}.{rng.getrandbits(48):x}@remote.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
    ]
    text = "\r\n".join(lines) + "\r\n"
    while len(text) < size:
        text += " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))) + ".\r\n"
    return text.encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


DNS_HELPER = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.dnsserver import DNSServer
with DNSServer() as dns:
    dns.add("remote.example", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    dns.add("_dmarc.remote.example", "TXT", "v=DMARC1; p=none")
    print(dns.port, flush=True)
    sys.stdin.read()
"""


def start_dns() -> tuple[subprocess.Popen[str], int]:
    """The test DNS server in its own process, so that it does not share a GIL with the clients."""
    root = str(Path(__file__).resolve().parents[1])
    helper = subprocess.Popen(
        [sys.executable, "-c", DNS_HELPER, root], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert helper.stdout is not None
    return helper, int(helper.stdout.readline())


def start_server(data: Path, mx_port: int, dns_port: int, filters: bool) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AROBASE_")}
    env.update({f"AROBASE_LISTEN_{name.upper()}": "" for name in LISTEN_DEFAULTS})
    env["AROBASE_LISTEN_MX"] = f"127.0.0.1:{mx_port}"
    env["AROBASE_DNS_NAMESERVER"] = f"127.0.0.1:{dns_port}"
    env["AROBASE_LOG_LEVEL"] = "warning"
    env["AROBASE_FILTERS_ENABLED"] = "true" if filters else "false"
    server = subprocess.Popen(
        [ARROBASE, "--data", str(data), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert server.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            raise SystemExit("arobase serve exited during start-up")
        if line.startswith("SMTP (MX)"):
            return server
    server.kill()
    raise SystemExit("arobase serve did not start in 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--size", type=int, default=4096, help="approximate message size in bytes")
    parser.add_argument("--no-filters", action="store_true", help="turn the spam/phishing/attachment filters off")
    args = parser.parse_args()

    rng = random.Random(42)
    messages = [make_message(rng, n, args.size) for n in range(args.messages)]
    with tempfile.TemporaryDirectory(prefix="arobase-bench-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run([ARROBASE, "init", str(data), "--demo"], check=True, capture_output=True)
        dns, dns_port = start_dns()
        port = free_port()
        server = start_server(data, port, dns_port, not args.no_filters)
        try:
            accepted, ingest, visible = run(data, port, messages, args.connections)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
            dns.communicate("", timeout=30)

    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, {platform.system()}")
    print(
        f"{len(messages)} messages of ~{args.size} bytes over {args.connections} connections to the MX port"
        f" (STARTTLS not used; SPF + DMARC checked; filters {'off' if args.no_filters else 'on'}; fsync on)"
    )
    print(f"accepted: {accepted} in {ingest:.2f} s = {accepted / ingest:.0f} messages/s")
    print(f"all in INBOX after {visible:.2f} s = {accepted / visible:.0f} messages/s end to end")
    print(f"server exit status: {server.returncode}")


def run(data: Path, port: int, messages: list[bytes], connections: int) -> tuple[int, float, float]:
    """Send everything; return (accepted, seconds to the last 250, seconds until all are in INBOX)."""
    shares = [messages[i::connections] for i in range(connections)]
    accepted = [0] * connections
    errors: list[BaseException] = []
    ready = threading.Barrier(connections + 1)

    def client(index: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.remote.example", timeout=60) as smtp:
                smtp.ehlo()
                ready.wait()
                for message in shares[index]:
                    smtp.sendmail(f"bounce-{index}@remote.example", [RECIPIENT], message)
                    accepted[index] += 1
        except BaseException as e:
            errors.append(e)
            ready.abort()

    store = open_store(load(data, environ={}))
    try:
        account = next(a for a in store.list_accounts() if a.address == RECIPIENT)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        ingest = time.perf_counter() - started
        if errors:
            raise errors[0]
        while True:
            inbox = store.get_mailbox(account.id, "INBOX")
            if inbox is not None and inbox.messages >= len(messages):
                break
            time.sleep(0.005)
        visible = time.perf_counter() - started
    finally:
        store.close()
    return sum(accepted), ingest, visible


if __name__ == "__main__":
    main()
