"""REPLACE and UID REPLACE (RFC 8508): a draft saved again without APPEND + STORE + EXPUNGE.

The new message is appended first (to any mailbox, usually the selected one) and the old one is
expunged only once that succeeded, so a failure never loses the draft. The EXISTS and EXPUNGE
responses come from the view's updates before the tagged OK, as for APPEND and EXPUNGE.
"""

from __future__ import annotations

import asyncio

from ..view import InvalidSequence, selected_view
from ..wire import ast, responses
from . import SELECTED, CommandContext, CommandError, command
from .append import check_message, target_mailbox


@command(ast.Replace, SELECTED)
async def replace(ctx: CommandContext, cmd: ast.Replace) -> None:
    view = selected_view(ctx)
    if view.readonly:
        raise CommandError("the mailbox is read-only", "READ-ONLY")
    try:
        targets = view.targets(ast.SequenceSet(((cmd.number, cmd.number),)), uid=cmd.uid)
    except InvalidSequence as e:
        raise CommandError(str(e), None, "BAD") from None
    if not targets or view.is_expunged(targets[0][1]):
        raise CommandError("no such message to replace", "NONEXISTENT")
    old_uid = targets[0][1]
    store = ctx.app.store
    message = cmd.message
    flags = check_message(ctx, message)
    box = target_mailbox(ctx, cmd.mailbox)
    blob = await asyncio.to_thread(store.put_message, message.data)
    mailbox, uids = await store.append_many(ctx.account.id, box.name, [(blob, flags, message.internal_date)])
    ctx.untagged(
        b"OK [APPENDUID %d %s] Replacement Message ready" % (mailbox.uidvalidity, responses.sequence_set(uids))
    )
    view.expunged(await store.expunge(view.mailbox_id, [old_uid]))
