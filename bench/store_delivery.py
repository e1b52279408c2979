"""Durable deliveries into the store, in process, from concurrent producers.

Each producer writes the blob (fsync), parses it once and waits for its group-committed
metadata, exactly as an SMTP session does before answering 250. Run: `make bench` or
`.venv/bin/python bench/store_delivery.py --messages 20000 --producers 8`.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_data_dir

from arobase.config import load
from arobase.services.accounts import Accounts
from arobase.store import open_store

WORDS = (
    "the meeting report budget project deadline invoice summer holiday family photos garden dinner "
    "weekend schedule update review contract delivery order payment thanks regards question answer "
    "server backup release notes travel train hotel conference agenda minutes draft final"
).split()
NAMES = ["Arthur Dupont", "Pierre Durand", "Marie Curie", "Jean Martin", "Sophie Bernard", "Lucas Petit"]


def make_message(rng: random.Random, n: int, recipients: list[str]) -> bytes:
    sender = rng.choice(NAMES)
    sender_addr = sender.lower().replace(" ", ".") + "@remote.example"
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    when = format_datetime(datetime.fromtimestamp(1_760_000_000 + n * 37, UTC))
    headers = [
        f"Return-Path: <{sender_addr}>",
        f"Received: from mx.remote.example (mx.remote.example [192.0.2.{n % 250 + 1}]) by mail.example.test"
        f" with ESMTPS id {n:08x}; {when}",
        f"From: {sender} <{sender_addr}>",
        f"To: {', '.join(recipients)}",
        f"Subject: {subject}",
        f"Date: {when}",
        f"Message-ID: <{n}.{rng.getrandbits(48):x}@remote.example>",
        "MIME-Version: 1.0",
    ]
    paragraphs = []
    size = 0
    while size < 3000:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))) + "."
        paragraphs.append(line)
        size += len(line) + 2
    text = "\r\n".join(paragraphs)
    if n % 5:
        headers.append("Content-Type: text/plain; charset=utf-8")
        body = text
    else:
        attachment = base64.encodebytes(rng.randbytes(900)).decode().replace("\n", "\r\n")
        headers.append('Content-Type: multipart/mixed; boundary="b1"')
        body = (
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text[:2000] + "\r\n"
            '--b1\r\nContent-Type: application/pdf; name="report.pdf"\r\n'
            'Content-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + attachment
            + "--b1--\r\n"
        )
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", type=Path, help="data directory (default: a temporary one, removed after)")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="arobase-bench-"))
    data = make_data_dir(root / "data")
    store = open_store(load(data, environ={}))
    accounts = Accounts(store)
    accounts.add_domain("example.test")
    users = [accounts.add_user(f"user{i}@example.test", "bench-password") for i in range(args.accounts)]
    rng = random.Random(args.seed)
    jobs = []
    for n in range(args.messages):
        user = users[n % len(users)]
        jobs.append((user.id, make_message(rng, n, [user.address])))
    average = sum(len(raw) for _, raw in jobs) / len(jobs)

    barrier = threading.Barrier(args.producers + 1)

    def producer(part: list[tuple[int, bytes]]) -> None:
        barrier.wait()
        for account_id, raw in part:
            store.deliver(store.put_message(raw), [(account_id, "INBOX")]).wait()

    threads = [threading.Thread(target=producer, args=(jobs[i :: args.producers],)) for i in range(args.producers)]
    for t in threads:
        t.start()
    before = store.writer_stats.transactions, store.writer_stats.fsyncs
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    commits = store.writer_stats.transactions - before[0]
    fsyncs = store.writer_stats.fsyncs - before[1]
    stored = sum(store.get_mailbox(u.id, "INBOX").messages for u in users)  # type: ignore[union-attr]
    store.close()
    assert stored == args.messages, f"only {stored} of {args.messages} messages stored"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = _cpu_model()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(f"delivered {args.messages} messages (average {average / 1024:.1f} KiB, 1 in 5 with an attachment)")
    print(f"from {args.producers} producers, fsync on: {elapsed:.2f} s, {args.messages / elapsed:.0f} messages/s")
    print(
        f"group commit: {commits} commits ({args.messages / commits:.1f} deliveries each),"
        f" {fsyncs} fsyncs ({args.messages / max(fsyncs, 1):.1f} deliveries each)"
    )
    print(f"peak RSS: {rss:.0f} MiB")
    if args.dir is None:
        shutil.rmtree(root)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
