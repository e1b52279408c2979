"""`arobase serve`: every listener on one asyncio loop, in one process.

Protocols register an opener in PROTOCOLS; each opener starts its listeners and returns them as
Endpoints, which the start-up table lists. SIGTERM/SIGINT stop accepting, let sessions end and
the store finish its queued writes; SIGHUP reloads the TLS certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .app import App
from .config import Config
from .imap.server import open_imap
from .outbound import OutboundQueue
from .pop3 import open_pop3
from .smtp import open_smtp
from .web.redirect import open_http_redirect
from .web.server import open_web

log = logging.getLogger("arobase")

HEALTH_INTERVAL = 600.0
SWEEP_INTERVAL = 3600.0
DEMO_LOGINS = "demo-logins.txt"


@dataclass(slots=True)
class Endpoint:
    service: str  # "SMTP (MX)"
    address: str  # "127.0.0.1:2525"
    tls: str  # "STARTTLS", "implicit TLS", "none"
    server: asyncio.AbstractServer


Opener = Callable[[App], Awaitable[list[Endpoint]]]

PROTOCOLS: list[Opener] = [open_smtp, open_imap, open_pop3, open_web, open_http_redirect]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def startup_table(endpoints: list[Endpoint], data_dir: Path) -> str:
    rows = [("service", "address", "TLS")] + [(e.service, e.address, e.tls) for e in endpoints]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    logins = data_dir / DEMO_LOGINS
    if logins.exists():
        lines += ["", f"Demo logins (from {logins}):"]
        lines += ["  " + line for line in logins.read_text(encoding="utf-8").splitlines() if line.strip()]
    return "\n".join(lines)


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.app = App.open(config)
        self.endpoints: list[Endpoint] = []
        self.started = time.monotonic()
        self._stop = asyncio.Event()
        self.outbound: OutboundQueue | None = None

    async def start(self) -> None:
        for opener in PROTOCOLS:
            self.endpoints += await opener(self.app)
        self.outbound = OutboundQueue(self.app)  # delivery workers for mail to other domains
        await self.outbound.start()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, out: TextIO = sys.stdout, *, early_signals: Sequence[int] = ()) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        if early_signals:  # received before the handlers above existed
            self.stop()
        loop.add_signal_handler(signal.SIGHUP, self._reload_tls)
        try:
            await self.start()
            print(f"Arobase is running for {self.config.server.hostname}, data in {self.config.data_dir}\n", file=out)
            print(startup_table(self.endpoints, self.config.data_dir), file=out, flush=True)
            log.info(self.health_line())
            chores = [asyncio.create_task(self._health()), asyncio.create_task(self._sweep())]
            await self._stop.wait()
            for chore in chores:
                chore.cancel()
            log.info("stopping: closing listeners")
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        for endpoint in self.endpoints:
            endpoint.server.close()
        for endpoint in self.endpoints:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(endpoint.server.wait_closed(), timeout=10)
        self.endpoints.clear()
        if self.outbound is not None:
            await self.outbound.stop()  # deliveries in flight get a few seconds; the rest stays queued
            self.outbound = None
        await asyncio.to_thread(self.app.close)  # finishes queued writes, nothing half-written
        log.info("stopped cleanly")

    def _reload_tls(self) -> None:
        try:
            self.app.tls.reload()
        except Exception as e:
            log.error("TLS reload failed, keeping the current certificate: %s", e)
        else:
            log.info("TLS certificate reloaded")

    async def _health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            log.info(self.health_line())

    async def _sweep(self) -> None:
        """Free the content of messages nothing refers to any more (expunged, deleted accounts)."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                removed = await self.app.store.sweep()
            except Exception:
                log.exception("blob sweep failed")
            else:
                log.info("blob sweep: %d unreferenced message contents removed", removed)

    def health_line(self) -> str:
        stats = self.app.store.writer_stats
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (
            f"health ok: up {int(time.monotonic() - self.started)}s, {len(self.endpoints)} listeners,"
            f" store {stats.transactions} commits/{stats.operations} writes, peak RSS {rss_kib // 1024} MiB"
        )


def serve(config: Config, early_stops: list[int] | None = None) -> None:
    logging.basicConfig(
        level=config.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )

    # A stop request that arrives while the process is still starting is kept, not fatal:
    # the loop's handlers take over in Server.run and act on it at once. `early_stops` holds those
    # the command line recorded while it was still importing.
    early: list[int] = early_stops if early_stops is not None else []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early.append(signum))

    async def main() -> None:
        await Server(config).run(early_signals=early)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
