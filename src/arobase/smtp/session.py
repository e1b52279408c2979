"""One SMTP connection: aiosmtpd's asyncio protocol underneath, Arobase's rules on top.

We subclass `aiosmtpd.smtp.SMTP` for its connection plumbing (StreamReaderProtocol wiring,
session/envelope lifecycle, the idle timer, connection loss handling) and replace its command loop
and command handlers, because its stock behaviour cannot meet our rules:

- its DATA reader accepts bare LF and bare CR inside lines (smuggling), so DATA goes through our
  sans-I/O `wire.DataReader`;
- its replies carry no enhanced status codes, it only counts unknown commands (not all errors) and
  never answers 421, its command-size limits live in a class-level dict that grows at every EHLO,
  and address parsing uses the lenient `email` header parser: the loop and MAIL/RCPT are ours,
  with `wire.parse_command` and `addressing.parse_path`;
- AUTH checks `_tls_protocol`, which is unset on implicit TLS (port 465), and calls the password
  check synchronously on the event loop (argon2 takes tens of milliseconds), with no throttling;
- STARTTLS uses `asyncio.sslproto` internals; we use the public `StreamWriter.start_tls`, which
  also works on uvloop, and discard anything pipelined after STARTTLS (RFC 3207 section 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import ipaddress
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from ..addressing import AddressError, EmailAddress, has_relay_tricks, parse_path
from ..app import App
from ..config import Config
from ..services.delivery import MAX_HOPS, Origin, hop_count
from ..services.mailauth import authenticate, strip_forged_results
from ..store import Account, QuotaExceeded
from ..tls import describe
from . import replies, sasl, wire
from .replies import Reply

log = logging.getLogger("arobase.smtp")
logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO

READ_LIMIT = 65536  # bytes read at once, and the longest line kept; wire.py enforces the RFC limits
TOO_MANY_HOPS = Reply(554, "5.4.6", "Too many hops, probably a mail loop")
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections from your address, try again later")


class Mode(enum.Enum):
    MX = "mx"
    SUBMISSION = "submission"
    SUBMISSIONS = "submissions"

    @property
    def implicit_tls(self) -> bool:
        return self is Mode.SUBMISSIONS


@dataclass(slots=True)
class Connections:
    """Open connections per client IP, shared by the MX and submission listeners."""

    per_ip: int
    by_ip: Counter[str] = field(default_factory=Counter)

    def open(self, ip: str) -> bool:
        if self.by_ip[ip] >= self.per_ip:
            return False
        self.by_ip[ip] += 1
        return True

    def close(self, ip: str) -> None:
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode
    hostname: str
    max_size: int
    max_recipients: int
    command_timeout: float
    data_timeout: float
    max_errors: int
    plaintext_auth_on_loopback: bool

    @classmethod
    def from_config(cls, config: Config, mode: Mode) -> Settings:
        return cls(
            mode=mode,
            hostname=config.server.hostname,
            max_size=config.smtp.max_message_size,
            max_recipients=config.smtp.max_recipients,
            command_timeout=float(config.smtp.command_timeout),
            data_timeout=float(config.smtp.data_timeout),
            max_errors=config.smtp.max_errors,
            plaintext_auth_on_loopback=config.auth.allow_plaintext_on_loopback,
        )


class ConnectionState(Session):
    """aiosmtpd's Session plus what our rules need to know about the connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.helo = ""
        self.esmtp = False
        self.tls = ""  # tls.describe() once TLS is up
        self.account: Account | None = None
        self.errors = 0

    def forget(self) -> None:
        """What STARTTLS resets: the greeting and any authentication."""
        self.helo, self.esmtp, self.account = "", False, None

    @property
    def client_ip(self) -> str:
        peer = self.peer
        return str(peer[0]) if isinstance(peer, tuple) else "unknown"


class Transaction(Envelope):
    """One MAIL ... DATA transaction; aiosmtpd's Envelope plus our resolved recipients."""

    def __init__(self) -> None:
        super().__init__()
        self.sender: str | None = None  # None before MAIL, "" for the null sender
        self.eight_bit = False
        self.declared_size = 0
        self.accounts: dict[int, Account] = {}
        self.remote: list[str] = []
        self.recipients: list[str] = []
        self.attempts = 0  # RCPT commands seen, accepted or not


