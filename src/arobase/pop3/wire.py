"""The POP3 wire format without I/O: command lines in, status lines and multi-line responses out.

Every framing rule lives here (line limits, what a command line may contain, CRLF and
dot-stuffing of messages, the sizes clients are told) so that it is tested byte for byte,
independently of sockets and of the session's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# RFC 2449 section 4 allows 255 octets per command line; we accept twice that for long passwords.
COMMAND_LINE_LIMIT = 512
# AUTH lines and SASL responses carry base64 and may be longer (RFC 5034 section 4).
AUTH_LINE_LIMIT = 8192
# RFC 2449 section 4: "each argument may be up to 40 characters long"; message numbers need far fewer.
MAX_NUMBER_DIGITS = 10
_CONTROLS = bytes(range(0x20)) + b"\x7f"  # never in a command line (deleted in one C call to find them)

CRLF = b"\r\n"
TERMINATOR = b".\r\n"


class Framing(Enum):
    """A line the reader could not hand over as a command."""

    TOO_LONG = "line too long"


class LineReader:
    """Splits the byte stream into lines, never buffering more than `limit` octets.

    A line longer than the limit is reported once, as soon as it is detected, and the rest of it
    is thrown away up to the next LF, so a client cannot make the server hold an unbounded line.
    """

    def __init__(self, limit: int = AUTH_LINE_LIMIT) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | Framing]:
        """Complete lines (each ending with LF) and framing errors, in order."""
        out: list[bytes | Framing] = []
        start = 0
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return out
            self._discarding = False
            start = end + 1
        self._buffer += data[start:] if start else data
        pos = 0
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n", pos)
            if end < 0:
                break
            if end + 1 - pos > self.limit:
                out.append(Framing.TOO_LONG)
            else:
                out.append(bytes(buffer[pos : end + 1]))
            pos = end + 1
        del buffer[:pos]
        if len(buffer) > self.limit:
            buffer.clear()
            self._discarding = True
            out.append(Framing.TOO_LONG)
        return out

    def clear(self) -> None:
        """Forget everything buffered (after STLS, nothing sent in plaintext may count)."""
        self._buffer.clear()
        self._discarding = False

    @property
    def pending(self) -> int:
        return len(self._buffer)


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # upper case
    args: list[str]  # split on spaces
    rest: str  # everything after "VERB ", unstripped: PASS takes its argument whole (RFC 1939 section 7)


class BadLine(Enum):
    """Why a line is not a command; the value is the text of the -ERR reply."""

    EMPTY = "Empty command line"
    TOO_LONG = "Command line too long"
    BAD_CHARACTERS = "Invalid characters in command line"
    BAD_VERB = "Commands are 3 or 4 letters"
    NOT_UTF8 = "Arguments must be UTF-8"


def parse_command(line: bytes) -> Command | BadLine:
    """One command line as read, with its line end (CRLF, or a bare LF from lenient clients)."""
    body = line[:-2] if line.endswith(CRLF) else line.rstrip(b"\n")
    verb_bytes, _, rest_bytes = body.partition(b" ")
    if len(line) > COMMAND_LINE_LIMIT and verb_bytes.upper() != b"AUTH":
        return BadLine.TOO_LONG
    if not body.strip(b" "):
        return BadLine.EMPTY
    if len(body.translate(None, _CONTROLS)) != len(body):
        return BadLine.BAD_CHARACTERS
    if not (3 <= len(verb_bytes) <= 4 and verb_bytes.isascii() and verb_bytes.isalpha()):
        return BadLine.BAD_VERB
    try:
        rest = rest_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine.NOT_UTF8
    return Command(verb_bytes.decode("ascii").upper(), rest.split(), rest)


def parse_number(text: str) -> int | None:
    """A message number or line count: plain decimal digits only (no sign, no spaces)."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_NUMBER_DIGITS:
        return None
    return int(text)


# -- responses ----------------------------------------------------------------------------------


def ok(text: str = "") -> bytes:
    return b"+OK " + text.encode() + CRLF if text else b"+OK" + CRLF


def err(text: str, code: str | None = None) -> bytes:
    """A negative reply, with an RFC 2449 / RFC 3206 response code such as IN-USE or AUTH."""
    prefix = f"[{code}] " if code else ""
    return b"-ERR " + (prefix + text).encode() + CRLF


def multiline(first: str, lines: list[str]) -> bytes:
    """A +OK status line followed by text lines and the terminating dot (stuffed where needed)."""
    body = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in lines)
    return ok(first) + body.encode() + TERMINATOR


# -- messages -----------------------------------------------------------------------------------


def to_wire(raw: bytes) -> bytes:
    """The CRLF form of a message as POP3 delivers it: bare LF becomes CRLF, and it ends with CRLF.

    RFC 1939 counts sizes in this form; a message that does not end with a line end gets one,
    because the terminating ".CRLF" must start a line and the client keeps what precedes it.
    """
    if raw.count(b"\n") != raw.count(b"\r\n"):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if raw and not raw.endswith(CRLF):
        raw += CRLF
    return raw


def wire_size(raw: bytes) -> int:
    """len(to_wire(raw)) without building it."""
    size = len(raw) + raw.count(b"\n") - raw.count(b"\r\n")
    if raw and not raw.endswith(b"\n"):
        size += 2
    return size


def as_is(raw: bytes) -> bool:
    """True when RETR sends these bytes unchanged: CRLF line ends, a final CRLF, no line starting with a dot."""
    return wire_size(raw) == len(raw) and not raw.startswith(b".") and b"\n." not in raw


def top(wire: bytes, lines: int) -> bytes:
    """The header, the blank line and the first `lines` lines of the body (RFC 1939 TOP)."""
    if wire.startswith(CRLF):
        head_end = 2
    else:
        blank = wire.find(b"\r\n\r\n")
        head_end = len(wire) if blank < 0 else blank + 4
    end = head_end
    for _ in range(lines):
        next_end = wire.find(CRLF, end)
        if next_end < 0:
            end = len(wire)
            break
        end = next_end + 2
    return wire[:end]


def dot_stuff(wire: bytes) -> bytes:
    """Double every dot that starts a line, so only the terminator is a lone dot (RFC 1939 section 3)."""
    stuffed = wire.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed


def message_response(wire: bytes, status: str) -> list[bytes]:
    """The chunks of a RETR/TOP response: status line, dot-stuffed message, terminator."""
    return [ok(status), dot_stuff(wire), TERMINATOR]
