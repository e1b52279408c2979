"""STATUS (RFC 9051 section 6.3.11) and the STATUS responses LIST-STATUS sends."""

from __future__ import annotations

from ...store import InvalidOperation, Mailbox, normalize_mailbox_name, objectid, queries
from ..wire import ast
from . import AUTHENTICATED, CommandContext, CommandError, command
from .enable import enable_condstore


def status_data(ctx: CommandContext, box: Mailbox, items: tuple[str, ...]) -> bytes:
    """`name (MESSAGES 3 UNSEEN 1)`, the items in the order asked."""
    values: list[bytes] = []
    for item in dict.fromkeys(items):
        if item == "MESSAGES":
            value = box.messages
        elif item == "UIDNEXT":
            value = box.uidnext
        elif item == "UIDVALIDITY":
            value = box.uidvalidity
        elif item == "UNSEEN":
            value = box.unseen
        elif item == "DELETED":
            value = ctx.app.store.count_deleted(box.id)
        elif item == "SIZE":
            value = box.size
        elif item == "RECENT":
            value = 0  # \Recent belongs to the session that selects the mailbox first
        elif item == "HIGHESTMODSEQ":
            value = box.highestmodseq
        elif item == "DELETED-STORAGE":  # RFC 9208, in the STORAGE resource's units of 1024 octets
            value = (queries.deleted_size(ctx.app.store, box.id) + 1023) // 1024
        elif item == "MAILBOXID":  # RFC 8474
            values.append(b"MAILBOXID (" + objectid.mailbox_id(box.id).encode() + b")")
            continue
        else:  # APPENDLIMIT
            value = ctx.extra["session"].limits.append
        values.append(item.encode("ascii") + b" %d" % value)
    return ctx.mailbox(box.name) + b" (" + b" ".join(values) + b")"


@command(ast.Status, AUTHENTICATED)
async def status(ctx: CommandContext, cmd: ast.Status) -> None:
    try:
        box = ctx.app.store.get_mailbox(ctx.account.id, cmd.mailbox)
    except InvalidOperation:
        box = None
    if box is None:
        raise CommandError(f"no mailbox {cmd.mailbox}", "NONEXISTENT")
    if not box.selectable:
        raise CommandError(f"{normalize_mailbox_name(cmd.mailbox)} holds no messages", "NONEXISTENT")
    if "HIGHESTMODSEQ" in cmd.items:
        enable_condstore(ctx)
    ctx.untagged(b"STATUS " + status_data(ctx, box, cmd.items))
