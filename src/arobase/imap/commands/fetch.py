"""FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; BINARY, CONDSTORE's CHANGEDSINCE)."""

from __future__ import annotations

from ...store import queries
from ..fetch import FetchError, fetch_responses, plan_fetch
from ..qresync import vanished_earlier
from ..view import InvalidSequence, selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command
from .enable import enable_condstore

_SEEN = queries.FLAG_BITS["\\seen"]


@command(ast.Fetch, SELECTED)
async def fetch(ctx: CommandContext, cmd: ast.Fetch) -> None:
    """Streams the responses in chunks; BODY[] and friends set \\Seen first and report it."""
    view = selected_view(ctx)
    store = ctx.app.store
    if cmd.vanished and "QRESYNC" not in ctx.session.enabled:
        raise CommandError("QRESYNC must be enabled first", "CLIENTBUG", status="BAD")  # RFC 7162 3.2.6
    try:
        targets = view.targets(cmd.sequence, uid=cmd.uid)
    except InvalidSequence as e:
        raise CommandError(str(e), status="BAD") from None
    try:
        plan = plan_fetch(cmd.attributes, uid=cmd.uid)
        names = {a.name for a in cmd.attributes if isinstance(a, ast.FetchSimple)}
        if cmd.changedsince is not None or "MODSEQ" in names:
            enable_condstore(ctx)
        # RFC 7162 3.1: once enabled, FETCH responses carrying flags also carry the UID and MODSEQ
        condstore = "CONDSTORE" in ctx.session.enabled and (plan.has_flags or plan.sets_seen)
        if (cmd.changedsince is not None or condstore) and "MODSEQ" not in names:
            plan = plan_fetch((*cmd.attributes, ast.FetchSimple("MODSEQ")), uid=cmd.uid or condstore)
    except FetchError as e:
        raise CommandError(e.text, status="BAD") from None
    if cmd.vanished and cmd.changedsince is not None:
        box = store.mailbox_by_id(view.mailbox_id)
        vanished = vanished_earlier(view, cmd.changedsince, cmd.sequence, box.uidnext if box else view.uids.last + 1)
        if vanished is not None:
            ctx.untagged(vanished)
    if cmd.changedsince is not None:
        changed = {
            row[0]
            for row in queries.fetch_rows(store, view.mailbox_id, [u for _, u in targets], ("modseq",))
            if row[1] > cmd.changedsince
        }
        targets = [(s, u) for s, u in targets if u in changed]
    flags_changed: frozenset[int] = frozenset()
    if plan.sets_seen and not view.readonly and targets:
        rows = queries.flag_rows(store, view.mailbox_id, [u for _, u in targets])
        unseen = [uid for uid, bits, _ in rows if not bits & _SEEN]
        if unseen:
            result = await store.store_flags(view.mailbox_id, unseen, ["\\Seen"], "add")
            view.flags_reported(max(m for _, m in result.values()))
            flags_changed = frozenset(unseen)
    try:
        for chunk in fetch_responses(view, plan, targets, flags_changed=flags_changed):
            ctx.raw(chunk)
            await ctx.drain()
    except FetchError as e:
        raise CommandError(e.text, e.code) from None
