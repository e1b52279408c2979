"""IDLE (RFC 2177): `+ idling`, then updates pushed by the change feed as they commit, until DONE.

Nothing polls: the session's `on_change` writes the selected mailbox's updates at once while
this command waits for its line.
"""

from __future__ import annotations

from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command


@command(ast.Idle, AUTHENTICATED)
async def idle(ctx: CommandContext, cmd: ast.Idle) -> None:
    session = ctx.extra["session"]
    session.send_updates(expunges=True)
    ctx.raw(b"+ idling\r\n")
    session.idling = ctx
    session.wait_for_line(ctx, _done)


async def _done(ctx: CommandContext, line: bytes) -> None:
    if line.strip().upper() != b"DONE":
        raise CommandError("Expected DONE", None, "BAD")
    ctx.ok("IDLE terminated")
