"""COMPRESS=DEFLATE (RFC 4978): after the tagged OK, both directions are raw deflate (RFC 1951).

The session only answers and asks the transport (`Request.COMPRESS`); `server.py` owns the
zlib streams, so compression sits outside TLS's record layer and under every command, IDLE and
literals included. Worth it on phones: IMAP's text (FETCH of headers, envelopes) shrinks 3-5x.
"""

from __future__ import annotations

from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command


@command(ast.Compress, AUTHENTICATED)
async def compress(ctx: CommandContext, cmd: ast.Compress) -> None:
    from ..session import Request

    if cmd.mechanism != "DEFLATE":
        raise CommandError(f"unknown compression mechanism {cmd.mechanism[:40]}", None, "BAD")
    if ctx.session.compressed:
        raise CommandError("DEFLATE is already active", "COMPRESSIONACTIVE")
    ctx.ok("DEFLATE active")
    ctx.extra["session"].request(Request.COMPRESS)
