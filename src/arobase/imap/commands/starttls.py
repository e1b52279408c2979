"""STARTTLS (RFC 9051 section 6.2.1): OK, then the transport upgrades the connection.

Anything the client pipelined after STARTTLS is discarded (it was sent in clear and could be an
injection). After the handshake the client must ask CAPABILITY again; nothing is remembered.
"""

from __future__ import annotations

from ..wire import ast
from . import NOT_AUTHENTICATED, CommandContext, CommandError, command


@command(ast.StartTLS, NOT_AUTHENTICATED)
async def starttls(ctx: CommandContext, cmd: ast.StartTLS) -> None:
    from ..session import Request

    session = ctx.extra["session"]
    if ctx.session.secure or not session.starttls_available:
        text = "TLS is already active" if ctx.session.secure else "STARTTLS is not offered here"
        raise CommandError(text, None, "BAD")
    ctx.ok("Begin TLS negotiation now")
    session.request(Request.START_TLS)
