"""The shared throttle: growing delays, lockouts, trusted IPs and sending windows, on a fake clock."""

from __future__ import annotations

import logging

import pytest

from arobase.config import Section
from arobase.services.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, **kwargs: float) -> Throttle:
    options: dict[str, float] = {
        "free_failures": 2,
        "delay": 1.0,
        "max_delay": 4.0,
        "lockout_failures": 6,
        "lockout_seconds": 600.0,
    }
    options.update(kwargs)
    return Throttle(clock=clock, **options)  # type: ignore[arg-type]


def test_delay_grows_then_caps(clock: Clock) -> None:
    throttle = make(clock)
    delays = [throttle.login_failed("192.0.2.1", "a@example.test") for _ in range(5)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0]


def test_lockout_per_ip_and_per_login(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    throttle = make(clock)
    with caplog.at_level(logging.INFO, "arobase.throttle"):
        for _ in range(6):
            throttle.login_failed("192.0.2.1", "a@example.test", service="smtp")
    assert throttle.locked_for("192.0.2.1") == 600.0
    assert throttle.locked_for("198.51.100.7", "A@Example.test") == 600.0  # the login, from anywhere
    assert throttle.locked_for("198.51.100.7", "b@example.test") == 0.0
    assert "locked out" in caplog.text and "answering after" in caplog.text
    clock.now += 601
    assert throttle.locked_for("192.0.2.1", "a@example.test") == 0.0
    assert throttle.login_failed("192.0.2.1", "a@example.test") == 0.0  # a fresh start after the lockout


def test_login_lockout_spares_ips_that_logged_in_before(clock: Clock) -> None:
    throttle = make(clock)
    throttle.login_succeeded("192.0.2.10", "a@example.test")
    for i in range(6):
        throttle.login_failed(f"203.0.113.{i}", "a@example.test")
    assert throttle.locked_for("203.0.113.99", "a@example.test") > 0
    assert throttle.locked_for("192.0.2.10", "a@example.test") == 0.0


def test_success_clears_the_login_but_not_the_ip(clock: Clock) -> None:
    throttle = make(clock)
    for _ in range(3):
        throttle.login_failed("192.0.2.1", "a@example.test")
    throttle.login_succeeded("192.0.2.1", "a@example.test")
    assert throttle.login_failed("192.0.2.2", "a@example.test") == 0.0
    assert throttle.login_failed("192.0.2.1", "b@example.test") == 2.0  # the IP's 4th failure


def test_failures_are_forgotten_after_the_window(clock: Clock) -> None:
    throttle = make(clock)
    for _ in range(4):
        throttle.login_failed("192.0.2.1", None)
    clock.now += throttle.failure_window + 1
    assert throttle.login_failed("192.0.2.1", None) == 0.0


def test_messages_per_hour(clock: Clock) -> None:
    throttle = make(clock, messages_per_hour=2)
    assert throttle.message_allowed(1)
    throttle.record_message(1, 1)
    throttle.record_message(1, 1)
    assert not throttle.message_allowed(1)
    assert throttle.message_allowed(2)
    clock.now += 3600
    assert throttle.message_allowed(1)


def test_recipients_per_day(clock: Clock) -> None:
    throttle = make(clock, recipients_per_day=5)
    assert throttle.recipients_allowed(1, 5)
    throttle.record_message(1, 3)
    assert throttle.recipients_allowed(1, 2)
    assert not throttle.recipients_allowed(1, 3)
    clock.now += 86_400
    assert throttle.recipients_allowed(1, 5)


def test_zero_means_unlimited(clock: Clock) -> None:
    throttle = make(clock)
    for _ in range(1000):
        throttle.record_message(1, 100)
    assert throttle.message_allowed(1) and throttle.recipients_allowed(1, 10**6)


def test_from_config() -> None:
    throttle = Throttle.from_config(
        Section(
            {
                "login_free_failures": 1,
                "login_delay_ms": 250,
                "login_max_delay_ms": 1000,
                "login_lockout_failures": 4,
                "login_lockout_seconds": 60,
                "messages_per_hour": 7,
                "recipients_per_day": 70,
            }
        )
    )
    assert (throttle.free_failures, throttle.delay, throttle.max_delay) == (1, 0.25, 1.0)
    assert (throttle.lockout_failures, throttle.lockout_seconds) == (4, 60.0)
    assert (throttle.messages_per_hour, throttle.recipients_per_day) == (7, 70)
