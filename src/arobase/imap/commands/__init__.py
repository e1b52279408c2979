"""IMAP command handlers: one module per command or family, all plugged in through `HANDLERS`.

The contract, kept small on purpose:

- A module registers its handlers with the `command` decorator, naming the AST class it handles
  and the states it is valid in::

      @command(ast.Fetch, SELECTED)
      async def fetch(ctx: CommandContext, cmd: ast.Fetch) -> None: ...

  `load()` imports every module of this package once, so adding a file is enough. The session
  answers `BAD` for a command valid in no state it is in, before calling the handler.
- A handler writes untagged data with `ctx.untagged(b"3 EXISTS")` (no `* `, no CRLF), and ends
  with at most one of `ctx.ok()`, `ctx.no()`, `ctx.bad()` (or raises `CommandError`). If it calls
  none, the session answers `OK <NAME> completed`. The tagged line is written by the session
  after the updates of the selected mailbox that may be sent (see below).
- Large outputs call `await ctx.drain()` now and then: the transport sends what is buffered.
- Store exceptions escaping a handler become `NO` with a fitting code: NotFound ->
  [NONEXISTENT], AlreadyExists -> [ALREADYEXISTS], QuotaExceeded -> [OVERQUOTA],
  InvalidOperation -> [CANNOT]. Anything else is logged and answered `NO [SERVERBUG]`.
- SELECT/EXAMINE install a view with `ctx.select(view)` (None leaves the selected state). The
  view satisfies `SelectedView`: the session feeds it every change of its mailbox from the store's
  change feed (`changed`), and before each tagged response, and at once during IDLE, sends what
  `updates(expunges=...)` returns. `expunges` is False while answering FETCH, STORE and SEARCH by
  sequence number (RFC 9051 section 7.5.1), True otherwise.
- Mailbox names in commands arrive decoded (`str`); `ctx.mailbox(name)` gives their wire form for
  responses (modified UTF-7, or UTF-8 once UTF8=ACCEPT or IMAP4rev2 is enabled).
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..wire import ast, responses

if TYPE_CHECKING:
    from ...app import App
    from ...store import Account, Change


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})  # "authenticated or selected"
SELECTED = frozenset({State.SELECTED})


class SelectedView(Protocol):
    """What the session needs from the selected mailbox's view (implemented in `imap/view.py`)."""

    mailbox_id: int
    readonly: bool

    def changed(self, change: Change) -> None:
        """Take note of a committed change of this mailbox (called on the session's loop)."""

    def updates(self, *, expunges: bool) -> list[bytes]:
        """Untagged responses due now (EXISTS, EXPUNGE, FETCH FLAGS...), without `* ` and CRLF."""


@dataclass(slots=True)
class SessionState:
    """What handlers may read (and LOGIN/SELECT/ENABLE change) about the connection."""

    peer_ip: str = ""
    secure: bool = False  # TLS is in place (STARTTLS done, or implicit TLS)
    compressed: bool = False  # COMPRESS=DEFLATE is active (RFC 4978)
    plaintext_allowed: bool = False  # passwords accepted without TLS (loopback in development)
    state: State = State.NOT_AUTHENTICATED
    account: Account | None = None
    selected: SelectedView | None = None
    enabled: set[str] = field(default_factory=set)  # upper-cased: IMAP4REV2, UTF8=ACCEPT, CONDSTORE...

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def utf8(self) -> bool:
        """Mailbox names and quoted strings may be UTF-8 (RFC 6855 / IMAP4rev2)."""
        return "UTF8=ACCEPT" in self.enabled or self.rev2

    @property
    def may_login(self) -> bool:
        return self.secure or self.plaintext_allowed


class CommandError(Exception):
    """Raised by a handler to end the command with NO (or BAD) and an optional response code."""

    def __init__(self, text: str, code: str | None = None, status: str = "NO") -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.status = status


@dataclass(slots=True)
class Completion:
    status: str  # OK, NO, BAD
    text: str
    code: str | None = None


class CommandContext:
    """Handed to a handler for one command: the app, the session state and the output."""

    def __init__(
        self,
        app: App,
        session: SessionState,
        command: ast.Command,
        *,
        select: Callable[[SelectedView | None], None],
        drain: Callable[[], Awaitable[None]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.session = session
        self.command = command
        self.tag = command.tag
        self.output: list[bytes] = []
        self.completion: Completion | None = None
        self.extra = extra if extra is not None else {}  # session services for its own handlers
        self._select = select
        self._drain = drain

    @property
    def account(self) -> Account:
        """The logged-in account (handlers registered for AUTHENTICATED/SELECTED only)."""
        assert self.session.account is not None
        return self.session.account

    def untagged(self, data: bytes) -> None:
        self.output.append(responses.untagged(data))

    def raw(self, data: bytes) -> None:
        """Bytes as they are (continuation requests, already framed lines)."""
        self.output.append(data)

    def ok(self, text: str = "", code: str | None = None) -> None:
        self.completion = Completion("OK", text or f"{self.command.name} completed", code)

    def no(self, text: str, code: str | None = None) -> None:
        self.completion = Completion("NO", text, code)

    def bad(self, text: str, code: str | None = None) -> None:
        self.completion = Completion("BAD", text, code)

    def select(self, view: SelectedView | None) -> None:
        """Enter the selected state with `view`, or leave it with None."""
        self._select(view)

    def mailbox(self, name: str) -> bytes:
        return responses.mailbox(name, utf8=self.session.utf8)

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain()


Handler = Callable[[CommandContext, Any], Awaitable[None]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Registration:
    handler: Handler
    states: frozenset[State]


HANDLERS: dict[type[ast.Command], Registration] = {}


def command(kind: type[ast.Command], states: frozenset[State]) -> Callable[[H], H]:
    """Register `handler` for commands of class `kind`, valid in `states`."""

    def register(handler: H) -> H:
        if kind in HANDLERS:
            raise RuntimeError(f"two handlers for {kind.__name__}")
        HANDLERS[kind] = Registration(handler, states)
        return handler

    return register


_loaded = False


def load() -> dict[type[ast.Command], Registration]:
    """Import every handler module of this package (once) and return the registry."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return HANDLERS
