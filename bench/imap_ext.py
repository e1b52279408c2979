"""IMAP issue 9 benchmark: SORT, THREAD and COMPRESS on one big, threaded folder.

Fills INBOX (100,000 messages by default) with conversations: most messages reply to a recent
one, with References (sometimes truncated) and In-Reply-To, "Re:" subjects and Date headers out
of arrival order; then a real server process (`bench/imap.py --serve`) is timed over loopback:
SORT by DATE, ARRIVAL, SUBJECT, FROM and DISPLAYFROM, ESORT (MIN MAX COUNT), THREAD=REFERENCES
and ORDEREDSUBJECT, and `FETCH 1:* (ENVELOPE)` with and without COMPRESS=DEFLATE (bytes on the wire).
Last, a QRESYNC reconnect after another client appended 10 messages, changed 5 flags and expunged
5 (it changes the folder), against the full flag resync `UID FETCH 1:* (FLAGS)`: bytes both ways.

Run: `.venv/bin/python bench/imap_ext.py [--sizes 100000] [--data DIR] [--qresync-only]` (DIR is filled
once, then reused).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_data_dir

from arobase.config import load
from arobase.services.accounts import Accounts
from arobase.store import open_store
from bench import imap as base

ROOT = Path(__file__).resolve().parents[1]


def make_thread_message(rng: random.Random, n: int, parents: list[tuple[str, str, list[str]]]) -> bytes:
    """Message n: a new conversation (30%) or a reply to one of the last 500 messages."""
    sender = rng.choice(base.NAMES)
    address = sender.lower().replace(" ", ".") + "@remote.example"
    mid = f"<{n}.{rng.getrandbits(32):x}@remote.example>"
    when = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n + rng.randint(-90, 90))
    headers = f"From: {sender} <{address}>\r\nTo: Bench <{base.USER}>\r\nMessage-ID: {mid}\r\n"
    if parents and rng.random() < 0.7:
        parent_id, subject, refs = parents[-rng.randint(1, min(500, len(parents)))]
        chain = [*refs, parent_id]
        if rng.random() < 0.1:
            chain = chain[-2:]  # truncated by some client
        headers += f"In-Reply-To: {parent_id}\r\nReferences: {' '.join(chain[-20:])}\r\nSubject: Re: {subject}\r\n"
        parents.append((mid, subject, chain[-20:]))
    else:
        subject = " ".join(rng.choice(base.WORDS) for _ in range(rng.randint(3, 7))).capitalize()
        headers += f"Subject: {subject}\r\n"
        parents.append((mid, subject, []))
    text = "\r\n".join(" ".join(rng.choice(base.WORDS) for _ in range(10)) for _ in range(rng.randint(5, 30)))
    return (headers + f"Date: {format_datetime(when)}\r\n\r\n{text}\r\n").encode()


def populate(data: Path, count: int, seed: int) -> float:
    store = open_store(load(data, environ=base.ENV))
    try:
        accounts = Accounts(store)
        accounts.add_domain("example.test")
        account = accounts.add_user(base.USER, base.PASSWORD)
        rng = random.Random(seed)
        parents: list[tuple[str, str, list[str]]] = []
        start = time.perf_counter()
        batch, pending = [], None
        arrival = datetime(2025, 1, 1, tzinfo=UTC)
        for n in range(count):
            blob = store.put_message(make_thread_message(rng, n, parents))
            batch.append((blob, (), arrival + timedelta(minutes=n)))
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


def compressed_fetch(port: int, text: str, setup: tuple[str, ...] = ("SELECT INBOX",)) -> tuple[float, int, int]:
    """(seconds, bytes on the wire, bytes inflated) of one command after COMPRESS DEFLATE and `setup`."""
    client = base.Client(port)
    client.command(f"LOGIN {base.USER} {base.PASSWORD}")
    client.command("COMPRESS DEFLATE")
    out, inflate = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)

    def send(line: bytes) -> None:
        client.sock.sendall(out.compress(line) + out.flush(zlib.Z_SYNC_FLUSH))

    def until(tag: bytes) -> tuple[int, int]:
        """Read to the tagged line: (bytes received, bytes once inflated)."""
        wire, plain, tail = 0, 0, inflate.decompress(client.buffer)
        while not (tail.endswith(b"\r\n") and (b"\r\n" + tail).rfind(b"\r\n" + tag + b" ") >= 0):
            data = client.sock.recv(1 << 20)
            wire += len(data)
            chunk = inflate.decompress(data)
            plain += len(chunk)
            tail = (tail + chunk)[-256:]
        return wire, plain

    for n, line in enumerate(setup):
        tag = b"S%d" % n
        send(tag + b" " + line.encode() + b"\r\n")
        until(tag)
    start = time.perf_counter()
    send(b"F " + text.encode() + b"\r\n")
    wire, plain = until(b"F")
    spent = time.perf_counter() - start
    client.close()
    return spent, wire, plain


def lines_of(client: base.Client, text: str) -> tuple[list[bytes], int, int]:
    """(response lines, bytes sent, bytes received) of one command whose answer has no literal."""
    client.counter += 1
    tag = b"T%d " % client.counter
    line = tag + text.encode() + b"\r\n"
    client.sock.sendall(line)
    out: list[bytes] = []
    while not out or not out[-1].startswith(tag):
        out.append(client.read_line())
    return out, len(line), sum(len(x) + 2 for x in out)


def qresync_reconnect(port: int, count: int) -> dict[str, str]:
    """Bytes of a QRESYNC reconnect after 10 arrivals, 5 flag changes and 5 expunges, and of a full flag resync."""
    client = base.Client(port)
    client.command(f"LOGIN {base.USER} {base.PASSWORD}")
    client.command("ENABLE QRESYNC")
    selected, _, _ = lines_of(client, "SELECT INBOX")
    uidvalidity = next(int(x.split()[3].rstrip(b"]")) for x in selected if b"[UIDVALIDITY " in x)
    modseq = next(int(x.split()[3].rstrip(b"]")) for x in selected if b"[HIGHESTMODSEQ " in x)
    client.close()

    other = base.Client(port)  # another device, while the first is away
    other.command(f"LOGIN {base.USER} {base.PASSWORD}")
    other.command("SELECT INBOX")
    rng = random.Random(count)
    parents: list[tuple[str, str, list[str]]] = []
    for n in range(10):
        raw = make_thread_message(rng, count + n, parents)
        other.command(f"APPEND INBOX {{{len(raw)}+}}\r\n" + raw.decode())
    other.command("UID STORE 2,4,6,8,10 +FLAGS.SILENT (\\Flagged)")
    other.command("UID STORE 11:15 +FLAGS.SILENT (\\Deleted)")
    other.command("UID EXPUNGE 11:15")
    other.close()

    client = base.Client(port)
    client.command(f"LOGIN {base.USER} {base.PASSWORD}")
    client.command("ENABLE QRESYNC")
    start = time.perf_counter()
    out, sent, received = lines_of(client, f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:{count}))")
    spent = time.perf_counter() - start
    client.close()
    results = {
        "QRESYNC reconnect (SELECT ... (QRESYNC ...))": (
            f"{spent * 1000:9.1f} ms  ({sent + received:,} bytes: {sent} sent, {received:,} received,"
            f" {sum(x.startswith(b'* VANISHED') for x in out)} VANISHED, {sum(b' FETCH ' in x for x in out)} FETCH)"
        )
    }
    client = base.Client(port)
    client.command(f"LOGIN {base.USER} {base.PASSWORD}")
    _, select_sent, select_received = lines_of(client, "SELECT INBOX")
    start = time.perf_counter()
    _, fetch_sent, fetch_received = lines_of(client, "UID FETCH 1:* (FLAGS)")
    spent = time.perf_counter() - start
    client.close()
    total = select_sent + select_received + fetch_sent + fetch_received
    results["full resync (SELECT, UID FETCH 1:* (FLAGS))"] = f"{spent * 1000:9.1f} ms  ({total:,} bytes)"
    qresync = f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:{count}))"
    for name, text, setup in (
        ("QRESYNC reconnect, COMPRESS=DEFLATE", qresync, ("ENABLE QRESYNC",)),
        ("full resync, COMPRESS=DEFLATE", "UID FETCH 1:* (FLAGS)", ("SELECT INBOX",)),
    ):
        spent, wire, plain = compressed_fetch(port, text, setup=setup)
        results[name] = f"{spent * 1000:9.1f} ms  ({wire:,} bytes received, {plain:,} inflated)"
    return results


def run_size(
    count: int, seed: int, root: Path, data: Path | None = None, *, qresync_only: bool = False
) -> dict[str, str]:
    """Time one folder of `count` messages; `data` reuses a directory filled by an earlier run."""
    results: dict[str, str] = {}
    if data is None or not (data / "store.db").exists():
        data = make_data_dir(data or root / f"data-{count}")
        fill = populate(data, count, seed)
        results["populate"] = f"{fill:.1f} s ({count / fill:,.0f} msg/s)"
    subprocess.run([sys.executable, "-m", "arobase", "--data", str(data), "migrate"], check=True, capture_output=True)
    port_file = root / f"port-{count}"
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "imap.py"), "--serve", str(data), str(port_file)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = int(port_file.read_text())
        if qresync_only:
            results.update(qresync_reconnect(port, count))
            return results
        client = base.Client(port)
        client.command(f"LOGIN {base.USER} {base.PASSWORD}")
        client.command("SELECT INBOX")

        def measure(text: str, repeat: int = 3) -> None:
            times = []
            for _ in range(repeat):
                seconds, _responses, received = client.timed(text)
                times.append(seconds)
            results[text] = f"{min(times) * 1000:9.1f} ms  ({received / 1e6:.2f} MB; runs {base._ms(times)})"

        measure("UID SORT (DATE) UTF-8 ALL")
        measure("SORT (REVERSE ARRIVAL) UTF-8 ALL")
        measure("SORT (SUBJECT DATE) UTF-8 ALL")
        measure("SORT (FROM) UTF-8 ALL")
        measure("SORT (DISPLAYFROM) UTF-8 ALL")
        measure("SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL")
        measure("SORT (DATE) UTF-8 SUBJECT holiday")
        measure("UID THREAD REFERENCES UTF-8 ALL")
        measure("THREAD ORDEREDSUBJECT UTF-8 ALL")
        seconds, _responses, received = client.timed("FETCH 1:* (ENVELOPE)")
        results["FETCH 1:* (ENVELOPE), plain"] = f"{seconds * 1000:9.1f} ms  ({received / 1e6:.2f} MB)"
        spent, wire, plain = compressed_fetch(port, "FETCH 1:* (ENVELOPE)")
        results["FETCH 1:* (ENVELOPE), COMPRESS=DEFLATE"] = (
            f"{spent * 1000:9.1f} ms  ({wire / 1e6:.2f} MB on the wire for {plain / 1e6:.2f} MB, {plain / wire:.1f}x)"
        )
        client.close()
        results.update(qresync_reconnect(port, count))
    finally:
        server.terminate()
        server.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--data", type=Path, help="keep the filled folder here and reuse it (one size only)")
    parser.add_argument("--qresync-only", action="store_true", help="measure only the QRESYNC reconnect")
    args = parser.parse_args()
    print(base.machine())
    with tempfile.TemporaryDirectory(prefix="arobase-bench-imap-ext-") as tmp:
        for count in args.sizes:
            print(f"\n{count:,} messages")
            for name, value in run_size(count, args.seed, Path(tmp), args.data, qresync_only=args.qresync_only).items():
                print(f"  {name:48} {value}")


if __name__ == "__main__":
    main()
