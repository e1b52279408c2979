"""Cutting the client's byte stream into complete commands, without I/O.

An IMAP command is one line, unless it carries literals: a line ending in `{n}` (synchronizing:
the client waits for our `+` before sending n octets), `{n+}` (LITERAL+, sent at once) or
`~{n}` / `~{n+}` (binary, RFC 3516) continues after the n octets with more of the same command.
The receiver collects whole commands, literal octets included, for the parser; asks the session
to send continuation requests; and enforces the size limits before buffering anything big:

- a line longer than `max_line` is discarded up to its end and reported (`LineTooLong`);
- a literal larger than the command allows (`max_append` per literal of APPEND, `max_literal`
  for other commands; `max_command` for the whole command) is refused: a synchronizing one
  before the client sends it (`TooBig`, the command is dropped, the connection goes on), a
  non-synchronizing one is fatal, as its octets are already on their way (RFC 7888 section 4).

Lines may end in CRLF or a bare LF (as typed in a terminal); the parser sees CRLF either way.
During AUTHENTICATE exchanges and IDLE the session switches to `line_mode`: lines are handed
out raw, with no literal detection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LITERAL = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}\r\n\Z")
_TAG = re.compile(rb"[^ \r\n]*")
_APPEND = re.compile(rb"[^ ]* (?:APPEND|REPLACE|UID REPLACE) ", re.IGNORECASE)  # message literals


@dataclass(frozen=True, slots=True)
class CommandBytes:
    """One complete command: its lines (CRLF-terminated) with literal octets in place."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Line:
    """A raw line in line mode (SASL response, IDLE's DONE), without its line ending."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ContinuationNeeded:
    """A synchronizing literal was announced: send `+ ...` and the client sends its octets."""


@dataclass(frozen=True, slots=True)
class LineTooLong:
    tag: bytes  # b"" if not even the tag could be read


@dataclass(frozen=True, slots=True)
class TooBig:
    """A literal over the limits; `fatal` when its octets are coming anyway (LITERAL+)."""

    tag: bytes
    size: int
    fatal: bool
    append: bool  # the command was an APPEND (the answer is NO [TOOBIG] rather than BAD)


Event = CommandBytes | Line | ContinuationNeeded | LineTooLong | TooBig


class Receiver:
    def __init__(
        self,
        *,
        max_line: int = 65536,
        max_literal: int = 65536,
        max_append: int = 50 * 1024 * 1024,
        max_command: int = 64 * 1024 * 1024,
    ) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_append = max_append
        self.max_command = max_command
        self.line_mode = False
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed data in _buf
        self._scan = 0  # where the search for LF resumes
        self._parts: list[bytes] = []
        self._size = 0
        self._literal_left = 0
        self._discarding = False  # skipping the rest of a too-long line

    @property
    def buffered(self) -> int:
        """Octets received and not yet handed out (for the transport's flow control)."""
        return len(self._buf) - self._pos + self._size

    @property
    def in_command(self) -> bool:
        """Part of a command has arrived (a literal or line continues it)."""
        return bool(self._parts) or self._literal_left > 0 or len(self._buf) > self._pos

    def take_unconsumed(self) -> bytes:
        """Hand back the octets after the last complete event (they follow COMPRESS: deflated)."""
        rest = bytes(self._buf[self._pos :])
        self._buf = bytearray()
        self._pos = self._scan = 0
        self._reset_command()
        return rest

    def feed(self, data: bytes) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        self._buf += data

    def next_event(self) -> Event | None:
        """The next complete event, or None until more data is fed."""
        while True:
            if self._literal_left:
                available = len(self._buf) - self._pos
                take = min(available, self._literal_left)
                if take:
                    self._parts.append(bytes(self._buf[self._pos : self._pos + take]))
                    self._pos += take
                    self._literal_left -= take
                if self._literal_left:
                    return None
                self._scan = self._pos
            end = self._buf.find(b"\n", max(self._scan, self._pos))
            if end < 0:
                self._scan = len(self._buf)
                if len(self._buf) - self._pos > self.max_line and not self._discarding:
                    tag = self._tag()
                    self._discarding = True
                    self._reset_command()
                    self._pos = len(self._buf)
                    return LineTooLong(tag)
                if self._discarding:
                    self._pos = len(self._buf)
                return None
            line = bytes(self._buf[self._pos : end + 1])
            self._pos = self._scan = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > self.max_line + 2:
                tag = self._tag(line)
                self._reset_command()
                return LineTooLong(tag)
            line = line[:-2] + b"\r\n" if line.endswith(b"\r\n") else line[:-1] + b"\r\n"
            if self.line_mode and not self._parts:
                return Line(line[:-2])
            self._parts.append(line)
            self._size += len(line)
            match = _LITERAL.search(line)
            if match is None:
                data = b"".join(self._parts)
                self._reset_command()
                return CommandBytes(data)
            size = int(match.group(2))
            sync = not match.group(3)
            first = self._parts[0]
            append = bool(_APPEND.match(first))
            limit = self.max_append if append else self.max_literal
            if size > limit or self._size + size > self.max_command:
                tag = self._tag(first)
                self._reset_command()
                return TooBig(tag, size, fatal=not sync, append=append)
            self._size += size
            self._literal_left = size
            if sync:
                return ContinuationNeeded()
            if not size:
                continue

    def _tag(self, line: bytes | None = None) -> bytes:
        source = line if line is not None else (self._parts[0] if self._parts else bytes(self._buf[self._pos :]))
        match = _TAG.match(source)
        return match.group(0)[:64] if match else b""

    def _reset_command(self) -> None:
        self._parts = []
        self._size = 0
        self._literal_left = 0