@dataclass(slots=True)
class _Reading:
    """Bytes the session has read for a command: either a line or the reply refusing it."""

    line: bytes = b""
    refused: Reply | None = None


class SMTPSession(SMTP):
    line_length_limit = READ_LIMIT  # aiosmtpd sizes its StreamReader (flow control) with it

    def __init__(self, app: App, settings: Settings, connections: Connections) -> None:
        super().__init__(
            None,
            hostname=settings.hostname,
            ident="Arobase",
            timeout=settings.command_timeout,
            enable_SMTPUTF8=True,
            data_size_limit=settings.max_size,
        )
        self.app = app
        self.settings = settings
        self.tls_context: ssl.SSLContext = app.tls.server_context()
        self._buffer = bytearray()  # read from the client, not consumed yet
        self._connections = connections
        self._counted = False  # whether this connection holds a place in `connections`
        self._commands: dict[str, Callable[[str], Awaitable[Reply | None]]] = {
            "EHLO": self._ehlo,
            "HELO": self._helo,
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": self._data,
            "RSET": self._rset,
            "NOOP": self._noop,
            "QUIT": self._quit,
            "VRFY": self._vrfy,
            "HELP": self._help,
            "STARTTLS": self._starttls,
            "AUTH": self._auth,
        }

    # -- aiosmtpd hooks --------------------------------------------------------------------

    def _create_session(self) -> ConnectionState:
        return ConnectionState(self.loop)

    def _create_envelope(self) -> Transaction:
        return Transaction()

    # Plain casts, not asserts: aiosmtpd's __init__ reads every attribute (inspect.getmembers)
    # before the session exists.
    @property
    def state(self) -> ConnectionState:
        return cast(ConnectionState, self.session)

    @property
    def tx(self) -> Transaction:
        return cast(Transaction, self.envelope)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._counted = self._connections.open(self.state.client_ip)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # implicit TLS: the handshake is already done
            self.state.tls = describe(ssl_object)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._connections.close(self.state.client_ip)
            self._counted = False
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        """Let the command loop finish what is buffered (pipelined commands) instead of cancelling it."""
        return asyncio.StreamReaderProtocol.eof_received(self)

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            log.info("%s: timeout", self.state.client_ip)
            with contextlib.suppress(Exception):
                self.transport.write(replies.TIMEOUT.render())  # type: ignore[attr-defined]
            self.transport.close()

    # -- the command loop ------------------------------------------------------------------

    async def _handle_client(self) -> None:
        state = self.state
        try:
            if not self._counted:
                log.info("%s: too many connections", state.client_ip)
                await self._send(TOO_MANY_CONNECTIONS)
                self._close()
                return
            await self._send(Reply(220, "", f"{self.settings.hostname} ESMTP Arobase"))
            while self.transport is not None and not self.transport.is_closing():
                reading = await self._read_line()
                if reading.refused is not None:
                    reply: Reply | None = reading.refused
                else:
                    command = wire.parse_command(reading.line)
                    if isinstance(command, Reply):
                        reply = command
                    else:
                        handler = self._commands.get(command.verb)
                        if handler is None:
                            reply = replies.NOT_IMPLEMENTED if command.verb in _KNOWN else replies.UNKNOWN_COMMAND
                        else:
                            reply = await handler(command.arg)
                if reply is None:
                    continue
                await self._send(reply)
                self._reset_timeout()
                if reply.is_error and reply.code != 421:
                    state.errors += 1
                    if state.errors >= self.settings.max_errors:
                        log.info("%s: too many errors, closing", state.client_ip)
                        await self._send(replies.TOO_MANY_ERRORS)
                        self._close()
                if reply.code == 421 or reply is replies.BYE:
                    self._close()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as e:
            log.debug("%s: connection ended: %r", state.client_ip, e)
            self._close()
        except asyncio.CancelledError:
            self._close()
            raise
        except Exception:
            log.exception("%s: error in SMTP session", state.client_ip)
            with contextlib.suppress(Exception):
                await self._send(replies.TEMPORARY_FAILURE)
            self._close()

    async def _read_line(self) -> _Reading:
        """One line up to LF from our buffer; a line longer than READ_LIMIT is drained and refused."""
        buffer = self._buffer
        searched = 0
        while True:
            nl = buffer.find(b"\n", searched)
            if nl != -1:
                line = bytes(buffer[: nl + 1])
                del buffer[: nl + 1]
                return _Reading(line)
            if len(buffer) > READ_LIMIT:
                buffer.clear()
                while (nl := buffer.find(b"\n")) == -1:
                    buffer.clear()
                    await self._fill()
                del buffer[: nl + 1]
                return _Reading(refused=replies.LINE_TOO_LONG)
            searched = len(buffer)
            await self._fill()

    async def _fill(self) -> None:
        data = await self._reader.read(READ_LIMIT)
        if not data:
            raise asyncio.IncompleteReadError(bytes(self._buffer), None)
        self._buffer += data

    async def _send(self, reply: Reply) -> None:
        self._writer.write(reply.render())
        await self._writer.drain()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _reset(self) -> None:
        self.envelope = self._create_envelope()

    # -- session commands ------------------------------------------------------------------

    async def _ehlo(self, arg: str) -> Reply:
        if not arg:
            return Reply(501, "5.5.4", "EHLO needs your domain name")
        self._reset()
        self.state.helo, self.state.esmtp = arg.split(" ")[0], True
        lines = [
            f"{self.settings.hostname} greets {_printable(self.state.helo)}",
            "PIPELINING",
            f"SIZE {self.settings.max_size}",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
        ]
        if self._starttls_offered():
            lines.append("STARTTLS")
        if self._auth_offered():
            lines.append("AUTH " + " ".join(sasl.MECHANISMS))
        return Reply(250, "", "\n".join(lines))

    async def _helo(self, arg: str) -> Reply:
        if not arg:
            return Reply(501, "5.5.4", "HELO needs your domain name")
        self._reset()
        self.state.helo, self.state.esmtp = arg.split(" ")[0], False
        return Reply(250, "", self.settings.hostname)

    async def _rset(self, arg: str) -> Reply:
        if arg:
            return replies.ARGUMENT_SYNTAX
        self._reset()
        return replies.RESET

    async def _noop(self, arg: str) -> Reply:
        return replies.OK

    async def _quit(self, arg: str) -> Reply:
        return replies.BYE

    async def _vrfy(self, arg: str) -> Reply:
        return replies.VRFY if arg else replies.ARGUMENT_SYNTAX

    async def _help(self, arg: str) -> Reply:
        return replies.HELP

    def _starttls_offered(self) -> bool:
        return not self.settings.mode.implicit_tls and not self.state.tls

    def _auth_offered(self) -> bool:
        if self.settings.mode is Mode.MX:
            return False
        return bool(self.state.tls) or (self.settings.plaintext_auth_on_loopback and self._loopback())

    def _loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.state.client_ip).is_loopback
        except ValueError:
            return False

    async def _starttls(self, arg: str) -> Reply | None:
        if arg:
            return replies.ARGUMENT_SYNTAX
        if not self._starttls_offered():
            return replies.TLS_ALREADY
        self._buffer.clear()  # nothing pipelined in plaintext may survive (RFC 3207 5)
        self._reader._buffer.clear()  # type: ignore[attr-defined]
        await self._send(replies.START_TLS)
        plain = self.transport
        try:
            await self._writer.start_tls(self.tls_context, ssl_handshake_timeout=self.settings.command_timeout)
        except (TimeoutError, OSError) as e:
            log.info("%s: TLS handshake failed: %s", self.state.client_ip, e)
            self._close()
            if plain is not None:
                plain.close()
            return None
        self._original_transport = plain  # aiosmtpd's connection_lost closes it
        self.transport = self._writer.transport
        self._reader._transport = self.transport  # type: ignore[attr-defined]  # flow control on the TLS layer
        self.state.forget()  # RFC 3207 4.2: nothing said before TLS counts (the error count does)
        self.state.tls = describe(self.transport.get_extra_info("ssl_object"))
        self._reset()
        return None

    # -- AUTH ------------------------------------------------------------------------------

    async def _auth(self, arg: str) -> Reply:
        state = self.state
        if self.settings.mode is Mode.MX:
            return replies.AUTH_NOT_OFFERED
        if not state.esmtp:
            return replies.NEED_EHLO
        if not self._auth_offered():
            return replies.ENCRYPTION_REQUIRED
        if state.account is not None:
            return replies.AUTH_ALREADY
        if self.tx.sender is not None:
            return replies.BAD_SEQUENCE
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if mechanism not in sasl.MECHANISMS:
            return replies.AUTH_MECHANISM
        throttle, ip = self.app.throttle, state.client_ip
        if throttle.locked_for(ip) > 0:
            return replies.AUTH_LOCKED
        credentials = await (self._plain(initial) if mechanism == "PLAIN" else self._login(initial))
        if credentials is replies.AUTH_INVALID:
            credentials = sasl.Credentials("")
        if isinstance(credentials, Reply):
            return credentials
        login = credentials.login or None
        if throttle.locked_for(ip, login) > 0:
            return replies.AUTH_LOCKED
        account = None
        if login is not None:
            account = await asyncio.to_thread(self.app.accounts.authenticate, login, credentials.password)
        if account is None:
            delay = throttle.login_failed(ip, login, service="smtp")
            log.info("%s: AUTH %s failed for %r", ip, mechanism, credentials.login)
            if delay:
                await asyncio.sleep(delay)
            return replies.AUTH_INVALID
        throttle.login_succeeded(ip, credentials.login)
        state.account = account
        log.info("%s: authenticated as %s", ip, account.address)
        return replies.AUTH_OK

    async def _plain(self, initial: str) -> sasl.Credentials | Reply:
        response = sasl.decode_response(initial) if initial else await self._challenge("")
        return response if isinstance(response, Reply) else sasl.decode_plain(response)

    async def _login(self, initial: str) -> sasl.Credentials | Reply:
        response = sasl.decode_response(initial) if initial else await self._challenge(sasl.LOGIN_USERNAME)
        if isinstance(response, Reply):
            return response
        login = sasl.decode_text(response)
        if isinstance(login, Reply):
            return login
        response = await self._challenge(sasl.LOGIN_PASSWORD)
        if isinstance(response, Reply):
            return response
        password = sasl.decode_text(response)
        return password if isinstance(password, Reply) else sasl.Credentials(login, password)

    async def _challenge(self, text: str) -> bytes | Reply:
        await self._send(Reply(334, "", text))
        reading = await self._read_line()
        if reading.refused is not None:
            return reading.refused
        if len(reading.line) > wire.AUTH_LINE_LIMIT:
            return replies.LINE_TOO_LONG
        try:
            return sasl.decode_response(reading.line.decode("ascii"))
        except UnicodeDecodeError:
            return replies.AUTH_BAD_BASE64

    # -- the transaction -------------------------------------------------------------------

    async def _mail(self, arg: str) -> Reply:
        state, tx = self.state, self.tx
        if not state.helo:
            return replies.NEED_EHLO
        if tx.sender is not None:
            return replies.NESTED_MAIL
        if self.settings.mode is not Mode.MX and state.account is None:
            return replies.AUTH_REQUIRED
        argument = wire.parse_path_argument(arg, "FROM:")
        if isinstance(argument, Reply):
            return argument
        if argument.params and not state.esmtp:
            return replies.ARGUMENT_SYNTAX
        eight_bit = smtputf8 = False
        declared = 0
        for name, value in argument.params.items():
            if name == "SIZE":
                if value is None or not value.isdigit() or len(value) > 20:
                    return replies.ARGUMENT_SYNTAX
                declared = int(value)
                if declared > self.settings.max_size:
                    return replies.TOO_BIG
            elif name == "BODY":
                if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                    return replies.PARAMETER_UNKNOWN
                eight_bit = value.upper() == "8BITMIME"
            elif name == "SMTPUTF8":
                if value is not None:
                    return replies.ARGUMENT_SYNTAX
                smtputf8 = True
            elif name != "AUTH":  # RFC 4954 5: AUTH= may be ignored
                return replies.PARAMETER_UNKNOWN
        try:
            address = _parse_path(argument.path)
        except AddressError:
            return replies.BAD_ADDRESS
        if not smtputf8 and not argument.path.isascii():
            return replies.UTF8_ADDRESS_NEEDS_SMTPUTF8
        if state.account is not None:
            if address is None or not self.app.delivery.owns(state.account, address):
                return replies.SENDER_NOT_OWNED
            if not self.app.throttle.message_allowed(state.account.id):
                log.info("%s: %s over the hourly message limit", state.client_ip, state.account.address)
                return replies.MESSAGE_RATE
        tx.sender = "" if address is None else str(address)
        tx.eight_bit = eight_bit or smtputf8
        tx.smtp_utf8 = smtputf8
        tx.declared_size = declared
        return replies.SENDER_OK

    async def _rcpt(self, arg: str) -> Reply:
        state, tx = self.state, self.tx
        if not state.helo:
            return replies.NEED_EHLO
        if tx.sender is None:
            return replies.NEED_MAIL
        argument = wire.parse_path_argument(arg, "TO:")
        if isinstance(argument, Reply):
            return argument
        if argument.params:
            return replies.PARAMETER_UNKNOWN if state.esmtp else replies.ARGUMENT_SYNTAX
        tx.attempts += 1
        try:
            address = self._postmaster(argument.path) or _parse_path(argument.path)
        except AddressError:
            return replies.BAD_ADDRESS
        if address is None:
            return replies.BAD_ADDRESS
        if not tx.smtp_utf8 and not argument.path.isascii():
            return replies.UTF8_ADDRESS_NEEDS_SMTPUTF8
        if len(tx.recipients) >= self.settings.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        route = self.app.delivery.route(address)
        if not route.local_domain:
            if state.account is None:
                log.info("%s: relay to <%s> denied", state.client_ip, address)
                return replies.RELAY_DENIED
        elif has_relay_tricks(address):
            log.info("%s: relay trick <%s> refused", state.client_ip, address)
            return replies.RELAY_DENIED
        elif not route.exists:
            return replies.NO_SUCH_USER
        for account in route.accounts:
            full = account.message_quota and account.messages >= account.message_quota
            if full or (account.quota and account.used + max(tx.declared_size, 1) > account.quota):
                log.info("%s: %s is over quota", state.client_ip, account.address)
                return replies.OVER_QUOTA
        if state.account is not None and not self.app.throttle.recipients_allowed(
            state.account.id, len(tx.recipients) + 1
        ):
            log.info("%s: %s over the daily recipient limit", state.client_ip, state.account.address)
            return replies.RECIPIENT_RATE
        tx.recipients.append(str(address))
        for account in route.accounts:
            tx.accounts[account.id] = account
        tx.remote += [remote for remote in route.remote if remote not in tx.remote]
        return replies.RECIPIENT_OK

    def _postmaster(self, path: str) -> EmailAddress | None:
        """`RCPT TO:<Postmaster>` with no domain, which RFC 5321 (4.1.1.3) says must be accepted."""
        if path.strip().lower() != "<postmaster>":
            return None
        domain = self.app.accounts.postmaster_domain(self.app.config.server.hostname)
        return EmailAddress("postmaster", domain) if domain else None

    async def _data(self, arg: str) -> Reply:
        state, tx = self.state, self.tx
        if not state.helo:
            return replies.NEED_EHLO
        if tx.sender is None:
            return replies.NEED_MAIL
        if not tx.recipients:
            return replies.NO_VALID_RECIPIENTS if tx.attempts else replies.NEED_RCPT
        if arg:
            return replies.ARGUMENT_SYNTAX
        await self._send(replies.START_DATA)
        reader = wire.DataReader(self.settings.max_size, eight_bit=tx.eight_bit)
        pending = bytes(self._buffer)  # pipelined after DATA: already the message
        self._buffer.clear()
        while True:
            after = reader.feed(pending)
            if reader.done:
                self._buffer += after  # pipelined after the end of data: the next commands
                break
            self._reset_timeout(self.settings.data_timeout)
            pending = await self._reader.read(READ_LIMIT)
            if not pending:
                raise asyncio.IncompleteReadError(b"", None)
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()  # our own work (DNS, fsync) is not the client's slowness
        try:
            problem = reader.problem
            if problem is not None:
                log.info("%s: message refused: %s (%d bytes)", state.client_ip, problem.name, reader.size)
                return problem.reply
            return await self._accept(reader.content())
        finally:
            self._reset()

    async def _accept(self, content: bytes) -> Reply:
        """Checks that need the whole message, then durable delivery; the reply waits for the fsync."""
        state, tx = self.state, self.tx
        app = self.app
        if hop_count(content) >= MAX_HOPS:
            return TOO_MANY_HOPS
        prepend = b""
        results = None
        if self.settings.mode is Mode.MX:
            try:
                results = await authenticate(
                    content,
                    client_ip=state.client_ip,
                    helo=state.helo,
                    mail_from=tx.sender or "",
                    resolver=app.resolver,
                    authserv_id=self.settings.hostname,
                )
            except Exception:
                log.exception("%s: SPF/DKIM/DMARC checks failed", state.client_ip)
                return replies.AUTH_TEMPORARY
            prepend = results.header().encode("utf-8")
            content = strip_forged_results(content, self.settings.hostname)
        else:
            assert state.account is not None
            unowned = app.delivery.unowned_authors(state.account, content)
            if unowned is None:
                return replies.NO_FROM
            if unowned:
                log.info("%s: %s may not send as %s", state.client_ip, state.account.address, ", ".join(unowned))
                return replies.FROM_NOT_OWNED
            content = app.delivery.complete_submission(content)
        try:  # protection (spam, phishing, attachments): see filters/pipeline.py
            filtered = await app.filters.screen(
                content,
                state.account,
                list(tx.accounts.values()),
                tx.sender or "",
                state.client_ip,
                state.helo,
                results,
                tx.recipients,
            )
        except Exception:
            log.exception("%s: filtering failed", state.client_ip)
            return replies.TEMPORARY_FAILURE
        if filtered.reject:
            log.info("%s: refused by the filters: %s", state.client_ip, filtered.reject)
            return Reply(550, "5.7.1", filtered.reject)
        content, prepend = filtered.content, prepend + filtered.prepend
        app.filters.expect(filtered)
        origin = Origin(
            client_ip=state.client_ip,
            helo=state.helo,
            protocol=self._protocol_name(),
            tls=state.tls,
            login=state.account.address if state.account else "",
        )
        # Shielded: once the store has the message, a vanished client must not cancel the commit.
        delivery = asyncio.ensure_future(
            app.delivery.deliver(
                content,
                sender=tx.sender or "",
                accounts=list(tx.accounts.values()),
                remote=tx.remote,
                origin=origin,
                recipients=tx.recipients,
                sender_account=state.account.id if state.account else None,
                prepend=prepend,
                mailboxes=filtered.mailboxes,
                parsed=filtered.parsed,
            )
        )
        delivery.add_done_callback(_consume_exception)
        try:
            delivered = await asyncio.shield(delivery)
        except QuotaExceeded:
            app.filters.unexpect(filtered)
            return replies.OVER_QUOTA
        except Exception:
            app.filters.unexpect(filtered)
            log.exception("%s: delivery failed", state.client_ip)
            return replies.TEMPORARY_FAILURE
        await app.filters.record(filtered, delivered.blob, list(tx.accounts.values()))
        if state.account is not None:
            app.throttle.record_message(state.account.id, len(tx.recipients))
        return Reply(250, "2.0.0", f"Message accepted as {delivered.id}")

    def _protocol_name(self) -> str:
        """The Received "with" keyword (RFC 3848, RFC 6531)."""
        if not self.state.esmtp:
            return "SMTP"
        name = "UTF8SMTP" if self.tx.smtp_utf8 else "ESMTP"
        if self.state.tls:
            name += "S"
        if self.state.account is not None:
            name += "A"
        return name


@functools.lru_cache(maxsize=4096)
def _parse_path(text: str) -> EmailAddress | None:
    """addressing.parse_path, remembered: senders and recipients repeat, and IDNA checks cost ~0.1 ms.

    Safe to cache because EmailAddress is immutable; refusals (AddressError) are not cached.
    """
    return parse_path(text)


_KNOWN = frozenset({"EXPN", "TURN", "ETRN", "ATRN", "BDAT", "SEND", "SOML", "SAML", "VERB"})


def _consume_exception(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)[:100]
