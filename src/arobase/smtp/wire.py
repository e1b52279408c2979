"""The SMTP wire format without I/O: command lines, MAIL/RCPT arguments, and the DATA stream.

Everything here takes bytes or text and returns values or `Reply` errors, so every framing rule
(line lengths, CRLF only, dot-stuffing, where DATA ends) is tested byte for byte, independently of
sockets. The session feeds these pieces; it never looks at raw bytes itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from . import replies
from .replies import Reply

# RFC 5321 4.5.3.1.4: 512 octets including CRLF; extensions raise it for the commands they extend.
COMMAND_LINE_LIMIT = 512
COMMAND_LINE_LIMITS = {
    "MAIL": 512 + 26 + 14 + 10 + 500,  # SIZE (RFC 1870), BODY=8BITMIME, SMTPUTF8, AUTH= (RFC 4954)
    "AUTH": 12288,  # RFC 4954 section 4: the initial response may be long
}
AUTH_LINE_LIMIT = 12288  # a SASL response line (RFC 4954 section 4)
# RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CRLF (after removing a stuffed dot).
TEXT_LINE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # upper case, ASCII letters
    arg: str  # the rest of the line after one space, CRLF removed, surrounding spaces stripped


def line_limit(verb: bytes | str) -> int:
    name = verb.decode("ascii", "replace") if isinstance(verb, bytes) else verb
    return COMMAND_LINE_LIMITS.get(name.upper(), COMMAND_LINE_LIMIT)


def parse_command(line: bytes) -> Command | Reply:
    """One command line as read up to and including its LF."""
    verb_bytes = line.split(b" ", 1)[0].rstrip(b"\r\n")
    if len(line) > line_limit(verb_bytes):
        return replies.LINE_TOO_LONG
    if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
        return replies.BARE_NEWLINE
    if b"\0" in line:
        return replies.NUL_BYTE
    body = line[:-2]
    if not body:
        return replies.BAD_SYNTAX
    verb, _, rest = body.partition(b" ")
    if not verb.isalpha() or not verb.isascii():
        return replies.BAD_SYNTAX
    try:
        arg = rest.decode("utf-8")
    except UnicodeDecodeError:
        return replies.NOT_UTF8
    return Command(verb.decode("ascii").upper(), arg.strip(" "))


@dataclass(frozen=True, slots=True)
class PathArgument:
    """`FROM:<path> PARAMS` or `TO:<path> PARAMS`, split but not yet validated as an address."""

    path: str  # with its angle brackets
    params: dict[str, str | None] = field(default_factory=dict)  # keyword upper-cased; None for no value


def parse_path_argument(arg: str, keyword: str) -> PathArgument | Reply:
    """Split `FROM:<a@b> SIZE=10` into the path and its ESMTP parameters (RFC 5321 4.1.2).

    A space after the colon is tolerated (common in the wild); a path without angle brackets is a
    syntax error. The closing '>' is found outside quoted strings, so `<"a>b"@c>` stays whole.
    """
    if arg[: len(keyword)].upper() != keyword:
        return replies.ARGUMENT_SYNTAX
    rest = arg[len(keyword) :].lstrip(" ")
    if not rest.startswith("<"):
        return replies.ARGUMENT_SYNTAX
    end = _path_end(rest)
    if end is None:
        return replies.BAD_ADDRESS
    path, params_text = rest[: end + 1], rest[end + 1 :]
    if params_text and not params_text.startswith(" "):
        return replies.ARGUMENT_SYNTAX
    params: dict[str, str | None] = {}
    for item in params_text.split(" "):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not name or not all(c.isascii() and (c.isalnum() or c == "-") for c in name) or not name[0].isalnum():
            return replies.ARGUMENT_SYNTAX
        if eq and (not value or any(c == "=" or ord(c) < 33 or ord(c) == 127 for c in value)):
            return replies.ARGUMENT_SYNTAX
        key = name.upper()
        if key in params:
            return replies.ARGUMENT_SYNTAX
        params[key] = value if eq else None
    return PathArgument(path, params)


def _path_end(text: str) -> int | None:
    """Index of the '>' closing the path that starts at text[0], honouring quotes and escapes."""
    quoted = False
    i = 1
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted:
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == ">" and not quoted:
            return i
        elif c == "<" and not quoted:
            return None
        i += 1
    return None


class DataProblem(enum.IntEnum):
    """Why a message is refused once its data has ended; the lowest value wins the reply."""

    BARE_NEWLINE = 1
    NUL = 2
    TOO_BIG = 3
    LINE_TOO_LONG = 4
    EIGHT_BIT = 5

    @property
    def reply(self) -> Reply:
        return _PROBLEM_REPLIES[self]


_PROBLEM_REPLIES = {
    DataProblem.BARE_NEWLINE: replies.BARE_NEWLINE,
    DataProblem.NUL: replies.NUL_BYTE,
    DataProblem.TOO_BIG: replies.TOO_BIG,
    DataProblem.LINE_TOO_LONG: replies.LINE_TOO_LONG,
    DataProblem.EIGHT_BIT: replies.EIGHT_BIT,
}


class DataReader:
    """The DATA stream after the 354 reply: fed bytes, it finds the end, un-stuffs dots, checks lines.

    Only `<CRLF>.<CRLF>` ends the data (a lone "." as the very first line counts, since the CRLF
    of the DATA command precedes it): a line ended by a bare LF, or containing a bare CR, is an
    error and can never be followed by an end of data, which is what makes SMTP smuggling
    impossible. Problems do not stop reading: the data is consumed up to its real end and then
    refused as a whole, so the client and server stay in step. Past the size limit, or after any
    problem, nothing more is buffered; at most one partial line of TEXT_LINE_LIMIT is kept.
    """

    def __init__(self, max_size: int, *, eight_bit: bool = True) -> None:
        self.max_size = max_size
        self.eight_bit = eight_bit
        self.size = 0  # octets of content seen so far (after un-stuffing), including refused ones
        self.done = False
        self.problems: set[DataProblem] = set()
        self._body = bytearray()
        self._partial = b""
        self._partial_overlong = False
        self._after_crlf = True  # the DATA command's CRLF precedes the first line

    @property
    def problem(self) -> DataProblem | None:
        return min(self.problems) if self.problems else None

    def content(self) -> bytes:
        """The message as received, CRLF line ends, dots un-stuffed; only valid when done and clean."""
        if not self.done or self.problems:
            raise ValueError("the data was refused or has not ended")
        return bytes(self._body)

    def feed(self, data: bytes) -> bytes:
        """Consume `data`; return what follows the end of data (pipelined commands), else b""."""
        if self.done:
            return data
        buf = self._partial + data if self._partial else data
        self._partial = b""
        last = buf.rfind(b"\n")
        if last != -1 and not self.problems and not self._partial_overlong:
            pos, leftover = self._region(buf, last)
        else:
            pos, leftover = self._lines(buf)
        if self.done:
            return leftover
        self._keep_partial(buf[pos:])
        return b""

    def _region(self, buf: bytes, last: int) -> tuple[int, bytes]:
        """Fast path for the usual clean message: whole lines checked and copied in bulk.

        `buf[:last + 1]` holds complete lines starting at a line start. Any doubt (a bare CR or
        LF, NUL, 8-bit, a long line) hands the lines to the line-by-line path, which decides.
        """
        if self._after_crlf and buf.startswith(b".\r\n"):
            self.done = True
            return 3, buf[3:]
        end = buf.find(b"\r\n.\r\n", 0, last + 1)
        region = buf[: end + 2] if end != -1 else buf[: last + 1]
        crlf = region.count(b"\r\n")
        suspicious = (
            region.count(b"\n") != crlf
            or region.count(b"\r") != crlf
            or b"\0" in region
            or (not self.eight_bit and not region.isascii())
            or max(map(len, region.split(b"\n"))) >= TEXT_LINE_LIMIT
        )
        if suspicious:
            self._lines(region)
        else:
            body = region.replace(b"\r\n.", b"\r\n")
            if body.startswith(b"."):
                body = body[1:]
            self._after_crlf = True
            self._count(body)
            if not self.problems:
                self._body += body
        if end == -1:
            return last + 1, b""
        self.done = True
        return end + 5, buf[end + 5 :]

    def _lines(self, buf: bytes) -> tuple[int, bytes]:
        """Line by line: returns where the unconsumed partial line starts, and what follows an end."""
        pos = 0
        find = buf.find
        while True:
            nl = find(b"\n", pos)
            if nl == -1:
                return pos, b""
            line = buf[pos : nl + 1]
            pos = nl + 1
            overlong = self._partial_overlong
            self._partial_overlong = False
            if self._after_crlf and not overlong and line == b".\r\n":
                self.done = True
                return pos, buf[pos:]
            self._line(line, overlong)

    def _keep_partial(self, rest: bytes) -> None:
        if len(rest) > TEXT_LINE_LIMIT + 1:  # + 1 for a stuffed dot
            # Keep only the last octet, a possible CR whose LF comes in the next packet.
            self._refuse(DataProblem.LINE_TOO_LONG)
            dropped = rest[1 if rest.startswith(b".") and not self._partial_overlong else 0 : -1]
            if b"\r" in dropped:  # no LF in `rest`, so any CR before its last octet is bare
                self._refuse(DataProblem.BARE_NEWLINE)
            if b"\0" in dropped:
                self._refuse(DataProblem.NUL)
            if not self.eight_bit and not dropped.isascii():
                self._refuse(DataProblem.EIGHT_BIT)
            self._count(dropped)
            rest = rest[-1:]
            self._partial_overlong = True
        self._partial = rest

    def _line(self, line: bytes, overlong: bool) -> None:
        crlf = line.endswith(b"\r\n")
        self._after_crlf = crlf
        if not crlf or line.find(b"\r", 0, len(line) - 2) != -1:
            self._refuse(DataProblem.BARE_NEWLINE)
        if b"\0" in line:
            self._refuse(DataProblem.NUL)
        if line.startswith(b".") and not overlong:
            line = line[1:]
        if overlong or len(line) > TEXT_LINE_LIMIT:
            self._refuse(DataProblem.LINE_TOO_LONG)
        if not self.eight_bit and not line.isascii():
            self._refuse(DataProblem.EIGHT_BIT)
        self._count(line)
        if not self.problems:
            self._body += line

    def _count(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_size:
            self._refuse(DataProblem.TOO_BIG)

    def _refuse(self, problem: DataProblem) -> None:
        self.problems.add(problem)
        if self._body:
            self._body = bytearray()  # never hold a message we will refuse
