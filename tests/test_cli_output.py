"""Tests for arobase.cli.output."""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from arobase.cli.output import Progress, fail, print_json, print_table, text_width


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def table(rows: list[dict[str, object]], columns: list[str] | None = None) -> list[str]:
    out = io.StringIO()
    print_table(rows, columns, file=out)
    return out.getvalue().splitlines()


def test_table_aligns_columns() -> None:
    lines = table(
        [
            {"address": "arthur@example.test", "quota_mb": 1024, "active": True},
            {"address": "bo@example.test", "quota_mb": 5, "active": False},
        ]
    )
    assert lines == [
        "address              quota_mb  active",
        "arthur@example.test      1024  yes",
        "bo@example.test             5  no",
    ]


def test_table_selected_columns_and_missing_values() -> None:
    lines = table([{"a": "x", "b": "y"}, {"a": "long value"}], ["b", "a"])
    assert lines == ["b  a", "y  x", "   long value"]


def test_table_columns_default_to_all_keys_in_order() -> None:
    lines = table([{"a": 1}, {"b": 2, "a": 3}])
    assert lines[0] == "a  b"


def test_table_empty() -> None:
    assert table([]) == ["(none)"]


def test_table_wide_characters() -> None:
    lines = table([{"name": "日本語", "n": 1}, {"name": "abc", "n": 2}])
    assert lines == ["name    n", "日本語  1", "abc     2"]
    assert all(text_width(line) == text_width(lines[0]) for line in lines)


def test_table_combining_marks_take_no_column() -> None:
    lines = table([{"name": "Jose\u0301", "x": "1"}, {"name": "Jose", "x": "2"}])
    assert text_width(lines[1]) == text_width(lines[2])


def test_table_neutralises_control_characters() -> None:
    lines = table([{"subject": "evil\x1b[2Jline\nbreak"}])
    assert lines == ["subject", "evil\ufffd[2Jline break"]


def test_table_datetime_cells() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, 5, 123456)
    assert table([{"at": when}])[1] == "2024-05-01 12:30:05"


def test_table_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([{"a": 1}])
    assert capsys.readouterr().out == "a\n1\n"


def test_text_width() -> None:
    assert text_width("abc") == 3
    assert text_width("日本") == 4
    assert text_width("e\u0301") == 1
    assert text_width("") == 0


@dataclass
class Box:
    name: str
    created: dt.datetime


def test_print_json() -> None:
    out = io.StringIO()
    data = {
        "when": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        "day": dt.date(2024, 5, 1),
        "path": Path("/var/mail"),
        "tags": {"b", "a"},
        "box": Box("INBOX", dt.datetime(2024, 1, 1)),
        "name": "Pierre Été",
    }
    print_json(data, file=out)
    text = out.getvalue()
    assert text.endswith("}\n")
    assert "\n  " in text  # indented
    assert "Été" in text  # not escaped
    assert json.loads(text) == {
        "when": "2024-05-01T12:00:00+00:00",
        "day": "2024-05-01",
        "path": "/var/mail",
        "tags": ["a", "b"],
        "box": {"name": "INBOX", "created": "2024-01-01T00:00:00"},
        "name": "Pierre Été",
    }


def test_print_json_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match="object"):
        print_json({"x": object()}, file=io.StringIO())


def test_fail(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        fail("no such domain: example.test")
    assert info.value.code == 1
    assert capsys.readouterr().err == "arobase: error: no such domain: example.test\n"


def test_fail_with_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        fail("usage", code=2)
    assert info.value.code == 2
    assert capsys.readouterr().out == ""


def test_progress_plain_logs_every_tenth_and_summary() -> None:
    out = io.StringIO()
    clock = FakeClock()
    with Progress(100, "import", out, clock=clock) as progress:
        for _ in range(100):
            clock.now += 0.01
            progress.advance()
    lines = out.getvalue().splitlines()
    assert lines[0] == "import: started (100 items)"
    assert lines[1].startswith("import: 10/100 (10%) 100.0/s ETA 0:00:01")
    assert len(lines) == 1 + 10 + 1
    assert lines[-1] == "import: done, 100 items in 1.0s (100.0/s)"
    assert "\r" not in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_progress_plain_logs_every_five_seconds() -> None:
    out = io.StringIO()
    clock = FakeClock()
    with Progress(None, "scan", out, clock=clock) as progress:
        for _ in range(12):
            clock.now += 1
            progress.advance(3)
    lines = out.getvalue().splitlines()
    assert lines == [
        "scan: started",
        "scan: 15 3.0/s",
        "scan: 30 3.0/s",
        "scan: done, 36 items in 12.0s (3.0/s)",
    ]


def test_progress_plain_reports_interruption() -> None:
    out = io.StringIO()
    clock = FakeClock()
    with pytest.raises(KeyboardInterrupt), Progress(10, "copy", out, clock=clock) as progress:
        clock.now += 2
        progress.advance(4)
        raise KeyboardInterrupt
    assert out.getvalue().splitlines()[-1] == "copy: stopped, 4 items in 2.0s (2.0/s)"


def test_progress_tty_draws_a_throttled_bar() -> None:
    out = FakeTTY()
    clock = FakeClock()
    with Progress(1000, "reindex", out, clock=clock) as progress:
        for _ in range(1000):
            clock.now += 0.001  # 1000 items per second, one second in total
            progress.advance()
    text = out.getvalue()
    draws = text.split("\r")[1:]
    assert 5 <= len(draws) <= 13  # about 10 redraws per second, plus first and last
    assert text.count("\n") == 1  # one line, rewritten in place
    middle = next(d for d in draws if "500/1000" in d or "50%" in d)
    assert "[" in middle and "#" in middle
    assert "/s" in middle and "ETA" in middle
    assert draws[-1].startswith("\x1b[Kreindex: done, 1000 items in 1.0s (1000.0/s)")


def test_progress_tty_bar_content() -> None:
    out = FakeTTY()
    clock = FakeClock()
    progress = Progress(4, "sync", out, clock=clock)
    progress.start()
    clock.now += 1
    progress.advance(2)
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("sync [")
    assert "2/4 (50%) 2.0/s ETA 0:00:01" in last
    bar = last[last.index("[") + 1 : last.index("]")]
    assert bar.count("#") == len(bar) // 2
    progress.finish()
    progress.finish()  # idempotent
    assert out.getvalue().count("done") == 1


def test_progress_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(1, "one") as progress:
        progress.advance()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "one: done, 1 items" in captured.err
