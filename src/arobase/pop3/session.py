"""The POP3 state machine (RFC 1939, 2449, 2595, 5034) without I/O.

The session is fed bytes and hands back events: `Send` (bytes to write) or a request the I/O
layer must fulfil and answer: `Authenticate` -> `login_result`, `StartTLS` -> `tls_started`,
`Fetch` -> `fetched`, `Update` -> `updated`. It never touches the store, the clock or a socket,
so every reply is tested byte for byte.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..smtp import replies as smtp_replies
from ..smtp import sasl
from . import wire
from .wire import BadLine, Command, Framing, LineReader

IMPLEMENTATION = "Arobase"
DEFAULT_MAX_ERRORS = 20


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the maildrop as it was when the session logged in."""

    uid: int
    size: int  # octets of the CRLF form that RETR sends (wire.to_wire)
    uidl: str
    blob: str
    seen: bool
    as_is: bool = False  # wire.as_is of the content, measured at login: RETR sends it without scanning it


@dataclass(frozen=True, slots=True)
class Maildrop:
    """The snapshot of INBOX taken at login; later arrivals belong to the next session."""

    mailbox_id: int
    entries: tuple[Entry, ...]


# -- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    data: list[bytes]
    close: bool = False  # close the connection once `data` is written


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check these credentials (through the shared throttle) and open the maildrop."""

    login: str
    password: str = field(repr=False)
    mechanism: str  # "USER" or "PLAIN"


@dataclass(frozen=True, slots=True)
class StartTLS:
    """Write `reply`, then run the TLS handshake and call `tls_started`."""

    reply: bytes


@dataclass(frozen=True, slots=True)
class Fetch:
    """Read message `number` (RETR when `lines` is None, TOP otherwise) and call `fetched`."""

    number: int
    entry: Entry
    lines: int | None


@dataclass(frozen=True, slots=True)
class Update:
    """QUIT in TRANSACTION: expunge these UIDs in one store transaction, release the maildrop, then
    call `updated`; the client may log in again as soon as it reads the reply."""

    uids: tuple[int, ...]


Event = Send | Authenticate | StartTLS | Fetch | Update
R = TypeVar("R", Authenticate, StartTLS, Fetch, Update)


class LoginResult(enum.Enum):
    OK = "ok"
    INVALID = "invalid"  # wrong credentials, unknown or disabled account
    LOCKED = "locked"  # the shared throttle refuses to check now
    IN_USE = "in-use"  # another POP3 session holds the maildrop
    UNAVAILABLE = "unavailable"  # the mailbox could not be opened


_TRANSACTION_ONLY = frozenset({"STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP"})
_AUTHORIZATION_ONLY = frozenset({"USER", "PASS", "AUTH", "APOP"})


class Session:
    """One POP3 conversation, from the greeting to QUIT or the error limit."""

    def __init__(self, *, tls: bool, plaintext_allowed: bool = False, max_errors: int = DEFAULT_MAX_ERRORS) -> None:
        self.state = State.AUTHORIZATION
        self.tls = tls
        self.plaintext_allowed = plaintext_allowed
        self.max_errors = max_errors
        self.errors = 0
        self.maildrop: Maildrop | None = None
        self.login: str | None = None  # the authenticated login, once in TRANSACTION
        self._reader = LineReader(wire.AUTH_LINE_LIMIT)
        self._lines: deque[bytes | Framing] = deque()
        self._user: str | None = None  # given by USER, waiting for PASS
        self._sasl = False  # AUTH PLAIN sent "+ ", waiting for the response line
        self._waiting: Event | None = None  # a request the I/O layer has not answered yet
        self._deleted: set[int] = set()  # message numbers marked by DELE

    # -- feeding ------------------------------------------------------------------------------

    def greeting(self) -> bytes:
        return wire.ok(f"{IMPLEMENTATION} POP3 server ready")

    def receive(self, data: bytes) -> None:
        self._lines.extend(self._reader.feed(data))

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def next_event(self) -> Event | None:
        """The answer to the next buffered line, or None when more bytes are needed."""
        if self._waiting is not None:
            raise RuntimeError(f"{self._waiting!r} has not been answered")
        if not self._lines or self.closed:
            return None
        event = self._line(self._lines.popleft())
        if not isinstance(event, Send):
            self._waiting = event
        return event

    # -- answers to requests ------------------------------------------------------------------

    def login_result(self, result: LoginResult, maildrop: Maildrop | None = None) -> Send:
        request = self._answered(Authenticate)
        if result is LoginResult.OK:
            assert maildrop is not None
            self.state = State.TRANSACTION
            self.maildrop = maildrop
            self.login = request.login
            count, size = self._totals()
            return Send([wire.ok(f"Logged in, {_messages(count)} ({size} octets)")])
        if result is LoginResult.INVALID:
            return self._error("Authentication failed", "AUTH")
        if result is LoginResult.LOCKED:
            return self._error("Too many failed logins, try again later", "SYS/TEMP")
        if result is LoginResult.IN_USE:
            return Send([wire.err("Mailbox in use by another POP3 session", "IN-USE")])
        return Send([wire.err("Mailbox unavailable, try again later", "SYS/TEMP")])

    def tls_started(self) -> None:
        """RFC 2595 section 4: nothing received or said before the handshake counts any more."""
        self._answered(StartTLS)
        self.tls = True
        self._reader.clear()
        self._lines.clear()
        self._user = None

    def fetched(self, raw: bytes | None) -> Send:
        """The message bytes for the pending Fetch, or None if it no longer exists."""
        request = self._answered(Fetch)
        if raw is None:
            return Send([wire.err(f"Message {request.number} was removed by another session")])
        entry = request.entry
        if request.lines is None and entry.as_is and len(raw) == entry.size:
            return Send([wire.ok(f"{len(raw)} octets"), raw, wire.TERMINATOR])
        message = wire.to_wire(raw)
        if request.lines is None:
            return Send(wire.message_response(message, f"{len(message)} octets"))
        return Send(wire.message_response(wire.top(message, request.lines), "Top of message follows"))

    def updated(self, ok: bool) -> Send:
        request = self._answered(Update)
        self.state = State.CLOSED
        if ok:
            text = f"Bye, {_messages(len(request.uids))} deleted" if request.uids else "Bye"
            return Send([wire.ok(text)], close=True)
        return Send([wire.err("Some deleted messages could not be removed, try again", "SYS/TEMP")], close=True)

    def _answered(self, kind: type[R]) -> R:
        request = self._waiting
        if not isinstance(request, kind):
            raise RuntimeError(f"no {kind.__name__} is pending (pending: {request!r})")
        self._waiting = None
        return request

    # -- lines --------------------------------------------------------------------------------

    def _line(self, line: bytes | Framing) -> Event:
        if self._sasl:
            self._sasl = False
            return self._sasl_response(line)
        if line is Framing.TOO_LONG:
            return self._error(BadLine.TOO_LONG.value)
        assert isinstance(line, bytes)
        command = wire.parse_command(line)
        if isinstance(command, BadLine):
            return self._error(command.value)
        if command.verb in ("CAPA", "QUIT"):
            return self._capa(command) if command.verb == "CAPA" else self._quit(command)
        if self.state is State.AUTHORIZATION:
            return self._authorization(command)
        return self._transaction(command)

    def _authorization(self, command: Command) -> Event:
        verb = command.verb
        if verb in _TRANSACTION_ONLY:
            return self._error(f"{verb} is only valid after login (USER/PASS or AUTH)")
        if verb == "STLS":
            return self._stls(command)
        if verb == "APOP":
            return self._error("APOP is not offered; use USER/PASS or AUTH PLAIN over TLS")
        if verb not in ("USER", "PASS", "AUTH"):
            return self._unknown(command)
        if not self._auth_allowed:
            self._user = None
            return self._error("Plaintext authentication disallowed without TLS; use STLS or port 995", "AUTH")
        if verb == "USER":
            return self._user_command(command)
        if verb == "PASS":
            return self._pass(command)
        return self._auth(command)

    def _transaction(self, command: Command) -> Event:
        verb = command.verb
        handler = {
            "STAT": self._stat,
            "LIST": self._list,
            "UIDL": self._uidl,
            "RETR": self._retr,
            "TOP": self._top,
            "DELE": self._dele,
            "RSET": self._rset,
            "NOOP": self._noop,
        }.get(verb)
        if handler is not None:
            return handler(command)
        if verb in _AUTHORIZATION_ONLY:
            return self._error("Already logged in")
        if verb == "STLS":
            return self._error("STLS is only allowed before login")
        return self._unknown(command)

    def _unknown(self, command: Command) -> Send:
        return self._error(f"Unknown command {command.verb}")

    # -- any state ----------------------------------------------------------------------------

    def _capa(self, command: Command) -> Send:
        if command.args:
            return self._error("CAPA takes no argument")
        caps = ["TOP", "UIDL"]
        if self.state is State.AUTHORIZATION and self._auth_allowed:
            caps += ["USER", "SASL PLAIN"]
        caps += ["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self.state is State.AUTHORIZATION and not self.tls:
            caps.append("STLS")
        caps.append(f"IMPLEMENTATION {IMPLEMENTATION}")
        return Send([wire.multiline("Capability list follows", caps)])

    def _quit(self, command: Command) -> Event:
        if command.args:
            return self._error("QUIT takes no argument")
        if self.state is State.TRANSACTION:
            assert self.maildrop is not None
            self.state = State.UPDATE
            entries = self.maildrop.entries
            return Update(tuple(entries[number - 1].uid for number in sorted(self._deleted)))
        self.state = State.CLOSED
        return Send([wire.ok("Bye")], close=True)

    # -- AUTHORIZATION ------------------------------------------------------------------------

    @property
    def _auth_allowed(self) -> bool:
        return self.tls or self.plaintext_allowed

    def _stls(self, command: Command) -> Event:
        if command.args:
            return self._error("STLS takes no argument")
        if self.tls:
            return self._error("Already using TLS")
        # Anything pipelined after STLS was sent in plaintext and must not be obeyed (RFC 2595 section 4).
        self._lines.clear()
        self._reader.clear()
        return StartTLS(wire.ok("Begin TLS negotiation"))

    def _user_command(self, command: Command) -> Send:
        if len(command.args) != 1:
            self._user = None
            return self._error("USER needs exactly one argument: your login")
        self._user = command.args[0]
        return Send([wire.ok("Send your password")])

    def _pass(self, command: Command) -> Event:
        login, self._user = self._user, None
        if login is None:
            return self._error("Send USER first")
        if not command.rest:
            return self._error("PASS needs your password")
        return Authenticate(login, command.rest, "USER")

    def _auth(self, command: Command) -> Event:
        if not command.args:
            return Send([wire.multiline("Supported mechanisms follow", ["PLAIN"])])
        if len(command.args) > 2:
            return self._error("AUTH takes a mechanism and an optional initial response")
        if command.args[0].upper() != "PLAIN":
            return self._error(f"Unsupported authentication mechanism {command.args[0]}; use PLAIN")
        self._user = None
        if len(command.args) == 1:
            self._sasl = True
            return Send([b"+ \r\n"])
        return self._plain(sasl.decode_response(command.args[1]))

    def _sasl_response(self, line: bytes | Framing) -> Event:
        if line is Framing.TOO_LONG:
            return self._error("Authentication response too long")
        assert isinstance(line, bytes)
        try:
            text = line.rstrip(b"\r\n").decode("ascii")
        except UnicodeDecodeError:
            return self._error("Invalid base64 in authentication response")
        return self._plain(sasl.decode_response(text))

    def _plain(self, response: bytes | smtp_replies.Reply) -> Event:
        if response is smtp_replies.AUTH_ABORTED:
            return self._error("Authentication cancelled")
        if not isinstance(response, bytes):
            return self._error("Invalid base64 in authentication response")
        credentials = sasl.decode_plain(response)
        if credentials is smtp_replies.AUTH_INVALID:
            return Authenticate("", "", "PLAIN")  # an authzid for someone else: a failed login
        if not isinstance(credentials, sasl.Credentials):
            return self._error("Malformed PLAIN response: expected authzid NUL login NUL password")
        return Authenticate(credentials.login, credentials.password, "PLAIN")

    # -- TRANSACTION --------------------------------------------------------------------------

    def _entries(self) -> tuple[Entry, ...]:
        assert self.maildrop is not None
        return self.maildrop.entries

    def _totals(self) -> tuple[int, int]:
        live = [entry for number, entry in enumerate(self._entries(), 1) if number not in self._deleted]
        return len(live), sum(entry.size for entry in live)

    def _message(self, text: str) -> tuple[int, Entry] | Send:
        number = wire.parse_number(text)
        if number is None:
            return self._error(f"Invalid message number {text!r}")
        entries = self._entries()
        if not 1 <= number <= len(entries):
            return self._error(f"No message {number} (the maildrop has {len(entries)})")
        if number in self._deleted:
            return self._error(f"Message {number} already deleted")
        return number, entries[number - 1]

    def _stat(self, command: Command) -> Send:
        if command.args:
            return self._error("STAT takes no argument")
        count, size = self._totals()
        return Send([wire.ok(f"{count} {size}")])

    def _listing(self, command: Command, value: Callable[[Entry], object]) -> Send:
        """LIST and UIDL share their shape: one message with an argument, every live one without."""
        if len(command.args) > 1:
            return self._error(f"{command.verb} takes at most one message number")
        if command.args:
            found = self._message(command.args[0])
            if isinstance(found, Send):
                return found
            number, entry = found
            return Send([wire.ok(f"{number} {value(entry)}")])
        lines = [
            f"{number} {value(entry)}" for number, entry in enumerate(self._entries(), 1) if number not in self._deleted
        ]
        if command.verb == "LIST":
            count, size = self._totals()
            return Send([wire.multiline(f"{_messages(count)} ({size} octets)", lines)])
        return Send([wire.multiline("Unique-ID listing follows", lines)])

    def _list(self, command: Command) -> Send:
        return self._listing(command, lambda entry: entry.size)

    def _uidl(self, command: Command) -> Send:
        return self._listing(command, lambda entry: entry.uidl)

    def _retr(self, command: Command) -> Event:
        if len(command.args) != 1:
            return self._error("RETR needs exactly one message number")
        found = self._message(command.args[0])
        if isinstance(found, Send):
            return found
        return Fetch(found[0], found[1], None)

    def _top(self, command: Command) -> Event:
        if len(command.args) != 2:
            return self._error("TOP needs a message number and a number of lines")
        found = self._message(command.args[0])
        if isinstance(found, Send):
            return found
        lines = wire.parse_number(command.args[1])
        if lines is None:
            return self._error(f"Invalid number of lines {command.args[1]!r}")
        return Fetch(found[0], found[1], lines)

    def _dele(self, command: Command) -> Send:
        if len(command.args) != 1:
            return self._error("DELE needs exactly one message number")
        found = self._message(command.args[0])
        if isinstance(found, Send):
            return found
        self._deleted.add(found[0])
        return Send([wire.ok(f"Message {found[0]} deleted")])

    def _rset(self, command: Command) -> Send:
        if command.args:
            return self._error("RSET takes no argument")
        self._deleted.clear()
        count, size = self._totals()
        return Send([wire.ok(f"Maildrop has {_messages(count)} ({size} octets)")])

    def _noop(self, command: Command) -> Send:
        if command.args:
            return self._error("NOOP takes no argument")
        return Send([wire.ok()])

    # -- errors -------------------------------------------------------------------------------

    def _error(self, text: str, code: str | None = None) -> Send:
        """A refused command; past the error limit the session ends (the client is not listening)."""
        self.errors += 1
        if self.errors >= self.max_errors:
            self.state = State.CLOSED
            return Send([wire.err(text, code), wire.err("Too many errors, closing connection")], close=True)
        return Send([wire.err(text, code)])


def _messages(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"
