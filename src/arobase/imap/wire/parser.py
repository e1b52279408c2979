"""IMAP command grammar (RFC 9051 / RFC 3501 and the extensions we announce) -> `ast` objects.

`parse(data, utf8=...)` takes one complete command as the receiver hands it (lines with literal
octets in place) and returns a typed command, or raises `ParseError` (answered BAD, or NO with a
response code when the grammar is fine but a value is refused, such as an unknown CHARSET).
Nothing else may escape: the property tests feed it random bytes.

The reader is strict about separators (exactly one SP) and lenient about case, as the RFCs
ask. `utf8` says whether UTF8=ACCEPT or IMAP4rev2 is enabled: mailbox names are then UTF-8 as
sent; otherwise they are modified UTF-7 (8-bit names that are valid UTF-8 are taken as such).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from datetime import date, datetime, timedelta, timezone
from typing import get_args

from . import ast, utf7

MAX_NUMBER = 2**63 - 1
MAX_NZ32 = 2**32 - 1
MAX_DEPTH = 64  # search key nesting

MONTHS = {m: i + 1 for i, m in enumerate(("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC").split())}

_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
_LIST_CHARS_EXTRA = frozenset(b"%*]")
_SECTION_START = frozenset(b"[<")
_LITERAL = re.compile(rb"(~?)\{(\d{1,20})(\+?)\}\r\n")
_DATE_TIME = re.compile(rb"( \d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_DATE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})")

SYSTEM_FLAGS = {f.upper(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}
STATUS_ITEMS = frozenset(
    {
        "MESSAGES",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",
        "SIZE",
        "RECENT",
        "HIGHESTMODSEQ",
        "APPENDLIMIT",
        "MAILBOXID",
        "DELETED-STORAGE",
    }
)
SEARCH_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})
SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"})


class ParseError(Exception):
    """The command cannot be accepted; `status` is BAD (syntax) or NO (a refused value)."""

    def __init__(self, text: str, tag: str = "", *, status: str = "BAD", code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.status = status
        self.code = code


def parse(data: bytes, *, utf8: bool = False) -> ast.Command:
    reader = _Reader(data, utf8)
    tag = reader.tag()
    try:
        reader.sp()
        name = reader.atom().upper()
        uid = False
        if name == "UID":
            reader.sp()
            uid = True
            name = reader.atom().upper()
            if name not in _UID_COMMANDS:
                raise reader.error(f"UID {name} is not a command")
        parser = _COMMANDS.get(name)
        if parser is None:
            raise reader.error(f"unknown command {name[:40]}")
        command = parser(reader, uid) if name in _UID_COMMANDS else parser(reader, name)
        reader.end()
    except ParseError as e:
        e.tag = tag
        raise
    except (ValueError, OverflowError, IndexError, UnicodeError) as e:
        raise ParseError(f"syntax error: {e}", tag) from None
    return _with_tag(command, tag)


def _with_tag(command: ast.Command, tag: str) -> ast.Command:
    object.__setattr__(command, "tag", tag)
    return command


def tag_of(data: bytes) -> str:
    """The tag of a command that could not be parsed, or "*" when it has none usable."""
    match = re.match(rb"([\x21-\x7e]+) ", data)
    if not match:
        return "*"
    tag = match.group(1)
    if any(b in _ATOM_SPECIALS and b != 0x5D for b in tag) or tag.startswith(b"+"):
        return "*"
    return tag.decode("ascii")[:64]


class _Reader:
    def __init__(self, data: bytes, utf8: bool) -> None:
        self.data = data
        self.pos = 0
        self.utf8 = utf8
        if not data.endswith(b"\r\n"):
            raise ParseError("command must end with CRLF")

    # -- primitives --------------------------------------------------------------------------

    def error(self, text: str) -> ParseError:
        return ParseError(text)

    def peek(self, n: int = 1) -> bytes:
        return self.data[self.pos : self.pos + n]

    def at_end(self) -> bool:
        return self.data[self.pos :] == b"\r\n"

    def end(self) -> None:
        if not self.at_end():
            raise self.error(f"unexpected {self.data[self.pos : self.pos + 20]!r}")

    def expect(self, token: bytes) -> None:
        if self.data[self.pos : self.pos + len(token)].upper() != token.upper():
            raise self.error(f"expected {token.decode()!r}")
        self.pos += len(token)

    def accept(self, token: bytes) -> bool:
        if self.data[self.pos : self.pos + len(token)].upper() == token.upper():
            self.pos += len(token)
            return True
        return False

    def sp(self) -> None:
        if self.peek() != b" ":
            raise self.error("expected a space")
        self.pos += 1

    def tag(self) -> str:
        start = self.pos
        while self.pos < len(self.data):
            byte = self.data[self.pos]
            if byte <= 0x20 or byte >= 0x7F or (byte in _ATOM_SPECIALS and byte != 0x5D):
                break
            self.pos += 1
        tag = self.data[start : self.pos]
        if not tag or tag.startswith(b"+"):
            raise ParseError("missing or invalid tag", "*")
        return tag.decode("ascii")

    def atom(self, *, extra: frozenset[int] = frozenset(), stop: frozenset[int] = frozenset()) -> str:
        """ATOM-CHAR+; `extra` are specials allowed here (`]` in astrings), `stop` ends it early."""
        start = self.pos
        data = self.data
        while self.pos < len(data):
            byte = data[self.pos]
            if byte <= 0x20 or byte >= 0x7F or (byte in _ATOM_SPECIALS and byte not in extra) or byte in stop:
                break
            self.pos += 1
        if self.pos == start:
            raise self.error("expected an atom")
        return data[start : self.pos].decode("ascii")

    def number(self, *, limit: int = MAX_NUMBER, nonzero: bool = False) -> int:
        start = self.pos
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            self.pos += 1
        if self.pos == start or self.pos - start > 20:
            raise self.error("expected a number")
        value = int(self.data[start : self.pos])
        if value > limit or (nonzero and value == 0):
            raise self.error("number out of range")
        return value

    def quoted(self) -> bytes:
        self.expect(b'"')
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                raise self.error("unterminated quoted string")
            byte = data[self.pos]
            self.pos += 1
            if byte == 0x22:
                return bytes(out)
            if byte == 0x5C:
                if self.pos >= len(data) or data[self.pos] not in (0x22, 0x5C):
                    raise self.error("invalid escape in quoted string")
                out.append(data[self.pos])
                self.pos += 1
            elif byte in (0x0D, 0x0A, 0x00):
                raise self.error("CR, LF and NUL are not allowed in a quoted string")
            else:  # 8-bit is tolerated: decoded as UTF-8 where text is expected
                out.append(byte)

    def literal(self, *, binary: bool = False) -> bytes:
        match = _LITERAL.match(self.data, self.pos)
        if not match:
            raise self.error("expected a literal")
        if match.group(1) and not binary:
            raise self.error("a binary literal is only allowed for message data")
        size = int(match.group(2))
        start = match.end()
        if start + size > len(self.data) - 2:
            raise self.error("literal shorter than announced")
        self.pos = start + size
        value = self.data[start : self.pos]
        if b"\x00" in value and not match.group(1):
            raise self.error("NUL in a literal (use a binary literal ~{n})")
        return value

    def at_string(self) -> bool:
        """A quoted string or a literal starts here (`~` alone starts an atom, `~{` a literal8)."""
        head = self.peek(2)
        return head[:1] in (b'"', b"{") or head == b"~{"

    def string(self) -> bytes:
        head = self.peek()
        if head == b'"':
            return self.quoted()
        if head in (b"{", b"~"):
            return self.literal()
        raise self.error("expected a string")

    def astring(self) -> bytes:
        if self.at_string():
            return self.string()
        return self.atom(extra=frozenset({0x5D})).encode("ascii")

    def nstring(self) -> bytes | None:
        if self.peek(3).upper() == b"NIL" and not self._atom_continues(3):
            self.pos += 3
            return None
        return self.string()

    def _atom_continues(self, offset: int) -> bool:
        following = self.data[self.pos + offset : self.pos + offset + 1]
        return bool(following) and following not in (b" ", b")", b"\r")

    def text(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("text is not valid UTF-8") from None

    def mailbox(self) -> str:
        return self.mailbox_name(self.astring())

    def mailbox_name(self, raw: bytes) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("mailbox name is not valid UTF-8") from None
        if self.utf8 or not text.isascii():
            name = text
        else:
            try:
                name = utf7.decode(text)
            except utf7.UTF7Error as e:
                raise self.error(f"mailbox name is not valid modified UTF-7: {e}") from None
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            raise self.error("control characters in a mailbox name")
        return name

    def list_mailbox(self) -> str:
        if self.at_string():
            raw = self.string()
        else:
            raw = self.atom(extra=_LIST_CHARS_EXTRA).encode("ascii")
        return self.mailbox_name(raw) if raw else ""

    def paren_list(self, item):  # type: ignore[no-untyped-def]
        """`(item SP item ...)`, possibly empty."""
        self.expect(b"(")
        items = []
        if not self.accept(b")"):
            items.append(item())
            while not self.accept(b")"):
                self.sp()
                items.append(item())
        return items

    # -- IMAP values -------------------------------------------------------------------------

    def sequence_set(self) -> ast.SequenceSet:
        if self.accept(b"$"):
            return ast.SequenceSet(saved=True)
        ranges = [self._seq_range()]
        while self.accept(b","):
            ranges.append(self._seq_range())
        return ast.SequenceSet(tuple(ranges))

    def _seq_range(self) -> tuple[int, int]:
        first = self._seq_number()
        if self.accept(b":"):
            return first, self._seq_number()
        return first, first

    def _seq_number(self) -> int:
        if self.accept(b"*"):
            return ast.STAR
        return self.number(limit=MAX_NZ32, nonzero=True)

    def flag(self) -> str:
        if self.accept(b"\\"):
            if self.accept(b"*"):
                raise self.error("\\* is not a flag")
            name = self.atom()
            return SYSTEM_FLAGS.get("\\" + name.upper(), "\\" + name)
        return self.atom()

    def flag_list(self) -> tuple[str, ...]:
        return tuple(self.paren_list(self.flag))

    def date(self) -> date:
        quoted = self.accept(b'"')
        match = _DATE.match(self.data, self.pos)
        if not match:
            raise self.error("expected a date like 1-Feb-1994")
        self.pos = match.end()
        if quoted:
            self.expect(b'"')
        month = MONTHS.get(match.group(2).decode().upper())
        if month is None:
            raise self.error("unknown month")
        return date(int(match.group(3)), month, int(match.group(1)))

    def date_time(self) -> datetime:
        self.expect(b'"')
        match = _DATE_TIME.match(self.data, self.pos)
        if not match:
            raise self.error('expected a date-time like "17-Jul-1996 02:44:25 -0700"')
        self.pos = match.end()
        self.expect(b'"')
        day, mon, year, hh, mm, ss, sign, zh, zm = (g.decode() for g in match.groups())
        month = MONTHS.get(mon.upper())
        if month is None:
            raise self.error("unknown month")
        offset = timedelta(hours=int(zh), minutes=int(zm))
        if offset >= timedelta(hours=24):
            raise self.error("invalid time zone")
        zone = timezone(-offset if sign == "-" else offset)
        return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=zone)


# -- commands ----------------------------------------------------------------------------------


def _no_args(kind: type[ast.Command]):  # type: ignore[no-untyped-def]
    def parse(r: _Reader, _name: str) -> ast.Command:
        return kind()

    return parse


def _authenticate(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    mechanism = r.atom().upper()
    initial = None
    if r.accept(b" "):
        if r.accept(b"="):
            initial = b""
        else:
            text = r.atom().encode("ascii")
            try:
                initial = base64.b64decode(text, validate=True)
            except binascii.Error:
                raise r.error("invalid base64 initial response") from None
    return ast.Authenticate(mechanism, initial)


def _login(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    user = r.text(r.astring())
    r.sp()
    password = r.text(r.astring())
    return ast.Login(user, password)


def _enable(r: _Reader, _name: str) -> ast.Command:
    capabilities = []
    while r.accept(b" "):
        capabilities.append(r.atom().upper())
    if not capabilities:
        raise r.error("ENABLE needs at least one capability")
    return ast.Enable(tuple(capabilities))


def _id(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    if r.accept(b"NIL"):
        return ast.Id(None)
    r.expect(b"(")
    params: list[tuple[str, str | None]] = []
    if not r.accept(b")"):
        while True:
            key = r.text(r.string())
            r.sp()
            value = r.nstring()
            params.append((key, None if value is None else value.decode("utf-8", "replace")))
            if r.accept(b")"):
                break
            r.sp()
    if len(params) > 30:
        raise r.error("too many ID parameters")
    return ast.Id(tuple(params))


def _create(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    mailbox = r.mailbox()
    uses: list[str] = []
    if r.accept(b" "):
        r.expect(b"(")
        while True:
            param = r.atom().upper()
            if param != "USE":
                raise r.error(f"unknown CREATE parameter {param[:40]}")
            r.sp()
            uses += r.paren_list(r.flag)
            if r.accept(b")"):
                break
            r.sp()
    return ast.Create(mailbox, tuple(uses))


def _one_mailbox(kind: type[ast.Command]):  # type: ignore[no-untyped-def]
    def parse(r: _Reader, _name: str) -> ast.Command:
        r.sp()
        return kind(r.mailbox())  # type: ignore[call-arg]

    return parse


def _rename(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    old = r.mailbox()
    r.sp()
    return ast.Rename(old, r.mailbox())


def _list(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    selection: set[str] = set()
    extended = False
    if r.peek() == b"(":
        extended = True
        selection = {opt.upper() for opt in r.paren_list(r.atom)}
        r.sp()
    reference = r.list_mailbox()
    r.sp()
    if r.peek() == b"(":
        extended = True
        patterns = tuple(r.paren_list(r.list_mailbox))
        if not patterns:
            raise r.error("LIST needs at least one pattern")
    else:
        patterns = (r.list_mailbox(),)
    returns: set[str] = set()
    status: tuple[str, ...] | None = None
    if r.accept(b" "):
        extended = True
        r.expect(b"RETURN")
        r.sp()
        r.expect(b"(")
        if not r.accept(b")"):
            while True:
                option = r.atom().upper()
                if option == "STATUS":
                    r.sp()
                    status = tuple(_status_items(r))
                else:
                    returns.add(option)
                if r.accept(b")"):
                    break
                r.sp()
    known = {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}
    if selection - known:
        raise r.error(f"unknown LIST selection option {sorted(selection - known)[0]}")
    if "RECURSIVEMATCH" in selection and not selection & {"SUBSCRIBED", "SPECIAL-USE"}:
        raise r.error("RECURSIVEMATCH needs another selection option")
    return ast.List(reference, patterns, frozenset(selection), frozenset(returns), status, extended)


def _lsub(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    reference = r.list_mailbox()
    r.sp()
    return ast.Lsub(reference, r.list_mailbox())


def _status_items(r: _Reader) -> list[str]:
    items = [item.upper() for item in r.paren_list(r.atom)]
    unknown = [item for item in items if item not in STATUS_ITEMS]
    if unknown:
        raise r.error(f"unknown STATUS item {unknown[0]}")
    if not items:
        raise r.error("STATUS needs at least one item")
    return items


def _status(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    mailbox = r.mailbox()
    r.sp()
    return ast.Status(mailbox, tuple(_status_items(r)))  # type: ignore[arg-type]


def _append(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    mailbox = r.mailbox()
    messages = []
    while r.accept(b" "):
        messages.append(_append_message(r))
    if not messages:
        raise r.error("APPEND needs a message")
    return ast.Append(mailbox, tuple(messages))


def _append_message(r: _Reader) -> ast.AppendMessage:
    """`[flag-list SP] [date-time SP] literal` (or `UTF8 (literal)`), after the SP that precedes it."""
    flags: tuple[str, ...] = ()
    when = None
    if r.peek() == b"(":
        flags = r.flag_list()
        r.sp()
    if r.peek() == b'"':
        when = r.date_time()
        r.sp()
    if r.accept(b"UTF8 ("):
        data = r.literal(binary=True)
        r.expect(b")")
        binary = True
    else:
        binary = r.peek() == b"~"
        data = r.literal(binary=True)
    return ast.AppendMessage(data, flags, when, binary)


def _replace(r: _Reader, uid: bool) -> ast.Command:
    """`[UID] REPLACE n mailbox [flags] [date] literal` (RFC 8508)."""
    r.sp()
    number = r._seq_number()
    r.sp()
    mailbox = r.mailbox()
    r.sp()
    return ast.Replace(number, mailbox, _append_message(r), uid=uid)


def _select(r: _Reader, name: str) -> ast.Command:
    r.sp()
    mailbox = r.mailbox()
    condstore = False
    qresync = None
    if r.accept(b" "):
        r.expect(b"(")
        while True:
            param = r.atom().upper()
            if param == "CONDSTORE" and not condstore:
                condstore = True
            elif param == "QRESYNC" and qresync is None:
                r.sp()
                qresync = _qresync(r)
            else:
                raise r.error(f"unknown or repeated SELECT parameter {param[:40]}")
            if r.accept(b")"):
                break
            r.sp()
    return ast.Select(mailbox, readonly=name == "EXAMINE", condstore=condstore, qresync=qresync)


def _qresync(r: _Reader) -> ast.QResync:
    """`(uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)])` (RFC 7162 section 7)."""
    r.expect(b"(")
    uidvalidity = r.number(limit=MAX_NZ32, nonzero=True)
    r.sp()
    modseq = r.number(nonzero=True)
    known_uids = seq_match = None
    if r.accept(b" ") and r.peek() != b"(":
        known_uids = r.sequence_set()
        r.accept(b" ")
    if r.accept(b"("):
        sequences = r.sequence_set()
        r.sp()
        seq_match = (sequences, r.sequence_set())
        r.expect(b")")
    r.expect(b")")
    return ast.QResync(uidvalidity, modseq, known_uids, seq_match)


def _close(r: _Reader, name: str) -> ast.Command:
    return ast.Close(unselect=name == "UNSELECT")


def _expunge(r: _Reader, uid: bool) -> ast.Command:
    if uid:
        r.sp()
        return ast.Expunge(r.sequence_set())
    return ast.Expunge()


_SIMPLE_FETCH = frozenset(get_args(ast.SimpleFetchName))


def _fetch_attribute(r: _Reader) -> ast.FetchAttribute:
    start = r.pos
    name = r.atom(stop=_SECTION_START).upper()
    if r.peek() == b"[":
        if name in ("BODY", "BODY.PEEK"):
            section = _section(r)
            return ast.FetchBody(section, _partial(r), peek=name == "BODY.PEEK")
        if name in ("BINARY", "BINARY.PEEK"):
            part = _section_binary(r)
            return ast.FetchBinary(part, _partial(r), peek=name == "BINARY.PEEK")
        if name == "BINARY.SIZE":
            return ast.FetchBinarySize(_section_binary(r))
    if name == "PREVIEW" and r.peek(2) == b" (":  # RFC 8970 modifiers: LAZY, the only one, changes
        r.sp()  # nothing here as every preview is computed at ingest
        if [mod.upper() for mod in r.paren_list(r.atom)] != ["LAZY"]:
            raise r.error("PREVIEW modifiers: (LAZY)")
    if name in _SIMPLE_FETCH:
        return ast.FetchSimple(name)  # type: ignore[arg-type]
    r.pos = start
    raise r.error(f"unknown FETCH attribute {name[:40]}")


def _section(r: _Reader) -> ast.Section:
    r.expect(b"[")
    part: list[int] = []
    text: str | None = None
    fields: tuple[str, ...] = ()
    if not r.accept(b"]"):
        while r.peek().isdigit():
            part.append(r.number(limit=MAX_NZ32, nonzero=True))
            if not r.accept(b"."):
                break
        if r.peek() != b"]":
            if part and r.data[r.pos - 1 : r.pos] != b".":
                raise r.error("expected . after a part number")
            word = r.atom().upper()
            if word not in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"):
                raise r.error(f"unknown section {word[:40]}")
            if word == "MIME" and not part:
                raise r.error("MIME needs a part number")
            text = word
            if word.startswith("HEADER.FIELDS"):
                r.sp()
                fields = tuple(r.text(f).upper() for f in r.paren_list(r.astring))
                if not fields:
                    raise r.error("HEADER.FIELDS needs field names")
        elif part and r.data[r.pos - 1 : r.pos] == b".":
            raise r.error("trailing . in section")
        r.expect(b"]")
    return ast.Section(tuple(part), text, fields)  # type: ignore[arg-type]


def _section_binary(r: _Reader) -> tuple[int, ...]:
    r.expect(b"[")
    part: list[int] = []
    if not r.accept(b"]"):
        part.append(r.number(limit=MAX_NZ32, nonzero=True))
        while r.accept(b"."):
            part.append(r.number(limit=MAX_NZ32, nonzero=True))
        r.expect(b"]")
    return tuple(part)


def _partial(r: _Reader) -> ast.Partial | None:
    if not r.accept(b"<"):
        return None
    start = r.number(limit=MAX_NZ32)
    r.expect(b".")
    length = r.number(limit=MAX_NZ32, nonzero=True)
    r.expect(b">")
    return ast.Partial(start, length)


def _fetch(r: _Reader, uid: bool) -> ast.Command:
    r.sp()
    sequence = r.sequence_set()
    r.sp()
    attributes: list[ast.FetchAttribute]
    if r.peek() == b"(":
        attributes = r.paren_list(lambda: _fetch_attribute(r))
        if not attributes:
            raise r.error("FETCH needs at least one attribute")
    else:
        start = r.pos
        word = r.atom().upper()
        if word in ast.MACROS:
            attributes = list(ast.MACROS[word])
        else:
            r.pos = start
            attributes = [_fetch_attribute(r)]
    changedsince = None
    vanished = False
    if r.accept(b" "):
        r.expect(b"(")
        while True:
            modifier = r.atom().upper()
            if modifier == "CHANGEDSINCE" and changedsince is None:
                r.sp()
                changedsince = r.number()
            elif modifier == "VANISHED" and not vanished:
                vanished = True
            else:
                raise r.error(f"unknown or repeated FETCH modifier {modifier[:40]}")
            if r.accept(b")"):
                break
            r.sp()
    if vanished and (not uid or changedsince is None):  # RFC 7162 3.2.6
        raise r.error("VANISHED needs UID FETCH and CHANGEDSINCE")
    return ast.Fetch(sequence, tuple(attributes), uid=uid, changedsince=changedsince, vanished=vanished)


def _store(r: _Reader, uid: bool) -> ast.Command:
    r.sp()
    sequence = r.sequence_set()
    r.sp()
    unchangedsince = None
    if r.accept(b"("):
        r.expect(b"UNCHANGEDSINCE")
        r.sp()
        unchangedsince = r.number()
        r.expect(b")")
        r.sp()
    mode = "add" if r.accept(b"+") else "remove" if r.accept(b"-") else "replace"
    r.expect(b"FLAGS")
    silent = r.accept(b".SILENT")
    r.sp()
    if r.peek() == b"(":
        flags = r.flag_list()
    else:
        items = [r.flag()]
        while r.accept(b" "):
            items.append(r.flag())
        flags = tuple(items)
    return ast.Store(sequence, ast.StoreAction(mode, flags, silent), uid=uid, unchangedsince=unchangedsince)  # type: ignore[arg-type]


def _copy(move: bool):  # type: ignore[no-untyped-def]
    def parse(r: _Reader, uid: bool) -> ast.Command:
        r.sp()
        sequence = r.sequence_set()
        r.sp()
        return ast.Copy(sequence, r.mailbox(), uid=uid, move=move)

    return parse


def _search(r: _Reader, uid: bool) -> ast.Command:
    r.sp()
    returns = _search_returns(r)
    charset: str | None = None
    if r.accept(b"CHARSET "):
        charset = _charset(r)
        r.sp()
    key = _search_keys(r, codecs.lookup(charset or "utf-8"))
    return ast.Search(key, uid=uid, charset=charset, returns=returns)  # type: ignore[arg-type]


def _search_returns(r: _Reader) -> tuple[str, ...] | None:
    """`RETURN (opts) ` of ESEARCH (RFC 4731) and ESORT (RFC 5267), or None."""
    if not r.accept(b"RETURN "):
        return None
    items = [item.upper() for item in r.paren_list(r.atom)]
    unknown = [item for item in items if item not in SEARCH_RETURNS]
    if unknown:
        raise r.error(f"unknown RETURN option {unknown[0][:40]}")
    r.sp()
    return tuple(dict.fromkeys(items))


def _charset(r: _Reader) -> str:
    charset = r.text(r.astring()).upper()
    try:
        codecs.lookup(charset)
    except LookupError:
        raise ParseError(
            f"unsupported charset {charset[:40]}", status="NO", code="BADCHARSET (UTF-8 US-ASCII)"
        ) from None
    return charset


def _search_keys(r: _Reader, codec: codecs.CodecInfo) -> ast.SearchKey:
    keys = [_search_key(r, codec, 0)]
    while r.accept(b" "):
        keys.append(_search_key(r, codec, 0))
    return keys[0] if len(keys) == 1 else ast.SearchAnd(tuple(keys))


def _sort(r: _Reader, uid: bool) -> ast.Command:
    """`SORT [RETURN (...)] (criteria) charset search-key...` (RFC 5256, RFC 5267, RFC 5957)."""
    r.sp()
    returns = _search_returns(r)
    criteria = []
    reverse = False

    def criterion() -> str:
        nonlocal reverse
        word = r.atom().upper()
        if word == "REVERSE":
            if reverse:
                raise r.error("REVERSE twice")
            reverse = True
            return word
        if word not in SORT_KEYS:
            raise r.error(f"unknown sort key {word[:40]}")
        criteria.append(ast.SortCriterion(word, reverse))  # type: ignore[arg-type]
        reverse = False
        return word

    r.paren_list(criterion)
    if not criteria or reverse:
        raise r.error("SORT needs sort keys")
    r.sp()
    charset = _charset(r)
    r.sp()
    key = _search_keys(r, codecs.lookup(charset))
    return ast.Sort(tuple(criteria), key, charset, uid=uid, returns=returns)  # type: ignore[arg-type]


def _thread(r: _Reader, uid: bool) -> ast.Command:
    """`THREAD algorithm charset search-key...` (RFC 5256)."""
    r.sp()
    algorithm = r.atom().upper()
    if algorithm not in ("REFERENCES", "ORDEREDSUBJECT"):
        raise r.error(f"unknown THREAD algorithm {algorithm[:40]}")
    r.sp()
    charset = _charset(r)
    r.sp()
    key = _search_keys(r, codecs.lookup(charset))
    return ast.Thread(algorithm, key, charset, uid=uid)  # type: ignore[arg-type]


def _compress(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    return ast.Compress(r.atom().upper())


def _getquota(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    return ast.GetQuota(r.text(r.astring()))


def _getquotaroot(r: _Reader, _name: str) -> ast.Command:
    r.sp()
    return ast.GetQuotaRoot(r.mailbox())


def _setquota(r: _Reader, _name: str) -> ast.Command:
    """`SETQUOTA root (STORAGE 512 MESSAGE 1000)` (RFC 9208): resource names and limits in pairs."""
    r.sp()
    root = r.text(r.astring())
    r.sp()
    r.expect(b"(")
    limits = []
    if not r.accept(b")"):
        while True:
            name = r.atom().upper()
            r.sp()
            limits.append((name, r.number()))
            if r.accept(b")"):
                break
            r.sp()
    return ast.SetQuota(root, tuple(limits))


_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "RECENT": ("\\Recent", True),
    "OLD": ("\\Recent", False),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_TEXT_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_DATE_KEYS = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})
_SAVED_KEYS = frozenset({"SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"})
_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")


def _search_key(r: _Reader, codec: codecs.CodecInfo, depth: int) -> ast.SearchKey:
    if depth > MAX_DEPTH:
        raise r.error("search keys nested too deeply")

    def text() -> str:
        raw = r.astring()
        try:
            return codec.decode(raw)[0]
        except (UnicodeDecodeError, ValueError):
            raise ParseError("search string not in its charset", status="NO", code="BADCHARSET") from None

    head = r.peek()
    if head == b"(":
        keys = r.paren_list(lambda: _search_key(r, codec, depth + 1))
        if not keys:
            raise r.error("empty search key list")
        return keys[0] if len(keys) == 1 else ast.SearchAnd(tuple(keys))
    if head == b"$" or head == b"*" or head.isdigit():
        return ast.SearchSequence(r.sequence_set())
    word = r.atom().upper()
    if word == "ALL":
        return ast.SearchAll()
    if word in _FLAG_KEYS:
        flag, present = _FLAG_KEYS[word]
        return ast.SearchFlag(flag, present)
    if word == "NEW":
        return ast.SearchAnd((ast.SearchFlag("\\Recent", True), ast.SearchFlag("\\Seen", False)))
    r.sp()
    if word in _TEXT_KEYS:
        return ast.SearchText(word, text())  # type: ignore[arg-type]
    if word in _DATE_KEYS:
        return ast.SearchDate(word, r.date())  # type: ignore[arg-type]
    if word in ("KEYWORD", "UNKEYWORD"):
        return ast.SearchFlag(r.flag(), word == "KEYWORD")
    if word == "HEADER":
        name = r.text(r.astring())
        r.sp()
        return ast.SearchHeader(name, text())
    if word in ("LARGER", "SMALLER"):
        return ast.SearchSize(word == "LARGER", r.number())
    if word in ("OLDER", "YOUNGER"):
        return ast.SearchWithin(word == "OLDER", r.number(limit=MAX_NZ32, nonzero=True))
    if word in ("EMAILID", "THREADID"):
        value = r.atom()
        if not _OBJECTID.fullmatch(value):
            raise r.error("an object id is 1 to 255 letters, digits, _ or -")
        return ast.SearchObjectId(word, value)  # type: ignore[arg-type]
    if word in _SAVED_KEYS:
        return ast.SearchSaveDate(word, r.date())  # type: ignore[arg-type]
    if word == "UID":
        return ast.SearchSequence(r.sequence_set(), uid=True)
    if word == "NOT":
        return ast.SearchNot(_search_key(r, codec, depth + 1))
    if word == "OR":
        left = _search_key(r, codec, depth + 1)
        r.sp()
        return ast.SearchOr(left, _search_key(r, codec, depth + 1))
    if word == "MODSEQ":
        if r.peek() == b'"':
            r.quoted()
            r.sp()
            entry_type = r.atom().upper()
            if entry_type not in ("PRIV", "SHARED", "ALL"):
                raise r.error("MODSEQ entry type must be priv, shared or all")
            r.sp()
        return ast.SearchModSeq(r.number())
    raise r.error(f"unknown search key {word[:40]}")


_NOTIFY_SPECIFIERS = frozenset(
    {"SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES"}
)
_NOTIFY_KNOWN = {name.upper(): name for name in ast.NOTIFY_EVENTS}
_NOTIFY_UNSUPPORTED = frozenset({"ANNOTATIONCHANGE", "MAILBOXMETADATACHANGE", "SERVERMETADATACHANGE"})
_BADEVENT = "BADEVENT (" + " ".join(ast.NOTIFY_EVENTS) + ")"


def _notify_event(r: _Reader, attributes: list[ast.FetchAttribute]) -> str:
    """One event; RFC 5465: an event the server does not do is refused with NO [BADEVENT (what it does)]."""
    upper = r.atom().upper()
    name = _NOTIFY_KNOWN.get(upper)
    if name is None:
        text = "unsupported" if upper in _NOTIFY_UNSUPPORTED else "unknown"
        raise ParseError(f"{text} NOTIFY event {upper[:40]}", status="NO", code=_BADEVENT)
    if name == "MessageNew" and r.peek(2) == b" (":
        r.sp()
        attributes.extend(r.paren_list(lambda: _fetch_attribute(r)))
        if not attributes:
            raise r.error("MessageNew needs fetch attributes in its parentheses")
    return name


def _notify_group(r: _Reader) -> ast.NotifyGroup:
    """`(filter-mailboxes events)`, with the RFC 5465 pairing rules of message events."""
    r.expect(b"(")
    specifier = r.atom().upper()
    if specifier not in _NOTIFY_SPECIFIERS:
        raise r.error(f"unknown NOTIFY mailbox specifier {specifier[:40]}")
    mailboxes: list[str] = []
    if specifier in ("SUBTREE", "MAILBOXES"):
        r.sp()
        mailboxes = r.paren_list(r.mailbox) if r.peek() == b"(" else [r.mailbox()]
        if not mailboxes:
            raise r.error(f"{specifier} needs a mailbox")
    r.sp()
    attributes: list[ast.FetchAttribute] = []
    if r.peek() == b"(":
        events = r.paren_list(lambda: _notify_event(r, attributes))
        if not events:
            raise r.error("NOTIFY events cannot be empty: use NONE")
    else:
        if r.atom().upper() != "NONE":
            raise r.error("expected NOTIFY events or NONE")
        events = []
    r.expect(b")")
    chosen = set(events)
    message = chosen & {"MessageNew", "MessageExpunge", "FlagChange"}
    if message and not {"MessageNew", "MessageExpunge"} <= chosen:
        raise r.error("MessageNew and MessageExpunge go together, and FlagChange needs both")
    if specifier.startswith("SELECTED") and chosen - {"MessageNew", "MessageExpunge", "FlagChange"}:
        raise r.error(f"{specifier} takes message events only")
    return ast.NotifyGroup(specifier, tuple(mailboxes), tuple(dict.fromkeys(events)), tuple(attributes))


def _notify(r: _Reader, _name: str) -> ast.Command:
    """NOTIFY NONE, or NOTIFY SET [STATUS] event-group *(SP event-group) (RFC 5465 8)."""
    r.sp()
    verb = r.atom().upper()
    if verb == "NONE":
        return ast.Notify()
    if verb != "SET":
        raise r.error("expected NOTIFY SET or NOTIFY NONE")
    r.sp()
    status = False
    if r.peek() != b"(":
        if r.atom().upper() != "STATUS":
            raise r.error("expected STATUS or an event group")
        status = True
        r.sp()
    groups = [_notify_group(r)]
    while not r.at_end():
        r.sp()
        groups.append(_notify_group(r))
    if sum(g.specifier.startswith("SELECTED") for g in groups) > 1:
        raise r.error("SELECTED and SELECTED-DELAYED may appear once")
    return ast.Notify(tuple(groups), status)


_COMMANDS = {
    "CAPABILITY": _no_args(ast.Capability),
    "NOOP": _no_args(ast.Noop),
    "LOGOUT": _no_args(ast.Logout),
    "STARTTLS": _no_args(ast.StartTLS),
    "AUTHENTICATE": _authenticate,
    "LOGIN": _login,
    "ENABLE": _enable,
    "ID": _id,
    "NAMESPACE": _no_args(ast.Namespace),
    "CREATE": _create,
    "DELETE": _one_mailbox(ast.Delete),
    "RENAME": _rename,
    "SUBSCRIBE": _one_mailbox(ast.Subscribe),
    "UNSUBSCRIBE": _one_mailbox(ast.Unsubscribe),
    "LIST": _list,
    "LSUB": _lsub,
    "STATUS": _status,
    "APPEND": _append,
    "IDLE": _no_args(ast.Idle),
    "CHECK": _no_args(ast.Check),
    "SELECT": _select,
    "EXAMINE": _select,
    "CLOSE": _close,
    "UNSELECT": _close,
    "EXPUNGE": _expunge,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy(False),
    "MOVE": _copy(True),
    "SEARCH": _search,
    "SORT": _sort,
    "THREAD": _thread,
    "COMPRESS": _compress,
    "GETQUOTA": _getquota,
    "GETQUOTAROOT": _getquotaroot,
    "SETQUOTA": _setquota,
    "REPLACE": _replace,
    "NOTIFY": _notify,
}
_UID_COMMANDS = frozenset({"EXPUNGE", "FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "REPLACE"})
