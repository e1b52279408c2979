"""Webmail server time on a large account: inbox page, opening a message, searching.

One account gets `--messages` realistic ~4 KB messages in INBOX (bench/store_delivery.make_message,
seeded), delivered through the store as SMTP would. The ASGI app is then driven in process through
httpx's ASGITransport, so the figures are the server's own time (routing, SQL, templates), without
a network. Run: `.venv/bin/python bench/webmail.py --messages 100000`. Issue 7's target: search
results for a 100,000-message account in under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench.store_delivery import WORDS, _cpu_model, make_message
from tests.conftest import make_data_dir

from arobase.app import App
from arobase.config import load
from arobase.web.app import create_app

ADDRESS = "bench@example.test"
PASSWORD = "bench-password-webmail"


def populate(app: App, count: int, seed: int, producers: int = 8) -> float:
    """Deliver `count` messages to the bench account's INBOX; returns the seconds it took."""
    account = app.accounts.get(ADDRESS)
    rng = random.Random(seed)
    store = app.store
    done = 0
    start = time.perf_counter()
    batch = 20_000
    for first in range(0, count, batch):
        raws = [make_message(rng, n, [ADDRESS]) for n in range(first, min(count, first + batch))]

        def producer(part: list[bytes]) -> None:
            for raw in part:
                store.deliver(store.put_message(raw), [(account.id, "INBOX")]).wait()

        threads = [threading.Thread(target=producer, args=(raws[i::producers],)) for i in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done += len(raws)
        print(f"  delivered {done}/{count} ({time.perf_counter() - start:.0f} s)", flush=True)
    return time.perf_counter() - start


async def timed(label: str, runs: int, request: Callable[[int], Awaitable[httpx.Response]]) -> None:
    """Call `request` `runs` times (after two warm-up calls) and print p50/p95 of the server time."""
    for i in range(2):
        response = await request(i)
        response.raise_for_status()
    times = []
    for i in range(runs):
        start = time.perf_counter()
        response = await request(i)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{label:<38} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   max {times[-1]:7.1f} ms")


async def measure(app: App, runs: int, seed: int) -> None:
    asgi, _ = create_app(app, secure=False)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
        page = await client.get("/login")
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token, "no login token"
        signed = await client.post(
            "/login", data={"token": token.group(1), "address": ADDRESS, "password": PASSWORD}, follow_redirects=True
        )
        assert signed.status_code == 200, signed.text[:300]

        inbox = app.store.get_mailbox(app.accounts.get(ADDRESS).id, "INBOX")
        assert inbox is not None
        total = inbox.messages
        rng = random.Random(seed)
        uids = [rng.randint(1, total) for _ in range(runs + 2)]
        words = [rng.choice(WORDS) for _ in range(runs + 2)]
        pages = [rng.randint(1, 400) for _ in range(runs + 2)]

        await timed("inbox, first page", runs, lambda i: client.get("/mail/INBOX"))
        await timed("inbox, a page deep in the list", runs, lambda i: client.get(f"/mail/INBOX?page={pages[i]}"))
        await timed("open a message", runs, lambda i: client.get(f"/msg/{inbox.id}/{uids[i]}"))
        await timed("message body frame", runs, lambda i: client.get(f"/msg/{inbox.id}/{uids[i]}/frame"))
        await timed("search a common word, all fields", runs, lambda i: client.get("/search", params={"q": words[i]}))
        pairs = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(runs + 2)]
        await timed("search a two-word phrase", runs, lambda i: client.get("/search", params={"q": pairs[i]}))
        await timed(
            "search a phrase found nowhere",
            runs,
            lambda i: client.get("/search", params={"q": f"{words[i]} zzqx"}),
        )
        await timed(
            "search by sender",
            runs,
            lambda i: client.get("/search", params={"q": "marie", "in": "from"}),
        )
        await timed(
            "search subject + unread filter",
            runs,
            lambda i: client.get("/search", params={"q": words[i], "in": "subject", "unread": "1"}),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="data directory, kept and reused when it exists")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="arobase-webbench-"))
    fresh = not (root / "data").exists()
    data = make_data_dir(root / "data") if fresh else root / "data"
    app = App.open(load(data, environ={}))
    try:
        if fresh:
            app.accounts.add_domain("example.test", dkim=False)
            app.accounts.add_user(ADDRESS, PASSWORD, display_name="Bench User")
            elapsed = populate(app, args.messages, args.seed)
            print(f"populated {args.messages} messages in {elapsed:.0f} s")
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()}"
        )
        print("load average before measuring: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))  # other work skews it
        inbox = app.store.get_mailbox(app.accounts.get(ADDRESS).id, "INBOX")
        print(f"INBOX: {inbox.messages if inbox else 0} messages; {args.runs} timed requests each, in process (ASGI)")
        asyncio.run(measure(app, args.runs, args.seed))
    finally:
        app.close()
        if args.dir is None:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
