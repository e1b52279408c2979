"""STORE and UID STORE (RFC 9051 6.4.6): FLAGS, +FLAGS, -FLAGS, with or without .SILENT."""

from __future__ import annotations

from operator import itemgetter

from ...store import SYSTEM_FLAGS, queries
from ..view import InvalidSequence, format_flags, selected_view
from ..wire import ast
from . import SELECTED, CommandContext, CommandError, command
from .enable import enable_condstore

_SYSTEM = {flag.lower() for flag in SYSTEM_FLAGS}


@command(ast.Store, SELECTED)
async def store(ctx: CommandContext, cmd: ast.Store) -> None:
    """The new flags are reported in untagged FETCH responses unless .SILENT.

    \\Recent cannot be stored (it is ignored); other unknown system flags are refused.
    """
    view = selected_view(ctx)
    if view.readonly:
        raise CommandError("the mailbox is read-only", "READ-ONLY")
    try:
        targets = view.targets(cmd.sequence, uid=cmd.uid)
    except InvalidSequence as e:
        raise CommandError(str(e), status="BAD") from None
    flags = []
    for flag in cmd.action.flags:
        lower = flag.lower()
        if lower == "\\recent":
            continue
        if flag.startswith("\\") and lower not in _SYSTEM:
            raise CommandError(f"{flag} is not a flag that can be stored", status="BAD")
        flags.append(flag)
    if cmd.unchangedsince is not None:
        enable_condstore(ctx)
    store = ctx.app.store
    uids = [u for _, u in targets]
    modified: list[int] = []
    if cmd.unchangedsince is not None:
        rows = queries.fetch_rows(store, view.mailbox_id, uids, ("modseq",))
        too_new = {uid for uid, modseq in rows if modseq > cmd.unchangedsince}
        if too_new:
            modified = [u if cmd.uid else s for s, u in targets if u in too_new]
            targets = [(s, u) for s, u in targets if u not in too_new]
            uids = [u for _, u in targets]
    result = await store.store_flags(view.mailbox_id, uids, flags, cmd.action.mode) if uids else {}
    if result:  # changed messages share the new modseq, the highest of all
        view.flags_reported(max(result.values(), key=itemgetter(1))[1])
    if not cmd.action.silent or cmd.unchangedsince is not None:
        condstore = "CONDSTORE" in ctx.session.enabled
        silent = cmd.action.silent
        with_uid = cmd.uid or condstore
        items = [b"UID %d"] if with_uid else []
        if not silent:
            items.append(b"FLAGS %s")
        if condstore:
            items.append(b"MODSEQ (%d)")
        if items:  # one template per command; a mailbox has few distinct flag lists
            template = b"* %d FETCH (" + b" ".join(items) + b")\r\n"
            recent = view.recent
            formatted: dict[frozenset[str], bytes] = {}  # for messages not \Recent
            lines: list[bytes] = []
            for seq, uid in targets:
                entry = result.get(uid)
                if entry is None:
                    continue
                new_flags, modseq = entry
                if silent:  # UNCHANGEDSINCE: UID and MODSEQ only
                    lines.append(template % (seq, uid, modseq))
                    continue
                listed = formatted.get(new_flags) if uid not in recent else None
                if listed is None:
                    listed = format_flags(*_split(new_flags), uid in recent)
                    if uid not in recent:
                        formatted[new_flags] = listed
                if condstore:
                    lines.append(template % (seq, uid, listed, modseq))
                else:
                    lines.append(template % (seq, uid, listed) if with_uid else template % (seq, listed))
                if len(lines) >= 2000:
                    ctx.raw(b"".join(lines))
                    lines.clear()
                    await ctx.drain()
            if lines:
                ctx.raw(b"".join(lines))
    if modified:
        ctx.ok(code="MODIFIED " + ",".join(str(s) for s in modified), text="Some messages were modified meanwhile")


def _split(flags: frozenset[str]) -> tuple[int, str]:
    bits = 0
    keywords = []
    for flag in flags:
        bit = queries.FLAG_BITS.get(flag.lower())
        if bit is not None:
            bits |= bit
        else:
            keywords.append(flag)
    return bits, " ".join(sorted(keywords))
