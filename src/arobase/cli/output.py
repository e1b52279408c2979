"""Output helpers for the admin CLI: tables and JSON for people and scripts, progress, errors.

Streams default to None and are looked up at call time, so redirected or
captured ``sys.stdout``/``sys.stderr`` are honoured.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import NoReturn, TextIO

__all__ = ["Progress", "fail", "print_json", "print_table", "text_width"]


def print_table(
    rows: list[dict[str, object]],
    columns: list[str] | None = None,
    *,
    file: TextIO | None = None,
) -> None:
    """Print rows as aligned columns under a header; numeric columns align right.

    Columns default to every key, in order of first appearance.
    """
    out = file if file is not None else sys.stdout
    if not rows:
        print("(none)", file=out)
        return
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(text_width(line[i]) for line in [columns, *cells]) for i in range(len(columns))]
    numeric = [all(_is_number(row.get(column)) for row in rows if row.get(column) is not None) for column in columns]
    for line in [columns, *cells]:
        parts = []
        for text, width, right in zip(line, widths, numeric, strict=True):
            padding = " " * (width - text_width(text))
            parts.append(padding + text if right else text + padding)
        print("  ".join(parts).rstrip(), file=out)


def print_json(data: object, *, file: TextIO | None = None) -> None:
    """Print data as indented JSON; dates become ISO 8601 strings."""
    out = file if file is not None else sys.stdout
    print(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default), file=out)


def fail(message: str, code: int = 1) -> NoReturn:
    """Report an error the way CLI tools do, without a traceback, and exit."""
    print(f"arobase: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def text_width(text: str) -> int:
    """Terminal columns taken by text: wide East Asian characters count two, marks zero."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


class Progress:
    """Progress of a long task: a live bar on a terminal, sparse log lines otherwise.

    Use as a context manager and call :meth:`advance` for each item done.
    """

    redraw_interval = 0.1  # seconds between two redraws of the bar
    log_interval = 5.0  # seconds between two log lines when not on a terminal

    def __init__(
        self,
        total: int | None,
        label: str,
        file: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.count = 0
        self._file = file if file is not None else sys.stderr
        self._tty = self._file.isatty()
        self._clock = clock
        self._start: float | None = None
        self._last_output = 0.0
        self._last_tenth = 0
        self._finished = False

    def __enter__(self) -> Progress:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(interrupted=exc_type is not None)

    def start(self) -> None:
        """Start the clock and show that work began; called by ``with``."""
        if self._start is not None:
            return
        self._start = self._last_output = self._clock()
        if self._tty:
            self._draw()
        else:
            of_total = f" ({self.total} items)" if self.total is not None else ""
            self._write(f"{self.label}: started{of_total}\n")

    def advance(self, n: int = 1) -> None:
        """Count n more items done and update the display if it is time to."""
        self.start()
        self.count += n
        now = self._clock()
        if self._tty:
            if now - self._last_output >= self.redraw_interval:
                self._last_output = now
                self._draw()
            return
        tenth = self._tenth()
        if tenth > self._last_tenth or now - self._last_output >= self.log_interval:
            self._last_tenth = tenth
            self._last_output = now
            self._write(f"{self.label}: {self._status()}\n")

    def finish(self, *, interrupted: bool = False) -> None:
        """Print the final summary line; later calls do nothing."""
        if self._finished:
            return
        self.start()
        self._finished = True
        elapsed = self._elapsed()
        word = "stopped" if interrupted else "done"
        summary = f"{self.label}: {word}, {self.count} items in {elapsed:.1f}s ({self._rate():.1f}/s)\n"
        self._write("\r\x1b[K" + summary if self._tty else summary)

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        status = self._status()
        line = f"{self.label} {status}"
        if self.total:
            bar_width = max(10, min(40, columns - text_width(line) - 4))
            filled = min(bar_width, bar_width * self.count // self.total)
            line = f"{self.label} [{'#' * filled}{' ' * (bar_width - filled)}] {status}"
        self._write(f"\r{line}\x1b[K")

    def _status(self) -> str:
        rate = self._rate()
        if self.total is None:
            return f"{self.count} {rate:.1f}/s"
        percent = 100 * self.count // self.total if self.total else 100
        status = f"{self.count}/{self.total} ({percent}%) {rate:.1f}/s"
        if rate > 0 and self.count < self.total:
            status += f" ETA {_duration((self.total - self.count) / rate)}"
        return status

    def _tenth(self) -> int:
        if not self.total:
            return 0
        return min(10, 10 * self.count // self.total)

    def _elapsed(self) -> float:
        return self._clock() - self._start if self._start is not None else 0.0

    def _rate(self) -> float:
        elapsed = self._elapsed()
        return self.count / elapsed if elapsed > 0 else 0.0

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _cell(value: object) -> str:
    """Render one table cell on one line, without terminal control characters."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    else:
        text = str(value)
    return "".join(_printable(char) for char in text)


def _printable(char: str) -> str:
    if unicodedata.category(char) != "Cc":
        return char
    return " " if char in "\t\n\r" else "\ufffd"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_default(value: object) -> object:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
