"""Failed-login throttling and per-user sending limits, shared by every protocol.

SMTP AUTH, IMAP LOGIN, POP3 and the webmail all guess-protect the same passwords, so they must
share one count of failures: an attacker cannot get more tries by switching protocols. Failures
are counted per client IP and per login; beyond a few free failures each answer is delayed
(doubling up to a cap), and past a threshold the IP or login is locked out for a while. A login's
lockout does not apply to IPs that recently logged in to it successfully, so an attacker cannot
lock a user out of their own mailbox from elsewhere.

Sending limits (messages per hour, recipients per day) are sliding windows per account.
Everything lives in memory (a restart forgives), the clock is injectable for tests, and the
tables are pruned so that a flood of distinct IPs cannot grow them without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Section

log = logging.getLogger("arobase.throttle")

HOUR = 3600.0
DAY = 86400.0
MAX_TRACKED = 100_000  # distinct IPs or logins remembered before pruning forgotten ones
MAX_TRUSTED_IPS = 16  # per login


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass(slots=True)
class _Sending:
    messages: deque[float] = field(default_factory=deque)
    recipients: deque[tuple[float, int]] = field(default_factory=deque)
    recipients_total: int = 0


class Throttle:
    """Protocol-agnostic limits; thread-safe, so synchronous code (the webmail) can use it too."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        free_failures: int = 3,
        delay: float = 1.0,
        max_delay: float = 16.0,
        lockout_failures: int = 10,
        lockout_seconds: float = 900.0,
        messages_per_hour: int = 0,
        recipients_per_day: int = 0,
    ) -> None:
        self.clock = clock
        self.free_failures = free_failures
        self.delay = delay
        self.max_delay = max_delay
        self.lockout_failures = lockout_failures
        self.lockout_seconds = lockout_seconds
        self.failure_window = max(lockout_seconds, 900.0)  # failures older than this are forgotten
        self.messages_per_hour = messages_per_hour
        self.recipients_per_day = recipients_per_day
        self._lock = threading.Lock()
        self._by_ip: dict[str, _Failures] = {}
        self._by_login: dict[str, _Failures] = {}
        self._trusted: dict[str, dict[str, float]] = {}  # login -> {ip: last success}
        self._sending: dict[int, _Sending] = {}

    @classmethod
    def from_config(cls, limits: Section) -> Throttle:
        """Build from the [limits] section."""
        return cls(
            free_failures=limits.login_free_failures,
            delay=limits.login_delay_ms / 1000,
            max_delay=limits.login_max_delay_ms / 1000,
            lockout_failures=limits.login_lockout_failures,
            lockout_seconds=float(limits.login_lockout_seconds),
            messages_per_hour=limits.messages_per_hour,
            recipients_per_day=limits.recipients_per_day,
        )

    # -- logins ----------------------------------------------------------------------------

    def locked_for(self, ip: str, login: str | None = None) -> float:
        """Seconds before a login attempt from `ip` (for `login`, if known) may be checked; 0 if now."""
        now = self.clock()
        with self._lock:
            waits = [self._remaining(self._by_ip.get(ip), now)]
            if login is not None:
                key = _login_key(login)
                if ip not in self._trusted.get(key, {}):
                    waits.append(self._remaining(self._by_login.get(key), now))
            return max(waits)

    def login_failed(self, ip: str, login: str | None, *, service: str = "") -> float:
        """Record a failure; returns how long to wait before answering it (the growing delay)."""
        now = self.clock()
        with self._lock:
            delays = [self._fail(self._by_ip, ip, now, f"client {ip}", service)]
            if login is not None:
                delays.append(self._fail(self._by_login, _login_key(login), now, f"login {login!r}", service))
            return max(delays)

    def login_succeeded(self, ip: str, login: str) -> None:
        """Forget the login's failures and trust this IP for it; the IP's own count stays."""
        now = self.clock()
        key = _login_key(login)
        with self._lock:
            self._by_login.pop(key, None)
            trusted = self._trusted.setdefault(key, {})
            trusted[ip] = now
            if len(trusted) > MAX_TRUSTED_IPS:
                del trusted[min(trusted, key=trusted.__getitem__)]
            if len(self._trusted) > MAX_TRACKED:
                self._trusted = {k: v for k, v in self._trusted.items() if max(v.values()) > now - DAY}

    def _remaining(self, entry: _Failures | None, now: float) -> float:
        return max(0.0, entry.locked_until - now) if entry else 0.0

    def _fail(self, table: dict[str, _Failures], key: str, now: float, who: str, service: str) -> float:
        entry = table.get(key)
        if entry is None or now - entry.last > self.failure_window or 0 < entry.locked_until <= now:
            entry = table[key] = _Failures()
            if len(table) > MAX_TRACKED:
                self._prune(table, now)
        entry.count += 1
        entry.last = now
        where = f" ({service})" if service else ""
        if entry.count >= self.lockout_failures and entry.locked_until <= now:
            entry.locked_until = now + self.lockout_seconds
            log.warning("%s locked out for %ds after %d failed logins%s", who, self.lockout_seconds, entry.count, where)
        extra = entry.count - self.free_failures
        if extra <= 0:
            return 0.0
        delay = min(self.max_delay, self.delay * 2 ** (extra - 1))
        log.info("%s: %d failed logins, answering after %.1fs%s", who, entry.count, delay, where)
        return delay

    def _prune(self, table: dict[str, _Failures], now: float) -> None:
        for key in [k for k, e in table.items() if now - e.last > self.failure_window and e.locked_until <= now]:
            del table[key]

    # -- sending ---------------------------------------------------------------------------

    def message_allowed(self, account_id: int) -> bool:
        """May this account start another message now (messages per hour)?"""
        if not self.messages_per_hour:
            return True
        with self._lock:
            sending = self._window(account_id, self.clock())
            return len(sending.messages) < self.messages_per_hour

    def recipients_allowed(self, account_id: int, count: int) -> bool:
        """Would `count` more recipients stay within the account's daily budget?"""
        if not self.recipients_per_day:
            return True
        with self._lock:
            sending = self._window(account_id, self.clock())
            return sending.recipients_total + count <= self.recipients_per_day

    def record_message(self, account_id: int, recipients: int) -> None:
        """Count a message that was accepted for delivery."""
        now = self.clock()
        with self._lock:
            sending = self._window(account_id, now)
            sending.messages.append(now)
            sending.recipients.append((now, recipients))
            sending.recipients_total += recipients

    def _window(self, account_id: int, now: float) -> _Sending:
        sending = self._sending.get(account_id)
        if sending is None:
            sending = self._sending[account_id] = _Sending()
        while sending.messages and sending.messages[0] <= now - HOUR:
            sending.messages.popleft()
        while sending.recipients and sending.recipients[0][0] <= now - DAY:
            sending.recipients_total -= sending.recipients.popleft()[1]
        return sending


def _login_key(login: str) -> str:
    return login.strip().casefold()
