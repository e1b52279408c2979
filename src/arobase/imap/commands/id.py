"""ID (RFC 2971): the client's identity is logged; ours says the name and nothing exploitable."""

from __future__ import annotations

import logging

from ..wire import ast, responses
from . import ANY, CommandContext, command

log = logging.getLogger("arobase.imap")


@command(ast.Id, ANY)
async def id_(ctx: CommandContext, cmd: ast.Id) -> None:
    if cmd.parameters:
        log.debug("client %s says ID %s", ctx.session.peer_ip, dict(cmd.parameters))
    fields = [b"name", b"Arobase", b"vendor", b"Arobase"]
    ctx.untagged(b"ID (" + b" ".join(responses.string(f) for f in fields) + b")")
