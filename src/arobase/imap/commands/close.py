"""CLOSE (expunge silently, then leave) and UNSELECT (just leave): RFC 9051 6.4.2, 6.4.3."""

from __future__ import annotations

from ..view import selected_view
from ..wire import ast
from . import SELECTED, CommandContext, command


@command(ast.Close, SELECTED)
async def close(ctx: CommandContext, cmd: ast.Close) -> None:
    """No EXPUNGE responses are sent: the session leaves the selected state before its tagged OK."""
    view = selected_view(ctx)
    if not cmd.unselect and not view.readonly:
        await ctx.app.store.expunge(view.mailbox_id)
    view.close()
    ctx.select(None)
