"""The [outbound] settings: durations, retry schedule and static routes are checked when the configuration loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from arobase.config import ConfigError, load, parse_duration, parse_routes
from arobase.outbound import QueueSettings


def test_durations_and_routes() -> None:
    assert [parse_duration(text) for text in ("300", "90s", "5m", "4h", "5d", "1w")] == [
        300,
        90,
        300,
        14400,
        432000,
        604800,
    ]
    assert parse_routes("gmail.test=127.0.0.3:2525, *=[::1]:587") == {
        "gmail.test": ("127.0.0.3", 2525),
        "*": ("::1", 587),
    }
    with pytest.raises(ValueError):
        parse_routes("gmail.test=127.0.0.3")


def test_defaults_follow_the_usual_schedule(data_dir: Path) -> None:
    settings = QueueSettings.from_config(load(data_dir, environ={}))
    assert [settings.delay(n) for n in range(1, 9)] == [300, 600, 1800, 3600, 7200, 14400, 14400, 14400]
    assert settings.give_up_after == 5 * 86400
    assert settings.delay_warning_after == 4 * 3600


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("AROBASE_OUTBOUND_ROUTES", "gmail.test:25", "domain=host:port"),
        ("AROBASE_OUTBOUND_RETRY_DELAYS", "5m soon", "durations"),
        ("AROBASE_OUTBOUND_GIVE_UP_AFTER", "forever", "duration"),
        ("AROBASE_OUTBOUND_SOURCE_ADDRESS", "mail.example.test", "IP address"),
    ],
)
def test_mistakes_are_refused(data_dir: Path, variable: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as refused:
        load(data_dir, environ={variable: value})
    assert variable in str(refused.value)
