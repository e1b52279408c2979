"""NOOP and CHECK: nothing to do; the session sends the pending mailbox updates before the OK."""

from __future__ import annotations

from ..wire import ast
from . import ANY, SELECTED, CommandContext, command


@command(ast.Noop, ANY)
async def noop(ctx: CommandContext, cmd: ast.Noop) -> None:
    ctx.ok("NOOP completed")


@command(ast.Check, SELECTED)
async def check(ctx: CommandContext, cmd: ast.Check) -> None:
    ctx.ok("CHECK completed (every change is already durable)")
