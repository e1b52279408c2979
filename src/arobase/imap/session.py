"""One IMAP connection as a sans-I/O state machine: bytes in, bytes out, requests for the transport.

The transport (`server.py`, or a test) calls `receive(data)`, then `await process()`, which runs
every complete command through the parser and its handler (handlers await the store, never the
network), then sends `data_to_send()`. What the session needs from the network is asked through
`requests`: START_TLS (after the OK of STARTTLS is sent) and CLOSE. Changes of the account
arrive from the store's change feed through `on_change`, which during IDLE (or, once NOTIFY SET
is in force, whenever no command is running) produces output at once and calls `notify` so the
transport sends it.

States follow RFC 9051 section 3: not authenticated -> authenticated <-> selected -> logout.
`ENABLE IMAP4rev2` switches to rev2 behaviour, `ENABLE UTF8=ACCEPT` (or rev2) to UTF-8 names.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..app import App
from ..store import Account, AlreadyExists, Change, InvalidOperation, NotFound, QuotaExceeded, StoreError
from . import commands
from .commands import CommandContext, CommandError, SelectedView, SessionState, State
from .commands.notify import Notifier, new_message_fetches
from .view import MailboxView
from .wire import ast, responses
from .wire.parser import ParseError, parse, tag_of
from .wire.receiver import CommandBytes, ContinuationNeeded, Line, LineTooLong, Receiver, TooBig

log = logging.getLogger("arobase.imap")


class Request(enum.Enum):
    START_TLS = "start-tls"
    COMPRESS = "compress"  # after the OK of COMPRESS, both directions become raw deflate
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection limits; `append` is also announced as APPENDLIMIT."""

    line: int = 65536
    literal: int = 65536  # a literal outside APPEND (search strings, names)
    append: int = 50 * 1024 * 1024
    errors: int = 20  # BAD answers before the connection is closed
    idle_timeout: float = 30 * 60.0


LineCallback = Callable[[CommandContext, bytes], Awaitable[None]]
LoginHook = Callable[[Account], str | None]  # None to accept, or why the login is refused

_SEQUENCE_COMMANDS = (ast.Fetch, ast.Store, ast.Search, ast.Sort, ast.Thread)
_STORE_ERRORS: list[tuple[type[StoreError], str]] = [
    (NotFound, "NONEXISTENT"),
    (AlreadyExists, "ALREADYEXISTS"),
    (QuotaExceeded, "OVERQUOTA"),
    (InvalidOperation, "CANNOT"),
]


