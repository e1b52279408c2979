"""The outbound queue: delivery workers inside `arobase serve` that carry queued mail to other servers.

The queue itself is the store's `outbound` table, written in the same commit as the 250 reply's
delivery, so accepted mail is never only in memory. Workers claim due messages (one claim per message:
its recipients, grouped by destination domain, go in one SMTP transaction per domain), DKIM-sign them,
hand them to the transport, and record the outcome in one commit per message:

- 2xx: the recipient leaves the queue;
- 5xx (or a permanent routing failure such as a null MX): it leaves the queue with a bounce;
- 4xx or no answer: it stays, due again after the next delay of `retry_delays`; past `give_up_after`
  it bounces; past `delay_warning_after` its sender is warned once.

A message leaves the queue only after the remote server accepted it, so `kill -9` loses nothing: claims
are forgotten at start-up and every queued message is tried again. A duplicate is possible only when the
remote accepted in the instant before the crash. A message with a null sender never causes a bounce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..addressing import AddressError, parse_address
from ..app import App
from ..config import Config, parse_duration, parse_durations, parse_routes
from ..services.delivery import Origin
from ..store import OutboundEntry
from . import dkim
from .dsn import RecipientStatus, build_dsn
from .routing import Router, RoutingError
from .transport import Outcome, Pool, TransportSettings, failure

log = logging.getLogger("arobase.outbound")

REAP_INTERVAL = 1.0
STOP_GRACE = 5.0  # seconds deliveries in flight may take to finish when the server stops


@dataclass(frozen=True, slots=True)
class QueueSettings:
    workers: int
    retry_delays: tuple[int, ...]
    give_up_after: int
    delay_warning_after: int  # 0: never
    poll_interval: float

    @classmethod
    def from_config(cls, config: Config) -> QueueSettings:
        section = config.outbound
        return cls(
            workers=section.workers,
            retry_delays=tuple(parse_durations(section.retry_delays)),
            give_up_after=parse_duration(section.give_up_after),
            delay_warning_after=parse_duration(section.delay_warning_after),
            poll_interval=section.poll_interval_ms / 1000,
        )

    def delay(self, attempts: int) -> int:
        """The wait after the `attempts`-th failed attempt (1 for the first); the last delay repeats."""
        return self.retry_delays[min(max(attempts, 1), len(self.retry_delays)) - 1]


def transport_settings(config: Config) -> TransportSettings:
    section = config.outbound
    return TransportSettings(
        hostname=config.server.hostname,
        source_address=section.source_address,
        tls_verify=section.tls_verify,
        connect_timeout=float(section.connect_timeout),
        timeout=float(section.timeout),
        connections_per_host=section.connections_per_host,
        idle_seconds=float(section.idle_seconds),
        relay_login=section.relay_login,
        relay_password=section.relay_password,
    )


class OutboundQueue:
    """The delivery workers of one server. `start()` them once the loop runs, `stop()` them before closing."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = app.store
        self.hostname = app.config.server.hostname
        self.settings = QueueSettings.from_config(app.config)
        self.router = Router(app.resolver, app.config.outbound.port, parse_routes(app.config.outbound.routes))
        self.pool = Pool(transport_settings(app.config))
        self.delivered = 0  # recipients accepted by remote servers since start
        self._inflight: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._chores: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        released = await self.store.release_outbound_claims()
        if released:
            log.info("outbound: %d recipients were being delivered when the server stopped; trying again", released)
        self._chores = [asyncio.create_task(self._run()), asyncio.create_task(self._reap())]

    def wake(self) -> None:
        """Look at the queue now rather than at the next poll (new mail, `queue flush`)."""
        self._wakeup.set()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop claiming, let deliveries in flight finish for up to `grace` seconds, cancel the rest.

        A cancelled delivery stays in the queue (still claimed in the store until the next start).
        """
        for chore in self._chores:
            chore.cancel()
        for chore in self._chores:
            with contextlib.suppress(asyncio.CancelledError):
                await chore
        self._chores = []
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace)
        await self.pool.close()

    async def idle(self, timeout: float) -> bool:
        """Wait until nothing is in flight and nothing is due (for tests and the benchmark)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            due = self.store.next_outbound_due()
            if not self._inflight and (due is None or due > time.time()):
                return True
            await asyncio.sleep(0.02)
        return False

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._dispatch()
            except Exception:
                log.exception("outbound: the queue could not be read; trying again shortly")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.settings.poll_interval)
            self._wakeup.clear()

    async def _dispatch(self) -> None:
        # Claims are batched (each is a commit): wait for a few free workers unless the queue is idle.
        batch = max(1, self.settings.workers // 8)
        while True:
            free = self.settings.workers - len(self._inflight)
            if free <= 0 or (free < batch and self._inflight):
                return
            now = int(time.time())
            due = self.store.next_outbound_due()
            if due is None or due > now:
                return
            entries = await self.store.claim_outbound(now, free)
            if not entries:
                return
            envelopes: dict[int, list[OutboundEntry]] = {}
            for entry in entries:
                envelopes.setdefault(entry.envelope, []).append(entry)
            for group in envelopes.values():
                task = asyncio.create_task(self._deliver(group))
                self._inflight.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wakeup.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("outbound: delivery failed unexpectedly", exc_info=task.exception())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            await self.pool.reap()

    # -- one message -----------------------------------------------------------------------

    async def _deliver(self, entries: list[OutboundEntry]) -> None:
        """Deliver one queued message to all its due recipients, then record every outcome in one commit.

        Whatever goes wrong on our side leaves the recipients queued for a later attempt, never claimed
        by a worker that no longer exists.
        """
        try:
            await self._attempt(entries)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("outbound: message %d: unexpected error; it stays queued", entries[0].envelope)
            later = int(time.time()) + self.settings.delay(1)
            await self.store.finish_outbound(deferred=[(x.id, later, f"internal error: {e}", None) for x in entries])

    async def _attempt(self, entries: list[OutboundEntry]) -> None:
        first = entries[0]
        try:
            original = await asyncio.to_thread(self.store.read_blob, first.blob)
        except FileNotFoundError:
            log.error("outbound: content of queued message %d is missing; dropping it", first.envelope)
            await self.store.finish_outbound(done=[e.id for e in entries])
            return
        # Only what our users submitted is signed: mail relayed from outside (an alias forwarding to another
        # domain) may claim one of our domains in From, and must not get our signature.
        message = await self._sign(original, first.sender) if first.account_id is not None else original
        by_domain: dict[str, list[OutboundEntry]] = {}
        for entry in entries:
            by_domain.setdefault(entry.domain, []).append(entry)
        results = await asyncio.gather(
            *(self._deliver_domain(domain, group, first.sender, message) for domain, group in by_domain.items())
        )
        outcomes = {entry.id: outcome for result in results for entry, outcome in result}
        await self._record(entries, outcomes, original)

    async def _sign(self, message: bytes, sender: str) -> bytes:
        for domain in dkim.candidate_domains(message, sender):
            keys = self.store.dkim_keys(domain)
            if keys:
                return await asyncio.to_thread(dkim.sign, message, keys) + message
        return message

    async def _deliver_domain(
        self, domain: str, entries: list[OutboundEntry], sender: str, message: bytes
    ) -> list[tuple[OutboundEntry, Outcome]]:
        try:
            hosts = await self.router.hosts(domain)
        except RoutingError as e:
            outcome = failure(e.status, e.reason)
            return [(entry, outcome) for entry in entries]
        recipients = [entry.recipient for entry in entries]
        outcomes = await self.pool.send(hosts, sender, recipients, message)
        return [(entry, outcomes[entry.recipient]) for entry in entries]

    async def _record(self, entries: list[OutboundEntry], outcomes: dict[int, Outcome], original: bytes) -> None:
        now = int(time.time())
        done: list[int] = []
        deferred: list[tuple[int, int, str, str | None]] = []
        warned: list[int] = []
        bounced: list[RecipientStatus] = []
        delayed: list[RecipientStatus] = []
        for entry in entries:
            outcome = outcomes[entry.id]
            age = now - int(entry.created.timestamp())
            status = RecipientStatus(entry.recipient, outcome.status, outcome.text, outcome.host, outcome.smtp_reply)
            if outcome.delivered:
                done.append(entry.id)
                self.delivered += 1
                log.info("outbound: %d to <%s> delivered: %s", entry.envelope, entry.recipient, outcome.text)
            elif outcome.permanent or age >= self.settings.give_up_after:
                done.append(entry.id)
                bounced.append(status)
                log.info("outbound: %d to <%s> failed: %s", entry.envelope, entry.recipient, outcome.text)
            else:
                next_attempt = now + self.settings.delay(entry.attempts + 1)
                deferred.append((entry.id, next_attempt, outcome.text, outcome.host))
                warn_after = self.settings.delay_warning_after
                if warn_after and age >= warn_after and not entry.delay_warned:
                    warned.append(entry.id)
                    delayed.append(status)
                log.info(
                    "outbound: %d to <%s> deferred until %s: %s",
                    entry.envelope,
                    entry.recipient,
                    datetime.fromtimestamp(next_attempt, UTC).strftime("%H:%M:%S"),
                    outcome.text,
                )
        first = entries[0]
        # Notices first, then the queue update: a crash in between repeats a notice, never loses one.
        if bounced:
            await self._notify(first, original, bounced, delayed=False)
        if delayed:
            await self._notify(first, original, delayed, delayed=True)
        await self.store.finish_outbound(done, deferred, warned)

    async def _notify(
        self, entry: OutboundEntry, original: bytes, statuses: Sequence[RecipientStatus], *, delayed: bool
    ) -> None:
        """Send a DSN to the envelope sender, through the normal delivery path (local or queued)."""
        if not entry.sender:
            return  # a bounce of a bounce would loop
        try:
            await self._send_notice(entry, original, statuses, delayed=delayed)
        except Exception:  # a full mailbox must not keep the message in the queue forever
            log.exception("outbound: could not notify <%s> about message %d", entry.sender, entry.envelope)

    async def _send_notice(
        self, entry: OutboundEntry, original: bytes, statuses: Sequence[RecipientStatus], *, delayed: bool
    ) -> None:
        try:
            route = self.app.delivery.route(parse_address(entry.sender))
        except AddressError:
            log.warning("outbound: cannot notify unparsable sender <%s>", entry.sender)
            return
        if not route.exists:
            log.info("outbound: sender <%s> no longer exists; notice dropped", entry.sender)
            return
        report = build_dsn(
            hostname=self.hostname,
            sender=entry.sender,
            original=original,
            statuses=statuses,
            delayed=delayed,
            arrival=entry.created,
            retry_until=entry.created + timedelta(seconds=self.settings.give_up_after),
        )
        await self.app.delivery.deliver(
            report,
            sender="",
            accounts=route.accounts,
            remote=route.remote,
            origin=Origin("127.0.0.1", self.hostname, "LOCAL"),
            recipients=[entry.sender],
        )
