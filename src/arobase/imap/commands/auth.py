"""LOGIN and AUTHENTICATE PLAIN (with SASL-IR): passwords only over TLS, failures throttled.

Failures are counted in the throttle shared with SMTP and POP3 (per client IP and per login);
a locked-out client gets NO [UNAVAILABLE] without its password being checked, and a failing one
waits the growing delay before its NO. The argon2 check runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from ...smtp import sasl
from ..wire import ast
from . import NOT_AUTHENTICATED, CommandContext, CommandError, command


async def login_with(ctx: CommandContext, user: str, password: str) -> None:
    """Check the credentials, enter the authenticated state, answer OK with the capabilities."""
    state = ctx.session
    if not state.may_login:
        raise CommandError("Log in after STARTTLS", "PRIVACYREQUIRED")
    app = ctx.app
    ip = state.peer_ip
    if app.throttle.locked_for(ip, user) > 0:
        raise CommandError("Too many failed logins, try again later", "UNAVAILABLE")
    account = await asyncio.to_thread(app.accounts.authenticate, user, password)
    if account is None:
        delay = app.throttle.login_failed(ip, user, service="imap")
        if delay:
            await asyncio.sleep(delay)
        raise CommandError("Invalid credentials", "AUTHENTICATIONFAILED")
    app.throttle.login_succeeded(ip, user)
    session = ctx.extra["session"]
    refused = session.logged_in(account)
    if refused:
        raise CommandError(refused, "LIMIT")
    ctx.ok("Logged in", session.capability_code())


@command(ast.Login, NOT_AUTHENTICATED)
async def login(ctx: CommandContext, cmd: ast.Login) -> None:
    await login_with(ctx, cmd.user, cmd.password)


@command(ast.Authenticate, NOT_AUTHENTICATED)
async def authenticate(ctx: CommandContext, cmd: ast.Authenticate) -> None:
    if cmd.mechanism != "PLAIN":
        raise CommandError(f"Unsupported mechanism {cmd.mechanism[:40]}", "CANNOT")
    if not ctx.session.may_login:
        raise CommandError("Authenticate after STARTTLS", "PRIVACYREQUIRED")
    if cmd.initial is not None:
        await _plain(ctx, cmd.initial)
        return
    ctx.raw(b"+ \r\n")
    ctx.extra["session"].wait_for_line(ctx, _response)


async def _response(ctx: CommandContext, line: bytes) -> None:
    text = line.strip()
    if text == b"*":
        raise CommandError("Authentication cancelled", None, "BAD")
    try:
        message = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise CommandError("Invalid base64", None, "BAD") from None
    await _plain(ctx, message)


async def _plain(ctx: CommandContext, message: bytes) -> None:
    credentials = sasl.decode_plain(message)
    if not isinstance(credentials, sasl.Credentials):
        raise CommandError("Invalid PLAIN response", "AUTHENTICATIONFAILED")
    await login_with(ctx, credentials.login, credentials.password)
