"""`kill -9` of `arobase serve` while deliveries are in flight loses nothing: after a restart every queued
message reaches the remote server (one may arrive twice only if the remote accepted it as the server died)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_data_dir
from tests.outbound.conftest import SinkStarter

from arobase.config import LISTEN_DEFAULTS, load
from arobase.store import open_store

ARROBASE = str(Path(sys.executable).parent / "arobase")
MESSAGES = 20
DEADLINE = 20.0


def queue_messages(data: Path) -> None:
    store = open_store(load(data, environ={}))
    try:
        for i in range(MESSAGES):
            raw = f"From: pierre@orange.test\r\nSubject: crash-{i}\r\n\r\nmessage {i}\r\n".encode()
            store.deliver(store.put_message(raw), [], outbound=[f"user{i}@gmail.test"], sender="").wait()
    finally:
        store.close()


def serve(data: Path, sink_port: int) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AROBASE_")}
    env.update({f"AROBASE_LISTEN_{name.upper()}": "" for name in LISTEN_DEFAULTS})  # the queue alone
    env.update(
        {
            "AROBASE_OUTBOUND_ROUTES": f"gmail.test=127.0.0.1:{sink_port}",
            "AROBASE_OUTBOUND_POLL_INTERVAL_MS": "50",
            "AROBASE_OUTBOUND_RETRY_DELAYS": "1s",
            "AROBASE_OUTBOUND_CONNECTIONS_PER_HOST": "4",
        }
    )
    return subprocess.Popen(
        [ARROBASE, "--data", str(data), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def subjects(messages: list[tuple[str, list[str], bytes]]) -> list[str]:
    return [re.search(rb"Subject: (crash-\d+)", content).group(1).decode() for _, _, content in messages]  # type: ignore[union-attr]


async def test_kill_9_during_delivery_loses_nothing(tmp_path: Path, start_sink: SinkStarter) -> None:
    data = make_data_dir(tmp_path / "orange", "mx.orange.test")
    queue_messages(data)
    sink = await start_sink()
    sink.handler.hold = asyncio.Event()
    sink.handler.hold_after = 5  # five messages go through, then DATA hangs

    server = serve(data, sink.port)
    try:
        await until(lambda: len(sink.messages) == 5 and sink.handler.waiting > 0, "deliveries in flight")
        server.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.wait, DEADLINE)
    finally:
        if server.poll() is None:
            server.kill()
    in_flight = sink.handler.waiting
    assert len(set(subjects(sink.messages))) == 5
    held, sink.handler.hold = sink.handler.hold, None
    held.set()  # the remote "accepts" what it was holding, though the sender is gone: possible duplicates

    server = serve(data, sink.port)
    try:
        await until(lambda: len(set(subjects(sink.messages))) == MESSAGES, "every message after the restart")
        store = open_store(load(data, environ={}))
        try:
            await until(lambda: store.outbound_entries() == [], "an empty queue")
        finally:
            store.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(server.wait, DEADLINE)
        finally:
            if server.poll() is None:
                server.kill()
    assert server.returncode == 0
    assert len(sink.messages) - MESSAGES <= in_flight  # duplicates only of what was in flight at the kill
