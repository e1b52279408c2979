"""NAMESPACE (RFC 2342): one personal namespace, no other users' or shared ones."""

from __future__ import annotations

from ..wire import ast
from . import AUTHENTICATED, CommandContext, command


@command(ast.Namespace, AUTHENTICATED)
async def namespace(ctx: CommandContext, cmd: ast.Namespace) -> None:
    ctx.untagged(b'NAMESPACE (("" "/")) NIL NIL')