class Session:
    def __init__(
        self,
        app: App,
        *,
        peer_ip: str = "",
        secure: bool = False,
        plaintext_allowed: bool = False,
        starttls_available: bool = True,
        limits: Limits | None = None,
        login_hook: LoginHook | None = None,
        notify: Callable[[], None] | None = None,
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.state = SessionState(peer_ip=peer_ip, secure=secure, plaintext_allowed=plaintext_allowed)
        self.starttls_available = starttls_available
        self.receiver = self._new_receiver()
        self.requests: list[Request] = []
        self.login_hook = login_hook
        self.notify = notify
        self.drain = drain
        self.handlers = commands.load()
        self.errors = 0
        self.idling: CommandContext | None = None
        self.notifier: Notifier | None = None  # NOTIFY SET in force (RFC 5465)
        self._running = False  # a command is being answered: NOTIFY output waits for its end
        self._notices: list[bytes] = []  # NOTIFY responses of other mailboxes, not yet sent
        self._out: list[bytes] = []
        self._waiting: tuple[CommandContext, LineCallback] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._out.append(responses.status_line("OK", "Arobase IMAP ready", self.capability_code()))

    # -- transport side ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state.state is State.LOGOUT

    def receive(self, data: bytes) -> None:
        self.receiver.feed(data)

    def data_to_send(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data

    def compression_started(self) -> bytes:
        """The transport now deflates: returns what the client sent after COMPRESS (to inflate and feed)."""
        self.state.compressed = True
        return self.receiver.take_unconsumed()

    def tls_started(self) -> None:
        """The transport finished the TLS handshake requested by STARTTLS."""
        self.state.secure = True

    def close(self) -> None:
        """The connection is gone: stop listening to the change feed."""
        self.state.state = State.LOGOUT
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def bye(self, text: str) -> None:
        """End the session from the server side (timeout, shutdown)."""
        self._out.append(responses.status_line("BYE", text))
        self._request_close()

    async def process(self) -> None:
        """Handle every complete event received so far (stops early for STARTTLS, COMPRESS or a close)."""
        while not self.closed and Request.START_TLS not in self.requests and Request.COMPRESS not in self.requests:
            event = self.receiver.next_event()
            if event is None:
                return
            if isinstance(event, ContinuationNeeded):
                self._out.append(responses.continuation("Ready for literal data"))
            elif isinstance(event, CommandBytes):
                await self._command(event.data)
            elif isinstance(event, Line):
                await self._line(event.data)
            elif isinstance(event, LineTooLong):
                self._error(event.tag.decode("ascii", "replace") or "*", "BAD", "command line too long")
            elif isinstance(event, TooBig):
                self._too_big(event)

    # -- the change feed ---------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        view = self.state.selected
        if view is not None and change.mailbox_id == view.mailbox_id:
            view.changed(change)
        if self.notifier is not None and not self.closed:
            self._notices.extend(self.notifier.lines(change, view.mailbox_id if view is not None else None))
        if self.idling is not None:
            self.send_updates(expunges=True)
        elif self.notifier is not None and not self._running and not self.closed:
            mode = self.notifier.selected_mode
            if mode is not None:
                self.send_updates(expunges=mode == "SELECTED")
            else:
                self._send_notices()
        else:
            return
        if self._out and self.notify is not None:
            self.notify()

    # -- capabilities ------------------------------------------------------------------------

    def capabilities(self) -> list[str]:
        from .commands.capability import capabilities

        return capabilities(self)

    def capability_code(self) -> str:
        return "CAPABILITY " + " ".join(self.capabilities())

    # -- for the handlers of this package ----------------------------------------------------

    def logged_in(self, account: Account) -> str | None:
        """Enter the authenticated state, or say why not (too many connections)."""
        if self.login_hook is not None:
            refused = self.login_hook(account)
            if refused:
                return refused
        self.state.account = account
        self.state.state = State.AUTHENTICATED
        self._unsubscribe = self.app.store.feed.subscribe(account.id, self.on_change)
        return None

    def wait_for_line(self, ctx: CommandContext, callback: LineCallback) -> None:
        """The command goes on with the client's next raw line (SASL response, IDLE's DONE)."""
        self._waiting = (ctx, callback)
        self.receiver.line_mode = True

    def request(self, request: Request) -> None:
        if request is Request.CLOSE:
            self._request_close()
        elif request is Request.COMPRESS:
            self.requests.append(request)
        else:
            self.requests.append(request)
            self.receiver = self._new_receiver()  # anything pipelined after STARTTLS is dropped

    def take_requests(self) -> list[Request]:
        requests, self.requests = self.requests, []
        return requests

    # -- internals ---------------------------------------------------------------------------

    def _new_receiver(self) -> Receiver:
        return Receiver(
            max_line=self.limits.line,
            max_literal=self.limits.literal,
            max_append=self.limits.append,
            max_command=self.limits.append + self.limits.line * 4,
        )

    def _request_close(self) -> None:
        if Request.CLOSE not in self.requests:
            self.requests.append(Request.CLOSE)
        self.close()

    def _select(self, view: SelectedView | None) -> None:
        self.state.selected = view
        if self.state.state is not State.NOT_AUTHENTICATED:
            self.state.state = State.AUTHENTICATED if view is None else State.SELECTED

    async def _command(self, data: bytes) -> None:
        try:
            command = parse(data, utf8=self.state.utf8)
        except ParseError as e:
            self._error(e.tag or tag_of(data), e.status, e.text, e.code)
            return
        registration = self.handlers.get(type(command))
        if registration is None:
            self._error(command.tag, "BAD", f"{command.name} is not supported")
            return
        if self.state.state not in registration.states:
            self._error(command.tag, "BAD", f"{command.name} is not allowed in the {self.state.state.value} state")
            return
        ctx = self._context(command)
        self._running = True
        try:
            await self._run(ctx, registration.handler(ctx, command))
        finally:
            self._running = self._waiting is not None and self.idling is None

    def _context(self, command: ast.Command) -> CommandContext:
        ctx = CommandContext(
            self.app, self.state, command, select=self._select, drain=self._drain, extra={"session": self}
        )
        ctx.output = self._out
        return ctx

    async def _drain(self) -> None:
        if self.drain is not None:
            await self.drain()

    async def _run(self, ctx: CommandContext, step: Awaitable[None]) -> None:
        try:
            await step
        except CommandError as e:
            ctx.completion = commands.Completion(e.status, e.text, e.code)
        except StoreError as e:
            code = next((code for kind, code in _STORE_ERRORS if isinstance(e, kind)), "CANNOT")
            ctx.completion = commands.Completion("NO", str(e) or "refused", code)
        except Exception:
            log.exception("IMAP %s failed", ctx.command.name)
            ctx.completion = commands.Completion("NO", "internal error", "SERVERBUG")
        if self._waiting is not None and self._waiting[0] is ctx and ctx.completion is None:
            return  # the command continues with the next line
        self._waiting = None
        self.receiver.line_mode = False
        self.idling = None
        self._finish(ctx)

    async def _line(self, line: bytes) -> None:
        if self._waiting is None:
            self.receiver.line_mode = False
            return
        ctx, callback = self._waiting
        self._waiting = None
        try:
            await self._run(ctx, callback(ctx, line))
        finally:
            self._running = self._waiting is not None and self.idling is None

    def _finish(self, ctx: CommandContext) -> None:
        if self.closed and ctx.completion is None:
            return
        completion = ctx.completion or commands.Completion("OK", f"{ctx.command.name} completed")
        if not self.closed:
            command = ctx.command
            self.send_updates(expunges=not (isinstance(command, _SEQUENCE_COMMANDS) and not command.uid))  # type: ignore[attr-defined]
        if completion.status == "BAD":
            self.errors += 1
        self._out.append(responses.tagged(ctx.tag, completion.status, completion.text, completion.code))
        if self.errors >= self.limits.errors and not self.closed:
            self.bye("Too many errors")

    def send_updates(self, *, expunges: bool) -> None:
        """The selected mailbox's updates (with NOTIFY's FETCH of new messages), then NOTIFY's others."""
        view = self.state.selected
        if view is not None:
            last = view.uids.last if isinstance(view, MailboxView) else 0
            for data in view.updates(expunges=expunges):
                self._out.append(responses.untagged(data))
            if self.notifier is not None and self.notifier.fetch_attributes and isinstance(view, MailboxView):
                self._out.extend(new_message_fetches(view, self.notifier.fetch_attributes, last))
        self._send_notices()

    def _send_notices(self) -> None:
        for data in self._notices:
            self._out.append(responses.untagged(data))
        self._notices.clear()

    def _error(self, tag: str, status: str, text: str, code: str | None = None) -> None:
        self._out.append(responses.tagged(tag, status, text, code))
        if status == "BAD":
            self.errors += 1
            if self.errors >= self.limits.errors:
                self.bye("Too many errors")

    def _too_big(self, event: TooBig) -> None:
        tag = event.tag.decode("ascii", "replace") or "*"
        if event.append:
            self._out.append(responses.tagged(tag, "NO", "message too large", "TOOBIG"))
        else:
            self._error(tag, "BAD", "literal too large")
        if event.fatal:
            self.bye("Literal too large to skip")
