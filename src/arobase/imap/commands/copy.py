"""COPY, MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8; UIDPLUS COPYUID, RFC 6851 MOVE)."""

from __future__ import annotations

from ...store import InvalidOperation
from ..view import InvalidSequence, selected_view
from ..wire import ast, responses
from . import SELECTED, CommandContext, CommandError, command


@command(ast.Copy, SELECTED)
async def copy(ctx: CommandContext, cmd: ast.Copy) -> None:
    """COPYUID goes in the tagged OK of COPY, and in an untagged OK before MOVE's EXPUNGEs."""
    view = selected_view(ctx)
    if cmd.move and view.readonly:
        raise CommandError("the mailbox is read-only", "READ-ONLY")
    try:
        targets = view.targets(cmd.sequence, uid=cmd.uid)
    except InvalidSequence as e:
        raise CommandError(str(e), status="BAD") from None
    store = ctx.app.store
    try:
        target = store.get_mailbox(ctx.account.id, cmd.mailbox)
    except InvalidOperation:
        target = None
    if target is None or not target.selectable:
        raise CommandError(f"no mailbox {cmd.mailbox}", "TRYCREATE")
    uids = [u for _, u in targets if not view.is_expunged(u)]
    if not uids:
        return
    pairs = await store.copy(view.mailbox_id, uids, target.id, move=cmd.move)
    if not pairs:
        return
    old_set = responses.sequence_set(old for old, _ in pairs).decode()
    new_set = responses.sequence_set(new for _, new in pairs).decode()
    code = f"COPYUID {target.uidvalidity} {old_set} {new_set}"
    if cmd.move:
        ctx.untagged(b"OK [" + code.encode() + b"] Moved")
        view.expunged(old for old, _ in pairs)
    else:
        ctx.ok(code=code)
