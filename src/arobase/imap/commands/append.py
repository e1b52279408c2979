"""APPEND with MULTIAPPEND (RFC 3502), APPENDLIMIT (RFC 7889), UIDPLUS's APPENDUID (RFC 4315).

All the messages of one command are stored in one transaction, or none is. A message over the
limit is refused with NO [TOOBIG]; the receiver already refuses literals that announce it.
Messages are hashed and parsed in a thread (`put_message`), off the event loop, and that thread
queues the write too, so an APPEND costs one hop from the loop and back, plus the store's own.
"""

from __future__ import annotations

import asyncio

from ...store import InvalidOperation, Mailbox, Pending
from ..wire import ast, responses
from . import AUTHENTICATED, CommandContext, CommandError, command


def target_mailbox(ctx: CommandContext, name: str) -> Mailbox:
    """The mailbox an APPEND or REPLACE stores into; NO [TRYCREATE] when there is none to hold mail."""
    try:
        box = ctx.app.store.get_mailbox(ctx.account.id, name)
    except InvalidOperation:
        box = None
    if box is None or not box.selectable:
        raise CommandError(f"no mailbox {name}", "TRYCREATE")
    return box


def check_message(ctx: CommandContext, message: ast.AppendMessage) -> list[str]:
    """Refuse a message over APPENDLIMIT or empty; returns the flags to store (\\Recent is not the client's)."""
    if len(message.data) > ctx.extra["session"].limits.append:
        raise CommandError("message too large", "TOOBIG")
    if not message.data:
        raise CommandError("empty message", "CANNOT")
    return [flag for flag in message.flags if flag.upper() != "\\RECENT"]


@command(ast.Append, AUTHENTICATED)
async def append(ctx: CommandContext, cmd: ast.Append) -> None:
    store = ctx.app.store
    box = target_mailbox(ctx, cmd.mailbox)
    flags = [check_message(ctx, message) for message in cmd.messages]

    def submit() -> Pending[tuple[Mailbox, list[int]]]:
        items = [
            (store.put_message(message.data), message_flags, message.internal_date)
            for message, message_flags in zip(cmd.messages, flags, strict=True)
        ]
        return store.append_many(ctx.account.id, box.name, items)

    # The worker thread queues the write itself: the event loop is not woken in between.
    mailbox, uids = await (await asyncio.to_thread(submit))
    ctx.ok("APPEND completed", f"APPENDUID {mailbox.uidvalidity} " + responses.sequence_set(uids).decode())
