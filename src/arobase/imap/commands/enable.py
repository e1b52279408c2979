"""ENABLE (RFC 5161): IMAP4rev2 and UTF8=ACCEPT; unknown extensions are ignored, as required."""

from __future__ import annotations

from ..wire import ast
from . import CommandContext, State, command

SUPPORTED = {"IMAP4REV2": "IMAP4rev2", "UTF8=ACCEPT": "UTF8=ACCEPT"}


@command(ast.Enable, frozenset({State.AUTHENTICATED}))
async def enable(ctx: CommandContext, cmd: ast.Enable) -> None:
    newly = []
    for name in cmd.capabilities:
        if name in SUPPORTED and name not in ctx.session.enabled:
            ctx.session.enabled.add(name)
            newly.append(SUPPORTED[name])
    ctx.untagged(b"ENABLED" + b"".join(b" " + name.encode("ascii") for name in newly))
