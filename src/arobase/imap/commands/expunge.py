"""EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, 6.4.9; UIDPLUS): remove messages flagged \\Deleted.

The EXPUNGE responses come from the view's updates, sent just before the tagged OK, so they are
numbered coherently with whatever else this session has been told.
"""

from __future__ import annotations

from ...store import queries
from ..view import selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command


@command(ast.Expunge, SELECTED)
async def expunge(ctx: CommandContext, cmd: ast.Expunge) -> None:
    view = selected_view(ctx)
    if view.readonly:
        raise CommandError("the mailbox is read-only", "READ-ONLY")
    store = ctx.app.store
    if cmd.uids is None:
        removed = await store.expunge(view.mailbox_id)
    else:
        named = [uid for _, uid in view.targets(cmd.uids, uid=True)]
        deleted_bit = queries.FLAG_BITS["\\deleted"]
        chosen = [uid for uid, bits, _ in queries.flag_rows(store, view.mailbox_id, named) if bits & deleted_bit]
        removed = await store.expunge(view.mailbox_id, chosen) if chosen else []
    view.expunged(removed)
