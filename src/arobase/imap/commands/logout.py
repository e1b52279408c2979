"""LOGOUT: BYE, then the tagged OK, then the transport closes the connection."""

from __future__ import annotations

from ..wire import ast
from . import ANY, CommandContext, command


@command(ast.Logout, ANY)
async def logout(ctx: CommandContext, cmd: ast.Logout) -> None:
    from ..session import Request

    ctx.untagged(b"BYE Arobase logging out")
    ctx.ok("LOGOUT completed")
    session = ctx.extra["session"]
    session.request(Request.CLOSE)
